//! The planner under virtual time: every rule in `planner.rs`'s docs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use p2pos_core::{BlobId, NodeId};
use p2pos_peer::{PathKind, TransportError};
use p2pos_replication::{Action, Cursors, LocalError, LocalState, Planner, PlannerConfig, SyncError, SyncReport};

fn node(n: u8) -> NodeId {
    let key = ed25519_dalek::SigningKey::from_bytes(&[n; 32]);
    NodeId::from_verifying_key(&key.verifying_key())
}

fn blob(n: u8) -> BlobId {
    BlobId::of(&[n])
}

fn unreachable(why: &'static str) -> SyncError {
    SyncError::Transport(TransportError::unreachable(why))
}

fn mismatch() -> SyncError {
    SyncError::Local(LocalError::Refused("blob does not match its id".into()))
}

fn synced(cursors: Cursors, holds: Vec<BlobId>) -> Result<SyncReport, SyncError> {
    Ok(SyncReport { cursors, peer_holds: holds, backlog: 0, path: Some(PathKind::Host) })
}

fn fetches(actions: &[Action]) -> Vec<(BlobId, NodeId)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Fetch { blob, peer, .. } => Some((*blob, *peer)),
            Action::Sync { .. } => None,
        })
        .collect()
}

#[test]
fn a_new_peer_is_synced_from_its_saved_cursors_then_every_interval() {
    let t0 = Instant::now();
    let mut p = Planner::new(PlannerConfig::default(), 1);
    let saved = Cursors { records: 41, blobs: 7 };
    p.add_peer(node(1), saved, [], t0);
    assert_eq!(p.poll(t0), vec![Action::Sync { peer: node(1), cursors: saved }]);
    assert!(p.poll(t0).is_empty(), "one sync at a time per peer");
    let after = Cursors { records: 50, blobs: 9 };
    p.sync_done(&node(1), synced(after, vec![]), t0 + Duration::from_millis(100));
    let status = &p.peer_status()[0];
    assert!(status.online);
    assert_eq!(status.path, Some(PathKind::Host));
    assert_eq!(status.cursors, after);
    let next = p.next_wakeup().unwrap();
    assert_eq!(next, t0 + Duration::from_millis(100) + Duration::from_secs(2));
    assert!(p.poll(next - Duration::from_millis(1)).is_empty());
    assert_eq!(p.poll(next), vec![Action::Sync { peer: node(1), cursors: after }]);
}

#[test]
fn a_backlog_syncs_again_at_once_and_a_poke_brings_the_next_sync_forward() {
    let t0 = Instant::now();
    let mut p = Planner::new(PlannerConfig::default(), 1);
    p.add_peer(node(1), Cursors::default(), [], t0);
    p.poll(t0);
    let report = SyncReport { cursors: Cursors { records: 10_000, blobs: 0 }, backlog: 5, ..Default::default() };
    p.sync_done(&node(1), Ok(report), t0);
    assert_eq!(p.poll(t0).len(), 1, "more pages wait: sync again now");
    p.sync_done(&node(1), synced(Cursors { records: 10_005, blobs: 0 }, vec![]), t0);
    assert!(p.poll(t0 + Duration::from_millis(10)).is_empty());
    p.poke(None, t0 + Duration::from_millis(10));
    assert_eq!(p.poll(t0 + Duration::from_millis(10)).len(), 1);
}

#[test]
fn failed_syncs_back_off_exponentially_with_jitter_and_mark_the_peer_offline() {
    let t0 = Instant::now();
    let config = PlannerConfig::default();
    let mut p = Planner::new(config.clone(), 7);
    p.add_peer(node(1), Cursors::default(), [], t0);
    let mut now = t0;
    let mut delays = Vec::new();
    for _ in 0..9 {
        assert_eq!(p.poll(now).len(), 1);
        p.sync_done(&node(1), Err(unreachable("connection refused")), now);
        let next = p.next_wakeup().unwrap();
        delays.push(next - now);
        now = next;
    }
    let status = &p.peer_status()[0];
    assert!(!status.online);
    assert_eq!(status.last_error, Some(unreachable("connection refused")));
    assert_eq!(status.last_error.as_ref().map(ToString::to_string).as_deref(), Some("unreachable: connection refused"));
    for (i, d) in delays.iter().enumerate() {
        let full = config.retry_base.saturating_mul(1 << i).min(config.retry_max);
        assert!(*d >= full / 2 && *d <= full, "delay {i} = {d:?}, expected within [{:?}, {full:?}]", full / 2);
    }
    assert!(delays[8] <= config.retry_max);
    // A success resets the backoff.
    p.poll(now);
    p.sync_done(&node(1), synced(Cursors::default(), vec![]), now);
    assert_eq!(p.next_wakeup().unwrap() - now, config.sync_interval);
    assert!(p.peer_status()[0].online);
}

#[test]
fn blobs_are_fetched_from_a_peer_that_holds_them_within_the_limits() {
    let t0 = Instant::now();
    let config = PlannerConfig { max_fetches: 3, max_fetches_per_peer: 2, ..Default::default() };
    let mut p = Planner::new(config, 1);
    for b in 0..6 {
        p.want(blob(b), 100, b == 5);
    }
    p.add_peer(node(1), Cursors::default(), [], t0);
    p.add_peer(node(2), Cursors::default(), [], t0);
    assert!(fetches(&p.poll(t0)).is_empty(), "nobody is known to hold anything yet");
    assert_eq!(p.blob_status(&blob(0)).unwrap().local, LocalState::Pending);
    p.sync_done(&node(1), synced(Cursors::default(), (0..5).map(blob).collect()), t0);
    p.sync_done(&node(2), synced(Cursors::default(), vec![blob(4)]), t0);
    let started = fetches(&p.poll(t0));
    assert_eq!(started.len(), 3, "at most three at a time");
    assert_eq!(started.iter().filter(|(_, peer)| *peer == node(1)).count(), 2, "at most two from one peer");
    assert!(!started.iter().any(|(b, _)| *b == blob(5)), "blob 5 is here already");
    assert_eq!(p.blob_status(&started[0].0).unwrap().local, LocalState::Fetching { peer: started[0].1 });
    assert!(fetches(&p.poll(t0)).is_empty());
    let (b, peer) = *started.iter().find(|(_, peer)| *peer == node(1)).unwrap();
    p.fetch_done(&b, &peer, Ok(()), t0);
    assert_eq!(p.blob_status(&b).unwrap().local, LocalState::Ok);
    assert_eq!(fetches(&p.poll(t0)).len(), 1, "a slot freed");
    assert_eq!(p.blob_status(&blob(4)).unwrap().held_by.len(), 2);
}

#[test]
fn a_fetch_that_keeps_failing_is_failed_then_requeued_after_the_configured_time() {
    let t0 = Instant::now();
    let config = PlannerConfig { max_attempts: 3, failed_retry_after: Duration::from_secs(120), ..Default::default() };
    let mut p = Planner::new(config, 3);
    p.want(blob(1), 100, false);
    p.add_peer(node(1), Cursors::default(), [blob(1)], t0);
    let mut now = t0;
    for attempt in 1..=3 {
        let started = fetches(&p.poll(now));
        assert_eq!(started, vec![(blob(1), node(1))], "attempt {attempt}");
        p.fetch_done(&blob(1), &node(1), Err(mismatch()), now);
        if attempt < 3 {
            assert_eq!(p.blob_status(&blob(1)).unwrap().local, LocalState::Pending);
            assert!(fetches(&p.poll(now)).is_empty(), "not before the backoff");
            now += Duration::from_secs(60);
        }
    }
    let failed = p.blob_status(&blob(1)).unwrap();
    assert_eq!(failed.local, LocalState::Failed { error: mismatch(), attempts: 3 });
    assert_eq!(failed.last_attempt, Some(now));
    assert_eq!(p.failed(), 1);
    assert!(fetches(&p.poll(now + Duration::from_secs(119))).is_empty());
    assert_eq!(fetches(&p.poll(now + Duration::from_secs(120))), vec![(blob(1), node(1))], "requeued");
    p.fetch_done(&blob(1), &node(1), Ok(()), now + Duration::from_secs(121));
    assert_eq!(p.blob_status(&blob(1)).unwrap().local, LocalState::Ok);
    assert_eq!(p.failed(), 0);
}

#[test]
fn an_online_peer_is_preferred_and_a_blob_stored_meanwhile_is_not_fetched() {
    let t0 = Instant::now();
    let mut p = Planner::new(PlannerConfig::default(), 1);
    p.want(blob(1), 100, false);
    p.want(blob(2), 100, false);
    p.add_peer(node(1), Cursors::default(), [blob(1), blob(2)], t0);
    p.add_peer(node(2), Cursors::default(), [blob(1), blob(2)], t0);
    // Results as if the first syncs had run: node 1 is offline.
    p.sync_done(&node(1), Err(unreachable("no path")), t0);
    p.sync_done(&node(2), synced(Cursors::default(), vec![]), t0);
    p.have(blob(2));
    assert_eq!(fetches(&p.poll(t0)), vec![(blob(1), node(2))]);
    // A peer removed mid-fetch: its result is still accounted.
    p.remove_peer(&node(2));
    p.fetch_done(&blob(1), &node(2), Err(SyncError::Transport(TransportError::broken("the channel closed"))), t0);
    assert_eq!(p.blob_status(&blob(1)).unwrap().held_by, vec![node(1)]);
}

#[test]
fn the_jitter_is_reproducible_from_the_seed() {
    let run = |seed| {
        let t0 = Instant::now();
        let mut p = Planner::new(PlannerConfig::default(), seed);
        p.add_peer(node(1), Cursors::default(), [], t0);
        p.poll(t0);
        p.sync_done(&node(1), Err(unreachable("x")), t0);
        p.next_wakeup().unwrap() - t0
    };
    assert_eq!(run(5), run(5));
}
