//! `fail2ban`: are vendor IPs banned now? The unban command and the `ignoreip` line.

use std::net::IpAddr;

use super::model::Net;
use super::run_tool;
use crate::checks::{Check, CheckId, Status};
use crate::tool;

/// fail2ban's current bans; `Default` is "nothing read".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fail2ban {
    pub unreadable: Option<String>,
    /// `fail2ban-client` exists on this host.
    pub installed: bool,
    /// The server answered (`fail2ban-client ping`); bans only exist while it runs.
    pub running: bool,
    pub jails: Vec<Jail>,
    /// Jails whose status could not be read: their bans are unknown.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jail {
    pub name: String,
    pub banned: Vec<IpAddr>,
    /// The jail's effective `ignoreip`, as fail2ban prints it (addresses, networks, names).
    pub ignoreip: Vec<String>,
}

pub fn read_fail2ban(is_root: bool) -> Fail2ban {
    if tool::find("fail2ban-client").is_none() {
        return Fail2ban::default();
    }
    if !is_root {
        return Fail2ban {
            installed: true,
            unreadable: Some(
                "run as root to check: fail2ban-client talks to a root-only socket".into(),
            ),
            ..Fail2ban::default()
        };
    }
    let mut f2b = Fail2ban {
        installed: true,
        ..Fail2ban::default()
    };
    match run_tool("fail2ban-client", &["ping"]) {
        Some(Ok(_)) => f2b.running = true,
        _ => return f2b,
    }
    let names = match run_tool("fail2ban-client", &["status"]) {
        Some(Ok(out)) => parse_f2b_jail_list(&out),
        Some(Err(e)) => {
            f2b.unreadable = Some(e);
            return f2b;
        }
        None => return f2b,
    };
    let mut problems = Vec::new();
    f2b.jails = std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                scope.spawn(move || {
                    let status = run_tool("fail2ban-client", &["status", name]);
                    let ignore = run_tool("fail2ban-client", &["get", name, "ignoreip"]);
                    (status, ignore)
                })
            })
            .collect();
        names
            .iter()
            .zip(handles)
            .map(|(name, h)| {
                let (status, ignore) = h.join().unwrap_or((None, None));
                Jail {
                    name: name.clone(),
                    banned: match status {
                        Some(Ok(s)) => parse_f2b_banned(&s),
                        Some(Err(e)) => {
                            problems.push(e);
                            Vec::new()
                        }
                        None => Vec::new(),
                    },
                    ignoreip: match ignore {
                        Some(Ok(s)) => parse_f2b_ignoreip(&s),
                        _ => Vec::new(),
                    },
                }
            })
            .collect()
    });
    f2b.problems = problems;
    f2b
}

/// The value after `label:` on a line of fail2ban-client's tree output.
fn f2b_field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (_, rest) = l.split_once(label)?;
        Some(rest.strip_prefix(':')?.trim())
    })
}

/// `fail2ban-client status`: `` `- Jail list:\tsshd, recidive ``.
pub fn parse_f2b_jail_list(text: &str) -> Vec<String> {
    f2b_field(text, "Jail list")
        .map(|v| {
            v.split([',', ' ', '\t'])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `fail2ban-client status JAIL`: `` `- Banned IP list:\t1.2.3.4 2001:db8::1 ``.
pub fn parse_f2b_banned(text: &str) -> Vec<IpAddr> {
    f2b_field(text, "Banned IP list")
        .map(|v| {
            v.split([',', ' ', '\t'])
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `fail2ban-client get JAIL ignoreip`: a tree of entries, or "No IP address/network is
/// ignored".
pub fn parse_f2b_ignoreip(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            l.strip_prefix("|- ")
                .or_else(|| l.strip_prefix("`- "))
                .map(|e| e.trim().to_string())
        })
        .filter(|e| !e.is_empty())
        .collect()
}

fn ignored(jail: &Jail, ip: IpAddr) -> bool {
    jail.ignoreip
        .iter()
        .any(|e| Net::parse(e).is_some_and(|n| n.contains(ip)))
}

/// The `[DEFAULT] ignoreip` line: what fail2ban already ignores, plus the vendor's IPs.
fn ignoreip_line(f2b: &Fail2ban, vendor_ips: &[IpAddr]) -> String {
    let mut entries: Vec<String> = Vec::new();
    for jail in &f2b.jails {
        for e in &jail.ignoreip {
            if !entries.contains(e) {
                entries.push(e.clone());
            }
        }
    }
    if entries.is_empty() {
        entries = vec!["127.0.0.1/8".into(), "::1".into()];
    }
    for ip in vendor_ips {
        let s = ip.to_string();
        let covered = entries
            .iter()
            .any(|e| Net::parse(e).is_some_and(|n| n.contains(*ip)));
        if !covered {
            entries.push(s);
        }
    }
    format!("ignoreip = {}", entries.join(" "))
}

/// Are vendor IPs banned right now?
pub fn check_fail2ban(fail2ban: &Fail2ban, vendor_ips: &[IpAddr]) -> Check {
    let ok = |detail: String| Check::new(CheckId::Fail2ban, Status::Ok, detail, None);
    if !fail2ban.installed {
        return ok("fail2ban is not installed".into());
    }
    if let Some(why) = &fail2ban.unreadable {
        return Check::new(CheckId::Fail2ban, Status::Warn, why.clone(), None);
    }
    if !fail2ban.running {
        return ok(
            "fail2ban is installed but its server is not running, so it bans no one now".into(),
        );
    }
    let line = ignoreip_line(fail2ban, vendor_ips);
    let mut unban = Vec::new();
    let mut named = Vec::new();
    for jail in &fail2ban.jails {
        for ip in jail.banned.iter().filter(|ip| vendor_ips.contains(ip)) {
            unban.push(format!("fail2ban-client set {} unbanip {ip}", jail.name));
            named.push(format!("{ip} (jail {})", jail.name));
        }
    }
    if !unban.is_empty() {
        return Check::new(
            CheckId::Fail2ban,
            Status::Fail,
            format!(
                "banned now: {}; the vendor's connections are dropped until the ban ends",
                named.join(", ")
            ),
            Some(format!(
                "{}\nand so it does not happen again, in /etc/fail2ban/jail.local under [DEFAULT]: {line}\nthen: fail2ban-client reload",
                unban.join("\n")
            )));
    }
    if !fail2ban.problems.is_empty() {
        return Check::new(
            CheckId::Fail2ban,
            Status::Warn,
            format!(
                "no vendor IP is banned in the jails read, but: {}",
                fail2ban.problems.join("; ")
            ),
            None,
        );
    }
    let jails = fail2ban
        .jails
        .iter()
        .map(|j| j.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let unignored = vendor_ips
        .iter()
        .any(|ip| fail2ban.jails.iter().any(|j| !ignored(j, *ip)));
    let advice = if unignored {
        format!("; a vendor whose key fails a few times would be banned: add to /etc/fail2ban/jail.local under [DEFAULT]: {line}")
    } else {
        String::new()
    };
    ok(format!(
        "no vendor IP is banned (jails: {}){advice}",
        if jails.is_empty() { "none" } else { &jails }
    ))
}
