//! `--since`/`--until` values turned into the unix timestamps the API expects,
//! as docker's `timetypes.GetTimestamp` does (durations, RFC 3339 dates, raw timestamps).

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Converts `value` relative to `now` into "seconds[.nanoseconds]".
pub fn get_timestamp(value: &str, now: DateTime<Utc>) -> Result<String, String> {
    if value != "0" {
        if let Some(d) = parse_go_duration(value) {
            let t = now - d;
            return Ok(t.timestamp().to_string());
        }
    }
    let has_zone = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    match parse_date(value, has_zone) {
        Some(t) => Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        )),
        None => {
            if value.contains('-') {
                return Err(format!(
                    "parsing time \"{value}\": cannot parse as a timestamp"
                ));
            }
            if parse_unix(value) {
                Ok(value.to_string())
            } else {
                Err(format!(
                    "failed to parse value as time or duration: \"{value}\""
                ))
            }
        }
    }
}

fn parse_unix(value: &str) -> bool {
    let (s, n) = value.split_once('.').unwrap_or((value, ""));
    s.parse::<i64>().is_ok() && (n.is_empty() && !value.ends_with('.') || n.parse::<i64>().is_ok())
}

fn parse_date(value: &str, has_zone: bool) -> Option<DateTime<FixedOffset>> {
    if has_zone {
        let v = value.replace('z', "Z");
        if let Ok(t) = DateTime::parse_from_rfc3339(&v) {
            return Some(t);
        }
        for fmt in ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H%:z"] {
            if let Ok(t) = DateTime::parse_from_str(&v.replace('Z', "+00:00"), fmt) {
                return Some(t);
            }
        }
        // A date with a zone ("2006-01-02Z07:00").
        let (date, zone) = v.split_at(v.len().min(10));
        let zone = if zone == "Z" { "+00:00" } else { zone };
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        let off: FixedOffset = format!("2000-01-01T00:00:00{zone}")
            .parse::<DateTime<FixedOffset>>()
            .ok()?
            .timezone();
        return off.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).single();
    }
    let local = |n: NaiveDateTime| {
        Local
            .from_local_datetime(&n)
            .single()
            .map(|t| t.fixed_offset())
    };
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(value, fmt) {
            return local(n);
        }
    }
    if value.len() == 13 && value.as_bytes()[10] == b'T' {
        // "2006-01-02T15": chrono needs minutes to build a time.
        if let Ok(n) = NaiveDateTime::parse_from_str(&format!("{value}:00"), "%Y-%m-%dT%H:%M") {
            return local(n);
        }
    }
    let d = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    local(d.and_hms_opt(0, 0, 0)?)
}

/// Go's `time.ParseDuration` ("1h30m", "-5m", "1.5s", "300ms").
pub fn parse_go_duration(s: &str) -> Option<chrono::Duration> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(chrono::Duration::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total_nanos += number * unit;
    }
    let nanos = if neg { -total_nanos } else { total_nanos };
    Some(chrono::Duration::nanoseconds(nanos as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_go_duration("1h30m"),
            Some(chrono::Duration::minutes(90))
        );
        assert_eq!(
            parse_go_duration("10s"),
            Some(chrono::Duration::seconds(10))
        );
        assert_eq!(
            parse_go_duration("1.5s"),
            Some(chrono::Duration::milliseconds(1500))
        );
        assert_eq!(
            parse_go_duration("-5m"),
            Some(chrono::Duration::minutes(-5))
        );
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("abc"), None);
    }

    #[test]
    fn timestamps() {
        let now = DateTime::parse_from_rfc3339("2024-01-01T00:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(get_timestamp("10m", now).unwrap(), "1704067200");
        assert_eq!(get_timestamp("1704067200", now).unwrap(), "1704067200");
        assert_eq!(get_timestamp("1704067200.5", now).unwrap(), "1704067200.5");
        assert_eq!(
            get_timestamp("2024-01-01T00:00:00Z", now).unwrap(),
            "1704067200.000000000"
        );
        assert_eq!(
            get_timestamp("2024-01-01T01:00:00+01:00", now).unwrap(),
            "1704067200.000000000"
        );
        assert!(get_timestamp("yesterday", now).is_err());
    }
}
