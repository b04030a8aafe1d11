//! `berth history` / `berth image history`.

use serde_json::{json, Map, Value};

use super::list::{int, QUIET_FORMAT};
use crate::cli::{check_args, Arity, HistoryOpts};
use crate::commands::App;
use crate::error::Result;
use crate::format::time::rfc3339_local;
use crate::format::units::{human_since, human_size_with_precision};
use crate::format::{ellipsis, render_rows, truncate_id, TABLE_KEY};

const HISTORY_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const HISTORY_TABLE_NON_HUMAN: &str =
    "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const HISTORY_HEADER: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// docker's `historyContext` fields (sorted keys, as its `MarshalJSON` prints them).
fn history_row(h: &Value, trunc: bool, human: bool, now: chrono::DateTime<chrono::Utc>) -> Value {
    let id = h.get("Id").and_then(Value::as_str).unwrap_or("");
    let created = int(h, "Created");
    let size = int(h, "Size");
    let created_by = h
        .get("CreatedBy")
        .and_then(Value::as_str)
        .unwrap_or("")
        .replace('\t', " ");
    let created_at = rfc3339_local(created);
    // 2000-01-01: older timestamps are placeholders and shown as N/A.
    const EPOCH_2000: i64 = 946_684_800;
    let since = if !human {
        created_at.clone()
    } else if created <= EPOCH_2000 {
        "N/A".to_string()
    } else {
        human_since(created, now)
    };
    let mut m = Map::new();
    m.insert(
        "Comment".into(),
        json!(h.get("Comment").and_then(Value::as_str).unwrap_or("")),
    );
    m.insert("CreatedAt".into(), json!(created_at));
    m.insert(
        "CreatedBy".into(),
        json!(if trunc {
            ellipsis(&created_by, 45)
        } else {
            created_by
        }),
    );
    m.insert("CreatedSince".into(), json!(since));
    m.insert(
        "ID".into(),
        json!(if trunc {
            truncate_id(id)
        } else {
            id.to_string()
        }),
    );
    m.insert(
        "Size".into(),
        json!(if human {
            human_size_with_precision(size as f64, 3)
        } else {
            size.to_string()
        }),
    );
    Value::Object(m)
}

pub async fn history(app: &mut App, o: HistoryOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Exact(1))?;
    let items = app
        .client
        .get_json(&format!("/images/{}/history", o.args[0]), &Vec::new())
        .await?;
    let source = o
        .format
        .clone()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| TABLE_KEY.into());
    let format = if source == TABLE_KEY {
        if o.quiet {
            QUIET_FORMAT
        } else if !o.human {
            HISTORY_TABLE_NON_HUMAN
        } else {
            HISTORY_TABLE
        }
    } else {
        &source
    };
    let now = chrono::Utc::now();
    let rows: Vec<Value> = items
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| history_row(h, !o.no_trunc, o.human, now))
        .collect();
    app.print(&render_rows(
        format,
        &rows,
        HISTORY_HEADER,
        "*image.historyContext",
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

    #[test]
    fn history_rows() {
        let h = json!({"Id": "<missing>", "Created": 1_700_000_000, "CreatedBy": "/bin/sh -c #(nop) \tCMD [\"sh\"] and a long tail of text", "Size": 0, "Comment": ""});
        let row = history_row(&h, true, true, now());
        assert_eq!(row["ID"], "<missing>");
        assert_eq!(
            row["CreatedBy"],
            "/bin/sh -c #(nop)  CMD [\"sh\"] and a long tai…"
        );
        assert_eq!(row["Size"], "0B");
        let raw = history_row(&h, false, false, now());
        assert_eq!(raw["Size"], "0");
        assert_eq!(raw["CreatedSince"], raw["CreatedAt"]);
    }
}
