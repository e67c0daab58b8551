//! The vendor's form: host key fingerprints exactly as ssh-keygen prints them.

use std::process::Command;

use bastion_wizard::connection::HostKey;

fn keygen_fingerprint(pub_path: &std::path::Path, hash: &str) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-E", hash, "-l", "-f"])
        .arg(pub_path)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string()
}

#[test]
fn host_key_fingerprints_match_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("ed25519", vec!["-t", "ed25519"]),
        ("ecdsa", vec!["-t", "ecdsa"]),
        ("rsa", vec!["-t", "rsa", "-b", "2048"]),
    ] {
        let private = dir.path().join(format!("ssh_host_{name}_key"));
        let out = Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-C", "host"])
            .args(&args)
            .arg("-f")
            .arg(&private)
            .output()
            .expect("ssh-keygen");
        assert!(out.status.success());
        let public = private.with_file_name(format!("ssh_host_{name}_key.pub"));
        let key = HostKey::read(&public).expect("host key parses");
        assert_eq!(key.sha256, keygen_fingerprint(&public, "sha256"), "{name}");
        assert_eq!(key.md5, keygen_fingerprint(&public, "md5"), "{name}");
        let line = std::fs::read_to_string(&public).unwrap();
        assert!(line.starts_with(&key.public_key), "{name}");
        let listed = bastion_wizard::connection::read_host_keys(&[private]);
        assert_eq!(listed, vec![key]);
    }
}
