//! The sans-IO core of one WebRTC connection's request multiplexing: request ids, reply
//! reassembly, the acknowledged blob window (flow control), stall detection and resume by offset.
//! No sockets, no clock, no locks, no tokio: time is passed in, frames go in and out as values.
//!
//! The contract, as str0m and quinn-proto state theirs. A driver owns one [`Mux`] and loops:
//!
//! 1. Feed what happened: a frame from a data channel ([`Mux::handle_frame`]), a command from a
//!    caller ([`Mux::call`], [`Mux::get_blob`], [`Mux::consumed`], [`Mux::cancel`], and on the
//!    serving side [`Mux::reply`], [`Mux::start_blob`], [`Mux::send_blob_data`],
//!    [`Mux::fail_blob`]), or the timer firing ([`Mux::handle_timeout`]).
//! 2. Send every [`Mux::poll_transmit`] on its lane (the data channel it names).
//! 3. Hand every [`Mux::poll_event`] to whoever waits for it (a reply to its caller, blob bytes to
//!    its reader, a request to the service).
//! 4. Sleep until [`Mux::poll_timeout`] or the next input, then go to 1.
//!
//! Frames are those of [`super::frame`]. A lane is the driver's name for a data channel; a reply
//! goes back on the lane its request came on.
//!
//! ```
//! # use std::time::{Duration, Instant};
//! # use p2pos_net::webrtc::mux::{Mux, MuxConfig};
//! let now = Instant::now();
//! let mut mux = Mux::new(MuxConfig::default());
//! let id = mux.call(now, 0, b"{}").unwrap();
//! let request = mux.poll_transmit().unwrap();
//! assert_eq!((request.lane, id), (0, 1));
//! assert_eq!(mux.poll_timeout(), Some(now + MuxConfig::default().call_timeout));
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

use super::frame::{self, BlobHead, HEADER, Kind, MAX_FRAME, ReplyBody};
use crate::{ProtocolViolation, ServiceError, TransportError};

/// Largest reply accepted, reassembled from several frames.
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// The tunables a [`Mux`] needs (a subset of [`super::WebRtcConfig`]).
#[derive(Debug, Clone)]
pub struct MuxConfig {
    /// Unacknowledged blob bytes a sender keeps in flight, per blob.
    pub window: u64,
    /// Largest frame sent, header included.
    pub frame_size: usize,
    /// No blob progress for this long: the transfer fails with [`TransportError::Stalled`].
    pub stall: Duration,
    /// How long a call (or the head of a blob) waits for the peer.
    pub call_timeout: Duration,
    /// How long a blob frame that is not full waits for more bytes of its source before it goes
    /// as it is. A source reads in its own sizes (the node's blob store: 64 KiB), which are not
    /// multiples of a frame's body (64 KiB less the header): without this, every read would end
    /// in a frame of a few bytes, and half the messages on the wire would be those. Zero: every
    /// frame goes at once. The last bytes of a blob, and the bytes that fill the window, never
    /// wait.
    pub coalesce: Duration,
}

/// The default [`MuxConfig::coalesce`]: far longer than a read from a local disk, short enough
/// that a source that pauses does not hold its last bytes back for long.
pub const COALESCE: Duration = Duration::from_millis(5);

impl Default for MuxConfig {
    fn default() -> Self {
        let c = super::WebRtcConfig::default();
        Self {
            window: c.window,
            frame_size: c.frame_size,
            stall: c.stall,
            call_timeout: c.call_timeout,
            coalesce: COALESCE,
        }
    }
}

impl MuxConfig {
    fn piece(&self) -> usize {
        self.frame_size.clamp(HEADER + 1, MAX_FRAME) - HEADER
    }

    fn window(&self) -> u64 {
        self.window.max(self.piece() as u64)
    }

    /// Bytes a blob sender may have delivered beyond what our reader took: well above any sane
    /// window, so only a peer that ignores acknowledgements hits it.
    fn receive_limit(&self) -> u64 {
        (4 * self.window).max(16 * 1024 * 1024)
    }
}

/// A frame to send on data channel `lane`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub lane: usize,
    pub frame: BytesMut,
}

impl Transmit {
    /// Whether the frame is the responder's (a reply or blob frame), which waits for the
    /// channel's send buffer to drain; the requester's small frames (request, ack, cancel) go
    /// ahead of them.
    pub fn is_bulk(&self) -> bool {
        !matches!(self.frame.first().copied(), Some(k) if k == Kind::Request as u8 || k == Kind::Ack as u8 || k == Kind::Cancel as u8)
    }
}

/// What the driver hands on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The peer asks something: serve `body` (a signed request) and answer with [`Mux::reply`]
    /// or, for a blob, [`Mux::start_blob`].
    Request { lane: usize, id: u64, body: Bytes },
    /// The answer to this side's call `id`.
    Reply { id: u64, result: Result<ReplyBody, TransportError> },
    /// Blob `id` starts: its size, and where its bytes start.
    BlobHead { id: u64, size: u64, offset: u64 },
    /// The next bytes of blob `id`; tell [`Mux::consumed`] once its reader took them.
    BlobData { id: u64, bytes: Bytes },
    /// Blob `id` arrived whole.
    BlobDone { id: u64 },
    /// Blob `id` (or a call's blob head) failed.
    BlobFailed { id: u64, error: TransportError },
    /// A blob this side sends has room in its window again ([`Mux::blob_room`]).
    SendWritable { id: u64 },
    /// A blob this side sends is over before its end: the peer cancelled it (`error: None`) or
    /// stopped acknowledging (stalled). Stop reading its source.
    SendStopped { id: u64, error: Option<TransportError> },
}

enum Pending {
    Call { deadline: Instant, partial: BytesMut },
    Blob(Receiving),
}

struct Receiving {
    lane: usize,
    asked: u64,
    /// Bytes still to come after the head (`None` before it).
    remaining: Option<u64>,
    delivered: u64,
    consumed: u64,
    acked: u64,
    /// The head's deadline, then (while the reader waits for bytes) the stall deadline.
    deadline: Option<Instant>,
}

struct Sending {
    lane: usize,
    expected: u64,
    /// Bytes taken from the source (those of `open` included).
    sent: u64,
    acked: u64,
    /// Armed while the window is full: no acknowledgement by then means the receiver stalled.
    stall_at: Option<Instant>,
    /// The blob's next frame while it is not full (see [`MuxConfig::coalesce`]).
    open: Option<OpenFrame>,
}

/// A blob data frame being filled: its header is written, its body is not full yet.
struct OpenFrame {
    frame: BytesMut,
    /// When it goes even if not full.
    deadline: Instant,
}

/// The multiplexer; see the module docs for the loop that drives it.
pub struct Mux {
    config: MuxConfig,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    sending: BTreeMap<u64, Sending>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    closed: Option<TransportError>,
}

impl std::fmt::Debug for Mux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mux")
            .field("pending", &self.pending.len())
            .field("sending", &self.sending.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Mux {
    pub fn new(config: MuxConfig) -> Self {
        Self {
            config,
            next_id: 1,
            pending: BTreeMap::new(),
            sending: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            closed: None,
        }
    }

    fn send(&mut self, lane: usize, kind: Kind, id: u64, body: &[u8]) {
        self.transmits.push_back(Transmit { lane, frame: frame::encode(kind, id, body) });
    }

    fn request(&mut self, lane: usize, request: &[u8], pending: Pending) -> Result<u64, TransportError> {
        if let Some(error) = &self.closed {
            return Err(error.clone());
        }
        if HEADER + request.len() > MAX_FRAME {
            return Err(TransportError::protocol(ProtocolViolation::RequestTooLarge { size: request.len() }));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, pending);
        self.send(lane, Kind::Request, id, request);
        Ok(id)
    }

    /// Sends a call (a signed request as JSON) on `lane`; its answer comes as [`Event::Reply`].
    pub fn call(&mut self, now: Instant, lane: usize, request: &[u8]) -> Result<u64, TransportError> {
        let deadline = now + self.config.call_timeout;
        self.request(lane, request, Pending::Call { deadline, partial: BytesMut::new() })
    }

    /// Asks for a blob from `offset` (the signed `get_blob` request as JSON) on `lane`; it comes
    /// as [`Event::BlobHead`], [`Event::BlobData`]…, then [`Event::BlobDone`] or
    /// [`Event::BlobFailed`]. After a failure, ask again with the bytes received as `offset`.
    pub fn get_blob(&mut self, now: Instant, lane: usize, request: &[u8], offset: u64) -> Result<u64, TransportError> {
        let receiving = Receiving {
            lane,
            asked: offset,
            remaining: None,
            delivered: 0,
            consumed: 0,
            acked: 0,
            deadline: Some(now + self.config.call_timeout),
        };
        self.request(lane, request, Pending::Blob(receiving))
    }

    /// The reader of blob `id` took `bytes` more bytes: acknowledge them (every quarter window,
    /// and at the end), and start the stall clock if it now waits for more.
    pub fn consumed(&mut self, now: Instant, id: u64, bytes: u64) {
        let ack_every = (self.config.window / 4).max(1);
        let stall = self.config.stall;
        let Some(Pending::Blob(r)) = self.pending.get_mut(&id) else { return };
        r.consumed = (r.consumed + bytes).min(r.delivered);
        let complete = r.remaining == Some(r.consumed);
        let ack = (r.consumed - r.acked >= ack_every || complete) && r.consumed > r.acked;
        if r.consumed == r.delivered && !complete {
            r.deadline = Some(now + stall);
        }
        let lane = r.lane;
        if ack {
            r.acked = r.consumed;
            let body = frame::ack_body(r.consumed);
            self.send(lane, Kind::Ack, id, &body);
        }
        if complete {
            self.pending.remove(&id);
            self.events.push_back(Event::BlobDone { id });
        }
    }

    /// This side no longer wants the answer to `id`; an unfinished blob is cancelled at the peer.
    pub fn cancel(&mut self, id: u64) {
        if let Some(Pending::Blob(r)) = self.pending.remove(&id)
            && self.closed.is_none()
        {
            self.send(r.lane, Kind::Cancel, id, &[]);
        }
    }

    /// Answers the peer's request `id` (which came on `lane`), in several frames when large.
    pub fn reply(&mut self, lane: usize, id: u64, reply: &ReplyBody) -> Result<(), TransportError> {
        let body = serde_json::to_vec(reply).map_err(|e| TransportError::unparsable("reply", e))?;
        if body.is_empty() {
            self.send(lane, Kind::Reply, id, &[]);
            return Ok(());
        }
        let mut parts = body.chunks(MAX_FRAME - HEADER).peekable();
        while let Some(part) = parts.next() {
            let kind = if parts.peek().is_some() { Kind::ReplyPart } else { Kind::Reply };
            self.send(lane, kind, id, part);
        }
        Ok(())
    }

    /// Starts sending a blob in answer to the peer's request `id`: its head, then bytes as the
    /// window allows ([`Mux::blob_room`], [`Mux::send_blob_data`]).
    pub fn start_blob(&mut self, lane: usize, id: u64, size: u64, offset: u64) {
        let head = serde_json::to_vec(&BlobHead { size, offset }).unwrap_or_default();
        self.send(lane, Kind::BlobHead, id, &head);
        let expected = size.saturating_sub(offset);
        if expected > 0 {
            self.sending.insert(id, Sending { lane, expected, sent: 0, acked: 0, stall_at: None, open: None });
        }
    }

    /// How many more bytes of blob `id` may be sent now (0 when the window is full or the
    /// transfer is over).
    pub fn blob_room(&self, id: u64) -> u64 {
        let window = self.config.window();
        self.sending.get(&id).map_or(0, |s| (s.acked + window).saturating_sub(s.sent).min(s.expected - s.sent))
    }

    /// Sends up to [`Mux::blob_room`] bytes of `bytes` as blob data; returns how many it took
    /// (the driver keeps the rest until [`Event::SendWritable`]). Bytes go in full frames; those
    /// that do not fill one wait in the blob's open frame for the next bytes, at most
    /// [`MuxConfig::coalesce`] (see [`Mux::poll_timeout`]). A source with more bytes than the
    /// blob's size ends the transfer with a `too_long` error.
    pub fn send_blob_data(&mut self, now: Instant, id: u64, bytes: &[u8]) -> usize {
        let room = self.blob_room(id);
        let piece = self.config.piece();
        let (stall, coalesce) = (self.config.stall, self.config.coalesce);
        let Some(s) = self.sending.get_mut(&id) else { return 0 };
        if s.sent + bytes.len() as u64 > s.expected {
            let lane = s.lane;
            self.fail_blob(lane, id, &ServiceError::new("too_long", "the blob has more bytes than its size"));
            return 0;
        }
        let take = bytes.len().min(room as usize);
        let mut rest = &bytes[..take];
        while !rest.is_empty() {
            // What the blob has left from here on: its last frame is no larger than that.
            let left = (s.expected - s.sent).min(piece as u64) as usize;
            let open =
                s.open.get_or_insert_with(|| OpenFrame { frame: blob_frame(id, left), deadline: now + coalesce });
            let n = rest.len().min(HEADER + piece - open.frame.len());
            open.frame.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            s.sent += n as u64;
            if open.frame.len() == HEADER + piece
                && let Some(open) = s.open.take()
            {
                self.transmits.push_back(Transmit { lane: s.lane, frame: open.frame });
            }
        }
        let full = s.sent < s.expected && s.sent >= s.acked + self.config.window();
        if full && s.stall_at.is_none() {
            s.stall_at = Some(now + stall);
        }
        let done = s.sent == s.expected;
        // The receiver acknowledges only what it got: a full window must be on its way whole.
        if (done || full || coalesce.is_zero())
            && let Some(open) = s.open.take()
        {
            self.transmits.push_back(Transmit { lane: s.lane, frame: open.frame });
        }
        if done {
            self.sending.remove(&id);
        }
        take
    }

    /// Ends a blob this side sends with `error` (its source failed or ended early). Bytes it
    /// took go first.
    pub fn fail_blob(&mut self, lane: usize, id: u64, error: &ServiceError) {
        if let Some(Sending { open: Some(open), .. }) = self.sending.remove(&id) {
            self.transmits.push_back(Transmit { lane, frame: open.frame });
        }
        let mut body = serde_json::to_vec(error).unwrap_or_default();
        body.truncate(MAX_FRAME - HEADER);
        self.send(lane, Kind::BlobError, id, &body);
    }

    /// The connection ended with `error`: every waiting request fails, cut by it.
    pub fn close(&mut self, error: TransportError) {
        if self.closed.is_some() {
            return;
        }
        let cut = match error.kind() {
            crate::TransportErrorKind::Broken
            | crate::TransportErrorKind::Stalled
            | crate::TransportErrorKind::RelayLost => error.clone(),
            _ => TransportError::Cut(Box::new(error.clone())),
        };
        self.closed = Some(cut.clone());
        for (id, pending) in std::mem::take(&mut self.pending) {
            self.events.push_back(match pending {
                Pending::Call { .. } => Event::Reply { id, result: Err(cut.clone()) },
                Pending::Blob(_) => Event::BlobFailed { id, error: cut.clone() },
            });
        }
        for id in std::mem::take(&mut self.sending).into_keys() {
            self.events.push_back(Event::SendStopped { id, error: Some(cut.clone()) });
        }
        self.transmits.clear();
    }

    /// Whether this side is still sending blob `id` (it has bytes left to send).
    pub fn is_sending(&self, id: u64) -> bool {
        self.sending.contains_key(&id)
    }

    /// Blobs this side is sending.
    pub fn sending_count(&self) -> usize {
        self.sending.len()
    }

    /// Whether the connection ended (and with what requests are cut).
    pub fn closed(&self) -> Option<&TransportError> {
        self.closed.as_ref()
    }

    /// Handles one frame that arrived on `lane`. A frame that does not decode breaks the
    /// connection: the error is returned and the mux is closed.
    pub fn handle_frame(&mut self, now: Instant, lane: usize, data: Bytes) -> Result<(), TransportError> {
        if self.closed.is_some() {
            return Ok(());
        }
        let frame = match frame::decode(data) {
            Ok(f) => f,
            Err(e) => {
                let error = TransportError::protocol(ProtocolViolation::Frame(e));
                self.close(error.clone());
                return Err(error);
            }
        };
        let id = frame.id;
        match frame.kind {
            Kind::Request => self.events.push_back(Event::Request { lane, id, body: frame.body }),
            Kind::Reply => self.on_reply(id, &frame.body, true),
            Kind::ReplyPart => self.on_reply(id, &frame.body, false),
            Kind::BlobHead => self.on_blob_head(now, id, &frame.body),
            Kind::BlobData => self.on_blob_data(id, frame.body),
            Kind::BlobError => {
                let error = serde_json::from_slice::<ServiceError>(&frame.body)
                    .unwrap_or_else(|e| ServiceError::new("bad_error", format!("unreadable blob error: {e}")));
                if let Some(Pending::Blob(_)) = self.pending.get(&id) {
                    self.pending.remove(&id);
                    let error = if error.error == "stalled" {
                        // The sender gave up waiting for our acknowledgements.
                        TransportError::Stalled { after: self.config.stall }
                    } else {
                        TransportError::Refused { code: error.error, message: error.message }
                    };
                    self.events.push_back(Event::BlobFailed { id, error });
                }
            }
            Kind::Ack => {
                let window = self.config.window();
                if let (Some(s), Some(received)) = (self.sending.get_mut(&id), frame::parse_ack(&frame.body))
                    && received > s.acked
                {
                    s.acked = received.min(s.sent);
                    s.stall_at = None;
                    if s.sent < s.acked + window {
                        self.events.push_back(Event::SendWritable { id });
                    }
                }
            }
            Kind::Cancel => {
                if self.sending.remove(&id).is_some() {
                    self.events.push_back(Event::SendStopped { id, error: None });
                }
            }
        }
        Ok(())
    }

    fn on_reply(&mut self, id: u64, body: &[u8], last: bool) {
        match self.pending.get_mut(&id) {
            Some(Pending::Call { partial, .. }) => {
                if partial.len() + body.len() > MAX_REPLY_BYTES {
                    self.pending.remove(&id);
                    let error = TransportError::protocol(ProtocolViolation::ReplyTooLarge { limit: MAX_REPLY_BYTES });
                    self.events.push_back(Event::Reply { id, result: Err(error) });
                    return;
                }
                partial.extend_from_slice(body);
                if !last {
                    return;
                }
                if let Some(Pending::Call { partial, .. }) = self.pending.remove(&id) {
                    let result = serde_json::from_slice::<ReplyBody>(&partial)
                        .map_err(|e| TransportError::unparsable("reply", e));
                    self.events.push_back(Event::Reply { id, result });
                }
            }
            Some(Pending::Blob(_)) => {
                // A blob request answered with a plain reply: refused before any byte.
                self.pending.remove(&id);
                let error = match serde_json::from_slice::<ReplyBody>(body) {
                    Ok(ReplyBody::Err(e)) => TransportError::Refused { code: e.error, message: e.message },
                    Ok(ReplyBody::Ok(_)) => {
                        TransportError::protocol(ProtocolViolation::Unexpected("a blob request got a plain reply"))
                    }
                    Err(e) => TransportError::unparsable("reply", e),
                };
                self.events.push_back(Event::BlobFailed { id, error });
            }
            None => {}
        }
    }

    fn on_blob_head(&mut self, now: Instant, id: u64, body: &[u8]) {
        let stall = self.config.stall;
        let Some(Pending::Blob(r)) = self.pending.get_mut(&id) else { return };
        let failure = match serde_json::from_slice::<BlobHead>(body) {
            Err(e) => Some(TransportError::unparsable("blob head", e)),
            Ok(_) if r.remaining.is_some() => {
                Some(TransportError::protocol(ProtocolViolation::Unexpected("a second blob head")))
            }
            Ok(head) if head.offset != r.asked || head.offset > head.size => {
                Some(TransportError::protocol(ProtocolViolation::WrongOffset {
                    asked: r.asked,
                    offset: head.offset,
                    size: head.size,
                }))
            }
            Ok(head) => {
                let remaining = head.size - head.offset;
                r.remaining = Some(remaining);
                r.deadline = Some(now + stall);
                self.events.push_back(Event::BlobHead { id, size: head.size, offset: head.offset });
                if remaining == 0 {
                    self.pending.remove(&id);
                    self.events.push_back(Event::BlobDone { id });
                }
                None
            }
        };
        if let Some(error) = failure {
            self.fail_receiving(id, error);
        }
    }

    fn on_blob_data(&mut self, id: u64, bytes: Bytes) {
        let limit = self.config.receive_limit();
        let Some(Pending::Blob(r)) = self.pending.get_mut(&id) else { return };
        let failure = match r.remaining {
            None => Some(ProtocolViolation::Unexpected("blob bytes before the blob head")),
            Some(remaining) if r.delivered + bytes.len() as u64 > remaining => Some(ProtocolViolation::TooManyBytes),
            Some(_) if r.delivered + bytes.len() as u64 - r.consumed > limit => Some(ProtocolViolation::WindowIgnored),
            Some(_) => None,
        };
        if let Some(violation) = failure {
            self.fail_receiving(id, TransportError::protocol(violation));
            return;
        }
        r.delivered += bytes.len() as u64;
        // The reader has bytes to take: not stalled while it holds them.
        r.deadline = None;
        self.events.push_back(Event::BlobData { id, bytes });
    }

    /// Ends this side's blob request `id` with `error`, cancelling it at the peer.
    fn fail_receiving(&mut self, id: u64, error: TransportError) {
        if let Some(Pending::Blob(r)) = self.pending.remove(&id) {
            self.send(r.lane, Kind::Cancel, id, &[]);
        }
        self.events.push_back(Event::BlobFailed { id, error });
    }

    /// When [`Mux::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let waiting = self.pending.values().filter_map(|p| match p {
            Pending::Call { deadline, .. } => Some(*deadline),
            Pending::Blob(r) => r.deadline,
        });
        let sending = self.sending.values().flat_map(|s| [s.stall_at, s.open.as_ref().map(|o| o.deadline)]).flatten();
        waiting.chain(sending).min()
    }

    /// Fails what waited too long: calls and blob heads past the call timeout (timed out), blob
    /// reads with no bytes for the stall timeout, blob sends with no acknowledgement for it
    /// (stalled; the receiver learns it from a `stalled` blob error). Sends the open blob frames
    /// that waited [`MuxConfig::coalesce`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let (call_timeout, stall) = (self.config.call_timeout, self.config.stall);
        for s in self.sending.values_mut() {
            if s.open.as_ref().is_some_and(|o| o.deadline <= now)
                && let Some(open) = s.open.take()
            {
                self.transmits.push_back(Transmit { lane: s.lane, frame: open.frame });
            }
        }
        let expired: Vec<(u64, bool)> = self
            .pending
            .iter()
            .filter_map(|(id, p)| match p {
                Pending::Call { deadline, .. } if *deadline <= now => Some((*id, true)),
                Pending::Blob(r) if r.deadline.is_some_and(|d| d <= now) => Some((*id, r.remaining.is_none())),
                _ => None,
            })
            .collect();
        for (id, before_head) in expired {
            let error = if before_head {
                TransportError::TimedOut { after: Some(call_timeout) }
            } else {
                TransportError::Stalled { after: stall }
            };
            match self.pending.get(&id) {
                Some(Pending::Call { .. }) => {
                    self.pending.remove(&id);
                    self.events.push_back(Event::Reply { id, result: Err(error) });
                }
                _ => self.fail_receiving(id, error),
            }
        }
        let stalled: Vec<(u64, usize)> = self
            .sending
            .iter()
            .filter(|(_, s)| s.stall_at.is_some_and(|t| t <= now))
            .map(|(id, s)| (*id, s.lane))
            .collect();
        for (id, lane) in stalled {
            self.fail_blob(lane, id, &ServiceError::new("stalled", "no acknowledgement"));
            self.events.push_back(Event::SendStopped { id, error: Some(TransportError::Stalled { after: stall }) });
        }
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event to hand on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// A blob data frame's header, with room for `body` bytes.
fn blob_frame(id: u64, body: usize) -> BytesMut {
    let mut frame = BytesMut::with_capacity(HEADER + body);
    frame.put_u8(Kind::BlobData as u8);
    frame.put_u64(id);
    frame
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    //! Two muxes back to back in virtual time: `progress` carries every frame across until both
    //! are quiet, and a small driver on each side serves blobs from memory and reads them.

    use std::collections::HashMap;

    use super::*;

    const KIB: usize = 1024;

    /// One side: its mux, the blobs it serves, and what its reader received.
    struct Side {
        mux: Mux,
        blobs: HashMap<String, Bytes>,
        /// Blobs whose source gives this many bytes and then nothing (a stuck disk).
        hang_after: Option<usize>,
        /// Bytes of blobs being served, not yet taken by the mux.
        serving: BTreeMap<u64, Bytes>,
        /// Whether the reader takes bytes as they come (else it holds them, unread).
        reading: bool,
        received: HashMap<u64, Vec<u8>>,
        unread: HashMap<u64, u64>,
        events: Vec<Event>,
    }

    impl Side {
        fn new(config: MuxConfig) -> Self {
            Self {
                mux: Mux::new(config),
                blobs: HashMap::new(),
                hang_after: None,
                serving: BTreeMap::new(),
                reading: true,
                received: HashMap::new(),
                unread: HashMap::new(),
                events: Vec::new(),
            }
        }

        fn ask_blob(&mut self, now: Instant, name: &str, offset: u64) -> u64 {
            let request = serde_json::json!({ "blob": name, "offset": offset }).to_string();
            self.mux.get_blob(now, 1, request.as_bytes(), offset).unwrap()
        }

        /// The reader takes what it holds.
        fn read(&mut self, now: Instant) {
            for (id, n) in std::mem::take(&mut self.unread) {
                self.mux.consumed(now, id, n);
            }
        }

        /// What a driver does with the mux's events: serve requests, hand bytes to the reader,
        /// feed the window from the source.
        fn drive(&mut self, now: Instant) {
            loop {
                while let Some(event) = self.mux.poll_event() {
                    match &event {
                        Event::Request { lane, id, body } => {
                            let asked: serde_json::Value = serde_json::from_slice(body).unwrap();
                            if let Some(name) = asked["blob"].as_str() {
                                let offset = asked["offset"].as_u64().unwrap();
                                match self.blobs.get(name) {
                                    Some(bytes) => {
                                        self.mux.start_blob(*lane, *id, bytes.len() as u64, offset);
                                        let mut rest = bytes.slice(offset as usize..);
                                        if let Some(n) = self.hang_after {
                                            rest.truncate(n);
                                        }
                                        self.serving.insert(*id, rest);
                                    }
                                    None => {
                                        let reply = ReplyBody::Err(ServiceError::new("not_found", "no such blob"));
                                        self.mux.reply(*lane, *id, &reply).unwrap();
                                    }
                                }
                            } else {
                                let pad = asked["pad"].as_u64().unwrap_or(0) as usize;
                                let reply = ReplyBody::Err(ServiceError::new("echo", "x".repeat(pad)));
                                self.mux.reply(*lane, *id, &reply).unwrap();
                            }
                        }
                        Event::BlobData { id, bytes } => {
                            self.received.entry(*id).or_default().extend_from_slice(bytes);
                            *self.unread.entry(*id).or_default() += bytes.len() as u64;
                        }
                        Event::SendStopped { id, .. } => {
                            self.serving.remove(id);
                        }
                        _ => {}
                    }
                    self.events.push(event);
                }
                if self.reading && !self.unread.is_empty() {
                    self.read(now);
                    continue;
                }
                let mut fed = false;
                for (id, rest) in self.serving.iter_mut() {
                    let n = self.mux.send_blob_data(now, *id, rest);
                    fed |= n > 0;
                    let _ = rest.split_to(n);
                }
                self.serving.retain(|_, rest| !rest.is_empty());
                if !fed && self.mux.events.is_empty() {
                    return;
                }
            }
        }

        fn failure(&self, id: u64) -> Option<&TransportError> {
            self.events.iter().find_map(|e| match e {
                Event::BlobFailed { id: i, error } if *i == id => Some(error),
                _ => None,
            })
        }

        fn done(&self, id: u64) -> bool {
            self.events.iter().any(|e| matches!(e, Event::BlobDone { id: i } if *i == id))
        }

        /// Bytes in flight of blob `id` this side sends: sent, not yet acknowledged.
        fn in_flight(&self, id: u64) -> u64 {
            self.mux.sending.get(&id).map_or(0, |s| s.sent - s.acked)
        }
    }

    /// Carries frames both ways until neither side has anything to send (str0m's `progress`).
    fn progress(a: &mut Side, b: &mut Side, now: Instant) {
        loop {
            a.drive(now);
            b.drive(now);
            let mut moved = false;
            while let Some(t) = a.mux.poll_transmit() {
                b.mux.handle_frame(now, t.lane, t.frame.freeze()).unwrap();
                moved = true;
            }
            while let Some(t) = b.mux.poll_transmit() {
                a.mux.handle_frame(now, t.lane, t.frame.freeze()).unwrap();
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// Every frame goes at once (no coalescing): the tests below that count bytes at an instant
    /// are about the window, not about frames.
    fn config() -> MuxConfig {
        MuxConfig {
            window: 64 * KIB as u64,
            frame_size: 16 * KIB,
            stall: Duration::from_secs(30),
            call_timeout: Duration::from_secs(60),
            coalesce: Duration::ZERO,
        }
    }

    fn blob(len: usize) -> Bytes {
        Bytes::from((0..len).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>())
    }

    fn pair(blobs: &[(&str, Bytes)]) -> (Side, Side) {
        let a = Side::new(config());
        let mut b = Side::new(config());
        b.blobs = blobs.iter().map(|(n, bytes)| (n.to_string(), bytes.clone())).collect();
        (a, b)
    }

    #[test]
    fn mux_flow_control_never_exceeds_the_window_and_resumes_on_ack() {
        let big = blob(1024 * KIB);
        let (mut a, mut b) = pair(&[("big", big.clone())]);
        let now = Instant::now();
        a.reading = false;
        let id = a.ask_blob(now, "big", 0);
        progress(&mut a, &mut b, now);
        // The reader holds what came: exactly one window, and the sender waits.
        assert_eq!(a.received[&id].len(), 64 * KIB);
        assert_eq!(b.in_flight(id), 64 * KIB as u64);
        assert_eq!(b.mux.blob_room(id), 0);
        // Each time the reader takes its bytes, acknowledgements open the window again.
        let mut rounds = 0;
        while !a.done(id) {
            a.read(now);
            progress(&mut a, &mut b, now);
            assert!(b.in_flight(id) <= 64 * KIB as u64, "more than a window in flight");
            rounds += 1;
            assert!(rounds < 100, "no progress");
        }
        assert_eq!(a.received[&id], big);
        assert!(rounds >= 1024 / 64 - 1, "the reader had to take bytes {rounds} times");
        assert!(b.mux.sending.is_empty() && a.mux.pending.is_empty());
    }

    #[test]
    fn mux_a_source_that_stops_fails_the_reader_with_stalled_after_the_stall_timeout() {
        let (mut a, mut b) = pair(&[("stuck", blob(300 * KIB))]);
        b.hang_after = Some(100 * KIB);
        let start = Instant::now();
        let id = a.ask_blob(start, "stuck", 0);
        progress(&mut a, &mut b, start);
        assert_eq!(a.received[&id].len(), 100 * KIB);
        // The reader waits; its stall clock runs from when it took the last byte.
        assert_eq!(a.mux.poll_timeout(), Some(start + Duration::from_secs(30)));
        a.mux.handle_timeout(start + Duration::from_secs(29));
        progress(&mut a, &mut b, start + Duration::from_secs(29));
        assert!(a.failure(id).is_none());
        let later = start + Duration::from_secs(30);
        a.mux.handle_timeout(later);
        progress(&mut a, &mut b, later);
        let error = a.failure(id).expect("stalled");
        assert!(matches!(error, TransportError::Stalled { after } if *after == Duration::from_secs(30)), "{error:?}");
        // The sender was told (cancel) and stopped.
        assert!(b.events.iter().any(|e| matches!(e, Event::SendStopped { id: i, error: None } if *i == id)));
        assert!(b.mux.sending.is_empty());
    }

    #[test]
    fn mux_a_reader_that_stops_reading_makes_the_sender_give_up_and_the_reader_learns_it() {
        let (mut a, mut b) = pair(&[("big", blob(1024 * KIB))]);
        let start = Instant::now();
        a.reading = false;
        let id = a.ask_blob(start, "big", 0);
        progress(&mut a, &mut b, start);
        // The window is full; the sender's clock runs, the reader's does not (it holds bytes).
        assert_eq!(b.mux.poll_timeout(), Some(start + Duration::from_secs(30)));
        assert_eq!(a.mux.poll_timeout(), None);
        let later = start + Duration::from_secs(30);
        b.mux.handle_timeout(later);
        progress(&mut a, &mut b, later);
        let error = a.failure(id).expect("the reader learns the sender gave up");
        assert!(matches!(error, TransportError::Stalled { .. }), "{error:?}");
        assert!(a.received[&id].len() <= 64 * KIB);
        assert!(b.mux.sending.is_empty());
    }

    #[test]
    fn mux_a_broken_transfer_resumes_from_its_offset_on_a_new_connection() {
        let big = blob(512 * KIB);
        let (mut a, mut b) = pair(&[("big", big.clone())]);
        let now = Instant::now();
        a.reading = false;
        let id = a.ask_blob(now, "big", 0);
        progress(&mut a, &mut b, now);
        a.read(now);
        progress(&mut a, &mut b, now);
        let got = a.received[&id].clone();
        assert!(!got.is_empty() && got.len() < big.len());
        // The connection breaks: the reader gets `broken`.
        a.mux.close(TransportError::broken("a data channel closed"));
        b.mux.close(TransportError::broken("a data channel closed"));
        a.drive(now);
        assert_eq!(a.failure(id).map(TransportError::kind), Some(crate::TransportErrorKind::Broken));
        assert!(a.mux.get_blob(now, 1, b"{}", 0).is_err(), "a closed mux takes no requests");

        // A new connection, asked from the bytes received so far.
        let (mut a2, mut b2) = pair(&[("big", big.clone())]);
        let id2 = a2.ask_blob(now, "big", got.len() as u64);
        progress(&mut a2, &mut b2, now);
        assert!(a2.events.iter().any(|e| matches!(e, Event::BlobHead { offset, .. } if *offset == got.len() as u64)));
        assert!(a2.done(id2));
        let mut whole = got;
        whole.extend_from_slice(&a2.received[&id2]);
        assert_eq!(whole, big);
    }

    #[test]
    fn mux_a_peer_resuming_at_another_offset_is_a_protocol_error() {
        let (mut a, mut b) = pair(&[("big", blob(64 * KIB))]);
        let now = Instant::now();
        let request = serde_json::json!({ "blob": "big", "offset": 0 }).to_string();
        // This side asks for offset 1000 but the (misbehaving) peer serves from 0.
        let id = a.mux.get_blob(now, 1, request.as_bytes(), 1000).unwrap();
        progress(&mut a, &mut b, now);
        let error = a.failure(id).expect("refused");
        assert!(
            matches!(
                error,
                TransportError::Protocol { what: ProtocolViolation::WrongOffset { asked: 1000, offset: 0, .. }, .. }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn mux_replies_are_reassembled_and_refusals_keep_the_peers_code() {
        let (mut a, mut b) = pair(&[]);
        let now = Instant::now();
        let call = a.mux.call(now, 0, br#"{"pad": 200000}"#).unwrap();
        let missing = a.ask_blob(now, "missing", 0);
        progress(&mut a, &mut b, now);
        let reply = a.events.iter().find_map(|e| match e {
            Event::Reply { id, result } if *id == call => Some(result.clone()),
            _ => None,
        });
        match reply {
            Some(Ok(ReplyBody::Err(e))) => assert_eq!((e.error.as_str(), e.message.len()), ("echo", 200_000)),
            other => panic!("{other:?}"),
        }
        let error = a.failure(missing).expect("refused");
        assert!(error.is_not_found(), "{error:?}");
        assert_eq!(error.kind(), crate::TransportErrorKind::Refused);
    }

    #[test]
    fn mux_a_call_without_answer_times_out() {
        let (mut a, _b) = pair(&[]);
        let start = Instant::now();
        let id = a.mux.call(start, 0, b"{}").unwrap();
        let _lost = a.mux.poll_transmit();
        assert_eq!(a.mux.poll_timeout(), Some(start + Duration::from_secs(60)));
        a.mux.handle_timeout(start + Duration::from_secs(60));
        match a.mux.poll_event() {
            Some(Event::Reply { id: i, result: Err(TransportError::TimedOut { after: Some(after) }) }) => {
                assert_eq!((i, after), (id, Duration::from_secs(60)));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Moves every frame `from` has to send into `to`; returns each frame's kind and length.
    fn carry(from: &mut Mux, to: &mut Mux, now: Instant) -> Vec<(u8, usize)> {
        let mut moved = Vec::new();
        while let Some(t) = from.poll_transmit() {
            moved.push((t.frame[0], t.frame.len()));
            to.handle_frame(now, t.lane, t.frame.freeze()).unwrap();
        }
        moved
    }

    /// Lengths of the blob data frames among `frames`.
    fn data(frames: &[(u8, usize)]) -> Vec<usize> {
        frames.iter().filter(|(k, _)| *k == Kind::BlobData as u8).map(|(_, n)| *n).collect()
    }

    /// The bytes of blob `id` among `mux`'s events, and whether it arrived whole.
    fn arrived(mux: &mut Mux, id: u64) -> (Vec<u8>, bool) {
        let (mut bytes, mut done) = (Vec::new(), false);
        while let Some(event) = mux.poll_event() {
            match event {
                Event::BlobData { id: i, bytes: b } if i == id => {
                    mux.consumed(Instant::now(), id, b.len() as u64);
                    bytes.extend_from_slice(&b);
                }
                Event::BlobDone { id: i } if i == id => done = true,
                _ => {}
            }
        }
        (bytes, done)
    }

    /// A receiver `a` that asked `b` for a blob of `size` bytes, and the id `b` serves it as.
    fn serving(config: &MuxConfig, size: usize, now: Instant) -> (Mux, Mux, u64, u64) {
        let (mut a, mut b) = (Mux::new(config.clone()), Mux::new(config.clone()));
        let id = a.get_blob(now, 1, b"{}", 0).unwrap();
        carry(&mut a, &mut b, now);
        let Some(Event::Request { lane, id: served, .. }) = b.poll_event() else { panic!("no request") };
        b.start_blob(lane, served, size as u64, 0);
        carry(&mut b, &mut a, now);
        assert!(matches!(a.poll_event(), Some(Event::BlobHead { .. })));
        (a, b, id, served)
    }

    #[test]
    fn mux_reads_that_do_not_fill_a_frame_go_in_full_frames() {
        let piece = 16 * KIB - HEADER;
        let big = blob(256 * KIB);
        let start = Instant::now();
        // A source that reads 16 KiB at a time, 100 µs apart: a frame's body and 9 bytes.
        let frames = |coalesce: Duration| {
            let config = MuxConfig { coalesce, window: 1024 * KIB as u64, ..config() };
            let (mut a, mut b, id, served) = serving(&config, big.len(), start);
            let mut sizes = Vec::new();
            let mut received = Vec::new();
            for (i, read) in big.chunks(16 * KIB).enumerate() {
                let now = start + Duration::from_micros(100 * i as u64);
                assert_eq!(b.send_blob_data(now, served, read), read.len());
                sizes.extend(data(&carry(&mut b, &mut a, now)));
                received.extend(arrived(&mut a, id).0);
            }
            assert_eq!(received, big);
            assert!(b.sending.is_empty() && b.poll_timeout().is_none(), "nothing left open");
            sizes
        };
        let coalesced = frames(Duration::from_millis(5));
        assert_eq!(coalesced.len(), big.len().div_ceil(piece));
        let (last, full) = coalesced.split_last().unwrap();
        assert!(full.iter().all(|n| *n == HEADER + piece), "{coalesced:?}");
        assert_eq!(*last, HEADER + big.len() % piece);
        // Without coalescing, each read ends in a frame of its own.
        let apart = frames(Duration::ZERO);
        assert_eq!(apart.len(), 2 * big.len() / (16 * KIB));
        assert!(apart.contains(&(HEADER + 9)));
    }

    #[test]
    fn mux_a_frame_that_is_not_full_waits_for_the_next_read_at_most_the_coalesce_delay() {
        let piece = 16 * KIB - HEADER;
        let config = MuxConfig { coalesce: Duration::from_millis(5), window: 1024 * KIB as u64, ..config() };
        let big = blob(256 * KIB);
        let start = Instant::now();
        let (mut a, mut b, id, served) = serving(&config, big.len(), start);
        b.send_blob_data(start, served, &big[..16 * KIB]);
        assert_eq!(data(&carry(&mut b, &mut a, start)), [HEADER + piece]);
        // The source pauses: its 9 bytes wait for the next read, until the delay runs out.
        assert_eq!(b.poll_timeout(), Some(start + Duration::from_millis(5)));
        b.handle_timeout(start + Duration::from_millis(4));
        assert!(b.poll_transmit().is_none());
        b.handle_timeout(start + Duration::from_millis(5));
        assert_eq!(data(&carry(&mut b, &mut a, start)), [HEADER + 9]);
        assert_eq!(arrived(&mut a, id).0, &big[..16 * KIB]);
        assert_eq!(b.poll_timeout(), None, "nothing open, the window is not full");
        // A source that fails after a read: the bytes it gave go before the error.
        let later = start + Duration::from_millis(6);
        b.send_blob_data(later, served, &big[16 * KIB..32 * KIB]);
        b.fail_blob(1, served, &ServiceError::new("read_failed", "disk"));
        let frames = carry(&mut b, &mut a, later);
        assert_eq!(data(&frames), [HEADER + piece, HEADER + 9]);
        assert_eq!(frames.last().map(|(k, _)| *k), Some(Kind::BlobError as u8));
        assert_eq!(arrived(&mut a, id).0, &big[16 * KIB..32 * KIB]);
    }

    #[test]
    fn mux_bytes_that_fill_the_window_go_at_once() {
        // 64 KiB is not a whole number of frames: the window ends in a frame that is not full.
        let config = MuxConfig { coalesce: Duration::from_millis(5), ..config() };
        let big = blob(256 * KIB);
        let start = Instant::now();
        let (mut a, mut b, id, served) = serving(&config, big.len(), start);
        let mut sent = 0;
        for read in big.chunks(16 * KIB) {
            let n = b.send_blob_data(start, served, read);
            sent += n;
            if n < read.len() {
                break;
            }
        }
        assert_eq!(sent, 64 * KIB);
        carry(&mut b, &mut a, start);
        // Everything in flight reached the receiver without waiting: the window can move again.
        let mut received = Vec::new();
        let (bytes, _) = arrived(&mut a, id);
        received.extend(bytes);
        assert_eq!(received, &big[..64 * KIB]);
        // The sender's timer is its stall clock, not a frame waiting.
        assert_eq!(b.poll_timeout(), Some(start + Duration::from_secs(30)));
        // The receiver acknowledged what it read (every quarter window): the window moved.
        carry(&mut a, &mut b, start);
        assert!(b.blob_room(served) > 48 * KIB as u64, "{}", b.blob_room(served));
        assert_eq!(b.poll_timeout(), None);
    }
}
