//! UTC calendar arithmetic: `X-Amz-Date` stamps, RFC 3339 times (CreateSession's expirations)
//! and dates in messages.
//!
//! Only the proleptic Gregorian calendar in UTC is needed, so this module converts Unix seconds
//! itself instead of pulling in a date-time crate. Nothing here reads the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time broken down into UTC calendar fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UtcDateTime {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
}

impl UtcDateTime {
    /// Breaks Unix seconds (negative before 1970) down into UTC fields.
    pub(crate) fn from_unix(seconds: i64) -> Self {
        let days = seconds.div_euclid(86_400);
        let of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // `of_day` is in 0..86400, so every part below fits a u32.
        let of_day = u32::try_from(of_day).unwrap_or(0);
        Self {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day % 3600 / 60,
            second: of_day % 60,
        }
    }

    /// The SigV4 stamp `%Y%m%dT%H%M%SZ`, e.g. `20261126T000000Z`.
    pub(crate) fn amz_date(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// RFC 3339 in UTC with whole seconds, e.g. `2036-01-01T00:00:00Z`.
    pub(crate) fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// The form used in error messages, e.g. `2036-01-01 00:00:00 UTC`.
    pub(crate) fn human(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Whole Unix seconds of `time`, rounding towards the past (negative before 1970).
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    }
}

/// The `SystemTime` of Unix seconds `seconds`.
pub(crate) fn system_time(seconds: i64) -> SystemTime {
    let magnitude = Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 {
        UNIX_EPOCH
            .checked_add(magnitude)
            .unwrap_or(UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX)))
    } else {
        UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    }
}

/// Parses an RFC 3339 UTC time (`2026-11-26T01:00:00Z`, fractions allowed) into a `SystemTime`.
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let (date, time) = text.split_once(['T', 't'])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let (clock, offset_seconds) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (clock, offset) = time.split_at(at);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (h, m) = offset[1..].split_once(':')?;
        (
            clock,
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60),
        )
    };
    let clock = clock.split('.').next()?;
    let mut c = clock.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (c.next()??, c.next()??, c.next()??);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    u64::try_from(seconds)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

/// (year, month, day) to days since 1970-01-01, after Howard Hinnant's `days_from_civil`.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `time` as RFC 3339 in UTC with whole seconds, e.g. `2036-01-01T00:00:00Z`.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    UtcDateTime::from_unix(unix_seconds(time)).rfc3339()
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_times() {
        let t = parse_rfc3339("2024-01-16T00:02:43Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_705_363_363
        );
        assert_eq!(parse_rfc3339("2024-01-16T00:02:43.123Z"), Some(t));
        assert_eq!(parse_rfc3339("2024-01-16T01:02:43+01:00"), Some(t));
        assert_eq!(
            parse_rfc3339("2026-11-26T00:00:00Z")
                .unwrap()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_795_651_200
        );
        assert!(parse_rfc3339("yesterday").is_none());
        assert!(parse_rfc3339("2024-13-01T00:00:00Z").is_none());
    }

    #[test]
    fn formats_known_instants() {
        let t = UtcDateTime::from_unix(1_795_651_200); // 2026-11-26T00:00:00Z
        assert_eq!(t.amz_date(), "20261126T000000Z");
        assert_eq!(t.rfc3339(), "2026-11-26T00:00:00Z");
        assert_eq!(UtcDateTime::from_unix(0).human(), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            UtcDateTime::from_unix(2_082_758_399).rfc3339(),
            "2035-12-31T23:59:59Z"
        );
        assert_eq!(
            UtcDateTime::from_unix(951_782_400).rfc3339(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(UtcDateTime::from_unix(-1).rfc3339(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn converts_system_times() {
        let t = UNIX_EPOCH + Duration::from_millis(1_500);
        assert_eq!(unix_seconds(t), 1);
        let before = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(unix_seconds(before), -1);
        assert_eq!(unix_seconds(system_time(-86_400)), -86_400);
        assert_eq!(unix_seconds(system_time(2_082_758_400)), 2_082_758_400);
    }
}
