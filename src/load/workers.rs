//! The load itself. Each worker thread runs a single-threaded runtime with its share of the users
//! (closed model) or of the arrival schedule (open model), counts into its own `Stats` without
//! locks or atomics, and hands the counts to the collector's copy every `FLUSH_INTERVAL`.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::{JoinError, JoinSet, LocalSet};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use super::LoadError;
use super::client::{self, Connection, Outcome, RequestTemplate};
use super::plan::{LoadPlan, Mix, Model, ThinkTime};
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

    fn record(
        &self,
        endpoint: usize,
        outcome: Result<Outcome, tokio::time::error::Elapsed>,
        began: Instant,
        sent: Instant,
    ) {
        let end = Instant::now();
        let mut stats = self.stats.borrow_mut();
        match outcome {
            Ok(Outcome::Response(status)) => stats.record_response(endpoint, status, end - began),
            Ok(Outcome::Failed(kind)) => stats.record_failure(endpoint, kind),
            Err(_) => stats.record_failure(endpoint, Failure::Timeout),
        }
        self.last_start.set(self.last_start.get().max(sent));
    }

    /// Sends one request on `slot`, bounded by the timeout (which also drops the connection:
    /// hyper closes a connection whose request was abandoned).
    async fn send(
        &self,
        endpoint: usize,
        slot: &mut Option<Connection>,
    ) -> Result<Outcome, tokio::time::error::Elapsed> {
        let outcome = timeout(
            self.timeout,
            client::exchange(slot, self.addr, &self.templates[endpoint]),
        )
        .await;
        if outcome.is_err() {
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

/// Closed model: every user loops request → think time on its own keep-alive connection.
async fn run_users(
    context: &Rc<ThreadContext>,
    start: Instant,
    starts: Vec<Duration>,
    think_time: ThinkTime,
    seed: u64,
) -> Result<(), String> {
    let mut seeds = SmallRng::seed_from_u64(seed);
    let mut users = JoinSet::new();
    for offset in starts {
        let context = Rc::clone(context);
        let rng = SmallRng::seed_from_u64(seeds.random());
        // A start too far away to represent comes after any deadline: that user never starts.
        if let Some(start_at) = start.checked_add(offset) {
            users.spawn_local(run_user(context, start_at, think_time, rng));
        }
    }
    join_all(&mut users).await
}

async fn run_user(
    context: Rc<ThreadContext>,
    start_at: Instant,
    think_time: ThinkTime,
    mut rng: SmallRng,
) {
    match context.deadline {
        Some(deadline) if deadline <= start_at => return,
        _ => sleep_until(start_at).await,
    }
    let mut connection = None;
    loop {
        let began = Instant::now();
        if !context.may_start(began) {
            break;
        }
        let endpoint = context.mix.pick(&mut rng);
        let outcome = context.send(endpoint, &mut connection).await;
        context.record(endpoint, outcome, began, began);
        let now = Instant::now();
        // No think time after the last request: the run is over, not the user's pause.
        if !think_time.is_zero() && !context.exhausted(now) {
            // A pause that ends too far away to represent outlasts any deadline.
            match (
                now.checked_add(think(think_time, &mut rng)),
                context.deadline,
            ) {
                (Some(wake), Some(deadline)) => sleep_until(wake.min(deadline)).await,
                (Some(wake), None) => sleep_until(wake).await,
                (None, Some(deadline)) => sleep_until(deadline).await,
                (None, None) => break,
            }
        }
    }
}

fn think(think_time: ThinkTime, rng: &mut SmallRng) -> Duration {
    if think_time.min == think_time.max {
        think_time.min
    } else {
        rng.random_range(think_time.min..=think_time.max)
    }
}

/// When the open model's requests are due: a constant rate, or a linear climb to it over the
/// ramp-up. A worker thread takes every `stride`-th request starting with number `first`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    rate: f64,
    ramp_up: Duration,
    first: u64,
    stride: u64,
}

impl Schedule {
    /// Time from the start at which request number `index` of the whole run is due;
    /// `Duration::MAX` when that is too far away to represent (a tiny rate, a huge index).
    fn due(&self, index: u64) -> Duration {
        let index = index as f64;
        let ramp = self.ramp_up.as_secs_f64();
        // While the rate climbs linearly to `rate` over `ramp`, the count due by time t is
        // rate·t²/(2·ramp); afterwards it grows by `rate` per second.
        let due_during_ramp = self.rate * ramp / 2.0;
        let seconds = if index < due_during_ramp {
            (2.0 * index * ramp / self.rate).sqrt()
        } else {
            ramp + (index - due_during_ramp) / self.rate
        };
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    }
}

/// Open model: start requests when they are due, whatever the earlier ones are doing. Latency
/// counts from when a request was due, so time spent waiting for a free connection (the server
/// being slow) is measured rather than hidden: coordinated omission is corrected as in wrk2.
async fn run_arrivals(
    context: &Rc<ThreadContext>,
    start: Instant,
    schedule: Schedule,
    connections: usize,
    seed: u64,
) -> Result<(), String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let slots = Arc::new(Semaphore::new(connections));
    // Grows to the connections actually used, which a high --connections rarely reaches.
    let idle: Rc<RefCell<Vec<Connection>>> = Rc::new(RefCell::new(Vec::new()));
    let mut in_flight = JoinSet::new();
    let mut index = schedule.first;
    loop {
        // A due time too far away to represent comes after any deadline.
        let due = start.checked_add(schedule.due(index));
        index = index.saturating_add(schedule.stride);
        let due = match (due, context.deadline) {
            (Some(due), Some(deadline)) if due < deadline => due,
            (Some(due), None) => due,
            (_, Some(deadline)) => {
                // Nothing more is due within the duration, but the duration is not over yet.
                sleep_until(deadline).await;
                break;
            }
            (None, None) => break,
        };
        if !context.may_start(due) {
            break;
        }
        // The timer wakes on whole milliseconds, rounding up; aiming a tick early sends within
        // about a millisecond of the due time on either side instead of always up to 2 ms late.
        sleep_until(due.checked_sub(TIMER_RESOLUTION).unwrap_or(due)).await;
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    break;
                };
                context
                    .stats
                    .borrow_mut()
                    .record_late_start(Instant::now() - due);
                permit
            }
        };
        let endpoint = context.mix.pick(&mut rng);
        let context = Rc::clone(context);
        let idle = Rc::clone(&idle);
        // Finished requests are collected as they go, so the set holds only those in flight.
        while let Some(joined) = in_flight.try_join_next() {
            joined.map_err(task_failure)?;
        }
        in_flight.spawn_local(async move {
            // Latency counts from the due time when the request went out late (the wait is part
            // of what a user would have seen), from the actual send when it went out early.
            let sent = Instant::now();
            let mut connection = idle.borrow_mut().pop();
            let outcome = context.send(endpoint, &mut connection).await;
            context.record(endpoint, outcome, due.min(sent), sent);
            if let Some(connection) = connection {
                idle.borrow_mut().push(connection);
            }
            drop(permit);
        });
    }
    // Requests in flight finish (each within the timeout) before the thread reports.
    join_all(&mut in_flight).await
}

/// Picks mix endpoints at random in proportion to their weights.
#[derive(Debug, Clone)]
pub struct MixPicker {
    /// Running sums of the weights; endpoint i owns [cumulative[i-1], cumulative[i]).
    cumulative: Vec<u64>,
}

impl MixPicker {
    pub fn new(mix: &Mix) -> MixPicker {
        let cumulative = mix
            .entries()
            .iter()
            .scan(0u64, |sum, entry| {
                *sum += u64::from(entry.weight);
                Some(*sum)
            })
            .collect();
        MixPicker { cumulative }
    }

    pub fn pick(&self, rng: &mut SmallRng) -> usize {
        match self.cumulative.as_slice() {
            [] | [_] => 0,
            [.., total] => {
                let ticket = rng.random_range(0..*total);
                self.cumulative.partition_point(|&sum| sum <= ticket)
            }
        }
    }
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
    fn picks_follow_the_weights() {
        let mix: Mix = "/=50,/slow=20,/error=20,/cpu-intensive=10"
            .parse()
            .expect("mix");
        let picker = MixPicker::new(&mix);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = [0u32; 4];
        let draws = 100_000;
        for _ in 0..draws {
            counts[picker.pick(&mut rng)] += 1;
        }
        for (count, weight) in counts.iter().zip([50.0, 20.0, 20.0, 10.0]) {
            let share = f64::from(*count) / f64::from(draws) * 100.0;
            assert!(
                (share - weight).abs() < 1.0,
                "share {share:.2}% for weight {weight}"
            );
        }
        let single = MixPicker::new(&"/only".parse().expect("mix"));
        assert_eq!(single.pick(&mut rng), 0);
    }

    #[test]
    fn constant_rate_schedule_is_evenly_spaced() {
        let schedule = Schedule {
            rate: 1000.0,
            ramp_up: Duration::ZERO,
            first: 0,
            stride: 1,
        };
        assert_eq!(schedule.due(0), Duration::ZERO);
        assert_eq!(schedule.due(1), Duration::from_millis(1));
        assert_eq!(schedule.due(2500), Duration::from_millis(2500));
    }

    #[test]
    fn due_times_beyond_any_clock_saturate_instead_of_panicking() {
        let schedule = |rate| Schedule {
            rate,
            ramp_up: Duration::ZERO,
            first: 0,
            stride: 1,
        };
        assert_eq!(schedule(1e-30).due(1), Duration::MAX);
        assert_eq!(schedule(0.001).due(u64::MAX), Duration::MAX);
        assert_eq!(schedule(0.001).due(1), Duration::from_secs(1000));
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

    #[test]
    fn ramped_schedule_climbs_then_holds_the_rate() {
        let schedule = Schedule {
            rate: 100.0,
            ramp_up: Duration::from_secs(10),
            first: 0,
            stride: 1,
        };
        // Half the full rate on average over the ramp: 500 requests in the first 10 s.
        assert_eq!(schedule.due(500), Duration::from_secs(10));
        // A quarter of the ramp's requests are due by its midpoint (the count grows with t²).
        assert!((schedule.due(125).as_secs_f64() - 5.0).abs() < 1e-9);
        // Then 100 per second.
        assert!((schedule.due(600).as_secs_f64() - 11.0).abs() < 1e-9);
        let gaps: Vec<f64> = (0..500)
            .map(|i| (schedule.due(i + 1) - schedule.due(i)).as_secs_f64())
            .collect();
        assert!(
            gaps.windows(2).all(|pair| pair[1] <= pair[0] + 1e-12),
            "gaps shrink while ramping"
        );
    }
}
