//! Files in and out of a container's root file system: the stat, tar and extraction of
//! `docker cp` (`HEAD`/`GET`/`PUT /containers/{id}/archive`), `docker export`, and the
//! copy of image content into a new volume (copy-up).
//!
//! The work is done by `berth-runc archive`, whose root directory is the container's
//! (see its module docs): the daemon never resolves a path of the container itself. A
//! running container's root file system is its mounted overlay; a created or exited one
//! is mounted for the operation under the container's `op` lock (so a start cannot race
//! it) and unmounted afterwards. The container's volumes and binds, and its
//! `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`, are mounted where the container
//! sees them (not for export, which is of the root file system alone, as Docker's).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use axum::body::Body;
use berth_errors::ErrorKind;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::api::ApiError;
use crate::containers::mounts::MountKind;
use crate::containers::{Container, Record};
use crate::daemon::Daemon;

/// `berth-runc archive` exit statuses (see its module docs).
const EXIT_NOT_FOUND: i32 = 2;
const EXIT_INVALID: i32 = 3;
const EXIT_READ_ONLY: i32 = 4;
const EXIT_NOT_MOUNTED: i32 = 5;

/// The operations of `berth-runc archive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Stat,
    Get,
    Put,
    Export,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Stat => "stat",
            Op::Get => "get",
            Op::Put => "put",
            Op::Export => "export",
        }
    }
}

/// How a failed `berth-runc archive` is answered.
struct Failed {
    code: i32,
    message: String,
}

impl Failed {
    /// Docker's status codes and messages for `path` in the container called `name`
    /// (as the request named it).
    fn into_api(self, name: &str, path: &str) -> ApiError {
        match self.code {
            EXIT_NOT_FOUND => ApiError::not_found(format!(
                "Could not find the file {path} in container {name}"
            )),
            EXIT_INVALID | EXIT_READ_ONLY => ApiError::bad_request(self.message),
            _ => ApiError::internal(self.message),
        }
    }
}

/// `%` and `:` escaped for `--mount SRC:DEST[:ro]`.
fn escape(p: &str) -> String {
    p.replace('%', "%25").replace(':', "%3A")
}

/// Base64 (standard alphabet, padded), for the stat header.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The value of `X-Docker-Container-Path-Stat`: base64 of the stat's JSON.
pub fn stat_header(stat_json: &str) -> String {
    base64(stat_json.trim_end().as_bytes())
}

/// A container's root file system, mounted while this lives.
struct RootLease<'a> {
    rootfs: PathBuf,
    /// Mounted by us: unmounted on drop.
    unmount: Option<(&'a crate::containers::Containers, String)>,
    _op: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl Drop for RootLease<'_> {
    fn drop(&mut self) {
        if let Some((cs, id)) = self.unmount.take() {
            cs.unmount_rootfs(&id);
        }
    }
}

/// What a helper run printed and how it ended.
struct Finished {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

fn read_stderr(child: &mut Child) -> tokio::task::JoinHandle<String> {
    let mut err = child.stderr.take();
    tokio::spawn(async move {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.take(64 * 1024).read_to_string(&mut s).await;
        }
        s
    })
}

fn last_line(stderr: &str) -> String {
    stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("the archive helper failed")
        .trim()
        .to_string()
}

async fn finish(mut child: Child, stderr: tokio::task::JoinHandle<String>) -> Finished {
    let status = child.wait().await;
    let stderr = stderr.await.unwrap_or_default();
    let code = match status {
        Ok(s) => s.code().unwrap_or(1),
        Err(_) => 1,
    };
    Finished {
        code,
        stdout: Vec::new(),
        stderr,
    }
}

impl Daemon {
    /// The container's root file system for an archive operation: its overlay if it
    /// runs, else mounted now (under its `op` lock) and unmounted when the lease goes.
    /// `force`: mount under the lock even if it was seen running (it stopped meanwhile).
    async fn lease_root<'a>(
        &'a self,
        c: &'a Container,
        force: bool,
    ) -> Result<RootLease<'a>, ApiError> {
        let merged = self.containers.dir(&c.id).join("merged");
        if !force && c.record().state.status == "running" {
            return Ok(RootLease {
                rootfs: merged,
                unmount: None,
                _op: None,
            });
        }
        let guard = c.op.lock().await;
        let rec = c.record();
        if rec.state.status == "running" {
            // Started while we waited: its overlay is mounted.
            return Ok(RootLease {
                rootfs: merged,
                unmount: None,
                _op: Some(guard),
            });
        }
        let lower = self.container_lower_dirs(&rec)?;
        let rootfs = self.containers.mount_rootfs(&rec, &lower)?;
        Ok(RootLease {
            rootfs,
            unmount: Some((&self.containers, rec.id.clone())),
            _op: Some(guard),
        })
    }

    /// `berth-runc archive OP` for the container, stdout piped.
    fn archive_command(&self, rec: &Record, rootfs: &Path, op: Op, path: Option<&str>) -> Command {
        let mut cmd = Command::new(self.containers.runtime_cli());
        cmd.arg("archive")
            .arg(op.as_str())
            .arg("--root")
            .arg(rootfs)
            .arg("--require-mount");
        if let Some(p) = path {
            // One argument with `=`: a path that starts with `-` is still a value.
            cmd.arg(format!("--path={p}"));
        }
        if op != Op::Export {
            for m in archive_mounts(rec, &self.containers.dir(&rec.id)) {
                cmd.arg("--mount").arg(m);
            }
        }
        if let Some(maps) = &rec.userns {
            for r in &maps.uids {
                cmd.arg("--uid-map")
                    .arg(format!("{}:{}:{}", r.container, r.host, r.size));
            }
            for r in &maps.gids {
                cmd.arg("--gid-map")
                    .arg(format!("{}:{}:{}", r.container, r.host, r.size));
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    fn spawn_archive(&self, mut cmd: Command) -> Result<Child, ApiError> {
        cmd.spawn().map_err(|e| {
            ApiError::internal(format!(
                "starting {}: {e}",
                self.containers.runtime_cli().display()
            ))
        })
    }

    /// Runs `op` to completion (stat), mounting the root again if it vanished.
    async fn run_archive(
        &self,
        c: &Container,
        op: Op,
        path: Option<&str>,
    ) -> Result<Finished, ApiError> {
        let mut force = false;
        loop {
            let lease = self.lease_root(c, force).await?;
            let rec = c.record();
            let mut child =
                self.spawn_archive(self.archive_command(&rec, &lease.rootfs, op, path))?;
            let stderr = read_stderr(&mut child);
            let mut stdout = Vec::new();
            if let Some(mut o) = child.stdout.take() {
                let _ = o.read_to_end(&mut stdout).await;
            }
            let mut done = finish(child, stderr).await;
            drop(lease);
            if done.code == EXIT_NOT_MOUNTED && !force {
                force = true;
                continue;
            }
            done.stdout = stdout;
            return Ok(done);
        }
    }

    /// `HEAD /containers/{id}/archive`: the stat of `path`, as its JSON.
    pub async fn container_stat_path(
        &self,
        c: &Container,
        name: &str,
        path: &str,
    ) -> Result<String, ApiError> {
        let done = self.run_archive(c, Op::Stat, Some(path)).await?;
        if done.code != 0 {
            return Err(Failed {
                code: done.code,
                message: last_line(&done.stderr),
            }
            .into_api(name, path));
        }
        Ok(String::from_utf8_lossy(&done.stdout).trim().to_string())
    }

    /// Starts a tar stream (`GET archive` with `Some(path)`: its stat JSON comes first;
    /// `export` with `None`). Errors before the first byte are answered as errors; later
    /// ones end the body with an error (the status line is gone by then).
    async fn archive_stream(
        self: &Arc<Self>,
        c: Arc<Container>,
        name: String,
        path: Option<String>,
    ) -> Result<(Option<String>, Body), ApiError> {
        let (ready_tx, ready_rx) =
            tokio::sync::oneshot::channel::<Result<Option<String>, ApiError>>();
        let (body_tx, body_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
        let d = self.clone();
        tokio::spawn(async move {
            let op = if path.is_some() { Op::Get } else { Op::Export };
            let shown = path.clone().unwrap_or_default();
            let mut force = false;
            let mut ready_tx = Some(ready_tx);
            loop {
                let lease = match d.lease_root(&c, force).await {
                    Ok(l) => l,
                    Err(e) => {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(Err(e));
                        }
                        return;
                    }
                };
                let rec = c.record();
                let mut child = match d.spawn_archive(d.archive_command(
                    &rec,
                    &lease.rootfs,
                    op,
                    path.as_deref(),
                )) {
                    Ok(ch) => ch,
                    Err(e) => {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(Err(e));
                        }
                        return;
                    }
                };
                let stderr = read_stderr(&mut child);
                let mut out = BufReader::with_capacity(
                    256 * 1024,
                    child.stdout.take().expect("stdout is piped"),
                );
                // The stat line (GET), or the first bytes (export): the helper is set up.
                let head = if op == Op::Get {
                    let mut line = String::new();
                    match out.read_line(&mut line).await {
                        Ok(n) if n > 0 => Some(Some(line.trim_end().to_string())),
                        _ => None,
                    }
                } else {
                    match out.fill_buf().await {
                        Ok(b) if !b.is_empty() => Some(None),
                        _ => None,
                    }
                };
                let Some(head) = head else {
                    let done = finish(child, stderr).await;
                    drop(lease);
                    if done.code == EXIT_NOT_MOUNTED && !force {
                        force = true;
                        continue;
                    }
                    let err = if done.code == 0 {
                        ApiError::internal("the archive helper wrote nothing")
                    } else {
                        Failed {
                            code: done.code,
                            message: last_line(&done.stderr),
                        }
                        .into_api(&name, &shown)
                    };
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(Err(err));
                    }
                    return;
                };
                if let Some(tx) = ready_tx.take() {
                    if tx.send(Ok(head)).is_err() {
                        return;
                    }
                }
                let mut client_gone = false;
                // Chunks are split off one buffer: no zeroing, no copy per chunk.
                let mut buf = bytes::BytesMut::new();
                loop {
                    buf.reserve(64 * 1024);
                    match out.read_buf(&mut buf).await {
                        Ok(0) => break,
                        Ok(_) => {
                            if body_tx.send(Ok(buf.split().freeze())).await.is_err() {
                                client_gone = true;
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = body_tx.send(Err(e)).await;
                            break;
                        }
                    }
                }
                if client_gone {
                    let _ = child.start_kill();
                }
                let done = finish(child, stderr).await;
                drop(lease);
                if done.code != 0 && !client_gone {
                    let msg = last_line(&done.stderr);
                    tracing::warn!(container = %c.id, error = %msg, "archive stream failed");
                    let _ = body_tx.send(Err(std::io::Error::other(msg))).await;
                } else if done.code == 0 && op == Op::Export {
                    d.container_event(&c.record(), "export", &[]);
                }
                return;
            }
        });
        let head = ready_rx
            .await
            .map_err(|_| ApiError::internal("the archive task ended"))??;
        let stream = futures_util::stream::unfold(body_rx, |mut rx| async move {
            rx.recv().await.map(|v| (v, rx))
        });
        Ok((head, Body::from_stream(stream)))
    }

    /// `GET /containers/{id}/archive`: the stat JSON of `path` and its tar.
    pub async fn container_archive_path(
        self: &Arc<Self>,
        c: Arc<Container>,
        name: &str,
        path: &str,
    ) -> Result<(String, Body), ApiError> {
        let rec = c.record();
        let (stat, body) = self
            .archive_stream(c, name.to_string(), Some(path.to_string()))
            .await?;
        self.container_event(&rec, "archive-path", &[]);
        Ok((stat.unwrap_or_default(), body))
    }

    /// `GET /containers/{id}/export`: the container's root file system as a tar.
    pub async fn container_export(
        self: &Arc<Self>,
        c: Arc<Container>,
        name: &str,
    ) -> Result<Body, ApiError> {
        Ok(self.archive_stream(c, name.to_string(), None).await?.1)
    }

    /// `PUT /containers/{id}/archive`: extracts the tar `body` into the directory
    /// `path`. `copy_uid_gid`: entries belong to the container's user (`Config.User`,
    /// resolved in the container; without one the archive's owners are kept, as Docker).
    pub async fn container_extract_to_dir(
        &self,
        c: &Container,
        name: &str,
        path: &str,
        copy_uid_gid: bool,
        no_overwrite_dir_non_dir: bool,
        body: Body,
    ) -> Result<(), ApiError> {
        let mut force = false;
        let mut body = Some(body);
        loop {
            let lease = match self.lease_root(c, force).await {
                Ok(l) => l,
                Err(e) => {
                    if let Some(b) = body.take() {
                        drain(b).await;
                    }
                    return Err(e);
                }
            };
            let rec = c.record();
            let mut cmd = self.archive_command(&rec, &lease.rootfs, Op::Put, Some(path));
            if no_overwrite_dir_non_dir {
                cmd.arg("--no-overwrite-dir-non-dir");
            }
            if rec
                .host_config
                .get("ReadonlyRootfs")
                .and_then(|v| v.as_bool())
                == Some(true)
            {
                cmd.arg("--readonly-root");
            }
            let user = rec
                .config
                .get("User")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            if copy_uid_gid && !user.is_empty() {
                cmd.arg(format!("--chown-user={user}"));
            }
            cmd.stdin(Stdio::piped());
            let mut child = match self.spawn_archive(cmd) {
                Ok(c) => c,
                Err(e) => {
                    if let Some(b) = body.take() {
                        drain(b).await;
                    }
                    return Err(e);
                }
            };
            let stderr = read_stderr(&mut child);
            let mut stdin = child.stdin.take().expect("stdin is piped");
            let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
            // The helper says "ready" once its checks passed, before it reads the body:
            // a failure before then leaves the body unread (and retryable).
            let mut line = String::new();
            let ready =
                matches!(out.read_line(&mut line).await, Ok(n) if n > 0) && line.trim() == "ready";
            if !ready {
                drop(stdin);
                let done = finish(child, stderr).await;
                drop(lease);
                if done.code == EXIT_NOT_MOUNTED && !force {
                    force = true;
                    continue;
                }
                if let Some(b) = body.take() {
                    drain(b).await;
                }
                return Err(Failed {
                    code: if done.code == 0 { 1 } else { done.code },
                    message: last_line(&done.stderr),
                }
                .into_api(name, path));
            }
            let mut stream = body
                .take()
                .expect("the body is sent once")
                .into_data_stream();
            let mut client_error = None;
            // Once the helper stopped reading (it failed; its status says why), the rest
            // is read and dropped, up to a limit, so the client sees the answer.
            let mut discard_left: Option<usize> = None;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(b) => match &mut discard_left {
                        Some(left) => {
                            *left = left.saturating_sub(b.len());
                            if *left == 0 {
                                break;
                            }
                        }
                        None => {
                            if stdin.write_all(&b).await.is_err() {
                                discard_left = Some(DRAIN_LIMIT);
                            }
                        }
                    },
                    Err(e) => {
                        client_error = Some(e.to_string());
                        break;
                    }
                }
            }
            if let Some(e) = client_error {
                let _ = child.start_kill();
                let _ = finish(child, stderr).await;
                return Err(ApiError::bad_request(format!("reading the archive: {e}")));
            }
            drop(stdin);
            let done = finish(child, stderr).await;
            drop(lease);
            if done.code != 0 {
                return Err(Failed {
                    code: done.code,
                    message: last_line(&done.stderr),
                }
                .into_api(name, path));
            }
            self.container_event(&rec, "extract-to-dir", &[]);
            return Ok(());
        }
    }
}

/// How much of a refused upload is still read before answering.
const DRAIN_LIMIT: usize = 4 << 20;

/// Reads (and drops) what a client is still sending, up to a limit and for at most two
/// seconds, before an error answer: the docker CLI writes the whole tar first and would
/// otherwise report a broken pipe instead of the daemon's message (Go's server drains
/// too).
pub async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut left = DRAIN_LIMIT;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(chunk)) = stream.next().await {
            left = left.saturating_sub(chunk.len());
            if left == 0 {
                break;
            }
        }
    })
    .await;
}

/// `--mount` arguments for a container: its volumes and binds, and its hostname, hosts
/// and resolv.conf files (read-only with a read-only root, as Docker's).
fn archive_mounts(rec: &Record, container_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let ro_root = rec
        .host_config
        .get("ReadonlyRootfs")
        .and_then(|v| v.as_bool())
        == Some(true);
    for f in ["hostname", "hosts", "resolv.conf"] {
        let src = container_dir.join(f);
        if src.is_file() {
            out.push(format!(
                "{}:{}{}",
                escape(&src.to_string_lossy()),
                escape(&format!("/etc/{f}")),
                if ro_root { ":ro" } else { "" }
            ));
        }
    }
    for m in &rec.mounts {
        if m.kind == MountKind::Tmpfs || m.source.as_os_str().is_empty() {
            continue;
        }
        out.push(format!(
            "{}:{}{}",
            escape(&m.source.to_string_lossy()),
            escape(&m.destination),
            if m.rw { "" } else { ":ro" }
        ));
    }
    out
}

/// Copy-up: copies what the root file system `rootfs` (mounted) has at `path_in_root`
/// into the volume directory `to`, keeping modes, owners, times, symlinks, hard links
/// and extended attributes; `to` itself takes the mode, owner and times of the source
/// directory, as Docker's. `path_in_root` is resolved inside `rootfs` (symlinks
/// followed there); `to` is written only through a descriptor opened before the helper
/// enters the root. `Ok(false)`: nothing there (missing, or not a directory).
/// `runc` is `berth-runc` ([`crate::containers::Containers::runtime_cli`]).
pub async fn copy_up(
    runc: &Path,
    rootfs: &Path,
    path_in_root: &str,
    to: &Path,
) -> Result<bool, ApiError> {
    let out = Command::new(runc)
        .arg("archive")
        .arg("copy-up")
        .arg("--root")
        .arg(rootfs)
        .arg("--path")
        .arg(path_in_root)
        .arg("--to")
        .arg(to)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| ApiError::internal(format!("starting {}: {e}", runc.display())))?;
    if !out.status.success() {
        return Err(ApiError::new(
            ErrorKind::Internal,
            last_line(&String::from_utf8_lossy(&out.stderr)),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "copied")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd, 0xfc]), "//79/A==");
    }

    #[test]
    fn mount_arguments_escape_colons() {
        assert_eq!(escape("/a:b%c"), "/a%3Ab%25c");
    }
}
