//! `monibox top --once`: one frame as plain text (no escape codes), the same panels as the
//! screen, each a title line, its freshness note and an aligned table; and the [`Render`] of a
//! [`Snapshot`], so `--json` prints the same data through the output switch.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::model::Snapshot;
use super::rows::{PanelView, panels};
use crate::output::{Render, table};

/// Sparkline width in the text form: 5 minutes at the history's 5 s step would be 60; 20
/// keeps the table within 80 columns.
const TEXT_SPARK_WIDTH: usize = 20;

impl Render for Snapshot {
    fn render_text(&self) -> String {
        render(self, SystemTime::now())
    }
}

/// The frame as text, with times relative to `now`.
pub fn render(snapshot: &Snapshot, now: SystemTime) -> String {
    let mut out = format!(
        "monibox top · project {} · {}{}\n",
        snapshot.project,
        snapshot.taken_at,
        if snapshot.running {
            ""
        } else {
            " · not running"
        }
    );
    for panel in panels(snapshot, TEXT_SPARK_WIDTH, now) {
        out.push('\n');
        render_panel(&panel, &mut out);
    }
    out
}

fn render_panel(panel: &PanelView, out: &mut String) {
    let _ = writeln!(out, "{}", panel.title);
    if let Some(note) = &panel.note {
        let _ = writeln!(out, "  ({note})");
    }
    if panel.rows.is_empty() {
        if panel.note.is_none() {
            let _ = writeln!(out, "  {}", panel.empty);
        }
        return;
    }
    let rows: Vec<Vec<String>> = panel.rows.iter().map(|row| row.cells.clone()).collect();
    for line in table(&panel.header, &rows, &panel.right).lines() {
        let _ = writeln!(out, "  {}", line.trim_end());
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::model::{EndpointHistory, EndpointStats, Panel};
    use super::*;

    fn panel<T>(values: T) -> Panel<T> {
        Panel {
            values: Some(values),
            age_seconds: Some(0.0),
            error: None,
        }
    }

    pub(crate) fn snapshot() -> Snapshot {
        Snapshot {
            project: "demo".to_owned(),
            running: true,
            taken_at: "2026-12-03T07:00:00Z".to_owned(),
            interval_seconds: 1.0,
            components: panel(Vec::new()),
            endpoints: panel(vec![EndpointStats {
                job: "app".to_owned(),
                endpoint: "/slow".to_owned(),
                requests_per_second: Some(12.5),
                error_ratio: Some(0.0),
                p50_seconds: Some(0.2),
                p95_seconds: Some(0.45),
                p99_seconds: Some(0.49),
                history: EndpointHistory {
                    step_seconds: 5.0,
                    requests_per_second: vec![0.0, 6.0, 12.5],
                    ..EndpointHistory::default()
                },
            }]),
            targets_down: Panel {
                values: Some(Vec::new()),
                age_seconds: Some(12.0),
                error: Some("Prometheus not answering".to_owned()),
            },
            alerts: panel(Vec::new()),
            notifications: Panel {
                values: None,
                age_seconds: None,
                error: Some("the daemon does not answer".to_owned()),
            },
            containers: panel(Vec::new()),
            slos: panel(Vec::new()),
            load: panel(None),
        }
    }

    #[test]
    fn the_text_frame_has_every_panel_no_escape_codes_and_says_what_is_stale() {
        let text = render(&snapshot(), SystemTime::now());
        assert!(!text.contains('\u{1b}'), "{text}");
        for title in [
            "Components",
            "Endpoints",
            "Targets down",
            "Alerts",
            "Webhook",
        ] {
            assert!(text.contains(title), "{title}: {text}");
        }
        assert!(text.contains("/slow"), "{text}");
        assert!(text.contains("450ms"), "{text}");
        assert!(text.contains("▁▄█"), "{text}");
        assert!(
            text.contains("(Prometheus not answering; values 12s old)"),
            "{text}"
        );
        assert!(
            text.contains("(the daemon does not answer; no values yet)"),
            "{text}"
        );
        assert!(!text.contains("Load test"), "no load runs: {text}");
        assert!(
            text.lines().all(|line| line.chars().count() <= 80),
            "{text}"
        );
    }
}
