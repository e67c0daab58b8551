//! Step 1: the host's facts and where each check stands, as a list the person can move
//! through, with the focused check's full detail and fix one key away.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use crossterm::event::{KeyCode, KeyEvent};

use crate::checks::{Check, Status, Verdict};
use crate::inspect::READING;
use crate::tui::app::{App, Effect, Screen};
use crate::tui::theme::Theme;
use crate::tui::view::{truncate, wrap_indented};

pub fn symbol(status: Status) -> &'static str {
    match status {
        Status::Ok => "✓",
        Status::Fail => "✗",
        Status::Warn => "!",
        Status::Manual => "?",
    }
}

/// The legend under the list: what each mark means, in the words `status` uses.
pub const LEGEND: &str = "✓ ok  ✗ fails  ! warning, or not read  ? outside this host";

fn status_words(status: Status) -> &'static str {
    match status {
        Status::Ok => "✓ ok",
        Status::Fail => "✗ fails: the vendor's tunnel will not work until it is fixed",
        Status::Warn => "! a warning: it may work, or it could not be read here",
        Status::Manual => "? outside this host: check it by hand",
    }
}

fn status_style(theme: &Theme, status: Status) -> Style {
    match status {
        Status::Ok => theme.ok(),
        Status::Fail => theme.error(),
        Status::Warn => theme.warn(),
        Status::Manual => theme.dim(),
    }
}

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let facts = &app.state.facts;
    let who = if app.is_root() {
        "running as root"
    } else {
        "not root"
    };
    let (host, system) = if app.host_read {
        (
            format!("{} ({who})", facts.hostname),
            format!("{} · {}", facts.os, facts.openssh),
        )
    } else {
        (format!("{READING} ({who})"), READING.to_string())
    };
    let mut header = vec![
        Line::from(vec![
            Span::styled("Host    ", theme.strong()),
            Span::raw(host),
        ]),
        Line::from(vec![
            Span::styled("System  ", theme.strong()),
            Span::raw(system),
        ]),
    ];
    if !app.is_root() {
        header.push(Line::styled(
            "Preview: nothing can be changed here. To make changes: sudo bastion-wizard",
            theme.warn(),
        ));
    }
    let report = app.report();
    header.push(Line::styled(
        format!(
            "SSH tunnel for {}: user {} (group {})",
            app.profile.name, report.user, report.group
        ),
        theme.strong(),
    ));

    if !app.vendor_users.is_empty() {
        header.push(Line::styled(
            "Vendor users this program manages here:",
            theme.strong(),
        ));
        for v in &app.vendor_users {
            let (mark, style) = if v.ready {
                ("✓", theme.ok())
            } else {
                ("✗", theme.error())
            };
            header.push(Line::styled(
                format!("  {mark} {} ({}): {}", v.user, v.vendor, v.verdict),
                style,
            ));
        }
    }

    let width = area.width as usize;
    let next = match report.verdict() {
        Verdict::Ready => "Enter adds another key; c shows the port checklist.",
        Verdict::NotReady {
            account_done: true, ..
        } => "Space on a ✗ line shows its fix; Enter goes to the account and key steps.",
        Verdict::NotReady { .. } => "Space on a ✗ line shows its fix; Enter sets up the account.",
    };
    let verdict_style = if report.ready {
        theme.ok()
    } else {
        theme.error()
    };
    let verdict: Vec<Line> = if app.host_read {
        wrap_indented("", &app.verdict_words(report), 0, width)
            .into_iter()
            .map(|l| Line::styled(l, verdict_style))
            .chain(std::iter::once(Line::raw(next)))
            .collect()
    } else {
        wrap_indented("", STILL_READING, 0, width)
            .into_iter()
            .map(|l| Line::styled(l, theme.warn()))
            .chain(std::iter::once(Line::raw(READING_KEYS)))
            .collect()
    };

    // The list takes the rows it needs, so the legend and verdict sit right under it.
    let keys_height = super::keys_list::height(app);
    let spare = area
        .height
        .saturating_sub(header.len() as u16 + keys_height + 2 + verdict.len() as u16);
    let rows = (report.checks.len() as u16).min(spare).max(3);
    let [head, keys_area, list_area, legend, _, bottom, _] = Layout::vertical([
        Constraint::Length(header.len() as u16),
        Constraint::Length(keys_height),
        Constraint::Length(rows),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(verdict.len() as u16),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(header), head);
    super::keys_list::render(app, theme, frame, keys_area);
    frame.render_widget(Paragraph::new(verdict), bottom);

    let checks = &report.checks;
    let focus = app.checks.focus.min(checks.len().saturating_sub(1));
    if app.checks.detail {
        if let Some(check) = checks.get(focus) {
            // The detail covers the list and its legend, so both read as one panel.
            let panel = Rect {
                height: list_area.height + legend.height,
                ..list_area
            };
            render_detail(check, theme, frame, panel);
        }
        return;
    }

    let title_width = 40.min(width / 2);
    let items: Vec<ListItem> = checks
        .iter()
        .map(|check| {
            if !app.host_read {
                let title = truncate(&check.title, title_width);
                return ListItem::new(Line::styled(
                    format!("… {title:<title_width$} {READING}"),
                    theme.dim(),
                ));
            }
            let style = status_style(theme, check.status);
            let title = truncate(&check.title, title_width);
            let detail = truncate(&check.detail, width.saturating_sub(title_width + 4));
            ListItem::new(Line::from(vec![
                Span::styled(format!("{} ", symbol(check.status)), style),
                Span::styled(format!("{title:<title_width$} "), style),
                Span::styled(detail, theme.dim()),
            ]))
        })
        .collect();
    let mut state = ListState::default()
        .with_offset(app.checks.offset.get())
        .with_selected(Some(focus));
    // Only the list that ↑↓ move shows its selection.
    let highlight = if app.keys.focused {
        Style::new()
    } else {
        theme.focus()
    };
    frame.render_stateful_widget(
        List::new(items).highlight_style(highlight),
        list_area,
        &mut state,
    );
    app.checks.offset.set(state.offset());

    let above = state.offset();
    let below = checks
        .len()
        .saturating_sub(above + list_area.height as usize);
    let mut more = Vec::new();
    if above > 0 {
        more.push(format!("↑{above}"));
    }
    if below > 0 {
        more.push(format!("↓{below}"));
    }
    let legend_text = if app.host_read {
        LEGEND
    } else {
        "… being read"
    };
    let mut spans = vec![Span::styled(legend_text, theme.dim())];
    if !more.is_empty() {
        spans.push(Span::styled(
            format!("  {} more", more.join(" ")),
            theme.warn(),
        ));
    }
    frame.render_widget(Line::from(spans), legend);
}

/// One check in full: its title, what was found and the fix, wrapped, never cut.
fn render_detail(check: &Check, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {} ", check.id), theme.title()))
        .title_bottom(" Esc closes · ↑↓ the other checks ");
    let inner = block.inner(area);
    let width = inner.width as usize;
    const LABEL: usize = 8;
    let field = |label: &str, text: &str, style: Style| -> Vec<Line<'static>> {
        wrap_indented(&format!("{label:<LABEL$}"), text, LABEL, width)
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect()
    };
    let style = status_style(theme, check.status);
    let mut lines = field("Check", &check.title, theme.strong());
    lines.extend(field("Status", status_words(check.status), style));
    lines.extend(field("Found", &check.detail, ratatui::style::Style::new()));
    let fix = match (&check.fix, check.status) {
        (Some(fix), _) => fix.clone(),
        (None, Status::Ok) => "nothing to fix".to_string(),
        (None, _) => "no fix to give from here: see what was found".to_string(),
    };
    lines.extend(field("Fix", &fix, theme.strong()));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// What the verdict line says until the first inspection ends.
const STILL_READING: &str = "Reading the host: the account, sshd's settings for each vendor address, the firewall, fail2ban and sshd's log.";
const READING_KEYS: &str = "The checks fill in as soon as it is read.";
const WAIT_NOTICE: &str =
    "Still reading the host: Enter goes on to the account as soon as it is read.";

/// The footer: the keys `on_welcome` handles.
pub fn keys(app: &App) -> &'static str {
    if !app.host_read {
        READING
    } else if app.keys.focused {
        "↑↓ keys · r revoke · x undo setup · Tab checks · Enter set up"
    } else if app.checks.detail {
        "↑↓ other checks · Esc close · Enter set up · c checklist"
    } else if app.keys.list.as_ref().is_some_and(|l| !l.keys.is_empty()) {
        "↑↓ · Space details · Enter set up · c checklist · Tab keys"
    } else {
        "↑↓ · Space details · Enter set up · c checklist"
    }
}

impl App {
    pub(crate) fn on_welcome(&mut self, key: KeyEvent) -> Vec<Effect> {
        if !self.host_read {
            // Every later screen follows from the host as read: nothing to act on yet.
            if matches!(key.code, KeyCode::Enter | KeyCode::Char('c' | ' ')) {
                self.notice = Some(WAIT_NOTICE.into());
            }
            // Enter is kept: the wizard goes on by itself once the host is read.
            if key.code == KeyCode::Enter {
                self.enter_when_read = true;
            }
            return Vec::new();
        }
        match key.code {
            KeyCode::Tab => {
                self.toggle_key_focus();
                return Vec::new();
            }
            KeyCode::Char('r') => return self.ask_revoke(),
            KeyCode::Char('x') => return self.ask_remove(),
            code if self.keys.focused && self.move_key_selection(code) => return Vec::new(),
            _ => {}
        }
        let last = self.report().checks.len().saturating_sub(1);
        let list = &mut self.checks;
        match key.code {
            KeyCode::Enter => return self.go(Screen::Account),
            KeyCode::Char('c') => return self.go(Screen::Ports),
            KeyCode::Up | KeyCode::Char('k') => list.focus = list.focus.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => list.focus = (list.focus + 1).min(last),
            KeyCode::Home => list.focus = 0,
            KeyCode::End => list.focus = last,
            KeyCode::Char(' ') => list.detail = !list.detail,
            KeyCode::Right => list.detail = true,
            KeyCode::Esc | KeyCode::Left => list.detail = false,
            _ => {}
        }
        Vec::new()
    }
}
