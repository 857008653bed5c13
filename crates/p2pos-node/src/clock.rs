//! The node's wall clock and its one lock helper: the leaves every other module may use, so none
//! of them reaches up into a handler module for them.

use std::sync::{Mutex, MutexGuard};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

/// Locks `m`, ignoring poisoning: every critical section in the node leaves its data consistent,
/// so a panic elsewhere does not make the data unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
