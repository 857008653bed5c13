//! The PeerJS server protocol (`/peerjs`), with the semantics of the npm `peer` server: clients
//! choose their ids, `OFFER`/`ANSWER`/`CANDIDATE`/`LEAVE` are relayed to `dst` with `src` added,
//! messages for an absent peer are queued and, if it does not arrive in time, the sender gets
//! `EXPIRE`. Existing PeerJS apps work unchanged against this endpoint.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::value::RawValue;

use crate::hub::{ConnId, ConnKind, Hub, close};
use p2pos_hub_proto::peerjs::{PeerJsMessage, PeerJsOut, peerjs_notice};
use p2pos_hub_proto::to_text;

/// Longest client-chosen id and token we accept.
const MAX_ID_LEN: usize = 64;

struct Client {
    conn: ConnId,
    token: String,
}

struct Queue {
    since: Instant,
    /// (src, text) of each waiting message.
    messages: Vec<(String, String)>,
}

#[derive(Default)]
pub(crate) struct PeerJsState {
    clients: HashMap<String, Client>,
    queues: HashMap<String, Queue>,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_ ".contains(&b))
}

impl Hub {
    fn peerjs_id(&self, conn: ConnId) -> Option<&str> {
        match &self.conns.get(&conn)?.kind {
            ConnKind::PeerJs { id } if !id.is_empty() => Some(id),
            _ => None,
        }
    }

    pub(crate) fn peerjs_connected(&mut self, conn: ConnId, key: &str, id: &str, token: &str, now: Instant) {
        if key != self.config.peerjs_key {
            self.send(conn, peerjs_notice("ERROR", "Invalid key provided"));
            self.close(conn, close::POLICY, "invalid key".into());
            return;
        }
        if id.is_empty() || token.is_empty() {
            self.send(conn, peerjs_notice("ERROR", "No id, token, or key supplied to websocket server"));
            self.close(conn, close::POLICY, "no id, token, or key".into());
            return;
        }
        if !valid_id(id) || token.len() > MAX_ID_LEN {
            self.send(conn, peerjs_notice("ERROR", "Invalid id or token"));
            self.close(conn, close::POLICY, "invalid id or token".into());
            return;
        }
        if let Some(existing) = self.peerjs.clients.get(id) {
            if existing.token != token {
                self.send(conn, peerjs_notice("ID-TAKEN", "ID is taken"));
                self.close(conn, close::POLICY, "id is taken".into());
                return;
            }
            // Same id and token: the client reconnected; the new socket replaces the old one.
            let old = existing.conn;
            self.close(old, close::REPLACED, "replaced by a newer connection".into());
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.kind = ConnKind::PeerJs { id: id.to_string() };
        }
        self.peerjs.clients.insert(id.to_string(), Client { conn, token: token.to_string() });
        self.send(conn, r#"{"type":"OPEN"}"#.to_string());
        if let Some(queue) = self.peerjs.queues.remove(id) {
            for (_, text) in queue.messages {
                self.stats.relayed += 1;
                self.send(conn, text);
            }
        }
        let _ = now;
    }

    pub(crate) fn peerjs_receive(&mut self, conn: ConnId, text: &str, now: Instant) {
        let Some(src) = self.peerjs_id(conn).map(str::to_string) else {
            return;
        };
        let msg: PeerJsMessage<'_> = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(_) => {
                self.stats.bad_messages += 1;
                self.send(conn, peerjs_notice("ERROR", "Invalid message"));
                return;
            }
        };
        match msg.kind.as_ref() {
            "HEARTBEAT" => {}
            kind @ ("OFFER" | "ANSWER" | "CANDIDATE" | "LEAVE" | "EXPIRE") => match msg.dst.as_deref() {
                Some(dst) => self.peerjs_transmit(kind, &src, dst, msg.payload, now),
                None if kind == "LEAVE" => self.close(conn, close::NORMAL, "left".into()),
                None => {}
            },
            // The PeerJS server ignores types it does not know; so do we.
            _ => {}
        }
    }

    fn peerjs_transmit(&mut self, kind: &str, src: &str, dst: &str, payload: Option<&RawValue>, now: Instant) {
        let text = to_text(&PeerJsOut { kind, src: Some(src), dst: Some(dst), payload });
        if let Some(client) = self.peerjs.clients.get(dst) {
            let target = client.conn;
            self.stats.relayed += 1;
            self.send(target, text);
            return;
        }
        // Absent: wait for it to (re)connect, except for messages that only make sense live.
        if kind == "LEAVE" || kind == "EXPIRE" {
            return;
        }
        let cap = self.config.limits.peerjs_queue_per_peer;
        let queue =
            self.peerjs.queues.entry(dst.to_string()).or_insert_with(|| Queue { since: now, messages: Vec::new() });
        if queue.messages.len() < cap {
            queue.messages.push((src.to_string(), text));
        }
    }

    pub(crate) fn peerjs_forget(&mut self, conn: ConnId, _now: Instant) {
        let Some(id) = self.peerjs_id(conn).map(str::to_string) else {
            return;
        };
        if self.peerjs.clients.get(&id).is_some_and(|c| c.conn == conn) {
            self.peerjs.clients.remove(&id);
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.kind = ConnKind::PeerJs { id: String::new() };
        }
    }

    /// Queues older than the expiry: each sender learns once that its peer did not come.
    pub(crate) fn peerjs_timers(&mut self, now: Instant) {
        let after = self.config.limits.peerjs_expire_after;
        let expired: Vec<String> = self
            .peerjs
            .queues
            .iter()
            .filter(|(_, q)| now.saturating_duration_since(q.since) >= after)
            .map(|(dst, _)| dst.clone())
            .collect();
        for dst in expired {
            let Some(queue) = self.peerjs.queues.remove(&dst) else {
                continue;
            };
            let mut told = HashSet::new();
            for (src, _) in queue.messages {
                if !told.insert(src.clone()) {
                    continue;
                }
                if let Some(client) = self.peerjs.clients.get(&src) {
                    let target = client.conn;
                    self.stats.peerjs_expired += 1;
                    let text = to_text(&PeerJsOut { kind: "EXPIRE", src: Some(&dst), dst: Some(&src), payload: None });
                    self.send(target, text);
                }
            }
        }
    }

    /// A fresh id for `GET /peerjs/id` that no connected client holds.
    pub fn peerjs_new_id(&mut self) -> String {
        loop {
            let id = self.random_token(100);
            if !self.peerjs.clients.contains_key(&id) {
                return id;
            }
        }
    }

    /// Connected PeerJS ids, for `GET /peerjs/peers` (only when discovery is enabled).
    pub fn peerjs_peers(&self) -> Option<Vec<String>> {
        self.config.peerjs_discovery.then(|| self.peerjs.clients.keys().cloned().collect())
    }
}
