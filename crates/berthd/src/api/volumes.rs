//! `/volumes*`: create, list, inspect, remove, prune.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};

use super::query::{Filters, Query};
use super::{json_response, ApiError, ApiResult};
use crate::daemon::Daemon;

/// A volume in Docker's shape (`UsageData` only where Docker gives it: `system df`).
pub fn volume_json(d: &Daemon, v: &berth_volume::Volume) -> Value {
    json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": if v.labels.is_empty() { Value::Null } else { json!(v.labels) },
        "Mountpoint": d.volumes.data_dir(&v.name),
        "Name": v.name,
        "Options": if v.options.is_empty() { Value::Null } else { json!(v.options) },
        "Scope": "local",
    })
}

fn labels_of(v: &berth_volume::Volume) -> Map<String, Value> {
    v.labels
        .iter()
        .map(|(k, x)| (k.clone(), json!(x)))
        .collect()
}

fn string_map(v: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(BTreeMap::new());
    };
    let m = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("invalid JSON: expected an object of strings"))?;
    m.iter()
        .map(|(k, x)| match x.as_str() {
            Some(s) => Ok((k.clone(), s.to_string())),
            None => Err(ApiError::bad_request(format!(
                "invalid JSON: value of {k:?} is not a string"
            ))),
        })
        .collect()
}

pub async fn create(State(d): State<Arc<Daemon>>, body: axum::body::Bytes) -> ApiResult {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let name = body
        .get("Name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    let spec = berth_volume::VolumeSpec {
        name: name.map(str::to_string),
        driver: body
            .get("Driver")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        labels: string_map(body.get("Labels"))?,
        options: string_map(body.get("DriverOpts"))?,
    };
    let (v, _) = d.ensure_volume(spec)?;
    Ok(json_response(StatusCode::CREATED, &volume_json(&d, &v)))
}

/// Whether a volume passes `ls`/`prune` filters (`name`, `label`, `label!`, `driver`,
/// `dangling`).
fn matches(
    f: &Filters,
    v: &berth_volume::Volume,
    refs: &HashMap<String, Vec<String>>,
) -> Result<bool, ApiError> {
    let names = f.get("name");
    if !names.is_empty() && !names.iter().any(|n| v.name.contains(n.as_str())) {
        return Ok(false);
    }
    let labels = labels_of(v);
    if !f.match_labels("label", &labels) {
        return Ok(false);
    }
    if f.contains("label!") && f.match_any_label("label!", &labels) {
        return Ok(false);
    }
    if !f.matches_exact("driver", &v.driver) {
        return Ok(false);
    }
    if let Some(dangling) = f.bool_value("dangling")? {
        // Dangling: no container refers to it.
        if dangling == refs.contains_key(&v.name) {
            return Ok(false);
        }
    }
    Ok(true)
}

pub async fn list(State(d): State<Arc<Daemon>>, RawQuery(raw): RawQuery) -> ApiResult {
    let f = Query::parse(raw.as_deref()).filters()?;
    f.validate(&["name", "label", "label!", "driver", "dangling"])?;
    let refs = d.volume_refs();
    let mut out = Vec::new();
    for v in d.volumes.list() {
        if matches(&f, &v, &refs)? {
            out.push(volume_json(&d, &v));
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"Volumes": out, "Warnings": null}),
    ))
}

pub async fn inspect(State(d): State<Arc<Daemon>>, Path(name): Path<String>) -> ApiResult {
    let v = d.volumes.get(&name)?;
    Ok(json_response(StatusCode::OK, &volume_json(&d, &v)))
}

fn remove_one(d: &Daemon, name: &str) -> Result<(), ApiError> {
    d.volumes.get(name)?;
    let users = d.volume_users(name);
    if !users.is_empty() {
        return Err(ApiError::new(
            berth_errors::ErrorKind::Conflict,
            format!("remove {name}: volume is in use - [{}]", users.join(", ")),
        ));
    }
    d.volumes.remove(name)?;
    d.volume_event(name, "destroy", &[]);
    Ok(())
}

pub async fn delete(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let force = Query::parse(raw.as_deref()).bool("force")?;
    match remove_one(&d, &name) {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        // `rm -f` of a volume that is not there is no error.
        Err(e) if force && e.status == StatusCode::NOT_FOUND => {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(e) => Err(e),
    }
}

/// `POST /volumes/prune`: every volume no container uses, within the filters. (Docker 23
/// and later spare named volumes unless `all=true`; the Docker this engine is compared
/// with, 20.10, prunes them all, and so does berth.)
pub async fn prune(State(d): State<Arc<Daemon>>, RawQuery(raw): RawQuery) -> ApiResult {
    let f = Query::parse(raw.as_deref()).filters()?;
    f.validate(&["label", "label!", "all"])?;
    let mut deleted = Vec::new();
    let mut reclaimed: u64 = 0;
    let refs = d.volume_refs();
    for v in d.volumes.list() {
        if !matches(&f, &v, &refs)? || refs.contains_key(&v.name) {
            continue;
        }
        let size = d.volumes.size(&v.name).max(0) as u64;
        if remove_one(&d, &v.name).is_ok() {
            reclaimed += size;
            deleted.push(v.name.clone());
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}),
    ))
}
