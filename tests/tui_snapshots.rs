//! Every wizard screen in its main states, rendered with ratatui's TestBackend and
//! compared with reviewed snapshots (tests/snapshots). The states are built by
//! tests/screens, which the README's pictures (tests/pictures) share.

mod common;
mod fixtures;
mod screens;

use bastion_wizard::apply::Outcome;
use bastion_wizard::inspect::Node;
use bastion_wizard::port::PortCheck;
use bastion_wizard::safe_fs::{Kind, Meta};
use bastion_wizard::tui::app::{AccountField, App, Message, Screen};
use bastion_wizard::tui::theme::Theme;
use common::wrapped;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use fixtures::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use screens::*;

/// Snapshots are taken without colour: the text and its reverse/bold marks are what they hold.
fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    screens::draw(app, &Theme { color: false }, width, height)
}

fn screen(app: &App) -> Terminal<TestBackend> {
    draw(app, 80, 24)
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
        expires: String::new(),
        from_vendor_ips: false,
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
fn account_vendor_with_regions() {
    let mut app = app(fresh_host());
    app.screen = Screen::Account;
    app.step_vendor(true);
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn welcome_lists_every_vendor_user() {
    let mut app = app(fresh_host());
    app.vendor_users = vec![
        bastion_wizard::vendors::VendorUser {
            user: "whaly".into(),
            vendor: "Whaly".into(),
            ready: true,
            verdict: "ready".into(),
        },
        bastion_wizard::vendors::VendorUser {
            user: "fivetran".into(),
            vendor: "Fivetran".into(),
            ready: false,
            verdict: "not ready: 2 check(s) fail".into(),
        },
    ];
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn account_with_errors() {
    let mut app = app(fresh_host());
    app.screen = Screen::Account;
    app.account.user = "Root".into();
    app.account.targets = "db.internal".into();
    app.account.expires = "2026-02-30".into();
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn account_with_an_expiry_and_only_the_vendors_addresses() {
    let mut app = app(fresh_host());
    app.screen = Screen::Account;
    app.account.expires = "2027-06-30".into();
    app.account.from_vendor_ips = true;
    app.account.focus = AccountField::FromVendorIps;
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

#[test]
fn review_fresh_host() {
    insta::assert_snapshot!(screen(&on_review(fresh_host())).backend());
}

/// The key line on the review screen carries what the Account screen asked for.
#[test]
fn review_key_line_with_an_expiry_and_the_vendors_addresses() {
    let mut app = app(fresh_host());
    app.account.expires = "2027-06-30".into();
    app.account.from_vendor_ips = true;
    app.screen = Screen::Paste;
    app.update(Event::Paste(ED25519.into()));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Review);
    insta::assert_snapshot!(screen(&app).backend());
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

#[test]
fn apply_done_and_the_host_is_ready() {
    insta::assert_snapshot!(screen(&applied(set_up_host(&installed()))).backend());
}

#[test]
fn apply_done_but_sshd_still_blocks_forwarding() {
    insta::assert_snapshot!(screen(&applied(forwarding_blocked_host(&installed()))).backend());
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

#[test]
fn welcome_lists_the_users_keys() {
    insta::assert_snapshot!(screen(&welcome_with_keys()).backend());
}

#[test]
fn welcome_key_list_shows_the_selected_lines_flag() {
    let mut app = welcome_with_keys();
    press(&mut app, KeyCode::End);
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn welcome_revoke_shows_the_lines_that_go_and_asks() {
    let mut app = welcome_with_keys();
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('r'));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn welcome_revoked_in_revokes_words() {
    let mut app = welcome_with_keys();
    press(&mut app, KeyCode::Char('r'));
    press(&mut app, KeyCode::Char('y'));
    let outcome = bastion_wizard::revoke::Outcome::Removed(vec![1]);
    let words = outcome.words(std::path::Path::new("/var/lib/bastion-wizard/backups"));
    app.on_message(Message::Revoked(vec![(outcome, words)]));
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn finish_offers_to_revoke_the_old_key_after_a_good_proof() {
    let mut app = on_finish(set_up_host(&format!(
        "restrict,port-forwarding {OLD_ED25519}\nrestrict,port-forwarding {ED25519}\n"
    )));
    app = with_keys(app, &[OLD_ED25519_FINGERPRINT, ED25519_FINGERPRINT], None);
    press(&mut app, KeyCode::Char('p'));
    app.on_message(Message::Verified(bastion_wizard::verify::Proof {
        ok: true,
        summary: "A tunnel through this host's sshd works: a probe key logged in as whaly and forwarded to 127.0.0.1:22.".into(),
        ..Default::default()
    }));
    for _ in 0..20 {
        press(&mut app, KeyCode::Down);
    }
    insta::assert_snapshot!(screen(&app).backend());
}

/// An Airbyte run with a pair generated here (the private file's path as keygen names it).
fn with_generated_pair(mut app: App) -> App {
    let key = bastion_wizard::key::parse(ED25519).unwrap();
    let pair = bastion_wizard::keygen::Generated {
        key,
        private_key: "/var/lib/bastion-wizard/keys/airbyte-20261127T120000Z-4242-0/id_ed25519"
            .into(),
    };
    app.screen = Screen::Paste;
    app.update(Event::Key(KeyEvent::new(
        KeyCode::Char('g'),
        KeyModifiers::CONTROL,
    )));
    app.on_message(Message::Generated(Ok(pair)));
    app
}

fn airbyte(state: bastion_wizard::inspect::HostState) -> App {
    let profile = bastion_wizard::profile::Profile::named("airbyte").unwrap();
    let form = bastion_wizard::tui::app::AccountForm {
        user: profile.user.clone(),
        group: profile.group.clone(),
        tunnel_only: true,
        targets: String::new(),
        expires: String::new(),
        from_vendor_ips: false,
        focus: AccountField::User,
    };
    App::new(profile, form, state, Default::default())
}

#[test]
fn paste_offers_a_generated_pair_to_a_vendor_that_wants_the_customers_key() {
    let mut app = airbyte(fresh_host());
    app.screen = Screen::Paste;
    insta::assert_snapshot!(screen(&app).backend());
}

#[test]
fn paste_with_a_generated_pair() {
    insta::assert_snapshot!(screen(&with_generated_pair(airbyte(fresh_host()))).backend());
}

#[test]
fn finish_says_where_the_generated_private_key_is() {
    let mut app = with_generated_pair(airbyte(fresh_host()));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('y'));
    app.on_message(Message::Applied(Outcome::Done { changed: 6 }));
    app.screen = Screen::Finish;
    for _ in 0..21 {
        press(&mut app, KeyCode::Down);
    }
    insta::assert_snapshot!(screen(&app).backend());
}
