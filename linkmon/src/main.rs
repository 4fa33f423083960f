//! `linkmon`: a reference link-monitor daemon over real UDP sockets.
//!
//! The protocol lives in the crate; this is the glue a daemon needs around
//! it: a key file, a TOML configuration, a socket, the monotonic clock, and
//! JSON lines on stdout for every event and, periodically, the status of
//! every neighbour. The crate's probe schedule sends a probe every
//! `probe_interval` to every neighbour, echoes every probe received and
//! times the echoes.
//!
//! ```text
//! linkmon keygen KEY_FILE    write a new secret key (mode 0600, never
//!                            overwriting) and print its public key (hex)
//! linkmon pubkey KEY_FILE    print the public key of an existing key file
//! linkmon check CONFIG       check the configuration and the key file it
//!                            names as `run` does, binding nothing; print a
//!                            one-line summary
//! linkmon run CONFIG         run the daemon until SIGINT or SIGTERM;
//!                            SIGHUP reloads the neighbours
//! ```
//!
//! SIGHUP reads the configuration again: neighbours added are added,
//! neighbours removed are removed, a neighbour whose `public_key` changed
//! is removed and added again, one whose `address` changed is sent to at
//! the new address; every other neighbour keeps its session and counters.
//! `status_interval_ms` may change too. A configuration that does not
//! load, or that changes `name`, `listen`, `metrics_listen`, the key, the
//! `deployment_id` or `[timers]`, is refused as a whole: the running one
//! goes on, and the error is a `reload_failed` line. An applied reload is a
//! `reload` line naming what changed.
//!
//! The configuration (every `[timers]` value is optional and defaults to
//! the crate's documented default; they are checked together by
//! `probekey::ConfigBuilder`, whose errors name the values in conflict):
//!
//! ```toml
//! name = "eu-west"                 # this node, as it appears in the output
//! key_file = "eu-west.key"         # relative to this file's directory
//! deployment_id = "lab"            # at most 32 bytes, the same on every node
//! listen = "127.0.0.1:7001"
//! metrics_listen = "127.0.0.1:9101" # optional: Prometheus GET /metrics
//! status_interval_ms = 1000        # one status line per neighbour this often
//!
//! [timers]
//! probe_interval_ms = 250
//! stale_after_ms = 3000
//! # max_reorder_delay_ms, epoch_grace_ms, rotate_after_time_ms,
//! # rotate_after_packets, rekey_after_time_ms, reject_after_time_ms,
//! # handshake_retry_initial_ms, handshake_retry_max_ms,
//! # handshake_retry_jitter_percent, handshake_max_age_ms,
//! # handshake_rate_burst, handshake_rate_interval_ms,
//! # handshake_dh_per_second
//!
//! [neighbours.us-east]
//! public_key = "3f1c…"             # 64 hex digits, from `linkmon keygen`
//! address = "127.0.0.1:7002"       # or a host name: "us-east.example:7002"
//! ```
//!
//! Errors name the TOML key and the value given, e.g.
//! `timers.handshake_retry_max_ms = 3000 and timers.stale_after_ms = 2000
//! conflict: ...`; a key the daemon does not know is refused by name.
//!
//! A neighbour's `address` is a numeric address or a host name with a
//! port, resolved when the configuration is read (at start and at each
//! reload) to an address of the `listen` address's family; a name that
//! does not resolve is an error naming the neighbour and the value.
//! `listen` is numeric.
//!
//! Addresses: a datagram is handled whatever address it came from, because
//! the crate identifies the peer by its key (handshakes) or its session
//! (probes). Everything sent to a neighbour, echoes and handshake answers
//! included, goes to the neighbour's configured address, never to the
//! source of a datagram: a forged source address cannot steer our traffic.
//! The status line counts validated datagrams that came from another
//! address (`from_other_address`), as they do behind a relay or NAT.
//!
//! Output: one JSON object per line, tagged by `type`; every line is a
//! `linkmon::output::Line` (the library half of this crate), so a reader
//! can parse them with the same types the daemon writes them with.
//!
//! Exit status: 0 after SIGINT or SIGTERM (the last line is
//! `{"type":"shutdown",…}`; a second signal exits at once with 1), 1 for an
//! error (one line on stderr), 2 for a usage error.

#![forbid(unsafe_code)]

mod daemon;
mod metrics;
mod setup;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use probekey::{AddPeerError, ConfigError};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Everything that stops the daemon, each with what to fix.
#[derive(Debug)]
pub enum Error {
    /// Wrong command line.
    Usage(String),
    /// The configuration file cannot be read.
    ConfigRead { path: PathBuf, source: io::Error },
    /// The configuration file is not valid TOML or not of the expected
    /// shape (the message names the line and the key).
    ConfigSyntax { path: PathBuf, message: String },
    /// The deployment identifier or the timers are out of range or
    /// contradict each other: the crate's own typed error, and the message
    /// naming the TOML keys and the values given.
    Protocol {
        path: PathBuf,
        message: String,
        source: ConfigError,
    },
    /// A value of the file that the crate does not check (the message
    /// names its TOML key and the value given).
    Setting { path: PathBuf, message: String },
    /// The crate refused a neighbour's key (own key, low order, ...).
    NeighbourKey { name: String, source: AddPeerError },
    /// Two neighbours were given the same public key.
    DuplicateKey { name: String, other: String },
    /// `keygen` never overwrites a key.
    KeyFileExists { path: PathBuf },
    /// The key file cannot be created or written.
    KeyFileWrite { path: PathBuf, source: io::Error },
    /// The key file cannot be read.
    KeyFileRead { path: PathBuf, source: io::Error },
    /// The key file is readable or writable by group or others.
    KeyFilePermissions { path: PathBuf, mode: u32 },
    /// The key file is not exactly 32 bytes.
    KeyFileLength { path: PathBuf, len: u64 },
    /// The key file is a directory, device, ...
    KeyFileNotRegular { path: PathBuf },
    /// Another socket holds the listen address.
    PortInUse { addr: SocketAddr },
    /// The listen address cannot be bound for another reason.
    Bind { addr: SocketAddr, source: io::Error },
    /// The metrics address cannot be bound.
    MetricsBind { addr: SocketAddr, source: io::Error },
    /// The socket failed in a way the loop cannot go on from.
    Socket(io::Error),
    /// The signal handlers cannot be installed.
    Signals(io::Error),
    /// Stdout is gone (the reader exited): nobody would see the output.
    Output(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m}\n{USAGE}"),
            Error::ConfigRead { path, source } => {
                write!(f, "cannot read config {}: {source}", path.display())
            }
            Error::ConfigSyntax { path, message } => {
                write!(f, "malformed config {}: {message}", path.display())
            }
            Error::Protocol { path, message, .. } => {
                write!(f, "config {}: {message}", path.display())
            }
            Error::Setting { path, message } => {
                write!(f, "config {}: {message}", path.display())
            }
            Error::NeighbourKey { name, source } => {
                write!(f, "neighbour {name:?}: public_key refused: {source}")
            }
            Error::DuplicateKey { name, other } => write!(
                f,
                "neighbours {other:?} and {name:?} have the same public_key; each key names one neighbour"
            ),
            Error::KeyFileExists { path } => write!(
                f,
                "key file {} already exists; refusing to overwrite a key",
                path.display()
            ),
            Error::KeyFileWrite { path, source } => {
                write!(f, "cannot write key file {}: {source}", path.display())
            }
            Error::KeyFileRead { path, source } => {
                write!(f, "cannot read key file {}: {source}", path.display())
            }
            Error::KeyFilePermissions { path, mode } => write!(
                f,
                "key file {} has mode {mode:04o}: group or others may access the secret key; run `chmod 600 {}`",
                path.display(),
                path.display()
            ),
            Error::KeyFileLength { path, len } => write!(
                f,
                "key file {} is {len} bytes; a key file holds exactly {} bytes (make one with `linkmon keygen`)",
                path.display(),
                setup::KEY_LEN
            ),
            Error::KeyFileNotRegular { path } => {
                write!(f, "key file {} is not a regular file", path.display())
            }
            Error::PortInUse { addr } => {
                write!(f, "cannot listen on {addr}: the port is in use")
            }
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::MetricsBind { addr, source } => {
                write!(
                    f,
                    "cannot serve metrics on {addr} (metrics_listen): {source}"
                )
            }
            Error::Socket(e) => write!(f, "socket: {e}"),
            Error::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            Error::Output(e) => write!(f, "cannot write to stdout: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::ConfigRead { source, .. }
            | Error::KeyFileWrite { source, .. }
            | Error::KeyFileRead { source, .. }
            | Error::Bind { source, .. }
            | Error::MetricsBind { source, .. } => Some(source),
            Error::Protocol { source, .. } => Some(source),
            Error::NeighbourKey { source, .. } => Some(source),
            Error::Socket(e) | Error::Signals(e) | Error::Output(e) => Some(e),
            _ => None,
        }
    }
}

const USAGE: &str = "usage: linkmon keygen KEY_FILE | linkmon pubkey KEY_FILE | linkmon check CONFIG | linkmon run CONFIG";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["keygen", path] => setup::keygen(path.as_ref()).map(|public| println!("{public}")),
        ["pubkey", path] => setup::read_key_file(path.as_ref())
            .map(|k| println!("{}", setup::hex(k.public().as_bytes()))),
        ["check", path] => setup::load(path.as_ref())
            .map(|s| println!("linkmon: config {path} OK: {}", s.summary())),
        ["run", path] => run(path.as_ref()),
        _ => Err(Error::Usage(format!(
            "unexpected arguments: {:?}",
            args.join(" ")
        ))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ Error::Usage(_)) => {
            eprintln!("linkmon: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("linkmon: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config_path: &std::path::Path) -> Result<(), Error> {
    // First signal: set the flags, the loop prints its last line and
    // returns. A second one exits at once, should the loop be stuck.
    let signal = Arc::new(AtomicUsize::new(0));
    let armed = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&armed))
            .map_err(Error::Signals)?;
        signal_hook::flag::register(sig, Arc::clone(&armed)).map_err(Error::Signals)?;
        let value = usize::try_from(sig).unwrap_or(usize::MAX);
        signal_hook::flag::register_usize(sig, Arc::clone(&signal), value)
            .map_err(Error::Signals)?;
    }
    // SIGHUP: the loop reloads the neighbours when it sees the flag.
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(SIGHUP, Arc::clone(&reload)).map_err(Error::Signals)?;
    let setup = setup::load(config_path)?;
    daemon::Daemon::new(setup, config_path)?.run(&signal, &reload)
}

/// The name of a signal this daemon handles.
fn signal_name(sig: usize) -> &'static str {
    match i32::try_from(sig) {
        Ok(SIGINT) => "SIGINT",
        Ok(SIGTERM) => "SIGTERM",
        _ => "signal",
    }
}
