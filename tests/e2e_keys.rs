//! End-to-end tests of `keys`, `revoke` and `remove` (issue 9) in the sandbox (see
//! tests/common), judged by the sandbox's real sshd and real `ssh -N -L` tunnels: a revoked
//! key is refused while the others still open the tunnel, every edit keeps every other byte,
//! `keys --json` agrees with ssh-keygen and sees a real login, and `remove` leaves the host
//! as it was before the first `apply`.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{describe, fingerprints, keygen, public_path, EchoServer, Sandbox, Sshd};

const USER: &str = "whaly";

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn key_file(sb: &Sandbox, name: &str, args: &[&str]) -> (PathBuf, String, String) {
    let (private, public) = keygen(&sb.keys_dir(), name, args);
    let fp = fingerprints(&public_path(&private), "sha256")[0].clone();
    (private, public, fp)
}

fn apply(sb: &Sandbox, private: &Path, extra: &[&str]) -> Output {
    let file = public_path(private).to_string_lossy().into_owned();
    let mut args = vec!["apply", "--key-file", file.as_str(), "--yes"];
    args.extend_from_slice(extra);
    let out = sb.wizard(&args);
    assert!(
        code(&out) == 0 || code(&out) == 5,
        "apply: {}",
        describe(&out)
    );
    out
}

fn keys_json(sb: &Sandbox) -> serde_json::Value {
    let out = sb.wizard(&["keys", "--json"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)))
}

fn tunnel_ok(sshd: &Sshd, key: &Path, user: &str) -> bool {
    let echo = EchoServer::start();
    sshd.tunnel(key, user, echo.port()).ok
}

fn authorized_keys(user: &str) -> String {
    format!("/home/{user}/.ssh/authorized_keys")
}

/// Every file and directory under `paths` with type, mode, owner and content.
fn tree(sb: &Sandbox, paths: &str) -> BTreeMap<String, String> {
    let out = sb.sh(&format!(
        "find {paths} -printf '%p %y %m %U:%G\\n' 2>/dev/null | sort | while read -r p y rest; do \
           printf '%s\\t%s %s ' \"$p\" \"$y\" \"$rest\"; \
           if [ \"$y\" = f ]; then sha256sum < \"$p\"; else echo; fi; \
         done"
    ));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect()
}

fn accounts(sb: &Sandbox) -> BTreeMap<String, String> {
    ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"]
        .iter()
        .map(|f| (f.to_string(), sb.read_string(f).unwrap_or_default()))
        .collect()
}

/// `keys --json` gives each line's fingerprint as ssh-keygen does for several key types,
/// says which line this program added, flags a duplicate and a line sshd skips (and the real
/// sshd indeed refuses the key on it), and records the last login after a real tunnel.
#[test]
fn e2e_keys_lists_what_ssh_keygen_and_sshd_see() {
    let sb = sandbox_or_skip!();
    let (ours, ours_pub, ours_fp) = key_file(&sb, "ours", &["ed25519"]);
    let (ecdsa, ecdsa_pub, ecdsa_fp) = key_file(&sb, "ecdsa", &["ecdsa", "-b", "384"]);
    let (_, rsa_pub, rsa_fp) = key_file(&sb, "rsa", &["rsa", "-b", "3072"]);
    let (bad, bad_pub, bad_fp) = key_file(&sb, "bad", &["ed25519"]);
    apply(&sb, &ours, &["--allow-shell"]);
    let path = authorized_keys(USER);
    let mut text = sb.read_string(&path).unwrap();
    text.push_str(&format!(
        "# added by hand\n{ecdsa_pub}\r\nno-pty {rsa_pub}\nrestrict {ours_pub}\nbogus-option {bad_pub}\n"
    ));
    sb.write_file(&path, text.as_bytes());
    let sshd = sb.start_sshd("");
    assert!(tunnel_ok(&sshd, &ours, USER), "{}", sshd.log());
    assert!(
        !tunnel_ok(&sshd, &bad, USER),
        "sshd took a line with a bad option"
    );

    let list = keys_json(&sb);
    assert_eq!(list["user"], USER);
    let keys = list["keys"].as_array().unwrap();
    let by_line: Vec<(u64, String)> = keys
        .iter()
        .map(|k| {
            (
                k["line"].as_u64().unwrap(),
                k["fingerprint"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        by_line,
        vec![
            (1, ours_fp.clone()),
            (3, ecdsa_fp.clone()),
            (4, rsa_fp.clone()),
            (5, ours_fp.clone()),
            (6, bad_fp.clone()),
        ],
        "{list:#}"
    );
    assert_eq!(keys[0]["type"], "ssh-ed25519");
    assert_eq!(keys[1]["bits"], 384);
    assert_eq!(keys[2]["bits"], 3072);
    assert_eq!(keys[2]["options"], "no-pty");
    let ours_flags: Vec<bool> = keys.iter().map(|k| k["added_by_us"] == true).collect();
    assert_eq!(ours_flags, vec![true, false, false, true, false]);
    let kinds = |i: usize| -> Vec<String> {
        keys[i]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kinds(0), vec!["duplicated"], "{list:#}");
    assert!(kinds(3).contains(&"shadowed".to_string()), "{list:#}");
    assert_eq!(kinds(4), vec!["rejected"], "{list:#}");
    assert!(kinds(1).is_empty() && kinds(2).is_empty(), "{list:#}");
    assert!(
        keys[0]["last_login"].is_string(),
        "no last login after a real tunnel: {list:#}\n{}",
        sb.read_string("/var/log/auth.log").unwrap_or_default()
    );
    assert!(keys[1]["last_login"].is_null(), "{list:#}");
    // The ECDSA key logs in too, and the list then says so.
    assert!(tunnel_ok(&sshd, &ecdsa, USER));
    assert!(keys_json(&sb)["keys"][1]["last_login"].is_string());
}

/// `revoke` takes out every line with the key (other options too), keeps every other byte
/// (comments, blank lines, CRLF, no final newline), backs the old file up; the real sshd
/// then refuses the key while the other key still opens the tunnel.
#[test]
fn e2e_revoke_refuses_the_key_and_keeps_the_others() {
    let sb = sandbox_or_skip!();
    let (ours, ours_pub, ours_fp) = key_file(&sb, "ours", &["ed25519"]);
    let (other, other_pub, _) = key_file(&sb, "other", &["rsa", "-b", "3072"]);
    apply(&sb, &ours, &["--allow-shell"]);
    let path = authorized_keys(USER);
    let applied = sb.read_string(&path).unwrap();
    let kept_before = "# vendor keys\r\n\n";
    let kept_after = format!("{other_pub}\r\n  # end");
    let original = format!("{kept_before}{applied}no-pty {ours_pub}\n{kept_after}");
    sb.write_file(&path, original.as_bytes());
    let sshd = sb.start_sshd("");
    assert!(tunnel_ok(&sshd, &ours, USER), "{}", sshd.log());

    let out = sb.wizard(&["revoke", "not-a-fingerprint", "--yes"]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    let out = sb.wizard(&["revoke", &ours_fp]);
    assert_eq!(code(&out), 2, "no terminal, no --yes: {}", describe(&out));
    assert_eq!(sb.read_string(&path).unwrap(), original);

    let out = sb.wizard(&["revoke", &ours_fp, "--yes"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("line 3:") && stdout.contains("line 4:"),
        "{stdout}"
    );
    let after = sb.read(&path).unwrap();
    assert_eq!(
        String::from_utf8(after).unwrap(),
        format!("{kept_before}{kept_after}"),
        "every other byte kept"
    );
    assert!(
        !tunnel_ok(&sshd, &ours, USER),
        "the revoked key still works"
    );
    assert!(tunnel_ok(&sshd, &other, USER), "{}", sshd.log());
    let backups = sb.sh(&format!(
        "cat {}/backups/{USER}.authorized_keys.*",
        sb.state_dir().display()
    ));
    assert_eq!(String::from_utf8_lossy(&backups.stdout), original);
    let out = sb.wizard(&["revoke", &ours_fp, "--yes"]);
    assert_eq!(code(&out), 1, "gone already: {}", describe(&out));
    assert!(!keys_json(&sb)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["fingerprint"] == ours_fp.as_str()));
}

/// `remove --delete-account` after `apply --fix-sshd` (forwarding off and AllowUsers
/// without the user, staged) leaves /etc/passwd, group, shadow, gshadow, /etc/ssh and
/// /home as they were before the first apply; sshd is reloaded; a rerun changes nothing.
#[test]
fn e2e_remove_leaves_the_host_as_before_apply() {
    let sb = sandbox_or_skip!();
    sb.sh("useradd -m -s /bin/sh carol");
    let (ours, _, _) = key_file(&sb, "ours", &["ed25519"]);
    let sshd = sb.start_sshd("AllowTcpForwarding no\nAllowUsers root carol # site rule\n");
    let echo = EchoServer::start();
    let target = format!("127.0.0.1:{}", echo.port());
    let accounts_before = accounts(&sb);
    let tree_before = tree(&sb, "/etc/ssh /home");
    apply(&sb, &ours, &["--fix-sshd", "--permit-open", &target]);
    assert!(sshd.tunnel(&ours, USER, echo.port()).ok, "{}", sshd.log());
    assert_ne!(tree(&sb, "/etc/ssh /home"), tree_before);

    let out = sb.wizard(&["remove", "--delete-account"]);
    assert_eq!(code(&out), 2, "no terminal, no --yes: {}", describe(&out));
    let out = sb.wizard(&["remove", "--delete-account", "--yes"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("$ userdel -r whaly"), "{stdout}");
    assert_eq!(accounts(&sb), accounts_before, "{stdout}");
    assert_eq!(tree(&sb, "/etc/ssh /home"), tree_before, "{stdout}");
    assert!(
        sshd.log().matches("Received SIGHUP").count() >= 2,
        "not reloaded: {}",
        sshd.log()
    );

    let out = sb.wizard(&["remove", "--delete-account", "--yes"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Nothing to undo."),
        "{}",
        describe(&out)
    );
    assert_eq!(accounts(&sb), accounts_before);
}

/// Without `--delete-account`, on a user that existed before apply: the user and its own
/// key stay (and still open the tunnel), only the line apply added goes, byte for byte; and
/// `--delete-account` never deletes a user this program did not create.
#[test]
fn e2e_remove_keeps_a_user_that_was_there() {
    let sb = sandbox_or_skip!();
    let (theirs, theirs_pub, _) = key_file(&sb, "theirs", &["ed25519"]);
    let (ours, _, _) = key_file(&sb, "ours", &["ecdsa"]);
    sb.sh(&format!(
        "useradd -m -s /bin/sh {USER} && usermod -p '*' {USER} && \
         install -d -m 0700 -o {USER} -g {USER} /home/{USER}/.ssh"
    ));
    let path = authorized_keys(USER);
    let before = format!("# theirs\n{theirs_pub}");
    sb.write_file(&path, before.as_bytes());
    sb.sh(&format!("chown {USER}: {path} && chmod 600 {path}"));
    let accounts_before = accounts(&sb);
    apply(&sb, &ours, &["--allow-shell"]);
    let sshd = sb.start_sshd("");
    assert!(tunnel_ok(&sshd, &ours, USER), "{}", sshd.log());

    let out = sb.wizard(&["remove", "--yes"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let keys = sb.read_string(&path).unwrap();
    assert_eq!(keys, format!("{before}\n"), "only our line goes");
    assert!(!tunnel_ok(&sshd, &ours, USER));
    assert!(tunnel_ok(&sshd, &theirs, USER), "{}", sshd.log());

    let out = sb.wizard(&["remove", "--delete-account", "--yes"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("kept: the user whaly"),
        "{}",
        describe(&out)
    );
    assert_eq!(accounts(&sb), accounts_before);
    assert!(fs::metadata(sb.host_path(&path)).is_ok());
}

/// The ledger knows the uid and gid it created: an account deleted by hand and made again
/// under the same name (another uid) is someone else's, and `remove --delete-account`
/// keeps it.
#[test]
fn e2e_remove_keeps_an_account_made_again_under_the_same_name() {
    let sb = sandbox_or_skip!();
    let (ours, _, _) = key_file(&sb, "ours", &["ed25519"]);
    apply(&sb, &ours, &[]);
    sb.sh(&format!(
        "userdel -r {USER}; groupdel {USER} 2>/dev/null; useradd -m filler && \
         useradd -m {USER}"
    ));
    let accounts_before = accounts(&sb);
    let out = sb.wizard(&["remove", "--delete-account", "--yes"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("kept: the user whaly"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        accounts(&sb),
        accounts_before,
        "the new whaly and its group stay"
    );
}
