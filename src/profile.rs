//! Vendor profiles: who connects, as whom, from where. Whaly's is built in.

use std::net::IpAddr;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

const BUILT_IN: &str = include_str!("../assets/profiles/whaly.toml");

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub user: String,
    pub group: String,
    pub ips: Vec<IpAddr>,
    pub docs: String,
    /// What the vendor needs of sshd's keepalive, if anything (dbt Cloud: 30 s × 10).
    #[serde(default)]
    pub keepalive: Option<Keepalive>,
}

/// The server keepalive a vendor needs: sshd must probe at least every `interval`
/// seconds and wait `interval × count_max` before dropping a silent client.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Keepalive {
    pub interval: u32,
    pub count_max: u32,
}

impl Profile {
    pub fn built_in() -> Profile {
        Profile::parse(BUILT_IN).expect("the built-in profile is valid")
    }

    pub fn load(path: &Path) -> Result<Profile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read profile {}", path.display()))?;
        Profile::parse(&text).with_context(|| format!("profile {} is not valid", path.display()))
    }

    pub fn parse(text: &str) -> Result<Profile> {
        let profile: Profile = toml::from_str(text)?;
        if profile.ips.is_empty() {
            bail!("it lists no vendor IPs");
        }
        if profile
            .keepalive
            .is_some_and(|k| k.interval == 0 || k.count_max == 0)
        {
            bail!("[keepalive] interval and count_max must be above 0");
        }
        Ok(profile)
    }
}
