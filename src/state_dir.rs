//! The program's own state: a lock, a journal line per run, backups of replaced files,
//! and the wizard's checklist ticks.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

#[derive(Debug, Clone)]
pub struct StateDir {
    pub path: PathBuf,
}

impl StateDir {
    /// `BASTION_WIZARD_STATE_DIR`, else /var/lib/bastion-wizard for root (a system tool's
    /// place), else the user's data directory (preview runs keep their checklist there).
    pub fn locate() -> StateDir {
        if let Some(dir) = std::env::var_os("BASTION_WIZARD_STATE_DIR") {
            return StateDir { path: dir.into() };
        }
        if nix::unistd::geteuid().is_root() {
            return StateDir {
                path: "/var/lib/bastion-wizard".into(),
            };
        }
        let path = directories::ProjectDirs::from("", "", "bastion-wizard")
            .map(|d| d.data_local_dir().to_path_buf())
            .unwrap_or_else(|| std::env::temp_dir().join("bastion-wizard"));
        StateDir { path }
    }

    fn ensure(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .with_context(|| format!("cannot create state directory {}", self.path.display()))
    }

    /// Held for the whole apply, so two runs cannot lose each other's keys.
    pub fn lock(&self) -> Result<Flock<File>> {
        self.ensure()?;
        let path = self.path.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(NO_FOLLOW)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("cannot lock {}: {e}", path.display()))
    }

    /// Keeps the previous content of a file before it is replaced; returns where.
    pub fn backup(&self, label: &str, content: &[u8]) -> Result<PathBuf> {
        let dir = self.path.join("backups");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let path = dir.join(format!("{label}.{}", timestamp_compact()));
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create backup {}", path.display()))?;
        file.write_all(content)?;
        file.sync_all()?;
        prune_backups(&dir, label);
        Ok(path)
    }

    pub fn journal(&self, line: &str) -> Result<()> {
        self.append("journal.log", &format!("{} {line}", utc_now()))
    }

    /// Adds one line to a state file, never through a planted link.
    pub fn append(&self, name: &str, line: &str) -> Result<()> {
        self.ensure()?;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(NO_FOLLOW)
            .open(self.path.join(name))?;
        writeln!(file, "{line}")?;
        Ok(())
    }

    pub fn read(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.path.join(name)).ok()
    }

    /// Small state files (checklist ticks): written whole via a temp file and rename.
    pub fn write(&self, name: &str, content: &str) -> Result<()> {
        self.ensure()?;
        let target = self.path.join(name);
        let temp = self.path.join(format!(".{name}.tmp"));
        write_new(&temp, content.as_bytes())?;
        fs::rename(&temp, &target)?;
        Ok(())
    }
}

/// Never follow a planted link from the state directory to a file root would then write.
const NO_FOLLOW: i32 = nix::libc::O_NOFOLLOW;

/// Backups kept per file; older ones are removed so repeated runs cannot fill the disk.
pub const BACKUPS_KEPT: usize = 10;

fn prune_backups(dir: &Path, label: &str) {
    let prefix = format!("{label}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    // Names end in a fixed-width-enough timestamp: seconds, then nanoseconds.
    names.sort_by_key(|n| {
        let stamp = &n[prefix.len()..];
        let (secs, nanos) = stamp.split_once('.').unwrap_or((stamp, "0"));
        (
            secs.parse::<u64>().unwrap_or(0),
            nanos.parse::<u32>().unwrap_or(0),
        )
    });
    let excess = names.len().saturating_sub(BACKUPS_KEPT);
    for name in &names[..excess] {
        let _ = fs::remove_file(dir.join(name));
    }
}

fn write_new(path: &Path, content: &[u8]) -> Result<()> {
    let _ = fs::remove_file(path);
    let mut file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .custom_flags(NO_FOLLOW)
        .open(path)?;
    file.write_all(content)?;
    file.sync_all()?;
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SSZ`, so the journal reads without tools.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_timestamp(secs)
}

pub use crate::dates::utc_timestamp;

fn timestamp_compact() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_only_the_newest_backups() {
        let dir = tempfile::tempdir().unwrap();
        let state = super::StateDir {
            path: dir.path().to_path_buf(),
        };
        for i in 0..super::BACKUPS_KEPT + 3 {
            state
                .backup("whaly.authorized_keys", format!("v{i}").as_bytes())
                .unwrap();
        }
        let backups = dir.path().join("backups");
        let mut kept: Vec<String> = std::fs::read_dir(&backups)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        kept.sort_by_key(|v| v[1..].parse::<usize>().unwrap());
        assert_eq!(kept.len(), super::BACKUPS_KEPT);
        assert_eq!(
            kept.first().map(String::as_str),
            Some("v3"),
            "the oldest go first"
        );
    }

    #[test]
    fn does_not_follow_a_planted_journal_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "untouched").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("journal.log")).unwrap();
        let state = super::StateDir {
            path: dir.path().to_path_buf(),
        };
        assert!(state.journal("line").is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    }
}
