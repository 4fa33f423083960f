//! The probe path (`docs/PROTOCOL.md` §5): sealing a probe for a peer and
//! opening one in place, with everything a validated probe proves.

use rand_core::CryptoRng;

use super::{Endpoint, peer_at, reject, slot_of};
use crate::aead::TAG_LEN;
use crate::error::{RecvError, RejectReason, SealError};
use crate::event::{Event, LinkDirection};
use crate::ids::PeerId;
use crate::peer::Opened;
use crate::schedule::RotationLimits;
use crate::session::{COUNTER_LIMIT, OpenError};
use crate::table;
use crate::table::PeerTable;
use crate::time::Instant;
use crate::wire::{BufferTooSmall, PROBE_OVERHEAD, PROBE_TIME_LEN, ProbeKind, SealedProbe};

/// The largest probe body (a probe must fit in one UDP datagram).
pub const MAX_BODY_LEN: usize = 65_000;

/// What a valid datagram was.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received<'a> {
    /// A probe or echo from `peer`, authenticated; `body` is its decrypted
    /// content, inside the caller's buffer.
    Probe {
        /// Who sent it.
        peer: PeerId,
        /// [`ProbeKind::Probe`] or [`ProbeKind::Echo`].
        kind: ProbeKind,
        /// The body.
        body: &'a [u8],
    },
    /// A keepalive from `peer`, authenticated and consumed by the crate (it
    /// confirms a new session and counts as a validated probe).
    Keepalive {
        /// Who sent it.
        peer: PeerId,
    },
    /// A handshake message from `peer`, consumed by the crate. Call
    /// [`Endpoint::poll_transmit`]: there may be an answer to send.
    Handshake {
        /// Who sent it.
        peer: PeerId,
    },
}

impl Received<'_> {
    /// The peer the datagram came from.
    pub fn peer(&self) -> PeerId {
        match *self {
            Received::Probe { peer, .. }
            | Received::Keepalive { peer }
            | Received::Handshake { peer } => peer,
        }
    }
}

impl<R: CryptoRng, T: PeerTable> Endpoint<R, T> {
    /// Seals a probe (or echo) for `peer` into `out` and returns its length:
    /// `body.len() + `[`PROBE_OVERHEAD`]. Allocates nothing.
    ///
    /// # Errors
    /// See [`SealError`]; nothing is written or consumed on error.
    pub fn seal(
        &mut self,
        now: Instant,
        peer: PeerId,
        kind: ProbeKind,
        body: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SealError> {
        if kind == ProbeKind::Keepalive {
            return Err(SealError::ReservedKind);
        }
        self.observe(now);
        if body.len() > MAX_BODY_LEN {
            return Err(SealError::BodyTooLong);
        }
        let slot = table::resolve(&self.peers, peer)?;
        self.seal_at(slot, kind, body, now, out)
    }

    /// [`Self::seal`] for the peer in `slot`, once the arguments are
    /// checked; the probe schedule's probes and echoes are sealed here too.
    pub(super) fn seal_at(
        &mut self,
        slot: usize,
        kind: ProbeKind,
        body: &[u8],
        now: Instant,
        out: &mut [u8],
    ) -> Result<usize, SealError> {
        let c = self.config;
        let p = peer_at(&mut self.peers, slot).ok_or(SealError::UnknownPeer)?;
        let peer = p.id;
        let needed = body.len() + PROBE_OVERHEAD;
        let (ack_index, ack_counter) = p.sessions.ack();
        let Some(s) = p.sessions.current_mut() else {
            return Err(SealError::NoSession);
        };
        let out = out
            .get_mut(..needed)
            .ok_or(SealError::BufferTooSmall(BufferTooSmall {
                required_size: needed,
            }))?;
        if s.send_counter() >= COUNTER_LIMIT {
            return Err(SealError::NoSession);
        }
        // Rotation is checked where it is used (§5.3): lazily, at seal time.
        let rotated = s.maybe_rotate(now, RotationLimits::of(&c));
        SealedProbe::body_mut(out).copy_from_slice(body);
        let Some(counter) = s.seal(kind, ack_index, ack_counter, now, out) else {
            return Err(SealError::NoSession);
        };
        let index = s.local_index;
        p.sealed.record(index, counter, now, c.stale_after());
        p.counters.probes_sealed += 1;
        p.arm_start_handshake(&c);
        self.sync(slot);
        self.stats.probes_sealed += 1;
        if let Some(epoch) = rotated {
            self.events.push(Event::EpochRotated {
                peer,
                direction: LinkDirection::Outbound,
                epoch,
            });
        }
        Ok(needed)
    }

    /// Looks up, without changing anything, the session state a datagram
    /// of probe layout would be opened with: the peer, the session, its
    /// epoch key and replay window (§7.5). Returns whether it would reach
    /// the AEAD.
    pub(super) fn warm(&self, now: Instant, datagram: &[u8]) -> bool {
        let Ok(probe) = SealedProbe::parse(datagram) else {
            return false;
        };
        let hdr = probe.header;
        crate::table::get(&self.peers, slot_of(hdr.receiver_index))
            .and_then(|p| {
                let i = p.sessions.find(hdr.receiver_index)?;
                p.sessions.slots[i].as_ref()
            })
            .is_some_and(|s| s.would_open(now, hdr.epoch, hdr.counter))
    }

    /// A datagram of probe layout (§5.4).
    pub(super) fn open_probe<'b>(
        &mut self,
        now: Instant,
        probe: SealedProbe,
        datagram: &'b mut [u8],
    ) -> Result<Received<'b>, RecvError> {
        let hdr = probe.header;
        let slot = slot_of(hdr.receiver_index);
        let c = &self.config;
        let p = peer_at(&mut self.peers, slot).ok_or(reject(RejectReason::UnknownSession, None))?;
        let id = p.id;
        let si = p
            .sessions
            .find(hdr.receiver_index)
            .filter(|&i| {
                p.sessions.slots[i]
                    .as_ref()
                    .is_some_and(|s| s.alive(now, c))
            })
            .ok_or(reject(RejectReason::UnknownSession, None))?;
        if hdr.counter >= COUNTER_LIMIT {
            return Err(reject(RejectReason::Replay, Some(id)));
        }
        let Some(session) = p.sessions.slots[si].as_mut() else {
            return Err(reject(RejectReason::UnknownSession, None));
        };
        let (head, sealed) = probe.split(datagram);
        let advanced = session
            .open(now, hdr.epoch, hdr.counter, head, sealed, c.epoch_grace())
            .map_err(|e| {
                let reason = match e {
                    OpenError::EpochOutsideWindow => RejectReason::EpochOutsideWindow,
                    OpenError::Replay => RejectReason::Replay,
                    OpenError::BadTag => RejectReason::BadTag,
                };
                reject(reason, Some(id))
            })?;
        self.stats.probes_opened += 1;
        let plain = sealed.len().saturating_sub(TAG_LEN);
        let (time, body) = sealed[..plain].split_at_mut(PROBE_TIME_LEN);
        let mut sent = [0u8; PROBE_TIME_LEN];
        sent.copy_from_slice(time);
        let opened = Opened {
            slot: si,
            header: &hdr,
            advanced,
            sent: u64::from_be_bytes(sent),
        };
        let v = p.validated(id, opened, now, c, &mut self.events);
        if v.answer {
            p.tx.push(crate::peer::TxQueue::ANSWER);
        }
        // The probe schedule answers probes and times its own (§7.6).
        if p.schedule.enabled {
            match hdr.kind {
                ProbeKind::Probe => {
                    p.schedule.heard_probe(body);
                    p.tx.push(crate::peer::TxQueue::ECHO);
                }
                ProbeKind::Echo => p.schedule.heard_echo(body, now),
                ProbeKind::Keepalive => {}
            }
        }
        p.rearm_after_probe(si, v.quiet, c);
        self.sync(slot);
        if hdr.kind == ProbeKind::Keepalive {
            return Ok(Received::Keepalive { peer: id });
        }
        Ok(Received::Probe {
            peer: id,
            kind: hdr.kind,
            body,
        })
    }
}
