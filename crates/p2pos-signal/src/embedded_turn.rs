//! The hub's own STUN/TURN server (UDP), for small deployments that run no coturn.
//!
//! Built on the `turn` crate with our own auth handler: the crate's stock handler expects a bare
//! expiry as the username and rejects the `"<expiry>:<opaque id>"` form that coturn and our
//! credentials use. It answers STUN binding requests on the same port. Unless told otherwise it
//! relays only to and from public addresses, so an authenticated client cannot use it to reach
//! services on the hub's own host or network (coturn's `denied-peer-ip` rules, built in).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use turn::auth::AuthHandler;
use turn::relay::RelayAddressGenerator;
use turn::relay::relay_range::RelayAddressGeneratorRanges;
use turn::server::Server;
use turn::server::config::{ConnConfig, ServerConfig};
use webrtc_util::Conn;
use webrtc_util::vnet::net::Net;

/// Where and how the embedded TURN server runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedTurnConfig {
    /// UDP address to listen on for STUN and TURN. Conventionally port 3478.
    pub listen: SocketAddr,
    /// The address peers reach relayed ports at (the host's public address).
    pub relay_ip: IpAddr,
    /// Relay ports are taken from this range. Default 49152–65535.
    pub min_port: u16,
    pub max_port: u16,
    /// The TURN realm. Default `p2pos`.
    pub realm: String,
    /// Relay to loopback, private, link-local and shared addresses too. Default off; on for labs
    /// and tests that run on one machine.
    pub allow_private_peers: bool,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedTurnError {
    #[error("binding UDP {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("starting the TURN server: {0}")]
    Turn(#[from] turn::Error),
}

struct RestAuth {
    secret: String,
}

impl AuthHandler for RestAuth {
    fn auth_handle(&self, username: &str, realm: &str, _src: SocketAddr) -> Result<Vec<u8>, turn::Error> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        crate::turn::rest_auth_key(&self.secret, username, realm, now)
            .ok_or_else(|| turn::Error::Other("expired or malformed TURN username".into()))
    }
}

/// A running embedded TURN server; [`EmbeddedTurn::close`] stops it.
/// Wraps relay sockets so datagrams to or from non-public peers are dropped.
struct PeerFilter {
    inner: RelayAddressGeneratorRanges,
    allow_private: bool,
}

#[async_trait::async_trait]
impl RelayAddressGenerator for PeerFilter {
    fn validate(&self) -> Result<(), turn::Error> {
        self.inner.validate()
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        let (conn, addr) = self.inner.allocate_conn(use_ipv4, requested_port).await?;
        if self.allow_private {
            return Ok((conn, addr));
        }
        Ok((Arc::new(PublicPeersOnly { inner: conn }), addr))
    }
}

struct PublicPeersOnly {
    inner: Arc<dyn Conn + Send + Sync>,
}

#[async_trait::async_trait]
impl Conn for PublicPeersOnly {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        self.inner.connect(addr).await
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.inner.recv_from(buf).await?;
            if is_public(from.ip()) {
                return Ok((n, from));
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.inner.send(buf).await
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if !is_public(target.ip()) {
            // Dropped like a datagram lost on the way; the allocation stays usable.
            return Ok(buf.len());
        }
        self.inner.send_to(buf, target).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.inner.close().await
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// Whether a relay may talk to `ip`: not loopback, private, link-local, shared (CGNAT),
/// unspecified, multicast or broadcast, in IPv4 or IPv6 (including IPv4-mapped IPv6).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

pub struct EmbeddedTurn {
    server: Server,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for EmbeddedTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedTurn").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl EmbeddedTurn {
    pub async fn start(config: &EmbeddedTurnConfig, secret: String) -> Result<Self, EmbeddedTurnError> {
        let socket = UdpSocket::bind(config.listen)
            .await
            .map_err(|source| EmbeddedTurnError::Bind { addr: config.listen, source })?;
        let local_addr =
            socket.local_addr().map_err(|source| EmbeddedTurnError::Bind { addr: config.listen, source })?;
        let server = Server::new(ServerConfig {
            conn_configs: vec![ConnConfig {
                conn: Arc::new(socket),
                relay_addr_generator: Box::new(PeerFilter {
                    inner: RelayAddressGeneratorRanges {
                        relay_address: config.relay_ip,
                        min_port: config.min_port,
                        max_port: config.max_port,
                        max_retries: 10,
                        address: config.listen.ip().to_string(),
                        net: Arc::new(Net::new(None)),
                    },
                    allow_private: config.allow_private_peers,
                }),
            }],
            realm: config.realm.clone(),
            auth_handler: Arc::new(RestAuth { secret }),
            channel_bind_timeout: Duration::from_secs(600),
            alloc_close_notify: None,
        })
        .await?;
        Ok(Self { server, local_addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub async fn close(self) {
        if let Err(e) = self.server.close().await {
            tracing::warn!(error = %e, "closing the embedded TURN server");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn only_public_addresses_are_relayed_to() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["203.0.113.7", "198.51.100.1", "8.8.8.8", "2001:db8::1", "::ffff:203.0.113.7"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
