//! Prints the medians and target ratios of the probe benchmarks from
//! criterion's saved estimates. Run through `scripts/bench-summary`, which
//! first runs the suite briefly in the default build (aws-lc-rs) and in the
//! portable one (the chacha20poly1305 crate):
//!
//! `cargo run --release --example bench_summary -- target/criterion [target/portable/criterion]`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use probekey::rand_core::SeedableRng;
use probekey::{Config, Endpoint, Instant, Peer, StaticKeypair};

fn median_ns(dir: &Path, group: &str, id: &str) -> Option<f64> {
    // criterion names a benchmark's directory with '/' replaced by '_'.
    let path = dir
        .join(group)
        .join(id.replace('/', "_"))
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// The scale group's benchmarks and sizes (`benches/probe.rs`).
const SCALE: [&str; 7] = [
    "open",
    "open_16_one_by_one",
    "open_16_batch",
    "replayed_initiation_last_slot",
    "forged_initiation",
    "poll_timeout",
    "handle_timeout_one_due",
];
const PEERS: [u32; 4] = [1, 1_000, 10_000, 100_000];

fn show(ns: Option<f64>) -> String {
    match ns {
        Some(ns) if ns >= 1000.0 => format!("{:>9.3} µs", ns / 1000.0),
        Some(ns) => format!("{ns:>9.1} ns"),
        None => format!("{:>12}", "-"),
    }
}

/// Diffie-Hellman operations per side in one handshake (the static-static
/// term computed at configuration excluded).
fn dh_per_side() -> (u64, u64) {
    let now = Instant::ZERO;
    let mk = |seed| {
        let mut rng = chacha20::ChaCha20Rng::seed_from_u64(seed);
        let key = StaticKeypair::generate(&mut rng);
        Endpoint::new(Config::default(), key, rng, probekey::GrowableTable::new())
    };
    let (mut a, mut b) = (mk(1), mk(2));
    let to_b = a.add_peer(now, b.public_key()).expect("peer");
    b.add_peer(now, a.public_key()).expect("peer");
    let (a0, b0) = (a.stats().dh_operations, b.stats().dh_operations);
    a.initiate_handshake(now, to_b).expect("a configured peer");
    let mut buf = [0u8; 256];
    for _ in 0..4 {
        while let Ok(Some(t)) = a.poll_transmit(now, &mut buf) {
            let _ = b.handle_datagram(now, &mut buf[..t.len]);
        }
        while let Ok(Some(t)) = b.poll_transmit(now, &mut buf) {
            let _ = a.handle_datagram(now, &mut buf[..t.len]);
        }
    }
    (a.stats().dh_operations - a0, b.stats().dh_operations - b0)
}

fn cpu() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{model}, {cores} cores")
}

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let dirs: Vec<PathBuf> = if args.is_empty() {
        vec![PathBuf::from("target/criterion")]
    } else {
        args
    };
    let names = ["default", "portable"];
    println!("machine: {}", cpu());
    println!();
    print!("{:<48}", "median");
    for (i, _) in dirs.iter().enumerate() {
        print!("{:>14}", names.get(i).copied().unwrap_or("?"));
    }
    println!();
    let ids = [
        "boringtun_decapsulate",
        "ring_open",
        "aws_lc_open",
        "raw_aead_open",
        "open",
        "raw_aead_seal",
        "seal",
        "reject_malformed",
        "reject_unknown_session",
        "reject_epoch_outside_window",
        "reject_replay",
        "reject_bad_tag",
    ];
    let mut rows: Vec<(String, String)> = Vec::new();
    for group in ["probe_64B", "probe_256B"] {
        for id in ids {
            rows.push((group.into(), id.into()));
        }
    }
    for bench in SCALE {
        for n in PEERS {
            rows.push(("scale".into(), format!("{bench}/{n}")));
        }
    }
    for id in ["initiate", "respond", "complete", "full", "rotate_epoch"] {
        rows.push(("handshake".into(), id.into()));
    }
    for (group, id) in &rows {
        print!("{:<48}", format!("{group}/{id}"));
        for d in &dirs {
            print!("  {}", show(median_ns(d, group, id)));
        }
        println!();
    }
    println!();
    let mut all_met = true;
    for (i, d) in dirs.iter().enumerate() {
        println!("ratios, {} build:", names.get(i).copied().unwrap_or("?"));
        let m = |g: &str, id: &str| median_ns(d, g, id);
        let mut ratio = |name: String, num: Option<f64>, den: Option<f64>, target: f64| {
            if let (Some(n), Some(dn)) = (num, den) {
                let r = n / dn;
                let ok = r <= target;
                all_met &= ok;
                println!(
                    "  {name} = {r:.2}   (target <= {target:.2}) {}",
                    if ok { "met" } else { "NOT MET" }
                );
            }
        };
        for g in ["probe_64B", "probe_256B"] {
            // Against the build's own provider, raw, on the same bytes.
            let (raw, raw_id) = match m(g, "aws_lc_open") {
                Some(ns) => (Some(ns), "aws_lc_open"),
                None => (m(g, "raw_aead_open"), "raw_aead_open"),
            };
            ratio(format!("{g}: open/{raw_id}"), m(g, "open"), raw, 1.10);
            if m(g, "aws_lc_open").is_some() {
                ratio(
                    format!("{g}: open/boringtun_decapsulate"),
                    m(g, "open"),
                    m(g, "boringtun_decapsulate"),
                    0.90,
                );
            } else {
                ratio(
                    format!("{g}: seal/raw_aead_seal"),
                    m(g, "seal"),
                    m(g, "raw_aead_seal"),
                    1.10,
                );
            }
            ratio(
                format!("{g}: reject_bad_tag/open"),
                m(g, "reject_bad_tag"),
                m(g, "open"),
                1.05,
            );
        }
        // Flat cost in the number of peers: each at 10,000 (and the open
        // at 100,000) against the same at one peer.
        let at = |bench: &str, n: u32| m("scale", &format!("{bench}/{n}"));
        for (bench, n, target) in [
            ("open", 10_000, 1.20),
            ("open", 100_000, 1.50),
            ("poll_timeout", 10_000, 2.0),
            ("handle_timeout_one_due", 10_000, 2.0),
            ("replayed_initiation_last_slot", 10_000, 2.0),
            ("forged_initiation", 10_000, 2.0),
        ] {
            ratio(
                format!("scale: {bench}/{n} / {bench}/1"),
                at(bench, n),
                at(bench, 1),
                target,
            );
        }
        // The batch path against one by one (no target: worth having when
        // below 1).
        for n in PEERS {
            if let (Some(b), Some(o)) = (at("open_16_batch", n), at("open_16_one_by_one", n)) {
                println!(
                    "  scale: open_16_batch/{n} / open_16_one_by_one/{n} = {:.2}",
                    b / o
                );
            }
        }
        for g in ["probe_64B", "probe_256B"] {
            for id in [
                "reject_malformed",
                "reject_unknown_session",
                "reject_epoch_outside_window",
                "reject_replay",
            ] {
                if let Some(ns) = m(g, id) {
                    let ok = ns < 30.0;
                    all_met &= ok;
                    println!(
                        "  {g}/{id} = {ns:.1} ns   (target < 30 ns) {}",
                        if ok { "met" } else { "NOT MET" }
                    );
                }
            }
        }
    }
    let peer = core::mem::size_of::<Peer>() + core::mem::size_of::<probekey::Slot<Box<Peer>>>();
    println!();
    println!(
        "per-peer state: {peer} bytes in the growable table (the boxed Peer and its slot: sessions, windows, handshake state; goal <= 1024), plus the AEAD provider's prepared keys (aws-lc-rs keeps each on the C heap)"
    );
    let (dh_i, dh_r) = dh_per_side();
    println!(
        "Diffie-Hellman per handshake: initiator {dh_i}, responder {dh_r} (Noise KK: 4 each; ss is computed once per peer)"
    );
    if all_met {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
