//! `berth events` / `berth system events`.

use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::{go, parse_format_template, s};
use crate::cli::{check_args, Arity, EventsOpts};
use crate::client::Query;
use crate::commands::parse_filters;
use crate::commands::App;
use crate::error::{CliError, Result};
use crate::format::jsonstream::JsonSplitter;
use crate::format::time::rfc3339_nano_fixed;
use crate::format::value::{from_json, HIDDEN_JSON};
use crate::format::{JSON_FORMAT, JSON_KEY};
use crate::timestamp::get_timestamp;

/// Go field names of `events.Message` for the JSON keys the API uses.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("status", "Status"),
    ("id", "ID"),
    ("from", "From"),
    ("Type", "Type"),
    ("Action", "Action"),
    ("Actor", "Actor"),
    ("scope", "Scope"),
    ("time", "Time"),
    ("timeNano", "TimeNano"),
];

/// An event as docker's typed `events.Message`: Go field names, zero values for
/// missing fields, and the API's JSON (maps sorted) for `{{json .}}`.
fn event_value(ev: &Value) -> gtmpl::Value {
    let mut typed = match from_json(ev) {
        gtmpl::Value::Object(m) => m,
        _ => Default::default(),
    };
    let mut out = std::collections::HashMap::new();
    for (json_key, go_name) in EVENT_FIELDS {
        let zero = match *go_name {
            "Time" | "TimeNano" => gtmpl::Value::from(0),
            "Actor" => gtmpl::Value::Object(Default::default()),
            _ => gtmpl::Value::String(String::new()),
        };
        let mut v = typed.remove(*json_key).unwrap_or(zero);
        if let ("Actor", gtmpl::Value::Object(actor)) = (*go_name, &mut v) {
            actor
                .entry("ID".into())
                .or_insert_with(|| gtmpl::Value::String(String::new()));
            actor
                .entry("Attributes".into())
                .or_insert_with(|| gtmpl::Value::Map(Default::default()));
        }
        out.insert(go_name.to_string(), v);
    }
    if let Some(text) = typed.remove(HIDDEN_JSON) {
        out.insert(HIDDEN_JSON.into(), text);
    }
    gtmpl::Value::Object(out)
}

/// docker's default event line: time, type, action, actor and sorted attributes.
fn event_line(ev: &Value) -> String {
    let mut line = String::new();
    let nano = ev.get("timeNano").and_then(Value::as_i64).unwrap_or(0);
    let secs = ev.get("time").and_then(Value::as_i64).unwrap_or(0);
    if nano != 0 {
        line.push_str(&format!("{} ", rfc3339_nano_fixed(nano)));
    } else if secs != 0 {
        line.push_str(&format!("{} ", rfc3339_nano_fixed(secs * 1_000_000_000)));
    }
    let actor = ev.get("Actor").cloned().unwrap_or(Value::Null);
    line.push_str(&format!(
        "{} {} {}",
        s(ev, "Type"),
        s(ev, "Action"),
        s(&actor, "ID")
    ));
    if let Some(attrs) = actor
        .get("Attributes")
        .and_then(Value::as_object)
        .filter(|a| !a.is_empty())
    {
        let mut keys: Vec<&String> = attrs.keys().collect();
        keys.sort();
        let parts: Vec<String> = keys
            .iter()
            .map(|k| format!("{k}={}", go(attrs.get(*k))))
            .collect();
        line.push_str(&format!(" ({})", parts.join(", ")));
    }
    line.push('\n');
    line
}

pub async fn events(app: &mut App, o: EventsOpts, path: &str) -> Result<()> {
    let filters = parse_filters(path, &o.filter, "-f, --filter")?;
    check_args(path, &o.args, Arity::None)?;
    let template = match o.format.as_deref().unwrap_or("") {
        "" => None,
        f => {
            let f = if f == JSON_KEY { JSON_FORMAT } else { f };
            let t = parse_format_template("", f, 64, "Error parsing format: ")?
                .with_type_name("*events.Message");
            // Like docker, check the template against an empty event up front.
            t.render(&event_value(&json!({})))
                .map_err(|e| CliError::status(64, format!("Error parsing format: {e}")))?;
            Some(t)
        }
    };
    let now = chrono::Utc::now();
    let mut query: Query = Vec::new();
    if let Some(since) = o.since.filter(|v| !v.is_empty()) {
        query.push((
            "since",
            get_timestamp(&since, now).map_err(CliError::Other)?,
        ));
    }
    if let Some(until) = o.until.filter(|v| !v.is_empty()) {
        query.push((
            "until",
            get_timestamp(&until, now).map_err(CliError::Other)?,
        ));
    }
    if let Some(f) = filters.to_query() {
        query.push(("filters", f));
    }
    let resp = app.client.get("/events", &query).await?;
    let mut body = resp.into_body();
    let mut splitter = JsonSplitter::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::other(format!("error reading response: {e}")))?;
        let Some(chunk) = frame.data_ref() else {
            continue;
        };
        for ev in splitter.push(chunk)? {
            match &template {
                None => app.print(&event_line(&ev))?,
                Some(t) => {
                    let result = t.render(&event_value(&ev));
                    let text = result.as_deref().unwrap_or("");
                    app.print(&format!("{text}\n"))?;
                    result.map_err(|e| CliError::other(format!("template: {e}")))?;
                }
            }
        }
    }
    splitter.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Template;

    #[test]
    fn event_lines() {
        let ev = json!({"Type": "image", "Action": "tag", "Actor": {"ID": "sha256:abc", "Attributes": {"name": "busybox:latest", "a": "1"}},
                        "scope": "local", "time": 1_700_000_000, "timeNano": 1_700_000_000_123_456_789i64});
        let line = event_line(&ev);
        assert!(
            line.ends_with(" image tag sha256:abc (a=1, name=busybox:latest)\n"),
            "{line}"
        );
        let t = Template::parse(
            "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Scope}} {{.Status}}|{{json .Actor}}",
        )
        .unwrap();
        assert_eq!(
            t.render(&event_value(&ev)).unwrap(),
            r#"image tag sha256:abc local |{"ID":"sha256:abc","Attributes":{"a":"1","name":"busybox:latest"}}"#
        );
        let t = Template::parse("{{json .}}").unwrap();
        // Attributes is a Go map: keys sorted.
        let expected = ev.to_string().replace(
            r#"{"name":"busybox:latest","a":"1"}"#,
            r#"{"a":"1","name":"busybox:latest"}"#,
        );
        assert_eq!(t.render(&event_value(&ev)).unwrap(), expected);
    }
}
