//! How worker threads share the CPU with the service they load. When users have no think time
//! (the generator runs flat out, as wrk does), the threads run under `SCHED_BATCH` on Linux:
//! the kernel treats them as throughput work and does not let them preempt a running thread when
//! an answer wakes them, so on a machine the service shares (a load test on one host) the
//! service is not interrupted at every answer, and each wake-up of the generator handles several
//! answers. Paced runs (think time, `--rate`) keep the default policy: under `SCHED_BATCH` their
//! timer wake-ups came late (measured: p50 1.5 ms instead of 0.09 ms at `--rate 1000`).

/// The `thread-priority` scale's value for nice 0 under a normal policy (it maps 0..=99 onto
/// nice 19..=-20): the policy changes, the nice value does not.
#[cfg(target_os = "linux")]
const NICE_ZERO: u8 = 48;

/// Moves the calling thread to `SCHED_BATCH`, keeping its nice value; a thread that was given
/// another nice value (`nice -n 10 monibox load ...`) is left as it is. Failure is harmless (the
/// thread keeps the default policy), so it is only logged.
pub fn defer_to_the_target() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        if current_nice() != Some(0) {
            return;
        }
        let Ok(priority) = ThreadPriorityValue::try_from(NICE_ZERO) else {
            return;
        };
        let batch = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
        let set = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Crossplatform(priority),
            batch,
        );
        if let Err(error) = set {
            tracing::debug!(?error, "worker thread keeps the default scheduling policy");
        }
    }
}

/// The calling thread's nice value, from `/proc/thread-self/stat` (field 19).
#[cfg(target_os = "linux")]
fn current_nice() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(16)?.parse().ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_worker_thread_moves_to_batch_and_keeps_its_nice_value() {
        let policy = std::thread::spawn(|| {
            let before = current_nice();
            defer_to_the_target();
            let stat = std::fs::read_to_string("/proc/thread-self/sched").unwrap_or_default();
            (before, current_nice(), stat)
        })
        .join()
        .expect("thread");
        let (before, after, sched) = policy;
        assert_eq!(before, after, "the nice value is unchanged");
        if before == Some(0) {
            // /proc/<tid>/sched shows the policy as a number: 3 is SCHED_BATCH.
            assert!(
                sched
                    .lines()
                    .any(|line| line.starts_with("policy") && line.trim_end().ends_with('3')),
                "{sched}"
            );
        }
    }
}
