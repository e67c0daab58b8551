//! `local_firewall` and `fail2ban`: read-only looks at this host's own packet filter and
//! bans, judged for the vendor's IPs on the SSH port.

use std::net::IpAddr;

use crate::checks::{Check, CheckId, Status};

/// What the active firewall tools printed, parsed; `Default` is "nothing read".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Firewall {
    /// Why the rules could not be read, when they could not.
    pub unreadable: Option<String>,
}

/// fail2ban's current bans; `Default` is "nothing read".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fail2ban {
    pub unreadable: Option<String>,
}

pub fn read(is_root: bool) -> Firewall {
    Firewall {
        unreadable: Some(not_read(is_root)),
    }
}

pub fn read_fail2ban(is_root: bool) -> Fail2ban {
    Fail2ban {
        unreadable: Some(not_read(is_root)),
    }
}

fn not_read(is_root: bool) -> String {
    if is_root {
        "not read yet".into()
    } else {
        "run as root to check".into()
    }
}

/// Does a rule drop or reject the vendor's IPs on the SSH port?
pub fn check(firewall: &Firewall, _vendor_ips: &[IpAddr], _ssh_ports: &[u16]) -> Check {
    Check::new(
        CheckId::LocalFirewall,
        Status::Warn,
        "This host's firewall lets the vendor in",
        firewall.unreadable.clone().unwrap_or_default(),
        None,
    )
}

/// Are vendor IPs banned right now?
pub fn check_fail2ban(fail2ban: &Fail2ban, _vendor_ips: &[IpAddr]) -> Check {
    Check::new(
        CheckId::Fail2ban,
        Status::Warn,
        "fail2ban has not banned the vendor",
        fail2ban.unreadable.clone().unwrap_or_default(),
        None,
    )
}
