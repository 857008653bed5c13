//! The peer registry: the enrolled peers in memory (the database holds them across restarts, see
//! `store::peers`), the replay guard their signed requests pass, the running replicator and the
//! paths to them. [`Replication`] is owned by the node's state; `replicator.rs` keeps it in step
//! with the database and the replicator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use p2pos_core::{BlobId, NodeId};
use p2pos_net::auth::ReplayGuard;
use p2pos_replication::Replicator;
use serde::Serialize;

use crate::clock::lock;
use crate::replication::fallback::Paths;

/// An enrolled peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PeerInfo {
    #[schema(value_type = String)]
    pub node: NodeId,
    pub name: String,
    pub base_url: Option<String>,
    pub added_ms: u64,
}

/// The node's replication state: peers, the replay guard, the running replicator, the paths.
pub(crate) struct Replication {
    peers: RwLock<HashMap<NodeId, PeerInfo>>,
    pub(crate) guard: Arc<Mutex<ReplayGuard>>,
    pub(crate) replicator: Mutex<Option<Replicator>>,
    pub(crate) paths: Paths,
}

impl Replication {
    /// `me` is this node (the replay guard refuses requests not addressed to it).
    pub(crate) fn new(me: NodeId, peers: Vec<PeerInfo>) -> Self {
        Self {
            peers: RwLock::new(peers.into_iter().map(|p| (p.node, p)).collect()),
            guard: Arc::new(Mutex::new(ReplayGuard::new(me))),
            replicator: Mutex::new(None),
            paths: Paths::default(),
        }
    }

    pub(crate) fn peer(&self, node: &NodeId) -> Option<PeerInfo> {
        self.peers.read().unwrap_or_else(|p| p.into_inner()).get(node).cloned()
    }

    pub(crate) fn is_peer(&self, node: &NodeId) -> bool {
        self.peers.read().unwrap_or_else(|p| p.into_inner()).contains_key(node)
    }

    /// Every peer, by name then enrolment time.
    pub(crate) fn peers(&self) -> Vec<PeerInfo> {
        let mut all: Vec<_> = self.peers.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name).then(a.added_ms.cmp(&b.added_ms)));
        all
    }

    /// Adds or updates `peer` (a new URL needs a new HTTP transport).
    pub(crate) fn insert(&self, peer: PeerInfo) {
        let node = peer.node;
        self.peers.write().unwrap_or_else(|p| p.into_inner()).insert(node, peer);
        self.paths.forget(&node);
    }

    /// Forgets `peer`, and stops replicating with it.
    pub(crate) fn remove(&self, peer: NodeId) {
        self.peers.write().unwrap_or_else(|p| p.into_inner()).remove(&peer);
        self.paths.forget(&peer);
        if let Some(r) = lock(&self.replicator).as_ref() {
            r.remove_peer(peer);
        }
    }

    /// Tell the replicator that something changed here (a record or blob arrived).
    pub(crate) fn changed(&self) {
        if let Some(r) = lock(&self.replicator).as_ref() {
            r.changed();
        }
    }

    pub(crate) fn have(&self, blob: BlobId) {
        if let Some(r) = lock(&self.replicator).as_ref() {
            r.have(blob);
        }
    }
}
