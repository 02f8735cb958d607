//! `monibox serve`: the demo service in the foreground until Ctrl-C or SIGTERM.

use std::io::Write;
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
    {
        let mut out = std::io::stdout().lock();
        for addr in service.local_addrs() {
            writeln!(out, "monibox demo service listening on http://{addr}")?;
        }
        out.flush()?;
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(super::cancel_on_signal(shutdown.clone()));
    service.run(shutdown).await?;
    tracing::info!("demo service stopped");
    Ok(ExitCode::SUCCESS)
}
