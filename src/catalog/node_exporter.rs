//! node_exporter: the host's metrics (CPU, memory, load, filesystems, disk I/O, network), scraped
//! as job `node`. It reads the host's `/proc`, `/sys` and root filesystem, bind-mounted read-only
//! under `/host` as node_exporter's README prescribes for Docker (`--path.procfs`,
//! `--path.sysfs`, `--path.rootfs`). The mounts keep the Engine's default propagation: this Engine
//! refuses the README's `rslave`, so a filesystem mounted on the host after the container started
//! is seen only once it is recreated.
//!
//! It runs on the project network like every component (no `--net=host`, no `--pid=host`: CPU,
//! memory, load, filesystems and disks come from the host's `/proc` and `/sys` either way), so
//! its network figures (`node_network_*`) are those of its own container's interface, not of the
//! host's. It keeps no data and reads no configuration file.

use super::{ComponentDef, HostMount, Probe};
use crate::config::Ports;
use crate::docker::images::{HostFile, HostRecipe, ImageLayout, VersionProbe};

/// node_exporter's port inside its container.
pub const CONTAINER_PORT: u16 = 9100;

/// The Prometheus job that scrapes it.
pub const JOB: &str = "node";

/// The host's directories node_exporter reads, and where.
const HOST_MOUNTS: [HostMount; 3] = [
    HostMount {
        source: "/proc",
        target: "/host/proc",
    },
    HostMount {
        source: "/sys",
        target: "/host/sys",
    },
    HostMount {
        source: "/",
        target: "/host/root",
    },
];

pub static DEF: ComponentDef = ComponentDef {
    name: "node-exporter",
    title: "node_exporter",
    enabled: |components| components.node_exporter,
    port: |ports| ports.node_exporter,
    default_port: Ports::DEFAULT_NODE_EXPORTER,
    image: |images| &images.node_exporter,
    container_port: CONTAINER_PORT,
    // Its landing page; it has no readiness endpoint, and `/metrics` is the costly page.
    readiness: Probe {
        path: "/",
        expect_body: Some("Node Exporter"),
    },
    // It has no version endpoint (only `node_exporter_build_info`, scraped like any metric).
    version: None,
    reload_path: None,
    bundle: None,
    data_dir: None,
    command: |_, _| {
        Some(
            [
                "--path.procfs=/host/proc",
                "--path.sysfs=/host/sys",
                "--path.rootfs=/host/root",
                // Debian's build enables these; in the container neither can work (no D-Bus,
                // no textfile directory), and each would log an error at every scrape.
                "--no-collector.systemd",
                "--no-collector.textfile",
            ]
            .map(str::to_owned)
            .to_vec(),
        )
    },
    env: &[],
    secrets: &[],
    state_mounts: &[],
    host_mounts: &HOST_MOUNTS,
    tmpfs: &[],
    // Neither image has a program that could probe it; monibox probes it and watches its exit.
    health_check: |_| &[],
    memory_limit_bytes: 64 << 20,
    host_image: Some(&HOST_RECIPE),
    log_colour: "\x1b[36m",
    scrape_job: Some(JOB),
    rule_file: Some("node.yml"),
    dashboard: Some("host.json"),
    check_by_hand: None,
    run_by_hand: |listen, _| format!("prometheus-node-exporter --web.listen-address={listen}"),
};

const PACKAGE: &str = "prometheus-node-exporter";

/// Debian's `prometheus-node-exporter` package: its one binary, named as in the official image.
static HOST_RECIPE: HostRecipe = HostRecipe {
    component: "node-exporter",
    package: PACKAGE,
    fixed_tag: None,
    binaries: &[HostFile {
        host: "/usr/bin/prometheus-node-exporter",
        image: "bin/node_exporter",
    }],
    files: &[],
    trees: &[],
    generated: &[],
    version: VersionProbe {
        binary: "/usr/bin/prometheus-node-exporter",
        args: &["--version"],
        marker: "version ",
    },
    layout: ImageLayout {
        data_dir: None,
        port: CONTAINER_PORT,
        entrypoint: "/bin/node_exporter",
        cmd: &[],
        static_only: false,
    },
};
