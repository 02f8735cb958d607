//! What a load run should do, parsed and validated before anything is sent: the target, the
//! arrival model (closed users or an open rate), the bounds, the endpoint mix, think time,
//! scenario presets and thresholds. Everything here is pure data; nothing touches the network.
//! Each kind of value has its module ([`duration`], [`mix`], [`target`], [`scenario`]); this one
//! checks that they make a plan together.

mod duration;
mod limits;
mod mix;
mod scenario;
mod target;

use std::time::Duration;

use super::threshold::Threshold;

pub use duration::{MAX_DURATION, ThinkTime, format_duration, parse_duration};
pub use limits::OpenFileLimit;
pub use mix::{MAX_MIX_ENTRIES, Mix, MixEntry};
pub use scenario::{LoadSettings, Scenario};
pub use target::Target;

/// Why a flag value or a combination of flags cannot make a plan.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("invalid duration {input:?}: {reason} (use e.g. 250ms, 2s, 1m30s)")]
    Duration { input: String, reason: &'static str },
    #[error(
        "invalid think time {input:?}: {reason} (use a duration like 500ms or a range like 200ms..1s)"
    )]
    ThinkTime { input: String, reason: String },
    #[error(
        "invalid mix entry {entry:?}: {reason} (use comma-separated PATH=WEIGHT, e.g. \"/=50,/slow=20,/error=20,/cpu-intensive=10\")"
    )]
    Mix { entry: String, reason: String },
    #[error(
        "--mix has {count} entries; at most {MAX_MIX_ENTRIES} are allowed (each endpoint keeps its own latency histogram in every worker thread)"
    )]
    MixTooLong { count: usize },
    #[error("invalid target {input:?}: {reason} (use a base URL like http://127.0.0.1:5000)")]
    Target { input: String, reason: String },
    #[error("unknown scenario {0:?} (choose steady, spike, errors or stress)")]
    Scenario(String),
    #[error("{0}")]
    Conflict(String),
}

/// How requests arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// A fixed number of users, each sending a request, waiting for the answer, then thinking.
    Closed { users: u32, think_time: ThinkTime },
    /// Requests start at a constant rate whatever the answers do; at most `connections` are in
    /// flight, and a request that has to wait for one is late (and its latency says so).
    Open { rate: f64, connections: u32 },
}

/// A validated load run: what to send, where, how, and when to stop.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub target: Target,
    pub model: Model,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub ramp_up: Duration,
    pub mix: Mix,
    pub timeout: Duration,
    pub threads: usize,
    pub thresholds: Vec<Threshold>,
    /// Send a request that got no byte of answer on a reused keep-alive connection once more
    /// on a new one (`--no-retry` turns it off).
    pub retry: bool,
}

pub const DEFAULT_USERS: u32 = 10;
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_THINK_TIME: ThinkTime = ThinkTime {
    min: Duration::from_millis(200),
    max: Duration::from_millis(1000),
};
/// Open-model connections per request per second of rate (i.e. answers may take up to 1 s
/// before requests have to wait), and the floor for low rates.
const OPEN_CONNECTIONS_PER_RATE: f64 = 1.0;
const OPEN_CONNECTIONS_MIN: u32 = 32;
/// The open model's rate range: at least one request every 1000 s, at most a million a second.
pub const MIN_RATE: f64 = 0.001;
pub const MAX_RATE: f64 = 1_000_000.0;
/// The most users (closed model) or connections (open model) a run may have.
pub const MAX_PARALLEL: u32 = 100_000;
/// The most worker threads: this many per CPU, and never more than `MAX_THREADS`. More threads
/// than that only add contention (and memory: each keeps its own histograms).
pub const THREADS_PER_CPU: usize = 4;
pub const MAX_THREADS: usize = 256;

impl LoadPlan {
    /// Applies defaults and checks that the settings make sense together and fit the machine:
    /// `available_threads` is the default for `threads` (normally the CPU count) and bounds it,
    /// `open_files` (when known) bounds the users or connections.
    pub fn new(
        target: Target,
        settings: LoadSettings,
        available_threads: usize,
        open_files: Option<OpenFileLimit>,
    ) -> Result<LoadPlan, PlanError> {
        let conflict = |message: &str| Err(PlanError::Conflict(message.to_owned()));
        let max_threads = available_threads
            .max(1)
            .saturating_mul(THREADS_PER_CPU)
            .min(MAX_THREADS);
        let requested_threads = settings.threads.unwrap_or(available_threads).max(1);
        match settings.threads {
            Some(0) => return conflict("--threads must be at least 1"),
            Some(threads) if threads > max_threads => {
                return Err(PlanError::Conflict(format!(
                    "--threads {threads} is too many: at most {max_threads} here \
                     ({THREADS_PER_CPU} per CPU, at most {MAX_THREADS}); more only add contention"
                )));
            }
            _ => {}
        }
        for (flag, value) in [
            ("--duration", settings.duration),
            ("--ramp-up", settings.ramp_up),
            ("--think-time", settings.think_time.map(|think| think.max)),
            ("--timeout", settings.timeout),
        ] {
            if value.is_some_and(|value| value > MAX_DURATION) {
                return Err(PlanError::Conflict(format!(
                    "{flag} must be at most a year (8760h)"
                )));
            }
        }
        let model = match (settings.users, settings.rate) {
            (Some(_), Some(_)) => {
                return conflict(
                    "choose one arrival model: --users (closed) or --rate (open), not both",
                );
            }
            (_, Some(rate)) => {
                if !(rate.is_finite() && (MIN_RATE..=MAX_RATE).contains(&rate)) {
                    return conflict(
                        "--rate must be a number of requests per second from 0.001 (one every \
                         1000 s) to 1000000",
                    );
                }
                if settings.think_time.is_some_and(|think| !think.is_zero()) {
                    return conflict(
                        "--think-time applies to --users only; with --rate, arrivals are already paced",
                    );
                }
                let connections = match settings.connections {
                    Some(0) => return conflict("--connections must be at least 1"),
                    Some(connections) if connections > MAX_PARALLEL => {
                        return Err(PlanError::Conflict(format!(
                            "--connections must be at most {MAX_PARALLEL}"
                        )));
                    }
                    Some(connections) => {
                        if let Some(limit) = open_files {
                            limit.check(
                                &format!("--connections {connections}"),
                                connections,
                                requested_threads,
                            )?;
                        }
                        connections
                    }
                    // As many as the rate wants, within what the open-file limit leaves: a
                    // default that cannot open its sockets would fail every request instead.
                    None => {
                        let wanted = ((rate * OPEN_CONNECTIONS_PER_RATE).ceil() as u32)
                            .clamp(OPEN_CONNECTIONS_MIN, MAX_PARALLEL);
                        let fits = match open_files {
                            Some(limit) => {
                                limit.check(&format!("--rate {rate}"), 1, requested_threads)?;
                                limit.sockets_left(requested_threads)
                            }
                            None => u64::MAX,
                        };
                        wanted.min(u32::try_from(fits).unwrap_or(u32::MAX))
                    }
                };
                Model::Open { rate, connections }
            }
            (users, None) => {
                let users = users.unwrap_or(DEFAULT_USERS);
                if users == 0 {
                    return conflict("--users must be at least 1");
                }
                if users > MAX_PARALLEL {
                    return Err(PlanError::Conflict(format!(
                        "--users must be at most {MAX_PARALLEL}"
                    )));
                }
                if let Some(limit) = open_files {
                    limit.check(
                        &format!("--users {users}"),
                        users,
                        requested_threads.min(users as usize),
                    )?;
                }
                if settings.connections.is_some() {
                    return conflict(
                        "--connections applies to --rate only; with --users, each user has one connection",
                    );
                }
                Model::Closed {
                    users,
                    think_time: settings.think_time.unwrap_or(DEFAULT_THINK_TIME),
                }
            }
        };
        let (duration, requests) = match (settings.duration, settings.requests) {
            (None, None) => (Some(DEFAULT_DURATION), None),
            bounds => bounds,
        };
        if duration.is_some_and(|d| d.is_zero()) {
            return conflict("--duration must be above 0");
        }
        if requests == Some(0) {
            return conflict("--requests must be at least 1");
        }
        let timeout = settings.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return conflict("--timeout must be above 0");
        }
        let mix = settings.mix.unwrap_or_else(Mix::realistic);
        for threshold in &settings.thresholds {
            if let Some(endpoint) = threshold.endpoint()
                && mix.position(endpoint).is_none()
            {
                return Err(PlanError::Conflict(format!(
                    "threshold {threshold} names {endpoint}, which is not in the mix ({mix})"
                )));
            }
        }
        let parallel_tasks = match &model {
            Model::Closed { users, .. } => *users as usize,
            Model::Open { connections, .. } => *connections as usize,
        };
        Ok(LoadPlan {
            target,
            model,
            duration,
            requests,
            ramp_up: settings.ramp_up.unwrap_or(Duration::ZERO),
            mix,
            timeout,
            threads: requested_threads.min(parallel_tasks).max(1),
            thresholds: settings.thresholds,
            retry: !settings.no_retry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        "http://127.0.0.1:5000".parse().expect("valid target")
    }

    #[test]
    fn defaults_are_bounded_closed_users() {
        let plan = LoadPlan::new(target(), LoadSettings::default(), 4, None).expect("plan");
        assert_eq!(
            plan.model,
            Model::Closed {
                users: DEFAULT_USERS,
                think_time: DEFAULT_THINK_TIME
            }
        );
        assert_eq!(plan.duration, Some(DEFAULT_DURATION));
        assert_eq!(plan.requests, None);
        assert_eq!(plan.mix, Mix::realistic());
        assert_eq!(plan.threads, 4);
    }

    #[test]
    fn requests_alone_bound_the_run_without_a_default_duration() {
        let settings = LoadSettings {
            requests: Some(100),
            ..LoadSettings::default()
        };
        let plan = LoadPlan::new(target(), settings, 2, None).expect("plan");
        assert_eq!((plan.duration, plan.requests), (None, Some(100)));
    }

    #[test]
    fn open_model_sizes_connections_from_the_rate() {
        let settings = LoadSettings {
            rate: Some(1000.0),
            ..LoadSettings::default()
        };
        let plan = LoadPlan::new(target(), settings, 2, None).expect("plan");
        assert_eq!(
            plan.model,
            Model::Open {
                rate: 1000.0,
                connections: 1000
            }
        );
        let slow = LoadSettings {
            rate: Some(2.0),
            ..LoadSettings::default()
        };
        let plan = LoadPlan::new(target(), slow, 2, None).expect("plan");
        assert_eq!(
            plan.model,
            Model::Open {
                rate: 2.0,
                connections: OPEN_CONNECTIONS_MIN
            }
        );
    }

    #[test]
    fn threads_never_outnumber_users() {
        let settings = LoadSettings {
            users: Some(1),
            ..LoadSettings::default()
        };
        assert_eq!(
            LoadPlan::new(target(), settings, 8, None)
                .expect("plan")
                .threads,
            1
        );
    }

    #[test]
    fn contradictory_settings_are_refused() {
        let cases = [
            LoadSettings {
                users: Some(1),
                rate: Some(1.0),
                ..LoadSettings::default()
            },
            LoadSettings {
                rate: Some(0.0),
                ..LoadSettings::default()
            },
            LoadSettings {
                rate: Some(f64::NAN),
                ..LoadSettings::default()
            },
            LoadSettings {
                rate: Some(5.0),
                think_time: "1s".parse().ok(),
                ..LoadSettings::default()
            },
            LoadSettings {
                users: Some(0),
                ..LoadSettings::default()
            },
            LoadSettings {
                users: Some(5),
                connections: Some(5),
                ..LoadSettings::default()
            },
            LoadSettings {
                duration: Some(Duration::ZERO),
                ..LoadSettings::default()
            },
            LoadSettings {
                requests: Some(0),
                ..LoadSettings::default()
            },
            LoadSettings {
                timeout: Some(Duration::ZERO),
                ..LoadSettings::default()
            },
            LoadSettings {
                threads: Some(0),
                ..LoadSettings::default()
            },
            LoadSettings {
                thresholds: vec!["/nope:p95<1s".parse().expect("grammar")],
                ..LoadSettings::default()
            },
        ];
        for settings in cases {
            let debug = format!("{settings:?}");
            assert!(
                matches!(
                    LoadPlan::new(target(), settings, 2, None),
                    Err(PlanError::Conflict(_))
                ),
                "{debug}"
            );
        }
    }

    fn conflict(settings: LoadSettings, cpus: usize, open_files: Option<OpenFileLimit>) -> String {
        match LoadPlan::new(target(), settings, cpus, open_files) {
            Err(PlanError::Conflict(message)) => message,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn durations_are_at_most_a_year() {
        assert_eq!(parse_duration("8760h"), Ok(MAX_DURATION));
        for too_long in ["8761h", "3000000000000000h", "99999999999999999999s"] {
            assert!(parse_duration(too_long).is_err(), "{too_long}");
        }
        assert!("1s..8761h".parse::<ThinkTime>().is_err());
        // Settings built in code rather than parsed are held to the same bound, by flag.
        let too_long = MAX_DURATION + Duration::from_secs(1);
        let cases = [
            (
                "--duration",
                LoadSettings {
                    duration: Some(too_long),
                    ..LoadSettings::default()
                },
            ),
            (
                "--ramp-up",
                LoadSettings {
                    ramp_up: Some(too_long),
                    ..LoadSettings::default()
                },
            ),
            (
                "--think-time",
                LoadSettings {
                    think_time: Some(ThinkTime {
                        min: Duration::ZERO,
                        max: too_long,
                    }),
                    ..LoadSettings::default()
                },
            ),
            (
                "--timeout",
                LoadSettings {
                    timeout: Some(too_long),
                    ..LoadSettings::default()
                },
            ),
        ];
        for (flag, settings) in cases {
            let message = conflict(settings, 2, None);
            assert!(message.starts_with(flag), "{flag}: {message}");
        }
    }

    #[test]
    fn the_rate_has_a_floor() {
        let message = conflict(
            LoadSettings {
                rate: Some(1e-30),
                ..LoadSettings::default()
            },
            2,
            None,
        );
        assert!(message.contains("0.001"), "{message}");
        let slowest = LoadSettings {
            rate: Some(MIN_RATE),
            ..LoadSettings::default()
        };
        LoadPlan::new(target(), slowest, 2, None).expect("the slowest rate is allowed");
    }
}
