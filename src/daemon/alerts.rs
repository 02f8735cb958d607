//! Alerts received on the webhook: Alertmanager's webhook payload (version 4), a bounded log of
//! the most recent alerts, and the JSON view `GET /alerts` serves (and `status` reads).

use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Alerts kept for `GET /alerts`; older ones are dropped (the counters keep counting).
pub const RECENT_ALERTS: usize = 200;
/// Labels kept per alert, and characters kept per label or annotation value, so the log stays
/// small whatever is posted.
const MAX_LABELS: usize = 32;
const MAX_VALUE_CHARS: usize = 512;

/// One webhook notification as Alertmanager posts it. Unknown fields are ignored, as
/// Alertmanager may add some.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookPayload {
    pub version: String,
    pub status: String,
    pub receiver: String,
    pub alerts: Vec<WebhookAlert>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookAlert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt", default)]
    pub ends_at: Option<String>,
}

/// Whether an alert fires or has resolved: the only two states Alertmanager sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

/// Why a webhook body was refused (answered with 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("the body is not an Alertmanager webhook payload: {0}")]
    Json(String),
    #[error("webhook payload version {0:?} is not supported (expected \"4\")")]
    Version(String),
    #[error("alert status {0:?} is neither \"firing\" nor \"resolved\"")]
    Status(String),
    #[error("an alert has no alertname label")]
    NoName,
}

/// One alert as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedAlert {
    pub alertname: String,
    pub status: AlertStatus,
    pub severity: Option<String>,
    /// The Alertmanager receiver that sent it (`critical`, `warning`, `default`).
    pub receiver: String,
    pub labels: BTreeMap<String, String>,
    pub summary: Option<String>,
    pub runbook_url: Option<String>,
    /// When the alert started firing, as Alertmanager says (RFC 3339).
    pub starts_at: String,
    /// When it was received here (RFC 3339, UTC).
    pub received_at: String,
}

#[cfg(test)]
impl ReceivedAlert {
    /// An alert with a name and status and nothing else, for tests.
    pub(crate) fn bare(alertname: &str, status: AlertStatus) -> Self {
        Self {
            alertname: alertname.to_owned(),
            status,
            severity: None,
            receiver: "default".to_owned(),
            labels: BTreeMap::new(),
            summary: None,
            runbook_url: None,
            starts_at: String::new(),
            received_at: String::new(),
        }
    }
}

/// Parses and checks a webhook body; every alert in it must be well-formed, or none is taken.
pub fn parse_payload(
    body: &[u8],
    received_at: SystemTime,
) -> Result<Vec<ReceivedAlert>, PayloadError> {
    let payload: WebhookPayload =
        serde_json::from_slice(body).map_err(|error| PayloadError::Json(error.to_string()))?;
    if payload.version != "4" {
        return Err(PayloadError::Version(payload.version));
    }
    AlertStatus::parse(&payload.status).ok_or(PayloadError::Status(payload.status.clone()))?;
    let received_at = humantime::format_rfc3339_seconds(received_at).to_string();
    payload
        .alerts
        .into_iter()
        .map(|alert| {
            let status =
                AlertStatus::parse(&alert.status).ok_or(PayloadError::Status(alert.status))?;
            let alertname = alert
                .labels
                .get("alertname")
                .cloned()
                .ok_or(PayloadError::NoName)?;
            let annotation = |key: &str| alert.annotations.get(key).map(|value| clip(value));
            Ok(ReceivedAlert {
                alertname: clip(&alertname),
                status,
                severity: alert.labels.get("severity").map(|value| clip(value)),
                receiver: clip(&payload.receiver),
                summary: annotation("summary"),
                runbook_url: annotation("runbook_url"),
                labels: alert
                    .labels
                    .iter()
                    .take(MAX_LABELS)
                    .map(|(key, value)| (clip(key), clip(value)))
                    .collect(),
                starts_at: clip(&alert.starts_at),
                received_at: received_at.clone(),
            })
        })
        .collect()
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_VALUE_CHARS) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

/// What `GET /alerts` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsView {
    /// Webhook notifications accepted since the daemon started.
    pub notifications_total: u64,
    /// Alerts in them (a notification carries one or more).
    pub alerts_total: u64,
    /// The most recent alerts, newest first (at most [`RECENT_ALERTS`]).
    pub recent: Vec<ReceivedAlert>,
}

/// The bounded log of received alerts.
#[derive(Debug, Default)]
pub struct AlertLog {
    notifications_total: u64,
    alerts_total: u64,
    recent: VecDeque<ReceivedAlert>,
}

impl AlertLog {
    pub fn record(&mut self, alerts: Vec<ReceivedAlert>) {
        self.notifications_total += 1;
        self.alerts_total += alerts.len() as u64;
        for alert in alerts {
            if self.recent.len() == RECENT_ALERTS {
                self.recent.pop_front();
            }
            self.recent.push_back(alert);
        }
    }

    pub fn counts(&self) -> (u64, u64) {
        (self.notifications_total, self.alerts_total)
    }

    pub fn view(&self) -> AlertsView {
        AlertsView {
            notifications_total: self.notifications_total,
            alerts_total: self.alerts_total,
            recent: self.recent.iter().rev().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(status: &str, alerts: &str) -> String {
        format!(
            r#"{{"version":"4","status":"{status}","receiver":"critical","groupKey":"{{}}",
               "alerts":[{alerts}],"externalURL":"http://am:9093"}}"#
        )
    }

    const ALERT: &str = r#"{"status":"firing","labels":{"alertname":"HighErrorRate",
        "severity":"critical","endpoint":"/error"},"annotations":{"summary":"errors"},
        "startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"f"}"#;

    #[test]
    fn a_webhook_payload_becomes_received_alerts() {
        let alerts = parse_payload(payload("firing", ALERT).as_bytes(), SystemTime::UNIX_EPOCH)
            .expect("valid payload");
        assert_eq!(alerts.len(), 1);
        let alert = &alerts[0];
        assert_eq!(alert.alertname, "HighErrorRate");
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.severity.as_deref(), Some("critical"));
        assert_eq!(alert.receiver, "critical");
        assert_eq!(alert.summary.as_deref(), Some("errors"));
        assert_eq!(alert.received_at, "1970-01-01T00:00:00Z");
    }

    #[test]
    fn stored_values_are_clipped() {
        let long = "x".repeat(10_000);
        let alert = ALERT.replace(r#""endpoint":"/error""#, &format!(r#""endpoint":"{long}""#));
        let alerts = parse_payload(payload("firing", &alert).as_bytes(), SystemTime::UNIX_EPOCH)
            .expect("valid payload");
        assert_eq!(alerts[0].labels["endpoint"].len(), MAX_VALUE_CHARS);
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let at = SystemTime::UNIX_EPOCH;
        assert!(matches!(
            parse_payload(b"{", at),
            Err(PayloadError::Json(_))
        ));
        assert!(matches!(
            parse_payload(b"[]", at),
            Err(PayloadError::Json(_))
        ));
        let v3 = payload("firing", ALERT).replace(r#""version":"4""#, r#""version":"3""#);
        assert_eq!(
            parse_payload(v3.as_bytes(), at),
            Err(PayloadError::Version("3".to_owned()))
        );
        assert!(matches!(
            parse_payload(payload("odd", ALERT).as_bytes(), at),
            Err(PayloadError::Status(_))
        ));
        let unnamed = ALERT.replace(r#""alertname":"HighErrorRate","#, "");
        assert_eq!(
            parse_payload(payload("firing", &unnamed).as_bytes(), at),
            Err(PayloadError::NoName)
        );
    }

    #[test]
    fn the_log_keeps_the_newest_alerts_and_counts_all() {
        let mut log = AlertLog::default();
        for n in 0..RECENT_ALERTS + 5 {
            log.record(vec![ReceivedAlert::bare(
                &format!("A{n}"),
                AlertStatus::Firing,
            )]);
        }
        let view = log.view();
        assert_eq!(view.notifications_total, (RECENT_ALERTS + 5) as u64);
        assert_eq!(view.recent.len(), RECENT_ALERTS);
        assert_eq!(view.recent[0].alertname, format!("A{}", RECENT_ALERTS + 4));
        assert_eq!(view.recent[RECENT_ALERTS - 1].alertname, "A5");
    }
}
