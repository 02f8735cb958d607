//! Waiting, bounded, for Prometheus to take a target change up: the first scrape of an added
//! target (and how it went), or the end of a removed one's scrapes. Prometheus applies new
//! targets within about 5 s of a reload (its discovery throttles updates), then scrapes at its
//! interval, so the wait is bounded by twice the interval (at most 60 s) plus 12 s.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::app::context::ProjectContext;
use crate::catalog::prometheus;
use crate::docker::Docker;
use crate::promapi::{PrometheusApi, TargetStatus};

/// How long one request to Prometheus may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
const POLL_EVERY: Duration = Duration::from_millis(250);
/// What Prometheus's discovery throttle and scrape manager add before a new target is scraped.
const DISCOVERY_SLACK: Duration = Duration::from_secs(12);
/// A target scraped less often than this is waited for as if it were scraped this often.
const MAX_INTERVAL_WAITED: Duration = Duration::from_secs(60);

/// What Prometheus did with a changed target.
#[derive(Debug, Clone, Serialize)]
pub struct Scrape {
    pub state: ScrapeState,
    /// The target's instance label(s), when Prometheus has it.
    pub instances: Vec<String>,
    /// The last scrape's error, when it failed.
    pub last_error: Option<String>,
    /// Samples in its last scrape (`scrape_samples_scraped`): about how many series it exposes.
    pub series: Option<u64>,
    pub waited_seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScrapeState {
    /// Scraped, and the scrape succeeded.
    Up,
    /// Scraped, and the scrape failed.
    Down,
    /// Not scraped within the wait.
    Pending,
    /// No longer scraped.
    Gone,
    /// Still scraped at the end of the wait.
    StillScraped,
    /// Prometheus could not be asked.
    Unknown,
}

impl Scrape {
    fn unknown(started: Instant, why: String) -> Self {
        Self {
            state: ScrapeState::Unknown,
            instances: Vec::new(),
            last_error: Some(why),
            series: None,
            waited_seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// Whether the change took the effect it was made for.
    pub fn is_as_wanted(&self) -> bool {
        matches!(self.state, ScrapeState::Up | ScrapeState::Gone)
    }

    /// One line for a person.
    pub fn sentence(&self, job: &str) -> String {
        let waited = format!("{:.1} s", self.waited_seconds);
        match self.state {
            ScrapeState::Up => format!(
                "{job}: up, first scrape {waited} after the reload{}",
                self.series
                    .map_or_else(String::new, |series| format!(", {series} series"))
            ),
            ScrapeState::Down => format!(
                "{job}: DOWN after its first scrape: {}",
                self.last_error.as_deref().unwrap_or("the scrape failed")
            ),
            ScrapeState::Pending => format!(
                "{job}: not scraped yet after {waited}; `monibox targets list` shows when it is"
            ),
            ScrapeState::Gone => format!("{job}: Prometheus stopped scraping it ({waited})"),
            ScrapeState::StillScraped => format!(
                "{job}: still scraped after {waited}; Prometheus drops it at its next discovery \
                 update"
            ),
            ScrapeState::Unknown => format!(
                "{job}: Prometheus cannot be asked ({})",
                self.last_error.as_deref().unwrap_or("no answer")
            ),
        }
    }
}

/// The running Prometheus's HTTP API, from its container's published port.
pub async fn prometheus_api(project: &ProjectContext) -> Result<PrometheusApi, String> {
    let docker = Docker::connect(None, crate::docker::client::DEFAULT_CONNECT_TIMEOUT)
        .await
        .map_err(|error| error.to_string())?;
    let name = prometheus::DEF.container_name(project.project());
    let status = docker
        .inspect_container(&name)
        .await
        .map_err(|error| error.to_string())?
        .filter(|status| status.project() == Some(project.project()) && status.is_running())
        .ok_or_else(|| format!("{name} is not running"))?;
    let address = status
        .host_address(prometheus::DEF.container_port)
        .ok_or_else(|| format!("{name} publishes no port"))?;
    Ok(PrometheusApi::new(
        &format!("http://{address}"),
        REQUEST_TIMEOUT,
    ))
}

/// Waits for the first scrape of job `job`.
pub async fn first_scrape(project: &ProjectContext, job: &str) -> Scrape {
    let started = Instant::now();
    let api = match prometheus_api(project).await {
        Ok(api) => api,
        Err(why) => return Scrape::unknown(started, why),
    };
    let interval = project
        .config
        .targets
        .iter()
        .find(|target| target.name.as_str() == job)
        .and_then(|target| target.interval)
        .unwrap_or(project.config.timing.profile().scrape_interval);
    let interval = Duration::from_millis(interval.as_millis()).min(MAX_INTERVAL_WAITED);
    let deadline = started + interval * 2 + DISCOVERY_SLACK;
    loop {
        let scraped: Vec<TargetStatus> = match api.targets().await {
            Ok(targets) => targets
                .into_iter()
                .filter(|target| target.job == job && target.last_scrape.is_some())
                .collect(),
            Err(error) => return Scrape::unknown(started, error.to_string()),
        };
        if !scraped.is_empty() || Instant::now() >= deadline {
            return summarize(&api, job, &scraped, started).await;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

async fn summarize(
    api: &PrometheusApi,
    job: &str,
    scraped: &[TargetStatus],
    started: Instant,
) -> Scrape {
    let waited_seconds = started.elapsed().as_secs_f64();
    let down = scraped.iter().find(|target| target.health != "up");
    let state = match (scraped.is_empty(), down) {
        (true, _) => ScrapeState::Pending,
        (false, Some(_)) => ScrapeState::Down,
        (false, None) => ScrapeState::Up,
    };
    let series = match state {
        ScrapeState::Up => api
            .query(
                &format!("sum(scrape_samples_scraped{{job=\"{job}\"}})"),
                None,
            )
            .await
            .ok()
            .and_then(|samples| samples.first().map(|sample| sample.value as u64)),
        _ => None,
    };
    Scrape {
        state,
        instances: scraped
            .iter()
            .map(|target| target.instance.clone())
            .collect(),
        last_error: down.map(|target| target.last_error.clone()),
        series,
        waited_seconds,
    }
}

/// Waits until Prometheus no longer scrapes job `job`.
pub async fn gone(project: &ProjectContext, job: &str) -> Scrape {
    let started = Instant::now();
    let api = match prometheus_api(project).await {
        Ok(api) => api,
        Err(why) => return Scrape::unknown(started, why),
    };
    let deadline = started + DISCOVERY_SLACK;
    loop {
        let remaining: Vec<String> = match api.targets().await {
            Ok(targets) => targets
                .into_iter()
                .filter(|target| target.job == job)
                .map(|target| target.instance)
                .collect(),
            Err(error) => return Scrape::unknown(started, error.to_string()),
        };
        if remaining.is_empty() || Instant::now() >= deadline {
            return Scrape {
                state: if remaining.is_empty() {
                    ScrapeState::Gone
                } else {
                    ScrapeState::StillScraped
                },
                instances: remaining,
                last_error: None,
                series: None,
                waited_seconds: started.elapsed().as_secs_f64(),
            };
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
