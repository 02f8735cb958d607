//! Durations as `monibox load` reads them (`250ms`, `1m30s`) and think time (a fixed pause or a
//! uniform range), both bounded by [`MAX_DURATION`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::PlanError;

/// Parses a duration made of one or more `<number><unit>` parts (`us`, `ms`, `s`, `m`, `h`),
/// such as `250ms`, `1.5s` or `1m30s`; a bare `0` means zero.
pub fn parse_duration(input: &str) -> Result<Duration, PlanError> {
    let error = |reason| PlanError::Duration {
        input: input.to_owned(),
        reason,
    };
    let text = input.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(error("empty"));
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| error("missing unit"))?;
        if number_len == 0 {
            return Err(error("expected a number"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| error("bad number"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(error("unknown unit")),
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    let duration = Duration::try_from_secs_f64(total).map_err(|_| error("out of range"))?;
    if duration > MAX_DURATION {
        return Err(error(
            "longer than a year (8760h), the most a load run takes",
        ));
    }
    Ok(duration)
}

/// The longest duration any load setting may have (`--duration`, `--ramp-up`, `--think-time`,
/// `--timeout`): a year, far beyond any real run, and small enough that adding it to a clock
/// reading cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Shows a duration the way `parse_duration` reads it, in the largest unit that keeps it short.
pub fn format_duration(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros == 0 {
        "0s".to_owned()
    } else if micros % 1_000_000 == 0 {
        format!("{}s", micros / 1_000_000)
    } else if micros % 1_000 == 0 {
        format!("{}ms", micros / 1_000)
    } else {
        format!("{micros}us")
    }
}

/// Pause between a user's requests: fixed, or drawn uniformly from a range for each pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThinkTime {
    pub min: Duration,
    pub max: Duration,
}

impl ThinkTime {
    pub const NONE: ThinkTime = ThinkTime {
        min: Duration::ZERO,
        max: Duration::ZERO,
    };

    pub fn is_zero(&self) -> bool {
        self.max.is_zero()
    }
}

impl FromStr for ThinkTime {
    type Err = PlanError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| PlanError::ThinkTime {
            input: input.to_owned(),
            reason,
        };
        let parse = |part: &str| parse_duration(part).map_err(|e| error(e.to_string()));
        let (min, max) = match input.split_once("..") {
            Some((low, high)) => (parse(low)?, parse(high)?),
            None => {
                let fixed = parse(input)?;
                (fixed, fixed)
            }
        };
        if min > max {
            return Err(error("the lower bound is above the upper bound".to_owned()));
        }
        Ok(ThinkTime { min, max })
    }
}

impl fmt::Display for ThinkTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            f.write_str(&format_duration(self.min))
        } else {
            write!(
                f,
                "{}..{}",
                format_duration(self.min),
                format_duration(self.max)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_fractions_and_compounds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("750us"), Ok(Duration::from_micros(750)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "ms", "5 parsecs", "1..2s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn durations_format_back_to_parseable_text() {
        for text in ["0s", "250ms", "3s", "750us", "90s"] {
            let duration = parse_duration(text).expect("parses");
            assert_eq!(format_duration(duration), text);
        }
    }

    #[test]
    fn think_time_is_fixed_or_a_range() {
        let fixed: ThinkTime = "500ms".parse().expect("fixed");
        assert_eq!(
            fixed,
            ThinkTime {
                min: Duration::from_millis(500),
                max: Duration::from_millis(500)
            }
        );
        let range: ThinkTime = "200ms..1s".parse().expect("range");
        assert_eq!(
            range,
            ThinkTime {
                min: Duration::from_millis(200),
                max: Duration::from_secs(1)
            }
        );
        assert_eq!(range.to_string(), "200ms..1s");
        assert!("1s..200ms".parse::<ThinkTime>().is_err());
        assert!("soon".parse::<ThinkTime>().is_err());
    }
}
