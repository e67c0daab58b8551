//! Step 7: what is still left, then what the vendor's form asks for, then the live proof
//! through this host's sshd.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use crate::connection::HostKey;
use crossterm::event::{KeyCode, KeyEvent};

use crate::tui::app::{App, Effect, PROOF_NEEDS_ROOT};
use crate::tui::screens::failing_lines;
use crate::tui::theme::Theme;
use crate::tui::view::{render_scrolled, spinner, wrap_indented};

/// Width of the form's label column.
const LABEL: usize = 12;

/// The short name `ssh-keygen -l` puts in brackets: ED25519, ECDSA, RSA.
fn key_type_name(key_type: &str) -> String {
    let name = key_type.strip_prefix("ssh-").unwrap_or(key_type);
    if name.starts_with("ecdsa") {
        return "ECDSA".into();
    }
    if let Some(sk) = name.strip_prefix("sk-") {
        let base = if sk.starts_with("ecdsa") {
            "ECDSA"
        } else {
            "ED25519"
        };
        return format!("{base}-SK");
    }
    name.split('@').next().unwrap_or(name).to_uppercase()
}

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let width = area.width as usize;
    let report = app.report();
    let connection = &report.connection;
    let wrapped = |first: &str, text: &str, indent: usize, style: Style| -> Vec<Line<'static>> {
        wrap_indented(first, text, indent, width)
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect()
    };
    let field = |label: &str, value: &str| -> Vec<Line<'static>> {
        let mut lines = wrap_indented("", value, 0, width.saturating_sub(LABEL + 2)).into_iter();
        let mut out = vec![Line::from(vec![
            Span::styled(format!("  {label:<LABEL$}"), theme.strong()),
            Span::raw(lines.next().unwrap_or_default()),
        ])];
        out.extend(lines.map(|l| Line::raw(format!("  {:LABEL$}{l}", ""))));
        out
    };

    // What is left comes first: the form is no use while the tunnel cannot work.
    let mut lines = Vec::new();
    if !app.is_root() {
        lines.extend(wrapped(
            "",
            "Preview (not root): nothing was changed on this host, and the checks that need root were not read.",
            0,
            theme.warn(),
        ));
    }
    // A failed proof outweighs the checks: the vendor would meet what it met.
    let proof_failed = app.proof.result.as_ref().is_some_and(|p| !p.ok);
    let ready = report.ready && app.is_root() && !proof_failed;
    let verdict_style = if ready { theme.ok() } else { theme.error() };
    let verdict = if report.ready && proof_failed {
        "Not ready: no check fails, but the live proof below did not get through this host's sshd. The vendor would meet the same: fix what it names first.".to_string()
    } else {
        app.verdict_words(report)
    };
    lines.extend(wrapped("", &verdict, 0, verdict_style));
    if !report.ready {
        lines.push(Line::styled("Still left:", theme.strong()));
        lines.extend(failing_lines(report, theme, width));
    }
    lines.extend(pair_lines(app, theme, width));
    lines.push(Line::raw(""));
    lines.push(Line::raw(if ready {
        format!("Enter these in {}'s SSH tunnel settings:", app.profile.name)
    } else {
        format!(
            "What {}'s SSH tunnel settings will ask for, once nothing is left:",
            app.profile.name
        )
    }));

    let host = connection.host.clone().unwrap_or_else(|| {
        "this host's public IP or DNS name (none found on its interfaces)".into()
    });
    lines.extend(field("SSH host", &host));
    lines.extend(field("SSH port", &connection.port.to_string()));
    lines.extend(field("SSH user", &connection.user));
    let db = if connection.db.is_empty() {
        "none given (Account screen, or e on the port checklist)".to_string()
    } else {
        connection.db.join(", ")
    };
    lines.extend(field("Database", &db));
    lines.extend(host_key_lines(&connection.host_keys, app.is_root(), &field));

    lines.push(Line::raw(""));
    app.proof_at
        .set(u16::try_from(lines.len()).unwrap_or(u16::MAX));
    lines.extend(proof_lines(app, theme, width));
    lines.extend(rotate_lines(app, theme, width));

    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "To see where this host stands at any time, run again:",
    ));
    lines.push(Line::styled(
        "  sudo bastion-wizard            (or: sudo bastion-wizard status)",
        theme.strong(),
    ));
    lines.extend(wrapped(
        "",
        &format!("Vendor documentation: {}", app.profile.docs),
        2,
        Style::new(),
    ));
    render_scrolled(lines, app.scroll, &app.scroll_room, theme, frame, area);
}

/// One entry per host key type, SHA256 and MD5 as the vendors' forms ask for them.
fn host_key_lines(
    keys: &[HostKey],
    is_root: bool,
    field: &dyn Fn(&str, &str) -> Vec<Line<'static>>,
) -> Vec<Line<'static>> {
    if keys.is_empty() {
        return field(
            "Host keys",
            if is_root {
                "none found in /etc/ssh"
            } else {
                "not read (run as root)"
            },
        );
    }
    let mut lines = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let label = if i == 0 { "Host keys" } else { "" };
        let name = format!("{:<8}", key_type_name(&key.key_type));
        lines.extend(field(label, &format!("{name}{}", key.sha256)));
        lines.extend(field("", &format!("{:8}{}", "", key.md5)));
    }
    lines
}

/// The live proof: how to start it, its spinner, or what it found.
fn proof_lines(app: &App, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let wrapped = |first: &str, text: &str, indent: usize, style: Style| -> Vec<Line<'static>> {
        wrap_indented(first, text, indent, width)
            .into_iter()
            .map(|l| Line::styled(l, style))
            .collect()
    };
    if !app.is_root() {
        return wrapped("", PROOF_NEEDS_ROOT, 2, theme.dim());
    }
    if app.proof.running {
        return vec![Line::raw(format!(
            "Live proof: {} a probe key opens a tunnel through this host's sshd…",
            spinner(app.tick)
        ))];
    }
    let Some(proof) = &app.proof.result else {
        return wrapped(
            "Live proof: ",
            "p opens a real tunnel through this host's sshd with a throwaway key, as the vendor will, then removes it.",
            2,
            Style::new(),
        );
    };
    let mut lines = vec![Line::styled(
        "Live proof (p runs it again):",
        theme.strong(),
    )];
    if proof.ok {
        lines.extend(wrapped("✓ ", &proof.summary, 2, theme.ok()));
    } else {
        lines.extend(wrapped("✗ ", &proof.summary, 2, theme.error()));
    }
    if let Some(error) = &proof.ssh_error {
        lines.extend(wrapped("  ssh said: ", error, 4, Style::new()));
    }
    if let Some(reason) = &proof.sshd_reason {
        lines.extend(wrapped("  sshd said: ", reason, 4, Style::new()));
    }
    for gap in &proof.not_proven {
        lines.extend(wrapped("  not proven from here: ", gap, 4, theme.dim()));
    }
    lines
}

/// A pair generated here: where its private half is and what to do with it, in the words
/// `apply --generate-key` prints. The private half itself is never read.
fn pair_lines(app: &App, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let Some(generated) = app.pair_in_use().filter(|g| g.installed) else {
        return Vec::new();
    };
    let mut lines = vec![Line::raw("")];
    for (i, text) in generated
        .pair
        .instructions(&app.profile.name)
        .iter()
        .enumerate()
    {
        let first = if i == 0 { "" } else { "  " };
        lines.extend(
            wrap_indented(first, text, 4, width)
                .into_iter()
                .map(|l| Line::styled(l, theme.strong())),
        );
    }
    lines
}

/// Rotation: once the new key got through, the older keys of ours, one key away.
fn rotate_lines(app: &App, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let old = app.old_keys_of_ours();
    if old.is_empty() {
        return Vec::new();
    }
    let which: Vec<String> = old
        .iter()
        .map(|k| format!("{} (line {})", k.fingerprint, k.line))
        .collect();
    wrap_indented(
        "Rotate: ",
        &format!(
            "the older key(s) this program added still open this host: {}. r revokes them (shows the lines first, asks y/n).",
            which.join(", ")
        ),
        2,
        width,
    )
    .into_iter()
    .map(|l| Line::styled(l, theme.warn()))
    .collect()
}

/// The footer: the keys `on_finish` handles.
pub fn keys(app: &App) -> &'static str {
    if !app.old_keys_of_ours().is_empty() {
        "↑↓ · r revoke old key · p prove · Enter quit · Esc back"
    } else if !app.is_root() {
        "↑↓ scroll · Enter quit · Esc back"
    } else if app.proof.running {
        "proving… · ↑↓ scroll · Enter quit · Esc back"
    } else {
        "↑↓ scroll · p prove it · Enter quit · Esc back"
    }
}

impl App {
    pub(crate) fn on_finish(&mut self, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => self.go(crate::tui::app::Screen::Ports),
            KeyCode::Enter => {
                self.should_quit = true;
                Vec::new()
            }
            KeyCode::Char('r') => self.ask_rotate(),
            KeyCode::Char('p') => {
                if !self.is_root() {
                    self.notice = Some(PROOF_NEEDS_ROOT.into());
                    return Vec::new();
                }
                if self.proof.running {
                    return Vec::new();
                }
                self.proof.running = true;
                vec![Effect::Verify(Box::new(self.request()))]
            }
            code => {
                self.scroll_keys(code);
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::key_type_name;

    #[test]
    fn host_key_types_read_as_ssh_keygen_names_them() {
        assert_eq!(key_type_name("ssh-ed25519"), "ED25519");
        assert_eq!(key_type_name("ecdsa-sha2-nistp256"), "ECDSA");
        assert_eq!(key_type_name("ssh-rsa"), "RSA");
        assert_eq!(key_type_name("sk-ssh-ed25519@openssh.com"), "ED25519-SK");
    }
}
