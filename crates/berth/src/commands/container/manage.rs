//! `rm`, `stop`, `kill` and `wait`: one request per container, results in order.

use serde_json::Value;

use crate::cli::{check_args, Arity, KillOpts, RmOpts, StopOpts, WaitOpts};
use crate::client::{read_json, version_less, Query};
use crate::commands::App;
use crate::error::{CliError, Result};

/// `POST /containers/{name}/{action}` for each name, printing the names that succeeded
/// and reporting the failures together at the end, as docker does.
pub async fn post_each(
    app: &mut App,
    names: &[String],
    action: &str,
    query: &Query<'_>,
) -> Result<()> {
    let mut errors = Vec::new();
    for name in names {
        let id = name.trim();
        if id.is_empty() {
            errors.push("invalid container name or ID: value is empty".to_string());
            continue;
        }
        match app
            .client
            .post(&format!("/containers/{id}/{action}"), query)
            .await
        {
            Ok(_) => app.print(&format!("{name}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    joined(errors)
}

/// docker's `errors.Join` of the failures (exit 1), or success.
pub fn joined(errors: Vec<String>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::other(errors.join("\n")))
    }
}

pub async fn remove(app: &mut App, o: RmOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Min(1))?;
    let mut query: Query = Vec::new();
    if o.volumes {
        query.push(("v", "1".into()));
    }
    if o.link {
        query.push(("link", "1".into()));
    }
    if o.force {
        query.push(("force", "1".into()));
    }
    let mut errors = Vec::new();
    for name in &o.args {
        let id = name.trim_matches('/');
        if id.is_empty() {
            errors.push("container name cannot be empty".to_string());
            continue;
        }
        match app
            .client
            .delete(&format!("/containers/{id}"), &query)
            .await
        {
            Ok(_) => app.print(&format!("{name}\n"))?,
            Err(e) if o.force && e.is_not_found() => app.eprint(&format!("{e}\n")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    joined(errors)
}

/// The query of `stop` and `restart` (`-t`, `--time`, `-s`), after their checks.
pub async fn stop_query(app: &mut App, o: &StopOpts, path: &str) -> Result<Query<'static>> {
    if o.time.is_some() {
        // pflag's notice for a deprecated flag, printed while parsing.
        app.print("Flag --time has been deprecated, use --timeout instead\n")?;
    }
    check_args(path, &o.args, Arity::Min(1))?;
    if o.time.is_some() && o.timeout.is_some() {
        return Err(CliError::other(
            "conflicting options: cannot specify both --timeout and --time",
        ));
    }
    let mut query: Query = Vec::new();
    if let Some(t) = o.timeout.or(o.time) {
        query.push(("t", t.to_string()));
    }
    if let Some(s) = o.signal.as_ref().filter(|s| !s.is_empty()) {
        // Older daemons do not know the parameter; docker leaves it out for them.
        let version = app.client.api_version().await?;
        if !version_less(&version, "1.42") {
            query.push(("signal", s.clone()));
        }
    }
    Ok(query)
}

pub async fn stop(app: &mut App, o: StopOpts, path: &str) -> Result<()> {
    let query = stop_query(app, &o, path).await?;
    post_each(app, &o.args, "stop", &query).await
}

pub async fn kill(app: &mut App, o: KillOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Min(1))?;
    let mut query: Query = Vec::new();
    if let Some(s) = o.signal.as_ref().filter(|s| !s.is_empty()) {
        query.push(("signal", s.clone()));
    }
    post_each(app, &o.args, "kill", &query).await
}

pub async fn wait(app: &mut App, o: WaitOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Min(1))?;
    let mut errors = Vec::new();
    for name in &o.args {
        let result = async {
            let resp = app
                .client
                .post(&format!("/containers/{name}/wait"), &Vec::new())
                .await?;
            read_json(resp).await
        }
        .await;
        match result {
            Ok(v) => {
                let code = v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0);
                app.print(&format!("{code}\n"))?;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    joined(errors)
}
