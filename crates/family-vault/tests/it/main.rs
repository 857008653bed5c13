//! The vault's integration tests, one module per subject, in one test binary (one link instead of
//! four). Pick a subject with a filter, e.g. `cargo test -p family-vault --test it -- properties::`.

mod attacks;
mod profiles;
mod properties;
mod rules;
#[path = "support/summary.rs"]
mod summary;
mod trash;
mod vault_state_vectors;
