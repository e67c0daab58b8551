//! sshd's refusals: its messages read into a [`Reason`], said in plain words, with the fix
//! and the checks that catch the cause while it holds.

use crate::checks::CheckId;

/// Why sshd refused, as far as the log tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// StrictModes: `path` is writable by group/other or owned by someone else.
    BadModes {
        path: String,
    },
    /// AllowUsers, DenyUsers, AllowGroups or DenyGroups (`rule` is the keyword).
    NotAllowed {
        rule: String,
    },
    /// `!` in /etc/shadow under `UsePAM no`.
    Locked,
    ShellMissing {
        shell: String,
    },
    /// The key's signature algorithm is not in PubkeyAcceptedAlgorithms.
    Algorithm {
        algorithm: String,
    },
    /// A forward refused by AllowTcpForwarding/DisableForwarding, or (`permit_open`)
    /// one not admitted by a PermitOpen or the key's `permitopen`.
    ForwardingProhibited {
        target: String,
        permit_open: bool,
    },
    /// sshd could not reach the forward's target.
    ConnectFailed {
        target: String,
        why: String,
    },
    /// The client gave up: no offered key was accepted.
    KeyNotAccepted,
    /// The account does not exist.
    UnknownUser,
    /// PAM's account stage said no (expiry, /etc/nologin, pam_access).
    PamDenied {
        detail: Option<String>,
    },
    Other,
}

impl Reason {
    /// The checks that would catch this cause while it holds; none when no check can tell.
    pub fn check_ids(&self) -> Vec<CheckId> {
        match self {
            Reason::BadModes { path } => vec![mode_check(path)],
            Reason::NotAllowed { .. } => vec![CheckId::SshdUserAllowed],
            Reason::Locked => vec![CheckId::AccountUnlocked],
            Reason::ShellMissing { .. } => vec![CheckId::Shell],
            Reason::Algorithm { .. } => vec![CheckId::SshdKeyAlgorithm],
            Reason::ForwardingProhibited { .. } => {
                vec![CheckId::SshdForwarding, CheckId::KeyInstalled]
            }
            Reason::ConnectFailed { .. } => vec![CheckId::PortSshToDb],
            // The key offered is not in the log: an installed key does not show the
            // vendor offers that one, so no check can tell.
            Reason::KeyNotAccepted => vec![],
            Reason::UnknownUser => vec![CheckId::User],
            Reason::PamDenied { .. } | Reason::Other => vec![],
        }
    }

    /// sshd's reason in plain words.
    pub fn plain(&self, user: &str) -> String {
        match self {
            Reason::BadModes { path } => format!(
                "{path} was writable by group or others, or owned by someone other than {user} or root, so sshd ignored the key file (StrictModes)"
            ),
            Reason::NotAllowed { rule } => {
                format!("sshd's {rule} setting shuts {user} out")
            }
            Reason::Locked => format!(
                "the account {user} is locked (`!` in /etc/shadow) and sshd runs with UsePAM no"
            ),
            Reason::ShellMissing { shell } => {
                format!("{user}'s login shell {shell} is missing or not executable")
            }
            Reason::Algorithm { algorithm } => format!(
                "the vendor's client signed with {algorithm}, which sshd's PubkeyAcceptedAlgorithms does not admit"
            ),
            Reason::ForwardingProhibited {
                target,
                permit_open: false,
            } => format!(
                "the login worked but sshd refused the tunnel to {target}: forwarding is off (AllowTcpForwarding or DisableForwarding)"
            ),
            Reason::ForwardingProhibited {
                target,
                permit_open: true,
            } => format!(
                "the login worked but sshd refused the tunnel to {target}: that target is not in PermitOpen or the key's permitopen"
            ),
            Reason::ConnectFailed { target, why } => format!(
                "the tunnel opened but this host could not reach the database at {target} ({why})"
            ),
            Reason::KeyNotAccepted => format!(
                "the vendor's client gave up: no key it offered is accepted for {user}"
            ),
            Reason::UnknownUser => format!("the user {user} did not exist"),
            Reason::PamDenied { detail } => match detail {
                Some(d) => format!("PAM refused the account: {d}"),
                None => "PAM refused the account (an expired account, /etc/nologin or pam_access)"
                    .into(),
            },
            Reason::Other => "sshd refused the login".into(),
        }
    }

    /// What to do about it, as commands where there is one.
    pub fn fix(&self, user: &str) -> String {
        match self {
            Reason::BadModes { path } => format!(
                "`sudo bastion-wizard apply` sets the modes; by hand: `chmod go-w {path}` and make it owned by {user} (or root): `chown {user} {path}`"
            ),
            Reason::NotAllowed { rule } => format!(
                "`sudo bastion-wizard apply --fix-sshd` adds {user} to the {rule} line; by hand, edit that line in /etc/ssh/sshd_config (or its drop-in) and `systemctl reload ssh`"
            ),
            Reason::Locked => format!(
                "`sudo usermod -p '*' {user}` (key login, no password), or `sudo bastion-wizard apply`"
            ),
            Reason::ShellMissing { .. } => format!(
                "`sudo usermod -s /usr/sbin/nologin {user}`, or `sudo bastion-wizard apply`"
            ),
            Reason::Algorithm { algorithm } => format!(
                "`sudo bastion-wizard apply --fix-sshd` admits it for {user}; by hand: `PubkeyAcceptedAlgorithms +{algorithm}` in a `Match User {user}` block, then `systemctl reload ssh`"
            ),
            Reason::ForwardingProhibited { .. } => format!(
                "`sudo bastion-wizard apply --fix-sshd` allows the forward for {user}; if the key line has `permitopen` or `restrict`, `sudo bastion-wizard apply --key-file KEY` rewrites it"
            ),
            Reason::ConnectFailed { target, .. } => format!(
                "make the database listen on {target} and let this host reach it (its firewall or security group); test with `sudo bastion-wizard status --db {target}`"
            ),
            Reason::KeyNotAccepted => format!(
                "install the key the vendor gave you for {user}: `sudo bastion-wizard apply --key-file KEY`; if it is installed, compare its fingerprint with the one in the vendor's form, and prove it with `sudo bastion-wizard verify`"
            ),
            Reason::UnknownUser => "`sudo bastion-wizard apply` creates the user".into(),
            Reason::PamDenied { .. } => format!(
                "`sudo chage -l {user}` (then `sudo chage -E -1 {user}` if it expired); remove /etc/nologin; look at /etc/security/access.conf"
            ),
            Reason::Other => format!(
                "read sshd's line above, and the lines around it: `sudo journalctl -t sshd --since -1d | grep {user}`; `sudo bastion-wizard verify` proves the tunnel"
            ),
        }
    }
}

/// Which mode check covers `path`: the key file, the ~/.ssh directory, or the home.
fn mode_check(path: &str) -> CheckId {
    let path = path.trim_end_matches('/');
    if path.ends_with("/.ssh") {
        CheckId::SshDir
    } else if path.contains("/.ssh/") {
        CheckId::AuthorizedKeys
    } else {
        CheckId::Home
    }
}

pub(super) fn not_allowed(why: &str) -> Reason {
    let rule = |r: &str| Reason::NotAllowed { rule: r.into() };
    if why == "account is locked" {
        Reason::Locked
    } else if let Some(shell) = why.strip_prefix("shell ") {
        let shell = shell
            .trim_end_matches(" does not exist")
            .trim_end_matches(" is not executable");
        Reason::ShellMissing {
            shell: shell.to_string(),
        }
    } else if why.ends_with("in AllowUsers") {
        rule("AllowUsers")
    } else if why.ends_with("in DenyUsers") {
        rule("DenyUsers")
    } else if why.ends_with("in AllowGroups") {
        rule("AllowGroups")
    } else if why.ends_with("in DenyGroups") {
        rule("DenyGroups")
    } else {
        Reason::Other
    }
}

/// Forwards refused or failed after login.
pub(super) fn session_refusal(msg: &str) -> Option<Reason> {
    if let Some(rest) = msg.strip_prefix("refused local port forward: ") {
        // "originator A port P, target H port N"
        let target = rest.split_once("target ").map(|(_, t)| host_port(t));
        return Some(Reason::ForwardingProhibited {
            target: target.unwrap_or_default(),
            permit_open: false,
        });
    }
    if let Some(rest) = msg.strip_prefix("Received request from ") {
        // "A port P to connect to host H port N, but the request was denied."
        let target = rest
            .split_once(" to connect to host ")?
            .1
            .strip_suffix(", but the request was denied.")?;
        return Some(Reason::ForwardingProhibited {
            target: host_port(target),
            permit_open: true,
        });
    }
    if let Some(rest) = msg.strip_prefix("error: connect_to ") {
        // "H port N: failed." or "H: unknown host (...)"
        let (target, why) = rest.split_once(": ")?;
        let why = if why.starts_with("failed") {
            "connection refused or timed out".to_string()
        } else {
            why.trim_end_matches('.').to_string()
        };
        return Some(Reason::ConnectFailed {
            target: host_port(target),
            why,
        });
    }
    None
}

/// "H port N" → "H:N"
fn host_port(s: &str) -> String {
    match s.split_once(" port ") {
        Some((h, p)) => format!("{h}:{}", p.trim_end_matches('.')),
        None => s.to_string(),
    }
}
