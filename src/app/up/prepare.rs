//! What `up` does before it creates containers: checks every name it will use (refusing what is
//! not the project's), gets the images, makes the network, chooses the daemon's ports, renders
//! the bundle, makes the volumes, holds a running daemon's supervisor and writes stack.json. If
//! any of it fails, what this run created (the network, volumes) is removed again and the error
//! says so, or says exactly what is left.

use std::net::SocketAddr;

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use super::super::BuildProgress;
use crate::app::context::ProjectContext;
use crate::catalog;
use crate::daemon::control::DaemonStatus;
use crate::docker::{Docker, DockerError, ProjectNetwork};
use crate::stack::images::{self, ObtainProgress, PullPolicy};
use crate::stack::plan::StackPlan;
use crate::stack::ports::{self, DaemonPorts};
use crate::stack::record::{ComponentRecord, FORMAT, NetworkRecord, StackRecord};

/// The plan and the record `up` goes on with.
pub(super) struct Prepared {
    pub(super) plan: StackPlan,
    pub(super) record: StackRecord,
    /// Grafana's admin password, when Grafana runs.
    pub(super) password: Option<String>,
    /// Empty duplicates of the network this run removed.
    pub(super) network_repaired: usize,
    /// Components whose image this run built from the host's packages.
    pub(super) built_here: Vec<&'static str>,
}

/// What this run created, to remove again if it stops before the containers.
#[derive(Default)]
struct Created {
    network: Option<ProjectNetwork>,
    volumes: Vec<String>,
}

/// The ports the project's own stack holds: its published container ports and the live
/// daemon's. They are expected to be in use, so the free-port check skips them.
pub(super) fn held_ports(previous: Option<&StackRecord>, live: Option<&DaemonStatus>) -> Vec<u16> {
    let mut held: Vec<u16> = previous
        .map(|record| {
            record
                .components
                .iter()
                .filter_map(|component| component.host_port)
                .collect()
        })
        .unwrap_or_default();
    if let Some(status) = live {
        held.extend(status.app_listen.iter().map(SocketAddr::port));
        held.extend(status.ops_listen.iter().map(SocketAddr::port));
    }
    held
}

pub(super) async fn prepare(
    docker: &Docker,
    context: &ProjectContext,
    previous: Option<&StackRecord>,
    live: Option<&DaemonStatus>,
    policy: PullPolicy,
    cancel: &CancellationToken,
) -> anyhow::Result<Prepared> {
    crate::stack::secrets::check(&context.config)?;
    check_names(docker, context).await?;
    let mut created = Created::default();
    match prepare_all(
        docker,
        context,
        previous,
        live,
        policy,
        cancel,
        &mut created,
    )
    .await
    {
        Ok(prepared) => Ok(prepared),
        Err(error) => Err(error.context(undo(docker, created).await)),
    }
}

/// Every container, volume and network name `up` will use, checked at once: one that exists
/// without the project's label is someone else's, and `up` stops before touching anything,
/// naming every one it found.
async fn check_names(docker: &Docker, context: &ProjectContext) -> anyhow::Result<()> {
    let project = context.project();
    let containers = catalog::enabled(&context.config).map(|def| async move {
        docker
            .owned_container(&def.container_name(project), project)
            .await
            .map(drop)
    });
    let volumes = catalog::enabled(&context.config)
        .filter(|def| def.data_dir.is_some())
        .map(|def| async move {
            docker
                .check_volume(&def.volume_name(project), project)
                .await
        });
    let (containers, volumes, network) = tokio::join!(
        join_all(containers),
        join_all(volumes),
        docker.find_network(project)
    );
    let mut errors: Vec<DockerError> = containers
        .into_iter()
        .chain(volumes)
        .chain([network.map(drop)])
        .filter_map(Result::err)
        .collect();
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0).into()),
        count => anyhow::bail!(
            "{count} names up needs are taken:\n  - {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  - ")
        ),
    }
}

async fn prepare_all(
    docker: &Docker,
    context: &ProjectContext,
    previous: Option<&StackRecord>,
    live: Option<&DaemonStatus>,
    policy: PullPolicy,
    cancel: &CancellationToken,
    created: &mut Created,
) -> anyhow::Result<Prepared> {
    let config = &context.config;
    let project = context.project();
    let (image_plans, network) = tokio::join!(
        images::plan(docker, config, policy),
        docker.ensure_network(project)
    );
    let network = network?;
    let network_repaired = network.duplicates_removed;
    if network.created {
        created.network = Some(network.clone());
    }
    let image_plans = image_plans?;
    let mut spinners: Vec<(&'static str, BuildProgress)> = Vec::new();
    let mut on_progress = |step: ObtainProgress| {
        if spinners
            .last()
            .is_none_or(|(name, _)| *name != step.component)
        {
            if let Some((_, done)) = spinners.last() {
                done.finish();
            }
            spinners.push((step.component, BuildProgress::start(step.component)));
        }
        if let Some((_, spinner)) = spinners.last() {
            spinner.show(&step.event);
        }
    };
    let obtained = images::obtain(docker, &image_plans, &mut on_progress, cancel).await;
    for (_, spinner) in &spinners {
        spinner.finish();
    }
    let images::Obtained {
        choices,
        built: built_here,
    } = obtained?;

    // Keep the daemon's ports across runs, so the rendered configuration (and with it the
    // containers) stays the same.
    let (previous_ports, held_by_live) = match live {
        Some(status) => (
            daemon_ports_of(&status.app_listen, &status.ops_listen),
            status
                .app_listen
                .iter()
                .any(|addr| addr.ip() == std::net::IpAddr::V4(network.gateway)),
        ),
        None => (
            previous.and_then(|record| {
                daemon_ports_of(&record.daemon.app_listen, &record.daemon.ops_listen)
            }),
            false,
        ),
    };
    let daemon_ports = ports::resolve_daemon_ports(
        (catalog::DEMO.port)(&config.ports),
        (catalog::OPS.port)(&config.ports),
        network.gateway,
        previous_ports,
        held_by_live,
    )?;

    let project_dir = &context.dir;
    project_dir.create()?;
    crate::stack::secrets::sync(project_dir, config)?;
    let password = catalog::grafana::DEF
        .is_enabled(config)
        .then(|| project_dir.grafana_password())
        .transpose()?;
    let mut plan = StackPlan::new(config, project_dir, &network, daemon_ports, &choices)?;
    for component in &mut plan.components {
        let recorded = previous.and_then(|record| record.component(component.def.name));
        if let Some(host_port) = recorded.and_then(|recorded| recorded.host_port) {
            component
                .preferred_ports
                .insert(component.def.container_port, host_port);
        }
    }
    plan.bundle.write_to(&project_dir.bundle_dir())?;
    plan.bundle.remove_stale(&project_dir.bundle_dir())?;
    project_dir.open_bundle_permissions()?;
    let volumes = plan.components.iter().filter_map(|component| {
        component.def.data_dir?;
        let name = component.def.volume_name(project);
        Some(async move {
            let made = docker
                .ensure_volume(&name, project, component.def.name)
                .await;
            (name, made)
        })
    });
    let mut failure = None;
    for (name, made) in join_all(volumes).await {
        match made {
            Ok(true) => created.volumes.push(name),
            Ok(false) => {}
            Err(error) => failure = failure.or(Some(error)),
        }
    }
    if let Some(error) = failure {
        return Err(error.into());
    }
    // A running daemon's supervisor must not restart what is being replaced, nor write
    // stack.json (the ports of a container it recreated) while this does: hold it (a daemon
    // launched later starts held). Both are resumed once the final stack.json is written.
    if live.is_some() {
        if let Err(error) = context.daemon().hold().await {
            tracing::warn!(%error, "could not hold the daemon's supervisor");
        }
    }
    let record = new_record(context, &network, &plan, previous);
    context.store.replace(&record)?;
    Ok(Prepared {
        plan,
        record,
        password,
        network_repaired,
        built_here,
    })
}

/// Removes what this run created; says what it removed or what is left.
async fn undo(docker: &Docker, created: Created) -> String {
    let mut removed = Vec::new();
    let mut left = Vec::new();
    for volume in created.volumes {
        match docker.remove_volume(&volume).await {
            Ok(_) => removed.push(format!("volume {volume}")),
            Err(error) => left.push(format!("volume {volume} ({error})")),
        }
    }
    if let Some(network) = created.network {
        match docker.remove_network(&network).await {
            Ok(_) => removed.push(format!("network {}", network.name)),
            Err(error) => left.push(format!("network {} ({error})", network.name)),
        }
    }
    match (removed.is_empty(), left.is_empty()) {
        (true, true) => "up stopped before creating anything".to_owned(),
        (false, true) => format!(
            "up stopped; it removed what it had created: {}",
            removed.join(", ")
        ),
        (_, false) => format!(
            "up stopped; left behind: {} (`monibox down` removes them)",
            left.join(", ")
        ),
    }
}

fn daemon_ports_of(app: &[SocketAddr], ops: &[SocketAddr]) -> Option<DaemonPorts> {
    Some(DaemonPorts {
        app: app.first()?.port(),
        ops: ops.first()?.port(),
    })
}

fn new_record(
    context: &ProjectContext,
    network: &ProjectNetwork,
    plan: &StackPlan,
    previous: Option<&StackRecord>,
) -> StackRecord {
    use crate::stack::images::ImageChoice;
    let components = plan
        .components
        .iter()
        .map(|component| {
            let (image, missing) = match &component.image {
                ImageChoice::Use(image) => (Some(image.clone()), None),
                ImageChoice::Missing(missing) => (None, Some(missing.clone())),
            };
            let earlier = previous.and_then(|record| record.component(component.def.name));
            ComponentRecord {
                name: component.def.name.to_owned(),
                container: component.container.clone(),
                configured_image: component.configured_image.clone(),
                image,
                missing,
                spec_hash: None,
                config_digest: component.config_digest.clone(),
                container_port: component.def.container_port,
                host_port: earlier.and_then(|earlier| earlier.host_port),
                spec: component.spec.clone(),
            }
        })
        .collect();
    StackRecord {
        format: FORMAT,
        project: context.project().to_owned(),
        timing: context.config.timing,
        network: NetworkRecord {
            id: network.id.clone(),
            name: network.name.clone(),
            gateway: network.gateway,
        },
        daemon: plan.daemon.clone(),
        components,
        relays: crate::stack::record::Relay::for_config(&context.config),
        discovery: context.config.discovery.clone(),
        containers: context.config.containers.clone(),
    }
}
