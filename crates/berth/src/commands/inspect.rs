//! `inspect` and `image inspect`: docker's `inspect.Inspect` with its three output
//! modes (indented JSON array, compact `json`, Go template).

use bytes::Bytes;
use gtmpl::Value as TValue;
use serde_json::Value;

use super::App;
use crate::cli::{check_args, Arity, ContainerInspectOpts, ImageInspectOpts, InspectOpts};
use crate::client::Query;
use crate::error::{CliError, Result};
use crate::format::value::from_json;
use crate::format::Template;

enum Mode {
    Indented,
    Compact,
    Template(Box<Template>),
}

/// Collects inspected objects and prints them all at the end, as docker does.
pub struct Inspector {
    mode: Mode,
    raw: Vec<Bytes>,
    rendered: String,
}

impl Inspector {
    /// A template that does not parse exits 64, like docker's `cli.StatusError`.
    pub fn new(format: Option<&str>) -> Result<Inspector> {
        let mode = match format.unwrap_or("") {
            "" => Mode::Indented,
            "json" => Mode::Compact,
            text => {
                Mode::Template(Box::new(Template::parse(text).map_err(|e| {
                    CliError::status(64, format!("template parsing error: {e}"))
                })?))
            }
        };
        Ok(Inspector {
            mode,
            raw: Vec::new(),
            rendered: String::new(),
        })
    }

    /// Adds one object; `kind` ("image", "container", ...) selects its Go type's defaults.
    pub fn inspect(&mut self, raw: Bytes, kind: &str) -> Result<()> {
        match &self.mode {
            Mode::Template(t) => {
                let json: Value = serde_json::from_slice(&raw)
                    .map_err(|e| CliError::other(format!("unable to read inspect data: {e}")))?;
                let data = typed_view(from_json(&json), kind);
                let text = t
                    .render(&data)
                    .map_err(|e| CliError::other(format!("template parsing error: {e}")))?;
                self.rendered.push_str(&text);
                self.rendered.push('\n');
            }
            _ => self.raw.push(raw),
        }
        Ok(())
    }

    /// For objects docker only has as a typed struct (no raw fallback): names the Go
    /// type in "can't evaluate field" errors.
    pub fn with_type_name(mut self, name: &str) -> Inspector {
        if let Mode::Template(t) = self.mode {
            self.mode = Mode::Template(Box::new(t.with_type_name(name)));
        }
        self
    }

    pub fn flush(self, app: &App) -> Result<()> {
        match self.mode {
            Mode::Template(_) => {
                if self.rendered.is_empty() {
                    app.print("\n")
                } else {
                    app.print(&self.rendered)
                }
            }
            Mode::Indented | Mode::Compact if self.raw.is_empty() => app.print("[]\n"),
            Mode::Indented => {
                let items = parse_all(&self.raw)?;
                let mut out = Vec::new();
                let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
                let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
                serde::Serialize::serialize(&Value::Array(items), &mut ser)
                    .map_err(|e| CliError::other(e.to_string()))?;
                out.push(b'\n');
                app.print(&String::from_utf8_lossy(&out))
            }
            Mode::Compact => {
                let items = parse_all(&self.raw)?;
                app.print(&format!("{}\n", Value::Array(items)))
            }
        }
    }
}

fn parse_all(raw: &[Bytes]) -> Result<Vec<Value>> {
    raw.iter()
        .map(|r| {
            serde_json::from_slice(r)
                .map_err(|e| CliError::other(format!("unable to read inspect data: {e}")))
        })
        .collect()
}

/// Fields of docker's `image.InspectResponse` the API may omit; the typed struct
/// still has them (as zero values) for templates.
const IMAGE_STRING_FIELDS: &[&str] = &[
    "Parent",
    "Comment",
    "Created",
    "DockerVersion",
    "Author",
    "Architecture",
    "Variant",
    "Os",
    "OsVersion",
];

/// docker executes templates on its typed structs first: `Id` is also the Go field
/// `ID`, and fields missing from the JSON exist with zero values.
fn typed_view(mut v: TValue, kind: &str) -> TValue {
    if let TValue::Object(m) = &mut v {
        if let Some(id) = m.get("Id").cloned() {
            m.entry("ID".to_string()).or_insert(id);
        }
        if kind == "image" {
            for f in IMAGE_STRING_FIELDS {
                m.entry(f.to_string())
                    .or_insert_with(|| TValue::String(String::new()));
            }
            for f in ["RepoTags", "RepoDigests", "Manifests"] {
                m.entry(f.to_string()).or_insert(TValue::NoValue);
            }
            for f in ["Config", "Descriptor"] {
                m.entry(f.to_string()).or_insert(TValue::Nil);
            }
            m.entry("Size".to_string())
                .or_insert_with(|| TValue::from(0));
        }
        if kind == "volume" {
            // `omitempty` fields: absent from the JSON, zero values for templates.
            m.entry("CreatedAt".to_string())
                .or_insert_with(|| TValue::String(String::new()));
            m.entry("Status".to_string())
                .or_insert_with(|| TValue::Map(Default::default()));
            for f in ["UsageData", "ClusterVolume"] {
                m.entry(f.to_string()).or_insert(TValue::Nil);
            }
        }
    }
    v
}

/// Finishes an inspect run: errors are joined, one per line, exit 1.
fn finish(app: &App, inspector: Inspector, errors: Vec<String>) -> Result<()> {
    inspector.flush(app)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::status(1, errors.join("\n")))
    }
}

pub async fn image_inspect(app: &mut App, o: ImageInspectOpts) -> Result<()> {
    check_args("image inspect", &o.args, Arity::Min(1))?;
    let mut inspector = Inspector::new(o.format.as_deref())?;
    let mut errors = Vec::new();
    for name in &o.args {
        let result = match app
            .client
            .get_raw(&format!("/images/{name}/json"), &Vec::new())
            .await
        {
            Ok(raw) => inspector.inspect(raw, "image"),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            errors.push(e.to_string());
        }
    }
    finish(app, inspector, errors)
}

pub async fn container_inspect(app: &mut App, o: ContainerInspectOpts) -> Result<()> {
    check_args("container inspect", &o.args, Arity::Min(1))?;
    let mut inspector = Inspector::new(o.format.as_deref())?;
    let mut errors = Vec::new();
    for name in &o.args {
        let (path, query) = object_path("container", name, o.size).expect("containers are known");
        let result = match app.client.get_raw(&path, &query).await {
            Ok(raw) => inspector.inspect(raw, "container"),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            errors.push(e.to_string());
        }
    }
    finish(app, inspector, errors)
}

const ALL_TYPES: &[&str] = &[
    "config",
    "container",
    "image",
    "network",
    "node",
    "plugin",
    "secret",
    "service",
    "task",
    "volume",
];

fn types_list() -> String {
    ALL_TYPES.join("\", \"")
}

/// The lookup for one object type; swarm objects (config, node, secret, service, task)
/// are never found since berthd is no swarm manager.
fn object_path(kind: &str, name: &str, size: bool) -> Option<(String, Query<'static>)> {
    let query: Query = if size && kind == "container" {
        vec![("size", "1".into())]
    } else {
        Vec::new()
    };
    let path = match kind {
        "container" => format!("/containers/{name}/json"),
        "image" => format!("/images/{name}/json"),
        "network" => format!("/networks/{name}"),
        "volume" => format!("/volumes/{name}"),
        "plugin" => format!("/plugins/{name}/json"),
        _ => return None,
    };
    Some((path, query))
}

/// docker's `isErrSkippable`: try the next object type.
fn skippable(e: &CliError) -> bool {
    let msg = e.to_string();
    e.is_not_found() || msg.contains("not supported") || msg.contains("invalid reference format")
}

pub async fn inspect(app: &mut App, o: InspectOpts) -> Result<()> {
    check_args("inspect", &o.args, Arity::Min(1))?;
    let constraint = o.object_type.clone();
    if let Some(t) = &constraint {
        if t.is_empty() {
            return Err(CliError::other(format!(
                "type is empty: must be one of \"{}\"",
                types_list()
            )));
        }
        if !ALL_TYPES.contains(&t.as_str()) {
            return Err(CliError::other(format!(
                "unknown type: \"{t}\": must be one of \"{}\"",
                types_list()
            )));
        }
    }
    let mut inspector = Inspector::new(o.format.as_deref())?;
    let mut errors = Vec::new();
    for name in &o.args {
        match find_object(app, name, constraint.as_deref(), o.size).await {
            Ok((raw, kind)) => {
                if let Err(e) = inspector.inspect(raw, kind) {
                    errors.push(e.to_string());
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    finish(app, inspector, errors)
}

/// The first object named `name`, and its type.
async fn find_object(
    app: &mut App,
    name: &str,
    constraint: Option<&str>,
    size: bool,
) -> Result<(Bytes, &'static str)> {
    const ORDER: &[&str] = &["container", "image", "network", "volume", "plugin"];
    for kind in ORDER {
        if constraint.is_some_and(|c| c != *kind) {
            continue;
        }
        let Some((path, query)) = object_path(kind, name, size) else {
            continue;
        };
        match app.client.get_raw(&path, &query).await {
            Ok(raw) => {
                if size && *kind != "container" {
                    app.eprint(&format!("WARNING: --size ignored for {kind}\n"));
                }
                return Ok((raw, kind));
            }
            Err(e) if constraint.is_none() && skippable(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(CliError::other(format!("Error: No such object: {name}")))
}
