//! The vendor's form: host key fingerprints exactly as ssh-keygen prints them.

use bastion_wizard::connection::HostKey;

mod common;

#[test]
fn host_key_fingerprints_match_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("ed25519", vec!["ed25519"]),
        ("ecdsa", vec!["ecdsa"]),
        ("rsa", vec!["rsa", "-b", "2048"]),
    ] {
        let (private, _) =
            common::try_keygen(dir.path(), &format!("ssh_host_{name}_key"), "host", &args)
                .expect("ssh-keygen");
        let public = private.with_file_name(format!("ssh_host_{name}_key.pub"));
        let key = HostKey::read(&public).expect("host key parses");
        assert_eq!(
            key.sha256,
            common::fingerprints(&public, "sha256")[0],
            "{name}"
        );
        assert_eq!(key.md5, common::fingerprints(&public, "md5")[0], "{name}");
        let line = std::fs::read_to_string(&public).unwrap();
        assert!(line.starts_with(&key.public_key), "{name}");
        let listed = bastion_wizard::connection::read_host_keys(&[private]);
        assert_eq!(listed, vec![key]);
    }
}
