//! Moving images in and out: `load`, `save` and `import`.

use std::io::Write;

use berth_oci::Reference;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Response};

use crate::cli::{check_args, Arity, ImportOpts, LoadOpts, SaveOpts};
use crate::client::{empty, reader_body, Query};
use crate::commands::App;
use crate::error::{CliError, Result};
use crate::format::jsonstream::{terminal_width, Display, JsonSplitter};

/// Prints a JSON-message stream as it arrives; an error message ends the command.
async fn display_stream(app: &App, resp: Response<Incoming>) -> Result<()> {
    let mut body = resp.into_body();
    let mut splitter = JsonSplitter::default();
    let terminal = app.stdout_is_terminal();
    let mut display = Display::new(terminal, if terminal { terminal_width() } else { 200 });
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::other(format!("error reading response: {e}")))?;
        let Some(chunk) = frame.data_ref() else {
            continue;
        };
        for msg in splitter.push(chunk)? {
            let mut buf = Vec::new();
            let result = display.message(&msg, &mut buf);
            app.print(&String::from_utf8_lossy(&buf))?;
            result?;
        }
    }
    splitter.finish()
}

/// Copies a response body to `out` as it arrives.
async fn copy_body(resp: Response<Incoming>, out: &mut dyn Write) -> Result<()> {
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::other(format!("error reading response: {e}")))?;
        if let Some(chunk) = frame.data_ref() {
            out.write_all(chunk)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn is_json_response(resp: &Response<Incoming>) -> bool {
    resp.headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct == "application/json")
}

fn open_error(path: &str, e: &std::io::Error) -> CliError {
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    CliError::other(format!("open {path}: {reason}"))
}

pub async fn load(app: &mut App, o: LoadOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::None)?;
    let body = match o.input.as_deref().filter(|s| !s.is_empty()) {
        None => {
            if app.stdin_is_terminal() {
                return Err(CliError::other(
                    "requested load from stdin, but stdin is empty",
                ));
            }
            reader_body(tokio::io::stdin())
        }
        Some(file) => {
            let f = tokio::fs::File::open(file)
                .await
                .map_err(|e| open_error(file, &e))?;
            reader_body(f)
        }
    };
    let quiet = o.quiet || !app.stdout_is_terminal();
    let query: Query = vec![("quiet", if quiet { "1" } else { "0" }.into())];
    let resp = app
        .client
        .request(
            Method::POST,
            "/images/load",
            &query,
            body,
            Some("application/x-tar"),
        )
        .await?;
    if is_json_response(&resp) {
        return display_stream(app, resp).await;
    }
    copy_body(resp, &mut std::io::stdout().lock()).await
}

pub async fn save(app: &mut App, o: SaveOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Min(1))?;
    let output = o.output.filter(|s| !s.is_empty());
    if output.is_none() && app.stdout_is_terminal() {
        return Err(CliError::other(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let query: Query = o.args.iter().map(|n| ("names", n.clone())).collect();
    let resp = app.client.get("/images/get", &query).await?;
    match output {
        None => copy_body(resp, &mut std::io::stdout().lock()).await,
        Some(file) => {
            // Like docker's atomic writer: a temporary file renamed into place when complete.
            let target = std::path::PathBuf::from(&file);
            let dir = target
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let tmp = dir.join(format!(".{name}.berth-save-{}", std::process::id()));
            let fail = |e: std::io::Error| CliError::other(format!("failed to save image: {e}"));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| {
                    CliError::other(format!(
                        "failed to save image: {}",
                        open_error(&tmp.display().to_string(), &e)
                    ))
                })?;
            let result = copy_body(resp, &mut f).await;
            if let Err(e) = result {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            set_mode_0600(&tmp);
            std::fs::rename(&tmp, &target).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                fail(e)
            })
        }
    }
}

fn set_mode_0600(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

pub async fn import(app: &mut App, o: ImportOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Min(1))?;
    let source = o.args[0].clone();
    let reference = o.args.get(1).cloned().unwrap_or_default();
    let (from_src, body, content_type) = if source == "-" {
        (
            "-".to_string(),
            reader_body(tokio::io::stdin()),
            Some("text/plain"),
        )
    } else if source.starts_with("http://") || source.starts_with("https://") {
        (source.clone(), empty(), None)
    } else {
        let f = tokio::fs::File::open(&source)
            .await
            .map_err(|e| open_error(&source, &e))?;
        ("-".to_string(), reader_body(f), Some("text/plain"))
    };
    if !reference.is_empty() {
        Reference::parse_normalized(&reference).map_err(|e| CliError::other(e.to_string()))?;
    }
    let mut query: Query = vec![("fromSrc", from_src)];
    if !reference.is_empty() {
        query.push(("repo", reference));
    }
    if let Some(m) = o.message.filter(|m| !m.is_empty()) {
        query.push(("message", m));
    }
    if let Some(p) = o.platform.filter(|p| !p.is_empty()) {
        query.push(("platform", p.to_lowercase()));
    }
    for c in o.change {
        query.push(("changes", c));
    }
    let resp = app
        .client
        .request(Method::POST, "/images/create", &query, body, content_type)
        .await?;
    display_stream(app, resp).await
}
