//! Time conversions between AD's Windows FILETIME values and Unix time.

use time::OffsetDateTime;

/// Seconds between 1601-01-01 (Windows epoch) and 1970-01-01.
const WINDOWS_TO_UNIX_SECONDS: i64 = 11_644_473_600;

/// A FILETIME (100 ns intervals since 1601) as a UTC time; `None` for 0,
/// negative values and the "never" sentinel.
pub fn from_filetime(filetime: i64) -> Option<OffsetDateTime> {
    if filetime <= 0 || filetime == i64::MAX {
        return None;
    }
    let unix_nanos = (filetime as i128 - WINDOWS_TO_UNIX_SECONDS as i128 * 10_000_000) * 100;
    OffsetDateTime::from_unix_timestamp_nanos(unix_nanos).ok()
}

/// Seconds since 1601 (DRS's NTTIME_1sec, used in replPropertyMetaData) as UTC.
pub fn from_nttime_seconds(seconds: u64) -> Option<OffsetDateTime> {
    let unix = i64::try_from(seconds)
        .ok()?
        .checked_sub(WINDOWS_TO_UNIX_SECONDS)?;
    OffsetDateTime::from_unix_timestamp(unix).ok()
}

/// RFC 3339 text for a time, the one format riposte prints and stores.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_round_numbers() {
        // 2000-01-01T00:00:00Z
        let t = from_filetime(125_911_584_000_000_000).unwrap();
        assert_eq!(rfc3339(t), "2000-01-01T00:00:00Z");
        assert_eq!(from_filetime(0), None);
        assert_eq!(from_filetime(i64::MAX), None);
        assert_eq!(
            rfc3339(from_nttime_seconds(12_591_158_400).unwrap()),
            "2000-01-01T00:00:00Z"
        );
    }
}
