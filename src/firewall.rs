//! `local_firewall` and `fail2ban`: read-only looks at this host's own packet filter and
//! bans, judged for the vendor's IPs on the SSH port.
//!
//! Every rule set (nftables, iptables legacy and nft, for v4 and v6) is turned into one small
//! model of tables, chains and rules, and a new TCP connection from each vendor IP to each
//! SSH port is walked through every base chain on the input path. A match this code does not
//! understand is never guessed: both outcomes are followed, and where they differ the answer
//! is "cannot tell", naming the rule.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::checks::{Check, CheckId, Status};

/// Each firewall tool gets this long before it is killed: a hung tool must not hang `status`.
const TOOL_TIMEOUT: Duration = Duration::from_secs(3);

/// What the active firewall tools printed, parsed; `Default` is "nothing read".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Firewall {
    /// Why the rules could not be read, when they could not.
    pub unreadable: Option<String>,
    /// Every rule set read, in the order the tools were asked.
    pub tables: Vec<Table>,
    /// Tools that exist but failed or timed out: their rules are unknown.
    pub problems: Vec<String>,
    /// Which variant plain `iptables` is here, so the fix names the right binary.
    pub iptables_default: Option<Backend>,
    /// `ufw status`: Some(true) active, Some(false) inactive, None not asked / not installed.
    pub ufw_active: Option<bool>,
    /// `firewall-cmd --state`: Some(true) running.
    pub firewalld_running: Option<bool>,
}

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

    pub fn contains(&self, ip: IpAddr) -> bool {
        match *self {
            Net::Cidr(net, len) => match (net, ip) {
                (IpAddr::V4(n), IpAddr::V4(i)) => {
                    let mask = u32::MAX
                        .checked_shl(32 - u32::from(len.min(32)))
                        .unwrap_or(0);
                    u32::from(n) & mask == u32::from(i) & mask
                }
                (IpAddr::V6(n), IpAddr::V6(i)) => {
                    let mask = u128::MAX
                        .checked_shl(128 - u32::from(len.min(128)))
                        .unwrap_or(0);
                    u128::from(n) & mask == u128::from(i) & mask
                }
                _ => false,
            },
            Net::Range(a, b) => match (a, b, ip) {
                (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(i)) => a <= i && i <= b,
                (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(i)) => a <= i && i <= b,
                _ => false,
            },
        }
    }

    fn is_loopback(&self) -> bool {
        match *self {
            Net::Cidr(IpAddr::V4(a), len) => len >= 8 && a.octets()[0] == 127,
            Net::Cidr(IpAddr::V6(a), 128) => a.is_loopback(),
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// A tool's run: Ok(stdout) on exit 0, Err(why) otherwise; None when the tool is absent.
type ToolRun = Option<Result<String, String>>;

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Runs a tool with a deadline; kills it when the deadline passes.
fn run_tool(name: &str, args: &[&str]) -> ToolRun {
    let binary = find_tool(name)?;
    let shown = format!("{name} {}", args.join(" "));
    let mut child = match Command::new(&binary)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Some(Err(format!("`{shown}` could not start: {e}"))),
    };
    // Read both pipes on their own threads so a chatty tool cannot block on a full pipe.
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + TOOL_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Some(match status {
        None => Err(format!(
            "`{shown}` did not answer within {} s",
            TOOL_TIMEOUT.as_secs()
        )),
        Some(s) if s.success() => Ok(stdout),
        Some(s) => {
            let why = stderr
                .lines()
                .chain(stdout.lines())
                .find(|l| !l.trim().is_empty());
            Err(format!(
                "`{shown}` failed ({}){}",
                s.code()
                    .map_or("killed".to_string(), |c| format!("exit {c}")),
                why.map(|w| format!(": {}", w.trim())).unwrap_or_default()
            ))
        }
    })
}

pub fn read(is_root: bool) -> Firewall {
    if !is_root {
        return Firewall {
            unreadable: Some(
                "run as root to check: reading the firewall rules needs root (CAP_NET_ADMIN)"
                    .into(),
            ),
            ..Firewall::default()
        };
    }
    let tools: [(&str, &[&str]); 10] = [
        ("nft", &["-j", "list", "ruleset"]),
        ("iptables-legacy-save", &[]),
        ("ip6tables-legacy-save", &[]),
        ("iptables-nft-save", &[]),
        ("ip6tables-nft-save", &[]),
        ("iptables-save", &[]),
        ("ip6tables-save", &[]),
        ("iptables", &["-V"]),
        ("ufw", &["status", "verbose"]),
        ("firewall-cmd", &["--state"]),
    ];
    let runs: Vec<ToolRun> = std::thread::scope(|scope| {
        let handles: Vec<_> = tools
            .iter()
            .map(|(name, args)| scope.spawn(move || run_tool(name, args)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(None))
            .collect()
    });
    let [nft, legacy4, legacy6, nft4, nft6, plain4, plain6, version, ufw, firewalld] =
        <[ToolRun; 10]>::try_from(runs).expect("one run per tool");
    assemble(Outputs {
        nft_json: nft,
        iptables_legacy: legacy4,
        ip6tables_legacy: legacy6,
        iptables_nft: nft4,
        ip6tables_nft: nft6,
        iptables_plain: plain4,
        ip6tables_plain: plain6,
        iptables_version: version,
        ufw_status: ufw,
        firewalld_state: firewalld,
    })
}

/// Everything the tools printed; `assemble` is pure so tests can feed captured outputs.
#[derive(Debug, Default)]
pub struct Outputs {
    pub nft_json: ToolRun,
    pub iptables_legacy: ToolRun,
    pub ip6tables_legacy: ToolRun,
    pub iptables_nft: ToolRun,
    pub ip6tables_nft: ToolRun,
    /// `iptables-save`, used only where the variant tools are missing (older systems).
    pub iptables_plain: ToolRun,
    pub ip6tables_plain: ToolRun,
    pub iptables_version: ToolRun,
    pub ufw_status: ToolRun,
    pub firewalld_state: ToolRun,
}

pub fn assemble(out: Outputs) -> Firewall {
    let mut fw = Firewall::default();
    let mut problems = Vec::new();
    let mut take = |run: ToolRun| -> Option<String> {
        match run? {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(e);
                None
            }
        }
    };
    let have_variants = out.iptables_legacy.is_some() || out.iptables_nft.is_some();
    let mut ipt: Vec<(String, Family, Option<Backend>)> = Vec::new();
    for (run, family, backend) in [
        (
            out.iptables_legacy,
            Family::V4,
            Some(Backend::IptablesLegacy),
        ),
        (
            out.ip6tables_legacy,
            Family::V6,
            Some(Backend::IptablesLegacy),
        ),
        (out.iptables_nft, Family::V4, Some(Backend::IptablesNft)),
        (out.ip6tables_nft, Family::V6, Some(Backend::IptablesNft)),
    ] {
        if let Some(text) = take(run) {
            ipt.push((text, family, backend));
        }
    }
    if !have_variants {
        for (run, family) in [
            (out.iptables_plain, Family::V4),
            (out.ip6tables_plain, Family::V6),
        ] {
            if let Some(text) = take(run) {
                ipt.push((text, family, None));
            }
        }
    }
    let nft_text = take(out.nft_json);
    let version = take(out.iptables_version);
    let ufw = take(out.ufw_status);
    // firewall-cmd --state exits non-zero when not running; that is an answer, not a problem.
    fw.firewalld_running = match out.firewalld_state {
        None => None,
        Some(Ok(s)) => Some(s.trim() == "running"),
        Some(Err(_)) => Some(false),
    };
    fw.problems = problems;
    fw.iptables_default = version.as_deref().and_then(|v| {
        if v.contains("nf_tables") {
            Some(Backend::IptablesNft)
        } else if v.contains("legacy") || v.starts_with("iptables v") {
            Some(Backend::IptablesLegacy)
        } else {
            None
        }
    });
    fw.ufw_active = ufw.as_deref().and_then(parse_ufw_status);

    let mut iptables_nft_tables: Vec<(Family, String)> = Vec::new();
    for (text, family, backend) in ipt {
        let backend = backend.unwrap_or(if text.contains("(nf_tables)") {
            Backend::IptablesNft
        } else {
            Backend::IptablesLegacy
        });
        match parse_iptables_save(&text, backend, family) {
            Ok(tables) => {
                for t in tables {
                    if backend == Backend::IptablesNft {
                        iptables_nft_tables.push((family, t.name.clone()));
                    }
                    fw.tables.push(t);
                }
            }
            Err(e) => fw.problems.push(e),
        }
    }
    if let Some(json) = nft_text {
        match parse_nft_json(&json) {
            Ok(tables) => fw.tables.extend(tables.into_iter().filter(|t| {
                // iptables-nft's own tables are read (better) through iptables-nft-save.
                !iptables_nft_tables
                    .iter()
                    .any(|(f, n)| *f == t.family && *n == t.name)
            })),
            Err(e) => fw.problems.push(format!("`nft -j list ruleset`: {e}")),
        }
    }
    fw
}

/// `ufw status [verbose]` starts with `Status: active` or `Status: inactive`.
pub fn parse_ufw_status(text: &str) -> Option<bool> {
    text.lines().find_map(|l| {
        let v = l.trim().strip_prefix("Status:")?.trim();
        Some(v == "active")
    })
}

// ---------------------------------------------------------------------------------------
// iptables-save
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// nft -j list ruleset
// ---------------------------------------------------------------------------------------

use serde_json::Value;

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

// ---------------------------------------------------------------------------------------
// Walking a vendor's first packet through the rules
// ---------------------------------------------------------------------------------------

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
fn has_rules(fw: &Firewall) -> bool {
    fw.tables.iter().any(|t| {
        t.chains.values().any(|c| {
            c.base
                .as_ref()
                .is_some_and(|b| b.policy_drops || !c.rules.is_empty())
        })
    })
}

// ---------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------

const FIREWALL_TITLE: &str = "This host's firewall lets the vendor in";

fn backend_name(t: &Table) -> String {
    let fam = match t.family {
        Family::V4 => "ip",
        Family::V6 => "ip6",
        Family::Inet => "inet",
    };
    match t.backend {
        Backend::Nftables => format!("nftables, table {fam} {}", t.name),
        Backend::IptablesLegacy => format!(
            "{}-legacy, table {}",
            if t.family == Family::V6 {
                "ip6tables"
            } else {
                "iptables"
            },
            t.name
        ),
        Backend::IptablesNft => format!(
            "{}-nft, table {}",
            if t.family == Family::V6 {
                "ip6tables"
            } else {
                "iptables"
            },
            t.name
        ),
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
            let fam = match t.family {
                Family::V4 => "ip",
                Family::V6 => "ip6",
                Family::Inet => "inet",
            };
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
            let v6 = t.family == Family::V6;
            let stem = if v6 { "ip6tables" } else { "iptables" };
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
        return Check::new(
            CheckId::LocalFirewall,
            Status::Warn,
            FIREWALL_TITLE,
            why.clone(),
            None,
        );
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
            FIREWALL_TITLE,
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
            FIREWALL_TITLE,
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
            FIREWALL_TITLE,
            format!("{detail}{problems}; `bastion-wizard verify` cannot prove this either (it connects over loopback): ask the vendor to test the connection"),
            None,
        );
    }
    let ports_text = ports.iter().map(u16::to_string).collect::<Vec<_>>();
    Check::new(
        CheckId::LocalFirewall,
        Status::Ok,
        FIREWALL_TITLE,
        format!(
            "the rules let all {} vendor IPs in on port {} ({read}){fronts}",
            vendor_ips.len(),
            ports_text.join(", ")
        ),
        None,
    )
}

// ---------------------------------------------------------------------------------------
// fail2ban
// ---------------------------------------------------------------------------------------

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
    if find_tool("fail2ban-client").is_none() {
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

const F2B_TITLE: &str = "fail2ban has not banned the vendor";

/// Are vendor IPs banned right now?
pub fn check_fail2ban(fail2ban: &Fail2ban, vendor_ips: &[IpAddr]) -> Check {
    let ok = |detail: String| Check::new(CheckId::Fail2ban, Status::Ok, F2B_TITLE, detail, None);
    if !fail2ban.installed {
        return ok("fail2ban is not installed".into());
    }
    if let Some(why) = &fail2ban.unreadable {
        return Check::new(
            CheckId::Fail2ban,
            Status::Warn,
            F2B_TITLE,
            why.clone(),
            None,
        );
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
            F2B_TITLE,
            format!(
                "banned now: {}; the vendor's connections are dropped until the ban ends",
                named.join(", ")
            ),
            Some(format!(
                "{}\nand so it does not happen again, in /etc/fail2ban/jail.local under [DEFAULT]: {line}\nthen: fail2ban-client reload",
                unban.join("\n")
            )),
        );
    }
    if !fail2ban.problems.is_empty() {
        return Check::new(
            CheckId::Fail2ban,
            Status::Warn,
            F2B_TITLE,
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
