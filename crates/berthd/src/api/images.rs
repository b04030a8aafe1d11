//! `/images/*`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use berth_errors::ErrorKind;
use berth_image::{DeleteItem, Image};
use berth_oci::Reference;
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use tokio_util::io::{ReaderStream, StreamReader, SyncIoBridge};

use super::query::{glob_match, Filters, Query};
use super::{json_lines, json_response, ApiError, ApiResult, ApiVersion};
use crate::daemon::Daemon;

/// A blocking reader over a request body, for the tar parsers (run on a blocking thread).
fn body_reader(body: Body) -> SyncIoBridge<impl tokio::io::AsyncRead + Unpin> {
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    SyncIoBridge::new(StreamReader::new(stream))
}

/// Docker's `FamiliarMatch`: the pattern against `name:tag`, then against `name`.
fn reference_matches(pattern: &str, r: &Reference) -> bool {
    glob_match(pattern, &r.familiar_string()) || glob_match(pattern, &r.familiar_name())
}

/// An `ImageSummary` (`GET /images/json`). `refs` restricts the listed references (the
/// reference filter narrows RepoTags, as Docker's does).
pub fn image_summary(
    d: &Daemon,
    img: &Image,
    refs: Option<Vec<Reference>>,
    v: ApiVersion,
) -> Value {
    let refs = refs.unwrap_or_else(|| d.images.references(&img.id));
    let tags: Vec<String> = refs
        .iter()
        .filter(|r| r.digest().is_none())
        .map(|r| r.familiar_string())
        .collect();
    let digests: Vec<String> = refs
        .iter()
        .filter(|r| r.digest().is_some())
        .map(|r| r.familiar_string())
        .collect();
    let labels = img.labels();
    let mut s = json!({
        "Containers": -1,
        "Created": img.created_unix(),
        "Id": img.id.to_string(),
        "Labels": if labels.is_empty() { Value::Null } else { Value::Object(labels) },
        "ParentId": img.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        "RepoDigests": digests,
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": img.size,
    });
    if !v.at_least(1, 44) {
        s["VirtualSize"] = json!(img.size);
    }
    s
}

pub async fn list(
    State(d): State<Arc<Daemon>>,
    Extension(v): Extension<ApiVersion>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let all = q.bool("all")?;
    let mut filters = q.filters()?;
    // API < 1.25 had a `filter` parameter for the reference.
    if let Some(f) = q.get("filter").filter(|f| !f.is_empty()) {
        filters = Filters::parse(&json!({"reference": [f]}).to_string())?;
    }
    filters.validate(&["before", "dangling", "label", "reference", "since", "until"])?;
    let dd = d.clone();
    let out = tokio::task::spawn_blocking(move || list_images(&dd, all, &filters, v)).await??;
    Ok(json_response(StatusCode::OK, &out))
}

fn list_images(d: &Daemon, all: bool, f: &Filters, v: ApiVersion) -> Result<Vec<Value>, ApiError> {
    let dangling = f.bool_value("dangling")?;
    let created_of =
        |name: &str| -> Result<i64, ApiError> { Ok(d.images.lookup(name)?.created_unix()) };
    let before = f
        .get("before")
        .iter()
        .map(|n| created_of(n))
        .collect::<Result<Vec<_>, _>>()?;
    let since = f
        .get("since")
        .iter()
        .map(|n| created_of(n))
        .collect::<Result<Vec<_>, _>>()?;
    let mut images = d.images.list();
    images.sort_by(|a, b| {
        b.created_unix()
            .cmp(&a.created_unix())
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut out = Vec::new();
    for img in &images {
        let created = img.created_unix();
        if before.iter().any(|b| created >= *b) || since.iter().any(|s| created <= *s) {
            continue;
        }
        if !f.match_labels("label", &img.labels()) {
            continue;
        }
        let mut refs = d.images.references(&img.id);
        if f.contains("reference") {
            refs.retain(|r| f.get("reference").iter().any(|p| reference_matches(p, r)));
        }
        if refs.is_empty() {
            let has_children = !d.images.children(&img.id).is_empty();
            // Untagged parents of other images are hidden unless `all`, as in Docker.
            if (!all && has_children) || dangling == Some(false) || f.contains("reference") {
                continue;
            }
        } else if dangling == Some(true) && refs.iter().any(|r| r.tag().is_some()) {
            continue;
        }
        let mut s = image_summary(d, img, Some(refs), v);
        s["Containers"] = json!(-1);
        out.push(s);
    }
    Ok(out)
}

pub async fn load(State(d): State<Arc<Daemon>>, RawQuery(raw): RawQuery, body: Body) -> ApiResult {
    let _quiet = Query::parse(raw.as_deref()).bool("quiet")?;
    let reader = body_reader(body);
    let dd = d.clone();
    let (loaded, notes) = tokio::task::spawn_blocking(move || dd.images.load(reader)).await??;
    let mut lines: Vec<Value> = notes
        .iter()
        .map(|n| json!({"stream": format!("{n}\n")}))
        .collect();
    for img in loaded {
        if img.tags.is_empty() {
            lines.push(json!({"stream": format!("Loaded image ID: {}\n", img.id)}));
        }
        for t in img.tags {
            lines.push(json!({"stream": format!("Loaded image: {}\n", t.familiar_string())}));
        }
    }
    Ok(json_lines(&lines))
}

/// Streams a `docker save` archive of `names` to the client.
fn save_response(d: Arc<Daemon>, names: Vec<String>) -> ApiResult {
    let images = d.images.resolve_for_save(&names)?;
    let (writer, reader) = tokio::io::duplex(256 * 1024);
    tokio::task::spawn_blocking(move || {
        let w = SyncIoBridge::new(writer);
        if let Err(e) = d.images.save(&images, w) {
            // The status line is gone already: a truncated tar is how Docker fails too.
            tracing::warn!(error = %e, "image save aborted");
        }
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(ReaderStream::new(reader)),
    )
        .into_response())
}

pub async fn save_many(State(d): State<Arc<Daemon>>, RawQuery(raw): RawQuery) -> ApiResult {
    let names = Query::parse(raw.as_deref()).get_all("names");
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    let dd = d.clone();
    tokio::task::spawn_blocking(move || save_response(dd, names)).await?
}

/// `POST /images/create`: `fromSrc=-` imports the body; pulling comes with the registry client.
pub async fn create(
    State(d): State<Arc<Daemon>>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    if let Some(img) = q.get("fromImage").filter(|s| !s.is_empty()) {
        return Err(ApiError::new(
            ErrorKind::NotImplemented,
            format!(
                "pull of {img} failed: pulling from registries is not implemented by berth yet"
            ),
        ));
    }
    let src = q.get("fromSrc").unwrap_or("");
    if src != "-" {
        return Err(ApiError::bad_request(if src.is_empty() {
            "either fromImage or fromSrc is required".to_string()
        } else {
            format!("importing from {src:?}: only fromSrc=- (the request body) is supported")
        }));
    }
    let repo = q.get("repo").unwrap_or("");
    let tag = q.get("tag").unwrap_or("");
    let target = if repo.is_empty() {
        None
    } else {
        let r = Reference::parse_normalized(repo).map_err(ApiError::from_kind_ref)?;
        Some(if tag.is_empty() {
            r.with_default_tag()
        } else {
            r.with_tag(tag).map_err(ApiError::from_kind_ref)?
        })
    };
    let changes = q.get_all("changes");
    let message = q.get("message").unwrap_or("").to_string();
    let reader = body_reader(body);
    let dd = d.clone();
    let id = tokio::task::spawn_blocking(move || {
        dd.images
            .import(reader, "-", target.as_ref(), &changes, &message)
    })
    .await??;
    Ok(json_lines(&[json!({"status": id.to_string()})]))
}

impl ApiError {
    fn from_kind_ref(e: berth_oci::ReferenceError) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

pub async fn prune(State(d): State<Arc<Daemon>>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let f = q.filters()?;
    f.validate(&["dangling", "label", "label!", "until"])?;
    let all = f.bool_value("dangling")? == Some(false);
    let until = match f.get("until").first() {
        Some(u) => Some(super::query::parse_until(u)?),
        None => None,
    };
    let dd = d.clone();
    let (records, reclaimed) = tokio::task::spawn_blocking(move || {
        let matches = |img: &Image| {
            until.is_none_or(|u| img.created_unix() < u)
                && f.match_labels("label", &img.labels())
                && !f.match_any_label("label!", &img.labels())
        };
        dd.images.prune(all, &matches, &|id| dd.image_users(id))
    })
    .await??;
    let items: Vec<Value> = records.iter().map(delete_item_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"ImagesDeleted": if items.is_empty() { Value::Null } else { json!(items) }, "SpaceReclaimed": reclaimed}),
    ))
}

fn delete_item_json(i: &DeleteItem) -> Value {
    match i {
        DeleteItem::Untagged(s) => json!({"Untagged": s}),
        DeleteItem::Deleted(s) => json!({"Deleted": s}),
    }
}

/// Splits `/images/{name}/{action}` where the name may itself contain slashes.
fn split_action(rest: &str) -> (&str, &str) {
    match rest.rsplit_once('/') {
        Some((name, action)) => (name, action),
        None => (rest, ""),
    }
}

pub async fn get_dispatch(State(d): State<Arc<Daemon>>, Path(rest): Path<String>) -> ApiResult {
    let (name, action) = split_action(&rest);
    let name = name.to_string();
    let dd = d.clone();
    match action {
        "json" => tokio::task::spawn_blocking(move || inspect(&dd, &name)).await?,
        "history" => tokio::task::spawn_blocking(move || history(&dd, &name)).await?,
        "get" => tokio::task::spawn_blocking(move || save_response(dd, vec![name])).await?,
        _ => Err(ApiError::not_found("page not found")),
    }
}

fn inspect(d: &Daemon, name: &str) -> ApiResult {
    let img = d.images.lookup(name)?;
    let refs = d.images.references(&img.id);
    let mut config = berth_image::default_container_config();
    if let Some(c) = img.container_config() {
        for (k, val) in c {
            config.insert(k.clone(), val.clone());
        }
    }
    let dirs = d.images.layer_dirs(&img.id)?;
    let graph = match dirs.split_first() {
        Some((top, lower)) => {
            let mut data = serde_json::Map::new();
            if !lower.is_empty() {
                let l: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
                data.insert("LowerDir".into(), json!(l.join(":")));
            }
            let top_dir = top.parent().unwrap_or(top);
            data.insert(
                "MergedDir".into(),
                json!(top_dir.join("merged").display().to_string()),
            );
            data.insert("UpperDir".into(), json!(top.display().to_string()));
            data.insert(
                "WorkDir".into(),
                json!(top_dir.join("work").display().to_string()),
            );
            json!({"Data": data, "Name": "overlay2"})
        }
        None => json!({"Data": null, "Name": "overlay2"}),
    };
    let cfg = &img.config;
    let s = |k: &str| cfg.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    // Docker shows the last history entry's comment when the config has none (commit).
    let comment = Some(s("comment"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| {
            cfg.get("history")
                .and_then(Value::as_array)
                .and_then(|h| h.last())
                .and_then(|h| h.get("comment"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        });
    let container_config = berth_image::canonical_config(
        &cfg.get("container_config")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    );
    // Docker 20.10's keys and order: `Container`, `ContainerConfig` and `VirtualSize`
    // are kept at every API version (newer Dockers dropped them; clients still read them).
    let mut out = serde_json::Map::new();
    out.insert("Id".into(), json!(img.id.to_string()));
    out.insert(
        "RepoTags".into(),
        json!(refs
            .iter()
            .filter(|r| r.digest().is_none())
            .map(|r| r.familiar_string())
            .collect::<Vec<_>>()),
    );
    out.insert(
        "RepoDigests".into(),
        json!(refs
            .iter()
            .filter(|r| r.digest().is_some())
            .map(|r| r.familiar_string())
            .collect::<Vec<_>>()),
    );
    out.insert(
        "Parent".into(),
        json!(img
            .parent
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default()),
    );
    out.insert("Comment".into(), json!(comment));
    out.insert(
        "Created".into(),
        json!(cfg
            .get("created")
            .and_then(Value::as_str)
            .unwrap_or("0001-01-01T00:00:00Z")),
    );
    out.insert("Container".into(), json!(s("container")));
    out.insert("ContainerConfig".into(), Value::Object(container_config));
    out.insert("DockerVersion".into(), json!(s("docker_version")));
    out.insert("Author".into(), json!(s("author")));
    out.insert("Config".into(), Value::Object(config));
    out.insert("Architecture".into(), json!(s("architecture")));
    if let Some(var) = cfg.get("variant").and_then(Value::as_str) {
        out.insert("Variant".into(), json!(var));
    }
    out.insert("Os".into(), json!(s("os")));
    if let Some(osv) = cfg.get("os.version").and_then(Value::as_str) {
        out.insert("OsVersion".into(), json!(osv));
    }
    out.insert("Size".into(), json!(img.size));
    out.insert("VirtualSize".into(), json!(img.size));
    out.insert("GraphDriver".into(), graph);
    out.insert("RootFS".into(), json!({"Type": "layers", "Layers": img.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()}));
    out.insert("Metadata".into(), json!({"LastTagTime": img.last_tag_time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)).unwrap_or_else(|| "0001-01-01T00:00:00Z".into())}));
    Ok(json_response(StatusCode::OK, &out))
}

fn history(d: &Daemon, name: &str) -> ApiResult {
    let items = d.images.history(name)?;
    let out: Vec<Value> = items
        .into_iter()
        .map(|h| {
            json!({
                "Id": h.id, "Created": h.created, "CreatedBy": h.created_by,
                "Tags": if h.tags.is_empty() { Value::Null } else { json!(h.tags) },
                "Size": h.size, "Comment": h.comment,
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &out))
}

pub async fn post_dispatch(
    State(d): State<Arc<Daemon>>,
    Path(rest): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let (name, action) = split_action(&rest);
    let q = Query::parse(raw.as_deref());
    match action {
        "tag" => {
            let repo = q.get("repo").unwrap_or("");
            let tag = q.get("tag").unwrap_or("");
            if repo.is_empty() {
                return Err(ApiError::bad_request("repository name (repo) is required"));
            }
            let r = Reference::parse_normalized(repo).map_err(ApiError::from_kind_ref)?;
            if r.digest().is_some() {
                return Err(ApiError::bad_request(
                    "refusing to create a tag with a digest reference",
                ));
            }
            let target = if tag.is_empty() {
                r.with_default_tag()
            } else {
                r.with_tag(tag).map_err(ApiError::from_kind_ref)?
            };
            let (dd, name) = (d.clone(), name.to_string());
            tokio::task::spawn_blocking(move || dd.images.tag(&name, &target)).await??;
            Ok(StatusCode::CREATED.into_response())
        }
        "push" => Err(ApiError::new(
            ErrorKind::NotImplemented,
            "pushing to registries is not implemented by berth yet",
        )),
        _ => Err(ApiError::not_found("page not found")),
    }
}

pub async fn delete(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let force = q.bool("force")?;
    let noprune = q.bool("noprune")?;
    let dd = d.clone();
    let items = tokio::task::spawn_blocking(move || {
        dd.images
            .delete(&name, force, !noprune, &|id| dd.image_users(id))
    })
    .await??;
    let out: Vec<Value> = items.iter().map(delete_item_json).collect();
    Ok(json_response(StatusCode::OK, &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_slashes_split_at_the_last() {
        assert_eq!(
            split_action("localhost:5000/a/b/json"),
            ("localhost:5000/a/b", "json")
        );
        assert_eq!(split_action("busybox"), ("busybox", ""));
    }
}
