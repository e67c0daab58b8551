//! The effective sshd configuration for the vendor's user, as `sshd -T -C` prints it
//! (Match blocks applied), and the questions the checks ask of it.

use std::net::IpAddr;
use std::process::Command;

use crate::profile::Keepalive;

/// Where sshd lives; overridable so a host with sshd elsewhere can still be checked.
fn sshd_binary() -> String {
    std::env::var("BASTION_WIZARD_SSHD").unwrap_or_else(|_| "/usr/sbin/sshd".into())
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshdConfig {
    entries: Vec<(String, String)>,
}

/// sshd's effective configuration for the tunnel user connecting from one vendor address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub addr: IpAddr,
    pub config: SshdConfig,
}

/// The same configuration from every address: for tests and hosts without Match Address.
pub fn same_everywhere(config: &SshdConfig, addrs: &[IpAddr]) -> Vec<Effective> {
    addrs
        .iter()
        .map(|addr| Effective {
            addr: *addr,
            config: config.clone(),
        })
        .collect()
}

/// Asks sshd once per vendor address, concurrently: `Match Address` blocks can give each
/// address its own answer, and every one of them must work.
pub fn query_all(user: &str, addrs: &[IpAddr], is_root: bool) -> Result<Vec<Effective>, String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = addrs
            .iter()
            .map(|addr| {
                scope.spawn(move || {
                    query(user, &addr.to_string(), is_root).map(|config| Effective {
                        addr: *addr,
                        config,
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("sshd -T could not be run".into()))
            })
            .collect()
    })
}

/// The problem `judge` finds from the vendor's addresses, naming the addresses when it
/// holds for only some of them (a `Match Address` block).
pub fn judge_all(
    configs: &[Effective],
    judge: impl Fn(&SshdConfig) -> Option<String>,
) -> Option<String> {
    let found: Vec<(IpAddr, String)> = configs
        .iter()
        .filter_map(|e| judge(&e.config).map(|p| (e.addr, p)))
        .collect();
    let (_, first) = found.first()?;
    if found.len() == configs.len() && found.iter().all(|(_, p)| p == first) {
        return Some(first.clone());
    }
    let addrs: Vec<String> = found.iter().map(|(a, _)| a.to_string()).collect();
    Some(format!(
        "{first} (from {}: a Match block applies to these vendor addresses)",
        addrs.join(", ")
    ))
}

/// Asks sshd itself, since only it knows its defaults, includes and Match blocks.
pub fn query(user: &str, vendor_addr: &str, is_root: bool) -> Result<SshdConfig, String> {
    if !is_root {
        return Err("run as root to check the sshd configuration".into());
    }
    let binary = sshd_binary();
    if !std::path::Path::new(&binary).exists() {
        return Err(format!("{binary} not found: is openssh-server installed?"));
    }
    let output = Command::new(&binary)
        .arg("-T")
        .arg("-C")
        .arg(format!("user={user},host=vendor,addr={vendor_addr}"))
        .output()
        .map_err(|e| format!("cannot run {binary}: {e}"))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(format!("`sshd -T` failed: {}", err.trim()));
    }
    Ok(SshdConfig::parse(&String::from_utf8_lossy(&output.stdout)))
}

impl SshdConfig {
    pub fn parse(text: &str) -> SshdConfig {
        let entries = text
            .lines()
            .filter_map(|l| {
                let (key, value) = l.trim().split_once(' ')?;
                Some((key.to_ascii_lowercase(), value.trim().to_string()))
            })
            .collect();
        SshdConfig { entries }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable keyword, split on blanks.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split_whitespace())
            .collect()
    }

    fn is(&self, key: &str, value: &str) -> bool {
        self.get(key).is_some_and(|v| v.eq_ignore_ascii_case(value))
    }

    pub fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .all("port")
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        if ports.is_empty() {
            ports.push(22);
        }
        ports.dedup();
        ports
    }

    /// Why sshd would never accept the key we install in ~/.ssh/authorized_keys.
    pub fn pubkey_problem(&self) -> Option<String> {
        if self.is("pubkeyauthentication", "no") {
            return Some("PubkeyAuthentication no: every key is refused".into());
        }
        let files = self.all("authorizedkeysfile");
        let reads_ours = files.is_empty()
            || files.iter().any(|f| {
                matches!(
                    *f,
                    ".ssh/authorized_keys" | "%h/.ssh/authorized_keys" | "~/.ssh/authorized_keys"
                )
            });
        (!reads_ours).then(|| {
            format!(
                "AuthorizedKeysFile is {}: sshd never reads ~/.ssh/authorized_keys",
                files.join(" ")
            )
        })
    }

    /// Local forwarding (`ssh -L`) is what the vendor's tunnel uses.
    pub fn forwarding_problem(&self) -> Option<String> {
        if self.is("disableforwarding", "yes") {
            return Some("DisableForwarding yes".into());
        }
        if self.is("permitopen", "none") {
            return Some("PermitOpen none".into());
        }
        match self
            .get("allowtcpforwarding")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("no") => Some("AllowTcpForwarding no".into()),
            Some("remote") => Some("AllowTcpForwarding remote (the tunnel needs local)".into()),
            _ => None,
        }
    }

    /// Why sshd would turn the user away before looking at keys, if it would.
    pub fn user_problem(&self, user: &str, groups: &[String]) -> Option<String> {
        let matches = |pattern: &&str, name: &str| {
            let pattern = pattern.split('@').next().unwrap_or(pattern);
            wildcard_match(pattern, name)
        };
        let any_group = |pattern: &&str| groups.iter().any(|g| matches(pattern, g));
        if let Some(p) = self.all("denyusers").iter().find(|p| matches(p, user)) {
            return Some(format!("DenyUsers {p} matches {user}"));
        }
        let allow_users = self.all("allowusers");
        if !allow_users.is_empty() && !allow_users.iter().any(|p| matches(p, user)) {
            return Some(format!(
                "{user} is not listed in AllowUsers ({})",
                allow_users.join(" ")
            ));
        }
        if let Some(p) = self.all("denygroups").iter().find(|p| any_group(p)) {
            return Some(format!("DenyGroups {p} matches a group of {user}"));
        }
        let allow_groups = self.all("allowgroups");
        if !allow_groups.is_empty() && !allow_groups.iter().any(any_group) {
            return Some(format!(
                "no group of {user} is listed in AllowGroups ({})",
                allow_groups.join(" ")
            ));
        }
        None
    }

    /// The signature algorithms sshd accepts for a key of this type. RSA keys are used
    /// with rsa-sha2-256/512; plain ssh-rsa (SHA-1) is off since OpenSSH 8.8.
    pub fn accepts_key_type(&self, key_type: &str) -> Result<(), String> {
        let Some(list) = self
            .get("pubkeyacceptedalgorithms")
            .or(self.get("pubkeyacceptedkeytypes"))
        else {
            return Ok(());
        };
        let algorithms: Vec<&str> = list.split(',').collect();
        let wanted: &[&str] = if key_type == "ssh-rsa" {
            &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        } else {
            &[key_type]
        };
        if algorithms.iter().any(|a| wanted.contains(a)) {
            Ok(())
        } else {
            Err(format!(
                "PubkeyAcceptedAlgorithms does not include {}",
                wanted.join(" or ")
            ))
        }
    }

    /// Why AuthenticationMethods would ask this user for more than one key, if it would.
    /// Each blank-separated list must be completed in full; one list of just `publickey`
    /// lets the vendor in with its key alone.
    pub fn auth_methods_problem(&self) -> Option<String> {
        let value = self.get("authenticationmethods")?;
        if value.eq_ignore_ascii_case("any") {
            return None;
        }
        let key_alone = value
            .split_whitespace()
            .any(|list| list.split(',').all(|m| m == "publickey") && !list.contains(','));
        (!key_alone)
            .then(|| format!("AuthenticationMethods {value}: a key alone is not enough to log in"))
    }

    /// Why the server keepalive falls short of what the vendor needs, if it does.
    pub fn keepalive_problem(&self, wanted: Keepalive) -> Option<String> {
        let number = |key| self.get(key).and_then(|v| v.parse::<u32>().ok());
        let interval = number("clientaliveinterval").unwrap_or(0);
        let count_max = number("clientalivecountmax").unwrap_or(3);
        let wanted_total = wanted.interval.saturating_mul(wanted.count_max);
        if interval == 0 {
            Some("ClientAliveInterval 0: sshd sends no keepalives".into())
        } else if interval > wanted.interval {
            Some(format!(
                "ClientAliveInterval {interval}: keepalives come less often than every {} s",
                wanted.interval
            ))
        } else if interval.saturating_mul(count_max) < wanted_total {
            Some(format!(
                "ClientAliveInterval {interval} × ClientAliveCountMax {count_max}: sshd drops a quiet tunnel before {wanted_total} s"
            ))
        } else {
            None
        }
    }

    pub fn uses_pam(&self) -> bool {
        self.is("usepam", "yes")
    }
}

/// sshd's `*` and `?` patterns.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((b'?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Ports on which something listens on this host, read from /proc/net/tcp{,6}.
pub fn listening_ports() -> Vec<u16> {
    let mut ports = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            ports.extend(parse_listening(&text));
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn parse_listening(text: &str) -> Vec<u16> {
    const LISTEN: &str = "0A";
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            let port = local.rsplit(':').next()?;
            (state == LISTEN).then(|| u16::from_str_radix(port, 16).ok())?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_listening_sockets_only() {
        let text = "  sl  local_address rem_address   st\n   0: 00000000:0016 00000000:0000 0A 0\n   1: 0100007F:1F90 0100007F:D2C4 01 0\n";
        assert_eq!(parse_listening(text), vec![22]);
    }

    #[test]
    fn finds_users_excluded_by_allow_and_deny() {
        let config = SshdConfig::parse("allowusers alice\nallowusers ops*@10.0.0.1\n");
        assert!(config
            .user_problem("whaly", &[])
            .unwrap()
            .contains("AllowUsers"));
        assert_eq!(config.user_problem("ops1", &[]), None);
        let config = SshdConfig::parse("denygroups whaly\n");
        assert!(config.user_problem("whaly", &["whaly".into()]).is_some());
        assert_eq!(
            SshdConfig::parse("port 22\n").user_problem("whaly", &[]),
            None
        );
    }

    #[test]
    fn forwarding_and_algorithms() {
        assert!(SshdConfig::parse("allowtcpforwarding no\n")
            .forwarding_problem()
            .is_some());
        assert!(
            SshdConfig::parse("disableforwarding yes\nallowtcpforwarding yes\n")
                .forwarding_problem()
                .is_some()
        );
        assert_eq!(
            SshdConfig::parse("allowtcpforwarding local\n").forwarding_problem(),
            None
        );
        let config = SshdConfig::parse("pubkeyacceptedalgorithms ssh-ed25519,rsa-sha2-512\n");
        assert!(config.accepts_key_type("ssh-rsa").is_ok());
        assert!(config.accepts_key_type("ecdsa-sha2-nistp256").is_err());
    }

    #[test]
    fn keys_outside_home_or_no_pubkey_are_problems() {
        let ok =
            SshdConfig::parse("authorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\n");
        assert_eq!(ok.pubkey_problem(), None);
        let ok = SshdConfig::parse("authorizedkeysfile %h/.ssh/authorized_keys\n");
        assert_eq!(ok.pubkey_problem(), None);
        let moved = SshdConfig::parse("authorizedkeysfile /etc/ssh/keys/%u\n");
        assert!(moved.pubkey_problem().unwrap().contains("/etc/ssh/keys/%u"));
        assert!(SshdConfig::parse("authorizedkeysfile none\n")
            .pubkey_problem()
            .is_some());
        assert!(SshdConfig::parse("pubkeyauthentication no\n")
            .pubkey_problem()
            .is_some());
        assert!(SshdConfig::parse("permitopen none\n")
            .forwarding_problem()
            .is_some());
        assert_eq!(
            SshdConfig::parse("permitopen any\n").forwarding_problem(),
            None
        );
    }

    #[test]
    fn ports_default_to_22() {
        assert_eq!(
            SshdConfig::parse("port 2222\nport 22\n").ports(),
            vec![2222, 22]
        );
        assert_eq!(SshdConfig::default().ports(), vec![22]);
    }
}
