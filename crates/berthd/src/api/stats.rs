//! `GET /containers/{id}/stats`: cgroup counters in Docker's JSON shape, one object per
//! second when streaming, with the previous reading as `precpu_stats`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::query::Query;
use super::{ApiError, ApiResult};
use crate::containers::{Container, Containers};
use crate::daemon::Daemon;

/// Host CPU time in nanoseconds from `/proc/stat` (the `system_cpu_usage` Docker's CLI
/// divides by).
fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    ticks * (1_000_000_000 / 100)
}

fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Per-interface counters from the container's network namespace (not `lo`).
fn networks(pid: i32) -> Value {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let mut out = Map::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({
                "rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11],
            }),
        );
    }
    Value::Object(out)
}

fn empty_cpu() -> Value {
    json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
           "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}})
}

struct Sample {
    read: String,
    cpu: Value,
    json: Value,
}

fn blkio(entries: &[berth_cgroups::BlkioEntry]) -> Value {
    if entries.is_empty() {
        return Value::Null;
    }
    Value::Array(
        entries
            .iter()
            .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
            .collect(),
    )
}

/// One reading; `None` once the container no longer runs.
fn sample(containers: &Containers, c: &Container) -> Option<Sample> {
    let rec = c.record();
    let s = containers.cgroup_stats(c)?;
    let ncpu = crate::containers::resources::online_cpus();
    let mut usage = json!({
        "total_usage": s.cpu_total_ns,
        "usage_in_kernelmode": s.cpu_system_ns,
        "usage_in_usermode": s.cpu_user_ns,
    });
    if !s.v2 {
        usage["percpu_usage"] = json!(s.cpu_percpu_ns);
    }
    let cpu = json!({
        "cpu_usage": usage,
        "system_cpu_usage": system_cpu_ns(),
        "online_cpus": ncpu,
        "throttling_data": {"periods": s.throttle_periods, "throttled_periods": s.throttled_periods, "throttled_time": s.throttled_ns},
    });
    // Unlimited groups report a huge limit; Docker shows the host's memory instead.
    let host = host_memory();
    let limit = if host > 0 && s.memory_limit > host {
        host
    } else {
        s.memory_limit
    };
    let mut memory = json!({"usage": s.memory_usage, "stats": s.memory_stat, "limit": limit});
    if !s.v2 {
        memory["max_usage"] = json!(s.memory_max_usage);
        memory["failcnt"] = json!(s.memory_failcnt);
    }
    let pids_limit = if s.pids_limit == 0 {
        Value::Null
    } else {
        json!(s.pids_limit)
    };
    let read = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut out = json!({
        "read": read,
        "preread": crate::containers::ZERO_TIME,
        "pids_stats": {"current": s.pids_current, "limit": pids_limit},
        "blkio_stats": {
            "io_service_bytes_recursive": blkio(&s.io_service_bytes),
            "io_serviced_recursive": blkio(&s.io_serviced),
            "io_queue_recursive": null, "io_service_time_recursive": null,
            "io_wait_time_recursive": null, "io_merged_recursive": null,
            "io_time_recursive": null, "sectors_recursive": null,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "precpu_stats": empty_cpu(),
        "memory_stats": memory,
        "name": format!("/{}", rec.name),
        "id": rec.id,
    });
    let nets = networks(rec.state.pid);
    if nets.as_object().is_some_and(|m| !m.is_empty()) {
        out["networks"] = nets;
    }
    Some(Sample {
        read,
        cpu,
        json: out,
    })
}

/// A reading of a stopped container: Docker's zeroed object.
fn stopped(c: &Container) -> Value {
    let rec = c.record();
    json!({
        "read": crate::containers::ZERO_TIME, "preread": crate::containers::ZERO_TIME,
        "pids_stats": {}, "blkio_stats": {"io_service_bytes_recursive": null, "io_serviced_recursive": null,
            "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null,
            "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null},
        "num_procs": 0, "storage_stats": {}, "cpu_stats": empty_cpu(), "precpu_stats": empty_cpu(),
        "memory_stats": {}, "name": format!("/{}", rec.name), "id": rec.id,
    })
}

fn with_previous(mut cur: Sample, prev: Option<&Sample>) -> Value {
    if let Some(p) = prev {
        cur.json["precpu_stats"] = p.cpu.clone();
        cur.json["preread"] = json!(p.read);
    }
    cur.json
}

pub async fn stats(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let c = d.containers.get(&id)?;
    let q = Query::parse(raw.as_deref());
    let stream = match q.get("stream") {
        None => true,
        Some(_) => q.bool("stream")?,
    };
    let one_shot = q.bool("one-shot")?;
    if one_shot && stream {
        return Err(ApiError::bad_request(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let line = |v: &Value| Bytes::from(v.to_string() + "\n");
    if !stream {
        let first = sample(&d.containers, &c);
        let body = match first {
            None => line(&stopped(&c)),
            Some(first) if one_shot => line(&first.json),
            Some(first) => {
                // Without streaming Docker answers with its second reading, so the CPU
                // percentage has a previous one to compare with.
                tokio::time::sleep(Duration::from_millis(500)).await;
                match sample(&d.containers, &c) {
                    Some(second) => line(&with_previous(second, Some(&first))),
                    None => line(&first.json),
                }
            }
        };
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response());
    }
    let shutdown = d.shutdown.clone();
    let containers = d.containers.clone();
    let s = futures_util::stream::unfold((None::<Sample>, true), move |(prev, first)| {
        let containers = containers.clone();
        let c = c.clone();
        let shutdown = shutdown.clone();
        async move {
            if !first {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.cancelled() => return None,
                }
            }
            let cur = sample(&containers, &c);
            let Some(cur) = cur else {
                // Docker keeps sending zeroed readings for a stopped container.
                return Some((
                    Ok::<Bytes, std::convert::Infallible>(line(&stopped(&c))),
                    (None, false),
                ));
            };
            let keep = Sample {
                read: cur.read.clone(),
                cpu: cur.cpu.clone(),
                json: Value::Null,
            };
            let out = with_previous(cur, prev.as_ref());
            Some((Ok(line(&out)), (Some(keep), false)))
        }
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(s),
    )
        .into_response())
}
