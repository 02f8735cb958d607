//! What a load run should do, parsed and validated before anything is sent: the target, the
//! arrival model (closed users or an open rate), the bounds, the endpoint mix, think time,
//! scenario presets and thresholds. Everything here is pure data; nothing touches the network.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use hyper::Uri;
use hyper::http::uri::PathAndQuery;

use super::threshold::Threshold;

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

/// Parses a duration made of one or more `<number><unit>` parts (`us`, `ms`, `s`, `m`, `h`),
/// such as `250ms`, `1.5s` or `1m30s`; a bare `0` means zero.
pub fn parse_duration(input: &str) -> Result<Duration, PlanError> {
    let error = |reason| PlanError::Duration {
        input: input.to_owned(),
        reason,
    };
    let text = input.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(error("empty"));
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| error("missing unit"))?;
        if number_len == 0 {
            return Err(error("expected a number"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| error("bad number"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(error("unknown unit")),
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    let duration = Duration::try_from_secs_f64(total).map_err(|_| error("out of range"))?;
    if duration > MAX_DURATION {
        return Err(error(
            "longer than a year (8760h), the most a load run takes",
        ));
    }
    Ok(duration)
}

/// The longest duration any load setting may have (`--duration`, `--ramp-up`, `--think-time`,
/// `--timeout`): a year, far beyond any real run, and small enough that adding it to a clock
/// reading cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Shows a duration the way `parse_duration` reads it, in the largest unit that keeps it short.
pub fn format_duration(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros == 0 {
        "0s".to_owned()
    } else if micros % 1_000_000 == 0 {
        format!("{}s", micros / 1_000_000)
    } else if micros % 1_000 == 0 {
        format!("{}ms", micros / 1_000)
    } else {
        format!("{micros}us")
    }
}

/// Pause between a user's requests: fixed, or drawn uniformly from a range for each pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThinkTime {
    pub min: Duration,
    pub max: Duration,
}

impl ThinkTime {
    pub const NONE: ThinkTime = ThinkTime {
        min: Duration::ZERO,
        max: Duration::ZERO,
    };

    pub fn is_zero(&self) -> bool {
        self.max.is_zero()
    }
}

impl FromStr for ThinkTime {
    type Err = PlanError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| PlanError::ThinkTime {
            input: input.to_owned(),
            reason,
        };
        let parse = |part: &str| parse_duration(part).map_err(|e| error(e.to_string()));
        let (min, max) = match input.split_once("..") {
            Some((low, high)) => (parse(low)?, parse(high)?),
            None => {
                let fixed = parse(input)?;
                (fixed, fixed)
            }
        };
        if min > max {
            return Err(error("the lower bound is above the upper bound".to_owned()));
        }
        Ok(ThinkTime { min, max })
    }
}

impl fmt::Display for ThinkTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            f.write_str(&format_duration(self.min))
        } else {
            write!(
                f,
                "{}..{}",
                format_duration(self.min),
                format_duration(self.max)
            )
        }
    }
}

/// The most endpoints a mix may have.
pub const MAX_MIX_ENTRIES: usize = 64;

/// One endpoint of the mix: a path (optionally with a query) and its relative weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixEntry {
    pub path: String,
    pub weight: u32,
}

/// The endpoints to request and how often, by weight. Paths are relative to the target's base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    entries: Vec<MixEntry>,
}

impl Mix {
    /// The default: mostly cheap requests, with enough slow, failing and CPU-heavy ones that
    /// every panel and alert of the demo dashboard has something to show.
    pub fn realistic() -> Mix {
        let entry = |path: &str, weight| MixEntry {
            path: path.to_owned(),
            weight,
        };
        Mix {
            entries: vec![
                entry("/", 50),
                entry("/slow", 20),
                entry("/error", 20),
                entry("/cpu-intensive", 10),
            ],
        }
    }

    pub fn entries(&self) -> &[MixEntry] {
        &self.entries
    }

    pub fn position(&self, path: &str) -> Option<usize> {
        self.entries.iter().position(|entry| entry.path == path)
    }
}

impl FromStr for Mix {
    type Err = PlanError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let count = input.split(',').count();
        if count > MAX_MIX_ENTRIES {
            return Err(PlanError::MixTooLong { count });
        }
        let mut entries: Vec<MixEntry> = Vec::with_capacity(count);
        for raw in input.split(',').map(str::trim) {
            let error = |reason: &str| PlanError::Mix {
                entry: raw.to_owned(),
                reason: reason.to_owned(),
            };
            if raw.is_empty() {
                return Err(error("empty entry"));
            }
            let (path, weight) = match raw.rsplit_once('=') {
                Some((path, weight)) => {
                    let weight: u32 = weight
                        .trim()
                        .parse()
                        .map_err(|_| error("the weight must be a whole number"))?;
                    (path.trim(), weight)
                }
                None => (raw, 1),
            };
            if !path.starts_with('/') {
                return Err(error("the path must start with /"));
            }
            // "/slow?ms=300" would read as path "/slow?ms" with weight 300; a query whose last
            // parameter has no value almost always means the weight was left out.
            if let Some((_, query)) = path.split_once('?')
                && !query.rsplit('&').next().unwrap_or(query).contains('=')
            {
                return Err(error(
                    "a path with a query needs a weight, e.g. /slow?ms=300=1",
                ));
            }
            if PathAndQuery::from_str(path).is_err() {
                return Err(error("not a valid URL path"));
            }
            if weight == 0 {
                return Err(error("the weight must be at least 1"));
            }
            if entries.iter().any(|entry| entry.path == path) {
                return Err(error("this path appears twice"));
            }
            entries.push(MixEntry {
                path: path.to_owned(),
                weight,
            });
        }
        Ok(Mix { entries })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, entry) in self.entries.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={}", entry.path, entry.weight)?;
        }
        Ok(())
    }
}

/// Where requests go: a plain-HTTP base URL. Mix paths are appended to its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: String,
    host: String,
    port: u16,
    authority: String,
    base_path: String,
}

impl Target {
    /// The base URL as the user should read it in reports and messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Host name or address to resolve, without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `Host` header value.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The request target (origin-form) for a mix path, with the base URL's path in front.
    pub fn request_path(&self, path: &str) -> String {
        format!("{}{}", self.base_path, path)
    }
}

impl FromStr for Target {
    type Err = PlanError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |reason: &str| PlanError::Target {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let text = input.trim();
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let uri: Uri = with_scheme.parse().map_err(|_| error("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(error("https is not supported; use an http:// URL")),
            _ => return Err(error("only http:// URLs are supported")),
        }
        let authority = uri.authority().ok_or_else(|| error("no host"))?;
        if authority.as_str().contains('@') {
            return Err(error("credentials in the URL are not supported"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(error("no host"));
        }
        if uri.query().is_some() {
            return Err(error(
                "the base URL cannot have a query; put queries in --mix paths",
            ));
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        let port = match authority
            .as_str()
            .rsplit_once(']')
            .map_or(authority.as_str(), |(_, after)| after)
            .split_once(':')
        {
            None => 80,
            Some((_, port)) => port
                .parse()
                .map_err(|_| error("the port must be a number from 0 to 65535"))?,
        };
        Ok(Target {
            url: format!("http://{}{}", authority.as_str(), base_path),
            host: host.to_owned(),
            port,
            authority: authority.as_str().to_owned(),
            base_path,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// Named presets for common questions; explicit flags override what a preset sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 20 users, 200ms..1s think time, the realistic mix, 60 s: a baseline with every panel alive.
    Steady,
    /// 200 users all at once (no ramp-up), 0..100ms think time, 30 s: a sudden burst that
    /// exercises queueing, the latency alerts and recovery.
    Spike,
    /// 20 users, 100ms..500ms think time, mostly `/error`, 60 s: drives the error-rate alert.
    Errors,
    /// 100 users ramping up over 10 s, no think time, heavy on `/cpu-intensive` and `/slow`,
    /// 60 s: pushes the service to saturation to find where latency breaks.
    Stress,
}

impl Scenario {
    /// The flag values this scenario stands for.
    pub fn settings(self) -> LoadSettings {
        let mix = |text: &str| text.parse::<Mix>().ok();
        let think = |min_ms, max_ms| {
            Some(ThinkTime {
                min: Duration::from_millis(min_ms),
                max: Duration::from_millis(max_ms),
            })
        };
        match self {
            Scenario::Steady => LoadSettings {
                users: Some(20),
                think_time: think(200, 1000),
                duration: Some(Duration::from_secs(60)),
                mix: Some(Mix::realistic()),
                ..LoadSettings::default()
            },
            Scenario::Spike => LoadSettings {
                users: Some(200),
                ramp_up: Some(Duration::ZERO),
                think_time: think(0, 100),
                duration: Some(Duration::from_secs(30)),
                mix: Some(Mix::realistic()),
                ..LoadSettings::default()
            },
            Scenario::Errors => LoadSettings {
                users: Some(20),
                think_time: think(100, 500),
                duration: Some(Duration::from_secs(60)),
                mix: mix("/error=70,/=20,/slow=10"),
                ..LoadSettings::default()
            },
            Scenario::Stress => LoadSettings {
                users: Some(100),
                ramp_up: Some(Duration::from_secs(10)),
                think_time: Some(ThinkTime::NONE),
                duration: Some(Duration::from_secs(60)),
                mix: mix("/cpu-intensive=40,/slow=30,/=20,/error=10"),
                ..LoadSettings::default()
            },
        }
    }
}

impl FromStr for Scenario {
    type Err = PlanError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match input {
            "steady" => Ok(Scenario::Steady),
            "spike" => Ok(Scenario::Spike),
            "errors" => Ok(Scenario::Errors),
            "stress" => Ok(Scenario::Stress),
            other => Err(PlanError::Scenario(other.to_owned())),
        }
    }
}

/// Flag values as given, each optional, so a scenario preset can fill in what flags left out.
#[derive(Debug, Clone, Default)]
pub struct LoadSettings {
    pub users: Option<u32>,
    pub rate: Option<f64>,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub ramp_up: Option<Duration>,
    pub think_time: Option<ThinkTime>,
    pub mix: Option<Mix>,
    pub timeout: Option<Duration>,
    pub connections: Option<u32>,
    pub threads: Option<usize>,
    pub thresholds: Vec<Threshold>,
}

impl LoadSettings {
    /// Fills what these settings leave open from `preset`. Choosing an arrival model explicitly
    /// (`--users` or `--rate`) also drops the preset's other model (and with `--rate`, its think
    /// time, which only users have), and an explicit bound drops
    /// the preset's duration, so `--scenario stress --requests 100` stops after 100 requests.
    pub fn with_preset(self, preset: LoadSettings) -> LoadSettings {
        let explicit_model = self.users.is_some() || self.rate.is_some();
        let explicit_bound = self.duration.is_some() || self.requests.is_some();
        LoadSettings {
            users: self
                .users
                .or(if explicit_model { None } else { preset.users }),
            rate: self
                .rate
                .or(if explicit_model { None } else { preset.rate }),
            duration: self.duration.or(if explicit_bound {
                None
            } else {
                preset.duration
            }),
            requests: self.requests.or(if explicit_bound {
                None
            } else {
                preset.requests
            }),
            ramp_up: self.ramp_up.or(preset.ramp_up),
            think_time: self.think_time.or(if self.rate.is_some() {
                None
            } else {
                preset.think_time
            }),
            mix: self.mix.or(preset.mix),
            timeout: self.timeout.or(preset.timeout),
            connections: self.connections.or(preset.connections),
            threads: self.threads.or(preset.threads),
            thresholds: if self.thresholds.is_empty() {
                preset.thresholds
            } else {
                self.thresholds
            },
        }
    }
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
    fn sockets_left(&self, threads: usize) -> u64 {
        self.soft
            .saturating_sub(FILES_RESERVED)
            .saturating_sub(FILES_PER_THREAD.saturating_mul(threads as u64))
    }

    /// Refuses `count` users or connections (named by `what`, e.g. "--users 5000") that do not
    /// fit under the limit, saying how to raise it.
    fn check(&self, what: &str, count: u32, threads: usize) -> Result<(), PlanError> {
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
    fn durations_accept_units_fractions_and_compounds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("750us"), Ok(Duration::from_micros(750)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "ms", "5 parsecs", "1..2s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn durations_format_back_to_parseable_text() {
        for text in ["0s", "250ms", "3s", "750us", "90s"] {
            let duration = parse_duration(text).expect("parses");
            assert_eq!(format_duration(duration), text);
        }
    }

    #[test]
    fn think_time_is_fixed_or_a_range() {
        let fixed: ThinkTime = "500ms".parse().expect("fixed");
        assert_eq!(
            fixed,
            ThinkTime {
                min: Duration::from_millis(500),
                max: Duration::from_millis(500)
            }
        );
        let range: ThinkTime = "200ms..1s".parse().expect("range");
        assert_eq!(
            range,
            ThinkTime {
                min: Duration::from_millis(200),
                max: Duration::from_secs(1)
            }
        );
        assert_eq!(range.to_string(), "200ms..1s");
        assert!("1s..200ms".parse::<ThinkTime>().is_err());
        assert!("soon".parse::<ThinkTime>().is_err());
    }

    #[test]
    fn mix_parses_weights_queries_and_defaults_weight_to_one() {
        let mix: Mix = "/=50, /slow?ms=100=20,/error".parse().expect("valid mix");
        let entries = mix.entries();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0],
            MixEntry {
                path: "/".into(),
                weight: 50
            }
        );
        assert_eq!(
            entries[1],
            MixEntry {
                path: "/slow?ms=100".into(),
                weight: 20
            }
        );
        assert_eq!(
            entries[2],
            MixEntry {
                path: "/error".into(),
                weight: 1
            }
        );
        assert_eq!(mix.to_string(), "/=50,/slow?ms=100=20,/error=1");
    }

    #[test]
    fn mix_rejects_what_cannot_be_sent() {
        for bad in [
            "",
            "/=0",
            "slow=1",
            "/=x",
            "/a=1,/a=2",
            "/=1,,/b=1",
            "/a b=1",
        ] {
            let error = bad.parse::<Mix>().expect_err(bad);
            assert!(matches!(error, PlanError::Mix { .. }), "{bad:?}: {error}");
        }
    }

    #[test]
    fn mix_has_at_most_64_entries() {
        let mix = |count: usize| {
            (0..count)
                .map(|i| format!("/e{i}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(
            mix(MAX_MIX_ENTRIES)
                .parse::<Mix>()
                .expect("64 entries")
                .entries()
                .len(),
            64
        );
        let error = mix(MAX_MIX_ENTRIES + 1)
            .parse::<Mix>()
            .expect_err("65 entries");
        assert_eq!(error, PlanError::MixTooLong { count: 65 });
        assert!(error.to_string().contains("at most 64"), "{error}");
    }

    #[test]
    fn target_takes_host_port_and_base_path() {
        let target: Target = "http://localhost:8080/api/".parse().expect("valid");
        assert_eq!(target.host(), "localhost");
        assert_eq!(target.port(), 8080);
        assert_eq!(target.authority(), "localhost:8080");
        assert_eq!(target.url(), "http://localhost:8080/api");
        assert_eq!(target.request_path("/slow?ms=5"), "/api/slow?ms=5");

        let bare: Target = "127.0.0.1:5000".parse().expect("scheme is optional");
        assert_eq!(bare.url(), "http://127.0.0.1:5000");
        assert_eq!(bare.request_path("/"), "/");

        let v6: Target = "http://[::1]:9".parse().expect("ipv6");
        assert_eq!(v6.host(), "::1");
        assert_eq!(
            "http://example"
                .parse::<Target>()
                .expect("default port")
                .port(),
            80
        );
    }

    #[test]
    fn target_rejects_what_the_client_cannot_reach() {
        for bad in [
            "https://127.0.0.1",
            "ftp://x",
            "http://",
            "http://a:b",
            "http://h/?q=1",
            "http://u:p@h",
        ] {
            assert!(
                matches!(bad.parse::<Target>(), Err(PlanError::Target { .. })),
                "{bad:?}"
            );
        }
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

    #[test]
    fn explicit_flags_override_a_scenario() {
        let explicit = LoadSettings {
            rate: Some(50.0),
            requests: Some(10),
            mix: "/=1".parse().ok(),
            ..LoadSettings::default()
        };
        let merged = explicit.with_preset(Scenario::Stress.settings());
        assert_eq!(
            merged.users, None,
            "an explicit --rate drops the preset's users"
        );
        assert_eq!(merged.rate, Some(50.0));
        assert_eq!(
            merged.duration, None,
            "an explicit --requests drops the preset's duration"
        );
        assert_eq!(merged.requests, Some(10));
        assert_eq!(merged.mix, "/=1".parse().ok());
        assert_eq!(
            merged.ramp_up,
            Some(Duration::from_secs(10)),
            "unset flags come from the preset"
        );

        let steady_at_a_rate = LoadSettings {
            rate: Some(5.0),
            ..LoadSettings::default()
        }
        .with_preset(Scenario::Steady.settings());
        assert_eq!(
            steady_at_a_rate.think_time, None,
            "users' think time does not apply to --rate"
        );
        LoadPlan::new(target(), steady_at_a_rate, 2, None)
            .expect("a preset plus --rate is a valid plan");
    }

    #[test]
    fn every_scenario_makes_a_valid_plan() {
        for name in ["steady", "spike", "errors", "stress"] {
            let scenario: Scenario = name.parse().expect("known scenario");
            let settings = LoadSettings::default().with_preset(scenario.settings());
            assert!(settings.mix.is_some(), "{name} sets its mix");
            LoadPlan::new(target(), settings, 2, None).expect(name);
        }
        assert!("soak".parse::<Scenario>().is_err());
    }
}
