//! The one place that changes the host. Everything it does is a step of the plan, and
//! every step is re-judged under the lock right before it runs, so a rerun changes nothing.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use nix::fcntl::Flock;
use nix::unistd::{Group, User};

use crate::authorized_keys::{self, Merge};
use crate::inspect;
use crate::ledger::{self, Entry};
use crate::plan::{self, Action, Plan, Refusal, StepState};
use crate::safe_fs;
use crate::setup::Request;
use crate::sshd_repair;
use crate::state_dir::StateDir;

/// What a front end hears while apply runs, to show progress as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    Planned(&'a Plan),
    Running(usize),
    StepDone(usize),
    StepFailed(usize, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every step is done; `changed` counts the steps that did something this run.
    Done {
        changed: usize,
    },
    /// Bad request for this host; nothing was changed.
    Refused(Refusal),
    /// A step cannot run as things stand (planted symlink, hard link…); nothing was changed.
    Blocked(Vec<BlockedStep>),
    /// A step failed after others ran. Every step is idempotent, so a rerun is safe.
    Failed {
        done: Vec<String>,
        /// The step that failed; none when the run could not start (the lock).
        step: Option<String>,
        error: String,
    },
    NotRoot,
}

/// A step that cannot run, and what to do about it by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedStep {
    pub title: String,
    pub detail: String,
}

/// An outcome in words: the headline, then what follows it. The CLI and the wizard's
/// Apply screen both say exactly this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub ok: bool,
    pub headline: String,
    pub lines: Vec<String>,
}

impl Outcome {
    pub fn summary(&self) -> Summary {
        let (ok, headline, lines) = match self {
            Outcome::Done { changed: 0 } => (true, "Nothing needed changing.".to_string(), vec![]),
            Outcome::Done { changed } => {
                (true, format!("Done: {changed} step(s) applied."), vec![])
            }
            Outcome::Refused(why) => (
                false,
                format!("Refused, nothing was changed: {why}."),
                vec![],
            ),
            Outcome::Blocked(steps) => (
                false,
                "Refused, nothing was changed: these steps cannot run as things stand:".to_string(),
                steps
                    .iter()
                    .map(|s| format!("- {}: {}", s.title, s.detail))
                    .collect(),
            ),
            Outcome::Failed { done, step, error } => (
                false,
                match step {
                    Some(step) => format!("Failed at \"{step}\": {error}"),
                    None => format!("Failed before any step: {error}"),
                },
                vec![
                    if done.is_empty() {
                        "Nothing was changed before the failure.".to_string()
                    } else {
                        format!("Done before the failure: {}.", done.join("; "))
                    },
                    "Rerunning is safe: finished steps are skipped.".to_string(),
                ],
            ),
            Outcome::NotRoot => (
                false,
                "Applying needs root: run it again with sudo. Nothing was changed.".to_string(),
                vec![],
            ),
        };
        Summary {
            ok,
            headline,
            lines,
        }
    }
}

/// What every change to the host starts with: root, then the state directory's lock,
/// held for the whole run; otherwise the outcome that says why nothing was changed.
pub fn begin(state_dir: &StateDir) -> Result<Flock<File>, Outcome> {
    if !inspect::is_root() {
        return Err(Outcome::NotRoot);
    }
    state_dir.lock().map_err(|e| Outcome::Failed {
        done: Vec::new(),
        step: None,
        error: format!("{e:#}"),
    })
}

pub fn apply(request: &Request, state_dir: &StateDir, on_event: &mut dyn FnMut(Event)) -> Outcome {
    let _lock = match begin(state_dir) {
        Ok(lock) => lock,
        Err(outcome) => return outcome,
    };
    let state = inspect::for_applying(request);
    let plan = match plan::prepare(request, &state) {
        Ok(plan) => plan,
        Err(why) => return Outcome::Refused(why),
    };
    on_event(Event::Planned(&plan));
    let blocked: Vec<BlockedStep> = plan
        .blocking()
        .iter()
        .map(|s| BlockedStep {
            title: s.title.clone(),
            detail: s.detail.clone(),
        })
        .collect();
    if !blocked.is_empty() {
        journal(state_dir, request, "blocked, nothing changed");
        return Outcome::Blocked(blocked);
    }
    let mut done = Vec::new();
    for (index, step) in plan.steps.iter().enumerate() {
        if step.state != StepState::ToDo {
            continue;
        }
        on_event(Event::Running(index));
        match execute(&step.action, request, state_dir) {
            Ok(()) => {
                record(&step.action, request, state_dir);
                if matches!(step.action, Action::CreateUser { .. })
                    && matches!(state.home, inspect::Node::Missing)
                {
                    // useradd -m made the home: undo may delete it with the user.
                    let _ = ledger::record(
                        state_dir,
                        Entry::CreatedHome {
                            user: request.user.clone(),
                            home: state.home_path.clone(),
                        },
                    );
                }
                on_event(Event::StepDone(index));
                done.push(step.title.clone());
            }
            Err(e) => {
                let error = format!("{e:#}");
                on_event(Event::StepFailed(index, error.clone()));
                journal(
                    state_dir,
                    request,
                    &format!("failed at \"{}\": {error}", step.title),
                );
                return Outcome::Failed {
                    done,
                    step: Some(step.title.clone()),
                    error,
                };
            }
        }
    }
    journal(
        state_dir,
        request,
        &format!("ok, {} step(s) changed", done.len()),
    );
    record_setup(request, state_dir);
    Outcome::Done {
        changed: done.len(),
    }
}

/// Notes how the user was set up, once per change of it: a rerun asking the same adds
/// nothing, so the ledger does not grow with reruns.
fn record_setup(request: &Request, state_dir: &StateDir) {
    let applied = Entry::Applied {
        user: request.user.clone(),
        vendor: request.vendor.clone(),
        allow_shell: request.access.allow_shell,
        permit_open: request
            .access
            .permit_open
            .iter()
            .map(ToString::to_string)
            .collect(),
        from_vendor_ips: !request.access.from.is_empty(),
    };
    if ledger::Ledger::read(state_dir).last_applied(&request.user) != Some(&applied) {
        let _ = ledger::record(state_dir, applied);
    }
}

fn journal(state_dir: &StateDir, request: &Request, result: &str) {
    let key = request
        .key
        .as_ref()
        .map(|k| k.fingerprint.as_str())
        .unwrap_or("-");
    // The journal is a convenience; failing to write it must not fail the setup.
    let _ = state_dir.journal(&format!("apply user={} key={key} {result}", request.user));
}

/// Notes in the ledger what this run created, after it succeeded, so that undo and
/// `keys` know what is ours. The key and the sshd repair record
/// their own, since only they know whether a line or file was there before.
fn record(action: &Action, request: &Request, state_dir: &StateDir) {
    let created_group = || Entry::CreatedGroup {
        group: request.group.clone(),
        gid: Group::from_name(&request.group)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw()),
    };
    let created_user = || Entry::CreatedUser {
        user: request.user.clone(),
        group: request.group.clone(),
        uid: User::from_name(&request.user)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw()),
    };
    let entries = match action {
        Action::CreateGroup => vec![created_group()],
        Action::CreateUser { own_group, .. } if *own_group => {
            vec![created_group(), created_user()]
        }
        Action::CreateUser { .. } => vec![created_user()],
        _ => return,
    };
    for entry in entries {
        // Like the journal, the ledger must not fail a setup that succeeded.
        let _ = ledger::record(state_dir, entry);
    }
}

fn execute(action: &Action, request: &Request, state_dir: &StateDir) -> Result<()> {
    let user = request.user.as_str();
    let group = request.group.as_str();
    match action {
        Action::CreateGroup => run_account_tool(Command::new("groupadd").arg(group), || {
            Group::from_name(group).ok().flatten().is_some()
        }),
        Action::CreateUser { shell, own_group } => {
            let mut command = Command::new("useradd");
            if *own_group {
                command.args(["-m", "-U"]);
            } else {
                command.args(["-m", "-g", group]);
            }
            if let Some(shell) = shell {
                command.arg("-s").arg(shell);
            }
            command.args(["-p", "*", user]);
            run_account_tool(&mut command, || {
                User::from_name(user).ok().flatten().is_some()
            })
        }
        Action::Unlock => {
            run_account_tool(Command::new("usermod").args(["-p", "*", user]), || false)
        }
        Action::ClearAging { args } => run_account_tool(Command::new("chage").args(args), || false),
        Action::SetShell { shell } => run_account_tool(
            Command::new("usermod").arg("-s").arg(shell).arg(user),
            || false,
        ),
        Action::SecureHome => secure_home(user),
        Action::SshDir => {
            let account = account(user)?;
            let home = open_home(&account.home)?;
            safe_fs::ensure_dir_at(&home, OsStr::new(".ssh"), account.uid, account.gid, 0o700)?;
            Ok(())
        }
        Action::AuthorizedKeys => {
            let account = account(user)?;
            let ssh = open_ssh_dir(&account.home)?;
            safe_fs::ensure_file_at(
                &ssh,
                OsStr::new("authorized_keys"),
                account.uid,
                account.gid,
                0o600,
            )?;
            Ok(())
        }
        Action::InstallKey { line, data } => {
            let fingerprint = request.key.as_ref().map(|k| k.fingerprint.as_str());
            install_key(user, line, data, fingerprint, state_dir)
        }
        Action::RepairSshd(repair) => sshd_repair::apply(repair, request, state_dir),
        Action::RestoreLabels => {
            let account = account(user)?;
            run_account_tool(
                Command::new("restorecon")
                    .arg("-R")
                    .arg(account.home.join(".ssh")),
                || false,
            )
        }
    }
}

struct Account {
    uid: u32,
    gid: u32,
    home: PathBuf,
}

fn account(user: &str) -> Result<Account> {
    let found = User::from_name(user)
        .context("cannot look up the user")?
        .ok_or_else(|| anyhow!("user {user} does not exist"))?;
    Ok(Account {
        uid: found.uid.as_raw(),
        gid: found.gid.as_raw(),
        home: found.dir,
    })
}

/// Runs groupadd/useradd/usermod. They honour the system's locks and defaults. Exit 9
/// ("name in use") is ambiguous: a run that lost a race to the same name is fine when
/// the name now resolves; any other failure is an error.
fn run_account_tool(command: &mut Command, already_there: impl Fn() -> bool) -> Result<()> {
    const NAME_IN_USE: i32 = 9;
    let shown = format!("{command:?}").replace('"', "");
    let output = command
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    let code = output.status.code();
    if output.status.success() || (code == Some(NAME_IN_USE) && already_there()) {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    bail!(
        "`{shown}` failed (exit {}): {}",
        code.unwrap_or(-1),
        stderr.trim()
    )
}

fn open_home(home: &Path) -> Result<OwnedFd> {
    let (parent, name) = safe_fs::open_home_parent(home)?;
    Ok(safe_fs::open_dir_at(&parent, name)?)
}

fn open_ssh_dir(home: &Path) -> Result<OwnedFd> {
    let home_fd = open_home(home)?;
    Ok(safe_fs::open_dir_at(&home_fd, OsStr::new(".ssh"))?)
}

/// Creates a missing home, takes over one left by an earlier account, and removes
/// group/other write, all on the opened fd.
fn secure_home(user: &str) -> Result<()> {
    let account = account(user)?;
    let (parent, name) = safe_fs::open_home_parent(&account.home)?;
    if safe_fs::stat_at(&parent, name)?.is_none() {
        safe_fs::ensure_dir_at(&parent, name, account.uid, account.gid, 0o750)?;
        return Ok(());
    }
    let home = safe_fs::open_dir_at(&parent, name)?;
    let meta = nix::sys::stat::fstat(&home)?;
    let owner = safe_fs::Meta::of(&meta);
    safe_fs::check_not_foreign(&owner, account.uid, name)?;
    if meta.st_uid != account.uid && meta.st_uid != 0 {
        nix::unistd::fchown(
            &home,
            Some(nix::unistd::Uid::from_raw(account.uid)),
            Some(nix::unistd::Gid::from_raw(account.gid)),
        )?;
    }
    safe_fs::strip_group_other_write(&home)?;
    Ok(())
}

fn install_key(
    user: &str,
    line: &str,
    data: &str,
    fingerprint: Option<&str>,
    state_dir: &StateDir,
) -> Result<()> {
    let mut added = false;
    let wrote =
        rewrite_authorized_keys(user, state_dir, |existing| {
            match authorized_keys::merge(existing, line, data) {
                Merge::Unchanged => None,
                Merge::Added(content) => {
                    added = true;
                    Some(content)
                }
                Merge::Updated(content) => Some(content),
            }
        })?;
    if let (true, true, Some(fingerprint)) = (wrote, added, fingerprint) {
        let _ = ledger::record(
            state_dir,
            Entry::AddedKey {
                user: user.to_string(),
                fingerprint: fingerprint.to_string(),
            },
        );
    }
    Ok(())
}

/// The one way this program rewrites a user's authorized_keys (install, revoke, undo):
/// opened without following links, refused unless a regular, singly linked file of the
/// user's or root's; `edit` turns the current bytes into the new ones (`None`: leave it);
/// the old file is backed up, the new one written atomically 0600. Returns whether it
/// wrote. Callers hold the state-dir lock.
pub(crate) fn rewrite_authorized_keys(
    user: &str,
    state_dir: &StateDir,
    edit: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
) -> Result<bool> {
    let account = account(user)?;
    let ssh = open_ssh_dir(&account.home)?;
    let name = OsStr::new("authorized_keys");
    let existing = match safe_fs::open_regular_at(&ssh, name)? {
        Some((mut file, meta)) => {
            safe_fs::check_not_foreign(&meta, account.uid, name)?;
            safe_fs::read_all(&mut file)?
        }
        None => Vec::new(),
    };
    let Some(content) = edit(&existing) else {
        return Ok(false);
    };
    if !existing.is_empty() {
        state_dir.backup(&format!("{user}.authorized_keys"), &existing)?;
    }
    safe_fs::replace_at(&ssh, name, &content, account.uid, account.gid, 0o600)?;
    Ok(true)
}
