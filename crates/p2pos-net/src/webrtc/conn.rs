//! One WebRTC connection to a peer node: its data channels, and the one driver task that owns
//! the connection's [`Mux`] (request ids, reply reassembly, the blob window, stalls; see
//! [`super::mux`]).
//!
//! Ownership: [`WebRtcTransport`] owns the connection. Callers talk to its driver through a
//! command channel: a oneshot brings back each reply, an mpsc each blob's bytes. The driver
//! `select!`s over the `PeerConnection`'s events, the frames of every data channel, the
//! commands, the requests being served and the mux's timer, then drains the mux's transmits and
//! events. Its helpers (one writer per data channel, the hub signal sender, one task per request
//! being served) live in a `JoinSet` it owns, so they stop with it. The driver stops when the
//! core's `closed` token is cancelled (the connection broke, was closed, or its last
//! `WebRtcTransport` handle was dropped): it fails what still waits, tells the peer (through the
//! hub) and closes the `PeerConnection`.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use ed25519_dalek::SigningKey;
use futures_util::stream::SelectAll;
use futures_util::{Stream, StreamExt};
use p2pos_core::{BlobId, NodeId};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit, RTCIceCandidateType, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};

use super::WebRtcConfig;
use super::frame::{BlobHead, ReplyBody};
use super::mux::{COALESCE, Event, Mux, MuxConfig};
use super::signal::RtcSignal;
use crate::auth::{ReplayGuard, SignedRequest, sign_request};
pub(crate) use crate::clock::lock;
use crate::clock::now_ms;
use crate::hub::HubHandle;
use crate::{
    BlobBody, ByteStream, NoPathReason, PathKind, PeerRequest, PeerResponse, PeerService, PeerTransport, ServiceError,
    TransportError, TransportErrorKind,
};

/// Label of the channel that carries calls.
pub(crate) const CTL_LABEL: &str = "p2pos/ctl";
/// Prefix of the labels of the channels that carry blobs (`p2pos/blob/1`, …).
pub(crate) const BLOB_LABEL_PREFIX: &str = "p2pos/blob/";

/// Requests from the peer served at once on one connection; more are answered `busy`.
const MAX_SERVING: usize = 64;

/// What every connection of an endpoint needs.
pub(crate) struct Deps {
    pub me: NodeId,
    pub key: SigningKey,
    pub hub: HubHandle,
    pub service: Arc<dyn PeerService>,
    pub guard: Arc<Mutex<ReplayGuard>>,
    pub config: WebRtcConfig,
}

/// Which side of the offer/answer exchange this node was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Offerer,
    Answerer,
}

/// Where a connection is in its life.
#[derive(Debug, Clone)]
pub(crate) enum ConnState {
    Connecting,
    Ready,
    Closed {
        error: TransportError,
        /// Given up in favour of the peer's simultaneous offer (glare): whoever waits on it should
        /// wait for the connection that replaced it.
        superseded: bool,
        /// Whether to send the peer a `close` signal (not when the peer is the one who ended it).
        tell_peer: bool,
    },
}

/// Events from the `PeerConnection` (its handler runs on the stack's task and must not block, so
/// it only forwards).
pub(crate) enum PcEvent {
    Candidate(RTCIceCandidateInit),
    State(RTCPeerConnectionState),
    DataChannel(Arc<dyn DataChannel>),
}

/// Forwards `PeerConnection` events to the connection's driver.
pub(crate) struct Handler {
    pub tx: mpsc::UnboundedSender<PcEvent>,
}

#[async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => {
                let _ = self.tx.send(PcEvent::Candidate(init));
            }
            Err(e) => tracing::debug!(error = %e, "unusable local ICE candidate"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.tx.send(PcEvent::State(state));
    }

    async fn on_data_channel(&self, data_channel: Arc<dyn DataChannel>) {
        let _ = self.tx.send(PcEvent::DataChannel(data_channel));
    }
}

/// One data channel and its send-side flow control (shared by the connection's writer, the
/// browser client sessions and [`super::DataPeer`]).
pub(crate) struct Chan {
    dc: Arc<dyn DataChannel>,
    label: String,
    /// Set when the channel's buffered amount rose above the high threshold, cleared when it fell
    /// below the low threshold (`OnBufferedAmountHigh` / `OnBufferedAmountLow`).
    paused: AtomicBool,
    low: Notify,
}

impl Chan {
    pub(crate) async fn new(dc: Arc<dyn DataChannel>, config: &WebRtcConfig) -> Result<Arc<Self>, TransportError> {
        let label = dc.label().await.map_err(|e| TransportError::broken_by("data channel", e))?;
        dc.set_buffered_amount_low_threshold(config.buffered_low)
            .await
            .map_err(|e| TransportError::broken_by("data channel", e))?;
        dc.set_buffered_amount_high_threshold(config.buffered_high)
            .await
            .map_err(|e| TransportError::broken_by("data channel", e))?;
        Ok(Arc::new(Self { dc, label, paused: AtomicBool::new(false), low: Notify::new() }))
    }

    pub(crate) fn dc(&self) -> &Arc<dyn DataChannel> {
        &self.dc
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    fn is_ctl(&self) -> bool {
        self.label == CTL_LABEL
    }

    /// Notes the channel's `OnBufferedAmountHigh` (`true`) or `OnBufferedAmountLow` event.
    pub(crate) fn on_buffered(&self, high: bool) {
        self.paused.store(high, Ordering::Release);
        if !high {
            self.low.notify_waiters();
        }
    }

    pub(crate) async fn send(&self, frame: BytesMut) -> Result<(), TransportError> {
        self.dc.send(frame).await.map_err(|e| TransportError::broken_by("sending on a data channel", e))
    }

    /// Waits until everything sent on the channel has left its send buffer (at most `stall`), so
    /// that closing the connection right after does not cut off the last frames.
    pub(crate) async fn drained(&self, stall: Duration) -> Result<(), TransportError> {
        let deadline = Instant::now() + stall;
        loop {
            match self.dc.outstanding_bytes().await {
                Ok(0) => return Ok(()),
                Ok(_) if Instant::now() >= deadline => return Err(TransportError::Stalled { after: stall }),
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => return Err(TransportError::broken_by("data channel", e)),
            }
        }
    }

    /// Waits until the channel's send buffer has drained below the low threshold, if it went
    /// above the high one.
    pub(crate) async fn writable(&self, low: u32, stall: Duration) -> Result<(), TransportError> {
        let deadline = Instant::now() + stall;
        while self.paused.load(Ordering::Acquire) {
            let notified = self.low.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.paused.load(Ordering::Acquire) {
                break;
            }
            if tokio::time::timeout(Duration::from_millis(50), notified).await.is_err() {
                // Backstop for a missed event: ask the channel itself.
                match self.dc.outstanding_bytes().await {
                    Ok(n) if n <= low as usize => self.paused.store(false, Ordering::Release),
                    Ok(_) => {}
                    Err(e) => return Err(TransportError::broken_by("data channel", e)),
                }
                if Instant::now() >= deadline {
                    return Err(TransportError::Stalled { after: stall });
                }
            }
        }
        Ok(())
    }
}

/// Signals to send through the hub, in order.
pub(crate) enum SignalOut {
    Signal(RtcSignal),
    Candidate(RTCIceCandidateInit),
}

/// What callers ask of the driver.
enum Cmd {
    /// Send a signed request; the reply comes back on `reply`.
    Call { request: Vec<u8>, reply: oneshot::Sender<Result<PeerResponse, TransportError>> },
    /// Ask for a blob; its head (and a receiver of its bytes) comes back on `reply`.
    GetBlob { request: Vec<u8>, offset: u64, reply: oneshot::Sender<Result<BlobStart, TransportError>> },
    /// The reader of blob `id` took `bytes` more bytes.
    Consumed { id: u64, bytes: u64 },
    /// The reader of blob `id` is gone.
    Cancel { id: u64 },
    /// How many blobs this side is sending (a test hook).
    Count { reply: oneshot::Sender<usize> },
}

/// The start of a blob this side asked for.
struct BlobStart {
    head: BlobHead,
    id: u64,
    bytes: mpsc::UnboundedReceiver<Result<Bytes, TransportError>>,
}

/// Someone on this side waiting for the peer's answer to request `id`.
enum Waiter {
    Call(oneshot::Sender<Result<PeerResponse, TransportError>>),
    Head { lane: usize, tx: oneshot::Sender<Result<BlobStart, TransportError>> },
    Bytes { lane: usize, tx: mpsc::UnboundedSender<Result<Bytes, TransportError>> },
}

/// A blob this side is sending: its source and the bytes read from it that the window did not
/// take yet.
struct Outgoing {
    lane: usize,
    source: ByteStream,
    held: Option<Bytes>,
}

/// What a task serving one of the peer's requests ends with.
enum Served {
    Reply(ReplyBody),
    Blob(BlobBody),
}

/// How a task of the driver ended.
enum TaskEnd {
    Served { lane: usize, id: u64, served: Served },
    Writer(Result<(), TransportError>),
    Signals,
}

/// A data channel as the driver sees it.
struct Lane {
    chan: Arc<Chan>,
    open: bool,
    ctrl: mpsc::UnboundedSender<BytesMut>,
    bulk: mpsc::UnboundedSender<BytesMut>,
    /// Bytes handed to the writer's bulk queue and not yet written to the channel (the driver
    /// adds, the writer takes off): blob sources on this lane are read only while this is under
    /// `buffered_high`, so a peer that acks ahead cannot make this node read a blob into memory.
    queued: Arc<AtomicUsize>,
}

type Reader = Pin<Box<dyn Stream<Item = (usize, Option<DataChannelEvent>)> + Send>>;

/// What the connection's handles share with its driver: who and what it is, its state, and the
/// way to send it commands. Everything that changes as the connection runs is the driver's.
pub(crate) struct ConnCore {
    pub deps: Arc<Deps>,
    pub peer: NodeId,
    pub session: String,
    pub role: Role,
    pub state: watch::Sender<ConnState>,
    pub closed: CancellationToken,
    /// The selected path, set once when the connection is ready.
    path: OnceLock<Option<PathKind>>,
    cmds: mpsc::UnboundedSender<Cmd>,
    pub signals: mpsc::UnboundedSender<SignalOut>,
    /// Whether the remote description is applied (candidates that arrive earlier wait). Set by
    /// the endpoint, which applies descriptions and candidates under its slots lock.
    pub remote_set: AtomicBool,
    pub early_candidates: Mutex<Vec<RTCIceCandidateInit>>,
    /// Whether the ICE servers included a TURN server (with whether it gave a relay candidate, it
    /// says why a connection found no path).
    turn_offered: bool,
    /// Whether ICE gathered a relay candidate (written by the driver, read when the endpoint
    /// gives up waiting, to say why).
    relay_gathered: AtomicBool,
    /// When this connection was begun (offer made or received): its set-up time is logged.
    created: Instant,
}

impl fmt::Debug for ConnCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnCore")
            .field("peer", &self.peer)
            .field("session", &self.session)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// What the driver starts with: the receiving ends of the core's queues and the channels this
/// side created.
pub(crate) struct Queues {
    cmds: mpsc::UnboundedReceiver<Cmd>,
    signals: mpsc::UnboundedReceiver<SignalOut>,
    events: mpsc::UnboundedReceiver<PcEvent>,
    local: Vec<Arc<Chan>>,
}

impl Queues {
    /// Registers a channel this side created, before it opens.
    pub(crate) fn add_local_channel(&mut self, chan: Arc<Chan>) {
        self.local.push(chan);
    }
}

impl ConnCore {
    /// A new connection's core. `events_rx` must receive what the `PeerConnection`'s [`Handler`]
    /// sends; `turn_offered`: whether its ICE servers include a TURN server.
    pub(crate) fn new(
        deps: Arc<Deps>,
        peer: NodeId,
        session: String,
        role: Role,
        events_rx: mpsc::UnboundedReceiver<PcEvent>,
        turn_offered: bool,
    ) -> (Arc<Self>, Queues) {
        let (cmds, cmds_rx) = mpsc::unbounded_channel();
        let (signals, signals_rx) = mpsc::unbounded_channel();
        let core = Arc::new(Self {
            deps,
            peer,
            session,
            role,
            state: watch::Sender::new(ConnState::Connecting),
            closed: CancellationToken::new(),
            path: OnceLock::new(),
            cmds,
            signals,
            remote_set: AtomicBool::new(false),
            early_candidates: Mutex::new(Vec::new()),
            turn_offered,
            relay_gathered: AtomicBool::new(false),
            created: Instant::now(),
        });
        (core, Queues { cmds: cmds_rx, signals: signals_rx, events: events_rx, local: Vec::new() })
    }

    /// Why no path was found.
    pub(crate) fn no_path(&self) -> NoPathReason {
        match (self.turn_offered, self.relay_gathered.load(Ordering::Acquire)) {
            (true, false) => NoPathReason::RelayUnavailable,
            (false, _) => NoPathReason::NoRelayOffered,
            (true, true) => NoPathReason::NothingWorked,
        }
    }

    pub(crate) fn is_connecting(&self) -> bool {
        matches!(*self.state.borrow(), ConnState::Connecting)
    }

    pub(crate) fn is_ready(&self) -> bool {
        matches!(*self.state.borrow(), ConnState::Ready)
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(*self.state.borrow(), ConnState::Closed { .. })
    }

    /// Ends the connection with `error` (what waiters and later requests get). `tell_peer`: send
    /// the peer a `close` signal (not when the peer is the one who ended it). The driver does the
    /// rest once it sees `closed`.
    pub(crate) fn shutdown(&self, error: TransportError, superseded: bool, tell_peer: bool) {
        let mut first = false;
        self.state.send_if_modified(|s| {
            if matches!(s, ConnState::Closed { .. }) {
                return false;
            }
            *s = ConnState::Closed { error: error.clone(), superseded, tell_peer };
            first = true;
            true
        });
        if first {
            tracing::debug!(peer = %self.peer.short(), session = %self.session, %error, "WebRTC connection closed");
            self.closed.cancel();
        }
    }

    /// The error a request gets from a connection that is not (or no longer) up.
    fn closed_error(&self) -> TransportError {
        match &*self.state.borrow() {
            ConnState::Closed { error, .. } => cut_by(error),
            ConnState::Connecting => TransportError::unreachable("not connected yet"),
            ConnState::Ready => TransportError::broken("connection closed"),
        }
    }

    pub(crate) fn path(&self) -> Option<PathKind> {
        self.path.get().copied().flatten()
    }

    fn send(&self, cmd: Cmd) -> Result<(), TransportError> {
        if self.closed.is_cancelled() {
            return Err(self.closed_error());
        }
        self.cmds.send(cmd).map_err(|_| self.closed_error())
    }

    pub(crate) async fn call_signed(&self, signed: &SignedRequest) -> Result<PeerResponse, TransportError> {
        let request = serde_json::to_vec(signed).map_err(|e| TransportError::unparsable("request", e))?;
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Call { request, reply })?;
        rx.await.unwrap_or_else(|_| Err(self.closed_error()))
    }

    pub(crate) async fn get_blob(self: &Arc<Self>, blob: BlobId, offset: u64) -> Result<BlobBody, TransportError> {
        let signed = sign_request(&self.deps.key, self.peer, now_ms(), &PeerRequest::GetBlob { id: blob, offset });
        let request = serde_json::to_vec(&signed).map_err(|e| TransportError::unparsable("request", e))?;
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::GetBlob { request, offset, reply })?;
        let start = rx.await.unwrap_or_else(|_| Err(self.closed_error()))?;
        let remaining = start.head.size - start.head.offset;
        let reading =
            Reading { core: self.clone(), id: start.id, bytes: start.bytes, remaining, received: 0, done: false };
        let stream = futures_util::stream::unfold(reading, |mut r| async move {
            if r.done || r.received >= r.remaining {
                return None;
            }
            let item = match r.bytes.recv().await {
                Some(Ok(bytes)) => {
                    r.received += bytes.len() as u64;
                    let _ = r.core.cmds.send(Cmd::Consumed { id: r.id, bytes: bytes.len() as u64 });
                    Ok(bytes)
                }
                Some(Err(e)) => Err(e),
                None => Err(r.core.closed_error()),
            };
            r.done = item.is_err();
            Some((item, r))
        });
        Ok(BlobBody { size: start.head.size, offset: start.head.offset, stream: Box::pin(stream) })
    }

    /// Starts the connection's driver. `pc` is closed when the connection ends.
    pub(crate) fn start(self: &Arc<Self>, pc: Arc<dyn PeerConnection>, queues: Queues) {
        tokio::spawn(Driver::run(self.clone(), pc, queues));
    }
}

/// What a request gets when its connection ends with `error`: the error itself when it says how
/// the connection broke, else [`TransportError::Cut`] around it.
fn cut_by(error: &TransportError) -> TransportError {
    match error.kind() {
        TransportErrorKind::Broken | TransportErrorKind::Stalled | TransportErrorKind::RelayLost => error.clone(),
        _ => TransportError::Cut(Box::new(error.clone())),
    }
}

/// A blob being read by this side; dropping it cancels the transfer if it is unfinished.
struct Reading {
    core: Arc<ConnCore>,
    id: u64,
    bytes: mpsc::UnboundedReceiver<Result<Bytes, TransportError>>,
    remaining: u64,
    received: u64,
    done: bool,
}

impl Drop for Reading {
    fn drop(&mut self) {
        // A finished blob is no longer known to the mux, which then ignores this.
        let _ = self.core.cmds.send(Cmd::Cancel { id: self.id });
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// The connection's one task and everything it owns.
struct Driver {
    core: Arc<ConnCore>,
    pc: Arc<dyn PeerConnection>,
    mux: Mux,
    lanes: Vec<Lane>,
    readers: SelectAll<Reader>,
    waiters: HashMap<u64, Waiter>,
    outgoing: HashMap<u64, Outgoing>,
    tasks: JoinSet<TaskEnd>,
    /// Requests being served (a blob counts until its last byte went, see `outgoing`).
    serving: usize,
    connected: bool,
    /// Notified by a writer when its lane's `queued` fell under `buffered_high` (only then: a
    /// wake-up per frame written would cost more than the frame's own work in the driver).
    room: Arc<Notify>,
}

impl Driver {
    async fn run(core: Arc<ConnCore>, pc: Arc<dyn PeerConnection>, queues: Queues) {
        let Queues { mut cmds, signals, mut events, local } = queues;
        let room = Arc::new(Notify::new());
        let config = &core.deps.config;
        let mux = Mux::new(MuxConfig {
            window: config.window,
            frame_size: config.frame_size,
            stall: config.stall,
            call_timeout: config.call_timeout,
            coalesce: COALESCE,
        });
        let mut driver = Driver {
            core: core.clone(),
            pc,
            mux,
            lanes: Vec::new(),
            readers: SelectAll::new(),
            waiters: HashMap::new(),
            outgoing: HashMap::new(),
            tasks: JoinSet::new(),
            serving: 0,
            connected: false,
            room: room.clone(),
        };
        driver.tasks.spawn(signal_loop(core.clone(), signals));
        for chan in local {
            driver.add_lane(chan, false);
        }
        // A connection that never comes up (the peer vanished mid-setup) ends by itself.
        let give_up = tokio::time::sleep(config.connect_timeout + Duration::from_secs(5));
        tokio::pin!(give_up);
        // The mux's timer: one sleep, moved only when the mux's next deadline moves.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            let next = driver.mux.poll_timeout().map(Instant::from_std);
            if next != armed {
                if let Some(deadline) = next {
                    timer.as_mut().reset(deadline);
                }
                armed = next;
            }
            let Driver { readers, outgoing, mux, tasks, lanes, .. } = &mut driver;
            let high = core.deps.config.buffered_high as usize;
            let has_readers = !readers.is_empty();
            let has_tasks = !tasks.is_empty();
            tokio::select! {
                () = core.closed.cancelled() => break,
                () = &mut give_up, if core.is_connecting() => {
                    let error = TransportError::NoPath { reason: core.no_path(), waited: None };
                    core.shutdown(error, false, true);
                    break;
                }
                event = events.recv() => match event {
                    Some(event) => driver.on_pc_event(event).await,
                    None => break,
                },
                Some((lane, event)) = readers.next(), if has_readers => driver.on_channel_event(lane, event).await,
                Some(cmd) = cmds.recv() => driver.on_cmd(cmd),
                (id, item) = next_chunk(outgoing, mux, lanes, high) => driver.on_chunk(id, item),
                () = room.notified() => {}
                Some(ended) = tasks.join_next(), if has_tasks => driver.on_task_end(ended),
                () = &mut timer, if armed.is_some() => {
                    // Fired: arm it again even if the next deadline is the same one.
                    armed = None;
                    driver.mux.handle_timeout(now());
                }
            }
            driver.flush();
        }
        driver.finish().await;
    }

    /// Adds a data channel: a reader in the select, a writer task. `open`: created by the peer
    /// (open when announced) rather than by this side (open on its `OnOpen`).
    fn add_lane(&mut self, chan: Arc<Chan>, open: bool) {
        let index = self.lanes.len();
        let (ctrl, ctrl_rx) = mpsc::unbounded_channel();
        let (bulk, bulk_rx) = mpsc::unbounded_channel();
        let config = &self.core.deps.config;
        let queued = Arc::new(AtomicUsize::new(0));
        let pace = Pace {
            queued: queued.clone(),
            room: self.room.clone(),
            high: config.buffered_high as usize,
            low: config.buffered_low,
            stall: config.stall,
        };
        self.tasks.spawn(write_loop(chan.clone(), ctrl_rx, bulk_rx, pace));
        let dc = chan.dc.clone();
        let reader = futures_util::stream::unfold(Some(dc), move |dc| async move {
            let dc = dc?;
            match dc.poll().await {
                Some(event) => Some(((index, Some(event)), Some(dc))),
                None => Some(((index, None), None)),
            }
        });
        self.readers.push(Box::pin(reader));
        self.lanes.push(Lane { chan, open, ctrl, bulk, queued });
    }

    fn open_lanes(&self) -> impl Iterator<Item = (usize, &Lane)> {
        self.lanes.iter().enumerate().filter(|(_, l)| l.open)
    }

    fn ctl_lane(&self) -> Option<usize> {
        self.open_lanes().find(|(_, l)| l.chan.is_ctl()).or_else(|| self.open_lanes().next()).map(|(i, _)| i)
    }

    /// The least busy open blob channel, or the control channel when there is none.
    fn blob_lane(&self) -> Option<usize> {
        let busy = |lane: usize| {
            self.waiters
                .values()
                .filter(|w| matches!(w, Waiter::Head { lane: l, .. } | Waiter::Bytes { lane: l, .. } if *l == lane))
                .count()
        };
        self.open_lanes()
            .filter(|(_, l)| !l.chan.is_ctl())
            .map(|(i, _)| i)
            .min_by_key(|i| busy(*i))
            .or_else(|| self.ctl_lane())
    }

    fn ready_to_use(&self) -> bool {
        if !self.connected {
            return false;
        }
        match self.core.role {
            Role::Offerer => self.open_lanes().count() >= self.core.deps.config.channels.max(1),
            Role::Answerer => self.open_lanes().any(|(_, l)| l.chan.is_ctl()),
        }
    }

    async fn on_pc_event(&mut self, event: PcEvent) {
        let core = self.core.clone();
        match event {
            PcEvent::Candidate(c) => {
                if c.candidate.contains(" typ relay") {
                    core.relay_gathered.store(true, Ordering::Release);
                }
                let _ = core.signals.send(SignalOut::Candidate(c));
            }
            PcEvent::State(state) => match state {
                RTCPeerConnectionState::Connected => self.connected = true,
                RTCPeerConnectionState::Failed => {
                    let relayed = core.path() == Some(PathKind::Relay);
                    let error = if self.connected && relayed {
                        TransportError::RelayLost
                    } else if self.connected {
                        TransportError::broken("the connection failed (ICE)")
                    } else {
                        TransportError::NoPath { reason: core.no_path(), waited: None }
                    };
                    core.shutdown(error, false, true);
                }
                RTCPeerConnectionState::Closed => {
                    core.shutdown(TransportError::broken("the peer connection closed"), false, true);
                }
                _ => {}
            },
            PcEvent::DataChannel(dc) => {
                if core.role == Role::Offerer {
                    tracing::warn!(peer = %core.peer.short(), "the answerer opened a data channel; closing it");
                    let _ = dc.close().await;
                    return;
                }
                match Chan::new(dc.clone(), &core.deps.config).await {
                    Ok(chan) if chan.is_ctl() || chan.label.starts_with(BLOB_LABEL_PREFIX) => self.add_lane(chan, true),
                    Ok(chan) => {
                        tracing::warn!(peer = %core.peer.short(), label = %chan.label, "unknown data channel; closing it");
                        let _ = dc.close().await;
                    }
                    Err(e) => tracing::warn!(peer = %core.peer.short(), error = %e, "could not set up a data channel"),
                }
            }
        }
        self.check_ready().await;
    }

    async fn check_ready(&mut self) {
        if !(self.core.is_connecting() && self.ready_to_use()) {
            return;
        }
        let path = selected_path(&self.pc).await;
        let _ = self.core.path.set(path);
        self.core.state.send_if_modified(|s| {
            if matches!(s, ConnState::Connecting) {
                *s = ConnState::Ready;
                true
            } else {
                false
            }
        });
        let setup_ms = u64::try_from(self.core.created.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::debug!(peer = %self.core.peer.short(), role = ?self.core.role, ?path, setup_ms, "WebRTC connection ready");
    }

    async fn on_channel_event(&mut self, lane: usize, event: Option<DataChannelEvent>) {
        match event {
            Some(DataChannelEvent::OnOpen) => {
                if let Some(l) = self.lanes.get_mut(lane) {
                    l.open = true;
                }
                self.check_ready().await;
            }
            Some(DataChannelEvent::OnMessage(message)) => {
                if let Err(error) = self.mux.handle_frame(now(), lane, message.data.freeze()) {
                    tracing::warn!(peer = %self.core.peer.short(), %error, "bad frame; closing the connection");
                    self.core.shutdown(error, false, true);
                }
            }
            Some(DataChannelEvent::OnBufferedAmountHigh) => self.lanes[lane].chan.on_buffered(true),
            Some(DataChannelEvent::OnBufferedAmountLow) => self.lanes[lane].chan.on_buffered(false),
            Some(DataChannelEvent::OnClose) | None => {
                self.core.shutdown(TransportError::broken("a data channel closed"), false, true);
            }
            Some(_) => {}
        }
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Call { request, reply } => {
                let Some(lane) = self.ctl_lane() else {
                    let _ = reply.send(Err(TransportError::unreachable("no open data channel")));
                    return;
                };
                match self.mux.call(now(), lane, &request) {
                    Ok(id) => {
                        self.waiters.insert(id, Waiter::Call(reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Cmd::GetBlob { request, offset, reply } => {
                let Some(lane) = self.blob_lane() else {
                    let _ = reply.send(Err(TransportError::unreachable("no open data channel")));
                    return;
                };
                match self.mux.get_blob(now(), lane, &request, offset) {
                    Ok(id) => {
                        self.waiters.insert(id, Waiter::Head { lane, tx: reply });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Cmd::Consumed { id, bytes } => self.mux.consumed(now(), id, bytes),
            Cmd::Cancel { id } => {
                self.waiters.remove(&id);
                self.mux.cancel(id);
            }
            Cmd::Count { reply } => {
                let _ = reply.send(self.mux.sending_count());
            }
        }
    }

    /// The next bytes (or the end) of a blob this side sends.
    fn on_chunk(&mut self, id: u64, item: Option<Result<Bytes, TransportError>>) {
        let Some(out) = self.outgoing.get_mut(&id) else { return };
        let lane = out.lane;
        match item {
            Some(Ok(bytes)) => out.held = Some(bytes),
            Some(Err(e)) => {
                self.outgoing.remove(&id);
                self.mux.fail_blob(lane, id, &ServiceError::new("read_failed", e.to_string()));
            }
            None => {
                self.outgoing.remove(&id);
                if self.mux.is_sending(id) {
                    self.mux.fail_blob(lane, id, &ServiceError::new("short_read", "the blob ended before its size"));
                }
            }
        }
    }

    fn on_task_end(&mut self, ended: Result<TaskEnd, tokio::task::JoinError>) {
        match ended {
            Ok(TaskEnd::Served { lane, id, served }) => {
                self.serving = self.serving.saturating_sub(1);
                match served {
                    Served::Reply(reply) => {
                        if let Err(e) = self.mux.reply(lane, id, &reply) {
                            tracing::debug!(error = %e, "reply not sent");
                        }
                    }
                    Served::Blob(body) => {
                        self.mux.start_blob(lane, id, body.size, body.offset);
                        if self.mux.is_sending(id) {
                            self.outgoing.insert(id, Outgoing { lane, source: body.stream, held: None });
                        }
                    }
                }
            }
            Ok(TaskEnd::Writer(Err(error))) => {
                tracing::debug!(peer = %self.core.peer.short(), %error, "a data channel writer stopped");
                self.core.shutdown(error, false, true);
            }
            Ok(TaskEnd::Writer(Ok(()))) | Ok(TaskEnd::Signals) => {}
            Err(e) if e.is_panic() => {
                tracing::error!(peer = %self.core.peer.short(), error = %e, "a connection task panicked");
                self.core.shutdown(TransportError::broken("a connection task failed"), false, true);
            }
            Err(_) => {}
        }
    }

    /// Moves what the mux has to say to where it goes, until it is quiet.
    fn flush(&mut self) {
        loop {
            // Bytes already read from a source go as far as the window lets them.
            let now = now();
            for (id, out) in self.outgoing.iter_mut() {
                if let Some(held) = out.held.as_mut() {
                    let n = self.mux.send_blob_data(now, *id, held);
                    let _ = held.split_to(n);
                    if held.is_empty() {
                        out.held = None;
                    }
                }
            }
            // A blob whose last byte went (or whose transfer stopped) needs its source no more.
            let mux = &self.mux;
            self.outgoing.retain(|id, _| mux.is_sending(*id));
            let mut quiet = true;
            while let Some(t) = self.mux.poll_transmit() {
                quiet = false;
                if let Some(lane) = self.lanes.get_mut(t.lane) {
                    if t.is_bulk() {
                        lane.queued.fetch_add(t.frame.len(), Ordering::AcqRel);
                        let _ = lane.bulk.send(t.frame);
                    } else {
                        let _ = lane.ctrl.send(t.frame);
                    }
                }
            }
            while let Some(event) = self.mux.poll_event() {
                quiet = false;
                self.on_mux_event(event);
            }
            if quiet {
                return;
            }
        }
    }

    fn on_mux_event(&mut self, event: Event) {
        match event {
            Event::Request { lane, id, body } => {
                // A blob being sent is still being served: it holds a file and a window.
                if self.serving + self.outgoing.len() >= MAX_SERVING {
                    let busy = ReplyBody::Err(ServiceError::new(
                        "busy",
                        format!("more than {MAX_SERVING} requests at once on one connection"),
                    ));
                    let _ = self.mux.reply(lane, id, &busy);
                    return;
                }
                self.serving += 1;
                let (deps, peer) = (self.core.deps.clone(), self.core.peer);
                self.tasks.spawn(async move { TaskEnd::Served { lane, id, served: serve(deps, peer, body).await } });
            }
            Event::Reply { id, result } => {
                if let Some(Waiter::Call(tx)) = self.waiters.remove(&id) {
                    let _ = tx.send(match result {
                        Ok(ReplyBody::Ok(response)) => Ok(response),
                        Ok(ReplyBody::Err(e)) => Err(TransportError::Refused { code: e.error, message: e.message }),
                        Err(e) => Err(e),
                    });
                }
            }
            Event::BlobHead { id, size, offset } => {
                if let Some(Waiter::Head { lane, tx }) = self.waiters.remove(&id) {
                    let (bytes_tx, bytes) = mpsc::unbounded_channel();
                    if tx.send(Ok(BlobStart { head: BlobHead { size, offset }, id, bytes })).is_ok() {
                        self.waiters.insert(id, Waiter::Bytes { lane, tx: bytes_tx });
                    } else {
                        self.mux.cancel(id);
                    }
                }
            }
            Event::BlobData { id, bytes } => {
                if let Some(Waiter::Bytes { tx, .. }) = self.waiters.get(&id)
                    && tx.send(Ok(bytes)).is_err()
                {
                    self.waiters.remove(&id);
                    self.mux.cancel(id);
                }
            }
            Event::BlobDone { id } => {
                self.waiters.remove(&id);
            }
            Event::BlobFailed { id, error } => match self.waiters.remove(&id) {
                Some(Waiter::Head { tx, .. }) => {
                    let _ = tx.send(Err(error));
                }
                Some(Waiter::Bytes { tx, .. }) => {
                    let _ = tx.send(Err(error));
                }
                Some(Waiter::Call(tx)) => {
                    let _ = tx.send(Err(error));
                }
                None => {}
            },
            Event::SendStopped { id, .. } => {
                self.outgoing.remove(&id);
            }
            Event::SendWritable { .. } => {}
        }
    }

    /// The connection is over (or every handle is gone and nothing can use it).
    async fn finish(mut self) {
        let core = self.core.clone();
        core.shutdown(TransportError::broken("connection closed"), false, true);
        let (error, tell_peer) = match &*core.state.borrow() {
            ConnState::Closed { error, tell_peer, .. } => (error.clone(), *tell_peer),
            _ => (TransportError::broken("connection closed"), true),
        };
        self.mux.close(error.clone());
        self.outgoing.clear();
        while let Some(event) = self.mux.poll_event() {
            self.on_mux_event(event);
        }
        // Anyone still waiting (e.g. for a call whose request was never sent) learns it too.
        for (_, waiter) in self.waiters.drain() {
            let cut = cut_by(&error);
            match waiter {
                Waiter::Call(tx) => {
                    let _ = tx.send(Err(cut));
                }
                Waiter::Head { tx, .. } => {
                    let _ = tx.send(Err(cut));
                }
                Waiter::Bytes { tx, .. } => {
                    let _ = tx.send(Err(cut));
                }
            }
        }
        self.tasks.abort_all();
        if tell_peer {
            // The close code is the error's kind (`relay_unavailable`, `no_path`, …), so the peer's
            // status can say why too, without reading our words.
            let (code, message) = match &error {
                TransportError::Refused { code, message } => (code.clone(), message.clone()),
                error => (error.kind().as_str().to_string(), error.to_string()),
            };
            let payload = RtcSignal::Close { session: core.session.clone(), code, message }.to_payload();
            let to = core.peer.to_string();
            let _ = tokio::time::timeout(Duration::from_secs(2), core.deps.hub.signal(&to, payload)).await;
        }
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing the peer connection");
        }
    }
}

/// Waits for the next chunk of any blob this side sends whose window has room, whose lane's
/// writer is not behind (`high` bytes queued) and of which none is held: the peer's window and
/// the channel's own pace are the back-pressure on the source.
fn next_chunk<'a>(
    outgoing: &'a mut HashMap<u64, Outgoing>,
    mux: &'a Mux,
    lanes: &'a [Lane],
    high: usize,
) -> impl Future<Output = (u64, Option<Result<Bytes, TransportError>>)> + 'a {
    futures_util::future::poll_fn(move |cx| {
        for (id, out) in outgoing.iter_mut() {
            let behind = lanes.get(out.lane).is_some_and(|lane| lane.queued.load(Ordering::Acquire) >= high);
            if out.held.is_some() || mux.blob_room(*id) == 0 || behind {
                continue;
            }
            if let Poll::Ready(item) = out.source.poll_next_unpin(cx) {
                return Poll::Ready((*id, item));
            }
        }
        Poll::Pending
    })
}

/// How a lane's writer paces its bulk frames and tells the driver it did.
struct Pace {
    /// The lane's bytes queued for the writer (see [`Lane::queued`]).
    queued: Arc<AtomicUsize>,
    /// Notified when `queued` falls under `high`.
    room: Arc<Notify>,
    high: usize,
    low: u32,
    stall: Duration,
}

/// Writes one data channel's frames: the requester's small frames first, then the responder's,
/// each of those once the channel's send buffer has room (small frames keep going while one
/// waits). Takes the bulk bytes it wrote off the lane's `queued`, and wakes the driver only when
/// that falls under the high-water mark.
async fn write_loop(
    chan: Arc<Chan>,
    mut ctrl: mpsc::UnboundedReceiver<BytesMut>,
    mut bulk: mpsc::UnboundedReceiver<BytesMut>,
    pace: Pace,
) -> TaskEnd {
    let result = async {
        loop {
            tokio::select! {
                biased;
                Some(frame) = ctrl.recv() => chan.send(frame).await?,
                Some(frame) = bulk.recv() => {
                    let room = chan.writable(pace.low, pace.stall);
                    tokio::pin!(room);
                    loop {
                        tokio::select! {
                            biased;
                            Some(small) = ctrl.recv() => chan.send(small).await?,
                            result = &mut room => {
                                result?;
                                break;
                            }
                        }
                    }
                    let len = frame.len();
                    chan.send(frame).await?;
                    let before = pace.queued.fetch_sub(len, Ordering::AcqRel);
                    if before >= pace.high && before - len < pace.high {
                        pace.room.notify_one();
                    }
                }
                else => return Ok(()),
            }
        }
    };
    TaskEnd::Writer(result.await)
}

/// Sends this connection's signals through the hub, in order, batching ICE candidates.
async fn signal_loop(core: Arc<ConnCore>, mut signals: mpsc::UnboundedReceiver<SignalOut>) -> TaskEnd {
    let to = core.peer.to_string();
    loop {
        let payload = match signals.recv().await {
            None => return TaskEnd::Signals,
            Some(SignalOut::Signal(signal)) => signal.to_payload(),
            Some(SignalOut::Candidate(first)) => {
                // Candidates come in bursts: send them together (the hub limits messages).
                let mut batch = vec![first];
                let linger = tokio::time::sleep(Duration::from_millis(30));
                tokio::pin!(linger);
                let mut after: Option<RtcSignal> = None;
                while batch.len() < 20 {
                    tokio::select! {
                        () = &mut linger => break,
                        more = signals.recv() => match more {
                            Some(SignalOut::Candidate(c)) => batch.push(c),
                            Some(SignalOut::Signal(s)) => { after = Some(s); break }
                            None => break,
                        },
                    }
                }
                let payload = RtcSignal::Candidates { session: core.session.clone(), candidates: batch }.to_payload();
                if let Err(e) = core.deps.hub.signal(&to, payload).await {
                    signal_failed(&core, e);
                    return TaskEnd::Signals;
                }
                match after {
                    Some(s) => s.to_payload(),
                    None => continue,
                }
            }
        };
        if let Err(e) = core.deps.hub.signal(&to, payload).await {
            signal_failed(&core, e);
            return TaskEnd::Signals;
        }
    }
}

fn signal_failed(core: &ConnCore, error: crate::hub::HubError) {
    let error = if error.is_peer_unavailable() {
        TransportError::PeerOffline { peer: core.peer }
    } else {
        TransportError::unreachable_by("signaling through the hub failed", error)
    };
    // A failed signal leaves the connection half set up; only a connecting one is lost.
    if core.is_connecting() {
        core.shutdown(error, false, false);
    } else {
        tracing::debug!(peer = %core.peer.short(), %error, "a late signal failed");
    }
}

/// Answers one request from the peer: check the signature with the shared replay guard and that
/// it comes from the node this connection is bound to, then ask the service.
async fn serve(deps: Arc<Deps>, peer: NodeId, body: Bytes) -> Served {
    let checked = serde_json::from_slice::<SignedRequest>(&body)
        .map_err(|e| ServiceError::new("bad_request", format!("not a signed request: {e}")))
        .and_then(|signed| {
            lock(&deps.guard).check(&signed, now_ms()).map_err(|e| ServiceError::new(e.code(), e.to_string()))
        })
        .and_then(|(from, request)| {
            if from == peer {
                Ok((from, request))
            } else {
                Err(ServiceError::new("wrong_sender", format!("this connection is bound to {peer}, not {from}")))
            }
        });
    let (from, request) = match checked {
        Ok(ok) => ok,
        Err(e) => {
            tracing::info!(peer = %peer.short(), code = %e.error, "refused a request on a WebRTC channel");
            return Served::Reply(ReplyBody::Err(e));
        }
    };
    match request {
        PeerRequest::GetBlob { id, offset } => match deps.service.get_blob(from, id, offset).await {
            Ok(body) => Served::Blob(body),
            Err(e) => Served::Reply(ReplyBody::Err(e)),
        },
        other => match deps.service.call(from, other).await {
            Ok(r) => Served::Reply(ReplyBody::Ok(r)),
            Err(e) => Served::Reply(ReplyBody::Err(e)),
        },
    }
}

/// The type of the selected candidate pair: relay if either side is relayed, else srflx or prflx,
/// else host. A peer-reflexive remote candidate whose address is one of the peer's signalled
/// host candidates (the check simply arrived before the candidate) counts as host.
pub(crate) async fn selected_path(pc: &Arc<dyn PeerConnection>) -> Option<PathKind> {
    let sctp = pc.sctp().await?;
    let ice = sctp.transport().ice_transport();
    let pair = match ice.get_selected_candidate_pair().await {
        Ok(Some(pair)) => pair,
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!(error = %e, "no selected candidate pair");
            return None;
        }
    };
    let local = pair.local().typ;
    let mut remote = pair.remote().typ;
    if remote == RTCIceCandidateType::Prflx {
        let (address, port) = (pair.remote().address.clone(), pair.remote().port);
        if let Ok(candidates) = ice.get_remote_candidates().await
            && candidates.iter().any(|c| c.typ == RTCIceCandidateType::Host && c.address == address && c.port == port)
        {
            remote = RTCIceCandidateType::Host;
        }
    }
    Some(path_kind(local, remote))
}

pub(crate) fn path_kind(local: RTCIceCandidateType, remote: RTCIceCandidateType) -> PathKind {
    use RTCIceCandidateType as T;
    let either = |t: T| local == t || remote == t;
    if either(T::Relay) {
        PathKind::Relay
    } else if either(T::Srflx) {
        PathKind::Srflx
    } else if either(T::Prflx) {
        PathKind::Prflx
    } else {
        PathKind::Host
    }
}

/// A WebRTC connection to one peer node, usable in both directions whichever side offered.
///
/// Requests are [`SignedRequest`]s like over HTTP; the peer checks them with its replay guard.
/// Dropping the last handle closes the connection (the endpoint keeps one while it is open).
pub struct WebRtcTransport {
    pub(crate) core: Arc<ConnCore>,
    pub(crate) pc: Arc<dyn PeerConnection>,
}

impl fmt::Debug for WebRtcTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebRtcTransport")
            .field("peer", &self.core.peer)
            .field("session", &self.core.session)
            .field("offerer", &(self.core.role == Role::Offerer))
            .field("path", &self.core.path())
            .finish_non_exhaustive()
    }
}

impl Drop for WebRtcTransport {
    fn drop(&mut self) {
        self.core.shutdown(TransportError::broken("connection closed by this node"), false, true);
    }
}

impl WebRtcTransport {
    /// Whether the connection is up.
    pub fn is_open(&self) -> bool {
        self.core.is_ready()
    }

    /// Whether this node made the offer.
    pub fn is_offerer(&self) -> bool {
        self.core.role == Role::Offerer
    }

    /// The random id of this connection's offer/answer exchange.
    pub fn session(&self) -> &str {
        &self.core.session
    }

    /// Closes the connection (the peer is told through the hub). Streams fail with
    /// [`TransportError::Broken`].
    pub fn close(&self) {
        self.core.shutdown(TransportError::broken("connection closed by this node"), false, true);
    }

    /// Blobs this side is sending on the connection right now. For tests that wait until a
    /// sender gave up, instead of sleeping past its stall timeout.
    #[doc(hidden)]
    pub async fn blobs_sending(&self) -> usize {
        let (reply, rx) = oneshot::channel();
        if self.core.send(Cmd::Count { reply }).is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }

    /// Resolves when the connection has ended.
    pub async fn closed(&self) {
        self.core.closed.cancelled().await;
    }

    /// Sends an already signed request and waits for the reply. [`PeerTransport::call`] signs
    /// for you; this exists for tools and tests (e.g. to show that a replayed request is refused).
    pub async fn call_signed(&self, signed: &SignedRequest) -> Result<PeerResponse, TransportError> {
        self.core.call_signed(signed).await
    }
}

#[async_trait]
impl PeerTransport for WebRtcTransport {
    fn peer(&self) -> NodeId {
        self.core.peer
    }

    async fn call(&self, request: PeerRequest) -> Result<PeerResponse, TransportError> {
        let signed = sign_request(&self.core.deps.key, self.core.peer, now_ms(), &request);
        self.core.call_signed(&signed).await
    }

    async fn get_blob(&self, id: BlobId, offset: u64) -> Result<BlobBody, TransportError> {
        self.core.get_blob(id, offset).await
    }

    fn path(&self) -> Option<PathKind> {
        if self.core.is_ready() { self.core.path() } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_the_weakest_side() {
        use RTCIceCandidateType as T;
        assert_eq!(path_kind(T::Host, T::Host), PathKind::Host);
        assert_eq!(path_kind(T::Host, T::Prflx), PathKind::Prflx);
        assert_eq!(path_kind(T::Srflx, T::Prflx), PathKind::Srflx);
        assert_eq!(path_kind(T::Srflx, T::Relay), PathKind::Relay);
        assert_eq!(path_kind(T::Relay, T::Host), PathKind::Relay);
    }
}
