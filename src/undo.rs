//! `remove`: undo what this program set up for a user, and only that. What is ours comes
//! from the ledger (key lines it added, sshd files it wrote, the user, home and group it
//! created); the plan is worked out purely from the ledger and what the host holds now,
//! shown as steps with their shell commands, and a rerun finds nothing to do.
//!
//! The account goes only with `--delete-account`: `userdel` without `-r` unless the ledger
//! says useradd made the home; never when userdel would take along a same-named group this
//! program did not create (USERGROUPS_ENAB; Debian 12's userdel has no `-K` to turn it
//! off); the group goes only when it is ours and no other account uses it.

mod run;

use std::path::PathBuf;

use crate::key;
use crate::ledger::Ledger;
use crate::plan::StepState;
use crate::sshd_repair;

pub use run::{gather, remove};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndoAction {
    /// Take out every line holding this key (by data).
    RemoveKey {
        fingerprint: String,
        data: String,
    },
    /// Give an sshd file this content, or delete it (`None`).
    RestoreSshd {
        file: PathBuf,
        content: Option<Vec<u8>>,
    },
    DeleteUser {
        remove_home: bool,
    },
    DeleteGroup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoStep {
    pub action: UndoAction,
    pub title: String,
    pub command: String,
    pub state: StepState,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoPlan {
    pub user: String,
    pub group: String,
    pub steps: Vec<UndoStep>,
    /// What stays and why: things this program did not create.
    pub kept: Vec<String>,
    /// This program created the user or the group and they are still there, so
    /// `--delete-account` has something to delete.
    pub account_ours: bool,
}

impl UndoPlan {
    pub fn blocked(&self) -> bool {
        self.steps.iter().any(|s| s.state == StepState::Blocked)
    }

    pub fn to_do(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.state == StepState::ToDo)
            .count()
    }

    /// The question `remove` asks before undoing: deleting the account is named.
    pub fn question(&self) -> String {
        if self
            .steps
            .iter()
            .any(|s| matches!(s.action, UndoAction::DeleteUser { .. }))
        {
            format!("Undo these steps, deleting the account {}?", self.user)
        } else {
            "Undo these steps?".to_string()
        }
    }

    /// The plan as `remove` prints it, in the form `apply`'s plan has.
    pub fn render(&self) -> String {
        let mut out = format!(
            "Undo for user {} (group {}): only what this program set up.\n",
            self.user, self.group
        );
        for step in &self.steps {
            out.push_str(&format!(
                "  [{:<7}] {}\n",
                crate::cli::step_label(step.state),
                step.title
            ));
            out.push_str(&format!("            $ {}\n", step.command));
            out.push_str(&format!("            {}\n", step.detail));
        }
        for kept in &self.kept {
            out.push_str(&format!("  kept: {kept}\n"));
        }
        out.push_str(&match self.to_do() {
            0 => "Nothing to undo.\n".to_string(),
            n => format!("{n} step(s) to do.\n"),
        });
        out
    }
}

/// What the host holds now, as far as undo needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The user's authorized_keys (`None`: no user or no file).
    pub keys: Option<Vec<u8>>,
    pub authorized_keys_path: PathBuf,
    /// Each sshd file the ledger names, with its content (`None`: gone).
    pub sshd_files: Vec<(PathBuf, Option<Vec<u8>>)>,
    pub user_exists: bool,
    /// The uid and gid the user and group have now, to tell them from the ones this
    /// program created when a name was deleted and made again.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The user's home as /etc/passwd gives it.
    pub home: Option<PathBuf>,
    pub group_exists: bool,
    /// Accounts (the user too) that have the group as primary group or are listed in it.
    pub group_used_by: Vec<String>,
    /// userdel also deletes a group named like the user when login.defs has
    /// `USERGROUPS_ENAB yes` and no other account has it as primary group: that group's
    /// other users, when such a group exists and userdel would take it.
    pub userdel_takes_group: Option<String>,
}

/// The plan: pure over the ledger and the facts.
pub fn plan(
    user: &str,
    group: &str,
    ledger: &Ledger,
    facts: &Facts,
    delete_account: bool,
) -> UndoPlan {
    let mut steps = Vec::new();
    let mut kept = Vec::new();
    let keys_path = facts.authorized_keys_path.display();
    for fingerprint in ledger.keys_added(user) {
        let data = facts.keys.as_deref().and_then(|bytes| {
            crate::authorized_keys::numbered_entries(bytes)
                .into_iter()
                .find(|(_, e)| {
                    key::facts(&e.key_type, &e.data).fingerprint.as_deref()
                        == Some(fingerprint.as_str())
                })
                .map(|(_, e)| e.data)
        });
        let (state, detail, data) = match data {
            Some(data) => {
                let lines = crate::authorized_keys::remove(
                    facts.keys.as_deref().unwrap_or_default(),
                    &data,
                )
                .lines;
                (
                    StepState::ToDo,
                    format!(
                        "line(s) {} of {keys_path} go; every other line stays",
                        join(&lines)
                    ),
                    data,
                )
            }
            None => (
                StepState::Done,
                format!("no longer in {keys_path}"),
                String::new(),
            ),
        };
        steps.push(UndoStep {
            title: format!("Remove the key {fingerprint} this program added"),
            command: format!("bastion-wizard revoke {fingerprint} --user {user} --yes"),
            state,
            detail,
            action: UndoAction::RemoveKey { fingerprint, data },
        });
    }
    for (file, new_file) in ledger.sshd_writes(user) {
        let current = facts
            .sshd_files
            .iter()
            .find(|(f, _)| *f == file)
            .and_then(|(_, c)| c.clone());
        let edits = ledger.sshd_line_edits(user, &file);
        let shown = file.display();
        let (state, content, command, detail) = match &current {
            None => (
                StepState::Done,
                None,
                format!("rm {shown}"),
                "the file is gone".to_string(),
            ),
            Some(bytes) => {
                let undone = sshd_repair::undone(bytes, user, &edits);
                if new_file && sshd_repair::only_comments(&undone) {
                    (
                        StepState::ToDo,
                        None,
                        format!("rm {shown} && sshd -t && systemctl reload ssh"),
                        "this program created the file: it is deleted, then sshd is checked and reloaded".to_string(),
                    )
                } else if undone == *bytes {
                    let text = String::from_utf8_lossy(bytes);
                    let changed: Vec<&str> = edits
                        .iter()
                        .filter(|(before, after)| !text.lines().any(|l| l == after || l == before))
                        .map(|(_, after)| after.as_str())
                        .collect();
                    let detail = if changed.is_empty() {
                        "nothing of this program's is left in it".to_string()
                    } else {
                        format!(
                            "the line(s) it edited ({}) have changed since, so the name it added may still be there: only you can tell whether it may go",
                            changed.join("; ")
                        )
                    };
                    (
                        StepState::Done,
                        Some(undone),
                        format!("grep -n -i -e 'Match User {user}' -e '^Allow' {shown}"),
                        detail,
                    )
                } else {
                    let what = match (edits.is_empty(), new_file) {
                        (true, _) => format!("the `Match User {user}` block it added is taken out"),
                        (false, _) => format!(
                            "the `Match User {user}` block and the name(s) it added ({}) are taken out",
                            edits
                                .iter()
                                .map(|(_, after)| after.as_str())
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    };
                    (
                        StepState::ToDo,
                        Some(undone),
                        format!("$EDITOR {shown} && sshd -t && systemctl reload ssh"),
                        format!("{what}; every other byte stays; backed up, checked with sshd -t, restored if sshd rejects it, then reloaded"),
                    )
                }
            }
        };
        steps.push(UndoStep {
            title: format!("Undo the sshd repair in {shown}"),
            command,
            state,
            detail,
            action: UndoAction::RestoreSshd { file, content },
        });
    }
    let ours_user = ledger.created_this_user(user, facts.uid);
    let ours_group = ledger.created_this_group(group, facts.gid);
    let deleting_user = delete_account && ours_user && facts.user_exists;
    let group_users: Vec<String> = facts
        .group_used_by
        .iter()
        .filter(|u| !(deleting_user && *u == user))
        .cloned()
        .collect();
    if delete_account {
        if deleting_user {
            let remove_home = ledger
                .created_home(user)
                .is_some_and(|h| Some(&h) == facts.home.as_ref());
            let foreign_group = facts.userdel_takes_group.as_ref().filter(|g| {
                let ours = if *g == group {
                    ours_group
                } else {
                    ledger.created_group(g)
                };
                !ours
            });
            let (state, detail) = match foreign_group {
                Some(g) => (
                    StepState::Blocked,
                    format!("userdel would also delete the group {g} (USERGROUPS_ENAB in /etc/login.defs), which this program did not create: delete the user by hand if the group may go"),
                ),
                None if remove_home => (
                    StepState::ToDo,
                    "this program created it and its home, which goes with it".into(),
                ),
                None => (
                    StepState::ToDo,
                    "this program created it; its home was there before and stays".into(),
                ),
            };
            steps.push(UndoStep {
                title: format!("Delete the user {user}"),
                command: format!("userdel {}{user}", if remove_home { "-r " } else { "" }),
                state,
                detail,
                action: UndoAction::DeleteUser { remove_home },
            });
        } else if facts.user_exists {
            kept.push(format!(
                "the user {user}: it existed before this program set it up"
            ));
        }
        if ours_group && facts.group_exists {
            if group_users.is_empty() {
                steps.push(UndoStep {
                    title: format!("Delete the group {group}"),
                    command: format!("groupdel {group}"),
                    state: StepState::ToDo,
                    detail: "this program created it and no other account uses it".into(),
                    action: UndoAction::DeleteGroup,
                });
            } else {
                kept.push(format!(
                    "the group {group}: this program created it, but {} use(s) it",
                    group_users.join(", ")
                ));
            }
        } else if facts.group_exists {
            kept.push(format!(
                "the group {group}: it existed before this program set it up"
            ));
        }
    } else if facts.user_exists {
        kept.push(format!(
            "the user {user} and its other keys (--delete-account deletes a user and group this program created)"
        ));
    }
    UndoPlan {
        user: user.to_string(),
        group: group.to_string(),
        steps,
        kept,
        account_ours: (ours_user && facts.user_exists) || (ours_group && facts.group_exists),
    }
}

fn join(lines: &[usize]) -> String {
    lines
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Entry, Record};

    /// A second vendor's repair edited the same AllowUsers line: undo cannot take the
    /// first vendor's name out safely, and says so instead of "nothing is left".
    #[test]
    fn an_edited_line_that_changed_since_is_named_not_called_clean() {
        let file = PathBuf::from("/etc/ssh/sshd_config");
        let record = |entry| Record {
            at: "t".into(),
            entry,
        };
        let ledger = Ledger {
            records: vec![
                record(Entry::WroteSshd {
                    user: "whaly".into(),
                    file: file.clone(),
                    new_file: false,
                }),
                record(Entry::EditedSshdLine {
                    user: "whaly".into(),
                    file: file.clone(),
                    before: "AllowUsers alice".into(),
                    after: "AllowUsers alice whaly".into(),
                }),
            ],
        };
        let step = |content: &str| {
            let facts = Facts {
                sshd_files: vec![(file.clone(), Some(content.as_bytes().to_vec()))],
                ..Facts::default()
            };
            let plan = plan("whaly", "whaly", &ledger, &facts, false);
            plan.steps
                .into_iter()
                .find(|s| s.title.contains("sshd repair"))
                .expect("the sshd step")
        };
        let changed = step("AllowUsers alice whaly fivetran\n");
        assert_eq!(changed.state, StepState::Done);
        assert!(
            changed.detail.contains("have changed since"),
            "{}",
            changed.detail
        );
        let clean = step("AllowUsers alice\n");
        assert_eq!(clean.detail, "nothing of this program's is left in it");
    }
}
