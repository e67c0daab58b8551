//! What the vendor's tunnel form asks for: host, port, user, database target and the
//! host key fingerprints some vendors (Fivetran, Looker, Matillion) ask the customer to
//! confirm.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use serde::Serialize;
use ssh_key::{HashAlg, PublicKey};

use crate::inspect::HostState;
use crate::setup::Request;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connection {
    /// A public address of this host, when one is known from its interfaces.
    pub host: Option<String>,
    pub port: u16,
    pub user: String,
    /// Database targets exactly as written in `permitopen` (the vendor must use the same
    /// spelling: sshd compares the string).
    pub db: Vec<String>,
    pub host_keys: Vec<HostKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostKey {
    #[serde(rename = "type")]
    pub key_type: String,
    /// As `ssh-keygen -l` prints it: `SHA256:…`.
    pub sha256: String,
    /// As `ssh-keygen -E md5 -l` prints it: `MD5:aa:bb:…`.
    pub md5: String,
    pub public_key: String,
}

impl HostKey {
    /// Reads one `ssh_host_*_key.pub`; `None` when it is missing or not a public key.
    pub fn read(path: &Path) -> Option<HostKey> {
        let text = std::fs::read_to_string(path).ok()?;
        HostKey::parse(text.trim())
    }

    pub fn parse(line: &str) -> Option<HostKey> {
        let key = PublicKey::from_openssh(line).ok()?;
        let blob = key.to_bytes().ok()?;
        let md5 = Md5::digest(&blob)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let mut words = line.split_whitespace();
        let key_type = words.next()?.to_string();
        let data = words.next()?;
        Some(HostKey {
            sha256: key.fingerprint(HashAlg::Sha256).to_string(),
            md5: format!("MD5:{md5}"),
            public_key: format!("{key_type} {data}"),
            key_type,
        })
    }
}

/// The public half of each host key sshd uses (`HostKey` lines of `sshd -T`, else the
/// usual /etc/ssh/ssh_host_*_key), in sshd's order.
pub fn read_host_keys(private_keys: &[PathBuf]) -> Vec<HostKey> {
    let defaults: Vec<PathBuf> = ["rsa", "ecdsa", "ed25519"]
        .iter()
        .map(|t| PathBuf::from(format!("/etc/ssh/ssh_host_{t}_key")))
        .collect();
    let paths = if private_keys.is_empty() {
        &defaults
    } else {
        private_keys
    };
    paths
        .iter()
        .filter_map(|p| {
            let mut public = p.clone().into_os_string();
            public.push(".pub");
            HostKey::read(Path::new(&public))
        })
        .collect()
}

/// The form's fields, from what inspect saw.
pub fn connection(request: &Request, state: &HostState) -> Connection {
    Connection {
        host: public_address(&state.facts.addresses),
        port: state.ssh_ports()[0],
        user: request.user.clone(),
        db: request.db_targets().iter().map(|t| t.to_string()).collect(),
        host_keys: state.host_keys.clone(),
    }
}

/// The first address that the internet can reach directly: not private, loopback,
/// link-local, shared (CGNAT) or documentation space.
pub fn public_address(addresses: &[String]) -> Option<String> {
    addresses
        .iter()
        .find(|a| a.parse::<IpAddr>().is_ok_and(is_public))
        .cloned()
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || a >= 224)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_internet_addresses_are_public() {
        let addrs = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            public_address(&addrs(&[
                "10.0.0.5",
                "100.64.1.1",
                "172.16.3.4",
                "192.168.1.1"
            ])),
            None
        );
        assert_eq!(
            public_address(&addrs(&["10.0.0.5", "34.90.1.2"])),
            Some("34.90.1.2".into())
        );
        assert_eq!(public_address(&addrs(&["fd00::1", "fe80::1"])), None);
    }
}
