//! The fuzz harness of probekey: one `run(data)` per target. The cargo-fuzz
//! targets in `fuzz_targets/` call these functions, and the crate's stable
//! test `tests/fuzz_corpus.rs` runs every file of `corpus/<target>/`
//! through the same functions, so `cargo test` replays the corpora without
//! nightly.
//!
//! Every function panics on a broken invariant; that is the crash the
//! fuzzer reports.

pub mod config;
pub mod freshness;
pub mod handshake;
pub mod net;
pub mod open;
pub mod state_machine;
pub mod wire;

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// The targets, by name, as the corpus directories are named.
pub const TARGETS: [(&str, Target); 5] = [
    ("wire", wire::run),
    ("open", open::run),
    ("handshake", handshake::run),
    ("state_machine", state_machine::run),
    ("config", config::run),
];
