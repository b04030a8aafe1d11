//! `/containers/*`: create, start, attach, wait, stop, kill, rm, ps, inspect, logs.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use super::query::Query;
use super::{json_response, ApiError, ApiResult};
use crate::containers::{self, Container, Record};
use crate::daemon::Daemon;

impl From<containers::ContainerError> for ApiError {
    fn from(e: containers::ContainerError) -> ApiError {
        ApiError::from_kind(e)
    }
}

/// The network a new container names (`--network`), checked to exist, and what its
/// files need from it.
fn network_context(d: &Daemon, body: &Value) -> Result<containers::NetContext, ApiError> {
    let mode = body
        .pointer("/HostConfig/NetworkMode")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let named = match mode {
        "" | "default" | "bridge" | "host" | "none" => None,
        m if m.starts_with("container:") => None,
        name => Some(d.networks.get(name)?),
    };
    // `--ip` needs a network whose addresses the user manages (Docker's rule).
    let wants_ip = body
        .pointer("/NetworkingConfig/EndpointsConfig")
        .and_then(Value::as_object)
        .is_some_and(|m| {
            m.values().any(|e| {
                e.pointer("/IPAMConfig/IPv4Address")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
            })
        });
    if wants_ip && named.as_ref().is_none_or(|n| n.predefined()) {
        return Err(ApiError::bad_request(
            "user specified IP address is supported on user defined networks only",
        ));
    }
    Ok(containers::NetContext {
        embedded_dns: named.is_some_and(|n| !n.predefined()),
        host_gateway: d.networks.default_gateway(),
    })
}

pub async fn create(
    State(d): State<Arc<Daemon>>,
    RawQuery(raw): RawQuery,
    body: axum::body::Bytes,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let image = body.get("Image").and_then(Value::as_str).unwrap_or("");
    if image.is_empty() {
        return Err(ApiError::bad_request(
            "config cannot be empty in order to create a container",
        ));
    }
    let img = d.images.lookup(image)?;
    let net = network_context(&d, &body)?;
    let (mounts, made) = d.resolve_mounts(&body, img.container_config())?;
    let rec = match d
        .containers
        .create(&body, q.get("name"), &img, &net, mounts)
    {
        Ok(rec) => rec,
        Err(e) => {
            d.discard_volumes(&made);
            return Err(e.into());
        }
    };
    // A start usually follows within milliseconds (`docker run`).
    d.containers.prime_cgroup_join();
    d.container_event(&rec, "create", &[]);
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"Id": rec.id, "Warnings": []}),
    ))
}

pub async fn start(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult {
    let c = d.containers.get(&id)?;
    let _op = c.op.lock().await;
    match d.start_container(&c).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(ApiError {
            status: StatusCode::NOT_MODIFIED,
            ..
        }) => Ok(StatusCode::NOT_MODIFIED.into_response()),
        Err(e) => Err(e),
    }
}

/// Hijacks the connection (HTTP upgrade to a raw stream) and joins it to the shim's
/// attach socket, now or when the container starts.
pub async fn attach(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    mut req: Request,
) -> ApiResult {
    let c = d.containers.get(&id)?;
    let q = Query::parse(raw.as_deref());
    let flag = |k: &str| q.bool(k).map(|b| if b { 1 } else { 0 });
    let line = format!(
        "stdin={} stdout={} stderr={}",
        flag("stdin")?,
        flag("stdout")?,
        flag("stderr")?
    );
    let rec = c.record();
    let upgrade = hyper::upgrade::on(&mut req);
    let shim: tokio::sync::oneshot::Receiver<tokio::net::UnixStream> = {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if rec.state.status == "running" {
            let s = containers::connect_attach(&d.containers.bundle(&rec.id), &line)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let _ = tx.send(s);
        } else {
            // As Docker: a stream attached to a container that is not running gets its
            // output from its next start (`docker start -a` of an exited container).
            c.add_pending_attach((line, tx));
        }
        rx
    };
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut client = TokioIo::new(upgraded);
        if let Ok(mut shim) = shim.await {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut shim).await;
        }
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut client).await;
    });
    let upgrade_requested = req.headers().get(header::UPGRADE).is_some();
    let status = if upgrade_requested {
        StatusCode::SWITCHING_PROTOCOLS
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.docker.multiplexed-stream",
            ),
            (header::CONNECTION, "Upgrade"),
            (header::UPGRADE, "tcp"),
        ],
    )
        .into_response())
}

/// Answers headers at once and the exit code when the condition is met, as Docker does.
pub async fn wait(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let c = d.containers.get(&id)?;
    let q = Query::parse(raw.as_deref());
    let condition = q
        .get("condition")
        .filter(|s| !s.is_empty())
        .unwrap_or("not-running")
        .to_string();
    if !["not-running", "next-exit", "removed"].contains(&condition.as_str()) {
        return Err(ApiError::bad_request(format!(
            "invalid condition: {condition:?}"
        )));
    }
    let mut rx = c.subscribe();
    let start_gen = *rx.borrow();
    let body = async_stream_once(async move {
        loop {
            let rec = c.record();
            let removed = d.containers.get(&c.id).is_err();
            let done = match condition.as_str() {
                "not-running" => rec.state.status != "running",
                "next-exit" => *rx.borrow() != start_gen && rec.state.status == "exited",
                _ => removed,
            };
            if done {
                return json!({"StatusCode": rec.state.exit_code, "Error": null}).to_string()
                    + "\n";
            }
            if rx.changed().await.is_err() {
                return json!({"StatusCode": rec.state.exit_code, "Error": null}).to_string()
                    + "\n";
            }
        }
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// A body whose single chunk comes from `fut`; headers go out before it resolves.
fn async_stream_once(fut: impl std::future::Future<Output = String> + Send + 'static) -> Body {
    let stream = futures_util::stream::once(async move {
        Ok::<Bytes, std::convert::Infallible>(Bytes::from(fut.await))
    });
    Body::from_stream(stream)
}

pub async fn delete(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let force = q.bool("force")?;
    let volumes = q.bool("v")?;
    let c = d.containers.get(&id)?;
    d.remove_container(&c, force, volumes).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn stop(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let t = q.stop_timeout()?;
    let c = d.containers.get(&id)?;
    let _op = c.op.lock().await;
    d.mark_manual_stop(&c);
    d.stop_event_kill(&c);
    match d.containers.stop(&c, t).await {
        Ok(()) => {
            d.container_event(&c.record(), "stop", &[]);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(containers::ContainerError::NotModified(_)) => {
            Ok(StatusCode::NOT_MODIFIED.into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn kill(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let sig_name = q
        .get("signal")
        .filter(|s| !s.is_empty())
        .unwrap_or("SIGKILL");
    let sig = containers::parse_signal(sig_name)
        .ok_or_else(|| ApiError::bad_request(format!("Invalid signal: {sig_name}")))?;
    let c = d.containers.get(&id)?;
    d.containers.kill(&c, sig)?;
    if sig == nix::sys::signal::Signal::SIGKILL || sig == nix::sys::signal::Signal::SIGTERM {
        d.mark_manual_stop(&c);
    }
    d.container_event(&c.record(), "kill", &[("signal", (sig as i32).to_string())]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/{id}/resize`: the shim owns the terminal and applies the size.
pub async fn resize(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let c = d.containers.get(&id)?;
    let rec = c.record();
    let (h, w) = super::exec::size_query(raw.as_deref())?;
    if rec.state.status != "running" {
        return Err(ApiError::new(
            berth_errors::ErrorKind::Conflict,
            format!("Container {} is not running", rec.id),
        ));
    }
    containers::connect_attach(&d.containers.bundle(&rec.id), &format!("resize {h} {w}"))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(StatusCode::OK.into_response())
}

fn state_json(r: &Record) -> Value {
    let s = &r.state;
    let mut out = json!({
        "Status": s.docker_status(), "Running": s.status == "running" || s.status == "restarting", "Paused": s.paused,
        "Restarting": s.status == "restarting", "OOMKilled": s.oom_killed, "Dead": s.status == "dead",
        "Pid": s.pid, "ExitCode": s.exit_code, "Error": s.error,
        "StartedAt": s.started_at, "FinishedAt": s.finished_at,
    });
    if let Some(h) = &s.health {
        out["Health"] = h.clone();
    }
    out
}

/// `SizeRw` (the writable layer) and `SizeRootFs` (it plus the image), Docker's
/// `size=1` fields.
fn sizes(d: &Daemon, r: &Record) -> (u64, u64) {
    let rw = d.containers.size_rw(&r.id);
    let image = d
        .images
        .lookup(&r.image_id.to_string())
        .map(|i| i.size)
        .unwrap_or(0);
    (rw, rw + image)
}

pub async fn inspect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let want_size = Query::parse(raw.as_deref()).bool("size")?;
    let c = d.containers.get(&id)?;
    let r = c.record();
    let dir = d.containers.dir(&r.id);
    let lower = d.container_lower_dirs(&r).unwrap_or_default();
    let lower: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    let mut hc = r.host_config.clone();
    if let Some(o) = hc.as_object_mut() {
        o.entry("NetworkMode").or_insert(json!("default"));
        o.entry("RestartPolicy")
            .or_insert(json!({"Name": "no", "MaximumRetryCount": 0}));
        o.entry("LogConfig")
            .or_insert(json!({"Type": "json-file", "Config": {}}));
        o.entry("AutoRemove").or_insert(json!(false));
        o.entry("Privileged").or_insert(json!(false));
        o.entry("ReadonlyRootfs").or_insert(json!(false));
    }
    let mut argv: Vec<Value> = r
        .config
        .get("Entrypoint")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    argv.extend(
        r.config
            .get("Cmd")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    );
    let args = if argv.is_empty() {
        json!([])
    } else {
        json!(argv[1..])
    };
    let mut out = json!({
        "Id": r.id,
        "Created": r.created,
        "Path": r.config.get("Entrypoint").and_then(Value::as_array).and_then(|e| e.first()).or_else(|| r.config.get("Cmd").and_then(Value::as_array).and_then(|c| c.first())).cloned().unwrap_or(json!("")),
        "Args": args,
        "State": state_json(&r),
        "Image": r.image_id.to_string(),
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": if containers::log_driver(&r.host_config) == "none" { json!("") } else { json!(d.containers.log_path(&r.id)) },
        "Name": format!("/{}", r.name),
        "RestartCount": r.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": d.execs.ids_of(&r.id),
        "HostConfig": hc,
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": lower.join(":"), "MergedDir": dir.join("merged"), "UpperDir": dir.join("upper"), "WorkDir": dir.join("work")}},
        "Mounts": r.mounts.iter().map(|m| m.inspect()).collect::<Vec<_>>(),
        "Config": r.config,
        "NetworkSettings": network_settings(&d, &r),
    });
    if want_size {
        let (rw, rootfs) = sizes(&d, &r);
        out["SizeRw"] = json!(rw);
        out["SizeRootFs"] = json!(rootfs);
    }
    Ok(json_response(StatusCode::OK, &out))
}

/// The networks a container is attached to (or will be, while it does not run): its
/// `NetworkMode`'s network and any it was connected to.
pub fn network_names(r: &Record) -> Vec<String> {
    let mode = r
        .host_config
        .get("NetworkMode")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let mut names: Vec<String> = match mode {
        "" | "default" | "bridge" => vec!["bridge".into()],
        m if m.starts_with("container:") => Vec::new(),
        m => vec![m.to_string()],
    };
    if mode == "none" || mode == "host" {
        return names;
    }
    for n in r.endpoints.keys().chain(r.endpoint_config.keys()) {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// Docker's `NetworkSettings`: one entry per network, filled while the container runs;
/// the top-level address fields describe the default bridge only.
fn network_settings(d: &Daemon, r: &Record) -> Value {
    let mut networks = serde_json::Map::new();
    for name in network_names(r) {
        let ep = r.endpoints.get(&name);
        let network_id = ep.map(|e| e.network_id.clone()).unwrap_or_default();
        networks.insert(
            name.clone(),
            json!({
                "IPAMConfig": null, "Links": null,
                "Aliases": ep.filter(|e| !e.aliases.is_empty()).map(|e| e.aliases.clone()),
                "MacAddress": ep.map(|e| e.mac.clone()).unwrap_or_default(),
                "DriverOpts": null, "GwPriority": 0,
                "NetworkID": network_id,
                "EndpointID": ep.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
                "Gateway": ep.map(|e| e.gateway.to_string()).unwrap_or_default(),
                "IPAddress": ep.map(|e| e.ip.to_string()).unwrap_or_default(),
                "IPPrefixLen": ep.map_or(0, |e| e.prefix),
                "IPv6Gateway": ep.and_then(|e| e.ip6).map(|(_, _, g)| g.to_string()).unwrap_or_default(),
                "GlobalIPv6Address": ep.and_then(|e| e.ip6).map(|(a, _, _)| a.to_string()).unwrap_or_default(),
                "GlobalIPv6PrefixLen": ep.and_then(|e| e.ip6).map_or(0, |(_, p, _)| p),
                "DNSNames": ep.map(|e| {
                    let mut n = vec![r.name.clone(), r.id[..12].to_string()];
                    n.extend(e.aliases.iter().cloned());
                    n
                }).filter(|_| name != "bridge"),
            }),
        );
    }
    let bridge = r.endpoints.get("bridge");
    let running = r.state.status == "running" && r.state.pid > 0;
    json!({
        "Bridge": "",
        "SandboxID": if running { r.id.clone() } else { String::new() },
        "SandboxKey": if running && !r.endpoints.is_empty() { d.containers.netns_path(&r.id).display().to_string() } else { String::new() },
        "Ports": crate::ports::settings(r),
        "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
        "EndpointID": bridge.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
        "Gateway": bridge.map(|e| e.gateway.to_string()).unwrap_or_default(),
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": bridge.map(|e| e.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": bridge.map_or(0, |e| e.prefix),
        "IPv6Gateway": "",
        "MacAddress": bridge.map(|e| e.mac.clone()).unwrap_or_default(),
        "Networks": networks,
    })
}

fn status_text(r: &Record) -> String {
    let since = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| human_duration(chrono::Utc::now().signed_duration_since(t).num_seconds()))
            .unwrap_or_default()
    };
    match r.state.status.as_str() {
        "running" if r.state.paused => format!("Up {} (Paused)", since(&r.state.started_at)),
        "running" => {
            let health = match crate::health::status_of(r) {
                "none" => String::new(),
                "starting" => " (health: starting)".into(),
                s => format!(" ({s})"),
            };
            format!("Up {}{health}", since(&r.state.started_at))
        }
        "exited" => format!(
            "Exited ({}) {} ago",
            r.state.exit_code,
            since(&r.state.finished_at)
        ),
        "created" => "Created".into(),
        "restarting" => format!(
            "Restarting ({}) {} ago",
            r.state.exit_code,
            since(&r.state.finished_at)
        ),
        other => other.to_string(),
    }
}

/// go-units' `HumanDuration`.
fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s / 60 == 1 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if (s as f64 / 3600.0).round() as i64 == 1 => "About an hour".into(),
        s if s < 48 * 3600 => format!("{} hours", (s as f64 / 3600.0).round() as i64),
        s if s < 7 * 24 * 3600 * 2 => format!("{} days", s / 86400),
        s if s < 30 * 24 * 3600 * 3 => format!("{} weeks", s / (7 * 86400)),
        s if s < 365 * 24 * 3600 * 2 => format!("{} months", s / (30 * 86400)),
        s => format!("{} years", s / (365 * 86400)),
    }
}

pub async fn list(State(d): State<Arc<Daemon>>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let all = q.bool("all")?;
    let want_size = q.bool("size")?;
    let f = q.filters()?;
    f.validate(&[
        "ancestor",
        "before",
        "expose",
        "exited",
        "health",
        "id",
        "isolation",
        "is-task",
        "label",
        "name",
        "network",
        "publish",
        "since",
        "status",
        "volume",
    ])?;
    let mut recs: Vec<Record> = d.containers.all().iter().map(|c| c.record()).collect();
    recs.sort_by(|a, b| b.created.cmp(&a.created));
    // `limit` (`ps -n`/`-l`) counts all containers, newest first, whatever their state.
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0);
    if let Some(l) = limit {
        recs.truncate(l as usize);
    }
    let all = all || limit.is_some();
    let mut out = Vec::new();
    for r in recs {
        let running = r.state.status == "running";
        if !all && !running && !f.contains("status") && !f.contains("exited") {
            continue;
        }
        let status_ok = f.get("status").is_empty()
            || f.get("status").iter().any(|s| s == r.state.docker_status());
        let name_ok = f.get("name").is_empty()
            || f.get("name")
                .iter()
                .any(|n| r.name.contains(n.trim_start_matches('/')));
        let id_ok =
            f.get("id").is_empty() || f.get("id").iter().any(|i| r.id.starts_with(i.as_str()));
        let health_ok = f.get("health").is_empty()
            || f.get("health")
                .iter()
                .any(|h| h == crate::health::status_of(&r));
        let exited_ok = f.get("exited").is_empty()
            || (r.state.status == "exited"
                && f.get("exited")
                    .iter()
                    .any(|e| e.parse::<i32>().ok() == Some(r.state.exit_code)));
        let labels = r
            .config
            .get("Labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let ancestor_ok = f.get("ancestor").is_empty()
            || f.get("ancestor")
                .iter()
                .any(|a| d.images.resolve(a).ok().as_ref() == Some(&r.image_id) || *a == r.image);
        if !(status_ok
            && health_ok
            && name_ok
            && id_ok
            && exited_ok
            && ancestor_ok
            && f.match_labels("label", &labels))
        {
            continue;
        }
        // `volume=NAME|DESTINATION`: containers with that volume mounted, or with
        // anything mounted at that path.
        let volume_ok = f.get("volume").is_empty()
            || f.get("volume").iter().any(|v| {
                r.mounts
                    .iter()
                    .any(|m| m.name.as_deref() == Some(v.as_str()) || m.destination == *v)
            });
        if !volume_ok {
            continue;
        }
        out.push(summary(&d, &r, labels, want_size));
    }
    Ok(json_response(StatusCode::OK, &out))
}

/// One container in `GET /containers/json`'s shape (also `system df`'s).
pub fn summary(
    d: &Daemon,
    r: &Record,
    labels: serde_json::Map<String, Value>,
    want_size: bool,
) -> Value {
    let mut cmd: Vec<String> = Vec::new();
    for k in ["Entrypoint", "Cmd"] {
        cmd.extend(
            r.config
                .get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string)),
        );
    }
    // Docker quotes arguments that contain spaces.
    let cmd: Vec<String> = cmd
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i > 0 && a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect();
    let mut item = json!({
        "Id": r.id, "Names": [format!("/{}", r.name)], "Image": r.image, "ImageID": r.image_id.to_string(),
        "Command": cmd.join(" "),
        "Created": chrono::DateTime::parse_from_rfc3339(&r.created).map(|t| t.timestamp()).unwrap_or(0),
        "Ports": crate::ports::list_entries(r), "Labels": labels, "State": r.state.docker_status(), "Status": status_text(r),
        "HostConfig": {"NetworkMode": r.host_config.get("NetworkMode").and_then(Value::as_str).unwrap_or("default")},
        "NetworkSettings": {"Networks": network_settings(d, r)["Networks"].clone()},
        "Mounts": r.mounts.iter().map(|m| m.inspect()).collect::<Vec<_>>(),
    });
    if want_size {
        let (rw, rootfs) = sizes(d, r);
        item["SizeRw"] = json!(rw);
        item["SizeRootFs"] = json!(rootfs);
    }
    item
}

async fn read_from(path: &std::path::Path, offset: &mut u64) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let Ok(mut f) = tokio::fs::File::open(path).await else {
        return Vec::new();
    };
    let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
    if len < *offset {
        *offset = 0;
    }
    let mut buf = Vec::new();
    if f.seek(std::io::SeekFrom::Start(*offset)).await.is_ok() {
        let _ = f.read_to_end(&mut buf).await;
    }
    buf
}

/// `GET /containers/{id}/logs`: the json-file log, multiplexed unless the container has a TTY.
pub async fn logs(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let (stdout, stderr) = (q.bool("stdout")?, q.bool("stderr")?);
    if !stdout && !stderr {
        return Err(ApiError::bad_request("You must choose at least one stream"));
    }
    let follow = q.bool("follow")?;
    let timestamps = q.bool("timestamps")?;
    let tail: Option<usize> = q
        .get("tail")
        .filter(|t| !t.is_empty() && *t != "all")
        .map(|t| {
            t.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid tail {t:?}")))
        })
        .transpose()?;
    let since = q
        .get("since")
        .and_then(|s| s.split('.').next()?.parse::<i64>().ok())
        .filter(|s| *s > 0);
    let until = q
        .get("until")
        .and_then(|s| s.split('.').next()?.parse::<i64>().ok())
        .filter(|s| *s > 0);
    let c: Arc<Container> = d.containers.get(&id)?;
    if containers::log_driver(&c.record().host_config) == "none" {
        return Err(ApiError::new(
            berth_errors::ErrorKind::NotImplemented,
            "configured logging driver does not support reading",
        ));
    }
    let tty = c
        .record()
        .config
        .get("Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let path = d.containers.log_path(&c.id);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::convert::Infallible>>(16);
    tokio::spawn(async move {
        let mut offset = 0u64;
        let mut first = true;
        let mut rx_state = c.subscribe();
        loop {
            // Only what was appended since the last pass is read; a file shorter than
            // the offset was rotated, and is read again from its start.
            let new = read_from(&path, &mut offset).await;
            let new = &new[..];
            let complete = new
                .iter()
                .rposition(|&b| b == b'\n')
                .map(|p| p + 1)
                .unwrap_or(0);
            let mut lines: Vec<&[u8]> = new[..complete]
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            offset += complete as u64;
            if first {
                if let Some(t) = tail {
                    let skip = lines.len().saturating_sub(t);
                    lines.drain(..skip);
                }
                first = false;
            }
            for l in lines {
                let Ok(v) = serde_json::from_slice::<Value>(l) else {
                    continue;
                };
                let stream = v.get("stream").and_then(Value::as_str).unwrap_or("stdout");
                if (stream == "stdout" && !stdout) || (stream == "stderr" && !stderr) {
                    continue;
                }
                let time = v.get("time").and_then(Value::as_str).unwrap_or("");
                let t = chrono::DateTime::parse_from_rfc3339(time)
                    .map(|t| t.timestamp())
                    .unwrap_or(0);
                if since.is_some_and(|s| t < s) || until.is_some_and(|u| t > u) {
                    continue;
                }
                let mut msg = Vec::new();
                if timestamps {
                    msg.extend_from_slice(time.as_bytes());
                    msg.push(b' ');
                }
                msg.extend_from_slice(
                    v.get("log")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .as_bytes(),
                );
                let frame = if tty {
                    msg
                } else {
                    let mut f = vec![if stream == "stderr" { 2 } else { 1 }, 0, 0, 0];
                    f.extend_from_slice(&(msg.len() as u32).to_be_bytes());
                    f.extend_from_slice(&msg);
                    f
                };
                if tx.send(Ok(Bytes::from(frame))).await.is_err() {
                    return;
                }
            }
            let running = c.record().state.status == "running";
            if !follow || !running {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                r = rx_state.changed() => { if r.is_err() { return; } }
                _ = tx.closed() => return,
            }
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) });
    let ctype = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, ctype)],
        Body::from_stream(stream),
    )
        .into_response())
}

pub async fn not_found_container(
    State(d): State<Arc<Daemon>>,
    Path((id, _action)): Path<(String, String)>,
) -> Response {
    match d.containers.get(&id) {
        Err(e) => ApiError::from(e).into_response(),
        Ok(_) => ApiError::new(
            berth_errors::ErrorKind::NotImplemented,
            "this container operation is not implemented by berth yet",
        )
        .into_response(),
    }
}
