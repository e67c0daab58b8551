//! End-to-end tests of the engine (`apply`, `status`) through a real sshd, each in its own
//! sandbox (private mount namespace: overlay on /etc, temp dir on /home; see tests/common).
//!
//! They need root, util-linux (`unshare`, `nsenter`) and openssh-server. Without those they
//! print "skipped: ..." and pass, unless BASTION_WIZARD_E2E=1 is set (then they fail).
//!
//! Tests named `harness_*` check the sandbox itself without the program; the `e2e_*` tests
//! drive `bastion-wizard`.

#[macro_use]
mod common;

mod fixtures;

use bastion_wizard::ledger::{Entry, Ledger};
use common::{describe, keygen, output_timeout, wrap, EchoServer, Sandbox};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Harness self-tests (no program involved)
// ---------------------------------------------------------------------------------------

/// useradd inside the sandbox writes only into the overlay and the temp /home.
#[test]
fn harness_useradd_stays_inside_the_sandbox() {
    let sb = sandbox_or_skip!();
    let host_passwd_before = fs::read("/etc/passwd").unwrap();
    let name = "bwzprobe";
    assert!(
        sb.passwd_entry(name).is_none(),
        "{name} already exists in the sandbox"
    );
    sb.sh(&format!("useradd -m -s /bin/sh {name}"));

    let entry = sb.passwd_entry(name).expect("user created in the sandbox");
    assert_eq!(entry[5], format!("/home/{name}"));
    assert!(sb.host_path(&format!("/home/{name}")).is_dir());
    assert!(sb.shadow_entry(name).is_some());
    // The shell form (for tmux) also runs inside the namespace.
    let line = sb.shell_command(&["sh", "-c", &format!("grep '^{name}:' /etc/passwd")]);
    let out = common::output_timeout(
        std::process::Command::new("sh").arg("-c").arg(&line),
        None,
        std::time::Duration::from_secs(20),
    );
    assert!(out.status.success(), "{line}\n{}", describe(&out));
    // The host is untouched.
    assert_eq!(fs::read("/etc/passwd").unwrap(), host_passwd_before);
    assert!(!fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .any(|l| l.starts_with(&format!("{name}:"))));
    assert!(!PathBuf::from(format!("/home/{name}")).exists());
}

/// The sandbox's sshd runs from the overlaid /etc/ssh/sshd_config with its PidFile in the
/// private /run: a SIGHUP sent the way the program reloads reaches it and never the host's.
#[test]
fn harness_reload_reaches_only_the_sandbox_sshd() {
    let sb = sandbox_or_skip!();
    let host_pid_file = fs::read("/run/sshd.pid").ok();
    let sshd = sb.start_sshd("");
    let pid = sb
        .read_string("/run/sshd.pid")
        .expect("sshd's PidFile inside the sandbox");
    assert_eq!(pid.trim(), sshd.pid().to_string());
    assert_eq!(
        fs::read("/run/sshd.pid").ok(),
        host_pid_file,
        "the host's /run was touched"
    );
    sb.sh("kill -HUP \"$(cat /run/sshd.pid)\"");
    assert!(
        sshd.wait_log(
            "Received SIGHUP; restarting.",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        sshd.log()
    );
    let listening = "Server listening on 0.0.0.0 port 22.";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while sshd.log().matches(listening).count() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(sshd.log().matches(listening).count(), 2, "{}", sshd.log());
    assert!(sb
        .read_string("/etc/ssh/ssh_host_ed25519_key.pub")
        .is_some());
    assert_ne!(
        sb.read("/etc/ssh/ssh_host_ed25519_key.pub"),
        fs::read("/etc/ssh/ssh_host_ed25519_key.pub").ok(),
        "the sandbox must make its own host keys"
    );
}

/// A manually installed tunnel-only key opens a tunnel through the sandbox's sshd; a key
/// that is not installed does not. Validates sshd start, ssh client and tunnel helper.
#[test]
fn harness_sshd_tunnel_with_manual_authorized_keys() {
    let sb = sandbox_or_skip!();
    let keys = sb.keys_dir();
    let (key, public) = keygen(&keys, "manual", &["ed25519"]);
    let (other_key, _) = keygen(&keys, "stranger", &["ed25519"]);
    let user = "tunneler";
    sb.sh(&format!(
        "useradd -m -s /usr/sbin/nologin {user} && usermod -p '*' {user} && \
         install -d -m 0700 -o {user} -g {user} /home/{user}/.ssh"
    ));
    let allowed = EchoServer::start();
    let denied = EchoServer::start();
    let ak = sb.host_path(&format!("/home/{user}/.ssh/authorized_keys"));
    fs::write(
        &ak,
        format!(
            "restrict,port-forwarding,permitopen=\"127.0.0.1:{}\" {public}\n",
            allowed.port()
        ),
    )
    .unwrap();
    sb.sh(&format!(
        "chown {user}:{user} /home/{user}/.ssh/authorized_keys && \
         chmod 0600 /home/{user}/.ssh/authorized_keys"
    ));

    let sshd = sb.start_sshd("");
    let r = sshd.tunnel(&key, user, allowed.port());
    assert!(r.ok, "{r:?}\n{}", sshd.log());
    assert!(!allowed.received().is_empty());
    // sshd saw the vendor's address, and its log reached /var/log/auth.log as syslog writes it.
    let vendor = &common::vendor_ips()[0];
    let accepted = format!("Accepted publickey for {user} from {vendor} port");
    assert!(
        sshd.wait_log(&accepted, std::time::Duration::from_secs(5)),
        "{}",
        sshd.log()
    );
    let auth_log = sb.read_string("/var/log/auth.log").unwrap_or_default();
    // Each process logs under its own pid, as with a real syslog: the listener under
    // sshd's, the login under its connection's.
    let main_pid = format!(" sandbox sshd[{}]: ", sshd.pid());
    assert!(
        auth_log
            .lines()
            .any(|l| l.contains("Server listening on") && l.contains(&main_pid)),
        "{auth_log}"
    );
    assert!(
        auth_log.lines().any(|l| l.contains(&accepted)
            && l.contains(" sandbox sshd[")
            && !l.contains(&main_pid)),
        "{auth_log}"
    );

    // Negative results are detected: a target outside permitopen...
    let r = sshd.tunnel(&key, user, denied.port());
    assert!(!r.ok, "forwarding outside permitopen worked: {r:?}");
    // ...a key that is not installed...
    let r = sshd.tunnel(&other_key, user, allowed.port());
    assert!(!r.ok, "a key that is not installed opened a tunnel: {r:?}");
    assert!(r.ssh_stderr.contains("Permission denied"), "{r:?}");
    // ...and a remote command for a nologin user.
    let out = common::output_timeout(
        &mut sb.ssh(&key, user, sshd.port, &["echo", "pwned"]),
        None,
        std::time::Duration::from_secs(20),
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pwned"));
    assert_eq!(denied.connections(), 0);
}

// ---------------------------------------------------------------------------------------
// Program tests
// ---------------------------------------------------------------------------------------

const USER: &str = "whaly";

fn ak_path(user: &str) -> String {
    format!("/home/{user}/.ssh/authorized_keys")
}

/// Writes `content` to a file in the sandbox's keys dir and returns its path as a string.
fn key_file(sb: &Sandbox, name: &str, content: &str) -> String {
    let p = sb.keys_dir().join(name);
    fs::write(&p, content).unwrap();
    p.to_string_lossy().into_owned()
}

/// `apply --key-file FILE --yes EXTRA...`; asserts exit 0.
fn apply_ok(sb: &Sandbox, file: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["apply", "--key-file", file, "--yes"];
    args.extend_from_slice(extra);
    let out = sb.wizard(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "bastion-wizard {} should exit 0:\n{}",
        args.join(" "),
        describe(&out)
    );
    out
}

/// Account state after apply: passwd, shadow `*`, modes and owners of ~/.ssh and the file.
fn assert_account_ready(sb: &Sandbox, user: &str) {
    let pw = sb
        .passwd_entry(user)
        .unwrap_or_else(|| panic!("no {user} in the sandbox's /etc/passwd"));
    let uid: u32 = pw[2].parse().unwrap();
    assert_eq!(pw[5], format!("/home/{user}"), "home of {user}: {pw:?}");
    let sh = sb.shadow_entry(user).expect("shadow entry");
    assert_eq!(
        sh[1], "*",
        "password field of {user} in /etc/shadow must be `*` (not locked): {sh:?}"
    );

    let home = sb.host_path(&format!("/home/{user}"));
    let ssh_dir = home.join(".ssh");
    let ak = ssh_dir.join("authorized_keys");
    let hm = fs::symlink_metadata(&home).unwrap();
    assert_eq!(hm.mode() & 0o022, 0, "home is group/other writable");
    let dm = fs::symlink_metadata(&ssh_dir).unwrap();
    assert!(dm.is_dir());
    assert_eq!(dm.permissions().mode() & 0o7777, 0o700, "~/.ssh mode");
    assert_eq!(dm.uid(), uid, "~/.ssh owner");
    let fm = fs::symlink_metadata(&ak).unwrap();
    assert!(fm.is_file());
    assert_eq!(
        fm.permissions().mode() & 0o7777,
        0o600,
        "authorized_keys mode"
    );
    assert_eq!(fm.uid(), uid, "authorized_keys owner");
}

fn authorized_keys(sb: &Sandbox, user: &str) -> String {
    fs::read_to_string(sb.host_path(&ak_path(user))).unwrap_or_default()
}

/// Test 1a: A wrapped ed25519 key via --key-file: exit 0, account right, tunnel carries bytes.
#[test]
fn e2e_wrapped_key_from_file_opens_tunnel() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let host_passwd_before = fs::read("/etc/passwd").unwrap();
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.wrapped", &wrap(&public, 40));
    apply_ok(&sb, &file, &[]);

    assert_account_ready(&sb, USER);
    let ak = authorized_keys(&sb, USER);
    let line = ak
        .lines()
        .find(|l| l.contains(common::key_data(&public)))
        .unwrap_or_else(|| panic!("key not installed as one line; authorized_keys:\n{ak}"));
    assert!(
        line.starts_with("restrict,port-forwarding "),
        "tunnel-only options missing: {line}"
    );
    let pw = sb.passwd_entry(USER).unwrap();
    assert!(
        pw[6].ends_with("nologin") || pw[6] == "/bin/false",
        "tunnel-only user should get a nologin shell, got {:?}",
        pw[6]
    );

    sshd.assert_tunnel_works(&key, USER);
    assert_eq!(fs::read("/etc/passwd").unwrap(), host_passwd_before);
}

/// Test 1b: The same through standard input (`--key-file -`).
#[test]
fn e2e_wrapped_key_from_stdin_opens_tunnel() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let out = sb.wizard_with_stdin(
        &["apply", "--key-file", "-", "--yes"],
        wrap(&public, 40).as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_account_ready(&sb, USER);
    sshd.assert_tunnel_works(&key, USER);
}

/// Test 2: Rerunning the same apply changes no byte, not even the inode or mtime.
#[test]
fn e2e_rerun_changes_nothing() {
    let sb = sandbox_or_skip!();
    let _sshd = sb.start_sshd("");
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.wrapped", &wrap(&public, 40));
    apply_ok(&sb, &file, &[]);

    let ak = sb.host_path(&ak_path(USER));
    let before = fs::read(&ak).expect("authorized_keys after the first apply");
    let mb = fs::symlink_metadata(&ak).unwrap();
    let passwd_before = sb.passwd();
    let shadow_before = sb.read("/etc/shadow").unwrap();
    let group_before = sb.read("/etc/group").unwrap();
    // Let a rewrite show up in the mtime even on coarse clocks.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    apply_ok(&sb, &file, &[]);
    let ma = fs::symlink_metadata(&ak).unwrap();
    assert_eq!(
        fs::read(&ak).unwrap(),
        before,
        "authorized_keys content changed"
    );
    assert_eq!(ma.ino(), mb.ino(), "authorized_keys was replaced (inode)");
    assert_eq!(
        (ma.mtime(), ma.mtime_nsec()),
        (mb.mtime(), mb.mtime_nsec()),
        "authorized_keys was rewritten (mtime)"
    );
    assert_eq!(ma.mode(), mb.mode());
    assert_eq!(sb.passwd(), passwd_before, "/etc/passwd changed");
    assert_eq!(
        sb.read("/etc/shadow").unwrap(),
        shadow_before,
        "/etc/shadow changed"
    );
    assert_eq!(
        sb.read("/etc/group").unwrap(),
        group_before,
        "/etc/group changed"
    );

    let ledger = fs::read_to_string(sb.state_dir().join("ledger.jsonl")).expect("the ledger");
    let events: Vec<Entry> = Ledger::parse(&ledger)
        .records
        .into_iter()
        .map(|r| r.entry)
        .collect();
    let fingerprint = common::fingerprints(&key.with_extension("pub"), "sha256").remove(0);
    let passwd = sb.passwd();
    let fields: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{USER}:")))
        .expect("the user in /etc/passwd")
        .split(':')
        .collect();
    let ids: (u32, u32) = (fields[2].parse().unwrap(), fields[3].parse().unwrap());
    assert_eq!(
        events,
        vec![
            Entry::CreatedGroup {
                group: USER.into(),
                gid: Some(ids.1)
            },
            Entry::CreatedUser {
                user: USER.into(),
                group: USER.into(),
                uid: Some(ids.0)
            },
            Entry::CreatedHome {
                user: USER.into(),
                home: format!("/home/{USER}").into()
            },
            Entry::AddedKey {
                user: USER.into(),
                fingerprint
            },
            Entry::Applied {
                user: USER.into(),
                vendor: bastion_wizard::setup::Vendor {
                    profile: "Whaly".into(),
                    region: None
                },
                allow_shell: false,
                permit_open: Vec::new(),
                from_vendor_ips: false
            },
        ],
        "the ledger holds what the first run created and how, and the rerun added nothing"
    );
}

/// Test 3: A second key (RSA 3072) keeps the first: both open a tunnel.
#[test]
fn e2e_second_key_keeps_first() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (key1, pub1) = keygen(&sb.keys_dir(), "first", &["ed25519"]);
    let (key2, pub2) = keygen(&sb.keys_dir(), "second", &["rsa", "-b", "3072"]);
    let f1 = key_file(&sb, "first.pub", &format!("{pub1}\n"));
    let f2 = key_file(&sb, "second.wrapped", &wrap(&pub2, 64));
    apply_ok(&sb, &f1, &[]);
    apply_ok(&sb, &f2, &[]);

    let ak = authorized_keys(&sb, USER);
    assert!(
        ak.contains(common::key_data(&pub1)),
        "first key lost:\n{ak}"
    );
    assert!(
        ak.contains(common::key_data(&pub2)),
        "second key missing:\n{ak}"
    );
    assert_account_ready(&sb, USER);

    sshd.assert_tunnel_works(&key1, USER);
    sshd.assert_tunnel_works(&key2, USER);
}

/// Test 4a: A tunnel-only key cannot run a remote command.
#[test]
fn e2e_tunnel_only_key_cannot_run_commands() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.pub", &format!("{public}\n"));
    apply_ok(&sb, &file, &[]);
    // The tunnel works (so a failure below is not a login failure)...
    sshd.assert_tunnel_works(&key, USER);
    // ...but a command does not.
    let out = common::output_timeout(
        &mut sb.ssh(&key, USER, sshd.port, &["echo", "pwned"]),
        None,
        std::time::Duration::from_secs(20),
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("pwned"),
        "tunnel-only user ran a remote command:\n{}",
        describe(&out)
    );
    assert!(
        !out.status.success(),
        "remote command should fail:\n{}",
        describe(&out)
    );
}

/// Test 4b: With --allow-shell (own user and group) the same command works.
#[test]
fn e2e_allow_shell_runs_commands() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.pub", &format!("{public}\n"));
    apply_ok(
        &sb,
        &file,
        &["--user", "shelly", "--group", "shelly", "--allow-shell"],
    );
    assert_account_ready(&sb, "shelly");
    let gr = sb.group_entry("shelly").expect("group shelly created");
    let pw = sb.passwd_entry("shelly").unwrap();
    assert_eq!(pw[3], gr[2], "shelly's primary group should be shelly");
    assert!(!pw[6].ends_with("nologin"), "allow-shell gave {:?}", pw[6]);
    let ak = authorized_keys(&sb, "shelly");
    assert!(
        ak.lines()
            .any(|l| l.starts_with(public.split_whitespace().next().unwrap())
                && l.contains(common::key_data(&public))),
        "with --allow-shell the key line should carry no options:\n{ak}"
    );

    let out = common::output_timeout(
        &mut sb.ssh(&key, "shelly", sshd.port, &["echo", "pwned"]),
        None,
        std::time::Duration::from_secs(20),
    );
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "pwned",
        "shell user could not run a command:\n{}\n--- sshd log ---\n{}",
        describe(&out),
        sshd.log()
    );
}

/// Test 5: --permit-open limits forwarding to the given target.
#[test]
fn e2e_permit_open_limits_targets() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.pub", &format!("{public}\n"));
    let allowed = EchoServer::start();
    let denied = EchoServer::start();
    let target = format!("127.0.0.1:{}", allowed.port());
    apply_ok(&sb, &file, &["--permit-open", &target]);
    let ak = authorized_keys(&sb, USER);
    assert!(
        ak.contains(&format!("permitopen=\"{target}\"")),
        "permitopen missing:\n{ak}"
    );

    let ok = sshd.tunnel(&key, USER, allowed.port());
    assert!(
        ok.ok,
        "forwarding to the permitted target failed: {ok:?}\n{}",
        sshd.log()
    );
    assert!(!allowed.received().is_empty());

    let no = sshd.tunnel(&key, USER, denied.port());
    assert!(
        !no.ok,
        "forwarding to a target not permitted worked: {no:?}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        denied.connections(),
        0,
        "the denied server got a connection"
    );
    assert!(
        denied.received().is_empty(),
        "bytes reached the denied server"
    );
}

/// Test 6: Under `UsePAM no` a freshly applied user can still log in (account not locked).
#[test]
fn e2e_use_pam_no_still_works() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("UsePAM no\n");
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.wrapped", &wrap(&public, 40));
    apply_ok(&sb, &file, &[]);
    assert!(sshd.config.contains("\nUsePAM no\n"));
    sshd.assert_tunnel_works(&key, USER);
    assert!(
        !sshd.log().contains("account is locked"),
        "sshd says the account is locked:\n{}",
        sshd.log()
    );
}

/// Test 7: Bad input (a private key, an empty file) is refused with exit 2 and changes nothing;
/// the private key is never echoed.
#[test]
fn e2e_bad_input_changes_nothing() {
    let sb = sandbox_or_skip!();
    let (key, _public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let passwd_before = sb.passwd();
    let group_before = sb.read("/etc/group").unwrap();
    let private = fs::read_to_string(&key).unwrap();
    // The base64 body lines of the private key: none may appear in the output.
    let body: Vec<&str> = private
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .collect();
    assert!(!body.is_empty());

    let out = sb.wizard(&["apply", "--key-file", &key.to_string_lossy(), "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "private key must be refused with 2:\n{}",
        describe(&out)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for l in &body {
        assert!(!all.contains(l), "private key material echoed: {l}");
        // Even a sizeable fragment must not show up.
        assert!(!all.contains(&l[..20]), "private key fragment echoed: {l}");
    }

    // Same through stdin.
    let out = sb.wizard_with_stdin(&["apply", "--key-file", "-", "--yes"], private.as_bytes());
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for l in &body {
        assert!(!all.contains(&l[..20]), "private key fragment echoed: {l}");
    }

    let empty = key_file(&sb, "empty.pub", "");
    let out = sb.wizard(&["apply", "--key-file", &empty, "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "empty input must be refused with 2:\n{}",
        describe(&out)
    );

    assert_eq!(sb.passwd(), passwd_before, "/etc/passwd changed");
    assert_eq!(
        sb.read("/etc/group").unwrap(),
        group_before,
        "/etc/group changed"
    );
    assert!(sb.passwd_entry(USER).is_none());
    assert!(!sb.host_path(&format!("/home/{USER}")).exists());
    // The private key file must not have been copied into the state dir either.
    for e in walk(&sb.state_dir()) {
        if let Ok(s) = fs::read_to_string(&e) {
            for l in &body {
                assert!(!s.contains(l), "private key kept in {}", e.display());
            }
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Runs `status --json --key-file FILE` and parses its output; returns (JSON, raw output).
fn status_json(sb: &Sandbox, key_file: &str) -> (serde_json::Value, std::process::Output) {
    let out = sb.wizard(&["status", "--json", "--key-file", key_file]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json printed no JSON ({e}):\n{}", describe(&out)));
    (v, out)
}

fn check_status<'a>(v: &'a serde_json::Value, id: &str) -> &'a str {
    v["checks"]
        .as_array()
        .expect("checks array")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("check {id} missing: {v:#}"))["status"]
        .as_str()
        .expect("status string")
}

/// Test 8: status --json: before apply `user` fails and ready is false; after apply every
/// account check is ok.
#[test]
fn e2e_status_json_before_and_after_apply() {
    let sb = sandbox_or_skip!();
    let _sshd = sb.start_sshd("");
    let (_key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.wrapped", &wrap(&public, 40));

    let (v, out) = status_json(&sb, &file);
    assert_eq!(v["user"], USER);
    assert_eq!(v["group"], "whaly");
    assert_eq!(check_status(&v, "user"), "fail", "{v:#}");
    assert_eq!(v["ready"], false);
    assert_eq!(out.status.code(), Some(1), "not ready must exit 1");
    for id in fixtures::REQUIRED_CHECK_IDS {
        let s = check_status(&v, id);
        assert!(
            ["ok", "fail", "warn", "manual"].contains(&s),
            "{id}: bad status {s}"
        );
    }
    for c in v["checks"].as_array().unwrap() {
        assert!(c["title"].is_string() && c["detail"].is_string(), "{c}");
        assert!(c["fix"].is_string() || c["fix"].is_null(), "{c}");
    }

    apply_ok(&sb, &file, &[]);
    let (v, out) = status_json(&sb, &file);
    for id in fixtures::account_check_ids() {
        assert_eq!(check_status(&v, id), "ok", "check {id} after apply: {v:#}");
    }
    // ready/exit code must agree with the checks.
    let any_fail = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["status"] == "fail");
    assert_eq!(v["ready"], !any_fail, "{v:#}");
    assert_eq!(
        out.status.code(),
        Some(if any_fail { 1 } else { 0 }),
        "{}",
        describe(&out)
    );
}

// ---------------------------------------------------------------------------------------
// A hostile or careless host: what apply refuses, and what it tightens
// ---------------------------------------------------------------------------------------

/// An existing vendor user with a full shell: tunnel-only apply gives it nologin, so the
/// key cannot run commands (restrict alone does not stop them).
#[test]
fn e2e_existing_full_shell_is_closed_for_tunnel_only() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    sb.sh("groupadd whaly && useradd -m -g whaly -s /bin/bash -p '*' whaly");
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.pub", &public);
    apply_ok(&sb, &file, &[]);
    let entry = sb.passwd_entry(USER).unwrap();
    assert!(
        entry[6].ends_with("nologin"),
        "shell after apply: {entry:?}"
    );

    sshd.assert_tunnel_works(&key, USER);
    let out = output_timeout(
        &mut sb.ssh(&key, USER, sshd.port, &["echo", "pwned"]),
        None,
        Duration::from_secs(20),
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("pwned"),
        "{}",
        describe(&out)
    );
}

/// Another account's file planted as ~/.ssh/authorized_keys (a move keeps one link) is
/// neither taken over nor read into the new file.
#[test]
fn e2e_another_accounts_file_is_not_taken_over() {
    let sb = sandbox_or_skip!();
    sb.sh("useradd -m -p '*' bob && groupadd whaly && useradd -m -g whaly -p '*' whaly");
    sb.sh("install -d -m 700 -o whaly -g whaly /home/whaly/.ssh && printf 'SECRET=bob-token-123\\n' > /home/whaly/.ssh/authorized_keys && chown bob:bob /home/whaly/.ssh/authorized_keys && chmod 600 /home/whaly/.ssh/authorized_keys");
    let (_, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.pub", &public);
    let out = sb.wizard(&["apply", "--key-file", &file, "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bob"),
        "{}",
        describe(&out)
    );

    let planted = sb.host_path(&ak_path(USER));
    assert_eq!(
        fs::read_to_string(&planted).unwrap(),
        "SECRET=bob-token-123\n"
    );
    let bob = sb.passwd_entry("bob").unwrap();
    assert_eq!(
        fs::symlink_metadata(&planted).unwrap().uid().to_string(),
        bob[2]
    );
    for path in walk(&sb.state_dir()) {
        let content = fs::read(&path).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&content).contains("bob-token"),
            "{} leaked it",
            path.display()
        );
    }
}

/// ~/.ssh replaced by a link to /etc: apply refuses before changing anything.
#[test]
fn e2e_planted_symlink_is_refused() {
    let sb = sandbox_or_skip!();
    sb.sh("groupadd whaly && useradd -m -g whaly -p '*' whaly && ln -s /etc /home/whaly/.ssh");
    let etc_before = sb
        .run(&["sh", "-c", "ls -la /etc; cat /etc/passwd /etc/group"])
        .stdout;
    let (_, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.pub", &public);
    let out = sb.wizard(&["apply", "--key-file", &file, "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing was changed"),
        "{}",
        describe(&out)
    );
    let etc_after = sb
        .run(&["sh", "-c", "ls -la /etc; cat /etc/passwd /etc/group"])
        .stdout;
    assert_eq!(etc_before, etc_after, "/etc must be untouched");
    assert!(sb.read("/etc/authorized_keys").is_none());
}

/// Several applies at once for the same user, each with its own key: the lock makes them
/// take turns, so no run loses another's key.
#[test]
fn e2e_concurrent_applies_keep_every_key() {
    let sb = sandbox_or_skip!();
    let _sshd = sb.start_sshd("");
    let publics: Vec<String> = (0..8)
        .map(|i| keygen(&sb.keys_dir(), &format!("vendor{i}"), &["ed25519"]).1)
        .collect();
    let files: Vec<String> = publics
        .iter()
        .enumerate()
        .map(|(i, p)| key_file(&sb, &format!("vendor{i}.pub"), p))
        .collect();
    let mut children: Vec<_> = files
        .iter()
        .map(|f| {
            sb.bin()
                .args(["apply", "--key-file", f, "--yes"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in &mut children {
        let status = common::wait_timeout(child, Duration::from_secs(60)).expect("apply finished");
        assert!(
            status.success(),
            "every concurrent apply succeeds: {status:?}"
        );
    }
    let content = authorized_keys(&sb, USER);
    for public in &publics {
        let line = format!("restrict,port-forwarding {public}");
        assert_eq!(
            content.lines().filter(|l| *l == line).count(),
            1,
            "{content}"
        );
    }
}

/// The vendor's attempts come from the sandbox sshd's own log, written to
/// /var/log/auth.log as syslog writes it: a real login is reported with its key and
/// address; a forward sshd refused fails the check while its cause holds.
#[test]
fn e2e_vendor_attempts_read_the_real_sshd_log() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.pub", &public);
    apply_ok(&sb, &file, &[]);
    sshd.assert_tunnel_works(&key, USER);
    let fingerprint = common::fingerprints(std::path::Path::new(&file), "sha256").remove(0);
    let (v, _) = status_json(&sb, &file);
    let attempts = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "vendor_attempts")
        .unwrap()
        .clone();
    assert_eq!(attempts["status"], "ok", "{attempts:#}");
    let detail = attempts["detail"].as_str().unwrap();
    assert!(detail.contains(&fingerprint), "{detail}");
    assert!(detail.contains(&common::vendor_ips()[0]), "{detail}");

    // Forwarding switched off and sshd reloaded: the vendor's next try is refused, and
    // the log's reason shows while it holds.
    sb.write_file(
        "/etc/ssh/sshd_config.d/50-site.conf",
        b"AllowTcpForwarding no\n",
    );
    sb.sh("kill -HUP \"$(cat /run/sshd.pid)\"");
    assert!(sshd.wait_log("Received SIGHUP", Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(500));
    let server = EchoServer::start();
    assert!(!sshd.tunnel(&key, USER, server.port()).ok);
    let (v, _) = status_json(&sb, &file);
    assert_eq!(check_status(&v, "sshd_forwarding"), "fail");
    let attempts = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "vendor_attempts")
        .unwrap();
    assert_eq!(
        attempts["status"],
        "fail",
        "{attempts:#}\n{}",
        sb.read_string("/var/log/auth.log").unwrap_or_default()
    );
    assert!(
        attempts["detail"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("forward"),
        "{attempts:#}"
    );
}

/// Asked on a terminal, a "no" changes nothing and exits 4.
#[test]
fn e2e_declining_at_the_prompt_exits_4_and_changes_nothing() {
    let sb = sandbox_or_skip!();
    let (_key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.pub", &public);
    // `script` gives apply a terminal, as a person running it would have.
    let command = format!("{} apply --key-file {file}", common::BIN);
    let out = sb.run_with_stdin(&["script", "-qec", &command, "/dev/null"], Some(b"n\n"));
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Apply these changes?"));
    assert!(
        sb.passwd_entry(USER).is_none(),
        "declined, yet the user was created"
    );
    assert!(sb.group_entry(USER).is_none());
}

/// `plan` on a host whose account is done but whose sshd forbids forwarding never says
/// the host is set up: it gives the verdict and the failing check, and with `--fix-sshd`
/// it shows the repair it would make.
#[test]
fn e2e_plan_gives_the_verdict_and_previews_the_sshd_repair() {
    let sb = sandbox_or_skip!();
    let _sshd = sb.start_sshd("");
    let (_key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = key_file(&sb, "vendor.pub", &public);
    apply_ok(&sb, &file, &[]);
    sb.write_file(
        "/etc/ssh/sshd_config.d/50-site.conf",
        b"AllowTcpForwarding no\n",
    );
    let out = sb.wizard(&["plan", "--key-file", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("set up."), "{text}");
    assert!(text.contains("Not ready"), "{text}");
    assert!(text.contains("sshd allows TCP forwarding"), "{text}");
    let out = sb.wizard(&["plan", "--key-file", &file, "--fix-sshd"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Repair sshd"), "{text}");
    assert!(text.contains("AllowTcpForwarding local"), "{text}");
    assert!(text.contains("1 step(s) to do."), "{text}");
}

/// authorized_keys planted as a symlink to /etc/shadow, a hard link to another file, or a
/// FIFO: apply refuses before any change, and neither file behind it is touched.
#[test]
fn e2e_authorized_keys_that_is_not_a_plain_file_is_refused() {
    let home = format!("/home/{USER}");
    let ak = ak_path(USER);
    for (what, plant) in [
        ("a symlink to /etc/shadow", format!("ln -s /etc/shadow {ak}")),
        (
            "a hard link to another file",
            format!("printf 'notes\\n' > {home}/notes && chown {USER}: {home}/notes && ln {home}/notes {ak}"),
        ),
        ("a FIFO", format!("mkfifo -m 600 {ak} && chown {USER}: {ak}")),
    ] {
        let sb = sandbox_or_skip!();
        sb.sh(&format!(
            "groupadd {USER} && useradd -m -g {USER} -p '*' {USER} && install -d -m 700 -o {USER} -g {USER} {home}/.ssh && {plant}"
        ));
        let shadow = sb.read("/etc/shadow").unwrap();
        let before = fs::symlink_metadata(sb.host_path(&ak)).unwrap();
        let (_, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
        let file = key_file(&sb, "vendor.pub", &public);
        let out = sb.wizard(&["apply", "--key-file", &file, "--yes"]);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("nothing was changed"),
            "{what}: {}",
            describe(&out)
        );
        assert_eq!(sb.read("/etc/shadow").unwrap(), shadow, "{what}: /etc/shadow changed");
        let after = fs::symlink_metadata(sb.host_path(&ak)).unwrap();
        assert_eq!(
            (after.ino(), after.mode(), after.uid(), after.nlink()),
            (before.ino(), before.mode(), before.uid(), before.nlink()),
            "{what}: authorized_keys was touched"
        );
        if let Some(notes) = sb.read(&format!("{home}/notes")) {
            assert_eq!(notes, b"notes\n", "{what}: the linked file changed");
        }
    }
}

/// A second key replaces authorized_keys with a new file: the old bytes are kept in the
/// state directory's backups, and the replaced file is a new inode (written beside, renamed).
#[test]
fn e2e_replacing_authorized_keys_keeps_a_backup() {
    let sb = sandbox_or_skip!();
    let _sshd = sb.start_sshd("");
    let (_, pub1) = keygen(&sb.keys_dir(), "first", &["ed25519"]);
    let (_, pub2) = keygen(&sb.keys_dir(), "second", &["ed25519"]);
    apply_ok(&sb, &key_file(&sb, "first.pub", &format!("{pub1}\n")), &[]);
    let ak = sb.host_path(&ak_path(USER));
    let old = fs::read(&ak).unwrap();
    let old_inode = fs::metadata(&ak).unwrap().ino();
    apply_ok(&sb, &key_file(&sb, "second.pub", &format!("{pub2}\n")), &[]);
    let new = fs::read(&ak).unwrap();
    assert!(
        new.starts_with(&old),
        "the first line is kept byte for byte"
    );
    assert_ne!(
        fs::metadata(&ak).unwrap().ino(),
        old_inode,
        "replaced by rename"
    );
    let backups: Vec<Vec<u8>> = walk(&sb.state_dir().join("backups"))
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    assert!(
        backups.contains(&old),
        "no backup of the old authorized_keys in {}",
        sb.state_dir().display()
    );
}
