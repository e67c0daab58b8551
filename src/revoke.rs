//! `revoke FINGERPRINT` and the wizard's revoke action: every line holding that key goes
//! (whatever its options), every other byte stays, the old file is backed up. The plan is
//! worked out from the same list `keys` shows; the write is apply's.

use crate::apply;
use crate::authorized_keys;
use crate::inspect;
use crate::key;
use crate::key_list::{KeyLine, KeyList};
use crate::ledger::{self, Entry};
use crate::state_dir::StateDir;

/// A fingerprint as `ssh-keygen -l` prints it: `SHA256:` and 43 characters of unpadded
/// base64. The prefix may be left out; an MD5 one is refused with what to use instead.
pub fn parse_fingerprint(input: &str) -> Result<String, String> {
    let text = input.trim();
    if text.starts_with("MD5:") || text.matches(':').count() == 15 {
        return Err(format!(
            "\"{text}\" is an MD5 fingerprint: give the SHA256 one (`bastion-wizard keys` lists them)"
        ));
    }
    let body = text.strip_prefix("SHA256:").unwrap_or(text);
    let base64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
    if body.len() == 43 && body.chars().all(base64) {
        Ok(format!("SHA256:{body}"))
    } else {
        Err(format!(
            "\"{text}\" is not a key fingerprint: give it as `ssh-keygen -l` prints it, SHA256: and 43 characters (`bastion-wizard keys` lists them)"
        ))
    }
}

/// What revoking will do: the lines that go, shown before anything changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokePlan {
    pub user: String,
    pub fingerprint: String,
    pub lines: Vec<KeyLine>,
    /// What a person would type for the same.
    pub command: String,
}

/// The plan, or `None` when no login line holds that key (a cert-authority line is not
/// a login with the key, and stays).
pub fn plan(list: &KeyList, fingerprint: &str, path: &std::path::Path) -> Option<RevokePlan> {
    let data = &list
        .keys
        .iter()
        .find(|k| k.fingerprint == fingerprint)?
        .data;
    let lines: Vec<KeyLine> = list
        .keys
        .iter()
        .filter(|k| {
            authorized_keys::same_key(&k.data, data)
                && !authorized_keys::KeyOptions::parse(Some(&k.options))
                    .is_ok_and(|o| o.cert_authority)
        })
        .cloned()
        .collect();
    if lines.is_empty() {
        // Only cert-authority lines hold it: no login with this key to revoke.
        return None;
    }
    let numbers: Vec<String> = lines.iter().map(|k| format!("{}d", k.line)).collect();
    Some(RevokePlan {
        user: list.user.clone(),
        fingerprint: fingerprint.to_string(),
        command: format!("sed -i '{}' {}", numbers.join(";"), path.display()),
        lines,
    })
}

impl RevokePlan {
    pub fn render(&self) -> String {
        let mut out = format!(
            "Revoke {} for {}: {} line(s) go, every other line stays byte for byte, the old file is backed up.\n",
            self.fingerprint,
            self.user,
            self.lines.len()
        );
        for k in &self.lines {
            let options = if k.options.is_empty() {
                String::new()
            } else {
                format!("{} ", key::printable(&k.options))
            };
            out.push_str(&format!(
                "  line {}: {options}{} {}\n",
                k.line,
                k.key_type,
                if k.comment.is_empty() {
                    "(no comment)".to_string()
                } else {
                    key::printable(&k.comment)
                }
            ));
        }
        out.push_str(&format!("  $ {}\n", self.command));
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// These 1-based lines were taken out.
    Removed(Vec<usize>),
    NoSuchKey,
    NotRoot,
    Failed(String),
}

impl Outcome {
    /// What `revoke` and the wizard say happened; `backups` is where the old file went.
    pub fn words(&self, backups: &std::path::Path) -> String {
        match self {
            Outcome::Removed(lines) => format!(
                "Revoked: line(s) {} removed; the old file is backed up in {}.",
                lines
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                backups.display()
            ),
            Outcome::NoSuchKey => "the key is no longer in the file; nothing was changed".into(),
            Outcome::NotRoot => {
                "revoke needs root: run sudo bastion-wizard. Nothing was changed.".into()
            }
            Outcome::Failed(error) => format!("revoke failed, nothing was changed: {error}"),
        }
    }

    pub fn ok(&self) -> bool {
        matches!(self, Outcome::Removed(_))
    }
}

/// Takes the key's lines out, under the state-dir lock, judged on the file as it is then.
pub fn revoke(user: &str, fingerprint: &str, state_dir: &StateDir) -> Outcome {
    if !inspect::is_root() {
        return Outcome::NotRoot;
    }
    let _lock = match state_dir.lock() {
        Ok(lock) => lock,
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    let mut removed = Vec::new();
    let wrote = apply::rewrite_authorized_keys(user, state_dir, |existing| {
        let data = authorized_keys::numbered_entries(existing)
            .into_iter()
            .map(|(_, e)| e)
            .find(|e| key::facts(&e.key_type, &e.data).fingerprint.as_deref() == Some(fingerprint))?
            .data;
        let removal = authorized_keys::remove(existing, &data);
        removed = removal.lines;
        (!removed.is_empty()).then_some(removal.content)
    });
    match wrote {
        Ok(false) => Outcome::NoSuchKey,
        Ok(true) => {
            let _ = ledger::record(
                state_dir,
                Entry::RemovedKey {
                    user: user.to_string(),
                    fingerprint: fingerprint.to_string(),
                },
            );
            let _ = state_dir.journal(&format!(
                "revoke user={user} key={fingerprint} lines={removed:?}"
            ));
            Outcome::Removed(removed)
        }
        Err(e) => Outcome::Failed(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_read_as_ssh_keygen_prints_them() {
        let fp = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        assert_eq!(parse_fingerprint(fp).unwrap(), fp);
        assert_eq!(parse_fingerprint(&fp[7..]).unwrap(), fp);
        assert!(
            parse_fingerprint("MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48")
                .unwrap_err()
                .contains("MD5")
        );
        assert!(parse_fingerprint("whaly").is_err());
        assert!(parse_fingerprint("SHA256:short").is_err());
    }
}
