//! The calendar, without a date crate: days ↔ civil dates (proleptic Gregorian, Howard
//! Hinnant's algorithms), a strict `YYYY-MM-DD`, sshd's `expiry-time`, and the host's
//! clock as sshd reads such a time. Journal stamps, log stamps and key expiries all go
//! through here, so they can never disagree about a day.

use std::fmt;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a civil date. Out-of-range days run on into the next month,
/// as `mktime` does with what `strptime` lets through (Feb 31 is Mar 3).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day counted from 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `YYYY-MM-DDTHH:MM:SSZ`, so the journal and the reports read without tools.
pub fn utc_timestamp(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rest = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A day of the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i64,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// Exactly `YYYY-MM-DD`, and a day that exists (no 2026-02-30, no 26-1-1).
    pub fn parse_iso(text: &str) -> Option<Date> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let digits = |r: std::ops::Range<usize>| {
            let part = &text[r];
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse::<u32>().ok())
                .flatten()
        };
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let date = Date {
            year: i64::from(year),
            month,
            day,
        };
        ((1..=12).contains(&month) && day >= 1 && Date::from_days(date.days()) == date)
            .then_some(date)
    }

    pub fn days(self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    pub fn from_days(days: i64) -> Date {
        let (year, month, day) = civil_from_days(days);
        Date { year, month, day }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// An `expiry-time` as sshd reads it (OpenSSH misc.c `parse_absolute_time`):
/// `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, in the host's time zone, or in UTC
/// when it ends in `Z` (which only OpenSSH 9.1 and later read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryTime {
    /// The written date and time, counted in seconds as if it were UTC.
    pub civil: i64,
    pub utc: bool,
}

impl ExpiryTime {
    pub fn parse(text: &str) -> Option<ExpiryTime> {
        let (digits, utc) = match text.strip_suffix(['Z', 'z']) {
            Some(digits) => (digits, true),
            None => (text, false),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
            return None;
        }
        let n =
            |r: std::ops::Range<usize>| digits.get(r).map_or(Some(0), |d| d.parse::<u32>().ok());
        let (year, month, day) = (n(0..4)?, n(4..6)?, n(6..8)?);
        let (hour, minute, second) = (n(8..10)?, n(10..12)?, n(12..14)?);
        // What strptime's %m %d %H %M %S accept; a day past the month's end runs on.
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 61
        {
            return None;
        }
        let civil = days_from_civil(i64::from(year), month, day) * 86_400
            + i64::from(hour * 3600 + minute * 60 + second);
        Some(ExpiryTime { civil, utc })
    }

    /// The instant (seconds since 1970) after which sshd refuses the key on this host.
    pub fn instant(self, clock: &Clock) -> i64 {
        if self.utc {
            self.civil
        } else {
            self.civil - clock.utc_offset
        }
    }

    /// The last day, on the host's calendar, on which the key still works all day or
    /// part of it (a time of exactly midnight ends the day before).
    pub fn last_day(self, clock: &Clock) -> Date {
        Date::from_days((self.instant(clock) + clock.utc_offset - 1).div_euclid(86_400))
    }

    pub fn has_passed(self, clock: &Clock) -> bool {
        self.instant(clock) < clock.now
    }

    /// Whole days from today to the last day, both on the host's calendar: 0 on the
    /// last day itself, negative once it is over.
    pub fn days_left(self, clock: &Clock) -> i64 {
        self.last_day(clock).days() - clock.today().days()
    }
}

/// The host's clock as sshd uses it for an `expiry-time`: now, and the offset of the
/// zone sshd runs in (a daemon has no `TZ`: /etc/localtime decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Seconds since 1970, UTC.
    pub now: i64,
    /// Seconds east of UTC.
    pub utc_offset: i64,
}

impl Clock {
    /// Now, on this host. The offset is `date +%z`'s without `TZ`, as sshd would see it;
    /// UTC when `date` cannot say.
    pub fn read() -> Clock {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let mut date = Command::new("date");
        date.arg("+%z").env_remove("TZ");
        let offset = crate::tool::run(date, Duration::from_secs(2), 64)
            .ok()
            .filter(|ran| ran.status.is_some_and(|s| s.success()))
            .and_then(|ran| parse_offset(ran.stdout.trim()));
        Clock {
            now,
            utc_offset: offset.unwrap_or(0),
        }
    }

    /// Now, read as UTC: for what does not judge an expiry (no process is run).
    pub fn utc_now() -> Clock {
        Clock::utc(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0)),
        )
    }

    pub fn utc(now: i64) -> Clock {
        Clock { now, utc_offset: 0 }
    }

    /// Today on the host's calendar.
    pub fn today(&self) -> Date {
        Date::from_days((self.now + self.utc_offset).div_euclid(86_400))
    }
}

/// Seconds since 1970 read as a UTC clock, so callers holding only `now` still fit.
impl From<u64> for Clock {
    fn from(now: u64) -> Clock {
        Clock::utc(i64::try_from(now).unwrap_or(i64::MAX))
    }
}

impl From<&Clock> for Clock {
    fn from(clock: &Clock) -> Clock {
        *clock
    }
}

/// `+0100`, `-0530` as `date +%z` prints them.
fn parse_offset(text: &str) -> Option<i64> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = digits[2..].parse().ok()?;
    Some(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for days in [-719_468, -1, 0, 59, 365 * 30 + 7, 20_784, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
    }

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_795_559_355), "2026-11-24T22:29:15Z");
    }

    #[test]
    fn only_real_dates_in_the_one_form() {
        let d = Date::parse_iso("2028-02-29").unwrap();
        assert_eq!((d.year, d.month, d.day), (2028, 2, 29));
        assert_eq!(d.to_string(), "2028-02-29");
        for bad in [
            "2026-02-30",
            "2027-02-29",
            "2026-04-31",
            "2026-13-01",
            "2026-00-10",
            "2026-01-00",
            "26-1-1",
            "2026-1-01",
            "2026/01/01",
            "20260101",
            "+026-01-01",
            "2026-01-01 ",
            "garbage",
            "",
        ] {
            assert_eq!(Date::parse_iso(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn expiry_times_as_sshd_reads_them() {
        let utc = Clock::utc(0);
        let at = |text: &str, clock: &Clock| ExpiryTime::parse(text).map(|e| e.instant(clock));
        assert_eq!(at("19700102", &utc), Some(86_400));
        assert_eq!(at("197001020001Z", &utc), Some(86_460));
        assert_eq!(at("20261127", &utc), Some(1_795_737_600));
        assert_eq!(at("20261127000001", &utc), Some(1_795_737_601));
        assert_eq!(at("2026112", &utc), None);
        assert_eq!(at("2026113", &utc), None);
        assert_eq!(at("20261301", &utc), None);
        assert_eq!(at("202611272460", &utc), None);
        // Without Z the host's zone decides; with Z it does not.
        let paris = Clock {
            now: 0,
            utc_offset: 3600,
        };
        assert_eq!(at("19700102", &paris), Some(82_800));
        assert_eq!(at("19700102Z", &paris), Some(86_400));
    }

    #[test]
    fn the_last_day_and_the_days_left_are_the_hosts() {
        let e = ExpiryTime::parse("20261231235959").unwrap();
        let noon = |y, m, d| days_from_civil(y, m, d) * 86_400 + 12 * 3600;
        let clock = Clock::utc(noon(2026, 12, 24));
        assert_eq!(e.last_day(&clock).to_string(), "2026-12-31");
        assert_eq!(e.days_left(&clock), 7);
        assert!(!e.has_passed(&clock));
        let last = Clock::utc(noon(2026, 12, 31));
        assert_eq!((e.days_left(&last), e.has_passed(&last)), (0, false));
        let after = Clock::utc(noon(2027, 1, 1));
        assert_eq!((e.days_left(&after), e.has_passed(&after)), (-1, true));
        // A bare date is its midnight: the key's last whole day is the one before.
        let midnight = ExpiryTime::parse("20270101").unwrap();
        assert_eq!(midnight.last_day(&clock).to_string(), "2026-12-31");
        // 23:30 UTC on the 31st is already the 1st in UTC+1, where the key has expired.
        let east = Clock {
            now: noon(2026, 12, 31) + 11 * 3600 + 1800,
            utc_offset: 3600,
        };
        assert_eq!(east.today().to_string(), "2027-01-01");
        assert!(e.has_passed(&east));
    }

    #[test]
    fn reads_date_offsets() {
        assert_eq!(parse_offset("+0000"), Some(0));
        assert_eq!(parse_offset("+0100"), Some(3600));
        assert_eq!(parse_offset("-0530"), Some(-19_800));
        assert_eq!(parse_offset("0100"), None);
        assert_eq!(parse_offset("+01"), None);
    }
}
