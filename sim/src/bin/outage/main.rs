//! The regional outage, replayed: the main job of this crate.
//!
//! Four regions in a full mesh probe each other. A short loss burst cuts
//! one region off while a resync handshake starts and epoch rotations fall
//! due; then the network heals. The real endpoints run in the deterministic
//! simulator; beside them a deliberately naive baseline (written here, not
//! in the crate) runs on the same faults: a one-shot key exchange with
//! rotations sent once, one freshness flag for both directions, and an
//! "avoid" mark that latches. The crate recovers within the bound its
//! configuration implies; the baseline stays stuck.
//!
//! ```text
//! cargo run --release -p probekey-sim -- [--scenario NAME] [--seed N]
//!     [--duration SECS] [--json] [--svg FILE] [--set KEY=VALUE ...]
//!     [--skew NODE=ORIGIN_SECS,RATE ...] [--path FROM>TO=MS ...]
//!     [--reboot NODE@SECS ...] [--suspend NODE@START-END ...]
//!     [--stall FROM>TO@START-END ...]
//! ```
//!
//! The host options ask what-if questions about real hosts: `--skew` gives
//! a node's clock an origin and a rate (`2=3600,0.999`: reads 3600 s at the
//! start, runs 0.1 % slow; rates from 0.5 to 2); `--path` a one-way delay
//! per direction; `--reboot` restarts a node with its clock at zero;
//! `--suspend` stops a host (process and clock) for a while; `--stall`
//! holds one direction's queue and releases it at once. Recovery is then
//! measured from the last of them, against the bound on the slowest clock.
//!
//! Scenarios: `outage` (default), `restart-during-handshake`, `one-way-loss`,
//! `flapping-link`, `one-hour-partition`. `--set` overrides any value of
//! `probekey::ConfigBuilder` by its setter's name (`ConfigValue::SETTABLE`):
//! durations in seconds, counts as integers; `--help` lists them with their
//! units and defaults. Probekey is judged from the heal over the recovery
//! bound (at least 20 s); `--duration` ends the run and the baseline's
//! verdict, and a run shorter than that window is refused. Every option is
//! checked before anything runs ([`cli::parse_args`]): a mistake prints one
//! line and exits 2.
//!
//! Exits 1 if any link misses the bound or a forged or replayed probe was
//! accepted.

use core::time::Duration;
use std::collections::BTreeMap;
use std::process::ExitCode;

mod cli;
mod svg;

use probekey::{Config, Event, Instant, PeerStatus};
use probekey_sim::{Fault, FaultWindow, Recovery, Sim};
use serde_json::json;

const REGIONS: [&str; 4] = ["eu-west", "us-east", "ap-south", "sa-east"];

#[derive(Debug)]
struct Scenario {
    name: &'static str,
    nodes: usize,
    faults: Vec<FaultWindow>,
    /// When the last fault ends: recovery is measured from here.
    healed: Instant,
    story: &'static str,
}

fn secs(s: f64) -> Instant {
    Instant::from_nanos((s * 1e9) as u64)
}

fn window(start: f64, end: f64, fault: Fault) -> FaultWindow {
    FaultWindow {
        start: secs(start),
        end: secs(end),
        fault,
    }
}

fn scenario(name: &str) -> Option<Scenario> {
    Some(match name {
        "outage" => Scenario {
            name: "outage",
            nodes: 4,
            // Region 2 loses everything for 10 s: an epoch rotation falls
            // due and a resync handshake starts inside the loss.
            faults: vec![window(30.0, 40.0, Fault::Partition { node: 2 })],
            healed: secs(40.0),
            story: "ap-south loses all traffic for 10 s; a rotation falls due and a resync starts inside the loss",
        },
        "restart-during-handshake" => Scenario {
            name: "restart-during-handshake",
            nodes: 4,
            faults: vec![
                window(30.0, 30.0, Fault::Restart { node: 1 }),
                // 30 ms later, mid-handshake, it restarts again.
                window(30.03, 30.03, Fault::Restart { node: 1 }),
            ],
            healed: secs(30.03),
            story: "us-east restarts, and restarts again 30 ms later in the middle of its handshakes",
        },
        "one-way-loss" => Scenario {
            name: "one-way-loss",
            nodes: 4,
            faults: vec![window(
                30.0,
                90.0,
                Fault::Loss {
                    from: 0,
                    to: 1,
                    rate: 1.0,
                },
            )],
            healed: secs(90.0),
            story: "everything from eu-west to us-east is lost for 60 s; the other direction works",
        },
        "flapping-link" => Scenario {
            name: "flapping-link",
            nodes: 4,
            faults: (0..15)
                .flat_map(|i| {
                    let t = 30.0 + 4.0 * f64::from(i);
                    [
                        window(
                            t,
                            t + 2.0,
                            Fault::Loss {
                                from: 0,
                                to: 3,
                                rate: 1.0,
                            },
                        ),
                        window(
                            t,
                            t + 2.0,
                            Fault::Loss {
                                from: 3,
                                to: 0,
                                rate: 1.0,
                            },
                        ),
                    ]
                })
                .collect(),
            healed: secs(30.0 + 4.0 * 14.0 + 2.0),
            story: "the eu-west to sa-east link is down 2 s, up 2 s, fifteen times",
        },
        "one-hour-partition" => Scenario {
            name: "one-hour-partition",
            nodes: 4,
            faults: vec![window(30.0, 3630.0, Fault::Partition { node: 3 })],
            healed: secs(3630.0),
            story: "sa-east is cut off from everyone for an hour; every session expires",
        },
        _ => return None,
    })
}

const SCENARIOS: [&str; 5] = [
    "outage",
    "restart-during-handshake",
    "one-way-loss",
    "flapping-link",
    "one-hour-partition",
];

/// The naive baseline, labelled as such: what the outage's system did.
/// One key exchange at start; each rotation is announced once by the
/// sender and, if that message is lost, the two sides never agree again;
/// one freshness flag per link for both directions; an "avoid" mark set
/// after `stale_after` without validation that nothing ever clears.
struct Baseline {
    avoid_since: BTreeMap<(usize, usize), Instant>,
    stuck: BTreeMap<(usize, usize), bool>,
    /// Seconds during which the shared flag said "healthy" while one
    /// direction had validated nothing for `stale_after`.
    falsely_healthy: f64,
}

fn run_baseline(sc: &Scenario, cfg: &Config, end: Instant) -> Baseline {
    let n = sc.nodes;
    let step = cfg.probe_interval();
    let rotate = cfg.rotate_after_time();
    let lost = |from: usize, to: usize, t: Instant| {
        sc.faults.iter().any(|f| {
            f.start <= t
                && t < f.end
                && match f.fault {
                    Fault::Loss { from: a, to: b, .. } => a == from && b == to,
                    Fault::Partition { node } => node == from || node == to,
                    _ => false,
                }
        })
    };
    // sender's epoch and receiver's belief, per ordered pair
    let mut send_epoch = vec![vec![0u32; n]; n];
    let mut recv_epoch = vec![vec![0u32; n]; n];
    let mut last_valid: BTreeMap<(usize, usize), Instant> = BTreeMap::new();
    let mut last_dir: BTreeMap<(usize, usize), Instant> = BTreeMap::new();
    let mut falsely_healthy = 0.0;
    let mut avoid_since = BTreeMap::new();
    let mut t = Instant::ZERO;
    let mut next_rotation = Instant::ZERO + rotate;
    while t <= end {
        for f in &sc.faults {
            if let Fault::Restart { node } = f.fault
                && f.start + step > t
                && f.start <= t
            {
                // A restarted node forgets its keys; nothing re-exchanges.
                for p in 0..n {
                    send_epoch[node][p] = u32::MAX;
                    recv_epoch[p][node] = 0;
                }
            }
        }
        if t >= next_rotation {
            next_rotation = next_rotation + rotate;
            for a in 0..n {
                for b in 0..n {
                    if a != b && send_epoch[a][b] != u32::MAX {
                        send_epoch[a][b] += 1;
                        if !lost(a, b, t) {
                            recv_epoch[a][b] = send_epoch[a][b];
                        }
                    }
                }
            }
        }
        for a in 0..n {
            for b in 0..n {
                if a != b && !lost(a, b, t) && send_epoch[a][b] == recv_epoch[a][b] {
                    // One flag for the link: either direction counts.
                    last_valid.insert((a.min(b), a.max(b)), t);
                    last_dir.insert((a, b), t);
                }
            }
        }
        for a in 0..n {
            for b in a + 1..n {
                let last = last_valid.get(&(a, b)).copied().unwrap_or(Instant::ZERO);
                if t - last >= cfg.stale_after() {
                    avoid_since.entry((a, b)).or_insert(t);
                } else {
                    let dead = |x, y| {
                        t - last_dir.get(&(x, y)).copied().unwrap_or(Instant::ZERO)
                            >= cfg.stale_after()
                    };
                    if dead(a, b) || dead(b, a) {
                        falsely_healthy += step.as_secs_f64();
                    }
                }
            }
        }
        t = t + step;
    }
    let mut stuck = BTreeMap::new();
    for a in 0..n {
        for b in a + 1..n {
            stuck.insert((a, b), avoid_since.contains_key(&(a, b)));
        }
    }
    Baseline {
        avoid_since,
        stuck,
        falsely_healthy,
    }
}

fn fmt_t(t: Option<Instant>) -> String {
    match t {
        Some(t) => format!("{:.3}", Duration::from_nanos(t.as_nanos()).as_secs_f64()),
        None => "-".into(),
    }
}

/// One direction's story around the faults.
struct Row {
    from: usize,
    to: usize,
    /// `to`'s last validated probe from `from` before the longest silence
    /// around the faults, and the first after it.
    stopped: Option<Instant>,
    restarted: Option<Instant>,
    /// When the direction was first reported stale after the first fault
    /// began; `None` if it never was, to the end of the measurement.
    stale_from: Option<Instant>,
    /// From when it was fresh for good (`Recovery::directions`).
    fresh: Option<Instant>,
    st_from: Option<PeerStatus>,
    st_to: Option<PeerStatus>,
}

impl Row {
    /// The recovery column: from the heal to fresh for good. A direction
    /// that never went stale did not recover from anything: it says so,
    /// rather than "0.000s", which is an instant recovery.
    fn recovery(&self, healed: Instant) -> String {
        match (self.stale_from, self.fresh) {
            (_, None) => "NOT FRESH".into(),
            (None, Some(_)) => "never stale".into(),
            (Some(_), Some(t)) => format!("{:.3}s", (t - healed).as_secs_f64()),
        }
    }
}

fn name(i: usize) -> &'static str {
    REGIONS.get(i).copied().unwrap_or("node")
}

/// The per-direction table's columns, as its header names them (and its
/// legend explains them).
const COLUMNS: [&str; 8] = [
    "direction A -> B",
    "stopped",
    "valid again",
    "stale from",
    "fresh again",
    "recovery",
    "hs start",
    "hs done",
];

/// The per-direction table, with a legend of its columns under it.
fn table(rows: &[Row], healed: Instant, measure_until: Instant) -> String {
    let [
        direction,
        stopped,
        valid,
        stale,
        fresh,
        recovery,
        started,
        done,
    ] = COLUMNS;
    let mut out = format!(
        "{direction:<22} {stopped:>11} {valid:>11} {stale:>11} {fresh:>11} {recovery:>11} {started:>8} {done:>8}\n"
    );
    for r in rows {
        let never_stale = r.stale_from.is_none() && r.fresh.is_some();
        out.push_str(&format!(
            "{:<22} {:>11} {:>11} {:>11} {:>11} {:>11} {:>8} {:>8}\n",
            format!("{} -> {}", name(r.from), name(r.to)),
            fmt_t(r.stopped),
            fmt_t(r.restarted),
            fmt_t(r.stale_from),
            if never_stale {
                "-".into()
            } else {
                fmt_t(r.fresh)
            },
            r.recovery(healed),
            r.st_from.map(|s| s.handshakes_started).unwrap_or(0),
            r.st_from.map(|s| s.handshakes_completed).unwrap_or(0),
        ));
    }
    out.push('\n');
    for line in [
        "direction A -> B: probes sent by A and validated by B; each link has two rows.".into(),
        "stopped, valid again: B's last validated probe from A before the longest silence".into(),
        "  around the faults, and its first after it (- if no silence of two probe intervals)."
            .into(),
        "stale from: when the direction was first reported stale after the first fault began."
            .into(),
        format!(
            "fresh again: from when B hears A and A is told it is heard, for good (to {} s).",
            fmt_t(Some(measure_until))
        ),
        format!(
            "recovery: fresh again minus the heal ({} s); \"never stale\" if the direction stayed",
            fmt_t(Some(healed))
        ),
        "  fresh throughout; NOT FRESH if it was not fresh at the end of the measurement.".into(),
        "hs start, hs done: handshakes A started with B, and sessions A established with B".into(),
        "  (as initiator or responder), over the whole run. Times: simulated seconds.".into(),
    ] as [String; 9]
    {
        out.push_str("  ");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn main() -> ExitCode {
    let opts = match cli::parse_args(std::env::args_os().skip(1)) {
        Ok(cli::Command::Run(o)) => o,
        Ok(cli::Command::Help) => {
            print!("{}", cli::help());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("outage: {e}");
            eprintln!("outage: `outage --help` lists the options");
            return ExitCode::from(2);
        }
    };
    let sc = &opts.scenario;
    let cfg = opts.config;
    let bound = opts.bound;
    let end = opts.end;
    let start_fault = sc.faults.iter().map(|f| f.start).min().unwrap_or(sc.healed);
    let (sim, recovery) = simulate(&opts);
    let baseline = run_baseline(sc, &cfg, end);

    let mut rows = Vec::new();
    for (&(from, to), fresh) in &recovery.directions {
        // The longest silence overlapping the fault: when this direction
        // stopped validating and when it started again.
        let times = sim
            .logs
            .get(&(from, to))
            .map(|l| l.validated.as_slice())
            .unwrap_or(&[]);
        let mut gap: Option<(Instant, Instant)> = None;
        for w in times.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b >= start_fault
                && a <= sc.healed + bound
                && b - a > cfg.probe_interval() * 2
                && gap.is_none_or(|(ga, gb)| b - a > gb - ga)
            {
                gap = Some((a, b));
            }
        }
        let (stopped, restarted) = match gap {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        let st_to = sim
            .node(to)
            .peer_id(from)
            .and_then(|id| sim.node(to).endpoint.peer_status(id, sim.local_now(to)));
        let st_from = sim
            .node(from)
            .peer_id(to)
            .and_then(|id| sim.node(from).endpoint.peer_status(id, sim.local_now(from)));
        let stale_from = sim.logs.get(&(from, to)).map_or(Some(start_fault), |l| {
            l.stale_periods(start_fault, opts.measure_until)
                .first()
                .map(|&(t, _)| t)
        });
        rows.push(Row {
            from,
            to,
            stopped,
            restarted,
            stale_from,
            fresh: *fresh,
            st_from,
            st_to,
        });
    }
    // The two directions of a link next to each other.
    rows.sort_by_key(|r| (r.from.min(r.to), r.from.max(r.to), r.from > r.to));
    let ok_bound = recovery.took().is_some_and(|d| d <= bound);
    let ok = ok_bound && sim.violations.is_empty();
    let mut inside: Vec<String> = sim
        .events
        .iter()
        .filter(|(t, _, _)| *t >= start_fault && *t < sc.healed)
        .filter_map(|(t, n, e)| match e {
            Event::HandshakeStarted { reason, .. } => Some(format!(
                "{} {}: resync handshake started ({reason:?})",
                fmt_t(Some(*t)),
                name(*n)
            )),
            _ => None,
        })
        .collect();
    let rotations = sim
        .events
        .iter()
        .filter(|(t, _, e)| {
            *t >= start_fault && *t < sc.healed && matches!(e, Event::EpochRotated { .. })
        })
        .count();
    inside.push(format!(
        "{rotations} epoch rotations (send or receive) inside the fault window"
    ));
    if opts.json {
        let links: Vec<_> = rows
            .iter()
            .map(|r| {
                let s = |t: Option<Instant>| t.map(|t| t.as_nanos() as f64 / 1e9);
                json!({
                    "from": name(r.from), "to": name(r.to),
                    "last_validated_before_fault_s": s(r.stopped),
                    "first_validated_after_fault_s": s(r.restarted),
                    "went_stale": r.stale_from.is_some(),
                    "stale_from_s": s(r.stale_from),
                    "fresh_again_s": s(r.fresh),
                    "recovery_s": r.fresh.map(|t| (t - sc.healed).as_secs_f64()),
                    "handshakes_started": r.st_from.map(|s| s.handshakes_started),
                    "handshakes_completed": r.st_from.map(|s| s.handshakes_completed),
                    "rejected_at_receiver": r.st_to.map(|s| json!({
                        "malformed": s.rejected.malformed, "unknown_session": s.rejected.unknown_session,
                        "epoch_outside_window": s.rejected.epoch_outside_window, "replay": s.rejected.replay,
                        "bad_tag": s.rejected.bad_tag, "rate_limited": s.rejected.rate_limited,
                        "bad_mac": s.rejected.bad_mac, "unknown_peer": s.rejected.unknown_peer })),
                })
            })
            .collect();
        let base: Vec<_> = baseline
            .stuck
            .iter()
            .map(|(&(a, b), stuck)| json!({"link": format!("{}-{}", name(a), name(b)), "stuck": stuck,
                "avoid_since_s": baseline.avoid_since.get(&(a, b)).map(|t| t.as_nanos() as f64 / 1e9)}))
            .collect();
        let out = json!({
            "scenario": sc.name, "seed": opts.seed, "story": sc.story,
            "healed_s": sc.healed.as_nanos() as f64 / 1e9,
            "bound_s": bound.as_secs_f64(),
            "measured_until_s": opts.measure_until.as_nanos() as f64 / 1e9,
            "end_s": end.as_nanos() as f64 / 1e9,
            "recovery_s": recovery.took().map(|d| d.as_secs_f64()),
            "within_bound": ok_bound,
            "violations": sim.violations.len(),
            "inside_the_fault": inside,
            "directions": links,
            "naive_baseline": base,
            "naive_baseline_falsely_healthy_s": baseline.falsely_healthy,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!("scenario {} (seed {}): {}", sc.name, opts.seed, sc.story);
        println!(
            "{} regions, full mesh, one-way delay {:?}, probes every {:?}, stale after {:?}",
            sc.nodes,
            sim.config().one_way_delay,
            cfg.probe_interval(),
            cfg.stale_after()
        );
        println!(
            "network healed at {} s; bound = retry cap {:?} + 4 x rtt {:?} + probe interval {:?} = {:?}{}\n",
            fmt_t(Some(sc.healed)),
            cfg.handshake_retry_max(),
            sim.config().rtt(),
            cfg.probe_interval(),
            cfg.recovery_bound(sim.config().rtt()),
            if bound == cfg.recovery_bound(sim.config().rtt()) {
                String::new()
            } else {
                format!(", {bound:?} on the slowest clock")
            }
        );
        if !inside.is_empty() {
            println!("inside the fault:");
            for l in &inside {
                println!("  {l}");
            }
            println!();
        }
        print!("{}", table(&rows, sc.healed, opts.measure_until));
        println!();
        match recovery.took() {
            Some(d) => println!(
                "probekey: every link validates both ways {:.3} s after the network healed (bound {:.3} s): {}",
                d.as_secs_f64(),
                bound.as_secs_f64(),
                if ok_bound {
                    "within the bound"
                } else {
                    "BOUND MISSED"
                }
            ),
            None => println!(
                "probekey: NOT every link recovered (bound {:.3} s)",
                bound.as_secs_f64()
            ),
        }
        println!(
            "probekey: forged or replayed probes accepted: {}",
            sim.violations.len()
        );
        let stuck: Vec<String> = baseline
            .stuck
            .iter()
            .filter(|(_, s)| **s)
            .map(|(&(a, b), _)| {
                format!(
                    "{}-{} (avoid since {} s)",
                    name(a),
                    name(b),
                    fmt_t(baseline.avoid_since.get(&(a, b)).copied())
                )
            })
            .collect();
        println!(
            "naive baseline (one-shot keys, shared freshness flag, latching avoid mark): {} of {} links stuck at {} s{}{}",
            stuck.len(),
            baseline.stuck.len(),
            fmt_t(Some(end)),
            if stuck.is_empty() { "" } else { ": " },
            stuck.join(", ")
        );
        if baseline.falsely_healthy > 0.0 {
            println!(
                "naive baseline: its shared flag called a link healthy for {:.1} s while one direction was dead",
                baseline.falsely_healthy
            );
        }
    }
    if let Some(path) = &opts.svg
        && let Err(e) = std::fs::write(path, svg::render(&picture(&opts, &sim)))
    {
        eprintln!("outage: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The `--svg` picture of a finished run.
fn picture(opts: &cli::Options, sim: &Sim) -> svg::Picture {
    let sc = &opts.scenario;
    let s = |t: Instant| t.as_nanos() as f64 / 1e9;
    let end = s(opts.end);
    let mut dirs: Vec<(usize, usize)> = sim.logs.keys().copied().collect();
    dirs.sort_by_key(|&(a, b)| (a.min(b), a.max(b), a > b));
    let rows = dirs
        .iter()
        .map(|&(a, b)| {
            let changes: Vec<(f64, bool)> = sim.logs[&(a, b)]
                .fresh
                .iter()
                .map(|&(t, f)| (s(t), f))
                .collect();
            svg::Trace::new(
                format!("{} ({a}) \u{2192} {} ({b})", name(a), name(b)),
                &changes,
                end,
            )
        })
        .collect();
    svg::Picture {
        title: format!(
            "{}: each direction's health over time (seed {})",
            sc.name, opts.seed
        ),
        subtitle: sc.story.to_owned(),
        end,
        heal: s(sc.healed),
        bound: opts.bound.as_secs_f64(),
        faults: sc.faults.iter().map(|f| (s(f.start), s(f.end))).collect(),
        rows,
        row_scheme: "Row \u{201c}A (i) \u{2192} B (j)\u{201d}: probes sent by A (node i), validated by B (node j). The two rows of a link are grouped on one band.".into(),
    }
}

/// Runs the scenario: the measurement of probekey's recovery, then on to
/// the end of the run.
fn simulate(opts: &cli::Options) -> (Sim, Recovery) {
    let mut sim = Sim::new(opts.sim.clone());
    for f in &opts.scenario.faults {
        sim.add_fault(f.clone());
    }
    let recovery = sim.measure_recovery(opts.scenario.healed, opts.measure_until);
    sim.run_until(opts.end.max(sim.now()));
    (sim, recovery)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> cli::Options {
        match cli::parse_args(args.iter().copied()) {
            Ok(cli::Command::Run(o)) => *o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn a_direction_that_never_went_stale_says_so_not_zero_seconds() {
        let healed = Instant::from_secs(40);
        let row = |stale_from: Option<Instant>, fresh: Option<Instant>| Row {
            from: 0,
            to: 1,
            stopped: None,
            restarted: None,
            stale_from,
            fresh,
            st_from: None,
            st_to: None,
        };
        let stale = Some(Instant::from_secs(33));
        let text = table(
            &[
                row(None, Some(healed)),
                row(stale, Some(healed)),
                row(stale, Some(healed + Duration::from_millis(268))),
                row(stale, None),
            ],
            healed,
            Instant::from_secs(60),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].contains("never stale"), "{}", lines[1]);
        assert!(!lines[1].contains("0.000s"), "{}", lines[1]);
        // Stale during the faults and fresh again by the heal: an instant
        // recovery, which is what 0.000s means.
        assert!(lines[2].contains("0.000s"), "{}", lines[2]);
        assert!(lines[3].contains("0.268s"), "{}", lines[3]);
        assert!(lines[4].contains("NOT FRESH"), "{}", lines[4]);
        // The legend explains every column of the header.
        let legend = &text[text.find("\n\n").unwrap()..];
        for column in COLUMNS {
            assert!(lines[0].contains(column), "{column} not in the header");
            assert!(legend.contains(column), "{column} not explained");
        }
        assert!(legend.contains("never stale"), "never stale not explained");
    }

    #[test]
    fn a_trace_tells_never_up_from_stale() {
        let t = svg::Trace::new(
            "x".into(),
            &[(0.1, true), (33.0, false), (40.2, true), (80.0, false)],
            70.0,
        );
        use svg::State::*;
        assert_eq!(
            t.runs,
            [
                (0.0, 0.1, NeverUp),
                (0.1, 33.0, Fresh),
                (33.0, 40.2, Stale),
                (40.2, 70.0, Fresh)
            ]
        );
    }

    /// The part of the SVG from `<g id="{id}"` to the next panel or the
    /// legend.
    fn section<'a>(svg: &'a str, id: &str) -> Option<&'a str> {
        let start = svg.find(&format!(r#"<g id="{id}""#))?;
        let rest = &svg[start + 1..];
        let end = rest.find(r#"<g id=""#).map_or(svg.len(), |e| start + 1 + e);
        Some(&svg[start..end])
    }

    fn attr(tag: &str, name: &str) -> f64 {
        let at = tag.find(&format!(r#" {name}=""#)).unwrap() + name.len() + 3;
        tag[at..].split('"').next().unwrap().parse().unwrap()
    }

    /// Each row of a panel: its band's top and height, its label's
    /// baseline and text.
    fn rows(panel: &str) -> Vec<(f64, f64, f64, String)> {
        panel
            .split(r#"<g class="row""#)
            .skip(1)
            .map(|row| {
                let label = &row[row.find(r#"class="row-label""#).unwrap()..];
                let text =
                    label[label.find('>').unwrap() + 1..label.find("</text>").unwrap()].into();
                (
                    attr(row, "data-top"),
                    attr(row, "data-height"),
                    attr(label, "y"),
                    text,
                )
            })
            .collect()
    }

    fn check_panel(panel: &str, directions: usize) {
        let rows = rows(panel);
        assert_eq!(rows.len(), directions, "one labelled row per direction");
        let mut labels: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), directions, "labels are distinct");
        for (top, height, y, label) in &rows {
            // The 12 px label's baseline sits 4 px below the row's middle:
            // centred on its own row, not on a boundary.
            assert!((y - 4.0 - (top + height / 2.0)).abs() < 0.01, "{label}");
            assert!(label.contains(" \u{2192} "), "{label}");
        }
        for class in [
            r#"class="fault""#,
            r#"class="fault-strip""#,
            r#"class="heal""#,
            r#"class="bound""#,
            r#"class="tick""#,
        ] {
            assert!(panel.contains(class), "{class} missing");
        }
        assert!(panel.contains(" s</text>"), "tick labels in seconds");
        assert!(panel.contains("simulated time (seconds)"));
    }

    fn check_legend(svg: &str) {
        let legend = section(svg, "legend").expect("a legend");
        for item in [
            "fresh",
            "stale",
            "never up",
            "fault window",
            "heal",
            "bound",
            "probes sent by A",
        ] {
            assert!(legend.contains(item), "legend lacks {item}");
        }
        assert_eq!(legend.matches(r#"class="legend-swatch""#).count(), 4);
    }

    #[test]
    fn the_picture_of_the_outage_labels_every_row_and_marks_faults_heal_bound_and_zoom() {
        let o = options(&[]);
        let (sim, _) = simulate(&o);
        let svg = svg::render(&picture(&o, &sim));
        check_panel(section(&svg, "overview").expect("the whole run"), 12);
        check_legend(&svg);
        // 70 s against a 2.57 s bound: a 0.27 s recovery would be 3 px
        // wide in the whole run.
        check_panel(section(&svg, "zoom").expect("a zoomed panel"), 12);
        // A run short next to its bound needs none.
        let mut p = picture(&o, &sim);
        p.bound = 10.0;
        p.end = 60.0;
        assert!(svg::zoom_range(&p).is_none());
        assert!(section(&svg::render(&p), "zoom").is_none());
    }

    #[test]
    fn a_long_run_gets_a_zoomed_panel_around_the_heal() {
        // The one-hour partition's timings (the simulation itself takes
        // too long in a debug build), with sa-east's links stale until
        // shortly after the heal.
        let o = options(&["--scenario", "one-hour-partition"]);
        let s = |t: Instant| t.as_nanos() as f64 / 1e9;
        let (heal, end) = (s(o.scenario.healed), s(o.end));
        let mut rows = Vec::new();
        for a in 0..4 {
            for b in a + 1..4 {
                for (x, y) in [(a, b), (b, a)] {
                    let changes = if x == 3 || y == 3 {
                        vec![(0.1, true), (33.0, false), (heal + 1.2, true)]
                    } else {
                        vec![(0.1, true)]
                    };
                    rows.push(svg::Trace::new(format!("{x} \u{2192} {y}"), &changes, end));
                }
            }
        }
        let p = svg::Picture {
            title: "one-hour-partition".into(),
            subtitle: String::new(),
            end,
            heal,
            bound: o.bound.as_secs_f64(),
            faults: o
                .scenario
                .faults
                .iter()
                .map(|f| (s(f.start), s(f.end)))
                .collect(),
            rows,
            row_scheme: "Row A \u{2192} B: probes sent by A".into(),
        };
        let svg = svg::render(&p);
        check_panel(section(&svg, "overview").unwrap(), 12);
        let zoom = section(&svg, "zoom").expect("a zoomed panel");
        check_panel(zoom, 12);
        check_legend(&svg);
        let (t0, t1) = svg::zoom_range(&p).unwrap();
        assert!(
            t0 < heal && heal + p.bound < t1 && t1 - t0 < 60.0,
            "{t0} {t1}"
        );
        assert!(
            section(&svg, "overview")
                .unwrap()
                .contains(r#"class="zoom-range""#)
        );
    }
}
