//! The daemon as an operator runs it: real `linkmon` processes on
//! loopback, their Prometheus endpoint scraped over HTTP while a relay run
//! by this test cuts their link and garbage is sent to their port, and
//! their configuration reloaded with SIGHUP.
//!
//! Every wait polls with a bounded deadline; the timers are short
//! (`stale_after` 400 ms), and sessions are not rekeyed during a test, so
//! that a session left alone by a reload can be told from a new one.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::*;
use linkmon::file::{ConfigFile, NeighbourFile, timers_of};
use linkmon::output::{Line as Said, NeighbourStatus};
use probekey::Config;

/// The simulator's short timers, with sessions rekeyed only after a
/// minute: no session is renewed while a test runs.
fn timers() -> Config {
    probekey_sim::short_timers()
        .to_builder()
        .rekey_after_time(Duration::from_secs(60))
        .reject_after_time(Duration::from_secs(120))
        .build()
        .expect("valid timers")
}

/// A node: its name, key file, public key and listen address.
struct Node {
    name: &'static str,
    key: PathBuf,
    public: String,
    listen: SocketAddr,
}

fn node(dir: &TempDir, name: &'static str) -> Node {
    let key = dir.path(&format!("{name}.key"));
    let public = keygen(&key);
    Node {
        name,
        key,
        public,
        listen: local(free_port()),
    }
}

/// Writes `n`'s configuration with the given neighbours (name, public key,
/// address as written) and metrics on an ephemeral port.
fn write_config(path: &Path, n: &Node, neighbours: &[(&str, &str, String)]) {
    let file = ConfigFile {
        name: n.name.into(),
        key_file: n.key.clone(),
        deployment_id: "operations".into(),
        listen: n.listen,
        metrics_listen: Some(local(0)),
        status_interval_ms: 100,
        timers: timers_of(&timers()),
        neighbours: neighbours
            .iter()
            .map(|(name, public, address)| {
                (
                    (*name).to_owned(),
                    NeighbourFile {
                        public_key: (*public).to_owned(),
                        address: address.clone(),
                    },
                )
            })
            .collect(),
    };
    fs::write(path, toml::to_string(&file).expect("serialise")).expect("write config");
}

/// Polls `f` every 10 ms until it holds; panics after `limit`.
fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        thread::sleep(ms(10));
    }
}

/// A running daemon; killed when dropped.
struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<Said>>>,
    stderr: Arc<Mutex<String>>,
    metrics: Option<SocketAddr>,
}

impl Daemon {
    fn spawn(config: &Path) -> Daemon {
        let mut child = Command::new(linkmon())
            .arg("run")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn linkmon");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout");
        let l = Arc::clone(&lines);
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let said = serde_json::from_str::<Said>(&line)
                    .unwrap_or_else(|e| panic!("not a line of ours ({e}): {line}"));
                l.lock().unwrap().push(said);
            }
        });
        let mut err = child.stderr.take().expect("stderr");
        let e = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            e.lock().unwrap().push_str(&s);
        });
        let mut d = Daemon {
            child,
            lines,
            stderr,
            metrics: None,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let start = d.lines.lock().unwrap().iter().find_map(|l| match l {
                Said::Start { metrics_listen, .. } => Some(metrics_listen.clone()),
                _ => None,
            });
            if let Some(metrics) = start {
                d.metrics = metrics.map(|m| m.parse().expect("metrics address"));
                return d;
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                thread::sleep(ms(50));
                panic!("exited ({status}): {}", d.stderr.lock().unwrap());
            }
            assert!(Instant::now() < deadline, "did not start");
            thread::sleep(ms(5));
        }
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{signal}");
    }

    /// The latest status line about `neighbour` among the lines from
    /// index `from` on: its `t_ms` and the status.
    fn status(&self, neighbour: &str, from: usize) -> Option<(f64, NeighbourStatus)> {
        let lines = self.lines.lock().unwrap();
        lines.iter().skip(from).rev().find_map(|l| match l {
            Said::Status {
                t_ms,
                neighbour: n,
                status,
                ..
            } if n == neighbour => Some((*t_ms, (**status).clone())),
            _ => None,
        })
    }

    fn line_count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    fn find<T>(&self, from: usize, f: impl Fn(&Said) -> Option<T>) -> Option<T> {
        self.lines.lock().unwrap().iter().skip(from).find_map(f)
    }

    fn scrape(&self) -> Metrics {
        let (status, head, body) = http_get(self.metrics.expect("metrics served"), "/metrics");
        assert_eq!(status, 200, "{head}");
        assert!(
            head.contains("Content-Type: application/openmetrics-text"),
            "{head}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
        Metrics(body)
    }

    fn stop(mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "exit {status}");
                return;
            }
            assert!(Instant::now() < deadline, "ignored SIGTERM");
            thread::sleep(ms(5));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One GET over a plain TCP connection: status, head, body.
fn http_get(addr: SocketAddr, target: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (status, head.to_owned(), body.to_owned())
}

/// A scrape.
struct Metrics(String);

impl Metrics {
    /// The value of the sample `name` whose labels include `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels_text, value) = match rest.strip_prefix('{') {
                Some(r) => r.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            let all = labels
                .iter()
                .all(|(k, v)| labels_text.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.trim().parse().ok()).flatten()
        })
    }

    fn or_zero(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    fn mentions(&self, text: &str) -> bool {
        self.0.contains(text)
    }
}

/// Forwards datagrams to `target` unless cut; stops with the flag.
struct Relay {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
}

fn relay(target: SocketAddr, stop: &Arc<AtomicBool>) -> (Relay, JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("relay socket");
    sock.set_read_timeout(Some(ms(20))).expect("timeout");
    let addr = sock.local_addr().expect("address");
    let cut = Arc::new(AtomicBool::new(false));
    let (c, stop) = (Arc::clone(&cut), Arc::clone(stop));
    let handle = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, _)) = sock.recv_from(&mut buf)
                && !c.load(Ordering::Relaxed)
            {
                let _ = sock.send_to(&buf[..n], target);
            }
        }
    });
    (Relay { addr, cut }, handle)
}

const FRESH: &str = "linkmon_direction_fresh";
const TRANSITIONS: &str = "linkmon_direction_transitions_total";

#[test]
fn metrics_follow_a_cut_link_and_garbage() {
    let started = Instant::now();
    let dir = TempDir::new("operations", "metrics");
    let (a, b) = (node(&dir, "a"), node(&dir, "b"));
    let stop = Arc::new(AtomicBool::new(false));
    let (ab, t1) = relay(b.listen, &stop);
    let (ba, t2) = relay(a.listen, &stop);
    // a names b's relay by host name.
    let a_config = dir.path("a.toml");
    let b_config = dir.path("b.toml");
    let via_localhost = format!("localhost:{}", ab.addr.port());
    write_config(&a_config, &a, &[("b", &b.public, via_localhost.clone())]);
    write_config(&b_config, &b, &[("a", &a.public, ba.addr.to_string())]);
    let da = Daemon::spawn(&a_config);
    let db = Daemon::spawn(&b_config);
    let addressed = da.find(0, |l| match l {
        Said::Start { neighbours, .. } => neighbours.get("b").cloned(),
        _ => None,
    });
    assert_eq!(addressed, Some(ab.addr.to_string()), "localhost resolved");

    let inbound = [("neighbour", "b"), ("direction", "inbound")];
    let outbound = [("neighbour", "b"), ("direction", "outbound")];
    let b_only = [("neighbour", "b")];
    // Up: both directions fresh, a handshake completed and timed, a round
    // trip measured.
    wait_until(Duration::from_secs(5), "b fresh both ways at a", || {
        let m = da.scrape();
        m.get(FRESH, &inbound) == Some(1.0)
            && m.get(FRESH, &outbound) == Some(1.0)
            && m.or_zero("linkmon_rtt_seconds", &b_only) > 0.0
    });
    let m = da.scrape();
    assert!(m.or_zero("linkmon_handshakes_completed_total", &b_only) >= 1.0);
    assert!(m.or_zero("linkmon_handshakes_started_total", &b_only) >= 1.0);
    assert!(m.or_zero("linkmon_handshake_latency_seconds_count", &b_only) >= 1.0);
    assert_eq!(m.get("linkmon_handshake_attempts", &b_only), Some(0.0));
    assert_eq!(m.get("linkmon_neighbours", &[]), Some(1.0));
    let to = |dir: &[(&'static str, &'static str); 2], to: &'static str| {
        let mut l = dir.to_vec();
        l.push(("to", to));
        l
    };
    for d in [&inbound, &outbound] {
        assert!(m.or_zero(TRANSITIONS, &to(d, "fresh")) >= 1.0, "{}", m.0);
    }
    let stale_before: Vec<f64> = [&inbound, &outbound]
        .iter()
        .map(|d| m.or_zero(TRANSITIONS, &to(d, "stale")))
        .collect();
    let fresh_before: Vec<f64> = [&inbound, &outbound]
        .iter()
        .map(|d| m.or_zero(TRANSITIONS, &to(d, "fresh")))
        .collect();

    // The link is cut both ways: both directions go stale, the transition
    // counters move, a resync handshake retries.
    ab.cut.store(true, Ordering::Relaxed);
    ba.cut.store(true, Ordering::Relaxed);
    wait_until(Duration::from_secs(5), "b stale both ways at a", || {
        let m = da.scrape();
        m.get(FRESH, &inbound) == Some(0.0)
            && m.get(FRESH, &outbound) == Some(0.0)
            && m.or_zero("linkmon_handshake_attempts", &b_only) >= 1.0
    });
    let m = da.scrape();
    for (i, d) in [&inbound, &outbound].into_iter().enumerate() {
        assert_eq!(
            m.or_zero(TRANSITIONS, &to(d, "stale")),
            stale_before[i] + 1.0,
            "{}",
            m.0
        );
    }
    let since = m.or_zero("linkmon_direction_since_change_seconds", &inbound);
    wait_until(
        Duration::from_secs(2),
        "time since the change grows",
        || {
            da.scrape()
                .or_zero("linkmon_direction_since_change_seconds", &inbound)
                > since + 0.2
        },
    );

    // Healed: fresh again, counted.
    ab.cut.store(false, Ordering::Relaxed);
    ba.cut.store(false, Ordering::Relaxed);
    wait_until(Duration::from_secs(5), "b fresh again at a", || {
        let m = da.scrape();
        m.get(FRESH, &inbound) == Some(1.0) && m.get(FRESH, &outbound) == Some(1.0)
    });
    let m = da.scrape();
    for (i, d) in [&inbound, &outbound].into_iter().enumerate() {
        assert_eq!(
            m.or_zero(TRANSITIONS, &to(d, "fresh")),
            fresh_before[i] + 1.0
        );
    }

    // Garbage to a's port: refused as malformed, attributed to nobody.
    let malformed = [("reason", "malformed")];
    let before = m.or_zero("linkmon_endpoint_rejected_total", &malformed);
    let junk = UdpSocket::bind("127.0.0.1:0").expect("socket");
    for i in 0..10u8 {
        junk.send_to(&[i; 40], a.listen).expect("send garbage");
    }
    wait_until(Duration::from_secs(3), "garbage counted", || {
        da.scrape()
            .or_zero("linkmon_endpoint_rejected_total", &malformed)
            >= before + 10.0
    });
    let m = da.scrape();
    assert!(m.mentions("# TYPE linkmon_handshake_latency_seconds histogram"));
    assert!(m.mentions("linkmon_rejected_total{neighbour=\"b\",reason=\"bad_tag\"}"));

    // Anything but GET /metrics is refused.
    let addr = da.metrics.expect("metrics");
    assert_eq!(http_get(addr, "/").0, 404);
    assert_eq!(http_get(addr, "/metrics?x=1").0, 200);

    da.stop();
    db.stop();
    stop.store(true, Ordering::Relaxed);
    let _ = (t1.join(), t2.join());
    eprintln!(
        "operations: metrics test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// `neighbours` of a configuration: (name, node whose key and address it
/// has).
fn neighbours_of<'a>(list: &[(&'a str, &'a Node)]) -> Vec<(&'a str, &'a str, String)> {
    list.iter()
        .map(|(name, n)| (*name, n.public.as_str(), n.listen.to_string()))
        .collect()
}

fn fresh(s: &NeighbourStatus) -> bool {
    let s = &s.status;
    s.inbound.fresh && s.outbound.fresh && s.session_age.is_some()
}

/// The same session, left alone between two status lines `(t_ms,
/// status)`: no handshake since, and its age grew as the clock did.
fn assert_untouched(what: &str, before: &(f64, NeighbourStatus), after: &(f64, NeighbourStatus)) {
    let ((t0, n0), (t1, n1)) = (before, after);
    let (s0, s1) = (&n0.status, &n1.status);
    assert_eq!(s1.handshakes_started, s0.handshakes_started, "{what}");
    assert_eq!(s1.handshakes_completed, s0.handshakes_completed, "{what}");
    let ms = |d: core::time::Duration| d.as_secs_f64() * 1e3;
    let (age0, age1) = (
        ms(s0.session_age.expect("a session")),
        ms(s1.session_age.expect("a session")),
    );
    assert!(
        age1 - age0 >= (t1 - t0) - 1.0,
        "{what}: session age {age0} ms at {t0} ms, {age1} ms at {t1} ms"
    );
    assert!(fresh(n1), "{what}: {n1:?}");
}

/// The `reload` line after index `from`: (added, removed, rekeyed).
type Reloaded = (Vec<String>, Vec<String>, Vec<String>);

fn reloaded(d: &Daemon, from: usize) -> Reloaded {
    let mut found = None;
    wait_until(Duration::from_secs(3), "a reload line", || {
        found = d.find(from, |l| match l {
            Said::Reload {
                added,
                removed,
                rekeyed,
                errors,
                ..
            } => {
                assert!(errors.is_empty(), "{errors:?}");
                Some((added.clone(), removed.clone(), rekeyed.clone()))
            }
            Said::ReloadFailed { error, .. } => panic!("reload refused: {error}"),
            _ => None,
        });
        found.is_some()
    });
    found.expect("found")
}

fn reload_failed(d: &Daemon, from: usize) -> String {
    let mut found = None;
    wait_until(Duration::from_secs(3), "a reload_failed line", || {
        found = d.find(from, |l| match l {
            Said::ReloadFailed { error, .. } => Some(error.clone()),
            Said::Reload { .. } => panic!("an invalid configuration was applied"),
            _ => None,
        });
        found.is_some()
    });
    found.expect("found")
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn sighup_reloads_the_neighbours_and_leaves_the_others_alone() {
    let started = Instant::now();
    let dir = TempDir::new("operations", "reload");
    let (a, b, c) = (node(&dir, "a"), node(&dir, "b"), node(&dir, "c"));
    let config = |n: &Node, list: &[(&str, &Node)]| {
        let path = dir.path(&format!("{}.toml", n.name));
        write_config(&path, n, &neighbours_of(list));
        path
    };
    let a_path = config(&a, &[("b", &b)]);
    let da = Daemon::spawn(&a_path);
    let db = Daemon::spawn(&config(&b, &[("a", &a), ("c", &c)]));
    let dc = Daemon::spawn(&config(&c, &[("a", &a), ("b", &b)]));
    let up = |d: &Daemon, n: &str, from: usize| d.status(n, from).filter(|(_, s)| fresh(s));
    wait_until(Duration::from_secs(5), "a-b up", || {
        up(&da, "b", 0).is_some()
    });
    let b_before = up(&da, "b", 0).expect("up");

    // Added: c. b's session is left alone.
    config(&a, &[("b", &b), ("c", &c)]);
    let mark = da.line_count();
    da.signal("HUP");
    assert_eq!(reloaded(&da, mark), (names(&["c"]), vec![], vec![]));
    wait_until(Duration::from_secs(5), "a-c up", || {
        up(&da, "c", mark).is_some()
    });
    let b_after = da.status("b", mark).expect("status");
    assert_untouched("b after c was added", &b_before, &b_after);
    let m = da.scrape();
    assert_eq!(m.get("linkmon_neighbours", &[]), Some(2.0));
    assert_eq!(
        m.get("linkmon_config_reloads_total", &[("result", "ok")]),
        Some(1.0)
    );

    // Refused as a whole, the running configuration going on: a changed
    // listen address, timers in conflict, a name that does not resolve.
    let good = fs::read_to_string(&a_path).expect("config");
    let c_before = up(&da, "c", 0).expect("up");
    let other_port = local(free_port()).to_string();
    let bad = [
        (
            good.replace(&a.listen.to_string(), &other_port),
            "listen = ",
        ),
        (
            good.replace("stale_after_ms = 400", "stale_after_ms = 150"),
            "timers.handshake_retry_max_ms = 200 and timers.stale_after_ms = 150 conflict",
        ),
        (
            good.replace(&c.listen.to_string(), "localhost"),
            "neighbours.c.address = \"localhost\" does not resolve",
        ),
    ];
    for (text, expected) in bad {
        fs::write(&a_path, text).expect("config");
        let mark = da.line_count();
        da.signal("HUP");
        let error = reload_failed(&da, mark);
        assert!(error.contains(expected), "{expected:?} not in {error:?}");
    }
    fs::write(&a_path, &good).expect("config");
    let mark = da.line_count();
    wait_until(Duration::from_secs(2), "status lines go on", || {
        up(&da, "b", mark).is_some() && up(&da, "c", mark).is_some()
    });
    assert_untouched(
        "c after refused reloads",
        &c_before,
        &up(&da, "c", mark).expect("up"),
    );
    assert_eq!(
        da.scrape()
            .get("linkmon_config_reloads_total", &[("result", "error")]),
        Some(3.0)
    );

    // Removed: b. c's session is left alone; b's series are gone.
    config(&a, &[("c", &c)]);
    let mark = da.line_count();
    da.signal("HUP");
    assert_eq!(reloaded(&da, mark), (vec![], names(&["b"]), vec![]));
    let settled = da.line_count();
    wait_until(Duration::from_secs(2), "a status line of c", || {
        up(&da, "c", settled).is_some()
    });
    assert_untouched(
        "c after b was removed",
        &c_before,
        &up(&da, "c", settled).expect("up"),
    );
    assert!(da.status("b", settled).is_none(), "b still reported");
    let m = da.scrape();
    assert!(!m.mentions("neighbour=\"b\""), "{}", m.0);
    assert_eq!(m.get("linkmon_neighbours", &[]), Some(1.0));

    // Re-keyed: c's entry now holds b's key. Its session ends; a new
    // neighbour starts from no handshake completed.
    let path = dir.path("a.toml");
    write_config(&path, &a, &[("c", b.public.as_str(), c.listen.to_string())]);
    let mark = da.line_count();
    da.signal("HUP");
    assert_eq!(reloaded(&da, mark), (vec![], vec![], names(&["c"])));
    wait_until(Duration::from_secs(2), "a status line of the new c", || {
        da.status("c", mark + 1).is_some_and(|(_, s)| {
            s.status.handshakes_completed == 0 && s.status.session_age.is_none()
        })
    });

    for d in [da, db, dc] {
        d.stop();
    }
    eprintln!(
        "operations: reload test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The finding: two nodes with different deployment ids produced no event
/// and nothing on stderr; only counters moved. Now the crate reports the
/// handshake failing within `handshake_failing_after`, and the daemon
/// writes it as a line and in its metrics, with what the neighbour's
/// datagrams were refused for.
#[test]
fn a_neighbour_of_another_deployment_is_reported_failing_in_the_lines_and_the_metrics() {
    let dir = TempDir::new("operations", "failing");
    let (a, b) = (node(&dir, "a"), node(&dir, "b"));
    let a_config = dir.path("a.toml");
    let b_config = dir.path("b.toml");
    write_config(&a_config, &a, &[("b", &b.public, b.listen.to_string())]);
    write_config(&b_config, &b, &[("a", &a.public, a.listen.to_string())]);
    // b is of another deployment, and both report a failing handshake
    // after 600 ms.
    for (path, deployment) in [(&a_config, "operations"), (&b_config, "elsewhere")] {
        let text = fs::read_to_string(path).expect("config");
        let text = text
            .replace(
                "deployment_id = \"operations\"",
                &format!("deployment_id = \"{deployment}\""),
            )
            .replace(
                "handshake_failing_after_ms = 10000",
                "handshake_failing_after_ms = 600",
            );
        fs::write(path, text).expect("write config");
    }
    let da = Daemon::spawn(&a_config);
    let _db = Daemon::spawn(&b_config);
    let b_only = [("neighbour", "b")];
    wait_until(Duration::from_secs(5), "a reports b failing", || {
        let m = da.scrape();
        m.get("linkmon_handshake_failing", &b_only) == Some(1.0)
            && m.or_zero(
                "linkmon_handshake_failing_reports_total",
                &[("neighbour", "b"), ("dominant", "bad_tag")],
            ) >= 1.0
    });
    let line = da.find(0, |l| match l {
        Said::Event {
            neighbour,
            text,
            event: probekey::Event::HandshakeFailing { rejected, .. },
            ..
        } if neighbour == "b" => Some((text.clone(), *rejected)),
        _ => None,
    });
    let (text, rejected) = line.expect("a handshake_failing line");
    assert!(text.contains("mostly refused as bad_tag"), "{text}");
    assert!(rejected.bad_tag > 0);
    let m = da.scrape();
    assert_eq!(
        m.get(FRESH, &[("neighbour", "b"), ("direction", "inbound")]),
        Some(0.0)
    );
}
