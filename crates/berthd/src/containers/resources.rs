//! Resource limits: Docker's `HostConfig` fields, checked with Docker's rules and
//! wording, turned into the OCI spec's `linux.resources` and into live cgroup updates.

use serde_json::{json, Map, Value};

/// The `HostConfig` keys `docker update` may change (besides `RestartPolicy`).
pub const UPDATABLE: &[&str] = &[
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "MemorySwappiness",
    "NanoCpus",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "BlkioWeight",
    "OomKillDisable",
];

const MIN_MEMORY: i64 = 6 * 1024 * 1024;

fn int(hc: &Value, k: &str) -> i64 {
    hc.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(hc: &'a Value, k: &str) -> &'a str {
    hc.get(k).and_then(Value::as_str).unwrap_or("")
}

pub fn online_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Docker's cpuset syntax: `0-2,4`; every cpu must exist.
fn check_cpuset(list: &str, what: &str, available: usize) -> Result<(), String> {
    if list.is_empty() {
        return Ok(());
    }
    let bad = || format!("Invalid value {list} for {what}");
    for part in list.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: usize = a.trim().parse().map_err(|_| bad())?;
        let b: usize = b.trim().parse().map_err(|_| bad())?;
        if a > b {
            return Err(bad());
        }
        if what == "cpuset cpus" && b >= available {
            return Err(format!(
                "Requested CPUs are not available - requested {list}, available: 0-{}",
                available - 1
            ));
        }
    }
    Ok(())
}

/// Checks the resource fields of a create (or, merged, an update) with Docker's
/// messages, and fills what Docker derives: `MemorySwap` defaults to twice `Memory`.
pub fn validate(hc: &mut Map<String, Value>) -> Result<(), String> {
    let v = Value::Object(hc.clone());
    let memory = int(&v, "Memory");
    let swap = int(&v, "MemorySwap");
    let reservation = int(&v, "MemoryReservation");
    if memory < 0 {
        return Err("Invalid value: memory limit cannot be negative".into());
    }
    if memory > 0 && memory < MIN_MEMORY {
        return Err("Minimum memory limit allowed is 6MB".into());
    }
    if memory > 0 && swap > 0 && swap < memory {
        return Err(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        );
    }
    if memory == 0 && swap > 0 {
        return Err(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        );
    }
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err("Minimum memory reservation allowed is 6MB".into());
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err(
            "Minimum memory limit can not be less than memory reservation limit, see usage".into(),
        );
    }
    if let Some(s) = v.get("MemorySwappiness").and_then(Value::as_i64) {
        if !(-1..=100).contains(&s) {
            return Err(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            ));
        }
    }
    let nano = int(&v, "NanoCpus");
    let ncpu = online_cpus();
    if nano != 0 {
        if int(&v, "CpuPeriod") != 0 {
            return Err("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
        }
        if int(&v, "CpuQuota") != 0 {
            return Err("Conflicting options: Nano CPUs and CPU Quota cannot both be set".into());
        }
        if nano < 0 || nano > ncpu as i64 * 1_000_000_000 {
            return Err(format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            ));
        }
    }
    let period = int(&v, "CpuPeriod");
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
                .into(),
        );
    }
    let quota = int(&v, "CpuQuota");
    if quota > 0 && quota < 1000 {
        return Err("CPU cfs quota can not be less than 1ms (i.e. 1000)".into());
    }
    let weight = int(&v, "BlkioWeight");
    if weight > 0 && !(10..=1000).contains(&weight) {
        return Err("Range of blkio weight is from 10 to 1000".into());
    }
    check_cpuset(text(&v, "CpusetCpus"), "cpuset cpus", ncpu)?;
    check_cpuset(text(&v, "CpusetMems"), "cpuset mems", usize::MAX)?;
    if memory > 0 && swap == 0 {
        // Docker's default: as much swap as memory.
        hc.insert("MemorySwap".into(), json!(memory * 2));
    }
    Ok(())
}

/// The `linux.resources` of the spec: limits plus the device rules.
pub fn spec_resources(hc: &Value, devices: &[Value]) -> Value {
    let mut r = Map::new();
    let mut memory = Map::new();
    let mem = int(hc, "Memory");
    if mem > 0 {
        memory.insert("limit".into(), json!(mem));
    }
    let swap = int(hc, "MemorySwap");
    if swap != 0 && (mem > 0 || swap == -1) {
        memory.insert("swap".into(), json!(swap));
    }
    let reservation = int(hc, "MemoryReservation");
    if reservation > 0 {
        memory.insert("reservation".into(), json!(reservation));
    }
    if let Some(s) = hc
        .get("MemorySwappiness")
        .and_then(Value::as_i64)
        .filter(|s| *s >= 0)
    {
        memory.insert("swappiness".into(), json!(s));
    }
    if hc.get("OomKillDisable").and_then(Value::as_bool) == Some(true) {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    if !memory.is_empty() {
        r.insert("memory".into(), Value::Object(memory));
    }
    let mut cpu = Map::new();
    let shares = int(hc, "CpuShares");
    if shares > 0 {
        cpu.insert("shares".into(), json!(shares));
    }
    let nano = int(hc, "NanoCpus");
    if nano > 0 {
        // --cpus N is a quota over the default 100 ms period.
        let period = 100_000i64;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(nano * period / 1_000_000_000));
    } else {
        let period = int(hc, "CpuPeriod");
        if period > 0 {
            cpu.insert("period".into(), json!(period));
        }
        let quota = int(hc, "CpuQuota");
        if quota != 0 {
            cpu.insert("quota".into(), json!(quota));
        }
    }
    for (k, o) in [("CpusetCpus", "cpus"), ("CpusetMems", "mems")] {
        let s = text(hc, k);
        if !s.is_empty() {
            cpu.insert(o.into(), json!(s));
        }
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    let pids = int(hc, "PidsLimit");
    if pids != 0 {
        r.insert("pids".into(), json!({"limit": pids}));
    }
    let weight = int(hc, "BlkioWeight");
    if weight > 0 {
        r.insert("blockIO".into(), json!({"weight": weight}));
    }
    r.insert("devices".into(), Value::Array(devices.to_vec()));
    Value::Object(r)
}

/// Docker's device cgroup for an unprivileged container: nothing but the standard
/// character devices, `mknod` of any (the node is useless without access), and the
/// devices given with `--device`. Privileged containers may use every device.
/// A device the container may use: kind (`b`/`c`), major, minor, cgroup permissions.
pub type DeviceAccess = (char, i64, i64, String);

pub fn device_rules(privileged: bool, extra: &[DeviceAccess]) -> Vec<Value> {
    if privileged {
        return vec![json!({"allow": true, "access": "rwm"})];
    }
    let mut rules = vec![
        json!({"allow": false, "access": "rwm"}),
        json!({"allow": true, "type": "c", "access": "m"}),
        json!({"allow": true, "type": "b", "access": "m"}),
    ];
    for (major, minor) in [
        (1, Some(3)),    // null
        (1, Some(5)),    // zero
        (1, Some(7)),    // full
        (1, Some(8)),    // random
        (1, Some(9)),    // urandom
        (5, Some(0)),    // tty
        (5, Some(1)),    // console
        (5, Some(2)),    // ptmx
        (136, None),     // pts
        (10, Some(200)), // tun
    ] {
        let mut r = json!({"allow": true, "type": "c", "major": major, "access": "rwm"});
        if let Some(m) = minor {
            r["minor"] = json!(m);
        }
        rules.push(r);
    }
    for (kind, major, minor, access) in extra {
        rules.push(json!({"allow": true, "type": kind.to_string(), "major": major, "minor": minor, "access": access}));
    }
    rules
}

/// `--device HOST[:CONTAINER[:PERMS]]`: the host node's type and numbers, for the spec's
/// `linux.devices` and the device cgroup. Directories and non-devices are refused.
pub fn host_devices(hc: &Value) -> Result<(Vec<Value>, Vec<DeviceAccess>), String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    for d in hc
        .get("Devices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let host = text(d, "PathOnHost");
        let inside = match text(d, "PathInContainer") {
            "" => host,
            p => p,
        };
        let perms = match text(d, "CgroupPermissions") {
            "" => "rwm",
            p => p,
        };
        if !perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(format!("invalid device cgroup permissions {perms:?}"));
        }
        if !inside.starts_with('/') {
            return Err(format!("{inside} is not an absolute path"));
        }
        let meta = std::fs::metadata(host).map_err(|e| {
            format!("error gathering device information while adding custom device \"{host}\": {e}")
        })?;
        let ft = meta.file_type();
        let kind = if ft.is_char_device() {
            'c'
        } else if ft.is_block_device() {
            'b'
        } else {
            return Err(format!(
                "error gathering device information while adding custom device \"{host}\": not a device node"
            ));
        };
        let rdev = meta.rdev();
        let (major, minor) = (
            nix::sys::stat::major(rdev) as i64,
            nix::sys::stat::minor(rdev) as i64,
        );
        nodes.push(json!({
            "path": inside, "type": kind.to_string(), "major": major, "minor": minor,
            "fileMode": meta.mode() & 0o7777, "uid": meta.uid(), "gid": meta.gid(),
        }));
        rules.push((kind, major, minor, perms.to_string()));
    }
    Ok((nodes, rules))
}

/// `Ulimits` names and values as go-units checks them; the name becomes an OCI rlimit
/// type, and an unknown one would make the runtime spec unreadable.
pub fn validate_ulimits(ulimits: Option<&Value>) -> Result<(), String> {
    const KNOWN: &[&str] = &[
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    for u in ulimits.and_then(Value::as_array).into_iter().flatten() {
        let name = u.get("Name").and_then(Value::as_str).unwrap_or("");
        if !KNOWN.contains(&name) {
            return Err(format!("invalid ulimit type: {name}"));
        }
        let (soft, hard) = (int(u, "Soft"), int(u, "Hard"));
        if soft > hard {
            return Err(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            ));
        }
    }
    Ok(())
}

/// `RestartPolicy` as Docker checks it (create and update).
pub fn validate_restart_policy(p: Option<&Value>) -> Result<(), String> {
    let Some(p) = p.filter(|p| !p.is_null()) else {
        return Ok(());
    };
    let name = p.get("Name").and_then(Value::as_str).unwrap_or("");
    let max = p
        .get("MaximumRetryCount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    match name {
        "" | "no" | "always" | "unless-stopped" if max != 0 => Err(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                .into(),
        ),
        "" | "no" | "always" | "unless-stopped" => Ok(()),
        "on-failure" if max < 0 => {
            Err("invalid restart policy: maximum retry count cannot be negative".into())
        }
        "on-failure" => Ok(()),
        other => Err(format!(
            "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        )),
    }
}

/// Whether an update request sets `key`: clients send zero or "" for what they leave
/// alone, as Docker's update reads them; `PidsLimit` is sent only when set, so there
/// zero means "unlimited".
pub fn given(update: &Value, key: &str) -> bool {
    update.get(key).is_some_and(|v| {
        !v.is_null() && (key == "PidsLimit" || (v.as_i64() != Some(0) && v.as_str() != Some("")))
    })
}

/// The limits of an update request as cgroup writes (only the fields it names).
pub fn update_resources(hc: &Value, update: &Value) -> berth_cgroups::Resources {
    let has = |k: &str| given(update, k);
    let mut r = berth_cgroups::Resources::default();
    if has("Memory") {
        r.memory = Some(int(hc, "Memory")).filter(|m| *m > 0).or(Some(-1));
    }
    if has("MemorySwap") || has("Memory") {
        let s = int(hc, "MemorySwap");
        r.memory_swap = Some(if s == 0 { -1 } else { s });
    }
    if has("MemoryReservation") {
        r.memory_reservation = Some(int(hc, "MemoryReservation"));
    }
    if has("CpuShares") {
        r.cpu_shares = Some(int(hc, "CpuShares") as u64);
    }
    if has("NanoCpus") {
        let nano = int(hc, "NanoCpus");
        r.cpu_period = Some(100_000);
        r.cpu_quota = Some(if nano > 0 {
            nano * 100_000 / 1_000_000_000
        } else {
            -1
        });
    }
    // Clients send zero for the pair they do not set; zero means "leave it".
    if int(update, "CpuPeriod") != 0 {
        r.cpu_period = Some(int(hc, "CpuPeriod") as u64);
    }
    if int(update, "CpuQuota") != 0 {
        r.cpu_quota = Some(int(hc, "CpuQuota"));
    }
    if has("CpusetCpus") {
        r.cpuset_cpus = Some(text(hc, "CpusetCpus").to_string());
    }
    if has("CpusetMems") {
        r.cpuset_mems = Some(text(hc, "CpusetMems").to_string());
    }
    if has("PidsLimit") {
        r.pids_limit = Some(int(hc, "PidsLimit"));
    }
    if has("BlkioWeight") {
        r.blkio_weight = Some(int(hc, "BlkioWeight") as u16);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: Value) -> Result<Value, String> {
        let mut m = v.as_object().unwrap().clone();
        validate(&mut m)?;
        Ok(Value::Object(m))
    }

    #[test]
    fn dockers_rules_and_wording() {
        assert_eq!(
            check(json!({"Memory": 1024})).unwrap_err(),
            "Minimum memory limit allowed is 6MB"
        );
        assert!(check(json!({"Memory": 64 << 20, "MemorySwap": 32 << 20}))
            .unwrap_err()
            .starts_with("Minimum memoryswap limit"));
        assert!(check(json!({"MemorySwap": 64 << 20}))
            .unwrap_err()
            .starts_with("You should always set the Memory limit"));
        assert!(check(json!({"NanoCpus": 1, "CpuQuota": 5000}))
            .unwrap_err()
            .contains("Nano CPUs and CPU Quota"));
        assert!(check(json!({"BlkioWeight": 5})).is_err());
        assert!(check(json!({"CpusetCpus": "0-999"}))
            .unwrap_err()
            .starts_with("Requested CPUs are not available"));
        assert!(check(json!({"CpusetCpus": "x"})).is_err());
        assert!(validate_ulimits(Some(&json!([{"Name": "nofile", "Soft": 1, "Hard": 2}]))).is_ok());
        assert!(validate_ulimits(Some(&json!([{"Name": "bogus", "Soft": 1, "Hard": 2}]))).is_err());
        assert!(
            validate_ulimits(Some(&json!([{"Name": "nofile", "Soft": 3, "Hard": 2}]))).is_err()
        );
        assert!(validate_restart_policy(Some(&json!({"Name": "sometimes"}))).is_err());
        assert!(
            validate_restart_policy(Some(&json!({"Name": "always", "MaximumRetryCount": 2})))
                .is_err()
        );
        assert!(validate_restart_policy(Some(
            &json!({"Name": "on-failure", "MaximumRetryCount": -1})
        ))
        .is_err());
        assert!(validate_restart_policy(Some(
            &json!({"Name": "on-failure", "MaximumRetryCount": 3})
        ))
        .is_ok());
        let ok = check(json!({"Memory": 64 << 20})).unwrap();
        assert_eq!(ok["MemorySwap"], json!(128 << 20));
    }

    #[test]
    fn cpus_become_a_quota() {
        let r = spec_resources(&json!({"NanoCpus": 500_000_000i64}), &[]);
        assert_eq!(r["cpu"]["quota"], json!(50_000));
        assert_eq!(r["cpu"]["period"], json!(100_000));
    }

    #[test]
    fn unprivileged_devices_start_from_deny_all() {
        let rules = device_rules(false, &[('c', 1, 3, "r".into())]);
        assert_eq!(rules[0], json!({"allow": false, "access": "rwm"}));
        assert_eq!(rules.last().unwrap()["access"], json!("r"));
        assert_eq!(device_rules(true, &[]).len(), 1);
    }
}
