//! pam_access's rules (/etc/security/access.conf) judged for the vendor's login: the first
//! line whose users and origins match decides, `+` grants and `-` refuses; no line grants.
//! With sshd the origin is the client's address (its name only with UseDNS).

use std::net::IpAddr;

use crate::patterns::{addr_match_list, ListMatch};

/// How the rules judge one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Granted,
    /// Refused by this line (1-based) of the file.
    Refused {
        line: usize,
        text: String,
    },
    /// A rule uses something not judged here (a netgroup, a host name).
    Unknown {
        line: usize,
        text: String,
    },
}

pub fn judge(rules: &str, user: &str, groups: &[String], origin: IpAddr) -> Verdict {
    for (index, raw) in rules.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(3, ':').collect();
        let [permission, users, origins] = fields[..] else {
            continue;
        };
        let at = || (index + 1, line.to_string());
        let user_hit = list_match(users, &|t| user_token(t, user, groups));
        let origin_hit = list_match(origins, &|t| origin_token(t, origin));
        match (user_hit, origin_hit) {
            (Some(true), Some(true)) => {
                return match permission.trim() {
                    "-" => {
                        let (line, text) = at();
                        Verdict::Refused { line, text }
                    }
                    _ => Verdict::Granted,
                }
            }
            (Some(false), _) | (_, Some(false)) => continue,
            _ => {
                let (line, text) = at();
                return Verdict::Unknown { line, text };
            }
        }
    }
    Verdict::Granted
}

/// pam_access's list: tokens until `EXCEPT`; a match there counts unless the rest of the
/// list (after `EXCEPT`) matches too. `None` when a token cannot be judged.
fn list_match(list: &str, token: &dyn Fn(&str) -> Option<bool>) -> Option<bool> {
    let tokens: Vec<&str> = list
        .split([' ', '\t', ','])
        .filter(|t| !t.is_empty())
        .collect();
    let except = tokens.iter().position(|t| t.eq_ignore_ascii_case("EXCEPT"));
    let (head, tail) = match except {
        Some(i) => (&tokens[..i], Some(tokens[i + 1..].join(" "))),
        None => (&tokens[..], None),
    };
    let mut unknown = false;
    for t in head {
        match token(t) {
            Some(true) => {
                return match tail {
                    Some(rest) => list_match(&rest, token).map(|excepted| !excepted),
                    None => Some(true),
                }
            }
            Some(false) => {}
            None => unknown = true,
        }
    }
    if unknown {
        None
    } else {
        Some(false)
    }
}

fn user_token(token: &str, user: &str, groups: &[String]) -> Option<bool> {
    if token.eq_ignore_ascii_case("ALL") {
        return Some(true);
    }
    if token.starts_with('@') {
        return None;
    }
    if let Some(group) = token.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        return Some(groups.iter().any(|g| g == group));
    }
    // Without `nodefgroup` a plain word also names a group.
    Some(token == user || groups.iter().any(|g| g == token))
}

fn origin_token(token: &str, origin: IpAddr) -> Option<bool> {
    if token.eq_ignore_ascii_case("ALL") {
        return Some(true);
    }
    if token.eq_ignore_ascii_case("LOCAL") {
        return Some(false);
    }
    if token.parse::<IpAddr>().is_ok() || token.contains('/') {
        return Some(addr_match_list(origin, token) == ListMatch::Yes);
    }
    if token.ends_with('.') && token.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Some(origin.to_string().starts_with(token));
    }
    // A host or domain name: sshd gives PAM the address unless UseDNS is on.
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn first_matching_line_decides() {
        let groups = vec!["whaly".to_string()];
        let vendor = ip("34.22.141.3");
        assert_eq!(judge("", "whaly", &groups, vendor), Verdict::Granted);
        assert!(matches!(
            judge("-:whaly:ALL\n", "whaly", &groups, vendor),
            Verdict::Refused { line: 1, .. }
        ));
        assert_eq!(
            judge(
                "+:whaly:34.22.141.0/24\n-:ALL:ALL\n",
                "whaly",
                &groups,
                vendor
            ),
            Verdict::Granted
        );
        assert!(matches!(
            judge(
                "+:whaly:34.22.141.0/24\n-:ALL:ALL\n",
                "whaly",
                &groups,
                ip("35.190.212.29")
            ),
            Verdict::Refused { line: 2, .. }
        ));
        assert_eq!(
            judge("-:ALL EXCEPT whaly:ALL\n", "whaly", &groups, vendor),
            Verdict::Granted
        );
        assert!(matches!(
            judge(
                "-:(whaly):ALL EXCEPT 34.22.\n",
                "whaly",
                &groups,
                ip("35.1.1.1")
            ),
            Verdict::Refused { .. }
        ));
        assert!(matches!(
            judge("-:@vendors:ALL\n", "whaly", &groups, vendor),
            Verdict::Unknown { .. }
        ));
        assert!(matches!(
            judge("-:whaly:.example.com\n", "whaly", &groups, vendor),
            Verdict::Unknown { .. }
        ));
    }
}
