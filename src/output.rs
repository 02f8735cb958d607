//! The one output switch: every report is a value that renders either for people ([`Render`])
//! or as JSON (its `Serialize` form), chosen once by `--json` ([`Format`]) and written by
//! [`emit`]. Measure and present stay separate (hyperfine's exporters, oha's printer are the
//! model). Also the pieces reports share: tables sized to their content (comfy-table) and short
//! human durations.

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use comfy_table::presets::NOTHING;
use comfy_table::{CellAlignment, ContentArrangement, Table};
use serde::Serialize;

/// A report a command prints.
pub trait Render: Serialize {
    /// The text for people: short, aligned, ending with a newline.
    fn render_text(&self) -> String;
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    /// Pretty-printed JSON: the fields the README documents.
    Json,
}

impl Format {
    /// `--json` or not.
    pub fn from_json_flag(json: bool) -> Self {
        if json { Format::Json } else { Format::Text }
    }
}

/// Writes `report` to stdout in `format`. A closed stdout (`monibox status | head`) is an error
/// the caller ends quietly on.
pub fn emit(report: &impl Render, format: Format) -> std::io::Result<()> {
    let text = match format {
        Format::Text => report.render_text(),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
            json.push('\n');
            json
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())
}

/// A table without borders, each column as wide as its widest cell and two spaces apart;
/// columns listed in `right` are right-aligned (numbers). Rows shorter than the header are
/// padded. Ends with a newline.
pub fn table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut table = Table::new();
    table
        .load_style(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    for row in rows {
        table.add_row(row.clone());
    }
    let last = header.len().saturating_sub(1);
    for index in 0..header.len() {
        if let Some(column) = table.column_mut(index) {
            column.set_padding((0, if index == last { 0 } else { 2 }));
            if right.contains(&index) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    let mut text = table.trim_fmt();
    text.push('\n');
    text
}

/// `42s`, `5m12s`, `3h05m`, `2d04h`.
pub fn duration_text(seconds: f64) -> String {
    let total = seconds.max(0.0) as u64;
    let (days, hours, minutes, secs) = (
        total / 86_400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d{hours:02}h")
    } else if hours > 0 {
        format!("{hours}h{minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m{secs:02}s")
    } else {
        format!("{secs}s")
    }
}

/// How long before `now` an RFC 3339 time in UTC (as Prometheus and the Engine give them) was,
/// for people: `2m05s ago`, `just now`; the text itself if it does not parse.
pub fn ago(rfc3339: &str, now: SystemTime) -> String {
    match humantime::parse_rfc3339(rfc3339) {
        Ok(then) => match now.duration_since(then) {
            Ok(elapsed) if elapsed >= Duration::from_secs(1) => {
                format!("{} ago", duration_text(elapsed.as_secs_f64()))
            }
            _ => "just now".to_owned(),
        },
        Err(_) => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(duration_text(4.9), "4s");
        assert_eq!(duration_text(312.0), "5m12s");
        assert_eq!(duration_text(3.0 * 3600.0 + 300.0), "3h05m");
        assert_eq!(duration_text(2.0 * 86_400.0 + 4.0 * 3600.0), "2d04h");
    }

    #[test]
    fn tables_fit_their_content_with_a_gap_between_columns() {
        let text = table(
            &["ALERT", "SEVERITY", "COUNT"],
            &[
                vec![
                    "PrometheusNotConnectedToAlertmanager".to_owned(),
                    "warning".to_owned(),
                    "3".to_owned(),
                ],
                vec!["X".to_owned(), "critical".to_owned(), "12".to_owned()],
            ],
            &[2],
        );
        assert_eq!(
            text,
            "ALERT                                 SEVERITY  COUNT\n\
             PrometheusNotConnectedToAlertmanager  warning       3\n\
             X                                     critical     12\n"
        );
    }

    #[test]
    fn times_read_as_how_long_ago() {
        let then = humantime::parse_rfc3339("2026-11-30T01:56:44Z").expect("time");
        let now = then + Duration::from_secs(126);
        assert_eq!(ago("2026-11-30T01:56:44.678006493Z", now), "2m05s ago");
        assert_eq!(ago("2026-11-30T01:56:44Z", then), "just now");
        assert_eq!(ago("yesterday", now), "yesterday");
    }
}
