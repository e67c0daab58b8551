//! The sshd checks, judged for the tunnel user from every vendor address (each address
//! can meet its own `Match Address` block).

use super::{Check, CheckId, Status};
use std::net::IpAddr;

use crate::inspect::HostState;
use crate::profile::Profile;
use crate::setup::Request;
use crate::sshd::{judge_all, Effective, SshdConfig};
use crate::sshd_paths::Revocation;

pub(super) fn checks(request: &Request, state: &HostState, profile: &Profile) -> Vec<Check> {
    let configs = match &state.sshd {
        Ok(configs) if !configs.is_empty() => configs,
        Ok(_) => return unknown(state, "no vendor address to evaluate"),
        Err(why) => return unknown(state, why),
    };
    let user = request.user.as_str();
    let in_match = |setting: &str| {
        format!(
            "in /etc/ssh/sshd_config add `Match User {user}` then {setting}, then reload sshd; \
            or let bastion-wizard do it: the sshd repair step on the wizard's Review screen, \
            or apply --fix-sshd"
        )
    };
    let targets = request.db_targets();
    vec![
        fail_or_ok(
            CheckId::SshdPubkey,
            judge_all(configs, |c, _| c.pubkey_problem(user, &state.home_path))
                .or_else(|| revoked_problem(state)),
            "PubkeyAuthentication yes, keys read from ~/.ssh/authorized_keys",
            in_match("`PubkeyAuthentication yes` and `AuthorizedKeysFile .ssh/authorized_keys`"),
        ),
        forwarding_check(configs, &targets, &in_match),
        fail_or_ok(
            CheckId::SshdUserAllowed,
            judge_all(configs, |c, addr| {
                c.user_problem(user, &state.user_groups, addr)
            })
            .map(|p| format!("{p}: sshd refuses the login"))
            .or_else(|| chroot_problem(state)),
            "no AllowUsers/AllowGroups/DenyUsers/DenyGroups rule excludes it from any vendor \
                address",
            format!(
                "add {user} to AllowUsers (or its group to AllowGroups) in \
                /etc/ssh/sshd_config, then reload sshd; or let bastion-wizard do it: the sshd \
                repair step on the wizard's Review screen, or apply --fix-sshd"
            ),
        ),
        algorithm_check(request, configs),
        fail_or_ok(
            CheckId::SshdAuthMethods,
            judge_all(configs, |c, _| c.auth_methods_problem())
                .map(|p| format!("{p}: the vendor's client offers only its key")),
            "AuthenticationMethods does not ask for more than the key",
            in_match("`AuthenticationMethods publickey`"),
        ),
        keepalive_check(configs, profile, &in_match),
        listening_check(configs, state, &request.vendor_addrs),
    ]
}

fn fail_or_ok(id: CheckId, problem: Option<String>, fine: &str, fix: String) -> Check {
    match problem {
        None => Check::new(id, Status::Ok, fine, None),
        Some(problem) => Check::new(id, Status::Fail, problem, Some(fix)),
    }
}

fn revoked_problem(state: &HostState) -> Option<String> {
    state
        .revoked
        .iter()
        .find_map(|(file, revocation)| match revocation {
            Revocation::Unreadable(why) => Some(format!(
                "RevokedKeys {file} cannot be read ({why}): sshd then refuses every key"
            )),
            Revocation::Revoked => Some(format!("RevokedKeys {file} lists the vendor's key")),
            Revocation::Clear | Revocation::Unknown(_) => None,
        })
}

fn chroot_problem(state: &HostState) -> Option<String> {
    state
        .chroots
        .iter()
        .find_map(|(_, problem)| problem.clone())
        .map(|p| format!("{p}: sshd closes the connection right after the login"))
}

fn forwarding_check(
    configs: &[Effective],
    targets: &[crate::authorized_keys::PermitOpen],
    in_match: &dyn Fn(&str) -> String,
) -> Check {
    let id = CheckId::SshdForwarding;
    if let Some(problem) = judge_all(configs, |c, _| c.forwarding_problem()) {
        return Check::new(
            id,
            Status::Fail,
            format!("{problem}: the vendor sees \"administratively prohibited: open failed\""),
            Some(in_match(
                "`AllowTcpForwarding local` (and no DisableForwarding)",
            )),
        );
    }
    if targets.is_empty() {
        if let Some(limit) = judge_all(configs, |c, _| {
            let allowed = c.all("permitopen");
            (!allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case("any")))
                .then(|| format!("PermitOpen {}", allowed.join(" ")))
        }) {
            return Check::new(
                id,
                Status::Warn,
                format!(
                    "{limit} limits where the tunnel may go; pass --db HOST:PORT to check the \
                    database target"
                ),
                None,
            );
        }
    }
    match judge_all(configs, |c, _| c.permit_open_problem(targets)) {
        Some(problem) => Check::new(
            id,
            Status::Fail,
            format!("{problem}: the vendor sees \"administratively prohibited: open failed\""),
            Some(in_match(&format!(
                "`PermitOpen {}`",
                targets
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ))),
        ),
        None => Check::new(id, Status::Ok, "local forwarding is allowed", None),
    }
}

fn algorithm_check(request: &Request, configs: &[Effective]) -> Check {
    let id = CheckId::SshdKeyAlgorithm;
    let Some(key) = &request.key else {
        return Check::new(
            id,
            Status::Ok,
            "ed25519, ECDSA and RSA (SHA-2) are accepted \
            by default; give the vendor's key (Paste screen, or --key-file) to check its own \
            type",
            None,
        );
    };
    let key_type = key.algorithm.as_str();
    match judge_all(configs, |c, _| c.accepts_key_type(key_type).err()) {
        None if key_type == "ssh-rsa" => Check::new(
            id,
            Status::Ok,
            "RSA is accepted \
            with SHA-2 signatures (rsa-sha2-512); a client signing with SHA-1 ssh-rsa is refused \
            by OpenSSH 8.8+",
            None,
        ),
        None => Check::new(
            id,
            Status::Ok,
            "the key's algorithm is in PubkeyAcceptedAlgorithms",
            None,
        ),
        Some(why) => {
            Check::new(
                id,
                Status::Fail,
                format!("{why}: sshd logs \"signature algorithm not in PubkeyAcceptedAlgorithms\""),
                Some(format!(
                "in /etc/ssh/sshd_config add `Match User {}` then `PubkeyAcceptedAlgorithms +{}`, \
                    then reload sshd",
                request.user,
                if key_type == "ssh-rsa" { "rsa-sha2-512,rsa-sha2-256" } else { key_type }
            )),
            )
        }
    }
}

fn keepalive_check(
    configs: &[Effective],
    profile: &Profile,
    in_match: &dyn Fn(&str) -> String,
) -> Check {
    let id = CheckId::SshdKeepalive;
    let Some(wanted) = profile.keepalive else {
        return Check::new(
            id,
            Status::Ok,
            format!("{} asks for no particular keepalive", profile.name),
            None,
        );
    };
    match judge_all(configs, |c, _| c.keepalive_problem(wanted)) {
        None => Check::new(
            id,
            Status::Ok,
            format!(
                "the keepalive meets {}'s {} s × {}",
                profile.name, wanted.interval, wanted.count_max
            ),
            None,
        ),
        Some(problem) => Check::new(
            id,
            Status::Fail,
            format!("{problem}: {} drops tunnels that stay quiet", profile.name),
            Some(in_match(&format!(
                "`ClientAliveInterval {}` and `ClientAliveCountMax {}`",
                wanted.interval, wanted.count_max
            ))),
        ),
    }
}

/// Listening is global (never per Match block): the first configuration says it all.
fn listening_check(configs: &[Effective], state: &HostState, vendor: &[IpAddr]) -> Check {
    let config: &SshdConfig = &configs[0].config;
    let id = CheckId::SshdListening;
    if let Some(problem) = config.listen_problem(vendor) {
        return Check::new(
            id,
            Status::Fail,
            problem,
            Some(
                "in /etc/ssh/sshd_config set \
            `ListenAddress 0.0.0.0` (or this host's address), then restart sshd"
                    .into(),
            ),
        );
    }
    let ports = config.ports();
    let shown = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let on_port: Vec<_> = state
        .listeners
        .iter()
        .filter(|l| ports.contains(&l.port))
        .collect();
    if on_port.is_empty() {
        return Check::new(
            id,
            Status::Fail,
            format!("nothing listens on port {shown}: the vendor sees \"Connection refused\""),
            Some("systemctl enable --now ssh   (or sshd)".into()),
        );
    }
    let foreign: Vec<String> = on_port
        .iter()
        .filter_map(|l| {
            l.program
                .as_deref()
                .filter(|p| !p.starts_with("sshd"))
                .map(|p| format!("{p} on {}", l.port))
        })
        .collect();
    if !foreign.is_empty() {
        return Check::new(
            id,
            Status::Fail,
            format!(
                "the port is held by {}, not sshd: the vendor reaches the wrong program",
                foreign.join(", ")
            ),
            Some(
                "stop that program or move sshd to a free port (Port in /etc/ssh/sshd_config), \
                then restart sshd"
                    .into(),
            ),
        );
    }
    if on_port.iter().all(|l| l.program.is_none()) && state.is_root {
        return Check::new(
            id,
            Status::Warn,
            format!("something listens on port {shown}, but its program could not be seen"),
            None,
        );
    }
    Check::new(id, Status::Ok, format!("listening on port {shown}"), None)
}

/// sshd could not be asked: every sshd check says why (a failure as root, where it
/// should have worked; a warning otherwise).
fn unknown(state: &HostState, why: &str) -> Vec<Check> {
    let status = if state.is_root {
        Status::Fail
    } else {
        Status::Warn
    };
    let mut checks: Vec<Check> = [
        CheckId::SshdPubkey,
        CheckId::SshdForwarding,
        CheckId::SshdUserAllowed,
        CheckId::SshdKeyAlgorithm,
        CheckId::SshdAuthMethods,
        CheckId::SshdKeepalive,
    ]
    .iter()
    .map(|id| Check::new(*id, status, why, None))
    .collect();
    let listening = state.listening_ports();
    checks.push(if listening.contains(&22) {
        Check::new(
            CheckId::SshdListening,
            Status::Ok,
            "listening on port 22",
            None,
        )
    } else {
        Check::new(
            CheckId::SshdListening,
            Status::Fail,
            "nothing listens on port 22: the vendor sees \"Connection refused\"",
            Some("systemctl enable --now ssh   (or sshd)".into()),
        )
    });
    checks
}
