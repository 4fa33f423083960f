//! The forged/replayed-probe oracle shared by the simulator and the fuzz
//! harness: every probe body names its sender, its receiver and a sequence
//! number, every sealed datagram is remembered, and every accepted probe or
//! keepalive must be, byte for byte, one its claimed sender sealed for this
//! receiver, accepted once.

use std::collections::{BTreeMap, BTreeSet};

use probekey::{EndpointStats, Instant, PeerId, PeerStatus, RecvError, RejectReason};

use crate::SimEndpoint;

/// Bytes of a probe body that identify it: sender, receiver (4 bytes each),
/// sequence number (8), big-endian. The rest of a body is padding.
pub const BODY_ID_LEN: usize = 16;

/// A security violation the oracle observed. Any is a bug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A probe was accepted as coming from a node that did not seal it for
    /// this receiver.
    Forged {
        /// Receiving node.
        at: usize,
        /// The peer the endpoint attributed it to.
        claimed_from: usize,
    },
    /// The same probe was accepted twice.
    Replayed {
        /// Receiving node.
        at: usize,
        /// Sending node.
        from: usize,
        /// The probe's sequence number.
        seq: u64,
    },
    /// A probe was accepted whose datagram is not, byte for byte, the one
    /// its sender sealed.
    Altered {
        /// Receiving node.
        at: usize,
        /// Sending node.
        from: usize,
        /// The probe's sequence number.
        seq: u64,
    },
    /// Two probes were sealed under the same key and counter: their
    /// keystreams over the bodies are equal (`docs/PROTOCOL.md` §5.1).
    NonceReused {
        /// Sending node.
        from: usize,
        /// Receiving node.
        to: usize,
        /// The counter sealed twice.
        counter: u64,
    },
    /// The same keepalive datagram was accepted twice.
    KeepaliveTwice {
        /// Receiving node.
        at: usize,
        /// Sending node.
        from: usize,
    },
    /// A refused datagram changed more than the rejection counters.
    RefusalChangedState {
        /// Receiving node.
        at: usize,
        /// What changed.
        what: String,
    },
}

/// What an endpoint exposes, to compare around a refused datagram.
#[derive(PartialEq, Debug)]
pub struct EndpointView {
    stats: EndpointStats,
    peers: Vec<Option<PeerStatus>>,
    deadline: Option<Instant>,
}

impl EndpointView {
    /// The endpoint's counters, the status of each of `peers` at `now`, and
    /// its next deadline.
    pub fn of(
        endpoint: &SimEndpoint,
        peers: impl IntoIterator<Item = PeerId>,
        now: Instant,
    ) -> Self {
        EndpointView {
            stats: endpoint.stats(),
            peers: peers
                .into_iter()
                .map(|p| endpoint.peer_status(p, now))
                .collect(),
            deadline: endpoint.poll_timeout(),
        }
    }

    /// Checks that a refusal (`err`) between `self` and `after` changed
    /// nothing but the rejection counters, counted once and against the
    /// peer it names, the Diffie-Hellman count of a handshake message
    /// that failed behind its MACs, and the count of refusals by the
    /// Diffie-Hellman budget.
    pub fn refusal_changed_nothing(
        &self,
        after: &EndpointView,
        err: &RecvError,
    ) -> Result<(), String> {
        let mut after = EndpointView {
            stats: after.stats,
            peers: after.peers.clone(),
            deadline: after.deadline,
        };
        if after.stats.rejected.total() != self.stats.rejected.total() + 1 {
            return Err(format!("a refusal ({err}) was not counted once"));
        }
        if after.stats.dh_operations < self.stats.dh_operations {
            return Err(format!(
                "a refusal ({err}) lowered the Diffie-Hellman count"
            ));
        }
        // Only a rate-limited refusal may be one of the Diffie-Hellman
        // budget's (`docs/PROTOCOL.md` §4.5), and counts there once more.
        let budget = after
            .stats
            .dh_budget_refusals
            .checked_sub(self.stats.dh_budget_refusals);
        if budget.is_none_or(|n| n > u64::from(err.reason == RejectReason::RateLimited)) {
            return Err(format!(
                "a refusal ({err}) was miscounted against the Diffie-Hellman budget"
            ));
        }
        after.stats.rejected = self.stats.rejected;
        after.stats.dh_operations = self.stats.dh_operations;
        after.stats.dh_budget_refusals = self.stats.dh_budget_refusals;
        let mut attributed = 0;
        for (a, b) in after.peers.iter_mut().zip(&self.peers) {
            if let (Some(a), Some(b)) = (a.as_mut(), b) {
                attributed += a.rejected.total() - b.rejected.total();
                a.rejected = b.rejected;
            }
        }
        if attributed != u64::from(err.peer.is_some()) {
            return Err(format!(
                "a refusal ({err}) was not counted against the peer it names"
            ));
        }
        if after != *self {
            return Err(format!(
                "a refused datagram ({err}) changed state: {self:?} -> {after:?}"
            ));
        }
        Ok(())
    }
}

/// Writes the identifying part of a probe body into `body[..BODY_ID_LEN]`.
///
/// # Panics
/// If `body` is shorter than [`BODY_ID_LEN`].
pub fn write_body_id(body: &mut [u8], from: usize, to: usize, seq: u64) {
    let word = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
    body[..4].copy_from_slice(&word(from));
    body[4..8].copy_from_slice(&word(to));
    body[8..BODY_ID_LEN].copy_from_slice(&seq.to_be_bytes());
}

/// Reads `(from, to, seq)` back from a body, if it is long enough.
pub fn read_body_id(body: &[u8]) -> Option<(usize, usize, u64)> {
    let id = body.get(..BODY_ID_LEN)?;
    let mut w = [0u8; 4];
    w.copy_from_slice(&id[..4]);
    let from = u32::from_be_bytes(w) as usize;
    w.copy_from_slice(&id[4..8]);
    let to = u32::from_be_bytes(w) as usize;
    let mut s = [0u8; 8];
    s.copy_from_slice(&id[8..]);
    Some((from, to, u64::from_be_bytes(s)))
}

/// Where a probe's plaintext starts: the sender's time, then the body
/// (`docs/PROTOCOL.md` §2.4).
const PLAIN_AT: usize = probekey::wire::PROBE_HEADER_LEN;
/// Length of the sender's time.
const TIME_LEN: usize = probekey::wire::PROBE_TIME_LEN;

/// A sealed probe's receiver index, epoch and counter (header bytes
/// 4..20), which with the key make its nonce, and where in the plaintext
/// a keystream was taken.
type NonceKey = (usize, usize, [u8; 16], usize);

/// What was sealed and what was accepted.
#[derive(Clone, Default, Hash)]
pub struct ProbeOracle {
    sealed: BTreeMap<(usize, usize, u64), Vec<u8>>,
    accepted: BTreeSet<(usize, usize, u64)>,
    keepalives: BTreeSet<(usize, Vec<u8>)>,
    /// The keystreams seen under each receiver index, epoch and counter.
    keystreams: BTreeMap<NonceKey, Vec<Vec<u8>>>,
}

impl ProbeOracle {
    /// Remembers the datagram `from` sealed for `to` with sequence `seq`
    /// at its clock's reading `sent`, whose body was `body`, and checks
    /// that its key and counter sealed nothing before: over the sender's
    /// time ([`Self::sealed_at`]) and over the body alike.
    ///
    /// # Errors
    /// [`Violation::NonceReused`].
    pub fn sealed(
        &mut self,
        from: usize,
        to: usize,
        seq: u64,
        datagram: &[u8],
        body: &[u8],
        sent: Instant,
    ) -> Result<(), Violation> {
        self.sealed.insert((from, to, seq), datagram.to_vec());
        self.sealed_at(from, to, datagram, sent)?;
        let body = body.get(..BODY_ID_LEN).unwrap_or(body);
        self.keystream(from, to, datagram, TIME_LEN, body)
    }

    /// Checks that the probe or keepalive `from` sealed for `to` at its
    /// clock's reading `sent` (the time the probe carries) shares its key
    /// and counter with no datagram sealed before: keepalives carry no
    /// body, but every probe carries its sender's time.
    ///
    /// # Errors
    /// [`Violation::NonceReused`].
    pub fn sealed_at(
        &mut self,
        from: usize,
        to: usize,
        datagram: &[u8],
        sent: Instant,
    ) -> Result<(), Violation> {
        self.keystream(from, to, datagram, 0, &sent.as_nanos().to_be_bytes())
    }

    /// The key is unknown here, but the cipher is a stream cipher: two
    /// plaintexts sealed under the same key and counter show the same
    /// keystream (ciphertext XOR plaintext) where both are known, and
    /// plaintexts under different keys show different keystreams. `known`
    /// is the plaintext at `offset`.
    fn keystream(
        &mut self,
        from: usize,
        to: usize,
        datagram: &[u8],
        offset: usize,
        known: &[u8],
    ) -> Result<(), Violation> {
        let at = PLAIN_AT + offset;
        let (Some(nonce), Some(cipher)) = (datagram.get(4..20), datagram.get(at..at + known.len()))
        else {
            return Ok(());
        };
        let stream: Vec<u8> = cipher.iter().zip(known).map(|(c, p)| c ^ p).collect();
        let mut key = [0u8; 16];
        key.copy_from_slice(nonce);
        let seen = self.keystreams.entry((from, to, key, offset)).or_default();
        if seen.contains(&stream) {
            let mut counter = [0u8; 8];
            counter.copy_from_slice(&nonce[8..16]);
            return Err(Violation::NonceReused {
                from,
                to,
                counter: u64::from_be_bytes(counter),
            });
        }
        seen.push(stream);
        Ok(())
    }

    /// Checks a probe that node `at` accepted as coming from `claimed`,
    /// whose datagram was `datagram` (as received, before opening) and
    /// whose decrypted body is `body`.
    pub fn accepted(
        &mut self,
        at: usize,
        claimed: usize,
        datagram: &[u8],
        body: &[u8],
    ) -> Result<(), Violation> {
        let forged = Violation::Forged {
            at,
            claimed_from: claimed,
        };
        let Some((from, to, seq)) = read_body_id(body) else {
            return Err(forged);
        };
        if (from, to) != (claimed, at) {
            return Err(forged);
        }
        if self.sealed.get(&(from, to, seq)).map(Vec::as_slice) != Some(datagram) {
            return Err(Violation::Altered { at, from, seq });
        }
        if !self.accepted.insert((from, to, seq)) {
            return Err(Violation::Replayed { at, from, seq });
        }
        Ok(())
    }

    /// Checks a keepalive that node `at` accepted from `claimed`: the same
    /// datagram is never accepted twice.
    pub fn keepalive(
        &mut self,
        at: usize,
        claimed: usize,
        datagram: &[u8],
    ) -> Result<(), Violation> {
        if self.keepalives.insert((at, datagram.to_vec())) {
            Ok(())
        } else {
            Err(Violation::KeepaliveTwice { at, from: claimed })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sealed_bytes_are_accepted_and_only_once() {
        let mut o = ProbeOracle::default();
        let mut body = [0u8; BODY_ID_LEN + 3];
        write_body_id(&mut body, 1, 2, 7);
        assert_eq!(read_body_id(&body), Some((1, 2, 7)));
        assert_eq!(o.sealed(1, 2, 7, b"datagram", &body, Instant::ZERO), Ok(()));
        assert!(matches!(
            o.accepted(2, 1, b"datagraM", &body),
            Err(Violation::Altered { .. })
        ));
        assert!(matches!(
            o.accepted(2, 0, b"datagram", &body),
            Err(Violation::Forged { .. })
        ));
        assert!(matches!(
            o.accepted(3, 1, b"datagram", &body),
            Err(Violation::Forged { .. })
        ));
        assert_eq!(o.accepted(2, 1, b"datagram", &body), Ok(()));
        assert!(matches!(
            o.accepted(2, 1, b"datagram", &body),
            Err(Violation::Replayed { .. })
        ));
        assert_eq!(o.keepalive(2, 1, b"k"), Ok(()));
        assert!(o.keepalive(2, 1, b"k").is_err());
    }

    /// A datagram sealing `body` under `nonce` (header bytes 4..20) with
    /// the keystream `stream`.
    fn sealed_with(nonce: u8, stream: u8, body: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; PLAIN_AT];
        d[19] = nonce;
        d.extend(AT.as_nanos().to_be_bytes().iter().map(|b| b ^ stream));
        d.extend(body.iter().map(|b| b ^ stream));
        d
    }

    /// The sealing reading of every datagram `sealed_with` writes.
    const AT: Instant = Instant::from_millis(5);

    #[test]
    fn a_keystream_sealed_twice_under_one_counter_is_a_reused_nonce() {
        let mut o = ProbeOracle::default();
        let mut one = [0u8; BODY_ID_LEN];
        write_body_id(&mut one, 1, 2, 1);
        let mut two = [0u8; BODY_ID_LEN];
        write_body_id(&mut two, 1, 2, 2);
        assert_eq!(
            o.sealed(1, 2, 1, &sealed_with(5, 0x11, &one), &one, AT),
            Ok(())
        );
        // Another key under the same counter (a new session that reuses the
        // index), or the same key under another counter: fine.
        assert_eq!(
            o.sealed(1, 2, 2, &sealed_with(5, 0x22, &two), &two, AT),
            Ok(())
        );
        assert_eq!(
            o.sealed(1, 2, 3, &sealed_with(6, 0x11, &two), &two, AT),
            Ok(())
        );
        assert_eq!(
            o.sealed(1, 2, 4, &sealed_with(5, 0x11, &two), &two, AT),
            Err(Violation::NonceReused {
                from: 1,
                to: 2,
                counter: 5
            })
        );
    }

    #[test]
    fn a_keepalive_under_a_used_key_and_counter_shows_through_its_time() {
        let mut o = ProbeOracle::default();
        let at = Instant::from_millis(1234);
        // Plaintext: the time alone; the keystream of 0x33 under counter 9.
        let keepalive = |stream: u8| {
            let mut d = vec![0u8; PLAIN_AT];
            d[19] = 9;
            d.extend(at.as_nanos().to_be_bytes().iter().map(|b| b ^ stream));
            d.extend([0u8; 16]);
            d
        };
        assert_eq!(o.sealed_at(1, 2, &keepalive(0x33), at), Ok(()));
        assert_eq!(o.sealed_at(1, 2, &keepalive(0x44), at), Ok(()));
        assert!(matches!(
            o.sealed_at(1, 2, &keepalive(0x33), at),
            Err(Violation::NonceReused { counter: 9, .. })
        ));
    }
}
