//! The effective sshd configuration for the vendor's user, as `sshd -T -C` prints it
//! (Match blocks applied), and the questions the checks ask of it.

use std::process::Command;

/// Where sshd lives; overridable so a host with sshd elsewhere can still be checked.
fn sshd_binary() -> String {
    std::env::var("BASTION_WIZARD_SSHD").unwrap_or_else(|_| "/usr/sbin/sshd".into())
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshdConfig {
    entries: Vec<(String, String)>,
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
