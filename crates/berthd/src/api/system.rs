//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use serde_json::{json, Value};

use super::images::image_summary;
use super::query::{Filters, Query};
use super::{json_response, ApiError, ApiResult, ApiVersion, API_VERSION, MIN_API_VERSION};
use crate::daemon::Daemon;
use crate::events::Event;
use crate::host;

pub async fn ping(method: Method) -> Response {
    let body = if method == Method::HEAD { "" } else { "OK" };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::PRAGMA, "no-cache"),
        ],
        [("builder-version", "1"), ("swarm", "inactive")],
        body,
    )
        .into_response()
}

pub async fn version() -> Response {
    let v = env!("CARGO_PKG_VERSION");
    let kernel = host::kernel_version();
    let arch = berth_image::go_arch();
    json_response(
        StatusCode::OK,
        &json!({
            "Platform": {"Name": "berth"},
            "Components": [{
                "Name": "Engine",
                "Version": v,
                "Details": {
                    "ApiVersion": API_VERSION, "Arch": arch, "BuildTime": "", "Experimental": "false",
                    "GitCommit": "", "GoVersion": "", "KernelVersion": kernel, "MinAPIVersion": MIN_API_VERSION, "Os": "linux"
                }
            }],
            "Version": v,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": arch,
            "KernelVersion": kernel,
            "BuildTime": ""
        }),
    )
}

pub async fn info(State(d): State<Arc<Daemon>>) -> Response {
    let c = &d.config;
    let images = d.images.count();
    let mut runtimes = serde_json::Map::new();
    runtimes.insert(
        crate::config::BUILTIN_RUNTIME.into(),
        json!({"path": "berth-runtime (built in)"}),
    );
    for (name, path) in &d.containers.runtimes().external {
        runtimes.insert(name.clone(), json!({"path": path}));
    }
    let mut security_options = vec!["name=seccomp,profile=builtin"];
    if d.containers.remapped() {
        security_options.push("name=userns");
    }
    let mut insecure_cidrs = vec!["127.0.0.0/8".to_string()];
    let mut index_configs = serde_json::Map::new();
    index_configs.insert(
        "docker.io".into(),
        json!({"Name": "docker.io", "Mirrors": c.registry_mirrors, "Secure": true, "Official": true}),
    );
    for r in &c.insecure_registries {
        if r.contains('/')
            && r.split('/')
                .next()
                .is_some_and(|a| a.parse::<std::net::IpAddr>().is_ok())
        {
            insecure_cidrs.push(r.clone());
        } else {
            index_configs.insert(
                r.clone(),
                json!({"Name": r, "Mirrors": [], "Secure": false, "Official": false}),
            );
        }
    }
    let cgroup_version = host::cgroup_version();
    let (mut total, mut running, mut paused) = (0, 0, 0);
    for ctr in d.containers.all() {
        let r = ctr.record();
        total += 1;
        match r.state.docker_status() {
            "paused" => paused += 1,
            "running" | "restarting" => running += 1,
            _ => {}
        }
    }
    json_response(
        StatusCode::OK,
        &json!({
            "ID": d.engine_id,
            "Containers": total, "ContainersRunning": running, "ContainersPaused": paused, "ContainersStopped": total - running - paused,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", host::backing_filesystem(&c.data_root)], ["Supports d_type", "true"], ["Using metacopy", "false"], ["Native Overlay Diff", "true"], ["userxattr", "false"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": null, "Log": ["json-file"]},
            "MemoryLimit": true, "SwapLimit": true, "KernelMemory": false, "KernelMemoryTCP": false,
            "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true, "CPUSet": true, "PidsLimit": true,
            "IPv4Forwarding": host::ipv4_forwarding(), "BridgeNfIptables": false, "BridgeNfIp6tables": false,
            "Debug": c.log_level == "debug",
            "NFd": host::open_fds(),
            "OomKillDisable": cgroup_version == "1",
            "NGoroutines": host::thread_count(),
            "SystemTime": chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version,
            "NEventsListener": 0,
            "KernelVersion": host::kernel_version(),
            "OperatingSystem": host::operating_system(),
            "OSVersion": host::os_version(),
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "AllowNondistributableArtifactsCIDRs": null,
                "AllowNondistributableArtifactsHostnames": null,
                "InsecureRegistryCIDRs": insecure_cidrs,
                "IndexConfigs": index_configs,
                "Mirrors": c.registry_mirrors,
            },
            "NCPU": host::ncpu(),
            "MemTotal": host::mem_total(),
            "GenericResources": null,
            "DockerRootDir": c.data_root,
            "HttpProxy": std::env::var("HTTP_PROXY").or_else(|_| std::env::var("http_proxy")).unwrap_or_default(),
            "HttpsProxy": std::env::var("HTTPS_PROXY").or_else(|_| std::env::var("https_proxy")).unwrap_or_default(),
            "NoProxy": std::env::var("NO_PROXY").or_else(|_| std::env::var("no_proxy")).unwrap_or_default(),
            "Name": host::hostname(),
            "Labels": c.labels,
            "ExperimentalBuild": false,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": runtimes,
            "DefaultRuntime": d.containers.runtimes().default,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": c.live_restore,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": ""},
            "InitCommit": {"ID": ""},
            "SecurityOptions": security_options,
            "CDISpecDirs": [],
            "Warnings": null
        }),
    )
}

/// Docker's `since`/`until`: seconds with an optional fraction (`1700000000.000000001`).
fn parse_event_time(s: &str) -> Result<i64, ApiError> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let secs: i64 = secs
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid timestamp {s:?}")))?;
    let mut frac = frac.to_string();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    let nanos: i64 = frac
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid timestamp {s:?}")))?;
    Ok(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

fn event_matches(f: &Filters, e: &Event) -> bool {
    let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str).unwrap_or("");
    let type_ok = f.matches_exact("type", &e.kind);
    let action_ok = f.get("event").is_empty()
        || f.get("event")
            .iter()
            .any(|a| *a == e.action || e.action.split(':').next() == Some(a.as_str()));
    let image_ok = f.get("image").is_empty()
        || f.get("image").iter().any(|want| {
            let norm = |s: &str| {
                berth_oci::Reference::parse_normalized(s)
                    .map(|r| r.with_default_tag().to_string())
                    .unwrap_or_else(|_| s.to_string())
            };
            let candidates = [e.actor.id.as_str(), attr("name"), attr("image")];
            candidates
                .iter()
                .any(|c| !c.is_empty() && (*c == want || norm(c) == norm(want)))
                && (e.kind == "image" || e.kind == "container")
        });
    let container_ok = f.get("container").is_empty()
        || (e.kind == "container"
            && f.get("container")
                .iter()
                .any(|c| e.actor.id.starts_with(c.as_str()) || attr("name") == c));
    let label_ok = f.get("label").iter().all(|l| match l.split_once('=') {
        Some((k, v)) => e.actor.attributes.get(k).map(String::as_str) == Some(v),
        None => e.actor.attributes.contains_key(l.as_str()),
    });
    let scoped = |key: &str, kind: &str| {
        f.get(key).is_empty()
            || (e.kind == kind
                && f.get(key)
                    .iter()
                    .any(|v| e.actor.id == *v || attr("name") == v))
    };
    type_ok
        && action_ok
        && image_ok
        && container_ok
        && label_ok
        && scoped("volume", "volume")
        && scoped("network", "network")
        && scoped("daemon", "daemon")
        && f.matches_exact("scope", &e.scope)
}

pub async fn events(State(d): State<Arc<Daemon>>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let filters = q.filters()?;
    filters.validate(&[
        "container",
        "daemon",
        "event",
        "image",
        "label",
        "network",
        "node",
        "plugin",
        "scope",
        "service",
        "type",
        "volume",
        "config",
        "secret",
    ])?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let since = q
        .get("since")
        .filter(|s| !s.is_empty())
        .map(parse_event_time)
        .transpose()?;
    let until = q
        .get("until")
        .filter(|s| !s.is_empty())
        .map(parse_event_time)
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(ApiError::bad_request(
                "`since` time must be before `until` time",
            ));
        }
    }
    let (history, mut rx) = d.events.subscribe();
    let last_sent = history.last().map(|e| e.time_nano).unwrap_or(i64::MIN);
    let backlog: Vec<Event> = match since {
        Some(s) => history
            .into_iter()
            .filter(|e| e.time_nano >= s && until.is_none_or(|u| e.time_nano <= u))
            .collect(),
        None => Vec::new(),
    };
    let shutdown = d.shutdown.clone();
    let (tx, body_rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(64);
    tokio::spawn(async move {
        let encode = |e: &Event| {
            let mut v = serde_json::to_vec(e).expect("events serialise");
            v.push(b'\n');
            Bytes::from(v)
        };
        for e in backlog.iter().filter(|e| event_matches(&filters, e)) {
            if tx.send(Ok(encode(e))).await.is_err() {
                return;
            }
        }
        let deadline = until.map(|u| Duration::from_nanos(u.saturating_sub(now).max(0) as u64));
        if until.is_some_and(|u| u <= now) {
            return;
        }
        let sleep = tokio::time::sleep(deadline.unwrap_or(Duration::from_secs(u64::MAX / 4)));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return,
                _ = shutdown.cancelled() => return,
                _ = tx.closed() => return,
                r = rx.recv() => match r {
                    Ok(e) => {
                        if e.time_nano <= last_sent && since.is_some() { continue; }
                        if until.is_some_and(|u| e.time_nano > u) { return; }
                        if event_matches(&filters, &e) && tx.send(Ok(encode(&e))).await.is_err() { return; }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                }
            }
        }
    });
    let stream = tokio_stream_from(body_rx);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

pub async fn df(State(d): State<Arc<Daemon>>, Extension(v): Extension<ApiVersion>) -> ApiResult {
    let dd = d.clone();
    // The three walks run side by side.
    let images_task = tokio::task::spawn_blocking(move || {
        let list = dd.images.list();
        // Containers per image from one walk of the records, not one walk per image.
        let mut users: std::collections::HashMap<berth_oci::Digest, usize> = Default::default();
        for c in dd.containers.all() {
            *users.entry(c.record().image_id).or_default() += 1;
        }
        let summaries: Vec<Value> = list
            .iter()
            .map(|img| {
                let mut s = image_summary(&dd, img, None, v);
                s["SharedSize"] = json!(dd.images.shared_size(&img.id));
                s["Containers"] = json!(users.get(&img.id).copied().unwrap_or(0));
                s
            })
            .collect();
        (summaries, dd.images.layers_size())
    });
    let dd = d.clone();
    let containers_task = tokio::task::spawn_blocking(move || {
        let mut recs: Vec<_> = dd.containers.all().iter().map(|c| c.record()).collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        recs.iter()
            .map(|r| {
                let labels = r
                    .config
                    .get("Labels")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let mut s = super::containers::summary(&dd, r, labels, true);
                // Not in Docker's answer, which leaves log files uncounted.
                s["SizeLogs"] = json!(log_files_size(&dd.containers.log_path(&r.id)));
                s
            })
            .collect::<Vec<_>>()
    });
    let dd = d.clone();
    let volumes_task = tokio::task::spawn_blocking(move || {
        let refs = dd.volume_refs();
        dd.volumes
            .list()
            .iter()
            .map(|v| {
                let mut j = super::volumes::volume_json(&dd, v);
                j["UsageData"] = json!({
                    "Size": dd.volumes.size(&v.name),
                    "RefCount": refs.get(&v.name).map_or(0, Vec::len),
                });
                j
            })
            .collect::<Vec<_>>()
    });
    let (images, containers, volumes) = tokio::join!(images_task, containers_task, volumes_task);
    let ((images, layers_size), containers, volumes) = (images?, containers?, volumes?);
    Ok(json_response(
        StatusCode::OK,
        &json!({"LayersSize": layers_size, "Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": []}),
    ))
}

/// Bytes of a container's json-file log and its rotated files (`ID-json.log.1` …).
fn log_files_size(log: &std::path::Path) -> u64 {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name()) else {
        return 0;
    };
    let name = name.to_string_lossy();
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(name.as_ref()))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}
