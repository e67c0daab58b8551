//! Step 6: the guide's "Allow port access" as a checklist; verified items show results,
//! the rest are ticked by the person and remembered across runs.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::port::PortCheck;
use crate::tui::app::{App, Checklist, TARGET_ROW, TICKED_ITEMS};
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
    let row_style = |row: usize| {
        if list.focus == row {
            theme.focus()
        } else {
            Style::new()
        }
    };
    let tick = |row: usize| {
        let ticked = Checklist::row_item(row).is_some_and(|id| list.ticked(id));
        if ticked {
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
        Line::raw("Two network paths must be open outside this host (guide: Allow port access)."),
        Line::raw(""),
    ];
    lines.extend(wrapped(
        &format!("{} 1. ", tick(0)),
        &format!(
            "{}'s IPs → this host's SSH port {ports_text}",
            app.profile.name
        ),
        7,
        row_style(0),
    ));
    let ips = app
        .profile
        .ips
        .iter()
        .map(|ip| format!("{ip}/32"))
        .collect::<Vec<_>>()
        .join(" ");
    lines.extend(wrapped("       ", &ips, 7, theme.dim()));
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
    let cursor = if list.editing_target { "▏" } else { "" };
    let target_style = if list.editing_target {
        theme.focus()
    } else {
        theme.strong()
    };
    lines.push(Line::from(vec![
        Span::styled("DB  2. This host → the database ", row_style(TARGET_ROW)),
        Span::styled(format!("{target}{cursor}"), target_style),
    ]));
    let (result, style) = match (&list.result, list.checking) {
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

    let aws = format!(
        "On AWS: EC2 → Running Instances → this instance → Security groups → Inbound → Edit → Add rule: SSH (port {ports_text}), source each IP above as /32. No load balancer."
    );
    lines.extend(wrapped(&format!("{} 3. ", tick(2)), &aws, 7, row_style(2)));
    lines.extend(wrapped(
        &format!("{} 4. ", tick(3)),
        "The database's firewall / security group lets this host in on its port.",
        7,
        row_style(3),
    ));
    let done = TICKED_ITEMS.iter().filter(|id| list.ticked(id)).count();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "{done} of {} manual items ticked. Enter: finish.",
            TICKED_ITEMS.len()
        ),
        theme.strong(),
    ));
    frame.render_widget(Paragraph::new(lines), area);
}
