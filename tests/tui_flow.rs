//! The wizard driven by key events in-process, from welcome to finish, against a fake
//! system: effects are checked and answered by hand, nothing real is touched.

mod common;
mod fixtures;

use bastion_wizard::apply::Outcome;
use bastion_wizard::plan::{Action, StepState};
use bastion_wizard::port::PortCheck;
use bastion_wizard::tui::app::{App, Effect, Message, Screen};
use bastion_wizard::tui::screens;
use bastion_wizard::verify::Proof;
use common::wrapped;
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

/// The id of the one inspection `effects` asks for, which its answer must carry.
fn inspection(effects: &[Effect]) -> u64 {
    match effects {
        [Effect::Inspect(id, _)] => *id,
        other => panic!("expected one inspection, got {other:?}"),
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
    let plan = app.plan().clone();
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
    let id = inspection(&effects);
    app.on_message(Message::Inspected(
        id,
        Box::new(set_up_host(&format!(
            "restrict,port-forwarding {ED25519}\n"
        ))),
    ));
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
        matches!(effects.as_slice(), [Effect::Inspect(_, r)] if r.user == "qtunnel"),
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

/// The expiry field takes what `--expires` takes, with the same sentence for what it
/// refuses; the source toggle limits the key to the profile's addresses.
#[test]
fn expiry_and_source_on_the_account_screen_change_the_key_line() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Enter);
    for _ in 0..4 {
        press(&mut app, KeyCode::Tab);
    }
    // The fixtures' clock says 2026-11-27.
    for (bad, words) in [
        (
            "2026-11-26",
            "2026-11-26 is in the past (today is 2026-11-27 on this host)",
        ),
        ("2026-02-30", "2026-02-30 is not a day of the calendar"),
        ("26-1-1", "\"26-1-1\" is not a date"),
    ] {
        app.account.expires.clear();
        type_text(&mut app, bad);
        assert_eq!(app.account.expires, bad, "typed into the expiry field");
        let screen = text_of(&app);
        assert!(screen.contains(words), "{bad}: {screen}");
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.screen, Screen::Account, "{bad} must stop Enter");
        assert!(app.notice.is_some());
    }
    app.account.expires.clear();
    type_text(&mut app, "2026-12-31");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char(' '));
    assert!(app.account.from_vendor_ips);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Paste);
    app.update(Event::Paste(ED25519.into()));
    let ips: Vec<String> = app.profile.ips.iter().map(|ip| ip.to_string()).collect();
    assert_eq!(
        app.plan().key_line.as_deref(),
        Some(
            format!(
                "from=\"{}\",expiry-time=\"20261231235959\",restrict,port-forwarding {ED25519}",
                ips.join(",")
            )
            .as_str()
        )
    );
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Review);
    let review = text_of(&app);
    assert!(
        review.contains("expiry-time=\"20261231235959\""),
        "{review}"
    );
}

/// A profile without addresses cannot limit the key to them: the toggle says so and Enter
/// stops, as `--from-vendor-ips` refuses it.
#[test]
fn the_source_toggle_needs_vendor_addresses() {
    let mut app = app(fresh_host());
    app.profile.ips.clear();
    press(&mut app, KeyCode::Enter);
    for _ in 0..5 {
        press(&mut app, KeyCode::Tab);
    }
    press(&mut app, KeyCode::Char(' '));
    let screen = text_of(&app);
    assert!(screen.contains("lists no vendor addresses"), "{screen}");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Account);
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
        step: Some("Create user whaly".into()),
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

/// The whole frame as text (80x24, no colour), to assert on what a screen says.
fn text_of(app: &App) -> String {
    use bastion_wizard::tui::{theme::Theme, view};
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|frame| view::render(app, &Theme { color: false }, frame))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}

fn installed() -> String {
    format!("restrict,port-forwarding {ED25519}\n")
}

/// Words no screen may use about a host whose checks still fail.
fn assert_not_called_ready(text: &str) {
    for claim in [
        "already set up",
        "is set up.",
        "complete",
        "Ready:",
        "Enter these in",
    ] {
        assert!(
            !text.contains(claim),
            "a host with a failing check must not read {claim:?}:\n{text}"
        );
    }
}

fn to_review_with_key(app: &mut App) {
    to_paste_screen(app);
    app.update(Event::Paste(ED25519.into()));
    press(app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Review);
}

#[test]
fn welcome_list_moves_and_opens_the_focused_checks_detail() {
    let mut app = app(forwarding_blocked_host(&installed()));
    let checks = app.report().checks.clone();
    let forwarding = checks
        .iter()
        .position(|c| c.id == "sshd_forwarding")
        .unwrap();
    for _ in 0..forwarding {
        press(&mut app, KeyCode::Down);
    }
    assert_eq!(app.checks.focus, forwarding);
    press(&mut app, KeyCode::Char(' '));
    assert!(app.checks.detail, "Space opens the detail");
    let detail = text_of(&app);
    let fix = checks[forwarding].fix.clone().unwrap();
    // The fix is shown in full (wrapped), not cut off at the column.
    let flat: String = detail
        .lines()
        .map(|l| l.trim_matches(|c: char| c == '│' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains("then reload sshd") && flat.contains("AllowTcpForwarding local"),
        "{detail}"
    );
    assert!(fix.contains("reload sshd"));

    press(&mut app, KeyCode::Up);
    assert_eq!(
        app.checks.focus,
        forwarding - 1,
        "↑↓ move in the detail too"
    );
    assert!(app.checks.detail);
    press(&mut app, KeyCode::Esc);
    assert!(!app.checks.detail, "Esc closes the detail");
    assert_eq!(app.screen, Screen::Welcome, "and does not leave the screen");
    press(&mut app, KeyCode::Right);
    assert!(app.checks.detail, "→ opens it too");
    press(&mut app, KeyCode::Left);
    assert!(!app.checks.detail, "← closes it");

    press(&mut app, KeyCode::End);
    assert_eq!(app.checks.focus, checks.len() - 1);
    press(&mut app, KeyCode::Down);
    assert_eq!(
        app.checks.focus,
        checks.len() - 1,
        "focus stays on the list"
    );
    let end = text_of(&app);
    assert!(
        end.contains(&checks.last().unwrap().title),
        "the list scrolls to the focused check:\n{end}"
    );
    press(&mut app, KeyCode::Home);
    assert_eq!(app.checks.focus, 0);

    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Account, "Enter still sets up");
}

#[test]
fn welcome_legend_says_what_the_marks_mean() {
    let app = app(preview_host());
    let text = text_of(&app);
    assert!(text.contains("! warning, or not read"), "{text}");
    assert!(screens::help(Screen::Welcome).contains("! a warning (it may work) or not read here"));
}

#[test]
fn account_done_but_sshd_failing_is_not_ready_on_every_screen() {
    let state = forwarding_blocked_host(&installed());
    let mut app = app(state.clone());
    let welcome = text_of(&app);
    assert!(
        welcome.contains("Not ready: the account is set up, but 1 check(s)"),
        "{welcome}"
    );

    // Review with the sshd repair switched off: nothing to change, yet not ready, and
    // the failing check with its fix.
    to_review_with_key(&mut app);
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.plan().to_do(), 0);
    let review = text_of(&app);
    assert_not_called_ready(&review);
    assert!(review.contains("Nothing to change. Not ready"), "{review}");
    for _ in 0..20 {
        press(&mut app, KeyCode::Down);
    }
    let review = text_of(&app);
    assert!(review.contains("✗ sshd allows TCP forwarding"), "{review}");
    assert!(review.contains("fix: in /etc/ssh/sshd_config"), "{review}");
    press(&mut app, KeyCode::Enter);
    let notice = app.notice.clone().unwrap_or_default();
    assert!(notice.contains("1 check(s) still fail"), "{notice}");
    assert!(!notice.contains("set up"), "{notice}");
    assert_eq!(app.screen, Screen::Ports);

    // Apply: the run is done, the fresh report still fails.
    let mut app = fixtures::app(fresh_host());
    to_review_with_key(&mut app);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('y'));
    let id = inspection(&app.on_message(Message::Applied(Outcome::Done { changed: 6 })));
    assert!(app.run.reinspecting);
    let waiting = text_of(&app);
    assert!(
        waiting.contains("Checking the whole host again"),
        "{waiting}"
    );
    assert_not_called_ready(&waiting);
    app.on_message(Message::Inspected(id, Box::new(state)));
    assert!(!app.run.reinspecting);
    let apply = text_of(&app);
    assert_not_called_ready(&apply);
    assert!(apply.contains("✓ Done: 6 step(s) applied."), "{apply}");
    assert!(
        apply.contains("Not ready: the account is set up"),
        "{apply}"
    );
    assert!(apply.contains("✗ sshd allows TCP forwarding"), "{apply}");

    // Finish leads with what is left, before the form.
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Finish);
    let finish = text_of(&app);
    assert_not_called_ready(&finish);
    let left = finish.find("✗ sshd allows TCP forwarding").expect(&finish);
    let form = finish.find("SSH host").expect(&finish);
    assert!(left < form, "what is left comes first:\n{finish}");
}

#[test]
fn a_ready_host_is_called_ready_after_apply_and_on_finish() {
    let mut app = app(fresh_host());
    to_review_with_key(&mut app);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('y'));
    let id = inspection(&app.on_message(Message::Applied(Outcome::Done { changed: 6 })));
    app.on_message(Message::Inspected(id, Box::new(set_up_host(&installed()))));
    assert!(text_of(&app).contains("Ready: no check fails on this host."));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    let finish = text_of(&app);
    assert!(finish.contains("Enter these in Whaly's SSH tunnel settings:"));
    assert!(!finish.contains("Still left"), "{finish}");
}

#[test]
fn the_sshd_repair_is_on_by_default_and_s_switches_it() {
    let mut app = app(forwarding_blocked_host(&installed()));
    to_review_with_key(&mut app);
    let has_repair = |app: &App| {
        app.plan()
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::RepairSshd(_)))
    };
    assert!(app.request().fix_sshd, "on by default as root");
    assert!(has_repair(&app));
    assert!(screens::keys(&app).contains("s sshd repair off"));
    let review = text_of(&app);
    assert!(
        review.contains("in /etc/ssh/sshd_config.d/00-bastion-wizard-whaly.conf:"),
        "{review}"
    );
    assert!(review.contains("    AllowTcpForwarding local"), "{review}");
    assert!(review.contains("why: AllowTcpForwarding no"), "{review}");

    press(&mut app, KeyCode::Char('s'));
    assert!(!app.request().fix_sshd);
    assert!(!has_repair(&app), "off: the plan leaves sshd alone");
    assert!(screens::keys(&app).contains("s sshd repair on"));
    assert!(text_of(&app).contains("○ off"));
    assert!(
        app.notice
            .as_deref()
            .unwrap_or_default()
            .contains("not ready"),
        "{:?}",
        app.notice
    );

    press(&mut app, KeyCode::Char('s'));
    assert!(app.request().fix_sshd && has_repair(&app));
    // The whole plan, repair included, is still confirmed with y.
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    let effects = press(&mut app, KeyCode::Char('y'));
    let [Effect::Apply(request)] = effects.as_slice() else {
        panic!("y applies, got {effects:?}");
    };
    assert!(request.fix_sshd, "the apply carries the repair");
}

#[test]
fn s_with_nothing_to_repair_changes_nothing() {
    let mut app = app(set_up_host(&installed()));
    to_review_with_key(&mut app);
    assert!(!screens::keys(&app).contains("sshd repair"));
    press(&mut app, KeyCode::Char('s'));
    assert!(app.fix_sshd, "no repair to switch");
    assert!(app
        .notice
        .as_deref()
        .unwrap_or_default()
        .contains("nothing to repair"));
}

#[test]
fn a_preview_never_asks_for_the_sshd_repair() {
    let app = app(preview_host());
    assert!(!app.request().fix_sshd);
    assert!(app.sshd_repair().is_none());
}

#[test]
fn p_on_finish_proves_the_tunnel_and_shows_the_result() {
    let mut app = app(set_up_host(&installed()));
    press(&mut app, KeyCode::Char('c'));
    press(&mut app, KeyCode::Char('e'));
    type_text(&mut app, "db.internal:5432");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Finish);

    let effects = press(&mut app, KeyCode::Char('p'));
    let [Effect::Verify(request)] = effects.as_slice() else {
        panic!("p proves, got {effects:?}");
    };
    assert_eq!(request.user, "whaly");
    assert_eq!(
        request
            .db_targets()
            .first()
            .map(|t| t.to_string())
            .as_deref(),
        Some("db.internal:5432"),
        "the proof goes to the checklist's database"
    );
    assert!(app.proof.running);
    assert!(text_of(&app).contains("a probe key opens a tunnel"));
    assert!(
        press(&mut app, KeyCode::Char('p')).is_empty(),
        "one proof at a time"
    );

    let effects = app.on_message(Message::Verified(Proof {
        ok: false,
        summary: "sshd refused the forward to db.internal:5432".into(),
        ssh_error: Some("administratively prohibited: open failed".into()),
        sshd_reason: Some("refused local port forward".into()),
        not_proven: vec!["anything outside this host".into()],
        ..Proof::default()
    }));
    assert!(
        matches!(effects.as_slice(), [Effect::Inspect(..)]),
        "after a proof the host is read again: {effects:?}"
    );
    assert!(!app.proof.running);
    let shown = text_of(&app);
    // No check fails here, yet a failed proof is never shown beside "Ready".
    assert_not_called_ready(&shown);
    assert!(
        shown.contains("Not ready: no check fails, but the live proof"),
        "{shown}"
    );
    for part in [
        "✗ sshd refused the forward to db.internal:5432",
        "ssh said: administratively prohibited: open failed",
        "sshd said: refused local port forward",
        "not proven from here: anything outside this host",
    ] {
        assert!(shown.contains(part), "{part:?} missing:\n{shown}");
    }

    let effects = press(&mut app, KeyCode::Char('p'));
    assert!(
        matches!(effects.as_slice(), [Effect::Verify(_)]),
        "p runs it again"
    );
    app.on_message(Message::Verified(Proof {
        ok: true,
        summary: "bytes went through to db.internal:5432".into(),
        ssh_error: None,
        sshd_reason: None,
        not_proven: Vec::new(),
        ..Proof::default()
    }));
    assert!(text_of(&app).contains("✓ bytes went through to db.internal:5432"));

    // Back on Finish later, an old result is not shown as if it were about the host now.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Finish);
    assert!(app.proof.result.is_none());
    assert!(!text_of(&app).contains("bytes went through"));
}

#[test]
fn preview_finish_does_not_read_as_set_up_and_cannot_prove() {
    let mut app = app(preview_host());
    app.screen = Screen::Finish;
    let text = text_of(&app);
    assert!(text.contains("Preview (not root)"), "{text}");
    assert!(!text.contains("Enter these in"), "{text}");
    for _ in 0..40 {
        press(&mut app, KeyCode::Down);
    }
    let text = text_of(&app);
    assert!(
        text.contains("The live proof needs root"),
        "scrolled down, the proof says why it is off:\n{text}"
    );
    assert!(press(&mut app, KeyCode::Char('p')).is_empty());
    assert!(app
        .notice
        .as_deref()
        .unwrap_or_default()
        .contains("needs root"));
    assert!(!app.proof.running);

    // A set-up host read without root is not called ready either: sshd went unread.
    let mut state = set_up_host(&installed());
    state.is_root = false;
    state.sshd = Err("run as root to check the sshd configuration".into());
    let mut app = fixtures::app(state);
    app.screen = Screen::Finish;
    let text = text_of(&app);
    assert!(!text.contains("Ready:"), "{text}");
    assert!(text.contains("Not known to be ready"), "{text}");
}

#[test]
fn finish_shows_the_form_fields_from_the_report() {
    let mut state = with_host_keys(set_up_host(&installed()));
    state.facts.addresses = vec!["10.0.0.5".into(), "34.90.1.2".into()];
    let mut app = app(state);
    app.account.targets = "10.0.0.9:5432".into();
    app.refresh();
    app.screen = Screen::Finish;
    let text = text_of(&app);
    for part in [
        "SSH host    34.90.1.2",
        "SSH port    22",
        "SSH user    whaly",
        "Database    10.0.0.9:5432",
        "ED25519 SHA256:+kaX0oK57/cf17fseXcPcbT7f8DWd8goFvspvol+KxU",
        "MD5:3e:d0:2d:77:90:68:22:05:f3:97:4f:91:35:67:d5:25",
        "ECDSA   SHA256:lbQ3piW4zjuijQnKopupANp0YVrE5jtHVvMv3HMOPis",
    ] {
        assert!(text.contains(part), "{part:?} missing:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Input that arrives as keystrokes (issue 7)
// ---------------------------------------------------------------------------------------

fn key_event(c: char) -> Event {
    let code = match c {
        '\r' | '\n' => KeyCode::Enter,
        c => KeyCode::Char(c),
    };
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Text as a terminal without bracketed paste types it: one burst of key events.
fn burst(app: &mut App, text: &str) -> Vec<Effect> {
    app.burst(text.chars().map(key_event).collect())
}

/// No body line of the private key, not even its start, is anywhere on screen.
fn assert_no_private_material(app: &App) {
    let text = text_of(app);
    for line in PRIVATE_BODY {
        assert!(
            !text.contains(&line[..10]),
            "private key material on screen:\n{text}"
        );
    }
}

#[test]
fn a_private_key_typed_key_by_key_is_never_drawn() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    for c in private_key_text("\r").chars() {
        app.update(key_event(c));
        assert_no_private_material(&app);
        assert_eq!(app.screen, Screen::Paste);
    }
    assert_eq!(
        app.intake,
        Some(Err(bastion_wizard::key::KeyError::PrivateKey))
    );
    assert!(app.swallowing.is_none(), "the END line ends the discarding");
    // What comes after the private key is read again.
    app.update(Event::Paste(ED25519.into()));
    assert!(app.key().is_some());
}

#[test]
fn a_private_key_typed_in_bursts_that_split_anywhere_is_never_drawn() {
    let text = private_key_text("\r");
    for cut in [5, 36, 40, 90, text.len() - 10] {
        let mut app = app(fresh_host());
        to_paste_screen(&mut app);
        burst(&mut app, &text[..cut]);
        assert_no_private_material(&app);
        burst(&mut app, &text[cut..]);
        assert_no_private_material(&app);
        assert_eq!(app.screen, Screen::Paste, "cut at {cut}");
        assert_eq!(
            app.intake,
            Some(Err(bastion_wizard::key::KeyError::PrivateKey)),
            "cut at {cut}"
        );
        assert!(app.swallowing.is_none(), "cut at {cut}");
    }
    // A PEM body pasted without its armour is not drawn either.
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    burst(&mut app, "MIIEowIBAAKCAQEAx3kV9Lq2b8Rt0WZ\r");
    assert!(!text_of(&app).contains("MIIEowIBAA"));
}

#[test]
fn a_wrapped_key_typed_as_keystrokes_never_leaves_the_paste_screen() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    // The first line is a whole key; the comment wraps onto the next line, then an
    // Enter and a y follow, as the rest of the typed text.
    let (key_part, comment) = ED25519.rsplit_once(' ').unwrap();
    let typed = format!("{key_part} whaly\rrsakey\ry\r");
    let effects = burst(&mut app, &typed);
    assert!(effects.is_empty());
    assert_eq!(app.screen, Screen::Paste, "a burst never presses Enter");
    assert!(!app.confirm_apply);
    assert!(app.key().is_none() || app.key().unwrap().comment != comment);
    // The same text with no stray y: the person's own Enter then moves on.
    let mut app = fixtures::app(fresh_host());
    to_paste_screen(&mut app);
    burst(
        &mut app,
        &format!("{}\r{}\r", &ED25519[..50], &ED25519[50..]),
    );
    assert_eq!(app.screen, Screen::Paste);
    assert_eq!(app.key().unwrap().canonical(), ED25519);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Review);
    // On Review a burst answers nothing, not even the apply prompt.
    press(&mut app, KeyCode::Enter);
    assert!(app.confirm_apply);
    assert!(burst(&mut app, "yy\r").is_empty());
    assert_eq!(app.screen, Screen::Review);
    assert!(app.notice.as_deref().unwrap_or_default().contains("faster"));
}

#[test]
fn an_arrow_held_down_still_scrolls() {
    let mut app = app(fresh_host());
    let down = Event::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
    app.burst(vec![down.clone(), down.clone(), down]);
    assert_eq!(app.checks.focus, 3);
}

#[test]
fn a_new_paste_replaces_a_complete_key() {
    let other =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEtQ2lDb2zV8sUhvdDpcyd2IUVxKUB8eMN1FrRckhmqW second";
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    app.update(Event::Paste(ED25519.into()));
    app.update(Event::Paste(other.into()));
    assert_eq!(app.key().unwrap().canonical(), other, "{:?}", app.intake);
    // As keystrokes too, and the rest of a wrapped comment still joins its key.
    burst(&mut app, ED25519);
    assert_eq!(app.key().unwrap().canonical(), ED25519, "{:?}", app.intake);
}

#[test]
fn a_crlf_paste_counts_its_lines_as_the_cli_does() {
    let twelve: Vec<String> = ED25519
        .chars()
        .collect::<Vec<_>>()
        .chunks(8)
        .take(11)
        .map(|c| c.iter().collect())
        .chain(std::iter::once(ED25519.chars().skip(88).collect()))
        .collect();
    // A terminal pastes a CRLF file's line ends as CR CR.
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    app.update(Event::Paste(twelve.join("\r\r")));
    let key = app.key().expect("accepted").clone();
    assert_eq!(key.line_breaks_removed, 11);
    let cli = bastion_wizard::key::parse(&twelve.join("\r\n")).unwrap();
    assert_eq!(key.line_breaks_removed, cli.line_breaks_removed);
    assert!(
        !app.paste.lines().iter().any(|l| l.is_empty()),
        "no blank line between wrapped lines: {:?}",
        app.paste.lines()
    );
    // Typed: a CR then an LF (Ctrl-J in raw mode) is one break too.
    let mut app = fixtures::app(fresh_host());
    to_paste_screen(&mut app);
    let mut events = Vec::new();
    for (i, part) in twelve.iter().enumerate() {
        events.extend(part.chars().map(key_event));
        if i + 1 < twelve.len() {
            events.push(key_event('\r'));
            events.push(Event::Key(KeyEvent::new(
                KeyCode::Char('j'),
                KeyModifiers::CONTROL,
            )));
        }
    }
    app.burst(events);
    assert_eq!(app.key().expect("accepted").line_breaks_removed, 11);
}

#[test]
fn the_paste_screen_speaks_plainly() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    app.update(Event::Paste(ED25519.into()));
    let text = text_of(&app);
    assert!(!text.contains("line break"), "no zero count:\n{text}");
    let help = screens::help(Screen::Paste);
    assert!(
        !help.contains("CRLF") && !help.contains("RFC4716"),
        "{help}"
    );
    app.update(Event::Paste("A".repeat(200 * 1024)));
    let text = text_of(&app);
    assert!(!text.contains("file"), "{text}");
    assert!(text.contains("paste"), "{text}");
}

// ---------------------------------------------------------------------------------------
// The gate, the account form, the checklist (issue 7)
// ---------------------------------------------------------------------------------------

fn system_account(uid: u32) -> bastion_wizard::inspect::HostState {
    let mut state = set_up_host("");
    let account = state.user.as_mut().unwrap();
    account.uid = uid;
    account.home = "/run/sshd".into();
    state.home_path = "/run/sshd".into();
    state
}

#[test]
fn a_system_account_is_refused_on_the_account_screen() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Enter);
    ctrl(&mut app, 'u');
    type_text(&mut app, "sshd");
    let effects = press(&mut app, KeyCode::Enter);
    assert!(matches!(effects.as_slice(), [Effect::Inspect(_, r)] if r.user == "sshd"));
    assert_eq!(app.screen, Screen::Account, "waits for the host to be read");
    app.on_message(Message::Inspected(
        inspection(&effects),
        Box::new(system_account(102)),
    ));
    assert_eq!(
        app.screen,
        Screen::Account,
        "refused before the key is asked for"
    );
    let text = text_of(&app);
    assert!(text.contains("system account"), "{text}");
    assert!(
        !text.contains("--"),
        "no command-line flags on screen:\n{text}"
    );
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Account);
    // nobody (uid 65534) too.
    let mut app = fixtures::app(fresh_host());
    press(&mut app, KeyCode::Enter);
    ctrl(&mut app, 'u');
    type_text(&mut app, "nobody");
    let id = inspection(&press(&mut app, KeyCode::Enter));
    app.on_message(Message::Inspected(id, Box::new(system_account(65534))));
    assert_eq!(app.screen, Screen::Account);
    assert!(app.refusal.is_some());
}

#[test]
fn account_fields_have_the_usual_line_editing_keys() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Enter);
    ctrl(&mut app, 'u');
    assert_eq!(app.account.user, "");
    type_text(&mut app, "data vendor");
    ctrl(&mut app, 'w');
    assert_eq!(app.account.user, "data ");
    ctrl(&mut app, 'a');
    ctrl(&mut app, 'k');
    assert_eq!(app.account.user, "");
    type_text(&mut app, "haly");
    ctrl(&mut app, 'a');
    type_text(&mut app, "w");
    assert_eq!(app.account.user, "whaly");
}

#[test]
fn names_starting_with_underscore_are_allowed_and_said_to_be() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Enter);
    ctrl(&mut app, 'u');
    type_text(&mut app, "_svc");
    assert_eq!(app.account.user_error(), None);
    ctrl(&mut app, 'u');
    type_text(&mut app, "1svc");
    assert!(app.account.user_error().unwrap().contains("letter or _"));
    for _ in 0..3 {
        press(&mut app, KeyCode::Tab);
    }
    assert!(text_of(&app).contains("several separated by spaces"));
}

#[test]
fn a_database_typed_on_account_reaches_the_checklist_and_finish() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Enter);
    for _ in 0..3 {
        press(&mut app, KeyCode::Tab);
    }
    type_text(&mut app, "db.internal:5432");
    let effects = press(&mut app, KeyCode::Enter);
    assert!(
        effects.contains(&Effect::SaveTarget("db.internal:5432".into())),
        "kept for the next run: {effects:?}"
    );
    app.screen = Screen::Ports;
    let ports = text_of(&app);
    assert!(ports.contains("db.internal:5432"), "{ports}");
    assert!(!ports.contains("none yet"), "{ports}");
    assert_eq!(
        app.report().connection.db,
        vec!["db.internal:5432".to_string()]
    );
}

#[test]
fn a_changed_target_hides_the_old_port_result() {
    let mut app = app(fresh_host());
    app.screen = Screen::Ports;
    press(&mut app, KeyCode::Char('e'));
    type_text(&mut app, "db:99999");
    press(&mut app, KeyCode::Enter);
    app.on_message(Message::PortChecked(
        "db:99999".into(),
        PortCheck::Unreachable("invalid port".into()),
    ));
    assert!(text_of(&app).contains("invalid port"));
    press(&mut app, KeyCode::Char('e'));
    ctrl(&mut app, 'u');
    type_text(&mut app, "127.0.0.1:5432");
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(effects, vec![Effect::SaveTarget("127.0.0.1:5432".into())]);
    let text = text_of(&app);
    assert!(!text.contains("invalid port"), "{text}");
    assert!(!text.contains("db:99999"), "{text}");
}

#[test]
fn a_preview_of_a_set_up_host_does_not_read_as_set_up() {
    let mut state = set_up_host(&installed());
    state.is_root = false;
    let mut app = app(state);
    app.screen = Screen::Finish;
    let text = text_of(&app);
    assert!(!text.contains("Enter these in"), "{text}");
}

#[test]
fn a_ticked_vendor_ip_item_shows_on_welcome() {
    let mut app = app(fresh_host());
    let vendor = |app: &App| {
        app.report()
            .checks
            .iter()
            .find(|c| c.id == bastion_wizard::checks::CheckId::PortVendorToSsh)
            .unwrap()
            .clone()
    };
    assert_eq!(vendor(&app).status, bastion_wizard::checks::Status::Manual);
    app.screen = Screen::Ports;
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Welcome);
    let ticked = vendor(&app);
    assert_eq!(ticked.status, bastion_wizard::checks::Status::Ok);
    assert!(ticked.detail.contains("you ticked it"), "{}", ticked.detail);
}

#[test]
fn the_aws_click_path_shows_only_on_aws() {
    let mut app = app(fresh_host());
    app.screen = Screen::Ports;
    let text = text_of(&app);
    assert!(!text.contains("EC2"), "{text}");
    assert!(text.contains("load balancer or proxy in between would hide"));
    app.state.facts.cloud = Some(bastion_wizard::cloud::Cloud::Aws);
    assert!(text_of(&app).contains("EC2"));
}

#[test]
fn apply_does_not_tick_what_was_already_there_and_review_knows_it_ran() {
    let mut state = set_up_host("");
    state.authorized_keys_content = Some(Vec::new());
    let mut app = app(state);
    to_review_with_key(&mut app);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('y'));
    let plan = app.plan().clone();
    app.on_message(Message::Planned(plan.clone()));
    let key_index = plan
        .steps
        .iter()
        .position(|s| matches!(s.action, Action::InstallKey { .. }))
        .unwrap();
    app.on_message(Message::StepRunning(key_index));
    app.on_message(Message::StepDone(key_index));
    app.on_message(Message::Applied(Outcome::Done { changed: 1 }));
    let text = text_of(&app);
    assert!(!text.contains("✓ Create group"), "{text}");
    assert!(text.contains("Create group whaly (already done)"), "{text}");
    assert!(text.contains("✓ Add the vendor's key"), "{text}");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Review);
    let review = text_of(&app);
    assert!(!review.contains("Nothing has changed yet"), "{review}");
    assert!(review.contains("Done: 1 step(s) applied."), "{review}");
}

/// The vendor picker is explained where the Account screen's keys are.
#[test]
fn account_help_tells_of_the_vendor_picker() {
    assert!(screens::help(Screen::Account).contains("PgUp/PgDn picks the vendor"));
}

#[test]
fn no_jargon_without_its_meaning() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Enter);
    let account = text_of(&app);
    assert!(!account.contains("restrict,port-forwarding"), "{account}");
    assert!(!screens::help(Screen::Account).contains("permitopen"));
    press(&mut app, KeyCode::Enter);
    app.update(Event::Paste(ED25519.into()));
    press(&mut app, KeyCode::Enter);
    let review = text_of(&app);
    assert!(!review.contains("(guide "), "{review}");
    assert!(review.contains("Whaly guide, step"), "{review}");
    let mut state = set_up_host(&installed());
    if let bastion_wizard::inspect::Node::Found(meta) = &mut state.home {
        meta.mode = 0o775;
    }
    let p = bastion_wizard::plan::plan(&app.request(), &state);
    let home = p
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::SecureHome))
        .unwrap();
    assert!(home.detail.contains("ignores keys"), "{}", home.detail);
    assert!(p.steps.iter().all(|s| !s.title.contains("password field")));
}

#[test]
fn help_hides_the_screen_beside_it() {
    let mut app = app(set_up_host(&installed()));
    app.screen = Screen::Finish;
    press(&mut app, KeyCode::Char('?'));
    let text = text_of(&app);
    for line in text.lines().filter(|l| l.contains('│')) {
        let outside: String = line
            .split('│')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect();
        assert!(
            outside.trim().is_empty(),
            "text beside the pop-up: {line:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// What drawing reads, and inspections that cross (issue 7, the structure)
// ---------------------------------------------------------------------------------------

#[test]
fn drawing_reads_the_plan_and_report_and_changes_work_them_out_again() {
    let mut app = app(forwarding_blocked_host(&installed()));
    let start = app.derivations();
    for screen in [
        Screen::Welcome,
        Screen::Review,
        Screen::Apply,
        Screen::Finish,
    ] {
        app.screen = screen;
        for _ in 0..5 {
            text_of(&app);
        }
    }
    assert_eq!(app.derivations(), start, "frames work nothing out");
    app.screen = Screen::Welcome;
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(
        app.derivations(),
        start,
        "moving through the list changes nothing the report follows"
    );

    // The form: a new user name is a new plan, at once.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Account);
    type_text(&mut app, "x");
    assert_eq!(app.derivations(), start + 1);
    assert_eq!(app.plan().user, "whalyx");
    assert_eq!(app.report().user, "whalyx");
    ctrl(&mut app, 'u');
    type_text(&mut app, "whaly");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Paste);

    // The key.
    let before = app.derivations();
    app.update(Event::Paste(ED25519.into()));
    assert_eq!(app.derivations(), before + 1);
    assert!(app.plan().key_line.is_some());

    // A port result for the target asked about.
    app.screen = Screen::Ports;
    app.checklist.target = "db.internal:5432".into();
    app.refresh();
    let before = app.derivations();
    app.on_message(Message::PortChecked(
        "db.internal:5432".into(),
        PortCheck::Unreachable("connection refused".into()),
    ));
    assert_eq!(app.derivations(), before + 1);
    let db = app
        .report()
        .checks
        .iter()
        .find(|c| c.id == "port_ssh_to_db")
        .unwrap();
    assert!(db.detail.contains("connection refused"), "{}", db.detail);

    // The host state.
    let before = app.derivations();
    app.on_message(Message::Inspected(0, Box::new(fresh_host())));
    assert_eq!(app.derivations(), before, "no inspection was asked for");
    app.screen = Screen::Review;
    let id = inspection(&[app_inspect(&mut app)]);
    app.on_message(Message::Inspected(id, Box::new(fresh_host())));
    assert_eq!(app.derivations(), before + 1);
    assert!(app.plan().to_do() > 1, "the fresh host's plan");
}

/// Asks for an inspection the way the Apply screen does, through the wizard.
fn app_inspect(app: &mut App) -> Effect {
    let mut effects = app.on_message(Message::Applied(Outcome::Done { changed: 0 }));
    assert_eq!(effects.len(), 1);
    effects.remove(0)
}

/// From Welcome, `user` typed on Account and Enter: the inspection that asks for.
fn account_entered(app: &mut App, user: &str) -> u64 {
    press(app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Account);
    ctrl(app, 'u');
    type_text(app, user);
    inspection(&press(app, KeyCode::Enter))
}

#[test]
fn an_older_inspection_arriving_late_is_ignored() {
    let mut app = app(fresh_host());
    let older = account_entered(&mut app, "sshd");
    // The person changes their mind before the host was read for `sshd`.
    press(&mut app, KeyCode::Esc);
    let newer = account_entered(&mut app, "tunnel");
    assert_ne!(older, newer);

    // The older answer first: it is not the one the gate waits for.
    app.on_message(Message::Inspected(older, Box::new(system_account(102))));
    assert_eq!(app.screen, Screen::Account, "still waiting for the newer");
    assert!(app.refusal.is_none(), "{:?}", app.refusal);
    assert!(app.awaiting_gate);

    app.on_message(Message::Inspected(newer, Box::new(fresh_host())));
    assert_eq!(app.screen, Screen::Paste);
    assert_eq!(app.inspected_for.0, "tunnel");

    // The older answer after the newer one: it must not overwrite it.
    app.on_message(Message::Inspected(older, Box::new(system_account(102))));
    assert_eq!(app.screen, Screen::Paste);
    assert!(
        app.state.user.is_none(),
        "the newer (fresh) host state is kept"
    );
    assert_eq!(app.inspected_for.0, "tunnel");
}

#[test]
fn going_back_while_the_host_is_read_asks_again_for_the_same_account() {
    let mut app = app(fresh_host());
    let first = account_entered(&mut app, "sshd");
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Enter);
    // Same account, but the host was never read for it: the gate must not judge `sshd`
    // on the host as read for `whaly`.
    let second = inspection(&press(&mut app, KeyCode::Enter));
    assert_ne!(first, second);
    assert_eq!(app.screen, Screen::Account);
    app.on_message(Message::Inspected(second, Box::new(system_account(102))));
    assert!(app.refusal.is_some(), "sshd is refused");
}

/// A long key wrapped at 76 columns, as mail clients do, stays in view in the box at
/// 80 columns: its end and the cursor show, never an empty box.
#[test]
fn a_long_key_wrapped_at_76_columns_stays_in_view() {
    let mut app = app(fresh_host());
    to_paste_screen(&mut app);
    app.update(Event::Paste(common::wrapped(DSA, 76)));
    let shown = text_of(&app);
    let tail: String = DSA
        .chars()
        .rev()
        .take(12)
        .collect::<String>()
        .chars()
        .rev()
        .collect();
    assert!(shown.contains(&format!("{tail}▏")), "{shown}");
}

#[test]
fn the_vendor_picker_moves_the_defaults_and_the_addresses() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Account);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.profile.name, "Fivetran");
    assert_eq!(app.profile.region.as_deref(), Some("gcp-us-east4"));
    assert_eq!(
        (app.account.user.as_str(), app.account.group.as_str()),
        ("fivetran", "fivetran")
    );
    let request = app.request();
    assert_eq!(request.vendor_addrs, app.profile.ips);
    assert_eq!(request.vendor_addrs[0].to_string(), "35.234.176.144");
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.profile.region.as_deref(), Some("gcp-us-west1"));
    // A user typed by hand stays when the vendor changes.
    for _ in 0..8 {
        press(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, "etl");
    press(&mut app, KeyCode::PageUp);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.profile.name, "Whaly");
    assert_eq!(app.account.user, "etl");
    assert_eq!(app.account.group, "whaly", "the group was still a default");
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.profile.name, "Metabase Cloud", "the list wraps around");
    let effects = press(&mut app, KeyCode::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::Inspect(_, r)] if r.user == "etl" && r.group == "metabase"),
        "the new account is inspected"
    );
}

/// The wizard as `tui::run` starts it: drawn before the host is read.
fn reading_app() -> App {
    let profile = bastion_wizard::profile::Profile::built_in();
    let form = bastion_wizard::tui::app::AccountForm {
        user: profile.user.clone(),
        group: profile.group.clone(),
        tunnel_only: true,
        targets: String::new(),
        expires: String::new(),
        from_vendor_ips: false,
        focus: bastion_wizard::tui::app::AccountField::User,
    };
    App::reading(profile, form, true, Default::default())
}

#[test]
fn welcome_waits_for_the_first_inspection_then_fills_in() {
    let mut app = reading_app();
    let first = app.inspect();
    assert!(!app.host_read);
    // Nothing to act on yet: Enter, c and Space say why and stay.
    for code in [KeyCode::Enter, KeyCode::Char('c'), KeyCode::Char(' ')] {
        assert!(press(&mut app, code).is_empty());
        assert_eq!(app.screen, Screen::Welcome);
        assert!(!app.checks.detail);
        assert!(app
            .notice
            .as_deref()
            .unwrap()
            .contains("Still reading the host"));
    }
    let id = inspection(&[first]);
    app.on_message(Message::Inspected(id, Box::new(fresh_host())));
    assert!(app.host_read);
    assert_eq!(app.state.home_path, fresh_host().home_path);
    // The Enter pressed while reading was kept: the wizard went on by itself.
    assert_eq!(app.screen, Screen::Account);
    assert_eq!(app.notice, None);
}

#[test]
fn without_an_early_enter_welcome_stays_once_the_host_is_read() {
    let mut app = reading_app();
    let first = app.inspect();
    press(&mut app, KeyCode::Char('c'));
    app.on_message(Message::Inspected(
        inspection(&[first]),
        Box::new(fresh_host()),
    ));
    assert_eq!(app.screen, Screen::Welcome);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Account);
}

#[test]
fn q_quits_while_the_host_is_being_read() {
    let mut app = reading_app();
    let _ = app.inspect();
    press(&mut app, KeyCode::Char('q'));
    assert!(app.should_quit);
}

/// A vendor with a long name (dbt Cloud, Airbyte Cloud) must not cut the Account screen's
/// opening sentence at the terminal's edge.
#[test]
fn the_account_intro_wraps_for_long_vendor_names() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Enter);
    while app.profile.name != "Airbyte Cloud" {
        press(&mut app, KeyCode::PageUp);
    }
    let text = text_of(&app);
    assert!(
        text.contains(" Cloud profile."),
        "the sentence is cut:\n{text}"
    );
}

/// Ctrl-G is how a person gives a vendor that wants the customer's key its pair; the
/// Paste screen's help must say so.
#[test]
fn paste_help_tells_of_ctrl_g() {
    let help = screens::help(Screen::Paste);
    assert!(help.contains("Ctrl-G"), "{help}");
}

/// After scrolling past the end of a long Finish screen, one Up moves the text at once
/// (no dead presses for every Down beyond the end).
#[test]
fn up_scrolls_back_at_once_after_overshooting_the_end() {
    let mut app = app(set_up_host(&installed()));
    press(&mut app, KeyCode::Char('c'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Finish);
    press(&mut app, KeyCode::Char('p'));
    app.on_message(Message::Verified(Proof {
        ok: true,
        summary: "sshd opened the forward".into(),
        not_proven: (1..=8).map(|n| format!("gap {n}")).collect(),
        ..Proof::default()
    }));
    for _ in 0..60 {
        press(&mut app, KeyCode::Down);
    }
    let bottom = text_of(&app);
    assert!(bottom.contains("↑ more above"), "{bottom}");
    press(&mut app, KeyCode::Up);
    assert_ne!(text_of(&app), bottom, "the first Up does nothing");
}
