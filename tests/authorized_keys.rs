//! authorized_keys handling: the line parser (as sshd reads lines), the merge that keeps
//! every other byte of an existing file, the line we write (`Access::line_for`) and the
//! strict `permitopen` target check. See "How sshd judges authorized_keys" in
//! docs/field-notes.md.

use bastion_wizard::authorized_keys::{
    contains_key, find_entry, key_count, merge, parse_line, split_host_port, Access, Entry, Merge,
    PermitOpen,
};
use bastion_wizard::key::{self, Key};

mod common;

const ED_DATA: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGx3mVq3tq3f0Yb2o2m9x1GxkP0w5Qx6m3vKpJb2WzQe";
const OTHER_DATA: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBbT7pXn5o1sXg0b8q9yY1a2b3c4d5e6f7g8h9i0j1k2";

fn entry(options: Option<&str>, key_type: &str, data: &str, comment: &str) -> Entry {
    Entry {
        options: options.map(str::to_string),
        key_type: key_type.into(),
        data: data.into(),
        comment: comment.into(),
    }
}

/// A key as intake returns it, without running ssh-keygen (the data is a valid ed25519
/// blob of any 32 bytes).
fn test_key() -> Key {
    key::parse(&format!("ssh-ed25519 {ED_DATA} vendor@example.com")).expect("test key parses")
}

struct Generated {
    _dir: tempfile::TempDir,
    key: Key,
    fingerprint: String,
}

fn generate(kind: &str, bits: Option<u32>) -> Generated {
    let dir = tempfile::tempdir().unwrap();
    let bits = bits.map(|b| b.to_string());
    let mut type_args = vec![kind];
    if let Some(bits) = &bits {
        type_args.extend(["-b", bits]);
    }
    let (private, public) = common::try_keygen(dir.path(), "key", "vendor@example.com", &type_args)
        .unwrap_or_else(|e| panic!("ssh-keygen -t {kind} failed: {e}"));
    let key = key::parse(&public).unwrap();
    let fingerprint = common::fingerprints(&common::public_path(&private), "sha256")
        .pop()
        .unwrap();
    Generated {
        _dir: dir,
        key,
        fingerprint,
    }
}

fn added(m: Merge) -> Vec<u8> {
    match m {
        Merge::Added(bytes) => bytes,
        other => panic!("expected Added, got {other:?}"),
    }
}

fn updated(m: Merge) -> Vec<u8> {
    match m {
        Merge::Updated(bytes) => bytes,
        other => panic!("expected Updated, got {other:?}"),
    }
}

fn permit(s: &str) -> PermitOpen {
    s.parse().unwrap_or_else(|e| panic!("{s:?} refused: {e}"))
}

// ---------------------------------------------------------------------------------------
// parse_line
// ---------------------------------------------------------------------------------------

#[test]
fn parse_plain_line() {
    assert_eq!(
        parse_line(&format!("ssh-ed25519 {ED_DATA} vendor@example.com")),
        Some(entry(None, "ssh-ed25519", ED_DATA, "vendor@example.com"))
    );
    assert_eq!(
        parse_line(&format!("ssh-ed25519 {ED_DATA}")),
        Some(entry(None, "ssh-ed25519", ED_DATA, ""))
    );
    assert_eq!(
        parse_line(&format!("ssh-rsa\t{OTHER_DATA}\tJane Doe laptop")),
        Some(entry(None, "ssh-rsa", OTHER_DATA, "Jane Doe laptop"))
    );
}

#[test]
fn parse_options_with_quoted_spaces_commas_and_hash() {
    let cases = [
        r#"command="echo a # b, c""#,
        r#"restrict,command="echo a, b""#,
        r#"from="10.0.0.0/8,!10.1.0.0/16",no-pty"#,
        r#"restrict,port-forwarding,permitopen="db:5432",permitopen="[fd00::1]:5432""#,
        r#"environment="A=b c d",command="/bin/x --flag=1 # not a comment""#,
        "no-pty",
    ];
    for options in cases {
        let line = format!("{options} ssh-ed25519 {ED_DATA} a comment # here");
        assert_eq!(
            parse_line(&line),
            Some(entry(
                Some(options),
                "ssh-ed25519",
                ED_DATA,
                "a comment # here"
            )),
            "line {line:?}"
        );
    }
}

#[test]
fn parse_escaped_quote_inside_quotes() {
    let options = r#"command="echo \"hello world\" # and, more",no-pty"#;
    let line = format!("{options} ssh-ed25519 {ED_DATA} c");
    assert_eq!(
        parse_line(&line),
        Some(entry(Some(options), "ssh-ed25519", ED_DATA, "c"))
    );
    // An escaped quote followed by a blank does not end the option string.
    let options = r#"command="say \" ok \" done""#;
    let line = format!("{options} ssh-rsa {OTHER_DATA}");
    assert_eq!(
        parse_line(&line),
        Some(entry(Some(options), "ssh-rsa", OTHER_DATA, ""))
    );
}

#[test]
fn parse_leading_blanks_and_trailing_cr() {
    let want = Some(entry(None, "ssh-ed25519", ED_DATA, "c"));
    assert_eq!(parse_line(&format!("   ssh-ed25519 {ED_DATA} c")), want);
    assert_eq!(parse_line(&format!("\t \tssh-ed25519 {ED_DATA} c")), want);
    assert_eq!(parse_line(&format!("ssh-ed25519 {ED_DATA} c\r")), want);
    assert_eq!(parse_line(&format!(" \tssh-ed25519 {ED_DATA} c\r")), want);
    // Without a comment, the \r is not part of the key data.
    assert_eq!(
        parse_line(&format!("ssh-ed25519 {ED_DATA}\r")),
        Some(entry(None, "ssh-ed25519", ED_DATA, ""))
    );
    assert_eq!(
        parse_line(&format!("  restrict ssh-ed25519 {ED_DATA} c\r")),
        Some(entry(Some("restrict"), "ssh-ed25519", ED_DATA, "c"))
    );
}

#[test]
fn parse_comment_and_blank_lines_are_none() {
    for line in [
        "",
        " ",
        "\t\t",
        "\r",
        "  \r",
        "#",
        "# a comment",
        &format!("#ssh-ed25519 {ED_DATA} c"),
        &format!("   # ssh-ed25519 {ED_DATA} c"),
        &format!("\t#restrict ssh-ed25519 {ED_DATA}\r"),
    ] {
        assert_eq!(parse_line(line), None, "line {line:?}");
    }
}

#[test]
fn parse_incomplete_lines_are_none() {
    for line in [
        "ssh-ed25519",
        "ssh-ed25519 ",
        "restrict ssh-ed25519",
        "restrict",
    ] {
        assert_eq!(parse_line(line), None, "line {line:?}");
    }
}

// ---------------------------------------------------------------------------------------
// merge
// ---------------------------------------------------------------------------------------

#[test]
fn merge_into_empty_file() {
    let line = format!("restrict,port-forwarding ssh-ed25519 {ED_DATA} v");
    assert_eq!(
        added(merge(b"", &line, ED_DATA)),
        format!("{line}\n").into_bytes()
    );
}

#[test]
fn merge_appends_after_file_without_final_newline() {
    let existing = format!("ssh-rsa {OTHER_DATA} other@host").into_bytes();
    let line = format!("ssh-ed25519 {ED_DATA} v");
    let out = added(merge(&existing, &line, ED_DATA));
    assert!(out.starts_with(&existing), "old bytes changed");
    assert_eq!(&out[existing.len()..], format!("\n{line}\n").as_bytes());
}

#[test]
fn merge_keeps_existing_file_byte_for_byte() {
    // CRLF lines, comments, blank lines, blanks-only lines, other keys with options that
    // contain `#`, a non-UTF-8 line, and a line sshd would not parse.
    let mut existing = Vec::new();
    existing.extend_from_slice(b"# managed by hand -- do not touch\r\n");
    existing.extend_from_slice(b"\r\n");
    existing.extend_from_slice(format!("ssh-rsa {OTHER_DATA} admin@host\r\n").as_bytes());
    existing.extend_from_slice(b"   \t \n");
    existing.extend_from_slice(
        format!("command=\"echo a # {ED_DATA}\" ssh-rsa {OTHER_DATA}x ops\n").as_bytes(),
    );
    existing.extend_from_slice(format!("# ssh-ed25519 {ED_DATA} old, disabled\n").as_bytes());
    existing.extend_from_slice(b"caf\xe9 not a key\n");
    existing.extend_from_slice(b"\n\n");
    let line = format!("restrict,port-forwarding ssh-ed25519 {ED_DATA} vendor");
    let out = added(merge(&existing, &line, ED_DATA));
    assert!(out.starts_with(&existing), "old bytes changed");
    assert_eq!(&out[existing.len()..], format!("{line}\n").as_bytes());

    // Merging again is a no-op.
    assert_eq!(merge(&out, &line, ED_DATA), Merge::Unchanged);
}

#[test]
fn merge_updates_same_key_with_other_options_in_place() {
    let before = format!("# top\nssh-rsa {OTHER_DATA} a\n");
    let after = format!("\n# bottom\nssh-rsa {OTHER_DATA}QQ b\n");
    let old_line = format!("no-pty,command=\"x\" ssh-ed25519 {ED_DATA} old comment");
    let existing = format!("{before}{old_line}\n{after}");
    let line = format!("restrict,port-forwarding ssh-ed25519 {ED_DATA} vendor");
    let out = updated(merge(existing.as_bytes(), &line, ED_DATA));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{before}{line}\n{after}")
    );

    // Only the comment differs: also an update.
    let existing = format!("{before}restrict,port-forwarding ssh-ed25519 {ED_DATA} old\n");
    let out = updated(merge(existing.as_bytes(), &line, ED_DATA));
    assert_eq!(String::from_utf8(out).unwrap(), format!("{before}{line}\n"));
}

#[test]
fn merge_update_keeps_crlf_and_missing_final_newline() {
    let line = format!("restrict,port-forwarding ssh-ed25519 {ED_DATA} v");
    let existing = format!("ssh-rsa {OTHER_DATA} a\r\nssh-ed25519 {ED_DATA} v\r\n# end\r\n");
    let out = updated(merge(existing.as_bytes(), &line, ED_DATA));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("ssh-rsa {OTHER_DATA} a\r\n{line}\r\n# end\r\n")
    );

    let existing = format!("ssh-rsa {OTHER_DATA} a\nssh-ed25519 {ED_DATA} v");
    let out = updated(merge(existing.as_bytes(), &line, ED_DATA));
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with(&format!("ssh-rsa {OTHER_DATA} a\n{line}")),
        "{out:?}"
    );
    // Whatever the terminator, the file holds the line exactly once, as a whole line.
    assert_eq!(out.lines().filter(|l| *l == line).count(), 1, "{out:?}");
}

#[test]
fn merge_exact_line_present_is_unchanged() {
    let line = format!("restrict,port-forwarding ssh-ed25519 {ED_DATA} v");
    for existing in [
        format!("{line}\n"),
        line.clone(),
        format!("{line}\r\n"),
        format!("# c\nssh-rsa {OTHER_DATA} x\n{line}\n\n# end\n"),
    ] {
        assert_eq!(
            merge(existing.as_bytes(), &line, ED_DATA),
            Merge::Unchanged,
            "{existing:?}"
        );
    }
}

#[test]
fn merge_drops_later_duplicates_of_the_same_key() {
    let line = format!("restrict,port-forwarding ssh-ed25519 {ED_DATA} v");
    let other = format!("ssh-rsa {OTHER_DATA} x");
    // Exact line first, then a stale duplicate that grants more.
    let existing = format!("{line}\n{other}\nssh-ed25519 {ED_DATA} v\n# end\n");
    let out = updated(merge(existing.as_bytes(), &line, ED_DATA));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{line}\n{other}\n# end\n")
    );
    // Two stale lines: the first is replaced, the second dropped.
    let existing =
        format!("no-pty ssh-ed25519 {ED_DATA} a\n{other}\n  ssh-ed25519 {ED_DATA} b\r\n");
    let out = updated(merge(existing.as_bytes(), &line, ED_DATA));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{line}\n{other}\n")
    );
    // The exact line twice.
    let existing = format!("{line}\n{line}\n");
    let out = updated(merge(existing.as_bytes(), &line, ED_DATA));
    assert_eq!(String::from_utf8(out).unwrap(), format!("{line}\n"));
}

#[test]
fn merge_matches_by_key_data_not_by_text() {
    let line = format!("ssh-ed25519 {ED_DATA} v");
    // The data only appears in a comment line and inside another key's quoted option.
    let existing =
        format!("# ssh-ed25519 {ED_DATA} v\ncommand=\"echo {ED_DATA}\" ssh-rsa {OTHER_DATA} x\n");
    let out = added(merge(existing.as_bytes(), &line, ED_DATA));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{existing}{line}\n")
    );
}

#[test]
fn parse_line_needs_a_key_type_word() {
    // A certificate: not a type we install, but a key type, so the line has no options.
    let cert = "ssh-ed25519-cert-v01@openssh.com";
    assert_eq!(
        parse_line(&format!("{cert} CERTDATA vendor-data")),
        Some(entry(None, cert, "CERTDATA", "vendor-data"))
    );
    assert_eq!(
        parse_line(&format!("restrict {cert} CERTDATA c")),
        Some(entry(Some("restrict"), cert, "CERTDATA", "c"))
    );
    for key_type in [
        "ssh-dss",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "rsa-sha2-512",
        "ssh-rsa-cert-v01@openssh.com",
    ] {
        assert_eq!(
            parse_line(&format!("{key_type} {OTHER_DATA} c")),
            Some(entry(None, key_type, OTHER_DATA, "c")),
            "{key_type}"
        );
    }
    // Where the key type must stand there is none: sshd skips the line, so do we.
    for line in [
        format!("ssh-foo {ED_DATA} c"),
        format!("restrict foo {ED_DATA} c"),
        format!("restrict {ED_DATA} c"),
        format!("from=\"10.0.0.1\" ssh-key-for-bob {ED_DATA}"),
        format!("SSH-ED25519 {ED_DATA} c"),
        format!("no-pty ED25519 {ED_DATA}"),
    ] {
        assert_eq!(parse_line(&line), None, "line {line:?}");
    }
}

#[test]
fn merge_never_matches_lines_without_a_key_type_word() {
    let line = format!("restrict,port-forwarding ssh-ed25519 {ED_DATA} v");
    // A certificate whose comment happens to be our key data, and a line with options and
    // a made-up type: sshd reads neither as our key, so both stay and ours is added.
    let existing = format!(
        "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t {ED_DATA}\n\
         restrict foo {ED_DATA} c\n"
    );
    let out = added(merge(existing.as_bytes(), &line, ED_DATA));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{existing}{line}\n")
    );
    assert!(!contains_key(existing.as_bytes(), ED_DATA));
    assert_eq!(key_count(existing.as_bytes()), 1, "only the certificate");
}

/// A key line that is not UTF-8 (a Latin-1 comment) is read by sshd like any other: it is
/// found, counted and replaced, or else sshd's first match would still grant everything
/// while our restricted line sat below it. Every other byte stays as it was.
#[test]
fn merge_replaces_a_matching_line_that_is_not_utf8() {
    let line = format!("restrict,port-forwarding ssh-ed25519 {ED_DATA} vendor");
    let header: &[u8] = b"# caf\xe9 keys\n";
    let ours_latin1 = [format!("ssh-ed25519 {ED_DATA} caf").as_bytes(), b"\xe9"].concat();
    let other = [format!("ssh-rsa {OTHER_DATA} Ren").as_bytes(), b"\xe9\n"].concat();
    let existing = [header, &ours_latin1, b"\r\n", &other].concat();

    assert_eq!(
        find_entry(&existing, ED_DATA),
        Some(entry(None, "ssh-ed25519", ED_DATA, "caf\u{fffd}"))
    );
    assert_eq!(key_count(&existing), 2);
    let out = updated(merge(&existing, &line, ED_DATA));
    assert_eq!(out, [header, line.as_bytes(), b"\r\n", &other].concat());
    assert_eq!(merge(&out, &line, ED_DATA), Merge::Unchanged);

    // A stale non-UTF-8 duplicate after our exact line is dropped too.
    let existing = [format!("{line}\n").as_bytes(), &ours_latin1, b"\n", &other].concat();
    let out = updated(merge(&existing, &line, ED_DATA));
    assert_eq!(out, [format!("{line}\n").as_bytes(), &other].concat());
}

/// Lines OpenSSH reads as the key although their bytes are odd: a Latin-1 comment, a NUL
/// (sshd reads lines as C strings), a `\r` or vertical tab inside the data word (its
/// base64 decoder skips blanks), an `rsa-sha2-256/512` type name. sshd 9.2 logs in through
/// each of these, so each must be found and replaced, never left above our line.
/// `ssh-keygen -l` reads the file with the same key parser as sshd.
#[test]
fn merge_finds_every_line_openssh_reads_as_the_key() {
    let ed = generate("ed25519", None);
    let rsa = generate("rsa", Some(2048));
    let (e, r) = (&ed.key.data, &rsa.key.data);
    let cases: Vec<(&Generated, Vec<u8>)> = vec![
        (
            &ed,
            [format!("ssh-ed25519 {e} caf").as_bytes(), b"\xe9"].concat(),
        ),
        (
            &ed,
            [format!("ssh-ed25519 {e}").as_bytes(), b"\0junk"].concat(),
        ),
        (&ed, format!("ssh-ed25519 {e}\r\r c").into_bytes()),
        (
            &ed,
            format!("ssh-ed25519 {}\x0b{} c", &e[..20], &e[20..]).into_bytes(),
        ),
        (&rsa, format!("rsa-sha2-512 {r} c").into_bytes()),
        (&rsa, format!("no-pty rsa-sha2-256 {r} c").into_bytes()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authorized_keys");
    for (g, old) in cases {
        let existing = [old.as_slice(), b"\n# end\n"].concat();
        std::fs::write(&file, &existing).unwrap();
        assert_eq!(
            common::fingerprints(&file, "sha256"),
            vec![g.fingerprint.clone()],
            "OpenSSH does not read {old:?} as the key"
        );
        assert!(contains_key(&existing, &g.key.data), "not found: {old:?}");
        assert_eq!(key_count(&existing), 1, "{old:?}");
        let line = Access::default().line_for(&g.key);
        let out = updated(merge(&existing, &line, &g.key.data));
        assert_eq!(out, format!("{line}\n# end\n").into_bytes(), "{old:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Access::line_for
// ---------------------------------------------------------------------------------------

#[test]
fn line_for_tunnel_only() {
    let key = test_key();
    let access = Access::default();
    assert!(!access.allow_shell);
    assert_eq!(
        access.line_for(&key),
        format!("restrict,port-forwarding ssh-ed25519 {ED_DATA} vendor@example.com")
    );
}

#[test]
fn line_for_tunnel_only_with_permit_open() {
    let key = test_key();
    let access = Access {
        allow_shell: false,
        permit_open: vec![permit("db:5432"), permit("[fd00::1]:5432")],
        ..Access::default()
    };
    let line = access.line_for(&key);
    assert_eq!(
        line,
        format!(
            "restrict,port-forwarding,permitopen=\"db:5432\",permitopen=\"[fd00::1]:5432\" ssh-ed25519 {ED_DATA} vendor@example.com"
        )
    );
    // Our own parser reads it back as one key with exactly these options.
    let e = parse_line(&line).unwrap();
    assert_eq!(
        e.options.as_deref(),
        Some(r#"restrict,port-forwarding,permitopen="db:5432",permitopen="[fd00::1]:5432""#)
    );
    assert_eq!(e.data, ED_DATA);
}

#[test]
fn line_for_allow_shell() {
    let key = test_key();
    let access = Access {
        allow_shell: true,
        permit_open: vec![],
        ..Access::default()
    };
    assert_eq!(access.line_for(&key), key.canonical());
    assert_eq!(
        access.line_for(&key),
        format!("ssh-ed25519 {ED_DATA} vendor@example.com")
    );
    // Pasted options never survive into the line we write.
    let pasted = key::parse(&format!(
        "command=\"evil\",agent-forwarding ssh-ed25519 {ED_DATA}"
    ))
    .unwrap();
    assert!(pasted.pasted_options.is_some());
    assert_eq!(access.line_for(&pasted), format!("ssh-ed25519 {ED_DATA}"));
    assert_eq!(
        Access::default().line_for(&pasted),
        format!("restrict,port-forwarding ssh-ed25519 {ED_DATA}")
    );
    // With a shell but limited forwarding: no restrict, only permitopen.
    let access = Access {
        allow_shell: true,
        permit_open: vec![permit("10.0.0.5:3306")],
        ..Access::default()
    };
    assert_eq!(
        access.line_for(&key),
        format!("permitopen=\"10.0.0.5:3306\" ssh-ed25519 {ED_DATA} vendor@example.com")
    );
}

/// sshd can read what we write: `ssh-keygen -l` reads authorized_keys files with
/// OpenSSH's own line reader (it skips the options, refusing unbalanced quotes, and parses
/// the key) and must find the same key. It does not judge option names; those are pinned
/// by the exact-line tests above.
#[test]
fn ssh_keygen_accepts_the_lines_we_write() {
    for (kind, bits) in [("ed25519", None), ("rsa", Some(3072)), ("ecdsa", Some(384))] {
        let g = generate(kind, bits);
        let dir = tempfile::tempdir().unwrap();
        let accesses = [
            Access::default(),
            Access {
                allow_shell: false,
                permit_open: vec![permit("db.internal:5432"), permit("[fd00::5]:5432")],
                ..Access::default()
            },
            Access {
                allow_shell: true,
                permit_open: vec![],
                ..Access::default()
            },
            Access {
                allow_shell: true,
                permit_open: vec![permit("10.0.0.5:3306")],
                ..Access::default()
            },
        ];
        for (i, access) in accesses.iter().enumerate() {
            let file = dir.path().join(format!("authorized_keys{i}"));
            let line = access.line_for(&g.key);
            let Merge::Added(bytes) = merge(b"", &line, &g.key.data) else {
                panic!("not added")
            };
            std::fs::write(&file, bytes).unwrap();
            assert_eq!(
                common::fingerprints(&file, "sha256"),
                vec![g.fingerprint.clone()],
                "{kind}: {line}"
            );
        }
        // And merged into a file with other content: all keys still readable.
        let other = generate("ed25519", None);
        let file = dir.path().join("authorized_keys_mixed");
        let existing = format!(
            "# header\r\n\r\n{}\r\n",
            Access::default().line_for(&other.key)
        );
        let line = accesses[1].line_for(&g.key);
        let Merge::Added(bytes) = merge(existing.as_bytes(), &line, &g.key.data) else {
            panic!("not added")
        };
        std::fs::write(&file, bytes).unwrap();
        assert_eq!(
            common::fingerprints(&file, "sha256"),
            vec![other.fingerprint.clone(), g.fingerprint.clone()]
        );
    }
}

// ---------------------------------------------------------------------------------------
// PermitOpen
// ---------------------------------------------------------------------------------------

#[test]
fn permit_open_good_targets() {
    for (input, host, port, shown) in [
        ("db.internal:5432", "db.internal", 5432, "db.internal:5432"),
        ("10.0.0.5:3306", "10.0.0.5", 3306, "10.0.0.5:3306"),
        ("[fd00::5]:5432", "fd00::5", 5432, "[fd00::5]:5432"),
        ("db:1", "db", 1, "db:1"),
        ("db:65535", "db", 65535, "db:65535"),
        (
            "my_db-01.corp.example:1433",
            "my_db-01.corp.example",
            1433,
            "my_db-01.corp.example:1433",
        ),
        ("  db:5432 ", "db", 5432, "db:5432"),
    ] {
        let p = permit(input);
        assert_eq!(
            p,
            PermitOpen {
                host: host.into(),
                port
            },
            "{input:?}"
        );
        assert_eq!(p.to_string(), shown);
        assert_eq!(p.to_string().parse::<PermitOpen>(), Ok(p.clone()));
    }
    assert_eq!(
        split_host_port("[fd00::5]:5432"),
        Ok(("fd00::5".to_string(), "5432"))
    );
    assert_eq!(split_host_port("db:x"), Ok(("db".to_string(), "x")));
}

#[test]
fn permit_open_bad_targets() {
    for input in [
        "db",
        "db:",
        ":5432",
        "db:0",
        "db:70000",
        "db:65536",
        "db:-1",
        "db:*",
        "db:5432\"",
        "db:5432\",command=\"sh",
        "a,b:1",
        "db:54 32",
        "d b:5432",
        "fd00::5:5432",
        "-db:1",
        "db-:1",
        "db..x:1",
        "[nothex]:1",
        "[fd00::5]",
        "[fd00::5]:",
        "[fd00::5:5432",
        "\"db\":5432",
        "db\n:5432",
        "",
        "   ",
    ] {
        match input.parse::<PermitOpen>() {
            Ok(p) => panic!("{input:?} accepted as {p:?}"),
            Err(error) => {
                let msg = error.to_string();
                assert!(!msg.trim().is_empty(), "{input:?}: empty message");
                assert!(
                    input.contains('\n') || !msg.contains('\n'),
                    "{input:?}: {msg:?}"
                );
            }
        }
    }
    // The message says what to do.
    let msg = "fd00::5:5432".parse::<PermitOpen>().unwrap_err();
    assert!(msg.to_string().contains("[fd00::5]:5432"), "{msg}");
    let msg = "db:70000".parse::<PermitOpen>().unwrap_err();
    assert!(msg.to_string().contains("65535"), "{msg}");
}

/// Each refusal has its own kind, and its words are the ones the commands and the
/// wizard always printed.
#[test]
fn permit_open_refusals_are_typed_and_say_what_to_type() {
    use bastion_wizard::authorized_keys::TargetError;
    for (input, error, text) in [
        (
            " db ",
            TargetError::NotHostPort("db".into()),
            "\"db\" is not HOST:PORT (for example db.internal:5432 or [fd00::5]:5432)",
        ),
        (
            "postgres://app@db.internal:5432/sales",
            TargetError::Url {
                input: "postgres://app@db.internal:5432/sales".into(),
                scheme: "postgres".into(),
                host_port: "db.internal:5432".into(),
            },
            "\"postgres://app@db.internal:5432/sales\" is a postgres URL: give only its HOST:PORT, here db.internal:5432",
        ),
        (
            "[nothex]:1",
            TargetError::NotIpv6("nothex".into()),
            "\"nothex\" is not an IPv6 address",
        ),
        (
            "fd00::5:5432",
            TargetError::Unbracketed {
                host: "fd00::5".into(),
                port: "5432".into(),
            },
            "put an IPv6 address in brackets: [fd00::5]:5432",
        ),
        (
            "d b:5432",
            TargetError::BadHost("d b".into()),
            "\"d b\" is not a valid host name or IPv4 address",
        ),
        (
            "db:0",
            TargetError::BadPort("0".into()),
            "\"0\" is not a port: use a number from 1 to 65535",
        ),
    ] {
        let refused = input.parse::<PermitOpen>().unwrap_err();
        assert_eq!(refused, error, "{input:?}");
        assert_eq!(refused.to_string(), text, "{input:?}");
    }
}

/// sshd reads a `cert-authority` line as a CA entry: it is not the vendor's login line,
/// so installing the vendor's key appends a login line and keeps the CA entry as it is.
#[test]
fn merge_keeps_a_cert_authority_line_with_the_same_key() {
    let k = test_key();
    let line = Access::default().line_for(&k);
    let ca = format!("cert-authority,principals=\"ops\" ssh-ed25519 {ED_DATA} ca\n");
    let out = added(merge(ca.as_bytes(), &line, &k.data));
    assert_eq!(out, format!("{ca}{line}\n").into_bytes());
    assert!(!contains_key(ca.as_bytes(), &k.data));
    // Upper case is the same option to sshd.
    let ca = format!("CERT-AUTHORITY ssh-ed25519 {ED_DATA} ca\n");
    let out = added(merge(ca.as_bytes(), &line, &k.data));
    assert!(out.starts_with(ca.as_bytes()));
    // After the login line, a later CA entry for the key is not a stale duplicate.
    let file = format!("{line}\ncert-authority ssh-ed25519 {ED_DATA} ca\n");
    assert_eq!(merge(file.as_bytes(), &line, &k.data), Merge::Unchanged);
}

/// An RSA key whose integers carry a redundant leading zero: ssh-keygen reads it as the
/// same key (same fingerprint), and so does sshd, so it is the vendor's line to update.
#[test]
fn merge_finds_an_rsa_key_written_with_leading_zeros() {
    let g = generate("rsa", Some(2048));
    let blob = common::base64_decode(&g.key.data);
    // Rebuild: type, e, then n with one more zero byte in front.
    let mut fields = Vec::new();
    let mut rest = &blob[..];
    while rest.len() >= 4 {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        fields.push(rest[4..4 + len].to_vec());
        rest = &rest[4 + len..];
    }
    fields[2].insert(0, 0);
    let mut padded = Vec::new();
    for f in &fields {
        padded.extend_from_slice(&(f.len() as u32).to_be_bytes());
        padded.extend_from_slice(f);
    }
    let padded = common::base64_encode(&padded);
    let old = format!("restrict ssh-rsa {padded} old\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authorized_keys");
    std::fs::write(&file, &old).unwrap();
    assert_eq!(
        common::fingerprints(&file, "sha256"),
        vec![g.fingerprint.clone()]
    );
    assert!(contains_key(old.as_bytes(), &g.key.data));
    let line = Access::default().line_for(&g.key);
    let out = updated(merge(old.as_bytes(), &line, &g.key.data));
    assert_eq!(out, format!("{line}\n").into_bytes());
    // Pasted that way, it is accepted with ssh-keygen's fingerprint and written as given.
    let k = key::parse(&format!("ssh-rsa {padded} v")).unwrap();
    assert_eq!(k.fingerprint, g.fingerprint);
    assert_eq!(k.data, padded);
}
