//! The daemon's two listeners, as readiness entries like the containers': the demo service
//! (`ports.app`, scraped as job `app`) and the ops listener (`ports.ops`: self-metrics, the
//! Alertmanager webhook and the runbooks, scraped as job `monibox`; and its container metrics,
//! scraped as job `containers`). Both listen on 127.0.0.1
//! and on the project network's gateway address, which containers reach as
//! `host.docker.internal`.

use std::path::PathBuf;

use super::Probe;
use crate::config::{Port, Ports};
use crate::docker::images::{BinaryImage, HOST_BUILD_REPOSITORY_PREFIX, ImageLayout};

/// One listener of the daemon.
#[derive(Debug)]
pub struct ListenerDef {
    /// How `status` names it: `demo`, or `daemon` for the ops listener (it stands for the
    /// process).
    pub name: &'static str,
    /// `ports.<key>`.
    pub key: &'static str,
    pub port: fn(&Ports) -> Port,
    pub default_port: u16,
    pub readiness: Probe,
    /// The Prometheus job that scrapes it.
    pub scrape_job: &'static str,
}

/// The demo service: what the stack monitors and `monibox load` drives.
pub static DEMO: ListenerDef = ListenerDef {
    name: "demo",
    key: "app",
    port: |ports| ports.app,
    default_port: Ports::DEFAULT_APP,
    readiness: Probe {
        path: "/",
        expect_body: None,
    },
    scrape_job: "app",
};

/// The ops listener: `/metrics` (self-metrics), `/alerts` (webhook), `/runbooks`, `/-/healthy`.
pub static OPS: ListenerDef = ListenerDef {
    name: "daemon",
    key: "ops",
    port: |ports| ports.ops,
    default_port: Ports::DEFAULT_OPS,
    readiness: Probe {
        path: "/-/healthy",
        expect_body: None,
    },
    scrape_job: "monibox",
};

/// The ops listener's container metrics (`daemon::containers`): where, and the job scraping it.
#[derive(Debug)]
pub struct ContainerMetricsDef {
    pub path: &'static str,
    pub scrape_job: &'static str,
}

/// `/metrics/containers` on the ops listener, job `containers`.
pub static CONTAINERS: ContainerMetricsDef = ContainerMetricsDef {
    path: "/metrics/containers",
    scrape_job: "containers",
};

/// The name of the monibox image in `images build --component` and its label.
pub const MONIBOX_IMAGE: &str = "monibox";
/// Where the demo service and the ops listener listen inside the monibox image.
pub const IMAGE_APP_PORT: u16 = Ports::DEFAULT_APP;
pub const IMAGE_OPS_PORT: u16 = Ports::DEFAULT_OPS;

/// The monibox image: `binary` (this monibox) `FROM scratch` with its shared libraries, running
/// the demo service and the ops listener on all addresses — what the Compose and Kubernetes
/// exports run the demo service from. Its health check is `monibox healthcheck`.
pub fn monibox_image(binary: PathBuf) -> BinaryImage {
    BinaryImage {
        component: MONIBOX_IMAGE,
        binary,
        image_path: "bin/monibox",
        version: env!("CARGO_PKG_VERSION").to_owned(),
        layout: ImageLayout {
            data_dir: None,
            port: IMAGE_APP_PORT,
            entrypoint: "/bin/monibox",
            cmd: &[
                "serve",
                "--listen",
                "0.0.0.0:5000",
                "--ops-listen",
                "0.0.0.0:5001",
            ],
            static_only: false,
        },
    }
}

/// The tag `images build --from-host --component monibox` gives the monibox image.
pub fn monibox_image_tag() -> String {
    format!(
        "{HOST_BUILD_REPOSITORY_PREFIX}{MONIBOX_IMAGE}:{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The demo service in another engine's container (the Compose and Kubernetes exports): the
/// monibox image running `monibox serve` with the configuration's `[demo]` settings, the demo
/// service on [`IMAGE_APP_PORT`] and the ops listener on [`IMAGE_OPS_PORT`], all addresses.
pub fn serve_command(demo: &crate::config::Demo) -> Vec<String> {
    [
        "serve".to_owned(),
        "--listen".to_owned(),
        format!("0.0.0.0:{IMAGE_APP_PORT}"),
        "--ops-listen".to_owned(),
        format!("0.0.0.0:{IMAGE_OPS_PORT}"),
        format!("--slow-min-ms={}", demo.slow_min_ms),
        format!("--slow-max-ms={}", demo.slow_max_ms),
        format!("--error-rate={}", demo.error_rate.get()),
    ]
    .into()
}

/// The monibox image's health check in exec form (it has no shell): the ops listener answers.
pub fn image_health_check() -> Vec<String> {
    [
        "/bin/monibox".to_owned(),
        "healthcheck".to_owned(),
        format!("http://127.0.0.1:{IMAGE_OPS_PORT}{}", OPS.readiness.path),
    ]
    .into()
}

/// The memory limit of the demo service's container in the exports, bytes.
pub const IMAGE_MEMORY_LIMIT_BYTES: u64 = 256 << 20;
