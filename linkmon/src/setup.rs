//! The configuration file and the key files: everything read before the
//! socket is bound, checked so that each mistake gets its own message.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use linkmon::file::{ConfigFile, timer_key};
use probekey::{Config, ConfigBuilder, ConfigValue, PublicKey, Setting, StaticKeypair};
use zeroize::Zeroizing;

use crate::Error;

/// A key file holds the 32 bytes of an X25519 secret, nothing else.
pub const KEY_LEN: usize = 32;

/// A neighbour, checked.
pub struct Neighbour {
    pub name: String,
    pub public: PublicKey,
    pub address: SocketAddr,
}

/// Everything the daemon needs, checked.
pub struct Setup {
    pub name: String,
    pub keypair: StaticKeypair,
    pub config: Config,
    pub listen: SocketAddr,
    pub status_interval: Duration,
    pub neighbours: Vec<Neighbour>,
}

/// Reads and checks the configuration at `path` and the key file it names.
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
        return Err(value_error("name must not be empty".into()));
    }
    if file.status_interval_ms == 0 {
        return Err(value_error(
            "status_interval_ms must be greater than zero".into(),
        ));
    }
    if file.neighbours.is_empty() {
        return Err(value_error(
            "no [neighbours.NAME] entry: a monitor needs at least one neighbour".into(),
        ));
    }
    let config = timers(&file, path)?
        .build()
        .map_err(|source| Error::Protocol {
            path: path.to_owned(),
            source,
        })?;
    let mut neighbours = Vec::new();
    for (name, n) in file.neighbours {
        if name == file.name {
            return Err(Error::Neighbour {
                name,
                message: "has this node's own name".into(),
            });
        }
        let public = parse_public_key(&n.public_key).map_err(|message| Error::Neighbour {
            name: name.clone(),
            message: format!("public_key {message}"),
        })?;
        neighbours.push(Neighbour {
            name,
            public,
            address: n.address,
        });
    }
    let key_path = match path.parent() {
        Some(dir) if file.key_file.is_relative() => dir.join(&file.key_file),
        _ => file.key_file.clone(),
    };
    Ok(Setup {
        name: file.name,
        keypair: read_key_file(&key_path)?,
        config,
        listen: file.listen,
        status_interval: Duration::from_millis(file.status_interval_ms),
        neighbours,
    })
}

/// The file's values on a builder; the builder checks them.
fn timers(file: &ConfigFile, path: &Path) -> Result<ConfigBuilder, Error> {
    let mut b = Config::builder().deployment_id(file.deployment_id.as_bytes());
    for (key, &n) in &file.timers {
        let value = ConfigValue::SETTABLE
            .into_iter()
            .find(|&v| timer_key(v) == *key)
            .ok_or_else(|| Error::Setting {
                path: path.to_owned(),
                message: format!(
                    "unknown key `{key}` in [timers]; expected one of {}",
                    ConfigValue::SETTABLE.map(timer_key).join(", ")
                ),
            })?;
        let setting = if value.is_duration() {
            Setting::Duration(Duration::from_millis(n))
        } else {
            Setting::Count(n)
        };
        b = b.set(value, setting).map_err(|source| Error::Protocol {
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(b)
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
