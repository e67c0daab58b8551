//! The one home for test keys: generating them with ssh-keygen, wrapping them as mail and
//! terminals do, and reading their parts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::{describe, output_timeout};

/// Generates a key pair in `dir` named `name` (`ssh-keygen -q -N '' -C name -t ...`).
/// `type_args` e.g. `&["ed25519"]` or `&["rsa", "-b", "3072"]`.
/// Returns the private key path and the public key line (trimmed).
pub fn keygen(dir: &Path, name: &str, type_args: &[&str]) -> (PathBuf, String) {
    fs::create_dir_all(dir).unwrap();
    let private = dir.join(name);
    let _ = fs::remove_file(&private);
    let _ = fs::remove_file(private.with_extension("pub"));
    let out = output_timeout(
        Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-C", name, "-f"])
            .arg(&private)
            .arg("-t")
            .args(type_args),
        None,
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "ssh-keygen failed: {}",
        describe(&out)
    );
    let mut pub_path = private.clone().into_os_string();
    pub_path.push(".pub");
    let public = fs::read_to_string(&pub_path).unwrap().trim().to_string();
    (private, public)
}

/// Inserts "\n" every `width` characters (an e-mailed, wrapped key). Ends with "\n".
pub fn wrap(line: &str, width: usize) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut s = String::new();
    for chunk in chars.chunks(width.max(1)) {
        s.extend(chunk);
        s.push('\n');
    }
    s
}

/// The base64 key data (2nd field) of an OpenSSH public key line.
pub fn key_data(public_line: &str) -> &str {
    public_line.split_whitespace().nth(1).unwrap_or("")
}
