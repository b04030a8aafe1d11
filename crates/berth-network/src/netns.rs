//! Network namespaces kept alive by a bind mount on a file (as `ip netns add` does), so
//! a container's networking can be set up before its process exists, handed to the
//! runtime as a path, and torn down whether or not the process is still alive.
//!
//! A namespace switch affects one OS thread only. Everything here that needs to be inside
//! a namespace runs on a short-lived thread of its own, which ends afterwards: the
//! calling thread (possibly a tokio worker) never changes namespace.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::statfs::{statfs, NSFS_MAGIC};

use crate::netlink::Netlink;
use crate::{NetError, Result};

fn errno_io(e: nix::errno::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// Whether `path` is a bind-mounted namespace (not just the empty file under it).
fn is_nsfs(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC)
}

/// Creates a new network namespace and bind-mounts it on `path` (a new file; its parent
/// directory must exist). Inside, `lo` is up, as in every Docker container.
///
/// An empty file left at `path` by an earlier crash is reused; a namespace already
/// mounted there is a conflict (remove it first).
pub fn create_netns(path: &Path) -> Result<()> {
    if is_nsfs(path) {
        return Err(NetError::Conflict(format!(
            "network namespace {} already exists",
            path.display()
        )));
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == IoKind::AlreadyExists => {}
        Err(e) => return Err(NetError::io("create", path, e)),
    }
    let result = std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            // This thread alone moves to the new namespace and ends afterwards.
            nix::sched::unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetError::io("unshare network namespace", path, errno_io(e)))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| NetError::io("bind-mount network namespace", path, errno_io(e)))?;
            let mut nl = Netlink::open()?;
            let lo = nl
                .link("lo")?
                .ok_or_else(|| NetError::NotFound("no lo in a new namespace".into()))?;
            nl.set_up(lo.index, "lo")
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
    if result.is_err() {
        let _ = remove_netns(path);
    }
    result
}

/// Unmounts and deletes a namespace made by [`create_netns`]. A missing one is not an
/// error, so teardown can be repeated after a crash. The namespace itself ends when the
/// last process in it has gone.
pub fn remove_netns(path: &Path) -> Result<()> {
    // A lazy unmount also succeeds while a setns'd thread or an open descriptor still
    // refers to the namespace; EINVAL means nothing is mounted there (any more).
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(NetError::io("unmount network namespace", path, errno_io(e))),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == IoKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io("remove", path, e)),
    }
}

/// Opens the namespace file, for `setns` or to place an interface into it.
pub(crate) fn open_netns(path: &Path) -> Result<File> {
    let f = File::open(path).map_err(|e| NetError::io("open network namespace", path, e))?;
    if !is_nsfs(path) {
        return Err(NetError::NotFound(format!(
            "{} is not a network namespace",
            path.display()
        )));
    }
    Ok(f)
}

/// Runs `f` on a new thread that has joined the namespace at `path`, and returns its
/// result. Sockets opened in `f` stay in that namespace when returned and used from any
/// other thread, which is the cheap way to work inside a namespace: open there, use here.
pub fn in_netns<T, F>(path: &Path, f: F) -> Result<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let ns = open_netns(path)?;
    std::thread::scope(|s| {
        s.spawn(move || -> Result<T> {
            nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetError::io("setns", path, errno_io(e)))?;
            drop(ns);
            Ok(f())
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A netlink socket inside the namespace at `path`, usable from the calling thread.
pub(crate) fn netlink_in(path: &Path) -> Result<Netlink> {
    in_netns(path, Netlink::open)?
}
