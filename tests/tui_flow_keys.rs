//! The wizard's key flows driven by key events in-process: the Welcome key list, revoke
//! and remove from it, rotation on Finish, and a pair generated for a vendor that wants
//! the customer's key. Effects are checked and answered by hand; the plans and words are
//! the engine's.

mod fixtures;
mod screens;

use std::collections::BTreeMap;

use bastion_wizard::apply::Outcome;
use bastion_wizard::ledger::{Entry, Ledger, Record};
use bastion_wizard::profile::Profile;
use bastion_wizard::revoke;
use bastion_wizard::tui::app::{
    AccountField, AccountForm, App, Effect, KeyAction, Message, RemoveAsk, Screen,
};
use bastion_wizard::undo;
use bastion_wizard::verify::Proof;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use fixtures::*;
use screens::{key_list, with_keys, OLD_ED25519, OLD_ED25519_FINGERPRINT};

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    app.update(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

fn text_of(app: &App) -> String {
    use bastion_wizard::tui::theme::Theme;
    let terminal = screens::draw(app, &Theme { color: false }, 80, 24);
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

/// The old key (ours) on line 1, the vendor's current key (not ours) on line 2.
fn two_keys() -> String {
    format!("restrict,port-forwarding {OLD_ED25519}\nrestrict,port-forwarding {ED25519}\n")
}

fn inspection(effects: &[Effect]) -> u64 {
    match effects {
        [Effect::Inspect(id, _)] => *id,
        other => panic!("expected one inspection, got {other:?}"),
    }
}

#[test]
fn the_key_list_is_read_after_each_inspection_and_shows_reading_until_then() {
    let app = app(set_up_host(&two_keys()));
    assert!(app.keys.list.is_none());
    assert!(text_of(&app).contains("Keys of whaly: reading…"));
    let reads = app.background_reads();
    assert!(
        matches!(reads.as_slice(), [Effect::ReadKeys(r, _), Effect::ReadVendorUsers(_)] if r.user == "whaly"),
        "{reads:?}"
    );

    // An answer from the engine fills the list; the auditor's columns are on screen.
    let app = with_keys(
        app,
        &[OLD_ED25519_FINGERPRINT],
        Some((OLD_ED25519_FINGERPRINT, "2026-11-20T09:15:00+00:00")),
    );
    let text = text_of(&app);
    assert!(
        text.contains("Keys of whaly: 2 line(s), 1 added by this program"),
        "{text}"
    );
    assert!(text.contains("ours"), "{text}");
    assert!(text.contains("2026-11-20 09:15"), "{text}");
    assert!(text.contains("no login seen"), "{text}");
    assert!(
        text.contains(OLD_ED25519_FINGERPRINT),
        "the selected key in full: {text}"
    );

    // Every accepted inspection reads the list again (a revoke or apply changed it).
    let mut app = app;
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Backspace);
    let id = inspection(&press(&mut app, KeyCode::Enter));
    let effects = app.on_message(Message::Inspected(id, Box::new(set_up_host(&two_keys()))));
    assert!(
        effects.iter().any(|e| matches!(e, Effect::ReadKeys(..))),
        "{effects:?}"
    );
}

/// Tab moves to the key list only where there is one: the footer offers it then alone.
#[test]
fn the_footer_offers_the_key_list_only_when_there_are_keys() {
    let app = app(set_up_host(&two_keys()));
    assert!(!text_of(&app).contains("Tab keys"), "nothing read yet");
    let app = with_keys(app, &[OLD_ED25519_FINGERPRINT], None);
    assert!(text_of(&app).contains("Tab keys"), "{}", text_of(&app));
}

#[test]
fn a_list_for_another_account_is_not_shown() {
    let mut app = app(set_up_host(&two_keys()));
    let mut list = key_list(&app, &[], None);
    list.user = "someone-else".into();
    app.on_message(Message::Keys(Box::new(list)));
    assert!(app.keys.list.is_none());
}

#[test]
fn revoke_from_the_welcome_list_shows_the_plan_and_n_changes_nothing() {
    let mut app = with_keys(app(set_up_host(&two_keys())), &[], None);
    assert!(press(&mut app, KeyCode::Char('r')).is_empty());
    assert!(app.keys.action.is_none(), "r needs a chosen key");
    assert!(app.notice.as_deref().unwrap().contains("Tab"));

    press(&mut app, KeyCode::Tab);
    assert!(app.keys.focused);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.checks.focus, 0, "↑↓ move the keys now, not the checks");
    assert_eq!(app.selected_key().unwrap().fingerprint, ED25519_FINGERPRINT);

    assert!(
        press(&mut app, KeyCode::Char('r')).is_empty(),
        "r only asks"
    );
    let Some(KeyAction::ConfirmRevoke {
        plans,
        rotate: false,
    }) = &app.keys.action
    else {
        panic!("a question: {:?}", app.keys.action);
    };
    assert_eq!(plans.len(), 1);
    assert_eq!(
        plans[0].lines.iter().map(|k| k.line).collect::<Vec<_>>(),
        [2]
    );
    let text = text_of(&app);
    assert!(text.contains("Revoke this key? y/n"), "{text}");
    assert!(text.contains("line 2:"), "{text}");

    // A burst of text never answers.
    let burst: Vec<Event> = "yy"
        .chars()
        .map(|c| Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)))
        .collect();
    assert!(app.burst(burst).is_empty());
    assert!(matches!(
        app.keys.action,
        Some(KeyAction::ConfirmRevoke { .. })
    ));

    assert!(press(&mut app, KeyCode::Char('n')).is_empty());
    assert!(app.keys.action.is_none());
    assert_eq!(app.notice.as_deref(), Some("Nothing was changed."));
}

#[test]
fn revoke_confirmed_runs_the_engine_shows_its_words_and_reads_again() {
    let mut app = with_keys(app(set_up_host(&two_keys())), &[], None);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('r'));
    let effects = press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        effects,
        [Effect::Revoke {
            user: "whaly".into(),
            fingerprints: vec![ED25519_FINGERPRINT.into()],
        }]
    );
    assert_eq!(app.keys.action, Some(KeyAction::Revoking));
    assert!(press(&mut app, KeyCode::Char('y')).is_empty(), "once");

    let outcome = revoke::Outcome::Removed(vec![2]);
    let words = outcome.words(std::path::Path::new("/var/lib/bastion-wizard/backups"));
    let effects = app.on_message(Message::Revoked(vec![(outcome, words.clone())]));
    inspection(&effects);
    assert!(text_of(&app).contains("Revoked: line(s) 2 removed"));
    assert_eq!(
        app.keys.action,
        Some(KeyAction::Outcome {
            ok: true,
            text: words
        })
    );
    press(&mut app, KeyCode::Char('x'));
    assert!(app.keys.action.is_none(), "any key closes the outcome");
}

#[test]
fn revoke_and_remove_need_root() {
    let mut app = with_keys(
        app(HostState {
            is_root: false,
            ..set_up_host(&two_keys())
        }),
        &[],
        None,
    );
    press(&mut app, KeyCode::Tab);
    assert!(press(&mut app, KeyCode::Char('r')).is_empty());
    assert!(press(&mut app, KeyCode::Char('x')).is_empty());
    assert!(app.keys.action.is_none());
    assert!(app.notice.as_deref().unwrap().contains("needs root"));
}

use bastion_wizard::inspect::HostState;

/// Undo's plan as the engine makes it for a host where this program added ED25519 and
/// created the user and group.
fn undo_plan(delete_account: bool) -> undo::UndoPlan {
    let record = |entry| Record {
        at: "2026-11-01T10:00:00Z".into(),
        entry,
    };
    let ledger = Ledger {
        records: vec![
            record(Entry::CreatedGroup {
                group: "whaly".into(),
                gid: None,
            }),
            record(Entry::CreatedUser {
                user: "whaly".into(),
                group: "whaly".into(),
                uid: None,
            }),
            record(Entry::AddedKey {
                user: "whaly".into(),
                fingerprint: ED25519_FINGERPRINT.into(),
            }),
        ],
    };
    let facts = undo::Facts {
        keys: Some(two_keys().into_bytes()),
        authorized_keys_path: "/home/whaly/.ssh/authorized_keys".into(),
        user_exists: true,
        home: Some("/home/whaly".into()),
        group_exists: true,
        group_used_by: vec!["whaly".into()],
        ..undo::Facts::default()
    };
    undo::plan("whaly", "whaly", &ledger, &facts, delete_account)
}

fn ask(delete_account: bool) -> RemoveAsk {
    RemoveAsk {
        user: "whaly".into(),
        group: "whaly".into(),
        delete_account,
    }
}

#[test]
fn remove_shows_undos_plan_and_deleting_the_account_is_a_second_choice() {
    let mut app = with_keys(app(set_up_host(&two_keys())), &[ED25519_FINGERPRINT], None);
    assert_eq!(
        press(&mut app, KeyCode::Char('x')),
        [Effect::PlanRemove(ask(false))]
    );
    assert_eq!(app.keys.action, Some(KeyAction::PlanningRemove));
    assert!(text_of(&app).contains("Reading what this program set up"));

    app.on_message(Message::RemovePlanned(
        ask(false),
        Box::new(undo_plan(false)),
    ));
    let text = text_of(&app);
    assert!(text.contains("Undo these steps? y/n"), "{text}");
    assert!(text.contains("Remove the key"), "{text}");
    assert!(text.contains(ED25519_FINGERPRINT), "{text}");
    assert!(!text.contains("Delete the user"), "{text}");

    // d asks for the plan that deletes the account too; y then confirms that plan.
    assert_eq!(
        press(&mut app, KeyCode::Char('d')),
        [Effect::PlanRemove(ask(true))]
    );
    app.on_message(Message::RemovePlanned(ask(true), Box::new(undo_plan(true))));
    let text = text_of(&app);
    assert!(
        text.contains("Undo these steps, deleting the account whaly? y/n"),
        "{text}"
    );
    assert!(text.contains("Delete the user whaly"), "{text}");
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        [Effect::Remove(ask(true))]
    );
    assert_eq!(app.keys.action, Some(KeyAction::Removing));

    let effects = app.on_message(Message::Removed(Outcome::Done { changed: 3 }));
    inspection(&effects);
    assert!(text_of(&app).contains("Done: 3 step(s) applied."));
}

#[test]
fn remove_answered_n_or_without_the_account_changes_only_what_was_shown() {
    let mut app = with_keys(app(set_up_host(&two_keys())), &[ED25519_FINGERPRINT], None);
    press(&mut app, KeyCode::Char('x'));
    app.on_message(Message::RemovePlanned(
        ask(false),
        Box::new(undo_plan(false)),
    ));
    assert!(press(&mut app, KeyCode::Char('n')).is_empty());
    assert!(app.keys.action.is_none());
    assert_eq!(app.notice.as_deref(), Some("Nothing was changed."));

    press(&mut app, KeyCode::Char('x'));
    app.on_message(Message::RemovePlanned(
        ask(false),
        Box::new(undo_plan(false)),
    ));
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        [Effect::Remove(ask(false))]
    );
    let effects = app.on_message(Message::Removed(Outcome::Failed {
        done: vec![],
        step: Some("Remove the key".into()),
        error: "disk full".into(),
    }));
    inspection(&effects);
    assert!(text_of(&app).contains("Failed at \"Remove the key\": disk full"));
}

/// Where the ledger says this program made neither the user nor the group, undo has no
/// account to delete: `d` is not offered, and pressing it changes nothing.
#[test]
fn deleting_the_account_is_offered_only_for_one_this_program_made() {
    let mut app = with_keys(app(set_up_host(&two_keys())), &[ED25519_FINGERPRINT], None);
    press(&mut app, KeyCode::Char('x'));
    let mut plan = undo_plan(false);
    assert!(plan.account_ours, "the ledger made both");
    plan = undo::plan(
        "whaly",
        "whaly",
        &Ledger::default(),
        &undo::Facts {
            user_exists: true,
            group_exists: true,
            ..undo::Facts::default()
        },
        false,
    );
    assert!(!plan.account_ours);
    app.on_message(Message::RemovePlanned(ask(false), Box::new(plan)));
    let shown = text_of(&app);
    assert!(!shown.contains("d plans deleting"), "{shown}");
    assert!(press(&mut app, KeyCode::Char('d')).is_empty());
    assert!(
        !matches!(app.keys.action, Some(KeyAction::PlanningRemove)),
        "d does nothing here"
    );
}

fn proof(ok: bool) -> Proof {
    Proof {
        ok,
        summary: if ok {
            "The tunnel works.".into()
        } else {
            "sshd refused the probe key.".into()
        },
        ..Proof::default()
    }
}

/// The proof's result comes into sight when it arrives, however long Finish is above it.
#[test]
fn the_proofs_result_is_brought_into_sight() {
    // Every check of a fresh host fails: they come first, and the proof far below.
    let mut app = screens::on_finish(fresh_host());
    let before = text_of(&app);
    assert!(
        !before.contains("Live proof"),
        "the proof is below the fold at first: {before}"
    );
    press(&mut app, KeyCode::Char('p'));
    app.on_message(Message::Verified(proof(true)));
    let after = text_of(&app);
    assert!(after.contains("The tunnel works."), "{after}");
}

/// Finish after ED25519 was applied beside the old key of ours.
fn finish_after_rotation(new_is_ours: bool) -> App {
    let mut app = screens::on_finish(set_up_host(&two_keys()));
    let ours: &[&str] = if new_is_ours {
        &[OLD_ED25519_FINGERPRINT, ED25519_FINGERPRINT]
    } else {
        &[OLD_ED25519_FINGERPRINT]
    };
    app = with_keys(app, ours, None);
    app
}

#[test]
fn rotate_is_offered_only_after_a_good_proof() {
    let mut app = finish_after_rotation(true);
    assert!(app.old_keys_of_ours().is_empty(), "no proof yet");
    assert!(!text_of(&app).contains("Rotate"));
    assert!(press(&mut app, KeyCode::Char('r')).is_empty());
    assert!(app.keys.action.is_none());

    // A failed proof: the old key stays the one that works.
    press(&mut app, KeyCode::Char('p'));
    app.on_message(Message::Verified(proof(false)));
    assert!(app.old_keys_of_ours().is_empty());
    press(&mut app, KeyCode::Char('r'));
    assert!(app.keys.action.is_none());

    press(&mut app, KeyCode::Char('p'));
    app.on_message(Message::Verified(proof(true)));
    let old: Vec<&str> = app
        .old_keys_of_ours()
        .iter()
        .map(|k| k.fingerprint.as_str())
        .collect();
    assert_eq!(old, [OLD_ED25519_FINGERPRINT]);
    let mut all = String::new();
    for _ in 0..10 {
        all.push_str(&text_of(&app));
        press(&mut app, KeyCode::Down);
    }
    assert!(all.contains("Rotate:"), "{all}");

    assert!(press(&mut app, KeyCode::Char('r')).is_empty(), "asks first");
    let Some(KeyAction::ConfirmRevoke {
        plans,
        rotate: true,
    }) = &app.keys.action
    else {
        panic!("{:?}", app.keys.action);
    };
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].fingerprint, OLD_ED25519_FINGERPRINT);
    assert_eq!(
        plans[0].lines.iter().map(|k| k.line).collect::<Vec<_>>(),
        [1]
    );
    let shown = text_of(&app);
    assert!(
        shown.contains("The new key's line got through the live"),
        "{shown}"
    );
    assert!(
        shown.contains("not the vendor's own key"),
        "the proof's limit is said before revoking: {shown}"
    );
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        [Effect::Revoke {
            user: "whaly".into(),
            fingerprints: vec![OLD_ED25519_FINGERPRINT.into()],
        }]
    );
}

#[test]
fn rotate_is_not_offered_when_the_new_key_is_not_installed_as_ours() {
    let mut app = finish_after_rotation(false);
    press(&mut app, KeyCode::Char('p'));
    app.on_message(Message::Verified(proof(true)));
    assert!(app.old_keys_of_ours().is_empty());
}

fn customer_app(state: HostState) -> App {
    let profile = Profile::named("airbyte").expect("built in");
    let form = AccountForm {
        user: profile.user.clone(),
        group: profile.group.clone(),
        tunnel_only: true,
        targets: String::new(),
        expires: String::new(),
        from_vendor_ips: false,
        focus: AccountField::User,
    };
    let mut app = App::new(profile, form, state, BTreeMap::new());
    app.screen = Screen::Paste;
    app
}

#[test]
fn a_customer_profile_generates_the_pair_and_finish_says_where_it_is_never_what() {
    let mut app = customer_app(fresh_host());
    let user = app.account.user.clone();
    assert!(text_of(&app).contains("Ctrl-G"));
    assert_eq!(ctrl(&mut app, 'g'), [Effect::GenerateKey(user.clone())]);
    assert!(ctrl(&mut app, 'g').is_empty(), "one at a time");
    assert!(text_of(&app).contains("Generating an ed25519 pair"));

    // The engine's real pair, in a throwaway state directory.
    let dir = tempfile::tempdir().unwrap();
    let state_dir = bastion_wizard::state_dir::StateDir {
        path: dir.path().join("state"),
    };
    let pair = bastion_wizard::keygen::generate(&state_dir, &user).unwrap();
    let private = std::fs::read_to_string(&pair.private_key).unwrap();
    assert!(app
        .on_message(Message::Generated(Ok(pair.clone())))
        .is_empty());
    assert_eq!(app.key().unwrap().fingerprint, pair.key.fingerprint);
    assert!(text_of(&app).contains("Made here by ssh-keygen"));

    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Review);
    press(&mut app, KeyCode::Enter);
    let effects = press(&mut app, KeyCode::Char('y'));
    let [Effect::Apply(request)] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(
        request.key.as_ref().unwrap().fingerprint,
        pair.key.fingerprint
    );
    assert_eq!(app.unused_pair(), Some(&pair), "not installed yet");
    app.on_message(Message::Applied(Outcome::Done { changed: 6 }));
    assert_eq!(
        app.unused_pair(),
        None,
        "installed: it stays for the vendor"
    );

    app.screen = Screen::Finish;
    let mut all = String::new();
    for _ in 0..30 {
        all.push_str(&text_of(&app));
        press(&mut app, KeyCode::Down);
    }
    let path = pair.private_key.display().to_string();
    let joined = all.replace('\n', "");
    assert!(joined.contains("The private key for Airbyte"), "{all}");
    assert!(
        joined.contains(&format!("shred -u {path}")) || all.contains("shred -u"),
        "{all}"
    );
    for line in private.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!joined.contains(line), "a private line on screen: {line}");
    }
    assert!(!all.contains("PRIVATE KEY-----"), "{all}");
}

#[test]
fn a_second_pair_discards_the_first_and_other_vendors_paste() {
    let mut app = customer_app(fresh_host());
    let dir = tempfile::tempdir().unwrap();
    let state_dir = bastion_wizard::state_dir::StateDir {
        path: dir.path().join("state"),
    };
    let first = bastion_wizard::keygen::generate(&state_dir, "airbyte").unwrap();
    let second = bastion_wizard::keygen::generate(&state_dir, "airbyte").unwrap();
    ctrl(&mut app, 'g');
    app.on_message(Message::Generated(Ok(first.clone())));
    ctrl(&mut app, 'g');
    assert_eq!(
        app.on_message(Message::Generated(Ok(second.clone()))),
        [Effect::DiscardPair(Box::new(first))]
    );
    assert_eq!(app.unused_pair(), Some(&second));

    let mut whaly = app_on_paste();
    assert!(ctrl(&mut whaly, 'g').is_empty());
    assert!(whaly
        .notice
        .as_deref()
        .unwrap()
        .contains("sends its own public key"));

    let mut preview = customer_app(preview_host());
    assert!(ctrl(&mut preview, 'g').is_empty());
    assert!(preview.notice.as_deref().unwrap().contains("needs root"));

    let mut failing = customer_app(fresh_host());
    ctrl(&mut failing, 'g');
    failing.on_message(Message::Generated(Err("ssh-keygen failed".into())));
    assert!(failing.key().is_none());
    assert_eq!(
        failing.notice.as_deref(),
        Some("✗ cannot generate a key pair: ssh-keygen failed")
    );
}

fn app_on_paste() -> App {
    let mut app = app(fresh_host());
    app.screen = Screen::Paste;
    app
}
