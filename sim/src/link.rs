//! The network-fault model shared by the simulator, the fuzz harness and
//! the multi-process relay: one direction of a link at one moment, as
//! Linux netem describes it (loss, duplication, delay with jitter that
//! reorders, a stall that releases a queue at one instant), and the fate it
//! deals each datagram.

use core::time::Duration;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use probekey::Instant;

/// What one direction of a link does to datagrams at one moment.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct LinkFaults {
    /// Probability that a datagram is lost (1.0: all of them).
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Delay added to every datagram.
    pub delay: Duration,
    /// Random delay added on top, uniformly up to this: reorders.
    pub jitter: Duration,
    /// Everything sent is held until this instant and released together.
    pub stall_until: Option<Instant>,
}

impl LinkFaults {
    /// Adds `other` on top of these faults: losses and duplications are
    /// independent draws, delays add up, the later stall wins.
    pub fn and(self, other: LinkFaults) -> LinkFaults {
        LinkFaults {
            loss: 1.0 - (1.0 - self.loss.clamp(0.0, 1.0)) * (1.0 - other.loss.clamp(0.0, 1.0)),
            duplicate: 1.0
                - (1.0 - self.duplicate.clamp(0.0, 1.0)) * (1.0 - other.duplicate.clamp(0.0, 1.0)),
            delay: self.delay.saturating_add(other.delay),
            jitter: self.jitter.saturating_add(other.jitter),
            stall_until: self.stall_until.max(other.stall_until),
        }
    }
}

/// When each copy of a datagram arrives, if any does.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Fate {
    copies: usize,
    at: [Instant; 2],
}

impl Fate {
    /// Arrival times, in order of sending (a stall may make them equal).
    pub fn arrivals(&self) -> &[Instant] {
        &self.at[..self.copies]
    }
}

/// A deterministic source of fates: the same seed deals the same fates to
/// the same sequence of datagrams.
pub struct Netem {
    rng: ChaCha20Rng,
}

impl Netem {
    /// A model seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Netem {
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// A uniform draw in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform draw below `n` (0 for 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.rng.next_u64() % n }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        if p >= 1.0 {
            return true;
        }
        p > 0.0 && self.uniform() < p
    }

    /// The fate of a datagram sent at `sent` over a path of one-way delay
    /// `base` with `faults`: lost, or delivered once or twice.
    pub fn fate(&mut self, sent: Instant, base: Duration, faults: &LinkFaults) -> Fate {
        let mut fate = Fate::default();
        if self.chance(faults.loss) {
            return fate;
        }
        let copies = if self.chance(faults.duplicate) { 2 } else { 1 };
        for c in 0..copies {
            let jitter = self.below(u64::try_from(faults.jitter.as_nanos()).unwrap_or(u64::MAX));
            // A duplicate follows its original by a microsecond, then its
            // own jitter.
            let delay = base
                + faults.delay
                + Duration::from_nanos(jitter)
                + Duration::from_micros(c as u64);
            let mut at = sent + delay;
            if let Some(release) = faults.stall_until
                && release > sent
            {
                at = at.max(release);
            }
            fate.at[c] = at;
        }
        fate.copies = copies;
        fate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_releases_everything_at_one_instant_in_order() {
        let mut n = Netem::new(1);
        let f = LinkFaults {
            stall_until: Some(Instant::from_secs(10)),
            ..LinkFaults::default()
        };
        let ms = Duration::from_millis;
        for s in [1, 5, 9] {
            let fate = n.fate(Instant::from_secs(s), ms(20), &f);
            assert_eq!(fate.arrivals(), &[Instant::from_secs(10)]);
        }
        let after = n.fate(Instant::from_secs(11), ms(20), &f);
        assert_eq!(after.arrivals(), &[Instant::from_secs(11) + ms(20)]);
    }

    #[test]
    fn loss_and_duplication_are_dealt_at_their_rates() {
        let mut n = Netem::new(2);
        let f = LinkFaults {
            loss: 0.25,
            duplicate: 0.5,
            ..LinkFaults::default()
        };
        let mut lost = 0;
        let mut doubled = 0;
        for _ in 0..10_000 {
            match n.fate(Instant::ZERO, Duration::ZERO, &f).arrivals().len() {
                0 => lost += 1,
                2 => doubled += 1,
                _ => {}
            }
        }
        assert!((2_200..2_800).contains(&lost), "{lost}");
        assert!((3_400..4_100).contains(&doubled), "{doubled}");
    }
}
