//! A peer's handshake state: whether one is wanted, the initiation in
//! flight, the cached response, and the rate limit (`docs/PROTOCOL.md`
//! §4.3, §4.5).

use core::time::Duration;

use crate::config::Config;
use crate::event::HandshakeReason;
use crate::ids::SessionIndex;
use crate::noise::Initiator;
use crate::status::HandshakeState;
use crate::time::Instant;
use crate::wire::{INITIATION_LEN, RESPONSE_LEN};

#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct InFlight {
    pub(crate) noise: Initiator,
    pub(crate) sender_index: SessionIndex,
    pub(crate) generation: u64,
    pub(crate) message: [u8; INITIATION_LEN],
    pub(crate) created_at: Instant,
    pub(crate) first_sent_at: Instant,
    /// Whether `message` binds a challenge, or asks for one (§4.5);
    /// retries always go unbound.
    pub(crate) bound: bool,
}

#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct Want {
    pub(crate) reason: HandshakeReason,
    pub(crate) since: Instant,
    pub(crate) attempts: u32,
    /// The peer's refused datagrams when the want began, to report what
    /// was refused since (`Event::HandshakeFailing`).
    pub(crate) rejected_at_start: crate::status::RejectCounters,
    /// When the handshake is next reported failing if it has not
    /// completed: `handshake_failing_after` after the want began, then
    /// again each time that much longer passes.
    pub(crate) failing_report_at: Instant,
}

#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct CachedResponse {
    /// SHA-256 of the initiation this answers.
    pub(crate) initiation: [u8; 32],
    pub(crate) message: [u8; RESPONSE_LEN],
}

/// A token bucket in caller time (§4.5).
#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct TokenBucket {
    tokens: u32,
    refilled_at: Instant,
}

impl TokenBucket {
    pub(crate) fn new(burst: u32, now: Instant) -> Self {
        TokenBucket {
            tokens: burst,
            refilled_at: now,
        }
    }

    /// Takes a token of a peer's bucket (§4.5).
    pub(crate) fn try_take(&mut self, now: Instant, config: &Config) -> bool {
        let interval = crate::time::duration_nanos(config.handshake_rate_interval());
        self.try_take_n(now, 1, interval, config.handshake_rate_burst())
    }

    /// Takes `n` tokens if there are that many, one more coming every
    /// `interval` nanoseconds, at most `burst` held.
    pub(crate) fn try_take_n(&mut self, now: Instant, n: u32, interval: u64, burst: u32) -> bool {
        let interval = interval.max(1);
        let elapsed = now.saturating_duration_since(self.refilled_at);
        let add = crate::time::duration_nanos(elapsed) / interval;
        if add > 0 {
            let add32 = u32::try_from(add).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(add32).min(burst);
            self.refilled_at = self
                .refilled_at
                .saturating_add(Duration::from_nanos(add.saturating_mul(interval)));
        }
        if self.tokens < n {
            return false;
        }
        self.tokens -= n;
        true
    }

    /// The caller's clock went back to `now` (§7).
    pub(crate) fn clamp_time(&mut self, now: Instant) {
        self.refilled_at = self.refilled_at.min(now);
    }
}

/// Everything about the handshakes with one peer, apart from the sessions
/// they make.
#[cfg_attr(feature = "model", derive(Clone, Hash))]
pub(crate) struct Handshake {
    pub(crate) want: Option<Want>,
    pub(crate) in_flight: Option<InFlight>,
    pub(crate) cached_response: Option<CachedResponse>,
    /// SHA-256 of the last initiation processed.
    pub(crate) last_initiation: Option<[u8; 32]>,
    pub(crate) max_generation: u64,
    pub(crate) bucket: TokenBucket,
    /// As responder (§4.5): challenges of ours the peer has answered; the
    /// current one is number `challenges_answered + 1`.
    pub(crate) challenges_answered: u64,
    /// As responder: the sender index of the initiation a challenge is
    /// queued for (its high bits name our slot at the peer).
    pub(crate) challenge_to: crate::ids::SessionIndex,
    /// As initiator: the latest challenge the peer sent us, unused.
    pub(crate) held: Option<[u8; crate::wire::MAC1_LEN]>,
    /// As initiator: the highest challenge number the peer sent us.
    pub(crate) challenge_seen: u64,
    /// As initiator: the ephemeral public key of the initiation the last
    /// response we read answered, to check copies of that response's mac2.
    pub(crate) answered_ephemeral: Option<[u8; 32]>,
}

impl Handshake {
    pub(crate) fn new(c: &Config, now: Instant) -> Self {
        Handshake {
            want: None,
            in_flight: None,
            cached_response: None,
            last_initiation: None,
            max_generation: 0,
            bucket: TokenBucket::new(c.handshake_rate_burst(), now),
            challenges_answered: 0,
            challenge_to: crate::ids::SessionIndex(0),
            held: None,
            challenge_seen: 0,
            answered_ephemeral: None,
        }
    }

    /// Wants a handshake for `reason`; `rejected` is the peer's refused
    /// datagrams so far. False if one is already wanted.
    pub(crate) fn want(
        &mut self,
        reason: HandshakeReason,
        now: Instant,
        c: &Config,
        rejected: crate::status::RejectCounters,
    ) -> bool {
        if self.want.is_some() {
            return false;
        }
        self.want = Some(Want {
            reason,
            since: now,
            attempts: 0,
            rejected_at_start: rejected,
            failing_report_at: now.saturating_add(c.handshake_failing_after()),
        });
        true
    }

    /// The caller's clock went back to `now` (§7): nothing started later.
    pub(crate) fn clamp_time(&mut self, now: Instant, c: &Config) {
        if let Some(w) = &mut self.want {
            w.since = w.since.min(now);
            w.failing_report_at = w
                .failing_report_at
                .min(now.saturating_add(c.handshake_failing_after()));
        }
        if let Some(f) = &mut self.in_flight {
            f.created_at = f.created_at.min(now);
            f.first_sent_at = f.first_sent_at.min(now);
        }
        self.bucket.clamp_time(now);
    }

    /// The handshake is over: nothing left to retry, the ephemeral secret
    /// erased.
    pub(crate) fn finish(&mut self) {
        self.want = None;
        self.in_flight = None;
    }

    /// The next generation to propose, recorded as used.
    pub(crate) fn next_generation(&mut self) -> u64 {
        self.max_generation = self.max_generation.saturating_add(1);
        self.max_generation
    }

    /// Whether `index` names the initiation in flight.
    pub(crate) fn in_flight_is(&self, index: SessionIndex) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|f| f.sender_index == index)
    }

    pub(crate) fn state(&self) -> HandshakeState {
        match &self.want {
            None => HandshakeState::Idle,
            Some(w) => HandshakeState::Initiating {
                reason: w.reason,
                since: w.since,
                attempts: w.attempts,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;
    use crate::config::Config;
    use crate::time::Instant;
    use core::time::Duration;

    const MS: u64 = 1_000_000;

    /// §4.5: a bucket starts full, gives `n` tokens at once only if it holds
    /// that many, refills one per whole interval elapsed (keeping the part
    /// of an interval that has not elapsed yet), and never holds more than
    /// its burst.
    #[test]
    fn a_bucket_refills_one_token_per_whole_interval_up_to_its_burst() {
        let t0 = Instant::from_secs(10);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut b = TokenBucket::new(3, t0);
        assert!(!b.try_take_n(t0, 4, 100 * MS, 3), "more than it holds");
        assert!(b.try_take_n(t0, 2, 100 * MS, 3));
        assert!(b.try_take_n(t0, 1, 100 * MS, 3));
        assert!(!b.try_take_n(t0, 1, 100 * MS, 3), "empty");
        // 150 ms: one token, and the half interval is kept.
        assert!(b.try_take_n(at(150), 1, 100 * MS, 3));
        assert!(!b.try_take_n(at(199), 1, 100 * MS, 3));
        assert!(
            b.try_take_n(at(200), 1, 100 * MS, 3),
            "the kept half counted"
        );
        // A long pause refills to the burst, no further.
        assert!(b.try_take_n(at(10_000), 3, 100 * MS, 3));
        assert!(!b.try_take_n(at(10_000), 1, 100 * MS, 3));
        // A zero interval is one nanosecond, not a division by zero.
        let mut z = TokenBucket::new(1, t0);
        assert!(z.try_take_n(t0, 1, 0, 1));
        assert!(!z.try_take_n(t0, 1, 0, 1));
        assert!(z.try_take_n(t0 + Duration::from_nanos(1), 1, 0, 1));
    }

    /// A peer's bucket: `handshake_rate_burst` tokens, one more each
    /// `handshake_rate_interval`.
    #[test]
    fn a_peers_bucket_follows_the_config() {
        let c = Config::default();
        let t0 = Instant::from_secs(10);
        let mut b = TokenBucket::new(c.handshake_rate_burst(), t0);
        for _ in 0..c.handshake_rate_burst() {
            assert!(b.try_take(t0, &c));
        }
        assert!(!b.try_take(t0, &c), "past the burst");
        let next = t0 + c.handshake_rate_interval();
        let just_before = t0 + (c.handshake_rate_interval() - Duration::from_nanos(1));
        assert!(!b.try_take(just_before, &c));
        assert!(b.try_take(next, &c));
    }

    /// §7: after the clock went back, tokens refill from the new reading,
    /// not from a refill time still ahead of it.
    #[test]
    fn a_clock_gone_back_refills_from_the_new_reading() {
        let c = Config::default();
        let late = Instant::from_secs(100);
        let mut b = TokenBucket::new(1, late);
        assert!(b.try_take(late, &c));
        let back = Instant::from_secs(10);
        b.clamp_time(back);
        assert!(b.try_take(back + c.handshake_rate_interval(), &c));
    }

    /// §4.3: each initiation proposes the generation after the highest one
    /// used or seen, and the last generation is proposed again rather than
    /// wrapping.
    #[test]
    fn generations_count_up_from_the_highest_seen_and_never_wrap() {
        let mut h = super::Handshake::new(&Config::default(), Instant::ZERO);
        assert_eq!(h.next_generation(), 1);
        assert_eq!(h.next_generation(), 2);
        assert_eq!(h.max_generation, 2, "recorded as used");
        h.max_generation = 40;
        assert_eq!(h.next_generation(), 41);
        h.max_generation = u64::MAX;
        assert_eq!(h.next_generation(), u64::MAX);
    }

    /// §7: after the clock went back, the handshake wanted started no later
    /// than the new reading, is reported failing a whole
    /// `handshake_failing_after` from it at the latest, and its bucket
    /// refills from it.
    #[test]
    fn a_clock_gone_back_brings_the_wanted_handshake_back() {
        use crate::event::HandshakeReason;
        let c = Config::default();
        let late = Instant::from_secs(100);
        let mut h = super::Handshake::new(&c, late);
        assert!(h.want(HandshakeReason::Rekey, late, &c, Default::default()));
        for _ in 0..c.handshake_rate_burst() {
            assert!(h.bucket.try_take(late, &c));
        }
        let back = Instant::from_secs(10);
        h.clamp_time(back, &c);
        let w = h.want.as_ref().expect("wanted");
        assert_eq!(w.since, back);
        assert_eq!(w.failing_report_at, back + c.handshake_failing_after());
        assert!(h.bucket.try_take(back + c.handshake_rate_interval(), &c));
        // A later reading changes nothing.
        let before = (w.since, w.failing_report_at);
        h.clamp_time(Instant::from_secs(50), &c);
        let w = h.want.as_ref().expect("wanted");
        assert_eq!((w.since, w.failing_report_at), before);
    }
}
