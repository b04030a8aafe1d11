//! `berth rmi` / `berth image rm` and `berth image prune`.

use serde_json::Value;

use crate::cli::{check_args, Arity, PruneOpts, RmiOpts};
use crate::client::{read_json, Query};
use crate::commands::{confirm, parse_filters, App};
use crate::error::{CliError, Result};
use crate::format::units::human_size;

pub async fn remove(app: &mut App, o: RmiOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Min(1))?;
    let mut query: Query = Vec::new();
    if o.force {
        query.push(("force", "1".into()));
    }
    if o.no_prune {
        query.push(("noprune", "1".into()));
    }
    let mut errors: Vec<String> = Vec::new();
    let mut fatal = false;
    for name in &o.args {
        let result = async {
            let resp = app
                .client
                .delete(&format!("/images/{name}"), &query)
                .await?;
            read_json(resp).await
        }
        .await;
        match result {
            Ok(items) => {
                let mut text = String::new();
                for item in items.as_array().into_iter().flatten() {
                    let field = |k: &str| {
                        item.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    };
                    if !field("Deleted").is_empty() {
                        text.push_str(&format!("Deleted: {}\n", field("Deleted")));
                    } else {
                        text.push_str(&format!("Untagged: {}\n", field("Untagged")));
                    }
                }
                app.print(&text)?;
            }
            Err(e) => {
                fatal |= !e.is_not_found();
                errors.push(e.to_string());
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let joined = errors.join("\n");
    if !o.force || fatal {
        return Err(CliError::other(joined));
    }
    app.eprint(&format!("{joined}\n"));
    Ok(())
}

pub async fn prune(app: &mut App, o: PruneOpts) -> Result<()> {
    let path = "image prune";
    let mut filters = parse_filters(path, &o.filter, "--filter")?;
    check_args(path, &o.args, Arity::None)?;
    filters.add("dangling", if o.all { "false" } else { "true" });
    let warning = if o.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    // A declined prompt is a cancellation: docker prints nothing and exits 0.
    if !o.force && !confirm(app, warning)? {
        return Ok(());
    }
    let mut query: Query = Vec::new();
    if let Some(f) = filters.to_query() {
        query.push(("filters", f));
    }
    let resp = app.client.post("/images/prune", &query).await?;
    let report = read_json(resp).await?;
    let deleted = report
        .get("ImagesDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut reclaimed = 0u64;
    let mut text = String::new();
    if !deleted.is_empty() {
        text.push_str("Deleted Images:\n");
        for item in &deleted {
            let field = |k: &str| {
                item.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            if !field("Untagged").is_empty() {
                text.push_str(&format!("untagged: {}\n", field("Untagged")));
            } else {
                text.push_str(&format!("deleted: {}\n", field("Deleted")));
            }
        }
        text.push('\n');
        reclaimed = report
            .get("SpaceReclaimed")
            .and_then(Value::as_u64)
            .unwrap_or(0);
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(reclaimed as f64)
    ));
    app.print(&text)
}
