//! `monibox top`: the stack at a glance in the terminal, like `htop` or `k9s` for their worlds.
//! Every interval a [`gather::Gatherer`] takes a [`model::Snapshot`] (the status report and the
//! dashboards' Prometheus queries); [`draw`] shows it full-screen (ratatui on crossterm) and
//! [`ui`] applies the keys; [`text`] prints one frame for `--once` and `--json`. The terminal is
//! restored on every way out: `q`/Ctrl-C, SIGTERM, SIGINT, SIGHUP, an error, and a panic
//! (ratatui's panic hook restores it before the message is printed).

mod draw;
pub mod gather;
pub mod model;
mod rows;
pub mod text;
mod ui;

use std::time::Duration;

use crossterm::event::{Event, EventStream};
use futures_util::StreamExt as _;
use tokio::signal::unix::{SignalKind, signal};

use gather::Gatherer;
use ui::{Action, Ui};

/// Runs the full-screen view until a quit key or a signal, refreshing every `interval`;
/// `color` false draws without colour (`NO_COLOR`). Errors: the terminal cannot be set up or
/// written to, or signals cannot be listened for.
pub async fn run(
    mut gatherer: Gatherer<'_>,
    interval: Duration,
    color: bool,
) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(error) => {
            // Raw mode may be on already.
            ratatui::restore();
            return Err(error.into());
        }
    };
    let result = async {
        let mut events = EventStream::new();
        let mut ui = Ui::new();
        let mut snapshot = gatherer.gather().await;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut rows = Vec::new();
            terminal.draw(|frame| rows = draw::frame(frame, &snapshot, &ui, color))?;
            tokio::select! {
                _ = ticks.tick() => snapshot = gatherer.gather().await,
                event = events.next() => match event {
                    Some(Ok(Event::Key(key))) => {
                        if ui.on_key(key, &rows) == Action::Quit {
                            return Ok(());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(error.into()),
                    None => return Ok(()),
                },
                _ = terminate.recv() => return Ok(()),
                _ = interrupt.recv() => return Ok(()),
                _ = hangup.recv() => return Ok(()),
            }
        }
    }
    .await;
    ratatui::restore();
    result
}
