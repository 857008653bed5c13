//! Replication's integration tests, one module per subject, in one test binary (one link instead
//! of three). Pick a subject with a filter, e.g. `cargo test -p p2pos-replication --test it -- actor::`.

mod actor;
mod errors;
mod planner;
