//! One module per wizard screen: each renders from the app state and names its keys.

pub mod account;
pub mod finish;
pub mod paste;
pub mod ports;
pub mod progress;
pub mod review;
pub mod welcome;

use ratatui::text::Line;

use super::app::{App, Screen};
use super::theme::Theme;
use super::view::wrap_indented;
use crate::checks::Report;

/// Each failing check with what was found and its fix, wrapped to `width`: what Review,
/// Apply and Finish list when the host is not ready.
pub fn failing_lines(report: &Report, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for check in report.failing() {
        let found = if check.detail.is_empty() {
            check.title.clone()
        } else {
            format!("{}: {}", check.title, check.detail)
        };
        lines.extend(
            wrap_indented("✗ ", &found, 2, width)
                .into_iter()
                .map(|l| Line::styled(l, theme.error())),
        );
        if let Some(fix) = &check.fix {
            lines.extend(
                wrap_indented("  fix: ", fix, 7, width)
                    .into_iter()
                    .map(Line::raw),
            );
        }
    }
    lines
}

/// The keys that work right now on the current screen (the footer).
pub fn keys(app: &App) -> String {
    let keys = match app.screen {
        Screen::Welcome if app.checks.detail => {
            "↑↓ other checks · Esc close · Enter set up · c checklist"
        }
        Screen::Welcome => "↑↓ · Space details · Enter set up · c checklist",
        Screen::Account => "Tab/↑↓ move · Space toggle · Enter next · Esc back",
        Screen::Paste => "paste the key · Enter next · Ctrl-U clear · Esc back",
        Screen::Review if app.confirm_apply => "y apply · n cancel",
        Screen::Review => return review_keys(app),
        Screen::Apply if app.run.running => "applying…",
        Screen::Apply => "↑↓ scroll · Enter next · Esc back",
        Screen::Ports if app.checklist.editing_target => "type HOST:PORT · Enter done",
        Screen::Ports => "↑↓ · Space tick · e edit · p check · Enter next · Esc back",
        Screen::Finish if !app.is_root() => "↑↓ scroll · Enter quit · Esc back",
        Screen::Finish if app.proof.running => "proving… · ↑↓ scroll · Enter quit · Esc back",
        Screen::Finish => "↑↓ scroll · p prove it · Enter quit · Esc back",
    };
    keys.to_string()
}

/// The review's keys: `s` only where there is an sshd repair to switch, and Enter says
/// what it will do.
fn review_keys(app: &App) -> String {
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

pub fn help(screen: Screen) -> &'static str {
    match screen {
        Screen::Welcome => "Each line is one check of the SSH tunnel guide on this host: ✓ ok   ✗ fails   ! warning or could not check   ? outside this host, check it by hand. ↑↓ move through the list; Space (or →) opens the focused check's full detail and fix, Esc (or ←) closes it. Enter starts the setup (or adds another key); c jumps to the port checklist. Nothing changes until you confirm on the Review screen.",
        Screen::Account => "The vendor logs in as this user. Tunnel-only (recommended) lets the key forward ports and nothing else: no shell, no commands. Database targets, if given, limit forwarding to those HOST:PORT pairs (authorized_keys permitopen), e.g. db.internal:5432.",
        Screen::Paste => "Paste the public key exactly as the vendor sent it: wrapped lines, CRLF and RFC4716 blocks are fine, line breaks are removed. Compare the SHA256 fingerprint with the vendor's message. A private key is refused and wiped at once. Ctrl-U empties the box.",
        Screen::Review => "Every step of the plan with the shell command that does the same by hand. Done steps are skipped. When sshd's settings block the tunnel, the plan repairs them for this user only: the file, the exact lines and why are shown; s switches that step off or on. Enter asks for confirmation, then applies the whole plan. Applying is safe to repeat: a rerun changes nothing.",
        Screen::Apply => "Each step runs in order. If one fails, the ones before it stay done and a rerun continues where it stopped. After the run the whole host is checked again: if a check still fails, it is listed with its fix.",
        Screen::Ports => "Two network paths must be open outside this host: the vendor's IPs to the SSH port, and this host to the database. Tick what you have done; ticks are kept for the next run. e edits the database target, p tests it now.",
        Screen::Finish => "First what still fails, each with its fix; then the values the vendor's form asks for (host, port, user, database, host key fingerprints). p proves the tunnel live: a throwaway key opens a real ssh -N -L through this host's sshd and is removed after; what a proof from this host cannot show is listed. Run sudo bastion-wizard again at any time to see where the host stands.",
    }
}
