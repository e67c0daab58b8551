//! Step 5: each step as it runs, and what to do if one fails.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::apply::Outcome;
use crate::tui::app::{App, StepProgress};
use crate::tui::theme::Theme;
use crate::tui::view::spinner;

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
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
                lines.push(Line::styled(format!("{mark} {}", step.title), style));
            }
        }
    }
    lines.push(Line::raw(""));
    match &app.run.outcome {
        None => {}
        Some(Outcome::Done { changed }) => {
            lines.push(Line::styled(
                format!(
                    "✓ Done: {changed} step(s) changed. The account side of the guide is complete."
                ),
                theme.ok(),
            ));
            lines.push(Line::styled(
                "Enter: the port access checklist",
                theme.strong(),
            ));
        }
        Some(Outcome::Failed { done, error }) => {
            lines.push(Line::styled(format!("✗ Failed: {error}"), theme.error()));
            lines.push(Line::raw(if done.is_empty() {
                "Nothing was changed before the failure.".to_string()
            } else {
                format!("Done before the failure: {}.", done.join("; "))
            }));
            lines.push(Line::styled(
                "Rerunning is safe: finished steps are skipped. Enter: back to the review.",
                theme.strong(),
            ));
        }
        Some(Outcome::Blocked(reasons)) => {
            lines.push(Line::styled(
                "✗ Refused, nothing was changed:",
                theme.error(),
            ));
            lines.extend(reasons.iter().map(|r| Line::raw(format!("  - {r}"))));
        }
        Some(Outcome::Refused(why)) => lines.push(Line::styled(
            format!("✗ Refused, nothing was changed: {why}"),
            theme.error(),
        )),
        Some(Outcome::NotRoot) => lines.push(Line::styled(
            "✗ Applying needs root: run sudo bastion-wizard. Nothing was changed.",
            theme.error(),
        )),
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}
