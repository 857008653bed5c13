//! How this node replicates: its name, hub, public URL, which transports to use and the
//! planner's timing.

use std::time::Duration;

use p2pos_replication::PlannerConfig;

/// How this node replicates. Defaults are documented on `p2pos node --help`.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// This node's name, shown to the family (e.g. "Oak"). Default: the host name.
    pub name: String,
    /// The hub (`ws://…` or `wss://…`): WebRTC signaling and enrolment. Default none.
    pub hub: Option<String>,
    /// This node's base URL as its peers can reach it (the HTTP fallback). Default none.
    pub public_url: Option<String>,
    /// Use WebRTC data channels (needs `hub`). Default true.
    pub webrtc: bool,
    /// Use HTTP to peers' base URLs. Default true.
    pub http: bool,
    /// How long to try WebRTC before falling back to HTTP. Default 10 s.
    pub webrtc_timeout: Duration,
    /// Local UDP addresses for WebRTC host candidates. Default `0.0.0.0:0` (every non-loopback
    /// IPv4 interface); `127.0.0.1:0` for a family on one machine.
    pub rtc_bind: Vec<std::net::SocketAddr>,
    /// The planner's timing (`P2POS_REP_FAILED_RETRY_AFTER_SECS` sets `failed_retry_after`).
    pub planner: PlannerConfig,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            name: default_name(),
            hub: None,
            public_url: None,
            webrtc: true,
            http: true,
            webrtc_timeout: Duration::from_secs(10),
            rtc_bind: vec![std::net::SocketAddr::from(([0, 0, 0, 0], 0))],
            planner: PlannerConfig::default(),
        }
    }
}

fn default_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}
