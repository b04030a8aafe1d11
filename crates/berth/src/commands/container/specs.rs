//! The port, volume, mount and device specifications of `run`/`create`, parsed as
//! docker's CLI parses them (go-connections' `nat`, the compose volume parser,
//! `opts.MountOpt`, `parseDevice`).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

// Go's `path.Clean` is `filepath.Clean` on Unix.
use crate::archive::gopath::clean as clean_path;
use crate::opts::go_uint_base10;

/// Go's `filepath.Abs`.
fn abs_path(p: &str) -> String {
    if p.starts_with('/') {
        return clean_path(p);
    }
    match std::env::current_dir() {
        Ok(cwd) => clean_path(&format!("{}/{p}", cwd.display())),
        Err(_) => p.to_string(),
    }
}

/// `nat.ParsePortRange`.
fn parse_port_range(ports: &str) -> Result<(u64, u64), String> {
    if ports.is_empty() {
        return Err("empty string specified for ports".into());
    }
    let Some((a, b)) = ports.split_once('-') else {
        let p = go_uint_base10(ports, 16)?;
        return Ok((p, p));
    };
    let b = b.split('-').next().unwrap_or("");
    let start = go_uint_base10(a, 16)?;
    let end = go_uint_base10(b, 16)?;
    if end < start {
        return Err(format!("invalid range specified for port: {ports}"));
    }
    Ok((start, end))
}

/// `nat.SplitProtoPort`: `(proto, port)`.
fn split_proto_port(raw: &str) -> (String, String) {
    let parts: Vec<&str> = raw.split('/').collect();
    if raw.is_empty() || parts[0].is_empty() {
        return (String::new(), String::new());
    }
    if parts.len() == 1 || parts[1].is_empty() {
        return ("tcp".into(), parts[0].into());
    }
    (parts[1].into(), parts[0].into())
}

/// `nat.NewPort`.
fn new_port(proto: &str, port: &str) -> Result<String, String> {
    let (start, end) = if port.is_empty() {
        (0, 0)
    } else {
        parse_port_range(port)?
    };
    Ok(if start == end {
        format!("{start}/{proto}")
    } else {
        format!("{start}-{end}/{proto}")
    })
}

/// Exposed ports and their bindings, keyed like `nat.Port` ("80/tcp").
#[derive(Debug, Default)]
pub struct Ports {
    pub exposed: BTreeMap<String, ()>,
    pub bindings: BTreeMap<String, Vec<(String, String)>>,
}

/// `convertToStandardNotation`: the long `-p target=80,published=8080` syntax.
fn standard_notation(publish: &str) -> Result<String, String> {
    if !publish.contains('=') {
        return Ok(publish.to_string());
    }
    let mut params: BTreeMap<&str, &str> = BTreeMap::new();
    params.insert("protocol", "tcp");
    for param in publish.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => {
                return Err(format!(
                    "invalid publish opts format (should be name=value but got '{param}')"
                ))
            }
        }
    }
    let get = |k: &str| params.get(k).copied().unwrap_or("");
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// `nat.ParsePortSpec` for one `-p` value, added to `ports`.
fn add_port_spec(ports: &mut Ports, raw: &str) -> Result<(), String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (mut ip, host_port, container_port) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        3 => (parts[0].to_string(), parts[1], parts[2]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (proto, container_port) = split_proto_port(container_port);
    if ip.starts_with('[') {
        match ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
            Some(inner) if !inner.contains(['[', ']']) => ip = inner.to_string(),
            _ => {
                return Err(format!(
                    "invalid IP address {ip}: address {ip}:: missing port in address"
                ))
            }
        }
    }
    if !ip.is_empty() && crate::opts::parse_ip(&ip).is_none() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container_port.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) = parse_port_range(&container_port)
        .map_err(|_| format!("invalid containerPort: {container_port}"))?;
    let (mut host_start, mut host_end) = (0, 0);
    if !host_port.is_empty() {
        (host_start, host_end) =
            parse_port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
    }
    if !host_port.is_empty() && (end - start) != (host_end - host_start) && end != start {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container_port} and {host_port}"
        ));
    }
    let lower = proto.to_lowercase();
    if !matches!(lower.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    for i in 0..=(end - start) {
        let mut host = host_port.to_string();
        if !host_port.is_empty() {
            host = (host_start + i).to_string();
        }
        // A single container port with a host range: the daemon picks from the range.
        if start == end && host_start != host_end {
            host = format!("{host}-{host_end}");
        }
        let port = new_port(&lower, &(start + i).to_string())?;
        ports.exposed.insert(port.clone(), ());
        ports
            .bindings
            .entry(port)
            .or_default()
            .push((ip.clone(), host));
    }
    Ok(())
}

/// `-p` and `--expose` values as `ExposedPorts` and `PortBindings`.
pub fn parse_ports(publish: &[String], expose: &[String]) -> Result<Ports, String> {
    let mut ports = Ports::default();
    for p in publish {
        add_port_spec(&mut ports, &standard_notation(p)?)?;
    }
    for e in expose {
        if e.contains(':') {
            return Err(format!("invalid port format for --expose: {e}"));
        }
        let (proto, port) = split_proto_port(e);
        let (start, end) = parse_port_range(&port)
            .map_err(|err| format!("invalid range format for --expose: {e}, error: {err}"))?;
        for i in start..=end {
            let p = new_port(&proto, &i.to_string())?;
            ports.exposed.entry(p).or_insert(());
        }
    }
    Ok(ports)
}

impl Ports {
    pub fn exposed_json(&self) -> Value {
        let m: Map<String, Value> = self
            .exposed
            .keys()
            .map(|k| (k.clone(), json!({})))
            .collect();
        Value::Object(m)
    }

    pub fn bindings_json(&self) -> Value {
        let m: Map<String, Value> = self
            .bindings
            .iter()
            .map(|(k, list)| {
                let list: Vec<Value> = list
                    .iter()
                    .map(|(ip, port)| json!({"HostIp": ip, "HostPort": port}))
                    .collect();
                (k.clone(), Value::Array(list))
            })
            .collect();
        Value::Object(m)
    }
}

/// What the compose volume parser makes of a `-v` value.
#[derive(Debug, PartialEq, Eq)]
pub struct VolumeSpec {
    pub source: String,
    pub target: String,
    pub bind: bool,
}

/// `loader.ParseVolume` (only what `run` needs: source, target and whether it binds a
/// host path).
pub fn parse_volume(spec: &str) -> Result<VolumeSpec, String> {
    let chars: Vec<char> = spec.chars().collect();
    match chars.len() {
        0 => return Err("invalid empty volume spec".into()),
        1 | 2 => {
            return Ok(VolumeSpec {
                source: String::new(),
                target: spec.to_string(),
                bind: false,
            })
        }
        _ => {}
    }
    let mut source = String::new();
    let mut target = String::new();
    let mut buffer: Vec<char> = Vec::new();
    let is_drive = |buf: &[char], c: char| c == ':' && buf.len() == 1 && buf[0].is_alphabetic();
    let end = '\0';
    for c in chars.into_iter().chain(std::iter::once(end)) {
        if is_drive(&buffer, c) {
            buffer.push(c);
        } else if c == ':' || c == end {
            let text: String = buffer.iter().collect();
            if buffer.is_empty() {
                return Err(format!(
                    "invalid spec: {spec}: empty section between colons"
                ));
            } else if source.is_empty() && c == end {
                target = text;
            } else if source.is_empty() {
                source = text;
            } else if target.is_empty() {
                target = text;
            } else if c == ':' {
                return Err(format!("invalid spec: {spec}: too many colons"));
            }
            // Options (ro, rw, propagation) are the daemon's to read from the bind.
            buffer.clear();
        } else {
            buffer.push(c);
        }
    }
    let bind = !source.is_empty() && is_file_path(&source);
    Ok(VolumeSpec {
        source,
        target,
        bind,
    })
}

fn is_file_path(source: &str) -> bool {
    let chars: Vec<char> = source.chars().collect();
    if matches!(chars[0], '.' | '/' | '~') {
        return true;
    }
    if chars.len() == 1 {
        return false;
    }
    if source.starts_with("\\\\") {
        return true;
    }
    chars[1] == ':' && chars[0].is_alphabetic()
}

/// The `-v` values: `Binds` (host paths, relative ones made absolute) and the
/// anonymous `Volumes` left for the image config.
pub fn parse_volumes(values: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
    let mut binds = Vec::new();
    let mut volumes: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for v in values {
        if !seen.insert(v.clone()) {
            continue;
        }
        let parsed = parse_volume(v)?;
        if parsed.source.is_empty() {
            volumes.push(v.clone());
            continue;
        }
        let mut bind = v.clone();
        if parsed.bind {
            if let Some((host, target)) = v.split_once(':') {
                let host = if !host.starts_with('/') && host.starts_with('.') {
                    abs_path(host)
                } else {
                    host.to_string()
                };
                bind = format!("{host}:{target}");
            }
        }
        binds.push(bind);
    }
    volumes.sort();
    Ok((binds, volumes))
}

/// Go's `encoding/csv` for one line: comma-separated, fields may be double-quoted.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    let mut column = 0usize;
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            column += 1;
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        column += 2;
                        field.push('"');
                    }
                    Some('"') => {
                        column += 1;
                        break;
                    }
                    Some(c) => {
                        column += c.len_utf8();
                        field.push(c);
                    }
                    None => {
                        return Err(format!(
                            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                            column + 1
                        ))
                    }
                }
            }
            match chars.peek() {
                None | Some(',') => {}
                Some(_) => {
                    return Err(format!(
                    "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
                    column + 1
                ))
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err(format!(
                        "parse error on line 1, column {}: bare \" in non-quoted-field",
                        column + 1
                    ));
                }
                column += c.len_utf8();
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        match chars.next() {
            Some(',') => column += 1,
            _ => break,
        }
    }
    Ok(fields)
}

/// `--mount`'s volume options while parsing: the plain ones, labels and the driver.
#[derive(Default)]
struct VolumeOpts {
    opts: Map<String, Value>,
    labels: BTreeMap<String, String>,
    driver: Map<String, Value>,
}

fn go_bool(v: &str) -> Option<bool> {
    crate::cli::go_bool(v).ok()
}

/// `opts.MountOpt.Set`: one `--mount` value as the API's `Mount`.
pub fn parse_mount(value: &str) -> Result<Value, String> {
    if value.is_empty() {
        // encoding/csv reads no record at all.
        return Err("EOF".into());
    }
    let fields = csv_fields(value)?;
    let mut kind = "volume".to_string();
    let mut source = String::new();
    let mut target = String::new();
    let mut read_only = false;
    let mut consistency = String::new();
    let mut bind: Option<Map<String, Value>> = None;
    let mut volume: Option<VolumeOpts> = None;
    let mut image: Option<Map<String, Value>> = None;
    let mut tmpfs: Option<Map<String, Value>> = None;
    let mut driver_opts: Option<BTreeMap<String, String>> = None;
    let invalid = |key: &str, val: &str| format!("invalid value for {key}: {val}");
    for field in &fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => read_only = true,
                "volume-nocopy" => {
                    volume
                        .get_or_insert_with(Default::default)
                        .opts
                        .insert("NoCopy".into(), json!(true));
                }
                "bind-nonrecursive" => {
                    bind.get_or_insert_with(Map::new)
                        .insert("NonRecursive".into(), json!(true));
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        match key.as_str() {
            "type" => kind = val.to_lowercase(),
            "source" | "src" => {
                source = if !val.starts_with('/') && val.starts_with('.') {
                    abs_path(val)
                } else {
                    val.to_string()
                };
            }
            "target" | "dst" | "destination" => target = val.to_string(),
            "readonly" | "ro" => read_only = go_bool(val).ok_or_else(|| invalid(&key, val))?,
            "consistency" => consistency = val.to_lowercase(),
            "bind-propagation" => {
                bind.get_or_insert_with(Map::new)
                    .insert("Propagation".into(), json!(val.to_lowercase()));
            }
            "bind-nonrecursive" => {
                let v = go_bool(val).ok_or_else(|| invalid(&key, val))?;
                let b = bind.get_or_insert_with(Map::new);
                if v {
                    b.insert("NonRecursive".into(), json!(true));
                } else {
                    b.remove("NonRecursive");
                }
                super::tty::log(
                    "warning",
                    "bind-nonrecursive is deprecated, use bind-recursive=disabled instead",
                );
            }
            "bind-recursive" => {
                let b = bind.get_or_insert_with(Map::new);
                match val {
                    "enabled" => {}
                    "disabled" => {
                        b.insert("NonRecursive".into(), json!(true));
                    }
                    "writable" => {
                        b.insert("ReadOnlyNonRecursive".into(), json!(true));
                    }
                    "readonly" => {
                        b.insert("ReadOnlyForceRecursive".into(), json!(true));
                    }
                    _ => return Err(format!(
                        "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                    )),
                }
            }
            "volume-subpath" => {
                volume
                    .get_or_insert_with(Default::default)
                    .opts
                    .insert("Subpath".into(), json!(val));
            }
            "volume-nocopy" => {
                let v = go_bool(val)
                    .ok_or_else(|| format!("invalid value for volume-nocopy: {val}"))?;
                let o = &mut volume.get_or_insert_with(Default::default).opts;
                if v {
                    o.insert("NoCopy".into(), json!(true));
                } else {
                    o.remove("NoCopy");
                }
            }
            "volume-label" => {
                let labels = &mut volume.get_or_insert_with(Default::default).labels;
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                if !k.is_empty() {
                    labels.insert(k.into(), v.into());
                }
            }
            "volume-driver" => {
                volume
                    .get_or_insert_with(Default::default)
                    .driver
                    .insert("Name".into(), json!(val));
            }
            "volume-opt" => {
                volume.get_or_insert_with(Default::default);
                let opts = driver_opts.get_or_insert_with(BTreeMap::new);
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                if !k.is_empty() {
                    opts.insert(k.into(), v.into());
                }
            }
            "image-subpath" => {
                image
                    .get_or_insert_with(Map::new)
                    .insert("Subpath".into(), json!(val));
            }
            "tmpfs-size" => {
                let size = crate::cli::ram_in_bytes(val).map_err(|_| invalid(&key, val))?;
                let t = tmpfs.get_or_insert_with(Map::new);
                if size != 0 {
                    t.insert("SizeBytes".into(), json!(size));
                }
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(val, 8).map_err(|_| invalid(&key, val))?;
                let t = tmpfs.get_or_insert_with(Map::new);
                if mode != 0 {
                    t.insert("Mode".into(), json!(mode));
                }
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if kind.is_empty() {
        return Err("type is required".into());
    }
    if target.is_empty() {
        return Err("target is required".into());
    }
    for (set, prefix, wanted) in [
        (volume.is_some(), "volume", "volume"),
        (image.is_some(), "image", "image"),
        (bind.is_some(), "bind", "bind"),
        (tmpfs.is_some(), "tmpfs", "tmpfs"),
    ] {
        if set && kind != wanted {
            return Err(format!(
                "cannot mix '{prefix}-*' options with mount type '{kind}'"
            ));
        }
    }
    if let Some(b) = &bind {
        if b.contains_key("ReadOnlyNonRecursive") && !read_only {
            return Err(
                "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
                    .into(),
            );
        }
        if b.contains_key("ReadOnlyForceRecursive") {
            if !read_only {
                return Err("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".into());
            }
            if b.get("Propagation").and_then(Value::as_str) != Some("rprivate") {
                return Err("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".into());
            }
        }
    }
    let mut m = Map::new();
    m.insert("Type".into(), json!(kind));
    if !source.is_empty() {
        m.insert("Source".into(), json!(source));
    }
    m.insert("Target".into(), json!(target));
    if read_only {
        m.insert("ReadOnly".into(), json!(true));
    }
    if !consistency.is_empty() {
        m.insert("Consistency".into(), json!(consistency));
    }
    if let Some(b) = bind {
        // Go's field order.
        let mut ordered = Map::new();
        for key in [
            "Propagation",
            "NonRecursive",
            "CreateMountpoint",
            "ReadOnlyNonRecursive",
            "ReadOnlyForceRecursive",
        ] {
            if let Some(v) = b.get(key) {
                ordered.insert(key.into(), v.clone());
            }
        }
        m.insert("BindOptions".into(), Value::Object(ordered));
    }
    if let Some(VolumeOpts {
        opts,
        labels,
        mut driver,
    }) = volume
    {
        let mut ordered = Map::new();
        if let Some(v) = opts.get("NoCopy") {
            ordered.insert("NoCopy".into(), v.clone());
        }
        if !labels.is_empty() {
            ordered.insert("Labels".into(), json!(labels));
        }
        if let Some(v) = opts.get("Subpath") {
            ordered.insert("Subpath".into(), v.clone());
        }
        if let Some(o) = driver_opts.filter(|o| !o.is_empty()) {
            driver.insert("Options".into(), json!(o));
        }
        ordered.insert("DriverConfig".into(), Value::Object(driver));
        m.insert("VolumeOptions".into(), Value::Object(ordered));
    }
    if let Some(i) = image {
        m.insert("ImageOptions".into(), Value::Object(i));
    }
    if let Some(t) = tmpfs {
        let mut ordered = Map::new();
        for key in ["SizeBytes", "Mode"] {
            if let Some(v) = t.get(key) {
                ordered.insert(key.into(), v.clone());
            }
        }
        m.insert("TmpfsOptions".into(), Value::Object(ordered));
    }
    Ok(Value::Object(m))
}

/// `validDeviceMode`: a non-empty combination of r, w and m, each at most once.
fn valid_device_mode(mode: &str) -> bool {
    let mut seen = [false; 3];
    !mode.is_empty()
        && mode.chars().all(|c| {
            let i = match c {
                'r' => 0,
                'w' => 1,
                'm' => 2,
                _ => return false,
            };
            !std::mem::replace(&mut seen[i], true)
        })
}

/// `validateLinuxPath` then `parseLinuxDevice`: one `--device` value as a
/// `DeviceMapping`.
pub fn parse_device(value: &str) -> Result<Value, String> {
    if value.matches(':').count() > 2 {
        return Err(format!("bad format for path: {value}"));
    }
    let split: Vec<&str> = value.splitn(3, ':').collect();
    if split[0].is_empty() {
        return Err(format!("bad format for path: {value}"));
    }
    let (validated, container_path) = match split.as_slice() {
        [p] => (clean_path(p), p.to_string()),
        [a, b] if valid_device_mode(b) => (format!("{}:{b}", clean_path(a)), a.to_string()),
        [a, b] => (format!("{a}:{}", clean_path(b)), b.to_string()),
        [a, b, mode] => {
            if !valid_device_mode(mode) {
                return Err(format!("bad mode specified: {mode}"));
            }
            (format!("{a}:{b}:{mode}"), b.to_string())
        }
        _ => unreachable!("splitn(3) gives at most 3 parts"),
    };
    if !container_path.starts_with('/') {
        return Err(format!("{container_path} is not an absolute path"));
    }
    let arr: Vec<&str> = validated.splitn(4, ':').collect();
    let mut permissions = "rwm".to_string();
    let mut dst = String::new();
    if arr.len() == 3 {
        permissions = arr[2].to_string();
    }
    if arr.len() >= 2 {
        if valid_device_mode(arr[1]) {
            permissions = arr[1].to_string();
        } else {
            dst = arr[1].to_string();
        }
    }
    let src = arr[0].to_string();
    if dst.is_empty() {
        dst = src.clone();
    }
    Ok(json!({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": permissions}))
}

/// A CDI device name (`vendor.com/class=name`), which docker sends as a device request.
pub fn is_cdi_name(device: &str) -> bool {
    let Some((kind, name)) = device.split_once('=') else {
        return false;
    };
    let Some((vendor, class)) = kind.split_once('/') else {
        return false;
    };
    let ok = |s: &str, extra: &[char]| {
        !s.is_empty()
            && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
    };
    ok(vendor, &['.', '-', '_'])
        && ok(class, &['-', '_'])
        && !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_like_nat() {
        let p = parse_ports(
            &[
                "8080:80".into(),
                "127.0.0.1:53:53/udp".into(),
                "9000-9001:9000-9001".into(),
                "[::1]:443:443".into(),
                "3000".into(),
                "8000-8010:7000".into(),
            ],
            &["5000-5001/udp".into(), "80".into()],
        )
        .unwrap();
        assert_eq!(
            p.exposed_json().to_string(),
            r#"{"3000/tcp":{},"443/tcp":{},"5000/udp":{},"5001/udp":{},"53/udp":{},"7000/tcp":{},"80/tcp":{},"9000/tcp":{},"9001/tcp":{}}"#
        );
        assert_eq!(
            p.bindings_json().to_string(),
            r#"{"3000/tcp":[{"HostIp":"","HostPort":""}],"443/tcp":[{"HostIp":"::1","HostPort":"443"}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":"53"}],"7000/tcp":[{"HostIp":"","HostPort":"8000-8010"}],"80/tcp":[{"HostIp":"","HostPort":"8080"}],"9000/tcp":[{"HostIp":"","HostPort":"9000"}],"9001/tcp":[{"HostIp":"","HostPort":"9001"}]}"#
        );
        let err = |p: &str| parse_ports(&[p.into()], &[]).unwrap_err();
        assert_eq!(err("x:80"), "invalid hostPort: x");
        assert_eq!(err("80/foo"), "invalid proto: foo");
        assert_eq!(err("1.2.3:80:80"), "invalid IP address: 1.2.3");
        assert_eq!(
            err("80-81:90-95"),
            "invalid ranges specified for container and host Ports: 90-95 and 80-81"
        );
        let long = parse_ports(&["target=80,published=8080,protocol=udp".into()], &[]).unwrap();
        assert_eq!(long.bindings_json()["80/udp"][0]["HostPort"], "8080");
        assert_eq!(
            parse_ports(&[], &["80:90".into()]).unwrap_err(),
            "invalid port format for --expose: 80:90"
        );
        assert_eq!(
            parse_ports(&[], &["x".into()]).unwrap_err(),
            "invalid range format for --expose: x, error: strconv.ParseUint: parsing \"x\": invalid syntax"
        );
    }

    #[test]
    fn volumes_like_compose() {
        let (binds, vols) = parse_volumes(&[
            "/data".into(),
            "/host:/ctr:ro".into(),
            "named:/v".into(),
            "/data".into(),
        ])
        .unwrap();
        assert_eq!(binds, ["/host:/ctr:ro", "named:/v"]);
        assert_eq!(vols, ["/data"]);
        let cwd = std::env::current_dir().unwrap();
        let (binds, _) = parse_volumes(&["./x:/y".into()]).unwrap();
        assert_eq!(binds, [format!("{}/x:/y", cwd.display())]);
        assert_eq!(
            parse_volumes(&["/a::b".into()]).unwrap_err(),
            "invalid spec: /a::b: empty section between colons"
        );
        assert_eq!(
            parse_volumes(&["/a:/b:ro:x".into()]).unwrap_err(),
            "invalid spec: /a:/b:ro:x: too many colons"
        );
    }

    #[test]
    fn mounts_like_docker() {
        assert_eq!(
            parse_mount("type=bind,src=/a,dst=/b,readonly,bind-propagation=rshared")
                .unwrap()
                .to_string(),
            r#"{"Type":"bind","Source":"/a","Target":"/b","ReadOnly":true,"BindOptions":{"Propagation":"rshared"}}"#
        );
        assert_eq!(
            parse_mount("src=v,target=/d,volume-nocopy,volume-opt=o=1")
                .unwrap()
                .to_string(),
            r#"{"Type":"volume","Source":"v","Target":"/d","VolumeOptions":{"NoCopy":true,"DriverConfig":{"Options":{"o":"1"}}}}"#
        );
        assert_eq!(
            parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770")
                .unwrap()
                .to_string(),
            r#"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":1016}}"#
        );
        assert_eq!(
            parse_mount("type=bind,src=/a").unwrap_err(),
            "target is required"
        );
        assert_eq!(
            parse_mount("type=bind,dst=/a,volume-nocopy").unwrap_err(),
            "cannot mix 'volume-*' options with mount type 'bind'"
        );
        assert_eq!(
            parse_mount("dst=/a,foo=bar").unwrap_err(),
            "unexpected key 'foo' in 'foo=bar'"
        );
        assert_eq!(
            parse_mount("dst=/a,bogus").unwrap_err(),
            "invalid field 'bogus' must be a key=value pair"
        );
        assert_eq!(csv_fields("a,\"b,c\",d").unwrap(), ["a", "b,c", "d"]);
    }

    #[test]
    fn devices_like_docker() {
        let d = |v: &str| parse_device(v).map(|x| x.to_string());
        assert_eq!(
            d("/dev/fuse").unwrap(),
            r#"{"PathOnHost":"/dev/fuse","PathInContainer":"/dev/fuse","CgroupPermissions":"rwm"}"#
        );
        assert_eq!(
            d("/dev/sda:/dev/xvda:r").unwrap(),
            r#"{"PathOnHost":"/dev/sda","PathInContainer":"/dev/xvda","CgroupPermissions":"r"}"#
        );
        assert_eq!(
            d("/dev/sda:rw").unwrap(),
            r#"{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rw"}"#
        );
        assert_eq!(d("/dev/sda:x:r").unwrap_err(), "x is not an absolute path");
        assert_eq!(d("/dev/sda:/x:q").unwrap_err(), "bad mode specified: q");
        assert_eq!(d("a:b:c:d").unwrap_err(), "bad format for path: a:b:c:d");
        assert!(is_cdi_name("vendor.com/gpu=all"));
        assert!(!is_cdi_name("/dev/fuse"));
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean_path("/a/../b/./c/"), "/b/c");
        assert_eq!(clean_path("a/.."), ".");
        assert_eq!(clean_path("/.."), "/");
    }
}
