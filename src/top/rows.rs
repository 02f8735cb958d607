//! The panels of a [`Snapshot`] as titled tables of text cells, each row with the details
//! Enter shows; the terminal screen (`draw`) and the plain text of `--once` (`text`) both show
//! these, so both say the same.

use std::time::SystemTime;

use super::model::{EndpointStats, Panel, Snapshot};
use crate::output::{ago, duration_text};
use crate::status::{ComponentStatus, Health};

/// Sparkline characters, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One panel, ready to show.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelView {
    pub title: &'static str,
    /// Said instead of (or above) the rows: why the values are missing or how old they are.
    pub note: Option<String>,
    pub header: Vec<&'static str>,
    /// Columns aligned right (numbers).
    pub right: Vec<usize>,
    pub rows: Vec<Row>,
    /// Shown when there are no rows and no note.
    pub empty: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<String>,
    /// Whether it needs attention (unhealthy, firing, down): shown highlighted.
    pub alarm: bool,
    /// What Enter shows, line by line.
    pub details: Vec<String>,
}

/// The panels in the order Tab visits them: components, endpoints, targets down, alerts,
/// notifications, then the load test, containers and SLOs when Prometheus has them.
pub fn panels(snapshot: &Snapshot, spark_width: usize, now: SystemTime) -> Vec<PanelView> {
    let mut panels = vec![
        components(snapshot),
        endpoints(&snapshot.endpoints, spark_width),
        targets_down(snapshot, now),
        alerts(snapshot, now),
        notifications(snapshot, now),
    ];
    if snapshot.load.values.as_ref().is_some_and(Option::is_some) {
        panels.push(load(snapshot));
    }
    if snapshot
        .containers
        .values
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        panels.push(containers(snapshot));
    }
    if snapshot.slos.values.as_ref().is_some_and(|v| !v.is_empty()) {
        panels.push(slos(snapshot));
    }
    panels
}

/// What a panel says about its freshness: nothing when current, else the error and the age.
fn note<T>(panel: &Panel<T>) -> Option<String> {
    let error = panel.error.as_deref()?;
    Some(match panel.age_seconds {
        Some(age) => format!("{error}; values {} old", duration_text(age)),
        None => format!("{error}; no values yet"),
    })
}

fn view(title: &'static str, header: &[&'static str], right: &[usize]) -> PanelView {
    PanelView {
        title,
        note: None,
        header: header.to_vec(),
        right: right.to_vec(),
        rows: Vec::new(),
        empty: "none",
    }
}

fn dash() -> String {
    "-".to_owned()
}

fn components(snapshot: &Snapshot) -> PanelView {
    let mut panel = view(
        "Components",
        &[
            "COMPONENT",
            "STATE",
            "HEALTH",
            "UPTIME",
            "RESTARTS",
            "SUPERVISOR",
        ],
        &[3, 4],
    );
    panel.note = note(&snapshot.components);
    let components = snapshot.components.values.iter().flatten();
    panel.rows = components.map(component_row).collect();
    panel
}

fn component_row(component: &ComponentStatus) -> Row {
    let health = match component.health {
        Health::Healthy => "healthy",
        Health::Unhealthy => "UNHEALTHY",
        Health::Unknown => "-",
    };
    let supervisor = if component.crash_looping {
        "crash-looping".to_owned()
    } else if let Some(restarts) = component.supervisor_restarts {
        format!("watching ({restarts} restarts)")
    } else {
        dash()
    };
    let mut details = vec![format!("{}: {}", component.name, component.state)];
    for (label, value) in [
        ("url", component.url.clone()),
        ("image", component.image.clone()),
        ("version", component.version.clone()),
        ("pid", component.pid.map(|pid| pid.to_string())),
        ("detail", component.detail.clone()),
    ] {
        if let Some(value) = value {
            details.push(format!("{label}: {value}"));
        }
    }
    Row {
        cells: vec![
            component.name.to_owned(),
            component.state.clone(),
            health.to_owned(),
            component.uptime_seconds.map_or_else(dash, duration_text),
            component
                .restarts
                .map_or_else(dash, |restarts| restarts.to_string()),
            supervisor,
        ],
        alarm: component.is_expected()
            && (component.health != Health::Healthy || component.crash_looping),
        details,
    }
}

/// A duration in seconds as milliseconds or seconds.
pub fn latency(seconds: Option<f64>) -> String {
    match seconds {
        None => dash(),
        Some(s) if s < 1.0 => format!("{:.0}ms", s * 1000.0),
        Some(s) => format!("{s:.2}s"),
    }
}

pub fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(dash, |ratio| format!("{:.1}%", ratio * 100.0))
}

pub fn per_second(rate: Option<f64>) -> String {
    rate.map_or_else(dash, |rate| format!("{rate:.1}"))
}

/// The last `width` values as a sparkline scaled from 0 to their maximum.
pub fn sparkline(values: &[f64], width: usize) -> String {
    let shown = &values[values.len().saturating_sub(width)..];
    let top = shown.iter().copied().fold(0.0_f64, f64::max);
    shown
        .iter()
        .map(|value| {
            if top <= 0.0 {
                BARS[0]
            } else {
                let level = (value / top * (BARS.len() - 1) as f64).round() as usize;
                BARS[level.min(BARS.len() - 1)]
            }
        })
        .collect()
}

fn endpoints(panel_data: &Panel<Vec<EndpointStats>>, spark_width: usize) -> PanelView {
    let mut panel = view(
        "Endpoints (last minute)",
        &[
            "JOB", "ENDPOINT", "REQ/S", "ERR", "P50", "P95", "P99", "REQ/S 5m",
        ],
        &[2, 3, 4, 5, 6],
    );
    panel.note = note(panel_data);
    panel.empty = "no requests counted yet";
    panel.rows = panel_data
        .values
        .iter()
        .flatten()
        .map(|stats| Row {
            cells: vec![
                stats.job.clone(),
                stats.endpoint.clone(),
                per_second(stats.requests_per_second),
                percent(stats.error_ratio),
                latency(stats.p50_seconds),
                latency(stats.p95_seconds),
                latency(stats.p99_seconds),
                sparkline(&stats.history.requests_per_second, spark_width),
            ],
            alarm: stats.error_ratio.is_some_and(|ratio| ratio > 0.05),
            details: vec![
                format!("{} {}", stats.job, stats.endpoint),
                format!(
                    "requests/s {}   errors {}   p50 {}   p95 {}   p99 {}",
                    per_second(stats.requests_per_second),
                    percent(stats.error_ratio),
                    latency(stats.p50_seconds),
                    latency(stats.p95_seconds),
                    latency(stats.p99_seconds)
                ),
                format!(
                    "requests/s, 5 min:  {}",
                    sparkline(&stats.history.requests_per_second, 60)
                ),
                format!(
                    "error ratio, 5 min: {}",
                    sparkline(&stats.history.error_ratio, 60)
                ),
                format!(
                    "p95, 5 min:         {}",
                    sparkline(&stats.history.p95_seconds, 60)
                ),
            ],
        })
        .collect();
    panel
}

fn targets_down(snapshot: &Snapshot, now: SystemTime) -> PanelView {
    let mut panel = view("Targets down", &["JOB", "INSTANCE", "LAST ERROR"], &[]);
    panel.note = note(&snapshot.targets_down);
    panel.empty = "every target is up";
    panel.rows = snapshot
        .targets_down
        .values
        .iter()
        .flatten()
        .map(|target| Row {
            cells: vec![
                target.job.clone(),
                target.instance.clone(),
                target.last_error.clone(),
            ],
            alarm: true,
            details: vec![
                format!("{} {}: {}", target.job, target.instance, target.health),
                format!("scrape URL: {}", target.scrape_url),
                format!(
                    "last scrape: {}",
                    target
                        .last_scrape
                        .as_deref()
                        .map_or_else(|| "never".to_owned(), |at| ago(at, now))
                ),
                format!("last error: {}", target.last_error),
            ],
        })
        .collect();
    panel
}

/// The runbook section (`docs/runbooks.md`, embedded in the bundle) of `alertname`.
pub fn runbook(alertname: &str) -> Vec<String> {
    let heading = format!("## {alertname}");
    let mut lines = crate::assets::RUNBOOKS
        .lines()
        .skip_while(|line| line.trim_end() != heading);
    match lines.next() {
        Some(_) => lines
            .take_while(|line| !line.starts_with("## "))
            .map(str::to_owned)
            .collect(),
        None => vec![format!("(no runbook for {alertname})")],
    }
}

fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .filter(|(key, _)| key.as_str() != "alertname")
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn alerts(snapshot: &Snapshot, now: SystemTime) -> PanelView {
    let mut panel = view("Alerts", &["STATE", "ALERT", "SEVERITY", "SINCE"], &[]);
    panel.note = note(&snapshot.alerts);
    panel.empty = "none pending or firing";
    panel.rows = snapshot
        .alerts
        .values
        .iter()
        .flatten()
        .map(|alert| {
            let mut details = vec![
                format!("{} ({})", alert.alertname, alert.state),
                labels_text(&alert.labels),
                String::new(),
            ];
            details.extend(runbook(&alert.alertname));
            Row {
                cells: vec![
                    alert.state.clone(),
                    alert.alertname.clone(),
                    alert.severity.clone().unwrap_or_else(dash),
                    alert
                        .active_at
                        .as_deref()
                        .map_or_else(dash, |at| ago(at, now)),
                ],
                alarm: alert.state == "firing",
                details,
            }
        })
        .collect();
    panel
}

fn notifications(snapshot: &Snapshot, now: SystemTime) -> PanelView {
    let mut panel = view("Webhook", &["RECEIVED", "STATUS", "ALERT"], &[]);
    panel.note = note(&snapshot.notifications);
    panel.empty = "no notification received";
    panel.rows = snapshot
        .notifications
        .values
        .iter()
        .flatten()
        .map(|alert| {
            let mut details = vec![
                format!(
                    "{} {} (receiver {})",
                    alert.alertname,
                    alert.status.as_str(),
                    alert.receiver
                ),
                labels_text(&alert.labels),
            ];
            details.extend(alert.summary.clone());
            details.extend(
                alert
                    .runbook_url
                    .as_ref()
                    .map(|url| format!("runbook: {url}")),
            );
            details.push(String::new());
            details.extend(runbook(&alert.alertname));
            Row {
                cells: vec![
                    ago(&alert.received_at, now),
                    alert.status.as_str().to_owned(),
                    alert.alertname.clone(),
                ],
                alarm: alert.status.as_str() == "firing",
                details,
            }
        })
        .collect();
    panel
}

fn load(snapshot: &Snapshot) -> PanelView {
    let mut panel = view(
        "Load test (client side)",
        &["RUNS", "USERS", "ASKED", "REQ/S", "ERR", "P95"],
        &[0, 1, 2, 3, 4, 5],
    );
    panel.note = note(&snapshot.load);
    panel.rows = snapshot
        .load
        .values
        .iter()
        .flatten()
        .map(|load| {
            let cells = vec![
                load.runs.to_string(),
                load.users.to_string(),
                // The closed model asks no rate.
                load.asked_rate_per_second
                    .map_or_else(dash, |rate| format!("{rate:.1}")),
                per_second(load.requests_per_second),
                percent(load.error_ratio),
                latency(load.p95_seconds),
            ];
            Row {
                details: vec![cells.join("  ")],
                cells,
                alarm: false,
            }
        })
        .collect();
    panel
}

fn containers(snapshot: &Snapshot) -> PanelView {
    let mut panel = view("Containers (cAdvisor)", &["NAME", "CPU", "MEMORY"], &[1, 2]);
    panel.note = note(&snapshot.containers);
    panel.rows = snapshot
        .containers
        .values
        .iter()
        .flatten()
        .map(|container| {
            let cells = vec![
                container.name.clone(),
                container
                    .cpu_cores
                    .map_or_else(dash, |cores| format!("{:.1}%", cores * 100.0)),
                container
                    .memory_working_set_bytes
                    .map_or_else(dash, |bytes| format!("{:.1} MiB", bytes / 1_048_576.0)),
            ];
            Row {
                details: vec![cells.join("  ")],
                cells,
                alarm: false,
            }
        })
        .collect();
    panel
}

fn slos(snapshot: &Snapshot) -> PanelView {
    let mut panel = view("SLO error budgets", &["SLO", "BUDGET LEFT"], &[1]);
    panel.note = note(&snapshot.slos);
    panel.rows = snapshot
        .slos
        .values
        .iter()
        .flatten()
        .map(|slo| {
            let cells = vec![
                slo.slo.clone(),
                percent(Some(slo.error_budget_remaining_ratio)),
            ];
            Row {
                details: vec![cells.join("  ")],
                cells,
                alarm: slo.error_budget_remaining_ratio <= 0.0,
            }
        })
        .collect();
    panel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_their_maximum_and_keep_the_latest_values() {
        assert_eq!(sparkline(&[0.0, 1.0, 2.0, 4.0], 10), "▁▃▅█");
        assert_eq!(sparkline(&[9.0, 0.0, 0.0], 2), "▁▁");
        assert_eq!(sparkline(&[], 5), "");
    }

    #[test]
    fn an_alert_s_details_are_its_runbook() {
        let lines = runbook("HighErrorRate");
        assert!(
            lines.iter().any(|line| line.contains("**Check**")),
            "{lines:?}"
        );
        assert!(
            !lines.iter().any(|line| line.starts_with("## ")),
            "{lines:?}"
        );
        assert_eq!(runbook("NoSuchAlert"), vec!["(no runbook for NoSuchAlert)"]);
    }

    #[test]
    fn figures_are_short_and_say_when_there_are_none() {
        assert_eq!(latency(Some(0.0123)), "12ms");
        assert_eq!(latency(Some(1.5)), "1.50s");
        assert_eq!(latency(None), "-");
        assert_eq!(percent(Some(0.256)), "25.6%");
        let stale: Panel<Vec<u8>> = Panel {
            values: Some(vec![]),
            age_seconds: Some(12.4),
            error: Some("Prometheus not answering".to_owned()),
        };
        assert_eq!(
            note(&stale).as_deref(),
            Some("Prometheus not answering; values 12s old")
        );
    }
}
