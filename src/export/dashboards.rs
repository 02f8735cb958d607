//! Portable dashboards: the bundle's dashboards with every Prometheus reference switched from the
//! provisioned datasource's fixed uid (`monibox-prometheus`, which only monibox's own Grafana
//! has) to the `${datasource}` template variable, which Grafana fills with the Prometheus the
//! user picks (the first one by default). kube-prometheus-stack's Grafana, for one, names its
//! datasource `prometheus`.

use serde_json::{Value, json};

use crate::assets::DATASOURCE_UID;

/// The name of the template variable exported dashboards select their Prometheus by.
pub const DATASOURCE_VARIABLE: &str = "datasource";

/// `dashboard` (a Grafana dashboard's JSON model) with its Prometheus references made portable
/// and the `datasource` variable first among its variables. Idempotent.
pub fn portable(dashboard: &Value) -> Value {
    let mut portable = dashboard.clone();
    replace_uid(&mut portable);
    let variable = json!({
        "name": DATASOURCE_VARIABLE,
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": false,
        "multi": false,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": false,
    });
    if let Some(object) = portable.as_object_mut() {
        let templating = object
            .entry("templating")
            .or_insert_with(|| json!({ "list": [] }));
        if let Some(list) = templating
            .as_object_mut()
            .and_then(|templating| templating.get_mut("list"))
            .and_then(Value::as_array_mut)
        {
            list.retain(|existing| existing["name"] != DATASOURCE_VARIABLE);
            list.insert(0, variable);
        }
    }
    portable
}

fn replace_uid(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if object.get("type").and_then(Value::as_str) == Some("prometheus")
                && object.get("uid").and_then(Value::as_str) == Some(DATASOURCE_UID)
            {
                object.insert(
                    "uid".to_owned(),
                    Value::String(format!("${{{DATASOURCE_VARIABLE}}}")),
                );
            }
            object.values_mut().for_each(replace_uid);
        }
        Value::Array(items) => items.iter_mut().for_each(replace_uid),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prometheus_reference_uses_the_variable_and_grafanas_own_stay() {
        let dashboard = json!({
            "annotations": {"list": [{"datasource": {"type": "grafana", "uid": "-- Grafana --"}}]},
            "panels": [{"datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
                        "targets": [{"datasource": {"type": "prometheus", "uid": DATASOURCE_UID}}]}],
            "templating": {"list": [{"name": "job"}]},
        });
        let once = portable(&dashboard);
        assert_eq!(portable(&once), once, "idempotent");
        let text = once.to_string();
        assert!(!text.contains(DATASOURCE_UID), "{text}");
        assert_eq!(
            once["panels"][0]["targets"][0]["datasource"]["uid"],
            "${datasource}"
        );
        assert_eq!(
            once["annotations"]["list"][0]["datasource"]["uid"],
            "-- Grafana --"
        );
        let names: Vec<&Value> = once["templating"]["list"]
            .as_array()
            .expect("list")
            .iter()
            .map(|variable| &variable["name"])
            .collect();
        assert_eq!(names, ["datasource", "job"]);
    }
}
