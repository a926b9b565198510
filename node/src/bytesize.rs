//! Memory sizes written the Redis way: `1024`, `64kb`, `512mb`, `1gb`
//! (`k`/`m`/`g` are powers of 1000, `kb`/`mb`/`gb` powers of 1024, as in
//! redis.conf).

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A byte count that parses from `512mb` or a plain integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses a Redis memory size (`memtoll`). `None` if malformed or
    /// overflowing.
    pub fn parse(s: &str) -> Option<ByteSize> {
        let lower = s.trim().to_ascii_lowercase();
        let split = lower
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(lower.len());
        let (digits, unit) = lower.split_at(split);
        if digits.is_empty() {
            return None;
        }
        let mul: u64 = match unit {
            "" | "b" => 1,
            "k" => 1000,
            "kb" => 1024,
            "m" => 1000 * 1000,
            "mb" => 1024 * 1024,
            "g" => 1000 * 1000 * 1000,
            "gb" => 1024 * 1024 * 1024,
            _ => return None,
        };
        digits.parse::<u64>().ok()?.checked_mul(mul).map(ByteSize)
    }

    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte count such as 1048576 or \"512mb\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("size must not be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).ok_or_else(|| E::custom(format!("invalid size {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ByteSize::parse(s)
            .ok_or_else(|| format!("invalid size {s:?} (examples: 1024, 64kb, 512mb, 1gb)"))
    }
}

#[cfg(test)]
mod tests {
    use super::ByteSize;

    #[test]
    fn parses_redis_units() {
        assert_eq!(ByteSize::parse("1024"), Some(ByteSize(1024)));
        assert_eq!(ByteSize::parse("1k"), Some(ByteSize(1000)));
        assert_eq!(ByteSize::parse("1kb"), Some(ByteSize(1024)));
        assert_eq!(ByteSize::parse("512MB"), Some(ByteSize(512 << 20)));
        assert_eq!(ByteSize::parse("1gb"), Some(ByteSize(1 << 30)));
        assert_eq!(ByteSize::parse("mb"), None);
        assert_eq!(ByteSize::parse("1tb"), None);
        assert_eq!(ByteSize::parse("-1"), None);
    }
}
