//! Per-node clocks: each node of the simulator reads its own monotonic
//! clock, with its own origin and rate, that a reboot starts again at zero
//! and a suspension stops. The endpoints only ever see their node's clock
//! (`docs/PROTOCOL.md` §9).

use core::time::Duration;

use probekey::Instant;

/// Parts per million of the simulator's own time: 1,000,000 is a clock
/// that keeps time, 999,000 one that runs 0.1 % slow.
pub const PPM: u64 = 1_000_000;
/// The slowest rate a node's clock may have: half speed.
pub const MIN_RATE_PPM: u64 = PPM / 2;
/// The fastest: double speed.
pub const MAX_RATE_PPM: u64 = 2 * PPM;

/// How a node's clock starts: its reading at simulated time zero and its
/// rate.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClockSpec {
    /// The node's reading when the simulation starts.
    pub offset: Duration,
    /// Its rate, in parts per million of simulated time, clamped to
    /// [`MIN_RATE_PPM`]..=[`MAX_RATE_PPM`].
    pub rate_ppm: u64,
}

impl Default for ClockSpec {
    fn default() -> Self {
        ClockSpec {
            offset: Duration::ZERO,
            rate_ppm: PPM,
        }
    }
}

/// One node's clock: a reading anchored at a simulated instant, advancing
/// at its rate, or stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeClock {
    global: Instant,
    local: Instant,
    rate_ppm: u64,
    stopped: bool,
}

fn nanos(d: Duration) -> u128 {
    d.as_nanos()
}

fn instant(n: u128) -> Instant {
    Instant::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
}

impl NodeClock {
    /// A clock reading `spec.offset` at simulated instant `at`.
    pub fn new(at: Instant, spec: ClockSpec) -> Self {
        NodeClock {
            global: at,
            local: Instant::ZERO + spec.offset,
            rate_ppm: spec.rate_ppm.clamp(MIN_RATE_PPM, MAX_RATE_PPM),
            stopped: false,
        }
    }

    /// The clock of a host that booted at simulated instant `at`: it reads
    /// zero then, at the same rate as before.
    pub fn rebooted(&self, at: Instant) -> Self {
        NodeClock::new(
            at,
            ClockSpec {
                offset: Duration::ZERO,
                rate_ppm: self.rate_ppm,
            },
        )
    }

    /// The same clock, from simulated instant `at` on, running at
    /// `rate_ppm` (clamped like [`ClockSpec::rate_ppm`]); its reading does
    /// not jump.
    pub fn with_rate(&self, at: Instant, rate_ppm: u64) -> Self {
        NodeClock {
            global: at,
            local: self.local(at),
            rate_ppm: rate_ppm.clamp(MIN_RATE_PPM, MAX_RATE_PPM),
            stopped: self.stopped,
        }
    }

    /// The same clock stepped by `ahead` at simulated instant `at`: forward
    /// if `forward`, else back (saturating at zero). A monotonic clock
    /// never does this; a daemon's bug or a host's clock step can.
    pub fn stepped(&self, at: Instant, ahead: Duration, forward: bool) -> Self {
        let reading = self.local(at);
        let local = if forward {
            reading.saturating_add(ahead)
        } else {
            Instant::from_nanos(
                reading
                    .as_nanos()
                    .saturating_sub(u64::try_from(ahead.as_nanos()).unwrap_or(u64::MAX)),
            )
        };
        NodeClock {
            global: at,
            local,
            ..*self
        }
    }

    /// Its rate in parts per million.
    pub fn rate_ppm(&self) -> u64 {
        self.rate_ppm
    }

    /// Whether it is stopped (the host is suspended).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The node's reading at simulated instant `at` (never before the
    /// anchor: the clock is monotonic).
    pub fn local(&self, at: Instant) -> Instant {
        if self.stopped {
            return self.local;
        }
        let elapsed = nanos(at.saturating_duration_since(self.global));
        let advanced = elapsed * u128::from(self.rate_ppm) / u128::from(PPM);
        instant(u128::from(self.local.as_nanos()) + advanced)
    }

    /// The first simulated instant at which the node reads `reading` or
    /// later; `None` while the clock is stopped.
    pub fn global(&self, reading: Instant) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        let ahead = nanos(reading.saturating_duration_since(self.local));
        let rate = u128::from(self.rate_ppm);
        let elapsed = (ahead * u128::from(PPM)).div_ceil(rate);
        Some(instant(u128::from(self.global.as_nanos()) + elapsed))
    }

    /// Stops the clock at simulated instant `at` (the host is suspended).
    pub fn stop(&mut self, at: Instant) {
        if !self.stopped {
            self.local = self.local(at);
            self.global = at;
            self.stopped = true;
        }
    }

    /// Starts it again at `at`, from the reading it stopped at.
    pub fn resume(&mut self, at: Instant) {
        if self.stopped {
            self.global = at;
            self.stopped = false;
        }
    }

    /// Simulated time that `d` of this clock takes at most (rounded up).
    pub fn to_global(&self, d: Duration) -> Duration {
        let n = (nanos(d) * u128::from(PPM)).div_ceil(u128::from(self.rate_ppm));
        Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_and_their_inverse_agree_at_every_rate() {
        for rate_ppm in [MIN_RATE_PPM, 999_000, PPM, 1_000_001, MAX_RATE_PPM] {
            let spec = ClockSpec {
                offset: Duration::from_secs(3600),
                rate_ppm,
            };
            let c = NodeClock::new(Instant::from_secs(5), spec);
            for reading in [0u64, 1, 999, 1_000_000_007, 86_400_000_000_000] {
                let want = Instant::from_secs(3600) + Duration::from_nanos(reading);
                let at = c.global(want).expect("running");
                assert!(c.local(at) >= want, "rate {rate_ppm}, {reading}");
                let before = Instant::from_nanos(at.as_nanos().saturating_sub(1));
                assert!(at == Instant::from_secs(5) || c.local(before) < want);
            }
        }
    }

    #[test]
    fn a_stopped_clock_keeps_its_reading_and_resumes_from_it() {
        let mut c = NodeClock::new(Instant::ZERO, ClockSpec::default());
        c.stop(Instant::from_secs(10));
        assert_eq!(c.local(Instant::from_secs(50)), Instant::from_secs(10));
        assert_eq!(c.global(Instant::from_secs(11)), None);
        c.resume(Instant::from_secs(50));
        assert_eq!(c.local(Instant::from_secs(51)), Instant::from_secs(11));
        let r = c.rebooted(Instant::from_secs(60));
        assert_eq!(r.local(Instant::from_secs(61)), Instant::from_secs(1));
        let slow = r.with_rate(Instant::from_secs(61), PPM / 2);
        assert_eq!(slow.local(Instant::from_secs(63)), Instant::from_secs(2));
    }
}
