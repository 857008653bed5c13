//! Prometheus text exposition of the hub's counters (`GET /metrics`). No message contents, no ids.

use std::fmt::Write as _;

use crate::hub::Hub;

pub(crate) fn render(hub: &Hub) -> String {
    let s = hub.stats();
    let mut out = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    metric("p2pos_hub_connections", "gauge", "Open WebSocket connections.", &[("", hub.connection_count() as u64)]);
    metric(
        "p2pos_hub_namespaces",
        "gauge",
        "Namespaces with at least one peer.",
        &[("", hub.namespace_count() as u64)],
    );
    metric("p2pos_hub_connections_opened_total", "counter", "Connections admitted.", &[("", s.connections_opened)]);
    metric("p2pos_hub_relayed_messages_total", "counter", "Signaling messages relayed to a peer.", &[("", s.relayed)]);
    metric(
        "p2pos_hub_refusals_total",
        "counter",
        "Connections refused or closed, and messages dropped, by reason.",
        &[
            ("{reason=\"hub_full\"}", s.refused_hub_full),
            ("{reason=\"too_many_connections\"}", s.refused_per_address),
            ("{reason=\"rate_limited\"}", s.rate_limited),
            ("{reason=\"bad_message\"}", s.bad_messages),
            ("{reason=\"too_big\"}", s.closed_too_big),
            ("{reason=\"flood\"}", s.closed_flood),
            ("{reason=\"idle\"}", s.closed_idle),
            ("{reason=\"protocol\"}", s.closed_protocol),
            ("{reason=\"beacon\"}", s.closed_beacon),
        ],
    );
    metric(
        "p2pos_hub_peerjs_expired_total",
        "counter",
        "PeerJS EXPIRE notices sent for peers that never came.",
        &[("", s.peerjs_expired)],
    );
    out
}
