//! Helpers shared by the integration tests: an in-process demo service on 127.0.0.1:0 and a
//! parser for the classic text exposition, so tests can read what the server counted.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use monibox::demo::{DemoService, DemoSettings};
use monibox::httpc::HttpClient;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A demo service running in the test's runtime; `stop` shuts it down gracefully.
pub struct RunningDemo {
    pub base_url: String,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
}

impl RunningDemo {
    pub async fn start(settings: DemoSettings) -> Self {
        let service = DemoService::bind(&["127.0.0.1:0".parse().unwrap()], settings)
            .await
            .expect("bind the demo service");
        let base_url = format!("http://{}", service.local_addrs()[0]);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            service.run(token).await.expect("demo service runs");
        });
        Self {
            base_url,
            shutdown,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Scrapes `/metrics` in the classic format.
    pub async fn scrape(&self) -> Samples {
        let response = client().get(&self.url("/metrics")).await.unwrap();
        assert_eq!(response.status, 200);
        Samples::parse(&response.text())
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("the demo service stops within its drain timeout")
            .unwrap();
    }
}

/// An address on 127.0.0.1 that refuses connections for as long as this lives: its port is
/// bound but never listened on, so no other process can take it meanwhile (as one could a port
/// that was merely free a moment ago).
pub struct RefusingPort {
    pub addr: SocketAddr,
    _socket: tokio::net::TcpSocket,
}

impl RefusingPort {
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        Self {
            addr,
            _socket: socket,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// An address on 127.0.0.1 whose connection attempts hang for as long as this lives: its accept
/// queue (one connection, from `listen(0)`) is full, so the kernel drops further SYNs, as a
/// firewall would.
pub struct StalledPort {
    pub addr: SocketAddr,
    _listener: tokio::net::TcpListener,
    _queued: tokio::net::TcpStream,
}

impl StalledPort {
    pub async fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        let listener = socket.listen(0).unwrap();
        let queued = tokio::net::TcpStream::connect(addr).await.unwrap();
        Self {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub fn client() -> HttpClient {
    HttpClient::new(Duration::from_secs(15))
}

/// Samples of one scrape: series (name with its labels, sorted) → value.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub series: BTreeMap<(String, BTreeMap<String, String>), f64>,
}

impl Samples {
    pub fn parse(text: &str) -> Self {
        let mut series = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (head, value) = line.rsplit_once(' ').expect("sample line has a value");
            let value: f64 = value.parse().expect("sample value is a number");
            let (name, labels) = match head.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'))),
                None => (head, BTreeMap::new()),
            };
            series.insert((name.to_owned(), labels), value);
        }
        Self { series }
    }

    /// The value of the one series named `name` whose labels include `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<f64> = self.matching(name, labels).collect();
        assert!(
            matching.len() <= 1,
            "{name}{labels:?} matches {} series",
            matching.len()
        );
        matching.first().copied()
    }

    /// Sum over every series named `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).sum()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = f64> + 'a {
        self.series.iter().filter_map(move |((n, l), v)| {
            let wanted = n == name
                && labels
                    .iter()
                    .all(|(k, want)| l.get(*k).is_some_and(|have| have == want));
            wanted.then_some(*v)
        })
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(if escaped == 'n' { '\n' } else { escaped });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').trim().to_owned(), value);
        rest = after[end..].trim_start_matches(',');
    }
    labels
}
