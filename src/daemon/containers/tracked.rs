//! One container as container metrics know it between two inspections: what the Engine said
//! (state, health, restarts, start time, pid), its series labels (`name`, `image`, `id`,
//! `compose_project`, `compose_service`) and its cgroup directories, and the OOM kills seen so
//! far, which outlive the cgroup of a container that died of one.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::cgroup::CgroupPaths;
use crate::docker::ContainerStatus;

const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";
const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";

#[derive(Debug)]
pub struct Tracked {
    pub status: ContainerStatus,
    /// `name="…",image="…",id="/docker/<id>"` and the compose labels it has, escaped.
    pub labels: String,
    /// While it runs; None when stopped or its cgroups could not be found.
    pub cgroup: Option<CgroupPaths>,
    /// The Engine's `oom` events counted for it.
    engine_oom_events: AtomicU64,
    /// The highest `oom_kill` its cgroup reported.
    cgroup_oom_kills: AtomicU64,
}

impl Tracked {
    /// A container as just inspected, keeping the OOM kills `earlier` (its previous inspection)
    /// counted. Its cgroups are looked up from its pid when it runs.
    pub fn new(status: ContainerStatus, earlier: Option<&Tracked>) -> Self {
        let cgroup = status
            .pid
            .filter(|_| {
                status.is_running() || status.state == crate::docker::ContainerState::Paused
            })
            .and_then(|pid| match CgroupPaths::of_process(pid) {
                Ok(paths) => Some(paths),
                Err(reason) => {
                    tracing::debug!(container = %status.name, %reason, "no cgroup metrics");
                    None
                }
            });
        let mut labels = String::new();
        push_label(&mut labels, "name", &status.name);
        push_label(&mut labels, "image", &status.image);
        push_label(&mut labels, "id", &format!("/docker/{}", status.id));
        for (label, key) in [
            ("compose_project", COMPOSE_PROJECT_LABEL),
            ("compose_service", COMPOSE_SERVICE_LABEL),
        ] {
            if let Some(value) = status.labels.get(key) {
                push_label(&mut labels, label, value);
            }
        }
        let count = |read: fn(&Tracked) -> u64| earlier.map_or(0, read);
        Self {
            engine_oom_events: AtomicU64::new(count(|t| {
                t.engine_oom_events.load(Ordering::Relaxed)
            })),
            cgroup_oom_kills: AtomicU64::new(count(|t| t.cgroup_oom_kills.load(Ordering::Relaxed))),
            status,
            labels,
            cgroup,
        }
    }

    /// Counts one `oom` event of the Engine's.
    pub fn oom_event(&self) {
        self.engine_oom_events.fetch_add(1, Ordering::Relaxed);
    }

    /// OOM kills so far, given what its cgroup reports now: the most of the Engine's events, the
    /// cgroup's count (remembered after the cgroup is gone) and the Engine's `OOMKilled` (1).
    pub fn oom_events_total(&self, cgroup_now: Option<u64>) -> u64 {
        if let Some(kills) = cgroup_now {
            self.cgroup_oom_kills.fetch_max(kills, Ordering::Relaxed);
        }
        self.engine_oom_events
            .load(Ordering::Relaxed)
            .max(self.cgroup_oom_kills.load(Ordering::Relaxed))
            .max(u64::from(self.status.oom_killed))
    }
}

/// Appends `,name="value"` (no comma first) with the value escaped for the text exposition.
pub fn push_label(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    let _ = write!(out, "{name}=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut labels = String::new();
        push_label(&mut labels, "name", "a\"b\\c\nd");
        push_label(&mut labels, "image", "x");
        assert_eq!(labels, r#"name="a\"b\\c\nd",image="x""#);
    }
}
