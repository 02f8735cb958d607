//! The receivers of the bundle's `alertmanager.yml` as the operator's `AlertmanagerConfig`
//! (`monitoring.coreos.com/v1alpha1`: camel-case fields, matchers as objects, credentials by
//! Secret reference), and the Secret holding those credentials.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{DEMO_NAME, KubernetesInputs, metadata};
use crate::assets::alertmanager_config::{AlertmanagerConfig, Route};
use crate::catalog::daemon;

/// The Secret holding receiver credentials (Slack URLs, e-mail passwords), when any.
const RECEIVER_SECRET: &str = "monibox-receivers";

/// The receivers of `alertmanager.yml` as an `AlertmanagerConfig` (`monitoring.coreos.com/
/// v1alpha1`), and the Secret its Slack URLs and e-mail passwords are read from, if any.
pub(super) fn config(inputs: &KubernetesInputs<'_>) -> (Value, Option<Value>) {
    let webhook = format!(
        "http://{DEMO_NAME}.{}.svc:{}/alerts",
        inputs.namespace,
        daemon::IMAGE_OPS_PORT
    );
    let typed = AlertmanagerConfig::new(inputs.config, &webhook);
    let mut secret_data = BTreeMap::new();
    let receivers: Vec<Value> = typed
        .receivers
        .iter()
        .map(|receiver| {
            let slack: Vec<Value> = receiver.slack_configs.iter().enumerate().map(|(index, slack)| {
                let key = format!("{}-slack-api-url-{index}", receiver.name);
                secret_data.insert(key.clone(), slack.api_url.clone());
                json!({ "apiURL": { "name": RECEIVER_SECRET, "key": key }, "channel": slack.channel,
                        "sendResolved": slack.send_resolved, "text": slack.text })
            }).collect();
            let email: Vec<Value> = receiver.email_configs.iter().enumerate().map(|(index, email)| {
                let mut config = json!({ "to": email.to, "from": email.from, "smarthost": email.smarthost,
                    "authUsername": email.auth_username, "requireTLS": email.require_tls,
                    "sendResolved": email.send_resolved });
                if let Some(password) = &email.auth_password {
                    let key = format!("{}-email-password-{index}", receiver.name);
                    secret_data.insert(key.clone(), password.clone());
                    config["authPassword"] = json!({ "name": RECEIVER_SECRET, "key": key });
                }
                config
            }).collect();
            json!({
                "name": receiver.name,
                "webhookConfigs": receiver.webhook_configs.iter()
                    .map(|hook| json!({ "url": hook.url, "sendResolved": hook.send_resolved }))
                    .collect::<Vec<_>>(),
                "slackConfigs": slack,
                "emailConfigs": email,
            })
        })
        .collect();
    let inhibit: Vec<Value> = typed
        .inhibit_rules
        .iter()
        .map(|rule| {
            json!({
                "sourceMatch": rule.source_matchers.iter().map(|m| matcher(m)).collect::<Vec<_>>(),
                "targetMatch": rule.target_matchers.iter().map(|m| matcher(m)).collect::<Vec<_>>(),
                "equal": rule.equal,
            })
        })
        .collect();
    let config = json!({
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": metadata(inputs, "monibox", &[]),
        "spec": { "route": route(&typed.route), "receivers": receivers, "inhibitRules": inhibit },
    });
    let secret = (!secret_data.is_empty()).then(|| {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata(inputs, RECEIVER_SECRET, &[]),
            "type": "Opaque",
            "stringData": secret_data,
        })
    });
    (config, secret)
}

fn route(route: &Route) -> Value {
    let mut value = json!({
        "receiver": route.receiver,
        "groupBy": route.group_by,
        "matchers": route.matchers.iter().map(|m| matcher(m)).collect::<Vec<_>>(),
        "routes": route.routes.iter().map(self::route).collect::<Vec<_>>(),
    });
    for (key, duration) in [
        ("groupWait", route.group_wait),
        ("groupInterval", route.group_interval),
        ("repeatInterval", route.repeat_interval),
    ] {
        if let Some(duration) = duration {
            value[key] = Value::String(duration.to_string());
        }
    }
    value
}

/// `name="value"` (or `!=`, `=~`, `!~`) as the operator's matcher object.
fn matcher(text: &str) -> Value {
    let at = text.find(['=', '!']).unwrap_or(text.len());
    let (name, rest) = text.split_at(at);
    let op = ["=~", "!~", "!=", "="]
        .into_iter()
        .find(|op| rest.starts_with(op))
        .unwrap_or("=");
    let value = rest[op.len().min(rest.len())..].trim_matches('"');
    json!({ "name": name.trim(), "value": value, "matchType": op })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_become_operator_objects() {
        assert_eq!(
            matcher("severity=\"critical\""),
            json!({ "name": "severity", "value": "critical", "matchType": "=" })
        );
        assert_eq!(matcher("job!~\"a|b\"")["matchType"], "!~");
    }
}
