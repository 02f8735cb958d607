//! Progress lines on stderr, drawn only when stderr is a terminal: a spinner with a message, and
//! one that follows an image's pull or build.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::docker::images::ImageProgress;

/// A one-line spinner with a message on stderr, drawn only when stderr is a terminal.
pub(super) struct Spinner(Option<ProgressBar>);

impl Spinner {
    pub(super) fn start(message: String) -> Self {
        Self(std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(message);
            bar
        }))
    }

    /// Whether anything is drawn, so callers can skip formatting messages nobody sees.
    pub(super) fn is_shown(&self) -> bool {
        self.0.is_some()
    }

    pub(super) fn set_message(&self, message: String) {
        if let Some(bar) = &self.0 {
            bar.set_message(message);
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// A spinner following one component's image: collecting host files, sending the build
/// context, each build step, or the pull's status with byte counts.
pub(super) struct BuildProgress {
    spinner: Spinner,
    name: &'static str,
}

impl BuildProgress {
    pub(super) fn start(name: &'static str) -> Self {
        Self {
            spinner: Spinner::start(format!("{name}: getting its image")),
            name,
        }
    }

    pub(super) fn show(&self, event: &ImageProgress) {
        if !self.spinner.is_shown() {
            return;
        }
        let message = match event {
            ImageProgress::Preparing { image } => {
                format!("building {image} from the host's files: collecting them")
            }
            ImageProgress::Sending { bytes, .. } => format!(
                "building: sending {} to Docker",
                super::images::megabytes(*bytes)
            ),
            ImageProgress::Building { step, .. } => format!("building: {step}"),
            ImageProgress::Pulling {
                image,
                status,
                current,
                total,
            } => {
                let bytes = match (current, total) {
                    (Some(current), Some(total)) if *total > 0 => format!(
                        " {:.1}/{:.1} MB",
                        *current as f64 / 1e6,
                        *total as f64 / 1e6
                    ),
                    _ => String::new(),
                };
                format!("pulling {image}: {status}{bytes}")
            }
        };
        self.spinner
            .set_message(format!("{}: {message}", self.name));
    }

    pub(super) fn finish(&self) {
        self.spinner.finish();
    }
}
