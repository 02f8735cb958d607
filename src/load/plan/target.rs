//! The target: a plain-HTTP base URL, split into what the client resolves (host, port), what it
//! sends (`Host` header, request paths under the base path) and what reports show.

use std::fmt;
use std::str::FromStr;

use hyper::Uri;

use super::PlanError;

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
        if !text.is_ascii() || text.bytes().any(|byte| byte.is_ascii_control()) {
            return Err(error(
                "only ASCII without spaces or control characters; percent-encode the rest",
            ));
        }
        if text.contains('#') {
            return Err(error("a base URL has no #fragment"));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
            // Found by fuzzing: the fragment was dropped and the NEL kept inside the path, so
            // the URL shown did not parse back to the same target.
            "2/\u{34f}\u{85}#",
            "http://h/a#b",
            "http://h/\u{e9}",
            "http://h/a\tb",
        ] {
            assert!(
                matches!(bad.parse::<Target>(), Err(PlanError::Target { .. })),
                "{bad:?}"
            );
        }
    }
}
