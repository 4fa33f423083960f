//! When our recent probes to one peer were sealed, sampled, so that an
//! acknowledgement dates the evidence it carries by our own clock
//! (`docs/PROTOCOL.md` §6.2): a late acknowledgement counts for no more
//! than the age of the probe it acknowledges.

use core::time::Duration;

use crate::ids::SessionIndex;
use crate::time::Instant;

/// Samples kept per peer.
pub(crate) const SAMPLES: usize = SAMPLES_U32 as usize;
/// The same, as a divisor of durations.
const SAMPLES_U32: u32 = 8;

/// One seal; index 0, which no session uses (§2.6), marks an empty one.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "model", derive(Hash))]
struct Sample {
    index: SessionIndex,
    counter: u64,
    at: Instant,
}

impl Sample {
    fn get(&self) -> Option<&Sample> {
        (self.index.0 != 0).then_some(self)
    }
}

/// The latest seal, exactly, and [`SAMPLES`] earlier seals at least
/// `stale_after / SAMPLES` apart: an acknowledgement of the latest probe is
/// dated exactly, an older one by the latest sample before it (never later
/// than its seal, at most a spacing and a probe interval earlier), and the
/// samples reach back `stale_after` while probes flow.
#[derive(Default)]
#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct SealLog {
    latest: Sample,
    samples: [Sample; SAMPLES],
    newest: usize,
}

impl SealLog {
    /// Probe `counter` of our session `index` was sealed at `at`.
    pub(crate) fn record(
        &mut self,
        index: SessionIndex,
        counter: u64,
        at: Instant,
        stale_after: Duration,
    ) {
        let spacing = stale_after / SAMPLES_U32;
        let sample = Sample { index, counter, at };
        self.latest = sample;
        let newest = self.samples[self.newest].get();
        let due = newest
            .is_none_or(|s| s.index != index || at.saturating_duration_since(s.at) >= spacing);
        if due {
            if newest.is_some() {
                self.newest = (self.newest + 1) % SAMPLES;
            }
            self.samples[self.newest] = sample;
        }
    }

    /// An instant no later than the seal of probe `counter` of our session
    /// `index`, and whether it is that seal's own; `None` if no sample is
    /// that old.
    pub(crate) fn sealed_by(&self, index: SessionIndex, counter: u64) -> Option<(Instant, bool)> {
        // The latest seal is the highest counter of its session: when it
        // is old enough it is the answer, read from one cache line (the
        // peer acknowledging our latest probe, the common case).
        if let Some(s) = self.latest.get()
            && s.index == index
            && s.counter <= counter
        {
            return Some((s.at, s.counter == counter));
        }
        self.samples
            .iter()
            .chain(core::iter::once(&self.latest))
            .filter_map(Sample::get)
            .filter(|s| s.index == index && s.counter <= counter)
            .max_by_key(|s| s.counter)
            .map(|s| (s.at, s.counter == counter))
    }

    /// The caller's clock went back to `now` (§7).
    pub(crate) fn clamp_time(&mut self, now: Instant) {
        for s in self
            .samples
            .iter_mut()
            .chain(core::iter::once(&mut self.latest))
        {
            s.at = s.at.min(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: SessionIndex = SessionIndex(7);

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// Ten probes, counters 0..10, one every 50 ms from zero, with samples
    /// 100 ms apart: every other one is a sample.
    fn every_50_ms() -> SealLog {
        let mut log = SealLog::default();
        for c in 0..10u64 {
            log.record(I, c, ms(50 * c), Duration::from_millis(800));
        }
        log
    }

    #[test]
    fn the_latest_seal_is_dated_exactly_and_older_ones_never_later_than_their_seal() {
        let mut log = SealLog::default();
        let stale = Duration::from_millis(800); // samples 100 ms apart
        // A probe every 30 ms, counters 0..40.
        for c in 0..40u64 {
            log.record(I, c, ms(30 * c), stale);
            let (at, exact) = log.sealed_by(I, c).expect("just sealed");
            assert_eq!((at, exact), (ms(30 * c), true));
            for older in 0..c {
                if let Some((at, _)) = log.sealed_by(I, older) {
                    assert!(at <= ms(30 * older), "counter {older} dated {at:?}");
                    // Never more than a spacing and a probe interval early.
                    assert!(
                        ms(30 * older).saturating_duration_since(at) <= Duration::from_millis(130)
                    );
                }
            }
        }
        // Eight samples about 100 ms apart cover the last 700 ms or more.
        assert!(log.sealed_by(I, 40 - 24).is_some());
        // Another session's counters are not this one's.
        assert_eq!(log.sealed_by(SessionIndex(8), 39), None);
    }

    /// §6.2: an acknowledgement of a sampled probe is dated exactly (it
    /// gives a round-trip time), one of a probe between samples by the
    /// sample before it, and not exactly.
    #[test]
    fn a_sampled_seal_is_dated_exactly_and_one_between_samples_is_not() {
        let log = every_50_ms();
        assert_eq!(log.sealed_by(I, 9), Some((ms(450), true)), "the latest");
        assert_eq!(log.sealed_by(I, 8), Some((ms(400), true)), "a sample");
        assert_eq!(log.sealed_by(I, 4), Some((ms(200), true)), "a sample");
        assert_eq!(log.sealed_by(I, 7), Some((ms(300), false)), "between");
        assert_eq!(log.sealed_by(I, 3), Some((ms(100), false)), "between");
    }

    /// §6.2: a new session's first seal is sampled at once, however soon
    /// after the last sample of another session: its probes' acknowledgements
    /// are dated from the start.
    #[test]
    fn a_new_sessions_first_seal_is_sampled_at_once() {
        let mut log = SealLog::default();
        let stale = Duration::from_millis(800); // samples 100 ms apart
        log.record(I, 0, ms(0), stale);
        let new = SessionIndex(8);
        log.record(new, 0, ms(10), stale);
        log.record(new, 1, ms(20), stale);
        assert_eq!(log.sealed_by(new, 0), Some((ms(10), true)));
        assert_eq!(
            log.sealed_by(I, 0),
            Some((ms(0), true)),
            "the old one's kept"
        );
    }

    /// §7: after the caller's clock goes back, no seal is dated later than
    /// the new reading, the latest one included; earlier ones keep theirs.
    #[test]
    fn a_clock_gone_back_dates_no_seal_later_than_now() {
        let mut log = every_50_ms();
        log.clamp_time(ms(250));
        assert_eq!(log.sealed_by(I, 9), Some((ms(250), true)), "the latest");
        assert_eq!(log.sealed_by(I, 8), Some((ms(250), true)), "a sample");
        assert_eq!(log.sealed_by(I, 4), Some((ms(200), true)), "kept");
    }
}
