//! The one home for test keys: generating them with ssh-keygen, asking ssh-keygen what it
//! reads, wrapping them as mail and terminals do, and reading their parts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::{describe, output_timeout};

/// Time limit for one ssh-keygen run (an RSA 4096 key takes a few seconds at worst).
const KEYGEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Generates a key pair in `dir` named `name` (`ssh-keygen -q -N '' -C name -t ...`).
/// `type_args` e.g. `&["ed25519"]` or `&["rsa", "-b", "3072"]`.
/// Returns the private key path and the public key line (trimmed).
pub fn keygen(dir: &Path, name: &str, type_args: &[&str]) -> (PathBuf, String) {
    try_keygen(dir, name, name, type_args).unwrap_or_else(|e| panic!("ssh-keygen failed: {e}"))
}

/// [`keygen`] with its own `comment`, and ssh-keygen's account of why when it makes no key
/// (newer OpenSSH refuses DSA and small RSA keys), instead of a panic.
pub fn try_keygen(
    dir: &Path,
    name: &str,
    comment: &str,
    type_args: &[&str],
) -> Result<(PathBuf, String), String> {
    fs::create_dir_all(dir).unwrap();
    let private = dir.join(name);
    let _ = fs::remove_file(&private);
    let _ = fs::remove_file(public_path(&private));
    ssh_keygen(
        Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-C", comment, "-f"])
            .arg(&private)
            .arg("-t")
            .args(type_args),
    )?;
    let public = fs::read_to_string(public_path(&private))
        .unwrap()
        .trim()
        .to_string();
    Ok((private, public))
}

/// Where ssh-keygen writes the public half of `private`: the same path with `.pub` added.
pub fn public_path(private: &Path) -> PathBuf {
    let mut path = private.as_os_str().to_owned();
    path.push(".pub");
    PathBuf::from(path)
}

/// What `ssh-keygen -l -E HASH -f FILE` prints, one line per key
/// (`BITS FINGERPRINT COMMENT (TYPE)`), or its account of why it refuses the file.
pub fn keygen_list(file: &Path, hash: &str) -> Result<Vec<String>, String> {
    let out = ssh_keygen(
        Command::new("ssh-keygen")
            .args(["-l", "-E", hash, "-f"])
            .arg(file),
    )?;
    Ok(out.lines().map(str::to_string).collect())
}

/// The fingerprint of each key in `file` as ssh-keygen prints it (`SHA256:...` for hash
/// `sha256`, `MD5:...` for `md5`). Panics when ssh-keygen refuses the file.
pub fn fingerprints(file: &Path, hash: &str) -> Vec<String> {
    keygen_list(file, hash)
        .unwrap_or_else(|e| panic!("ssh-keygen -l refused {}: {e}", file.display()))
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        .collect()
}

/// `ssh-keygen -e -m FORMAT -f PUBLIC`: the public key in `RFC4716` or `PKCS8` (PEM) form,
/// or ssh-keygen's account of why not.
pub fn keygen_export(public: &Path, format: &str) -> Result<String, String> {
    ssh_keygen(
        Command::new("ssh-keygen")
            .args(["-e", "-m", format, "-f"])
            .arg(public),
    )
}

/// Runs an ssh-keygen command (bounded in time): its output, or the account of its failure.
fn ssh_keygen(cmd: &mut Command) -> Result<String, String> {
    let out = output_timeout(cmd, None, KEYGEN_TIMEOUT);
    if !out.status.success() {
        return Err(describe(&out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `line` cut every `width` characters, no character lost: the lines of a key as a mail
/// client or a narrow terminal wraps it.
pub fn wrap_lines(line: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    chars
        .chunks(width.max(1))
        .map(|chunk| chunk.iter().collect())
        .collect()
}

/// [`wrap_lines`] joined by `sep` (`"\n"`, `"\r\n"`, or `"\r"` as a terminal pastes line
/// ends), with nothing before the first line or after the last.
pub fn wrap_with(line: &str, width: usize, sep: &str) -> String {
    wrap_lines(line, width).join(sep)
}

/// The key as an email client wraps it, with the CR line ends a terminal pastes.
pub fn wrapped(line: &str, width: usize) -> String {
    wrap_with(line, width, "\r")
}

/// Inserts "\n" every `width` characters (an e-mailed, wrapped key). Ends with "\n".
pub fn wrap(line: &str, width: usize) -> String {
    wrap_with(line, width, "\n") + "\n"
}

/// The base64 key data (2nd field) of an OpenSSH public key line.
pub fn key_data(public_line: &str) -> &str {
    public_line.split_whitespace().nth(1).unwrap_or("")
}

/// Standard base64 with padding, by base64ct: independent of the program's own intake, so
/// blobs crafted by hand are written as OpenSSH writes them.
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64ct::Encoding;
    base64ct::Base64::encode_string(bytes)
}

/// The bytes of standard base64 (a key's data field); panics on anything else.
pub fn base64_decode(text: &str) -> Vec<u8> {
    use base64ct::Encoding;
    base64ct::Base64::decode_vec(text).unwrap_or_else(|e| panic!("not base64 ({e}): {text:?}"))
}
