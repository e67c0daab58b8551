//! Step 2: who the vendor logs in as, and how much the key may do.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::{AccountField, App};
use crate::tui::theme::Theme;

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let form = &app.account;
    let field_style = |field: AccountField| {
        if form.focus == field {
            theme.focus()
        } else {
            Style::new()
        }
    };
    let input = |label: &str, value: &str, field: AccountField| {
        let cursor = if form.focus == field { "▏" } else { " " };
        Line::from(vec![
            Span::styled(format!("{label:<14}"), theme.strong()),
            Span::styled(
                format!(
                    " {value}{cursor}{:<width$}",
                    "",
                    width = 30usize.saturating_sub(value.chars().count())
                ),
                field_style(field),
            ),
        ])
    };
    let error = |message: Option<String>| match message {
        Some(m) => Line::styled(format!("{:14} ✗ {m}", ""), theme.error()),
        None => Line::raw(""),
    };
    let mut lines = vec![
        Line::raw(format!(
            "Who {} logs in as on this host. Defaults come from the {} profile.",
            app.profile.name, app.profile.name
        )),
        Line::raw(""),
        input("User", &form.user, AccountField::User),
        error(form.user_error()),
        input("Group", &form.group, AccountField::Group),
        error(form.group_error()),
        Line::from(vec![
            Span::styled(format!("{:<14}", "Access"), theme.strong()),
            Span::styled(
                format!(
                    " [{}] tunnel-only (recommended) ",
                    if form.tunnel_only { "x" } else { " " }
                ),
                field_style(AccountField::TunnelOnly),
            ),
        ]),
        Line::styled(
            format!(
                "{:14} {}",
                "",
                if form.tunnel_only {
                    "The key can only forward ports: no shell, no commands (restrict,port-forwarding)."
                } else {
                    "As the guide does: the key gets a normal login shell and can run commands."
                }
            ),
            theme.dim(),
        ),
        Line::raw(""),
        input("Database", &form.targets, AccountField::Targets),
    ];
    lines.push(match form.parsed_targets() {
        Err(why) => Line::styled(format!("{:14} ✗ {why}", ""), theme.error()),
        Ok(_) => Line::styled(
            format!(
                "{:14} Optional HOST:PORT, e.g. db.internal:5432: forwarding is limited to these.",
                ""
            ),
            theme.dim(),
        ),
    });
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}
