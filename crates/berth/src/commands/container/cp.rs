//! `cp`: docker's client-side copy over `HEAD`, `GET` and `PUT
//! /containers/{id}/archive`. The CLI stats the container side
//! (`X-Docker-Container-Path-Stat`), decides from both sides whether the resource is
//! copied into a directory or renamed, names the tar it sends accordingly, and
//! extracts what it receives with the same renaming rules.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::Method;
use serde::Deserialize;

use crate::archive::gopath::{base, dir, join, path_error, reason};
use crate::archive::{
    get_rebase_name, pack, prepare_archive_copy, resolve_local_path, split_path_dir_entry, unpack,
    CopyInfo, Rebase,
};
use crate::cli::{check_args, Arity, CpOpts};
use crate::client::{reader_body, Body, Query};
use crate::commands::App;
use crate::error::{CliError, Result};
use crate::format::units::human_size_with_precision;

/// Go's `os.FileMode` bits that the stat header carries.
const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;
const MODE_DEVICE: u32 = 1 << 26;
const MODE_IRREGULAR: u32 = 1 << 19;

/// The daemon's `X-Docker-Container-Path-Stat` (docker's `container.PathStat`).
#[derive(Debug, Default, Deserialize)]
pub struct PathStat {
    #[serde(default)]
    pub mode: u32,
    #[serde(default, rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    fn is_dir(&self) -> bool {
        self.mode & MODE_DIR != 0
    }

    fn is_symlink(&self) -> bool {
        self.mode & MODE_SYMLINK != 0
    }
}

/// Standard base64 (the header's encoding), padding optional.
fn base64_decode(s: &str) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for (i, c) in s.bytes().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return Err(format!("illegal base64 data at input byte {i}")),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// docker's `getContainerPathStatFromHeader`.
pub fn decode_stat(header: Option<&str>) -> std::result::Result<PathStat, String> {
    let bytes = base64_decode(header.unwrap_or(""))
        .map_err(|e| format!("unable to decode container path stat header: {e}"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("unable to decode container path stat header: EOF".into());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("unable to decode container path stat header: {e}"))
}

/// The client's `trimID`.
fn container_id(name: &str) -> Result<&str> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(CliError::other(
            "invalid container name or ID: value is empty",
        ));
    }
    Ok(trimmed)
}

async fn stat_path(app: &mut App, ctr: &str, path: &str) -> Result<PathStat> {
    let ctr = container_id(ctr)?;
    let query: Query = vec![("path", path.to_string())];
    let resp = app
        .client
        .request(
            Method::HEAD,
            &format!("/containers/{ctr}/archive"),
            &query,
            crate::client::empty(),
            None,
        )
        .await?;
    let header = resp
        .headers()
        .get("X-Docker-Container-Path-Stat")
        .and_then(|v| v.to_str().ok());
    decode_stat(header).map_err(CliError::other)
}

/// docker's `splitCpArg`: `CONTAINER:PATH`, unless the argument is a local path
/// (absolute, or starting with `.` before the colon).
pub fn split_cp_arg(arg: &str) -> (&str, &str) {
    if arg.starts_with('/') {
        return ("", arg);
    }
    match arg.split_once(':') {
        Some((ctr, path)) if !ctr.starts_with('.') => (ctr, path),
        _ => ("", arg),
    }
}

pub async fn cp(app: &mut App, o: CpOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Exact(2))?;
    if o.args[0].is_empty() {
        return Err(CliError::other("source can not be empty"));
    }
    if o.args[1].is_empty() {
        return Err(CliError::other("destination can not be empty"));
    }
    // Without -q, progress is only shown when stdout is a terminal.
    let quiet = o.quiet.unwrap_or(!app.stdout_is_terminal());
    let (src_ctr, src_path) = split_cp_arg(&o.args[0]);
    let (dst_ctr, dst_path) = split_cp_arg(&o.args[1]);
    match (src_ctr.is_empty(), dst_ctr.is_empty()) {
        (false, true) => {
            copy_from_container(app, src_ctr, src_path, dst_path, o.follow_link, quiet).await
        }
        (true, false) => {
            let opts = ToContainer {
                follow_link: o.follow_link,
                copy_uid_gid: o.archive,
                quiet,
            };
            copy_to_container(app, dst_ctr, src_path, dst_path, opts).await
        }
        (false, false) => Err(CliError::other(
            "copying between containers is not supported",
        )),
        (true, true) => Err(CliError::other(
            "must specify at least one container source",
        )),
    }
}

/// docker's `command.ValidateOutputPath`.
fn validate_output_path(path: &str) -> Result<()> {
    let parent = dir(&crate::archive::gopath::clean(path));
    if !parent.is_empty() && parent != "." {
        if let Err(e) = std::fs::metadata(&parent) {
            if e.kind() == io::ErrorKind::NotFound {
                return Err(CliError::other(format!(
                    "invalid output path: directory {} does not exist",
                    crate::format::go_quote(&parent)
                )));
            }
        }
    }
    match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::other(path_error("stat", path, &e))),
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            let ft = m.file_type();
            if ft.is_dir() || ft.is_file() {
                return Ok(());
            }
            let why = if ft.is_block_device() || ft.is_char_device() {
                "got a device"
            } else if ft.is_fifo() || ft.is_socket() {
                return Ok(());
            } else {
                "got an irregular file"
            };
            Err(CliError::other(format!(
                "invalid output path: {} must be a directory or a regular file: {why}",
                crate::format::go_quote(path)
            )))
        }
    }
}

fn progress_size(n: u64) -> String {
    human_size_with_precision(n as f64, 3)
}

/// docker's `CopyInfoDestinationPath`: the local destination, symlinks followed
/// (a dangling last link is fine: the copy creates its target).
fn copy_info_destination_path(path: &str) -> std::result::Result<CopyInfo, String> {
    let original = path.to_string();
    let mut path = path.to_string();
    let mut stat = std::fs::symlink_metadata(&path);
    if let Ok(m) = &stat {
        if !m.file_type().is_symlink() {
            return Ok(CopyInfo {
                is_dir: m.is_dir(),
                path,
                exists: true,
                rebase_name: String::new(),
            });
        }
    }
    let mut n = 0;
    while let Ok(m) = &stat {
        if !m.file_type().is_symlink() {
            break;
        }
        if n > 10 {
            return Err(format!("too many symlinks in {original}"));
        }
        let link = std::fs::read_link(&path)
            .map_err(|e| path_error("readlink", &path, &e))?
            .to_string_lossy()
            .into_owned();
        path = if link.starts_with('/') {
            link
        } else {
            join(&[&split_path_dir_entry(&path).0, &link])
        };
        stat = std::fs::symlink_metadata(&path);
        n += 1;
    }
    match stat {
        Ok(m) => Ok(CopyInfo {
            is_dir: m.is_dir(),
            path,
            exists: true,
            rebase_name: String::new(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = split_path_dir_entry(&path).0;
            let pm = std::fs::metadata(&parent).map_err(|e| path_error("stat", &parent, &e))?;
            if !pm.is_dir() {
                return Err("not a directory".into());
            }
            Ok(CopyInfo {
                path,
                ..Default::default()
            })
        }
        Err(e) => Err(path_error("lstat", &path, &e)),
    }
}

/// Reads chunks the async side receives, for the blocking extractor.
struct ChanReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    cur: Bytes,
    total: Arc<AtomicU64>,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.total.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    self.cur = chunk;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// docker's `CopyTo`: where and how the received archive lands locally.
fn copy_to_local(
    reader: &mut ChanReader,
    src: &CopyInfo,
    dst_path: &str,
) -> std::result::Result<(), String> {
    let dst = copy_info_destination_path(dst_path)?;
    let (dst_dir, rebase) = prepare_archive_copy(src, &dst).map_err(|e| e.to_string())?;
    // A followed link's archive is first renamed to the link's own name.
    let pre = if src.rebase_name.is_empty() {
        None
    } else {
        Some(Rebase::new(
            &split_path_dir_entry(&src.path).1,
            &src.rebase_name,
        ))
    };
    let rename = |name: &[u8]| -> Vec<u8> {
        let name = match &pre {
            Some(r) => r.apply(name),
            None => name.to_vec(),
        };
        match &rebase {
            Some(r) => r.apply(&name),
            None => name,
        }
    };
    unpack::untar(&mut *reader, &dst_dir, &rename).map_err(|e| e.0)?;
    // docker reads the archive to its end.
    let mut sink = [0u8; 8192];
    while reader.read(&mut sink).map(|n| n > 0).unwrap_or(false) {}
    Ok(())
}

async fn copy_from_container(
    app: &mut App,
    ctr: &str,
    src_path: &str,
    dst_path: &str,
    follow_link: bool,
    quiet: bool,
) -> Result<()> {
    let mut dst = dst_path.to_string();
    if dst != "-" {
        dst = resolve_local_path(&dst);
    }
    validate_output_path(&dst)?;
    let mut src = src_path.to_string();
    let mut rebase_name = String::new();
    if follow_link {
        if let Ok(stat) = stat_path(app, ctr, &src).await {
            if stat.is_symlink() {
                let mut target = stat.link_target.clone();
                if !target.starts_with('/') {
                    target = join(&[&split_path_dir_entry(&src).0, &target]);
                }
                let (resolved, rebase) = get_rebase_name(&src, &target);
                src = resolved;
                rebase_name = rebase;
            }
        }
    }
    let id = container_id(ctr)?;
    let query: Query = vec![("path", src.clone())];
    let resp = app
        .client
        .get(&format!("/containers/{id}/archive"), &query)
        .await?;
    let header = resp
        .headers()
        .get("X-Docker-Container-Path-Stat")
        .and_then(|v| v.to_str().ok());
    let stat = decode_stat(header)
        .map_err(|e| CliError::other(format!("unable to get resource stat from response: {e}")))?;
    let mut body = resp.into_body();
    if dst == "-" {
        let mut out = io::stdout().lock();
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| CliError::other(format!("error reading response: {e}")))?;
            if let Some(chunk) = frame.data_ref() {
                out.write_all(chunk)?;
            }
        }
        out.flush()?;
        return Ok(());
    }
    let src_info = CopyInfo {
        path: src,
        exists: true,
        is_dir: stat.is_dir(),
        rebase_name,
    };
    let total = Arc::new(AtomicU64::new(0));
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let mut reader = ChanReader {
        rx,
        cur: Bytes::new(),
        total: total.clone(),
    };
    let dst_for_thread = dst.clone();
    let extract =
        tokio::task::spawn_blocking(move || copy_to_local(&mut reader, &src_info, &dst_for_thread));
    let mut pump_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(chunk) = frame.data_ref() {
                    if tx.send(chunk.clone()).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                pump_error = Some(format!("error reading response: {e}"));
                break;
            }
        }
    }
    drop(tx);
    let result = extract
        .await
        .map_err(|e| CliError::other(format!("copy failed: {e}")))?;
    // docker 28 means to draw progress on a terminal stderr, but its check never
    // sees a terminal: only this line is printed.
    if !quiet {
        app.eprint(&format!(
            "Successfully copied {} to {dst}\n",
            progress_size(total.load(Ordering::Relaxed))
        ));
    }
    result.map_err(CliError::other)?;
    match pump_error {
        Some(e) => Err(CliError::other(e)),
        None => Ok(()),
    }
}

struct ToContainer {
    follow_link: bool,
    copy_uid_gid: bool,
    quiet: bool,
}

/// Writes into a bounded channel, for the blocking archiver.
struct ChanWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 32 * 1024;

impl Write for ChanWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

/// docker's `CopyInfoSourcePath`: the local source, the directories before its last
/// element resolved (and the element itself with `-L`).
fn copy_info_source_path(path: &str, follow_link: bool) -> std::result::Result<CopyInfo, String> {
    let (resolved, rebase_name) = if follow_link {
        let resolved = crate::archive::gopath::eval_symlinks(path).map_err(|e| e.0)?;
        get_rebase_name(path, &resolved)
    } else {
        let (parent, last) = crate::archive::gopath::split(path);
        let parent_resolved = crate::archive::gopath::eval_symlinks(parent).map_err(|e| e.0)?;
        let resolved = format!("{parent_resolved}/{last}");
        let rebase = if path.ends_with('/') && base(path) != base(&resolved) {
            base(path)
        } else {
            String::new()
        };
        (resolved, rebase)
    };
    let meta =
        std::fs::symlink_metadata(&resolved).map_err(|e| path_error("lstat", &resolved, &e))?;
    Ok(CopyInfo {
        path: resolved,
        exists: true,
        is_dir: meta.is_dir(),
        rebase_name,
    })
}

async fn copy_to_container(
    app: &mut App,
    ctr: &str,
    src_path: &str,
    dst_path: &str,
    o: ToContainer,
) -> Result<()> {
    let mut src = src_path.to_string();
    if src != "-" {
        src = resolve_local_path(&src);
    }
    let mut dst_info = CopyInfo {
        path: dst_path.to_string(),
        ..Default::default()
    };
    let mut stat = stat_path(app, ctr, dst_path).await;
    if let Ok(s) = &stat {
        if s.is_symlink() {
            let mut target = s.link_target.clone();
            if !target.starts_with('/') {
                target = join(&[&split_path_dir_entry(dst_path).0, &target]);
            }
            dst_info.path = target.clone();
            stat = stat_path(app, ctr, &target).await;
        }
    }
    let mode = stat.as_ref().map(|s| s.mode).unwrap_or(0);
    let invalid = if mode & MODE_DEVICE != 0 {
        Some("got a device")
    } else if mode & MODE_IRREGULAR != 0 {
        Some("got an irregular file")
    } else {
        None
    };
    if let Some(why) = invalid {
        return Err(CliError::other(format!(
            "destination \"{ctr}:{dst_path}\" must be a directory or a regular file: {why}"
        )));
    }
    if let Ok(s) = &stat {
        dst_info.exists = true;
        dst_info.is_dir = s.is_dir();
    }
    let total = Arc::new(AtomicU64::new(0));
    let (body, resolved, packer): (
        Body,
        String,
        Option<tokio::task::JoinHandle<io::Result<()>>>,
    ) = if src == "-" {
        if !dst_info.is_dir {
            return Err(CliError::other(format!(
                "destination \"{ctr}:{dst_path}\" must be a directory"
            )));
        }
        (reader_body(tokio::io::stdin()), dst_info.path.clone(), None)
    } else {
        let src_info = copy_info_source_path(&src, o.follow_link).map_err(CliError::other)?;
        pack::check_source(&src_info.path).map_err(CliError::other)?;
        let (dst_dir, rebase) = prepare_archive_copy(&src_info, &dst_info)
            .map_err(|e| CliError::other(e.to_string()))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
        let packer = tokio::task::spawn_blocking(move || {
            let res = pack::Resource {
                path: &src_info.path,
                rebase_name: &src_info.rebase_name,
                rebase: rebase.as_ref(),
            };
            let mut w = ChanWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            };
            pack::pack(&res, &mut w)
        });
        let counted = total.clone();
        let stream = futures_util::stream::unfold(rx, move |mut rx| {
            let counted = counted.clone();
            async move {
                let chunk = rx.recv().await?;
                if let Ok(c) = &chunk {
                    counted.fetch_add(c.len() as u64, Ordering::Relaxed);
                }
                Some((chunk.map(Frame::data), rx))
            }
        });
        (
            BodyExt::boxed(StreamBody::new(stream)),
            dst_dir,
            Some(packer),
        )
    };
    let id = container_id(ctr)?;
    let mut query: Query = vec![("path", resolved), ("noOverwriteDirNonDir", "true".into())];
    if o.copy_uid_gid {
        query.push(("copyUIDGID", "true".into()));
    }
    let result = app
        .client
        .request(
            Method::PUT,
            &format!("/containers/{id}/archive"),
            &query,
            body,
            None,
        )
        .await
        .map(|_| ());
    if !o.quiet {
        app.eprint(&format!(
            "Successfully copied {} to {ctr}:{}\n",
            progress_size(total.load(Ordering::Relaxed)),
            dst_info.path
        ));
    }
    result?;
    // After a refusal the archiver is left behind (it stops once the request body is
    // dropped); after success it has written everything, and its error counts.
    if let Some(packer) = packer {
        if let Ok(Err(e)) = packer.await {
            if e.kind() != io::ErrorKind::BrokenPipe {
                return Err(CliError::other(reason(&e)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cp_arguments_like_docker() {
        assert_eq!(split_cp_arg("ctr:/tmp"), ("ctr", "/tmp"));
        assert_eq!(split_cp_arg("/abs:x"), ("", "/abs:x"));
        assert_eq!(split_cp_arg("./file:name"), ("", "./file:name"));
        assert_eq!(split_cp_arg("file"), ("", "file"));
        assert_eq!(split_cp_arg("ctr:"), ("ctr", ""));
        assert_eq!(split_cp_arg("-"), ("", "-"));
    }

    #[test]
    fn decodes_the_stat_header() {
        // What dockerd sent for /bin/sh in busybox.
        let s = decode_stat(Some("eyJuYW1lIjoic2giLCJzaXplIjo3LCJtb2RlIjoxMzQyMTgyMzksIm10aW1lIjoiMjAyNC0wMS0wMVQwMDowMDowMFoiLCJsaW5rVGFyZ2V0IjoiL2Jpbi9idXN5Ym94In0=")).unwrap();
        assert!(s.is_symlink() && !s.is_dir());
        assert_eq!(s.link_target, "/bin/busybox");
        assert_eq!(
            decode_stat(None).unwrap_err(),
            "unable to decode container path stat header: EOF"
        );
        assert_eq!(base64_decode("aGk").unwrap(), b"hi");
    }

    #[test]
    fn local_destinations_follow_links() {
        let d = std::env::temp_dir().join(format!("berth-cpdst-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("real")).unwrap();
        std::os::unix::fs::symlink("real", d.join("link")).unwrap();
        std::os::unix::fs::symlink("nowhere", d.join("dangling")).unwrap();
        let p = |s: &str| format!("{}/{s}", d.display());
        let i = copy_info_destination_path(&p("link")).unwrap();
        assert_eq!((i.path, i.exists, i.is_dir), (p("real"), true, true));
        let i = copy_info_destination_path(&p("dangling")).unwrap();
        assert_eq!((i.path, i.exists), (p("nowhere"), false));
        assert_eq!(
            copy_info_destination_path(&p("missing/x")).unwrap_err(),
            format!("stat {}: no such file or directory", p("missing"))
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn local_sources_like_docker() {
        assert_eq!(
            copy_info_source_path("/nonexistent-berth", false).unwrap_err(),
            "lstat //nonexistent-berth: no such file or directory"
        );
        assert_eq!(
            copy_info_source_path("/nonexistent-berth/x", false).unwrap_err(),
            "lstat /nonexistent-berth: no such file or directory"
        );
    }
}
