//! Step 2: who the vendor logs in as, and how much the key may do.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crossterm::event::{KeyCode, KeyEvent};

use crate::tui::app::{AccountField, App, Effect, Screen};
use crate::tui::line_edit;
use crate::tui::theme::Theme;
use crate::tui::view::wrap_indented;

/// Width of the label column; notes and errors line up under the fields.
const LABEL: usize = 15;

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let form = &app.account;
    let width = area.width as usize;
    let field_style = |field: AccountField| {
        if form.focus == field {
            theme.focus()
        } else {
            Style::new()
        }
    };
    let label = |text: &str| Span::styled(format!("{text:<w$}", w = LABEL), theme.strong());
    let input = |name: &str, value: &str, field: AccountField| {
        let pad = 30usize.saturating_sub(value.chars().count());
        let (before, after) = if form.focus == field {
            line_edit::split(value, app.edit_cursor)
        } else {
            (value, "")
        };
        let cursor = if form.focus == field { "▏" } else { " " };
        Line::from(vec![
            label(name),
            Span::styled(
                format!("{before}{cursor}{after}{:pad$}", ""),
                field_style(field),
            ),
        ])
    };
    let note = |text: &str, style: Style| -> Vec<Line> {
        wrap_indented(&" ".repeat(LABEL), text, LABEL + 2, width)
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect()
    };
    let error = |message: Option<String>| match message {
        Some(m) => note(&format!("✗ {m}"), theme.error()),
        None => vec![Line::raw("")],
    };

    let mut lines = vec![
        Line::raw(format!(
            "Who {} logs in as on this host. Defaults come from the {} profile.",
            app.profile.name, app.profile.name
        )),
        Line::raw(""),
        input("User", &form.user, AccountField::User),
    ];
    lines.extend(error(form.user_error()));
    lines.push(input("Group", &form.group, AccountField::Group));
    lines.extend(error(form.group_error()));
    let tick = if form.tunnel_only { "x" } else { " " };
    lines.push(Line::from(vec![
        label("Access"),
        Span::styled(
            format!("[{tick}] tunnel-only (recommended)"),
            field_style(AccountField::TunnelOnly),
        ),
    ]));
    lines.extend(note(
        if form.tunnel_only {
            "The key can only open the tunnel: no shell, no commands."
        } else {
            "As the guide does: the key gets a normal login shell and can run commands."
        },
        theme.dim(),
    ));
    lines.push(Line::raw(""));
    lines.push(input("Database", &form.targets, AccountField::Targets));
    lines.extend(match form.parsed_targets() {
        Err(why) => note(&format!("✗ {why}"), theme.error()),
        Ok(_) => note(
            "Optional: the database as HOST:PORT, e.g. db.internal:5432; several separated by spaces. The tunnel can then reach only these.",
            theme.dim(),
        ),
    });
    lines.push(Line::raw(""));
    lines.push(input("Expires", &form.expires, AccountField::Expires));
    lines.extend(match form.parsed_expires(app.state.clock.today()) {
        Err(why) => note(&format!("✗ {why}"), theme.error()),
        Ok(_) => note(
            "Optional: the key's last day, YYYY-MM-DD on this host's clock; sshd refuses the key after it. Empty: never expires.",
            theme.dim(),
        ),
    });
    let tick = if form.from_vendor_ips { "x" } else { " " };
    lines.push(Line::from(vec![
        label("Source"),
        Span::styled(
            format!("[{tick}] only from {}'s addresses", app.profile.name),
            field_style(AccountField::FromVendorIps),
        ),
    ]));
    let options = app.options();
    lines.extend(match options.refusal(&app.profile) {
        Some(why) if form.from_vendor_ips => note(&format!("✗ {why}"), theme.error()),
        _ if form.from_vendor_ips => note(
            &format!(
                "The key works only from the {} addresses of the {} profile: a leaked key is useless anywhere else.",
                app.profile.ips.len(),
                app.profile.name
            ),
            theme.dim(),
        ),
        _ => note("The key works from any address.", theme.dim()),
    });
    if let Some(why) = &app.refusal {
        lines.push(Line::raw(""));
        lines.extend(
            wrap_indented("✗ ", &format!("{why}."), 2, width)
                .into_iter()
                .map(|l| Line::styled(l, theme.error())),
        );
    } else if app.awaiting_gate {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "Reading this host for that account…",
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The footer: the keys `on_account` handles.
pub fn keys(_app: &App) -> &'static str {
    "Tab/↑↓ move · Space toggle · Enter next · Esc back"
}

impl App {
    pub(crate) fn on_account(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.awaiting_gate {
            // The host is being read for the new account; Esc still goes back.
            if key.code == KeyCode::Esc {
                self.awaiting_gate = false;
                return self.go(Screen::Welcome);
            }
            return Vec::new();
        }
        let form = &mut self.account;
        match key.code {
            KeyCode::Esc => return self.go(Screen::Welcome),
            KeyCode::Tab | KeyCode::Down => {
                form.focus = form.focus.step(true);
                self.edit_cursor = None;
            }
            KeyCode::BackTab | KeyCode::Up => {
                form.focus = form.focus.step(false);
                self.edit_cursor = None;
            }
            KeyCode::Enter => {
                let from_refused = self.options().refusal(&self.profile).is_some();
                if !self.account.is_valid(self.state.clock.today()) || from_refused {
                    self.notice = Some("Fix the fields marked in red first.".into());
                    return Vec::new();
                }
                let mut effects = self.take_account_target();
                let account = (self.account.user.clone(), self.account.group.clone());
                if account != self.inspected_for {
                    self.awaiting_gate = true;
                    self.refusal = None;
                    effects.push(self.inspect());
                    return effects;
                }
                effects.extend(self.pass_gate());
                return effects;
            }
            KeyCode::Char(' ') if form.focus == AccountField::TunnelOnly => {
                form.tunnel_only = !form.tunnel_only
            }
            KeyCode::Char(' ') if form.focus == AccountField::FromVendorIps => {
                form.from_vendor_ips = !form.from_vendor_ips
            }
            _ => {
                let cursor = &mut self.edit_cursor;
                if let Some(field) = form.focused_text() {
                    if line_edit::edit(field, cursor, &key) {
                        self.refusal = None;
                    }
                }
            }
        }
        Vec::new()
    }

    /// A database target typed here is the one Port access checks and Finish shows.
    fn take_account_target(&mut self) -> Vec<Effect> {
        let targets = self.account.parsed_targets().unwrap_or_default();
        let Some(first) = targets.first() else {
            return Vec::new();
        };
        let current = self.checklist.target.parse().ok();
        if current.is_some_and(|t| targets.contains(&t)) {
            return Vec::new();
        }
        self.checklist.target = first.to_string();
        self.checklist.result = None;
        vec![Effect::SaveTarget(self.checklist.target.clone())]
    }
}
