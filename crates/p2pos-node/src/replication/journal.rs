//! What changed in where the photos are, as a log a client reads from its cursor on
//! (`GET /v1/replication/changes`).
//!
//! Placements are derived state (this node's blob table, the replicator's view of the peers), not a
//! log, so the node keeps one: per live photo a digest of its record and of its placement, and the
//! version at which either last changed. [`Journal::refresh`] compares the current digests with
//! the kept ones and gives each photo that appeared, changed or went away the next version.
//! Versions count from 1 at every start; a cursor names the journal's generation (random per
//! start), so a cursor from before a restart is told apart and the client loads again.
//!
//! Pure data: the caller computes the digests (see `crate::paging`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use family_vault::{AlbumId, PhotoId};
use p2pos_core::Hlc;

/// A photo as the journal last saw it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) album: AlbumId,
    /// Its listing position's HLC (with the id, the page order).
    pub(crate) hlc: Hlc,
    /// The version at which it (last) appeared.
    pub(crate) added: u64,
    /// The version of its last change (appearing, a new placement, going away).
    pub(crate) changed: u64,
    /// False once it was deleted (kept as a tombstone so readers learn it went away).
    pub(crate) live: bool,
    record: u64,
    placement: u64,
    seen: u64,
}

/// A live photo now: its id, album, position and digests.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub(crate) photo: PhotoId,
    pub(crate) album: AlbumId,
    pub(crate) hlc: Hlc,
    /// Digest of its current record (a new record moves it: read as appearing again).
    pub(crate) record: u64,
    /// Digest of where it is stored.
    pub(crate) placement: u64,
}

#[derive(Debug)]
pub(crate) struct Journal {
    generation: u64,
    version: u64,
    pass: u64,
    entries: HashMap<PhotoId, Entry>,
    refreshed: Option<Instant>,
}

/// A client's position in the journal, as it sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Since {
    /// No cursor: only the current cursor is wanted.
    Now,
    /// A cursor of this generation.
    Version(u64),
    /// A cursor of another generation (before a restart): the client must load again.
    Stale,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a replication cursor (it looks like \"<generation>.<version>\", from an earlier answer)")]
pub(crate) struct BadCursor;

impl Journal {
    pub(crate) fn new(generation: u64) -> Self {
        Self { generation, version: 0, pass: 0, entries: HashMap::new(), refreshed: None }
    }

    /// Whether the last refresh is older than `max_age` (or there was none).
    pub(crate) fn stale(&self, now: Instant, max_age: Duration) -> bool {
        self.refreshed.is_none_or(|at| now.saturating_duration_since(at) >= max_age)
    }

    /// Whether the journal was ever compared with the vault (before that, a cursor would see
    /// every photo as added by the first comparison).
    pub(crate) fn has_baseline(&self) -> bool {
        self.refreshed.is_some()
    }

    /// The cursor that reads from the current version on.
    pub(crate) fn cursor(&self) -> String {
        Self::cursor_at(self.generation, self.version)
    }

    pub(crate) fn cursor_at(generation: u64, version: u64) -> String {
        format!("{generation:016x}.{version}")
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Reads a client's cursor: this generation's version (not beyond the current one), another
    /// generation's (stale), or malformed.
    pub(crate) fn parse(&self, cursor: Option<&str>) -> Result<Since, BadCursor> {
        let Some(cursor) = cursor else { return Ok(Since::Now) };
        let (generation, version) = cursor.split_once('.').ok_or(BadCursor)?;
        if generation.len() != 16 {
            return Err(BadCursor);
        }
        let generation = u64::from_str_radix(generation, 16).map_err(|_| BadCursor)?;
        let version: u64 = version.parse().map_err(|_| BadCursor)?;
        if generation != self.generation || version > self.version {
            return Ok(Since::Stale);
        }
        Ok(Since::Version(version))
    }

    /// Compares `current` (every live photo) with what was kept: each photo that appeared, moved
    /// (a new record), changed placement or went away gets the next version.
    pub(crate) fn refresh(&mut self, current: impl IntoIterator<Item = Current>, now: Instant) {
        self.pass += 1;
        let pass = self.pass;
        for c in current {
            match self.entries.get_mut(&c.photo) {
                Some(e) if e.live && e.record == c.record => {
                    if e.placement != c.placement {
                        self.version += 1;
                        e.changed = self.version;
                        e.placement = c.placement;
                    }
                    e.seen = pass;
                }
                _ => {
                    self.version += 1;
                    let entry = Entry {
                        album: c.album,
                        hlc: c.hlc,
                        added: self.version,
                        changed: self.version,
                        live: true,
                        record: c.record,
                        placement: c.placement,
                        seen: pass,
                    };
                    self.entries.insert(c.photo, entry);
                }
            }
        }
        for e in self.entries.values_mut() {
            if e.live && e.seen != pass {
                self.version += 1;
                e.live = false;
                e.changed = self.version;
            }
        }
        self.refreshed = Some(now);
    }

    /// The entries changed after `version`, oldest change first.
    pub(crate) fn changed_since(&self, version: u64) -> Vec<(&PhotoId, &Entry)> {
        let mut out: Vec<(&PhotoId, &Entry)> = self.entries.iter().filter(|(_, e)| e.changed > version).collect();
        out.sort_by_key(|(_, e)| e.changed);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn id(c: char) -> PhotoId {
        c.to_string().repeat(26).parse().unwrap()
    }

    fn current(c: char, record: u64, placement: u64) -> Current {
        Current { photo: id(c), album: id('z'), hlc: Hlc { wall_ms: 1, counter: 0 }, record, placement }
    }

    #[test]
    fn appearing_changing_and_going_away_each_take_a_version() {
        let now = Instant::now();
        let mut j = Journal::new(7);
        j.refresh([current('a', 1, 1), current('b', 1, 1)], now);
        assert_eq!(j.version(), 2);
        let cursor = j.version();
        // Nothing changed: no new version.
        j.refresh([current('a', 1, 1), current('b', 1, 1)], now);
        assert_eq!(j.version(), cursor);
        assert!(j.changed_since(cursor).is_empty());
        // b's placement changes, c appears, a goes away.
        j.refresh([current('b', 1, 2), current('c', 1, 1)], now);
        let changes = j.changed_since(cursor);
        let seen: Vec<(String, bool, bool)> =
            changes.iter().map(|(p, e)| (p.to_string(), e.live, e.added > cursor)).collect();
        assert_eq!(seen.len(), 3);
        assert!(seen.contains(&(id('b').to_string(), true, false)), "b changed in place");
        assert!(seen.contains(&(id('c').to_string(), true, true)), "c is new");
        assert!(seen.contains(&(id('a').to_string(), false, false)), "a went away");
        // A new record (restored, edited) reads as appearing again.
        j.refresh([current('a', 2, 1), current('b', 1, 2), current('c', 1, 1)], now);
        let again = j.changed_since(j.version() - 1);
        assert_eq!(again.len(), 1);
        assert!(again[0].1.live && again[0].1.added == j.version());
    }

    #[test]
    fn cursors_of_another_start_are_stale_and_garbage_is_refused() {
        let mut j = Journal::new(0xabc);
        j.refresh([current('a', 1, 1)], Instant::now());
        assert_eq!(j.parse(None), Ok(Since::Now));
        assert_eq!(j.parse(Some(&j.cursor())), Ok(Since::Version(1)));
        assert_eq!(j.parse(Some(&Journal::cursor_at(0xabd, 1))), Ok(Since::Stale));
        assert_eq!(j.parse(Some(&Journal::cursor_at(0xabc, 9))), Ok(Since::Stale), "beyond the head");
        for bad in ["", "1", "0000000000000abc", "0000000000000abc.x", "abc.1", "0000000000000abc.-1"] {
            assert_eq!(j.parse(Some(bad)), Err(BadCursor), "{bad:?}");
        }
    }

    #[test]
    fn staleness_follows_the_last_refresh() {
        let now = Instant::now();
        let mut j = Journal::new(1);
        assert!(j.stale(now, Duration::from_secs(1)));
        j.refresh([], now);
        assert!(!j.stale(now, Duration::from_secs(1)));
        assert!(j.stale(now + Duration::from_secs(1), Duration::from_secs(1)));
    }
}
