//! One module per wizard screen: each renders from the app state and names its keys.

pub mod account;
pub mod finish;
pub mod paste;
pub mod ports;
pub mod progress;
pub mod review;
pub mod welcome;

use super::app::{App, Screen};

/// The keys that work right now on the current screen (the footer).
pub fn keys(app: &App) -> &'static str {
    match app.screen {
        Screen::Welcome => "Enter set up / add a key · c port checklist",
        Screen::Account => "Tab/↑↓ move · Space toggle · Enter next · Esc back",
        Screen::Paste => "paste the key · Enter next · Ctrl-U clear · Esc back",
        Screen::Review if app.confirm_apply => "y apply · n cancel",
        Screen::Review => "↑↓ scroll · Enter apply · Esc back",
        Screen::Apply if app.run.running => "applying…",
        Screen::Apply => "Enter next · Esc back",
        Screen::Ports if app.checklist.editing_target => "type HOST:PORT · Enter done",
        Screen::Ports => "↑↓ · Space tick · e edit · p check · Enter next · Esc back",
        Screen::Finish => "Enter quit · Esc back",
    }
}

pub fn help(screen: Screen) -> &'static str {
    match screen {
        Screen::Welcome => "Each line is one step of the SSH tunnel guide, checked on this host: ✓ done   ✗ missing or a problem   ! could not check   ? outside this host. Enter starts the setup (or adds another key); c jumps to the port checklist. Nothing changes until you confirm on the Review screen.",
        Screen::Account => "The vendor logs in as this user. Tunnel-only (recommended) lets the key forward ports and nothing else: no shell, no commands. Database targets, if given, limit forwarding to those HOST:PORT pairs (authorized_keys permitopen), e.g. db.internal:5432.",
        Screen::Paste => "Paste the public key exactly as the vendor sent it: wrapped lines, CRLF and RFC4716 blocks are fine, line breaks are removed. Compare the SHA256 fingerprint with the vendor's message. A private key is refused and wiped at once. Ctrl-U empties the box.",
        Screen::Review => "Every step of the plan with the shell command that does the same by hand. Done steps are skipped. Enter asks for confirmation, then applies. Applying is safe to repeat: a rerun changes nothing.",
        Screen::Apply => "Each step runs in order. If one fails, the ones before it stay done and a rerun continues where it stopped.",
        Screen::Ports => "Two network paths must be open outside this host: the vendor's IPs to the SSH port, and this host to the database. Tick what you have done; ticks are kept for the next run. e edits the database target, p tests it now.",
        Screen::Finish => "Give these values to the vendor. Run sudo bastion-wizard again at any time to see where the host stands.",
    }
}
