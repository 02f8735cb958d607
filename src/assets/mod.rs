//! The monitoring bundle: the top-level `assets/` directory embedded in the binary, rendered from
//! a [`Config`] and a [`RenderContext`] into a [`Bundle`] of files, and written to a directory.
//!
//! Layout of a bundle (paths relative to its root; see [`paths`]):
//!
//! ```text
//! prometheus/prometheus.yml            rule files are referenced relative to it
//! prometheus/rules/{recording,alerts}.yml
//! alertmanager/alertmanager.yml
//! grafana/grafana.ini
//! grafana/provisioning/datasources/prometheus.yml
//! grafana/provisioning/dashboards/monibox.yml
//! grafana/dashboards/*.json            static, validated and copied
//! runbooks.md                          docs/runbooks.md; runbook_urls point here, or for the
//!                                      stack at the daemon's /runbooks page
//! README.txt                           how to run each tool against the directory
//! ```
//!
//! `*.yml`, `*.ini` and `*.txt` files are templates with `${name}` placeholders (see
//! `template.rs`); dashboards are copied after a JSON check.

mod template;

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

use crate::config::{Config, Email, PromDuration, Slack, Timing};
pub use template::TemplateError;
use template::{Format, Value, Yaml};

static ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets");

/// The runbooks every alert links to (`docs/runbooks.md`), shipped inside each bundle.
pub const RUNBOOKS: &str = include_str!("../../docs/runbooks.md");

/// Paths of the bundle's files, relative to its root.
pub mod paths {
    pub const PROMETHEUS_DIR: &str = "prometheus";
    pub const PROMETHEUS_CONFIG: &str = "prometheus/prometheus.yml";
    pub const RECORDING_RULES: &str = "prometheus/rules/recording.yml";
    pub const ALERT_RULES: &str = "prometheus/rules/alerts.yml";
    pub const ALERTMANAGER_DIR: &str = "alertmanager";
    pub const ALERTMANAGER_CONFIG: &str = "alertmanager/alertmanager.yml";
    pub const GRAFANA_DIR: &str = "grafana";
    pub const GRAFANA_INI: &str = "grafana/grafana.ini";
    pub const GRAFANA_DATASOURCES: &str = "grafana/provisioning/datasources/prometheus.yml";
    pub const GRAFANA_DASHBOARD_PROVIDER: &str = "grafana/provisioning/dashboards/monibox.yml";
    pub const GRAFANA_DASHBOARDS_DIR: &str = "grafana/dashboards";
    pub const RUNBOOKS: &str = "runbooks.md";
    pub const README: &str = "README.txt";
}

/// Where each component directory of the bundle is mounted in the stack's containers. The
/// official images read their configuration from exactly these places.
pub mod container_paths {
    /// `prometheus/` → `--config.file=/etc/prometheus/prometheus.yml`.
    pub const PROMETHEUS_DIR: &str = "/etc/prometheus";
    /// `alertmanager/` → `--config.file=/etc/alertmanager/alertmanager.yml`.
    pub const ALERTMANAGER_DIR: &str = "/etc/alertmanager";
    /// `grafana/` → the image's `GF_PATHS_CONFIG` (`grafana.ini`) and `GF_PATHS_PROVISIONING`
    /// (`provisioning/`) both point inside it.
    pub const GRAFANA_DIR: &str = "/etc/grafana";
    pub const GRAFANA_DASHBOARDS_DIR: &str = "/etc/grafana/dashboards";
}

/// The uid of the provisioned Prometheus datasource; every dashboard panel refers to it.
pub const DATASOURCE_UID: &str = "monibox-prometheus";

/// Each alert and its `for:` duration in the standard and the fast timing profile. The fast
/// values let an end-to-end test see an alert fire within seconds.
const ALERT_FOR: [(&str, u64, u64); 12] = [
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
];

/// The names of every alert the bundle's rules define.
pub fn alert_names() -> impl Iterator<Item = &'static str> {
    ALERT_FOR.iter().map(|(name, _, _)| *name)
}

/// Where things are, as seen from the component that uses each address. Everything in the
/// rendered files that depends on the environment comes from here; everything that depends on
/// the user's wishes comes from the [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderContext {
    /// `host:port` Prometheus scrapes for job `app` (the demo service).
    pub app_address: String,
    /// `host:port` Prometheus scrapes for job `monibox` (the daemon's ops listener).
    pub monibox_address: String,
    /// The URL Alertmanager posts notifications to (the daemon's `/alerts`).
    pub webhook_url: String,
    /// `host:port` of Prometheus, for its self-scrape and for Grafana's datasource.
    pub prometheus_address: String,
    /// `host:port` of Alertmanager, for alerting and its scrape.
    pub alertmanager_address: String,
    /// `host:port` of Grafana, for its scrape.
    pub grafana_address: String,
    /// The directory Grafana loads dashboards from, as Grafana sees it.
    pub grafana_dashboards_dir: String,
    /// The URL of `runbooks.md`; each alert links to `<this>#<alert name in lowercase>`.
    pub runbooks_url: String,
}

impl RenderContext {
    /// The stack `monibox up` runs: Prometheus reaches the daemon's listeners on the host as
    /// `host.docker.internal` (mapped to the monibox network's gateway) and the other components
    /// by their network aliases `prometheus`, `alertmanager` and `grafana` on their standard
    /// container ports. The bundle's component directories are mounted at
    /// [`container_paths`]. `app_port` and `ops_port` are the daemon's actual ports (after `auto`
    /// was resolved); runbook links point at the daemon's `/runbooks` page, which a browser on
    /// this machine opens.
    pub fn stack(app_port: u16, ops_port: u16) -> Self {
        Self {
            app_address: format!("host.docker.internal:{app_port}"),
            monibox_address: format!("host.docker.internal:{ops_port}"),
            webhook_url: format!("http://host.docker.internal:{ops_port}/alerts"),
            prometheus_address: "prometheus:9090".to_owned(),
            alertmanager_address: "alertmanager:9093".to_owned(),
            grafana_address: "grafana:3000".to_owned(),
            grafana_dashboards_dir: container_paths::GRAFANA_DASHBOARDS_DIR.to_owned(),
            runbooks_url: format!("http://127.0.0.1:{ops_port}/runbooks"),
        }
    }

    /// A bundle for the user's own Prometheus, Alertmanager and Grafana on this machine
    /// (`monibox config export`): every address is `localhost:<configured port>`, where a port
    /// set to `auto` takes its standard number (5000, 5001, 9090, 9093, 3000). `dir` is the
    /// absolute directory the bundle is written to; Grafana reads the dashboards from it.
    pub fn export(config: &Config, dir: &Path) -> Self {
        let port = |name: &str| {
            config
                .ports
                .entries()
                .iter()
                .find(|(key, _, _)| *key == name)
                .map(|(_, port, default)| port.number().unwrap_or(*default))
                .unwrap_or_default()
        };
        Self {
            app_address: format!("localhost:{}", port("app")),
            monibox_address: format!("localhost:{}", port("ops")),
            webhook_url: format!("http://localhost:{}/alerts", port("ops")),
            prometheus_address: format!("localhost:{}", port("prometheus")),
            alertmanager_address: format!("localhost:{}", port("alertmanager")),
            grafana_address: format!("localhost:{}", port("grafana")),
            grafana_dashboards_dir: dir
                .join(paths::GRAFANA_DASHBOARDS_DIR)
                .display()
                .to_string(),
            runbooks_url: file_url(&dir.join(paths::RUNBOOKS)),
        }
    }
}

/// A `file://` URL for an absolute path, with anything but unreserved characters and `/`
/// percent-encoded.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

/// Why the bundle could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("cannot render the embedded asset {file}")]
    Template { file: String, source: TemplateError },
    #[error(
        "{file} must name the bundle's directory {dir:?}, but {reason}; export to a directory whose path has no double quote or control character (such as a newline)"
    )]
    Directory {
        file: String,
        dir: String,
        reason: String,
    },
    #[error("embedded asset {file} is not UTF-8 text")]
    NotText { file: String },
    #[error("embedded dashboard {file} is not valid JSON: {message}")]
    Dashboard { file: String, message: String },
    #[error("cannot write {} (check that the directory is writable)", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Placeholders whose values are paths in the directory the bundle is written to (for an
/// export): a value refused there is the directory's fault, not the assets'.
const DIRECTORY_PLACEHOLDERS: [&str; 2] = ["grafana_dashboards_dir", "grafana_home_dashboard"];

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Relative, `/`-separated.
    pub path: String,
    pub contents: Vec<u8>,
}

/// The rendered monitoring configuration: every file, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    files: Vec<BundleFile>,
}

impl Bundle {
    /// Renders every embedded asset for `config` in `context`.
    pub fn render(config: &Config, context: &RenderContext) -> Result<Bundle, AssetError> {
        let values = Values::new(config, context);
        let mut files = Vec::new();
        for file in embedded_files(&ASSETS) {
            let path = file.path().to_string_lossy().replace('\\', "/");
            let contents = file.contents();
            let rendered = if let Some(format) = Format::of(&path) {
                let text = std::str::from_utf8(contents)
                    .map_err(|_| AssetError::NotText { file: path.clone() })?;
                template::render(text, format, |name| values.lookup(name))
                    .map_err(|source| match source {
                        TemplateError::BadValue { name, reason, .. }
                            if DIRECTORY_PLACEHOLDERS.contains(&name.as_str()) =>
                        {
                            AssetError::Directory {
                                file: path.clone(),
                                dir: context.grafana_dashboards_dir.clone(),
                                reason,
                            }
                        }
                        source => AssetError::Template {
                            file: path.clone(),
                            source,
                        },
                    })?
                    .into_bytes()
            } else {
                if path.ends_with(".json") {
                    serde_json::from_slice::<serde_json::Value>(contents).map_err(|error| {
                        AssetError::Dashboard {
                            file: path.clone(),
                            message: error.to_string(),
                        }
                    })?;
                }
                contents.to_vec()
            };
            files.push(BundleFile {
                path,
                contents: rendered,
            });
        }
        files.push(BundleFile {
            path: paths::RUNBOOKS.to_owned(),
            contents: RUNBOOKS.as_bytes().to_vec(),
        });
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Bundle { files })
    }

    pub fn files(&self) -> &[BundleFile] {
        &self.files
    }

    /// The contents of one file, by its relative path.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|file| file.path == path)
            .map(|file| file.contents.as_slice())
    }

    /// Writes every file under `dir`, creating directories as needed. Each file is written to
    /// a temporary name and renamed, so a component reloading its configuration never reads a
    /// half-written file. Files not in the bundle are left alone.
    pub fn write_to(&self, dir: &Path) -> Result<(), AssetError> {
        for file in &self.files {
            let target = dir.join(&file.path);
            let write_error = |path: &Path| {
                let path = path.to_owned();
                move |source| AssetError::Write { path, source }
            };
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(write_error(parent))?;
            }
            let file_name = target
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let temporary = target.with_file_name(format!(".{file_name}.tmp"));
            std::fs::write(&temporary, &file.contents).map_err(write_error(&temporary))?;
            std::fs::rename(&temporary, &target).map_err(write_error(&target))?;
        }
        Ok(())
    }
}

fn embedded_files(dir: &'static Dir<'static>) -> Vec<&'static include_dir::File<'static>> {
    let mut files: Vec<_> = dir.files().collect();
    for sub in dir.dirs() {
        files.extend(embedded_files(sub));
    }
    files
}

/// The placeholder values, looked up by name from the configuration and the context.
struct Values<'a> {
    config: &'a Config,
    context: &'a RenderContext,
}

impl<'a> Values<'a> {
    fn new(config: &'a Config, context: &'a RenderContext) -> Self {
        Self { config, context }
    }

    fn lookup(&self, name: &str) -> Option<Value> {
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
            let base = config
                .alerts
                .runbook_base_url
                .as_ref()
                .map_or(context.runbooks_url.as_str(), |url| url.as_str());
            return text(&format!("{base}#{}", alert.to_lowercase()));
        }
        match name {
            "project" => text(config.project.as_str()),
            "timing" => text(&config.timing.to_string()),
            "scrape_interval" => duration(profile.scrape_interval),
            "scrape_timeout" => duration(profile.scrape_timeout),
            "evaluation_interval" => duration(profile.evaluation_interval),
            "group_wait" => duration(profile.group_wait),
            "group_interval" => duration(profile.group_interval),
            "repeat_interval" => duration(profile.repeat_interval),
            "critical_group_wait" => duration(profile.critical_group_wait),
            "critical_repeat_interval" => duration(profile.critical_repeat_interval),
            "app_address" => text(&context.app_address),
            "monibox_address" => text(&context.monibox_address),
            "prometheus_address" => text(&context.prometheus_address),
            "alertmanager_address" => text(&context.alertmanager_address),
            "grafana_address" => text(&context.grafana_address),
            "webhook_url" => text(&context.webhook_url),
            "prometheus_url" => text(&format!("http://{}", context.prometheus_address)),
            "grafana_dashboards_dir" => text(&context.grafana_dashboards_dir),
            "grafana_home_dashboard" => text(&format!(
                "{}/service-overview.json",
                context.grafana_dashboards_dir
            )),
            "prometheus_listen" => text(&listen_address(&context.prometheus_address)),
            "alertmanager_listen" => text(&listen_address(&context.alertmanager_address)),
            "grafana_port" => context
                .grafana_address
                .rsplit_once(':')
                .and_then(|(_, port)| text(port)),
            "prometheus_flags" => text(&config.retention.prometheus_flags().join(" ")),
            "alerts.error_rate_per_second" => number(config.alerts.error_rate_per_second.get()),
            "alerts.error_ratio" => number(config.alerts.error_ratio.get()),
            "alerts.error_ratio_percent" => number(config.alerts.error_ratio.get() * 100.0),
            "alerts.latency_p95_seconds" => number(config.alerts.latency_p95_seconds.get()),
            "alerts.cpu_cores" => number(config.alerts.cpu_cores.get()),
            "alerts.memory_bytes" => Some(Value::Token(config.alerts.memory.bytes().to_string())),
            "alerts.container_restarts" => {
                Some(Value::Token(config.alerts.container_restarts.to_string()))
            }
            "receivers" => Some(Value::Block(self.receivers().to_block())),
            _ => None,
        }
    }

    /// Alertmanager's receivers: `critical` reaches the daemon and every configured receiver;
    /// `warning` (and `default`, for alerts without a known severity) the same except e-mail,
    /// because warnings should not land in an inbox.
    fn receivers(&self) -> Yaml {
        let receivers = &self.config.receivers;
        let receiver = |name: &str, with_email: bool| {
            let mut entries = vec![("name", Yaml::Str(name.to_owned()))];
            let webhooks = std::iter::once(self.context.webhook_url.as_str())
                .chain(receivers.webhooks.iter().map(|url| url.as_str()))
                .map(|url| {
                    Yaml::Map(vec![
                        ("url", Yaml::Str(url.to_owned())),
                        ("send_resolved", Yaml::Bool(true)),
                    ])
                })
                .collect();
            entries.push(("webhook_configs", Yaml::List(webhooks)));
            if let Some(slack) = &receivers.slack {
                entries.push(("slack_configs", Yaml::List(vec![slack_config(slack)])));
            }
            if let (true, Some(email)) = (with_email, &receivers.email) {
                entries.push(("email_configs", Yaml::List(vec![email_config(email)])));
            }
            Yaml::Map(entries)
        };
        Yaml::List(vec![
            receiver("default", false),
            receiver("critical", true),
            receiver("warning", false),
        ])
    }
}

fn slack_config(slack: &Slack) -> Yaml {
    let mut entries = vec![("api_url", Yaml::Str(slack.api_url.as_str().to_owned()))];
    if let Some(channel) = &slack.channel {
        entries.push(("channel", Yaml::Str(channel.as_str().to_owned())));
    }
    entries.push(("send_resolved", Yaml::Bool(true)));
    entries.push((
        "text",
        Yaml::Str(
            "{{ range .Alerts }}{{ .Annotations.description }} {{ .Annotations.runbook_url }}\n{{ end }}"
                .to_owned(),
        ),
    ));
    Yaml::Map(entries)
}

fn email_config(email: &Email) -> Yaml {
    let mut entries = vec![
        ("to", Yaml::Str(email.to.as_str().to_owned())),
        ("from", Yaml::Str(email.from.as_str().to_owned())),
        ("smarthost", Yaml::Str(email.smarthost.as_str().to_owned())),
    ];
    if let Some(username) = &email.auth_username {
        entries.push(("auth_username", Yaml::Str(username.as_str().to_owned())));
    }
    if let Some(password) = &email.auth_password {
        entries.push(("auth_password", Yaml::Str(password.as_str().to_owned())));
    }
    entries.push(("require_tls", Yaml::Bool(email.require_tls)));
    entries.push(("send_resolved", Yaml::Bool(true)));
    Yaml::Map(entries)
}

/// `localhost:9090` → `127.0.0.1:9090`: where a locally run component should listen. Container
/// addresses keep their form (they listen on all interfaces inside the container).
fn listen_address(address: &str) -> String {
    match address.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => address.to_owned(),
    }
}

/// Shortest decimal form, without an exponent and without float noise (`0.05 * 100` is `5`):
/// rounded to 15 significant digits, which every value typed in a config file survives intact
/// however small or large (`1e-12` is `0.000000000001`, a literal PromQL reads back exactly).
fn format_number(value: f64) -> String {
    let rounded: f64 = format!("{value:.14e}").parse().unwrap_or(value);
    format!("{rounded}")
}

#[cfg(test)]
mod tests {
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
    fn file_urls_are_percent_encoded() {
        assert_eq!(
            file_url(Path::new("/tmp/my dir/runbooks.md")),
            "file:///tmp/my%20dir/runbooks.md"
        );
    }

    #[test]
    fn every_alert_with_a_duration_is_in_the_rules() {
        let rules = ASSETS
            .get_file(paths::ALERT_RULES)
            .and_then(|file| file.contents_utf8())
            .expect("alerts.yml is embedded");
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
