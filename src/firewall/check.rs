//! `local_firewall`: the verdicts for every vendor IP and SSH port in words, and the fix as
//! the exact command for the firewall that manages the blocking rule.

use std::net::IpAddr;

use super::eval::{has_rules, judge, Outcome, Verdict};
use super::model::{Backend, Family, Table};
use super::Firewall;
use crate::checks::{Check, CheckId, Status};

/// The family as nft spells it.
fn nft_family(family: Family) -> &'static str {
    match family {
        Family::V4 => "ip",
        Family::V6 => "ip6",
        Family::Inet => "inet",
    }
}

/// `iptables` or `ip6tables`, without the variant.
fn iptables_stem(family: Family) -> &'static str {
    if family == Family::V6 {
        "ip6tables"
    } else {
        "iptables"
    }
}

fn backend_name(t: &Table) -> String {
    match t.backend {
        Backend::Nftables => format!("nftables, table {} {}", nft_family(t.family), t.name),
        Backend::IptablesLegacy => format!("{}-legacy, table {}", iptables_stem(t.family), t.name),
        Backend::IptablesNft => format!("{}-nft, table {}", iptables_stem(t.family), t.name),
    }
}

/// Which front end manages a table, so the fix goes through it and survives its reloads.
enum Manager<'a> {
    Ufw { user_rule: bool },
    Firewalld { zone: Option<String> },
    Plain(&'a Table),
}

fn zone_of(chain: &str, prefix: &str) -> Option<String> {
    let rest = chain.strip_prefix(prefix)?;
    let rest = ["_pre", "_log", "_deny", "_allow", "_post"]
        .iter()
        .find_map(|s| rest.strip_suffix(s))
        .unwrap_or(rest);
    (!rest.is_empty()).then(|| rest.to_string())
}

fn manager<'a>(t: &'a Table, chain: &str) -> Manager<'a> {
    let is_ufw = t.backend != Backend::Nftables
        && t.name == "filter"
        && t.chains
            .keys()
            .any(|c| c.starts_with("ufw-") || c.starts_with("ufw6-"));
    // Rules from ufw's before.rules are not ufw commands: edit them as iptables rules.
    let before = chain.starts_with("ufw-before") || chain.starts_with("ufw6-before");
    if is_ufw && !before {
        return Manager::Ufw {
            user_rule: chain == "ufw-user-input" || chain == "ufw6-user-input",
        };
    }
    if t.backend == Backend::Nftables && t.name == "firewalld" {
        return Manager::Firewalld {
            zone: zone_of(chain, "filter_IN_"),
        };
    }
    if t.backend != Backend::Nftables && t.chains.contains_key("INPUT_ZONES") {
        return Manager::Firewalld {
            zone: zone_of(chain, "IN_"),
        };
    }
    Manager::Plain(t)
}

/// The commands that let `ips` in on `ports` ahead of the blocking rule, for that firewall.
fn fix_commands(
    fw: &Firewall,
    table: &Table,
    base_chain: &str,
    block_chain: &str,
    ips: &[IpAddr],
    ports: &[u16],
) -> Vec<String> {
    let ports_csv = ports.iter().map(u16::to_string).collect::<Vec<_>>();
    let mut out = Vec::new();
    match manager(table, block_chain) {
        Manager::Ufw { user_rule } => {
            // `ufw allow` appends after the user's deny rules; `insert 1` goes before them.
            let verb = if user_rule { "insert 1 allow" } else { "allow" };
            for ip in ips {
                for port in ports {
                    out.push(format!("ufw {verb} from {ip} to any port {port} proto tcp"));
                }
            }
        }
        Manager::Firewalld { zone } => {
            let zone = zone.map(|z| format!(" --zone={z}")).unwrap_or_default();
            for ip in ips {
                for port in ports {
                    let fam = if ip.is_ipv4() { "ipv4" } else { "ipv6" };
                    out.push(format!(
                        "firewall-cmd --permanent{zone} --add-rich-rule='rule family=\"{fam}\" source address=\"{ip}\" port port=\"{port}\" protocol=\"tcp\" accept'"
                    ));
                }
            }
            out.push("firewall-cmd --reload".into());
        }
        Manager::Plain(t) if t.backend == Backend::Nftables => {
            let fam = nft_family(t.family);
            let port_expr = if ports.len() == 1 {
                ports_csv[0].clone()
            } else {
                format!("{{ {} }}", ports_csv.join(", "))
            };
            for (v6, key) in [(false, "ip"), (true, "ip6")] {
                let group: Vec<String> = ips
                    .iter()
                    .filter(|ip| ip.is_ipv6() == v6)
                    .map(IpAddr::to_string)
                    .collect();
                if group.is_empty() {
                    continue;
                }
                let addrs = if group.len() == 1 {
                    group[0].clone()
                } else {
                    format!("{{ {} }}", group.join(", "))
                };
                out.push(format!(
                    "nft insert rule {fam} {} {base_chain} '{key} saddr {addrs} tcp dport {port_expr} accept'",
                    t.name
                ));
            }
        }
        Manager::Plain(t) => {
            let stem = iptables_stem(t.family);
            let bin = match (fw.iptables_default, t.backend) {
                (Some(d), b) if d != b => format!(
                    "{stem}-{}",
                    if b == Backend::IptablesNft {
                        "nft"
                    } else {
                        "legacy"
                    }
                ),
                _ => stem.to_string(),
            };
            let table_arg = if t.name == "filter" {
                String::new()
            } else {
                format!(" -t {}", t.name)
            };
            let port_arg = if ports.len() == 1 {
                format!("--dport {}", ports[0])
            } else {
                format!("-m multiport --dports {}", ports_csv.join(","))
            };
            for ip in ips {
                out.push(format!(
                    "{bin}{table_arg} -I {base_chain} -p tcp -s {ip} {port_arg} -j ACCEPT"
                ));
            }
        }
    }
    out
}

/// Vendor addresses blocked by one rule, gathered to name the rule once.
struct Blocked {
    table: usize,
    base_chain: String,
    chain: String,
    rule: String,
    rejects: bool,
    ips: Vec<IpAddr>,
    ports: Vec<u16>,
}

/// Does a rule drop or reject the vendor's IPs on the SSH port?
pub fn check(firewall: &Firewall, vendor_ips: &[IpAddr], ssh_ports: &[u16]) -> Check {
    if let Some(why) = &firewall.unreadable {
        return Check::new(CheckId::LocalFirewall, Status::Warn, why.clone(), None);
    }
    let problems = if firewall.problems.is_empty() {
        String::new()
    } else {
        format!(
            "; not read: {} (those rules are unknown)",
            firewall.problems.join("; ")
        )
    };
    if !has_rules(firewall) {
        let status = if firewall.problems.is_empty() {
            Status::Ok
        } else {
            Status::Warn
        };
        return Check::new(
            CheckId::LocalFirewall,
            status,
            format!("no firewall: no nftables or iptables rule on the input path{problems}"),
            None,
        );
    }
    let ports: Vec<u16> = if ssh_ports.is_empty() {
        vec![22]
    } else {
        ssh_ports.to_vec()
    };
    let verdicts: Vec<Verdict> = vendor_ips
        .iter()
        .flat_map(|&ip| ports.iter().map(move |&port| (ip, port)))
        .filter_map(|(ip, port)| judge(firewall, ip, port))
        .collect();
    let read = {
        let mut names: Vec<String> = firewall
            .tables
            .iter()
            .filter(|t| t.chains.values().any(|c| c.base.is_some()))
            .map(backend_name)
            .collect();
        names.dedup();
        names.join("; ")
    };
    let fronts = match (firewall.ufw_active, firewall.firewalld_running) {
        (Some(true), _) => " (ufw is active)",
        (_, Some(true)) => " (firewalld is running)",
        _ => "",
    };

    // Group the blocked addresses by the rule that blocks them, to name each rule once.
    let mut blocked: Vec<Blocked> = Vec::new();
    let mut unsure: Vec<(String, String, Vec<String>)> = Vec::new();
    for v in &verdicts {
        match &v.outcome {
            Outcome::Blocked {
                rule,
                chain,
                rejects,
            } => {
                match blocked
                    .iter_mut()
                    .find(|b| b.table == v.table && b.base_chain == v.base_chain && &b.rule == rule)
                {
                    Some(b) => {
                        if !b.ips.contains(&v.ip) {
                            b.ips.push(v.ip);
                        }
                        if !b.ports.contains(&v.port) {
                            b.ports.push(v.port);
                        }
                    }
                    None => blocked.push(Blocked {
                        table: v.table,
                        base_chain: v.base_chain.clone(),
                        chain: chain.clone(),
                        rule: rule.clone(),
                        rejects: *rejects,
                        ips: vec![v.ip],
                        ports: vec![v.port],
                    }),
                }
            }
            Outcome::CannotTell { rule, why } => {
                let who = format!("{} port {}", v.ip, v.port);
                match unsure.iter_mut().find(|u| &u.0 == rule) {
                    Some(u) => u.2.push(who),
                    None => unsure.push((rule.clone(), why.clone(), vec![who])),
                }
            }
            Outcome::Accepted => {}
        }
    }
    let unsure_text = unsure
        .iter()
        .map(|(rule, why, who)| format!("cannot tell for {}: rule `{rule}`: {why}", who.join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
    let fixes_for = |groups: &[Blocked]| {
        let mut fix: Vec<String> = Vec::new();
        for b in groups {
            let table = &firewall.tables[b.table];
            for c in fix_commands(firewall, table, &b.base_chain, &b.chain, &b.ips, &b.ports) {
                if !fix.contains(&c) {
                    fix.push(c);
                }
            }
        }
        fix.join("\n")
    };
    if !blocked.is_empty() {
        let detail =
            blocked
                .iter()
                .map(|b| {
                    let ips = b.ips.iter().map(IpAddr::to_string).collect::<Vec<_>>();
                    let ports = b.ports.iter().map(u16::to_string).collect::<Vec<_>>();
                    format!(
                    "{} blocked on port {} by `{}` (chain {}, {}){fronts}: the vendor sees \"{}\"",
                    ips.join(", "),
                    ports.join(", "),
                    b.rule,
                    b.chain,
                    backend_name(&firewall.tables[b.table]),
                    if b.rejects { "Connection refused" } else { "Connection timed out" },
                )
                })
                .chain((!unsure_text.is_empty()).then(|| unsure_text.clone()))
                .collect::<Vec<_>>()
                .join("; ");
        return Check::new(
            CheckId::LocalFirewall,
            Status::Fail,
            format!("{detail}{problems}"),
            Some(fixes_for(&blocked)),
        );
    }
    if !unsure.is_empty() || !firewall.problems.is_empty() {
        let detail = if unsure_text.is_empty() {
            format!("no rule read blocks the vendor ({read}){fronts}")
        } else {
            format!("{unsure_text} ({read}){fronts}")
        };
        return Check::new(
            CheckId::LocalFirewall,
            Status::Warn,
            format!("{detail}{problems}; `bastion-wizard verify` cannot prove this either (it connects over loopback): ask the vendor to test the connection"),
            None);
    }
    let ports_text = ports.iter().map(u16::to_string).collect::<Vec<_>>();
    Check::new(
        CheckId::LocalFirewall,
        Status::Ok,
        format!(
            "the rules let all {} vendor IPs in on port {} ({read}){fronts}",
            vendor_ips.len(),
            ports_text.join(", ")
        ),
        None,
    )
}
