//! The fallback policy: how this node reaches a peer. WebRTC through the hub when it can; HTTP
//! to the peer's base URL when WebRTC fails or is not possible; and after a WebRTC failure, HTTP
//! alone for [`RTC_RETRY_AFTER`] (if the peer has a URL) before WebRTC is tried again. When no
//! path works, the error says why for each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use p2pos_core::NodeId;
use p2pos_net::http::HttpTransport;
use p2pos_net::{PeerTransport, RouteAttempt, TransportError};

use crate::clock::lock;
use crate::replication::config::ReplicationConfig;

/// After a failed WebRTC attempt, how long a peer with an HTTP URL is reached by HTTP alone before
/// WebRTC is tried again.
pub(crate) const RTC_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The WebRTC side, as the fallback needs it (implemented in `hub.rs`).
#[async_trait]
pub(crate) trait RtcConnect: Send + Sync {
    async fn connect(&self, peer: NodeId) -> Result<Arc<dyn PeerTransport>, TransportError>;
}

/// The paths to peers this node has: the WebRTC endpoint (once the hub link is up), HTTP
/// transports by peer, and when WebRTC to each last failed.
#[derive(Default)]
pub(crate) struct Paths {
    http: Mutex<HashMap<NodeId, Arc<HttpTransport>>>,
    rtc: RwLock<Option<Arc<dyn RtcConnect>>>,
    rtc_failed: Mutex<HashMap<NodeId, Instant>>,
}

/// The peer to reach, as the fallback needs it.
pub(crate) struct Target<'a> {
    pub(crate) node: NodeId,
    pub(crate) name: &'a str,
    pub(crate) base_url: Option<&'a str>,
}

impl Paths {
    pub(crate) fn set_rtc(&self, rtc: Arc<dyn RtcConnect>) {
        *self.rtc.write().unwrap_or_else(|p| p.into_inner()) = Some(rtc);
    }

    fn rtc(&self) -> Option<Arc<dyn RtcConnect>> {
        self.rtc.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Drops the HTTP transport to `peer` (its URL changed, or it was removed).
    pub(crate) fn forget(&self, peer: &NodeId) {
        lock(&self.http).remove(peer);
    }

    /// A transport to `peer`, by the policy in the module docs.
    pub(crate) async fn connect(
        &self,
        peer: Target<'_>,
        config: &ReplicationConfig,
        node_key: &ed25519_dalek::SigningKey,
    ) -> Result<Arc<dyn PeerTransport>, TransportError> {
        let node = peer.node;
        let mut why = Vec::new();
        let http_possible = config.http && peer.base_url.is_some();
        let recently_failed = lock(&self.rtc_failed).get(&node).is_some_and(|t| t.elapsed() < RTC_RETRY_AFTER);
        if config.webrtc && recently_failed && http_possible {
            why.push(RouteAttempt::WebRtcFailedRecently);
        } else if config.webrtc {
            match self.rtc() {
                // The endpoint's own timeout is `webrtc_timeout` and says why it found no path;
                // this one is a backstop.
                Some(rtc) => {
                    match tokio::time::timeout(config.webrtc_timeout + Duration::from_secs(5), rtc.connect(node)).await
                    {
                        Ok(Ok(transport)) => {
                            lock(&self.rtc_failed).remove(&node);
                            return Ok(transport);
                        }
                        Ok(Err(e)) => {
                            lock(&self.rtc_failed).insert(node, Instant::now());
                            why.push(RouteAttempt::WebRtc(Box::new(e)));
                        }
                        Err(_) => {
                            lock(&self.rtc_failed).insert(node, Instant::now());
                            why.push(RouteAttempt::WebRtcTimedOut(config.webrtc_timeout));
                        }
                    }
                }
                None if config.hub.is_none() => why.push(RouteAttempt::NoHub),
                None => why.push(RouteAttempt::HubDown),
            }
        }
        if config.http {
            match peer.base_url {
                Some(url) => {
                    let mut cache = lock(&self.http);
                    let transport = match cache.get(&node) {
                        Some(t) => t.clone(),
                        None => {
                            let t = Arc::new(HttpTransport::new(
                                url,
                                node_key.clone(),
                                node,
                                Duration::from_secs(5),
                                Duration::from_secs(30),
                            )?);
                            cache.insert(node, t.clone());
                            t
                        }
                    };
                    return Ok(transport);
                }
                None => why.push(RouteAttempt::NoBaseUrl),
            }
        }
        Err(TransportError::NoRoute { peer_name: peer.name.to_string(), attempts: why })
    }
}
