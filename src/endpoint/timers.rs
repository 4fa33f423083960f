//! Running a peer's expired timers (`docs/PROTOCOL.md` §6): one `match`,
//! over the table each peer keeps.

use rand_core::CryptoRng;

use super::{Endpoint, peer_at};
use crate::event::{Event, LinkDirection};
use crate::peer::timers::Timer;
use crate::table::{self, PeerTable};
use crate::time::Instant;

impl<R: CryptoRng, T: PeerTable> Endpoint<R, T> {
    /// When [`Self::handle_timeout`] must next be called: the earliest
    /// deadline in any peer's timer table, or earlier (a deadline that
    /// moved later is found out when it is reached, §7.4); `None` when no
    /// peer has a timer set. Already-due instants are returned as they
    /// are.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // The top of the deadline heap (§7.4): O(1), early at worst.
        let earliest = self.index.earliest(&self.peers);
        debug_assert!(
            table::configured(&self.peers)
                .filter_map(|(_, p)| p.timers.next())
                .min()
                .is_none_or(|t| earliest.is_some_and(|e| e <= t)),
            "the deadline heap is later than a peer's timer table"
        );
        earliest
    }

    /// Runs every timer due at `now`: expiries, staleness, handshake
    /// triggers and retries. Cheap to call early or often: it visits only
    /// the peers whose timers fired, each once. A visit runs the peer's
    /// timers in a fixed order, so one that an earlier timer sets for `now`
    /// runs in the same visit (the retry a rekey trigger sets sends the
    /// initiation at once); one set for `now` that comes earlier in the
    /// order would wait for the next call (no timer sets one).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        let mut visits = self.index.timed();
        while visits > 0
            && let Some(slot) = self.index.due(&self.peers, now)
        {
            visits -= 1;
            for timer in Timer::ALL {
                let expired =
                    table::get(&self.peers, slot).is_some_and(|p| p.timers.is_expired(timer, now));
                if expired {
                    self.run_timer(slot, timer, now);
                    self.rearm(slot);
                }
            }
            // The entry was due; the peer's next deadline may be later
            // (or the entry was early: §7.4).
            let next = table::get(&self.peers, slot).and_then(|p| p.timers.next());
            self.index.refresh(&mut self.peers, slot, next);
        }
    }

    /// What an expired timer does.
    fn run_timer(&mut self, slot: usize, timer: Timer, now: Instant) {
        let id = table::id(&self.peers, slot);
        let c = self.config;
        let Some(p) = peer_at(&mut self.peers, slot) else {
            return;
        };
        match timer {
            Timer::Session(i) => p.sessions.expire(usize::from(i), now, &c),
            Timer::CachedResponse => p.handshake.cached_response = None,
            Timer::InboundStale | Timer::OutboundStale => {
                let direction = if timer == Timer::InboundStale {
                    LinkDirection::Inbound
                } else {
                    LinkDirection::Outbound
                };
                if p.expire_direction(direction, now, &c) {
                    self.events.push(Event::HealthChanged {
                        peer: id,
                        direction,
                        fresh: false,
                    });
                }
            }
            Timer::StartHandshake => {
                if let Some(reason) = p.handshake_due(now, &c)
                    && let Some(e) = p.want_handshake(id, reason, now, &c)
                {
                    self.events.push(e);
                }
            }
            Timer::Retry => self.maybe_retry(slot, now),
            Timer::HandshakeFailing => {
                if let Some(e) = p.handshake_failing(now, &c) {
                    self.events.push(e);
                }
            }
            Timer::Probe => {
                p.schedule.fire(now, c.probe_interval());
                p.tx.push(crate::peer::TxQueue::PROBE);
            }
        }
    }
}
