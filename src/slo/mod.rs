//! `monibox slo`: the SLOs of the configuration as the project's Prometheus evaluates them
//! (`collect` → [`report::SloReport`]), read from the recordings `assets::slo_rules` writes
//! (Sloth's names) and the `ErrorBudgetBurn` alerts; and `monibox slo import` ([`import`]):
//! Sloth's `prometheus/v1` specs turned into `[[slo]]` tables.

pub mod import;
pub mod report;

use std::collections::BTreeMap;

use crate::assets::slo_rules::{ALERT_NAME, ALERT_WINDOWS, error_ratio_record, scaled};
use crate::config::{Slo, Timing};
use crate::promapi::{PromApiError, PrometheusApi, Sample};
use report::{BurnRate, SloAlert, SloReport, SloStatus};

/// Every recording `collect` reads, in one query.
const RECORDINGS: &str = r#"{__name__=~"slo:(sli_error:ratio_rate.+|objective:ratio|error_budget:ratio|period_error_budget_remaining:ratio)",slo!=""}"#;

/// The report of `slos` from the Prometheus at `api` (`url` is shown), with windows named as
/// `timing` evaluates them. Errors when Prometheus does not answer either query.
pub async fn collect(
    api: &PrometheusApi,
    url: &str,
    project: &str,
    slos: &[Slo],
    timing: Timing,
) -> Result<SloReport, PromApiError> {
    let (samples, alerts) = tokio::join!(api.query(RECORDINGS, None), api.alerts());
    let values = by_name_and_slo(samples?);
    let alerts = alerts?;
    let slos = slos
        .iter()
        .map(|slo| {
            let name = slo.name.as_str();
            let value = |record: &str| values.get(&(record.to_owned(), name.to_owned())).copied();
            let budget = value("slo:error_budget:ratio").filter(|budget| *budget > 0.0);
            let burn_rates = ALERT_WINDOWS
                .iter()
                .map(|(window, secs)| BurnRate {
                    window: scaled(timing, *secs).to_string(),
                    recorded_as: (*window).to_owned(),
                    burn_rate: value(&error_ratio_record(window))
                        .zip(budget)
                        .map(|(ratio, budget)| ratio / budget),
                })
                .collect();
            let mut slo_alerts: Vec<SloAlert> = alerts
                .iter()
                .filter(|alert| {
                    alert.alertname == ALERT_NAME
                        && alert.labels.get("slo").map(String::as_str) == Some(name)
                })
                .map(|alert| SloAlert {
                    severity: alert.severity.clone(),
                    sloth_severity: alert.labels.get("sloth_severity").cloned(),
                    state: alert.state.clone(),
                    active_at: alert.active_at.clone(),
                })
                .collect();
            slo_alerts.sort_by(|a, b| {
                (a.state != "firing", &a.sloth_severity)
                    .cmp(&(b.state != "firing", &b.sloth_severity))
            });
            SloStatus {
                slo: name.to_owned(),
                job: slo.job.clone(),
                objective_percent: value("slo:objective:ratio").map(|ratio| ratio * 100.0),
                window: scaled(timing, slo.window.as_millis() / 1000).to_string(),
                sli_percent: value(&error_ratio_record(&slo.window.to_string()))
                    .map(|ratio| (1.0 - ratio) * 100.0),
                error_budget_remaining_percent: value("slo:period_error_budget_remaining:ratio")
                    .map(|ratio| ratio * 100.0),
                burn_rates,
                alerts: slo_alerts,
            }
        })
        .collect();
    Ok(SloReport {
        project: project.to_owned(),
        prometheus_url: url.to_owned(),
        timing: timing.to_string(),
        slos,
    })
}

/// Finite values keyed by (recording, slo); NaN (0/0 in a user's `events` queries) is no value.
fn by_name_and_slo(samples: Vec<Sample>) -> BTreeMap<(String, String), f64> {
    samples
        .into_iter()
        .filter(|sample| sample.value.is_finite())
        .filter_map(|sample| {
            let name = sample.labels.get("__name__")?.clone();
            let slo = sample.labels.get("slo")?.clone();
            Some(((name, slo), sample.value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_without_a_value_are_left_out() {
        let sample = |name: &str, value: f64| Sample {
            labels: BTreeMap::from([
                ("__name__".to_owned(), name.to_owned()),
                ("slo".to_owned(), "a".to_owned()),
            ]),
            timestamp: 0.0,
            value,
        };
        let values = by_name_and_slo(vec![
            sample("slo:objective:ratio", 0.975),
            sample("slo:sli_error:ratio_rate5m", f64::NAN),
        ]);
        assert_eq!(values.len(), 1);
        assert_eq!(
            values.get(&("slo:objective:ratio".to_owned(), "a".to_owned())),
            Some(&0.975)
        );
    }
}
