//! The native protocol v1 (`/v1/ws`): hello, auth, namespaces and presence, rooms, signal relay,
//! TURN credentials. Handlers are methods on [`Hub`]; state lives in [`NativeState`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signature;
use p2pos_core::IdentityId;
use rand::rngs::StdRng;
use serde_json::value::RawValue;

use crate::hub::{ConnId, ConnKind, Hub, close};
use crate::limits::address_key;
use p2pos_hub_proto::native::{AnnouncedLimits, ClientMessage, PeerInfo, PresenceEvent, ServerMessage, VERSION};
use p2pos_hub_proto::{IceServer, OpaqueJson, auth_message, to_text};

/// Largest public profile a peer may publish, in bytes of JSON.
pub const MAX_PROFILE_BYTES: usize = 1024;
/// Longest family id or rendezvous name.
const MAX_NAME_LEN: usize = 128;
/// Bits of randomness in a room code (unguessable).
const ROOM_CODE_BITS: usize = 130;

/// A group of peers who see each other's presence and may signal each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// `room:<code>`: created by `create_room`, for one drop or call.
    Room(String),
    /// `family:<id>`: a family's nodes and members.
    Family(String),
    /// `rv:<name>`: an opaque rendezvous name (e.g. HMAC(secret, 10-minute slot)).
    Rendezvous(String),
    /// `network`: everyone behind the same public address (IPv4 /32, IPv6 /64).
    Network(IpAddr),
}

impl Namespace {
    /// Parses the `ns` a client sent; `network` resolves to the client's own public address.
    pub fn parse(ns: &str, client_ip: IpAddr) -> Result<Self, &'static str> {
        if ns == "network" {
            return Ok(Namespace::Network(address_key(client_ip)));
        }
        let (kind, name) = ns.split_once(':').ok_or("a namespace is room:<code>, family:<id>, rv:<name> or network")?;
        let valid = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=+/.".contains(&b));
        if !valid {
            return Err("a namespace name is 1-128 characters of A-Z a-z 0-9 - _ = + / .");
        }
        match kind {
            "room" => Ok(Namespace::Room(name.to_string())),
            "family" => Ok(Namespace::Family(name.to_string())),
            "rv" => Ok(Namespace::Rendezvous(name.to_string())),
            _ => Err("unknown namespace kind (room, family, rv, network)"),
        }
    }

    /// The name clients use; the network namespace never reveals the address.
    pub fn wire(&self) -> String {
        match self {
            Namespace::Room(c) => format!("room:{c}"),
            Namespace::Family(f) => format!("family:{f}"),
            Namespace::Rendezvous(r) => format!("rv:{r}"),
            Namespace::Network(_) => "network".to_string(),
        }
    }
}

pub(crate) struct NativePeer {
    pub(crate) peer: String,
    pub(crate) said_hello: bool,
    challenge: String,
    /// The origins this connection was addressed to, one of which a login must name.
    origins: Vec<String>,
    identity: Option<IdentityId>,
    reachable_by_anyone: bool,
    profile: Option<Box<RawValue>>,
    namespaces: Vec<Namespace>,
    /// The connections this peer signalled, least recently first: each of them may answer it
    /// without a shared namespace. Kept on the sender, so only its own signals change it (a
    /// stranger signalling the same target cannot push it out); at most [`MAX_SIGNALLED`].
    signalled: Vec<ConnId>,
}

/// How many different connections one peer's signals keep answerable (the most recently
/// signalled). A browser or an enrolling node signals one or a few nodes.
const MAX_SIGNALLED: usize = 64;

impl NativePeer {
    pub(crate) fn new(rng: &mut StdRng, origins: Vec<String>) -> Self {
        use rand::Rng;
        let challenge: [u8; 32] = rng.random();
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        let peer = std::iter::once('p').chain((0..20).map(|_| ALPHABET[rng.random_range(0..32)] as char)).collect();
        Self {
            peer,
            said_hello: false,
            challenge: BASE64.encode(challenge),
            origins,
            identity: None,
            reachable_by_anyone: false,
            profile: None,
            namespaces: Vec::new(),
            signalled: Vec::new(),
        }
    }

    fn info(&self) -> PeerInfo<'_> {
        PeerInfo {
            peer: self.peer.as_str().into(),
            id: self.identity.map(|i| i.to_string()),
            profile: self.profile.as_deref().map(OpaqueJson::Raw),
        }
    }
}

struct Room {
    creator: ConnId,
    expires: Instant,
}

#[derive(Default)]
pub(crate) struct NativeState {
    peers: HashMap<String, ConnId>,
    identities: HashMap<IdentityId, ConnId>,
    spaces: HashMap<Namespace, Vec<ConnId>>,
    rooms: HashMap<String, Room>,
}

impl NativeState {
    pub(crate) fn namespace_count(&self) -> usize {
        self.spaces.len()
    }

    pub(crate) fn room_count(&self) -> usize {
        self.rooms.len()
    }
}

/// A request failed: the error code and message sent back, with the request id.
struct Reject(&'static str, String);

fn too_many_namespaces(max_ns: usize) -> Reject {
    Reject("too_many_namespaces", format!("a connection may be in at most {max_ns} namespaces"))
}

impl Hub {
    fn native_peer(&self, conn: ConnId) -> Option<&NativePeer> {
        match &self.conns.get(&conn)?.kind {
            ConnKind::Native(p) => Some(p),
            ConnKind::PeerJs { .. } => None,
        }
    }

    fn native_peer_mut(&mut self, conn: ConnId) -> Option<&mut NativePeer> {
        match &mut self.conns.get_mut(&conn)?.kind {
            ConnKind::Native(p) => Some(p),
            ConnKind::PeerJs { .. } => None,
        }
    }

    pub(crate) fn native_connected(&mut self, conn: ConnId) {
        if let Some(p) = self.native_peer(conn) {
            let peer = p.peer.clone();
            self.native.peers.insert(peer, conn);
        }
    }

    pub(crate) fn native_receive(&mut self, conn: ConnId, text: &str, now: Instant) {
        let msg: ClientMessage<'_> = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                self.stats.bad_messages += 1;
                let message = format!("not a valid message: {e}");
                self.send(
                    conn,
                    to_text(&ServerMessage::Error { rid: None, code: "bad_message".into(), message: message.into() }),
                );
                return;
            }
        };
        let said_hello = self.native_peer(conn).is_some_and(|p| p.said_hello);
        if !said_hello && msg.kind != "hello" {
            self.stats.closed_protocol += 1;
            self.close(conn, close::PROTOCOL, "say hello first".into());
            return;
        }
        let rid = msg.rid;
        let result = match msg.kind.as_ref() {
            "hello" => self.on_hello(conn, &msg),
            "auth" => self.on_auth(conn, &msg),
            "create_room" => self.on_create_room(conn, rid, now),
            "join" => self.on_join(conn, &msg),
            "leave" => self.on_leave(conn, &msg),
            "delete_room" => self.on_delete_room(conn, &msg),
            "signal" => self.on_signal(conn, &msg),
            "turn" => self.on_turn(conn, rid, now),
            "ping" => {
                self.send(conn, to_text(&ServerMessage::Pong { rid }));
                Ok(())
            }
            _ => Err(Reject("unknown_type", format!("unknown message type '{}'", msg.kind))),
        };
        if let Err(Reject(code, message)) = result {
            self.stats.bad_messages += 1;
            self.send(conn, to_text(&ServerMessage::Error { rid, code: code.into(), message: message.into() }));
        }
    }

    fn on_hello(&mut self, conn: ConnId, msg: &ClientMessage<'_>) -> Result<(), Reject> {
        let limits = &self.config.limits;
        let announced = AnnouncedLimits {
            max_message_bytes: limits.max_message_bytes,
            rate_per_sec: limits.rate_per_sec,
            burst: limits.burst,
            heartbeat_secs: limits.heartbeat.as_secs(),
            idle_timeout_secs: limits.idle_timeout.as_secs(),
        };
        if msg.v != Some(VERSION) {
            self.stats.closed_protocol += 1;
            self.close(conn, close::PROTOCOL, format!("unsupported protocol version; this hub speaks v{VERSION}"));
            return Ok(());
        }
        if let Some(profile) = msg.profile
            && (profile.get().len() > MAX_PROFILE_BYTES || !profile.get().starts_with('{'))
        {
            return Err(Reject(
                "bad_profile",
                format!("a profile is a JSON object of at most {MAX_PROFILE_BYTES} bytes"),
            ));
        }
        let Some(peer) = self.native_peer_mut(conn) else {
            return Ok(());
        };
        if peer.said_hello {
            return Err(Reject("already_hello", "hello was already said on this connection".into()));
        }
        peer.said_hello = true;
        peer.profile = msg.profile.map(|p| p.to_owned());
        let text = to_text(&ServerMessage::Welcome {
            rid: msg.rid,
            v: VERSION,
            peer: peer.peer.as_str().into(),
            challenge: peer.challenge.as_str().into(),
            limits: announced,
        });
        self.send(conn, text);
        Ok(())
    }

    fn on_auth(&mut self, conn: ConnId, msg: &ClientMessage<'_>) -> Result<(), Reject> {
        let fail = |why: &str| Reject("auth_failed", why.to_string());
        let id: IdentityId =
            msg.id.as_deref().ok_or_else(|| fail("auth needs id"))?.parse().map_err(|e| fail(&format!("{e}")))?;
        let sig = BASE64
            .decode(msg.sig.as_deref().ok_or_else(|| fail("auth needs sig"))?.as_bytes())
            .map_err(|_| fail("sig is not base64"))?;
        let sig: [u8; 64] = sig.try_into().map_err(|_| fail("sig is not 64 bytes"))?;
        let anyone = match msg.allow.as_deref() {
            None | Some("shared") => false,
            Some("anyone") => true,
            Some(_) => {
                return Err(Reject("bad_message", "allow is \"shared\" or \"anyone\"".into()));
            }
        };
        let peer = self.native_peer(conn).ok_or_else(|| fail("not a native connection"))?;
        if peer.identity.is_some() {
            return Err(Reject("already_authed", "this connection already proved an identity".into()));
        }
        if peer.origins.is_empty() {
            return Err(fail("this hub does not know which address you reached it at (no Host header)"));
        }
        let key = id.verifying_key().map_err(|e| fail(&e.to_string()))?;
        let sig = Signature::from_bytes(&sig);
        let signed_for_us = peer
            .origins
            .iter()
            .any(|origin| key.verify_strict(auth_message(origin, &peer.challenge).as_bytes(), &sig).is_ok());
        if !signed_for_us {
            let origins = peer.origins.join(" or ");
            return Err(fail(&format!("the signature does not match this connection's challenge at {origins}")));
        }
        if let Some(peer) = self.native_peer_mut(conn) {
            peer.identity = Some(id);
            peer.reachable_by_anyone = anyone;
        }
        self.native.identities.insert(id, conn);
        self.send(conn, to_text(&ServerMessage::Authed { rid: msg.rid, id: id.to_string() }));
        Ok(())
    }

    fn on_create_room(&mut self, conn: ConnId, rid: Option<u64>, now: Instant) -> Result<(), Reject> {
        // The creator joins its room at once: a peer that may not join another namespace gets no
        // room (checked before one exists, so a refusal leaves nothing behind).
        let max_ns = self.config.limits.max_namespaces_per_connection;
        let peer = self.native_peer(conn).ok_or(Reject("gone", String::new()))?;
        if peer.namespaces.len() >= max_ns {
            return Err(too_many_namespaces(max_ns));
        }
        let code = self.random_token(ROOM_CODE_BITS);
        let ttl = self.config.limits.room_ttl;
        self.native.rooms.insert(code.clone(), Room { creator: conn, expires: now + ttl });
        let ns = Namespace::Room(code.clone());
        self.send(
            conn,
            to_text(&ServerMessage::Room {
                rid,
                code: code.as_str().into(),
                ns: ns.wire(),
                expires_in_secs: ttl.as_secs(),
            }),
        );
        let joined = self.join_namespace(conn, ns, None);
        if joined.is_err() {
            // Not reachable with sane limits (the room is new and empty), but never leave a room
            // without its creator.
            self.native.rooms.remove(&code);
        }
        joined
    }

    fn on_join(&mut self, conn: ConnId, msg: &ClientMessage<'_>) -> Result<(), Reject> {
        let ip = self.conns.get(&conn).map(|c| c.ip).ok_or(Reject("gone", String::new()))?;
        let ns = msg.ns.as_deref().ok_or_else(|| Reject("bad_message", "join needs ns".into()))?;
        let ns = Namespace::parse(ns, ip).map_err(|e| Reject("bad_namespace", e.into()))?;
        if let Namespace::Room(code) = &ns
            && !self.native.rooms.contains_key(code)
        {
            return Err(Reject("no_such_room", "this room does not exist, expired, or was already used".into()));
        }
        self.join_namespace(conn, ns, msg.rid)
    }

    fn join_namespace(&mut self, conn: ConnId, ns: Namespace, rid: Option<u64>) -> Result<(), Reject> {
        let limits = &self.config.limits;
        let (max_ns, max_peers) = (limits.max_namespaces_per_connection, limits.max_namespace_peers);
        let peer = self.native_peer(conn).ok_or(Reject("gone", String::new()))?;
        let already = peer.namespaces.contains(&ns);
        if !already && peer.namespaces.len() >= max_ns {
            return Err(too_many_namespaces(max_ns));
        }
        let members = self.native.spaces.get(&ns).map(Vec::as_slice).unwrap_or_default();
        if !already && members.len() >= max_peers {
            return Err(Reject("namespace_full", format!("this namespace already has {max_peers} peers")));
        }
        let wire = ns.wire();
        let others: Vec<ConnId> = members.iter().copied().filter(|c| *c != conn).collect();
        let peers: Vec<PeerInfo<'_>> =
            others.iter().filter_map(|c| self.native_peer(*c)).map(NativePeer::info).collect();
        let joined = to_text(&ServerMessage::Joined { rid, ns: wire.as_str().into(), peers });
        let presence = to_text(&ServerMessage::Presence {
            ns: wire.as_str().into(),
            event: PresenceEvent::Join,
            peer: self.native_peer(conn).ok_or(Reject("gone", String::new()))?.info(),
        });
        if !already {
            self.native.spaces.entry(ns.clone()).or_default().push(conn);
            if let Some(p) = self.native_peer_mut(conn) {
                p.namespaces.push(ns);
            }
            for other in &others {
                self.send(*other, presence.clone());
            }
        }
        self.send(conn, joined);
        Ok(())
    }

    fn on_leave(&mut self, conn: ConnId, msg: &ClientMessage<'_>) -> Result<(), Reject> {
        let ip = self.conns.get(&conn).map(|c| c.ip).ok_or(Reject("gone", String::new()))?;
        let ns = msg.ns.as_deref().ok_or_else(|| Reject("bad_message", "leave needs ns".into()))?;
        let ns = Namespace::parse(ns, ip).map_err(|e| Reject("bad_namespace", e.into()))?;
        if !self.native_peer(conn).is_some_and(|p| p.namespaces.contains(&ns)) {
            return Err(Reject("not_joined", "you are not in this namespace".into()));
        }
        self.leave_namespace(conn, &ns);
        self.send(conn, to_text(&ServerMessage::Left { rid: msg.rid, ns: ns.wire().into() }));
        Ok(())
    }

    /// Removes `conn` from `ns`, tells the others, and drops an empty room.
    fn leave_namespace(&mut self, conn: ConnId, ns: &Namespace) {
        if let Some(p) = self.native_peer_mut(conn) {
            p.namespaces.retain(|n| n != ns);
        }
        let Some(members) = self.native.spaces.get_mut(ns) else {
            return;
        };
        members.retain(|c| *c != conn);
        let others = members.clone();
        if others.is_empty() {
            self.native.spaces.remove(ns);
            if let Namespace::Room(code) = ns {
                self.native.rooms.remove(code);
            }
        }
        if let Some(p) = self.native_peer(conn) {
            let text =
                to_text(&ServerMessage::Presence { ns: ns.wire().into(), event: PresenceEvent::Leave, peer: p.info() });
            for other in others {
                self.send(other, text.clone());
            }
        }
    }

    fn on_delete_room(&mut self, conn: ConnId, msg: &ClientMessage<'_>) -> Result<(), Reject> {
        let code = msg.code.as_deref().ok_or_else(|| Reject("bad_message", "delete_room needs code".into()))?;
        match self.native.rooms.get(code) {
            None => {
                return Err(Reject("no_such_room", "this room does not exist, expired, or was already used".into()));
            }
            Some(room) if room.creator != conn => {
                return Err(Reject("not_allowed", "only the peer that created a room can delete it".into()));
            }
            Some(_) => {}
        }
        let code = code.to_string();
        self.close_room(&code, "deleted");
        Ok(())
    }

    fn close_room(&mut self, code: &str, reason: &str) {
        self.native.rooms.remove(code);
        let ns = Namespace::Room(code.to_string());
        let members = self.native.spaces.remove(&ns).unwrap_or_default();
        let text = to_text(&ServerMessage::RoomClosed { ns: ns.wire().into(), reason: reason.into() });
        for member in members {
            if let Some(p) = self.native_peer_mut(member) {
                p.namespaces.retain(|n| *n != ns);
            }
            self.send(member, text.clone());
        }
    }

    fn on_signal(&mut self, conn: ConnId, msg: &ClientMessage<'_>) -> Result<(), Reject> {
        let to = msg.to.as_deref().ok_or_else(|| Reject("bad_message", "signal needs to".into()))?;
        let payload = msg.payload.ok_or_else(|| Reject("bad_message", "signal needs payload".into()))?;
        let unavailable = || Reject("peer_unavailable", format!("{to} is not connected"));
        let target = match self.native.peers.get(to) {
            Some(c) => *c,
            None => {
                let id: IdentityId = to.parse().map_err(|_| unavailable())?;
                *self.native.identities.get(&id).ok_or_else(unavailable)?
            }
        };
        let sender = self.native_peer(conn).ok_or_else(unavailable)?;
        let receiver = self.native_peer(target).ok_or_else(unavailable)?;
        let shared = sender.namespaces.iter().any(|ns| receiver.namespaces.contains(ns));
        let answer = receiver.signalled.contains(&conn);
        if !shared && !receiver.reachable_by_anyone && !answer {
            return Err(Reject("not_allowed", format!("you share no namespace with {to}")));
        }
        let swapped = self.config.swap_drop_keys.as_deref().and_then(|key| swap_drop_key(payload, key));
        let text = to_text(&ServerMessage::Signal {
            from: sender.peer.as_str().into(),
            from_id: sender.identity.map(|i| i.to_string()),
            payload: OpaqueJson::Raw(swapped.as_deref().unwrap_or(payload)),
        });
        self.stats.relayed += 1;
        self.send(target, text);
        self.remember_signalled(conn, target);
        Ok(())
    }

    /// `conn` signalled `target`: from now on `target` may answer `conn`. Only `conn`'s own
    /// list changes, most recent last; when it is full, connections that are gone go first, then
    /// the least recently signalled.
    fn remember_signalled(&mut self, conn: ConnId, target: ConnId) {
        let Some(sender) = self.native_peer_mut(conn) else {
            return;
        };
        let mut list = std::mem::take(&mut sender.signalled);
        list.retain(|c| *c != target);
        if list.len() >= MAX_SIGNALLED {
            list.retain(|c| self.conns.get(c).is_some_and(|c| !c.closing));
        }
        if list.len() >= MAX_SIGNALLED {
            list.remove(0);
        }
        list.push(target);
        if let Some(sender) = self.native_peer_mut(conn) {
            sender.signalled = list;
        }
    }

    fn on_turn(&mut self, conn: ConnId, rid: Option<u64>, now: Instant) -> Result<(), Reject> {
        let mut servers = Vec::new();
        if !self.config.stun_urls.is_empty() {
            servers.push(IceServer { urls: self.config.stun_urls.clone(), username: None, credential: None });
        }
        let mut ttl_secs = 0;
        if let Some(turn) = &self.config.turn {
            // An opaque, per-request id: TURN servers never learn who the peer is.
            let opaque = {
                use rand::Rng;
                let bytes: [u8; 9] = self.rng.random();
                BASE64.encode(bytes).replace(['+', '/'], "x")
            };
            let creds = turn.credentials(&opaque, self.unix_time(now));
            ttl_secs = turn.ttl_secs;
            servers.push(IceServer {
                urls: turn.urls.clone(),
                username: Some(creds.username),
                credential: Some(creds.credential),
            });
        }
        self.send(conn, to_text(&ServerMessage::IceServers { rid, ttl_secs, ice_servers: servers }));
        Ok(())
    }

    pub(crate) fn native_forget(&mut self, conn: ConnId) {
        let Some(peer) = self.native_peer(conn) else {
            return;
        };
        let namespaces = peer.namespaces.clone();
        let (peer_id, identity) = (peer.peer.clone(), peer.identity);
        for ns in &namespaces {
            self.leave_namespace(conn, ns);
        }
        if self.native.peers.get(&peer_id) == Some(&conn) {
            self.native.peers.remove(&peer_id);
        }
        if let Some(id) = identity
            && self.native.identities.get(&id) == Some(&conn)
        {
            self.native.identities.remove(&id);
        }
    }

    pub(crate) fn native_timers(&mut self, now: Instant) {
        let expired: Vec<String> =
            self.native.rooms.iter().filter(|(_, r)| r.expires <= now).map(|(code, _)| code.clone()).collect();
        for code in expired {
            self.close_room(&code, "expired");
        }
    }
}

/// The attacking hub's test mode ([`crate::HubConfig::swap_drop_keys`]): a Drop hello
/// (`{"p2pos": "drop", "kind": "hello", "pub": …}`) with its key replaced by `key`; `None` for
/// every other payload, which is relayed untouched.
fn swap_drop_key(payload: &RawValue, key: &str) -> Option<Box<RawValue>> {
    let mut value: serde_json::Value = serde_json::from_str(payload.get()).ok()?;
    let hello = value.as_object_mut()?;
    if hello.get("p2pos")?.as_str() != Some("drop") || hello.get("kind")?.as_str() != Some("hello") {
        return None;
    }
    hello.insert("pub".into(), serde_json::Value::String(key.to_string()));
    serde_json::value::to_raw_value(&value).ok()
}
