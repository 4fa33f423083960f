//! The hand-written `serde` implementations (feature `serde`): a public key
//! as its hex text, and the configuration as a map from each value's name
//! to its value, read back through [`ConfigBuilder`] so that a configuration
//! read is checked as one built is. The other types derive theirs.

use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{Config, ConfigBuilder, ConfigValue, Setting};
use crate::keys::PublicKey;

/// As 64 hex digits; read from hex or base64.
impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = PublicKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a public key: 64 hex digits or 44 base64 characters")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PublicKey, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Text)
    }
}

/// `deployment_id` (bytes) and every [`ConfigValue::SETTABLE`] value by its
/// name: durations as serde writes a `Duration`, counts as integers.
impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1 + ConfigValue::SETTABLE.len()))?;
        map.serialize_entry("deployment_id", self.deployment_id())?;
        for v in ConfigValue::SETTABLE {
            match self.get(v) {
                Some(Setting::Duration(d)) => map.serialize_entry(v.name(), &d)?,
                Some(Setting::Count(n)) => map.serialize_entry(v.name(), &n)?,
                None => {}
            }
        }
        map.end()
    }
}

/// Any subset of the names [`Config`]'s `Serialize` writes, the others
/// taking their defaults; an unknown name, a value of the wrong kind or a
/// configuration the builder refuses is an error naming it.
impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Values;
        impl<'de> Visitor<'de> for Values {
            type Value = Config;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of configuration values by name")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Config, A::Error> {
                let mut builder = ConfigBuilder::default();
                while let Some(name) = map.next_key::<alloc::string::String>()? {
                    if name == "deployment_id" {
                        let id: Vec<u8> = map.next_value()?;
                        builder = builder.deployment_id(&id);
                        continue;
                    }
                    let value = ConfigValue::from_name(&name).ok_or_else(|| {
                        de::Error::custom(format_args!("unknown configuration value `{name}`"))
                    })?;
                    let setting = if value.is_duration() {
                        Setting::Duration(map.next_value::<Duration>()?)
                    } else {
                        Setting::Count(map.next_value::<u64>()?)
                    };
                    builder = builder.set(value, setting).map_err(de::Error::custom)?;
                }
                builder.build().map_err(de::Error::custom)
            }
        }
        d.deserialize_map(Values)
    }
}
