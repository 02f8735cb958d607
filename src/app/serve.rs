//! `monibox serve`: the demo service in the foreground until Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::demo::{DemoService, DemoSettings};

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut settings = DemoSettings {
        slow_ms: args.slow_min_ms..=args.slow_max_ms,
        error_rate: args.error_rate,
        instrumented: !args.uninstrumented,
        ..DemoSettings::default()
    };
    settings.limits.drain_timeout = Duration::from_secs(args.drain_timeout);
    let service = DemoService::bind(&args.listen, settings).await?;
    let shutdown = CancellationToken::new();
    super::cancel_on_signal(shutdown.clone());
    // Scripts wait for this line, so it comes after the signal handlers are in place.
    for addr in service.local_addrs() {
        outln!("monibox demo service listening on http://{addr}")?;
    }
    service.run(shutdown).await?;
    tracing::info!("demo service stopped");
    Ok(ExitCode::SUCCESS)
}
