//! A client of the hub's native protocol v1 (`ws://host:port/v1/ws`, docs/PROTOCOL.md).
//!
//! [`HubClient::spawn`] starts one background task that keeps a connection to the hub: it says
//! `hello`, proves the node's identity with its key when given one (`allow: "anyone"`, so any
//! peer may `signal` this node by its node id), answers pings, paces its own messages to the
//! limits the hub announced in `welcome`, and reconnects with exponential backoff and jitter when
//! the connection drops. The task stops when every [`HubHandle`] clone is dropped or
//! [`HubHandle::shutdown`] is called.
//!
//! What arrives from the hub comes out of the [`HubEvent`] receiver returned by `spawn`: the
//! node reads it and dispatches signals by their payload (the WebRTC transport's signals carry
//! `"p2pos": "rtc"`, see [`crate::webrtc`]).
//!
//! A `signal` that the hub delivers gets no reply, so to report `peer_unavailable` or
//! `not_allowed` the client follows its signals with a `ping` (one per burst of signals, not per
//! signal): the hub answers in order, so once the `pong` is back every signal before it that got
//! no error was delivered.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use p2pos_core::NodeId;
use p2pos_hub_proto::native::{Allow, AnnouncedLimits, ClientRequest, ServerMessage, VERSION};
use p2pos_hub_proto::to_text;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

pub use p2pos_hub_proto::{AUTH_CONTEXT, IceServer, auth_message, hub_origin};

/// Why a request to the hub failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The client is between connections (connecting, or waiting to reconnect).
    #[error("not connected to the hub")]
    NotConnected,
    /// The connection dropped before the hub answered.
    #[error("the hub connection dropped: {0}")]
    Disconnected(String),
    /// The hub answered with an error, e.g. `peer_unavailable` (the target is not connected) or
    /// `not_allowed` (the target accepts signals only from peers sharing a namespace).
    #[error("the hub refused: {code}: {message}")]
    Refused { code: String, message: String },
    /// No answer within the request timeout.
    #[error("no answer from the hub within {0} ms")]
    Timeout(u64),
    /// The message would exceed the hub's message size limit.
    #[error("message of {size} bytes exceeds the hub's limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// The hub answered something this client does not understand.
    #[error("unexpected answer from the hub: {0}")]
    Protocol(String),
    /// The client was shut down.
    #[error("the hub client is shut down")]
    Closed,
}

impl HubError {
    /// The hub's error code, when the hub refused the request.
    pub fn code(&self) -> Option<&str> {
        match self {
            HubError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The target of a `signal` is not connected to the hub.
    pub fn is_peer_unavailable(&self) -> bool {
        self.code() == Some("peer_unavailable")
    }
}

/// What the hub client reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HubEvent {
    /// Connected (and, with a key, authenticated): signals can be sent and received.
    Connected,
    /// The connection was lost; the client reconnects by itself.
    Disconnected { reason: String },
    /// A signal from another peer.
    Signal {
        /// The sender's hub peer id (anonymous, per connection).
        from: String,
        /// The identity the sender proved to the hub, if any (a node id's text form). Only this
        /// is evidence of who sent the signal.
        from_id: Option<String>,
        payload: Value,
    },
    /// Any other message the hub pushes (`presence`, `room_closed`, …), as it came.
    Message(Value),
}

/// Tunables of the hub client. `Default` suits production.
#[derive(Debug, Clone)]
pub struct HubClientConfig {
    /// How long one connection attempt (TCP, WebSocket, hello, auth) may take. Default 10 s.
    pub connect_timeout: Duration,
    /// How long a request (`signal` confirmation, `turn`) waits for the hub. Default 10 s.
    pub request_timeout: Duration,
    /// First reconnection delay; doubles on each failure. Default 500 ms.
    pub backoff_min: Duration,
    /// Longest reconnection delay. Default 30 s.
    pub backoff_max: Duration,
    /// Capacity of the event channel; when the reader falls this far behind, events are dropped
    /// (and logged). Default 1024.
    pub event_capacity: usize,
}

impl Default for HubClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            event_capacity: 1024,
        }
    }
}

/// Starts hub clients. See the module documentation.
#[derive(Debug)]
pub struct HubClient;

impl HubClient {
    /// Connects to the hub at `url` (`ws://host:port/v1/ws` or `wss://…`) in a background task
    /// and keeps the connection up. `key`: the node key to authenticate with (`None` = stay
    /// anonymous with a hub-assigned peer id). `profile`: a JSON object others see in presence
    /// (`Value::Null` for none).
    ///
    /// Must be called within a Tokio runtime.
    pub fn spawn(url: String, key: Option<SigningKey>, profile: Value) -> (HubHandle, mpsc::Receiver<HubEvent>) {
        Self::spawn_with(HubClientConfig::default(), url, key, profile)
    }

    /// [`HubClient::spawn`] with explicit tunables.
    pub fn spawn_with(
        config: HubClientConfig,
        url: String,
        key: Option<SigningKey>,
        profile: Value,
    ) -> (HubHandle, mpsc::Receiver<HubEvent>) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::channel(config.event_capacity.max(1));
        let identity = key.as_ref().map(|k| NodeId::from_verifying_key(&k.verifying_key()).to_string());
        let shared = Arc::new(Shared {
            peer_id: std::sync::Mutex::new(None),
            connected: AtomicBool::new(false),
            identity,
            stop: CancellationToken::new(),
        });
        let profile = match profile {
            Value::Null | Value::Object(_) => profile,
            other => {
                tracing::warn!(kind = %json_kind(&other), "hub profile is not a JSON object; sending none");
                Value::Null
            }
        };
        let task = Task { config, url, key, profile, cmd_rx, events: event_tx, shared: shared.clone() };
        tokio::spawn(task.run());
        let handle = HubHandle { inner: Arc::new(HandleInner { cmd: cmd_tx, shared }) };
        (handle, event_rx)
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// State the task and the handles share.
#[derive(Debug)]
struct Shared {
    peer_id: std::sync::Mutex<Option<String>>,
    connected: AtomicBool,
    identity: Option<String>,
    stop: CancellationToken,
}

#[derive(Debug)]
struct HandleInner {
    cmd: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        // The last handle is gone: nobody can use the connection any more.
        self.shared.stop.cancel();
    }
}

/// A handle on a running hub client. Cheap to clone; the client stops when the last clone is
/// dropped.
#[derive(Debug, Clone)]
pub struct HubHandle {
    inner: Arc<HandleInner>,
}

enum Command {
    Signal { to: String, payload: Value, reply: oneshot::Sender<Result<Value, HubError>> },
    Turn { reply: oneshot::Sender<Result<Value, HubError>> },
    Request { message: Value, reply: oneshot::Sender<Result<Value, HubError>> },
}

impl HubHandle {
    /// Sends `payload` to `to` (a node id's text form, for a node that authenticated with
    /// `allow: "anyone"`, or a hub peer id). Resolves once the hub has accepted it, or with
    /// [`HubError::Refused`] (`peer_unavailable`, `not_allowed`, …) when the hub refused it.
    pub async fn signal(&self, to: &str, payload: Value) -> Result<(), HubError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Signal { to: to.to_string(), payload, reply })?;
        rx.await.map_err(|_| HubError::Closed)?.map(|_| ())
    }

    /// Asks the hub for ICE servers (STUN, and TURN with fresh credentials).
    pub async fn ice_servers(&self) -> Result<Vec<IceServer>, HubError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Turn { reply })?;
        let value = rx.await.map_err(|_| HubError::Closed)??;
        serde_json::from_value(value).map_err(|e| HubError::Protocol(format!("ice_servers: {e}")))
    }

    /// Sends a request (`create_room`, `join`, `delete_room`, …; a `rid` is added) and resolves
    /// with the hub's reply to it, or with [`HubError::Refused`] when the hub answered an error.
    /// A reconnection does not repeat it: rooms and namespaces belong to one connection.
    pub async fn request(&self, message: Value) -> Result<Value, HubError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Request { message, reply })?;
        rx.await.map_err(|_| HubError::Closed)?
    }

    fn send(&self, command: Command) -> Result<(), HubError> {
        if self.inner.shared.stop.is_cancelled() {
            return Err(HubError::Closed);
        }
        self.inner.cmd.send(command).map_err(|_| HubError::Closed)
    }

    /// The hub-assigned peer id of the current connection, if connected.
    pub fn peer_id(&self) -> Option<String> {
        self.inner.shared.peer_id.lock().ok().and_then(|p| p.clone())
    }

    /// The identity this client proves (the node id's text form), if it has a key.
    pub fn identity(&self) -> Option<&str> {
        self.inner.shared.identity.as_deref()
    }

    /// Whether the client is connected (and authenticated, with a key) right now.
    pub fn is_connected(&self) -> bool {
        self.inner.shared.connected.load(Ordering::Acquire)
    }

    /// Stops the client: closes the connection and ends the task. Requests fail with
    /// [`HubError::Closed`] from then on.
    pub fn shutdown(&self) {
        self.inner.shared.stop.cancel();
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Task {
    config: HubClientConfig,
    url: String,
    key: Option<SigningKey>,
    profile: Value,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<HubEvent>,
    shared: Arc<Shared>,
}

/// How a connection ended.
enum End {
    /// Shut down, or every handle dropped.
    Stop,
    /// Lost; reconnect.
    Lost(String),
}

/// Limits the hub announced in `welcome`.
type Announced = AnnouncedLimits;

impl Task {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.config.backoff_min, self.config.backoff_max);
        loop {
            let attempt_started = Instant::now();
            let end = match self.connect().await {
                Ok(Some((ws, limits))) => {
                    self.shared.connected.store(true, Ordering::Release);
                    self.emit(HubEvent::Connected);
                    let end = Session::new(&mut self, limits).run(ws).await;
                    self.shared.connected.store(false, Ordering::Release);
                    if let Ok(mut p) = self.shared.peer_id.lock() {
                        *p = None;
                    }
                    if let End::Lost(reason) = &end {
                        tracing::info!(%reason, "hub connection lost");
                        self.emit(HubEvent::Disconnected { reason: reason.clone() });
                    }
                    end
                }
                Ok(None) => End::Stop,
                Err(reason) => {
                    tracing::debug!(url = %self.url, %reason, "hub connection attempt failed");
                    End::Lost(reason)
                }
            };
            if matches!(end, End::Stop) {
                return;
            }
            let jittered = backoff.after_attempt(attempt_started.elapsed(), rand::random::<f64>());
            if !self.idle_for(jittered).await {
                return;
            }
        }
    }

    fn emit(&self, event: HubEvent) {
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("hub event receiver is not keeping up; dropping an event");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Waits `delay` while refusing commands. False when the client must stop.
    async fn idle_for(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                () = self.shared.stop.cancelled() => return false,
                cmd = self.cmd_rx.recv() => match cmd {
                    Some(cmd) => refuse(cmd, HubError::NotConnected),
                    None => return false,
                },
            }
        }
    }

    /// One connection attempt, commands refused meanwhile. `Ok(None)` = stop.
    async fn connect(&mut self) -> Result<Option<(Ws, Announced)>, String> {
        let timeout = self.config.connect_timeout;
        let url = self.url.clone();
        let key = self.key.clone();
        let profile = self.profile.clone();
        let shared = self.shared.clone();
        let attempt = tokio::time::timeout(timeout, greet(url, key, profile, shared));
        tokio::pin!(attempt);
        loop {
            tokio::select! {
                result = &mut attempt => {
                    return match result {
                        Ok(Ok(ok)) => Ok(Some(ok)),
                        Ok(Err(e)) => Err(e),
                        Err(_) => Err(format!("no welcome within {} s", timeout.as_secs())),
                    };
                }
                () = self.shared.stop.cancelled() => return Ok(None),
                cmd = self.cmd_rx.recv() => match cmd {
                    Some(cmd) => refuse(cmd, HubError::NotConnected),
                    None => return Ok(None),
                },
            }
        }
    }
}

fn refuse(cmd: Command, error: HubError) {
    let reply = match cmd {
        Command::Signal { reply, .. } | Command::Turn { reply } | Command::Request { reply, .. } => reply,
    };
    let _ = reply.send(Err(error));
}

/// Opens the WebSocket, says hello and authenticates.
async fn greet(
    url: String,
    key: Option<SigningKey>,
    profile: Value,
    shared: Arc<Shared>,
) -> Result<(Ws, Announced), String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.map_err(|e| format!("connect: {e}"))?;
    let profile = profile.is_object().then_some(profile);
    let hello = to_text(&ClientRequest::Hello { rid: None, v: VERSION, profile });
    ws.send(Message::Text(hello.into())).await.map_err(|e| format!("send hello: {e}"))?;
    let text = next_text(&mut ws).await?;
    let (peer, challenge, limits) = match serde_json::from_str(&text) {
        Ok(ServerMessage::Welcome { peer, challenge, limits, .. }) => {
            (peer.into_owned(), challenge.into_owned(), limits)
        }
        _ => return Err(format!("expected welcome, got {}", short(&text))),
    };
    if let Some(key) = key {
        let origin = hub_origin(&url).ok_or_else(|| format!("the hub URL {url} has no origin to log in at"))?;
        let id = NodeId::from_verifying_key(&key.verifying_key()).to_string();
        let sig = B64.encode(key.sign(auth_message(&origin, &challenge).as_bytes()).to_bytes());
        let auth = ClientRequest::Auth { rid: Some(0), id: id.into(), sig: sig.into(), allow: Some(Allow::Anyone) };
        ws.send(Message::Text(to_text(&auth).into())).await.map_err(|e| format!("send auth: {e}"))?;
        let text = next_text(&mut ws).await?;
        match serde_json::from_str(&text) {
            Ok(ServerMessage::Authed { .. }) => {}
            Ok(ServerMessage::Error { code, message, .. }) => {
                return Err(format!("authentication refused: {code}: {message}"));
            }
            _ => return Err(format!("expected authed, got {}", short(&text))),
        }
    }
    if let Ok(mut p) = shared.peer_id.lock() {
        *p = Some(peer);
    }
    Ok((ws, limits))
}

/// The next text frame, skipping control frames.
async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => return Err(close_reason(frame.as_ref())),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("connection closed".into()),
        }
    }
}

fn close_reason(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) => format!("closed by the hub: {} {}", u16::from(f.code), f.reason),
        None => "closed by the hub".into(),
    }
}

fn short(text: &str) -> String {
    let mut s = text.to_string();
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// A request waiting for the hub.
struct Pending {
    deadline: Instant,
    reply: oneshot::Sender<Result<Value, HubError>>,
    /// For signals: the write sequence number once written (confirmed by a later pong).
    signal_written: Option<u64>,
    is_signal: bool,
}

/// A message waiting for a rate-limit token.
enum Out {
    Request {
        rid: u64,
        text: String,
    },
    /// A `ping` whose `pong` confirms every signal written before it.
    Barrier,
}

/// One live connection.
struct Session<'a> {
    task: &'a mut Task,
    limits: Announced,
    next_rid: u64,
    pending: HashMap<u64, Pending>,
    queue: VecDeque<Out>,
    /// Token bucket pacing our messages below the hub's rate limit.
    pacer: Pacer,
    write_seq: u64,
    /// rid and write sequence of the barrier ping in flight.
    barrier: Option<(u64, u64)>,
    last_heard: Instant,
}

impl<'a> Session<'a> {
    fn new(task: &'a mut Task, limits: Announced) -> Self {
        Self {
            task,
            limits,
            next_rid: 1,
            pending: HashMap::new(),
            queue: VecDeque::new(),
            pacer: Pacer::new(&limits, Instant::now().into_std()),
            write_seq: 0,
            barrier: None,
            last_heard: Instant::now(),
        }
    }

    async fn run(mut self, mut ws: Ws) -> End {
        let end = self.drive(&mut ws).await;
        let reason = match &end {
            End::Stop => "the hub client is shut down".to_string(),
            End::Lost(r) => r.clone(),
        };
        for (_, p) in self.pending.drain() {
            let error = match end {
                End::Stop => HubError::Closed,
                End::Lost(_) => HubError::Disconnected(reason.clone()),
            };
            let _ = p.reply.send(Err(error));
        }
        if matches!(end, End::Stop) {
            let frame = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
        }
        end
    }

    async fn drive(&mut self, ws: &mut Ws) -> End {
        let silence = Duration::from_secs(self.limits.idle_timeout_secs.max(self.limits.heartbeat_secs * 2) + 10);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if let Err(reason) = self.flush_queue(ws).await {
                return End::Lost(reason);
            }
            let wait = self.next_token_in();
            tokio::select! {
                () = self.task.shared.stop.cancelled() => return End::Stop,
                cmd = self.task.cmd_rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => return End::Stop,
                },
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        self.last_heard = Instant::now();
                        self.incoming(&text);
                    }
                    Some(Ok(Message::Close(frame))) => return End::Lost(close_reason(frame.as_ref())),
                    Some(Ok(Message::Ping(_))) => {
                        self.last_heard = Instant::now();
                        // tungstenite queued the pong; make sure it leaves now.
                        if let Err(e) = ws.flush().await {
                            return End::Lost(format!("write: {e}"));
                        }
                    }
                    Some(Ok(_)) => self.last_heard = Instant::now(),
                    Some(Err(e)) => return End::Lost(format!("read: {e}")),
                    None => return End::Lost("connection closed".into()),
                },
                () = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))), if wait.is_some() => {}
                _ = tick.tick() => {
                    if self.last_heard.elapsed() > silence {
                        return End::Lost(format!("nothing heard from the hub for {} s", silence.as_secs()));
                    }
                    self.expire();
                }
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        let rid = self.next_rid;
        self.next_rid += 1;
        let deadline = Instant::now() + self.task.config.request_timeout;
        let (text, reply, is_signal) = match cmd {
            Command::Signal { to, payload, reply } => {
                (to_text(&ClientRequest::Signal { rid: Some(rid), to: to.into(), payload }), reply, true)
            }
            Command::Turn { reply } => (to_text(&ClientRequest::Turn { rid: Some(rid) }), reply, false),
            Command::Request { mut message, reply } => {
                if let Value::Object(map) = &mut message {
                    map.insert("rid".into(), json!(rid));
                }
                (message.to_string(), reply, false)
            }
        };
        if text.len() > self.limits.max_message_bytes {
            let _ = reply.send(Err(HubError::TooLarge { size: text.len(), limit: self.limits.max_message_bytes }));
            return;
        }
        self.pending.insert(rid, Pending { deadline, reply, signal_written: None, is_signal });
        self.queue.push_back(Out::Request { rid, text });
    }

    /// Writes queued messages while rate-limit tokens last.
    async fn flush_queue(&mut self, ws: &mut Ws) -> Result<(), String> {
        let mut wrote = false;
        loop {
            if self.queue.is_empty() {
                // A burst of signals was written: follow it with one barrier ping.
                let unconfirmed = self.pending.values().any(|p| p.is_signal && p.signal_written.is_some());
                if unconfirmed && self.barrier.is_none() {
                    self.queue.push_back(Out::Barrier);
                } else {
                    break;
                }
            }
            if !self.pacer.take(Instant::now().into_std()) {
                break;
            }
            let Some(out) = self.queue.pop_front() else { break };
            let text = match out {
                Out::Request { rid, text } => {
                    // Timed out while queued: nothing to send.
                    let Some(p) = self.pending.get_mut(&rid) else { continue };
                    if p.is_signal {
                        p.signal_written = Some(self.write_seq);
                    }
                    text
                }
                Out::Barrier => {
                    let rid = self.next_rid;
                    self.next_rid += 1;
                    self.barrier = Some((rid, self.write_seq));
                    to_text(&ClientRequest::Ping { rid: Some(rid) })
                }
            };
            self.write_seq += 1;
            ws.feed(Message::Text(text.into())).await.map_err(|e| format!("write: {e}"))?;
            wrote = true;
        }
        if wrote {
            ws.flush().await.map_err(|e| format!("write: {e}"))?;
        }
        Ok(())
    }

    /// When the next token arrives, if something waits for one.
    fn next_token_in(&self) -> Option<Duration> {
        if self.queue.is_empty() { None } else { self.pacer.next_token_in() }
    }

    fn expire(&mut self) {
        let now = Instant::now();
        let expired: Vec<u64> = self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(rid, _)| *rid).collect();
        for rid in expired {
            if let Some(p) = self.pending.remove(&rid) {
                let _ = p.reply.send(Err(HubError::Timeout(self.task.config.request_timeout.as_millis() as u64)));
            }
        }
    }

    fn incoming(&mut self, text: &str) {
        match serde_json::from_str::<ServerMessage<'_>>(text) {
            Ok(ServerMessage::Signal { from, from_id, payload }) => {
                let payload = payload.into_value();
                self.task.emit(HubEvent::Signal { from: from.into_owned(), from_id, payload });
            }
            Ok(ServerMessage::Pong { rid }) => {
                if let (Some(rid), Some((barrier, seq))) = (rid, self.barrier)
                    && rid == barrier
                {
                    self.barrier = None;
                    let confirmed: Vec<u64> = self
                        .pending
                        .iter()
                        .filter(|(_, p)| p.signal_written.is_some_and(|w| w < seq))
                        .map(|(rid, _)| *rid)
                        .collect();
                    for rid in confirmed {
                        if let Some(p) = self.pending.remove(&rid) {
                            let _ = p.reply.send(Ok(Value::Null));
                        }
                    }
                }
            }
            Ok(ServerMessage::IceServers { rid, ice_servers, .. }) => {
                if let Some(p) = rid.and_then(|rid| self.pending.remove(&rid)) {
                    let _ = p.reply.send(Ok(serde_json::to_value(ice_servers).unwrap_or(Value::Array(vec![]))));
                }
            }
            Ok(ServerMessage::Error { rid, code, message }) => match rid.and_then(|rid| self.pending.remove(&rid)) {
                Some(p) => {
                    let _ =
                        p.reply.send(Err(HubError::Refused { code: code.into_owned(), message: message.into_owned() }));
                }
                None => tracing::warn!(%code, %message, "hub error"),
            },
            // Anything else (and a type this client does not know) as it came: the reply to a
            // `request`, or an event.
            _ => {
                let msg: Value = match serde_json::from_str(text) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(error = %e, "hub sent invalid JSON");
                        return;
                    }
                };
                match msg["rid"].as_u64().and_then(|rid| self.pending.remove(&rid)) {
                    Some(p) => {
                        let _ = p.reply.send(Ok(msg));
                    }
                    None => self.task.emit(HubEvent::Message(msg)),
                }
            }
        }
    }
}

/// The reconnection schedule: exponential backoff with jitter. Sans-IO: the caller passes how
/// long the attempt lasted and a random number.
#[derive(Debug, Clone)]
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Self { min, max, next: min }
    }

    /// The wait before the next attempt, after one that lasted `lasted` (connecting and, if it
    /// got that far, the connection itself). `jitter` is uniform in [0, 1).
    fn after_attempt(&mut self, lasted: Duration, jitter: f64) -> Duration {
        // A connection that lasted a while resets the backoff.
        if lasted > self.max {
            self.next = self.min;
        }
        // Full jitter: anywhere in [backoff/2, backoff].
        let wait = self.next.mul_f64(0.5 + jitter.clamp(0.0, 1.0) * 0.5);
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

/// Paces our messages with a token bucket a little under the hub's announced limits, so its
/// bucket never runs dry. Sans-IO: the caller passes the time. A hub that announces no rate
/// (`rate_per_sec` 0) is not paced.
#[derive(Debug, Clone)]
struct Pacer {
    enabled: bool,
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: std::time::Instant,
}

impl Pacer {
    fn new(limits: &Announced, now: std::time::Instant) -> Self {
        let burst = pacing_burst(limits);
        Self { enabled: limits.rate_per_sec > 0.0, rate: pacing_rate(limits), burst, tokens: burst, refilled: now }
    }

    /// Takes a token for one message at `now`; false when the message must wait.
    fn take(&mut self, now: std::time::Instant) -> bool {
        self.tokens =
            (self.tokens + now.saturating_duration_since(self.refilled).as_secs_f64() * self.rate).min(self.burst);
        self.refilled = now;
        if !self.enabled {
            return true;
        }
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// How long after the last [`Pacer::take`] the next token arrives, if there is none now.
    fn next_token_in(&self) -> Option<Duration> {
        if !self.enabled || self.tokens >= 1.0 {
            return None;
        }
        Some(Duration::from_secs_f64(((1.0 - self.tokens) / self.rate).max(0.001)))
    }
}

/// Our sustained rate: a little under the hub's, so its bucket never runs dry.
fn pacing_rate(limits: &Announced) -> f64 {
    (limits.rate_per_sec * 0.8).max(0.1)
}

fn pacing_burst(limits: &Announced) -> f64 {
    (limits.burst - 2.0).max(1.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
        let t0 = std::time::Instant::now();
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
        let ms = Duration::from_millis;
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
}
