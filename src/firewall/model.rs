//! The one model every rule set is read into: tables, chains, rules, and each rule's
//! conditions reduced to what matters for a vendor's new connection.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::patterns::{self, ListMatch};

/// Which tool a table was read with (and so which tool the fix must use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    IptablesLegacy,
    IptablesNft,
    Nftables,
}

/// Address family a table applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    /// nftables `inet`: both.
    Inet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub backend: Backend,
    pub family: Family,
    pub name: String,
    pub chains: BTreeMap<String, Chain>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    /// Set for base chains on the input path (hook input or prerouting): their policy.
    pub base: Option<BaseChain>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseChain {
    pub priority: i64,
    pub policy_drops: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule as the tool prints it, to name it in a report.
    pub text: String,
    pub conds: Vec<Cond>,
    pub action: Action,
}

/// One condition of a rule, already reduced to what matters for a vendor's new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Src {
        nets: Vec<Net>,
        negate: bool,
    },
    /// Destination address: only loopback can be ruled out (the vendor's packet is for
    /// this host's public or private address, which this code does not know).
    Dst {
        nets: Vec<Net>,
        negate: bool,
    },
    /// Layer-4 protocol names or numbers; `all` matches anything.
    Proto {
        protos: Vec<String>,
        negate: bool,
    },
    DPort {
        ranges: Vec<(u16, u16)>,
        negate: bool,
    },
    /// Source or destination port in the list (multiport `--ports`): a hit on the
    /// destination port is sure; otherwise it hangs on the vendor's unknown source port.
    EitherPort {
        ranges: Vec<(u16, u16)>,
        text: String,
    },
    /// Input interface name, `+` / `*` wildcard at the end.
    InIface {
        name: String,
        negate: bool,
    },
    /// Connection tracking states listed; a new connection is `new`.
    CtState {
        states: Vec<String>,
        negate: bool,
    },
    /// The packet's family (nft `ip ...` in an inet table, `meta nfproto`).
    Family(Family),
    /// Known to always (true) or never (false) match a vendor's first SYN.
    Const(bool),
    /// Depends on something not known here (rates, recent lists, source port...).
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Accept,
    Drop,
    Reject,
    Return,
    Jump(String),
    Goto(String),
    /// Logs, counters, marks: the next rule is evaluated.
    Continue,
    /// A verdict this code does not model (queue, vmap...).
    Unknown(String),
}

/// An address range: a CIDR or a from-to range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    Cidr(IpAddr, u8),
    Range(IpAddr, IpAddr),
}

impl Net {
    pub fn parse(text: &str) -> Option<Net> {
        if let Some((a, b)) = text.split_once('-') {
            return Some(Net::Range(a.trim().parse().ok()?, b.trim().parse().ok()?));
        }
        match text.split_once('/') {
            Some((addr, len)) => {
                let addr: IpAddr = addr.parse().ok()?;
                // iptables may print a netmask (255.255.255.0) instead of a length.
                let len = match len.parse::<u8>() {
                    Ok(n) => n,
                    Err(_) => match len.parse::<IpAddr>().ok()? {
                        IpAddr::V4(m) => u32::from(m).leading_ones() as u8,
                        IpAddr::V6(m) => u128::from(m).leading_ones() as u8,
                    },
                };
                Some(Net::Cidr(addr, len))
            }
            None => {
                let addr: IpAddr = text.parse().ok()?;
                Some(Net::Cidr(addr, if addr.is_ipv4() { 32 } else { 128 }))
            }
        }
    }

    /// A CIDR block is matched by sshd's address matching in `patterns`, the one
    /// implementation of it here.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match *self {
            Net::Cidr(net, len) => {
                patterns::addr_match_list(ip, &format!("{net}/{len}")) == ListMatch::Yes
            }
            Net::Range(a, b) => match (a, b, ip) {
                (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(i)) => a <= i && i <= b,
                (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(i)) => a <= i && i <= b,
                _ => false,
            },
        }
    }

    pub(super) fn is_loopback(&self) -> bool {
        match *self {
            Net::Cidr(IpAddr::V4(a), len) => len >= 8 && a.octets()[0] == 127,
            Net::Cidr(IpAddr::V6(a), 128) => a.is_loopback(),
            _ => false,
        }
    }
}
