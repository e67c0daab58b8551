//! sshd's side of a failed proof: its log lines written during the run (the files' growth
//! and journald since the start), the ones that concern the probe, and the one that says why.

use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{logs, tool};

/// Syslog files sshd writes to on Debian/Ubuntu and on RHEL-likes.
const LOG_FILES: &[&str] = &["/var/log/auth.log", "/var/log/secure"];
/// Most we read of what a file grew by during the proof.
const LOG_READ_LIMIT: u64 = 256 * 1024;

/// Where the logs stood when the proof began, so only its own lines are read.
pub(super) struct LogMark {
    since: u64,
    sizes: Vec<(&'static str, u64)>,
}

impl LogMark {
    pub(super) fn now() -> LogMark {
        LogMark {
            since: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            sizes: LOG_FILES
                .iter()
                .filter_map(|p| Some((*p, fs::metadata(p).ok()?.len())))
                .collect(),
        }
    }

    pub(super) fn lines_since(
        &self,
        user: &str,
        fingerprint: &str,
        connect: IpAddr,
    ) -> Vec<String> {
        let mut text = String::new();
        for (path, size) in &self.sizes {
            text.push_str(&logs::tail(Path::new(path), *size, LOG_READ_LIMIT).unwrap_or_default());
        }
        text.push_str(&journal_since(self.since));
        relevant_lines(&text, user, fingerprint, &connect.to_string())
    }
}

/// `journalctl` since the proof began, bounded in lines, bytes and time.
fn journal_since(since: u64) -> String {
    let mut command = Command::new("journalctl");
    command
        .args([
            "--no-pager",
            "-q",
            "-o",
            "short-iso",
            "-n",
            "500",
            "--since",
        ])
        .arg(format!("@{since}"));
    tool::run(command, Duration::from_secs(3), LOG_READ_LIMIT)
        .map(|ran| ran.stdout)
        .unwrap_or_default()
}

/// sshd's lines that concern the probe: its user, its key, its loopback connection, or a
/// forward (sshd's forward messages name neither user nor key).
pub fn relevant_lines(text: &str, user: &str, fingerprint: &str, connect: &str) -> Vec<String> {
    let mentions_user = |l: &str| {
        l.split(|c: char| c.is_whitespace() || c == '@')
            .any(|w| w == user)
    };
    let mut lines: Vec<String> = text
        .lines()
        // Syslog lines of other programs are dropped; sshd's `-E` file has no stamp at all.
        .filter(|l| l.contains("sshd") || !has_timestamp(l))
        .filter(|l| {
            mentions_user(l)
                || l.contains(fingerprint)
                || l.contains(&format!("from {connect} port"))
                || l.contains("port forward")
                || l.contains("connect_to ")
                || l.contains("to connect to host")
        })
        .map(|l| l.trim().to_string())
        .collect();
    let excess = lines.len().saturating_sub(20);
    lines.drain(..excess);
    lines
}

/// Syslog and journal lines start with a date: RFC3339 (`2026-05-02T...`) or `May  2`.
fn has_timestamp(line: &str) -> bool {
    line.starts_with(|c: char| c.is_ascii_digit())
        || line
            .split_whitespace()
            .next()
            .is_some_and(|w| logs::MONTHS.contains(&w))
}

/// The line that says why, if sshd wrote one.
pub fn sshd_reason(lines: &[String]) -> Option<String> {
    const WHY: &[&str] = &[
        "refused",
        "denied",
        "not allowed",
        "failed",
        "error",
        "Invalid user",
        "expired",
        "bad ownership",
        "prohibited",
    ];
    lines
        .iter()
        .filter(|l| !l.contains("Accepted "))
        .find(|l| WHY.iter().any(|w| l.contains(w)))
        .cloned()
}
