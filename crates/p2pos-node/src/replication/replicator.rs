//! Running the replicator: starting it with every enrolled peer from its saved cursors, keeping it
//! in step as peers are enrolled, removed or pinned by another process, telling it what arrived
//! here, and stopping it. [`NodeConnector`] gives it transports by the fallback policy.

use std::sync::Arc;

use async_trait::async_trait;
use p2pos_core::{BlobId, NodeId};
use p2pos_net::{PeerTransport, TransportError};
use p2pos_replication::{Connector, Replicator};

use crate::clock::lock;
use crate::error::ApiError;
use crate::replication::fallback::Target;
use crate::replication::local::NodeLocal;
use crate::replication::peers::PeerInfo;
use crate::state::AppState;
use crate::store;

impl AppState {
    /// This node as its peers see it.
    pub(crate) fn me(&self) -> PeerInfo {
        let config = &self.inner.config.replication;
        PeerInfo { node: self.node_id(), name: config.name.clone(), base_url: config.public_url.clone(), added_ms: 0 }
    }

    /// Pick up peers pinned by another process (`p2pos peer add` on this data dir) or removed.
    pub(crate) async fn reload_peers(&self) -> Result<(), ApiError> {
        let on_disk = self.db(|db| store::peers::all(db)).await?;
        let known = self.inner.replication.peers();
        for peer in &on_disk {
            if !known.iter().any(|k| k == peer) {
                self.inner.replication.insert(peer.clone());
                tracing::info!(peer = %peer.node.short(), name = %peer.name, "replicating with a new peer");
                // A node with an enrolled peer joins that peer's family: nobody can claim it.
                self.forget_setup_code();
                self.start_peer(peer.node).await?;
            }
        }
        for gone in known.iter().filter(|k| !on_disk.iter().any(|p| p.node == k.node)) {
            self.remove_peer(gone.node).await?;
        }
        Ok(())
    }

    /// Pin `peer` (enrolment) and start replicating with it. Re-enrolling updates name and URL.
    pub(crate) async fn add_peer(&self, peer: PeerInfo) -> Result<(), ApiError> {
        let row = peer.clone();
        self.db(move |db| store::peers::upsert(db, &row)).await?;
        let node = peer.node;
        self.inner.replication.insert(peer);
        self.forget_setup_code();
        self.start_peer(node).await
    }

    /// Forget `peer`: no more replication with it, and its requests are refused.
    pub(crate) async fn remove_peer(&self, peer: NodeId) -> Result<bool, ApiError> {
        let removed = self.db(move |db| store::peers::remove(db, &peer)).await?;
        self.inner.replication.remove(peer);
        Ok(removed)
    }

    async fn start_peer(&self, peer: NodeId) -> Result<(), ApiError> {
        let (cursors, holds) = self.db(move |db| store::peers::progress(db, &peer)).await?;
        if let Some(r) = lock(&self.inner.replication.replicator).as_ref() {
            r.add_peer(peer, cursors, holds);
        }
        Ok(())
    }

    /// Start the replicator (once): every enrolled peer, synced from its saved cursors.
    pub(crate) async fn start_replication(&self) -> Result<(), ApiError> {
        {
            let mut slot = lock(&self.inner.replication.replicator);
            if slot.is_some() {
                return Ok(());
            }
            let local = Arc::new(NodeLocal { state: self.clone() });
            let connector = Arc::new(NodeConnector { state: self.clone() });
            *slot = Some(Replicator::spawn(self.inner.config.replication.planner.clone(), local, connector));
        }
        for peer in self.inner.replication.peers() {
            self.start_peer(peer.node).await?;
        }
        Ok(())
    }

    pub(crate) async fn stop_replication(&self) {
        let replicator = lock(&self.inner.replication.replicator).take();
        if let Some(r) = replicator {
            r.shutdown().await;
        }
    }

    /// After a blob was stored here (upload or replication).
    pub(crate) fn blob_stored(&self, id: BlobId) {
        self.inner.replication.have(id);
    }

    /// After a record was accepted here.
    pub(crate) fn records_changed(&self) {
        self.inner.replication.changed();
    }
}

/// How the replicator reaches an enrolled peer: by the fallback policy.
pub(crate) struct NodeConnector {
    pub(crate) state: AppState,
}

#[async_trait]
impl Connector for NodeConnector {
    async fn connect(&self, peer: NodeId) -> Result<Arc<dyn PeerTransport>, TransportError> {
        let inner = &self.state.inner;
        let info = inner.replication.peer(&peer).ok_or_else(|| TransportError::unreachable("not an enrolled peer"))?;
        let target = Target { node: peer, name: &info.name, base_url: info.base_url.as_deref() };
        inner.replication.paths.connect(target, &inner.config.replication, &inner.node_key).await
    }
}
