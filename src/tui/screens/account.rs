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

/// One row per field, so the form fits 80x24 with every option: the focused field's
/// note and every field's error go below the rows.
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
    let toggle = |name: &str, on: bool, text: String, field: AccountField| {
        let tick = if on { "x" } else { " " };
        Line::from(vec![
            label(name),
            Span::styled(format!("[{tick}] {text}"), field_style(field)),
        ])
    };
    let note = |text: &str, style: Style| -> Vec<Line> {
        wrap_indented(&" ".repeat(LABEL), text, LABEL + 2, width)
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect()
    };

    // Wrapped: a long vendor name (dbt Cloud, Airbyte Cloud) no longer fits one line.
    let intro = format!(
        "Who {} logs in as on this host. Defaults come from the {} profile.",
        app.profile.name, app.profile.name
    );
    let mut lines: Vec<Line> = wrap_indented("", &intro, 0, width)
        .into_iter()
        .map(Line::raw)
        .collect();
    lines.push(Line::raw(""));
    lines.extend(crate::tui::vendor_picker::lines(app, theme, LABEL, width));
    lines.push(input("User", &form.user, AccountField::User));
    lines.push(input("Group", &form.group, AccountField::Group));
    lines.push(toggle(
        "Access",
        form.tunnel_only,
        "tunnel-only (recommended)".into(),
        AccountField::TunnelOnly,
    ));
    lines.push(input("Database", &form.targets, AccountField::Targets));
    lines.push(input("Expires", &form.expires, AccountField::Expires));
    lines.push(toggle(
        "Source",
        form.from_vendor_ips,
        format!("only from {}'s addresses", app.profile.name),
        AccountField::FromVendorIps,
    ));
    lines.push(Line::raw(""));
    lines.extend(note(&focused_note(app), theme.dim()));

    let options = app.options();
    let from_refusal = options
        .refusal(&app.profile)
        .filter(|_| form.from_vendor_ips);
    let errors = [
        ("User", form.user_error()),
        ("Group", form.group_error()),
        (
            "Database",
            form.parsed_targets().err().map(|e| e.to_string()),
        ),
        (
            "Expires",
            form.parsed_expires(app.state.clock.today())
                .err()
                .map(|e| e.to_string()),
        ),
        ("Source", from_refusal),
    ];
    for (field, error) in errors {
        if let Some(error) = error {
            lines.extend(
                wrap_indented(&format!("✗ {field}: "), &error, 4, width)
                    .into_iter()
                    .map(|l| Line::styled(l, theme.error())),
            );
        }
    }
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

/// What the focused field does, in the words the person needs to fill it in.
fn focused_note(app: &App) -> String {
    let form = &app.account;
    match form.focus {
        AccountField::User => format!(
            "The account {} logs in as; created when missing.",
            app.profile.name
        ),
        AccountField::Group => "Its primary group; created when missing.".into(),
        AccountField::TunnelOnly if form.tunnel_only => {
            "The key can only open the tunnel: no shell, no commands.".into()
        }
        AccountField::TunnelOnly => {
            "As the guide does: the key gets a normal login shell and can run commands.".into()
        }
        AccountField::Targets => "Optional: the database as HOST:PORT, e.g. db.internal:5432; several separated by spaces. The tunnel can then reach only these.".into(),
        AccountField::Expires => "Optional: the key's last day, YYYY-MM-DD on this host's clock; sshd refuses the key after it. Empty: never expires.".into(),
        AccountField::FromVendorIps if form.from_vendor_ips => format!(
            "The key works only from the {} addresses of the {} profile: a leaked key is useless anywhere else.",
            app.profile.ips.len(),
            app.profile.name
        ),
        AccountField::FromVendorIps => "The key works from any address.".into(),
    }
}

/// The footer: the keys `on_account` handles.
pub fn keys(_app: &App) -> &'static str {
    "↑↓ move · Space toggle · PgUp/PgDn vendor · Enter next"
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
            KeyCode::PageDown => self.step_vendor(true),
            KeyCode::PageUp => self.step_vendor(false),
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
