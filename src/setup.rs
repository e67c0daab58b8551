//! What the person asks for, whichever front end they use. The command line resolves its
//! arguments into `Options`, the wizard reads its form into them, and both build the
//! `Request` here, so the profile fills what was left out the same way for both.

use std::net::IpAddr;

use crate::authorized_keys::{Access, Expires, PermitOpen};
use crate::key::Key;
use crate::profile::{Keepalive, Profile};

/// What the person asked for: the account, how the key may be used, and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub user: String,
    pub group: String,
    pub access: Access,
    pub key: Option<Key>,
    /// The vendor's addresses: sshd's `Match` blocks are evaluated for each of them.
    pub vendor_addrs: Vec<IpAddr>,
    /// Database targets to check and show (`--permit-open` ones and `--db` ones).
    pub db: Vec<PermitOpen>,
    /// Repair the sshd settings that block this user's tunnel (`--fix-sshd`).
    pub fix_sshd: bool,
    /// The server keepalive the vendor's profile asks for, which `--fix-sshd` sets.
    pub keepalive: Option<Keepalive>,
    /// Which vendor profile (and region) the request was made from, so the ledger can
    /// judge this user again later with the same addresses.
    pub vendor: Vendor,
}

/// A vendor profile by name, and the region picked from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Vendor {
    pub profile: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// The person's choices, already checked; what is `None` comes from the profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub user: Option<String>,
    pub group: Option<String>,
    /// Install the key without restrictions, with a login shell, as the guide does.
    pub allow_shell: bool,
    /// Forwarding is limited to these targets.
    pub permit_open: Vec<PermitOpen>,
    /// Database targets to check and show, without restricting the key.
    pub db: Vec<PermitOpen>,
    pub fix_sshd: bool,
    /// The key's last day (`--expires`).
    pub expires: Option<Expires>,
    /// The key works only from the profile's vendor addresses (`--from-vendor-ips`).
    pub from_vendor_ips: bool,
}

impl Options {
    /// Why these options cannot be asked of this profile: a `from=` with no address
    /// would lock the vendor out everywhere.
    pub fn refusal(&self, profile: &Profile) -> Option<String> {
        (self.from_vendor_ips && profile.ips.is_empty()).then(|| {
            format!(
                "the profile {} lists no vendor addresses, so the key cannot be limited to them",
                profile.name
            )
        })
    }
}

impl Request {
    /// The one way a request is made: the options over the profile's defaults, and the
    /// profile's vendor addresses and keepalive.
    pub fn new(profile: &Profile, options: Options, key: Option<Key>) -> Request {
        Request {
            user: options.user.unwrap_or_else(|| profile.user.clone()),
            group: options.group.unwrap_or_else(|| profile.group.clone()),
            access: Access {
                allow_shell: options.allow_shell,
                permit_open: options.permit_open,
                from: if options.from_vendor_ips {
                    profile.ips.clone()
                } else {
                    Vec::new()
                },
                expires: options.expires,
            },
            key,
            vendor_addrs: profile.ips.clone(),
            db: options.db,
            fix_sshd: options.fix_sshd,
            keepalive: profile.keepalive,
            vendor: Vendor {
                profile: profile.name.clone(),
                region: profile.region.clone(),
            },
        }
    }

    /// Every database target: the key's `permitopen` ones first, then `--db` ones.
    pub fn db_targets(&self) -> Vec<PermitOpen> {
        let mut targets = self.access.permit_open.clone();
        for t in &self.db {
            if !targets.contains(t) {
                targets.push(t.clone());
            }
        }
        targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> PermitOpen {
        text.parse().expect("a valid target")
    }

    #[test]
    fn the_profile_fills_what_the_options_leave_out() {
        let profile = Profile::built_in();
        let request = Request::new(&profile, Options::default(), None);
        assert_eq!(request.user, profile.user);
        assert_eq!(request.group, profile.group);
        assert_eq!(request.vendor_addrs, profile.ips);
        assert_eq!(request.keepalive, profile.keepalive);
        assert!(!request.access.allow_shell && !request.fix_sshd);
        assert!(request.access.from.is_empty() && request.access.expires.is_none());

        let options = Options {
            user: Some("tunnel".into()),
            group: Some("vendors".into()),
            allow_shell: true,
            permit_open: vec![target("db:5432")],
            db: vec![target("db:5432"), target("replica:5432")],
            fix_sshd: true,
            expires: None,
            from_vendor_ips: true,
        };
        let request = Request::new(&profile, options, None);
        assert_eq!(request.access.from, profile.ips);
        assert_eq!(
            (request.user.as_str(), request.group.as_str()),
            ("tunnel", "vendors")
        );
        assert!(request.access.allow_shell && request.fix_sshd);
        assert_eq!(
            request.db_targets(),
            vec![target("db:5432"), target("replica:5432")],
            "permitopen first, each target once"
        );
    }
}
