//! Replication's errors say whose trouble it is, by type: the status keeps them typed and shows
//! their text as before.

use p2pos_peer::{TransportError, TransportErrorKind};
use p2pos_replication::{LocalError, LocalErrorKind, SyncError};

#[test]
fn a_transfer_that_breaks_under_the_store_is_the_transports_failure() {
    let broken = TransportError::broken("the channel closed");
    let error = SyncError::from(LocalError::Transfer(broken));
    assert!(matches!(&error, SyncError::Transport(e) if e.kind() == TransportErrorKind::Broken), "{error:?}");
    assert_eq!(error.to_string(), "connection lost: the channel closed");
}

#[test]
fn the_stores_own_failures_stay_local_with_their_kind_and_text() {
    let error = SyncError::from(LocalError::Storage("database is locked".into()));
    let SyncError::Local(local) = &error else { panic!("{error:?} should be local") };
    assert_eq!(local.kind(), LocalErrorKind::Storage);
    assert_eq!(error.to_string(), "database is locked");
    let refused = LocalError::Refused("the bytes hash to another id".into());
    assert_eq!(refused.kind(), LocalErrorKind::Refused);
}
