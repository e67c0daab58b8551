//! The throwaway key pair, made with the system's ssh-keygen in a root-only directory that
//! is removed however the proof ends.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::probe::MARKER;
use crate::state_dir::StateDir;
use crate::tool;

/// ssh-keygen makes an ed25519 pair in milliseconds; a hung one must not hang the proof.
const KEYGEN_LIMIT: Duration = Duration::from_secs(10);

/// A fresh 0700 directory in root's state dir holding the key pair; removed on drop, so
/// every path out of `prove` removes the key.
pub(super) struct ProbeDir {
    path: PathBuf,
}

const PROBE_DIR_PREFIX: &str = "probe-";

impl ProbeDir {
    pub(super) fn create(state_dir: &StateDir) -> anyhow::Result<ProbeDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = state_dir.path.join(format!(
            "{PROBE_DIR_PREFIX}{}-{nanos:09}",
            std::process::id()
        ));
        fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(ProbeDir { path })
    }

    pub(super) fn keygen(&self) -> anyhow::Result<(PathBuf, crate::key::Key)> {
        let private = self.path.join("id_ed25519");
        let mut command = Command::new("ssh-keygen");
        command
            .args(["-q", "-t", "ed25519", "-N", "", "-C", MARKER, "-f"])
            .arg(&private);
        let ran = tool::run(command, KEYGEN_LIMIT, 64 << 10)
            .map_err(|e| anyhow::anyhow!("cannot run ssh-keygen: {e}"))?;
        match ran.status {
            Some(status) if status.success() => {}
            Some(_) => anyhow::bail!("ssh-keygen failed: {}", ran.stderr.trim()),
            None => anyhow::bail!(
                "ssh-keygen did not finish within {} s",
                KEYGEN_LIMIT.as_secs()
            ),
        }
        let public = fs::read_to_string(self.path.join("id_ed25519.pub"))?;
        let key = crate::key::parse(&public).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok((private, key))
    }
}

impl Drop for ProbeDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Key directories a killed run left behind.
pub(super) fn remove_stale_key_dirs(state_dir: &StateDir) {
    let Ok(entries) = fs::read_dir(&state_dir.path) else {
        return;
    };
    for entry in entries.flatten() {
        let is_probe_dir = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PROBE_DIR_PREFIX));
        // symlink_metadata: a planted link is removed as a link, never followed.
        if is_probe_dir && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}
