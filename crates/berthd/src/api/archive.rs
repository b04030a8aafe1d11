//! `docker cp` and `docker export`: `HEAD`/`GET`/`PUT /containers/{id}/archive` and
//! `GET /containers/{id}/export`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::query::Query;
use super::{ApiError, ApiResult};
use crate::daemon::Daemon;

const STAT_HEADER: &str = "x-docker-container-path-stat";

/// The `path` parameter, required as Docker's `ArchiveFormValues` requires it.
fn archive_path(q: &Query) -> Result<String, ApiError> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::bad_request("bad parameter: path cannot be empty")),
    }
}

/// Docker's `httputils.BoolValue`: anything but empty, `0`, `no`, `false`, `none`.
fn bool_value(q: &Query, key: &str) -> bool {
    super::query::go_bool(q.get(key).unwrap_or(""))
}

fn with_stat(mut resp: Response, stat_json: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(&crate::archive::stat_header(stat_json)) {
        resp.headers_mut().insert(STAT_HEADER, v);
    }
    resp
}

pub async fn head(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let path = archive_path(&Query::parse(raw.as_deref()))?;
    let c = d.containers.get(&id)?;
    let stat = d.container_stat_path(&c, &id, &path).await?;
    Ok(with_stat(StatusCode::OK.into_response(), &stat))
}

pub async fn get(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let path = archive_path(&Query::parse(raw.as_deref()))?;
    let c = d.containers.get(&id)?;
    let (stat, body) = d.container_archive_path(c, &id, &path).await?;
    let resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-tar")],
        body,
    )
        .into_response();
    Ok(with_stat(resp, &stat))
}

pub async fn put(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let found = archive_path(&q).and_then(|p| Ok((p, d.containers.get(&id)?)));
    let (path, c) = match found {
        Ok(x) => x,
        Err(e) => {
            crate::archive::drain(body).await;
            return Err(e);
        }
    };
    let no_overwrite = bool_value(&q, "noOverwriteDirNonDir");
    let copy_uid_gid = bool_value(&q, "copyUIDGID");
    d.container_extract_to_dir(&c, &id, &path, copy_uid_gid, no_overwrite, body)
        .await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn export(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult {
    let c = d.containers.get(&id)?;
    let body = d.container_export(c, &id).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-tar")],
        body,
    )
        .into_response())
}
