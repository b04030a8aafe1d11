//! `berth logs`: the container's log, demultiplexed to stdout and stderr.

use http_body_util::BodyExt;
use serde_json::Value;

use super::stream::StdCopy;
use crate::cli::{check_args, Arity, LogsOpts};
use crate::client::Query;
use crate::commands::App;
use crate::error::{CliError, Result};
use crate::timestamp::get_timestamp;

/// docker's `ContainerLogs` query.
fn logs_query(o: &LogsOpts, now: chrono::DateTime<chrono::Utc>) -> Result<Query<'static>> {
    let mut query: Query = vec![("stdout", "1".into()), ("stderr", "1".into())];
    if let Some(since) = o.since.as_ref().filter(|s| !s.is_empty()) {
        let ts = get_timestamp(since, now)
            .map_err(|e| CliError::other(format!("invalid value for \"since\": {e}")))?;
        query.push(("since", ts));
    }
    if let Some(until) = o.until.as_ref().filter(|s| !s.is_empty()) {
        let ts = get_timestamp(until, now)
            .map_err(|e| CliError::other(format!("invalid value for \"until\": {e}")))?;
        query.push(("until", ts));
    }
    if o.timestamps {
        query.push(("timestamps", "1".into()));
    }
    if o.details {
        query.push(("details", "1".into()));
    }
    if o.follow {
        query.push(("follow", "1".into()));
    }
    query.push(("tail", o.tail.clone()));
    Ok(query)
}

/// docker dies of SIGPIPE when its output is closed (exit 141 in a shell); other
/// output errors are reported.
fn output_error(msg: String) -> CliError {
    if msg.ends_with(": broken pipe") {
        CliError::status(128 + 13, "")
    } else {
        CliError::Other(msg)
    }
}

pub async fn logs(app: &mut App, o: LogsOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Exact(1))?;
    let info = app
        .client
        .get_json(&format!("/containers/{}/json", o.args[0]), &Vec::new())
        .await?;
    let id = info.get("Id").and_then(Value::as_str).unwrap_or("");
    let tty = info
        .get("Config")
        .and_then(|c| c.get("Tty"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let query = logs_query(&o, chrono::Utc::now())?;
    let resp = app
        .client
        .get(&format!("/containers/{id}/logs"), &query)
        .await?;
    let mut body = resp.into_body();
    let mut copy = StdCopy::new(std::io::stdout(), std::io::stderr());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::other(format!("error reading response: {e}")))?;
        let Some(chunk) = frame.data_ref() else {
            continue;
        };
        if tty {
            use std::io::Write;
            copy.out
                .write_all(chunk)
                .and_then(|()| copy.out.flush())
                .map_err(|e| output_error(super::stream::write_error("stdout", &e)))?;
        } else {
            copy.write(chunk).map_err(output_error)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::encode_query;

    #[test]
    fn query_like_docker() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:10:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let o = LogsOpts {
            details: false,
            follow: true,
            since: Some("10m".into()),
            tail: "5".into(),
            timestamps: true,
            until: None,
            args: vec!["x".into()],
        };
        assert_eq!(
            encode_query(&logs_query(&o, now).unwrap()),
            "?follow=1&since=1767225600&stderr=1&stdout=1&tail=5&timestamps=1"
        );
        let bad = LogsOpts {
            since: Some("nonsense".into()),
            ..o
        };
        assert_eq!(
            logs_query(&bad, now).unwrap_err().to_string(),
            "invalid value for \"since\": failed to parse value as time or duration: \"nonsense\""
        );
    }
}
