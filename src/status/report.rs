//! The human form of a [`StatusReport`]: a short aligned table of components (RESTARTS is the
//! supervisor's count while the daemon runs; a crash-looping component says so in STATE), then
//! only what needs attention or answers a question (targets not up, active alerts, the latest alerts the
//! webhook received).

use std::fmt::Write as _;

use super::{ComponentStatus, Health, Overall, StatusReport};

/// Received alerts listed; the JSON form has up to the daemon's full log.
const RECENT_SHOWN: usize = 5;

pub fn render(report: &StatusReport) -> String {
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
            "nothing of it exists; start it with `monibox up --project {}`",
            report.project
        );
        return out;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<13}{:<15}{:<11}{:>8}{:>10}  URL",
        "COMPONENT", "STATE", "HEALTH", "UPTIME", "RESTARTS"
    );
    for component in &report.components {
        let _ = writeln!(out, "{}", component_line(component));
    }
    let troubled: Vec<&ComponentStatus> = report
        .components
        .iter()
        .filter(|c| (c.health != Health::Healthy || c.crash_looping) && c.detail.is_some())
        .collect();
    if !troubled.is_empty() {
        let _ = writeln!(out);
        for component in troubled {
            let _ = writeln!(
                out,
                "{}: {}",
                component.name,
                component.detail.as_deref().unwrap_or_default()
            );
        }
    }

    let _ = writeln!(out);
    match &report.targets {
        Some(targets) => {
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
            for target in targets.iter().filter(|t| t.health == "down") {
                let _ = writeln!(
                    out,
                    "  {:<13}{:<28}{:<8}{}",
                    target.job, target.instance, target.health, target.last_error
                );
            }
        }
        None => {
            let _ = writeln!(out, "targets: unknown (Prometheus does not answer)");
        }
    }
    if let Some(alerts) = &report.alerts {
        let firing = alerts.iter().filter(|a| a.state == "firing").count();
        let _ = writeln!(
            out,
            "alerts in Prometheus: {firing} firing, {} pending",
            alerts.len() - firing
        );
        for alert in alerts {
            let _ = writeln!(
                out,
                "  {:<9}{:<36}{:<10}since {}",
                alert.state,
                alert.alertname,
                alert.severity.as_deref().unwrap_or("-"),
                alert.active_at.as_deref().unwrap_or("?")
            );
        }
    }
    if let Some(received) = &report.alerts_received {
        let _ = writeln!(
            out,
            "webhook: {} notifications with {} alerts received",
            received.notifications_total, received.alerts_total
        );
        for alert in received.recent.iter().take(RECENT_SHOWN) {
            let _ = writeln!(
                out,
                "  {}  {:<9}{:<36}{}",
                alert.received_at,
                alert.status.as_str(),
                alert.alertname,
                alert.severity.as_deref().unwrap_or("-")
            );
        }
    }
    if let Some(grafana) = &report.grafana {
        let _ = writeln!(
            out,
            "grafana: version {}, database {}",
            grafana.version, grafana.database
        );
    }
    out
}

fn component_line(component: &ComponentStatus) -> String {
    let health = match component.health {
        Health::Healthy => "healthy",
        Health::Unhealthy => "UNHEALTHY",
        Health::Unknown => "-",
    };
    let uptime = component
        .uptime_seconds
        .map(duration_text)
        .unwrap_or_else(|| "-".to_owned());
    // The supervisor's count when the daemon reports one: it recreates containers, so Docker's
    // own count starts again at 0 with each.
    let restarts = component
        .supervisor_restarts
        .or(component.restarts)
        .map(|count| count.to_string())
        .unwrap_or_else(|| "-".to_owned());
    let state = if component.crash_looping {
        "crash-looping"
    } else {
        component.state.as_str()
    };
    let mut url = component.url.clone().unwrap_or_else(|| "-".to_owned());
    if let Some(pid) = component.pid.filter(|_| component.name == "daemon") {
        url.push_str(&format!("  (pid {pid})"));
    }
    format!(
        "{:<13}{state:<15}{health:<11}{uptime:>8}{restarts:>10}  {url}",
        component.name
    )
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
    fn a_project_that_does_not_exist_says_how_to_start_it() {
        let report = StatusReport {
            project: "demo".to_owned(),
            state: Overall::NotRunning,
            state_dir: "/s/demo".to_owned(),
            components: Vec::new(),
            targets: None,
            alerts: None,
            alerts_received: None,
            grafana: None,
            supervisor: None,
        };
        let text = render(&report);
        assert!(text.contains("not running"), "{text}");
        assert!(text.contains("monibox up --project demo"), "{text}");
    }
}
