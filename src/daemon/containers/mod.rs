//! Container metrics: cAdvisor's metric and label names for the Engine's containers, served by
//! the daemon as `GET /metrics/containers` on the ops listener (Prometheus job `containers`),
//! with no privileged container and no host mount. The daemon runs on the host, so it reads
//! each container's cgroup files and `/proc/<pid>/net/dev` itself.
//!
//! - Which containers: stack.json's `containers` (`[containers] scope`: every container, the
//!   project's, or those labelled `io.monibox.containers=true`), running or not.
//! - The list follows the Engine's events ([`crate::docker::EventScope::Engine`]): an event of a
//!   container makes it inspected again (state, health, restarts, pid → cgroup directories,
//!   [`tracked`]) and the containers listed again, after [`SETTLE`]; so does a look every
//!   [`RESYNC_EVERY`]. A removed container leaves the list, and its series the exposition.
//! - Each scrape reads the cgroup files of the running ones ([`cgroup`], v1 and v2) and their
//!   network counters ([`netdev`]) on a blocking thread and renders the text format
//!   ([`exposition`]). Nothing is read between scrapes.
//! - OOM kills (`container_oom_events_total`) are the most of the Engine's `oom` events, the
//!   cgroup's `oom_kill` count and the Engine's `OOMKilled` flag, so a container whose main
//!   process was killed (and whose cgroup is gone) still counts its kill.

pub mod cgroup;
pub mod exposition;
pub mod netdev;
pub mod tracked;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::docker::{ContainerEventKind, Docker, EventScope, labels};
use crate::stack::store::StackStore;
use crate::supervise::MAX_RECONNECT_WAIT;
use tracked::Tracked;

/// How often the containers are listed again without an event (a missed event, a pause).
pub const RESYNC_EVERY: Duration = Duration::from_secs(15);
/// Events closer together than this lead to one look: 30 containers starting are one.
const SETTLE: Duration = Duration::from_millis(50);
/// How long connecting to the Engine may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Inspections at once when many containers appear.
const INSPECT_CONCURRENCY: usize = 8;

/// The containers metrics are reported for, shared with the ops listener.
#[derive(Debug, Default)]
pub struct ContainerBoard {
    tracked: Mutex<BTreeMap<String, Arc<Tracked>>>,
    /// Wakes the collector to re-read stack.json and look again (the scope may have changed).
    refresh: tokio::sync::Notify,
}

impl ContainerBoard {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Tracked>>> {
        match self.tracked.lock() {
            Ok(tracked) => tracked,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Makes the collector re-read stack.json and list the containers again.
    pub fn refresh(&self) {
        self.refresh.notify_one();
    }

    /// The text exposition of every tracked container, read now (on a blocking thread).
    pub async fn scrape(&self) -> String {
        let tracked: Vec<Arc<Tracked>> = self.lock().values().cloned().collect();
        let rendered =
            tokio::task::spawn_blocking(move || exposition::scrape(&tracked, SystemTime::now()))
                .await;
        rendered.unwrap_or_default()
    }
}

/// Follows the Engine until `shutdown`, keeping `board` to the containers of `project` that
/// stack.json's scope selects; reconnects with backoff when the Engine goes away (keeping the
/// list meanwhile).
pub async fn run(
    board: Arc<ContainerBoard>,
    project: String,
    docker_host: Option<String>,
    store: StackStore,
    shutdown: CancellationToken,
) {
    let mut wait = Duration::from_millis(250);
    let mut warned = false;
    while !shutdown.is_cancelled() {
        let connected = tokio::select! {
            () = shutdown.cancelled() => break,
            connected = Docker::connect(docker_host.as_deref(), CONNECT_TIMEOUT) => connected,
        };
        match connected {
            Ok(docker) => {
                warned = false;
                wait = Duration::from_millis(250);
                follow(&docker, &board, &project, &store, &shutdown).await;
            }
            Err(error) => {
                if !warned {
                    tracing::warn!(%error, "container metrics: the Engine is unreachable; retrying");
                    warned = true;
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(MAX_RECONNECT_WAIT);
    }
}

async fn follow(
    docker: &Docker,
    board: &ContainerBoard,
    project: &str,
    store: &StackStore,
    shutdown: &CancellationToken,
) {
    let mut events = docker.container_events(EventScope::Engine);
    let mut tick = tokio::time::interval(RESYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut due: Option<tokio::time::Instant> = None;
    // Containers an event was about since the last look: inspected again.
    let mut changed: HashSet<String> = HashSet::new();
    loop {
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => due = Some(tokio::time::Instant::now()),
            () = board.refresh.notified() => due = Some(tokio::time::Instant::now()),
            () = tokio::time::sleep_until(due.unwrap_or(far)), if due.is_some() => {
                due = None;
                resync(docker, board, project, store, &mut changed).await;
            }
            event = events.next() => match event {
                Some(Ok(event)) => {
                    if event.kind == ContainerEventKind::OutOfMemory
                        && let Some(tracked) = board.lock().get(&event.id)
                    {
                        tracked.oom_event();
                    }
                    changed.insert(event.id);
                    due.get_or_insert_with(|| tokio::time::Instant::now() + SETTLE);
                }
                Some(Err(error)) => {
                    tracing::debug!(%error, "container metrics: the event stream broke");
                    return;
                }
                None => return,
            },
        }
    }
}

/// Lists the containers in scope, inspects the new ones, those whose state changed and those
/// `changed` names, and replaces the board's list with the result.
async fn resync(
    docker: &Docker,
    board: &ContainerBoard,
    project: &str,
    store: &StackStore,
    changed: &mut HashSet<String>,
) {
    let scope = match store.read() {
        Ok(record) => record
            .map(|record| record.containers.scope)
            .unwrap_or_default(),
        Err(error) => {
            tracing::debug!(%error, "container metrics: cannot read stack.json");
            return;
        }
    };
    let filter = scope.label_filter(project, labels::PROJECT);
    let listed = match docker.all_containers(filter.as_deref()).await {
        Ok(listed) => listed,
        Err(error) => {
            tracing::debug!(%error, "container metrics: cannot list the containers");
            return;
        }
    };
    let known = board.lock().clone();
    let mut next: BTreeMap<String, Arc<Tracked>> = BTreeMap::new();
    let mut stale = Vec::new();
    for container in listed {
        match known.get(&container.id) {
            Some(tracked)
                if tracked.status.state == container.state && !changed.contains(&container.id) =>
            {
                next.insert(container.id, tracked.clone());
            }
            _ => stale.push(container.id),
        }
    }
    changed.clear();
    let inspected: Vec<_> = futures_util::stream::iter(stale)
        .map(|id| async move { (docker.inspect_container(&id).await, id) })
        .buffer_unordered(INSPECT_CONCURRENCY)
        .collect()
        .await;
    for (result, id) in inspected {
        match result {
            Ok(Some(status)) => {
                let tracked = Tracked::new(status, known.get(&id).map(Arc::as_ref));
                next.insert(id, Arc::new(tracked));
            }
            // Removed between the list and the inspection.
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%error, "container metrics: cannot inspect; keeping what was known");
                if let Some(tracked) = known.get(&id) {
                    next.insert(id, tracked.clone());
                }
            }
        }
    }
    tracing::debug!(containers = next.len(), %scope, "container metrics");
    *board.lock() = next;
}
