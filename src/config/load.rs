//! Assembling the configuration: built-in defaults ← a TOML file ← `MONIBOX_*` environment
//! variables ← command-line flags, with every bad value reported where it came from (the file's
//! key, line and column; the variable; the flag).

use std::path::{Path, PathBuf};

use super::Config;
use super::locate::{located, parse};

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
pub const ENV_KEYS: &[(&str, &str, EnvValue)] = &[
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
        "MONIBOX_PORTS_NODE_EXPORTER",
        "ports.node-exporter",
        EnvValue::Port,
    ),
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
    (
        "MONIBOX_IMAGES_NODE_EXPORTER",
        "images.node-exporter",
        EnvValue::Text,
    ),
    ("MONIBOX_RETENTION_TIME", "retention.time", EnvValue::Text),
    ("MONIBOX_RETENTION_SIZE", "retention.size", EnvValue::Text),
    (
        "MONIBOX_COMPONENTS_PROMETHEUS",
        "components.prometheus",
        EnvValue::Bool,
    ),
    (
        "MONIBOX_COMPONENTS_ALERTMANAGER",
        "components.alertmanager",
        EnvValue::Bool,
    ),
    (
        "MONIBOX_COMPONENTS_GRAFANA",
        "components.grafana",
        EnvValue::Bool,
    ),
    (
        "MONIBOX_COMPONENTS_NODE_EXPORTER",
        "components.node-exporter",
        EnvValue::Bool,
    ),
    (
        "MONIBOX_DISCOVERY_DOCKER",
        "discovery.docker",
        EnvValue::Bool,
    ),
    (
        "MONIBOX_CONTAINERS_SCOPE",
        "containers.scope",
        EnvValue::Text,
    ),
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
    /// `true` or `false` (also `1`/`0`, `on`/`off`, `yes`/`no`, in any case).
    Bool,
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
    /// A file of `[[targets]]` only (the project's `targets.toml` in the state directory, which
    /// `monibox targets add` writes when no config file is given); its targets follow the config
    /// file's. A missing file is no targets.
    pub targets_file: Option<PathBuf>,
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
        // The texts read, to say where a cross-key error is: (path, text, first target index).
        let mut texts: Vec<(PathBuf, String, usize)> = Vec::new();
        let mut config = match &sources.file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                layers.push(format!("file {}", path.display()));
                let config = Self::from_toml(&text, path)?;
                texts.push((path.clone(), text, 0));
                config
            }
            None => Config::default(),
        };
        if let Some(path) = &sources.targets_file {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    let file: TargetsFile = parse(&text, path)?;
                    let first = config.targets.len();
                    config.targets.extend(file.targets);
                    layers.push(format!("targets file {}", path.display()));
                    texts.push((path.clone(), text, first));
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ConfigError::Read {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        for &(var, key, kind) in ENV_KEYS {
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
                EnvValue::Bool => match text.to_ascii_lowercase().as_str() {
                    "true" | "1" | "on" | "yes" => toml::Value::Boolean(true),
                    "false" | "0" | "off" | "no" => toml::Value::Boolean(false),
                    _ => {
                        return Err(ConfigError::Env {
                            var: var.to_owned(),
                            value: text.clone(),
                            key: key.to_owned(),
                            message: "use true or false (also 1/0, yes/no, on/off)".to_owned(),
                        });
                    }
                },
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
        config.validate().map_err(|error| located(error, &texts))?;
        Ok(Loaded { config, layers })
    }

    /// Parses a config file's text; keys it leaves out keep their defaults. `path` only names
    /// the file in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        parse(text, path)
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
}

/// A targets file: `[[targets]]` tables and nothing else.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    #[serde(default)]
    pub targets: Vec<super::Target>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ByteSize, HttpUrl, Images, Port, Ports, Timing};

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
            targets_file: None,
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
