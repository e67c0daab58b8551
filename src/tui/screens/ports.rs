//! Step 6: the guide's "Allow port access" as a checklist; verified items show results,
//! the rest are ticked by the person and remembered across runs.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crossterm::event::{KeyCode, KeyEvent};

use crate::port::{self, PortCheck};
use crate::tui::app::{App, Effect, Screen};
use crate::tui::checklist::ChecklistRow;
use crate::tui::line_edit;
use crate::tui::theme::Theme;
use crate::tui::view::{spinner, wrap_indented};

pub fn ssh_ports(app: &App) -> Vec<u16> {
    app.state.ssh_ports()
}

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let list = &app.checklist;
    let width = area.width as usize;
    let ports = ssh_ports(app);
    let ports_text = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let row_style = |row: ChecklistRow| {
        if list.focus == row {
            theme.focus()
        } else {
            Style::new()
        }
    };
    let tick = |row: ChecklistRow| {
        if list.ticked(row) {
            "[x]"
        } else {
            "[ ]"
        }
    };
    let wrapped = |first: &str, text: &str, indent: usize, style: Style| -> Vec<Line<'static>> {
        wrap_indented(first, text, indent, width)
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect()
    };

    let mut lines = vec![
        Line::raw("Two network paths must be open outside this host (guide: Allow port access):"),
        Line::raw("the vendor's IPs to the SSH port (1, 3), and this host to the database (2, 4)."),
        Line::raw(""),
    ];
    lines.extend(wrapped(
        &format!("{} 1. ", tick(ChecklistRow::VendorIps)),
        &format!(
            "{}'s IPs → this host's SSH port {ports_text}",
            app.profile.name
        ),
        7,
        row_style(ChecklistRow::VendorIps),
    ));
    let ips = app.profile.cidrs().join(" ");
    lines.extend(wrapped("       ", &ips, 7, theme.dim()));
    lines.extend(wrapped(
        "       ",
        &app.profile.list_origin(),
        7,
        theme.dim(),
    ));
    let listening = ports
        .iter()
        .any(|p| app.state.listening_ports().contains(p));
    let source = if app.state.sshd.is_ok() {
        "port from the sshd configuration"
    } else {
        "sshd configuration unread: run as root"
    };
    lines.push(if listening {
        Line::styled(
            format!("       ✓ sshd listens on {ports_text} ({source})"),
            theme.ok(),
        )
    } else {
        Line::styled(
            format!("       ✗ nothing listens on {ports_text} ({source})"),
            theme.error(),
        )
    });

    let target = if list.target.is_empty() && !list.editing_target {
        "(none yet: press e)".to_string()
    } else {
        list.target.clone()
    };
    let (before, after) = if list.editing_target {
        line_edit::split(&target, app.edit_cursor)
    } else {
        (target.as_str(), "")
    };
    let cursor = if list.editing_target { "▏" } else { "" };
    let target_style = if list.editing_target {
        theme.focus()
    } else {
        theme.strong()
    };
    lines.push(Line::from(vec![
        Span::styled(
            "DB  2. This host → the database ",
            row_style(ChecklistRow::Database),
        ),
        Span::styled(format!("{before}{cursor}{after}"), target_style),
    ]));
    // Only a result for the target shown now: an older one would answer another question.
    let result = list.result.as_ref().filter(|(t, _)| *t == list.target);
    let (result, style) = match (result, list.checking) {
        (_, true) => (
            format!("{} checking {}…", spinner(app.tick), list.target),
            Style::new(),
        ),
        (Some((t, r @ PortCheck::Reachable { .. })), _) => {
            (format!("✓ {}", r.summary(t)), theme.ok())
        }
        (Some((t, r)), _) => (format!("✗ {}", r.summary(t)), theme.error()),
        (None, _) => ("p checks it from this host now".to_string(), theme.dim()),
    };
    lines.extend(wrapped("       ", &result, 9, style));

    let mut firewall = format!(
        "The firewall in front of this host (cloud security group, network firewall) lets each IP above in on port {ports_text}, straight to this host: a load balancer or proxy in between would hide the vendor's IPs from sshd."
    );
    if app.state.facts.cloud == Some(crate::cloud::Cloud::Aws) {
        firewall.push_str(&format!(
            " On AWS: EC2 → Instances → this instance → Security → Security groups → Inbound rules → Edit → Add rule: SSH (port {ports_text}), source each IP above as /32."
        ));
    }
    lines.extend(wrapped(
        &format!("{} 3. ", tick(ChecklistRow::FirewallInFront)),
        &firewall,
        7,
        row_style(ChecklistRow::FirewallInFront),
    ));
    lines.extend(wrapped(
        &format!("{} 4. ", tick(ChecklistRow::DatabaseAllowsBastion)),
        "The database's firewall / security group lets this host in on its port.",
        7,
        row_style(ChecklistRow::DatabaseAllowsBastion),
    ));
    let done = list.ticked_count();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "{done} of {} manual items ticked. Enter: finish.",
            ChecklistRow::ticked_rows().count()
        ),
        theme.strong(),
    ));
    frame.render_widget(Paragraph::new(lines), area);
}

/// The footer: the keys `on_ports` handles.
pub fn keys(app: &App) -> &'static str {
    if app.checklist.editing_target {
        "type HOST:PORT · Enter done"
    } else {
        "↑↓ · Space tick · e edit · p check · Enter next · Esc back"
    }
}

impl App {
    pub(crate) fn on_ports(&mut self, key: KeyEvent) -> Vec<Effect> {
        let list = &mut self.checklist;
        if list.editing_target {
            match key.code {
                KeyCode::Enter | KeyCode::Esc => {
                    list.editing_target = false;
                    self.edit_cursor = None;
                    if list.result.as_ref().is_some_and(|(t, _)| *t != list.target) {
                        list.result = None;
                    }
                    return vec![Effect::SaveTarget(list.target.clone())];
                }
                KeyCode::Char(c) if c.is_whitespace() => {}
                _ => {
                    line_edit::edit(&mut list.target, &mut self.edit_cursor, &key);
                }
            }
            return Vec::new();
        }
        match key.code {
            KeyCode::Esc => return self.go(Screen::Welcome),
            KeyCode::Enter => return self.go(Screen::Finish),
            KeyCode::Up => list.focus = list.focus.previous(),
            KeyCode::Down | KeyCode::Tab => list.focus = list.focus.next(),
            KeyCode::Char(' ' | 'x') if list.focus.tick_id().is_some() => {
                list.toggle(list.focus);
                return vec![Effect::SaveTicks(list.to_json())];
            }
            KeyCode::Char('e') => {
                list.focus = ChecklistRow::Database;
                list.editing_target = true;
                self.edit_cursor = None;
            }
            KeyCode::Char('p') => {
                if list.checking {
                    return Vec::new();
                }
                match port::parse_target(&list.target) {
                    Ok(_) => {
                        list.checking = true;
                        return vec![Effect::CheckPort(list.target.clone())];
                    }
                    Err(why) => {
                        self.notice = Some(if list.target.is_empty() {
                            "Press e and type the database's HOST:PORT first.".into()
                        } else {
                            why.to_string()
                        })
                    }
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
