//! The importer on Sloth's own examples (`slok/sloth`, `examples/` and the `prometheus/v1`
//! package doc), and its output loaded back through monibox's configuration.

use std::path::Path;

use super::*;
use crate::config::Config;

/// The `prometheus/v1` package doc's example (Kubernetes API server), as published.
const K8S_APISERVER: &str = r#"
version: "prometheus/v1"
service: "k8s-apiserver"
labels:
  cluster: "valhalla"
  component: "kubernetes"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Common SLO based on availability for Kubernetes apiserver HTTP request responses."
    sli:
      events:
        error_query: sum(rate(apiserver_request_total{code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(apiserver_request_total[{{.window}}]))
    alerting:
      name: K8sApiserverAvailabilityAlert
      labels:
        category: "availability"
      annotations:
        runbook: "https://github.com/kubernetes-monitoring/kubernetes-mixin/tree/master/runbook.md#alert-name-kubeapierrorshigh"
      page_alert:
        labels:
          severity: critical
      ticket_alert:
        labels:
          severity: warning

  - name: "requests-latency"
    objective: 99
    description: "Common SLO based on latency for Kubernetes apiserver HTTP request responses."
    sli:
      events:
        error_query: |
          (
            sum(rate(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{.window}}]))
            -
            sum(rate(apiserver_request_duration_seconds_bucket{le="0.4",verb!="WATCH"}[{{.window}}]))
          )
        total_query: sum(rate(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{.window}}]))
    alerting:
      name: K8sApiserverLatencyAlert
      labels:
        category: "latency"
      annotations:
        runbook: "https://github.com/kubernetes-monitoring/kubernetes-mixin/tree/master/runbook.md#alert-name-kubeapilatencyhigh"
      page_alert:
        labels:
          severity: critical
      ticket_alert:
        labels:
          disable: true
"#;

/// `examples/home-wifi.yml` (its comments left out): counts, not rates, in `events`.
const HOME_WIFI: &str = r#"
version: "prometheus/v1"
service: "home-wifi"
labels:
  cluster: "valhalla"
  component: "ubiquiti"
  context: "home"
slos:
  - name: "good-wifi-client-satisfaction"
    objective: 95
    sli:
      events:
        error_query: sum_over_time((count(unifipoller_client_satisfaction_ratio < 0.75))[{{.window}}:]) OR on() vector(0)
        total_query: sum_over_time((count(unifipoller_client_satisfaction_ratio))[{{.window}}:])
    alerting:
      name: GoodWifiClientSatisfaction
      page_alert:
        labels:
          severity: home
      ticket_alert:
        labels:
          severity: warning

  - name: "risk-wifi-client-satisfaction"
    objective: 99.9
    sli:
      events:
        error_query: sum_over_time((count(unifipoller_client_satisfaction_ratio < 0.5))[{{.window}}:]) OR on() vector(0)
        total_query: sum_over_time((count(unifipoller_client_satisfaction_ratio))[{{.window}}:])
    alerting:
      name: RiskWifiClientSatisfaction
      page_alert:
        labels:
          severity: home
      ticket_alert:
        labels:
          severity: warning
"#;

/// `examples/raw-home-wifi.yml`: a ready-made error ratio.
const RAW_HOME_WIFI: &str = r#"
version: "prometheus/v1"
service: "home-wifi"
slos:
  - name: "wifi-client-satisfaction"
    objective: 95
    description: "Warn us that we have an average wifi connection satisfaction."
    sli:
      raw:
        errorRatioQuery: |
          1 - (
            sum(sum_over_time(unifipoller_client_satisfaction_ratio[{{.window}}]))
            /
            sum(count_over_time(unifipoller_client_satisfaction_ratio[{{.window}}]))
          )
    alerting:
      name: WifiClientSatisfaction
      page_alert:
        labels:
          severity: home
"#;

/// `examples/plugin-getting-started.yml`, trimmed to what matters: an SLI plugin in the 2nd SLO.
const PLUGIN: &str = r#"
version: "prometheus/v1"
service: "myservice"
slos:
  - name: "ok"
    objective: 99
    sli:
      events:
        error_query: sum(rate(e[{{.window}}]))
        total_query: sum(rate(t[{{.window}}]))
  - name: "requests-availability"
    objective: 99.9
    sli:
      plugin:
        id: "getting_started_availability"
        options:
          job: myservice
"#;

/// `examples/getting-started.yml` (Sloth 0.12+): an SLO plugin chain and `for:` on the alerts.
const GETTING_STARTED: &str = r#"
version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
slo_plugins:
  chain:
    - id: "sloth.dev/contrib/alert_for/v1"
slos:
  - name: "requests-availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      page_alert:
        for: 5m
        labels:
          severity: pageteam
"#;

/// The TOML of `imported` in a configuration that scrapes `job`, through monibox's own loading
/// and validation.
fn load_back(imported: &Imported, job: &str) -> Config {
    let toml = to_toml(imported, "spec.yml").expect("serialises");
    let text = format!("[[targets]]\nname = \"{job}\"\naddress = \"127.0.0.1:9100\"\n\n{toml}");
    let config = Config::from_toml(&text, Path::new("imported.toml"))
        .unwrap_or_else(|error| panic!("{error}\n{text}"));
    config
        .validate()
        .unwrap_or_else(|error| panic!("{error}\n{text}"));
    config
}

#[test]
fn the_apiserver_example_imports_and_loads_back() {
    let imported = import(K8S_APISERVER, None).expect("imports");
    assert_eq!(imported.slos.len(), 2);
    let latency = &imported.slos[1];
    assert_eq!(latency.name.as_str(), "k8s-apiserver-requests-latency");
    assert_eq!(latency.job, "k8s-apiserver");
    assert_eq!(latency.objective.percent(), 99.0);
    let events = latency.events.as_ref().expect("events");
    assert_eq!(
        events.error_query.as_str(),
        "( sum(rate(apiserver_request_duration_seconds_count{verb!=\"WATCH\"}[{{.window}}])) - \
         sum(rate(apiserver_request_duration_seconds_bucket{le=\"0.4\",verb!=\"WATCH\"}[{{.window}}])) )"
    );
    assert!(
        imported.left_out[0].contains(&"labels.cluster: valhalla".to_owned()),
        "{:?}",
        imported.left_out[0]
    );
    assert!(
        imported.left_out[1]
            .contains(&"slos[1].alerting.ticket_alert.labels.disable: true".to_owned()),
        "{:?}",
        imported.left_out[1]
    );
    let toml = to_toml(&imported, "spec.yml").expect("serialises");
    assert!(toml.contains("events = { error_query = "), "{toml}");
    assert!(
        toml.contains("#   slos[0].alerting.name: K8sApiserverAvailabilityAlert"),
        "{toml}"
    );
    let config = load_back(&imported, "k8s-apiserver");
    assert_eq!(
        config.slo, imported.slos,
        "what is written is what was imported"
    );
}

#[test]
fn job_can_be_given_and_count_queries_carry_over() {
    let imported = import(HOME_WIFI, Some("app")).expect("imports");
    assert!(imported.slos.iter().all(|slo| slo.job == "app"));
    assert_eq!(imported.slos[1].objective.percent(), 99.9);
    load_back(&imported, "wifi");
}

#[test]
fn what_monibox_cannot_express_is_named() {
    let error = |text: &str| import(text, None).expect_err("refused");
    assert!(matches!(
        error(RAW_HOME_WIFI),
        ImportError::Unsupported { path, .. } if path == "slos[0].sli.raw"
    ));
    let plugin = error(PLUGIN);
    assert!(
        plugin
            .to_string()
            .starts_with("slos[1].sli.plugin: not supported"),
        "{plugin}"
    );
    assert!(matches!(
        error(GETTING_STARTED),
        ImportError::Unsupported { path, .. } if path == "slo_plugins"
    ));
    let without_plugins = GETTING_STARTED.replace(
        "slo_plugins:\n  chain:\n    - id: \"sloth.dev/contrib/alert_for/v1\"\n",
        "",
    );
    assert!(matches!(
        error(&without_plugins),
        ImportError::Unsupported { path, .. } if path == "slos[0].alerting.page_alert.for"
    ));
    let disabled = K8S_APISERVER.replace(
        "      ticket_alert:\n        labels:\n          disable: true",
        "      ticket_alert:\n        disable: true",
    );
    assert!(matches!(
        error(&disabled),
        ImportError::Unsupported { path, .. } if path == "slos[1].alerting.ticket_alert.disable"
    ));
}

#[test]
fn go_template_spacing_around_the_window_is_accepted() {
    let spaced = HOME_WIFI.replace("{{.window}}", "{{ .window }}");
    let imported = import(&spaced, None).expect("imports");
    assert_eq!(imported.slos.len(), 2);
}

#[test]
fn bad_values_and_unknown_fields_are_errors_naming_them() {
    let error = |text: &str| import(text, None).expect_err("refused").to_string();
    let unknown = error(&PLUGIN.replace("    objective: 99\n", "    objective: 99\n    goal: 1\n"));
    assert!(unknown.contains("unknown field `goal`"), "{unknown}");
    assert!(unknown.contains("slos[0]"), "{unknown}");
    assert!(
        error(&PLUGIN.replace("prometheus/v1", "openslo/v1")).starts_with("version: "),
        "the version"
    );
    let hundred = error(&PLUGIN.replace("objective: 99\n", "objective: 100\n"));
    assert!(hundred.starts_with("slos[0].objective: "), "{hundred}");
    let no_window = error(&PLUGIN.replace("sum(rate(e[{{.window}}]))", "sum(rate(e[5m]))"));
    assert!(
        no_window.starts_with("slos[0].sli.events.error_query: "),
        "{no_window}"
    );
    let upper = error(&PLUGIN.replace("name: \"ok\"", "name: \"OK\""));
    assert!(upper.starts_with("slos[0].name: "), "{upper}");
    let twice = error(&HOME_WIFI.replace(
        "risk-wifi-client-satisfaction",
        "good-wifi-client-satisfaction",
    ));
    assert!(twice.starts_with("slos[1].name: "), "{twice}");
    assert!(error("version: [").starts_with("not a Sloth prometheus/v1 spec"));
    assert!(error("version: \"prometheus/v1\"\nservice: s\n").starts_with("slos: "));
}
