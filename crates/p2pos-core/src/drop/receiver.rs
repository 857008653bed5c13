//! The receiver's side of a drop, sans-IO: it says hello to the sender, checks the sender's
//! hello, answers the offer, opens the sealed frames in order, reports progress and hands over
//! the complete image; once the driver has shown or saved it, [`Receiver::viewed`] tells the
//! sender. Joining the room is the driver's; see the module doc of [`super`] for the loop.

use std::collections::VecDeque;
use std::time::Instant;

use zeroize::Zeroizing;

use super::wire::{
    BrokenBy, Ended, Meta, Output, Rtc, STALLED_REASON, Signal, Timing, cancel_frame, progress_frame, viewed_frame,
};
use super::{DropSecret, EphemeralKey, FRAME_CANCEL, FRAME_CHUNK, FRAME_META, MAX_SIZE, Opener, Role, parse_public};

/// The receiver reports progress at least this often (bytes), and at the end.
pub const PROGRESS_EVERY: u64 = 256 * 1024;

/// What the receiver's person hears about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiverEvent {
    /// The sender described the image: it is on its way. `meta.name` as it came.
    Receiving { meta: Meta },
    /// All bytes arrived and opened. Show or save it, then call [`Receiver::viewed`].
    Complete { meta: Meta, image: Zeroizing<Vec<u8>> },
    /// The drop ended without being viewed.
    Ended(Ended),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The hello went out; waiting for the sender's hello and offer.
    Hello,
    /// The channel is open: frames arrive.
    Transfer,
    /// The image is complete and in the driver's hands.
    Complete,
    Done,
}

/// One drop's receiver. See [`super`] for how a driver runs it.
pub struct Receiver {
    secret: DropSecret,
    own: EphemeralKey,
    own_pub: String,
    timing: Timing,
    phase: Phase,
    sender: String,
    key: Option<Zeroizing<[u8; 32]>>,
    opener: Option<Opener>,
    meta: Option<Meta>,
    image: Zeroizing<Vec<u8>>,
    reported: u64,
    deadline: Option<Instant>,
    outputs: VecDeque<Output<ReceiverEvent>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("phase", &self.phase)
            .field("sender", &self.sender)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// A receiver that has joined the room and found the sender at hub peer `sender`: its hello
    /// (with `name`) is the first output. `own` is its fresh ephemeral key.
    pub fn new(
        secret: DropSecret,
        own: EphemeralKey,
        name: &str,
        sender: String,
        timing: Timing,
        now: Instant,
    ) -> Self {
        let own_pub = own.public_b64();
        let mac = secret.hello_mac(Role::Receiver, &own_pub, name, None);
        let hello = Signal::Hello { role: "receiver".into(), public: own_pub.clone(), name: Some(name.into()), mac };
        let mut outputs = VecDeque::new();
        outputs.push_back(Output::Signal { to: sender.clone(), signal: hello });
        Self {
            secret,
            own,
            own_pub,
            timing,
            phase: Phase::Hello,
            sender,
            key: None,
            opener: None,
            meta: None,
            image: Zeroizing::new(Vec::new()),
            reported: 0,
            deadline: Some(now + timing.first_contact),
            outputs,
        }
    }

    /// Whether the drop is over (viewed or ended): the driver stops once the outputs are drained.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Whether the data channel is open (a `room_closed` then no longer matters).
    pub fn channel_is_open(&self) -> bool {
        self.opener.is_some()
    }

    /// A drop signal from hub peer `from`.
    pub fn handle_signal(&mut self, _from: &str, signal: Signal) {
        if self.is_finished() {
            return;
        }
        match signal {
            Signal::Hello { role, public, mac, .. } if role == "sender" && self.key.is_none() => {
                if !self.secret.verify_hello(Role::Sender, &public, "", Some(&self.own_pub), &mac) {
                    let to = self.sender.clone();
                    self.outputs.push_back(Output::Signal { to, signal: Signal::Refused { reason: "bad_mac".into() } });
                    return self.end(Ended::NotVerified);
                }
                let key = parse_public(&public)
                    .and_then(|their| self.own.session_key(&their, &self.secret, &public, &self.own_pub));
                match key {
                    Ok(key) => self.key = Some(key),
                    Err(e) => self.end(e.into()),
                }
            }
            Signal::Offer { sdp } if self.key.is_some() => {
                self.outputs.push_back(Output::Rtc(Rtc::Answer { offer: sdp }));
            }
            Signal::Candidates { candidates } => self.outputs.push_back(Output::Rtc(Rtc::AddCandidates(candidates))),
            Signal::Refused { reason } => self.end(match reason.as_str() {
                "bad_mac" => Ended::RefusedBadMac,
                "taken" => Ended::Taken,
                _ => Ended::Refused { reason },
            }),
            Signal::Cancel {} => self.end(Ended::PeerCancelled { reason: None }),
            Signal::Hello { .. } | Signal::Offer { .. } | Signal::Answer { .. } => {}
        }
    }

    /// The driver's answer (after [`Rtc::Answer`]), for the sender.
    pub fn local_description(&mut self, sdp: String) {
        if !self.is_finished() {
            let to = self.sender.clone();
            self.outputs.push_back(Output::Signal { to, signal: Signal::Answer { sdp } });
        }
    }

    /// A local ICE candidate (`RTCIceCandidateInit` JSON) for the sender.
    pub fn local_candidate(&mut self, candidate: serde_json::Value) {
        if !self.is_finished() {
            let to = self.sender.clone();
            self.outputs.push_back(Output::Signal { to, signal: Signal::Candidates { candidates: vec![candidate] } });
        }
    }

    /// The data channel opened.
    pub fn channel_open(&mut self, now: Instant) {
        if self.phase != Phase::Hello {
            return;
        }
        let Some(key) = &self.key else { return self.end(BrokenBy::ChannelBeforeKeys.into()) };
        self.opener = Some(Opener::new(key));
        self.phase = Phase::Transfer;
        self.deadline = Some(now + self.timing.stall);
    }

    /// A frame from the sender.
    pub fn handle_frame(&mut self, frame: &[u8], now: Instant) {
        if self.phase != Phase::Transfer {
            return;
        }
        self.deadline = Some(now + self.timing.stall);
        let Some(&kind) = frame.first() else { return };
        if let Err(why) = self.on_frame(kind, &frame[1..]) {
            self.end(why);
        }
    }

    fn on_frame(&mut self, kind: u8, body: &[u8]) -> Result<(), Ended> {
        let Some(opener) = self.opener.as_mut() else { return Ok(()) };
        match kind {
            FRAME_META if self.meta.is_none() => {
                let plain = Zeroizing::new(opener.open(kind, body)?);
                let meta: Meta = serde_json::from_slice(&plain).map_err(|_| Ended::Broken(BrokenBy::BadMeta))?;
                if meta.size > MAX_SIZE || !meta.mime.starts_with("image/") {
                    return Err(Ended::Broken(BrokenBy::Announced { size: meta.size, mime: meta.mime }));
                }
                self.image.reserve(usize::try_from(meta.size).unwrap_or(0));
                self.meta = Some(meta.clone());
                self.outputs.push_back(Output::Event(ReceiverEvent::Receiving { meta }));
                Ok(())
            }
            FRAME_CHUNK => {
                let size = self.meta.as_ref().ok_or(Ended::Broken(BrokenBy::ChunkBeforeMeta))?.size;
                let plain = Zeroizing::new(opener.open(kind, body)?);
                self.image.extend_from_slice(&plain);
                let received = self.image.len() as u64;
                if received > size {
                    return Err(Ended::Broken(BrokenBy::TooManyBytes));
                }
                let done = received == size;
                if done || received >= self.reported + PROGRESS_EVERY {
                    self.reported = received;
                    self.outputs.push_back(Output::Frame(progress_frame(received)));
                }
                if done {
                    self.phase = Phase::Complete;
                    self.deadline = None;
                    self.opener = None;
                    let meta = self.meta.clone().ok_or(Ended::Broken(BrokenBy::ChunkBeforeMeta))?;
                    let image = std::mem::replace(&mut self.image, Zeroizing::new(Vec::new()));
                    self.outputs.push_back(Output::Event(ReceiverEvent::Complete { meta, image }));
                }
                Ok(())
            }
            FRAME_CANCEL => Err(Ended::PeerCancelled { reason: Some(String::from_utf8_lossy(body).into_owned()) }),
            _ => Err(Ended::Broken(BrokenBy::UnexpectedFrame)),
        }
    }

    /// The driver showed or saved the complete image: the sender hears `viewed`, and the drop is
    /// over.
    pub fn viewed(&mut self) {
        if self.phase == Phase::Complete {
            self.outputs.push_back(Output::Frame(viewed_frame()));
            self.phase = Phase::Done;
            self.wipe();
        }
    }

    /// The data channel closed.
    pub fn channel_closed(&mut self, reason: String) {
        if self.phase != Phase::Complete {
            self.end(Ended::ChannelClosed { reason });
        }
    }

    /// The hub closed the room: before the channel opened, the sender cancelled or left.
    pub fn room_closed(&mut self) {
        if !self.channel_is_open() && self.phase != Phase::Complete {
            self.end(Ended::RoomClosed);
        }
    }

    /// The hub connection is gone.
    pub fn hub_lost(&mut self, reason: String) {
        if self.phase != Phase::Complete {
            self.end(Ended::HubLost { reason });
        }
    }

    /// The person cancels: the sender is told with a `cancel` frame.
    pub fn cancel(&mut self) {
        if self.is_finished() {
            return;
        }
        self.outputs.push_back(Output::Frame(cancel_frame("the receiver cancelled")));
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

    pub fn poll_output(&mut self) -> Option<Output<ReceiverEvent>> {
        self.outputs.pop_front()
    }

    fn end(&mut self, why: Ended) {
        if self.is_finished() {
            return;
        }
        self.phase = Phase::Done;
        self.wipe();
        self.outputs.push_back(Output::Event(ReceiverEvent::Ended(why)));
    }

    fn wipe(&mut self) {
        self.deadline = None;
        self.key = None;
        self.opener = None;
        self.image = Zeroizing::new(Vec::new());
    }
}
