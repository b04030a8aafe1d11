//! `volume create`, `volume ls`, `volume inspect`, `volume rm` and `volume prune`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::cli::{
    check_args, Arity, VolumeCreateOpts, VolumeInspectOpts, VolumeLsOpts, VolumePruneOpts,
    VolumeRmOpts,
};
use crate::client::{read_json, Query};
use crate::commands::container::{natural_less, rewrite_label_calls};
use crate::commands::inspect::Inspector;
use crate::commands::{confirm, flags_supported, parse_filters, App, FlagNeed};
use crate::error::{CliError, Result};
use crate::format::template::HIDDEN_LABELS;
use crate::format::units::human_size;
use crate::format::{render_rows, TABLE_KEY};

const DEFAULT_VOLUME_TABLE: &str = "table {{.Driver}}\t{{.Name}}";
const QUIET_FORMAT: &str = "{{.Name}}";
/// Go type named in template errors for volume rows.
const VOLUME_CONTEXT: &str = "*formatter.volumeContext";

const VOLUME_HEADER: &[(&str, &str)] = &[
    ("ID", "ID"),
    ("Name", "VOLUME NAME"),
    ("Group", "GROUP"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Availability", "AVAILABILITY"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("Status", "STATUS"),
];

/// The client's `trimID`: an empty name is refused before any request.
fn trim_name(name: &str) -> Result<&str> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(CliError::other("invalid volume name or ID: value is empty"));
    }
    Ok(trimmed)
}

/// `opts.ConvertKVStringsToMap` / `MapOpts`: `k=v` (or a bare `k` with an empty value),
/// later values winning; Go marshals the map with sorted keys.
fn kv_map(values: &[String]) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|v| {
            let (k, val) = v.split_once('=').unwrap_or((v.as_str(), ""));
            (k.to_string(), val.to_string())
        })
        .collect()
}

/// The body of `POST /volumes/create` as docker's `volume.CreateOptions` marshals it.
pub fn create_body(o: &VolumeCreateOpts, name: &str) -> Value {
    let mut m = Map::new();
    if let Some(spec) = cluster_spec(o) {
        m.insert("ClusterVolumeSpec".into(), spec);
    }
    if !o.driver.is_empty() {
        m.insert("Driver".into(), json!(o.driver));
    }
    let opts = kv_map(&o.opt);
    if !opts.is_empty() {
        m.insert("DriverOpts".into(), json!(opts));
    }
    let labels = kv_map(&o.label);
    if !labels.is_empty() {
        m.insert("Labels".into(), json!(labels));
    }
    if !name.is_empty() {
        m.insert("Name".into(), json!(name));
    }
    Value::Object(m)
}

/// docker's `hasClusterVolumeOptionSet` (which looks for "secrets", so `--secret`
/// alone does not count).
fn cluster_options_set(o: &VolumeCreateOpts) -> bool {
    o.group.is_some()
        || o.scope.is_some()
        || o.sharing.is_some()
        || o.availability.is_some()
        || o.access_type.is_some()
        || o.limit_bytes.is_some()
        || o.required_bytes.is_some()
}

/// Each `segment=value,segment=value` topology.
fn topologies(values: &[String]) -> Vec<Value> {
    values
        .iter()
        .map(|t| {
            let segments: BTreeMap<&str, &str> = t
                .split(',')
                .map(|seg| seg.split_once('=').unwrap_or((seg, "")))
                .collect();
            if segments.is_empty() {
                json!({})
            } else {
                json!({ "Segments": segments })
            }
        })
        .collect()
}

/// The `ClusterVolumeSpec` docker sends when a cluster option is given.
fn cluster_spec(o: &VolumeCreateOpts) -> Option<Value> {
    if !cluster_options_set(o) {
        return None;
    }
    let mut spec = Map::new();
    if let Some(g) = o.group.as_ref().filter(|g| !g.is_empty()) {
        spec.insert("Group".into(), json!(g));
    }
    let mut access = Map::new();
    let scope = o.scope.clone().unwrap_or_else(|| "single".into());
    let sharing = o.sharing.clone().unwrap_or_else(|| "none".into());
    if !scope.is_empty() {
        access.insert("Scope".into(), json!(scope));
    }
    if !sharing.is_empty() {
        access.insert("Sharing".into(), json!(sharing));
    }
    match o.access_type.as_deref().unwrap_or("block") {
        "mount" => {
            access.insert("MountVolume".into(), json!({}));
        }
        "block" => {
            access.insert("BlockVolume".into(), json!({}));
        }
        _ => {}
    }
    spec.insert("AccessMode".into(), Value::Object(access));
    let mut topology = Map::new();
    let required = topologies(&o.topology_required);
    if !required.is_empty() {
        topology.insert("Requisite".into(), json!(required));
    }
    let preferred = topologies(&o.topology_preferred);
    if !preferred.is_empty() {
        topology.insert("Preferred".into(), json!(preferred));
    }
    spec.insert("AccessibilityRequirements".into(), Value::Object(topology));
    spec.insert(
        "CapacityRange".into(),
        json!({
            "RequiredBytes": o.required_bytes.filter(|r| *r >= 0).unwrap_or(0),
            "LimitBytes": o.limit_bytes.filter(|l| *l >= 0).unwrap_or(0),
        }),
    );
    let secrets = kv_map(&o.secret);
    if !secrets.is_empty() {
        let list: Vec<Value> = secrets
            .iter()
            .map(|(k, v)| json!({"Key": k, "Secret": v}))
            .collect();
        spec.insert("Secrets".into(), json!(list));
    }
    let availability = o.availability.clone().unwrap_or_else(|| "active".into());
    if !availability.is_empty() {
        spec.insert("Availability".into(), json!(availability));
    }
    Some(Value::Object(spec))
}

pub async fn create(app: &mut App, o: VolumeCreateOpts) -> Result<()> {
    let path = "volume create";
    check_args(path, &o.args, Arity::Max(1))?;
    let mut name = o.name.clone().unwrap_or_default();
    if let Some(arg) = o.args.first() {
        if !name.is_empty() {
            return Err(CliError::other(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            ));
        }
        name = arg.clone();
    }
    flags_supported(
        app,
        vec![
            FlagNeed::version("group", o.group.is_some(), "1.42"),
            FlagNeed::version("scope", o.scope.is_some(), "1.42"),
            FlagNeed::version("sharing", o.sharing.is_some(), "1.42"),
            FlagNeed::version("availability", o.availability.is_some(), "1.42"),
            FlagNeed::version("type", o.access_type.is_some(), "1.42"),
            FlagNeed::version("secret", !o.secret.is_empty(), "1.42"),
            FlagNeed::version("limit-bytes", o.limit_bytes.is_some(), "1.42"),
            FlagNeed::version("required-bytes", o.required_bytes.is_some(), "1.42"),
            FlagNeed::version("topology-required", !o.topology_required.is_empty(), "1.42"),
            FlagNeed::version(
                "topology-preferred",
                !o.topology_preferred.is_empty(),
                "1.42",
            ),
        ],
    )
    .await?;
    let body = create_body(&o, &name);
    let resp = app
        .client
        .post_json("/volumes/create", &Vec::new(), &body)
        .await?;
    let vol = read_json(resp).await?;
    let created = vol.get("Name").and_then(Value::as_str).unwrap_or("");
    app.print(&format!("{created}\n"))
}

/// The fields docker's `volumeContext` offers to templates (JSON keys sorted, as its
/// `MarshalJSON` prints them).
fn volume_row(v: &Value) -> Value {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let labels: BTreeMap<String, String> = v
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, val)| (k.clone(), val.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    // Go joins the labels in map order (random); sorted is one of its orders.
    let joined: Vec<String> = labels.iter().map(|(k, val)| format!("{k}={val}")).collect();
    let usage = v.get("UsageData").filter(|u| u.is_object());
    let links = match usage {
        Some(u) => u
            .get("RefCount")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .to_string(),
        None => "N/A".into(),
    };
    let size = match usage {
        Some(u) => human_size(u.get("Size").and_then(Value::as_i64).unwrap_or(0) as f64),
        None => "N/A".into(),
    };
    let cluster = v.get("ClusterVolume").filter(|c| c.is_object());
    let (group, availability, status) = match cluster {
        None => ("N/A".to_string(), "N/A".to_string(), "N/A".to_string()),
        Some(c) => {
            let spec = c.get("Spec");
            let group = spec
                .and_then(|s| s.get("Group"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let availability = spec
                .and_then(|s| s.get("Availability"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let volume_id = c
                .get("Info")
                .and_then(|i| i.get("VolumeID"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let published = c
                .get("PublishStatus")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let status = if volume_id.is_empty() {
                "pending creation".to_string()
            } else {
                match published {
                    0 => "created".to_string(),
                    1 => "in use (1 node)".to_string(),
                    n => format!("in use ({n} nodes)"),
                }
            };
            (group, availability, status)
        }
    };
    let mut m = Map::new();
    m.insert("Availability".into(), json!(availability));
    m.insert("Driver".into(), json!(s("Driver")));
    m.insert("Group".into(), json!(group));
    m.insert("Labels".into(), json!(joined.join(",")));
    m.insert("Links".into(), json!(links));
    m.insert("Mountpoint".into(), json!(s("Mountpoint")));
    m.insert("Name".into(), json!(s("Name")));
    m.insert("Scope".into(), json!(s("Scope")));
    m.insert("Size".into(), json!(size));
    m.insert("Status".into(), json!(status));
    // `{{.Label "key"}}` reads the labels themselves.
    m.insert(HIDDEN_LABELS.into(), json!(labels));
    Value::Object(m)
}

pub async fn list(app: &mut App, o: VolumeLsOpts, path: &str) -> Result<()> {
    let filters = parse_filters(path, &o.filter, "-f, --filter")?;
    check_args(path, &o.args, Arity::None)?;
    flags_supported(app, vec![FlagNeed::version("cluster", o.cluster, "1.42")]).await?;
    let mut query: Query = Vec::new();
    if let Some(f) = filters.to_query() {
        query.push(("filters", f));
    }
    let listing = app.client.get_json("/volumes", &query).await?;
    let mut volumes: Vec<Value> = listing
        .get("Volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut format = rewrite_label_calls(&o.format.clone().unwrap_or_default());
    if o.cluster {
        volumes.retain(|v| v.get("ClusterVolume").is_some_and(Value::is_object));
        if format.is_empty() {
            format = if o.quiet {
                TABLE_KEY.into()
            } else {
                "table {{.Name}}\t{{.Group}}\t{{.Driver}}\t{{.Availability}}\t{{.Status}}".into()
            };
        }
    } else if format.is_empty() {
        format = TABLE_KEY.into();
    }
    let format = match format.as_str() {
        TABLE_KEY if o.quiet => QUIET_FORMAT.to_string(),
        TABLE_KEY => DEFAULT_VOLUME_TABLE.to_string(),
        "raw" if o.quiet => "name: {{.Name}}".to_string(),
        "raw" => "name: {{.Name}}\\ndriver: {{.Driver}}\\n".to_string(),
        other => other.to_string(),
    };
    let name = |v: &Value| {
        v.get("Name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    volumes.sort_by(|a, b| {
        let (na, nb) = (name(a), name(b));
        if natural_less(&na, &nb) {
            std::cmp::Ordering::Less
        } else if natural_less(&nb, &na) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    let rows: Vec<Value> = volumes.iter().map(volume_row).collect();
    let text = render_rows(&format, &rows, VOLUME_HEADER, VOLUME_CONTEXT)?;
    app.print(&text)
}

/// docker's `volume inspect` prints its typed `volume.Volume`, not the daemon's bytes:
/// fields in struct order, `omitempty` ones left out when empty.
pub fn normalize_volume(v: &Value) -> Value {
    let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let is_empty = |x: &Value| match x {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    let mut m = Map::new();
    let cluster = get("ClusterVolume");
    if !cluster.is_null() {
        m.insert("ClusterVolume".into(), cluster);
    }
    let created = get("CreatedAt");
    if !is_empty(&created) {
        m.insert("CreatedAt".into(), created);
    }
    m.insert(
        "Driver".into(),
        json!(v.get("Driver").and_then(Value::as_str).unwrap_or("")),
    );
    m.insert("Labels".into(), sorted_map(&get("Labels")));
    m.insert(
        "Mountpoint".into(),
        json!(v.get("Mountpoint").and_then(Value::as_str).unwrap_or("")),
    );
    m.insert(
        "Name".into(),
        json!(v.get("Name").and_then(Value::as_str).unwrap_or("")),
    );
    m.insert("Options".into(), sorted_map(&get("Options")));
    m.insert(
        "Scope".into(),
        json!(v.get("Scope").and_then(Value::as_str).unwrap_or("")),
    );
    let status = get("Status");
    if !is_empty(&status) {
        m.insert("Status".into(), sorted_map(&status));
    }
    let usage = get("UsageData");
    if !usage.is_null() {
        m.insert("UsageData".into(), usage);
    }
    Value::Object(m)
}

/// A JSON object with its keys sorted (Go marshals maps that way); `null` stays `null`.
fn sorted_map(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let sorted: BTreeMap<&String, &Value> = o.iter().collect();
            let m: Map<String, Value> = sorted
                .into_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Value::Object(m)
        }
        _ => Value::Null,
    }
}

pub async fn inspect(app: &mut App, o: VolumeInspectOpts) -> Result<()> {
    check_args("volume inspect", &o.args, Arity::Min(1))?;
    let mut inspector = Inspector::new(o.format.as_deref())?.with_type_name("volume.Volume");
    let mut errors = Vec::new();
    for name in &o.args {
        let result = match trim_name(name) {
            Ok(name) => {
                let path = format!("/volumes/{name}");
                match app.client.get_json(&path, &Vec::new()).await {
                    Ok(v) => {
                        let bytes = serde_json::to_vec(&normalize_volume(&v))
                            .map_err(|e| CliError::other(e.to_string()))?;
                        inspector.inspect(bytes.into(), "volume")
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            errors.push(e.to_string());
        }
    }
    inspector.flush(app)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::status(1, errors.join("\n")))
    }
}

pub async fn remove(app: &mut App, o: VolumeRmOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Min(1))?;
    let mut query: Query = Vec::new();
    if o.force {
        query.push(("force", "1".into()));
    }
    let mut errors = Vec::new();
    for name in &o.args {
        let result = match trim_name(name) {
            Ok(trimmed) => app
                .client
                .delete(&format!("/volumes/{trimmed}"), &query)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => app.print(&format!("{name}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::other(errors.join("\n")))
    }
}

pub async fn prune(app: &mut App, o: VolumePruneOpts) -> Result<()> {
    let path = "volume prune";
    let mut filters = parse_filters(path, &o.filter, "--filter")?;
    check_args(path, &o.args, Arity::None)?;
    flags_supported(app, vec![FlagNeed::version("all", o.all, "1.42")]).await?;
    let version = app.client.api_version().await?;
    let all_warning = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?";
    let mut warning = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?";
    if !crate::client::version_less(&version, "1.42") {
        if o.all {
            if filters.contains("all") {
                return Err(CliError::other(
                    "conflicting options: cannot specify both --all and --filter all=1",
                ));
            }
            filters.add("all", "true");
            warning = all_warning;
        }
    } else {
        // Before API 1.42 the daemon removes named volumes too.
        warning = all_warning;
    }
    // A declined prompt is a cancellation: docker prints nothing more and exits 0.
    if !o.force && !confirm(app, warning)? {
        return Ok(());
    }
    let mut query: Query = Vec::new();
    if let Some(f) = filters.to_query() {
        query.push(("filters", f));
    }
    let resp = app.client.post("/volumes/prune", &query).await?;
    let report = read_json(resp).await?;
    let text = crate::commands::prune_report(&report, "VolumesDeleted", "Deleted Volumes:");
    app.print(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, VolumeCommand};
    use clap::FromArgMatches;

    fn create_opts(args: &[&str]) -> VolumeCreateOpts {
        let mut argv = vec!["berth", "volume", "create"];
        argv.extend(args);
        let m = crate::cli::command().try_get_matches_from(argv).unwrap();
        match Cli::from_arg_matches(&m).unwrap().command {
            Some(Command::Volume(g)) => match g.command {
                Some(VolumeCommand::Create(o)) => *o,
                _ => panic!("not volume create"),
            },
            _ => panic!("not volume"),
        }
    }

    #[test]
    fn create_bodies_match_docker() {
        // What docker 28.2.2 sent for the same command lines.
        let o = create_opts(&["x"]);
        assert_eq!(
            create_body(&o, "x").to_string(),
            r#"{"Driver":"local","Name":"x"}"#
        );
        let o = create_opts(&[
            "-d", "dd", "-o", "a=1", "-o", "b", "--label", "l=1", "--label", "m",
        ]);
        assert_eq!(
            create_body(&o, "").to_string(),
            r#"{"Driver":"dd","DriverOpts":{"a":"1","b":""},"Labels":{"l":"1","m":""}}"#
        );
        let o = create_opts(&[
            "--group",
            "g",
            "--scope",
            "multi",
            "--sharing",
            "all",
            "--availability",
            "pause",
            "--type",
            "mount",
            "--secret",
            "b=2",
            "--secret",
            "a=1",
            "--limit-bytes",
            "1g",
            "--required-bytes",
            "1m",
            "--topology-required",
            "zone=a,rack=1",
            "--topology-preferred",
            "zone=b",
            "cv",
        ]);
        assert_eq!(
            create_body(&o, "cv").to_string(),
            r#"{"ClusterVolumeSpec":{"Group":"g","AccessMode":{"Scope":"multi","Sharing":"all","MountVolume":{}},"AccessibilityRequirements":{"Requisite":[{"Segments":{"rack":"1","zone":"a"}}],"Preferred":[{"Segments":{"zone":"b"}}]},"CapacityRange":{"RequiredBytes":1048576,"LimitBytes":1073741824},"Secrets":[{"Key":"a","Secret":"1"},{"Key":"b","Secret":"2"}],"Availability":"pause"},"Driver":"local","Name":"cv"}"#
        );
        let o = create_opts(&["--group", "g", "cv2"]);
        assert_eq!(
            create_body(&o, "cv2").to_string(),
            r#"{"ClusterVolumeSpec":{"Group":"g","AccessMode":{"Scope":"single","Sharing":"none","BlockVolume":{}},"AccessibilityRequirements":{},"CapacityRange":{"RequiredBytes":0,"LimitBytes":0},"Availability":"active"},"Driver":"local","Name":"cv2"}"#
        );
        let o = create_opts(&["--secret", "a=1", "--topology-required", "x", "cv3"]);
        assert_eq!(
            create_body(&o, "cv3").to_string(),
            r#"{"Driver":"local","Name":"cv3"}"#
        );
        let o = create_opts(&["--opt", "o=size=1m", "--opt=type=tmpfs", "v"]);
        assert_eq!(
            create_body(&o, "v").to_string(),
            r#"{"Driver":"local","DriverOpts":{"o":"size=1m","type":"tmpfs"},"Name":"v"}"#
        );
        assert!(crate::cli::command()
            .try_get_matches_from(["berth", "volume", "create", "--label", " =x"])
            .is_err());
    }

    #[test]
    fn rows_like_volume_context() {
        let v = json!({"Name": "v", "Driver": "local", "Mountpoint": "/m", "Scope": "local",
                       "Labels": {"b": "2", "a": "1"}, "Options": null});
        let row = volume_row(&v);
        assert_eq!(row["Labels"], "a=1,b=2");
        assert_eq!(row["Links"], "N/A");
        assert_eq!(row["Size"], "N/A");
        assert_eq!(row["Group"], "N/A");
        let with_usage = json!({"Name": "v", "UsageData": {"RefCount": 2, "Size": 2048}});
        let row = volume_row(&with_usage);
        assert_eq!(
            (row["Links"].as_str(), row["Size"].as_str()),
            (Some("2"), Some("2.048kB"))
        );
        let text = render_rows(
            DEFAULT_VOLUME_TABLE,
            &[volume_row(&v)],
            VOLUME_HEADER,
            VOLUME_CONTEXT,
        )
        .unwrap();
        assert_eq!(text, "DRIVER    VOLUME NAME\nlocal     v\n");
    }

    #[test]
    fn inspect_output_is_the_typed_struct() {
        let daemon = json!({"Name": "v", "Driver": "local", "Mountpoint": "/m",
            "CreatedAt": "2024-01-01T00:00:00Z", "Status": null,
            "Labels": {"z": "1", "a": "2"}, "Scope": "local", "Options": null});
        assert_eq!(
            normalize_volume(&daemon).to_string(),
            r#"{"CreatedAt":"2024-01-01T00:00:00Z","Driver":"local","Labels":{"a":"2","z":"1"},"Mountpoint":"/m","Name":"v","Options":null,"Scope":"local"}"#
        );
    }
}
