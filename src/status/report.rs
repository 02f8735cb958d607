//! The human form of a [`StatusReport`]: a table of components (RESTARTS is the supervisor's
//! count while the daemon runs; a crash-looping component says so in STATE), the details of
//! those that need attention, then only what needs attention or answers a question: targets not
//! up, active alerts and the latest alerts the webhook received — each alert with the labels
//! that tell it apart from the others of its name, and times as how long ago.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use super::{ComponentStatus, Health, Overall, StatusReport};
use crate::output::{Render, ago, duration_text, table};
use crate::promapi::TargetStatus;

/// Received alerts listed; the JSON form has up to the daemon's full log.
const RECENT_SHOWN: usize = 5;
/// Labels never shown as telling alerts apart: they are the alert's name and columns of their
/// own.
const SHOWN_ELSEWHERE: [&str; 2] = ["alertname", "severity"];

impl Render for StatusReport {
    fn render_text(&self) -> String {
        render(self, SystemTime::now())
    }
}

/// The report as text, with times relative to `now`.
pub fn render(report: &StatusReport, now: SystemTime) -> String {
    let mut out = String::new();
    let state = match report.state {
        Overall::Healthy => "healthy",
        Overall::Degraded => "degraded",
        Overall::NotRunning => "not running",
    };
    let _ = writeln!(out, "project {}: {state}", report.project);
    if report.state == Overall::NotRunning {
        let _ = writeln!(
            out,
            "no container, network or daemon of it runs; start it with {}",
            report.up_hint
        );
        return out;
    }
    let _ = writeln!(out);
    let rows: Vec<Vec<String>> = report.components.iter().map(component_row).collect();
    out.push_str(&table(
        &[
            "COMPONENT",
            "STATE",
            "HEALTH",
            "UPTIME",
            "RESTARTS",
            "VERSION",
            "URL",
        ],
        &rows,
        &[3, 4],
    ));
    let noted: Vec<&ComponentStatus> = report
        .components
        .iter()
        .filter(|c| {
            (c.health != Health::Healthy || c.crash_looping || !c.is_expected())
                && c.detail.is_some()
        })
        .collect();
    if !noted.is_empty() {
        let _ = writeln!(out);
        for component in noted {
            let _ = writeln!(
                out,
                "{}: {}",
                component.name,
                component.detail.as_deref().unwrap_or_default()
            );
        }
    }
    if report.supervisor.is_some_and(|supervisor| supervisor.held) {
        let _ = writeln!(
            out,
            "supervisor: held — no restarts while `up` or `reload` changes the stack (a hold \
             ends by itself within 2 minutes)"
        );
    }
    let _ = writeln!(out);
    render_targets(report, now, &mut out);
    render_alerts(report, now, &mut out);
    out
}

fn component_row(component: &ComponentStatus) -> Vec<String> {
    let dash = || "-".to_owned();
    let health = match component.health {
        Health::Healthy => "healthy",
        Health::Unhealthy => "UNHEALTHY",
        Health::Unknown => "-",
    };
    // The supervisor's count when the daemon reports one: it recreates containers, so Docker's
    // own count starts again at 0 with each.
    let restarts = component
        .supervisor_restarts
        .or(component.restarts)
        .map_or_else(dash, |count| count.to_string());
    let state = if component.crash_looping && component.state != "conflict" {
        "crash-looping"
    } else {
        component.state.as_str()
    };
    let mut url = component.url.clone().unwrap_or_else(dash);
    if let Some(pid) = component.pid {
        url.push_str(&format!(" (pid {pid})"));
    }
    vec![
        component.name.to_owned(),
        state.to_owned(),
        health.to_owned(),
        component.uptime_seconds.map_or_else(dash, duration_text),
        restarts,
        component.version.clone().unwrap_or_else(dash),
        url,
    ]
}

fn render_targets(report: &StatusReport, now: SystemTime, out: &mut String) {
    let Some(targets) = &report.targets else {
        let expected = report
            .component(crate::catalog::prometheus::DEF.name)
            .is_some_and(ComponentStatus::is_expected);
        if expected {
            let _ = writeln!(out, "targets: unknown (Prometheus does not answer)");
        }
        return;
    };
    let count = |health: &str| targets.iter().filter(|t| t.health == health).count();
    let pending = match count("unknown") {
        0 => String::new(),
        n => format!(", {n} not scraped yet"),
    };
    let _ = writeln!(
        out,
        "targets: {} of {} up{pending}",
        count("up"),
        targets.len()
    );
    if targets.is_empty() {
        let _ = writeln!(
            out,
            "  (Prometheus loads its targets within about 5 s of starting)"
        );
    }
    // The user's targets (configured or discovered), each with its health; of monibox's own
    // only those that are down.
    let (users, own): (Vec<&TargetStatus>, Vec<&TargetStatus>) =
        targets.iter().partition(|t| is_users_job(&t.job));
    let rows: Vec<Vec<String>> = users
        .into_iter()
        .chain(own.into_iter().filter(|t| t.health == "down"))
        .map(|t| {
            vec![
                t.job.clone(),
                t.instance.clone(),
                t.health.clone(),
                t.last_scrape
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |time| ago(time, now)),
                t.last_error.clone(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        indent(
            &table(
                &["JOB", "INSTANCE", "HEALTH", "LAST SCRAPE", "LAST ERROR"],
                &rows,
                &[],
            ),
            out,
        );
    }
}

fn render_alerts(report: &StatusReport, now: SystemTime, out: &mut String) {
    if let Some(alerts) = &report.alerts {
        let firing = alerts.iter().filter(|a| a.state == "firing").count();
        let _ = writeln!(
            out,
            "alerts in Prometheus: {firing} firing, {} pending",
            alerts.len() - firing
        );
        let labels: Vec<(&str, &BTreeMap<String, String>)> = alerts
            .iter()
            .map(|a| (a.alertname.as_str(), &a.labels))
            .collect();
        let apart = telling_labels(&labels);
        let rows: Vec<Vec<String>> = alerts
            .iter()
            .zip(apart)
            .map(|(alert, labels)| {
                vec![
                    alert.state.clone(),
                    alert.alertname.clone(),
                    alert.severity.clone().unwrap_or_else(|| "-".to_owned()),
                    alert
                        .active_at
                        .as_deref()
                        .map_or_else(|| "-".to_owned(), |at| ago(at, now)),
                    labels,
                ]
            })
            .collect();
        if !rows.is_empty() {
            indent(
                &table(
                    &["STATE", "ALERT", "SEVERITY", "SINCE", "LABELS"],
                    &rows,
                    &[],
                ),
                out,
            );
        }
    }
    if let Some(received) = &report.alerts_received {
        let shown: Vec<_> = received.recent.iter().take(RECENT_SHOWN).collect();
        let latest = if received.recent.len() > shown.len() {
            format!(" (the latest {} below)", shown.len())
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "webhook: {} notifications with {} alerts received{latest}",
            received.notifications_total, received.alerts_total
        );
        let labels: Vec<(&str, &BTreeMap<String, String>)> = shown
            .iter()
            .map(|a| (a.alertname.as_str(), &a.labels))
            .collect();
        let rows: Vec<Vec<String>> = shown
            .iter()
            .zip(telling_labels(&labels))
            .map(|(alert, labels)| {
                vec![
                    ago(&alert.received_at, now),
                    alert.status.as_str().to_owned(),
                    alert.alertname.clone(),
                    alert.severity.clone().unwrap_or_else(|| "-".to_owned()),
                    labels,
                ]
            })
            .collect();
        if !rows.is_empty() {
            indent(
                &table(
                    &["RECEIVED", "STATUS", "ALERT", "SEVERITY", "LABELS"],
                    &rows,
                    &[],
                ),
                out,
            );
        }
    }
}

/// For each alert, the labels that tell it apart from the other alerts of the same name (those
/// whose values differ among them), as `k=v k=v`; an alert that nothing tells apart (alone
/// under its name, or the same alert notified again) shows its `job` and `instance`.
fn telling_labels(alerts: &[(&str, &BTreeMap<String, String>)]) -> Vec<String> {
    let pairs = |labels: &BTreeMap<String, String>, keep: &dyn Fn(&str, &String) -> bool| {
        labels
            .iter()
            .filter(|(key, _)| !SHOWN_ELSEWHERE.contains(&key.as_str()))
            .filter(|(key, value)| keep(key, value))
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    alerts
        .iter()
        .map(|(name, labels)| {
            let siblings: Vec<&BTreeMap<String, String>> = alerts
                .iter()
                .filter(|(other, _)| other == name)
                .map(|(_, labels)| *labels)
                .collect();
            let differing = pairs(labels, &|key, value| {
                siblings.iter().any(|other| other.get(key) != Some(value))
            });
            if differing.is_empty() {
                pairs(labels, &|key, _| key == "job" || key == "instance")
            } else {
                differing
            }
        })
        .collect()
}

/// Whether a job is the user's: a configured target's or Docker discovery's.
fn is_users_job(job: &str) -> bool {
    job == crate::assets::prometheus_config::DOCKER_SD_JOB
        || !crate::config::RESERVED_JOBS.contains(&job)
}

fn indent(text: &str, out: &mut String) {
    for line in text.lines() {
        let _ = writeln!(out, "  {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promapi::ActiveAlert;

    fn report(alerts: Vec<ActiveAlert>) -> StatusReport {
        StatusReport {
            project: "demo".to_owned(),
            state: Overall::Degraded,
            state_dir: "/s/demo".to_owned(),
            components: Vec::new(),
            targets: Some(Vec::new()),
            alerts: Some(alerts),
            alerts_received: None,
            supervisor: None,
            up_hint: "`monibox up --project demo`".to_owned(),
        }
    }

    fn alert(name: &str, severity: &str, labels: &[(&str, &str)]) -> ActiveAlert {
        let mut all: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        all.insert("alertname".to_owned(), name.to_owned());
        all.insert("severity".to_owned(), severity.to_owned());
        ActiveAlert {
            alertname: name.to_owned(),
            state: "firing".to_owned(),
            severity: Some(severity.to_owned()),
            active_at: Some("2026-11-30T01:56:44.678006493Z".to_owned()),
            labels: all,
        }
    }

    #[test]
    fn alerts_of_one_name_show_what_tells_them_apart_and_how_long_ago() {
        let now = humantime::parse_rfc3339("2026-11-30T01:58:44Z").expect("time");
        let common = [("job", "app"), ("instance", "host.docker.internal:5000")];
        let series = |error_type| {
            let mut labels = common.to_vec();
            labels.push(("error_type", error_type));
            alert("HighErrorRate", "critical", &labels)
        };
        let text = render(
            &report(vec![
                series("database_timeout"),
                series("upstream_unavailable"),
                alert(
                    "PrometheusNotConnectedToAlertmanager",
                    "warning",
                    &[("job", "prometheus"), ("instance", "prometheus:9090")],
                ),
            ]),
            now,
        );
        assert!(
            text.contains("error_type=database_timeout")
                && text.contains("error_type=upstream_unavailable"),
            "{text}"
        );
        assert!(!text.contains("instance=host.docker.internal"), "{text}");
        assert!(text.contains("1m59s ago"), "{text}");
        assert!(!text.contains("2026-11-30"), "{text}");
        assert!(
            text.contains("PrometheusNotConnectedToAlertmanager  warning"),
            "a gap between name and severity: {text}"
        );
        assert!(
            text.contains("instance=prometheus:9090 job=prometheus"),
            "{text}"
        );
    }

    #[test]
    fn a_project_that_does_not_exist_says_how_to_start_it() {
        let mut report = report(Vec::new());
        report.state = Overall::NotRunning;
        let text = render(&report, SystemTime::now());
        assert!(text.contains("not running"), "{text}");
        assert!(text.contains("`monibox up --project demo`"), "{text}");
    }
}
