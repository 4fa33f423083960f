//! The epoch key schedule (`docs/PROTOCOL.md` §5.2).
//!
//! Each direction of a session starts from its Noise split key `c₀` and
//! walks a one-way chain: `kₑ = HKDF-Expand(cₑ, "probekey v1 epoch key")`,
//! `cₑ₊₁ = HKDF-Expand(cₑ, "probekey v1 epoch chain")`. A chain key is erased
//! as soon as its successor exists, so the state of epoch `e` derives
//! nothing before `e − 1`.

use core::time::Duration;

use zeroize::Zeroize;

use crate::aead::EpochKey;
use crate::ids::Epoch;
use crate::keys::{SymmetricKey, retire};
use crate::time::Instant;

/// HKDF info of an epoch key.
pub const LABEL_EPOCH_KEY: &[u8] = b"probekey v1 epoch key";
/// HKDF info of the next chain key.
pub const LABEL_EPOCH_CHAIN: &[u8] = b"probekey v1 epoch chain";

fn expand(prk: &SymmetricKey, info: &[u8]) -> SymmetricKey {
    let mut out = [0u8; 32];
    crate::primitives::hkdf_expand(prk.as_bytes(), info, &mut out);
    let key = SymmetricKey::from_bytes(out);
    out.zeroize();
    key
}

/// One step of the chain (§5.2): the epoch key of `chain`, and the next
/// chain key. This is the whole cost of an epoch rotation but for
/// preparing the epoch key for the AEAD provider.
pub fn step(chain: &SymmetricKey) -> (SymmetricKey, SymmetricKey) {
    (
        expand(chain, LABEL_EPOCH_KEY),
        expand(chain, LABEL_EPOCH_CHAIN),
    )
}

/// [`step`], the epoch key prepared for the AEAD provider (its bytes are
/// erased as they drop here; the prepared key erases itself when dropped).
fn step_prepared(chain: &SymmetricKey) -> (EpochKey, SymmetricKey) {
    let (key, chain) = step(chain);
    (EpochKey::new(&key), chain)
}

/// The sending half: the current epoch's key and the next chain key.
#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct SendSchedule {
    epoch: Epoch,
    key: EpochKey,
    chain: SymmetricKey,
    started_at: Instant,
    start_counter: u64,
}

impl SendSchedule {
    pub(crate) fn new(split_key: &SymmetricKey, now: Instant) -> Self {
        let (key, chain) = step_prepared(split_key);
        SendSchedule {
            epoch: Epoch(0),
            key,
            chain,
            started_at: now,
            start_counter: 0,
        }
    }

    pub(crate) fn epoch(&self) -> Epoch {
        self.epoch
    }

    pub(crate) fn key(&self) -> &EpochKey {
        &self.key
    }

    /// Whether the sender should move on (§5.3): the epoch is old enough by
    /// time or by count; it has lasted at least `min_age` (the grace
    /// window, so the receiver never erases the key before last at most
    /// `min_age` before the reordered probes under it arrive); and the peer
    /// has validated at least one probe of this epoch (`peer_acked` is one
    /// more than the highest counter the peer acknowledged), so the next
    /// epoch is inside the peer's window.
    pub(crate) fn rotation_due(
        &self,
        now: Instant,
        counter: u64,
        peer_acked: u64,
        limits: RotationLimits,
    ) -> bool {
        let RotationLimits {
            after_time,
            after_packets,
            min_age,
        } = limits;
        let age = now.saturating_duration_since(self.started_at);
        let old = age >= after_time || counter.saturating_sub(self.start_counter) >= after_packets;
        old && age >= min_age && peer_acked > self.start_counter && self.epoch.0 < u32::MAX
    }

    /// The caller's clock went back to `now` (§7): the epoch started no
    /// later than now.
    pub(crate) fn clamp_time(&mut self, now: Instant) {
        self.started_at = self.started_at.min(now);
    }

    /// Moves to the next epoch, erasing the current key and chain key.
    pub(crate) fn rotate(&mut self, now: Instant, counter: u64) {
        let (key, chain) = step_prepared(&self.chain);
        self.key = key;
        retire(core::mem::replace(&mut self.chain, chain));
        self.epoch = Epoch(self.epoch.0.saturating_add(1));
        self.started_at = now;
        self.start_counter = counter;
    }
}

/// When a sending epoch moves on (§5.3).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct RotationLimits {
    /// `rotate_after_time`.
    pub(crate) after_time: Duration,
    /// `rotate_after_packets`.
    pub(crate) after_packets: u64,
    /// `epoch_grace`: no epoch is shorter.
    pub(crate) min_age: Duration,
}

impl RotationLimits {
    pub(crate) fn of(c: &crate::config::Config) -> Self {
        RotationLimits {
            after_time: c.rotate_after_time(),
            after_packets: c.rotate_after_packets(),
            min_age: c.epoch_grace(),
        }
    }
}

/// Which key of the receive window opened a probe.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum WindowSlot {
    Previous,
    Current,
    Next,
}

/// The receiving half: keys for `e − 1` (within its grace), `e` and `e + 1`,
/// and the chain key `cₑ₊₂`.
#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct RecvSchedule {
    epoch: Epoch,
    previous: Option<(EpochKey, Instant)>,
    current: EpochKey,
    next: EpochKey,
    chain: SymmetricKey,
}

impl RecvSchedule {
    pub(crate) fn new(split_key: &SymmetricKey) -> Self {
        let (current, c1) = step_prepared(split_key);
        let (next, chain) = step_prepared(&c1);
        RecvSchedule {
            epoch: Epoch(0),
            previous: None,
            current,
            next,
            chain,
        }
    }

    pub(crate) fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The key for a probe of `epoch`, if it is inside the window at `now`.
    pub(crate) fn key_for(&self, epoch: Epoch, now: Instant) -> Option<(WindowSlot, &EpochKey)> {
        let e = self.epoch.0;
        if epoch.0 == e {
            Some((WindowSlot::Current, &self.current))
        } else if e < u32::MAX && epoch.0 == e + 1 {
            Some((WindowSlot::Next, &self.next))
        } else if e > 0 && epoch.0 == e - 1 {
            match &self.previous {
                Some((key, until)) if now < *until => Some((WindowSlot::Previous, key)),
                _ => None,
            }
        } else {
            None
        }
    }

    /// Called after a probe of epoch `e + 1` authenticated: slides the window
    /// by one, erasing the old previous key; the old current key stays valid
    /// until `now + grace`.
    pub(crate) fn advance(&mut self, now: Instant, grace: Duration) {
        let (after_next, chain) = step_prepared(&self.chain);
        let old_current = core::mem::replace(
            &mut self.current,
            core::mem::replace(&mut self.next, after_next),
        );
        retire(core::mem::replace(&mut self.chain, chain));
        // The old previous key erases itself as it drops.
        self.previous = Some((old_current, now + grace));
        self.epoch = Epoch(self.epoch.0.saturating_add(1));
    }

    /// The caller's clock went back to `now` (§7): the previous key's grace
    /// ends no later than a whole grace from now.
    pub(crate) fn clamp_time(&mut self, now: Instant, grace: Duration) {
        if let Some((_, until)) = &mut self.previous {
            *until = (*until).min(now.saturating_add(grace));
        }
    }

    /// Erases the previous key once its grace has passed.
    pub(crate) fn expire(&mut self, now: Instant) {
        if matches!(&self.previous, Some((_, until)) if now >= *until) {
            self.previous = None;
        }
    }

    /// When [`Self::expire`] next has work.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.previous.as_ref().map(|(_, until)| *until)
    }

    #[cfg(test)]
    pub(crate) fn holds_previous(&self) -> bool {
        self.previous.is_some()
    }

    #[cfg(test)]
    pub(crate) fn chain(&self) -> &SymmetricKey {
        &self.chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split() -> SymmetricKey {
        SymmetricKey::from_bytes([7; 32])
    }

    /// The key of epoch `n` computed from scratch.
    fn key_at(n: u32) -> SymmetricKey {
        let mut chain = split();
        for _ in 0..n {
            chain = step(&chain).1;
        }
        step(&chain).0
    }

    /// What identifies the prepared key of epoch `n`.
    fn fingerprint_at(n: u32) -> [u8; 16] {
        EpochKey::new(&key_at(n)).fingerprint()
    }

    #[test]
    fn sender_and_receiver_walk_the_same_chain() {
        let t = Instant::ZERO;
        let mut tx = SendSchedule::new(&split(), t);
        let mut rx = RecvSchedule::new(&split());
        for n in 0..50u32 {
            assert_eq!(tx.epoch(), Epoch(n));
            assert_eq!(tx.key().fingerprint(), fingerprint_at(n));
            let (slot, key) = rx.key_for(tx.epoch(), t).unwrap();
            assert_eq!(key.fingerprint(), tx.key().fingerprint());
            if slot == WindowSlot::Next {
                rx.advance(t, Duration::from_secs(1));
            }
            tx.rotate(t, u64::from(n) * 10);
        }
    }

    #[test]
    fn window_is_previous_current_next_only() {
        let t0 = Instant::from_secs(10);
        let grace = Duration::from_secs(2);
        let mut rx = RecvSchedule::new(&split());
        assert!(rx.key_for(Epoch(0), t0).is_some());
        assert!(rx.key_for(Epoch(1), t0).is_some());
        assert!(rx.key_for(Epoch(2), t0).is_none());
        assert!(rx.key_for(Epoch(u32::MAX), t0).is_none());
        rx.advance(t0, grace);
        rx.advance(t0, grace);
        assert_eq!(rx.epoch(), Epoch(2));
        assert_eq!(
            rx.key_for(Epoch(1), t0).map(|s| s.0),
            Some(WindowSlot::Previous)
        );
        assert!(rx.key_for(Epoch(0), t0).is_none(), "e-2 is gone");
        assert!(rx.key_for(Epoch(4), t0).is_none(), "e+2 is refused");
        // The previous key lives exactly for the grace window.
        let end = t0 + grace;
        assert!(
            rx.key_for(Epoch(1), Instant::from_nanos(end.as_nanos() - 1))
                .is_some()
        );
        assert!(rx.key_for(Epoch(1), end).is_none());
        assert_eq!(rx.next_deadline(), Some(end));
        rx.expire(end);
        assert!(!rx.holds_previous());
        assert_eq!(rx.next_deadline(), None);
    }

    #[test]
    fn rotation_waits_for_the_peer_to_reach_the_epoch() {
        let after = Duration::from_secs(60);
        let tx = SendSchedule::new(&split(), Instant::ZERO);
        let late = Instant::from_secs(61);
        let limits = RotationLimits {
            after_time: after,
            after_packets: 1000,
            min_age: Duration::from_secs(2),
        };
        assert!(
            !tx.rotation_due(late, 5, 0, limits),
            "peer acknowledged nothing"
        );
        assert!(tx.rotation_due(late, 5, 1, limits));
        assert!(!tx.rotation_due(Instant::from_secs(59), 5, 5, limits));
        assert!(
            tx.rotation_due(Instant::from_secs(2), 1000, 5, limits),
            "by count"
        );
        assert!(
            !tx.rotation_due(Instant::from_secs(1), 1000, 5, limits),
            "never faster than the grace window"
        );
    }

    #[test]
    fn held_state_holds_nothing_from_before_the_previous_epoch() {
        // At epoch 5 the receiver holds k4, k5, k6 and the chain key c7. The
        // chain only runs forward, so none of k0..k3 nor c0..c6 may be held.
        let mut rx = RecvSchedule::new(&split());
        let t = Instant::ZERO;
        for _ in 0..5 {
            rx.advance(t, Duration::from_secs(1));
        }
        let held: [[u8; 16]; 4] = [
            rx.key_for(Epoch(4), t).unwrap().1.fingerprint(),
            rx.key_for(Epoch(5), t).unwrap().1.fingerprint(),
            rx.key_for(Epoch(6), t).unwrap().1.fingerprint(),
            EpochKey::new(rx.chain()).fingerprint(),
        ];
        assert_eq!(held[0], fingerprint_at(4));
        let mut chain = split();
        for n in 0..7u32 {
            for h in held {
                assert_ne!(
                    h,
                    EpochKey::new(&chain).fingerprint(),
                    "chain key c{n} is held"
                );
                if n < 4 {
                    assert_ne!(h, fingerprint_at(n), "epoch key k{n} is held");
                }
            }
            chain = step(&chain).1;
        }
        assert_eq!(rx.chain(), &chain, "c7 is the only chain key held");
    }

    #[test]
    fn sender_holds_nothing_from_before_its_current_epoch() {
        // At epoch 5 the sender holds k5 and the chain key c6: neither an
        // earlier epoch key nor any earlier chain key.
        let t = Instant::ZERO;
        let mut tx = SendSchedule::new(&split(), t);
        for n in 0..5 {
            tx.rotate(t, n);
        }
        assert_eq!(tx.key().fingerprint(), fingerprint_at(5));
        let mut chain = split();
        for n in 0..6u32 {
            let held = [
                tx.key().fingerprint(),
                EpochKey::new(&tx.chain).fingerprint(),
            ];
            for h in held {
                assert_ne!(
                    h,
                    EpochKey::new(&chain).fingerprint(),
                    "chain key c{n} is held"
                );
                if n < 5 {
                    assert_ne!(h, fingerprint_at(n), "epoch key k{n} is held");
                }
            }
            chain = step(&chain).1;
        }
        assert_eq!(tx.chain, chain, "c6 is the only chain key held");
    }

    #[test]
    fn keys_leaving_the_window_are_erased() {
        let t = Instant::ZERO;
        let grace = Duration::from_secs(1);
        let _ = crate::keys::graveyard::exhume();
        let mut tx = SendSchedule::new(&split(), t);
        let mut rx = RecvSchedule::new(&split());
        for n in 1..=10u64 {
            // The sender drops its chain key (its epoch key, prepared for
            // the AEAD provider, erases itself as it drops).
            tx.rotate(t, n);
            let retired = crate::keys::graveyard::exhume();
            assert_eq!(retired.len(), 1, "rotation {n} retires the chain key");
            assert!(retired.iter().all(SymmetricKey::is_erased));
            // So does the receiver.
            rx.advance(t, grace);
            let retired = crate::keys::graveyard::exhume();
            assert_eq!(retired.len(), 1);
            assert!(retired.iter().all(SymmetricKey::is_erased));
        }
        // The previous key is dropped when its grace ends.
        assert!(rx.holds_previous());
        rx.expire(t + grace);
        assert!(!rx.holds_previous());
        assert!(rx.key_for(Epoch(9), t + grace).is_none());
    }

    /// At the last epoch number nothing rotates and nothing names the
    /// epoch after it: a rotation there would change the key under the same
    /// epoch number, which the receiver could not follow (§5.2), and the
    /// receiver's "next" would wrap to epoch 0.
    #[test]
    fn the_last_epoch_number_neither_rotates_nor_wraps() {
        let limits = RotationLimits {
            after_time: Duration::from_secs(1),
            after_packets: 1,
            min_age: Duration::ZERO,
        };
        let mut tx = SendSchedule::new(&split(), Instant::ZERO);
        tx.epoch = Epoch(u32::MAX - 1);
        let late = Instant::from_secs(10);
        assert!(tx.rotation_due(late, 5, 5, limits));
        tx.epoch = Epoch(u32::MAX);
        assert!(!tx.rotation_due(late, 5, 5, limits));

        let mut rx = RecvSchedule::new(&split());
        rx.epoch = Epoch(u32::MAX);
        assert_eq!(
            rx.key_for(Epoch(u32::MAX), late).map(|s| s.0),
            Some(WindowSlot::Current)
        );
        assert!(rx.key_for(Epoch(0), late).is_none());
    }

    /// The caller's clock went back (§7): an epoch started in the future is
    /// taken as started now, so it rotates by time from the new reading; a
    /// previous key's grace ends no later than a whole grace from it.
    #[test]
    fn readings_that_go_back_bring_both_schedules_back() {
        let after = Duration::from_secs(60);
        let limits = RotationLimits {
            after_time: after,
            after_packets: u64::MAX,
            min_age: Duration::ZERO,
        };
        let mut tx = SendSchedule::new(&split(), Instant::from_secs(1000));
        let back = Instant::from_secs(10);
        tx.clamp_time(back);
        assert!(tx.rotation_due(back + after, 5, 5, limits));
        assert!(!tx.rotation_due(back + (after - Duration::from_secs(1)), 5, 5, limits));

        let grace = Duration::from_secs(2);
        let mut rx = RecvSchedule::new(&split());
        rx.advance(Instant::from_secs(1000), grace);
        rx.clamp_time(back, grace);
        assert_eq!(rx.next_deadline(), Some(back + grace));
        assert!(
            rx.key_for(Epoch(0), back + Duration::from_secs(1))
                .is_some()
        );
        assert!(rx.key_for(Epoch(0), back + grace).is_none());
    }
}
