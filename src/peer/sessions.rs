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

#[cfg(test)]
mod tests {
    //! The session table (§4.3, §4.4): which slot a new session takes,
    //! which one is sent on, what a replaced or erased session takes with
    //! it.
    use super::Sessions;
    use crate::config::Config;
    use crate::ids::SessionIndex;
    use crate::noise::TransportKeys;
    use crate::session::{Rank, Role, Session};
    use crate::time::Instant;
    use core::time::Duration;

    const T0: Instant = Instant::from_secs(100);

    /// A session of `role` at generation `generation`, our index `local`,
    /// the peer's `remote`, made at `at`.
    fn session(role: Role, generation: u64, local: u32, remote: u32, at: Instant) -> Session {
        Session::new(
            &TransportKeys::for_tests([1; 32], [2; 32]),
            role,
            Rank {
                generation,
                initiator_larger: true,
            },
            SessionIndex(local),
            SessionIndex(remote),
            at,
        )
    }

    fn proven(generation: u64, local: u32, remote: u32) -> Session {
        session(Role::Initiator, generation, local, remote, T0)
    }

    fn pending(generation: u64, local: u32, remote: u32) -> Session {
        session(Role::Responder, generation, local, remote, T0)
    }

    /// A table with `sessions` installed in slots 0, 1, ….
    fn table(sessions: impl IntoIterator<Item = Session>) -> Sessions {
        let mut t = Sessions::default();
        for (i, s) in sessions.into_iter().enumerate() {
            t.install(i, s);
        }
        t
    }

    #[test]
    fn a_session_is_found_by_its_local_index_and_only_while_held() {
        let mut t = table([proven(1, 11, 21), proven(2, 12, 22)]);
        assert_eq!(t.find(SessionIndex(11)), Some(0));
        assert_eq!(t.find(SessionIndex(12)), Some(1));
        assert_eq!(t.find(SessionIndex(21)), None, "a remote index");
        t.erase(0);
        assert_eq!(t.find(SessionIndex(11)), None);
        t.install(0, proven(3, 13, 23));
        assert_eq!(t.find(SessionIndex(13)), Some(0));
        assert_eq!(t.find(SessionIndex(11)), None);
    }

    #[test]
    fn only_is_true_of_the_one_slot_holding_the_only_session() {
        let mut t = table([proven(1, 11, 21)]);
        assert!(t.only(0));
        assert!(!t.only(1));
        t.install(2, proven(2, 12, 22));
        assert!(!t.only(0) && !t.only(2));
        t.erase(0);
        assert!(t.only(2));
    }

    /// §4.4: the current session is the one sent on; replacing or erasing
    /// it leaves the best proven session left, never a pending one.
    #[test]
    fn replacing_or_erasing_the_current_session_falls_back_to_the_best_proven() {
        let mut t = table([proven(1, 11, 21), proven(3, 13, 23), pending(5, 15, 25)]);
        assert_eq!(t.best_proven(), Some(1), "the highest proven rank");
        t.current = Some(1);
        t.erase(1);
        assert_eq!(
            t.current,
            Some(0),
            "the best proven left, not the pending one"
        );
        assert!(t.slots[1].is_none());
        // Installing over the current session: nothing is current until
        // the caller chooses.
        t.install(0, proven(6, 16, 26));
        assert_eq!(t.current, None);
        // Erasing a session that is not current keeps the current one.
        t.current = Some(0);
        t.erase(2);
        assert_eq!(t.current, Some(0));
        t.erase(0);
        assert_eq!(t.current, None, "nothing proven left");
    }

    /// §4.3: the session awaiting confirmation, and the session our probes
    /// acknowledge, are forgotten with the session in their slot, and only
    /// with it.
    #[test]
    fn a_session_takes_its_confirmation_wait_and_acknowledgement_with_it() {
        let mut t = table([proven(1, 11, 21), proven(2, 12, 22)]);
        t.unconfirmed = Some((1, T0));
        t.acked = Some(1);
        t.erase(0);
        assert_eq!((t.unconfirmed_slot(), t.acked), (Some(1), Some(1)));
        t.install(0, proven(3, 13, 23));
        assert_eq!((t.unconfirmed_slot(), t.acked), (Some(1), Some(1)));
        t.erase(1);
        assert_eq!((t.unconfirmed_slot(), t.acked), (None, None));
        t.unconfirmed = Some((0, T0));
        t.acked = Some(0);
        t.install(0, proven(4, 14, 24));
        assert_eq!((t.unconfirmed_slot(), t.acked), (None, None));
    }

    /// §2.4: a new session whose remote index is that of the session our
    /// probes acknowledge means the peer no longer holds that one: the
    /// acknowledgement stops. Another remote index leaves it.
    #[test]
    fn a_new_session_with_the_acknowledged_remote_index_stops_the_acknowledgement() {
        let mut t = table([proven(1, 11, 21)]);
        t.acked = Some(0);
        assert_eq!(t.ack().0, SessionIndex(21));
        t.install(1, proven(2, 12, 22));
        assert_eq!(t.acked, Some(0));
        t.install(2, proven(3, 13, 21));
        assert_eq!(t.acked, None);
        assert_eq!(t.ack(), (SessionIndex(0), 0));
    }

    /// A session we answered awaits the initiator's proof until a probe
    /// proves it (what the peer's status reports as awaiting
    /// confirmation).
    #[test]
    fn a_session_we_answered_awaits_its_proof() {
        let mut t = table([proven(1, 11, 21)]);
        assert!(!t.awaiting_proof());
        t.install(1, pending(2, 12, 22));
        assert!(t.awaiting_proof());
        if let Some(s) = t.slots[1].as_mut() {
            s.prove(T0);
        }
        assert!(!t.awaiting_proof());
    }

    /// §4.3: the current session is confirmed unless it is ours awaiting
    /// the peer's confirmation; with none current, nothing is.
    #[test]
    fn the_current_session_is_confirmed_unless_it_awaits_confirmation() {
        let mut t = table([proven(1, 11, 21), proven(2, 12, 22)]);
        assert!(!t.current_confirmed(), "none current");
        t.current = Some(0);
        assert!(t.current_confirmed());
        t.unconfirmed = Some((1, T0));
        assert!(t.current_confirmed(), "another one waits");
        t.unconfirmed = Some((0, T0));
        assert!(!t.current_confirmed());
    }

    /// §4.4: a pending session replaces the pending one; else a free slot;
    /// else the lowest-ranked session that is not current.
    #[test]
    fn a_new_session_takes_the_pending_slot_a_free_one_or_the_lowest_not_current() {
        let t = table([proven(4, 11, 21), pending(5, 12, 22)]);
        assert_eq!(t.slot_for_new(true), 1, "the pending one");
        assert_eq!(t.slot_for_new(false), 2, "the free one");
        let mut t = table([proven(4, 11, 21), proven(2, 12, 22), proven(3, 13, 23)]);
        assert_eq!(t.slot_for_new(true), 1, "no pending one: the lowest");
        t.current = Some(1);
        assert_eq!(t.slot_for_new(false), 2, "the lowest not current");
        let mut t = table([proven(1, 11, 21), proven(2, 12, 22), proven(3, 13, 23)]);
        t.current = Some(0);
        assert_eq!(t.slot_for_new(false), 1);
    }

    /// §4.4: a session outranks the current one by rank, then by age; with
    /// none current, any session would take over.
    #[test]
    fn a_session_outranks_the_current_one_by_rank_then_age() {
        let mut t = table([proven(2, 11, 21), proven(3, 12, 22), proven(1, 13, 23)]);
        assert!(t.outranks_current(2), "none current");
        t.current = Some(0);
        assert!(t.outranks_current(1));
        assert!(!t.outranks_current(2));
        assert!(!t.outranks_current(0), "not itself");
        t.erase(2);
        assert!(!t.outranks_current(2), "an empty slot");
        t.install(
            2,
            session(Role::Initiator, 2, 13, 23, T0 + Duration::from_secs(1)),
        );
        assert!(t.outranks_current(2), "same rank, newer");
    }

    /// §4.4: when the peer sends on a session, every proven session ranked
    /// below it gets its grace (once: a second supersession does not
    /// extend it); one ranked above, or pending, does not; the session
    /// awaiting confirmation, superseded, stops waiting.
    #[test]
    fn the_peers_session_supersedes_the_proven_ones_below_it() {
        let c = Config::default();
        let mut t = table([proven(1, 11, 21), proven(2, 12, 22), proven(3, 13, 23)]);
        t.unconfirmed = Some((0, T0));
        let now = T0 + Duration::from_secs(5);
        t.supersede_below(1, now, &c);
        let grace = Some(now + c.epoch_grace());
        let graces = t
            .slots
            .each_ref()
            .map(|s| s.as_ref().and_then(|s| s.grace_until));
        assert_eq!(graces, [grace, None, None]);
        assert_eq!(t.unconfirmed, None);
        let later = now + Duration::from_secs(1);
        t.supersede_below(2, later, &c);
        let graces = t
            .slots
            .each_ref()
            .map(|s| s.as_ref().and_then(|s| s.grace_until));
        assert_eq!(graces, [grace, Some(later + c.epoch_grace()), None]);
        // A pending session below is not superseded; an awaited one above
        // keeps waiting.
        let mut t = table([pending(1, 11, 21), proven(2, 12, 22), proven(3, 13, 23)]);
        t.unconfirmed = Some((2, T0));
        t.supersede_below(1, now, &c);
        assert!(t.slots[0].as_ref().is_some_and(|s| s.grace_until.is_none()));
        assert_eq!(t.unconfirmed_slot(), Some(2));
        // Made current, a session leaves its grace.
        t.supersede_below(2, now, &c);
        assert!(t.slots[1].as_ref().is_some_and(|s| s.grace_until.is_some()));
        t.make_current(1);
        assert_eq!(t.current, Some(1));
        assert!(t.slots[1].as_ref().is_some_and(|s| s.grace_until.is_none()));
    }

    /// §6.3: a session past its end is erased by its timer, one alive is
    /// kept; §7: a clock gone back brings the confirmation wait's start
    /// back with the sessions' times.
    #[test]
    fn sessions_expire_at_their_end_and_come_back_with_the_clock() {
        let c = Config::default();
        let mut t = table([pending(1, 11, 21), proven(2, 12, 22)]);
        t.current = Some(1);
        let before = T0 + (c.handshake_max_age() - Duration::from_nanos(1));
        t.expire(0, before, &c);
        assert!(t.slots[0].is_some());
        t.expire(0, T0 + c.handshake_max_age(), &c);
        assert!(
            t.slots[0].is_none(),
            "a pending session lives handshake_max_age"
        );
        t.expire(0, T0 + c.reject_after_time(), &c);
        t.expire(1, T0 + c.reject_after_time(), &c);
        assert!(t.slots.iter().all(Option::is_none));
        assert_eq!(t.current, None);
        let later = T0 + Duration::from_secs(50);
        let mut t = table([session(Role::Initiator, 1, 11, 21, later)]);
        t.unconfirmed = Some((0, later));
        t.clamp_time(T0, &c);
        assert_eq!(t.unconfirmed, Some((0, T0)));
        assert!(t.slots[0].as_ref().is_some_and(|s| s.created_at == T0));
        t.clamp_time(later, &c);
        assert_eq!(
            t.unconfirmed,
            Some((0, T0)),
            "a later reading changes nothing"
        );
    }
}
