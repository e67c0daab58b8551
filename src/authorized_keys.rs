//! authorized_keys as sshd reads it, with a line parser of our own: existing files must
//! survive byte for byte, and generic parsers cut at `#` inside quoted options.

use std::fmt;
use std::net::IpAddr;

use crate::dates::{Clock, Date, ExpiryTime};
use crate::key::{self, looks_like_key_type, split_options, Key};
use crate::sshd::Version;

/// One key line as sshd would see it. Lines that are not keys are never parsed further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub options: Option<String>,
    pub key_type: String,
    pub data: String,
    pub comment: String,
}

/// Characters sshd's base64 decoder skips inside the key data word (C `isspace`).
const SKIPPED_IN_DATA: &[char] = &[' ', '\t', '\n', '\x0b', '\x0c', '\r'];

/// Parses one line (without its terminator). `None` for blank, `#` and unparsable lines,
/// which sshd skips too and which we keep untouched. A line whose key type word does not
/// look like a key type (see `looks_like_key_type`) is not a key entry, so it never
/// matches.
///
/// Lines read from a file may not be UTF-8: convert them with `String::from_utf8_lossy`
/// (the type and data words sshd matches on are ASCII, so nothing that matters is lost).
pub fn parse_line(line: &str) -> Option<Entry> {
    // sshd handles lines as C strings: whatever follows a NUL does not exist for it.
    let line = line.split('\0').next().unwrap_or_default();
    let line = line.strip_suffix('\r').unwrap_or(line);
    let rest = line.trim_start_matches([' ', '\t']);
    if rest.is_empty() || rest.starts_with('#') {
        return None;
    }
    let first = rest.split([' ', '\t']).next()?;
    let (options, rest) = if looks_like_key_type(first) {
        (None, rest)
    } else {
        let (options, after) = split_options(rest);
        (
            Some(options.to_string()),
            after.trim_start_matches([' ', '\t']),
        )
    };
    let mut fields = rest.splitn(2, [' ', '\t']);
    let key_type = fields.next()?.to_string();
    if !looks_like_key_type(&key_type) {
        return None;
    }
    let after_type = fields.next()?.trim_start_matches([' ', '\t']);
    let mut fields = after_type.splitn(2, [' ', '\t']);
    let data: String = fields
        .next()?
        .chars()
        .filter(|c| !SKIPPED_IN_DATA.contains(c))
        .collect();
    let comment = fields.next().unwrap_or("").trim().to_string();
    if data.is_empty() {
        return None;
    }
    Some(Entry {
        options,
        key_type,
        data,
        comment,
    })
}

/// What installing a key line does to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The exact line is already there: nothing to write.
    Unchanged,
    /// The key was missing and is appended.
    Added(Vec<u8>),
    /// The key was there with other options or comment: its line is replaced in place.
    Updated(Vec<u8>),
}

/// Installs `line` for the key whose base64 data is `data`, keeping every other line
/// byte for byte. Later duplicates of the same key are dropped: sshd would try them too,
/// so a stale duplicate could grant what the updated line no longer does. A matching line
/// that is not UTF-8 (a Latin-1 comment, say) is replaced like any other: sshd reads it.
/// A `cert-authority` line holding the same key is a CA entry, never the vendor's line.
pub fn merge(existing: &[u8], line: &str, data: &str) -> Merge {
    let mut out = Vec::with_capacity(existing.len() + line.len() + 1);
    let mut found = false;
    let mut changed = false;
    for raw in split_keep_terminator(existing) {
        let (content, terminator) = split_terminator(raw);
        let is_match = parse_line(&String::from_utf8_lossy(content))
            .is_some_and(|e| same_key(&e.data, data) && !is_cert_authority(&e));
        if !is_match {
            out.extend_from_slice(raw);
            continue;
        }
        if found {
            changed = true;
            continue;
        }
        found = true;
        if content.strip_suffix(b"\r").unwrap_or(content) == line.as_bytes() {
            out.extend_from_slice(raw);
        } else {
            changed = true;
            out.extend_from_slice(line.as_bytes());
            if content.ends_with(b"\r") {
                out.push(b'\r');
            }
            out.extend_from_slice(if terminator.is_empty() {
                b"\n"
            } else {
                terminator
            });
        }
    }
    if found {
        return if changed {
            Merge::Updated(out)
        } else {
            Merge::Unchanged
        };
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    Merge::Added(out)
}

/// What revoking a key does to the file: the new content and the 1-based numbers of the
/// lines that go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub content: Vec<u8>,
    pub lines: Vec<usize>,
}

/// Takes out every line holding the key whose data is `data`, whatever its options or
/// comment, keeping every other byte (comments, blank lines, CRLF, a missing final
/// newline). A `cert-authority` line with the same key is a CA entry, not a login key,
/// and stays, as in `merge`.
pub fn remove(existing: &[u8], data: &str) -> Removal {
    let mut content = Vec::with_capacity(existing.len());
    let mut lines = Vec::new();
    for (index, raw) in split_keep_terminator(existing).enumerate() {
        let (text, _) = split_terminator(raw);
        let holds_key = parse_line(&String::from_utf8_lossy(text))
            .is_some_and(|e| same_key(&e.data, data) && !is_cert_authority(&e));
        if holds_key {
            lines.push(index + 1);
        } else {
            content.extend_from_slice(raw);
        }
    }
    Removal { content, lines }
}

/// Every key line with its 1-based line number, as sshd reads them in order.
pub fn numbered_entries(existing: &[u8]) -> Vec<(usize, Entry)> {
    split_keep_terminator(existing)
        .enumerate()
        .filter_map(|(index, raw)| {
            parse_line(&String::from_utf8_lossy(split_terminator(raw).0)).map(|e| (index + 1, e))
        })
        .collect()
}

/// Whether two key data words are the same key to sshd, which compares decoded keys: an
/// RSA key written with redundant leading zeros is the same key.
pub fn same_key(a: &str, b: &str) -> bool {
    a == b
        || match (key::identity(a), key::identity(b)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
}

fn is_cert_authority(entry: &Entry) -> bool {
    KeyOptions::parse(entry.options.as_deref()).is_ok_and(|o| o.cert_authority)
}

/// Whether the file already grants this key (any options; a cert-authority entry for it
/// grants no login).
pub fn contains_key(existing: &[u8], data: &str) -> bool {
    login_entry(existing, data).is_some()
}

/// The first entry for the key, as sshd would find it (non-UTF-8 lines included; their
/// odd bytes come back as U+FFFD).
pub fn find_entry(existing: &[u8], data: &str) -> Option<Entry> {
    entries(existing).find(|e| same_key(&e.data, data))
}

/// Number of key lines, for reports ("3 keys already installed").
pub fn key_count(existing: &[u8]) -> usize {
    entries(existing).count()
}

fn entries(existing: &[u8]) -> impl Iterator<Item = Entry> + '_ {
    split_keep_terminator(existing)
        .filter_map(|raw| parse_line(&String::from_utf8_lossy(split_terminator(raw).0)))
}

fn split_keep_terminator(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split_inclusive(|b| *b == b'\n')
}

fn split_terminator(raw: &[u8]) -> (&[u8], &[u8]) {
    match raw.strip_suffix(b"\n") {
        Some(content) => (content, &raw[content.len()..]),
        None => (raw, &[]),
    }
}

/// How the vendor may use the key, and from where and until when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Install as the guide does: no restrictions, a login shell.
    pub allow_shell: bool,
    pub permit_open: Vec<PermitOpen>,
    /// `from=`: only these addresses may use the key (`--from-vendor-ips`); empty: any.
    pub from: Vec<IpAddr>,
    /// `expiry-time=`: sshd refuses the key after this day (`--expires`).
    pub expires: Option<Expires>,
}

impl Access {
    /// The tunnel's restrictions alone (what `verify`'s probe line copies; it brings its
    /// own `from=` and `expiry-time=`).
    pub fn options(&self) -> Option<String> {
        if self.allow_shell && self.permit_open.is_empty() {
            return None;
        }
        let mut options = if self.allow_shell {
            Vec::new()
        } else {
            vec!["restrict".to_string(), "port-forwarding".to_string()]
        };
        options.extend(
            self.permit_open
                .iter()
                .map(|p| format!("permitopen=\"{p}\"")),
        );
        Some(options.join(","))
    }

    /// Every option of the vendor's line: `from=` and `expiry-time=` first, then the
    /// tunnel's restrictions.
    pub fn line_options(&self) -> Option<String> {
        let mut options = Vec::new();
        if !self.from.is_empty() {
            let addrs: Vec<String> = self.from.iter().map(IpAddr::to_string).collect();
            options.push(format!("from=\"{}\"", addrs.join(",")));
        }
        if let Some(expires) = self.expires {
            options.push(format!("expiry-time=\"{}\"", expires.expiry_time()));
        }
        options.extend(self.options());
        (!options.is_empty()).then(|| options.join(","))
    }

    /// The exact line written to authorized_keys.
    pub fn line_for(&self, key: &Key) -> String {
        match self.line_options() {
            Some(options) => format!("{options} {}", key.canonical()),
            None => key.canonical(),
        }
    }
}

/// The last day the key works (`--expires`). The line says that day's 23:59:59 without
/// a zone, which sshd reads in the host's time zone: every sshd since 7.7 reads that form,
/// while a UTC time (`...Z`) needs OpenSSH 9.1 and makes older ones ignore the whole line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expires(pub Date);

impl Expires {
    /// `YYYY-MM-DD`, a real day, today or later on the host's calendar (`today`).
    pub fn parse(text: &str, today: Date) -> Result<Expires, ExpiresError> {
        let text = text.trim();
        let Some(date) = Date::parse_iso(text) else {
            let shaped = text.len() == 10
                && text.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            return Err(if shaped {
                ExpiresError::NoSuchDay(text.to_string())
            } else {
                ExpiresError::NotADate(text.to_string())
            });
        };
        if date < today {
            return Err(ExpiresError::Past { date, today });
        }
        Ok(Expires(date))
    }

    /// The `expiry-time` value: the day's last second, host time.
    pub fn expiry_time(self) -> String {
        let Date { year, month, day } = self.0;
        format!("{year:04}{month:02}{day:02}235959")
    }
}

/// Why an expiry date was refused; each says what to give instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpiresError {
    NotADate(String),
    NoSuchDay(String),
    Past { date: Date, today: Date },
}

impl fmt::Display for ExpiresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpiresError::NotADate(text) => write!(
                f,
                "\"{text}\" is not a date: give the key's last day as YYYY-MM-DD, for example 2027-06-30"
            ),
            ExpiresError::NoSuchDay(text) => {
                write!(f, "{text} is not a day of the calendar: give a real date as YYYY-MM-DD")
            }
            ExpiresError::Past { date, today } => write!(
                f,
                "{date} is in the past (today is {today} on this host): give today or a later day"
            ),
        }
    }
}

impl std::error::Error for ExpiresError {}

/// A forwarding target for `permitopen`. Validated strictly, since it is written inside
/// an options field where a stray quote or comma would inject options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermitOpen {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for PermitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why a `HOST:PORT` target was refused; each says what to type instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// Not `HOST:PORT` at all (the whole input, trimmed).
    NotHostPort(String),
    /// A connection URL: the `HOST:PORT` inside it is what is wanted.
    Url {
        input: String,
        scheme: String,
        host_port: String,
    },
    /// In brackets, but not an IPv6 address.
    NotIpv6(String),
    /// An IPv6 address without its brackets.
    Unbracketed { host: String, port: String },
    /// Neither a host name nor an IPv4 address.
    BadHost(String),
    /// Not a number from 1 to 65535.
    BadPort(String),
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::NotHostPort(s) => write!(
                f,
                "\"{s}\" is not HOST:PORT (for example db.internal:5432 or [fd00::5]:5432)"
            ),
            TargetError::Url {
                input,
                scheme,
                host_port,
            } => write!(
                f,
                "\"{input}\" is a {scheme} URL: give only its HOST:PORT, here {host_port}"
            ),
            TargetError::NotIpv6(host) => write!(f, "\"{host}\" is not an IPv6 address"),
            TargetError::Unbracketed { host, port } => {
                write!(f, "put an IPv6 address in brackets: [{host}]:{port}")
            }
            TargetError::BadHost(host) => {
                write!(f, "\"{host}\" is not a valid host name or IPv4 address")
            }
            TargetError::BadPort(port) => {
                write!(f, "\"{port}\" is not a port: use a number from 1 to 65535")
            }
        }
    }
}

impl std::error::Error for TargetError {}

impl std::str::FromStr for PermitOpen {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, TargetError> {
        let (host, port) = split_host_port(s)?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| TargetError::BadPort(port.to_string()))?;
        Ok(PermitOpen { host, port })
    }
}

/// Splits `host:port` or `[v6]:port`, checking the host is a plain name or address.
pub fn split_host_port(s: &str) -> Result<(String, &str), TargetError> {
    let s = s.trim();
    let bad = || TargetError::NotHostPort(s.to_string());
    if let Some((scheme, rest)) = s.split_once("://") {
        // A connection URL (postgres://user@db:5432/name): say which part is wanted.
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        return Err(TargetError::Url {
            input: s.to_string(),
            scheme: scheme.to_string(),
            host_port: host_port.to_string(),
        });
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or_else(bad)?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(TargetError::NotIpv6(host.to_string()));
        }
        (host, port)
    } else {
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        if host.contains(':') {
            return Err(TargetError::Unbracketed {
                host: host.to_string(),
                port: port.to_string(),
            });
        }
        if !is_hostname(host) {
            return Err(TargetError::BadHost(host.to_string()));
        }
        (host, port)
    };
    Ok((host.to_string(), port))
}

fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// What a key line's options allow, as sshd's option parser reads them in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyOptions {
    pub port_forwarding: bool,
    pub permit_open: Vec<String>,
    pub from: Option<String>,
    /// `expiry-time` as written (`YYYYMMDD[HHMM[SS]][Z]`).
    pub expiry_time: Option<String>,
    pub cert_authority: bool,
}

/// Options sshd knows; any other makes sshd ignore the whole line.
const FLAG_OPTIONS: &[&str] = &[
    "restrict",
    "cert-authority",
    "port-forwarding",
    "no-port-forwarding",
    "agent-forwarding",
    "no-agent-forwarding",
    "x11-forwarding",
    "no-x11-forwarding",
    "pty",
    "no-pty",
    "user-rc",
    "no-user-rc",
    "touch-required",
    "no-touch-required",
    "verify-required",
    "no-verify-required",
];
const VALUE_OPTIONS: &[&str] = &[
    "command",
    "principals",
    "from",
    "expiry-time",
    "environment",
    "permitopen",
    "permitlisten",
    "tunnel",
];

impl KeyOptions {
    /// Parses an options field; `Err` names the option that makes sshd skip the line.
    pub fn parse(options: Option<&str>) -> Result<KeyOptions, String> {
        let mut parsed = KeyOptions {
            port_forwarding: true,
            ..KeyOptions::default()
        };
        let Some(text) = options else {
            return Ok(parsed);
        };
        let mut rest = text;
        while !rest.is_empty() {
            let name_end = rest.find(['=', ',']).unwrap_or(rest.len());
            let name = rest[..name_end].to_ascii_lowercase();
            rest = &rest[name_end..];
            let value = match rest.strip_prefix('=') {
                Some(after) => {
                    let (value, after) = dequote(after)
                        .ok_or_else(|| format!("option {name} has a badly quoted value"))?;
                    rest = after;
                    Some(value)
                }
                None => None,
            };
            match (name.as_str(), value) {
                ("restrict", None) => parsed.port_forwarding = false,
                ("port-forwarding", None) => parsed.port_forwarding = true,
                ("no-port-forwarding", None) => parsed.port_forwarding = false,
                ("cert-authority", None) => parsed.cert_authority = true,
                ("permitopen", Some(v)) => parsed.permit_open.push(v),
                ("from", Some(v)) => parsed.from = Some(v),
                ("expiry-time", Some(v)) => parsed.expiry_time = Some(v),
                (flag, None) if FLAG_OPTIONS.contains(&flag) => {}
                (option, Some(_)) if VALUE_OPTIONS.contains(&option) => {}
                (other, _) => return Err(format!("unknown or malformed option \"{other}\"")),
            }
            match rest.strip_prefix(',') {
                Some(after) => rest = after,
                None if rest.is_empty() => {}
                None => return Err("options are not separated by commas".into()),
            }
        }
        Ok(parsed)
    }

    /// Why this host's sshd ignores the whole line: an option newer than it is.
    pub fn too_new_for(&self, version: Option<Version>) -> Option<String> {
        let (version, expiry) = (version?, self.expiry_time.as_deref()?);
        let utc = expiry.ends_with(['Z', 'z']);
        let needs = if utc {
            Version::EXPIRY_TIME_UTC
        } else {
            Version::EXPIRY_TIME
        };
        (version < needs).then(|| {
            format!(
                "this host's sshd ({version}) does not know expiry-time{} ({needs} and later) and ignores the whole line",
                if utc { " in UTC (…Z)" } else { "" }
            )
        })
    }

    /// Why this line cannot open the vendor's tunnel from every address to every target,
    /// judged at `now` (the host's clock, or seconds since 1970 read as UTC).
    pub fn tunnel_problem(
        &self,
        vendor_addrs: &[std::net::IpAddr],
        targets: &[PermitOpen],
        now: impl Into<Clock>,
    ) -> Option<String> {
        let clock: Clock = now.into();
        if self.cert_authority {
            return Some("the line is a cert-authority entry, not a login key".into());
        }
        if !self.port_forwarding {
            return Some(
                "its options forbid forwarding (restrict without port-forwarding, or no-port-forwarding)"
                    .into(),
            );
        }
        if !self.permit_open.is_empty() {
            let refused: Vec<String> = targets
                .iter()
                .filter(|t| !self.permit_open.iter().any(|p| permit_open_matches(p, t)))
                .map(|t| t.to_string())
                .collect();
            if !refused.is_empty() {
                return Some(format!(
                    "its permitopen ({}) does not allow {} (sshd compares the exact text)",
                    self.permit_open.join(", "),
                    refused.join(", ")
                ));
            }
        }
        if let Some(from) = &self.from {
            let excluded: Vec<String> = vendor_addrs
                .iter()
                .filter(|a| !crate::patterns::match_host_and_ip(&a.to_string(), **a, from))
                .map(|a| a.to_string())
                .collect();
            if !excluded.is_empty() {
                return Some(format!(
                    "its from=\"{from}\" excludes the vendor's {}",
                    excluded.join(", ")
                ));
            }
        }
        if let Some(expiry) = &self.expiry_time {
            match ExpiryTime::parse(expiry) {
                Some(at) if at.has_passed(&clock) => {
                    return Some(format!(
                        "its expiry-time {expiry} has passed (its last day was {}): sshd refuses the key",
                        at.last_day(&clock)
                    ))
                }
                None => return Some(format!("its expiry-time {expiry} is not a time sshd reads")),
                _ => {}
            }
        }
        None
    }
}

/// A quoted option value, `\"` being the only escape; returns it and the rest.
fn dequote(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some((_, '"'))) => {
                chars.next();
                value.push('"');
            }
            '"' => return Some((value, &body[i + 1..])),
            _ => value.push(c),
        }
    }
    None
}

fn permit_open_matches(allowed: &str, target: &PermitOpen) -> bool {
    let Some((host, port)) = allowed.rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host == "*" || host == target.host) && (port == "*" || port == target.port.to_string())
}

/// The first line sshd would use for this key: the first whose key data matches and that
/// is not a cert-authority entry.
pub fn login_entry(existing: &[u8], data: &str) -> Option<Entry> {
    entries(existing).find(|e| same_key(&e.data, data) && !is_cert_authority(e))
}

/// Every key line sshd would use to log in (cert-authority entries and lines with options
/// sshd rejects left out).
pub fn login_entries(existing: &[u8]) -> Vec<(Entry, KeyOptions)> {
    entries(existing)
        .filter_map(|e| {
            let options = KeyOptions::parse(e.options.as_deref()).ok()?;
            (!options.cert_authority).then_some((e, options))
        })
        .collect()
}

#[cfg(test)]
mod option_tests {
    use super::*;

    #[test]
    fn a_url_is_told_to_give_its_host_and_port() {
        let err = split_host_port("postgres://app@db.internal:5432/sales")
            .unwrap_err()
            .to_string();
        assert!(err.contains("postgres URL"), "{err}");
        assert!(err.ends_with("here db.internal:5432"), "{err}");
    }

    #[test]
    fn options_are_read_in_order() {
        let o = KeyOptions::parse(Some("restrict,port-forwarding")).unwrap();
        assert!(o.port_forwarding);
        let o = KeyOptions::parse(Some("port-forwarding,restrict")).unwrap();
        assert!(!o.port_forwarding);
        let o =
            KeyOptions::parse(Some(r#"from="10.0.0.1,!1.2.3.4",permitopen="db:5432""#)).unwrap();
        assert_eq!(o.from.as_deref(), Some("10.0.0.1,!1.2.3.4"));
        assert_eq!(o.permit_open, vec!["db:5432".to_string()]);
        assert!(KeyOptions::parse(Some("no-such-option")).is_err());
        let o = KeyOptions::parse(Some(r#"command="echo \"hi\" \x""#)).unwrap();
        assert!(o.port_forwarding);
    }
}

#[cfg(test)]
mod line_option_tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGigvIkuoFiN2XJPT/4vCNRDzl4mjSdOfYmKFuJCHDfH whaly";

    fn today() -> Date {
        Date::parse_iso("2026-11-27").unwrap()
    }

    #[test]
    fn the_line_carries_from_and_expiry_before_the_tunnel_options() {
        let key = key::parse(KEY).unwrap();
        let access = Access {
            from: vec![
                "34.22.141.3".parse().unwrap(),
                "2001:db8::5".parse().unwrap(),
            ],
            expires: Some(Expires::parse("2026-12-31", today()).unwrap()),
            ..Access::default()
        };
        assert_eq!(
            access.line_for(&key),
            format!("from=\"34.22.141.3,2001:db8::5\",expiry-time=\"20261231235959\",restrict,port-forwarding {KEY}")
        );
        assert_eq!(
            access.options().as_deref(),
            Some("restrict,port-forwarding")
        );
        let shell = Access {
            allow_shell: true,
            expires: access.expires,
            ..Access::default()
        };
        assert_eq!(
            shell.line_for(&key),
            format!("expiry-time=\"20261231235959\" {KEY}")
        );
        // What we write, we read back as sshd does.
        let parsed = KeyOptions::parse(access.line_options().as_deref()).unwrap();
        assert_eq!(parsed.from.as_deref(), Some("34.22.141.3,2001:db8::5"));
        assert_eq!(parsed.expiry_time.as_deref(), Some("20261231235959"));
        assert!(parsed.port_forwarding);
    }

    #[test]
    fn an_expiry_date_is_refused_unless_real_and_not_past() {
        assert_eq!(
            Expires::parse("2026-11-27", today()).unwrap().expiry_time(),
            "20261127235959",
            "today is the last day, not already over"
        );
        for (text, words) in [
            (
                "2026-11-26",
                "2026-11-26 is in the past (today is 2026-11-27 on this host)",
            ),
            ("2026-02-30", "2026-02-30 is not a day of the calendar"),
            ("2027-02-29", "2027-02-29 is not a day of the calendar"),
            ("26-1-1", "\"26-1-1\" is not a date"),
            ("garbage", "\"garbage\" is not a date"),
            ("", "\"\" is not a date"),
        ] {
            let err = Expires::parse(text, today()).unwrap_err().to_string();
            assert!(err.starts_with(words), "{text}: {err}");
            assert_eq!(err.matches(". ").count(), 0, "one sentence: {err}");
        }
    }
}
