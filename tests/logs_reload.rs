//! `monibox logs` and `monibox reload` through the binary, on a whole stack on the real Docker
//! Engine (host-built Prometheus and Alertmanager, the Grafana stand-in — busybox httpd, not
//! Grafana):
//!
//! - logs: Prometheus's start-up lines, `--tail 1`, the daemon's log, every component merged
//!   in time order with prefixes, `-f` picking up a restarted container without repeating a
//!   line and ending on SIGINT with exit 0, `-f` on the daemon's log, a closed stdout, a
//!   component without a container and an unknown one (exit 2);
//! - reload: a changed alert threshold reaches Prometheus's rules with the same containers
//!   (ids and start times), a changed port is refused naming `monibox up` with nothing
//!   changed, a malformed configuration is exit 2 with nothing changed.

mod docker_support;

use std::time::{Duration, SystemTime};

use docker_support::{TestStack, docker};
use monibox::httpc::HttpClient;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// Prometheus's last start-up line.
const PROMETHEUS_READY: &str = "Server is ready to receive web requests";
/// How long a followed line may take to show up.
const FOLLOW_DEADLINE: Duration = Duration::from_secs(30);

fn signal(child: &Child, signal: Signal) {
    let pid = child.id().expect("the child runs");
    kill(Pid::from_raw(i32::try_from(pid).expect("pid")), signal).expect("signalling");
}

fn daemon_pid(stack: &TestStack) -> Pid {
    let text = std::fs::read_to_string(stack.project_dir().join("daemon.pid")).expect("pid file");
    Pid::from_raw(text.trim().parse().expect("a pid"))
}

/// Reads lines until one contains `needle`, returning every line read; panics after
/// [`FOLLOW_DEADLINE`].
async fn read_until(lines: &mut Lines<BufReader<ChildStdout>>, needle: &str) -> Vec<String> {
    let mut read = Vec::new();
    let found = tokio::time::timeout(FOLLOW_DEADLINE, async {
        while let Some(line) = lines.next_line().await.expect("reading stdout") {
            let done = line.contains(needle);
            read.push(line);
            if done {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(found, Ok(true)),
        "no line with {needle:?} within {FOLLOW_DEADLINE:?} (ended: {:?}); read: {read:#?}",
        found.is_ok()
    );
    read
}

/// Waits for the child to exit after SIGINT and returns its exit code.
async fn interrupt(mut child: Child) -> Option<i32> {
    signal(&child, Signal::SIGINT);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("logs -f exits within 10 s of SIGINT")
        .expect("waiting");
    status.code()
}

fn spawn(stack: &TestStack, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut command = stack.command(args);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("starting monibox logs");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_show_tail_merge_and_follow_each_component() {
    let stack = TestStack::new("logs").await;
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");

    let prometheus = stack.run(&["logs", "prometheus"]).await;
    assert_eq!(prometheus.code, Some(0), "{prometheus:?}");
    assert!(
        prometheus.stdout.contains(PROMETHEUS_READY),
        "{prometheus:?}"
    );
    assert!(
        prometheus.stdout.contains("Starting Prometheus"),
        "{prometheus:?}"
    );
    assert!(
        !prometheus.stdout.contains(" | "),
        "one component has no prefix"
    );

    let last = stack.run(&["logs", "prometheus", "--tail", "1"]).await;
    assert_eq!(last.code, Some(0), "{last:?}");
    assert_eq!(last.stdout.lines().count(), 1, "{last:?}");
    assert_eq!(
        Some(last.stdout.trim_end()),
        prometheus.stdout.lines().last(),
        "the last line"
    );

    let daemon = stack.run(&["logs", "daemon"]).await;
    assert_eq!(daemon.code, Some(0), "{daemon:?}");
    assert!(
        daemon.stdout.contains("monibox daemon running"),
        "{daemon:?}"
    );

    // Every component, merged in time order: Docker's timestamps never go backwards.
    let all = stack.run(&["logs", "--timestamps"]).await;
    assert_eq!(all.code, Some(0), "{all:?}");
    let mut previous = SystemTime::UNIX_EPOCH;
    let mut prefixes = std::collections::BTreeSet::new();
    for line in all.stdout.lines() {
        let (prefix, rest) = line.split_once(" | ").expect("every line has a prefix");
        prefixes.insert(prefix.trim().to_owned());
        assert_eq!(prefix.len(), "alertmanager".len(), "aligned: {line:?}");
        let stamp = rest.split_whitespace().next().unwrap_or_default();
        if prefix.trim() != "daemon" {
            let time = humantime::parse_rfc3339(stamp)
                .unwrap_or_else(|_| panic!("a timestamp first: {line:?}"));
            assert!(time >= previous, "in time order: {line:?}\n{}", all.stdout);
            previous = time;
        }
    }
    // The Grafana stand-in (busybox httpd) writes nothing.
    assert_eq!(
        prefixes.into_iter().collect::<Vec<_>>(),
        ["alertmanager", "daemon", "prometheus"],
        "{}",
        all.stdout
    );

    // Following Prometheus through a restart (the supervisor recreates the stopped container):
    // its start-up again, nothing shown twice.
    let (child, mut lines) = spawn(&stack, &["logs", "prometheus", "-f"]);
    let backlog = read_until(&mut lines, PROMETHEUS_READY).await;
    let container = format!("monibox-{}-prometheus", stack.name());
    docker()
        .await
        .stop_container(&container, Duration::from_secs(5))
        .await
        .expect("stopping Prometheus");
    let after = read_until(&mut lines, PROMETHEUS_READY).await;
    assert!(
        after
            .iter()
            .any(|line| line.contains("Starting Prometheus")),
        "{after:#?}"
    );
    for line in &after {
        assert!(!backlog.contains(line), "shown twice: {line:?}");
    }
    assert_eq!(
        interrupt(child).await,
        Some(0),
        "Ctrl-C ends a follow with 0"
    );

    // Following the daemon's log: a hangup is logged by the daemon.
    let (child, mut lines) = spawn(&stack, &["logs", "daemon", "--follow", "-n", "0"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill(daemon_pid(&stack), Signal::SIGHUP).expect("SIGHUP to the daemon");
    read_until(&mut lines, "hangup received").await;
    assert_eq!(interrupt(child).await, Some(0));

    // A reader that goes away (`| head -1`) ends a follow quietly with 0.
    let (mut child, mut lines) = spawn(&stack, &["logs", "-f"]);
    read_until(&mut lines, " | ").await;
    drop(lines);
    let hangups = async {
        loop {
            kill(daemon_pid(&stack), Signal::SIGHUP).expect("SIGHUP to the daemon");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let status = tokio::select! {
        status = child.wait() => status.expect("waiting"),
        () = hangups => unreachable!("the hangups never end"),
        () = tokio::time::sleep(FOLLOW_DEADLINE) => panic!("logs -f kept running into a closed pipe"),
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use tokio::io::AsyncReadExt as _;
        pipe.read_to_string(&mut stderr).await.expect("stderr");
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A component without a container (the daemon stopped first, so that its supervisor does
    // not recreate it): exit 2 alone, a note among all.
    let daemon = daemon_pid(&stack);
    kill(daemon, Signal::SIGTERM).expect("SIGTERM to the daemon");
    let daemon_pid_number = u32::try_from(daemon.as_raw()).expect("a pid");
    assert!(
        monibox::daemon::process::wait_for_exit(daemon_pid_number, Duration::from_secs(10)).await,
        "the daemon stops on SIGTERM"
    );
    let grafana = format!("monibox-{}-grafana", stack.name());
    docker()
        .await
        .remove_container(&grafana)
        .await
        .expect("removing Grafana");
    let missing = stack.run(&["logs", "grafana"]).await;
    assert_eq!(missing.code, Some(2), "{missing:?}");
    assert!(
        missing.stderr.contains("grafana has no container")
            && missing.stderr.contains("monibox up"),
        "{missing:?}"
    );
    let all = stack.run(&["logs", "-n", "1"]).await;
    assert_eq!(all.code, Some(0), "{all:?}");
    assert!(
        all.stderr.contains("note: grafana has no container"),
        "{all:?}"
    );
    assert!(all.stdout.lines().count() == 3, "one line each: {all:?}");

    let unknown = stack.run(&["logs", "grafanna"]).await;
    assert_eq!(unknown.code, Some(2), "{unknown:?}");
    assert!(unknown.stderr.contains("grafanna"), "{unknown:?}");
    stack.cleanup().await;

    let gone = stack_gone_logs().await;
    assert_eq!(gone.code, Some(2), "{gone:?}");
    assert!(gone.stderr.contains("is not running"), "{gone:?}");
}

/// `monibox logs` for a project that never ran.
async fn stack_gone_logs() -> docker_support::RunOutput {
    let state = tempfile::tempdir().expect("temp dir");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_monibox"));
    command
        .args(["logs", "--project", "test-never-ran", "--state-dir"])
        .arg(state.path())
        .env_remove("MONIBOX_CONFIG")
        .stdin(std::process::Stdio::null());
    docker_support::run_command(command, &["logs"]).await
}

/// The Prometheus alert rule `name` as loaded.
async fn alert_rule(prometheus: &str, name: &str) -> Value {
    let response = HttpClient::new(Duration::from_secs(10))
        .get(&format!("{prometheus}/api/v1/rules?type=alert"))
        .await
        .expect("rules");
    let rules: Value = serde_json::from_slice(&response.body).expect("rules JSON");
    rules["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
        .find(|rule| rule["name"] == name)
        .unwrap_or_else(|| panic!("{name} is loaded: {rules:#}"))
}

/// Each container's id and start time, by name.
async fn containers(stack: &TestStack) -> Vec<(String, String, Option<SystemTime>)> {
    let engine = docker().await;
    let mut found = Vec::new();
    for component in ["prometheus", "alertmanager", "grafana"] {
        let name = format!("monibox-{}-{component}", stack.name());
        let status = engine
            .inspect_container(&name)
            .await
            .expect("inspect")
            .unwrap_or_else(|| panic!("{name} exists"));
        found.push((name, status.id, status.started_at));
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_files_in_place_and_refuses_what_needs_up() {
    let stack = TestStack::new("reload").await;
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let before = containers(&stack).await;
    let digest_before = stack
        .record()
        .component("prometheus")
        .expect("prometheus")
        .config_digest
        .clone();
    let prometheus = stack.record().prometheus_url().expect("Prometheus URL");

    // A threshold: Prometheus reloads its rules; no container restarts.
    stack.append_config("[alerts]\nerror_rate_per_second = 0.75\n");
    let reload = stack.run(&["reload"]).await;
    assert_eq!(reload.code, Some(0), "{reload:?}");
    assert!(
        reload
            .stdout
            .contains("prometheus    reloaded (configuration changed)"),
        "{}",
        reload.stdout
    );
    assert!(
        reload
            .stdout
            .contains("alertmanager  reloaded (configuration unchanged)"),
        "{}",
        reload.stdout
    );
    let rule = alert_rule(&prometheus, "HighErrorRate").await;
    assert!(
        rule["query"]
            .as_str()
            .is_some_and(|query| query.ends_with("> 0.75")),
        "the new threshold: {rule}"
    );
    assert_eq!(
        containers(&stack).await,
        before,
        "same containers, not restarted"
    );
    let digest_after = stack
        .record()
        .component("prometheus")
        .expect("prometheus")
        .config_digest
        .clone();
    assert_ne!(digest_after, digest_before, "stack.json has the new digest");

    // `up` afterwards has nothing left to do.
    let again = stack.run(&["up"]).await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(
        again.stdout.contains(
            "prometheus kept; alertmanager kept; grafana kept; node-exporter off; daemon kept"
        ),
        "{}",
        again.stdout
    );

    let json = stack.run(&["reload", "--json"]).await;
    assert_eq!(json.code, Some(0), "{json:?}");
    let report: Value = serde_json::from_str(&json.stdout).expect("reload --json");
    assert_eq!(report["state"], "reloaded", "{report:#}");
    assert_eq!(report["components"][0]["name"], "prometheus", "{report:#}");
    assert_eq!(report["components"][0]["result"], "reloaded", "{report:#}");
    assert_eq!(
        report["components"][0]["configuration_changed"], false,
        "{report:#}"
    );
    assert_eq!(report["components"][2]["result"], "unchanged", "{report:#}");

    // A port: refused, naming `monibox up`; nothing changes.
    let stack_json = std::fs::read(stack.project_dir().join("stack.json")).expect("stack.json");
    let rules_file = stack
        .project_dir()
        .join("bundle/prometheus/rules/alerts.yml");
    let rules = std::fs::read(&rules_file).expect("rules");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let configured = std::fs::read_to_string(&stack.config_path).expect("config");
    assert!(configured.contains("prometheus = \"auto\""));
    std::fs::write(
        &stack.config_path,
        configured.replace("prometheus = \"auto\"", &format!("prometheus = {port}"))
            + "\n[alerts]\nerror_rate_per_second = 0.25\n",
    )
    .expect("config");
    // The [alerts] table is now there twice: a malformed file first.
    let malformed = stack.run(&["reload"]).await;
    assert_eq!(malformed.code, Some(2), "{malformed:?}");
    assert!(malformed.stderr.contains("monibox.toml"), "{malformed:?}");
    std::fs::write(
        &stack.config_path,
        configured.replace("prometheus = \"auto\"", &format!("prometheus = {port}")),
    )
    .expect("config");
    let refused = stack.run(&["reload"]).await;
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(
        refused.stderr.contains("nothing reloaded")
            && refused.stderr.contains("ports.prometheus changed")
            && refused.stderr.contains("monibox up"),
        "{refused:?}"
    );
    for (what, unchanged) in [
        (
            "stack.json",
            std::fs::read(stack.project_dir().join("stack.json")).expect("read") == stack_json,
        ),
        (
            "the rules",
            std::fs::read(&rules_file).expect("read") == rules,
        ),
    ] {
        assert!(unchanged, "{what} changed");
    }
    assert_eq!(containers(&stack).await, before, "same containers");
    stack.cleanup().await;
}
