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
