//! Planning from given file texts and effective configurations: which file, which lines.

use std::path::{Path, PathBuf};

use super::*;
use crate::sshd::same_everywhere;

const ADDRS: [&str; 2] = ["34.22.141.3", "34.22.218.65"];

fn want() -> Want {
    Want {
        user: "whaly".into(),
        group: "whaly".into(),
        groups: vec!["whaly".into()],
        key_type: Some("ssh-rsa".into()),
        targets: vec!["10.0.0.5:5432".parse().unwrap()],
        keepalive: None,
        addrs: ADDRS.iter().map(|a| a.parse().unwrap()).collect(),
        home: "/home/whaly".into(),
    }
}

fn files(texts: &[(&str, &str)]) -> SshdFiles {
    SshdFiles {
        unreadable: None,
        paths: SshdPaths {
            config: PathBuf::from(texts[0].0),
            ssh_dir: "/etc/ssh".into(),
            ..SshdPaths::default()
        },
        tree: Some(Tree::from_texts(texts, Path::new("/etc/ssh"))),
        rejected: None,
    }
}

fn effective(text: &str) -> Vec<Effective> {
    same_everywhere(&SshdConfig::parse(text), &want().addrs)
}

const DEBIAN: &str =
    "Include /etc/ssh/sshd_config.d/*.conf\nAllowTcpForwarding no\nSubsystem sftp internal-sftp\n";

#[test]
fn forwarding_goes_into_a_first_sorting_dropin_when_the_main_file_includes_them() {
    let files = files(&[
        ("/etc/ssh/sshd_config", DEBIAN),
        (
            "/etc/ssh/sshd_config.d/50-cloud.conf",
            "PasswordAuthentication no\n",
        ),
    ]);
    let repair = plan_with(
        &files,
        &effective("allowtcpforwarding no\npermitopen any\n"),
        &want(),
    )
    .unwrap();
    assert_eq!(
        repair.file,
        PathBuf::from("/etc/ssh/sshd_config.d/00-bastion-wizard-whaly.conf")
    );
    assert_eq!(repair.placement, Placement::NewFile);
    assert_eq!(
        repair.lines[1..],
        ["Match User whaly", "    AllowTcpForwarding local"]
    );
    assert_eq!(repair.blocked, None);
    assert!(repair.reasons[0].contains("AllowTcpForwarding no"));
}

#[test]
fn without_dropins_the_block_goes_above_the_first_match_of_the_main_file() {
    let main =
        "Port 22\nAllowTcpForwarding no\n# admins\nMatch Group admins\n  AllowTcpForwarding yes\n";
    let files = files(&[("/etc/ssh/sshd_config", main)]);
    let repair = plan_with(&files, &effective("allowtcpforwarding no\n"), &want()).unwrap();
    assert_eq!(repair.file, PathBuf::from("/etc/ssh/sshd_config"));
    assert_eq!(repair.placement, Placement::InsertBefore(4));
    let files = self::files(&[("/etc/ssh/sshd_config", "AllowTcpForwarding no\n")]);
    let repair = plan_with(&files, &effective("allowtcpforwarding no\n"), &want()).unwrap();
    assert_eq!(repair.placement, Placement::Append);
}

#[test]
fn an_include_inside_a_match_for_others_cannot_carry_the_block() {
    let main = "Match User bob\n  Include /etc/ssh/sshd_config.d/*.conf\n";
    let files = files(&[("/etc/ssh/sshd_config", main)]);
    let repair = plan_with(&files, &effective("allowtcpforwarding no\n"), &want()).unwrap();
    assert_eq!(repair.file, PathBuf::from("/etc/ssh/sshd_config"));
    assert_eq!(repair.placement, Placement::InsertBefore(1));
}

#[test]
fn every_setting_gets_its_line() {
    let mut want = want();
    want.keepalive = Some(Keepalive {
        interval: 30,
        count_max: 10,
    });
    let files = files(&[("/etc/ssh/sshd_config", DEBIAN)]);
    let config = "disableforwarding yes\nallowtcpforwarding remote\npermitopen 10.0.0.6:5432 localhost:5432\npubkeyauthentication no\nauthorizedkeysfile /etc/ssh/keys/%u\npubkeyacceptedalgorithms ssh-ed25519\nauthenticationmethods publickey,password\nclientaliveinterval 0\nclientalivecountmax 3\n";
    let repair = plan_with(&files, &effective(config), &want).unwrap();
    assert_eq!(
        repair.lines[2..],
        [
            "    DisableForwarding no",
            "    AllowTcpForwarding local",
            "    PermitOpen 10.0.0.5:5432",
            "    PubkeyAuthentication yes",
            "    AuthorizedKeysFile /etc/ssh/keys/%u .ssh/authorized_keys",
            "    PubkeyAcceptedAlgorithms +rsa-sha2-512,rsa-sha2-256",
            "    AuthenticationMethods publickey",
            "    ClientAliveInterval 30",
            "    ClientAliveCountMax 10",
        ]
    );
}

#[test]
fn permit_open_is_compared_as_sshd_spells_it() {
    let cfg = |t: &str| SshdConfig::parse(t);
    let targets: Vec<PermitOpen> = vec!["10.0.0.5:5432".parse().unwrap()];
    assert_eq!(cfg("permitopen any\n").permit_open_problem(&targets), None);
    assert_eq!(
        cfg("permitopen 10.0.0.5:*\n").permit_open_problem(&targets),
        None
    );
    assert!(cfg("permitopen localhost:5432\n")
        .permit_open_problem(&["127.0.0.1:5432".parse().unwrap()])
        .is_some());
    assert!(cfg("permitopen none\n").permit_open_problem(&[]).is_some());
    assert_eq!(
        cfg("permitopen [::1]:5432\n").permit_open_problem(&["[::1]:5432".parse().unwrap()]),
        None
    );
}

#[test]
fn nothing_to_repair_is_none() {
    let files = files(&[("/etc/ssh/sshd_config", DEBIAN)]);
    assert_eq!(
        plan_with(
            &files,
            &effective("allowtcpforwarding yes\npermitopen any\n"),
            &want()
        ),
        None
    );
}

#[test]
fn allow_users_gets_the_user_added_to_the_line_that_excludes_it() {
    let main = "AllowUsers alice bob # admins\nAllowUsers carol\n";
    let files = files(&[("/etc/ssh/sshd_config", main)]);
    let repair = plan_with(
        &files,
        &effective("allowusers alice\nallowusers bob\nallowusers carol\n"),
        &want(),
    )
    .unwrap();
    assert_eq!(repair.placement, Placement::None);
    assert!(repair.lines.is_empty());
    assert_eq!(repair.edits.len(), 1);
    assert_eq!(repair.edits[0].place.number, 2);
    assert_eq!(repair.edits[0].after, "AllowUsers carol whaly");
    assert_eq!(
        add_word("AllowUsers alice bob # admins", "whaly"),
        "AllowUsers alice bob whaly # admins"
    );
    // A matching Match block's list replaces the global one: that is the line to widen.
    let main = "AllowUsers alice\nMatch Address 34.22.0.0/16\n  AllowGroups ops\n";
    let files = self::files(&[("/etc/ssh/sshd_config", main)]);
    let repair = plan_with(&files, &effective("allowgroups ops\n"), &want()).unwrap();
    assert_eq!(repair.edits[0].place.number, 3);
    assert_eq!(repair.edits[0].after, "  AllowGroups ops whaly");
}

#[test]
fn deny_rules_are_blocked_with_the_exact_line() {
    let main = "Include /etc/ssh/sshd_config.d/*.conf\n";
    let files = files(&[
        ("/etc/ssh/sshd_config", main),
        ("/etc/ssh/sshd_config.d/10-deny.conf", "DenyUsers wh*\n"),
    ]);
    let repair = plan_with(
        &files,
        &effective("denyusers wh*\nallowtcpforwarding no\n"),
        &want(),
    )
    .unwrap();
    let why = repair.blocked.unwrap();
    assert!(
        why.contains("`DenyUsers wh*` at /etc/ssh/sshd_config.d/10-deny.conf:1"),
        "{why}"
    );
    assert!(why.contains("by hand"));
}

#[test]
fn a_rejected_or_unread_config_is_blocked() {
    let mut files = files(&[("/etc/ssh/sshd_config", DEBIAN)]);
    files.rejected =
        Some("`sshd -t` rejects the configuration: line 3: Bad configuration option: Bogus".into());
    let repair = plan_with(&files, &effective("allowtcpforwarding no\n"), &want()).unwrap();
    assert!(repair.blocked.unwrap().contains("Bogus"));
    files.rejected = None;
    files.tree = None;
    files.unreadable = Some("run as root".into());
    assert!(
        plan_with(&files, &effective("allowtcpforwarding no\n"), &want())
            .unwrap()
            .blocked
            .is_some()
    );
}

#[test]
fn a_rerun_merges_into_our_own_dropin() {
    let ours = "# mark\nMatch User whaly\n    ClientAliveInterval 30\n";
    let files = files(&[
        ("/etc/ssh/sshd_config", DEBIAN),
        ("/etc/ssh/sshd_config.d/00-bastion-wizard-whaly.conf", ours),
    ]);
    let repair = plan_with(
        &files,
        &effective("allowtcpforwarding no\nclientaliveinterval 30\n"),
        &want(),
    )
    .unwrap();
    assert_eq!(repair.placement, Placement::ReplaceFile);
    assert_eq!(
        repair.lines[2..],
        ["    AllowTcpForwarding local", "    ClientAliveInterval 30"]
    );
}

#[test]
fn match_criteria_are_judged_like_sshd() {
    let addr = "34.22.141.3".parse().unwrap();
    let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let groups = ["whaly".to_string()];
    assert_eq!(
        applies(&words("User wh*,!bob"), "whaly", &groups, addr),
        Applies::Yes
    );
    assert_eq!(
        applies(&words("User *,!whaly"), "whaly", &groups, addr),
        Applies::No
    );
    assert_eq!(
        applies(
            &words("Address 34.22.0.0/16 User whaly"),
            "whaly",
            &groups,
            addr
        ),
        Applies::Yes
    );
    assert_eq!(
        applies(&words("Address 10.0.0.0/8"), "whaly", &groups, addr),
        Applies::No
    );
    assert_eq!(
        applies(&words("LocalPort 2222"), "whaly", &groups, addr),
        Applies::Maybe
    );
    assert_eq!(applies(&words("All"), "whaly", &groups, addr), Applies::Yes);
    assert_eq!(
        applies(&words("Group whaly"), "whaly", &groups, addr),
        Applies::Yes
    );
}

#[test]
fn split_line_reads_as_sshd_does() {
    assert_eq!(
        split_line("  AllowUsers=alice \"b c\" # x"),
        Some(("allowusers".into(), vec!["alice".into(), "b c".into()]))
    );
    assert_eq!(split_line("# comment"), None);
}

#[test]
fn only_match_blocks_on_the_address_make_addresses_differ() {
    let by_user = files(&[(
        "/etc/ssh/sshd_config",
        "AllowTcpForwarding yes\nMatch User whaly\n  AllowTcpForwarding no\n",
    )]);
    assert!(!by_user.depends_on_address());
    let by_address = files(&[
        (
            "/etc/ssh/sshd_config",
            "Include /etc/ssh/sshd_config.d/*.conf\n",
        ),
        (
            "/etc/ssh/sshd_config.d/x.conf",
            "Match User whaly Address 34.22.141.3\n  AllowTcpForwarding no\n",
        ),
    ]);
    assert!(by_address.depends_on_address());
    let unread = SshdFiles {
        unreadable: Some("no".into()),
        ..SshdFiles::default()
    };
    assert!(unread.depends_on_address());
}
