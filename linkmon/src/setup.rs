//! The configuration file and the key files: everything read before the
//! socket is bound, checked so that each mistake gets its own message.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use linkmon::file::{ConfigFile, timer_key};
use probekey::{
    AddPeerError, Config, ConfigBuilder, ConfigError, ConfigValue, PublicKey, Setting,
    StaticKeypair,
};
use zeroize::Zeroizing;

use crate::Error;

/// A key file holds the 32 bytes of an X25519 secret, nothing else.
pub const KEY_LEN: usize = 32;

/// A neighbour, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbour {
    pub name: String,
    pub public: PublicKey,
    /// As written in the file (a host name or a numeric address).
    pub address_text: String,
    /// What `address_text` resolved to, of the listen address's family.
    pub address: SocketAddr,
}

/// Everything the daemon needs, checked.
pub struct Setup {
    pub name: String,
    pub keypair: StaticKeypair,
    pub config: Config,
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub status_interval: Duration,
    pub neighbours: Vec<Neighbour>,
}

impl Setup {
    /// The one-line summary `linkmon check` prints.
    pub fn summary(&self) -> String {
        let names: Vec<&str> = self.neighbours.iter().map(|n| n.name.as_str()).collect();
        format!(
            "node {:?}, listen {}, {} neighbour{} ({}), probe_interval {} ms, stale_after {} ms",
            self.name,
            self.listen,
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            self.config.probe_interval().as_millis(),
            self.config.stale_after().as_millis(),
        ) + &match self.metrics_listen {
            Some(addr) => format!(", metrics on http://{addr}/metrics"),
            None => String::new(),
        }
    }
}

/// A neighbour's table as a TOML key: `neighbours.NAME`, the name quoted
/// when it is not a bare key.
pub fn neighbour_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        format!("neighbours.{name}")
    } else {
        format!("neighbours.{name:?}")
    }
}

/// Reads and checks the configuration at `path` and the key file it names:
/// everything `run` checks before it binds a socket, binding none.
pub fn load(path: &Path) -> Result<Setup, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
        path: path.to_owned(),
        source,
    })?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| Error::ConfigSyntax {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let value_error = |message: String| Error::Setting {
        path: path.to_owned(),
        message,
    };
    if file.name.is_empty() {
        return Err(value_error("name = \"\" must not be empty".into()));
    }
    if file.status_interval_ms == 0 {
        return Err(value_error(
            "status_interval_ms = 0 must be greater than zero".into(),
        ));
    }
    if file.neighbours.is_empty() {
        return Err(value_error(
            "no [neighbours.NAME] entry: a monitor needs at least one neighbour".into(),
        ));
    }
    if let Some(message) = unknown_timer(&file) {
        return Err(value_error(message));
    }
    let config = timers(&file)
        .and_then(ConfigBuilder::build)
        .map_err(|source| Error::Protocol {
            path: path.to_owned(),
            message: describe_config_error(&file, source),
            source,
        })?;
    let mut neighbours: Vec<Neighbour> = Vec::new();
    for (name, n) in &file.neighbours {
        let key = neighbour_key(name);
        if *name == file.name {
            return Err(value_error(format!(
                "[{key}] has this node's own name (name = {:?})",
                file.name
            )));
        }
        let public = parse_public_key(&n.public_key).map_err(|message| {
            value_error(format!("{key}.public_key = {:?} {message}", n.public_key))
        })?;
        if let Some(other) = neighbours.iter().find(|o| o.public == public) {
            return Err(value_error(format!(
                "{}.public_key and {key}.public_key are the same key ({:?}): each key names one neighbour",
                neighbour_key(&other.name),
                n.public_key
            )));
        }
        let address = resolve(&n.address, file.listen)
            .map_err(|message| value_error(format!("{key}.address = {:?} {message}", n.address)))?;
        neighbours.push(Neighbour {
            name: name.clone(),
            public,
            address_text: n.address.clone(),
            address,
        });
    }
    let key_path = match path.parent() {
        Some(dir) if file.key_file.is_relative() => dir.join(&file.key_file),
        _ => file.key_file.clone(),
    };
    let keypair = read_key_file(&key_path)?;
    check_keys(path, config, &keypair, &neighbours)?;
    Ok(Setup {
        name: file.name,
        keypair,
        config,
        listen: file.listen,
        metrics_listen: file.metrics_listen,
        status_interval: Duration::from_millis(file.status_interval_ms),
        neighbours,
    })
}

/// Resolves a neighbour's address (a host name or a numeric address, with
/// a port) to one of the listen address's family: the socket can send to
/// no other.
fn resolve(text: &str, listen: SocketAddr) -> Result<SocketAddr, String> {
    let all: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("does not resolve: {e}"))?
        .collect();
    all.iter()
        .copied()
        .find(|a| a.is_ipv4() == listen.is_ipv4())
        .ok_or_else(|| {
            let family = if listen.is_ipv4() { "IPv4" } else { "IPv6" };
            format!(
                "resolves to no {family} address (listen = \"{listen}\" is {family}; it resolves to {all:?})"
            )
        })
}

/// The crate's own checks of the neighbours' keys (own key, low order,
/// key-id collision), on an endpoint of their own: no socket.
fn check_keys(
    path: &Path,
    config: Config,
    keypair: &StaticKeypair,
    neighbours: &[Neighbour],
) -> Result<(), Error> {
    let own = StaticKeypair::from_secret_bytes(*Zeroizing::new(keypair.secret_bytes()));
    let mut endpoint = probekey::Endpoint::with_os_rng(config, own);
    let mut added: Vec<(probekey::PeerId, &str)> = Vec::new();
    for n in neighbours {
        match endpoint.add_peer(probekey::Instant::ZERO, n.public) {
            Ok(peer) => added.push((peer, &n.name)),
            Err(source) => {
                let other = match source {
                    AddPeerError::Duplicate(p) | AddPeerError::KeyIdCollision(p) => added
                        .iter()
                        .find(|(q, _)| *q == p)
                        .map(|(_, name)| format!(" (as {})", neighbour_key(name))),
                    _ => None,
                };
                return Err(Error::Setting {
                    path: path.to_owned(),
                    message: format!(
                        "{}.public_key refused: {source}{}",
                        neighbour_key(&n.name),
                        other.unwrap_or_default()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The file's values on a builder; the builder checks them.
fn timers(file: &ConfigFile) -> Result<ConfigBuilder, ConfigError> {
    let mut b = Config::builder().deployment_id(file.deployment_id.as_bytes());
    for (key, &n) in &file.timers {
        let Some(value) = ConfigValue::SETTABLE
            .into_iter()
            .find(|&v| timer_key(v) == *key)
        else {
            continue; // refused by `unknown_timer` before the builder runs
        };
        let setting = if value.is_duration() {
            Setting::Duration(Duration::from_millis(n))
        } else {
            Setting::Count(n)
        };
        b = b.set(value, setting)?;
    }
    Ok(b)
}

/// A `[timers]` key that names no value, with the message saying so.
pub fn unknown_timer(file: &ConfigFile) -> Option<String> {
    file.timers.iter().find_map(|(key, n)| {
        let known = ConfigValue::SETTABLE
            .into_iter()
            .any(|v| timer_key(v) == *key);
        (!known).then(|| {
            format!(
                "unknown key `{key}` (= {n}) in [timers]; expected one of {}",
                ConfigValue::SETTABLE.map(timer_key).join(", ")
            )
        })
    })
}

/// A configuration value as the file names it, with the value it has:
/// `timers.stale_after_ms = 3000`, `(default)` after one the file leaves
/// out.
fn toml_value(file: &ConfigFile, value: ConfigValue) -> String {
    if value == ConfigValue::DeploymentId {
        return format!(
            "deployment_id = {:?} ({} bytes)",
            file.deployment_id,
            file.deployment_id.len()
        );
    }
    if value == ConfigValue::ReplayWindow {
        return "the replay window (512 probes, fixed)".into();
    }
    let key = timer_key(value);
    if let Some(n) = file.timers.get(&key) {
        return format!("timers.{key} = {n}");
    }
    let default = Config::builder()
        .build()
        .ok()
        .and_then(|c| c.get(value))
        .map(|s| match s {
            Setting::Duration(d) => d.as_millis().to_string(),
            Setting::Count(n) => n.to_string(),
        });
    match default {
        Some(n) => format!("timers.{key} = {n} (default)"),
        None => format!("timers.{key}"),
    }
}

/// The crate's error in the file's terms: the TOML keys and their values.
pub fn describe_config_error(file: &ConfigFile, e: ConfigError) -> String {
    match e {
        ConfigError::OutOfRange { value, requirement } => {
            format!("{} is out of range: {requirement}", toml_value(file, value))
        }
        ConfigError::Conflict {
            first,
            second,
            requirement,
        } => format!(
            "{} and {} conflict: {requirement}",
            toml_value(file, first),
            toml_value(file, second)
        ),
        other => other.to_string(),
    }
}

/// Lower-case hex, the text form of public keys.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A public key from its 64 hex digits (either case; surrounding spaces
/// ignored).
pub fn parse_public_key(text: &str) -> Result<PublicKey, String> {
    let text = text.trim();
    if text.len() != 2 * KEY_LEN {
        return Err(format!(
            "must be {} hex digits (32 bytes), got {} characters",
            2 * KEY_LEN,
            text.len()
        ));
    }
    let mut bytes = [0u8; KEY_LEN];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digits = std::str::from_utf8(pair).map_err(|_| "is not hex".to_owned())?;
        bytes[i] = u8::from_str_radix(digits, 16)
            .map_err(|_| format!("is not hex: {digits:?} at offset {}", 2 * i))?;
    }
    Ok(PublicKey::from_bytes(bytes))
}

/// Writes a new key file at `path`, created with mode 0600 and never over
/// an existing file; returns the public key in hex.
pub fn keygen(path: &Path) -> Result<String, Error> {
    let keypair = StaticKeypair::generate(&mut probekey::os_rng());
    let secret = Zeroizing::new(keypair.secret_bytes());
    let write_error = |source| Error::KeyFileWrite {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => Error::KeyFileExists {
                path: path.to_owned(),
            },
            _ => write_error(source),
        })?;
    file.write_all(&secret[..]).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    Ok(hex(keypair.public().as_bytes()))
}

/// Reads a key file, refusing one that group or others may access or that
/// is not exactly [`KEY_LEN`] bytes.
pub fn read_key_file(path: &Path) -> Result<StaticKeypair, Error> {
    let read_error = |source| Error::KeyFileRead {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    // The checks read the opened file, not the path, so that they are about
    // the bytes read next.
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(Error::KeyFileNotRegular {
            path: path.to_owned(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::KeyFilePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(Error::KeyFileLength {
            path: path.to_owned(),
            len: meta.len(),
        });
    }
    let mut secret = Zeroizing::new([0u8; KEY_LEN]);
    file.read_exact(&mut secret[..]).map_err(read_error)?;
    Ok(StaticKeypair::from_secret_bytes(*secret))
}
