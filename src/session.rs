//! One session with a peer: the keys of both directions, the replay window,
//! and what the peer has acknowledged (`docs/PROTOCOL.md` §5, §6).

use core::time::Duration;

use crate::aead::TAG_LEN;
use crate::config::Config;
use crate::ids::{Epoch, SessionIndex};
use crate::noise::{Direction, TransportKeys};
use crate::replay::ReplayWindow;
use crate::schedule::{RecvSchedule, RotationLimits, SendSchedule, WindowSlot};
use crate::time::Instant;
use crate::wire::{PROBE_HEADER_LEN, PROBE_OVERHEAD, PROBE_TIME_LEN, ProbeHeader, ProbeKind};

/// A sender refuses to use counters at or above this, and a receiver refuses
/// them, so a counter never wraps under one key (`docs/PROTOCOL.md` §5.1).
/// A new handshake starts well before, at 2^64 - 2^32.
pub const COUNTER_LIMIT: u64 = u64::MAX - (1 << 16);
/// A new handshake is wanted once a session's counter reaches this.
pub const REKEY_AFTER_COUNTER: u64 = u64::MAX - (1 << 32);

/// How far apart the rates of two endpoints' clocks may be, in parts per
/// million (`docs/PROTOCOL.md` §6.2): 2 %. Dating the peer's probes allows
/// its clock to fall behind ours by this much; an attacker can stretch
/// fresh time by no more than this fraction of what it holds.
pub const MAX_CLOCK_DRIFT_PPM: u64 = 20_000;

/// Which side of the handshake set a session up.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Role {
    /// This endpoint sent the initiation.
    Initiator,
    /// This endpoint answered it.
    Responder,
}

/// The order of sessions both sides agree on (§4.4): the generation, then
/// whether the initiator holds the larger static key, except at the
/// largest generation, where ranks tie whoever initiated: a peer that
/// pinned the generation there (misusing its own key) must not lock out
/// the sessions the other side initiates, which could then never outrank
/// its own.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Rank {
    pub(crate) generation: u64,
    pub(crate) initiator_larger: bool,
}

impl Rank {
    fn key(self) -> (u64, bool) {
        (
            self.generation,
            self.initiator_larger && self.generation != u64::MAX,
        )
    }
}

impl PartialEq for Rank {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Rank {}

#[cfg(feature = "model")]
impl core::hash::Hash for Rank {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        self.key().hash(h);
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl Session {
    /// Whether this session should be used instead of `other` (§4.4): it
    /// ranks higher, or ranks the same and is newer. Ranks tie only when a
    /// peer misuses its own key (a generation pinned at its maximum); the
    /// newer session is then the one it holds.
    pub(crate) fn outranks(&self, other: &Session) -> bool {
        (self.rank, self.created_at) > (other.rank, other.created_at)
    }
}

/// Why a probe did not open.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum OpenError {
    EpochOutsideWindow,
    Replay,
    BadTag,
}

/// A difference of two clock readings in nanoseconds, which needs 65 bits:
/// sign and magnitude in 9 bytes rather than an `i128` (16, and 16-byte
/// aligned), saturating at ±`u64::MAX`.
#[derive(Copy, Clone, Debug)]
#[cfg_attr(feature = "model", derive(Hash))]
struct Offset {
    negative: bool,
    magnitude: u64,
}

impl Offset {
    fn new(v: i128) -> Self {
        Offset {
            negative: v < 0,
            magnitude: u64::try_from(v.unsigned_abs()).unwrap_or(u64::MAX),
        }
    }

    fn get(self) -> i128 {
        let m = i128::from(self.magnitude);
        if self.negative { -m } else { m }
    }
}

#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct Session {
    pub(crate) local_index: SessionIndex,
    pub(crate) remote_index: SessionIndex,
    pub(crate) role: Role,
    pub(crate) rank: Rank,
    pub(crate) created_at: Instant,
    /// False for a responder's session until the initiator proves it holds
    /// it with a valid probe.
    pub(crate) proven: bool,
    /// Set once the session is superseded and the peer is known to have
    /// moved on: the session keeps validating until then.
    pub(crate) grace_until: Option<Instant>,
    send: SendSchedule,
    send_counter: u64,
    /// One more than the highest counter of ours the peer acknowledged.
    peer_acked: u64,
    recv: RecvSchedule,
    replay: ReplayWindow,
    /// The least (our arrival − the peer's send time) seen, in nanoseconds
    /// across the two clocks, and when it was last updated: the fastest
    /// delivery so far, against which a probe's lateness is measured
    /// (§6.2).
    fastest: Option<(Offset, Instant)>,
    /// We sealed probes in it before our clock went back (§7): the peer
    /// dates our probes in it against the old reading, so a handshake
    /// wanted since then is not over when it is confirmed or established.
    pub(crate) stamped_before_step: bool,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        keys: &TransportKeys,
        role: Role,
        rank: Rank,
        local_index: SessionIndex,
        remote_index: SessionIndex,
        now: Instant,
    ) -> Self {
        let (send_dir, recv_dir) = match role {
            Role::Initiator => (
                Direction::InitiatorToResponder,
                Direction::ResponderToInitiator,
            ),
            Role::Responder => (
                Direction::ResponderToInitiator,
                Direction::InitiatorToResponder,
            ),
        };
        Session {
            local_index,
            remote_index,
            role,
            rank,
            created_at: now,
            proven: role == Role::Initiator,
            grace_until: None,
            send: SendSchedule::new(keys.key(send_dir), now),
            send_counter: 0,
            peer_acked: 0,
            recv: RecvSchedule::new(keys.key(recv_dir)),
            replay: ReplayWindow::new(),
            fastest: None,
            stamped_before_step: false,
        }
    }

    /// The peer holds this session: a valid probe opened under it. A
    /// responder's session counts its age from now, not from the
    /// initiation it answered (§4.4): the initiator may have read the
    /// cached response up to `handshake_max_age` later, and its own
    /// session is only as old as that.
    pub(crate) fn prove(&mut self, now: Instant) {
        if !self.proven {
            self.proven = true;
            self.created_at = now;
        }
    }

    /// The caller's clock went back to `now` (§7): the session is no older
    /// than now, and its grace ends no later than a whole grace from now.
    pub(crate) fn clamp_time(&mut self, now: Instant, c: &Config) {
        self.stamped_before_step |= self.send_counter > 0;
        self.created_at = self.created_at.min(now);
        if let Some(g) = &mut self.grace_until {
            *g = (*g).min(now.saturating_add(c.epoch_grace()));
        }
        self.send.clamp_time(now);
        self.recv.clamp_time(now, c.epoch_grace());
    }

    /// When the session stops validating: its age limit (`reject_after_time`
    /// once proven, `handshake_max_age` while pending) or its grace end.
    fn end(&self, c: &Config) -> Instant {
        let limit = if self.proven {
            c.reject_after_time()
        } else {
            c.handshake_max_age()
        };
        let end = self.created_at + limit;
        self.grace_until.map_or(end, |g| end.min(g))
    }

    /// Whether the session may still validate probes at `now`.
    pub(crate) fn alive(&self, now: Instant, c: &Config) -> bool {
        now < self.end(c)
    }

    /// When this session dies or its previous epoch key is erased.
    pub(crate) fn next_deadline(&self, c: &Config) -> Instant {
        let end = self.end(c);
        self.recv.next_deadline().map_or(end, |e| end.min(e))
    }

    pub(crate) fn expire_keys(&mut self, now: Instant) {
        self.recv.expire(now);
    }

    pub(crate) fn send_epoch(&self) -> Epoch {
        self.send.epoch()
    }

    pub(crate) fn recv_epoch(&self) -> Epoch {
        self.recv.epoch()
    }

    pub(crate) fn send_counter(&self) -> u64 {
        self.send_counter
    }

    #[cfg(test)]
    pub(crate) fn send_key(&self) -> &crate::aead::EpochKey {
        self.send.key()
    }

    #[cfg(test)]
    pub(crate) fn set_send_counter(&mut self, counter: u64) {
        self.send_counter = counter;
    }

    /// One more than the highest counter validated from the peer, or zero.
    pub(crate) fn recv_next(&self) -> u64 {
        self.replay.next_expected()
    }

    /// Dates a probe of the peer's that the peer stamped `sent` (its own
    /// clock) and we validated at `now` (§6.2): the instant, on our clock,
    /// before which it was provably not sent. Its lateness is how much
    /// slower it came than the fastest delivery of this session, which may
    /// itself drift up by [`MAX_CLOCK_DRIFT_PPM`] of the time since; a
    /// probe held back by anyone is dated when it was sent, not when it
    /// arrived.
    pub(crate) fn date_probe(&mut self, sent: u64, now: Instant) -> Instant {
        // Exact for any two readings: the difference of two u64 clocks
        // needs 65 bits, so it is never saturated (a saturated delay would
        // make every probe as fast as the fastest, dated on arrival).
        let delay = i128::from(now.as_nanos()) - i128::from(sent);
        let fastest = match self.fastest {
            None => delay,
            Some((f, at)) => {
                let since = crate::time::duration_nanos(now.saturating_duration_since(at));
                let allowance = i128::from(since) * i128::from(MAX_CLOCK_DRIFT_PPM) / 1_000_000;
                delay.min(f.get() + allowance)
            }
        };
        self.fastest = Some((Offset::new(fastest), now));
        let late = u64::try_from(delay - fastest).unwrap_or(u64::MAX);
        Instant::from_nanos(now.as_nanos().saturating_sub(late))
    }

    /// Checks a probe and, only if it authenticates, decrypts `sealed`
    /// (ciphertext, then tag) in place and commits the replay bit and the
    /// epoch window (§5.4). Returns whether the receive epoch advanced.
    /// Whether a probe for (`epoch`, `counter`) would reach the AEAD, read
    /// without changing anything: the batch receive path runs it over a
    /// whole batch first so that the cache misses of many sessions
    /// overlap (§7.5).
    pub(crate) fn would_open(&self, now: Instant, epoch: Epoch, counter: u64) -> bool {
        self.recv.key_for(epoch, now).is_some() && self.replay.check(counter).is_ok()
    }

    pub(crate) fn open(
        &mut self,
        now: Instant,
        epoch: Epoch,
        counter: u64,
        ad: &[u8],
        sealed: &mut [u8],
        grace: Duration,
    ) -> Result<bool, OpenError> {
        let (slot, key) = self
            .recv
            .key_for(epoch, now)
            .ok_or(OpenError::EpochOutsideWindow)?;
        self.replay.check(counter).map_err(|_| OpenError::Replay)?;
        key.open(counter, ad, sealed)
            .map_err(|_| OpenError::BadTag)?;
        self.replay.commit(counter);
        if slot == WindowSlot::Next {
            self.recv.advance(now, grace);
            return Ok(true);
        }
        Ok(false)
    }

    /// Records an acknowledgement carried by a valid probe. Returns true if
    /// it is new evidence that the peer validated our probes.
    pub(crate) fn acknowledge(&mut self, ack_counter: u64) -> bool {
        if ack_counter > self.peer_acked && ack_counter <= self.send_counter {
            self.peer_acked = ack_counter;
            return true;
        }
        false
    }

    /// Rotates the send epoch if due (§5.3). Returns the new epoch if it did.
    pub(crate) fn maybe_rotate(&mut self, now: Instant, limits: RotationLimits) -> Option<Epoch> {
        if self
            .send
            .rotation_due(now, self.send_counter, self.peer_acked, limits)
        {
            self.send.rotate(now, self.send_counter);
            return Some(self.send.epoch());
        }
        None
    }

    /// Seals a probe in place. `datagram` is the whole probe: 32 bytes of
    /// room for the header, 8 for the send time, the body in clear, 16 bytes
    /// of room for the tag. Takes the next counter; `None`, with nothing
    /// written, once the counter is exhausted.
    pub(crate) fn seal(
        &mut self,
        kind: ProbeKind,
        ack_index: SessionIndex,
        ack_counter: u64,
        now: Instant,
        datagram: &mut [u8],
    ) -> Option<u64> {
        if self.send_counter >= COUNTER_LIMIT || datagram.len() < PROBE_OVERHEAD {
            return None;
        }
        let counter = self.send_counter;
        self.send_counter += 1;
        let header = ProbeHeader {
            kind,
            receiver_index: self.remote_index,
            epoch: self.send.epoch(),
            counter,
            ack_index,
            ack_counter,
        };
        let (head, rest) = datagram.split_at_mut(PROBE_HEADER_LEN);
        header.emit(head).ok()?;
        let (sealed, tag_out) = rest.split_at_mut(rest.len() - TAG_LEN);
        sealed[..PROBE_TIME_LEN].copy_from_slice(&now.as_nanos().to_be_bytes());
        let tag = self.send.key().seal(counter, head, sealed);
        tag_out.copy_from_slice(&tag);
        Some(counter)
    }
}

#[cfg(test)]
mod tests;
