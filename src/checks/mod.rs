//! `status`: every step of the guide and every known cause of failure, as checks.
//! The account checks are read off the plan, so status and plan can never disagree.

use serde::Serialize;

mod account;
pub use account::EXPIRY_WARNING_DAYS;
mod ports;
mod sshd;

use crate::connection::{self, Connection};
use crate::firewall;
use crate::inspect::HostState;
use crate::logs;
use crate::plan::Plan;
use crate::port::{self, PortCheck};
use crate::profile::Profile;
use crate::setup::Request;

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
    /// What the vendor's form asks for.
    pub connection: Connection,
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
                "Not ready: the account is set up, but {failing} check(s) outside it still fail. \
                    The vendor's tunnel will not work until each is fixed."
            ),
            Verdict::NotReady { failing, .. } => write!(
                f,
                "Not ready: {failing} check(s) fail. The vendor's tunnel will not work until each \
                    is fixed."
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
    let mut checks = account::checks(request, state, plan);
    checks.extend(sshd::checks(request, state, profile));
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
    let ports = ports::checks(state, profile, db_results);
    let still_fails = |id: CheckId| {
        checks
            .iter()
            .chain(&ports)
            .any(|c| c.id == id && c.status == Status::Fail)
    };
    let attempts = logs::check(&state.attempts, &still_fails);
    checks.push(attempts);
    checks.extend(ports);
    let subject = Subject {
        user: request.user.clone(),
        group: request.group.clone(),
        home: state.home_path.display().to_string(),
        vendor: profile.name.clone(),
        ssh_ports: state
            .ssh_ports()
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    };
    for c in &mut checks {
        c.title = c.id.title(&subject);
    }
    Report {
        ready: checks.iter().all(|c| c.status != Status::Fail),
        user: request.user.clone(),
        group: request.group.clone(),
        checks,
        connection: connection::connection(request, state),
    }
}

impl Check {
    /// A check's title comes from its id (`CheckId::title`), filled in by `report`.
    pub fn new(
        id: CheckId,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check {
            id,
            status,
            title: String::new(),
            detail: detail.into(),
            fix,
        }
    }
}

/// What the titles name: the account, the vendor and sshd's ports.
pub struct Subject {
    pub user: String,
    pub group: String,
    pub home: String,
    pub vendor: String,
    pub ssh_ports: String,
}

impl CheckId {
    /// Each check's title, named by the state it expects.
    pub fn title(self, s: &Subject) -> String {
        let user = &s.user;
        match self {
            CheckId::Group => format!("Group {} exists", s.group),
            CheckId::User => format!("User {user} exists"),
            CheckId::Home => format!("Home {} safe for sshd", s.home),
            CheckId::SshDir => format!("~/.ssh is 0700, owned by {user}"),
            CheckId::AuthorizedKeys => format!("authorized_keys is 0600, owned by {user}"),
            CheckId::KeyInstalled => "Vendor's key installed (one line)".into(),
            CheckId::AccountUnlocked => "Account allows key login".into(),
            CheckId::Shell => "Login shell exists".into(),
            CheckId::SshdPubkey => "sshd accepts public keys".into(),
            CheckId::SshdForwarding => "sshd allows TCP forwarding".into(),
            CheckId::SshdUserAllowed => "sshd lets the user in".into(),
            CheckId::SshdKeyAlgorithm => "sshd accepts the key's algorithm".into(),
            CheckId::SshdAuthMethods => "sshd lets a key alone log in".into(),
            CheckId::SshdKeepalive => "sshd keeps idle tunnels open".into(),
            CheckId::SshdListening => "sshd is listening".into(),
            CheckId::LocalFirewall => "This host's firewall lets the vendor in".into(),
            CheckId::Fail2ban => "fail2ban has not banned the vendor".into(),
            CheckId::VendorAttempts => "The vendor's recent logins".into(),
            CheckId::PortVendorToSsh => {
                format!("{}'s IPs can reach SSH port {}", s.vendor, s.ssh_ports)
            }
            CheckId::PortSshToDb => "This host can reach the database port".into(),
        }
    }
}
