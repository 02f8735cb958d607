//! The daemon's self-metrics, served by the ops listener on `/metrics` (Prometheus job
//! `monibox`): `monibox_build_info`, `monibox_alerts_received_total`, the supervisor's
//! ([`SupervisorMetrics`]: container up, restarts, errors, Engine up), the figures of the load
//! runs pushing to the daemon ([`LoadMetrics`]) and the process and host metrics of the
//! [`SystemCollector`].

use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::alerts::{AlertStatus, ReceivedAlert};
use super::load_metrics::LoadMetrics;
use crate::demo::{ExpositionFormat, SystemCollector};
use crate::supervise::metrics::SupervisorMetrics;

/// Distinct alert names counted under their own label value; more collapse into `other`, so a
/// client posting random names cannot grow the series without bound.
const MAX_ALERT_NAMES: usize = 100;
const OTHER_ALERT_NAME: &str = "other";

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AlertLabels {
    alertname: String,
    status: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

#[derive(Debug)]
pub struct SelfMetrics {
    registry: Registry,
    alerts_received: Family<AlertLabels, Counter>,
    alert_names: Mutex<HashSet<String>>,
    supervisor: SupervisorMetrics,
    load: LoadMetrics,
}

impl SelfMetrics {
    /// Registers everything. The alerts in `known_alerts` (the bundle's rules) start at zero
    /// for both statuses, so `increase()` over them works from the first notification on.
    pub fn new<'a>(known_alerts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut registry = Registry::default();
        registry.register(
            "monibox_build",
            "Version of the running monibox daemon",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        let alerts_received = Family::<AlertLabels, Counter>::default();
        registry.register(
            "monibox_alerts_received",
            "Alerts received from Alertmanager on the webhook, by alert name and status",
            alerts_received.clone(),
        );
        let supervisor = SupervisorMetrics::register(&mut registry);
        let load = LoadMetrics::new();
        registry.register_collector(Box::new(load.clone()));
        registry.register_collector(Box::new(SystemCollector::new()));
        let mut names = HashSet::new();
        for name in known_alerts {
            for status in [AlertStatus::Firing, AlertStatus::Resolved] {
                // Creating the series is the point; the handle is not needed.
                drop(alerts_received.get_or_create(&AlertLabels {
                    alertname: name.to_owned(),
                    status: status.as_str(),
                }));
            }
            names.insert(name.to_owned());
        }
        Self {
            registry,
            alerts_received,
            alert_names: Mutex::new(names),
            supervisor,
            load,
        }
    }

    /// The load runs' pushed figures, for the ops listener's `POST /load`.
    pub fn load(&self) -> &LoadMetrics {
        &self.load
    }

    /// The supervisor's metrics, for the supervisor to update.
    pub fn supervisor(&self) -> SupervisorMetrics {
        self.supervisor.clone()
    }

    pub fn alerts_received(&self, alerts: &[ReceivedAlert]) {
        let mut names = match self.alert_names.lock() {
            Ok(names) => names,
            Err(poisoned) => poisoned.into_inner(),
        };
        for alert in alerts {
            let known = names.contains(&alert.alertname);
            let alertname = if known || names.len() < MAX_ALERT_NAMES {
                if !known {
                    names.insert(alert.alertname.clone());
                }
                alert.alertname.clone()
            } else {
                OTHER_ALERT_NAME.to_owned()
            };
            self.alerts_received
                .get_or_create(&AlertLabels {
                    alertname,
                    status: alert.status.as_str(),
                })
                .inc();
        }
    }

    pub fn encode(&self, format: ExpositionFormat) -> Result<String, fmt::Error> {
        format.encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn known_alerts_start_at_zero_and_unknown_names_are_bounded() {
        let metrics = SelfMetrics::new(["HighErrorRate"]);
        let text = metrics.encode(ExpositionFormat::Classic).expect("encode");
        assert!(
            text.contains(
                r#"monibox_alerts_received_total{alertname="HighErrorRate",status="resolved"} 0"#
            ),
            "{text}"
        );
        assert!(text.contains("monibox_build_info{version="), "{text}");
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
        for expected in [
            r#"monibox_container_up{component="grafana"} 0"#,
            r#"monibox_container_restarts_total{component="prometheus",reason="oom"} 0"#,
            "monibox_supervisor_errors_total 0",
            "monibox_docker_engine_up 0",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }

        metrics.alerts_received(&[ReceivedAlert::bare("HighErrorRate", AlertStatus::Firing)]);
        for n in 0..MAX_ALERT_NAMES + 10 {
            metrics.alerts_received(&[ReceivedAlert::bare(
                &format!("Random{n}"),
                AlertStatus::Firing,
            )]);
        }
        let text = metrics.encode(ExpositionFormat::Classic).expect("encode");
        assert!(
            text.contains(
                r#"monibox_alerts_received_total{alertname="HighErrorRate",status="firing"} 1"#
            ),
            "{text}"
        );
        let series = text
            .lines()
            .filter(|line| line.starts_with("monibox_alerts_received_total{"))
            .count();
        // Two pre-initialised series, then one per name up to the limit, then `other`.
        assert_eq!(series, 2 + (MAX_ALERT_NAMES - 1) + 1, "{text}");
        assert!(
            text.contains(r#"monibox_alerts_received_total{alertname="other",status="firing"} 11"#),
            "{text}"
        );
    }
}
