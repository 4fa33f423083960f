//! The one source of truth for every timer and limit (`docs/PROTOCOL.md` §8).
//!
//! A [`Config`] can only be obtained from [`ConfigBuilder::build`], which
//! checks the invariants between values and names both values of any
//! conflict. Nothing else in the crate has a timing constant of its own: no
//! layer overrides a value the user set.

use core::fmt;
use core::time::Duration;

use crate::replay::REPLAY_WINDOW;

/// Longest deployment identifier, in bytes.
pub const MAX_DEPLOYMENT_ID_LEN: usize = 32;

/// A validated configuration. Build one with [`Config::builder`].
#[derive(Copy, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "model", derive(Hash))]
pub struct Config {
    deployment_id: [u8; MAX_DEPLOYMENT_ID_LEN],
    deployment_id_len: u8,
    probe_interval: Duration,
    stale_after: Duration,
    max_reorder_delay: Duration,
    epoch_grace: Duration,
    rotate_after_time: Duration,
    rotate_after_packets: u64,
    rekey_after_time: Duration,
    reject_after_time: Duration,
    handshake_retry_initial: Duration,
    handshake_retry_max: Duration,
    handshake_retry_jitter_percent: u8,
    handshake_max_age: Duration,
    handshake_rate_burst: u32,
    handshake_rate_interval: Duration,
    handshake_dh_per_second: u32,
    handshake_failing_after: Duration,
}

/// The names of the configuration values, used in [`ConfigError`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is the setter of the same name
pub enum ConfigValue {
    DeploymentId,
    ProbeInterval,
    StaleAfter,
    MaxReorderDelay,
    EpochGrace,
    RotateAfterTime,
    RotateAfterPackets,
    RekeyAfterTime,
    RejectAfterTime,
    HandshakeRetryInitial,
    HandshakeRetryMax,
    HandshakeRetryJitterPercent,
    HandshakeMaxAge,
    HandshakeRateBurst,
    HandshakeRateInterval,
    HandshakeDhPerSecond,
    HandshakeFailingAfter,
    /// The replay window size, a compile-time constant ([`REPLAY_WINDOW`]).
    ReplayWindow,
}

/// A value for [`ConfigBuilder::set`]: a duration, or a count.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    /// For the timers.
    Duration(Duration),
    /// For `rotate_after_packets`, `handshake_retry_jitter_percent` and
    /// `handshake_rate_burst`.
    Count(u64),
}

impl ConfigValue {
    /// The settable value of this name ([`Self::name`]).
    pub fn from_name(name: &str) -> Option<ConfigValue> {
        Self::SETTABLE.into_iter().find(|v| v.name() == name)
    }
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a configuration was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// One value is out of its own range (zero, too long, too large).
    OutOfRange {
        /// The offending value.
        value: ConfigValue,
        /// What the value must satisfy.
        requirement: &'static str,
    },
    /// Two values contradict each other.
    Conflict {
        /// The first value of the pair.
        first: ConfigValue,
        /// The second value of the pair.
        second: ConfigValue,
        /// The relation that must hold between them.
        requirement: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::OutOfRange { value, requirement } => {
                write!(f, "config value {value} is out of range: {requirement}")
            }
            ConfigError::Conflict {
                first,
                second,
                requirement,
            } => write!(
                f,
                "config values {first} and {second} conflict: {requirement}"
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Builds a [`Config`]; every value starts at its documented default.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    /// The values as set, not yet checked.
    values: Config,
    deployment_id_too_long: bool,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        DEFAULT.to_builder()
    }
}

/// The documented defaults; `defaults_are_consistent` checks them against
/// every invariant.
/// One invariant between two values: the value to change first, the other,
/// whether a configuration satisfies it, and what it requires.
type Relation = (ConfigValue, ConfigValue, fn(&Config) -> bool, &'static str);

/// The invariants between values (`docs/PROTOCOL.md` §8), in the order
/// [`ConfigBuilder::build`] checks them.
const RELATIONS: [Relation; 10] = {
    use ConfigValue as V;
    [
        (
            V::EpochGrace,
            V::MaxReorderDelay,
            |c| c.epoch_grace >= c.max_reorder_delay,
            "the grace window must cover the reorder delay it tolerates",
        ),
        (
            V::RotateAfterTime,
            V::EpochGrace,
            |c| c.rotate_after_time >= c.epoch_grace,
            "an epoch must last at least as long as the grace window, or the previous key is erased before its grace ends",
        ),
        // One probe and one echo per interval must fit in the replay window
        // for the whole reorder delay, or reordered probes are refused.
        (
            V::MaxReorderDelay,
            V::ProbeInterval,
            |c| {
                let per_interval = c.max_reorder_delay.as_nanos() / c.probe_interval.as_nanos() + 1;
                2 * per_interval <= u128::from(REPLAY_WINDOW)
            },
            "two packets per probe interval over the reorder delay must fit in the replay window (512)",
        ),
        (
            V::StaleAfter,
            V::ProbeInterval,
            |c| c.stale_after >= 2 * c.probe_interval,
            "a direction must not go stale between two probes",
        ),
        (
            V::HandshakeRetryInitial,
            V::HandshakeRetryMax,
            |c| c.handshake_retry_initial <= c.handshake_retry_max,
            "the first retry interval must not exceed the cap",
        ),
        (
            V::HandshakeRetryMax,
            V::StaleAfter,
            |c| c.handshake_retry_max < c.stale_after,
            "the retry cap must be below the staleness threshold",
        ),
        (
            V::HandshakeRateInterval,
            V::HandshakeRetryInitial,
            |c| c.handshake_rate_interval <= c.handshake_retry_initial,
            "the rate limit must admit a peer retrying at the fastest retry rate",
        ),
        (
            V::HandshakeMaxAge,
            V::HandshakeRetryMax,
            |c| c.handshake_max_age > c.handshake_retry_max,
            "an initiation must live longer than one retry interval",
        ),
        (
            V::RekeyAfterTime,
            V::RejectAfterTime,
            |c| c.rekey_after_time < c.reject_after_time,
            "a session must be rekeyed before it is rejected",
        ),
        (
            V::RejectAfterTime,
            V::RekeyAfterTime,
            |c| {
                c.reject_after_time.saturating_sub(c.rekey_after_time)
                    >= c.stale_after + 2 * c.handshake_retry_max
            },
            "the gap must leave the responder's later rekey (stale_after) and two retries at the cap",
        ),
    ]
};

const DEFAULT: Config = Config {
    deployment_id: [0; MAX_DEPLOYMENT_ID_LEN],
    deployment_id_len: 0,
    probe_interval: Duration::from_millis(250),
    stale_after: Duration::from_secs(3),
    max_reorder_delay: Duration::from_secs(1),
    epoch_grace: Duration::from_secs(2),
    rotate_after_time: Duration::from_secs(60),
    rotate_after_packets: 1 << 20,
    rekey_after_time: Duration::from_secs(600),
    reject_after_time: Duration::from_secs(720),
    handshake_retry_initial: Duration::from_millis(500),
    handshake_retry_max: Duration::from_secs(2),
    handshake_retry_jitter_percent: 20,
    handshake_max_age: Duration::from_secs(120),
    handshake_rate_burst: 4,
    handshake_rate_interval: Duration::from_millis(250),
    handshake_dh_per_second: 3_000,
    handshake_failing_after: Duration::from_secs(10),
};

/// A type a value of [`ConfigBuilder::set`] can hold.
trait Settable: Sized {
    const IS_DURATION: bool;
    fn into_setting(self) -> Setting;
    fn from_setting(setting: Setting) -> Result<Self, &'static str>;
}

impl Settable for Duration {
    const IS_DURATION: bool = true;
    fn into_setting(self) -> Setting {
        Setting::Duration(self)
    }
    fn from_setting(setting: Setting) -> Result<Self, &'static str> {
        match setting {
            Setting::Duration(d) => Ok(d),
            Setting::Count(_) => Err("a duration, not a count"),
        }
    }
}

macro_rules! settable_count {
    ($($ty:ty => $too_large:literal),*) => {
        $(impl Settable for $ty {
            const IS_DURATION: bool = false;
            fn into_setting(self) -> Setting {
                Setting::Count(u64::from(self))
            }
            fn from_setting(setting: Setting) -> Result<Self, &'static str> {
                match setting {
                    Setting::Count(n) => <$ty>::try_from(n).map_err(|_| $too_large),
                    Setting::Duration(_) => Err("a count, not a duration"),
                }
            }
        })*
    };
}

settable_count!(u64 => "a count below 2^64", u32 => "a count below 2^32", u8 => "a count below 256");

/// The one list of the settable values: each one's setter and getter, its
/// [`ConfigValue`], its name, and its place in [`ConfigBuilder::set`] and
/// [`Config::get`].
macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident / $variant:ident : $ty:ty ),* $(,)?) => {
        impl ConfigBuilder {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.values.$name = value;
                    self
                }
            )*

            /// Sets `value` by name, as the setter of that name would.
            ///
            /// # Errors
            /// [`ConfigError::OutOfRange`], with the builder unchanged, for a
            /// value that is not settable this way, a duration given for a
            /// count or the reverse, or a count too large for its setter.
            pub fn set(self, value: ConfigValue, setting: Setting) -> Result<Self, ConfigError> {
                let out_of_range = |requirement| ConfigError::OutOfRange { value, requirement };
                match value {
                    $(ConfigValue::$variant => Ok(self.$name(
                        <$ty as Settable>::from_setting(setting).map_err(out_of_range)?,
                    )),)*
                    _ => Err(out_of_range("set with its own setter")),
                }
            }
        }
        impl Config {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> $ty {
                    self.$name
                }
            )*

            /// The value named `value`, as [`ConfigBuilder::set`] takes it;
            /// `None` for the values that are not set that way.
            pub fn get(&self, value: ConfigValue) -> Option<Setting> {
                match value {
                    $(ConfigValue::$variant => Some(self.$name.into_setting()),)*
                    _ => None,
                }
            }
        }
        impl ConfigValue {
            /// Every value [`ConfigBuilder::set`] takes, in the order of the
            /// builder's setters: the one table the daemon's configuration,
            /// the simulator's command line and the tests name values from.
            pub const SETTABLE: [ConfigValue; [$(stringify!($name)),*].len()] =
                [$(ConfigValue::$variant),*];

            /// Whether the value is a duration (else a count, or not
            /// settable by name).
            pub fn is_duration(self) -> bool {
                match self {
                    $(ConfigValue::$variant => <$ty as Settable>::IS_DURATION,)*
                    _ => false,
                }
            }

            /// The setter's name, as written in the code and in
            /// `docs/PROTOCOL.md`.
            pub fn name(self) -> &'static str {
                match self {
                    $(ConfigValue::$variant => stringify!($name),)*
                    ConfigValue::DeploymentId => "deployment_id",
                    ConfigValue::ReplayWindow => "REPLAY_WINDOW",
                }
            }
        }
    };
}

setters! {
    /// How often the daemon sends a probe to each neighbour. Default 250 ms.
    /// The crate does not send probes; it uses this value for the recovery
    /// bound and to check that the replay window spans the reorder delay.
    probe_interval / ProbeInterval: Duration,
    /// A direction is reported stale, and a resync handshake is started,
    /// after this long without validation. Default 3 s: twelve probe
    /// intervals, so a few lost probes never flap the health.
    stale_after / StaleAfter: Duration,
    /// The worst reordering delay the receiver must tolerate. Default 1 s.
    max_reorder_delay / MaxReorderDelay: Duration,
    /// How long the previous epoch's key, and the previous session, keep
    /// validating after the peer has moved on. Default 2 s: twice the
    /// reorder delay.
    epoch_grace / EpochGrace: Duration,
    /// A sender moves to the next epoch key after this long. Default 60 s.
    rotate_after_time / RotateAfterTime: Duration,
    /// ...or after this many probes in one epoch, whichever comes first.
    /// Default 2^20.
    rotate_after_packets / RotateAfterPackets: u64,
    /// A session's initiator starts a new handshake when the session is this
    /// old (the responder waits `stale_after` longer, so both do not cross).
    /// Default 10 min.
    rekey_after_time / RekeyAfterTime: Duration,
    /// A session older than this is erased. Default 12 min: room for a
    /// rekey to complete at the retry cap many times over.
    reject_after_time / RejectAfterTime: Duration,
    /// First handshake retry interval. Default 500 ms: above a typical
    /// intercontinental round trip.
    handshake_retry_initial / HandshakeRetryInitial: Duration,
    /// Retry interval cap; retries continue at this interval for as long as
    /// the peer is configured. Default 2 s.
    handshake_retry_max / HandshakeRetryMax: Duration,
    /// Each retry interval is shortened by a random fraction of up to this
    /// percentage, so many nodes restarted together spread out. Default 20.
    handshake_retry_jitter_percent / HandshakeRetryJitterPercent: u8,
    /// An in-flight initiation (and its ephemeral key) is retransmitted
    /// unchanged until it is this old, then replaced. Default 120 s: a
    /// response arriving up to this late still completes the handshake.
    handshake_max_age / HandshakeMaxAge: Duration,
    /// Handshake messages per peer that may cost Diffie-Hellman in a burst.
    /// Default 4.
    handshake_rate_burst / HandshakeRateBurst: u32,
    /// One more such message is allowed per this interval. Default 250 ms,
    /// i.e. at most 4 per peer per second sustained.
    handshake_rate_interval / HandshakeRateInterval: Duration,
    /// Diffie-Hellmans per second the endpoint spends answering
    /// initiations, all peers together (§4.5): three per initiation read,
    /// in a burst of one second's worth. Responses to our own initiations
    /// never count against it. Default 3,000 (1,000 initiations a second,
    /// about a tenth of a core).
    handshake_dh_per_second / HandshakeDhPerSecond: u32,
    /// A handshake wanted this long without completing is reported as
    /// failing ([`crate::Event::HandshakeFailing`]), and again each time
    /// this much longer passes, with the initiations sent and the peer's
    /// datagrams refused meanwhile by reason. Default 10 s: five retries at
    /// the default cap.
    handshake_failing_after / HandshakeFailingAfter: Duration,
}

impl ConfigBuilder {
    /// An identifier of the deployment, bound into every handshake through
    /// the Noise prologue so that two deployments never accept each other.
    /// At most [`MAX_DEPLOYMENT_ID_LEN`] bytes. Default: empty.
    pub fn deployment_id(mut self, id: &[u8]) -> Self {
        self.values.deployment_id = [0; MAX_DEPLOYMENT_ID_LEN];
        match u8::try_from(id.len()) {
            Ok(len) if id.len() <= MAX_DEPLOYMENT_ID_LEN => {
                self.deployment_id_too_long = false;
                self.values.deployment_id[..id.len()].copy_from_slice(id);
                self.values.deployment_id_len = len;
            }
            _ => {
                self.deployment_id_too_long = true;
                self.values.deployment_id_len = 0;
            }
        }
        self
    }

    /// Checks every invariant and returns the configuration.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for a value invalid on its own,
    /// [`ConfigError::Conflict`] naming both values of a broken relation.
    pub fn build(self) -> Result<Config, ConfigError> {
        use ConfigValue as V;
        let out_of_range = |value, requirement| Err(ConfigError::OutOfRange { value, requirement });
        let conflict = |first, second, requirement| {
            Err(ConfigError::Conflict {
                first,
                second,
                requirement,
            })
        };
        let c = self.values;
        if self.deployment_id_too_long {
            return out_of_range(V::DeploymentId, "at most 32 bytes");
        }
        let nonzero = [
            (V::ProbeInterval, c.probe_interval),
            (V::StaleAfter, c.stale_after),
            (V::EpochGrace, c.epoch_grace),
            (V::RotateAfterTime, c.rotate_after_time),
            (V::RekeyAfterTime, c.rekey_after_time),
            (V::RejectAfterTime, c.reject_after_time),
            (V::HandshakeRetryInitial, c.handshake_retry_initial),
            (V::HandshakeRetryMax, c.handshake_retry_max),
            (V::HandshakeMaxAge, c.handshake_max_age),
            (V::HandshakeRateInterval, c.handshake_rate_interval),
            (V::HandshakeFailingAfter, c.handshake_failing_after),
        ];
        for (value, d) in nonzero {
            if d.is_zero() {
                return out_of_range(value, "must be greater than zero");
            }
            // Keeps every deadline sum far from saturation.
            if d > Duration::from_secs(365 * 24 * 3600) {
                return out_of_range(value, "must be at most one year");
            }
        }
        if c.max_reorder_delay > Duration::from_secs(365 * 24 * 3600) {
            return out_of_range(V::MaxReorderDelay, "must be at most one year");
        }
        if c.rotate_after_packets == 0 {
            return out_of_range(V::RotateAfterPackets, "must be at least 1");
        }
        if c.handshake_rate_burst < 2 {
            return out_of_range(
                V::HandshakeRateBurst,
                "must be at least 2: an honest crossing handshake spends two within one round trip",
            );
        }
        if c.handshake_dh_per_second < 3 {
            return out_of_range(
                V::HandshakeDhPerSecond,
                "must be at least 3: reading one initiation takes three",
            );
        }
        if c.handshake_retry_jitter_percent > 50 {
            return out_of_range(V::HandshakeRetryJitterPercent, "must be at most 50");
        }
        for (first, second, holds, requirement) in RELATIONS {
            if !holds(&c) {
                return conflict(first, second, requirement);
            }
        }
        Ok(c)
    }
}

impl Config {
    /// A builder holding the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// A builder holding this configuration's values, to change a few.
    pub fn to_builder(&self) -> ConfigBuilder {
        ConfigBuilder {
            values: *self,
            deployment_id_too_long: false,
        }
    }

    /// The deployment identifier bound into the handshake prologue.
    pub fn deployment_id(&self) -> &[u8] {
        &self.deployment_id[..usize::from(self.deployment_id_len)]
    }

    /// The longest time, after the network starts delivering packets again
    /// with round-trip time `rtt`, until both directions of a link validate
    /// and report fresh, provided both sides probe every `probe_interval`
    /// and echo what they receive (`docs/PROTOCOL.md` §6.4):
    ///
    /// `handshake_retry_max` (the pending retry fires) + `4 × rtt`
    /// (initiation and challenge, bound initiation and response,
    /// confirmation, probe and its echo) + `probe_interval` (the
    /// responder's next probe).
    ///
    /// There is no bound, and this returns `Duration::MAX`, on a path too
    /// slow for the configuration (§6.4): when two round trips reach
    /// `handshake_max_age` (an initiation is replaced by a new one when it
    /// is that old, so its response, after a challenge two round trips
    /// after it was sent, would name an initiation that is gone), or when a
    /// round trip and a probe interval reach `stale_after` (the outbound
    /// direction is dated at our seal, and the acknowledgement riding on
    /// the peer's next probe would come back too late ever to count).
    pub fn recovery_bound(&self, rtt: Duration) -> Duration {
        if rtt.saturating_mul(2) >= self.handshake_max_age
            || rtt.saturating_add(self.probe_interval) >= self.stale_after
        {
            return Duration::MAX;
        }
        self.handshake_retry_max
            .saturating_add(rtt.saturating_mul(4))
            .saturating_add(self.probe_interval)
    }
}

impl Default for Config {
    fn default() -> Self {
        DEFAULT
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("deployment_id", &self.deployment_id())
            .field("probe_interval", &self.probe_interval)
            .field("stale_after", &self.stale_after)
            .field("max_reorder_delay", &self.max_reorder_delay)
            .field("epoch_grace", &self.epoch_grace)
            .field("rotate_after_time", &self.rotate_after_time)
            .field("rotate_after_packets", &self.rotate_after_packets)
            .field("rekey_after_time", &self.rekey_after_time)
            .field("reject_after_time", &self.reject_after_time)
            .field("handshake_retry_initial", &self.handshake_retry_initial)
            .field("handshake_retry_max", &self.handshake_retry_max)
            .field(
                "handshake_retry_jitter_percent",
                &self.handshake_retry_jitter_percent,
            )
            .field("handshake_max_age", &self.handshake_max_age)
            .field("handshake_rate_burst", &self.handshake_rate_burst)
            .field("handshake_rate_interval", &self.handshake_rate_interval)
            .field("handshake_dh_per_second", &self.handshake_dh_per_second)
            .field("handshake_failing_after", &self.handshake_failing_after)
            .finish()
    }
}

#[cfg(test)]
mod tests;
