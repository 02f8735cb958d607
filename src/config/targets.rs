//! The user's own scrape targets (`[[targets]]`): a job name, an address, and how to scrape it.
//! Each value checks itself while it is parsed, so a bad one is reported with its key and line;
//! [`Target::check`] adds what spans several keys.
//!
//! ```toml
//! [[targets]]
//! name = "shop"                 # the Prometheus job
//! address = "127.0.0.1:8080"    # host:port, or a URL with scheme and path
//! path = "/metrics"             # optional (default /metrics, or the URL's path)
//! scheme = "http"               # optional: http or https (default http, or the URL's)
//! interval = "15s"              # optional: the profile's scrape interval otherwise
//! labels = { team = "web" }     # optional: added to every series of the job
//! bearer_token_file = "/run/secrets/shop-token"             # optional
//! basic_auth = { username = "u", password_file = "/p" }     # optional
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Line, PromDuration};

/// Jobs monibox scrapes itself; a target may not take their names.
pub const RESERVED_JOBS: [&str; 8] = [
    "app",
    "monibox",
    "containers",
    "prometheus",
    "alertmanager",
    "grafana",
    "docker",
    "node",
];

/// One scrape target of the user's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The Prometheus job: letters, digits, `_` and `-`, starting with a letter.
    pub name: JobName,
    pub address: TargetAddress,
    /// The metrics path; `/metrics` (or the address URL's path) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<MetricsPath>,
    /// `http` or `https`; `http` (or the address URL's scheme) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Scheme>,
    /// How often it is scraped; the timing profile's interval when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<PromDuration>,
    /// Labels added to every series of the job (Prometheus label names).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<LabelName, Line>,
    /// A file holding the bearer token sent as `Authorization: Bearer <token>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
}

/// HTTP basic authentication; the password is read from a file, never written in the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: Line,
    pub password_file: PathBuf,
}

impl Target {
    /// The scheme the target is scraped with.
    pub fn effective_scheme(&self) -> Scheme {
        self.scheme.or(self.address.scheme).unwrap_or(Scheme::Http)
    }

    /// The metrics path the target is scraped at.
    pub fn effective_path(&self) -> &str {
        self.path
            .as_ref()
            .map(MetricsPath::as_str)
            .or(self.address.path.as_deref())
            .unwrap_or("/metrics")
    }

    /// The file of its bearer token, as monibox names its copy for a containerised Prometheus.
    pub fn bearer_token_copy(&self) -> String {
        format!("{}-bearer-token", self.name)
    }

    /// The file of its basic-auth password, as monibox names its copy.
    pub fn password_copy(&self) -> String {
        format!("{}-password", self.name)
    }

    /// Every credential file the target reads: the name of monibox's copy and the original.
    pub fn credential_files(&self) -> Vec<(String, &std::path::Path)> {
        let mut files = Vec::new();
        if let Some(token) = &self.bearer_token_file {
            files.push((self.bearer_token_copy(), token.as_path()));
        }
        if let Some(auth) = &self.basic_auth {
            files.push((self.password_copy(), auth.password_file.as_path()));
        }
        files
    }

    /// What spans several keys of one target: a path given twice, credentials given twice,
    /// credential files that are not absolute. The error names the key.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let (Some(path), Some(in_url)) = (&self.path, &self.address.path) {
            if path.as_str() != in_url {
                return Err((
                    "path",
                    format!(
                        "{:?} differs from the path in the address ({in_url:?}); give it once",
                        path.as_str()
                    ),
                ));
            }
        }
        if let (Some(scheme), Some(in_url)) = (self.scheme, self.address.scheme) {
            if scheme != in_url {
                return Err((
                    "scheme",
                    format!("{scheme} differs from the address's {in_url}; give it once"),
                ));
            }
        }
        if self.bearer_token_file.is_some() && self.basic_auth.is_some() {
            return Err((
                "basic_auth",
                "give either bearer_token_file or basic_auth, not both".to_owned(),
            ));
        }
        if let Some(interval) = self.interval.filter(|interval| interval.as_millis() < 1000) {
            return Err((
                "interval",
                format!("{interval} is too short: scrape at most once a second (\"1s\" or more)"),
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
                return Err((key, format!("{} must be an absolute path", file.display())));
            }
        }
        Ok(())
    }
}

/// A Prometheus job name for a user target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobName(String);

impl JobName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JobName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && name.len() <= 64;
        if !valid {
            return Err(format!(
                "invalid target name {name:?}: use up to 64 letters, digits, `_` and `-`, \
                 starting with a letter (it becomes the Prometheus job)"
            ));
        }
        if RESERVED_JOBS.contains(&name.as_str()) {
            return Err(format!(
                "{name:?} is a job monibox scrapes itself ({}); choose another name",
                RESERVED_JOBS.join(", ")
            ));
        }
        Ok(Self(name))
    }
}

impl From<JobName> for String {
    fn from(name: JobName) -> Self {
        name.0
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not reserved by Prometheus or used by the
/// job itself).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LabelName(String);

impl LabelName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LabelName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "invalid label name {name:?}: use letters, digits and `_`, not starting with a digit"
            ));
        }
        if name.starts_with("__") || name == "job" || name == "instance" {
            return Err(format!(
                "the label {name:?} is set by Prometheus itself; choose another name"
            ));
        }
        Ok(Self(name))
    }
}

impl From<LabelName> for String {
    fn from(name: LabelName) -> Self {
        name.0
    }
}

/// The metrics path: absolute, no query, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MetricsPath(String);

impl MetricsPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MetricsPath {
    type Error = String;

    fn try_from(path: String) -> Result<Self, Self::Error> {
        if !path.starts_with('/')
            || path.contains(['?', '#'])
            || path.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "invalid path {path:?}: use an absolute path such as /metrics, without a query"
            ));
        }
        Ok(Self(path))
    }
}

impl From<MetricsPath> for String {
    fn from(path: MetricsPath) -> Self {
        path.0
    }
}

/// How a target is scraped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        })
    }
}

/// Where a target listens: `host:port`, or a URL `http(s)://host:port/path`. `localhost`,
/// `127.0.0.1` and `::1` mean this machine, as the user means it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TargetAddress {
    /// As written.
    text: String,
    /// The host: a name, an IPv4 address, or an IPv6 address without brackets.
    pub host: String,
    pub port: u16,
    pub scheme: Option<Scheme>,
    pub path: Option<String>,
}

impl TargetAddress {
    /// Whether the host is this machine's loopback, which containers cannot reach directly.
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// `host:port`, with an IPv6 host in brackets.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for TargetAddress {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let bad = |why: &str| {
            format!(
                "invalid address {text:?}: {why}; use host:port (e.g. 127.0.0.1:8080) or a URL \
                 such as http://shop.internal:8080/metrics"
            )
        };
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it has spaces or control characters"));
        }
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("http://") {
            (Some(Scheme::Http), rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (Some(Scheme::Https), rest)
        } else if text.contains("://") {
            return Err(bad("only http and https are scraped"));
        } else {
            (None, text.as_str())
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], Some(&rest[at..])),
            None => (rest, None),
        };
        if path.is_some() && scheme.is_none() {
            return Err(bad("a path needs a URL with a scheme"));
        }
        if authority.contains('@') {
            return Err(bad("credentials belong in basic_auth, not in the address"));
        }
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let (host, after) = inner.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains(['/', '?', '#', '[', ']']) {
            return Err(bad("it has no host"));
        }
        let port = match (port, scheme) {
            (Some(port), _) => port
                .parse::<u16>()
                .ok()
                .filter(|&port| port != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
            (None, Some(Scheme::Http)) => 80,
            (None, Some(Scheme::Https)) => 443,
            (None, None) => return Err(bad("it has no port")),
        };
        if let Some(path) = path {
            MetricsPath::try_from(path.to_owned()).map_err(|error| bad(&error))?;
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            scheme,
            path: path.map(str::to_owned),
            text,
        })
    }
}

impl From<TargetAddress> for String {
    fn from(address: TargetAddress) -> Self {
        address.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> Result<TargetAddress, String> {
        TargetAddress::try_from(text.to_owned())
    }

    #[test]
    fn addresses_are_host_port_or_urls() {
        let plain = address("127.0.0.1:8080").expect("host:port");
        assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 8080));
        assert!(plain.is_loopback());
        let url = address("https://shop.internal/custom/metrics").expect("URL");
        assert_eq!(url.port, 443);
        assert_eq!(url.scheme, Some(Scheme::Https));
        assert_eq!(url.path.as_deref(), Some("/custom/metrics"));
        assert!(!url.is_loopback());
        let v6 = address("[::1]:9100").expect("IPv6");
        assert!(v6.is_loopback());
        assert_eq!(v6.host_port(), "[::1]:9100");
        assert!(address("localhost:3000").expect("name").is_loopback());
        for bad in [
            "shop",
            "shop:",
            "shop:70000",
            ":8080",
            "ftp://shop:21",
            "shop:80/metrics",
            "http://user:pw@shop:80",
            "http://shop:80/m?x=1",
            "sh op:80",
            "[::1:9100",
        ] {
            assert!(address(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn names_may_not_take_a_built_in_job() {
        assert!(JobName::try_from("shop-api_2".to_owned()).is_ok());
        for bad in ["app", "prometheus", "docker", "2shop", "", "a b"] {
            assert!(JobName::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
        for bad in ["job", "instance", "__name", "9x", "a-b"] {
            assert!(LabelName::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_path_or_scheme_given_twice_must_agree() {
        let target: Target =
            toml::from_str("name = \"shop\"\naddress = \"http://shop:80/a\"\npath = \"/b\"\n")
                .expect("parses");
        assert_eq!(target.check().map_err(|(key, _)| key), Err("path"));
        let target: Target =
            toml::from_str("name = \"shop\"\naddress = \"shop:80\"\nbearer_token_file = \"t\"\n")
                .expect("parses");
        assert_eq!(
            target.check().map_err(|(key, _)| key),
            Err("bearer_token_file")
        );
        let target: Target =
            toml::from_str("name = \"shop\"\naddress = \"https://shop:8443\"\n").expect("parses");
        assert_eq!(target.effective_scheme(), Scheme::Https);
        assert_eq!(target.effective_path(), "/metrics");
        for interval in ["0s", "1ms", "999ms"] {
            let target: Target = toml::from_str(&format!(
                "name = \"shop\"\naddress = \"shop:80\"\ninterval = {interval:?}\n"
            ))
            .expect("parses");
            assert_eq!(target.check().map_err(|(key, _)| key), Err("interval"));
        }
    }
}
