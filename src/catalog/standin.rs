//! A stand-in for Grafana, for tests and benchmarks only, on machines where no Grafana image can
//! be had: the host's static busybox (Debian's `busybox-static`) running `httpd` on port 3000,
//! serving [`HEALTH`] at `/api/health` (shaped like Grafana's answer, and saying what it is) and
//! [`METRICS`] at `/metrics` (so the stack's `grafana` scrape job finds a target that is up), with
//! `wget` on the `PATH` for the health check Grafana's spec uses. It is never presented as
//! Grafana: `monibox images build --from-host --component grafana-standin` (hidden) builds it.

use crate::docker::images::{HostFile, HostRecipe, ImageLayout, VersionProbe};

/// The image's tag.
pub const TAG: &str = "monibox-test/grafana-standin:busybox";

/// What the stand-in answers on `/api/health`.
pub const HEALTH: &str =
    r#"{"commit":"monibox-test-standin","database":"ok","version":"standin (not Grafana)"}"#;

/// What the stand-in serves on `/metrics`; the one series says what it is.
pub const METRICS: &str = "\
# HELP monibox_test_grafana_standin_info A monibox test stand-in (busybox httpd), not Grafana.
# TYPE monibox_test_grafana_standin_info gauge
monibox_test_grafana_standin_info 1
";

pub static RECIPE: HostRecipe = HostRecipe {
    component: "grafana-standin",
    package: "busybox-static",
    fixed_tag: Some(TAG),
    binaries: &[
        HostFile {
            host: "/bin/busybox",
            image: "bin/busybox",
        },
        // Busybox picks the applet from its name: this is the `wget` the health check runs.
        HostFile {
            host: "/bin/busybox",
            image: "bin/wget",
        },
    ],
    files: &[],
    trees: &[],
    generated: &[
        ("www/metrics", METRICS),
        ("www/api/health", HEALTH),
        (
            "www/index.html",
            "<!doctype html><title>Grafana stand-in</title>\n\
             <p>This is a monibox test stand-in (busybox httpd), not Grafana.</p>\n",
        ),
    ],
    version: VersionProbe {
        binary: "/bin/busybox",
        args: &[],
        marker: "BusyBox v",
    },
    layout: ImageLayout {
        data_dir: None,
        port: 3000,
        entrypoint: "/bin/busybox",
        cmd: &["httpd", "-f", "-p", "3000", "-h", "/www"],
        static_only: true,
    },
};
