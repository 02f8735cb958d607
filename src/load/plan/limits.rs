//! How much of the machine a run may take: the open-file limit every user or connection's socket
//! counts against, checked with advice on how to raise it.

use super::PlanError;

/// Open files a run needs besides its users' or connections' sockets: standard streams, the
/// main runtime, the Prometheus client, and each worker thread's runtime (epoll, waker).
const FILES_RESERVED: u64 = 32;
const FILES_PER_THREAD: u64 = 4;

/// The process's open-file limit (`RLIMIT_NOFILE`), read by the caller: every user or
/// connection holds one socket. `u64::MAX` stands for unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The limit in force (`ulimit -n`).
    pub soft: u64,
    /// How far the soft limit may be raised without privileges (`ulimit -Hn`).
    pub hard: u64,
}

impl OpenFileLimit {
    /// Sockets left for users or connections once `threads` worker threads and the rest of the
    /// process have theirs.
    pub(super) fn sockets_left(&self, threads: usize) -> u64 {
        self.soft
            .saturating_sub(FILES_RESERVED)
            .saturating_sub(FILES_PER_THREAD.saturating_mul(threads as u64))
    }

    /// Refuses `count` users or connections (named by `what`, e.g. "--users 5000") that do not
    /// fit under the limit, saying how to raise it.
    pub(super) fn check(&self, what: &str, count: u32, threads: usize) -> Result<(), PlanError> {
        if u64::from(count) <= self.sockets_left(threads) {
            return Ok(());
        }
        let needed = u64::from(count) + FILES_RESERVED + FILES_PER_THREAD * threads as u64;
        let fix = if needed <= self.hard {
            format!("raise it in this shell with `ulimit -n {needed}` and run again")
        } else {
            format!(
                "the hard limit ({}) is below that too: an administrator can raise it \
                 (nofile in /etc/security/limits.conf, or LimitNOFILE= for a service)",
                self.hard
            )
        };
        Err(PlanError::Conflict(format!(
            "{what} needs about {needed} open files, but this process may open {}: {fix}; \
             or ask for fewer",
            self.soft
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::plan::{LoadPlan, LoadSettings, MAX_PARALLEL, MAX_RATE, Model, Target};

    fn target() -> Target {
        "http://127.0.0.1:5000".parse().expect("valid target")
    }

    fn conflict(settings: LoadSettings, cpus: usize, open_files: Option<OpenFileLimit>) -> String {
        match LoadPlan::new(target(), settings, cpus, open_files) {
            Err(PlanError::Conflict(message)) => message,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn users_connections_and_threads_are_bounded() {
        for (settings, flag) in [
            (
                LoadSettings {
                    users: Some(4_000_000_000),
                    ..LoadSettings::default()
                },
                "--users",
            ),
            (
                LoadSettings {
                    users: Some(MAX_PARALLEL + 1),
                    ..LoadSettings::default()
                },
                "--users",
            ),
            (
                LoadSettings {
                    rate: Some(10.0),
                    connections: Some(4_000_000_000),
                    ..LoadSettings::default()
                },
                "--connections",
            ),
        ] {
            let message = conflict(settings, 2, None);
            assert!(
                message.starts_with(flag) && message.contains("100000"),
                "{message}"
            );
        }
        let most = LoadSettings {
            users: Some(MAX_PARALLEL),
            ..LoadSettings::default()
        };
        LoadPlan::new(target(), most, 2, None).expect("the most users are allowed");
        // The default for a high rate stays within the bound too.
        let fastest = LoadSettings {
            rate: Some(MAX_RATE),
            ..LoadSettings::default()
        };
        assert_eq!(
            LoadPlan::new(target(), fastest, 2, None)
                .expect("plan")
                .model,
            Model::Open {
                rate: MAX_RATE,
                connections: MAX_PARALLEL
            }
        );

        let threads = |threads| LoadSettings {
            users: Some(1000),
            threads: Some(threads),
            ..LoadSettings::default()
        };
        let message = conflict(threads(9), 2, None);
        assert!(message.contains("at most 8"), "{message}");
        assert_eq!(
            LoadPlan::new(target(), threads(8), 2, None)
                .expect("4 per CPU")
                .threads,
            8
        );
        let message = conflict(threads(257), 128, None);
        assert!(message.contains("at most 256"), "{message}");
    }

    #[test]
    fn users_and_connections_fit_the_open_file_limit() {
        let limit = |soft, hard| Some(OpenFileLimit { soft, hard });
        let users = |users| LoadSettings {
            users: Some(users),
            threads: Some(2),
            ..LoadSettings::default()
        };
        // 1024 files: 32 reserved, 4 for each of the 2 threads, 984 left for sockets.
        LoadPlan::new(target(), users(984), 2, limit(1024, 4096)).expect("fits exactly");
        let message = conflict(users(985), 2, limit(1024, 4096));
        assert!(
            message.starts_with("--users 985") && message.contains("`ulimit -n 1025`"),
            "says how to raise the limit: {message}"
        );
        let message = conflict(users(5000), 2, limit(1024, 4096));
        assert!(
            message.contains("hard limit (4096)"),
            "says when ulimit cannot help: {message}"
        );

        let open = |connections| LoadSettings {
            rate: Some(5000.0),
            connections,
            threads: Some(2),
            ..LoadSettings::default()
        };
        assert_eq!(
            LoadPlan::new(target(), open(None), 2, limit(1024, 4096))
                .expect("the default fits the limit")
                .model,
            Model::Open {
                rate: 5000.0,
                connections: 984
            }
        );
        let message = conflict(open(Some(2000)), 2, limit(1024, 4096));
        assert!(message.starts_with("--connections 2000"), "{message}");
        let message = conflict(open(None), 2, limit(20, 20));
        assert!(message.contains("open files"), "{message}");
    }
}
