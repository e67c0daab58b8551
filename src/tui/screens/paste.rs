//! Step 3: the key box, checked live by the engine's intake after every change. A paste
//! may arrive whole (bracketed paste) or as keystrokes; either way it is text only, and no
//! part of a private key is ever drawn.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::key::{self, KeyError};
use crate::plan;
use crate::profile::KeySource;
use crate::tui::app::{fresh_textarea, App, Effect, Screen};
use crate::tui::theme::Theme;

const INTRO: &str = "Paste the public key from the vendor's message. Wrapped lines are fine: line breaks are removed.";

/// Key type names as they start a public key line, to tell one being typed.
const TYPE_NAMES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-512",
];
/// authorized_keys options, which may stand before the key.
const OPTION_NAMES: &[&str] = &[
    "agent-forwarding",
    "cert-authority",
    "command",
    "environment",
    "expiry-time",
    "from",
    "no-agent-forwarding",
    "no-port-forwarding",
    "no-pty",
    "no-touch-required",
    "no-user-rc",
    "no-x11-forwarding",
    "permitlisten",
    "permitopen",
    "port-forwarding",
    "principals",
    "pty",
    "restrict",
    "tunnel",
    "user-rc",
    "verify-required",
    "x11-forwarding",
];
const RFC4716_BEGIN: &str = "---- BEGIN SSH2 PUBLIC KEY ----";

/// The rest of a private key that arrives in pieces, discarded line by line until its
/// END line. Only the current line is held, to spot that END line.
#[derive(Debug, Default)]
pub struct Swallow {
    line: String,
    end_seen: bool,
}

impl Swallow {
    /// Starts discarding after `text`, whose last line may be the start of the END line.
    fn after(text: &str) -> Swallow {
        let mut swallow = Swallow::default();
        if !text.ends_with('\n') {
            let last = text.rsplit('\n').next().unwrap_or_default();
            let start = last.len().saturating_sub(200);
            let start = (start..=last.len())
                .find(|i| last.is_char_boundary(*i))
                .unwrap_or(last.len());
            swallow.feed(&last[start..]);
        }
        swallow
    }

    /// Takes `text`; true once the private key has ended.
    fn feed(&mut self, text: &str) -> bool {
        for c in text.chars() {
            if c == '\n' {
                if self.end_seen {
                    self.line.clear();
                    return true;
                }
                self.line.clear();
            } else if self.line.len() < 256 {
                self.line.push(c);
                self.end_seen |= ends_private(&self.line);
            }
        }
        false
    }
}

/// The last line of a private key in each format the intake refuses.
fn ends_private(line: &str) -> bool {
    let line = line.trim();
    (line.contains("END") && line.contains("PRIVATE KEY")) || line.starts_with("Private-MAC:")
}

/// Whether text could be the start of a public key: only then is it drawn. A private
/// key, or any text that is not a key, never starts like one.
pub fn starts_like_public(text: &str) -> bool {
    let t = text.trim_start();
    if t.is_empty() || t.starts_with(RFC4716_BEGIN) || RFC4716_BEGIN.starts_with(t) {
        return true;
    }
    let first = t.split_whitespace().next().unwrap_or_default();
    if key::looks_like_key_type(first) || TYPE_NAMES.iter().any(|n| n.starts_with(first)) {
        return true;
    }
    let name = first
        .split(['=', ','])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && OPTION_NAMES.iter().any(|o| o.starts_with(&name))
}

/// Whether pasted text begins a new key (public or private), which then replaces a
/// complete key already in the box.
fn begins_a_key(text: &str) -> bool {
    let t = text.trim_start();
    let first = t.split_whitespace().next().unwrap_or_default();
    let (_, after_options) = key::split_options(t);
    let second = after_options.split_whitespace().next().unwrap_or_default();
    key::looks_like_key_type(first)
        || key::looks_like_key_type(second)
        || t.starts_with(RFC4716_BEGIN)
        || t.starts_with("-----BEGIN")
        || t.starts_with("PuTTY-User-Key-File")
}

/// Terminals send a pasted line break as CR, so a CRLF file arrives as CR CR: every run
/// of line breaks is one break (blank lines mean nothing inside a key).
pub fn one_break_per_run(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_break = false;
    for c in text.chars() {
        if c == '\r' || c == '\n' {
            if !in_break {
                out.push('\n');
            }
            in_break = true;
        } else {
            out.push(c);
            in_break = false;
        }
    }
    out
}

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let [intro, input, result] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(8),
        Constraint::Min(3),
    ])
    .areas(area);
    let intro_text = if app.profile.key_source == KeySource::Customer {
        format!(
            "{} asks you for a private key: Ctrl-G makes a pair here (its private half goes to a root-only file, never on screen).",
            app.profile.name
        )
    } else {
        INTRO.to_string()
    };
    frame.render_widget(Paragraph::new(intro_text).wrap(Wrap { trim: true }), intro);
    // Shown wrapped rather than through the text area's own widget, which scrolls long
    // lines sideways and would hide most of a one-line key.
    let block = Block::default().borders(Borders::ALL).title(" Public key ");
    let inner = block.inner(input);
    let text = app.paste.lines().join("\n");
    let content = if text.is_empty() {
        Paragraph::new(Line::styled(
            if app.swallowing.is_some() {
                "The rest of the private key is being thrown away as it arrives."
            } else if app.profile.key_source == KeySource::Customer {
                "Ctrl-G makes the key pair here, or paste a public key of yours"
            } else {
                "Paste the vendor's public key here (ssh-ed25519 AAAA… or ssh-rsa AAAA…)"
            },
            theme.dim(),
        ))
    } else if app.key().is_none() && !starts_like_public(&text) {
        Paragraph::new(Line::styled(
            format!(
                "({} characters, not shown: this does not start like a public key. Ctrl-U empties the box.)",
                text.chars().count()
            ),
            theme.dim(),
        ))
        .wrap(Wrap { trim: false })
    } else {
        // Broken at the box's width by characters, so the rows counted are the rows
        // drawn and the end of the key (with the cursor) is always in view.
        let width = inner.width.max(1) as usize;
        let rows: Vec<Line> = format!("{text}▏")
            .split('\n')
            .flat_map(|line| {
                let chars: Vec<char> = line.chars().collect();
                if chars.is_empty() {
                    return vec![Line::raw("")];
                }
                chars
                    .chunks(width)
                    .map(|c| Line::raw(c.iter().collect::<String>()))
                    .collect()
            })
            .collect();
        let scroll = rows.len().saturating_sub(inner.height as usize) as u16;
        Paragraph::new(rows).scroll((scroll, 0))
    };
    frame.render_widget(content.block(block), input);

    let lines = match &app.intake {
        None if app.keys.generating => vec![Line::styled(
            "Generating an ed25519 pair with ssh-keygen…",
            theme.dim(),
        )],
        None => vec![Line::styled("Waiting for a key…", theme.dim())],
        // The engine's sentence speaks of files; here the input is a paste.
        Some(Err(KeyError::TooLarge)) => vec![Line::styled(
            format!(
                "✗ That paste is larger than {} KiB, far more than a public key: copy only the key line from the vendor's message.",
                key::MAX_INPUT / 1024
            ),
            theme.error(),
        )],
        Some(Err(e)) => vec![Line::styled(format!("✗ {e}"), theme.error())],
        Some(Ok(key)) => {
            let mut lines = vec![
                Line::styled(
                    format!("✓ {} key  {}", key.describe(), key.fingerprint),
                    theme.ok(),
                ),
                Line::styled(
                    if app.pair_in_use().is_some() {
                        "  Made here by ssh-keygen; Finish says where the private half is."
                    } else {
                        "  Compare this fingerprint with the one in the vendor's message."
                    },
                    theme.dim(),
                ),
                Line::raw(format!(
                    "  Comment: {}",
                    if key.comment.is_empty() {
                        "(none)"
                    } else {
                        &key.comment
                    }
                )),
            ];
            let mut cleaned = Vec::new();
            if key.line_breaks_removed > 0 {
                cleaned.push(format!(
                    "joined {} wrapped line(s)",
                    key.line_breaks_removed + 1
                ));
            }
            if key.was_rfc4716 {
                cleaned.push("read from the ---- BEGIN SSH2 PUBLIC KEY ---- form".into());
            }
            if !cleaned.is_empty() {
                lines.push(Line::raw(format!("  {}", cleaned.join(", "))));
            }
            if let Some(options) = &key.pasted_options {
                lines.push(Line::styled(
                    format!("  The options before the key ({options}) are replaced by the Account screen's choice."),
                    theme.warn(),
                ));
            }
            lines.push(Line::styled("  Enter: review the changes", theme.strong()));
            lines
        }
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), result);
}

/// The footer: the keys `on_paste_key` handles.
pub fn keys(app: &App) -> &'static str {
    if app.profile.key_source == KeySource::Customer {
        "Ctrl-G make a pair · Enter next · Esc back"
    } else {
        "paste the key · Enter next · Ctrl-U clear · Esc back"
    }
}

pub const HELP: &str = "Paste the public key exactly as the vendor sent it, even if it is split over several lines: the line breaks are removed. Compare the SHA256 fingerprint with the one in the vendor's message. A private key is refused and never shown. Ctrl-U empties the box; a new paste replaces a complete key. A vendor that asks you for a private key (Airbyte, Metabase) has no key to paste: Ctrl-G makes a pair here, its private half goes to a root-only file (never on screen) and Finish says where.";

impl App {
    pub(crate) fn on_paste_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if self.swallowing.is_some() {
            match key.code {
                KeyCode::Esc => {
                    self.swallowing = None;
                    return self.go(Screen::Account);
                }
                KeyCode::Char('u') if ctrl => {
                    self.swallowing = None;
                    self.intake = None;
                }
                KeyCode::Enter => self.swallow("\n"),
                KeyCode::Char(c) if !ctrl => self.swallow(&c.to_string()),
                _ => {}
            }
            return Vec::new();
        }
        match key.code {
            KeyCode::Esc => return self.go(Screen::Account),
            // A complete key moves on, once the gate agrees; otherwise Enter is a line
            // break (someone typing a key by hand).
            KeyCode::Enter if self.key().is_some() => {
                match plan::prepare(&self.request(), &self.state) {
                    Ok(_) => return self.go(Screen::Review),
                    Err(why) => {
                        self.notice = Some(format!("✗ {why}. Esc goes back to the account."))
                    }
                }
            }
            KeyCode::Char('u') if ctrl => {
                self.paste = fresh_textarea();
                self.intake = None;
            }
            KeyCode::Char('g') if ctrl => return self.ask_generate(),
            _ => {
                if self.paste.input(key) {
                    self.run_intake();
                }
            }
        }
        Vec::new()
    }

    fn swallow(&mut self, text: &str) {
        if let Some(swallow) = &mut self.swallowing {
            if swallow.feed(text) {
                self.swallowing = None;
            }
        }
    }

    /// Text that arrived at once: a bracketed paste, or keystrokes faster than typing.
    pub(crate) fn paste_text(&mut self, text: &str, burst: bool) -> Vec<Effect> {
        let text = one_break_per_run(text);
        if self.swallowing.is_some() {
            self.swallow(&text);
            // A burst that showed the END line ends the private key with it.
            if burst && self.swallowing.as_ref().is_some_and(|s| s.end_seen) {
                self.swallowing = None;
            }
            return Vec::new();
        }
        if self.key().is_some() && begins_a_key(&text) {
            self.paste = fresh_textarea();
            self.intake = None;
        }
        // Too much to be a key: refused without holding it in the box.
        let held: usize = self.paste.lines().iter().map(|l| l.len() + 1).sum();
        if held + text.len() > key::MAX_INPUT {
            self.intake = Some(Err(KeyError::TooLarge));
            return Vec::new();
        }
        self.paste.insert_str(&text);
        self.run_intake();
        Vec::new()
    }

    /// Runs the engine's intake on what is in the box. A private key is wiped at once,
    /// so it is never drawn, and the rest of it is thrown away as it arrives.
    pub(crate) fn run_intake(&mut self) {
        let text = self.paste.lines().join("\n");
        if text.trim().is_empty() {
            self.intake = None;
            return;
        }
        let result = key::parse(&text);
        if result == Err(KeyError::PrivateKey) {
            // Ended only by an END line that is complete (a line break after it).
            let ended = text
                .rsplit_once('\n')
                .is_some_and(|(complete, _)| complete.lines().any(ends_private));
            self.paste = fresh_textarea();
            if !ended {
                self.swallowing = Some(Swallow::after(&text));
            }
        }
        self.intake = Some(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_starts_like_a_public_key_is_drawn() {
        for shown in [
            "",
            "ss",
            "ssh-ed25519 AAAA",
            "----",
            "---- BEGIN SSH2",
            "restrict,port-forwarding ssh-ed25519 AAAA",
            "from=\"10.0.0.1\" ssh-rsa AAAA",
            "PERMITOPEN=\"db:5432\" ssh-ed25519",
        ] {
            assert!(starts_like_public(shown), "{shown:?}");
        }
        for hidden in [
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
            "MIIEowIBAAKCAQEAx",
            "PuTTY-User-Key-File-3: ssh-ed25519",
            "hello world",
        ] {
            assert!(!starts_like_public(hidden), "{hidden:?}");
        }
    }

    #[test]
    fn a_crlf_paste_has_one_break_per_line() {
        assert_eq!(
            one_break_per_run("a\r\r\nb\r\rc\n\nd\r\ne"),
            "a\nb\nc\nd\ne"
        );
    }
}
