//! The loop: one UDP socket, the monotonic clock, the crate's endpoint
//! with its probe schedule on (it probes every neighbour each
//! `probe_interval`, echoes every probe and times the echoes: the loop is
//! the socket and `poll_timeout`), and JSON lines on stdout.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use linkmon::output::{self, Line};
use probekey::{
    Endpoint, Event, HandshakeState, Instant, OsEndpoint, PeerId, PeerStatus, PublicKey, StdClock,
    TransmitKind,
};

use crate::Error;
use crate::metrics::{self, Metrics};
use crate::setup::{self, Setup, hex};

/// Datagrams up to this size are read whole; a longer one is truncated and
/// then refused by the crate (no probe of ours is that long).
const RECV_BUF: usize = 2048;
/// Shortest socket wait, so that a deadline already due cannot spin.
const MIN_WAIT: Duration = Duration::from_millis(1);
/// How often the metrics' gauges and counters are brought up to date
/// (freshness and transitions also as their events come).
const METRICS_REFRESH: Duration = Duration::from_millis(100);
/// Longest socket wait, so that a signal is noticed promptly whatever the
/// timers.
const MAX_WAIT: Duration = Duration::from_millis(250);

struct Neighbour {
    name: String,
    public: PublicKey,
    address: SocketAddr,
    peer: PeerId,
    /// When it was configured: a direction never up counts from here.
    added: Instant,
    probes_sent: u64,
    echoes_sent: u64,
    send_errors: u64,
    send_failing: bool,
    from_other_address: u64,
}

impl Neighbour {
    fn new(spec: setup::Neighbour, peer: PeerId, now: Instant) -> Self {
        Neighbour {
            name: spec.name,
            public: spec.public,
            address: spec.address,
            peer,
            added: now,
            probes_sent: 0,
            echoes_sent: 0,
            send_errors: 0,
            send_failing: false,
            from_other_address: 0,
        }
    }
}

pub struct Daemon {
    name: String,
    /// The configuration file, read again at SIGHUP.
    config_path: PathBuf,
    /// `listen` and `metrics_listen` as configured (a reload may not
    /// change them).
    listen: SocketAddr,
    metrics_listen: Option<SocketAddr>,
    socket: UdpSocket,
    clock: StdClock,
    endpoint: OsEndpoint,
    neighbours: Vec<Neighbour>,
    by_peer: HashMap<PeerId, usize>,
    status_interval: Duration,
    next_status: Instant,
    recv_errors: u64,
    metrics: Option<Metrics>,
    metrics_addr: Option<SocketAddr>,
    next_metrics: Instant,
}

impl Daemon {
    /// Binds the socket and configures every neighbour.
    pub fn new(setup: Setup, config_path: &Path) -> Result<Self, Error> {
        let Setup {
            name,
            keypair,
            config,
            listen,
            metrics_listen,
            status_interval,
            neighbours: specs,
        } = setup;
        let clock = StdClock::new();
        let now = clock.now();
        let mut endpoint = Endpoint::with_os_rng(config, keypair);
        endpoint.set_probe_schedule(true, now);
        let mut neighbours: Vec<Neighbour> = Vec::with_capacity(specs.len());
        let mut by_peer = HashMap::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let peer = endpoint.add_peer(now, spec.public).map_err(|e| match e {
                probekey::AddPeerError::Duplicate(other) => Error::DuplicateKey {
                    name: spec.name.clone(),
                    other: by_peer
                        .get(&other)
                        .map(|&j: &usize| neighbours[j].name.clone())
                        .unwrap_or_default(),
                },
                source => Error::NeighbourKey {
                    name: spec.name.clone(),
                    source,
                },
            })?;
            by_peer.insert(peer, i);
            neighbours.push(Neighbour::new(spec, peer, now));
        }
        let socket = UdpSocket::bind(listen).map_err(|source| match source.kind() {
            io::ErrorKind::AddrInUse => Error::PortInUse { addr: listen },
            _ => Error::Bind {
                addr: listen,
                source,
            },
        })?;
        let (metrics, metrics_addr) = match metrics_listen {
            Some(addr) => {
                let bind_error = |source| Error::MetricsBind { addr, source };
                let listener = TcpListener::bind(addr).map_err(bind_error)?;
                let bound = listener.local_addr().map_err(bind_error)?;
                let (metrics, registry) = Metrics::new();
                metrics::serve(listener, registry).map_err(bind_error)?;
                (Some(metrics), Some(bound))
            }
            None => (None, None),
        };
        Ok(Daemon {
            name,
            config_path: config_path.to_owned(),
            listen,
            metrics_listen,
            socket,
            clock,
            endpoint,
            neighbours,
            by_peer,
            status_interval,
            next_status: now,
            recv_errors: 0,
            metrics,
            metrics_addr,
            next_metrics: now,
        })
    }

    /// Runs until `signal` is set (to the signal's number); reloads the
    /// neighbours when `reload` is set.
    pub fn run(mut self, signal: &AtomicUsize, reload: &AtomicBool) -> Result<(), Error> {
        self.start_line()?;
        let mut buf = [0u8; RECV_BUF];
        loop {
            let sig = signal.load(Ordering::SeqCst);
            if sig != 0 {
                return self.shutdown_line(sig);
            }
            if reload.swap(false, Ordering::SeqCst) {
                self.reload()?;
            }
            let now = self.clock.now();
            if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                self.endpoint.handle_timeout(now);
            }
            self.flush(now)?;
            if now >= self.next_status {
                self.status_lines(now)?;
                self.next_status = next_tick(self.next_status, self.status_interval, now);
            }
            if self.metrics.is_some() && now >= self.next_metrics {
                self.refresh_metrics(now);
                self.next_metrics = next_tick(self.next_metrics, METRICS_REFRESH, now);
            }
            // Sleep in the socket until the next datagram or the earliest
            // of: the crate's next timer (its next probe among them), the
            // next status, the next metrics refresh.
            let deadline = self
                .endpoint
                .poll_timeout()
                .into_iter()
                .chain(self.metrics.as_ref().map(|_| self.next_metrics))
                .fold(self.next_status, Instant::min);
            let wait = deadline
                .saturating_duration_since(self.clock.now())
                .clamp(MIN_WAIT, MAX_WAIT);
            self.socket
                .set_read_timeout(Some(wait))
                .map_err(Error::Socket)?;
            match self.socket.recv_from(&mut buf) {
                Ok((len, from)) => {
                    let now = self.clock.now();
                    self.handle_datagram(now, &mut buf[..len], from);
                    self.flush(now)?;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    // For example an ICMP error reported on the socket:
                    // counted, and the loop goes on.
                    self.recv_errors += 1;
                    if self.recv_errors == 1 {
                        eprintln!("linkmon: {}: receive error: {e}", self.name);
                    }
                }
            }
        }
    }

    fn handle_datagram(&mut self, now: Instant, datagram: &mut [u8], from: SocketAddr) {
        // Refusals are counted by the crate, per reason, and reported in
        // the status lines.
        let Ok(received) = self.endpoint.handle_datagram(now, datagram) else {
            return;
        };
        let peer = received.peer();
        let Some(&i) = self.by_peer.get(&peer) else {
            return;
        };
        if from != self.neighbours[i].address {
            self.neighbours[i].from_other_address += 1;
        }
    }

    /// Sends to neighbour `i`'s configured address; true if sent.
    fn send(&mut self, i: usize, datagram: &[u8]) -> bool {
        let n = &mut self.neighbours[i];
        match self.socket.send_to(datagram, n.address) {
            Ok(_) => {
                n.send_failing = false;
                true
            }
            Err(e) => {
                // A route can disappear (link down): counted, reported once
                // per run of failures, and the loop goes on.
                n.send_errors += 1;
                if !n.send_failing {
                    n.send_failing = true;
                    eprintln!(
                        "linkmon: {}: sending to {} at {}: {e}",
                        self.name, n.name, n.address
                    );
                }
                false
            }
        }
    }

    /// Sends what the crate queued and prints its events.
    fn flush(&mut self, now: Instant) -> Result<(), Error> {
        let mut buf = [0u8; RECV_BUF];
        loop {
            match self.endpoint.poll_transmit(now, &mut buf) {
                Ok(Some(tx)) => {
                    if let Some(&i) = self.by_peer.get(&tx.peer)
                        && self.send(i, &buf[..tx.len])
                    {
                        let n = &mut self.neighbours[i];
                        match tx.kind {
                            TransmitKind::Probe => n.probes_sent += 1,
                            TransmitKind::Echo => n.echoes_sent += 1,
                            _ => {}
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // Cannot happen with this buffer; the datagram stays
                    // queued, so stop rather than spin.
                    eprintln!("linkmon: {}: {e}", self.name);
                    break;
                }
            }
        }
        while let Some(event) = self.endpoint.poll_event() {
            self.observe(&event);
            emit(&Line::Event {
                t_ms: millis(now - Instant::ZERO),
                time: wall_clock(),
                node: self.name.clone(),
                neighbour: self.neighbour_name(event.peer()).to_owned(),
                text: event.to_string(),
                event,
            })?;
        }
        Ok(())
    }

    /// SIGHUP: reads the configuration again and applies its neighbours:
    /// those added are added, those removed removed, one whose key changed
    /// removed and added again, one whose address changed sent to at the
    /// new address; the others, and their sessions, are left as they are.
    /// A configuration that does not load, or that changes what a reload
    /// cannot (the name, `listen`, `metrics_listen`, the key, the
    /// deployment or the timers), changes nothing: the error is a line.
    fn reload(&mut self) -> Result<(), Error> {
        let now = self.clock.now();
        // Events of a neighbour about to be removed are reported under its
        // name first.
        self.flush(now)?;
        let result = setup::load(&self.config_path).and_then(|new| {
            self.reload_refusal(&new)?;
            Ok(new)
        });
        let new = match result {
            Ok(new) => new,
            Err(e) => {
                if let Some(m) = &self.metrics {
                    m.reloaded(false);
                }
                return emit(&Line::ReloadFailed {
                    t_ms: millis(now - Instant::ZERO),
                    time: wall_clock(),
                    node: self.name.clone(),
                    error: e.to_string(),
                });
            }
        };
        self.status_interval = new.status_interval;
        let (mut added, mut removed, mut rekeyed, mut readdressed) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut kept = Vec::with_capacity(self.neighbours.len());
        for n in std::mem::take(&mut self.neighbours) {
            match new.neighbours.iter().find(|s| s.name == n.name) {
                Some(spec) if spec.public == n.public => {
                    let mut n = n;
                    if spec.address != n.address {
                        n.address = spec.address;
                        n.send_failing = false;
                        readdressed.push(n.name.clone());
                    }
                    kept.push(n);
                }
                Some(_) => {
                    self.remove_neighbour(&n);
                    rekeyed.push(n.name);
                }
                None => {
                    self.remove_neighbour(&n);
                    removed.push(n.name);
                }
            }
        }
        self.neighbours = kept;
        let mut errors = Vec::new();
        for spec in new.neighbours {
            if self.neighbours.iter().any(|n| n.name == spec.name) {
                continue;
            }
            let name = spec.name.clone();
            match self.endpoint.add_peer(now, spec.public) {
                Ok(peer) => {
                    self.neighbours.push(Neighbour::new(spec, peer, now));
                    if !rekeyed.contains(&name) {
                        added.push(name);
                    }
                }
                // The load checked the keys on an endpoint of its own; the
                // table can still be full.
                Err(e) => {
                    rekeyed.retain(|r| *r != name);
                    errors.push(format!(
                        "{}.public_key refused: {e}",
                        setup::neighbour_key(&name)
                    ));
                }
            }
        }
        self.neighbours.sort_by(|a, b| a.name.cmp(&b.name));
        self.by_peer = self
            .neighbours
            .iter()
            .enumerate()
            .map(|(i, n)| (n.peer, i))
            .collect();
        if let Some(m) = &self.metrics {
            m.reloaded(errors.is_empty());
        }
        emit(&Line::Reload {
            t_ms: millis(now - Instant::ZERO),
            time: wall_clock(),
            node: self.name.clone(),
            added,
            removed,
            rekeyed,
            readdressed,
            neighbours: self.neighbours.len(),
            errors,
        })?;
        // Make the new neighbours' handshakes go out now.
        self.flush(now)
    }

    /// Why `new` cannot be applied by a reload, if it cannot.
    fn reload_refusal(&self, new: &Setup) -> Result<(), Error> {
        let refuse = |message: String| {
            Err(Error::Setting {
                path: self.config_path.clone(),
                message: format!(
                    "{message}; a reload changes only the neighbours and status_interval_ms: restart to change it"
                ),
            })
        };
        if new.name != self.name {
            return refuse(format!(
                "name = {:?} differs from the running {:?}",
                new.name, self.name
            ));
        }
        if new.listen != self.listen {
            return refuse(format!(
                "listen = \"{}\" differs from the running \"{}\"",
                new.listen, self.listen
            ));
        }
        if new.metrics_listen != self.metrics_listen {
            let text =
                |a: Option<SocketAddr>| a.map_or("absent".to_owned(), |a| format!("\"{a}\""));
            return refuse(format!(
                "metrics_listen = {} differs from the running {}",
                text(new.metrics_listen),
                text(self.metrics_listen)
            ));
        }
        if new.keypair.public() != self.endpoint.public_key() {
            return refuse("key_file holds another key than the running one".into());
        }
        if new.config != *self.endpoint.config() {
            return refuse("deployment_id or [timers] differ from the running ones".into());
        }
        Ok(())
    }

    /// Removes a neighbour from the endpoint (its session and handshake
    /// with it end) and from the metrics.
    fn remove_neighbour(&mut self, n: &Neighbour) {
        // Its id came from this endpoint and is removed once: an error
        // would mean it is gone already, which is what is wanted.
        let _ = self.endpoint.remove_peer(n.peer);
        if let Some(m) = &self.metrics {
            m.remove(&n.name);
        }
    }

    /// What the metrics take from an event as it comes (the rest they
    /// read from the statuses at each refresh).
    fn observe(&self, event: &Event) {
        let (Some(m), Some(&i)) = (&self.metrics, self.by_peer.get(&event.peer())) else {
            return;
        };
        let name = &self.neighbours[i].name;
        match *event {
            Event::HealthChanged {
                direction, fresh, ..
            } => m.health_changed(name, direction, fresh),
            Event::SessionEstablished { latency, .. } => m.session_established(name, latency),
            Event::HandshakeFailing { rejected, .. } => m.handshake_failing(name, &rejected),
            _ => {}
        }
    }

    /// Brings every gauge and counter up to date.
    fn refresh_metrics(&self, now: Instant) {
        let Some(m) = &self.metrics else { return };
        for n in &self.neighbours {
            let Some(s) = self.endpoint.peer_status(n.peer, now) else {
                continue;
            };
            let handshake_attempts = match s.handshake {
                HandshakeState::Initiating { attempts, .. } => u64::from(attempts),
                _ => 0,
            };
            let since = |f: probekey::Freshness| now - f.since.unwrap_or(n.added);
            m.neighbour(&metrics::Sample {
                name: &n.name,
                inbound_fresh: s.inbound.fresh,
                outbound_fresh: s.outbound.fresh,
                inbound_since_change: since(s.inbound),
                outbound_since_change: since(s.outbound),
                handshakes_started: s.handshakes_started,
                handshakes_completed: s.handshakes_completed,
                handshake_attempts,
                rejected: &s.rejected,
                rtt: s.echo_rtt,
            });
        }
        m.endpoint(&self.endpoint.stats().rejected, self.neighbours.len());
    }

    fn neighbour_name(&self, peer: PeerId) -> &str {
        self.by_peer
            .get(&peer)
            .map_or("?", |&i| self.neighbours[i].name.as_str())
    }

    fn start_line(&self) -> Result<(), Error> {
        let c = self.endpoint.config();
        let neighbours = self
            .neighbours
            .iter()
            .map(|n| (n.name.clone(), n.address.to_string()))
            .collect();
        let listen = self
            .socket
            .local_addr()
            .map(|a| a.to_string())
            .map_err(Error::Socket)?;
        emit(&Line::Start {
            t_ms: millis(self.clock.now() - Instant::ZERO),
            time: wall_clock(),
            node: self.name.clone(),
            listen,
            metrics_listen: self.metrics_addr.map(|a| a.to_string()),
            public_key: hex(self.endpoint.public_key().as_bytes()),
            neighbours,
            probe_interval_ms: millis(c.probe_interval()),
            stale_after_ms: millis(c.stale_after()),
            handshake_retry_max_ms: millis(c.handshake_retry_max()),
            status_interval_ms: millis(self.status_interval),
            recovery_bound_ms_at_zero_rtt: millis(c.recovery_bound(Duration::ZERO)),
        })
    }

    fn status_lines(&self, now: Instant) -> Result<(), Error> {
        for n in &self.neighbours {
            if let Some(status) = self.endpoint.peer_status(n.peer, now) {
                emit(&Line::Status {
                    t_ms: millis(now - Instant::ZERO),
                    time: wall_clock(),
                    node: self.name.clone(),
                    neighbour: n.name.clone(),
                    status: Box::new(neighbour_status(n, status)),
                })?;
            }
        }
        let stats = self.endpoint.stats();
        emit(&Line::Endpoint {
            t_ms: millis(now - Instant::ZERO),
            time: wall_clock(),
            node: self.name.clone(),
            rejected: stats.rejected,
            probes_sealed: stats.probes_sealed,
            probes_opened: stats.probes_opened,
            events_dropped: stats.events_dropped,
            recv_errors: self.recv_errors,
        })
    }

    fn shutdown_line(&self, sig: usize) -> Result<(), Error> {
        let now = self.clock.now();
        let neighbours = self
            .neighbours
            .iter()
            .filter_map(|n| {
                let status = self.endpoint.peer_status(n.peer, now)?;
                Some((n.name.clone(), neighbour_status(n, status)))
            })
            .collect();
        emit(&Line::Shutdown {
            t_ms: millis(now - Instant::ZERO),
            time: wall_clock(),
            node: self.name.clone(),
            signal: crate::signal_name(sig).to_owned(),
            neighbours,
        })
    }
}

/// The tick after `prev` by `interval`; if the loop fell behind by a whole
/// interval, the next tick is one interval from `now` rather than a burst.
fn next_tick(prev: Instant, interval: Duration, now: Instant) -> Instant {
    let next = prev + interval;
    if next <= now { now + interval } else { next }
}

fn neighbour_status(n: &Neighbour, status: PeerStatus) -> output::NeighbourStatus {
    output::NeighbourStatus {
        address: n.address.to_string(),
        status,
        probes_sent: n.probes_sent,
        echoes_sent: n.echoes_sent,
        send_errors: n.send_errors,
        from_other_address: n.from_other_address,
    }
}

/// The wall clock now, as every line gives it beside `t_ms`.
fn wall_clock() -> String {
    output::rfc3339(SystemTime::now())
}

/// Milliseconds with microsecond precision.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Writes one JSON line to stdout (line-buffered: flushed at the newline).
fn emit(line: &Line) -> Result<(), Error> {
    let text = serde_json::to_string(line).map_err(|e| Error::Output(io::Error::other(e)))?;
    let mut out = io::stdout().lock();
    writeln!(out, "{text}").map_err(Error::Output)
}
