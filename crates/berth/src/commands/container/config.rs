//! `run`/`create` flags turned into the `POST /containers/create` body, as docker's
//! `parse` builds `Config`, `HostConfig` and `NetworkingConfig` and its API client
//! marshals them (Config fields at the top level, zero values included).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::specs;
use crate::cli::ContainerFlags;

/// What `parse` produced, plus the bits the commands need afterwards.
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    /// The request body.
    pub body: Value,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub auto_remove: bool,
}

/// Go's text for an OS error: the lower-case `strerror` ("no such file or directory").
pub fn go_io_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = std::io::Error::from_raw_os_error(code).to_string();
            // "No such file or directory (os error 2)" → "no such file or directory"
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().collect::<String>() + chars.as_str(),
                None => text,
            }
        }
        None => e.to_string(),
    }
}

/// Go's wording for a failed `os.Open`/`os.ReadFile`.
pub fn go_open_error(path: &str, e: &std::io::Error) -> String {
    format!("open {path}: {}", go_io_reason(e))
}

/// Looks up a variable named without a value (`os.LookupEnv` for env files).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// docker's `kvfile.Parse`: `KEY=value` lines, comments and blank lines skipped, a bare
/// `KEY` looked up with `lookup` (and dropped when unset).
pub fn parse_kv_file(path: &str, lookup: Option<Lookup<'_>>) -> Result<Vec<String>, String> {
    let data = std::fs::read(path).map_err(|e| go_open_error(path, &e))?;
    parse_kv_text(&data, lookup).map_err(|e| format!("invalid env file ({path}): {e}"))
}

fn parse_kv_text(data: &[u8], lookup: Option<Lookup<'_>>) -> Result<Vec<String>, String> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let mut out = Vec::new();
    for (n, raw) in data.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|_| format!("invalid utf8 bytes at line {}: {raw:?}", n + 1))?;
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, has_value) = match line.split_once('=') {
            Some((k, _)) => (k, true),
            None => (line, false),
        };
        if key.is_empty() {
            return Err(format!("no variable name on line '{line}'"));
        }
        if key.contains([' ', '\t']) {
            return Err(format!("variable '{key}' contains whitespaces"));
        }
        if has_value {
            out.push(line.to_string());
        } else if let Some(lookup) = lookup {
            if let Some(v) = lookup(line) {
                out.push(format!("{key}={v}"));
            }
        }
    }
    Ok(out)
}

/// `opts.ConvertKVStringsToMap`, as a sorted (Go-marshalled) map.
fn kv_map(values: &[String]) -> Map<String, Value> {
    let sorted: BTreeMap<&str, &str> = values
        .iter()
        .map(|v| v.split_once('=').unwrap_or((v.as_str(), "")))
        .collect();
    sorted
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

fn list_or_null(values: &[String]) -> Value {
    if values.is_empty() {
        Value::Null
    } else {
        json!(values)
    }
}

/// The moby client's `normalizeCapabilities`: upper case with a `CAP_` prefix, without
/// duplicates, sorted.
fn normalize_caps(caps: &[String]) -> Value {
    if caps.is_empty() {
        return Value::Null;
    }
    let caps: std::collections::BTreeSet<String> = caps
        .iter()
        .map(|c| {
            let c = c.to_uppercase();
            if c == "ALL" || c.starts_with("CAP_") {
                c
            } else {
                format!("CAP_{c}")
            }
        })
        .collect();
    json!(caps)
}

/// `opts.ParseRestartPolicy`.
pub fn restart_policy(policy: &str) -> Result<(String, i64), String> {
    if policy.is_empty() {
        return Ok((String::new(), 0));
    }
    let (name, count) = match policy.split_once(':') {
        Some(("", _)) => {
            return Err("invalid restart policy format: no policy provided before colon".into())
        }
        Some((name, count)) => (name, count),
        None => (policy, ""),
    };
    let count = if count.is_empty() {
        0
    } else {
        count.parse::<i64>().map_err(|_| {
            "invalid restart policy format: maximum retry count must be an integer".to_string()
        })?
    };
    Ok((name.to_string(), count))
}

/// `parseSecurityOpts` (seccomp profiles are read and sent inline) and
/// `parseSystemPaths` (`systempaths=unconfined` is handled here, not sent).
fn security_opts(opts: &[String]) -> Result<(Vec<String>, bool), String> {
    let mut out = Vec::new();
    let mut unconfined_paths = false;
    for opt in opts {
        let mut split = opt.split_once('=');
        if split.is_none() && opt != "no-new-privileges" {
            split = opt.split_once(':');
        }
        let (key, value) = split.unwrap_or((opt.as_str(), ""));
        if (split.is_none() || value.is_empty()) && key != "no-new-privileges" {
            return Err(format!("Invalid --security-opt: {opt:?}"));
        }
        if opt == "systempaths=unconfined" {
            unconfined_paths = true;
            continue;
        }
        if key == "seccomp" && value != "builtin" && value != "unconfined" {
            let data = std::fs::read(value).map_err(|e| {
                format!(
                    "opening seccomp profile ({value}) failed: {}",
                    go_open_error(value, &e)
                )
            })?;
            let profile: Value = serde_json::from_slice(&data).map_err(|e| {
                format!("compacting json for seccomp profile ({value}) failed: {e}")
            })?;
            out.push(format!("seccomp={profile}"));
            continue;
        }
        out.push(opt.clone());
    }
    Ok((out, unconfined_paths))
}

/// `container.NetworkMode.IsUserDefined`.
fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// One `--network` value (`name` or `name=x,alias=y,...`), with the container-wide
/// network flags applied to the first one.
#[derive(Debug, Default, Clone)]
struct Attachment {
    target: String,
    aliases: Vec<String>,
    links: Vec<String>,
    ipv4: String,
    ipv6: String,
    mac: String,
    link_local: Vec<String>,
    driver_opts: BTreeMap<String, String>,
    gw_priority: i64,
}

/// The regular expression `\w+=\w+` docker uses to spot the long syntax (unanchored).
fn looks_long(value: &str) -> bool {
    let b = value.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    (1..b.len().saturating_sub(1)).any(|i| b[i] == b'=' && word(b[i - 1]) && word(b[i + 1]))
}

/// `opts.NetworkOpt.Set`.
fn parse_network(value: &str) -> Result<Attachment, String> {
    if !looks_long(value) {
        return Ok(Attachment {
            target: value.to_string(),
            ..Default::default()
        });
    }
    let mut a = Attachment::default();
    for field in value.split(',') {
        let lower = field.to_lowercase();
        let (key, val) = match lower.split_once('=') {
            Some((k, v)) if !k.is_empty() => (k.trim(), v.trim().to_string()),
            _ => return Err(format!("invalid field {field}")),
        };
        match key {
            "name" => a.target = val,
            "alias" => a.aliases.push(val),
            "ip" => a.ipv4 = val,
            "ip6" => a.ipv6 = val,
            "mac-address" => a.mac = val,
            "link-local-ip" => a.link_local.push(val),
            "driver-opt" => {
                let (k, v) = val
                    .split_once('=')
                    .ok_or_else(|| "invalid key value pair format in driver options".to_string())?;
                a.driver_opts.insert(k.trim().into(), v.trim().into());
            }
            "gw-priority" => {
                a.gw_priority = val.parse().map_err(|_| {
                    let reason = if !val.is_empty()
                        && val
                            .trim_start_matches(['-', '+'])
                            .bytes()
                            .all(|c| c.is_ascii_digit())
                    {
                        "value out of range"
                    } else {
                        "invalid syntax"
                    };
                    format!("invalid gw-priority ({val}): {reason}")
                })?;
            }
            other => return Err(format!("invalid field key {other}")),
        }
    }
    if a.target.is_empty() {
        return Err("network name/id is not specified".into());
    }
    Ok(a)
}

/// `--network` values are checked while the flags are parsed, as pflag does.
pub fn validate_network(value: &str) -> Result<String, String> {
    parse_network(value).map(|_| value.to_string())
}

/// Go's `net.ParseMAC` (6-, 8- or 20-byte addresses with ':', '-' or '.').
fn valid_mac(s: &str) -> bool {
    let s = s.trim();
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    for sep in [':', '-'] {
        let parts: Vec<&str> = s.split(sep).collect();
        if matches!(parts.len(), 6 | 8 | 20) && parts.iter().all(|p| hex(p, 2)) {
            return true;
        }
    }
    let parts: Vec<&str> = s.split('.').collect();
    matches!(parts.len(), 3 | 4 | 10) && parts.iter().all(|p| hex(p, 4))
}

/// `parseNetworkAttachmentOpt`: the `EndpointSettings` docker sends.
fn endpoint(a: &Attachment) -> Result<Value, String> {
    if a.target.trim().is_empty() {
        return Err("no name set for network".into());
    }
    if !is_user_defined(&a.target) {
        if !a.aliases.is_empty() {
            return Err(
                "network-scoped aliases are only supported for user-defined networks".into(),
            );
        }
        if !a.links.is_empty() {
            return Err("links are only supported for user-defined networks".into());
        }
    }
    let ipam = if !a.ipv4.is_empty() || !a.ipv6.is_empty() || !a.link_local.is_empty() {
        let mut m = Map::new();
        if !a.ipv4.is_empty() {
            m.insert("IPv4Address".into(), json!(a.ipv4));
        }
        if !a.ipv6.is_empty() {
            m.insert("IPv6Address".into(), json!(a.ipv6));
        }
        if !a.link_local.is_empty() {
            m.insert("LinkLocalIPs".into(), json!(a.link_local));
        }
        Value::Object(m)
    } else {
        Value::Null
    };
    if !a.mac.is_empty() && !valid_mac(&a.mac) {
        return Err(format!("{} is not a valid mac address", a.mac));
    }
    Ok(json!({
        "IPAMConfig": ipam,
        "Links": list_or_null(&a.links),
        "Aliases": list_or_null(&a.aliases),
        "MacAddress": a.mac,
        "DriverOpts": if a.driver_opts.is_empty() { Value::Null } else { json!(a.driver_opts) },
        "GwPriority": a.gw_priority,
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": null,
    }))
}

fn is_empty_endpoint(a: &Attachment) -> bool {
    a.aliases.is_empty()
        && a.links.is_empty()
        && a.ipv4.is_empty()
        && a.ipv6.is_empty()
        && a.mac.is_empty()
        && a.link_local.is_empty()
        && a.driver_opts.is_empty()
        && a.gw_priority == 0
}

/// `applyContainerOptions`: `--network-alias`, `--link`, `--ip`, `--ip6`,
/// `--mac-address` and `--link-local-ip` go to the first network.
fn apply_container_options(a: &mut Attachment, f: &ContainerFlags) -> Result<(), String> {
    let ip = f.ip.clone().unwrap_or_default();
    let ip6 = f.ip6.clone().unwrap_or_default();
    let mac = f.mac_address.clone().unwrap_or_default();
    let conflict = |what: &str| Err(format!("conflicting options: cannot specify both {what}"));
    if !a.aliases.is_empty() && !f.network_alias.is_empty() {
        return conflict("--network-alias and per-network alias");
    }
    if !a.links.is_empty() && !f.link.is_empty() {
        return conflict("--link and per-network links");
    }
    if !a.ipv4.is_empty() && !ip.is_empty() {
        return conflict("--ip and per-network IPv4 address");
    }
    if !a.ipv6.is_empty() && !ip6.is_empty() {
        return conflict("--ip6 and per-network IPv6 address");
    }
    if !a.mac.is_empty() && !mac.is_empty() {
        return conflict("--mac-address and per-network MAC address");
    }
    if !a.link_local.is_empty() && !f.link_local_ip.is_empty() {
        return conflict("--link-local-ip and per-network link-local IP addresses");
    }
    if !f.network_alias.is_empty() {
        a.aliases = f.network_alias.clone();
    }
    // On the default bridge, `--link` is a legacy link (HostConfig.Links) instead.
    if is_user_defined(&a.target) && !f.link.is_empty() {
        a.links = f.link.clone();
    }
    if !ip.is_empty() {
        a.ipv4 = ip;
    }
    if !ip6.is_empty() {
        a.ipv6 = ip6;
    }
    if !mac.is_empty() {
        a.mac = mac;
    }
    if !f.link_local_ip.is_empty() {
        a.link_local = f.link_local_ip.clone();
    }
    Ok(())
}

/// `parseNetworkOpts`: the network mode and the endpoint configurations.
fn networks(f: &ContainerFlags) -> Result<(String, Map<String, Value>), String> {
    let mut endpoints = Map::new();
    if f.network.is_empty() {
        let mut a = Attachment {
            target: "default".into(),
            ..Default::default()
        };
        apply_container_options(&mut a, f)?;
        endpoints.insert("default".into(), endpoint(&a)?);
        return Ok(("default".into(), endpoints));
    }
    let mut attachments = f
        .network
        .iter()
        .map(|v| parse_network(v))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut user_defined, mut builtin) = (false, false);
    let count = attachments.len();
    for (i, a) in attachments.iter_mut().enumerate() {
        if is_user_defined(&a.target) {
            user_defined = true;
        } else {
            builtin = true;
        }
        if i == 0 {
            apply_container_options(a, f)?;
        }
        let ep = endpoint(a)?;
        if endpoints.contains_key(&a.target) {
            return Err(format!(
                "network {:?} is specified multiple times",
                a.target
            ));
        }
        // A single network without options is left to the daemon.
        if i == 0 && count == 1 && is_empty_endpoint(a) {
            continue;
        }
        endpoints.insert(a.target.clone(), ep);
    }
    if user_defined && builtin {
        return Err(
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
                .into(),
        );
    }
    Ok((attachments[0].target.clone(), endpoints))
}

/// `NetworkMode.NetworkName`: the key of the main network's endpoint.
fn network_name(mode: &str) -> &str {
    if mode.starts_with("container:") {
        "container"
    } else {
        mode
    }
}

/// `MapOpts` (`--sysctl`, `--annotation`): later values win, keys sorted.
fn map_opt(values: &[String]) -> Option<Value> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    for v in values {
        let (k, val) = v.split_once('=').unwrap_or((v.as_str(), ""));
        m.insert(k.to_string(), val.to_string());
    }
    (!m.is_empty()).then(|| json!(m))
}

/// docker's `parse`: validates the flags and builds the create request.
/// `console_size` is the terminal's `[height, width]` (zeros when not a terminal).
pub fn build(f: &ContainerFlags, console_size: [u16; 2]) -> Result<ContainerConfig, String> {
    let mut attach_stdin = f.attach.iter().any(|a| a == "stdin");
    let mut attach_stdout = f.attach.iter().any(|a| a == "stdout");
    let mut attach_stderr = f.attach.iter().any(|a| a == "stderr");
    if let Some(mac) = f.mac_address.as_ref().filter(|m| !m.is_empty()) {
        if !valid_mac(mac) {
            return Err(format!("{mac} is not a valid mac address"));
        }
    }
    if f.interactive {
        attach_stdin = true;
    }
    if f.attach.is_empty() {
        attach_stdout = true;
        attach_stderr = true;
    }
    let swappiness = f.memory_swappiness;
    if swappiness != -1 && !(0..=100).contains(&swappiness) {
        return Err(format!(
            "invalid value: {swappiness}. Valid memory swappiness range is 0-100"
        ));
    }
    let (binds, volumes) = specs::parse_volumes(&f.volume)?;

    let mut tmpfs = BTreeMap::new();
    for t in &f.tmpfs {
        let (k, v) = t.split_once(':').unwrap_or((t.as_str(), ""));
        tmpfs.insert(k.to_string(), v.to_string());
    }
    let cmd = list_or_null(&f.command);
    let entrypoint = match &f.entrypoint {
        Some(e) => json!([e]),
        None => Value::Null,
    };
    let ports = specs::parse_ports(&f.publish, &f.expose)?;

    let mut devices = Vec::new();
    let mut cdi_devices = Vec::new();
    for d in &f.device {
        if specs::is_cdi_name(d) {
            cdi_devices.push(d.clone());
            continue;
        }
        devices.push(specs::parse_device(d)?);
    }

    let env_lookup = |k: &str| std::env::var(k).ok();
    let mut env = Vec::new();
    for file in &f.env_file {
        env.extend(parse_kv_file(file, Some(&env_lookup))?);
    }
    env.extend(f.env.iter().cloned());
    let mut labels = Vec::new();
    for file in &f.label_file {
        labels.extend(parse_kv_file(file, None)?);
    }
    labels.extend(f.label.iter().cloned());

    let pid = f.pid.clone().unwrap_or_default();
    let pid_ok = pid.is_empty()
        || pid == "host"
        || pid
            .strip_prefix("container:")
            .is_some_and(|c| !c.is_empty());
    if !pid_ok {
        return Err("--pid: invalid PID mode".into());
    }
    let uts = f.uts.clone().unwrap_or_default();
    if !uts.is_empty() && uts != "host" {
        return Err("--uts: invalid UTS mode".into());
    }
    let userns = f.userns.clone().unwrap_or_default();
    if !userns.is_empty() && userns != "host" {
        return Err("--userns: invalid USER mode".into());
    }
    let cgroupns = f.cgroupns.clone().unwrap_or_default();
    if !matches!(cgroupns.as_str(), "" | "host" | "private") {
        return Err("--cgroupns: invalid CGROUP mode".into());
    }
    let (restart_name, restart_count) = restart_policy(&f.restart)?;
    let log_driver = f.log_driver.clone().unwrap_or_default();
    if log_driver == "none" && !f.log_opt.is_empty() {
        return Err(format!("invalid logging opts for driver {log_driver}"));
    }
    let (security, unconfined_paths) = security_opts(&f.security_opt)?;
    let system_paths = if unconfined_paths {
        json!([])
    } else {
        Value::Null
    };
    let mut storage = BTreeMap::new();
    for o in &f.storage_opt {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| "invalid storage option".to_string())?;
        storage.insert(k.to_string(), v.to_string());
    }

    let healthcheck = healthcheck(f)?;

    let mut config = Map::new();
    config.insert(
        "Hostname".into(),
        json!(f.hostname.clone().unwrap_or_default()),
    );
    config.insert(
        "Domainname".into(),
        json!(f.domainname.clone().unwrap_or_default()),
    );
    config.insert("User".into(), json!(f.user.clone().unwrap_or_default()));
    config.insert("AttachStdin".into(), json!(attach_stdin));
    config.insert("AttachStdout".into(), json!(attach_stdout));
    config.insert("AttachStderr".into(), json!(attach_stderr));
    if !ports.exposed.is_empty() {
        config.insert("ExposedPorts".into(), ports.exposed_json());
    }
    config.insert("Tty".into(), json!(f.tty));
    config.insert("OpenStdin".into(), json!(f.interactive));
    config.insert("StdinOnce".into(), json!(f.interactive && attach_stdin));
    config.insert("Env".into(), list_or_null(&env));
    config.insert("Cmd".into(), cmd);
    if let Some(h) = healthcheck {
        config.insert("Healthcheck".into(), h);
    }
    config.insert("Image".into(), json!(f.image.clone().unwrap_or_default()));
    let volume_map: Map<String, Value> = volumes.iter().map(|v| (v.clone(), json!({}))).collect();
    config.insert("Volumes".into(), Value::Object(volume_map));
    config.insert(
        "WorkingDir".into(),
        json!(f.workdir.clone().unwrap_or_default()),
    );
    config.insert("Entrypoint".into(), entrypoint);
    // MacAddress (the main network's) is filled in below, once the networks are known.
    config.insert("OnBuild".into(), Value::Null);
    config.insert("Labels".into(), Value::Object(kv_map(&labels)));
    if let Some(sig) = f.stop_signal.as_ref().filter(|s| !s.is_empty()) {
        config.insert("StopSignal".into(), json!(sig));
    }
    if let Some(t) = f.stop_timeout {
        config.insert("StopTimeout".into(), json!(t));
    }

    let (network_mode, endpoints) = networks(f)?;
    let mut ulimits = f.ulimit.clone();
    // UlimitOpt keeps the last value per name, listed by name.
    let mut by_name: BTreeMap<String, crate::cli::Ulimit> = BTreeMap::new();
    for u in ulimits.drain(..) {
        by_name.insert(u.name.clone(), u);
    }
    let ulimits: Vec<Value> = by_name
        .values()
        .map(|u| json!({"Name": u.name, "Hard": u.hard, "Soft": u.soft}))
        .collect();
    let weight_devices: Vec<Value> = f
        .blkio_weight_device
        .iter()
        .map(|d| json!({"Path": d.path, "Weight": d.weight}))
        .collect();
    let throttle = |list: &[crate::opts::ThrottleDevice]| -> Value {
        json!(list
            .iter()
            .map(|d| json!({"Path": d.path, "Rate": d.rate}))
            .collect::<Vec<_>>())
    };

    let mut hc = Map::new();
    hc.insert("Binds".into(), list_or_null(&binds));
    hc.insert(
        "ContainerIDFile".into(),
        json!(f.cidfile.clone().unwrap_or_default()),
    );
    hc.insert(
        "LogConfig".into(),
        json!({"Type": log_driver, "Config": Value::Object(kv_map(&f.log_opt))}),
    );
    hc.insert("NetworkMode".into(), json!(network_mode));
    hc.insert("PortBindings".into(), ports.bindings_json());
    hc.insert(
        "RestartPolicy".into(),
        json!({"Name": restart_name, "MaximumRetryCount": restart_count}),
    );
    hc.insert("AutoRemove".into(), json!(f.rm));
    hc.insert(
        "VolumeDriver".into(),
        json!(f.volume_driver.clone().unwrap_or_default()),
    );
    hc.insert("VolumesFrom".into(), list_or_null(&f.volumes_from));
    hc.insert("ConsoleSize".into(), json!(console_size));
    if let Some(a) = map_opt(&f.annotation) {
        hc.insert("Annotations".into(), a);
    }
    hc.insert("CapAdd".into(), normalize_caps(&f.cap_add));
    hc.insert("CapDrop".into(), normalize_caps(&f.cap_drop));
    hc.insert("CgroupnsMode".into(), json!(cgroupns));
    hc.insert("Dns".into(), json!(f.dns));
    hc.insert("DnsOptions".into(), json!(f.dns_option));
    hc.insert("DnsSearch".into(), json!(f.dns_search));
    hc.insert("ExtraHosts".into(), list_or_null(&f.add_host));
    hc.insert("GroupAdd".into(), list_or_null(&f.group_add));
    hc.insert("IpcMode".into(), json!(f.ipc.clone().unwrap_or_default()));
    hc.insert("Cgroup".into(), json!(""));
    hc.insert("Links".into(), list_or_null(&f.link));
    hc.insert("OomScoreAdj".into(), json!(f.oom_score_adj.unwrap_or(0)));
    hc.insert("PidMode".into(), json!(pid));
    hc.insert("Privileged".into(), json!(f.privileged));
    hc.insert("PublishAllPorts".into(), json!(f.publish_all));
    hc.insert("ReadonlyRootfs".into(), json!(f.read_only));
    hc.insert("SecurityOpt".into(), list_or_null(&security));
    if !storage.is_empty() {
        hc.insert("StorageOpt".into(), json!(storage));
    }
    if !tmpfs.is_empty() {
        hc.insert("Tmpfs".into(), json!(tmpfs));
    }
    hc.insert("UTSMode".into(), json!(uts));
    hc.insert("UsernsMode".into(), json!(userns));
    hc.insert("ShmSize".into(), json!(f.shm_size.unwrap_or(0)));
    if let Some(s) = map_opt(&f.sysctl) {
        hc.insert("Sysctls".into(), s);
    }
    if let Some(r) = f.runtime.as_ref().filter(|r| !r.is_empty()) {
        hc.insert("Runtime".into(), json!(r));
    }
    hc.insert(
        "Isolation".into(),
        json!(f.isolation.clone().unwrap_or_default()),
    );
    hc.insert("CpuShares".into(), json!(f.cpu_shares.unwrap_or(0)));
    hc.insert("Memory".into(), json!(f.memory.unwrap_or(0)));
    hc.insert("NanoCpus".into(), json!(f.cpus.unwrap_or(0)));
    hc.insert(
        "CgroupParent".into(),
        json!(f.cgroup_parent.clone().unwrap_or_default()),
    );
    hc.insert("BlkioWeight".into(), json!(f.blkio_weight.unwrap_or(0)));
    hc.insert("BlkioWeightDevice".into(), json!(weight_devices));
    hc.insert("BlkioDeviceReadBps".into(), throttle(&f.device_read_bps));
    hc.insert("BlkioDeviceWriteBps".into(), throttle(&f.device_write_bps));
    hc.insert("BlkioDeviceReadIOps".into(), throttle(&f.device_read_iops));
    hc.insert(
        "BlkioDeviceWriteIOps".into(),
        throttle(&f.device_write_iops),
    );
    hc.insert("CpuPeriod".into(), json!(f.cpu_period.unwrap_or(0)));
    hc.insert("CpuQuota".into(), json!(f.cpu_quota.unwrap_or(0)));
    hc.insert(
        "CpuRealtimePeriod".into(),
        json!(f.cpu_rt_period.unwrap_or(0)),
    );
    hc.insert(
        "CpuRealtimeRuntime".into(),
        json!(f.cpu_rt_runtime.unwrap_or(0)),
    );
    hc.insert(
        "CpusetCpus".into(),
        json!(f.cpuset_cpus.clone().unwrap_or_default()),
    );
    hc.insert(
        "CpusetMems".into(),
        json!(f.cpuset_mems.clone().unwrap_or_default()),
    );
    hc.insert("Devices".into(), json!(devices));
    hc.insert(
        "DeviceCgroupRules".into(),
        list_or_null(&f.device_cgroup_rule),
    );
    hc.insert(
        "DeviceRequests".into(),
        if cdi_devices.is_empty() {
            Value::Null
        } else {
            json!([{"Driver": "cdi", "Count": 0, "DeviceIDs": cdi_devices,
                    "Capabilities": null, "Options": null}])
        },
    );
    if let Some(k) = f.kernel_memory.filter(|k| *k != 0) {
        hc.insert("KernelMemory".into(), json!(k));
    }
    hc.insert(
        "MemoryReservation".into(),
        json!(f.memory_reservation.unwrap_or(0)),
    );
    hc.insert("MemorySwap".into(), json!(f.memory_swap.unwrap_or(0)));
    hc.insert("MemorySwappiness".into(), json!(swappiness));
    hc.insert("OomKillDisable".into(), json!(f.oom_kill_disable));
    hc.insert("PidsLimit".into(), json!(f.pids_limit.unwrap_or(0)));
    hc.insert("Ulimits".into(), json!(ulimits));
    hc.insert("CpuCount".into(), json!(f.cpu_count.unwrap_or(0)));
    hc.insert("CpuPercent".into(), json!(f.cpu_percent.unwrap_or(0)));
    hc.insert("IOMaximumIOps".into(), json!(f.io_maxiops.unwrap_or(0)));
    hc.insert(
        "IOMaximumBandwidth".into(),
        json!(f.io_maxbandwidth.unwrap_or(0)),
    );
    if !f.mount.is_empty() {
        hc.insert("Mounts".into(), json!(f.mount));
    }
    hc.insert("MaskedPaths".into(), system_paths.clone());
    hc.insert("ReadonlyPaths".into(), system_paths);
    if let Some(init) = f.init {
        hc.insert("Init".into(), json!(init));
    }

    let auto_remove = f.rm;
    if auto_remove && !(restart_name.is_empty() || restart_name == "no") {
        return Err("conflicting options: cannot specify both --restart and --rm".into());
    }

    // The main network's MAC address also goes in Config, for daemons before API 1.44.
    let mac = endpoints
        .get(network_name(&network_mode))
        .and_then(|ep| ep.get("MacAddress"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut body = Map::new();
    for (k, v) in config {
        if k == "OnBuild" && !mac.is_empty() {
            body.insert("MacAddress".into(), json!(mac));
        }
        body.insert(k, v);
    }
    body.insert("HostConfig".into(), Value::Object(hc));
    body.insert(
        "NetworkingConfig".into(),
        json!({"EndpointsConfig": Value::Object(endpoints)}),
    );
    Ok(ContainerConfig {
        body: Value::Object(body),
        attach_stdin,
        attach_stdout,
        attach_stderr,
        tty: f.tty,
        auto_remove,
    })
}

/// The `Healthcheck` of the container config, from the `--health-*` flags.
fn healthcheck(f: &ContainerFlags) -> Result<Option<Value>, String> {
    let cmd = f.health_cmd.clone().unwrap_or_default();
    let interval = f.health_interval.unwrap_or(0);
    let timeout = f.health_timeout.unwrap_or(0);
    let start_period = f.health_start_period.unwrap_or(0);
    let start_interval = f.health_start_interval.unwrap_or(0);
    let retries = f.health_retries.unwrap_or(0);
    let have = !cmd.is_empty()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || retries != 0
        || start_interval != 0;
    if f.no_healthcheck {
        if have {
            return Err("--no-healthcheck conflicts with --health-* options".into());
        }
        return Ok(Some(json!({"Test": ["NONE"]})));
    }
    if !have {
        return Ok(None);
    }
    for (value, flag) in [
        (interval, "--health-interval"),
        (timeout, "--health-timeout"),
        (retries, "--health-retries"),
        (start_period, "--health-start-period"),
        (start_interval, "--health-start-interval"),
    ] {
        if value < 0 {
            return Err(format!("{flag} cannot be negative"));
        }
    }
    // Go leaves zero values out (`omitempty`); durations are nanoseconds.
    let mut m = Map::new();
    if !cmd.is_empty() {
        m.insert("Test".into(), json!(["CMD-SHELL", cmd]));
    }
    for (key, value) in [
        ("Interval", interval),
        ("Timeout", timeout),
        ("StartPeriod", start_period),
        ("StartInterval", start_interval),
        ("Retries", retries),
    ] {
        if value != 0 {
            m.insert(key.into(), json!(value));
        }
    }
    Ok(Some(Value::Object(m)))
}

impl ContainerConfig {
    /// `run -d`: nothing is attached.
    pub fn detach(&mut self) {
        self.attach_stdin = false;
        self.attach_stdout = false;
        self.attach_stderr = false;
        if let Some(m) = self.body.as_object_mut() {
            for key in ["AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"] {
                m.insert(key.into(), json!(false));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::FromArgMatches;

    fn flags(args: &str) -> ContainerFlags {
        let mut argv = vec!["berth", "create"];
        argv.extend(args.split(' '));
        let argv: Vec<String> = argv.into_iter().map(String::from).collect();
        let argv = crate::cli::protect_dashdash(&argv);
        let m = crate::cli::command().try_get_matches_from(argv).unwrap();
        match Cli::from_arg_matches(&m).unwrap().command {
            Some(Command::Create(o)) => o.flags,
            _ => panic!("not create"),
        }
    }

    /// The body docker 28.2.2 sent for `docker run --rm busybox echo hi`.
    const DOCKER_RUN_RM: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["echo","hi"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;

    #[test]
    fn plain_run_matches_docker_byte_for_byte() {
        let c = build(&flags("--rm busybox echo hi"), [0, 0]).unwrap();
        assert_eq!(c.body.to_string(), DOCKER_RUN_RM);
        assert!(c.auto_remove && c.attach_stdout && c.attach_stderr && !c.attach_stdin);
    }

    /// The body docker 28.2.2 sent (API 1.41) for resource, device, health, network
    /// and volume flags (see the test below for the command line).
    const DOCKER_RESOURCES: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{"7000/tcp":{},"7001/tcp":{},"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["true"],"Healthcheck":{"Test":["CMD-SHELL","curl -f x"],"Interval":60000000000,"Retries":3},"Image":"busybox","Volumes":{"/cache":{}},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":["/srv:/srv:ro"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":["other"],"ConsoleSize":[0,0],"CapAdd":["CAP_NET_ADMIN","CAP_SYS_ADMIN"],"CapDrop":null,"CgroupnsMode":"host","Dns":["1.1.1.1"],"DnsOptions":["ndots:1"],"DnsSearch":["a.example"],"ExtraHosts":["h:10.0.0.1"],"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":["db:db"],"OomScoreAdj":10,"PidMode":"","Privileged":false,"PublishAllPorts":true,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"host","ShmSize":0,"Sysctls":{"net.core.somaxconn":"1024"},"Runtime":"runc","Isolation":"","CpuShares":256,"Memory":67108864,"NanoCpus":500000000,"CgroupParent":"p","BlkioWeight":500,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[{"PathOnHost":"/dev/fuse","PathInContainer":"/dev/fuse2","CgroupPermissions":"rw"}],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":-1,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":30,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"Mounts":[{"Type":"tmpfs","Target":"/t"}],"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":{"IPv4Address":"10.1.2.3"},"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;

    #[test]
    fn resource_network_and_volume_flags_match_docker_byte_for_byte() {
        let args = "-m 64m --memory-swap -1 --cpus 0.5 -c 256 --pids-limit 30 --blkio-weight 500 \
             --device /dev/fuse:/dev/fuse2:rw --health-cmd curl\u{1}-f\u{1}x --health-interval 1m \
             --health-retries 3 --runtime runc --userns host --cgroup-parent p --cgroupns host \
             --oom-score-adj 10 --sysctl net.core.somaxconn=1024 --expose 7000-7001 \
             -p 127.0.0.1:8080:80/tcp -P --dns 1.1.1.1 --dns-search a.example --dns-option ndots:1 \
             --add-host h:10.0.0.1 --ip 10.1.2.3 -v /srv:/srv:ro -v /cache --mount type=tmpfs,dst=/t \
             --volumes-from other --link db:db --cap-add sys_admin --cap-add NET_ADMIN \
             --cap-add sys_admin busybox true";
        let mut f = flags(&args.split_whitespace().collect::<Vec<_>>().join(" "));
        f.health_cmd = f.health_cmd.map(|c| c.replace('\u{1}', " "));
        let c = build(&f, [0, 0]).unwrap();
        assert_eq!(c.body.to_string(), DOCKER_RESOURCES);
    }

    /// The body docker 28.2.2 sent (API 1.47) for every kind of mount flag (see the
    /// test below for the command line).
    const DOCKER_MOUNTS: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["true"],"Image":"busybox","Volumes":{"/anonv":{}},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":["/x:/y:ro,z"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"local","VolumesFrom":["a","b:ro"],"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":true,"SecurityOpt":null,"Tmpfs":{"/run":"rw,noexec,size=1m","/x":""},"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"Mounts":[{"Type":"bind","Source":"/a","Target":"/b","ReadOnly":true,"BindOptions":{"Propagation":"rslave"}},{"Type":"volume","Source":"vol","Target":"/v","ReadOnly":true,"VolumeOptions":{"NoCopy":true,"Labels":{"x":"y"},"DriverConfig":{"Name":"local","Options":{"o":"1"}}}},{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":67108864,"Mode":1023}},{"Type":"bind","Source":"/a","Target":"/c","ReadOnly":true,"BindOptions":{"Propagation":"rprivate","ReadOnlyForceRecursive":true}},{"Type":"volume","Target":"/anon"},{"Type":"image","Source":"busybox","Target":"/img","ImageOptions":{"Subpath":"bin"}}],"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;

    #[test]
    fn mount_flags_match_docker_byte_for_byte() {
        let args = "--mount type=bind,src=/a,dst=/b,readonly,bind-propagation=rslave \
             --mount type=volume,src=vol,dst=/v,readonly,volume-nocopy,volume-driver=local,volume-label=x=y,volume-opt=o=1 \
             --mount type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777 \
             --mount type=bind,src=/a,dst=/c,bind-recursive=readonly,readonly,bind-propagation=rprivate \
             --mount type=volume,dst=/anon --mount type=image,src=busybox,dst=/img,image-subpath=bin \
             --tmpfs /run:rw,noexec,size=1m --tmpfs /x --volumes-from a --volumes-from b:ro \
             --read-only -v /x:/y:ro,z --volume-driver local -v /anonv busybox true";
        let f = flags(&args.split_whitespace().collect::<Vec<_>>().join(" "));
        let c = build(&f, [0, 0]).unwrap();
        assert_eq!(c.body.to_string(), DOCKER_MOUNTS);
    }

    /// `Mounts` entries docker 28.2.2 sent for single `--mount` values.
    #[test]
    fn each_mount_option_matches_docker() {
        for (value, docker) in [
            ("type=bind,src=/a,dst=/b,ro=true,bind-propagation=shared", r#"{"Type":"bind","Source":"/a","Target":"/b","ReadOnly":true,"BindOptions":{"Propagation":"shared"}}"#),
            ("type=bind,source=/a,target=/b,readonly=false", r#"{"Type":"bind","Source":"/a","Target":"/b"}"#),
            ("type=bind,src=/a,dst=/b,bind-recursive=disabled", r#"{"Type":"bind","Source":"/a","Target":"/b","BindOptions":{"NonRecursive":true}}"#),
            ("type=bind,src=/a,dst=/b,bind-nonrecursive", r#"{"Type":"bind","Source":"/a","Target":"/b","BindOptions":{"NonRecursive":true}}"#),
            ("type=bind,src=/a,dst=/b,consistency=cached", r#"{"Type":"bind","Source":"/a","Target":"/b","Consistency":"cached"}"#),
            ("TYPE=BIND,SOURCE=/a,TARGET=/b", r#"{"Type":"bind","Source":"/a","Target":"/b"}"#),
            ("\"type=bind,source=/a b,target=/c\"", r#"{"Type":"bind","Source":"/a b","Target":"/c"}"#),
            ("type=volume,source=vol,target=/v", r#"{"Type":"volume","Source":"vol","Target":"/v"}"#),
            ("source=vol,target=/v,volume-nocopy", r#"{"Type":"volume","Source":"vol","Target":"/v","VolumeOptions":{"NoCopy":true,"DriverConfig":{}}}"#),
            ("source=vol,target=/v,volume-nocopy=false", r#"{"Type":"volume","Source":"vol","Target":"/v","VolumeOptions":{"DriverConfig":{}}}"#),
            ("source=vol,target=/v,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=1m", r#"{"Type":"volume","Source":"vol","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"device":"tmpfs","o":"size=1m","type":"tmpfs"}}}}"#),
            ("source=vol,target=/v,volume-label=a=b,volume-label=c", r#"{"Type":"volume","Source":"vol","Target":"/v","VolumeOptions":{"Labels":{"a":"b","c":""},"DriverConfig":{}}}"#),
            ("source=vol,target=/v,volume-subpath=sub", r#"{"Type":"volume","Source":"vol","Target":"/v","VolumeOptions":{"Subpath":"sub","DriverConfig":{}}}"#),
            ("type=tmpfs,target=/t", r#"{"Type":"tmpfs","Target":"/t"}"#),
            ("type=tmpfs,target=/t,tmpfs-size=0", r#"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{}}"#),
            ("type=tmpfs,dst=/t,readonly", r#"{"Type":"tmpfs","Target":"/t","ReadOnly":true}"#),
            ("type=npipe,src=a,dst=/b", r#"{"Type":"npipe","Source":"a","Target":"/b"}"#),
        ] {
            let value = value.trim_matches('"');
            assert_eq!(
                super::specs::parse_mount(value).unwrap().to_string(),
                docker,
                "--mount {value}"
            );
        }
        // Errors docker 28.2.2 printed (after "invalid argument ... for \"--mount\" flag: ").
        for (value, docker) in [
            ("", "EOF"),
            ("type=bind", "target is required"),
            ("type=bind,src=/a,dst=/b,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'bind'"),
            ("type=tmpfs,dst=/t,tmpfs-size=abc", "invalid value for tmpfs-size: abc"),
            ("type=tmpfs,dst=/t,tmpfs-mode=999", "invalid value for tmpfs-mode: 999"),
            ("type=bind,dst=/b,bind-recursive=xx", "invalid value for bind-recursive: xx (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"),
            ("type=bind,dst=/b,bind-recursive=writable", "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"),
            ("type=bind,dst=/b,bind-recursive=readonly,readonly", "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction"),
            ("type=volume,dst=/v,volume-nocopy=maybe", "invalid value for volume-nocopy: maybe"),
            ("dst=/v,readonly=maybe", "invalid value for readonly: maybe"),
            ("type=,dst=/x", "type is required"),
            ("type=bind,src=\"/a,dst=/b", "parse error on line 1, column 15: bare \" in non-quoted-field"),
        ] {
            assert_eq!(
                super::specs::parse_mount(value).unwrap_err(),
                docker,
                "--mount {value}"
            );
        }
    }

    #[test]
    fn many_flags_match_docker() {
        let dir = std::env::temp_dir().join(format!("berth-envfile-{}", std::process::id()));
        std::fs::write(&dir, "A=1\n# comment\nBERTH_TEST_UNSET_VAR\n\nC=x y\n").unwrap();
        let args = format!(
            "--name full1 -e X=1 --env-file {} --entrypoint /bin/sh -l a=b -l c -w /tmp -u 1000:1000 -h myhost \
             --stop-signal SIGUSR1 --stop-timeout 5 --read-only --privileged --cap-add net_admin --cap-drop ALL \
             --tmpfs /run:rw,size=1m --tmpfs /x --network host --shm-size 128m --ulimit nofile=1024:2048 \
             --ulimit nproc=10 --group-add 10 --security-opt no-new-privileges --log-opt max-size=1m \
             --restart on-failure:3 -i -t busybox -c hi",
            dir.display()
        );
        let c = build(&flags(&args), [0, 0]).unwrap();
        std::fs::remove_file(&dir).unwrap();
        let b = &c.body;
        assert_eq!(b["Hostname"], "myhost");
        assert_eq!(b["User"], "1000:1000");
        assert_eq!(b["AttachStdin"], true);
        assert_eq!(b["Tty"], true);
        assert_eq!(b["OpenStdin"], true);
        assert_eq!(b["StdinOnce"], true);
        assert_eq!(b["Env"], json!(["A=1", "C=x y", "X=1"]));
        assert_eq!(b["Cmd"], json!(["-c", "hi"]));
        assert_eq!(b["Entrypoint"], json!(["/bin/sh"]));
        assert_eq!(b["Labels"], json!({"a": "b", "c": ""}));
        assert_eq!(b["StopSignal"], "SIGUSR1");
        assert_eq!(b["StopTimeout"], 5);
        let hc = &b["HostConfig"];
        assert_eq!(
            hc["LogConfig"],
            json!({"Type": "", "Config": {"max-size": "1m"}})
        );
        assert_eq!(hc["NetworkMode"], "host");
        assert_eq!(
            hc["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(hc["CapAdd"], json!(["CAP_NET_ADMIN"]));
        assert_eq!(hc["CapDrop"], json!(["ALL"]));
        assert_eq!(hc["GroupAdd"], json!(["10"]));
        assert_eq!(hc["Privileged"], true);
        assert_eq!(hc["ReadonlyRootfs"], true);
        assert_eq!(hc["SecurityOpt"], json!(["no-new-privileges"]));
        assert_eq!(hc["Tmpfs"], json!({"/run": "rw,size=1m", "/x": ""}));
        assert_eq!(hc["ShmSize"], 134217728);
        assert_eq!(
            hc["Ulimits"],
            json!([{"Name": "nofile", "Hard": 2048, "Soft": 1024}, {"Name": "nproc", "Hard": 10, "Soft": 10}])
        );
        assert_eq!(b["NetworkingConfig"], json!({"EndpointsConfig": {}}));
        // Keys keep Go's struct order.
        let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
        assert_eq!(
            keys[keys.len() - 4..],
            [
                "StopSignal",
                "StopTimeout",
                "HostConfig",
                "NetworkingConfig"
            ]
        );
    }

    #[test]
    fn entrypoint_reset_and_detach() {
        let mut c = build(&flags("--entrypoint= -i busybox"), [24, 80]).unwrap();
        assert_eq!(c.body["Entrypoint"], json!([""]));
        assert_eq!(c.body["Cmd"], Value::Null);
        assert_eq!(c.body["HostConfig"]["ConsoleSize"], json!([24, 80]));
        c.detach();
        assert_eq!(c.body["AttachStdout"], false);
        assert_eq!(c.body["StdinOnce"], false);
        let c = build(&flags("-a stdout busybox"), [0, 0]).unwrap();
        assert!(c.attach_stdout && !c.attach_stderr && !c.attach_stdin);
    }

    #[test]
    fn validation_errors_use_docker_wording() {
        let err = |args: &str| build(&flags(args), [0, 0]).unwrap_err();
        assert_eq!(
            err("--restart always --rm busybox"),
            "conflicting options: cannot specify both --restart and --rm"
        );
        assert_eq!(
            err("--restart x:y busybox"),
            "invalid restart policy format: maximum retry count must be an integer"
        );
        assert_eq!(
            err("--env-file /nonexistent/x busybox"),
            "open /nonexistent/x: no such file or directory"
        );
        assert_eq!(
            err("--security-opt foo busybox"),
            "Invalid --security-opt: \"foo\""
        );
        assert_eq!(err("--pid x busybox"), "--pid: invalid PID mode");
        assert_eq!(
            err("--log-driver none --log-opt a=b busybox"),
            "invalid logging opts for driver none"
        );
        assert_eq!(
            err("--network host --network mynet busybox"),
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
    }

    #[test]
    fn kv_files_like_docker() {
        let lookup = |k: &str| (k == "SET").then(|| "v".to_string());
        let parsed = parse_kv_text(
            b"\xEF\xBB\xBFA=1\n  # c\nSET\nUNSET\n B= x \n",
            Some(&lookup),
        )
        .unwrap();
        assert_eq!(parsed, vec!["A=1", "SET=v", "B= x "]);
        assert_eq!(
            parse_kv_text(b"A B=1\n", None).unwrap_err(),
            "variable 'A B' contains whitespaces"
        );
        assert_eq!(
            parse_kv_text(b"=1\n", None).unwrap_err(),
            "no variable name on line '=1'"
        );
    }
}
