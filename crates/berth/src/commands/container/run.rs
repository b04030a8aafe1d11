//! `run`, `create` and `start`: docker's create → attach → wait → start flow.

use std::io::IsTerminal;

use berth_oci::Reference;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Response;
use serde_json::{json, Value};

use super::config::{self, go_open_error, ContainerConfig};
use super::tty::{self, StreamEnd, Streams};
use crate::cli::{check_args, Arity, ContainerFlags, CreateOpts, RunOpts, StartOpts};
use crate::client::{read_json, version_less, Client, Hijacked, Query};
use crate::commands::{flags_supported, App, FlagNeed};
use crate::error::{CliError, Result};
use crate::format::jsonstream::{Display, JsonSplitter};

/// docker's `withHelp`: "berth: <err>" plus a pointer to the command's help.
fn with_help(err: &str, command: &str) -> String {
    format!("berth: {err}\n\nRun 'berth {command} --help' for more information")
}

/// docker's `toStatusError`: 127 when the command is not found, 126 when it cannot
/// be executed, 125 for any other failure of the daemon.
pub fn to_status_error(e: CliError) -> CliError {
    let msg = e.to_string();
    let code = if msg.contains("executable file not found")
        || msg.contains("no such file or directory")
        || msg.contains("system cannot find the file specified")
    {
        127
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        126
    } else {
        125
    };
    CliError::status(code, with_help(&msg, "run"))
}

fn validate_pull(pull: &str, command: &str) -> Result<()> {
    if matches!(pull, "always" | "missing" | "never" | "") {
        return Ok(());
    }
    Err(CliError::status(
        125,
        with_help(
            &format!("invalid pull option: '{pull}': must be one of \"always\", \"missing\" or \"never\""),
            command,
        ),
    ))
}

/// The terminal size docker sends as `ConsoleSize` (`[height, width]`, zeros when
/// stdout is not a terminal).
fn console_size() -> [u16; 2] {
    let (h, w) = tty::tty_size();
    [h, w]
}

/// `--cidfile`: created before the container, removed again unless written.
struct CidFile {
    path: Option<String>,
    written: bool,
}

impl CidFile {
    fn new(path: Option<&str>) -> Result<CidFile> {
        let Some(path) = path.filter(|p| !p.is_empty()) else {
            return Ok(CidFile {
                path: None,
                written: false,
            });
        };
        if std::path::Path::new(path).exists() {
            return Err(CliError::other(format!(
                "container ID file found, make sure the other container isn't running or delete {path}"
            )));
        }
        std::fs::File::create(path).map_err(|e| {
            CliError::other(format!(
                "failed to create the container ID file: {}",
                go_open_error(path, &e)
            ))
        })?;
        Ok(CidFile {
            path: Some(path.to_string()),
            written: false,
        })
    }

    fn write(&mut self, id: &str) -> Result<()> {
        if let Some(path) = &self.path {
            std::fs::write(path, id).map_err(|e| {
                CliError::other(format!("failed to write the container ID to the file: {e}"))
            })?;
            self.written = true;
        }
        Ok(())
    }
}

impl Drop for CidFile {
    fn drop(&mut self) {
        if let (Some(path), false) = (&self.path, self.written) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `POST /images/create?fromImage=...`, its progress shown on stderr (docker's
/// `pullImage` for run/create).
async fn pull_image(app: &mut App, reference: &Reference, f: &ContainerFlags) -> Result<()> {
    let tag = match (reference.tag(), reference.digest()) {
        (_, Some(d)) => d.to_string(),
        (Some(t), None) => t.to_string(),
        (None, None) => "latest".to_string(),
    };
    let mut query: Query = vec![("fromImage", reference.name()), ("tag", tag)];
    if let Some(p) = f.platform.as_ref().filter(|p| !p.is_empty()) {
        query.push(("platform", p.to_lowercase()));
    }
    let resp = app
        .client
        .post_with_headers("/images/create", &query, &[("x-registry-auth", "e30=")])
        .await?;
    let mut body = resp.into_body();
    let mut splitter = JsonSplitter::default();
    let terminal = std::io::stderr().is_terminal();
    let mut display = Display::new(terminal, 200);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::other(format!("error reading response: {e}")))?;
        let Some(chunk) = frame.data_ref() else {
            continue;
        };
        for msg in splitter.push(chunk)? {
            let mut buf = Vec::new();
            let result = display.message(&msg, &mut buf);
            if !f.quiet {
                app.eprint(&String::from_utf8_lossy(&buf));
            }
            result?;
        }
    }
    splitter.finish()
}

fn is_64_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The `run`/`create` flags that older daemons, or other platforms, do not support.
fn flag_needs(f: &ContainerFlags) -> Vec<FlagNeed> {
    let v = FlagNeed::version;
    let windows = |name, set| FlagNeed::ostype(name, set, "windows");
    vec![
        v("annotation", !f.annotation.is_empty(), "1.43"),
        v("cgroupns", f.cgroupns.is_some(), "1.41"),
        v("cpu-rt-period", f.cpu_rt_period.is_some(), "1.25"),
        v("cpu-rt-runtime", f.cpu_rt_runtime.is_some(), "1.25"),
        v("cpus", f.cpus.is_some(), "1.25"),
        v(
            "health-start-interval",
            f.health_start_interval.is_some(),
            "1.44",
        ),
        v(
            "health-start-period",
            f.health_start_period.is_some(),
            "1.29",
        ),
        v("init", f.init.is_some(), "1.25"),
        v("platform", f.platform.is_some(), "1.32"),
        v("stop-timeout", f.stop_timeout.is_some(), "1.25"),
        windows("cpu-count", f.cpu_count.is_some()),
        windows("cpu-percent", f.cpu_percent.is_some()),
        windows("io-maxbandwidth", f.io_maxbandwidth.is_some()),
        windows("io-maxiops", f.io_maxiops.is_some()),
    ]
}

/// What the moby client changes in a create request for the negotiated API version.
fn adjust_for_version(body: &mut Value, version: &str, platform: Option<&str>) -> Result<()> {
    let older = |v: &str| version_less(version, v);
    let endpoint_mac = body
        .pointer("/NetworkingConfig/EndpointsConfig")
        .and_then(Value::as_object)
        .is_some_and(|eps| {
            eps.values().any(|ep| {
                ep.get("MacAddress")
                    .and_then(Value::as_str)
                    .is_some_and(|m| !m.is_empty())
            })
        });
    if older("1.44") && endpoint_mac {
        return Err(CliError::other(format!(
            "\"specify mac-address per network\" requires API version 1.44, but the berth daemon API version is {version}"
        )));
    }
    let Some(m) = body.as_object_mut() else {
        return Ok(());
    };
    if !older("1.44") {
        // The container-wide MAC address is deprecated from 1.44 on.
        m.remove("MacAddress");
    }
    let Some(hc) = m.get_mut("HostConfig").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if older("1.25") {
        hc.insert("AutoRemove".into(), json!(false));
    }
    if !older("1.42") || older("1.40") {
        hc.remove("KernelMemory");
    }
    if older("1.42") && platform.is_some_and(|p| p.to_lowercase().starts_with("linux")) {
        hc.insert("ConsoleSize".into(), json!([0, 0]));
    }
    if older("1.44") {
        let force_ro = hc
            .get("Mounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|m| m.pointer("/BindOptions/ReadOnlyForceRecursive").is_some());
        if force_ro {
            return Err(CliError::other(
                "bind-recursive=readonly requires API v1.44 or later",
            ));
        }
    }
    Ok(())
}

/// docker's `createContainer`: create, pulling the image first when it is missing.
async fn create_container(
    app: &mut App,
    cfg: &ContainerConfig,
    f: &ContainerFlags,
) -> Result<String> {
    let mut cid = CidFile::new(f.cidfile.as_deref())?;
    let image = f.image.clone().unwrap_or_default();
    let named = if is_64_hex(&image) {
        None
    } else {
        Some(
            Reference::parse_normalized(&image)
                .map_err(|e| CliError::other(e.to_string()))?
                .with_default_tag(),
        )
    };
    if f.pull == "always" {
        if let Some(r) = &named {
            pull_image(app, r, f).await?;
        }
    }
    let mut cfg = cfg.clone();
    let version = app.client.api_version().await?;
    adjust_for_version(&mut cfg.body, &version, f.platform.as_deref())?;
    let cfg = &cfg;
    let mut query: Query = Vec::new();
    if let Some(name) = f.name.as_ref().filter(|n| !n.is_empty()) {
        query.push(("name", name.clone()));
    }
    if let Some(p) = f.platform.as_ref().filter(|p| !p.is_empty()) {
        query.push(("platform", p.to_lowercase()));
    }
    let resp = match app
        .client
        .post_json("/containers/create", &query, &cfg.body)
        .await
    {
        Ok(resp) => resp,
        Err(e) if e.is_not_found() && named.is_some() && f.pull == "missing" => {
            let r = named.as_ref().expect("checked above");
            if !f.quiet {
                app.eprint(&format!(
                    "Unable to find image '{}' locally\n",
                    r.familiar_string()
                ));
            }
            pull_image(app, r, f).await?;
            app.client
                .post_json("/containers/create", &query, &cfg.body)
                .await?
        }
        Err(e) => return Err(e),
    };
    let created = read_json(resp).await?;
    let id = created
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    for w in created
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        app.eprint(&format!("WARNING: {}\n", w.as_str().unwrap_or("")));
    }
    cid.write(&id)?;
    Ok(id)
}

pub async fn create(app: &mut App, o: CreateOpts, path: &str) -> Result<()> {
    let f = &o.flags;
    if f.image.is_none() {
        check_args(path, &[], Arity::Min(1))?;
    }
    flags_supported(app, flag_needs(f)).await?;
    validate_pull(&f.pull, "create")?;
    let cfg = config::build(f, console_size())
        .map_err(|e| CliError::status(125, with_help(&e, "create")))?;
    let id = create_container(app, &cfg, f).await?;
    app.print(&format!("{id}\n"))
}

/// The exit code from a `/wait` response (docker's `waitExitOrRemoved`): 125 when
/// waiting failed.
pub(super) async fn wait_status(wait: Result<Response<Incoming>>) -> i32 {
    let resp = match wait {
        Ok(resp) => resp,
        Err(e) => {
            tty::log("error", &format!("error waiting for container: {e}"));
            return 125;
        }
    };
    match read_json(resp).await {
        Ok(v) => {
            let err = v
                .get("Error")
                .and_then(|e| e.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if !err.is_empty() {
                tty::log("error", &format!("Error waiting for container: {err}"));
                return 125;
            }
            v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0) as i32
        }
        Err(e) => {
            tty::log("error", &format!("error waiting for container: {e}"));
            125
        }
    }
}

/// docker's `ForwardAllSignals`: signals the CLI receives are sent to the container.
pub(super) fn forward_signals(client: Client, id: String) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let mut client = client;
        let kinds = [
            (SignalKind::interrupt(), "INT"),
            (SignalKind::terminate(), "TERM"),
            (SignalKind::hangup(), "HUP"),
            (SignalKind::quit(), "QUIT"),
            (SignalKind::user_defined1(), "USR1"),
            (SignalKind::user_defined2(), "USR2"),
        ];
        let mut streams = Vec::new();
        for (kind, name) in kinds {
            if let Ok(s) = signal(kind) {
                streams.push((s, name));
            }
        }
        loop {
            let next = futures_util::future::select_all(
                streams
                    .iter_mut()
                    .map(|(s, name)| Box::pin(async move { s.recv().await.map(|_| *name) })),
            )
            .await;
            let Some(name) = next.0 else { return };
            let query: Query = vec![("signal", name.to_string())];
            let _ = client.post(&format!("/containers/{id}/kill"), &query).await;
        }
    })
}

pub(super) fn attach_query(
    stdin: bool,
    stdout: bool,
    stderr: bool,
    detach_keys: Option<&str>,
) -> Query<'static> {
    let mut q: Query = vec![("stream", "1".into())];
    if stdin {
        q.push(("stdin", "1".into()));
    }
    if stdout {
        q.push(("stdout", "1".into()));
    }
    if stderr {
        q.push(("stderr", "1".into()));
    }
    if let Some(k) = detach_keys.filter(|k| !k.is_empty()) {
        q.push(("detachKeys", k.to_string()));
    }
    q
}

pub async fn run(app: &mut App, o: RunOpts, path: &str) -> Result<()> {
    let f = &o.flags;
    if f.image.is_none() {
        check_args(path, &[], Arity::Min(1))?;
    }
    flags_supported(app, flag_needs(f)).await?;
    validate_pull(&f.pull, "run")?;
    let mut cfg = config::build(f, console_size())
        .map_err(|e| CliError::status(125, with_help(&e, "run")))?;
    if !o.detach {
        if cfg.attach_stdin && cfg.tty && !app.stdin_is_terminal() {
            return Err(CliError::other("the input device is not a TTY"));
        }
    } else {
        if !f.attach.is_empty() {
            return Err(CliError::other(
                "conflicting options: cannot specify both --attach and --detach",
            ));
        }
        cfg.detach();
    }
    let id = create_container(app, &cfg, f)
        .await
        .map_err(to_status_error)?;
    let signals = o
        .sig_proxy
        .then(|| forward_signals(app.client.clone(), id.clone()));
    let attach = cfg.attach_stdin || cfg.attach_stdout || cfg.attach_stderr;
    if !attach {
        app.print(&format!("{id}\n"))?;
    }
    let conn = if attach {
        let query = attach_query(
            cfg.attach_stdin,
            cfg.attach_stdout,
            cfg.attach_stderr,
            o.detach_keys.as_deref(),
        );
        Some(
            app.client
                .hijack(&format!("/containers/{id}/attach"), &query)
                .await?,
        )
    } else {
        None
    };
    let condition = if cfg.auto_remove {
        "removed"
    } else {
        "next-exit"
    };
    let wait = app
        .client
        .post(
            &format!("/containers/{id}/wait"),
            &vec![("condition", condition.to_string())],
        )
        .await;
    if let Err(e) = app
        .client
        .post(&format!("/containers/{id}/start"), &Vec::new())
        .await
    {
        drop(conn);
        if cfg.auto_remove {
            wait_status(wait).await;
        }
        return Err(to_status_error(e));
    }
    let Some(conn) = conn else {
        return Ok(());
    };
    let resize = (cfg.tty && app.stdout_is_terminal())
        .then(|| tty::monitor_tty_size(&app.client, format!("/containers/{id}")));
    let streams = Streams {
        tty: cfg.tty,
        stdin: cfg.attach_stdin,
        stdout: cfg.attach_stdout,
        // With a TTY everything arrives on the one raw stream anyway.
        stderr: cfg.attach_stderr,
        detach_keys: o.detach_keys.clone(),
    };
    let status = stream_until_exit(conn, streams, wait).await;
    if let Some(r) = resize {
        r.abort();
    }
    if let Some(s) = signals {
        s.abort();
    }
    match status? {
        None => Ok(()),
        Some(0) => Ok(()),
        Some(code) => Err(CliError::status(code, "")),
    }
}

/// Streams until the output ends, then waits for the exit status, as docker's `run`
/// does; `None` when the user detached. When nothing is read from the container, its
/// exit ends the stream.
async fn stream_until_exit(
    conn: Hijacked,
    streams: Streams,
    wait: Result<Response<Incoming>>,
) -> Result<Option<i32>> {
    let output = streams.stdout || streams.stderr;
    let stream = tty::stream_io(conn, streams);
    tokio::pin!(stream);
    let status = wait_status(wait);
    tokio::pin!(status);
    tokio::select! {
        end = &mut stream => match end? {
            StreamEnd::Detached => Ok(None),
            StreamEnd::Done => Ok(Some(status.await)),
        },
        code = &mut status => {
            if output {
                // The output may still have to be read to the end.
                let _ = stream.await;
            }
            Ok(Some(code))
        }
    }
}

pub async fn start(app: &mut App, o: StartOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Min(1))?;
    if !(o.attach || o.interactive) {
        let mut failed = Vec::new();
        for name in &o.args {
            match app
                .client
                .post(&format!("/containers/{name}/start"), &Vec::new())
                .await
            {
                Ok(_) => app.print(&format!("{name}\n"))?,
                Err(e) => {
                    app.eprint(&format!("{e}\n"));
                    failed.push(name.clone());
                }
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        return Err(CliError::other(format!(
            "Error: failed to start containers: {}",
            failed.join(", ")
        )));
    }
    if o.args.len() > 1 {
        return Err(CliError::other(
            "you cannot start and attach multiple containers at once",
        ));
    }
    let info = app
        .client
        .get_json(&format!("/containers/{}/json", o.args[0]), &Vec::new())
        .await?;
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let flag = |section: &str, key: &str| {
        info.get(section)
            .and_then(|s| s.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let tty = flag("Config", "Tty");
    let stdin = o.interactive && flag("Config", "OpenStdin");
    let auto_remove = flag("HostConfig", "AutoRemove");
    let signals = (!tty).then(|| forward_signals(app.client.clone(), id.clone()));
    let query = attach_query(stdin, true, true, o.detach_keys.as_deref());
    let conn = app
        .client
        .hijack(&format!("/containers/{id}/attach"), &query)
        .await?;
    let condition = if auto_remove { "removed" } else { "next-exit" };
    let wait = app
        .client
        .post(
            &format!("/containers/{id}/wait"),
            &vec![("condition", condition.to_string())],
        )
        .await;
    if let Err(e) = app
        .client
        .post(&format!("/containers/{id}/start"), &Vec::new())
        .await
    {
        drop(conn);
        if auto_remove {
            wait_status(wait).await;
        }
        return Err(e);
    }
    let resize = (tty && app.stdout_is_terminal())
        .then(|| tty::monitor_tty_size(&app.client, format!("/containers/{id}")));
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
        return Ok(());
    }
    let status = wait_status(wait).await;
    if let Some(s) = signals {
        s.abort();
    }
    if status != 0 {
        return Err(CliError::status(status, ""));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_get_docker_exit_codes() {
        let daemon = |m: &str| CliError::Daemon {
            status: 400,
            message: m.into(),
        };
        let e = to_status_error(daemon("failed to create task for container: OCI runtime create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown"));
        assert_eq!(e.exit_code(), 127);
        assert_eq!(
            e.to_string(),
            "berth: Error response from daemon: failed to create task for container: OCI runtime create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown\n\nRun 'berth run --help' for more information"
        );
        assert_eq!(
            to_status_error(daemon("exec: \"/etc\": permission denied")).exit_code(),
            126
        );
        assert_eq!(to_status_error(daemon("No such image: x")).exit_code(), 125);
    }

    #[test]
    fn create_body_follows_the_api_version() {
        let body = || {
            json!({"Image": "busybox", "MacAddress": "92:d0:c6:0a:29:33", "OnBuild": null,
                   "HostConfig": {"AutoRemove": true, "ConsoleSize": [24, 80], "KernelMemory": 1024},
                   "NetworkingConfig": {"EndpointsConfig": {"default": {"MacAddress": "92:d0:c6:0a:29:33"}}}})
        };
        let mut b = body();
        adjust_for_version(&mut b, "1.47", None).unwrap();
        assert!(b.get("MacAddress").is_none());
        assert!(b["HostConfig"].get("KernelMemory").is_none());
        assert_eq!(b["HostConfig"]["ConsoleSize"], json!([24, 80]));
        let mut b = body();
        assert_eq!(
            adjust_for_version(&mut b, "1.41", None).unwrap_err().to_string(),
            "\"specify mac-address per network\" requires API version 1.44, but the berth daemon API version is 1.41"
        );
        let mut b = body();
        b["NetworkingConfig"]["EndpointsConfig"]["default"]["MacAddress"] = json!("");
        adjust_for_version(&mut b, "1.41", Some("linux/amd64")).unwrap();
        assert_eq!(b["MacAddress"], "92:d0:c6:0a:29:33");
        assert_eq!(b["HostConfig"]["KernelMemory"], 1024);
        assert_eq!(b["HostConfig"]["ConsoleSize"], json!([0, 0]));
    }

    #[test]
    fn attach_queries() {
        let q = attach_query(false, true, true, None);
        assert_eq!(
            crate::client::encode_query(&q),
            "?stderr=1&stdout=1&stream=1"
        );
        let q = attach_query(true, true, false, Some("ctrl-x"));
        assert_eq!(
            crate::client::encode_query(&q),
            "?detachKeys=ctrl-x&stdin=1&stdout=1&stream=1"
        );
    }
}
