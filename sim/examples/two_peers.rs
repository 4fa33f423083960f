//! Two endpoints in memory, driven by the deterministic simulator through a
//! handshake, epoch rotations, a 30-minute loss burst, a restart and an
//! hour of one-way loss. Prints what happened and how long each recovery
//! took against the bound the configuration implies; exits non-zero if a
//! bound is missed or a forged or replayed probe was ever accepted.
//!
//! Run: `cargo run --release -p probekey-sim --example two_peers`

use core::time::Duration;
use std::process::ExitCode;

use probekey::{Config, Event, Instant, LinkDirection};
use probekey_sim::{Fault, FaultWindow, Sim, SimConfig};

fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

fn fmt(t: Instant) -> String {
    let d = Duration::from_nanos(t.as_nanos());
    format!("{:>9.3}s", d.as_secs_f64())
}

struct Phase {
    name: &'static str,
    healed: Instant,
}

fn main() -> ExitCode {
    let config = Config::builder()
        .deployment_id(b"example")
        .rotate_after_time(Duration::from_secs(10))
        .build()
        .expect("consistent configuration");
    let mut sim = Sim::new(SimConfig::mesh(2, config, 2026));
    let rtt = sim.config().rtt();
    let bound = sim.config().config.recovery_bound(rtt);
    println!(
        "two endpoints, one-way delay {:?}, probes every {:?}",
        sim.config().one_way_delay,
        sim.config().config.probe_interval()
    );
    println!(
        "recovery bound = retry cap {:?} + 3 x rtt {:?} + probe interval {:?} = {:?}\n",
        sim.config().config.handshake_retry_max(),
        rtt,
        sim.config().config.probe_interval(),
        bound
    );

    // Faults: a 30-minute total loss burst, a restart of node 1, and an
    // hour in which everything from node 0 to node 1 is lost.
    for (from, to) in [(0, 1), (1, 0)] {
        sim.add_fault(FaultWindow {
            start: secs(300),
            end: secs(2100),
            fault: Fault::Loss {
                from,
                to,
                rate: 1.0,
            },
        });
    }
    sim.add_fault(FaultWindow {
        start: secs(2400),
        end: secs(2400),
        fault: Fault::Restart { node: 1 },
    });
    sim.add_fault(FaultWindow {
        start: secs(2700),
        end: secs(6300),
        fault: Fault::Loss {
            from: 0,
            to: 1,
            rate: 1.0,
        },
    });
    let phases = [
        Phase {
            name: "first handshake",
            healed: Instant::ZERO,
        },
        Phase {
            name: "30-minute loss burst",
            healed: secs(2100),
        },
        Phase {
            name: "restart of node 1",
            healed: secs(2400),
        },
        Phase {
            name: "1 hour of loss from node 0 to node 1",
            healed: secs(6300),
        },
    ];

    let mut ok = true;
    let mut results = Vec::new();
    for phase in &phases {
        sim.run_until(phase.healed);
        let fresh = sim.run_until_true(phase.healed + Duration::from_secs(600), Sim::all_fresh);
        let took = fresh.map(|t| t - phase.healed);
        let within = took.is_some_and(|d| d <= bound);
        ok &= within;
        results.push((phase.name, took, within));
    }
    sim.run_until(secs(6400));

    println!("timeline (node: event)");
    let mut last_rotation_report = Instant::ZERO;
    let mut rotations = [0u64; 2];
    for (t, node, e) in &sim.events {
        match e {
            Event::EpochRotated {
                direction: LinkDirection::Outbound,
                ..
            } => {
                rotations[*node] += 1;
                if *t >= last_rotation_report + Duration::from_secs(600) {
                    println!(
                        "{}  node {node}: send epochs rotated {} times so far",
                        fmt(*t),
                        rotations[*node]
                    );
                    last_rotation_report = *t;
                }
            }
            Event::EpochRotated { .. } => {}
            Event::HandshakeStarted { reason, .. } => {
                println!("{}  node {node}: handshake started ({reason:?})", fmt(*t))
            }
            Event::SessionEstablished { role, latency, .. } => {
                println!(
                    "{}  node {node}: session established as {role:?} in {latency:?}",
                    fmt(*t)
                )
            }
            Event::HealthChanged {
                direction, fresh, ..
            } => println!(
                "{}  node {node}: {} {}",
                fmt(*t),
                match direction {
                    LinkDirection::Inbound => "inbound ",
                    LinkDirection::Outbound => "outbound",
                },
                if *fresh { "fresh" } else { "STALE" }
            ),
            _ => {}
        }
    }
    println!();
    for n in [0, 1] {
        let id = sim.node(n).peer_id(1 - n).expect("configured");
        let st = sim
            .node(n)
            .endpoint
            .peer_status(id, sim.now())
            .expect("configured");
        println!(
            "node {n}: handshakes started {} completed {}, send epoch {:?}, probes sealed {} opened {}, rejected {:?}",
            st.handshakes_started,
            st.handshakes_completed,
            st.send_epoch.map(|e| e.0),
            st.probes_sealed,
            st.probes_opened,
            st.rejected
        );
    }
    println!("\nrecovery after each fault ended (both directions fresh at both ends):");
    for (name, took, within) in &results {
        match took {
            Some(d) => println!(
                "  {name:<40} {:>8.3} s   bound {:.3} s   {}",
                d.as_secs_f64(),
                bound.as_secs_f64(),
                if *within { "ok" } else { "MISSED" }
            ),
            None => println!("  {name:<40} never recovered   MISSED"),
        }
    }
    if !sim.violations.is_empty() {
        println!("security violations: {:?}", sim.violations);
        ok = false;
    }
    if ok {
        println!("\nall recoveries within the bound; no forged or replayed probe accepted");
        ExitCode::SUCCESS
    } else {
        println!("\nFAILED");
        ExitCode::FAILURE
    }
}
