//! The hub's own STUN/TURN server (UDP), for small deployments that run no coturn.
//!
//! Built on the `turn` crate with our own auth handler: the crate's stock handler expects a bare
//! expiry as the username and rejects the `"<expiry>:<opaque id>"` form that coturn and our
//! credentials use. It answers STUN binding requests on the same port.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use turn::auth::AuthHandler;
use turn::relay::relay_range::RelayAddressGeneratorRanges;
use turn::server::Server;
use turn::server::config::{ConnConfig, ServerConfig};
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
                relay_addr_generator: Box::new(RelayAddressGeneratorRanges {
                    relay_address: config.relay_ip,
                    min_port: config.min_port,
                    max_port: config.max_port,
                    max_retries: 10,
                    address: config.listen.ip().to_string(),
                    net: Arc::new(Net::new(None)),
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
