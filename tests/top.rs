//! `monibox top` against a real stack (host-built Prometheus and Alertmanager, the Grafana
//! stand-in, fast timing) under a bounded `monibox load`:
//!
//! - `top --json` twice: the endpoints' figures and the load test's are present and move from one
//!   frame to the next; `top --once` is the same frame as plain text without escape codes;
//! - the full-screen view in a real terminal (tmux, 80×24): the screen fills, Tab moves the
//!   focus (Enter then shows another panel's details), `?` shows the help, `q` gives the shell
//!   its prompt back with the terminal restored, and so does SIGTERM;
//! - without a terminal, `top` says to use `--once`.

mod docker_support;

use std::time::{Duration, Instant};

use docker_support::TestStack;
use serde_json::Value;

/// How long the stack may take to show figures, and the load runs.
const FIGURES_WITHIN: Duration = Duration::from_secs(60);
const LOAD_FOR: &str = "90s";

/// Polls `top --json` until `done` holds; panics with the last frame at the deadline.
async fn frame_where(stack: &TestStack, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + FIGURES_WITHIN;
    loop {
        let output = stack.run(&["top", "--json"]).await;
        assert_eq!(output.code, Some(0), "{output:?}");
        let frame: Value = serde_json::from_str(&output.stdout)
            .unwrap_or_else(|error| panic!("top --json printed no JSON ({error}): {output:?}"));
        if done(&frame) {
            return frame;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not within {FIGURES_WITHIN:?}: {frame:#}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn endpoint<'a>(frame: &'a Value, path: &str) -> Option<&'a Value> {
    frame["endpoints"]["values"]
        .as_array()?
        .iter()
        .find(|row| row["job"] == "app" && row["endpoint"] == path)
}

fn has_traffic(frame: &Value) -> bool {
    ["/", "/slow"].iter().all(|path| {
        endpoint(frame, path).is_some_and(|row| {
            row["requests_per_second"]
                .as_f64()
                .is_some_and(|rate| rate > 0.0)
                && row["p95_seconds"].as_f64().is_some()
        })
    }) && frame["load"]["values"]["runs"]
        .as_f64()
        .is_some_and(|runs| runs >= 1.0)
}

/// A tmux server of its own (its own socket, in a temporary directory), killed when dropped.
struct Tmux {
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// A detached 80×24 session running a plain bash whose prompt is `ready$ `.
    fn start() -> Tmux {
        let dir = tempfile::Builder::new()
            .prefix("monibox-top-tmux-")
            .tempdir()
            .expect("a temp dir");
        let tmux = Tmux {
            socket: dir.path().join("socket"),
            _dir: dir,
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            "top",
            "env",
            "PS1=ready$ ",
            "TERM=xterm-256color",
            "NO_COLOR=1",
            "bash",
            "--norc",
            "--noprofile",
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (scripts/test.sh installs it)");
        assert!(output.status.success(), "tmux {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Sends each key (or literal text) on its own, a moment apart: an Escape followed at once
    /// by another key would read as Alt plus that key.
    fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.run(&["send-keys", "-t", "top", key]);
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    /// Waits (bounded) until the screen shows `done`; returns it.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{what}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The pid of the shell in the pane.
    fn shell_pid(&self) -> u32 {
        self.run(&["display-message", "-p", "-t", "top", "#{pane_pid}"])
            .trim()
            .parse()
            .expect("a pid")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// The full screen: more than 20 of the 24 lines written, every panel titled.
fn filled(screen: &str) -> bool {
    screen
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count()
        > 20
        && [
            "Components",
            "Endpoints",
            "Targets down",
            "Alerts",
            "Webhook",
        ]
        .iter()
        .all(|title| screen.contains(title))
}

/// The shell's prompt is back, the full screen is gone and the terminal is cooked again.
fn assert_shell_restored(tmux: &Tmux, after: &str) {
    tmux.wait_for(&format!("the prompt after {after}"), |screen| {
        screen.trim_end().ends_with("ready$") && !screen.contains("Webhook")
    });
    tmux.keys(&[
        "stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo | sort | tr '\\n' +",
        "Enter",
    ]);
    tmux.wait_for(&format!("a cooked terminal after {after}"), |screen| {
        screen.contains("echo+icanon+")
    });
    tmux.keys(&["clear", "Enter"]);
}

/// `monibox top` as typed in the shell.
fn top_command(stack: &TestStack) -> String {
    format!(
        "{} top --config {} --state-dir {}",
        env!("CARGO_BIN_EXE_monibox"),
        stack.config_path.display(),
        stack.state_dir.path().display()
    )
}

/// The interactive part, blocking (tmux and sleeps): run it off the async workers.
fn interactive(command: &str) {
    let tmux = Tmux::start();
    tmux.wait_for("the prompt", |screen| screen.contains("ready$"));
    tmux.keys(&[command, "Enter"]);
    let screen = tmux.wait_for("the screen fills with figures", |screen| {
        filled(screen) && screen.contains("/slow")
    });
    assert!(screen.lines().count() <= 24, "{screen}");

    // Enter shows the focused panel's row: the components first, after Tab the endpoints.
    tmux.keys(&["Enter"]);
    tmux.wait_for("a component's details", |screen| {
        screen.contains("Details") && screen.contains("url: http")
    });
    tmux.keys(&["Escape", "Tab", "Enter"]);
    tmux.wait_for("an endpoint's details after Tab", |screen| {
        screen.contains("Details") && screen.contains("requests/s, 5 min")
    });
    tmux.keys(&["Escape", "?"]);
    tmux.wait_for("the help", |screen| {
        screen.contains("Shift-Tab") && screen.contains("quit")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the help closed", |screen| {
        !screen.contains("Shift-Tab") && filled(screen)
    });
    tmux.keys(&["q"]);
    assert_shell_restored(&tmux, "q");

    tmux.keys(&[command, "Enter"]);
    tmux.wait_for("the screen again", filled);
    let shell = tmux.shell_pid();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("the shell's children");
    let top: i32 = children
        .split_whitespace()
        .next()
        .expect("top runs")
        .parse()
        .expect("a pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(top),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM to top");
    assert_shell_restored(&tmux, "SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_shows_a_loaded_stack_as_text_json_and_in_a_terminal() {
    let stack = TestStack::new("top").await;
    let up = stack.run(&["up", "--timing", "fast"]).await;
    assert_eq!(up.code, Some(0), "{up:?}");

    let load = stack.run(&[
        "load",
        "--users",
        "4",
        "--think-time",
        "50ms",
        "--mix",
        "/=50,/slow=30,/error=20",
        "--duration",
        LOAD_FOR,
        "--json",
    ]);
    let checks = async {
        let first = frame_where(
            &stack,
            "traffic on / and /slow and the load run",
            has_traffic,
        )
        .await;
        for panel in ["components", "targets_down", "alerts", "notifications"] {
            assert!(first[panel]["error"].is_null(), "{panel}: {first:#}");
        }
        let prometheus = first["components"]["values"]
            .as_array()
            .expect("components")
            .iter()
            .find(|component| component["name"] == "prometheus")
            .expect("prometheus");
        assert_eq!(prometheus["health"], "healthy", "{first:#}");
        let rates = |frame: &Value| {
            ["/", "/slow", "/error"]
                .map(|path| endpoint(frame, path).map(|row| row["requests_per_second"].clone()))
        };
        let steps = |frame: &Value| {
            endpoint(frame, "/").map_or(0, |row| {
                row["history"]["requests_per_second"]
                    .as_array()
                    .map_or(0, Vec::len)
            })
        };
        // Moving, with a sparkline of several steps (of 5 s) once the stack has run a while.
        let moved = frame_where(&stack, "the figures moving, a sparkline", |frame| {
            has_traffic(frame) && rates(frame) != rates(&first) && steps(frame) >= 3
        })
        .await;
        assert!(
            endpoint(&moved, "/error").expect("/error")["error_ratio"]
                .as_f64()
                .is_some_and(|ratio| ratio > 0.1),
            "/error fails at the demo's error rate (0.3): {moved:#}"
        );

        let once = stack.run(&["top", "--once"]).await;
        assert_eq!(once.code, Some(0), "{once:?}");
        assert!(
            !once.stdout.contains('\u{1b}'),
            "no escape codes: {}",
            once.stdout
        );
        for text in [
            "Components",
            "Endpoints (last minute)",
            "/slow",
            "Load test",
            "healthy",
        ] {
            assert!(once.stdout.contains(text), "{text}: {}", once.stdout);
        }
        let command = top_command(&stack);
        tokio::task::spawn_blocking(move || interactive(&command))
            .await
            .expect("the interactive part passes");
    };
    let (load, ()) = tokio::join!(load, checks);
    assert!(matches!(load.code, Some(0 | 1)), "{load:?}");
    stack.cleanup().await;
}

#[test]
fn without_a_terminal_top_says_to_print_one_frame() {
    let state = tempfile::tempdir().expect("a state dir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_monibox"))
        .args(["top", "--project", "no-terminal", "--state-dir"])
        .arg(state.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running monibox");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--once or --json"),
        "{output:?}"
    );
}
