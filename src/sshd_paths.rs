//! Files sshd consults for this user beyond authorized_keys: the ChrootDirectory, which
//! must be root-owned and unwritable by others all the way down, and the RevokedKeys list.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use crate::authorized_keys;
use crate::key::Key;

/// Why sshd could not chroot into `dir` (session.c's safely_chroot), if it could not.
pub fn chroot_problem(dir: &str) -> Option<String> {
    if !dir.starts_with('/') {
        return Some(format!("ChrootDirectory {dir} is not an absolute path"));
    }
    let mut path = std::path::PathBuf::from("/");
    let components: Vec<_> = Path::new(dir).components().skip(1).collect();
    let check = |p: &Path| -> Option<String> {
        match std::fs::metadata(p) {
            Err(_) => Some(format!("ChrootDirectory {dir}: {} does not exist", p.display())),
            Ok(m) if !m.is_dir() => Some(format!("ChrootDirectory {dir}: {} is not a directory", p.display())),
            Ok(m) if m.uid() != 0 || m.mode() & 0o022 != 0 => Some(format!(
                "ChrootDirectory {dir}: {} must be owned by root and not writable by group or others (owner uid {}, mode {:04o})",
                p.display(),
                m.uid(),
                m.mode() & 0o7777
            )),
            Ok(_) => None,
        }
    };
    if let Some(problem) = check(&path) {
        return Some(problem);
    }
    for component in components {
        path.push(component);
        if let Some(problem) = check(&path) {
            return Some(problem);
        }
    }
    None
}

/// What a RevokedKeys file says of the vendor's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The file is missing or unreadable: sshd then refuses every key.
    Unreadable(String),
    /// The key is listed.
    Revoked,
    /// The key is not listed (or no key was given to look for).
    Clear,
    /// A KRL that could not be asked.
    Unknown(String),
}

const KRL_MAGIC: &[u8] = b"SSHKRL\n\0";

/// Reads a RevokedKeys file as sshd does: a KRL (asked through `ssh-keygen -Q`), else a
/// list of public keys.
pub fn revocation(file: &str, key: Option<&Key>) -> Revocation {
    let content = match std::fs::read(file) {
        Ok(c) => c,
        Err(e) => return Revocation::Unreadable(e.to_string()),
    };
    let Some(key) = key else {
        return Revocation::Clear;
    };
    if content.starts_with(KRL_MAGIC) {
        return krl_lists(file, key);
    }
    if authorized_keys::contains_key(&content, &key.data) {
        Revocation::Revoked
    } else {
        Revocation::Clear
    }
}

fn krl_lists(file: &str, key: &Key) -> Revocation {
    let Ok(dir) = tempdir() else {
        return Revocation::Unknown("no private temp directory for ssh-keygen".into());
    };
    let public = dir.join("key.pub");
    if std::fs::write(&public, format!("{}\n", key.canonical())).is_err() {
        let _ = std::fs::remove_dir_all(&dir);
        return Revocation::Unknown("cannot write the key for ssh-keygen".into());
    }
    let output = Command::new("ssh-keygen")
        .args(["-Q", "-f", file])
        .arg(&public)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    match output {
        Ok(o) if o.status.success() => Revocation::Clear,
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("REVOKED") => Revocation::Revoked,
        Ok(o) => Revocation::Unknown(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Revocation::Unknown(format!("cannot run ssh-keygen: {e}")),
    }
}

fn tempdir() -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir =
        std::env::temp_dir().join(format!("bastion-wizard-krl-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chroot_must_be_root_owned_and_exist() {
        assert_eq!(chroot_problem("/"), None);
        assert!(chroot_problem("/nonexistent-bwz")
            .unwrap()
            .contains("does not exist"));
        assert!(chroot_problem("relative").is_some());
        let dir = std::env::temp_dir();
        // /tmp is world-writable (sticky): sshd refuses it.
        assert!(chroot_problem(&dir.display().to_string()).is_some());
    }
}
