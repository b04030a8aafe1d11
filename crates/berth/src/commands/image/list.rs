//! `berth images` / `berth image ls`.

use berth_oci::Reference;
use serde_json::{json, Map, Value};

use crate::cli::{check_args, Arity, ImagesOpts};
use crate::client::Query;
use crate::commands::{parse_filters, App};
use crate::error::Result;
use crate::format::time::go_time_string;
use crate::format::units::{human_since, human_size, human_size_with_precision};
use crate::format::{render_rows, truncate_id, Format, TABLE_KEY};

const DEFAULT_IMAGE_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
const DEFAULT_IMAGE_TABLE_WITH_DIGEST: &str = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
pub(super) const QUIET_FORMAT: &str = "{{.ID}}";

/// Go type named in template errors for image rows.
pub const IMAGE_CONTEXT: &str = "*formatter.imageContext";

pub const IMAGE_HEADER: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("VirtualSize", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

/// docker's `NewImageFormat`.
fn image_format(source: &str, quiet: bool, digest: bool) -> String {
    if source == TABLE_KEY {
        return if quiet {
            QUIET_FORMAT.into()
        } else if digest {
            DEFAULT_IMAGE_TABLE_WITH_DIGEST.into()
        } else {
            DEFAULT_IMAGE_TABLE.into()
        };
    }
    let mut format = source.to_string();
    if Format(source).is_table() && digest && !source.contains("{{.Digest}}") {
        format.push_str("\t{{.Digest}}");
    }
    format
}

pub(super) fn int(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn is_dangling(tags: &[String], digests: &[String]) -> bool {
    (tags.is_empty() && digests.is_empty())
        || (tags.len() == 1
            && tags[0] == "<none>:<none>"
            && digests.len() == 1
            && digests[0] == "<none>@<none>")
}

/// The fields docker's `imageContext` offers to templates, keys sorted as its
/// `MarshalJSON` (a Go map) prints them.
pub fn image_row(
    img: &Value,
    repo: &str,
    tag: &str,
    digest: &str,
    trunc: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let id = img.get("Id").and_then(Value::as_str).unwrap_or("");
    let created = int(img, "Created");
    let size = int(img, "Size");
    let shared = img.get("SharedSize").and_then(Value::as_i64).unwrap_or(-1);
    let containers = img.get("Containers").and_then(Value::as_i64).unwrap_or(-1);
    let na_or = |cond: bool, f: &dyn Fn() -> String| if cond { "N/A".to_string() } else { f() };
    let mut m = Map::new();
    m.insert(
        "Containers".into(),
        json!(na_or(containers == -1, &|| containers.to_string())),
    );
    m.insert("CreatedAt".into(), json!(go_time_string(created)));
    m.insert("CreatedSince".into(), json!(human_since(created, now)));
    m.insert("Digest".into(), json!(digest));
    m.insert(
        "ID".into(),
        json!(if trunc {
            truncate_id(id)
        } else {
            id.to_string()
        }),
    );
    m.insert("Repository".into(), json!(repo));
    m.insert(
        "SharedSize".into(),
        json!(na_or(shared == -1, &|| human_size(shared as f64))),
    );
    m.insert(
        "Size".into(),
        json!(human_size_with_precision(size as f64, 3)),
    );
    m.insert("Tag".into(), json!(tag));
    m.insert(
        "UniqueSize".into(),
        json!(na_or(size == -1 || shared == -1, &|| human_size(
            (size - shared) as f64
        ))),
    );
    m.insert("VirtualSize".into(), json!(human_size(size as f64)));
    Value::Object(m)
}

/// One row per repository:tag (and per digest when digests are shown), as docker's
/// `imageFormatTaggedAndDigest`; repositories keep their first-seen order.
fn image_rows(
    img: &Value,
    trunc: bool,
    show_digests: bool,
    need_digest: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Value> {
    let tags = strings(img, "RepoTags");
    let digests = strings(img, "RepoDigests");
    if is_dangling(&tags, &digests) {
        return vec![image_row(img, "<none>", "<none>", "<none>", trunc, now)];
    }
    let mut repo_tags: Vec<(String, Vec<String>)> = Vec::new();
    let mut repo_digests: Vec<(String, Vec<String>)> = Vec::new();
    let push = |list: &mut Vec<(String, Vec<String>)>, repo: String, item: String| match list
        .iter_mut()
        .find(|(r, _)| *r == repo)
    {
        Some((_, items)) => items.push(item),
        None => list.push((repo, vec![item])),
    };
    for t in &tags {
        if let Ok(r) = Reference::parse_normalized(t) {
            if let Some(tag) = r.tag() {
                push(&mut repo_tags, r.familiar_name(), tag.to_string());
            }
        }
    }
    for d in &digests {
        if let Ok(r) = Reference::parse_normalized(d) {
            if let Some(dg) = r.digest() {
                push(&mut repo_digests, r.familiar_name(), dg.to_string());
            }
        }
    }
    let mut rows = Vec::new();
    for (repo, tags) in &repo_tags {
        let pos = repo_digests.iter().position(|(r, _)| r == repo);
        let digests = pos.map(|p| repo_digests.remove(p).1).unwrap_or_default();
        let digests = if need_digest { digests } else { Vec::new() };
        for tag in tags {
            if digests.is_empty() {
                rows.push(image_row(img, repo, tag, "<none>", trunc, now));
            }
            for d in &digests {
                rows.push(image_row(img, repo, tag, d, trunc, now));
            }
        }
    }
    for (repo, digests) in &repo_digests {
        if show_digests {
            for d in digests {
                rows.push(image_row(img, repo, "<none>", d, trunc, now));
            }
        } else {
            rows.push(image_row(img, repo, "<none>", "", trunc, now));
        }
    }
    rows
}

pub async fn list(app: &mut App, o: ImagesOpts, path: &str) -> Result<()> {
    let mut filters = parse_filters(path, &o.filter, "-f, --filter")?;
    check_args(path, &o.args, Arity::Max(1))?;
    let match_name = o.args.first().cloned();
    if let Some(name) = &match_name {
        filters.add("reference", name);
    }
    let mut query: Query = Vec::new();
    if let Some(f) = filters.to_query() {
        query.push(("filters", f));
    }
    if o.all {
        query.push(("all", "1".into()));
    }
    let images = app.client.get_json("/images/json", &query).await?;
    let images = images.as_array().cloned().unwrap_or_default();

    let source = o
        .format
        .clone()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| TABLE_KEY.into());
    let format = image_format(&source, o.quiet, o.digests);
    let need_digest = o.digests || format.contains("{{.Digest}}");
    let now = chrono::Utc::now();
    let rows: Vec<Value> = images
        .iter()
        .flat_map(|img| image_rows(img, !o.no_trunc, o.digests, need_digest, now))
        .collect();
    app.print(&render_rows(&format, &rows, IMAGE_HEADER, IMAGE_CONTEXT)?)?;

    if let Some(name) = match_name {
        if images.is_empty() && path == "images" && is_image_subcommand(&name) {
            app.eprint(&format!(
                "\nNo images found matching \"{name}\": did you mean \"berth image {name}\"?\n"
            ));
        }
    }
    Ok(())
}

fn is_image_subcommand(name: &str) -> bool {
    matches!(
        name,
        "build"
            | "history"
            | "import"
            | "inspect"
            | "list"
            | "load"
            | "ls"
            | "prune"
            | "pull"
            | "push"
            | "rm"
            | "save"
            | "tag"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn rows_per_tag_and_digest() {
        let img = json!({
            "Id": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "RepoTags": ["busybox:latest", "busybox:1.36", "localhost:5000/bb:x"],
            "RepoDigests": ["busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111"],
            "Created": 1_700_000_000, "Size": 4_261_613, "SharedSize": -1, "Containers": -1
        });
        let rows = image_rows(&img, true, false, false, now());
        let names: Vec<String> = rows
            .iter()
            .map(|r| format!("{}:{}:{}", r["Repository"], r["Tag"], r["Digest"]))
            .collect();
        assert_eq!(
            names,
            vec![
                r#""busybox":"latest":"<none>""#,
                r#""busybox":"1.36":"<none>""#,
                r#""localhost:5000/bb":"x":"<none>""#
            ]
        );
        assert_eq!(rows[0]["ID"], "0123456789ab");
        assert_eq!(rows[0]["Size"], "4.26MB");
        assert_eq!(rows[0]["CreatedSince"], "6 weeks ago");
        let with_digests = image_rows(&img, true, true, true, now());
        assert!(with_digests[0]["Digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:1111"));
        let dangling =
            json!({"Id": "sha256:ab", "RepoTags": [], "RepoDigests": [], "Created": 0, "Size": 0});
        assert_eq!(
            image_rows(&dangling, true, false, false, now())[0]["Repository"],
            "<none>"
        );
    }

    #[test]
    fn image_formats() {
        assert_eq!(image_format("table", true, false), "{{.ID}}");
        assert_eq!(
            image_format("table {{.ID}}", false, true),
            "table {{.ID}}\t{{.Digest}}"
        );
        assert_eq!(image_format("{{.ID}}", false, true), "{{.ID}}");
    }

    #[test]
    fn default_table_matches_docker_layout() {
        let img = json!({"Id": "sha256:0123456789abcdef", "RepoTags": ["busybox:latest"], "RepoDigests": [],
                         "Created": 1_640_000_000, "Size": 4_261_613, "SharedSize": -1, "Containers": -1});
        let rows = image_rows(&img, true, false, false, now());
        let out = render_rows(DEFAULT_IMAGE_TABLE, &rows, IMAGE_HEADER, IMAGE_CONTEXT).unwrap();
        assert_eq!(
            out,
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             busybox      latest    0123456789ab   2 years ago   4.26MB\n"
        );
    }
}
