//! The Prometheus metrics: a registry of `prometheus-client` families that
//! the loop updates, and a small HTTP/1.1 listener thread that serves
//! `GET /metrics` in the OpenMetrics text format.
//!
//! Every family is described in the README's operator section.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread;
use std::time::Duration;

use probekey::{LinkDirection, RejectCounters};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A client that sends nothing (or trickles) is dropped after this long,
/// so that it cannot hold the listener.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest request head read.
const MAX_REQUEST: usize = 8192;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NeighbourLabels {
    neighbour: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    neighbour: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    neighbour: String,
    direction: &'static str,
    /// `fresh` (the direction came up) or `stale` (it went down).
    to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectionLabels {
    neighbour: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailingLabels {
    neighbour: String,
    /// The reason most of the neighbour's datagrams were refused for while
    /// the handshake failed, or `none` if nothing was heard from it.
    dominant: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// What the loop updates; the listener thread reads the same atomics
/// through the registry.
pub struct Metrics {
    fresh: Family<DirectionLabels, Gauge>,
    transitions: Family<TransitionLabels, Counter>,
    since_change: Family<DirectionLabels, FloatGauge>,
    handshakes_started: Family<NeighbourLabels, Counter>,
    handshakes_completed: Family<NeighbourLabels, Counter>,
    handshake_attempts: Family<NeighbourLabels, Gauge>,
    handshake_latency: Family<NeighbourLabels, Histogram, fn() -> Histogram>,
    rejected: Family<RejectionLabels, Counter>,
    endpoint_rejected: Family<ReasonLabels, Counter>,
    rtt: Family<NeighbourLabels, FloatGauge>,
    handshake_failing: Family<NeighbourLabels, Gauge>,
    handshake_failing_reports: Family<FailingLabels, Counter>,
    neighbours: Gauge,
    reloads: Family<ResultLabels, Counter>,
}

/// One neighbour's values at a refresh.
pub struct Sample<'a> {
    pub name: &'a str,
    pub inbound_fresh: bool,
    pub outbound_fresh: bool,
    pub inbound_since_change: Duration,
    pub outbound_since_change: Duration,
    pub handshakes_started: u64,
    pub handshakes_completed: u64,
    /// Initiations of the handshake under way; 0 when none is.
    pub handshake_attempts: u64,
    pub rejected: &'a RejectCounters,
    /// The round trip of the latest echo of our latest probe.
    pub rtt: Option<Duration>,
}

const DIRECTIONS: [LinkDirection; 2] = [LinkDirection::Inbound, LinkDirection::Outbound];

/// Brings a counter up to a cumulative value counted elsewhere (the
/// crate's counters, which only grow while the neighbour is configured).
fn counter_to(c: &Counter, value: u64) {
    let now = c.get();
    if value > now {
        c.inc_by(value - now);
    }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Metrics {
    /// The families, registered in a new registry.
    pub fn new() -> (Metrics, Registry) {
        let mut registry = Registry::with_prefix("linkmon");
        let m = Metrics {
            fresh: Family::default(),
            transitions: Family::default(),
            since_change: Family::default(),
            handshakes_started: Family::default(),
            handshakes_completed: Family::default(),
            handshake_attempts: Family::default(),
            handshake_latency: Family::new_with_constructor(latency_histogram),
            rejected: Family::default(),
            endpoint_rejected: Family::default(),
            rtt: Family::default(),
            handshake_failing: Family::default(),
            handshake_failing_reports: Family::default(),
            neighbours: Gauge::default(),
            reloads: Family::default(),
        };
        registry.register(
            "direction_fresh",
            "1 if the direction of the link with the neighbour is fresh, 0 if stale",
            m.fresh.clone(),
        );
        registry.register(
            "direction_transitions",
            "Changes of a direction's freshness, to fresh or to stale",
            m.transitions.clone(),
        );
        registry.register(
            "direction_since_change_seconds",
            "Seconds since the direction last changed freshness (or since the neighbour was configured)",
            m.since_change.clone(),
        );
        registry.register(
            "handshakes_started",
            "Handshakes started with the neighbour",
            m.handshakes_started.clone(),
        );
        registry.register(
            "handshakes_completed",
            "Sessions established with the neighbour",
            m.handshakes_completed.clone(),
        );
        registry.register(
            "handshake_attempts",
            "Initiations sent in the handshake under way (retries included); 0 when none is",
            m.handshake_attempts.clone(),
        );
        registry.register(
            "handshake_latency_seconds",
            "Latency of each completed handshake",
            m.handshake_latency.clone(),
        );
        registry.register(
            "rejected",
            "Refused datagrams attributed to the neighbour, by reason",
            m.rejected.clone(),
        );
        registry.register(
            "endpoint_rejected",
            "Every refused datagram, attributed to a neighbour or not, by reason",
            m.endpoint_rejected.clone(),
        );
        registry.register(
            "rtt_seconds",
            "Round-trip time of the neighbour's latest echo of our probe",
            m.rtt.clone(),
        );
        registry.register(
            "handshake_failing",
            "1 from a report that the handshake with the neighbour is failing (it has not completed for handshake_failing_after) until a session is established",
            m.handshake_failing.clone(),
        );
        registry.register(
            "handshake_failing_reports",
            "Reports of a failing handshake, by the reason most of the neighbour's datagrams were refused for meanwhile (none: nothing heard)",
            m.handshake_failing_reports.clone(),
        );
        registry.register("neighbours", "Neighbours configured", m.neighbours.clone());
        registry.register(
            "config_reloads",
            "Configuration reloads (SIGHUP), applied (ok) or refused (error)",
            m.reloads.clone(),
        );
        (m, registry)
    }

    /// A `HealthChanged` event.
    pub fn health_changed(&self, neighbour: &str, direction: LinkDirection, fresh: bool) {
        let direction = direction.as_str();
        self.transitions
            .get_or_create(&TransitionLabels {
                neighbour: neighbour.to_owned(),
                direction,
                to: if fresh { "fresh" } else { "stale" },
            })
            .inc();
        let labels = DirectionLabels {
            neighbour: neighbour.to_owned(),
            direction,
        };
        self.fresh.get_or_create(&labels).set(i64::from(fresh));
        self.since_change.get_or_create(&labels).set(0.0);
    }

    /// A `SessionEstablished` event.
    pub fn session_established(&self, neighbour: &str, latency: Duration) {
        let labels = NeighbourLabels {
            neighbour: neighbour.to_owned(),
        };
        self.handshake_latency
            .get_or_create(&labels)
            .observe(latency.as_secs_f64());
        self.handshake_failing.get_or_create(&labels).set(0);
    }

    /// A `HandshakeFailing` event, with the neighbour's datagrams refused
    /// since the handshake began.
    pub fn handshake_failing(&self, neighbour: &str, rejected: &RejectCounters) {
        self.handshake_failing
            .get_or_create(&NeighbourLabels {
                neighbour: neighbour.to_owned(),
            })
            .set(1);
        self.handshake_failing_reports
            .get_or_create(&FailingLabels {
                neighbour: neighbour.to_owned(),
                dominant: rejected.dominant().map_or("none", |(name, _)| name),
            })
            .inc();
    }

    /// A reload, applied or refused.
    pub fn reloaded(&self, ok: bool) {
        self.reloads
            .get_or_create(&ResultLabels {
                result: if ok { "ok" } else { "error" },
            })
            .inc();
    }

    /// The periodic refresh of one neighbour.
    pub fn neighbour(&self, s: &Sample<'_>) {
        let name = || s.name.to_owned();
        for (direction, fresh, since) in [
            (
                LinkDirection::Inbound,
                s.inbound_fresh,
                s.inbound_since_change,
            ),
            (
                LinkDirection::Outbound,
                s.outbound_fresh,
                s.outbound_since_change,
            ),
        ] {
            let labels = DirectionLabels {
                neighbour: name(),
                direction: direction.as_str(),
            };
            self.fresh.get_or_create(&labels).set(i64::from(fresh));
            self.since_change
                .get_or_create(&labels)
                .set(since.as_secs_f64());
        }
        let labels = NeighbourLabels { neighbour: name() };
        counter_to(
            &self.handshakes_started.get_or_create(&labels),
            s.handshakes_started,
        );
        counter_to(
            &self.handshakes_completed.get_or_create(&labels),
            s.handshakes_completed,
        );
        self.handshake_attempts
            .get_or_create(&labels)
            .set(saturating_i64(s.handshake_attempts));
        // Created with the neighbour, so that a histogram with no
        // handshake yet reads 0 rather than absent.
        drop(self.handshake_latency.get_or_create(&labels));
        drop(self.handshake_failing.get_or_create(&labels));
        for (reason, n) in s.rejected.by_name() {
            counter_to(
                &self.rejected.get_or_create(&RejectionLabels {
                    neighbour: name(),
                    reason,
                }),
                n,
            );
        }
        if let Some(rtt) = s.rtt {
            self.rtt.get_or_create(&labels).set(rtt.as_secs_f64());
        }
    }

    /// The periodic refresh of the endpoint's counters.
    pub fn endpoint(&self, rejected: &RejectCounters, neighbours: usize) {
        for (reason, n) in rejected.by_name() {
            counter_to(
                &self
                    .endpoint_rejected
                    .get_or_create(&ReasonLabels { reason }),
                n,
            );
        }
        self.neighbours.set(saturating_i64(
            u64::try_from(neighbours).unwrap_or(u64::MAX),
        ));
    }

    /// Every series of a neighbour that was removed (or removed to be
    /// added again with another key: its counters start again from 0).
    pub fn remove(&self, neighbour: &str) {
        let name = || neighbour.to_owned();
        for direction in DIRECTIONS.map(LinkDirection::as_str) {
            let labels = DirectionLabels {
                neighbour: name(),
                direction,
            };
            self.fresh.remove(&labels);
            self.since_change.remove(&labels);
            for to in ["fresh", "stale"] {
                self.transitions.remove(&TransitionLabels {
                    neighbour: name(),
                    direction,
                    to,
                });
            }
        }
        let labels = NeighbourLabels { neighbour: name() };
        self.handshakes_started.remove(&labels);
        self.handshakes_completed.remove(&labels);
        self.handshake_attempts.remove(&labels);
        self.handshake_latency.remove(&labels);
        self.rtt.remove(&labels);
        self.handshake_failing.remove(&labels);
        let dominants = RejectCounters::default().by_name().map(|(name, _)| name);
        for dominant in dominants.into_iter().chain(["none"]) {
            self.handshake_failing_reports.remove(&FailingLabels {
                neighbour: name(),
                dominant,
            });
        }
        for (reason, _) in RejectCounters::default().by_name() {
            self.rejected.remove(&RejectionLabels {
                neighbour: name(),
                reason,
            });
        }
    }
}

/// Serves `registry` on `listener` from a thread of its own, one
/// connection at a time, for as long as the process runs.
pub fn serve(listener: TcpListener, registry: Registry) -> io::Result<()> {
    let registry = Arc::new(registry);
    thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            // A failed connection concerns that client alone.
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &registry);
            }
        })
        .map(drop)
}

/// Reads one request and answers it; the connection is closed after.
fn answer(mut stream: TcpStream, registry: &Registry) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "request too large\n",
            );
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut request_line = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (request_line.next(), request_line.next());
    match (method, target) {
        (Some("GET"), Some(target)) if target.split('?').next() == Some("/metrics") => {
            let mut body = String::new();
            match prometheus_client::encoding::text::encode(&mut body, registry) {
                Ok(()) => respond(
                    &mut stream,
                    "200 OK",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    &body,
                ),
                Err(_) => respond(
                    &mut stream,
                    "500 Internal Server Error",
                    "text/plain",
                    "cannot encode the metrics\n",
                ),
            }
        }
        (Some("GET"), Some(_)) => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "only /metrics is served here\n",
        ),
        _ => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "only GET /metrics is served here\n",
        ),
    }
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
