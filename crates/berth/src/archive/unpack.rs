//! Extracting a tar from the daemon into a local directory with docker's `Untar`
//! rules (`NoLchown`, `NoOverwriteDirNonDir`): existing files are replaced, existing
//! directories merged, missing parents created, directory times set last.
//!
//! The archive comes from a container and is treated as hostile. Every path is
//! resolved with `openat2(RESOLVE_IN_ROOT)` against the destination directory, so a
//! symlink planted by an earlier entry (`x -> /etc`, `x -> ../../..`) resolves inside
//! the destination and never reaches a host path; the last element of an entry is
//! always created or replaced, never followed.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};

use super::gopath::{clean, dir, join, reason};
use crate::format::go_quote;

/// The renaming applied to names (and hard link targets) before extraction.
pub type Rename<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;

/// An extraction error, worded as Go's.
#[derive(Debug)]
pub struct UnpackError(pub String);

impl std::fmt::Display for UnpackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, UnpackError>;

fn op_err(op: &str, path: &str, e: impl Into<io::Error>) -> UnpackError {
    UnpackError(format!("{op} {path}: {}", reason(&e.into())))
}

/// A tar stream's entry as extraction needs it.
struct Item {
    rel: String,
    kind: u8,
    link: String,
    mode: u32,
    mtime: Timespec,
    atime: Option<Timespec>,
    dev: (u32, u32),
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Extracts `reader` into `dest` (docker's `archive.Untar` with `NoLchown` and
/// `NoOverwriteDirNonDir`); `rename` rewrites each entry's name first.
pub fn untar<R: Read>(reader: R, dest: &str, rename: Rename<'_>) -> Result<()> {
    let dest = clean(dest);
    let root = rustix::fs::open(
        dest.as_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| op_err("open", &dest, e))?;
    let mut u = Unpacker {
        root,
        dest,
        dirs: Vec::new(),
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| UnpackError(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| UnpackError(e.to_string()))?;
        u.entry(&mut entry, rename)?;
    }
    u.finish_dirs()
}

struct Unpacker {
    root: OwnedFd,
    dest: String,
    dirs: Vec<(String, Timespec)>,
}

fn ts(secs: i64, nanos: i64) -> Timespec {
    Timespec {
        tv_sec: secs,
        tv_nsec: nanos,
    }
}

/// A PAX time ("1700000000.123456789") as a timespec.
fn pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos = 0i64;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        nanos = format!("{digits:0<9}").parse().ok()?;
    }
    Some(ts(secs, nanos))
}

impl Unpacker {
    fn full(&self, rel: &str) -> String {
        join(&[&self.dest, rel])
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, rename: Rename<'_>) -> Result<()> {
        let header = entry.header();
        let mut kind = header.entry_type().as_byte();
        if kind == b'g' {
            // PAX global headers carry nothing docker applies.
            return Ok(());
        }
        let raw_name = rename(&entry.path_bytes());
        let raw_link = entry
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        let raw_link = if kind == b'1' {
            rename(&raw_link)
        } else {
            raw_link
        };
        if kind == 0 {
            // Go's reader: the old regular-file flag, a directory if named like one.
            kind = if raw_name.ends_with(b"/") { b'5' } else { b'0' };
        }
        let name = clean(&String::from_utf8_lossy(&raw_name));
        let mode = header.mode().map_err(|e| UnpackError(e.to_string()))?;
        let mut mtime = ts(
            header
                .mtime()
                .ok()
                .and_then(|m| i64::try_from(m).ok())
                .unwrap_or(0),
            0,
        );
        let mut atime = None;
        let mut xattrs = Vec::new();
        if let Ok(Some(pax)) = entry.pax_extensions() {
            for ext in pax.flatten() {
                let key = ext.key_bytes();
                if key == b"mtime" {
                    if let Some(t) = pax_time(ext.value_bytes()) {
                        mtime = t;
                    }
                } else if key == b"atime" {
                    atime = pax_time(ext.value_bytes());
                } else if let Some(x) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((
                        String::from_utf8_lossy(x).into_owned(),
                        ext.value_bytes().to_vec(),
                    ));
                }
            }
        }
        let header = entry.header();
        let dev = (
            header.device_major().ok().flatten().unwrap_or(0),
            header.device_minor().ok().flatten().unwrap_or(0),
        );

        // Relative to the destination: a leading "/" is inside it too.
        let rel = clean(name.trim_start_matches('/'));
        if rel == ".." || rel.starts_with("../") {
            return Err(UnpackError(format!(
                "{} is outside of {}",
                go_quote(&name),
                go_quote(&self.dest)
            )));
        }
        if rel != "." {
            self.implied_dirs(&dir(&rel))?;
        }
        let item = Item {
            rel,
            kind,
            link: String::from_utf8_lossy(&raw_link).into_owned(),
            mode,
            mtime,
            atime,
            dev,
            xattrs,
        };
        let (parent, base) = self.parent_of(&item.rel)?;
        let path = self.full(&item.rel);
        if let Some(existing) = stat_nofollow(parent.as_fd(), &base) {
            let is_dir = FileType::from_raw_mode(existing.st_mode) == FileType::Directory;
            if is_dir && item.kind != b'5' {
                return Err(UnpackError(format!(
                    "cannot overwrite directory {} with non-directory {}",
                    go_quote(&path),
                    go_quote(&self.dest)
                )));
            }
            if !is_dir && item.kind == b'5' {
                return Err(UnpackError(format!(
                    "cannot overwrite non-directory {} with directory {}",
                    go_quote(&path),
                    go_quote(&self.dest)
                )));
            }
            if is_dir && item.rel == "." {
                return Ok(());
            }
            if !is_dir {
                remove_all_at(parent.as_fd(), &base).map_err(|e| op_err("unlinkat", &path, e))?;
            }
        }
        self.create(parent.as_fd(), &base, &path, &item, entry)?;
        if item.kind == b'5' {
            self.dirs.push((item.rel.clone(), item.mtime));
        }
        Ok(())
    }

    /// The directory holding `rel` (resolved inside the destination) and `rel`'s
    /// last element.
    fn parent_of(&self, rel: &str) -> Result<(OwnedFd, String)> {
        if rel == "." {
            // The destination itself: its parent is not ours to touch; use the root
            // with "." as the name.
            let fd = dup_root(&self.root).map_err(|e| op_err("open", &self.dest, e))?;
            return Ok((fd, ".".into()));
        }
        let parent = dir(rel);
        let base = rel.rsplit('/').next().unwrap_or(rel).to_string();
        let fd = self
            .open_dir(&parent)
            .map_err(|e| op_err("open", &self.full(&parent), e))?;
        Ok((fd, base))
    }

    /// Opens a directory of the destination, resolving symlinks inside it.
    fn open_dir(&self, rel: &str) -> io::Result<OwnedFd> {
        let mut tries = 0;
        loop {
            let r = rustix::fs::openat2(
                self.root.as_fd(),
                rel,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            );
            match r {
                Err(rustix::io::Errno::AGAIN) if tries < 16 => tries += 1,
                other => return other.map_err(io::Error::from),
            }
        }
    }

    /// docker's `createImpliedDirectories`: missing parents are made with mode 0755.
    fn implied_dirs(&self, rel: &str) -> Result<()> {
        if rel == "." || self.open_dir(rel).is_ok() {
            return Ok(());
        }
        let mut prefix = String::new();
        for comp in rel.split('/') {
            let parent = if prefix.is_empty() {
                "."
            } else {
                prefix.as_str()
            };
            let next = if prefix.is_empty() {
                comp.to_string()
            } else {
                format!("{prefix}/{comp}")
            };
            if self.open_dir(&next).is_err() {
                let pfd = self
                    .open_dir(parent)
                    .map_err(|e| op_err("mkdir", &self.full(&next), e))?;
                match rustix::fs::mkdirat(pfd.as_fd(), comp, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(op_err("mkdir", &self.full(&next), e)),
                }
            }
            prefix = next;
        }
        Ok(())
    }

    /// docker's `createTarFile`, ownership left alone.
    fn create<R: Read>(
        &self,
        parent: BorrowedFd<'_>,
        base: &str,
        path: &str,
        item: &Item,
        content: &mut tar::Entry<'_, R>,
    ) -> Result<()> {
        let perm = Mode::from_raw_mode(item.mode & 0o7777);
        // Files get the modification time as access time too (docker's rule when
        // the archive's access time is older).
        let file_times = Timestamps {
            last_access: match item.atime {
                Some(a) if (a.tv_sec, a.tv_nsec) > (item.mtime.tv_sec, item.mtime.tv_nsec) => a,
                _ => item.mtime,
            },
            last_modification: item.mtime,
        };
        match item.kind {
            b'5' => {
                if stat_nofollow(parent, base).is_none() {
                    rustix::fs::mkdirat(parent, base, Mode::from_raw_mode(0o700))
                        .map_err(|e| op_err("mkdir", path, e))?;
                }
                let fd = rustix::fs::openat(
                    parent,
                    base,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| op_err("open", path, e))?;
                set_xattrs(fd.as_fd(), path, &item.xattrs)?;
                rustix::fs::fchmod(&fd, perm).map_err(|e| op_err("chmod", path, e))?;
            }
            b'0' | b'7' => {
                let fd = rustix::fs::openat(
                    parent,
                    base,
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| op_err("open", path, e))?;
                let mut file = std::fs::File::from(fd);
                io::copy(content, &mut file).map_err(|e| UnpackError(e.to_string()))?;
                file.flush().map_err(|e| UnpackError(e.to_string()))?;
                set_xattrs(file.as_fd(), path, &item.xattrs)?;
                rustix::fs::fchmod(&file, perm).map_err(|e| op_err("chmod", path, e))?;
                rustix::fs::futimens(&file, &file_times).map_err(|e| op_err("chtimes", path, e))?;
            }
            b'3' | b'4' | b'6' => {
                let ft = match item.kind {
                    b'3' => FileType::CharacterDevice,
                    b'4' => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rustix::fs::makedev(item.dev.0, item.dev.1);
                rustix::fs::mknodat(parent, base, ft, perm, dev)
                    .map_err(|e| UnpackError(reason(&e.into())))?;
                rustix::fs::chmodat(parent, base, perm, AtFlags::empty())
                    .map_err(|e| op_err("chmod", path, e))?;
                set_times(parent, base, &file_times).map_err(|e| op_err("chtimes", path, e))?;
            }
            b'1' => {
                let target = join(&[&self.dest, &item.link]);
                if !target.starts_with(&self.dest) {
                    return Err(UnpackError(format!(
                        "invalid hardlink {} -> {}",
                        go_quote(&target),
                        go_quote(&item.link)
                    )));
                }
                let target_rel = clean(item.link.trim_start_matches('/'));
                let link_err =
                    |e: io::Error| UnpackError(format!("link {target} {path}: {}", reason(&e)));
                if target_rel == "." || target_rel == ".." || target_rel.starts_with("../") {
                    return Err(link_err(io::Error::from_raw_os_error(1)));
                }
                let tparent = self.open_dir(&dir(&target_rel)).map_err(link_err)?;
                let tbase = target_rel.rsplit('/').next().unwrap_or(&target_rel);
                rustix::fs::linkat(tparent.as_fd(), tbase, parent, base, AtFlags::empty())
                    .map_err(|e| link_err(e.into()))?;
                let is_symlink = stat_nofollow(parent, base)
                    .is_some_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
                if !is_symlink {
                    rustix::fs::chmodat(parent, base, perm, AtFlags::empty())
                        .map_err(|e| op_err("chmod", path, e))?;
                    set_times(parent, base, &file_times).map_err(|e| op_err("chtimes", path, e))?;
                }
            }
            b'2' => {
                // docker refuses links whose target climbs out of the destination
                // ("../../x"); absolute ones are joined below it and allowed. Either
                // way they are only ever resolved inside the destination.
                let target = join(&[&dir(path), &item.link]);
                if !target.starts_with(&self.dest) {
                    return Err(UnpackError(format!(
                        "invalid symlink {} -> {}",
                        go_quote(path),
                        go_quote(&item.link)
                    )));
                }
                rustix::fs::symlinkat(item.link.as_str(), parent, base).map_err(|e| {
                    UnpackError(format!(
                        "symlink {} {path}: {}",
                        item.link,
                        reason(&e.into())
                    ))
                })?;
                set_times(parent, base, &file_times).map_err(|e| op_err("lchtimes", path, e))?;
            }
            other => return Err(UnpackError(format!("unhandled tar header type {other}"))),
        }
        Ok(())
    }

    /// Directory times, once nothing more is written into them.
    fn finish_dirs(&self) -> Result<()> {
        for (rel, mtime) in &self.dirs {
            let (parent, base) = self.parent_of(rel)?;
            // docker passes the archive's (zero) access time, which it turns into
            // the epoch.
            let times = Timestamps {
                last_access: ts(0, 0),
                last_modification: *mtime,
            };
            set_times(parent.as_fd(), &base, &times)
                .map_err(|e| op_err("chtimes", &self.full(rel), e))?;
        }
        Ok(())
    }
}

fn dup_root(root: &OwnedFd) -> io::Result<OwnedFd> {
    rustix::fs::openat(
        root.as_fd(),
        ".",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)
}

fn stat_nofollow<P: rustix::path::Arg>(
    parent: BorrowedFd<'_>,
    name: P,
) -> Option<rustix::fs::Stat> {
    rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW).ok()
}

fn set_times(parent: BorrowedFd<'_>, name: &str, times: &Timestamps) -> io::Result<()> {
    rustix::fs::utimensat(parent, name, times, AtFlags::SYMLINK_NOFOLLOW).map_err(io::Error::from)
}

/// Extended attributes from the archive; ones the filesystem or our privileges do
/// not allow are skipped (docker's best effort).
fn set_xattrs(fd: BorrowedFd<'_>, path: &str, xattrs: &[(String, Vec<u8>)]) -> Result<()> {
    for (name, value) in xattrs {
        match rustix::fs::fsetxattr(fd, name.as_str(), value, rustix::fs::XattrFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::PERM) | Err(rustix::io::Errno::NOTSUP) => {}
            Err(e) => return Err(op_err("lsetxattr", &format!("{path} {name}"), e)),
        }
    }
    Ok(())
}

/// `os.RemoveAll` of `name` in `parent`, never following a symlink.
fn remove_all_at<P: rustix::path::Arg + Copy>(parent: BorrowedFd<'_>, name: P) -> io::Result<()> {
    let Some(st) = stat_nofollow(parent, name) else {
        return Ok(());
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return match rustix::fs::unlinkat(parent, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        };
    }
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut children = Vec::new();
    for ent in rustix::fs::Dir::read_from(&fd)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            children.push(n.to_vec());
        }
    }
    for child in children {
        use std::os::unix::ffi::OsStrExt;
        remove_all_at(fd.as_fd(), std::ffi::OsStr::from_bytes(&child))?;
    }
    match rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A fresh number for test directories.
#[cfg(test)]
pub fn tests_counter() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    /// One raw entry: name, type, link target, mode, data.
    fn tar_of(entries: &[(&str, u8, &str, u32, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, link, mode, data) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::new(*kind));
            let n = &mut h.as_old_mut().name;
            n[..name.len()].copy_from_slice(name.as_bytes());
            let l = &mut h.as_old_mut().linkname;
            l[..link.len()].copy_from_slice(link.as_bytes());
            h.set_mode(*mode);
            h.set_size(data.len() as u64);
            h.set_mtime(1_704_067_200);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            let d = std::env::temp_dir().join(format!(
                "berth-unpack-{}-{}",
                std::process::id(),
                tests_counter()
            ));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(d.join("dest")).unwrap();
            std::fs::create_dir_all(d.join("outside")).unwrap();
            Scratch(d)
        }
        fn dest(&self) -> PathBuf {
            self.0.join("dest")
        }
        fn outside(&self) -> PathBuf {
            self.0.join("outside")
        }
        fn untar(&self, tar: &[u8]) -> Result<()> {
            untar(tar, &self.dest().to_string_lossy(), &|n: &[u8]| n.to_vec())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn extracts_trees_with_modes_links_and_times() {
        let s = Scratch::new();
        let tar = tar_of(&[
            ("d/", b'5', "", 0o751, b""),
            ("d/f", b'0', "", 0o640, b"from-ctr\n"),
            ("d/e/g", b'0', "", 0o4755, b"implied parent\n"),
            ("d/sym", b'2', "f", 0o777, b""),
            ("d/hard", b'1', "d/f", 0o640, b""),
        ]);
        s.untar(&tar).unwrap();
        let d = s.dest().join("d");
        assert_eq!(std::fs::read(d.join("f")).unwrap(), b"from-ctr\n");
        assert_eq!(mode(&d), 0o751);
        assert_eq!(mode(&d.join("f")), 0o640);
        assert_eq!(mode(&d.join("e/g")), 0o4755);
        assert_eq!(std::fs::read_link(d.join("sym")).unwrap(), Path::new("f"));
        let (f, h) = (
            std::fs::metadata(d.join("f")).unwrap(),
            std::fs::metadata(d.join("hard")).unwrap(),
        );
        assert_eq!(f.ino(), h.ino());
        assert_eq!(f.mtime(), 1_704_067_200);
        // Directory times are set after their contents were written.
        assert_eq!(std::fs::metadata(&d).unwrap().mtime(), 1_704_067_200);
    }

    #[test]
    fn replaces_files_and_merges_directories() {
        let s = Scratch::new();
        std::fs::create_dir_all(s.dest().join("d/keep")).unwrap();
        std::fs::write(s.dest().join("d/f"), b"old").unwrap();
        std::os::unix::fs::symlink(s.outside(), s.dest().join("d/l")).unwrap();
        let tar = tar_of(&[
            ("d/", b'5', "", 0o755, b""),
            ("d/f", b'0', "", 0o644, b"new"),
            // Replaces the symlink itself, never writes through it.
            ("d/l", b'0', "", 0o644, b"not outside"),
        ]);
        s.untar(&tar).unwrap();
        assert_eq!(std::fs::read(s.dest().join("d/f")).unwrap(), b"new");
        assert!(s.dest().join("d/keep").is_dir());
        assert!(!std::fs::symlink_metadata(s.dest().join("d/l"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_dir(s.outside()).unwrap().count(), 0);
        let err = s
            .untar(&tar_of(&[("d", b'0', "", 0o644, b"x")]))
            .unwrap_err();
        assert_eq!(
            err.0,
            format!(
                "cannot overwrite directory \"{0}/d\" with non-directory \"{0}\"",
                s.dest().display()
            )
        );
        let err = s
            .untar(&tar_of(&[("d/f/", b'5', "", 0o755, b"")]))
            .unwrap_err();
        assert!(err.0.starts_with("cannot overwrite non-directory"), "{err}");
    }

    #[test]
    fn hostile_archives_cannot_reach_outside() {
        let s = Scratch::new();
        let out = s.outside().to_string_lossy().into_owned();
        // An absolute symlink, then a file through it.
        let tar = tar_of(&[
            ("evil", b'2', &out, 0o777, b""),
            ("evil/x", b'0', "", 0o644, b"escaped"),
        ]);
        let _ = s.untar(&tar);
        assert_eq!(std::fs::read_dir(s.outside()).unwrap().count(), 0);
        // A directory symlink that climbs out is refused, as docker refuses it.
        let err = s
            .untar(&tar_of(&[("up", b'2', "../outside", 0o777, b"")]))
            .unwrap_err();
        assert!(err.0.starts_with("invalid symlink"), "{err}");
        // Names that climb out are refused.
        let err = s
            .untar(&tar_of(&[("../outside/y", b'0', "", 0o644, b"x")]))
            .unwrap_err();
        assert_eq!(
            err.0,
            format!("\"../outside/y\" is outside of \"{}\"", s.dest().display())
        );
        // A hard link to a host file resolves inside the destination (and fails).
        std::fs::write(s.outside().join("secret"), b"s").unwrap();
        let target = format!("{out}/secret");
        assert!(s
            .untar(&tar_of(&[("h", b'1', &target, 0o644, b"")]))
            .is_err());
        // A symlink in the path of a later entry resolves inside the destination.
        std::fs::create_dir_all(s.dest().join("inner")).unwrap();
        let tar = tar_of(&[
            ("root", b'2', "/", 0o777, b""),
            ("root/inner/z", b'0', "", 0o644, b"inside"),
        ]);
        s.untar(&tar).unwrap();
        assert_eq!(std::fs::read(s.dest().join("inner/z")).unwrap(), b"inside");
        assert_eq!(std::fs::read_dir(s.outside()).unwrap().count(), 1);
    }

    #[test]
    fn renames_apply_to_names_and_hard_links() {
        let s = Scratch::new();
        let tar = tar_of(&[
            ("d/", b'5', "", 0o755, b""),
            ("d/f", b'0', "", 0o644, b"x"),
            ("d/h", b'1', "d/f", 0o644, b""),
        ]);
        let r = crate::archive::Rebase::new("d", "out");
        untar(&tar[..], &s.dest().to_string_lossy(), &|n: &[u8]| {
            r.apply(n)
        })
        .unwrap();
        assert_eq!(std::fs::read(s.dest().join("out/h")).unwrap(), b"x");
    }
}
