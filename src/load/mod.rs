//! `monibox load`'s engine: turns a validated [`plan::LoadPlan`] into HTTP load on a target and
//! counts what happened. [`start`] checks the target and starts the worker threads; the returned
//! [`LoadRun`] gives progress samples while it runs and the merged counts at the end, which
//! [`report::LoadReport`] summarises. Nothing here prints; `app::load` presents.

mod client;
pub mod plan;
pub mod prometheus;
pub mod report;
pub mod stats;
pub mod threshold;
mod workers;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::plan::{LoadPlan, Target};
use self::stats::{Stats, add_histogram, latency_histogram};

/// The longest the pre-flight connection check waits, whatever `--timeout` says.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a load run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot resolve {target}: {reason}; check the host name in --target")]
    Resolve { target: String, reason: io::Error },
    #[error("{target} resolves to no address; check the host name in --target")]
    NoAddress { target: String },
    #[error(
        "cannot connect to {target} ({addr}): {reason}; start the service (`monibox serve` or `monibox up`) or point --target at a running one"
    )]
    Unreachable {
        target: String,
        addr: SocketAddr,
        reason: io::Error,
    },
    #[error(
        "connecting to {target} ({addr}) took longer than {timeout:?}; check --target and that the service accepts connections"
    )]
    PreflightTimeout {
        target: String,
        addr: SocketAddr,
        timeout: Duration,
    },
    #[error("cannot start a load worker thread: {0}")]
    Runtime(io::Error),
    #[error("cannot build the request: {0}")]
    Request(String),
    #[error("a load worker thread stopped unexpectedly; its counts are lost")]
    WorkerLost,
}

/// A snapshot while the run goes on (counts are at most a fraction of a second stale).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub elapsed: Duration,
    pub requests: u64,
    pub errors: u64,
    /// Over all requests answered so far; `None` before the first answer.
    pub p95: Option<Duration>,
}

/// The counts of a finished run.
#[derive(Debug, Clone)]
pub struct Finished {
    pub stats: Stats,
    /// From the start until the workers stopped: the bound reached and requests in flight ended.
    pub elapsed: Duration,
    /// The time over which requests were started, which rates are per second of: the planned
    /// duration when the run lasted that long (requests still in flight then finish after it),
    /// or until the last request started if that was later (an open model that fell behind),
    /// else `elapsed`.
    pub window: Duration,
    pub started_at: SystemTime,
    /// Stopped early by the shutdown token (e.g. Ctrl-C).
    pub interrupted: bool,
}

/// A run in progress.
pub struct LoadRun {
    start: Instant,
    duration: Option<Duration>,
    started_at: SystemTime,
    shared: Vec<Arc<Mutex<Stats>>>,
    done: Vec<oneshot::Receiver<workers::ThreadEnd>>,
    stop: CancellationToken,
}

/// Resolves and checks the target, then starts the load. Returns quickly with a clear error when
/// nothing listens there, instead of running the whole duration against a closed port.
pub async fn start(plan: &LoadPlan, stop: CancellationToken) -> Result<LoadRun, LoadError> {
    let addr = resolve(&plan.target).await?;
    preflight(&plan.target, addr).await?;
    let start = Instant::now();
    let started_at = SystemTime::now();
    let workers = workers::spawn(plan, addr, start, &stop)?;
    Ok(LoadRun {
        start,
        duration: plan.duration,
        started_at,
        shared: workers.shared,
        done: workers.done,
        stop,
    })
}

/// The first address the target's host resolves to.
pub async fn resolve(target: &Target) -> Result<SocketAddr, LoadError> {
    let mut addrs = tokio::net::lookup_host((target.host(), target.port()))
        .await
        .map_err(|reason| LoadError::Resolve {
            target: target.to_string(),
            reason,
        })?;
    addrs.next().ok_or_else(|| LoadError::NoAddress {
        target: target.to_string(),
    })
}

async fn preflight(target: &Target, addr: SocketAddr) -> Result<(), LoadError> {
    match tokio::time::timeout(PREFLIGHT_TIMEOUT, client::probe(addr)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(reason)) => Err(LoadError::Unreachable {
            target: target.to_string(),
            addr,
            reason,
        }),
        Err(_) => Err(LoadError::PreflightTimeout {
            target: target.to_string(),
            addr,
            timeout: PREFLIGHT_TIMEOUT,
        }),
    }
}

impl LoadRun {
    /// Something to sample progress with while `finish` is awaited.
    pub fn probe(&self) -> ProgressProbe {
        ProgressProbe {
            start: self.start,
            shared: self.shared.clone(),
            combined: latency_histogram(),
        }
    }

    /// Waits until every worker has stopped (at the plan's bounds, or at once when the shutdown
    /// token fires) and returns the merged counts.
    pub async fn finish(self) -> Result<Finished, LoadError> {
        let (mut last_start, mut stopped) = (self.start, self.start);
        for done in self.done {
            let end = done.await.map_err(|_| LoadError::WorkerLost)?;
            last_start = last_start.max(end.last_start);
            stopped = stopped.max(end.stopped);
        }
        let mut stats = Stats::new(0);
        for (index, shared) in self.shared.iter().enumerate() {
            let thread_stats = shared.lock().unwrap_or_else(PoisonError::into_inner);
            if index == 0 {
                stats = thread_stats.clone();
            } else {
                stats.merge_from(&thread_stats);
            }
        }
        let elapsed = stopped - self.start;
        // An open-model run whose connections were all busy starts its last due requests after
        // the planned duration; the window stretches to cover them so rates stay true.
        let window = match self.duration {
            Some(duration) if elapsed >= duration => duration.max(last_start - self.start),
            _ => elapsed,
        };
        Ok(Finished {
            stats,
            elapsed,
            window,
            started_at: self.started_at,
            interrupted: self.stop.is_cancelled(),
        })
    }
}

/// Samples a running load's totals for a progress display.
pub struct ProgressProbe {
    start: Instant,
    shared: Vec<Arc<Mutex<Stats>>>,
    combined: Histogram<u64>,
}

impl ProgressProbe {
    pub fn sample(&mut self) -> Progress {
        self.combined.reset();
        let (mut requests, mut errors) = (0, 0);
        for shared in &self.shared {
            let stats = shared.lock().unwrap_or_else(PoisonError::into_inner);
            requests += stats.requests();
            errors += stats.errors();
            for endpoint in stats.endpoints() {
                add_histogram(&mut self.combined, endpoint.latency_us());
            }
        }
        let p95 = (!self.combined.is_empty())
            .then(|| Duration::from_micros(self.combined.value_at_quantile(0.95)));
        Progress {
            elapsed: self.start.elapsed(),
            requests,
            errors,
            p95,
        }
    }
}
