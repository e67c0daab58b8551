//! `vendor_attempts`: what sshd's log says about the tunnel user's recent logins, read
//! from journald, /var/log/auth.log or /var/log/secure (bounded), in plain words.
//!
//! Every read is bounded in age ([`SINCE_DAYS`]), in lines ([`MAX_LINES`]), in bytes
//! ([`MAX_TAIL_BYTES`], [`MAX_JOURNAL_BYTES`]) and in time ([`JOURNAL_TIMEOUT`]): `status`
//! runs this reader beside `sshd -T` and must not wait on a busy host's months of log.
//! An auth.log of gigabytes is read from its last 2 MiB only, and a journalctl that
//! hangs (a locked or corrupt journal) is killed.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::checks::{Check, CheckId, Status};

/// How far back the log is read: a vendor's last try is recent or no longer relevant.
pub const SINCE_DAYS: i64 = 14;
/// At most this many sshd lines are looked at, newest kept.
pub const MAX_LINES: usize = 5000;
/// At most this much of the end of a log file is read.
pub const MAX_TAIL_BYTES: u64 = 2 << 20;
/// At most this much of journalctl's output is read (5000 short JSON entries fit).
pub const MAX_JOURNAL_BYTES: u64 = 8 << 20;
/// journalctl is killed after this long.
pub const JOURNAL_TIMEOUT: Duration = Duration::from_secs(3);

/// What the log says about the user's logins; `Default` is "no log read".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempts {
    /// The user the lines were read for.
    pub user: String,
    /// Where the lines came from ("journald", "/var/log/auth.log"), when a log was read.
    pub source: Option<String>,
    /// Why no log could be read, when none could.
    pub unreadable: Option<String>,
    pub last_accepted: Option<Accepted>,
    pub last_refused: Option<Refused>,
    /// The latest attempt of the two was the refusal.
    pub last_was_refused: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// As the log gives it, normalised to RFC 3339 where the year is known; a classic
    /// syslog time has no offset and stays in the host's local time.
    pub time: String,
    pub addr: String,
    /// `SHA256:…` of the key that logged in.
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub time: String,
    pub addr: Option<String>,
    pub reason: Reason,
    /// sshd's own words, for the detail view.
    pub line: String,
    /// The line names no user and its pid could not be tied to one of the user's
    /// sessions: it was taken as theirs because it is the latest such line after
    /// their last login.
    pub guessed: bool,
}

/// Why sshd refused, as far as the log tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// StrictModes: `path` is writable by group/other or owned by someone else.
    BadModes {
        path: String,
    },
    /// AllowUsers, DenyUsers, AllowGroups or DenyGroups (`rule` is the keyword).
    NotAllowed {
        rule: String,
    },
    /// `!` in /etc/shadow under `UsePAM no`.
    Locked,
    ShellMissing {
        shell: String,
    },
    /// The key's signature algorithm is not in PubkeyAcceptedAlgorithms.
    Algorithm {
        algorithm: String,
    },
    /// A forward refused by AllowTcpForwarding/DisableForwarding, or (`permit_open`)
    /// one not admitted by a PermitOpen or the key's `permitopen`.
    ForwardingProhibited {
        target: String,
        permit_open: bool,
    },
    /// sshd could not reach the forward's target.
    ConnectFailed {
        target: String,
        why: String,
    },
    /// The client gave up: no offered key was accepted.
    KeyNotAccepted,
    /// The account does not exist.
    UnknownUser,
    /// PAM's account stage said no (expiry, /etc/nologin, pam_access).
    PamDenied {
        detail: Option<String>,
    },
    Other,
}

impl Reason {
    /// The checks that would catch this cause while it holds; none when no check can tell.
    pub fn check_ids(&self) -> Vec<CheckId> {
        match self {
            Reason::BadModes { path } => vec![mode_check(path)],
            Reason::NotAllowed { .. } => vec![CheckId::SshdUserAllowed],
            Reason::Locked => vec![CheckId::AccountUnlocked],
            Reason::ShellMissing { .. } => vec![CheckId::Shell],
            Reason::Algorithm { .. } => vec![CheckId::SshdKeyAlgorithm],
            Reason::ForwardingProhibited { .. } => {
                vec![CheckId::SshdForwarding, CheckId::KeyInstalled]
            }
            Reason::ConnectFailed { .. } => vec![CheckId::PortSshToDb],
            Reason::KeyNotAccepted => vec![CheckId::KeyInstalled],
            Reason::UnknownUser => vec![CheckId::User],
            Reason::PamDenied { .. } | Reason::Other => vec![],
        }
    }

    /// sshd's reason in plain words.
    pub fn plain(&self, user: &str) -> String {
        match self {
            Reason::BadModes { path } => format!(
                "{path} was writable by group or others, or owned by someone other than {user} or root, so sshd ignored the key file (StrictModes)"
            ),
            Reason::NotAllowed { rule } => {
                format!("sshd's {rule} setting shuts {user} out")
            }
            Reason::Locked => format!(
                "the account {user} is locked (`!` in /etc/shadow) and sshd runs with UsePAM no"
            ),
            Reason::ShellMissing { shell } => {
                format!("{user}'s login shell {shell} is missing or not executable")
            }
            Reason::Algorithm { algorithm } => format!(
                "the vendor's client signed with {algorithm}, which sshd's PubkeyAcceptedAlgorithms does not admit"
            ),
            Reason::ForwardingProhibited {
                target,
                permit_open: false,
            } => format!(
                "the login worked but sshd refused the tunnel to {target}: forwarding is off (AllowTcpForwarding or DisableForwarding)"
            ),
            Reason::ForwardingProhibited {
                target,
                permit_open: true,
            } => format!(
                "the login worked but sshd refused the tunnel to {target}: that target is not in PermitOpen or the key's permitopen"
            ),
            Reason::ConnectFailed { target, why } => format!(
                "the tunnel opened but this host could not reach the database at {target} ({why})"
            ),
            Reason::KeyNotAccepted => format!(
                "the vendor's client gave up: no key it offered is accepted for {user}"
            ),
            Reason::UnknownUser => format!("the user {user} did not exist"),
            Reason::PamDenied { detail } => match detail {
                Some(d) => format!("PAM refused the account: {d}"),
                None => "PAM refused the account (an expired account, /etc/nologin or pam_access)"
                    .into(),
            },
            Reason::Other => "sshd refused the login".into(),
        }
    }

    /// What to do about it, as commands where there is one.
    pub fn fix(&self, user: &str) -> String {
        match self {
            Reason::BadModes { path } => format!(
                "`sudo bastion-wizard apply` sets the modes; by hand: `chmod go-w {path}` and make it owned by {user} (or root): `chown {user} {path}`"
            ),
            Reason::NotAllowed { rule } => format!(
                "`sudo bastion-wizard apply --fix-sshd` adds {user} to the {rule} line; by hand, edit that line in /etc/ssh/sshd_config (or its drop-in) and `systemctl reload ssh`"
            ),
            Reason::Locked => format!(
                "`sudo usermod -p '*' {user}` (key login, no password), or `sudo bastion-wizard apply`"
            ),
            Reason::ShellMissing { .. } => format!(
                "`sudo usermod -s /usr/sbin/nologin {user}`, or `sudo bastion-wizard apply`"
            ),
            Reason::Algorithm { algorithm } => format!(
                "`sudo bastion-wizard apply --fix-sshd` admits it for {user}; by hand: `PubkeyAcceptedAlgorithms +{algorithm}` in a `Match User {user}` block, then `systemctl reload ssh`"
            ),
            Reason::ForwardingProhibited { .. } => format!(
                "`sudo bastion-wizard apply --fix-sshd` allows the forward for {user}; if the key line has `permitopen` or `restrict`, `sudo bastion-wizard apply --key-file KEY` rewrites it"
            ),
            Reason::ConnectFailed { target, .. } => format!(
                "make the database listen on {target} and let this host reach it (its firewall or security group); test with `sudo bastion-wizard status --db {target}`"
            ),
            Reason::KeyNotAccepted => format!(
                "install the key the vendor gave you for {user}: `sudo bastion-wizard apply --key-file KEY`; if it is installed, compare its fingerprint with the one in the vendor's form, and prove it with `sudo bastion-wizard verify`"
            ),
            Reason::UnknownUser => "`sudo bastion-wizard apply` creates the user".into(),
            Reason::PamDenied { .. } => format!(
                "`sudo chage -l {user}` (then `sudo chage -E -1 {user}` if it expired); remove /etc/nologin; look at /etc/security/access.conf"
            ),
            Reason::Other => format!(
                "read sshd's line above, and the lines around it: `sudo journalctl -t sshd --since -1d | grep {user}`; `sudo bastion-wizard verify` proves the tunnel"
            ),
        }
    }
}

/// Which mode check covers `path`: the key file, the ~/.ssh directory, or the home.
fn mode_check(path: &str) -> CheckId {
    let path = path.trim_end_matches('/');
    if path.ends_with("/.ssh") {
        CheckId::SshDir
    } else if path.contains("/.ssh/") {
        CheckId::AuthorizedKeys
    } else {
        CheckId::Home
    }
}

/// Where [`read_from`] looks; the system's in [`Sources::system`], fixtures in tests.
#[derive(Debug, Clone)]
pub struct Sources {
    /// journalctl and its arguments; `None` skips journald.
    pub journal: Option<Vec<String>>,
    /// Syslog files, tried in order after journald.
    pub files: Vec<PathBuf>,
    /// The present, for the two-week window and the year of classic syslog times.
    pub now: SystemTime,
    pub timeout: Duration,
}

impl Sources {
    pub fn system() -> Sources {
        let mut journal = vec![
            "journalctl".to_string(),
            "--quiet".into(),
            "--no-pager".into(),
            "--output=json".into(),
            "--output-fields=MESSAGE,SYSLOG_IDENTIFIER,SYSLOG_PID,_PID".into(),
            format!("--since=-{SINCE_DAYS}d"),
            format!("--lines={MAX_LINES}"),
        ];
        // sshd, and sshd-session (OpenSSH >= 9.8), as they name themselves to syslog.
        for ident in ["sshd", "sshd-session", "sshd-auth"] {
            journal.push(format!("--identifier={ident}"));
        }
        Sources {
            journal: Some(journal),
            files: vec!["/var/log/auth.log".into(), "/var/log/secure".into()],
            now: SystemTime::now(),
            timeout: JOURNAL_TIMEOUT,
        }
    }
}

/// Reads the last two weeks of sshd's log (bounded), as root.
pub fn read(user: &str, is_root: bool) -> Attempts {
    if !is_root {
        return Attempts {
            user: user.to_string(),
            unreadable: Some(
                "the sshd log is readable by root only: run as root (sudo) to see the vendor's logins"
                    .into(),
            ),
            ..Attempts::default()
        };
    }
    read_from(user, &Sources::system())
}

/// journald first; a file when journald has no sshd lines (no journald, or a volatile
/// journal while rsyslog keeps the history).
pub fn read_from(user: &str, sources: &Sources) -> Attempts {
    let now = epoch_secs(sources.now);
    let mut why_not = Vec::new();
    if let Some(cmd) = &sources.journal {
        match run_bounded(cmd, sources.timeout) {
            Ok(out) => {
                let lines = parse_journal_json(&out, now);
                if !lines.is_empty() {
                    return attempts(user, "journald", &lines);
                }
                why_not.push("journald has no sshd lines".to_string());
            }
            Err(e) => why_not.push(e),
        }
    }
    for path in &sources.files {
        match tail(path, MAX_TAIL_BYTES) {
            Ok(text) => {
                let lines = parse_syslog(&text, now);
                if !lines.is_empty() {
                    return attempts(user, &path.display().to_string(), &lines);
                }
                why_not.push(format!("{} has no sshd lines", path.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                why_not.push(format!("there is no {}", path.display()))
            }
            Err(e) => why_not.push(format!("{}: {e}", path.display())),
        }
    }
    Attempts {
        user: user.to_string(),
        unreadable: Some(format!(
            "no sshd log of the last {SINCE_DAYS} days was found: {}",
            why_not.join("; ")
        )),
        ..Attempts::default()
    }
}

/// Runs `cmd`, reads at most [`MAX_JOURNAL_BYTES`] of its output, kills it at `timeout`.
fn run_bounded(cmd: &[String], timeout: Duration) -> Result<String, String> {
    let (prog, args) = cmd.split_first().ok_or("no journalctl command")?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{prog} is not installed"),
            _ => format!("{prog} could not be run: {e}"),
        })?;
    let mut stdout = child.stdout.take().ok_or("no pipe from journalctl")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let read = (&mut stdout).take(MAX_JOURNAL_BYTES).read_to_end(&mut buf);
        let _ = tx.send(read.map(|_| buf));
    });
    let out = match rx.recv_timeout(timeout) {
        Ok(Ok(buf)) => Ok(buf),
        Ok(Err(e)) => Err(format!("{prog}: {e}")),
        Err(_) => Err(format!(
            "{prog} did not answer within {} s",
            timeout.as_secs_f32()
        )),
    };
    // Done reading (or out of time or bytes): never wait on it any longer.
    let _ = child.kill();
    let _ = child.wait();
    out.map(|buf| String::from_utf8_lossy(&buf).into_owned())
}

/// The last `max` bytes of the file, from the first whole line on.
fn tail(path: &std::path::Path, max: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(max).read_to_end(&mut buf)?;
    let from = if start > 0 {
        buf.iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| i + 1)
    } else {
        0
    };
    Ok(String::from_utf8_lossy(&buf[from..]).into_owned())
}

/// One sshd line: time, pid, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub time: String,
    pub pid: Option<u32>,
    pub msg: String,
}

/// `journalctl -o json`: one object per line. MESSAGE is an array of bytes when it is
/// not UTF-8.
pub fn parse_journal_json(text: &str, now: i64) -> Vec<Line> {
    let mut lines = Vec::new();
    for raw in text.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(raw) else {
            continue;
        };
        let ident = entry.get("SYSLOG_IDENTIFIER").and_then(|v| v.as_str());
        if !ident.is_some_and(is_sshd) {
            continue;
        }
        let msg = match entry.get("MESSAGE") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(bytes)) => {
                let bytes: Vec<u8> = bytes
                    .iter()
                    .filter_map(|b| b.as_u64().map(|b| b as u8))
                    .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => continue,
        };
        let micros = entry
            .get("__REALTIME_TIMESTAMP")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<i64>().ok());
        let Some(secs) = micros.map(|m| m / 1_000_000) else {
            continue;
        };
        if secs < now - SINCE_DAYS * 86_400 {
            continue;
        }
        let pid = ["SYSLOG_PID", "_PID"]
            .iter()
            .find_map(|k| entry.get(*k).and_then(|v| v.as_str()))
            .and_then(|s| s.parse().ok());
        lines.push(Line {
            time: rfc3339_utc(secs),
            pid,
            msg,
        });
    }
    keep_last(lines)
}

/// auth.log / secure: classic (`Nov 27 09:51:01 host sshd[1]: …`) or RFC 3339
/// (`2026-11-27T09:51:01.123456+00:00 host sshd[1]: …`) prefixes; other programs'
/// lines and lines older than two weeks are dropped.
pub fn parse_syslog(text: &str, now: i64) -> Vec<Line> {
    let lines = text
        .lines()
        .filter_map(|l| parse_syslog_line(l, now))
        .filter(|(secs, _)| *secs >= now - SINCE_DAYS * 86_400)
        .map(|(_, line)| line)
        .collect();
    keep_last(lines)
}

fn keep_last(mut lines: Vec<Line>) -> Vec<Line> {
    if lines.len() > MAX_LINES {
        lines.drain(..lines.len() - MAX_LINES);
    }
    lines
}

fn is_sshd(ident: &str) -> bool {
    matches!(ident, "sshd" | "sshd-session" | "sshd-auth")
}

/// (epoch seconds, line) of an sshd line.
fn parse_syslog_line(line: &str, now: i64) -> Option<(i64, Line)> {
    let (secs, time, rest) = if line.as_bytes().first()?.is_ascii_digit() {
        let (stamp, rest) = line.split_once(' ')?;
        let (secs, time) = parse_rfc3339(stamp)?;
        (secs, time, rest)
    } else {
        // "Nov 27 09:51:01" and "Nov  7 09:51:01": 15 characters.
        let stamp = line.get(..15)?;
        let (secs, time) = parse_classic(stamp, now)?;
        (secs, time, line.get(16..)?)
    };
    let (_host, rest) = rest.split_once(' ')?;
    let (tag, msg) = rest.split_once(": ")?;
    let (ident, pid) = match tag.split_once('[') {
        Some((ident, pid)) => (ident, pid.strip_suffix(']')?.parse().ok()),
        None => (tag, None),
    };
    if !is_sshd(ident) {
        return None;
    }
    Some((
        secs,
        Line {
            time,
            pid,
            msg: msg.to_string(),
        },
    ))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A classic stamp has no year: the current one, or the previous one if that would
/// put it more than a day in the future. Its zone is unknown, taken as UTC for the
/// window; shown without an offset.
fn parse_classic(stamp: &str, now: i64) -> Option<(i64, String)> {
    let name = stamp.get(..3)?;
    let month = MONTHS.iter().position(|m| *m == name)? as u32 + 1;
    let day: u32 = stamp.get(4..6)?.trim_start().parse().ok()?;
    let (h, mi, s) = hms(stamp.get(7..15)?)?;
    let (year, _, _) = civil_from_days(now.div_euclid(86_400));
    let at = |y: i64| days_from_civil(y, month, day) * 86_400 + h * 3600 + mi * 60 + s;
    let year = if at(year) > now + 86_400 {
        year - 1
    } else {
        year
    };
    Some((
        at(year),
        format!("{year:04}-{month:02}-{day:02}T{}", stamp.get(7..15)?),
    ))
}

/// `2026-11-27T09:51:01[.frac](Z|+00:00|+0000)`, shown without the fraction.
fn parse_rfc3339(stamp: &str) -> Option<(i64, String)> {
    let b = stamp.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let year: i64 = stamp.get(..4)?.parse().ok()?;
    let month: u32 = stamp.get(5..7)?.parse().ok()?;
    let day: u32 = stamp.get(8..10)?.parse().ok()?;
    let (h, mi, s) = hms(stamp.get(11..19)?)?;
    let mut rest = &stamp[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let (offset, shown) = if rest == "Z" {
        (0, "Z".to_string())
    } else {
        let sign = match rest.get(..1)? {
            "+" => 1,
            "-" => -1,
            _ => return None,
        };
        let digits = rest[1..].replace(':', "");
        if digits.len() != 4 {
            return None;
        }
        let oh: i64 = digits[..2].parse().ok()?;
        let om: i64 = digits[2..].parse().ok()?;
        (
            sign * (oh * 3600 + om * 60),
            format!("{}{}:{}", &rest[..1], &digits[..2], &digits[2..]),
        )
    };
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + s - offset;
    Some((secs, format!("{}{shown}", &stamp[..19])))
}

fn hms(s: &str) -> Option<(i64, i64, i64)> {
    let mut it = s.split(':').map(|p| p.parse::<i64>().ok());
    let t = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(t)
}

fn epoch_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rfc3339_utc(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// Who a pid's lines belong to, learned from the lines that name the user.
#[derive(Default)]
struct Pids {
    /// pid → user named on one of its lines (preauth and session processes).
    user: HashMap<u32, String>,
    /// pid → client address, where a line gives it.
    addr: HashMap<u32, String>,
}

/// (user, addr, port) of a line that names the user it is about.
fn names_user(msg: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let msg = msg.trim_end_matches(" [preauth]");
    for prefix in [
        "Connection closed by authenticating user ",
        "Disconnected from authenticating user ",
        "Connection reset by authenticating user ",
        "Connection closed by invalid user ",
        "Disconnected from invalid user ",
        "Disconnected from user ",
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let mut w = rest.split(' ');
            let user = w.next()?;
            let addr = w.next();
            let port = (w.next() == Some("port")).then(|| w.next()).flatten();
            return Some((user, addr, port));
        }
    }
    if let Some(rest) = msg.strip_prefix("Invalid user ") {
        return from_addr(rest);
    }
    if let Some(rest) = msg.strip_prefix("User ") {
        let (user, rest) = rest.split_once(' ')?;
        let addr = rest.strip_prefix("from ").and_then(|r| r.split(' ').next());
        return Some((user, addr, None));
    }
    if let Some(rest) = msg.strip_prefix("Accepted ") {
        return from_addr(rest.split_once(" for ")?.1);
    }
    if let Some(rest) = msg.strip_prefix("Failed ") {
        return from_addr(rest.split_once(" for ")?.1);
    }
    if let Some(rest) = msg.strip_prefix("maximum authentication attempts exceeded for ") {
        return from_addr(rest);
    }
    if let Some(rest) = msg.strip_prefix("fatal: Access denied for user ") {
        return Some((rest.split(' ').next()?, None, None));
    }
    None
}

/// "USER from ADDR port PORT ..."
fn from_addr(rest: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let mut w = rest.split(' ');
    let user = w.next()?;
    let addr = (w.next() == Some("from")).then(|| w.next()).flatten();
    let port = (w.next() == Some("port")).then(|| w.next()).flatten();
    Some((user, addr, port))
}

/// Reads the user's attempts out of sshd's lines, oldest first.
pub fn attempts(user: &str, source: &str, lines: &[Line]) -> Attempts {
    // Pass 1: tie pids to users. A session's child process names the user only on
    // "Disconnected from user", or via the client's address and port of its login.
    let mut pids = Pids::default();
    let mut logins: HashMap<(String, String), String> = HashMap::new();
    for l in lines {
        if let (Some(pid), Some((u, addr, port))) = (l.pid, names_user(&l.msg)) {
            pids.user.insert(pid, u.to_string());
            if let Some(a) = addr {
                pids.addr.insert(pid, a.to_string());
                if let (Some(p), true) = (port, l.msg.starts_with("Accepted ")) {
                    logins.insert((a.to_string(), p.to_string()), u.to_string());
                }
            }
        }
    }
    for l in lines {
        let Some(pid) = l.pid else { continue };
        let client = l
            .msg
            .strip_prefix("Received request from ")
            .or_else(|| l.msg.strip_prefix("Received disconnect from "));
        if let Some(rest) = client {
            let mut w = rest.split([' ', ':']);
            if let (Some(a), Some("port"), Some(p)) = (w.next(), w.next(), w.next()) {
                if let Some(u) = logins.get(&(a.to_string(), p.to_string())) {
                    pids.user.insert(pid, u.clone());
                    pids.addr.insert(pid, a.to_string());
                }
            }
        }
    }

    // Pass 2: events in order.
    let mut out = Attempts {
        user: user.to_string(),
        source: Some(source.to_string()),
        ..Attempts::default()
    };
    let mut explained: HashSet<u32> = HashSet::new();
    let mut pam_detail: HashMap<u32, String> = HashMap::new();
    let mut accepted_seen = false;
    for l in lines {
        let msg = l.msg.trim_end_matches(" [preauth]");
        let pid_user = l.pid.and_then(|p| pids.user.get(&p)).map(String::as_str);
        let ours = pid_user == Some(user);
        let addr = l.pid.and_then(|p| pids.addr.get(&p)).cloned();
        let refuse =
            |reason: Reason, guessed: bool, out: &mut Attempts, explained: &mut HashSet<u32>| {
                out.last_refused = Some(Refused {
                    time: l.time.clone(),
                    addr: addr.clone(),
                    reason,
                    line: l.msg.clone(),
                    guessed,
                });
                out.last_was_refused = true;
                if let Some(p) = l.pid {
                    explained.insert(p);
                }
            };

        if let Some(rest) = msg.strip_prefix("Accepted ") {
            let Some((_, who)) = rest.split_once(" for ") else {
                continue;
            };
            let Some((u, Some(a), _)) = from_addr(who) else {
                continue;
            };
            if u != user {
                continue;
            }
            let fingerprint = who
                .split(' ')
                .find(|w| w.starts_with("SHA256:") || w.starts_with("MD5:"))
                .map(str::to_string);
            out.last_accepted = Some(Accepted {
                time: l.time.clone(),
                addr: a.to_string(),
                fingerprint,
            });
            out.last_was_refused = false;
            accepted_seen = true;
            continue;
        }

        // Lines that name the user.
        if let Some(rest) = msg.strip_prefix("User ") {
            if let Some((u, why)) = rest.split_once(" not allowed because ") {
                if u.split(' ').next() == Some(user) {
                    refuse(not_allowed(why), false, &mut out, &mut explained);
                }
            }
            continue;
        }
        if let Some((u, _, _)) = msg.strip_prefix("Invalid user ").and_then(from_addr) {
            if u == user {
                refuse(Reason::UnknownUser, false, &mut out, &mut explained);
            }
            continue;
        }
        if let Some(rest) = msg.strip_prefix("fatal: Access denied for user ") {
            if rest.split(' ').next() == Some(user) && rest.contains("by PAM account") {
                let detail = l.pid.and_then(|p| pam_detail.get(&p)).cloned();
                refuse(
                    Reason::PamDenied { detail },
                    false,
                    &mut out,
                    &mut explained,
                );
            }
            continue;
        }
        if let Some(rest) = msg.strip_prefix("pam_unix(sshd:account): ") {
            if let (Some(p), Some(acct)) = (l.pid, rest.strip_prefix("account ")) {
                if acct.split(' ').next() == Some(user) {
                    pam_detail.insert(p, rest.to_string());
                }
            }
            continue;
        }
        if msg.starts_with("Connection closed by authenticating user ")
            || msg.starts_with("Disconnected from authenticating user ")
            || msg.starts_with("Connection reset by authenticating user ")
            || msg.starts_with("maximum authentication attempts exceeded for ")
        {
            let named = names_user(msg).map(|(u, _, _)| u);
            if named == Some(user) && !l.pid.is_some_and(|p| explained.contains(&p)) {
                refuse(Reason::KeyNotAccepted, false, &mut out, &mut explained);
            }
            continue;
        }

        // Preauth lines that name no user: theirs when the pid is.
        if let Some(rest) = msg.strip_prefix("Authentication refused: bad ownership or modes for ")
        {
            let path = rest
                .strip_prefix("directory ")
                .or_else(|| rest.strip_prefix("file "))
                .unwrap_or(rest);
            if ours || (pid_user.is_none() && path.split('/').any(|c| c == user)) {
                let reason = Reason::BadModes {
                    path: path.to_string(),
                };
                refuse(reason, !ours, &mut out, &mut explained);
            }
            continue;
        }
        if let Some(rest) = msg.strip_prefix("userauth_pubkey: ") {
            let algorithm = rest
                .strip_prefix("signature algorithm ")
                .or_else(|| rest.strip_prefix("key type "))
                .and_then(|r| r.strip_suffix(" not in PubkeyAcceptedAlgorithms"));
            if let (Some(algorithm), true) = (algorithm, ours) {
                let reason = Reason::Algorithm {
                    algorithm: algorithm.to_string(),
                };
                refuse(reason, false, &mut out, &mut explained);
            }
            continue;
        }

        // Session lines: the pid is tied to the user, or, untied, the line follows
        // their last login.
        let Some(reason) = session_refusal(msg) else {
            continue;
        };
        if ours {
            refuse(reason, false, &mut out, &mut explained);
        } else if pid_user.is_none() && accepted_seen {
            refuse(reason, true, &mut out, &mut explained);
        }
    }
    out
}

fn not_allowed(why: &str) -> Reason {
    let rule = |r: &str| Reason::NotAllowed { rule: r.into() };
    if why == "account is locked" {
        Reason::Locked
    } else if let Some(shell) = why.strip_prefix("shell ") {
        let shell = shell
            .trim_end_matches(" does not exist")
            .trim_end_matches(" is not executable");
        Reason::ShellMissing {
            shell: shell.to_string(),
        }
    } else if why.ends_with("in AllowUsers") {
        rule("AllowUsers")
    } else if why.ends_with("in DenyUsers") {
        rule("DenyUsers")
    } else if why.ends_with("in AllowGroups") {
        rule("AllowGroups")
    } else if why.ends_with("in DenyGroups") {
        rule("DenyGroups")
    } else {
        Reason::Other
    }
}

/// Forwards refused or failed after login.
fn session_refusal(msg: &str) -> Option<Reason> {
    if let Some(rest) = msg.strip_prefix("refused local port forward: ") {
        // "originator A port P, target H port N"
        let target = rest.split_once("target ").map(|(_, t)| host_port(t));
        return Some(Reason::ForwardingProhibited {
            target: target.unwrap_or_default(),
            permit_open: false,
        });
    }
    if let Some(rest) = msg.strip_prefix("Received request from ") {
        // "A port P to connect to host H port N, but the request was denied."
        let target = rest
            .split_once(" to connect to host ")?
            .1
            .strip_suffix(", but the request was denied.")?;
        return Some(Reason::ForwardingProhibited {
            target: host_port(target),
            permit_open: true,
        });
    }
    if let Some(rest) = msg.strip_prefix("error: connect_to ") {
        // "H port N: failed." or "H: unknown host (...)"
        let (target, why) = rest.split_once(": ")?;
        let why = if why.starts_with("failed") {
            "connection refused or timed out".to_string()
        } else {
            why.trim_end_matches('.').to_string()
        };
        return Some(Reason::ConnectFailed {
            target: host_port(target),
            why,
        });
    }
    None
}

/// "H port N" → "H:N"
fn host_port(s: &str) -> String {
    match s.split_once(" port ") {
        Some((h, p)) => format!("{h}:{}", p.trim_end_matches('.')),
        None => s.to_string(),
    }
}

const TITLE: &str = "The vendor's recent logins";

/// Fails when the last attempt failed for a reason that `still_fails` says still holds.
pub fn check(attempts: &Attempts, still_fails: &dyn Fn(CheckId) -> bool) -> Check {
    let user = attempts.user.as_str();
    let Some(source) = &attempts.source else {
        let why = attempts
            .unreadable
            .clone()
            .unwrap_or_else(|| "the sshd log was not read".into());
        return Check::new(
            CheckId::VendorAttempts,
            Status::Warn,
            TITLE,
            why,
            Some(format!(
                "look yourself: `sudo journalctl -t sshd --since -{SINCE_DAYS}d | grep {user}`, or in the file sshd logs to (SyslogFacility, rsyslog's auth rule)"
            )),
        );
    };
    let accepted = attempts.last_accepted.as_ref().map(|a| {
        format!(
            "last login by {user}: {} from {}{}",
            a.time,
            a.addr,
            a.fingerprint
                .as_ref()
                .map(|f| format!(" with key {f}"))
                .unwrap_or_default()
        )
    });
    let refused = match (&attempts.last_refused, attempts.last_was_refused) {
        (Some(r), true) => r,
        _ => {
            let detail = accepted
                .unwrap_or_else(|| format!("no login by {user} in the last {SINCE_DAYS} days"));
            return Check::new(
                CheckId::VendorAttempts,
                Status::Ok,
                TITLE,
                format!("{detail} (from {source})"),
                None,
            );
        }
    };
    let mut detail = format!(
        "{user}'s last attempt, {}{}, was refused: {}. sshd said: \"{}\"",
        refused.time,
        refused
            .addr
            .as_ref()
            .map(|a| format!(" from {a}"))
            .unwrap_or_default(),
        refused.reason.plain(user),
        refused.line
    );
    if refused.guessed {
        detail.push_str(&format!(
            " (this line names no user and its sshd process could not be tied to a session of {user}: it is the latest such line after {user}'s last login)"
        ));
    }
    if let Some(a) = &accepted {
        detail.push_str(&format!("; {a}"));
    }
    detail.push_str(&format!(" (from {source})"));
    let ids = refused.reason.check_ids();
    let holding: Vec<CheckId> = ids.iter().copied().filter(|id| still_fails(*id)).collect();
    let (status, fix) = if ids.is_empty() {
        detail.push_str(". No check here can tell whether this still holds: `sudo bastion-wizard verify` proves the tunnel");
        (Status::Warn, Some(refused.reason.fix(user)))
    } else if holding.is_empty() {
        let names: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        detail.push_str(&format!(
            ". Fixed since: the {} check no longer fails",
            names.join(" / ")
        ));
        (Status::Ok, None)
    } else {
        let names: Vec<&str> = holding.iter().map(|id| id.as_str()).collect();
        detail.push_str(&format!(
            ". It still holds: the {} check fails",
            names.join(" / ")
        ));
        (Status::Fail, Some(refused.reason.fix(user)))
    };
    Check::new(CheckId::VendorAttempts, status, TITLE, detail, fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for days in [-1, 0, 59, 365 * 30 + 7, 20_784] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(rfc3339_utc(1_795_773_518), "2026-11-27T09:58:38Z");
    }

    #[test]
    fn classic_year_is_this_or_last() {
        let now = days_from_civil(2026, 1, 3) * 86_400;
        let (_, t) = parse_classic("Dec 30 23:00:00", now).unwrap();
        assert_eq!(t, "2025-12-30T23:00:00");
        let (_, t) = parse_classic("Jan  2 01:02:03", now).unwrap();
        assert_eq!(t, "2026-01-02T01:02:03");
    }

    #[test]
    fn rfc3339_offsets() {
        let (a, t) = parse_rfc3339("2026-11-27T10:58:38.481011+01:00").unwrap();
        let (b, _) = parse_rfc3339("2026-11-27T09:58:38Z").unwrap();
        let (c, u) = parse_rfc3339("2026-11-27T09:58:38+0000").unwrap();
        assert_eq!((a, b), (c, c));
        assert_eq!(t, "2026-11-27T10:58:38+01:00");
        assert_eq!(u, "2026-11-27T09:58:38+00:00");
    }
}
