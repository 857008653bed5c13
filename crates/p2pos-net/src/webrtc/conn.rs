//! One WebRTC connection to a peer node: its data channels, the request/reply multiplexing and
//! blob streaming over them (both directions), and the tasks that drive it.
//!
//! Ownership: [`WebRtcTransport`] owns the connection. Its tasks (an event loop, one reader per
//! data channel, a signal sender, a control-frame writer, one task per request being served)
//! share a [`ConnCore`] and all stop when the core's `closed` token is cancelled, which happens
//! when the connection breaks, is closed, or its last `WebRtcTransport` handle is dropped. The
//! event loop then tells the peer (through the hub) and closes the `PeerConnection`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use ed25519_dalek::SigningKey;
use futures_util::StreamExt;
use p2pos_core::{BlobId, NodeId};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit, RTCIceCandidateType, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};

use super::WebRtcConfig;
use super::frame::{self, BlobHead, HEADER, Kind, MAX_FRAME, ReplyBody};
use super::signal::RtcSignal;
use crate::auth::{ReplayGuard, SignedRequest, sign_request};
use crate::http::now_ms;
use crate::hub::HubHandle;
use crate::{
    BlobBody, NoPathReason, PathKind, PeerRequest, PeerResponse, PeerService, PeerTransport, ProtocolViolation,
    ServiceError, TransportError, TransportErrorKind,
};

/// Label of the channel that carries calls.
pub(crate) const CTL_LABEL: &str = "p2pos/ctl";
/// Prefix of the labels of the channels that carry blobs (`p2pos/blob/1`, …).
pub(crate) const BLOB_LABEL_PREFIX: &str = "p2pos/blob/";

/// Largest reply accepted, reassembled from several frames.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// Requests from the peer served at once on one connection; more are answered `busy`.
const MAX_SERVING: usize = 64;

/// Locks a std mutex, recovering the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

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
    },
}

/// Events from the `PeerConnection` (its handler runs on the driver task and must not block, so
/// it only forwards) and from this connection's channel readers.
pub(crate) enum PcEvent {
    Candidate(RTCIceCandidateInit),
    State(RTCPeerConnectionState),
    DataChannel(Arc<dyn DataChannel>),
    ChannelOpen,
}

/// Forwards `PeerConnection` events to the connection's event loop.
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

/// One data channel and its send-side flow control.
pub(crate) struct Chan {
    dc: Arc<dyn DataChannel>,
    label: String,
    is_ctl: bool,
    open: AtomicBool,
    /// Set when the channel's buffered amount rose above the high threshold, cleared when it fell
    /// below the low threshold (`OnBufferedAmountHigh` / `OnBufferedAmountLow`).
    paused: AtomicBool,
    low: Notify,
    /// Blob transfers this side is receiving on the channel, to spread them out.
    streams: AtomicUsize,
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
        Ok(Arc::new(Self {
            dc,
            is_ctl: label == CTL_LABEL,
            label,
            open: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            low: Notify::new(),
            streams: AtomicUsize::new(0),
        }))
    }

    pub(crate) fn dc(&self) -> &Arc<dyn DataChannel> {
        &self.dc
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
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

/// Someone on this side waiting for the peer's answer to request `id`.
enum Waiter {
    Call {
        tx: oneshot::Sender<Result<ReplyBody, TransportError>>,
        partial: BytesMut,
    },
    Blob {
        tx: mpsc::UnboundedSender<BlobMsg>,
        /// Bytes handed to the stream so far, and how many of them its reader has taken: a
        /// sender that ignores the window cannot make this side buffer without bound.
        delivered: u64,
        consumed: Arc<AtomicU64>,
    },
}

/// What the channel reader hands a blob receiver.
enum BlobMsg {
    Head(BlobHead),
    Data(Bytes),
    Error(ServiceError),
    Broken(TransportError),
}

/// A blob this side is sending.
struct OutStream {
    /// Cumulative bytes the receiver acknowledged.
    acked: AtomicU64,
    progress: Notify,
    cancel: CancellationToken,
}

/// Signals to send through the hub, in order.
pub(crate) enum SignalOut {
    Signal(RtcSignal),
    Candidate(RTCIceCandidateInit),
}

/// State shared by a connection's handles and tasks.
pub(crate) struct ConnCore {
    pub deps: Arc<Deps>,
    pub peer: NodeId,
    pub session: String,
    pub role: Role,
    channels: RwLock<Vec<Arc<Chan>>>,
    /// How many channels the offerer opens (the answerer learns them as they come).
    expected_channels: usize,
    pending: Mutex<HashMap<u64, Waiter>>,
    next_id: AtomicU64,
    outgoing: Mutex<HashMap<u64, Arc<OutStream>>>,
    pub state: watch::Sender<ConnState>,
    pub closed: CancellationToken,
    path: Mutex<Option<PathKind>>,
    ctrl: mpsc::UnboundedSender<(Arc<Chan>, BytesMut)>,
    pub signals: mpsc::UnboundedSender<SignalOut>,
    events: mpsc::UnboundedSender<PcEvent>,
    /// Whether to send the peer a `close` signal when this connection ends.
    tell_peer: AtomicBool,
    /// Whether the remote description is applied (candidates that arrive earlier wait).
    pub remote_set: AtomicBool,
    pub early_candidates: Mutex<Vec<RTCIceCandidateInit>>,
    /// Whether the ICE servers included a TURN server, and whether it gave a relay candidate:
    /// together they say why a connection found no path.
    pub turn_offered: AtomicBool,
    relay_gathered: AtomicBool,
    /// When this connection was begun (offer made or received): its set-up time is logged.
    created: Instant,
    /// Permits for requests being served.
    serving: Arc<tokio::sync::Semaphore>,
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

/// Receiving ends of a new connection's queues, handed to [`start`].
pub(crate) struct Queues {
    ctrl: mpsc::UnboundedReceiver<(Arc<Chan>, BytesMut)>,
    signals: mpsc::UnboundedReceiver<SignalOut>,
    events: mpsc::UnboundedReceiver<PcEvent>,
}

impl ConnCore {
    /// A new connection's core. `events` must be the sender the `PeerConnection`'s [`Handler`]
    /// got, and `events_rx` its receiver.
    pub(crate) fn new(
        deps: Arc<Deps>,
        peer: NodeId,
        session: String,
        role: Role,
        events: mpsc::UnboundedSender<PcEvent>,
        events_rx: mpsc::UnboundedReceiver<PcEvent>,
    ) -> (Arc<Self>, Queues) {
        let (ctrl, ctrl_rx) = mpsc::unbounded_channel();
        let (signals, signals_rx) = mpsc::unbounded_channel();
        let expected_channels = deps.config.channels.max(1);
        let core = Arc::new(Self {
            deps,
            peer,
            session,
            role,
            channels: RwLock::new(Vec::new()),
            expected_channels,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            outgoing: Mutex::new(HashMap::new()),
            state: watch::Sender::new(ConnState::Connecting),
            closed: CancellationToken::new(),
            path: Mutex::new(None),
            ctrl,
            signals,
            events,
            tell_peer: AtomicBool::new(true),
            remote_set: AtomicBool::new(false),
            early_candidates: Mutex::new(Vec::new()),
            turn_offered: AtomicBool::new(false),
            relay_gathered: AtomicBool::new(false),
            created: Instant::now(),
            serving: Arc::new(tokio::sync::Semaphore::new(MAX_SERVING)),
        });
        (core, Queues { ctrl: ctrl_rx, signals: signals_rx, events: events_rx })
    }

    /// Why no path was found.
    pub(crate) fn no_path(&self) -> NoPathReason {
        match (self.turn_offered.load(Ordering::Acquire), self.relay_gathered.load(Ordering::Acquire)) {
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
    /// the peer a `close` signal (not when the peer is the one who ended it).
    pub(crate) fn shutdown(&self, error: TransportError, superseded: bool, tell_peer: bool) {
        let mut first = false;
        self.state.send_if_modified(|s| {
            if matches!(s, ConnState::Closed { .. }) {
                return false;
            }
            *s = ConnState::Closed { error: error.clone(), superseded };
            first = true;
            true
        });
        if !first {
            return;
        }
        tracing::debug!(peer = %self.peer.short(), session = %self.session, %error, "WebRTC connection closed");
        if !tell_peer {
            self.tell_peer.store(false, Ordering::Release);
        }
        // Cancel first: a waiter registered after the drain below sees it and gives up.
        self.closed.cancel();
        let broken = cut_by(&error);
        for (_, waiter) in lock(&self.pending).drain() {
            match waiter {
                Waiter::Call { tx, .. } => {
                    let _ = tx.send(Err(broken.clone()));
                }
                Waiter::Blob { tx, .. } => {
                    let _ = tx.send(BlobMsg::Broken(broken.clone()));
                }
            }
        }
        for (_, out) in lock(&self.outgoing).drain() {
            out.cancel.cancel();
        }
    }

    /// The error a closed connection gives to new requests.
    fn closed_error(&self) -> TransportError {
        match &*self.state.borrow() {
            ConnState::Closed { error, .. } => cut_by(error),
            ConnState::Connecting => TransportError::unreachable("not connected yet"),
            ConnState::Ready => TransportError::broken("connection closed"),
        }
    }

    /// Bytes a blob sender may have delivered beyond what our reader took: well above any sane
    /// window, so only a peer that ignores acknowledgements hits it.
    fn receive_limit(&self) -> u64 {
        (4 * self.deps.config.window).max(16 * 1024 * 1024)
    }

    pub(crate) fn path(&self) -> Option<PathKind> {
        *lock(&self.path)
    }

    fn add_channel(self: &Arc<Self>, chan: Arc<Chan>) {
        if let Ok(mut channels) = self.channels.write() {
            channels.push(chan.clone());
        }
        let core = self.clone();
        tokio::spawn(async move { core.read_loop(chan).await });
    }

    /// Registers a channel this side created, before it opens.
    pub(crate) fn add_local_channel(self: &Arc<Self>, chan: Arc<Chan>) {
        self.add_channel(chan);
    }

    fn open_channels(&self) -> Vec<Arc<Chan>> {
        self.channels
            .read()
            .map(|c| c.iter().filter(|c| c.open.load(Ordering::Acquire)).cloned().collect())
            .unwrap_or_default()
    }

    fn ctl(&self) -> Result<Arc<Chan>, TransportError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let open = self.open_channels();
        open.iter()
            .find(|c| c.is_ctl)
            .or_else(|| open.first())
            .cloned()
            .ok_or(TransportError::unreachable("no open data channel"))
    }

    /// The least busy open blob channel, or the control channel when there is none.
    fn blob_chan(&self) -> Result<Arc<Chan>, TransportError> {
        let open = self.open_channels();
        match open.iter().filter(|c| !c.is_ctl).min_by_key(|c| c.streams.load(Ordering::Acquire)) {
            Some(c) => Ok(c.clone()),
            None => self.ctl(),
        }
    }

    fn ready_to_use(&self, connected: bool) -> bool {
        if !connected {
            return false;
        }
        let open = self.open_channels();
        match self.role {
            Role::Offerer => open.len() >= self.expected_channels,
            Role::Answerer => open.iter().any(|c| c.is_ctl),
        }
    }

    // ----- reading -----

    async fn read_loop(self: Arc<Self>, chan: Arc<Chan>) {
        loop {
            let event = tokio::select! {
                () = self.closed.cancelled() => return,
                event = chan.dc.poll() => event,
            };
            match event {
                Some(DataChannelEvent::OnOpen) => {
                    chan.open.store(true, Ordering::Release);
                    let _ = self.events.send(PcEvent::ChannelOpen);
                }
                Some(DataChannelEvent::OnMessage(message)) => self.on_frame(&chan, message.data.freeze()),
                Some(DataChannelEvent::OnBufferedAmountHigh) => chan.on_buffered(true),
                Some(DataChannelEvent::OnBufferedAmountLow) => chan.on_buffered(false),
                Some(DataChannelEvent::OnClose) | None => {
                    self.shutdown(TransportError::broken("a data channel closed"), false, true);
                    return;
                }
                Some(_) => {}
            }
        }
    }

    /// Dispatches one incoming frame. Never blocks: requests are served in their own tasks.
    fn on_frame(self: &Arc<Self>, chan: &Arc<Chan>, data: Bytes) {
        let frame = match frame::decode(data) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(peer = %self.peer.short(), error = %e, "bad frame; closing the connection");
                self.shutdown(TransportError::protocol(ProtocolViolation::Frame(e)), false, true);
                return;
            }
        };
        match frame.kind {
            Kind::Request => {
                let Ok(permit) = self.serving.clone().try_acquire_owned() else {
                    let busy = ReplyBody::Err(ServiceError::new(
                        "busy",
                        format!("more than {MAX_SERVING} requests at once on one connection"),
                    ));
                    let body = serde_json::to_vec(&busy).unwrap_or_default();
                    let _ = self.ctrl.send((chan.clone(), frame::encode(Kind::Reply, frame.id, &body)));
                    return;
                };
                let core = self.clone();
                let chan = chan.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = core.closed.cancelled() => {}
                        () = core.serve(&chan, frame.id, frame.body) => {}
                    }
                    drop(permit);
                });
            }
            Kind::Reply => self.on_reply(frame.id, &frame.body, true),
            Kind::ReplyPart => self.on_reply(frame.id, &frame.body, false),
            Kind::BlobHead => {
                let message = match serde_json::from_slice::<BlobHead>(&frame.body) {
                    Ok(head) => BlobMsg::Head(head),
                    Err(e) => BlobMsg::Broken(TransportError::unparsable("blob head", e)),
                };
                if let Some(Waiter::Blob { tx, .. }) = lock(&self.pending).get(&frame.id) {
                    let _ = tx.send(message);
                }
            }
            Kind::BlobData => {
                let limit = self.receive_limit();
                let mut pending = lock(&self.pending);
                let Some(Waiter::Blob { tx, delivered, consumed }) = pending.get_mut(&frame.id) else { return };
                *delivered += frame.body.len() as u64;
                if delivered.saturating_sub(consumed.load(Ordering::Acquire)) > limit {
                    let error = TransportError::protocol(ProtocolViolation::WindowIgnored);
                    let _ = tx.send(BlobMsg::Broken(error));
                    pending.remove(&frame.id);
                    let _ = self.ctrl.send((chan.clone(), frame::encode(Kind::Cancel, frame.id, &[])));
                    return;
                }
                let _ = tx.send(BlobMsg::Data(frame.body));
            }
            Kind::BlobError => {
                let error = serde_json::from_slice::<ServiceError>(&frame.body)
                    .unwrap_or_else(|e| ServiceError::new("bad_error", format!("unreadable blob error: {e}")));
                if let Some(Waiter::Blob { tx, .. }) = lock(&self.pending).remove(&frame.id) {
                    let _ = tx.send(BlobMsg::Error(error));
                }
            }
            Kind::Ack => {
                if let (Some(out), Some(received)) =
                    (lock(&self.outgoing).get(&frame.id).cloned(), frame::parse_ack(&frame.body))
                {
                    out.acked.fetch_max(received, Ordering::AcqRel);
                    out.progress.notify_one();
                }
            }
            Kind::Cancel => {
                if let Some(out) = lock(&self.outgoing).remove(&frame.id) {
                    out.cancel.cancel();
                }
            }
        }
    }

    fn on_reply(&self, id: u64, body: &[u8], last: bool) {
        let mut pending = lock(&self.pending);
        match pending.get_mut(&id) {
            Some(Waiter::Call { partial, .. }) => {
                if partial.len() + body.len() > MAX_REPLY_BYTES {
                    if let Some(Waiter::Call { tx, .. }) = pending.remove(&id) {
                        let _ = tx.send(Err(TransportError::protocol(ProtocolViolation::ReplyTooLarge {
                            limit: MAX_REPLY_BYTES,
                        })));
                    }
                    return;
                }
                partial.extend_from_slice(body);
                if !last {
                    return;
                }
                if let Some(Waiter::Call { tx, partial }) = pending.remove(&id) {
                    let parsed = serde_json::from_slice::<ReplyBody>(&partial)
                        .map_err(|e| TransportError::unparsable("reply", e));
                    let _ = tx.send(parsed);
                }
            }
            Some(Waiter::Blob { .. }) => {
                // A blob request answered with a plain reply: refused before any byte (e.g. the
                // signature check failed, or the service has no such blob).
                if let Some(Waiter::Blob { tx, .. }) = pending.remove(&id) {
                    let message = match serde_json::from_slice::<ReplyBody>(body) {
                        Ok(ReplyBody::Err(e)) => BlobMsg::Error(e),
                        Ok(ReplyBody::Ok(_)) => BlobMsg::Broken(TransportError::protocol(
                            ProtocolViolation::Unexpected("a blob request got a plain reply"),
                        )),
                        Err(e) => BlobMsg::Broken(TransportError::unparsable("reply", e)),
                    };
                    let _ = tx.send(message);
                }
            }
            None => {}
        }
    }

    // ----- serving -----

    /// Answers one request from the peer: check the signature with the shared replay guard and
    /// that it comes from the node this connection is bound to, then ask the service.
    async fn serve(self: &Arc<Self>, chan: &Arc<Chan>, id: u64, body: Bytes) {
        let checked = serde_json::from_slice::<SignedRequest>(&body)
            .map_err(|e| ServiceError::new("bad_request", format!("not a signed request: {e}")))
            .and_then(|signed| {
                lock(&self.deps.guard).check(&signed, now_ms()).map_err(|e| ServiceError::new(e.code(), e.to_string()))
            })
            .and_then(|(from, request)| {
                if from == self.peer {
                    Ok((from, request))
                } else {
                    Err(ServiceError::new(
                        "wrong_sender",
                        format!("this connection is bound to {}, not {from}", self.peer),
                    ))
                }
            });
        let (from, request) = match checked {
            Ok(ok) => ok,
            Err(e) => {
                tracing::info!(peer = %self.peer.short(), code = %e.error, "refused a request on a WebRTC channel");
                let _ = self.send_reply(chan, id, &ReplyBody::Err(e)).await;
                return;
            }
        };
        let service = self.deps.service.clone();
        match request {
            PeerRequest::GetBlob { id: blob, offset } => match service.get_blob(from, blob, offset).await {
                Ok(body) => {
                    if let Err(e) = self.send_blob(chan, id, body).await {
                        tracing::debug!(peer = %self.peer.short(), %blob, error = %e, "blob transfer ended early");
                    }
                }
                Err(e) => {
                    let _ = self.send_reply(chan, id, &ReplyBody::Err(e)).await;
                }
            },
            other => {
                let reply = match service.call(from, other).await {
                    Ok(r) => ReplyBody::Ok(r),
                    Err(e) => ReplyBody::Err(e),
                };
                let _ = self.send_reply(chan, id, &reply).await;
            }
        }
    }

    /// Sends a reply, in several frames when it is large.
    async fn send_reply(&self, chan: &Chan, id: u64, reply: &ReplyBody) -> Result<(), TransportError> {
        let body = serde_json::to_vec(reply).map_err(|e| TransportError::unparsable("reply", e))?;
        let piece = MAX_FRAME - HEADER;
        let mut parts = body.chunks(piece).peekable();
        if parts.peek().is_none() {
            return chan.send(frame::encode(Kind::Reply, id, &[])).await;
        }
        while let Some(part) = parts.next() {
            let kind = if parts.peek().is_some() { Kind::ReplyPart } else { Kind::Reply };
            chan.writable(self.deps.config.buffered_low, self.deps.config.stall).await?;
            chan.send(frame::encode(kind, id, part)).await?;
        }
        Ok(())
    }

    /// Streams a blob to the peer: at most `window` unacknowledged bytes, pausing while the
    /// channel's send buffer is above its high threshold.
    async fn send_blob(&self, chan: &Chan, id: u64, mut body: BlobBody) -> Result<(), TransportError> {
        let config = &self.deps.config;
        let out =
            Arc::new(OutStream { acked: AtomicU64::new(0), progress: Notify::new(), cancel: CancellationToken::new() });
        lock(&self.outgoing).insert(id, out.clone());
        let _registered = Unregister { core: self, id };
        let head = serde_json::to_vec(&BlobHead { size: body.size, offset: body.offset })
            .map_err(|e| TransportError::unparsable("blob head", e))?;
        chan.send(frame::encode(Kind::BlobHead, id, &head)).await?;
        let expected = body.size.saturating_sub(body.offset);
        let piece_size = config.frame_size.clamp(HEADER + 1, MAX_FRAME) - HEADER;
        let window = config.window.max(piece_size as u64);
        let mut sent = 0u64;
        loop {
            let chunk = tokio::select! {
                () = out.cancel.cancelled() => return Ok(()),
                chunk = body.stream.next() => chunk,
            };
            let chunk = match chunk {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    return self.blob_error(chan, id, ServiceError::new("read_failed", e.to_string())).await;
                }
            };
            for piece in chunk.chunks(piece_size) {
                let len = piece.len() as u64;
                if sent + len > expected {
                    return self
                        .blob_error(chan, id, ServiceError::new("too_long", "the blob has more bytes than its size"))
                        .await;
                }
                // Application-level window: wait for the receiver's acknowledgements.
                while sent + len > out.acked.load(Ordering::Acquire) + window {
                    let progress = out.progress.notified();
                    tokio::select! {
                        () = out.cancel.cancelled() => return Ok(()),
                        waited = tokio::time::timeout(config.stall, progress) => {
                            if waited.is_err() {
                                let _ = self.blob_error(chan, id, ServiceError::new("stalled", "no acknowledgement")).await;
                                return Err(TransportError::Stalled { after: config.stall });
                            }
                        }
                    }
                }
                chan.writable(config.buffered_low, config.stall).await?;
                if out.cancel.is_cancelled() {
                    return Ok(());
                }
                chan.send(frame::encode(Kind::BlobData, id, piece)).await?;
                sent += len;
            }
        }
        if sent != expected {
            let message = format!("the blob ended after {sent} of {expected} bytes");
            return self.blob_error(chan, id, ServiceError::new("short_read", message)).await;
        }
        Ok(())
    }

    async fn blob_error(&self, chan: &Chan, id: u64, error: ServiceError) -> Result<(), TransportError> {
        let body = serde_json::to_vec(&error).map_err(|e| TransportError::unparsable("blob error", e))?;
        let mut body = body;
        body.truncate(MAX_FRAME - HEADER);
        chan.send(frame::encode(Kind::BlobError, id, &body)).await
    }

    // ----- requesting -----

    fn register(&self, waiter: Waiter) -> Result<u64, TransportError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.pending).insert(id, waiter);
        if self.closed.is_cancelled() {
            lock(&self.pending).remove(&id);
            return Err(self.closed_error());
        }
        Ok(id)
    }

    fn request_frame(id: u64, signed: &SignedRequest) -> Result<BytesMut, TransportError> {
        let body = serde_json::to_vec(signed).map_err(|e| TransportError::unparsable("request", e))?;
        if HEADER + body.len() > MAX_FRAME {
            return Err(TransportError::protocol(ProtocolViolation::RequestTooLarge { size: body.len() }));
        }
        Ok(frame::encode(Kind::Request, id, &body))
    }

    pub(crate) async fn call_signed(&self, signed: &SignedRequest) -> Result<PeerResponse, TransportError> {
        let chan = self.ctl()?;
        let (tx, rx) = oneshot::channel();
        let id = self.register(Waiter::Call { tx, partial: BytesMut::new() })?;
        let sent = match Self::request_frame(id, signed) {
            Ok(frame) => chan.send(frame).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            lock(&self.pending).remove(&id);
            return Err(e);
        }
        let timeout = self.deps.config.call_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(TransportError::TimedOut { after: Some(timeout) })
            }
            Ok(Err(_)) => Err(self.closed_error()),
            Ok(Ok(Ok(ReplyBody::Ok(response)))) => Ok(response),
            Ok(Ok(Ok(ReplyBody::Err(e)))) => Err(TransportError::Refused { code: e.error, message: e.message }),
            Ok(Ok(Err(e))) => Err(e),
        }
    }

    pub(crate) async fn get_blob(self: &Arc<Self>, blob: BlobId, offset: u64) -> Result<BlobBody, TransportError> {
        let signed = sign_request(&self.deps.key, self.peer, now_ms(), &PeerRequest::GetBlob { id: blob, offset });
        let chan = self.blob_chan()?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let consumed = Arc::new(AtomicU64::new(0));
        let id = self.register(Waiter::Blob { tx, delivered: 0, consumed: consumed.clone() })?;
        let sent = match Self::request_frame(id, &signed) {
            Ok(frame) => chan.send(frame).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            lock(&self.pending).remove(&id);
            return Err(e);
        }
        // From here on, dropping `receiver` unregisters the request (and cancels the transfer).
        let mut receiver = Receiving { core: self.clone(), chan, id, complete: false, counted: false };
        let timeout = self.deps.config.call_timeout;
        let head = match tokio::time::timeout(timeout, rx.recv()).await {
            Err(_) => return Err(TransportError::TimedOut { after: Some(timeout) }),
            Ok(None) => return Err(self.closed_error()),
            Ok(Some(BlobMsg::Head(head))) => head,
            Ok(Some(BlobMsg::Error(e))) => {
                receiver.complete = true;
                return Err(TransportError::Refused { code: e.error, message: e.message });
            }
            Ok(Some(BlobMsg::Broken(e))) => return Err(e),
            Ok(Some(BlobMsg::Data(_))) => {
                return Err(TransportError::protocol(ProtocolViolation::Unexpected("blob bytes before the blob head")));
            }
        };
        if head.offset != offset || head.offset > head.size {
            return Err(TransportError::protocol(ProtocolViolation::WrongOffset {
                asked: offset,
                offset: head.offset,
                size: head.size,
            }));
        }
        receiver.chan.streams.fetch_add(1, Ordering::AcqRel);
        receiver.counted = true;
        let remaining = head.size - head.offset;
        receiver.complete = remaining == 0;
        let config = &self.deps.config;
        let state = RecvState {
            receiver,
            rx,
            consumed,
            remaining,
            received: 0,
            acked: 0,
            ack_every: (config.window / 4).max(1),
            stall: config.stall,
            done: false,
        };
        let stream = futures_util::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            if st.received >= st.remaining {
                return None;
            }
            let item = match tokio::time::timeout(st.stall, st.rx.recv()).await {
                Err(_) => Err(TransportError::Stalled { after: st.stall }),
                Ok(None) => Err(st.receiver.core.closed_error()),
                Ok(Some(BlobMsg::Data(bytes))) => {
                    st.received += bytes.len() as u64;
                    st.consumed.store(st.received, Ordering::Release);
                    if st.received > st.remaining {
                        Err(TransportError::protocol(ProtocolViolation::TooManyBytes))
                    } else {
                        if st.received == st.remaining {
                            // Complete: nothing to cancel when the stream is dropped.
                            st.receiver.complete = true;
                        }
                        if st.received - st.acked >= st.ack_every || st.received == st.remaining {
                            st.acked = st.received;
                            st.receiver.send_ctrl(Kind::Ack, &frame::ack_body(st.received));
                        }
                        Ok(bytes)
                    }
                }
                Ok(Some(BlobMsg::Error(e))) => {
                    st.receiver.complete = true;
                    if e.error == "stalled" {
                        // The sender gave up waiting for our acknowledgements.
                        Err(TransportError::Stalled { after: st.stall })
                    } else {
                        Err(TransportError::Refused { code: e.error, message: e.message })
                    }
                }
                Ok(Some(BlobMsg::Broken(e))) => Err(e),
                Ok(Some(BlobMsg::Head(_))) => {
                    Err(TransportError::protocol(ProtocolViolation::Unexpected("a second blob head")))
                }
            };
            if item.is_err() {
                st.done = true;
            }
            Some((item, st))
        });
        Ok(BlobBody { size: head.size, offset: head.offset, stream: Box::pin(stream) })
    }

    // ----- tasks -----

    /// Starts the connection's tasks. `pc` is closed when the connection ends.
    pub(crate) fn start(self: &Arc<Self>, pc: Arc<dyn PeerConnection>, queues: Queues) {
        let Queues { ctrl, signals, events } = queues;
        tokio::spawn(self.clone().event_loop(pc, events));
        tokio::spawn(self.clone().signal_loop(signals));
        tokio::spawn(self.clone().ctrl_loop(ctrl));
    }

    async fn event_loop(self: Arc<Self>, pc: Arc<dyn PeerConnection>, mut events: mpsc::UnboundedReceiver<PcEvent>) {
        let mut connected = false;
        // A connection that never comes up (the peer vanished mid-setup) ends by itself.
        let give_up = tokio::time::sleep(self.deps.config.connect_timeout + Duration::from_secs(5));
        tokio::pin!(give_up);
        loop {
            let event = tokio::select! {
                () = self.closed.cancelled() => break,
                () = &mut give_up, if self.is_connecting() => {
                    let error = TransportError::NoPath { reason: self.no_path(), waited: None };
                    self.shutdown(error, false, true);
                    break;
                }
                event = events.recv() => event,
            };
            let Some(event) = event else { break };
            match event {
                PcEvent::Candidate(c) => {
                    if c.candidate.contains(" typ relay") {
                        self.relay_gathered.store(true, Ordering::Release);
                    }
                    let _ = self.signals.send(SignalOut::Candidate(c));
                }
                PcEvent::State(state) => match state {
                    RTCPeerConnectionState::Connected => connected = true,
                    RTCPeerConnectionState::Failed => {
                        let relayed = *lock(&self.path) == Some(PathKind::Relay);
                        let error = if connected && relayed {
                            TransportError::RelayLost
                        } else if connected {
                            TransportError::broken("the connection failed (ICE)")
                        } else {
                            TransportError::NoPath { reason: self.no_path(), waited: None }
                        };
                        self.shutdown(error, false, true);
                    }
                    RTCPeerConnectionState::Closed => {
                        self.shutdown(TransportError::broken("the peer connection closed"), false, true);
                    }
                    _ => {}
                },
                PcEvent::DataChannel(dc) => {
                    if self.role == Role::Offerer {
                        tracing::warn!(peer = %self.peer.short(), "the answerer opened a data channel; closing it");
                        let _ = dc.close().await;
                        continue;
                    }
                    match Chan::new(dc.clone(), &self.deps.config).await {
                        Ok(chan) if chan.is_ctl || chan.label.starts_with(BLOB_LABEL_PREFIX) => {
                            // Created by the peer: it is open when announced.
                            chan.open.store(true, Ordering::Release);
                            self.add_channel(chan);
                        }
                        Ok(chan) => {
                            tracing::warn!(peer = %self.peer.short(), label = %chan.label, "unknown data channel; closing it");
                            let _ = dc.close().await;
                        }
                        Err(e) => {
                            tracing::warn!(peer = %self.peer.short(), error = %e, "could not set up a data channel")
                        }
                    }
                }
                PcEvent::ChannelOpen => {}
            }
            if self.is_connecting() && self.ready_to_use(connected) {
                let path = selected_path(&pc).await;
                *lock(&self.path) = path;
                self.state.send_if_modified(|s| {
                    if matches!(s, ConnState::Connecting) {
                        *s = ConnState::Ready;
                        true
                    } else {
                        false
                    }
                });
                let setup_ms = u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::debug!(peer = %self.peer.short(), role = ?self.role, ?path, setup_ms, "WebRTC connection ready");
            }
        }
        // The connection is over (or every handle is gone and nothing can use it).
        self.shutdown(TransportError::broken("connection closed"), false, true);
        if self.tell_peer.load(Ordering::Acquire) {
            let (code, message) = match &*self.state.borrow() {
                ConnState::Closed { error: TransportError::Refused { code, message }, .. } => {
                    (code.clone(), message.clone())
                }
                ConnState::Closed { error, .. } => ("closed".to_string(), error.to_string()),
                _ => ("closed".to_string(), String::new()),
            };
            let payload = RtcSignal::Close { session: self.session.clone(), code, message }.to_payload();
            let to = self.peer.to_string();
            let _ = tokio::time::timeout(Duration::from_secs(2), self.deps.hub.signal(&to, payload)).await;
        }
        if let Err(e) = pc.close().await {
            tracing::debug!(error = %e, "closing the peer connection");
        }
    }

    /// Sends this connection's signals through the hub, in order, batching ICE candidates.
    async fn signal_loop(self: Arc<Self>, mut signals: mpsc::UnboundedReceiver<SignalOut>) {
        let to = self.peer.to_string();
        loop {
            let next = tokio::select! {
                () = self.closed.cancelled() => return,
                next = signals.recv() => next,
            };
            let payload = match next {
                None => return,
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
                    let payload =
                        RtcSignal::Candidates { session: self.session.clone(), candidates: batch }.to_payload();
                    if let Err(e) = self.deps.hub.signal(&to, payload).await {
                        self.signal_failed(e);
                        return;
                    }
                    match after {
                        Some(s) => s.to_payload(),
                        None => continue,
                    }
                }
            };
            if let Err(e) = self.deps.hub.signal(&to, payload).await {
                self.signal_failed(e);
                return;
            }
        }
    }

    fn signal_failed(&self, error: crate::hub::HubError) {
        let error = if error.is_peer_unavailable() {
            TransportError::PeerOffline { peer: self.peer }
        } else {
            TransportError::unreachable_by("signaling through the hub failed", error)
        };
        // A failed signal leaves the connection half set up; only a connecting one is lost.
        if self.is_connecting() {
            self.shutdown(error, false, false);
        } else {
            tracing::debug!(peer = %self.peer.short(), %error, "a late signal failed");
        }
    }

    /// Writes small control frames (acknowledgements, cancels) queued by blob receivers.
    async fn ctrl_loop(self: Arc<Self>, mut ctrl: mpsc::UnboundedReceiver<(Arc<Chan>, BytesMut)>) {
        loop {
            let next = tokio::select! {
                () = self.closed.cancelled() => return,
                next = ctrl.recv() => next,
            };
            let Some((chan, frame)) = next else { return };
            if let Err(e) = chan.send(frame).await {
                tracing::debug!(error = %e, "control frame not sent");
            }
        }
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

/// Removes a sending blob from the table when its transfer ends.
struct Unregister<'a> {
    core: &'a ConnCore,
    id: u64,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        lock(&self.core.outgoing).remove(&self.id);
    }
}

/// A blob request of this side, unregistered (and the transfer cancelled, if unfinished) on drop.
struct Receiving {
    core: Arc<ConnCore>,
    chan: Arc<Chan>,
    id: u64,
    complete: bool,
    counted: bool,
}

impl Receiving {
    fn send_ctrl(&self, kind: Kind, body: &[u8]) {
        let _ = self.core.ctrl.send((self.chan.clone(), frame::encode(kind, self.id, body)));
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        lock(&self.core.pending).remove(&self.id);
        if self.counted {
            self.chan.streams.fetch_sub(1, Ordering::AcqRel);
        }
        if !self.complete && !self.core.closed.is_cancelled() {
            self.send_ctrl(Kind::Cancel, &[]);
        }
    }
}

struct RecvState {
    receiver: Receiving,
    rx: mpsc::UnboundedReceiver<BlobMsg>,
    /// Bytes taken by the reader, for the reader-side flow-control check.
    consumed: Arc<AtomicU64>,
    remaining: u64,
    received: u64,
    acked: u64,
    ack_every: u64,
    stall: Duration,
    done: bool,
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
        lock(&self.core.outgoing).len()
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
