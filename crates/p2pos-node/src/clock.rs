//! The node's wall clock and its one lock helper (`p2pos_net::clock`'s): the leaves every other
//! module may use, so none of them reaches up into a handler module for them.

pub(crate) use p2pos_net::clock::{lock, now_ms};
