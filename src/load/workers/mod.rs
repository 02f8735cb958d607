//! The load itself. Each worker thread runs a single-threaded runtime with its share of the users
//! (closed model) or of the arrival schedule (open model), counts into its own `Stats` without
//! locks or atomics, and hands the counts to the collector's copy every `FLUSH_INTERVAL`. The
//! models themselves are in [`closed`] and [`open`].

mod closed;
mod open;
mod picker;
mod sched;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinSet, LocalSet};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use self::closed::run_users;
use self::open::{Schedule, run_arrivals};
use self::picker::MixPicker;
use super::LoadError;
use super::client::{self, Connection, Exchange, Outcome, RequestTemplate};
use super::plan::{LoadPlan, MAX_DURATION, Model, ThinkTime};
use super::stats::{Failure, Stats};

/// How often a worker thread hands its counts over; the progress line is at most this stale.
const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// Granularity of tokio's timer.
const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

/// The running worker threads: where they publish their counts, how they say they are done,
/// and how to stop them all.
pub struct Workers {
    pub shared: Vec<Arc<Mutex<Stats>>>,
    /// Each thread sends how it ended, then exits.
    pub done: Vec<oneshot::Receiver<ThreadResult>>,
    /// Cancelled by the caller's token too; cancel this alone to stop the workers without
    /// marking the run as interrupted (e.g. when one of them failed).
    pub stop: CancellationToken,
}

/// How a worker thread ended: at its bounds or when stopped, or failed because a task on it
/// panicked (the message says which and why).
pub type ThreadResult = Result<ThreadEnd, String>;

/// When a worker thread's last request went out, and when the thread stopped: at its bound
/// (the end of `--duration` at the earliest, unless the request budget ran out first) once its
/// requests in flight ended, or when cancelled.
#[derive(Debug, Clone, Copy)]
pub struct ThreadEnd {
    pub last_start: Instant,
    pub stopped: Instant,
}

/// Starts the worker threads; the run's clock starts at `start`. They stop at the plan's bounds,
/// or as soon as `stop` is cancelled (dropping requests in flight).
pub fn spawn(
    plan: &LoadPlan,
    addr: SocketAddr,
    start: Instant,
    stop: &CancellationToken,
) -> Result<Workers, LoadError> {
    let threads = plan.threads;
    let users_per_thread = match &plan.model {
        Model::Closed { users, .. } => split(u64::from(*users), threads),
        Model::Open { .. } => vec![0; threads],
    };
    // A closed-model thread's share of the budget follows its share of the users, so no user
    // works longer than the others; the open model's follows its share of the schedule.
    let budgets = plan.requests.map(|requests| match &plan.model {
        Model::Closed { users, .. } => split_by(requests, &users_per_thread, u64::from(*users)),
        Model::Open { .. } => split(requests, threads),
    });
    // Cancelled also when starting a later thread fails, so no earlier one runs on unowned.
    let stop = stop.child_token();
    let started = spawn_threads(
        plan,
        addr,
        start,
        &stop,
        &users_per_thread,
        budgets.as_deref(),
    );
    match started {
        Ok((shared, done)) => Ok(Workers { shared, done, stop }),
        Err(error) => {
            stop.cancel();
            Err(error)
        }
    }
}

fn spawn_threads(
    plan: &LoadPlan,
    addr: SocketAddr,
    start: Instant,
    stop: &CancellationToken,
    users_per_thread: &[u64],
    budgets: Option<&[u64]>,
) -> Result<StartedThreads, LoadError> {
    let threads = plan.threads;
    let mut seeds = SmallRng::from_rng(&mut rand::rng());
    let mut all_shared = Vec::with_capacity(threads);
    let mut all_done = Vec::with_capacity(threads);
    for thread in 0..threads {
        let work = match &plan.model {
            Model::Closed { users, think_time } => ThreadWork::Users {
                // User k of the run (k = thread + threads * j) starts k/users of the way into
                // the ramp-up, so arrivals are even across threads.
                starts: (0..users_per_thread[thread])
                    .map(|j| {
                        let k = thread as u64 + threads as u64 * j;
                        plan.ramp_up.mul_f64(k as f64 / f64::from(*users))
                    })
                    .collect(),
                think_time: *think_time,
            },
            Model::Open { rate, connections } => ThreadWork::Arrivals {
                schedule: Schedule {
                    rate: *rate,
                    ramp_up: plan.ramp_up,
                    first: thread as u64,
                    stride: threads as u64,
                },
                connections: split(u64::from(*connections), threads)[thread].max(1) as usize,
            },
        };
        // Built apart for each thread, so threads never share (and contend on) the buffers.
        let templates = plan
            .mix
            .entries()
            .iter()
            .map(|entry| {
                RequestTemplate::new(
                    &plan.target.request_path(&entry.path),
                    plan.target.authority(),
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(LoadError::Request)?;
        // Users without think time keep their thread busy: only then does yielding the CPU to
        // the target pay (a paced run's wake-ups must stay on time).
        let saturating =
            matches!(&plan.model, Model::Closed { think_time, .. } if think_time.is_zero());
        let thread_plan = ThreadPlan {
            addr,
            templates,
            mix: MixPicker::new(&plan.mix),
            timeout: plan.timeout,
            start,
            // A deadline too far away to represent is one the run never reaches.
            deadline: plan
                .duration
                .and_then(|duration| start.checked_add(duration)),
            budget: budgets.map(|budgets| budgets[thread]),
            work,
            seed: seeds.random(),
            retry: plan.retry,
        };
        let shared = Arc::new(Mutex::new(Stats::new(plan.mix.entries().len())));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(LoadError::Runtime)?;
        let (done_sender, done) = oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        let thread_stop = stop.clone();
        std::thread::Builder::new()
            .name(format!("monibox-load-{thread}"))
            .spawn(move || {
                if saturating {
                    sched::defer_to_the_target();
                }
                let finished = run_thread(runtime, thread_plan, thread_shared, thread_stop);
                let _ = done_sender.send(finished);
            })
            .map_err(LoadError::Runtime)?;
        all_shared.push(shared);
        all_done.push(done);
    }
    Ok((all_shared, all_done))
}

type StartedThreads = (Vec<Arc<Mutex<Stats>>>, Vec<oneshot::Receiver<ThreadResult>>);

/// Splits `total` into `parts` shares that differ by at most one, larger shares first.
fn split(total: u64, parts: usize) -> Vec<u64> {
    let parts_u64 = parts as u64;
    (0..parts_u64)
        .map(|part| total / parts_u64 + u64::from(part < total % parts_u64))
        .collect()
}

/// Splits `total` in proportion to `weights` (which sum to `weight_sum`), rounding down and
/// giving what is left, one each, to the first parts that have weight.
fn split_by(total: u64, weights: &[u64], weight_sum: u64) -> Vec<u64> {
    let mut shares: Vec<u64> = weights
        .iter()
        .map(|weight| (u128::from(total) * u128::from(*weight) / u128::from(weight_sum)) as u64)
        .collect();
    let mut left = total - shares.iter().sum::<u64>();
    for (share, weight) in shares.iter_mut().zip(weights) {
        if left == 0 {
            break;
        }
        if *weight > 0 {
            *share += 1;
            left -= 1;
        }
    }
    shares
}

struct ThreadPlan {
    addr: SocketAddr,
    templates: Vec<RequestTemplate>,
    mix: MixPicker,
    timeout: Duration,
    start: Instant,
    deadline: Option<Instant>,
    budget: Option<u64>,
    work: ThreadWork,
    seed: u64,
    retry: bool,
}

enum ThreadWork {
    Users {
        starts: Vec<Duration>,
        think_time: ThinkTime,
    },
    Arrivals {
        schedule: Schedule,
        connections: usize,
    },
}

/// What every task on one worker thread shares. Single-threaded, hence `Rc` and `Cell`.
struct ThreadContext {
    addr: SocketAddr,
    templates: Vec<RequestTemplate>,
    mix: MixPicker,
    timeout: Duration,
    deadline: Option<Instant>,
    budget: Cell<Option<u64>>,
    stats: RefCell<Stats>,
    last_start: Cell<Instant>,
    /// Send a request again on a new connection when a reused one closed without answering.
    retry: bool,
}

impl ThreadContext {
    /// Whether the duration is over or the budget spent, without claiming anything.
    fn exhausted(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|deadline| now >= deadline) || self.budget.get() == Some(0)
    }

    /// Claims the right to start one more request: within the duration and the request budget.
    fn may_start(&self, now: Instant) -> bool {
        if self.deadline.is_some_and(|deadline| now >= deadline) {
            return false;
        }
        match self.budget.get() {
            None => true,
            Some(0) => false,
            Some(left) => {
                self.budget.set(Some(left - 1));
                true
            }
        }
    }

    /// Counts how one request ended; `None` means it timed out. Returns the time it ended.
    fn record(
        &self,
        endpoint: usize,
        exchange: Option<Exchange>,
        began: Instant,
        sent: Instant,
    ) -> Instant {
        let end = Instant::now();
        let mut stats = self.stats.borrow_mut();
        match exchange {
            Some(exchange) => {
                if exchange.retried {
                    stats.record_retry(endpoint);
                }
                match exchange.outcome {
                    Outcome::Response(status) => {
                        stats.record_response(endpoint, status, end - began);
                    }
                    Outcome::Failed(kind) => stats.record_failure(endpoint, kind),
                }
            }
            None => stats.record_failure(endpoint, Failure::Timeout),
        }
        self.last_start.set(self.last_start.get().max(sent));
        end
    }

    /// Sends one request on `slot` and returns how it ended, or `None` when no full answer came
    /// within the timeout from `sent`; then the slot is left empty, so its connection (with the
    /// late answer still to come) is closed. `timer` is the caller's, reused from request to
    /// request: moving a timer's deadline later costs no trip through the timer wheel, unlike
    /// a new timer for each request.
    async fn send(
        &self,
        endpoint: usize,
        slot: &mut Option<Connection>,
        mut timer: Pin<&mut Sleep>,
        sent: Instant,
    ) -> Option<Exchange> {
        // A deadline too far away to represent is never reached.
        let deadline = sent
            .checked_add(self.timeout)
            .unwrap_or(sent + MAX_DURATION);
        timer.as_mut().reset(deadline);
        let exchange = client::exchange(slot, self.addr, &self.templates[endpoint], self.retry);
        let outcome = tokio::select! {
            biased;
            exchange = exchange => Some(exchange),
            () = timer => None,
        };
        if outcome.is_none() {
            *slot = None;
        }
        outcome
    }
}

/// Runs one worker thread to the end.
fn run_thread(
    runtime: tokio::runtime::Runtime,
    plan: ThreadPlan,
    shared: Arc<Mutex<Stats>>,
    stop: CancellationToken,
) -> ThreadResult {
    let endpoints = plan.templates.len();
    let context = Rc::new(ThreadContext {
        addr: plan.addr,
        templates: plan.templates,
        mix: plan.mix,
        timeout: plan.timeout,
        deadline: plan.deadline,
        budget: Cell::new(plan.budget),
        stats: RefCell::new(Stats::new(endpoints)),
        last_start: Cell::new(plan.start),
        retry: plan.retry,
    });
    let local = LocalSet::new();
    let worked = local.block_on(&runtime, async {
        let flusher = {
            let context = Rc::clone(&context);
            let shared = Arc::clone(&shared);
            tokio::task::spawn_local(async move {
                let mut ticks = tokio::time::interval(FLUSH_INTERVAL);
                loop {
                    ticks.tick().await;
                    flush(&context.stats, &shared);
                }
            })
        };
        let work = async {
            match plan.work {
                ThreadWork::Users { starts, think_time } => {
                    run_users(&context, plan.start, starts, think_time, plan.seed).await
                }
                ThreadWork::Arrivals {
                    schedule,
                    connections,
                } => run_arrivals(&context, plan.start, schedule, connections, plan.seed).await,
            }
        };
        let worked = tokio::select! {
            () = stop.cancelled() => Ok(()),
            worked = work => worked,
        };
        flusher.abort();
        worked
    });
    let stopped = Instant::now();
    // Interrupted requests and idle connections go away with the tasks that hold them.
    {
        let _runtime_context = runtime.enter();
        drop(local);
    }
    flush(&context.stats, &shared);
    worked.map(|()| ThreadEnd {
        last_start: context.last_start.get(),
        stopped,
    })
}

/// Waits for every task in `tasks`. A task that panicked fails the worker thread instead of
/// silently taking its user (or request) out of the run.
async fn join_all(tasks: &mut JoinSet<()>) -> Result<(), String> {
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(task_failure)?;
    }
    Ok(())
}

fn task_failure(error: JoinError) -> String {
    format!("a load task failed: {error}")
}

fn flush(local: &RefCell<Stats>, shared: &Mutex<Stats>) {
    let mut local = local.borrow_mut();
    shared
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .merge_from(&local);
    local.reset();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        assert_eq!(split(10, 3), vec![4, 3, 3]);
        assert_eq!(split(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(split(7, 1), vec![7]);
    }

    #[test]
    fn weighted_shares_follow_the_weights_and_add_up() {
        assert_eq!(split_by(100, &[2, 1], 3), vec![67, 33]);
        assert_eq!(split_by(10, &[0, 3, 1], 4), vec![0, 8, 2]);
        assert_eq!(split_by(1, &[1, 1], 2), vec![1, 0]);
    }

    #[test]
    fn a_panicking_task_fails_its_worker_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let joined = LocalSet::new().block_on(&runtime, async {
            let mut tasks = JoinSet::new();
            tasks.spawn_local(async {});
            tasks.spawn_local(async { panic!("a user fell over") });
            join_all(&mut tasks).await
        });
        let reason = joined.expect_err("the panic is not swallowed");
        assert!(reason.contains("a user fell over"), "{reason}");
    }
}
