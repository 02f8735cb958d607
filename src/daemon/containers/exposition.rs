//! `/metrics/containers` in the classic text exposition format: cAdvisor's metric names for
//! every container with cgroups (CPU, memory, OOM kills, network, block I/O, last seen, start
//! time) and the Engine's view of every tracked container (`docker_container_state`,
//! `docker_container_health_status`, `docker_container_restarts_total`).

use std::fmt::Write;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::cgroup::CgroupStats;
use super::netdev::{self, InterfaceStats};
use super::tracked::{Tracked, push_label};
use crate::docker::ContainerState;

/// The text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Health statuses `docker_container_health_status` reports; `none`: no health check.
const HEALTH_STATUSES: [&str; 4] = ["healthy", "unhealthy", "starting", "none"];

/// One container's figures of one scrape.
struct Reading<'a> {
    tracked: &'a Tracked,
    cgroup: Option<CgroupStats>,
    interfaces: Vec<InterfaceStats>,
}

type Scalar = fn(&CgroupStats) -> Option<f64>;

/// cAdvisor's per-container families read from the cgroup files: name, type, help, value.
const CGROUP_FAMILIES: [(&str, &str, &str, Scalar); 10] = [
    (
        "container_cpu_user_seconds_total",
        "counter",
        "Cumulative user CPU time consumed in seconds.",
        |s| s.cpu_user_seconds,
    ),
    (
        "container_cpu_system_seconds_total",
        "counter",
        "Cumulative system CPU time consumed in seconds.",
        |s| s.cpu_system_seconds,
    ),
    (
        "container_memory_usage_bytes",
        "gauge",
        "Current memory usage in bytes, including all memory regardless of when it was accessed.",
        |s| s.memory_usage_bytes.map(|v| v as f64),
    ),
    (
        "container_memory_working_set_bytes",
        "gauge",
        "Current working set in bytes (usage less inactive file pages).",
        |s| s.memory_working_set_bytes.map(|v| v as f64),
    ),
    (
        "container_memory_rss",
        "gauge",
        "Size of RSS (anonymous memory) in bytes.",
        |s| s.memory_rss_bytes.map(|v| v as f64),
    ),
    (
        "container_memory_cache",
        "gauge",
        "Number of bytes of page cache memory.",
        |s| s.memory_cache_bytes.map(|v| v as f64),
    ),
    (
        "container_spec_memory_limit_bytes",
        "gauge",
        "Memory limit for the container in bytes; 0 when it has none.",
        |s| s.memory_limit_bytes.map(|v| v as f64),
    ),
    (
        "container_fs_reads_bytes_total",
        "counter",
        "Cumulative count of bytes read from block devices.",
        |s| s.fs_read_bytes.map(|v| v as f64),
    ),
    (
        "container_fs_writes_bytes_total",
        "counter",
        "Cumulative count of bytes written to block devices.",
        |s| s.fs_write_bytes.map(|v| v as f64),
    ),
    (
        "container_cpu_usage_seconds_total",
        "counter",
        "Cumulative CPU time consumed in seconds.",
        |s| s.cpu_usage_seconds,
    ),
];

type Counter = fn(&InterfaceStats) -> u64;

/// cAdvisor's per-interface network families.
const NETWORK_FAMILIES: [(&str, &str, Counter); 8] = [
    (
        "container_network_receive_bytes_total",
        "Cumulative count of bytes received.",
        |i| i.receive_bytes,
    ),
    (
        "container_network_receive_packets_total",
        "Cumulative count of packets received.",
        |i| i.receive_packets,
    ),
    (
        "container_network_receive_errors_total",
        "Cumulative count of errors encountered while receiving.",
        |i| i.receive_errors,
    ),
    (
        "container_network_receive_packets_dropped_total",
        "Cumulative count of packets dropped while receiving.",
        |i| i.receive_dropped,
    ),
    (
        "container_network_transmit_bytes_total",
        "Cumulative count of bytes transmitted.",
        |i| i.transmit_bytes,
    ),
    (
        "container_network_transmit_packets_total",
        "Cumulative count of packets transmitted.",
        |i| i.transmit_packets,
    ),
    (
        "container_network_transmit_errors_total",
        "Cumulative count of errors encountered while transmitting.",
        |i| i.transmit_errors,
    ),
    (
        "container_network_transmit_packets_dropped_total",
        "Cumulative count of packets dropped while transmitting.",
        |i| i.transmit_dropped,
    ),
];

/// Reads every running container's cgroup and network files now and renders all families.
/// Blocking file reads: call it off the async runtime.
pub fn scrape(tracked: &[Arc<Tracked>], now: SystemTime) -> String {
    let readings: Vec<Reading<'_>> = tracked
        .iter()
        .map(|tracked| Reading {
            tracked,
            cgroup: tracked.cgroup.as_ref().map(|paths| paths.read()),
            interfaces: match (&tracked.cgroup, tracked.status.pid) {
                (Some(_), Some(pid)) => netdev::read(pid),
                _ => Vec::new(),
            },
        })
        .collect();
    render(&readings, now)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: f64) {
    let _ = writeln!(out, "{name}{{{labels}}} {value}");
}

fn render(readings: &[Reading<'_>], now: SystemTime) -> String {
    let mut out = String::with_capacity(512 + readings.len() * 6 * 1024);
    let seconds = |time: SystemTime| {
        time.duration_since(UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64())
    };
    let measured = || {
        readings
            .iter()
            .filter_map(|r| Some((r, r.cgroup.as_ref()?)))
    };
    for (name, kind, help, value) in CGROUP_FAMILIES {
        header(&mut out, name, kind, help);
        for (reading, stats) in measured() {
            let Some(value) = value(stats) else { continue };
            if name == "container_cpu_usage_seconds_total" {
                let mut labels = reading.tracked.labels.clone();
                push_label(&mut labels, "cpu", "total");
                sample(&mut out, name, &labels, value);
            } else {
                sample(&mut out, name, &reading.tracked.labels, value);
            }
        }
    }
    header(
        &mut out,
        "container_oom_events_total",
        "counter",
        "Count of out of memory events observed for the container.",
    );
    for reading in readings {
        let cgroup_now = reading.cgroup.as_ref().and_then(|stats| stats.oom_kills);
        let total = reading.tracked.oom_events_total(cgroup_now);
        sample(
            &mut out,
            "container_oom_events_total",
            &reading.tracked.labels,
            total as f64,
        );
    }
    for (name, help, value) in NETWORK_FAMILIES {
        header(&mut out, name, "counter", help);
        for reading in readings {
            for interface in &reading.interfaces {
                let mut labels = reading.tracked.labels.clone();
                push_label(&mut labels, "interface", &interface.interface);
                sample(&mut out, name, &labels, value(interface) as f64);
            }
        }
    }
    header(
        &mut out,
        "container_last_seen",
        "gauge",
        "Last time a container was seen by the exporter (Unix seconds).",
    );
    for (reading, _) in measured() {
        sample(
            &mut out,
            "container_last_seen",
            &reading.tracked.labels,
            seconds(now).floor(),
        );
    }
    header(
        &mut out,
        "container_start_time_seconds",
        "gauge",
        "Start time of the container since the Unix epoch in seconds.",
    );
    for reading in readings {
        if let Some(started) = reading.tracked.status.started_at {
            sample(
                &mut out,
                "container_start_time_seconds",
                &reading.tracked.labels,
                seconds(started),
            );
        }
    }
    render_engine_view(&mut out, readings);
    out
}

/// The Engine's side: state and health as one series per value (1 for the current one),
/// restarts as the Engine counts them.
fn render_engine_view(out: &mut String, readings: &[Reading<'_>]) {
    header(
        out,
        "docker_container_state",
        "gauge",
        "The container's state as the Engine reports it: 1 for the current state, 0 otherwise.",
    );
    for reading in readings {
        for state in ContainerState::ALL {
            let mut labels = reading.tracked.labels.clone();
            push_label(&mut labels, "state", state.as_str());
            let current = reading.tracked.status.state == state;
            sample(
                out,
                "docker_container_state",
                &labels,
                f64::from(u8::from(current)),
            );
        }
    }
    header(
        out,
        "docker_container_health_status",
        "gauge",
        "The container's health check verdict (none: no health check): 1 for the current one.",
    );
    for reading in readings {
        let current = reading
            .tracked
            .status
            .health
            .map_or("none", |health| health.as_str());
        for status in HEALTH_STATUSES {
            let mut labels = reading.tracked.labels.clone();
            push_label(&mut labels, "status", status);
            sample(
                out,
                "docker_container_health_status",
                &labels,
                f64::from(u8::from(current == status)),
            );
        }
    }
    header(
        out,
        "docker_container_restarts_total",
        "counter",
        "Times the Engine restarted the container (its restart policy).",
    );
    for reading in readings {
        sample(
            out,
            "docker_container_restarts_total",
            &reading.tracked.labels,
            reading.tracked.status.restart_count as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::docker::{ContainerStatus, HealthState};

    fn exited_after_an_oom_kill() -> Tracked {
        Tracked::new(
            ContainerStatus {
                id: "abc".to_owned(),
                name: "shop-web-1".to_owned(),
                image: "shop:1".to_owned(),
                state: ContainerState::Exited,
                health: Some(HealthState::Unhealthy),
                exit_code: Some(137),
                oom_killed: true,
                restart_count: 2,
                pid: None,
                started_at: Some(UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)),
                finished_at: None,
                labels: BTreeMap::from([(
                    "com.docker.compose.service".to_owned(),
                    "web".to_owned(),
                )]),
                published_ports: Vec::new(),
            },
            None,
        )
    }

    #[test]
    fn a_stopped_container_has_its_engine_view_and_no_cgroup_series() {
        let tracked = exited_after_an_oom_kill();
        let text = scrape(&[Arc::new(tracked)], SystemTime::now());
        let labels = r#"name="shop-web-1",image="shop:1",id="/docker/abc",compose_service="web""#;
        for line in [
            format!(r#"docker_container_state{{{labels},state="exited"}} 1"#),
            format!(r#"docker_container_state{{{labels},state="running"}} 0"#),
            format!(r#"docker_container_health_status{{{labels},status="unhealthy"}} 1"#),
            format!(r#"docker_container_health_status{{{labels},status="none"}} 0"#),
            format!("docker_container_restarts_total{{{labels}}} 2"),
            format!("container_oom_events_total{{{labels}}} 1"),
            format!("container_start_time_seconds{{{labels}}} 1700000000"),
        ] {
            assert!(text.lines().any(|have| have == line), "{line} in\n{text}");
        }
        assert!(!text.contains("container_memory_usage_bytes{"), "{text}");
        assert!(text.contains("# TYPE container_memory_usage_bytes gauge"));
    }

    #[test]
    fn oom_kills_are_the_most_of_events_cgroup_and_the_flag() {
        let tracked = exited_after_an_oom_kill();
        assert_eq!(tracked.oom_events_total(None), 1);
        tracked.oom_event();
        tracked.oom_event();
        assert_eq!(tracked.oom_events_total(Some(1)), 2);
        assert_eq!(tracked.oom_events_total(Some(3)), 3);
        // The cgroup's count is remembered once the cgroup is gone, and by the next inspection.
        assert_eq!(tracked.oom_events_total(None), 3);
        let again = Tracked::new(tracked.status.clone(), Some(&tracked));
        assert_eq!(again.oom_events_total(None), 3);
    }
}
