//! The values of the templates' `${name}` placeholders, looked up from the configuration and the
//! render context: timing, thresholds, addresses, each alert's `for:` duration (`for:<alert>`)
//! and runbook link (`runbook:<alert>`).

use super::RenderContext;
use super::template::Value;
use crate::config::{Config, PromDuration, Timing};

/// Each alert and its `for:` duration in the standard and the fast timing profile. The fast
/// values let an end-to-end test see an alert fire within seconds.
const ALERT_FOR: [(&str, u64, u64); 19] = [
    ("HighErrorRate", 2 * 60, 5),
    ("HighErrorRatio", 5 * 60, 5),
    ("HighLatencyP95", 5 * 60, 5),
    ("AppDown", 60, 3),
    ("AppHighCpu", 10 * 60, 10),
    ("AppHighMemory", 10 * 60, 10),
    ("TargetDown", 5 * 60, 5),
    ("PrometheusRuleEvaluationFailures", 60, 2),
    ("PrometheusNotConnectedToAlertmanager", 5 * 60, 5),
    ("PrometheusAlertSendFailing", 5 * 60, 5),
    ("AlertmanagerNotificationsFailing", 60, 2),
    ("ContainerRestartingOften", 60, 2),
    ("ContainerMemoryNearLimit", 5 * 60, 5),
    ("ContainerRestarting", 60, 2),
    ("ContainerOOMKilled", 0, 0),
    ("HostTargetDown", 5 * 60, 5),
    ("HostCpuSaturated", 15 * 60, 10),
    ("HostMemoryLow", 5 * 60, 5),
    ("HostDiskWillFillIn24Hours", 30 * 60, 10),
];

/// The names of every alert the bundle's rules define: the hand-written ones and the SLOs'.
pub fn alert_names() -> impl Iterator<Item = &'static str> {
    ALERT_FOR
        .iter()
        .map(|(name, _, _)| *name)
        .chain([super::slo_rules::ALERT_NAME])
}

/// What the bundle's files are for, as README.txt lists them: a path, or a directory's prefix.
const FILE_DESCRIPTIONS: [(&str, &str); 11] = [
    (
        "prometheus/prometheus.yml",
        "scrape jobs, alerting; rule files are relative to it",
    ),
    (
        "prometheus/rules/recording.yml",
        "recording rules (level:metric:operations)",
    ),
    (
        "prometheus/rules/alerts.yml",
        "alerting rules, each with a runbook in runbooks.md",
    ),
    (
        "prometheus/rules/slo.yml",
        "SLO recording rules and burn-rate alerts (generated from [[slo]])",
    ),
    (
        "prometheus/rules/alertmanager.yml",
        "alerting rules about Alertmanager",
    ),
    (
        "prometheus/rules/node.yml",
        "alerting rules about the host (node_exporter, job node)",
    ),
    (
        "alertmanager/alertmanager.yml",
        "routing, inhibition, receivers",
    ),
    (
        "grafana/grafana.ini",
        "Grafana settings (no admin password in it)",
    ),
    (
        "grafana/provisioning/",
        "datasource (uid monibox-prometheus) and dashboard provider",
    ),
    ("grafana/dashboards/", "the dashboards"),
    ("runbooks.md", "what each alert means and what to do"),
];

/// The placeholder values, looked up by name from the configuration and the context.
pub(super) struct Values<'a> {
    config: &'a Config,
    context: &'a RenderContext,
    /// The bundle's other files, once known (for README.txt).
    files: &'a [&'a str],
}

impl<'a> Values<'a> {
    pub(super) fn new(config: &'a Config, context: &'a RenderContext) -> Self {
        Self {
            config,
            context,
            files: &[],
        }
    }

    /// The same values, and the list of the bundle's `files`.
    pub(super) fn with_files(&self, files: &'a [&'a str]) -> Values<'a> {
        Values {
            config: self.config,
            context: self.context,
            files,
        }
    }

    /// Each kind of file the bundle has, with what it is for, aligned.
    fn bundle_files(&self) -> String {
        let mut lines: Vec<(String, &str)> = Vec::new();
        for (path, description) in FILE_DESCRIPTIONS {
            if self.files.iter().any(|file| file.starts_with(path)) {
                lines.push((path.to_owned(), description));
            }
        }
        for file in self.files {
            let described = FILE_DESCRIPTIONS
                .iter()
                .any(|(path, _)| file.starts_with(path));
            if !described && file.starts_with("prometheus/rules/") {
                lines.push(((*file).to_owned(), "recording and alerting rules"));
            }
        }
        let width = lines.iter().map(|(path, _)| path.len()).max().unwrap_or(0);
        lines
            .iter()
            .map(|(path, description)| format!("{path:<width$}   {description}"))
            .collect::<Vec<_>>()
            .join("\n  ")
    }

    pub(super) fn lookup(&self, name: &str) -> Option<Value> {
        let config = self.config;
        let context = self.context;
        let profile = config.timing.profile();
        let text = |value: &str| Some(Value::Text(value.to_owned()));
        let duration = |value: PromDuration| Some(Value::Token(value.to_string()));
        let number = |value: f64| Some(Value::Token(format_number(value)));
        if let Some(alert) = name.strip_prefix("for:") {
            return ALERT_FOR
                .iter()
                .find(|(known, _, _)| *known == alert)
                .map(|(_, standard, fast)| match config.timing {
                    Timing::Standard => *standard,
                    Timing::Fast => *fast,
                })
                .and_then(|secs| duration(PromDuration::from_secs(secs)));
        }
        if let Some(alert) = name.strip_prefix("runbook:") {
            ALERT_FOR.iter().find(|(known, _, _)| *known == alert)?;
            return text(&runbook_url(config, context, alert));
        }
        match name {
            "project" => text(config.project.as_str()),
            "timing" => text(&config.timing.to_string()),
            "scrape_interval" => duration(profile.scrape_interval),
            "webhook_url" => text(&context.webhook_url),
            "prometheus_url" => text(&context.prometheus_url),
            "scrape_targets" => text(
                &context
                    .scrape_targets
                    .iter()
                    .map(|target| format!("{} {}", target.job, target.address))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            "run_commands" => text(&context.run_commands.join("\n  ")),
            "check_commands" => text(&context.check_commands.join("\n  ")),
            "bundle_files" => text(&self.bundle_files()),
            "alerting" => text(&match &context.alertmanager_address {
                Some(_) => format!(
                    "Alertmanager notifies {} (the monibox daemon) and the receivers you \
                     configured.",
                    context.webhook_url
                ),
                None => "No Alertmanager runs: alerts are evaluated, not sent.".to_owned(),
            }),
            "grafana_dashboards_dir" => text(&context.grafana_dashboards_dir),
            "grafana_home_dashboard" => text(&format!(
                "{}/service-overview.json",
                context.grafana_dashboards_dir
            )),
            "alerts.error_rate_per_second" => number(config.alerts.error_rate_per_second.get()),
            "alerts.error_ratio" => number(config.alerts.error_ratio.get()),
            "alerts.error_ratio_percent" => number(config.alerts.error_ratio.get() * 100.0),
            "alerts.latency_p95_seconds" => number(config.alerts.latency_p95_seconds.get()),
            "alerts.cpu_cores" => number(config.alerts.cpu_cores.get()),
            "alerts.memory_bytes" => Some(Value::Token(config.alerts.memory.bytes().to_string())),
            "alerts.container_restarts" => {
                Some(Value::Token(config.alerts.container_restarts.to_string()))
            }
            _ => None,
        }
    }
}

/// The link to `alert`'s section of the runbooks: `runbook_base_url` when configured, else the
/// context's runbooks, with the alert's name in lowercase as the anchor.
pub(super) fn runbook_url(config: &Config, context: &RenderContext, alert: &str) -> String {
    let base = config
        .alerts
        .runbook_base_url
        .as_ref()
        .map_or(context.runbooks_url.as_str(), |url| url.as_str());
    format!("{base}#{}", alert.to_lowercase())
}

/// Shortest decimal form, without an exponent and without float noise (`0.05 * 100` is `5`):
/// rounded to 15 significant digits, which every value typed in a config file survives intact
/// however small or large (`1e-12` is `0.000000000001`, a literal PromQL reads back exactly).
pub(super) fn format_number(value: f64) -> String {
    let rounded: f64 = format!("{value:.14e}").parse().unwrap_or(value);
    format!("{rounded}")
}

#[cfg(test)]
mod tests {
    use super::super::{ASSETS, paths};
    use super::*;

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(format_number(0.1), "0.1");
        assert_eq!(format_number(0.05 * 100.0), "5");
        assert_eq!(format_number(1.0), "1");
        assert_eq!(format_number(0.000_001), "0.000001");
        assert_eq!(format_number(1e-12), "0.000000000001");
        assert_eq!(format_number(1.5e-10), "0.00000000015");
        assert_eq!(format_number(0.123_456_789_012_345), "0.123456789012345");
        assert_eq!(format_number(2.5e15), "2500000000000000");
        for value in [1e-12, 0.05, 7.3e-7, 123_456.789, 1e300, 5e-324] {
            assert_eq!(
                format_number(value).parse::<f64>(),
                Ok(value),
                "{value:e} reads back"
            );
        }
    }

    #[test]
    fn every_alert_with_a_duration_is_in_the_rules() {
        let rules: String = ASSETS
            .get_dir(paths::RULES_DIR)
            .expect("the rules are embedded")
            .files()
            .filter_map(|file| file.contents_utf8())
            .collect();
        for (alert, _, _) in ALERT_FOR {
            assert!(
                rules.contains(&format!("alert: {alert}\n")),
                "{alert} has no rule"
            );
            assert!(
                rules.contains(&format!("${{for:{alert}}}")),
                "{alert} has no for:"
            );
        }
        assert_eq!(rules.matches("- alert: ").count(), ALERT_FOR.len());
    }
}
