//! The configuration file as written, before any check: the TOML the
//! daemon reads (see the binary's documentation for an example).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use probekey::{Config, ConfigValue, Setting};
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// This node, as it appears in the output.
    pub name: String,
    /// The secret key file, relative to the configuration's directory.
    pub key_file: PathBuf,
    /// At most 32 bytes, the same on every node.
    pub deployment_id: String,
    /// The UDP address to bind.
    pub listen: SocketAddr,
    /// Where to serve the Prometheus metrics (`GET /metrics` over HTTP);
    /// absent: no metrics endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// One status line per neighbour this often.
    #[serde(default = "default_status_interval_ms")]
    pub status_interval_ms: u64,
    /// The crate's values by their `ConfigBuilder` setter's name, with
    /// `_ms` after a duration's (in milliseconds); an absent value keeps
    /// the crate's default.
    #[serde(default)]
    pub timers: BTreeMap<String, u64>,
    /// The neighbours, by name.
    #[serde(default)]
    pub neighbours: BTreeMap<String, NeighbourFile>,
}

fn default_status_interval_ms() -> u64 {
    1000
}

/// One `[neighbours.NAME]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighbourFile {
    /// 64 hex digits, from `linkmon keygen`.
    pub public_key: String,
    /// Where its datagrams go: a numeric address or a host name, with a
    /// port (`127.0.0.1:7002`, `[::1]:7002`, `us-east.example:7002`).
    pub address: String,
}

/// The `[timers]` key of a configuration value: its setter's name, with
/// `_ms` after a duration's.
pub fn timer_key(value: ConfigValue) -> String {
    if value.is_duration() {
        format!("{value}_ms")
    } else {
        value.name().to_owned()
    }
}

/// Every value of `config` as a `[timers]` table would hold it (durations
/// in whole milliseconds).
pub fn timers_of(config: &Config) -> BTreeMap<String, u64> {
    ConfigValue::SETTABLE
        .into_iter()
        .filter_map(|value| {
            let n = match config.get(value)? {
                Setting::Duration(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                Setting::Count(n) => n,
            };
            Some((timer_key(value), n))
        })
        .collect()
}
