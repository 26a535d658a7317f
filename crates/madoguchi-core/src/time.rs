//! Times are stored as i64 milliseconds since the Unix epoch on both backends (one
//! column type, cheap ordering) and shown as RFC 3339 UTC.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_rfc3339(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

pub fn system_now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_milliseconds() {
        let ms = 1_764_100_000_123;
        assert_eq!(rfc3339(ms), "2025-11-25T19:46:40.123Z");
        assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
    }
}
