//! A thin tokio driver for [`probekey`]: one task owns a UDP socket and a
//! [`probekey::Endpoint`], runs the drive loop of `docs/PROTOCOL.md` §7 with
//! the endpoint's probe schedule on (§7.6), and reports the endpoint's
//! events; a [`Handle`] reads them, asks for a neighbour's status, adds and
//! removes neighbours, and shuts the task down.
//!
//! The task waits on the socket, the endpoint's
//! [`poll_timeout`](probekey::Endpoint::poll_timeout) and the handle's
//! requests, and after each wake-up runs the timers that are due, sends
//! every datagram the endpoint queued to the configured address of the
//! neighbour it names (never to a datagram's source address), and passes
//! the events on. All protocol timing is the endpoint's: probes, echoes,
//! handshake retries and staleness.
//!
//! Events go through a bounded channel: when it is full (nobody reads), new
//! events are dropped and counted ([`DriverStats::events_dropped`]) and the
//! protocol goes on; [`Handle::peer_status`] always tells the current
//! state.
//!
//! # Example
//!
//! Two nodes on loopback, each knowing the other, until each hears the
//! other:
//!
//! ```rust
//! use probekey::{Config, Event, LinkDirection, StaticKeypair};
//! use probekey_tokio::Driver;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::builder().deployment_id(b"example").build()?;
//! let loopback = "127.0.0.1:0".parse()?;
//! let key = || StaticKeypair::generate(&mut probekey::os_rng());
//! let mut a = Driver::bind(loopback, config, key()).await?;
//! let mut b = Driver::bind(loopback, config, key()).await?;
//! a.add_neighbour(b.public_key(), b.local_addr())?;
//! let a_at_b = b.add_neighbour(a.public_key(), a.local_addr())?;
//! let (a, mut b) = (a.spawn()?, b.spawn()?);
//!
//! while let Some(event) = b.next_event().await {
//!     if let Event::HealthChanged { peer, direction: LinkDirection::Inbound, fresh: true } = event {
//!         assert_eq!(peer, a_at_b);
//!         break;
//!     }
//! }
//! let status = b.peer_status(a_at_b).await?.expect("a configured neighbour");
//! assert!(status.inbound.fresh);
//! a.shutdown().await?;
//! b.shutdown().await?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod driver;
mod error;
mod handle;

pub use driver::{DEFAULT_EVENT_CAPACITY, Driver, MAX_EVENT_CAPACITY};
pub use error::Error;
pub use handle::{DriverStats, Handle};
