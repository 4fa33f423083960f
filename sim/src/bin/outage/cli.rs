//! The command line of the outage replay. [`parse_args`] checks every
//! option and everything the options must agree on (the scenario, the
//! configuration, the nodes named, the length of the run) before anything
//! runs; a mistake is one [`UsageError`], whose message is one line, and no
//! input panics.

use core::fmt;
use core::time::Duration;
use std::ffi::OsString;
use std::path::PathBuf;

use probekey::{Config, ConfigBuilder, ConfigError, ConfigValue, Instant, Setting};
use probekey_sim::{ClockSpec, Fault, FaultWindow, NodeClock, SimConfig};

use crate::{REGIONS, SCENARIOS, Scenario, scenario};

/// The latest simulated time an option may name, and the longest run: one
/// day of simulated time (about half a minute of a release build).
pub const MAX_RUN_SECS: f64 = 86_400.0;
/// The largest clock reading `--skew` may start a node at: one year.
const MAX_CLOCK_ORIGIN_SECS: f64 = 365.0 * 86_400.0;
/// The longest duration `--set` takes: one year, the crate's own limit.
const MAX_SETTING_SECS: f64 = 365.0 * 86_400.0;
/// The longest one-way delay `--path` takes, in milliseconds.
const MAX_PATH_MS: u64 = 10_000;
/// Probekey is judged from the heal over the recovery bound, and over at
/// least this long.
pub const MEASURE_AT_LEAST: Duration = Duration::from_secs(20);
/// Without `--duration`, the run ends this long after the heal (or at the
/// end of the measurement, if later).
const DEFAULT_AFTER_HEAL: Duration = Duration::from_secs(30);
/// One-way delay of every direction without a `--path`.
pub const ONE_WAY_DELAY: Duration = Duration::from_millis(40);

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Print [`help`] and exit successfully.
    Help,
    /// Run the replay.
    Run(Box<Options>),
}

/// A run, checked: every value is in range and the parts agree.
#[derive(Debug)]
pub struct Options {
    /// The scenario, with the faults of the host options added and its
    /// heal moved to the last of them.
    pub scenario: Scenario,
    pub seed: u64,
    pub config: Config,
    pub sim: SimConfig,
    /// The recovery bound on the slowest clock.
    pub bound: Duration,
    /// Probekey is judged from the heal to here.
    pub measure_until: Instant,
    /// The run, and the baseline's verdict, end here (never before
    /// `measure_until`).
    pub end: Instant,
    pub json: bool,
    pub svg: Option<PathBuf>,
}

/// Why a command line was refused. Its message is one line.
#[derive(Clone, Debug, PartialEq)]
pub enum UsageError {
    /// An argument that is not valid Unicode (shown with the invalid parts
    /// replaced).
    NotUnicode(String),
    UnknownOption(String),
    /// An option at the end of the line, or followed by another option.
    MissingValue {
        option: &'static str,
        /// The option found in its place, if any.
        found: Option<String>,
    },
    /// A value of the wrong form or out of range.
    BadValue {
        option: &'static str,
        value: String,
        expected: String,
    },
    UnknownScenario(String),
    UnknownSetKey(String),
    /// `--set` values the crate's `ConfigBuilder` refused.
    Config(ConfigError),
    NoSuchNode {
        node: usize,
        nodes: usize,
    },
    /// Two round trips reach `handshake_max_age`: no handshake could
    /// complete, so there is no bound to judge recovery against.
    NoRecoveryBound {
        rtt: Duration,
        handshake_max_age: Duration,
    },
    /// `--duration` ends before the window probekey is judged over.
    DurationTooShort {
        given: f64,
        healed: Instant,
        bound: Duration,
        measured_for: Duration,
    },
    /// The run would be longer than [`MAX_RUN_SECS`].
    RunTooLong {
        end: Instant,
    },
}

fn secs_of(t: Instant) -> f64 {
    Duration::from_nanos(t.as_nanos()).as_secs_f64()
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // User text is shown with `{:?}`: quoted, with any line break or
        // control character escaped, so the message stays on one line.
        match self {
            UsageError::NotUnicode(arg) => write!(f, "argument {arg:?} is not valid Unicode"),
            UsageError::UnknownOption(arg) => write!(f, "unknown option {arg:?}"),
            UsageError::MissingValue {
                option,
                found: None,
            } => write!(f, "{option} needs a value"),
            UsageError::MissingValue {
                option,
                found: Some(next),
            } => write!(f, "{option} needs a value, found the option {next:?}"),
            UsageError::BadValue {
                option,
                value,
                expected,
            } => write!(f, "{option} {value:?}: expected {expected}"),
            UsageError::UnknownScenario(name) => write!(
                f,
                "--scenario {name:?}: unknown scenario; one of {}",
                SCENARIOS.join(", ")
            ),
            UsageError::UnknownSetKey(key) => write!(
                f,
                "--set {key:?}: unknown key; one of {} (--help lists units and defaults)",
                ConfigValue::SETTABLE.map(ConfigValue::name).join(", ")
            ),
            UsageError::Config(e) => write!(f, "--set: {e}"),
            UsageError::NoSuchNode { node, nodes } => write!(
                f,
                "node {node} does not exist: the scenario has nodes 0 to {}",
                nodes.saturating_sub(1)
            ),
            UsageError::NoRecoveryBound {
                rtt,
                handshake_max_age,
            } => write!(
                f,
                "no recovery bound: two round trips of the slowest path ({:.3} s) reach handshake_max_age ({:.3} s), so no handshake could complete",
                rtt.as_secs_f64() * 2.0,
                handshake_max_age.as_secs_f64()
            ),
            UsageError::DurationTooShort {
                given,
                healed,
                bound,
                measured_for,
            } => write!(
                f,
                "--duration {given}: the run must last at least {:.3} s (the network heals at {:.3} s, then probekey is judged for {:.3} s, the longer of the recovery bound {:.3} s and {} s)",
                secs_of(*healed) + measured_for.as_secs_f64(),
                secs_of(*healed),
                measured_for.as_secs_f64(),
                bound.as_secs_f64(),
                MEASURE_AT_LEAST.as_secs()
            ),
            UsageError::RunTooLong { end } => write!(
                f,
                "the run would last {:.3} s of simulated time, more than the limit of {MAX_RUN_SECS} s",
                secs_of(*end)
            ),
        }
    }
}

impl core::error::Error for UsageError {}

/// A time in seconds: a finite decimal number from 0 to `max`.
fn seconds(option: &'static str, text: &str, max: f64) -> Result<Duration, UsageError> {
    let bad = || UsageError::BadValue {
        option,
        value: text.to_owned(),
        expected: format!("a number of seconds from 0 to {max}"),
    };
    let v: f64 = text.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || !(0.0..=max).contains(&v) {
        return Err(bad());
    }
    Duration::try_from_secs_f64(v).map_err(|_| bad())
}

fn instant(option: &'static str, text: &str) -> Result<Instant, UsageError> {
    Ok(Instant::ZERO + seconds(option, text, MAX_RUN_SECS)?)
}

fn whole<T: core::str::FromStr>(
    option: &'static str,
    text: &str,
    expected: &str,
) -> Result<T, UsageError> {
    text.trim().parse().map_err(|_| UsageError::BadValue {
        option,
        value: text.to_owned(),
        expected: expected.to_owned(),
    })
}

fn node(option: &'static str, text: &str) -> Result<usize, UsageError> {
    whole(option, text, "a node index (0-based)")
}

fn split<'a>(
    option: &'static str,
    text: &'a str,
    at: char,
    form: &str,
) -> Result<(&'a str, &'a str), UsageError> {
    text.split_once(at).ok_or_else(|| UsageError::BadValue {
        option,
        value: text.to_owned(),
        expected: form.to_owned(),
    })
}

fn direction(option: &'static str, text: &str) -> Result<(usize, usize), UsageError> {
    let (a, b) = split(option, text, '>', "FROM>TO")?;
    let (from, to) = (node(option, a)?, node(option, b)?);
    if from == to {
        return Err(UsageError::BadValue {
            option,
            value: text.to_owned(),
            expected: "two different nodes FROM>TO".into(),
        });
    }
    Ok((from, to))
}

fn span(option: &'static str, text: &str) -> Result<(Instant, Instant), UsageError> {
    let (a, b) = split(option, text, '-', "START-END in seconds")?;
    let (start, end) = (instant(option, a)?, instant(option, b)?);
    if end < start {
        return Err(UsageError::BadValue {
            option,
            value: text.to_owned(),
            expected: "START-END with END not before START".into(),
        });
    }
    Ok((start, end))
}

/// What the host options add to a scenario.
#[derive(Debug, Default)]
struct Hosts {
    clocks: Vec<(usize, ClockSpec)>,
    paths: Vec<((usize, usize), Duration)>,
    faults: Vec<FaultWindow>,
}

impl Hosts {
    fn skew(&mut self, v: &str) -> Result<(), UsageError> {
        const O: &str = "--skew";
        let (n, spec) = split(O, v, '=', "NODE=ORIGIN_SECS[,RATE]")?;
        let (origin, rate) = spec.split_once(',').unwrap_or((spec, "1"));
        let rate: f64 = whole(O, rate, "a clock rate from 0.5 to 2")?;
        if !(0.5..=2.0).contains(&rate) {
            return Err(UsageError::BadValue {
                option: O,
                value: v.to_owned(),
                expected: "a clock rate from 0.5 to 2".into(),
            });
        }
        let offset = seconds(O, origin, MAX_CLOCK_ORIGIN_SECS)?;
        self.clocks.push((
            node(O, n)?,
            ClockSpec {
                offset,
                // In 0.5e6..=2e6: the conversion is exact enough and cannot
                // truncate.
                rate_ppm: (rate * 1e6).round() as u64,
            },
        ));
        Ok(())
    }

    fn path(&mut self, v: &str) -> Result<(), UsageError> {
        const O: &str = "--path";
        let (d, ms) = split(O, v, '=', "FROM>TO=MS")?;
        let expected = format!("whole milliseconds from 0 to {MAX_PATH_MS}");
        let ms: u64 = whole(O, ms, &expected)?;
        if ms > MAX_PATH_MS {
            return Err(UsageError::BadValue {
                option: O,
                value: v.to_owned(),
                expected,
            });
        }
        self.paths
            .push((direction(O, d)?, Duration::from_millis(ms)));
        Ok(())
    }

    fn reboot(&mut self, v: &str) -> Result<(), UsageError> {
        const O: &str = "--reboot";
        let (n, t) = split(O, v, '@', "NODE@SECS")?;
        let at = instant(O, t)?;
        let node = node(O, n)?;
        self.faults.push(FaultWindow {
            start: at,
            end: at,
            fault: Fault::Reboot { node },
        });
        Ok(())
    }

    fn suspend(&mut self, v: &str) -> Result<(), UsageError> {
        const O: &str = "--suspend";
        let (n, w) = split(O, v, '@', "NODE@START-END")?;
        let node = node(O, n)?;
        let (start, end) = span(O, w)?;
        self.faults.push(FaultWindow {
            start,
            end,
            fault: Fault::Suspend { node },
        });
        Ok(())
    }

    fn stall(&mut self, v: &str) -> Result<(), UsageError> {
        const O: &str = "--stall";
        let (d, w) = split(O, v, '@', "FROM>TO@START-END")?;
        let (from, to) = direction(O, d)?;
        let (start, end) = span(O, w)?;
        self.faults.push(FaultWindow {
            start,
            end,
            fault: Fault::Stall { from, to },
        });
        Ok(())
    }

    /// Checks every node named against the scenario's size.
    fn check(&self, nodes: usize) -> Result<(), UsageError> {
        let mut named: Vec<usize> = self.clocks.iter().map(|&(n, _)| n).collect();
        for &((a, b), _) in &self.paths {
            named.extend([a, b]);
        }
        for f in &self.faults {
            match f.fault {
                Fault::Reboot { node } | Fault::Suspend { node } => named.push(node),
                Fault::Stall { from, to } => named.extend([from, to]),
                _ => {}
            }
        }
        match named.into_iter().find(|&n| n >= nodes) {
            Some(node) => Err(UsageError::NoSuchNode { node, nodes }),
            None => Ok(()),
        }
    }
}

/// One `--set KEY=VALUE`: a value named as its setter, in seconds or as a
/// count.
fn setting(kv: &str) -> Result<(ConfigValue, Setting), UsageError> {
    const O: &str = "--set";
    let (k, v) = split(O, kv, '=', "KEY=VALUE")?;
    let value = ConfigValue::from_name(k).ok_or_else(|| UsageError::UnknownSetKey(k.to_owned()))?;
    let bad = |expected: String| UsageError::BadValue {
        option: O,
        value: kv.to_owned(),
        expected,
    };
    let setting = if value.is_duration() {
        Setting::Duration(seconds(O, v, MAX_SETTING_SECS).map_err(|_| {
            bad(format!(
                "{k} in seconds, a number from 0 to {MAX_SETTING_SECS}"
            ))
        })?)
    } else {
        Setting::Count(
            v.trim()
                .parse()
                .map_err(|_| bad(format!("{k} as a whole count from 0 to {}", u64::MAX)))?,
        )
    };
    Ok((value, setting))
}

/// The outage's configuration before any `--set`: rotations every 5 s, so
/// that one falls due inside the loss; everything else the crate's default.
pub fn base_config() -> ConfigBuilder {
    Config::builder()
        .deployment_id(b"link-monitor")
        .rotate_after_time(Duration::from_secs(5))
}

fn config(sets: &[(ConfigValue, Setting)]) -> Result<Config, UsageError> {
    let mut b = base_config();
    for &(value, setting) in sets {
        b = b.set(value, setting).map_err(UsageError::Config)?;
    }
    b.build().map_err(UsageError::Config)
}

fn utf8(arg: OsString) -> Result<String, UsageError> {
    arg.into_string()
        .map_err(|a| UsageError::NotUnicode(a.to_string_lossy().into_owned()))
}

/// Parses and checks the arguments (without the program's name).
pub fn parse_args<I>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut scenario_name = String::from("outage");
    let mut seed = 1;
    let mut duration: Option<(String, Duration)> = None;
    let mut json = false;
    let mut svg = None;
    let mut sets = Vec::new();
    let mut hosts = Hosts::default();
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let arg = utf8(arg)?;
        let mut value = |option: &'static str| -> Result<String, UsageError> {
            match args.next().map(utf8).transpose()? {
                None => Err(UsageError::MissingValue {
                    option,
                    found: None,
                }),
                Some(v) if v.starts_with("--") => Err(UsageError::MissingValue {
                    option,
                    found: Some(v),
                }),
                Some(v) => Ok(v),
            }
        };
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--scenario" => scenario_name = value("--scenario")?,
            "--seed" => {
                seed = whole(
                    "--seed",
                    &value("--seed")?,
                    &format!("a whole number from 0 to {}", u64::MAX),
                )?
            }
            "--duration" => {
                let v = value("--duration")?;
                let d = seconds("--duration", &v, MAX_RUN_SECS)?;
                duration = Some((v, d));
            }
            "--json" => json = true,
            "--svg" => {
                let v = value("--svg")?;
                if v.is_empty() {
                    return Err(UsageError::BadValue {
                        option: "--svg",
                        value: v,
                        expected: "a file name".into(),
                    });
                }
                svg = Some(PathBuf::from(v));
            }
            "--set" => sets.push(setting(&value("--set")?)?),
            "--skew" => hosts.skew(&value("--skew")?)?,
            "--path" => hosts.path(&value("--path")?)?,
            "--reboot" => hosts.reboot(&value("--reboot")?)?,
            "--suspend" => hosts.suspend(&value("--suspend")?)?,
            "--stall" => hosts.stall(&value("--stall")?)?,
            _ => return Err(UsageError::UnknownOption(arg)),
        }
    }

    let mut sc = scenario(&scenario_name).ok_or(UsageError::UnknownScenario(scenario_name))?;
    let config = config(&sets)?;
    hosts.check(sc.nodes)?;

    let mut sim = SimConfig::mesh(sc.nodes, config, seed);
    sim.one_way_delay = ONE_WAY_DELAY;
    sim.clocks = (0..sc.nodes).map(|i| sim.clock(i)).collect();
    for &(n, spec) in &hosts.clocks {
        if let Some(c) = sim.clocks.get_mut(n) {
            *c = spec;
        }
    }
    sim.paths.extend(hosts.paths.iter().copied());
    for f in hosts.faults {
        // Recovery is measured from the last fault: a reboot settles when
        // it happens, the others when they end.
        let settles = match f.fault {
            Fault::Reboot { .. } => f.start,
            _ => f.end,
        };
        sc.healed = sc.healed.max(settles);
        sc.faults.push(f);
    }

    // The bound on the slowest clock, as `Sim::recovery_bound` computes it.
    let on_local_clock = config.recovery_bound(sim.rtt());
    if on_local_clock == Duration::MAX {
        return Err(UsageError::NoRecoveryBound {
            rtt: sim.rtt(),
            handshake_max_age: config.handshake_max_age(),
        });
    }
    let bound = sim
        .clocks
        .iter()
        .map(|&spec| NodeClock::new(Instant::ZERO, spec).to_global(on_local_clock))
        .max()
        .unwrap_or(on_local_clock);
    let measured_for = bound.max(MEASURE_AT_LEAST);
    let measure_until = sc.healed + measured_for;
    let end = match duration {
        Some((text, d)) => {
            let end = Instant::ZERO + d;
            if end < measure_until {
                return Err(UsageError::DurationTooShort {
                    given: text.trim().parse().unwrap_or(d.as_secs_f64()),
                    healed: sc.healed,
                    bound,
                    measured_for,
                });
            }
            end
        }
        None => measure_until.max(sc.healed + DEFAULT_AFTER_HEAL),
    };
    if secs_of(end) > MAX_RUN_SECS {
        return Err(UsageError::RunTooLong { end });
    }
    Ok(Command::Run(Box::new(Options {
        scenario: sc,
        seed,
        config,
        sim,
        bound,
        measure_until,
        end,
        json,
        svg,
    })))
}

/// A `--set` value as the command line writes it.
fn show(setting: Setting) -> String {
    match setting {
        Setting::Duration(d) => format!("{}", d.as_secs_f64()),
        Setting::Count(n) => n.to_string(),
    }
}

/// The `--help` text; the `--set` keys, units and defaults come from the
/// crate's table of settings (`ConfigValue::SETTABLE`).
pub fn help() -> String {
    let ours = base_config().build().ok();
    let crates = Config::default();
    let mut keys = String::new();
    for v in ConfigValue::SETTABLE {
        let unit = if v.is_duration() { "seconds" } else { "count" };
        let default = ours.and_then(|c| c.get(v)).map(show).unwrap_or_default();
        let crate_default = crates.get(v).map(show).unwrap_or_default();
        let note = if default == crate_default {
            String::new()
        } else {
            format!(" (the crate's default: {crate_default})")
        };
        keys.push_str(&format!(
            "      {:<32} {unit:<8} default {default}{note}\n",
            v.name()
        ));
    }
    let mut scenarios = String::new();
    for name in SCENARIOS {
        if let Some(sc) = scenario(name) {
            scenarios.push_str(&format!("      {name:<26} {}\n", sc.story));
        }
    }
    let nodes = REGIONS
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{i} {r}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "outage: the regional outage, replayed: real probekey endpoints in the deterministic
simulator, beside a naive baseline, on the same faults.

usage: outage [OPTIONS]

  --scenario NAME       the faults (default outage):
{scenarios}  --seed N              seed of every random choice, 0 to 2^64-1 (default 1)
  --duration SECS       simulated seconds to run; the baseline is judged at its end
                        (default: {after} s after the network heals). Probekey is judged
                        from the heal over the recovery bound, and over at least {measure} s:
                        a shorter run is refused, with the minimum
  --json                print the results as JSON instead of the table
  --svg FILE            also draw each direction's health over time to FILE (SVG)
  --set KEY=VALUE       override one ConfigBuilder value by its setter's name (repeatable);
                        durations in seconds (decimals allowed), counts as whole numbers:
{keys}  --skew NODE=ORIGIN_SECS[,RATE]
                        the node's clock reads ORIGIN_SECS at the start (up to one year)
                        and runs at RATE (0.5 to 2, default 1)
  --path FROM>TO=MS     one-way delay of one direction, 0 to {max_path} ms (default {delay} ms)
  --reboot NODE@SECS    the node restarts with its clock at zero
  --suspend NODE@START-END
                        the host (process and clock) is stopped from START to END
  --stall FROM>TO@START-END
                        the direction's queue is held, then released at once at END
  -h, --help            this text

  Nodes are 0-based: {nodes}.
  Times are seconds of simulated time, 0 to {max_run}.
  Host options repeat; recovery is then measured from the last fault they add,
  against the bound on the slowest clock.

exit status: 0 if every link recovered within the bound and no forged or replayed
probe was accepted, 1 otherwise, 2 for a usage error or an SVG that could not be written.
",
        after = DEFAULT_AFTER_HEAL.as_secs(),
        measure = MEASURE_AT_LEAST.as_secs(),
        max_path = MAX_PATH_MS,
        delay = ONE_WAY_DELAY.as_millis(),
        max_run = MAX_RUN_SECS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every option that takes part in a run, as `--help` lists them.
    const OPTIONS: [&str; 11] = [
        "--scenario",
        "--seed",
        "--duration",
        "--json",
        "--svg",
        "--set",
        "--skew",
        "--path",
        "--reboot",
        "--suspend",
        "--stall",
    ];

    fn parse(line: &str) -> Result<Command, UsageError> {
        parse_args(line.split_whitespace())
    }

    fn refused(line: &str) -> UsageError {
        match parse(line) {
            Ok(c) => panic!("{line:?} was accepted: {c:?}"),
            Err(e) => e,
        }
    }

    fn one_line(e: &UsageError) -> bool {
        let s = e.to_string();
        !s.trim().is_empty()
            && !s.contains([
                '\n', '\r', '\u{b}', '\u{c}', '\u{85}', '\u{2028}', '\u{2029}',
            ])
    }

    #[test]
    fn set_durations_must_be_finite_non_negative_and_in_range() {
        for v in [
            "-1", "nan", "NaN", "inf", "-inf", "infinity", "1e30", "", "3s", "3_0", "0x10", "1e400",
        ] {
            let e = refused(&format!("--set stale_after={v}"));
            assert!(
                matches!(
                    e,
                    UsageError::BadValue {
                        option: "--set",
                        ..
                    }
                ),
                "{v}: {e:?}"
            );
            assert!(e.to_string().contains("stale_after"), "{e}");
            assert!(one_line(&e), "{e}");
        }
        let Ok(Command::Run(o)) = parse("--set stale_after=4.5") else {
            panic!("a plain value is refused")
        };
        assert_eq!(o.config.stale_after(), Duration::from_millis(4500));
    }

    #[test]
    fn every_time_option_refuses_what_is_not_a_time() {
        for bad in ["-1", "nan", "inf", "1e30", "", "5x", "86400.5"] {
            for line in [
                format!("--duration {bad}"),
                format!("--reboot 1@{bad}"),
                format!("--suspend 1@{bad}-40"),
                format!("--stall 0>1@30-{bad}"),
                format!("--skew 1=3600,{bad}"),
            ] {
                // An empty value splits away: the option then lacks it.
                let e = parse_args(line.split(' ')).unwrap_err();
                assert!(one_line(&e), "{line}: {e}");
            }
        }
    }

    #[test]
    fn counts_must_fit() {
        for v in ["-1", "1.5", "1e3", "18446744073709551616", "", "four"] {
            let e = refused(&format!("--set rotate_after_packets={v}"));
            assert!(e.to_string().contains("rotate_after_packets"), "{e}");
        }
        // Fits a u64 but not the setter's u8: the crate's own error.
        assert!(matches!(
            refused("--set handshake_retry_jitter_percent=300"),
            UsageError::Config(_)
        ));
        assert!(matches!(refused("--seed -1"), UsageError::BadValue { .. }));
        assert!(matches!(
            refused("--seed 18446744073709551616"),
            UsageError::BadValue { .. }
        ));
        assert!(matches!(
            refused("--reboot 99999999999999999999@35"),
            UsageError::BadValue { .. }
        ));
        assert!(matches!(
            refused("--path 0>1=10001"),
            UsageError::BadValue { .. }
        ));
    }

    #[test]
    fn unknown_keys_options_and_scenarios_are_named() {
        let e = refused("--set stale_afterr=3");
        assert_eq!(e, UsageError::UnknownSetKey("stale_afterr".into()));
        assert!(e.to_string().contains("\"stale_afterr\""), "{e}");
        // Settable only with its own setter: not a --set key.
        assert!(matches!(
            refused("--set deployment_id=3"),
            UsageError::UnknownSetKey(_)
        ));
        let e = refused("--sed 3");
        assert!(e.to_string().contains("--sed"), "{e}");
        let e = refused("--scenario moon");
        assert!(e.to_string().contains("moon"), "{e}");
        assert!(matches!(
            refused("--reboot 4@35"),
            UsageError::NoSuchNode { node: 4, nodes: 4 }
        ));
        assert!(matches!(
            refused("--path 1>1=30"),
            UsageError::BadValue { .. }
        ));
        assert!(matches!(
            refused("--seed"),
            UsageError::MissingValue { found: None, .. }
        ));
        assert!(matches!(
            refused("--svg --json"),
            UsageError::MissingValue { found: Some(_), .. }
        ));
    }

    #[test]
    fn a_duration_shorter_than_the_judged_window_is_refused_with_the_minimum() {
        let e = refused("--duration 5");
        // The outage heals at 40 s and probekey is judged for 20 s after.
        assert!(matches!(e, UsageError::DurationTooShort { .. }), "{e:?}");
        assert!(e.to_string().contains("at least 60.000 s"), "{e}");
        assert!(one_line(&e));
        assert!(matches!(
            refused("--duration 59.999"),
            UsageError::DurationTooShort { .. }
        ));
        let Ok(Command::Run(o)) = parse("--duration 60") else {
            panic!("the minimum is refused")
        };
        assert_eq!(o.end, o.measure_until);
        // The host options move the heal, and the minimum with it.
        let e = refused("--duration 60 --suspend 3@20-50");
        assert!(e.to_string().contains("at least 70.000 s"), "{e}");
        let e = refused("--scenario one-hour-partition --duration 3600");
        assert!(e.to_string().contains("at least 3650.000 s"), "{e}");
    }

    #[test]
    fn without_duration_the_run_covers_the_judged_window() {
        for name in SCENARIOS {
            let Ok(Command::Run(o)) = parse(&format!("--scenario {name}")) else {
                panic!("{name} refused")
            };
            assert!(o.end >= o.measure_until, "{name}");
            assert_eq!(o.end, o.scenario.healed + DEFAULT_AFTER_HEAL, "{name}");
        }
        // A bound longer than the default's 30 s: the run ends with the
        // measurement.
        let Ok(Command::Run(o)) = parse(
            "--set handshake_retry_max=40 --set stale_after=50 --set handshake_max_age=100 \
             --set reject_after_time=800",
        ) else {
            panic!("refused")
        };
        assert!(o.bound > DEFAULT_AFTER_HEAL);
        assert_eq!(o.end, o.measure_until);
    }

    #[test]
    fn no_recovery_bound_is_refused() {
        let e = refused("--path 0>1=10000 --path 1>0=10000 --set handshake_max_age=30");
        assert!(matches!(e, UsageError::NoRecoveryBound { .. }), "{e:?}");
        assert!(one_line(&e));
    }

    #[test]
    fn a_run_longer_than_a_day_is_refused() {
        let e = refused("--suspend 1@80000-86400");
        assert!(matches!(e, UsageError::RunTooLong { .. }), "{e:?}");
    }

    #[cfg(unix)]
    #[test]
    fn arguments_that_are_not_unicode_are_refused() {
        use std::os::unix::ffi::OsStringExt;
        let args = [
            OsString::from("--svg"),
            OsString::from_vec(vec![b'a', 0xff, b'\n']),
        ];
        let e = parse_args(args).unwrap_err();
        assert!(matches!(e, UsageError::NotUnicode(_)));
        assert!(one_line(&e), "{e}");
    }

    #[test]
    fn help_lists_every_set_key_with_its_unit_and_default() {
        let help = help();
        let defaults = base_config().build().unwrap();
        for v in ConfigValue::SETTABLE {
            let line = help
                .lines()
                .find(|l| l.split_whitespace().next() == Some(v.name()))
                .unwrap_or_else(|| panic!("{v} not listed"));
            let unit = if v.is_duration() { "seconds" } else { "count" };
            let default = match defaults.get(v).unwrap() {
                Setting::Duration(d) => format!("{}", d.as_secs_f64()),
                Setting::Count(n) => n.to_string(),
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words[1], unit, "{line}");
            assert_eq!(words[2..4], ["default", default.as_str()], "{line}");
            // The value listed is the one a run without --set uses.
            let Ok(Command::Run(o)) = parse_args(["--set".to_owned(), format!("{v}={default}")])
            else {
                panic!("{v}={default} refused")
            };
            assert_eq!(o.config, defaults, "{v}");
        }
        assert!(help.contains("rotate_after_time") && help.contains("(the crate's default: 60)"));
        for o in OPTIONS {
            assert!(help.contains(o), "{o} missing from --help");
        }
        assert!(matches!(
            parse("--seed 3 --help --bogus"),
            Ok(Command::Help)
        ));
        assert!(matches!(parse("-h"), Ok(Command::Help)));
    }

    #[test]
    fn the_valid_lines_are_accepted() {
        for line in VALID {
            assert!(
                matches!(parse_args(line.iter().copied()), Ok(Command::Run(_))),
                "{line:?}"
            );
        }
    }

    /// Command lines that must be accepted; the property test mutates them.
    const VALID: &[&[&str]] = &[
        &[],
        &["--scenario", "one-hour-partition", "--seed", "7", "--json"],
        &[
            "--duration",
            "75.5",
            "--svg",
            "out.svg",
            "--set",
            "stale_after=5",
        ],
        &[
            "--set",
            "rotate_after_packets=1000",
            "--set",
            "handshake_retry_max=1.5",
        ],
        &[
            "--skew",
            "2=3600,0.999",
            "--path",
            "0>1=250",
            "--reboot",
            "1@35",
        ],
        &[
            "--suspend",
            "3@20-33",
            "--stall",
            "0>2@25-41",
            "--scenario",
            "flapping-link",
        ],
    ];

    fn token() -> BoxedStrategy<String> {
        let keys: Vec<String> = ConfigValue::SETTABLE
            .iter()
            .map(|v| v.name().to_owned())
            .collect();
        let number = prop_oneof![
            Just("-1".to_owned()),
            Just("nan".to_owned()),
            Just("inf".to_owned()),
            Just("1e30".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just(String::new()),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| f.to_string()),
            (0u32..100_000).prop_map(|n| n.to_string()),
            (0u32..100, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}")),
        ]
        .boxed();
        prop_oneof![
            prop::sample::select(
                OPTIONS
                    .into_iter()
                    .chain([
                        "--help",
                        "-h",
                        "outage",
                        "one-hour-partition",
                        "flapping-link",
                    ])
                    .collect::<Vec<_>>()
            )
            .prop_map(str::to_owned),
            number.clone(),
            (prop::sample::select(keys), number.clone()).prop_map(|(k, v)| format!("{k}={v}")),
            (0usize..6, number.clone(), number.clone())
                .prop_map(|(n, a, b)| format!("{n}={a},{b}")),
            (0usize..6, 0usize..6, number.clone()).prop_map(|(a, b, v)| format!("{a}>{b}={v}")),
            (0usize..6, number.clone(), number.clone())
                .prop_map(|(n, a, b)| format!("{n}@{a}-{b}")),
            (0usize..6, 0usize..6, number.clone(), number)
                .prop_map(|(x, y, a, b)| format!("{x}>{y}@{a}-{b}")),
            ".*",
        ]
        .boxed()
    }

    /// One edit of an argument vector.
    #[derive(Clone, Debug)]
    enum Edit {
        Remove(usize),
        Insert(usize, String),
        Replace(usize, String),
        /// Changes one character of one argument.
        Poke(usize, usize, char),
        Truncate(usize, usize),
        Swap(usize, usize),
    }

    fn edit() -> BoxedStrategy<Edit> {
        prop_oneof![
            any::<usize>().prop_map(Edit::Remove),
            (any::<usize>(), token()).prop_map(|(i, s)| Edit::Insert(i, s)),
            (any::<usize>(), token()).prop_map(|(i, s)| Edit::Replace(i, s)),
            (any::<usize>(), any::<usize>(), any::<char>())
                .prop_map(|(i, j, c)| Edit::Poke(i, j, c)),
            (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Edit::Truncate(i, j)),
            (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Edit::Swap(i, j)),
        ]
        .boxed()
    }

    fn apply(args: &mut Vec<String>, e: Edit) {
        let n = args.len();
        match e {
            Edit::Insert(i, s) => args.insert(i % (n + 1), s),
            _ if n == 0 => {}
            Edit::Remove(i) => {
                args.remove(i % n);
            }
            Edit::Replace(i, s) => args[i % n] = s,
            Edit::Poke(i, j, c) => {
                let mut chars: Vec<char> = args[i % n].chars().collect();
                if chars.is_empty() {
                    chars.push(c);
                } else {
                    let k = j % chars.len();
                    chars[k] = c;
                }
                args[i % n] = chars.into_iter().collect();
            }
            Edit::Truncate(i, j) => {
                let a = &mut args[i % n];
                let k = a
                    .char_indices()
                    .map(|(k, _)| k)
                    .nth(j % (a.chars().count() + 1));
                a.truncate(k.unwrap_or(a.len()));
            }
            Edit::Swap(i, j) => args.swap(i % n, j % n),
        }
    }

    fn check(args: Vec<String>) -> Result<(), TestCaseError> {
        // A panic fails the case; so does an error that is not one line.
        if let Err(e) = parse_args(args.clone()) {
            prop_assert!(
                one_line(&e),
                "{args:?}: {e:?} displays as {:?}",
                e.to_string()
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(args in prop::collection::vec(".*", 0..8)) {
            check(args)?;
        }

        #[test]
        fn arbitrary_tokens_never_panic(args in prop::collection::vec(token(), 0..12)) {
            check(args)?;
        }

        #[test]
        fn mutated_valid_lines_never_panic(
            which in 0..VALID.len(),
            edits in prop::collection::vec(edit(), 1..5),
        ) {
            let mut args: Vec<String> = VALID[which].iter().map(|s| (*s).to_owned()).collect();
            for e in edits {
                apply(&mut args, e);
            }
            check(args)?;
        }
    }
}
