//! `/containers/{id}/…` operations on existing containers: pause, unpause, update, top,
//! rename, restart, and `/containers/prune`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{json, Value};

use super::query::Query;
use super::{json_response, ApiError, ApiResult};
use crate::daemon::Daemon;

pub async fn pause(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult {
    let c = d.containers.get(&id)?;
    let _op = c.op.lock().await;
    let rec = d.containers.pause(&c).await?;
    d.container_event(&rec, "pause", &[]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn unpause(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult {
    let c = d.containers.get(&id)?;
    let _op = c.op.lock().await;
    let rec = d.containers.unpause(&c).await?;
    d.container_event(&rec, "unpause", &[]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn update(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let c = d.containers.get(&id)?;
    let _op = c.op.lock().await;
    let rec = d.containers.update_resources(&c, &body).await?;
    d.container_event(&rec, "update", &[]);
    Ok(json_response(StatusCode::OK, &json!({"Warnings": []})))
}

/// Docker runs the host's `ps` with the caller's options and keeps the rows whose PID
/// belongs to the container.
pub async fn top(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let c = d.containers.get(&id)?;
    let q = Query::parse(raw.as_deref());
    let args: Vec<String> = q
        .get("ps_args")
        .filter(|a| !a.is_empty())
        .unwrap_or("-ef")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pids = d.containers.pids(&c)?;
    let out = tokio::process::Command::new("ps")
        .args(&args)
        .output()
        .await
        .map_err(|e| ApiError::internal(format!("running ps: {e}")))?;
    if !out.status.success() {
        return Err(ApiError::internal(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (titles, processes) = parse_ps(&text, &pids).map_err(ApiError::internal)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"Titles": titles, "Processes": processes}),
    ))
}

/// Splits `ps` output into titles and rows, the last column taking the rest of the
/// line (commands contain spaces), and keeps rows of `pids` in their order.
fn parse_ps(text: &str, pids: &[i32]) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut lines = text.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or("Couldn't find PID field in ps output")?;
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i32>() else {
            continue;
        };
        let Some(order) = pids.iter().position(|p| *p == pid) else {
            continue;
        };
        let last = titles.len() - 1;
        let mut row: Vec<String> = fields[..last].iter().map(|s| s.to_string()).collect();
        row.push(fields[last..].join(" "));
        rows.push((order, row));
    }
    rows.sort_by_key(|(o, _)| *o);
    Ok((titles, rows.into_iter().map(|(_, r)| r).collect()))
}

pub async fn rename(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let c = d.containers.get(&id)?;
    let old = c.record().name;
    let rec = d.containers.rename(&c, q.get("name").unwrap_or(""))?;
    d.container_event(&rec, "rename", &[("oldName", format!("/{old}"))]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn restart(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let t = q.stop_timeout()?;
    let c = d.containers.get(&id)?;
    d.restart_container(&c, t).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn prune(State(d): State<Arc<Daemon>>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let f = q.filters()?;
    f.validate(&["label", "label!", "until"])?;
    let until = f
        .get("until")
        .first()
        .map(|u| super::query::parse_until(u))
        .transpose()?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for c in d.containers.all() {
        let rec = c.record();
        if rec.state.status == "running" {
            continue;
        }
        let labels = rec
            .config
            .get("Labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if !f.match_labels("label", &labels) || f.match_any_label("label!", &labels) {
            continue;
        }
        if let Some(until) = until {
            let created = chrono::DateTime::parse_from_rfc3339(&rec.created)
                .map(|t| t.timestamp())
                .unwrap_or(0);
            if created >= until {
                continue;
            }
        }
        let size = d.containers.size_rw(&rec.id);
        if d.remove_container(&c, false, false).await.is_ok() {
            deleted.push(rec.id.clone());
            reclaimed += size;
        }
    }
    d.events.publish(
        "container",
        "prune",
        "",
        [("reclaimed".to_string(), reclaimed.to_string())]
            .into_iter()
            .collect(),
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({"ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": reclaimed}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_filtered_and_the_command_keeps_its_spaces() {
        let text = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init\nroot 42 1 0 10:01 ? 00:00:00 sh -c sleep 1\nroot 43 42 0 10:01 ? 00:00:00 sleep 1\n";
        let (titles, rows) = parse_ps(text, &[42, 43]).unwrap();
        assert_eq!(titles.len(), 8);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][7], "sh -c sleep 1");
        assert!(parse_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
