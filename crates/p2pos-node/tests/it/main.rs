//! The node's integration tests, one module per subject, in one test binary: each test binary
//! links most of the workspace, so one instead of six saves most of a cold build's linking.
//! Pick a subject with a filter, e.g. `cargo test -p p2pos-node --test it -- authorization::`.

mod authorization;
mod common;
mod http;
mod invites;
mod openapi;
mod paging;
mod peer_api;
mod trash;
mod trust;
mod vault_api;
