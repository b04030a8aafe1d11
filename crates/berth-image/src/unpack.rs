//! Unpacking a layer tar into an empty directory, in overlayfs form.
//!
//! The tar is hostile input. Every entry is created relative to an open directory
//! descriptor reached by walking the path one component at a time with `O_NOFOLLOW`, so
//! no `..`, absolute path, symlink or hard link in the archive can make us touch anything
//! outside the layer. Entries whose path would need any of those are refused outright
//! (a tar written from a real filesystem never contains them).
//!
//! Docker's whiteouts become overlayfs whiteouts: `.wh.NAME` a 0/0 character device,
//! `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on the directory.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;
use rustix::time::Timespec;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// aufs bookkeeping names (`.wh..wh.plnk` etc.) that carry nothing for overlay.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("invalid tar entry {path:?}: {why}")]
    Refused { path: String, why: &'static str },
    #[error("invalid tar archive: {0}")]
    Tar(io::Error),
    #[error("unpacking {path:?}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        source: io::Error,
    },
}

fn refused(path: &[u8], why: &'static str) -> UnpackError {
    UnpackError::Refused {
        path: String::from_utf8_lossy(path).into_owned(),
        why,
    }
}

fn io_err<'a>(path: &'a [u8], op: &'static str) -> impl FnOnce(Errno) -> UnpackError + 'a {
    move |e| UnpackError::Io {
        path: String::from_utf8_lossy(path).into_owned(),
        op,
        source: e.into(),
    }
}

/// What an unpacked layer holds.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnpackStats {
    /// Sum of regular file sizes, as Docker counts a layer's size.
    pub size: u64,
    pub entries: u64,
}

/// Splits an archive path into its components, refusing anything that could leave the
/// root: absolute paths and `..`. `.` and empty components are dropped.
pub fn clean_components(path: &[u8]) -> Result<Vec<&[u8]>, UnpackError> {
    if path.first() == Some(&b'/') {
        return Err(refused(path, "absolute paths are not allowed"));
    }
    let mut out = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(refused(path, "path escapes the layer through '..'")),
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// A layer directory being filled; holds the root descriptor and a cache of the last
/// parent directory (tars list a directory's entries together).
struct Target {
    root: OwnedFd,
    cached_parent: Option<(Vec<u8>, OwnedFd)>,
    /// Directory times are set last: creating entries inside changes them.
    dir_times: Vec<(Vec<u8>, Timestamps)>,
}

impl Target {
    /// Opens (creating when `create`) the directory at `components`, refusing symlinks and
    /// non-directories on the way.
    fn open_dir(
        &self,
        full: &[u8],
        components: &[&[u8]],
        create: bool,
    ) -> Result<OwnedFd, UnpackError> {
        let mut cur =
            rustix::io::fcntl_dupfd_cloexec(&self.root, 0).map_err(io_err(full, "dup"))?;
        for c in components {
            let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY;
            let next = match rustix::fs::openat(&cur, *c, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&cur, *c, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(io_err(full, "mkdir")(e)),
                    }
                    rustix::fs::openat(&cur, *c, flags, Mode::empty())
                        .map_err(io_err(full, "open"))?
                }
                Err(Errno::LOOP) | Err(Errno::NOTDIR) => {
                    return Err(refused(
                        full,
                        "a parent directory is a symlink or not a directory",
                    ))
                }
                Err(e) => return Err(io_err(full, "open")(e)),
            };
            cur = next;
        }
        Ok(cur)
    }

    fn parent_fd(&mut self, full: &[u8], parent: &[&[u8]]) -> Result<OwnedFd, UnpackError> {
        let key = parent.join(&b'/');
        if let Some((k, fd)) = &self.cached_parent {
            if *k == key {
                return rustix::io::fcntl_dupfd_cloexec(fd, 0).map_err(io_err(full, "dup"));
            }
        }
        let fd = self.open_dir(full, parent, true)?;
        let keep = rustix::io::fcntl_dupfd_cloexec(&fd, 0).map_err(io_err(full, "dup"))?;
        self.cached_parent = Some((key, keep));
        Ok(fd)
    }

    /// Any cached parent may be replaced when an entry replaces a directory.
    fn forget_cache(&mut self) {
        self.cached_parent = None;
    }
}

/// A `/proc/self/fd/N/name` path: lets path-only calls (lsetxattr, remove_dir_all) act on
/// an entry of a directory we hold open without resolving any path from the layer root.
fn fd_path(dir: &impl AsFd, name: &[u8]) -> PathBuf {
    use std::os::fd::AsRawFd;
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()));
    p.push(OsStr::from_bytes(name));
    p
}

/// Removes whatever is at `name` in `dir` unless it is a directory and `keep_dir`.
/// Returns true when a directory was kept.
fn clear_existing(
    dir: &OwnedFd,
    name: &[u8],
    full: &[u8],
    keep_dir: bool,
) -> Result<bool, UnpackError> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(io_err(full, "stat")(e)),
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        if keep_dir {
            return Ok(true);
        }
        // std's remove_dir_all does not follow symlinks inside the tree.
        std::fs::remove_dir_all(fd_path(dir, name)).map_err(|source| UnpackError::Io {
            path: String::from_utf8_lossy(full).into(),
            op: "remove",
            source,
        })?;
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty()).map_err(io_err(full, "remove"))?;
    }
    Ok(false)
}

fn timestamps(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Unpacks `reader` (an uncompressed layer tar) into `dest`, which must be an empty
/// directory. On error `dest` is left partly filled; the caller discards it.
pub fn unpack_layer(reader: impl Read, dest: &Path) -> Result<UnpackStats, UnpackError> {
    let root = rustix::fs::open(
        dest,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Io {
        path: dest.display().to_string(),
        op: "open",
        source: e.into(),
    })?;
    let mut target = Target {
        root,
        cached_parent: None,
        dir_times: Vec::new(),
    };
    let mut stats = UnpackStats::default();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(UnpackError::Tar)? {
        let mut entry = entry.map_err(UnpackError::Tar)?;
        unpack_entry(&mut target, &mut entry, &mut stats)?;
        stats.entries += 1;
    }
    // Innermost directories first, so setting a parent's time is not undone by a child.
    let dir_times = std::mem::take(&mut target.dir_times);
    for (path, ts) in dir_times.iter().rev() {
        let comps = clean_components(path)?;
        let fd = target.open_dir(path, &comps, false)?;
        rustix::fs::utimensat(&fd, ".", ts, AtFlags::empty()).map_err(io_err(path, "utimes"))?;
    }
    Ok(stats)
}

fn unpack_entry<R: Read>(
    target: &mut Target,
    entry: &mut tar::Entry<'_, R>,
    stats: &mut UnpackStats,
) -> Result<(), UnpackError> {
    let full: Vec<u8> = entry.path_bytes().into_owned();
    let comps = clean_components(&full)?;
    let Some((&name, parent)) = comps.split_last() else {
        return Ok(()); // the root itself: its metadata belongs to the snapshot, not the layer
    };
    let header = entry.header();
    let kind = header.entry_type();
    let mode = header.mode().map_err(UnpackError::Tar)? & 0o7777;
    let uid = u32::try_from(header.uid().map_err(UnpackError::Tar)?)
        .map_err(|_| refused(&full, "uid out of range"))?;
    let gid = u32::try_from(header.gid().map_err(UnpackError::Tar)?)
        .map_err(|_| refused(&full, "gid out of range"))?;
    let mtime = header.mtime().unwrap_or(0);

    let parent_fd = target.parent_fd(&full, parent)?;

    if name.starts_with(WHITEOUT_PREFIX) {
        if name == OPAQUE_MARKER {
            rustix::fs::fsetxattr(
                &parent_fd,
                "trusted.overlay.opaque",
                b"y",
                XattrFlags::empty(),
            )
            .map_err(io_err(&full, "set opaque xattr"))?;
        } else if !name.starts_with(AUFS_META_PREFIX) {
            let hidden = &name[WHITEOUT_PREFIX.len()..];
            if hidden.is_empty() {
                return Err(refused(&full, "empty whiteout name"));
            }
            clear_existing(&parent_fd, hidden, &full, false)?;
            target.forget_cache();
            rustix::fs::mknodat(
                &parent_fd,
                hidden,
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(io_err(&full, "mknod whiteout"))?;
            rustix::fs::chownat(
                &parent_fd,
                hidden,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io_err(&full, "chown"))?;
        }
        return Ok(());
    }

    let is_dir = kind == tar::EntryType::Directory;
    let kept_dir = clear_existing(&parent_fd, name, &full, is_dir)?;
    if !kept_dir {
        target.forget_cache();
    }
    let raw_mode = Mode::from_raw_mode(mode);
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            let fd = rustix::fs::openat(
                &parent_fd,
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(io_err(&full, "create"))?;
            let mut file = File::from(fd);
            let n = io::copy(entry, &mut file).map_err(|source| UnpackError::Io {
                path: String::from_utf8_lossy(&full).into(),
                op: "write",
                source,
            })?;
            stats.size += n;
        }
        tar::EntryType::Directory => {
            if !kept_dir {
                rustix::fs::mkdirat(&parent_fd, name, Mode::from_raw_mode(0o700))
                    .map_err(io_err(&full, "mkdir"))?;
            }
        }
        tar::EntryType::Symlink => {
            let link = entry
                .link_name_bytes()
                .ok_or_else(|| refused(&full, "symlink without a target"))?;
            // The target is only ever interpreted inside the container's root, so any
            // value is allowed; we never follow it here.
            rustix::fs::symlinkat(OsStr::from_bytes(&link), &parent_fd, name)
                .map_err(io_err(&full, "symlink"))?;
        }
        tar::EntryType::Link => {
            let link = entry
                .link_name_bytes()
                .ok_or_else(|| refused(&full, "hard link without a target"))?
                .into_owned();
            let lcomps = clean_components(&link)?;
            let Some((&lname, lparent)) = lcomps.split_last() else {
                return Err(refused(&full, "hard link to the layer root"));
            };
            let lparent_fd = target
                .open_dir(&full, lparent, false)
                .map_err(|e| match e {
                    UnpackError::Io { .. } => {
                        refused(&full, "hard link target is not in this layer")
                    }
                    other => other,
                })?;
            // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
            rustix::fs::linkat(&lparent_fd, lname, &parent_fd, name, AtFlags::empty()).map_err(
                |e| match e {
                    Errno::NOENT => refused(&full, "hard link target is not in this layer"),
                    e => io_err(&full, "link")(e),
                },
            )?;
            // A hard link shares the target's inode and metadata: nothing more to set.
            return Ok(());
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            let ft = match kind {
                tar::EntryType::Char => FileType::CharacterDevice,
                tar::EntryType::Block => FileType::BlockDevice,
                _ => FileType::Fifo,
            };
            let major = header
                .device_major()
                .map_err(UnpackError::Tar)?
                .unwrap_or(0);
            let minor = header
                .device_minor()
                .map_err(UnpackError::Tar)?
                .unwrap_or(0);
            rustix::fs::mknodat(
                &parent_fd,
                name,
                ft,
                Mode::from_raw_mode(0o600),
                rustix::fs::makedev(major, minor),
            )
            .map_err(io_err(&full, "mknod"))?;
        }
        other => {
            return Err(UnpackError::Refused {
                path: String::from_utf8_lossy(&full).into_owned(),
                why: match other {
                    tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {
                        "unexpected pax header"
                    }
                    _ => "unsupported tar entry type",
                },
            })
        }
    }

    // Ownership before mode: chown clears setuid/setgid bits, chmod then restores them.
    rustix::fs::chownat(
        &parent_fd,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io_err(&full, "chown"))?;
    if kind != tar::EntryType::Symlink {
        rustix::fs::chmodat(&parent_fd, name, raw_mode, AtFlags::empty())
            .map_err(io_err(&full, "chmod"))?;
    }
    apply_xattrs(entry, &parent_fd, name, &full)?;
    if is_dir {
        target
            .dir_times
            .push((comps.join(&b'/'), timestamps(mtime)));
    } else {
        rustix::fs::utimensat(
            &parent_fd,
            name,
            &timestamps(mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(io_err(&full, "utimes"))?;
    }
    Ok(())
}

/// Applies `SCHILY.xattr.*` PAX records. Only the namespaces a container image may carry
/// are honoured; `trusted.overlay.*` in an archive would forge overlay metadata.
fn apply_xattrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    parent_fd: &OwnedFd,
    name: &[u8],
    full: &[u8],
) -> Result<(), UnpackError> {
    let Some(exts) = entry.pax_extensions().map_err(UnpackError::Tar)? else {
        return Ok(());
    };
    let mut attrs: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    for ext in exts {
        let ext = ext.map_err(UnpackError::Tar)?;
        if let Some(key) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
            attrs.insert(key.to_vec(), ext.value_bytes().to_vec());
        }
    }
    for (key, value) in attrs {
        let allowed = key.starts_with(b"user.")
            || key == b"security.capability"
            || key.starts_with(b"system.");
        if !allowed {
            continue;
        }
        rustix::fs::lsetxattr(
            fd_path(parent_fd, name),
            OsStr::from_bytes(&key),
            &value,
            XattrFlags::empty(),
        )
        .map_err(io_err(full, "set xattr"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_refuse_escapes() {
        assert!(clean_components(b"/etc/passwd").is_err());
        assert!(clean_components(b"a/../../b").is_err());
        assert!(clean_components(b"..").is_err());
        assert_eq!(
            clean_components(b"./a//b/.").unwrap(),
            vec![&b"a"[..], &b"b"[..]]
        );
        assert!(clean_components(b"./").unwrap().is_empty());
    }
}
