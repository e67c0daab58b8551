//! Whose lines are whose, and in what order: sshd names the user on some lines only, so
//! its pids are tied to users first, then the user's last login and last refusal are read.

use std::collections::{HashMap, HashSet};

use super::parse::Line;
use super::reasons::{not_allowed, session_refusal, Reason};
use super::{Accepted, Attempts, Refused};

/// Who a pid's lines belong to, learned from the lines that name the user.
#[derive(Default)]
struct Pids {
    /// pid → user named on one of its lines (preauth and session processes).
    user: HashMap<u32, String>,
    /// pid → client address, where a line gives it.
    addr: HashMap<u32, String>,
}

/// (user, addr, port) of a line that names the user it is about.
fn names_user(msg: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let msg = msg.trim_end_matches(" [preauth]");
    for prefix in [
        "Connection closed by authenticating user ",
        "Disconnected from authenticating user ",
        "Connection reset by authenticating user ",
        "Connection closed by invalid user ",
        "Disconnected from invalid user ",
        "Disconnected from user ",
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let mut w = rest.split(' ');
            let user = w.next()?;
            let addr = w.next();
            let port = (w.next() == Some("port")).then(|| w.next()).flatten();
            return Some((user, addr, port));
        }
    }
    if let Some(rest) = msg.strip_prefix("Invalid user ") {
        return from_addr(rest);
    }
    if let Some(rest) = msg.strip_prefix("User ") {
        let (user, rest) = rest.split_once(' ')?;
        let addr = rest.strip_prefix("from ").and_then(|r| r.split(' ').next());
        return Some((user, addr, None));
    }
    if let Some(rest) = msg.strip_prefix("Accepted ") {
        return from_addr(rest.split_once(" for ")?.1);
    }
    if let Some(rest) = msg.strip_prefix("Failed ") {
        return from_addr(rest.split_once(" for ")?.1);
    }
    if let Some(rest) = msg.strip_prefix("maximum authentication attempts exceeded for ") {
        return from_addr(rest);
    }
    if let Some(rest) = msg.strip_prefix("fatal: Access denied for user ") {
        return Some((rest.split(' ').next()?, None, None));
    }
    None
}

/// "USER from ADDR port PORT ..."
fn from_addr(rest: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let mut w = rest.split(' ');
    let user = w.next()?;
    let addr = (w.next() == Some("from")).then(|| w.next()).flatten();
    let port = (w.next() == Some("port")).then(|| w.next()).flatten();
    Some((user, addr, port))
}

/// Reads the user's attempts out of sshd's lines, oldest first.
pub fn attempts(user: &str, source: &str, lines: &[Line]) -> Attempts {
    attempts_with(user, source, lines, false)
}

/// The attempts from other hosts only: the vendor never connects from this host itself,
/// so loopback sessions (`verify`'s probe, a person on the host) are left out.
pub fn attempts_from_afar(user: &str, source: &str, lines: &[Line]) -> Attempts {
    attempts_with(user, source, lines, true)
}

fn attempts_with(user: &str, source: &str, lines: &[Line], skip_loopback: bool) -> Attempts {
    // Pass 1: tie pids to users. A session's child process names the user only on
    // "Disconnected from user", or via the client's address and port of its login.
    let mut pids = Pids::default();
    let mut logins: HashMap<(String, String), String> = HashMap::new();
    for l in lines {
        if let (Some(pid), Some((u, addr, port))) = (l.pid, names_user(&l.msg)) {
            pids.user.insert(pid, u.to_string());
            if let Some(a) = addr {
                pids.addr.insert(pid, a.to_string());
                if let (Some(p), true) = (port, l.msg.starts_with("Accepted ")) {
                    logins.insert((a.to_string(), p.to_string()), u.to_string());
                }
            }
        }
    }
    for l in lines {
        let Some(pid) = l.pid else { continue };
        let client = l
            .msg
            .strip_prefix("Received request from ")
            .or_else(|| l.msg.strip_prefix("Received disconnect from "));
        if let Some(rest) = client {
            let mut w = rest.split([' ', ':']);
            if let (Some(a), Some("port"), Some(p)) = (w.next(), w.next(), w.next()) {
                if let Some(u) = logins.get(&(a.to_string(), p.to_string())) {
                    pids.user.insert(pid, u.clone());
                    pids.addr.insert(pid, a.to_string());
                }
            }
        }
    }

    // Pass 2: events in order.
    let mut out = Attempts {
        user: user.to_string(),
        source: Some(source.to_string()),
        ..Attempts::default()
    };
    let mut explained: HashSet<u32> = HashSet::new();
    let mut pam_detail: HashMap<u32, String> = HashMap::new();
    let mut accepted_seen = false;
    for l in lines {
        let msg = l.msg.trim_end_matches(" [preauth]");
        let pid_user = l.pid.and_then(|p| pids.user.get(&p)).map(String::as_str);
        let ours = pid_user == Some(user);
        let addr = l.pid.and_then(|p| pids.addr.get(&p)).cloned();
        if skip_loopback
            && addr
                .as_deref()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                .is_some_and(|a| a.is_loopback())
        {
            continue;
        }
        let refuse =
            |reason: Reason, guessed: bool, out: &mut Attempts, explained: &mut HashSet<u32>| {
                out.last_refused = Some(Refused {
                    time: l.time.clone(),
                    addr: addr.clone(),
                    reason,
                    line: l.msg.clone(),
                    guessed,
                });
                out.last_was_refused = true;
                if let Some(p) = l.pid {
                    explained.insert(p);
                }
            };

        if let Some(rest) = msg.strip_prefix("Accepted ") {
            let Some((_, who)) = rest.split_once(" for ") else {
                continue;
            };
            let Some((u, Some(a), _)) = from_addr(who) else {
                continue;
            };
            if u != user {
                continue;
            }
            let fingerprint = who
                .split(' ')
                .find(|w| w.starts_with("SHA256:") || w.starts_with("MD5:"))
                .map(str::to_string);
            let accepted = Accepted {
                time: l.time.clone(),
                addr: a.to_string(),
                fingerprint,
            };
            out.logins.push(accepted.clone());
            out.last_accepted = Some(accepted);
            out.last_was_refused = false;
            accepted_seen = true;
            continue;
        }

        // Lines that name the user.
        if let Some(rest) = msg.strip_prefix("User ") {
            if let Some((u, why)) = rest.split_once(" not allowed because ") {
                if u.split(' ').next() == Some(user) {
                    refuse(not_allowed(why), false, &mut out, &mut explained);
                }
            }
            continue;
        }
        if let Some((u, _, _)) = msg.strip_prefix("Invalid user ").and_then(from_addr) {
            if u == user {
                refuse(Reason::UnknownUser, false, &mut out, &mut explained);
            }
            continue;
        }
        if let Some(rest) = msg.strip_prefix("fatal: Access denied for user ") {
            if rest.split(' ').next() == Some(user) && rest.contains("by PAM account") {
                let detail = l.pid.and_then(|p| pam_detail.get(&p)).cloned();
                refuse(
                    Reason::PamDenied { detail },
                    false,
                    &mut out,
                    &mut explained,
                );
            }
            continue;
        }
        if let Some(rest) = msg.strip_prefix("pam_unix(sshd:account): ") {
            if let (Some(p), Some(acct)) = (l.pid, rest.strip_prefix("account ")) {
                if acct.split(' ').next() == Some(user) {
                    pam_detail.insert(p, rest.to_string());
                }
            }
            continue;
        }
        if msg.starts_with("Connection closed by authenticating user ")
            || msg.starts_with("Disconnected from authenticating user ")
            || msg.starts_with("Connection reset by authenticating user ")
            || msg.starts_with("maximum authentication attempts exceeded for ")
        {
            let named = names_user(msg).map(|(u, _, _)| u);
            if named == Some(user) && !l.pid.is_some_and(|p| explained.contains(&p)) {
                refuse(Reason::KeyNotAccepted, false, &mut out, &mut explained);
            }
            continue;
        }

        // Preauth lines that name no user: theirs when the pid is.
        if let Some(rest) = msg.strip_prefix("Authentication refused: bad ownership or modes for ")
        {
            let path = rest
                .strip_prefix("directory ")
                .or_else(|| rest.strip_prefix("file "))
                .unwrap_or(rest);
            if ours || (pid_user.is_none() && path.split('/').any(|c| c == user)) {
                let reason = Reason::BadModes {
                    path: path.to_string(),
                };
                refuse(reason, !ours, &mut out, &mut explained);
            }
            continue;
        }
        if let Some(rest) = msg.strip_prefix("userauth_pubkey: ") {
            let algorithm = rest
                .strip_prefix("signature algorithm ")
                .or_else(|| rest.strip_prefix("key type "))
                .and_then(|r| r.strip_suffix(" not in PubkeyAcceptedAlgorithms"));
            if let (Some(algorithm), true) = (algorithm, ours) {
                let reason = Reason::Algorithm {
                    algorithm: algorithm.to_string(),
                };
                refuse(reason, false, &mut out, &mut explained);
            }
            continue;
        }

        // Session lines: the pid is tied to the user, or, untied, the line follows
        // their last login.
        let Some(reason) = session_refusal(msg) else {
            continue;
        };
        if ours {
            refuse(reason, false, &mut out, &mut explained);
        } else if pid_user.is_none() && accepted_seen {
            refuse(reason, true, &mut out, &mut explained);
        }
    }
    out
}
