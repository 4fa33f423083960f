//! Internals, public for the benchmarks, the fuzz targets and the
//! interoperability tests only: no stability promise.
//!
//! The fuzzing stand-ins of the primitives (`fuzzing`) exist only in a
//! build with `--cfg fuzzing`, as cargo-fuzz makes; a normal build cannot
//! name them, let alone select them:
//!
//! ```compile_fail
//! let _ = probekey::internals::fuzzing::active();
//! ```

/// The AEAD provider seam (`docs/PROTOCOL.md` §3.3).
pub mod aead {
    #[cfg(feature = "aws-lc-rs")]
    pub use crate::aead::AwsLc;
    pub use crate::aead::{AeadProvider, Provider, RustCrypto, Unauthentic};
}
pub mod noise;
pub mod replay;
pub mod schedule;

/// The fuzzing stand-ins of the primitives (`cfg(fuzzing)` only; see
/// `src/primitives/fake.rs`), for a harness that crafts what passes the
/// checks.
#[cfg(fuzzing)]
pub mod fuzzing {
    /// Whether the stand-ins are in use (not with
    /// `PROBEKEY_FUZZ_CRYPTO=real`).
    pub fn active() -> bool {
        crate::primitives::faked()
    }
}
