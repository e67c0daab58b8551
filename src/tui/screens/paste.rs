//! Step 3: the key box, checked live by the engine's intake after every change.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let [intro, input, result] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(8),
        Constraint::Min(3),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new("Paste the public key from the vendor's message. Wrapped lines are fine: line breaks are removed.")
            .wrap(Wrap { trim: true }),
        intro,
    );
    // Shown wrapped rather than through the text area's own widget, which scrolls long
    // lines sideways and would hide most of a one-line key.
    let block = Block::default().borders(Borders::ALL).title(" Public key ");
    let inner = block.inner(input);
    let text = app.paste.lines().join("\n");
    let content = if text.is_empty() {
        Paragraph::new(Line::styled(
            "Paste the vendor's public key here (ssh-ed25519 AAAA… or ssh-rsa AAAA…)",
            theme.dim(),
        ))
    } else {
        let rows: usize = app
            .paste
            .lines()
            .iter()
            .map(|l| {
                (l.chars().count() + 1)
                    .div_ceil(inner.width.max(1) as usize)
                    .max(1)
            })
            .sum();
        let scroll = rows.saturating_sub(inner.height as usize) as u16;
        Paragraph::new(format!("{text}▏"))
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
    };
    frame.render_widget(content.block(block), input);

    let lines = match &app.intake {
        None => vec![Line::styled("Waiting for a key…", theme.dim())],
        Some(Err(e)) => vec![Line::styled(format!("✗ {e}"), theme.error())],
        Some(Ok(key)) => {
            let mut lines = vec![
                Line::styled(
                    format!("✓ {} key  {}", key.describe(), key.fingerprint),
                    theme.ok(),
                ),
                Line::styled(
                    "  Compare this fingerprint with the one in the vendor's message.",
                    theme.dim(),
                ),
                Line::raw(format!(
                    "  Comment: {}",
                    if key.comment.is_empty() {
                        "(none)"
                    } else {
                        &key.comment
                    }
                )),
            ];
            let mut cleaned = vec![format!("removed {} line break(s)", key.line_breaks_removed)];
            if key.was_rfc4716 {
                cleaned.push("converted from RFC4716".into());
            }
            lines.push(Line::raw(format!("  {}", cleaned.join(", "))));
            if let Some(options) = &key.pasted_options {
                lines.push(Line::styled(
                    format!("  The options before the key ({options}) are replaced by the Account screen's choice."),
                    theme.warn(),
                ));
            }
            lines.push(Line::styled("  Enter: review the changes", theme.strong()));
            lines
        }
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), result);
}
