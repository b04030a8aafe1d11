//! `berth ps` / `berth container ls`: docker's `ContainerContext` rows.

use berth_oci::Reference;
use serde_json::{json, Map, Value};

use crate::cli::{check_args, Arity, PsOpts};
use crate::client::Query;
use crate::commands::{parse_filters, App};
use crate::error::{CliError, Result};
use crate::format::template::HIDDEN_LABELS;
use crate::format::time::go_time_string;
use crate::format::units::{human_since, human_size_with_precision};
use crate::format::value::from_json;
use crate::format::{ellipsis, go_quote, render_rows, truncate_id, Template, TABLE_KEY};

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
const RAW_FORMAT: &str = "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n";

/// Go type named in template errors for container rows.
pub const CONTAINER_CONTEXT: &str = "*formatter.ContainerContext";

pub const CONTAINER_HEADER: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Names", "NAMES"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Networks", "NETWORKS"),
    ("Platform", "PLATFORM"),
];

/// docker's `NewContainerFormat`.
fn container_format(source: &str, quiet: bool, size: bool) -> String {
    match source {
        TABLE_KEY | "" => {
            if quiet {
                "{{.ID}}".into()
            } else if size {
                format!("{DEFAULT_TABLE}\\t{{{{.Size}}}}")
            } else {
                DEFAULT_TABLE.into()
            }
        }
        "raw" => {
            if quiet {
                "container_id: {{.ID}}".into()
            } else if size {
                format!("{RAW_FORMAT}size: {{{{.Size}}}}\\n")
            } else {
                RAW_FORMAT.into()
            }
        }
        _ if quiet => "{{.ID}}".into(),
        other => other.into(),
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `ContainerContext.Image`.
fn image_column(c: &Value, trunc: bool) -> String {
    let image = str_field(c, "Image");
    if image.is_empty() {
        return "<no image>".into();
    }
    if trunc {
        let id = truncate_id(str_field(c, "ImageID"));
        if id == truncate_id(image) {
            return id;
        }
        if let Ok(r) = Reference::parse_normalized(image) {
            return match r.tag() {
                Some(tag) => format!("{}:{tag}", r.familiar_name()),
                None => r.familiar_name(),
            };
        }
    }
    image.to_string()
}

/// `ContainerContext.Names`: without the leading slash; truncated output keeps only
/// the first name that is not a legacy link (`/other/alias`).
fn names_column(c: &Value, trunc: bool) -> String {
    let names: Vec<String> = c
        .get("Names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.get(1..).unwrap_or("").to_string())
        .collect();
    if trunc {
        if let Some(first) = names.iter().find(|n| !n.contains('/')) {
            return first.clone();
        }
    }
    names.join(",")
}

/// docker's `DisplayablePorts`: consecutive ports grouped into ranges.
fn ports_column(c: &Value) -> String {
    struct Port {
        ip: String,
        private: u16,
        public: u16,
        kind: String,
    }
    let mut ports: Vec<Port> = c
        .get("Ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| Port {
            ip: str_field(p, "IP").to_string(),
            private: p.get("PrivatePort").and_then(Value::as_u64).unwrap_or(0) as u16,
            public: p.get("PublicPort").and_then(Value::as_u64).unwrap_or(0) as u16,
            kind: str_field(p, "Type").to_string(),
        })
        .collect();
    ports.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.kind).cmp(&(b.private, &b.ip, b.public, &b.kind))
    });
    let join_host = |ip: &str, port: &str| {
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    let form_group = |key: &str, first: u16, last: u16| {
        let (ip, kind) = key.split_once('/').unwrap_or(("", key));
        let mut group = first.to_string();
        if first != last {
            group = format!("{group}-{last}");
        }
        if !ip.is_empty() {
            group = format!("{}->{group}", join_host(ip, &group));
        }
        format!("{group}/{kind}")
    };
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &ports {
        let mut key = p.kind.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join_host(&p.ip, &p.public.to_string()),
                    p.private,
                    p.kind
                ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.kind);
        }
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, p.private, p.private)),
            Some(g) if p.private == g.2.wrapping_add(1) => g.2 = p.private,
            Some(g) => {
                result.push(form_group(&g.0, g.1, g.2));
                g.1 = p.private;
                g.2 = p.private;
            }
        }
    }
    for (key, first, last) in &groups {
        result.push(form_group(key, *first, *last));
    }
    result.extend(host_mappings);
    result.join(", ")
}

/// The fields of docker's `ContainerContext`, keys sorted as its `MarshalJSON`
/// (a Go map) prints them.
pub fn container_row(c: &Value, trunc: bool, now: chrono::DateTime<chrono::Utc>) -> Value {
    let id = str_field(c, "Id");
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let command = str_field(c, "Command");
    let command = if trunc {
        ellipsis(command, 20)
    } else {
        command.to_string()
    };
    let mut labels: Vec<String> = c
        .get("Labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    labels.sort();
    let mounts = c
        .get("Mounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let name = match str_field(m, "Name") {
                "" => str_field(m, "Source"),
                n => n,
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    let local_volumes = mounts
        .iter()
        .filter(|m| str_field(m, "Driver") == "local")
        .count();
    let mut networks: Vec<String> = c
        .get("NetworkSettings")
        .and_then(|n| n.get("Networks"))
        .and_then(Value::as_object)
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let size_rw = c.get("SizeRw").and_then(Value::as_i64).unwrap_or(0);
    let size_root = c.get("SizeRootFs").and_then(Value::as_i64).unwrap_or(0);
    let mut size = human_size_with_precision(size_rw as f64, 3);
    if size_root > 0 {
        size = format!(
            "{size} (virtual {})",
            human_size_with_precision(size_root as f64, 3)
        );
    }
    let mut m = Map::new();
    m.insert("Command".into(), json!(go_quote(&command)));
    m.insert("CreatedAt".into(), json!(go_time_string(created)));
    m.insert(
        "ID".into(),
        json!(if trunc {
            truncate_id(id)
        } else {
            id.to_string()
        }),
    );
    m.insert("Image".into(), json!(image_column(c, trunc)));
    m.insert("Labels".into(), json!(labels.join(",")));
    m.insert("LocalVolumes".into(), json!(local_volumes.to_string()));
    m.insert("Mounts".into(), json!(mount_names.join(",")));
    m.insert("Names".into(), json!(names_column(c, trunc)));
    m.insert("Networks".into(), json!(networks.join(",")));
    m.insert("Platform".into(), Value::Null);
    m.insert("Ports".into(), json!(ports_column(c)));
    m.insert("RunningFor".into(), json!(human_since(created, now)));
    m.insert("Size".into(), json!(size));
    m.insert("State".into(), json!(str_field(c, "State")));
    m.insert("Status".into(), json!(str_field(c, "Status")));
    m.insert(
        HIDDEN_LABELS.into(),
        c.get("Labels").cloned().unwrap_or_else(|| json!({})),
    );
    Value::Object(m)
}

/// `.Label "name"` is a method call with an argument, which gtmpl cannot evaluate on a
/// field: inside actions it becomes `_label . "name"` (`_label $ "name"` for `$.Label`).
pub fn rewrite_label_calls(format: &str) -> String {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == ')' || c == '.';
    let mut out = String::with_capacity(format.len());
    let mut rest = format;
    let mut in_action = false;
    while !rest.is_empty() {
        if !in_action {
            match rest.find("{{") {
                Some(i) => {
                    out.push_str(&rest[..i + 2]);
                    rest = &rest[i + 2..];
                    in_action = true;
                }
                None => {
                    out.push_str(rest);
                    rest = "";
                }
            }
            continue;
        }
        if rest.starts_with("}}") {
            out.push_str("}}");
            rest = &rest[2..];
            in_action = false;
            continue;
        }
        if let Some(after) = rest.strip_prefix(".Label") {
            let followed_by_arg = after.starts_with([' ', '\t']);
            let prev = out.chars().last();
            if followed_by_arg && !prev.is_some_and(is_ident) {
                if prev == Some('$') {
                    out.pop();
                    out.push_str("_label $");
                } else {
                    out.push_str("_label .");
                }
                rest = after;
                continue;
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// docker's check of a `--format` template: it must parse and execute on an empty
/// container.
fn check_template(format: &str) -> Result<()> {
    let t = Template::parse(format)
        .map_err(|e| CliError::other(format!("failed to parse template: {e}")))?
        .with_type_name(CONTAINER_CONTEXT);
    let empty = container_row(&json!({}), true, chrono::Utc::now());
    t.render(&from_json(&empty))
        .map_err(|e| CliError::other(format!("failed to execute template: {e}")))?;
    Ok(())
}

pub async fn list(app: &mut App, o: PsOpts, path: &str) -> Result<()> {
    let filters = parse_filters(path, &o.filter, "-f, --filter")?;
    check_args(path, &o.args, Arity::None)?;
    let source = rewrite_label_calls(&o.format.clone().unwrap_or_default());
    if !source.is_empty() && o.quiet {
        app.eprint("WARNING: Ignoring custom format, because both --format and --quiet are set.\n");
    }
    let mut size = o.size;
    let mut limit = o.last;
    if o.latest && limit == -1 {
        limit = 1;
    }
    if !source.is_empty() {
        check_template(&source)?;
        // `.Size` in the template asks the daemon for sizes.
        if !o.quiet && !size && source.contains(".Size") {
            size = true;
        }
    }
    let mut query: Query = Vec::new();
    if o.all {
        query.push(("all", "1".into()));
    }
    if limit > 0 {
        query.push(("limit", limit.to_string()));
    }
    if size {
        query.push(("size", "1".into()));
    }
    if let Some(f) = filters.to_query() {
        query.push(("filters", f));
    }
    let containers = app.client.get_json("/containers/json", &query).await?;
    let now = chrono::Utc::now();
    let rows: Vec<Value> = containers
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| container_row(c, !o.no_trunc, now))
        .collect();
    let format = container_format(&source, o.quiet, size);
    app.print(&render_rows(
        &format,
        &rows,
        CONTAINER_HEADER,
        CONTAINER_CONTEXT,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    fn summary(id: &str, name: &str, cmd: &str, status: &str, created: i64) -> Value {
        json!({
            "Id": id, "Names": [format!("/{name}")], "Image": "busybox",
            "ImageID": "sha256:1ecebf05e23b5cb37e96d72ce92bb0319ffbabdc8f7962aa0ecb49e4a90002fd",
            "Command": cmd, "Created": created, "Ports": [], "Labels": {"b": "2", "a": "1"},
            "State": "running", "Status": status, "Mounts": [],
            "NetworkSettings": {"Networks": {}},
        })
    }

    #[test]
    fn default_table_matches_docker() {
        let now = now();
        let rows = vec![
            container_row(
                &summary(
                    "d9418b2b339146fec21a5d73f19929a50f3397886ef24a7c15f1fde845db7160",
                    "web2",
                    "sleep 300",
                    "Up Less than a second",
                    now.timestamp(),
                ),
                true,
                now,
            ),
            container_row(
                &summary(
                    "391afb8492f9aaaa",
                    "vibrant_johnson",
                    "sh -c echo out; echo err >&2; exit 3",
                    "Exited (3) 3 minutes ago",
                    now.timestamp() - 180,
                ),
                true,
                now,
            ),
        ];
        let out = render_rows(DEFAULT_TABLE, &rows, CONTAINER_HEADER, CONTAINER_CONTEXT).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     COMMAND                  CREATED                  STATUS                     PORTS     NAMES\n\
             d9418b2b3391   busybox   \"sleep 300\"              Less than a second ago   Up Less than a second                web2\n\
             391afb8492f9   busybox   \"sh -c echo out; ech…\"   3 minutes ago            Exited (3) 3 minutes ago             vibrant_johnson\n"
        );
    }

    #[test]
    fn json_rows_have_docker_keys() {
        let now = now();
        let row = container_row(
            &summary("abc", "web", "x", "Created", now.timestamp()),
            true,
            now,
        );
        let out = render_rows("json", &[row], CONTAINER_HEADER, CONTAINER_CONTEXT).unwrap();
        assert!(
            out.starts_with(r#"{"Command":"\"x\"","CreatedAt":"#),
            "{out}"
        );
        assert!(
            out.ends_with((r#""ID":"abc","Image":"busybox","Labels":"a=1,b=2","LocalVolumes":"0","Mounts":"","Names":"web","Networks":"","Platform":null,"Ports":"","RunningFor":"Less than a second ago","Size":"0B","State":"running","Status":"Created"}"#.to_owned() + "\n").as_str()),
            "{out}"
        );
    }

    #[test]
    fn formats_and_quoting() {
        assert_eq!(container_format("", true, false), "{{.ID}}");
        assert_eq!(
            container_format("table", false, true),
            format!("{DEFAULT_TABLE}\\t{{{{.Size}}}}")
        );
        assert_eq!(container_format("{{.Names}}", true, false), "{{.ID}}");
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
        assert!(check_template("{{.Names}} {{.Status}}").is_ok());
        assert_eq!(
            check_template("{{.Nope}}").unwrap_err().to_string(),
            "failed to execute template: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"
        );
    }

    #[test]
    fn label_method_calls() {
        assert_eq!(
            rewrite_label_calls(
                "table {{.ID}}\t{{.Label \"a.b\"}} .Label \"x\" {{$.Label \"c\" | upper}}"
            ),
            "table {{.ID}}\t{{_label . \"a.b\"}} .Label \"x\" {{_label $ \"c\" | upper}}"
        );
        assert_eq!(rewrite_label_calls("{{.Labels}}"), "{{.Labels}}");
        let now = now();
        let row = container_row(&summary("abc", "web", "x", "Created", 0), true, now);
        let format = rewrite_label_calls(
            "table {{.Label \"com.x-y_z\"}}\t{{.Label \"a\"}}|{{.Label \"nope\"}}|",
        );
        assert_eq!(
            render_rows(
                &format,
                std::slice::from_ref(&row),
                CONTAINER_HEADER,
                CONTAINER_CONTEXT
            )
            .unwrap(),
            "x y z     a|nope|\n          1||\n"
        );
        // The labels helper stays out of `{{json .}}`.
        let json = render_rows("{{json .}}", &[row], CONTAINER_HEADER, CONTAINER_CONTEXT).unwrap();
        assert!(!json.contains("\\u0001"), "{json}");
    }

    #[test]
    fn image_names_and_ports() {
        let c = json!({"Image": "docker.io/library/busybox:1.36@sha256:1111111111111111111111111111111111111111111111111111111111111111", "ImageID": "sha256:ab"});
        assert_eq!(image_column(&c, true), "busybox:1.36");
        let c = json!({"Image": "sha256:1ecebf05e23b5cb37e96d72ce92bb0319ffbabdc8f7962aa0ecb49e4a90002fd",
                       "ImageID": "sha256:1ecebf05e23b5cb37e96d72ce92bb0319ffbabdc8f7962aa0ecb49e4a90002fd"});
        assert_eq!(image_column(&c, true), "1ecebf05e23b");
        assert_eq!(image_column(&json!({}), true), "<no image>");
        let c = json!({"Ports": [
            {"PrivatePort": 81, "Type": "tcp"},
            {"PrivatePort": 80, "Type": "tcp"},
            {"IP": "0.0.0.0", "PrivatePort": 9090, "PublicPort": 80, "Type": "tcp"},
            {"PrivatePort": 53, "Type": "udp"},
        ]});
        assert_eq!(ports_column(&c), "53/udp, 80-81/tcp, 0.0.0.0:80->9090/tcp");
        let c = json!({"Names": ["/web", "/other/alias"]});
        assert_eq!(names_column(&c, true), "web");
        assert_eq!(names_column(&c, false), "web,other/alias");
    }
}
