//! `monibox export kubernetes` checked by the real tools: the core objects by
//! `kubernetes-validate --strict` (Kubernetes' own OpenAPI schemas), every `PrometheusRule`'s
//! groups by `promtool check rules` and by the repository's `promtool test rules` files, the
//! dashboards against the bundle's; and every dashboard, the bundle's and the export's, by
//! Grafana's own models (grafana-foundation-sdk), losing no field in a round trip. Bad input
//! through the binary: exit 2, nothing written.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use monibox::assets::{Bundle, paths};
use monibox::config::{Config, Timing};
use monibox::export::kubernetes::{KubernetesInputs, render};
use monibox::export::{ExportFile, dashboards};
use serde_json::Value;
use support::{assert_tool_ok, repo_path, run_rule_unit_tests_in, test_config};

/// The Python with the tools of tests/python/requirements.txt (scripts/test.sh sets it up).
fn python() -> PathBuf {
    let path = std::env::var_os("TEST_PYTHON").expect(
        "TEST_PYTHON is not set: run the suite with scripts/test.sh, which installs \
         tests/python/requirements.txt into target/test-python",
    );
    PathBuf::from(path)
}

/// The export; `everything`: with the Namespace object and the rules about monitoring itself.
fn export(config: &Config, everything: bool) -> Vec<ExportFile> {
    render(&KubernetesInputs {
        config,
        release: "kube-prometheus-stack",
        namespace: "monitoring",
        monibox_image: "registry.example/monibox:1",
        create_namespace: everything,
        monitoring_rules: everything,
    })
    .expect("renders")
}

fn objects(files: &[ExportFile]) -> Vec<(String, Value)> {
    files
        .iter()
        .filter(|file| file.path.ends_with(".yaml"))
        .map(|file| {
            let value: Value = serde_norway::from_slice(&file.contents)
                .unwrap_or_else(|error| panic!("{} is YAML: {error}", file.path));
            (file.path.clone(), value)
        })
        .collect()
}

fn write(dir: &Path, files: &[ExportFile]) {
    monibox::export::write_files(dir, files).expect("writes");
}

#[test]
fn core_objects_pass_kubernetes_validate_and_every_object_is_listed() {
    let temp = tempfile::tempdir().expect("temp dir");
    let files = export(&test_config(Timing::Standard), true);
    write(temp.path(), &files);
    let objects = objects(&files);
    let core: Vec<String> = objects
        .iter()
        .filter(|(_, object)| {
            let api = object["apiVersion"].as_str().unwrap_or_default();
            api == "v1" || api == "apps/v1"
        })
        .map(|(path, _)| path.clone())
        .collect();
    let kinds: Vec<&str> = objects
        .iter()
        .filter_map(|(_, object)| object["kind"].as_str())
        .collect();
    for kind in [
        "Namespace",
        "Deployment",
        "Service",
        "ConfigMap",
        "ServiceMonitor",
        "PrometheusRule",
        "AlertmanagerConfig",
        "Kustomization",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    let validate = python().with_file_name("kubernetes-validate");
    let mut args = vec!["--strict".to_owned(), "--quiet".to_owned()];
    args.extend(core.iter().cloned());
    let out = Command::new(&validate)
        .args(&args)
        .current_dir(temp.path())
        .output()
        .expect("kubernetes-validate runs");
    assert!(
        out.status.success(),
        "kubernetes-validate {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let kustomization = objects
        .iter()
        .find(|(path, _)| path == "kustomization.yaml")
        .expect("kustomization");
    let listed: Vec<&str> = kustomization.1["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let others: Vec<&str> = objects
        .iter()
        .map(|(path, _)| path.as_str())
        .filter(|path| *path != "kustomization.yaml")
        .collect();
    assert_eq!(listed, others);
    for (path, object) in &objects {
        if object["apiVersion"]
            .as_str()
            .is_some_and(|api| api.starts_with("monitoring.coreos.com/"))
        {
            assert_eq!(
                object["metadata"]["labels"]["release"], "kube-prometheus-stack",
                "{path} is picked up by the chart's selectors"
            );
        }
    }
}

/// Writes each PrometheusRule's groups where the bundle keeps the rule file, for promtool.
fn write_rule_groups(dir: &Path, files: &[ExportFile]) -> Vec<String> {
    let mut written = Vec::new();
    for (path, object) in objects(files) {
        let Some(name) = path
            .strip_prefix("prometheusrule-")
            .and_then(|rest| rest.strip_suffix(".yaml"))
        else {
            continue;
        };
        assert_eq!(object["kind"], "PrometheusRule", "{path}");
        let relative = format!("{}/{name}.yml", paths::RULES_DIR);
        let target = dir.join(&relative);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        let groups = serde_json::json!({ "groups": object["spec"]["groups"] });
        std::fs::write(&target, serde_norway::to_string(&groups).expect("YAML")).expect("write");
        written.push(relative);
    }
    written.sort();
    written
}

/// Runs `promtool check rules` on the export's rule files and `promtool test rules` on the
/// repository's unit test files of `profile` (all of them, or those named in `only`).
fn check_exported_rules(files: &[ExportFile], profile: &str, only: &[&str]) -> Vec<String> {
    let temp = tempfile::tempdir().expect("temp dir");
    let rules = write_rule_groups(temp.path(), files);
    let mut check = vec!["check", "rules"];
    check.extend(rules.iter().map(String::as_str));
    assert_tool_ok("promtool", &check, temp.path());
    run_rule_unit_tests_in(temp.path(), profile, only);
    rules
}

#[test]
fn prometheus_rules_pass_promtool_check_and_the_repositorys_unit_tests() {
    for (timing, profile) in [(Timing::Standard, "standard"), (Timing::Fast, "fast")] {
        // Every unit test but the host's: the chart runs node_exporter and its rules itself.
        let tests: Vec<String> = std::fs::read_dir(repo_path(&format!("tests/rules/{profile}")))
            .expect("tests/rules")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| !name.starts_with("node_"))
            .collect();
        let only: Vec<&str> = tests.iter().map(String::as_str).collect();
        let rules = check_exported_rules(&export(&test_config(timing), true), profile, &only);
        assert_eq!(
            rules.len(),
            4,
            "recording, alerts, alertmanager and slo: {rules:?}"
        );
    }
    // By default the rules about monitoring itself stay out: the chart has its own.
    let files = export(&test_config(Timing::Standard), false);
    let rules = check_exported_rules(
        &files,
        "standard",
        &[
            "app_alerts_test.yml",
            "recording_test.yml",
            "slo_alerts_test.yml",
        ],
    );
    assert_eq!(rules.len(), 3, "{rules:?}");
    let rule_text: String = files
        .iter()
        .filter(|file| file.path.starts_with("prometheusrule-"))
        .map(|file| String::from_utf8_lossy(&file.contents).into_owned())
        .collect();
    for name in monibox::export::kubernetes::MONITORING_RULE_GROUPS {
        assert!(!rule_text.contains(name), "{name} is left out");
    }
    assert!(!rule_text.contains("TargetDown"));
    assert!(
        !rule_text.contains("job=\"node\""),
        "host metrics are the chart's"
    );
    assert!(files.iter().all(|file| file.path != "namespace.yaml"));
}

fn bundle_dashboards(config: &Config) -> Vec<(String, Value)> {
    let bundle = Bundle::render(
        config,
        &monibox::catalog::render::for_export(config, Path::new("/x")),
    )
    .expect("bundle");
    bundle
        .files()
        .iter()
        .filter_map(|file| {
            let name = file
                .path
                .strip_prefix(paths::GRAFANA_DASHBOARDS_DIR)?
                .strip_prefix('/')?
                .strip_suffix(".json")?;
            Some((
                name.to_owned(),
                serde_json::from_slice(&file.contents).expect("dashboard JSON"),
            ))
        })
        .collect()
}

fn exported_dashboards(files: &[ExportFile]) -> Vec<(String, Value)> {
    objects(files)
        .into_iter()
        .filter(|(_, object)| object["metadata"]["labels"]["grafana_dashboard"] == "1")
        .map(|(_, object)| {
            let (key, text) = object["data"]
                .as_object()
                .and_then(|data| data.iter().next())
                .expect("one dashboard per ConfigMap");
            let name = key.strip_suffix(".json").expect("a .json key").to_owned();
            let dashboard = serde_json::from_str(text.as_str().expect("text")).expect("JSON");
            (name, dashboard)
        })
        .collect()
}

#[test]
fn exported_dashboards_are_the_bundles_with_a_datasource_variable() {
    let config = test_config(Timing::Standard);
    let exported = exported_dashboards(&export(&config, false));
    // All but Host: the chart has its own node_exporter dashboards.
    let mut without_host = config.clone();
    without_host.components.node_exporter = false;
    let bundle = bundle_dashboards(&without_host);
    assert!(exported.iter().all(|(name, _)| !name.contains("host")));
    assert_eq!(bundle.len(), exported.len());
    assert!(!bundle.is_empty());
    for ((name, original), (exported_name, dashboard)) in bundle.iter().zip(&exported) {
        assert_eq!(name, exported_name);
        assert_eq!(&dashboards::portable(original), dashboard, "{name}");
        let text = dashboard.to_string();
        assert!(
            !text.contains(monibox::assets::DATASOURCE_UID),
            "{name} still names the provisioned uid"
        );
        assert_eq!(
            dashboard["templating"]["list"][0]["type"], "datasource",
            "{name}"
        );
    }
}

#[test]
fn grafanas_models_read_every_dashboard_without_losing_a_field() {
    let config = test_config(Timing::Standard);
    let temp = tempfile::tempdir().expect("temp dir");
    let mut paths = Vec::new();
    let all = bundle_dashboards(&config)
        .into_iter()
        .map(|(name, dashboard)| (format!("bundle-{name}"), dashboard))
        .chain(
            exported_dashboards(&export(&config, false))
                .into_iter()
                .map(|(name, dashboard)| (format!("kubernetes-{name}"), dashboard)),
        );
    for (name, dashboard) in all {
        let path = temp.path().join(format!("{name}.json"));
        std::fs::write(&path, dashboard.to_string()).expect("write");
        paths.push(path);
    }
    let out = Command::new(python())
        .arg(repo_path("tests/python/grafana_roundtrip.py"))
        .args(&paths)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{} dashboards, 0 fields lost", paths.len())),
        "{stdout}"
    );
}

fn monibox(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_monibox"))
        .args(args)
        .env_remove("MONIBOX_CONFIG")
        .output()
        .expect("monibox runs")
}

#[test]
fn bad_input_is_refused_with_exit_2_and_nothing_is_written() {
    let temp = tempfile::tempdir().expect("temp dir");
    let state = temp.path().join("state");
    let state = state.to_str().expect("utf-8");
    let target = temp.path().join("k8s");
    let target_text = target.to_str().expect("utf-8");
    for release in ["Kube_Stack", "-x", &"r".repeat(54)] {
        let flag = format!("--release={release}");
        let out = monibox(&[
            "export",
            "kubernetes",
            target_text,
            &flag,
            "--state-dir",
            state,
        ]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--release"), "{stderr}");
        assert!(!target.exists(), "nothing written for {release:?}");
    }
    let busy = temp.path().join("busy");
    std::fs::create_dir(&busy).expect("mkdir");
    std::fs::write(busy.join("mine.txt"), "keep").expect("write");
    for kind in ["compose", "kubernetes"] {
        let out = monibox(&[
            "export",
            kind,
            busy.to_str().expect("utf-8"),
            "--state-dir",
            state,
        ]);
        assert_eq!(out.status.code(), Some(2), "{kind}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
        let entries: Vec<_> = std::fs::read_dir(&busy).expect("dir").collect();
        assert_eq!(entries.len(), 1, "{kind} wrote nothing");
    }
    let config = temp.path().join("bad.toml");
    std::fs::write(&config, "[[remote_write]]\nurl = \"not a url\"\n").expect("write");
    let out = monibox(&[
        "export",
        "compose",
        target_text,
        "--config",
        config.to_str().expect("utf-8"),
        "--state-dir",
        state,
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:2:") && stderr.contains("remote_write[0].url"),
        "{stderr}"
    );
    assert!(!target.exists());
    let missing = temp.path().join("no-such-token");
    std::fs::write(
        &config,
        format!(
            "[[remote_write]]\nurl = \"http://r:9/w\"\nbearer_token_file = {:?}\n",
            missing.display().to_string()
        ),
    )
    .expect("write");
    for kind in ["compose", "kubernetes"] {
        let out = monibox(&[
            "export",
            kind,
            target_text,
            "--config",
            config.to_str().expect("utf-8"),
            "--state-dir",
            state,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{kind}: {stderr}");
        assert!(
            stderr.contains("no-such-token") && stderr.contains("bearer_token_file"),
            "{stderr}"
        );
        assert!(!target.exists(), "{kind} wrote nothing");
    }
}

/// The `slo:` recording names in `expr` (PromQL), each up to the first character a metric name
/// cannot hold.
fn slo_metrics(expr: &str) -> Vec<String> {
    expr.match_indices("slo:")
        .map(|(start, _)| {
            expr[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect()
        })
        .collect()
}

#[test]
fn the_slo_rules_and_the_slo_dashboard_are_exported_for_every_slo() {
    let text = "[[slo]]\nname = \"checkout-availability\"\njob = \"app\"\nobjective = 99.5\n\
                availability = {}\n\n[[slo]]\nname = \"checkout-latency\"\njob = \"app\"\n\
                objective = 95\nwindow = \"7d\"\nlatency = { threshold = 0.5 }\n";
    let mut config = Config::from_toml(text, Path::new("slo.toml")).expect("valid config");
    config.timing = Timing::Fast;
    let files = export(&config, false);
    let objects = objects(&files);
    let find = |path: &str| {
        objects
            .iter()
            .find(|(name, _)| name == path)
            .map(|(_, object)| object)
            .unwrap_or_else(|| panic!("no {path} in the export"))
    };

    let rule = find("prometheusrule-slo.yaml");
    assert_eq!(rule["kind"], "PrometheusRule");
    let groups = rule["spec"]["groups"].as_array().expect("groups");
    let names: Vec<&str> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "monibox-slo-checkout-availability",
            "monibox-slo-checkout-latency"
        ]
    );
    let recorded: Vec<&str> = groups
        .iter()
        .flat_map(|group| group["rules"].as_array().expect("rules"))
        .filter_map(|rule| rule["record"].as_str())
        .collect();
    // The 7d window's own recording, under Sloth's name for it.
    assert!(
        recorded.contains(&"slo:sli_error:ratio_rate7d"),
        "{recorded:?}"
    );
    let alerts = groups
        .iter()
        .flat_map(|group| group["rules"].as_array().expect("rules"))
        .filter(|rule| rule["alert"] == "ErrorBudgetBurn")
        .count();
    assert_eq!(alerts, 4, "a page and a ticket per SLO");

    let map = find("dashboard-slo.yaml");
    assert_eq!(map["kind"], "ConfigMap");
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    let dashboard: Value =
        serde_json::from_str(map["data"]["slo.json"].as_str().expect("slo.json")).expect("JSON");
    assert_eq!(dashboard["uid"], "monibox-slo");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let slo = variables
        .iter()
        .find(|variable| variable["name"] == "slo")
        .expect("the slo variable");
    assert_eq!(
        slo["query"]["query"],
        "label_values(slo:objective:ratio, slo)"
    );
    // Every series the dashboard reads is recorded by the exported rules, whatever the windows.
    let mut read = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            read.extend(slo_metrics(target["expr"].as_str().expect("expr")));
        }
    }
    assert!(read.len() > 10, "{read:?}");
    for metric in &read {
        assert!(
            recorded.contains(&metric.as_str()),
            "the SLO dashboard reads {metric}, which the export does not record"
        );
    }
}
