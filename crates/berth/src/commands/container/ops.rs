//! `pause`, `unpause`, `restart`, `rename`, `update`, `port`, `top` and
//! `container prune`.

use serde_json::{json, Map, Value};

use super::config::restart_policy;
use super::manage::{joined, post_each, stop_query};
use crate::cli::{
    check_args, Arity, ContainerPruneOpts, ContainersOpts, PortOpts, RenameOpts, StopOpts, TopOpts,
    UpdateOpts,
};
use crate::client::{read_json, Query};
use crate::commands::{confirm, flags_supported, parse_filters, App, FlagNeed};
use crate::error::{CliError, Result};
use crate::format::tabwriter::TabWriter;

pub async fn pause(app: &mut App, o: ContainersOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Min(1))?;
    post_each(app, &o.args, "pause", &Vec::new()).await
}

pub async fn unpause(app: &mut App, o: ContainersOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Min(1))?;
    post_each(app, &o.args, "unpause", &Vec::new()).await
}

pub async fn restart(app: &mut App, o: StopOpts, path: &str) -> Result<()> {
    let query = stop_query(app, &o, path).await?;
    post_each(app, &o.args, "restart", &query).await
}

pub async fn rename(app: &mut App, o: RenameOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Exact(2))?;
    let old = o.args[0].trim();
    let new = o.args[1].trim();
    if old.is_empty() || new.is_empty() {
        return Err(CliError::other(
            "Error: Neither old nor new names may be empty",
        ));
    }
    let query: Query = vec![("name", new.to_string())];
    if let Err(e) = app
        .client
        .post(&format!("/containers/{old}/rename"), &query)
        .await
    {
        app.eprint(&format!("{e}\n"));
        return Err(CliError::other(format!(
            "Error: failed to rename container named {old}"
        )));
    }
    Ok(())
}

/// The `Resources` part of docker's `UpdateConfig`, as Go marshals it (unset
/// pointers are null, `KernelMemory` is left out when zero).
fn update_body(o: &UpdateOpts) -> Result<Value> {
    let (restart_name, restart_count) = match o.restart.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => restart_policy(r).map_err(CliError::other)?,
        None => (String::new(), 0),
    };
    let mut m = Map::new();
    m.insert("CpuShares".into(), json!(o.cpu_shares.unwrap_or(0)));
    m.insert("Memory".into(), json!(o.memory.unwrap_or(0)));
    m.insert("NanoCpus".into(), json!(o.cpus.unwrap_or(0)));
    m.insert("CgroupParent".into(), json!(""));
    m.insert("BlkioWeight".into(), json!(o.blkio_weight.unwrap_or(0)));
    for key in [
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
    ] {
        m.insert(key.into(), Value::Null);
    }
    m.insert("CpuPeriod".into(), json!(o.cpu_period.unwrap_or(0)));
    m.insert("CpuQuota".into(), json!(o.cpu_quota.unwrap_or(0)));
    m.insert(
        "CpuRealtimePeriod".into(),
        json!(o.cpu_rt_period.unwrap_or(0)),
    );
    m.insert(
        "CpuRealtimeRuntime".into(),
        json!(o.cpu_rt_runtime.unwrap_or(0)),
    );
    m.insert(
        "CpusetCpus".into(),
        json!(o.cpuset_cpus.clone().unwrap_or_default()),
    );
    m.insert(
        "CpusetMems".into(),
        json!(o.cpuset_mems.clone().unwrap_or_default()),
    );
    for key in ["Devices", "DeviceCgroupRules", "DeviceRequests"] {
        m.insert(key.into(), Value::Null);
    }
    if let Some(k) = o.kernel_memory.filter(|k| *k != 0) {
        m.insert("KernelMemory".into(), json!(k));
    }
    m.insert(
        "MemoryReservation".into(),
        json!(o.memory_reservation.unwrap_or(0)),
    );
    m.insert("MemorySwap".into(), json!(o.memory_swap.unwrap_or(0)));
    m.insert("MemorySwappiness".into(), Value::Null);
    m.insert("OomKillDisable".into(), Value::Null);
    // 0 means "leave as is": docker sends no value then.
    m.insert(
        "PidsLimit".into(),
        match o.pids_limit.filter(|p| *p != 0) {
            Some(p) => json!(p),
            None => Value::Null,
        },
    );
    m.insert("Ulimits".into(), Value::Null);
    for key in [
        "CpuCount",
        "CpuPercent",
        "IOMaximumIOps",
        "IOMaximumBandwidth",
    ] {
        m.insert(key.into(), json!(0));
    }
    m.insert(
        "RestartPolicy".into(),
        json!({"Name": restart_name, "MaximumRetryCount": restart_count}),
    );
    Ok(Value::Object(m))
}

fn update_flag_count(o: &UpdateOpts) -> usize {
    [
        o.blkio_weight.is_some(),
        o.cpu_period.is_some(),
        o.cpu_quota.is_some(),
        o.cpu_rt_period.is_some(),
        o.cpu_rt_runtime.is_some(),
        o.cpu_shares.is_some(),
        o.cpus.is_some(),
        o.cpuset_cpus.is_some(),
        o.cpuset_mems.is_some(),
        o.kernel_memory.is_some(),
        o.memory.is_some(),
        o.memory_reservation.is_some(),
        o.memory_swap.is_some(),
        o.pids_limit.is_some(),
        o.restart.is_some(),
    ]
    .iter()
    .filter(|set| **set)
    .count()
}

pub async fn update(app: &mut App, o: UpdateOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Min(1))?;
    flags_supported(
        app,
        vec![
            FlagNeed::version("cpu-rt-period", o.cpu_rt_period.is_some(), "1.25"),
            FlagNeed::version("cpu-rt-runtime", o.cpu_rt_runtime.is_some(), "1.25"),
            FlagNeed::version("cpus", o.cpus.is_some(), "1.29"),
            FlagNeed::version("pids-limit", o.pids_limit.is_some(), "1.40"),
        ],
    )
    .await?;
    if update_flag_count(&o) == 0 {
        return Err(CliError::other(
            "you must provide one or more flags when using this command",
        ));
    }
    let body = update_body(&o)?;
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for name in &o.args {
        let id = name.trim();
        if id.is_empty() {
            errors.push("invalid container name or ID: value is empty".to_string());
            continue;
        }
        let result = async {
            let resp = app
                .client
                .post_json(&format!("/containers/{id}/update"), &Vec::new(), &body)
                .await?;
            read_json(resp).await
        }
        .await;
        match result {
            Ok(v) => {
                app.print(&format!("{name}\n"))?;
                warnings.extend(
                    v.get("Warnings")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string),
                );
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    // docker prints the daemon's warnings on stdout, after the names.
    if !warnings.is_empty() {
        app.print(&format!("{}\n", warnings.join("\n")))?;
    }
    joined(errors)
}

/// `sortorder.NaturalLess`: runs of digits compare as numbers.
pub fn natural_less(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            return da;
        }
        if !da {
            if a[i] != b[j] {
                return a[i] < b[j];
            }
            i += 1;
            j += 1;
            continue;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (start_a, start_b) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (num_a, num_b) = (&a[start_a..i], &b[start_b..j]);
        if num_a.len() != num_b.len() {
            return num_a.len() < num_b.len();
        }
        if num_a != num_b {
            return num_a < num_b;
        }
        if start_a != start_b {
            return start_a < start_b;
        }
    }
    a.len() < b.len()
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn frontends(bindings: &Value) -> Vec<String> {
    bindings
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            let field = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("");
            join_host_port(field("HostIp"), field("HostPort"))
        })
        .collect()
}

/// The lines `port` prints for an inspected container.
fn port_lines(info: &Value, container: &str, port: Option<&str>) -> Result<Vec<String>> {
    let ports = info
        .get("NetworkSettings")
        .and_then(|n| n.get("Ports"))
        .and_then(Value::as_object);
    let mut out = Vec::new();
    match port {
        Some(spec) => {
            let (number, proto) = spec.split_once('/').unwrap_or((spec, ""));
            let proto = if proto.is_empty() { "tcp" } else { proto };
            if let Err(reason) = crate::opts::go_uint_base10(number, 16) {
                return Err(CliError::other(format!(
                    "Error: invalid port ({number}): {reason}"
                )));
            }
            let found = ports
                .and_then(|p| p.get(&format!("{number}/{proto}")))
                .map(frontends)
                .unwrap_or_default();
            if found.is_empty() {
                return Err(CliError::other(format!(
                    "Error: No public port '{spec}' published for {container}"
                )));
            }
            out = found;
        }
        None => {
            for (from, bindings) in ports.into_iter().flatten() {
                for f in frontends(bindings) {
                    out.push(format!("{from} -> {f}"));
                }
            }
        }
    }
    out.sort_by(|a, b| {
        if natural_less(a, b) {
            std::cmp::Ordering::Less
        } else if natural_less(b, a) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    Ok(out)
}

pub async fn port(app: &mut App, o: PortOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Range(1, 2))?;
    let container = &o.args[0];
    let info = app
        .client
        .get_json(&format!("/containers/{container}/json"), &Vec::new())
        .await?;
    let lines = port_lines(&info, container, o.args.get(1).map(String::as_str))?;
    if !lines.is_empty() {
        app.print(&format!("{}\n", lines.join("\n")))?;
    }
    Ok(())
}

pub async fn top(app: &mut App, o: TopOpts, path: &str) -> Result<()> {
    let args: Vec<String> = o.container.iter().chain(&o.ps_args).cloned().collect();
    check_args(path, &args, Arity::Min(1))?;
    let container = args[0].trim();
    if container.is_empty() {
        return Err(CliError::other(
            "invalid container name or ID: value is empty",
        ));
    }
    let mut query: Query = Vec::new();
    if args.len() > 1 {
        query.push(("ps_args", args[1..].join(" ")));
    }
    let list = app
        .client
        .get_json(&format!("/containers/{container}/top"), &query)
        .await?;
    app.print(&top_table(&list))
}

fn top_table(list: &Value) -> String {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap_or("").to_string())
            .collect()
    };
    let mut text = strings(list.get("Titles").unwrap_or(&Value::Null)).join("\t");
    text.push('\n');
    for proc in list
        .get("Processes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        text.push_str(&strings(proc).join("\t"));
        text.push('\n');
    }
    TabWriter::new(20, 1, 3, ' ').format_all(&text)
}

pub async fn prune(app: &mut App, o: ContainerPruneOpts) -> Result<()> {
    let path = "container prune";
    let filters = parse_filters(path, &o.filter, "--filter")?;
    check_args(path, &o.args, Arity::None)?;
    let warning =
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";
    // A declined prompt is a cancellation: docker prints nothing and exits 0.
    if !o.force && !confirm(app, warning)? {
        return Ok(());
    }
    let mut query: Query = Vec::new();
    if let Some(f) = filters.to_query() {
        query.push(("filters", f));
    }
    let resp = app.client.post("/containers/prune", &query).await?;
    let report = read_json(resp).await?;
    let text = crate::commands::prune_report(&report, "ContainersDeleted", "Deleted Containers:");
    app.print(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec![
            "80/tcp -> 0.0.0.0:10",
            "8080/tcp -> 0.0.0.0:9",
            "443/tcp -> :::2",
        ];
        v.sort_by(|a, b| {
            if natural_less(a, b) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        });
        assert_eq!(
            v,
            [
                "80/tcp -> 0.0.0.0:10",
                "443/tcp -> :::2",
                "8080/tcp -> 0.0.0.0:9"
            ]
        );
        assert!(natural_less("a2", "a10"));
        assert!(natural_less("a", "ab"));
    }

    #[test]
    fn port_mappings_like_docker() {
        let info = json!({"NetworkSettings": {"Ports": {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "53"}],
            "90/tcp": null,
        }}});
        assert_eq!(
            port_lines(&info, "c", None).unwrap(),
            [
                "53/udp -> 127.0.0.1:53",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080"
            ]
        );
        assert_eq!(
            port_lines(&info, "c", Some("80")).unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            port_lines(&info, "c", Some("90")).unwrap_err().to_string(),
            "Error: No public port '90' published for c"
        );
        assert_eq!(
            port_lines(&info, "c", Some("x/udp"))
                .unwrap_err()
                .to_string(),
            "Error: invalid port (x): strconv.ParseUint: parsing \"x\": invalid syntax"
        );
    }

    #[test]
    fn top_is_a_wide_table() {
        let list =
            json!({"Titles": ["UID", "PID", "CMD"], "Processes": [["root", "1234", "sleep 100"]]});
        assert_eq!(
            top_table(&list),
            "UID                 PID                 CMD\nroot                1234                sleep 100\n"
        );
    }
}
