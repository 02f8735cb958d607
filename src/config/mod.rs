//! The typed monibox configuration and how it is assembled: built-in defaults ← a TOML file
//! (`--config`) ← `MONIBOX_*` environment variables ← command-line flags. `config/monibox.toml`
//! documents every key and equals the built-in defaults.
//!
//! Callers pass the file path, the environment and the flag values in; nothing here reads the
//! process environment on its own. Every bad value is an error that names where it came from:
//! the file, key, line and column; the environment variable; or the flag.

mod values;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use values::{ByteSize, Fraction, HttpUrl, Line, Port, Positive, ProjectName, PromDuration};

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
    pub retention: Retention,
    pub alerts: Alerts,
    pub receivers: Receivers,
    pub demo: Demo,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            project: ProjectName::try_from("default".to_owned())
                .expect("the built-in project name is valid"),
            timing: Timing::Standard,
            ports: Ports::default(),
            images: Images::default(),
            retention: Retention::default(),
            alerts: Alerts::default(),
            receivers: Receivers::default(),
            demo: Demo::default(),
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
}

impl Ports {
    pub const DEFAULT_APP: u16 = 5000;
    pub const DEFAULT_OPS: u16 = 5001;
    pub const DEFAULT_PROMETHEUS: u16 = 9090;
    pub const DEFAULT_ALERTMANAGER: u16 = 9093;
    pub const DEFAULT_GRAFANA: u16 = 3000;

    /// Each port with its key and the standard number used where `auto` cannot apply.
    pub fn entries(&self) -> [(&'static str, Port, u16); 5] {
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
}

impl Default for Images {
    fn default() -> Self {
        Self {
            prometheus: Line::from("prom/prometheus:v3.5.0"),
            alertmanager: Line::from("prom/alertmanager:v0.28.1"),
            grafana: Line::from("grafana/grafana:12.1.0"),
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
    /// ContainerRestartingOften: restarts of one component within 15 minutes.
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

/// Why a configuration could not be loaded. Each variant says where the bad value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {} (check the --config path)", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {key}: {message}", path.display())]
    File {
        path: PathBuf,
        key: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("environment variable {var}={value:?} (sets {key}): {message}")]
    Env {
        var: String,
        value: String,
        key: String,
        message: String,
    },
    #[error("{flag} {value:?}: {message}")]
    Flag {
        flag: String,
        value: String,
        message: String,
    },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

/// The environment variables that set configuration keys, and how their text is read. Other
/// keys are set in a config file.
pub const ENV_KEYS: [(&str, &str, EnvValue); 12] = [
    ("MONIBOX_PROJECT", "project", EnvValue::Text),
    ("MONIBOX_TIMING", "timing", EnvValue::Text),
    ("MONIBOX_PORTS_APP", "ports.app", EnvValue::Port),
    ("MONIBOX_PORTS_OPS", "ports.ops", EnvValue::Port),
    (
        "MONIBOX_PORTS_PROMETHEUS",
        "ports.prometheus",
        EnvValue::Port,
    ),
    (
        "MONIBOX_PORTS_ALERTMANAGER",
        "ports.alertmanager",
        EnvValue::Port,
    ),
    ("MONIBOX_PORTS_GRAFANA", "ports.grafana", EnvValue::Port),
    (
        "MONIBOX_IMAGES_PROMETHEUS",
        "images.prometheus",
        EnvValue::Text,
    ),
    (
        "MONIBOX_IMAGES_ALERTMANAGER",
        "images.alertmanager",
        EnvValue::Text,
    ),
    ("MONIBOX_IMAGES_GRAFANA", "images.grafana", EnvValue::Text),
    ("MONIBOX_RETENTION_TIME", "retention.time", EnvValue::Text),
    ("MONIBOX_RETENTION_SIZE", "retention.size", EnvValue::Text),
];

/// The `MONIBOX_*` variables in `env` that are neither in [`ENV_KEYS`] nor in `also_known`
/// (variables read elsewhere, such as by the command line): most likely typos, which would
/// otherwise be ignored without a word.
pub fn unknown_env_vars<'a>(env: &'a [(String, String)], also_known: &[&str]) -> Vec<&'a str> {
    env.iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| name.starts_with("MONIBOX_"))
        .filter(|name| {
            !ENV_KEYS.iter().any(|(known, _, _)| known == name) && !also_known.contains(name)
        })
        .collect()
}

/// How an environment variable's text becomes a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvValue {
    Text,
    /// A number when it is one, else text (`auto`).
    Port,
}

/// One value set on the command line: the flag as the user typed it and the key it sets.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagValue {
    pub flag: &'static str,
    pub key: &'static str,
    pub value: String,
}

/// What to build the configuration from, in increasing precedence after the defaults.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub file: Option<PathBuf>,
    /// The process environment (or any list of variables); unrelated variables are ignored.
    pub env: Vec<(String, String)>,
    pub flags: Vec<FlagValue>,
}

/// The effective configuration and the layers that contributed to it, lowest first.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub layers: Vec<String>,
}

impl Config {
    /// Applies the layers in `sources` over the built-in defaults and validates the result.
    pub fn load(sources: &Sources) -> Result<Loaded, ConfigError> {
        let mut layers = vec!["built-in defaults".to_owned()];
        let mut config = match &sources.file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                layers.push(format!("file {}", path.display()));
                Self::from_toml(&text, path)?
            }
            None => Config::default(),
        };
        for (var, key, kind) in ENV_KEYS {
            let Some((_, text)) = sources.env.iter().find(|(name, _)| name == var) else {
                continue;
            };
            if text.is_empty() {
                continue;
            }
            let value = match kind {
                EnvValue::Port => text
                    .parse::<i64>()
                    .map(toml::Value::Integer)
                    .unwrap_or_else(|_| toml::Value::String(text.clone())),
                EnvValue::Text => toml::Value::String(text.clone()),
            };
            config = config
                .with_value(key, value)
                .map_err(|message| ConfigError::Env {
                    var: var.to_owned(),
                    value: text.clone(),
                    key: key.to_owned(),
                    message,
                })?;
            layers.push(format!("env {var}"));
        }
        for flag in &sources.flags {
            config = config
                .with_value(flag.key, toml::Value::String(flag.value.clone()))
                .map_err(|message| ConfigError::Flag {
                    flag: flag.flag.to_owned(),
                    value: flag.value.clone(),
                    message,
                })?;
            layers.push(format!("flag {}", flag.flag));
        }
        config.validate()?;
        Ok(Loaded { config, layers })
    }

    /// Parses a config file's text; keys it leaves out keep their defaults. `path` only names
    /// the file in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|error| {
            let offset = error.span().map(|span| span.start).unwrap_or(0);
            let (line, column) = line_and_column(text, offset);
            ConfigError::File {
                path: path.to_owned(),
                key: key_at(text, offset)
                    .or_else(|| key_on_line(text, offset))
                    .unwrap_or_else(|| "(document)".to_owned()),
                line,
                column,
                message: error.message().trim_end().to_owned(),
            }
        })
    }

    /// The effective configuration as TOML, in the same shape as `config/monibox.toml`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("every configuration value has a TOML form")
    }

    /// A copy with one dotted key replaced, checked by the same rules as the file.
    fn with_value(&self, key: &str, value: toml::Value) -> Result<Config, String> {
        let mut table = toml::Table::try_from(self).map_err(|error| error.to_string())?;
        let mut parts: Vec<&str> = key.split('.').collect();
        let leaf = parts.pop().unwrap_or(key);
        let mut current = &mut table;
        for part in parts {
            current = current
                .entry(part)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| format!("{part} is not a section"))?;
        }
        current.insert(leaf.to_owned(), value);
        toml::Value::Table(table)
            .try_into()
            .map_err(|error: toml::de::Error| error.message().trim_end().to_owned())
    }

    /// Checks that span several keys; single values were checked while parsing.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            message,
        };
        let mut seen: Vec<(&str, u16)> = Vec::new();
        for (name, port, _) in self.ports.entries() {
            if let Some(number) = port.number() {
                if let Some((other, _)) = seen.iter().find(|(_, taken)| *taken == number) {
                    return Err(invalid(
                        &format!("ports.{name}"),
                        format!(
                            "port {number} is also used by ports.{other}; give each component \
                             its own port or \"auto\""
                        ),
                    ));
                }
                seen.push((name, number));
            }
        }
        if self.demo.slow_min_ms > self.demo.slow_max_ms {
            return Err(invalid(
                "demo.slow_min_ms",
                format!(
                    "{} is above demo.slow_max_ms ({})",
                    self.demo.slow_min_ms, self.demo.slow_max_ms
                ),
            ));
        }
        if self.demo.slow_max_ms > DEMO_SLOW_MAX_MS {
            return Err(invalid(
                "demo.slow_max_ms",
                format!(
                    "{} is above the demo service's limit of {DEMO_SLOW_MAX_MS} ms",
                    self.demo.slow_max_ms
                ),
            ));
        }
        if self.alerts.error_ratio.get() <= 0.0 {
            return Err(invalid(
                "alerts.error_ratio",
                "it must be above 0, or the alert would always fire".to_owned(),
            ));
        }
        if let Some(email) = &self.receivers.email {
            for (key, address) in [("to", &email.to), ("from", &email.from)] {
                if !address.as_str().contains('@') {
                    return Err(invalid(
                        &format!("receivers.email.{key}"),
                        format!("{:?} is not an e-mail address", address.as_str()),
                    ));
                }
            }
            let has_port = email
                .smarthost
                .as_str()
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !has_port {
                return Err(invalid(
                    "receivers.email.smarthost",
                    format!(
                        "{:?} must be host:port, e.g. smtp.example.com:587",
                        email.smarthost.as_str()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

/// The dotted key whose name or value covers `offset`, found by parsing the text again with
/// spans; `None` when the text does not parse as TOML at all.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    find_key(document.get_ref(), offset, &mut path).then(|| path.join("."))
}

/// The dotted key on the line holding `offset`, read from the text itself: the table header
/// above it and the key before `=`, or the header when the line is one. For documents that do
/// not parse as TOML at all, such as one with a duplicate key.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let line_start = text
        .get(..offset)?
        .rfind('\n')
        .map_or(0, |newline| newline + 1);
    let line = text[line_start..].lines().next().unwrap_or_default().trim();
    let header = |line: &str| {
        let inner = line.strip_prefix('[')?.trim_start_matches('[');
        let name = inner.split(']').next().unwrap_or_default().trim();
        (!name.is_empty()).then(|| name.to_owned())
    };
    if line.starts_with('[') {
        return header(line);
    }
    let key = line.split_once('=')?.0.trim();
    if key.is_empty() {
        return None;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find_map(header);
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_owned(),
    })
}

fn find_key(table: &toml::de::DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        if let Some(inner) = value.get_ref().as_table()
            && find_key(inner, offset, path)
        {
            return true;
        }
        if key.span().contains(&offset) || value.span().contains(&offset) {
            return true;
        }
        path.pop();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_error(text: &str) -> (String, usize) {
        match Config::from_toml(text, Path::new("test.toml")) {
            Err(ConfigError::File { key, line, .. }) => (key, line),
            other => panic!("expected a file error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn file_errors_name_the_key_and_line() {
        assert_eq!(
            file_error("project = \"x\"\n\n[ports]\napp = 5000\nap = 5001\n"),
            ("ports.ap".to_owned(), 5)
        );
        assert_eq!(
            file_error("[ports]\napp = \"five\"\n"),
            ("ports.app".to_owned(), 2)
        );
        assert_eq!(
            file_error("[ports]\napp = 70000\n"),
            ("ports.app".to_owned(), 2)
        );
        assert_eq!(file_error("timing = \"slow\"\n"), ("timing".to_owned(), 1));
        assert_eq!(
            file_error("[alerts]\nerror_ratio = 1.5\n"),
            ("alerts.error_ratio".to_owned(), 2)
        );
        assert_eq!(
            file_error("[receivers]\nwebhooks = [\"http://a\", \"nope\"]\n"),
            ("receivers.webhooks".to_owned(), 2)
        );
        assert_eq!(
            file_error(
                "[receivers.slack]\napi_url = \"https://hooks.example/x\"\nchanel = \"#a\"\n"
            ),
            ("receivers.slack.chanel".to_owned(), 3)
        );
        assert_eq!(file_error("color = 1\n"), ("color".to_owned(), 1));
        assert_eq!(
            file_error("[retention]\ntime = \"300y\"\n"),
            ("retention.time".to_owned(), 2),
            "longer than Prometheus accepts"
        );
        assert_eq!(
            file_error("[ports]\napp = 5000\nops = 5001\napp = 6000\n"),
            ("ports.app".to_owned(), 4),
            "a duplicate key is named"
        );
        assert_eq!(
            file_error("project = \"a\"\nproject = \"b\"\n"),
            ("project".to_owned(), 2)
        );
        assert_eq!(
            file_error("[ports]\napp = 5000\n\n[ports]\nops = 1\n"),
            ("ports".to_owned(), 4),
            "a duplicate table is named"
        );
        assert_eq!(file_error("[ports\n").1, 1);
    }

    #[test]
    fn missing_keys_keep_their_defaults() {
        let config = Config::from_toml("[ports]\napp = \"auto\"\n", Path::new("t")).expect("valid");
        assert_eq!(config.ports.app, Port::Auto);
        assert_eq!(config.ports.ops, Ports::default().ops);
        assert_eq!(config.images, Images::default());
    }

    #[test]
    fn layers_apply_in_order_env_then_flags() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("monibox.toml");
        std::fs::write(
            &path,
            "project = \"from-file\"\ntiming = \"fast\"\n[ports]\napp = 6000\n",
        )
        .expect("write");
        let sources = Sources {
            file: Some(path),
            env: vec![
                ("MONIBOX_PROJECT".into(), "from-env".into()),
                ("MONIBOX_PORTS_APP".into(), "auto".into()),
                ("MONIBOX_PORTS_OPS".into(), "6001".into()),
                ("MONIBOX_RETENTION_SIZE".into(), "2GB".into()),
                ("MONIBOX_TIMING".into(), String::new()),
                ("UNRELATED".into(), "x".into()),
            ],
            flags: vec![FlagValue {
                flag: "--project",
                key: "project",
                value: "from-flag".into(),
            }],
        };
        let loaded = Config::load(&sources).expect("valid layers");
        assert_eq!(loaded.config.project.as_str(), "from-flag");
        assert_eq!(loaded.config.timing, Timing::Fast);
        assert_eq!(loaded.config.ports.app, Port::Auto);
        assert_eq!(loaded.config.ports.ops, Port::fixed(6001));
        assert_eq!(
            loaded.config.retention.size,
            Some(ByteSize::from_bytes(2 << 30))
        );
        assert_eq!(loaded.layers.len(), 7, "{:?}", loaded.layers);
    }

    #[test]
    fn unknown_monibox_variables_are_found() {
        let env: Vec<(String, String)> = [
            ("MONIBOX_PORT_APP", "6000"),
            ("MONIBOX_PORTS_APP", "6000"),
            ("MONIBOX_STATE_DIR", "/tmp/x"),
            ("PATH", "/bin"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        assert_eq!(
            unknown_env_vars(&env, &["MONIBOX_STATE_DIR"]),
            ["MONIBOX_PORT_APP"]
        );
    }

    #[test]
    fn env_and_flag_errors_name_their_source() {
        let env_error = Config::load(&Sources {
            env: vec![("MONIBOX_PORTS_GRAFANA".into(), "0".into())],
            ..Sources::default()
        })
        .expect_err("port 0 is refused");
        assert!(
            env_error.to_string().contains("MONIBOX_PORTS_GRAFANA"),
            "{env_error}"
        );
        let flag_error = Config::load(&Sources {
            flags: vec![FlagValue {
                flag: "--project",
                key: "project",
                value: "Bad Name".into(),
            }],
            ..Sources::default()
        })
        .expect_err("bad project name is refused");
        assert!(
            flag_error.to_string().starts_with("--project"),
            "{flag_error}"
        );
    }

    #[test]
    fn cross_key_checks() {
        let mut config = Config::default();
        config.ports.grafana = Port::fixed(5000);
        assert!(
            matches!(config.validate(), Err(ConfigError::Invalid { key, .. }) if key == "ports.grafana")
        );
        let mut config = Config::default();
        config.demo.slow_min_ms = 900;
        assert!(config.validate().is_err());
        let config = Config::from_toml(
            "[receivers.email]\nto = \"ops@example.com\"\nfrom = \"monibox@example.com\"\nsmarthost = \"smtp.example.com\"\n",
            Path::new("t"),
        )
        .expect("parses");
        assert!(
            matches!(config.validate(), Err(ConfigError::Invalid { key, .. }) if key == "receivers.email.smarthost")
        );
    }

    #[test]
    fn effective_config_round_trips_through_toml() {
        let mut config = Config::default();
        config.ports.app = Port::Auto;
        config.retention.size = Some(ByteSize::from_bytes(1 << 30));
        config.receivers.webhooks =
            vec![HttpUrl::try_from("http://127.0.0.1:9/x".to_owned()).expect("url")];
        let text = config.to_toml();
        assert_eq!(
            Config::from_toml(&text, Path::new("t")).expect("parses"),
            config
        );
    }
}
