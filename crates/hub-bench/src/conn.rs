//! Opening PeerJS connections and driving them.
//!
//! [`open`] connects one client (optionally from a chosen 127.0.0.x source address, so more
//! than one address's worth of ephemeral ports can be used) and waits for the server's first
//! message. [`spawn_driver`] then gives the socket to one task that owns it: it writes what
//! the scenario queues on the connection's [`Sender`], hands every text frame to the
//! scenario's [`Handler`], and sends PeerJS heartbeats. Dropping every `Sender` closes the
//! connection; a connection that died before that reports why in its [`DriverEnd`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use crate::peerjs::{Endpoint, Greeting, HEARTBEAT, PeerId, parse_greeting};

pub type Ws = WebSocketStream<TcpStream>;

/// Source addresses `127.0.0.first` … `127.0.0.(first + count - 1)`, used round-robin.
/// Each source address has its own ~28k ephemeral ports, so spreading lets one machine hold
/// more connections to one server port (and survive earlier runs' TIME_WAIT sockets).
#[derive(Debug, Clone, Copy)]
pub struct SourceAddrs {
    first: u32,
    count: u32,
}

impl SourceAddrs {
    /// `first` is an offset in 127.0.0.0/8 (1 = 127.0.0.1); count 0 means "let the kernel pick".
    pub fn new(first: u32, count: u32) -> anyhow::Result<Self> {
        if count > 0 && (first == 0 || first + count > 0x00ff_ffff) {
            bail!("source addresses must stay inside 127.0.0.1 … 127.255.255.254");
        }
        Ok(Self { first, count })
    }

    /// The source address of connection `index`, or `None` for the kernel's choice.
    pub fn for_index(&self, index: usize) -> Option<Ipv4Addr> {
        if self.count == 0 {
            return None;
        }
        let offset = self.first + (index as u32 % self.count);
        Some(Ipv4Addr::from(0x7f00_0000 | offset))
    }

    /// The same number of addresses, `shift` blocks further on (one block per worker process).
    pub fn shifted(&self, shift: u32) -> Self {
        Self { first: self.first + shift * self.count, count: self.count }
    }
}

/// WebSocket buffers sized for many mostly idle connections: the tungstenite default read
/// buffer (128 KiB, allocated up front) would make the load generator hold gigabytes. Writes
/// collect in the write buffer until the driver flushes, so a burst leaves in one syscall.
pub fn ws_config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(usize::MAX)
}

/// Why a connection did not reach `OPEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenFailure {
    Tcp,
    Handshake,
    IdTaken,
    ServerError,
    Unexpected,
    Closed,
    Timeout,
}

#[derive(Debug)]
pub struct OpenError {
    pub kind: OpenFailure,
    pub detail: String,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.detail)
    }
}

impl std::error::Error for OpenError {}

fn fail(kind: OpenFailure, detail: impl ToString) -> OpenError {
    OpenError { kind, detail: detail.to_string() }
}

/// Connects as `id` and waits for `OPEN` (the whole of it bounded by `timeout`).
pub async fn open(
    endpoint: &Endpoint,
    id: &PeerId,
    token: &str,
    source: Option<Ipv4Addr>,
    config: WebSocketConfig,
    timeout: Duration,
) -> Result<Ws, OpenError> {
    match tokio::time::timeout(timeout, open_inner(endpoint, id, token, source, config)).await {
        Ok(result) => result,
        Err(_) => Err(fail(OpenFailure::Timeout, format!("no OPEN within {timeout:?}"))),
    }
}

async fn open_inner(
    endpoint: &Endpoint,
    id: &PeerId,
    token: &str,
    source: Option<Ipv4Addr>,
    config: WebSocketConfig,
) -> Result<Ws, OpenError> {
    let stream = tcp_connect(endpoint.addr, source).await.map_err(|e| fail(OpenFailure::Tcp, format!("{e:#}")))?;
    let uri = endpoint.connect_uri(id, token);
    let (mut ws, _response) =
        client_async_with_config(uri, stream, Some(config)).await.map_err(|e| fail(OpenFailure::Handshake, e))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return match parse_greeting(&text) {
                    Greeting::Open => Ok(ws),
                    Greeting::IdTaken(m) => Err(fail(OpenFailure::IdTaken, m)),
                    Greeting::Error(m) => Err(fail(OpenFailure::ServerError, m)),
                    Greeting::Unexpected(m) => Err(fail(OpenFailure::Unexpected, m)),
                };
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(fail(OpenFailure::Closed, format!("{frame:?}")));
            }
            Some(Ok(_)) => {} // ping/pong/binary before OPEN: keep waiting
            Some(Err(e)) => return Err(fail(OpenFailure::Closed, e)),
            None => return Err(fail(OpenFailure::Closed, "connection closed before OPEN")),
        }
    }
}

async fn tcp_connect(addr: SocketAddr, source: Option<Ipv4Addr>) -> anyhow::Result<TcpStream> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .context("creating a socket (out of file descriptors?)")?;
    if let (Some(ip), SocketAddr::V4(_)) = (source, addr) {
        socket.bind(SocketAddr::new(IpAddr::V4(ip), 0)).with_context(|| format!("binding source address {ip}"))?;
    }
    let stream = socket.connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    Ok(stream)
}

/// What a scenario does with the text frames one connection receives. It may queue replies.
pub trait Handler: Send + 'static {
    fn on_text(&mut self, text: &str, replies: &mut Vec<Message>);
}

/// Queues messages on one driven connection. Cheap to clone; the connection closes when the
/// last clone is dropped.
#[derive(Debug, Clone)]
pub struct Sender {
    tx: mpsc::UnboundedSender<Message>,
}

impl Sender {
    /// Returns false if the connection is gone.
    pub fn send(&self, text: impl Into<String>) -> bool {
        self.tx.send(Message::text(text.into())).is_ok()
    }
}

/// How a driven connection ended.
#[derive(Debug, Clone, Default)]
pub struct DriverEnd {
    /// Set when the server or the network closed it before the scenario let it go.
    pub error: Option<String>,
}

/// Hands `ws` to a reader task and a writer task until every [`Sender`] is dropped.
///
/// Reading and writing are separate so that a socket this side cannot write to (the server
/// is not reading) never stops this side from reading: otherwise a server that applies
/// backpressure could deadlock with the load generator. `heartbeat` is the PeerJS client's
/// interval (5 s); `phase` offsets the first beat so thousands of clients do not beat in step.
pub fn spawn_driver<H: Handler>(
    ws: Ws,
    handler: H,
    heartbeat: Option<Duration>,
    phase: Duration,
) -> (Sender, JoinHandle<DriverEnd>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let replies = tx.downgrade();
    let task = tokio::spawn(async move {
        let (sink, stream) = ws.split();
        let (let_go_tx, let_go_rx) = oneshot::channel();
        let writer = tokio::spawn(write_loop(sink, rx, heartbeat, phase, let_go_tx));
        let read = read_loop(stream, handler, replies, let_go_rx).await;
        let write = match writer.await {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("writer task failed: {e}")),
        };
        DriverEnd { error: read.and(write).err().map(|e| format!("{e:#}")) }
    });
    (Sender { tx }, task)
}

async fn write_loop(
    mut sink: SplitSink<Ws, Message>,
    mut rx: mpsc::UnboundedReceiver<Message>,
    heartbeat: Option<Duration>,
    phase: Duration,
    let_go: oneshot::Sender<()>,
) -> anyhow::Result<()> {
    let period = heartbeat.unwrap_or(Duration::from_secs(3600));
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + phase + period, period);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            queued = rx.recv() => {
                let Some(first) = queued else {
                    // The scenario let go: say goodbye and tell the reader not to treat the
                    // end of the stream as a failure.
                    let _ = let_go.send(());
                    let _ = sink.close().await;
                    return Ok(());
                };
                sink.feed(first).await?;
                // Everything already queued goes out in one flush (one write syscall).
                while let Ok(next) = rx.try_recv() {
                    sink.feed(next).await?;
                }
                sink.flush().await?;
            }
            _ = beat.tick(), if heartbeat.is_some() => {
                sink.send(Message::text(HEARTBEAT)).await?;
            }
        }
    }
}

async fn read_loop<H: Handler>(
    mut stream: SplitStream<Ws>,
    mut handler: H,
    replies_tx: mpsc::WeakUnboundedSender<Message>,
    mut let_go: oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let mut replies = Vec::new();
    loop {
        tokio::select! {
            // The writer signals before it sends our Close, so checking this first means the
            // server's echo of that Close is never taken for the server hanging up on us.
            biased;
            _ = &mut let_go => {
                // Closing (or the writer failed, which it reports itself): wait briefly for
                // the server's close echo, then drop the socket either way.
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    while stream.next().await.is_some() {}
                })
                .await;
                return Ok(());
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    handler.on_text(&text, &mut replies);
                    if !replies.is_empty() {
                        if let Some(tx) = replies_tx.upgrade() {
                            for reply in replies.drain(..) {
                                let _ = tx.send(reply);
                            }
                        }
                        replies.clear();
                    }
                }
                Some(Ok(Message::Close(frame))) => bail!("server closed the connection: {frame:?}"),
                Some(Ok(_)) => {} // tungstenite answers pings itself
                Some(Err(e)) => return Err(e.into()),
                None => bail!("connection closed"),
            },
        }
    }
}

/// A handler for connections that only listen (idle clients).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ignore;

impl Handler for Ignore {
    fn on_text(&mut self, _text: &str, _replies: &mut Vec<Message>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_rotate_inside_loopback() {
        let s = SourceAddrs::new(10, 4).unwrap();
        let ips: Vec<_> = (0..6).map(|i| s.for_index(i).unwrap().to_string()).collect();
        assert_eq!(ips, ["127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.10", "127.0.0.11"]);
        assert_eq!(s.shifted(2).for_index(0), Some(Ipv4Addr::new(127, 0, 0, 18)));
        assert_eq!(SourceAddrs::new(300, 1).unwrap().for_index(0), Some(Ipv4Addr::new(127, 0, 1, 44)));
        assert_eq!(SourceAddrs::new(0, 0).unwrap().for_index(5), None);
        assert!(SourceAddrs::new(0, 3).is_err());
    }
}
