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
