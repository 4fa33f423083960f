//! The loop: one UDP socket, the monotonic clock, the crate's endpoint.
//! Probes go out every `probe_interval`, every probe received is echoed,
//! and the output is JSON lines on stdout.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use linkmon::output::{self, Line};
use probekey::{
    Endpoint, Event, HandshakeReason, HandshakeState, Instant, LinkDirection, OsEndpoint, PeerId,
    PeerStatus, ProbeKind, PublicKey, Received, RejectCounters, Role, SealError, StdClock,
};

use crate::Error;
use crate::metrics::{self, Metrics};
use crate::setup::{self, Setup, hex};

/// Datagrams up to this size are read whole; a longer one is truncated and
/// then refused by the crate (no probe of ours is that long).
const RECV_BUF: usize = 2048;
/// A probe's body: our sequence number and our clock when it was sent,
/// which the echo carries back (authenticated) for the round-trip time.
const BODY_LEN: usize = 16;
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
    next_probe: Instant,
    seq: u64,
    probes_sent: u64,
    echoes_sent: u64,
    echoes_received: u64,
    rtt: Option<Duration>,
    srtt: Option<Duration>,
    send_errors: u64,
    send_failing: bool,
    from_other_address: u64,
    /// When each direction (inbound, outbound) last changed freshness, or
    /// when the neighbour was configured.
    changed: [Instant; 2],
}

impl Neighbour {
    fn new(spec: setup::Neighbour, peer: PeerId, now: Instant, next_probe: Instant) -> Self {
        Neighbour {
            name: spec.name,
            public: spec.public,
            address: spec.address,
            peer,
            next_probe,
            seq: 0,
            probes_sent: 0,
            echoes_sent: 0,
            echoes_received: 0,
            rtt: None,
            srtt: None,
            send_errors: 0,
            send_failing: false,
            from_other_address: 0,
            changed: [now; 2],
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
    probe_interval: Duration,
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
        let probe_interval = config.probe_interval();
        let count = u32::try_from(specs.len()).unwrap_or(u32::MAX);
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
            // Spread the neighbours' probes over the interval.
            let phase = probe_interval * u32::try_from(i).unwrap_or(0) / count.max(1);
            neighbours.push(Neighbour::new(spec, peer, now, now + phase));
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
            probe_interval,
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
            self.send_due_probes(now);
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
            // of: the crate's next timer, the next probe, the next status.
            let deadline = self
                .neighbours
                .iter()
                .map(|n| n.next_probe)
                .chain(self.endpoint.poll_timeout())
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

    fn send_due_probes(&mut self, now: Instant) {
        let mut out = [0u8; BODY_LEN + probekey::PROBE_OVERHEAD];
        for i in 0..self.neighbours.len() {
            let n = &mut self.neighbours[i];
            if n.next_probe > now {
                continue;
            }
            n.next_probe = next_tick(n.next_probe, self.probe_interval, now);
            n.seq += 1;
            let mut body = [0u8; BODY_LEN];
            body[..8].copy_from_slice(&n.seq.to_be_bytes());
            body[8..].copy_from_slice(&now.as_nanos().to_be_bytes());
            let peer = n.peer;
            match self
                .endpoint
                .seal(now, peer, ProbeKind::Probe, &body, &mut out)
            {
                Ok(len) => {
                    if self.send(i, &out[..len]) {
                        self.neighbours[i].probes_sent += 1;
                    }
                }
                // A handshake is under way (the crate retries it); the next
                // probe goes out on its session.
                Err(SealError::NoSession) => {}
                Err(e) => eprintln!(
                    "linkmon: {}: cannot seal a probe for {}: {e}",
                    self.name, self.neighbours[i].name
                ),
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
        match received {
            Received::Probe {
                kind: ProbeKind::Probe,
                body,
                ..
            } => {
                let mut out = [0u8; RECV_BUF];
                if let Ok(len) = self
                    .endpoint
                    .seal(now, peer, ProbeKind::Echo, body, &mut out)
                    && self.send(i, &out[..len])
                {
                    self.neighbours[i].echoes_sent += 1;
                }
            }
            Received::Probe {
                kind: ProbeKind::Echo,
                body,
                ..
            } => {
                let n = &mut self.neighbours[i];
                n.echoes_received += 1;
                if let Some(rtt) = echo_rtt(body, n.seq, now) {
                    n.rtt = Some(rtt);
                    // Smoothed as TCP does (RFC 6298): 7/8 old + 1/8 new.
                    n.srtt = Some(n.srtt.map_or(rtt, |s| (s * 7 + rtt) / 8));
                }
            }
            _ => {}
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
                    if let Some(&i) = self.by_peer.get(&tx.peer) {
                        self.send(i, &buf[..tx.len]);
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
            self.observe(now, &event);
            let line = self.event_line(now, event);
            emit(&line)?;
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
                    self.neighbours.push(Neighbour::new(spec, peer, now, now));
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

    /// What the metrics and the neighbour's state take from an event.
    fn observe(&mut self, now: Instant, event: &Event) {
        let Some(&i) = event_peer(event).and_then(|p| self.by_peer.get(&p)) else {
            return;
        };
        let n = &mut self.neighbours[i];
        match *event {
            Event::HealthChanged {
                direction, fresh, ..
            } => {
                n.changed[direction_index(direction)] = now;
                if let Some(m) = &self.metrics {
                    m.health_changed(&n.name, direction_of(direction), fresh);
                }
            }
            Event::SessionEstablished { latency, .. } => {
                if let Some(m) = &self.metrics {
                    m.session_established(&n.name, latency);
                }
            }
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
            m.neighbour(&metrics::Sample {
                name: &n.name,
                inbound_fresh: s.inbound.fresh,
                outbound_fresh: s.outbound.fresh,
                inbound_since_change: now - n.changed[0],
                outbound_since_change: now - n.changed[1],
                handshakes_started: s.handshakes_started,
                handshakes_completed: s.handshakes_completed,
                handshake_attempts,
                rejected: &rejected(&s.rejected),
                rtt: n.rtt,
                srtt: n.srtt,
            });
        }
        m.endpoint(
            &rejected(&self.endpoint.stats().rejected),
            self.neighbours.len(),
        );
    }

    fn neighbour_name(&self, peer: PeerId) -> &str {
        self.by_peer
            .get(&peer)
            .map_or("?", |&i| self.neighbours[i].name.as_str())
    }

    fn event_line(&self, now: Instant, event: Event) -> Line {
        let t_ms = millis(now - Instant::ZERO);
        let time = wall_clock();
        let node = self.name.clone();
        let name = |peer: PeerId| self.neighbour_name(peer).to_owned();
        match event {
            Event::HealthChanged {
                peer,
                direction,
                fresh,
            } => Line::Health {
                t_ms,
                time,
                node,
                neighbour: name(peer),
                direction: direction_of(direction),
                fresh,
            },
            Event::HandshakeStarted { peer, reason } => Line::HandshakeStarted {
                t_ms,
                time,
                node,
                neighbour: name(peer),
                reason: reason_of(reason),
            },
            Event::SessionEstablished {
                peer,
                role,
                latency,
            } => Line::SessionEstablished {
                t_ms,
                time,
                node,
                neighbour: name(peer),
                role: role_of(role),
                latency_ms: millis(latency),
            },
            Event::EpochRotated {
                peer,
                direction,
                epoch,
            } => Line::EpochRotated {
                t_ms,
                time,
                node,
                neighbour: name(peer),
                direction: direction_of(direction),
                epoch: epoch.0,
            },
            other => Line::Event {
                t_ms,
                time,
                node,
                debug: format!("{other:?}"),
            },
        }
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
                    status: Box::new(neighbour_status(n, &status, now)),
                })?;
            }
        }
        let stats = self.endpoint.stats();
        emit(&Line::Endpoint {
            t_ms: millis(now - Instant::ZERO),
            time: wall_clock(),
            node: self.name.clone(),
            rejected: rejected(&stats.rejected),
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
                Some((n.name.clone(), neighbour_status(n, &status, now)))
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

/// The round trip of an echo of our probe number `seq` or earlier, sent at
/// the instant its body names.
fn echo_rtt(body: &[u8], seq: u64, now: Instant) -> Option<Duration> {
    let body: &[u8; BODY_LEN] = body.try_into().ok()?;
    let (echoed_seq, sent_at) = body.split_at(8);
    let echoed_seq = u64::from_be_bytes(echoed_seq.try_into().ok()?);
    let sent_at = Instant::from_nanos(u64::from_be_bytes(sent_at.try_into().ok()?));
    (echoed_seq <= seq && sent_at <= now).then(|| now - sent_at)
}

/// The tick after `prev` by `interval`; if the loop fell behind by a whole
/// interval, the next tick is one interval from `now` rather than a burst.
fn next_tick(prev: Instant, interval: Duration, now: Instant) -> Instant {
    let next = prev + interval;
    if next <= now { now + interval } else { next }
}

fn neighbour_status(n: &Neighbour, s: &PeerStatus, now: Instant) -> output::NeighbourStatus {
    let ago = |t: Option<Instant>| t.map(|t| millis(now - t));
    let handshake = match s.handshake {
        HandshakeState::Idle => output::Handshake::Idle,
        HandshakeState::Initiating {
            reason,
            since,
            attempts,
        } => output::Handshake::Initiating {
            reason: reason_of(reason),
            since_ms_ago: millis(now - since),
            attempts: u64::from(attempts),
        },
        _ => output::Handshake::Other,
    };
    output::NeighbourStatus {
        address: n.address.to_string(),
        inbound: output::Fresh {
            fresh: s.inbound.fresh,
            last_ms_ago: ago(s.inbound.last),
        },
        outbound: output::Fresh {
            fresh: s.outbound.fresh,
            last_ms_ago: ago(s.outbound.last),
        },
        send_epoch: s.send_epoch.map(|e| e.0),
        recv_epoch: s.recv_epoch.map(|e| e.0),
        session_age_ms: s.session_age.map(millis),
        session_role: s.session_role.map(role_of),
        handshake,
        handshakes_started: s.handshakes_started,
        handshakes_completed: s.handshakes_completed,
        last_handshake_latency_ms: s.last_handshake_latency.map(millis),
        rtt_ms: n.rtt.map(millis),
        srtt_ms: n.srtt.map(millis),
        probes_sent: n.probes_sent,
        echoes_sent: n.echoes_sent,
        echoes_received: n.echoes_received,
        probes_sealed: s.probes_sealed,
        probes_opened: s.probes_opened,
        rejected: rejected(&s.rejected),
        send_errors: n.send_errors,
        from_other_address: n.from_other_address,
    }
}

fn rejected(r: &RejectCounters) -> output::Rejected {
    output::Rejected {
        malformed: r.malformed,
        unknown_session: r.unknown_session,
        unknown_peer: r.unknown_peer,
        bad_mac: r.bad_mac,
        epoch_outside_window: r.epoch_outside_window,
        replay: r.replay,
        bad_tag: r.bad_tag,
        rate_limited: r.rate_limited,
        total: r.total(),
    }
}

/// The peer an event concerns.
fn event_peer(e: &Event) -> Option<PeerId> {
    match *e {
        Event::HealthChanged { peer, .. }
        | Event::HandshakeStarted { peer, .. }
        | Event::SessionEstablished { peer, .. }
        | Event::EpochRotated { peer, .. } => Some(peer),
        _ => None,
    }
}

/// `Neighbour::changed`'s index of a direction.
fn direction_index(d: LinkDirection) -> usize {
    match d {
        LinkDirection::Inbound => 0,
        LinkDirection::Outbound => 1,
    }
}

fn direction_of(d: LinkDirection) -> output::Direction {
    match d {
        LinkDirection::Inbound => output::Direction::Inbound,
        LinkDirection::Outbound => output::Direction::Outbound,
    }
}

fn reason_of(r: HandshakeReason) -> output::Reason {
    match r {
        HandshakeReason::NoSession => output::Reason::NoSession,
        HandshakeReason::Rekey => output::Reason::Rekey,
        HandshakeReason::InboundStale => output::Reason::InboundStale,
        HandshakeReason::OutboundStale => output::Reason::OutboundStale,
        _ => output::Reason::Other,
    }
}

fn role_of(r: Role) -> output::Role {
    match r {
        Role::Initiator => output::Role::Initiator,
        Role::Responder => output::Role::Responder,
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
