//! The wizard brought into the states that the snapshot tests and the README's pictures
//! show, in-process against the fixtures' host states, and drawn on ratatui's TestBackend.
//! One place, so a picture and its snapshot can never be of two different screens.
#![allow(dead_code)]

use bastion_wizard::apply::Outcome;
use bastion_wizard::inspect::HostState;
use bastion_wizard::tui::app::{App, Effect, Message, Screen};
use bastion_wizard::tui::theme::Theme;
use bastion_wizard::tui::view;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::fixtures::{app, fresh_host, ED25519};

/// The frame the wizard draws for `app` on a `width`×`height` terminal.
pub fn draw(app: &App, theme: &Theme, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| view::render(app, theme, frame))
        .unwrap();
    terminal
}

pub fn press(app: &mut App, code: KeyCode) {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// The Paste screen with `pasted` pasted (bracketed paste), nothing when empty.
pub fn on_paste_screen(state: HostState, pasted: &str) -> App {
    let mut app = app(state);
    app.screen = Screen::Paste;
    if !pasted.is_empty() {
        app.update(Event::Paste(pasted.into()));
    }
    app
}

/// The Review screen for ED25519 on `state`.
pub fn on_review(state: HostState) -> App {
    let mut app = on_paste_screen(state, ED25519);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Review);
    app
}

/// A fresh host's plan confirmed, and its first step done.
pub fn applying() -> App {
    let mut app = on_review(fresh_host());
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('y'));
    let plan = app.plan().clone();
    app.on_message(Message::Planned(plan));
    app.on_message(Message::StepRunning(0));
    app.on_message(Message::StepDone(0));
    app
}

/// Every step of a fresh host's plan done, and the host read again as `after`.
pub fn applied(after: HostState) -> App {
    let mut app = applying();
    for i in 1..app.run.progress.len() {
        app.on_message(Message::StepDone(i));
    }
    let effects = app.on_message(Message::Applied(Outcome::Done { changed: 6 }));
    let [Effect::Inspect(id, _)] = effects.as_slice() else {
        panic!("applying reads the host again: {effects:?}");
    };
    app.on_message(Message::Inspected(*id, Box::new(after)));
    app
}

/// The Finish screen with ED25519 pasted, on `state`.
pub fn on_finish(state: HostState) -> App {
    let mut app = on_paste_screen(state, ED25519);
    app.screen = Screen::Finish;
    app
}

/// The key line an earlier run installed for ED25519.
pub fn installed() -> String {
    format!("restrict,port-forwarding {ED25519}\n")
}

/// Focus on the Welcome screen's check with this id.
pub fn focus_check(app: &mut App, id: &str) {
    let index = app
        .report()
        .checks
        .iter()
        .position(|c| c.id == id)
        .expect("check listed");
    for _ in 0..index {
        press(app, KeyCode::Down);
    }
}

/// A second vendor key, as an earlier run installed it (public half made by ssh-keygen).
pub const OLD_ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIfS/9xIP2kG3w/rpnLFsKVIOHvS6H9ifMqUsGpTalOC old-vendor-key";
pub const OLD_ED25519_FINGERPRINT: &str = "SHA256:QWh/CzaS+4HZulqVYQK2ULOoldnJKWR6S1Gr46CeC30";

/// The key list `keys` gives for the app's user on its host state, with `ours` the
/// fingerprints the ledger says this program added, and one login with `used`.
pub fn key_list(
    app: &App,
    ours: &[&str],
    used: Option<(&str, &str)>,
) -> bastion_wizard::key_list::KeyList {
    use bastion_wizard::ledger::{Entry, Ledger, Record};
    use bastion_wizard::logs::{Accepted, Attempts};
    let ledger = Ledger {
        records: ours
            .iter()
            .map(|fp| Record {
                at: "2026-11-01T10:00:00Z".into(),
                entry: Entry::AddedKey {
                    user: app.account.user.clone(),
                    fingerprint: fp.to_string(),
                },
            })
            .collect(),
    };
    let attempts = Attempts {
        logins: used
            .map(|(fp, time)| Accepted {
                time: time.into(),
                addr: "203.0.113.7".into(),
                fingerprint: Some(fp.into()),
            })
            .into_iter()
            .collect(),
        ..Attempts::default()
    };
    bastion_wizard::key_list::from_parts(
        &app.request(),
        Ok(app.state.authorized_keys_content.clone()),
        &ledger,
        &attempts,
        app.state.clock,
        app.state.sshd_version,
    )
}

/// The app with its key list read as `key_list` gives it.
pub fn with_keys(mut app: App, ours: &[&str], used: Option<(&str, &str)>) -> App {
    let list = key_list(&app, ours, used);
    app.on_message(Message::Keys(Box::new(list)));
    app
}

/// What an auditor meets: an old key of ours that expires in a week and was last used,
/// the vendor's current key, and a later copy of it that sshd never uses.
pub fn auditors_keys() -> String {
    format!(
        "restrict,port-forwarding,expiry-time=\"20261204\" {OLD_ED25519}\nrestrict,port-forwarding {ED25519}\nrestrict,port-forwarding,permitopen=\"db:5432\" {ED25519}\n"
    )
}

/// Welcome on that host with its keys read, the key list chosen with Tab.
pub fn welcome_with_keys() -> App {
    let mut app = with_keys(
        app(crate::fixtures::set_up_host(&auditors_keys())),
        &[OLD_ED25519_FINGERPRINT],
        Some((OLD_ED25519_FINGERPRINT, "2026-11-20T09:15:02+00:00")),
    );
    press(&mut app, KeyCode::Tab);
    app
}
