//! The probe line: its text (loopback `from=`, an `expiry-time` minutes ahead, the vendor's
//! tunnel options), how it is told from a vendor's line, and putting it into and taking it
//! out of the user's authorized_keys, through safe_fs only.
//!
//! It goes at the very start of the file, so removing it (with its line end) gives back
//! the original bytes even when the original lacks a final newline: a run killed midway
//! can be undone exactly by whoever runs next.

use std::ffi::OsStr;
use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::authorized_keys::{self, Entry};
use crate::dates::{self, Clock};
use crate::safe_fs::{self, Meta};

/// Comment of every probe line; together with its `from=` and `expiry-time=` options it is
/// what `remove_leftover_probes` recognises.
pub const MARKER: &str = "bastion-wizard-probe";
const AUTHORIZED_KEYS: &str = "authorized_keys";

/// `from=` and `expiry-time=` first, then the vendor's own tunnel options (their order
/// matters only among themselves: `restrict` before `port-forwarding`).
/// `key` is `type base64`, without a comment: the marker is the whole comment.
pub fn probe_line(access: Option<&str>, from: &str, expiry: &str, key: &str) -> String {
    let mut options = format!("from=\"{from}\",expiry-time=\"{expiry}\"");
    if let Some(access) = access {
        options.push(',');
        options.push_str(access);
    }
    format!("{options} {key} {MARKER}")
}

/// `YYYYMMDDHHMM` on the host's clock: the form every sshd since 7.7 reads (the UTC form
/// with `Z` needs 9.1, so older sshd would ignore the whole probe line).
pub fn expiry_stamp(at: SystemTime, clock: &Clock) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let local = u64::try_from(secs + clock.utc_offset).unwrap_or(0);
    let iso = dates::utc_timestamp(local);
    let digits: String = iso.chars().filter(char::is_ascii_digit).collect();
    digits[..12].to_string()
}

/// A probe line and nothing else: our marker as the whole comment, an ed25519 key, and
/// options that start with a `from=` of literal addresses and an `expiry-time`. A
/// vendor's line never has all of these, so it is never taken for one.
pub fn is_probe(entry: &Entry) -> bool {
    if entry.comment != MARKER || entry.key_type != "ssh-ed25519" {
        return false;
    }
    let Some(options) = entry.options.as_deref() else {
        return false;
    };
    let Some(rest) = options.strip_prefix("from=\"") else {
        return false;
    };
    let Some((from, rest)) = rest.split_once('"') else {
        return false;
    };
    if from.is_empty() || !from.split(',').all(|a| a.parse::<IpAddr>().is_ok()) {
        return false;
    }
    let Some(rest) = rest.strip_prefix(",expiry-time=\"") else {
        return false;
    };
    let Some((stamp, rest)) = rest.split_once('"') else {
        return false;
    };
    // Earlier releases wrote the UTC form with `Z`; both are ours.
    let digits = stamp.strip_suffix('Z').unwrap_or(stamp);
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    rest.is_empty() || rest.starts_with(',')
}

/// `content` without the lines `remove` picks (each with its line end), every other byte
/// kept; `None` when there is none.
pub fn without_lines(content: &[u8], remove: impl Fn(&Entry) -> bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(content.len());
    let mut removed = false;
    for raw in content.split_inclusive(|b| *b == b'\n') {
        let text = raw.strip_suffix(b"\n").unwrap_or(raw);
        let entry = authorized_keys::parse_line(&String::from_utf8_lossy(text));
        if entry.as_ref().is_some_and(&remove) {
            removed = true;
        } else {
            out.extend_from_slice(raw);
        }
    }
    removed.then_some(out)
}

/// The probe goes first (see the module comment).
pub fn with_probe(original: &[u8], line: &str) -> Vec<u8> {
    let mut content = Vec::with_capacity(original.len() + line.len() + 1);
    content.extend_from_slice(line.as_bytes());
    content.push(b'\n');
    content.extend_from_slice(original);
    content
}

pub(super) struct KeysFile {
    ssh_dir: OwnedFd,
    meta: Meta,
    pub(super) content: Vec<u8>,
}

pub(super) fn read_keys_file(home: &Path, uid: u32) -> anyhow::Result<KeysFile> {
    let (parent, name) = safe_fs::open_home_parent(home)?;
    let home_fd = safe_fs::open_dir_at(&parent, name)?;
    let ssh_dir = safe_fs::open_dir_at(&home_fd, OsStr::new(".ssh"))?;
    let name = OsStr::new(AUTHORIZED_KEYS);
    let (mut file, meta) = safe_fs::open_regular_at(&ssh_dir, name)?.ok_or_else(|| {
        anyhow::anyhow!(
            "it does not exist (run `bastion-wizard apply` to install the vendor's key)"
        )
    })?;
    safe_fs::check_not_foreign(&meta, uid, name)?;
    let content = safe_fs::read_all(&mut file)?;
    Ok(KeysFile {
        ssh_dir,
        meta,
        content,
    })
}

impl KeysFile {
    /// Atomic replace keeping the file's owner and mode.
    pub(super) fn replace(&self, content: &[u8]) -> io::Result<()> {
        safe_fs::replace_at(
            &self.ssh_dir,
            OsStr::new(AUTHORIZED_KEYS),
            content,
            self.meta.uid,
            self.meta.gid,
            self.meta.mode,
        )
    }
}

/// The probe line in place; `restore` (or drop, on a panic) takes it out again.
pub(super) struct Installed {
    home: PathBuf,
    uid: u32,
    original: Vec<u8>,
    written: Vec<u8>,
    key_data: String,
    done: bool,
}

impl Installed {
    pub(super) fn write(
        account: &nix::unistd::User,
        line: &str,
        key_data: &str,
    ) -> anyhow::Result<Installed> {
        let uid = account.uid.as_raw();
        let file = read_keys_file(&account.dir, uid)?;
        let written = with_probe(&file.content, line);
        file.replace(&written)?;
        Ok(Installed {
            home: account.dir.clone(),
            uid,
            original: file.content,
            written,
            key_data: key_data.to_string(),
            done: false,
        })
    }

    /// Puts the original bytes back when nobody touched the file meanwhile; otherwise
    /// removes only the probe line and says so.
    pub(super) fn restore(mut self) -> anyhow::Result<String> {
        self.done = true;
        self.undo()
    }

    fn undo(&self) -> anyhow::Result<String> {
        let file = read_keys_file(&self.home, self.uid)?;
        if file.content == self.written {
            file.replace(&self.original)?;
            return Ok("restored byte for byte".into());
        }
        let data = self.key_data.as_str();
        match without_lines(&file.content, |e| e.data == data) {
            Some(content) => {
                file.replace(&content)?;
                Ok(if content == self.original {
                    "restored byte for byte".into()
                } else {
                    "changed by someone else during the proof: only the probe line was removed, their change is kept".into()
                })
            }
            None => Ok(
                "changed by someone else during the proof, and the probe line was already gone"
                    .into(),
            ),
        }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.undo();
        }
    }
}
