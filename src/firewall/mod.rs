//! `local_firewall` and `fail2ban`: read-only looks at this host's own packet filter and
//! bans, judged for the vendor's IPs on the SSH port.
//!
//! Every rule set (nftables, iptables legacy and nft, for v4 and v6) is turned into one small
//! model of tables, chains and rules, and a new TCP connection from each vendor IP to each
//! SSH port is walked through every base chain on the input path. A match this code does not
//! understand is never guessed: both outcomes are followed, and where they differ the answer
//! is "cannot tell", naming the rule.
//!
//! The files follow that path: `model` (the rule model), `iptables` and `nft` (each tool's
//! output read into it), `eval` (the walk), `check` (the `local_firewall` check and its fix
//! commands), and `fail2ban` (its bans and check). This file runs the tools.

use std::process::Command;
use std::time::Duration;

use crate::tool;

mod check;
mod eval;
mod fail2ban;
mod iptables;
mod model;
mod nft;

pub use check::check;
pub use eval::{judge, Outcome, Verdict};
pub use fail2ban::{
    check_fail2ban, parse_f2b_banned, parse_f2b_ignoreip, parse_f2b_jail_list, read_fail2ban,
    Fail2ban, Jail,
};
pub use iptables::parse_iptables_save;
pub use model::{Action, Backend, BaseChain, Chain, Cond, Family, Net, Rule, Table};
pub use nft::parse_nft_json;

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

/// A tool's run: Ok(stdout) on exit 0, Err(why) otherwise; None when the tool is absent.
type ToolRun = Option<Result<String, String>>;

/// Runs a tool with a deadline; kills it when the deadline passes.
fn run_tool(name: &str, args: &[&str]) -> ToolRun {
    let binary = tool::find(name)?;
    let shown = format!("{name} {}", args.join(" "));
    let mut command = Command::new(&binary);
    command.args(args).env("LC_ALL", "C");
    // Not capped in size: a rule set cut short would read as fewer rules, not as unknown.
    let ran = match tool::run(command, TOOL_TIMEOUT, u64::MAX) {
        Ok(ran) => ran,
        Err(e) => return Some(Err(format!("`{shown}` could not start: {e}"))),
    };
    Some(match ran.status {
        None => Err(format!(
            "`{shown}` did not answer within {} s",
            TOOL_TIMEOUT.as_secs()
        )),
        Some(s) if s.success() => Ok(ran.stdout),
        Some(s) => {
            let why = ran
                .stderr
                .lines()
                .chain(ran.stdout.lines())
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
    // Every tool runs at once, except the iptables-nft ones, which wait for nft: where nft
    // lists no table of their family they have nothing to print, and are not run.
    let (nft, [legacy4, legacy6, nft4, nft6, plain4, plain6, version, ufw, firewalld]) =
        std::thread::scope(|scope| {
            let plain = !has_variants();
            let handles = [
                scope.spawn(|| legacy_run("iptables-legacy-save", "/proc/net/ip_tables_names")),
                scope.spawn(|| legacy_run("ip6tables-legacy-save", "/proc/net/ip6_tables_names")),
                scope.spawn(move || plain.then(|| run_tool("iptables-save", &[])).flatten()),
                scope.spawn(move || plain.then(|| run_tool("ip6tables-save", &[])).flatten()),
                scope.spawn(iptables_version),
                scope.spawn(|| run_tool("ufw", &["status", "verbose"])),
                scope.spawn(|| run_tool("firewall-cmd", &["--state"])),
            ];
            let nft = run_tool("nft", &["-j", "list", "ruleset"]);
            let families: Option<Vec<Family>> = nft
                .as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|json| parse_nft_json(json).ok())
                .map(|tables| tables.into_iter().map(|t| t.family).collect());
            let nft_save = |name: &'static str, family: Family| {
                let families = families.clone();
                move || match families {
                    Some(listed) if !listed.contains(&family) => {
                        tool::find(name).map(|_| Ok(String::new()))
                    }
                    _ => run_tool(name, &[]),
                }
            };
            let nft4 = scope.spawn(nft_save("iptables-nft-save", Family::V4));
            let nft6 = scope.spawn(nft_save("ip6tables-nft-save", Family::V6));
            let join = |h: std::thread::ScopedJoinHandle<'_, ToolRun>| h.join().unwrap_or(None);
            let [legacy4, legacy6, plain4, plain6, version, ufw, firewalld] = handles.map(join);
            (
                nft,
                [
                    legacy4,
                    legacy6,
                    join(nft4),
                    join(nft6),
                    plain4,
                    plain6,
                    version,
                    ufw,
                    firewalld,
                ],
            )
        });
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

/// Plain `iptables-save` is read only where neither variant tool exists (see `assemble`).
fn has_variants() -> bool {
    tool::find("iptables-legacy-save").is_some() || tool::find("iptables-nft-save").is_some()
}

/// A legacy `*-save`, unless the kernel lists no legacy table in this network namespace:
/// then it has nothing to print (and running it could load the module).
fn legacy_run(name: &str, tables: &str) -> ToolRun {
    let none = match std::fs::read_to_string(tables) {
        Ok(names) => names.trim().is_empty(),
        // No such file: the legacy module is not loaded, so no legacy rule exists.
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    if none {
        return tool::find(name).map(|_| Ok(String::new()));
    }
    run_tool(name, &[])
}

/// `iptables -V` says which variant plain `iptables` is; where `iptables` is a link to
/// xtables-nft-multi or xtables-legacy-multi, its target says it without running it.
fn iptables_version() -> ToolRun {
    let binary = tool::find("iptables")?;
    let target = std::fs::canonicalize(&binary).ok();
    match target
        .as_ref()
        .and_then(|t| t.file_name())
        .and_then(|n| n.to_str())
    {
        Some("xtables-nft-multi") => Some(Ok("iptables (nf_tables)".into())),
        Some("xtables-legacy-multi") => Some(Ok("iptables (legacy)".into())),
        _ => run_tool("iptables", &["-V"]),
    }
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
