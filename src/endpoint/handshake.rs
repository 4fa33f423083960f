//! The handshake (`docs/PROTOCOL.md` §4): writing initiations at backoff,
//! answering them, and reading responses.

use core::time::Duration;

use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;

use super::{Endpoint, INDEX_TAG_BITS, peer_at, reject, slot_of};
use crate::config::Config;
use crate::error::{RecvError, RejectReason};
use crate::ids::SessionIndex;
use crate::mac::NO_CHALLENGE;
use crate::noise::{Initiator, Responder};
use crate::peer::handshake::{CachedResponse, InFlight};
use crate::peer::timers::Timer;
use crate::peer::{Peer, TxQueue};
use crate::session::{Rank, Role, Session};
use crate::table;
use crate::table::PeerTable;
use crate::time::Instant;
use crate::wire::{
    Challenge, INITIATION_EPHEMERAL_OFFSET, INITIATION_LEN, INITIATION_NOISE_LEN,
    INITIATION_PAYLOAD_LEN, Initiation, InitiationPayload, MAC1_OFFSET, RESPONSE_LEN,
    RESPONSE_NOISE_LEN, RESPONSE_PAYLOAD_LEN, Response, ResponsePayload,
};

use super::probe::Received;

/// A fresh local index for a session with the peer in `slot`: the slot in
/// the high bits, a random nonzero tag unused by the peer in the low bits
/// (a tag in use moves to the next ones up, in turn, wrapping; §2.6).
fn alloc_index<R: CryptoRng>(rng: &mut R, slot: usize, p: &Peer) -> SessionIndex {
    let high = u32::try_from(slot).unwrap_or(0) << INDEX_TAG_BITS;
    let mask = (1u32 << INDEX_TAG_BITS) - 1;
    let mut tag = rng.next_u32() & mask;
    // At most four indexes are in use, so this ends within five steps.
    loop {
        let candidate = SessionIndex(high | tag.max(1));
        if !p.index_in_use(candidate) {
            return candidate;
        }
        tag = (tag + 1) & mask;
    }
}

/// The retry interval after `attempts` initiations (§4.3): doubling from
/// `handshake_retry_initial`, capped at `handshake_retry_max`, shortened by
/// up to the jitter percentage.
pub(super) fn backoff(c: &Config, attempts: u32, random: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(32);
    let base = c
        .handshake_retry_initial()
        .saturating_mul(1u32 << doublings.min(31))
        .min(c.handshake_retry_max());
    let nanos = crate::time::duration_nanos(base);
    let jitter_max = nanos / 100 * u64::from(c.handshake_retry_jitter_percent());
    // jitter_max * random / 2^32 < jitter_max, so it fits in u64.
    let jitter = u64::try_from((u128::from(jitter_max) * u128::from(random)) >> 32).unwrap_or(0);
    Duration::from_nanos(nanos - jitter)
}

/// The initiator's ephemeral public key in a whole initiation datagram.
fn initiation_ephemeral(datagram: &[u8]) -> &[u8] {
    &datagram[INITIATION_EPHEMERAL_OFFSET..INITIATION_EPHEMERAL_OFFSET + 32]
}

/// SHA-256 of an initiation up to its MACs: the same for every copy of
/// one initiation, whatever challenge its mac2 binds (§4.2, §4.5).
fn initiation_fingerprint(datagram: &[u8]) -> [u8; 32] {
    crate::primitives::sha256(&[&datagram[..MAC1_OFFSET]])
}

impl<R: CryptoRng, T: PeerTable> Endpoint<R, T> {
    /// Sends the in-flight initiation again, or a new one, when the retry
    /// timer is due (§4.3). Never gives up.
    pub(super) fn maybe_retry(&mut self, slot: usize, now: Instant) {
        let c = self.config;
        let Some(p) = peer_at(&mut self.peers, slot) else {
            return;
        };
        let due = p.timers.get(Timer::Retry).is_some_and(|t| now >= t);
        if p.handshake.want.is_none() || !due {
            return;
        }
        // A response consumes its initiation (§4.3): after one, the next
        // retry is a new initiation.
        let stale_flight = p
            .handshake
            .in_flight
            .as_ref()
            .is_none_or(|f| now >= f.created_at + c.handshake_max_age());
        if stale_flight {
            p.handshake.in_flight = None;
            let sender_index = alloc_index(&mut self.rng, slot, p);
            let generation = p.handshake.next_generation();
            let payload = InitiationPayload {
                sender_index,
                generation,
            }
            .to_bytes();
            let mut msg = Initiation {
                sender_index,
                key_id: self.local.public().key_id(),
                noise: [0; INITIATION_NOISE_LEN],
                mac1: [0; 16],
                mac2: [0; 16],
            };
            let ephemeral = StaticSecret::random_from_rng(&mut self.rng);
            let written = Initiator::write_initiation(
                self.prologue.as_bytes(),
                &self.local,
                &p.public,
                &p.ss,
                ephemeral,
                &payload,
                &mut msg.noise,
            );
            self.stats.dh_operations += Initiator::WRITE_INITIATION_DH;
            // Only a low-order ephemeral could fail, and it cannot be
            // generated; if it ever is, the next retry draws a new one.
            if let Ok(noise) = written {
                let mut bytes = [0u8; INITIATION_LEN];
                if msg.emit(&mut bytes).is_ok() {
                    // Bound to the peer's latest challenge, if we hold one
                    // (§4.5), so that it is read at once.
                    let held = p.handshake.held.take();
                    let binding = held.unwrap_or(NO_CHALLENGE);
                    p.macs.seal(&mut bytes, &binding);
                    p.handshake.in_flight = Some(InFlight {
                        noise,
                        sender_index,
                        generation,
                        message: bytes,
                        created_at: now,
                        first_sent_at: now,
                        bound: held.is_some(),
                    });
                }
            }
        } else if let Some(f) = &mut p.handshake.in_flight
            && f.bound
        {
            // A retry goes unbound (§4.5): if the responder read the bound
            // one, this is a copy and earns the cached response; if not, it
            // asks for the challenge as it is now (the one we bound may be
            // stale: the responder restarted), and the answer is bound and
            // sent at once.
            p.macs.rebind(&mut f.message, &NO_CHALLENGE);
            f.bound = false;
        }
        let Some(want) = &mut p.handshake.want else {
            return;
        };
        want.attempts = want.attempts.saturating_add(1);
        let delay = backoff(&c, want.attempts, self.rng.next_u32());
        p.timers.set(Timer::Retry, Some(now + delay));
        if p.handshake.in_flight.is_some() {
            p.tx.push(TxQueue::INITIATION);
        }
    }

    /// An initiation whose mac1 is ours (§4.2).
    pub(super) fn handle_initiation(
        &mut self,
        now: Instant,
        msg: &Initiation,
        datagram: &[u8],
    ) -> Result<Received<'static>, RecvError> {
        // The key-id index (§7.4): a few probes, however many peers.
        let slot = self
            .index
            .find_key(&self.peers, msg.key_id)
            .ok_or(reject(RejectReason::UnknownPeer, None))?;
        let id = table::id(&self.peers, slot);
        let c = self.config;
        let Some(p) = peer_at(&mut self.peers, slot) else {
            return Err(reject(RejectReason::UnknownPeer, None));
        };
        // Copies are recognised by the hash of the message up to its MACs
        // (header, key id, Noise message), so a copy with any of those
        // altered is processed (and refused) as new, and a copy bound to
        // another challenge is still a copy: the initiator retrying.
        let fingerprint = initiation_fingerprint(datagram);
        let answered = p.handshake.challenges_answered;
        let value = |n: u64| self.challenge.value(p.key_id, n);
        if p.handshake.last_initiation == Some(fingerprint) {
            // A copy carries the binding of the one we read, none (a retry
            // asking for a new challenge), or our current challenge.
            let spent = p.macs.check_mac2(datagram, &value(answered));
            let authentic = spent
                || [NO_CHALLENGE, value(answered.saturating_add(1))]
                    .iter()
                    .any(|b| p.macs.check_mac2(datagram, b));
            if !authentic {
                return Err(reject(RejectReason::BadMac, Some(id)));
            }
            // A retransmission (or replay) of the initiation we last
            // answered: resend the same response while it is pending, at no
            // Diffie-Hellman cost (§4.3).
            let cached = p
                .handshake
                .cached_response
                .as_ref()
                .is_some_and(|r| r.initiation == fingerprint);
            if cached {
                // The initiator may read this answer now, on a clock that
                // may lag ours (a suspended host): the session it answers
                // for, and the cache, live `handshake_max_age` from this
                // sending, not from the first, so the session the initiator
                // makes from it is still held when its proof arrives (§4.3).
                if let Some(s) = p
                    .sessions
                    .slots
                    .iter_mut()
                    .flatten()
                    .find(|s| !s.proven && s.remote_index == msg.sender_index)
                {
                    s.created_at = now;
                }
                p.timers
                    .set(Timer::CachedResponse, Some(now + c.handshake_max_age()));
                p.tx.push(TxQueue::RESPONSE);
                return Ok(Received::Handshake { peer: id });
            }
            // The answer is gone (its life ran out on our clock, which may
            // run ahead of the initiator's). The message we read, bound to
            // the challenge it spent, is a replay; an unbound copy earns a
            // challenge and one bound to it is read again, as a new
            // initiation would be (§4.3): the initiator may still be waiting
            // for an answer it never got.
            if spent {
                return Err(reject(RejectReason::Replay, Some(id)));
            }
        }
        // mac2 (§3.5, §4.5): bound to our current challenge, the initiation
        // was written after the peer read it, so it is new; bound to none,
        // it is authentic but may be a recording, and earns a challenge at
        // most (a token) and never a Diffie-Hellman.
        let current = value(answered.saturating_add(1));
        if !p.macs.check_mac2(datagram, &current) {
            if !p.macs.check_mac2(datagram, &NO_CHALLENGE) {
                return Err(reject(RejectReason::BadMac, Some(id)));
            }
            if !p.handshake.bucket.try_take(now, &c) {
                return Err(reject(RejectReason::RateLimited, Some(id)));
            }
            p.handshake.challenge_to = msg.sender_index;
            p.tx.push(TxQueue::CHALLENGE);
            return Ok(Received::Handshake { peer: id });
        }
        // The endpoint's Diffie-Hellman budget, all peers together (§4.5):
        // refused, the challenge stays unanswered, and the initiator's
        // retry earns it again and is read when the budget allows.
        let per_second = c.handshake_dh_per_second();
        let cost = Responder::READ_INITIATION_DH + Responder::WRITE_RESPONSE_DH;
        let interval = 1_000_000_000 / u64::from(per_second).max(1);
        let cost = u32::try_from(cost).unwrap_or(u32::MAX);
        if !self.dh_budget.try_take_n(now, cost, interval, per_second) {
            self.stats.dh_budget_refusals += 1;
            return Err(reject(RejectReason::RateLimited, Some(id)));
        }
        // The challenge is answered, once: a copy of this initiation is an
        // exact copy (above) or bound to a spent challenge (bad mac).
        p.handshake.challenges_answered = p.handshake.challenges_answered.saturating_add(1);
        let mut payload = [0u8; INITIATION_PAYLOAD_LEN];
        let responder = Responder::read_initiation(
            self.prologue.as_bytes(),
            &self.local,
            &p.public,
            &p.ss,
            &msg.noise,
            &mut payload,
        );
        self.stats.dh_operations += Responder::READ_INITIATION_DH;
        let responder = responder.map_err(|_| reject(RejectReason::BadTag, Some(id)))?;
        let proposal = InitiationPayload::from_bytes(&payload);
        // The clear index must be the authenticated one (§4.2).
        if proposal.sender_index != msg.sender_index {
            return Err(reject(RejectReason::BadTag, Some(id)));
        }
        let generation = proposal
            .generation
            .max(p.handshake.max_generation.saturating_add(1));
        let local_index = alloc_index(&mut self.rng, slot, p);
        let resp_payload = ResponsePayload {
            sender_index: local_index,
            receiver_index: msg.sender_index,
            generation,
        }
        .to_bytes();
        let mut resp = Response {
            sender_index: local_index,
            receiver_index: msg.sender_index,
            noise: [0; RESPONSE_NOISE_LEN],
            mac1: [0; 16],
            mac2: [0; 16],
        };
        let e = StaticSecret::random_from_rng(&mut self.rng);
        let keys = responder.write_response(&p.public, e, &resp_payload, &mut resp.noise);
        self.stats.dh_operations += Responder::WRITE_RESPONSE_DH;
        let keys = keys.map_err(|_| reject(RejectReason::BadTag, Some(id)))?;
        let mut bytes = [0u8; RESPONSE_LEN];
        // The buffer is exactly a response's length.
        let _ = resp.emit(&mut bytes);
        // mac2 binds the response to this initiation's ephemeral key
        // (§3.5): no response to another initiation passes the initiator's
        // check, however its indexes collide.
        p.macs.seal(&mut bytes, initiation_ephemeral(datagram));
        // Commit: nothing above changed the peer but the token bucket.
        p.handshake.max_generation = generation;
        let rank = Rank {
            generation,
            initiator_larger: !p.local_larger,
        };
        let session = Session::new(
            &keys,
            Role::Responder,
            rank,
            local_index,
            msg.sender_index,
            now,
        );
        let i = p.sessions.slot_for_new(true);
        p.sessions.install(i, session);
        if p.sessions.current.is_none() {
            p.sessions.current = p.sessions.best_proven();
        }
        p.handshake.cached_response = Some(CachedResponse {
            initiation: fingerprint,
            message: bytes,
        });
        // Resent for retransmitted copies until `handshake_max_age` (§4.3).
        p.timers
            .set(Timer::CachedResponse, Some(now + c.handshake_max_age()));
        p.handshake.last_initiation = Some(fingerprint);
        p.tx.push(TxQueue::RESPONSE);
        Ok(Received::Handshake { peer: id })
    }

    /// A response whose mac1 is ours (§4.3).
    pub(super) fn handle_response(
        &mut self,
        now: Instant,
        msg: &Response,
        datagram: &[u8],
    ) -> Result<Received<'static>, RecvError> {
        let slot = slot_of(msg.receiver_index);
        let c = self.config;
        let p = peer_at(&mut self.peers, slot).ok_or(reject(RejectReason::UnknownSession, None))?;
        // The session an earlier response to this initiation made, if any.
        let used = p.sessions.find(msg.receiver_index);
        if used.is_none() && !p.handshake.in_flight_is(msg.receiver_index) {
            return Err(reject(RejectReason::UnknownSession, None));
        }
        let id = p.id;
        // mac2 covers the ephemeral key of the initiation it answers (§3.5):
        // the one in flight, or the one whose answer we read.
        let ephemeral = match (&p.handshake.in_flight, used) {
            (Some(f), None) => {
                let mut e = [0u8; 32];
                e.copy_from_slice(initiation_ephemeral(&f.message));
                Some(e)
            }
            _ => p.handshake.answered_ephemeral,
        };
        if !ephemeral.is_some_and(|e| p.macs.check_mac2(datagram, &e)) {
            return Err(reject(RejectReason::BadMac, Some(id)));
        }
        // A response to an initiation already answered (§4.3): it is never
        // read again, since its keys would be the session's keys with the
        // counters back at zero. A copy of the one we read (the answer to a
        // retry that crossed it) changes nothing; while the session awaits
        // confirmation it earns another keepalive.
        if let Some(i) = used {
            let copy = p.sessions.slots[i]
                .as_ref()
                .is_some_and(|s| s.remote_index == msg.sender_index);
            if !copy {
                return Err(reject(RejectReason::Replay, Some(id)));
            }
            if p.sessions.unconfirmed_slot() == Some(i) {
                p.tx.push(TxQueue::CONFIRM);
            }
            return Ok(Received::Handshake { peer: id });
        }
        // No token: only the peer can write a response that passes mac2 for
        // our initiation in flight, so replays never compete with it.
        let Some(flight) = &p.handshake.in_flight else {
            return Err(reject(RejectReason::UnknownSession, None));
        };
        let mut payload = [0u8; RESPONSE_PAYLOAD_LEN];
        let keys = flight
            .noise
            .read_response(&self.local, &msg.noise, &mut payload);
        self.stats.dh_operations += Initiator::READ_RESPONSE_DH;
        let keys = keys.map_err(|_| reject(RejectReason::BadTag, Some(id)))?;
        let answer = ResponsePayload::from_bytes(&payload);
        if answer.sender_index != msg.sender_index
            || answer.receiver_index != msg.receiver_index
            || answer.generation < flight.generation
        {
            return Err(reject(RejectReason::BadTag, Some(id)));
        }
        let generation = answer.generation;
        let latency = now.saturating_duration_since(flight.first_sent_at);
        p.handshake.max_generation = p.handshake.max_generation.max(generation);
        let rank = Rank {
            generation,
            initiator_larger: p.local_larger,
        };
        let session = Session::new(
            &keys,
            Role::Initiator,
            rank,
            msg.receiver_index,
            msg.sender_index,
            now,
        );
        // The response consumes the initiation: its ephemeral secret is
        // erased now, and no other response to it will be read.
        let first_sent_at = flight.first_sent_at;
        p.handshake.answered_ephemeral = ephemeral;
        p.handshake.in_flight = None;
        let i = p.sessions.slot_for_new(false);
        p.sessions.install(i, session);
        if p.sessions.outranks_current(i) {
            // The handshake is over only when a probe of the peer's
            // validates under the new session (§4.3): the responder may
            // have lost it before it was confirmed. Until then a working
            // current session stays in use; with none, the new one is used
            // at once, having nothing to lose. A keepalive under it asks the
            // responder to confirm.
            // SESSIONS is 3: a slot fits in a byte.
            p.sessions.unconfirmed = u8::try_from(i).ok().map(|slot| (slot, first_sent_at));
            if !p.sessions.current_confirmed() {
                p.sessions.current = Some(i);
                p.established(
                    id,
                    Role::Initiator,
                    latency,
                    true,
                    now,
                    &c,
                    &mut self.events,
                );
            }
            p.tx.push(TxQueue::CONFIRM);
        }
        // Whether or not it is used, the retry timer runs on: an unconfirmed
        // or outranked session is followed by a new initiation, of a higher
        // generation, one backoff interval from now.
        if let Some(want) = &p.handshake.want {
            let delay = backoff(&c, want.attempts, self.rng.next_u32());
            p.timers.set(Timer::Retry, Some(now + delay));
        }
        Ok(Received::Handshake { peer: id })
    }

    /// A challenge from the peer (§4.5): the value our next initiation must
    /// bind. Its index names the peer's slot for us in its high bits (the
    /// initiation that asked may be a recording); a number above any seen
    /// is kept, and the initiation in flight is bound to it and sent at
    /// once.
    pub(super) fn handle_challenge(
        &mut self,
        msg: &Challenge,
        datagram: &[u8],
    ) -> Result<Received<'static>, RecvError> {
        let slot = slot_of(msg.receiver_index);
        let p = peer_at(&mut self.peers, slot).ok_or(reject(RejectReason::UnknownSession, None))?;
        let id = p.id;
        if !p.macs.check_challenge(datagram) {
            return Err(reject(RejectReason::BadMac, Some(id)));
        }
        // A direct answer to our initiation in flight is taken whatever its
        // number: the peer may have restarted and numbers its challenges
        // from one again. Any other challenge (one a replay provoked) is
        // taken only if newer than all we have seen, so recorded ones are
        // refused.
        let direct = p.handshake.in_flight_is(msg.receiver_index);
        let unbound = p.handshake.in_flight.as_ref().is_some_and(|f| !f.bound);
        let newer = msg.number > p.handshake.challenge_seen;
        if !direct && msg.number < p.handshake.challenge_seen {
            return Err(reject(RejectReason::Replay, Some(id)));
        }
        if !(newer || direct && unbound) {
            // A copy of the challenge we hold or bound (an answer to a
            // retransmitted initiation): nothing to do.
            return Ok(Received::Handshake { peer: id });
        }
        p.handshake.challenge_seen = if direct {
            msg.number
        } else {
            p.handshake.challenge_seen.max(msg.number)
        };
        match &mut p.handshake.in_flight {
            Some(f) => {
                p.macs.rebind(&mut f.message, &msg.value);
                f.bound = true;
                p.tx.push(TxQueue::INITIATION);
            }
            None => {
                p.handshake.held = Some(msg.value);
            }
        }
        Ok(Received::Handshake { peer: id })
    }
}
