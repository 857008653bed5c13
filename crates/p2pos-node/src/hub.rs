//! The node's link to the hub: authenticated as its node key (so peers and enrolling nodes can
//! signal it by its node id), dispatching what arrives — enrolment requests to [`crate::enroll`],
//! WebRTC signaling from peers to the [`WebRtcEndpoint`], from family members' browsers to the
//! [`ClientSessions`] ([`crate::remote`]) — and giving replication its WebRTC connections.

use std::sync::Arc;

use async_trait::async_trait;
use p2pos_core::NodeId;
use p2pos_net::hub::{HubClient, HubEvent, HubHandle};
use p2pos_net::webrtc::{ClientSessions, WebRtcConfig, WebRtcEndpoint, is_client_signal};
use p2pos_net::{PeerTransport, TransportError};
use serde_json::{Value, json};

use crate::replication::fallback::RtcConnect;
use crate::replication::service::NodeService;
use crate::state::AppState;

struct Rtc(WebRtcEndpoint);

/// The endpoint applies the offer rule (the lower node id offers; the other waits a moment for
/// that offer) and settles glare.
#[async_trait]
impl RtcConnect for Rtc {
    async fn connect(&self, peer: NodeId) -> Result<Arc<dyn PeerTransport>, TransportError> {
        let transport: Arc<dyn PeerTransport> = self.0.reach(peer).await?;
        Ok(transport)
    }
}

/// Connect to the hub (if configured) and serve what comes from it until the node stops. Returns
/// the task's handle; aborting it disconnects (the hub client stops with its last handle).
pub(crate) fn start(state: &AppState, router: axum::Router) -> Option<tokio::task::JoinHandle<()>> {
    let config = &state.inner.config.replication;
    let url = config.hub.clone()?;
    let profile = json!({"name": config.name, "kind": "node"});
    let (hub, events) = HubClient::spawn(url.clone(), Some(state.inner.node_key.clone()), profile);
    let clients = ClientSessions::new(
        hub.clone(),
        state.inner.node_key.clone(),
        Arc::new(crate::remote::VaultOverRtc::new(state.clone(), router)),
        WebRtcConfig { udp_addrs: config.rtc_bind.clone(), ..WebRtcConfig::default() },
    );
    let endpoint = config.webrtc.then(|| {
        let peers_state = state.clone();
        // A sync asks small questions: if one waits 15 s the connection is as good as dead, and
        // replication should move on (to HTTP, or report the peer offline).
        // The endpoint gives up when replication would (then it can say why there is no path).
        let rtc = WebRtcConfig {
            udp_addrs: config.rtc_bind.clone(),
            connect_timeout: config.webrtc_timeout,
            call_timeout: std::time::Duration::from_secs(15),
            ..WebRtcConfig::default()
        };
        WebRtcEndpoint::new(
            hub.clone(),
            state.inner.node_key.clone(),
            Arc::new(NodeService { state: state.clone() }),
            state.inner.replication.guard.clone(),
            Arc::new(move |node| peers_state.inner.replication.is_peer(&node)),
            rtc,
        )
    });
    if let Some(endpoint) = &endpoint {
        state.inner.replication.paths.set_rtc(Arc::new(Rtc(endpoint.clone())));
    }
    tracing::info!(hub = %url, webrtc = endpoint.is_some(), "connecting to the hub");
    Some(tokio::spawn(dispatch(state.clone(), hub, events, endpoint, clients)))
}

async fn dispatch(
    state: AppState,
    hub: HubHandle,
    mut events: tokio::sync::mpsc::Receiver<HubEvent>,
    endpoint: Option<WebRtcEndpoint>,
    clients: ClientSessions,
) {
    while let Some(event) = events.recv().await {
        match event {
            HubEvent::Connected => tracing::info!("connected to the hub"),
            HubEvent::Disconnected { reason } => tracing::warn!(%reason, "lost the hub; reconnecting"),
            HubEvent::Signal { from, from_id, payload } => match payload.get("p2pos").and_then(Value::as_str) {
                Some("enroll") => {
                    let (state, hub) = (state.clone(), hub.clone());
                    tokio::spawn(async move { crate::enroll::on_signal(&state, &hub, &from, payload).await });
                }
                Some("rtc") if is_client_signal(&payload) => {
                    // A browser proves its identity to the hub; an anonymous one cannot open the vault.
                    let Some(client) = from_id.and_then(|id| id.parse().ok()) else {
                        tracing::debug!("refused a client signal from a connection with no identity");
                        clients.refuse_anonymous(&from, &payload).await;
                        continue;
                    };
                    if let Err(e) = clients.handle_signal(&from, client, payload).await {
                        tracing::debug!(error = %e, "a client signal was not acted on");
                    }
                }
                Some("rtc") => {
                    let (Some(endpoint), Some(node)) = (&endpoint, from_id.and_then(|id| id.parse::<NodeId>().ok()))
                    else {
                        continue;
                    };
                    if let Err(e) = endpoint.handle_signal(node, payload).await {
                        tracing::debug!(peer = %node.short(), error = %e, "ignored a WebRTC signal");
                    }
                }
                _ => tracing::debug!("ignored a hub signal of unknown kind"),
            },
            _ => {}
        }
    }
    if let Some(endpoint) = endpoint {
        endpoint.close_all().await;
    }
    hub.shutdown();
}
