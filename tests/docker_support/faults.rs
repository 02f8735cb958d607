//! Faults the tests inject, and what they watch while the stack heals: `docker kill`, an image
//! whose process exits at once, the Engine's container-create events, an Engine outage (a
//! unix-socket proxy in front of the Engine that a test cuts and restores), the daemon's
//! self-metrics, and a component answering again after a fault.
//!
//! Killing a container, building an arbitrary image and following events are things monibox
//! itself never does, so its Docker layer has no operation for them: these go to the Engine API
//! through bollard directly, on the Engine the tests use (DOCKER_HOST or the default socket).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bollard::query_parameters::{BuildImageOptions, EventsOptions, KillContainerOptions};
use futures_util::StreamExt;
use monibox::docker::{ContainerStatus, labels};
use monibox::httpc::HttpClient;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::docker;

/// Limit of one Engine call made here.
const ENGINE_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a recovering component is looked at.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

fn engine() -> bollard::Docker {
    bollard::Docker::connect_with_local_defaults().expect("a Docker Engine client")
}

/// `docker kill <container>` (SIGKILL): a stop Docker's restart policies ignore.
pub async fn kill_container(container: &str) {
    let options = KillContainerOptions {
        signal: "KILL".to_owned(),
    };
    tokio::time::timeout(
        ENGINE_CALL_TIMEOUT,
        engine().kill_container(container, Some(options)),
    )
    .await
    .unwrap_or_else(|_| panic!("docker kill {container} did not answer in time"))
    .unwrap_or_else(|error| panic!("docker kill {container}: {error}"));
}

/// Builds `tag` from a Dockerfile alone (no other files in the context), e.g. a variant of an
/// image that is already present.
pub async fn build_image(tag: &str, dockerfile: &str) {
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    archive
        .append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .expect("packing the Dockerfile");
    let context = archive.into_inner().expect("packing the build context");
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_owned(),
        t: Some(tag.to_owned()),
        rm: true,
        forcerm: true,
        ..Default::default()
    };
    let engine = engine();
    let build = async {
        // The body must be Some: bollard panics on a build without one.
        let mut stream =
            engine.build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(item) = stream.next().await {
            let info = item.unwrap_or_else(|error| panic!("building {tag}: {error}"));
            if let Some(detail) = info.error_detail {
                panic!("building {tag}: {detail:?}");
            }
        }
    };
    tokio::time::timeout(ENGINE_CALL_TIMEOUT, build)
        .await
        .unwrap_or_else(|_| panic!("building {tag} took longer than {ENGINE_CALL_TIMEOUT:?}"));
}

/// The containers the Engine creates for one component of a project, in order, with the
/// Engine's own timestamps, from the moment [`CreationWatch::start`] returns.
pub struct CreationWatch {
    created: mpsc::UnboundedReceiver<(String, SystemTime)>,
    task: JoinHandle<()>,
}

impl CreationWatch {
    pub fn start(project: &str, component: &str) -> Self {
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            ("event".to_owned(), vec!["create".to_owned()]),
            (
                "label".to_owned(),
                vec![
                    format!("{}={project}", labels::PROJECT),
                    format!("{}={component}", labels::COMPONENT),
                ],
            ),
        ]);
        // The Engine replays events since this instant, so none is missed however late the
        // stream's request goes out.
        let since = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("a clock after 1970");
        let since = format!("{}.{:09}", since.as_secs(), since.subsec_nanos());
        let (sender, created) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let engine = engine();
            let mut events = engine.events(Some(EventsOptions {
                since: Some(since),
                filters: Some(filters),
                ..Default::default()
            }));
            while let Some(Ok(event)) = events.next().await {
                let id = event.actor.and_then(|actor| actor.id).unwrap_or_default();
                let nanos = event.time_nano.and_then(|nanos| u64::try_from(nanos).ok());
                let at = nanos.map_or_else(SystemTime::now, |nanos| {
                    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
                });
                if sender.send((id, at)).is_err() {
                    return;
                }
            }
        });
        Self { created, task }
    }

    /// The next creation, or None when none comes before `deadline`.
    pub async fn next(&mut self, deadline: Instant) -> Option<(String, SystemTime)> {
        tokio::time::timeout_at(deadline.into(), self.created.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for CreationWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until `container` runs again after a fault at `since` — recreated (an id other than
/// `old_id`) or started again — and answers `path` on its published `port`; panics at
/// `deadline`. Returns its status and when it first answered.
pub async fn wait_recovered(
    container: &str,
    old_id: &str,
    since: SystemTime,
    port: u16,
    path: &str,
    deadline: Instant,
) -> (ContainerStatus, Instant) {
    let docker = docker().await;
    let client = HttpClient::new(Duration::from_secs(1));
    loop {
        let inspected =
            tokio::time::timeout(ENGINE_CALL_TIMEOUT, docker.inspect_container(container)).await;
        let last = match inspected {
            Ok(Ok(Some(status))) => {
                let fresh =
                    status.id != old_id || status.started_at.is_some_and(|started| started > since);
                match status.host_address(port) {
                    Some(address) if status.is_running() && fresh => {
                        match client.get(&format!("http://{address}{path}")).await {
                            Ok(response) if response.status.is_success() => {
                                return (status, Instant::now());
                            }
                            Ok(response) => format!("HTTP {}", response.status),
                            Err(error) => error.to_string(),
                        }
                    }
                    _ => format!(
                        "state {:?}, id {}, started {:?}",
                        status.state, status.id, status.started_at
                    ),
                }
            }
            Ok(Ok(None)) => "no such container".to_owned(),
            Ok(Err(error)) => error.to_string(),
            Err(_) => "inspect did not answer".to_owned(),
        };
        assert!(
            Instant::now() < deadline,
            "{container} did not recover in time; last seen: {last}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The value of one sample of the daemon's self-metrics (`GET <ops>/metrics`): the series named
/// `name` carrying every label of `labels`. None when there is no such series.
pub async fn ops_metric(ops_url: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let response = HttpClient::new(Duration::from_secs(5))
        .get(&format!("{ops_url}/metrics"))
        .await
        .expect("the daemon's /metrics");
    assert!(
        response.status.is_success(),
        "GET /metrics: {}",
        response.status
    );
    let text = response.text();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let wanted = metric == name
                && labels.iter().all(|(key, value)| {
                    label_text
                        .split(',')
                        .any(|pair| pair == format!("{key}=\"{value}\""))
                });
            if wanted { value.parse().ok() } else { None }
        })
}

/// The daemon's log (`daemon.log` in the project's state directory); empty if there is none.
pub fn daemon_log(project_dir: &Path) -> String {
    std::fs::read_to_string(project_dir.join("daemon.log")).unwrap_or_default()
}

/// A stand-in for the Docker Engine's socket: a unix socket that forwards every connection to
/// the real one, until the test cuts it (the socket stops accepting and every open connection,
/// an events stream included, is dropped, as when the Engine stops) and restores it.
pub struct EngineProxy {
    path: PathBuf,
    upstream: PathBuf,
    serving: Option<Serving>,
}

struct Serving {
    stop: CancellationToken,
    connections: TaskTracker,
    accept: JoinHandle<()>,
}

impl EngineProxy {
    /// Serves at `path`, forwarding to the Engine the tests use.
    pub fn start(path: &Path) -> Self {
        let upstream = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|host| !host.is_empty())
            .map_or_else(
                || PathBuf::from("/var/run/docker.sock"),
                |host| {
                    PathBuf::from(
                        host.strip_prefix("unix://")
                            .expect("the Engine proxy needs a unix:// DOCKER_HOST"),
                    )
                },
            );
        let mut proxy = Self {
            path: path.to_owned(),
            upstream,
            serving: None,
        };
        proxy.restore();
        proxy
    }

    /// The DOCKER_HOST value that reaches the Engine through this proxy.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The outage: stop accepting (connecting is refused) and drop every open connection.
    pub async fn cut(&mut self) {
        let Some(serving) = self.serving.take() else {
            return;
        };
        serving.stop.cancel();
        serving.connections.close();
        tokio::time::timeout(Duration::from_secs(5), async {
            let _ = serving.accept.await;
            serving.connections.wait().await;
        })
        .await
        .expect("the proxy's connections end within 5 s of the cut");
    }

    /// The Engine is back: accept and forward again.
    pub fn restore(&mut self) {
        if self.serving.is_some() {
            return;
        }
        // The old listener is gone but its socket file stays; bind needs the name free.
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path).expect("binding the Engine proxy's socket");
        let stop = CancellationToken::new();
        let connections = TaskTracker::new();
        let accept = tokio::spawn(accept_loop(
            listener,
            self.upstream.clone(),
            stop.clone(),
            connections.clone(),
        ));
        self.serving = Some(Serving {
            stop,
            connections,
            accept,
        });
    }
}

impl Drop for EngineProxy {
    fn drop(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.stop.cancel();
            serving.accept.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn accept_loop(
    listener: UnixListener,
    upstream: PathBuf,
    stop: CancellationToken,
    connections: TaskTracker,
) {
    loop {
        let client = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                // Out of descriptors or the like: try again shortly rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        connections.spawn(forward(client, upstream.clone(), stop.clone()));
    }
}

async fn forward(mut client: UnixStream, upstream: PathBuf, stop: CancellationToken) {
    let Ok(mut engine) = UnixStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        () = stop.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut engine) => {}
    }
}
