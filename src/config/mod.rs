//! The typed monibox configuration and how it is assembled: built-in defaults ← a TOML file
//! (`--config`) ← `MONIBOX_*` environment variables ← command-line flags. `config/monibox.toml`
//! documents every key and equals the built-in defaults.
//!
//! Callers pass the file path, the environment and the flag values in; nothing here reads the
//! process environment on its own. Every bad value is an error that names where it came from:
//! the file, key, line and column; the environment variable; or the flag.

mod containers;
mod discovery;
mod edit;
mod load;
mod locate;
mod quantities;
mod remote;
mod slo;
mod targets;
mod validate;
mod values;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use containers::{CONTAINERS_LABEL, ContainerScope, Containers};
pub use discovery::{Discovery, DockerLabel};
pub use edit::{EditError, add_target, remove_target};
pub use load::{
    ConfigError, ENV_KEYS, EnvValue, FlagValue, Loaded, Sources, TargetsFile, unknown_env_vars,
};
pub use quantities::{ByteSize, Fraction, Positive, PromDuration};
pub use remote::{PrometheusMode, PrometheusSettings, Queue, RemoteWrite};
pub use slo::{
    Availability, DEMO_JOB, DEMO_LATENCY, DEMO_REQUESTS, Events, Latency, Objective, Sli, Slo,
    SloName, WINDOW_PLACEHOLDER, default_window as default_slo_window, demo_slos,
};
pub use targets::{
    BasicAuth, JobName, LabelName, MetricsPath, RESERVED_JOBS, Scheme, Target, TargetAddress,
};
pub use values::{HttpUrl, Line, MetricName, Port, ProjectName};

/// The longest `/slow?ms=` delay the demo service accepts, so the configured range must fit.
pub const DEMO_SLOW_MAX_MS: u64 = 10_000;

/// Everything monibox can be told, after all layers are applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Names Docker objects (`monibox-<project>-<component>`) and labels every series.
    pub project: ProjectName,
    /// `standard` (15 s scrapes, production-like waits) or `fast` (1 s, for demos and tests).
    pub timing: Timing,
    pub ports: Ports,
    pub images: Images,
    pub components: Components,
    pub retention: Retention,
    pub alerts: Alerts,
    pub receivers: Receivers,
    pub demo: Demo,
    pub discovery: Discovery,
    pub containers: Containers,
    pub prometheus: PrometheusSettings,
    /// Where Prometheus also sends every sample.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<RemoteWrite>,
    /// The user's own scrape targets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
    /// Service-level objectives (`[[slo]]`), each with recording rules, burn-rate alerts and a
    /// dashboard row; the demo service's by default. Giving any replaces the defaults.
    pub slo: Vec<Slo>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            project: ProjectName::try_from("default".to_owned())
                .expect("the built-in project name is valid"),
            timing: Timing::Standard,
            ports: Ports::default(),
            images: Images::default(),
            components: Components::default(),
            retention: Retention::default(),
            alerts: Alerts::default(),
            receivers: Receivers::default(),
            demo: Demo::default(),
            discovery: Discovery::default(),
            containers: Containers::default(),
            prometheus: PrometheusSettings::default(),
            remote_write: Vec::new(),
            targets: Vec::new(),
            slo: demo_slos(),
        }
    }
}

/// Host ports. The app and ops ports are the daemon's own listeners; the others are where the
/// containers are published on 127.0.0.1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ports {
    /// The demo service.
    pub app: Port,
    /// The daemon's self-metrics (`/metrics`) and Alertmanager webhook (`/alerts`).
    pub ops: Port,
    pub prometheus: Port,
    pub alertmanager: Port,
    pub grafana: Port,
    /// node_exporter's host metrics (`ports.node-exporter`).
    #[serde(rename = "node-exporter")]
    pub node_exporter: Port,
}

impl Ports {
    pub const DEFAULT_APP: u16 = 5000;
    pub const DEFAULT_OPS: u16 = 5001;
    pub const DEFAULT_PROMETHEUS: u16 = 9090;
    pub const DEFAULT_ALERTMANAGER: u16 = 9093;
    pub const DEFAULT_GRAFANA: u16 = 3000;
    pub const DEFAULT_NODE_EXPORTER: u16 = 9100;

    /// Each port with its key and the standard number used where `auto` cannot apply.
    pub fn entries(&self) -> [(&'static str, Port, u16); 6] {
        [
            ("app", self.app, Self::DEFAULT_APP),
            ("ops", self.ops, Self::DEFAULT_OPS),
            ("prometheus", self.prometheus, Self::DEFAULT_PROMETHEUS),
            (
                "alertmanager",
                self.alertmanager,
                Self::DEFAULT_ALERTMANAGER,
            ),
            ("grafana", self.grafana, Self::DEFAULT_GRAFANA),
            (
                "node-exporter",
                self.node_exporter,
                Self::DEFAULT_NODE_EXPORTER,
            ),
        ]
    }
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            app: Port::fixed(Self::DEFAULT_APP),
            ops: Port::fixed(Self::DEFAULT_OPS),
            prometheus: Port::fixed(Self::DEFAULT_PROMETHEUS),
            alertmanager: Port::fixed(Self::DEFAULT_ALERTMANAGER),
            grafana: Port::fixed(Self::DEFAULT_GRAFANA),
            node_exporter: Port::fixed(Self::DEFAULT_NODE_EXPORTER),
        }
    }
}

/// Container images, pinned to tested releases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Images {
    pub prometheus: Line,
    pub alertmanager: Line,
    pub grafana: Line,
    #[serde(rename = "node-exporter")]
    pub node_exporter: Line,
}

impl Default for Images {
    fn default() -> Self {
        Self {
            prometheus: Line::from("prom/prometheus:v3.5.0"),
            alertmanager: Line::from("prom/alertmanager:v0.28.1"),
            grafana: Line::from("grafana/grafana:12.1.0"),
            node_exporter: Line::from("prom/node-exporter:v1.9.1"),
        }
    }
}

/// Which of the stack's containerised components run (one key per catalog component, each on by
/// default). A component switched off is not created, probed or scraped; the daemon (the demo
/// service and the ops listener) always runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Components {
    pub prometheus: bool,
    pub alertmanager: bool,
    pub grafana: bool,
    /// Host metrics (`components.node-exporter`).
    #[serde(rename = "node-exporter")]
    pub node_exporter: bool,
}

impl Components {
    /// Whether `name` is a component (its key here) switched off; false for other names.
    pub fn is_off(&self, name: &str) -> bool {
        match name {
            "prometheus" => !self.prometheus,
            "alertmanager" => !self.alertmanager,
            "grafana" => !self.grafana,
            "node-exporter" => !self.node_exporter,
            _ => false,
        }
    }
}

impl Default for Components {
    fn default() -> Self {
        Self {
            prometheus: true,
            alertmanager: true,
            grafana: true,
            node_exporter: true,
        }
    }
}

/// How long Prometheus keeps samples; whichever limit is reached first applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    pub time: PromDuration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<ByteSize>,
}

impl Retention {
    /// The Prometheus command-line flags that apply this retention.
    pub fn prometheus_flags(&self) -> Vec<String> {
        let mut flags = vec![format!("--storage.tsdb.retention.time={}", self.time)];
        if let Some(size) = self.size {
            flags.push(format!("--storage.tsdb.retention.size={size}"));
        }
        flags
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            time: PromDuration::from_secs(15 * 24 * 3600),
            size: None,
        }
    }
}

/// Alert thresholds. Each one is named after the alert it drives (see `docs/runbooks.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Alerts {
    /// HighErrorRate: errors per second counted by `app_error_count_total`, over 5 minutes.
    pub error_rate_per_second: Positive,
    /// HighErrorRatio: share of responses with a 5xx status, over 5 minutes.
    pub error_ratio: Fraction,
    /// HighLatencyP95: 95th percentile request latency in seconds, over 5 minutes.
    pub latency_p95_seconds: Positive,
    /// AppHighCpu: CPU used by the service process, in cores.
    pub cpu_cores: Positive,
    /// AppHighMemory: resident memory of the service process.
    pub memory: ByteSize,
    /// ContainerRestartingOften and ContainerRestarting: restarts of one component (by monibox)
    /// or one container (by the Engine) within 15 minutes.
    pub container_restarts: u32,
    /// Where `runbook_url` annotations point; unset means the runbooks shipped with the bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runbook_base_url: Option<HttpUrl>,
}

impl Default for Alerts {
    fn default() -> Self {
        Self {
            error_rate_per_second: Positive::try_from(0.1).expect("valid built-in threshold"),
            error_ratio: Fraction::try_from(0.05).expect("valid built-in threshold"),
            latency_p95_seconds: Positive::try_from(1.0).expect("valid built-in threshold"),
            cpu_cores: Positive::try_from(0.9).expect("valid built-in threshold"),
            memory: ByteSize::from_bytes(512 << 20),
            container_restarts: 3,
            runbook_base_url: None,
        }
    }
}

/// Where Alertmanager sends notifications besides the monibox daemon.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Receivers {
    /// Generic webhooks (Alertmanager's JSON payload), for critical and warning alerts.
    pub webhooks: Vec<HttpUrl>,
    /// Slack incoming webhook, for critical and warning alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack: Option<Slack>,
    /// E-mail, for critical alerts only: warnings do not page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slack {
    pub api_url: HttpUrl,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Line>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    pub to: Line,
    pub from: Line,
    /// `host:port` of the SMTP server.
    pub smarthost: Line,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_username: Option<Line>,
    /// Written into the rendered `alertmanager.yml`; prefer a local relay without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<Line>,
    #[serde(default = "require_tls_default")]
    pub require_tls: bool,
}

fn require_tls_default() -> bool {
    true
}

/// Behaviour of the demo service, passed to it by the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Demo {
    /// `/slow` sleeps a uniform random time in `slow_min_ms..=slow_max_ms`.
    pub slow_min_ms: u64,
    pub slow_max_ms: u64,
    /// Probability that `/error` answers 500.
    pub error_rate: Fraction,
}

impl Default for Demo {
    fn default() -> Self {
        Self {
            slow_min_ms: 100,
            slow_max_ms: 500,
            error_rate: Fraction::try_from(0.3).expect("valid built-in rate"),
        }
    }
}

/// The timing profile: how often things are scraped and evaluated, and how quickly alerts are
/// sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timing {
    /// 15 s scrapes and evaluations, the usual Alertmanager waits.
    Standard,
    /// 1 s scrapes and evaluations, short `for:` and notification waits: alerts fire within
    /// seconds, for demos and end-to-end tests.
    Fast,
}

impl Timing {
    pub fn profile(self) -> TimingProfile {
        let secs = PromDuration::from_secs;
        match self {
            Timing::Standard => TimingProfile {
                scrape_interval: secs(15),
                scrape_timeout: secs(10),
                evaluation_interval: secs(15),
                group_wait: secs(30),
                group_interval: secs(5 * 60),
                repeat_interval: secs(4 * 3600),
                critical_group_wait: secs(10),
                critical_repeat_interval: secs(3600),
            },
            Timing::Fast => TimingProfile {
                scrape_interval: secs(1),
                scrape_timeout: secs(1),
                evaluation_interval: secs(1),
                group_wait: secs(1),
                group_interval: secs(2),
                repeat_interval: secs(60),
                critical_group_wait: secs(1),
                critical_repeat_interval: secs(30),
            },
        }
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timing::Standard => "standard",
            Timing::Fast => "fast",
        })
    }
}

/// The intervals and waits of one timing profile. Alert `for:` durations live with the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimingProfile {
    pub scrape_interval: PromDuration,
    pub scrape_timeout: PromDuration,
    pub evaluation_interval: PromDuration,
    /// Alertmanager's waits for warnings and anything without a severity.
    pub group_wait: PromDuration,
    pub group_interval: PromDuration,
    pub repeat_interval: PromDuration,
    /// Critical alerts are sent sooner and repeated more often.
    pub critical_group_wait: PromDuration,
    pub critical_repeat_interval: PromDuration,
}

impl Config {
    /// The effective configuration as TOML, in the same shape as `config/monibox.toml`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("every configuration value has a TOML form")
    }
}
