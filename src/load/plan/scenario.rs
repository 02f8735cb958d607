//! Flag values as given ([`LoadSettings`]) and the named presets ([`Scenario`]) that fill in what
//! the flags leave open.

use std::str::FromStr;
use std::time::Duration;

use super::{Mix, PlanError, ThinkTime};
use crate::load::threshold::Threshold;

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
    /// `--no-retry`: count a request the server closed a reused connection on as failed.
    pub no_retry: bool,
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
            no_retry: self.no_retry || preset.no_retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::load::plan::{LoadPlan, Target};

    fn target() -> Target {
        "http://127.0.0.1:5000".parse().expect("valid target")
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
