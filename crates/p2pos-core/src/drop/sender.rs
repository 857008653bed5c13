//! The sender's side of a drop, sans-IO: it answers one receiver's hello, agrees the key, offers
//! the data channel, sends the sealed image and waits for `viewed`. The room (create, delete) and
//! the bytes on the wire are the driver's; see the module doc of [`super`] for the loop.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::wire::{Ended, Meta, Output, Rtc, STALLED_REASON, Signal, Timing, cancel_frame};
use super::{
    CHUNK_PLAINTEXT, DropError, DropSecret, EphemeralKey, FRAME_CANCEL, FRAME_CHUNK, FRAME_META, FRAME_PROGRESS,
    FRAME_VIEWED, MAX_SIZE, Role, SECONDS, Sealer, parse_public,
};

/// What the sender's person hears about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SenderEvent {
    /// A receiver proved it holds the link; the connection is being set up. `name` as it came.
    ReceiverArrived { name: String },
    /// The data channel opened: `size` bytes are on their way.
    Sending { size: u64 },
    /// The receiver reported how much it holds.
    Progress { received: u64, size: u64 },
    /// The receiver showed the image and wiped it: the drop succeeded.
    Viewed,
    /// The drop ended without being viewed.
    Ended(Ended),
}

/// The image a sender offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    /// MIME type, `image/…`.
    pub mime: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a receiver's hello.
    Waiting,
    /// A receiver's hello verified; the connection is being set up.
    Connecting,
    /// The channel is open: sending, then waiting for `viewed`.
    Transfer,
    Done,
}

/// One drop's sender. See [`super`] for how a driver runs it.
pub struct Sender {
    secret: DropSecret,
    own: EphemeralKey,
    image: Zeroizing<Vec<u8>>,
    meta: Meta,
    timing: Timing,
    phase: Phase,
    /// The receiver's hub peer id, once its hello arrived.
    receiver: Option<String>,
    key: Option<Zeroizing<[u8; 32]>>,
    sealer: Option<Sealer>,
    /// The next chunk to seal (`None`: `meta` is not sent yet, or everything is).
    next_chunk: Option<usize>,
    deadline: Option<Instant>,
    outputs: VecDeque<Output<SenderEvent>>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("phase", &self.phase)
            .field("receiver", &self.receiver)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// Why an image cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("the image is {0} bytes; a drop carries at most {MAX_SIZE}")]
    TooBig(u64),
    #[error("the view time is {} to {} seconds", SECONDS.start(), SECONDS.end())]
    Seconds,
}

impl Sender {
    /// A sender for `image`, shown for `seconds`, behind the link's `secret`; `own` is its fresh
    /// ephemeral key.
    pub fn new(
        secret: DropSecret,
        own: EphemeralKey,
        image: Image,
        seconds: u32,
        timing: Timing,
    ) -> Result<Self, ImageError> {
        let size = image.bytes.len() as u64;
        if size > MAX_SIZE {
            return Err(ImageError::TooBig(size));
        }
        if !SECONDS.contains(&seconds) {
            return Err(ImageError::Seconds);
        }
        let chunks = image.bytes.chunks(CHUNK_PLAINTEXT).count() as u64;
        let meta = Meta { name: image.name, mime: image.mime, size, seconds, chunks };
        Ok(Self {
            secret,
            own,
            image: Zeroizing::new(image.bytes),
            meta,
            timing,
            phase: Phase::Waiting,
            receiver: None,
            key: None,
            sealer: None,
            next_chunk: None,
            deadline: None,
            outputs: VecDeque::new(),
        })
    }

    /// Whether the drop is over (viewed or ended): the driver stops once the outputs are drained.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Whether a data channel was asked for (a cancel then travels as a frame, not a signal).
    pub fn has_channel(&self) -> bool {
        matches!(self.phase, Phase::Connecting | Phase::Transfer)
    }

    /// A drop signal from hub peer `from`.
    pub fn handle_signal(&mut self, from: &str, signal: Signal) {
        if self.is_finished() {
            return;
        }
        match signal {
            Signal::Hello { role, public, name, mac } if role == "receiver" => self.on_hello(from, &public, name, &mac),
            Signal::Answer { sdp } => self.rtc(Rtc::ApplyAnswer { answer: sdp }),
            Signal::Candidates { candidates } => self.rtc(Rtc::AddCandidates(candidates)),
            Signal::Refused { reason } => self.end(match reason.as_str() {
                "bad_mac" => Ended::RefusedBadMac,
                "taken" => Ended::Taken,
                _ => Ended::Refused { reason },
            }),
            Signal::Cancel {} => self.end(Ended::PeerCancelled { reason: None }),
            Signal::Hello { .. } | Signal::Offer { .. } => {}
        }
    }

    fn on_hello(&mut self, from: &str, public: &str, name: Option<String>, mac: &str) {
        if self.key.is_some() {
            // View once: the first receiver whose hello verified has it.
            self.signal(from, Signal::Refused { reason: "taken".into() });
            return;
        }
        self.receiver = Some(from.to_string());
        let name = name.unwrap_or_default();
        if !self.secret.verify_hello(Role::Receiver, public, &name, None, mac) {
            self.signal(from, Signal::Refused { reason: "bad_mac".into() });
            self.end(Ended::NotVerified);
            return;
        }
        let mine = self.own.public_b64();
        let key = match parse_public(public).and_then(|their| self.own.session_key(&their, &self.secret, &mine, public))
        {
            Ok(key) => key,
            Err(e) => return self.end(e.into()),
        };
        self.key = Some(key);
        let mac = self.secret.hello_mac(Role::Sender, &mine, "", Some(public));
        self.signal(from, Signal::Hello { role: "sender".into(), public: mine, name: None, mac });
        self.phase = Phase::Connecting;
        self.event(SenderEvent::ReceiverArrived { name });
        self.rtc(Rtc::Offer);
    }

    /// The driver's offer (after [`Rtc::Offer`]), for the receiver.
    pub fn local_description(&mut self, sdp: String) {
        if let (Some(to), false) = (self.receiver.clone(), self.is_finished()) {
            self.signal(&to, Signal::Offer { sdp });
        }
    }

    /// A local ICE candidate (`RTCIceCandidateInit` JSON) for the receiver.
    pub fn local_candidate(&mut self, candidate: serde_json::Value) {
        if let (Some(to), false) = (self.receiver.clone(), self.is_finished()) {
            self.signal(&to, Signal::Candidates { candidates: vec![candidate] });
        }
    }

    /// The data channel opened: the image goes out (`meta`, then the chunks, sealed as
    /// `poll_output` hands them over).
    pub fn channel_open(&mut self, now: Instant) {
        if self.phase != Phase::Connecting {
            return;
        }
        let Some(key) = &self.key else { return self.end(super::wire::BrokenBy::ChannelBeforeKeys.into()) };
        let mut sealer = Sealer::new(key);
        let meta = match serde_json::to_vec(&self.meta) {
            Ok(meta) => meta,
            Err(_) => return self.end(DropError::Seal.into()),
        };
        match sealer.seal(FRAME_META, &meta) {
            Ok(frame) => self.outputs.push_back(Output::Frame(frame)),
            Err(e) => return self.end(e.into()),
        }
        self.sealer = Some(sealer);
        self.next_chunk = Some(0);
        self.phase = Phase::Transfer;
        self.event(SenderEvent::Sending { size: self.meta.size });
        self.deadline = Some(now + self.timing.stall);
    }

    /// A frame of the driver's left: bytes leaving count as life, so a slow path that still moves
    /// does not stall (one that stops moving blocks the driver's send, and the stall fires).
    pub fn frame_sent(&mut self, now: Instant) {
        if self.phase == Phase::Transfer && self.next_chunk.is_some() {
            self.deadline = Some(now + self.timing.stall);
        }
    }

    /// A frame from the receiver.
    pub fn handle_frame(&mut self, frame: &[u8], now: Instant) {
        if self.phase != Phase::Transfer {
            return;
        }
        match frame.first() {
            Some(&FRAME_PROGRESS) if frame.len() == 9 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&frame[1..9]);
                let received = u64::from_be_bytes(be);
                let size = self.meta.size;
                self.event(SenderEvent::Progress { received, size });
                // All there: the receiver now shows it for up to `seconds`.
                let wait = if received >= size {
                    Duration::from_secs(u64::from(self.meta.seconds)) + self.timing.view_grace
                } else {
                    self.timing.stall
                };
                self.deadline = Some(now + wait);
            }
            Some(&FRAME_VIEWED) => {
                self.phase = Phase::Done;
                self.deadline = None;
                self.wipe();
                self.event(SenderEvent::Viewed);
            }
            Some(&FRAME_CANCEL) => {
                let reason = String::from_utf8_lossy(&frame[1..]).into_owned();
                self.end(Ended::PeerCancelled { reason: Some(reason) });
            }
            // Unknown frames are ignored: a later version may add some.
            _ => {}
        }
    }

    /// The data channel closed.
    pub fn channel_closed(&mut self, reason: String) {
        self.end(Ended::ChannelClosed { reason });
    }

    /// The hub closed the room (`room_closed` and its reason).
    pub fn room_closed(&mut self, reason: &str) {
        if reason == "expired" {
            self.end(Ended::Expired);
        }
    }

    /// The hub connection is gone.
    pub fn hub_lost(&mut self, reason: String) {
        self.end(Ended::HubLost { reason });
    }

    /// The person cancels: the receiver is told (a frame once a channel was asked for, else a
    /// signal).
    pub fn cancel(&mut self) {
        if self.is_finished() {
            return;
        }
        if self.has_channel() {
            self.outputs.push_back(Output::Frame(cancel_frame("the sender cancelled")));
        } else if let Some(to) = self.receiver.clone() {
            self.signal(&to, Signal::Cancel {});
        }
        self.end(Ended::Cancelled);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|at| now >= at) {
            self.outputs.push_back(Output::Frame(cancel_frame(STALLED_REASON)));
            self.end(Ended::Stalled { after: self.timing.stall });
        }
    }

    /// The next thing to do. Chunks are sealed here, one at a time, so the driver's sends pace
    /// them and a 32 MiB image is never held twice.
    pub fn poll_output(&mut self) -> Option<Output<SenderEvent>> {
        if let Some(output) = self.outputs.pop_front() {
            return Some(output);
        }
        let index = self.next_chunk?;
        let Some(chunk) = self.image.chunks(CHUNK_PLAINTEXT).nth(index) else {
            self.next_chunk = None;
            return None;
        };
        let sealed = self.sealer.as_mut().map(|sealer| sealer.seal(FRAME_CHUNK, chunk));
        match sealed {
            Some(Ok(frame)) => {
                self.next_chunk = Some(index + 1);
                Some(Output::Frame(frame))
            }
            Some(Err(e)) => {
                self.end(e.into());
                self.outputs.pop_front()
            }
            None => {
                self.next_chunk = None;
                None
            }
        }
    }

    fn end(&mut self, why: Ended) {
        if self.is_finished() {
            return;
        }
        self.phase = Phase::Done;
        self.deadline = None;
        self.wipe();
        self.event(SenderEvent::Ended(why));
    }

    fn wipe(&mut self) {
        self.next_chunk = None;
        self.sealer = None;
        self.key = None;
        self.image = Zeroizing::new(Vec::new());
    }

    fn signal(&mut self, to: &str, signal: Signal) {
        self.outputs.push_back(Output::Signal { to: to.to_string(), signal });
    }

    fn rtc(&mut self, rtc: Rtc) {
        self.outputs.push_back(Output::Rtc(rtc));
    }

    fn event(&mut self, event: SenderEvent) {
        self.outputs.push_back(Output::Event(event));
    }
}
