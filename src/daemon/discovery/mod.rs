//! Docker service discovery: every running container on the Engine labelled
//! `prometheus.io/scrape=true` becomes a target of the project's Prometheus (job `docker`),
//! whatever network it runs on, without a Docker socket in any container and without touching
//! the container or its network.
//!
//! The daemon follows the Engine's container events; a start, stop or removal of a labelled
//! container (and a periodic look every [`RESYNC_EVERY`]) lists the labelled containers again
//! ([`targets::candidate`] reads their labels). For each one the daemon relays a free port on the
//! project network's gateway to the container's address, which the host reaches on every bridge
//! network ([`super::relay::RelaySet`]), and serves the relays as `GET /sd/docker` on the ops
//! listener for Prometheus's `http_sd_configs` ([`targets::sd_body`]). Attaching Prometheus to
//! the user's networks instead would change them, and make `docker compose down` fail with
//! "network has active endpoints".
//!
//! What to discover is stack.json's `discovery` (`[discovery]` in the configuration: on or off,
//! and more labels a container must have), read at every look and again on `resume`. Containers
//! monibox created (any project's) are not discovered: the stack's own jobs scrape them.

pub mod targets;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::relay::{RelaySet, RelayWanted};
use crate::docker::{ContainerEventKind, Docker, EventScope};
use crate::stack::store::StackStore;
use crate::supervise::MAX_RECONNECT_WAIT;
use targets::{DiscoveredTarget, SCRAPE_LABEL, SkippedContainer};

/// How often the labelled containers are listed again without an event (a network attached
/// later, a missed event).
pub const RESYNC_EVERY: Duration = Duration::from_secs(15);
/// Events closer together than this lead to one look: a compose project starting is one.
const SETTLE: Duration = Duration::from_millis(50);
/// How long a stopped container's relay answers Prometheus's scrapes with no samples, until
/// Prometheus drops the target (see [`RelaySet::new`]); more than its discovery delay.
const DRAIN: Duration = Duration::from_secs(30);
/// How long connecting to the Engine may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Docker discovery as the control socket reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoverySnapshot {
    pub engine_reachable: bool,
    pub targets: Vec<DiscoveredTarget>,
    /// Labelled containers that are not scraped, with the reason.
    pub skipped: Vec<SkippedContainer>,
    /// Why the last look at the containers failed, until one succeeds.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// What discovery publishes: the body of `/sd/docker` and the snapshot. Shared with the ops
/// listener and the control socket.
#[derive(Debug)]
pub struct DiscoveryBoard {
    published: Mutex<Published>,
    loopback_host: String,
    /// Wakes discovery to look again (stack.json's `[discovery]` may have changed).
    refresh: Notify,
}

#[derive(Debug)]
struct Published {
    body: String,
    snapshot: DiscoverySnapshot,
}

impl DiscoveryBoard {
    /// Nothing discovered yet; the targets are served as `<loopback_host>:<relay port>`.
    pub fn new(loopback_host: &str) -> Arc<Self> {
        Arc::new(Self {
            published: Mutex::new(Published {
                body: "[]".to_owned(),
                snapshot: DiscoverySnapshot::default(),
            }),
            loopback_host: loopback_host.to_owned(),
            refresh: Notify::new(),
        })
    }

    /// Makes discovery re-read stack.json and look at the containers again.
    pub fn refresh(&self) {
        self.refresh.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, Published> {
        match self.published.lock() {
            Ok(published) => published,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The JSON array of target groups Prometheus's HTTP discovery reads.
    pub fn sd_body(&self) -> String {
        self.lock().body.clone()
    }

    pub fn snapshot(&self) -> DiscoverySnapshot {
        self.lock().snapshot.clone()
    }

    fn publish(&self, update: impl FnOnce(&mut DiscoverySnapshot)) {
        let mut published = self.lock();
        update(&mut published.snapshot);
        published.body = targets::sd_body(&published.snapshot.targets, &self.loopback_host);
    }
}

/// Runs discovery until `shutdown` is cancelled. Without a gateway (the daemon listens on none)
/// there is nowhere to relay from, and nothing is discovered.
pub async fn run(
    board: Arc<DiscoveryBoard>,
    gateway: Option<IpAddr>,
    docker_host: Option<String>,
    store: StackStore,
    shutdown: CancellationToken,
) {
    let Some(gateway) = gateway else {
        return;
    };
    let mut relays = RelaySet::new(gateway, Some(DRAIN), &shutdown);
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
                board.publish(|snapshot| snapshot.engine_reachable = true);
                follow(&docker, &board, &store, &mut relays, &shutdown).await;
                board.publish(|snapshot| snapshot.engine_reachable = false);
            }
            Err(error) => {
                if !warned {
                    tracing::warn!(%error, "Docker discovery: the Engine is unreachable; retrying");
                    warned = true;
                }
                board.publish(|snapshot| snapshot.engine_reachable = false);
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(MAX_RECONNECT_WAIT);
    }
    relays.close().await;
}

/// Follows one connection's events, looking again after each change of a labelled container,
/// until the connection breaks or `shutdown`.
async fn follow(
    docker: &Docker,
    board: &DiscoveryBoard,
    store: &StackStore,
    relays: &mut RelaySet,
    shutdown: &CancellationToken,
) {
    let mut events = docker.container_events(EventScope::Engine);
    let mut tick = tokio::time::interval(RESYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut due: Option<tokio::time::Instant> = None;
    // Containers that died: the Engine may still list them as running for a moment after its
    // `die` event, and they must not be served again.
    let mut stopped: HashSet<String> = HashSet::new();
    loop {
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => due = Some(tokio::time::Instant::now()),
            () = board.refresh.notified() => due = Some(tokio::time::Instant::now()),
            () = tokio::time::sleep_until(due.unwrap_or(far)), if due.is_some() => {
                due = None;
                resync(docker, board, store, relays, &mut stopped).await;
            }
            event = events.next() => match event {
                Some(Ok(event)) if event.attributes.contains_key(SCRAPE_LABEL) => {
                    match event.kind {
                        ContainerEventKind::Started => {
                            stopped.remove(&event.id);
                        }
                        ContainerEventKind::Died { .. } | ContainerEventKind::Destroyed => {
                            stopped.insert(event.id);
                        }
                        _ => {}
                    }
                    due.get_or_insert_with(|| tokio::time::Instant::now() + SETTLE);
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    tracing::debug!(%error, "Docker discovery: the event stream broke");
                    return;
                }
                None => return,
            },
        }
    }
}

/// Lists the labelled containers `[discovery]` asks for, relays to each and publishes the
/// result; with discovery off (or no stack.json), nothing.
async fn resync(
    docker: &Docker,
    board: &DiscoveryBoard,
    store: &StackStore,
    relays: &mut RelaySet,
    stopped: &mut HashSet<String>,
) {
    let settings = match store.read() {
        Ok(record) => record.map(|record| record.discovery),
        Err(error) => {
            tracing::debug!(%error, "Docker discovery: cannot read stack.json");
            return;
        }
    };
    let Some(settings) = settings.filter(|settings| settings.docker) else {
        relays.apply(Vec::new()).await;
        board.publish(|snapshot| {
            snapshot.targets.clear();
            snapshot.skipped.clear();
        });
        return;
    };
    let mut filters = vec![format!("{SCRAPE_LABEL}=true")];
    filters.extend(
        settings
            .docker_labels
            .iter()
            .map(|label| label.as_str().to_owned()),
    );
    let listed = docker.running_containers(&filters).await;
    let containers = match listed {
        Ok(containers) => containers,
        Err(error) => {
            tracing::debug!(%error, "Docker discovery: cannot list the containers");
            board.publish(|snapshot| snapshot.last_error = Some(error.to_string()));
            return;
        }
    };
    // A died container the Engine no longer lists needs no remembering.
    stopped.retain(|id| containers.iter().any(|container| &container.id == id));
    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    let wanted = containers
        .iter()
        .filter(|container| !container.is_monibox() && !stopped.contains(&container.id));
    for container in wanted {
        match targets::candidate(container) {
            Ok(candidate) => candidates.push(candidate),
            Err(reason) => skipped.push(SkippedContainer {
                container: container.name.clone(),
                reason,
            }),
        }
    }
    let wanted = candidates
        .iter()
        .map(|candidate| RelayWanted {
            key: candidate.key.clone(),
            port: 0,
            to: candidate.reach,
        })
        .collect();
    let bound: BTreeMap<String, std::net::SocketAddr> = relays.apply(wanted).await;
    let mut discovered: Vec<DiscoveredTarget> = candidates
        .into_iter()
        .filter_map(|candidate| {
            let relay = *bound.get(&candidate.key)?;
            Some(DiscoveredTarget::new(candidate, relay))
        })
        .collect();
    discovered.sort_by(|a, b| a.instance.cmp(&b.instance));
    skipped.sort_by(|a, b| a.container.cmp(&b.container));
    tracing::debug!(
        targets = discovered.len(),
        skipped = skipped.len(),
        "Docker discovery"
    );
    board.publish(|snapshot| {
        snapshot.targets = discovered;
        snapshot.skipped = skipped;
        snapshot.last_error = None;
    });
}
