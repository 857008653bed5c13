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
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

/// What an identity signs to prove itself to the hub: this prefix, the hub's origin, `|` and the
/// challenge text ([`auth_message`]; the hub's copy is `p2pos_signal::protocol`).
pub const AUTH_CONTEXT: &str = "p2pos-hub-auth-v2|";

/// The exact text signed to log in at the hub reached at `origin` ([`hub_origin`]) with
/// `challenge`. It names the hub, so a rogue hub that passes another hub's challenge on gets a
/// signature that only works at itself.
pub fn auth_message(origin: &str, challenge: &str) -> String {
    format!("{AUTH_CONTEXT}{origin}|{challenge}")
}

/// The origin of a hub URL as a login names it: `scheme://host[:port]` with `ws` → `http`,
/// `wss` → `https`, the host in lower case and no default port (as a browser's `new URL(url)`
/// gives it). `None` for anything but an absolute ws, wss, http or https URL with a host.
pub fn hub_origin(url: &str) -> Option<String> {
    let uri: tokio_tungstenite::tungstenite::http::Uri = url.trim().parse().ok()?;
    let (scheme, default_port) = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
        "ws" | "http" => ("http", 80),
        "wss" | "https" => ("https", 443),
        _ => return None,
    };
    let authority = uri.authority()?;
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    Some(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The hub's default message limit, used until `welcome` says otherwise.
const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// One entry of an `RTCConfiguration.iceServers` list, as the hub hands it out in reply to `turn`
/// (fresh TURN credentials each time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

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
#[derive(Debug, Clone, Copy)]
struct Announced {
    max_message_bytes: usize,
    rate_per_sec: f64,
    burst: f64,
    heartbeat_secs: u64,
    idle_timeout_secs: u64,
}

impl Task {
    async fn run(mut self) {
        let mut backoff = self.config.backoff_min;
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
            // A connection that lasted a while resets the backoff.
            if attempt_started.elapsed() > self.config.backoff_max {
                backoff = self.config.backoff_min;
            }
            // Full jitter: anywhere in [backoff/2, backoff].
            let jittered = backoff.mul_f64(0.5 + rand::random::<f64>() * 0.5);
            backoff = (backoff * 2).min(self.config.backoff_max);
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
    let mut hello = json!({"type": "hello", "v": 1});
    if profile.is_object() {
        hello["profile"] = profile;
    }
    ws.send(Message::Text(hello.to_string().into())).await.map_err(|e| format!("send hello: {e}"))?;
    let welcome = next_json(&mut ws).await?;
    if welcome["type"] != "welcome" {
        return Err(format!("expected welcome, got {}", short(&welcome)));
    }
    let peer = welcome["peer"].as_str().ok_or("welcome without peer")?.to_string();
    let challenge = welcome["challenge"].as_str().ok_or("welcome without challenge")?.to_string();
    let l = &welcome["limits"];
    let limits = Announced {
        max_message_bytes: l["max_message_bytes"].as_u64().map_or(DEFAULT_MAX_MESSAGE_BYTES, |v| v as usize),
        rate_per_sec: l["rate_per_sec"].as_f64().unwrap_or(10.0),
        burst: l["burst"].as_f64().unwrap_or(20.0),
        heartbeat_secs: l["heartbeat_secs"].as_u64().unwrap_or(20),
        idle_timeout_secs: l["idle_timeout_secs"].as_u64().unwrap_or(60),
    };
    if let Some(key) = key {
        let origin = hub_origin(&url).ok_or_else(|| format!("the hub URL {url} has no origin to log in at"))?;
        let id = NodeId::from_verifying_key(&key.verifying_key()).to_string();
        let sig = key.sign(auth_message(&origin, &challenge).as_bytes());
        let auth = json!({"type": "auth", "rid": 0, "id": id, "sig": B64.encode(sig.to_bytes()), "allow": "anyone"});
        ws.send(Message::Text(auth.to_string().into())).await.map_err(|e| format!("send auth: {e}"))?;
        let answer = next_json(&mut ws).await?;
        match answer["type"].as_str() {
            Some("authed") => {}
            Some("error") => {
                return Err(format!(
                    "authentication refused: {}: {}",
                    answer["code"].as_str().unwrap_or("?"),
                    answer["message"].as_str().unwrap_or("")
                ));
            }
            _ => return Err(format!("expected authed, got {}", short(&answer))),
        }
    }
    if let Ok(mut p) = shared.peer_id.lock() {
        *p = Some(peer);
    }
    Ok((ws, limits))
}

/// The next text frame as JSON, skipping control frames.
async fn next_json(ws: &mut Ws) -> Result<Value, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text).map_err(|e| format!("hub sent invalid JSON: {e}"));
            }
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

fn short(v: &Value) -> String {
    let mut s = v.to_string();
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
    tokens: f64,
    refilled: Instant,
    write_seq: u64,
    /// rid and write sequence of the barrier ping in flight.
    barrier: Option<(u64, u64)>,
    last_heard: Instant,
}

impl<'a> Session<'a> {
    fn new(task: &'a mut Task, limits: Announced) -> Self {
        let burst = pacing_burst(&limits);
        Self {
            task,
            limits,
            next_rid: 1,
            pending: HashMap::new(),
            queue: VecDeque::new(),
            tokens: burst,
            refilled: Instant::now(),
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
                (json!({"type": "signal", "rid": rid, "to": to, "payload": payload}).to_string(), reply, true)
            }
            Command::Turn { reply } => (json!({"type": "turn", "rid": rid}).to_string(), reply, false),
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
            self.refill();
            if self.limits.rate_per_sec > 0.0 && self.tokens < 1.0 {
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
                    json!({"type": "ping", "rid": rid}).to_string()
                }
            };
            self.tokens -= 1.0;
            self.write_seq += 1;
            ws.feed(Message::Text(text.into())).await.map_err(|e| format!("write: {e}"))?;
            wrote = true;
        }
        if wrote {
            ws.flush().await.map_err(|e| format!("write: {e}"))?;
        }
        Ok(())
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let rate = pacing_rate(&self.limits);
        self.tokens =
            (self.tokens + now.duration_since(self.refilled).as_secs_f64() * rate).min(pacing_burst(&self.limits));
        self.refilled = now;
    }

    /// When the next token arrives, if something waits for one.
    fn next_token_in(&self) -> Option<Duration> {
        if self.queue.is_empty() || self.limits.rate_per_sec <= 0.0 || self.tokens >= 1.0 {
            return None;
        }
        Some(Duration::from_secs_f64(((1.0 - self.tokens) / pacing_rate(&self.limits)).max(0.001)))
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
        let msg: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "hub sent invalid JSON");
                return;
            }
        };
        let rid = msg["rid"].as_u64();
        match msg["type"].as_str().unwrap_or("") {
            "signal" => {
                let Some(from) = msg["from"].as_str() else {
                    tracing::warn!("hub signal without from");
                    return;
                };
                let from_id = msg["from_id"].as_str().map(str::to_string);
                let payload = msg.get("payload").cloned().unwrap_or(Value::Null);
                self.task.emit(HubEvent::Signal { from: from.to_string(), from_id, payload });
            }
            "pong" => {
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
            "ice_servers" => {
                if let Some(p) = rid.and_then(|rid| self.pending.remove(&rid)) {
                    let _ = p.reply.send(Ok(msg.get("ice_servers").cloned().unwrap_or(Value::Array(vec![]))));
                }
            }
            "error" => {
                let code = msg["code"].as_str().unwrap_or("unknown").to_string();
                let message = msg["message"].as_str().unwrap_or("").to_string();
                match rid.and_then(|rid| self.pending.remove(&rid)) {
                    Some(p) => {
                        let _ = p.reply.send(Err(HubError::Refused { code, message }));
                    }
                    None => tracing::warn!(%code, %message, "hub error"),
                }
            }
            _ => match rid.and_then(|rid| self.pending.remove(&rid)) {
                // The reply to a `request`.
                Some(p) => {
                    let _ = p.reply.send(Ok(msg));
                }
                None => self.task.emit(HubEvent::Message(msg)),
            },
        }
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
    fn ice_servers_parse_with_and_without_credentials() {
        let v = json!([
            {"urls": ["stun:hub.example.org:3478"]},
            {"urls": ["turn:hub.example.org:3478?transport=udp"], "username": "1:x", "credential": "c"}
        ]);
        let servers: Vec<IceServer> = serde_json::from_value(v).unwrap();
        assert_eq!(servers[0].username, None);
        assert_eq!(servers[1].credential.as_deref(), Some("c"));
    }

    #[test]
    fn the_login_names_the_hub_s_origin_as_a_browser_would() {
        // The same cases are in crates/p2pos-signal/src/protocol.rs and apps/web/src/lib/hubClient.test.ts.
        let cases = [
            ("wss://hub.example.org/v1/ws", Some("https://hub.example.org")),
            ("wss://Hub.Example.ORG:443/v1/ws", Some("https://hub.example.org")),
            ("wss://hub.example.org:8443/v1/ws", Some("https://hub.example.org:8443")),
            ("ws://127.0.0.1:7800/v1/ws", Some("http://127.0.0.1:7800")),
            ("ws://127.0.0.1:80/v1/ws", Some("http://127.0.0.1")),
            ("ws://[::1]:7800/v1/ws", Some("http://[::1]:7800")),
            ("https://hub.example.org/", Some("https://hub.example.org")),
            ("http://hub.example.org:8080", Some("http://hub.example.org:8080")),
            ("ftp://hub.example.org/", None),
            ("/v1/ws", None),
            ("not a url", None),
        ];
        for (url, origin) in cases {
            assert_eq!(hub_origin(url).as_deref(), origin, "{url}");
        }
        assert_eq!(
            auth_message("https://hub.example.org", "Y2hhbGxlbmdl"),
            "p2pos-hub-auth-v2|https://hub.example.org|Y2hhbGxlbmdl"
        );
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
}
