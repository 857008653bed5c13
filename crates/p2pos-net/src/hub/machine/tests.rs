//! The machine in virtual time: no socket, no clock, no runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, SigningKey, Verifier};
use p2pos_hub_proto::native::{AnnouncedLimits, ClientRequest};
use serde_json::{Value, json};

use super::*;

const URL: &str = "ws://hub.test:8080/v1/ws";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config() -> MachineConfig {
    MachineConfig {
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        backoff_min: ms(100),
        backoff_max: ms(400),
        allow: Allow::Anyone,
    }
}

fn outputs(m: &mut HubMachine) -> Vec<Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

fn transmitted(outs: &[Output]) -> Vec<Value> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit(t) => Some(serde_json::from_str(t).unwrap()),
            _ => None,
        })
        .collect()
}

fn replies(outs: &[Output]) -> Vec<(RequestId, Result<Value, HubError>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Reply { id, result } => Some((*id, result.clone())),
            _ => None,
        })
        .collect()
}

fn welcome(limits: AnnouncedLimits) -> String {
    p2pos_hub_proto::to_text(&ServerMessage::Welcome {
        rid: None,
        v: VERSION,
        peer: "p1".into(),
        challenge: "nonce-1".into(),
        limits,
    })
}

/// A machine connected anonymously at `t0`, its outputs so far drained.
fn up(t0: Instant, limits: AnnouncedLimits) -> HubMachine {
    let mut m = HubMachine::new(config(), URL.into(), None, None, t0, 7);
    assert_eq!(outputs(&mut m), [Output::Connect]);
    m.handle_connected(t0);
    let hello = transmitted(&outputs(&mut m));
    assert_eq!(hello[0]["type"], "hello");
    m.handle_text(t0, &welcome(limits));
    assert_eq!(outputs(&mut m), [Output::Event(HubEvent::Connected)]);
    assert!(m.is_up());
    assert_eq!(m.peer_id(), Some("p1"));
    m
}

#[test]
fn the_client_reconnects_on_the_backoff_schedule_after_the_socket_closes() {
    let t0 = Instant::now();
    let mut m = up(t0, AnnouncedLimits::default());
    // A request in flight fails with the reason the connection dropped.
    let id = m.request(t0, Request::Turn);
    outputs(&mut m);
    m.handle_closed(t0 + ms(5), "closed by the hub".into());
    let outs = outputs(&mut m);
    assert_eq!(replies(&outs), [(id, Err(HubError::Disconnected("closed by the hub".into())))]);
    assert!(outs.contains(&Output::Event(HubEvent::Disconnected { reason: "closed by the hub".into() })));
    assert!(!m.is_up());
    assert_eq!(m.peer_id(), None);
    // Requests meanwhile are refused at once.
    let refused = m.request(t0 + ms(5), Request::Turn);
    assert_eq!(replies(&outputs(&mut m)), [(refused, Err(HubError::NotConnected))]);

    // Failed attempts wait 100, 200, 400, 400 ms (each with jitter in [half, all]).
    let mut now = t0 + ms(5);
    for step in [100, 200, 400, 400] {
        let wake = m.poll_timeout().unwrap();
        let wait = wake - now;
        assert!(wait >= ms(step / 2) && wait <= ms(step), "waited {wait:?} for a {step} ms step");
        // Nothing happens before it.
        m.handle_timeout(wake - ms(1));
        assert_eq!(outputs(&mut m), []);
        m.handle_timeout(wake);
        assert_eq!(outputs(&mut m), [Output::Connect]);
        now = wake + ms(3);
        m.handle_closed(now, "connect: refused".into());
        assert_eq!(outputs(&mut m), [Output::Disconnect { goodbye: false }]);
    }
    // An attempt that gets no welcome within the connect timeout fails too.
    let wake = m.poll_timeout().unwrap();
    m.handle_timeout(wake);
    assert_eq!(outputs(&mut m), [Output::Connect]);
    m.handle_connected(wake);
    outputs(&mut m);
    assert_eq!(m.poll_timeout(), Some(wake + Duration::from_secs(10)));
    m.handle_timeout(wake + Duration::from_secs(10));
    assert_eq!(outputs(&mut m), [Output::Disconnect { goodbye: false }]);
    let next = m.poll_timeout().unwrap() - (wake + Duration::from_secs(10));
    assert!(next <= ms(400));
}

#[test]
fn a_connection_that_lasted_resets_the_backoff() {
    let t0 = Instant::now();
    let mut m = up(t0, AnnouncedLimits::default());
    let t1 = t0 + Duration::from_secs(5);
    m.handle_text(t1, r#"{"type":"presence"}"#);
    m.handle_closed(t1, "gone".into());
    outputs(&mut m);
    assert!(m.poll_timeout().unwrap() - t1 <= ms(100));
}

#[test]
fn a_silent_hub_is_given_up_on() {
    let t0 = Instant::now();
    let limits = AnnouncedLimits { heartbeat_secs: 20, idle_timeout_secs: 60, ..AnnouncedLimits::default() };
    let mut m = up(t0, limits);
    // Anything heard (a ping frame too) pushes the deadline: 60 s idle + 10 s.
    m.handle_frame(t0 + Duration::from_secs(30));
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(100)));
    m.handle_timeout(t0 + Duration::from_secs(100));
    let outs = outputs(&mut m);
    assert_eq!(outs[0], Output::Disconnect { goodbye: false });
    assert_eq!(outs[1], Output::Event(HubEvent::Disconnected { reason: "nothing heard from the hub for 70 s".into() }));
}

#[test]
fn a_pending_request_times_out_and_its_late_reply_is_ignored() {
    let t0 = Instant::now();
    let mut m = up(t0, AnnouncedLimits::default());
    let id = m.request(t0, Request::Turn);
    let sent = transmitted(&outputs(&mut m));
    assert_eq!(sent, [json!({"type": "turn", "rid": 1})]);
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    m.handle_timeout(t0 + Duration::from_secs(10) - ms(1));
    assert_eq!(outputs(&mut m), []);
    m.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(replies(&outputs(&mut m)), [(id, Err(HubError::Timeout(10_000)))]);
    // The answer comes after all: no reply, no event.
    m.handle_text(t0 + Duration::from_secs(11), r#"{"type":"ice_servers","rid":1,"ttl_secs":60,"ice_servers":[]}"#);
    assert_eq!(outputs(&mut m), []);
    assert!(m.is_up());
}

#[test]
fn replies_and_errors_are_matched_to_their_requests() {
    let t0 = Instant::now();
    let mut m = up(t0, AnnouncedLimits::default());
    let turn = m.request(t0, Request::Turn);
    let room = m.request(t0, Request::Raw(json!({"type": "create_room"})));
    let join = m.request(t0, Request::Raw(json!({"type": "join", "room": "r"})));
    let sent = transmitted(&outputs(&mut m));
    assert_eq!(sent[1], json!({"type": "create_room", "rid": 2}));
    assert_eq!(sent[2], json!({"type": "join", "room": "r", "rid": 3}));
    // Answered out of order.
    m.handle_text(t0, r#"{"type":"error","rid":3,"code":"not_found","message":"no room"}"#);
    m.handle_text(t0, r#"{"type":"room","rid":2,"room":"r"}"#);
    m.handle_text(t0, r#"{"type":"ice_servers","rid":1,"ttl_secs":60,"ice_servers":[{"urls":["stun:s"]}]}"#);
    // An unsolicited message is an event.
    m.handle_text(t0, r#"{"type":"presence","peers":[]}"#);
    let outs = outputs(&mut m);
    assert_eq!(
        replies(&outs),
        [
            (join, Err(HubError::Refused { code: "not_found".into(), message: "no room".into() })),
            (room, Ok(json!({"type": "room", "rid": 2, "room": "r"}))),
            (turn, Ok(json!([{"urls": ["stun:s"]}]))),
        ]
    );
    assert_eq!(outs.last(), Some(&Output::Event(HubEvent::Message(json!({"type": "presence", "peers": []})))));
    // Nothing pending: only the silence deadline is left.
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(70)));
}

#[test]
fn a_burst_of_signals_is_paced_and_confirmed_by_one_ping() {
    let t0 = Instant::now();
    // The hub allows a burst of 20 at 10/s: we send 18 at once, then one every 1/8 s.
    let mut m = up(t0, AnnouncedLimits::default());
    let ids: Vec<RequestId> =
        (0..20).map(|i| m.request(t0, Request::Signal { to: "peer".into(), payload: json!({"n": i}) })).collect();
    // The first signal is followed by a barrier ping at once (the driver feeds requests one at
    // a time, so the first one is a burst of its own); then 16 more signals use up the tokens.
    let sent = transmitted(&outputs(&mut m));
    assert_eq!(sent.len(), 18);
    assert_eq!(sent[0]["rid"], 1);
    assert_eq!(sent[1], json!({"type": "ping", "rid": 2}));
    assert!(sent[2..].iter().all(|s| s["type"] == "signal"));
    // The other three leave one every 1/8 s.
    for (k, n) in [(1, 17), (2, 18), (3, 19)] {
        let at = t0 + ms(125 * k);
        assert_eq!(m.poll_timeout(), Some(at));
        m.handle_timeout(at - ms(1));
        assert_eq!(outputs(&mut m), []);
        m.handle_timeout(at);
        assert_eq!(
            transmitted(&outputs(&mut m)),
            [json!({"type": "signal", "rid": 18 + k, "to": "peer", "payload": {"n": n}})]
        );
    }
    // The first pong confirms the first signal; a refused one fails; the next barrier ping
    // waits for its token and its pong confirms the rest.
    m.handle_text(t0 + ms(400), r#"{"type":"pong","rid":2}"#);
    assert_eq!(replies(&outputs(&mut m)), [(ids[0], Ok(Value::Null))]);
    m.handle_text(t0 + ms(400), r#"{"type":"error","rid":5,"code":"peer_unavailable","message":"gone"}"#);
    let refused = replies(&outputs(&mut m));
    assert_eq!(refused[0].0, ids[3]);
    assert!(refused[0].1.as_ref().unwrap_err().is_peer_unavailable());
    let at = m.poll_timeout().unwrap();
    assert_eq!(at, t0 + ms(500));
    m.handle_timeout(at);
    assert_eq!(transmitted(&outputs(&mut m)), [json!({"type": "ping", "rid": 22})]);
    m.handle_text(at, r#"{"type":"pong","rid":22}"#);
    let confirmed = replies(&outputs(&mut m));
    assert_eq!(confirmed.len(), 18);
    assert!(confirmed.iter().all(|(_, r)| r == &Ok(Value::Null)));
}

#[test]
fn a_message_over_the_hub_limit_is_refused_at_once() {
    let t0 = Instant::now();
    let mut m = up(t0, AnnouncedLimits { max_message_bytes: 100, ..AnnouncedLimits::default() });
    let id = m.request(t0, Request::Signal { to: "peer".into(), payload: json!({"x": "y".repeat(200)}) });
    let outs = outputs(&mut m);
    assert!(matches!(replies(&outs)[..], [(i, Err(HubError::TooLarge { limit: 100, .. }))] if i == id));
    assert_eq!(transmitted(&outs), Vec::<Value>::new());
}

#[test]
fn a_node_key_signs_the_welcome_nonce() {
    let t0 = Instant::now();
    let key = SigningKey::from_bytes(&[9; 32]);
    let mut m = HubMachine::new(config(), URL.into(), Some(key.clone()), Some(json!({"name": "n"})), t0, 1);
    assert_eq!(outputs(&mut m), [Output::Connect]);
    m.handle_connected(t0);
    assert_eq!(transmitted(&outputs(&mut m)), [json!({"type": "hello", "v": VERSION, "profile": {"name": "n"}})]);
    m.handle_text(t0, &welcome(AnnouncedLimits::default()));
    let sent = transmitted(&outputs(&mut m));
    let text = sent[0].to_string();
    let auth: ClientRequest<'_> = serde_json::from_str(&text).unwrap();
    let ClientRequest::Auth { id, sig, allow, .. } = auth else { panic!("expected auth, got {sent:?}") };
    assert_eq!(id, NodeId::from_verifying_key(&key.verifying_key()).to_string());
    assert_eq!(allow, Some(Allow::Anyone));
    let sig = Signature::from_slice(&B64.decode(sig.as_bytes()).unwrap()).unwrap();
    let signed = auth_message(&hub_origin(URL).unwrap(), "nonce-1");
    key.verifying_key().verify(signed.as_bytes(), &sig).unwrap();
    // Not up until the hub says so.
    assert!(!m.is_up());
    let refused = m.request(t0, Request::Turn);
    assert_eq!(replies(&outputs(&mut m)), [(refused, Err(HubError::NotConnected))]);
    m.handle_text(t0, &format!(r#"{{"type":"authed","rid":0,"id":"{id}"}}"#));
    assert_eq!(outputs(&mut m), [Output::Event(HubEvent::Connected)]);
    assert!(m.is_up());
}

#[test]
fn a_refused_login_is_a_failed_attempt() {
    let t0 = Instant::now();
    let key = SigningKey::from_bytes(&[9; 32]);
    let mut m = HubMachine::new(config(), URL.into(), Some(key), None, t0, 1);
    m.handle_connected(t0);
    m.handle_text(t0, &welcome(AnnouncedLimits::default()));
    outputs(&mut m);
    m.handle_text(t0, r#"{"type":"error","rid":0,"code":"bad_signature","message":"no"}"#);
    assert_eq!(outputs(&mut m), [Output::Disconnect { goodbye: false }]);
    assert!(m.poll_timeout().unwrap() - t0 <= ms(100));
}

#[test]
fn close_fails_what_waits_and_stops() {
    let t0 = Instant::now();
    let mut m = up(t0, AnnouncedLimits::default());
    let id = m.request(t0, Request::Turn);
    outputs(&mut m);
    m.close(t0);
    let outs = outputs(&mut m);
    assert_eq!(outs, [Output::Reply { id, result: Err(HubError::Closed) }, Output::Disconnect { goodbye: true }]);
    assert!(m.is_stopped());
    assert_eq!(m.poll_timeout(), None);
    let after = m.request(t0, Request::Turn);
    assert_eq!(replies(&outputs(&mut m)), [(after, Err(HubError::Closed))]);
}

#[test]
fn pacing_stays_under_the_hub_limits() {
    let limits = Announced {
        max_message_bytes: 16384,
        rate_per_sec: 10.0,
        burst: 20.0,
        heartbeat_secs: 20,
        idle_timeout_secs: 60,
    };
    assert!(pacing_rate(&limits) < 10.0);
    assert!(pacing_burst(&limits) < 20.0);
}

#[test]
fn a_burst_is_paced_in_virtual_time() {
    let t0 = Instant::now();
    let mut pacer = Pacer::new(&Announced::default(), t0);
    // The hub allows a burst of 20 at 10/s: we take 18, then one every 1/8 s.
    let sent = (0..40).take_while(|_| pacer.take(t0)).count();
    assert_eq!(sent, 18);
    assert_eq!(pacer.next_token_in(), Some(Duration::from_millis(125)));
    assert!(!pacer.take(t0 + Duration::from_millis(100)));
    assert!(pacer.take(t0 + Duration::from_millis(125)));
    // After a quiet second, 8 more; the bucket never holds more than the burst.
    let t1 = t0 + Duration::from_millis(1125);
    assert_eq!((0..40).take_while(|_| pacer.take(t1)).count(), 8);
    let t2 = t1 + Duration::from_secs(60);
    assert_eq!((0..40).take_while(|_| pacer.take(t2)).count(), 18);
    // A hub that announces no rate is not paced.
    let mut unpaced = Pacer::new(&Announced { rate_per_sec: 0.0, ..Announced::default() }, t0);
    assert!((0..1000).all(|_| unpaced.take(t0)));
    assert_eq!(unpaced.next_token_in(), None);
}

#[test]
fn reconnection_backs_off_doubling_with_jitter_and_resets_after_a_long_connection() {
    let mut backoff = Backoff::new(ms(100), ms(400));
    // Failed attempts (short): 100, 200, 400, 400 ms at the top of the jitter range…
    let waits: Vec<Duration> = (0..4).map(|_| backoff.after_attempt(ms(10), 1.0)).collect();
    assert_eq!(waits, [ms(100), ms(200), ms(400), ms(400)]);
    // …and half that at the bottom.
    assert_eq!(backoff.after_attempt(ms(10), 0.0), ms(200));
    // A connection that lasted longer than the longest wait starts again from the shortest.
    assert_eq!(backoff.after_attempt(ms(401), 1.0), ms(100));
    assert_eq!(backoff.after_attempt(ms(10), 0.5), ms(150));
}

#[test]
fn a_person_s_key_can_take_signals_from_contacts_only() {
    let t0 = Instant::now();
    let key = SigningKey::from_bytes(&[5; 32]);
    let config = MachineConfig { allow: Allow::Contacts, ..config() };
    let mut m = HubMachine::new(config, URL.into(), Some(key), None, t0, 1);
    assert_eq!(outputs(&mut m), [Output::Connect]);
    m.handle_connected(t0);
    outputs(&mut m);
    m.handle_text(t0, &welcome(AnnouncedLimits::default()));
    let auth = &transmitted(&outputs(&mut m))[0];
    assert_eq!((auth["type"].as_str(), auth["allow"].as_str()), (Some("auth"), Some("contacts")));
}

#[test]
fn joins_with_a_beacon_and_contact_lists_are_written_as_the_protocol_says() {
    let t0 = Instant::now();
    let mut m = up(t0, AnnouncedLimits::default());
    let join = m.request(
        t0,
        Request::Join { ns: "network".into(), beacon: Some("b1.1.x".into()), also: vec!["n1.p".into()], hidden: true },
    );
    let plain = m.request(t0, Request::Join { ns: "family:f".into(), beacon: None, also: vec![], hidden: false });
    let ids = vec!["AAAAAAA-BBBBBBB".to_string()];
    let contacts = m.request(t0, Request::Contacts(ids));
    let sent = transmitted(&outputs(&mut m));
    assert_eq!(
        sent,
        [
            json!({"type": "join", "rid": 1, "ns": "network", "beacon": "b1.1.x", "also": ["n1.p"], "hidden": true}),
            json!({"type": "join", "rid": 2, "ns": "family:f"}),
            json!({"type": "contacts", "rid": 3, "ids": ["AAAAAAA-BBBBBBB"]}),
        ]
    );
    for text in &sent {
        let text = text.to_string();
        let back: ClientRequest<'_> = serde_json::from_str(&text).unwrap();
        assert!(matches!(back, ClientRequest::Join { .. } | ClientRequest::Contacts { .. }));
    }
    m.handle_text(t0, r#"{"type":"contacts_set","rid":3,"count":1}"#);
    m.handle_text(t0, r#"{"type":"joined","rid":1,"ns":"network","peers":[{"peer":"p9","profile":{"name":"a"}}]}"#);
    m.handle_text(t0, r#"{"type":"error","rid":2,"code":"bad_namespace","message":"no"}"#);
    let got = replies(&outputs(&mut m));
    assert_eq!(got[0], (contacts, Ok(json!({"type": "contacts_set", "rid": 3, "count": 1}))));
    assert_eq!(got[1].0, join);
    assert_eq!(got[1].1.as_ref().unwrap()["peers"][0]["peer"], "p9");
    assert_eq!(got[2].0, plain);
    assert_eq!(got[2].1.as_ref().unwrap_err().code(), Some("bad_namespace"));
}
