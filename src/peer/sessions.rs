//! A peer's sessions: the slots, which one we send on, and which one of
//! ours awaits the peer's confirmation (`docs/PROTOCOL.md` §4.3, §4.4).

use crate::config::Config;
use crate::ids::SessionIndex;
use crate::session::Session;
use crate::time::Instant;

/// Sessions kept per peer: the current one, one being replaced or
/// replacing, and one awaiting the initiator's proof (§4.4).
pub(crate) const SESSIONS: usize = 3;

/// The sessions held with one peer.
#[derive(Default)]
#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct Sessions {
    /// The local index of the session in each slot, beside the slot
    /// numbers below: a probe finds its session reading one cache line,
    /// not the three sessions (§7.4).
    indexes: [Option<SessionIndex>; SESSIONS],
    pub(crate) slots: [Option<Session>; SESSIONS],
    /// The slot we send on.
    pub(crate) current: Option<usize>,
    /// A session we initiated, whose response we read, that no probe of
    /// the peer's has validated yet (its slot, and when its initiation was
    /// first sent). The handshake goes on until one does (§4.3).
    pub(crate) unconfirmed: Option<(u8, Instant)>,
    /// The slot of the session we last validated a probe of the peer's in:
    /// what our probes acknowledge (§2.4), while it holds that session.
    pub(crate) acked: Option<usize>,
}

impl Sessions {
    pub(crate) fn current(&self) -> Option<&Session> {
        self.current.and_then(|i| self.slots[i].as_ref())
    }

    pub(crate) fn current_mut(&mut self) -> Option<&mut Session> {
        self.current.and_then(|i| self.slots[i].as_mut())
    }

    /// What our next probe acknowledges (§2.4): the peer's index of the
    /// session we last validated a probe in and one more than the highest
    /// counter validated in it, or nothing (`0`, `0`).
    pub(crate) fn ack(&self) -> (SessionIndex, u64) {
        self.acked
            .and_then(|i| self.slots[i].as_ref())
            .map_or((SessionIndex(0), 0), |s| (s.remote_index, s.recv_next()))
    }

    /// Puts `session` in slot `i`, forgetting what pointed at the session
    /// it replaces.
    ///
    /// The peer chose the new session's index among those it does not
    /// use, so a session of ours with the same remote index is one the
    /// peer no longer holds: our probes stop acknowledging it, or they
    /// would name the new session's probes, which we never heard (§2.4).
    pub(crate) fn install(&mut self, i: usize, session: Session) {
        if self.current == Some(i) {
            self.current = None;
        }
        self.forget(i);
        if let Some(a) = self.acked
            && self.slots[a]
                .as_ref()
                .is_some_and(|s| s.remote_index == session.remote_index)
        {
            self.acked = None;
        }
        self.indexes[i] = Some(session.local_index);
        self.slots[i] = Some(session);
    }

    /// Erases the session in slot `i`; if it was current, the best proven
    /// session left takes over.
    pub(crate) fn erase(&mut self, i: usize) {
        if self.current == Some(i) {
            self.current = None;
        }
        self.forget(i);
        self.indexes[i] = None;
        self.slots[i] = None;
        if self.current.is_none() {
            self.current = self.best_proven();
        }
    }

    fn forget(&mut self, i: usize) {
        if self.unconfirmed_slot() == Some(i) {
            self.unconfirmed = None;
        }
        if self.acked == Some(i) {
            self.acked = None;
        }
    }

    /// Erases keys past their grace and sessions past their end (§6.3):
    /// what the session timer of slot `i` does.
    pub(crate) fn expire(&mut self, i: usize, now: Instant, c: &Config) {
        let alive = match &mut self.slots[i] {
            Some(s) => {
                s.expire_keys(now);
                s.alive(now, c)
            }
            None => true,
        };
        if !alive {
            self.erase(i);
        }
    }

    /// The caller's clock went back to `now` (§7).
    pub(crate) fn clamp_time(&mut self, now: Instant, c: &Config) {
        if let Some((_, first_sent_at)) = &mut self.unconfirmed {
            *first_sent_at = (*first_sent_at).min(now);
        }
        for s in self.slots.iter_mut().flatten() {
            s.clamp_time(now, c);
        }
    }

    /// Whether the current session is proven to be held by the peer: not
    /// one of ours still awaiting the peer's confirmation.
    pub(crate) fn current_confirmed(&self) -> bool {
        self.current.is_some() && self.current != self.unconfirmed_slot()
    }

    /// The slot of the session awaiting the peer's confirmation.
    pub(crate) fn unconfirmed_slot(&self) -> Option<usize> {
        self.unconfirmed.map(|(slot, _)| usize::from(slot))
    }

    pub(crate) fn find(&self, index: SessionIndex) -> Option<usize> {
        self.indexes.iter().position(|&i| i == Some(index))
    }

    /// Whether slot `si` holds the only session.
    pub(crate) fn only(&self, si: usize) -> bool {
        self.indexes
            .iter()
            .enumerate()
            .all(|(i, x)| (i == si) == x.is_some())
    }

    /// Whether the session in slot `i` would take over from the current
    /// one (§4.4).
    pub(crate) fn outranks_current(&self, i: usize) -> bool {
        self.slots[i]
            .as_ref()
            .is_some_and(|new| self.current().is_none_or(|cur| new.outranks(cur)))
    }

    /// The highest-ranked proven session, the one to send on.
    pub(crate) fn best_proven(&self) -> Option<usize> {
        let mut best: Option<(usize, &Session)> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(s) = s
                && s.proven
                && best.is_none_or(|(_, b)| s.outranks(b))
            {
                best = Some((i, s));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Whether a session we answered waits for the initiator's proof.
    pub(crate) fn awaiting_proof(&self) -> bool {
        self.slots.iter().flatten().any(|s| !s.proven)
    }

    /// The slot a new session goes to: for a pending (unproven) session the
    /// slot of the pending one it replaces; else a free slot; else the
    /// lowest-ranked session that is not current (§4.4).
    pub(crate) fn slot_for_new(&self, pending: bool) -> usize {
        if pending
            && let Some(i) = self
                .slots
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| !s.proven))
        {
            return i;
        }
        if let Some(i) = self.slots.iter().position(Option::is_none) {
            return i;
        }
        let mut victim = None;
        let mut lowest: Option<&Session> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if Some(i) == self.current {
                continue;
            }
            if let Some(s) = s
                && lowest.is_none_or(|l| l.outranks(s))
            {
                lowest = Some(s);
                victim = Some(i);
            }
        }
        victim.unwrap_or(0)
    }

    /// The peer sends on the session in slot `si`, the current one: every
    /// proven session ranked below it is superseded (§4.4, the session
    /// table). It gets its grace window, and if it is ours awaiting
    /// confirmation it no longer waits. A session ranked above the current
    /// one is not superseded, whatever its role: the peer has not moved off
    /// it, it may yet move on to it.
    pub(crate) fn supersede_below(&mut self, si: usize, now: Instant, c: &Config) {
        let Some(rank) = self.slots[si].as_ref().map(|s| (s.rank, s.created_at)) else {
            return;
        };
        let mut superseded_waiting = false;
        let waiting = self.unconfirmed_slot();
        for (i, other) in self.slots.iter_mut().enumerate() {
            if let Some(o) = other
                && i != si
                && o.proven
                && (o.rank, o.created_at) < rank
            {
                if o.grace_until.is_none() {
                    o.grace_until = Some(now.saturating_add(c.epoch_grace()));
                }
                superseded_waiting |= Some(i) == waiting;
            }
        }
        if superseded_waiting {
            self.unconfirmed = None;
        }
    }

    /// The session in slot `si` takes over sending (§4.4): a session the
    /// peer demonstrably uses is out of any grace it was given.
    pub(crate) fn make_current(&mut self, si: usize) {
        self.current = Some(si);
        if let Some(s) = self.slots[si].as_mut() {
            s.grace_until = None;
        }
    }
}
