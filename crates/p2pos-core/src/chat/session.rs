//! One conversation's state machine (`docs/PROTOCOL.md`, "Chat", session): the request and its
//! answer, WebRTC set-up through signals, the identity proof over the channel, then messages,
//! images and receipts. See the module doc of [`super`] for how a driver runs it.
//!
//! The rules that protect people live here, so every driver gets them: before `accept` (or for a
//! `call`) no `sdp`/`ice` is sent or processed; nothing but a verified `hello` opens the chat; a
//! peer that fails the proof, or proves another identity than the contact the session was for,
//! is a squatter.

use std::collections::{HashSet, VecDeque};

use serde_json::Value;

use super::ChatError;
use super::crypto::{
    ContactSecret, binding, decode_fixed, derive_secret, known_proof, sdp_fingerprint, sign_binding, verify_binding,
    verify_known,
};
use super::wire::{
    Ack, AckKind, Binary, Description, Empty, Frame, Hello, Img, MAX_CHUNK, Msg, Parsed, SdpKind, Signal, SignalKind,
    VERSION, WireError, parse_binary, parse_frame,
};
use crate::{Identity, IdentityId};

/// Candidates kept while the remote description is not applied yet.
const MAX_BUFFERED_CANDIDATES: usize = 256;
/// Message ids remembered for dedupe.
const MAX_SEEN: usize = 10_000;

/// This side: its identity (signing key) and the name it shows.
#[derive(Debug, Clone)]
pub struct Me {
    pub identity: Identity,
    pub name: String,
}

/// A saved contact, as the session needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: IdentityId,
    pub name: String,
    pub secret: ContactSecret,
}

/// The timers of a session, in ms. [`Timing::default`] is the protocol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A request unanswered (or a prompt not acted on) this long ends. Default 60 s.
    pub request_ms: u64,
    /// The channel must open this long after accept/call. Default 30 s.
    pub connecting_ms: u64,
    /// The other `hello` must verify this long after the channel opened. Default 10 s.
    pub proving_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self { request_ms: 60_000, connecting_ms: 30_000, proving_ms: 10_000 }
    }
}

/// Where a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// This side sent a request and waits for the answer.
    Requesting,
    /// A request arrived; the person decides.
    Asked,
    /// The request was declined (by either side).
    Declined,
    /// Accepted or called: WebRTC is being set up (sdp and ice allowed).
    Connecting,
    /// The channel is open and this side's hello sent; the other's is awaited.
    Proving,
    /// The other hello verified: the chat is open.
    Open,
    Closed(CloseReason),
    /// The peer failed the proof or proved another identity than expected: refused.
    Squatter(SquatterReason),
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Requesting => "requesting",
            Phase::Asked => "asked",
            Phase::Declined => "declined",
            Phase::Connecting => "connecting",
            Phase::Proving => "proving",
            Phase::Open => "open",
            Phase::Closed(_) => "closed",
            Phase::Squatter(_) => "squatter",
        }
    }

    /// Declined, closed or squatter: nothing more happens.
    pub fn is_final(&self) -> bool {
        matches!(self, Phase::Declined | Phase::Closed(_) | Phase::Squatter(_))
    }
}

/// Why a session closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// This side cancelled the request or the connection.
    Cancelled,
    /// The other side cancelled.
    PeerCancelled,
    /// This side said `bye`.
    Left,
    /// The other side said `bye`.
    PeerLeft,
    /// Nothing happened in time, in the phase named.
    Timeout { phase: &'static str },
    /// The data channel closed.
    ChannelClosed { reason: String },
    /// The other side broke the protocol.
    Violation(Violation),
}

/// How the other side broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    #[error("a frame before the hello was verified")]
    FrameBeforeHello,
    #[error("a second hello")]
    DuplicateHello,
    #[error(transparent)]
    Malformed(#[from] WireError),
    #[error("unusable session description: {0}")]
    Description(String),
    #[error("the channel opened before both descriptions were known")]
    ChannelBeforeDescriptions,
    #[error("a new contact's hello carries no key (\"k\")")]
    NoKey,
    #[error("the other side has this side's identity")]
    SameIdentity,
    #[error("image bytes without an announced image")]
    UnexpectedBinary,
    #[error("an image was announced while another was still coming")]
    ImageInterrupted,
    #[error("more image bytes than announced")]
    ImageTooBig,
    #[error("an image ended with {got} of {size} bytes")]
    ImageIncomplete { got: u64, size: u64 },
}

/// Why a peer is a squatter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SquatterReason {
    /// Its hello's signature does not verify for the id it claims and this channel.
    BadSignature,
    /// It proved an identity, but not the contact's the session was for.
    WrongIdentity { expected: IdentityId, claimed: IdentityId },
    /// It claims the contact's identity but did not prove the shared secret (`known`).
    BadKnownProof,
}

/// What the person hears about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A stranger asks to connect (Accept / Decline).
    Asked {
        name: String,
    },
    /// The other side accepted this side's request.
    Accepted,
    /// The request was declined.
    Declined,
    /// The proof succeeded: the chat is open with `id`. `secret` is `Some` for a new contact (the
    /// driver saves it), `None` for a contact that proved the secret it already shares.
    Open {
        id: IdentityId,
        name: String,
        secret: Option<ContactSecret>,
    },
    Message {
        id: String,
        at: u64,
        text: String,
        re: Option<String>,
    },
    Image {
        img: Img,
        bytes: Vec<u8>,
    },
    Receipt {
        id: String,
        kind: AckKind,
    },
    Typing,
    Squatter {
        claimed: Option<IdentityId>,
        reason: SquatterReason,
    },
    Closed(CloseReason),
}

/// WebRTC work only the driver can do.
#[derive(Debug, Clone, PartialEq)]
pub enum Rtc {
    /// Create the peer connection with the `p2pos/chat` channel and make an offer; hand its SDP
    /// to `local_description`.
    Offer,
    /// Create the peer connection and answer this offer; hand the answer to `local_description`.
    Answer {
        offer: String,
    },
    ApplyAnswer {
        answer: String,
    },
    AddCandidates(Vec<Value>),
    /// Close the peer connection.
    Close,
}

/// What the session asks its driver to do, from `poll_output`.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Signal {
        to: String,
        signal: Signal,
    },
    /// A text frame for the data channel.
    Text(String),
    /// A binary frame for the data channel.
    Binary(Vec<u8>),
    Rtc(Rtc),
    Event(Event),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Requester,
    Asked,
    Caller,
    Called,
}

impl Role {
    fn offers(self) -> bool {
        matches!(self, Role::Requester | Role::Caller)
    }
}

#[derive(Debug)]
struct Incoming {
    img: Img,
    bytes: Vec<u8>,
    duplicate: bool,
}

/// One conversation. See [`super`] for how a driver runs it.
pub struct Session {
    me: Me,
    role: Role,
    /// The other side's hub peer id.
    peer: String,
    rq: String,
    /// The contact this session is for (`call`/`called`); `None` for a stranger.
    contact: Option<Contact>,
    /// This side's `k` for a new contact.
    k: [u8; 32],
    timing: Timing,
    phase: Phase,
    deadline: Option<u64>,
    my_fp: Option<String>,
    their_fp: Option<String>,
    remote_set: bool,
    buffered: Vec<Value>,
    their_id: Option<IdentityId>,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
    sent: HashSet<String>,
    incoming: Option<Incoming>,
    refused_signals: usize,
    /// This side's hello waits until the other side's verified: a call the hub did not prove
    /// ([`Session::called_by_tag`]), so an impostor learns nothing of this side.
    hello_after_theirs: bool,
    outputs: VecDeque<Output>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("peer", &self.peer)
            .field("phase", &self.phase)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Session {
    fn new(me: Me, role: Role, peer: &str, rq: &str, contact: Option<Contact>, k: [u8; 32], timing: Timing) -> Self {
        Self {
            me,
            role,
            peer: peer.to_string(),
            rq: rq.to_string(),
            contact,
            k,
            timing,
            phase: Phase::Requesting,
            deadline: None,
            my_fp: None,
            their_fp: None,
            remote_set: false,
            buffered: Vec::new(),
            their_id: None,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            sent: HashSet::new(),
            incoming: None,
            refused_signals: 0,
            hello_after_theirs: false,
            outputs: VecDeque::new(),
        }
    }

    /// Ask nearby stranger `peer` (hub peer id) to connect; `rq` and `k` are fresh random values
    /// ([`super::random_b64u16`], [`super::random_bytes`]).
    pub fn request(me: Me, peer: &str, rq: &str, k: [u8; 32], timing: Timing, now: u64) -> Self {
        let mut s = Self::new(me, Role::Requester, peer, rq, None, k, timing);
        let name = s.me.name.clone();
        s.signal(SignalKind::Request { name });
        s.deadline = Some(now + timing.request_ms);
        s
    }

    /// A `request` signal from `peer` arrived: the person is asked.
    pub fn asked(me: Me, peer: &str, rq: &str, name: &str, k: [u8; 32], timing: Timing, now: u64) -> Self {
        let mut s = Self::new(me, Role::Asked, peer, rq, None, k, timing);
        s.phase = Phase::Asked;
        s.event(Event::Asked { name: name.to_string() });
        s.deadline = Some(now + timing.request_ms);
        s
    }

    /// Ring `contact` at hub peer `peer` (through the hub by identity, or met in `rv:`).
    pub fn call(me: Me, peer: &str, rq: &str, contact: Contact, timing: Timing, now: u64) -> Self {
        let mut s = Self::new(me, Role::Caller, peer, rq, Some(contact), [0; 32], timing);
        s.signal(SignalKind::Call {});
        s.connecting(now);
        s.rtc(Rtc::Offer);
        s
    }

    /// `contact`'s `call` arrived from hub peer `peer`: wait for its offer.
    pub fn called(me: Me, peer: &str, rq: &str, contact: Contact, timing: Timing, now: u64) -> Self {
        let mut s = Self::new(me, Role::Called, peer, rq, Some(contact), [0; 32], timing);
        s.connecting(now);
        s
    }

    /// A `call` from a nearby peer whose only claim to be `contact` is its nearby tag (no
    /// hub-proven `from_id`: tags are public and can be replayed). Like [`Session::called`], except
    /// that this side's hello goes out only after the caller's hello has verified as `contact`'s,
    /// so an impostor gets neither this side's identity nor a signature from it.
    pub fn called_by_tag(me: Me, peer: &str, rq: &str, contact: Contact, timing: Timing, now: u64) -> Self {
        let mut s = Self::called(me, peer, rq, contact, timing, now);
        s.hello_after_theirs = true;
        s
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    pub fn peer(&self) -> &str {
        &self.peer
    }

    pub fn rq(&self) -> &str {
        &self.rq
    }

    /// The identity the other side proved, once the chat is open.
    pub fn their_id(&self) -> Option<&IdentityId> {
        self.their_id.as_ref()
    }

    /// How many `sdp`/`ice` signals were refused because they came before acceptance.
    pub fn refused_signals(&self) -> usize {
        self.refused_signals
    }

    /// A chat signal from hub peer `from`. Signals of other peers or requests are ignored.
    pub fn handle_signal(&mut self, from: &str, signal: Signal, now: u64) {
        if from != self.peer || signal.rq != self.rq || self.phase.is_final() {
            return;
        }
        match (&self.phase, signal.kind) {
            (Phase::Requesting, SignalKind::Accept {}) => {
                self.connecting(now);
                self.event(Event::Accepted);
                self.rtc(Rtc::Offer);
            }
            (Phase::Requesting, SignalKind::Decline {}) => {
                self.finish(Phase::Declined);
                self.event(Event::Declined);
            }
            (Phase::Requesting | Phase::Asked, SignalKind::Sdp { .. } | SignalKind::Ice { .. }) => {
                // Before acceptance nothing about addresses passes, either way: a declined
                // stranger must learn nothing, and this side applies nothing.
                self.refused_signals += 1;
            }
            (Phase::Asked | Phase::Requesting | Phase::Connecting, SignalKind::Cancel {}) => {
                self.close(CloseReason::PeerCancelled);
            }
            (Phase::Connecting, SignalKind::Sdp { sdp: Description { kind, sdp } }) => {
                let expected = if self.role.offers() { SdpKind::Answer } else { SdpKind::Offer };
                if kind != expected || self.remote_set {
                    return;
                }
                match sdp_fingerprint(&sdp) {
                    Ok(fp) => self.their_fp = Some(fp),
                    Err(e) => return self.close(CloseReason::Violation(Violation::Description(e.to_string()))),
                }
                self.remote_set = true;
                self.rtc(if self.role.offers() {
                    Rtc::ApplyAnswer { answer: sdp }
                } else {
                    Rtc::Answer { offer: sdp }
                });
                if !self.buffered.is_empty() {
                    let buffered = std::mem::take(&mut self.buffered);
                    self.rtc(Rtc::AddCandidates(buffered));
                }
            }
            (Phase::Connecting | Phase::Proving | Phase::Open, SignalKind::Ice { c }) => {
                if self.remote_set {
                    self.rtc(Rtc::AddCandidates(c));
                } else {
                    let room = MAX_BUFFERED_CANDIDATES.saturating_sub(self.buffered.len());
                    self.buffered.extend(c.into_iter().take(room));
                }
            }
            _ => {}
        }
    }

    /// The person accepts the request.
    pub fn accept(&mut self, now: u64) -> Result<(), ChatError> {
        self.expect(Phase::Asked, "accept")?;
        self.signal(SignalKind::Accept {});
        self.connecting(now);
        Ok(())
    }

    /// The person declines the request.
    pub fn decline(&mut self) -> Result<(), ChatError> {
        self.expect(Phase::Asked, "decline")?;
        self.signal(SignalKind::Decline {});
        self.finish(Phase::Declined);
        Ok(())
    }

    /// The person gives up: a request or a connection is cancelled by signal, a channel is left
    /// with `bye`.
    pub fn cancel(&mut self) {
        match self.phase {
            Phase::Requesting | Phase::Asked | Phase::Connecting => {
                self.signal(SignalKind::Cancel {});
                self.close(CloseReason::Cancelled);
            }
            Phase::Proving | Phase::Open => self.leave(),
            _ => {}
        }
    }

    /// The person closes the chat: `bye`, then the connection closes.
    pub fn leave(&mut self) {
        if matches!(self.phase, Phase::Proving | Phase::Open) {
            self.text(&Frame::Bye(Empty {}));
            self.close(CloseReason::Left);
        } else {
            self.cancel();
        }
    }

    /// This side's SDP (after [`Rtc::Offer`] or [`Rtc::Answer`]).
    pub fn local_description(&mut self, sdp: String) {
        if self.phase != Phase::Connecting || self.my_fp.is_some() {
            return;
        }
        match sdp_fingerprint(&sdp) {
            Ok(fp) => self.my_fp = Some(fp),
            Err(e) => return self.close(CloseReason::Violation(Violation::Description(e.to_string()))),
        }
        let kind = if self.role.offers() { SdpKind::Offer } else { SdpKind::Answer };
        self.signal(SignalKind::Sdp { sdp: Description { kind, sdp } });
    }

    /// Local ICE candidates (`RTCIceCandidateInit` JSON). Only sent once this side's description
    /// went out, which is only after acceptance.
    pub fn local_candidates(&mut self, candidates: Vec<Value>) {
        let allowed = matches!(self.phase, Phase::Connecting | Phase::Proving | Phase::Open);
        if allowed && self.my_fp.is_some() && !candidates.is_empty() {
            for batch in candidates.chunks(super::wire::MAX_CANDIDATES) {
                self.signal(SignalKind::Ice { c: batch.to_vec() });
            }
        }
    }

    /// The data channel opened: this side's hello goes out.
    pub fn channel_open(&mut self, now: u64) {
        if self.phase != Phase::Connecting {
            return;
        }
        let (Some(my_fp), Some(their_fp)) = (self.my_fp.clone(), self.their_fp.clone()) else {
            return self.close(CloseReason::Violation(Violation::ChannelBeforeDescriptions));
        };
        if !self.hello_after_theirs {
            self.send_hello(&my_fp, &their_fp);
        }
        self.phase = Phase::Proving;
        self.deadline = Some(now + self.timing.proving_ms);
    }

    fn send_hello(&mut self, my_fp: &str, their_fp: &str) {
        let my_id = self.me.identity.id();
        let my_binding = binding(&my_id, self.expected_id().as_ref(), my_fp, their_fp);
        let sig = sign_binding(&self.me.identity, &my_binding);
        let (k, known) = match &self.contact {
            Some(contact) => (None, Some(known_proof(&contact.secret, &my_binding))),
            None => (Some(base64url(&self.k)), None),
        };
        let hello = Hello { v: VERSION, id: my_id.to_string(), name: self.me.name.clone(), sig, k, known };
        self.text(&Frame::Hello(hello));
    }

    /// The other side's id as both sides know it before the hellos cross: the contact's in a
    /// contact session, none between strangers.
    fn expected_id(&self) -> Option<IdentityId> {
        self.contact.as_ref().map(|c| c.id)
    }

    /// A text frame from the channel.
    pub fn handle_text(&mut self, text: &str) {
        match self.phase {
            Phase::Proving | Phase::Open => {}
            Phase::Connecting => return self.violation(Violation::FrameBeforeHello),
            _ => return,
        }
        let parsed = match parse_frame(text) {
            Ok(parsed) => parsed,
            Err(e) => return self.violation(Violation::Malformed(e)),
        };
        if self.phase == Phase::Proving {
            return match parsed {
                Parsed::Frame(Frame::Hello(hello)) => self.on_hello(hello),
                _ => self.violation(Violation::FrameBeforeHello),
            };
        }
        match parsed {
            Parsed::Unknown { .. } => {}
            Parsed::Frame(Frame::Hello(_)) => self.violation(Violation::DuplicateHello),
            Parsed::Frame(Frame::Msg(Msg { id, at, text, re })) => {
                if self.remember(&id) {
                    self.event(Event::Message { id: id.clone(), at, text, re });
                }
                // A repeat is acknowledged again: the first receipt may have been lost.
                self.text(&Frame::Ack(Ack { id, k: AckKind::Delivered }));
            }
            Parsed::Frame(Frame::Img(img)) => {
                if self.incoming.is_some() {
                    return self.violation(Violation::ImageInterrupted);
                }
                let duplicate = !self.remember(&img.id);
                self.incoming = Some(Incoming { img, bytes: Vec::new(), duplicate });
            }
            Parsed::Frame(Frame::Ack(Ack { id, k })) => {
                if self.sent.contains(&id) {
                    self.event(Event::Receipt { id, kind: k });
                }
            }
            Parsed::Frame(Frame::Typing(_)) => self.event(Event::Typing),
            Parsed::Frame(Frame::Bye(_)) => self.close(CloseReason::PeerLeft),
        }
    }

    /// A binary frame from the channel.
    pub fn handle_binary(&mut self, frame: &[u8]) {
        match self.phase {
            Phase::Open => {}
            Phase::Connecting | Phase::Proving => return self.violation(Violation::FrameBeforeHello),
            _ => return,
        }
        let binary = match parse_binary(frame) {
            Ok(binary) => binary,
            Err(e) => return self.violation(Violation::Malformed(e)),
        };
        let Some(incoming) = self.incoming.as_mut() else { return self.violation(Violation::UnexpectedBinary) };
        match binary {
            Binary::Chunk(bytes) => {
                if (incoming.bytes.len() + bytes.len()) as u64 > incoming.img.size {
                    return self.violation(Violation::ImageTooBig);
                }
                incoming.bytes.extend_from_slice(&bytes);
            }
            Binary::End => {
                let got = incoming.bytes.len() as u64;
                if got != incoming.img.size {
                    let size = incoming.img.size;
                    return self.violation(Violation::ImageIncomplete { got, size });
                }
                let Some(Incoming { img, bytes, duplicate }) = self.incoming.take() else { return };
                let id = img.id.clone();
                if !duplicate {
                    self.event(Event::Image { img, bytes });
                }
                self.text(&Frame::Ack(Ack { id, k: AckKind::Delivered }));
            }
        }
    }

    /// The data channel closed.
    pub fn channel_closed(&mut self, reason: String) {
        self.close(CloseReason::ChannelClosed { reason });
    }

    /// Sends a text message. `id`: 16 fresh random bytes, b64u; `now`: this side's wall clock.
    pub fn send_text(&mut self, id: &str, text: &str, re: Option<&str>, now: u64) -> Result<(), ChatError> {
        self.expect(Phase::Open, "send a message")?;
        let frame = Frame::Msg(Msg { id: id.to_string(), at: now, text: text.to_string(), re: re.map(String::from) });
        self.send_checked(&frame, id)
    }

    /// Sends an image: its description, then its bytes in chunks, then `end`.
    pub fn send_image(
        &mut self,
        id: &str,
        name: &str,
        mime: &str,
        bytes: &[u8],
        re: Option<&str>,
        now: u64,
    ) -> Result<(), ChatError> {
        self.expect(Phase::Open, "send an image")?;
        let img = Img {
            id: id.to_string(),
            at: now,
            name: name.to_string(),
            mime: mime.to_string(),
            size: bytes.len() as u64,
            re: re.map(String::from),
        };
        self.send_checked(&Frame::Img(img), id)?;
        for chunk in bytes.chunks(MAX_CHUNK) {
            self.outputs.push_back(Output::Binary(Binary::Chunk(chunk.to_vec()).encode()));
        }
        self.outputs.push_back(Output::Binary(Binary::End.encode()));
        Ok(())
    }

    /// The person saw message `id`: a read receipt.
    pub fn mark_read(&mut self, id: &str) -> Result<(), ChatError> {
        self.expect(Phase::Open, "send a receipt")?;
        if self.seen.contains(id) {
            self.text(&Frame::Ack(Ack { id: id.to_string(), k: AckKind::Read }));
        }
        Ok(())
    }

    /// The person is typing.
    pub fn typing(&mut self) -> Result<(), ChatError> {
        self.expect(Phase::Open, "say typing")?;
        self.text(&Frame::Typing(Empty {}));
        Ok(())
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due (unix ms).
    pub fn poll_timeout(&self) -> Option<u64> {
        self.deadline
    }

    pub fn handle_timeout(&mut self, now: u64) {
        if self.deadline.is_none_or(|at| now < at) {
            return;
        }
        let phase = self.phase.name();
        if matches!(self.phase, Phase::Requesting | Phase::Connecting) {
            // The other side may still be showing a prompt or waiting: tell it.
            self.signal(SignalKind::Cancel {});
        }
        self.close(CloseReason::Timeout { phase });
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn on_hello(&mut self, hello: Hello) {
        let Ok(claimed) = hello.id.parse::<IdentityId>() else {
            return self.violation(Violation::Malformed(WireError::Value { t: "hello".into(), detail: "id".into() }));
        };
        let (Some(my_fp), Some(their_fp)) = (self.my_fp.clone(), self.their_fp.clone()) else {
            return self.violation(Violation::ChannelBeforeDescriptions);
        };
        let my_id = self.me.identity.id();
        if claimed == my_id {
            return self.violation(Violation::SameIdentity);
        }
        if let Some(contact) = &self.contact
            && contact.id != claimed
        {
            let expected = contact.id;
            return self.squatter(Some(claimed), SquatterReason::WrongIdentity { expected, claimed });
        }
        // The sender's binding, as the sender saw it: it knew this side's id only as a contact.
        let me_as_known = self.contact.as_ref().map(|_| my_id);
        let theirs = binding(&claimed, me_as_known.as_ref(), &their_fp, &my_fp);
        if verify_binding(&claimed, &theirs, &hello.sig).is_err() {
            return self.squatter(Some(claimed), SquatterReason::BadSignature);
        }
        let secret = match &self.contact {
            Some(contact) => {
                if !hello.known.as_deref().is_some_and(|known| verify_known(&contact.secret, &theirs, known)) {
                    return self.squatter(Some(claimed), SquatterReason::BadKnownProof);
                }
                None
            }
            None => {
                let Some(their_k) = hello.k.as_deref().and_then(|k| decode_fixed::<32>(k, "k").ok()) else {
                    return self.violation(Violation::NoKey);
                };
                match derive_secret((&my_id, &self.k), (&claimed, &their_k)) {
                    Ok(secret) => Some(secret),
                    Err(_) => return self.violation(Violation::SameIdentity),
                }
            }
        };
        if self.hello_after_theirs {
            self.send_hello(&my_fp, &their_fp);
        }
        self.k = [0; 32];
        self.their_id = Some(claimed);
        self.phase = Phase::Open;
        self.deadline = None;
        self.event(Event::Open { id: claimed, name: hello.name, secret });
    }

    fn send_checked(&mut self, frame: &Frame, id: &str) -> Result<(), ChatError> {
        let text = frame.to_text();
        // What goes out passes the same checks as what comes in.
        parse_frame(&text)?;
        self.sent.insert(id.to_string());
        self.outputs.push_back(Output::Text(text));
        Ok(())
    }

    /// Remembers a received id; false when it was seen before.
    fn remember(&mut self, id: &str) -> bool {
        if !self.seen.insert(id.to_string()) {
            return false;
        }
        self.seen_order.push_back(id.to_string());
        if self.seen_order.len() > MAX_SEEN
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    fn expect(&self, phase: Phase, action: &'static str) -> Result<(), ChatError> {
        if self.phase == phase { Ok(()) } else { Err(ChatError::State { action, phase: self.phase.name() }) }
    }

    fn connecting(&mut self, now: u64) {
        self.phase = Phase::Connecting;
        self.deadline = Some(now + self.timing.connecting_ms);
    }

    fn violation(&mut self, violation: Violation) {
        self.close(CloseReason::Violation(violation));
    }

    fn squatter(&mut self, claimed: Option<IdentityId>, reason: SquatterReason) {
        self.finish(Phase::Squatter(reason.clone()));
        self.rtc(Rtc::Close);
        self.event(Event::Squatter { claimed, reason });
    }

    fn close(&mut self, reason: CloseReason) {
        if self.phase.is_final() {
            return;
        }
        let had_connection = matches!(self.phase, Phase::Connecting | Phase::Proving | Phase::Open);
        self.finish(Phase::Closed(reason.clone()));
        if had_connection {
            self.rtc(Rtc::Close);
        }
        self.event(Event::Closed(reason));
    }

    fn finish(&mut self, phase: Phase) {
        self.phase = phase;
        self.deadline = None;
        self.incoming = None;
        self.buffered.clear();
        self.k = [0; 32];
    }

    fn signal(&mut self, kind: SignalKind) {
        let signal = Signal { rq: self.rq.clone(), kind };
        self.outputs.push_back(Output::Signal { to: self.peer.clone(), signal });
    }

    fn text(&mut self, frame: &Frame) {
        self.outputs.push_back(Output::Text(frame.to_text()));
    }

    fn rtc(&mut self, rtc: Rtc) {
        self.outputs.push_back(Output::Rtc(rtc));
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
