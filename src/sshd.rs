//! The effective sshd configuration for the vendor's user, as `sshd -T -C` prints it
//! (Match blocks applied), and the questions the checks ask of it.

use std::fmt;
use std::net::IpAddr;

use crate::authorized_keys::PermitOpen;
use crate::patterns::{self, wildcard_match};
use crate::profile::Keepalive;
use crate::sshd_repair::SshdPaths;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshdConfig {
    entries: Vec<(String, String)>,
}

/// Where the vendor's connection arrives: this host's address and port, which `Match
/// LocalAddress` and `Match LocalPort` blocks turn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    pub addr: IpAddr,
    pub port: u16,
}

impl Local {
    /// Used where no Match block looks at the local end: any value gives the same answer.
    pub const ANY: Local = Local {
        addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        port: 22,
    };
}

/// sshd's effective configuration for the tunnel user connecting from one vendor address
/// (to one local address and port, where Match blocks look at them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub addr: IpAddr,
    /// Set where Match blocks made the local end matter.
    pub local: Option<Local>,
    pub config: SshdConfig,
}

impl Effective {
    /// The vendor address, and the local end when it mattered, for messages.
    fn label(&self) -> String {
        match self.local {
            Some(l) => format!("{} to {}:{}", self.addr, l.addr, l.port),
            None => self.addr.to_string(),
        }
    }
}

/// The same configuration from every address: for tests and hosts without Match Address.
pub fn same_everywhere(config: &SshdConfig, addrs: &[IpAddr]) -> Vec<Effective> {
    addrs
        .iter()
        .map(|addr| Effective {
            addr: *addr,
            local: None,
            config: config.clone(),
        })
        .collect()
}

/// Asks sshd once per vendor address and local end, concurrently: Match blocks can give
/// each its own answer, and every one of them must work. With more than one local end
/// each answer records which one it is for.
pub fn query_all(
    user: &str,
    addrs: &[IpAddr],
    locals: &[Local],
    is_root: bool,
) -> Result<Vec<Effective>, String> {
    let locals = if locals.is_empty() {
        &[Local::ANY][..]
    } else {
        locals
    };
    let several = locals.len() > 1;
    let answers: Result<Vec<Effective>, QueryError> = std::thread::scope(|scope| {
        let handles: Vec<_> = addrs
            .iter()
            .flat_map(|addr| locals.iter().map(move |local| (addr, local)))
            .map(|(addr, local)| {
                scope.spawn(move || {
                    query(user, *addr, *local, is_root).map(|config| Effective {
                        addr: *addr,
                        local: several.then_some(*local),
                        config,
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(QueryError::Crashed)))
            .collect()
    });
    // The host state keeps the reason as text, as every other reader's.
    answers.map_err(|e| e.to_string())
}

/// The problem `judge` finds from the vendor's addresses, naming the addresses when it
/// holds for only some of them (a `Match Address` block).
pub fn judge_all(
    configs: &[Effective],
    judge: impl Fn(&SshdConfig, IpAddr) -> Option<String>,
) -> Option<String> {
    let found: Vec<(String, String)> = configs
        .iter()
        .filter_map(|e| judge(&e.config, e.addr).map(|p| (e.label(), p)))
        .collect();
    let (_, first) = found.first()?;
    if found.len() == configs.len() && found.iter().all(|(_, p)| p == first) {
        return Some(first.clone());
    }
    let labels: Vec<String> = found.iter().map(|(a, _)| a.clone()).collect();
    Some(format!("{first} (only from {})", labels.join(", ")))
}

/// `sshd -T -C`'s connection: the user from the vendor's address to a local end.
pub fn connection_spec(user: &str, vendor_addr: IpAddr, local: Local) -> String {
    format!(
        "user={user},host={vendor_addr},addr={vendor_addr},laddr={},lport={}",
        local.addr, local.port
    )
}

/// Why sshd could not be asked for its effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// `sshd -T` needs root (it reads the host keys).
    NotRoot,
    /// No sshd binary where the configuration says it is.
    Missing { binary: String },
    /// The binary is there but could not be started.
    CannotRun { binary: String, error: String },
    /// sshd ran and refused: its own words, trimmed (often a broken configuration).
    Refused(String),
    /// The thread asking it died.
    Crashed,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::NotRoot => f.write_str("run as root to check the sshd configuration"),
            QueryError::Missing { binary } => {
                write!(f, "{binary} not found: is openssh-server installed?")
            }
            QueryError::CannotRun { binary, error } => write!(f, "cannot run {binary}: {error}"),
            QueryError::Refused(said) => write!(f, "`sshd -T` failed: {said}"),
            QueryError::Crashed => f.write_str("sshd -T could not be run"),
        }
    }
}

impl std::error::Error for QueryError {}

/// Asks sshd itself, since only it knows its defaults, includes and Match blocks. With
/// `UseDNS no` (the default) sshd matches `Match Host` against the address, so the host
/// given is the address too.
pub fn query(
    user: &str,
    vendor_addr: IpAddr,
    local: Local,
    is_root: bool,
) -> Result<SshdConfig, QueryError> {
    if !is_root {
        return Err(QueryError::NotRoot);
    }
    // The one place that says where sshd and its configuration are (also what the repair
    // edits), so the configuration judged is the one edited.
    let paths = SshdPaths::default();
    let binary = paths.sshd.display().to_string();
    if !paths.sshd.exists() {
        return Err(QueryError::Missing { binary });
    }
    let output = paths
        .sshd()
        .arg("-T")
        .arg("-C")
        .arg(connection_spec(user, vendor_addr, local))
        .output()
        .map_err(|e| QueryError::CannotRun {
            binary: binary.clone(),
            error: e.to_string(),
        })?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(QueryError::Refused(err.trim().to_string()));
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

    /// The ports the vendor can connect to: those of listen addresses that are not
    /// loopback (`sshd -T` prints each as `address:port`); failing those, every listen
    /// address's port, then the `Port` lines, then 22. Never empty.
    pub fn ports(&self) -> Vec<u16> {
        let listen = self.listen_addresses();
        let mut ports: Vec<u16> = listen
            .iter()
            .filter(|(addr, _)| !is_loopback(addr))
            .map(|(_, port)| *port)
            .collect();
        if ports.is_empty() {
            ports = listen.iter().map(|(_, port)| *port).collect();
        }
        if ports.is_empty() {
            ports = self
                .all("port")
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect();
        }
        if ports.is_empty() {
            ports.push(22);
        }
        let mut seen = Vec::new();
        ports.retain(|p| {
            let new = !seen.contains(p);
            seen.push(*p);
            new
        });
        ports
    }

    /// `(address, port)` of every `listenaddress` line.
    pub fn listen_addresses(&self) -> Vec<(String, u16)> {
        self.all("listenaddress")
            .iter()
            .filter_map(|entry| {
                let (addr, port) = entry.rsplit_once(':')?;
                let addr = addr.trim_start_matches('[').trim_end_matches(']');
                Some((addr.to_string(), port.parse().ok()?))
            })
            .collect()
    }

    /// Why the vendor could not reach sshd at all, judged from the configuration alone:
    /// loopback only, or only the other address family (sshd binds IPv6 sockets
    /// v6-only, so `[::]` takes no IPv4 connection).
    pub fn listen_problem(&self, vendor_addrs: &[IpAddr]) -> Option<String> {
        let listen = self.listen_addresses();
        let shown: Vec<String> = listen.iter().map(|(a, p)| format!("{a}:{p}")).collect();
        if !listen.is_empty() && listen.iter().all(|(addr, _)| is_loopback(addr)) {
            return Some(format!(
                "ListenAddress {}: sshd listens on loopback only, so the vendor sees \"Connection refused\"",
                shown.join(" ")
            ));
        }
        let families: Vec<bool> = listen
            .iter()
            .filter_map(|(addr, _)| addr.parse::<IpAddr>().ok())
            .map(|a| a.is_ipv4())
            .collect();
        let unreachable: Vec<String> = vendor_addrs
            .iter()
            .filter(|v| !families.is_empty() && !families.contains(&v.is_ipv4()))
            .map(|v| v.to_string())
            .collect();
        (!unreachable.is_empty()).then(|| {
            format!(
                "sshd listens on {} only (AddressFamily {}): the vendor's {} see \"Connection refused\"",
                shown.join(" "),
                self.get("addressfamily").unwrap_or("any"),
                unreachable.join(", ")
            )
        })
    }

    /// Why PermitOpen in the configuration would refuse the vendor's forward to one of
    /// `targets` (sshd compares the text: `localhost` is not `127.0.0.1`).
    pub fn permit_open_problem(&self, targets: &[PermitOpen]) -> Option<String> {
        let allowed = self.all("permitopen");
        if allowed.is_empty() || allowed.iter().any(|a| a.eq_ignore_ascii_case("any")) {
            return None;
        }
        if allowed.iter().any(|a| a.eq_ignore_ascii_case("none")) {
            return Some("PermitOpen none".into());
        }
        let refused: Vec<String> = targets
            .iter()
            .filter(|t| !allowed.iter().any(|a| permit_open_allows(a, t)))
            .map(|t| t.to_string())
            .collect();
        (!refused.is_empty()).then(|| {
            format!(
                "PermitOpen {} does not allow {} (sshd compares the exact text)",
                allowed.join(" "),
                refused.join(", ")
            )
        })
    }

    /// `ChrootDirectory` with `%h`, `%u` and `%%` expanded, when one is set.
    pub fn chroot_directory(&self, user: &str, home: &std::path::Path) -> Option<String> {
        let value = self.get("chrootdirectory")?;
        (!value.eq_ignore_ascii_case("none")).then(|| expand_tokens(value, user, home))
    }

    /// The RevokedKeys file, when one is set.
    pub fn revoked_keys(&self) -> Option<&str> {
        self.get("revokedkeys")
            .filter(|v| !v.eq_ignore_ascii_case("none"))
    }

    pub fn strict_modes(&self) -> bool {
        !self.is("strictmodes", "no")
    }

    /// Why sshd would never accept the key we install in ~/.ssh/authorized_keys.
    pub fn pubkey_problem(&self, user: &str, home: &std::path::Path) -> Option<String> {
        if self.is("pubkeyauthentication", "no") {
            return Some("PubkeyAuthentication no: every key is refused".into());
        }
        let files = self.all("authorizedkeysfile");
        let ours = home.join(".ssh/authorized_keys");
        let reads_ours = files.is_empty()
            || files.iter().any(|f| {
                let expanded = expand_tokens(f, user, home);
                let path = if expanded.starts_with('/') {
                    std::path::PathBuf::from(expanded)
                } else {
                    home.join(expanded.trim_start_matches("~/"))
                };
                path == ours
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

    /// Why sshd would turn the user away before looking at keys, if it would, when the
    /// user connects from `addr`. `user@host` words are matched against the address (and,
    /// with `UseDNS no`, the default, the address is also the host name).
    pub fn user_problem(&self, user: &str, groups: &[String], addr: IpAddr) -> Option<String> {
        let host = addr.to_string();
        let user_matches = |pattern: &str| patterns::match_user(user, &host, addr, pattern);
        let any_group = |pattern: &&str| groups.iter().any(|g| wildcard_match(pattern, g));
        if let Some(p) = self.all("denyusers").iter().find(|p| user_matches(p)) {
            return Some(format!("DenyUsers {p} matches {user}"));
        }
        let allow_users = self.all("allowusers");
        if !allow_users.is_empty() && !allow_users.iter().any(|p| user_matches(p)) {
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
        // A current client signs an RSA key with rsa-sha2-512 and does not fall back:
        // a list with only rsa-sha2-256 or ssh-rsa refuses it.
        let wanted = if key_type == "ssh-rsa" {
            "rsa-sha2-512"
        } else {
            key_type
        };
        if algorithms.contains(&wanted) {
            Ok(())
        } else {
            Err(format!(
                "PubkeyAcceptedAlgorithms does not include {wanted} (it lists {list})"
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

/// What sshd's binary says of its build, read from its release string, so no process is
/// run to learn it (older sshd has no version flag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Build {
    /// Debian and Ubuntu patch sshd's StrictModes to accept group write by the user's own
    /// private group; their release string says so.
    pub debian: bool,
    /// `OpenSSH_9.2p1`, as the wizard's first screen shows it.
    pub release: Option<String>,
    /// The same, as a number to compare against what a feature needs.
    pub version: Option<Version>,
}

/// An OpenSSH release, e.g. 7.4 on Amazon Linux 2 and CentOS 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl Version {
    /// `expiry-time` in authorized_keys (auth-options.c, 7.7).
    pub const EXPIRY_TIME: Version = Version { major: 7, minor: 7 };
    /// `expiry-time="...Z"`, read in UTC (misc.c parse_absolute_time, 9.1).
    pub const EXPIRY_TIME_UTC: Version = Version { major: 9, minor: 1 };
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenSSH {}.{}", self.major, self.minor)
    }
}

/// Reads sshd's binary once for its release string (`OpenSSH_9.2p1 Debian-2+deb12u10`).
pub fn read_build() -> Build {
    std::fs::read(SshdPaths::default().sshd)
        .map(|bytes| build_of(&bytes))
        .unwrap_or_default()
}

/// The build as the binary's release string tells it: the first string from `OpenSSH_`
/// to a NUL whose first word is `OpenSSH_<major>.<minor>p<n>` (compat patterns such as
/// `OpenSSH_7.4*` are not); Debian's and Ubuntu's say `Debian-` or `Ubuntu-` after it.
pub fn build_of(binary: &[u8]) -> Build {
    const MARK: &[u8] = b"OpenSSH_";
    let mut rest = binary;
    let mut release = None;
    while let Some(at) = rest.windows(MARK.len()).position(|w| w == MARK) {
        let tail = &rest[at..];
        let end = tail.iter().position(|b| *b == 0).unwrap_or(tail.len());
        if let Ok(text) = std::str::from_utf8(&tail[..end]) {
            if release_version(text.split(' ').next().unwrap_or_default()).is_some() {
                release = Some(text);
                break;
            }
        }
        rest = &tail[MARK.len()..];
    }
    let word = release.map(|r| r.split(' ').next().unwrap_or_default());
    Build {
        debian: release.is_some_and(|r| r.contains(" Debian-") || r.contains(" Ubuntu-")),
        release: word.map(str::to_string),
        version: word.and_then(release_version),
    }
}

/// `OpenSSH_9.2p1`: digits, a dot, digits, `p`, digits, and nothing else.
fn release_version(word: &str) -> Option<Version> {
    let rest = word.strip_prefix("OpenSSH_")?;
    let (number, portable) = rest.split_once('p')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (major, minor) = number.split_once('.')?;
    if !(digits(major) && digits(minor) && digits(portable)) {
        return None;
    }
    Some(Version {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
    })
}

fn is_loopback(addr: &str) -> bool {
    addr.parse::<IpAddr>().is_ok_and(|a| a.is_loopback()) || addr == "localhost"
}

/// One PermitOpen entry against a target: `*` stands for any host or any port.
fn permit_open_allows(entry: &str, target: &PermitOpen) -> bool {
    let Some((host, port)) = entry.rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host == "*" || host == target.host) && (port == "*" || port == target.port.to_string())
}

/// sshd's `%h`, `%u` and `%%` tokens (AuthorizedKeysFile, ChrootDirectory).
pub fn expand_tokens(value: &str, user: &str, home: &std::path::Path) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(&home.display().to_string()),
            Some('u') => out.push_str(user),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// A listening TCP socket on this host and, as root, the program that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub port: u16,
    pub inode: u64,
    /// `comm` of a process holding the socket; `None` when it could not be seen.
    pub program: Option<String>,
}

/// Listening sockets, read from /proc/net/tcp{,6}, with their owners where visible.
pub fn listeners() -> Vec<Listener> {
    let mut found = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            found.extend(parse_listening(&text));
        }
    }
    let inodes: Vec<u64> = found.iter().map(|(_, inode)| *inode).collect();
    let owners = socket_owners(&inodes);
    found
        .into_iter()
        .map(|(port, inode)| Listener {
            port,
            inode,
            program: owners
                .iter()
                .find(|(i, _)| *i == inode)
                .map(|(_, p)| p.clone()),
        })
        .collect()
}

/// Ports something listens on (no owners looked up: cheap enough to poll).
pub fn listening_ports() -> Vec<u16> {
    let mut ports: Vec<u16> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| parse_listening(&text))
        .map(|(port, _)| port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// (socket inode, program name) for each of `wanted` held by a process this one may look
/// at, the first holder in /proc's order. The walk of every process's fds stops once each
/// is found, and is not made at all when nothing listens.
fn socket_owners(wanted: &[u64]) -> Vec<(u64, String)> {
    let mut owners: Vec<(u64, String)> = Vec::new();
    let mut left: Vec<u64> = wanted.to_vec();
    left.sort_unstable();
    left.dedup();
    if left.is_empty() {
        return owners;
    }
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return owners;
    };
    for process in processes.flatten() {
        let dir = process.path();
        let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            if let Ok(i) = left.binary_search(&inode) {
                left.remove(i);
                let comm = std::fs::read_to_string(dir.join("comm"))
                    .map(|c| c.trim().to_string())
                    .unwrap_or_default();
                owners.push((inode, comm));
            }
        }
        if left.is_empty() {
            break;
        }
    }
    owners
}

fn parse_listening(text: &str) -> Vec<(u16, u64)> {
    const LISTEN: &str = "0A";
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = fields.get(1)?.rsplit(':').next()?;
            let inode = fields.get(9)?.parse().ok()?;
            (*fields.get(3)? == LISTEN)
                .then(|| Some((u16::from_str_radix(port, 16).ok()?, inode)))?
        })
        .collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_release_string_is_read_from_the_installed_sshd_not_its_compat_patterns() {
        let Ok(binary) = std::fs::read(SshdPaths::default().sshd) else {
            return; // no sshd here: nothing to compare with
        };
        let build = build_of(&binary);
        // The client of the same package prints the same release: `OpenSSH_9.2p1 Debian-...`.
        let client = std::process::Command::new("ssh")
            .arg("-V")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&client.stderr).to_string();
        let words: Vec<&str> = said.split([',', ' ']).collect();
        assert_eq!(build.release.as_deref(), Some(words[0]), "{said}");
        assert_eq!(
            build.debian,
            words[1].starts_with("Debian-") || words[1].starts_with("Ubuntu-")
        );
    }

    #[test]
    fn compat_patterns_and_the_bare_version_are_not_the_release() {
        let binary = b"x\0OpenSSH_9.2\0OpenSSH_7.4*\0OpenSSH_2*,OpenSSH_3*\0OpenSSH_8.0p1\0";
        assert_eq!(build_of(binary).release.as_deref(), Some("OpenSSH_8.0p1"));
        assert!(!build_of(binary).debian);
        let debian = b"OpenSSH_7.4*\0OpenSSH_9.2p1 Debian-2+deb12u10\0";
        assert!(build_of(debian).debian);
        assert_eq!(build_of(b"OpenSSH_7.4*\0").release, None);
    }
    use super::*;

    #[test]
    fn the_release_is_read_from_the_binary_not_the_compat_table() {
        let rhel = b"\0OpenSSH_2.*,OpenSSH_3.0*\0OpenSSH_7.0*\0OpenSSH_7.4p1\0OpenSSL\0";
        assert_eq!(
            build_of(rhel),
            Build {
                debian: false,
                release: Some("OpenSSH_7.4p1".into()),
                version: Some(Version { major: 7, minor: 4 })
            }
        );
        let ubuntu = b"OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\0";
        assert_eq!(
            build_of(ubuntu),
            Build {
                debian: true,
                release: Some("OpenSSH_8.9p1".into()),
                version: Some(Version { major: 8, minor: 9 })
            }
        );
        assert_eq!(build_of(b"no release here OpenSSH_*").version, None);
    }

    /// The real sshd here says the same release as `sshd -V` (OpenSSH 9.x).
    #[test]
    fn the_installed_sshd_reads_as_sshd_says() {
        let Ok(bytes) = std::fs::read("/usr/sbin/sshd") else {
            return;
        };
        let Ok(out) = std::process::Command::new("/usr/sbin/sshd")
            .arg("-V")
            .output()
        else {
            return;
        };
        let said = String::from_utf8_lossy(&out.stderr).to_string();
        let Some(version) = build_of(&bytes).version else {
            panic!("no release found in /usr/sbin/sshd; it says {said}");
        };
        assert!(
            said.starts_with(&format!("OpenSSH_{}.{}", version.major, version.minor)),
            "{version} vs {said}"
        );
    }

    #[test]
    fn a_query_refused_for_want_of_root_says_so_without_running_sshd() {
        let asked = query("whaly", "34.22.141.3".parse().unwrap(), Local::ANY, false);
        assert_eq!(asked, Err(QueryError::NotRoot));
        // The words the checks and the proof have always shown.
        assert_eq!(
            QueryError::NotRoot.to_string(),
            "run as root to check the sshd configuration"
        );
        assert_eq!(
            query_all("whaly", &["34.22.141.3".parse().unwrap()], &[], false),
            Err("run as root to check the sshd configuration".to_string())
        );
    }

    #[test]
    fn each_query_error_names_what_to_do() {
        let binary = "/usr/sbin/sshd".to_string();
        for (error, text) in [
            (
                QueryError::Missing {
                    binary: binary.clone(),
                },
                "/usr/sbin/sshd not found: is openssh-server installed?",
            ),
            (
                QueryError::CannotRun {
                    binary,
                    error: "Permission denied (os error 13)".into(),
                },
                "cannot run /usr/sbin/sshd: Permission denied (os error 13)",
            ),
            (
                // sshd -T's stderr for an unknown keyword, as captured here.
                QueryError::Refused(
                    "/etc/ssh/sshd_config: line 1: Bad configuration option: Foo\n/etc/ssh/sshd_config: terminating, 1 bad configuration options".into(),
                ),
                "`sshd -T` failed: /etc/ssh/sshd_config: line 1: Bad configuration option: Foo\n/etc/ssh/sshd_config: terminating, 1 bad configuration options",
            ),
            (QueryError::Crashed, "sshd -T could not be run"),
        ] {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn reads_listening_sockets_only() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 27152 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000     0        0 3345 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(parse_listening(text), vec![(22, 27152)]);
    }

    #[test]
    fn finds_users_excluded_by_allow_and_deny() {
        let from = |a: &str| a.parse::<IpAddr>().unwrap();
        let config = SshdConfig::parse("allowusers alice\nallowusers ops*@10.0.0.1\n");
        assert!(config
            .user_problem("whaly", &[], from("10.0.0.1"))
            .unwrap()
            .contains("AllowUsers"));
        assert_eq!(config.user_problem("ops1", &[], from("10.0.0.1")), None);
        assert!(config.user_problem("ops1", &[], from("10.0.0.2")).is_some());
        let config = SshdConfig::parse("denyusers whaly@35.190.212.29\n");
        assert!(config
            .user_problem("whaly", &[], from("35.190.212.29"))
            .is_some());
        assert_eq!(config.user_problem("whaly", &[], from("34.22.141.3")), None);
        let config = SshdConfig::parse("denygroups whaly\n");
        assert!(config
            .user_problem("whaly", &["whaly".into()], from("10.0.0.1"))
            .is_some());
        assert_eq!(
            SshdConfig::parse("port 22\n").user_problem("whaly", &[], from("10.0.0.1")),
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
        // A current client signs RSA with rsa-sha2-512 and does not fall back.
        let only_256 = SshdConfig::parse("pubkeyacceptedalgorithms rsa-sha2-256,ssh-rsa\n");
        assert!(only_256.accepts_key_type("ssh-rsa").is_err());
        let targets = ["127.0.0.1:5432".parse().unwrap()];
        assert!(SshdConfig::parse("permitopen localhost:5432\n")
            .permit_open_problem(&targets)
            .is_some());
        assert_eq!(
            SshdConfig::parse("permitopen 127.0.0.1:*\n").permit_open_problem(&targets),
            None
        );
    }

    #[test]
    fn keys_outside_home_or_no_pubkey_are_problems() {
        let home = std::path::Path::new("/home/whaly");
        let problem = |text: &str| SshdConfig::parse(text).pubkey_problem("whaly", home);
        assert_eq!(
            problem("authorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\n"),
            None
        );
        assert_eq!(
            problem("authorizedkeysfile %h/.ssh/authorized_keys\n"),
            None
        );
        assert_eq!(
            problem("authorizedkeysfile /home/%u/.ssh/authorized_keys\n"),
            None
        );
        assert!(problem("authorizedkeysfile /etc/ssh/keys/%u\n")
            .unwrap()
            .contains("/etc/ssh/keys/%u"));
        assert!(problem("authorizedkeysfile none\n").is_some());
        assert!(problem("pubkeyauthentication no\n").is_some());
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
            SshdConfig::parse("listenaddress 127.0.0.1:2222\nlistenaddress 0.0.0.0:2200\n").ports(),
            vec![2200]
        );
        let vendor: Vec<IpAddr> = vec!["34.22.141.3".parse().unwrap()];
        let loopback = SshdConfig::parse("listenaddress 127.0.0.1:22\n");
        assert!(loopback.listen_problem(&vendor).is_some());
        let v6 = SshdConfig::parse("addressfamily inet6\nlistenaddress [::]:22\n");
        assert!(v6.listen_problem(&vendor).unwrap().contains("34.22.141.3"));
        let both = SshdConfig::parse("listenaddress [::]:22\nlistenaddress 0.0.0.0:22\n");
        assert_eq!(both.listen_problem(&vendor), None);
        assert_eq!(
            loopback.ports(),
            vec![22],
            "never empty: the form still needs a port"
        );
        assert_eq!(
            SshdConfig::parse("port 2222\nport 22\n").ports(),
            vec![2222, 22]
        );
        assert_eq!(SshdConfig::default().ports(), vec![22]);
    }
}
