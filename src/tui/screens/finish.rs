//! Step 7: what to type into the vendor's form, and how to come back.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::screens::ports::ssh_ports;
use crate::tui::theme::Theme;

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let facts = &app.state.facts;
    let field = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("  {label:<12}"), theme.strong()),
            Span::raw(value),
        ])
    };
    let addresses = if facts.addresses.is_empty() {
        "none found".to_string()
    } else {
        facts.addresses.join(", ")
    };
    let mut lines = vec![
        Line::raw(format!(
            "Enter these in {}'s SSH tunnel settings:",
            app.profile.name
        )),
        Line::raw(""),
        field(
            "SSH host",
            format!("this host's public IP or DNS name ({})", facts.hostname),
        ),
        field("", format!("addresses on this host: {addresses}")),
        field("SSH port", ssh_ports(app)[0].to_string()),
        field("SSH user", app.account.user.clone()),
        Line::raw(""),
    ];
    lines.push(match app.key() {
        Some(key) => field("Key", format!("{} {}", key.describe(), key.fingerprint)),
        None => field("Key", "none pasted in this run".into()),
    });
    lines.extend([
        Line::raw(""),
        Line::raw("To see where this host stands at any time, run again:"),
        Line::styled(
            "  sudo bastion-wizard            (or: sudo bastion-wizard status)",
            theme.strong(),
        ),
        Line::raw(format!("Vendor documentation: {}", app.profile.docs)),
    ]);
    frame.render_widget(Paragraph::new(lines), area);
}
