//! Vendor profiles: who connects, as whom, from where, and where that list came from.
//! Several are built in (`assets/profiles/`), each sourced from the vendor's own pages;
//! `--profile FILE` reads one more.
//!
//! A vendor that publishes CIDR ranges keeps them as ranges: the firewall checklist shows
//! the range, and sshd's `Match` blocks are evaluated for each range's first and last
//! address (a pattern that cuts a range at either end shows; a cut inside a small range
//! such as Fivetran's /29 is not looked for).

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The built-in profiles: the name `--profile` takes, and the file.
const BUILT_INS: &[(&str, &str)] = &[
    ("whaly", include_str!("../assets/profiles/whaly.toml")),
    ("fivetran", include_str!("../assets/profiles/fivetran.toml")),
    ("stitch", include_str!("../assets/profiles/stitch.toml")),
    (
        "dbt-cloud",
        include_str!("../assets/profiles/dbt-cloud.toml"),
    ),
    ("airbyte", include_str!("../assets/profiles/airbyte.toml")),
    ("metabase", include_str!("../assets/profiles/metabase.toml")),
];

/// A vendor profile with one IP list chosen (the only one, or one region's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// The SSH user (and group) the vendor's documentation suggests.
    pub user: String,
    pub group: String,
    pub docs: String,
    /// Where the IP list came from (URL, pinned to a commit where the source is a repository).
    pub source: Option<String>,
    /// When the list was read or last changed at its source (YYYY-MM-DD, or YYYY-MM).
    pub as_of: Option<String>,
    /// Who makes the key pair.
    pub key_source: KeySource,
    /// What the vendor needs of sshd's keepalive, if anything (dbt Cloud: 30 s × 10).
    pub keepalive: Option<Keepalive>,
    /// Every region the vendor publishes a list for; empty when it has one list.
    pub regions: Vec<Region>,
    /// The chosen region, when there are regions.
    pub region: Option<String>,
    /// The chosen list, as published: single addresses and ranges.
    pub nets: Vec<VendorNet>,
    /// The addresses sshd is evaluated for: each single address, each range's first and last.
    pub ips: Vec<IpAddr>,
}

/// Who makes the key pair: the vendor sends its public key, or the vendor's form asks the
/// customer for a private key (this program then generates the pair).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    #[default]
    Vendor,
    Customer,
}

/// The server keepalive a vendor needs: sshd must probe at least every `interval`
/// seconds and wait `interval × count_max` before dropping a silent client.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Keepalive {
    pub interval: u32,
    pub count_max: u32,
}

/// One region's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    /// The vendor's words for it, e.g. "GCP us-east4 (N. Virginia)".
    pub label: String,
    pub nets: Vec<VendorNet>,
}

/// An address or a CIDR range, as a vendor publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    user: String,
    group: String,
    docs: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    key_source: KeySource,
    #[serde(default)]
    keepalive: Option<Keepalive>,
    #[serde(default)]
    ips: Vec<String>,
    #[serde(default)]
    regions: Vec<FileRegion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRegion {
    name: String,
    label: String,
    ips: Vec<String>,
}

impl Profile {
    /// Whaly's, the default.
    pub fn built_in() -> Profile {
        Profile::named("whaly").expect("the built-in profile is valid")
    }

    /// Every built-in profile, as parsed (a vendor with regions has none chosen yet).
    pub fn all_built_in() -> Vec<Profile> {
        BUILT_INS
            .iter()
            .map(|(_, text)| Profile::parse(text).expect("the built-in profiles are valid"))
            .collect()
    }

    /// The names `--profile` knows.
    pub fn built_in_names() -> Vec<&'static str> {
        BUILT_INS.iter().map(|(name, _)| *name).collect()
    }

    /// A built-in profile by name, any case; `dbt` and the vendor's own name work too.
    pub fn named(name: &str) -> Option<Profile> {
        let wanted = name.trim().to_ascii_lowercase().replace(' ', "-");
        let wanted = if wanted == "dbt" {
            "dbt-cloud".into()
        } else {
            wanted
        };
        BUILT_INS
            .iter()
            .find(|(n, _)| *n == wanted)
            .map(|(_, text)| Profile::parse(text).expect("the built-in profiles are valid"))
            .or_else(|| {
                // The vendor's display name, as a request records it ("Airbyte Cloud").
                Profile::all_built_in()
                    .into_iter()
                    .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
            })
    }

    /// `--profile NAME|FILE` with `--region`: a built-in name, else a path to a TOML file.
    pub fn resolve(arg: Option<&str>, region: Option<&str>) -> Result<Profile> {
        Profile::resolve_unchosen(arg)?.with_region(region)
    }

    /// The wizard's start: as `resolve`, but a vendor with regions and none given starts at
    /// its first region, which the Account screen shows beside the others.
    pub fn resolve_or_first_region(arg: Option<&str>, region: Option<&str>) -> Result<Profile> {
        let profile = Profile::resolve_unchosen(arg)?;
        let first = profile.regions.first().map(|r| r.name.clone());
        profile.with_region(region.or(first.as_deref()))
    }

    fn resolve_unchosen(arg: Option<&str>) -> Result<Profile> {
        Ok(match arg {
            None => Profile::built_in(),
            Some(arg) => match Profile::named(arg) {
                Some(profile) => profile,
                None if arg.contains('/') || arg.ends_with(".toml") || Path::new(arg).exists() => {
                    Profile::load(Path::new(arg))?
                }
                None => bail!(
                    "no built-in profile {arg:?}: the built-in ones are {}, or give a TOML file's path",
                    Profile::built_in_names().join(", ")
                ),
            },
        })
    }

    pub fn load(path: &Path) -> Result<Profile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read profile {}", path.display()))?;
        Profile::parse(&text).with_context(|| format!("profile {} is not valid", path.display()))
    }

    /// Reads a profile. With regions, none is chosen yet (`with_region` chooses).
    pub fn parse(text: &str) -> Result<Profile> {
        let file: File = toml::from_str(text)?;
        if file
            .keepalive
            .is_some_and(|k| k.interval == 0 || k.count_max == 0)
        {
            bail!("[keepalive] interval and count_max must be above 0");
        }
        if let Some(date) = &file.as_of {
            if !is_date(date) {
                bail!("as_of {date:?} is not a date (YYYY-MM-DD or YYYY-MM)");
            }
        }
        let nets = |list: &[String], whose: &str| -> Result<Vec<VendorNet>> {
            if list.is_empty() {
                bail!("{whose} lists no vendor IPs");
            }
            list.iter()
                .map(|s| {
                    s.parse::<VendorNet>()
                        .map_err(|e| anyhow::anyhow!("{whose}: {e}"))
                })
                .collect()
        };
        let (regions, chosen) = match (file.ips.is_empty(), file.regions.is_empty()) {
            (false, true) => (Vec::new(), nets(&file.ips, "it")?),
            (true, false) => {
                let mut regions: Vec<Region> = Vec::new();
                for r in &file.regions {
                    if regions.iter().any(|o| o.name.eq_ignore_ascii_case(&r.name)) {
                        bail!("region {:?} is listed twice", r.name);
                    }
                    regions.push(Region {
                        name: r.name.clone(),
                        label: r.label.clone(),
                        nets: nets(&r.ips, &format!("region {}", r.name))?,
                    });
                }
                (regions, Vec::new())
            }
            (false, false) => bail!("give either ips or [[regions]], not both"),
            (true, true) => bail!("it lists no vendor IPs (ips, or [[regions]] each with ips)"),
        };
        let ips = representatives(&chosen);
        Ok(Profile {
            name: file.name,
            user: file.user,
            group: file.group,
            docs: file.docs,
            source: file.source,
            as_of: file.as_of,
            key_source: file.key_source,
            keepalive: file.keepalive,
            regions,
            region: None,
            nets: chosen,
            ips,
        })
    }

    /// Chooses the region's list. A vendor with regions needs one: its lists differ, and the
    /// wrong one leaves the vendor timing out at the firewall.
    pub fn with_region(mut self, region: Option<&str>) -> Result<Profile> {
        let names = || {
            self.regions
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (self.regions.is_empty(), region) {
            (true, None) => Ok(self),
            (true, Some(r)) => bail!(
                "--region {r}: {} publishes one IP list, without regions",
                self.name
            ),
            (false, None) => bail!(
                "{} publishes an IP list per region: choose one with --region ({})",
                self.name,
                names()
            ),
            (false, Some(r)) => {
                let Some(found) = self.regions.iter().find(|x| x.name.eq_ignore_ascii_case(r))
                else {
                    bail!(
                        "{} has no region {r:?}: its regions are {}",
                        self.name,
                        names()
                    );
                };
                self.region = Some(found.name.clone());
                self.nets = found.nets.clone();
                self.ips = representatives(&self.nets);
                Ok(self)
            }
        }
    }

    /// Every region's list at once: for judging a user whose region is not known (the
    /// ledger names users, not regions), so no vendor address is left out of the judgement.
    pub fn with_every_region(mut self) -> Profile {
        if !self.regions.is_empty() {
            self.region = None;
            self.nets = self.regions.iter().flat_map(|r| r.nets.clone()).collect();
            self.ips = representatives(&self.nets);
        }
        self
    }

    /// The built-in profile whose suggested user this is, every region at once.
    pub fn for_user(user: &str) -> Option<Profile> {
        Profile::all_built_in()
            .into_iter()
            .find(|p| p.user == user)
            .map(Profile::with_every_region)
    }

    /// The published list as firewall sources, e.g. `34.22.141.3/32 35.234.176.144/29`.
    pub fn cidrs(&self) -> Vec<String> {
        self.nets.iter().map(VendorNet::cidr).collect()
    }

    /// Where the list came from, said wherever the list is shown: vendors change their IPs.
    pub fn list_origin(&self) -> String {
        let region = self
            .region
            .as_ref()
            .map(|r| format!(" (region {r})"))
            .unwrap_or_default();
        match (&self.source, &self.as_of) {
            (Some(source), Some(date)) => {
                format!("IP list{region} from {source}, as of {date}; vendors change their IPs")
            }
            (Some(source), None) => {
                format!("IP list{region} from {source}; vendors change their IPs")
            }
            _ => format!(
                "IP list{region} from the {} profile, source not given; vendors change their IPs",
                self.name
            ),
        }
    }
}

fn representatives(nets: &[VendorNet]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for net in nets {
        for ip in [net.first(), net.last()] {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// YYYY-MM-DD, or YYYY-MM where the source gives only the month.
fn is_date(text: &str) -> bool {
    let num = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    match text.split('-').collect::<Vec<_>>().as_slice() {
        [y, m] => num(y, 4).is_some() && matches!(num(m, 2), Some(1..=12)),
        [y, m, d] => {
            num(y, 4).is_some()
                && matches!(num(m, 2), Some(1..=12))
                && matches!(num(d, 2), Some(1..=31))
        }
        _ => false,
    }
}

impl VendorNet {
    fn bits(&self) -> u8 {
        match self.addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        }
    }

    pub fn is_single(&self) -> bool {
        self.prefix == self.bits()
    }

    pub fn first(&self) -> IpAddr {
        self.addr
    }

    pub fn last(&self) -> IpAddr {
        let host = self.bits() - self.prefix;
        match self.addr {
            IpAddr::V4(a) => {
                let mask = if host == 32 {
                    u32::MAX
                } else {
                    (1u32 << host) - 1
                };
                IpAddr::V4((u32::from(a) | mask).into())
            }
            IpAddr::V6(a) => {
                let mask = if host == 128 {
                    u128::MAX
                } else {
                    (1u128 << host) - 1
                };
                IpAddr::V6((u128::from(a) | mask).into())
            }
        }
    }

    /// Always with a prefix, as firewalls take it.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.addr, self.prefix)
    }
}

impl fmt::Display for VendorNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl FromStr for VendorNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= bits && p > 0 => p,
                _ => return Err(format!("/{p} is not a prefix length for {addr}")),
            },
        };
        let net = VendorNet { addr, prefix };
        // Host bits set: the vendor meant another range, or a typo crept in.
        if network_of(&net) != net.addr {
            return Err(format!(
                "{text} has host bits set; the range starts at {}/{prefix}",
                network_of(&net)
            ));
        }
        Ok(net)
    }
}

fn network_of(net: &VendorNet) -> IpAddr {
    let host = net.bits() - net.prefix;
    match net.addr {
        IpAddr::V4(a) => {
            let mask = if host == 32 { 0 } else { u32::MAX << host };
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = if host == 128 { 0 } else { u128::MAX << host };
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_profile_is_sourced_dated_and_valid() {
        for (key, text) in BUILT_INS {
            let p = Profile::parse(text).unwrap_or_else(|e| panic!("{key}: {e:#}"));
            let source = p
                .source
                .as_deref()
                .unwrap_or_else(|| panic!("{key}: no source"));
            assert!(source.starts_with("https://"), "{key}: {source}");
            assert!(p.as_of.as_deref().is_some_and(is_date), "{key}: as_of");
            assert!(!p.user.is_empty() && !p.group.is_empty(), "{key}");
            assert!(p.docs.starts_with("https://"), "{key}: docs");
            let lists: Vec<&Vec<VendorNet>> = if p.regions.is_empty() {
                vec![&p.nets]
            } else {
                p.regions.iter().map(|r| &r.nets).collect()
            };
            for list in lists {
                assert!(!list.is_empty(), "{key}");
                for net in list {
                    let ip = net.addr;
                    assert!(
                        !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast()),
                        "{key}: {net}"
                    );
                    if let IpAddr::V4(v4) = ip {
                        assert!(!v4.is_private() && !v4.is_documentation(), "{key}: {net}");
                    }
                    assert_eq!(net.cidr().parse::<VendorNet>(), Ok(*net), "{key}: {net}");
                }
            }
            assert_eq!(
                Profile::named(key).map(|p| p.name),
                Some(p.name.clone()),
                "{key} is found by its key"
            );
        }
    }

    #[test]
    fn names_are_found_in_any_case_and_unknown_ones_list_the_built_ins() {
        assert_eq!(Profile::resolve(Some("WHALY"), None).unwrap().user, "whaly");
        assert_eq!(
            Profile::resolve(Some("dbt"), Some("emea")).unwrap().name,
            "dbt Cloud"
        );
        let e = Profile::resolve(Some("acme"), None)
            .unwrap_err()
            .to_string();
        for name in Profile::built_in_names() {
            assert!(e.contains(name), "{e}");
        }
    }

    #[test]
    fn a_vendor_with_regions_needs_one_chosen() {
        let e = Profile::resolve(Some("fivetran"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--region") && e.contains("gcp-us-east4"), "{e}");
        let p = Profile::resolve(Some("fivetran"), Some("GCP-US-EAST4")).unwrap();
        assert_eq!(p.region.as_deref(), Some("gcp-us-east4"));
        assert_eq!(p.cidrs(), vec!["35.234.176.144/29".to_string()]);
        assert_eq!(
            p.ips,
            vec![
                "35.234.176.144".parse::<IpAddr>().unwrap(),
                "35.234.176.151".parse().unwrap()
            ],
            "a range is evaluated at its first and last address"
        );
        let e = Profile::resolve(Some("fivetran"), Some("mars"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no region \"mars\"") && e.contains("gcp-us-west1"),
            "{e}"
        );
        let e = Profile::resolve(Some("whaly"), Some("eu"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("one IP list"), "{e}");
    }

    #[test]
    fn ranges_with_host_bits_and_bad_prefixes_are_refused() {
        assert!("35.234.176.145/29".parse::<VendorNet>().is_err());
        assert!("10.0.0.0/33".parse::<VendorNet>().is_err());
        assert!("10.0.0.0/0".parse::<VendorNet>().is_err());
        assert!("example.com".parse::<VendorNet>().is_err());
        let n: VendorNet = "20.13.190.192/26".parse().unwrap();
        assert_eq!(n.last().to_string(), "20.13.190.255");
        assert_eq!(n.to_string(), "20.13.190.192/26");
        let one: VendorNet = "34.22.141.3".parse().unwrap();
        assert_eq!(
            (one.to_string(), one.cidr()),
            ("34.22.141.3".into(), "34.22.141.3/32".into())
        );
        let v6: VendorNet = "2001:db8::/126".parse().unwrap();
        assert_eq!(v6.last().to_string(), "2001:db8::3");
    }

    #[test]
    fn a_file_needs_one_kind_of_list_and_valid_fields() {
        let base = "name = \"X\"\nuser = \"x\"\ngroup = \"x\"\ndocs = \"https://x\"\n";
        assert!(Profile::parse(base).is_err(), "no list");
        let both = format!(
            "{base}ips = [\"192.0.2.1\"]\n[[regions]]\nname = \"a\"\nlabel = \"A\"\nips = [\"192.0.2.2\"]\n"
        );
        assert!(Profile::parse(&both).is_err());
        let bad_date = format!("{base}as_of = \"last week\"\nips = [\"192.0.2.1\"]\n");
        assert!(Profile::parse(&bad_date).is_err());
        let bad_source = format!("{base}key_source = \"vendorr\"\nips = [\"192.0.2.1\"]\n");
        assert!(Profile::parse(&bad_source).is_err());
        let ok = Profile::parse(&format!("{base}ips = [\"192.0.2.1\"]\n")).unwrap();
        assert_eq!(
            (ok.key_source, ok.source.clone()),
            (KeySource::Vendor, None)
        );
        assert!(ok.list_origin().contains("source not given"));
    }

    #[test]
    fn customer_key_vendors_say_so() {
        for name in ["airbyte", "metabase"] {
            assert_eq!(
                Profile::named(name).unwrap().key_source,
                KeySource::Customer,
                "{name}"
            );
        }
        assert_eq!(Profile::built_in().key_source, KeySource::Vendor);
        let dbt = Profile::named("dbt-cloud").unwrap();
        assert_eq!(
            dbt.keepalive,
            Some(Keepalive {
                interval: 30,
                count_max: 10
            })
        );
    }

    /// A request records the vendor's display name; each one finds its profile again.
    #[test]
    fn every_built_in_is_found_by_its_display_name() {
        for profile in Profile::all_built_in() {
            let found = Profile::named(&profile.name).map(|p| p.name);
            assert_eq!(found.as_deref(), Some(profile.name.as_str()));
        }
    }
}
