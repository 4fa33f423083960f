//! Internals, public for the benchmarks, the fuzz targets and the
//! interoperability tests only: no stability promise.

/// The AEAD provider seam (`docs/PROTOCOL.md` §3.3).
pub mod aead {
    #[cfg(feature = "aws-lc-rs")]
    pub use crate::aead::AwsLc;
    pub use crate::aead::{AeadProvider, Provider, RustCrypto, Unauthentic};
}
pub mod noise;
pub mod replay;
pub mod schedule;
