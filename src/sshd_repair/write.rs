//! The one place the repair touches sshd: back up, write atomically, `sshd -t`, verify
//! with `sshd -T -C` from every vendor address (and for other users, who must see no
//! change), restore byte for byte on any failure, then reload and see sshd listen again.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::{applies, problems, Applies, Placement, Repair, SshdPaths, Tree, MARK};
use crate::ledger::{self, Entry};
use crate::sshd::SshdConfig;
use crate::state_dir::StateDir;

/// Users whose effective configuration must not change: root, and a name no Match User
/// block of ours can touch.
const OTHER_USERS: [&str; 2] = ["root", "bwz-other"];

/// One file's old and new content (`old: None` for a file the repair creates).
struct Change {
    path: PathBuf,
    old: Option<Vec<u8>>,
    new: Vec<u8>,
}

pub fn apply(repair: &Repair, state_dir: &StateDir) -> Result<()> {
    if let Some(why) = &repair.blocked {
        bail!("{why}");
    }
    let paths = &repair.paths;
    paths
        .test()
        .map_err(|e| anyhow!("{e}; nothing was changed"))?;
    let changes = changes(repair)?;
    let before = others(repair)?;
    for change in &changes {
        if let Some(old) = &change.old {
            state_dir.backup(&backup_label(&change.path), old)?;
        }
    }
    let written = write_all(&changes);
    let checked = written.and_then(|()| check(repair, &before));
    if let Err(error) = checked {
        let restored = restore(&changes);
        return Err(match restored {
            Ok(()) => error.context("every file was restored byte for byte; sshd was not reloaded"),
            Err(e) => error.context(format!(
                "RESTORING FAILED ({e:#}): the backups are in {}",
                state_dir.path.display()
            )),
        });
    }
    for change in &changes {
        // The ledger serves undo; failing to write it must not undo a good repair.
        let _ = ledger::record(
            state_dir,
            Entry::WroteSshd {
                user: repair.want.user.clone(),
                file: change.path.clone(),
                new_file: change.old.is_none(),
            },
        );
    }
    for edit in &repair.edits {
        let _ = ledger::record(
            state_dir,
            Entry::EditedSshdLine {
                user: repair.want.user.clone(),
                file: edit.place.file.clone(),
                before: edit.before.clone(),
                after: edit.after.clone(),
            },
        );
    }
    reload(paths)
}

/// Undo's write: each file gets its new content, or is deleted (`None`); backed up
/// first, then `sshd -t`, every file restored byte for byte if sshd rejects the result,
/// then reloaded, the same way as the repair.
pub fn revert(
    paths: &SshdPaths,
    files: &[(PathBuf, Option<Vec<u8>>)],
    state_dir: &StateDir,
) -> Result<()> {
    paths
        .test()
        .map_err(|e| anyhow!("{e}; nothing was changed"))?;
    let mut olds = Vec::new();
    for (path, _) in files {
        let old = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        state_dir.backup(&backup_label(path), &old)?;
        olds.push(Change {
            path: path.clone(),
            old: Some(old),
            new: Vec::new(),
        });
    }
    let written = files.iter().try_for_each(|(path, new)| match new {
        Some(new) => write_file(path, new),
        None => {
            std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))
        }
    });
    let checked = written.and_then(|()| paths.test().map_err(|e| anyhow!("{e} after the change")));
    if let Err(error) = checked {
        return Err(match restore(&olds) {
            Ok(()) => error.context("every file was restored byte for byte; sshd was not reloaded"),
            Err(e) => error.context(format!(
                "RESTORING FAILED ({e:#}): the backups are in {}",
                state_dir.path.display()
            )),
        });
    }
    reload(paths)
}

fn backup_label(path: &Path) -> String {
    path.display()
        .to_string()
        .trim_start_matches('/')
        .replace('/', "_")
}

/// New contents, computed from the files as they are now.
fn changes(repair: &Repair) -> Result<Vec<Change>> {
    let mut changes: Vec<Change> = Vec::new();
    let read = |path: &Path| -> Result<Option<Vec<u8>>> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => bail!(
                "{} is a symbolic link: refusing to replace it; edit it by hand",
                path.display()
            ),
            Ok(_) => {
                Ok(Some(std::fs::read(path).with_context(|| {
                    format!("cannot read {}", path.display())
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow!("cannot look at {}: {e}", path.display())),
        }
    };
    for edit in &repair.edits {
        let old = read(&edit.place.file)?
            .ok_or_else(|| anyhow!("{} is gone", edit.place.file.display()))?;
        let new =
            replace_line(&old, edit.place.number, &edit.before, &edit.after).ok_or_else(|| {
                anyhow!(
                    "{} changed since it was read: line {} is no longer `{}`; rerun",
                    edit.place.file.display(),
                    edit.place.number,
                    edit.before
                )
            })?;
        changes.push(Change {
            path: edit.place.file.clone(),
            old: Some(old),
            new,
        });
    }
    if repair.placement == Placement::None {
        return Ok(changes);
    }
    let block: String = repair.lines.iter().map(|l| format!("{l}\n")).collect();
    let current = changes
        .iter()
        .position(|c| c.path == repair.file)
        .map(|i| changes.remove(i));
    let old = match &current {
        Some(c) => c.old.clone(),
        None => read(&repair.file)?,
    };
    let base = current
        .map(|c| c.new)
        .or_else(|| old.clone())
        .unwrap_or_default();
    let new = match repair.placement {
        Placement::NewFile if old.is_some() => bail!(
            "{} appeared since it was read; rerun",
            repair.file.display()
        ),
        Placement::NewFile | Placement::ReplaceFile => block.into_bytes(),
        Placement::Append => {
            let mut out = base.clone();
            if !out.is_empty() && !out.ends_with(b"\n") {
                out.push(b'\n');
            }
            out.extend_from_slice(b"\n");
            out.extend_from_slice(block.as_bytes());
            out
        }
        Placement::InsertBefore(number) => insert_before(&base, number, &format!("{block}\n"))
            .ok_or_else(|| anyhow!("{} changed since it was read; rerun", repair.file.display()))?,
        Placement::None => unreachable!(),
    };
    changes.push(Change {
        path: repair.file.clone(),
        old,
        new,
    });
    Ok(changes)
}

/// Byte offsets of each line start, so every other byte stays as it was.
fn line_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1),
    );
    starts
}

fn replace_line(bytes: &[u8], number: usize, before: &str, after: &str) -> Option<Vec<u8>> {
    let starts = line_starts(bytes);
    let start = *starts.get(number - 1)?;
    let end = starts.get(number).map(|e| e - 1).unwrap_or(bytes.len());
    let line = &bytes[start..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line != before.as_bytes() {
        return None;
    }
    let mut out = bytes[..start].to_vec();
    out.extend_from_slice(after.as_bytes());
    out.extend_from_slice(&bytes[start + line.len()..]);
    Some(out)
}

fn insert_before(bytes: &[u8], number: usize, text: &str) -> Option<Vec<u8>> {
    let start = *line_starts(bytes).get(number - 1)?;
    let mut out = bytes[..start].to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[start..]);
    Some(out)
}

fn open_parent(path: &Path) -> Result<(OwnedFd, &OsStr)> {
    let parent = path
        .parent()
        .ok_or_else(|| anyhow!("{} has no directory", path.display()))?;
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} has no name", path.display()))?;
    let dir =
        std::fs::File::open(parent).with_context(|| format!("cannot open {}", parent.display()))?;
    Ok((OwnedFd::from(dir), name))
}

/// Atomic replace keeping the file's owner and mode (new files: ours, 0644 as sshd's are).
fn write_file(path: &Path, content: &[u8]) -> Result<()> {
    let (uid, gid, mode) = match std::fs::symlink_metadata(path) {
        Ok(meta) => (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        Err(_) => (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
            0o644,
        ),
    };
    let (dir, name) = open_parent(path)?;
    crate::safe_fs::replace_at(&dir, name, content, uid, gid, mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn write_all(changes: &[Change]) -> Result<()> {
    changes.iter().try_for_each(|c| write_file(&c.path, &c.new))
}

fn restore(changes: &[Change]) -> Result<()> {
    let mut first_error = None;
    for change in changes {
        let result = match &change.old {
            Some(old) => write_file(&change.path, old),
            None => match std::fs::remove_file(&change.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(anyhow!("cannot remove {}: {e}", change.path.display()))
                }
                _ => Ok(()),
            },
        };
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Other users' effective configuration from each vendor address.
fn others(repair: &Repair) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for user in OTHER_USERS {
        for addr in &repair.want.addrs {
            out.push(
                repair
                    .paths
                    .effective(user, *addr)
                    .map_err(|e| anyhow!(e))?,
            );
        }
    }
    Ok(out)
}

/// `sshd -t`, then the user's settings from every vendor address, then other users.
fn check(repair: &Repair, before: &[String]) -> Result<()> {
    repair
        .paths
        .test()
        .map_err(|e| anyhow!("{e} after the change"))?;
    let tree = Tree::read(&repair.paths).ok();
    let want = &repair.want;
    for addr in &want.addrs {
        let text = repair
            .paths
            .effective(&want.user, *addr)
            .map_err(|e| anyhow!(e))?;
        let config = SshdConfig::parse(&text);
        if let Some((keyword, _, why)) = problems(&config, want).into_iter().next() {
            let winner = tree
                .as_ref()
                .map(|t| explain(t, repair, &keyword, *addr))
                .unwrap_or_default();
            bail!(
                "after the change `sshd -T -C user={},addr={addr}` still shows: {why}{winner}",
                want.user
            );
        }
        if let Some(why) = config.user_problem(&want.user, &want.groups, *addr) {
            bail!(
                "after the change `sshd -T -C user={},addr={addr}` still shows: {why}",
                want.user
            );
        }
    }
    let after = others(repair)?;
    for (old, new) in before.iter().zip(&after) {
        if let Some(line) = unexpected_change(old, new, repair) {
            bail!("the change would alter another user's effective configuration ({line})");
        }
    }
    Ok(())
}

/// The first difference that is not one of our additions (sshd -T prints each
/// AllowUsers/AllowGroups name on a line of its own).
fn unexpected_change(old: &str, new: &str, repair: &Repair) -> Option<String> {
    let added: Vec<String> = repair
        .edits
        .iter()
        .map(|e| format!("{} {}", e.keyword, e.word))
        .collect();
    let new: Vec<&str> = new
        .lines()
        .filter(|l| !added.iter().any(|a| a == l) || old.lines().any(|o| o == *l))
        .collect();
    let old: Vec<&str> = old.lines().collect();
    if old == new {
        return None;
    }
    let shown = old
        .iter()
        .zip(&new)
        .find(|(o, n)| o != n)
        .map(|(o, n)| format!("`{o}` would become `{n}`"))
        .unwrap_or_else(|| "a setting would appear or disappear".into());
    Some(shown)
}

/// Which line wins for `keyword`, and why, when the repair's block does not.
pub fn explain(tree: &Tree, repair: &Repair, keyword: &str, addr: std::net::IpAddr) -> String {
    let want = &repair.want;
    let lower = keyword.to_ascii_lowercase();
    let ours = |l: &super::Line| {
        l.place.file == repair.file
            && l.under.as_ref().is_some_and(|m| {
                repair.lines.iter().any(|x| x == MARK)
                    && m.criteria.len() == 2
                    && m.criteria[1] == want.user
            })
    };
    let winner = tree.lines.iter().filter(|l| l.keyword == lower).find(|l| {
        l.under
            .as_ref()
            .is_some_and(|m| applies(&m.criteria, &want.user, &want.groups, addr) != Applies::No)
    });
    match winner {
        Some(line) if !ours(line) => {
            let m = line
                .under
                .as_ref()
                .map(|m| format!("{} (Match {})", m.place, m.criteria.join(" ")))
                .unwrap_or_default();
            format!(
                ": a Match block at {m} sets `{}` at {} before the repair's block is read: for each keyword sshd keeps the first value it obtains; move or change that line by hand",
                line.text.trim(),
                line.place
            )
        }
        _ => String::new(),
    }
}

/// Reload, never restart: systemd's reload where systemd runs, else SIGHUP to the pid in
/// sshd's PidFile. Then sshd must listen again on its ports.
fn reload(paths: &SshdPaths) -> Result<()> {
    let global = paths
        .sshd()
        .arg("-T")
        .output()
        .context("cannot run sshd -T")?;
    let config = SshdConfig::parse(&String::from_utf8_lossy(&global.stdout));
    let ports = config.ports();
    let listened = crate::sshd::listening_ports();
    if paths.systemd_marker.exists() {
        let ok = ["ssh", "sshd"].iter().any(|unit| {
            std::process::Command::new("systemctl")
                .args(["reload", unit])
                .status()
                .is_ok_and(|s| s.success())
        });
        if !ok {
            bail!("the repair is written and verified, but `systemctl reload ssh` (and sshd) failed: reload sshd by hand");
        }
    } else {
        let pidfile = config.get("pidfile").unwrap_or("/run/sshd.pid");
        let Some(pid) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        else {
            // No running sshd to tell: it reads the repaired files when it starts.
            return Ok(());
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !comm.trim().starts_with("sshd") {
            bail!(
                "the pid {pid} in {pidfile} is not sshd ({}): reload sshd by hand",
                comm.trim()
            );
        }
        if let Err(e) = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGHUP,
        ) {
            bail!("cannot send SIGHUP to sshd (pid {pid}): {e}");
        }
    }
    let expected: Vec<u16> = ports.into_iter().filter(|p| listened.contains(p)).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // Right after SIGHUP the old listener may still be seen; give sshd a moment to re-exec.
        std::thread::sleep(Duration::from_millis(200));
        let now = crate::sshd::listening_ports();
        if expected.iter().all(|p| now.contains(p)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("sshd no longer listens on port(s) {expected:?} after the reload: look at its log (journalctl -u ssh) at once");
        }
    }
}
