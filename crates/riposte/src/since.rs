//! `--since`: a time (RFC 3339) or an age (30m, 2h, 7d), for every command that filters by time.

use time::OffsetDateTime;

use crate::exit::UsageError;

pub fn parse_since(text: &str) -> anyhow::Result<OffsetDateTime> {
    parse_since_at(text, OffsetDateTime::now_utc())
}

/// `--since` relative to `now`. Any text is refused with a usage error, never a panic: the unit
/// is split off by character, the age must be a non-negative number of units, and an age reaching
/// before the calendar's start is refused.
fn parse_since_at(text: &str, now: OffsetDateTime) -> anyhow::Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let usage = || {
        UsageError(format!(
            "--since {text:?}: give an RFC 3339 time or an age such as 30m, 2h, 7d"
        ))
    };
    let unit_at = text.char_indices().last().map_or(0, |(i, _)| i);
    let (number, unit) = text.split_at(unit_at);
    let n: u32 = number.parse().map_err(|_| usage())?;
    let seconds_per_unit: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(
                UsageError(format!("--since {text:?}: the unit must be s, m, h or d")).into(),
            );
        }
    };
    let age = time::Duration::seconds(i64::from(n) * seconds_per_unit);
    now.checked_sub(age).ok_or_else(|| {
        UsageError(format!(
            "--since {text:?}: that age reaches before any date riposte can record"
        ))
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_times_are_read_and_anything_else_is_a_usage_error() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            parse_since_at("30m", now).unwrap(),
            now - time::Duration::minutes(30)
        );
        assert_eq!(
            parse_since_at("7d", now).unwrap(),
            now - time::Duration::days(7)
        );
        let t = parse_since_at("2026-01-02T03:04:05Z", now).unwrap();
        assert_eq!(t.year(), 2026);
        // Hostile text: a multi-byte last character, a sign, overflow, nothing at all.
        for text in [
            "5é",
            "é",
            "",
            "-5m",
            "99999999999d",
            "4294967295d",
            "5",
            "m",
            "5 m",
        ] {
            let err = parse_since_at(text, now).expect_err(text);
            assert!(err.downcast_ref::<UsageError>().is_some(), "{text}: {err}");
        }
    }
}
