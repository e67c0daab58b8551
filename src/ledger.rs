//! What this program created on this host, so that undo never removes what it did not
//! create, `keys` can say which lines are ours, and a rerun sees every vendor user it
//! manages. One JSON object per line in the state directory, appended as things happen.
//!
//! The journal (`journal.log`) is for people; the ledger is for the program.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::setup::Vendor;
use crate::state_dir::StateDir;

const FILE: &str = "ledger.jsonl";

/// One thing done to the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    /// `groupadd` made this group (it did not exist before), with the gid it got: a group
    /// deleted by hand and made again under the same name is not ours.
    CreatedGroup {
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gid: Option<u32>,
    },
    /// `useradd` made this user (it did not exist before), with the uid it got.
    CreatedUser {
        user: String,
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<u32>,
    },
    /// A key line was added to the user's authorized_keys (not one that was there).
    AddedKey {
        user: String,
        fingerprint: String,
    },
    /// The sshd repair wrote this file for the user: a new drop-in of ours (`new_file`
    /// true), or a block or a name in a file that was there before.
    WroteSshd {
        user: String,
        file: PathBuf,
        new_file: bool,
    },
    /// useradd made the user's home (it did not exist before), so undo may delete it.
    CreatedHome {
        user: String,
        home: PathBuf,
    },
    /// The sshd repair added a name to this line of an existing file: undo puts `before`
    /// back where it finds `after`.
    EditedSshdLine {
        user: String,
        file: PathBuf,
        before: String,
        after: String,
    },
    /// An apply finished for the user: how it was set up, so the user can be judged
    /// again later (the Welcome screen's list of vendor users) as it was asked for.
    Applied {
        user: String,
        vendor: Vendor,
        #[serde(default)]
        allow_shell: bool,
        #[serde(default)]
        permit_open: Vec<String>,
        #[serde(default)]
        from_vendor_ips: bool,
    },
    /// Undo or revoke took a key line out.
    RemovedKey {
        user: String,
        fingerprint: String,
    },
    /// Undo took the sshd repair for the user out of this file.
    RemovedSshd {
        user: String,
        file: PathBuf,
    },
    DeletedUser {
        user: String,
    },
    DeletedGroup {
        group: String,
    },
}

/// A ledger entry with when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub at: String,
    #[serde(flatten)]
    pub entry: Entry,
}

/// Every record, oldest first. Lines that do not parse (a torn write) are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub records: Vec<Record>,
}

impl Ledger {
    pub fn read(state_dir: &StateDir) -> Ledger {
        let text = state_dir.read(FILE).unwrap_or_default();
        Ledger::parse(&text)
    }

    pub fn parse(text: &str) -> Ledger {
        Ledger {
            records: text
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect(),
        }
    }

    fn entries(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.records.iter().map(|r| &r.entry)
    }

    /// This program created the user, and has not deleted it since.
    pub fn created_user(&self, user: &str) -> bool {
        self.entries()
            .rev()
            .find_map(|e| match e {
                Entry::CreatedUser { user: u, .. } if u == user => Some(true),
                Entry::DeletedUser { user: u } if u == user => Some(false),
                _ => None,
            })
            .unwrap_or(false)
    }

    /// Whether the account named `user` now is the one this program created: created by
    /// it, not deleted since, and (where the ledger has it) still the same uid.
    pub fn created_this_user(&self, user: &str, uid: Option<u32>) -> bool {
        self.created_user(user) && self.created_id(user, true).is_none_or(|id| Some(id) == uid)
    }

    /// As `created_this_user`, for a group and its gid.
    pub fn created_this_group(&self, group: &str, gid: Option<u32>) -> bool {
        self.created_group(group)
            && self
                .created_id(group, false)
                .is_none_or(|id| Some(id) == gid)
    }

    /// The uid (or gid) the latest creation of that name recorded.
    fn created_id(&self, name: &str, user: bool) -> Option<u32> {
        self.entries().rev().find_map(|e| match e {
            Entry::CreatedUser { user: u, uid, .. } if user && u == name => Some(*uid),
            Entry::CreatedGroup { group: g, gid } if !user && g == name => Some(*gid),
            _ => None,
        })?
    }

    /// This program created the group, and has not deleted it since.
    pub fn created_group(&self, group: &str) -> bool {
        self.entries()
            .rev()
            .find_map(|e| match e {
                Entry::CreatedGroup { group: g, .. } if g == group => Some(true),
                Entry::DeletedGroup { group: g } if g == group => Some(false),
                _ => None,
            })
            .unwrap_or(false)
    }

    /// The home useradd created for the user this program created, while both stand.
    pub fn created_home(&self, user: &str) -> Option<PathBuf> {
        if !self.created_user(user) {
            return None;
        }
        self.entries().rev().find_map(|e| match e {
            Entry::CreatedHome { user: u, home } if u == user => Some(home.clone()),
            _ => None,
        })
    }

    /// The lines the sshd repair edited for the user in `file` and undo has not put back:
    /// (before, after), oldest first.
    pub fn sshd_line_edits(&self, user: &str, file: &std::path::Path) -> Vec<(String, String)> {
        let mut edits = Vec::new();
        for entry in self.entries() {
            match entry {
                Entry::EditedSshdLine {
                    user: u,
                    file: f,
                    before,
                    after,
                } if u == user && f == file => edits.push((before.clone(), after.clone())),
                Entry::RemovedSshd { user: u, file: f } if u == user && f == file => edits.clear(),
                _ => {}
            }
        }
        edits
    }

    /// This program added the key for the user, and has not removed it since.
    pub fn added_key(&self, user: &str, fingerprint: &str) -> bool {
        self.entries()
            .rev()
            .find_map(|e| match e {
                Entry::AddedKey {
                    user: u,
                    fingerprint: f,
                } if u == user && f == fingerprint => Some(true),
                Entry::RemovedKey {
                    user: u,
                    fingerprint: f,
                } if u == user && f == fingerprint => Some(false),
                _ => None,
            })
            .unwrap_or(false)
    }

    /// The keys this program added for the user and has not removed, oldest first.
    pub fn keys_added(&self, user: &str) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for entry in self.entries() {
            if let Entry::AddedKey {
                user: u,
                fingerprint,
            } = entry
            {
                if u == user && !keys.contains(fingerprint) {
                    keys.push(fingerprint.clone());
                }
            }
        }
        keys.retain(|f| self.added_key(user, f));
        keys
    }

    /// The sshd files this program wrote for the user and has not undone, each once,
    /// with whether the file was new (then undo deletes it whole).
    pub fn sshd_writes(&self, user: &str) -> Vec<(PathBuf, bool)> {
        let mut files: Vec<(PathBuf, bool)> = Vec::new();
        for entry in self.entries() {
            match entry {
                Entry::WroteSshd {
                    user: u,
                    file,
                    new_file,
                } if u == user => match files.iter_mut().find(|(f, _)| f == file) {
                    Some(_) => {}
                    None => files.push((file.clone(), *new_file)),
                },
                Entry::RemovedSshd { user: u, file } if u == user => {
                    files.retain(|(f, _)| f != file);
                }
                _ => {}
            }
        }
        files
    }

    /// The last finished apply for the user, with how it was asked for.
    pub fn last_applied(&self, user: &str) -> Option<&Entry> {
        self.entries()
            .rev()
            .find(|e| matches!(e, Entry::Applied { user: u, .. } if u == user))
    }

    /// Every user this program set something up for and has not fully undone: the vendor
    /// users a rerun shows, in the order they first appeared.
    pub fn users(&self) -> Vec<String> {
        let mut users: Vec<String> = Vec::new();
        for entry in self.entries() {
            let user = match entry {
                Entry::CreatedUser { user, .. }
                | Entry::AddedKey { user, .. }
                | Entry::WroteSshd { user, .. } => user,
                _ => continue,
            };
            if !users.contains(user) {
                users.push(user.clone());
            }
        }
        users.retain(|u| {
            self.created_user(u)
                || !self.keys_added(u).is_empty()
                || !self.sshd_writes(u).is_empty()
        });
        users
    }
}

/// Appends one entry. Callers record only after the change succeeded.
pub fn record(state_dir: &StateDir, entry: Entry) -> Result<()> {
    let record = Record {
        at: crate::state_dir::utc_now(),
        entry,
    };
    state_dir.append(FILE, &serde_json::to_string(&record)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(entries: Vec<Entry>) -> Ledger {
        Ledger {
            records: entries
                .into_iter()
                .map(|entry| Record {
                    at: "2026-11-27T00:00:00Z".into(),
                    entry,
                })
                .collect(),
        }
    }

    fn added(user: &str, fingerprint: &str) -> Entry {
        Entry::AddedKey {
            user: user.into(),
            fingerprint: fingerprint.into(),
        }
    }

    #[test]
    fn the_latest_event_about_a_thing_decides() {
        let l = ledger(vec![
            Entry::CreatedUser {
                user: "whaly".into(),
                group: "whaly".into(),
                uid: Some(1001),
            },
            added("whaly", "SHA256:a"),
            added("whaly", "SHA256:b"),
            Entry::RemovedKey {
                user: "whaly".into(),
                fingerprint: "SHA256:a".into(),
            },
            Entry::DeletedUser {
                user: "whaly".into(),
            },
        ]);
        assert!(!l.created_user("whaly"), "deleted since");
        assert!(!l.added_key("whaly", "SHA256:a"), "removed since");
        assert!(l.added_key("whaly", "SHA256:b"));
        assert_eq!(l.keys_added("whaly"), vec!["SHA256:b".to_string()]);
        assert!(!l.added_key("other", "SHA256:b"), "keys are per user");
        assert_eq!(
            l.users(),
            vec!["whaly".to_string()],
            "a key of ours is left"
        );
    }

    #[test]
    fn an_account_made_again_under_the_same_name_is_not_ours() {
        let l = ledger(vec![
            Entry::CreatedGroup {
                group: "whaly".into(),
                gid: Some(1001),
            },
            Entry::CreatedUser {
                user: "whaly".into(),
                group: "whaly".into(),
                uid: Some(1001),
            },
        ]);
        assert!(l.created_this_user("whaly", Some(1001)));
        assert!(
            !l.created_this_user("whaly", Some(1002)),
            "deleted and made again"
        );
        assert!(l.created_this_group("whaly", Some(1001)));
        assert!(!l.created_this_group("whaly", Some(1005)));
        assert!(!l.created_this_group("whaly", None), "gone");
        // Entries from before the ids were recorded go by name.
        let old = r#"{"at":"t","event":"created_user","user":"whaly","group":"whaly"}"#;
        assert!(Ledger::parse(old).created_this_user("whaly", Some(4242)));
    }

    #[test]
    fn a_group_or_user_it_did_not_create_is_never_its_own() {
        let l = ledger(vec![added("whaly", "SHA256:a")]);
        assert!(!l.created_user("whaly") && !l.created_group("whaly"));
    }

    #[test]
    fn sshd_writes_are_listed_once_until_undone() {
        let write = |file: &str, new_file| Entry::WroteSshd {
            user: "whaly".into(),
            file: file.into(),
            new_file,
        };
        let l = ledger(vec![
            write("/etc/ssh/sshd_config.d/00-bastion-wizard-whaly.conf", true),
            write("/etc/ssh/sshd_config.d/00-bastion-wizard-whaly.conf", false),
            write("/etc/ssh/sshd_config", false),
            Entry::RemovedSshd {
                user: "whaly".into(),
                file: "/etc/ssh/sshd_config".into(),
            },
        ]);
        assert_eq!(
            l.sshd_writes("whaly"),
            vec![(
                PathBuf::from("/etc/ssh/sshd_config.d/00-bastion-wizard-whaly.conf"),
                true
            )],
            "the first write says whether the file was ours"
        );
    }

    #[test]
    fn a_home_is_ours_only_with_the_user_and_line_edits_end_with_their_undo() {
        let file = PathBuf::from("/etc/ssh/sshd_config");
        let home = Entry::CreatedHome {
            user: "whaly".into(),
            home: "/home/whaly".into(),
        };
        let edit = Entry::EditedSshdLine {
            user: "whaly".into(),
            file: file.clone(),
            before: "AllowUsers alice".into(),
            after: "AllowUsers alice whaly".into(),
        };
        let l = ledger(vec![home.clone(), edit.clone()]);
        assert_eq!(l.created_home("whaly"), None, "no CreatedUser: not ours");
        let created = Entry::CreatedUser {
            user: "whaly".into(),
            group: "whaly".into(),
            uid: None,
        };
        let l = ledger(vec![created, home, edit]);
        assert_eq!(l.created_home("whaly"), Some(PathBuf::from("/home/whaly")));
        assert_eq!(
            l.sshd_line_edits("whaly", &file),
            vec![(
                "AllowUsers alice".to_string(),
                "AllowUsers alice whaly".to_string()
            )]
        );
        let mut records = l.records.clone();
        records.push(Record {
            at: "t".into(),
            entry: Entry::RemovedSshd {
                user: "whaly".into(),
                file: file.clone(),
            },
        });
        let l = Ledger { records };
        assert!(l.sshd_line_edits("whaly", &file).is_empty());
    }

    #[test]
    fn the_last_apply_says_how_a_user_was_set_up() {
        let applied = |region: &str, allow_shell| Entry::Applied {
            user: "dbtcloud".into(),
            vendor: Vendor {
                profile: "dbt Cloud".into(),
                region: Some(region.into()),
            },
            allow_shell,
            permit_open: vec!["db:5432".into()],
            from_vendor_ips: true,
        };
        let l = ledger(vec![applied("emea", true), applied("apac", false)]);
        assert_eq!(l.last_applied("dbtcloud"), Some(&applied("apac", false)));
        assert_eq!(l.last_applied("whaly"), None);
        // An entry written before these fields existed still reads.
        let old = r#"{"at":"t","event":"applied","user":"whaly","vendor":{"profile":"Whaly"}}"#;
        assert!(Ledger::parse(old).last_applied("whaly").is_some());
    }

    #[test]
    fn a_torn_line_is_skipped_and_the_rest_read() {
        let good = serde_json::to_string(&Record {
            at: "t".into(),
            entry: added("whaly", "SHA256:a"),
        })
        .unwrap();
        let l = Ledger::parse(&format!("{good}\n{{\"event\":\"added_k\n{good}\n"));
        assert_eq!(l.records.len(), 2);
    }

    #[test]
    fn records_append_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir {
            path: dir.path().join("state"),
        };
        record(&state, added("whaly", "SHA256:a")).unwrap();
        record(&state, added("fivetran", "SHA256:b")).unwrap();
        let l = Ledger::read(&state);
        assert_eq!(l.users(), vec!["whaly".to_string(), "fivetran".to_string()]);
    }
}
