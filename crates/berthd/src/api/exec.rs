//! `/containers/{id}/exec` and `/exec/{id}/…`: sessions run by the runtime's exec helper
//! (a child of the daemon), streamed over the hijacked connection — raw with a terminal,
//! multiplexed with Docker's 8-byte frame headers without one.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::query::Query;
use super::{json_response, ApiError, ApiResult};
use crate::containers::exec::Exec;
use crate::daemon::Daemon;

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

pub async fn create(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let c = d.containers.get(&id)?;
    let rec = c.record();
    let exec = d.execs.create(&rec, &id, &body)?;
    d.containers.prime_cgroup_join();
    d.container_event(
        &rec,
        &format!("exec_create: {}", exec.config.cmd.join(" ")),
        &[("execID", exec.id.clone())],
    );
    Ok(json_response(StatusCode::CREATED, &json!({"Id": exec.id})))
}

pub async fn inspect(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult {
    let exec = d.execs.get(&id)?;
    Ok(json_response(StatusCode::OK, &exec.inspect()))
}

pub async fn resize(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let exec = d.execs.get(&id)?;
    let (h, w) = size_query(raw.as_deref())?;
    let pty = exec.state().pty.clone();
    if let Some(pty) = pty {
        berth_runtime::set_window_size(&*pty, h, w)
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok(StatusCode::OK.into_response())
}

pub fn size_query(raw: Option<&str>) -> Result<(u16, u16), ApiError> {
    let q = Query::parse(raw);
    let n = |k: &str| -> Result<u16, ApiError> {
        q.get(k)
            .unwrap_or("0")
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid {k} value")))
    };
    Ok((n("h")?, n("w")?))
}

/// The exec helper with the session's standard streams.
struct Session {
    child: tokio::process::Child,
    pty: Option<Arc<OwnedFd>>,
}

async fn spawn(d: &Daemon, exec: &Exec, detach: bool) -> Result<Session, ApiError> {
    let c = d.containers.get(&exec.config.container_id)?;
    let rec = c.record();
    if rec.state.status != "running" || rec.state.pid <= 0 {
        return Err(ApiError::new(
            berth_errors::ErrorKind::Conflict,
            format!("Container {} is not running", rec.id),
        ));
    }
    let cfg = &exec.config;
    // The terminal is opened inside the container; the runtime sends its master to a
    // socket we listen on.
    let console = if cfg.tty && !detach {
        Some(d.containers.console_listener()?)
    } else {
        None
    };
    let (_, mut cmd) = d.containers.prepare_exec(
        &rec,
        cfg,
        &format!("exec-{}", exec.id),
        console.as_ref().map(|(_, path)| path.as_path()),
    )?;
    cmd.kill_on_drop(false);
    if detach {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    } else if cfg.tty {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
    } else {
        let pick = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
        cmd.stdin(pick(cfg.attach_stdin))
            .stdout(pick(cfg.attach_stdout))
            .stderr(pick(cfg.attach_stderr));
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| ApiError::internal(format!("starting the exec helper: {e}")))?;
    // The command holds the helper's end of the socket until dropped.
    drop(cmd);
    let mut pty = None;
    if let Some((listener, path)) = console {
        let master = receive_console(&listener, &mut child).await;
        let _ = std::fs::remove_file(&path);
        match master {
            Some(master) => {
                if let Some((h, w)) = cfg.console_size {
                    let _ = berth_runtime::set_window_size(&master, h, w);
                }
                pty = Some(Arc::new(master));
            }
            None => {
                // No terminal: the helper failed and says why on stderr.
                let mut msg = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut msg).await;
                }
                let _ = child.wait().await;
                return Err(ApiError::internal(msg.trim().to_string()));
            }
        }
    }
    Ok(Session { child, pty })
}

/// The terminal's master from the runtime, or `None` when the runtime exited first.
async fn receive_console(
    listener: &tokio::net::UnixListener,
    child: &mut tokio::process::Child,
) -> Option<OwnedFd> {
    let stream = tokio::select! {
        r = listener.accept() => r.ok()?.0,
        _ = child.wait() => return None,
    };
    let stream = stream.into_std().ok()?;
    stream.set_nonblocking(false).ok()?;
    tokio::task::spawn_blocking(move || berth_runtime::console::receive(&stream).ok())
        .await
        .ok()
        .flatten()
}

/// Records the exit and removes the session's process file.
async fn finish(d: &Arc<Daemon>, exec: &Exec, mut child: tokio::process::Child) {
    use std::os::unix::process::ExitStatusExt;
    let code = match child.wait().await {
        Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        Err(_) => 126,
    };
    {
        let mut st = exec.state();
        st.running = false;
        st.exit_code = Some(code);
        st.pty = None;
    }
    let _ = exec.done.send(true);
    let _ = std::fs::remove_file(
        d.containers
            .bundle(&exec.config.container_id)
            .join(format!("exec-{}.json", exec.id)),
    );
    if let Ok(c) = d.containers.get(&exec.config.container_id) {
        d.container_event(
            &c.record(),
            "exec_die",
            &[("execID", exec.id.clone()), ("exitCode", code.to_string())],
        );
    }
}

pub async fn start(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult {
    let upgrade = hyper::upgrade::on(&mut req);
    let upgrade_requested = req.headers().get(header::UPGRADE).is_some();
    // The body is read before any error answer: a client still writing it would
    // otherwise meet a closed connection instead of the error.
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let exec = d.execs.get(&id)?;
    let body = parse_body(&body)?;
    let detach = body.get("Detach").and_then(Value::as_bool).unwrap_or(false);
    {
        let mut st = exec.state();
        if st.started {
            return Err(ApiError::new(
                berth_errors::ErrorKind::Conflict,
                format!("Error: Exec command {} is already running", exec.id),
            ));
        }
        st.started = true;
    }
    let mut session = match spawn(&d, &exec, detach).await {
        Ok(s) => s,
        Err(e) => {
            exec.state().started = false;
            return Err(e);
        }
    };
    {
        let mut st = exec.state();
        st.running = true;
        st.pid = session.child.id().map(|p| p as i32).unwrap_or(0);
        st.pty = session.pty.clone();
    }
    if let Ok(c) = d.containers.get(&exec.config.container_id) {
        d.container_event(
            &c.record(),
            &format!("exec_start: {}", exec.config.cmd.join(" ")),
            &[("execID", exec.id.clone())],
        );
    }
    if detach {
        tokio::spawn(async move { finish(&d, &exec, session.child).await });
        return Ok(StatusCode::OK.into_response());
    }
    let tty = exec.config.tty;
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            finish(&d, &exec, session.child).await;
            return;
        };
        let client = TokioIo::new(upgraded);
        let (cr, mut cw) = tokio::io::split(client);
        match session.pty.take() {
            Some(master) => pump_tty(cr, &mut cw, &master).await,
            None => pump_pipes(cr, &mut cw, &mut session.child).await,
        }
        // The exit code is recorded before the stream ends: clients ask for it (exec
        // inspect) as soon as they see the end.
        finish(&d, &exec, session.child).await;
        let _ = cw.shutdown().await;
    });
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let status = if upgrade_requested {
        StatusCode::SWITCHING_PROTOCOLS
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONNECTION, "Upgrade"),
            (header::UPGRADE, "tcp"),
        ],
    )
        .into_response())
}

/// Terminal session: bytes both ways, unframed, until the terminal closes (reading the
/// master fails with EIO once the last holder of the slave side is gone).
async fn pump_tty<R, W>(mut cr: R, cw: &mut W, master: &Arc<OwnedFd>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    // tokio's File runs each read on its blocking pool: a terminal cannot be registered
    // with the reactor without unsafe code, and sessions are few.
    let (Ok(r), Ok(w)) = (master.try_clone(), master.try_clone()) else {
        return;
    };
    let mut pr = tokio::fs::File::from_std(std::fs::File::from(r));
    let mut pw = tokio::fs::File::from_std(std::fs::File::from(w));
    let input = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut pw).await;
    });
    let _ = tokio::io::copy(&mut pr, cw).await;
    input.abort();
}

/// Pipe session: stdout and stderr framed onto the client, the client's bytes to stdin
/// (closed when the client half-closes).
async fn pump_pipes<R, W>(mut cr: R, cw: &mut W, child: &mut tokio::process::Child)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let input = child.stdin.take().map(|mut stdin| {
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut cr, &mut stdin).await;
            let _ = stdin.shutdown().await;
        })
    });
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let mut obuf = vec![0u8; 32 * 1024];
    let mut ebuf = vec![0u8; 32 * 1024];
    let mut client_ok = true;
    while out.is_some() || err.is_some() {
        let (stream, n) = tokio::select! {
            r = async { out.as_mut().unwrap().read(&mut obuf).await }, if out.is_some() => {
                match r { Ok(n) if n > 0 => (1u8, n), _ => { out = None; continue; } }
            }
            r = async { err.as_mut().unwrap().read(&mut ebuf).await }, if err.is_some() => {
                match r { Ok(n) if n > 0 => (2u8, n), _ => { err = None; continue; } }
            }
        };
        if !client_ok {
            continue; // keep draining so the program never blocks on a full pipe
        }
        let data = if stream == 1 { &obuf[..n] } else { &ebuf[..n] };
        let mut frame = Vec::with_capacity(8 + n);
        frame.extend_from_slice(&[stream, 0, 0, 0]);
        frame.extend_from_slice(&(n as u32).to_be_bytes());
        frame.extend_from_slice(data);
        client_ok = cw.write_all(&frame).await.is_ok();
    }
    let _ = cw.flush().await;
    if let Some(t) = input {
        t.abort();
    }
}
