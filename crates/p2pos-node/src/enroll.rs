//! Enrolment: how two of a family's nodes come to trust each other (docs/PROTOCOL.md, "Enrolment").
//!
//! 1. An admin has node I issue a one-time token (`p2pos enroll`, or the Nodes page): the hub URL,
//!    the family id, I's node id and 16 random bytes, valid for 15 minutes. I keeps only a key
//!    derived from the secret. Text form: `P2POS-ENROLL-` + base32, small enough for a QR code.
//! 2. Node J (`p2pos peer add TOKEN`, or pasting it in J's web app) connects to the hub and signals
//!    I a `request`: J's node id, name and base URL, signed with J's node key and MACed with the
//!    token's key (proof of holding the token without showing it to the hub).
//! 3. I checks the MAC against its unused, unexpired tokens and J's signature, burns the token,
//!    pins J's key, and answers `accept` with its own id, name, base URL and family, signed with
//!    its key and MACed; J checks that the signer is the node the token names, and pins I.
//!
//! The hub sees ids and names but never the secret; a token works once; a forged or replayed
//! request finds no usable token.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signature, Signer, SigningKey};
use p2pos_core::NodeId;
use p2pos_net::hub::{HubClient, HubEvent, HubHandle};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::now_ms;
use crate::replication::peers::PeerInfo;
use crate::state::{AppState, NodeError};
use crate::store;

/// How long a token is valid. 15 minutes.
pub const TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

const PREFIX: &str = "P2POS-ENROLL-";
const VERSION: u8 = 1;
const KEY_CONTEXT: &str = "p2pos enroll v1 token key";
/// How far apart the two nodes' clocks may be for a request to count.
const MAX_SKEW_MS: u64 = 5 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollError {
    #[error("not an enrollment token: {0}")]
    BadToken(String),
    #[error("the enrollment token has expired; issue a new one with `p2pos enroll`")]
    Expired,
    #[error("this enrollment token was already used; issue a new one with `p2pos enroll`")]
    Used,
    #[error("no enrollment token of this node matches (wrong or forged token)")]
    UnknownToken,
    #[error("this node belongs to another family ({0}); a node serves one family")]
    OtherFamily(String),
    #[error("the issuing node refused: {0}")]
    Refused(String),
    #[error("the answer does not come from the node the token names: {0}")]
    BadAnswer(String),
    #[error("hub: {0}")]
    Hub(String),
    #[error("no answer from the issuing node within {0} s (is it running and connected to the hub?)")]
    Timeout(u64),
    #[error("database: {0}")]
    Db(String),
}

/// A one-time enrolment token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollToken {
    /// The hub both nodes use (`ws://…/v1/ws`).
    pub hub: String,
    /// The family the issuing node serves.
    pub family: String,
    /// The issuing node.
    pub node: NodeId,
    pub secret: [u8; 16],
    pub expires_ms: u64,
}

impl EnrollToken {
    /// `P2POS-ENROLL-` and base32 (upper case, so a QR code packs it in alphanumeric mode).
    pub fn encode(&self) -> String {
        let mut bytes = vec![VERSION];
        bytes.extend_from_slice(self.node.as_bytes());
        bytes.extend_from_slice(&self.secret);
        bytes.extend_from_slice(&self.expires_ms.to_be_bytes());
        for text in [&self.family, &self.hub] {
            bytes.push(text.len().min(255) as u8);
            bytes.extend_from_slice(&text.as_bytes()[..text.len().min(255)]);
        }
        format!("{PREFIX}{}", BASE32_NOPAD.encode(&bytes))
    }

    pub fn parse(text: &str) -> Result<Self, EnrollError> {
        let bad = |why: &str| EnrollError::BadToken(why.to_string());
        let text: String = text.split_whitespace().collect();
        let body = text
            .to_ascii_uppercase()
            .strip_prefix(PREFIX)
            .map(str::to_string)
            .ok_or_else(|| bad("it should start with P2POS-ENROLL-"))?;
        let bytes = BASE32_NOPAD.decode(body.as_bytes()).map_err(|_| bad("damaged (not base32)"))?;
        let mut rest = bytes.as_slice();
        let mut take = |n: usize| -> Result<&[u8], EnrollError> {
            if rest.len() < n {
                return Err(bad("too short"));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        if take(1)? != [VERSION] {
            return Err(bad("made by another version of p2pos"));
        }
        let node = NodeId::from_bytes(take(32)?.try_into().map_err(|_| bad("node id"))?)
            .map_err(|_| bad("the node id is not a valid key"))?;
        let secret: [u8; 16] = take(16)?.try_into().map_err(|_| bad("secret"))?;
        let expires_ms = u64::from_be_bytes(take(8)?.try_into().map_err(|_| bad("expiry"))?);
        let mut text = || -> Result<String, EnrollError> {
            let len = take(1)?[0] as usize;
            String::from_utf8(take(len)?.to_vec()).map_err(|_| bad("not UTF-8"))
        };
        let family = text()?;
        let hub = text()?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(Self { hub, family, node, secret, expires_ms })
    }

    fn key(&self) -> [u8; 32] {
        blake3::derive_key(KEY_CONTEXT, &self.secret)
    }
}

/// Issue a token from `node` (holding `db`) for `family` through `hub`, valid for [`TOKEN_TTL`].
pub fn issue(db: &Connection, node: NodeId, family: &str, hub: &str, now_ms: u64) -> Result<EnrollToken, EnrollError> {
    let token = EnrollToken {
        hub: hub.to_string(),
        family: family.to_string(),
        node,
        secret: rand::random(),
        expires_ms: now_ms + TOKEN_TTL.as_millis() as u64,
    };
    store::enroll_tokens::insert(db, &token.key(), now_ms, token.expires_ms)
        .map_err(|e| EnrollError::Db(e.to_string()))?;
    Ok(token)
}

/// What the two nodes say, inside hub `signal` payloads with `"p2pos": "enroll"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollMessage {
    pub p2pos: String,
    /// `request`, `accept` or `refused`.
    pub step: String,
    /// The sender's node id (absent in `refused`).
    #[serde(default)]
    pub node: Option<NodeId>,
    /// The receiver's node id.
    #[serde(default)]
    pub to: Option<NodeId>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub ts: u64,
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub sig: String,
    #[serde(default)]
    pub reason: String,
}

impl EnrollMessage {
    fn text(&self) -> String {
        let id = |n: &Option<NodeId>| n.map(|n| n.to_string()).unwrap_or_default();
        format!(
            "p2pos-enroll-v1|{}|{}|{}|{}|{}|{}|{}",
            self.step,
            id(&self.node),
            id(&self.to),
            self.name,
            self.base_url.as_deref().unwrap_or(""),
            self.family.as_deref().unwrap_or(""),
            self.ts
        )
    }

    fn sealed(mut self, key: &SigningKey, mac_key: &[u8; 32]) -> Self {
        let text = self.text();
        self.mac = B64.encode(blake3::keyed_hash(mac_key, text.as_bytes()).as_bytes());
        self.sig = B64.encode(key.sign(text.as_bytes()).to_bytes());
        self
    }

    fn mac_matches(&self, mac_key: &[u8; 32]) -> bool {
        let expected = blake3::keyed_hash(mac_key, self.text().as_bytes());
        // blake3::Hash compares in constant time.
        B64.decode(&self.mac).ok().and_then(|m| <[u8; 32]>::try_from(m).ok()).is_some_and(|m| expected == m)
    }

    fn signed_by(&self, node: &NodeId) -> bool {
        let Ok(key) = node.verifying_key() else { return false };
        let Some(sig) = B64.decode(&self.sig).ok().and_then(|s| <[u8; 64]>::try_from(s).ok()) else { return false };
        key.verify_strict(self.text().as_bytes(), &Signature::from_bytes(&sig)).is_ok()
    }

    fn refused(reason: &str) -> Value {
        json!({"p2pos": "enroll", "step": "refused", "reason": reason})
    }
}

/// The issuing side: check a `request` against this node's tokens. On success returns the new
/// peer and the `accept` to send back; the token is burnt in the same transaction.
pub fn answer(
    db: &mut Connection,
    key: &SigningKey,
    me: &PeerInfo,
    family: &str,
    request: &EnrollMessage,
    now_ms: u64,
) -> Result<(PeerInfo, Value), (EnrollError, Value)> {
    let fail = |e: EnrollError| {
        let reply = EnrollMessage::refused(&e.to_string());
        (e, reply)
    };
    let (Some(joiner), Some(to)) = (request.node, request.to) else {
        return Err(fail(EnrollError::BadAnswer("request without node ids".into())));
    };
    if request.step != "request" || to != me.node {
        return Err(fail(EnrollError::BadAnswer("not a request for this node".into())));
    }
    if now_ms.abs_diff(request.ts) > MAX_SKEW_MS {
        return Err(fail(EnrollError::BadAnswer("the request's clock is too far from ours".into())));
    }
    if !request.signed_by(&joiner) {
        return Err(fail(EnrollError::BadAnswer("the request is not signed by the node it names".into())));
    }
    let tx = db.transaction().map_err(|e| fail(EnrollError::Db(e.to_string())))?;
    let tokens = store::enroll_tokens::all(&tx).map_err(|e| fail(EnrollError::Db(e.to_string())))?;
    let found =
        tokens.into_iter().find(|t| <[u8; 32]>::try_from(t.key.as_slice()).is_ok_and(|k| request.mac_matches(&k)));
    let Some(found) = found else { return Err(fail(EnrollError::UnknownToken)) };
    if found.used_ms.is_some() {
        return Err(fail(EnrollError::Used));
    }
    if found.expires_ms < now_ms {
        return Err(fail(EnrollError::Expired));
    }
    let mac_key = found.key;
    store::enroll_tokens::mark_used(&tx, &mac_key, now_ms, &joiner.to_string())
        .map_err(|e| fail(EnrollError::Db(e.to_string())))?;
    tx.commit().map_err(|e| fail(EnrollError::Db(e.to_string())))?;
    let mac_key: [u8; 32] = mac_key.as_slice().try_into().unwrap_or([0; 32]);
    let accept = EnrollMessage {
        p2pos: "enroll".into(),
        step: "accept".into(),
        node: Some(me.node),
        to: Some(joiner),
        name: me.name.clone(),
        base_url: me.base_url.clone(),
        family: Some(family.to_string()),
        ts: now_ms,
        mac: String::new(),
        sig: String::new(),
        reason: String::new(),
    }
    .sealed(key, &mac_key);
    let peer =
        PeerInfo { node: joiner, name: request.name.clone(), base_url: request.base_url.clone(), added_ms: now_ms };
    Ok((peer, serde_json::to_value(accept).unwrap_or(Value::Null)))
}

/// The joining side: complete enrolment with the node the token names, through its hub (as an
/// anonymous hub peer). Returns the issuing node, to be pinned by the caller.
pub async fn join(
    token: &EnrollToken,
    key: &SigningKey,
    name: &str,
    base_url: Option<&str>,
    timeout: Duration,
) -> Result<(PeerInfo, String), EnrollError> {
    if token.expires_ms < now_ms() {
        return Err(EnrollError::Expired);
    }
    let me = NodeId::from_verifying_key(&key.verifying_key());
    let request = EnrollMessage {
        p2pos: "enroll".into(),
        step: "request".into(),
        node: Some(me),
        to: Some(token.node),
        name: name.to_string(),
        base_url: base_url.map(str::to_string),
        family: None,
        ts: now_ms(),
        mac: String::new(),
        sig: String::new(),
        reason: String::new(),
    }
    .sealed(key, &token.key());
    let (hub, mut events) = HubClient::spawn(token.hub.clone(), None, json!({"name": name}));
    let result = tokio::time::timeout(timeout, async {
        wait_connected(&mut events).await?;
        let payload = serde_json::to_value(&request).map_err(|e| EnrollError::Hub(e.to_string()))?;
        hub.signal(&token.node.to_string(), payload).await.map_err(|e| EnrollError::Hub(e.to_string()))?;
        loop {
            let Some(event) = events.recv().await else { return Err(EnrollError::Hub("connection closed".into())) };
            let HubEvent::Signal { payload, .. } = event else { continue };
            let Ok(reply) = serde_json::from_value::<EnrollMessage>(payload) else { continue };
            if reply.p2pos != "enroll" {
                continue;
            }
            return check_accept(token, me, &reply);
        }
    })
    .await;
    hub.shutdown();
    result.unwrap_or(Err(EnrollError::Timeout(timeout.as_secs())))
}

async fn wait_connected(events: &mut tokio::sync::mpsc::Receiver<HubEvent>) -> Result<(), EnrollError> {
    loop {
        match events.recv().await {
            Some(HubEvent::Connected) => return Ok(()),
            Some(_) => {}
            None => return Err(EnrollError::Hub("could not connect".into())),
        }
    }
}

fn check_accept(token: &EnrollToken, me: NodeId, reply: &EnrollMessage) -> Result<(PeerInfo, String), EnrollError> {
    match reply.step.as_str() {
        "refused" => return Err(EnrollError::Refused(reply.reason.clone())),
        "accept" => {}
        other => return Err(EnrollError::BadAnswer(format!("unexpected step {other}"))),
    }
    if reply.node != Some(token.node) || reply.to != Some(me) {
        return Err(EnrollError::BadAnswer("the answer names other nodes".into()));
    }
    if !reply.signed_by(&token.node) || !reply.mac_matches(&token.key()) {
        return Err(EnrollError::BadAnswer("signature or token proof does not check".into()));
    }
    let family = reply.family.clone().unwrap_or_default();
    if family != token.family {
        return Err(EnrollError::BadAnswer("the family differs from the token's".into()));
    }
    Ok((
        PeerInfo { node: token.node, name: reply.name.clone(), base_url: reply.base_url.clone(), added_ms: now_ms() },
        family,
    ))
}

/// Pin `peer` in the database at `db` (the CLI path; a running node picks it up within seconds).
pub fn pin(db: &Connection, peer: &PeerInfo) -> Result<(), EnrollError> {
    store::peers::upsert(db, peer).map_err(|e| EnrollError::Db(e.to_string()))
}

/// The issuing side, in a running node: answer an enrolment signal from hub peer `from`.
pub(crate) async fn on_signal(state: &AppState, hub: &HubHandle, from: &str, payload: Value) {
    let Ok(request) = serde_json::from_value::<EnrollMessage>(payload) else {
        tracing::info!("ignored a malformed enrolment message");
        return;
    };
    if request.step != "request" {
        return;
    }
    let family = state.vault().family().map(|f| f.to_string());
    let Some(family) = family else {
        let _ = hub.signal(from, EnrollMessage::refused("the issuing node has no family yet")).await;
        return;
    };
    let me = state.me();
    let key = state.inner.node_key.clone();
    let now = now_ms();
    let result = state.db(move |db| Ok(answer(db, &key, &me, &family, &request, now))).await;
    let reply = match result {
        Ok(Ok((peer, accept))) => {
            if let Err(e) = hub.signal(from, accept).await {
                // The joiner never heard back: give the token back and pin nothing.
                tracing::warn!(error = %e, "could not answer an enrolment request; the token stays usable");
                let joiner = peer.node.to_string();
                let _ = state.db(move |db| store::enroll_tokens::give_back(db, &joiner)).await;
                return;
            }
            tracing::info!(peer = %peer.node.short(), name = %peer.name, "enrolled a peer node");
            if let Err(e) = state.add_peer(peer).await {
                tracing::error!(error = %e, "could not pin the enrolled peer");
            }
            return;
        }
        Ok(Err((e, refusal))) => {
            tracing::info!(error = %e, "refused an enrolment request");
            refusal
        }
        Err(e) => {
            tracing::error!(error = %e, "enrolment failed");
            return;
        }
    };
    if let Err(e) = hub.signal(from, reply).await {
        tracing::warn!(error = %e, "could not answer an enrolment request");
    }
}

/// A node's data dir opened for the enrolment commands, beside a node that may be running: the
/// database and the node key only (the blob store is left alone).
#[derive(Debug)]
pub struct DataDir {
    pub db: Connection,
    pub key: SigningKey,
}

impl DataDir {
    pub fn open(dir: &std::path::Path) -> Result<Self, NodeError> {
        std::fs::create_dir_all(dir).map_err(|source| NodeError::DataDir { path: dir.to_path_buf(), source })?;
        let key = crate::state::load_or_create_node_key(&dir.join("node.key"))?;
        let db = p2pos_storage::db::open(&dir.join("p2pos.db"))?;
        Ok(Self { db, key })
    }

    pub fn node_id(&self) -> NodeId {
        NodeId::from_verifying_key(&self.key.verifying_key())
    }

    /// The family this node serves, from its record log.
    pub fn family(&self) -> Result<Option<String>, NodeError> {
        let vault = crate::state::load_vault(&self.db, p2pos_core::hlc::DEFAULT_MAX_DRIFT_MS)?;
        Ok(vault.family().map(|f| f.to_string()))
    }

    /// A setting the running node recorded at its last start (`name`, `hub`, `public_url`).
    pub fn setting(&self, key: &str) -> Result<Option<String>, NodeError> {
        Ok(store::settings::get(&self.db, key)?)
    }

    pub fn peers(&self) -> Result<Vec<PeerInfo>, NodeError> {
        Ok(store::peers::all(&self.db)?)
    }

    /// Forget a peer; returns whether it was enrolled.
    pub fn remove_peer(&self, node: &NodeId) -> Result<bool, NodeError> {
        Ok(store::peers::remove(&self.db, node)?)
    }
}
