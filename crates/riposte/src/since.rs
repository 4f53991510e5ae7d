//! `--since`: a time (RFC 3339) or an age (30m, 2h, 7d), for every command that filters by time.

use time::OffsetDateTime;

use crate::exit::UsageError;

pub fn parse_since(text: &str) -> anyhow::Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| {
        UsageError(format!(
            "--since {text:?}: give an RFC 3339 time or an age such as 30m, 2h, 7d"
        ))
    })?;
    let age = match unit {
        "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => {
            return Err(
                UsageError(format!("--since {text:?}: the unit must be s, m, h or d")).into(),
            );
        }
    };
    Ok(OffsetDateTime::now_utc() - age)
}
