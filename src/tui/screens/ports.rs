//! Step 6: the guide's "Allow port access" as a checklist; verified items show results,
//! the rest are ticked by the person and remembered across runs.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::port::PortCheck;
use crate::tui::app::{App, Checklist, TARGET_ROW};
use crate::tui::theme::Theme;
use crate::tui::view::spinner;

pub fn ssh_ports(app: &App) -> Vec<u16> {
    app.state
        .sshd
        .as_ref()
        .map(|c| c.ports())
        .unwrap_or_else(|_| vec![22])
}

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let list = &app.checklist;
    let ports = ssh_ports(app);
    let ports_text = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let row_style = |row: usize| {
        if list.focus == row {
            theme.focus()
        } else {
            Style::new()
        }
    };
    let tick = |row: usize| {
        let id = Checklist::row_item(row).unwrap_or_default();
        if list.ticked(id) {
            "[x]"
        } else {
            "[ ]"
        }
    };
    let mut lines = vec![
        Line::raw("Two network paths must be open outside this host (guide: Allow port access)."),
        Line::raw(""),
        Line::styled(
            format!(
                "{} 1. {}'s IPs → this host's SSH port {ports_text}",
                tick(0),
                app.profile.name
            ),
            row_style(0),
        ),
        Line::styled(
            format!(
                "       {}",
                app.profile
                    .ips
                    .iter()
                    .map(|ip| format!("{ip}/32"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            theme.dim(),
        ),
    ];
    let listening = ports.iter().any(|p| app.state.listening_ports.contains(p));
    let port_source = if app.state.sshd.is_ok() {
        "from the sshd configuration"
    } else {
        "sshd configuration unread: run as root"
    };
    lines.push(if listening {
        Line::styled(
            format!("       ✓ sshd listens on {ports_text} ({port_source})"),
            theme.ok(),
        )
    } else {
        Line::styled(
            format!("       ✗ nothing listens on {ports_text} ({port_source})"),
            theme.error(),
        )
    });
    let target = if list.target.is_empty() && !list.editing_target {
        "(none: press e)".to_string()
    } else {
        list.target.clone()
    };
    let cursor = if list.editing_target { "▏" } else { "" };
    lines.push(Line::from(vec![
        Span::styled("DB  2. This host → the database ", row_style(TARGET_ROW)),
        Span::styled(
            format!("{target}{cursor}"),
            if list.editing_target {
                theme.focus()
            } else {
                theme.strong()
            },
        ),
    ]));
    lines.push(match (&list.result, list.checking) {
        (_, true) => Line::raw(format!(
            "       {} checking {}…",
            spinner(app.tick),
            list.target
        )),
        (Some((t, result @ PortCheck::Reachable { .. })), _) => {
            Line::styled(format!("       ✓ {}", result.summary(t)), theme.ok())
        }
        (Some((t, result)), _) => {
            Line::styled(format!("       ✗ {}", result.summary(t)), theme.error())
        }
        (None, _) => Line::styled("       p checks it from this host now", theme.dim()),
    });
    lines.push(Line::styled(
        format!("{} 3. On AWS: EC2 → Running Instances → this instance → Security groups → Inbound → Edit → Add rule: SSH (port {ports_text}), source each IP above as /32. No load balancer.", tick(2)),
        row_style(2),
    ));
    lines.push(Line::styled(
        format!(
            "{} 4. The database's firewall / security group lets this host in on its port.",
            tick(3)
        ),
        row_style(3),
    ));
    let done = crate::tui::app::TICKED_ITEMS
        .iter()
        .filter(|id| list.ticked(id))
        .count();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "{done} of {} manual items ticked. Enter: finish.",
            crate::tui::app::TICKED_ITEMS.len()
        ),
        theme.strong(),
    ));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}
