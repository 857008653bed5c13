//! Replication between a family's nodes (DESIGN.md §5).
//!
//! [`planner::Planner`] decides (sans-IO); [`Replicator`] is the actor that drives it: it asks a
//! [`Connector`] for a [`PeerTransport`] to each peer, reads the peer's record log since our cursor
//! (cost grows with the changes, not with the vault), then its blob log, hands records to the
//! [`Local`] store (which verifies and applies them: last writer wins by (HLC, signer) is the
//! vault's rule), and fetches the blobs this node lacks, resuming a broken transfer from the bytes
//! already received. The node implements [`Local`] and [`Connector`]; nothing here knows about
//! albums, HTTP or WebRTC.

pub mod planner;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use p2pos_core::{BlobId, NodeId};
use p2pos_peer::wire::MAX_PAGE;
use p2pos_peer::{
    BlobEntry, ByteStream, LogEntry, PathKind, PeerRequest, PeerResponse, PeerTransport, ProtocolViolation,
    TransportError, TransportErrorKind,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

pub use planner::{Action, BlobStatus, Cursors, LocalState, PeerStatus, Planner, PlannerConfig, SyncReport};

/// How many times one fetch resumes a broken transfer before it counts as a failed attempt.
const RESUMES_PER_ATTEMPT: u32 = 3;

/// Why the node's store could not do what replication asked. The sync or fetch that met it is
/// retried as the planner's backoff says; its kind reaches the status.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The node's own storage failed (database, disk). Nothing is wrong with the peer.
    #[error("{0}")]
    Storage(String),
    /// The store refused the bytes: they do not hash to the blob's id, or exceed what this node
    /// accepts. Nothing of them was kept.
    #[error("{0}")]
    Refused(String),
    /// The bytes stopped coming: the transfer broke while the store was reading it.
    #[error(transparent)]
    Transfer(TransportError),
}

/// What a [`LocalError`] is, for a status that switches on it (the text is for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LocalErrorKind {
    Storage,
    Refused,
    Transfer,
}

impl LocalError {
    pub fn kind(&self) -> LocalErrorKind {
        match self {
            LocalError::Storage(_) => LocalErrorKind::Storage,
            LocalError::Refused(_) => LocalErrorKind::Refused,
            LocalError::Transfer(_) => LocalErrorKind::Transfer,
        }
    }
}

/// Why a sync or a blob fetch failed: the peer could not be reached or answered wrongly, or this
/// node's store failed. `Clone`, so the planner keeps the last one for the status.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Local(LocalError),
}

/// What a [`SyncError`] is: the transport's kind or the store's. The node's status reports it and
/// the web app switches on it; the text is for people and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyncErrorKind {
    Transport(TransportErrorKind),
    Local(LocalErrorKind),
}

impl SyncError {
    pub fn kind(&self) -> SyncErrorKind {
        match self {
            SyncError::Transport(e) => SyncErrorKind::Transport(e.kind()),
            SyncError::Local(e) => SyncErrorKind::Local(e.kind()),
        }
    }
}

/// Two errors are the same when they are of the same kind and say the same (a transport error's
/// cause is shared, not compared), so a status can be compared with the one before it.
impl PartialEq for SyncError {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.to_string() == other.to_string()
    }
}

impl Eq for SyncError {}

impl From<LocalError> for SyncError {
    /// A transfer that broke under the store is the transport's failure, not the store's.
    fn from(e: LocalError) -> Self {
        match e {
            LocalError::Transfer(t) => SyncError::Transport(t),
            other => SyncError::Local(other),
        }
    }
}

/// What replication needs from the node: its stores and its vault's rules.
#[async_trait]
pub trait Local: Send + Sync + 'static {
    /// Verify, store and apply records read from `from`'s log (in its order); returns how many
    /// were new. Records already held are skipped, and so are records the rules refuse (forged,
    /// not allowed): they must not block the rest. An error (storage failing) stops the sync, which
    /// is retried from the same cursor.
    async fn apply_records(&self, from: NodeId, entries: &[LogEntry]) -> Result<usize, LocalError>;
    /// Remember that `peer` holds these blobs (for the status, and across restarts).
    async fn peer_holds(&self, peer: NodeId, entries: &[BlobEntry]) -> Result<(), LocalError>;
    /// Save how far this node has read `peer`'s logs.
    async fn save_cursors(&self, peer: NodeId, cursors: Cursors) -> Result<(), LocalError>;
    /// Blobs the vault references, with their sizes and whether this node holds each.
    async fn wanted(&self) -> Result<Vec<(BlobId, u64, bool)>, LocalError>;
    /// Store a blob from `body`; fails (keeping nothing) unless the bytes hash to `id`. When
    /// `body` fails, the error is [`LocalError::Transfer`] with the stream's error.
    async fn store_blob(&self, id: BlobId, size: u64, body: ByteStream) -> Result<(), LocalError>;
}

/// How replication reaches a peer: WebRTC when it can, HTTP when it cannot (the node decides).
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    async fn connect(&self, peer: NodeId) -> Result<Arc<dyn PeerTransport>, TransportError>;
}

enum Command {
    AddPeer(NodeId, Cursors, Vec<BlobId>),
    RemovePeer(NodeId),
    /// Re-read the wanted blobs from `Local` and sync every peer soon.
    Changed,
    /// This node stored a blob.
    Have(BlobId),
    Status(oneshot::Sender<Snapshot>),
}

/// Replication status at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub peers: Vec<PeerStatus>,
    pub blobs: HashMap<BlobId, BlobStatus>,
    /// When the snapshot was taken (to turn the `Instant`s into ages).
    pub at: Instant,
}

/// The replication actor. Dropping it (or [`Replicator::shutdown`]) stops it and its transfers.
#[derive(Debug)]
pub struct Replicator {
    commands: mpsc::UnboundedSender<Command>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Replicator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

enum Done {
    Sync(NodeId, Result<SyncReport, SyncError>, usize),
    Fetch(BlobId, NodeId, Result<(), SyncError>),
}

impl Replicator {
    pub fn spawn(config: PlannerConfig, local: Arc<dyn Local>, connector: Arc<dyn Connector>) -> Self {
        let (commands, rx) = mpsc::unbounded_channel();
        let planner = Planner::new(config, rand::random());
        let task = tokio::spawn(run(planner, local, connector, rx));
        Self { commands, task: Some(task) }
    }

    pub fn add_peer(&self, peer: NodeId, cursors: Cursors, holds: Vec<BlobId>) {
        let _ = self.commands.send(Command::AddPeer(peer, cursors, holds));
    }

    pub fn remove_peer(&self, peer: NodeId) {
        let _ = self.commands.send(Command::RemovePeer(peer));
    }

    /// Records or blobs changed here: re-read what the vault wants and tell peers' syncs to run.
    pub fn changed(&self) {
        let _ = self.commands.send(Command::Changed);
    }

    pub fn have(&self, blob: BlobId) {
        let _ = self.commands.send(Command::Have(blob));
    }

    pub async fn status(&self) -> Option<Snapshot> {
        self.status_request().await
    }

    /// Ask for a snapshot now; the future does not borrow the replicator.
    pub fn status_request(&self) -> impl Future<Output = Option<Snapshot>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self.commands.send(Command::Status(tx)).is_ok();
        async move { if sent { rx.await.ok() } else { None } }
    }

    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

async fn run(
    mut planner: Planner,
    local: Arc<dyn Local>,
    connector: Arc<dyn Connector>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut jobs: JoinSet<Done> = JoinSet::new();
    // The first syncs start before the (vault-sized) list of wanted blobs is read, so a restarted
    // node's catch-up does not wait for it.
    let mut wanted_read = false;
    loop {
        let now = Instant::now();
        for action in planner.poll(now) {
            let (local, connector) = (local.clone(), connector.clone());
            match action {
                Action::Sync { peer, cursors } => {
                    jobs.spawn(async move {
                        let result = sync(&*connector, &*local, peer, cursors).await;
                        let applied = result.as_ref().map(|(_, n)| *n).unwrap_or(0);
                        Done::Sync(peer, result.map(|(r, _)| r), applied)
                    });
                }
                Action::Fetch { blob, size, peer } => {
                    jobs.spawn(
                        async move { Done::Fetch(blob, peer, fetch(connector, &*local, peer, blob, size).await) },
                    );
                }
            }
        }
        if !wanted_read {
            wanted_read = true;
            refresh_wanted(&mut planner, local.as_ref()).await;
            continue;
        }
        let wake = planner.next_wakeup().map(tokio::time::Instant::from_std);
        tokio::select! {
            command = commands.recv() => match command {
                None => break,
                Some(Command::AddPeer(peer, cursors, holds)) => planner.add_peer(peer, cursors, holds, Instant::now()),
                Some(Command::RemovePeer(peer)) => planner.remove_peer(&peer),
                Some(Command::Changed) => {
                    // Bursts (an album upload) are read once: the refresh waits for the loop's top.
                    wanted_read = false;
                    planner.poke(None, Instant::now());
                }
                Some(Command::Have(blob)) => planner.have(blob),
                Some(Command::Status(reply)) => {
                    let blobs = planner_blobs(&planner, local.as_ref()).await;
                    let _ = reply.send(Snapshot { peers: planner.peer_status(), blobs, at: Instant::now() });
                }
            },
            Some(done) = jobs.join_next(), if !jobs.is_empty() => match done {
                Ok(Done::Sync(peer, result, applied)) => {
                    if let Err(e) = &result {
                        tracing::debug!(peer = %peer.short(), error = %e, "sync failed");
                    }
                    planner.sync_done(&peer, result, Instant::now());
                    if applied > 0 {
                        refresh_wanted(&mut planner, local.as_ref()).await;
                    }
                }
                Ok(Done::Fetch(blob, peer, result)) => {
                    if let Err(e) = &result {
                        tracing::info!(%blob, peer = %peer.short(), error = %e, "blob fetch failed");
                    }
                    planner.fetch_done(&blob, &peer, result, Instant::now());
                }
                Err(e) => tracing::error!(error = %e, "a replication job panicked"),
            },
            () = sleep_until(wake) => {}
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn planner_blobs(planner: &Planner, local: &dyn Local) -> HashMap<BlobId, BlobStatus> {
    let wanted = local.wanted().await.unwrap_or_default();
    wanted.iter().filter_map(|(id, _, _)| planner.blob_status(id).map(|s| (*id, s))).collect()
}

async fn refresh_wanted(planner: &mut Planner, local: &dyn Local) {
    match local.wanted().await {
        Ok(list) => {
            for (id, size, held) in list {
                planner.want(id, size, held);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not list the blobs the vault wants"),
    }
}

/// Read `peer`'s record log then its blob log from `cursors`, a page at a time. Returns the report
/// and how many records were newly applied.
async fn sync(
    connector: &dyn Connector,
    local: &dyn Local,
    peer: NodeId,
    mut cursors: Cursors,
) -> Result<(SyncReport, usize), SyncError> {
    let transport = connector.connect(peer).await?;
    let mut applied = 0;
    let mut backlog = 0;
    // A bounded number of pages per sync keeps one busy peer from starving the others; the
    // backlog makes the planner sync again at once.
    for _ in 0..10 {
        let reply = transport.call(PeerRequest::Records { since: cursors.records, limit: MAX_PAGE }).await?;
        let PeerResponse::Records { records, head } = reply else {
            return Err(TransportError::protocol(ProtocolViolation::Unexpected(
                "the peer answered records with something else",
            ))
            .into());
        };
        if let Some(last) = records.last() {
            applied += local.apply_records(peer, &records).await?;
            cursors.records = last.seq;
            local.save_cursors(peer, cursors).await?;
        }
        backlog = head.saturating_sub(cursors.records);
        if records.is_empty() || backlog == 0 {
            break;
        }
    }
    let mut peer_holds = Vec::new();
    for _ in 0..10 {
        let reply = transport.call(PeerRequest::Blobs { since: cursors.blobs, limit: MAX_PAGE }).await?;
        let PeerResponse::Blobs { blobs, head } = reply else {
            return Err(TransportError::protocol(ProtocolViolation::Unexpected(
                "the peer answered blobs with something else",
            ))
            .into());
        };
        if let Some(last) = blobs.last() {
            local.peer_holds(peer, &blobs).await?;
            cursors.blobs = last.seq;
            local.save_cursors(peer, cursors).await?;
            peer_holds.extend(blobs.iter().map(|b| b.id));
        }
        if blobs.is_empty() || head <= cursors.blobs {
            break;
        }
        backlog = backlog.max(1);
    }
    Ok((SyncReport { cursors, peer_holds, backlog, path: transport.path() }, applied))
}

/// Fetch `blob` from `peer` into the local store; a transfer that breaks part-way continues from
/// the bytes already received (on a fresh connection if need be).
async fn fetch(
    connector: Arc<dyn Connector>,
    local: &dyn Local,
    peer: NodeId,
    blob: BlobId,
    declared: u64,
) -> Result<(), SyncError> {
    let transport = connector.connect(peer).await?;
    let first = transport.get_blob(blob, 0).await?;
    // The bytes are proven by their BLAKE3 (the blob's id) on arrival, not by the size a record
    // declares: a member's lying record must not stop a blob from replicating.
    let size = first.size;
    if size != declared {
        tracing::debug!(%blob, size, declared, "a record declares another size than the blob has");
    }
    Ok(local.store_blob(blob, size, resuming(first.stream, connector, peer, blob, size)).await?)
}

/// A blob stream that reconnects and continues from the last byte received when the transfer
/// breaks, at most [`RESUMES_PER_ATTEMPT`] times per fetch.
fn resuming(first: ByteStream, connector: Arc<dyn Connector>, peer: NodeId, blob: BlobId, size: u64) -> ByteStream {
    struct State {
        current: ByteStream,
        connector: Arc<dyn Connector>,
        peer: NodeId,
        blob: BlobId,
        size: u64,
        received: u64,
        resumes: u32,
        done: bool,
    }
    let state = State { current: first, connector, peer, blob, size, received: 0, resumes: 0, done: false };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            let failure = match s.current.next().await {
                Some(Ok(chunk)) => {
                    s.received += chunk.len() as u64;
                    return Some((Ok(chunk), s));
                }
                None if s.received >= s.size => return None,
                None => TransportError::broken("the transfer ended early"),
                Some(Err(e)) => e,
            };
            if s.resumes >= RESUMES_PER_ATTEMPT {
                s.done = true;
                return Some((Err(failure), s));
            }
            s.resumes += 1;
            tracing::info!(blob = %s.blob, offset = s.received, error = %failure, "blob transfer broke; resuming");
            let resumed = match s.connector.connect(s.peer).await {
                Ok(transport) => transport.get_blob(s.blob, s.received).await,
                Err(e) => Err(e),
            };
            match resumed {
                Ok(body) if body.offset == s.received => s.current = body.stream,
                Ok(_) => {
                    s.done = true;
                    let error =
                        TransportError::protocol(ProtocolViolation::Unexpected("the peer resumed at another offset"));
                    return Some((Err(error), s));
                }
                Err(e) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
            }
        }
    }))
}

/// Turn an `Instant` in a snapshot into an age.
pub fn age(snapshot: &Snapshot, at: Option<Instant>) -> Option<Duration> {
    at.map(|t| snapshot.at.saturating_duration_since(t))
}

/// The path a peer is reached by, for the status.
pub fn path_name(path: Option<PathKind>) -> &'static str {
    path.map_or("none", PathKind::as_str)
}
