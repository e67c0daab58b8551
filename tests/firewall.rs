//! local_firewall and fail2ban, judged on real captured rule sets (tests/fixtures/firewall).

use std::net::IpAddr;

use bastion_wizard::checks::{CheckId, Status};
use bastion_wizard::firewall::{self, Backend, Fail2ban, Firewall, Jail, Outcome, Outputs};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/firewall/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const WHALY: [&str; 8] = [
    "34.22.141.3",
    "34.22.218.65",
    "34.76.210.24",
    "34.79.63.55",
    "34.77.135.30",
    "34.77.115.173",
    "35.190.212.29",
    "35.241.143.126",
];

fn whaly() -> Vec<IpAddr> {
    WHALY.iter().map(|s| ip(s)).collect()
}

fn legacy(default: Backend) -> Firewall {
    firewall::assemble(Outputs {
        iptables_legacy: Some(Ok(fixture("iptables-legacy-save.txt"))),
        ip6tables_legacy: Some(Ok(fixture("ip6tables-legacy-save.txt"))),
        iptables_nft: Some(Ok(fixture("empty-iptables-nft-save.txt"))),
        nft_json: Some(Ok(fixture("empty.nft.json"))),
        iptables_version: Some(Ok(match default {
            Backend::IptablesNft => "iptables v1.8.9 (nf_tables)\n".into(),
            _ => "iptables v1.8.9 (legacy)\n".into(),
        })),
        ..Outputs::default()
    })
}

fn outcome(fw: &Firewall, addr: &str, port: u16) -> Outcome {
    firewall::judge(fw, ip(addr), port).map_or(Outcome::Accepted, |v| v.outcome)
}

fn blocked_by(o: &Outcome) -> &str {
    match o {
        Outcome::Blocked { rule, .. } => rule,
        other => panic!("expected blocked, got {other:?}"),
    }
}

fn unsure_rule(o: &Outcome) -> &str {
    match o {
        Outcome::CannotTell { rule, .. } => rule,
        other => panic!("expected cannot tell, got {other:?}"),
    }
}

#[test]
fn iptables_legacy_rules_are_walked_in_order_through_user_chains() {
    let fw = legacy(Backend::IptablesLegacy);
    assert!(fw.problems.is_empty(), "{:?}", fw.problems);
    // DROP for one IP inside the VENDOR chain reached by multiport.
    assert_eq!(
        blocked_by(&outcome(&fw, "34.22.141.3", 22)),
        "-A VENDOR -s 34.22.141.3/32 -p tcp -m tcp --dport 22 -j DROP"
    );
    // REJECT for a /24 holding a vendor IP.
    let o = outcome(&fw, "34.76.210.24", 22);
    assert!(blocked_by(&o).contains("34.76.210.0/24"));
    assert!(matches!(o, Outcome::Blocked { rejects: true, .. }));
    // `recent` cannot be judged from here and it decides: cannot tell, naming the rule.
    assert!(unsure_rule(&outcome(&fw, "34.79.63.55", 22)).contains("-m recent"));
    // Others return from VENDOR and meet the ACCEPT for 22 before the DROP policy.
    assert_eq!(outcome(&fw, "34.22.218.65", 22), Outcome::Accepted);
    // The established rule does not let a new connection in; port 2222 from outside
    // 10/8 is dropped after VENDOR returns.
    assert!(blocked_by(&outcome(&fw, "34.77.115.173", 2222)).contains("! -s 10.0.0.0/8"));
    // A port nothing accepts meets the policy.
    assert!(blocked_by(&outcome(&fw, "34.77.115.173", 2200)).contains("policy DROP"));
    // The iprange accept covers 35.190.212.29 on any port.
    assert_eq!(outcome(&fw, "35.190.212.29", 2200), Outcome::Accepted);
}

#[test]
fn ip6tables_rules_judge_v6_vendor_addresses_only() {
    let fw = legacy(Backend::IptablesLegacy);
    assert_eq!(outcome(&fw, "2001:db8::7", 22), Outcome::Accepted);
    assert!(blocked_by(&outcome(&fw, "2001:db9::7", 22)).contains("policy DROP"));
}

#[test]
fn legacy_fail_names_ips_and_rule_and_gives_iptables_commands() {
    let check = firewall::check(&legacy(Backend::IptablesLegacy), &whaly(), &[22]);
    assert_eq!(check.id, CheckId::LocalFirewall);
    assert_eq!(check.status, Status::Fail);
    assert!(
        check.detail.contains("34.22.141.3 blocked on port 22"),
        "{}",
        check.detail
    );
    assert!(check.detail.contains("34.76.210.24"));
    assert!(check.detail.contains("cannot tell for 34.79.63.55"));
    let fix = check.fix.unwrap();
    assert!(fix
        .lines()
        .any(|l| l == "iptables -I INPUT -p tcp -s 34.22.141.3 --dport 22 -j ACCEPT"));
    assert!(fix.contains("-s 34.76.210.24 "));
    // Where plain `iptables` is the nft variant, the legacy rules need the legacy binary.
    let fix = firewall::check(&legacy(Backend::IptablesNft), &whaly(), &[22])
        .fix
        .unwrap();
    assert!(fix.starts_with("iptables-legacy -I INPUT"), "{fix}");
}

fn iptables_nft() -> Firewall {
    firewall::assemble(Outputs {
        iptables_nft: Some(Ok(fixture("iptables-nft-save.txt"))),
        iptables_legacy: Some(Ok(fixture("empty-iptables-legacy-save.txt"))),
        nft_json: Some(Ok(fixture("iptables-nft.nft.json"))),
        iptables_version: Some(Ok("iptables v1.8.9 (nf_tables)\n".into())),
        ..Outputs::default()
    })
}

#[test]
fn iptables_nft_tables_are_read_once_through_iptables_nft_save() {
    let fw = iptables_nft();
    // nft's view of the same tables has `xt` matches; it must not turn into "cannot tell".
    assert!(fw.tables.iter().all(|t| t.backend == Backend::IptablesNft));
    assert!(
        blocked_by(&outcome(&fw, "34.77.135.30", 22)).contains("-A f2b-like -s 34.77.135.30/32")
    );
    assert_eq!(outcome(&fw, "34.22.141.3", 22), Outcome::Accepted);
    // A DROP in raw PREROUTING comes before the filter table.
    assert!(blocked_by(&outcome(&fw, "35.241.143.126", 22)).contains("-A PREROUTING"));
    // `-i eth0 ... ACCEPT` before a DROP policy: which interface the vendor uses decides.
    assert!(unsure_rule(&outcome(&fw, "34.76.210.24", 22)).contains("-i eth0"));
    let fix = firewall::check(&fw, &whaly(), &[22]).fix.unwrap();
    assert!(fix.lines().any(
        |l| l == "iptables -t raw -I PREROUTING -p tcp -s 35.241.143.126 --dport 22 -j ACCEPT"
    ));
}

fn native() -> Firewall {
    firewall::assemble(Outputs {
        nft_json: Some(Ok(fixture("native.nft.json"))),
        ..Outputs::default()
    })
}

#[test]
fn nftables_sets_jumps_gotos_and_policies() {
    let fw = native();
    assert!(blocked_by(&outcome(&fw, "34.22.141.3", 22)).contains("@vendor_blocked"));
    assert!(blocked_by(&outcome(&fw, "34.76.210.24", 22)).contains("@vendor_blocked"));
    // Not on 2222: the set rule is for 22 only, and ssh_in lets 34/8 in only on 22, but the
    // eth0 rule decides for 2222.
    assert!(unsure_rule(&outcome(&fw, "34.22.141.3", 2222)).contains("iifname eth0"));
    let o = outcome(&fw, "34.79.63.55", 22);
    assert!(blocked_by(&o).contains("34.79.63.55"));
    assert!(matches!(o, Outcome::Blocked { rejects: true, .. }));
    assert_eq!(outcome(&fw, "34.77.115.173", 22), Outcome::Accepted);
    // limit decides between accept and the drop policy.
    assert!(unsure_rule(&outcome(&fw, "35.190.212.29", 22)).contains("limit"));
    // goto from an earlier base chain of another table.
    assert!(blocked_by(&outcome(&fw, "35.241.143.126", 22)).contains("drop"));
    // A v6 address: the inet table's ip rules do not match it; the policy drops it.
    assert!(blocked_by(&outcome(&fw, "2001:db8::7", 22)).contains("policy DROP of chain input"));
}

#[test]
fn nftables_fix_is_one_nft_insert_per_family_and_table() {
    let mut ips = whaly();
    ips.push(ip("2001:db8::7"));
    let check = firewall::check(&native(), &ips, &[22]);
    assert_eq!(check.status, Status::Fail);
    let fix = check.fix.unwrap();
    assert!(fix.lines().any(|l| l
        == "nft insert rule inet filter input 'ip saddr { 34.22.141.3, 34.76.210.24 } tcp dport 22 accept'"), "{fix}");
    assert!(
        fix.lines()
            .any(|l| l
                == "nft insert rule ip extra early 'ip saddr 35.241.143.126 tcp dport 22 accept'"),
        "{fix}"
    );
    assert!(
        fix.lines().any(|l| l
            == "nft insert rule inet filter input 'ip6 saddr 2001:db8::7 tcp dport 22 accept'"),
        "{fix}"
    );
}

#[test]
fn ufw_blocks_are_fixed_with_ufw_commands() {
    let fw = firewall::assemble(Outputs {
        iptables_legacy: Some(Ok(fixture("ufw-iptables-legacy-save.txt"))),
        ufw_status: Some(Ok(fixture("ufw-status-verbose.txt"))),
        ..Outputs::default()
    });
    assert_eq!(fw.ufw_active, Some(true));
    assert!(blocked_by(&outcome(&fw, "34.22.141.3", 22))
        .starts_with("-A ufw-user-input -s 34.22.141.3/32"));
    assert_eq!(outcome(&fw, "34.22.218.65", 22), Outcome::Accepted);
    assert!(blocked_by(&outcome(&fw, "34.76.210.24", 22)).contains("policy DROP"));
    let check = firewall::check(&fw, &whaly(), &[22]);
    assert!(check.detail.contains("(ufw is active)"));
    let fix = check.fix.unwrap();
    // Before the user's deny rule...
    assert!(fix
        .lines()
        .any(|l| l == "ufw insert 1 allow from 34.22.141.3 to any port 22 proto tcp"));
    // ...and, against the default deny, a plain allow.
    assert!(fix
        .lines()
        .any(|l| l == "ufw allow from 34.76.210.24 to any port 22 proto tcp"));
    assert!(!fix.contains("iptables"));
}

#[test]
fn firewalld_blocks_are_fixed_with_rich_rules_in_the_zone() {
    let fw = firewall::assemble(Outputs {
        nft_json: Some(Ok(fixture("firewalld-layout.nft.json"))),
        firewalld_state: Some(Ok("running\n".into())),
        ..Outputs::default()
    });
    assert_eq!(fw.firewalld_running, Some(true));
    assert!(blocked_by(&outcome(&fw, "34.22.141.3", 22)).contains("34.22.141.3"));
    assert_eq!(outcome(&fw, "34.76.210.24", 22), Outcome::Accepted);
    let check = firewall::check(&fw, &[ip("34.22.141.3"), ip("34.76.210.24")], &[22]);
    assert_eq!(check.status, Status::Fail);
    assert_eq!(
        check.fix.unwrap(),
        "firewall-cmd --permanent --zone=public --add-rich-rule='rule family=\"ipv4\" source address=\"34.22.141.3\" port port=\"22\" protocol=\"tcp\" accept'\nfirewall-cmd --reload"
    );
}

#[test]
fn no_rules_is_ok_and_says_there_is_no_firewall() {
    let fw = firewall::assemble(Outputs {
        nft_json: Some(Ok(fixture("empty.nft.json"))),
        iptables_legacy: Some(Ok(fixture("empty-iptables-legacy-save.txt"))),
        iptables_nft: Some(Ok(fixture("empty-iptables-nft-save.txt"))),
        ..Outputs::default()
    });
    let check = firewall::check(&fw, &whaly(), &[22]);
    assert_eq!(check.status, Status::Ok);
    assert!(check.detail.contains("no firewall"));
    // A tool that failed leaves its rules unknown: warn, not ok.
    let fw = firewall::assemble(Outputs {
        nft_json: Some(Err("`nft -j list ruleset` did not answer within 3 s".into())),
        ..Outputs::default()
    });
    let check = firewall::check(&fw, &whaly(), &[22]);
    assert_eq!(check.status, Status::Warn);
    assert!(check.detail.contains("did not answer"));
}

#[test]
fn all_accepted_is_ok() {
    let check = firewall::check(&native(), &[ip("34.77.115.173")], &[22]);
    assert_eq!(check.status, Status::Ok, "{}", check.detail);
    let check = firewall::check(&native(), &[ip("35.190.212.29")], &[22]);
    assert_eq!(check.status, Status::Warn);
    assert!(check.detail.contains("limit"));
}

#[test]
fn not_root_does_not_run_the_tools_and_warns() {
    let check = firewall::check(&firewall::read(false), &whaly(), &[22]);
    assert_eq!(check.status, Status::Warn);
    assert!(check.detail.contains("run as root"));
}

// ---------------------------------------------------------------- fail2ban

#[test]
fn fail2ban_client_outputs_parse() {
    assert_eq!(
        firewall::parse_f2b_jail_list(&fixture("f2b-status.txt")),
        ["sshd", "recidive"]
    );
    assert_eq!(
        firewall::parse_f2b_banned(&fixture("f2b-status-sshd.txt")),
        [ip("192.168.0.1"), ip("34.22.141.3"), ip("2001:db8::1")]
    );
    assert_eq!(
        firewall::parse_f2b_ignoreip(&fixture("f2b-ignoreip.txt")),
        ["127.0.0.0/8", "::1", "2001:db8::/32", "34.76.210.0/24"]
    );
    assert!(firewall::parse_f2b_ignoreip(&fixture("f2b-ignoreip-none.txt")).is_empty());
}

fn f2b() -> Fail2ban {
    Fail2ban {
        installed: true,
        running: true,
        jails: vec![Jail {
            name: "sshd".into(),
            banned: firewall::parse_f2b_banned(&fixture("f2b-status-sshd.txt")),
            ignoreip: firewall::parse_f2b_ignoreip(&fixture("f2b-ignoreip.txt")),
        }],
        ..Fail2ban::default()
    }
}

#[test]
fn a_banned_vendor_ip_fails_with_unban_and_ignoreip() {
    let check = firewall::check_fail2ban(&f2b(), &whaly());
    assert_eq!(check.id, CheckId::Fail2ban);
    assert_eq!(check.status, Status::Fail);
    assert!(check.detail.contains("34.22.141.3 (jail sshd)"));
    assert!(!check.detail.contains("192.168.0.1"));
    let fix = check.fix.unwrap();
    assert!(fix
        .lines()
        .any(|l| l == "fail2ban-client set sshd unbanip 34.22.141.3"));
    // Keeps what is ignored already; 34.76.210.24 is covered by its /24.
    assert!(fix.contains(
        "ignoreip = 127.0.0.0/8 ::1 2001:db8::/32 34.76.210.0/24 34.22.141.3 34.22.218.65 34.79.63.55"
    ), "{fix}");
    assert!(!fix.contains(" 34.76.210.24"));
}

#[test]
fn fail2ban_without_bans_is_ok_with_advice_and_absent_is_ok() {
    let mut f = f2b();
    f.jails[0].banned.clear();
    let check = firewall::check_fail2ban(&f, &whaly());
    assert_eq!(check.status, Status::Ok);
    assert!(check.detail.contains("ignoreip = "));
    // All vendor IPs ignored: no advice.
    let check = firewall::check_fail2ban(&f, &[ip("34.76.210.24")]);
    assert_eq!(check.status, Status::Ok);
    assert!(!check.detail.contains("ignoreip"));
    let check = firewall::check_fail2ban(&Fail2ban::default(), &whaly());
    assert_eq!(check.status, Status::Ok);
    assert_eq!(check.detail, "fail2ban is not installed");
}

// ---------------------------------------------------------------- end to end

/// Runs `status --json` inside a fresh network namespace after `setup` (a shell snippet that
/// changes only that namespace's rules). None when this host cannot make one.
fn status_in_netns(setup: &str) -> Option<serde_json::Value> {
    let must = std::env::var("BASTION_WIZARD_E2E").is_ok_and(|v| v == "1");
    let root = nix::unistd::geteuid().is_root();
    let tools = ["unshare", "iptables-nft", "nft"].iter().all(|t| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !root || !tools {
        assert!(
            !must,
            "BASTION_WIZARD_E2E=1 but root/unshare/iptables-nft/nft are missing"
        );
        eprintln!("skipped: needs root, unshare, iptables-nft and nft");
        return None;
    }
    let bin = env!("CARGO_BIN_EXE_bastion-wizard");
    let script = format!("set -e; ip link set lo up; {setup}; exec \"$0\" status --json");
    let out = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", &script, bin])
        .output()
        .expect("unshare runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    Some(serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "status --json: {e}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    }))
}

fn check_of<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

#[test]
fn e2e_status_names_a_vendor_ip_dropped_in_this_namespace() {
    let Some(report) =
        status_in_netns("iptables-nft -A INPUT -s 34.22.141.3 -p tcp --dport 22 -j DROP")
    else {
        return;
    };
    let fw = check_of(&report, "local_firewall");
    assert_eq!(fw["status"], "fail", "{fw}");
    let detail = fw["detail"].as_str().unwrap();
    assert!(detail.contains("34.22.141.3"), "{detail}");
    assert!(!detail.contains("34.22.218.65"), "{detail}");
    assert!(fw["fix"]
        .as_str()
        .unwrap()
        .contains("-I INPUT -p tcp -s 34.22.141.3 --dport 22 -j ACCEPT"));
    assert_eq!(report["ready"], false);

    let Some(report) = status_in_netns(
        "nft add table inet t; nft add chain inet t in '{ type filter hook input priority 0; policy accept; }'; nft add rule inet t in ip saddr 34.76.210.0/24 tcp dport 22 reject",
    ) else {
        return;
    };
    let fw = check_of(&report, "local_firewall");
    assert_eq!(fw["status"], "fail", "{fw}");
    assert!(fw["detail"].as_str().unwrap().contains("34.76.210.24"));
    assert!(fw["fix"]
        .as_str()
        .unwrap()
        .starts_with("nft insert rule inet t in 'ip saddr 34.76.210.24 tcp dport 22 accept'"));

    // The same namespace without rules: no firewall.
    let Some(report) = status_in_netns("true") else {
        return;
    };
    assert_eq!(check_of(&report, "local_firewall")["status"], "ok");
}
