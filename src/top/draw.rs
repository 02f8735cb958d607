//! The full-screen frame (ratatui): a header line, the components and the endpoints across the
//! width, then two columns of the other panels, each titled, saying when its values are stale,
//! with the focused panel's selected row highlighted; help and details drawn on top. Fits
//! 80×24; a larger terminal gives the lower panels more rows and the sparklines more width.
//! Without colour (`NO_COLOR`), focus and alarms show as reverse video and bold.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use super::model::Snapshot;
use super::rows::{PanelView, panels};
use super::ui::{HELP, Overlay, Ui};

/// Columns left of the endpoints' sparkline at the narrowest.
const ENDPOINT_COLUMNS_WIDTH: u16 = 58;

/// Draws `snapshot` with `ui`'s focus and overlay; `color` false for `NO_COLOR`. Returns the
/// number of rows of each panel, in Tab order, for the keys.
pub fn frame(frame: &mut Frame, snapshot: &Snapshot, ui: &Ui, color: bool) -> Vec<usize> {
    let area = frame.area();
    let spark_width = usize::from(area.width.saturating_sub(ENDPOINT_COLUMNS_WIDTH)).clamp(8, 60);
    let views = panels(snapshot, spark_width, SystemTime::now());
    let [header, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(Paragraph::new(header_line(snapshot)), header);

    let height = |view: &PanelView| view.rows.len().max(1) as u16 + 2;
    let components_height = height(&views[0]).min(body.height / 3).max(3);
    let endpoints_height = height(&views[1])
        .min(body.height.saturating_sub(components_height) / 2)
        .max(3);
    let [components, endpoints, lower] = Layout::vertical([
        Constraint::Length(components_height),
        Constraint::Length(endpoints_height),
        Constraint::Fill(1),
    ])
    .areas(body);
    // The lower panels in rows of two, so neighbours share their top line: targets down and
    // the webhook, alerts and the next panel present (load, containers, SLOs), and so on; an
    // odd last one takes the whole width.
    let lower_order: Vec<usize> = [2, 4, 3].into_iter().chain(5..views.len()).collect();
    let pairs: Vec<&[usize]> = lower_order.chunks(2).collect();
    let row_areas = Layout::vertical(pairs.iter().map(|_| Constraint::Fill(1))).split(lower);
    let mut places = vec![Rect::default(); views.len()];
    places[0] = components;
    places[1] = endpoints;
    for (pair, row) in pairs.iter().zip(row_areas.iter()) {
        let cells = Layout::horizontal(pair.iter().map(|_| Constraint::Fill(1)))
            .spacing(2)
            .split(*row);
        for (index, area) in pair.iter().zip(cells.iter()) {
            places[*index] = *area;
        }
    }
    for (index, (view, place)) in views.iter().zip(&places).enumerate() {
        let focused = index == ui.focus.min(views.len() - 1);
        let selected = focused.then(|| ui.row(index, view.rows.len()));
        panel(frame, view, *place, selected, color);
    }
    match ui.overlay {
        Overlay::None => {}
        Overlay::Help => {
            let mut lines = vec![Line::from("Keys"), Line::from("")];
            lines.extend(
                HELP.iter()
                    .map(|(keys, what)| Line::from(format!("{keys:<14} {what}"))),
            );
            lines.push(Line::from(""));
            lines.push(Line::from(
                "Figures are Prometheus's over the last minute; a panel whose source does not \
                 answer says so and how old its values are.",
            ));
            overlay(frame, " Help ", lines, 0);
        }
        Overlay::Details { scroll } => {
            let focus = ui.focus.min(views.len() - 1);
            let view = &views[focus];
            if let Some(row) = view.rows.get(ui.row(focus, view.rows.len())) {
                let lines = row.details.iter().map(|line| Line::from(line.as_str()));
                overlay(frame, " Details (Esc closes) ", lines.collect(), scroll);
            }
        }
    }
    views.iter().map(|view| view.rows.len()).collect()
}

fn header_line(snapshot: &Snapshot) -> Line<'static> {
    let time = snapshot
        .taken_at
        .split('T')
        .nth(1)
        .unwrap_or(&snapshot.taken_at)
        .to_owned();
    let every = humantime::format_duration(Duration::from_secs_f64(snapshot.interval_seconds));
    let mut spans = vec![
        Span::styled("monibox top", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(" · {} · ", snapshot.project)),
    ];
    if !snapshot.running {
        spans.push(Span::styled(
            "not running · ",
            Style::new().add_modifier(Modifier::BOLD),
        ));
    }
    spans.push(Span::raw(format!(
        "{time} · every {every} · ? help · q quit"
    )));
    Line::from(spans)
}

fn alarm_style(color: bool) -> Style {
    if color {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::BOLD)
    }
}

fn panel(frame: &mut Frame, view: &PanelView, area: Rect, selected: Option<usize>, color: bool) {
    let title = Span::styled(
        format!(" {} ", view.title),
        if selected.is_some() {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        },
    );
    let note_style = if color {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new().add_modifier(Modifier::UNDERLINED)
    };
    let mut title = vec![title];
    // With rows to show, the freshness note goes in the title line, shortened in the middle so
    // its reason's start and its age stay; without rows, it is the body, wrapped.
    let note_in_title = view.note.as_ref().filter(|_| !view.rows.is_empty());
    if let Some(note) = note_in_title {
        let room = usize::from(area.width).saturating_sub(view.title.chars().count() + 4);
        if room >= MIN_TEXT_COLUMN {
            title.push(Span::styled(
                format!("{} ", shorten(note, room)),
                note_style,
            ));
        }
    }
    let block = Block::new().borders(Borders::TOP).title(Line::from(title));
    let body = block.inner(area);
    frame.render_widget(block, area);
    if view.rows.is_empty() {
        if let Some(note) = &view.note {
            frame.render_widget(
                Paragraph::new(note.as_str())
                    .style(note_style)
                    .wrap(Wrap { trim: true }),
                body,
            );
            return;
        }
    }
    if view.rows.is_empty() {
        frame.render_widget(Paragraph::new(format!(" {}", view.empty)), body);
        return;
    }
    let widest: Vec<usize> = (0..view.header.len())
        .map(|column| {
            view.rows
                .iter()
                .map(|row| row.cells.get(column).map_or(0, |cell| cell.chars().count()))
                .chain([view.header[column].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let fitted = fit_columns(&widest, &view.right, usize::from(body.width));
    let shown = |column: &usize| fitted.get(*column).is_some_and(|width| *width > 0);
    let widths: Vec<Constraint> = fitted
        .iter()
        .filter(|width| **width > 0)
        .map(|&width| Constraint::Length(width as u16))
        .collect();
    let cell = |text: &str, column: usize| {
        let line = Line::from(shorten(text, fitted.get(column).copied().unwrap_or(0)));
        Cell::from(if view.right.contains(&column) {
            line.right_aligned()
        } else {
            line
        })
    };
    let header = Row::new(
        view.header
            .iter()
            .enumerate()
            .filter(|(column, _)| shown(column))
            .map(|(column, text)| cell(text, column)),
    )
    .style(Style::new().add_modifier(Modifier::DIM));
    let rows = view.rows.iter().map(|row| {
        let cells = row
            .cells
            .iter()
            .enumerate()
            .filter(|(column, _)| shown(column))
            .map(|(column, text)| cell(text, column));
        let row_widget = Row::new(cells);
        if row.alarm {
            row_widget.style(alarm_style(color))
        } else {
            row_widget
        }
    });
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(COLUMN_SPACING as u16)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::new().with_selected(selected);
    frame.render_stateful_widget(table, body, &mut state);
}

fn overlay(frame: &mut Frame, title: &'static str, lines: Vec<Line<'_>>, scroll: u16) {
    let area = frame.area();
    let width = area.width.saturating_sub(4).min(100);
    let height = area.height.saturating_sub(2);
    let place = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, place);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(title))
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        place,
    );
}

/// Spacing between table columns, in cells.
const COLUMN_SPACING: usize = 2;
/// A shortened text column keeps at least this many cells.
const MIN_TEXT_COLUMN: usize = 6;

/// Column widths that fit `available` cells: when the widest texts do not fit, the widest
/// left-aligned (text) columns give up cells, down to [`MIN_TEXT_COLUMN`]; numbers (`right`)
/// keep their width. If that is not enough, the rightmost columns are left out (width 0)
/// rather than shown cut, down to the first.
fn fit_columns(widest: &[usize], right: &[usize], available: usize) -> Vec<usize> {
    let mut widths = widest.to_vec();
    let spacing = COLUMN_SPACING * widths.len().saturating_sub(1);
    let mut excess = (widths.iter().sum::<usize>() + spacing).saturating_sub(available);
    while excess > 0 {
        let Some((column, width)) = widths
            .iter()
            .enumerate()
            .filter(|(column, width)| !right.contains(column) && **width > MIN_TEXT_COLUMN)
            .max_by_key(|(_, width)| **width)
            .map(|(column, width)| (column, *width))
        else {
            break;
        };
        widths[column] = width - 1;
        excess -= 1;
    }
    while excess > 0 {
        match widths.iter().rposition(|width| *width > 0) {
            Some(last) if last > 0 => {
                excess = excess.saturating_sub(widths[last] + COLUMN_SPACING);
                widths[last] = 0;
            }
            _ => break,
        }
    }
    widths
}

/// `text` in at most `width` cells: when longer, its start and end around a `…`, so names
/// that differ only at the end (container names) stay apart.
fn shorten(text: &str, width: usize) -> String {
    let length = text.chars().count();
    if length <= width || width == 0 {
        return text.to_owned();
    }
    let tail = (width - 1) / 2;
    let head = width - 1 - tail;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(length - tail).collect();
    format!("{start}…{end}")
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::top::text::tests::snapshot;

    fn screen(ui: &Ui, width: u16, height: u16) -> (String, Vec<usize>) {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a terminal");
        let mut rows = Vec::new();
        terminal
            .draw(|f| rows = frame(f, &snapshot(), ui, false))
            .expect("drawing");
        let buffer = terminal.backend().buffer();
        let text = (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n");
        (text, rows)
    }

    #[test]
    fn the_screen_fits_80_by_24_with_every_panel_and_its_freshness() {
        let (text, rows) = screen(&Ui::new(), 80, 24);
        for title in [
            "Components",
            "Endpoints",
            "Targets down",
            "Alerts",
            "Webhook",
        ] {
            assert!(text.contains(title), "{title}:\n{text}");
        }
        assert!(text.contains("/slow"), "{text}");
        assert!(text.contains("Prometheus not answering"), "{text}");
        assert!(text.contains("values 12s"), "{text}");
        assert!(text.contains("no values"), "{text}");
        assert_eq!(rows, vec![0, 1, 0, 0, 0]);
    }

    #[test]
    fn help_and_details_are_drawn_over_the_panels() {
        let mut ui = Ui::new();
        ui.overlay = Overlay::Help;
        let (text, _) = screen(&ui, 80, 24);
        assert!(text.contains("Shift-Tab"), "{text}");
        ui.focus = 1;
        ui.overlay = Overlay::Details { scroll: 0 };
        let (text, _) = screen(&ui, 120, 40);
        assert!(text.contains("Details"), "{text}");
        assert!(text.contains("p95 450ms"), "{text}");
    }

    #[test]
    fn a_narrow_screen_leaves_columns_out_instead_of_cutting_numbers() {
        let (text, _) = screen(&Ui::new(), 40, 10);
        let header = text
            .lines()
            .find(|line| line.contains("REQ/S"))
            .unwrap_or_else(|| panic!("no endpoints header:\n{text}"));
        // JOB and ENDPOINT are text, shortened with an ellipsis; the figures' names stay whole.
        let names = ["REQ/S", "ERR", "P50", "P95", "P99"];
        for word in header.split_whitespace().skip(2) {
            assert!(names.contains(&word), "{word:?} cut in:\n{text}");
        }
        // The /slow row's figures are whole: 12.5 req/s, 0.0%, p50 200ms.
        let row = text
            .lines()
            .find(|line| line.contains("/slow"))
            .unwrap_or_default();
        for word in row.split_whitespace().skip(2) {
            assert!(
                ["12.5", "0.0%", "200ms", "450ms", "490ms"].contains(&word),
                "{word:?} in:\n{text}"
            );
        }
    }

    #[test]
    fn text_columns_shorten_in_the_middle_and_numbers_keep_their_width() {
        // NAME (22), CPU (6, right), MEMORY (8, right) in 30 cells.
        assert_eq!(fit_columns(&[22, 6, 8], &[1, 2], 30), vec![12, 6, 8]);
        assert_eq!(fit_columns(&[22, 6, 8], &[1, 2], 80), vec![22, 6, 8]);
        // Too narrow even then: the rightmost columns go whole, the first stays.
        assert_eq!(fit_columns(&[22, 6, 8], &[1, 2], 16), vec![6, 6, 0]);
        assert_eq!(fit_columns(&[22, 6, 8], &[1, 2], 10), vec![6, 0, 0]);
        assert_eq!(fit_columns(&[22, 6, 8], &[1, 2], 3), vec![6, 0, 0]);
        assert_eq!(shorten("monibox-shop-prometheus", 12), "monibo…theus");
        assert_eq!(shorten("ErrorBudgetBurn", 10), "Error…Burn");
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("ab", 1), "…");
    }
}
