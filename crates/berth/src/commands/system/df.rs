//! `berth system df`.

use serde_json::{json, Value};

use super::{render_typed, s};
use crate::cli::{check_args, Arity, DfOpts};
use crate::commands::image::{image_row, IMAGE_CONTEXT, IMAGE_HEADER};
use crate::commands::App;
use crate::error::Result;
use crate::format::time::go_time_string;
use crate::format::units::{human_since, human_size, human_size_with_precision};
use crate::format::{ellipsis, render_rows, truncate_id, Format, TABLE_KEY};

const DF_TABLE: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const DF_HEADER: &[(&str, &str)] = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];
const DF_IMAGE_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const DF_CONTAINER_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const DF_VOLUME_TABLE: &str = "table {{.Name}}\t{{.Links}}\t{{.Size}}";
const DF_CACHE_TABLE: &str =
    "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";
const CONTAINER_HEADER: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Networks", "NETWORKS"),
];
const VOLUME_HEADER: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
];
const CACHE_HEADER: &[(&str, &str)] = &[
    ("ID", "CACHE ID"),
    ("CacheType", "CACHE TYPE"),
    ("Size", "SIZE"),
    ("CreatedSince", "CREATED"),
    ("LastUsedSince", "LAST USED"),
    ("UsageCount", "USAGE"),
    ("Shared", "SHARED"),
];

fn items(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn i(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn percent_of(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            human_size(reclaimable as f64),
            reclaimable * 100 / total
        )
    } else {
        human_size(reclaimable as f64)
    }
}

fn df_row(kind: &str, total: usize, active: usize, size: i64, reclaimable: String) -> Value {
    json!({
        "Active": active.to_string(),
        "Reclaimable": reclaimable,
        "Size": human_size(size as f64),
        "TotalCount": total.to_string(),
        "Type": kind,
    })
}

/// The four summary rows of `system df` (docker's `diskUsage*Context` types).
fn df_summary(du: &Value) -> Vec<Value> {
    let images = items(du, "Images");
    let layers = i(du, "LayersSize");
    let used: i64 = images
        .iter()
        .filter(|img| i(img, "Containers") != 0)
        .filter(|img| i(img, "Size") != -1 && i(img, "SharedSize") != -1)
        .map(|img| i(img, "Size") - i(img, "SharedSize"))
        .sum();
    let active_images = images.iter().filter(|img| i(img, "Containers") > 0).count();

    let containers = items(du, "Containers");
    let is_active = |c: &Value| matches!(s(c, "State"), "running" | "paused" | "restarting");
    let c_size: i64 = containers.iter().map(|c| i(c, "SizeRw")).sum();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| !is_active(c))
        .map(|c| i(c, "SizeRw"))
        .sum();

    let volumes = items(du, "Volumes");
    let usage = |v: &Value, k: &str| v.get("UsageData").map(|u| i(u, k)).unwrap_or(0);
    let sized: Vec<&Value> = volumes.iter().filter(|v| usage(v, "Size") != -1).collect();
    let v_size: i64 = sized.iter().map(|v| usage(v, "Size")).sum();
    let v_reclaim: i64 = sized
        .iter()
        .filter(|v| usage(v, "RefCount") == 0)
        .map(|v| usage(v, "Size"))
        .sum();

    let cache = items(du, "BuildCache");
    let flag = |c: &Value, k: &str| c.get(k).and_then(Value::as_bool).unwrap_or(false);
    let builder: i64 = cache
        .iter()
        .filter(|c| !flag(c, "Shared"))
        .map(|c| i(c, "Size"))
        .sum();
    let in_use: i64 = cache
        .iter()
        .filter(|c| flag(c, "InUse") && !flag(c, "Shared"))
        .map(|c| i(c, "Size"))
        .sum();

    vec![
        df_row(
            "Images",
            images.len(),
            active_images,
            layers,
            percent_of(layers - used, layers),
        ),
        df_row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| is_active(c)).count(),
            c_size,
            percent_of(c_reclaim, c_size),
        ),
        df_row(
            "Local Volumes",
            volumes.len(),
            volumes.iter().filter(|v| usage(v, "RefCount") > 0).count(),
            v_size,
            percent_of(v_reclaim, v_size),
        ),
        df_row(
            "Build Cache",
            cache.len(),
            cache.iter().filter(|c| flag(c, "InUse")).count(),
            builder,
            human_size((builder - in_use) as f64),
        ),
    ]
}

/// The fields of docker's `ContainerContext` that `system df -v` uses.
fn container_row(c: &Value, trunc: bool, now: chrono::DateTime<chrono::Utc>) -> Value {
    let id = s(c, "Id");
    let names: Vec<String> = c
        .get("Names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.strip_prefix('/').unwrap_or(n).to_string())
        .collect();
    let names = if trunc {
        names
            .iter()
            .find(|n| !n.contains('/'))
            .map(|n| vec![n.clone()])
            .unwrap_or(names)
    } else {
        names
    };
    let image = s(c, "Image");
    let image = if image.is_empty() {
        "<no image>".to_string()
    } else if trunc && truncate_id(s(c, "ImageID")) == truncate_id(image) {
        truncate_id(image)
    } else {
        image.to_string()
    };
    let command = if trunc {
        ellipsis(s(c, "Command"), 20)
    } else {
        s(c, "Command").to_string()
    };
    let local_volumes = c
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| s(m, "Driver") == "local")
        .count();
    let size_rw = i(c, "SizeRw");
    json!({
        "Command": format!("{:?}", command),
        "CreatedAt": go_time_string(i(c, "Created")),
        "ID": if trunc { truncate_id(id) } else { id.to_string() },
        "Image": image,
        "LocalVolumes": local_volumes.to_string(),
        "Names": names.join(","),
        "RunningFor": human_since(i(c, "Created"), now),
        "Size": human_size_with_precision(size_rw as f64, 3),
        "State": s(c, "State"),
        "Status": s(c, "Status"),
    })
}

fn volume_row(v: &Value) -> Value {
    let usage = v.get("UsageData").cloned().unwrap_or(Value::Null);
    let size = usage.get("Size").and_then(Value::as_i64).unwrap_or(-1);
    let refs = usage.get("RefCount").and_then(Value::as_i64).unwrap_or(-1);
    json!({
        "Driver": s(v, "Driver"),
        "Links": if refs == -1 { "N/A".to_string() } else { refs.to_string() },
        "Mountpoint": s(v, "Mountpoint"),
        "Name": s(v, "Name"),
        "Scope": s(v, "Scope"),
        "Size": if size == -1 { "N/A".to_string() } else { human_size(size as f64) },
    })
}

fn cache_row(c: &Value, trunc: bool, now: chrono::DateTime<chrono::Utc>) -> Value {
    let parse = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(s(c, k))
            .ok()
            .map(|t| human_since(t.timestamp(), now))
            .unwrap_or_default()
    };
    let id = s(c, "ID");
    let flag = |k: &str| c.get(k).and_then(Value::as_bool).unwrap_or(false);
    let id = if trunc {
        id.chars().take(12).collect()
    } else {
        id.to_string()
    };
    let id = if flag("InUse") { format!("{id}*") } else { id };
    json!({
        "CacheType": s(c, "Type"),
        "CreatedSince": parse("CreatedAt"),
        "ID": id,
        "LastUsedSince": parse("LastUsedAt"),
        "Shared": flag("Shared").to_string(),
        "Size": human_size_with_precision(i(c, "Size") as f64, 3),
        "UsageCount": i(c, "UsageCount").to_string(),
    })
}

fn df_image_rows(du: &Value, trunc: bool, now: chrono::DateTime<chrono::Utc>) -> Vec<Value> {
    items(du, "Images")
        .iter()
        .map(|img| {
            let tags: Vec<&str> = img
                .get("RepoTags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let (mut repo, mut tag) = ("<none>".to_string(), "<none>".to_string());
            if let Some(first) = tags.first().filter(|t| **t != "<none>:<none>") {
                if let Ok(r) = berth_oci::Reference::parse_normalized(first) {
                    if let Some(t) = r.tag() {
                        repo = r.familiar_name();
                        tag = t.to_string();
                    }
                }
            }
            image_row(img, &repo, &tag, "", trunc, now)
        })
        .collect()
}

pub async fn df(app: &mut App, o: DfOpts) -> Result<()> {
    check_args("system df", &o.args, Arity::None)?;
    let du = app.client.get_json("/system/df", &Vec::new()).await?;
    let format = o
        .format
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| TABLE_KEY.into());
    if !o.verbose {
        let format = if format == TABLE_KEY {
            DF_TABLE.to_string()
        } else {
            format
        };
        return app.print(&render_rows(
            &format,
            &df_summary(&du),
            DF_HEADER,
            "*formatter.diskUsageImagesContext",
        )?);
    }
    let now = chrono::Utc::now();
    let trunc = Format(&format).is_table();
    let images = df_image_rows(&du, trunc, now);
    let containers: Vec<Value> = items(&du, "Containers")
        .iter()
        .map(|c| container_row(c, trunc, now))
        .collect();
    let volumes: Vec<Value> = items(&du, "Volumes").iter().map(volume_row).collect();
    let mut cache_items = items(&du, "BuildCache");
    // docker lists build cache by last use, most recent first.
    cache_items.sort_by(|a, b| s(b, "LastUsedAt").cmp(s(a, "LastUsedAt")));
    let cache: Vec<Value> = cache_items
        .iter()
        .map(|c| cache_row(c, trunc, now))
        .collect();
    if format != TABLE_KEY {
        let data = json!({"Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": cache});
        let template = crate::format::parse_template(&Format(&format).template_text())?;
        let text = render_typed(&template, &data, &[])?;
        return app.print(&text);
    }
    let builder: i64 = cache_items
        .iter()
        .filter(|c| !c.get("Shared").and_then(Value::as_bool).unwrap_or(false))
        .map(|c| i(c, "Size"))
        .sum();
    let mut out = String::from("Images space usage:\n\n");
    out.push_str(&render_rows(
        DF_IMAGE_TABLE,
        &images,
        IMAGE_HEADER,
        IMAGE_CONTEXT,
    )?);
    out.push_str("\nContainers space usage:\n\n");
    out.push_str(&render_rows(
        DF_CONTAINER_TABLE,
        &containers,
        CONTAINER_HEADER,
        "*formatter.ContainerContext",
    )?);
    out.push_str("\nLocal Volumes space usage:\n\n");
    out.push_str(&render_rows(
        DF_VOLUME_TABLE,
        &volumes,
        VOLUME_HEADER,
        "*formatter.volumeContext",
    )?);
    out.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human_size(builder as f64)
    ));
    out.push_str(&render_rows(
        DF_CACHE_TABLE,
        &cache,
        CACHE_HEADER,
        "*formatter.buildCacheContext",
    )?);
    app.print(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_summary_rows() {
        let du = json!({"LayersSize": 10_000_000, "Images": [
            {"Containers": 1, "Size": 4_000_000, "SharedSize": 0},
            {"Containers": 0, "Size": 6_000_000, "SharedSize": 0}
        ], "Containers": [], "Volumes": [], "BuildCache": []});
        let out = render_rows(DF_TABLE, &df_summary(&du), DF_HEADER, "T").unwrap();
        assert_eq!(
            out,
            "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
             Images          2         1         10MB      6MB (60%)\n\
             Containers      0         0         0B        0B\n\
             Local Volumes   0         0         0B        0B\n\
             Build Cache     0         0         0B        0B\n"
        );
    }
}
