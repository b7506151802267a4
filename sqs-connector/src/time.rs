//! UTC times as text: `X-Amz-Date` stamps, RFC 3339 times (CreateSession's expirations,
//! certificate validity) and dates in messages, written and read with the `time` crate.
//! Nothing here reads the clock: every time comes in as an argument.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// The SigV4 stamp, e.g. `20261126T000000Z`.
const AMZ_DATE: &[BorrowedFormatItem<'_>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
/// RFC 3339 in UTC with whole seconds, e.g. `2036-01-01T00:00:00Z`.
const RFC3339_SECONDS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
/// The form of error messages, e.g. `2036-01-01 00:00:00 UTC`.
const HUMAN: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

/// Writes `time` in UTC by `format`. The descriptions above name only fields an
/// `OffsetDateTime` has, so formatting cannot fail; an empty string would show it did.
fn format_utc(time: OffsetDateTime, format: &[BorrowedFormatItem<'_>]) -> String {
    time.to_offset(UtcOffset::UTC)
        .format(format)
        .unwrap_or_default()
}

/// The SigV4 stamp `%Y%m%dT%H%M%SZ` of `time`, e.g. `20261126T000000Z`.
pub(crate) fn amz_date(time: OffsetDateTime) -> String {
    format_utc(time, AMZ_DATE)
}

/// `time` as RFC 3339 in UTC with whole seconds, e.g. `2036-01-01T00:00:00Z`.
pub(crate) fn rfc3339(time: OffsetDateTime) -> String {
    format_utc(time, RFC3339_SECONDS)
}

/// `time` as error messages show it, e.g. `2036-01-01 00:00:00 UTC`.
pub(crate) fn human(time: OffsetDateTime) -> String {
    format_utc(time, HUMAN)
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

/// `time` in UTC, truncated to whole seconds (towards the past); `None` outside the years
/// -9999 to 9999, which the `time` crate does not represent.
pub(crate) fn utc(time: SystemTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(unix_seconds(time)).ok()
}

/// `time` (a `SystemTime`) as RFC 3339 in UTC with whole seconds, e.g. `2036-01-01T00:00:00Z`;
/// a time no calendar here can name is written as seconds since 1970.
pub(crate) fn system_rfc3339(time: SystemTime) -> String {
    match utc(time) {
        Some(utc) => rfc3339(utc),
        None => format!("{} s since 1970", unix_seconds(time)),
    }
}

/// Parses an RFC 3339 time (`2026-11-26T01:00:00Z`, any offset, fractions allowed and dropped)
/// into a `SystemTime`.
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let time = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    Some(time.replace_nanosecond(0).ok()?.into())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    #[test]
    fn parses_rfc3339_times() {
        let t = parse_rfc3339("2024-01-16T00:02:43Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_705_363_363
        );
        assert_eq!(parse_rfc3339("2024-01-16T00:02:43.123Z"), Some(t));
        assert_eq!(parse_rfc3339("2024-01-16T01:02:43+01:00"), Some(t));
        assert_eq!(parse_rfc3339(" 2024-01-16t00:02:43z\n"), Some(t));
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
        let t = at(1_795_651_200); // 2026-11-26T00:00:00Z
        assert_eq!(amz_date(t), "20261126T000000Z");
        assert_eq!(rfc3339(t), "2026-11-26T00:00:00Z");
        assert_eq!(human(at(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(rfc3339(at(2_082_758_399)), "2035-12-31T23:59:59Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(-1)), "1969-12-31T23:59:59Z");
        let in_berlin = t.to_offset(UtcOffset::from_hms(1, 0, 0).unwrap());
        assert_eq!(rfc3339(in_berlin), "2026-11-26T00:00:00Z");
    }

    #[test]
    fn converts_system_times() {
        let t = UNIX_EPOCH + Duration::from_millis(1_500);
        assert_eq!(unix_seconds(t), 1);
        let before = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(unix_seconds(before), -1);
        assert_eq!(utc(before), Some(at(-1)));
        assert_eq!(system_rfc3339(t), "1970-01-01T00:00:01Z");
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(utc(far), None);
        assert_eq!(system_rfc3339(far), "400000000000 s since 1970");
    }
}
