//! The few file system primitives everything else is built on: confined lookups
//! (`openat2` with `RESOLVE_IN_ROOT`) and descriptor-relative calls that never follow a
//! symlink in the last component.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

/// Opens `path` (relative; a leading `/` is ignored) below `dir`, resolving every symlink
/// and `..` as if `dir` were `/`. The last component is followed only if `follow_last`.
/// An empty path is `dir` itself.
pub(crate) fn open_in_root(
    dir: BorrowedFd<'_>,
    path: impl AsRef<[u8]>,
    flags: OFlags,
    follow_last: bool,
) -> rustix::io::Result<OwnedFd> {
    let mut p: &[u8] = path.as_ref();
    while let Some(rest) = p.strip_prefix(b"/") {
        p = rest;
    }
    if p.is_empty() {
        p = b".";
    }
    // openat2 refuses any flag O_PATH ignores (EINVAL), unlike openat.
    let mut flags = flags | OFlags::CLOEXEC;
    if !flags.contains(OFlags::PATH) {
        flags |= OFlags::NOCTTY;
    }
    if !follow_last {
        flags |= OFlags::NOFOLLOW;
    }
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    // EAGAIN: a rename or mount raced with the lookup; the kernel asks us to retry.
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, p, flags, Mode::empty(), resolve) {
            Err(Errno::AGAIN | Errno::INTR) if tries < 64 => tries += 1,
            r => return r,
        }
    }
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<Stat> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
}

/// Opens the directory `name` of `dir` for reading, refusing a symlink.
pub(crate) fn open_dir_at(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The kind of file a `st_mode` says.
pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// The permission bits, setuid, setgid and sticky bits of a `st_mode`.
pub(crate) fn perm(st: &Stat) -> u32 {
    st.st_mode & 0o7777
}

/// Removes `name` from `dir`: a file, or a directory tree (without following symlinks,
/// and without leaving the directory's own file system through anything but its entries).
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<()> {
    let st = lstat_at(dir, name)?;
    if file_type(&st) != FileType::Directory {
        return rustix::fs::unlinkat(dir, name, AtFlags::empty());
    }
    let sub = open_dir_at(dir, name)?;
    for child in read_dir_names(sub.as_fd())? {
        match remove_all_at(sub.as_fd(), &child) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e),
        }
    }
    drop(sub);
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}

/// The entry names of a directory (without `.` and `..`), sorted bytewise as Go's
/// `filepath.WalkDir` visits them.
pub(crate) fn read_dir_names(dir: BorrowedFd<'_>) -> rustix::io::Result<Vec<Vec<u8>>> {
    // A fresh descriptor: reading moves the directory offset, which descriptors share.
    let fd = rustix::fs::openat(
        dir,
        c".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for e in rustix::fs::Dir::new(fd)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    names.sort();
    Ok(names)
}

/// Reads at most `limit` bytes of a regular file, or `None` (missing, not a regular file,
/// unreadable). Opened without blocking, so a FIFO planted in its place cannot hang us.
pub(crate) fn read_small_file(root: BorrowedFd<'_>, path: &str, limit: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let fd = open_in_root(root, path, OFlags::RDONLY | OFlags::NONBLOCK, true).ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    if file_type(&st) != FileType::RegularFile {
        return None;
    }
    let mut buf = Vec::new();
    std::fs::File::from(fd)
        .take(limit)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

/// A path's components after Go's `path.Clean` of a relative path: `.` and empty ones
/// dropped, `..` taking back the one before it. `None` if `..` would climb above the
/// start.
pub(crate) fn clean_relative(path: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in path.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// The components of `filepath.Join("/", path)`: like [`clean_relative`], with `..`
/// stopping at the root.
pub(crate) fn clean_rooted(path: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in path.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// `path` below `root` with every symlink followed inside it (absolute targets from
/// `root`, `..` stopping there), as far as it exists: the missing rest is kept as
/// given. `ELOOP` after 255 links.
pub(crate) fn resolve(root: BorrowedFd<'_>, path: &[u8]) -> rustix::io::Result<Vec<Vec<u8>>> {
    let mut pending: Vec<Vec<u8>> = path
        .split(|b| *b == b'/')
        .rev()
        .map(<[u8]>::to_vec)
        .collect();
    let mut resolved: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c.is_empty() || c == b"." {
            continue;
        }
        if c == b".." {
            resolved.pop();
            continue;
        }
        let mut cand: Vec<&[u8]> = resolved.iter().map(Vec::as_slice).collect();
        cand.push(&c);
        let target = match open_in_root(root, join(&cand), OFlags::PATH, false) {
            Ok(fd) => match rustix::fs::fstat(&fd) {
                Ok(st) if file_type(&st) == FileType::Symlink => {
                    rustix::fs::readlinkat(&fd, c"", Vec::new())
                        .ok()
                        .map(|t| t.into_bytes())
                }
                _ => None,
            },
            Err(_) => None,
        };
        match target {
            Some(t) => {
                links += 1;
                if links > 255 {
                    return Err(Errno::LOOP);
                }
                if t.starts_with(b"/") {
                    resolved.clear();
                }
                pending.extend(t.split(|b| *b == b'/').rev().map(<[u8]>::to_vec));
            }
            None => resolved.push(c),
        }
    }
    Ok(resolved)
}

pub(crate) fn join(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_relative_follows_go_path_clean() {
        let c =
            |p: &str| clean_relative(p.as_bytes()).map(|v| String::from_utf8(join(&v)).unwrap());
        assert_eq!(c("a/b/../c/./d//"), Some("a/c/d".into()));
        assert_eq!(c("/a"), Some("a".into()));
        assert_eq!(c("."), Some("".into()));
        assert_eq!(c("a/../.."), None);
        assert_eq!(c("../x"), None);
        assert_eq!(join(&clean_rooted(b"../../etc/./x/..")), b"etc");
    }
}
