//! `berth version`.

use serde_json::{json, Value};

use super::{client_version_json, go, parse_format_template, render_typed, s};
use crate::cli::{check_args, Arity, FormatOpts};
use crate::client::MAX_API_VERSION;
use crate::commands::App;
use crate::error::Result;
use crate::format::tabwriter::TabWriter;
use crate::format::time::reformat_date;
use crate::format::{JSON_FORMAT, JSON_KEY};

pub async fn version(app: &mut App, o: FormatOpts) -> Result<()> {
    check_args("version", &o.args, Arity::None)?;
    let format = o.format.unwrap_or_default();
    let template = match format.as_str() {
        "" => None,
        JSON_KEY => Some(parse_format_template(
            "version",
            JSON_FORMAT,
            64,
            "template parsing error: ",
        )?),
        f => Some(parse_format_template(
            "version",
            f,
            64,
            "template parsing error: ",
        )?),
    };
    let server = app.client.get_json("/version", &Vec::new()).await;
    let api_version = app
        .client
        .api_version()
        .await
        .unwrap_or_else(|_| MAX_API_VERSION.to_string());
    let client = client_version_json(&api_version);
    let (server, server_err) = match server {
        Ok(v) => (Some(normalize_server_version(v)), None),
        Err(e) => (None, Some(e)),
    };
    let out = match &template {
        None => default_version_text(&client, server.as_ref()),
        Some(t) => {
            let data = json!({"Client": client, "Server": server});
            let aliases = [
                ("Client.ApiVersion", "APIVersion"),
                ("Server.ApiVersion", "APIVersion"),
            ];
            let text = match render_typed(t, &data, &aliases) {
                Ok(text) => text,
                Err(e) if server_err.is_none() => return Err(e),
                Err(_) => String::new(),
            };
            TabWriter::new(20, 1, 1, ' ').format_all(&format!("{text}\n"))
        }
    };
    app.print(&out)?;
    match server_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Adds the "Engine" component docker synthesises for old daemons, and reformats the
/// engine's build time as docker does.
fn normalize_server_version(mut v: Value) -> Value {
    let mut components = v
        .get("Components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut found = false;
    for c in components.iter_mut() {
        if s(c, "Name") == "Engine" {
            found = true;
            if let Some(bt) = c
                .pointer("/Details/BuildTime")
                .and_then(Value::as_str)
                .map(reformat_date)
            {
                c["Details"]["BuildTime"] = json!(bt);
            }
        }
    }
    if !found {
        components.push(json!({
            "Name": "Engine",
            "Version": s(&v, "Version"),
            "Details": {
                "ApiVersion": s(&v, "ApiVersion"),
                "Arch": s(&v, "Arch"),
                "BuildTime": reformat_date(s(&v, "BuildTime")),
                "Experimental": v.get("Experimental").and_then(Value::as_bool).unwrap_or(false).to_string(),
                "GitCommit": s(&v, "GitCommit"),
                "GoVersion": s(&v, "GoVersion"),
                "MinAPIVersion": s(&v, "MinAPIVersion"),
                "Os": s(&v, "Os"),
            }
        }));
    }
    v["Components"] = Value::Array(components);
    v
}

/// docker's default version template, executed by hand, then aligned with
/// `tabwriter.NewWriter(out, 20, 1, 1, ' ', 0)`.
fn default_version_text(client: &Value, server: Option<&Value>) -> String {
    let mut t = String::from("Client:\n");
    t.push_str(&format!(" Version:\t{}\n", s(client, "Version")));
    t.push_str(&format!(" API version:\t{}", s(client, "ApiVersion")));
    if s(client, "ApiVersion") != s(client, "DefaultAPIVersion") {
        t.push_str(&format!(
            " (downgraded from {})",
            s(client, "DefaultAPIVersion")
        ));
    }
    t.push('\n');
    t.push_str(&format!(" Go version:\t{}\n", s(client, "GoVersion")));
    t.push_str(&format!(" Git commit:\t{}\n", s(client, "GitCommit")));
    t.push_str(&format!(" Built:\t{}\n", s(client, "BuildTime")));
    t.push_str(&format!(
        " OS/Arch:\t{}/{}\n",
        s(client, "Os"),
        s(client, "Arch")
    ));
    t.push_str(&format!(" Context:\t{}", s(client, "Context")));
    if let Some(sv) = server {
        t.push_str("\n\nServer:");
        let platform = sv
            .pointer("/Platform/Name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !platform.is_empty() {
            t.push_str(&format!(" {platform}"));
        }
        for c in sv
            .get("Components")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = s(c, "Name");
            let details = c.get("Details").cloned().unwrap_or(Value::Null);
            let d = |k: &str| go(details.get(k));
            t.push_str(&format!("\n {name}:"));
            if name == "Engine" {
                t.push_str(&format!("\n  Version:\t{}", s(c, "Version")));
                t.push_str(&format!(
                    "\n  API version:\t{} (minimum version {})",
                    d("ApiVersion"),
                    d("MinAPIVersion")
                ));
                t.push_str(&format!("\n  Go version:\t{}", d("GoVersion")));
                t.push_str(&format!("\n  Git commit:\t{}", d("GitCommit")));
                t.push_str(&format!("\n  Built:\t{}", d("BuildTime")));
                t.push_str(&format!("\n  OS/Arch:\t{}/{}", d("Os"), d("Arch")));
                t.push_str(&format!("\n  Experimental:\t{}", d("Experimental")));
            } else {
                t.push_str(&format!("\n  Version:\t{}", s(c, "Version")));
                let mut keys: Vec<&String> = details
                    .as_object()
                    .map(|m| m.keys().collect())
                    .unwrap_or_default();
                keys.sort();
                for k in keys {
                    t.push_str(&format!("\n  {k}:\t{}", d(k)));
                }
            }
        }
    }
    t.push('\n');
    TabWriter::new(20, 1, 1, ' ').format_all(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_default_layout() {
        let client = client_version_json("1.47");
        let server = normalize_server_version(json!({
            "Version": "0.1.0", "ApiVersion": "1.47", "MinAPIVersion": "1.24", "GitCommit": "abc",
            "GoVersion": "n/a", "Os": "linux", "Arch": "amd64", "BuildTime": "2024-06-03T10:04:05Z", "Experimental": false
        }));
        let text = default_version_text(&client, Some(&server));
        assert!(
            text.contains("\nServer:\n Engine:\n  Version:          0.1.0\n"),
            "{text}"
        );
        assert!(
            text.contains("  API version:      1.47 (minimum version 1.24)\n"),
            "{text}"
        );
        assert!(
            text.contains("  Built:            Mon Jun  3 10:04:05 2024\n"),
            "{text}"
        );
        assert!(text.starts_with("Client:\n Version:           "), "{text}");
    }
}
