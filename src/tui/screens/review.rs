//! Step 4: the plan, step by step with its shell command, before anything changes. The
//! sshd repair is a step of its own, shown in full, and `s` takes it in or out.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crossterm::event::{KeyCode, KeyEvent};

use crate::checks::Verdict;
use crate::plan::{Action, Step, StepState};
use crate::tui::app::{App, ApplyRun, Effect, Screen};
use crate::tui::screens::failing_lines;
use crate::tui::theme::Theme;
use crate::tui::view::{elide_middle, truncate, wrap_indented};

/// Where a step's details start, under its title.
const INDENT: usize = 11;

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let plan = app.plan();
    let report = app.report();
    let wide = area.width as usize;
    let wrapped = |first: &str, text: &str, indent: usize, style: Style| -> Vec<Line<'static>> {
        wrap_indented(first, text, indent, wide)
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect()
    };
    let blocked = plan.blocking().len();
    let nothing_to_do = blocked == 0 && plan.to_do() == 0;
    let summary_lines: Vec<Line> = if app.confirm_apply {
        vec![Line::styled("Apply these changes? y/n", theme.focus())]
    } else if blocked > 0 {
        vec![Line::styled(format!("{blocked} step(s) blocked: resolve them by hand, then rerun. Nothing will be changed."), theme.error())]
    } else if nothing_to_do {
        let style = if report.ready {
            theme.ok()
        } else {
            theme.error()
        };
        wrapped(
            "",
            &format!("Nothing to change. {}", app.verdict_words(report)),
            0,
            style,
        )
    } else if !app.is_root() {
        vec![Line::styled(
            format!(
                "{} step(s) to do. Preview: applying needs root (sudo bastion-wizard).",
                plan.to_do()
            ),
            theme.warn(),
        )]
    } else {
        vec![Line::styled(
            format!(
                "{} step(s) to do. Enter applies them (you will be asked to confirm).",
                plan.to_do()
            ),
            theme.strong(),
        )]
    };
    let key_lines = key_line_lines(
        plan.key_line.as_deref(),
        (area.width as usize).saturating_sub(2),
    );
    let [intro, steps, line, summary] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(key_lines.len() as u16 + 2),
        Constraint::Length(summary_lines.len() as u16),
    ])
    .areas(area);
    let intro_text = match &app.run.outcome {
        None => format!(
            "Nothing has changed yet. Applying does this for {}:",
            plan.user
        ),
        Some(outcome) => format!(
            "Last run: {} Applying again does this for {}:",
            outcome.summary().headline,
            plan.user
        ),
    };
    frame.render_widget(
        Line::raw(truncate(&intro_text, intro.width as usize)),
        intro,
    );
    let width = steps.width as usize;
    let mut lines = Vec::new();
    for step in &plan.steps {
        if let Action::RepairSshd(_) = &step.action {
            lines.extend(sshd_step(step, true, theme, width));
            continue;
        }
        let (label, style) = match step.state {
            StepState::Done => ("✓ done   ", theme.ok()),
            StepState::ToDo => ("• to do  ", theme.strong()),
            StepState::Blocked => ("✗ blocked", theme.error()),
            StepState::Waiting { .. } => ("… waits  ", theme.warn()),
        };
        // The guide's step where it fits beside the title; the title always comes first.
        let guide = format!("  ({})", guide_words(step.guide, &app.profile.name));
        let title_room = width.saturating_sub(10);
        let fits = step.title.chars().count() + guide.chars().count() <= title_room;
        lines.push(Line::from(vec![
            Span::styled(label, style),
            Span::raw(" "),
            Span::styled(truncate(&step.title, title_room), style),
            Span::styled(if fits { guide } else { String::new() }, theme.dim()),
        ]));
        // Done steps take one line; what will run shows its command and why.
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
        // Why, in full: it is what the person decides on.
        lines.extend(
            wrap_indented("             ", &plan.detail_of(step), 13, width)
                .into_iter()
                .map(Line::raw),
        );
    }
    if !app.fix_sshd {
        if let Some(step) = app.sshd_repair() {
            lines.extend(sshd_step(step, false, theme, width));
        }
    }
    if nothing_to_do && !report.ready {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            match report.verdict() {
                Verdict::NotReady {
                    account_done: true, ..
                } => "Still failing outside the account (this plan does not change them):",
                _ => "Still failing (this plan does not change them):",
            },
            theme.error(),
        ));
        lines.extend(failing_lines(report, theme, width));
    }
    let max_scroll = lines.len().saturating_sub(steps.height as usize);
    let scroll = app.review_scroll as usize;
    let [list, more] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(u16::from(max_scroll > 0)),
    ])
    .areas(steps);
    let max_scroll = lines.len().saturating_sub(list.height as usize);
    app.scroll_room
        .set(u16::try_from(max_scroll).unwrap_or(u16::MAX));
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

    frame.render_widget(
        Paragraph::new(key_lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" authorized_keys line "),
        ),
        line,
    );
    frame.render_widget(Paragraph::new(summary_lines), summary);
}

/// The key line in the box, elided in the middle where it is long; but its options (from
/// where, until when, what the key may do: what the person decides on) always in full,
/// on lines of their own, broken after commas, when the elision would hide some.
fn key_line_lines(line: Option<&str>, width: usize) -> Vec<Line<'static>> {
    let Some(line) = line else {
        return vec![Line::raw("(no key)")];
    };
    let width = width.max(5);
    let options = crate::authorized_keys::parse_line(line).and_then(|e| e.options);
    let shown_whole = width.saturating_sub(1) / 2;
    let Some(options) = options.filter(|o| o.chars().count() >= shown_whole) else {
        return vec![Line::raw(elide_middle(line, width))];
    };
    let key = line[options.len()..].trim_start();
    let mut lines: Vec<String> = vec![String::new()];
    for piece in options.split_inclusive(',') {
        let current = lines.last_mut().expect("one line at least");
        if !current.is_empty() && current.chars().count() + piece.chars().count() > width {
            lines.push(String::new());
        }
        let mut rest: Vec<char> = piece.chars().collect();
        while !rest.is_empty() {
            let current = lines.last_mut().expect("one line at least");
            let room = width - current.chars().count();
            if room == 0 {
                lines.push(String::new());
                continue;
            }
            let take = room.min(rest.len());
            current.extend(rest.drain(..take));
        }
    }
    lines.push(elide_middle(key, width));
    lines.into_iter().map(Line::raw).collect()
}

/// The sshd repair in full: the file, the exact lines and why, and how to switch it.
fn sshd_step(step: &Step, on: bool, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let Action::RepairSshd(repair) = &step.action else {
        return Vec::new();
    };
    let (label, style) = match (on, step.state) {
        (false, _) => ("○ off    ", theme.warn()),
        (true, StepState::Done) => ("✓ done   ", theme.ok()),
        (true, StepState::ToDo) => ("• to do  ", theme.strong()),
        (true, StepState::Blocked) => ("✗ blocked", theme.error()),
        (true, StepState::Waiting { .. }) => ("… waits  ", theme.warn()),
    };
    let pad = " ".repeat(INDENT + 2);
    let detail = |first: &str, text: &str, style: Style| -> Vec<Line<'static>> {
        wrap_indented(&format!("{pad}{first}"), text, INDENT + 4, width)
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect()
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(label, style),
        Span::raw(" "),
        Span::styled("Repair sshd for this user", style),
        Span::styled(format!("  ({})", step.guide), theme.dim()),
    ])];
    // The file in full: the person may want to open it.
    lines.extend(detail(
        "",
        &format!("in {}:", repair.file.display()),
        Style::new(),
    ));
    for text in &repair.lines {
        // The exact lines: wrapped if they must be, never shortened.
        lines.extend(detail("  ", text, theme.strong()));
    }
    for reason in &repair.reasons {
        lines.extend(detail("why: ", reason, Style::new()));
    }
    if on && step.state == StepState::Blocked {
        lines.extend(detail("", &step.detail, theme.error()));
    }
    lines.extend(detail(
        "",
        if on {
            "on by default: s leaves sshd as it is"
        } else {
            "switched off: sshd stays as it is and the host stays not ready; s turns it on"
        },
        theme.dim(),
    ));
    lines
}

/// The footer: the keys `on_review` handles. `s` only where there is an sshd repair to
/// switch, and Enter says what it will do.
pub fn keys(app: &App) -> String {
    if app.confirm_apply {
        return "y apply · n cancel".into();
    }
    let mut keys = vec!["↑↓ scroll"];
    if app.sshd_repair().is_some() {
        keys.push(if app.fix_sshd {
            "s sshd repair off"
        } else {
            "s sshd repair on"
        });
    }
    let plan = app.plan();
    keys.push(if plan.to_do() == 0 && plan.blocked().is_empty() {
        "Enter next"
    } else {
        "Enter apply"
    });
    keys.push("Esc back");
    keys.join(" · ")
}

impl App {
    pub(crate) fn on_review(&mut self, key: KeyEvent) -> Vec<Effect> {
        if self.confirm_apply {
            self.confirm_apply = false;
            if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                self.screen = Screen::Apply;
                self.run = ApplyRun {
                    running: true,
                    ..ApplyRun::default()
                };
                return vec![Effect::Apply(Box::new(self.request()))];
            }
            self.notice = Some("Not applied. Nothing has changed.".into());
            return Vec::new();
        }
        match key.code {
            KeyCode::Esc => self.go(Screen::Paste),
            KeyCode::Up => {
                self.review_scroll = self
                    .review_scroll
                    .min(self.scroll_room.get())
                    .saturating_sub(1);
                Vec::new()
            }
            KeyCode::Down => {
                self.review_scroll = self
                    .review_scroll
                    .saturating_add(1)
                    .min(40)
                    .min(self.scroll_room.get());
                Vec::new()
            }
            KeyCode::Char('s') => {
                if self.sshd_repair().is_none() {
                    self.notice = Some(if self.is_root() {
                        "No sshd setting blocks this user: there is nothing to repair.".into()
                    } else {
                        "Preview: the sshd repair needs root (sudo bastion-wizard).".into()
                    });
                } else {
                    self.fix_sshd = !self.fix_sshd;
                    self.notice = Some(if self.fix_sshd {
                        "The sshd repair is on: it is part of the plan.".into()
                    } else {
                        "The sshd repair is off: sshd is left as it is, and the host stays not ready.".into()
                    });
                }
                Vec::new()
            }
            KeyCode::Enter => {
                let plan = self.plan();
                if !self.is_root() {
                    self.notice = Some("Preview: applying needs root. Run `sudo bastion-wizard` to make these changes.".into());
                } else if !plan.blocked().is_empty() {
                    self.notice = Some(
                        "Blocked steps must be resolved by hand first; nothing will be changed."
                            .into(),
                    );
                } else if plan.to_do() == 0 {
                    let report = self.report();
                    self.notice = Some(match report.verdict() {
                        Verdict::Ready => "Nothing to change, and no check fails.".into(),
                        Verdict::NotReady { failing, .. } => format!(
                            "Nothing to change here, but {failing} check(s) still fail: Finish lists each fix."
                        ),
                    });
                    self.go(Screen::Ports);
                } else {
                    self.confirm_apply = true;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

/// "guide step 2" as a newcomer reads it: a step of the vendor's setup guide.
fn guide_words(guide: &str, vendor: &str) -> String {
    match guide.strip_prefix("guide ") {
        Some(steps) => format!("{vendor} guide, {steps}"),
        None => guide.to_string(),
    }
}
