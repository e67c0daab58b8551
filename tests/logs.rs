//! The sshd log reader and the `vendor_attempts` check, against lines a real sshd 9.2
//! wrote (tests/fixtures/logs/capture.sh made them; see the README there).

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bastion_wizard::checks::{CheckId, Status};
use bastion_wizard::logs::{self, Attempts, Reason, Sources};

/// A little after the capture (2026-11-27 ~10:00 UTC).
const NOW: i64 = 1_795_780_000;
const ED25519_FP: &str = "SHA256:+J8kcfeUWKaCEtjCVf37vZTAmJeSMghxcim8/mqJwD8";
const RSA_FP: &str = "SHA256:tH6d2wb5TbchmYNt61OxW6z/omRl0+xV4Ejasrf21KE";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/logs")
        .join(name)
}

fn text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

fn journal_case(case: &str, user: &str) -> Attempts {
    let lines = logs::parse_journal_json(&text(&format!("raw/{case}.json")), NOW);
    assert!(!lines.is_empty(), "{case}: no sshd lines parsed");
    logs::attempts(user, "journald", &lines)
}

fn refusal(case: &str) -> logs::Refused {
    let a = journal_case(case, "whaly");
    assert!(a.last_was_refused, "{case}: {a:?}");
    a.last_refused.unwrap()
}

#[test]
fn accepted_login_gives_key_address_and_time() {
    let a = journal_case("accepted", "whaly");
    assert!(!a.last_was_refused);
    assert_eq!(a.last_refused, None);
    let acc = a.last_accepted.unwrap();
    assert_eq!(acc.fingerprint.as_deref(), Some(ED25519_FP));
    assert_eq!(acc.addr, "127.0.0.1");
    assert!(
        acc.time.starts_with("2026-11-27T09:") && acc.time.ends_with('Z'),
        "{}",
        acc.time
    );

    let fwd = journal_case("forward_ok", "whaly");
    assert!(
        !fwd.last_was_refused && fwd.last_accepted.is_some(),
        "{fwd:?}"
    );
    let rsa = journal_case("accepted_rsa", "whaly");
    assert_eq!(
        rsa.last_accepted.unwrap().fingerprint.as_deref(),
        Some(RSA_FP)
    );
}

#[test]
fn each_refusal_sshd_logged_is_named() {
    let rule = |r: &str| Reason::NotAllowed { rule: r.into() };
    let cases = [
        ("allowusers", rule("AllowUsers")),
        ("denyusers", rule("DenyUsers")),
        ("allowgroups", rule("AllowGroups")),
        ("denygroups", rule("DenyGroups")),
        (
            "badmodes_home",
            Reason::BadModes {
                path: "/home/whaly".into(),
            },
        ),
        (
            "badmodes_sshdir",
            Reason::BadModes {
                path: "/home/whaly/.ssh".into(),
            },
        ),
        (
            "badmodes_file",
            Reason::BadModes {
                path: "/home/whaly/.ssh/authorized_keys".into(),
            },
        ),
        ("locked", Reason::Locked),
        (
            "shell_missing",
            Reason::ShellMissing {
                shell: "/bin/nonexistent".into(),
            },
        ),
        (
            "shell_noexec",
            Reason::ShellMissing {
                shell: "/usr/local/bin/noexec-shell".into(),
            },
        ),
        (
            "algorithm_sha1",
            Reason::Algorithm {
                algorithm: "ssh-rsa".into(),
            },
        ),
        (
            "algorithm_type",
            Reason::Algorithm {
                algorithm: "ssh-ed25519".into(),
            },
        ),
        (
            "forwarding_no",
            Reason::ForwardingProhibited {
                target: "127.0.0.1:5432".into(),
                permit_open: false,
            },
        ),
        (
            "disable_forwarding",
            Reason::ForwardingProhibited {
                target: "127.0.0.1:5432".into(),
                permit_open: false,
            },
        ),
        (
            "permitopen",
            Reason::ForwardingProhibited {
                target: "127.0.0.1:5432".into(),
                permit_open: true,
            },
        ),
        (
            "connect_failed",
            Reason::ConnectFailed {
                target: "127.0.0.1:5999".into(),
                why: "connection refused or timed out".into(),
            },
        ),
        ("key_not_accepted", Reason::KeyNotAccepted),
        (
            "expired",
            Reason::PamDenied {
                detail: Some("account whaly has expired (account expired)".into()),
            },
        ),
        ("nologin", Reason::PamDenied { detail: None }),
    ];
    for (case, reason) in cases {
        let r = refusal(case);
        assert_eq!(r.reason, reason, "{case}");
        // Session lines are tied to the login by pid, never guessed, in these captures.
        assert!(!r.guessed, "{case}");
        assert!(r.line.len() > 10, "{case}");
    }
    // The address comes from the refusal's own process where sshd names it.
    assert_eq!(refusal("allowusers").addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(refusal("badmodes_home").addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(refusal("forwarding_no").addr.as_deref(), Some("127.0.0.1"));
}

#[test]
fn other_users_lines_are_not_the_vendors() {
    for case in [
        "accepted",
        "allowusers",
        "badmodes_home",
        "forwarding_no",
        "connect_failed",
    ] {
        let a = journal_case(case, "alice");
        assert_eq!((a.last_accepted, a.last_refused), (None, None), "{case}");
    }
}

#[test]
fn a_later_login_supersedes_an_earlier_refusal() {
    let a = journal_case("all", "whaly");
    assert!(!a.last_was_refused);
    assert_eq!(
        a.last_accepted.unwrap().fingerprint.as_deref(),
        Some(RSA_FP)
    );
    assert!(matches!(
        a.last_refused.unwrap().reason,
        Reason::PamDenied { .. }
    ));
}

/// A forward refused in a session still open has no "Disconnected from user" yet.
#[test]
fn untied_forward_line_is_taken_as_the_latest_and_says_so() {
    let open: String = text("raw/forwarding_no.json")
        .lines()
        .filter(|l| !l.contains("isconnect"))
        .map(|l| format!("{l}\n"))
        .collect();
    let lines = logs::parse_journal_json(&open, NOW);
    let r = logs::attempts("whaly", "journald", &lines)
        .last_refused
        .unwrap();
    assert!(r.guessed);
    assert!(matches!(r.reason, Reason::ForwardingProhibited { .. }));
    let check = logs::check(&logs::attempts("whaly", "journald", &lines), &|id| {
        id == CheckId::SshdForwarding
    });
    assert_eq!(check.status, Status::Fail);
    assert!(
        check.detail.contains("could not be tied"),
        "{}",
        check.detail
    );

    // Another user's session (same lines, another name) is not the vendor's.
    let alice = open.replace("whaly", "alice");
    let lines = logs::parse_journal_json(&alice, NOW);
    assert_eq!(
        logs::attempts("whaly", "journald", &lines).last_refused,
        None
    );
    // Nor right after the vendor's own login.
    let after_vendor =
        text("raw/accepted.json") + &text("raw/forwarding_no.json").replace("whaly", "alice");
    let a = logs::attempts(
        "whaly",
        "journald",
        &logs::parse_journal_json(&after_vendor, NOW),
    );
    assert!(a.last_accepted.is_some());
    assert_eq!(a.last_refused, None);
    // The algorithm line names no user: tied by pid only.
    let alg =
        text("raw/accepted.json") + &text("raw/algorithm_sha1.json").replace("whaly", "alice");
    let a = logs::attempts("whaly", "journald", &logs::parse_journal_json(&alg, NOW));
    assert_eq!(a.last_refused, None);
}

/// The same entries through every text form: as journald JSON, journalctl's own short
/// formats, and as rsyslog writes auth.log.
#[test]
fn syslog_forms_agree_with_the_journal() {
    let journal = journal_case("all", "whaly");
    for (name, time) in [
        ("auth.log.classic", "2026-11-27T09:"),
        ("auth.log.rfc3339", "+00:00"),
        ("raw/all.short", "2026-11-27T09:"),
        ("raw/all.short-iso", "+00:00"),
        ("raw/all.short-iso-precise", "+00:00"),
    ] {
        let lines = logs::parse_syslog(&text(name), NOW);
        assert!(lines.len() > 100, "{name}");
        let a = logs::attempts("whaly", name, &lines);
        let (acc, j) = (
            a.last_accepted.unwrap(),
            journal.last_accepted.clone().unwrap(),
        );
        assert_eq!(
            (&acc.addr, &acc.fingerprint),
            (&j.addr, &j.fingerprint),
            "{name}"
        );
        assert!(
            acc.time.contains(time) && acc.time.len() >= 19,
            "{name}: {}",
            acc.time
        );
        assert_eq!(acc.time[..19], j.time[..19], "{name}");
        assert_eq!(
            a.last_refused.unwrap().reason,
            journal.last_refused.clone().unwrap().reason
        );
    }
    // Case by case too, in the classic form.
    let classic = text("auth.log.classic");
    let upto = |needle: &str| -> String {
        let end = classic.find(needle).unwrap() + needle.len();
        classic[..end].to_string()
    };
    let a = logs::attempts(
        "whaly",
        "auth.log",
        &logs::parse_syslog(&upto("not listed in AllowUsers"), NOW),
    );
    assert_eq!(
        a.last_refused.unwrap().reason,
        Reason::NotAllowed {
            rule: "AllowUsers".into()
        }
    );
    assert!(a.last_was_refused);
}

#[test]
fn lines_older_than_two_weeks_are_left_out() {
    let later = NOW + 15 * 86_400;
    assert!(logs::parse_journal_json(&text("raw/all.json"), later).is_empty());
    assert!(logs::parse_syslog(&text("auth.log.rfc3339"), later).is_empty());
    assert!(logs::parse_syslog(&text("auth.log.classic"), later).is_empty());
    assert!(!logs::parse_syslog(&text("auth.log.classic"), NOW + 13 * 86_400).is_empty());
}

fn sources(journal: Option<Vec<String>>, files: Vec<PathBuf>) -> Sources {
    Sources {
        journal,
        files,
        now: UNIX_EPOCH + Duration::from_secs(NOW as u64),
        timeout: Duration::from_millis(500),
        // The captures were made over loopback.
        skip_loopback: false,
    }
}

#[test]
fn reader_takes_journald_then_files() {
    let cat = |f: &str| Some(vec!["cat".to_string(), fixture(f).display().to_string()]);
    let a = logs::read_from("whaly", &sources(cat("raw/all.json"), vec![]));
    assert_eq!(a.source.as_deref(), Some("journald"));
    assert_eq!(a.user, "whaly");

    let missing = Some(vec!["/nonexistent/journalctl".to_string()]);
    let files = vec![
        PathBuf::from("/nonexistent/auth.log"),
        fixture("auth.log.rfc3339"),
    ];
    let a = logs::read_from("whaly", &sources(missing.clone(), files));
    assert_eq!(
        a.source,
        Some(fixture("auth.log.rfc3339").display().to_string())
    );
    assert_eq!(
        a.last_accepted.unwrap().fingerprint.as_deref(),
        Some(RSA_FP)
    );

    // An empty journal (journalctl prints nothing) falls through to the file.
    let empty = Some(vec!["true".to_string()]);
    let a = logs::read_from("whaly", &sources(empty, vec![fixture("auth.log.classic")]));
    assert_eq!(
        a.source,
        Some(fixture("auth.log.classic").display().to_string())
    );

    // Nothing anywhere: not an error, but said.
    let a = logs::read_from(
        "whaly",
        &sources(missing, vec!["/nonexistent/secure".into()]),
    );
    assert_eq!(a.source, None);
    let why = a.unreadable.unwrap();
    assert!(
        why.contains("not installed") && why.contains("no /nonexistent/secure"),
        "{why}"
    );
}

#[test]
fn a_hanging_journalctl_is_killed() {
    let hang = Some(vec!["sleep".to_string(), "30".to_string()]);
    let started = Instant::now();
    let a = logs::read_from("whaly", &sources(hang, vec![fixture("auth.log.classic")]));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(a.source.unwrap().ends_with("auth.log.classic"));
}

/// Only the file's last 2 MiB is read: a login at its start is out of reach. The filler
/// is another program's lines, so the line bound alone would not drop it.
#[test]
fn only_the_tail_of_a_big_file_is_read() {
    let classic = text("auth.log.classic");
    let early = classic.replace("whaly", "early");
    let mut big = early.clone();
    let filler: String = classic
        .lines()
        .filter(|l| l.contains("Server listening"))
        .map(|l| format!("{l}\n").replace(" sshd[", " cron["))
        .collect();
    while big.len() < (logs::MAX_TAIL_BYTES as usize) + (1 << 20) {
        big.push_str(&filler);
    }
    big.push_str(&classic);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    std::fs::write(&path, &big).unwrap();
    let src = sources(None, vec![path]);
    assert!(logs::read_from("whaly", &src).last_accepted.is_some());
    let early_reader = logs::read_from("early", &src);
    assert_eq!(early_reader.last_accepted, None);
    assert!(early_reader.source.is_some());
    // For contrast: the early user's login is in the file, before the last 2 MiB.
    let at = big.find("Accepted publickey for early").unwrap();
    assert!(at < big.len() - logs::MAX_TAIL_BYTES as usize);
}

#[test]
fn not_root_is_not_read() {
    let a = logs::read("whaly", false);
    assert_eq!(a.source, None);
    assert!(a.unreadable.unwrap().contains("root"));
}

/// Runs the check with a `still_fails` that fails exactly `failing`, recording what it asked.
fn judge(a: &Attempts, failing: &[CheckId]) -> (bastion_wizard::checks::Check, Vec<CheckId>) {
    let asked = RefCell::new(Vec::new());
    let c = logs::check(a, &|id| {
        asked.borrow_mut().push(id);
        failing.contains(&id)
    });
    assert_eq!(c.id, CheckId::VendorAttempts);
    (c, asked.into_inner())
}

#[test]
fn check_maps_each_reason_to_the_check_that_catches_it() {
    let cases = [
        ("allowusers", CheckId::SshdUserAllowed, "AllowUsers"),
        ("badmodes_home", CheckId::Home, "chmod go-w /home/whaly"),
        (
            "badmodes_sshdir",
            CheckId::SshDir,
            "chmod go-w /home/whaly/.ssh",
        ),
        (
            "badmodes_file",
            CheckId::AuthorizedKeys,
            "/home/whaly/.ssh/authorized_keys",
        ),
        ("locked", CheckId::AccountUnlocked, "usermod -p '*' whaly"),
        (
            "shell_missing",
            CheckId::Shell,
            "usermod -s /usr/sbin/nologin whaly",
        ),
        (
            "algorithm_sha1",
            CheckId::SshdKeyAlgorithm,
            "PubkeyAcceptedAlgorithms +ssh-rsa",
        ),
        ("forwarding_no", CheckId::SshdForwarding, "--fix-sshd"),
        ("permitopen", CheckId::SshdForwarding, "--fix-sshd"),
        ("connect_failed", CheckId::PortSshToDb, "127.0.0.1:5999"),
    ];
    // A key sshd did not accept is not named in the log: that some key is installed now
    // does not show the vendor offers that one, so it warns and is never "fixed since".
    let a = journal_case("key_not_accepted", "whaly");
    for failing in [&[][..], &[CheckId::KeyInstalled][..]] {
        let (c, _) = judge(&a, failing);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(!c.detail.contains("Fixed since"), "{c:?}");
        assert!(c.fix.unwrap().contains("--key-file"));
    }
    for (case, id, in_fix) in cases {
        let a = journal_case(case, "whaly");
        let (fail, asked) = judge(&a, &[id]);
        assert_eq!(fail.status, Status::Fail, "{case}: {fail:?}");
        assert!(asked.contains(&id), "{case}: asked {asked:?}");
        let fix = fail.fix.unwrap();
        assert!(fix.contains(in_fix), "{case}: {fix}");
        assert!(
            fail.detail.contains(&a.last_refused.clone().unwrap().line),
            "{case}"
        );

        // Fixed since: the same refusal is history.
        let (ok, _) = judge(&a, &[]);
        assert_eq!(ok.status, Status::Ok, "{case}");
        assert!(ok.detail.contains("Fixed since"), "{case}: {}", ok.detail);
        assert_eq!(ok.fix, None);

        // Another check failing does not make this one fail.
        let other = if id == CheckId::Group {
            CheckId::User
        } else {
            CheckId::Group
        };
        assert_eq!(judge(&a, &[other]).0.status, Status::Ok, "{case}");
    }
}

#[test]
fn check_words_for_logins_none_and_unknowns() {
    let (c, _) = judge(&journal_case("accepted", "whaly"), &[CheckId::KeyInstalled]);
    assert_eq!(c.status, Status::Ok);
    assert!(
        c.detail.contains(ED25519_FP) && c.detail.contains("127.0.0.1"),
        "{}",
        c.detail
    );

    let (c, _) = judge(&journal_case("accepted", "alice"), &[]);
    assert_eq!(c.status, Status::Ok);
    assert!(
        c.detail.contains("no login by alice in the last 14 days"),
        "{}",
        c.detail
    );

    // PAM's account stage: no check here can tell, so it warns with the commands.
    let (c, _) = judge(&journal_case("expired", "whaly"), &[]);
    assert_eq!(c.status, Status::Warn);
    assert!(c.fix.unwrap().contains("chage -E -1 whaly"));

    let (c, _) = judge(&logs::read("whaly", false), &[]);
    assert_eq!(c.status, Status::Warn);
    assert!(c.detail.contains("root"));

    let missing = sources(Some(vec!["/nonexistent/journalctl".into()]), vec![]);
    let (c, _) = judge(&logs::read_from("whaly", &missing), &[]);
    assert_eq!(c.status, Status::Warn);
    assert!(c.detail.contains("no sshd log"), "{}", c.detail);
}

#[test]
fn system_sources_are_bounded() {
    let s = Sources::system();
    let args = s.journal.unwrap().join(" ");
    assert!(
        args.contains("--since=-14d") && args.contains("--lines=5000"),
        "{args}"
    );
    assert!(s.timeout <= Duration::from_secs(3));
    assert!(SystemTime::now().duration_since(s.now).unwrap() < Duration::from_secs(60));
}

/// The vendor never connects from this host: a loopback login (`verify`'s probe) is not
/// reported as the vendor's, nor is a loopback refusal.
#[test]
fn loopback_sessions_are_not_the_vendors() {
    let lines = logs::parse_journal_json(&text("raw/accepted.json"), NOW);
    let all = logs::attempts("whaly", "journald", &lines);
    assert!(all.last_accepted.is_some(), "the capture holds a login");
    let afar = logs::attempts_from_afar("whaly", "journald", &lines);
    assert_eq!(afar.last_accepted, None);
    assert!(!afar.last_was_refused);
    let refused = logs::parse_journal_json(&text("raw/allowusers.json"), NOW);
    assert!(logs::attempts("whaly", "journald", &refused).last_was_refused);
    assert!(!logs::attempts_from_afar("whaly", "journald", &refused).last_was_refused);
}
