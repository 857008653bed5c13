//! The PeerJS server protocol, as far as the bench speaks it (peerjs-server 1.0.2).
//!
//! A client opens `ws://HOST:PORT/<path>/peerjs?key=peerjs&id=<ID>&token=<TOKEN>`; the server
//! answers `{"type":"OPEN"}`, or `{"type":"ID-TAKEN","payload":{"msg":…}}` when the id is held
//! with another token, or `{"type":"ERROR","payload":{"msg":…}}` (bad key, missing
//! parameters, concurrent limit). Clients send `{"type":"HEARTBEAT"}` every 5 s and
//! `{"type":"OFFER"|"ANSWER"|"CANDIDATE","dst":<id>,"payload":{…}}`, which the server relays
//! to `dst` with `"src":<sender id>` added. Only `type`, `src` and `payload` are read back.
//!
//! Everything here is pure text in, text out; sockets live in [`crate::conn`].

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::SocketAddr;

use anyhow::{Context, bail};
use serde::Deserialize;

pub const DEFAULT_KEY: &str = "peerjs";
pub const HEARTBEAT: &str = r#"{"type":"HEARTBEAT"}"#;

/// Where the server listens: only loopback addresses are accepted, so the bench can never
/// send its load anywhere but this machine.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    path: String,
    key: String,
}

impl Endpoint {
    /// `ws://127.0.0.1:9000/peerjs` (the query is added per connection).
    pub fn parse(url: &str, key: &str) -> anyhow::Result<Self> {
        let rest = url.strip_prefix("ws://").with_context(|| format!("{url}: only ws:// URLs are supported"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let addr: SocketAddr =
            host.parse().with_context(|| format!("{url}: the host must be an IP literal with a port"))?;
        if !addr.ip().is_loopback() {
            bail!("{url}: refusing a non-loopback target; this tool only loads 127.0.0.0/8 or ::1");
        }
        if path.contains('?') {
            bail!("{url}: give the URL without a query; key, id and token are added per connection");
        }
        Ok(Self { addr, path: format!("/{}", path.trim_end_matches('/')), key: key.to_owned() })
    }

    /// The same server with another key (to check that a wrong key is refused).
    pub fn with_key(&self, key: &str) -> Self {
        Self { key: key.to_owned(), ..self.clone() }
    }

    pub fn connect_uri(&self, id: &PeerId, token: &str) -> String {
        format!("ws://{}{}?key={}&id={}&token={}", self.addr, self.path, self.key, id, token)
    }
}

/// A client id the bench makes up: `[A-Za-z0-9-]` only, so it needs no escaping in a URL
/// query or a JSON string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerId(String);

impl PeerId {
    /// `prefix` is sanitized to the allowed characters.
    pub fn new(prefix: &str, index: usize) -> Self {
        let mut id: String = prefix.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        let _ = write!(id, "{index}");
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message from the server. `P` is the payload shape the scenario expects; unknown fields
/// (`dst`, SDP text, padding) are skipped.
#[derive(Debug, Deserialize)]
pub struct Incoming<'a, P> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub src: Option<Cow<'a, str>>,
    #[serde(default = "Option::default")]
    pub payload: Option<P>,
}

impl<'a, P: Deserialize<'a>> Incoming<'a, P> {
    pub fn parse(text: &'a str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

/// The `payload` of `ERROR` and `ID-TAKEN`.
#[derive(Debug, Deserialize)]
pub struct ErrorPayload {
    #[serde(default)]
    pub msg: String,
}

/// What the first server message of a connection means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Greeting {
    Open,
    IdTaken(String),
    Error(String),
    Unexpected(String),
}

pub fn parse_greeting(text: &str) -> Greeting {
    match Incoming::<ErrorPayload>::parse(text) {
        Some(m) => {
            let msg = m.payload.map(|p| p.msg).unwrap_or_default();
            match m.kind.as_ref() {
                "OPEN" => Greeting::Open,
                "ID-TAKEN" => Greeting::IdTaken(msg),
                "ERROR" => Greeting::Error(msg),
                _ => Greeting::Unexpected(truncate(text, 120)),
            }
        }
        None => Greeting::Unexpected(truncate(text, 120)),
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The payload the relay scenario sends: run step `s` and intended send time `t` (ns).
#[derive(Debug, Deserialize)]
pub struct StampedPayload {
    pub s: u32,
    pub t: u64,
}

/// An `OFFER` of exactly `total_len` bytes (when that is larger than the unpadded message)
/// carrying the step and the intended send time, like a small real offer would.
pub fn stamped_offer(dst: &PeerId, step: u32, t_ns: u64, total_len: usize) -> String {
    let mut s = String::with_capacity(total_len.max(96));
    let _ = write!(s, r#"{{"type":"OFFER","dst":"{dst}","payload":{{"s":{step},"t":{t_ns},"pad":""#);
    let closing = r#""}}"#;
    let pad = total_len.saturating_sub(s.len() + closing.len());
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str(closing);
    s
}

/// The payload fields the negotiation scenario reads back: which pair and when it started.
#[derive(Debug, Deserialize)]
pub struct NegotiationPayload {
    pub pair: u32,
    pub t: u64,
}

/// An SDP-like body of about `len` bytes, shaped like a browser's data-channel offer.
pub fn fake_sdp(kind: &str, len: usize) -> String {
    let mut sdp = format!(
        "v=0\\r\\no=- 4611731400430051336 2 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n\
         a=group:BUNDLE 0\\r\\na=extmap-allow-mixed\\r\\na=msid-semantic: WMS\\r\\n\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\\r\\nc=IN IP4 0.0.0.0\\r\\n\
         a=ice-ufrag:sEMT\\r\\na=ice-pwd:2bVkWqJpQ4cH8mZr0xNn7sLd\\r\\na=ice-options:trickle\\r\\n\
         a=setup:{}\\r\\na=mid:0\\r\\na=sctp-port:5000\\r\\na=max-message-size:262144\\r\\n",
        if kind == "offer" { "actpass" } else { "active" }
    );
    let line = "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\\r\\n";
    while sdp.len() + line.len() <= len {
        sdp.push_str(line);
    }
    sdp.extend(std::iter::repeat_n('x', len.saturating_sub(sdp.len())));
    sdp
}

/// `OFFER`/`ANSWER` with an SDP of `sdp_len` bytes, as PeerJS sends them.
pub fn negotiation_sdp_message(kind: &str, dst: &str, pair: u32, t_ns: u64, sdp: &str) -> String {
    let sdp_type = if kind == "OFFER" { "offer" } else { "answer" };
    format!(
        r#"{{"type":"{kind}","dst":"{dst}","payload":{{"sdp":{{"type":"{sdp_type}","sdp":"{sdp}"}},"type":"data","connectionId":"dc_bench{pair}","browser":"chrome","label":"dc_bench{pair}","reliable":true,"serialization":"binary","pair":{pair},"t":{t_ns}}}}}"#
    )
}

/// One trickled ICE `CANDIDATE` as PeerJS sends it.
pub fn negotiation_candidate(dst: &str, pair: u32, t_ns: u64, n: u32) -> String {
    let port = 50_000 + n;
    format!(
        r#"{{"type":"CANDIDATE","dst":"{dst}","payload":{{"candidate":{{"candidate":"candidate:{n} 1 udp 2122260223 127.0.0.1 {port} typ host generation 0 ufrag sEMT network-id 1","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"sEMT"}},"type":"data","connectionId":"dc_bench{pair}","pair":{pair},"t":{t_ns}}}}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_builds_the_peerjs_query_and_refuses_other_hosts() {
        let ep = Endpoint::parse("ws://127.0.0.1:9000/peerjs", DEFAULT_KEY).unwrap();
        let id = PeerId::new("hb-x_y", 7);
        assert_eq!(id.as_str(), "hb-xy7");
        assert_eq!(ep.connect_uri(&id, "t1"), "ws://127.0.0.1:9000/peerjs?key=peerjs&id=hb-xy7&token=t1");
        let nested = Endpoint::parse("ws://127.0.0.1:9/app/peerjs/", "k").unwrap();
        assert!(nested.connect_uri(&id, "t").starts_with("ws://127.0.0.1:9/app/peerjs?key=k&"));
        assert!(Endpoint::parse("ws://10.0.0.1:9000/peerjs", "k").is_err());
        assert!(Endpoint::parse("ws://localhost:9000/peerjs", "k").is_err());
        assert!(Endpoint::parse("http://127.0.0.1:9000/peerjs", "k").is_err());
    }

    #[test]
    fn greetings_from_peerjs_server() {
        assert_eq!(parse_greeting(r#"{"type":"OPEN"}"#), Greeting::Open);
        assert_eq!(
            parse_greeting(r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#),
            Greeting::IdTaken("ID is taken".into())
        );
        assert_eq!(
            parse_greeting(r#"{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}"#),
            Greeting::Error("Server has reached its concurrent user limit".into())
        );
        assert!(matches!(parse_greeting("nope"), Greeting::Unexpected(_)));
    }

    #[test]
    fn stamped_offer_is_exactly_the_asked_size_and_reads_back_as_relayed() {
        let dst = PeerId::new("hb-b", 42);
        let msg = stamped_offer(&dst, 3, 1_234_567_890, 200);
        assert_eq!(msg.len(), 200);
        let v: serde_json::Value = serde_json::from_str(&msg).unwrap();
        assert_eq!(v["dst"], "hb-b42");
        // peer relays {type, src, dst, payload} in that order; our hub may order differently.
        let relayed = format!(r#"{{"type":"OFFER","src":"hb-a42","dst":"hb-b42","payload":{}}}"#, v["payload"]);
        let m = Incoming::<StampedPayload>::parse(&relayed).unwrap();
        assert_eq!(m.kind, "OFFER");
        assert_eq!(m.src.as_deref(), Some("hb-a42"));
        let p = m.payload.unwrap();
        assert_eq!((p.s, p.t), (3, 1_234_567_890));
    }

    #[test]
    fn negotiation_messages_are_valid_json_of_the_intended_size() {
        let sdp = fake_sdp("offer", 2_800);
        assert_eq!(sdp.len(), 2_800);
        let offer = negotiation_sdp_message("OFFER", "hb-b1", 1, 99, &sdp);
        assert!((3_000..3_300).contains(&offer.len()), "{}", offer.len());
        let v: serde_json::Value = serde_json::from_str(&offer).unwrap();
        assert_eq!(v["payload"]["sdp"]["type"], "offer");
        let cand = negotiation_candidate("hb-a1", 1, 99, 3);
        let m = Incoming::<NegotiationPayload>::parse(&cand).unwrap();
        assert_eq!(m.kind, "CANDIDATE");
        assert_eq!(m.payload.map(|p| (p.pair, p.t)), Some((1, 99)));
    }
}
