//! The WebRTC transport (DESIGN.md §7): node-to-node requests and blobs over WebRTC data
//! channels, set up through the hub.
//!
//! A [`WebRtcEndpoint`] is one node's side. It does not read hub events itself: the node reads
//! them (see [`crate::hub`]) and hands every signal whose payload has `"p2pos": "rtc"`
//! ([`is_rtc_signal`]) to [`WebRtcEndpoint::handle_signal`], with the identity the hub proved for
//! the sender. Signals from nodes that are not enrolled peers (`is_peer`) are ignored.
//!
//! - [`WebRtcEndpoint::connect`] opens a connection to a peer (this node offers); an offer from a
//!   peer is answered inside `handle_signal`. Either way the connection serves the peer's
//!   requests with the node's [`PeerService`] and can carry this node's requests to the peer:
//!   [`WebRtcEndpoint::transport`] returns it whoever offered. When both nodes offer at once
//!   (glare), the offer of the node with the lower node id wins and the other side answers it.
//!   [`WebRtcEndpoint::reach`] keeps offers from crossing in the first place: the lower id
//!   offers, the higher one first waits a moment for that offer (the rule is in `glare.rs`, as
//!   decisions with time passed in).
//! - Each connection's requests, replies and blob windows are a sans-IO [`mux::Mux`], owned by
//!   one driver task per connection (see `conn.rs`).
//! - Each side binds its DTLS certificate to its node key (see [`signal`]): the other side checks
//!   the signature against the node id the hub proved and the fingerprint against the SDP, and
//!   refuses the connection, naming the reason, when either does not match.
//! - [`WebRtcTransport`] implements [`PeerTransport`](crate::PeerTransport): calls and blob
//!   reads multiplexed over data channels (one for calls, the others for blobs), frames of at
//!   most 64 KiB (see [`frame`]), blob bytes with application-level acknowledgements and a
//!   window, back-pressure on the channels' buffered amount, a stall timeout
//!   ([`TransportError::Stalled`]), and resume by offset after a broken connection
//!   ([`TransportError::Broken`]: call `get_blob(id, bytes_received)` on a new connection).
//! - [`PeerTransport::path`](crate::PeerTransport::path) reports the selected ICE candidate pair:
//!   relay if either side is relayed, else srflx/prflx, else host.
//!
//! Tests run everything on loopback: [`WebRtcConfig::loopback`] binds `127.0.0.1:0` only.
//! mDNS candidates are off (no multicast), and ICE servers come only from the hub.

pub mod carrier;
pub mod client;
mod conn;
pub mod data_peer;
pub mod frame;
mod glare;
pub mod mux;
mod runtime;
pub mod signal;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use p2pos_core::NodeId;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::peer_connection::configuration::setting_engine::SctpMaxMessageSize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use webrtc::data_channel::RTCDataChannelInit;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, RTCConfigurationBuilder, RTCIceServer, RTCSessionDescription,
    SettingEngineBuilder,
};

pub use client::{Admitted, CarriedRequest, CarriedResponse, ClientService, ClientSessions, Refusal, is_client_signal};
pub use conn::WebRtcTransport;
pub use data_peer::{DataPeer, DataPeerEvent};
pub use signal::{BindingError, RtcSignal, is_rtc_signal};
pub use webrtc::peer_connection::RTCIceCandidateInit;

use self::conn::{BLOB_LABEL_PREFIX, CTL_LABEL, Chan, ConnCore, ConnState, Deps, Handler, Role, SignalOut};
use crate::auth::ReplayGuard;
use crate::hub::{HubHandle, IceServer};
use crate::{NoPathReason, PeerService, TransportError};

/// Tunables of the WebRTC transport.
#[derive(Debug, Clone)]
pub struct WebRtcConfig {
    /// How long [`WebRtcEndpoint::connect`] waits for a connection to come up. Default 20 s.
    pub connect_timeout: Duration,
    /// A blob stream with no bytes for this long fails with [`TransportError::Stalled`]; a sender
    /// without acknowledgements for this long gives up. Default 30 s.
    pub stall: Duration,
    /// How long a call (or the start of a blob) waits for the peer's reply. Default 60 s.
    pub call_timeout: Duration,
    /// Data channels per connection: one for calls, the others for blobs (1 = everything on
    /// one channel). Default 2. All channels share one SCTP association and so one congestion
    /// window: more blob channels did not move bytes faster on loopback (docs/BENCHMARKS.md),
    /// while a channel of its own lets calls pass blob bytes.
    pub channels: usize,
    /// Unacknowledged blob bytes a sender keeps in flight, per blob. Default 4 MiB.
    pub window: u64,
    /// Largest frame sent, header included (at most 64 KiB). Default 64 KiB.
    pub frame_size: usize,
    /// A channel's sender pauses when its buffered amount rises above this… Default 1 MiB.
    pub buffered_high: u32,
    /// …and resumes when it falls below this (`bufferedAmountLowThreshold`). Default 256 KiB.
    pub buffered_low: u32,
    /// Local UDP addresses to gather host candidates from. `0.0.0.0:0` (the default) means every
    /// non-loopback IPv4 interface, on ephemeral ports; tests use `127.0.0.1:0`.
    pub udp_addrs: Vec<SocketAddr>,
    /// How long [`WebRtcEndpoint::reach`] on the node with the higher id waits for the peer's
    /// offer before it offers itself (the lower id offers at once). Default 3 s.
    pub offer_wait: Duration,
    /// SCTP receive window in bytes (`None`: the stack's default, 1 MiB).
    pub sctp_receive_buffer: Option<u32>,
    /// Kernel buffer size asked for on each UDP socket (`SO_RCVBUF`/`SO_SNDBUF`; capped by
    /// `net.core.rmem_max`/`wmem_max`). Small buffers drop datagrams under load, and SCTP
    /// slows down on every loss. `None`: the system default. Default 4 MiB.
    pub udp_socket_buffer: Option<usize>,
    /// Largest data channel message this side takes, announced as the SDP's `max-message-size`
    /// (`None`: webrtc-rs's 64 KiB, RFC 8841's default; browsers announce 256 KiB, the most
    /// webrtc-rs takes). Chat's image frames are 64 KiB of bytes plus a kind byte.
    pub sctp_max_message_size: Option<u32>,
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(20),
            stall: Duration::from_secs(30),
            call_timeout: Duration::from_secs(60),
            channels: 2,
            window: 4 * 1024 * 1024,
            frame_size: frame::MAX_FRAME,
            buffered_high: 1024 * 1024,
            buffered_low: 256 * 1024,
            udp_addrs: vec![SocketAddr::from(([0, 0, 0, 0], 0))],
            offer_wait: Duration::from_secs(3),
            sctp_receive_buffer: None,
            udp_socket_buffer: Some(4 * 1024 * 1024),
            sctp_max_message_size: None,
        }
    }
}

impl WebRtcConfig {
    /// The defaults, bound to loopback only (for tests and benchmarks on one machine).
    pub fn loopback() -> Self {
        Self { udp_addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))], ..Self::default() }
    }
}

/// Why a signal was not acted on.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// The payload is not a WebRTC signal (`"p2pos"` is not `"rtc"`).
    #[error("not a WebRTC signal")]
    NotRtc,
    /// The payload says `"p2pos": "rtc"` but does not parse.
    #[error("malformed WebRTC signal: {0}")]
    Malformed(String),
    /// The sender is not an enrolled peer of this node; the signal was ignored.
    #[error("{0} is not a peer of this node; signal ignored")]
    NotAPeer(NodeId),
    /// The sender's DTLS certificate is not bound to its node key; the offer or answer was refused.
    #[error("refused the connection from {peer}: {error}")]
    Binding { peer: NodeId, error: BindingError },
    /// The node refused the session (the code sent back in a `close` signal, e.g. `not_a_member`).
    #[error("refused: {0}")]
    Refused(String),
    /// Setting up the answering side failed.
    #[error("could not answer {peer}: {error}")]
    Answer { peer: NodeId, error: TransportError },
}

/// One node's WebRTC side. Cheap to clone; its connections close when the last clone and every
/// [`WebRtcTransport`] handle are dropped.
#[derive(Clone)]
pub struct WebRtcEndpoint {
    inner: Arc<Inner>,
}

struct Inner {
    deps: Arc<Deps>,
    is_peer: Arc<dyn Fn(NodeId) -> bool + Send + Sync>,
    /// The current connection with each peer (connecting, open, or recently closed).
    slots: tokio::sync::Mutex<HashMap<NodeId, Arc<WebRtcTransport>>>,
}

impl fmt::Debug for WebRtcEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebRtcEndpoint").field("me", &self.inner.deps.me).finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for (_, transport) in self.slots.get_mut().drain() {
            transport.close();
        }
    }
}

impl WebRtcEndpoint {
    /// `hub`: the node's hub client (authenticated with `key`, so peers can signal this node by
    /// its node id). `service`: what this node answers. `guard`: the node's replay guard, shared
    /// with its other transports. `is_peer`: whether a node is an enrolled peer (only those may
    /// connect, and only those are connected to).
    pub fn new(
        hub: HubHandle,
        key: SigningKey,
        service: Arc<dyn PeerService>,
        guard: Arc<Mutex<ReplayGuard>>,
        is_peer: Arc<dyn Fn(NodeId) -> bool + Send + Sync>,
        config: WebRtcConfig,
    ) -> Self {
        let me = NodeId::from_verifying_key(&key.verifying_key());
        let deps = Arc::new(Deps { me, key, hub, service, guard, config });
        Self { inner: Arc::new(Inner { deps, is_peer, slots: tokio::sync::Mutex::new(HashMap::new()) }) }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.deps.me
    }

    /// An open connection with `peer`, whoever offered it.
    pub async fn transport(&self, peer: NodeId) -> Option<Arc<WebRtcTransport>> {
        let slots = self.inner.slots.lock().await;
        slots.get(&peer).filter(|t| t.core.is_ready()).cloned()
    }

    /// Closes the connection with `peer`, if any (the peer is told through the hub).
    pub async fn disconnect(&self, peer: NodeId) {
        let transport = self.inner.slots.lock().await.remove(&peer);
        if let Some(transport) = transport {
            transport.close();
        }
    }

    /// Closes every connection.
    pub async fn close_all(&self) {
        let all: Vec<_> = self.inner.slots.lock().await.drain().map(|(_, t)| t).collect();
        for transport in all {
            transport.close();
        }
    }

    /// A connection to `peer`: the open one if there is one (whoever offered), else a new one
    /// this node offers. ICE servers come from the hub (fresh credentials each time).
    pub async fn connect(&self, peer: NodeId) -> Result<Arc<WebRtcTransport>, TransportError> {
        let deps = &self.inner.deps;
        if peer == deps.me {
            return Err(TransportError::Refused {
                code: "self".into(),
                message: "cannot connect to this node itself".into(),
            });
        }
        if !(self.inner.is_peer)(peer) {
            return Err(TransportError::Refused {
                code: "not_a_peer".into(),
                message: format!("{peer} is not a peer of this node"),
            });
        }
        let timeout = deps.config.connect_timeout;
        let deadline = Instant::now() + timeout;
        loop {
            let existing = self.live_slot(peer).await;
            let transport = match existing {
                Some(t) => t,
                None => {
                    let servers = match tokio::time::timeout_at(deadline, deps.hub.ice_servers()).await {
                        Ok(Ok(servers)) => servers,
                        Ok(Err(e)) => {
                            return Err(TransportError::unreachable_by("ICE servers from the hub", e));
                        }
                        Err(_) => return Err(TransportError::unreachable("the hub did not answer in time")),
                    };
                    let mut slots = self.inner.slots.lock().await;
                    match slots.get(&peer).filter(|t| !t.core.is_closed()) {
                        Some(t) => t.clone(),
                        None => {
                            let t = self.offer(peer, &servers).await?;
                            slots.insert(peer, t.clone());
                            t
                        }
                    }
                }
            };
            let mut state = transport.core.state.subscribe();
            let outcome =
                tokio::time::timeout_at(deadline, state.wait_for(|s| !matches!(s, ConnState::Connecting))).await;
            let result = match outcome {
                Err(_) => {
                    let error = TransportError::NoPath { reason: transport.core.no_path(), waited: Some(timeout) };
                    if transport.core.role == Role::Offerer {
                        transport.core.shutdown(error.clone(), false, true);
                    }
                    Err(error)
                }
                Ok(Err(_)) => Err(TransportError::broken("connection dropped")),
                Ok(Ok(state)) => match &*state {
                    ConnState::Ready => Ok(()),
                    ConnState::Closed { superseded: true, .. } => continue,
                    ConnState::Closed { error, .. } => Err(error.clone()),
                    ConnState::Connecting => continue,
                },
            };
            return result.map(|()| transport);
        }
    }

    /// A connection to `peer` under the offer rule (module `glare`): the node with the lower id
    /// offers at once; the other first waits up to [`WebRtcConfig::offer_wait`] for that offer
    /// and uses the connection it brings, offering itself only if none came. Replication uses
    /// this; [`WebRtcEndpoint::connect`] offers at once.
    pub async fn reach(&self, peer: NodeId) -> Result<Arc<WebRtcTransport>, TransportError> {
        let turn =
            glare::OfferTurn::new(self.node_id(), peer, Instant::now().into_std(), self.inner.deps.config.offer_wait);
        loop {
            let open = self.transport(peer).await;
            match turn.step(Instant::now().into_std(), open.is_some()) {
                glare::Step::Use => {
                    if let Some(transport) = open {
                        return Ok(transport);
                    }
                }
                glare::Step::Offer => return self.connect(peer).await,
                glare::Step::Wait(until) => tokio::time::sleep_until(Instant::from_std(until)).await,
            }
        }
    }

    /// The slot's connection, unless it is closed.
    async fn live_slot(&self, peer: NodeId) -> Option<Arc<WebRtcTransport>> {
        let mut slots = self.inner.slots.lock().await;
        match slots.get(&peer) {
            Some(t) if !t.core.is_closed() => Some(t.clone()),
            Some(_) => {
                slots.remove(&peer);
                None
            }
            None => None,
        }
    }

    /// Starts an offer to `peer` (the caller holds the slots lock).
    async fn offer(&self, peer: NodeId, servers: &[IceServer]) -> Result<Arc<WebRtcTransport>, TransportError> {
        let deps = self.inner.deps.clone();
        let (events, events_rx) = mpsc::unbounded_channel();
        let pc = build_peer_connection(&deps.config, servers, Handler { tx: events }).await?;
        let session = new_session_id();
        let (core, mut queues) =
            ConnCore::new(deps.clone(), peer, session.clone(), Role::Offerer, events_rx, offers_turn(servers));
        let transport = Arc::new(WebRtcTransport { core: core.clone(), pc: pc.clone() });
        let setup = async {
            let rtc = |e: webrtc::error::Error| TransportError::unreachable_by("WebRTC", e);
            for i in 0..deps.config.channels.max(1) {
                let label = if i == 0 { CTL_LABEL.to_string() } else { format!("{BLOB_LABEL_PREFIX}{i}") };
                let dc = pc.create_data_channel(&label, Some(RTCDataChannelInit::default())).await.map_err(rtc)?;
                queues.add_local_channel(Chan::new(dc, &deps.config).await?);
            }
            let offer = pc.create_offer(None).await.map_err(rtc)?;
            pc.set_local_description(offer).await.map_err(rtc)?;
            let sdp = pc.local_description().await.ok_or(TransportError::unreachable("no local description"))?;
            let (fingerprint, sig) = signal::sign_binding(&deps.key, &peer, &sdp.sdp)
                .map_err(|e| TransportError::unparsable("own SDP", e))?;
            Ok(RtcSignal::Offer { session, sdp: sdp.sdp, fingerprint, sig })
        };
        let offer = match setup.await {
            Ok(offer) => offer,
            Err(e) => {
                // The tasks never started, so nobody else would close it.
                let _ = pc.close().await;
                return Err(e);
            }
        };
        // The offer goes first; the event loop then forwards ICE candidates behind it.
        let _ = core.signals.send(SignalOut::Signal(offer));
        core.start(pc, queues);
        Ok(transport)
    }

    /// Acts on a WebRTC signal from the node `from` (the identity the hub proved for the sender:
    /// `from_id` of [`crate::hub::HubEvent::Signal`]). Answers offers, applies answers and ICE
    /// candidates, and ends sessions the peer closed. Signals from nodes that are not peers are
    /// ignored and logged. The error says why a signal was not acted on, for the node's log.
    pub async fn handle_signal(&self, from: NodeId, payload: Value) -> Result<(), SignalError> {
        let signal = match RtcSignal::from_payload(&payload) {
            None => return Err(SignalError::NotRtc),
            Some(Err(e)) => return Err(SignalError::Malformed(e.to_string())),
            Some(Ok(s)) => s,
        };
        if !(self.inner.is_peer)(from) {
            tracing::info!(from = %from, "ignoring a WebRTC signal from a node that is not a peer");
            // Tell an offerer at once, so its offer fails now instead of after the connect
            // timeout (e.g. a node enrolled a moment ago that this node has not loaded yet).
            if let RtcSignal::Offer { session, .. } = signal {
                let message = "this node does not know you as a peer (yet)".to_string();
                let close = RtcSignal::Close { session, code: "not_a_peer".into(), message };
                let _ = self.inner.deps.hub.signal(&from.to_string(), close.to_payload()).await;
            }
            return Err(SignalError::NotAPeer(from));
        }
        match signal {
            RtcSignal::Offer { session, sdp, fingerprint, sig } => {
                self.on_offer(from, session, sdp, &fingerprint, &sig).await
            }
            RtcSignal::Answer { session, sdp, fingerprint, sig } => {
                self.on_answer(from, &session, sdp, &fingerprint, &sig).await
            }
            RtcSignal::Candidates { session, candidates } => {
                let slots = self.inner.slots.lock().await;
                let Some(t) = slots.get(&from).filter(|t| t.core.session == session && !t.core.is_closed()) else {
                    tracing::debug!(from = %from.short(), "ICE candidates for an unknown session");
                    return Ok(());
                };
                if t.core.remote_set.load(std::sync::atomic::Ordering::Acquire) {
                    for candidate in candidates {
                        if let Err(e) = t.pc.add_ice_candidate(candidate).await {
                            tracing::debug!(error = %e, "remote ICE candidate refused");
                        }
                    }
                } else {
                    conn::lock(&t.core.early_candidates).extend(candidates);
                }
                Ok(())
            }
            RtcSignal::Close { session, code, message } => {
                let mut slots = self.inner.slots.lock().await;
                if let Some(t) = slots.get(&from).filter(|t| t.core.session == session) {
                    // The peer's close code is its error's kind: where it found no path, neither
                    // did this connection, for the same reason.
                    let error = match (t.core.is_connecting(), code.as_str()) {
                        (true, "relay_unavailable") => {
                            TransportError::NoPath { reason: NoPathReason::RelayUnavailable, waited: None }
                        }
                        (true, "no_path") => {
                            TransportError::NoPath { reason: NoPathReason::NothingWorked, waited: None }
                        }
                        (true, _) => TransportError::Refused { code, message },
                        (false, "relay_lost") => TransportError::RelayLost,
                        (false, _) => TransportError::ClosedByPeer { code, message },
                    };
                    t.core.shutdown(error, false, false);
                    slots.remove(&from);
                }
                Ok(())
            }
        }
    }

    async fn on_offer(
        &self,
        from: NodeId,
        session: String,
        sdp: String,
        fingerprint: &str,
        sig: &str,
    ) -> Result<(), SignalError> {
        let deps = self.inner.deps.clone();
        if let Err(error) = signal::verify_binding(&from, &deps.me, &sdp, fingerprint, sig) {
            tracing::warn!(from = %from, %error, "refused a WebRTC offer");
            let close = RtcSignal::Close { session, code: error.code().into(), message: error.to_string() };
            let _ = deps.hub.signal(&from.to_string(), close.to_payload()).await;
            return Err(SignalError::Binding { peer: from, error });
        }
        // Fresh ICE servers for this connection too (the answerer may need a relay as well).
        let servers = match deps.hub.ice_servers().await {
            Ok(servers) => servers,
            Err(e) => {
                tracing::debug!(error = %e, "no ICE servers from the hub; answering with host candidates only");
                Vec::new()
            }
        };
        let mut slots = self.inner.slots.lock().await;
        if let Some(existing) = slots.get(&from).filter(|t| !t.core.is_closed()) {
            if existing.core.session == session {
                return Ok(()); // a duplicate
            }
            if existing.core.role == Role::Offerer && existing.core.is_connecting() {
                // Glare: both offered. The lower node id's offer wins on both sides.
                if glare::our_offer_wins(deps.me, from) {
                    tracing::debug!(peer = %from.short(), "glare: our offer wins; ignoring theirs");
                    return Ok(());
                }
                tracing::debug!(peer = %from.short(), "glare: their offer wins; answering it");
                existing.core.shutdown(TransportError::broken("superseded by the peer's offer"), true, false);
            } else {
                // The peer offers again: it has lost the connection we still hold.
                existing.core.shutdown(TransportError::broken("replaced by a new offer from the peer"), false, false);
            }
        }
        match self.answer(from, session.clone(), sdp, &servers).await {
            Ok(answer) => {
                slots.insert(from, answer);
                Ok(())
            }
            Err(error) => {
                drop(slots);
                tracing::warn!(from = %from, %error, "could not answer a WebRTC offer");
                let close = RtcSignal::Close { session, code: "bad_offer".into(), message: error.to_string() };
                let _ = deps.hub.signal(&from.to_string(), close.to_payload()).await;
                Err(SignalError::Answer { peer: from, error })
            }
        }
    }

    /// Sets up the answering side of `session` (the caller holds the slots lock).
    async fn answer(
        &self,
        from: NodeId,
        session: String,
        sdp: String,
        servers: &[IceServer],
    ) -> Result<Arc<WebRtcTransport>, TransportError> {
        let deps = self.inner.deps.clone();
        let (events, events_rx) = mpsc::unbounded_channel();
        let pc = build_peer_connection(&deps.config, servers, Handler { tx: events }).await?;
        let (core, queues) =
            ConnCore::new(deps.clone(), from, session.clone(), Role::Answerer, events_rx, offers_turn(servers));
        let transport = Arc::new(WebRtcTransport { core: core.clone(), pc: pc.clone() });
        let setup = async {
            let rtc = |e: webrtc::error::Error| TransportError::unreachable_by("WebRTC", e);
            let offer = RTCSessionDescription::offer(sdp).map_err(rtc)?;
            pc.set_remote_description(offer).await.map_err(rtc)?;
            core.remote_set.store(true, std::sync::atomic::Ordering::Release);
            let answer = pc.create_answer(None).await.map_err(rtc)?;
            pc.set_local_description(answer).await.map_err(rtc)?;
            let sdp = pc.local_description().await.ok_or(TransportError::unreachable("no local description"))?;
            let (fingerprint, sig) = signal::sign_binding(&deps.key, &from, &sdp.sdp)
                .map_err(|e| TransportError::unparsable("own SDP", e))?;
            Ok(RtcSignal::Answer { session, sdp: sdp.sdp, fingerprint, sig })
        };
        let answer = match setup.await {
            Ok(answer) => answer,
            Err(e) => {
                let _ = pc.close().await;
                return Err(e);
            }
        };
        let _ = core.signals.send(SignalOut::Signal(answer));
        core.start(pc, queues);
        Ok(transport)
    }

    async fn on_answer(
        &self,
        from: NodeId,
        session: &str,
        sdp: String,
        fingerprint: &str,
        sig: &str,
    ) -> Result<(), SignalError> {
        let me = self.inner.deps.me;
        let slots = self.inner.slots.lock().await;
        let Some(t) = slots
            .get(&from)
            .filter(|t| t.core.session == session && t.core.role == Role::Offerer && t.core.is_connecting())
        else {
            tracing::debug!(from = %from.short(), "an answer for an unknown session");
            return Ok(());
        };
        if t.core.remote_set.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(()); // a duplicate
        }
        if let Err(error) = signal::verify_binding(&from, &me, &sdp, fingerprint, sig) {
            tracing::warn!(from = %from, %error, "refused a WebRTC answer");
            let refused = TransportError::Refused { code: error.code().into(), message: error.to_string() };
            t.core.shutdown(refused, false, true);
            return Err(SignalError::Binding { peer: from, error });
        }
        let rtc = |e: webrtc::error::Error| TransportError::unreachable_by("WebRTC", e);
        let applied = match RTCSessionDescription::answer(sdp).map_err(rtc) {
            Ok(answer) => t.pc.set_remote_description(answer).await.map_err(rtc),
            Err(e) => Err(e),
        };
        if let Err(error) = applied {
            t.core.shutdown(error.clone(), false, true);
            return Err(SignalError::Answer { peer: from, error });
        }
        t.core.remote_set.store(true, std::sync::atomic::Ordering::Release);
        let early: Vec<_> = conn::lock(&t.core.early_candidates).drain(..).collect();
        for candidate in early {
            if let Err(e) = t.pc.add_ice_candidate(candidate).await {
                tracing::debug!(error = %e, "remote ICE candidate refused");
            }
        }
        Ok(())
    }
}

/// Whether the hub's ICE servers include a TURN server.
fn offers_turn(servers: &[IceServer]) -> bool {
    servers.iter().flat_map(|s| &s.urls).any(|u| u.starts_with("turn:") || u.starts_with("turns:"))
}

fn new_session_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>())
}

async fn build_peer_connection(
    config: &WebRtcConfig,
    servers: &[IceServer],
    handler: Handler,
) -> Result<Arc<dyn PeerConnection>, TransportError> {
    let ice_servers = servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect();
    let configuration = RTCConfigurationBuilder::new().with_ice_servers(ice_servers).build();
    let mut settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        // Check candidate pairs every 50 ms (RFC 8445's Ta; webrtc-rs defaults to 200 ms, which
        // cost ~300 ms per connection on loopback), and give a pair 40 tries (2 s) so paths with
        // a long round trip (relays, mobile) are not given up on early.
        .with_ice_connection_attempts(Some(Duration::from_millis(50)), Some(40))
        // A peer that went away (killed, unplugged) is noticed in ~10 s instead of webrtc-rs's
        // 25 s, so replication falls back or reports it offline sooner: keepalives every second,
        // disconnected after 3 s of silence, failed after 10 s.
        .with_ice_timeouts(Some(Duration::from_secs(3)), Some(Duration::from_secs(10)), Some(Duration::from_secs(1)));
    if let Some(size) = config.sctp_max_message_size {
        settings = settings.with_sctp_max_message_size(SctpMaxMessageSize::Bounded(size));
    }
    if let Some(size) = config.sctp_receive_buffer {
        settings = settings.with_sctp_max_receive_buffer_size(size);
    }
    let mut builder = PeerConnectionBuilder::new();
    if let Some(runtime) = config.udp_socket_buffer.and_then(runtime::BufferedRuntime::shared) {
        builder = builder.with_runtime(runtime);
    }
    let pc = builder
        .with_configuration(configuration)
        .with_setting_engine(settings.build())
        .with_handler(Arc::new(handler))
        .with_udp_addrs(config.udp_addrs.clone())
        .build()
        .await
        .map_err(|e| TransportError::unreachable_by("WebRTC peer connection", e))?;
    Ok(Arc::new(pc))
}
