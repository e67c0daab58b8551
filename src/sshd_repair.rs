//! `--fix-sshd`: repairs the sshd settings that block the tunnel user, scoped to that user
//! with a `Match User` block (or the smallest edit of an Allow/Deny line), validated with
//! `sshd -t`, verified per vendor address with `sshd -T -C`, rolled back byte for byte
//! otherwise, then reloaded (never restarted).

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::inspect::{HostState, Request};
use crate::state_dir::StateDir;

/// sshd's configuration files as read by inspect, so the repair is planned purely.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshdFiles {
    /// Why the files could not be read, when they could not.
    pub unreadable: Option<String>,
}

/// The repair as the plan shows it: where, the exact lines, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The file the `Match User` block goes into.
    pub file: PathBuf,
    /// The exact lines written.
    pub lines: Vec<String>,
    /// One sentence per failing setting that the repair mends.
    pub reasons: Vec<String>,
}

pub fn read_files(is_root: bool) -> SshdFiles {
    SshdFiles {
        unreadable: (!is_root).then(|| "run as root to read sshd's configuration".into()),
    }
}

/// What `--fix-sshd` would change, or `None` when no sshd setting blocks the tunnel.
pub fn plan(_request: &Request, _state: &HostState) -> Option<Repair> {
    None
}

/// Applies the repair: backup, write, `sshd -t`, verify, reload; restores every file on
/// any failure.
pub fn apply(_repair: &Repair, _request: &Request, _state_dir: &StateDir) -> Result<()> {
    bail!("sshd repair is not available yet")
}
