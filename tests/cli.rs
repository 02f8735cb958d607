//! The command line as a user meets it: help, completions, and output into a closed pipe.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

fn monibox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_monibox"))
}

#[test]
fn help_lists_the_main_commands_first() {
    let output = monibox().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    let position = |name: &str| {
        help.find(&format!("\n  {name} "))
            .unwrap_or_else(|| panic!("{name} is in the help:\n{help}"))
    };
    assert!(position("up") < position("status"));
    assert!(position("status") < position("down"));
    assert!(position("down") < position("load"));
    assert!(
        !help.contains("\n  daemon "),
        "the daemon command is internal"
    );
    assert!(help.contains("Exit codes: 0 ok, 1 unhealthy"));
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_monibox()"),
        ("zsh", "#compdef monibox"),
        ("fish", "complete -c monibox"),
    ] {
        let output = monibox().args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(
            script.contains(marker),
            "{shell}: {}",
            &script[..200.min(script.len())]
        );
    }
    let output = monibox().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_closed_stdout_ends_quietly() {
    // The reading end is closed before monibox writes, as `monibox ... | head -0` would.
    let mut child = monibox()
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    let output = monibox().args(["up", "--no-such-flag"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}

#[test]
fn logs_and_reload_have_help_with_examples_and_completions() {
    for (command, example) in [
        ("logs", "monibox logs -f"),
        ("reload", "monibox reload --json"),
    ] {
        let output = monibox().args([command, "--help"]).output().unwrap();
        assert!(output.status.success(), "{command}");
        let help = String::from_utf8(output.stdout).unwrap();
        assert!(help.contains(example), "{command}: {help}");
    }
    let output = monibox().args(["completions", "bash"]).output().unwrap();
    let script = String::from_utf8(output.stdout).unwrap();
    for word in [
        "monibox__subcmd__logs",
        "monibox__subcmd__reload",
        "prometheus alertmanager grafana node-exporter daemon",
    ] {
        assert!(script.contains(word), "{word} is completed");
    }
}

#[test]
fn a_bad_tail_is_a_usage_error_naming_the_value() {
    let output = monibox().args(["logs", "--tail", "ten"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"ten\" is not a number of lines"),
        "{stderr}"
    );
}
