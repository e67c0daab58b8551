//! Step 1: the host's facts and where each step of the guide stands.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::checks::Status;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::truncate;

pub fn symbol(status: Status) -> &'static str {
    match status {
        Status::Ok => "✓",
        Status::Fail => "✗",
        Status::Warn => "!",
        Status::Manual => "?",
    }
}

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let facts = &app.state.facts;
    let who = if app.is_root() {
        "running as root"
    } else {
        "not root"
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Host    ", theme.strong()),
            Span::raw(format!("{} ({who})", facts.hostname)),
        ]),
        Line::from(vec![
            Span::styled("System  ", theme.strong()),
            Span::raw(format!("{} · {}", facts.os, facts.openssh)),
        ]),
    ];
    if !app.is_root() {
        lines.push(Line::styled(
            "Preview: nothing can be changed here. To make changes: sudo bastion-wizard",
            theme.warn(),
        ));
    }
    let report = app.report();
    lines.push(Line::styled(
        format!(
            "SSH tunnel for {}: user {} (group {})",
            app.profile.name, report.user, report.group
        ),
        theme.strong(),
    ));
    let width = area.width as usize;
    let title_width = 40.min(width / 2);
    for check in &report.checks {
        let style = match check.status {
            Status::Ok => theme.ok(),
            Status::Fail => theme.error(),
            Status::Warn => theme.warn(),
            Status::Manual => theme.dim(),
        };
        let title = truncate(&check.title, title_width);
        let detail = truncate(&check.detail, width.saturating_sub(title_width + 4));
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", symbol(check.status)), style),
            Span::styled(format!("{title:<title_width$} "), style),
            Span::styled(detail, theme.dim()),
        ]));
    }
    let failing = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    lines.push(Line::raw(""));
    lines.push(if report.ready {
        Line::styled(
            "This host is set up. Enter adds another key; c shows the port checklist.",
            theme.ok(),
        )
    } else {
        Line::styled(
            format!("{failing} problem(s) marked ✗: Enter sets up the account; `status` lists each fix."),
            theme.error(),
        )
    });
    frame.render_widget(Paragraph::new(lines), area);
}
