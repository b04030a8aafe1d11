//! `exec` and `attach`: streams to and from processes that are already running.

use serde_json::{json, Map, Value};

use super::config::parse_kv_file;
use super::run::{attach_query, forward_signals};
use super::tty::{self, StreamEnd, Streams};
use crate::cli::{check_args, Arity, AttachOpts, ExecOpts};
use crate::client::{read_json, version_less};
use crate::commands::{flags_supported, App, FlagNeed};
use crate::error::{CliError, Result};

/// moby/term's `EscapeError`, which `exec` and `attach` report as their error.
const ESCAPE_ERROR: &str = "read escape sequence";

fn empty_id() -> CliError {
    CliError::other("invalid container name or ID: value is empty")
}

/// `In.CheckTty`.
fn check_tty(app: &App, attach_stdin: bool, tty: bool) -> Result<()> {
    if tty && attach_stdin && !app.stdin_is_terminal() {
        return Err(CliError::other("the input device is not a TTY"));
    }
    Ok(())
}

/// docker's `ExecOptions` as its client marshals it.
fn exec_config(o: &ExecOpts, cmd: &[String], console: Option<[u16; 2]>) -> Result<Value> {
    let env_lookup = |k: &str| std::env::var(k).ok();
    let mut env = Vec::new();
    for file in &o.env_file {
        env.extend(parse_kv_file(file, Some(&env_lookup)).map_err(CliError::other)?);
    }
    env.extend(o.env.iter().cloned());
    let mut m = Map::new();
    m.insert("User".into(), json!(o.user.clone().unwrap_or_default()));
    m.insert("Privileged".into(), json!(o.privileged));
    m.insert("Tty".into(), json!(o.tty));
    if let Some(size) = console {
        m.insert("ConsoleSize".into(), json!(size));
    }
    let attached = !o.detach;
    m.insert("AttachStdin".into(), json!(attached && o.interactive));
    m.insert("AttachStderr".into(), json!(attached));
    m.insert("AttachStdout".into(), json!(attached));
    m.insert("Detach".into(), json!(o.detach));
    m.insert(
        "DetachKeys".into(),
        json!(o.detach_keys.clone().unwrap_or_default()),
    );
    m.insert(
        "Env".into(),
        if env.is_empty() {
            Value::Null
        } else {
            json!(env)
        },
    );
    m.insert(
        "WorkingDir".into(),
        json!(o.workdir.clone().unwrap_or_default()),
    );
    m.insert("Cmd".into(), json!(cmd));
    Ok(Value::Object(m))
}

pub async fn exec(app: &mut App, o: ExecOpts, path: &str) -> Result<()> {
    let args: Vec<String> = o.container.iter().chain(&o.command).cloned().collect();
    check_args(path, &args, Arity::Min(2))?;
    flags_supported(
        app,
        vec![
            FlagNeed::version("env", !o.env.is_empty(), "1.25"),
            FlagNeed::version("env-file", !o.env_file.is_empty(), "1.25"),
            FlagNeed::version("workdir", o.workdir.is_some(), "1.35"),
        ],
    )
    .await?;
    let container = args[0].trim().to_string();
    let cmd = &args[1..];
    // The env files are read before anything is sent.
    exec_config(&o, cmd, None)?;
    if container.is_empty() {
        return Err(empty_id());
    }
    // An inspect first, so that "no such container" wins over the TTY check.
    app.client
        .get_json(&format!("/containers/{container}/json"), &Vec::new())
        .await?;
    let attach_stdin = !o.detach && o.interactive;
    if !o.detach {
        check_tty(app, attach_stdin, o.tty)?;
    }
    let version = app.client.api_version().await?;
    let console = (o.tty && !version_less(&version, "1.42")).then(|| {
        let (h, w) = tty::tty_size();
        [h, w]
    });
    let config = exec_config(&o, cmd, console)?;
    let resp = app
        .client
        .post_json(
            &format!("/containers/{container}/exec"),
            &Vec::new(),
            &config,
        )
        .await?;
    let created = read_json(resp).await?;
    let exec_id = created
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if exec_id.is_empty() {
        return Err(CliError::other("exec ID empty"));
    }
    let mut start = Map::new();
    start.insert("Detach".into(), json!(o.detach));
    start.insert("Tty".into(), json!(o.tty));
    if let Some(size) = console {
        start.insert("ConsoleSize".into(), json!(size));
    }
    let start = Value::Object(start);
    if o.detach {
        app.client
            .post_json(&format!("/exec/{exec_id}/start"), &Vec::new(), &start)
            .await?;
        return Ok(());
    }
    let conn = app
        .client
        .hijack_json(&format!("/exec/{exec_id}/start"), &start)
        .await?;
    let resize = (o.tty && app.stdin_is_terminal())
        .then(|| tty::monitor_tty_size(&app.client, format!("/exec/{exec_id}")));
    let streams = Streams {
        tty: o.tty,
        stdin: attach_stdin,
        stdout: true,
        stderr: true,
        detach_keys: o.detach_keys.clone(),
    };
    let end = tty::stream_io(conn, streams).await;
    if let Some(r) = resize {
        r.abort();
    }
    if end? == StreamEnd::Detached {
        return Err(CliError::other(ESCAPE_ERROR));
    }
    // docker exits with the exec's own exit code.
    let inspect = match app
        .client
        .get_json(&format!("/exec/{exec_id}/json"), &Vec::new())
        .await
    {
        Ok(v) => v,
        Err(CliError::Connect(_)) => return Err(CliError::status(255, "")),
        Err(e) => return Err(e),
    };
    match inspect.get("ExitCode").and_then(Value::as_i64).unwrap_or(0) {
        0 => Ok(()),
        code => Err(CliError::status(code as i32, "")),
    }
}

/// docker's `inspectContainerAndCheckState`.
async fn inspect_running(app: &mut App, container: &str) -> Result<Value> {
    let info = app
        .client
        .get_json(&format!("/containers/{container}/json"), &Vec::new())
        .await?;
    let state = |key: &str| {
        info.get("State")
            .and_then(|s| s.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    if !state("Running") {
        return Err(CliError::other(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if state("Paused") {
        return Err(CliError::other(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if state("Restarting") {
        return Err(CliError::other(
            "You cannot attach to a restarting container, wait until it is running",
        ));
    }
    Ok(info)
}

pub async fn attach(app: &mut App, o: AttachOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Exact(1))?;
    let container = o.args[0].trim().to_string();
    if container.is_empty() {
        return Err(empty_id());
    }
    // Waiting starts first, so that an exit right after attaching is not missed.
    let wait = app
        .client
        .post(&format!("/containers/{container}/wait"), &Vec::new())
        .await;
    let info = inspect_running(app, &container).await?;
    let config = |key: &str| {
        info.get("Config")
            .and_then(|c| c.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let tty = config("Tty");
    check_tty(app, !o.no_stdin, tty)?;
    let stdin = !o.no_stdin && config("OpenStdin");
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(&container)
        .to_string();
    let signals = (o.sig_proxy && !tty).then(|| forward_signals(app.client.clone(), id.clone()));
    let query = attach_query(stdin, true, true, o.detach_keys.as_deref());
    let conn = app
        .client
        .hijack(&format!("/containers/{container}/attach"), &query)
        .await?;
    // The container may have stopped in between; attaching to it would hang.
    inspect_running(app, &container).await?;
    let resize = if tty && app.stdout_is_terminal() {
        Some(tty::nudge_and_monitor(&app.client, format!("/containers/{container}")).await)
    } else {
        None
    };
    let streams = Streams {
        tty,
        stdin,
        stdout: true,
        stderr: true,
        detach_keys: o.detach_keys.clone(),
    };
    let end = tty::stream_io(conn, streams).await;
    if let Some(r) = resize {
        r.abort();
    }
    if end? == StreamEnd::Detached {
        return Err(CliError::other(ESCAPE_ERROR));
    }
    let wait = match wait {
        Ok(resp) => read_json(resp).await,
        Err(e) => Err(e),
    };
    if let Some(s) = signals {
        s.abort();
    }
    let v = wait?;
    let err = v
        .get("Error")
        .and_then(|e| e.get("Message"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if !err.is_empty() {
        return Err(CliError::other(err));
    }
    match v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0) {
        0 => Ok(()),
        code => Err(CliError::status(code as i32, "")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::FromArgMatches;

    fn opts(args: &[&str]) -> ExecOpts {
        let mut argv = vec!["berth", "exec"];
        argv.extend(args);
        let argv: Vec<String> = argv.into_iter().map(String::from).collect();
        let argv = crate::cli::protect_dashdash(&argv);
        let m = crate::cli::command().try_get_matches_from(argv).unwrap();
        match Cli::from_arg_matches(&m).unwrap().command {
            Some(Command::Exec(o)) => o,
            _ => panic!("not exec"),
        }
    }

    #[test]
    fn exec_body_like_docker() {
        let o = opts(&[
            "-it", "-e", "A=1", "-u", "1", "-w", "/tmp", "c", "sh", "-c", "x",
        ]);
        assert_eq!(o.container.as_deref(), Some("c"));
        assert_eq!(o.command, ["sh", "-c", "x"]);
        let body = exec_config(&o, &o.command, Some([24, 80])).unwrap();
        assert_eq!(
            body.to_string(),
            r#"{"User":"1","Privileged":false,"Tty":true,"ConsoleSize":[24,80],"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":["A=1"],"WorkingDir":"/tmp","Cmd":["sh","-c","x"]}"#
        );
        let o = opts(&["-d", "-i", "c", "true"]);
        let body = exec_config(&o, &o.command, None).unwrap();
        assert_eq!(
            body.to_string(),
            r#"{"User":"","Privileged":false,"Tty":false,"AttachStdin":false,"AttachStderr":false,"AttachStdout":false,"Detach":true,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["true"]}"#
        );
        // Flags end at the container name.
        let o = opts(&["c", "ls", "-l", "--", "-d"]);
        assert!(!o.detach);
        assert_eq!(o.command, ["ls", "-l", "--", "-d"]);
    }
}
