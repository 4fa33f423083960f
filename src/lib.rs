#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// The library's own discipline, beyond the workspace's lints.
#![warn(
    clippy::std_instead_of_core,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::missing_panics_doc
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

mod aead;
#[cfg(feature = "alloc")]
mod bytes_ext;
pub mod config;
mod endpoint;
mod error;
mod event;
mod ids;
mod keys;
mod mac;
pub mod noise;
mod peer;
pub mod replay;
pub mod schedule;
mod session;
mod status;
mod table;
mod time;
pub mod wire;

pub use aead::TAG_LEN;
#[cfg(feature = "alloc")]
pub use bytes_ext::ReceivedBytes;
pub use config::{Config, ConfigBuilder, ConfigError, ConfigValue};
pub use endpoint::{Endpoint, MAX_BODY_LEN, MAX_PEERS, Received, Transmit, TransmitKind};
pub use error::{AddPeerError, RecvError, RejectReason, SealError};
pub use event::{EVENT_QUEUE_CAPACITY, Event, HandshakeReason, LinkDirection};
pub use ids::{Epoch, PeerId, SessionIndex};
pub use keys::{KeyId, PublicKey, StaticKeypair, SymmetricKey};
pub use peer::Peer;
pub use session::{COUNTER_LIMIT, Role};
pub use status::{EndpointStats, Freshness, HandshakeState, PeerStatus, RejectCounters};
pub use table::{PeerTable, fixed_table};
pub use time::Instant;
#[cfg(feature = "std")]
pub use time::StdClock;
pub use wire::{BufferTooSmall, PROBE_OVERHEAD, ProbeKind};

/// The randomness of the `std` feature: the operating system's generator.
#[cfg(feature = "std")]
pub type OsRng = rand_core::UnwrapErr<getrandom::SysRng>;

/// The operating system's random generator, as a [`rand_core::CryptoRng`].
#[cfg(feature = "std")]
pub fn os_rng() -> OsRng {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// The `rand_core` version this crate's RNG bounds use.
pub use rand_core;
