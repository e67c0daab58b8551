//! Step 4: the plan, step by step with its shell command, before anything changes.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::plan::StepState;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::{elide_middle, truncate};

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let plan = app.plan();
    let [intro, steps, line, summary] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(
        Line::raw(format!(
            "Nothing has changed yet. Applying does this for {}:",
            plan.user
        )),
        intro,
    );
    let width = steps.width as usize;
    let mut lines = Vec::new();
    for step in &plan.steps {
        let (label, style) = match step.state {
            StepState::Done => ("✓ done   ", theme.ok()),
            StepState::ToDo => ("• to do  ", theme.strong()),
            StepState::Blocked => ("✗ blocked", theme.error()),
        };
        lines.push(Line::from(vec![
            Span::styled(label, style),
            Span::raw(" "),
            Span::styled(truncate(&step.title, width.saturating_sub(24)), style),
            Span::styled(format!("  ({})", step.guide), theme.dim()),
        ]));
        // Done steps take one line; what will run shows its command and, where it
        // says more than "missing", why.
        if step.state == StepState::Done {
            continue;
        }
        lines.push(Line::styled(
            format!(
                "           $ {}",
                truncate(&step.command, width.saturating_sub(13))
            ),
            theme.dim(),
        ));
        if step.detail != "missing" {
            lines.push(Line::raw(format!(
                "             {}",
                truncate(&step.detail, width.saturating_sub(13))
            )));
        }
    }
    let max_scroll = lines.len().saturating_sub(steps.height as usize);
    let scroll = app.review_scroll as usize;
    let [list, more] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(u16::from(max_scroll > 0)),
    ])
    .areas(steps);
    let max_scroll = lines.len().saturating_sub(list.height as usize);
    let scroll = scroll.min(max_scroll);
    frame.render_widget(Paragraph::new(lines).scroll((scroll as u16, 0)), list);
    if max_scroll > 0 {
        let hint = if scroll < max_scroll {
            "↓ more below (↓ scrolls)"
        } else {
            "↑ more above (↑ scrolls)"
        };
        frame.render_widget(
            Line::styled(format!("           {hint}"), theme.warn()),
            more,
        );
    }

    let key_line = match &plan.key_line {
        Some(text) => elide_middle(text, (line.width as usize).saturating_sub(2)),
        None => "(no key)".into(),
    };
    frame.render_widget(
        Paragraph::new(key_line).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" authorized_keys line "),
        ),
        line,
    );
    let blocked = plan.blocked().len();
    let text = if app.confirm_apply {
        Line::styled("Apply these changes? y/n", theme.focus())
    } else if blocked > 0 {
        Line::styled(format!("{blocked} step(s) blocked: resolve them by hand, then rerun. Nothing will be changed."), theme.error())
    } else if plan.to_do() == 0 {
        Line::styled(
            "Nothing to change: this host is already set up.",
            theme.ok(),
        )
    } else if !app.is_root() {
        Line::styled(
            format!(
                "{} step(s) to do. Preview: applying needs root (sudo bastion-wizard).",
                plan.to_do()
            ),
            theme.warn(),
        )
    } else {
        Line::styled(
            format!(
                "{} step(s) to do. Enter applies them (you will be asked to confirm).",
                plan.to_do()
            ),
            theme.strong(),
        )
    };
    frame.render_widget(text, summary);
}
