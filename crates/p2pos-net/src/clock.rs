//! The wall clock and the poison-tolerant lock, once for the I/O crates: `p2pos-net`, the node and
//! the CLI use these; the sans-IO crates never read the clock (time is their parameter).

use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it): request timestamps, record
/// stamps, session expiries.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

/// Locks `m`, recovering the data if a panicking thread poisoned it: every critical section that
/// uses this leaves its data consistent, so a panic elsewhere does not make the data unusable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
