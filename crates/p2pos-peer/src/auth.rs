//! Signed node-to-node requests. No shared secret anywhere: the sender signs
//! `p2pos-peer-v1|<from>|<to>|<ts_ms>|<nonce>|<body>` with its node key, where `body` is the JSON of
//! the [`PeerRequest`]. The receiver checks the signature (`verify_strict`), that it is the `to`,
//! that the timestamp is within the allowed skew of its own clock, that `from` may talk to it at
//! all (an enrolled peer: the receiver's policy, passed in), and that it has not seen the nonce
//! before ([`ReplayGuard`], sans-IO: the caller passes the time). Only a request that passed every
//! other check is remembered, so strangers cannot fill the guard, and each sender has its own cap.

use std::collections::{HashMap, HashSet, VecDeque};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey};
use p2pos_core::NodeId;
use serde::{Deserialize, Serialize};

use crate::wire::PeerRequest;

/// How far a request's timestamp may be from the receiver's clock. Default 5 minutes.
pub const DEFAULT_MAX_SKEW_MS: u64 = 5 * 60 * 1000;

/// Nonces one sender may have remembered at once: its requests of the last ~5 minutes (a nonce is
/// kept until its timestamp is out of the skew window). 65,536 in 5 minutes is over 200 requests
/// a second, sustained; a sender beyond it is refused (`too_many_requests`) until older nonces
/// expire, never by forgetting a nonce (that would let a captured request be replayed).
pub const MAX_NONCES_PER_SENDER: usize = 65_536;

/// Nonces remembered at once, all senders together (about 120 MB at most): reached only if many
/// senders are each near their cap; then every sender is refused for a while.
pub const MAX_NONCES: usize = 1_000_000;

/// A request as it travels: who to whom, when, a nonce, the request's JSON, and the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest {
    pub from: NodeId,
    pub to: NodeId,
    pub ts_ms: u64,
    /// 16 random bytes, base64.
    pub nonce: String,
    /// The [`PeerRequest`] as JSON text: signed as is, parsed only after the signature checks.
    pub body: String,
    /// Ed25519 over [`signed_message`], base64.
    pub sig: String,
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("this request is for another node ({0})")]
    WrongRecipient(NodeId),
    #[error("the request's clock is {0} ms away from ours (allowed: {1} ms)")]
    Stale(u64, u64),
    #[error("this request was seen before (replay)")]
    Replayed,
    #[error("the signature does not verify for {0}")]
    BadSignature(NodeId),
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("node {0} is not enrolled here")]
    NotEnrolled(NodeId),
    #[error("too many requests from {0} in the last minutes; try again shortly")]
    TooManyRequests(NodeId),
}

impl AuthError {
    /// A stable code for error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::WrongRecipient(_) => "wrong_recipient",
            AuthError::Stale(..) => "stale_request",
            AuthError::Replayed => "replayed",
            AuthError::BadSignature(_) => "bad_signature",
            AuthError::Malformed(_) => "bad_request",
            AuthError::NotEnrolled(_) => "not_enrolled",
            AuthError::TooManyRequests(_) => "too_many_requests",
        }
    }
}

/// The exact bytes a node signs.
pub fn signed_message(from: &NodeId, to: &NodeId, ts_ms: u64, nonce: &str, body: &str) -> Vec<u8> {
    format!("p2pos-peer-v1|{from}|{to}|{ts_ms}|{nonce}|{body}").into_bytes()
}

/// Sign `request` from the node holding `key` to node `to` at `now_ms`.
pub fn sign_request(key: &SigningKey, to: NodeId, now_ms: u64, request: &PeerRequest) -> SignedRequest {
    let from = NodeId::from_verifying_key(&key.verifying_key());
    let nonce = B64.encode(rand::random::<[u8; 16]>());
    // Serialising a plain enum of integers, strings and ids cannot fail.
    let body = serde_json::to_string(request).unwrap_or_default();
    let sig = key.sign(&signed_message(&from, &to, now_ms, &nonce, &body));
    SignedRequest { from, to, ts_ms: now_ms, nonce, body, sig: B64.encode(sig.to_bytes()) }
}

/// Checks signed requests for one receiving node and remembers nonces long enough that a replay
/// inside the skew window is caught: a nonce is kept until its timestamp is out of the window.
/// Memory is bounded per sender ([`MAX_NONCES_PER_SENDER`]) and in all ([`MAX_NONCES`]), and
/// only senders the caller accepts are remembered ([`ReplayGuard::check_from`]).
#[derive(Debug)]
pub struct ReplayGuard {
    me: NodeId,
    max_skew_ms: u64,
    seen: HashSet<(NodeId, String)>,
    /// (forget after, key), in insertion order; timestamps are bounded by now + skew, so the
    /// front is always among the oldest (an entry behind it may be kept a little longer).
    order: VecDeque<(u64, (NodeId, String))>,
    /// How many of `seen` each sender has.
    per_sender: HashMap<NodeId, usize>,
    max_per_sender: usize,
    max_total: usize,
}

impl ReplayGuard {
    pub fn new(me: NodeId) -> Self {
        Self::with_skew(me, DEFAULT_MAX_SKEW_MS)
    }

    pub fn with_skew(me: NodeId, max_skew_ms: u64) -> Self {
        Self {
            me,
            max_skew_ms,
            seen: HashSet::new(),
            order: VecDeque::new(),
            per_sender: HashMap::new(),
            max_per_sender: MAX_NONCES_PER_SENDER,
            max_total: MAX_NONCES,
        }
    }

    /// Verify `request` at `now_ms` from a sender `accepted` says may talk to this node (an
    /// enrolled peer; the peer a channel is bound to). Checks, in order: the recipient, the clock,
    /// the signature, the sender (`not_enrolled`), the nonce, the body, the caps; only a request
    /// that passed them all is remembered. On success returns the sender and the parsed request.
    pub fn check_from(
        &mut self,
        request: &SignedRequest,
        now_ms: u64,
        accepted: impl FnOnce(&NodeId) -> bool,
    ) -> Result<(NodeId, PeerRequest), AuthError> {
        self.verify(request, now_ms)?;
        if !accepted(&request.from) {
            return Err(AuthError::NotEnrolled(request.from));
        }
        self.remember(request, now_ms)
    }

    /// [`ReplayGuard::check_from`] for a caller that accepts any sender whose signature verifies
    /// and decides about it afterwards. Each sender's nonces are still capped, but a caller that
    /// knows whom it serves should say so with `check_from`: then nothing of a stranger is kept.
    pub fn check(&mut self, request: &SignedRequest, now_ms: u64) -> Result<(NodeId, PeerRequest), AuthError> {
        self.check_from(request, now_ms, |_| true)
    }

    /// Everything about `request` that needs no memory: recipient, clock, signature.
    fn verify(&self, request: &SignedRequest, now_ms: u64) -> Result<(), AuthError> {
        if request.to != self.me {
            return Err(AuthError::WrongRecipient(request.to));
        }
        let skew = now_ms.abs_diff(request.ts_ms);
        if skew > self.max_skew_ms {
            return Err(AuthError::Stale(skew, self.max_skew_ms));
        }
        let key = request.from.verifying_key().map_err(|e| AuthError::Malformed(e.to_string()))?;
        let sig = B64
            .decode(&request.sig)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| Signature::from_bytes(&b))
            .ok_or_else(|| AuthError::Malformed("signature is not 64 bytes of base64".into()))?;
        let message = signed_message(&request.from, &request.to, request.ts_ms, &request.nonce, &request.body);
        key.verify_strict(&message, &sig).map_err(|_| AuthError::BadSignature(request.from))?;
        Ok(())
    }

    /// The nonce, the body and the caps of a verified request from an accepted sender; remembers
    /// the nonce when all pass.
    fn remember(&mut self, request: &SignedRequest, now_ms: u64) -> Result<(NodeId, PeerRequest), AuthError> {
        if request.nonce.len() > 64 {
            return Err(AuthError::Malformed("nonce too long".into()));
        }
        self.expire(now_ms);
        let entry = (request.from, request.nonce.clone());
        if self.seen.contains(&entry) {
            return Err(AuthError::Replayed);
        }
        let parsed: PeerRequest =
            serde_json::from_str(&request.body).map_err(|e| AuthError::Malformed(format!("body: {e}")))?;
        let mine = self.per_sender.get(&request.from).copied().unwrap_or(0);
        if mine >= self.max_per_sender || self.seen.len() >= self.max_total {
            return Err(AuthError::TooManyRequests(request.from));
        }
        self.seen.insert(entry.clone());
        self.order.push_back((request.ts_ms.saturating_add(self.max_skew_ms), entry));
        self.per_sender.insert(request.from, mine + 1);
        Ok((request.from, parsed))
    }

    fn expire(&mut self, now_ms: u64) {
        while let Some((forget_after, _)) = self.order.front() {
            if *forget_after >= now_ms {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.seen.remove(&key);
                if let Some(count) = self.per_sender.get_mut(&key.0) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        self.per_sender.remove(&key.0);
                    }
                }
            }
        }
    }

    /// Nonces currently remembered.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn id(k: &SigningKey) -> NodeId {
        NodeId::from_verifying_key(&k.verifying_key())
    }

    #[test]
    fn accepts_once_and_refuses_the_replay() {
        let (oak, pine) = (key(1), key(2));
        let mut guard = ReplayGuard::new(id(&pine));
        let request = sign_request(&oak, id(&pine), 1_000_000, &PeerRequest::Hello);
        assert_eq!(guard.check(&request, 1_000_500).unwrap(), (id(&oak), PeerRequest::Hello));
        assert_eq!(guard.check(&request, 1_000_600), Err(AuthError::Replayed));
    }

    #[test]
    fn refuses_other_recipients_stale_times_forgeries_and_edits() {
        let (oak, pine, elm) = (key(1), key(2), key(3));
        let mut guard = ReplayGuard::new(id(&pine));
        let now = 10_000_000;
        let to_elm = sign_request(&oak, id(&elm), now, &PeerRequest::Hello);
        assert_eq!(guard.check(&to_elm, now), Err(AuthError::WrongRecipient(id(&elm))));
        let old = sign_request(&oak, id(&pine), now - DEFAULT_MAX_SKEW_MS - 1, &PeerRequest::Hello);
        assert!(matches!(guard.check(&old, now), Err(AuthError::Stale(..))));
        let future = sign_request(&oak, id(&pine), now + DEFAULT_MAX_SKEW_MS + 1, &PeerRequest::Hello);
        assert!(matches!(guard.check(&future, now), Err(AuthError::Stale(..))));

        let mut forged = sign_request(&elm, id(&pine), now, &PeerRequest::Hello);
        forged.from = id(&oak);
        assert_eq!(guard.check(&forged, now), Err(AuthError::BadSignature(id(&oak))));

        let mut edited = sign_request(&oak, id(&pine), now, &PeerRequest::Records { since: 0, limit: 10 });
        edited.body = r#"{"type":"records","since":5,"limit":10}"#.into();
        assert_eq!(guard.check(&edited, now), Err(AuthError::BadSignature(id(&oak))));
        let mut retimed = sign_request(&oak, id(&pine), now, &PeerRequest::Hello);
        retimed.ts_ms += 1;
        assert_eq!(guard.check(&retimed, now), Err(AuthError::BadSignature(id(&oak))));
    }

    #[test]
    fn forgets_nonces_once_their_timestamps_are_stale() {
        let (oak, pine) = (key(1), key(2));
        let mut guard = ReplayGuard::with_skew(id(&pine), 1_000);
        let now = 50_000;
        for i in 0..10 {
            guard.check(&sign_request(&oak, id(&pine), now + i, &PeerRequest::Hello), now + i).unwrap();
        }
        assert_eq!(guard.remembered(), 10);
        // Past every timestamp + skew: the replayed request is stale now, so the nonce can go.
        let late = now + 2_100;
        let fresh = sign_request(&oak, id(&pine), late, &PeerRequest::Hello);
        guard.check(&fresh, late).unwrap();
        assert_eq!(guard.remembered(), 1);
    }

    #[test]
    fn a_flood_from_unknown_keys_leaves_the_guard_empty() {
        let (oak, pine) = (key(1), key(2));
        let mut guard = ReplayGuard::new(id(&pine));
        let enrolled = |from: &NodeId| *from == id(&oak);
        let now = 10_000_000;
        // Anyone can make a key and sign valid requests with it: none of them is remembered.
        for n in 0..2_000u32 {
            let stranger = SigningKey::from_bytes(&seed(n));
            let request = sign_request(&stranger, id(&pine), now, &PeerRequest::Hello);
            assert_eq!(guard.check_from(&request, now, enrolled), Err(AuthError::NotEnrolled(id(&stranger))));
        }
        assert_eq!(guard.remembered(), 0, "strangers' nonces fill the guard");
        // The enrolled peer is served, once per request.
        let hello = sign_request(&oak, id(&pine), now, &PeerRequest::Hello);
        assert_eq!(guard.check_from(&hello, now, enrolled).unwrap(), (id(&oak), PeerRequest::Hello));
        assert_eq!(guard.check_from(&hello, now, enrolled), Err(AuthError::Replayed));
        assert_eq!(guard.remembered(), 1);
    }

    #[test]
    fn a_sender_over_its_cap_is_refused_until_its_nonces_expire_and_others_are_not() {
        let (oak, elm, pine) = (key(1), key(3), key(2));
        let mut guard = ReplayGuard::with_skew(id(&pine), 1_000);
        guard.max_per_sender = 3;
        let now = 50_000;
        let first = sign_request(&oak, id(&pine), now, &PeerRequest::Hello);
        guard.check(&first, now).unwrap();
        for i in 1..3 {
            guard.check(&sign_request(&oak, id(&pine), now + i, &PeerRequest::Hello), now + i).unwrap();
        }
        let fourth = sign_request(&oak, id(&pine), now + 3, &PeerRequest::Hello);
        assert_eq!(guard.check(&fourth, now + 3), Err(AuthError::TooManyRequests(id(&oak))));
        // Nothing was forgotten to make room: the first request is still a replay.
        assert_eq!(guard.check(&first, now + 3), Err(AuthError::Replayed));
        // Another sender has its own allowance.
        guard.check(&sign_request(&elm, id(&pine), now + 3, &PeerRequest::Hello), now + 3).unwrap();
        assert_eq!(guard.remembered(), 4);
        // Once its nonces are stale, oak is served again.
        let later = now + 2_100;
        guard.check(&sign_request(&oak, id(&pine), later, &PeerRequest::Hello), later).unwrap();
        assert_eq!(guard.remembered(), 1);
    }

    /// 32 distinct bytes for key number `n`.
    fn seed(n: u32) -> [u8; 32] {
        let mut seed = [7u8; 32];
        seed[..4].copy_from_slice(&n.to_be_bytes());
        seed
    }

    #[test]
    fn an_unknown_request_type_is_malformed_after_the_signature_checks() {
        let (oak, pine) = (key(1), key(2));
        let mut guard = ReplayGuard::new(id(&pine));
        let now = 10_000_000;
        let body = r#"{"type":"format_disk"}"#.to_string();
        let nonce = "bm9uY2U=".to_string();
        let sig = oak.sign(&signed_message(&id(&oak), &id(&pine), now, &nonce, &body));
        let request =
            SignedRequest { from: id(&oak), to: id(&pine), ts_ms: now, nonce, body, sig: B64.encode(sig.to_bytes()) };
        assert!(matches!(guard.check(&request, now), Err(AuthError::Malformed(_))));
    }
}
