//! Validated value types used in the configuration: each one checks its input while it is being
//! deserialized, so a bad value is reported by the TOML parser with the key and line it came from.

use std::fmt;
use std::num::NonZeroU16;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The project name: it becomes part of Docker names (`monibox-<project>-<component>`) and of
/// label values, so it is kept to lowercase letters, digits and hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectName(String);

impl ProjectName {
    pub const MAX_LEN: usize = 32;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProjectName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        let valid_chars = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if name.is_empty()
            || name.len() > Self::MAX_LEN
            || !valid_chars
            || name.starts_with('-')
            || name.ends_with('-')
        {
            return Err(format!(
                "invalid project name {name:?}: use 1 to {} lowercase letters, digits and \
                 hyphens, not starting or ending with a hyphen (it becomes part of Docker names)",
                Self::MAX_LEN
            ));
        }
        Ok(Self(name))
    }
}

impl From<ProjectName> for String {
    fn from(name: ProjectName) -> Self {
        name.0
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A TCP port on the host: a fixed number, or `auto` for a free port chosen at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    Auto,
    Fixed(NonZeroU16),
}

impl Port {
    /// A fixed port from a known number; 0 is not one (that is what `auto` means).
    pub const fn fixed(port: u16) -> Self {
        match NonZeroU16::new(port) {
            Some(port) => Port::Fixed(port),
            None => panic!("port 0 is not a fixed port: use Port::Auto"),
        }
    }

    /// The fixed port number, or `None` for `auto`.
    pub fn number(self) -> Option<u16> {
        match self {
            Port::Auto => None,
            Port::Fixed(port) => Some(port.get()),
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Port::Auto => f.write_str("auto"),
            Port::Fixed(port) => write!(f, "{port}"),
        }
    }
}

impl Serialize for Port {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Port::Auto => serializer.serialize_str("auto"),
            Port::Fixed(port) => serializer.serialize_u16(port.get()),
        }
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortVisitor;

        impl Visitor<'_> for PortVisitor {
            type Value = Port;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number from 1 to 65535 or \"auto\"")
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Port, E> {
                u16::try_from(value)
                    .ok()
                    .and_then(NonZeroU16::new)
                    .map(Port::Fixed)
                    .ok_or_else(|| {
                        E::custom(format!(
                            "port {value} is out of range: use 1 to 65535, or \"auto\" for a free port"
                        ))
                    })
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Port, E> {
                self.visit_i64(i64::try_from(value).unwrap_or(i64::MAX))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Port, E> {
                if value == "auto" {
                    return Ok(Port::Auto);
                }
                match value.parse::<i64>() {
                    Ok(number) => self.visit_i64(number),
                    Err(_) => Err(E::custom(format!(
                        "invalid port {value:?}: use a number from 1 to 65535 or \"auto\""
                    ))),
                }
            }
        }

        deserializer.deserialize_any(PortVisitor)
    }
}

/// An `http://` or `https://` URL with a host, for webhook and chat receivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The authority: what lies between `://` and the path.
    fn authority(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        rest.split(['/', '?', '#']).next().unwrap_or(rest)
    }

    /// The host (an IPv6 address without brackets) and the port (the scheme's when none is
    /// given); `None` when the port is not a number from 1 to 65535.
    pub fn host_port(&self) -> Option<(&str, u16)> {
        let authority = self.authority();
        let authority = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let default = if self.0.starts_with("https://") {
            443
        } else {
            80
        };
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']')?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            None => default,
            Some(port) => port.parse::<u16>().ok().filter(|&port| port > 0)?,
        };
        Some((host, port))
    }

    /// Whether the URL has `user:password@` in it.
    pub fn has_credentials(&self) -> bool {
        self.authority().contains('@')
    }

    /// Whether the host is this machine's loopback (`localhost`, 127.0.0.0/8, `::1`).
    pub fn is_loopback(&self) -> bool {
        self.host_port().is_some_and(|(host, _)| {
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
    }

    /// The URL with its host replaced by `host` (and the port kept).
    pub fn with_host(&self, host: &str) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let authority = self.authority();
        let port = self.host_port().map_or(0, |(_, port)| port);
        format!("{scheme}://{host}:{port}{}", &rest[authority.len()..])
    }
}

impl TryFrom<String> for HttpUrl {
    type Error = String;

    fn try_from(url: String) -> Result<Self, Self::Error> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        let has_host = rest.is_some_and(|rest| {
            !rest.is_empty() && !rest.starts_with('/') && !rest.starts_with(':')
        });
        if !has_host || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "invalid URL {url:?}: use an http:// or https:// URL with a host and no spaces"
            ));
        }
        Ok(Self(url))
    }
}

impl From<HttpUrl> for String {
    fn from(url: HttpUrl) -> Self {
        url.0
    }
}

/// A single-line, non-empty text value (image names, e-mail addresses, channel names): line
/// breaks and control characters are refused because the value is written into other files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Line(String);

impl Line {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Line {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        if text.trim().is_empty() || text.chars().any(char::is_control) {
            return Err(format!(
                "invalid value {text:?}: it must be non-empty text on one line"
            ));
        }
        Ok(Self(text))
    }
}

impl From<Line> for String {
    fn from(line: Line) -> Self {
        line.0
    }
}

impl From<&str> for Line {
    /// For built-in constants only; user input goes through `TryFrom<String>`.
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

/// A Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MetricName(String);

impl MetricName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MetricName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if !valid {
            return Err(format!(
                "invalid metric name {name:?}: use letters, digits, `_` and `:`, not starting \
                 with a digit"
            ));
        }
        Ok(Self(name))
    }
}

impl From<MetricName> for String {
    fn from(name: MetricName) -> Self {
        name.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_docker_safe() {
        for good in ["default", "a", "team-1", "x".repeat(32).as_str()] {
            assert!(ProjectName::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Upper",
            "under_score",
            "-lead",
            "trail-",
            "sp ace",
            &"x".repeat(33),
        ] {
            assert!(ProjectName::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        assert!(HttpUrl::try_from("http://localhost:5001/alerts".to_owned()).is_ok());
        assert!(HttpUrl::try_from("https://hooks.example.com/x".to_owned()).is_ok());
        for bad in [
            "localhost:5001",
            "ftp://x",
            "http://",
            "http:///x",
            "http://a b",
        ] {
            assert!(HttpUrl::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}

/// Why a PromQL query's brackets and quotes do not pair up (`(` `)`, `[` `]`, `{` `}`, and
/// strings in `"`, `'` or `` ` ``), or None when they do: the one check of a user's query that
/// needs no PromQL parser, so a typo is an error at load time and not a Prometheus that refuses
/// its rules. Positions count characters from 1.
pub fn unpaired_delimiter(query: &str) -> Option<String> {
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut chars = query.chars().enumerate();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                let mut closed = false;
                while let Some((_, inner)) = chars.next() {
                    if inner == '\\' && c != '`' {
                        chars.next();
                    } else if inner == c {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Some(format!(
                        "the string opened at character {} is never closed",
                        index + 1
                    ));
                }
            }
            '(' | '[' | '{' => open.push((c, index)),
            ')' | ']' | '}' => {
                let wanted = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                match open.pop() {
                    Some((opener, _)) if opener == wanted => {}
                    _ => {
                        return Some(format!(
                            "{c:?} at character {} closes nothing open",
                            index + 1
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    open.pop()
        .map(|(c, index)| format!("{c:?} at character {} is never closed", index + 1))
}

#[cfg(test)]
mod delimiter_tests {
    use super::unpaired_delimiter;

    #[test]
    fn brackets_and_strings_must_pair_up() {
        assert_eq!(
            unpaired_delimiter(r#"sum(rate(x{a="(",b='}'}[{{.window}}]))"#),
            None
        );
        assert_eq!(
            unpaired_delimiter("sum(rate(foo[{{.window}}]").as_deref(),
            Some("'(' at character 9 is never closed")
        );
        assert_eq!(
            unpaired_delimiter("rate(x[5m]))").as_deref(),
            Some("')' at character 12 closes nothing open")
        );
        assert!(unpaired_delimiter("rate(x{a=\"b}[5m])").is_some());
        assert!(unpaired_delimiter("rate(x[5m)]").is_some());
    }
}
