//! `prometheus.yml` as typed structs, serialised by a maintained YAML crate (`serde_norway`):
//! the global intervals and external labels, the rule files, Alertmanager (when it runs) and one
//! scrape job per target. Field names are Prometheus's own
//! (<https://prometheus.io/docs/prometheus/latest/configuration/configuration/>), so the structs
//! read like the file; anything monibox does not set is left out, and Prometheus applies its
//! defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::PromDuration;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrometheusConfig {
    pub global: Global,
    /// Relative to the file, so the directory works wherever it is mounted or copied.
    pub rule_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<Alerting>,
    pub scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Global {
    pub scrape_interval: PromDuration,
    pub scrape_timeout: PromDuration,
    pub evaluation_interval: PromDuration,
    /// Added to every series and alert that leaves this Prometheus.
    pub external_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alerting {
    pub alertmanagers: Vec<AlertmanagerTargets>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertmanagerTargets {
    pub static_configs: Vec<StaticConfig>,
}

/// One scrape job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub static_configs: Vec<StaticConfig>,
}

/// Targets given as `host:port`, with labels for all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl StaticConfig {
    /// One target without extra labels.
    pub fn target(address: impl Into<String>) -> Self {
        Self {
            targets: vec![address.into()],
            labels: BTreeMap::new(),
        }
    }
}

impl ScrapeConfig {
    /// A job scraping one `host:port` at `/metrics` over HTTP.
    pub fn single(job: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            job_name: job.into(),
            static_configs: vec![StaticConfig::target(address)],
        }
    }
}

impl PrometheusConfig {
    /// The file's text: a comment saying where it comes from, then the YAML.
    pub fn to_yaml(&self, header: &str) -> Result<String, serde_norway::Error> {
        Ok(format!("{header}{}", serde_norway::to_string(self)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yaml_reads_back_as_the_same_structs() {
        let config = PrometheusConfig {
            global: Global {
                scrape_interval: PromDuration::from_secs(15),
                scrape_timeout: PromDuration::from_secs(10),
                evaluation_interval: PromDuration::from_secs(15),
                external_labels: BTreeMap::from([("monibox_project".to_owned(), "x".to_owned())]),
            },
            rule_files: vec!["rules/alerts.yml".to_owned()],
            alerting: None,
            scrape_configs: vec![ScrapeConfig::single("app", "host.docker.internal:5000")],
        };
        let text = config.to_yaml("# header\n").expect("serialises");
        assert!(text.starts_with("# header\nglobal:\n"), "{text}");
        assert!(text.contains("scrape_interval: 15s"), "{text}");
        assert!(!text.contains("alerting"), "{text}");
        let back: PrometheusConfig = serde_norway::from_str(&text).expect("parses");
        assert_eq!(back, config);
    }
}
