//! Sending samples beyond this machine: `[[remote_write]]` (one table per destination — Mimir,
//! Thanos Receive, VictoriaMetrics, another Prometheus with `--web.enable-remote-write-receiver`)
//! and `[prometheus]` (the external labels every series and alert leaving Prometheus carries,
//! and `mode = "agent"`: Prometheus only scrapes and forwards).
//!
//! ```toml
//! [prometheus]
//! mode = "server"                       # or "agent": scrape and forward, no local queries/rules
//! external_labels = { region = "eu" }   # besides monibox_project and host
//!
//! [[remote_write]]
//! url = "https://mimir.example.com/api/v1/push"
//! name = "mimir"                                      # optional
//! bearer_token_file = "/run/secrets/mimir-token"      # or basic_auth = { username, password_file }
//! headers = { "X-Scope-OrgID" = "team-a" }            # optional
//! queue = { capacity = 10000, max_shards = 50, max_samples_per_send = 2000, batch_send_deadline = "5s" }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{BasicAuth, HttpUrl, LabelName, Line, PromDuration};

/// `[prometheus]`: how the stack's Prometheus runs and labels what leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusSettings {
    pub mode: PrometheusMode,
    /// Added to every series and alert that leaves Prometheus (remote write, federation,
    /// Alertmanager), besides `monibox_project` and `host`, which these may override.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<LabelName, Line>,
}

/// Server (the default: stores, queries, evaluates rules) or agent (scrapes and forwards to
/// `[[remote_write]]` only; Prometheus's agent mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrometheusMode {
    #[default]
    Server,
    Agent,
}

impl fmt::Display for PrometheusMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrometheusMode::Server => "server",
            PrometheusMode::Agent => "agent",
        })
    }
}

/// One `[[remote_write]]` destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWrite {
    /// The receiver's push endpoint, e.g. `http://mimir:9009/api/v1/push`.
    pub url: HttpUrl,
    /// Names the queue in Prometheus's metrics (`remote_name`); unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Line>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Extra HTTP headers, e.g. `X-Scope-OrgID` for a multi-tenant Mimir.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Line>,
    #[serde(default)]
    pub queue: Queue,
}

/// Prometheus's `queue_config`, with its own defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Queue {
    /// Samples buffered per shard before reading from the WAL blocks.
    pub capacity: u32,
    pub max_shards: u32,
    pub max_samples_per_send: u32,
    /// The longest a sample waits in a shard before it is sent.
    pub batch_send_deadline: PromDuration,
}

impl Default for Queue {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_shards: 50,
            max_samples_per_send: 2_000,
            batch_send_deadline: PromDuration::from_secs(5),
        }
    }
}

/// Headers Prometheus sets itself and refuses in `headers`.
const RESERVED_HEADERS: [&str; 6] = [
    "authorization",
    "host",
    "content-encoding",
    "content-type",
    "user-agent",
    "x-prometheus-remote-write-version",
];

impl RemoteWrite {
    /// The name of monibox's copy of its bearer token file (`index`: its place in the list).
    pub fn bearer_token_copy(index: usize) -> String {
        format!("remote-write-{index}-bearer-token")
    }

    /// The name of monibox's copy of its basic-auth password file.
    pub fn password_copy(index: usize) -> String {
        format!("remote-write-{index}-password")
    }

    /// What spans several keys: credentials given twice, relative credential files, headers
    /// Prometheus sets itself or that are not header names, queue sizes of 0. The error names
    /// the key.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.url.has_credentials() {
            return Err((
                "url".to_owned(),
                "credentials in the URL would be written into prometheus.yml; use basic_auth \
                 with a password_file, or bearer_token_file"
                    .to_owned(),
            ));
        }
        if self.url.host_port().is_none() {
            return Err((
                "url".to_owned(),
                format!("{:?} has no valid port (1 to 65535)", self.url.as_str()),
            ));
        }
        if self.bearer_token_file.is_some() && self.basic_auth.is_some() {
            return Err((
                "basic_auth".to_owned(),
                "give either bearer_token_file or basic_auth, not both".to_owned(),
            ));
        }
        let files = [
            ("bearer_token_file", self.bearer_token_file.as_ref()),
            (
                "basic_auth.password_file",
                self.basic_auth.as_ref().map(|auth| &auth.password_file),
            ),
        ];
        for (key, file) in files {
            if let Some(file) = file.filter(|file| !file.is_absolute()) {
                return Err((
                    key.to_owned(),
                    format!("{} must be an absolute path", file.display()),
                ));
            }
        }
        for name in self.headers.keys() {
            let token = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
            if !token {
                return Err((
                    format!("headers.{name}"),
                    format!("{name:?} is not an HTTP header name"),
                ));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err((
                    format!("headers.{name}"),
                    if name.eq_ignore_ascii_case("authorization") {
                        format!(
                            "Prometheus sets {name} itself; use bearer_token_file or basic_auth \
                             for credentials"
                        )
                    } else {
                        format!("Prometheus sets {name} itself for remote write")
                    },
                ));
            }
        }
        let sizes = [
            ("queue.capacity", self.queue.capacity),
            ("queue.max_shards", self.queue.max_shards),
            (
                "queue.max_samples_per_send",
                self.queue.max_samples_per_send,
            ),
        ];
        for (key, value) in sizes {
            if value == 0 {
                return Err((key.to_owned(), "it must be at least 1".to_owned()));
            }
        }
        if self.queue.batch_send_deadline.as_millis() == 0 {
            return Err((
                "queue.batch_send_deadline".to_owned(),
                "it must be longer than 0".to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(text: &str) -> RemoteWrite {
        toml::from_str(text).expect("a remote_write table")
    }

    #[test]
    fn urls_with_credentials_or_a_bad_port_are_refused_and_loopback_is_moved() {
        for (url, key) in [
            ("http://u:p@r:9090/w", "url"),
            ("http://r:99999/w", "url"),
            ("http://r:0/w", "url"),
        ] {
            let error = remote(&format!("url = {url:?}\n")).check().expect_err(url);
            assert_eq!(error.0, key, "{url}: {error:?}");
        }
        let local = remote("url = \"http://127.0.0.1:9091/api/v1/write?x=1\"\n");
        assert!(local.url.is_loopback());
        assert_eq!(local.url.host_port(), Some(("127.0.0.1", 9091)));
        assert_eq!(
            local.url.with_host("host.docker.internal"),
            "http://host.docker.internal:9091/api/v1/write?x=1"
        );
        let v6 = remote("url = \"https://[::1]/w\"\n");
        assert_eq!(v6.url.host_port(), Some(("::1", 443)));
        assert!(v6.url.is_loopback());
        assert!(!remote("url = \"http://mimir:80/w\"\n").url.is_loopback());
    }

    #[test]
    fn defaults_are_prometheus_own_and_checks_name_the_key() {
        let minimal = remote("url = \"http://r:9090/api/v1/write\"\n");
        assert_eq!(minimal.queue, Queue::default());
        assert_eq!(minimal.check(), Ok(()));
        let cases = [
            (
                "url = \"http://r\"\nbearer_token_file = \"t\"\n",
                "bearer_token_file",
            ),
            (
                "url = \"http://r\"\nbearer_token_file = \"/t\"\nbasic_auth = { username = \"u\", password_file = \"/p\" }\n",
                "basic_auth",
            ),
            (
                "url = \"http://r\"\nheaders = { Authorization = \"x\" }\n",
                "headers.Authorization",
            ),
            (
                "url = \"http://r\"\nheaders = { \"a b\" = \"x\" }\n",
                "headers.a b",
            ),
            (
                "url = \"http://r\"\nqueue = { max_shards = 0 }\n",
                "queue.max_shards",
            ),
        ];
        for (text, key) in cases {
            assert_eq!(
                remote(text).check().map_err(|(k, _)| k),
                Err(key.to_owned()),
                "{text}"
            );
        }
        assert!(toml::from_str::<RemoteWrite>("url = \"ftp://r\"\n").is_err());
    }
}
