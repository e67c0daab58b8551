//! For vendors whose form asks the customer for a *private* key (`key_source = "customer"`:
//! Airbyte, Metabase): a fresh ed25519 pair made by the real `ssh-keygen`, written straight
//! into a new root-only directory under the state directory. The public half is installed
//! like a pasted key; the private half exists in that one file only, which the person pastes
//! into the vendor's form and then shreds. This program never reads, prints, journals or
//! records the private half.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::key::{self, Key};
use crate::state_dir::StateDir;

/// A generated pair: the public half parsed, and where the private half is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub key: Key,
    pub private_key: PathBuf,
}

/// Makes the pair for `user`. Needs root (the state directory is root's).
pub fn generate(state_dir: &StateDir, user: &str) -> Result<Generated> {
    let keys = state_dir.path.join("keys");
    private_dir(&state_dir.path, true)?;
    private_dir(&keys, true)?;
    // A directory of its own that did not exist: nothing can be planted in it beforehand.
    let stamp = crate::state_dir::utc_now().replace([':', '-'], "");
    let dir = (0..100)
        .map(|n| keys.join(format!("{user}-{stamp}-{}-{n}", std::process::id())))
        .find(|dir| private_dir(dir, false).is_ok())
        .context("cannot create a new directory for the key pair")?;
    let comment = format!("bastion-wizard {user} {}", &stamp[..8]);
    pair_in(&dir, |path| {
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", &comment, "-f"])
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .context("cannot run ssh-keygen")?;
        if !out.status.success() {
            bail!(
                "ssh-keygen failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    })
}

/// Makes the pair in `dir` with `keygen` and reads its public half; on any failure the
/// directory goes, so no private key is left that nobody was told about.
fn pair_in(dir: &Path, keygen: impl FnOnce(&Path) -> Result<()>) -> Result<Generated> {
    let path = dir.join("id_ed25519");
    let made = keygen(&path).and_then(|()| {
        let public = dir.join("id_ed25519.pub");
        let text = fs::read_to_string(&public).context("cannot read the generated public key")?;
        let _ = fs::remove_file(&public);
        let meta = fs::symlink_metadata(&path)?;
        if !meta.file_type().is_file() || meta.mode() & 0o077 != 0 {
            bail!("ssh-keygen left {} other than a 0600 file", path.display());
        }
        key::parse(&text).map_err(|e| anyhow::anyhow!("{e}"))
    });
    match made {
        Ok(key) => Ok(Generated {
            key,
            private_key: path,
        }),
        Err(e) => {
            let _ = fs::remove_dir_all(dir);
            Err(e)
        }
    }
}

impl Generated {
    /// Removes the pair when it was not installed: a private key nobody uses is only a risk.
    pub fn discard(&self) {
        if let Some(dir) = self.private_key.parent() {
            let _ = fs::remove_dir_all(dir);
        }
    }

    /// What the person does next, in order.
    pub fn instructions(&self, vendor: &str) -> Vec<String> {
        let path = self.private_key.display();
        vec![
            format!("The private key for {vendor} is in {path} (root only; nowhere else)."),
            format!(
                "Paste it into {vendor}'s SSH tunnel form: `sudo cat {path}`, copy everything from \
                 -----BEGIN to END----- lines included."
            ),
            format!("Then destroy it here: `sudo shred -u {path}`"),
        ]
    }
}

/// Creates (or, with `may_exist`, accepts) a directory only root can enter. An existing one
/// must be a real directory of ours with no group/other access.
fn private_dir(path: &Path, may_exist: bool) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if may_exist && e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
    let meta = fs::symlink_metadata(path)?;
    if !meta.file_type().is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
        bail!(
            "{} is not a directory owned by this user; refusing to write a private key there",
            path.display()
        );
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever fails after the private half exists, the directory holding it goes.
    #[test]
    fn a_pair_whose_public_half_is_unusable_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        for public in [None, Some("not a key")] {
            let pair = dir.path().join("pair");
            fs::DirBuilder::new().mode(0o700).create(&pair).unwrap();
            let made = pair_in(&pair, |path| {
                fs::write(path, "-----BEGIN OPENSSH PRIVATE KEY-----\n")?;
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
                if let Some(text) = public {
                    fs::write(path.with_extension("pub"), text)?;
                }
                Ok(())
            });
            assert!(made.is_err(), "{public:?}");
            assert!(!pair.exists(), "the private half was left for {public:?}");
        }
    }

    #[test]
    fn a_pair_lands_in_a_fresh_private_directory_and_only_there() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir {
            path: dir.path().join("state"),
        };
        let g = generate(&state, "airbyte").unwrap();
        assert_eq!(g.key.algorithm, "ssh-ed25519");
        let meta = fs::symlink_metadata(&g.private_key).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let parent = g.private_key.parent().unwrap();
        assert_eq!(fs::metadata(parent).unwrap().mode() & 0o777, 0o700);
        assert_eq!(
            fs::read_dir(parent).unwrap().count(),
            1,
            "only the private half"
        );
        let text = fs::read_to_string(&g.private_key).unwrap();
        assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        let second = generate(&state, "airbyte").unwrap();
        assert_ne!(second.private_key, g.private_key, "never reused");
        g.discard();
        assert!(!parent.exists());
    }

    #[test]
    fn a_planted_link_for_the_keys_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir {
            path: dir.path().join("state"),
        };
        fs::create_dir(&state.path).unwrap();
        std::os::unix::fs::symlink(dir.path(), state.path.join("keys")).unwrap();
        assert!(generate(&state, "airbyte").is_err());
    }
}
