//! `monibox load`'s engine: turns a validated [`plan::LoadPlan`] into HTTP load on a target and
//! counts what happened. [`start`] checks the target and starts the worker threads; the returned
//! [`LoadRun`] gives progress samples while it runs and the merged counts at the end, which
//! [`report::LoadReport`] summarises. Nothing here prints; `app::load` presents.

pub mod client;
pub mod plan;
pub mod prometheus;
pub mod push;
pub mod report;
pub mod stats;
pub mod threshold;
mod workers;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::plan::{LoadPlan, Target};
use self::stats::{Stats, add_histogram, latency_histogram};

/// The longest the pre-flight connection check waits for each address, whatever `--timeout`
/// says.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest resolving the target's host name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a load run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot resolve {target}: {reason}; check the host name in --target")]
    Resolve { target: String, reason: io::Error },
    #[error(
        "resolving {target} took longer than {timeout:?}; check the host name in --target and the DNS settings"
    )]
    ResolveTimeout { target: String, timeout: Duration },
    #[error("{target} resolves to no address; check the host name in --target")]
    NoAddress { target: String },
    #[error(
        "cannot connect to {target} ({attempts}); start the service (`monibox serve` or `monibox up`) or point --target at a running one"
    )]
    Unreachable {
        target: String,
        /// Each address tried and why it failed.
        attempts: String,
    },
    #[error(
        "connecting to {target} ({addrs}) took longer than {timeout:?}; check --target and that the service accepts connections"
    )]
    PreflightTimeout {
        target: String,
        addrs: String,
        timeout: Duration,
    },
    #[error("interrupted before the load started")]
    Interrupted,
    #[error("cannot start a load worker thread: {0}")]
    Runtime(io::Error),
    #[error("cannot build the request: {0}")]
    Request(String),
    #[error("a load worker thread stopped unexpectedly; its counts are lost")]
    WorkerLost,
    #[error(
        "{reason}; the run's counts are incomplete, so no report (please report this as a bug)"
    )]
    WorkerFailed { reason: String },
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
    done: Vec<oneshot::Receiver<workers::ThreadResult>>,
    /// The caller's token: cancelled means interrupted.
    stop: CancellationToken,
    /// The workers' own token, cancelled also when one of them fails.
    workers_stop: CancellationToken,
}

/// Resolves and checks the target, then starts the load. Returns quickly with a clear error when
/// nothing listens there, instead of running the whole duration against a closed port, and at
/// once when `stop` is cancelled meanwhile.
pub async fn start(plan: &LoadPlan, stop: CancellationToken) -> Result<LoadRun, LoadError> {
    let addr = tokio::select! {
        addr = reachable_address(&plan.target, PREFLIGHT_TIMEOUT) => addr?,
        () = stop.cancelled() => return Err(LoadError::Interrupted),
    };
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
        workers_stop: workers.stop,
    })
}

/// The first address of the target's host that accepts a TCP connection.
async fn reachable_address(target: &Target, timeout: Duration) -> Result<SocketAddr, LoadError> {
    let addrs = resolve(target).await?;
    preflight(target, &addrs, timeout).await
}

/// Every address the target's host resolves to, in the resolver's order.
async fn resolve(target: &Target) -> Result<Vec<SocketAddr>, LoadError> {
    let lookup = tokio::net::lookup_host((target.host(), target.port()));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(reason)) => {
            return Err(LoadError::Resolve {
                target: target.to_string(),
                reason,
            });
        }
        Err(_) => {
            return Err(LoadError::ResolveTimeout {
                target: target.to_string(),
                timeout: RESOLVE_TIMEOUT,
            });
        }
    };
    if addrs.is_empty() {
        return Err(LoadError::NoAddress {
            target: target.to_string(),
        });
    }
    Ok(addrs)
}

/// Tries `addrs` in order and keeps the first that accepts a TCP connection within `timeout`
/// (`localhost` may resolve to `::1` first while the service listens on 127.0.0.1 only).
async fn preflight(
    target: &Target,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<SocketAddr, LoadError> {
    let mut attempts = Vec::with_capacity(addrs.len());
    let mut all_timed_out = true;
    for &addr in addrs {
        match tokio::time::timeout(timeout, client::probe(addr)).await {
            Ok(Ok(())) => return Ok(addr),
            Ok(Err(reason)) => {
                all_timed_out = false;
                attempts.push(format!("{addr}: {reason}"));
            }
            Err(_) => attempts.push(format!("{addr}: no answer within {timeout:?}")),
        }
    }
    let target = target.to_string();
    Err(if all_timed_out {
        LoadError::PreflightTimeout {
            target,
            addrs: addrs
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            timeout,
        }
    } else {
        LoadError::Unreachable {
            target,
            attempts: attempts.join("; "),
        }
    })
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
    /// token fires) and returns the merged counts. When one worker fails, the others are
    /// stopped at once rather than left running to their bounds.
    pub async fn finish(self) -> Result<Finished, LoadError> {
        let (mut last_start, mut stopped) = (self.start, self.start);
        let mut failure = None;
        let mut pending: FuturesUnordered<_> = self.done.into_iter().collect();
        while let Some(done) = pending.next().await {
            match done {
                Ok(Ok(end)) => {
                    last_start = last_start.max(end.last_start);
                    stopped = stopped.max(end.stopped);
                }
                Ok(Err(reason)) => {
                    failure.get_or_insert(LoadError::WorkerFailed { reason });
                }
                Err(_) => {
                    failure.get_or_insert(LoadError::WorkerLost);
                }
            }
            if failure.is_some() {
                self.workers_stop.cancel();
            }
        }
        if let Some(failure) = failure {
            return Err(failure);
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
    /// Everything counted so far, all worker threads merged (at most a flush interval stale).
    pub fn totals(&self) -> Stats {
        let mut totals: Option<Stats> = None;
        for shared in &self.shared {
            let stats = shared.lock().unwrap_or_else(PoisonError::into_inner);
            match totals.as_mut() {
                Some(totals) => totals.merge_from(&stats),
                None => totals = Some(stats.clone()),
            }
        }
        totals.unwrap_or_else(|| Stats::new(0))
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        url.parse().expect("target")
    }

    /// A port that refuses connections for as long as the socket lives: bound, never listening,
    /// so no other process can take it meanwhile.
    fn refusing_port() -> (tokio::net::TcpSocket, SocketAddr) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("address"))
            .expect("bind");
        let addr = socket.local_addr().expect("address");
        (socket, addr)
    }

    #[tokio::test]
    async fn preflight_keeps_the_first_address_that_connects() {
        let (_refusing, refused) = refusing_port();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let listening = listener.local_addr().expect("address");
        let url = target("http://localhost:1");
        assert_eq!(
            preflight(&url, &[refused, listening], PREFLIGHT_TIMEOUT)
                .await
                .expect("the second address connects"),
            listening
        );

        let error = preflight(&url, &[refused], PREFLIGHT_TIMEOUT)
            .await
            .expect_err("nothing listens");
        assert!(
            matches!(&error, LoadError::Unreachable { attempts, .. } if attempts.contains(&refused.to_string())),
            "names the address tried: {error}"
        );
    }

    #[tokio::test]
    async fn a_failed_worker_stops_the_others_at_once() {
        let start = Instant::now();
        let workers_stop = CancellationToken::new();
        let (lost_sender, lost) = oneshot::channel();
        let (running_sender, running) = oneshot::channel();
        // Stands in for a worker that would run for a minute unless stopped.
        let worker_stop = workers_stop.clone();
        let worker = tokio::spawn(async move {
            let stopped = tokio::time::timeout(Duration::from_secs(60), worker_stop.cancelled())
                .await
                .is_ok();
            let _ = running_sender.send(Ok(workers::ThreadEnd {
                last_start: start,
                stopped: Instant::now(),
            }));
            stopped
        });
        drop(lost_sender);
        let run = LoadRun {
            start,
            duration: Some(Duration::from_secs(60)),
            started_at: SystemTime::now(),
            shared: Vec::new(),
            // The long-running worker first, so waiting for the workers in order would hang.
            done: vec![running, lost],
            stop: CancellationToken::new(),
            workers_stop,
        };
        let finished = tokio::time::timeout(Duration::from_secs(5), run.finish())
            .await
            .expect("finish returns as soon as a worker is lost");
        assert!(
            matches!(finished, Err(LoadError::WorkerLost)),
            "{finished:?}"
        );
        assert!(
            worker.await.expect("worker task"),
            "the other worker was told to stop"
        );
    }
}
