//! The hub's I/O driver: an axum router whose WebSocket tasks talk to one actor task that owns the
//! sans-IO [`Hub`]. The actor batches events, drains the hub's outputs and routes them to per-
//! connection queues; a connection whose queue fills (a slow reader) is closed, never the hub.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use p2pos_signal::server::{ServerConfig, SignalServer};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = SignalServer::start(listener, ServerConfig::default(), axum::Router::new())?;
//! println!("hub at ws://{}/v1/ws", server.local_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::hub::{BeaconGrant, ConnId, Hub, HubConfig, Output, Protocol, close};
use crate::limits::Refusal;

/// Messages waiting for one connection before it counts as a slow reader.
const CONNECTION_QUEUE: usize = 256;
/// Events waiting for the hub actor; a full queue pushes back on the sockets.
const HUB_QUEUE: usize = 16_384;
/// Events the actor handles before it drains outputs, to amortise wake-ups under load.
const BATCH: usize = 512;
/// How long shutdown waits for connections to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// WebSocket read buffer per connection: small, since most connections are idle and messages are
/// at most a few KiB (the buffer grows to fit a larger message).
const READ_BUFFER: usize = 512;

/// Everything `p2pos signal` configures.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub hub: HubConfig,
    /// Proxies whose `X-Forwarded-For` is believed. Default: none (the socket address is used).
    pub trusted_proxies: Vec<IpAddr>,
    /// A TCP connection must send its request headers within this time. Default 10 s.
    pub header_timeout: Duration,
    /// TCP connections still in HTTP (not yet WebSocket) at once; more are closed at accept.
    /// Default 1,024.
    pub max_pending_http: usize,
    /// The URLs clients reach this hub at (`https://hub.example.org`, or its `wss://…/v1/ws`):
    /// a login must be signed for one of their origins ([`p2pos_hub_proto::auth_message`]).
    /// Default: none, and then a login must name the origin of the `Host` the upgrade request was
    /// sent to, over http or https. That suits a hub on a LAN or in tests, but a `Host` header is
    /// whatever the connecting side writes, so only configured URLs stop a rogue hub from
    /// relaying a login to this one (`docs/SECURITY.md`, "The hub").
    pub public_urls: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            hub: HubConfig::default(),
            trusted_proxies: Vec::new(),
            header_timeout: Duration::from_secs(10),
            max_pending_http: 1024,
            public_urls: Vec::new(),
        }
    }
}

enum Event {
    Message { conn: ConnId, text: Utf8Bytes },
    Activity { conn: ConnId },
}

enum Control {
    Connect {
        ip: IpAddr,
        protocol: Protocol,
        origins: Vec<String>,
        page_origin: Option<String>,
        queue: Arc<Outbox>,
        reply: oneshot::Sender<Result<ConnId, Refusal>>,
    },
    Disconnected {
        conn: ConnId,
    },
    SlowReader {
        conn: ConnId,
    },
    NewPeerJsId(oneshot::Sender<String>),
    Beacon(String, oneshot::Sender<BeaconGrant>),
    NetworkProof(IpAddr, oneshot::Sender<String>),
    PeerJsPeers(oneshot::Sender<Option<Vec<String>>>),
    Metrics(oneshot::Sender<String>),
    Health(oneshot::Sender<(usize, usize)>),
    Shutdown,
}

/// One connection's outgoing messages: a bounded queue the actor fills and the connection task
/// drains, and a kill switch for a peer that stopped reading. Lighter than a channel (nothing is
/// allocated until a message is queued), which matters because most connections sit idle.
struct Outbox {
    state: std::sync::Mutex<OutboxState>,
    ready: tokio::sync::Notify,
    killed: tokio::sync::Notify,
}

#[derive(Default)]
struct OutboxState {
    queue: std::collections::VecDeque<ToConn>,
    killed: bool,
}

/// The outbox is full: the connection is not reading fast enough.
struct Full;

impl Outbox {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: std::sync::Mutex::new(OutboxState::default()),
            ready: tokio::sync::Notify::new(),
            killed: tokio::sync::Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, message: ToConn) -> Result<(), Full> {
        {
            let mut state = self.lock();
            if state.queue.len() >= CONNECTION_QUEUE {
                return Err(Full);
            }
            state.queue.push_back(message);
        }
        self.ready.notify_one();
        Ok(())
    }

    fn kill(&self) {
        self.lock().killed = true;
        self.killed.notify_one();
    }

    /// The next message to send.
    async fn next(&self) -> ToConn {
        loop {
            {
                let mut state = self.lock();
                if let Some(message) = state.queue.pop_front() {
                    if state.queue.is_empty() && state.queue.capacity() > 16 {
                        state.queue.shrink_to_fit();
                    }
                    return message;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Resolves once the actor gave up on this connection.
    async fn wait_killed(&self) {
        loop {
            if self.lock().killed {
                return;
            }
            self.killed.notified().await;
        }
    }
}

enum ToConn {
    Text(String),
    Ping,
    Close(u16, String),
}

#[derive(Clone)]
struct AppState {
    events: mpsc::Sender<Event>,
    control: mpsc::UnboundedSender<Control>,
    trusted_proxies: Arc<Vec<IpAddr>>,
    /// The origins of [`ServerConfig::public_urls`]; empty: the request's `Host`.
    public_origins: Arc<Vec<String>>,
    /// The hub's other origins ([`HubConfig::alt_origins`]).
    alt_origins: Arc<Vec<String>>,
    max_message_bytes: usize,
    peerjs_key: String,
    tracker: TaskTracker,
}

/// A running hub. Dropping it leaves the tasks running; call [`SignalServer::shutdown`].
#[derive(Debug)]
pub struct SignalServer {
    addr: SocketAddr,
    control: mpsc::UnboundedSender<Control>,
    http: JoinHandle<std::io::Result<()>>,
    actor: JoinHandle<()>,
    tracker: TaskTracker,
    stop_http: Option<oneshot::Sender<()>>,
}

impl SignalServer {
    /// Starts serving on `listener`. `extra` is merged in (e.g. the web app as a fallback).
    /// Fails on a public URL that has no origin (not an absolute ws, wss, http or https URL).
    ///
    /// [`HubConfig::alt_origins`] may be given as URLs: they are turned into origins here (and a
    /// URL without one fails too).
    pub fn start(listener: TcpListener, mut config: ServerConfig, extra: Router) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let public_origins = public_origins(&config.public_urls)?;
        config.hub.alt_origins = public_origins_named(&config.hub.alt_origins, "alternative origin")?;
        if public_origins.is_empty() {
            tracing::warn!(
                "no public URL: logins are checked against the Host each client sent, which does not stop a \
                 rogue hub from relaying them here (set the hub's public URL)"
            );
        }
        let (events_tx, events_rx) = mpsc::channel(HUB_QUEUE);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let tracker = TaskTracker::new();
        let state = AppState {
            events: events_tx,
            control: control_tx.clone(),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            public_origins: Arc::new(public_origins),
            alt_origins: Arc::new(config.hub.alt_origins.clone()),
            max_message_bytes: config.hub.limits.max_message_bytes,
            peerjs_key: config.hub.peerjs_key.clone(),
            tracker: tracker.clone(),
        };
        let now = Instant::now();
        let hub = Hub::new(config.hub, now.into_std(), unix_now(), rand::random());
        let actor = tokio::spawn(run_actor(hub, events_rx, control_rx, control_tx.clone()));
        let app = router(state).merge(extra);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let http = tokio::spawn(accept_loop(listener, app, config.header_timeout, config.max_pending_http, stop_rx));
        Ok(Self { addr, control: control_tx, http, actor, tracker, stop_http: Some(stop_tx) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection with 1001, stops accepting, and waits (bounded) for all tasks.
    pub async fn shutdown(mut self) {
        let _ = self.control.send(Control::Shutdown);
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
        self.tracker.close();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.tracker.wait()).await;
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut self.http).await;
        self.http.abort();
        self.actor.abort();
    }
}

/// Accepts TCP connections and serves HTTP/1.1 with upgrades. Unlike `axum::serve`, it bounds
/// connections that have not finished their request (a semaphore) and gives each a deadline for
/// its headers, so thousands of half-open sockets cost a bounded amount and then go away.
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    max_pending: usize,
    mut stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let pending = std::sync::Arc::new(tokio::sync::Semaphore::new(max_pending));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let builder = builder.http1_only();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many pending HTTP connections; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone().layer(axum::Extension(ConnectInfo(peer))));
        let builder = builder.clone();
        let graceful = graceful.watcher();
        tokio::spawn(async move {
            // hyper's header timeout starts with the first byte; a socket that never sends one
            // is dropped here.
            let mut first = [0u8; 1];
            if !matches!(tokio::time::timeout(header_timeout, stream.peek(&mut first)).await, Ok(Ok(1))) {
                return;
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let _ = graceful.watch(connection.into_owned()).await;
            drop(permit);
        });
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(())
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/ws", get(native_ws))
        .route("/peerjs", get(peerjs_ws))
        .route(&format!("/{}/id", state.peerjs_key), get(peerjs_id))
        .route(&format!("/{}/peers", state.peerjs_key), get(peerjs_peers))
        .route("/v1/beacon", get(beacon))
        .route("/v1/network-proof", get(network_proof))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn run_actor(
    mut hub: Hub,
    mut events: mpsc::Receiver<Event>,
    mut control: mpsc::UnboundedReceiver<Control>,
    control_tx: mpsc::UnboundedSender<Control>,
) {
    let mut queues: HashMap<ConnId, Arc<Outbox>> = HashMap::new();
    let mut shutting_down = false;
    loop {
        let deadline =
            hub.poll_timeout().map(Instant::from_std).unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::select! {
            biased;
            Some(c) = control.recv() => {
                if matches!(c, Control::Shutdown) {
                    shutting_down = true;
                }
                on_control(&mut hub, &mut queues, c);
            }
            Some(e) = events.recv() => {
                on_event(&mut hub, e);
                for _ in 1..BATCH {
                    match events.try_recv() {
                        Ok(e) => on_event(&mut hub, e),
                        Err(_) => break,
                    }
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                let now = Instant::now().into_std();
                // The wall clock decides beacon slots and TURN expiry; tell the core now and then.
                hub.set_unix_time(now, unix_now());
                hub.handle_timeout(now);
            }
            else => break,
        }
        while let Some(output) = hub.poll_output() {
            route(output, &queues, &control_tx);
        }
        if shutting_down && queues.is_empty() {
            break;
        }
    }
}

fn on_event(hub: &mut Hub, event: Event) {
    let now = Instant::now().into_std();
    match event {
        Event::Message { conn, text } => hub.receive(conn, text.as_str(), now),
        Event::Activity { conn } => hub.activity(conn, now),
    }
}

fn on_control(hub: &mut Hub, queues: &mut HashMap<ConnId, Arc<Outbox>>, control: Control) {
    let now = Instant::now().into_std();
    match control {
        Control::Connect { ip, protocol, origins, page_origin, queue, reply } => {
            let result = hub.connect_from(ip, protocol, origins, page_origin, now);
            if let Ok(conn) = result {
                queues.insert(conn, queue);
            }
            if reply.send(result).is_err()
                && let Ok(conn) = result
            {
                // The upgrade request went away before we answered.
                queues.remove(&conn);
                hub.disconnected(conn, now);
            }
        }
        Control::Disconnected { conn } => {
            queues.remove(&conn);
            hub.disconnected(conn, now);
        }
        Control::SlowReader { conn } => {
            if let Some(queue) = queues.get(&conn) {
                queue.kill();
            }
            hub.slow_reader(conn, now);
        }
        Control::NewPeerJsId(reply) => {
            let _ = reply.send(hub.peerjs_new_id());
        }
        Control::Beacon(origin, reply) => {
            let _ = reply.send(hub.beacon(&origin, now));
        }
        Control::NetworkProof(ip, reply) => {
            let _ = reply.send(hub.network_proof(ip, now));
        }
        Control::PeerJsPeers(reply) => {
            let _ = reply.send(hub.peerjs_peers());
        }
        Control::Metrics(reply) => {
            let _ = reply.send(crate::metrics::render(hub));
        }
        Control::Health(reply) => {
            let _ = reply.send((hub.connection_count(), hub.namespace_count()));
        }
        Control::Shutdown => hub.shutdown(),
    }
}

fn route(output: Output, queues: &HashMap<ConnId, Arc<Outbox>>, control: &mpsc::UnboundedSender<Control>) {
    let (conn, message) = match output {
        Output::Send { conn, text } => (conn, ToConn::Text(text)),
        Output::Ping { conn } => (conn, ToConn::Ping),
        Output::Close { conn, code, reason } => (conn, ToConn::Close(code, reason)),
    };
    let Some(queue) = queues.get(&conn) else { return };
    if queue.push(message).is_err() {
        let _ = control.send(Control::SlowReader { conn });
    }
}

/// Tells the actor a connection is gone, whether its task ended or never started.
struct ConnGuard {
    conn: ConnId,
    control: mpsc::UnboundedSender<Control>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Disconnected { conn: self.conn });
    }
}

async fn run_connection(socket: WebSocket, guard: ConnGuard, outbox: Arc<Outbox>, events: mpsc::Sender<Event>) {
    tokio::select! {
        () = serve_connection(socket, guard.conn, &outbox, events) => {}
        // A peer that stopped reading: its close frame cannot get through a full buffer, so the
        // socket is simply dropped.
        () = outbox.wait_killed() => {}
    }
    drop(guard);
}

async fn serve_connection(mut socket: WebSocket, conn: ConnId, outbox: &Outbox, events: mpsc::Sender<Event>) {
    loop {
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if events.send(Event::Message { conn, text }).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Pong(_) | Message::Ping(_))) => {
                    let _ = events.send(Event::Activity { conn }).await;
                }
                Some(Ok(Message::Binary(_))) => {
                    let _ = socket.send(close_frame(1003, "text frames only")).await;
                    break;
                }
                Some(Ok(Message::Close(_))) => {
                    // tungstenite queued the close reply; reading on flushes it and then ends.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while let Some(Ok(_)) = socket.recv().await {}
                    })
                    .await;
                    break;
                }
                None => break,
                Some(Err(e)) => {
                    let text = e.to_string();
                    let code = if text.contains("too long") || text.contains("Space limit") { close::TOO_BIG } else { 1002 };
                    let _ = socket.send(close_frame(code, &text)).await;
                    break;
                }
            },
            command = outbox.next() => match command {
                ToConn::Text(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                ToConn::Ping => {
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        break;
                    }
                }
                ToConn::Close(code, reason) => {
                    let _ = socket.send(close_frame(code, &reason)).await;
                    break;
                }
            },
        }
    }
}

fn close_frame(code: u16, reason: &str) -> Message {
    // Close reasons are limited to 123 bytes by the WebSocket protocol.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame { code, reason: reason[..end].into() }))
}

/// The client's address: the socket's, or from `X-Forwarded-For` when the socket is a trusted
/// proxy (the rightmost address that is not itself a trusted proxy).
pub fn client_ip(socket: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&socket) {
        return socket;
    }
    forwarded_for
        .into_iter()
        .flat_map(|h| h.rsplit(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(socket)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// The origins of the configured public URLs, or an error naming one that has none.
fn public_origins(urls: &[String]) -> std::io::Result<Vec<String>> {
    public_origins_named(urls, "public URL")
}

fn public_origins_named(urls: &[String], what: &str) -> std::io::Result<Vec<String>> {
    let mut origins = Vec::new();
    for url in urls {
        let origin = p2pos_hub_proto::hub_origin(url).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the {what} {url:?} is not an absolute https, http, wss or ws URL"),
            )
        })?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// The origins a login on a native connection must name: the configured ones, else those of the
/// request's `Host` (none without one: then nobody can log in on that connection).
fn connection_origins(public_origins: &[String], host: Option<&str>) -> Vec<String> {
    if !public_origins.is_empty() {
        return public_origins.to_vec();
    }
    host.map(p2pos_hub_proto::origins_of_host).unwrap_or_default()
}

async fn upgrade(
    state: AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    ws: WebSocketUpgrade,
    protocol: Protocol,
) -> Response {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = client_ip(peer.ip(), forwarded, &state.trusted_proxies);
    let (origins, page_origin) = match protocol {
        Protocol::Native => (
            connection_origins(&state.public_origins, headers.get(header::HOST).and_then(|v| v.to_str().ok())),
            headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string),
        ),
        Protocol::PeerJs { .. } => (Vec::new(), None),
    };
    let outbox = Outbox::new();
    let (reply_tx, reply_rx) = oneshot::channel();
    let queue = outbox.clone();
    let sent = state.control.send(Control::Connect { ip, protocol, origins, page_origin, queue, reply: reply_tx });
    let result = match (sent, reply_rx.await) {
        (Ok(()), Ok(result)) => result,
        _ => Err(Refusal::ShuttingDown),
    };
    let conn = match result {
        Ok(conn) => conn,
        Err(refusal) => return refusal_response(refusal),
    };
    let guard = ConnGuard { conn, control: state.control.clone() };
    let limit = state.max_message_bytes;
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        // Up to 4x the limit reaches the hub, which closes with a precise reason; beyond that
        // the WebSocket layer refuses to buffer it at all.
        .max_message_size(limit.saturating_mul(4))
        .max_frame_size(limit.saturating_mul(4))
        .on_upgrade(move |socket| state.tracker.track_future(run_connection(socket, guard, outbox, state.events)))
}

fn refusal_response(refusal: Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = Json(serde_json::json!({"error": refusal.code(), "message": refusal.to_string()}));
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

async fn native_ws(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(state, peer, &headers, ws, Protocol::Native).await
}

#[derive(Debug, Deserialize)]
struct PeerJsQuery {
    #[serde(default)]
    key: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    token: String,
}

async fn peerjs_ws(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<PeerJsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(state, peer, &headers, ws, Protocol::PeerJs { key: q.key, id: q.id, token: q.token }).await
}

async fn ask<T>(state: &AppState, make: impl FnOnce(oneshot::Sender<T>) -> Control) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    state.control.send(make(tx)).ok()?;
    rx.await.ok()
}

fn unavailable() -> Response {
    refusal_response(Refusal::ShuttingDown)
}

/// The `peer` server's CORS: a PeerJS app is a static page on its own origin, so the answer
/// names that origin (reflected) and says it varies with it.
fn reflect_origin(headers: &HeaderMap, mut response: Response) -> Response {
    let out = response.headers_mut();
    out.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = headers.get(header::ORIGIN) {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    response
}

async fn peerjs_id(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let response = match ask(&state, Control::NewPeerJsId).await {
        Some(id) => ([(header::CONTENT_TYPE, "text/plain")], id).into_response(),
        None => unavailable(),
    };
    reflect_origin(&headers, response)
}

async fn peerjs_peers(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let response = peerjs_peer_list(&state).await;
    reflect_origin(&headers, response)
}

async fn peerjs_peer_list(state: &AppState) -> Response {
    match ask(state, Control::PeerJsPeers).await {
        Some(Some(ids)) => Json(ids).into_response(),
        Some(None) => (
            StatusCode::UNAUTHORIZED,
            Json(
                serde_json::json!({"error": "discovery_disabled", "message": "peer discovery is disabled on this hub"}),
            ),
        )
            .into_response(),
        None => unavailable(),
    }
}

/// The origins a beacon token or a network proof may be made for, for a request to `host`: the
/// hub's public origins (else those of `host`) and its alternative origins.
fn own_origins(state: &AppState, host: Option<&str>) -> Vec<String> {
    let mut origins = connection_origins(&state.public_origins, host);
    for alt in state.alt_origins.iter() {
        if !origins.contains(alt) {
            origins.push(alt.clone());
        }
    }
    origins
}

/// The origin of the page that made a request: its `Origin` header, else the `origin` it named in
/// the query, else the origin of its `Referer`. A same-origin `fetch` GET sends no `Origin`, and
/// the web app's pages send no `Referer` (`Referrer-Policy: no-referrer`), so they name it.
fn page_origin(headers: &HeaderMap, named: Option<&str>) -> Option<String> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return Some(origin.to_string());
    }
    if let Some(origin) = named {
        return Some(origin.to_string());
    }
    let referer = headers.get(header::REFERER).and_then(|v| v.to_str().ok())?;
    p2pos_hub_proto::hub_origin(referer)
}

#[derive(Debug, Deserialize)]
struct BeaconQuery {
    origin: Option<String>,
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refused(status: StatusCode, error: &str, message: String) -> Response {
    no_store((status, Json(serde_json::json!({"error": error, "message": message}))).into_response())
}

/// `GET /v1/beacon`: a token for the page that asks, if it is one of this hub's. No CORS headers,
/// so a page on another origin cannot read one (spam mitigation, not DRM: see docs/PROTOCOL.md).
async fn beacon(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<BeaconQuery>) -> Response {
    let own = own_origins(&state, headers.get(header::HOST).and_then(|v| v.to_str().ok()));
    let origin = match page_origin(&headers, q.origin.as_deref()) {
        Some(origin) if own.contains(&origin) => origin,
        Some(origin) => {
            return refused(
                StatusCode::FORBIDDEN,
                "foreign_origin",
                format!("beacon tokens are for pages of this hub, not of {origin}"),
            );
        }
        // No Origin and no Referer (a client that is not a page, or `no-referrer`): the hub's
        // first origin for this request.
        None => match own.into_iter().next() {
            Some(origin) => origin,
            None => return refused(StatusCode::BAD_REQUEST, "no_host", "the request names no host".into()),
        },
    };
    match ask(&state, |reply| Control::Beacon(origin, reply)).await {
        Some(grant) => no_store(Json(grant).into_response()),
        None => unavailable(),
    }
}

/// `GET /v1/network-proof`: a proof of the requester's address key, readable by the hub's own
/// origins only (a page on the hub's IPv4 origin asks its IPv6 origin, and the other way round).
async fn network_proof(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = client_ip(peer.ip(), forwarded, &state.trusted_proxies);
    let Some(proof) = ask(&state, |reply| Control::NetworkProof(ip, reply)).await else {
        return unavailable();
    };
    let mut response = no_store(Json(serde_json::json!({ "proof": proof })).into_response());
    let own = own_origins(&state, headers.get(header::HOST).and_then(|v| v.to_str().ok()));
    let out = response.headers_mut();
    out.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = headers.get(header::ORIGIN)
        && origin.to_str().is_ok_and(|o| own.iter().any(|own| own == o))
    {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    response
}

async fn health(State(state): State<AppState>) -> Response {
    match ask(&state, Control::Health).await {
        Some((connections, namespaces)) => Json(serde_json::json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "connections": connections,
            "namespaces": namespaces,
        }))
        .into_response(),
        None => unavailable(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    match ask(&state, Control::Metrics).await {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        None => unavailable(),
    }
}

#[cfg(test)]
mod tests {
    use super::{client_ip, connection_origins, public_origins};

    #[test]
    fn configured_public_urls_decide_the_origins_else_the_host_header() {
        let public = public_origins(&["wss://Hub.Example.org/v1/ws".into(), "https://hub.example.org".into()]).unwrap();
        assert_eq!(public, ["https://hub.example.org"]);
        assert!(public_origins(&["hub.example.org".into()]).is_err(), "no scheme, no origin");
        assert_eq!(connection_origins(&public, Some("rogue.example")), ["https://hub.example.org"]);
        assert_eq!(connection_origins(&[], Some("hub.lan:7800")), ["http://hub.lan:7800", "https://hub.lan:7800"]);
        assert!(connection_origins(&[], None).is_empty());
    }
    use std::net::IpAddr;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let forged = Some("198.51.100.1, 203.0.113.9");
        assert_eq!(client_ip(client, forged, &[proxy]), client, "an untrusted socket's header is ignored");
        assert_eq!(client_ip(proxy, forged, &[proxy]), client, "rightmost untrusted address");
        assert_eq!(client_ip(proxy, None, &[proxy]), proxy);
        assert_eq!(client_ip(proxy, Some("garbage"), &[proxy]), proxy);
    }
}
