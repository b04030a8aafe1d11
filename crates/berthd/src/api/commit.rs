//! `POST /commit` (`docker commit`) and `GET /containers/{id}/changes` (`docker diff`):
//! a container's writable layer, read by `berth_image::rwlayer`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use berth_image::rwlayer::{self, IdMapping, IdRange};
use berth_image::CommitRequest;
use berth_oci::Reference;
use serde_json::{json, Map, Value};

use super::query::Query;
use super::{json_response, ApiError, ApiResult};
use crate::containers::Record;
use crate::daemon::Daemon;

/// The ID maps of a container in its own user namespace, as the layer readers take them.
fn id_mapping(rec: &Record) -> Option<IdMapping> {
    let conv = |rs: &[crate::containers::userns::IdRange]| {
        rs.iter()
            .map(|r| IdRange {
                container: r.container,
                host: r.host,
                size: r.size,
            })
            .collect()
    };
    rec.userns.as_ref().map(|m| IdMapping {
        uids: conv(&m.uids),
        gids: conv(&m.gids),
    })
}

/// `GET /containers/{id}/changes`: `[{"Path": …, "Kind": 0|1|2}]` (modified, added,
/// deleted), parents before their children.
pub async fn changes(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult {
    let c = d.containers.get(&id)?;
    let rec = c.record();
    let lowers = d.container_lower_dirs(&rec)?;
    let upper = d.containers.dir(&rec.id).join("upper");
    let ids = id_mapping(&rec);
    let list = tokio::task::spawn_blocking(move || rwlayer::changes(&upper, &lowers, ids.as_ref()))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let out: Vec<Value> = list
        .iter()
        .map(|c| json!({"Path": c.path, "Kind": c.kind.code()}))
        .collect();
    Ok(json_response(StatusCode::OK, &out))
}

/// Go's `httputils.BoolValue`: anything but empty, `0`, `no`, `false` and `none` is true.
use super::query::go_bool as bool_value;

/// Docker's `CheckForJSON`: a body must come as `application/json`.
fn check_json(headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.is_empty() && body.is_empty() {
        return Ok(());
    }
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "Content-Type specified ({ct}) must be 'application/json'"
    )))
}

/// The body's container config, if it sets any of it (Docker decodes the body as a
/// create request and commits the container's own config when it has none).
fn body_config(body: &[u8]) -> Result<Option<Map<String, Value>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON in the request body: {e}")))?;
    match v {
        Value::Null => Ok(None),
        Value::Object(mut m) => {
            m.remove("HostConfig");
            m.remove("NetworkingConfig");
            Ok(Some(m).filter(|m| !m.is_empty()))
        }
        _ => Err(ApiError::bad_request(
            "invalid JSON in the request body: expected a container config object",
        )),
    }
}

/// The reference to tag the new image with, checked before anything is written.
fn target(repo: &str, tag: &str) -> Result<Option<Reference>, ApiError> {
    if repo.is_empty() {
        return Ok(None);
    }
    let r = Reference::parse_normalized(repo).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if tag.is_empty() {
        if r.digest().is_some() {
            return Err(ApiError::bad_request(
                "refusing to create a tag with a digest reference",
            ));
        }
        return Ok(Some(r.with_default_tag()));
    }
    r.with_tag(tag)
        .map(Some)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`.
pub async fn commit(
    State(d): State<Arc<Daemon>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    check_json(&headers, &body)?;
    // Paused unless told otherwise (API 1.13 and later, all that is served).
    let pause = q.get("pause").is_none_or(|p| p.is_empty() || bool_value(p));
    let user_config = body_config(&body)?;
    let name = q.get("container").unwrap_or("").to_string();
    let author = q.get("author").unwrap_or("").to_string();
    let comment = q.get("comment").unwrap_or("").to_string();
    let changes = q.get_all("changes");
    let target = target(q.get("repo").unwrap_or(""), q.get("tag").unwrap_or(""))?;

    let c = d.containers.get(&name)?;
    // Start, stop and remove wait for the commit: the layer stays while it is read.
    let _op = c.op.lock().await;
    let c = d.containers.get(&c.id)?;
    let rec = c.record();

    let mut config = user_config.unwrap_or_else(|| rec.config.clone());
    berth_image::apply_changes(&mut config, &changes)?;
    berth_image::merge_commit_config(&mut config, &rec.config);
    let created_by = rec
        .config
        .get("Cmd")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();

    // Docker pauses a running container for the commit and ignores a failure to.
    let mut paused_here = false;
    if pause && rec.state.status == "running" && !rec.state.paused {
        match d.containers.pause(&c).await {
            Ok(r) => {
                d.container_event(&r, "pause", &[]);
                paused_here = true;
            }
            Err(e) => {
                tracing::warn!(container = %rec.id, error = %e, "could not pause the container for its commit")
            }
        }
    }
    let result = {
        let d = d.clone();
        let rec = rec.clone();
        let target = target.clone();
        let (author, comment) = (author.clone(), comment.clone());
        tokio::task::spawn_blocking(move || {
            let upper = d.containers.dir(&rec.id).join("upper");
            let ids = id_mapping(&rec);
            d.images.commit(
                CommitRequest {
                    parent: Some(&rec.image_id),
                    config,
                    container_config: rec.config.clone(),
                    container_id: &rec.id,
                    author: &author,
                    comment: &comment,
                    created_by,
                    docker_version: env!("CARGO_PKG_VERSION"),
                    tag: target.as_ref(),
                },
                |w| {
                    rwlayer::write_layer_tar(&upper, w, ids.as_ref())?;
                    Ok(())
                },
            )
        })
        .await
    };
    // Docker logs the commit before its deferred unpause.
    let result = result
        .map_err(ApiError::from)
        .and_then(|r| r.map_err(ApiError::from));
    if let Ok(id) = &result {
        d.container_event(
            &c.record(),
            "commit",
            &[
                ("comment", comment),
                ("imageID", id.to_string()),
                (
                    "imageRef",
                    target.map(|t| t.familiar_string()).unwrap_or_default(),
                ),
            ],
        );
    }
    if paused_here {
        match d.containers.unpause(&c).await {
            Ok(r) => d.container_event(&r, "unpause", &[]),
            Err(e) => {
                tracing::warn!(container = %rec.id, error = %e, "could not unpause the container after its commit")
            }
        }
    }
    let id = result?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"Id": id.to_string()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_values_as_go_reads_them() {
        for f in ["", "0", "no", "false", "None", " FALSE "] {
            assert!(!bool_value(f), "{f:?}");
        }
        for t in ["1", "true", "yes", "anything"] {
            assert!(bool_value(t), "{t:?}");
        }
    }

    #[test]
    fn a_body_without_config_commits_the_containers() {
        assert!(body_config(b"").unwrap().is_none());
        assert!(body_config(b"null\n").unwrap().is_none());
        assert!(body_config(b"{}").unwrap().is_none());
        assert!(body_config(br#"{"HostConfig":{}}"#).unwrap().is_none());
        let c = body_config(br#"{"Cmd":["x"]}"#).unwrap().unwrap();
        assert_eq!(c["Cmd"], json!(["x"]));
        assert!(body_config(b"[1]").is_err());
        assert!(body_config(b"{").is_err());
    }

    #[test]
    fn targets_are_checked_before_the_commit() {
        assert!(target("", "x").unwrap().is_none());
        assert_eq!(
            target("busybox", "").unwrap().unwrap().familiar_string(),
            "busybox:latest"
        );
        assert_eq!(
            target("a/b", "v1").unwrap().unwrap().familiar_string(),
            "a/b:v1"
        );
        assert!(target("Bad", "").is_err());
        assert!(target("ok", "bad tag").is_err());
    }
}
