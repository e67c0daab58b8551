//! What a killed run leaves: at most a loopback-only, expiring probe line and a key
//! directory, which the next command run as root removes.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;

use nix::fcntl::{Flock, FlockArg};

use super::probe::{is_probe, read_keys_file, without_lines};
use super::throwaway_key::remove_stale_key_dirs;
use crate::inspect;
use crate::state_dir::StateDir;

/// Removes probe lines a killed run left behind (loopback-only, expiring). Every command
/// that runs as root calls this first.
pub fn remove_leftover_probes(user: &str) {
    if !inspect::is_root() {
        return;
    }
    let state_dir = StateDir::locate();
    // A proof or an apply in progress holds the lock; its probe is not a leftover.
    let Some(_lock) = try_lock(&state_dir) else {
        return;
    };
    remove_stale_key_dirs(&state_dir);
    let Some(account) = nix::unistd::User::from_name(user).ok().flatten() else {
        return;
    };
    let Ok(file) = read_keys_file(&account.dir, account.uid.as_raw()) else {
        return;
    };
    if let Some(content) = without_lines(&file.content, is_probe) {
        match file.replace(&content) {
            Ok(()) => eprintln!(
                "bastion-wizard: removed the probe line an interrupted `verify` left in {}",
                account.dir.join(".ssh/authorized_keys").display()
            ),
            Err(e) => eprintln!(
                "bastion-wizard: cannot remove the probe line an interrupted `verify` left in {}: {e}",
                account.dir.join(".ssh/authorized_keys").display()
            ),
        }
    }
}

/// The state dir's lock if nobody holds it. `Some` without a lock when there is no state
/// dir yet: then no run of ours is in progress either.
fn try_lock(state_dir: &StateDir) -> Option<Option<Flock<fs::File>>> {
    if !state_dir.path.is_dir() {
        return Some(None);
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(state_dir.path.join("lock"))
        .ok()?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .ok()
        .map(Some)
}
