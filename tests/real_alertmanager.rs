//! The rendered Alertmanager configuration in the host's real Alertmanager: alerts posted to its
//! API are routed by severity to the monibox webhook (the daemon's real ops listener), and a
//! critical alert inhibits warnings on the same target but not on others.

mod support;

use std::time::{Duration, Instant};

use monibox::config::{Port, Timing};
use monibox::daemon::alerts::AlertStatus;
use serde_json::json;
use support::{
    Http, OpsListenerUnderTest, start_alertmanager, start_on_free_port, test_config, write_bundle,
};

fn alert(name: &str, severity: &str, job: &str, instance: &str) -> serde_json::Value {
    json!({
        "labels": {"alertname": name, "severity": severity, "job": job, "instance": instance},
        "annotations": {"summary": format!("{name} test alert")},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_routed_to_the_webhook_and_warnings_inhibited_per_target() {
    let webhook = OpsListenerUnderTest::start().await;
    let mut config = test_config(Timing::Fast);
    config.ports.ops = Port::fixed(webhook.addr.port());
    // Alertmanager's own configuration does not hold its port, so one bundle serves every
    // port tried.
    let (bundle_dir, _) = write_bundle(&config);
    let data_dir = tempfile::tempdir().expect("data dir");
    let (_alertmanager, am_port) =
        start_on_free_port("/-/ready", Duration::from_secs(20), |port| {
            start_alertmanager(bundle_dir.path(), data_dir.path(), port)
        })
        .await;
    let base = format!("http://127.0.0.1:{am_port}");
    let http = Http::new();

    let posted = Instant::now();
    let (status, body) = http
        .post_json(
            &format!("{base}/api/v2/alerts"),
            &json!([
                alert("AppDown", "critical", "app", "a:5000"),
                alert("HighLatencyP95", "warning", "app", "a:5000"),
                alert("TargetDown", "warning", "grafana", "grafana:3000"),
            ]),
        )
        .await
        .expect("post alerts");
    assert_eq!(status, 200, "{body}");

    let critical = webhook
        .wait_for(Duration::from_secs(15), |alert| {
            alert.receiver == "critical"
        })
        .await
        .expect("the critical alert reaches the webhook");
    let delivered_after = posted.elapsed();
    assert_eq!(critical.status, AlertStatus::Firing);
    assert_eq!(critical.alertname, "AppDown");
    assert_eq!(critical.severity.as_deref(), Some("critical"));

    let warning = webhook
        .wait_for(Duration::from_secs(15), |alert| alert.receiver == "warning")
        .await
        .expect("the warning on another target reaches the webhook");
    assert_eq!(warning.alertname, "TargetDown");

    let (_, alerts) = http
        .get(&format!("{base}/api/v2/alerts"))
        .await
        .expect("list alerts");
    let alerts: serde_json::Value = serde_json::from_str(&alerts).expect("JSON");
    let state = |name: &str| {
        alerts
            .as_array()
            .expect("alerts")
            .iter()
            .find(|a| a["labels"]["alertname"] == name)
            .map(|a| a["status"].clone())
            .unwrap_or_else(|| panic!("{name} is known to Alertmanager"))
    };
    let inhibited = state("HighLatencyP95");
    assert_eq!(inhibited["state"], "suppressed", "{inhibited}");
    assert_eq!(
        inhibited["inhibitedBy"].as_array().map(Vec::len),
        Some(1),
        "{inhibited}"
    );
    assert_eq!(state("TargetDown")["state"], "active");

    // Past several group intervals (2 s in the fast profile), the inhibited warning was never sent.
    let leaked = webhook
        .wait_for(Duration::from_secs(5), |alert| {
            alert.alertname == "HighLatencyP95"
        })
        .await;
    assert!(
        leaked.is_none(),
        "an inhibited warning was notified: {leaked:?}"
    );
    let received = webhook.received().await;
    let critical_names: Vec<&str> = received
        .recent
        .iter()
        .filter(|alert| alert.receiver == "critical")
        .map(|alert| alert.alertname.as_str())
        .collect();
    assert!(
        critical_names.iter().all(|name| *name == "AppDown"),
        "{critical_names:?}"
    );
    eprintln!("critical alert delivered to the webhook {delivered_after:?} after it was posted");
}
