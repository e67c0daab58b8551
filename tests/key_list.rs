//! The pure parts of `keys` and `revoke`: which lines go (by key data, whatever their
//! options, every other byte kept) and what the list says of each line (fingerprint as
//! ssh-keygen prints it, duplicates, lines sshd skips, options that stop the tunnel,
//! expiry, last login, which lines the ledger says are ours). Keys are made by ssh-keygen.

mod common;

use std::net::IpAddr;

use bastion_wizard::authorized_keys::{remove, PermitOpen};
use bastion_wizard::dates::Clock;
use bastion_wizard::key_list::{list, Context, FlagKind, KeyLine};
use bastion_wizard::ledger::{Entry, Ledger, Record};
use bastion_wizard::logs::Accepted;
use bastion_wizard::sshd::Version;
use common::{fingerprints, key_data, keygen, public_path};

struct Made {
    _dir: tempfile::TempDir,
    public: String,
    fingerprint: String,
}

fn make(args: &[&str]) -> Made {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keygen(dir.path(), "k", args);
    let fingerprint = fingerprints(&public_path(&private), "sha256")[0].clone();
    Made {
        _dir: dir,
        public,
        fingerprint,
    }
}

fn ledger_with(user: &str, fingerprint: &str) -> Ledger {
    Ledger {
        records: vec![Record {
            at: "2026-11-27T00:00:00Z".into(),
            entry: Entry::AddedKey {
                user: user.into(),
                fingerprint: fingerprint.into(),
            },
        }],
    }
}

fn listed(
    content: &str,
    ledger: &Ledger,
    logins: &[Accepted],
    targets: &[PermitOpen],
) -> Vec<KeyLine> {
    let addrs: Vec<IpAddr> = vec!["34.22.141.3".parse().unwrap()];
    list(
        content.as_bytes(),
        &Context {
            user: "whaly",
            ledger,
            logins,
            vendor_addrs: &addrs,
            targets,
            clock: Clock::utc(1_795_737_600), // 2026-11-27
            sshd_version: Some(Version { major: 9, minor: 2 }),
        },
    )
}

fn kinds(k: &KeyLine) -> Vec<FlagKind> {
    k.flags.iter().map(|f| f.kind).collect()
}

#[test]
fn remove_takes_every_line_of_the_key_and_keeps_every_other_byte() {
    let a = make(&["ed25519"]);
    let b = make(&["ecdsa"]);
    let data = key_data(&a.public);
    let text = format!(
        "# keys\r\n\n{a}\r\n{b}\nno-pty,from=\"10.0.0.1\" {a}\ncert-authority {a}\n   {a} other comment",
        a = a.public,
        b = b.public
    );
    let removal = remove(text.as_bytes(), data);
    assert_eq!(removal.lines, vec![3, 5, 7]);
    assert_eq!(
        String::from_utf8(removal.content).unwrap(),
        format!("# keys\r\n\n{}\ncert-authority {}\n", b.public, a.public),
        "the CA entry is not a login line and stays"
    );
    let nothing = remove(b"# only a comment", data);
    assert!(nothing.lines.is_empty());
    assert_eq!(nothing.content, b"# only a comment");
}

#[test]
fn fingerprints_types_and_bits_are_as_ssh_keygen_gives_them() {
    let keys = [
        make(&["ed25519"]),
        make(&["ecdsa", "-b", "521"]),
        make(&["rsa", "-b", "2048"]),
    ];
    let text: String = keys.iter().map(|k| format!("{}\n", k.public)).collect();
    let lines = listed(&text, &Ledger::default(), &[], &[]);
    let got: Vec<(&str, &str, Option<u32>)> = lines
        .iter()
        .map(|k| (k.fingerprint.as_str(), k.key_type.as_str(), k.bits))
        .collect();
    assert_eq!(
        got,
        vec![
            (keys[0].fingerprint.as_str(), "ssh-ed25519", None),
            (
                keys[1].fingerprint.as_str(),
                "ecdsa-sha2-nistp521",
                Some(521)
            ),
            (keys[2].fingerprint.as_str(), "ssh-rsa", Some(2048)),
        ]
    );
    assert!(lines.iter().all(|k| k.flags.is_empty()));
}

#[test]
fn the_first_line_of_a_key_wins_and_the_others_are_said_to_be_ignored() {
    let a = make(&["ed25519"]);
    let text = format!("restrict,port-forwarding {0}\n{0}\n", a.public);
    let lines = listed(&text, &Ledger::default(), &[], &[]);
    assert_eq!(kinds(&lines[0]), vec![FlagKind::Duplicated]);
    assert!(
        lines[0].flags[0].text.contains("line 2"),
        "{:?}",
        lines[0].flags
    );
    assert_eq!(kinds(&lines[1]), vec![FlagKind::Shadowed]);
    assert!(
        lines[1].flags[0].text.contains("line 1"),
        "{:?}",
        lines[1].flags
    );
}

#[test]
fn lines_sshd_skips_and_options_that_stop_the_tunnel_are_flagged() {
    let keys: Vec<Made> = (0..6).map(|_| make(&["ed25519"])).collect();
    let text = format!(
        "bogus {}\nrestrict {}\npermitopen=\"db:5432\" {}\nfrom=\"10.0.0.0/8\" {}\nexpiry-time=\"20250101\" {}\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx3 broken\n",
        keys[0].public, keys[1].public, keys[2].public, keys[3].public, keys[4].public
    );
    let targets = vec!["127.0.0.1:5432".parse::<PermitOpen>().unwrap()];
    let lines = listed(&text, &Ledger::default(), &[], &targets);
    let all: Vec<Vec<FlagKind>> = lines.iter().map(kinds).collect();
    assert_eq!(
        all,
        vec![
            vec![FlagKind::Rejected],
            vec![FlagKind::NoTunnel],
            vec![FlagKind::NoTunnel],
            vec![FlagKind::NoTunnel],
            vec![FlagKind::NoTunnel],
            vec![FlagKind::Rejected],
        ]
    );
    assert!(lines[3].flags[0].text.contains("34.22.141.3"));
    assert!(lines[4].flags[0].text.contains("passed"));
    assert_eq!(lines[4].expires.as_deref(), Some("2025-01-01T00:00:00Z"));
    assert_eq!(lines[5].fingerprint, "");
}

#[test]
fn ours_and_last_login_come_from_the_ledger_and_the_log() {
    let a = make(&["ed25519"]);
    let b = make(&["ed25519"]);
    let text = format!("{}\n{}\n", a.public, b.public);
    let login = |time: &str, fp: &str| Accepted {
        time: time.into(),
        addr: "34.22.141.3".into(),
        fingerprint: Some(fp.into()),
    };
    let logins = vec![
        login("2026-11-20T10:00:00+00:00", &a.fingerprint),
        login("2026-11-26T10:00:00+00:00", &a.fingerprint),
    ];
    let lines = listed(&text, &ledger_with("whaly", &b.fingerprint), &logins, &[]);
    assert_eq!(
        lines[0].last_login.as_deref(),
        Some("2026-11-26T10:00:00+00:00")
    );
    assert_eq!(lines[1].last_login, None);
    assert!(!lines[0].added_by_us && lines[1].added_by_us);
    let other_user = listed(&text, &ledger_with("fivetran", &b.fingerprint), &[], &[]);
    assert!(!other_user[1].added_by_us, "the ledger is per user");
}

/// authorized_keys is the tunnel user's file: a comment or option holding terminal escapes
/// (or a bidi override) must not reach root's terminal as such, where it could erase the
/// line above it from the auditor's list or rewrite the screen. `keys` and revoke's plan
/// show such characters escaped.
#[test]
fn control_characters_in_a_line_never_reach_the_terminal() {
    let a = make(&["ed25519"]);
    let b = make(&["ed25519"]);
    let hostile = |public: &str| {
        let mut words = public.split_whitespace();
        let (kind, data) = (words.next().unwrap(), words.next().unwrap());
        format!("environment=\"X=\r\x1b[2K\" {kind} {data} hidden\x1b[1A\x1b[2K\u{202E}txt\n")
    };
    let content = format!("{}\n{}", a.public, hostile(&b.public));
    let keys = listed(&content, &Ledger::default(), &[], &[]);
    let list = bastion_wizard::key_list::KeyList {
        user: "whaly".into(),
        keys: keys.clone(),
        ..Default::default()
    };
    let shown = bastion_wizard::key_list::render(&list);
    let plan = bastion_wizard::revoke::plan(
        &list,
        &b.fingerprint,
        std::path::Path::new("/home/whaly/.ssh/authorized_keys"),
    )
    .unwrap()
    .render();
    for text in [&shown, &plan] {
        assert!(
            !text
                .chars()
                .any(|c| (c.is_control() && c != '\n') || c == '\u{202E}'),
            "{text:?}"
        );
        assert!(
            text.contains("hidden"),
            "the comment is still shown: {text}"
        );
    }
    assert!(shown.contains(&a.fingerprint) && shown.contains(&b.fingerprint));
}

/// A key that is only on a cert-authority line logs nobody in: there is nothing to revoke,
/// and revoke says so instead of asking about zero lines.
#[test]
fn a_key_only_on_a_cert_authority_line_has_no_revoke_plan() {
    let a = make(&["ed25519"]);
    let content = format!("cert-authority {}\n", a.public);
    let list = bastion_wizard::key_list::KeyList {
        user: "whaly".into(),
        keys: listed(&content, &Ledger::default(), &[], &[]),
        ..Default::default()
    };
    let path = std::path::Path::new("/home/whaly/.ssh/authorized_keys");
    assert_eq!(
        bastion_wizard::revoke::plan(&list, &a.fingerprint, path),
        None
    );
    let login = format!("cert-authority {}\n{}\n", a.public, a.public);
    let list = bastion_wizard::key_list::KeyList {
        keys: listed(&login, &Ledger::default(), &[], &[]),
        ..list
    };
    let plan = bastion_wizard::revoke::plan(&list, &a.fingerprint, path).unwrap();
    assert_eq!(
        plan.lines.iter().map(|k| k.line).collect::<Vec<_>>(),
        vec![2],
        "the login line goes, the cert-authority line stays"
    );
}

/// A line whose `expiry-time` this host's sshd is too old for is skipped whole by sshd
/// (7.7 for the option, 9.1 for its UTC form): the list says so, as `status` does.
#[test]
fn an_expiry_the_hosts_sshd_does_not_know_is_flagged() {
    let a = make(&["ed25519"]);
    let lines = [
        format!(
            "expiry-time=\"20271231235959\",restrict,port-forwarding {}\n",
            a.public
        ),
        format!(
            "expiry-time=\"20271231235959Z\",restrict,port-forwarding {}\n",
            a.public
        ),
    ];
    let addrs: Vec<IpAddr> = vec!["34.22.141.3".parse().unwrap()];
    let flagged = |line: &str, major, minor| {
        let keys = list(
            line.as_bytes(),
            &Context {
                user: "whaly",
                ledger: &Ledger::default(),
                logins: &[],
                vendor_addrs: &addrs,
                targets: &[],
                clock: Clock::utc(1_795_737_600),
                sshd_version: Some(Version { major, minor }),
            },
        );
        kinds(&keys[0]).contains(&FlagKind::Rejected)
    };
    assert!(!flagged(&lines[0], 9, 2));
    assert!(!flagged(&lines[0], 7, 7));
    assert!(flagged(&lines[0], 7, 4), "7.4 does not know expiry-time");
    assert!(!flagged(&lines[1], 9, 1));
    assert!(flagged(&lines[1], 9, 0), "9.0 does not know the UTC form");
}
