//! Conveniences of the `alloc` feature: `bytes` buffers in and out, over the
//! same state machine as the slice API.

use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};
use rand_core::CryptoRng;

use crate::endpoint::{Endpoint, Received, Transmit};
use crate::error::{RecvError, SealError};
use crate::ids::PeerId;
use crate::keys::StaticKeypair;
use crate::table::PeerTable;
use crate::time::Instant;
use crate::wire::{PROBE_HEADER_LEN, PROBE_OVERHEAD, PROBE_TIME_LEN, ProbeKind};
use crate::{Config, wire};

/// [`Received`] with the body as [`Bytes`] sharing the datagram's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceivedBytes {
    /// A probe or echo; see [`Received::Probe`].
    Probe {
        /// Who sent it.
        peer: PeerId,
        /// Probe or echo.
        kind: ProbeKind,
        /// The decrypted body.
        body: Bytes,
    },
    /// See [`Received::Keepalive`].
    Keepalive {
        /// Who sent it.
        peer: PeerId,
    },
    /// See [`Received::Handshake`].
    Handshake {
        /// Who sent it.
        peer: PeerId,
    },
}

impl<R: CryptoRng> Endpoint<R, crate::table::GrowableTable> {
    /// An endpoint whose peer table grows as peers are added.
    pub fn with_growable_table(config: Config, local: StaticKeypair, rng: R) -> Self {
        Endpoint::new(config, local, rng, Vec::new())
    }
}

impl<R: CryptoRng, T: PeerTable> Endpoint<R, T> {
    /// [`Endpoint::seal`] into a new buffer of exactly the probe's size.
    ///
    /// # Errors
    /// As [`Endpoint::seal`].
    pub fn seal_to_bytes(
        &mut self,
        now: Instant,
        peer: PeerId,
        kind: ProbeKind,
        body: &[u8],
    ) -> Result<Bytes, SealError> {
        let mut buf = BytesMut::zeroed(body.len() + PROBE_OVERHEAD);
        let n = self.seal(now, peer, kind, body, &mut buf)?;
        buf.truncate(n);
        Ok(buf.freeze())
    }

    /// [`Endpoint::handle_datagram`] on an owned buffer; a probe's body is
    /// returned without copying.
    ///
    /// # Errors
    /// As [`Endpoint::handle_datagram`].
    pub fn handle_datagram_bytes(
        &mut self,
        now: Instant,
        mut datagram: BytesMut,
    ) -> Result<ReceivedBytes, RecvError> {
        let received = match self.handle_datagram(now, &mut datagram)? {
            Received::Probe { peer, kind, body } => (peer, kind, body.len()),
            Received::Keepalive { peer } => return Ok(ReceivedBytes::Keepalive { peer }),
            Received::Handshake { peer } => return Ok(ReceivedBytes::Handshake { peer }),
        };
        let (peer, kind, len) = received;
        let start = PROBE_HEADER_LEN + PROBE_TIME_LEN;
        let body = datagram.freeze().slice(start..start + len);
        Ok(ReceivedBytes::Probe { peer, kind, body })
    }

    /// [`Endpoint::poll_transmit`] into a new buffer.
    pub fn poll_transmit_bytes(&mut self, now: Instant) -> Option<(Transmit, Bytes)> {
        let mut buf = BytesMut::zeroed(
            wire::INITIATION_LEN
                .max(wire::RESPONSE_LEN)
                .max(PROBE_OVERHEAD),
        );
        match self.poll_transmit(now, &mut buf) {
            Ok(Some(t)) => {
                buf.truncate(t.len);
                Some((t, buf.freeze()))
            }
            // The buffer holds the largest control datagram.
            Ok(None) | Err(_) => None,
        }
    }
}

#[cfg(feature = "std")]
impl Endpoint<crate::OsRng, crate::table::GrowableTable> {
    /// An endpoint with a growable peer table and the operating system's
    /// randomness: the usual choice for a daemon.
    pub fn with_os_rng(config: Config, local: StaticKeypair) -> Self {
        Endpoint::new(config, local, crate::os_rng(), Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;

    #[test]
    fn bytes_api_round_trips_a_probe() {
        let t = Instant::ZERO;
        let ka = StaticKeypair::from_secret_bytes([1; 32]);
        let kb = StaticKeypair::from_secret_bytes([2; 32]);
        let (pa, pb) = (ka.public(), kb.public());
        let mut a = Endpoint::with_os_rng(Config::default(), ka);
        let mut b = Endpoint::with_os_rng(Config::default(), kb);
        let to_b = a.add_peer(t, pb).unwrap();
        let to_a = b.add_peer(t, pa).unwrap();
        a.handle_timeout(t);
        for _ in 0..4 {
            while let Some((_, d)) = a.poll_transmit_bytes(t) {
                let _ = b.handle_datagram_bytes(t, BytesMut::from(&d[..]));
            }
            while let Some((_, d)) = b.poll_transmit_bytes(t) {
                let _ = a.handle_datagram_bytes(t, BytesMut::from(&d[..]));
            }
        }
        let sealed = a
            .seal_to_bytes(t, to_b, ProbeKind::Probe, b"hello")
            .unwrap();
        let got = b
            .handle_datagram_bytes(t, BytesMut::from(&sealed[..]))
            .unwrap();
        assert_eq!(
            got,
            ReceivedBytes::Probe {
                peer: to_a,
                kind: ProbeKind::Probe,
                body: Bytes::from_static(b"hello")
            }
        );
    }
}
