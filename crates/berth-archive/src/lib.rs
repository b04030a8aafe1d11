//! Tar streams of a directory tree with Docker's semantics: what `docker cp` reads and
//! writes (`GET`/`PUT /containers/{id}/archive`, with the stat of `HEAD`), what
//! `docker export` streams, and the copy of an image directory into a new volume.
//!
//! Every path is resolved inside a [`Root`]: a directory whose descriptor confines each
//! lookup (`openat2` with `RESOLVE_IN_ROOT`), so a symlink to `/etc` or `../../..` met
//! along the way resolves inside that directory, as it would for the container. Files are
//! then reached one component at a time from directory descriptors, never following a
//! symlink (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`), so a tree that changes while it is read
//! or written cannot send an operation elsewhere. The daemon runs these operations in a
//! helper whose root directory is the container's (see `berth-runc archive`); the
//! confinement here holds on its own too, which is what the unit tests check.

#![forbid(unsafe_code)]

mod extract;
mod fsx;
mod idmap;
mod passwd;
mod stat;
mod walk;
mod write;

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

pub use extract::{mount_id, ExtractOptions, ExtractionPoint};
pub use idmap::{IdMap, IdRange};
pub use passwd::resolve_user;
pub use stat::{go_file_mode, PathStat, GO_MODE_DIR, GO_MODE_SYMLINK};

/// What went wrong, by the kind the caller answers differently.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path (or one of its parents) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Bad input: a path that must be a directory is not, a bad user, an unknown
    /// compression, a refused archive entry.
    #[error("{0}")]
    Invalid(String),
    /// The destination is on a read-only mount.
    #[error("{0}")]
    ReadOnly(String),
    /// Anything else (I/O errors, a malformed archive).
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The exit status a helper process reports this error with (`berth-runc archive`).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Other(_) => 1,
            Error::NotFound(_) => 2,
            Error::Invalid(_) => 3,
            Error::ReadOnly(_) => 4,
        }
    }

    /// An I/O error with what was being done, classified by its errno.
    pub(crate) fn io(what: impl std::fmt::Display, e: impl Into<std::io::Error>) -> Error {
        let e: std::io::Error = e.into();
        let msg = format!("{what}: {}", errno_text(&e));
        match e.raw_os_error() {
            Some(n) if n == rustix::io::Errno::NOENT.raw_os_error() => Error::NotFound(msg),
            Some(n) if n == rustix::io::Errno::NOTDIR.raw_os_error() => Error::Invalid(msg),
            Some(n) if n == rustix::io::Errno::ROFS.raw_os_error() => Error::ReadOnly(msg),
            _ => Error::Other(msg),
        }
    }
}

/// The error text without Rust's " (os error N)" suffix, as Go prints errno values.
fn errno_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => {
            let mut t = s[..i].to_string();
            if let Some(c) = t.get(..1) {
                let lower = c.to_lowercase();
                t.replace_range(..1, &lower);
            }
            t
        }
        None => s,
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Options of the tar streams the daemon sends (`GET archive`, `export`).
#[derive(Debug, Clone, Default)]
pub struct ArchiveOptions {
    /// Owners on disk are host IDs of a user namespace: write the container's IDs.
    pub idmap: IdMap,
}

/// A directory every operation is confined to (a container's root filesystem).
pub struct Root {
    fd: OwnedFd,
}

impl Root {
    /// Opens `path` (followed if it is a symlink: it is the caller's, trusted path).
    pub fn open(path: &Path) -> Result<Root> {
        let fd = rustix::fs::open(
            path,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Ok(Root { fd })
    }

    /// A root from a directory descriptor the caller opened.
    pub fn from_fd(fd: OwnedFd) -> Root {
        Root { fd }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Docker's stat of `path` (`HEAD archive`, `X-Docker-Container-Path-Stat`): the last
    /// component is not followed unless the path ends in `/` or `/.`.
    pub fn stat(&self, path: &str) -> Result<PathStat> {
        Ok(walk::Source::resolve(self, path)?.stat)
    }

    /// Resolves `path` for `GET archive`: its stat and what [`Source::write_tar`] then
    /// writes. Names in the tar start with the base name of `path` (Docker's rebase).
    pub fn source(&self, path: &str) -> Result<Source<'_>> {
        walk::Source::resolve(self, path)
    }

    /// The whole tree as one tar (`docker export`): entries relative to the root
    /// (`bin/`, `bin/sh`, …), no entry for the root itself.
    pub fn export<W: Write>(&self, opts: &ArchiveOptions, out: W) -> Result<()> {
        let names = passwd::Names::read(self.fd());
        let mut tw = write::TarWriter::new(out, opts.idmap.clone(), names);
        let st = rustix::fs::fstat(self.fd()).map_err(|e| Error::io("stat /", e))?;
        let mut walker = walk::Walker::new();
        walker.walk_dir(self.fd(), &st, None, false, &mut |m, content| {
            tw.append(m, content)
        })?;
        tw.finish()
    }

    /// The directory `PUT archive` extracts into: `path` with every symlink followed,
    /// the last one too (Docker's rule), which must be a directory.
    pub fn extraction_point(&self, path: &str) -> Result<ExtractionPoint> {
        ExtractionPoint::resolve(self, path)
    }

    /// Makes the directory `path` and its missing parents (mode 0755, owned by root),
    /// resolving symlinks inside the root, and opens it (`O_PATH`).
    pub fn make_dirs(&self, path: &str) -> Result<OwnedFd> {
        let comps = fsx::clean_rooted(path.as_bytes());
        let x = extract::Extractor::new(self.fd(), ExtractOptions::default(), String::new());
        x.parent_dir(&comps)
    }

    /// Copies the contents of the directory `path` (symlinks followed inside the root)
    /// into `to`, keeping modes, owners, times, symlinks, hard links and devices; the
    /// directory's own mode, owner and times go to `to`. `Ok(false)`: `path` does not
    /// exist or is not a directory, nothing was copied.
    pub fn copy_up(&self, path: &str, to: BorrowedFd<'_>) -> Result<bool> {
        let src = match fsx::open_in_root(
            self.fd(),
            path.trim_start_matches('/'),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            true,
        ) {
            Ok(fd) => fd,
            Err(e)
                if e == rustix::io::Errno::NOENT
                    || e == rustix::io::Errno::NOTDIR
                    || e == rustix::io::Errno::LOOP =>
            {
                return Ok(false)
            }
            Err(e) => return Err(Error::io(format!("opening {path}"), e)),
        };
        let st = rustix::fs::fstat(&src).map_err(|e| Error::io(format!("stat {path}"), e))?;
        let mut x = extract::Extractor::new(
            to,
            ExtractOptions {
                apply_root_meta: true,
                ..ExtractOptions::default()
            },
            String::new(),
        );
        let mut walker = walk::Walker::new();
        walker.all_xattrs = true;
        walker.walk_dir(&src, &st, None, true, &mut |m, content| x.apply(m, content))?;
        x.finish()?;
        Ok(true)
    }
}

pub use walk::Source;

/// Reads a tar stream (plain or gzip-compressed) and extracts it into `dest`.
pub fn extract_tar<R: Read>(dest: &ExtractionPoint, input: R, opts: ExtractOptions) -> Result<()> {
    extract::extract_tar(dest, input, opts)
}
