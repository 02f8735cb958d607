//! The monibox daemon: the long-running process `up` starts (or runs in the terminal with
//! `--foreground`) that serves, on 127.0.0.1 and the project network's gateway address:
//!
//! - the demo service (what the stack monitors and `monibox load` drives);
//! - the ops listener ([`ops`]): self-metrics, the Alertmanager webhook, the runbooks, the
//!   figures `monibox load` pushes ([`load_metrics`]), Docker discovery's targets
//!   ([`discovery`]) and the Engine's containers' metrics ([`containers`]);
//! - relays from the gateway to user targets on loopback and to discovered containers
//!   ([`relay`]);
//! - the control socket ([`control`]): `status`, `shutdown`, `hold` and `resume` for the other
//!   commands;
//!
//! and runs the supervisor ([`crate::supervise`]), which keeps the project's containers running
//! and needs no listener: it starts even when the Docker Engine is away, and waits for it.
//!
//! [`Daemon::bind`] binds everything or fails before serving anything; [`Daemon::run`] runs each
//! part, the supervisor included, as one task of a task set under one shutdown token, until
//! SIGTERM, a `shutdown` request or the caller cancels. [`client`] is how other commands talk to
//! it; [`process`] the operating-system side (launch, pid file, signals).

pub mod alerts;
pub mod client;
pub mod containers;
pub mod control;
pub mod discovery;
pub mod load_metrics;
mod metrics;
pub mod ops;
pub mod process;
pub mod relay;
mod runbooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config;
use crate::demo::{DemoError, DemoService, DemoSettings};
use crate::httpd::BindError;
use crate::stack::record::DaemonRecord;
use crate::stack::store::StackStore;
use crate::supervise::{Supervisor, SupervisorSettings};
use control::{ControlError, ControlListener, DaemonStatus};
use ops::OpsListener;
use relay::Relays;

/// How long the demo service may take to finish in-flight requests on shutdown; short, so that
/// `down` stays quick (a `/slow` request is at most 10 s, and is cut off after this).
const DEMO_DRAIN: Duration = Duration::from_secs(2);

/// The demo service's behaviour for the configuration's `[demo]` section. The one place the
/// configuration is mapped onto [`DemoSettings`].
pub fn demo_settings(demo: &config::Demo) -> DemoSettings {
    let mut settings = DemoSettings {
        slow_ms: demo.slow_min_ms..=demo.slow_max_ms,
        error_rate: demo.error_rate.get(),
        ..DemoSettings::default()
    };
    settings.limits.drain_timeout = DEMO_DRAIN;
    settings
}

/// Everything the daemon needs to start.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    pub project: String,
    pub app_listen: Vec<SocketAddr>,
    pub ops_listen: Vec<SocketAddr>,
    pub demo: DemoSettings,
    pub control_socket: PathBuf,
    /// Reported on the control socket, so `up` can tell whether this daemon runs what it wants.
    pub settings_digest: String,
    pub supervision: SupervisorSettings,
}

impl DaemonSettings {
    /// The settings `up` recorded for the project in `stack.json`.
    pub fn from_record(
        project: &str,
        record: &DaemonRecord,
        control_socket: PathBuf,
        supervision: SupervisorSettings,
    ) -> Self {
        Self {
            project: project.to_owned(),
            app_listen: record.app_listen.clone(),
            ops_listen: record.ops_listen.clone(),
            demo: demo_settings(&record.demo),
            control_socket,
            settings_digest: record.settings_digest.clone(),
            supervision,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("the demo service cannot start: {0}")]
    Demo(DemoError),
    #[error("the ops listener cannot start: {0}")]
    Ops(BindError),
    #[error(transparent)]
    Control(#[from] ControlError),
}

/// The daemon with everything bound, not yet serving.
#[derive(Debug)]
pub struct Daemon {
    demo: DemoService,
    ops: OpsListener,
    control: ControlListener,
    project: String,
    settings_digest: String,
    supervision: SupervisorSettings,
}

impl Daemon {
    /// Binds the control socket first (a daemon already running for the project is reported as
    /// such, not as a taken port), then the demo service and the ops listener.
    pub async fn bind(settings: DaemonSettings) -> Result<Self, DaemonError> {
        let control = ControlListener::bind(&settings.control_socket).await?;
        let demo = DemoService::bind(&settings.app_listen, settings.demo)
            .await
            .map_err(DaemonError::Demo)?;
        let ops = OpsListener::bind(&settings.ops_listen)
            .await
            .map_err(DaemonError::Ops)?;
        Ok(Self {
            demo,
            ops,
            control,
            project: settings.project,
            settings_digest: settings.settings_digest,
            supervision: settings.supervision,
        })
    }

    pub fn app_addrs(&self) -> &[SocketAddr] {
        self.demo.local_addrs()
    }

    pub fn ops_addrs(&self) -> &[SocketAddr] {
        self.ops.local_addrs()
    }

    /// Serves until `shutdown` is cancelled (by the caller or a `shutdown` request), then lets
    /// every part drain and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let started_at = SystemTime::now();
        let started = Instant::now();
        let ops_state = self.ops.state();
        let app_listen = self.demo.local_addrs().to_vec();
        let ops_listen = self.ops.local_addrs().to_vec();
        let (project, settings_digest) = (self.project, self.settings_digest);
        let project_name = project.clone();
        // The gateway the daemon listens on besides loopback: where loopback targets are relayed.
        let gateway = app_listen
            .iter()
            .map(SocketAddr::ip)
            .find(|ip| !ip.is_loopback());
        let store = StackStore::new(&self.supervision.project_dir, &project);
        let relays = Relays::new(gateway, store.clone());
        let discovery = ops_state.discovery();
        let discovery_board = discovery.clone();
        let container_board = ops_state.containers();
        let docker_host = self.supervision.docker_host.clone();
        let supervisor = Supervisor::new(self.supervision, ops_state.supervisor_metrics());
        let supervisor_handle = supervisor.handle();
        let snapshot_handle = supervisor_handle.clone();
        let status = Arc::new(move || {
            let (notifications_total, alerts_total) = ops_state.alert_counts();
            DaemonStatus {
                project: project.clone(),
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                started_at: humantime::format_rfc3339_seconds(started_at).to_string(),
                uptime_seconds: started.elapsed().as_secs_f64(),
                app_listen: app_listen.clone(),
                ops_listen: ops_listen.clone(),
                settings_digest: settings_digest.clone(),
                notifications_total,
                alerts_total,
                supervisor: snapshot_handle.snapshot(),
                discovery: discovery_board.snapshot(),
            }
        });

        // What follows stack.json besides the supervisor re-reads it when `up` or `reload`
        // resumes the daemon.
        let on_resume: Arc<dyn Fn() + Send + Sync> = {
            let (relays, discovery) = (relays.clone(), discovery.clone());
            let containers = container_board.clone();
            Arc::new(move || {
                relays.refresh();
                discovery.refresh();
                containers.refresh();
            })
        };
        let tasks = TaskTracker::new();
        let demo_shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(error) = self.demo.run(demo_shutdown).await {
                tracing::error!(%error, "the demo service stopped");
            }
        });
        tasks.spawn(self.ops.run(shutdown.clone()));
        tasks.spawn(
            self.control
                .run(status, supervisor_handle, on_resume, shutdown.clone()),
        );
        tasks.spawn(relays.run(shutdown.clone()));
        tasks.spawn(containers::run(
            container_board,
            project_name,
            docker_host.clone(),
            store.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(discovery::run(
            discovery,
            gateway,
            docker_host,
            store,
            shutdown.clone(),
        ));
        tasks.spawn(supervisor.run(shutdown.clone()));
        tasks.close();
        tasks.wait().await;
    }
}
