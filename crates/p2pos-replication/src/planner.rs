//! The sans-IO replication planner: given what this node knows (its peers, how far it has read
//! their logs, which blobs the vault references, which it holds, what each peer holds) and the
//! time, it says what to do next — sync a peer's logs, fetch a blob from a peer — and when to wake
//! up. It never touches a socket, a file or a clock, so every rule is tested with virtual time.
//!
//! Rules:
//! - Each peer is synced every `sync_interval` (records since our cursor, then its blob log since
//!   our cursor); a failed sync backs off exponentially with jitter and marks the peer offline.
//! - Every blob the vault references and this node lacks is fetched from a peer known to hold it,
//!   at most `max_fetches` at a time (and `max_fetches_per_peer` per peer). A failed fetch retries
//!   with exponential backoff and jitter; after `max_attempts` it is *failed* (with the last error
//!   and attempt time) and requeued after `failed_retry_after`.
//! - A restarted node starts from its saved cursors and catches up on its own.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use p2pos_core::{BlobId, NodeId};
use p2pos_peer::PathKind;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::SyncError;

/// Timing and concurrency of replication. Defaults are documented on each field.
#[derive(Debug, Clone)]
pub struct PlannerConfig {
    /// How often each peer is asked for news when nothing prompts it. Default 2 s.
    pub sync_interval: Duration,
    /// First retry delay after a failure (doubled per failure, with jitter). Default 1 s.
    pub retry_base: Duration,
    /// Longest retry delay. Default 60 s.
    pub retry_max: Duration,
    /// Attempts before a blob fetch counts as failed. Default 5.
    pub max_attempts: u32,
    /// When a failed fetch is tried again (`P2POS_REP_FAILED_RETRY_AFTER_SECS`). Default 120 s.
    pub failed_retry_after: Duration,
    /// Blob fetches in flight, all peers together. Default 4.
    pub max_fetches: usize,
    /// Blob fetches in flight from one peer. Default 4.
    pub max_fetches_per_peer: usize,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self {
            sync_interval: Duration::from_secs(2),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            max_attempts: 5,
            failed_retry_after: Duration::from_secs(120),
            max_fetches: 4,
            max_fetches_per_peer: 4,
        }
    }
}

/// How far this node has read a peer's two logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursors {
    pub records: u64,
    pub blobs: u64,
}

/// What the planner asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Read the peer's record log after `cursors.records`, then its blob log after `cursors.blobs`.
    Sync { peer: NodeId, cursors: Cursors },
    /// Fetch a blob from a peer that holds it.
    Fetch { blob: BlobId, size: u64, peer: NodeId },
}

/// The result of a successful sync.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// The cursors after applying what was read.
    pub cursors: Cursors,
    /// Blobs the peer reported holding (new entries of its blob log).
    pub peer_holds: Vec<BlobId>,
    /// Records the peer has that we have not read yet (0 when caught up).
    pub backlog: u64,
    /// How the peer was reached.
    pub path: Option<PathKind>,
}

#[derive(Debug)]
struct Peer {
    cursors: Cursors,
    holds: HashSet<BlobId>,
    next_sync: Instant,
    failures: u32,
    syncing: bool,
    online: bool,
    path: Option<PathKind>,
    last_sync: Option<Instant>,
    last_error: Option<SyncError>,
    backlog: u64,
    fetching: usize,
}

/// Where a blob this node wants stands, locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalState {
    /// Stored here and verified.
    Ok,
    /// Not here yet: waiting for a peer that holds it, or for its turn.
    Pending,
    /// Being fetched from `peer`.
    Fetching { peer: NodeId },
    /// Failed `attempts` times; retried after `failed_retry_after`.
    Failed { error: SyncError, attempts: u32 },
}

#[derive(Debug)]
struct Blob {
    size: u64,
    local: bool,
    attempts: u32,
    next_at: Option<Instant>,
    in_flight: Option<NodeId>,
    failed: bool,
    last_error: Option<SyncError>,
    last_attempt: Option<Instant>,
}

/// A peer as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub peer: NodeId,
    pub online: bool,
    pub path: Option<PathKind>,
    pub last_sync: Option<Instant>,
    pub last_error: Option<SyncError>,
    /// Records the peer has that this node has not read, as of the last sync.
    pub backlog: u64,
    /// Blobs this node wants that the peer does not hold (yet).
    pub blobs_missing_there: usize,
    pub cursors: Cursors,
}

/// One blob as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobStatus {
    pub blob: BlobId,
    pub local: LocalState,
    pub last_attempt: Option<Instant>,
    /// Peers known to hold it.
    pub held_by: Vec<NodeId>,
}

/// The planner. See the module docs for its rules.
#[derive(Debug)]
pub struct Planner {
    config: PlannerConfig,
    peers: BTreeMap<NodeId, Peer>,
    blobs: BTreeMap<BlobId, Blob>,
    fetching: usize,
    rng: SmallRng,
}

impl Planner {
    /// `seed` makes the jitter reproducible in tests; use a random one in production.
    pub fn new(config: PlannerConfig, seed: u64) -> Self {
        Self { config, peers: BTreeMap::new(), blobs: BTreeMap::new(), fetching: 0, rng: SmallRng::seed_from_u64(seed) }
    }

    pub fn config(&self) -> &PlannerConfig {
        &self.config
    }

    /// Start replicating with `peer` from saved `cursors`, knowing it holds `holds`.
    pub fn add_peer(&mut self, peer: NodeId, cursors: Cursors, holds: impl IntoIterator<Item = BlobId>, now: Instant) {
        let entry = self.peers.entry(peer).or_insert_with(|| Peer {
            cursors,
            holds: HashSet::new(),
            next_sync: now,
            failures: 0,
            syncing: false,
            online: false,
            path: None,
            last_sync: None,
            last_error: None,
            backlog: 0,
            fetching: 0,
        });
        entry.holds.extend(holds);
    }

    pub fn remove_peer(&mut self, peer: &NodeId) {
        self.peers.remove(peer);
        // Fetches in flight from it finish (or fail) through `fetch_done`, which tolerates this.
    }

    pub fn peers(&self) -> impl Iterator<Item = &NodeId> {
        self.peers.keys()
    }

    /// The vault references `blob` of `size` bytes; `local` says whether this node holds it.
    pub fn want(&mut self, blob: BlobId, size: u64, local: bool) {
        let entry = self.blobs.entry(blob).or_insert(Blob {
            size,
            local,
            attempts: 0,
            next_at: None,
            in_flight: None,
            failed: false,
            last_error: None,
            last_attempt: None,
        });
        entry.local |= local;
    }

    /// This node now holds `blob` (uploaded here, or fetched).
    pub fn have(&mut self, blob: BlobId) {
        if let Some(b) = self.blobs.get_mut(&blob) {
            b.local = true;
            b.failed = false;
            b.last_error = None;
        }
    }

    /// Sync `peer` (or every peer) at once: something changed.
    pub fn poke(&mut self, peer: Option<&NodeId>, now: Instant) {
        for (id, p) in &mut self.peers {
            if peer.is_none_or(|want| want == id) && p.next_sync > now && p.failures == 0 {
                p.next_sync = now;
            }
        }
    }

    /// What to start now. Marks what it returns as in flight.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        for (id, peer) in &mut self.peers {
            if !peer.syncing && peer.next_sync <= now {
                peer.syncing = true;
                actions.push(Action::Sync { peer: *id, cursors: peer.cursors });
            }
        }
        for (id, blob) in &mut self.blobs {
            if self.fetching >= self.config.max_fetches {
                break;
            }
            if blob.local || blob.in_flight.is_some() || blob.next_at.is_some_and(|t| t > now) {
                continue;
            }
            // The holder with room that failed least recently is asked; online peers first.
            let source = self
                .peers
                .iter()
                .filter(|(_, p)| p.holds.contains(id) && p.fetching < self.config.max_fetches_per_peer)
                .min_by_key(|(_, p)| (!p.online, p.failures, p.fetching))
                .map(|(pid, _)| *pid);
            let Some(source) = source else { continue };
            if let Some(p) = self.peers.get_mut(&source) {
                p.fetching += 1;
            }
            self.fetching += 1;
            blob.in_flight = Some(source);
            blob.last_attempt = Some(now);
            actions.push(Action::Fetch { blob: *id, size: blob.size, peer: source });
        }
        actions
    }

    /// A sync finished.
    pub fn sync_done(&mut self, peer: &NodeId, result: Result<SyncReport, SyncError>, now: Instant) {
        let delay = match &result {
            Ok(_) => None,
            Err(_) => self.peers.get(peer).map(|p| p.failures + 1).map(|n| self.backoff_for(n)),
        };
        let Some(p) = self.peers.get_mut(peer) else { return };
        p.syncing = false;
        match result {
            Ok(report) => {
                p.cursors = report.cursors;
                p.holds.extend(report.peer_holds);
                p.backlog = report.backlog;
                p.online = true;
                p.failures = 0;
                p.path = report.path.or(p.path);
                p.last_sync = Some(now);
                p.last_error = None;
                p.next_sync = if report.backlog > 0 { now } else { now + self.config.sync_interval };
            }
            Err(error) => {
                p.failures += 1;
                p.online = false;
                p.path = None;
                p.last_error = Some(error);
                p.next_sync = now + delay.unwrap_or(self.config.retry_base);
            }
        }
    }

    /// A fetch finished: `Ok` means the blob is stored and verified.
    pub fn fetch_done(&mut self, blob: &BlobId, peer: &NodeId, result: Result<(), SyncError>, now: Instant) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.fetching = p.fetching.saturating_sub(1);
        }
        let Some(b) = self.blobs.get(blob) else { return };
        if b.in_flight.is_some() {
            self.fetching = self.fetching.saturating_sub(1);
        }
        let attempts = b.attempts + 1;
        let delay = self.backoff_for(attempts);
        let Some(b) = self.blobs.get_mut(blob) else { return };
        b.in_flight = None;
        match result {
            Ok(()) => {
                b.local = true;
                b.attempts = 0;
                b.failed = false;
                b.last_error = None;
                b.next_at = None;
            }
            Err(error) => {
                b.last_error = Some(error);
                if attempts >= self.config.max_attempts {
                    b.failed = true;
                    b.attempts = 0;
                    b.next_at = Some(now + self.config.failed_retry_after);
                } else {
                    b.attempts = attempts;
                    b.next_at = Some(now + delay);
                }
            }
        }
    }

    /// Exponential backoff for the `n`th consecutive failure, with jitter in [50 %, 100 %].
    fn backoff_for(&mut self, n: u32) -> Duration {
        let exp = self.config.retry_base.saturating_mul(1u32 << n.saturating_sub(1).min(20));
        let capped = exp.min(self.config.retry_max);
        capped.mul_f64(self.rng.random_range(0.5..=1.0))
    }

    /// When `poll` may next have something to do (None: only an input can change that).
    pub fn next_wakeup(&self) -> Option<Instant> {
        let syncs = self.peers.values().filter(|p| !p.syncing).map(|p| p.next_sync);
        let fetches = self.blobs.values().filter(|b| !b.local && b.in_flight.is_none()).filter_map(|b| b.next_at);
        syncs.chain(fetches).min()
    }

    pub fn peer_status(&self) -> Vec<PeerStatus> {
        self.peers
            .iter()
            .map(|(id, p)| PeerStatus {
                peer: *id,
                online: p.online,
                path: p.path,
                last_sync: p.last_sync,
                last_error: p.last_error.clone(),
                backlog: p.backlog,
                blobs_missing_there: self.blobs.keys().filter(|b| !p.holds.contains(b)).count(),
                cursors: p.cursors,
            })
            .collect()
    }

    /// Status of one wanted blob.
    pub fn blob_status(&self, blob: &BlobId) -> Option<BlobStatus> {
        let b = self.blobs.get(blob)?;
        let local = if b.local {
            LocalState::Ok
        } else if let Some(peer) = b.in_flight {
            LocalState::Fetching { peer }
        } else if let (true, Some(error)) = (b.failed, &b.last_error) {
            // A failed blob has failed at least once, so it always has a last error.
            LocalState::Failed { error: error.clone(), attempts: self.config.max_attempts }
        } else {
            LocalState::Pending
        };
        let held_by = self.peers.iter().filter(|(_, p)| p.holds.contains(blob)).map(|(id, _)| *id).collect();
        Some(BlobStatus { blob: *blob, local, last_attempt: b.last_attempt, held_by })
    }

    /// Wanted blobs this node does not hold yet.
    pub fn missing(&self) -> usize {
        self.blobs.values().filter(|b| !b.local).count()
    }

    /// Blobs currently failed (for metrics and the Nodes page).
    pub fn failed(&self) -> usize {
        self.blobs.values().filter(|b| !b.local && b.failed).count()
    }

    /// The last error of a blob that has failed at least once, even if it is retrying.
    pub fn last_error(&self, blob: &BlobId) -> Option<&SyncError> {
        self.blobs.get(blob).and_then(|b| b.last_error.as_ref())
    }
}
