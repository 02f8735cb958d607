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
    Duration::try_from_secs_f64(total).map_err(|_| error("out of range"))
}

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
        let mut entries: Vec<MixEntry> = Vec::new();
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
const MAX_RATE: f64 = 1_000_000.0;

impl LoadPlan {
    /// Applies defaults and checks that the settings make sense together. `available_threads`
    /// is the default for `threads` (normally the CPU count).
    pub fn new(
        target: Target,
        settings: LoadSettings,
        available_threads: usize,
    ) -> Result<LoadPlan, PlanError> {
        let conflict = |message: &str| Err(PlanError::Conflict(message.to_owned()));
        let model = match (settings.users, settings.rate) {
            (Some(_), Some(_)) => {
                return conflict(
                    "choose one arrival model: --users (closed) or --rate (open), not both",
                );
            }
            (_, Some(rate)) => {
                if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE) {
                    return conflict(
                        "--rate must be a number of requests per second above 0 and at most 1000000",
                    );
                }
                if settings.think_time.is_some_and(|think| !think.is_zero()) {
                    return conflict(
                        "--think-time applies to --users only; with --rate, arrivals are already paced",
                    );
                }
                let connections = settings.connections.unwrap_or_else(|| {
                    ((rate * OPEN_CONNECTIONS_PER_RATE).ceil() as u32).max(OPEN_CONNECTIONS_MIN)
                });
                if connections == 0 {
                    return conflict("--connections must be at least 1");
                }
                Model::Open { rate, connections }
            }
            (users, None) => {
                let users = users.unwrap_or(DEFAULT_USERS);
                if users == 0 {
                    return conflict("--users must be at least 1");
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
        let threads = settings.threads.unwrap_or(available_threads);
        if threads == 0 {
            return conflict("--threads must be at least 1");
        }
        Ok(LoadPlan {
            target,
            model,
            duration,
            requests,
            ramp_up: settings.ramp_up.unwrap_or(Duration::ZERO),
            mix,
            timeout,
            threads: threads.min(parallel_tasks).max(1),
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
        let plan = LoadPlan::new(target(), LoadSettings::default(), 4).expect("plan");
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
        let plan = LoadPlan::new(target(), settings, 2).expect("plan");
        assert_eq!((plan.duration, plan.requests), (None, Some(100)));
    }

    #[test]
    fn open_model_sizes_connections_from_the_rate() {
        let settings = LoadSettings {
            rate: Some(1000.0),
            ..LoadSettings::default()
        };
        let plan = LoadPlan::new(target(), settings, 2).expect("plan");
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
        let plan = LoadPlan::new(target(), slow, 2).expect("plan");
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
            LoadPlan::new(target(), settings, 8).expect("plan").threads,
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
                    LoadPlan::new(target(), settings, 2),
                    Err(PlanError::Conflict(_))
                ),
                "{debug}"
            );
        }
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
        LoadPlan::new(target(), steady_at_a_rate, 2).expect("a preset plus --rate is a valid plan");
    }

    #[test]
    fn every_scenario_makes_a_valid_plan() {
        for name in ["steady", "spike", "errors", "stress"] {
            let scenario: Scenario = name.parse().expect("known scenario");
            let settings = LoadSettings::default().with_preset(scenario.settings());
            assert!(settings.mix.is_some(), "{name} sets its mix");
            LoadPlan::new(target(), settings, 2).expect(name);
        }
        assert!("soak".parse::<Scenario>().is_err());
    }
}
