//! Validated quantities in the configuration: Prometheus durations, byte sizes, positive numbers
//! and fractions. Each checks its input while it is being deserialized, so a bad value is
//! reported by the TOML parser with the key and line it came from.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Prometheus duration (`15s`, `2m`, `15d`, `1h30m`), kept in milliseconds and printed in the
/// form Prometheus and Alertmanager both parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PromDuration {
    millis: u64,
}

impl PromDuration {
    const UNITS: [(&'static str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];

    /// The longest duration Prometheus reads: its durations are nanoseconds in an `i64`.
    pub const MAX_MILLIS: u64 = i64::MAX as u64 / 1_000_000;

    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    pub const fn from_secs(secs: u64) -> Self {
        Self {
            millis: secs * 1_000,
        }
    }

    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// Parses Prometheus' duration syntax: units from `y` down to `ms`, each at most once and in
    /// that order, or a bare `0`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || {
            format!(
                "invalid duration {text:?}: use a Prometheus duration such as 30s, 5m, 2h, 15d or 1h30m"
            )
        };
        let too_long = || {
            format!(
                "duration {text:?} is out of range: Prometheus accepts at most 292y (106751d23h47m16s854ms)"
            )
        };
        if text == "0" {
            return Ok(Self::from_millis(0));
        }
        if text.is_empty() {
            return Err(invalid());
        }
        let mut rest = text;
        let mut millis: u64 = 0;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                return Err(invalid());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
            rest = &rest[digits..];
            let unit_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let position = Self::UNITS[next_unit..]
                .iter()
                .position(|(name, _)| *name == unit)
                .ok_or_else(invalid)?;
            let (_, factor) = Self::UNITS[next_unit + position];
            next_unit += position + 1;
            millis = number
                .checked_mul(factor)
                .and_then(|part| millis.checked_add(part))
                .ok_or_else(too_long)?;
        }
        if millis > Self::MAX_MILLIS {
            return Err(too_long());
        }
        Ok(Self::from_millis(millis))
    }
}

impl fmt::Display for PromDuration {
    /// Days and smaller units only, so `15d` stays `15d` rather than becoming `2w1d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.millis;
        for (name, factor) in &Self::UNITS[2..] {
            let count = rest / factor;
            if count > 0 {
                write!(f, "{count}{name}")?;
                rest %= factor;
            }
        }
        Ok(())
    }
}

impl TryFrom<String> for PromDuration {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<PromDuration> for String {
    fn from(duration: PromDuration) -> Self {
        duration.to_string()
    }
}

/// A size in bytes written as `<integer><unit>`. Units are powers of 1024 as Prometheus reads
/// them (`1GB` = 1024³ bytes); `KiB`/`MiB`/`GiB`/`TiB` are accepted as the same units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ByteSize {
    bytes: u64,
}

impl ByteSize {
    const UNITS: [(&'static str, &'static str, u64); 6] = [
        ("PB", "PiB", 1 << 50),
        ("TB", "TiB", 1 << 40),
        ("GB", "GiB", 1 << 30),
        ("MB", "MiB", 1 << 20),
        ("KB", "KiB", 1 << 10),
        ("B", "B", 1),
    ];

    pub const fn from_bytes(bytes: u64) -> Self {
        Self { bytes }
    }

    pub const fn bytes(self) -> u64 {
        self.bytes
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || {
            format!(
                "invalid size {text:?}: use an integer and a unit (B, KB, MB, GB, TB, PB; \
                 1024-based as in Prometheus), e.g. 512MB or 10GB"
            )
        };
        let digits = text.chars().take_while(char::is_ascii_digit).count();
        let number: u64 = text[..digits].parse().map_err(|_| invalid())?;
        let unit = &text[digits..];
        let factor = Self::UNITS
            .iter()
            .find(|(short, long, _)| unit == *short || unit == *long)
            .map(|(_, _, factor)| *factor)
            .ok_or_else(invalid)?;
        let bytes = number.checked_mul(factor).ok_or_else(invalid)?;
        if bytes == 0 {
            return Err(format!("invalid size {text:?}: it must be more than zero"));
        }
        Ok(Self::from_bytes(bytes))
    }
}

impl fmt::Display for ByteSize {
    /// The largest unit that divides the size exactly, in the spelling Prometheus accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, factor) = Self::UNITS
            .iter()
            .find(|(_, _, factor)| self.bytes % factor == 0)
            .map(|(short, _, factor)| (*short, *factor))
            .unwrap_or(("B", 1));
        write!(f, "{}{unit}", self.bytes / factor)
    }
}

impl TryFrom<String> for ByteSize {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<ByteSize> for String {
    fn from(size: ByteSize) -> Self {
        size.to_string()
    }
}

/// A threshold that must be a finite number above zero.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Positive(f64);

impl Positive {
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Positive {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        if value.is_finite() && value > 0.0 {
            Ok(Self(value))
        } else {
            Err(format!(
                "invalid value {value}: it must be a number above zero"
            ))
        }
    }
}

impl From<Positive> for f64 {
    fn from(value: Positive) -> Self {
        value.0
    }
}

/// A fraction from 0 to 1 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Fraction(f64);

impl Fraction {
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Fraction {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        if (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!(
                "invalid value {value}: it must be a fraction from 0 to 1 (0.05 means 5%)"
            ))
        }
    }
}

impl From<Fraction> for f64 {
    fn from(value: Fraction) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_in_prometheus_syntax() {
        for (text, millis, shown) in [
            ("15s", 15_000, "15s"),
            ("2m", 120_000, "2m"),
            ("15d", 15 * 86_400_000, "15d"),
            ("1h30m", 5_400_000, "1h30m"),
            ("1w", 7 * 86_400_000, "7d"),
            ("500ms", 500, "500ms"),
            ("0", 0, "0s"),
        ] {
            let duration = PromDuration::parse(text).expect(text);
            assert_eq!(duration.as_millis(), millis, "{text}");
            assert_eq!(duration.to_string(), shown, "{text}");
        }
        for bad in ["", "15", "s", "1m1h", "1x", "-1s", "1.5h", "1s1s"] {
            assert!(PromDuration::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn durations_stop_where_prometheus_does() {
        // Checked against Prometheus: 292y, 106751d and 9223372036854ms start; 293y, 106752d and
        // 9223372036855ms fail with "duration out of range".
        for within in [
            "292y",
            "106751d",
            "9223372036854ms",
            "106751d23h47m16s854ms",
        ] {
            let duration = PromDuration::parse(within).expect(within);
            assert_eq!(
                PromDuration::parse(&duration.to_string()),
                Ok(duration),
                "{within} prints as a duration Prometheus reads back"
            );
        }
        for beyond in [
            "293y",
            "300y",
            "106752d",
            "9223372036855ms",
            "99999999999999y",
        ] {
            let error = PromDuration::parse(beyond).expect_err(beyond);
            assert!(error.contains("at most 292y"), "{beyond}: {error}");
        }
    }

    #[test]
    fn sizes_are_1024_based_and_printed_for_prometheus() {
        assert_eq!(ByteSize::parse("1GB").map(ByteSize::bytes), Ok(1 << 30));
        assert_eq!(
            ByteSize::parse("512MiB").map(ByteSize::bytes),
            Ok(512 << 20)
        );
        assert_eq!(ByteSize::from_bytes(512 << 20).to_string(), "512MB");
        assert_eq!(ByteSize::from_bytes(1536).to_string(), "1536B");
        for bad in ["", "1", "GB", "1 GB", "0GB", "1.5GB", "1gb"] {
            assert!(ByteSize::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
