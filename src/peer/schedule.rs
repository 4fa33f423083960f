//! The optional probe schedule (`docs/PROTOCOL.md` §7.6): when the caller
//! turns it on ([`crate::Endpoint::set_probe_schedule`]), the endpoint
//! sends a probe to each peer with a session every `probe_interval`,
//! echoes every probe it receives, and measures the round trip from the
//! echoes of its own probes. Its deadline is one of the peer's timers, so
//! `poll_timeout` includes the next probe and a daemon's loop is the socket
//! and `poll_timeout`, nothing more.

use core::time::Duration;

use crate::time::Instant;

/// The most bytes of a peer's probe its echo carries back.
pub const ECHO_BODY_LEN: usize = 32;

/// What a scheduled probe's body starts with, before its sequence number.
const MAGIC: [u8; 4] = *b"pks1";

/// A scheduled probe's body: [`MAGIC`] and the big-endian sequence number.
pub(crate) const PROBE_BODY_LEN: usize = 12;

/// The schedule's state for one peer.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "model", derive(Hash))]
pub(crate) struct ProbeSchedule {
    /// Whether the caller turned the schedule on.
    pub(crate) enabled: bool,
    /// When the next probe is due (sent once a session is in use).
    pub(crate) next_at: Instant,
    /// The sequence number of our latest scheduled probe, and its seal.
    seq: u64,
    sent_at: Option<Instant>,
    /// The body of the peer's latest probe, to echo.
    echo: [u8; ECHO_BODY_LEN],
    echo_len: u8,
    /// The round trip of the latest echo of our latest probe.
    pub(crate) echo_rtt: Option<Duration>,
}

impl ProbeSchedule {
    /// The probe timer's deadline: while on, and only with a session.
    pub(crate) fn deadline(&self, has_session: bool) -> Option<Instant> {
        (self.enabled && has_session).then_some(self.next_at)
    }

    /// The probe is due: the next one `interval` later.
    pub(crate) fn fire(&mut self, now: Instant, interval: Duration) {
        self.next_at = now.saturating_add(interval);
    }

    /// The body of the next scheduled probe.
    pub(crate) fn next_body(&self) -> [u8; PROBE_BODY_LEN] {
        let mut body = [0u8; PROBE_BODY_LEN];
        body[..4].copy_from_slice(&MAGIC);
        body[4..].copy_from_slice(&self.seq.wrapping_add(1).to_be_bytes());
        body
    }

    /// The probe [`Self::next_body`] wrote was sealed at `now`.
    pub(crate) fn sealed_probe(&mut self, now: Instant) {
        self.seq = self.seq.wrapping_add(1);
        self.sent_at = Some(now);
    }

    /// The peer's probe with `body` validated: keeps its start to echo.
    pub(crate) fn heard_probe(&mut self, body: &[u8]) {
        let n = body.len().min(ECHO_BODY_LEN);
        self.echo[..n].copy_from_slice(&body[..n]);
        // At most ECHO_BODY_LEN (32): fits in a byte.
        self.echo_len = u8::try_from(n).unwrap_or(0);
    }

    /// The body of the echo to send.
    pub(crate) fn echo_body(&self) -> &[u8] {
        &self.echo[..usize::from(self.echo_len)]
    }

    /// An echo with `body` validated at `now`: the round trip, if it echoes
    /// our latest scheduled probe.
    pub(crate) fn heard_echo(&mut self, body: &[u8], now: Instant) {
        let ours = body.len() == PROBE_BODY_LEN
            && body[..4] == MAGIC
            && body[4..] == self.seq.to_be_bytes();
        if let (true, Some(sent)) = (ours, self.sent_at) {
            self.echo_rtt = Some(now.saturating_duration_since(sent));
        }
    }

    /// The caller's clock went back to `now` (§7).
    pub(crate) fn clamp_time(&mut self, now: Instant, interval: Duration) {
        self.next_at = self.next_at.min(now.saturating_add(interval));
        if let Some(t) = &mut self.sent_at {
            *t = (*t).min(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// §7.6: the schedule has a deadline only while on and with a session;
    /// firing sets the next one an interval later.
    #[test]
    fn a_probe_is_due_every_interval_while_on_and_with_a_session() {
        let mut s = ProbeSchedule::default();
        assert_eq!(s.deadline(true), None, "off");
        s.enabled = true;
        assert_eq!(s.deadline(false), None, "no session");
        assert_eq!(s.deadline(true), Some(Instant::ZERO));
        s.fire(at(30), Duration::from_millis(100));
        assert_eq!(s.deadline(true), Some(at(130)));
        s.fire(Instant::MAX, Duration::from_millis(100));
        assert_eq!(s.deadline(true), Some(Instant::MAX), "saturates");
    }

    /// A scheduled probe's body is the magic and the next sequence number,
    /// big-endian; sealing it moves the number on.
    #[test]
    fn each_scheduled_probe_carries_the_next_sequence_number() {
        let mut s = ProbeSchedule::default();
        assert_eq!(&s.next_body(), b"pks1\0\0\0\0\0\0\0\x01");
        assert_eq!(s.next_body(), s.next_body(), "until sealed");
        s.sealed_probe(at(5));
        assert_eq!(&s.next_body(), b"pks1\0\0\0\0\0\0\0\x02");
    }

    /// The echo carries back the first `ECHO_BODY_LEN` bytes of the peer's
    /// latest probe, all of a shorter one.
    #[test]
    fn the_echo_carries_the_start_of_the_latest_probe() {
        let mut s = ProbeSchedule::default();
        assert_eq!(s.echo_body(), b"");
        let long: [u8; 40] = core::array::from_fn(|i| u8::try_from(i).expect("small"));
        s.heard_probe(&long);
        assert_eq!(s.echo_body(), &long[..ECHO_BODY_LEN]);
        s.heard_probe(b"short");
        assert_eq!(s.echo_body(), b"short");
    }

    /// §7.6: the echo round trip is measured only from an echo of our
    /// latest scheduled probe: its whole body, from its seal.
    #[test]
    fn only_an_echo_of_the_latest_probe_gives_a_round_trip() {
        let mut s = ProbeSchedule::default();
        let first = s.next_body();
        s.heard_echo(&first, at(1));
        assert_eq!(s.echo_rtt, None, "nothing sealed yet");
        s.sealed_probe(at(10));
        let second = s.next_body();
        s.sealed_probe(at(20));
        let mut other_magic = second;
        other_magic[0] ^= 1;
        let mut longer = [0u8; PROBE_BODY_LEN + 1];
        longer[..PROBE_BODY_LEN].copy_from_slice(&second);
        for (body, why) in [
            (&first[..], "an older probe"),
            (&other_magic[..], "another magic"),
            (&second[..PROBE_BODY_LEN - 1], "cut short"),
            (&longer[..], "longer"),
        ] {
            s.heard_echo(body, at(25));
            assert_eq!(s.echo_rtt, None, "{why}");
        }
        s.heard_echo(&second, at(27));
        assert_eq!(s.echo_rtt, Some(Duration::from_millis(7)));
    }

    /// §7: after the caller's clock goes back, the next probe is due within
    /// an interval and no seal is dated later than now.
    #[test]
    fn a_clock_gone_back_brings_the_schedule_back() {
        let mut s = ProbeSchedule::default();
        let interval = Duration::from_millis(100);
        s.fire(at(1_000), interval);
        let sealed = s.next_body();
        s.sealed_probe(at(1_000));
        s.clamp_time(at(2_000), interval);
        assert_eq!(s.next_at, at(1_100), "a later reading changes nothing");
        s.heard_echo(&sealed, at(1_040));
        assert_eq!(s.echo_rtt, Some(Duration::from_millis(40)));
        s.clamp_time(at(300), interval);
        assert_eq!(s.next_at, at(400));
        s.heard_echo(&sealed, at(350));
        assert_eq!(
            s.echo_rtt,
            Some(Duration::from_millis(50)),
            "sealed at 300 now"
        );
    }
}
