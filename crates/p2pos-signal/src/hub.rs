//! The hub's sans-IO core: every connection, namespace, room and queue, and every limit.
//!
//! The driver feeds it events with the current time and carries out what it asks:
//!
//! 1. `connect(ip, protocol, now)` when a WebSocket upgrade arrives (a refusal becomes an HTTP error);
//! 2. `receive(conn, text, now)` for each text frame, `activity(conn, now)` for pongs;
//! 3. `disconnected(conn, now)` when a socket is gone, for any reason;
//! 4. `handle_timeout(now)` once `poll_timeout()` has passed;
//! 5. after each call, `poll_output()` until `None`: send, ping or close connections.
//!
//! Nothing here reads a clock, touches a socket or spawns a task, so tests drive it with virtual time.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use p2pos_hub_proto::native::{ServerMessage, error_code};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::beacon::BeaconSecret;
use crate::limits::{Admission, Limits, Refusal, TokenBucket};
use crate::turn::TurnConfig;

pub use crate::native::Namespace;

/// How often timers are checked.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// WebSocket close codes the hub uses (see `docs/PROTOCOL.md`).
pub use p2pos_hub_proto::close;

/// A connection's handle, unique for the hub's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Which protocol a connection speaks, decided by the URL it upgraded on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// `/v1/ws`.
    Native,
    /// `/peerjs?key=&id=&token=`.
    PeerJs { key: String, id: String, token: String },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Send { conn: ConnId, text: String },
    Ping { conn: ConnId },
    Close { conn: ConnId, code: u16, reason: String },
}

/// Static configuration of the hub core.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub limits: Limits,
    /// STUN URLs handed out with `turn` replies, e.g. `stun:hub.example.org:3478`.
    pub stun_urls: Vec<String>,
    pub turn: Option<TurnConfig>,
    /// The PeerJS `key` clients must use. Default `peerjs`.
    pub peerjs_key: String,
    /// Whether `GET /peerjs/peers` lists connected PeerJS ids. Default off.
    pub peerjs_discovery: bool,
    /// **Test mode, an attacking hub**: when set, the ephemeral key (`pub`) of every Drop hello
    /// this hub relays is replaced by this one (standard base64 of an X25519 public key), as a
    /// hub that tried to read drops would do. Drop's MACs must catch it. Default `None`.
    pub swap_drop_keys: Option<String>,
    /// The key of beacon tokens and network proofs (`--beacon-secret`); `None`: random at start
    /// (from the hub's seed), so tokens die with the hub.
    pub beacon_secret: Option<BeaconSecret>,
    /// The hub's other origins (`--alt-origin`, e.g. `http://[::1]:7800` beside
    /// `http://127.0.0.1:7800`): handed to pages with their beacon token, so a page can fetch a
    /// network proof over the other address family.
    pub alt_origins: Vec<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            stun_urls: Vec::new(),
            turn: None,
            peerjs_key: "peerjs".into(),
            peerjs_discovery: false,
            swap_drop_keys: None,
            beacon_secret: None,
            alt_origins: Vec::new(),
        }
    }
}

/// What `GET /v1/beacon` hands a page ([`Hub::beacon`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BeaconGrant {
    pub token: String,
    pub slot_secs: u64,
    pub expires_in_secs: u64,
    pub alt_origins: Vec<String>,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubStats {
    pub connections_opened: u64,
    pub refused_hub_full: u64,
    pub refused_per_address: u64,
    pub relayed: u64,
    pub rate_limited: u64,
    pub bad_messages: u64,
    pub closed_too_big: u64,
    pub closed_flood: u64,
    pub closed_idle: u64,
    pub closed_protocol: u64,
    pub peerjs_expired: u64,
    pub closed_beacon: u64,
}

pub(crate) struct Conn {
    pub(crate) ip: IpAddr,
    bucket: TokenBucket,
    drops: u32,
    last_drop: Option<Instant>,
    pub(crate) last_seen: Instant,
    last_ping: Instant,
    pub(crate) connected_at: Instant,
    pub(crate) closing: bool,
    pub(crate) kind: ConnKind,
}

pub(crate) enum ConnKind {
    Native(Box<crate::native::NativePeer>),
    PeerJs { id: String },
}

/// The hub core. See the module docs for the driving loop.
pub struct Hub {
    pub(crate) config: HubConfig,
    pub(crate) rng: StdRng,
    /// Maps monotonic time to Unix time (TURN expiry stamps, beacon slots); the driver resets it
    /// from the wall clock ([`Hub::set_unix_time`]).
    epoch: (Instant, u64),
    pub(crate) beacon_key: BeaconSecret,
    next_conn: u64,
    pub(crate) conns: HashMap<ConnId, Conn>,
    admission: Admission,
    pub(crate) native: crate::native::NativeState,
    pub(crate) peerjs: crate::peerjs::PeerJsState,
    out: VecDeque<Output>,
    next_sweep: Instant,
    pub(crate) stats: HubStats,
    shutting_down: bool,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("connections", &self.conns.len()).finish_non_exhaustive()
    }
}

impl Hub {
    /// `now_unix` is the Unix time (seconds) at `now`; `seed` feeds ids, codes and challenges
    /// (use fresh OS randomness outside tests).
    pub fn new(config: HubConfig, now: Instant, now_unix: u64, seed: [u8; 32]) -> Self {
        let mut rng = StdRng::from_seed(seed);
        let beacon_key = config.beacon_secret.clone().unwrap_or_else(|| BeaconSecret::random(&mut rng));
        Self {
            config,
            rng,
            epoch: (now, now_unix),
            beacon_key,
            next_conn: 1,
            conns: HashMap::new(),
            admission: Admission::default(),
            native: Default::default(),
            peerjs: Default::default(),
            out: VecDeque::new(),
            next_sweep: now + SWEEP_EVERY,
            stats: HubStats::default(),
            shutting_down: false,
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    pub fn stats(&self) -> &HubStats {
        &self.stats
    }

    pub fn connection_count(&self) -> usize {
        self.admission.total()
    }

    pub fn namespace_count(&self) -> usize {
        self.native.namespace_count()
    }

    /// Rooms (`create_room`) that exist now.
    pub fn room_count(&self) -> usize {
        self.native.room_count()
    }

    pub(crate) fn unix_time(&self, now: Instant) -> u64 {
        self.epoch.1 + now.saturating_duration_since(self.epoch.0).as_secs()
    }

    /// The wall clock says `now` is Unix second `now_unix` (the driver tells the core now and
    /// then, so a monotonic clock that drifts or a suspended machine does not shift beacon slots).
    pub fn set_unix_time(&mut self, now: Instant, now_unix: u64) {
        self.epoch = (now, now_unix);
    }

    /// A beacon token for a page of `origin` (one of this hub's origins; the driver decides),
    /// valid in this 10-minute slot and the next.
    pub fn beacon(&self, origin: &str, now: Instant) -> BeaconGrant {
        let unix = self.unix_time(now);
        BeaconGrant {
            token: crate::beacon::token(self.beacon_key.bytes(), crate::beacon::slot(unix), origin),
            slot_secs: crate::beacon::SLOT_SECS,
            expires_in_secs: crate::beacon::expires_in_secs(unix),
            alt_origins: self.config.alt_origins.clone(),
        }
    }

    /// A network proof for a request from `ip` (`GET /v1/network-proof`), valid for 60 s.
    pub fn network_proof(&self, ip: IpAddr, now: Instant) -> String {
        crate::beacon::network_proof(self.beacon_key.bytes(), ip, self.unix_time(now))
    }

    /// Admits a new connection or says why not (the driver answers the upgrade with an HTTP error).
    /// Identities cannot log in on it: it was addressed to no origin ([`Hub::connect_to`]).
    pub fn connect(&mut self, ip: IpAddr, protocol: Protocol, now: Instant) -> Result<ConnId, Refusal> {
        self.connect_to(ip, protocol, Vec::new(), now)
    }

    /// [`Hub::connect`] for a connection addressed to one of `origins` (`https://hub.example.org`,
    /// see [`p2pos_hub_proto::hub_origin`]): an identity logs in on it by signing
    /// [`p2pos_hub_proto::auth_message`] for one of them. The driver decides them: the hub's
    /// configured public URLs, else the `Host` the upgrade request named.
    pub fn connect_to(
        &mut self,
        ip: IpAddr,
        protocol: Protocol,
        origins: Vec<String>,
        now: Instant,
    ) -> Result<ConnId, Refusal> {
        self.connect_from(ip, protocol, origins, None, now)
    }

    /// [`Hub::connect_to`] for an upgrade request that carried `page_origin` in its `Origin`
    /// header (a browser page's): a beacon token must have been made for it to join `network` or
    /// an `rv:` name.
    pub fn connect_from(
        &mut self,
        ip: IpAddr,
        protocol: Protocol,
        origins: Vec<String>,
        page_origin: Option<String>,
        now: Instant,
    ) -> Result<ConnId, Refusal> {
        if self.shutting_down {
            return Err(Refusal::ShuttingDown);
        }
        if let Err(refusal) = self.admission.admit(ip, &self.config.limits) {
            match refusal {
                Refusal::HubFull => self.stats.refused_hub_full += 1,
                Refusal::TooManyFromAddress => self.stats.refused_per_address += 1,
                Refusal::ShuttingDown => {}
            }
            return Err(refusal);
        }
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.stats.connections_opened += 1;
        let kind = match &protocol {
            Protocol::Native => {
                ConnKind::Native(Box::new(crate::native::NativePeer::new(&mut self.rng, origins, page_origin)))
            }
            Protocol::PeerJs { .. } => ConnKind::PeerJs { id: String::new() },
        };
        let limits = &self.config.limits;
        self.conns.insert(
            conn,
            Conn {
                ip,
                bucket: TokenBucket::full(limits.burst, now),
                drops: 0,
                last_drop: None,
                last_seen: now,
                last_ping: now,
                connected_at: now,
                closing: false,
                kind,
            },
        );
        match protocol {
            Protocol::Native => self.native_connected(conn),
            Protocol::PeerJs { key, id, token } => self.peerjs_connected(conn, &key, &id, &token, now),
        }
        Ok(conn)
    }

    /// A text frame arrived.
    pub fn receive(&mut self, conn: ConnId, text: &str, now: Instant) {
        let limits = &self.config.limits;
        let (max_bytes, rate, burst, flood) =
            (limits.max_message_bytes, limits.rate_per_sec, limits.burst, limits.flood_drops_before_close);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        c.last_seen = now;
        if text.len() > max_bytes {
            self.stats.closed_too_big += 1;
            self.close(conn, close::TOO_BIG, format!("message too big: {} bytes, limit {max_bytes}", text.len()));
            return;
        }
        if !c.bucket.take(rate, burst, now) {
            c.drops += 1;
            c.last_drop = Some(now);
            self.stats.rate_limited += 1;
            let drops = c.drops;
            if drops >= flood {
                self.stats.closed_flood += 1;
                self.close(conn, close::FLOOD, "flooding: too many messages over the rate limit".into());
            } else if drops == 1 || drops % 10 == 0 {
                self.rate_limited(conn);
            }
            return;
        }
        if c.last_drop.is_some_and(|t| now.saturating_duration_since(t) > Duration::from_secs(1)) {
            c.drops = 0;
            c.last_drop = None;
        }
        match c.kind {
            ConnKind::Native(_) => self.native_receive(conn, text, now),
            ConnKind::PeerJs { .. } => self.peerjs_receive(conn, text, now),
        }
    }

    /// Any sign of life that is not a message (a pong).
    pub fn activity(&mut self, conn: ConnId, now: Instant) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_seen = now;
        }
    }

    /// The socket is gone (closed by either side, or failed). Always called once per connection.
    pub fn disconnected(&mut self, conn: ConnId, now: Instant) {
        self.forget(conn, now);
        if let Some(c) = self.conns.remove(&conn) {
            self.admission.release(c.ip);
        }
    }

    /// The driver could not deliver to a connection fast enough: close it, not the hub.
    pub fn slow_reader(&mut self, conn: ConnId, now: Instant) {
        self.forget(conn, now);
        self.close(conn, close::SLOW_READER, "not reading fast enough".into());
    }

    /// Stops admitting and asks every connection to close.
    pub fn shutdown(&mut self) {
        self.shutting_down = true;
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close(conn, close::GOING_AWAY, "hub shutting down".into());
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next_sweep)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + SWEEP_EVERY;
        let limits = self.config.limits.clone();
        let mut to_close = Vec::new();
        for (&id, c) in self.conns.iter_mut().filter(|(_, c)| !c.closing) {
            if let ConnKind::Native(peer) = &c.kind
                && !peer.said_hello
                && now.saturating_duration_since(c.connected_at) >= limits.hello_timeout
            {
                to_close.push((id, close::NO_HELLO, format!("no hello within {} s", limits.hello_timeout.as_secs())));
            } else if now.saturating_duration_since(c.last_seen) >= limits.idle_timeout {
                to_close.push((id, close::IDLE, format!("idle for {} s", limits.idle_timeout.as_secs())));
            } else if now.saturating_duration_since(c.last_ping) >= limits.heartbeat {
                c.last_ping = now;
                self.out.push_back(Output::Ping { conn: id });
            }
        }
        to_close.sort_by_key(|(id, ..)| *id);
        for (id, code, reason) in to_close {
            if code == close::IDLE {
                self.stats.closed_idle += 1;
            } else {
                self.stats.closed_protocol += 1;
            }
            self.close(id, code, reason);
        }
        self.native_timers(now);
        self.peerjs_timers(now);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub(crate) fn send(&mut self, conn: ConnId, text: String) {
        if self.conns.get(&conn).is_some_and(|c| !c.closing) {
            self.out.push_back(Output::Send { conn, text });
        }
    }

    /// Closes a connection: it leaves everything at once; the driver then reports `disconnected`.
    pub(crate) fn close(&mut self, conn: ConnId, code: u16, reason: String) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        c.closing = true;
        self.out.push_back(Output::Close { conn, code, reason });
        // `forget` needs the current time only for PeerJS queue bookkeeping, which a close does not touch.
        let now = c.last_seen;
        self.forget(conn, now);
    }

    /// Removes a connection from every namespace and directory (idempotent).
    fn forget(&mut self, conn: ConnId, now: Instant) {
        self.native_forget(conn);
        self.peerjs_forget(conn, now);
    }

    fn rate_limited(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let text = match c.kind {
            ConnKind::Native(_) => p2pos_hub_proto::to_text(&ServerMessage::Error {
                rid: None,
                code: error_code::RATE_LIMITED.into(),
                message: "too many messages; slow down".into(),
            }),
            ConnKind::PeerJs { .. } => p2pos_hub_proto::peerjs::peerjs_notice("ERROR", "Rate limit exceeded"),
        };
        self.send(conn, text);
    }

    /// A random token from the hub's generator, base32 lower case (`bits` rounded up to 5).
    pub(crate) fn random_token(&mut self, bits: usize) -> String {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        (0..bits.div_ceil(5)).map(|_| ALPHABET[self.rng.random_range(0..32)] as char).collect()
    }
}
