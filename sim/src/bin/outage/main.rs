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

use probekey::{Config, Event, Instant};
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
    let mut sim = Sim::new(opts.sim.clone());
    let bound = opts.bound;
    for f in &sc.faults {
        sim.add_fault(f.clone());
    }
    let end = opts.end;
    let start_fault = sc.faults.iter().map(|f| f.start).min().unwrap_or(sc.healed);
    let recovery: Recovery = sim.measure_recovery(sc.healed, opts.measure_until);
    sim.run_until(end.max(sim.now()));
    let baseline = run_baseline(sc, &cfg, end);

    let name = |i: usize| REGIONS.get(i).copied().unwrap_or("node");
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
        rows.push((from, to, stopped, restarted, *fresh, st_from, st_to));
    }
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
            .map(|(from, to, stopped, restarted, fresh, st_from, st_to)| {
                json!({
                    "from": name(*from), "to": name(*to),
                    "last_validated_before_fault_s": stopped.map(|t| t.as_nanos() as f64 / 1e9),
                    "first_validated_after_fault_s": restarted.map(|t| t.as_nanos() as f64 / 1e9),
                    "fresh_again_s": fresh.map(|t| t.as_nanos() as f64 / 1e9),
                    "recovery_s": fresh.map(|t| (t - sc.healed).as_secs_f64()),
                    "handshakes_started": st_from.map(|s| s.handshakes_started),
                    "handshakes_completed": st_from.map(|s| s.handshakes_completed),
                    "rejected_at_receiver": st_to.map(|s| json!({
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
        println!(
            "{:<22} {:>12} {:>12} {:>12} {:>10} {:>9} {:>9}",
            "direction", "stopped", "valid again", "fresh again", "recovery", "hs start", "hs done"
        );
        for (from, to, stopped, restarted, fresh, st_from, _) in &rows {
            println!(
                "{:<22} {:>12} {:>12} {:>12} {:>10} {:>9} {:>9}",
                format!("{} -> {}", name(*from), name(*to)),
                fmt_t(*stopped),
                fmt_t(*restarted),
                fmt_t(*fresh),
                fresh
                    .map(|t| format!("{:.3}s", (t - sc.healed).as_secs_f64()))
                    .unwrap_or("NEVER".into()),
                st_from.map(|s| s.handshakes_started).unwrap_or(0),
                st_from.map(|s| s.handshakes_completed).unwrap_or(0),
            );
        }
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
        && let Err(e) = draw_svg(path, &sim, sc, end)
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

/// Per-link, per-direction health over time: green while validating
/// (a probe validated within the last `stale_after`), red otherwise.
fn draw_svg(
    path: &std::path::Path,
    sim: &Sim,
    sc: &Scenario,
    end: Instant,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let dirs: Vec<(usize, usize)> = {
        let mut v: Vec<_> = sim.logs.keys().copied().collect();
        v.sort();
        v
    };
    let stale = sim.config().config.stale_after();
    let end_s = end.as_nanos() as f64 / 1e9;
    let root = SVGBackend::new(path, (1000, 60 + 26 * dirs.len() as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: per-direction health (green: validating)", sc.name),
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(170)
        .build_cartesian_2d(0f64..end_s, 0f64..dirs.len() as f64)?;
    let name = |i: usize| REGIONS.get(i).copied().unwrap_or("node");
    let labels: Vec<String> = dirs
        .iter()
        .map(|&(a, b)| format!("{} -> {}", name(a), name(b)))
        .collect();
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("seconds")
        .y_labels(dirs.len())
        .y_label_formatter(&|y| labels.get(*y as usize).cloned().unwrap_or_default())
        .draw()?;
    for f in &sc.faults {
        let (s, e) = (
            f.start.as_nanos() as f64 / 1e9,
            f.end.as_nanos() as f64 / 1e9,
        );
        chart.draw_series(std::iter::once(Rectangle::new(
            [(s, 0.0), (e.max(s + 0.05), dirs.len() as f64)],
            RGBColor(230, 230, 230).filled(),
        )))?;
    }
    for (row, d) in dirs.iter().enumerate() {
        let times = &sim.logs[d].validated;
        let mut segments = Vec::new();
        let mut t = 0.0;
        let step = 0.05;
        let mut i = 0;
        let mut last: Option<f64> = None;
        while t < end_s {
            while i < times.len() && (times[i].as_nanos() as f64 / 1e9) <= t {
                last = Some(times[i].as_nanos() as f64 / 1e9);
                i += 1;
            }
            let ok = last.is_some_and(|l| t - l < stale.as_secs_f64());
            segments.push((t, ok));
            t += step;
        }
        // Merge equal neighbours into one bar each.
        let mut runs: Vec<(f64, f64, bool)> = Vec::new();
        for (t, ok) in segments {
            match runs.last_mut() {
                Some(r) if r.2 == ok => r.1 = t + step,
                _ => runs.push((t, t + step, ok)),
            }
        }
        let y = row as f64;
        chart.draw_series(runs.iter().map(|&(a, b, ok)| {
            let c = if ok {
                RGBColor(46, 160, 67)
            } else {
                RGBColor(207, 34, 46)
            };
            Rectangle::new([(a, y + 0.15), (b, y + 0.85)], c.filled())
        }))?;
    }
    root.present()?;
    Ok(())
}
