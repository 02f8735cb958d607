//! The load engine against the real demo service on 127.0.0.1:0: counts agree with the server's
//! own metrics, the open model keeps its rate, the mix keeps its proportions, and runs stop when
//! told (bounds, timeouts, cancellation, an unreachable target).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{RefusingPort, RunningDemo, StalledPort};
use monibox::demo::DemoSettings;
use monibox::load::plan::{LoadPlan, LoadSettings, MAX_DURATION, MIN_RATE, Target, ThinkTime};
use monibox::load::report::LoadReport;
use monibox::load::{self, Finished, LoadError};
use tokio_util::sync::CancellationToken;

fn plan(target: &str, settings: LoadSettings) -> LoadPlan {
    let target: Target = target.parse().expect("target URL");
    LoadPlan::new(target, settings, 2, None).expect("valid plan")
}

async fn run(plan: &LoadPlan) -> Finished {
    let running = load::start(plan, CancellationToken::new())
        .await
        .expect("load starts");
    running.finish().await.expect("load finishes")
}

fn endpoint_label(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_counts_equal_the_servers_request_counts() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let plan = plan(
        &demo.base_url,
        LoadSettings {
            users: Some(8),
            think_time: Some(ThinkTime::NONE),
            requests: Some(600),
            mix: "/=50,/slow?ms=5=20,/error=20,/cpu-intensive?n=1000=10"
                .parse()
                .ok(),
            ..LoadSettings::default()
        },
    );
    let report = LoadReport::new(&plan, &run(&plan).await);
    assert_eq!(report.totals.requests, 600, "exactly --requests requests");
    assert_eq!(
        report.totals.errors, report.errors.http_5xx,
        "only /error's 500s fail: {report:?}"
    );
    assert!(
        report.errors.http_5xx > 0,
        "/error fails about 30% of the time"
    );

    let mut client: BTreeMap<(String, String), u64> = BTreeMap::new();
    for row in &report.endpoints {
        for (status, count) in &row.status_codes {
            *client
                .entry((endpoint_label(&row.endpoint).to_owned(), status.clone()))
                .or_default() += count;
        }
    }
    let samples = demo.scrape().await;
    // Summed over methods; the series the service created at 0 and never counted in are left
    // out, as the client saw no such answer.
    let mut server: BTreeMap<(String, String), u64> = BTreeMap::new();
    for ((name, labels), value) in &samples.series {
        if name == "app_request_count_total" && labels["endpoint"] != "/metrics" && *value > 0.0 {
            *server
                .entry((labels["endpoint"].clone(), labels["status"].clone()))
                .or_default() += *value as u64;
        }
    }
    assert_eq!(
        client, server,
        "client (left) and server (right) count the same requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_keeps_the_asked_rate() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let plan = plan(
        &demo.base_url,
        LoadSettings {
            rate: Some(200.0),
            duration: Some(Duration::from_secs(3)),
            mix: "/".parse().ok(),
            ..LoadSettings::default()
        },
    );
    let report = LoadReport::new(&plan, &run(&plan).await);
    let requests = report.totals.requests as f64;
    assert!(
        (570.0..=630.0).contains(&requests),
        "{requests} requests, 600 ± 5% expected"
    );
    assert!(
        (report.totals.rps - 200.0).abs() <= 10.0,
        "{} req/s, 200 ± 5% expected",
        report.totals.rps
    );
    assert_eq!(
        report.late_starts.map(|late| late.count),
        Some(0),
        "no request waited for a connection"
    );
    assert_eq!(report.totals.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_follow_the_mix_weights() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let plan = plan(
        &demo.base_url,
        LoadSettings {
            users: Some(8),
            think_time: Some(ThinkTime::NONE),
            requests: Some(4000),
            mix: "/=50,/error?rate=0=30,/cpu-intensive?n=10=20".parse().ok(),
            ..LoadSettings::default()
        },
    );
    let report = LoadReport::new(&plan, &run(&plan).await);
    assert_eq!(report.totals.requests, 4000);
    for (row, weight) in report.endpoints.iter().zip([50.0, 30.0, 20.0]) {
        let share = row.requests as f64 / 4000.0 * 100.0;
        // 3 points is about 4 standard deviations of a 4000-draw sample at these weights.
        assert!(
            (share - weight).abs() < 3.0,
            "{}: {share:.1}% of requests, weight {weight}%",
            row.endpoint
        );
    }
    assert_eq!(report.totals.errors, 0, "?rate=0 never fails");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_ends_slow_requests_and_is_counted() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let plan = plan(
        &demo.base_url,
        LoadSettings {
            users: Some(2),
            think_time: Some(ThinkTime::NONE),
            duration: Some(Duration::from_millis(700)),
            timeout: Some(Duration::from_millis(200)),
            mix: "/slow?ms=3000=1".parse().ok(),
            ..LoadSettings::default()
        },
    );
    let began = Instant::now();
    let report = LoadReport::new(&plan, &run(&plan).await);
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "took {:?}",
        began.elapsed()
    );
    assert!(
        report.errors.timeout >= 4,
        "two users time out every 200 ms: {:?}",
        report.errors
    );
    assert_eq!(
        report.totals.requests, report.errors.timeout,
        "every request timed out"
    );
    assert_eq!(report.totals.latency_ms.p95, None, "no answers, no latency");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_the_run_at_once() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    let plan = plan(
        &demo.base_url,
        LoadSettings {
            users: Some(4),
            think_time: "1ms..5ms".parse().ok(),
            duration: Some(Duration::from_secs(60)),
            // Mostly quick requests, so there are counts to keep; now and then a 5 s one, which
            // is in flight at the cancel and must not delay the stop.
            mix: "/=99,/slow?ms=5000=1".parse().ok(),
            ..LoadSettings::default()
        },
    );
    let stop = CancellationToken::new();
    let running = load::start(&plan, stop.clone()).await.expect("load starts");
    let mut probe = running.probe();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cancelled_at = Instant::now();
    stop.cancel();
    let finished = running.finish().await.expect("load finishes");
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(1),
        "stopped after {:?}",
        cancelled_at.elapsed()
    );
    assert!(finished.interrupted);
    assert!(
        finished.stats.requests() > 0,
        "requests before the cancel are kept"
    );
    assert!(
        probe.sample().requests > 0,
        "the progress probe saw them too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_up_staggers_user_starts() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    // Four users over 2 s start at 0, 0.5, 1.0 and 1.5 s. Each sends one request when it
    // starts, then thinks past the end of the run, so the requests count the users that started
    // before the end whatever the latency: 2 by 0.75 s, 3 by 1.25 s (4 without the ramp). Every
    // boundary is a quarter of a second away from a start.
    for (duration_ms, started) in [(750, 2), (1250, 3)] {
        let plan = plan(
            &demo.base_url,
            LoadSettings {
                users: Some(4),
                think_time: "10s".parse().ok(),
                ramp_up: Some(Duration::from_secs(2)),
                duration: Some(Duration::from_millis(duration_ms)),
                mix: "/".parse().ok(),
                ..LoadSettings::default()
            },
        );
        assert_eq!(
            run(&plan).await.stats.requests(),
            started,
            "users started within {duration_ms} ms"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_pauses_and_the_slowest_rate_end_with_the_duration() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    // Each user sends once, then would think for a year: the run still ends at its duration.
    let thinking = plan(
        &demo.base_url,
        LoadSettings {
            users: Some(2),
            think_time: Some(ThinkTime {
                min: MAX_DURATION,
                max: MAX_DURATION,
            }),
            duration: Some(Duration::from_secs(1)),
            mix: "/".parse().ok(),
            ..LoadSettings::default()
        },
    );
    let began = Instant::now();
    let finished = run(&thinking).await;
    assert_eq!(finished.stats.requests(), 2);
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );

    // One request every 1000 s: the first is due at once, the next long after the end.
    let slowest = plan(
        &demo.base_url,
        LoadSettings {
            rate: Some(MIN_RATE),
            duration: Some(Duration::from_secs(1)),
            requests: Some(u64::MAX),
            mix: "/".parse().ok(),
            ..LoadSettings::default()
        },
    );
    let began = Instant::now();
    let finished = run(&slowest).await;
    assert_eq!(finished.stats.requests(), 1);
    assert_eq!(finished.window, Duration::from_secs(1));
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
}

#[tokio::test]
async fn cancelling_while_the_target_does_not_answer_the_connection_check_stops_at_once() {
    let stalled = StalledPort::new().await;
    let plan = plan(&stalled.url(), LoadSettings::default());
    let stop = CancellationToken::new();
    let cancel = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let began = Instant::now();
    let error = load::start(&plan, stop)
        .await
        .err()
        .expect("interrupted before the load started");
    assert!(matches!(error, LoadError::Interrupted), "{error}");
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "stopped after {:?}, not at the 5 s connection timeout",
        began.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_target_fails_before_the_run() {
    let refusing = RefusingPort::new();
    let plan = plan(
        &refusing.url(),
        LoadSettings {
            duration: Some(Duration::from_secs(30)),
            ..LoadSettings::default()
        },
    );
    let began = Instant::now();
    let error = load::start(&plan, CancellationToken::new())
        .await
        .err()
        .expect("nothing listens there");
    assert!(matches!(error, LoadError::Unreachable { .. }), "{error}");
    assert!(
        error.to_string().contains("monibox serve"),
        "says what to do: {error}"
    );
    assert!(began.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_are_per_second_of_the_whole_duration() {
    let demo = RunningDemo::start(DemoSettings::default()).await;
    // Closed: each user sends at 0 and about 0.5 s (as long as `/` answers within half a
    // second) and is still thinking when the second ends.
    let closed = plan(
        &demo.base_url,
        LoadSettings {
            users: Some(2),
            think_time: "500ms".parse().ok(),
            duration: Some(Duration::from_secs(1)),
            mix: "/".parse().ok(),
            ..LoadSettings::default()
        },
    );
    let finished = run(&closed).await;
    assert_eq!(finished.window, Duration::from_secs(1));
    assert!(
        finished.elapsed >= Duration::from_secs(1),
        "{:?}",
        finished.elapsed
    );
    let report = LoadReport::new(&closed, &finished);
    assert_eq!(report.totals.requests, 4);
    assert!(
        (report.totals.rps - 4.0).abs() < 1e-9,
        "{} req/s",
        report.totals.rps
    );

    // Open: requests due at 0, 0.5 and 1.0 s; the next one would be due after 1.25 s.
    let open = plan(
        &demo.base_url,
        LoadSettings {
            rate: Some(2.0),
            duration: Some(Duration::from_millis(1250)),
            mix: "/".parse().ok(),
            ..LoadSettings::default()
        },
    );
    let finished = run(&open).await;
    assert_eq!(finished.window, Duration::from_millis(1250));
    assert_eq!(finished.stats.requests(), 3);
}

/// A server that answers the first request on each connection (keeping it open: no
/// `Connection: close`) and closes the connection, unanswered, as soon as the next request
/// arrives: what a client sees when the server's idle timeout strikes just as its request on a
/// reused connection goes out.
async fn closing_server() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|end| end == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => head.extend_from_slice(&buffer[..read]),
                    }
                }
                let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                if stream.write_all(answer).await.is_err() {
                    return;
                }
                // The next request's first bytes, then the close (a reset: they are unread).
                let _ = stream.read(&mut buffer[..1]).await;
            });
        }
    });
    (url, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_server_closed_unanswered_is_retried_once_on_a_new_connection() {
    let (url, server) = closing_server().await;
    let settings = |no_retry| LoadSettings {
        users: Some(1),
        think_time: Some(ThinkTime::NONE),
        requests: Some(100),
        duration: Some(Duration::from_secs(30)),
        mix: "/".parse().ok(),
        no_retry,
        ..LoadSettings::default()
    };
    let retrying = plan(&url, settings(false));
    let report = LoadReport::new(&retrying, &run(&retrying).await);
    assert_eq!(report.totals.requests, 100);
    assert_eq!(report.errors.connection_reset, 0, "{report:?}");
    assert_eq!(report.status_codes.get("200"), Some(&100), "{report:?}");
    // Every request after the first went out on a reused connection first.
    assert_eq!(report.totals.retried, 99, "{report:?}");
    assert_eq!(report.endpoints[0].retried, 99);

    let not_retrying = plan(&url, settings(true));
    let report = LoadReport::new(&not_retrying, &run(&not_retrying).await);
    assert_eq!(report.totals.requests, 100);
    assert_eq!(report.totals.retried, 0);
    assert!(
        report.errors.connection_reset > 0,
        "without retries the race shows as resets: {report:?}"
    );
    server.abort();
}
