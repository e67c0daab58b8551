//! Walking a vendor's first packet (a new TCP connection to the SSH port) through the base
//! chains on the input path, first match wins; an unknown match forks the walk.

use std::net::IpAddr;

use super::model::{Action, Chain, Cond, Family, Net, Rule, Table};
use super::Firewall;

/// A vendor's new TCP connection: its address, the SSH port; arriving on some interface
/// that is not loopback, for an address of this host that is not loopback.
#[derive(Debug, Clone, Copy)]
struct Packet {
    src: IpAddr,
    dport: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Maybe(String),
}

fn tri(hit: bool) -> Tri {
    if hit {
        Tri::Yes
    } else {
        Tri::No
    }
}

fn in_ranges(ranges: &[(u16, u16)], port: u16) -> bool {
    ranges.iter().any(|&(a, b)| a <= port && port <= b)
}

fn cond_matches(cond: &Cond, p: &Packet) -> Tri {
    match cond {
        Cond::Src { nets, negate } => tri(nets.iter().any(|n| n.contains(p.src)) != *negate),
        Cond::Dst { nets, negate } => {
            if nets.iter().all(Net::is_loopback) {
                tri(*negate)
            } else {
                Tri::Maybe("the address the vendor connects to is not known here".into())
            }
        }
        Cond::Proto { protos, negate } => {
            let tcp = protos
                .iter()
                .any(|p| matches!(p.as_str(), "tcp" | "6" | "all" | "0"));
            tri(tcp != *negate)
        }
        Cond::DPort { ranges, negate } => tri(in_ranges(ranges, p.dport) != *negate),
        Cond::EitherPort { ranges, text } => {
            if in_ranges(ranges, p.dport) {
                Tri::Yes
            } else {
                Tri::Maybe(format!(
                    "`{text}` also matches the vendor's source port, which is not known"
                ))
            }
        }
        Cond::InIface { name, negate } => {
            if name == "lo" {
                // The vendor never arrives on loopback.
                tri(*negate)
            } else {
                Tri::Maybe(format!(
                    "it matches the interface `{name}`, and which interface the vendor's packets arrive on is not known here"
                ))
            }
        }
        Cond::CtState { states, negate } => tri(states.iter().any(|s| s == "new") != *negate),
        Cond::Family(f) => tri(match f {
            Family::V4 => p.src.is_ipv4(),
            Family::V6 => p.src.is_ipv6(),
            Family::Inet => true,
        }),
        Cond::Const(b) => tri(*b),
        Cond::Unknown(what) => Tri::Maybe(format!(
            "`{what}` depends on something this check does not model"
        )),
    }
}

/// All conditions must hold: one sure miss settles it, whatever the unknowns.
fn rule_matches(rule: &Rule, p: &Packet) -> Tri {
    let mut maybe = None;
    for c in &rule.conds {
        match cond_matches(c, p) {
            Tri::No => return Tri::No,
            Tri::Maybe(why) => {
                maybe.get_or_insert(why);
            }
            Tri::Yes => {}
        }
    }
    maybe.map_or(Tri::Yes, Tri::Maybe)
}

/// What one base chain does to the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// `rule` is the rule's text, or the chain policy; `chain` where it stands.
    Blocked {
        rule: String,
        chain: String,
        rejects: bool,
    },
    CannotTell {
        rule: String,
        why: String,
    },
}

/// Unknown matches fork the walk; this bounds how far.
const FORK_BUDGET: u32 = 256;

struct Walk<'t> {
    table: &'t Table,
    base: &'t Chain,
    packet: Packet,
    budget: u32,
}

impl<'t> Walk<'t> {
    fn policy(&self) -> Outcome {
        match &self.base.base {
            Some(b) if b.policy_drops => Outcome::Blocked {
                rule: format!("the policy DROP of chain {}", self.base.name),
                chain: self.base.name.clone(),
                rejects: false,
            },
            _ => Outcome::Accepted,
        }
    }

    fn run(&mut self, mut stack: Vec<(&'t str, usize)>) -> Outcome {
        loop {
            let Some(&(name, idx)) = stack.last() else {
                return self.policy();
            };
            let Some(chain) = self.table.chains.get(name) else {
                return Outcome::CannotTell {
                    rule: format!("a jump to `{name}`"),
                    why: "that chain does not exist (or is a target this check does not model)"
                        .into(),
                };
            };
            if idx >= chain.rules.len() {
                stack.pop();
                continue;
            }
            stack.last_mut().expect("non-empty").1 += 1;
            let rule = &chain.rules[idx];
            match rule_matches(rule, &self.packet) {
                Tri::No => continue,
                Tri::Yes => {
                    if let Some(o) = self.act(rule, name, &mut stack) {
                        return o;
                    }
                }
                Tri::Maybe(why) => {
                    if self.budget == 0 {
                        return Outcome::CannotTell {
                            rule: rule.text.clone(),
                            why: "too many rules depend on things not known here".into(),
                        };
                    }
                    self.budget -= 1;
                    let skipped = self.run(stack.clone());
                    let taken = match self.act(rule, name, &mut stack) {
                        Some(o) => o,
                        None => self.run(stack),
                    };
                    return match (&taken, &skipped) {
                        (Outcome::Accepted, Outcome::Accepted) => taken,
                        (Outcome::Blocked { .. }, Outcome::Blocked { .. }) => taken,
                        _ => Outcome::CannotTell {
                            rule: rule.text.clone(),
                            why,
                        },
                    };
                }
            }
        }
    }

    /// Applies a matching rule's verdict; None when the walk goes on.
    fn act(
        &self,
        rule: &'t Rule,
        chain: &str,
        stack: &mut Vec<(&'t str, usize)>,
    ) -> Option<Outcome> {
        match &rule.action {
            Action::Accept => Some(Outcome::Accepted),
            Action::Drop | Action::Reject => Some(Outcome::Blocked {
                rule: rule.text.clone(),
                chain: chain.to_string(),
                rejects: rule.action == Action::Reject,
            }),
            Action::Return => {
                stack.pop();
                None
            }
            Action::Jump(target) | Action::Goto(target) if stack.len() > 64 => {
                Some(Outcome::CannotTell {
                    rule: rule.text.clone(),
                    why: format!("jumps to `{target}` nest too deep (a loop?)"),
                })
            }
            Action::Jump(target) => {
                stack.push((target.as_str(), 0));
                None
            }
            Action::Goto(target) => {
                *stack.last_mut().expect("non-empty") = (target.as_str(), 0);
                None
            }
            Action::Continue => None,
            Action::Unknown(what) => Some(Outcome::CannotTell {
                rule: rule.text.clone(),
                why: format!("its verdict `{what}` is not modelled by this check"),
            }),
        }
    }
}

/// The verdict for one vendor address and port, over every base chain on the input path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub ip: IpAddr,
    pub port: u16,
    pub outcome: Outcome,
    /// Index into `Firewall::tables` and the base chain where the outcome arose.
    pub table: usize,
    pub base_chain: String,
}

fn family_applies(f: Family, ip: IpAddr) -> bool {
    match f {
        Family::V4 => ip.is_ipv4(),
        Family::V6 => ip.is_ipv6(),
        Family::Inet => true,
    }
}

/// Walks the packet through every base chain in hook-priority order: the first sure block
/// wins (the packet never reaches the later ones); otherwise the first "cannot tell".
pub fn judge(fw: &Firewall, ip: IpAddr, port: u16) -> Option<Verdict> {
    let mut bases: Vec<(i64, usize, &Chain)> = fw
        .tables
        .iter()
        .enumerate()
        .filter(|(_, t)| family_applies(t.family, ip))
        .flat_map(|(i, t)| {
            t.chains
                .values()
                .filter_map(move |c| c.base.as_ref().map(|b| (b.priority, i, c)))
        })
        .collect();
    bases.sort_by_key(|(prio, i, _)| (*prio, *i));
    let mut first_unsure = None;
    for (_, ti, chain) in bases {
        let mut walk = Walk {
            table: &fw.tables[ti],
            base: chain,
            packet: Packet {
                src: ip,
                dport: port,
            },
            budget: FORK_BUDGET,
        };
        let outcome = walk.run(vec![(chain.name.as_str(), 0)]);
        let verdict = Verdict {
            ip,
            port,
            outcome: outcome.clone(),
            table: ti,
            base_chain: chain.name.clone(),
        };
        match outcome {
            Outcome::Blocked { .. } => return Some(verdict),
            Outcome::CannotTell { .. } if first_unsure.is_none() => first_unsure = Some(verdict),
            _ => {}
        }
    }
    first_unsure
}

/// Any base chain on the input path that could drop something: rules or a DROP policy.
pub(super) fn has_rules(fw: &Firewall) -> bool {
    fw.tables.iter().any(|t| {
        t.chains.values().any(|c| {
            c.base
                .as_ref()
                .is_some_and(|b| b.policy_drops || !c.rules.is_empty())
        })
    })
}
