//! The node's state: its data dir (database, blobs, node key), the vault folded from the record
//! log, the login challenge key and the one-time setup code. [`AppState::db`] and
//! [`AppState::write`] run `crate::store` functions off the async threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use family_vault::Vault;
use p2pos_core::{BlobId, NodeId};
use p2pos_storage::{BlobStore, FsBlobStore};
use rusqlite::Connection;

use crate::clock::{lock, now_ms};
use crate::error::ApiError;
use crate::replication::config::ReplicationConfig;
use crate::replication::peers::Replication;
use crate::store;

/// Everything a node is configured with. Defaults are documented on `p2pos node --help`.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where to listen. Default `127.0.0.1:7700`.
    pub listen: std::net::SocketAddr,
    /// The data dir: `p2pos.db`, `blobs/`, `node.key`.
    pub data_dir: PathBuf,
    /// The built web app (`apps/web/dist`). `None` serves the API only.
    pub web_dir: Option<PathBuf>,
    /// Session lifetime. Default 12 h.
    pub session_ttl: Duration,
    /// Sessions older than this get a fresh token on their next request. Default 1 h.
    pub session_rotate_after: Duration,
    /// Largest blob upload. Default 2 GiB.
    pub max_upload_bytes: u64,
    /// Origins (scheme://host:port) allowed to call the API from another origin. Default none.
    pub cors_origins: Vec<String>,
    /// Replication with the family's other nodes.
    pub replication: ReplicationConfig,
    /// How far ahead of this node's clock a record may be stamped. Clients' records beyond it are
    /// refused (`clock_ahead`); peers' are held until their time. Default 60 s.
    pub max_record_ahead: Duration,
    /// How far behind this node's clock a client's record may be stamped (`clock_behind`), so a
    /// removed member cannot backdate records past the window. Default 10 min.
    pub max_record_behind: Duration,
    /// The bearer token `/metrics` asks for. Default none: `/metrics` then answers only
    /// loopback clients that came through no proxy.
    pub metrics_token: Option<String>,
    /// This node joins an existing family by enrollment (`p2pos peer add`, or `p2pos up` for
    /// Pine): it never founds one, so it has no setup code and `/v1/setup` refuses it. Default
    /// false: a node without a family or peers waits to be claimed with its setup code.
    pub joining: bool,
}

impl NodeConfig {
    pub fn new(listen: std::net::SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            data_dir,
            web_dir: None,
            session_ttl: Duration::from_secs(12 * 3600),
            session_rotate_after: Duration::from_secs(3600),
            max_upload_bytes: 2 << 30,
            cors_origins: Vec::new(),
            replication: ReplicationConfig::default(),
            max_record_ahead: Duration::from_secs(60),
            max_record_behind: Duration::from_secs(600),
            metrics_token: None,
            joining: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error("data dir {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Db(#[from] p2pos_storage::db::DbError),
    #[error(transparent)]
    Blobs(#[from] p2pos_storage::BlobError),
    #[error("node key {path}: {why}")]
    NodeKey { path: PathBuf, why: String },
    #[error("listening on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("reading the record log: {0}")]
    Log(#[from] rusqlite::Error),
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) records_accepted: std::sync::atomic::AtomicU64,
    pub(crate) records_refused: std::sync::atomic::AtomicU64,
    pub(crate) blobs_stored: std::sync::atomic::AtomicU64,
    pub(crate) blob_bytes_stored: std::sync::atomic::AtomicU64,
    pub(crate) blobs_refused: std::sync::atomic::AtomicU64,
    pub(crate) logins: std::sync::atomic::AtomicU64,
    pub(crate) logins_refused: std::sync::atomic::AtomicU64,
    pub(crate) peer_requests: std::sync::atomic::AtomicU64,
    pub(crate) peer_requests_refused: std::sync::atomic::AtomicU64,
    pub(crate) peer_rpc_bytes_in: std::sync::atomic::AtomicU64,
    pub(crate) peer_rpc_bytes_out: std::sync::atomic::AtomicU64,
}

pub(crate) struct Inner {
    pub(crate) metrics: Metrics,
    pub(crate) config: NodeConfig,
    pub(crate) node_id: NodeId,
    pub(crate) node_key: ed25519_dalek::SigningKey,
    pub(crate) replication: Replication,
    db: Mutex<Connection>,
    pub(crate) blobs: Arc<dyn BlobStore>,
    /// Held while a blob is stored (its file, then its presence row) and while the release job
    /// deletes its file, so the two never interleave.
    pub(crate) blob_locks: BlobLocks,
    vault: RwLock<Vault>,
    /// Keys the MAC of login challenges (stateless; see `auth::challenge`). New at every start.
    pub(crate) login_key: [u8; 32],
    /// Nonces that logged a member in, until they expire: each works once.
    pub(crate) used_logins: Mutex<HashMap<[u8; 16], u64>>,
    setup_code: Mutex<Option<String>>,
    /// Open invitations and their join requests (in memory, `invites.rs`).
    pub(crate) invites: crate::invites::Invites,
    /// What changed in where the photos are, for `GET /v1/replication/changes`.
    pub(crate) placements: Mutex<crate::replication::journal::Journal>,
    /// Held while the journal is compared with the vault, so pages polling at once share one pass.
    pub(crate) refreshing: tokio::sync::Mutex<()>,
}

/// One lock per blob id, made while someone holds or waits for it.
#[derive(Default)]
pub(crate) struct BlobLocks(Mutex<HashMap<BlobId, Arc<tokio::sync::Mutex<()>>>>);

/// A held [`BlobLocks`] lock; released (and forgotten, if no one waits) when dropped.
pub(crate) struct BlobGuard<'a> {
    locks: &'a BlobLocks,
    id: BlobId,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl BlobLocks {
    /// Waits for, and takes, the lock of `id`.
    pub(crate) async fn lock(&self, id: BlobId) -> BlobGuard<'_> {
        let mutex = lock(&self.0).entry(id).or_default().clone();
        let guard = mutex.lock_owned().await;
        BlobGuard { locks: self, id, guard: Some(guard) }
    }
}

impl Drop for BlobGuard<'_> {
    fn drop(&mut self) {
        let mut locks = lock(&self.locks.0);
        drop(self.guard.take());
        // Only the map's own reference left: no one holds or waits for it.
        if locks.get(&self.id).is_some_and(|m| Arc::strong_count(m) == 1) {
            locks.remove(&self.id);
        }
    }
}

/// Shared state of the running node; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("node_id", &self.inner.node_id).finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens (creating) the data dir and replays the record log into the vault.
    pub async fn open(config: NodeConfig) -> Result<Self, NodeError> {
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| NodeError::DataDir { path: dir.clone(), source })?;
        let node_key = load_or_create_node_key(&dir.join("node.key"))?;
        let node_id = NodeId::from_verifying_key(&node_key.verifying_key());
        let blobs = FsBlobStore::open(&dir).await?;
        let db = p2pos_storage::db::open(&dir.join("p2pos.db"))?;
        let vault = load_vault(&db, config.max_record_ahead.as_millis() as u64)?;
        let replication = Replication::new(node_id, store::peers::all(&db)?);
        // A node that joins its family through an enrolled peer cannot be claimed by anyone, nor
        // can one started to join (no peer yet): neither gets a setup code.
        let setup_code =
            (vault.family().is_none() && replication.peers().is_empty() && !config.joining).then(new_setup_code);
        record_settings(&db, &config.replication)?;
        let inner = Inner {
            metrics: Metrics::default(),
            config,
            node_id,
            node_key,
            replication,
            db: Mutex::new(db),
            blobs: Arc::new(blobs),
            blob_locks: BlobLocks::default(),
            vault: RwLock::new(vault),
            login_key: rand::random(),
            used_logins: Mutex::new(HashMap::new()),
            setup_code: Mutex::new(setup_code),
            invites: crate::invites::Invites::default(),
            placements: Mutex::new(crate::replication::journal::Journal::new(rand::random())),
            refreshing: tokio::sync::Mutex::new(()),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// The one-time code that lets the first identity claim this node, while unclaimed.
    pub fn setup_code(&self) -> Option<String> {
        lock(&self.inner.setup_code).clone()
    }

    pub(crate) fn take_setup_code(&self, given: &str) -> bool {
        let mut code = lock(&self.inner.setup_code);
        let matches = code.as_deref().is_some_and(|c| constant_time_eq(c.as_bytes(), given.trim().as_bytes()));
        if matches {
            *code = None;
        }
        matches
    }

    /// The family arrived (by replication): the setup code no longer applies.
    pub(crate) fn forget_setup_code(&self) {
        *lock(&self.inner.setup_code) = None;
    }

    pub(crate) fn restore_setup_code(&self, code: String) {
        *lock(&self.inner.setup_code) = Some(code);
    }

    /// Waiting for its family through enrollment: none yet, and no setup code to claim it with.
    pub fn joining(&self) -> bool {
        self.vault().family().is_none() && (self.inner.config.joining || !self.inner.replication.peers().is_empty())
    }

    pub(crate) fn vault(&self) -> RwLockReadGuard<'_, Vault> {
        self.inner.vault.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn vault_mut(&self) -> RwLockWriteGuard<'_, Vault> {
        self.inner.vault.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the database off the async threads.
    pub(crate) async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&inner.db)))
            .await
            .map_err(ApiError::internal)?
            .map_err(Into::into)
    }

    /// Runs `f` with the vault (to change it) and the database, both locked, off the async
    /// threads: a record is judged, folded and appended to the log as one step, so the log's
    /// order is the order the vault saw. Lock order: the vault, then the database.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vault, &mut Connection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut vault = state.vault_mut();
            let mut db = lock(&state.inner.db);
            f(&mut vault, &mut db)
        })
        .await
        .map_err(ApiError::internal)?
    }
}

/// Folds the stored log: every record is kept, whatever the rules say of it today (a refused
/// record is judged again when what it needs arrives; a future one waits for its time).
pub(crate) fn load_vault(db: &Connection, max_ahead_ms: u64) -> rusqlite::Result<Vault> {
    let mut vault = Vault::new(max_ahead_ms);
    let mut verified = Vec::new();
    for (seq, record) in store::records::all(db)? {
        match record.verify() {
            Ok(v) => verified.push((seq, v)),
            Err(e) => tracing::warn!(seq, error = %e, "a stored record does not verify; skipped"),
        }
    }
    // The log is in arrival order, not fold order: keep them all, then fold once.
    let results = vault.insert_many(verified.iter().map(|(_, v)| v), now_ms());
    for ((seq, _), result) in verified.iter().zip(results) {
        if let Err(e) = result {
            tracing::warn!(seq, error = %e, "a stored record can never belong to this vault; skipped");
        }
    }
    Ok(vault)
}

/// Remember the name, hub and public URL this node runs with, for the enrolment commands.
fn record_settings(db: &Connection, config: &ReplicationConfig) -> rusqlite::Result<()> {
    store::settings::set(db, "name", Some(&config.name))?;
    store::settings::set(db, "hub", config.hub.as_deref())?;
    store::settings::set(db, "public_url", config.public_url.as_deref())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Ten characters of an unambiguous alphabet, grouped for reading: `ABCDE-FGHJK`.
fn new_setup_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let chars: String = (0..10).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// The node's Ed25519 key: 32 random bytes in `node.key` (mode 0600), created at first start.
pub(crate) fn load_or_create_node_key(path: &Path) -> Result<ed25519_dalek::SigningKey, NodeError> {
    let err = |why: String| NodeError::NodeKey { path: path.to_path_buf(), why };
    let seed: [u8; 32] = match std::fs::read(path) {
        Ok(bytes) => bytes.try_into().map_err(|b: Vec<u8>| err(format!("{} bytes, expected 32", b.len())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed: [u8; 32] = rand::random();
            write_private(path, &seed).map_err(|e| err(e.to_string()))?;
            seed
        }
        Err(e) => return Err(err(e.to_string())),
    };
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
