//! `monibox load`: turns the flags into a plan, runs it with a live progress line on a TTY, then
//! prints the report (text or `--json`) and exits 1 when a threshold failed, 130 when Ctrl-C
//! stopped the run.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use super::EXIT_UNHEALTHY;
use super::context::ProjectContext;
use crate::cli::LoadArgs;
use crate::load::plan::{LoadPlan, LoadSettings, OpenFileLimit, Target, format_duration};
use crate::load::push::Pusher;
use crate::load::report::{LoadReport, latency_text};
use crate::load::{self, Progress, prometheus};
use crate::stack::record::StackRecord;

/// How often the progress line is redrawn.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// How long to wait for Prometheus to scrape the target after the run (one default 15 s scrape
/// interval, plus margin), so its numbers include the end of the run.
const PROMETHEUS_SCRAPE_WAIT: Duration = Duration::from_secs(20);
const PROMETHEUS_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Exit code of a run stopped by Ctrl-C (SIGINT) or SIGTERM, after its report: 128 + SIGINT, as
/// shells give a command ended by Ctrl-C, so a script can tell an interrupted run from a
/// finished one whatever its thresholds said.
pub const EXIT_INTERRUPTED: u8 = 130;

pub async fn run(args: Box<LoadArgs>) -> anyhow::Result<ExitCode> {
    let mut args = *args;
    let (target, prometheus_url, push_url) = match (
        args.target.take(),
        args.prometheus.take(),
        args.push_to.take(),
    ) {
        (Some(target), prometheus, push) => (target, prometheus, push),
        (None, prometheus, push) => {
            let stack = running_stack(&args)?;
            (
                stack.target,
                prometheus.or(stack.prometheus),
                push.or(stack.ops),
            )
        }
    };
    let settings = LoadSettings {
        users: args.users,
        rate: args.rate,
        duration: args.duration,
        requests: args.requests,
        ramp_up: args.ramp_up,
        think_time: args.think_time,
        mix: args.mix,
        timeout: args.timeout,
        connections: args.connections,
        threads: args.threads,
        thresholds: args.thresholds,
        no_retry: args.no_retry,
    };
    let settings = match args.scenario {
        Some(scenario) => settings.with_preset(scenario.settings()),
        None => settings,
    };
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let plan = LoadPlan::new(target, settings, cpus, open_file_limit())?;

    let stop = CancellationToken::new();
    let interrupt = super::cancel_on_signal(stop.clone());
    let running = load::start(&plan, stop.clone()).await?;
    let mut probe = running.probe();
    let pusher = push_url.as_ref().map(|url| Pusher::new(url.url()));
    let pushing_stop = CancellationToken::new();
    let push_probe = running.probe();
    let pushing = async {
        match &pusher {
            Some(pusher) => pusher.run(&plan, push_probe, pushing_stop.clone()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(pushing);
    let mut progress = ProgressLine::new(&plan);
    let finish = running.finish();
    tokio::pin!(finish);
    let mut ticks = tokio::time::interval(PROGRESS_INTERVAL);
    let finished = loop {
        tokio::select! {
            finished = &mut finish => break finished?,
            _ = ticks.tick() => progress.show(probe.sample()),
            () = &mut pushing => {}
        }
    };
    pushing_stop.cancel();
    if let Some(pusher) = &pusher {
        pusher.finish(&plan, &finished.stats).await;
    }

    let mut report = LoadReport::new(&plan, &finished);
    if let Some(prometheus_url) = prometheus_url {
        progress.wait_for_prometheus();
        let run = prometheus::RunWindow {
            started_at: finished.started_at,
            ended_at: finished.started_at + finished.elapsed,
            target_port: plan.target.port(),
        };
        let query = prometheus::server_side(
            &prometheus_url,
            run,
            PROMETHEUS_SCRAPE_WAIT,
            PROMETHEUS_REQUEST_TIMEOUT,
        );
        // A Ctrl-C during the run or the wait for Prometheus skips the rest of the wait.
        let server = tokio::select! {
            server = query, if !stop.is_cancelled() => server.map_err(|error| error.to_string()),
            () = stop.cancelled() => Err("skipped: interrupted".to_owned()),
        };
        report.attach_server_side(prometheus_url.url(), server);
    }
    interrupt.abort();
    progress.clear();

    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", report.render())?;
    }
    if let Some(problem) = no_answer_at_all(&report, plan.timeout) {
        anyhow::bail!(problem);
    }
    Ok(if report.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if report.thresholds_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_UNHEALTHY)
    })
}

/// What to tell the user when the target gave no HTTP answer during the whole (uninterrupted)
/// run, whatever each request ran into: a run that measured nothing is an environment error,
/// not a result.
fn no_answer_at_all(report: &LoadReport, timeout: Duration) -> Option<String> {
    let answered: u64 = report.status_codes.values().sum();
    if answered > 0 || report.totals.requests == 0 || report.interrupted {
        return None;
    }
    let errors = &report.errors;
    let timeout = format_duration(timeout);
    let hint = if errors.timeout > 0 {
        format!(
            "no answer came within --timeout {timeout}: raise --timeout if the service is just \
             slow, else check that --target points at an HTTP service"
        )
    } else {
        "check that --target points at a running HTTP service".to_owned()
    };
    Some(format!(
        "{}: no request got an HTTP answer ({} timed out, {} refused, {} reset, {} other I/O \
         errors); {hint}",
        report.target,
        errors.timeout,
        errors.connect_refused,
        errors.connection_reset,
        errors.other_io
    ))
}

/// The defaults of `--target`, `--prometheus` and `--push-to`.
struct StackDefaults {
    target: Target,
    prometheus: Option<Target>,
    /// The daemon's ops listener, which takes the run's own figures.
    ops: Option<Target>,
}

/// Where load goes when `--target` is not given, which Prometheus to compare with unless
/// `--prometheus` says, and where the run's figures go unless `--push-to` says: the demo
/// service, Prometheus and daemon ops listener of the project's running stack (its
/// `stack.json`), else the demo service's standard address and none. This is the one place that
/// decides it.
fn running_stack(args: &LoadArgs) -> anyhow::Result<StackDefaults> {
    let config_args = crate::cli::ConfigArgs {
        config: args.config.clone(),
        project: args.project.clone(),
        timing: None,
    };
    let context = ProjectContext::load(&config_args, &args.state)?;
    let record = context.record();
    // A project named (by flag, file or environment) that does not run is an error, not the
    // default target: that could be someone else's service.
    if record.is_none() && context.project() != "default" {
        anyhow::bail!(
            "project {} is not running (no stack.json in {}): start it with {}, or give \
             --target URL",
            context.project(),
            context.dir.path().display(),
            context.command("up")
        );
    }
    let parse = |url: String| url.parse::<Target>().ok();
    let target = record
        .as_ref()
        .and_then(|record| record.daemon.app_url())
        .and_then(parse);
    let prometheus = record
        .as_ref()
        .and_then(StackRecord::prometheus_url)
        .and_then(parse);
    let ops = record
        .as_ref()
        .and_then(|record| record.daemon.ops_url())
        .and_then(parse);
    Ok(StackDefaults {
        target: match target {
            Some(target) => target,
            None => "http://127.0.0.1:5000"
                .parse()
                .expect("the built-in default target is a valid URL"),
        },
        prometheus,
        ops,
    })
}

/// The process's open-file limit, from `/proc/self/limits` (Linux); `None` where that cannot be
/// read, and the plan then does not check users and connections against it.
fn open_file_limit() -> Option<OpenFileLimit> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&limits)
}

/// The soft and hard values of the `Max open files` line of a `/proc/<pid>/limits` text.
fn parse_open_file_limit(limits: &str) -> Option<OpenFileLimit> {
    const NAME: &str = "Max open files";
    let mut values = limits
        .lines()
        .find_map(|line| line.strip_prefix(NAME))?
        .split_whitespace();
    let value = |text: &str| match text {
        "unlimited" => Some(u64::MAX),
        number => number.parse().ok(),
    };
    Some(OpenFileLimit {
        soft: value(values.next()?)?,
        hard: value(values.next()?)?,
    })
}

/// The live line on stderr: elapsed, requests, recent req/s, errors and p95 so far. Hidden
/// (draws nothing) when stderr is not a terminal.
struct ProgressLine {
    bar: ProgressBar,
    by_requests: bool,
    /// Recent samples, oldest first, for a req/s that is steady enough to read.
    recent: VecDeque<Progress>,
}

/// Samples the progress line's req/s is averaged over (2 s at `PROGRESS_INTERVAL`).
const RATE_WINDOW_SAMPLES: usize = 8;

impl ProgressLine {
    fn new(plan: &LoadPlan) -> ProgressLine {
        let (length, by_requests) = match (plan.duration, plan.requests) {
            (Some(duration), _) => (duration.as_millis() as u64, false),
            (None, Some(requests)) => (requests, true),
            (None, None) => (0, false),
        };
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template("{elapsed:>3} [{bar:20}] {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        ProgressLine {
            bar,
            by_requests,
            recent: VecDeque::with_capacity(RATE_WINDOW_SAMPLES + 1),
        }
    }

    fn show(&mut self, now: Progress) {
        if self.bar.is_hidden() {
            return;
        }
        self.recent.push_back(now);
        if self.recent.len() > RATE_WINDOW_SAMPLES {
            self.recent.pop_front();
        }
        let rps = match self.recent.front() {
            Some(oldest) if now.elapsed > oldest.elapsed => {
                (now.requests - oldest.requests) as f64
                    / (now.elapsed - oldest.elapsed).as_secs_f64()
            }
            _ => 0.0,
        };
        let p95 = latency_text(now.p95.map(|p95| p95.as_secs_f64() * 1000.0));
        self.bar.set_position(if self.by_requests {
            now.requests
        } else {
            now.elapsed.as_millis() as u64
        });
        self.bar.set_message(format!(
            "{} req  {rps:.0} req/s  {} err  p95 {p95}",
            now.requests, now.errors
        ));
    }

    fn wait_for_prometheus(&self) {
        self.bar
            .set_message("waiting for Prometheus to scrape the run's end");
    }

    fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_file_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63455                63455                processes \n\
                      Max open files            1024                 524288               files     \n\
                      Max locked memory         8388608              8388608              bytes     \n";
        assert_eq!(
            parse_open_file_limit(limits),
            Some(OpenFileLimit {
                soft: 1024,
                hard: 524_288
            })
        );
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(
            parse_open_file_limit(unlimited),
            Some(OpenFileLimit {
                soft: u64::MAX,
                hard: u64::MAX
            })
        );
        assert_eq!(parse_open_file_limit("Max processes 1 1 processes\n"), None);
        assert!(
            open_file_limit().is_some_and(|limit| limit.soft <= limit.hard),
            "this Linux process has a readable limit"
        );
    }
}
