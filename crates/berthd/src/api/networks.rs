//! `/networks`: list, inspect, create, remove and prune Docker networks.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{json, Value};

use super::query::Query;
use super::{json_response, ApiError, ApiResult};
use crate::daemon::Daemon;
use crate::networks::{NetworkError, NetworkRecord};

impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> ApiError {
        ApiError::from_kind(e)
    }
}

/// The network's endpoints as inspect shows them (`Containers`), from the containers'
/// records.
fn endpoints(d: &Daemon, net: &NetworkRecord) -> Value {
    let mut out = serde_json::Map::new();
    for c in d.containers.all() {
        let rec = c.record();
        if let Some(ep) = rec.endpoints.get(&net.name) {
            out.insert(
                rec.id.clone(),
                json!({
                    "Name": rec.name,
                    "EndpointID": ep.endpoint_id,
                    "MacAddress": ep.mac,
                    "IPv4Address": format!("{}/{}", ep.ip, ep.prefix),
                    "IPv6Address": "",
                }),
            );
        }
    }
    Value::Object(out)
}

fn matches(f: &super::query::Filters, n: &NetworkRecord) -> bool {
    let name_ok =
        f.get("name").is_empty() || f.get("name").iter().any(|x| n.name.contains(x.as_str()));
    let id_ok = f.get("id").is_empty() || f.get("id").iter().any(|x| n.id.starts_with(x.as_str()));
    let kind = if n.predefined() { "builtin" } else { "custom" };
    name_ok
        && id_ok
        && f.matches_exact("driver", &n.driver)
        && f.matches_exact("type", kind)
        && f.matches_exact("scope", "local")
        && f.match_labels("label", &n.labels)
}

pub async fn list(State(d): State<Arc<Daemon>>, RawQuery(raw): RawQuery) -> ApiResult {
    let f = Query::parse(raw.as_deref()).filters()?;
    f.validate(&["name", "id", "driver", "type", "scope", "label", "dangling"])?;
    let dangling = f.bool_value("dangling")?;
    let used: Vec<String> = d
        .containers
        .all()
        .iter()
        .flat_map(|c| c.record().endpoints.keys().cloned().collect::<Vec<_>>())
        .collect();
    let list: Vec<Value> = d
        .networks
        .all()
        .into_iter()
        .filter(|n| matches(&f, n))
        .filter(|n| match dangling {
            None => true,
            Some(want) => want == (!n.predefined() && !used.contains(&n.name)),
        })
        .map(|n| n.to_api(Some(json!({}))))
        .collect();
    Ok(json_response(StatusCode::OK, &list))
}

pub async fn inspect(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult {
    let n = d.networks.get(&id)?;
    let eps = endpoints(&d, &n);
    Ok(json_response(StatusCode::OK, &n.to_api(Some(eps))))
}

pub async fn create(State(d): State<Arc<Daemon>>, body: axum::body::Bytes) -> ApiResult {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let n = d
        .networks
        .create(&body, &crate::networks::reserved_networks())?;
    d.network_event(&n, "create", &[]);
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"Id": n.id, "Warning": ""}),
    ))
}

pub async fn delete(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult {
    let n = d.networks.get(&id)?;
    remove(&d, &n).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove(d: &Arc<Daemon>, n: &NetworkRecord) -> Result<(), ApiError> {
    if !n.predefined()
        && d.containers
            .all()
            .iter()
            .any(|c| c.record().endpoints.contains_key(&n.name))
    {
        return Err(ApiError::new(
            berth_errors::ErrorKind::Forbidden,
            format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            ),
        ));
    }
    d.networks.remove(n)?;
    d.network_removed(n);
    d.network_event(n, "destroy", &[]);
    Ok(())
}

fn container_of(d: &Daemon, body: &Value) -> Result<Arc<crate::containers::Container>, ApiError> {
    let name = body.get("Container").and_then(Value::as_str).unwrap_or("");
    Ok(d.containers.get(name)?)
}

pub async fn connect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let n = d.networks.get(&id)?;
    let c = container_of(&d, &body)?;
    let _op = c.op.lock().await;
    let rec = c.record();
    if n.driver != "bridge" {
        return Err(ApiError::new(
            berth_errors::ErrorKind::Forbidden,
            "container cannot be disconnected from host network or connected to host network"
                .to_string(),
        ));
    }
    if crate::api::containers::network_names(&rec).contains(&n.name) {
        return Err(ApiError::new(
            berth_errors::ErrorKind::Forbidden,
            format!(
                "endpoint with name {} already exists in network {}",
                rec.name, n.name
            ),
        ));
    }
    let cfg = body
        .get("EndpointConfig")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    let rec = d.containers.update(&c, |r| {
        r.endpoint_config.insert(n.name.clone(), cfg.clone());
    })?;
    if rec.state.status == "running" {
        let ep = {
            let d2 = d.clone();
            let (r, n2) = (rec.clone(), n.clone());
            tokio::task::spawn_blocking(move || d2.connect_running(&r, &n2)).await?
        };
        let ep = match ep {
            Ok(ep) => ep,
            Err(e) => {
                let _ = d.containers.update(&c, |r| {
                    r.endpoint_config.remove(&n.name);
                });
                return Err(e.into());
            }
        };
        let rec = d.containers.update(&c, |r| {
            r.endpoints.insert(n.name.clone(), ep.clone());
        })?;
        d.apply_firewall();
        if !d
            .dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&rec.id)
        {
            d.serve_dns(&rec);
        }
    }
    d.network_event(&n, "connect", &[("container", rec.id.clone())]);
    Ok(StatusCode::OK.into_response())
}

pub async fn disconnect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let n = d.networks.get(&id)?;
    let c = container_of(&d, &body)?;
    let _op = c.op.lock().await;
    let rec = c.record();
    if !crate::api::containers::network_names(&rec).contains(&n.name) {
        return Err(ApiError::new(
            berth_errors::ErrorKind::Forbidden,
            format!(
                "container {} is not connected to network {}",
                rec.id, n.name
            ),
        ));
    }
    if let Some(ep) = rec.endpoints.get(&n.name) {
        d.disconnect_running(&rec, &n, ep);
    }
    let rec = d.containers.update(&c, |r| {
        r.endpoints.remove(&n.name);
        r.endpoint_config.remove(&n.name);
        // Leaving the network its mode names leaves it with none, as in Docker.
        if r.host_config
            .get("NetworkMode")
            .and_then(Value::as_str)
            .is_some_and(|m| m == n.name || (n.name == "bridge" && matches!(m, "default" | "")))
        {
            r.host_config["NetworkMode"] = json!("none");
        }
    })?;
    d.apply_firewall();
    d.network_event(&n, "disconnect", &[("container", rec.id.clone())]);
    Ok(StatusCode::OK.into_response())
}

pub async fn prune(State(d): State<Arc<Daemon>>, RawQuery(raw): RawQuery) -> ApiResult {
    let f = Query::parse(raw.as_deref()).filters()?;
    f.validate(&["label", "until"])?;
    let mut deleted = Vec::new();
    for n in d.networks.all() {
        if n.predefined() || !f.match_labels("label", &n.labels) {
            continue;
        }
        if remove(&d, &n).await.is_ok() {
            deleted.push(n.name.clone());
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"NetworksDeleted": deleted}),
    ))
}
