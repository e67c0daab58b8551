//! `iptables-save` (legacy and nft, v4 and v6) read into the rule model.

use std::collections::BTreeMap;

use super::model::{Action, Backend, BaseChain, Chain, Cond, Family, Net, Rule, Table};

/// Splits a rule line as iptables-save quotes it (double quotes, backslash escapes).
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Which chains of an iptables table lie on a new inbound connection's path.
fn iptables_input_chain(table: &str, chain: &str) -> bool {
    matches!(
        (table, chain),
        ("filter", "INPUT")
            | ("raw", "PREROUTING")
            | ("mangle", "PREROUTING")
            | ("mangle", "INPUT")
            | ("security", "INPUT")
    )
}

pub fn parse_iptables_save(
    text: &str,
    backend: Backend,
    family: Family,
) -> Result<Vec<Table>, String> {
    let mut tables = Vec::new();
    let mut current: Option<Table> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            if let Some(t) = current.take() {
                tables.push(t);
            }
            current = Some(Table {
                backend,
                family,
                name: name.to_string(),
                chains: BTreeMap::new(),
            });
            continue;
        }
        if line == "COMMIT" {
            if let Some(t) = current.take() {
                tables.push(t);
            }
            continue;
        }
        let table = current
            .as_mut()
            .ok_or_else(|| format!("line {}: rule outside a table: {line}", n + 1))?;
        if let Some(decl) = line.strip_prefix(':') {
            let mut parts = decl.split_whitespace();
            let name = parts.next().unwrap_or_default().to_string();
            let policy = parts.next().unwrap_or("-");
            let base = iptables_input_chain(&table.name, &name).then(|| BaseChain {
                priority: iptables_priority(&table.name),
                policy_drops: policy == "DROP",
            });
            table.chains.insert(
                name.clone(),
                Chain {
                    name,
                    base,
                    rules: Vec::new(),
                },
            );
            continue;
        }
        let words = split_words(line);
        if words.first().map(String::as_str) != Some("-A") || words.len() < 2 {
            return Err(format!("line {}: not understood: {line}", n + 1));
        }
        let rule = parse_iptables_rule(&words[2..], line);
        let chain = table
            .chains
            .entry(words[1].clone())
            .or_insert_with(|| Chain {
                name: words[1].clone(),
                base: None,
                rules: Vec::new(),
            });
        chain.rules.push(rule);
    }
    if let Some(t) = current.take() {
        tables.push(t);
    }
    Ok(tables)
}

/// The netfilter hook priorities of iptables' tables, so reports follow packet order.
fn iptables_priority(table: &str) -> i64 {
    match table {
        "raw" => -300,
        "mangle" => -150,
        "filter" => 0,
        "security" => 50,
        _ => 0,
    }
}

fn parse_ports(text: &str) -> Option<Vec<(u16, u16)>> {
    text.split(',')
        .map(|p| match p.split_once(':') {
            Some((a, b)) => Some((
                if a.is_empty() { 0 } else { a.parse().ok()? },
                if b.is_empty() {
                    u16::MAX
                } else {
                    b.parse().ok()?
                },
            )),
            None => {
                let v = p.parse().ok()?;
                Some((v, v))
            }
        })
        .collect()
}

fn parse_iptables_rule(words: &[String], text: &str) -> Rule {
    let mut conds = Vec::new();
    let mut action = Action::Continue;
    let mut negate = false;
    let mut module = String::new();
    let mut i = 0;
    let arg = |i: usize| words.get(i + 1).cloned().unwrap_or_default();
    while i < words.len() {
        let w = words[i].as_str();
        let mut used = 2;
        match w {
            "!" => {
                negate = true;
                i += 1;
                continue;
            }
            "-s" | "--source" | "-d" | "--destination" => {
                let nets: Option<Vec<Net>> = arg(i).split(',').map(Net::parse).collect();
                conds.push(match (nets, w.starts_with("-s") || w == "--source") {
                    (Some(nets), true) => Cond::Src { nets, negate },
                    (Some(nets), false) => Cond::Dst { nets, negate },
                    (None, _) => Cond::Unknown(format!("{w} {}", arg(i))),
                });
            }
            "-p" | "--protocol" => conds.push(Cond::Proto {
                protos: vec![arg(i).to_ascii_lowercase()],
                negate,
            }),
            "-i" | "--in-interface" => conds.push(Cond::InIface {
                name: arg(i),
                negate,
            }),
            // -o cannot appear in INPUT; elsewhere it is not on our path.
            "-o" | "--out-interface" => conds.push(Cond::Unknown(format!("-o {}", arg(i)))),
            "-f" | "--fragment" => {
                conds.push(Cond::Const(negate));
                used = 1;
            }
            "-m" | "--match" => module = arg(i),
            "-j" | "--jump" => {
                let target = arg(i);
                action = match target.as_str() {
                    "ACCEPT" => Action::Accept,
                    "DROP" => Action::Drop,
                    "REJECT" => Action::Reject,
                    "RETURN" => Action::Return,
                    "LOG" | "NFLOG" | "ULOG" | "MARK" | "CONNMARK" | "CLASSIFY" | "TRACE"
                    | "AUDIT" | "TCPMSS" | "DSCP" | "TOS" | "SET" => Action::Continue,
                    t if !is_builtin_target(t) => Action::Jump(target.clone()),
                    t => Action::Unknown(format!("-j {t}")),
                };
                // The target's own options follow; none of them change the verdict.
                break;
            }
            "-g" | "--goto" => {
                action = Action::Goto(arg(i));
                break;
            }
            opt => {
                let (cond, n) = module_option(&module, opt, words, i, negate);
                if let Some(c) = cond {
                    conds.push(c);
                }
                used = n;
            }
        }
        negate = false;
        i += used;
    }
    Rule {
        text: text.to_string(),
        conds,
        action,
    }
}

/// Upper-case names that are iptables extension targets, not user chains.
fn is_builtin_target(t: &str) -> bool {
    matches!(
        t,
        "QUEUE"
            | "NFQUEUE"
            | "CT"
            | "NOTRACK"
            | "TARPIT"
            | "TPROXY"
            | "DNAT"
            | "SNAT"
            | "MASQUERADE"
            | "REDIRECT"
            | "SYNPROXY"
            | "CHECKSUM"
            | "TEE"
            | "HMARK"
            | "IDLETIMER"
            | "LED"
            | "SECMARK"
            | "CONNSECMARK"
    )
}

/// A module's option at `words[i]`: the condition it makes and how many words it takes.
fn module_option(
    module: &str,
    opt: &str,
    words: &[String],
    i: usize,
    negate: bool,
) -> (Option<Cond>, usize) {
    let arg = words.get(i + 1).cloned().unwrap_or_default();
    let unknown = |n: usize| {
        let shown = words[i..(i + n).min(words.len())].join(" ");
        (
            Some(Cond::Unknown(format!(
                "-m {module} {}{shown}",
                if negate { "! " } else { "" }
            ))),
            n,
        )
    };
    // How many words an option takes: flags take none, the rest one.
    let takes_value = |next: Option<&String>| {
        next.is_some_and(|n| !n.starts_with("--") && n != "!" && n != "-j" && n != "-m")
    };
    let generic_len = if takes_value(words.get(i + 1)) { 2 } else { 1 };
    match (module, opt) {
        ("tcp" | "udp", "--dport" | "--destination-port") => match parse_ports(&arg) {
            Some(ranges) => (Some(Cond::DPort { ranges, negate }), 2),
            None => unknown(2),
        },
        ("multiport", "--dports" | "--destination-ports") => match parse_ports(&arg) {
            Some(ranges) => (Some(Cond::DPort { ranges, negate }), 2),
            None => unknown(2),
        },
        ("tcp", "--syn") => (Some(Cond::Const(!negate)), 1),
        ("tcp", "--tcp-flags") => {
            let (mask, comp) = (arg, words.get(i + 2).cloned().unwrap_or_default());
            let set = |s: &str| {
                let mut v: Vec<String> = s.split(',').map(str::to_string).collect();
                v.sort();
                v
            };
            // The first packet of a connection is a bare SYN.
            let syn_of = |m: &str| {
                let mask = set(m);
                if mask == ["ALL"] {
                    return Some(comp == "SYN");
                }
                mask.iter().any(|f| f == "SYN").then(|| comp == "SYN")
            };
            match syn_of(&mask) {
                Some(hit) => (Some(Cond::Const(hit != negate)), 3),
                None => unknown(3),
            }
        }
        ("conntrack", "--ctstate") | ("state", "--state") => (
            Some(Cond::CtState {
                states: arg.split(',').map(str::to_ascii_lowercase).collect(),
                negate,
            }),
            2,
        ),
        ("comment", "--comment") => (None, 2),
        ("addrtype", "--dst-type") => match arg.as_str() {
            "LOCAL" => (Some(Cond::Const(!negate)), 2),
            _ => unknown(2),
        },
        ("addrtype", "--src-type") => match arg.as_str() {
            "LOCAL" => (Some(Cond::Const(negate)), 2),
            _ => unknown(2),
        },
        ("addrtype", "--limit-iface-in") => (None, 1),
        ("iprange", "--src-range") => match Net::parse(&arg) {
            Some(net) => (
                Some(Cond::Src {
                    nets: vec![net],
                    negate,
                }),
                2,
            ),
            None => unknown(2),
        },
        ("multiport", "--ports" | "--port") => match parse_ports(&arg) {
            Some(ranges) if !negate => (
                Some(Cond::EitherPort {
                    ranges,
                    text: format!("-m multiport {opt} {arg}"),
                }),
                2,
            ),
            _ => unknown(2),
        },
        _ => unknown(generic_len),
    }
}
