//! `monibox export kubernetes DIR`: the stack's monitoring as objects for kube-prometheus-stack
//! (the Prometheus Operator's custom resources, `monitoring.coreos.com`): one `PrometheusRule`
//! per rule file of the bundle (recording rules and alerts, runbook links kept), a
//! `ServiceMonitor` for the demo service and one per `[[targets]]` entry, all labelled
//! `release: <release>` so the chart's default selectors pick them up; every dashboard as a
//! `ConfigMap` labelled `grafana_dashboard: "1"` (the chart's dashboard sidecar) with portable
//! datasource references; the receivers as an `AlertmanagerConfig`; the demo service as a
//! `Deployment` and `Service` from the monibox image; a `kustomization.yaml` listing them.
//! Field names follow the operator's API reference
//! (<https://prometheus-operator.dev/docs/api-reference/api/>).
//!
//! Host metrics are left out (node-exporter's rules, job `node`, and the *Host* dashboard): the
//! chart runs node_exporter itself, as a DaemonSet on every node (its `prometheus-node-exporter`
//! subchart, job `node-exporter`), with its own node alerts and *Node Exporter* dashboards.

use std::collections::BTreeMap;

use serde_json::{Value, json};

mod alertmanager;

use super::{ExportError, ExportFile, dashboards, to_yaml};
use crate::assets::{Bundle, BundleFile, paths};
use crate::catalog::{self, daemon};
use crate::config::Config;

/// The demo service's `Service` and `Deployment` name.
pub const DEMO_NAME: &str = "monibox-demo";
/// The operator's API group and version of its stable kinds.
const MONITORING_V1: &str = "monitoring.coreos.com/v1";

/// What the export is made from.
pub struct KubernetesInputs<'a> {
    pub config: &'a Config,
    /// The Helm release of kube-prometheus-stack, whose name its selectors match.
    pub release: &'a str,
    pub namespace: &'a str,
    pub monibox_image: &'a str,
    /// Whether to write the Namespace object.
    pub create_namespace: bool,
    /// Whether to keep the rule groups about monitoring itself ([`MONITORING_RULE_GROUPS`]).
    pub monitoring_rules: bool,
}

/// The bundle's rule groups about the monitoring stack itself, which kube-prometheus-stack
/// covers with its own (`TargetDown`, `PrometheusRuleFailures`,
/// `PrometheusNotConnectedToAlertmanagers`, …): left out unless asked for, since they would
/// fire for every target and Prometheus of the cluster.
pub const MONITORING_RULE_GROUPS: [&str; 2] = ["monibox-monitoring", "monibox-alertmanager"];

/// What a checked name may be.
#[derive(Debug, Clone, Copy)]
pub enum NameRule {
    /// A DNS-1123 label (a namespace): at most 63 characters.
    Label,
    /// A Helm release name: DNS-1123 labels joined by dots, at most 53 characters.
    Release,
}

/// Checks a name Kubernetes (or Helm) must accept (`what` names it in the error): lowercase
/// letters, digits and `-`, each dot-separated part (a release may have several) starting and
/// ending with a letter or digit.
pub fn check_name(what: &str, name: &str, rule: NameRule) -> Result<(), ExportError> {
    let (max, dots) = match rule {
        NameRule::Label => (63, false),
        NameRule::Release => (53, true),
    };
    let label_ok = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
            && !part.starts_with('-')
            && !part.ends_with('-')
    };
    let valid = name.len() <= max
        && if dots {
            name.split('.').all(label_ok)
        } else {
            label_ok(name)
        };
    if !valid {
        return Err(ExportError::Invalid(format!(
            "{what} {name:?} is not a name Kubernetes accepts: 1 to {max} lowercase letters, \
             digits or '-'{}, starting and ending with a letter or digit",
            if dots {
                " (and dots between parts)"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

/// Every file of the export, rendered.
pub fn render(inputs: &KubernetesInputs<'_>) -> Result<Vec<ExportFile>, ExportError> {
    check_name("--release", inputs.release, NameRule::Release)?;
    check_name("--namespace", inputs.namespace, NameRule::Label)?;
    // The chart's own node_exporter DaemonSet covers host metrics (see the module's doc).
    let mut without_host_metrics = inputs.config.clone();
    without_host_metrics.components.node_exporter = false;
    let config = &without_host_metrics;
    let context = catalog::render::for_containers(
        config,
        DEMO_NAME,
        format!("http://localhost:{}/runbooks", daemon::IMAGE_OPS_PORT),
        None,
    );
    let bundle = Bundle::render(config, &context)?;
    let mut objects: Vec<(String, Value)> = Vec::new();
    if inputs.create_namespace {
        objects.push(("namespace.yaml".to_owned(), namespace(inputs.namespace)));
    }
    objects.extend([
        ("demo-deployment.yaml".to_owned(), deployment(inputs)),
        ("demo-service.yaml".to_owned(), service(inputs)),
        (
            "servicemonitor-demo.yaml".to_owned(),
            demo_service_monitor(inputs),
        ),
    ]);
    for target in &config.targets {
        objects.push((
            format!("servicemonitor-{}.yaml", target.name.as_str()),
            target_service_monitor(inputs, target),
        ));
    }
    for (name, file) in bundle_files(&bundle, paths::RULES_DIR, ".yml") {
        let rules: Value = serde_norway::from_slice(&file.contents)
            .map_err(|error| encode_error(&file.path, &error))?;
        let groups: Vec<&Value> = rules["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|group| {
                inputs.monitoring_rules
                    || !MONITORING_RULE_GROUPS
                        .iter()
                        .any(|name| group["name"] == *name)
            })
            .collect();
        if groups.is_empty() {
            continue;
        }
        objects.push((
            format!("prometheusrule-{name}.yaml"),
            prometheus_rule(inputs, name, &json!(groups)),
        ));
    }
    for (name, file) in bundle_files(&bundle, paths::GRAFANA_DASHBOARDS_DIR, ".json") {
        let dashboard: Value = serde_json::from_slice(&file.contents)
            .map_err(|error| encode_error(&file.path, &error))?;
        objects.push((
            format!("dashboard-{name}.yaml"),
            dashboard_config_map(inputs, name, &dashboards::portable(&dashboard))?,
        ));
    }
    let (alertmanager_config, secret) = alertmanager::config(inputs);
    objects.push(("alertmanagerconfig.yaml".to_owned(), alertmanager_config));
    if let Some(secret) = secret {
        objects.push(("receivers-secret.yaml".to_owned(), secret));
    }

    let header = format!(
        "# Written by `monibox export kubernetes` (project {}, release {}).\n",
        config.project, inputs.release
    );
    objects
        .iter_mut()
        .for_each(|(_, object)| remove_nulls(object));
    let mut files = Vec::new();
    for (name, object) in &objects {
        files.push(ExportFile::public(
            name.clone(),
            to_yaml(name, &header, object)?,
        ));
    }
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": objects.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>(),
    });
    files.push(ExportFile::public(
        "kustomization.yaml",
        to_yaml("kustomization.yaml", &header, &kustomization)?,
    ));
    files.push(ExportFile::public("README.md", readme(inputs, &objects)));
    Ok(files)
}

/// The bundle's files directly in `dir` whose names end in `extension`, with the name without
/// it.
fn bundle_files<'a>(
    bundle: &'a Bundle,
    dir: &'a str,
    extension: &'a str,
) -> impl Iterator<Item = (&'a str, &'a BundleFile)> {
    bundle.files().iter().filter_map(move |file| {
        let name = file
            .path
            .strip_prefix(dir)?
            .strip_prefix('/')?
            .strip_suffix(extension)?;
        Some((name, file))
    })
}

fn encode_error(file: &str, error: &dyn std::fmt::Display) -> ExportError {
    ExportError::Encode {
        file: file.to_owned(),
        message: error.to_string(),
    }
}

/// Drops fields left unset (`null`): the operator's schemas type them as strings, not nullable.
fn remove_nulls(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.retain(|_, field| !field.is_null());
            object.values_mut().for_each(remove_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_nulls),
        _ => {}
    }
}

fn metadata(inputs: &KubernetesInputs<'_>, name: &str, extra: &[(&str, &str)]) -> Value {
    let mut labels = BTreeMap::from([
        ("app.kubernetes.io/part-of", "monibox"),
        ("app.kubernetes.io/managed-by", "monibox-export"),
        ("release", inputs.release),
    ]);
    labels.extend(extra.iter().copied());
    json!({ "name": name, "namespace": inputs.namespace, "labels": labels })
}

fn namespace(name: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } })
}

const DEMO_SELECTOR: (&str, &str) = ("app.kubernetes.io/name", DEMO_NAME);

fn deployment(inputs: &KubernetesInputs<'_>) -> Value {
    let probe = json!({
        "httpGet": { "path": catalog::OPS.readiness.path, "port": "ops" },
        "periodSeconds": 5,
    });
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(inputs, DEMO_NAME, &[DEMO_SELECTOR]),
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { DEMO_SELECTOR.0: DEMO_SELECTOR.1 } },
            "template": {
                "metadata": { "labels": { DEMO_SELECTOR.0: DEMO_SELECTOR.1 } },
                "spec": {
                    "automountServiceAccountToken": false,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "seccompProfile": { "type": "RuntimeDefault" },
                    },
                    "containers": [{
                        "name": "demo",
                        "image": inputs.monibox_image,
                        "args": daemon::serve_command(&inputs.config.demo),
                        "ports": [
                            { "name": "http", "containerPort": daemon::IMAGE_APP_PORT },
                            { "name": "ops", "containerPort": daemon::IMAGE_OPS_PORT },
                        ],
                        "readinessProbe": probe,
                        "livenessProbe": probe,
                        "resources": {
                            "requests": { "cpu": "50m", "memory": "32Mi" },
                            "limits": {
                                "memory": format!("{}Mi", daemon::IMAGE_MEMORY_LIMIT_BYTES >> 20),
                            },
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": { "drop": ["ALL"] },
                        },
                    }],
                },
            },
        },
    })
}

fn service(inputs: &KubernetesInputs<'_>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(inputs, DEMO_NAME, &[DEMO_SELECTOR]),
        "spec": {
            "selector": { DEMO_SELECTOR.0: DEMO_SELECTOR.1 },
            "ports": [
                { "name": "http", "port": daemon::IMAGE_APP_PORT, "targetPort": "http" },
                { "name": "ops", "port": daemon::IMAGE_OPS_PORT, "targetPort": "ops" },
            ],
        },
    })
}

/// The job label Prometheus gives a ServiceMonitor's targets is the Service's name; the bundle's
/// rules and dashboards expect monibox's job names, so the endpoint sets it.
fn job_relabeling(job: &str) -> Value {
    json!({ "action": "replace", "targetLabel": "job", "replacement": job })
}

fn demo_service_monitor(inputs: &KubernetesInputs<'_>) -> Value {
    let interval = inputs.config.timing.profile().scrape_interval.to_string();
    let endpoint = |port: &str, job: &str| {
        json!({
            "port": port,
            "path": "/metrics",
            "interval": interval,
            "relabelings": [job_relabeling(job)],
        })
    };
    json!({
        "apiVersion": MONITORING_V1,
        "kind": "ServiceMonitor",
        "metadata": metadata(inputs, DEMO_NAME, &[]),
        "spec": {
            "selector": { "matchLabels": { DEMO_SELECTOR.0: DEMO_SELECTOR.1 } },
            "endpoints": [
                endpoint("http", catalog::DEMO.scrape_job),
                endpoint("ops", catalog::OPS.scrape_job),
            ],
        },
    })
}

/// A user target moves to the cluster as a Service labelled `app.kubernetes.io/name: <name>`
/// (in any namespace); the ServiceMonitor scrapes its pods on the target's port, path, scheme and
/// interval, with its labels, and credentials from the Secret `monibox-target-<name>`.
fn target_service_monitor(inputs: &KubernetesInputs<'_>, target: &crate::config::Target) -> Value {
    let name = target.name.as_str();
    let interval = target
        .interval
        .unwrap_or(inputs.config.timing.profile().scrape_interval)
        .to_string();
    let mut relabelings = vec![job_relabeling(name)];
    relabelings.extend(target.labels.iter().map(|(label, value)| {
        json!({ "action": "replace", "targetLabel": label.as_str(), "replacement": value.as_str() })
    }));
    let mut endpoint = json!({
        "targetPort": target.address.port,
        "path": target.effective_path(),
        "scheme": target.effective_scheme().to_string(),
        "interval": interval,
        "relabelings": relabelings,
    });
    let secret = format!("monibox-target-{name}")
        .to_lowercase()
        .replace('_', "-");
    if target.bearer_token_file.is_some() {
        endpoint["bearerTokenSecret"] = json!({ "name": secret, "key": "token" });
    }
    if target.basic_auth.is_some() {
        endpoint["basicAuth"] = json!({
            "username": { "name": secret, "key": "username" },
            "password": { "name": secret, "key": "password" },
        });
    }
    json!({
        "apiVersion": MONITORING_V1,
        "kind": "ServiceMonitor",
        "metadata": metadata(inputs, &format!("monibox-{}", name.to_lowercase().replace('_', "-")), &[]),
        "spec": {
            "namespaceSelector": { "any": true },
            "selector": { "matchLabels": { "app.kubernetes.io/name": name } },
            "endpoints": [endpoint],
        },
    })
}

fn prometheus_rule(inputs: &KubernetesInputs<'_>, file: &str, groups: &Value) -> Value {
    json!({
        "apiVersion": MONITORING_V1,
        "kind": "PrometheusRule",
        "metadata": metadata(inputs, &format!("monibox-{file}"), &[]),
        "spec": { "groups": groups },
    })
}

fn dashboard_config_map(
    inputs: &KubernetesInputs<'_>,
    name: &str,
    dashboard: &Value,
) -> Result<Value, ExportError> {
    let text = serde_json::to_string_pretty(dashboard)
        .map_err(|error| encode_error(&format!("{name}.json"), &error))?;
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(inputs, &format!("monibox-dashboard-{name}"), &[("grafana_dashboard", "1")]),
        "data": { format!("{name}.json"): text },
    });
    // The chart's sidecar files it into this folder when `folderAnnotation` is set to it.
    object["metadata"]["annotations"] = json!({ "grafana_folder": "monibox" });
    Ok(object)
}

fn readme(inputs: &KubernetesInputs<'_>, objects: &[(String, Value)]) -> String {
    let listed: Vec<String> = objects
        .iter()
        .map(|(file, object)| format!("- `{file}`: {}", object["kind"].as_str().unwrap_or("")))
        .collect();
    format!(
        "# monibox for kube-prometheus-stack (release `{release}`, namespace `{namespace}`)\n\n\
         Written by `monibox export kubernetes`. Apply with `kubectl apply -k .`.\n\n{listed}\n\n\
         - Rules and ServiceMonitors carry `release: {release}`, which the chart's default \
         `ruleSelector` and `serviceMonitorSelector` match.\n\
         - Dashboards are ConfigMaps labelled `grafana_dashboard: \"1\"` (the chart's sidecar); \
         they select their Prometheus with the `datasource` variable.\n\
         - The demo service runs from `{image}`; push it to a registry the cluster pulls from \
         (`monibox images build --from-host --component monibox`, then `docker tag` and \
         `docker push`), or pass `--demo-image`.\n\
         - A user target is scraped from a Service labelled `app.kubernetes.io/name: <target \
         name>`; credentials come from the Secret `monibox-target-<name>` (keys `token`, \
         `username`, `password`).\n\
         - Runbooks: `kubectl -n {namespace} port-forward svc/{DEMO_NAME} {ops}` then \
         http://localhost:{ops}/runbooks.\n\
         - The operator routes an `AlertmanagerConfig` only alerts labelled with its namespace; \
         alerts from aggregating rules carry none unless the Alertmanager sets \
         `alertmanagerConfigMatcherStrategy: {{type: None}}`.\n",
        release = inputs.release,
        namespace = inputs.namespace,
        image = inputs.monibox_image,
        ops = daemon::IMAGE_OPS_PORT,
        listed = listed.join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_kubernetes_would_refuse_are_refused() {
        for bad in ["", "Kube", "-a", "a-", "a_b", "a..b", &"a".repeat(54)] {
            assert!(
                check_name("--release", bad, NameRule::Release).is_err(),
                "{bad:?}"
            );
        }
        check_name("--release", "kube-prometheus-stack", NameRule::Release).expect("default");
        check_name("--release", "team.prom", NameRule::Release).expect("Helm allows dots");
        assert!(check_name("--namespace", "team.prom", NameRule::Label).is_err());
    }
}
