//! Human-readable sizes and durations, byte-for-byte like github.com/docker/go-units,
//! plus the bits of Go's `fmt` (`%g`) they rely on.

use std::time::Duration;

const DECIMAL_ABBRS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_ABBRS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

fn size_and_unit(mut size: f64, base: f64, abbrs: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < abbrs.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, abbrs[i])
}

/// `units.HumanSizeWithPrecision`: decimal units, `%.*g` formatting ("2.15MB").
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let (size, unit) = size_and_unit(size, 1000.0, &DECIMAL_ABBRS);
    format!("{}{}", format_g(size, precision), unit)
}

/// `units.HumanSize`: like [`human_size_with_precision`] with 4 significant digits.
pub fn human_size(size: f64) -> String {
    human_size_with_precision(size, 4)
}

/// `units.BytesSize`: binary units ("1.5GiB").
pub fn bytes_size(size: f64) -> String {
    let (size, unit) = size_and_unit(size, 1024.0, &BINARY_ABBRS);
    format!("{}{}", format_g(size, 4), unit)
}

/// `units.HumanDuration`: "Less than a second", "About a minute", "3 weeks", ...
pub fn human_duration(d: Duration) -> String {
    let secs_f = d.as_secs_f64();
    let seconds = secs_f as i64;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs_f / 60.0) as i64;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours_f = secs_f / 3600.0;
    let hours = (hours_f + 0.5) as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (hours_f as i64) / 24 / 365)
}

/// "<duration> ago" for a unix timestamp, as docker's `CreatedSince` columns print it.
pub fn human_since(unix_secs: i64, now: chrono::DateTime<chrono::Utc>) -> String {
    let delta = now.timestamp_millis() - unix_secs * 1000;
    let d = Duration::from_millis(delta.max(0) as u64);
    format!("{} ago", human_duration(d))
}

/// Go's `strconv.FormatFloat(f, 'g', prec, 64)` (what `%.<prec>g` prints).
pub fn format_g(f: f64, prec: usize) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let prec = prec.max(1);
    let neg = f.is_sign_negative() && f != 0.0;
    // Rust's `{:e}` rounds correctly to the requested significant digits.
    let sci = format!("{:.*e}", prec - 1, f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    if f == 0.0 {
        digits = "0".into();
    }
    let nd = digits.len() as i32;
    // Position of the decimal point relative to the digits, as in Go's decimal type.
    let dp = if f == 0.0 { 1 } else { exp + 1 };
    let mut prec = prec as i32;
    let mut eprec = prec;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let x = dp - 1;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if x < -4 || x >= eprec {
        if prec > nd {
            prec = nd;
        }
        // %e with prec-1 fractional digits.
        out.push_str(&digits[..1]);
        if prec > 1 {
            out.push('.');
            let frac: String = digits.chars().skip(1).take((prec - 1) as usize).collect();
            out.push_str(&frac);
            for _ in frac.len()..(prec - 1) as usize {
                out.push('0');
            }
        }
        let e = if f == 0.0 { 0 } else { x };
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", e.abs()));
        return out;
    }
    if prec > dp {
        prec = nd;
    }
    let frac_digits = (prec - dp).max(0);
    // %f: integer part, then frac_digits digits.
    if dp > 0 {
        for i in 0..dp {
            out.push(
                digits
                    .as_bytes()
                    .get(i as usize)
                    .map(|&b| b as char)
                    .unwrap_or('0'),
            );
        }
    } else {
        out.push('0');
    }
    if frac_digits > 0 {
        out.push('.');
        for i in 0..frac_digits {
            let idx = dp + i;
            let ch = if idx < 0 {
                '0'
            } else {
                digits
                    .as_bytes()
                    .get(idx as usize)
                    .map(|&b| b as char)
                    .unwrap_or('0')
            };
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size_with_precision(2_150_000.0, 3), "2.15MB");
        assert_eq!(human_size_with_precision(4_261_613.0, 3), "4.26MB");
        assert_eq!(human_size_with_precision(0.0, 3), "0B");
        assert_eq!(human_size_with_precision(999.0, 3), "999B");
        // Go rounds 999.5 to three digits and switches to exponent form.
        assert_eq!(human_size_with_precision(999.5, 3), "1e+03B");
        assert_eq!(human_size_with_precision(1000.0, 3), "1kB");
        assert_eq!(human_size_with_precision(77_800_000.0, 3), "77.8MB");
        assert_eq!(human_size_with_precision(123_456_789.0, 3), "123MB");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(10.0), "10B");
        assert_eq!(human_size(5_000_000_000.0), "5GB");
        assert_eq!(bytes_size(1024.0 * 1024.0 * 1536.0), "1.5GiB");
        assert_eq!(bytes_size(16_646_348_800.0), "15.5GiB");
    }

    #[test]
    fn format_g_cases() {
        assert_eq!(format_g(0.000012345, 3), "1.23e-05");
        assert_eq!(format_g(0.0012345, 3), "0.00123");
        assert_eq!(format_g(123456.0, 3), "1.23e+05");
        assert_eq!(format_g(100.0, 3), "100");
        assert_eq!(format_g(1.5, 3), "1.5");
        assert_eq!(format_g(-2.25, 2), "-2.2");
    }

    #[test]
    fn durations_match_go_units() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(500)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(59)), "59 seconds");
        assert_eq!(human_duration(s(60)), "About a minute");
        assert_eq!(human_duration(s(119)), "About a minute");
        assert_eq!(human_duration(s(120)), "2 minutes");
        assert_eq!(human_duration(s(59 * 60)), "59 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5400)), "2 hours");
        assert_eq!(human_duration(s(47 * 3600)), "47 hours");
        assert_eq!(human_duration(s(48 * 3600)), "2 days");
        assert_eq!(human_duration(s(14 * 24 * 3600)), "2 weeks");
        assert_eq!(human_duration(s(60 * 24 * 3600)), "2 months");
        assert_eq!(human_duration(s(2 * 365 * 24 * 3600)), "2 years");
    }
}
