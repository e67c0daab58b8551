//! What can refuse the vendor's login although every sshd setting allows it: an expired
//! account, a password change PAM forces (sshd then refuses forwarding), `/etc/nologin`,
//! and `pam_access` rules.

use std::net::IpAddr;
use std::path::Path;

use crate::pam_access;

/// The account's dates from /etc/shadow, in days since 1970-01-01.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountDates {
    /// Field 3: the last password change; 0 means a change is forced at next login.
    pub last_change: Option<i64>,
    /// Field 5: maximum password age.
    pub max_days: Option<i64>,
    /// Field 8: the account expires on this day.
    pub expire: Option<i64>,
}

/// What PAM and the login files say, read by inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginGate {
    pub dates: AccountDates,
    /// Today, in days since 1970-01-01 (UTC).
    pub today: i64,
    /// `/etc/nologin` exists.
    pub nologin_file: bool,
    /// sshd's PAM stack uses pam_access: its rules (/etc/security/access.conf), when read.
    pub pam_access: Option<String>,
    /// sshd's PAM stack uses pam_nologin.
    pub pam_nologin: bool,
}

pub fn dates_from_shadow(shadow: &str, user: &str) -> AccountDates {
    let Some(fields) = shadow
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&user))
    else {
        return AccountDates::default();
    };
    let day = |i: usize| fields.get(i).and_then(|v| v.parse::<i64>().ok());
    AccountDates {
        last_change: day(2),
        max_days: day(4),
        expire: day(7),
    }
}

/// Reads the gate as root; `shadow` is /etc/shadow's text when it could be read.
pub fn read(user: &str, shadow: Option<&str>) -> LoginGate {
    let pam = read_pam_stack(Path::new("/etc/pam.d/sshd"), 0);
    LoginGate {
        dates: shadow
            .map(|s| dates_from_shadow(s, user))
            .unwrap_or_default(),
        today: today(),
        nologin_file: Path::new("/etc/nologin").exists(),
        pam_access: uses_module(&pam, "pam_access.so")
            .then(|| std::fs::read_to_string("/etc/security/access.conf").unwrap_or_default()),
        pam_nologin: uses_module(&pam, "pam_nologin.so"),
    }
}

fn today() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs() / 86_400) as i64)
        .unwrap_or(0)
}

/// The PAM service file with `@include` lines followed (Debian's common-* files).
fn read_pam_stack(path: &Path, depth: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let mut out = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        match line.strip_prefix("@include") {
            Some(name) if depth < 4 => {
                out.push_str(&read_pam_stack(
                    &Path::new("/etc/pam.d").join(name.trim()),
                    depth + 1,
                ));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn uses_module(stack: &str, module: &str) -> bool {
    stack
        .lines()
        .any(|l| l.split_whitespace().any(|w| w.ends_with(module)))
}

impl LoginGate {
    /// The account's expiry date has come (`chage -E`): sshd closes the connection.
    pub fn expired(&self) -> bool {
        self.dates.expire.is_some_and(|e| e <= self.today)
    }

    /// PAM would demand a new password at login (`chage -d 0`, or the password aged out),
    /// after which sshd refuses forwarding.
    pub fn password_change_due(&self) -> bool {
        let forced = self.dates.last_change == Some(0);
        let aged = match (self.dates.last_change, self.dates.max_days) {
            (Some(last), Some(max)) if last > 0 && (0..99_999).contains(&max) => {
                last + max <= self.today
            }
            _ => false,
        };
        forced || aged
    }

    /// Why the login or its tunnel is refused from one of `addrs`, with the fix;
    /// `uses_pam` is sshd's UsePAM.
    pub fn problems(
        &self,
        user: &str,
        groups: &[String],
        addrs: &[IpAddr],
        uses_pam: bool,
    ) -> Vec<(String, String)> {
        let mut found = Vec::new();
        if let Some(expire) = self.dates.expire.filter(|_| self.expired()) {
            found.push((
                format!(
                    "the account expired on {} (chage -E): sshd closes the connection",
                    day_text(expire)
                ),
                format!("chage -E -1 {user}"),
            ));
        }
        if uses_pam {
            if self.password_change_due() {
                found.push((
                    "PAM demands a new password at login (chage -d 0, or the password aged out): the login works but sshd refuses forwarding, \"administratively prohibited\"".into(),
                    format!("chage -d \"$(date +%F)\" -M -1 {user}"),
                ));
            }
            if let Some(rules) = &self.pam_access {
                let refused: Vec<(IpAddr, usize, String)> = addrs
                    .iter()
                    .filter_map(|a| match pam_access::judge(rules, user, groups, *a) {
                        pam_access::Verdict::Refused { line, text } => Some((*a, line, text)),
                        _ => None,
                    })
                    .collect();
                if let Some((_, line, text)) = refused.first() {
                    let shown: Vec<String> = refused.iter().map(|(a, ..)| a.to_string()).collect();
                    found.push((
                        format!(
                            "pam_access refuses {user} from {} (/etc/security/access.conf line {line}: `{text}`): sshd closes the connection",
                            shown.join(", ")
                        ),
                        format!(
                            "in /etc/security/access.conf, above line {line}, add `+:{user}:{}`",
                            shown.join(" ")
                        ),
                    ));
                }
            }
            if self.nologin_file && self.pam_nologin {
                found.push((
                    "/etc/nologin exists: pam_nologin refuses every login but root's".into(),
                    "rm /etc/nologin".into(),
                ));
            }
        }
        found
    }

    /// What the configuration alone cannot settle; `verify` settles it.
    pub fn unsettled(
        &self,
        user: &str,
        groups: &[String],
        addrs: &[IpAddr],
        uses_pam: bool,
    ) -> Option<String> {
        let rules = self.pam_access.as_ref().filter(|_| uses_pam)?;
        addrs.iter().find_map(|a| match pam_access::judge(rules, user, groups, *a) {
            pam_access::Verdict::Unknown { line, text } => Some(format!(
                "pam_access's /etc/security/access.conf line {line} (`{text}`) names a netgroup or host name, which cannot be judged from here: `sudo bastion-wizard verify` settles it"
            )),
            _ => None,
        })
    }
}

fn day_text(days: i64) -> String {
    crate::dates::Date::from_days(days.max(0)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_dates_chage_writes() {
        let shadow = "root:*:19000:0:99999:7:::\nwhaly:*:0:0:99999:7::20000:\n";
        let dates = dates_from_shadow(shadow, "whaly");
        assert_eq!(dates.last_change, Some(0));
        assert_eq!(dates.expire, Some(20000));
        let gate = LoginGate {
            dates,
            today: 20001,
            ..LoginGate::default()
        };
        let problems = gate.problems("whaly", &[], &[], true);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].0.contains("expired"));
        // Without PAM no password change is asked for.
        assert_eq!(gate.problems("whaly", &[], &[], false).len(), 1);
    }
}
