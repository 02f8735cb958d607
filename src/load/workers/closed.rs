//! The closed model: every user loops request, answer, think time on its own keep-alive
//! connection, starting at its place in the ramp-up.

use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use super::{ThreadContext, join_all};
use crate::load::plan::ThinkTime;

/// Closed model: every user loops request → think time on its own keep-alive connection.
pub(super) async fn run_users(
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
    let mut timer = pin!(sleep_until(start_at));
    let mut began = Instant::now();
    loop {
        if !context.may_start(began) {
            break;
        }
        let endpoint = context.mix.pick(&mut rng);
        let exchange = context
            .send(endpoint, &mut connection, timer.as_mut(), began)
            .await;
        let now = context.record(endpoint, exchange, began, began);
        // When the run is over, the next round of the loop sees it from this reading.
        began = now;
        if think_time.is_zero() {
            // Let the thread's other users read their answers first, so the next requests go
            // out together after the runtime's next look at the sockets (as wrk writes in the
            // event-loop pass after the reads): the server then finds several requests per
            // wake-up and spends less per request. The next request's time starts after it.
            tokio::task::yield_now().await;
            began = Instant::now();
        }
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
            began = Instant::now();
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
