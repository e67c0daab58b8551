//! `status`: every step of the guide and every known cause of failure, as checks.
//! The account checks are read off the plan, so status and plan can never disagree.

use serde::Serialize;

use crate::authorized_keys;
use crate::firewall;
use crate::inspect::{HostState, Node, Password, Request, ShellState};
use crate::logs;
use crate::plan::{self, Action, Plan, Step, StepState};
use crate::port::{self, PortCheck};
use crate::profile::Profile;
use crate::sshd::{self, SshdConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Fail,
    Warn,
    Manual,
}

/// Every check `status` makes, in report order. Serialized as the ids in interface.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    Group,
    User,
    Home,
    SshDir,
    AuthorizedKeys,
    KeyInstalled,
    AccountUnlocked,
    Shell,
    SshdPubkey,
    SshdForwarding,
    SshdUserAllowed,
    SshdKeyAlgorithm,
    SshdAuthMethods,
    SshdKeepalive,
    SshdListening,
    LocalFirewall,
    Fail2ban,
    VendorAttempts,
    PortVendorToSsh,
    PortSshToDb,
}

impl CheckId {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Group => "group",
            CheckId::User => "user",
            CheckId::Home => "home",
            CheckId::SshDir => "ssh_dir",
            CheckId::AuthorizedKeys => "authorized_keys",
            CheckId::KeyInstalled => "key_installed",
            CheckId::AccountUnlocked => "account_unlocked",
            CheckId::Shell => "shell",
            CheckId::SshdPubkey => "sshd_pubkey",
            CheckId::SshdForwarding => "sshd_forwarding",
            CheckId::SshdUserAllowed => "sshd_user_allowed",
            CheckId::SshdKeyAlgorithm => "sshd_key_algorithm",
            CheckId::SshdAuthMethods => "sshd_auth_methods",
            CheckId::SshdKeepalive => "sshd_keepalive",
            CheckId::SshdListening => "sshd_listening",
            CheckId::LocalFirewall => "local_firewall",
            CheckId::Fail2ban => "fail2ban",
            CheckId::VendorAttempts => "vendor_attempts",
            CheckId::PortVendorToSsh => "port_vendor_to_ssh",
            CheckId::PortSshToDb => "port_ssh_to_db",
        }
    }
}

impl CheckId {
    /// The checks that `apply` itself makes pass (the guide's account steps).
    pub fn is_account(self) -> bool {
        matches!(
            self,
            CheckId::Group
                | CheckId::User
                | CheckId::Home
                | CheckId::SshDir
                | CheckId::AuthorizedKeys
                | CheckId::KeyInstalled
                | CheckId::AccountUnlocked
                | CheckId::Shell
        )
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for CheckId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: CheckId,
    pub status: Status,
    pub title: String,
    pub detail: String,
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ready: bool,
    pub user: String,
    pub group: String,
    pub checks: Vec<Check>,
}

/// Where the host stands, in the one form every screen and command words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No check fails.
    Ready,
    /// Checks fail; `account_done` when none of them is the account's.
    NotReady { account_done: bool, failing: usize },
}

impl Report {
    pub fn failing(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }

    pub fn verdict(&self) -> Verdict {
        let failing = self.failing().count();
        if failing == 0 {
            return Verdict::Ready;
        }
        Verdict::NotReady {
            account_done: !self.failing().any(|c| c.id.is_account()),
            failing,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Ready => f.write_str("Ready: no check fails on this host."),
            Verdict::NotReady {
                account_done: true,
                failing,
            } => write!(
                f,
                "Not ready: the account is set up, but {failing} check(s) outside it still fail. The vendor's tunnel will not work until each is fixed."
            ),
            Verdict::NotReady { failing, .. } => write!(
                f,
                "Not ready: {failing} check(s) fail. The vendor's tunnel will not work until each is fixed."
            ),
        }
    }
}

/// Timeout for the database reachability check inside `status`.
pub const DB_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Connects to each `--permit-open` target: the only check that touches the network,
/// kept out of `report` so the report stays a pure function.
pub fn check_targets(request: &Request) -> Vec<(String, PortCheck)> {
    request
        .db_targets()
        .iter()
        .map(|t| {
            (
                t.to_string(),
                port::check(&t.host, t.port, DB_CHECK_TIMEOUT),
            )
        })
        .collect()
}

/// Every check, judged from what inspect saw and the database port results at hand.
pub fn report(
    request: &Request,
    state: &HostState,
    plan: &Plan,
    profile: &Profile,
    db_results: &[(String, PortCheck)],
) -> Report {
    let mut checks = account_checks(request, state, plan);
    checks.extend(sshd_checks(request, state, profile));
    checks.push(firewall::check(
        &state.firewall,
        &request.vendor_addrs,
        &state.ssh_ports(),
    ));
    checks.push(firewall::check_fail2ban(
        &state.fail2ban,
        &request.vendor_addrs,
    ));
    // The log's last refusal matters only while its cause still holds; the port
    // checks are judged first so that a failed connect to the database is seen.
    let ports = port_checks(state, profile, db_results);
    let still_fails = |id: CheckId| {
        checks
            .iter()
            .chain(&ports)
            .any(|c| c.id == id && c.status == Status::Fail)
    };
    let attempts = logs::check(&state.attempts, &still_fails);
    checks.push(attempts);
    checks.extend(ports);
    Report {
        ready: checks.iter().all(|c| c.status != Status::Fail),
        user: request.user.clone(),
        group: request.group.clone(),
        checks,
    }
}

impl Check {
    pub fn new(
        id: CheckId,
        status: Status,
        title: impl Into<String>,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            id,
            status,
            title: title.into(),
            detail: detail.into(),
            fix,
        }
    }
}

fn check(
    id: CheckId,
    status: Status,
    title: impl Into<String>,
    detail: impl Into<String>,
    fix: Option<String>,
) -> Check {
    Check::new(id, status, title, detail, fix)
}

fn step(plan: &Plan, wanted: fn(&Action) -> bool) -> Option<&Step> {
    plan.steps.iter().find(|s| wanted(&s.action))
}

/// A plan step as a check. Steps that could not be judged without root warn instead of fail.
fn from_step(id: CheckId, title: String, step: &Step, unknown: bool, is_root: bool) -> Check {
    let status = match step.state {
        StepState::Done => Status::Ok,
        _ if unknown && !is_root => Status::Warn,
        _ => Status::Fail,
    };
    let detail = if status == Status::Warn {
        format!("{} (run as root to check)", step.detail)
    } else {
        step.detail.clone()
    };
    let fix = (status != Status::Ok).then(|| step.command.clone());
    check(id, status, title, detail, fix)
}

/// Checks are named by the state they expect; plan steps by the change they make.
fn title_for(id: CheckId, request: &Request, state: &HostState) -> String {
    let user = &request.user;
    match id {
        CheckId::Group => format!("Group {} exists", request.group),
        CheckId::User => format!("User {user} exists"),
        CheckId::Home => format!("Home {} safe for sshd", state.home_path.display()),
        CheckId::SshDir => format!("~/.ssh is 0700, owned by {user}"),
        CheckId::AuthorizedKeys => format!("authorized_keys is 0600, owned by {user}"),
        CheckId::KeyInstalled => "Vendor's key installed (one line)".into(),
        CheckId::AccountUnlocked => "Account allows key login".into(),
        _ => "Login shell exists".into(),
    }
}

fn account_checks(request: &Request, state: &HostState, plan: &Plan) -> Vec<Check> {
    let root = state.is_root;
    let unreadable = |n: &Node| matches!(n, Node::Unreadable(_));
    let mut checks = Vec::new();
    for step in &plan.steps {
        let (id, unknown) = match step.action {
            Action::CreateGroup => (CheckId::Group, false),
            Action::CreateUser { .. } => (CheckId::User, false),
            Action::SecureHome => (CheckId::Home, unreadable(&state.home)),
            Action::SshDir => (CheckId::SshDir, unreadable(&state.ssh_dir)),
            Action::AuthorizedKeys => (CheckId::AuthorizedKeys, unreadable(&state.authorized_keys)),
            _ => continue,
        };
        checks.push(from_step(
            id,
            title_for(id, request, state),
            step,
            unknown,
            root,
        ));
    }
    checks.push(key_check(request, state, plan));

    let missing_user = || Some("sudo bastion-wizard apply --key-file KEY".to_string());
    checks.push(
        match (&state.user, step(plan, |a| matches!(a, Action::Unlock))) {
            (None, _) => check(
                CheckId::AccountUnlocked,
                Status::Fail,
                "Account allows key login",
                "the user does not exist yet",
                missing_user(),
            ),
            (Some(_), Some(s)) => from_step(
                CheckId::AccountUnlocked,
                title_for(CheckId::AccountUnlocked, request, state),
                s,
                matches!(state.password, Password::Unknown(_)),
                root,
            ),
            (Some(_), None) => check(
                CheckId::AccountUnlocked,
                Status::Warn,
                "Account allows key login",
                "not judged",
                None,
            ),
        },
    );
    checks.push(
        match (
            &state.user,
            step(plan, |a| matches!(a, Action::SetShell { .. })),
        ) {
            (None, _) => check(
                CheckId::Shell,
                Status::Fail,
                "Login shell exists",
                "the user does not exist yet",
                missing_user(),
            ),
            (Some(_), Some(s)) => {
                let mut c = from_step(
                    CheckId::Shell,
                    title_for(CheckId::Shell, request, state),
                    s,
                    false,
                    root,
                );
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
                check(
                    CheckId::Shell,
                    Status::Ok,
                    "Login shell exists",
                    detail,
                    None,
                )
            }
        },
    );
    checks
}

fn key_check(request: &Request, state: &HostState, plan: &Plan) -> Check {
    let title = "Vendor's key installed (one line)";
    if let Some(s) = step(plan, |a| matches!(a, Action::InstallKey { .. })) {
        let unknown =
            state.authorized_keys_content.is_none() && state.authorized_keys.meta().is_some();
        let mut c = from_step(
            CheckId::KeyInstalled,
            title.into(),
            s,
            unknown,
            state.is_root,
        );
        // Installed with other options still counts as installed: status is asked whether
        // the key is there, and a rerun without the original flags must not say "missing".
        if c.status == Status::Fail {
            if let Some(entry) = request
                .key
                .as_ref()
                .zip(state.authorized_keys_content.as_ref())
                .and_then(|(k, content)| authorized_keys::find_entry(content, &k.data))
            {
                let options = entry.options.unwrap_or_else(|| "none".into());
                c.status = Status::Warn;
                c.detail = format!(
                    "installed with options {options}; apply with these flags would change the line to what the plan shows"
                );
            }
        }
        return c;
    }
    match &state.authorized_keys_content {
        Some(content) => {
            let count = authorized_keys::key_count(content);
            if count > 0 {
                check(
                    CheckId::KeyInstalled,
                    Status::Ok,
                    title,
                    format!(
                        "{count} key line(s) installed; pass --key-file to check a particular key"
                    ),
                    None,
                )
            } else {
                check(
                    CheckId::KeyInstalled,
                    Status::Fail,
                    title,
                    "authorized_keys holds no key",
                    Some("sudo bastion-wizard apply --key-file KEY".into()),
                )
            }
        }
        None if !state.is_root && state.authorized_keys.meta().is_some() => check(
            CheckId::KeyInstalled,
            Status::Warn,
            title,
            "authorized_keys could not be read (run as root to check)",
            None,
        ),
        None => check(
            CheckId::KeyInstalled,
            Status::Fail,
            title,
            "no authorized_keys file",
            Some("sudo bastion-wizard apply --key-file KEY".into()),
        ),
    }
}

fn sshd_checks(request: &Request, state: &HostState, profile: &Profile) -> Vec<Check> {
    let configs = match &state.sshd {
        Ok(configs) if !configs.is_empty() => configs,
        Ok(_) => return unknown_sshd_checks(state, "no vendor address to evaluate"),
        Err(why) => return unknown_sshd_checks(state, why),
    };
    let user = &request.user;
    let groups = user_groups(user, &request.group);
    let mut checks = vec![
        match sshd::judge_all(configs, SshdConfig::pubkey_problem) {
            None => check(CheckId::SshdPubkey, Status::Ok, "sshd accepts public keys", "PubkeyAuthentication yes, keys read from ~/.ssh/authorized_keys", None),
            Some(problem) => check(CheckId::SshdPubkey, Status::Fail, "sshd accepts public keys", problem, Some(format!("in /etc/ssh/sshd_config add `Match User {user}` then `PubkeyAuthentication yes` and `AuthorizedKeysFile .ssh/authorized_keys`, then reload sshd"))),
        },
        match sshd::judge_all(configs, SshdConfig::forwarding_problem) {
            None => check(CheckId::SshdForwarding, Status::Ok, "sshd allows TCP forwarding", "local forwarding is allowed", None),
            Some(problem) => check(CheckId::SshdForwarding, Status::Fail, "sshd allows TCP forwarding", format!("{problem}: the vendor sees \"administratively prohibited: open failed\""), Some(format!("in /etc/ssh/sshd_config add `Match User {user}` then `AllowTcpForwarding local` (and no DisableForwarding), then reload sshd"))),
        },
        match sshd::judge_all(configs, |c| c.user_problem(user, &groups)) {
            None => check(CheckId::SshdUserAllowed, Status::Ok, "sshd lets the user in", "no AllowUsers/AllowGroups/DenyUsers/DenyGroups rule excludes it", None),
            Some(problem) => check(CheckId::SshdUserAllowed, Status::Fail, "sshd lets the user in", format!("{problem}: sshd refuses the login"), Some(format!("add {user} to AllowUsers (or its group to AllowGroups) in /etc/ssh/sshd_config, then reload sshd"))),
        },
    ];
    let key_type = request.key.as_ref().map(|k| k.algorithm.as_str());
    checks.push(match key_type.map(|t| sshd::judge_all(configs, |c| c.accepts_key_type(t).err())) {
        Some(None) => {
            let detail = if key_type == Some("ssh-rsa") {
                "RSA is accepted with SHA-2 signatures (rsa-sha2-256/512); a client signing with SHA-1 ssh-rsa is refused by OpenSSH 8.8+"
            } else {
                "the key's algorithm is in PubkeyAcceptedAlgorithms"
            };
            check(CheckId::SshdKeyAlgorithm, Status::Ok, "sshd accepts the key's algorithm", detail, None)
        }
        Some(Some(why)) => check(CheckId::SshdKeyAlgorithm, Status::Fail, "sshd accepts the key's algorithm", format!("{why}: sshd logs \"signature algorithm not in PubkeyAcceptedAlgorithms\""), Some("add the algorithm to PubkeyAcceptedAlgorithms (e.g. `PubkeyAcceptedAlgorithms +rsa-sha2-512,rsa-sha2-256`)".into())),
        None => check(CheckId::SshdKeyAlgorithm, Status::Ok, "sshd accepts the key's algorithm", "ed25519, ECDSA and RSA (SHA-2) are accepted by default; pass --key-file to check a particular key", None),
    });
    checks.push(match sshd::judge_all(configs, SshdConfig::auth_methods_problem) {
        None => check(CheckId::SshdAuthMethods, Status::Ok, "sshd lets a key alone log in", "AuthenticationMethods does not ask for more than the key", None),
        Some(problem) => check(CheckId::SshdAuthMethods, Status::Fail, "sshd lets a key alone log in", format!("{problem}: the vendor's client offers only its key"), Some(format!("in /etc/ssh/sshd_config add `Match User {user}` then `AuthenticationMethods publickey`, then reload sshd"))),
    });
    checks.push(keepalive_check(configs, profile, user));
    checks.push(listening_check(&configs[0].config, &state.listening_ports));
    checks
}

fn keepalive_check(configs: &[sshd::Effective], profile: &Profile, user: &str) -> Check {
    let title = "sshd keeps idle tunnels open";
    let Some(wanted) = profile.keepalive else {
        return check(
            CheckId::SshdKeepalive,
            Status::Ok,
            title,
            format!("{} asks for no particular keepalive", profile.name),
            None,
        );
    };
    match sshd::judge_all(configs, |c| c.keepalive_problem(wanted)) {
        None => check(CheckId::SshdKeepalive, Status::Ok, title, format!("the keepalive meets {}'s {} s × {}", profile.name, wanted.interval, wanted.count_max), None),
        Some(problem) => check(CheckId::SshdKeepalive, Status::Fail, title, format!("{problem}: {} drops tunnels that stay quiet", profile.name), Some(format!("in /etc/ssh/sshd_config add `Match User {user}` then `ClientAliveInterval {}` and `ClientAliveCountMax {}`, then reload sshd", wanted.interval, wanted.count_max))),
    }
}

/// sshd could not be asked: every sshd check says why (a failure as root, where it
/// should have worked; a warning otherwise).
fn unknown_sshd_checks(state: &HostState, why: &str) -> Vec<Check> {
    let status = if state.is_root {
        Status::Fail
    } else {
        Status::Warn
    };
    let titles = [
        (CheckId::SshdPubkey, "sshd accepts public keys"),
        (CheckId::SshdForwarding, "sshd allows TCP forwarding"),
        (CheckId::SshdUserAllowed, "sshd lets the user in"),
        (
            CheckId::SshdKeyAlgorithm,
            "sshd accepts the key's algorithm",
        ),
        (CheckId::SshdAuthMethods, "sshd lets a key alone log in"),
        (CheckId::SshdKeepalive, "sshd keeps idle tunnels open"),
    ];
    let mut checks: Vec<Check> = titles
        .iter()
        .map(|(id, title)| check(*id, status, *title, why, None))
        .collect();
    checks.push(listening_check(
        &SshdConfig::default(),
        &state.listening_ports,
    ));
    checks
}

fn listening_check(config: &SshdConfig, listening: &[u16]) -> Check {
    let ports = config.ports();
    let title = "sshd is listening";
    let shown = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if ports.iter().any(|p| listening.contains(p)) {
        check(
            CheckId::SshdListening,
            Status::Ok,
            title,
            format!("listening on port {shown}"),
            None,
        )
    } else {
        check(
            CheckId::SshdListening,
            Status::Fail,
            title,
            format!("nothing listens on port {shown}: the vendor sees \"Connection refused\""),
            Some("systemctl enable --now ssh   (or sshd)".into()),
        )
    }
}

fn port_checks(
    state: &HostState,
    profile: &Profile,
    db_results: &[(String, PortCheck)],
) -> Vec<Check> {
    let ports = state.ssh_ports();
    let ports_text = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let ips = profile
        .ips
        .iter()
        .map(|ip| format!("{ip}/32"))
        .collect::<Vec<_>>()
        .join(" ");
    let vendor = check(
        CheckId::PortVendorToSsh,
        Status::Manual,
        format!("{}'s IPs can reach SSH port {ports_text}", profile.name),
        format!("allow inbound TCP {ports_text} from {ips} in the firewall and security group (no load balancer); this cannot be seen from inside the host"),
        Some(format!("for example: ufw allow from {} to any port {}", profile.ips[0], ports[0])),
    );
    let db = if db_results.is_empty() {
        check(
            CheckId::PortSshToDb,
            Status::Manual,
            "This host can reach the database port",
            "no database target given (--permit-open HOST:PORT); check it with `bastion-wizard check-port HOST:PORT`",
            Some("bastion-wizard check-port DBHOST:PORT".into()),
        )
    } else {
        let all_ok = db_results.iter().all(|(_, r)| r.is_reachable());
        let detail = db_results
            .iter()
            .map(|(t, r)| r.summary(t))
            .collect::<Vec<_>>()
            .join("; ");
        check(
            CheckId::PortSshToDb,
            if all_ok { Status::Ok } else { Status::Fail },
            "This host can reach the database port",
            detail,
            (!all_ok)
                .then(|| "allow this host in the database's firewall / security group".to_string()),
        )
    };
    vec![vendor, db]
}

/// The user's groups as sshd sees them, for AllowGroups/DenyGroups.
fn user_groups(user: &str, fallback: &str) -> Vec<String> {
    let Ok(Some(found)) = nix::unistd::User::from_name(user) else {
        return vec![fallback.to_string()];
    };
    let Ok(name) = std::ffi::CString::new(user) else {
        return vec![fallback.to_string()];
    };
    nix::unistd::getgrouplist(&name, found.gid)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|gid| {
            nix::unistd::Group::from_gid(gid)
                .ok()
                .flatten()
                .map(|g| g.name)
        })
        .collect()
}
