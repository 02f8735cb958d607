//! What `monibox slo` reports: per SLO its objective, its SLI over the SLO window, the budget
//! left, the burn rate over each alert window and the `ErrorBudgetBurn` alerts pending or firing
//! — as two tables for people or as JSON. A value Prometheus has no sample of (no traffic yet, or
//! rules not loaded) is `None`: `-` in the text, `null` in the JSON, never 0.

use serde::Serialize;

use crate::output::{Render, table};

/// Every SLO of the configuration, as the project's Prometheus evaluates it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloReport {
    pub project: String,
    /// The Prometheus the values come from.
    pub prometheus_url: String,
    /// `standard` or `fast` (windows divided by 60).
    pub timing: String,
    pub slos: Vec<SloStatus>,
}

/// One SLO.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloStatus {
    pub slo: String,
    pub job: String,
    /// Percent of good events (`slo:objective:ratio` × 100).
    pub objective_percent: Option<f64>,
    /// The SLO window as evaluated (`30d`; `12h` in the fast profile).
    pub window: String,
    /// Percent of good events over the window (1 − `slo:sli_error:ratio_rate<window>`, × 100).
    pub sli_percent: Option<f64>,
    /// Percent of the error budget left (`slo:period_error_budget_remaining:ratio` × 100);
    /// negative once overspent.
    pub error_budget_remaining_percent: Option<f64>,
    /// One entry per alert window, shortest first.
    pub burn_rates: Vec<BurnRate>,
    /// The `ErrorBudgetBurn` alerts of this SLO pending or firing, firing first.
    pub alerts: Vec<SloAlert>,
}

/// The burn rate over one alert window: the error ratio divided by the error budget (1 spends
/// the budget exactly over the SLO window).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnRate {
    /// The window as evaluated (`5m`; `5s` in the fast profile).
    pub window: String,
    /// The window in the recording's name (`slo:sli_error:ratio_rate5m`), the same in both
    /// profiles.
    pub recorded_as: String,
    pub burn_rate: Option<f64>,
}

/// An `ErrorBudgetBurn` alert Prometheus evaluates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SloAlert {
    /// `critical` (page) or `warning` (ticket).
    pub severity: Option<String>,
    /// `page` or `ticket`.
    pub sloth_severity: Option<String>,
    /// `pending` or `firing`.
    pub state: String,
    /// RFC 3339: since when it is active.
    pub active_at: Option<String>,
}

impl SloStatus {
    /// Whether the budget is spent: some remains known, and it is 0 or less.
    pub fn budget_exhausted(&self) -> bool {
        self.error_budget_remaining_percent
            .is_some_and(|left| left <= 0.0)
    }
}

impl SloReport {
    /// The SLOs whose budget is spent.
    pub fn exhausted(&self) -> Vec<&str> {
        self.slos
            .iter()
            .filter(|slo| slo.budget_exhausted())
            .map(|slo| slo.slo.as_str())
            .collect()
    }
}

fn or_dash(value: Option<f64>, show: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "-".to_owned(), show)
}

/// A percentage with the digits that matter near 100 (`99.95%`, `97.5%`, `-140%`).
fn percent(value: f64) -> String {
    let text = if value.abs() >= 1000.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    };
    format!("{text}%")
}

impl Render for SloReport {
    fn render_text(&self) -> String {
        if self.slos.is_empty() {
            return format!(
                "Project {} has no SLOs (add [[slo]] tables to the configuration).\n",
                self.project
            );
        }
        let rows: Vec<Vec<String>> = self
            .slos
            .iter()
            .map(|slo| {
                let alerts = if slo.alerts.is_empty() {
                    "-".to_owned()
                } else {
                    slo.alerts
                        .iter()
                        .map(|alert| {
                            let severity = alert
                                .sloth_severity
                                .as_deref()
                                .or(alert.severity.as_deref())
                                .unwrap_or("?");
                            format!("{severity} {}", alert.state)
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                vec![
                    slo.slo.clone(),
                    slo.job.clone(),
                    or_dash(slo.objective_percent, percent),
                    slo.window.clone(),
                    or_dash(slo.sli_percent, percent),
                    or_dash(slo.error_budget_remaining_percent, percent),
                    alerts,
                ]
            })
            .collect();
        let mut text = table(
            &[
                "SLO",
                "JOB",
                "OBJECTIVE",
                "WINDOW",
                "SLI",
                "BUDGET LEFT",
                "ALERTS",
            ],
            &rows,
            &[2, 4, 5],
        );
        let windows: Vec<String> = self.slos[0]
            .burn_rates
            .iter()
            .map(|burn| burn.window.clone())
            .collect();
        let mut header = vec!["BURN RATE"];
        header.extend(windows.iter().map(String::as_str));
        let burns: Vec<Vec<String>> = self
            .slos
            .iter()
            .map(|slo| {
                let mut row = vec![slo.slo.clone()];
                row.extend(
                    slo.burn_rates
                        .iter()
                        .map(|burn| or_dash(burn.burn_rate, |rate| format!("{rate:.2}"))),
                );
                row
            })
            .collect();
        let right: Vec<usize> = (1..header.len()).collect();
        text.push('\n');
        text.push_str(&table(&header, &burns, &right));
        let exhausted = self.exhausted();
        if !exhausted.is_empty() {
            text.push_str(&format!(
                "\nError budget exhausted: {}\n",
                exhausted.join(", ")
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(left: Option<f64>) -> SloStatus {
        SloStatus {
            slo: "a".to_owned(),
            job: "app".to_owned(),
            objective_percent: Some(97.5),
            window: "12h".to_owned(),
            sli_percent: None,
            error_budget_remaining_percent: left,
            burn_rates: vec![BurnRate {
                window: "5s".to_owned(),
                recorded_as: "5m".to_owned(),
                burn_rate: None,
            }],
            alerts: vec![SloAlert {
                severity: Some("critical".to_owned()),
                sloth_severity: Some("page".to_owned()),
                state: "firing".to_owned(),
                active_at: None,
            }],
        }
    }

    #[test]
    fn missing_values_are_dashes_and_a_spent_budget_is_named() {
        let report = SloReport {
            project: "p".to_owned(),
            prometheus_url: "http://127.0.0.1:1".to_owned(),
            timing: "fast".to_owned(),
            slos: vec![status(Some(-140.0)), status(None)],
        };
        let text = report.render_text();
        assert!(text.contains("97.5%"), "{text}");
        assert!(text.contains("-140%"), "{text}");
        assert!(text.contains("page firing"), "{text}");
        assert!(text.contains("Error budget exhausted: a\n"), "{text}");
        let burns = text.split("BURN RATE").nth(1).expect("the burn table");
        let burn_line = burns.lines().nth(1).expect("a row");
        assert_eq!(burn_line.split_whitespace().collect::<Vec<_>>(), ["a", "-"]);
        assert!(!report.slos[1].budget_exhausted(), "unknown is not spent");
        assert!(status(Some(0.0)).budget_exhausted());
        assert_eq!(percent(99.95), "99.95%");
        assert_eq!(percent(100.0), "100%");
        assert_eq!(percent(-1221.4), "-1221%");
    }
}
