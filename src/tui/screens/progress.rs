//! Step 5: each step as it runs, what to do if one fails, and, once the host has been
//! read again, the verdict on the whole host (not only the steps that ran).

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::Frame;

use crate::apply::Outcome;
use crossterm::event::{KeyCode, KeyEvent};

use crate::tui::app::{App, Effect, Screen, StepProgress};
use crate::tui::screens::failing_lines;
use crate::tui::theme::Theme;
use crate::tui::view::{render_scrolled, spinner, truncate, wrap_indented};

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let width = area.width as usize;
    let wrapped = |first: &str, text: &str, indent: usize| -> Vec<String> {
        wrap_indented(first, text, indent, width)
    };
    let mut lines = Vec::new();
    match &app.run.plan {
        None if app.run.running => lines.push(Line::raw(format!(
            "{} Checking the host again under the lock…",
            spinner(app.tick)
        ))),
        None => {}
        Some(plan) => {
            lines.push(Line::raw(format!("Applying the plan for {}:", plan.user)));
            for (step, progress) in plan.steps.iter().zip(&app.run.progress) {
                let (mark, style) = match progress {
                    StepProgress::AlreadyDone => ("=".to_string(), theme.dim()),
                    StepProgress::Pending => ("·".to_string(), theme.dim()),
                    StepProgress::Running => (spinner(app.tick).to_string(), theme.strong()),
                    StepProgress::Done => ("✓".to_string(), theme.ok()),
                    StepProgress::Failed => ("✗".to_string(), theme.error()),
                };
                let title = if *progress == StepProgress::AlreadyDone {
                    format!("{} (already done)", step.title)
                } else {
                    step.title.clone()
                };
                lines.push(Line::styled(
                    format!("{mark} {}", truncate(&title, width.saturating_sub(2))),
                    style,
                ));
            }
        }
    }
    lines.push(Line::raw(""));
    if let Some(outcome) = &app.run.outcome {
        // The same sentences the CLI prints for this outcome.
        let summary = outcome.summary();
        let (mark, style) = if summary.ok {
            ("✓ ", theme.ok())
        } else {
            ("✗ ", theme.error())
        };
        lines.extend(
            wrapped(mark, &summary.headline, 2)
                .into_iter()
                .map(|l| Line::styled(l, style)),
        );
        for line in &summary.lines {
            lines.extend(wrapped("", line, 2).into_iter().map(Line::raw));
        }
        if let Outcome::Done { .. } = outcome {
            if app.run.reinspecting {
                lines.push(Line::raw(format!(
                    "{} Checking the whole host again…",
                    spinner(app.tick)
                )));
            } else {
                let report = app.report();
                let style = if report.ready {
                    theme.ok()
                } else {
                    theme.error()
                };
                lines.extend(
                    wrapped("", &app.verdict_words(report), 0)
                        .into_iter()
                        .map(|l| Line::styled(l, style)),
                );
                lines.extend(failing_lines(report, theme, width));
            }
            lines.push(Line::styled(
                "Enter: the port access checklist",
                theme.strong(),
            ));
        } else {
            lines.push(Line::styled("Enter: back to the review", theme.strong()));
        }
    }
    render_scrolled(lines, app.scroll, &app.scroll_room, theme, frame, area);
}

/// The footer: the keys `on_apply` handles.
pub fn keys(app: &App) -> &'static str {
    if app.run.running {
        "applying…"
    } else {
        "↑↓ scroll · Enter next · Esc back"
    }
}

impl App {
    pub(crate) fn on_apply(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.run.running {
            return Vec::new();
        }
        match key.code {
            KeyCode::Enter if matches!(self.run.outcome, Some(Outcome::Done { .. })) => {
                self.go(Screen::Ports)
            }
            KeyCode::Esc | KeyCode::Enter => self.go(Screen::Review),
            code => {
                self.scroll_keys(code);
                Vec::new()
            }
        }
    }
}
