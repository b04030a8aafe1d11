//! Flag value types and validators of docker's `opts` package (and the pflag and Go
//! standard-library parsers behind them), with their error wording.

use std::net::IpAddr;

use crate::cli::ram_in_bytes;

/// Go's `strconv.ParseUint(s, 0, bits)`, as pflag's unsigned flags parse.
pub fn go_uint(value: &str, bits: u32) -> Result<u64, String> {
    let syntax = || {
        format!(
            "strconv.ParseUint: parsing {}: invalid syntax",
            quote(value)
        )
    };
    let digits = value.replace('_', "");
    let (radix, body) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, h.to_string())
    } else if let Some(b) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, b.to_string())
    } else if let Some(o) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, o.to_string())
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, digits[1..].to_string())
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Err(syntax());
    }
    let range = || {
        format!(
            "strconv.ParseUint: parsing {}: value out of range",
            quote(value)
        )
    };
    let n = u64::from_str_radix(&body, radix).map_err(|_| range())?;
    if bits < 64 && n >> bits != 0 {
        return Err(range());
    }
    Ok(n)
}

/// Go's `strconv.ParseUint(s, 10, bits)`.
pub fn go_uint_base10(value: &str, bits: u32) -> Result<u64, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseUint: parsing {}: invalid syntax",
            quote(value)
        ));
    }
    match value.parse::<u64>() {
        Ok(n) if bits >= 64 || n >> bits == 0 => Ok(n),
        _ => Err(format!(
            "strconv.ParseUint: parsing {}: value out of range",
            quote(value)
        )),
    }
}

pub fn go_uint16(value: &str) -> Result<u16, String> {
    go_uint(value, 16).map(|n| n as u16)
}

pub fn go_uint64(value: &str) -> Result<u64, String> {
    go_uint(value, 64)
}

/// Go's `strconv.Quote` for the ASCII text of flag values.
fn quote(s: &str) -> String {
    crate::format::go_quote(s)
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn go_duration(value: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(value));
    let mut s = value;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            frac_part = &rest[..frac_len];
            s = &rest[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", quote(value)));
        }
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit),
                    quote(value)
                ))
            }
        };
        let number: f64 = format!(
            "{}.{}",
            if int_part.is_empty() { "0" } else { int_part },
            if frac_part.is_empty() { "0" } else { frac_part }
        )
        .parse()
        .map_err(|_| invalid())?;
        total += number * scale;
        if total > i64::MAX as f64 {
            return Err(invalid());
        }
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

/// docker's `opts.ParseCPUs` (`--cpus`): a rational number of CPUs, in nano-CPUs.
pub fn parse_cpus(value: &str) -> Result<i64, String> {
    let bad = || format!("failed to parse {value} as a rational number");
    let (num, den) = parse_rational(value).ok_or_else(bad)?;
    let nano = num.checked_mul(1_000_000_000).ok_or_else(bad)?;
    if den == 0 {
        return Err(bad());
    }
    if nano % den != 0 {
        return Err("value is too precise".into());
    }
    Ok((nano / den) as i64)
}

/// `big.Rat.SetString`: "a/b" or a decimal number with an optional exponent.
fn parse_rational(value: &str) -> Option<(i128, i128)> {
    if let Some((a, b)) = value.split_once('/') {
        let a: i128 = a.parse().ok()?;
        if b.starts_with(['+', '-']) {
            return None;
        }
        let b: i128 = b.parse().ok()?;
        return Some((a, b));
    }
    let (neg, s) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .chars()
        .chain(frac_part.chars())
        .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let mut num: i128 = digits.parse().ok()?;
    let mut den: i128 = 1;
    let scale = exp - frac_part.len() as i32;
    if scale >= 0 {
        num = num.checked_mul(10i128.checked_pow(scale as u32)?)?;
    } else {
        den = 10i128.checked_pow((-scale) as u32)?;
    }
    Some((if neg { -num } else { num }, den))
}

/// `opts.MemBytes` (`--memory`, `--kernel-memory`, ...): go-units' `RAMInBytes`.
pub fn mem_bytes(value: &str) -> Result<i64, String> {
    ram_in_bytes(value)
}

/// `opts.MemSwapBytes` (`--memory-swap`): like [`mem_bytes`], and `-1` for unlimited.
pub fn mem_swap_bytes(value: &str) -> Result<i64, String> {
    if value == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(value)
}

/// Go's `net.ParseIP`, printed as Go prints it (IPv4-mapped addresses as IPv4).
pub fn parse_ip(value: &str) -> Option<String> {
    match value.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Some(v4.to_string()),
            None => Some(v6.to_string()),
        },
        IpAddr::V4(v4) => Some(v4.to_string()),
    }
}

/// `opts.ValidateIPAddress` (`--dns`).
pub fn validate_ip_address(value: &str) -> Result<String, String> {
    parse_ip(value.trim()).ok_or_else(|| format!("IP address is not correctly formatted: {value}"))
}

/// `opts.ValidateDNSSearch` (`--dns-search`).
pub fn validate_dns_search(value: &str) -> Result<String, String> {
    let value = value.trim_matches(' ');
    if value == "." {
        return Ok(value.to_string());
    }
    let bad = || format!("{value} is not a valid domain");
    if !value.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let trimmed = value.trim_end_matches(['\t', '\n', '\u{c}', '\r', ' ']);
    let core = trimmed.strip_suffix('.').unwrap_or(trimmed);
    let label_ok = |label: &str| {
        // docker's pattern allows an optional ':' before each label.
        let label = label.strip_prefix(':').unwrap_or(label);
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
    };
    if core.split('.').all(label_ok) && core.len() < 255 {
        Ok(core.to_string())
    } else {
        Err(bad())
    }
}

/// `opts.ValidateExtraHost` (`--add-host`): `name:ip` or `name=ip`, sent as `name:ip`.
pub fn validate_extra_host(value: &str) -> Result<String, String> {
    let (name, addr) = match value.split_once('=') {
        Some(kv) => kv,
        None => value.split_once(':').unwrap_or((value, "")),
    };
    let has_sep = value.contains('=') || value.contains(':');
    if !has_sep || name.is_empty() || name.contains(':') {
        return Err(format!("bad format for add-host: {}", quote(value)));
    }
    let mut addr = addr;
    if addr != "host-gateway" {
        if addr.len() > 2 && addr.starts_with('[') && addr.ends_with(']') {
            addr = &addr[1..addr.len() - 1];
        }
        if validate_ip_address(addr).is_err() {
            return Err(format!("invalid IP address in add-host: {}", quote(addr)));
        }
    }
    Ok(format!("{name}:{addr}"))
}

/// `opts.ValidateLink` (`--link name[:alias]`).
pub fn validate_link(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("empty string specified for links".into());
    }
    if value.splitn(3, ':').count() > 2 {
        return Err(format!("bad format for links: {value}"));
    }
    Ok(value.to_string())
}

/// `opts.ValidateSysctl` (`--sysctl`): namespaced sysctls only.
pub fn validate_sysctl(value: &str) -> Result<String, String> {
    const ALLOWED: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let not_allowed = || format!("sysctl '{value}' is not allowed");
    let Some((key, _)) = value.split_once('=').filter(|(k, _)| !k.is_empty()) else {
        return Err(not_allowed());
    };
    if ALLOWED.contains(&key) || key.starts_with("net.") || key.starts_with("fs.mqueue.") {
        Ok(value.to_string())
    } else {
        Err(not_allowed())
    }
}

/// `validateDeviceCgroupRule`: `type major:minor mode`.
pub fn validate_device_cgroup_rule(value: &str) -> Result<String, String> {
    let bad = || format!("invalid device cgroup format '{value}'");
    let parts: Vec<&str> = value.split(' ').collect();
    let [kind, numbers, mode] = parts.as_slice() else {
        return Err(bad());
    };
    let number_ok = |s: &str| s == "*" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let numbers_ok = numbers
        .split_once(':')
        .is_some_and(|(a, b)| number_ok(a) && number_ok(b));
    let mode_ok = (1..=3).contains(&mode.len()) && mode.bytes().all(|b| b"rwm".contains(&b));
    if matches!(*kind, "a" | "c" | "b") && numbers_ok && mode_ok {
        Ok(value.to_string())
    } else {
        Err(bad())
    }
}

/// A `--device-read-bps`-style value: `{"Path": ..., "Rate": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

/// A `--blkio-weight-device` value: `{"Path": ..., "Weight": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

fn device_path(value: &str) -> Result<(&str, &str), String> {
    let Some((path, rest)) = value.split_once(':').filter(|(k, _)| !k.is_empty()) else {
        return Err(format!("bad format: {value}"));
    };
    if !path.starts_with("/dev/") {
        return Err(format!("bad format for device path: {value}"));
    }
    Ok((path, rest))
}

/// `opts.ValidateThrottleBpsDevice`.
pub fn throttle_bps_device(value: &str) -> Result<ThrottleDevice, String> {
    let (path, rate) = device_path(value)?;
    match ram_in_bytes(rate) {
        Ok(rate) if rate >= 0 => Ok(ThrottleDevice {
            path: path.to_string(),
            rate: rate as u64,
        }),
        _ => Err(format!("invalid rate for device: {value}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb")),
    }
}

/// `opts.ValidateThrottleIOpsDevice`.
pub fn throttle_iops_device(value: &str) -> Result<ThrottleDevice, String> {
    let (path, rate) = device_path(value)?;
    match rate.parse::<u64>() {
        Ok(n) if !rate.starts_with('+') => Ok(ThrottleDevice {
            path: path.to_string(),
            rate: n,
        }),
        _ => Err(format!("invalid rate for device: {value}. The correct format is <device-path>:<number>. Number must be a positive integer")),
    }
}

/// `opts.ValidateWeightDevice`.
pub fn weight_device(value: &str) -> Result<WeightDevice, String> {
    let (path, weight) = device_path(value)?;
    let bad = || format!("invalid weight for device: {value}");
    let weight: u16 = weight.parse().map_err(|_| bad())?;
    if weight > 0 && !(10..=1000).contains(&weight) {
        return Err(bad());
    }
    Ok(WeightDevice {
        path: path.to_string(),
        weight,
    })
}

/// `MapOpts` with no validator (`--annotation`).
pub fn any_map_entry(value: &str) -> Result<String, String> {
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_like_go() {
        assert_eq!(go_uint16("500"), Ok(500));
        assert_eq!(go_uint16("0x10"), Ok(16));
        assert_eq!(
            go_uint16("70000"),
            Err("strconv.ParseUint: parsing \"70000\": value out of range".into())
        );
        assert_eq!(
            go_uint16("-1"),
            Err("strconv.ParseUint: parsing \"-1\": invalid syntax".into())
        );
        assert_eq!(
            go_uint64("x"),
            Err("strconv.ParseUint: parsing \"x\": invalid syntax".into())
        );
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration("30s"), Ok(30_000_000_000));
        assert_eq!(go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(go_duration("500ms"), Ok(500_000_000));
        assert_eq!(go_duration("0"), Ok(0));
        assert_eq!(go_duration("-2s"), Ok(-2_000_000_000));
        assert_eq!(go_duration("x"), Err("time: invalid duration \"x\"".into()));
        assert_eq!(
            go_duration("10"),
            Err("time: missing unit in duration \"10\"".into())
        );
        assert_eq!(
            go_duration("10y"),
            Err("time: unknown unit \"y\" in duration \"10y\"".into())
        );
    }

    #[test]
    fn cpus_like_docker() {
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("0.001"), Ok(1_000_000));
        assert_eq!(parse_cpus("3/2"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("2e-1"), Ok(200_000_000));
        assert_eq!(
            parse_cpus("abc"),
            Err("failed to parse abc as a rational number".into())
        );
        assert_eq!(
            parse_cpus("0.0000000001"),
            Err("value is too precise".into())
        );
    }

    #[test]
    fn validators_like_docker() {
        assert_eq!(validate_extra_host("a:1.2.3.4"), Ok("a:1.2.3.4".into()));
        assert_eq!(validate_extra_host("a=::1"), Ok("a:::1".into()));
        assert_eq!(validate_extra_host("a:[::1]"), Ok("a:::1".into()));
        assert_eq!(
            validate_extra_host("a:host-gateway"),
            Ok("a:host-gateway".into())
        );
        assert_eq!(
            validate_extra_host("nope"),
            Err("bad format for add-host: \"nope\"".into())
        );
        assert_eq!(
            validate_extra_host("a:xyz"),
            Err("invalid IP address in add-host: \"xyz\"".into())
        );
        assert_eq!(validate_ip_address(" 8.8.8.8 "), Ok("8.8.8.8".into()));
        assert_eq!(
            validate_ip_address("8.8"),
            Err("IP address is not correctly formatted: 8.8".into())
        );
        assert_eq!(
            validate_dns_search("example.com."),
            Ok("example.com".into())
        );
        assert_eq!(validate_dns_search("."), Ok(".".into()));
        assert_eq!(
            validate_dns_search("-x.com"),
            Err("-x.com is not a valid domain".into())
        );
        assert_eq!(
            validate_dns_search("123"),
            Err("123 is not a valid domain".into())
        );
        assert_eq!(validate_link("a:b"), Ok("a:b".into()));
        assert_eq!(
            validate_link("a:b:c"),
            Err("bad format for links: a:b:c".into())
        );
        assert_eq!(
            validate_sysctl("kernel.foo=1"),
            Err("sysctl 'kernel.foo=1' is not allowed".into())
        );
        assert!(validate_sysctl("net.ipv4.ip_forward=1").is_ok());
        assert!(validate_device_cgroup_rule("c 1:3 mr").is_ok());
        assert!(validate_device_cgroup_rule("a *:* rwm").is_ok());
        assert_eq!(
            validate_device_cgroup_rule("x 1:3 r"),
            Err("invalid device cgroup format 'x 1:3 r'".into())
        );
        assert_eq!(
            throttle_bps_device("/dev/sda:1mb"),
            Ok(ThrottleDevice {
                path: "/dev/sda".into(),
                rate: 1048576
            })
        );
        assert_eq!(
            throttle_bps_device("sda:1"),
            Err("bad format for device path: sda:1".into())
        );
        assert_eq!(
            weight_device("/dev/sda:5"),
            Err("invalid weight for device: /dev/sda:5".into())
        );
        assert_eq!(mem_swap_bytes("-1"), Ok(-1));
        assert_eq!(mem_bytes("abc"), Err("invalid size: 'abc'".into()));
    }
}
