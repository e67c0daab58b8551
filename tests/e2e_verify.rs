//! End-to-end tests of `verify` through a real sshd in the sandbox (see tests/common):
//! it passes on a healthy host, fails on a broken one, leaves authorized_keys byte for
//! byte as it was, and a run killed midway leaves only a loopback-only expiring probe
//! line that the next command removes.

#[macro_use]
mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{describe, keygen, ChildGuard, EchoServer, Sandbox, Sshd};

const USER: &str = "whaly";

fn wizard(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    sb.wizard(args)
}

/// A host set up by `apply` with a tunnel-only key limited to `db`, and its sshd.
fn healthy_host(sb: &Sandbox, db: &str) -> Sshd {
    let sshd = sb.start_sshd("");
    let (_, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let key_file = sb.keys_dir().join("vendor.pub");
    fs::write(&key_file, format!("{public}\n")).unwrap();
    let out = wizard(
        sb,
        &[
            "apply",
            "--key-file",
            &key_file.to_string_lossy(),
            "--yes",
            "--permit-open",
            db,
        ],
    );
    assert!(
        matches!(out.status.code(), Some(0) | Some(5)),
        "{}",
        describe(&out)
    );
    sshd
}

fn authorized_keys(sb: &Sandbox) -> Vec<u8> {
    fs::read(sb.host_path(&format!("/home/{USER}/.ssh/authorized_keys"))).unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

fn probe_dirs(sb: &Sandbox) -> Vec<String> {
    fs::read_dir(sb.state_dir())
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("probe-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn e2e_verify_passes_on_a_healthy_host_and_leaves_the_file_as_it_was() {
    let sb = sandbox_or_skip!();
    let db = EchoServer::start();
    let target = format!("127.0.0.1:{}", db.port());
    let _sshd = healthy_host(&sb, &target);
    thread::sleep(Duration::from_millis(200));
    let connections = db.connections();
    // A final line without newline: the probe must not leave one behind.
    let path = sb.host_path(&format!("/home/{USER}/.ssh/authorized_keys"));
    let mut before = authorized_keys(&sb);
    before.extend_from_slice(b"# no newline at the end");
    fs::write(&path, &before).unwrap();

    let out = wizard(&sb, &["verify", "--permit-open", &target, "--json"]);
    let proof = json(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(proof["ok"], true);
    assert_eq!(proof["target"], target.as_str());
    assert_eq!(proof["authorized_keys"], "restored byte for byte");
    assert!(
        db.connections() > connections,
        "the database target saw no connection"
    );
    assert!(!proof["not_proven"].as_array().unwrap().is_empty());
    assert_eq!(authorized_keys(&sb), before, "authorized_keys changed");
    assert!(
        probe_dirs(&sb).is_empty(),
        "the throwaway key was left: {:?}",
        probe_dirs(&sb)
    );

    // Without a database target: a forward to sshd's own port, whose banner comes back.
    let out = wizard(&sb, &["verify", "--json"]);
    let proof = json(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        proof["summary"].as_str().unwrap().contains("SSH-2.0-"),
        "{proof}"
    );
    assert!(proof["bytes_received"].as_u64().unwrap() > 0);
    assert_eq!(authorized_keys(&sb), before);
}

#[test]
fn e2e_verify_fails_when_sshd_forbids_forwarding() {
    let sb = sandbox_or_skip!();
    let db = EchoServer::start();
    let target = format!("127.0.0.1:{}", db.port());
    let sshd = healthy_host(&sb, &target);
    let before = authorized_keys(&sb);
    let config = format!("AllowTcpForwarding no\n{}", sshd.config);
    sb.write_file("/etc/ssh/sshd_config", config.as_bytes());
    sb.sh("kill -HUP $(cat /run/sshd.pid)");
    assert!(
        sshd.wait_log("Received SIGHUP", Duration::from_secs(5)),
        "{}",
        sshd.log()
    );
    thread::sleep(Duration::from_millis(500));
    // `apply` itself connected to the target to check it; count from here.
    let connections = db.connections();

    let out = wizard(&sb, &["verify", "--permit-open", &target, "--json"]);
    let proof = json(&out);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(proof["ok"], false);
    let ssh_error = proof["ssh_error"].as_str().unwrap_or_default();
    assert!(
        ssh_error.contains("administratively prohibited"),
        "{proof}\n{}",
        sshd.log()
    );
    assert!(proof["summary"]
        .as_str()
        .unwrap()
        .contains("AllowTcpForwarding"));
    assert_eq!(
        db.connections(),
        connections,
        "sshd must not have reached the target"
    );
    assert_eq!(authorized_keys(&sb), before, "authorized_keys changed");
    assert!(probe_dirs(&sb).is_empty());

    // The plain-text form says the same.
    let out = wizard(&sb, &["verify", "--permit-open", &target]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("ssh said: channel"), "{text}");
    assert!(
        text.contains("not proven from here: sshd's `Match Address`"),
        "{text}"
    );
}

fn local_stamp_now() -> String {
    // YYYYMMDDHHMM on the host's clock (as sshd reads expiry-time), via `date`, as a
    // second opinion on the program's own formatting.
    let out = Command::new("date")
        .env_remove("TZ")
        .args(["+%Y%m%d%H%M"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn e2e_a_killed_verify_leaves_only_a_loopback_expiring_line_that_the_next_run_removes() {
    let sb = sandbox_or_skip!();
    let db = EchoServer::start();
    let target = format!("127.0.0.1:{}", db.port());
    let _sshd = healthy_host(&sb, &target);
    let before = authorized_keys(&sb);

    let child = sb
        .bin()
        .env("BASTION_WIZARD_VERIFY_HOLD_MS", "30000")
        .args(["verify", "--permit-open", &target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while authorized_keys(&sb) == before && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    guard.0.kill().unwrap();
    let _ = guard.0.wait();

    let after = authorized_keys(&sb);
    assert!(
        after.ends_with(&before),
        "only a line was added before the rest"
    );
    let added = String::from_utf8(after[..after.len() - before.len()].to_vec()).unwrap();
    let lines: Vec<&str> = added.lines().collect();
    assert_eq!(lines.len(), 1, "{added}");
    let line = lines[0];
    assert!(
        line.starts_with("from=\"127.0.0.1,::1\",expiry-time=\""),
        "{line}"
    );
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words.len(), 4, "options, type, key, marker: {line}");
    assert_eq!(words[3], "bastion-wizard-probe", "{line}");
    let expiry = line
        .split("expiry-time=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    assert!(
        expiry.len() == 12 && expiry.bytes().all(|b| b.is_ascii_digit()),
        "expiry {expiry} is YYYYMMDDHHMM without Z, which sshd before 9.1 reads too"
    );
    assert!(
        expiry > local_stamp_now().as_str(),
        "expiry {expiry} is not ahead"
    );
    assert!(
        line.contains("restrict,port-forwarding,permitopen="),
        "{line}"
    );
    assert_eq!(
        probe_dirs(&sb).len(),
        1,
        "the killed run's key dir is there"
    );

    // The next run of any root command removes it, every other byte kept.
    let out = wizard(&sb, &["status", "--json"]);
    assert!(out.status.code().is_some(), "{}", describe(&out));
    assert_eq!(authorized_keys(&sb), before, "{}", describe(&out));
    assert!(probe_dirs(&sb).is_empty(), "{:?}", probe_dirs(&sb));
}
