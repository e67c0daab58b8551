//! sshd's lines out of the log's formats: journald's JSON, and syslog files with classic
//! (`Nov 27 09:51:01`) or RFC 3339 stamps; bounded to two weeks and [`MAX_LINES`].

use std::time::{SystemTime, UNIX_EPOCH};

use super::{MAX_LINES, SINCE_DAYS};
use crate::dates::{self, civil_from_days, days_from_civil};

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

pub(crate) const MONTHS: [&str; 12] = [
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

pub(super) fn epoch_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rfc3339_utc(secs: i64) -> String {
    dates::utc_timestamp(u64::try_from(secs).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_utc_stamps() {
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
