//! The rendered bundle checked by the real tools and by its own conventions: promtool (config,
//! rules, the unit tests in tests/rules/), amtool (config, routing), the alert and recording
//! rule conventions, the runbooks and the Grafana dashboards and provisioning.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use monibox::assets::{Bundle, DATASOURCE_UID, paths};
use monibox::config::{Config, Email, HttpUrl, Line, Positive, Slack, Timing};
use serde_json::Value;
use support::{assert_tool_ok, repo_path, run_rule_unit_tests_in, test_config, write_bundle};

fn yaml(bundle: &Bundle, path: &str) -> Value {
    let text = bundle
        .get(path)
        .unwrap_or_else(|| panic!("{path} is in the bundle"));
    serde_norway::from_slice(text).unwrap_or_else(|error| panic!("{path} is YAML: {error}"))
}

fn all_rules(bundle: &Bundle, path: &str) -> Vec<Value> {
    yaml(bundle, path)["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|group| group["rules"].as_array().cloned().expect("rules"))
        .collect()
}

/// The scrape jobs of a `prometheus.yml`, in order.
fn job_names(prometheus: &Value) -> Vec<&str> {
    prometheus["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
        .iter()
        .filter_map(|job| job["job_name"].as_str())
        .collect()
}

/// Every alerting rule of the bundle, whichever rule file holds it.
fn every_alert_rule(bundle: &Bundle) -> Vec<Value> {
    rule_files(bundle)
        .iter()
        .flat_map(|path| all_rules(bundle, path))
        .filter(|rule| rule["alert"].is_string())
        .collect()
}

/// The bundle's rule files, as `prometheus.yml` lists them (relative to the bundle's root).
fn rule_files(bundle: &Bundle) -> Vec<String> {
    yaml(bundle, paths::PROMETHEUS_CONFIG)["rule_files"]
        .as_array()
        .expect("rule_files")
        .iter()
        .map(|file| format!("prometheus/{}", file.as_str().expect("a path")))
        .collect()
}

fn config_with_every_receiver() -> Config {
    let mut config = test_config(Timing::Standard);
    config.receivers.webhooks = vec![
        HttpUrl::try_from("https://hooks.example.com/a".to_owned()).expect("url"),
        HttpUrl::try_from("http://127.0.0.1:9/b?token=x&y=\"z\"".to_owned()).expect("url"),
    ];
    config.receivers.slack = Some(Slack {
        api_url: HttpUrl::try_from("https://hooks.slack.com/services/T/B/X".to_owned())
            .expect("url"),
        channel: Some(Line::try_from("#alerts".to_owned()).expect("line")),
    });
    config.receivers.email = Some(Email {
        to: Line::try_from("oncall@example.com".to_owned()).expect("line"),
        from: Line::try_from("monibox@example.com".to_owned()).expect("line"),
        smarthost: Line::try_from("smtp.example.com:587".to_owned()).expect("line"),
        auth_username: Some(Line::try_from("monibox".to_owned()).expect("line")),
        auth_password: Some(Line::try_from("s3cret: {\"quoted\"}".to_owned()).expect("line")),
        require_tls: true,
    });
    config
}

#[test]
fn promtool_accepts_the_config_and_rules_of_both_profiles() {
    for timing in [Timing::Standard, Timing::Fast] {
        let (dir, bundle) = write_bundle(&test_config(timing));
        let out = assert_tool_ok(
            "promtool",
            &["check", "config", "prometheus/prometheus.yml"],
            dir.path(),
        );
        assert!(out.contains("5 rule files found"), "{timing}: {out}");
        let files = rule_files(&bundle);
        let mut args = vec!["check", "rules"];
        args.extend(files.iter().map(String::as_str));
        let out = assert_tool_ok("promtool", &args, dir.path());
        assert!(
            out.contains("SUCCESS: 12 rules found")
                && out.contains("SUCCESS: 3 rules found")
                && out.contains("SUCCESS: 4 rules found")
                && out.contains("SUCCESS: 32 rules found"),
            "{timing}: {out}"
        );

        let prometheus = yaml(&bundle, paths::PROMETHEUS_CONFIG);
        let expected = match timing {
            Timing::Standard => "15s",
            Timing::Fast => "1s",
        };
        assert_eq!(prometheus["global"]["scrape_interval"], expected);
        assert_eq!(prometheus["global"]["evaluation_interval"], expected);
        let jobs = job_names(&prometheus);
        assert_eq!(
            jobs,
            [
                "app",
                "monibox",
                "containers",
                "prometheus",
                "alertmanager",
                "grafana",
                "node",
                "docker"
            ]
        );
        assert_eq!(
            prometheus["global"]["external_labels"]["monibox_project"],
            "default"
        );
    }
}

/// Copies every promtool unit test of `profile` next to the rendered rules and runs them.
fn run_rule_unit_tests(timing: Timing, profile_dir: &str) -> usize {
    let (dir, _) = write_bundle(&test_config(timing));
    run_rule_unit_tests_in(dir.path(), profile_dir, &[])
}

#[test]
fn promtool_unit_tests_pass_for_the_standard_profile() {
    run_rule_unit_tests(Timing::Standard, "standard");
}

#[test]
fn promtool_unit_tests_pass_for_the_fast_profile() {
    run_rule_unit_tests(Timing::Fast, "fast");
}

#[test]
fn every_alert_has_a_promtool_unit_test() {
    let (_, bundle) = write_bundle(&test_config(Timing::Standard));
    let mut tested = String::new();
    for entry in std::fs::read_dir(repo_path("tests/rules/standard")).expect("dir") {
        tested.push_str(&std::fs::read_to_string(entry.expect("entry").path()).expect("read"));
    }
    for rule in every_alert_rule(&bundle) {
        let name = rule["alert"].as_str().expect("alert name");
        assert!(
            tested.contains(&format!("alertname: {name}\n")),
            "{name} has no promtool unit test in tests/rules/standard"
        );
    }
}

#[test]
fn high_error_rate_is_exactly_the_original_rule() {
    let (_, bundle) = write_bundle(&test_config(Timing::Standard));
    let rule = all_rules(&bundle, paths::ALERT_RULES)
        .into_iter()
        .find(|rule| rule["alert"] == "HighErrorRate")
        .expect("HighErrorRate exists");
    assert_eq!(rule["expr"], "rate(app_error_count_total[5m]) > 0.1");
    assert_eq!(rule["for"], "2m");
    assert_eq!(rule["labels"]["severity"], "critical");
}

#[test]
fn tiny_thresholds_keep_their_value_in_rules_promtool_reads() {
    let mut config = test_config(Timing::Standard);
    config.alerts.error_rate_per_second = Positive::try_from(1e-12).expect("positive");
    config.alerts.cpu_cores = Positive::try_from(2.5e-10).expect("positive");
    let (dir, bundle) = write_bundle(&config);
    let rules = all_rules(&bundle, paths::ALERT_RULES);
    let expr = |alert: &str| {
        rules
            .iter()
            .find(|rule| rule["alert"] == alert)
            .and_then(|rule| rule["expr"].as_str())
            .unwrap_or_else(|| panic!("{alert} has an expression"))
            .to_owned()
    };
    assert_eq!(
        expr("HighErrorRate"),
        "rate(app_error_count_total[5m]) > 0.000000000001"
    );
    assert!(
        expr("AppHighCpu").ends_with("> 0.00000000025"),
        "{}",
        expr("AppHighCpu")
    );
    assert_tool_ok(
        "promtool",
        &["check", "rules", paths::ALERT_RULES],
        dir.path(),
    );
}

#[test]
fn alerts_are_actionable_and_each_has_a_runbook_section() {
    let (_, bundle) = write_bundle(&test_config(Timing::Standard));
    let runbooks = std::fs::read_to_string(repo_path("docs/runbooks.md")).expect("runbooks");
    let sections: BTreeSet<String> = runbooks
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(str::to_owned)
        .collect();
    let mut alerts = BTreeSet::new();
    for rule in every_alert_rule(&bundle) {
        let name = rule["alert"].as_str().expect("alert name").to_owned();
        assert!(
            name.chars().next().is_some_and(char::is_uppercase) && !name.contains(['_', '-']),
            "{name} is not CamelCase"
        );
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        let annotations = &rule["annotations"];
        assert!(
            annotations["summary"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{name}: summary"
        );
        let description = annotations["description"].as_str().unwrap_or_default();
        assert!(
            description.contains("$labels.") && description.contains("$value"),
            "{name}: the description must use the labels and the value: {description:?}"
        );
        assert_eq!(
            annotations["runbook_url"],
            format!("{}#{}", support::TEST_RUNBOOK_BASE, name.to_lowercase()),
            "{name}: runbook_url"
        );
        assert!(rule["for"].as_str().is_some(), "{name}: no for:");
        alerts.insert(name);
    }
    assert_eq!(
        alerts, sections,
        "docs/runbooks.md must have exactly one section per alert"
    );

    // Without an override, runbook links point at the runbooks shipped in the bundle.
    let dir = Path::new("/srv/monibox bundle");
    let bundle = Bundle::render(
        &Config::default(),
        &monibox::catalog::render::for_export(&Config::default(), dir),
    )
    .expect("renders");
    let rule = &all_rules(&bundle, paths::ALERT_RULES)[0];
    assert_eq!(
        rule["annotations"]["runbook_url"],
        "file:///srv/monibox%20bundle/runbooks.md#higherrorrate"
    );
    assert_eq!(bundle.get(paths::RUNBOOKS), Some(runbooks.as_bytes()));
}

#[test]
fn recording_rules_follow_level_metric_operations() {
    let (_, bundle) = write_bundle(&test_config(Timing::Standard));
    for rule in all_rules(&bundle, paths::RECORDING_RULES) {
        let name = rule["record"].as_str().expect("record name");
        let parts: Vec<&str> = name.split(':').collect();
        assert_eq!(parts.len(), 3, "{name} is not level:metric:operations");
        assert!(parts.iter().all(|part| !part.is_empty()), "{name}");
        let expr = rule["expr"].as_str().expect("expr");
        for label in parts[0].split('_') {
            assert!(
                expr.contains(label),
                "{name}: level {label} is not aggregated in {expr}"
            );
        }
        assert!(
            expr.contains("job") && expr.contains("instance"),
            "{name} keeps job and instance"
        );
    }
}

#[test]
fn amtool_accepts_the_config_with_every_receiver() {
    for config in [test_config(Timing::Fast), config_with_every_receiver()] {
        let (dir, bundle) = write_bundle(&config);
        let out = assert_tool_ok(
            "amtool",
            &["check-config", paths::ALERTMANAGER_CONFIG],
            dir.path(),
        );
        assert!(out.contains("3 receivers"), "{out}");
        let alertmanager = yaml(&bundle, paths::ALERTMANAGER_CONFIG);
        let receivers = alertmanager["receivers"].as_array().expect("receivers");
        for receiver in receivers {
            let hooks = receiver["webhook_configs"]
                .as_array()
                .expect("webhook_configs");
            assert_eq!(
                hooks[0]["url"], "http://localhost:5001/alerts",
                "daemon first"
            );
            assert_eq!(hooks.len(), 1 + config.receivers.webhooks.len());
            let expect_slack = config.receivers.slack.is_some();
            assert_eq!(receiver["slack_configs"].is_array(), expect_slack);
            let expect_email = config.receivers.email.is_some() && receiver["name"] == "critical";
            assert_eq!(
                receiver["email_configs"].is_array(),
                expect_email,
                "{receiver}"
            );
        }
        if config.receivers.email.is_some() {
            let critical = receivers
                .iter()
                .find(|r| r["name"] == "critical")
                .expect("critical");
            assert_eq!(
                critical["email_configs"][0]["auth_password"],
                "s3cret: {\"quoted\"}"
            );
            assert_eq!(
                critical["webhook_configs"][2]["url"],
                "http://127.0.0.1:9/b?token=x&y=\"z\""
            );
        }
    }
}

#[test]
fn amtool_routes_by_severity() {
    let (dir, _) = write_bundle(&test_config(Timing::Standard));
    let config_flag = format!("--config.file={}", paths::ALERTMANAGER_CONFIG);
    for (labels, receiver) in [
        (
            &["alertname=HighErrorRate", "severity=critical"][..],
            "critical",
        ),
        (&["alertname=TargetDown", "severity=warning"][..], "warning"),
        (&["alertname=Custom", "severity=info"][..], "default"),
        (&["alertname=Custom"][..], "default"),
    ] {
        let mut args = vec!["config", "routes", "test", config_flag.as_str()];
        args.extend_from_slice(labels);
        let out = assert_tool_ok("amtool", &args, dir.path());
        assert_eq!(out.trim(), receiver, "{labels:?}");
    }
}

#[test]
fn alertmanager_timings_follow_the_profile() {
    for (timing, group_wait, critical_wait) in
        [(Timing::Standard, "30s", "10s"), (Timing::Fast, "1s", "1s")]
    {
        let (_, bundle) = write_bundle(&test_config(timing));
        let route = &yaml(&bundle, paths::ALERTMANAGER_CONFIG)["route"];
        assert_eq!(route["group_wait"], group_wait, "{timing}");
        assert_eq!(route["routes"][0]["group_wait"], critical_wait, "{timing}");
        assert_eq!(
            route["group_by"],
            serde_json::json!(["alertname", "severity"])
        );
        let inhibit = &yaml(&bundle, paths::ALERTMANAGER_CONFIG)["inhibit_rules"][0];
        assert_eq!(inhibit["equal"], serde_json::json!(["job", "instance"]));
    }
}

/// Panel types Grafana 12 renders natively; `graph`, `singlestat` and other Angular panels are
/// gone.
const MODERN_PANELS: [&str; 7] = [
    "row",
    "timeseries",
    "stat",
    "gauge",
    "heatmap",
    "bargauge",
    "table",
];

fn dashboards(bundle: &Bundle) -> Vec<(String, Value)> {
    let dashboards: Vec<(String, Value)> = bundle
        .files()
        .iter()
        .filter(|file| file.path.starts_with(paths::GRAFANA_DASHBOARDS_DIR))
        .map(|file| {
            let json = serde_json::from_slice(&file.contents)
                .unwrap_or_else(|error| panic!("{} is JSON: {error}", file.path));
            (file.path.clone(), json)
        })
        .collect();
    assert_eq!(
        dashboards.len(),
        8,
        "service overview, resources, monitoring health, targets, load test, containers, SLOs, host"
    );
    dashboards
}

#[test]
fn dashboards_use_the_provisioned_datasource_and_modern_described_panels() {
    let (_, bundle) = write_bundle(&test_config(Timing::Standard));
    let mut uids = HashSet::new();
    let mut titles = BTreeMap::new();
    for (path, dashboard) in dashboards(&bundle) {
        let uid = dashboard["uid"].as_str().expect("uid").to_owned();
        assert!(uids.insert(uid), "{path}: duplicate dashboard uid");
        titles.insert(
            path.clone(),
            dashboard["title"].as_str().expect("title").to_owned(),
        );
        let panels = dashboard["panels"].as_array().expect("panels");
        let mut ids = HashSet::new();
        let mut rows = 0;
        for panel in panels {
            let id = panel["id"].as_u64().expect("panel id");
            assert!(ids.insert(id), "{path}: duplicate panel id {id}");
            let kind = panel["type"].as_str().expect("type");
            assert!(
                MODERN_PANELS.contains(&kind),
                "{path}: panel {id} has type {kind}"
            );
            if kind == "row" {
                rows += 1;
                continue;
            }
            let title = panel["title"].as_str().unwrap_or_default();
            assert!(
                panel["description"].as_str().is_some_and(|d| d.len() > 20),
                "{path}: panel {title:?} has no description"
            );
            assert_eq!(
                panel["datasource"]["uid"], DATASOURCE_UID,
                "{path}: {title}"
            );
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{path}: {title} has no query");
            for target in targets {
                assert_eq!(
                    target["datasource"]["uid"], DATASOURCE_UID,
                    "{path}: {title}"
                );
                assert!(target["expr"].as_str().is_some_and(|e| !e.is_empty()));
            }
        }
        assert!(rows >= 2, "{path}: panels are grouped in rows");
    }
    assert!(
        titles.values().all(|title| title.starts_with("monibox / ")),
        "{titles:?}"
    );
}

#[test]
fn grafana_provisioning_matches_the_dashboards_and_keeps_secrets_out() {
    let dir = Path::new("/opt/exported");
    let config = Config::default();
    let bundle = Bundle::render(&config, &monibox::catalog::render::for_export(&config, dir))
        .expect("renders");
    let datasources = yaml(&bundle, paths::GRAFANA_DATASOURCES);
    let datasource = &datasources["datasources"][0];
    assert_eq!(datasource["uid"], DATASOURCE_UID);
    assert_eq!(datasource["type"], "prometheus");
    assert_eq!(datasource["url"], "http://localhost:9090");
    assert_eq!(datasource["jsonData"]["timeInterval"], "15s");
    let provider = &yaml(&bundle, paths::GRAFANA_DASHBOARD_PROVIDER)["providers"][0];
    assert_eq!(
        provider["options"]["path"],
        "/opt/exported/grafana/dashboards"
    );
    assert_eq!(provider["folder"], "monibox");

    let ini = String::from_utf8(
        bundle
            .get(paths::GRAFANA_INI)
            .expect("grafana.ini")
            .to_vec(),
    )
    .expect("text");
    let settings: Vec<String> = ini
        .lines()
        .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
        .map(|line| line.replace(' ', ""))
        .collect();
    for required in [
        "[auth.anonymous]",
        "enabled=false",
        "allow_sign_up=false",
        "reporting_enabled=false",
        "check_for_updates=false",
        "default_home_dashboard_path=\"/opt/exported/grafana/dashboards/service-overview.json\"",
    ] {
        assert!(
            settings.iter().any(|line| line == required),
            "grafana.ini lacks {required}"
        );
    }
    assert!(
        !settings
            .iter()
            .any(|line| line.to_lowercase().contains("admin")),
        "grafana.ini must not set admin credentials"
    );
    for file in bundle.files() {
        let text = String::from_utf8_lossy(&file.contents)
            .to_lowercase()
            .replace(' ', "");
        for secret in ["admin_password=", "admin_password:", "admin_user="] {
            assert!(!text.contains(secret), "{} sets {secret}", file.path);
        }
        assert!(
            !text.contains("${"),
            "{} has an unrendered placeholder",
            file.path
        );
    }

    let stack = Bundle::render(
        &config,
        &monibox::catalog::render::for_stack(&config, 5000, 5001, &[]),
    )
    .expect("renders");
    let provider = &yaml(&stack, paths::GRAFANA_DASHBOARD_PROVIDER)["providers"][0];
    assert_eq!(provider["options"]["path"], "/etc/grafana/dashboards");
    assert_eq!(
        yaml(&stack, paths::GRAFANA_DATASOURCES)["datasources"][0]["url"],
        "http://prometheus:9090"
    );
    let targets = &yaml(&stack, paths::PROMETHEUS_CONFIG)["scrape_configs"];
    assert_eq!(
        targets[0]["static_configs"][0]["targets"][0],
        "host.docker.internal:5000"
    );
    assert_eq!(
        targets[1]["static_configs"][0]["targets"][0],
        "host.docker.internal:5001"
    );
    let rules = Bundle::render(
        &Config::default(),
        &monibox::catalog::render::for_stack(&Config::default(), 5000, 5001, &[]),
    )
    .expect("renders");
    assert_eq!(
        all_rules(&rules, paths::ALERT_RULES)[0]["annotations"]["runbook_url"],
        "http://127.0.0.1:5001/runbooks#higherrorrate",
        "the stack's runbook links open the daemon's /runbooks page"
    );
}

#[test]
fn a_bundle_without_alertmanager_and_grafana_is_valid_and_alerts_on_neither() {
    let mut config = test_config(Timing::Standard);
    config.components.alertmanager = false;
    config.components.grafana = false;
    let (dir, bundle) = write_bundle(&config);
    let out = assert_tool_ok(
        "promtool",
        &["check", "config", "prometheus/prometheus.yml"],
        dir.path(),
    );
    assert!(out.contains("4 rule files found"), "{out}");
    let prometheus = yaml(&bundle, paths::PROMETHEUS_CONFIG);
    assert!(prometheus.get("alerting").is_none(), "{prometheus:#}");
    let jobs = job_names(&prometheus);
    assert_eq!(
        jobs,
        [
            "app",
            "monibox",
            "containers",
            "prometheus",
            "node",
            "docker"
        ]
    );
    assert!(
        bundle
            .files()
            .iter()
            .all(|file| !file.path.starts_with("grafana/")
                && !file.path.starts_with("alertmanager/")),
        "no files of components that do not run"
    );
    let alerts: Vec<String> = every_alert_rule(&bundle)
        .iter()
        .filter_map(|rule| rule["alert"].as_str().map(str::to_owned))
        .collect();
    assert!(alerts.contains(&"HighErrorRate".to_owned()));
    for about_alertmanager in [
        "PrometheusNotConnectedToAlertmanager",
        "PrometheusAlertSendFailing",
        "AlertmanagerNotificationsFailing",
    ] {
        assert!(
            !alerts.contains(&about_alertmanager.to_owned()),
            "{about_alertmanager} would fire without an Alertmanager"
        );
    }
}

#[test]
fn user_targets_render_as_their_own_jobs_that_promtool_accepts() {
    let secrets = tempfile::tempdir().expect("temp dir");
    let token = secrets.path().join("token");
    let password = secrets.path().join("password");
    std::fs::write(&token, "t0ken\n").expect("write");
    std::fs::write(&password, "pw\n").expect("write");
    let text = format!(
        "[[targets]]\nname = \"shop\"\naddress = \"127.0.0.1:8080\"\nlabels = {{ team = \"web\" }}\n\
         basic_auth = {{ username = \"u\", password_file = {password:?} }}\n\n\
         [[targets]]\nname = \"api\"\naddress = \"https://api.internal:8443/stats\"\n\
         interval = \"30s\"\nbearer_token_file = {token:?}\n"
    );
    let mut config = Config::from_toml(&text, Path::new("t.toml")).expect("valid targets");
    config.alerts = test_config(Timing::Standard).alerts;
    let (dir, bundle) = write_bundle(&config);
    assert_tool_ok(
        "promtool",
        &["check", "config", "prometheus/prometheus.yml"],
        dir.path(),
    );
    let exported = yaml(&bundle, paths::PROMETHEUS_CONFIG);
    let jobs = job_names(&exported);
    assert_eq!(
        jobs,
        [
            "app",
            "monibox",
            "containers",
            "prometheus",
            "alertmanager",
            "grafana",
            "node",
            "shop",
            "api",
            "docker"
        ]
    );
    let job = |prometheus: &serde_json::Value, name: &str| {
        prometheus["scrape_configs"]
            .as_array()
            .expect("jobs")
            .iter()
            .find(|job| job["job_name"] == name)
            .cloned()
            .expect("the job")
    };
    let api = job(&exported, "api");
    assert_eq!(api["scheme"], "https");
    assert_eq!(api["metrics_path"], "/stats");
    assert_eq!(api["scrape_interval"], "30s");
    assert_eq!(api["static_configs"][0]["targets"][0], "api.internal:8443");
    assert_eq!(
        api["authorization"]["credentials_file"],
        token.display().to_string(),
        "exported for a Prometheus on this machine: the user's own file"
    );
    let shop = job(&exported, "shop");
    assert_eq!(shop["static_configs"][0]["targets"][0], "127.0.0.1:8080");
    assert_eq!(shop["static_configs"][0]["labels"]["team"], "web");

    let stack = Bundle::render(
        &config,
        &monibox::catalog::render::for_stack(&config, 5000, 5001, &[]),
    )
    .expect("renders");
    let in_container = yaml(&stack, paths::PROMETHEUS_CONFIG);
    let shop = job(&in_container, "shop");
    assert_eq!(
        shop["static_configs"][0]["targets"][0], "host.docker.internal:8080",
        "a loopback target is scraped through the daemon's relay on the gateway"
    );
    assert_eq!(
        shop["static_configs"][0]["labels"]["instance"], "127.0.0.1:8080",
        "and keeps the address the user wrote as its instance"
    );
    assert_eq!(
        shop["basic_auth"]["password_file"],
        "/run/monibox/target-secrets/shop-password"
    );
    let docker = job(&in_container, "docker");
    assert_eq!(
        docker["http_sd_configs"][0]["url"],
        "http://host.docker.internal:5001/sd/docker"
    );
}

#[test]
fn remote_write_and_agent_mode_render_configs_promtool_accepts() {
    let text = "[prometheus]\nmode = \"agent\"\nexternal_labels = { region = \"eu\" }\n\n\
                [[remote_write]]\nurl = \"https://mimir.example/api/v1/push\"\nname = \"mimir\"\n\
                headers = { \"X-Scope-OrgID\" = \"team-a\" }\n";
    let mut agent = Config::from_toml(text, Path::new("t.toml")).expect("valid");
    agent.alerts = test_config(Timing::Standard).alerts;
    let (dir, bundle) = write_bundle(&agent);
    assert_tool_ok(
        "promtool",
        &["check", "config", "--agent", "prometheus/prometheus.yml"],
        dir.path(),
    );
    let prometheus = yaml(&bundle, paths::PROMETHEUS_CONFIG);
    assert_eq!(
        prometheus["rule_files"],
        serde_json::json!([]),
        "an agent has no rules"
    );
    assert!(prometheus.get("alerting").is_none());
    assert_eq!(prometheus["global"]["external_labels"]["region"], "eu");
    assert_eq!(
        prometheus["global"]["external_labels"]["monibox_project"],
        "default"
    );
    assert!(prometheus["global"]["external_labels"]["host"].is_string());
    let remote = &prometheus["remote_write"][0];
    assert_eq!(remote["url"], "https://mimir.example/api/v1/push");
    assert_eq!(remote["headers"]["X-Scope-OrgID"], "team-a");
    assert_eq!(remote["queue_config"]["max_samples_per_send"], 2000);

    let mut server = agent.clone();
    server.prometheus.mode = monibox::config::PrometheusMode::Server;
    let (dir, bundle) = write_bundle(&server);
    assert_tool_ok(
        "promtool",
        &["check", "config", "prometheus/prometheus.yml"],
        dir.path(),
    );
    let prometheus = yaml(&bundle, paths::PROMETHEUS_CONFIG);
    assert!(
        prometheus["rule_files"]
            .as_array()
            .is_some_and(|files| !files.is_empty())
    );
    assert_eq!(prometheus["remote_write"][0]["name"], "mimir");

    let agent_without_destination =
        Config::from_toml("[prometheus]\nmode = \"agent\"\n", Path::new("t.toml"))
            .expect("parses")
            .validate();
    assert!(
        agent_without_destination.is_err_and(|error| error.to_string().contains("remote_write")),
        "an agent needs somewhere to send to"
    );
}
