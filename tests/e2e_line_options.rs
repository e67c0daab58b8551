//! End to end, through the sandbox's real sshd: the key line's `expiry-time` (`--expires`)
//! and `from=` (`--from-vendor-ips`). The real sshd judges each line; `status` must agree.
//!
//! Needs root, util-linux and openssh-server; skipped otherwise unless BASTION_WIZARD_E2E=1.

#[macro_use]
mod common;

use std::fs;

use bastion_wizard::dates::{Clock, Date};
use common::{describe, keygen, EchoServer, Sandbox, STRANGER_ADDR};

const USER: &str = "whaly";
const AK: &str = "/home/whaly/.ssh/authorized_keys";

fn write_key(sb: &Sandbox, public: &str) -> String {
    let p = sb.keys_dir().join("vendor.pub");
    fs::write(&p, format!("{public}\n")).unwrap();
    p.to_string_lossy().into_owned()
}

fn apply_ok(sb: &Sandbox, args: &[&str]) {
    let mut all = vec!["apply", "--yes"];
    all.extend_from_slice(args);
    let out = sb.wizard(&all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "bastion-wizard {}:\n{}",
        all.join(" "),
        describe(&out)
    );
}

fn status(sb: &Sandbox, args: &[&str]) -> (serde_json::Value, std::process::Output) {
    let mut all = vec!["status", "--json"];
    all.extend_from_slice(args);
    let out = sb.wizard(&all);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json printed no JSON ({e}):\n{}", describe(&out)));
    (v, out)
}

fn check<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    v["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in {v:#}"))
}

fn the_line(sb: &Sandbox, data: &str) -> String {
    let ak = sb.read_string(AK).unwrap_or_default();
    ak.lines()
        .find(|l| l.contains(data))
        .unwrap_or_else(|| panic!("key not in authorized_keys:\n{ak}"))
        .to_string()
}

/// A line whose expiry-time has passed: the real sshd refuses the key, and status fails it
/// (the line is written directly: the command line refuses a past date).
#[test]
fn e2e_an_expired_line_is_refused_by_sshd_and_fails_status() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = write_key(&sb, &public);
    let echo = EchoServer::start();
    let db = format!("127.0.0.1:{}", echo.port());
    apply_ok(&sb, &["--key-file", &file, "--permit-open", &db]);
    let works = sshd.tunnel(&key, USER, echo.port());
    assert!(works.ok, "the tunnel failed: {works:?}\n{}", sshd.log());

    // Yesterday's end, host time: the form `--expires` writes.
    let yesterday = Date::from_days(Clock::read().today().days() - 1);
    let stamp = yesterday.to_string().replace('-', "");
    let out = sb.sh(&format!(
        "sed -i 's/^restrict,/expiry-time=\"{stamp}235959\",restrict,/' {AK}"
    ));
    assert!(out.status.success(), "{}", describe(&out));
    let line = the_line(&sb, common::key_data(&public));
    assert!(line.starts_with("expiry-time="), "{line}");

    let refused = sshd.tunnel(&key, USER, echo.port());
    assert!(
        !refused.ok,
        "the real sshd accepted an expired key: {refused:?}\n{}",
        sshd.log()
    );

    let (v, out) = status(&sb, &["--key-file", &file, "--permit-open", &db]);
    let key_check = check(&v, "key_installed");
    assert_eq!(key_check["status"], "fail", "{key_check:#}");
    let detail = key_check["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("its last day was {yesterday}")),
        "{detail}"
    );
    assert_eq!(v["ready"], false);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

/// `--expires` a future date: the line says that day's end, a real tunnel works through
/// it, and status shows the days left; bad dates are refused with exit 2, nothing changed.
#[test]
fn e2e_apply_with_expires_opens_the_tunnel_and_status_counts_the_days() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = write_key(&sb, &public);
    let echo = EchoServer::start();
    let db = format!("127.0.0.1:{}", echo.port());

    let yesterday = Date::from_days(Clock::read().today().days() - 1).to_string();
    for bad in [yesterday.as_str(), "2026-02-30", "26-1-1", "garbage"] {
        let out = sb.wizard(&["apply", "--yes", "--key-file", &file, "--expires", bad]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--expires {bad}: {}",
            describe(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
        assert!(err.contains("--expires"), "{err}");
        assert!(
            sb.passwd_entry(USER).is_none(),
            "--expires {bad} changed the host"
        );
        assert!(sb.read(AK).is_none());
    }

    let last = Date::from_days(Clock::read().today().days() + 30);
    let last_text = last.to_string();
    apply_ok(
        &sb,
        &[
            "--key-file",
            &file,
            "--permit-open",
            &db,
            "--expires",
            &last_text,
        ],
    );
    let line = the_line(&sb, common::key_data(&public));
    let stamp = last_text.replace('-', "");
    assert!(
        line.starts_with(&format!(
            "expiry-time=\"{stamp}235959\",restrict,port-forwarding,permitopen=\"{db}\" "
        )),
        "{line}"
    );
    let works = sshd.tunnel(&key, USER, echo.port());
    assert!(works.ok, "the tunnel failed: {works:?}\n{}", sshd.log());

    let (v, out) = status(
        &sb,
        &[
            "--key-file",
            &file,
            "--permit-open",
            &db,
            "--expires",
            &last_text,
        ],
    );
    let key_check = check(&v, "key_installed");
    assert_eq!(key_check["status"], "ok", "{key_check:#}");
    assert!(
        key_check["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("expires after {last_text} (30 days left)")),
        "{key_check:#}"
    );
    assert_eq!(v["ready"], true, "{v:#}");
    assert_eq!(out.status.code(), Some(0));

    // The same line judged by a plain status (no --expires asked): it still works, and
    // the days left are still told.
    let (v, _) = status(&sb, &["--key-file", &file, "--permit-open", &db]);
    let key_check = check(&v, "key_installed");
    assert_eq!(key_check["status"], "warn", "{key_check:#}");
    assert!(
        key_check["detail"]
            .as_str()
            .unwrap()
            .contains("30 days left"),
        "{key_check:#}"
    );
}

/// `--from-vendor-ips` with a test profile listing two of the sandbox's addresses: a tunnel
/// from either works, one from any other address is refused, and status stays ready.
#[test]
fn e2e_from_vendor_ips_admits_only_the_profiles_addresses() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (key, public) = keygen(&sb.keys_dir(), "vendor", &["ed25519"]);
    let file = write_key(&sb, &public);
    let echo = EchoServer::start();
    let db = format!("127.0.0.1:{}", echo.port());
    let on_lo = common::vendor_ips();
    let (listed, unlisted) = (&on_lo[..2], &on_lo[2]);
    let profile = sb.keys_dir().join("two-addresses.toml");
    fs::write(
        &profile,
        format!(
            "name = \"Test vendor\"\nuser = \"whaly\"\ngroup = \"whaly\"\ndocs = \"https://example.invalid\"\nips = [\"{}\", \"{}\"]\n",
            listed[0], listed[1]
        ),
    )
    .unwrap();
    let profile = profile.to_string_lossy().into_owned();
    let args = [
        "--key-file",
        file.as_str(),
        "--permit-open",
        db.as_str(),
        "--profile",
        profile.as_str(),
        "--from-vendor-ips",
    ];
    apply_ok(&sb, &args);
    let line = the_line(&sb, common::key_data(&public));
    assert!(
        line.starts_with(&format!(
            "from=\"{},{}\",restrict,port-forwarding",
            listed[0], listed[1]
        )),
        "{line}"
    );

    for from in listed {
        let r = sshd.tunnel_from(from, &key, USER, echo.port());
        assert!(
            r.ok,
            "tunnel from the listed {from} failed: {r:?}\n{}",
            sshd.log()
        );
    }
    for from in [STRANGER_ADDR, unlisted.as_str()] {
        let r = sshd.tunnel_from(from, &key, USER, echo.port());
        assert!(!r.ok, "a tunnel from {from}, not in from=, worked: {r:?}");
    }

    let (v, out) = status(&sb, &args);
    assert_eq!(check(&v, "key_installed")["status"], "ok", "{v:#}");
    assert_eq!(v["ready"], true, "{v:#}");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}
