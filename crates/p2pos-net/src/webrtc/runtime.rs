//! The async runtime handed to webrtc-rs: Tokio, except that the UDP sockets it binds get larger
//! kernel buffers.
//!
//! Why: a data channel moves bytes as a burst of ~1.2 KB datagrams. With the Linux default
//! socket receive buffer (208 KiB) a fast sender overflows it, the kernel drops datagrams, and
//! SCTP's congestion control halves its window on each loss. On loopback that was the
//! difference between 20–50 MB/s and 250–330 MB/s (docs/BENCHMARKS.md). The kernel caps the
//! size at `net.core.rmem_max` / `wmem_max`; raise those on a node for the full effect.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use webrtc::runtime::{AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Delegates to webrtc-rs's default (Tokio) runtime and enlarges UDP socket buffers.
pub(crate) struct BufferedRuntime {
    inner: Arc<dyn Runtime>,
    buffer: usize,
}

impl fmt::Debug for BufferedRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferedRuntime").field("buffer", &self.buffer).finish_non_exhaustive()
    }
}

impl BufferedRuntime {
    /// `None` when webrtc-rs has no runtime compiled in (it always has Tokio here).
    pub(crate) fn shared(buffer: usize) -> Option<Arc<dyn Runtime>> {
        let inner = webrtc::runtime::default_runtime()?;
        Some(Arc::new(Self { inner, buffer }))
    }
}

impl Runtime for BufferedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let sock = socket2::SockRef::from(&socket);
        // Best effort: the kernel caps (or a sandbox refuses) larger buffers.
        if let Err(e) = sock.set_recv_buffer_size(self.buffer) {
            tracing::debug!(error = %e, "could not enlarge a UDP receive buffer");
        }
        if let Err(e) = sock.set_send_buffer_size(self.buffer) {
            tracing::debug!(error = %e, "could not enlarge a UDP send buffer");
        }
        self.inner.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(&self, listener: std::net::TcpListener) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(&'a self, remote_addr: SocketAddr) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}
