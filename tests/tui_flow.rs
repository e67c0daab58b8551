//! The wizard driven by key events in-process, from welcome to finish, against a fake
//! system: effects are checked and answered by hand, nothing real is touched.

mod fixtures;

use bastion_wizard::apply::Outcome;
use bastion_wizard::plan::StepState;
use bastion_wizard::port::PortCheck;
use bastion_wizard::tui::app::{App, Effect, Message, Screen};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use fixtures::*;

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    app.update(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn to_paste_screen(app: &mut App) {
    assert!(press(app, KeyCode::Enter).is_empty());
    assert_eq!(app.screen, Screen::Account);
    assert!(
        press(app, KeyCode::Enter).is_empty(),
        "same account: no new inspection"
    );
    assert_eq!(app.screen, Screen::Paste);
}

#[test]
fn full_run_from_welcome_to_finish() {
    let mut app = app(fresh_host());
    assert_eq!(app.screen, Screen::Welcome);
    to_paste_screen(&mut app);

    // Enter does not move on while there is no valid key.
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Paste);

    app.update(Event::Paste(wrapped(ED25519, 30)));
    let key = app.key().expect("wrapped key accepted").clone();
    assert_eq!(key.fingerprint, ED25519_FINGERPRINT);
    assert_eq!(key.line_breaks_removed, 3);
    assert_eq!(key.canonical(), ED25519);

    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Review);
    let plan = app.plan();
    assert!(plan.to_do() > 0);
    assert_eq!(
        plan.key_line.as_deref(),
        Some(format!("restrict,port-forwarding {ED25519}").as_str())
    );

    assert!(
        press(&mut app, KeyCode::Enter).is_empty(),
        "Enter only asks"
    );
    assert!(app.confirm_apply);
    let effects = press(&mut app, KeyCode::Char('y'));
    let [Effect::Apply(request)] = effects.as_slice() else {
        panic!("y must apply, got {effects:?}");
    };
    assert_eq!(request.user, "whaly");
    assert_eq!(request.key.as_ref(), Some(&key));
    assert_eq!(app.screen, Screen::Apply);
    assert!(app.run.running);

    // Keys do nothing while the worker runs.
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Apply);

    // The fake system reports progress the way the runtime does.
    app.on_message(Message::Planned(plan.clone()));
    let first_to_do = plan
        .steps
        .iter()
        .position(|s| s.state == StepState::ToDo)
        .unwrap();
    app.on_message(Message::StepRunning(first_to_do));
    app.on_message(Message::StepDone(first_to_do));
    let effects = app.on_message(Message::Applied(Outcome::Done { changed: 5 }));
    assert!(
        matches!(effects.as_slice(), [Effect::Inspect(_)]),
        "state is re-read after applying"
    );
    app.on_message(Message::Inspected(Box::new(set_up_host(&format!(
        "restrict,port-forwarding {ED25519}\n"
    )))));
    assert_eq!(app.plan().to_do(), 0, "after the refresh the plan is empty");

    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Ports);
    let effects = press(&mut app, KeyCode::Char(' '));
    let [Effect::SaveTicks(json)] = effects.as_slice() else {
        panic!("ticking saves, got {effects:?}");
    };
    assert_eq!(json, r#"{"vendor_ips":true}"#);

    press(&mut app, KeyCode::Char('e'));
    type_text(&mut app, "db.internal:5432");
    press(&mut app, KeyCode::Enter);
    let effects = press(&mut app, KeyCode::Char('p'));
    assert_eq!(effects, vec![Effect::CheckPort("db.internal:5432".into())]);
    assert!(app.checklist.checking);
    app.on_message(Message::PortChecked(
        "db.internal:5432".into(),
        PortCheck::Unreachable("connection refused".into()),
    ));
    assert!(!app.checklist.checking);

    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Finish);
    press(&mut app, KeyCode::Enter);
    assert!(app.should_quit);
}

#[test]
fn esc_goes_back_one_screen() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Account);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Welcome);
}

#[test]
fn a_pasted_private_key_is_wiped_at_once() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    app.update(Event::Paste(PRIVATE_LOOKALIKE.into()));
    assert!(
        app.paste.lines().join("").is_empty(),
        "the private key must not stay on screen"
    );
    assert_eq!(
        app.intake,
        Some(Err(bastion_wizard::key::KeyError::PrivateKey))
    );
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Paste);
}

#[test]
fn quitting_with_pending_changes_asks_first() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    app.update(Event::Paste(ED25519.into()));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Review);
    press(&mut app, KeyCode::Char('q'));
    assert!(app.confirm_quit && !app.should_quit);
    press(&mut app, KeyCode::Char('n'));
    assert!(!app.confirm_quit && !app.should_quit);
    press(&mut app, KeyCode::Char('q'));
    press(&mut app, KeyCode::Char('y'));
    assert!(app.should_quit);
}

#[test]
fn q_quits_at_once_when_nothing_is_pending() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Char('q'));
    assert!(app.should_quit);
}

#[test]
fn ctrl_c_always_quits_even_while_typing() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    type_text(&mut app, "ssh-ed25519 AAAA");
    ctrl(&mut app, 'c');
    assert!(app.should_quit);
}

#[test]
fn q_is_a_letter_on_the_account_screen() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Enter);
    for _ in 0..5 {
        press(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, "qtunnel");
    assert!(!app.should_quit);
    assert_eq!(app.account.user, "qtunnel");
    let effects = press(&mut app, KeyCode::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::Inspect(r)] if r.user == "qtunnel"),
        "a new account is inspected"
    );
}

#[test]
fn invalid_account_fields_stop_enter() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, " x");
    assert!(app.account.user_error().is_some());
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Account);
    assert!(app.notice.is_some());

    let mut app = fixtures::app(fresh_host());
    press(&mut app, KeyCode::Enter);
    for _ in 0..3 {
        press(&mut app, KeyCode::Tab);
    }
    type_text(&mut app, "db:99999");
    assert!(app.account.parsed_targets().is_err());
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Account);
}

#[test]
fn tunnel_only_toggle_changes_the_key_line() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char(' '));
    assert!(!app.account.tunnel_only);
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "10.0.0.9:5432");
    press(&mut app, KeyCode::Enter);
    app.update(Event::Paste(ED25519.into()));
    assert_eq!(
        app.plan().key_line.as_deref(),
        Some(format!("permitopen=\"10.0.0.9:5432\" {ED25519}").as_str())
    );
}

#[test]
fn preview_mode_never_applies() {
    let mut app = app(preview_host());
    to_paste_screen(&mut app);
    app.update(Event::Paste(ED25519.into()));
    press(&mut app, KeyCode::Enter);
    let effects = press(&mut app, KeyCode::Enter);
    assert!(effects.is_empty());
    assert!(!app.confirm_apply);
    assert!(app
        .notice
        .as_deref()
        .unwrap_or_default()
        .contains("sudo bastion-wizard"));
    assert!(press(&mut app, KeyCode::Char('y')).is_empty());
}

#[test]
fn answering_no_applies_nothing() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    app.update(Event::Paste(ED25519.into()));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert!(press(&mut app, KeyCode::Char('n')).is_empty());
    assert_eq!(app.screen, Screen::Review);
}

#[test]
fn a_set_up_host_skips_apply_and_reaches_the_checklist() {
    let mut app = app(set_up_host(&format!(
        "restrict,port-forwarding {ED25519}\n"
    )));
    assert!(app.report().ready);
    press(&mut app, KeyCode::Char('c'));
    assert_eq!(app.screen, Screen::Ports);

    let mut app = fixtures::app(set_up_host(&format!(
        "restrict,port-forwarding {ED25519}\n"
    )));
    to_paste_screen(&mut app);
    app.update(Event::Paste(ED25519.into()));
    press(&mut app, KeyCode::Enter);
    let effects = press(&mut app, KeyCode::Enter);
    assert!(effects.is_empty(), "nothing to apply");
    assert_eq!(app.screen, Screen::Ports);
}

#[test]
fn a_failed_apply_goes_back_to_review_for_a_rerun() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    app.update(Event::Paste(ED25519.into()));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('y'));
    app.on_message(Message::Applied(Outcome::Failed {
        done: vec!["Create group whaly".into()],
        error: "useradd failed".into(),
    }));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Review);
}

#[test]
fn help_opens_and_any_key_closes_it() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    press(&mut app, KeyCode::Char('q'));
    assert!(
        !app.help && !app.should_quit,
        "the key closing help does nothing else"
    );
}

#[test]
fn question_mark_is_help_even_on_text_screens() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    press(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    assert!(
        app.paste.lines().join("").is_empty(),
        "? is not typed into the key box"
    );
}

#[test]
fn an_oversized_paste_is_refused_without_being_kept() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    app.update(Event::Paste("A".repeat(200 * 1024)));
    assert_eq!(
        app.intake,
        Some(Err(bastion_wizard::key::KeyError::TooLarge))
    );
    assert!(app.paste.lines().join("").is_empty());
}
