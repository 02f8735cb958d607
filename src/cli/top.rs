//! The arguments of `monibox top`.

use std::time::Duration;

use clap::Args;

use super::{ConfigArgs, OutputArgs, StateArgs};
use crate::load::plan::parse_duration;

pub const TOP_EXAMPLES: &str = "\
Examples:
  monibox top                      the default project, refreshed every second
  monibox top --interval 5s        refreshed every 5 s
  monibox top --once               one frame as plain text (for scripts and bug reports)
  monibox top --json               the same data as JSON

Keys: Tab / Shift-Tab or ← → panel, ↑ ↓ row, Enter details (an alert's runbook), ? help,
Esc close, q or Ctrl-C quit.";

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Refresh this often (e.g. 500ms, 1s, 5s); 100ms to 1h
    #[arg(
        long,
        value_name = "TIME",
        default_value = "1s",
        value_parser = parse_interval,
        allow_hyphen_values = true
    )]
    pub interval: Duration,
    /// Print one frame as plain text (no escape codes) and exit
    #[arg(long)]
    pub once: bool,
    /// Print one frame's data as JSON and exit (fields documented in the README)
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

/// A refresh interval: a duration from 100 ms to an hour.
fn parse_interval(text: &str) -> Result<Duration, String> {
    if text.trim_start().starts_with('-') {
        return Err(format!("{text:?} is negative: give a duration such as 1s"));
    }
    let interval = parse_duration(text).map_err(|error| error.to_string())?;
    if interval > Duration::from_secs(3600) {
        return Err(format!(
            "{text:?} is longer than 1h: a refresh interval is at most an hour"
        ));
    }
    if interval < Duration::from_millis(100) {
        return Err(format!(
            "{text:?} is shorter than 100ms: refresh at most 10 times a second"
        ));
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_durations_of_at_least_100ms() {
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_interval("10ms").is_err());
        assert!(parse_interval("-1s").unwrap_err().contains("negative"));
        assert!(
            parse_interval("2h")
                .unwrap_err()
                .contains("at most an hour")
        );
        assert!(parse_interval("soon").is_err());
    }
}
