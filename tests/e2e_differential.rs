//! The differential harness (issue 6): on every staged host, `status --json`'s `ready` must
//! say what a real tunnel says.
//!
//! Each scenario stages one host in its own sandbox (see tests/common): a normal `apply`
//! (tunnel-only key, `--permit-open 127.0.0.1:<echo port>`), and a staging step after, before
//! or instead of it. Then, in this order, `status --json` is asked (before any connection, so
//! it cannot learn the answer from sshd's log), and the vendor's `ssh -N -L` is run from EVERY
//! vendor address through the sandbox's real sshd. No scenario says what the answer should
//! be: the tunnel is the judge, `tunnel_ok` = every vendor address carried bytes, and the test
//! demands `status.ready == tunnel_ok`.
//!
//! Scenarios where today's program disagrees are listed in [`KNOWN_DISAGREEMENTS`]; the list
//! is checked both ways, so a fix that makes one agree fails the test until it is removed.
//! `BWZ_DIFF_ONLY=name,name` runs only those scenarios (no list or count checks then);
//! `BWZ_DIFF_JOBS=N` sets how many run at once; `BWZ_DIFF_VERBOSE=1` prints the evidence
//! (checks, tunnels, sshd's log) of the agreeing scenarios too (with `--nocapture`).

#[macro_use]
mod common;

use common::{describe, keygen, try_tunnel_from, vendor_ips, EchoServer, Sandbox, TunnelResult};
use std::cell::{Cell, RefCell};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const USER: &str = "whaly";

/// The SSH port the vendor is given (sshd's default, and what the profile assumes).
const VENDOR_PORT: u16 = 22;

/// Scenarios where `status` and the tunnel disagree with today's program: the lead's work
/// queue. Remove a name as soon as its scenario agrees (the test says so).
const KNOWN_DISAGREEMENTS: &[&str] = &[];

/// The harness is not vacuous: at least this many scenarios must end with a failed tunnel...
const MIN_TUNNEL_FAILS: usize = 25;
/// ...and at least this many with a working one.
const MIN_TUNNEL_WORKS: usize = 15;

/// The vendor's key type for a scenario.
#[derive(Clone, Copy)]
enum KeyKind {
    Ed25519,
    Rsa,
}

/// Where the staging goes relative to the normal `apply`.
#[derive(Clone, Copy)]
enum When {
    After,
    Before,
    Instead,
}

struct Scenario {
    name: &'static str,
    key: KeyKind,
    when: When,
    stage: fn(&Ctx),
}

/// A scenario with an ed25519 key, staged after the normal apply.
fn after(name: &'static str, stage: fn(&Ctx)) -> Scenario {
    Scenario {
        name,
        key: KeyKind::Ed25519,
        when: When::After,
        stage,
    }
}

fn before(name: &'static str, stage: fn(&Ctx)) -> Scenario {
    Scenario {
        when: When::Before,
        ..after(name, stage)
    }
}

fn instead(name: &'static str, stage: fn(&Ctx)) -> Scenario {
    Scenario {
        when: When::Instead,
        ..after(name, stage)
    }
}

fn rsa(name: &'static str, stage: fn(&Ctx)) -> Scenario {
    Scenario {
        key: KeyKind::Rsa,
        ..after(name, stage)
    }
}

/// What a staging step may touch. Text given to it may say `{PORT}` (the echo server's port),
/// `{TARGET}` (`127.0.0.1:{PORT}`), `{KEY}` (the vendor's public key line) and `{USER}`.
struct Ctx<'a> {
    sb: &'a Sandbox,
    echo_port: u16,
    public: String,
    key_file: String,
    /// Lines for the main sshd_config, written when the scenario sets them.
    main: RefCell<String>,
    /// The scenario's host has no sshd running.
    no_sshd: Cell<bool>,
    /// Listeners the scenario holds open until the tunnels have been tried.
    held: RefCell<Vec<TcpListener>>,
}

impl Ctx<'_> {
    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.echo_port)
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{PORT}", &self.echo_port.to_string())
            .replace("{TARGET}", &self.target())
            .replace("{KEY}", &self.public)
            .replace("{USER}", USER)
    }

    /// Adds lines to the main /etc/ssh/sshd_config (before the defaults; a `Match` part last).
    fn main(&self, lines: &str) {
        let mut main = self.main.borrow_mut();
        main.push_str(&self.fill(lines));
        main.push('\n');
        self.sb.write_sshd_config(&main);
    }

    /// Writes /etc/ssh/sshd_config.d/x.conf (included at the top of the main file).
    fn drop_in(&self, lines: &str) {
        self.sb.write_file(
            "/etc/ssh/sshd_config.d/x.conf",
            format!("{}\n", self.fill(lines)).as_bytes(),
        );
    }

    fn sh(&self, script: &str) {
        self.sb.sh(&self.fill(script));
    }

    fn write(&self, inside: &str, content: &str) {
        self.sb.write_file(inside, self.fill(content).as_bytes());
    }

    /// The normal setup: `apply --key-file K --yes --permit-open TARGET` (0, or 5 when a
    /// check outside the account fails).
    fn apply(&self) {
        let target = self.target();
        let out = self.sb.wizard(&[
            "apply",
            "--key-file",
            &self.key_file,
            "--yes",
            "--permit-open",
            &target,
        ]);
        assert!(
            matches!(out.status.code(), Some(0) | Some(5)),
            "the normal apply failed:\n{}",
            describe(&out)
        );
    }

    /// No sshd on this host (it was stopped).
    fn stop_sshd(&self) {
        self.no_sshd.set(true);
    }

    /// Another program holds the SSH port on every address (it accepts and says nothing).
    fn occupy_ssh_port(&self) {
        let l = TcpListener::bind(("0.0.0.0", VENDOR_PORT)).expect("bind the SSH port");
        self.held.borrow_mut().push(l);
    }

    /// Replaces the vendor key's line in authorized_keys by `line` (same file, owner, mode).
    fn key_line(&self, line: &str) {
        let path = format!("/home/{USER}/.ssh/authorized_keys");
        let data = common::key_data(&self.public).to_string();
        let old = self
            .sb
            .read_string(&path)
            .expect("authorized_keys after apply");
        assert!(old.contains(&data), "the key is not installed:\n{old}");
        let new: String = old
            .lines()
            .map(|l| {
                if l.contains(&data) {
                    self.fill(line)
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect();
        self.sb.write_file(&path, new.as_bytes());
    }
}

/// Every staged host. Grouped by cause; "ok_" names are hosts meant to be healthy (a
/// reminder for the reader, not an expectation: the tunnel decides).
fn scenarios() -> Vec<Scenario> {
    vec![
        // Healthy controls.
        after("ok_plain", |_| {}),
        after("ok_keepalive", |c| {
            c.main("ClientAliveInterval 30\nClientAliveCountMax 10")
        }),
        after("ok_unrelated_hardening", |c| {
            c.main("X11Forwarding no\nAllowAgentForwarding no\nPermitTTY no\nMaxAuthTries 3\nAllowStreamLocalForwarding no\nGatewayPorts no")
        }),
        rsa("ok_rsa_key", |_| {}),
        before("ok_config_before_apply", |c| {
            c.main("ClientAliveInterval 60")
        }),
        // Nothing set up at all.
        instead("no_setup", |_| {}),
        // AllowTcpForwarding / DisableForwarding, wherever they stand.
        after("fwd_no_main", |c| c.main("AllowTcpForwarding no")),
        after("fwd_no_dropin", |c| c.drop_in("AllowTcpForwarding no")),
        after("fwd_no_match_one_vendor_ip", |c| {
            c.main("Match Address 34.22.141.3\n    AllowTcpForwarding no")
        }),
        after("fwd_no_match_user", |c| {
            c.main("Match User whaly\n    AllowTcpForwarding no")
        }),
        after("fwd_no_match_group", |c| {
            c.main("Match Group whaly\n    AllowTcpForwarding no")
        }),
        after("fwd_no_dropin_match_user", |c| {
            c.drop_in("Match User whaly\n    AllowTcpForwarding no")
        }),
        after("ok_fwd_no_match_other_user", |c| {
            c.main("Match User bob\n    AllowTcpForwarding no")
        }),
        after("ok_fwd_no_match_stranger_addr", |c| {
            c.main("Match Address 203.0.113.9\n    AllowTcpForwarding no")
        }),
        after("fwd_no_match_vendor_cidr", |c| {
            c.main("Match Address 34.0.0.0/8\n    AllowTcpForwarding no")
        }),
        after("fwd_no_match_host_ip", |c| {
            c.main("Match Host 35.190.212.29\n    AllowTcpForwarding no")
        }),
        after("fwd_no_match_local_address", |c| {
            c.main("Match LocalAddress 198.51.100.7\n    AllowTcpForwarding no")
        }),
        after("fwd_no_match_local_port", |c| {
            c.main("Match LocalPort 22\n    AllowTcpForwarding no")
        }),
        after("fwd_no_match_all", |c| {
            c.main("Match all\n    AllowTcpForwarding no")
        }),
        after("ok_fwd_no_match_negated_user", |c| {
            c.main("Match User *,!whaly\n    AllowTcpForwarding no")
        }),
        after("ok_forcecommand_false", |c| {
            c.main("ForceCommand /bin/false")
        }),
        after("ok_fwd_no_match_other_local_port", |c| {
            c.main("Match LocalPort 2222\n    AllowTcpForwarding no")
        }),
        after("ok_fwd_no_match_other_local_address", |c| {
            c.main("Match LocalAddress 127.0.0.1\n    AllowTcpForwarding no")
        }),
        after("ok_fwd_no_match_stranger_host", |c| {
            c.main("Match Host 203.0.113.9\n    AllowTcpForwarding no")
        }),
        after("ok_fwd_local", |c| c.main("AllowTcpForwarding local")),
        after("fwd_remote_only", |c| c.main("AllowTcpForwarding remote")),
        after("ok_fwd_dropin_yes_beats_main_no", |c| {
            c.drop_in("AllowTcpForwarding yes");
            c.main("AllowTcpForwarding no");
        }),
        after("fwd_dropin_yes_vs_main_match_user_no", |c| {
            c.drop_in("AllowTcpForwarding yes");
            c.main("Match User whaly\n    AllowTcpForwarding no");
        }),
        after("disable_forwarding_main", |c| {
            c.main("DisableForwarding yes")
        }),
        after("disable_forwarding_dropin", |c| {
            c.drop_in("DisableForwarding yes")
        }),
        after("disable_forwarding_match_user", |c| {
            c.main("Match User whaly\n    DisableForwarding yes")
        }),
        // PermitOpen in the config.
        after("permitopen_other_target", |c| {
            c.main("PermitOpen 127.0.0.1:1")
        }),
        after("permitopen_localhost_name", |c| {
            c.main("PermitOpen localhost:{PORT}")
        }),
        after("permitopen_none", |c| c.main("PermitOpen none")),
        after("permitopen_other_target_match_user", |c| {
            c.main("Match User whaly\n    PermitOpen 127.0.0.1:1")
        }),
        after("permitopen_other_target_dropin", |c| {
            c.drop_in("PermitOpen 10.9.9.9:5432")
        }),
        after("ok_permitopen_exact", |c| c.main("PermitOpen {TARGET}")),
        after("ok_permitopen_any_port", |c| {
            c.main("PermitOpen 127.0.0.1:*")
        }),
        after("ok_permitopen_listed_second", |c| {
            c.main("PermitOpen 10.9.9.9:5432 {TARGET}")
        }),
        // Who may log in.
        after("allowusers_other", |c| c.main("AllowUsers bob")),
        after("allowusers_cidr_elsewhere", |c| {
            c.main("AllowUsers whaly@10.0.0.0/8")
        }),
        after("allowusers_cidr_one_vendor_net", |c| {
            c.main("AllowUsers whaly@34.22.141.0/24")
        }),
        after("allowusers_dropin_other", |c| c.drop_in("AllowUsers bob")),
        after("ok_allowusers_all_vendor_nets", |c| {
            c.main("AllowUsers whaly@34.0.0.0/8 whaly@35.0.0.0/8")
        }),
        after("ok_allowusers_plain", |c| c.main("AllowUsers bob whaly")),
        after("denyusers_one_vendor_ip", |c| {
            c.main("DenyUsers whaly@35.190.212.29")
        }),
        after("denyusers_user", |c| c.main("DenyUsers whaly")),
        after("denyusers_wildcard", |c| c.main("DenyUsers wha*")),
        after("allowusers_host_glob_one_net", |c| {
            c.main("AllowUsers whaly@34.*")
        }),
        after("denygroups_supplementary", |c| {
            c.sh("groupadd blocked && usermod -a -G blocked whaly");
            c.main("DenyGroups blocked");
        }),
        after("ok_allowgroups_supplementary", |c| {
            c.sh("groupadd tunnels && usermod -a -G tunnels whaly");
            c.main("AllowGroups tunnels");
        }),
        after("ok_denyusers_stranger_addr", |c| {
            c.main("DenyUsers whaly@203.0.113.9")
        }),
        after("allowgroups_other", |c| c.main("AllowGroups other")),
        after("ok_allowgroups_own", |c| c.main("AllowGroups whaly")),
        after("denygroups_own", |c| c.main("DenyGroups whaly")),
        // Authentication.
        after("pubkey_no_main", |c| c.main("PubkeyAuthentication no")),
        after("pubkey_no_dropin", |c| c.drop_in("PubkeyAuthentication no")),
        after("pubkey_no_match_user", |c| {
            c.main("Match User whaly\n    PubkeyAuthentication no")
        }),
        after("authmethods_pubkey_and_password", |c| {
            c.main("AuthenticationMethods publickey,password\nPasswordAuthentication yes")
        }),
        after("sshd_config_rejected", |c| {
            // sshd -t refuses it: a password is demanded but password login is off.
            c.main("AuthenticationMethods publickey,password")
        }),
        after("authmethods_pubkey_twice", |c| {
            c.main("AuthenticationMethods publickey,publickey")
        }),
        after("authmethods_match_user", |c| {
            c.main("Match User whaly\n    AuthenticationMethods publickey,keyboard-interactive")
        }),
        after("ok_authmethods_pubkey_or_password", |c| {
            c.main("AuthenticationMethods publickey password")
        }),
        after("pubkey_auth_options_touch_required", |c| {
            c.main("PubkeyAuthOptions touch-required")
        }),
        after("revokedkeys_missing_file", |c| {
            c.main("RevokedKeys /nonexistent")
        }),
        after("revokedkeys_lists_key", |c| {
            c.write("/etc/ssh/revoked_keys", "{KEY}\n");
            c.main("RevokedKeys /etc/ssh/revoked_keys");
        }),
        after("ok_revokedkeys_other_key", |c| {
            let (_, other) = keygen(&c.sb.keys_dir(), "revoked-other", &["ed25519"]);
            c.write("/etc/ssh/revoked_keys", &format!("{other}\n"));
            c.main("RevokedKeys /etc/ssh/revoked_keys");
        }),
        after("chroot_missing", |c| c.main("ChrootDirectory /nonexistent")),
        after("chroot_user_owned_home", |c| c.main("ChrootDirectory %h")),
        after("chroot_root_owned_dir", |c| {
            c.sh("install -d -m 0755 -o root -g root /srv/jail");
            c.main("ChrootDirectory /srv/jail");
        }),
        rsa("pkalg_ed25519_only_rsa_key", |c| {
            c.main("PubkeyAcceptedAlgorithms ssh-ed25519")
        }),
        rsa("pkalg_rsa_sha256_only_rsa_key", |c| {
            c.main("PubkeyAcceptedAlgorithms rsa-sha2-256")
        }),
        rsa("pkalg_ssh_rsa_only_rsa_key", |c| {
            c.main("PubkeyAcceptedAlgorithms ssh-rsa")
        }),
        rsa("ok_pkalg_rsa_sha512_rsa_key", |c| {
            c.main("PubkeyAcceptedAlgorithms rsa-sha2-512")
        }),
        after("pkalg_rsa_only_ed25519_key", |c| {
            c.main("PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256")
        }),
        rsa("ok_pkalg_plus_ssh_rsa_rsa_key", |c| {
            c.main("PubkeyAcceptedAlgorithms +ssh-rsa")
        }),
        after("ok_pkalg_minus_rsa", |c| {
            c.main("PubkeyAcceptedAlgorithms -ssh-rsa*")
        }),
        // Where sshd listens.
        after("listen_loopback_only", |c| {
            c.main("ListenAddress 127.0.0.1")
        }),
        after("sshd_not_running", |c| c.stop_sshd()),
        after("address_family_inet6", |c| c.main("AddressFamily inet6")),
        after("ok_two_ports", |c| c.main("Port 22\nPort 2222")),
        after("ssh_port_held_by_another_program", |c| {
            c.stop_sshd();
            c.occupy_ssh_port();
        }),
        after("ok_listen_bastion_addr", |c| {
            c.main("ListenAddress 198.51.100.7")
        }),
        // AuthorizedKeysFile.
        after("akf_elsewhere_absent", |c| {
            c.main("AuthorizedKeysFile /etc/ssh/keys/%u")
        }),
        after("akf_elsewhere_absent_dropin", |c| {
            c.drop_in("AuthorizedKeysFile /etc/ssh/keys/%u")
        }),
        after("ok_akf_absolute_same_file", |c| {
            c.main("AuthorizedKeysFile /home/%u/.ssh/authorized_keys")
        }),
        after("ok_akf_home_token", |c| {
            c.main("AuthorizedKeysFile %h/.ssh/authorized_keys")
        }),
        after("ok_akf_second_entry", |c| {
            c.main("AuthorizedKeysFile /etc/ssh/keys/%u .ssh/authorized_keys")
        }),
        // The installed key line itself.
        after("keyline_restrict_only", |c| c.key_line("restrict {KEY}")),
        after("keyline_forwarding_then_restrict", |c| {
            c.key_line("port-forwarding,restrict {KEY}")
        }),
        after("keyline_permitopen_other", |c| {
            c.key_line("restrict,port-forwarding,permitopen=\"127.0.0.1:1\" {KEY}")
        }),
        after("keyline_permitopen_localhost_name", |c| {
            c.key_line("restrict,port-forwarding,permitopen=\"localhost:{PORT}\" {KEY}")
        }),
        after("keyline_from_elsewhere", |c| {
            c.key_line("restrict,port-forwarding,from=\"10.0.0.1\" {KEY}")
        }),
        after("keyline_expired", |c| {
            c.key_line("restrict,port-forwarding,expiry-time=\"20200101\" {KEY}")
        }),
        after("keyline_no_port_forwarding", |c| {
            c.key_line("no-port-forwarding {KEY}")
        }),
        after("ok_keyline_from_vendor_nets", |c| {
            c.key_line("restrict,port-forwarding,from=\"34.*,35.*\" {KEY}")
        }),
        after("ok_keyline_expiry_future", |c| {
            c.key_line("restrict,port-forwarding,expiry-time=\"20991231\" {KEY}")
        }),
        after("ok_keyline_no_options", |c| c.key_line("{KEY}")),
        after("keyline_from_negates_one_vendor_ip", |c| {
            c.key_line("restrict,port-forwarding,from=\"!34.22.141.3,*\" {KEY}")
        }),
        after("ok_keyline_command_false", |c| {
            c.key_line("restrict,port-forwarding,command=\"/bin/false\" {KEY}")
        }),
        // The account.
        after("account_expired", |c| c.sh("chage -E 0 whaly")),
        after("password_change_forced", |c| c.sh("chage -d 0 whaly")),
        after("nologin_file", |c| c.write("/etc/nologin", "maintenance\n")),
        after("ok_locked_password_pam_yes", |c| c.sh("usermod -L whaly")),
        after("locked_password_pam_no", |c| {
            c.sh("usermod -L whaly");
            c.main("UsePAM no");
        }),
        after("shell_missing", |c| {
            c.sh("usermod -s /bin/nonexistent whaly")
        }),
        after("ok_shell_false", |c| c.sh("usermod -s /bin/false whaly")),
        after("ok_use_pam_no", |c| c.main("UsePAM no")),
        after("password_aged_out", |c| c.sh("chage -d 1 -M 1 whaly")),
        after("home_missing", |c| c.sh("rm -rf /home/whaly")),
        after("pam_access_denies", |c| {
            c.sh("sed -i 's/^# *account *required *pam_access.so/account required pam_access.so/' /etc/pam.d/sshd && grep -q '^account required pam_access.so' /etc/pam.d/sshd");
            c.write("/etc/security/access.conf", "-:whaly:ALL\n");
        }),
        // StrictModes and files.
        after("ok_home_0775_private_group", |c| {
            c.sh("chmod 0775 /home/whaly")
        }),
        after("home_0775_shared_group", |c| {
            c.sh("useradd -M -N -g whaly -s /usr/sbin/nologin mate && chmod 0775 /home/whaly")
        }),
        after("home_0777", |c| c.sh("chmod 0777 /home/whaly")),
        after("ok_home_0777_strictmodes_no", |c| {
            c.sh("chmod 0777 /home/whaly");
            c.main("StrictModes no");
        }),
        after("ok_ssh_dir_0755", |c| c.sh("chmod 0755 /home/whaly/.ssh")),
        after("ssh_dir_0777", |c| c.sh("chmod 0777 /home/whaly/.ssh")),
        after("ok_authorized_keys_0644", |c| {
            c.sh("chmod 0644 /home/whaly/.ssh/authorized_keys")
        }),
        after("authorized_keys_0666", |c| {
            c.sh("chmod 0666 /home/whaly/.ssh/authorized_keys")
        }),
        after("ok_ssh_dir_root_owned_0755", |c| {
            c.sh("chown root:root /home/whaly/.ssh && chmod 0755 /home/whaly/.ssh")
        }),
        after("authorized_keys_owned_by_other", |c| {
            c.sh(
                "useradd -M -s /usr/sbin/nologin bob && chown bob /home/whaly/.ssh/authorized_keys",
            )
        }),
        // The host's own firewall.
        after("firewall_drops_one_vendor_ip", |c| {
            c.sh("iptables -I INPUT -s 34.22.141.3 -p tcp --dport 22 -j DROP")
        }),
        after("firewall_rejects_vendor_net", |c| {
            c.sh("iptables -I INPUT -s 35.0.0.0/8 -p tcp --dport 22 -j REJECT")
        }),
        after("ok_firewall_drops_stranger", |c| {
            c.sh("iptables -I INPUT -s 203.0.113.9 -p tcp --dport 22 -j DROP")
        }),
        after("ok_firewall_drops_other_port", |c| {
            c.sh("iptables -I INPUT -s 34.22.141.3 -p tcp --dport 2222 -j DROP")
        }),
    ]
}

/// One vendor address's tunnel.
struct Attempt {
    ip: String,
    result: TunnelResult,
}

/// What one scenario came to.
struct Outcome {
    name: &'static str,
    /// `None`: status broke (crashed, printed no JSON, or contradicted itself).
    ready: Option<bool>,
    tunnel_ok: bool,
    /// `id status: title — detail` of every check that is not ok.
    not_ok: Vec<String>,
    attempts: Vec<Attempt>,
    sshd_log: String,
    /// Seconds from the start until staged (sshd up), status answered, tunnels tried.
    seconds: [f64; 3],
}

impl Outcome {
    fn agrees(&self) -> bool {
        self.ready == Some(self.tunnel_ok)
    }

    fn ready_text(&self) -> &'static str {
        match self.ready {
            Some(true) => "true",
            Some(false) => "false",
            None => "broken",
        }
    }

    fn failing_ids(&self) -> String {
        self.not_ok
            .iter()
            .filter(|l| l.contains(" fail:"))
            .map(|l| l.split(' ').next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Everything the lead needs to see for a disagreement.
    fn evidence(&self) -> String {
        let mut s = format!(
            "=== {}: status ready={}, tunnel_ok={} ===\nstatus, checks not ok:\n",
            self.name,
            self.ready_text(),
            self.tunnel_ok
        );
        for l in &self.not_ok {
            s.push_str(&format!("  {l}\n"));
        }
        s.push_str("tunnels:\n");
        for a in &self.attempts {
            s.push_str(&format!(
                "  {:<15} {} ({})",
                a.ip,
                if a.result.ok { "ok  " } else { "FAIL" },
                a.result.detail
            ));
            let err = a.result.ssh_stderr.trim();
            if !err.is_empty() {
                s.push_str(&format!(" ssh: {}", err.replace('\n', " | ")));
            }
            s.push('\n');
        }
        s.push_str("sshd log (routine lines left out):\n");
        const ROUTINE: [&str; 6] = [
            "Transferred:",
            "User child is on pid",
            "Closing connection to",
            "Postponed publickey",
            "Connection from ",
            "Starting session:",
        ];
        for l in self
            .sshd_log
            .lines()
            .filter(|l| !ROUTINE.iter().any(|r| l.contains(r)))
        {
            s.push_str(&format!("  {l}\n"));
        }
        s
    }
}

/// Key pairs made once per test run and shared by every sandbox (key generation is most of
/// a sandbox's CPU time): the host keys, and the vendor's key of each kind.
struct SharedKeys {
    _dir: tempfile::TempDir,
    host_keys: PathBuf,
    ed25519: (PathBuf, String),
    rsa: (PathBuf, String),
}

fn shared_keys() -> &'static SharedKeys {
    static KEYS: OnceLock<SharedKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("bwz-diff-keys")
            .tempdir()
            .unwrap();
        let root = dir.path();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(root.join("etc/ssh")).unwrap();
        let out = common::output_timeout(
            std::process::Command::new("ssh-keygen")
                .args(["-q", "-A", "-f"])
                .arg(root),
            None,
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "ssh-keygen -A: {}", describe(&out));
        let vendor = root.join("vendor");
        SharedKeys {
            host_keys: root.join("etc/ssh"),
            ed25519: keygen(&vendor, "vendor-ed25519", &["ed25519"]),
            rsa: keygen(&vendor, "vendor-rsa", &["rsa", "-b", "3072"]),
            _dir: dir,
        }
    })
}

/// Stages the scenario in a fresh sandbox, asks `status`, then tries every vendor address.
/// `None` when the sandbox is unavailable (skip).
fn run(sc: &Scenario) -> Option<Outcome> {
    let started = Instant::now();
    let keys = shared_keys();
    let sb = Sandbox::new()?;
    sb.install_host_keys(&keys.host_keys);
    sb.sh("mkdir -p /etc/ssh/sshd_config.d && rm -f /etc/ssh/sshd_config.d/*.conf");
    sb.write_sshd_config("");
    let (key, public) = match sc.key {
        KeyKind::Ed25519 => &keys.ed25519,
        KeyKind::Rsa => &keys.rsa,
    };
    let key_file = common::public_path(key);
    let echo = EchoServer::start();
    let ctx = Ctx {
        sb: &sb,
        echo_port: echo.port(),
        public: public.clone(),
        key_file: key_file.to_string_lossy().into_owned(),
        main: RefCell::new(String::new()),
        no_sshd: Cell::new(false),
        held: RefCell::new(Vec::new()),
    };
    match sc.when {
        When::After => {
            ctx.apply();
            (sc.stage)(&ctx);
        }
        When::Before => {
            (sc.stage)(&ctx);
            ctx.apply();
        }
        When::Instead => (sc.stage)(&ctx),
    }
    // A config that sshd refuses is a host too: then nothing listens (or something else does).
    let sshd = if ctx.no_sshd.get() {
        Err("not started (the scenario has no sshd running)".to_string())
    } else {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sb.start_sshd_as_configured()
        }))
        .map_err(|e| panic_text(&*e))
    };
    let staged = started.elapsed().as_secs_f64();

    let target = ctx.target();
    let out = sb.wizard(&[
        "status",
        "--json",
        "--key-file",
        &ctx.key_file,
        "--permit-open",
        &target,
    ]);
    let (ready, not_ok) = read_status(&out);

    let asked = started.elapsed().as_secs_f64();
    // Every vendor address at once; the threads share this thread's (the sandbox's) network.
    let attempts: Vec<Attempt> = std::thread::scope(|s| {
        let handles: Vec<_> = vendor_ips()
            .into_iter()
            .map(|ip| {
                let key = &key;
                let port = echo.port();
                s.spawn(move || Attempt {
                    result: try_tunnel_from(&ip, key, USER, VENDOR_PORT, port, &[]),
                    ip,
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // An address that failed gets a second try, so that a slow or loaded machine cannot
    // fake a failure (a connection reset before the login was seen under load); a cause
    // on the host fails both times.
    let attempts: Vec<Attempt> = std::thread::scope(|s| {
        let handles: Vec<_> = attempts
            .into_iter()
            .map(|first| {
                let key = &key;
                let port = echo.port();
                s.spawn(move || {
                    if first.result.ok {
                        return first;
                    }
                    let again = try_tunnel_from(&first.ip, key, USER, VENDOR_PORT, port, &[]);
                    Attempt {
                        ip: first.ip,
                        result: if again.ok { again } else { first.result },
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let tunnel_ok = attempts.iter().all(|a| a.result.ok);
    // Let sshd's last lines for the failed attempts reach its log.
    if !tunnel_ok {
        std::thread::sleep(Duration::from_millis(300));
    }
    Some(Outcome {
        name: sc.name,
        ready,
        tunnel_ok,
        not_ok,
        attempts,
        sshd_log: match &sshd {
            Ok(sshd) => sshd.log(),
            Err(why) => format!("sshd did not run: {why}"),
        },
        seconds: [staged, asked, started.elapsed().as_secs_f64()],
    })
}

/// `ready` and the checks that are not ok from `status --json`'s output; `ready` is `None`
/// (and the reason the only line) when status broke: no JSON, or an exit code that
/// contradicts its own `ready`.
fn read_status(out: &std::process::Output) -> (Option<bool>, Vec<String>) {
    let broken = |why: &str| {
        (
            None,
            vec![format!("status broke: {why}\n{}", describe(out))],
        )
    };
    let Ok(report) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return broken("it printed no JSON");
    };
    let Some(ready) = report["ready"].as_bool() else {
        return broken("no `ready` in its JSON");
    };
    if out.status.code() != Some(if ready { 0 } else { 1 }) {
        return broken("its exit code contradicts its `ready`");
    }
    let not_ok = report["checks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|c| c["status"] != "ok")
        .map(|c| {
            format!(
                "{} {}: {} — {}",
                c["id"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?"),
                c["title"].as_str().unwrap_or(""),
                c["detail"].as_str().unwrap_or("")
            )
        })
        .collect();
    (Some(ready), not_ok)
}

/// The message of a caught panic.
fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn status_agrees_with_real_tunnels_from_every_vendor_address() {
    // Probe once: no sandbox here (not root, no sshd) means skip.
    drop(sandbox_or_skip!());
    let only: Option<Vec<String>> = std::env::var("BWZ_DIFF_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let all = scenarios();
    let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "scenario names must be unique");
    for k in KNOWN_DISAGREEMENTS {
        assert!(
            names.contains(k),
            "KNOWN_DISAGREEMENTS names no scenario {k:?}"
        );
    }
    let chosen: Vec<&Scenario> = all
        .iter()
        .filter(|s| only.as_ref().is_none_or(|o| o.iter().any(|n| n == s.name)))
        .collect();
    assert!(!chosen.is_empty(), "BWZ_DIFF_ONLY matched no scenario");

    let jobs: usize = std::env::var("BWZ_DIFF_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
        .max(1);
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(chosen.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(sc) = chosen.get(i) else { break };
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(sc))) {
                    Ok(Some(o)) => outcomes.lock().unwrap().push(o),
                    Ok(None) => errors
                        .lock()
                        .unwrap()
                        .push(format!("{}: sandbox unavailable", sc.name)),
                    Err(e) => {
                        let msg = panic_text(&*e);
                        errors
                            .lock()
                            .unwrap()
                            .push(format!("{}: the harness failed: {msg}", sc.name));
                    }
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|o| o.name);
    let errors = errors.into_inner().unwrap();

    // The table, always: one line per host.
    eprintln!(
        "{:<40} {:<6} {:<6} {:<14} failing checks",
        "scenario", "ready", "tunnel", "secs s/st/tun"
    );
    for o in &outcomes {
        let per_ip: String = o
            .attempts
            .iter()
            .map(|a| if a.result.ok { '+' } else { '-' })
            .collect();
        eprintln!(
            "{:<40} {:<6} {:<6} {:<14} {}{}",
            o.name,
            o.ready_text(),
            format!("{}", o.tunnel_ok),
            format!(
                "{:.1}/{:.1}/{:.1}",
                o.seconds[0],
                o.seconds[1] - o.seconds[0],
                o.seconds[2] - o.seconds[1]
            ),
            o.failing_ids(),
            if o.agrees() {
                String::new()
            } else {
                format!("   <-- DISAGREE (per ip {per_ip})")
            }
        );
    }
    eprintln!(
        "{} scenarios in {:.1} s with {jobs} at once",
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );

    let verbose = std::env::var("BWZ_DIFF_VERBOSE").is_ok_and(|v| v == "1");
    let mut problems = errors;
    for o in &outcomes {
        let known = KNOWN_DISAGREEMENTS.contains(&o.name);
        match (o.agrees(), known) {
            (false, false) => problems.push(format!(
                "DISAGREEMENT (not in KNOWN_DISAGREEMENTS):\n{}",
                o.evidence()
            )),
            (true, true) => problems.push(format!(
                "{}: now agrees (ready={}, tunnel_ok={}): remove it from KNOWN_DISAGREEMENTS",
                o.name,
                o.ready_text(),
                o.tunnel_ok
            )),
            (false, true) => eprintln!("known disagreement:\n{}", o.evidence()),
            (true, false) => {
                if verbose {
                    eprintln!("{}", o.evidence());
                }
            }
        }
    }
    if only.is_none() {
        let fails = outcomes.iter().filter(|o| !o.tunnel_ok).count();
        let works = outcomes.len() - fails;
        if fails < MIN_TUNNEL_FAILS || works < MIN_TUNNEL_WORKS {
            problems.push(format!(
                "the harness is near vacuous: {fails} hosts with a failed tunnel (want >= {MIN_TUNNEL_FAILS}), {works} with a working one (want >= {MIN_TUNNEL_WORKS})"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
