//! The hub's limits and the small state machines that enforce them. All take `now` as input.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Every limit the hub enforces. Defaults are the documented ones (`docs/PROTOCOL.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest WebSocket message accepted, in bytes; larger closes the socket with 1009. Default 16 KiB.
    pub max_message_bytes: usize,
    /// Sustained messages per second per connection. Default 10. Zero disables rate limiting.
    pub rate_per_sec: f64,
    /// Messages a connection may send in a burst above the sustained rate. Default 20.
    pub burst: f64,
    /// Connections the hub holds at once before refusing new ones with 503. Default 10,000.
    pub max_connections: usize,
    /// Connections one IP address (IPv6: one /64) may hold before 429. Default 50.
    pub max_connections_per_ip: usize,
    /// Peers in one namespace (room, network, family, rendezvous). Default 256.
    pub max_namespace_peers: usize,
    /// Namespaces one connection may be in at once. Default 16.
    pub max_namespaces_per_connection: usize,
    /// How often the hub pings each connection. Default 20 s.
    pub heartbeat: Duration,
    /// A connection silent this long is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// A native connection must say `hello` within this time. Default 10 s.
    pub hello_timeout: Duration,
    /// Rooms (for drops) expire this long after creation. Default 10 min.
    pub room_ttl: Duration,
    /// PeerJS: messages for an absent peer wait this long before the sender gets `EXPIRE`. Default 5 s.
    pub peerjs_expire_after: Duration,
    /// PeerJS: messages queued for one absent peer, at most. Default 64.
    pub peerjs_queue_per_peer: usize,
    /// Messages dropped for rate limiting before the connection is closed as a flood. Default 100.
    pub flood_drops_before_close: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024,
            rate_per_sec: 10.0,
            burst: 20.0,
            max_connections: 10_000,
            max_connections_per_ip: 50,
            max_namespace_peers: 256,
            max_namespaces_per_connection: 16,
            heartbeat: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            hello_timeout: Duration::from_secs(10),
            room_ttl: Duration::from_secs(600),
            peerjs_expire_after: Duration::from_secs(5),
            peerjs_queue_per_peer: 64,
            flood_drops_before_close: 100,
        }
    }
}

/// A token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn full(burst: f64, now: Instant) -> Self {
        Self { tokens: burst, last: now }
    }

    /// Takes one token if there is one. A zero rate means unlimited.
    pub fn take(&mut self, rate: f64, burst: f64, now: Instant) -> bool {
        if rate <= 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Why a new connection is refused before the WebSocket opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("the hub is at its connection limit; try again later")]
    HubFull,
    #[error("too many connections from your address")]
    TooManyFromAddress,
    #[error("the hub is shutting down")]
    ShuttingDown,
}

impl Refusal {
    /// The HTTP status for the refused upgrade.
    pub fn http_status(&self) -> u16 {
        match self {
            Refusal::HubFull | Refusal::ShuttingDown => 503,
            Refusal::TooManyFromAddress => 429,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Refusal::HubFull => "hub_full",
            Refusal::TooManyFromAddress => "too_many_connections",
            Refusal::ShuttingDown => "shutting_down",
        }
    }
}

/// The address a per-IP limit counts: IPv4 /32, IPv6 /64 (one household's prefix).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Counts open connections globally and per address.
#[derive(Debug, Default)]
pub struct Admission {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

impl Admission {
    pub fn admit(&mut self, ip: IpAddr, limits: &Limits) -> Result<(), Refusal> {
        if self.total >= limits.max_connections {
            return Err(Refusal::HubFull);
        }
        let count = self.per_address.entry(address_key(ip)).or_default();
        if *count >= limits.max_connections_per_ip {
            return Err(Refusal::TooManyFromAddress);
        }
        *count += 1;
        self.total += 1;
        Ok(())
    }

    pub fn release(&mut self, ip: IpAddr) {
        let key = address_key(ip);
        if let Some(count) = self.per_address.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&key);
            }
            self.total -= 1;
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(20.0, t0);
        let granted = (0..25).filter(|_| bucket.take(10.0, 20.0, t0)).count();
        assert_eq!(granted, 20);
        assert!(!bucket.take(10.0, 20.0, t0 + Duration::from_millis(50)));
        assert!(bucket.take(10.0, 20.0, t0 + Duration::from_millis(100)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..30).filter(|_| bucket.take(10.0, 20.0, later)).count(), 20);
    }

    #[test]
    fn admission_caps_per_address_and_globally() {
        let limits = Limits { max_connections: 3, max_connections_per_ip: 2, ..Limits::default() };
        let mut adm = Admission::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(adm.admit(a, &limits).is_ok());
        assert!(adm.admit(a, &limits).is_ok());
        assert_eq!(adm.admit(a, &limits), Err(Refusal::TooManyFromAddress));
        assert!(adm.admit(b, &limits).is_ok());
        assert_eq!(adm.admit(b, &limits), Err(Refusal::HubFull));
        adm.release(a);
        assert!(adm.admit(b, &limits).is_ok());
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let x: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let y: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let z: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(x), address_key(y));
        assert_ne!(address_key(x), address_key(z));
    }
}
