//! The daemon as an operating-system process: launching it detached, its pid file, telling
//! whether a pid is still this project's monibox daemon, and signalling it (SIGTERM, then SIGKILL
//! after a deadline). Other commands use these through [`super::client::DaemonClient`].

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::time::Instant;

use crate::stack::state::{StateError, write_atomic};

/// How often a stopping process is checked.
const EXIT_POLL: Duration = Duration::from_millis(10);

/// Starts `exe daemon --project P --state-dir ROOT --held` in its own process group (so a Ctrl-C
/// in the terminal that ran `up` does not reach it), with no stdin, its output appended to
/// `log_file` and this process's environment (DOCKER_HOST included). It starts held: the caller
/// sends `resume` once the containers are in place. The caller keeps the [`Child`] only to notice
/// an early exit.
pub fn launch(
    exe: &Path,
    project: &str,
    state_root: &Path,
    log_file: &Path,
) -> std::io::Result<Child> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log_file)?;
    Command::new(exe)
        .arg("daemon")
        .arg("--project")
        .arg(project)
        .arg("--state-dir")
        .arg(state_root)
        .arg("--held")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
}

/// Writes the pid file (after the daemon bound its listeners).
pub fn write_pid_file(path: &Path, pid: u32) -> Result<(), StateError> {
    write_atomic(path, format!("{pid}\n").as_bytes(), 0o644)
}

/// The pid in the pid file, if there is a readable one.
pub fn read_pid_file(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether the process exists and has not exited (a zombie waiting to be reaped has).
pub fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may contain anything.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}

/// Whether `pid` runs monibox as this project's daemon (`monibox daemon --project P ...`) or as
/// `monibox up --foreground`, which runs the daemon in-process: a pid file from a crashed daemon
/// may name a pid the system has since given to something else.
pub fn is_project_daemon(pid: u32, project: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = cmdline
        .split(|&byte| byte == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    cmdline_is_project_daemon(&args, project)
}

/// The live `monibox daemon --project <project> --state-dir <state_root>` processes, found in
/// `/proc`: what finds a daemon whose pid file and control socket are gone (its state directory
/// was deleted under it), so it is neither orphaned nor doubled.
pub fn find_daemons(project: &str, state_root: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id();
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own && is_alive(pid))
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<String> = cmdline
                .split(|&byte| byte == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            cmdline_is_daemon_of(&args, project, state_root)
        })
        .collect()
}

/// `monibox daemon --project <project> --state-dir <state_root>`, as `launch` starts it.
fn cmdline_is_daemon_of(args: &[String], project: &str, state_root: &Path) -> bool {
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|index| args.get(index + 1))
    };
    args.iter().skip(1).any(|arg| arg == "daemon")
        && cmdline_is_project_daemon(args, project)
        && value("--state-dir").is_some_and(|dir| Path::new(dir) == state_root)
}

fn cmdline_is_project_daemon(args: &[String], project: &str) -> bool {
    let Some(program) = args.first() else {
        return false;
    };
    let is_monibox = Path::new(program)
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("monibox"));
    let runs_daemon = args
        .iter()
        .skip(1)
        .any(|arg| arg == "daemon" || arg == "up");
    let named_project = args.iter().enumerate().find_map(|(index, arg)| {
        if arg == "--project" {
            args.get(index + 1).map(String::as_str)
        } else {
            arg.strip_prefix("--project=")
        }
    });
    is_monibox && runs_daemon && named_project.is_none_or(|named| named == project)
}

/// How a [`terminate`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// It had already exited.
    AlreadyGone,
    /// It exited after SIGTERM.
    Exited,
    /// It ignored SIGTERM until the deadline and was killed.
    Killed,
}

/// Sends SIGTERM and waits up to `grace` for the process to exit, then sends SIGKILL and waits a
/// little more.
pub async fn terminate(pid: u32, grace: Duration) -> Termination {
    let Ok(raw) = i32::try_from(pid) else {
        return Termination::AlreadyGone;
    };
    let target = Pid::from_raw(raw);
    if !is_alive(pid) || kill(target, Signal::SIGTERM).is_err() {
        return Termination::AlreadyGone;
    }
    if wait_for_exit(pid, grace).await {
        return Termination::Exited;
    }
    tracing::warn!(pid, "the daemon ignored SIGTERM for {grace:?}; killing it");
    let _ = kill(target, Signal::SIGKILL);
    wait_for_exit(pid, Duration::from_secs(2)).await;
    Termination::Killed
}

/// Waits until the process is gone or `timeout` passes; true if it is gone.
pub async fn wait_for_exit(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !is_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(EXIT_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn only_this_projects_monibox_daemon_matches() {
        let p = "demo";
        assert!(cmdline_is_project_daemon(
            &args("/usr/bin/monibox daemon --project demo --state-dir /s"),
            p
        ));
        assert!(cmdline_is_project_daemon(
            &args("target/debug/monibox up --foreground --project=demo"),
            p
        ));
        assert!(cmdline_is_project_daemon(
            &args("monibox up --foreground"),
            p
        ));
        assert!(!cmdline_is_project_daemon(
            &args("/usr/bin/monibox daemon --project other --state-dir /s"),
            p
        ));
        assert!(!cmdline_is_project_daemon(&args("/bin/sleep daemon"), p));
        assert!(!cmdline_is_project_daemon(&args("monibox status"), p));
        assert!(!cmdline_is_project_daemon(&[], p));
    }

    #[test]
    fn a_daemon_is_found_by_its_project_and_state_root() {
        let daemon = args("/usr/bin/monibox daemon --project demo --state-dir /s --held");
        assert!(cmdline_is_daemon_of(&daemon, "demo", Path::new("/s")));
        assert!(!cmdline_is_daemon_of(&daemon, "demo", Path::new("/other")));
        assert!(!cmdline_is_daemon_of(&daemon, "other", Path::new("/s")));
        assert!(!cmdline_is_daemon_of(
            &args("monibox up --foreground --project demo --state-dir /s"),
            "demo",
            Path::new("/s")
        ));
    }

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(is_alive(std::process::id()));
        let mut child = Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!is_alive(pid));
    }
}
