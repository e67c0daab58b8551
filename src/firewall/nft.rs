//! `nft -j list ruleset` read into the rule model: tables, base chains on the input path,
//! named sets, and each rule's match expressions.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

use super::model::{Action, Backend, BaseChain, Chain, Cond, Family, Net, Rule, Table};

pub fn parse_nft_json(text: &str) -> Result<Vec<Table>, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let items = root
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or("no `nftables` array")?;
    let mut tables: Vec<Table> = Vec::new();
    // Named sets per (family, table, name); a rule refers to them as "@name".
    let mut sets: BTreeMap<(String, String, String), Vec<Value>> = BTreeMap::new();
    for item in items {
        if let Some(set) = item.get("set").or_else(|| item.get("map")) {
            let key = (
                str_of(set, "family"),
                str_of(set, "table"),
                str_of(set, "name"),
            );
            let elems = set
                .get("elem")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            sets.insert(key, elems);
        }
    }
    let table_of = |tables: &mut Vec<Table>, family: &str, name: &str| -> Option<usize> {
        let fam = match family {
            "ip" => Family::V4,
            "ip6" => Family::V6,
            "inet" => Family::Inet,
            // arp, bridge, netdev: not the IP input path this check models.
            _ => return None,
        };
        if let Some(i) = tables
            .iter()
            .position(|t| t.family == fam && t.name == name)
        {
            return Some(i);
        }
        tables.push(Table {
            backend: Backend::Nftables,
            family: fam,
            name: name.to_string(),
            chains: BTreeMap::new(),
        });
        Some(tables.len() - 1)
    };
    for item in items {
        if let Some(t) = item.get("table") {
            table_of(&mut tables, &str_of(t, "family"), &str_of(t, "name"));
        } else if let Some(c) = item.get("chain") {
            let Some(ti) = table_of(&mut tables, &str_of(c, "family"), &str_of(c, "table")) else {
                continue;
            };
            let name = str_of(c, "name");
            let on_path = matches!(
                c.get("hook").and_then(Value::as_str),
                Some("input" | "prerouting")
            ) && c.get("type").and_then(Value::as_str) == Some("filter");
            let base = on_path.then(|| BaseChain {
                priority: c.get("prio").and_then(Value::as_i64).unwrap_or(0),
                policy_drops: c.get("policy").and_then(Value::as_str) == Some("drop"),
            });
            let chain = tables[ti]
                .chains
                .entry(name.clone())
                .or_insert_with(|| Chain {
                    name,
                    base: None,
                    rules: Vec::new(),
                });
            chain.base = base;
        } else if let Some(r) = item.get("rule") {
            let family = str_of(r, "family");
            let table = str_of(r, "table");
            let Some(ti) = table_of(&mut tables, &family, &table) else {
                continue;
            };
            let chain_name = str_of(r, "chain");
            let exprs = r
                .get("expr")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let lookup = |name: &str| sets.get(&(family.clone(), table.clone(), name.to_string()));
            let rule = nft_rule(&exprs, &lookup, r);
            tables[ti]
                .chains
                .entry(chain_name.clone())
                .or_insert_with(|| Chain {
                    name: chain_name,
                    base: None,
                    rules: Vec::new(),
                })
                .rules
                .push(rule);
        }
    }
    Ok(tables)
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn nft_rule<'a>(
    exprs: &'a [Value],
    sets: &dyn Fn(&str) -> Option<&'a Vec<Value>>,
    rule: &Value,
) -> Rule {
    let mut conds = Vec::new();
    let mut action = Action::Continue;
    let mut words = Vec::new();
    for e in exprs {
        words.push(nft_show(e));
        let Some((kind, body)) = e.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        match kind.as_str() {
            "match" => conds.extend(nft_match(body, sets)),
            "accept" => action = Action::Accept,
            "drop" => action = Action::Drop,
            "reject" => action = Action::Reject,
            "return" => action = Action::Return,
            "jump" => action = Action::Jump(str_of(body, "target")),
            "goto" => action = Action::Goto(str_of(body, "target")),
            "counter" | "log" | "mangle" | "set" | "meter" => {}
            "limit" | "quota" | "xt" => conds.push(Cond::Unknown(nft_show(e))),
            other => action = Action::Unknown(other.to_string()),
        }
    }
    let handle = rule.get("handle").and_then(Value::as_i64);
    Rule {
        text: format!(
            "{}{}",
            words.join(" "),
            handle.map(|h| format!(" # handle {h}")).unwrap_or_default()
        ),
        conds,
        action,
    }
}

/// A short nft-like rendering of one expression, to name a rule in a report.
fn nft_show(e: &Value) -> String {
    let Some((kind, body)) = e.as_object().and_then(|o| o.iter().next()) else {
        return e.to_string();
    };
    match kind.as_str() {
        "match" => {
            let op = str_of(body, "op");
            let op = if op == "==" || op == "in" {
                String::new()
            } else {
                format!("{op} ")
            };
            format!(
                "{} {op}{}",
                nft_show_value(body.get("left").unwrap_or(&Value::Null)),
                nft_show_value(body.get("right").unwrap_or(&Value::Null))
            )
        }
        "jump" | "goto" => format!("{kind} {}", str_of(body, "target")),
        "counter" => "counter".into(),
        k if body.is_null() => k.to_string(),
        k => format!("{k} {body}"),
    }
}

fn nft_show_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => a.iter().map(nft_show_value).collect::<Vec<_>>().join(","),
        Value::Object(o) => match o.iter().next() {
            Some((k, b)) if k == "payload" => {
                format!("{} {}", str_of(b, "protocol"), str_of(b, "field"))
            }
            Some((k, b)) if k == "meta" => format!("meta {}", str_of(b, "key")),
            Some((k, b)) if k == "ct" => format!("ct {}", str_of(b, "key")),
            Some((k, b)) if k == "prefix" => {
                format!(
                    "{}/{}",
                    nft_show_value(&b["addr"]),
                    nft_show_value(&b["len"])
                )
            }
            Some((k, b)) if k == "range" => {
                format!("{}-{}", nft_show_value(&b[0]), nft_show_value(&b[1]))
            }
            Some((k, b)) if k == "set" => format!(
                "{{ {} }}",
                b.as_array()
                    .map(|a| a.iter().map(nft_show_value).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            ),
            Some((k, b)) if k == "elem" => nft_show_value(&b["val"]),
            _ => v.to_string(),
        },
        other => other.to_string(),
    }
}

/// The elements a `right` value stands for: a literal, a prefix, a range, an anonymous set
/// or a named one (`@name`).
fn nft_elements<'a>(
    right: &'a Value,
    sets: &dyn Fn(&str) -> Option<&'a Vec<Value>>,
) -> Option<Vec<&'a Value>> {
    match right {
        Value::String(s) if s.starts_with('@') => {
            Some(sets(&s[1..])?.iter().map(unwrap_elem).collect())
        }
        Value::Array(a) => Some(a.iter().map(unwrap_elem).collect()),
        Value::Object(o) if o.contains_key("set") => {
            Some(o["set"].as_array()?.iter().map(unwrap_elem).collect())
        }
        other => Some(vec![other]),
    }
}

/// Set elements with timeouts or comments are wrapped: `{"elem": {"val": ...}}`.
fn unwrap_elem(v: &Value) -> &Value {
    v.get("elem").and_then(|e| e.get("val")).unwrap_or(v)
}

fn nft_net(v: &Value) -> Option<Net> {
    match v {
        Value::String(s) => Net::parse(s),
        Value::Object(o) => {
            if let Some(p) = o.get("prefix") {
                let addr: IpAddr = p.get("addr")?.as_str()?.parse().ok()?;
                Some(Net::Cidr(addr, p.get("len")?.as_u64()? as u8))
            } else if let Some(r) = o.get("range") {
                Some(Net::Range(
                    r.get(0)?.as_str()?.parse().ok()?,
                    r.get(1)?.as_str()?.parse().ok()?,
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

fn nft_port(v: &Value) -> Option<(u16, u16)> {
    match v {
        Value::Number(n) => {
            let p = u16::try_from(n.as_u64()?).ok()?;
            Some((p, p))
        }
        Value::String(s) => {
            let p = match s.as_str() {
                "ssh" => 22,
                other => other.parse().ok()?,
            };
            Some((p, p))
        }
        Value::Object(o) => {
            let r = o.get("range")?;
            Some((
                u16::try_from(r.get(0)?.as_u64()?).ok()?,
                u16::try_from(r.get(1)?.as_u64()?).ok()?,
            ))
        }
        _ => None,
    }
}

/// The conditions one nft `match` expression makes.
fn nft_match<'a>(body: &'a Value, sets: &dyn Fn(&str) -> Option<&'a Vec<Value>>) -> Vec<Cond> {
    let shown = nft_show(&serde_json::json!({ "match": body }));
    let unknown = || vec![Cond::Unknown(shown.clone())];
    let op = body.get("op").and_then(Value::as_str).unwrap_or("==");
    let negate = match op {
        "==" | "in" => false,
        "!=" => true,
        _ => {
            // Port comparisons (<, >, <=, >=) are common enough to model.
            if let (Some(p), Some(n)) = (
                body.get("left").and_then(|l| l.get("payload")),
                body.get("right").and_then(Value::as_u64),
            ) {
                if str_of(p, "field") == "dport" && str_of(p, "protocol") == "tcp" {
                    let n = n.min(u64::from(u16::MAX)) as u16;
                    let range = match op {
                        "<" => (0, n.saturating_sub(1)),
                        "<=" => (0, n),
                        ">" => (n.saturating_add(1), u16::MAX),
                        ">=" => (n, u16::MAX),
                        _ => return unknown(),
                    };
                    return vec![Cond::DPort {
                        ranges: vec![range],
                        negate: false,
                    }];
                }
            }
            return unknown();
        }
    };
    let (Some(left), Some(right)) = (body.get("left"), body.get("right")) else {
        return unknown();
    };
    let Some(elems) = nft_elements(right, sets) else {
        return unknown();
    };
    let strings = || -> Option<Vec<String>> {
        elems
            .iter()
            .map(|e| e.as_str().map(str::to_string))
            .collect()
    };
    if let Some(p) = left.get("payload") {
        let proto = str_of(p, "protocol");
        let field = str_of(p, "field");
        // A header match implies its protocol: `udp dport 53` never matches TCP.
        let mut conds = Vec::new();
        match proto.as_str() {
            "ip" => conds.push(Cond::Family(Family::V4)),
            "ip6" => conds.push(Cond::Family(Family::V6)),
            "tcp" | "th" => conds.push(Cond::Proto {
                protos: vec!["tcp".into()],
                negate: false,
            }),
            "udp" | "udplite" | "icmp" | "icmpv6" | "sctp" | "dccp" | "esp" | "ah" | "igmp" => {
                return vec![Cond::Const(false)]
            }
            _ => return unknown(),
        }
        match (proto.as_str(), field.as_str()) {
            ("ip" | "ip6", "saddr" | "daddr") => {
                let Some(nets) = elems.iter().map(|e| nft_net(e)).collect::<Option<Vec<_>>>()
                else {
                    return unknown();
                };
                conds.push(if field == "saddr" {
                    Cond::Src { nets, negate }
                } else {
                    Cond::Dst { nets, negate }
                });
            }
            ("ip", "protocol") | ("ip6", "nexthdr") => match strings() {
                Some(protos) => conds.push(Cond::Proto { protos, negate }),
                None => return unknown(),
            },
            ("tcp" | "th", "dport") => {
                let Some(ranges) = elems.iter().map(|e| nft_port(e)).collect() else {
                    return unknown();
                };
                conds.push(Cond::DPort { ranges, negate });
            }
            _ => return unknown(),
        }
        return conds;
    }
    if let Some(m) = left.get("meta") {
        return match str_of(m, "key").as_str() {
            "iifname" | "iif" => match strings() {
                Some(names) if names.len() == 1 => vec![Cond::InIface {
                    name: names[0].replace('*', "+"),
                    negate,
                }],
                _ => unknown(),
            },
            "l4proto" | "protocol" if str_of(m, "key") == "l4proto" => match strings() {
                Some(protos) => vec![Cond::Proto { protos, negate }],
                None => unknown(),
            },
            "nfproto" => match strings().as_deref() {
                Some([f]) if f == "ipv4" && !negate => vec![Cond::Family(Family::V4)],
                Some([f]) if f == "ipv6" && !negate => vec![Cond::Family(Family::V6)],
                _ => unknown(),
            },
            _ => unknown(),
        };
    }
    if let Some(c) = left.get("ct") {
        let states = strings();
        match (str_of(c, "key").as_str(), states) {
            ("state", Some(states)) => return vec![Cond::CtState { states, negate }],
            // firewalld's `ct status dnat accept`: a vendor connecting straight to sshd is
            // not destination-NATed by this host.
            ("status", Some(s)) if s.iter().all(|x| x == "dnat" || x == "snat") => {
                return vec![Cond::Const(negate)]
            }
            _ => return unknown(),
        }
    }
    if let Some(f) = left.get("fib") {
        // `fib daddr type local`: the vendor's packet is for this host.
        let daddr = f
            .get("flags")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() == 1 && a[0] == "daddr");
        if str_of(f, "result") == "type"
            && daddr
            && strings().as_deref() == Some(&["local".to_string()])
        {
            return vec![Cond::Const(!negate)];
        }
    }
    unknown()
}
