//! The screen's state and what each key does: which panel has the focus, the selected row of
//! each, and the overlay (help or a row's details) on top.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What is drawn over the panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    /// The selected row's details, scrolled down this many lines.
    Details {
        scroll: u16,
    },
}

/// What the loop does after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Redraw,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ui {
    /// The focused panel, an index into the panels Tab visits.
    pub focus: usize,
    /// The selected row of each panel.
    pub selected: Vec<usize>,
    pub overlay: Overlay,
}

/// The keys, as the help overlay lists them.
pub const HELP: &[(&str, &str)] = &[
    ("Tab, →", "next panel"),
    ("Shift-Tab, ←", "previous panel"),
    ("↑ ↓", "previous / next row (scrolls details)"),
    ("Enter", "details of the row (an alert's runbook)"),
    ("?", "this help"),
    ("Esc", "close help or details"),
    ("q, Ctrl-C", "quit"),
];

impl Ui {
    pub fn new() -> Self {
        Self {
            focus: 0,
            selected: Vec::new(),
            overlay: Overlay::None,
        }
    }

    /// The selected row of `panel`, kept within its `rows`.
    pub fn row(&self, panel: usize, rows: usize) -> usize {
        self.selected
            .get(panel)
            .copied()
            .unwrap_or(0)
            .min(rows.saturating_sub(1))
    }

    /// Applies `key`, given the number of rows of each panel shown.
    pub fn on_key(&mut self, key: KeyEvent, rows: &[usize]) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::Redraw;
        }
        if key.code == KeyCode::Char('q')
            || (key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL))
        {
            return Action::Quit;
        }
        let panels = rows.len().max(1);
        self.focus = self.focus.min(panels - 1);
        self.selected.resize(panels, 0);
        match (key.code, self.overlay) {
            (KeyCode::Esc, _) => self.overlay = Overlay::None,
            (KeyCode::Char('?'), Overlay::Help) => self.overlay = Overlay::None,
            (KeyCode::Char('?'), _) => self.overlay = Overlay::Help,
            (KeyCode::Up, Overlay::Details { scroll }) => {
                self.overlay = Overlay::Details {
                    scroll: scroll.saturating_sub(1),
                }
            }
            (KeyCode::Down, Overlay::Details { scroll }) => {
                self.overlay = Overlay::Details {
                    scroll: scroll.saturating_add(1),
                }
            }
            (_, Overlay::Help | Overlay::Details { .. }) => {}
            (KeyCode::Tab | KeyCode::Right, Overlay::None) => {
                self.focus = (self.focus + 1) % panels;
            }
            (KeyCode::BackTab | KeyCode::Left, Overlay::None) => {
                self.focus = (self.focus + panels - 1) % panels;
            }
            (KeyCode::Up, Overlay::None) => {
                let row = self.row(self.focus, rows[self.focus]);
                self.selected[self.focus] = row.saturating_sub(1);
            }
            (KeyCode::Down, Overlay::None) => {
                let row = self.row(self.focus, rows[self.focus]);
                self.selected[self.focus] = (row + 1).min(rows[self.focus].saturating_sub(1));
            }
            (KeyCode::Enter, Overlay::None) if rows.get(self.focus).is_some_and(|&n| n > 0) => {
                self.overlay = Overlay::Details { scroll: 0 };
            }
            _ => {}
        }
        Action::Redraw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(ui: &mut Ui, code: KeyCode, rows: &[usize]) -> Action {
        ui.on_key(KeyEvent::new(code, KeyModifiers::NONE), rows)
    }

    #[test]
    fn tab_cycles_the_panels_and_arrows_move_within_one() {
        let mut ui = Ui::new();
        let rows = [5, 3, 0];
        press(&mut ui, KeyCode::BackTab, &rows);
        assert_eq!(ui.focus, 2);
        press(&mut ui, KeyCode::Tab, &rows);
        press(&mut ui, KeyCode::Tab, &rows);
        assert_eq!(ui.focus, 1);
        for _ in 0..5 {
            press(&mut ui, KeyCode::Down, &rows);
        }
        assert_eq!(ui.row(1, 3), 2, "stops at the last row");
        press(&mut ui, KeyCode::Up, &rows);
        assert_eq!(ui.row(1, 3), 1);
        assert_eq!(ui.row(0, 5), 0, "each panel has its own row");
    }

    #[test]
    fn enter_opens_details_help_toggles_escape_closes_and_q_quits() {
        let mut ui = Ui::new();
        let rows = [2, 0];
        press(&mut ui, KeyCode::Enter, &rows);
        assert_eq!(ui.overlay, Overlay::Details { scroll: 0 });
        press(&mut ui, KeyCode::Down, &rows);
        assert_eq!(ui.overlay, Overlay::Details { scroll: 1 });
        press(&mut ui, KeyCode::Tab, &rows);
        assert_eq!(ui.focus, 0, "keys under an overlay do not move the focus");
        press(&mut ui, KeyCode::Esc, &rows);
        press(&mut ui, KeyCode::Tab, &rows);
        press(&mut ui, KeyCode::Enter, &rows);
        assert_eq!(ui.overlay, Overlay::None, "no details of an empty panel");
        press(&mut ui, KeyCode::Char('?'), &rows);
        assert_eq!(ui.overlay, Overlay::Help);
        press(&mut ui, KeyCode::Char('?'), &rows);
        assert_eq!(ui.overlay, Overlay::None);
        assert_eq!(press(&mut ui, KeyCode::Char('q'), &rows), Action::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(ui.on_key(ctrl_c, &rows), Action::Quit);
    }
}
