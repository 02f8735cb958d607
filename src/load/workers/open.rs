//! The open model: requests are due on a schedule (a constant rate, or a linear climb to it)
//! whatever the earlier ones are doing, on a bounded set of connections; latency counts from the
//! due time, so coordinated omission is corrected as in wrk2.

use std::cell::RefCell;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use super::{TIMER_RESOLUTION, ThreadContext, join_all, task_failure};
use crate::load::client::Connection;

/// When the open model's requests are due: a constant rate, or a linear climb to it over the
/// ramp-up. A worker thread takes every `stride`-th request starting with number `first`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Schedule {
    pub rate: f64,
    pub ramp_up: Duration,
    pub first: u64,
    pub stride: u64,
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
pub(super) async fn run_arrivals(
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
            let timer = pin!(sleep_until(sent));
            let exchange = context.send(endpoint, &mut connection, timer, sent).await;
            context.record(endpoint, exchange, due.min(sent), sent);
            if let Some(connection) = connection {
                idle.borrow_mut().push(connection);
            }
            drop(permit);
        });
    }
    // Requests in flight finish (each within the timeout) before the thread reports.
    join_all(&mut in_flight).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
