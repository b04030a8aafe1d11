//! Writing a tree into a directory: `PUT archive` (a tar stream) and copy-up (a walked
//! tree). Each entry's parent is looked up below the destination with every symlink
//! confined to it (`RESOLVE_IN_ROOT`, as Docker's `os.Root`), and the entry itself is
//! made with `*at` calls on that parent that never follow a symlink.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use crate::idmap::IdMap;
use crate::walk::{Kind, Meta};
use crate::{fsx, Error, Result, Root};

/// How `PUT archive` and copy-up write entries.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Refuse to replace a directory with a non-directory or the reverse (Docker's
    /// `noOverwriteDirNonDir`, what `docker cp` asks for).
    pub no_overwrite_dir_non_dir: bool,
    /// Every entry belongs to these host IDs (`copyUIDGID`, the container's user).
    pub chown: Option<(u32, u32)>,
    /// Otherwise the archive's owners, which are container IDs, mapped to host IDs.
    pub idmap: IdMap,
    /// The root entry (`.`) sets the destination's own mode, owner and times (copy-up);
    /// `PUT archive` skips it, as Docker does.
    pub apply_root_meta: bool,
}

/// The directory `PUT archive` extracts into.
#[derive(Debug)]
pub struct ExtractionPoint {
    fd: OwnedFd,
    /// Its absolute path in the root (for messages).
    pub path: String,
}

impl ExtractionPoint {
    pub(crate) fn resolve(root: &Root, path: &str) -> Result<ExtractionPoint> {
        let comps = fsx::clean_rooted(path.as_bytes());
        let abs = format!("/{}", String::from_utf8_lossy(&fsx::join(&comps)));
        let not_dir = || Error::Invalid("extraction point is not a directory".into());
        let fd = match fsx::open_in_root(root.fd(), fsx::join(&comps), OFlags::PATH, true) {
            Ok(fd) => fd,
            Err(Errno::NOTDIR) => return Err(not_dir()),
            Err(e) => return Err(Error::io(format!("lstat {abs}"), e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::io(format!("lstat {abs}"), e))?;
        if fsx::file_type(&st) != FileType::Directory {
            return Err(not_dir());
        }
        Ok(ExtractionPoint { fd, path: abs })
    }

    /// A directory the caller opened (copy-up into a volume).
    pub fn from_fd(fd: OwnedFd, path: String) -> ExtractionPoint {
        ExtractionPoint { fd, path }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Whether the directory is on a read-only mount.
    pub fn is_read_only(&self) -> Result<bool> {
        let v = rustix::fs::fstatvfs(&self.fd).map_err(|e| Error::io("statvfs", e))?;
        Ok(v.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
    }

    /// The ID of the mount the directory is on.
    pub fn mount_id(&self) -> Result<u64> {
        mount_id(self.fd())
    }
}

/// The ID of the mount `fd` is on (`statx` `STATX_MNT_ID`).
pub fn mount_id(fd: BorrowedFd<'_>) -> Result<u64> {
    let st = rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, rustix::fs::StatxFlags::MNT_ID)
        .map_err(|e| Error::io("statx", e))?;
    Ok(st.stx_mnt_id)
}

pub(crate) struct Extractor<'d> {
    dest: BorrowedFd<'d>,
    opts: ExtractOptions,
    /// The destination as the caller names it, for Docker's overwrite messages.
    dest_display: String,
    /// Directories whose times are set at the end (entries written into them later
    /// would change their mtime).
    dirs: Vec<(Vec<u8>, (i64, u32))>,
}

fn times(mtime: (i64, u32)) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime.0,
        tv_nsec: i64::from(mtime.1),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Extended attributes are carried where the file system takes them.
fn set_xattrs(fd: BorrowedFd<'_>, xattrs: &[(Vec<u8>, Vec<u8>)], name: &[u8]) -> Result<()> {
    for (k, v) in xattrs {
        match rustix::fs::fsetxattr(fd, k.as_slice(), v, XattrFlags::empty()) {
            Ok(()) | Err(Errno::NOTSUP | Errno::PERM | Errno::INVAL) => {}
            Err(e) => {
                return Err(Error::io(
                    format!("setting extended attribute {} on {}", show(k), show(name)),
                    e,
                ))
            }
        }
    }
    Ok(())
}

impl<'d> Extractor<'d> {
    pub(crate) fn new(dest: BorrowedFd<'d>, opts: ExtractOptions, dest_display: String) -> Self {
        Extractor {
            dest,
            opts,
            dest_display,
            dirs: Vec::new(),
        }
    }

    fn owner(&self, m: &Meta) -> Result<(u32, u32)> {
        match self.opts.chown {
            Some(p) => Ok(p),
            None => self
                .opts
                .idmap
                .to_host(m.uid, m.gid)
                .map_err(Error::Invalid),
        }
    }

    /// The parent directory of an entry, made (mode 0755, owned by the container's root)
    /// where missing, as Docker makes the directories an archive only implies. Symlinks
    /// on the way resolve inside the destination; where one dangles, the directories
    /// are made where it points (Docker's resolve-in-root).
    pub(crate) fn parent_dir(&self, parents: &[&[u8]]) -> Result<OwnedFd> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        let fail = |e: Errno| Error::io(format!("mkdir {}", show(&fsx::join(parents))), e);
        match fsx::open_in_root(self.dest, fsx::join(parents), flags, true) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(fail(e)),
        }
        let resolved = fsx::resolve(self.dest, &fsx::join(parents)).map_err(fail)?;
        let resolved: Vec<&[u8]> = resolved.iter().map(Vec::as_slice).collect();
        let mut cur = fsx::open_in_root(self.dest, b"", flags, true).map_err(fail)?;
        for i in 0..resolved.len() {
            let path = fsx::join(&resolved[..=i]);
            match fsx::open_in_root(self.dest, &path, flags, false) {
                Ok(fd) => {
                    cur = fd;
                    continue;
                }
                Err(Errno::NOENT) => {}
                Err(e) => return Err(fail(e)),
            }
            match rustix::fs::mkdirat(&cur, resolved[i], Mode::from_raw_mode(0o700)) {
                Ok(()) => {
                    let d = fsx::open_dir_at(cur.as_fd(), resolved[i]).map_err(fail)?;
                    let (uid, gid) = self.opts.idmap.root_pair();
                    rustix::fs::fchown(
                        &d,
                        Some(rustix::fs::Uid::from_raw(uid)),
                        Some(rustix::fs::Gid::from_raw(gid)),
                    )
                    .map_err(fail)?;
                    rustix::fs::fchmod(&d, Mode::from_raw_mode(0o755)).map_err(fail)?;
                }
                Err(Errno::EXIST) => {}
                Err(e) => return Err(fail(e)),
            }
            cur = fsx::open_in_root(self.dest, &path, flags, false).map_err(fail)?;
        }
        Ok(cur)
    }

    /// Writes one entry (`content`: a regular file's data).
    pub(crate) fn apply(&mut self, m: &Meta, content: Option<&mut dyn Read>) -> Result<()> {
        let comps = fsx::clean_relative(&m.name)
            .ok_or_else(|| Error::Invalid(format!("invalid entry name {:?}", show(&m.name))))?;
        let Some((&base, parents)) = comps.split_last() else {
            if self.opts.apply_root_meta && m.kind == Kind::Dir {
                let fd =
                    fsx::open_in_root(self.dest, b"", OFlags::RDONLY | OFlags::DIRECTORY, true)
                        .map_err(|e| Error::io("opening the destination", e))?;
                self.dir_meta(fd.as_fd(), m, b".")?;
                self.dirs.push((Vec::new(), m.mtime));
            }
            return Ok(());
        };
        let name = fsx::join(&comps);
        let fail = |what: &str, e: Errno| Error::io(format!("{what} {}", show(&name)), e);
        let parent = self.parent_dir(parents)?;
        let parent = parent.as_fd();

        let mut merge_dir = false;
        match fsx::lstat_at(parent, base) {
            Ok(st) => {
                let is_dir = fsx::file_type(&st) == FileType::Directory;
                let want_dir = m.kind == Kind::Dir;
                if self.opts.no_overwrite_dir_non_dir && is_dir && !want_dir {
                    return Err(Error::Other(format!(
                        "cannot overwrite directory {:?} with non-directory {:?}",
                        show(&name),
                        self.dest_display
                    )));
                }
                if self.opts.no_overwrite_dir_non_dir && !is_dir && want_dir {
                    return Err(Error::Other(format!(
                        "cannot overwrite non-directory {:?} with directory {:?}",
                        show(&name),
                        self.dest_display
                    )));
                }
                if is_dir && want_dir {
                    merge_dir = true;
                } else {
                    fsx::remove_all_at(parent, base).map_err(|e| fail("removing", e))?;
                }
            }
            Err(Errno::NOENT) => {}
            Err(e) => return Err(fail("lstat", e)),
        }

        let (uid, gid) = self.owner(m)?;
        let (uid_, gid_) = (
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        );
        let mode = Mode::from_raw_mode(m.mode & 0o7777);
        match &m.kind {
            Kind::Dir => {
                if !merge_dir {
                    rustix::fs::mkdirat(parent, base, Mode::from_raw_mode(0o700))
                        .map_err(|e| fail("mkdir", e))?;
                }
                let fd = fsx::open_dir_at(parent, base).map_err(|e| fail("opening", e))?;
                self.dir_meta(fd.as_fd(), m, &name)?;
                self.dirs.push((name.clone(), m.mtime));
            }
            Kind::File => {
                let fd = rustix::fs::openat(
                    parent,
                    base,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| fail("creating", e))?;
                let mut f = std::fs::File::from(fd);
                if let Some(r) = content {
                    std::io::copy(&mut r.take(m.size), &mut f).map_err(|e| {
                        let kind_other = e.raw_os_error().is_none();
                        let err = Error::io(format!("writing {}", show(&name)), e);
                        // A read error of the archive itself (truncated stream).
                        if kind_other {
                            Error::Other(err.to_string())
                        } else {
                            err
                        }
                    })?;
                }
                rustix::fs::fchown(&f, uid_, gid_).map_err(|e| fail("chown", e))?;
                set_xattrs(f.as_fd(), &m.xattrs, &name)?;
                // After chown, which clears setuid and setgid.
                rustix::fs::fchmod(&f, mode).map_err(|e| fail("chmod", e))?;
                rustix::fs::futimens(&f, &times(m.mtime)).map_err(|e| fail("chtimes", e))?;
            }
            Kind::Symlink(target) => {
                rustix::fs::symlinkat(target.as_slice(), parent, base)
                    .map_err(|e| fail("symlink", e))?;
                rustix::fs::chownat(parent, base, uid_, gid_, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| fail("lchown", e))?;
                rustix::fs::utimensat(parent, base, &times(m.mtime), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| fail("chtimes", e))?;
            }
            Kind::HardLink(target) => {
                let t = hardlink_target(target)?;
                let (tbase, tparents) = t.split_last().expect("checked not empty");
                let tparent = fsx::open_in_root(
                    self.dest,
                    fsx::join(tparents),
                    OFlags::PATH | OFlags::DIRECTORY,
                    true,
                )
                .map_err(|e| fail("link", e))?;
                // Flags 0: a symlink target is linked itself, not followed.
                rustix::fs::linkat(&tparent, *tbase, parent, base, AtFlags::empty())
                    .map_err(|e| fail("link", e))?;
            }
            Kind::Char | Kind::Block | Kind::Fifo => {
                let ft = match m.kind {
                    Kind::Char => FileType::CharacterDevice,
                    Kind::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rustix::fs::makedev(m.major, m.minor);
                rustix::fs::mknodat(parent, base, ft, Mode::from_raw_mode(0o600), dev)
                    .map_err(|e| fail("mknod", e))?;
                rustix::fs::chownat(parent, base, uid_, gid_, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| fail("lchown", e))?;
                // fchmodat follows a symlink: only while the node is still ours.
                if fsx::lstat_at(parent, base).is_ok_and(|st| fsx::file_type(&st) == ft) {
                    rustix::fs::chmodat(parent, base, mode, AtFlags::empty())
                        .map_err(|e| fail("chmod", e))?;
                }
                rustix::fs::utimensat(parent, base, &times(m.mtime), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| fail("chtimes", e))?;
            }
        }
        Ok(())
    }

    /// Owner, extended attributes and mode of a directory (new or merged).
    fn dir_meta(&self, fd: BorrowedFd<'_>, m: &Meta, name: &[u8]) -> Result<()> {
        let (uid, gid) = self.owner(m)?;
        let fail = |what: &str, e: Errno| Error::io(format!("{what} {}", show(name)), e);
        rustix::fs::fchown(
            fd,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .map_err(|e| fail("chown", e))?;
        set_xattrs(fd, &m.xattrs, name)?;
        rustix::fs::fchmod(fd, Mode::from_raw_mode(m.mode & 0o7777)).map_err(|e| fail("chmod", e))
    }

    /// Sets the directories' times, now that nothing more is written into them.
    pub(crate) fn finish(self) -> Result<()> {
        for (path, mtime) in self.dirs.iter().rev() {
            let fd =
                match fsx::open_in_root(self.dest, path, OFlags::RDONLY | OFlags::DIRECTORY, false)
                {
                    Ok(fd) => fd,
                    // Replaced by a later entry.
                    Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                    Err(e) => return Err(Error::io(format!("chtimes {}", show(path)), e)),
                };
            rustix::fs::futimens(&fd, &times(*mtime))
                .map_err(|e| Error::io(format!("chtimes {}", show(path)), e))?;
        }
        Ok(())
    }
}

/// A hard link's target as Docker takes it: relative to the destination (a leading `/`
/// too), never above it.
fn hardlink_target(link: &[u8]) -> Result<Vec<&[u8]>> {
    let mut l = link;
    while let Some(r) = l.strip_prefix(b"/") {
        l = r;
    }
    match fsx::clean_relative(l) {
        Some(c) if !c.is_empty() => Ok(c),
        _ => Err(Error::Invalid(format!(
            "invalid hardlink target {:?}",
            show(link)
        ))),
    }
}

/// The entry a tar header describes.
fn meta_of_entry<R: Read>(e: &mut tar::Entry<'_, R>) -> Result<Meta> {
    let bad = |what: String| Error::Invalid(format!("invalid tar header: {what}"));
    let name = e.path_bytes().into_owned();
    let h = e.header();
    let ty = h.entry_type();
    let link = || -> Result<Vec<u8>> {
        Ok(e.link_name_bytes()
            .ok_or_else(|| bad(format!("{} has no link target", show(&name))))?
            .into_owned())
    };
    let kind = match ty {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            Kind::File
        }
        tar::EntryType::Directory => Kind::Dir,
        tar::EntryType::Symlink => Kind::Symlink(link()?),
        tar::EntryType::Link => Kind::HardLink(link()?),
        tar::EntryType::Char => Kind::Char,
        tar::EntryType::Block => Kind::Block,
        tar::EntryType::Fifo => Kind::Fifo,
        other => {
            return Err(Error::Invalid(format!(
                "unhandled tar header type {}",
                other.as_byte()
            )))
        }
    };
    let num = |r: std::io::Result<u64>, what: &str| {
        r.ok()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| bad(format!("{what} of {}", show(&name))))
    };
    let mut m = Meta {
        kind,
        mode: num(h.mode().map(u64::from), "mode")? & 0o7777,
        uid: num(h.uid(), "uid")?,
        gid: num(h.gid(), "gid")?,
        size: e.size(),
        major: h.device_major().ok().flatten().unwrap_or(0),
        minor: h.device_minor().ok().flatten().unwrap_or(0),
        mtime: (i64::try_from(h.mtime().unwrap_or(0)).unwrap_or(0), 0),
        xattrs: Vec::new(),
        name,
    };
    if let Ok(Some(pax)) = e.pax_extensions() {
        for ext in pax.flatten() {
            let (Ok(k), v) = (ext.key(), ext.value_bytes()) else {
                continue;
            };
            let text = std::str::from_utf8(v).unwrap_or("");
            match k {
                "uid" => m.uid = text.parse().map_err(|_| bad(format!("PAX uid {text:?}")))?,
                "gid" => m.gid = text.parse().map_err(|_| bad(format!("PAX gid {text:?}")))?,
                "mtime" => {
                    let (s, frac) = text.split_once('.').unwrap_or((text, ""));
                    if let Ok(s) = s.parse::<i64>() {
                        let digits: String = frac.chars().take(9).collect();
                        let ns = format!("{digits:0<9}").parse::<u32>().unwrap_or(0);
                        m.mtime = (s, if s < 0 { 0 } else { ns });
                    }
                }
                _ => {
                    if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                        m.xattrs.push((x.as_bytes().to_vec(), v.to_vec()));
                    }
                }
            }
        }
    }
    Ok(m)
}

/// Unwraps gzip; refuses the compressions Docker would unpack with outside tools.
fn decompress<'a, R: Read + 'a>(input: R) -> Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(64 * 1024, input);
    let head = r
        .fill_buf()
        .map_err(|e| Error::io("reading the archive", e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(r)));
    }
    let other = if head.starts_with(b"BZh") {
        Some("bzip2")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else {
        None
    };
    match other {
        Some(c) => Err(Error::Invalid(format!(
            "unsupported compression format {c}: send a plain or gzip-compressed tar"
        ))),
        None => Ok(Box::new(r)),
    }
}

pub(crate) fn extract_tar<R: Read>(
    dest: &ExtractionPoint,
    input: R,
    opts: ExtractOptions,
) -> Result<()> {
    let input = decompress(input)?;
    let mut archive = tar::Archive::new(input);
    let mut x = Extractor::new(dest.fd(), opts, dest.path.clone());
    let malformed = |e: std::io::Error| Error::Other(format!("reading the archive: {e}"));
    for entry in archive.entries().map_err(malformed)? {
        let mut e = entry.map_err(malformed)?;
        if matches!(
            e.header().entry_type(),
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        let m = meta_of_entry(&mut e)?;
        x.apply(&m, Some(&mut e))?;
    }
    x.finish()
}
