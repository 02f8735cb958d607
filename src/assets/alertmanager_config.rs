//! `alertmanager.yml` as typed structs, serialised by `serde_norway`, and built from the
//! configuration: alerts grouped by name and severity; critical ones go out sooner, repeat more
//! often and also reach e-mail; every notification reaches the monibox daemon's webhook; a
//! critical alert on a target inhibits the warnings about the same target. Field names are
//! Alertmanager's own (<https://prometheus.io/docs/alerting/latest/configuration/>).

use serde::{Deserialize, Serialize};

use crate::config::{Config, Email, PromDuration, Slack};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertmanagerConfig {
    pub route: Route,
    pub inhibit_rules: Vec<InhibitRule>,
    pub receivers: Vec<Receiver>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub receiver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InhibitRule {
    pub source_matchers: Vec<String>,
    pub target_matchers: Vec<String>,
    pub equal: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receiver {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_configs: Vec<WebhookConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slack_configs: Vec<SlackConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_configs: Vec<EmailConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookConfig {
    pub url: String,
    pub send_resolved: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackConfig {
    pub api_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub send_resolved: bool,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailConfig {
    pub to: String,
    pub from: String,
    pub smarthost: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<String>,
    pub require_tls: bool,
    pub send_resolved: bool,
}

/// The Slack message: each alert's description and runbook link.
const SLACK_TEXT: &str =
    "{{ range .Alerts }}{{ .Annotations.description }} {{ .Annotations.runbook_url }}\n{{ end }}";

fn severity(value: &str) -> Vec<String> {
    vec![format!("severity=\"{value}\"")]
}

impl AlertmanagerConfig {
    /// The configuration for `config`, notifying `webhook_url` (the daemon's `/alerts`) first.
    pub fn new(config: &Config, webhook_url: &str) -> Self {
        let profile = config.timing.profile();
        let receivers = &config.receivers;
        let receiver = |name: &str, with_email: bool| Receiver {
            name: name.to_owned(),
            webhook_configs: std::iter::once(webhook_url)
                .chain(receivers.webhooks.iter().map(|url| url.as_str()))
                .map(|url| WebhookConfig {
                    url: url.to_owned(),
                    send_resolved: true,
                })
                .collect(),
            slack_configs: receivers.slack.iter().map(slack_config).collect(),
            email_configs: receivers
                .email
                .iter()
                .filter(|_| with_email)
                .map(email_config)
                .collect(),
        };
        let child = |name: &str| Route {
            receiver: name.to_owned(),
            group_by: Vec::new(),
            matchers: severity(name),
            group_wait: None,
            group_interval: None,
            repeat_interval: None,
            routes: Vec::new(),
        };
        Self {
            route: Route {
                receiver: "default".to_owned(),
                group_by: vec!["alertname".to_owned(), "severity".to_owned()],
                matchers: Vec::new(),
                group_wait: Some(profile.group_wait),
                group_interval: Some(profile.group_interval),
                repeat_interval: Some(profile.repeat_interval),
                routes: vec![
                    Route {
                        group_wait: Some(profile.critical_group_wait),
                        repeat_interval: Some(profile.critical_repeat_interval),
                        ..child("critical")
                    },
                    child("warning"),
                ],
            },
            // When the service is down, its latency and error-ratio warnings add nothing.
            inhibit_rules: vec![InhibitRule {
                source_matchers: severity("critical"),
                target_matchers: severity("warning"),
                equal: vec!["job".to_owned(), "instance".to_owned()],
            }],
            // `default` catches alerts without a known severity; warnings do not reach an inbox.
            receivers: vec![
                receiver("default", false),
                receiver("critical", true),
                receiver("warning", false),
            ],
        }
    }

    /// The file's text: a comment saying where it comes from, then the YAML.
    pub fn to_yaml(&self, header: &str) -> Result<String, serde_norway::Error> {
        Ok(format!("{header}{}", serde_norway::to_string(self)?))
    }
}

fn slack_config(slack: &Slack) -> SlackConfig {
    SlackConfig {
        api_url: slack.api_url.as_str().to_owned(),
        channel: slack
            .channel
            .as_ref()
            .map(|channel| channel.as_str().to_owned()),
        send_resolved: true,
        text: SLACK_TEXT.to_owned(),
    }
}

fn email_config(email: &Email) -> EmailConfig {
    EmailConfig {
        to: email.to.as_str().to_owned(),
        from: email.from.as_str().to_owned(),
        smarthost: email.smarthost.as_str().to_owned(),
        auth_username: email.auth_username.as_ref().map(|u| u.as_str().to_owned()),
        auth_password: email.auth_password.as_ref().map(|p| p.as_str().to_owned()),
        require_tls: email.require_tls,
        send_resolved: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HttpUrl, Line};

    #[test]
    fn critical_alerts_reach_email_and_every_receiver_reaches_the_daemon() {
        let mut config = Config::default();
        config.receivers.webhooks =
            vec![HttpUrl::try_from("https://hooks.example/a?b=1&c=2".to_owned()).expect("url")];
        config.receivers.email = Some(Email {
            to: Line::from("ops@example.com"),
            from: Line::from("m@example.com"),
            smarthost: Line::from("smtp.example.com:587"),
            auth_username: None,
            auth_password: None,
            require_tls: true,
        });
        let rendered = AlertmanagerConfig::new(&config, "http://host.docker.internal:5001/alerts");
        let text = rendered.to_yaml("").expect("serialises");
        let back: AlertmanagerConfig = serde_norway::from_str(&text).expect("parses");
        assert_eq!(back, rendered, "{text}");
        let by_name = |name: &str| {
            back.receivers
                .iter()
                .find(|receiver| receiver.name == name)
                .expect("receiver")
        };
        assert_eq!(by_name("critical").email_configs.len(), 1);
        assert!(by_name("warning").email_configs.is_empty());
        for receiver in &back.receivers {
            assert_eq!(
                receiver.webhook_configs[0].url,
                "http://host.docker.internal:5001/alerts"
            );
            assert_eq!(
                receiver.webhook_configs[1].url,
                "https://hooks.example/a?b=1&c=2"
            );
        }
    }
}
