//! The native protocol v1 (`/v1/ws`): hello, auth, namespaces and presence, rooms, signal relay,
//! contacts, TURN credentials. Handlers are methods on [`Hub`]; state lives in [`NativeState`].
//!
//! The `network` namespace is anonymous: nobody there is shown with an identity, a signal allowed
//! only by a shared network namespace carries no `from_id`, and a `hidden` member is not listed.
//! Joining it (and any `rv:` name) needs a beacon token ([`crate::beacon`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signature;
use p2pos_core::IdentityId;
use rand::rngs::StdRng;
use serde_json::value::RawValue;

use crate::beacon::{self, BeaconError};
use crate::hub::{ConnId, ConnKind, Hub, close};
use crate::limits::address_key;
use p2pos_hub_proto::native::{
    Allow, AnnouncedLimits, ClientMessage, MAX_CONTACTS, MAX_NETWORK_PROOFS, PeerInfo, PresenceEvent, ServerMessage,
    VERSION, error_code,
};
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

fn is_network(ns: &Namespace) -> bool {
    matches!(ns, Namespace::Network(_))
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
    /// The `Origin` header of the upgrade request (a browser page's origin), for beacon tokens.
    page_origin: Option<String>,
    identity: Option<IdentityId>,
    /// Who may signal this connection by its identity (`auth`'s `allow`).
    allow: Allow,
    /// With [`Allow::Contacts`]: the identities that may (sorted, no duplicates; memory only).
    contacts: Vec<IdentityId>,
    profile: Option<Box<RawValue>>,
    namespaces: Vec<Namespace>,
    /// Whether this connection watches its network namespaces without being listed there.
    network_hidden: bool,
    /// The connections this peer signalled, least recently first: each of them may answer it
    /// without a shared namespace. Kept on the sender, so only its own signals change it (a
    /// stranger signalling the same target cannot push it out); at most [`MAX_SIGNALLED`].
    signalled: Vec<Signalled>,
}

/// One connection that a peer signalled, and whether that signal was anonymous: allowed only by a
/// shared network namespace, so it went without `from_id`. An answer to an anonymous signal is
/// anonymous too, and it is no permission by identity, even after the sender left `network`:
/// otherwise a neighbour could signal someone there, leave, and learn (or test) the identity of
/// whoever answers.
///
/// `from_id` is the identity that signal showed (`None`: anonymous, or sent before logging in):
/// `peer_gone` names the peer as its signals did, never by an identity it took afterwards.
#[derive(Debug, Clone, Copy)]
struct Signalled {
    conn: ConnId,
    anonymous: bool,
    from_id: Option<IdentityId>,
}

/// How many different connections one peer's signals keep answerable (the most recently
/// signalled). A browser or an enrolling node signals one or a few nodes.
const MAX_SIGNALLED: usize = 64;

impl NativePeer {
    pub(crate) fn new(rng: &mut StdRng, origins: Vec<String>, page_origin: Option<String>) -> Self {
        use rand::Rng;
        let challenge: [u8; 32] = rng.random();
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        let peer = std::iter::once('p').chain((0..20).map(|_| ALPHABET[rng.random_range(0..32)] as char)).collect();
        Self {
            peer,
            said_hello: false,
            challenge: BASE64.encode(challenge),
            origins,
            page_origin,
            identity: None,
            allow: Allow::Shared,
            contacts: Vec::new(),
            profile: None,
            namespaces: Vec::new(),
            network_hidden: false,
            signalled: Vec::new(),
        }
    }

    /// This peer as the members of `ns` see it: never with an identity in a network namespace.
    fn info_in(&self, ns: &Namespace) -> PeerInfo<'_> {
        PeerInfo {
            peer: self.peer.as_str().into(),
            id: if is_network(ns) { None } else { self.identity.map(|i| i.to_string()) },
            profile: self.profile.as_deref().map(OpaqueJson::Raw),
        }
    }

    /// Whether the members of `ns` see this peer (in `joined` and presence).
    fn listed_in(&self, ns: &Namespace) -> bool {
        !(self.network_hidden && is_network(ns))
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
            "join" => self.on_join(conn, &msg, now),
            "leave" => self.on_leave(conn, &msg),
            "delete_room" => self.on_delete_room(conn, &msg),
            "signal" => self.on_signal(conn, &msg),
            "contacts" => self.on_contacts(conn, &msg),
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
        let allow = match msg.allow.as_deref() {
            None | Some("shared") => Allow::Shared,
            Some("anyone") => Allow::Anyone,
            Some("contacts") => Allow::Contacts,
            Some(_) => {
                return Err(Reject("bad_message", "allow is \"shared\", \"anyone\" or \"contacts\"".into()));
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
            peer.allow = allow;
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
        let joined = self.join_namespaces(conn, vec![ns], false, None);
        if joined.is_err() {
            // Not reachable with sane limits (the room is new and empty), but never leave a room
            // without its creator.
            self.native.rooms.remove(&code);
        }
        joined
    }

    fn on_join(&mut self, conn: ConnId, msg: &ClientMessage<'_>, now: Instant) -> Result<(), Reject> {
        let ip = self.conns.get(&conn).map(|c| c.ip).ok_or(Reject("gone", String::new()))?;
        let ns = msg.ns.as_deref().ok_or_else(|| Reject("bad_message", "join needs ns".into()))?;
        let ns = Namespace::parse(ns, ip).map_err(|e| Reject("bad_namespace", e.into()))?;
        let hidden = msg.hidden.unwrap_or(false);
        let also = msg.also.as_deref().unwrap_or_default();
        if !is_network(&ns) && (hidden || !also.is_empty()) {
            return Err(Reject("bad_message", "hidden and also are for the network namespace only".into()));
        }
        if also.len() > MAX_NETWORK_PROOFS {
            return Err(Reject("bad_message", format!("at most {MAX_NETWORK_PROOFS} network proofs in also")));
        }
        if let Namespace::Room(code) = &ns
            && !self.native.rooms.contains_key(code)
        {
            return Err(Reject("no_such_room", "this room does not exist, expired, or was already used".into()));
        }
        if matches!(ns, Namespace::Network(_) | Namespace::Rendezvous(_))
            && let Err(refused) = self.check_beacon(conn, msg.beacon.as_deref(), now)
        {
            self.stats.closed_beacon += 1;
            self.close(conn, close::BEACON, refused.to_string());
            return Ok(());
        }
        let unix = self.unix_time(now);
        let mut spaces = vec![ns];
        for proof in also {
            let addr = beacon::check_network_proof(self.beacon_key.bytes(), proof, unix)
                .map_err(|e| Reject(error_code::BAD_PROOF, e.to_string()))?;
            let proven = Namespace::Network(addr);
            if !spaces.contains(&proven) {
                spaces.push(proven);
            }
        }
        self.join_namespaces(conn, spaces, hidden, msg.rid)
    }

    /// Whether `token` lets `conn` join `network` or an `rv:` name now.
    fn check_beacon(&self, conn: ConnId, token: Option<&str>, now: Instant) -> Result<(), BeaconError> {
        let Some(peer) = self.native_peer(conn) else {
            return Err(BeaconError::Missing);
        };
        let own: Vec<String> = peer.origins.iter().chain(&self.config.alt_origins).cloned().collect();
        beacon::check_token(self.beacon_key.bytes(), token, peer.page_origin.as_deref(), &own, self.unix_time(now))
    }

    /// Joins `spaces` at once (the first names them in the reply: several only for `network` with
    /// proofs) and answers with one `joined` listing the others there; a peer in two of them is
    /// listed twice (clients dedupe by `peer`). Checks every limit before anything changes.
    fn join_namespaces(
        &mut self,
        conn: ConnId,
        spaces: Vec<Namespace>,
        hidden: bool,
        rid: Option<u64>,
    ) -> Result<(), Reject> {
        let limits = &self.config.limits;
        let (max_ns, max_peers) = (limits.max_namespaces_per_connection, limits.max_namespace_peers);
        let peer = self.native_peer(conn).ok_or(Reject("gone", String::new()))?;
        let in_network = peer.namespaces.iter().any(is_network);
        let network_join = spaces.iter().any(is_network);
        if network_join && in_network && peer.network_hidden != hidden {
            return Err(Reject(
                "already_joined",
                "already in network with the other visibility: leave network, then join again".into(),
            ));
        }
        let fresh: Vec<Namespace> = spaces.iter().filter(|ns| !peer.namespaces.contains(ns)).cloned().collect();
        if peer.namespaces.len() + fresh.len() > max_ns {
            return Err(too_many_namespaces(max_ns));
        }
        if fresh.iter().any(|ns| self.native.spaces.get(ns).is_some_and(|m| m.len() >= max_peers)) {
            return Err(Reject("namespace_full", format!("this namespace already has {max_peers} peers")));
        }
        if network_join
            && !in_network
            && let Some(p) = self.native_peer_mut(conn)
        {
            p.network_hidden = hidden;
        }
        let Some(first) = spaces.first() else {
            return Ok(());
        };
        let wire = first.wire();
        let mut peers = Vec::new();
        for ns in &spaces {
            let members = self.native.spaces.get(ns).map(Vec::as_slice).unwrap_or_default();
            peers.extend(
                members
                    .iter()
                    .filter(|c| **c != conn)
                    .filter_map(|c| self.native_peer(*c))
                    .filter(|p| p.listed_in(ns))
                    .map(|p| p.info_in(ns)),
            );
        }
        let joined = to_text(&ServerMessage::Joined { rid, ns: wire.as_str().into(), peers });
        let me = self.native_peer(conn).ok_or(Reject("gone", String::new()))?;
        let mut presence = Vec::new();
        for ns in fresh.iter().filter(|ns| me.listed_in(ns)) {
            let others = self.native.spaces.get(ns).cloned().unwrap_or_default();
            let text = to_text(&ServerMessage::Presence {
                ns: wire.as_str().into(),
                event: PresenceEvent::Join,
                peer: me.info_in(ns),
            });
            presence.push((others, text));
        }
        for ns in fresh {
            self.native.spaces.entry(ns.clone()).or_default().push(conn);
            if let Some(p) = self.native_peer_mut(conn) {
                p.namespaces.push(ns);
            }
        }
        for (others, text) in presence {
            for other in others {
                self.send(other, text.clone());
            }
        }
        self.send(conn, joined);
        Ok(())
    }

    fn on_leave(&mut self, conn: ConnId, msg: &ClientMessage<'_>) -> Result<(), Reject> {
        let ip = self.conns.get(&conn).map(|c| c.ip).ok_or(Reject("gone", String::new()))?;
        let ns = msg.ns.as_deref().ok_or_else(|| Reject("bad_message", "leave needs ns".into()))?;
        let ns = Namespace::parse(ns, ip).map_err(|e| Reject("bad_namespace", e.into()))?;
        let joined = self.native_peer(conn).map(|p| p.namespaces.as_slice()).unwrap_or_default();
        // Leaving `network` leaves every network namespace joined with it (the proven ones too).
        let leaving: Vec<Namespace> =
            joined.iter().filter(|n| **n == ns || (is_network(&ns) && is_network(n))).cloned().collect();
        if leaving.is_empty() {
            return Err(Reject("not_joined", "you are not in this namespace".into()));
        }
        for ns in &leaving {
            self.leave_namespace(conn, ns);
        }
        self.send(conn, to_text(&ServerMessage::Left { rid: msg.rid, ns: ns.wire().into() }));
        Ok(())
    }

    /// Removes `conn` from `ns`, tells the others, and drops an empty room.
    fn leave_namespace(&mut self, conn: ConnId, ns: &Namespace) {
        // Decided before the visibility resets with the last network namespace.
        let listed = self.native_peer(conn).is_some_and(|p| p.listed_in(ns));
        if let Some(p) = self.native_peer_mut(conn) {
            p.namespaces.retain(|n| n != ns);
            if !p.namespaces.iter().any(is_network) {
                p.network_hidden = false;
            }
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
        if let Some(p) = self.native_peer(conn)
            && listed
        {
            let text = to_text(&ServerMessage::Presence {
                ns: ns.wire().into(),
                event: PresenceEvent::Leave,
                peer: p.info_in(ns),
            });
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
        let (target, by_identity) = match self.native.peers.get(to) {
            Some(c) => (*c, false),
            None => {
                let id: IdentityId = to.parse().map_err(|_| unavailable())?;
                (*self.native.identities.get(&id).ok_or_else(unavailable)?, true)
            }
        };
        let sender = self.native_peer(conn).ok_or_else(unavailable)?;
        let receiver = self.native_peer(target).ok_or_else(unavailable)?;
        let shares = |network: bool| {
            sender.namespaces.iter().any(|ns| is_network(ns) == network && receiver.namespaces.contains(ns))
        };
        let (shared_other, shared_network) = (shares(false), shares(true));
        // An answer: `receiver` signalled `sender` before (and whether that went anonymously).
        let answer = receiver.signalled.iter().find(|s| s.conn == conn).map(|s| s.anonymous);
        let contact = receiver.allow == Allow::Contacts
            && sender.identity.is_some_and(|id| receiver.contacts.binary_search(&id).is_ok());
        // By identity, neither a shared network namespace nor an answer to a signal sent there
        // is a permission: a neighbour could otherwise test which identity sits behind its address.
        let answer_by_identity = answer == Some(false) && !shared_network;
        let allowed = match (by_identity, receiver.allow) {
            // Contacts-only: by identity, only its contacts (and whoever it signalled itself).
            (true, Allow::Contacts) => contact || answer_by_identity,
            (true, allow) => shared_other || answer_by_identity || allow == Allow::Anyone,
            (false, allow) => shared_other || shared_network || answer.is_some() || contact || allow == Allow::Anyone,
        };
        if !allowed {
            // By identity, a refusal reads exactly like absence: the hub never tells someone who
            // may not signal an identity that it is online.
            if by_identity {
                return Err(unavailable());
            }
            return Err(Reject("not_allowed", format!("you share no namespace with {to}")));
        }
        // Anonymity in `network`: a signal that only a shared network namespace allows says
        // nothing of who sent it, nor does an answer to such a signal. One addressed to an
        // identity knows whom it reaches.
        let anonymous = !by_identity && !shared_other && (shared_network || answer == Some(true));
        let from_id = if anonymous { None } else { sender.identity };
        let swapped = self.config.swap_drop_keys.as_deref().and_then(|key| swap_drop_key(payload, key));
        let text = to_text(&ServerMessage::Signal {
            from: sender.peer.as_str().into(),
            from_id: from_id.map(|i| i.to_string()),
            payload: OpaqueJson::Raw(swapped.as_deref().unwrap_or(payload)),
        });
        self.stats.relayed += 1;
        self.send(target, text);
        self.remember_signalled(conn, Signalled { conn: target, anonymous, from_id });
        Ok(())
    }

    /// `conn` signalled `target`: from now on `target` may answer `conn`. Only `conn`'s own
    /// list changes, most recent last; when it is full, connections that are gone go first, then
    /// the least recently signalled.
    fn remember_signalled(&mut self, conn: ConnId, target: Signalled) {
        let Some(sender) = self.native_peer_mut(conn) else {
            return;
        };
        let mut list = std::mem::take(&mut sender.signalled);
        list.retain(|s| s.conn != target.conn);
        if list.len() >= MAX_SIGNALLED {
            list.retain(|s| self.conns.get(&s.conn).is_some_and(|c| !c.closing));
        }
        if list.len() >= MAX_SIGNALLED {
            list.remove(0);
        }
        list.push(target);
        if let Some(sender) = self.native_peer_mut(conn) {
            sender.signalled = list;
        }
    }

    fn on_contacts(&mut self, conn: ConnId, msg: &ClientMessage<'_>) -> Result<(), Reject> {
        let ids = msg.ids.as_deref().ok_or_else(|| Reject("bad_message", "contacts needs ids".into()))?;
        if ids.len() > MAX_CONTACTS {
            return Err(Reject("too_many_contacts", format!("at most {MAX_CONTACTS} contacts, got {}", ids.len())));
        }
        let mut contacts = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let id: IdentityId =
                id.parse().map_err(|e| Reject("bad_message", format!("ids[{i}] is not an identity id: {e}")))?;
            contacts.push(id);
        }
        contacts.sort_unstable();
        contacts.dedup();
        let count = contacts.len();
        if let Some(p) = self.native_peer_mut(conn) {
            p.contacts = contacts;
        }
        self.send(conn, to_text(&ServerMessage::ContactsSet { rid: msg.rid, count }));
        Ok(())
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
        let Some(peer) = self.native_peer_mut(conn) else {
            return;
        };
        // Taken, so a connection that is closed and then reported gone tells only once.
        let signalled = std::mem::take(&mut peer.signalled);
        let namespaces = peer.namespaces.clone();
        let (peer_id, identity) = (peer.peer.clone(), peer.identity);
        // The peers it signalled by name (not anonymously, through `network`) learn it is gone,
        // as it showed itself to them: the same `from`, and the `from_id` its last signal to each
        // carried (not the identity it has now: it may have logged in after signalling). Nobody
        // else learns anything, and the neighbours of `network` keep their anonymity (a hidden
        // watcher leaves unheard).
        for to in signalled.into_iter().filter(|to| !to.anonymous) {
            let text = to_text(&ServerMessage::PeerGone {
                peer: peer_id.as_str().into(),
                id: to.from_id.map(|i| i.to_string()),
            });
            self.send(to.conn, text);
        }
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
