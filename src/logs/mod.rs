//! `vendor_attempts`: what sshd's log says about the tunnel user's recent logins, read
//! from journald, /var/log/auth.log or /var/log/secure (bounded), in plain words.
//!
//! Every read is bounded in age ([`SINCE_DAYS`]), in lines ([`MAX_LINES`]), in bytes
//! ([`MAX_TAIL_BYTES`], [`MAX_JOURNAL_BYTES`]) and in time ([`JOURNAL_TIMEOUT`]): `status`
//! runs this reader beside `sshd -T` and must not wait on a busy host's months of log.
//! An auth.log of gigabytes is read from its last 2 MiB only, and a journalctl that
//! hangs (a locked or corrupt journal) is killed.
//!
//! `parse` reads the line formats (syslog, RFC 3339, journald's JSON), `attempts` ties
//! sshd's lines to the user and walks them in order, `reasons` turns sshd's messages into
//! a [`Reason`] in plain words with its fix. This file reads the log and makes the check.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use crate::checks::{Check, CheckId, Status};
use crate::tool;

mod attempts;
mod parse;
mod reasons;

pub use attempts::{attempts, attempts_from_afar};

fn judge(user: &str, source: &str, lines: &[Line], skip_loopback: bool) -> Attempts {
    if skip_loopback {
        attempts_from_afar(user, source, lines)
    } else {
        attempts(user, source, lines)
    }
}
pub(crate) use parse::MONTHS;
pub use parse::{parse_journal_json, parse_syslog, Line};
pub use reasons::Reason;

use parse::epoch_secs;

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
    /// Every login of the user, oldest first: `keys` tells each key's last one.
    pub logins: Vec<Accepted>,
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
    /// Leave out sessions from loopback, which are never the vendor's.
    pub skip_loopback: bool,
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
            skip_loopback: true,
        }
    }
}

/// Whether journald keeps a journal here: `*.journal` files under the persistent or the
/// volatile journal directory, one directory per machine id.
fn has_journal_files() -> bool {
    journal_files_under(&["/var/log/journal", "/run/log/journal"])
}

fn journal_files_under(roots: &[impl AsRef<std::path::Path>]) -> bool {
    roots.iter().any(|root| {
        std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .any(|machine| {
                std::fs::read_dir(machine.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|f| {
                        let name = f.file_name();
                        let name = name.to_string_lossy();
                        name.ends_with(".journal") || name.ends_with(".journal~")
                    })
            })
    })
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
    let mut sources = Sources::system();
    // Where no journal file exists, journalctl has nothing to say: it is not run.
    if !has_journal_files() {
        sources.journal = None;
    }
    read_from(user, &sources)
}

/// journald first; a file when journald has no sshd lines (no journald, or a volatile
/// journal while rsyslog keeps the history).
pub fn read_from(user: &str, sources: &Sources) -> Attempts {
    let now = epoch_secs(sources.now);
    let mut why_not = Vec::new();
    if let Some(cmd) = &sources.journal {
        match run_journal(cmd, sources.timeout) {
            Ok(out) => {
                let lines = parse_journal_json(&out, now);
                if !lines.is_empty() {
                    return judge(user, "journald", &lines, sources.skip_loopback);
                }
                why_not.push("journald has no sshd lines".to_string());
            }
            Err(e) => why_not.push(e),
        }
    }
    for path in &sources.files {
        match tail(path, 0, MAX_TAIL_BYTES) {
            Ok(text) => {
                let lines = parse_syslog(&text, now);
                if !lines.is_empty() {
                    return judge(
                        user,
                        &path.display().to_string(),
                        &lines,
                        sources.skip_loopback,
                    );
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

/// Runs journalctl (`cmd`), reads at most [`MAX_JOURNAL_BYTES`] of what it prints, kills
/// it at `timeout`. Its exit status is not asked: what it printed is what counts.
fn run_journal(cmd: &[String], timeout: Duration) -> Result<String, String> {
    let (prog, args) = cmd.split_first().ok_or("no journalctl command")?;
    let mut command = Command::new(prog);
    command.args(args);
    let ran = tool::run(command, timeout, MAX_JOURNAL_BYTES).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("{prog} is not installed"),
        _ => format!("{prog} could not be run: {e}"),
    })?;
    match ran.status {
        Some(_) => Ok(ran.stdout),
        None => Err(format!(
            "{prog} did not answer within {} s",
            timeout.as_secs_f32()
        )),
    }
}

/// What a log file holds from byte `from` on, at most its last `max` bytes, from the first
/// whole line; all of its end when it shrank below `from` (rotated). Never through a link
/// or into a FIFO. `verify` reads sshd's lines of its own run with it too.
pub(crate) fn tail(path: &Path, from: u64, max: u64) -> io::Result<String> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)?;
    let len = file.metadata()?.len();
    let from = if len < from { 0 } else { from };
    let start = from.max(len.saturating_sub(max));
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(max).read_to_end(&mut buf)?;
    // Cut by `max` inside a line: that line's end is dropped.
    let skip = if start > from {
        buf.iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| i + 1)
    } else {
        0
    };
    Ok(String::from_utf8_lossy(&buf[skip..]).into_owned())
}

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
            why,
            Some(format!(
                "look yourself: `sudo journalctl -t sshd --since -{SINCE_DAYS}d | grep {user}`, or in the file sshd logs to (SyslogFacility, rsyslog's auth rule)"
            )));
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
    Check::new(CheckId::VendorAttempts, status, detail, fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_is_only_where_a_machine_directory_holds_journal_files() {
        let root = tempfile::tempdir().unwrap();
        let roots = [root.path()];
        assert!(!journal_files_under(&roots), "empty, as in a container");
        let machine = root.path().join("0123456789abcdef0123456789abcdef");
        std::fs::create_dir(&machine).unwrap();
        std::fs::write(machine.join("notes.txt"), "").unwrap();
        assert!(!journal_files_under(&roots));
        std::fs::write(machine.join("system.journal"), "").unwrap();
        assert!(journal_files_under(&roots));
        assert!(!journal_files_under(&[root.path().join("missing")]));
    }

    #[test]
    fn tail_reads_from_a_mark_from_whole_lines_and_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.log");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        // From a mark: what was written since.
        assert_eq!(tail(&path, 4, 1 << 20).unwrap(), "two\nthree\n");
        // Cut by the cap inside a line: that line's end is dropped.
        assert_eq!(tail(&path, 0, 8).unwrap(), "three\n");
        // Shrunk below the mark (rotated): its end is what was written since.
        assert_eq!(tail(&path, 100, 1 << 20).unwrap(), "one\ntwo\nthree\n");
        // Never through a link.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(tail(&link, 0, 1 << 20).is_err());
    }
}
