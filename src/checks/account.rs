//! The account checks: the guide's steps, read off the plan, but judged the way this
//! host's sshd judges them. A path that differs from the guide yet works for sshd warns;
//! only what sshd would refuse fails.

use super::{Check, CheckId, Status};
use crate::authorized_keys::{self, KeyOptions};
use crate::dates::{Clock, ExpiryTime};
use crate::inspect::{Account, HostState, Node, Password, ShellState};
use crate::plan::{self, Action, Plan, Step, StepState};
use crate::safe_fs::Meta;
use crate::setup::Request;

/// How the account gets set up, in the wizard's words and the command line's.
const SET_UP: &str = "set up the account: Enter on the wizard's first screen (sudo \
    bastion-wizard), or sudo bastion-wizard apply --key-file KEY";

pub(super) fn checks(request: &Request, state: &HostState, plan: &Plan) -> Vec<Check> {
    let mut checks = Vec::new();
    for step in &plan.steps {
        if let Action::CreateUser {
            own_group: true, ..
        } = step.action
        {
            // One `useradd -U` makes both: the group's check follows the same step.
            checks.push(Check::new(
                CheckId::Group,
                Status::Fail,
                format!(
                    "group {} does not exist yet: it is made with the user",
                    request.group
                ),
                Some(step.command.clone()),
            ));
        }
        let (id, node) = match step.action {
            Action::CreateGroup => (CheckId::Group, None),
            Action::CreateUser { .. } => (CheckId::User, None),
            Action::SecureHome => (CheckId::Home, Some(&state.home)),
            Action::SshDir => (CheckId::SshDir, Some(&state.ssh_dir)),
            Action::AuthorizedKeys => (CheckId::AuthorizedKeys, Some(&state.authorized_keys)),
            _ => continue,
        };
        checks.push(match node {
            Some(node) => path_check(id, step, node, state),
            None => from_step(id, step, false, state.is_root),
        });
    }
    checks.push(key_check(request, state, plan));
    checks.push(unlocked_check(request, state, plan));
    checks.push(shell_check(state, plan));
    checks
}

fn step(plan: &Plan, wanted: fn(&Action) -> bool) -> Option<&Step> {
    plan.steps.iter().find(|s| wanted(&s.action))
}

/// A plan step as a check: done is ok; anything else fails, or warns where only root
/// could have judged it (`unknown`).
fn from_step(id: CheckId, step: &Step, unknown: bool, is_root: bool) -> Check {
    match step.state {
        StepState::Done => Check::new(id, Status::Ok, step.detail.clone(), None),
        _ if unknown && !is_root => Check::new(
            id,
            Status::Warn,
            format!("{} (run as root to check)", step.detail),
            Some(step.command.clone()),
        ),
        _ => Check::new(
            id,
            Status::Fail,
            step.detail.clone(),
            Some(step.command.clone()),
        ),
    }
}

/// Home, ~/.ssh and authorized_keys: fail only where sshd refuses.
fn path_check(id: CheckId, step: &Step, node: &Node, state: &HostState) -> Check {
    if step.state == StepState::Done {
        return Check::new(id, Status::Ok, step.detail.clone(), None);
    }
    let fix = Some(step.command.clone());
    match (node, &state.user) {
        (Node::Unreadable(_), _) if !state.is_root => Check::new(
            id,
            Status::Warn,
            format!("{} (run as root to check)", step.detail),
            fix,
        ),
        (Node::Found(meta), Some(account)) if step.state == StepState::ToDo => {
            let is_file = id == CheckId::AuthorizedKeys;
            match sshd_refuses(meta, account, state, is_file) {
                Some(why) => Check::new(id, Status::Fail, why, fix),
                None => Check::new(
                    id,
                    Status::Warn,
                    format!(
                        "sshd accepts it as it is ({}); the guide asks for more: {}",
                        describe(meta),
                        step.detail
                    ),
                    fix,
                ),
            }
        }
        _ => Check::new(id, Status::Fail, step.detail.clone(), fix),
    }
}

fn describe(meta: &Meta) -> String {
    format!("owner uid {}, mode {:04o}", meta.uid, meta.mode)
}

/// Why sshd would refuse this path (StrictModes, as this host's build applies it, and
/// whether the user can read it at all), if it would.
fn sshd_refuses(
    meta: &Meta,
    account: &Account,
    state: &HostState,
    is_file: bool,
) -> Option<String> {
    let strict = state
        .sshd
        .as_ref()
        .ok()
        .and_then(|c| c.first())
        .is_none_or(|c| c.config.strict_modes());
    if strict {
        if meta.uid != account.uid && meta.uid != 0 {
            return Some(format!(
                "owned by uid {}: sshd refuses it (StrictModes: owner must be the user or root)",
                meta.uid
            ));
        }
        if meta.mode & 0o002 != 0 {
            return Some(format!(
                "mode {:04o} lets anyone write: sshd refuses it (StrictModes)",
                meta.mode
            ));
        }
        if meta.mode & 0o020 != 0 {
            let private = state.sshd_debian
                && state.private_group_alone
                && meta.gid == account.gid
                && meta.uid == account.uid;
            if !private {
                let build = if state.sshd_debian {
                    "the group is not the user's own private group"
                } else {
                    "this sshd is an upstream build, which refuses any group write (Debian's and \
                        Ubuntu's accept a private group)"
                };
                return Some(format!(
                    "mode {:04o} lets the group write: sshd refuses it (StrictModes; {build})",
                    meta.mode
                ));
            }
        }
    }
    // sshd reads the keys as the user: the user must be able to reach and read them.
    let (owner_bits, group_bits, other_bits) =
        (meta.mode >> 6 & 7, meta.mode >> 3 & 7, meta.mode & 7);
    let needed = if is_file { 4 } else { 1 };
    let bits = if meta.uid == account.uid {
        owner_bits
    } else if meta.gid == account.gid {
        group_bits
    } else {
        other_bits
    };
    (bits & needed == 0).then(|| {
        format!(
            "{}: the user cannot {} it, and sshd reads it as the user",
            describe(meta),
            if is_file { "read" } else { "enter" }
        )
    })
}

/// Days before its last day from which a key's expiry warns.
pub const EXPIRY_WARNING_DAYS: i64 = 7;

/// When the line's key stops working, and whether that is soon (`warn`). `None` for a
/// line without an `expiry-time` (a passed or unreadable one is a tunnel problem).
fn expiry_note(options: &KeyOptions, clock: &Clock) -> Option<(String, bool)> {
    let at = ExpiryTime::parse(options.expiry_time.as_deref()?)?;
    let left = at.days_left(clock);
    let last = at.last_day(clock);
    let when = match left {
        0 => format!("today ({last}) is its last day"),
        1 => format!("it expires after {last} (1 day left)"),
        n => format!("it expires after {last} ({n} days left)"),
    };
    Some((when, left <= EXPIRY_WARNING_DAYS))
}

/// How to give the key a later last day, in the wizard's words and the command line's.
const LATER_EXPIRY: &str = "install the line again with a later last day: the expiry field \
    on the wizard's Account screen, or sudo bastion-wizard apply --key-file KEY --expires \
    YYYY-MM-DD (an empty field, or no --expires, removes the expiry)";

fn key_check(request: &Request, state: &HostState, plan: &Plan) -> Check {
    let id = CheckId::KeyInstalled;
    let fix_all = Some(SET_UP.to_string());
    let Some(content) = &state.authorized_keys_content else {
        return if !state.is_root && state.authorized_keys.meta().is_some() {
            Check::new(
                id,
                Status::Warn,
                "authorized_keys could not be read (run as root to check)",
                None,
            )
        } else {
            Check::new(id, Status::Fail, "no authorized_keys file", fix_all)
        };
    };
    let targets = request.db_targets();
    let clock = &state.clock;
    let judge = |options: &KeyOptions| {
        options
            .too_new_for(state.sshd_version)
            .or_else(|| options.tunnel_problem(&request.vendor_addrs, &targets, clock))
    };
    let Some(key) = &request.key else {
        let lines = authorized_keys::login_entries(content);
        let usable = lines.iter().filter(|(_, o)| judge(o).is_none()).count();
        return match (lines.len(), usable) {
            (0, _) => Check::new(id, Status::Fail, "authorized_keys holds no key", fix_all),
            (n, 0) => Check::new(
                id,
                Status::Fail,
                format!(
                    "{n} key line(s), none of which can open a tunnel: {}",
                    judge(&lines[0].1).unwrap_or_default()
                ),
                fix_all,
            ),
            (n, k) => Check::new(
                id,
                Status::Ok,
                format!(
                    "{k} of {n} key line(s) can open a tunnel; give the vendor's key (Paste \
                    screen, or --key-file) to check that one"
                ),
                None,
            ),
        };
    };
    let install = step(plan, |a| matches!(a, Action::InstallKey { .. }));
    let fix = install.map(|s| s.command.clone());
    let Some(entry) = authorized_keys::login_entry(content, &key.data) else {
        return Check::new(id, Status::Fail, "the key is not in authorized_keys", fix);
    };
    let options = match KeyOptions::parse(entry.options.as_deref()) {
        Ok(options) => options,
        Err(why) => {
            return Check::new(
                id,
                Status::Fail,
                format!("sshd ignores its line: {why}"),
                fix,
            )
        }
    };
    if let Some(problem) = judge(&options) {
        // When the planned line is the installed one, rerunning changes nothing: the
        // options asked for must change.
        let expired = options
            .expiry_time
            .as_deref()
            .and_then(ExpiryTime::parse)
            .is_some_and(|at| at.has_passed(clock));
        let rewrite = match install {
            _ if options.too_new_for(state.sshd_version).is_some() => {
                "install the line again without an expiry (leave out --expires; in the wizard, \
                    empty the Account screen's Expires)"
                    .to_string()
            }
            Some(s) if s.state != StepState::Done => s.command.clone(),
            _ if expired => LATER_EXPIRY.to_string(),
            _ => {
                let flags: Vec<String> = targets
                    .iter()
                    .map(|t| format!("--permit-open {t}"))
                    .collect();
                format!(
                    "install the line again with options that allow the tunnel: sudo \
                        bastion-wizard apply --key-file KEY {} (in the wizard: list every \
                        database target on the Account screen)",
                    flags.join(" ")
                )
            }
        };
        return Check::new(
            id,
            Status::Fail,
            format!("the key is installed, but {problem}"),
            Some(rewrite),
        );
    }
    let expiry = expiry_note(&options, clock);
    match (install, expiry) {
        (_, Some((when, true))) => Check::new(
            id,
            Status::Warn,
            format!(
                "the key is installed, but {when}: after it sshd refuses the key and the \
                    vendor's tunnel stops"
            ),
            Some(LATER_EXPIRY.to_string()),
        ),
        (Some(s), expiry) if s.state != StepState::Done => Check::new(
            id,
            Status::Warn,
            format!(
                "installed with options {}: the tunnel works{}; apply with these flags would change \
                    the line to what the plan shows",
                entry.options.as_deref().unwrap_or("none"),
                expiry.map(|(when, _)| format!(" ({when})")).unwrap_or_default()
            ),
            None,
        ),
        (_, Some((when, _))) => Check::new(
            id,
            Status::Ok,
            format!("the key is installed with these options; {when}"),
            None,
        ),
        (_, None) => Check::new(
            id,
            Status::Ok,
            "the key is installed with these options",
            None,
        ),
    }
}

fn unlocked_check(request: &Request, state: &HostState, plan: &Plan) -> Check {
    let id = CheckId::AccountUnlocked;
    if state.user.is_none() {
        return Check::new(
            id,
            Status::Fail,
            "the user does not exist yet",
            Some(SET_UP.into()),
        );
    }
    let uses_pam = state.uses_pam();
    let (user, groups, addrs) = (&request.user, &state.user_groups, &request.vendor_addrs);
    let problems = state.login.problems(user, groups, addrs, uses_pam);
    if let Some((why, fix)) = problems.first() {
        return Check::new(id, Status::Fail, why.clone(), Some(fix.clone()));
    }
    let mut result = match step(plan, |a| matches!(a, Action::Unlock)) {
        Some(s) => from_step(
            id,
            s,
            matches!(state.password, Password::Unknown(_)),
            state.is_root,
        ),
        None => Check::new(id, Status::Warn, "not judged", None),
    };
    if result.status == Status::Fail && state.password == Password::Locked && uses_pam {
        result.status = Status::Warn;
        result.detail = "the password is locked (`!`), which key logins ignore while UsePAM is \
            yes; apply sets `*` so it keeps working if UsePAM is turned off"
            .into();
    }
    if result.status == Status::Ok {
        if let Some(unsettled) = state.login.unsettled(user, groups, addrs, uses_pam) {
            result.status = Status::Warn;
            result.detail = unsettled;
        }
    }
    result
}

fn shell_check(state: &HostState, plan: &Plan) -> Check {
    let id = CheckId::Shell;
    match (
        &state.user,
        step(plan, |a| matches!(a, Action::SetShell { .. })),
    ) {
        (None, _) => Check::new(
            id,
            Status::Fail,
            "the user does not exist yet",
            Some(SET_UP.into()),
        ),
        (Some(_), Some(s)) => {
            let mut c = from_step(id, s, false, state.is_root);
            // A working full shell is only too open for a tunnel-only setup: sshd still
            // lets the user in, so it warns rather than fails.
            if state.shell == Some(ShellState::Executable) {
                c.status = Status::Warn;
            }
            c
        }
        (Some(account), None) => {
            let shell = account.shell.display().to_string();
            let detail = if plan::is_no_login(&account.shell) {
                format!("{shell}: no commands can be run, tunnels still work")
            } else {
                format!("{shell}: a full shell, as --allow-shell asks")
            };
            Check::new(id, Status::Ok, detail, None)
        }
    }
}
