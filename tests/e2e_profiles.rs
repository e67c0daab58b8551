//! End to end, in the sandbox with a real sshd: vendor profiles (a vendor that wants the
//! customer's key, several vendors on one host). Skipped unless run as root with the tools;
//! BASTION_WIZARD_E2E=1 makes a skip a failure.

#[macro_use]
mod common;

use common::{describe, keygen, Sandbox};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

fn key_file(sb: &Sandbox, name: &str, content: &str) -> String {
    let p = sb.keys_dir().join(name);
    fs::write(&p, content).unwrap();
    p.to_string_lossy().into_owned()
}

/// Every file under `dir`, recursively, except `skip`.
fn files_under(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            files_under(&p, skip, out);
        } else if meta.is_file() && p != skip {
            out.push(p);
        }
    }
}

/// `apply --generate-key` for Airbyte: the public half is installed, the private half is in
/// one root-only file whose path is printed, a real tunnel opens with it, and no other file
/// the program wrote (state dir, journal, ledger, home, sshd config) nor its output holds it.
#[test]
fn e2e_generated_key_opens_a_tunnel_and_lives_in_one_file_only() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let out = sb.wizard(&[
        "apply",
        "--generate-key",
        "--yes",
        "--profile",
        "Airbyte",
        "--region",
        "us",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let path = stdout
        .lines()
        .find_map(|l| l.split(" is in ").nth(1)?.split(" (root only").next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no private key path in:\n{stdout}"));
    assert!(
        stdout.contains(&format!("shred -u {}", path.display())),
        "{stdout}"
    );
    assert!(path.starts_with(sb.state_dir()), "{}", path.display());
    let meta = fs::symlink_metadata(&path).expect("the private key file");
    assert!(meta.is_file());
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, 0));
    let dir_meta = fs::metadata(path.parent().unwrap()).unwrap();
    assert_eq!(dir_meta.mode() & 0o777, 0o700);

    let ak = fs::read_to_string(sb.host_path("/home/airbyte/.ssh/authorized_keys")).unwrap();
    assert!(ak.contains("ssh-ed25519 "), "{ak}");
    sshd.assert_tunnel_works(&path, "airbyte");

    // The private key's base64 body past its first lines (which hold the format's magic and
    // the public half, the same in every key of the type): the secret part.
    let private = fs::read_to_string(&path).unwrap();
    let body: Vec<&str> = private
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .collect();
    assert!(body.len() >= 4, "{private}");
    let needles: Vec<&str> = body[2..].iter().map(|l| &l[..40]).collect();
    let mut files = Vec::new();
    files_under(&sb.state_dir(), &path, &mut files);
    files_under(&sb.host_path("/home"), &path, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("ledger.jsonl")),
        "the ledger is among the files searched: {files:?}"
    );
    for file in &files {
        let text = String::from_utf8_lossy(&fs::read(file).unwrap_or_default()).into_owned();
        for n in &needles {
            assert!(
                !text.contains(n),
                "{} holds the private key",
                file.display()
            );
        }
    }
    for n in &needles {
        assert!(
            !stdout.contains(n) && !stderr.contains(n),
            "output holds the private key"
        );
        // Inside the sandbox: its /etc/ssh and its logs (syslog, the sshd log).
        let found = sb.sh(&format!("grep -rlF -e '{n}' /etc/ssh /var/log || true"));
        assert!(found.stdout.is_empty(), "{}", describe(&found));
    }
}

/// A generated pair that is not installed (apply refused its input) is removed again.
#[test]
fn e2e_generated_key_is_removed_when_apply_refuses() {
    let sb = sandbox_or_skip!();
    let _sshd = sb.start_sshd("");
    // A planted ~/.ssh link: apply refuses after the pair was made.
    sb.sh("useradd -m -s /bin/sh airbyte && ln -s /etc /home/airbyte/.ssh");
    let out = sb.wizard(&[
        "apply",
        "--generate-key",
        "--yes",
        "--profile",
        "airbyte",
        "--region",
        "eu",
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let mut files = Vec::new();
    files_under(&sb.state_dir().join("keys"), Path::new("/"), &mut files);
    assert!(
        files.is_empty(),
        "left behind: {files:?}\n{}",
        describe(&out)
    );
}

/// A profile with regions and no --region is refused (exit 2) with the list; an unknown
/// profile name lists the built-in ones.
#[test]
fn e2e_profile_and_region_input_is_checked() {
    let sb = sandbox_or_skip!();
    let out = sb.wizard(&["status", "--profile", "fivetran"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--region") && err.contains("gcp-us-east4"),
        "{err}"
    );
    let out = sb.wizard(&["status", "--profile", "nosuchvendor"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("whaly") && err.contains("dbt-cloud"), "{err}");
}

/// Two vendors on one host: each its own user, each tunnel works, and `status` for one
/// lists the other with its verdict; the JSON stays one valid object about one user.
#[test]
fn e2e_two_vendors_each_get_their_own_user_and_status_shows_both() {
    let sb = sandbox_or_skip!();
    let sshd = sb.start_sshd("");
    let (whaly_key, whaly_pub) = keygen(&sb.keys_dir(), "whaly", &["ed25519"]);
    let (ft_key, ft_pub) = keygen(&sb.keys_dir(), "fivetran", &["rsa", "-b", "3072"]);
    let wf = key_file(&sb, "whaly.pub", &whaly_pub);
    let ff = key_file(&sb, "fivetran.pub", &ft_pub);
    let out = sb.wizard(&["apply", "--key-file", &wf, "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = sb.wizard(&[
        "apply",
        "--key-file",
        &ff,
        "--yes",
        "--profile",
        "fivetran",
        "--region",
        "gcp-us-east4",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(sb.passwd_entry("whaly").is_some() && sb.passwd_entry("fivetran").is_some());
    sshd.assert_tunnel_works(&whaly_key, "whaly");
    sshd.assert_tunnel_works(&ft_key, "fivetran");

    let out = sb.wizard(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Other vendor users this program manages here:"),
        "{}",
        describe(&out)
    );
    let line = text
        .lines()
        .find(|l| l.contains("fivetran (Fivetran)"))
        .unwrap_or_else(|| panic!("fivetran not listed:\n{text}"));
    assert!(line.contains("ready"), "{line}");
    assert!(
        text.contains("IP list from https://docs.whaly.io/"),
        "{text}"
    );

    let out = sb.wizard(&[
        "status",
        "--json",
        "--profile",
        "fivetran",
        "--region",
        "gcp-us-east4",
    ]);
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    assert_eq!(json["user"], "fivetran");
    let vendor = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "port_vendor_to_ssh")
        .unwrap();
    let detail = vendor["detail"].as_str().unwrap();
    assert!(
        detail.contains("35.234.176.144/29") && detail.contains("as of"),
        "{detail}"
    );
}
