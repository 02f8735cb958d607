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
    // Whole nanoseconds, added up exactly: "30.1s" is 30.1 s, not the nearest f64.
    let mut total_ns: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| error("missing unit"))?;
        if number_len == 0 {
            return Err(error("expected a number"));
        }
        let number = &rest[..number_len];
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_ns: u128 = match &rest[..unit_len] {
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(error("unknown unit")),
        };
        rest = &rest[unit_len..];
        let part_ns = nanoseconds(number, unit_ns).ok_or_else(|| error("bad number"))?;
        total_ns = total_ns
            .checked_add(part_ns)
            .ok_or_else(|| error("out of range"))?;
    }
    if total_ns > MAX_DURATION.as_nanos() {
        return Err(error(
            "longer than a year (8760h), the longest duration monibox takes",
        ));
    }
    let seconds = u64::try_from(total_ns / 1_000_000_000).map_err(|_| error("out of range"))?;
    Ok(Duration::new(seconds, (total_ns % 1_000_000_000) as u32))
}

/// `number` (digits with at most one decimal point, e.g. `1.5`, `.5`, `2.`) times `unit_ns`, in
/// whole nanoseconds (anything finer is dropped); `None` when it is not such a number or too
/// large to hold.
fn nanoseconds(number: &str, unit_ns: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    let whole_ns = if whole.is_empty() {
        0
    } else {
        // More than 30 digits is beyond any bound: refuse rather than overflow.
        if whole.len() > 30 {
            return Some(u128::MAX);
        }
        whole.parse::<u128>().ok()?.checked_mul(unit_ns)?
    };
    // Digits below a nanosecond of the largest unit (an hour: 13 digits) cannot matter.
    let fraction = &fraction[..fraction.len().min(20)];
    let fraction_ns = if fraction.is_empty() {
        0
    } else {
        let scale = 10u128.pow(fraction.len() as u32);
        fraction.parse::<u128>().ok()? * unit_ns / scale
    };
    whole_ns.checked_add(fraction_ns)
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
    fn fractions_add_up_exactly() {
        // Found by fuzzing: summed as f64 seconds, this was 19126951.100000001 s.
        assert_eq!(
            parse_duration("5313h2m0s1s30.1s"),
            Ok(Duration::new(19_126_951, 100_000_000))
        );
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2.ms"), Ok(Duration::from_millis(2)));
        assert_eq!(parse_duration("1.0000000001s"), Ok(Duration::from_secs(1)));
        for bad in [".s", "1.2.3s", "..s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let huge = format!("{}s", "9".repeat(40));
        assert!(parse_duration(&huge).is_err());
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
