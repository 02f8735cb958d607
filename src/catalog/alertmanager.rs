//! Alertmanager: groups, routes and inhibits the alerts Prometheus sends, and notifies the
//! daemon's webhook and the configured receivers. Runs as a single instance (no gossip) and
//! reloads its configuration through `/-/reload`.

use super::{BundleMount, ComponentDef, Probe, VersionEndpoint};
use crate::config::Ports;
use crate::docker::images::{HostFile, HostRecipe, ImageLayout, VersionProbe};

/// Alertmanager's port inside its container.
pub const CONTAINER_PORT: u16 = 9093;

pub static DEF: ComponentDef = ComponentDef {
    name: "alertmanager",
    title: "Alertmanager",
    enabled: |components| components.alertmanager,
    port: |ports| ports.alertmanager,
    default_port: Ports::DEFAULT_ALERTMANAGER,
    image: |images| &images.alertmanager,
    container_port: CONTAINER_PORT,
    readiness: Probe {
        path: "/-/ready",
        expect_body: None,
    },
    version: Some(VersionEndpoint {
        path: "/api/v2/status",
        pointer: "/versionInfo/version",
    }),
    reload_path: Some("/-/reload"),
    bundle: Some(BundleMount {
        dir: "alertmanager",
        target: "/etc/alertmanager",
    }),
    data_dir: Some("/alertmanager"),
    command: |_, _| {
        Some(
            [
                "--config.file=/etc/alertmanager/alertmanager.yml",
                "--storage.path=/alertmanager",
                // A single instance: no gossip to wait for.
                "--cluster.listen-address=",
            ]
            .map(str::to_owned)
            .to_vec(),
        )
    },
    env: &[],
    secrets: &[],
    state_mounts: &[],
    host_mounts: &[],
    tmpfs: &[],
    health_check: |_| {
        &[
            "/bin/amtool",
            "config",
            "show",
            "--alertmanager.url=http://127.0.0.1:9093",
        ]
    },
    memory_limit_bytes: 256 << 20,
    host_image: Some(&HOST_RECIPE),
    log_colour: "\x1b[31m",
    scrape_job: Some("alertmanager"),
    rule_file: Some("alertmanager.yml"),
    dashboard: None,
    check_by_hand: Some("amtool check-config alertmanager/alertmanager.yml"),
    run_by_hand: |listen, _| {
        format!(
            "alertmanager --config.file=alertmanager/alertmanager.yml --web.listen-address={listen} \
             --cluster.listen-address="
        )
    },
};

const PACKAGE: &str = "prometheus-alertmanager";

/// Debian's `prometheus-alertmanager` package. Both notification templates are required: without
/// `email.tmpl` Alertmanager exits at start.
static HOST_RECIPE: HostRecipe = HostRecipe {
    component: "alertmanager",
    package: PACKAGE,
    fixed_tag: None,
    binaries: &[
        HostFile {
            host: "/usr/bin/prometheus-alertmanager",
            image: "bin/alertmanager",
        },
        HostFile {
            host: "/usr/bin/amtool",
            image: "bin/amtool",
        },
    ],
    files: &[
        HostFile {
            host: "/usr/share/prometheus/alertmanager/default.tmpl",
            image: "usr/share/prometheus/alertmanager/default.tmpl",
        },
        HostFile {
            host: "/usr/share/prometheus/alertmanager/email.tmpl",
            image: "usr/share/prometheus/alertmanager/email.tmpl",
        },
    ],
    trees: &[],
    // One silent receiver so the image runs on its own.
    generated: &[(
        "etc/alertmanager/alertmanager.yml",
        "# Default of a monibox host-built image; monibox mounts its own configuration.\n\
         route:\n  receiver: default\nreceivers:\n  - name: default\n",
    )],
    version: VersionProbe {
        binary: "/usr/bin/prometheus-alertmanager",
        args: &["--version"],
        marker: "version ",
    },
    layout: ImageLayout {
        data_dir: Some("/alertmanager"),
        port: CONTAINER_PORT,
        entrypoint: "/bin/alertmanager",
        cmd: &[
            "--config.file=/etc/alertmanager/alertmanager.yml",
            "--storage.path=/alertmanager",
        ],
        static_only: false,
    },
};
