//! The plan: the guide's steps as data, computed purely from what inspect saw.
//! `plan`, `apply` and the wizard's review screen all show this one list.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::authorized_keys::{self, Merge};
use crate::inspect::{HostState, Node, Password, ShellState};
use crate::safe_fs::{Kind, Meta};
use crate::setup::Request;
use crate::sshd::Version;
use crate::sshd_repair::{self, Repair};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Done,
    ToDo,
    /// Cannot run as things stand; `detail` says what to do by hand.
    Blocked,
    /// Would run, but an earlier step (`on`, its index in the plan) is blocked.
    Waiting {
        on: usize,
    },
}

impl StepState {
    /// Blocked itself, or waiting for a blocked step: either way nothing will run.
    pub fn is_stopped(self) -> bool {
        matches!(self, StepState::Blocked | StepState::Waiting { .. })
    }
}

/// What a step changes when applied. The executor in `apply` matches on this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    CreateGroup,
    CreateUser {
        shell: Option<PathBuf>,
        /// `useradd -U`: the user's group, named like it, is made with it in one run
        /// (neither exists yet), instead of a `groupadd` before.
        own_group: bool,
    },
    Unlock,
    /// `chage` with these arguments: no expiry date, no password change due.
    ClearAging {
        args: Vec<String>,
    },
    SetShell {
        shell: PathBuf,
    },
    SecureHome,
    SshDir,
    AuthorizedKeys,
    InstallKey {
        line: String,
        data: String,
    },
    RestoreLabels,
    RepairSshd(Box<Repair>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub action: Action,
    pub title: String,
    /// Which step of the vendor's setup guide this is, e.g. "guide steps 4-5".
    pub guide: &'static str,
    /// The shell command a person would type to do the same by hand.
    pub command: String,
    pub state: StepState,
    /// Why it is done, what it will change, or why it cannot go on.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub user: String,
    pub group: String,
    pub home: PathBuf,
    pub steps: Vec<Step>,
    /// The exact authorized_keys line, when a key was given.
    pub key_line: Option<String>,
}

impl Plan {
    /// A step's detail, or for one that waits, the blocked step it waits for.
    pub fn detail_of(&self, step: &Step) -> String {
        match step.state {
            StepState::Waiting { on } => format!(
                "waits for \"{}\", which is blocked",
                self.steps
                    .get(on)
                    .map_or("an earlier step", |s| s.title.as_str())
            ),
            _ => step.detail.clone(),
        }
    }

    /// The steps that stop the plan: blocked ones and those waiting for them.
    pub fn blocked(&self) -> Vec<&Step> {
        self.steps.iter().filter(|s| s.state.is_stopped()).collect()
    }

    /// Only the steps blocked themselves: what the person must resolve by hand.
    pub fn blocking(&self) -> Vec<&Step> {
        self.steps
            .iter()
            .filter(|s| s.state == StepState::Blocked)
            .collect()
    }

    pub fn to_do(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.state == StepState::ToDo)
            .count()
    }
}

/// Why a request cannot be planned for this host at all: the request itself is wrong
/// here. Every front end shows it as it is; its words name no command-line flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    BadName(NameError),
    Root,
    /// An existing account below UID_MIN (sshd, daemon, ...).
    SystemAccount {
        user: String,
        uid: u32,
        uid_min: u32,
    },
    /// nobody/nogroup (65534): shared by unprivileged daemons, never a login.
    Nobody {
        name: String,
        what: &'static str,
    },
    /// An existing user keeps its primary group; another one would be shown but not used.
    OtherPrimaryGroup {
        user: String,
        current: String,
        asked: String,
    },
    SystemGroup {
        group: String,
        gid: u32,
        gid_min: u32,
    },
    /// `--expires` on an sshd too old for `expiry-time`: it would ignore the key's line.
    ExpiryUnknown {
        version: Version,
    },
}

/// The id the kernel and NFS use for "nobody": `nobody` and `nogroup` hold it.
pub const OVERFLOW_ID: u32 = 65534;

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BadName(e) => e.fmt(f),
            Refusal::Root => write!(f, "root cannot be the tunnel user: choose a dedicated account such as whaly"),
            Refusal::SystemAccount { user, uid, uid_min } => write!(
                f,
                "{user} (uid {uid}) is a system account (uid below {uid_min}) that a service runs as: choose a dedicated account such as whaly"
            ),
            Refusal::Nobody { name, what } => write!(
                f,
                "{name} is the {what} every unprivileged service shares: choose a dedicated account such as whaly"
            ),
            Refusal::OtherPrimaryGroup { user, current, asked } => write!(
                f,
                "user {user} already exists with primary group {current}, not {asked}: choose group {current}, or another user name"
            ),
            Refusal::SystemGroup { group, gid, gid_min } => write!(
                f,
                "{group} (gid {gid}) is a system group (gid below {gid_min}) and would give the vendor its rights: choose a dedicated group"
            ),
            Refusal::ExpiryUnknown { version } => write!(
                f,
                "this host's sshd ({version}) does not know expiry-time ({} and later) and would ignore the key's whole line: leave out --expires (in the wizard, empty Expires) and revoke the key when it should end",
                Version::EXPIRY_TIME
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// A user or group name that useradd would not take everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    pub name: String,
    pub what: &'static str,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" is not a valid {} name: use lower-case letters, digits, _ or -, starting with a letter or _ (at most 32)",
            self.name, self.what
        )
    }
}

/// The one gate every front end passes before showing or applying a plan: the request
/// must make sense for this host, then the plan is made.
pub fn prepare(request: &Request, state: &HostState) -> Result<Plan, Refusal> {
    validate(request, state)?;
    Ok(plan(request, state))
}

/// Refusals that no plan can fix: the request itself is wrong for this host.
pub fn validate(request: &Request, state: &HostState) -> Result<(), Refusal> {
    check_name(&request.user, "user").map_err(Refusal::BadName)?;
    check_name(&request.group, "group").map_err(Refusal::BadName)?;
    if request.user == "root" {
        return Err(Refusal::Root);
    }
    if let Some(account) = &state.user {
        if account.uid == OVERFLOW_ID {
            return Err(Refusal::Nobody {
                name: request.user.clone(),
                what: "account",
            });
        }
        if account.uid < state.uid_min {
            return Err(Refusal::SystemAccount {
                user: request.user.clone(),
                uid: account.uid,
                uid_min: state.uid_min,
            });
        }
        // An existing user keeps its primary group: files are given to that group, so a
        // different group would be shown but not used.
        if state.group != Some(account.gid) {
            let current = account
                .group_name
                .clone()
                .unwrap_or_else(|| format!("gid {}", account.gid));
            return Err(Refusal::OtherPrimaryGroup {
                user: request.user.clone(),
                current,
                asked: request.group.clone(),
            });
        }
    }
    if let Some(version) = state.sshd_version {
        if request.access.expires.is_some() && version < Version::EXPIRY_TIME {
            return Err(Refusal::ExpiryUnknown { version });
        }
    }
    if let Some(gid) = state.group {
        if gid == OVERFLOW_ID {
            return Err(Refusal::Nobody {
                name: request.group.clone(),
                what: "group",
            });
        }
        if gid < state.gid_min {
            return Err(Refusal::SystemGroup {
                group: request.group.clone(),
                gid,
                gid_min: state.gid_min,
            });
        }
    }
    Ok(())
}

/// Names useradd accepts everywhere: lower case, digits, `_` and `-`, starting with a
/// letter or `_`.
pub fn check_name(name: &str, what: &'static str) -> Result<(), NameError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(NameError {
            name: name.to_string(),
            what,
        })
    }
}

/// The names each step's command and title use, quoted for the shell once.
struct Names<'a> {
    user: &'a str,
    group: &'a str,
    home: String,
    ssh_dir: String,
    keys_file: String,
}

/// The guide's steps in its order, each from its own function; a step that cannot run
/// makes every later one wait for it.
pub fn plan(request: &Request, state: &HostState) -> Plan {
    let names = Names {
        user: request.user.as_str(),
        group: request.group.as_str(),
        home: shell_word(&state.home_path.display().to_string()),
        ssh_dir: shell_word(&state.ssh_dir_path().display().to_string()),
        keys_file: shell_word(&state.authorized_keys_path().display().to_string()),
    };
    let tunnel_only = !request.access.allow_shell;
    // A new user whose group is new and named like it: one `useradd -U` makes both.
    let own_group = state.group.is_none() && state.user.is_none() && names.group == names.user;
    let mut steps = if own_group {
        vec![user_step(state, &names, tunnel_only, true)]
    } else {
        vec![
            group_step(state, &names),
            user_step(state, &names, tunnel_only, false),
        ]
    };
    if let Some(account) = &state.user {
        steps.push(unlock_step(state, &names));
        steps.extend(aging_step(state, &names));
        steps.extend(shell_step(state, account, &names, tunnel_only));
    }
    let uid = state.user.as_ref().map(|a| (a.uid, a.gid));
    steps.push(home_step(state, uid, &names.home, names.user, names.group));
    steps.push(ssh_dir_step(state, &names));
    steps.push(authorized_keys_step(state, &names));
    let key_line = request.key.as_ref().map(|k| request.access.line_for(k));
    if let (Some(key), Some(line)) = (&request.key, &key_line) {
        steps.push(key_step(state, line, &key.data, &names.keys_file));
    }
    if state.selinux {
        let any_file_change = steps.iter().any(|s| s.state == StepState::ToDo);
        steps.push(labels_step(state, &names, any_file_change));
    }
    if request.fix_sshd {
        if let Some(repair) = sshd_repair::plan(request, state) {
            steps.push(sshd_step(repair));
        }
    }
    mark_waiting(&mut steps);
    Plan {
        user: names.user.to_string(),
        group: names.group.to_string(),
        home: state.home_path.clone(),
        steps,
        key_line,
    }
}

/// Once one step cannot run, nothing after it is attempted: mark that plainly.
fn mark_waiting(steps: &mut [Step]) {
    let Some(first) = steps.iter().position(|s| s.state == StepState::Blocked) else {
        return;
    };
    for step in steps.iter_mut().skip(first + 1) {
        if step.state == StepState::ToDo {
            step.state = StepState::Waiting { on: first };
        }
    }
}

fn group_step(state: &HostState, names: &Names) -> Step {
    let group = names.group;
    Step {
        action: Action::CreateGroup,
        title: format!("Create group {group}"),
        guide: "guide step 1",
        command: format!("groupadd {group}"),
        state: done_if(state.group.is_some()),
        detail: match state.group {
            Some(gid) => format!("group {group} exists (gid {gid})"),
            None => format!("group {group} does not exist yet"),
        },
    }
}

fn user_step(state: &HostState, names: &Names, tunnel_only: bool, own_group: bool) -> Step {
    let (user, group, home) = (names.user, names.group, &names.home);
    let new_shell = tunnel_only.then(|| state.nologin.clone());
    let shell_flag = new_shell
        .as_ref()
        .map(|s| format!(" -s {}", s.display()))
        .unwrap_or_default();
    let (title, guide, group_flag) = if own_group {
        (
            format!("Create user and group {user}, with its home"),
            "guide steps 1-2",
            "-U".to_string(),
        )
    } else {
        (
            format!("Create user {user} with home {home}"),
            "guide step 2",
            format!("-g {group}"),
        )
    };
    let made_with = if own_group {
        format!("; useradd -U makes its group {group} with it")
    } else {
        String::new()
    };
    Step {
        action: Action::CreateUser {
            shell: new_shell,
            own_group,
        },
        title,
        guide,
        command: format!("useradd -m {group_flag}{shell_flag} -p '*' {user}"),
        state: done_if(state.user.is_some()),
        detail: match &state.user {
            Some(a) => format!(
                "user {user} exists (uid {}, home {})",
                a.uid,
                a.home.display()
            ),
            None if tunnel_only => format!("user {user} does not exist yet: it is created with no password and no login shell (tunnel only){made_with}"),
            None => format!("user {user} does not exist yet: it is created with no password and the system's default shell{made_with}"),
        },
    }
}

fn unlock_step(state: &HostState, names: &Names) -> Step {
    let (unlock_state, detail) = match &state.password {
        Password::Usable => (StepState::Done, "the account is not locked".to_string()),
        Password::Locked if state.uses_pam() => (
            StepState::ToDo,
            "the password is locked (`!` in /etc/shadow); key logins work while sshd's UsePAM is yes, but would be refused if it were turned off".into(),
        ),
        Password::Locked => (
            StepState::ToDo,
            "the password is locked (`!` in /etc/shadow), and with UsePAM no sshd refuses every login of a locked account, keys included".into(),
        ),
        Password::Empty => (
            StepState::ToDo,
            "the password is empty: anyone could log in without one; `*` means no password can ever work, while keys still do".into(),
        ),
        Password::Unknown(why) => (StepState::ToDo, format!("{why}; applying checks it")),
        Password::NotLocal => (
            StepState::Done,
            "not in /etc/shadow (a directory account): its lock is managed there".into(),
        ),
    };
    Step {
        action: Action::Unlock,
        title: "Allow key login, never a password".into(),
        guide: "guide step 2",
        command: format!("usermod -p '*' {}", names.user),
        state: unlock_state,
        detail,
    }
}

/// Only where the account has expired, or PAM would demand a new password (a password
/// the vendor never uses; sshd then refuses the forward): `chage` lifts both.
fn aging_step(state: &HostState, names: &Names) -> Option<Step> {
    let gate = &state.login;
    let due = gate.password_change_due() && state.uses_pam();
    if !gate.expired() && !due {
        return None;
    }
    let mut args: Vec<String> = Vec::new();
    let mut why = Vec::new();
    if gate.expired() {
        args.extend(["-E".into(), "-1".into()]);
        why.push("the account has expired: sshd closes the connection");
    }
    if due {
        args.extend([
            "-d".into(),
            crate::dates::Date::from_days(gate.today).to_string(),
            "-M".into(),
            "-1".into(),
        ]);
        why.push("PAM would demand a new password at login, and sshd then refuses the forward");
    }
    args.push(names.user.to_string());
    Some(Step {
        title: "Let the account log in: no expiry, no password change due".into(),
        guide: "guide step 2",
        command: format!("chage {}", args.join(" ")),
        state: StepState::ToDo,
        detail: why.join("; "),
        action: Action::ClearAging { args },
    })
}

/// A shell step only where the shell is broken, too open for tunnel-only (`restrict`
/// does not stop remote commands), or closed although a login shell was asked for.
fn shell_step(
    state: &HostState,
    account: &crate::inspect::Account,
    names: &Names,
    tunnel_only: bool,
) -> Option<Step> {
    let broken = state.shell != Some(ShellState::Executable);
    let too_open = tunnel_only && !broken && !is_no_login(&account.shell);
    let too_closed = !tunnel_only && !broken && is_no_login(&account.shell);
    if !(broken || too_open || too_closed) {
        return None;
    }
    let shell = if tunnel_only {
        state.nologin.clone()
    } else {
        PathBuf::from("/bin/sh")
    };
    let current = account.shell.display();
    let detail = if broken {
        format!("{current} does not exist or is not executable: sshd refuses the user")
    } else if too_closed {
        format!("{current} runs no commands, and tunnel-only is off: the key is to get a normal login shell")
    } else {
        format!(
            "{current} is a full shell: the vendor's key could run commands (tunnel-only asked)"
        )
    };
    Some(Step {
        title: format!("Set the login shell to {}", shell.display()),
        guide: "guide step 2",
        command: format!("usermod -s {} {}", shell.display(), names.user),
        state: StepState::ToDo,
        detail,
        action: Action::SetShell { shell },
    })
}

fn ssh_dir_step(state: &HostState, names: &Names) -> Step {
    let (user, group, ssh_dir) = (names.user, names.group, &names.ssh_dir);
    owned_step(
        Action::SshDir,
        format!("Create {ssh_dir} (0700)"),
        "guide steps 4-5",
        format!("install -d -m 700 -o {user} -g {group} {ssh_dir}"),
        Expect {
            node: &state.ssh_dir,
            kind: Kind::Dir,
            mode: 0o700,
        },
        state,
        user,
    )
}

fn authorized_keys_step(state: &HostState, names: &Names) -> Step {
    let (user, group, keys_file) = (names.user, names.group, &names.keys_file);
    owned_step(
        Action::AuthorizedKeys,
        format!("Create {keys_file} (0600)"),
        "guide steps 7-8",
        format!("touch {keys_file} && chown {user}:{group} {keys_file} && chmod 600 {keys_file}"),
        Expect {
            node: &state.authorized_keys,
            kind: Kind::File,
            mode: 0o600,
        },
        state,
        user,
    )
}

/// Files root creates get the wrong SELinux label, and sshd then ignores the key.
fn labels_step(state: &HostState, names: &Names, any_file_change: bool) -> Step {
    Step {
        action: Action::RestoreLabels,
        title: "Restore SELinux labels on ~/.ssh".into(),
        guide: "guide steps 4-9",
        command: format!("restorecon -R {}", names.ssh_dir),
        state: if !state.restorecon_available {
            StepState::Blocked
        } else {
            done_if(!any_file_change && !state.selinux_relabel_needed)
        },
        detail: if state.restorecon_available {
            "files created by root get the wrong label and sshd then ignores the key".into()
        } else {
            "SELinux is on but restorecon is missing: install policycoreutils, then rerun".into()
        },
    }
}

/// The living account, other than the tunnel user, that owns this path. Root-owned
/// paths are acceptable to sshd; paths of a deleted account may be taken over.
pub fn foreign_owner<'a>(state: &'a HostState, meta: &Meta, user: &str) -> Option<&'a str> {
    let own_uid = state.user.as_ref().map(|a| a.uid);
    if meta.uid == 0 || Some(meta.uid) == own_uid {
        return None;
    }
    state.owner_account(meta.uid).filter(|name| *name != user)
}

/// Shells that run no command: nologin in any of its places, or false.
pub fn is_no_login(shell: &std::path::Path) -> bool {
    matches!(
        shell.file_name().and_then(|n| n.to_str()),
        Some("nologin" | "false")
    )
}

fn done_if(done: bool) -> StepState {
    if done {
        StepState::Done
    } else {
        StepState::ToDo
    }
}

fn home_step(
    state: &HostState,
    uid: Option<(u32, u32)>,
    home: &str,
    user: &str,
    group: &str,
) -> Step {
    let mut step = Step {
        action: Action::SecureHome,
        title: format!("Secure home {home} (owner, no group/other write)"),
        guide: "guide step 2",
        command: format!("chown {user}:{group} {home} && chmod go-w {home}"),
        state: StepState::Done,
        detail: String::new(),
    };
    match (&state.home, uid) {
        (Node::Missing, None) => {
            step.state = StepState::ToDo;
            step.detail = "does not exist yet: useradd -m creates it".into();
        }
        (Node::Missing, Some(_)) => {
            step.state = StepState::ToDo;
            step.command = format!("install -d -m 750 -o {user} -g {group} {home}");
            step.detail = "the home directory is missing".into();
        }
        (Node::Unreadable(why), _) => {
            step.state = StepState::ToDo;
            step.detail = format!("could not look at it ({why}); applying checks it");
        }
        (Node::Found(meta), _) if meta.kind != Kind::Dir => {
            step.state = StepState::Blocked;
            step.detail = format!(
                "{home} {}: move it away, then rerun",
                kind_phrase(meta.kind)
            );
        }
        (Node::Found(meta), _) if foreign_owner(state, meta, user).is_some() => {
            step.state = StepState::Blocked;
            step.detail = format!(
                "{home} belongs to the account {}: refusing to take over another account's home; choose another user name",
                foreign_owner(state, meta, user).unwrap_or_default()
            );
        }
        (Node::Found(meta), None) => {
            step.state = StepState::ToDo;
            step.detail = format!(
                "{home} was left by a deleted account (uid {}): useradd will not give it to the new user, so it is taken over; key lines in it are kept",
                meta.uid
            );
        }
        (Node::Found(meta), Some((uid, _))) => {
            let owner_ok = meta.uid == uid || meta.uid == 0;
            if owner_ok && !meta.writable_by_others() {
                step.detail = format!("owner and mode are fine ({:04o})", meta.mode);
            } else {
                step.state = StepState::ToDo;
                step.detail = if owner_ok {
                    format!(
                        "mode {:04o} lets group/other write: sshd ignores keys under a home others can change (StrictModes)",
                        meta.mode
                    )
                } else {
                    format!(
                        "owned by uid {}: sshd ignores keys under a home another user owns (StrictModes)",
                        meta.uid
                    )
                };
            }
        }
    }
    step
}

/// What a path must be: its type and exact mode (owner: the tunnel user).
struct Expect<'a> {
    node: &'a Node,
    kind: Kind,
    mode: u32,
}

fn owned_step(
    action: Action,
    title: String,
    guide: &'static str,
    command: String,
    expect: Expect,
    state: &HostState,
    user: &str,
) -> Step {
    let owner = state.user.as_ref().map(|a| (a.uid, a.gid));
    let (step_state, detail) = match expect.node {
        Node::Missing => (StepState::ToDo, "does not exist yet".to_string()),
        Node::Unreadable(why) => (
            StepState::ToDo,
            format!("could not look at it ({why}); applying checks it"),
        ),
        Node::Found(meta) => match foreign_owner(state, meta, user) {
            Some(name) => (
                StepState::Blocked,
                format!("it belongs to the account {name}: refusing to take over another account's file; remove it, then rerun"),
            ),
            None => judge(meta, expect.kind, expect.mode, owner),
        },
    };
    Step {
        action,
        title,
        guide,
        command,
        state: step_state,
        detail,
    }
}

fn judge(meta: &Meta, kind: Kind, mode: u32, owner: Option<(u32, u32)>) -> (StepState, String) {
    if meta.kind != kind {
        return (
            StepState::Blocked,
            format!(
                "it {}: refusing to touch it; remove it, then rerun",
                kind_phrase(meta.kind)
            ),
        );
    }
    if meta.nlink > 1 && kind == Kind::File {
        return (
            StepState::Blocked,
            "it has more than one hard link (it may be another file in disguise): refusing; remove it, then rerun".into(),
        );
    }
    let mut wrong = Vec::new();
    if owner.is_none_or(|(uid, gid)| meta.uid != uid || meta.gid != gid) {
        wrong.push(format!("owner {}:{}", meta.uid, meta.gid));
    }
    if meta.mode != mode {
        wrong.push(format!("mode {:04o}", meta.mode));
    }
    if wrong.is_empty() {
        (StepState::Done, format!("exists with mode {mode:04o}"))
    } else {
        (StepState::ToDo, format!("fix {}", wrong.join(" and ")))
    }
}

fn kind_phrase(kind: Kind) -> &'static str {
    match kind {
        Kind::Symlink => "is a symbolic link",
        Kind::Dir => "is a directory",
        Kind::File => "is a file",
        Kind::Other => "is not a regular file or directory",
    }
}

/// Quotes a word for the shown commands only where the shell would misread it.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `echo 'LINE' >> FILE`, exact whatever the line holds (a key comment may contain `'`
/// or `\`): quoted for sh, and printf where dash's echo would expand backslashes.
fn append_command(line: &str, file: &str) -> String {
    let quoted = format!("'{}'", line.replace('\'', r"'\''"));
    if line.contains('\\') {
        format!("printf '%s\\n' {quoted} >> {file}")
    } else {
        format!("echo {quoted} >> {file}")
    }
}

/// Replaces, in place, the first line holding the key's data with the new line and drops
/// later ones, as the merge does; every other line stays. Values go through the
/// environment, so no quoting rule of sed or awk can change them.
fn replace_command(line: &str, data: &str, file: &str) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    format!(
        "K={} L={} awk '{{ n = split($0, w, /[ \t]+/); hit = 0; for (i = 1; i <= n; i++) if (w[i] == ENVIRON[\"K\"]) hit = 1; if (!hit) print; else if (!done++) print ENVIRON[\"L\"] }}' {file} > {file}.new && cat {file}.new > {file} && rm {file}.new",
        quote(data),
        quote(line)
    )
}

fn key_step(state: &HostState, line: &str, data: &str, keys_file: &str) -> Step {
    let mut step = Step {
        action: Action::InstallKey {
            line: line.to_string(),
            data: data.to_string(),
        },
        title: "Add the vendor's key (one line)".into(),
        guide: "guide step 9",
        command: append_command(line, keys_file),
        state: StepState::ToDo,
        detail: String::new(),
    };
    let existing = match (&state.authorized_keys_content, &state.authorized_keys) {
        (Some(content), _) => content.as_slice(),
        (None, Node::Found(_)) => {
            step.detail = "the file could not be read here; applying merges the key into it".into();
            return step;
        }
        (None, _) => &[],
    };
    let others = authorized_keys::key_count(existing);
    match authorized_keys::merge(existing, line, data) {
        Merge::Unchanged => {
            step.state = StepState::Done;
            step.detail = "the key is installed with these options".into();
        }
        Merge::Added(_) => {
            step.detail = match others {
                0 => "the key becomes the file's first line".into(),
                n => format!("appended; the {n} key line(s) already there are kept byte for byte"),
            };
        }
        Merge::Updated(_) => {
            step.title = "Update the vendor's key line (other options or comment)".into();
            step.command = replace_command(line, data, keys_file);
            step.detail =
                "the key is there with other options: its line is replaced, other lines are kept"
                    .into();
        }
    }
    step
}

/// The sshd repair as a step: the exact lines, the file, and why; blocked (with what to
/// do by hand) when this program must not make it.
fn sshd_step(repair: Repair) -> Step {
    let file = shell_word(&repair.file.display().to_string());
    let mut commands: Vec<String> = repair
        .edits
        .iter()
        .map(|e| {
            format!(
                "sed -i '{}s/$/ {}/' {}",
                e.place.number,
                e.word,
                shell_word(&e.place.file.display().to_string())
            )
        })
        .collect();
    if !repair.lines.is_empty() {
        commands.push(format!(
            "printf '%s\\n' {} >> {file}",
            repair
                .lines
                .iter()
                .map(|l| shell_word(l))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    commands.push("sshd -t && systemctl reload ssh".into());
    let mut detail = repair.reasons.join("; ");
    if let Some(why) = &repair.blocked {
        detail = format!("{detail}: {why}");
    } else {
        let what: Vec<String> = repair
            .edits
            .iter()
            .map(|e| {
                format!(
                    "{}: `{}` becomes `{}`",
                    e.place,
                    e.before.trim(),
                    e.after.trim()
                )
            })
            .chain(
                (!repair.lines.is_empty())
                    .then(|| format!("{}: {}", repair.file.display(), repair.lines.join(" / "))),
            )
            .collect();
        detail = format!("{detail}. Writes {}", what.join("; "));
    }
    Step {
        title: format!("Repair sshd for this user in {}", repair.file.display()),
        guide: "sshd",
        command: commands.join(" && "),
        state: if repair.blocked.is_some() {
            StepState::Blocked
        } else {
            StepState::ToDo
        },
        detail,
        action: Action::RepairSshd(Box::new(repair)),
    }
}
