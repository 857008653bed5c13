//! Two sessions driven back to back in virtual time: signals go through a "hub" (as JSON
//! payloads, which may be tampered with), WebRTC is a pair of fake SDPs with fingerprints, and
//! a "channel" carries the frames once both descriptions were applied.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::*;
use crate::{Identity, IdentityId};

const ANN_PEER: &str = "peer-ann";
const BEN_PEER: &str = "peer-ben";
const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00Z
const RQ: &str = "AAAAAAAAAAAAAAAAAAAAAA";

fn identity(seed: u8) -> Identity {
    Identity::from_seeds([seed; 32], [seed; 32]).unwrap()
}

fn me(seed: u8, name: &str) -> Me {
    Me { identity: identity(seed), name: name.into() }
}

fn id(seed: u8) -> IdentityId {
    identity(seed).id()
}

fn sdp(n: u8) -> String {
    let fp: Vec<String> = (0..32).map(|_| format!("{n:02x}")).collect();
    format!("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 {}\r\n", fp.join(":"))
}

fn contact(seed: u8, name: &str, secret: u8) -> Contact {
    Contact { id: id(seed), name: name.into(), secret: ContactSecret::from_bytes([secret; 32]) }
}

#[derive(Default)]
struct Side {
    events: Vec<Event>,
    signals: Vec<SignalKind>,
    texts: Vec<String>,
    added: Vec<Value>,
    closed_rtc: bool,
}

/// Rewrites a text frame in transit (an attacker in the middle, or a squatter's own code).
type Tamper = Box<dyn FnMut(&str) -> Option<String>>;

struct Pair {
    now: u64,
    a: Session,
    b: Option<Session>,
    sa: Side,
    sb: Side,
    sdp_a: String,
    sdp_b: String,
    open: bool,
    /// Whether the fake WebRTC opens the channel once both descriptions are applied.
    channel_opens: bool,
    /// Applied to frames from a to b.
    tamper_a: Option<Tamper>,
    /// Applied to frames from b to a.
    tamper_b: Option<Tamper>,
    /// Frames from b are dropped.
    drop_b: bool,
    /// The hub replaces b's SDP with this one on its way to a.
    swap_answer: Option<String>,
}

impl Pair {
    fn strangers() -> Self {
        let a = Session::request(me(1, "Ann"), BEN_PEER, RQ, [0xa1; 32], Timing::default(), T0);
        Self::with(a, None)
    }

    fn contacts(ann_knows: Contact, ben_knows: Contact) -> Self {
        Self::contacts_as(me(2, "Ben"), ann_knows, ben_knows)
    }

    /// Ann calls `ann_knows` at BEN_PEER, where `callee` answers believing it is `ben_knows`'s.
    fn contacts_as(callee: Me, ann_knows: Contact, ben_knows: Contact) -> Self {
        let a = Session::call(me(1, "Ann"), BEN_PEER, RQ, ann_knows, Timing::default(), T0);
        let b = Session::called(callee, ANN_PEER, RQ, ben_knows, Timing::default(), T0);
        Self::with(a, Some(b))
    }

    fn with(a: Session, b: Option<Session>) -> Self {
        let mut pair = Self {
            now: T0,
            a,
            b,
            sa: Side::default(),
            sb: Side::default(),
            sdp_a: sdp(0xaa),
            sdp_b: sdp(0xbb),
            open: false,
            channel_opens: true,
            tamper_a: None,
            tamper_b: None,
            drop_b: false,
            swap_answer: None,
        };
        pair.pump();
        pair
    }

    fn b(&mut self) -> &mut Session {
        self.b.as_mut().expect("Ben's session exists")
    }

    /// Routes outputs until both sides are quiet.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut from_a = Vec::new();
            while let Some(o) = self.a.poll_output() {
                from_a.push(o);
            }
            let mut from_b = Vec::new();
            while let Some(o) = self.b.as_mut().and_then(Session::poll_output) {
                from_b.push(o);
            }
            if from_a.is_empty() && from_b.is_empty() {
                return;
            }
            for o in from_a {
                self.route(true, o);
            }
            for o in from_b {
                self.route(false, o);
            }
        }
        panic!("the sessions never went quiet");
    }

    fn route(&mut self, from_a: bool, output: Output) {
        let now = self.now;
        match output {
            Output::Signal { to, signal } => {
                // Through the hub: as a JSON payload.
                let payload = signal.payload();
                let signal = Signal::parse(&payload).unwrap().unwrap();
                if from_a {
                    assert_eq!(to, BEN_PEER);
                    self.sa.signals.push(signal.kind.clone());
                    match &mut self.b {
                        Some(b) => b.handle_signal(ANN_PEER, signal, now),
                        None => {
                            let SignalKind::Request { name } = &signal.kind else { panic!("first a request") };
                            let b = Session::asked(
                                me(2, "Ben"),
                                ANN_PEER,
                                &signal.rq,
                                name,
                                [0xb2; 32],
                                Timing::default(),
                                now,
                            );
                            self.b = Some(b);
                        }
                    }
                } else {
                    assert_eq!(to, ANN_PEER);
                    let mut signal = signal;
                    if let (SignalKind::Sdp { sdp }, Some(swap)) = (&mut signal.kind, &self.swap_answer) {
                        sdp.sdp = swap.clone();
                    }
                    self.sb.signals.push(signal.kind.clone());
                    self.a.handle_signal(BEN_PEER, signal, now);
                }
            }
            Output::Text(text) => {
                if from_a {
                    self.sa.texts.push(text.clone());
                    if self.open {
                        let text = match self.tamper_a.as_mut().and_then(|tamper| tamper(&text)) {
                            Some(changed) => changed,
                            None => text,
                        };
                        self.b().handle_text(&text);
                    }
                } else {
                    self.sb.texts.push(text.clone());
                    if self.drop_b || !self.open {
                        return;
                    }
                    let text = match &mut self.tamper_b {
                        Some(tamper) => match tamper(&text) {
                            Some(changed) => changed,
                            None => text,
                        },
                        None => text,
                    };
                    self.a.handle_text(&text);
                }
            }
            Output::Binary(bytes) => {
                if self.open {
                    if from_a { self.b().handle_binary(&bytes) } else { self.a.handle_binary(&bytes) }
                }
            }
            Output::Rtc(rtc) => match rtc {
                Rtc::Offer | Rtc::Answer { .. } => {
                    let candidate = json!({"candidate": if from_a { "cand-ann" } else { "cand-ben" }});
                    if from_a {
                        let sdp = self.sdp_a.clone();
                        self.a.local_description(sdp);
                        self.a.local_candidates(vec![candidate]);
                    } else {
                        let sdp = self.sdp_b.clone();
                        self.b().local_description(sdp);
                        self.b().local_candidates(vec![candidate]);
                    }
                }
                Rtc::ApplyAnswer { .. } => {
                    if self.channel_opens {
                        self.open = true;
                        self.a.channel_open(now);
                        self.b().channel_open(now);
                    }
                }
                Rtc::AddCandidates(c) => (if from_a { &mut self.sa } else { &mut self.sb }).added.extend(c),
                Rtc::Close => {
                    (if from_a { &mut self.sa } else { &mut self.sb }).closed_rtc = true;
                    if self.open {
                        if from_a {
                            self.b().channel_closed("closed".into())
                        } else {
                            self.a.channel_closed("closed".into())
                        }
                    }
                }
            },
            Output::Event(e) => (if from_a { &mut self.sa } else { &mut self.sb }).events.push(e),
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        let now = self.now;
        self.a.handle_timeout(now);
        if let Some(b) = &mut self.b {
            b.handle_timeout(now);
        }
        self.pump();
    }

    fn open_strangers() -> Self {
        let mut pair = Self::strangers();
        pair.b().accept(T0).unwrap();
        pair.pump();
        assert_eq!(pair.a.phase(), &Phase::Open);
        assert_eq!(pair.b().phase(), &Phase::Open);
        pair
    }
}

fn opened(events: &[Event]) -> Option<(IdentityId, String, Option<ContactSecret>)> {
    events.iter().find_map(|e| match e {
        Event::Open { id, name, secret } => Some((*id, name.clone(), secret.clone())),
        _ => None,
    })
}

fn is_rtc_signal(kind: &SignalKind) -> bool {
    matches!(kind, SignalKind::Sdp { .. } | SignalKind::Ice { .. })
}

#[test]
fn request_accept_proves_both_and_both_derive_one_secret() {
    let mut pair = Pair::strangers();
    assert_eq!(pair.a.phase(), &Phase::Requesting);
    assert_eq!(pair.b().phase(), &Phase::Asked);
    assert_eq!(pair.sb.events, vec![Event::Asked { name: "Ann".into() }]);
    assert_eq!(pair.sa.signals, vec![SignalKind::Request { name: "Ann".into() }]);

    pair.b().accept(T0 + 5_000).unwrap();
    pair.pump();
    assert!(pair.sa.events.contains(&Event::Accepted));
    let (ben_id, ben_name, secret_a) = opened(&pair.sa.events).expect("Ann's chat opened");
    let (ann_id, ann_name, secret_b) = opened(&pair.sb.events).expect("Ben's chat opened");
    assert_eq!((ben_id, ben_name.as_str(), ann_id, ann_name.as_str()), (id(2), "Ben", id(1), "Ann"));
    let (secret_a, secret_b) = (secret_a.expect("a new contact's secret"), secret_b.expect("and on Ben's side"));
    assert_eq!(secret_a, secret_b);
    let expected = derive_secret((&id(1), &[0xa1; 32]), (&id(2), &[0xb2; 32])).unwrap();
    assert_eq!(secret_a, expected);
    assert_eq!(pair.a.their_id(), Some(&id(2)));
    // The requester offered, each side's candidate reached the other.
    assert!(matches!(&pair.sa.signals[1], SignalKind::Sdp { sdp } if sdp.kind == SdpKind::Offer));
    assert_eq!(pair.sb.added, vec![json!({"candidate": "cand-ann"})]);
    assert_eq!(pair.sa.added, vec![json!({"candidate": "cand-ben"})]);
    // The hellos: a new contact sends `k`, not `known`; strangers sign with no id for the other.
    let hello: Value = serde_json::from_str(&pair.sa.texts[0]).unwrap();
    assert_eq!(hello["t"], "hello");
    assert!(hello.get("k").is_some() && hello.get("known").is_none());
}

#[test]
fn no_sdp_or_ice_passes_before_accept_and_a_declined_stranger_gets_nothing() {
    let mut pair = Pair::strangers();
    // Ann's driver made candidates early: nothing goes out.
    pair.a.local_candidates(vec![json!({"candidate": "early"})]);
    pair.a.local_description(sdp(0xaa));
    pair.pump();
    assert_eq!(pair.sa.signals, vec![SignalKind::Request { name: "Ann".into() }]);
    // A stranger's early sdp and ice are refused, and nothing at all is emitted.
    let early =
        Signal { rq: RQ.into(), kind: SignalKind::Sdp { sdp: Description { kind: SdpKind::Offer, sdp: sdp(0xcc) } } };
    pair.b().handle_signal(ANN_PEER, early, T0);
    pair.b().handle_signal(ANN_PEER, Signal { rq: RQ.into(), kind: SignalKind::Ice { c: vec![json!({})] } }, T0);
    assert_eq!(pair.b().poll_output(), None);
    assert_eq!(pair.b().refused_signals(), 2);
    assert_eq!(pair.b().phase(), &Phase::Asked);

    pair.b().decline().unwrap();
    pair.pump();
    assert_eq!(pair.a.phase(), &Phase::Declined);
    assert!(pair.sa.events.contains(&Event::Declined));
    // Neither side sent an address or asked WebRTC for anything.
    assert!(!pair.sa.signals.iter().chain(&pair.sb.signals).any(is_rtc_signal));
    assert_eq!(pair.sb.signals, vec![SignalKind::Decline {}]);
    assert!(pair.sa.texts.is_empty() && pair.sb.texts.is_empty());
    // Ben's side cannot be made to connect afterwards.
    assert!(pair.b().accept(T0).is_err());
}

#[test]
fn the_requester_refuses_an_early_answer_too() {
    let mut pair = Pair::strangers();
    let early =
        Signal { rq: RQ.into(), kind: SignalKind::Sdp { sdp: Description { kind: SdpKind::Answer, sdp: sdp(0xcc) } } };
    pair.a.handle_signal(BEN_PEER, early, T0);
    assert_eq!(pair.a.poll_output(), None);
    assert_eq!(pair.a.refused_signals(), 1);
}

#[test]
fn signals_of_another_peer_or_request_are_ignored() {
    let mut pair = Pair::strangers();
    pair.a.handle_signal("peer-mallory", Signal { rq: RQ.into(), kind: SignalKind::Accept {} }, T0);
    pair.a.handle_signal(BEN_PEER, Signal { rq: "BBBBBBBBBBBBBBBBBBBBBB".into(), kind: SignalKind::Accept {} }, T0);
    assert_eq!(pair.a.poll_output(), None);
    assert_eq!(pair.a.phase(), &Phase::Requesting);
}

#[test]
fn cancel_before_an_answer_reaches_the_asked_side() {
    let mut pair = Pair::strangers();
    pair.a.cancel();
    pair.pump();
    assert_eq!(pair.a.phase(), &Phase::Closed(CloseReason::Cancelled));
    assert_eq!(pair.b().phase(), &Phase::Closed(CloseReason::PeerCancelled));
    assert!(pair.sb.events.contains(&Event::Closed(CloseReason::PeerCancelled)));
}

#[test]
fn contacts_call_and_prove_the_secret_they_share() {
    let mut pair = Pair::contacts(contact(2, "Ben", 9), contact(1, "Ann", 9));
    let (ben, _, secret) = opened(&pair.sa.events).expect("Ann's chat opened");
    assert_eq!((ben, secret), (id(2), None));
    assert!(opened(&pair.sb.events).is_some());
    assert_eq!(pair.sa.signals[0], SignalKind::Call {});
    let hello: Value = serde_json::from_str(&pair.sb.texts[0]).unwrap();
    assert!(hello.get("known").is_some() && hello.get("k").is_none());
    assert_eq!(pair.b().phase(), &Phase::Open);
}

#[test]
fn a_wrong_known_proof_is_a_squatter() {
    // Both claim the right ids but hold different secrets: neither proves the one shared.
    let pair = Pair::contacts(contact(2, "Ben", 9), contact(1, "Ann", 8));
    assert_eq!(pair.a.phase(), &Phase::Squatter(SquatterReason::BadKnownProof));
    assert!(pair.sa.events.contains(&Event::Squatter { claimed: Some(id(2)), reason: SquatterReason::BadKnownProof }));
    assert!(pair.sa.closed_rtc);
    assert!(opened(&pair.sa.events).is_none());
}

#[test]
fn another_identity_than_the_contact_is_a_squatter() {
    // Mallory sits at Ben's address with her own key, and answers as herself.
    let mut pair = Pair::contacts_as(me(3, "Mallory"), contact(2, "Ben", 9), contact(1, "Ann", 9));
    let reason = SquatterReason::WrongIdentity { expected: id(2), claimed: id(3) };
    assert_eq!(pair.a.phase(), &Phase::Squatter(reason));
    assert!(opened(&pair.sa.events).is_none());
    assert!(pair.b().phase().is_final());
}

#[test]
fn claiming_the_contacts_id_without_its_key_is_a_squatter() {
    // Mallory's hello claims Ben's id; she cannot sign for it.
    let pair = {
        let a = Session::call(me(1, "Ann"), BEN_PEER, RQ, contact(2, "Ben", 9), Timing::default(), T0);
        let b = Session::called(me(3, "Mallory"), ANN_PEER, RQ, contact(1, "Ann", 9), Timing::default(), T0);
        let mut pair = Pair {
            now: T0,
            a,
            b: Some(b),
            sa: Side::default(),
            sb: Side::default(),
            sdp_a: sdp(0xaa),
            sdp_b: sdp(0xbb),
            open: false,
            channel_opens: true,
            tamper_a: None,
            tamper_b: None,
            drop_b: false,
            swap_answer: None,
        };
        let ben = id(2).to_string();
        pair.tamper_b = Some(Box::new(move |text| {
            let mut v: Value = serde_json::from_str(text).ok()?;
            (v["t"] == "hello").then(|| {
                v["id"] = Value::from(ben.clone());
                v.to_string()
            })
        }));
        pair.pump();
        pair
    };
    assert_eq!(pair.a.phase(), &Phase::Squatter(SquatterReason::BadSignature));
    assert!(pair.sa.events.contains(&Event::Squatter { claimed: Some(id(2)), reason: SquatterReason::BadSignature }));
}

/// A call recognised only by a nearby tag (`called_by_tag`) from `caller`, who believes it calls
/// `caller_knows`; Ann answers, believing the caller is her contact Ben.
fn tag_call(caller: Me, caller_knows: Contact, tamper: Option<Tamper>) -> Pair {
    // (The harness names a's hub peer `ANN_PEER` and b's `BEN_PEER`, whoever they are.)
    let a = Session::call(caller, BEN_PEER, RQ, caller_knows, Timing::default(), T0);
    let b = Session::called_by_tag(me(1, "Ann"), ANN_PEER, RQ, contact(2, "Ben", 9), Timing::default(), T0);
    let mut pair = Pair {
        now: T0,
        a,
        b: Some(b),
        sa: Side::default(),
        sb: Side::default(),
        sdp_a: sdp(0xaa),
        sdp_b: sdp(0xbb),
        open: false,
        channel_opens: true,
        tamper_a: tamper,
        tamper_b: None,
        drop_b: false,
        swap_answer: None,
    };
    pair.pump();
    pair
}

#[test]
fn a_call_known_only_by_its_tag_gets_a_hello_only_after_the_caller_proved_itself() {
    // The real Ben: both open, Ann's hello went out after Ben's verified.
    let mut pair = tag_call(me(2, "Ben"), contact(1, "Ann", 9), None);
    assert_eq!(pair.b().phase(), &Phase::Open);
    assert_eq!(pair.a.phase(), &Phase::Open);
    assert_eq!(pair.sb.texts.len(), 1, "Ann sent her hello, once");
    // Mallory replays Ben's tag and answers as herself: Ann sends nothing and flags her.
    let mut pair = tag_call(me(3, "Mallory"), contact(1, "Ann", 7), None);
    let reason = SquatterReason::WrongIdentity { expected: id(2), claimed: id(3) };
    assert_eq!(pair.b().phase(), &Phase::Squatter(reason));
    assert!(pair.sb.texts.is_empty(), "no hello, so no identity and no signature, went to Mallory");
    // Mallory claims Ben's id without his key: the same.
    let ben = id(2).to_string();
    let claim_ben: Tamper = Box::new(move |text| {
        let mut v: Value = serde_json::from_str(text).ok()?;
        (v["t"] == "hello").then(|| {
            v["id"] = Value::from(ben.clone());
            v.to_string()
        })
    });
    let mut pair = tag_call(me(3, "Mallory"), contact(1, "Ann", 7), Some(claim_ben));
    assert_eq!(pair.b().phase(), &Phase::Squatter(SquatterReason::BadSignature));
    assert!(pair.sb.texts.is_empty());
}

#[test]
fn a_signature_for_another_channel_does_not_verify() {
    // A hub in the middle replaces Ben's answer with its own: Ann's channel has another
    // certificate than the one Ben signed for.
    let mut pair = Pair::strangers();
    pair.swap_answer = Some(sdp(0xee));
    pair.b().accept(T0).unwrap();
    pair.pump();
    assert_eq!(pair.a.phase(), &Phase::Squatter(SquatterReason::BadSignature));
    assert!(opened(&pair.sa.events).is_none());
}

#[test]
fn the_request_times_out_after_60_s() {
    let mut pair = Pair::strangers();
    assert_eq!(pair.a.poll_timeout(), Some(T0 + 60_000));
    pair.advance(59_999);
    assert_eq!(pair.a.phase(), &Phase::Requesting);
    pair.advance(1);
    let timeout = CloseReason::Timeout { phase: "requesting" };
    assert_eq!(pair.a.phase(), &Phase::Closed(timeout.clone()));
    assert!(pair.sa.events.contains(&Event::Closed(timeout)));
    // Ann tells Ben (whose prompt would go away), who timed out at the same time anyway.
    assert_eq!(pair.sa.signals.last(), Some(&SignalKind::Cancel {}));
    assert_eq!(pair.b().phase(), &Phase::Closed(CloseReason::Timeout { phase: "asked" }));
}

#[test]
fn connecting_times_out_after_30_s_and_proving_after_10_s() {
    let mut pair = Pair::strangers();
    pair.channel_opens = false;
    pair.b().accept(T0).unwrap();
    pair.pump();
    assert_eq!(pair.a.phase(), &Phase::Connecting);
    assert_eq!(pair.a.poll_timeout(), Some(T0 + 30_000));
    pair.advance(30_000);
    assert_eq!(pair.a.phase(), &Phase::Closed(CloseReason::Timeout { phase: "connecting" }));
    assert!(pair.sa.closed_rtc);

    let mut pair = Pair::strangers();
    pair.drop_b = true;
    pair.b().accept(T0).unwrap();
    pair.pump();
    assert_eq!(pair.a.phase(), &Phase::Proving);
    assert_eq!(pair.a.poll_timeout(), Some(T0 + 10_000));
    pair.advance(9_999);
    assert_eq!(pair.a.phase(), &Phase::Proving);
    pair.advance(1);
    assert_eq!(pair.a.phase(), &Phase::Closed(CloseReason::Timeout { phase: "proving" }));
}

#[test]
fn frames_before_the_hello_are_refused() {
    for frame in [r#"{"t":"msg","id":"AAAAAAAAAAAAAAAAAAAAAA","at":1,"text":"hi"}"#, r#"{"t":"zap"}"#] {
        let mut pair = Pair::strangers();
        pair.drop_b = true;
        pair.b().accept(T0).unwrap();
        pair.pump();
        assert_eq!(pair.a.phase(), &Phase::Proving);
        pair.a.handle_text(frame);
        assert_eq!(pair.a.phase(), &Phase::Closed(CloseReason::Violation(Violation::FrameBeforeHello)), "{frame}");
    }
    let mut pair = Pair::strangers();
    pair.drop_b = true;
    pair.b().accept(T0).unwrap();
    pair.pump();
    pair.a.handle_binary(&[FRAME_CHUNK, 1, 2, 3]);
    assert_eq!(pair.a.phase(), &Phase::Closed(CloseReason::Violation(Violation::FrameBeforeHello)));
}

#[test]
fn unknown_types_after_the_hello_are_ignored_and_malformed_frames_end_the_chat() {
    let mut pair = Pair::open_strangers();
    let before = pair.sa.events.len();
    pair.a.handle_text(r#"{"t":"reaction","id":"AAAAAAAAAAAAAAAAAAAAAA","emoji":"+1"}"#);
    pair.pump();
    assert_eq!(pair.a.phase(), &Phase::Open);
    assert_eq!(pair.sa.events.len(), before);
    // A known type with an unknown field is malformed.
    pair.a.handle_text(r#"{"t":"typing","x":1}"#);
    assert!(
        matches!(pair.a.phase(), Phase::Closed(CloseReason::Violation(Violation::Malformed(e))) if e.kind() == "fields")
    );
}

#[test]
fn a_second_hello_is_a_violation() {
    let mut pair = Pair::open_strangers();
    let hello = pair.sb.texts[0].clone();
    pair.a.handle_text(&hello);
    assert_eq!(pair.a.phase(), &Phase::Closed(CloseReason::Violation(Violation::DuplicateHello)));
}

#[test]
fn messages_are_deduped_by_id_and_acknowledged() {
    let mut pair = Pair::open_strangers();
    let msg_id = "MDEyMzQ1Njc4OWFiY2RlZg";
    pair.a.send_text(msg_id, "Hello Ben", None, T0 + 1_000).unwrap();
    pair.pump();
    let sent = pair.sa.texts.last().unwrap().clone();
    assert_eq!(sent, format!(r#"{{"t":"msg","id":"{msg_id}","at":{},"text":"Hello Ben"}}"#, T0 + 1_000));
    // The same frame again (a resend after a lost receipt).
    pair.b().handle_text(&sent);
    pair.pump();
    let messages: Vec<_> = pair.sb.events.iter().filter(|e| matches!(e, Event::Message { .. })).collect();
    assert_eq!(
        messages,
        vec![&Event::Message { id: msg_id.into(), at: T0 + 1_000, text: "Hello Ben".into(), re: None }]
    );
    let delivered = Event::Receipt { id: msg_id.into(), kind: AckKind::Delivered };
    assert_eq!(pair.sa.events.iter().filter(|e| **e == delivered).count(), 2, "each copy is acknowledged");
    // Read receipt, and a reply.
    pair.b().mark_read(msg_id).unwrap();
    pair.b().send_text("cmVwbHlyZXBseXJlcGx5IQ", "Hi Ann", Some(msg_id), T0 + 2_000).unwrap();
    pair.pump();
    assert!(pair.sa.events.contains(&Event::Receipt { id: msg_id.into(), kind: AckKind::Read }));
    assert!(pair.sa.events.contains(&Event::Message {
        id: "cmVwbHlyZXBseXJlcGx5IQ".into(),
        at: T0 + 2_000,
        text: "Hi Ann".into(),
        re: Some(msg_id.into())
    }));
    // A receipt for something Ann never sent is ignored.
    let count = pair.sa.events.len();
    pair.a.handle_text(r#"{"t":"ack","id":"ZZZZZZZZZZZZZZZZZZZZZQ","k":"read"}"#);
    assert_eq!(pair.a.phase(), &Phase::Open);
    pair.pump();
    assert_eq!(pair.sa.events.len(), count);
}

#[test]
fn bad_messages_are_refused_before_they_leave() {
    let mut pair = Pair::open_strangers();
    let long = "x".repeat(MAX_TEXT + 1);
    assert!(matches!(pair.a.send_text("MDEyMzQ1Njc4OWFiY2RlZg", &long, None, T0), Err(ChatError::Invalid(_))));
    assert!(matches!(pair.a.send_text("short", "hi", None, T0), Err(ChatError::Invalid(_))));
    assert!(pair.a.send_text("MDEyMzQ1Njc4OWFiY2RlZg", &"é".repeat(MAX_TEXT), None, T0).is_ok());
    let mut fresh = Pair::strangers();
    assert!(matches!(fresh.a.send_text("MDEyMzQ1Njc4OWFiY2RlZg", "hi", None, T0), Err(ChatError::State { .. })));
}

#[test]
fn images_arrive_whole_with_a_receipt() {
    let mut pair = Pair::open_strangers();
    let bytes: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let img_id = "aW1hZ2VpbWFnZWltYWdlIQ";
    pair.a.send_image(img_id, "cat.png", "image/png", &bytes, None, T0 + 3_000).unwrap();
    pair.pump();
    let got = pair.sb.events.iter().find_map(|e| match e {
        Event::Image { img, bytes } => Some((img.clone(), bytes.clone())),
        _ => None,
    });
    let (img, got) = got.expect("Ben got the image");
    assert_eq!((img.name.as_str(), img.size, got.len()), ("cat.png", 150_000, 150_000));
    assert_eq!(got, bytes);
    assert!(pair.sa.events.contains(&Event::Receipt { id: img_id.into(), kind: AckKind::Delivered }));
}

#[test]
fn an_image_longer_than_announced_is_a_violation() {
    let mut pair = Pair::open_strangers();
    pair.a
        .handle_text(r#"{"t":"img","id":"aW1hZ2VpbWFnZWltYWdlIQ","at":1,"name":"a.png","type":"image/png","size":2}"#);
    pair.a.handle_binary(&[FRAME_CHUNK, 1, 2, 3]);
    assert_eq!(pair.a.phase(), &Phase::Closed(CloseReason::Violation(Violation::ImageTooBig)));
    let mut pair = Pair::open_strangers();
    pair.a.handle_binary(&[FRAME_END]);
    assert_eq!(pair.a.phase(), &Phase::Closed(CloseReason::Violation(Violation::UnexpectedBinary)));
}

#[test]
fn bye_closes_both_sides() {
    let mut pair = Pair::open_strangers();
    pair.a.typing().unwrap();
    pair.a.leave();
    pair.pump();
    assert!(pair.sb.events.contains(&Event::Typing));
    assert_eq!(pair.a.phase(), &Phase::Closed(CloseReason::Left));
    assert_eq!(pair.b().phase(), &Phase::Closed(CloseReason::PeerLeft));
}

#[test]
fn signals_travel_as_tagged_strict_json() {
    let signal = Signal { rq: RQ.into(), kind: SignalKind::Request { name: "Ann".into() } };
    assert_eq!(signal.payload(), json!({"p2pos": "chat", "t": "request", "name": "Ann", "rq": RQ}));
    assert_eq!(Signal::parse(&json!({"p2pos": "drop", "kind": "hello"})), Ok(None));
    let kind = |v: Value| Signal::parse(&v).unwrap_err().kind();
    assert_eq!(kind(json!({"p2pos": "chat", "t": "accept", "rq": RQ, "id": "who"})), "fields");
    assert_eq!(kind(json!({"p2pos": "chat", "t": "accept"})), "fields");
    assert_eq!(kind(json!({"p2pos": "chat", "t": "accept", "rq": "short"})), "value");
    assert_eq!(kind(json!({"p2pos": "chat", "t": "request", "rq": RQ, "name": " Ann"})), "value");
    assert_eq!(kind(json!({"p2pos": "chat", "t": "hello", "rq": RQ})), "value");
    assert_eq!(kind(json!({"p2pos": "chat", "rq": RQ})), "type");
    assert_eq!(kind(json!(["p2pos"])), "json");
}

#[test]
fn rendezvous_names_cover_the_neighbouring_slots_and_roll_over_at_the_boundary() {
    let secret = ContactSecret::from_bytes([5; 32]);
    let slot = slot_of(T0);
    let boundary = (slot + 1) * SLOT_MS;
    let before = boundary - 1;
    let mut rv = Rendezvous::new(secret.clone(), before, before);
    assert_eq!(rv.state(), RvState::Reconnecting);
    let joins: Vec<_> = std::iter::from_fn(|| rv.poll_output()).collect();
    assert_eq!(
        joins,
        vec![
            RvOutput::Join(rv_name(&secret, slot)),
            RvOutput::Join(rv_name(&secret, slot - 1)),
            RvOutput::Join(rv_name(&secret, slot + 1)),
        ]
    );
    assert_eq!(rv.poll_timeout(before), Some(boundary));
    rv.handle_timeout(boundary);
    let rolled: Vec<_> = std::iter::from_fn(|| rv.poll_output()).collect();
    assert_eq!(rolled, vec![RvOutput::Leave(rv_name(&secret, slot - 1)), RvOutput::Join(rv_name(&secret, slot + 2))]);
    // Two clocks a minute apart on either side of the boundary still share names.
    let mine = rv_names_at(&secret, boundary - 30_000);
    let theirs = rv_names_at(&secret, boundary + 30_000);
    assert_eq!(mine[0], theirs[1]);
    assert_eq!(mine[2], theirs[0]);
}

#[test]
fn rendezvous_states_follow_connections_squatters_and_address_changes() {
    let secret = ContactSecret::from_bytes([5; 32]);
    let mut rv = Rendezvous::new(secret, T0, T0);
    std::iter::from_fn(|| rv.poll_output()).for_each(drop);
    rv.connected(T0 + 1);
    let out: Vec<_> = std::iter::from_fn(|| rv.poll_output()).collect();
    assert_eq!(out[0], RvOutput::Event(RvEvent::State(RvState::Connected)));
    assert_eq!(out.iter().filter(|o| matches!(o, RvOutput::Leave(_))).count(), 3);
    assert!(rv.joined().is_empty());

    rv.address_changed(T0 + 2);
    let out: Vec<_> = std::iter::from_fn(|| rv.poll_output()).collect();
    assert_eq!(out, vec![RvOutput::Announce, RvOutput::Event(RvEvent::State(RvState::Announcing))]);
    assert_eq!(rv.poll_timeout(T0 + 2), Some(T0 + 2 + ANNOUNCE_MS));
    rv.handle_timeout(T0 + 2 + ANNOUNCE_MS);
    assert_eq!(rv.state(), RvState::Reconnecting);
    assert_eq!(rv.joined().len(), 3);
    std::iter::from_fn(|| rv.poll_output()).for_each(drop);

    rv.squatter_seen("peer-mallory", T0 + 40_000);
    let out: Vec<_> = std::iter::from_fn(|| rv.poll_output()).collect();
    assert_eq!(
        out,
        vec![RvOutput::Blacklist("peer-mallory".into()), RvOutput::Event(RvEvent::State(RvState::Recovering))]
    );
    assert!(rv.is_blacklisted("peer-mallory"));
    assert_eq!(rv.joined().len(), 3, "still in the rendezvous names");

    // Unseen for 30 days: one prompt.
    let last = T0 + 50_000;
    rv.connected(last);
    rv.connection_lost(last);
    std::iter::from_fn(|| rv.poll_output()).for_each(drop);
    rv.handle_timeout(last + PAUSE_AFTER_MS - 1);
    assert!(!std::iter::from_fn(|| rv.poll_output()).any(|o| o == RvOutput::Event(RvEvent::PausePrompt)));
    rv.handle_timeout(last + PAUSE_AFTER_MS);
    assert!(std::iter::from_fn(|| rv.poll_output()).any(|o| o == RvOutput::Event(RvEvent::PausePrompt)));
    rv.handle_timeout(last + PAUSE_AFTER_MS + 1);
    assert!(!std::iter::from_fn(|| rv.poll_output()).any(|o| o == RvOutput::Event(RvEvent::PausePrompt)));
}

#[test]
fn nearby_tags_are_32_and_contain_each_contacts_tag() {
    let secrets: Vec<_> = (0..3u8).map(|i| ContactSecret::from_bytes([i; 32])).collect();
    let s = "c2Vzc2lvbm5vbmNlMTIzNA";
    let tags = nearby_tags(&secrets, s).unwrap();
    assert_eq!(tags.len(), NEARBY_TAGS);
    for secret in &secrets {
        assert!(tags.contains(&nearby_tag(secret, s)));
    }
    assert!(tags.iter().all(|t| t.len() == 8 && t.bytes().all(|c| c.is_ascii_hexdigit())));
    assert_ne!(nearby_tag(&secrets[0], s), nearby_tag(&secrets[0], "b3RoZXJzZXNzaW9ubm9uY2U"));
}

#[test]
fn an_image_chunk_frame_fits_in_the_sctp_default_of_64_kib() {
    // A peer that announces no `max-message-size` takes 64 KiB messages (RFC 8841).
    let full = [&[FRAME_CHUNK][..], &[7; MAX_CHUNK]].concat();
    assert_eq!(full.len(), 64 * 1024);
    assert_eq!(parse_binary(&full).unwrap(), Binary::Chunk(vec![7; MAX_CHUNK]));
    let over = [&full[..], &[7]].concat();
    assert!(matches!(parse_binary(&over), Err(WireError::Binary(_))));
    let mut pair = Pair::open_strangers();
    let bytes = vec![1; MAX_CHUNK * 2 + 1];
    pair.a.send_image("aW1hZ2VpbWFnZWltYWdlIQ", "a.png", "image/png", &bytes, None, T0).unwrap();
    let sizes: Vec<usize> = std::iter::from_fn(|| pair.a.poll_output())
        .filter_map(|o| if let Output::Binary(frame) = o { Some(frame.len()) } else { None })
        .collect();
    assert_eq!(sizes, [64 * 1024, 64 * 1024, 2, 1], "two full chunks, the last byte, the end");
}
