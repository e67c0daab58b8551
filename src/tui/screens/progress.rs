//! Step 5: each step as it runs, what to do if one fails, and, once the host has been
//! read again, the verdict on the whole host (not only the steps that ran).

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::Frame;

use crate::apply::Outcome;
use crate::tui::app::{App, StepProgress};
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
                    StepProgress::Pending => ("·".to_string(), theme.dim()),
                    StepProgress::Running => (spinner(app.tick).to_string(), theme.strong()),
                    StepProgress::Done => ("✓".to_string(), theme.ok()),
                    StepProgress::Failed => ("✗".to_string(), theme.error()),
                };
                lines.push(Line::styled(
                    format!("{mark} {}", truncate(&step.title, width.saturating_sub(2))),
                    style,
                ));
            }
        }
    }
    lines.push(Line::raw(""));
    match &app.run.outcome {
        None => {}
        Some(Outcome::Done { changed }) => {
            lines.push(Line::raw(format!("✓ Done: {changed} step(s) changed.")));
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
                    wrapped("", &app.verdict_words(&report), 0)
                        .into_iter()
                        .map(|l| Line::styled(l, style)),
                );
                lines.extend(failing_lines(&report, theme, width));
            }
            lines.push(Line::styled(
                "Enter: the port access checklist",
                theme.strong(),
            ));
        }
        Some(Outcome::Failed { done, error }) => {
            lines.extend(
                wrapped("✗ Failed: ", error, 2)
                    .into_iter()
                    .map(|l| Line::styled(l, theme.error())),
            );
            lines.extend(
                wrapped(
                    "",
                    &if done.is_empty() {
                        "Nothing was changed before the failure.".to_string()
                    } else {
                        format!("Done before the failure: {}.", done.join("; "))
                    },
                    0,
                )
                .into_iter()
                .map(Line::raw),
            );
            lines.extend(
                wrapped(
                    "",
                    "Rerunning is safe: finished steps are skipped. Enter: back to the review.",
                    0,
                )
                .into_iter()
                .map(|l| Line::styled(l, theme.strong())),
            );
        }
        Some(Outcome::Blocked(reasons)) => {
            lines.push(Line::styled(
                "✗ Refused, nothing was changed:",
                theme.error(),
            ));
            for reason in reasons {
                lines.extend(wrapped("  - ", reason, 4).into_iter().map(Line::raw));
            }
        }
        Some(Outcome::Refused(why)) => lines.extend(
            wrapped("✗ Refused, nothing was changed: ", why, 2)
                .into_iter()
                .map(|l| Line::styled(l, theme.error())),
        ),
        Some(Outcome::NotRoot) => lines.push(Line::styled(
            "✗ Applying needs root: run sudo bastion-wizard. Nothing was changed.",
            theme.error(),
        )),
    }
    render_scrolled(lines, app.scroll, theme, frame, area);
}
