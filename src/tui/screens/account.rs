//! Step 2: who the vendor logs in as, and how much the key may do.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::app::{AccountField, App};
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
        let cursor = if form.focus == field { "▏" } else { " " };
        let pad = 30usize.saturating_sub(value.chars().count());
        Line::from(vec![
            label(name),
            Span::styled(format!("{value}{cursor}{:pad$}", ""), field_style(field)),
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
            "The key can only forward ports: no shell, no commands (restrict,port-forwarding)."
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
            "Optional HOST:PORT targets, e.g. db.internal:5432: forwarding is limited to these.",
            theme.dim(),
        ),
    });
    frame.render_widget(Paragraph::new(lines), area);
}
