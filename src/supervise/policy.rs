//! The restart policy as a pure state machine, one [`Tracker`] per component, driven by what
//! the supervisor observes and by explicit [`Instant`]s (so it is tested without sleeping):
//!
//! - the first restart of a component that was stable is immediate;
//! - each further restart before the component stayed up for the stable period waits twice as
//!   long as the previous wait, up to a cap;
//! - after [`CRASH_LOOP_AFTER`] restarts without reaching the stable period the component is
//!   crash-looping (restarts go on with the growing, capped wait); staying up for the stable
//!   period clears that and starts the count afresh.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::Timing;

/// Restarts without reaching the stable period after which a component is crash-looping.
pub const CRASH_LOOP_AFTER: u32 = 4;

/// Why a component was (or is to be) restarted; the `reason` label of
/// `monibox_container_restarts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The container's process exited (or was killed).
    Exited,
    /// The kernel killed it for exceeding its memory limit.
    Oom,
    /// Docker's health check declared it unhealthy.
    Unhealthy,
    /// The container is gone.
    Removed,
}

impl Reason {
    pub const ALL: [Reason; 4] = [
        Reason::Exited,
        Reason::Oom,
        Reason::Unhealthy,
        Reason::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Exited => "exited",
            Reason::Oom => "oom",
            Reason::Unhealthy => "unhealthy",
            Reason::Removed => "removed",
        }
    }
}

/// The timings of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The wait before the second restart in a row; it doubles from there.
    pub first_wait: Duration,
    pub max_wait: Duration,
    /// How long a component must stay up to count as stable again.
    pub stable_after: Duration,
}

impl Policy {
    pub fn for_timing(timing: Timing) -> Self {
        match timing {
            Timing::Fast => Self {
                first_wait: Duration::from_millis(500),
                max_wait: Duration::from_secs(15),
                stable_after: Duration::from_secs(10),
            },
            Timing::Standard => Self {
                first_wait: Duration::from_secs(1),
                max_wait: Duration::from_secs(60),
                stable_after: Duration::from_secs(60),
            },
        }
    }

    /// The wait before the next restart when `restarts` restarts happened since the component
    /// was last stable: 0, then `first_wait`, doubling up to `max_wait`.
    pub fn wait_before(&self, restarts: u32) -> Duration {
        let Some(doublings) = restarts.checked_sub(1) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(doublings.min(31)).unwrap_or(u32::MAX);
        self.first_wait
            .checked_mul(factor)
            .map_or(self.max_wait, |wait| wait.min(self.max_wait))
    }
}

/// A restart that is due at some point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub reason: Reason,
    pub due: Instant,
}

/// One component's restart history and what is to happen next.
#[derive(Debug, Clone)]
pub struct Tracker {
    policy: Policy,
    /// Since when the component has been up, as far as the supervisor knows; None while down.
    up_since: Option<Instant>,
    /// Restarts (and failed restart attempts) since the component was last stable.
    attempts_since_stable: u32,
    pending: Option<Pending>,
    crash_looping: bool,
    restarts_total: u64,
    /// Restart attempts that failed (the container could not be created or started).
    failed_attempts_total: u64,
    last_reason: Option<Reason>,
}

impl Tracker {
    /// A component found up at `now` (adopted, or just created by `up`).
    pub fn new(policy: Policy, now: Instant) -> Self {
        Self {
            policy,
            up_since: Some(now),
            attempts_since_stable: 0,
            pending: None,
            crash_looping: false,
            restarts_total: 0,
            failed_attempts_total: 0,
            last_reason: None,
        }
    }

    /// The component runs (and is not unhealthy) at `now`. Once it has done so for the stable
    /// period, the restart count starts afresh and crash-looping clears.
    pub fn observe_up(&mut self, now: Instant) {
        // A restart scheduled for a failure that healed itself is no longer needed.
        self.pending = None;
        let since = *self.up_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= self.policy.stable_after {
            self.attempts_since_stable = 0;
            self.crash_looping = false;
        }
    }

    /// The component needs a restart for `reason`, observed at `now`. Schedules it (immediately
    /// or after the backoff wait) unless one is already scheduled; returns when it is due.
    pub fn observe_failure(&mut self, reason: Reason, now: Instant) -> Instant {
        if let Some(pending) = &mut self.pending {
            // Removal is the stronger finding (an exited container that is then removed).
            if reason == Reason::Removed {
                pending.reason = reason;
            }
            return pending.due;
        }
        if let Some(since) = self.up_since.take() {
            if now.saturating_duration_since(since) >= self.policy.stable_after {
                self.attempts_since_stable = 0;
                self.crash_looping = false;
            }
        }
        let due = now + self.policy.wait_before(self.attempts_since_stable);
        self.pending = Some(Pending { reason, due });
        due
    }

    /// The restart to perform at `now`, if one is due.
    pub fn due(&self, now: Instant) -> Option<Reason> {
        self.pending
            .filter(|pending| pending.due <= now)
            .map(|pending| pending.reason)
    }

    pub fn pending(&self) -> Option<Pending> {
        self.pending
    }

    /// The scheduled restart was done at `now`: it counts, and the component is up from now.
    pub fn restarted(&mut self, now: Instant) -> Reason {
        let reason = self.pending.take().map_or(Reason::Exited, |p| p.reason);
        self.restarts_total += 1;
        self.last_reason = Some(reason);
        self.up_since = Some(now);
        self.attempt_made();
        reason
    }

    /// The scheduled restart was attempted at `now` and failed: it is tried again after the
    /// next, longer wait.
    pub fn restart_failed(&mut self, now: Instant) {
        let reason = self.pending.map_or(Reason::Exited, |p| p.reason);
        self.failed_attempts_total += 1;
        self.attempt_made();
        self.pending = Some(Pending {
            reason,
            due: now + self.policy.wait_before(self.attempts_since_stable),
        });
    }

    fn attempt_made(&mut self) {
        self.attempts_since_stable = self.attempts_since_stable.saturating_add(1);
        if self.attempts_since_stable >= CRASH_LOOP_AFTER {
            self.crash_looping = true;
        }
    }

    /// Uses `policy` from now on (the timing in stack.json changed); the history is kept.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Forgets a scheduled restart (the component was held while `up` changed it).
    pub fn cancel_pending(&mut self) {
        self.pending = None;
    }

    /// The component was replaced from outside (by `up`): its history of failures no longer
    /// applies, its count of restarts does.
    pub fn reset_failures(&mut self, now: Instant) {
        self.pending = None;
        self.attempts_since_stable = 0;
        self.crash_looping = false;
        self.up_since = Some(now);
    }

    pub fn crash_looping(&self) -> bool {
        self.crash_looping
    }

    pub fn restarts_total(&self) -> u64 {
        self.restarts_total
    }

    pub fn failed_attempts_total(&self) -> u64 {
        self.failed_attempts_total
    }

    pub fn last_reason(&self) -> Option<Reason> {
        self.last_reason
    }

    pub fn attempts_since_stable(&self) -> u32 {
        self.attempts_since_stable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Policy = Policy {
        first_wait: Duration::from_millis(500),
        max_wait: Duration::from_secs(15),
        stable_after: Duration::from_secs(10),
    };

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn waits_start_at_zero_then_double_up_to_the_cap() {
        let waits: Vec<Duration> = (0..9).map(|n| FAST.wait_before(n)).collect();
        assert_eq!(
            waits,
            [0, 500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000].map(ms)
        );
        assert_eq!(FAST.wait_before(u32::MAX), FAST.max_wait);
        let standard = Policy::for_timing(Timing::Standard);
        assert_eq!(standard.wait_before(2), Duration::from_secs(2));
        assert_eq!(standard.wait_before(30), Duration::from_secs(60));
    }

    /// A component that dies `lifetime` after each restart, restarted as soon as it is due:
    /// the waits, and when the last restart happened.
    fn crash_repeatedly(
        tracker: &mut Tracker,
        start: Instant,
        lifetime: Duration,
        times: u32,
    ) -> (Vec<Duration>, Instant) {
        let mut now = start;
        let mut waits = Vec::new();
        for _ in 0..times {
            now += lifetime;
            let due = tracker.observe_failure(Reason::Exited, now);
            waits.push(due - now);
            assert_eq!(tracker.due(now), (due == now).then_some(Reason::Exited));
            now = due;
            assert_eq!(tracker.due(now), Some(Reason::Exited));
            tracker.restarted(now);
        }
        (waits, now)
    }

    #[test]
    fn a_component_that_keeps_dying_backs_off_and_is_crash_looping_after_four_restarts() {
        let start = Instant::now();
        let mut tracker = Tracker::new(FAST, start);
        // Up long enough before the first failure: that restart is immediate.
        let first = start + Duration::from_secs(60);
        let (waits, last) = crash_repeatedly(&mut tracker, first, ms(100), 3);
        assert_eq!(waits, [0, 500, 1000].map(ms));
        assert!(
            !tracker.crash_looping(),
            "three restarts are not a loop yet"
        );
        let (more, _) = crash_repeatedly(&mut tracker, last + Duration::from_secs(1), ms(100), 3);
        assert_eq!(more, [2000, 4000, 8000].map(ms));
        assert!(tracker.crash_looping());
        assert_eq!(tracker.restarts_total(), 6);
        assert_eq!(tracker.attempts_since_stable(), 6);
        assert_eq!(tracker.last_reason(), Some(Reason::Exited));
    }

    #[test]
    fn staying_up_for_the_stable_period_clears_crash_looping_and_the_backoff() {
        let start = Instant::now();
        let mut tracker = Tracker::new(FAST, start);
        let (_, restarted_at) =
            crash_repeatedly(&mut tracker, start + Duration::from_secs(30), ms(50), 5);
        assert!(tracker.crash_looping());

        tracker.observe_up(restarted_at + Duration::from_secs(9));
        assert!(tracker.crash_looping(), "9 s is not yet stable");
        tracker.observe_up(restarted_at + Duration::from_secs(10));
        assert!(!tracker.crash_looping(), "10 s up is stable");
        let now = restarted_at + Duration::from_secs(11);
        assert_eq!(
            tracker.observe_failure(Reason::Oom, now),
            now,
            "the next failure is restarted at once"
        );
        assert_eq!(tracker.restarts_total(), 5, "the total is kept");
    }

    #[test]
    fn a_failure_after_a_stable_period_restarts_at_once_even_unobserved() {
        let start = Instant::now();
        let mut tracker = Tracker::new(FAST, start);
        crash_repeatedly(&mut tracker, start, ms(100), 2);
        // No periodic observation in between, but the container ran for 20 s.
        let now = start + Duration::from_secs(20);
        assert_eq!(tracker.observe_failure(Reason::Exited, now), now);
    }

    #[test]
    fn one_failure_seen_twice_is_scheduled_once_and_removal_wins() {
        let start = Instant::now();
        let mut tracker = Tracker::new(FAST, start);
        crash_repeatedly(&mut tracker, start, ms(100), 1);
        let now = start + Duration::from_secs(1);
        let due = tracker.observe_failure(Reason::Exited, now);
        assert_eq!(due, now + ms(500));
        assert_eq!(tracker.observe_failure(Reason::Removed, now + ms(100)), due);
        assert_eq!(tracker.due(due), Some(Reason::Removed));
        assert_eq!(tracker.restarted(due), Reason::Removed);
        assert_eq!(tracker.restarts_total(), 2);
    }

    #[test]
    fn a_failed_attempt_is_retried_after_a_longer_wait_and_not_counted_as_a_restart() {
        let start = Instant::now();
        let mut tracker = Tracker::new(FAST, start);
        let now = start + Duration::from_secs(30);
        assert_eq!(tracker.observe_failure(Reason::Removed, now), now);
        tracker.restart_failed(now);
        let retry = tracker.pending().expect("retried");
        assert_eq!(retry.due, now + ms(500));
        assert_eq!(retry.reason, Reason::Removed);
        tracker.restart_failed(retry.due);
        assert_eq!(tracker.pending().map(|p| p.due), Some(retry.due + ms(1000)));
        assert_eq!(tracker.restarts_total(), 0);
    }

    #[test]
    fn recovering_by_itself_cancels_the_scheduled_restart() {
        let start = Instant::now();
        let mut tracker = Tracker::new(FAST, start);
        crash_repeatedly(&mut tracker, start, ms(100), 2);
        let now = start + Duration::from_secs(2);
        tracker.observe_failure(Reason::Unhealthy, now);
        tracker.observe_up(now + ms(100));
        assert_eq!(tracker.pending(), None);
        assert_eq!(tracker.due(now + Duration::from_secs(60)), None);
    }
}
