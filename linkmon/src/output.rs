//! The JSON lines the daemon writes on stdout, one object per line, tagged
//! by `type`. Times are milliseconds with microsecond precision: `t_ms`
//! since the daemon started (monotonic, from 0 again after a restart),
//! `*_ms_ago` before the line. Every line also has `time`, the wall clock
//! when it was written, in UTC as RFC 3339 with microseconds
//! (`2026-03-01T12:00:00.250000Z`), to line up the output of several nodes
//! or of several runs.

use std::collections::BTreeMap;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One line of output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// The daemon is up.
    Start {
        /// Since the daemon started (monotonic).
        t_ms: f64,
        /// The wall clock when it was written: UTC, RFC 3339.
        time: String,
        /// This node.
        node: String,
        /// The bound socket address.
        listen: String,
        /// Where the metrics are served (`http://ADDR/metrics`), if they
        /// are.
        #[serde(default)]
        metrics_listen: Option<String>,
        /// This node's public key, hex.
        public_key: String,
        /// Neighbour names to their addresses.
        neighbours: BTreeMap<String, String>,
        /// The configured probe interval.
        probe_interval_ms: f64,
        /// The configured staleness threshold.
        stale_after_ms: f64,
        /// The configured retry cap.
        handshake_retry_max_ms: f64,
        /// How often status lines come.
        status_interval_ms: f64,
        /// What the crate promises once packets flow again, for a round
        /// trip of zero: add three round trips for a real link.
        recovery_bound_ms_at_zero_rtt: f64,
    },
    /// An event of the crate's about a neighbour, as the crate
    /// serializes it (`probekey::Event`, feature `serde`), with its
    /// `Display` text.
    Event {
        /// Since the daemon started (monotonic).
        t_ms: f64,
        /// The wall clock when it was written: UTC, RFC 3339.
        time: String,
        /// This node.
        node: String,
        /// The neighbour.
        neighbour: String,
        /// The event in words, e.g. `peer 0.0 outbound stale`.
        text: String,
        /// The event.
        event: probekey::Event,
    },
    /// Periodic: one neighbour's status.
    Status {
        /// Since the daemon started (monotonic).
        t_ms: f64,
        /// The wall clock when it was written: UTC, RFC 3339.
        time: String,
        /// This node.
        node: String,
        /// The neighbour.
        neighbour: String,
        /// What it is (boxed: the largest part of any line).
        #[serde(flatten)]
        status: Box<NeighbourStatus>,
    },
    /// Periodic: the endpoint's counters.
    Endpoint {
        /// Since the daemon started (monotonic).
        t_ms: f64,
        /// The wall clock when it was written: UTC, RFC 3339.
        time: String,
        /// This node.
        node: String,
        /// Every refused datagram, including those attributed to no
        /// configured neighbour (unknown keys, garbage).
        rejected: probekey::RejectCounters,
        /// Probes sealed.
        probes_sealed: u64,
        /// Probes opened.
        probes_opened: u64,
        /// Events lost to a full queue.
        events_dropped: u64,
        /// Socket receive errors.
        recv_errors: u64,
    },
    /// SIGHUP: the configuration's neighbours were applied.
    Reload {
        /// Since the daemon started (monotonic).
        t_ms: f64,
        /// The wall clock when it was written: UTC, RFC 3339.
        time: String,
        /// This node.
        node: String,
        /// Neighbours added.
        added: Vec<String>,
        /// Neighbours removed (their sessions ended).
        removed: Vec<String>,
        /// Neighbours whose key changed: removed and added again.
        rekeyed: Vec<String>,
        /// Neighbours whose address changed (their sessions kept).
        readdressed: Vec<String>,
        /// Neighbours configured now.
        neighbours: usize,
        /// Neighbours the endpoint refused (the others were applied).
        errors: Vec<String>,
    },
    /// SIGHUP: the configuration was refused; the running one goes on.
    ReloadFailed {
        /// Since the daemon started (monotonic).
        t_ms: f64,
        /// The wall clock when it was written: UTC, RFC 3339.
        time: String,
        /// This node.
        node: String,
        /// Why, as `linkmon check` would say it.
        error: String,
    },
    /// The last line, after SIGINT or SIGTERM.
    Shutdown {
        /// Since the daemon started (monotonic).
        t_ms: f64,
        /// The wall clock when it was written: UTC, RFC 3339.
        time: String,
        /// This node.
        node: String,
        /// `SIGINT` or `SIGTERM`.
        signal: String,
        /// Every neighbour's final status.
        neighbours: BTreeMap<String, NeighbourStatus>,
    },
}

impl Line {
    /// The wall clock when it was written (UTC, RFC 3339).
    pub fn time(&self) -> &str {
        match self {
            Line::Start { time, .. }
            | Line::Event { time, .. }
            | Line::Status { time, .. }
            | Line::Endpoint { time, .. }
            | Line::Reload { time, .. }
            | Line::ReloadFailed { time, .. }
            | Line::Shutdown { time, .. } => time,
        }
    }

    /// The node that wrote it.
    pub fn node(&self) -> &str {
        match self {
            Line::Start { node, .. }
            | Line::Event { node, .. }
            | Line::Status { node, .. }
            | Line::Endpoint { node, .. }
            | Line::Reload { node, .. }
            | Line::ReloadFailed { node, .. }
            | Line::Shutdown { node, .. } => node,
        }
    }
}

/// One neighbour's status: the crate's `PeerStatus` (feature `serde`:
/// instants in nanoseconds on the daemon's monotonic clock, as `t_ms` is
/// in milliseconds), and what the daemon itself counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeighbourStatus {
    /// The address probes are sent to.
    pub address: String,
    /// What the crate reports: freshness per direction (with transitions,
    /// the last change and why it last went down), the session, the
    /// handshake, round trips and counters.
    #[serde(flatten)]
    pub status: probekey::PeerStatus,
    /// Probes the probe schedule sent.
    pub probes_sent: u64,
    /// Echoes the probe schedule sent.
    pub echoes_sent: u64,
    /// Datagrams the socket failed to send to the neighbour.
    pub send_errors: u64,
    /// Valid datagrams of the neighbour's that came from another address
    /// than the configured one (behind a relay or NAT).
    pub from_other_address: u64,
}

/// `t` in UTC as RFC 3339 with microseconds: `2026-03-01T12:00:00.250000Z`.
pub fn rfc3339(t: SystemTime) -> String {
    // Microseconds since the epoch, negative before it.
    let micros: i128 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_micros()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_micros()).unwrap_or(i128::MAX),
    };
    let secs = micros.div_euclid(1_000_000);
    let micro = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micro:06}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64, micros: u32) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros.into()))
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(1_234_567_890, 250_000), "2009-02-13T23:31:30.250000Z");
        // The last second of a leap year, and the day after 28 February
        // of a year that is not one.
        assert_eq!(at(1_735_689_599, 999_999), "2024-12-31T23:59:59.999999Z");
        assert_eq!(at(1_740_787_200, 0), "2025-03-01T00:00:00.000000Z");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_micros(1)),
            "1969-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn every_day_of_four_centuries_follows_the_one_before() {
        let mut prev = civil_from_days(-1);
        assert_eq!(prev, (1969, 12, 31));
        for days in 0..146_097 {
            let (y, m, d) = civil_from_days(days);
            let next_day = (y, m, d) == (prev.0, prev.1, prev.2 + 1);
            let next_month = d == 1 && (y, m) == (prev.0, prev.1 + 1);
            let next_year = (m, d) == (1, 1) && y == prev.0 + 1 && prev.1 == 12;
            assert!(
                next_day || next_month || next_year,
                "{prev:?} then {:?}",
                (y, m, d)
            );
            prev = (y, m, d);
        }
        assert_eq!(prev, (2369, 12, 31));
    }
}
