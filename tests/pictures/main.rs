//! The README's pictures of the wizard (assets/screens/*.svg): each is drawn from the same
//! TestBackend buffer as the snapshot tests, in the wizard's real colours, and must match
//! the file byte for byte, so the pictures never drift from the screens.
//!
//! Refresh them with: `BASTION_WIZARD_UPDATE_PICTURES=1 cargo test --test pictures`

#[path = "../common/mod.rs"]
mod common;
#[path = "../fixtures/mod.rs"]
mod fixtures;
#[path = "../screens/mod.rs"]
mod screens;
mod svg;

use std::path::{Path, PathBuf};

use bastion_wizard::inspect::{HostState, Node};
use bastion_wizard::port::PortCheck;
use bastion_wizard::tui::app::{App, Message, Screen};
use bastion_wizard::tui::theme::Theme;
use common::wrapped;
use crossterm::event::KeyCode;
use fixtures::*;
use screens::*;

const UPDATE_ENV: &str = "BASTION_WIZARD_UPDATE_PICTURES";
const REFRESH: &str = "BASTION_WIZARD_UPDATE_PICTURES=1 cargo test --test pictures";
const DB: &str = "db.internal:5432";

/// One picture: its file name in assets/screens, its alt text, and the wizard it shows.
struct Picture {
    file: &'static str,
    title: &'static str,
    app: App,
}

/// A host an earlier attempt left half done: the account exists but `~/.ssh` does not,
/// and sshd forbids forwarding.
fn half_prepared_host() -> HostState {
    HostState {
        ssh_dir: Node::Missing,
        authorized_keys: Node::Missing,
        authorized_keys_content: None,
        ..forwarding_blocked_host("")
    }
}

/// The account form with the database target typed in, as a person fills it.
fn with_database(mut app: App) -> App {
    app.account.targets = DB.into();
    app
}

fn pictures() -> Vec<Picture> {
    let welcome = with_keys(app(half_prepared_host()), &[], None);

    let mut account = with_database(app(half_prepared_host()));
    account.screen = Screen::Account;

    let mut paste = with_database(app(half_prepared_host()));
    paste.screen = Screen::Paste;
    paste.update(crossterm::event::Event::Paste(wrapped(ED25519, 30)));

    let mut review = with_database(app(half_prepared_host()));
    review.screen = Screen::Paste;
    review.update(crossterm::event::Event::Paste(ED25519.into()));
    press(&mut review, KeyCode::Enter);
    assert_eq!(review.screen, Screen::Review);

    let apply = applied(set_up_host(&installed()));

    let mut ports = app(with_host_keys(set_up_host(&installed())));
    ports.screen = Screen::Ports;
    press(&mut ports, KeyCode::Char(' '));
    press(&mut ports, KeyCode::Char('e'));
    type_text(&mut ports, DB);
    press(&mut ports, KeyCode::Enter);
    ports.on_message(Message::PortChecked(
        DB.into(),
        PortCheck::Reachable {
            addr: "10.0.2.15:5432".into(),
            latency: std::time::Duration::from_micros(1_400),
        },
    ));

    let mut finish = with_database(app(with_host_keys(set_up_host(&installed()))));
    finish.screen = Screen::Paste;
    finish.update(crossterm::event::Event::Paste(ED25519.into()));
    finish.screen = Screen::Finish;

    vec![
        Picture {
            file: "1-welcome.svg",
            title: "Step 1/7: where this host stands",
            app: welcome,
        },
        Picture {
            file: "2-account.svg",
            title: "Step 2/7: the account",
            app: account,
        },
        Picture {
            file: "3-paste.svg",
            title: "Step 3/7: paste the key",
            app: paste,
        },
        Picture {
            file: "4-review.svg",
            title: "Step 4/7: review",
            app: review,
        },
        Picture {
            file: "5-apply.svg",
            title: "Step 5/7: apply",
            app: apply,
        },
        Picture {
            file: "6-ports.svg",
            title: "Step 6/7: port access",
            app: ports,
        },
        Picture {
            file: "7-finish.svg",
            title: "Step 7/7: finish",
            app: finish,
        },
    ]
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/screens")
}

/// The picture's SVG, drawn as the wizard draws it on an 80×24 terminal with colour on.
fn render(picture: &Picture) -> String {
    let terminal = draw(&picture.app, &Theme { color: true }, 80, 24);
    svg::render(terminal.backend().buffer(), picture.title)
}

#[test]
fn the_pictures_match_the_screens() {
    let update = std::env::var_os(UPDATE_ENV).is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for picture in pictures() {
        let path = dir().join(picture.file);
        let svg = render(&picture);
        if update {
            std::fs::create_dir_all(dir()).unwrap();
            if std::fs::read_to_string(&path).ok().as_deref() != Some(svg.as_str()) {
                std::fs::write(&path, &svg).unwrap();
                eprintln!("wrote {}", path.display());
            }
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(svg.as_str()) {
            stale.push(format!("assets/screens/{}", picture.file));
        }
    }
    assert!(
        stale.is_empty(),
        "these pictures no longer match their screens: {}\nrefresh them with: {REFRESH}\n\
         (then look at them, e.g. rsvg-convert FILE -o FILE.png, and commit them)",
        stale.join(", ")
    );
}

#[test]
fn every_picture_is_one_of_the_screens_and_shown_in_the_readme() {
    let pictures = pictures();
    let screens: Vec<Screen> = pictures.iter().map(|p| p.app.screen).collect();
    assert_eq!(screens, Screen::ALL, "one picture per screen, in order");

    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let expected: Vec<String> = pictures.iter().map(|p| p.file.to_string()).collect();
    assert_eq!(
        files, expected,
        "assets/screens holds exactly the pictures; {REFRESH}"
    );

    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for file in expected {
        assert!(
            readme.contains(&format!("(assets/screens/{file})")),
            "README.md does not show assets/screens/{file}"
        );
    }
}
