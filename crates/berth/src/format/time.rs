//! Timestamps printed the way Go's `time` package prints them in docker's output.

use chrono::{DateTime, Local, TimeZone, Utc};

fn local(unix_secs: i64, nanos: u32) -> DateTime<Local> {
    Local
        .timestamp_opt(unix_secs, nanos)
        .single()
        .unwrap_or_else(|| {
            Utc.timestamp_opt(0, 0)
                .single()
                .expect("epoch is valid")
                .with_timezone(&Local)
        })
}

/// Go's zone abbreviation is not available from chrono; "UTC" covers the common case.
fn zone_name(t: &DateTime<Local>) -> String {
    let offset = t.offset().local_minus_utc();
    if offset == 0 {
        "UTC".into()
    } else {
        t.format("%z").to_string()
    }
}

/// Go's `time.Unix(secs, 0).String()`: "2006-01-02 15:04:05 -0700 MST".
pub fn go_time_string(unix_secs: i64) -> String {
    let t = local(unix_secs, 0);
    format!("{} {}", t.format("%Y-%m-%d %H:%M:%S %z"), zone_name(&t))
}

/// Go's `time.Unix(secs, 0).Format(time.RFC3339)`, in local time.
pub fn rfc3339_local(unix_secs: i64) -> String {
    let t = local(unix_secs, 0);
    if t.offset().local_minus_utc() == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// docker's `RFC3339NanoFixed` ("2006-01-02T15:04:05.000000000Z07:00") in local time.
pub fn rfc3339_nano_fixed(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000) as u32;
    let t = local(secs, nanos);
    let zone = if t.offset().local_minus_utc() == 0 {
        "Z".to_string()
    } else {
        t.format("%:z").to_string()
    };
    format!("{}.{:09}{zone}", t.format("%Y-%m-%dT%H:%M:%S"), nanos)
}

/// Go's `time.ANSIC` layout ("Mon Jan _2 15:04:05 2006") for an RFC 3339 string;
/// other input is returned unchanged (docker's `reformatDate`).
pub fn reformat_date(value: &str) -> String {
    match DateTime::parse_from_rfc3339(value) {
        Ok(t) => t.format("%a %b %e %H:%M:%S %Y").to_string(),
        Err(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansic_dates() {
        assert_eq!(
            reformat_date("2024-06-03T10:04:05.123Z"),
            "Mon Jun  3 10:04:05 2024"
        );
        assert_eq!(reformat_date("not a date"), "not a date");
    }
}
