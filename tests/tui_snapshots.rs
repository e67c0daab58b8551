//! Every wizard screen in its main states, rendered with ratatui's TestBackend and
//! compared with reviewed snapshots (tests/snapshots).

mod common;
mod fixtures;

use bastion_wizard::apply::Outcome;
use bastion_wizard::inspect::Node;
use bastion_wizard::port::PortCheck;
use bastion_wizard::safe_fs::{Kind, Meta};
use bastion_wizard::tui::app::{App, Effect, Message, Screen};
use bastion_wizard::tui::theme::Theme;
use bastion_wizard::tui::view;
use common::wrapped;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use fixtures::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let theme = Theme { color: false };
    terminal
        .draw(|frame| view::render(app, &theme, frame))
        .unwrap();
    terminal
}

fn screen(app: &App) -> Terminal<TestBackend> {
    draw(app, 80, 24)
}

fn press(app: &mut App, code: KeyCode) {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn on_paste_screen(state: bastion_wizard::inspect::HostState, pasted: &str) -> App {
    let mut app = app(state);
    app.screen = Screen::Paste;
    if !pasted.is_empty() {
        app.update(Event::Paste(pasted.into()));
    }
    app
}

#[test]
fn welcome_fresh_host() {
    insta::assert_snapshot!(screen(&app(fresh_host())).backend());
}

#[test]
fn welcome_set_up_host() {
    let app = app(set_up_host(&format!(
        "restrict,port-forwarding {ED25519}\n"
    )));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn welcome_preview_as_normal_user() {
    insta::assert_snapshot!(screen(&app(preview_host())).backend());
}

#[test]
fn welcome_while_the_host_is_being_read() {
    let profile = bastion_wizard::profile::Profile::built_in();
    let form = bastion_wizard::tui::app::AccountForm {
        user: profile.user.clone(),
        group: profile.group.clone(),
        tunnel_only: true,
        targets: String::new(),
        focus: bastion_wizard::tui::app::AccountField::User,
    };
    let mut app = App::reading(profile, form, true, Default::default());
    // Enter before the host is read says why it waits.
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn welcome_wide_terminal() {
    insta::assert_snapshot!(draw(&app(fresh_host()), 200, 50).backend());
}

#[test]
fn too_small_terminal() {
    insta::assert_snapshot!(draw(&app(fresh_host()), 79, 24).backend());
}

#[test]
fn account_defaults() {
    let mut app = app(fresh_host());
    app.screen = Screen::Account;
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn account_with_errors() {
    let mut app = app(fresh_host());
    app.screen = Screen::Account;
    app.account.user = "Root".into();
    app.account.targets = "db.internal".into();
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn paste_empty() {
    insta::assert_snapshot!(screen(&on_paste_screen(fresh_host(), "")).backend());
}

#[test]
fn paste_valid_wrapped_key() {
    let app = on_paste_screen(fresh_host(), &wrapped(ED25519, 30));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn paste_refused_private_key() {
    insta::assert_snapshot!(screen(&on_paste_screen(fresh_host(), PRIVATE_LOOKALIKE)).backend());
}

#[test]
fn paste_refused_two_keys() {
    let app = on_paste_screen(fresh_host(), &format!("{ED25519}\n{RSA_1024}"));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn paste_refused_dsa() {
    insta::assert_snapshot!(screen(&on_paste_screen(fresh_host(), DSA)).backend());
}

#[test]
fn paste_refused_small_rsa() {
    insta::assert_snapshot!(screen(&on_paste_screen(fresh_host(), RSA_1024)).backend());
}

#[test]
fn paste_refused_truncated() {
    let app = on_paste_screen(fresh_host(), &ED25519[..50]);
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn paste_refused_unknown_text() {
    let app = on_paste_screen(fresh_host(), "hello, here is the key you asked for");
    insta::assert_snapshot!(screen(&app).backend());
}

fn on_review(state: bastion_wizard::inspect::HostState) -> App {
    let mut app = on_paste_screen(state, ED25519);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Review);
    app
}

#[test]
fn review_fresh_host() {
    insta::assert_snapshot!(screen(&on_review(fresh_host())).backend());
}

#[test]
fn review_done_and_to_do_steps() {
    // An earlier run left another vendor's key and a home that group members can write.
    let mut state = set_up_host(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherVendorKeyOtherVendorKeyOtherVendorK other\n",
    );
    if let Node::Found(meta) = &mut state.home {
        meta.mode = 0o775;
    }
    insta::assert_snapshot!(screen(&on_review(state)).backend());
}

#[test]
fn review_blocked_by_symlink() {
    let mut state = set_up_host("");
    state.ssh_dir = Node::Found(Meta {
        kind: Kind::Symlink,
        uid: UID,
        gid: UID,
        mode: 0o777,
        nlink: 1,
    });
    state.authorized_keys = Node::Missing;
    state.authorized_keys_content = None;
    insta::assert_snapshot!(screen(&on_review(state)).backend());
}

#[test]
fn review_asks_to_confirm() {
    let mut app = on_review(fresh_host());
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn review_preview_mode() {
    let mut app = on_review(preview_host());
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(screen(&app).backend());
}

fn applying() -> App {
    let mut app = on_review(fresh_host());
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('y'));
    let plan = app.plan().clone();
    app.on_message(Message::Planned(plan));
    app.on_message(Message::StepRunning(0));
    app.on_message(Message::StepDone(0));
    app
}

#[test]
fn apply_in_progress() {
    let mut app = applying();
    app.on_message(Message::StepRunning(1));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn apply_failed_part_way() {
    let mut app = applying();
    app.on_message(Message::StepRunning(1));
    app.on_message(Message::StepFailed(
        1,
        "`useradd` failed (exit 12): cannot create directory /home/whaly".into(),
    ));
    app.on_message(Message::Applied(Outcome::Failed {
        done: vec!["Create group whaly".into()],
        step: Some("Create user whaly with home /home/whaly".into()),
        error: "`useradd` failed (exit 12): cannot create directory /home/whaly".into(),
    }));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn apply_done() {
    let mut app = applying();
    for i in 1..app.run.progress.len() {
        app.on_message(Message::StepDone(i));
    }
    app.on_message(Message::Applied(Outcome::Done { changed: 6 }));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn checklist_fresh() {
    let mut app = app(fresh_host());
    app.screen = Screen::Ports;
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn checklist_ticked_with_port_result() {
    let mut app = app(set_up_host(""));
    app.screen = Screen::Ports;
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char('e'));
    for c in "db.internal:5432".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    app.on_message(Message::PortChecked(
        "db.internal:5432".into(),
        PortCheck::Unreachable(
            "connection refused (nothing listens on that port, or a firewall rejects it)".into(),
        ),
    ));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn finish() {
    let mut app = on_paste_screen(set_up_host(""), ED25519);
    app.screen = Screen::Finish;
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn help_overlay() {
    let mut app = on_paste_screen(fresh_host(), "");
    app.update(Event::Key(KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE)));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn quit_confirmation() {
    let mut app = on_review(fresh_host());
    press(&mut app, KeyCode::Char('q'));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn paste_refused_too_large() {
    let huge = format!("{ED25519} {}", "x".repeat(70 * 1024));
    insta::assert_snapshot!(screen(&on_paste_screen(fresh_host(), &huge)).backend());
}

/// The key line an earlier run installed for ED25519.
fn installed() -> String {
    format!("restrict,port-forwarding {ED25519}\n")
}

/// Focus on the check with this id.
fn focus_check(app: &mut App, id: &str) {
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

#[test]
fn welcome_account_done_but_sshd_blocks_forwarding() {
    insta::assert_snapshot!(screen(&app(forwarding_blocked_host(&installed()))).backend());
}

#[test]
fn welcome_scrolled_to_the_last_check() {
    let mut app = app(fresh_host());
    screen(&app);
    press(&mut app, KeyCode::End);
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn welcome_detail_of_a_failing_check() {
    let mut app = app(forwarding_blocked_host(&installed()));
    focus_check(&mut app, "sshd_forwarding");
    press(&mut app, KeyCode::Char(' '));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn welcome_help_explains_the_marks() {
    let mut app = app(fresh_host());
    press(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn review_with_the_sshd_repair() {
    let mut app = app(forwarding_blocked_host(&installed()));
    app.screen = Screen::Paste;
    app.update(Event::Paste(ED25519.into()));
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn review_with_the_sshd_repair_switched_off() {
    let mut app = app(forwarding_blocked_host(&installed()));
    app.screen = Screen::Paste;
    app.update(Event::Paste(ED25519.into()));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('s'));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn review_nothing_to_change_on_a_host_that_is_not_ready() {
    insta::assert_snapshot!(screen(&on_review(forwarding_blocked_host(&installed()))).backend());
}

#[test]
fn review_nothing_to_change_on_a_ready_host() {
    insta::assert_snapshot!(screen(&on_review(set_up_host(&installed()))).backend());
}

fn applied(after: bastion_wizard::inspect::HostState) -> App {
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

#[test]
fn apply_done_and_the_host_is_ready() {
    insta::assert_snapshot!(screen(&applied(set_up_host(&installed()))).backend());
}

#[test]
fn apply_done_but_sshd_still_blocks_forwarding() {
    insta::assert_snapshot!(screen(&applied(forwarding_blocked_host(&installed()))).backend());
}

fn on_finish(state: bastion_wizard::inspect::HostState) -> App {
    let mut app = on_paste_screen(state, ED25519);
    app.screen = Screen::Finish;
    app
}

#[test]
fn finish_on_a_ready_host_with_its_host_keys() {
    let app = on_finish(with_host_keys(set_up_host(&installed())));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn finish_leads_with_what_is_left() {
    let app = on_finish(with_host_keys(forwarding_blocked_host(&installed())));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn finish_while_proving() {
    let mut app = on_finish(with_host_keys(set_up_host(&installed())));
    press(&mut app, KeyCode::Char('p'));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn finish_with_a_failed_proof() {
    let mut app = on_finish(set_up_host(&installed()));
    press(&mut app, KeyCode::Char('p'));
    app.on_message(Message::Verified(bastion_wizard::verify::Proof {
        ok: false,
        summary: "the tunnel to 127.0.0.1:22 was refused by sshd".into(),
        ssh_error: Some("channel 2: open failed: administratively prohibited: open failed".into()),
        sshd_reason: Some(
            "refused local port forward: originator 127.0.0.1 port 41234, target 127.0.0.1 port 22"
                .into(),
        ),
        not_proven: vec![
            "Match Address rules for the vendor's own IPs (sshd -T covers them)".into(),
        ],
        ..Default::default()
    }));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn finish_in_preview() {
    insta::assert_snapshot!(screen(&on_finish(preview_host())).backend());
}

#[test]
fn finish_help() {
    let mut app = on_finish(set_up_host(&installed()));
    press(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(screen(&app).backend());
}
