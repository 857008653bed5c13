//! The sans-IO hub core, driven with virtual time: every message, limit and timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p2pos_core::Identity;
use p2pos_signal::hub::close;
use p2pos_signal::{BeaconSecret, ConnId, Hub, HubConfig, Limits, Output, Protocol, Refusal, TurnConfig, turn};
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

    /// A browser page of the hub (its `Origin` is the hub's).
    fn connect(&mut self, ip: &str) -> ConnId {
        self.connect_page(ip, Some(ORIGIN))
    }

    fn connect_page(&mut self, ip: &str, page_origin: Option<&str>) -> ConnId {
        let origin = page_origin.map(str::to_string);
        self.hub.connect_from(ip.parse().unwrap(), Protocol::Native, vec![ORIGIN.into()], origin, self.now).unwrap()
    }

    /// A beacon token for pages of the hub, as `GET /v1/beacon` hands it out now.
    fn token(&self) -> String {
        self.hub.beacon(ORIGIN, self.now).token
    }

    /// Joins `ns`, with a beacon token where one is needed (`network`, `rv:`).
    fn join(&mut self, conn: ConnId, ns: &str) -> Vec<Value> {
        if ns == "network" || ns.starts_with("rv:") {
            let token = self.token();
            self.ask(conn, json!({"type": "join", "ns": ns, "beacon": token}))
        } else {
            self.ask(conn, json!({"type": "join", "ns": ns}))
        }
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

    /// Sends `msg` and says how the hub answered `conn`: its messages, or how it closed it.
    fn outcome(&mut self, conn: ConnId, msg: Value) -> Result<Vec<Value>, (u16, String)> {
        self.send(conn, msg);
        let mut msgs = Vec::new();
        for output in self.outputs() {
            match output {
                Output::Close { conn: c, code, reason } if c == conn => return Err((code, reason)),
                Output::Send { conn: c, text } if c == conn => msgs.push(serde_json::from_str(&text).unwrap()),
                _ => {}
            }
        }
        Ok(msgs)
    }

    /// Sends a `join` of `ns` with a current beacon token and the `extra` fields.
    fn send_join(&mut self, conn: ConnId, ns: &str, extra: Value) {
        let mut msg = json!({"type": "join", "ns": ns, "beacon": self.token()});
        for (k, v) in extra.as_object().unwrap() {
            msg[k] = v.clone();
        }
        self.send(conn, msg);
    }

    /// Everything sent since the last look, by connection (closes and pings left out).
    fn mail(&mut self) -> std::collections::HashMap<ConnId, Vec<Value>> {
        let mut mail = std::collections::HashMap::<ConnId, Vec<Value>>::new();
        for output in self.outputs() {
            if let Output::Send { conn, text } = output {
                mail.entry(conn).or_default().push(serde_json::from_str(&text).unwrap());
            }
        }
        mail
    }

    /// A fresh page of the hub at `ip` that said hello, joining `network` with `token`.
    fn join_network_with(&mut self, ip: &str, token: &str) -> Result<Vec<Value>, (u16, String)> {
        let (conn, ..) = self.peer(ip);
        self.outcome(conn, json!({"type": "join", "ns": "network", "beacon": token}))
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
    lab.join(a, "network");
    assert_eq!(lab.join(b, "network")[0]["peers"].as_array().unwrap().len(), 1);
    let third = lab.join(c, "network");
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
    lab.join(a, "rv:abc");
    lab.join(b, "rv:abc");
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
    lab.join(a, "rv:abc");
    lab.join(b, "rv:abc");
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
    assert_eq!(error_code(&reply), "peer_unavailable", "refused by identity reads like absence");
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
    lab.join(a, "rv:x");
    lab.join(b, "rv:x");
    assert_eq!(error_code(&lab.join(c, "rv:x")), "namespace_full");
    lab.join(a, "rv:y");
    assert_eq!(error_code(&lab.join(a, "rv:z")), "too_many_namespaces");
}

#[test]
fn a_peer_at_its_namespace_limit_gets_no_room_and_leaves_none_behind() {
    let limits = Limits { max_namespaces_per_connection: 2, ..Limits::default() };
    let mut lab = Lab::with(HubConfig { limits, ..Default::default() });
    let (a, ..) = lab.peer("192.0.2.1");
    let (b, ..) = lab.peer("192.0.2.2");
    lab.join(a, "rv:x");
    lab.join(a, "rv:y");
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
    lab.join(a, "rv:x");
    lab.join(b, "rv:x");
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

// --- Chat (issue 14): beacon tokens, dual-stack nearby, anonymity, hidden watchers, contacts ---

/// The slot `UNIX_T0` falls in: it starts exactly there (1,800,000,000 = 3,000,000 × 600).
const SLOT_N: u64 = 3_000_000;

fn ids(peers: &Value) -> Vec<&str> {
    peers.as_array().unwrap().iter().map(|p| p["peer"].as_str().unwrap()).collect()
}

#[test]
fn a_beacon_token_is_good_in_its_slot_and_the_next_then_stale() {
    let limits = Limits { max_connections_per_ip: 1_000, ..Limits::default() };
    let mut lab = Lab::with(HubConfig { limits, ..Default::default() });
    let grant = lab.hub.beacon(ORIGIN, lab.now);
    assert!(grant.token.starts_with(&format!("b1.{SLOT_N}.")), "{grant:?}");
    assert_eq!((grant.slot_secs, grant.expires_in_secs), (600, 1200));
    let token = grant.token;
    assert!(lab.join_network_with("192.0.2.1", &token).is_ok(), "slot N");
    lab.advance(Duration::from_secs(599));
    assert!(lab.join_network_with("192.0.2.1", &token).is_ok(), "the end of slot N");
    lab.advance(Duration::from_secs(1));
    assert!(lab.hub.beacon(ORIGIN, lab.now).token.starts_with(&format!("b1.{}.", SLOT_N + 1)), "the slot turned");
    let joined = lab.join_network_with("192.0.2.1", &token).unwrap();
    assert_eq!(joined[0]["type"], "joined", "slot N+1 still takes a token of slot N");
    lab.advance(Duration::from_secs(599));
    assert!(lab.join_network_with("192.0.2.1", &token).is_ok(), "the end of slot N+1");
    lab.advance(Duration::from_secs(1));
    assert_eq!(
        lab.join_network_with("192.0.2.1", &token),
        Err((close::BEACON, "stale beacon token: reload the page".into())),
        "slot N+2 refuses it"
    );
    let fresh = lab.token();
    assert!(lab.join_network_with("192.0.2.1", &fresh).is_ok(), "a reloaded page gets a fresh one");
    // A token from a slot the hub has not reached is no good either.
    let future = lab.hub.beacon(ORIGIN, lab.now + Duration::from_secs(600)).token;
    assert_eq!(lab.join_network_with("192.0.2.1", &future).unwrap_err().0, close::BEACON);
    assert_eq!(lab.hub.stats().closed_beacon, 2);
}

#[test]
fn beacon_slots_follow_the_wall_clock_the_driver_passes_in() {
    let mut lab = Lab::new();
    let token = lab.token();
    assert!(lab.join_network_with("192.0.2.1", &token).is_ok());
    // No monotonic time passed, but the wall clock says 20 minutes did (a suspended machine).
    lab.hub.set_unix_time(lab.now, UNIX_T0 + 1200);
    assert_eq!(lab.join_network_with("192.0.2.1", &token).unwrap_err().1, "stale beacon token: reload the page");
    assert!(lab.hub.beacon(ORIGIN, lab.now).token.starts_with(&format!("b1.{}.", SLOT_N + 2)));
}

#[test]
fn missing_malformed_forged_and_foreign_beacon_tokens_close_with_4012_and_say_which() {
    let alt = "http://[::1]:7800";
    let config = HubConfig { alt_origins: vec![alt.into()], ..Default::default() };
    let mut lab = Lab::with(config);
    let token = lab.token();
    let reason = |r: Result<Vec<Value>, (u16, String)>| {
        let (code, reason) = r.unwrap_err();
        assert_eq!(code, close::BEACON);
        reason
    };
    for ns in ["network", "rv:abc"] {
        let (conn, ..) = lab.peer("192.0.2.1");
        let missing = lab.outcome(conn, json!({"type": "join", "ns": ns}));
        assert_eq!(reason(missing), "beacon token missing: joining network or rv: needs one from GET /v1/beacon");
    }
    assert_eq!(reason(lab.join_network_with("192.0.2.1", "b1.x.y")), "malformed beacon token (b1.<slot>.<mac>)");
    // The first character of the MAC changed.
    let at = token.rfind('.').unwrap() + 1;
    let first = if token[at..].starts_with('A') { "B" } else { "A" };
    let forged = format!("{}{first}{}", &token[..at], &token[at + 1..]);
    assert_eq!(reason(lab.join_network_with("192.0.2.1", &forged)), "forged beacon token: its MAC does not verify");
    // A hub with another key made this one.
    let other = Hub::new(HubConfig::default(), lab.now, UNIX_T0, [8; 32]).beacon(ORIGIN, lab.now).token;
    assert_eq!(reason(lab.join_network_with("192.0.2.1", &other)), "forged beacon token: its MAC does not verify");

    // A page of another site that got hold of a real token (say through a server of its own).
    let foreign = lab.connect_page("192.0.2.1", Some("https://spam.example"));
    lab.ask(foreign, json!({"type": "hello", "v": 1}));
    let refused = lab.outcome(foreign, json!({"type": "join", "ns": "rv:abc", "beacon": token}));
    assert_eq!(reason(refused), "beacon token made for another origin");
    // A token for the hub's other origin, shown on this one.
    let for_alt = lab.hub.beacon(alt, lab.now).token;
    assert_eq!(reason(lab.join_network_with("192.0.2.1", &for_alt)), "beacon token made for another origin");
    // Not a page at all: no Origin header.
    let script = lab.connect_page("192.0.2.1", None);
    lab.ask(script, json!({"type": "hello", "v": 1}));
    let refused = lab.outcome(script, json!({"type": "join", "ns": "network", "beacon": token}));
    assert_eq!(reason(refused), "no Origin header: beacon tokens are for pages of this hub");
    assert_eq!(lab.hub.stats().closed_beacon, 8);

    // The right token on the right origin joins, and so does one on the alternative origin.
    assert_eq!(lab.join_network_with("192.0.2.1", &token).unwrap()[0]["type"], "joined");
    let page = lab.connect_page("192.0.2.1", Some(alt));
    lab.ask(page, json!({"type": "hello", "v": 1}));
    assert_eq!(
        lab.outcome(page, json!({"type": "join", "ns": "rv:abc", "beacon": for_alt})).unwrap()[0]["type"],
        "joined"
    );
}

#[test]
fn hubs_that_share_a_beacon_secret_take_each_other_s_tokens_and_rooms_and_families_need_none() {
    let secret = || Some(BeaconSecret::new(*b"a secret of at least thirty-two bytes").unwrap());
    let mut lab = Lab::with(HubConfig { beacon_secret: secret(), ..Default::default() });
    let twin = Hub::new(HubConfig { beacon_secret: secret(), ..Default::default() }, lab.now, UNIX_T0, [9; 32]);
    let token = twin.beacon(ORIGIN, lab.now).token;
    assert_eq!(lab.join_network_with("192.0.2.1", &token).unwrap()[0]["type"], "joined");
    // Drop's rooms and a family need no token (nor does a page that sends one anyway).
    let (a, ..) = lab.peer("192.0.2.2");
    let code = lab.ask(a, json!({"type": "create_room"}))[0]["code"].as_str().unwrap().to_string();
    let (b, ..) = lab.peer("192.0.2.3");
    assert_eq!(lab.ask(b, json!({"type": "join", "ns": format!("room:{code}")}))[0]["type"], "joined");
    assert_eq!(lab.ask(b, json!({"type": "join", "ns": "family:river"}))[0]["type"], "joined");
    assert_eq!(lab.ask(b, json!({"type": "join", "ns": "family:oak", "beacon": "b1.1.x"}))[0]["type"], "joined");
    // hidden and also mean nothing outside network: refused, not ignored.
    let reply = lab.ask(b, json!({"type": "join", "ns": "family:elm", "hidden": true, "rid": 3}));
    assert_eq!((error_code(&reply), &reply[0]["rid"]), ("bad_message", &json!(3)));
}

#[test]
fn nobody_in_network_is_shown_with_an_identity_and_signals_there_carry_none() {
    let mut lab = Lab::new();
    let (ann, ben) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let (a, a_peer) = lab.authed_peer("198.51.100.7", &ann, "shared");
    let (b, b_peer) = lab.authed_peer("198.51.100.7", &ben, "shared");
    assert_eq!(lab.join(a, "network")[0]["peers"], json!([]));
    lab.send_join(b, "network", json!({}));
    let mut mail = lab.mail();
    assert_eq!(mail.remove(&b).unwrap()[0]["peers"], json!([{"peer": a_peer}]), "no id, though ann proved one");
    let join_b = json!({"type": "presence", "ns": "network", "event": "join", "peer": {"peer": b_peer}});
    assert_eq!(mail.remove(&a).unwrap(), vec![join_b]);
    lab.send(a, json!({"type": "signal", "to": b_peer, "payload": {"t": "request"}}));
    assert_eq!(lab.inbox(b), vec![json!({"type": "signal", "from": a_peer, "payload": {"t": "request"}})]);
    lab.send(b, json!({"type": "signal", "to": a_peer, "payload": {"t": "accept"}}));
    assert_eq!(lab.inbox(a), vec![json!({"type": "signal", "from": b_peer, "payload": {"t": "accept"}})]);
    // By identity, a shared network namespace is no permission, nor is b's answer there: a
    // neighbour cannot test which identity sits behind its address.
    let reply = lab.ask(a, json!({"type": "signal", "to": ben.id().to_string(), "payload": {}}));
    assert_eq!(error_code(&reply), "peer_unavailable");
    // Where they also share a family, they see each other's identities as before.
    lab.ask(a, json!({"type": "join", "ns": "family:river"}));
    let joined = lab.ask(b, json!({"type": "join", "ns": "family:river"}));
    assert_eq!(joined[0]["peers"][0]["id"], json!(ann.id().to_string()));
    lab.send(a, json!({"type": "signal", "to": b_peer, "payload": {}}));
    assert_eq!(lab.inbox(b)[0]["from_id"], json!(ann.id().to_string()));
    // Leaving network says so without an identity either.
    lab.send(b, json!({"type": "leave", "ns": "network"}));
    let leave_b = json!({"type": "presence", "ns": "network", "event": "leave", "peer": {"peer": b_peer}});
    assert_eq!(lab.mail().remove(&a).unwrap(), vec![leave_b]);
}

#[test]
fn an_answer_to_a_signal_from_network_stays_anonymous_after_the_sender_left_network() {
    // A neighbour signals someone in network, leaves, and waits for the answer: it must neither
    // carry the answerer's identity nor let the neighbour test identities by signalling them.
    let mut lab = Lab::new();
    let [ben, other] = [(); 2].map(|()| Identity::generate().unwrap());
    let (n, n_peer, _) = lab.peer("198.51.100.7");
    let (b, b_peer) = lab.authed_peer("198.51.100.7", &ben, "contacts");
    lab.join(n, "network");
    lab.join(b, "network");
    lab.mail();
    lab.send(n, json!({"type": "signal", "to": b_peer, "payload": {"t": "request"}}));
    assert_eq!(lab.inbox(b), vec![json!({"type": "signal", "from": n_peer, "payload": {"t": "request"}})]);
    lab.send(n, json!({"type": "leave", "ns": "network"}));
    lab.mail();
    lab.send(b, json!({"type": "signal", "to": n_peer, "payload": {"t": "accept"}}));
    assert_eq!(lab.inbox(n), vec![json!({"type": "signal", "from": b_peer, "payload": {"t": "accept"}})]);
    // Probing: ben's identity and one that is not connected get the same refusal.
    let probe = |lab: &mut Lab, id: &Identity| {
        lab.ask(n, json!({"type": "signal", "to": id.id().to_string(), "payload": {}, "rid": 5}))
    };
    let (hit, miss) = (probe(&mut lab, &ben), probe(&mut lab, &other));
    assert_eq!(error_code(&hit), "peer_unavailable");
    assert_eq!(
        hit[0]["message"].as_str().unwrap().replace(&ben.id().to_string(), "X"),
        miss[0]["message"].as_str().unwrap().replace(&other.id().to_string(), "X")
    );
    // The neighbour's answer back is anonymous as well, and ben's second answer too.
    lab.send(n, json!({"type": "signal", "to": b_peer, "payload": {"t": "hello"}}));
    assert_eq!(lab.inbox(b)[0].get("from_id"), None);
    lab.send(b, json!({"type": "signal", "to": n_peer, "payload": {"t": "hello"}}));
    assert_eq!(lab.inbox(n)[0].get("from_id"), None);
}

#[test]
fn a_hidden_watcher_sees_everyone_and_is_seen_by_no_one_but_may_ask_to_connect() {
    let mut lab = Lab::new();
    let (a, a_peer, _) = lab.peer("198.51.100.7");
    let (w, w_peer, _) = lab.peer("198.51.100.7");
    lab.join(a, "network");
    lab.send_join(w, "network", json!({"hidden": true}));
    let mut mail = lab.mail();
    assert_eq!(ids(&mail.remove(&w).unwrap()[0]["peers"]), [a_peer.as_str()], "the watcher sees a");
    assert!(mail.is_empty(), "nobody is told about the watcher: {mail:?}");
    let (c, c_peer, _) = lab.peer("198.51.100.7");
    lab.send_join(c, "network", json!({}));
    let mut mail = lab.mail();
    assert_eq!(ids(&mail.remove(&c).unwrap()[0]["peers"]), [a_peer.as_str()], "newcomers do not see it either");
    let join_c = json!({"type": "presence", "ns": "network", "event": "join", "peer": {"peer": c_peer}});
    assert_eq!(mail.remove(&w).unwrap(), vec![join_c.clone()], "the watcher is told");
    assert_eq!(mail.remove(&a).unwrap(), vec![join_c]);
    // A connection request from the watcher, and the answer.
    lab.send(w, json!({"type": "signal", "to": a_peer, "payload": {"t": "request"}}));
    assert_eq!(lab.inbox(a)[0]["from"], json!(w_peer));
    lab.send(a, json!({"type": "signal", "to": w_peer, "payload": {"t": "decline"}}));
    assert_eq!(lab.inbox(w)[0]["payload"], json!({"t": "decline"}));
    // Switching visibility is leave + join: a join with the other visibility is refused.
    assert_eq!(error_code(&lab.join(w, "network")), "already_joined");
    lab.send(w, json!({"type": "leave", "ns": "network", "rid": 5}));
    let mut mail = lab.mail();
    assert_eq!(mail.remove(&w).unwrap(), vec![json!({"type": "left", "rid": 5, "ns": "network"})]);
    assert!(mail.is_empty(), "a hidden watcher leaves without a word: {mail:?}");
    lab.send_join(w, "network", json!({}));
    let mut mail = lab.mail();
    let join_w = json!({"type": "presence", "ns": "network", "event": "join", "peer": {"peer": w_peer}});
    assert_eq!(mail.remove(&a).unwrap(), vec![join_w.clone()], "visible now");
    assert_eq!(mail.remove(&c).unwrap(), vec![join_w]);
    // Hidden again, then gone: nothing said about either.
    lab.send(w, json!({"type": "leave", "ns": "network"}));
    lab.send_join(w, "network", json!({"hidden": true}));
    let mut mail = lab.mail();
    mail.remove(&w);
    assert_eq!(mail.len(), 2, "a and c saw w leave, and nothing more: {mail:?}");
    assert!(mail.values().all(|m| m.len() == 1 && m[0]["event"] == "leave"));
    lab.hub.disconnected(w, lab.now);
    assert!(lab.mail().is_empty(), "no leave for a hidden peer");
}

#[test]
fn a_network_proof_puts_a_dual_stack_browser_beside_neighbours_of_both_families() {
    let limits = Limits { max_namespaces_per_connection: 3, ..Limits::default() };
    let mut lab = Lab::with(HubConfig { limits, ..Default::default() });
    let (v4, v4_peer, _) = lab.peer("198.51.100.7");
    let (v6, v6_peer, _) = lab.peer("2001:db8:1:2::9");
    let (far, ..) = lab.peer("203.0.113.1");
    lab.join(v4, "network");
    lab.join(v6, "network");
    lab.join(far, "network");
    // The browser reached the hub over IPv4 and, for the proof, over IPv6 (another host in its /64).
    let (x, x_peer, _) = lab.peer("198.51.100.7");
    let proof = lab.hub.network_proof("2001:db8:1:2::77".parse().unwrap(), lab.now);
    assert!(proof.starts_with(&format!("n1.{}.2001:db8:1:2::.", UNIX_T0 + 60)), "{proof}");
    lab.send_join(x, "network", json!({"also": [proof], "rid": 1}));
    let mut mail = lab.mail();
    let joined = mail.remove(&x).unwrap();
    assert_eq!((joined[0]["type"].as_str(), joined[0]["ns"].as_str()), (Some("joined"), Some("network")));
    let mut seen = ids(&joined[0]["peers"]);
    seen.sort_unstable();
    let mut expected = [v4_peer.as_str(), v6_peer.as_str()];
    expected.sort_unstable();
    assert_eq!(seen, expected, "both neighbours, nobody from elsewhere");
    let join_x = json!({"type": "presence", "ns": "network", "event": "join", "peer": {"peer": x_peer}});
    assert_eq!(mail.remove(&v4).unwrap(), vec![join_x.clone()]);
    assert_eq!(mail.remove(&v6).unwrap(), vec![join_x], "the IPv6 neighbour sees it too");
    assert!(mail.is_empty(), "{mail:?}");
    lab.send(v6, json!({"type": "signal", "to": x_peer, "payload": {"t": "request"}}));
    assert_eq!(lab.inbox(x)[0]["from"], json!(v6_peer));
    // Another dual-stack browser is in both namespaces with x: it sees x once per namespace.
    let (y, ..) = lab.peer("198.51.100.7");
    let proof = lab.hub.network_proof("2001:db8:1:2::78".parse().unwrap(), lab.now);
    lab.send_join(y, "network", json!({"also": [proof]}));
    let joined = lab.mail().remove(&y).unwrap();
    assert_eq!(ids(&joined[0]["peers"]).iter().filter(|p| **p == x_peer).count(), 2, "clients dedupe by peer");
    // Leaving network leaves both.
    lab.send(x, json!({"type": "leave", "ns": "network", "rid": 2}));
    let mut mail = lab.mail();
    assert_eq!(mail.remove(&x).unwrap(), vec![json!({"type": "left", "rid": 2, "ns": "network"})]);
    let leave_x = json!({"type": "presence", "ns": "network", "event": "leave", "peer": {"peer": x_peer}});
    assert_eq!(mail.remove(&v6).unwrap(), vec![leave_x.clone()]);
    assert_eq!(mail.remove(&v4).unwrap(), vec![leave_x.clone()]);
    assert_eq!(mail.remove(&y).unwrap(), vec![leave_x.clone(), leave_x], "once per namespace");
}

#[test]
fn network_proofs_that_are_forged_expired_too_many_or_over_the_limit_are_refused_and_join_nothing() {
    let limits =
        Limits { max_namespaces_per_connection: 2, idle_timeout: Duration::from_secs(3600), ..Limits::default() };
    let mut lab = Lab::with(HubConfig { limits, ..Default::default() });
    let (neighbour, ..) = lab.peer("2001:db8:1:2::9");
    lab.join(neighbour, "network");
    let (x, ..) = lab.peer("198.51.100.7");
    let proof = lab.hub.network_proof("2001:db8:1:2::77".parse().unwrap(), lab.now);
    let token = lab.token();
    let join = |also: Value| json!({"type": "join", "ns": "network", "beacon": token, "also": also});
    let forged = proof.replace("2001:db8:1:2::", "2001:db8:1:3::");
    assert_eq!(error_code(&lab.ask(x, join(json!([forged])))), "bad_proof");
    let other = lab.hub.network_proof("2001:db8:9:9::1".parse().unwrap(), lab.now);
    let third = lab.hub.network_proof("2001:db8:8:8::1".parse().unwrap(), lab.now);
    assert_eq!(error_code(&lab.ask(x, join(json!([proof, other, third])))), "bad_message", "at most 2");
    assert_eq!(error_code(&lab.ask(x, join(json!([proof, other])))), "too_many_namespaces", "3 namespaces, limit 2");
    let rv = json!({"type": "join", "ns": "rv:abc", "beacon": token, "also": [proof]});
    assert_eq!(error_code(&lab.ask(x, rv)), "bad_message", "also is for network only");
    assert!(lab.inbox(neighbour).is_empty(), "nothing was joined");
    lab.advance(Duration::from_secs(61));
    let reply = lab.ask(x, join(json!([proof])));
    assert_eq!(error_code(&reply), "bad_proof");
    assert!(reply[0]["message"].as_str().unwrap().starts_with("expired network proof"));
    let fresh = lab.hub.network_proof("2001:db8:1:2::77".parse().unwrap(), lab.now);
    assert_eq!(lab.ask(x, join(json!([fresh])))[0]["type"], "joined");
}

#[test]
fn a_contacts_only_peer_takes_identity_signals_from_its_contacts_only() {
    let limits = Limits { max_message_bytes: 256 * 1024, ..Limits::default() };
    let mut lab = Lab::with(HubConfig { limits, ..Default::default() });
    let [ann, ben, cid] = [(); 3].map(|()| Identity::generate().unwrap());
    let (a, a_peer) = lab.authed_peer("192.0.2.1", &ann, "contacts");
    let (b, b_peer) = lab.authed_peer("198.51.100.2", &ben, "shared");
    let (c, _) = lab.authed_peer("203.0.113.3", &cid, "anyone");
    let (stranger, ..) = lab.peer("203.0.113.4");
    let ring = |lab: &mut Lab, from: ConnId| {
        lab.ask(from, json!({"type": "signal", "to": ann.id().to_string(), "payload": {"t": "call"}, "rid": 9}))
    };
    assert_eq!(error_code(&ring(&mut lab, b)), "peer_unavailable", "no contacts yet");
    let reply = lab.ask(a, json!({"type": "contacts", "ids": [ben.id().to_string(), ben.id().to_string()], "rid": 4}));
    assert_eq!(reply, vec![json!({"type": "contacts_set", "rid": 4, "count": 1})]);
    lab.send(b, json!({"type": "signal", "to": ann.id().to_string(), "payload": {"t": "call"}}));
    assert_eq!(
        lab.inbox(a),
        vec![json!({"type": "signal", "from": b_peer, "from_id": ben.id().to_string(), "payload": {"t": "call"}})]
    );
    let refused = ring(&mut lab, c);
    assert_eq!(error_code(&refused), "peer_unavailable");
    assert!(refused[0]["message"].as_str().unwrap().ends_with("is not connected"), "like absence: {refused:?}");
    assert_eq!(error_code(&ring(&mut lab, stranger)), "peer_unavailable", "an anonymous peer neither");
    // ann may call a node that allows anyone, and it may answer ann by identity.
    lab.send(a, json!({"type": "signal", "to": cid.id().to_string(), "payload": {"t": "call"}}));
    assert_eq!(lab.inbox(c)[0]["from"], json!(a_peer));
    lab.send(c, json!({"type": "signal", "to": ann.id().to_string(), "payload": {"t": "answer"}}));
    assert_eq!(lab.inbox(a)[0]["payload"], json!({"t": "answer"}), "an answer to ann's own signal");
    // The list is replaced, not extended; bad input is named.
    assert_eq!(lab.ask(a, json!({"type": "contacts", "ids": []}))[0]["count"], 0);
    assert_eq!(error_code(&ring(&mut lab, b)), "peer_unavailable");
    let bad = lab.ask(a, json!({"type": "contacts", "ids": [ben.id().to_string(), "nobody"]}));
    assert_eq!(error_code(&bad), "bad_message");
    assert!(bad[0]["message"].as_str().unwrap().starts_with("ids[1] "), "{bad:?}");
    let many = vec![ben.id().to_string(); 1025];
    assert_eq!(error_code(&lab.ask(a, json!({"type": "contacts", "ids": many}))), "too_many_contacts");
    assert_eq!(error_code(&lab.ask(a, json!({"type": "contacts"}))), "bad_message");
    assert_eq!(error_code(&ring(&mut lab, b)), "peer_unavailable", "a refused list changes nothing");
    let sig = B64.encode([0u8; 64]);
    let reply = lab.ask(a, json!({"type": "auth", "id": ann.id(), "sig": sig, "allow": "friends"}));
    assert_eq!(error_code(&reply), "bad_message");
}

/// When a peer's socket closes, the peers it signalled (and only they) hear at once that it is
/// gone, as it showed itself to them: a browser whose node died need not wait out its channel's
/// timeouts to try another node.
#[test]
fn the_peers_a_departed_peer_signalled_hear_that_it_is_gone_and_no_one_else() {
    let mut lab = Lab::new();
    let oak = Identity::generate().unwrap();
    let (node, node_peer) = lab.authed_peer("192.0.2.9", &oak, "anyone");
    let alice = Identity::generate().unwrap();
    let (browser, _) = lab.authed_peer("203.0.113.5", &alice, "shared");
    let (stranger, _, _) = lab.peer("203.0.113.6");
    let (bystander, _, _) = lab.peer("203.0.113.7");
    // The browser and the stranger signal the node; the node answers the browser only.
    for from in [browser, stranger] {
        lab.send(from, json!({"type": "signal", "to": oak.id().to_string(), "payload": {"kind": "offer"}}));
    }
    let browser_peer = lab.inbox(node)[0]["from"].as_str().unwrap().to_string();
    lab.send(node, json!({"type": "signal", "to": browser_peer, "payload": {"kind": "answer"}}));
    lab.outputs();

    lab.hub.disconnected(node, lab.now);
    let mail = lab.mail();
    assert_eq!(
        mail.get(&browser),
        Some(&vec![json!({"type": "peer_gone", "peer": node_peer, "id": oak.id().to_string()})])
    );
    assert_eq!(mail.get(&stranger), None, "a peer the node never answered learns nothing");
    assert_eq!(mail.get(&bystander), None);

    // A connection the hub closes tells once, though the driver reports it gone after.
    let (node, node_peer) = lab.authed_peer("192.0.2.9", &oak, "anyone");
    lab.send(browser, json!({"type": "signal", "to": oak.id().to_string(), "payload": {"kind": "offer"}}));
    lab.outputs();
    lab.send(node, json!({"type": "signal", "to": browser_peer, "payload": {"kind": "answer"}}));
    lab.outputs();
    lab.hub.slow_reader(node, lab.now); // the hub closes it
    let out = lab.outputs();
    assert!(out.iter().any(|o| matches!(o, Output::Close { conn, .. } if *conn == node)), "{out:?}");
    lab.hub.disconnected(node, lab.now);
    let gone: Vec<Value> = out
        .into_iter()
        .chain(lab.outputs())
        .filter_map(|o| match o {
            Output::Send { conn, text } if conn == browser => Some(serde_json::from_str(&text).unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(gone, vec![json!({"type": "peer_gone", "peer": node_peer, "id": oak.id().to_string()})]);
}

/// `peer_gone` names the departed peer as its signals did: a connection that signalled before it
/// logged in is not named by the identity it took afterwards (that would tie its anonymous
/// signals to an identity it never showed the node).
#[test]
fn peer_gone_names_a_peer_only_as_its_signals_did() {
    let mut lab = Lab::new();
    let oak = Identity::generate().unwrap();
    let (node, node_peer) = lab.authed_peer("192.0.2.9", &oak, "anyone");
    let (browser, browser_peer, challenge) = lab.peer("203.0.113.5");
    // Not logged in: the signal goes without `from_id`.
    lab.send(browser, json!({"type": "signal", "to": node_peer, "payload": {"kind": "offer"}}));
    let got = lab.inbox(node);
    assert_eq!(got[0]["from_id"], Value::Null, "{got:?}");
    lab.send(node, json!({"type": "signal", "to": browser_peer, "payload": {"kind": "answer"}}));
    lab.outputs();
    // Then it logs in, and leaves.
    let alice = Identity::generate().unwrap();
    let sig = login(&alice, ORIGIN, &challenge);
    let reply = lab.ask(browser, json!({"type": "auth", "id": alice.id(), "sig": sig, "allow": "shared"}));
    assert_eq!(reply[0]["type"], "authed", "{reply:?}");
    lab.hub.disconnected(browser, lab.now);
    let mail = lab.mail();
    assert_eq!(mail.get(&node), Some(&vec![json!({"type": "peer_gone", "peer": browser_peer})]));

    // A signal sent after logging in names it, and so does its departure.
    let (browser, browser_peer, challenge) = lab.peer("203.0.113.5");
    let sig = login(&alice, ORIGIN, &challenge);
    lab.ask(browser, json!({"type": "auth", "id": alice.id(), "sig": sig, "allow": "shared"}));
    lab.send(browser, json!({"type": "signal", "to": node_peer, "payload": {"kind": "offer"}}));
    lab.outputs();
    lab.hub.disconnected(browser, lab.now);
    let mail = lab.mail();
    assert_eq!(
        mail.get(&node),
        Some(&vec![json!({"type": "peer_gone", "peer": browser_peer, "id": alice.id().to_string()})])
    );
}

/// A peer that signalled only anonymously (through the shared `network` namespace) leaves
/// unheard: `network` stays anonymous.
#[test]
fn an_anonymous_signal_makes_no_notice() {
    let mut lab = Lab::new();
    let pine = Identity::generate().unwrap();
    let (node, _) = lab.authed_peer("192.0.2.9", &pine, "shared");
    let (neighbour, neighbour_peer, _) = lab.peer("192.0.2.9");
    lab.join(node, "network");
    lab.join(neighbour, "network");
    lab.outputs();
    lab.send(node, json!({"type": "signal", "to": neighbour_peer, "payload": {"hi": 1}}));
    let got = lab.inbox(neighbour);
    assert_eq!(got[0]["from_id"], Value::Null, "{got:?}");
    lab.hub.disconnected(node, lab.now);
    let mail = lab.mail().remove(&neighbour).unwrap_or_default();
    assert!(mail.iter().all(|m| m["type"] != "peer_gone"), "{mail:?}");
}
