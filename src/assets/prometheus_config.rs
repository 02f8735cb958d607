//! `prometheus.yml` as typed structs, serialised by a maintained YAML crate (`serde_norway`):
//! the global intervals and external labels, the rule files, Alertmanager (when it runs) and one
//! scrape job per target. Field names are Prometheus's own
//! (<https://prometheus.io/docs/prometheus/latest/configuration/configuration/>), so the structs
//! read like the file; anything monibox does not set is left out, and Prometheus applies its
//! defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::RenderContext;
use crate::config::{Config, PromDuration, PrometheusMode, RemoteWrite, Target, Timing};

/// The job of the containers the daemon discovers through Docker's labels.
pub const DOCKER_SD_JOB: &str = "docker";

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrometheusConfig {
    pub global: Global,
    /// Relative to the file, so the directory works wherever it is mounted or copied.
    pub rule_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<Alerting>,
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<RemoteWriteConfig>,
}

/// One `remote_write` destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteWriteConfig {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    pub queue_config: QueueConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueConfig {
    pub capacity: u32,
    pub max_shards: u32,
    pub max_samples_per_send: u32,
    pub batch_send_deadline: PromDuration,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_sd_configs: Vec<HttpSdConfig>,
}

/// `Authorization: <type> <credentials from the file>` (type `Bearer` by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorization {
    pub credentials_file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasicAuth {
    pub username: String,
    pub password_file: String,
}

/// Prometheus's HTTP service discovery: targets from a URL answering JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpSdConfig {
    pub url: String,
    pub refresh_interval: PromDuration,
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
    /// A job with Prometheus's defaults and no targets.
    pub fn job(job: impl Into<String>) -> Self {
        Self {
            job_name: job.into(),
            scrape_interval: None,
            metrics_path: None,
            scheme: None,
            authorization: None,
            basic_auth: None,
            static_configs: Vec::new(),
            http_sd_configs: Vec::new(),
        }
    }

    /// A job scraping one `host:port` at `/metrics` over HTTP.
    pub fn single(job: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            static_configs: vec![StaticConfig::target(address)],
            ..Self::job(job)
        }
    }
}

impl PrometheusConfig {
    /// `prometheus.yml` for `config` in `context`: the profile's intervals, the external labels
    /// (`monibox_project`, `host` when the context has one, then `[prometheus] external_labels`),
    /// the rule files and Alertmanager (a server's, when it runs), the stack's own jobs, one job
    /// per user target, the Docker discovery job (unless `[discovery] docker` is off) and the
    /// `[[remote_write]]` destinations.
    pub fn new(config: &Config, context: &RenderContext, rule_files: Vec<String>) -> Self {
        let profile = config.timing.profile();
        let mut scrape_configs: Vec<ScrapeConfig> = context
            .scrape_targets
            .iter()
            .map(|target| ScrapeConfig {
                metrics_path: target.metrics_path.map(str::to_owned),
                ..ScrapeConfig::single(&target.job, &target.address)
            })
            .collect();
        scrape_configs.extend(
            config
                .targets
                .iter()
                .map(|target| user_job(target, context)),
        );
        if let Some(url) = context
            .docker_sd_url
            .as_ref()
            .filter(|_| config.discovery.docker)
        {
            scrape_configs.push(ScrapeConfig {
                http_sd_configs: vec![HttpSdConfig {
                    url: url.clone(),
                    refresh_interval: match config.timing {
                        Timing::Fast => PromDuration::from_secs(1),
                        Timing::Standard => PromDuration::from_secs(5),
                    },
                }],
                ..ScrapeConfig::job(DOCKER_SD_JOB)
            });
        }
        let mut external_labels = BTreeMap::from([(
            "monibox_project".to_owned(),
            config.project.as_str().to_owned(),
        )]);
        if let Some(host) = &context.host_name {
            external_labels.insert("host".to_owned(), host.clone());
        }
        external_labels.extend(
            config
                .prometheus
                .external_labels
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_str().to_owned())),
        );
        // An agent evaluates no rules and sends no alerts (Prometheus refuses both).
        let agent = config.prometheus.mode == PrometheusMode::Agent;
        Self {
            global: Global {
                scrape_interval: profile.scrape_interval,
                scrape_timeout: profile.scrape_timeout,
                evaluation_interval: profile.evaluation_interval,
                external_labels,
            },
            rule_files: if agent { Vec::new() } else { rule_files },
            alerting: context
                .alertmanager_address
                .as_ref()
                .filter(|_| !agent)
                .map(|address| Alerting {
                    alertmanagers: vec![AlertmanagerTargets {
                        static_configs: vec![StaticConfig::target(address.clone())],
                    }],
                }),
            scrape_configs,
            remote_write: config
                .remote_write
                .iter()
                .enumerate()
                .map(|(index, remote)| remote_write(index, remote, context))
                .collect(),
        }
    }

    /// The file's text: a comment saying where it comes from, then the YAML.
    pub fn to_yaml(&self, header: &str) -> Result<String, serde_norway::Error> {
        Ok(format!("{header}{}", serde_norway::to_string(self)?))
    }
}

/// A user target's job: its address (a loopback one through `context.loopback_host`), path,
/// scheme, interval, labels and credentials.
fn user_job(target: &Target, context: &RenderContext) -> ScrapeConfig {
    let (address, relayed) = match &context.loopback_host {
        Some(host) if target.address.is_loopback() => {
            (format!("{host}:{}", target.address.port), true)
        }
        _ => (target.address.host_port(), false),
    };
    let secret = |copy: String, original: &std::path::Path| secret_path(context, copy, original);
    let path = target.effective_path();
    let scheme = target.effective_scheme().to_string();
    let mut labels: BTreeMap<String, String> = target
        .labels
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.as_str().to_owned()))
        .collect();
    // A relayed target keeps the address the user wrote as its instance.
    if relayed {
        labels.insert("instance".to_owned(), target.address.host_port());
    }
    ScrapeConfig {
        scrape_interval: target.interval,
        metrics_path: (path != "/metrics").then(|| path.to_owned()),
        scheme: (scheme != "http").then_some(scheme),
        authorization: target.bearer_token_file.as_ref().map(|file| Authorization {
            credentials_file: secret(target.bearer_token_copy(), file),
        }),
        basic_auth: target.basic_auth.as_ref().map(|auth| BasicAuth {
            username: auth.username.as_str().to_owned(),
            password_file: secret(target.password_copy(), &auth.password_file),
        }),
        static_configs: vec![StaticConfig {
            targets: vec![address],
            labels,
        }],
        ..ScrapeConfig::job(target.name.as_str())
    }
}

/// Where Prometheus reads a credential file: monibox's copy in the container's secrets
/// directory, or the user's own file for a Prometheus on this machine.
fn secret_path(context: &RenderContext, copy: String, original: &std::path::Path) -> String {
    match &context.target_secrets_dir {
        Some(dir) => format!("{dir}/{copy}"),
        None => original.display().to_string(),
    }
}

/// One `[[remote_write]]` (the `index`-th) as Prometheus reads it.
fn remote_write(index: usize, remote: &RemoteWrite, context: &RenderContext) -> RemoteWriteConfig {
    // A receiver on this machine's loopback is reached like a loopback target: through the
    // daemon's relay on the gateway.
    let url = match &context.loopback_host {
        Some(host) if remote.url.is_loopback() => remote.url.with_host(host),
        _ => remote.url.as_str().to_owned(),
    };
    RemoteWriteConfig {
        url,
        name: remote.name.as_ref().map(|name| name.as_str().to_owned()),
        headers: remote
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.as_str().to_owned()))
            .collect(),
        authorization: remote.bearer_token_file.as_ref().map(|file| Authorization {
            credentials_file: secret_path(context, RemoteWrite::bearer_token_copy(index), file),
        }),
        basic_auth: remote.basic_auth.as_ref().map(|auth| BasicAuth {
            username: auth.username.as_str().to_owned(),
            password_file: secret_path(
                context,
                RemoteWrite::password_copy(index),
                &auth.password_file,
            ),
        }),
        queue_config: QueueConfig {
            capacity: remote.queue.capacity,
            max_shards: remote.queue.max_shards,
            max_samples_per_send: remote.queue.max_samples_per_send,
            batch_send_deadline: remote.queue.batch_send_deadline,
        },
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
            remote_write: vec![RemoteWriteConfig {
                url: "https://mimir.example/api/v1/push".to_owned(),
                name: Some("mimir".to_owned()),
                headers: BTreeMap::from([("X-Scope-OrgID".to_owned(), "team-a".to_owned())]),
                authorization: None,
                basic_auth: Some(BasicAuth {
                    username: "u".to_owned(),
                    password_file: "/run/p".to_owned(),
                }),
                queue_config: QueueConfig {
                    capacity: 10_000,
                    max_shards: 50,
                    max_samples_per_send: 2_000,
                    batch_send_deadline: PromDuration::from_secs(5),
                },
            }],
        };
        let text = config.to_yaml("# header\n").expect("serialises");
        assert!(text.starts_with("# header\nglobal:\n"), "{text}");
        assert!(text.contains("scrape_interval: 15s"), "{text}");
        assert!(!text.contains("alerting"), "{text}");
        let back: PrometheusConfig = serde_norway::from_str(&text).expect("parses");
        assert_eq!(back, config);
    }
}
