//! The monitoring bundle: the top-level `assets/` directory embedded in the binary, rendered from
//! a [`Config`] and a [`RenderContext`] into a [`Bundle`] of files, and written to a directory.
//!
//! Layout of a bundle (paths relative to its root; see [`paths`]):
//!
//! ```text
//! prometheus/prometheus.yml            generated; rule files are referenced relative to it
//! prometheus/rules/*.yml               recording and alert rules (a component's own rules only
//!                                      while it runs); slo.yml generated from `[[slo]]`
//! alertmanager/alertmanager.yml        generated
//! grafana/grafana.ini
//! grafana/provisioning/datasources/prometheus.yml
//! grafana/provisioning/dashboards/monibox.yml
//! grafana/dashboards/*.json            static, validated and copied
//! runbooks.md                          docs/runbooks.md; runbook_urls point here, or for the
//!                                      stack at the daemon's /runbooks page
//! README.txt                           how to run each tool against the directory
//! ```
//!
//! How structured output is produced, from here on: files with structure that depends on the
//! configuration (`prometheus.yml`, `alertmanager.yml`, and what later issues add — user targets,
//! service discovery, `remote_write`, generated rules, Kubernetes and Compose exports) are typed
//! structs serialised by a maintained YAML crate (`serde_norway`, [`prometheus_config`],
//! [`alertmanager_config`]): the structs carry the tools' own field names, the crate does the
//! quoting, and a test reads each file back into the same structs. Files whose structure is
//! fixed and only some values vary (the hand-written rules, Grafana's ini and provisioning, the
//! README) stay `${name}` templates (`template.rs`), every value escaped for its format. No
//! hand-written YAML emitter exists.
//!
//! A component that does not run ([`RenderContext::skipped_dirs`]) leaves its directory out, and
//! its own rules ([`RenderContext::skipped_rule_files`]) are not loaded, nor its dashboard
//! ([`RenderContext::skipped_dashboards`]) shown.

pub mod alertmanager_config;
pub mod prometheus_config;
pub mod slo_rules;
mod template;
mod values;

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

use crate::config::Config;
use alertmanager_config::AlertmanagerConfig;
use prometheus_config::PrometheusConfig;
use slo_rules::RuleFile;
use template::Format;
pub use template::TemplateError;
pub use values::alert_names;

static ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets");

/// The runbooks every alert links to (`docs/runbooks.md`), shipped inside each bundle.
pub const RUNBOOKS: &str = include_str!("../../docs/runbooks.md");

/// Paths of the bundle's files, relative to its root.
pub mod paths {
    pub const PROMETHEUS_CONFIG: &str = "prometheus/prometheus.yml";
    pub const RULES_DIR: &str = "prometheus/rules";
    pub const RECORDING_RULES: &str = "prometheus/rules/recording.yml";
    pub const ALERT_RULES: &str = "prometheus/rules/alerts.yml";
    pub const SLO_RULES: &str = "prometheus/rules/slo.yml";
    pub const ALERTMANAGER_CONFIG: &str = "alertmanager/alertmanager.yml";
    pub const GRAFANA_INI: &str = "grafana/grafana.ini";
    pub const GRAFANA_DATASOURCES: &str = "grafana/provisioning/datasources/prometheus.yml";
    pub const GRAFANA_DASHBOARD_PROVIDER: &str = "grafana/provisioning/dashboards/monibox.yml";
    pub const GRAFANA_DASHBOARDS_DIR: &str = "grafana/dashboards";
    pub const RUNBOOKS: &str = "runbooks.md";
    pub const README: &str = "README.txt";
}

/// The uid of the provisioned Prometheus datasource; every dashboard panel refers to it.
pub const DATASOURCE_UID: &str = "monibox-prometheus";

/// One job Prometheus scrapes: its name, `host:port` as Prometheus reaches it, and its path
/// (None: `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeTarget {
    pub job: String,
    pub address: String,
    pub metrics_path: Option<&'static str>,
}

/// Where things are, as seen from the component that uses each address, and which components
/// run. Everything in the rendered files that depends on the environment comes from here;
/// everything that depends on the user's wishes comes from the [`Config`]. The component catalog
/// builds it (`catalog::render`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderContext {
    /// The stack's own scrape jobs, in order.
    pub scrape_targets: Vec<ScrapeTarget>,
    /// The URL Alertmanager posts notifications to (the daemon's `/alerts`).
    pub webhook_url: String,
    /// `host:port` of Alertmanager for Prometheus's alerting; None when it does not run.
    pub alertmanager_address: Option<String>,
    /// Prometheus's URL as Grafana reaches it (its datasource).
    pub prometheus_url: String,
    /// The directory Grafana loads dashboards from, as Grafana sees it.
    pub grafana_dashboards_dir: String,
    /// The URL of `runbooks.md`; each alert links to `<this>#<alert name in lowercase>`.
    pub runbooks_url: String,
    /// How to run each component by hand against the bundle (README.txt), one line each.
    pub run_commands: Vec<String>,
    /// How to check each component's files by hand (README.txt), one line each.
    pub check_commands: Vec<String>,
    /// Bundle directories of components that do not run: left out.
    pub skipped_dirs: Vec<&'static str>,
    /// Rule files (under `prometheus/rules/`) of components that do not run: left out.
    pub skipped_rule_files: Vec<&'static str>,
    /// Dashboards (under `grafana/dashboards/`) of components that do not run: left out.
    pub skipped_dashboards: Vec<&'static str>,
    /// How Prometheus reaches a user target on this machine's loopback: `host.docker.internal`
    /// from a container (the daemon relays it from the project network's gateway), `None` when
    /// Prometheus runs on this machine and scrapes the address as given.
    pub loopback_host: Option<String>,
    /// Where Prometheus reads the copies of user targets' credential files; `None`: the files as
    /// configured.
    pub target_secrets_dir: Option<String>,
    /// The daemon's Docker discovery endpoint (Prometheus's HTTP service discovery); `None`
    /// where no daemon runs beside Prometheus (Compose, Kubernetes), so there is no `docker` job.
    pub docker_sd_url: Option<String>,
    /// This machine's name, the `host` external label; `None` where Prometheus does not run on
    /// it (Kubernetes).
    pub host_name: Option<String>,
}

/// A `file://` URL for an absolute path, with anything but unreserved characters and `/`
/// percent-encoded.
pub fn file_url(path: &Path) -> String {
    const PATH: &percent_encoding::AsciiSet = &crate::httpc::UNRESERVED.remove(b'/');
    format!(
        "file://{}",
        percent_encoding::utf8_percent_encode(&path.to_string_lossy(), PATH)
    )
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
    #[error("cannot write {file} as YAML: {message}")]
    Yaml { file: String, message: String },
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
    /// Renders every embedded asset for `config` in `context`, and the generated files.
    pub fn render(config: &Config, context: &RenderContext) -> Result<Bundle, AssetError> {
        let values = values::Values::new(config, context);
        let mut files = Vec::new();
        for file in embedded_files(&ASSETS) {
            let path = file.path().to_string_lossy().replace('\\', "/");
            // The README describes the other files: rendered once they are known.
            if is_skipped(&path, context) || path == paths::README {
                continue;
            }
            files.push(BundleFile {
                contents: render_embedded(&path, file.contents(), &values, context)?,
                path,
            });
        }
        let skipped = |dir: &str| context.skipped_dirs.contains(&dir);
        if !skipped("prometheus") {
            let runbook = values::runbook_url(config, context, slo_rules::ALERT_NAME);
            let slo_rules =
                RuleFile::new(config, &runbook).map_err(|message| AssetError::Yaml {
                    file: paths::SLO_RULES.to_owned(),
                    message,
                })?;
            if let Some(rules) = slo_rules {
                let text = rules
                    .to_yaml(&generated_header("Prometheus SLO rules", config))
                    .map_err(|error| yaml_error(paths::SLO_RULES, &error))?;
                files.push(generated(paths::SLO_RULES, text));
            }
            let rule_files = files
                .iter()
                .filter_map(|file| file.path.strip_prefix("prometheus/"))
                .filter(|path| path.starts_with("rules/"))
                .map(str::to_owned)
                .collect();
            let text = PrometheusConfig::new(config, context, rule_files)
                .to_yaml(&generated_header("Prometheus", config))
                .map_err(|error| yaml_error(paths::PROMETHEUS_CONFIG, &error))?;
            files.push(generated(paths::PROMETHEUS_CONFIG, text));
        }
        if !skipped("alertmanager") {
            let text = AlertmanagerConfig::new(config, &context.webhook_url)
                .to_yaml(&generated_header("Alertmanager", config))
                .map_err(|error| yaml_error(paths::ALERTMANAGER_CONFIG, &error))?;
            files.push(generated(paths::ALERTMANAGER_CONFIG, text));
        }
        files.push(generated(paths::RUNBOOKS, RUNBOOKS.to_owned()));
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let listed: Vec<&str> = files.iter().map(|file| file.path.as_str()).collect();
        let readme = ASSETS
            .get_file(paths::README)
            .map(|file| file.contents())
            .unwrap_or_default();
        let readme = render_embedded(paths::README, readme, &values.with_files(&listed), context)?;
        files.push(BundleFile {
            path: paths::README.to_owned(),
            contents: readme,
        });
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Bundle { files })
    }

    /// Files of a bundle monibox wrote earlier into `dir` that this one no longer has (those of a
    /// component switched off since, say): only names monibox itself writes, so a user's own
    /// files beside them are never among them.
    pub fn stale_files(&self, dir: &Path) -> Vec<PathBuf> {
        let generated = [
            paths::PROMETHEUS_CONFIG,
            paths::SLO_RULES,
            paths::ALERTMANAGER_CONFIG,
            paths::RUNBOOKS,
        ];
        embedded_files(&ASSETS)
            .into_iter()
            .map(|file| file.path().to_string_lossy().replace('\\', "/"))
            .chain(generated.iter().map(|path| (*path).to_owned()))
            .filter(|path| self.get(path).is_none())
            .map(|path| dir.join(path))
            .filter(|path| path.is_file())
            .collect()
    }

    /// Removes [`Bundle::stale_files`] from `dir`, and the directories they leave empty.
    pub fn remove_stale(&self, dir: &Path) -> Result<(), AssetError> {
        for file in self.stale_files(dir) {
            std::fs::remove_file(&file).map_err(|source| AssetError::Write {
                path: file.clone(),
                source,
            })?;
            let mut parent = file.parent();
            while let Some(empty) = parent.filter(|p| *p != dir) {
                if std::fs::remove_dir(empty).is_err() {
                    break;
                }
                parent = empty.parent();
            }
        }
        Ok(())
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
            write_file(&dir.join(&file.path), &file.contents, None)
                .map_err(|(path, source)| AssetError::Write { path, source })?;
        }
        Ok(())
    }
}

/// Writes `contents` to `target` (its directories created as needed) through a temporary file
/// beside it that is renamed into place, so a reader never sees half a file; with `mode`, the
/// file gets that mode first. The error names the path that failed.
pub fn write_file(
    target: &Path,
    contents: &[u8],
    mode: Option<u32>,
) -> Result<(), (PathBuf, std::io::Error)> {
    use std::os::unix::fs::PermissionsExt;
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |error| (path, error)
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(failed(parent))?;
    }
    let file_name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = target.with_file_name(format!(".{file_name}.tmp"));
    std::fs::write(&temporary, contents).map_err(failed(&temporary))?;
    if let Some(mode) = mode {
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode))
            .map_err(failed(&temporary))?;
    }
    std::fs::rename(&temporary, target).map_err(failed(target))
}

/// Whether an embedded file belongs to a component that does not run.
fn is_skipped(path: &str, context: &RenderContext) -> bool {
    let top = path.split('/').next().unwrap_or_default();
    context.skipped_dirs.contains(&top)
        || path
            .strip_prefix("prometheus/rules/")
            .is_some_and(|file| context.skipped_rule_files.contains(&file))
        || path
            .strip_prefix("grafana/dashboards/")
            .is_some_and(|file| context.skipped_dashboards.contains(&file))
}

/// A template rendered for its format, or a dashboard checked and copied.
fn render_embedded(
    path: &str,
    contents: &[u8],
    values: &values::Values<'_>,
    context: &RenderContext,
) -> Result<Vec<u8>, AssetError> {
    let Some(format) = Format::of(path) else {
        if path.ends_with(".json") {
            serde_json::from_slice::<serde_json::Value>(contents).map_err(|error| {
                AssetError::Dashboard {
                    file: path.to_owned(),
                    message: error.to_string(),
                }
            })?;
        }
        return Ok(contents.to_vec());
    };
    let text = std::str::from_utf8(contents).map_err(|_| AssetError::NotText {
        file: path.to_owned(),
    })?;
    template::render(text, format, |name| values.lookup(name))
        .map(String::into_bytes)
        .map_err(|source| match source {
            TemplateError::BadValue { name, reason, .. }
                if DIRECTORY_PLACEHOLDERS.contains(&name.as_str()) =>
            {
                AssetError::Directory {
                    file: path.to_owned(),
                    dir: context.grafana_dashboards_dir.clone(),
                    reason,
                }
            }
            source => AssetError::Template {
                file: path.to_owned(),
                source,
            },
        })
}

fn generated_header(tool: &str, config: &Config) -> String {
    format!(
        "# {tool} configuration generated by monibox (project {}, timing profile {}).\n\
         # Rewritten by `monibox up`, `monibox reload` and `monibox config export`: change the\n\
         # monibox configuration instead of this file.\n",
        config.project, config.timing
    )
}

fn generated(path: &str, text: String) -> BundleFile {
    BundleFile {
        path: path.to_owned(),
        contents: text.into_bytes(),
    }
}

fn yaml_error(file: &str, error: &serde_norway::Error) -> AssetError {
    AssetError::Yaml {
        file: file.to_owned(),
        message: error.to_string(),
    }
}

fn embedded_files(dir: &'static Dir<'static>) -> Vec<&'static include_dir::File<'static>> {
    let mut files: Vec<_> = dir.files().collect();
    for sub in dir.dirs() {
        files.extend(embedded_files(sub));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_percent_encoded() {
        assert_eq!(
            file_url(Path::new("/tmp/my dir/runbooks.md")),
            "file:///tmp/my%20dir/runbooks.md"
        );
    }
}
