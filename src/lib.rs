//! Authenticated probes for a link-monitor daemon: the key exchange and key
//! rotation that let every pair of neighbours validate each other's probes,
//! and that can never leave two neighbours permanently unable to do so.
//!
//! The crate is sans-IO and `no_std`: the daemon owns the sockets, the
//! clock and the threads; an [`Endpoint`] owns the protocol for one node and
//! all its peers. A resync handshake (Noise KK) retries with backoff until
//! it converges, per-direction epoch keys rotate with overlapping validity,
//! and inbound and outbound freshness are reported separately, from
//! authenticated probes only.
//!
//! # The drive loop
//!
//! Every call that changes state takes `now`, the caller's monotonic
//! [`Instant`]. After any call, send what [`Endpoint::poll_transmit`] gives,
//! handle what [`Endpoint::poll_event`] gives, and call
//! [`Endpoint::handle_timeout`] at the instant [`Endpoint::poll_timeout`]
//! names.
//!
//! ```rust
//! use probekey::{Config, Endpoint, Instant, ProbeKind, Received, OsEndpoint, StaticKeypair};
//!
//! type Node = OsEndpoint;
//!
//! /// One turn of a daemon's loop for `node`; `deliver` stands in for the socket.
//! fn turn(node: &mut Node, now: Instant, mut deliver: impl FnMut(&mut [u8])) {
//!     if node.poll_timeout().is_some_and(|t| t <= now) {
//!         node.handle_timeout(now);
//!     }
//!     let mut buf = [0u8; 1500];
//!     while let Ok(Some(tx)) = node.poll_transmit(now, &mut buf) {
//!         deliver(&mut buf[..tx.len]); // send to tx.peer's address
//!     }
//!     while let Some(event) = node.poll_event() {
//!         println!("{event:?}"); // health changes drive routing decisions
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::builder().deployment_id(b"prod").build()?;
//! let ka = StaticKeypair::generate(&mut probekey::os_rng());
//! let kb = StaticKeypair::generate(&mut probekey::os_rng());
//! let (pub_a, pub_b) = (ka.public(), kb.public());
//! let mut a = Endpoint::with_os_rng(config.clone(), ka);
//! let mut b = Endpoint::with_os_rng(config, kb);
//! let mut now = Instant::ZERO;
//! let b_at_a = a.add_peer(now, pub_b)?;
//! let a_at_b = b.add_peer(now, pub_a)?;
//!
//! // Both sides start a handshake at once; a few turns complete it.
//! for _ in 0..4 {
//!     turn(&mut a, now, |d| { let _ = b.handle_datagram(now, d); });
//!     turn(&mut b, now, |d| { let _ = a.handle_datagram(now, d); });
//!     now = now + core::time::Duration::from_millis(10);
//! }
//!
//! // Probes: seal into a caller buffer, open in place.
//! let mut buf = [0u8; 1500];
//! let n = a.seal(now, b_at_a, ProbeKind::Probe, b"probe 1", &mut buf)?;
//! match b.handle_datagram(now, &mut buf[..n])? {
//!     Received::Probe { peer, kind, body } => {
//!         assert_eq!((peer, kind, body), (a_at_b, ProbeKind::Probe, &b"probe 1"[..]));
//!     }
//!     other => panic!("not a probe: {other:?}"),
//! }
//! assert!(b.peer_status(a_at_b, now).expect("configured").inbound.fresh);
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | *(none)* | | the whole protocol without `alloc`: a fixed peer table ([`fixed_table`]), a caller-supplied [`rand_core::CryptoRng`] |
//! | `alloc` | yes (via `std`) | a growable peer table ([`GrowableEndpoint`]) and [`bytes`](https://docs.rs/bytes) conveniences |
//! | `std` | yes | [`StdClock`], [`os_rng`], [`OsEndpoint`] |
//! | `aws-lc-rs` | yes | probes sealed and opened with `aws-lc-rs` (the same wire) |
//! | `serde` | no | `Serialize` and `Deserialize` for events, statuses, ids, keys and the configuration |
//! | `model` | no | tests only: `Clone` and `Hash` of an endpoint's whole state, secrets included, for the model checker |
//!
//! The wire format and state machines are specified in
//! [`docs/PROTOCOL.md`](https://github.com/probekey/probekey/blob/main/docs/PROTOCOL.md),
//! what the crate protects and what it does not in
//! [`SECURITY.md`](https://github.com/probekey/probekey/blob/main/SECURITY.md).
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
pub(crate) mod display;
mod endpoint;
mod error;
mod event;
mod ids;
mod keys;
mod mac;
mod peer;
mod primitives;
#[cfg(feature = "serde")]
mod serde_impls;
mod session;
mod status;
mod table;
mod time;
pub mod wire;

pub use aead::TAG_LEN;
#[cfg(feature = "alloc")]
pub use bytes_ext::ReceivedBytes;
pub use config::{Config, ConfigBuilder, ConfigError, ConfigValue, Setting};
pub use endpoint::{Endpoint, MAX_BODY_LEN, MAX_PEERS, Received, Transmit, TransmitKind};
pub use error::{AddPeerError, PeerError, RecvError, RejectReason, SealError};
pub use event::{EVENT_QUEUE_CAPACITY, Event, HandshakeReason, LinkDirection};
pub use ids::{Epoch, PeerId, SessionIndex};
pub use keys::{KeyId, ParseKeyError, PublicKey, StaticKeypair, SymmetricKey};
pub use peer::Peer;
pub use peer::schedule::ECHO_BODY_LEN;
pub use session::{COUNTER_LIMIT, MAX_CLOCK_DRIFT_PPM, Role};
pub use status::{
    DownReason, EndpointStats, Freshness, HandshakeState, LinkState, PeerStatus, RejectCounters,
};
#[cfg(feature = "alloc")]
pub use table::GrowableTable;
pub use table::{FixedTable, PeerSlot, PeerTable, Slot, fixed_table};
pub use time::Instant;
#[cfg(feature = "std")]
pub use time::StdClock;
pub use wire::{BufferTooSmall, PROBE_OVERHEAD, ProbeKind};

/// An endpoint with a growable peer table.
#[cfg(feature = "alloc")]
pub type GrowableEndpoint<R> = Endpoint<R, table::GrowableTable>;

/// An endpoint with a growable peer table and the operating system's
/// randomness: what a daemon on an operating system uses.
#[cfg(feature = "std")]
pub type OsEndpoint = GrowableEndpoint<OsRng>;

#[doc(hidden)]
pub mod internals;
use internals::{noise, replay, schedule};

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

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
