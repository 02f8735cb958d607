//! Safe when two commands meet, and never touching what is not the project's — through the
//! binary on the real Engine (fast timing, host-built images, the Grafana stand-in):
//!
//! - two `up`s at once, and `up` with `down` at once, 20 times each: one network, one container
//!   per component, a `stack.json` that matches the containers, and `status` agreeing with
//!   Docker, every time;
//! - a command that finds the project's lock held waits, names the holder, and gives up at its
//!   deadline (exit 2) having changed nothing;
//! - a container or volume named like the project's but not carrying its label stops `up` (exit
//!   2, nothing created) and is never stopped or removed — by `up`, `down` or the supervisor,
//!   which says why the component cannot be started;
//! - an `up` that stops after creating the network and volumes removes them again;
//! - `reload` racing the supervisor's recreate of a killed container leaves the recreated port in
//!   stack.json, and a reload of a new timing reaches the supervisor.

mod docker_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use docker_support::foreign::{ForeignContainer, ForeignVolume};
use docker_support::stack_report::{component, wait_for_status};
use docker_support::{RunOutput, TestStack, docker, grafana_standin};
use monibox::catalog;
use serde_json::Value;

/// Rounds of each race.
const RACES: usize = 20;
/// Bound of a whole test.
const TEST_DEADLINE: Duration = Duration::from_secs(240);

/// Runs `first` and `second` at once.
async fn at_once(stack: &TestStack, first: &[&str], second: &[&str]) -> (RunOutput, RunOutput) {
    tokio::join!(stack.run(first), stack.run(second))
}

/// Checks that Docker, stack.json and `status` tell the same story; returns whether the stack
/// runs. Running: exactly one network, one container per component (each with the spec hash and
/// host port stack.json records), `status` healthy. Not running: nothing but the data volumes,
/// `status` not running.
async fn assert_consistent(stack: &TestStack, round: &str) -> bool {
    let resources = docker()
        .await
        .project_resources(stack.name())
        .await
        .expect("listing");
    let (code, report) = stack.status().await;
    if resources.containers.is_empty() {
        assert!(resources.networks.is_empty(), "{round}: {resources:?}");
        assert_eq!(report["state"], "not_running", "{round}: {report:#}");
        assert_eq!(code, Some(2), "{round}");
        return false;
    }
    assert_eq!(resources.networks.len(), 1, "{round}: {resources:?}");
    let mut per_component: BTreeMap<String, usize> = BTreeMap::new();
    for container in &resources.containers {
        *per_component
            .entry(container.component.clone().unwrap_or_default())
            .or_default() += 1;
    }
    // Every component once; TestStack switches node-exporter off.
    let expected: BTreeMap<String, usize> = catalog::names()
        .filter(|name| *name != "node-exporter")
        .map(|name| (name.to_owned(), 1))
        .collect();
    assert_eq!(per_component, expected, "{round}: {resources:?}");
    let record = stack.record();
    assert_eq!(record.network.id, resources.networks[0].id, "{round}");
    let engine = docker().await;
    for recorded in &record.components {
        let status = engine
            .inspect_container(&recorded.container)
            .await
            .expect("inspect")
            .unwrap_or_else(|| panic!("{round}: {} is recorded but gone", recorded.container));
        assert_eq!(
            status.spec_hash(),
            recorded.spec_hash.as_deref(),
            "{round}: {}",
            recorded.name
        );
        assert_eq!(
            status
                .host_address(recorded.container_port)
                .map(|address| address.port()),
            recorded.host_port,
            "{round}: {}",
            recorded.name
        );
    }
    assert_eq!(code, Some(0), "{round}: {report:#}");
    assert_eq!(report["state"], "healthy", "{round}: {report:#}");
    true
}

/// Runs `first` and `second` at once [`RACES`] times, each time checking that both succeed and
/// that the project is consistent, with `between` run after each round (if any); returns how
/// many rounds ended with the stack running and how many with it stopped.
async fn race(stack: &TestStack, first: &str, second: &str, between: Option<&str>) -> (u32, u32) {
    let started = Instant::now();
    let (mut running, mut stopped) = (0, 0);
    for round in 0..RACES {
        let what = format!("{first}/{second} round {round}");
        let (a, b) = at_once(stack, &[first], &[second]).await;
        assert_eq!(a.code, Some(0), "{what}: {a:?}");
        assert_eq!(b.code, Some(0), "{what}: {b:?}");
        if assert_consistent(stack, &what).await {
            running += 1;
        } else {
            stopped += 1;
        }
        if let Some(between) = between {
            let output = stack.run(&[between]).await;
            assert_eq!(output.code, Some(0), "{what}: {output:?}");
        }
        assert!(started.elapsed() < TEST_DEADLINE, "{what}: too slow");
    }
    eprintln!(
        "{RACES} {first}/{second} races in {:.1} s: {running} ended running, {stopped} stopped",
        started.elapsed().as_secs_f64()
    );
    (running, stopped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ups_at_once_make_one_stack_every_time() {
    let stack = TestStack::new("race-up-up").await;
    let (running, _) = race(&stack, "up", "up", Some("down")).await;
    assert_eq!(running, RACES as u32, "the stack runs after every round");
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_and_down_at_once_leave_a_consistent_project_every_time() {
    let stack = TestStack::new("race-up-down").await;
    race(&stack, "up", "down", None).await;
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_waits_for_the_project_lock_names_its_holder_and_gives_up() {
    let stack = TestStack::new("lock").await;
    let root = monibox::stack::state::StateRoot::resolve(Some(stack.state_dir.path()), None, None)
        .expect("state root");
    let project_dir = root.project(stack.name());
    let held = monibox::stack::lock::ProjectLock::acquire(
        project_dir.lock_file(),
        stack.name(),
        "the lock test",
        Duration::ZERO,
        |_| {},
    )
    .await
    .expect("taking the lock");
    let up = stack.run(&["up", "--lock-timeout", "1s"]).await;
    assert_eq!(up.code, Some(2), "{up:?}");
    assert!(up.elapsed < Duration::from_secs(10), "{:?}", up.elapsed);
    let pid = std::process::id();
    assert!(
        up.stderr
            .contains(&format!("waiting for `the lock test` (pid {pid})")),
        "{}",
        up.stderr
    );
    assert!(up.stderr.contains("is busy"), "{}", up.stderr);
    let resources = docker()
        .await
        .project_resources(stack.name())
        .await
        .expect("listing");
    assert!(resources.is_empty(), "nothing was created: {resources:?}");
    held.release();
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "once released: {up:?}");

    // `down` with the Engine out of reach changes nothing: the daemon still supervises.
    let mut down = stack.command(&["down"]);
    down.env("DOCKER_HOST", "tcp://127.0.0.1:1");
    let down = docker_support::run_command(down, &["down"]).await;
    assert_eq!(down.code, Some(2), "{down:?}");
    let (code, report) = stack.status().await;
    assert_eq!(code, Some(0), "still healthy: {report:#}");
    assert_eq!(component(&report, "daemon")["state"], "running");
    stack.cleanup().await;
}

/// Fails unless the foreign container is still there, the same one, running.
async fn assert_untouched(foreign: &ForeignContainer, after: &str) {
    assert_eq!(
        foreign.state().await,
        Some((foreign.id.clone(), true)),
        "{after} stopped or removed {}",
        foreign.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_container_is_never_stopped_or_removed() {
    let stack = TestStack::new("foreign").await;
    let standin = grafana_standin().await;
    let name = format!("monibox-{}-alertmanager", stack.name());
    let foreign = ForeignContainer::start(&name, &standin).await;

    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(2), "{up:?}");
    assert!(
        up.stderr.contains(&name) && up.stderr.contains("did not create"),
        "{}",
        up.stderr
    );
    assert!(up.stderr.contains("docker rename"), "{}", up.stderr);
    let resources = docker()
        .await
        .project_resources(stack.name())
        .await
        .expect("listing");
    assert!(resources.is_empty(), "nothing was created: {resources:?}");
    assert_untouched(&foreign, "up").await;
    let down = stack.run(&["down"]).await;
    assert_eq!(down.code, Some(0), "{down:?}");
    assert_untouched(&foreign, "down").await;

    // Without Alertmanager, the name is no concern of the stack's.
    let base = std::fs::read_to_string(&stack.config_path).expect("config");
    configure(&stack, &base, "[components]\nalertmanager = false\n");
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let (code, report) = stack.status().await;
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(component(&report, "alertmanager")["state"], "disabled");
    assert_untouched(&foreign, "up without the component").await;
    foreign.remove().await;
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_leaves_a_foreign_container_alone_and_says_why_it_cannot_start() {
    let stack = TestStack::new("foreign-sv").await;
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let standin = grafana_standin().await;
    let name = format!("monibox-{}-prometheus", stack.name());
    let root = monibox::stack::state::StateRoot::resolve(Some(stack.state_dir.path()), None, None)
        .expect("state root");
    let daemon =
        monibox::daemon::client::DaemonClient::new(&root.project(stack.name()), stack.name());
    // Held, the supervisor cannot recreate Prometheus before the foreign container takes the name.
    daemon.hold().await.expect("hold");
    docker()
        .await
        .remove_owned_container(&name, stack.name(), Duration::ZERO)
        .await
        .expect("removing the project's Prometheus");
    let foreign = ForeignContainer::start(&name, &standin).await;
    daemon.resume().await.expect("resume");

    let report = wait_for_status(
        &stack,
        Instant::now() + Duration::from_secs(60),
        "the supervisor giving up on the name",
        |report| component(report, "prometheus")["crash_looping"] == true,
    )
    .await;
    let prometheus = component(&report, "prometheus");
    assert_eq!(prometheus["state"], "conflict", "{report:#}");
    let detail = prometheus["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("did not create") && detail.contains("docker rename"),
        "{detail}"
    );
    assert!(!detail.contains("restarted 0 times"), "{detail}");
    assert_eq!(report["state"], "degraded");
    assert_untouched(&foreign, "the supervisor").await;
    let down = stack.run(&["down", "--volumes"]).await;
    assert_eq!(down.code, Some(0), "{down:?}");
    assert_untouched(&foreign, "down").await;
    foreign.remove().await;
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_up_that_stops_early_leaves_nothing_it_created() {
    let stack = TestStack::new("early-stop").await;
    // A foreign volume is found before anything is created.
    let volume = ForeignVolume::create(&format!("monibox-{}-grafana-data", stack.name())).await;
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(2), "{up:?}");
    assert!(up.stderr.contains(&volume.name), "{}", up.stderr);
    let engine = docker().await;
    let resources = engine
        .project_resources(stack.name())
        .await
        .expect("listing");
    assert!(resources.is_empty(), "nothing was created: {resources:?}");
    assert!(volume.exists().await, "the foreign volume is kept");
    volume.remove().await;

    // stack.json cannot be written: up has made the network and the volumes by then.
    let blocker = stack.project_dir().join("stack.json");
    std::fs::create_dir_all(blocker.join("blocked")).expect("a directory where stack.json goes");
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(2), "{up:?}");
    assert!(
        up.stderr.contains("removed what it had created")
            && up
                .stderr
                .contains(&format!("network monibox-{}", stack.name())),
        "{}",
        up.stderr
    );
    let resources = engine
        .project_resources(stack.name())
        .await
        .expect("listing");
    assert!(
        resources.is_empty(),
        "everything was removed: {resources:?}"
    );
    std::fs::remove_dir_all(&blocker).expect("unblocking");
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "then up works: {up:?}");
    stack.cleanup().await;
}

/// The stack's configuration with `extra` after it.
fn configure(stack: &TestStack, base: &str, extra: &str) {
    std::fs::write(&stack.config_path, format!("{base}\n{extra}")).expect("writing the config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_racing_a_recreate_keeps_the_recreated_port() {
    let stack = TestStack::new("reload-race").await;
    let base = std::fs::read_to_string(&stack.config_path).expect("config");
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let name = format!("monibox-{}-prometheus", stack.name());
    let deadline = Instant::now() + TEST_DEADLINE;
    for round in 0..5 {
        configure(
            &stack,
            &base,
            &format!("[alerts]\nerror_rate_per_second = 0.{}\n", round + 2),
        );
        let kill = async {
            docker_support::faults::kill_container(&name).await;
        };
        let (reload, ()) = tokio::join!(stack.run(&["reload"]), kill);
        assert!(
            matches!(reload.code, Some(0 | 1)),
            "round {round}: reloaded, or Prometheus was down at that moment: {reload:?}"
        );
        wait_for_status(&stack, deadline, "Prometheus back", |report: &Value| {
            report["state"] == "healthy"
        })
        .await;
        let status = docker()
            .await
            .inspect_container(&name)
            .await
            .expect("inspect")
            .expect("Prometheus runs");
        let recorded = stack.record();
        let prometheus = recorded.component("prometheus").expect("recorded");
        assert_eq!(
            prometheus.host_port,
            status.host_address(9090).map(|address| address.port()),
            "round {round}: stack.json has the recreated container's port"
        );
    }
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_gives_the_supervisor_the_new_timing() {
    let stack = TestStack::new("rl-timing").await;
    // Without Grafana (whose datasource carries the interval) a timing change is reloadable.
    let base = std::fs::read_to_string(&stack.config_path).expect("config");
    configure(&stack, &base, "[components]\ngrafana = false\n");
    let up = stack.run(&["up"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");
    let (_, report) = stack.status().await;
    assert_eq!(report["supervisor"]["timing"], "fast", "{report:#}");
    assert_eq!(component(&report, "grafana")["state"], "disabled");
    let standard = base.replace("timing = \"fast\"", "timing = \"standard\"");
    configure(&stack, &standard, "[components]\ngrafana = false\n");
    let reload = stack.run(&["reload"]).await;
    assert_eq!(reload.code, Some(0), "{reload:?}");
    let report = wait_for_status(
        &stack,
        Instant::now() + Duration::from_secs(30),
        "the supervisor using the standard timing",
        |report| report["supervisor"]["timing"] == "standard",
    )
    .await;
    assert_eq!(stack.record().timing, monibox::config::Timing::Standard);
    assert_eq!(report["supervisor"]["held"], false, "resumed: {report:#}");
    stack.cleanup().await;
}
