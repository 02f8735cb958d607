//! `monibox export compose|kubernetes`: the stack for another engine.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{ConfigArgs, OutputArgs, StateArgs};

/// Examples shown by `monibox export --help`.
pub(super) const EXPORT_EXAMPLES: &str = "\
Examples:
  monibox export compose ./stack && docker-compose -p default -f ./stack/compose.yaml up -d
  monibox export kubernetes ./k8s --release kube-prometheus-stack && kubectl apply -k ./k8s";

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write the whole stack as a Compose project (compose.yaml, the bundle, the Grafana
    /// password as a secret file, a README): the same images, health checks and limits as
    /// `monibox up`, ports on 127.0.0.1, named volumes, the demo service from the monibox image.
    Compose(ExportComposeArgs),
    /// Write kube-prometheus-stack objects: PrometheusRules, ServiceMonitors, dashboard
    /// ConfigMaps, an AlertmanagerConfig, the demo service's Deployment and Service, and a
    /// kustomization.yaml.
    Kubernetes(ExportKubernetesArgs),
}

/// What both exports take.
#[derive(Debug, Args)]
pub struct ExportCommon {
    /// Directory to write to; created if missing.
    pub dir: PathBuf,
    /// Write into a non-empty directory, replacing the export's files (other files are kept).
    #[arg(long)]
    pub force: bool,
    /// The image the demo service runs from; default: the monibox image
    /// (`monibox images build --from-host --component monibox`).
    #[arg(long, value_name = "IMAGE")]
    pub demo_image: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ExportComposeArgs {
    #[command(flatten)]
    pub common: ExportCommon,
}

#[derive(Debug, Args)]
pub struct ExportKubernetesArgs {
    #[command(flatten)]
    pub common: ExportCommon,
    /// The Helm release name of kube-prometheus-stack: its rule and ServiceMonitor selectors
    /// match the label `release: NAME`.
    #[arg(long, value_name = "NAME", default_value = "kube-prometheus-stack")]
    pub release: String,
    /// The namespace of the exported objects.
    #[arg(long, value_name = "NAME", default_value = "monibox")]
    pub namespace: String,
    /// Also write a Namespace object for it (then `kubectl delete -k` deletes the namespace and
    /// everything in it: leave it out for a namespace others use).
    #[arg(long)]
    pub create_namespace: bool,
    /// Also export the rules about monitoring itself (TargetDown, rule evaluation failures,
    /// Alertmanager connectivity); kube-prometheus-stack ships its own, cluster-wide.
    #[arg(long)]
    pub with_monitoring_rules: bool,
}
