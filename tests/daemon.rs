//! The daemon through its library API, on 127.0.0.1:0 and a temporary control socket: the
//! control protocol, the ops listener's webhook, self-metrics and runbooks, and a clean shutdown.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use monibox::config::Demo;
use monibox::daemon::control::{self, ControlError, ControlRequest, ControlResponse};
use monibox::daemon::ops::MAX_WEBHOOK_BYTES;
use monibox::daemon::{Daemon, DaemonError, DaemonSettings, demo_settings};
use monibox::supervise::SupervisorSettings;
use tokio_util::sync::CancellationToken;

const WEBHOOK: &str = r#"{"version":"4","status":"firing","receiver":"critical",
  "groupKey":"{}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0,
  "groupLabels":{"alertname":"HighErrorRate"},"commonLabels":{},"commonAnnotations":{},
  "externalURL":"http://alertmanager:9093",
  "alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","severity":"critical",
    "endpoint":"/error"},"annotations":{"summary":"errors on /error",
    "runbook_url":"http://127.0.0.1:5001/runbooks#higherrorrate"},
    "startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z",
    "generatorURL":"http://prometheus:9090/graph","fingerprint":"abc"}]}"#;

fn settings(socket: &std::path::Path) -> DaemonSettings {
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    DaemonSettings {
        project: "daemon-test".to_owned(),
        app_listen: vec![loopback],
        ops_listen: vec![loopback],
        demo: demo_settings(&Demo::default()),
        control_socket: socket.to_owned(),
        settings_digest: "digest-1".to_owned(),
        // No stack.json in the project directory: the supervisor has nothing to supervise.
        supervision: SupervisorSettings {
            project: "daemon-test".to_owned(),
            project_dir: monibox::stack::state::StateRoot::resolve(socket.parent(), None, None)
                .expect("a state root")
                .project("daemon-test"),
            docker_host: None,
            start_held: false,
        },
    }
}

async fn status(socket: &std::path::Path) -> control::DaemonStatus {
    match control::request(socket, ControlRequest::Status, Duration::from_secs(2)).await {
        Ok(ControlResponse::Status(status)) => *status,
        other => panic!("expected a status, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_its_parts_and_shuts_down_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    let daemon = Daemon::bind(settings(&socket)).await.expect("binds");
    let (app, ops) = (daemon.app_addrs()[0], daemon.ops_addrs()[0]);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the control socket is private");

    let second = Daemon::bind(settings(&socket))
        .await
        .expect_err("one daemon per socket");
    assert!(
        matches!(
            second,
            DaemonError::Control(ControlError::AlreadyRunning { .. })
        ),
        "{second:?}"
    );

    let shutdown = CancellationToken::new();
    let running = tokio::spawn(daemon.run(shutdown.clone()));
    let client = common::client();

    let before = status(&socket).await;
    assert_eq!(before.project, "daemon-test");
    assert_eq!(before.pid, std::process::id());
    assert_eq!(before.settings_digest, "digest-1");
    assert_eq!(before.app_listen, [app]);
    assert_eq!(before.ops_listen, [ops]);
    assert_eq!(before.notifications_total, 0);

    let health = client.get(&format!("http://{app}/")).await.unwrap();
    assert_eq!(health.status, 200, "the demo service answers");
    let healthy = client
        .get(&format!("http://{ops}/-/healthy"))
        .await
        .unwrap();
    assert_eq!(
        (healthy.status.as_u16(), healthy.text()),
        (200, "OK".to_owned())
    );

    let accepted = client
        .post(&format!("http://{ops}/alerts"), "application/json", WEBHOOK)
        .await
        .unwrap();
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    for bad in [
        "{",
        r#"{"version":"3","status":"firing","receiver":"x","alerts":[]}"#,
    ] {
        let refused = client
            .post(&format!("http://{ops}/alerts"), "application/json", bad)
            .await
            .unwrap();
        assert_eq!(refused.status, 400, "{bad}: {}", refused.text());
    }
    let huge = vec![b' '; MAX_WEBHOOK_BYTES + 1];
    let too_large = client
        .post(&format!("http://{ops}/alerts"), "application/json", huge)
        .await
        .unwrap();
    assert_eq!(too_large.status, 413);

    let received: serde_json::Value = serde_json::from_slice(
        &client
            .get(&format!("http://{ops}/alerts"))
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(received["notifications_total"], 1, "{received}");
    assert_eq!(received["alerts_total"], 1);
    let alert = &received["recent"][0];
    assert_eq!(alert["alertname"], "HighErrorRate");
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["labels"]["endpoint"], "/error");
    assert_eq!(alert["summary"], "errors on /error");
    assert!(
        alert["received_at"].as_str().unwrap().ends_with('Z'),
        "{alert}"
    );
    assert_eq!(status(&socket).await.alerts_total, 1);

    let metrics = client
        .get(&format!("http://{ops}/metrics"))
        .await
        .unwrap()
        .text();
    let samples = common::Samples::parse(&metrics);
    assert_eq!(
        samples.get(
            "monibox_alerts_received_total",
            &[("alertname", "HighErrorRate"), ("status", "firing")]
        ),
        Some(1.0)
    );
    assert_eq!(
        samples.get(
            "monibox_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert!(samples.get("process_resident_memory_bytes", &[]).is_some());

    let runbooks = client.get(&format!("http://{ops}/runbooks")).await.unwrap();
    assert_eq!(
        runbooks.content_type.as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(runbooks.text().contains(r#"id="higherrorrate""#));
    let missing = client.get(&format!("http://{ops}/nope")).await.unwrap();
    assert_eq!(missing.status, 404);

    let stopping = Instant::now();
    match control::request(&socket, ControlRequest::Shutdown, Duration::from_secs(2)).await {
        Ok(ControlResponse::ShuttingDown) => {}
        other => panic!("expected shutting_down, got {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the daemon stops promptly")
        .unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
    assert!(
        shutdown.is_cancelled(),
        "the shutdown request cancels the daemon's token"
    );
    assert!(
        !socket.exists(),
        "the control socket is removed on the way out"
    );
    assert!(matches!(
        control::request(&socket, ControlRequest::Status, Duration::from_secs(1)).await,
        Err(ControlError::NotRunning { .. })
    ));
    assert!(
        client
            .get(&format!("http://{ops}/-/healthy"))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_control_socket_is_replaced_and_garbage_is_answered_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    // A socket file left by a daemon that died: nobody listens on it.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let daemon = Daemon::bind(settings(&socket))
        .await
        .expect("replaces the stale socket");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(daemon.run(shutdown.clone()));

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    stream
        .write_all(b"{\"command\":\"reboot\"}\n")
        .await
        .unwrap();
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).await.unwrap();
    let answer: ControlResponse = serde_json::from_str(&answer).unwrap();
    assert!(
        matches!(&answer, ControlResponse::Error { message } if message.contains("status")),
        "{answer:?}"
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops")
        .unwrap();
}
