//! The control socket: a unix socket (mode 0600, in the 0700 project state directory) that
//! speaks one line of JSON each way per connection.
//!
//! ```text
//! → {"command":"status"}      ← {"result":"status","project":"default","pid":1234,...}
//! → {"command":"shutdown"}    ← {"result":"shutting_down"}
//! → {"command":"hold"}        ← {"result":"held","expires_in_seconds":120.0}
//! → {"command":"resume"}      ← {"result":"resumed"}
//! ```
//!
//! `hold` stops the supervisor's restarts (until `resume`, or by itself after two minutes) and
//! answers once no restart is under way: `up` and `reload` send it before they change the
//! stack, and `resume` after they wrote the final stack.json, which the supervisor, the
//! loopback relays and Docker discovery then re-read.
//!
//! The daemon serves it ([`ControlListener`]); `up`, `status` and `down` use [`request`].

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::discovery::DiscoverySnapshot;
use crate::supervise::{SupervisorHandle, SupervisorSnapshot};

/// Longest request line accepted.
const MAX_LINE_BYTES: u64 = 4096;
/// How long a client may take to send its request line.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections served at once; the socket is only for monibox's own commands.
const MAX_CONNECTIONS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ControlRequest {
    Status,
    Shutdown,
    Hold,
    Resume,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ControlResponse {
    Status(Box<DaemonStatus>),
    ShuttingDown,
    Held { expires_in_seconds: f64 },
    Resumed,
    Error { message: String },
}

/// What a running daemon says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub project: String,
    pub pid: u32,
    pub version: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub uptime_seconds: f64,
    pub app_listen: Vec<SocketAddr>,
    pub ops_listen: Vec<SocketAddr>,
    /// The digest of the settings it was started with (see `stack::record::DaemonRecord`).
    pub settings_digest: String,
    /// Webhook notifications and the alerts in them received so far.
    pub notifications_total: u64,
    pub alerts_total: u64,
    /// The supervisor of the project's containers (empty from a daemon without one).
    #[serde(default)]
    pub supervisor: SupervisorSnapshot,
    /// Docker discovery's targets and skipped containers.
    #[serde(default)]
    pub discovery: DiscoverySnapshot,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no daemon answers on {}", path.display())]
    NotRunning { path: PathBuf },
    #[error("the daemon on {} did not answer within {timeout:?}", path.display())]
    Timeout { path: PathBuf, timeout: Duration },
    #[error("the daemon on {} answered something unexpected: {message}", path.display())]
    Protocol { path: PathBuf, message: String },
    #[error(
        "another monibox daemon already answers on {}: stop it with `monibox down` first",
        path.display()
    )]
    AlreadyRunning { path: PathBuf },
    #[error("cannot listen on the control socket {}: {error}", path.display())]
    Bind {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Sends one request to the daemon listening on `path` and returns its answer, all within
/// `timeout`.
pub async fn request(
    path: &Path,
    request: ControlRequest,
    timeout: Duration,
) -> Result<ControlResponse, ControlError> {
    let exchange = async {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|_| ControlError::NotRunning {
                path: path.to_owned(),
            })?;
        let (reader, mut writer) = stream.into_split();
        let protocol = |message: String| ControlError::Protocol {
            path: path.to_owned(),
            message,
        };
        let mut line = serde_json::to_string(&request).map_err(|e| protocol(e.to_string()))?;
        line.push('\n');
        writer
            .write_all(line.as_bytes())
            .await
            .map_err(|e| protocol(e.to_string()))?;
        let mut answer = String::new();
        BufReader::new(reader)
            .take(64 * 1024)
            .read_line(&mut answer)
            .await
            .map_err(|e| protocol(e.to_string()))?;
        serde_json::from_str(answer.trim()).map_err(|e| protocol(format!("{e}: {answer:?}")))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(ControlError::Timeout {
                path: path.to_owned(),
                timeout,
            })
        })
}

/// The daemon's end of the control socket, bound and ready.
#[derive(Debug)]
pub struct ControlListener {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlListener {
    /// Binds the socket (mode 0600). A socket file nobody answers on is left over from a daemon
    /// that died, and is replaced; one that answers belongs to a running daemon: an error.
    pub async fn bind(path: &Path) -> Result<Self, ControlError> {
        if path.exists() {
            if UnixStream::connect(path).await.is_ok() {
                return Err(ControlError::AlreadyRunning {
                    path: path.to_owned(),
                });
            }
            let _ = std::fs::remove_file(path);
        }
        let bind_error = |error| ControlError::Bind {
            path: path.to_owned(),
            error,
        };
        let listener = UnixListener::bind(path).map_err(bind_error)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(bind_error)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
        })
    }

    /// Answers requests until `shutdown` is cancelled; a `shutdown` request cancels it. The
    /// socket file is removed on the way out.
    pub async fn run(
        self,
        status: Arc<dyn Fn() -> DaemonStatus + Send + Sync>,
        supervisor: SupervisorHandle,
        on_resume: Arc<dyn Fn() + Send + Sync>,
        shutdown: CancellationToken,
    ) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => break,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let stream = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "control socket accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let (status, supervisor, on_resume, shutdown) = (
                status.clone(),
                supervisor.clone(),
                on_resume.clone(),
                shutdown.clone(),
            );
            tokio::spawn(async move {
                answer(
                    stream,
                    status.as_ref(),
                    &supervisor,
                    on_resume.as_ref(),
                    &shutdown,
                )
                .await;
                drop(permit);
            });
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn answer(
    stream: UnixStream,
    status: &(dyn Fn() -> DaemonStatus + Send + Sync),
    supervisor: &SupervisorHandle,
    on_resume: &(dyn Fn() + Send + Sync),
    shutdown: &CancellationToken,
) {
    let (reader, mut writer) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(reader).take(MAX_LINE_BYTES);
    let read = reader.read_line(&mut line);
    let response = match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(_)) => match serde_json::from_str::<ControlRequest>(line.trim()) {
            Ok(ControlRequest::Status) => ControlResponse::Status(Box::new(status())),
            Ok(ControlRequest::Shutdown) => {
                tracing::info!("shutdown requested on the control socket");
                shutdown.cancel();
                ControlResponse::ShuttingDown
            }
            Ok(ControlRequest::Hold) => ControlResponse::Held {
                expires_in_seconds: supervisor.hold().await.as_secs_f64(),
            },
            Ok(ControlRequest::Resume) => {
                supervisor.resume();
                on_resume();
                ControlResponse::Resumed
            }
            Err(error) => ControlResponse::Error {
                message: format!(
                    "expected a command status, shutdown, hold or resume \
                     (as {{\"command\":\"status\"}}): {error}"
                ),
            },
        },
        Ok(Err(error)) => ControlResponse::Error {
            message: error.to_string(),
        },
        Err(_) => return,
    };
    if let Ok(mut text) = serde_json::to_string(&response) {
        text.push('\n');
        let _ = writer.write_all(text.as_bytes()).await;
        let _ = writer.shutdown().await;
    }
}
