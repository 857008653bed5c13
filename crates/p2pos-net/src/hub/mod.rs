//! A client of the hub's native protocol v1 (`ws://host:port/v1/ws`, docs/PROTOCOL.md).
//!
//! [`HubClient::spawn`] starts one background task that keeps a connection to the hub: it says
//! `hello`, proves the node's identity with its key when given one (by default `allow: "anyone"`,
//! so any peer may `signal` this node by its node id; Chat proves a person's identity with
//! `allow: "contacts"`, [`HubClientConfig::allow`]), answers pings, paces its own messages to the
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
//!
//! Everything but I/O — the connection's states, reconnection, pacing, pending requests and
//! their timeouts — is the sans-IO `HubMachine` (`hub/machine.rs`). This module is its driver:
//! one task that owns the socket, a timer at the machine's next deadline, the handles' command
//! channel and the reply senders, waits on all of them in one `select!`, feeds the machine and
//! carries out its outputs.

mod beacon;
mod machine;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures_util::{SinkExt, StreamExt};
use p2pos_core::NodeId;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

use crate::clock::lock;
use machine::{HubMachine, MachineConfig, Output, Request, RequestId};

pub use beacon::{Beacon, fetch_beacon};
pub use p2pos_hub_proto::native::Allow;
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
    /// An HTTP request to the hub (`GET /v1/beacon`) failed before the hub answered.
    #[error("could not reach the hub over HTTP: {0}")]
    Http(String),
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
    /// Who may signal this client by its identity, when it has a key. Default
    /// [`Allow::Anyone`] (a node serves its family from anywhere); Chat uses [`Allow::Contacts`].
    pub allow: Allow,
    /// The `Origin` header of the WebSocket upgrade, e.g. the hub's own origin
    /// ([`hub_origin`]), which joins of `network` and `rv:` need with a beacon token. Default none.
    pub origin: Option<String>,
}

impl Default for HubClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            event_capacity: 1024,
            allow: Allow::Anyone,
            origin: None,
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
        let machine_config = MachineConfig {
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            backoff_min: config.backoff_min,
            backoff_max: config.backoff_max,
            allow: config.allow,
        };
        let profile = profile.is_object().then_some(profile);
        let machine = HubMachine::new(machine_config, url.clone(), key, profile, now(), rand::random());
        let task = Task {
            url,
            origin: config.origin,
            machine,
            cmd_rx,
            events: event_tx,
            shared: shared.clone(),
            replies: HashMap::new(),
            ws: None,
            opening: None,
        };
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
    Join { ns: String, beacon: Option<String>, also: Vec<String>, hidden: bool, reply: Reply },
    Contacts { ids: Vec<String>, reply: Reply },
}

type Reply = oneshot::Sender<Result<Value, HubError>>;

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

    /// Joins namespace `ns` and resolves with the hub's `joined` (its `peers`). `network` and
    /// `rv:` names need a current `beacon` token ([`fetch_beacon`]) and the client's `origin`
    /// ([`HubClientConfig::origin`]); `network` also takes network proofs (`also`) and `hidden`
    /// (watch without being listed). A reconnection does not repeat it.
    pub async fn join(&self, ns: &str, beacon: Option<&str>, also: &[String], hidden: bool) -> Result<Value, HubError> {
        let (reply, rx) = oneshot::channel();
        let (ns, beacon, also) = (ns.to_string(), beacon.map(str::to_string), also.to_vec());
        self.send(Command::Join { ns, beacon, also, hidden, reply })?;
        rx.await.map_err(|_| HubError::Closed)?
    }

    /// Replaces this connection's contact list (identity ids): with [`Allow::Contacts`], only
    /// they may signal this client by its identity. Resolves with the number the hub holds. A
    /// reconnection does not repeat it.
    pub async fn set_contacts(&self, ids: &[String]) -> Result<u64, HubError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Contacts { ids: ids.to_vec(), reply })?;
        let set = rx.await.map_err(|_| HubError::Closed)??;
        set["count"].as_u64().ok_or_else(|| HubError::Protocol(format!("contacts_set without a count: {set}")))
    }

    fn send(&self, command: Command) -> Result<(), HubError> {
        if self.inner.shared.stop.is_cancelled() {
            return Err(HubError::Closed);
        }
        self.inner.cmd.send(command).map_err(|_| HubError::Closed)
    }

    /// The hub-assigned peer id of the current connection, if connected.
    pub fn peer_id(&self) -> Option<String> {
        lock(&self.inner.shared.peer_id).clone()
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

/// Opening a WebSocket, as the driver awaits it.
type Opening = Pin<Box<dyn Future<Output = Result<Ws, String>> + Send>>;

/// What woke the driver.
enum Input {
    Stop,
    Command(Command),
    /// Boxed: a socket is large.
    Opened(Box<Result<Ws, String>>),
    Frame(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Timeout,
}

/// The driver: the socket, the timer, the commands and the reply senders; the rest is the
/// [`HubMachine`].
struct Task {
    url: String,
    origin: Option<String>,
    machine: HubMachine,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<HubEvent>,
    shared: Arc<Shared>,
    replies: HashMap<RequestId, oneshot::Sender<Result<Value, HubError>>>,
    ws: Option<Ws>,
    opening: Option<Opening>,
}

impl Task {
    async fn run(mut self) {
        loop {
            self.drain().await;
            if self.machine.is_stopped() {
                return;
            }
            let timeout = self.machine.poll_timeout();
            let ws = &mut self.ws;
            let opening = &mut self.opening;
            let input = tokio::select! {
                () = self.shared.stop.cancelled() => Input::Stop,
                cmd = self.cmd_rx.recv() => match cmd {
                    Some(cmd) => Input::Command(cmd),
                    None => Input::Stop,
                },
                opened = async {
                    match opening.as_mut() {
                        Some(opening) => opening.await,
                        None => std::future::pending().await,
                    }
                } => Input::Opened(Box::new(opened)),
                frame = async {
                    match ws.as_mut() {
                        Some(ws) => ws.next().await,
                        None => std::future::pending().await,
                    }
                } => Input::Frame(frame),
                () = sleep_until(timeout) => Input::Timeout,
            };
            match input {
                Input::Stop => self.machine.close(now()),
                Input::Command(cmd) => {
                    let (request, reply) = match cmd {
                        Command::Signal { to, payload, reply } => (Request::Signal { to, payload }, reply),
                        Command::Turn { reply } => (Request::Turn, reply),
                        Command::Request { message, reply } => (Request::Raw(message), reply),
                        Command::Join { ns, beacon, also, hidden, reply } => {
                            (Request::Join { ns, beacon, also, hidden }, reply)
                        }
                        Command::Contacts { ids, reply } => (Request::Contacts(ids), reply),
                    };
                    let id = self.machine.request(now(), request);
                    self.replies.insert(id, reply);
                }
                Input::Opened(opened) => {
                    self.opening = None;
                    match *opened {
                        Ok(ws) => {
                            self.ws = Some(ws);
                            self.machine.handle_connected(now());
                        }
                        Err(reason) => self.machine.handle_closed(now(), reason),
                    }
                }
                Input::Frame(frame) => self.frame(frame).await,
                Input::Timeout => self.machine.handle_timeout(now()),
            }
        }
    }

    async fn frame(&mut self, frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) {
        match frame {
            Some(Ok(Message::Text(text))) => self.machine.handle_text(now(), text.as_str()),
            Some(Ok(Message::Close(frame))) => self.machine.handle_closed(now(), close_reason(frame.as_ref())),
            Some(Ok(Message::Ping(_))) => {
                self.machine.handle_frame(now());
                // tungstenite queued the pong; make sure it leaves now.
                if let Some(ws) = &mut self.ws
                    && let Err(e) = ws.flush().await
                {
                    self.machine.handle_closed(now(), format!("write: {e}"));
                }
            }
            Some(Ok(_)) => self.machine.handle_frame(now()),
            Some(Err(e)) => self.machine.handle_closed(now(), format!("read: {e}")),
            None => self.machine.handle_closed(now(), "connection closed".into()),
        }
    }

    /// Carries out what the machine asks until it asks nothing more.
    async fn drain(&mut self) {
        loop {
            let mut wrote = false;
            while let Some(output) = self.machine.poll_output() {
                match output {
                    Output::Connect => self.opening = Some(Box::pin(open(self.url.clone(), self.origin.clone()))),
                    Output::Transmit(text) => {
                        let Some(ws) = &mut self.ws else { continue };
                        match ws.feed(Message::Text(text.into())).await {
                            Ok(()) => wrote = true,
                            Err(e) => self.machine.handle_closed(now(), format!("write: {e}")),
                        }
                    }
                    Output::Disconnect { goodbye } => {
                        self.opening = None;
                        wrote = false;
                        if let Some(mut ws) = self.ws.take()
                            && goodbye
                        {
                            let frame = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
                            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
                        }
                    }
                    Output::Event(event) => {
                        self.sync_shared();
                        self.emit(event);
                    }
                    Output::Reply { id, result } => {
                        if let Some(reply) = self.replies.remove(&id) {
                            let _ = reply.send(result);
                        }
                    }
                }
            }
            self.sync_shared();
            if !wrote {
                return;
            }
            let Some(ws) = &mut self.ws else { return };
            match ws.flush().await {
                Ok(()) => return,
                // Carry out what the loss asks for at once.
                Err(e) => self.machine.handle_closed(now(), format!("write: {e}")),
            }
        }
    }

    /// Publishes the connection state to the handles.
    fn sync_shared(&self) {
        let up = self.machine.is_up();
        let mut peer_id = lock(&self.shared.peer_id);
        if peer_id.as_deref() != self.machine.peer_id() {
            *peer_id = self.machine.peer_id().map(str::to_string);
        }
        drop(peer_id);
        self.shared.connected.store(up, Ordering::Release);
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
}

/// The machine's clock: tokio's, so tests with paused time drive it too.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(Instant::from_std(deadline)).await,
        None => std::future::pending().await,
    }
}

/// Opens the WebSocket, with an `Origin` header when one is configured.
async fn open(url: String, origin: Option<String>) -> Result<Ws, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = url.as_str().into_client_request().map_err(|e| format!("connect: {e}"))?;
    if let Some(origin) = origin {
        let value = origin.parse().map_err(|e| format!("connect: the Origin {origin:?} is not a header value: {e}"))?;
        request.headers_mut().insert("origin", value);
    }
    let (ws, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| format!("connect: {e}"))?;
    Ok(ws)
}

fn close_reason(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) => format!("closed by the hub: {} {}", u16::from(f.code), f.reason),
        None => "closed by the hub".into(),
    }
}
