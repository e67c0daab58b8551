//! Undo's effects: under the state-dir lock the host is read again, the plan made again
//! and each step run through the one writer for its kind of file (apply's for
//! authorized_keys, the repair's for sshd), each recorded in the ledger once done.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use nix::unistd::{Group, User};

use super::{plan, Facts, UndoAction, UndoPlan};
use crate::apply::{self, Event, Outcome};
use crate::authorized_keys;
use crate::inspect;
use crate::ledger::{self, Entry, Ledger};
use crate::plan::StepState;
use crate::sshd_repair::{self, SshdPaths};
use crate::state_dir::StateDir;

/// What the host holds now for the user's undo.
pub fn gather(user: &str, group: &str, ledger: &Ledger) -> Facts {
    let account = User::from_name(user).ok().flatten();
    let home = account.as_ref().map(|a| a.dir.clone());
    let keys = inspect::authorized_keys_of(user).ok().flatten();
    let sshd_files = ledger
        .sshd_writes(user)
        .into_iter()
        .map(|(file, _)| {
            let content = std::fs::read(&file).ok();
            (file, content)
        })
        .collect();
    let found_group = Group::from_name(group).ok().flatten();
    let mut group_used_by = Vec::new();
    if let Some(g) = &found_group {
        group_used_by.extend(g.mem.iter().cloned());
        group_used_by.extend(passwd_primary_users(g.gid.as_raw()));
        group_used_by.sort();
        group_used_by.dedup();
    }
    let usergroups = std::fs::read_to_string("/etc/login.defs")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("USERGROUPS_ENAB")).then(|| w.next().unwrap_or("").to_string())
        });
    let same_name = Group::from_name(user).ok().flatten().filter(|g| {
        let primary_of_others = passwd_primary_users(g.gid.as_raw())
            .iter()
            .any(|u| u != user);
        !primary_of_others
    });
    let userdel_takes_group = match (usergroups.as_deref(), same_name) {
        (Some(v), _) if v.eq_ignore_ascii_case("no") => None,
        (_, Some(g)) => Some(g.name),
        _ => None,
    };
    Facts {
        userdel_takes_group,
        keys,
        authorized_keys_path: home
            .clone()
            .unwrap_or_else(|| Path::new("/home").join(user))
            .join(".ssh/authorized_keys"),
        sshd_files,
        user_exists: account.is_some(),
        uid: account.as_ref().map(|a| a.uid.as_raw()),
        gid: found_group.as_ref().map(|g| g.gid.as_raw()),
        home,
        group_exists: found_group.is_some(),
        group_used_by,
    }
}

/// The accounts whose primary group is `gid`, from /etc/passwd.
fn passwd_primary_users(gid: u32) -> Vec<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() > 3 && fields[3] == gid.to_string()).then(|| fields[0].to_string())
        })
        .collect()
}

/// Runs the undo: `on_plan` sees the plan made under the lock before anything changes.
/// Outcomes as apply's: a rerun after a failure is safe, finished steps are found done.
pub fn remove(
    user: &str,
    group: &str,
    delete_account: bool,
    state_dir: &StateDir,
    on_event: &mut dyn FnMut(&UndoPlan, Event),
) -> Outcome {
    let _lock = match crate::apply::begin(state_dir) {
        Ok(lock) => lock,
        Err(outcome) => return outcome,
    };
    let ledger = Ledger::read(state_dir);
    let facts = gather(user, group, &ledger);
    let plan = plan(user, group, &ledger, &facts, delete_account);
    if plan.blocked() {
        return Outcome::Blocked(
            plan.steps
                .iter()
                .filter(|s| s.state == StepState::Blocked)
                .map(|s| apply::BlockedStep {
                    title: s.title.clone(),
                    detail: s.detail.clone(),
                })
                .collect(),
        );
    }
    let mut done = Vec::new();
    for (index, step) in plan.steps.iter().enumerate() {
        if step.state != StepState::ToDo {
            continue;
        }
        on_event(&plan, Event::Running(index));
        match execute(&step.action, user, group, state_dir) {
            Ok(()) => {
                on_event(&plan, Event::StepDone(index));
                done.push(step.title.clone());
            }
            Err(e) => {
                let error = format!("{e:#}");
                on_event(&plan, Event::StepFailed(index, error.clone()));
                let _ = state_dir.journal(&format!(
                    "remove user={user} failed at \"{}\": {error}",
                    step.title
                ));
                return Outcome::Failed {
                    done,
                    step: Some(step.title.clone()),
                    error,
                };
            }
        }
    }
    let _ = state_dir.journal(&format!(
        "remove user={user} ok, {} step(s) changed",
        done.len()
    ));
    Outcome::Done {
        changed: done.len(),
    }
}

fn execute(action: &UndoAction, user: &str, group: &str, state_dir: &StateDir) -> Result<()> {
    let entry = match action {
        UndoAction::RemoveKey { fingerprint, data } => {
            apply::rewrite_authorized_keys(user, state_dir, |existing| {
                let removal = authorized_keys::remove(existing, data);
                (!removal.lines.is_empty()).then_some(removal.content)
            })?;
            Entry::RemovedKey {
                user: user.to_string(),
                fingerprint: fingerprint.clone(),
            }
        }
        UndoAction::RestoreSshd { file, content } => {
            sshd_repair::revert(
                &SshdPaths::default(),
                &[(file.clone(), content.clone())],
                state_dir,
            )?;
            Entry::RemovedSshd {
                user: user.to_string(),
                file: file.clone(),
            }
        }
        UndoAction::DeleteUser { remove_home } => {
            let mut command = Command::new("userdel");
            if *remove_home {
                command.arg("-r");
            }
            run(command.arg(user))?;
            Entry::DeletedUser {
                user: user.to_string(),
            }
        }
        UndoAction::DeleteGroup => {
            // userdel may have taken it already (a same-named group of ours).
            if Group::from_name(group).ok().flatten().is_some() {
                run(Command::new("groupdel").arg(group))?;
            }
            Entry::DeletedGroup {
                group: group.to_string(),
            }
        }
    };
    let _ = ledger::record(state_dir, entry);
    Ok(())
}

fn run(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}").replace('"', "");
    let output = command
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !output.status.success() {
        bail!(
            "`{shown}` failed (exit {}): {}",
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
