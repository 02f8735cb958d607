//! The documented default configuration file and the `monibox config show|export` commands, run
//! as the real binary.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use monibox::config::{Config, Sources};
use support::repo_path;

fn monibox(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_monibox"));
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("MONIBOX_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().expect("run monibox")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every dotted key of a TOML table, sections included.
fn keys(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let path = format!("{prefix}{key}");
        if let Some(inner) = value.as_table() {
            keys(inner, &format!("{path}."), out);
        }
        out.insert(path);
    }
}

#[test]
fn documented_default_file_equals_the_built_in_defaults_and_lists_every_key() {
    let path = repo_path("config/monibox.toml");
    let text = std::fs::read_to_string(&path).expect("config/monibox.toml");
    assert_eq!(
        Config::from_toml(&text, &path).expect("parses"),
        Config::default()
    );

    let mut documented = BTreeSet::new();
    keys(
        &text.parse::<toml::Table>().expect("TOML"),
        "",
        &mut documented,
    );
    let mut built_in = BTreeSet::new();
    keys(
        &toml::Table::try_from(Config::default()).expect("serializes"),
        "",
        &mut built_in,
    );
    assert_eq!(
        documented, built_in,
        "config/monibox.toml must set every default key"
    );
}

#[test]
fn commented_examples_in_the_default_file_are_valid() {
    let text = std::fs::read_to_string(repo_path("config/monibox.toml")).expect("read");
    // `# key = value` and `# [section]` lines are examples; uncommented, they must load.
    let uncommented: String = text
        .lines()
        .map(|line| {
            let example = line.strip_prefix("# ").filter(|rest| {
                rest.starts_with('[')
                    || rest.split_once(" = ").is_some_and(|(key, _)| {
                        key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
            });
            format!("{}\n", example.unwrap_or(line))
        })
        .collect();
    assert!(
        uncommented.contains("[receivers.email]\n"),
        "examples were found"
    );
    let config = Config::from_toml(&uncommented, Path::new("uncommented")).expect("parses");
    config.validate().expect("valid");
    assert!(config.retention.size.is_some());
    assert!(config.receivers.slack.is_some() && config.receivers.email.is_some());
    assert!(config.alerts.runbook_base_url.is_some());
}

#[test]
fn show_prints_the_effective_config_after_file_env_and_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("team.toml");
    std::fs::write(&file, "project = \"team\"\n[ports]\napp = 6000\n").expect("write");
    let file_arg = file.to_string_lossy().into_owned();

    let output = monibox(
        &[
            "config", "show", "--json", "--config", &file_arg, "--timing", "fast",
        ],
        &[
            ("MONIBOX_PORTS_GRAFANA", "auto"),
            ("MONIBOX_TIMING", "standard"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(json["project"], "team");
    assert_eq!(json["timing"], "fast", "the flag beats the environment");
    assert_eq!(json["ports"]["app"], 6000);
    assert_eq!(json["ports"]["grafana"], "auto");
    assert_eq!(json["images"]["prometheus"], "prom/prometheus:v3.5.0");

    let output = monibox(
        &["config", "show", "--project", "flagged"],
        &[
            ("MONIBOX_CONFIG", &file_arg),
            ("MONIBOX_PROJECT", "from-env"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains(&format!("file {file_arg}")), "{text}");
    assert!(
        text.contains("env MONIBOX_PROJECT <- flag --project"),
        "{text}"
    );
    let shown = text.parse::<toml::Table>().expect("TOML output");
    assert_eq!(shown["project"].as_str(), Some("flagged"));
    // What `show` prints is itself a valid config file.
    assert_eq!(
        Config::from_toml(&text, Path::new("shown"))
            .expect("parses")
            .project
            .as_str(),
        "flagged"
    );
}

#[test]
fn bad_keys_and_values_exit_2_naming_the_source() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "project = \"ok\"\n\n[alerts]\nerror_rate_per_second = -1\n",
    )
    .expect("write");
    let file_arg = file.to_string_lossy().into_owned();
    let output = monibox(&["config", "show", "--config", &file_arg], &[]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("{file_arg}:4:"))
            && message.contains("alerts.error_rate_per_second"),
        "{message}"
    );

    std::fs::write(&file, "[port]\napp = 1\n").expect("write");
    let message = stderr(&monibox(&["config", "show", "--config", &file_arg], &[]));
    assert!(
        message.contains(":1:") && message.contains("unknown field `port`"),
        "{message}"
    );

    let output = monibox(&["config", "show"], &[("MONIBOX_PORTS_APP", "http")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("MONIBOX_PORTS_APP"),
        "{}",
        stderr(&output)
    );

    let output = monibox(&["config", "show", "--project", "Not Valid"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--project"), "{}", stderr(&output));

    let output = monibox(
        &["config", "show", "--config", "/nonexistent/monibox.toml"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("/nonexistent/monibox.toml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn export_writes_the_bundle_and_refuses_a_non_empty_dir_without_force() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("monitoring");
    let dir_arg = dir.to_string_lossy().into_owned();

    let output = monibox(&["config", "export", &dir_arg, "--timing", "fast"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("README.txt"),
        "{}",
        stdout(&output)
    );
    for path in [
        "prometheus/prometheus.yml",
        "prometheus/rules/alerts.yml",
        "prometheus/rules/recording.yml",
        "prometheus/rules/slo.yml",
        "prometheus/rules/node.yml",
        "alertmanager/alertmanager.yml",
        "grafana/grafana.ini",
        "grafana/provisioning/datasources/prometheus.yml",
        "grafana/provisioning/dashboards/monibox.yml",
        "grafana/dashboards/service-overview.json",
        "grafana/dashboards/load-test.json",
        "grafana/dashboards/containers.json",
        "grafana/dashboards/slo.json",
        "grafana/dashboards/host.json",
        "runbooks.md",
        "README.txt",
    ] {
        assert!(dir.join(path).is_file(), "{path} was not written");
    }
    let written: Vec<_> = walk(&dir);
    assert_eq!(written.len(), 20, "{written:?}");
    assert!(
        written
            .iter()
            .all(|path| !path.split('/').any(|part| part.starts_with('.'))),
        "no temporary files are left behind: {written:?}"
    );
    let readme = std::fs::read_to_string(dir.join("README.txt")).expect("README");
    assert!(readme.contains("timing profile fast"), "{readme}");
    assert!(
        readme.contains("--web.listen-address=127.0.0.1:9090 --storage.tsdb.retention.time=15d"),
        "{readme}"
    );
    let prometheus = std::fs::read_to_string(dir.join("prometheus/prometheus.yml")).expect("read");
    assert!(prometheus.contains("scrape_interval: 1s"), "{prometheus}");
    support::assert_tool_ok(
        "promtool",
        &["check", "config", "prometheus/prometheus.yml"],
        &dir,
    );

    let mine = dir.join("notes.txt");
    std::fs::write(&mine, "keep me").expect("write");
    let output = monibox(&["config", "export", &dir_arg], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--force"), "{}", stderr(&output));
    let unchanged = std::fs::read_to_string(dir.join("prometheus/prometheus.yml")).expect("read");
    assert!(
        unchanged.contains("scrape_interval: 1s"),
        "nothing was overwritten"
    );

    let output = monibox(&["config", "export", &dir_arg, "--force"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let replaced = std::fs::read_to_string(dir.join("prometheus/prometheus.yml")).expect("read");
    assert!(replaced.contains("scrape_interval: 15s"), "{replaced}");
    assert_eq!(std::fs::read_to_string(&mine).expect("read"), "keep me");

    let file = parent.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let output = monibox(
        &["config", "export", &file.to_string_lossy(), "--force"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
}

#[test]
fn export_refuses_a_directory_the_bundle_cannot_name_and_creates_nothing() {
    let parent = tempfile::tempdir().expect("temp dir");
    for name in ["say \"hi\"", "two\nlines"] {
        let dir = parent.path().join(name);
        let output = monibox(&["config", "export", &dir.to_string_lossy()], &[]);
        assert_eq!(output.status.code(), Some(2), "{name:?}");
        let message = stderr(&output);
        assert!(
            message.contains("export to a directory whose path has no double quote"),
            "{name:?}: says what to do: {message}"
        );
        assert!(!dir.exists(), "{name:?}: no empty directory is left behind");
    }
}

#[test]
fn an_unreadable_config_file_names_its_cause_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = monibox(
        &["config", "show", "--config", &dir.path().to_string_lossy()],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("--config"), "{message}");
    assert_eq!(message.matches("os error").count(), 1, "{message}");
}

#[test]
fn unknown_monibox_variables_are_warned_about_once_not_refused() {
    let output = monibox(
        &["config", "show", "--json"],
        &[
            ("MONIBOX_PORT_APP", "6000"),
            ("MONIBOX_STATE_DIR", "/tmp/x"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let message = stderr(&output);
    assert_eq!(message.matches("MONIBOX_PORT_APP").count(), 1, "{message}");
    assert!(
        message.contains("MONIBOX_PORTS_APP"),
        "lists the variables monibox reads: {message}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(json["ports"]["app"], 5000, "the typo changed nothing");

    let known_only = monibox(
        &["config", "show"],
        &[("MONIBOX_STATE_DIR", "/tmp/x"), ("MONIBOX_PROJECT", "p")],
    );
    assert!(known_only.status.success(), "{}", stderr(&known_only));
    assert_eq!(stderr(&known_only), "", "no warning for known variables");
}

/// Every file under `dir`, as paths relative to it.
fn walk(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path).into_iter().map(|inner| {
                format!(
                    "{}/{inner}",
                    path.file_name().expect("name").to_string_lossy()
                )
            }));
        } else {
            files.push(
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    files
}

#[test]
fn library_load_ignores_unrelated_environment() {
    let loaded = Config::load(&Sources {
        env: vec![
            ("MONIBOX_STATE_DIR".into(), "/tmp/x".into()),
            ("PATH".into(), "/bin".into()),
        ],
        ..Sources::default()
    })
    .expect("loads");
    assert_eq!(loaded.config, Config::default());
    assert_eq!(loaded.layers, ["built-in defaults"]);
}
