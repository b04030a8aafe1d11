//! `berth tag` / `berth image tag`.

use berth_oci::Reference;

use crate::cli::{check_args, Arity, TagOpts};
use crate::client::Query;
use crate::commands::App;
use crate::error::{CliError, Result};

fn is_64_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// docker's client-side checks in `ImageTag`, then `POST /images/{source}/tag`.
pub async fn tag(app: &mut App, o: TagOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Exact(2))?;
    let (source, target) = (&o.args[0], &o.args[1]);
    let invalid = |r: &str, e: &dyn std::fmt::Display| {
        CliError::other(format!(
            "Error parsing reference: \"{r}\" is not a valid repository/tag: {e}"
        ))
    };
    if !is_64_hex(source) {
        Reference::parse_normalized(source).map_err(|e| invalid(source, &e))?;
    }
    let target_ref = Reference::parse_normalized(target).map_err(|e| invalid(target, &e))?;
    if target_ref.digest().is_some() {
        return Err(CliError::other(
            "refusing to create a tag with a digest reference",
        ));
    }
    let target_ref = target_ref.with_default_tag();
    let mut query: Query = vec![("repo", target_ref.name())];
    if let Some(t) = target_ref.tag() {
        query.push(("tag", t.to_string()));
    }
    app.client
        .post(&format!("/images/{source}/tag"), &query)
        .await?;
    Ok(())
}
