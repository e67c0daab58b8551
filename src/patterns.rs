//! sshd's pattern matching (OpenSSH match.c and addrmatch.c), for AllowUsers/DenyUsers
//! with `user@host` parts and for `from=` options: `*` and `?` wildcards, comma lists with
//! `!` negation, and CIDR address lists.

use std::net::IpAddr;

/// `*` and `?` wildcards over the whole string.
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

/// How a comma list of patterns judged a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    No,
    Yes,
    /// A `!pattern` matched: a negative match overrides every positive one.
    Negated,
}

/// A comma-separated list of patterns, each possibly negated with `!`.
pub fn match_pattern_list(text: &str, list: &str) -> ListMatch {
    let mut result = ListMatch::No;
    for entry in list.split(',').filter(|e| !e.is_empty()) {
        let (negated, pattern) = match entry.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, entry),
        };
        if wildcard_match(pattern, text) {
            if negated {
                return ListMatch::Negated;
            }
            result = ListMatch::Yes;
        }
    }
    result
}

/// A comma list of addresses and CIDR blocks (with `!`); an entry that is not an address
/// is matched as a wildcard against the address text, as sshd does.
pub fn addr_match_list(addr: IpAddr, list: &str) -> ListMatch {
    let mut result = ListMatch::No;
    for entry in list.split(',').filter(|e| !e.is_empty()) {
        let (negated, pattern) = match entry.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, entry),
        };
        let matched = match parse_cidr(pattern) {
            Some((network, bits)) => in_network(addr, network, bits),
            None => wildcard_match(pattern, &addr.to_string()),
        };
        if matched {
            if negated {
                return ListMatch::Negated;
            }
            result = ListMatch::Yes;
        }
    }
    result
}

/// sshd's `match_host_and_ip`: a negative match on the address or the name loses, else any
/// positive match wins.
pub fn match_host_and_ip(host: &str, addr: IpAddr, list: &str) -> bool {
    let by_addr = addr_match_list(addr, list);
    if by_addr == ListMatch::Negated {
        return false;
    }
    let by_name = match_pattern_list(&host.to_ascii_lowercase(), list);
    if by_name == ListMatch::Negated {
        return false;
    }
    by_addr == ListMatch::Yes || by_name == ListMatch::Yes
}

/// One AllowUsers/DenyUsers word: `user` or `user@host-or-address-list`.
pub fn match_user(user: &str, host: &str, addr: IpAddr, pattern: &str) -> bool {
    match pattern.split_once('@') {
        None => wildcard_match(pattern, user),
        Some((user_part, host_part)) => {
            wildcard_match(user_part, user) && match_host_and_ip(host, addr, host_part)
        }
    }
}

fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (address, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max)?,
        None => max,
    };
    Some((address, bits))
}

fn in_network(addr: IpAddr, network: IpAddr, bits: u8) -> bool {
    let (a, n, width) = match (addr, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) as u128, u32::from(n) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = width - u32::from(bits);
    a >> shift == n >> shift
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn user_at_host_patterns_match_as_sshd_does() {
        let vendor = ip("34.22.141.3");
        let host = "34.22.141.3";
        assert!(match_user("whaly", host, vendor, "whaly"));
        assert!(match_user("whaly", host, vendor, "wha*"));
        assert!(match_user("whaly", host, vendor, "whaly@34.22.141.0/24"));
        assert!(!match_user("whaly", host, vendor, "whaly@10.0.0.0/8"));
        assert!(match_user("whaly", host, vendor, "*@34.22.*"));
        assert!(!match_user("whaly", host, vendor, "whaly@!34.22.141.3,*"));
        assert!(match_user(
            "whaly",
            host,
            vendor,
            "whaly@10.0.0.1,34.22.141.3"
        ));
        assert!(!match_user("alice", host, vendor, "whaly@34.22.141.3"));
    }

    #[test]
    fn cidr_lists_with_negation() {
        let a = ip("35.190.212.29");
        assert_eq!(addr_match_list(a, "35.190.0.0/16"), ListMatch::Yes);
        assert_eq!(
            addr_match_list(a, "!35.190.212.29,0.0.0.0/0"),
            ListMatch::Negated
        );
        assert_eq!(addr_match_list(a, "10.0.0.0/8"), ListMatch::No);
        assert_eq!(addr_match_list(ip("::1"), "::1"), ListMatch::Yes);
        assert_eq!(addr_match_list(a, "::/0"), ListMatch::No);
    }
}
