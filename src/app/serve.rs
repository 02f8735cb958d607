//! `monibox serve`: the demo service (and, with `--ops-listen`, the ops listener) in the
//! foreground until Ctrl-C or SIGTERM; and the hidden `monibox healthcheck URL`, the health check
//! of the monibox image, which has no shell.

use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::{HealthcheckArgs, ServeArgs};
use crate::daemon::ops::OpsListener;
use crate::demo::{DemoService, DemoSettings};
use crate::httpc::HttpClient;

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut settings = DemoSettings {
        slow_ms: args.slow_min_ms..=args.slow_max_ms,
        error_rate: args.error_rate,
        instrumented: !args.uninstrumented,
        ..DemoSettings::default()
    };
    settings.limits.drain_timeout = Duration::from_secs(args.drain_timeout);
    let service = DemoService::bind(&args.listen, settings).await?;
    let ops = match args.ops_listen.as_slice() {
        [] => None,
        addrs => Some(OpsListener::bind(addrs).await?),
    };
    let shutdown = CancellationToken::new();
    super::cancel_on_signal(shutdown.clone());
    // Scripts wait for these lines, so they come after the signal handlers are in place.
    for addr in service.local_addrs() {
        outln!("monibox demo service listening on http://{addr}")?;
    }
    let ops_task = match ops {
        Some(ops) => {
            for addr in ops.local_addrs() {
                outln!("monibox ops listener on http://{addr} (/metrics, /alerts, /runbooks)")?;
            }
            Some(tokio::spawn(ops.run(shutdown.clone())))
        }
        None => None,
    };
    service.run(shutdown).await?;
    if let Some(task) = ops_task {
        let _ = task.await;
    }
    tracing::info!("demo service stopped");
    Ok(ExitCode::SUCCESS)
}

/// `monibox healthcheck URL`: 0 when it answers 2xx in time, 1 (with the reason on stderr)
/// otherwise.
pub async fn healthcheck(args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    match HttpClient::new(args.timeout).get(&args.url).await {
        Ok(response) if response.status.is_success() => Ok(ExitCode::SUCCESS),
        Ok(response) => {
            eprintln!("{} answered HTTP {}", args.url, response.status.as_u16());
            Ok(ExitCode::from(super::EXIT_UNHEALTHY))
        }
        Err(error) => {
            eprintln!("{}: {error}", args.url);
            Ok(ExitCode::from(super::EXIT_UNHEALTHY))
        }
    }
}
