//! `up`, `status` and `down` when things are wrong, through the binary on the real Engine: a taken
//! port, an unreachable Docker and a malformed config fail with exit 2 before anything is
//! created; a missing image degrades the stack (exit 1) while the rest runs; `down` stops a
//! daemon whose control socket is gone by signal; commands on a project that does not exist.

mod docker_support;

use std::net::TcpListener;
use std::time::Duration;

use docker_support::{TestStack, docker, run_command};
use monibox::daemon::process;

/// Asserts that the project has no container, network or volume, and no state directory.
async fn assert_nothing_created(stack: &TestStack) {
    let resources = docker()
        .await
        .project_resources(stack.name())
        .await
        .expect("listing");
    assert!(resources.is_empty(), "{resources:?}");
    assert!(
        !stack.project_dir().exists(),
        "{} was created",
        stack.project_dir().display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_fails_cleanly_before_anything_is_created() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("binding a port");
    let taken = holder.local_addr().expect("address").port();
    let stack = TestStack::new("port-taken").await;
    let config = std::fs::read_to_string(&stack.config_path).expect("config");
    std::fs::write(
        &stack.config_path,
        config.replace("prometheus = \"auto\"", &format!("prometheus = {taken}")),
    )
    .expect("config");

    let output = stack.run(&["up"]).await;
    assert_eq!(output.code, Some(2), "{output:?}");
    assert!(
        output
            .stderr
            .contains(&format!("port {taken} (ports.prometheus)")),
        "{}",
        output.stderr
    );
    assert_nothing_created(&stack).await;
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_docker_fails_in_under_five_seconds() {
    let stack = TestStack::new("no-docker").await;
    // Nothing listens on port 1; the silent listener accepts but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("binding");
    let silent_host = format!("tcp://{}", silent.local_addr().expect("address"));
    for host in ["tcp://127.0.0.1:1", silent_host.as_str()] {
        let mut command = stack.command(&["up"]);
        command.env("DOCKER_HOST", host);
        let output = run_command(command, &["up"]).await;
        assert_eq!(output.code, Some(2), "{host}: {output:?}");
        assert!(
            output.elapsed < Duration::from_secs(5),
            "{host}: took {:?}",
            output.elapsed
        );
        assert!(
            output.stderr.contains("Docker"),
            "{host}: {}",
            output.stderr
        );
        assert!(output.stderr.contains(host), "{host}: {}", output.stderr);
    }
    assert_nothing_created(&stack).await;
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_config_fails_with_exit_2_naming_the_line() {
    let stack = TestStack::new("bad-config").await;
    let config = std::fs::read_to_string(&stack.config_path).expect("config");
    std::fs::write(&stack.config_path, config.replace("[ports]", "[ports")).expect("config");

    for command in [["up"].as_slice(), &["status"], &["down"]] {
        let output = stack.run(command).await;
        assert_eq!(output.code, Some(2), "{command:?}: {output:?}");
        let path = stack.config_path.display().to_string();
        assert!(
            output.stderr.contains(&path),
            "{command:?}: {}",
            output.stderr
        );
    }
    assert_nothing_created(&stack).await;
    std::fs::write(&stack.config_path, config).expect("restoring the config");
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_down_of_a_project_that_does_not_exist() {
    let stack = TestStack::new("absent").await;
    let (code, report) = stack.status().await;
    assert_eq!(code, Some(2), "{report}");
    assert_eq!(report["state"], "not_running");
    let output = stack.run(&["status"]).await;
    assert!(output.stdout.contains("not running"), "{output:?}");

    let output = stack.run(&["down"]).await;
    assert_eq!(output.code, Some(0), "{output:?}");
    assert_eq!(
        output.stdout,
        format!(
            "nothing of project {} exists; nothing to do\n",
            stack.name()
        )
    );
    assert_nothing_created(&stack).await;
    stack.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_degrades_the_stack_and_the_rest_still_runs() {
    let stack = TestStack::new("no-grafana").await;
    let config = std::fs::read_to_string(&stack.config_path).expect("config");
    let missing = "monibox-test/no-such-grafana:never";
    let config = config
        .lines()
        .map(|line| {
            if line.starts_with("grafana = \"monibox-test/grafana-standin") {
                format!("grafana = \"{missing}\"")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&stack.config_path, config).expect("config");

    let output = stack.run(&["up", "--pull", "never"]).await;
    assert_eq!(output.code, Some(1), "degraded: {output:?}");
    assert!(output.stdout.contains("degraded"), "{}", output.stdout);
    assert!(output.stdout.contains(missing), "{}", output.stdout);
    assert!(
        output.stdout.contains("docker load"),
        "the fix: {}",
        output.stdout
    );

    let (code, report) = stack.status().await;
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["state"], "degraded");
    let component = |name: &str| {
        report["components"]
            .as_array()
            .expect("components")
            .iter()
            .find(|component| component["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {report:#}"))
            .clone()
    };
    assert_eq!(component("grafana")["state"], "missing");
    assert!(
        component("grafana")["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("docker load")),
        "{report:#}"
    );
    for name in ["prometheus", "alertmanager", "daemon", "demo"] {
        assert_eq!(component(name)["health"], "healthy", "{name}: {report:#}");
    }

    // A daemon whose control socket is gone is still stopped by `down`, by signal, after its
    // pid was checked to be this project's monibox.
    let pid = component("daemon")["pid"].as_u64().expect("daemon pid") as u32;
    std::fs::remove_file(stack.project_dir().join("control.sock")).expect("removing the socket");
    let output = stack.run(&["down"]).await;
    assert_eq!(output.code, Some(0), "{output:?}");
    assert!(
        output
            .stdout
            .contains(&format!("stopped by SIGTERM (pid {pid})")),
        "{}",
        output.stdout
    );
    assert!(!process::is_alive(pid), "the daemon {pid} still runs");
    stack.cleanup().await;
}
