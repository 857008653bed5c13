//! The sans-IO hub core, driven with virtual time: every message, limit and timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p2pos_core::Identity;
use p2pos_signal::hub::close;
use p2pos_signal::{ConnId, Hub, HubConfig, Limits, Output, Protocol, Refusal, TurnConfig, turn};
use serde_json::{Value, json};

const UNIX_T0: u64 = 1_800_000_000;
/// Where the lab's peers reach the hub.
const ORIGIN: &str = "https://hub.example.org";

/// What `who` signs to log in at the hub reached at `origin` with `challenge`.
fn login(who: &Identity, origin: &str, challenge: &str) -> String {
    B64.encode(who.sign(format!("p2pos-hub-auth-v2|{origin}|{challenge}").as_bytes()).to_bytes())
}

struct Lab {
    hub: Hub,
    now: Instant,
}

impl Lab {
    fn new() -> Self {
        Self::with(HubConfig::default())
    }

    fn with(config: HubConfig) -> Self {
        let now = Instant::now();
        Self { hub: Hub::new(config, now, UNIX_T0, [7; 32]), now }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.hub.handle_timeout(self.now);
    }

    fn outputs(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.hub.poll_output()).collect()
    }

    /// Messages sent to `conn` (drains every output; others' are dropped).
    fn inbox(&mut self, conn: ConnId) -> Vec<Value> {
        self.outputs()
            .into_iter()
            .filter_map(|o| match o {
                Output::Send { conn: c, text } if c == conn => Some(serde_json::from_str(&text).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn send(&mut self, conn: ConnId, msg: Value) {
        self.hub.receive(conn, &msg.to_string(), self.now);
    }

    fn ask(&mut self, conn: ConnId, msg: Value) -> Vec<Value> {
        self.send(conn, msg);
        self.inbox(conn)
    }

    fn connect(&mut self, ip: &str) -> ConnId {
        self.hub.connect_to(ip.parse().unwrap(), Protocol::Native, vec![ORIGIN.into()], self.now).unwrap()
    }

    /// A native peer that said hello; returns its connection, peer id and challenge.
    fn peer(&mut self, ip: &str) -> (ConnId, String, String) {
        let conn = self.connect(ip);
        let welcome = self.ask(conn, json!({"type": "hello", "v": 1}));
        assert_eq!(welcome[0]["type"], "welcome");
        (conn, welcome[0]["peer"].as_str().unwrap().into(), welcome[0]["challenge"].as_str().unwrap().into())
    }

    fn authed_peer(&mut self, ip: &str, who: &Identity, allow: &str) -> (ConnId, String) {
        let (conn, peer, challenge) = self.peer(ip);
        let sig = login(who, ORIGIN, &challenge);
        let reply = self.ask(conn, json!({"type": "auth", "id": who.id(), "sig": sig, "allow": allow}));
        assert_eq!(reply[0]["type"], "authed", "{reply:?}");
        (conn, peer)
    }

    fn closes(&mut self) -> Vec<(ConnId, u16, String)> {
        self.outputs()
            .into_iter()
            .filter_map(|o| match o {
                Output::Close { conn, code, reason } => Some((conn, code, reason)),
                _ => None,
            })
            .collect()
    }

    fn peerjs(&mut self, id: &str, token: &str) -> ConnId {
        let proto = Protocol::PeerJs { key: "peerjs".into(), id: id.into(), token: token.into() };
        self.hub.connect("192.0.2.50".parse().unwrap(), proto, self.now).unwrap()
    }
}

fn error_code(msgs: &[Value]) -> &str {
    let e = msgs.iter().find(|m| m["type"] == "error").unwrap_or_else(|| panic!("no error in {msgs:?}"));
    e["code"].as_str().unwrap()
}

#[test]
fn hello_assigns_a_peer_id_and_announces_limits() {
    let mut lab = Lab::new();
    let conn = lab.connect("192.0.2.1");
    let msgs = lab.ask(conn, json!({"type": "hello", "v": 1, "rid": 5, "profile": {"name": "Oak"}}));
    assert_eq!(msgs[0]["type"], "welcome");
    assert_eq!(msgs[0]["rid"], 5);
    assert!(msgs[0]["peer"].as_str().unwrap().starts_with('p'));
    assert_eq!(msgs[0]["limits"]["max_message_bytes"], 16384);
    assert_eq!(msgs[0]["limits"]["rate_per_sec"], 10.0);
    assert_eq!(error_code(&lab.ask(conn, json!({"type": "hello", "v": 1}))), "already_hello");
}

#[test]
fn anything_before_hello_or_a_wrong_version_closes_with_a_reason() {
    let mut lab = Lab::new();
    let a = lab.connect("192.0.2.1");
    lab.send(a, json!({"type": "join", "ns": "network"}));
    assert_eq!(lab.closes(), vec![(a, close::PROTOCOL, "say hello first".to_string())]);
    let b = lab.connect("192.0.2.1");
    lab.send(b, json!({"type": "hello", "v": 2}));
    let closes = lab.closes();
    assert_eq!(closes[0].1, close::PROTOCOL);
    assert!(closes[0].2.contains("v1"));
}

#[test]
fn auth_proves_an_identity_and_refuses_a_forgery() {
    let mut lab = Lab::new();
    let alice = Identity::generate().unwrap();
    let mallory = Identity::generate().unwrap();
    let (conn, _, challenge) = lab.peer("192.0.2.1");
    // Mallory signs the challenge but claims Alice's id.
    let forged = login(&mallory, ORIGIN, &challenge);
    let reply = lab.ask(conn, json!({"type": "auth", "id": alice.id(), "sig": forged}));
    assert_eq!(error_code(&reply), "auth_failed");
    // A signature over another connection's challenge does not work either.
    let (_, _, other_challenge) = lab.peer("192.0.2.2");
    let replayed = login(&alice, ORIGIN, &other_challenge);
    let reply = lab.ask(conn, json!({"type": "auth", "id": alice.id(), "sig": replayed}));
    assert_eq!(error_code(&reply), "auth_failed");
    let good = login(&alice, ORIGIN, &challenge);
    let reply = lab.ask(conn, json!({"type": "auth", "id": alice.id(), "sig": good}));
    assert_eq!(reply[0]["type"], "authed");
    assert_eq!(reply[0]["id"], alice.id().to_string());
}

#[test]
fn a_login_must_name_the_hub_it_was_made_for() {
    let mut lab = Lab::new();
    let alice = Identity::generate().unwrap();
    let (conn, _, challenge) = lab.peer("192.0.2.1");
    // A rogue hub passed this challenge on to Alice, who signed it for the hub she was talking to.
    let relayed = login(&alice, "https://rogue.example", &challenge);
    let reply = lab.ask(conn, json!({"type": "auth", "rid": 1, "id": alice.id(), "sig": relayed}));
    assert_eq!(error_code(&reply), "auth_failed");
    assert_eq!(reply[0]["rid"], 1);
    assert!(reply[0]["message"].as_str().unwrap().contains(ORIGIN), "the refusal says which hub to name: {reply:?}");
    // The old message named no hub: it would serve any hub that relays it.
    let unbound = B64.encode(alice.sign(format!("p2pos-hub-auth-v1|{challenge}").as_bytes()).to_bytes());
    assert_eq!(error_code(&lab.ask(conn, json!({"type": "auth", "id": alice.id(), "sig": unbound}))), "auth_failed");
    let good = login(&alice, ORIGIN, &challenge);
    assert_eq!(lab.ask(conn, json!({"type": "auth", "id": alice.id(), "sig": good}))[0]["type"], "authed");

    // A connection addressed to no origin (the driver knew none): nobody can log in on it.
    let blind = lab.hub.connect("192.0.2.3".parse().unwrap(), Protocol::Native, lab.now).unwrap();
    let challenge = lab.ask(blind, json!({"type": "hello", "v": 1}))[0]["challenge"].as_str().unwrap().to_string();
    let sig = login(&alice, ORIGIN, &challenge);
    assert_eq!(error_code(&lab.ask(blind, json!({"type": "auth", "id": alice.id(), "sig": sig}))), "auth_failed");
}

#[test]
fn presence_shows_joins_and_leaves_with_profiles() {
    let mut lab = Lab::new();
    let alice = Identity::generate().unwrap();
    let (a, a_peer) = lab.authed_peer("192.0.2.1", &alice, "shared");
    let b = lab.connect("192.0.2.2");
    let b_peer = lab.ask(b, json!({"type": "hello", "v": 1, "profile": {"name": "Pine"}}))[0]["peer"].clone();
    let joined = lab.ask(a, json!({"type": "join", "ns": "family:river"}));
    assert_eq!(joined[0]["type"], "joined");
    assert_eq!(joined[0]["peers"], json!([]));

    lab.send(b, json!({"type": "join", "ns": "family:river"}));
    let out = lab.outputs();
    let to = |c: ConnId| -> Vec<Value> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { conn, text } if *conn == c => Some(serde_json::from_str(text).unwrap()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(to(b)[0]["peers"], json!([{"peer": a_peer, "id": alice.id().to_string()}]));
    assert_eq!(
        to(a)[0],
        json!({"type": "presence", "ns": "family:river", "event": "join", "peer": {"peer": b_peer, "profile": {"name": "Pine"}}})
    );

    lab.send(b, json!({"type": "leave", "ns": "family:river"}));
    let a_msgs = lab.inbox(a);
    assert_eq!(a_msgs[0]["event"], "leave");
    assert_eq!(error_code(&lab.ask(b, json!({"type": "leave", "ns": "family:river"}))), "not_joined");
}

#[test]
fn the_network_namespace_groups_peers_by_public_address() {
    let mut lab = Lab::new();
    let (a, ..) = lab.peer("198.51.100.7");
    let (b, ..) = lab.peer("198.51.100.7");
    let (c, ..) = lab.peer("198.51.100.8");
    lab.ask(a, json!({"type": "join", "ns": "network"}));
    assert_eq!(lab.ask(b, json!({"type": "join", "ns": "network"}))[0]["peers"].as_array().unwrap().len(), 1);
    let third = lab.ask(c, json!({"type": "join", "ns": "network"}));
    assert_eq!(third[0]["peers"], json!([]), "another address sees nobody");
    assert_eq!(third[0]["ns"], "network", "the address itself is never echoed");
}

#[test]
fn rooms_are_unguessable_deleted_by_their_creator_and_expire() {
    let limits = Limits { idle_timeout: Duration::from_secs(3600), ..Limits::default() };
    let mut lab = Lab::with(HubConfig { limits, ..Default::default() });
    let (a, ..) = lab.peer("192.0.2.1");
    let (b, ..) = lab.peer("192.0.2.2");
    let created = lab.ask(a, json!({"type": "create_room"}));
    let code = created[0]["code"].as_str().unwrap().to_string();
    assert!(code.len() >= 26, "at least 128 bits");
    assert_eq!(created[1]["type"], "joined");
    assert_eq!(error_code(&lab.ask(b, json!({"type": "join", "ns": "room:nosuchroomcode"}))), "no_such_room");
    assert_eq!(lab.ask(b, json!({"type": "join", "ns": format!("room:{code}")}))[0]["type"], "joined");
    assert_eq!(error_code(&lab.ask(b, json!({"type": "delete_room", "code": code}))), "not_allowed");
    lab.send(a, json!({"type": "delete_room", "code": code}));
    let b_msgs = lab.inbox(b);
    assert_eq!(b_msgs[0], json!({"type": "room_closed", "ns": format!("room:{code}"), "reason": "deleted"}));
    assert_eq!(error_code(&lab.ask(b, json!({"type": "join", "ns": format!("room:{code}")}))), "no_such_room");

    let code2 = lab.ask(a, json!({"type": "create_room"}))[0]["code"].as_str().unwrap().to_string();
    lab.advance(Duration::from_secs(599));
    lab.outputs();
    assert_eq!(lab.ask(b, json!({"type": "join", "ns": format!("room:{code2}")}))[0]["type"], "joined");
    lab.advance(Duration::from_secs(2));
    let expired = lab.inbox(b);
    assert!(expired.iter().any(|m| m["type"] == "room_closed" && m["reason"] == "expired"));
}

#[test]
fn the_attacking_test_mode_swaps_drop_hello_keys_and_nothing_else() {
    let attacker = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    let mut lab = Lab::with(HubConfig { swap_drop_keys: Some(attacker.into()), ..Default::default() });
    let (a, a_peer, _) = lab.peer("192.0.2.1");
    let (b, b_peer, _) = lab.peer("192.0.2.2");
    lab.ask(a, json!({"type": "join", "ns": "rv:abc"}));
    lab.ask(b, json!({"type": "join", "ns": "rv:abc"}));
    let hello = json!({"p2pos": "drop", "kind": "hello", "role": "receiver", "pub": "b3duIGtleQ==", "mac": "m"});
    lab.send(a, json!({"type": "signal", "to": b_peer, "payload": hello}));
    let mut swapped = hello.clone();
    swapped["pub"] = json!(attacker);
    assert_eq!(lab.inbox(b), vec![json!({"type": "signal", "from": a_peer, "payload": swapped})]);
    // Other signals, and other apps' hellos, pass untouched.
    for payload in [json!({"p2pos": "drop", "kind": "offer", "pub": "x"}), json!({"kind": "hello", "pub": "x"})] {
        lab.send(b, json!({"type": "signal", "to": a_peer, "payload": payload}));
        assert_eq!(lab.inbox(a), vec![json!({"type": "signal", "from": b_peer, "payload": payload})]);
    }
}

#[test]
fn signal_relays_within_a_shared_namespace_only() {
    let mut lab = Lab::new();
    let (a, a_peer, _) = lab.peer("192.0.2.1");
    let (b, b_peer, _) = lab.peer("192.0.2.2");
    let reply = lab.ask(a, json!({"type": "signal", "to": b_peer, "payload": {"sdp": "x"}, "rid": 1}));
    assert_eq!(error_code(&reply), "not_allowed");
    lab.ask(a, json!({"type": "join", "ns": "rv:abc"}));
    lab.ask(b, json!({"type": "join", "ns": "rv:abc"}));
    lab.send(a, json!({"type": "signal", "to": b_peer, "payload": {"sdp": "v=0", "n": [1, 2]}}));
    assert_eq!(lab.inbox(b), vec![json!({"type": "signal", "from": a_peer, "payload": {"sdp": "v=0", "n": [1, 2]}})]);
    assert_eq!(lab.hub.stats().relayed, 1);
    let reply = lab.ask(a, json!({"type": "signal", "to": "pnosuchpeer", "payload": {}}));
    assert_eq!(error_code(&reply), "peer_unavailable");
}

#[test]
fn an_identity_that_allows_anyone_can_be_signalled_by_id() {
    let mut lab = Lab::new();
    let oak = Identity::generate().unwrap();
    let (node, _) = lab.authed_peer("192.0.2.9", &oak, "anyone");
    let (browser, browser_peer, _) = lab.peer("203.0.113.5");
    lab.send(browser, json!({"type": "signal", "to": oak.id().to_string(), "payload": {"hi": 1}}));
    assert_eq!(lab.inbox(node)[0]["from"], browser_peer);
    let shy = Identity::generate().unwrap();
    lab.authed_peer("192.0.2.10", &shy, "shared");
    let reply = lab.ask(browser, json!({"type": "signal", "to": shy.id().to_string(), "payload": {}}));
    assert_eq!(error_code(&reply), "not_allowed");
}

#[test]
fn a_signalled_peer_may_answer_its_sender_and_no_one_else() {
    let mut lab = Lab::new();
    let oak = Identity::generate().unwrap();
    let (node, _) = lab.authed_peer("192.0.2.9", &oak, "anyone");
    let (joiner, joiner_peer, _) = lab.peer("203.0.113.5");
    let (_stranger, stranger_peer, _) = lab.peer("203.0.113.6");
    // The node may not signal an anonymous peer out of the blue…
    let reply = lab.ask(node, json!({"type": "signal", "to": joiner_peer, "payload": {}, "rid": 1}));
    assert_eq!(error_code(&reply), "not_allowed");
    // …but once that peer signalled it, the node may answer it (an enrolment reply).
    lab.send(joiner, json!({"type": "signal", "to": oak.id().to_string(), "payload": {"step": "request"}}));
    assert_eq!(lab.inbox(node)[0]["from"], joiner_peer);
    lab.send(node, json!({"type": "signal", "to": joiner_peer, "payload": {"step": "accept"}}));
    assert_eq!(lab.inbox(joiner)[0]["payload"], json!({"step": "accept"}));
    let reply = lab.ask(node, json!({"type": "signal", "to": stranger_peer, "payload": {}, "rid": 2}));
    assert_eq!(error_code(&reply), "not_allowed", "answering is not a licence to signal others");
}

#[test]
fn a_thousand_strangers_signalling_a_node_cannot_stop_it_answering_a_browser_or_an_enrolling_node() {
    // The defaults admit 50 connections per address: 20 addresses hold the 1,000 hostile ones.
    let limits = Limits::default();
    assert!(limits.max_connections_per_ip >= 50 && limits.max_connections >= 1_100);
    let mut lab = Lab::with(HubConfig { limits, ..Default::default() });
    let oak = Identity::generate().unwrap();
    let (node, _) = lab.authed_peer("192.0.2.9", &oak, "anyone");
    let hostile: Vec<ConnId> = (0..1_000).map(|i| lab.peer(&format!("198.51.100.{}", i / 50)).0).collect();
    let junk = json!({"type": "signal", "to": oak.id().to_string(), "payload": {"p2pos": "rtc", "kind": "offer"}});
    let flood = |lab: &mut Lab| {
        for &h in &hostile {
            lab.send(h, junk.clone());
        }
        lab.outputs();
    };
    flood(&mut lab);

    // A member's browser dials the node, and a joining node sends its enrolment request.
    let alice = Identity::generate().unwrap();
    let (browser, browser_peer) = lab.authed_peer("203.0.113.5", &alice, "shared");
    lab.send(browser, json!({"type": "signal", "to": oak.id().to_string(), "payload": {"kind": "offer"}}));
    assert_eq!(lab.inbox(node)[0]["from"], browser_peer);
    let (joiner, joiner_peer, _) = lab.peer("203.0.113.6");
    lab.send(joiner, json!({"type": "signal", "to": oak.id().to_string(), "payload": {"step": "request"}}));
    assert_eq!(lab.inbox(node)[0]["from"], joiner_peer);

    // The strangers keep signalling the node, more than once each.
    for _ in 0..3 {
        flood(&mut lab);
    }

    // The node still answers both.
    for (to, peer, payload) in
        [(browser, browser_peer, json!({"kind": "answer"})), (joiner, joiner_peer, json!({"step": "accept"}))]
    {
        lab.send(node, json!({"type": "signal", "to": peer, "payload": payload, "rid": 1}));
        let out = lab.outputs();
        let to_node: Vec<&Output> =
            out.iter().filter(|o| matches!(o, Output::Send { conn, .. } if *conn == node)).collect();
        assert!(to_node.is_empty(), "the node's answer to {peer} was refused: {to_node:?}");
        let delivered = out
            .iter()
            .any(|o| matches!(o, Output::Send { conn, text } if *conn == to && text.contains(&payload.to_string())));
        assert!(delivered, "{out:?}");
    }
}

#[test]
fn turn_hands_out_fresh_rest_credentials() {
    let turn = TurnConfig::new("k".repeat(40), vec!["turn:127.0.0.1:3478?transport=udp".into()], 600).unwrap();
    let mut lab =
        Lab::with(HubConfig { turn: Some(turn), stun_urls: vec!["stun:127.0.0.1:3478".into()], ..Default::default() });
    let (a, ..) = lab.peer("192.0.2.1");
    lab.now += Duration::from_secs(100);
    let reply = lab.ask(a, json!({"type": "turn", "rid": 9}));
    assert_eq!(reply[0]["type"], "ice_servers");
    assert_eq!(reply[0]["rid"], 9);
    let servers = reply[0]["ice_servers"].as_array().unwrap();
    assert_eq!(servers[0], json!({"urls": ["stun:127.0.0.1:3478"]}));
    let username = servers[1]["username"].as_str().unwrap();
    let credential = servers[1]["credential"].as_str().unwrap();
    let (expiry, opaque) = username.split_once(':').unwrap();
    assert_eq!(expiry.parse::<u64>().unwrap(), UNIX_T0 + 100 + 600);
    assert!(!opaque.is_empty());
    assert!(turn::verify(&"k".repeat(40), username, credential, UNIX_T0 + 101));
    assert!(!turn::verify(&"k".repeat(40), username, credential, UNIX_T0 + 701));
}

#[test]
fn bad_input_gets_a_clear_error_and_the_connection_survives() {
    let mut lab = Lab::new();
    let (a, ..) = lab.peer("192.0.2.1");
    let reply = {
        lab.hub.receive(a, "{not json", lab.now);
        lab.inbox(a)
    };
    assert_eq!(error_code(&reply), "bad_message");
    assert_eq!(error_code(&lab.ask(a, json!({"type": "dance"}))), "unknown_type");
    assert_eq!(error_code(&lab.ask(a, json!({"type": "ping", "extra": 1}))), "bad_message");
    assert_eq!(error_code(&lab.ask(a, json!({"type": "join", "ns": "moon:x"}))), "bad_namespace");
    assert_eq!(error_code(&lab.ask(a, json!({"type": "signal", "to": "x"}))), "bad_message");
    assert_eq!(lab.ask(a, json!({"type": "ping", "rid": 3})), vec![json!({"type": "pong", "rid": 3})]);
}

#[test]
fn oversize_messages_close_with_1009() {
    let mut lab = Lab::new();
    let (a, ..) = lab.peer("192.0.2.1");
    let big = json!({"type": "ping", "pad": "x".repeat(17_000)}).to_string();
    lab.hub.receive(a, &big, lab.now);
    let closes = lab.closes();
    assert_eq!(closes[0].1, close::TOO_BIG);
    assert!(closes[0].2.contains("limit 16384"));
    assert_eq!(lab.hub.stats().closed_too_big, 1);
}

#[test]
fn the_token_bucket_allows_a_burst_then_throttles_then_closes_a_flood() {
    let mut lab = Lab::new();
    let (a, ..) = lab.peer("192.0.2.1"); // hello took one token
    let mut pongs = 0;
    let mut limited = 0;
    for _ in 0..30 {
        for m in lab.ask(a, json!({"type": "ping"})) {
            match m["type"].as_str().unwrap() {
                "pong" => pongs += 1,
                "error" => limited += 1,
                _ => {}
            }
        }
    }
    assert_eq!(pongs, 19);
    assert_eq!(limited, 2, "told on the 1st and the 10th dropped message");
    lab.now += Duration::from_millis(1000);
    assert_eq!(lab.ask(a, json!({"type": "ping"}))[0]["type"], "pong", "refilled at 10/s");
    for _ in 0..200 {
        lab.send(a, json!({"type": "ping"}));
    }
    let closes = lab.closes();
    assert_eq!(closes, vec![(a, close::FLOOD, "flooding: too many messages over the rate limit".to_string())]);
}

#[test]
fn silent_connections_are_pinged_then_closed() {
    let mut lab = Lab::new();
    let (a, ..) = lab.peer("192.0.2.1");
    let (b, ..) = lab.peer("192.0.2.2");
    lab.advance(Duration::from_secs(20));
    let pings: Vec<_> = lab.outputs().into_iter().filter(|o| matches!(o, Output::Ping { .. })).collect();
    assert_eq!(pings.len(), 2);
    lab.hub.activity(b, lab.now); // b answers the ping
    lab.advance(Duration::from_secs(40));
    assert_eq!(lab.closes(), vec![(a, close::IDLE, "idle for 60 s".to_string())]);
}

#[test]
fn a_connection_that_never_says_hello_is_closed() {
    let mut lab = Lab::new();
    let a = lab.connect("192.0.2.1");
    lab.advance(Duration::from_secs(9));
    assert!(lab.closes().is_empty());
    lab.advance(Duration::from_secs(1));
    assert_eq!(lab.closes(), vec![(a, close::NO_HELLO, "no hello within 10 s".to_string())]);
}

#[test]
fn connection_caps_refuse_with_a_reason_and_recover() {
    let limits = Limits { max_connections: 3, max_connections_per_ip: 2, ..Limits::default() };
    let mut lab = Lab::with(HubConfig { limits, ..Default::default() });
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    let first = lab.hub.connect(ip, Protocol::Native, lab.now).unwrap();
    lab.hub.connect(ip, Protocol::Native, lab.now).unwrap();
    assert_eq!(lab.hub.connect(ip, Protocol::Native, lab.now), Err(Refusal::TooManyFromAddress));
    lab.hub.connect("192.0.2.2".parse().unwrap(), Protocol::Native, lab.now).unwrap();
    assert_eq!(lab.hub.connect("192.0.2.3".parse().unwrap(), Protocol::Native, lab.now), Err(Refusal::HubFull));
    assert_eq!(Refusal::HubFull.http_status(), 503);
    assert_eq!(Refusal::TooManyFromAddress.http_status(), 429);
    lab.hub.disconnected(first, lab.now);
    assert!(lab.hub.connect(ip, Protocol::Native, lab.now).is_ok());
    assert_eq!(lab.hub.stats().refused_hub_full, 1);
    assert_eq!(lab.hub.stats().refused_per_address, 1);
}

#[test]
fn namespaces_have_size_and_count_caps() {
    let limits = Limits { max_namespace_peers: 2, max_namespaces_per_connection: 2, ..Limits::default() };
    let mut lab = Lab::with(HubConfig { limits, ..Default::default() });
    let (a, ..) = lab.peer("192.0.2.1");
    let (b, ..) = lab.peer("192.0.2.2");
    let (c, ..) = lab.peer("192.0.2.3");
    lab.ask(a, json!({"type": "join", "ns": "rv:x"}));
    lab.ask(b, json!({"type": "join", "ns": "rv:x"}));
    assert_eq!(error_code(&lab.ask(c, json!({"type": "join", "ns": "rv:x"}))), "namespace_full");
    lab.ask(a, json!({"type": "join", "ns": "rv:y"}));
    assert_eq!(error_code(&lab.ask(a, json!({"type": "join", "ns": "rv:z"}))), "too_many_namespaces");
}

#[test]
fn a_peer_at_its_namespace_limit_gets_no_room_and_leaves_none_behind() {
    let limits = Limits { max_namespaces_per_connection: 2, ..Limits::default() };
    let mut lab = Lab::with(HubConfig { limits, ..Default::default() });
    let (a, ..) = lab.peer("192.0.2.1");
    let (b, ..) = lab.peer("192.0.2.2");
    lab.ask(a, json!({"type": "join", "ns": "rv:x"}));
    lab.ask(a, json!({"type": "join", "ns": "rv:y"}));
    // a is in as many namespaces as it may be: a room it cannot join is not made at all.
    let reply = lab.ask(a, json!({"type": "create_room", "rid": 4}));
    assert_eq!(error_code(&reply), "too_many_namespaces");
    assert_eq!(reply[0]["rid"], 4);
    let leaked: Vec<&Value> = reply.iter().filter(|m| m["type"] == "room").collect();
    assert!(leaked.is_empty(), "a room was made that its creator is not in: {leaked:?}");
    assert_eq!(lab.hub.room_count(), 0);
    // Once a leaves a namespace, it can make one, and b can join it.
    lab.ask(a, json!({"type": "leave", "ns": "rv:y"}));
    let code = lab.ask(a, json!({"type": "create_room"}))[0]["code"].as_str().unwrap().to_string();
    assert_eq!(lab.hub.room_count(), 1);
    assert_eq!(lab.ask(b, json!({"type": "join", "ns": format!("room:{code}")}))[0]["type"], "joined");
}

#[test]
fn a_closed_peer_leaves_every_namespace_at_once() {
    let mut lab = Lab::new();
    let (a, a_peer, _) = lab.peer("192.0.2.1");
    let (b, ..) = lab.peer("192.0.2.2");
    lab.ask(a, json!({"type": "join", "ns": "rv:x"}));
    lab.ask(b, json!({"type": "join", "ns": "rv:x"}));
    lab.hub.disconnected(a, lab.now);
    let msgs = lab.inbox(b);
    assert_eq!(msgs[0]["event"], "leave");
    assert_eq!(msgs[0]["peer"]["peer"], a_peer);
    assert_eq!(error_code(&lab.ask(b, json!({"type": "signal", "to": a_peer, "payload": {}}))), "peer_unavailable");
    assert_eq!(lab.hub.connection_count(), 1);
}

#[test]
fn shutdown_closes_everyone_with_going_away_and_refuses_newcomers() {
    let mut lab = Lab::new();
    let (a, ..) = lab.peer("192.0.2.1");
    lab.hub.shutdown();
    assert_eq!(lab.closes(), vec![(a, close::GOING_AWAY, "hub shutting down".to_string())]);
    assert_eq!(lab.hub.connect("192.0.2.1".parse().unwrap(), Protocol::Native, lab.now), Err(Refusal::ShuttingDown));
}

// ---- PeerJS ----

#[test]
fn peerjs_open_relay_with_src_and_id_taken() {
    let mut lab = Lab::new();
    let a = lab.peerjs("alice", "t1");
    assert_eq!(lab.inbox(a), vec![json!({"type": "OPEN"})]);
    let b = lab.peerjs("bob", "t2");
    lab.outputs();
    lab.send(a, json!({"type": "OFFER", "dst": "bob", "payload": {"sdp": {"type": "offer"}, "connectionId": "dc_1"}}));
    assert_eq!(
        lab.inbox(b),
        vec![
            json!({"type": "OFFER", "src": "alice", "dst": "bob", "payload": {"sdp": {"type": "offer"}, "connectionId": "dc_1"}})
        ]
    );
    let thief = lab.peerjs("alice", "wrong-token");
    assert_eq!(
        lab.hub.poll_output(),
        Some(Output::Send { conn: thief, text: r#"{"payload":{"msg":"ID is taken"},"type":"ID-TAKEN"}"#.into() })
    );
    assert!(matches!(lab.hub.poll_output(), Some(Output::Close { conn, .. }) if conn == thief));
}

#[test]
fn peerjs_reconnect_with_the_same_token_replaces_the_old_socket() {
    let mut lab = Lab::new();
    let old = lab.peerjs("alice", "t1");
    lab.outputs();
    let new = lab.peerjs("alice", "t1");
    let outs = lab.outputs();
    assert!(outs.contains(&Output::Close {
        conn: old,
        code: close::REPLACED,
        reason: "replaced by a newer connection".into()
    }));
    assert!(outs.contains(&Output::Send { conn: new, text: r#"{"type":"OPEN"}"#.into() }));
}

#[test]
fn peerjs_bad_key_or_missing_id_gets_error_then_close() {
    let mut lab = Lab::new();
    let proto = Protocol::PeerJs { key: "nope".into(), id: "a".into(), token: "t".into() };
    let c = lab.hub.connect("192.0.2.1".parse().unwrap(), proto, lab.now).unwrap();
    let outs = lab.outputs();
    assert_eq!(
        outs[0],
        Output::Send { conn: c, text: r#"{"payload":{"msg":"Invalid key provided"},"type":"ERROR"}"#.into() }
    );
    assert!(matches!(outs[1], Output::Close { .. }));
    let c = lab.peerjs("", "t");
    assert!(lab.inbox(c)[0]["payload"]["msg"].as_str().unwrap().contains("No id, token, or key"));
}

#[test]
fn peerjs_queues_for_an_absent_peer_then_delivers_or_expires() {
    let mut lab = Lab::new();
    let a = lab.peerjs("alice", "t1");
    lab.outputs();
    lab.send(a, json!({"type": "OFFER", "dst": "late", "payload": {"n": 1}}));
    lab.send(a, json!({"type": "CANDIDATE", "dst": "late", "payload": {"n": 2}}));
    lab.send(a, json!({"type": "LEAVE", "dst": "late"})); // never queued
    assert!(lab.outputs().is_empty());
    lab.advance(Duration::from_secs(2));
    let late = lab.peerjs("late", "t");
    let got = lab.inbox(late);
    assert_eq!(got.iter().map(|m| m["type"].as_str().unwrap()).collect::<Vec<_>>(), ["OPEN", "OFFER", "CANDIDATE"]);

    lab.send(a, json!({"type": "OFFER", "dst": "never", "payload": {}}));
    lab.send(a, json!({"type": "CANDIDATE", "dst": "never", "payload": {}}));
    lab.advance(Duration::from_secs(5));
    assert_eq!(lab.inbox(a), vec![json!({"type": "EXPIRE", "src": "never", "dst": "alice"})], "one EXPIRE per sender");
}

#[test]
fn peerjs_heartbeats_keep_a_connection_alive_and_unknown_types_are_ignored() {
    let mut lab = Lab::new();
    let a = lab.peerjs("alice", "t1");
    lab.outputs();
    for _ in 0..5 {
        lab.advance(Duration::from_secs(15));
        lab.send(a, json!({"type": "HEARTBEAT"}));
        lab.send(a, json!({"type": "SOMETHING-NEW", "dst": "x"}));
    }
    assert!(lab.closes().is_empty());
    assert_eq!(lab.hub.peerjs_peers(), None, "discovery is off by default");
}
