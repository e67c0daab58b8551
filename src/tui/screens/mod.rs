//! One module per wizard screen: each renders from the app state and names its keys.

pub mod account;
pub mod finish;
pub mod keys_list;
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

/// The keys that work right now on the current screen (the footer); each screen's
/// module names them beside the code that handles them.
pub fn keys(app: &App) -> String {
    match app.screen {
        Screen::Welcome => welcome::keys(app).into(),
        Screen::Account => account::keys(app).into(),
        Screen::Paste => paste::keys(app).into(),
        Screen::Review => review::keys(app),
        Screen::Apply => progress::keys(app).into(),
        Screen::Ports => ports::keys(app).into(),
        Screen::Finish => finish::keys(app).into(),
    }
}

pub fn help(screen: Screen) -> &'static str {
    match screen {
        Screen::Welcome => {
            "Each line is one check of the SSH tunnel guide on this host: ✓ ok   ✗ \
            fails: the tunnel will not work until it is fixed   ! a warning (it may work) or not \
            read here   ? outside this host, check it by hand. ↑↓ move through the list; Space \
            (or →) opens the focused check's full detail and fix, Esc (or ←) closes it. Enter \
            starts the setup (or adds another key); c jumps to the port checklist. Nothing \
            changes until you confirm on the Review screen. Above the checks, every key line \
            of the user's authorized_keys: type, fingerprint, whether this program added it, \
            days left, last login. Tab moves ↑↓ to the keys; r shows which lines revoking the \
            selected key takes out and asks first. x shows what undoing this program's setup \
            for the user would do and asks first; deleting the account is a second choice (d)."
        }
        Screen::Account => {
            "The vendor logs in as this user. Tunnel-only (recommended) lets the \
            key forward ports and nothing else: no shell, no commands. Database targets, if \
            given, are the only places the tunnel can reach, e.g. db.internal:5432; separate \
            several with spaces. An expiry date (YYYY-MM-DD) is the key's last day: after it \
            sshd refuses the key. \"Only from the vendor's addresses\" lets the key work from \
            the profile's published addresses alone. PgUp/PgDn picks the vendor (and its \
            region): its addresses, user and needs, with where and when its IP list was \
            published."
        }
        Screen::Paste => paste::HELP,
        Screen::Review => {
            "Every step of the plan with the shell command that does the same by \
            hand. Done steps are skipped. When sshd's settings block the tunnel, the plan \
            repairs them for this user only: the file, the exact lines and why are shown; s \
            switches that step off or on. Enter asks for confirmation, then applies the whole \
            plan. Applying is safe to repeat: a rerun changes nothing."
        }
        Screen::Apply => {
            "Each step runs in order. If one fails, the ones before it stay done and \
            a rerun continues where it stopped. After the run the whole host is checked again: \
            if a check still fails, it is listed with its fix."
        }
        Screen::Ports => {
            "Two network paths must be open outside this host: the vendor's IPs to \
            the SSH port, and this host to the database. Tick what you have done; ticks are kept \
            for the next run. e edits the database target, p tests it now."
        }
        Screen::Finish => {
            "First what still fails, each with its fix; then the values the vendor's \
            form asks for (host, port, user, database, host key fingerprints). p proves the \
            tunnel live: a throwaway key opens a real ssh -N -L through this host's sshd and is \
            removed after; what a proof from this host cannot show is listed. Run sudo \
            bastion-wizard again at any time to see where the host stands."
        }
    }
}
