//! A peer's timers: one deadline per kind, re-armed by the sub-state that
//! owns it whenever an operation changes the peer (`docs/PROTOCOL.md` §7.1).
//! [`crate::Endpoint::poll_timeout`] reads the tables and
//! [`crate::Endpoint::handle_timeout`] runs exactly the expired entries, so
//! the two agree by construction.

use crate::peer::sessions::SESSIONS;
use core::time::Duration;

use crate::time::Instant;

/// The timers of one peer, in the order an expired set of them runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The session in this slot ends, or its previous epoch key's grace
    /// ends (§6.3).
    Session(u8),
    /// The cached response may no longer be resent (§4.3).
    CachedResponse,
    /// The inbound direction goes stale (§6.2).
    InboundStale,
    /// The outbound direction goes stale (§6.2).
    OutboundStale,
    /// With no handshake wanted: a handshake falls due, for no session, a
    /// rekey, or a stale direction (§6.1).
    StartHandshake,
    /// The wanted handshake's next initiation falls due (§4.3).
    Retry,
    /// The wanted handshake is reported failing (§6.1).
    HandshakeFailing,
    /// The probe schedule's next probe is due (§7.6).
    Probe,
}

const COUNT: usize = SESSIONS + 7;

impl Timer {
    /// Every timer, in the order they run.
    pub(crate) const ALL: [Timer; COUNT] = [
        Timer::Session(0),
        Timer::Session(1),
        Timer::Session(2),
        Timer::CachedResponse,
        Timer::InboundStale,
        Timer::OutboundStale,
        Timer::StartHandshake,
        Timer::Retry,
        Timer::HandshakeFailing,
        Timer::Probe,
    ];

    fn index(self) -> usize {
        match self {
            Timer::Session(i) => usize::from(i),
            Timer::CachedResponse => SESSIONS,
            Timer::InboundStale => SESSIONS + 1,
            Timer::OutboundStale => SESSIONS + 2,
            Timer::StartHandshake => SESSIONS + 3,
            Timer::Retry => SESSIONS + 4,
            Timer::HandshakeFailing => SESSIONS + 5,
            Timer::Probe => SESSIONS + 6,
        }
    }
}

/// One deadline per [`Timer`]; [`Instant::MAX`] for a timer that is not
/// set (it would never expire either way), which keeps the table at 8
/// bytes a timer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "model", derive(Hash))]
pub(crate) struct TimerTable {
    deadlines: [Instant; COUNT],
}

impl Default for TimerTable {
    fn default() -> Self {
        TimerTable {
            deadlines: [Instant::MAX; COUNT],
        }
    }
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Option<Instant>) {
        self.deadlines[timer.index()] = at.unwrap_or(Instant::MAX);
    }

    /// Brings `timer`, which the state says is armed, no further ahead of
    /// `now` than `at_most`: a deadline that saturated at [`Instant::MAX`]
    /// (set at a reading near the end of the clock's range) included.
    pub(crate) fn clamp(&mut self, timer: Timer, now: Instant, at_most: Duration) {
        let d = &mut self.deadlines[timer.index()];
        *d = (*d).min(now.saturating_add(at_most));
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        Some(self.deadlines[timer.index()]).filter(|&t| t != Instant::MAX)
    }

    pub(crate) fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines
            .iter()
            .copied()
            .min()
            .filter(|&t| t != Instant::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Each timer has a deadline of its own, and [`Timer::ALL`] lists them
    /// in their table's order, the order an expired set of them runs.
    #[test]
    fn every_timer_has_its_own_deadline() {
        let mut t = TimerTable::default();
        for (k, &timer) in Timer::ALL.iter().enumerate() {
            assert_eq!(timer.index(), k, "{timer:?}");
            assert_eq!(t.get(timer), None, "{timer:?} starts unset");
            t.set(timer, Some(at(k as u64 + 1)));
        }
        for (k, &timer) in Timer::ALL.iter().enumerate() {
            assert_eq!(t.get(timer), Some(at(k as u64 + 1)), "{timer:?}");
        }
    }

    /// The next deadline is the earliest set one; an unset timer never
    /// expires, a set one expires at its deadline, not before.
    #[test]
    fn the_next_deadline_is_the_earliest_set_one() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Retry, Some(at(50)));
        t.set(Timer::InboundStale, Some(at(20)));
        assert_eq!(t.next(), Some(at(20)));
        assert!(!t.is_expired(Timer::InboundStale, at(19)));
        assert!(t.is_expired(Timer::InboundStale, at(20)));
        assert!(!t.is_expired(Timer::Probe, Instant::MAX), "unset");
        t.set(Timer::InboundStale, None);
        assert_eq!(t.get(Timer::InboundStale), None);
        assert_eq!(t.next(), Some(at(50)));
    }

    /// A clamped timer is due no later than `at_most` from now: a later
    /// deadline comes forward, an earlier one stays, and one that
    /// saturated at the end of the clock comes back (§7).
    #[test]
    fn a_clamped_timer_is_due_no_later_than_at_most_from_now() {
        let mut t = TimerTable::default();
        let limit = Duration::from_millis(100);
        t.set(Timer::Retry, Some(at(1_000)));
        t.clamp(Timer::Retry, at(10), limit);
        assert_eq!(t.get(Timer::Retry), Some(at(110)));
        t.clamp(Timer::Retry, at(500), limit);
        assert_eq!(t.get(Timer::Retry), Some(at(110)), "an earlier one stays");
        t.set(Timer::CachedResponse, Some(Instant::MAX));
        t.clamp(Timer::CachedResponse, at(7), limit);
        assert_eq!(t.get(Timer::CachedResponse), Some(at(107)));
        assert_eq!(t.get(Timer::Retry), Some(at(110)), "only the one named");
    }
}
