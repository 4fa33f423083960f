//! Transmission (`docs/PROTOCOL.md` §7): what each peer has queued, and
//! writing it into the caller's buffer.

use rand_core::CryptoRng;

use super::{Endpoint, peer_at};
use crate::config::Config;
use crate::error::SealError;
use crate::ids::PeerId;
use crate::mac::ChallengeSecret;
use crate::peer::schedule::ECHO_BODY_LEN;
use crate::peer::{Peer, TxQueue};
use crate::table::{self, PeerTable};
use crate::time::Instant;
use crate::wire::{
    BufferTooSmall, CHALLENGE_LEN, Challenge, INITIATION_LEN, MAC1_LEN, PROBE_OVERHEAD, ProbeKind,
    RESPONSE_LEN,
};

/// What [`Endpoint::poll_transmit`] wrote.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum TransmitKind {
    /// A handshake initiation (first or retransmitted).
    Initiation,
    /// A handshake response (first or retransmitted).
    Response,
    /// A keepalive probe confirming a new session to its responder.
    Keepalive,
    /// A challenge to an initiation that did not prove it is new (§4.5).
    Challenge,
    /// A probe of the probe schedule (§7.6).
    Probe,
    /// The probe schedule's echo of the peer's latest probe (§7.6).
    Echo,
}

/// A datagram to send to `peer`, written at the start of the caller's
/// buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Transmit {
    /// The destination.
    pub peer: PeerId,
    /// Bytes written.
    pub len: usize,
    /// What it is.
    pub kind: TransmitKind,
}

/// Writes the next datagram `p` has queued into `buf`: `None` if what was
/// queued can no longer be sent.
fn write_next(
    p: &mut Peer,
    buf: &mut [u8],
    now: Instant,
    c: &Config,
    secret: &ChallengeSecret,
) -> Result<Option<(usize, TransmitKind)>, BufferTooSmall> {
    fn room(buf: &mut [u8], needed: usize) -> Result<&mut [u8], BufferTooSmall> {
        buf.get_mut(..needed).ok_or(BufferTooSmall {
            required_size: needed,
        })
    }
    if p.tx.has(TxQueue::CONFIRM | TxQueue::ANSWER) {
        let out = room(buf, PROBE_OVERHEAD)?;
        // A confirmation request goes under the session awaiting the
        // peer's confirmation (§4.3), an answer under the current one
        // (§4.4).
        let under = if p.tx.take(TxQueue::CONFIRM) {
            p.sessions.unconfirmed_slot().or(p.sessions.current)
        } else {
            p.tx.take(TxQueue::ANSWER);
            p.sessions.current
        };
        let (ack_index, ack_counter) = p.sessions.ack();
        let sealed = under
            .and_then(|i| p.sessions.slots[i].as_mut())
            .and_then(|s| {
                let counter = s.seal(ProbeKind::Keepalive, ack_index, ack_counter, now, out)?;
                Some((s.local_index, counter))
            });
        let Some((index, counter)) = sealed else {
            return Ok(None);
        };
        p.sealed.record(index, counter, now, c.stale_after());
        p.counters.probes_sealed += 1;
        return Ok(Some((PROBE_OVERHEAD, TransmitKind::Keepalive)));
    }
    if p.tx.has(TxQueue::CHALLENGE) {
        let out = room(buf, CHALLENGE_LEN)?;
        p.tx.take(TxQueue::CHALLENGE);
        // Our current challenge (§4.5): the same until the peer answers it.
        let number = p.handshake.challenges_answered.saturating_add(1);
        let msg = Challenge {
            receiver_index: p.handshake.challenge_to,
            number,
            value: secret.value(p.key_id, number),
            mac: [0; MAC1_LEN],
        };
        // The buffer is exactly a challenge's length.
        let _ = msg.emit(out);
        p.macs.seal_challenge(out);
        return Ok(Some((CHALLENGE_LEN, TransmitKind::Challenge)));
    }
    if p.tx.has(TxQueue::RESPONSE) {
        let out = room(buf, RESPONSE_LEN)?;
        p.tx.take(TxQueue::RESPONSE);
        return Ok(p.handshake.cached_response.as_ref().map(|r| {
            out.copy_from_slice(&r.message);
            (RESPONSE_LEN, TransmitKind::Response)
        }));
    }
    let out = room(buf, INITIATION_LEN)?;
    p.tx.take(TxQueue::INITIATION);
    Ok(p.handshake.in_flight.as_ref().map(|f| {
        out.copy_from_slice(&f.message);
        (INITIATION_LEN, TransmitKind::Initiation)
    }))
}

impl<R: CryptoRng, T: PeerTable> Endpoint<R, T> {
    /// Writes the next handshake message or keepalive to send into `buf`.
    /// Call until it returns `Ok(None)` after every other call.
    ///
    /// # Errors
    /// [`BufferTooSmall`] with the size needed; the datagram stays queued.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Result<Option<Transmit>, BufferTooSmall> {
        self.observe(now);
        let c = self.config;
        // The transmit queue (§7.4): only peers with something queued.
        while let Some(slot) = self.index.first_queued() {
            match self.write_scheduled(slot, now, buf)? {
                Some(Some(t)) => return Ok(Some(t)),
                Some(None) => continue,
                None => {}
            }
            let written = match peer_at(&mut self.peers, slot) {
                Some(p) => {
                    let written = write_next(p, buf, now, &c, &self.challenge)?;
                    if written.is_some_and(|(_, kind)| kind == TransmitKind::Keepalive) {
                        // A keepalive took a counter, which a rekey may be
                        // due on.
                        p.arm_start_handshake(&c);
                        self.stats.probes_sealed += 1;
                    }
                    written
                }
                None => None,
            };
            self.sync(slot);
            if let Some((len, kind)) = written {
                return Ok(Some(Transmit {
                    peer: table::id(&self.peers, slot),
                    len,
                    kind,
                }));
            }
        }
        debug_assert!(
            table::configured(&self.peers).all(|(_, p)| p.tx.is_empty()),
            "a peer has a datagram queued outside the transmit queue"
        );
        Ok(None)
    }

    /// The probe schedule's echo, else its probe (§7.6), once nothing of
    /// the handshake is queued for the peer in `slot`: sealed as the
    /// caller's own would be. `None` if neither is queued (or something
    /// else is); `Some(None)` for one that could no longer be sent (no
    /// session), dropped.
    fn write_scheduled(
        &mut self,
        slot: usize,
        now: Instant,
        buf: &mut [u8],
    ) -> Result<Option<Option<Transmit>>, BufferTooSmall> {
        let Some(p) = peer_at(&mut self.peers, slot) else {
            return Ok(None);
        };
        if p.tx.has(!(TxQueue::PROBE | TxQueue::ECHO)) {
            return Ok(None);
        }
        let mut body = [0u8; ECHO_BODY_LEN];
        let (bit, kind, len) = if p.tx.has(TxQueue::ECHO) {
            let echo = p.schedule.echo_body();
            body[..echo.len()].copy_from_slice(echo);
            (TxQueue::ECHO, ProbeKind::Echo, echo.len())
        } else if p.tx.has(TxQueue::PROBE) {
            let probe = p.schedule.next_body();
            body[..probe.len()].copy_from_slice(&probe);
            (TxQueue::PROBE, ProbeKind::Probe, probe.len())
        } else {
            return Ok(None);
        };
        let sealed = self.seal_at(slot, kind, &body[..len], now, buf);
        if let Err(SealError::BufferTooSmall(b)) = sealed {
            return Err(b);
        }
        let Some(p) = peer_at(&mut self.peers, slot) else {
            return Ok(Some(None));
        };
        p.tx.take(bit);
        if kind == ProbeKind::Probe && sealed.is_ok() {
            p.schedule.sealed_probe(now);
        }
        self.sync(slot);
        Ok(Some(sealed.ok().map(|len| Transmit {
            peer: table::id(&self.peers, slot),
            len,
            kind: if kind == ProbeKind::Echo {
                TransmitKind::Echo
            } else {
                TransmitKind::Probe
            },
        })))
    }
}
