//! Unit tests of freshness (§6.2) and the rejection counters (§7.3).

use core::time::Duration;

use super::{DownReason, Freshness, LinkState, RejectCounters};
use crate::config::Config;
use crate::error::RejectReason;
use crate::time::Instant;
use crate::wire::WireError;

const NS: Duration = Duration::from_nanos(1);

fn at(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

/// `stale_after` of 3 s: the tests' evidence a second or two old counts.
fn config() -> Config {
    Config::builder()
        .stale_after(Duration::from_secs(3))
        .build()
        .expect("valid")
}

/// §6.2, §7.3: evidence counts only while younger than `stale_after`;
/// exactly that old, it is already stale and changes nothing.
#[test]
fn evidence_counts_only_while_younger_than_stale_after() {
    let c = config();
    let stale = at(100);
    let now = stale + c.stale_after();
    let mut f = Freshness::default();
    assert!(!f.heard_at(stale, now, &c));
    assert_eq!(f, Freshness::default(), "stale evidence changes nothing");
    assert_eq!(f.state(), LinkState::NotYetUp);
    let young = stale + NS;
    assert!(f.heard_at(young, now, &c), "it comes up");
    assert_eq!(f.last, Some(young), "dated by the evidence, not by now");
    assert!(f.fresh);
    assert_eq!(f.since, Some(now), "up since it was noticed");
    assert_eq!(f.ups, 1);
    assert_eq!(f.state(), LinkState::Up);
}

/// §6.2: the latest evidence dates the direction, whatever order it comes
/// in, and none is dated later than now.
#[test]
fn the_latest_evidence_dates_the_direction() {
    let c = config();
    let mut f = Freshness::default();
    assert!(f.heard_at(at(10), at(10), &c));
    assert!(
        !f.heard_at(at(9), at(11), &c),
        "already up: no change of state"
    );
    assert_eq!(f.last, Some(at(10)), "older evidence does not move it back");
    assert!(!f.heard_at(at(12), at(12), &c));
    assert_eq!(f.last, Some(at(12)));
    assert!(!f.heard_at(at(20), at(13), &c));
    assert_eq!(
        f.last,
        Some(at(13)),
        "evidence dated later than now counts as now"
    );
    assert_eq!((f.ups, f.since), (1, Some(at(10))));
    assert_eq!(f.stale_at(&c), Some(at(13) + c.stale_after()));
}

/// §6.2, §7.3: a direction goes stale exactly `stale_after` after its latest
/// evidence, once, with the reason given and dated when it ran out, however
/// late that is noticed; a stale direction has no deadline.
#[test]
fn a_direction_goes_stale_exactly_stale_after_its_latest_evidence() {
    let c = config();
    let mut f = Freshness::default();
    assert_eq!(f.stale_at(&c), None, "never up");
    assert!(!f.expire(at(1000), &c, DownReason::Silence));
    assert_eq!(f, Freshness::default());
    assert!(f.heard_at(at(10), at(10), &c));
    let due = at(10) + c.stale_after();
    assert_eq!(f.stale_at(&c), Some(due));
    let early = Instant::from_nanos(due.as_nanos() - 1);
    assert!(!f.expire(early, &c, DownReason::Silence));
    assert!(f.fresh);
    let up = f;
    assert!(f.expire(due, &c, DownReason::OneWay), "at the deadline");
    assert!(!f.fresh);
    assert_eq!(
        (f.downs, f.since, f.last_down),
        (1, Some(due), Some(DownReason::OneWay))
    );
    assert_eq!(f.last, up.last, "the evidence it had is kept");
    assert_eq!(f.state(), LinkState::Down);
    assert_eq!(f.stale_at(&c), None);
    assert!(
        !f.expire(due + c.stale_after(), &c, DownReason::Silence),
        "once"
    );
    assert_eq!((f.downs, f.last_down), (1, Some(DownReason::OneWay)));

    // Noticed late, it is still dated when it ran out.
    let mut late = up;
    assert!(late.expire(due + Duration::from_secs(7), &c, DownReason::NoSession));
    assert_eq!(
        (late.since, late.last_down),
        (Some(due), Some(DownReason::NoSession))
    );

    // Up again: counted, and dated when noticed.
    assert!(f.heard_at(at(100), at(101), &c));
    assert_eq!((f.ups, f.downs, f.since), (2, 1, Some(at(101))));
    assert_eq!(f.state(), LinkState::Up);
}

/// §7: after the caller's clock goes back, no evidence and no change is
/// dated later than the new reading; what is earlier is kept.
#[test]
fn a_clock_gone_back_dates_nothing_later_than_now() {
    let c = config();
    let mut f = Freshness::default();
    f.clamp_time(at(5));
    assert_eq!(f, Freshness::default());
    assert!(f.heard_at(at(8), at(10), &c));
    let mut kept = f;
    kept.clamp_time(at(20));
    assert_eq!(kept, f, "a reading later than both changes nothing");
    f.clamp_time(at(9));
    assert_eq!((f.last, f.since), (Some(at(8)), Some(at(9))));
    f.clamp_time(at(3));
    assert_eq!((f.last, f.since), (Some(at(3)), Some(at(3))));
    assert_eq!(f.stale_at(&c), Some(at(3) + c.stale_after()));
}

/// Every reason, with its counter's name.
fn every_reason() -> [(RejectReason, &'static str); 8] {
    [
        (RejectReason::Malformed(WireError::Truncated), "malformed"),
        (RejectReason::UnknownSession, "unknown_session"),
        (RejectReason::UnknownPeer, "unknown_peer"),
        (RejectReason::BadMac, "bad_mac"),
        (RejectReason::EpochOutsideWindow, "epoch_outside_window"),
        (RejectReason::Replay, "replay"),
        (RejectReason::BadTag, "bad_tag"),
        (RejectReason::RateLimited, "rate_limited"),
    ]
}

/// §7.3: each refusal is counted once, in its own counter, under its
/// reason's name; the total is the sum of them all.
#[test]
fn each_refusal_counts_once_under_its_reason() {
    let mut r = RejectCounters::default();
    assert_eq!(r.total(), 0);
    // Reason k counted 2^k times: every counter differs, and the total
    // shows each one's weight.
    for (k, (reason, name)) in every_reason().into_iter().enumerate() {
        for _ in 0..1u64 << k {
            r.count(reason);
        }
        let named = r.by_name();
        assert_eq!(named[k], (name, 1 << k), "{reason}");
        assert!(named[k + 1..].iter().all(|&(_, n)| n == 0), "{reason}");
    }
    assert_eq!(r.total(), 255);
    let names: std::vec::Vec<_> = r.by_name().iter().map(|&(n, _)| n).collect();
    let expected: std::vec::Vec<_> = every_reason().iter().map(|&(_, n)| n).collect();
    assert_eq!(names, expected, "declaration order");
}

/// §7.3: the dominant reason is the largest counter, the first of equals,
/// and none while nothing was refused.
#[test]
fn the_dominant_reason_is_the_largest_and_the_first_of_equals() {
    let mut r = RejectCounters::default();
    assert_eq!(r.dominant(), None);
    r.bad_tag = 3;
    assert_eq!(r.dominant(), Some(("bad_tag", 3)));
    r.unknown_peer = 3;
    assert_eq!(
        r.dominant(),
        Some(("unknown_peer", 3)),
        "the first of equals"
    );
    r.rate_limited = 4;
    assert_eq!(r.dominant(), Some(("rate_limited", 4)));
    r.malformed = 1;
    assert_eq!(
        r.dominant(),
        Some(("rate_limited", 4)),
        "a smaller one first"
    );
}

/// What each counter grew by, never less than zero (a counter reset, or
/// an earlier snapshot taken later, reads as no growth).
#[test]
fn growth_since_a_snapshot_is_per_counter() {
    let mut earlier = RejectCounters::default();
    let mut now = RejectCounters::default();
    for (k, (reason, _)) in every_reason().into_iter().enumerate() {
        for _ in 0..k {
            earlier.count(reason);
        }
        for _ in 0..3 * k + 1 {
            now.count(reason);
        }
    }
    let grown = now.since(&earlier);
    for (k, &(_, n)) in grown.by_name().iter().enumerate() {
        assert_eq!(n, 2 * k as u64 + 1);
    }
    assert_eq!(earlier.since(&now), RejectCounters::default());
}
