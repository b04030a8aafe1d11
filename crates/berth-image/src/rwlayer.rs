//! Reading a container's writable layer: an overlayfs upper directory over the read-only
//! layers of its image.
//!
//! - [`changes`] is `docker diff`: what was added (`A`), changed (`C`) or deleted (`D`)
//!   relative to the layers below, classified as Docker's diff does (it compares the
//!   container's tree with its parent's): a changed directory is listed only when its own
//!   mode or owner changed or something under it changed; a deleted directory is one `D`;
//!   a directory made opaque (`rm -rf d && mkdir d`) lists its old entries as deleted.
//! - [`write_layer_tar`] is the layer `docker commit` stores: the upper directory as a tar
//!   with overlay whiteouts written as `.wh.NAME` entries and opaque directories marked by
//!   `.wh..wh..opq`, hard links within the layer as link entries, and `security.capability`.
//!
//! Both walks run while the container may be running and rewriting its files. They hold
//! directory descriptors and open every entry relative to its parent's descriptor with
//! `O_NOFOLLOW` (regular files first as `O_PATH`, reopened for reading only once known to
//! be regular files), so a container swapping a directory for a symlink, or a file for a
//! device node, cannot make them read anything outside the layer. Host paths are never
//! re-resolved below the layer roots given by the caller.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// Deeper trees are refused: every level holds descriptors, and no real root filesystem
/// comes near it (a path of this depth is already longer than `PATH_MAX`).
pub const MAX_DEPTH: usize = 2048;

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const REDIRECT_XATTR: &str = "trusted.overlay.redirect";
const METACOPY_XATTR: &str = "trusted.overlay.metacopy";
const CAPABILITY_XATTR: &str = "security.capability";

/// What happened to a path, with Docker's numbering (`Kind` in `GET /containers/{id}/changes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

impl ChangeKind {
    /// The API's number: 0 modified, 1 added, 2 deleted.
    pub fn code(self) -> u8 {
        match self {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }

    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One line of `docker diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute path inside the container (`/etc/passwd`); names that are not UTF-8 are
    /// shown with replacement characters, as Docker's JSON does.
    pub path: String,
    pub kind: ChangeKind,
}

/// One range of a user namespace's ID map: `size` IDs from `container` are `host` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// The ID maps of a container in its own user namespace: files in its writable layer are
/// owned by host IDs, which diff and commit report as the container's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMapping {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

/// The kernel's overflow ID, which a namespace shows for IDs it does not map.
const OVERFLOW_ID: u32 = 65534;

impl IdMapping {
    fn to_container(ranges: &[IdRange], host: u32) -> u32 {
        ranges
            .iter()
            .find(|r| host >= r.host && u64::from(host) < u64::from(r.host) + u64::from(r.size))
            .and_then(|r| r.container.checked_add(host - r.host))
            .unwrap_or(OVERFLOW_ID)
    }

    pub fn uid_to_container(&self, host: u32) -> u32 {
        Self::to_container(&self.uids, host)
    }

    pub fn gid_to_container(&self, host: u32) -> u32 {
        Self::to_container(&self.gids, host)
    }
}

fn owner(st: &Stat, ids: Option<&IdMapping>) -> (u32, u32) {
    match ids {
        Some(m) => (m.uid_to_container(st.st_uid), m.gid_to_container(st.st_gid)),
        None => (st.st_uid, st.st_gid),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RwLayerError {
    #[error("reading the container's filesystem at {path:?}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        source: io::Error,
    },
    #[error("writing the layer archive: {0}")]
    Write(io::Error),
    #[error("the container's filesystem at {path:?}: {why}")]
    Unsupported { path: String, why: &'static str },
}

fn show(path: &[u8]) -> String {
    if path.is_empty() {
        "/".into()
    } else {
        String::from_utf8_lossy(path).into_owned()
    }
}

fn io_err<'a>(path: &'a [u8], op: &'static str) -> impl FnOnce(Errno) -> RwLayerError + 'a {
    move |e| RwLayerError::Io {
        path: show(path),
        op,
        source: e.into(),
    }
}

type Result<T> = std::result::Result<T, RwLayerError>;

// ---- descriptor-relative primitives -------------------------------------------------

fn open_root(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RwLayerError::Io {
        path: path.display().to_string(),
        op: "open",
        source: e.into(),
    })
}

/// `lstat` of `name` in `dir`; `None` when it is gone (the container removed it meanwhile).
fn stat_at(dir: &OwnedFd, name: &[u8], path: &[u8]) -> Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(io_err(path, "stat")(e)),
    }
}

/// Opens the directory `name` in `dir` without following a symlink; `None` when it is
/// gone or is no longer a directory.
fn open_dir_at(dir: &OwnedFd, name: &[u8], path: &[u8]) -> Result<Option<OwnedFd>> {
    match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::LOOP) => Ok(None),
        Err(e) => Err(io_err(path, "open")(e)),
    }
}

/// The names in a directory, sorted bytewise (the order of Docker's tree walks).
fn list_dir(dir: &OwnedFd, path: &[u8]) -> Result<Vec<Vec<u8>>> {
    let d = rustix::fs::Dir::read_from(dir).map_err(io_err(path, "read directory"))?;
    let mut names = Vec::new();
    for e in d {
        let e = e.map_err(io_err(path, "read directory"))?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    names.sort();
    Ok(names)
}

/// An extended attribute of an open file or directory; `None` when it has none.
fn fxattr(fd: &impl AsFd, name: &str, path: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::fgetxattr(fd, name, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(Errno::NODATA) | Err(Errno::NOTSUP) => return Ok(None),
            Err(Errno::RANGE) if buf.len() < 65536 => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(io_err(path, "read xattr")(e)),
        }
    }
}

/// An extended attribute of the entry `name` of `dir`, read without following it: the
/// `/proc/self/fd/N/NAME` path resolves the held directory, and `lgetxattr` does not
/// follow the last component.
fn entry_xattr(dir: &OwnedFd, name: &[u8], attr: &str, path: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()));
    p.push(OsStr::from_bytes(name));
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::lgetxattr(&p, attr, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(Errno::NODATA) | Err(Errno::NOTSUP) | Err(Errno::NOENT) => return Ok(None),
            Err(Errno::RANGE) if buf.len() < 65536 => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(io_err(path, "read xattr")(e)),
        }
    }
}

fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn is_dir(st: &Stat) -> bool {
    file_type(st) == FileType::Directory
}

/// An overlay whiteout: a character device 0:0.
fn is_whiteout(st: &Stat) -> bool {
    file_type(st) == FileType::CharacterDevice && st.st_rdev == 0
}

fn is_opaque(dir: &OwnedFd, path: &[u8]) -> Result<bool> {
    Ok(fxattr(dir, OPAQUE_XATTR, path)?.as_deref() == Some(b"y"))
}

/// Features of overlayfs whose upper layer is not a plain diff: refused rather than
/// misread.
fn check_plain_dir(dir: &OwnedFd, path: &[u8]) -> Result<()> {
    if fxattr(dir, REDIRECT_XATTR, path)?.is_some() {
        return Err(RwLayerError::Unsupported {
            path: show(path),
            why: "a renamed directory (overlay redirect_dir) cannot be read as a layer diff",
        });
    }
    Ok(())
}

fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(parent.len() + 1 + name.len());
    p.extend_from_slice(parent);
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

// ---- the read-only layers below, as one merged tree ---------------------------------

/// A directory of the merged read-only layers: the descriptors of that directory in
/// each layer that contributes to it, top first (overlay merges a directory down to the
/// first layer where it is opaque, and a whiteout or non-directory hides what is below).
struct LowerDir(Vec<OwnedFd>);

/// An entry of the merged read-only layers.
struct LowerEntry {
    stat: Stat,
    /// Which `LowerDir` descriptor holds the visible entry.
    layer: usize,
}

impl LowerDir {
    fn roots(lowers: &[PathBuf]) -> Result<LowerDir> {
        let mut fds = Vec::new();
        for l in lowers {
            let fd = open_root(l)?;
            let opaque = is_opaque(&fd, b"")?;
            fds.push(fd);
            if opaque {
                break;
            }
        }
        Ok(LowerDir(fds))
    }

    fn empty() -> LowerDir {
        LowerDir(Vec::new())
    }

    /// The visible entry `name`, if the merged layers have one.
    fn lookup(&self, name: &[u8], path: &[u8]) -> Result<Option<LowerEntry>> {
        for (i, fd) in self.0.iter().enumerate() {
            match stat_at(fd, name, path)? {
                None => continue,
                Some(st) if is_whiteout(&st) => return Ok(None),
                Some(st) => return Ok(Some(LowerEntry { stat: st, layer: i })),
            }
        }
        Ok(None)
    }

    /// The merged directory `name` (whose visible entry `top` is a directory).
    fn child(&self, name: &[u8], top: &LowerEntry, path: &[u8]) -> Result<LowerDir> {
        let mut fds = Vec::new();
        for fd in &self.0[top.layer..] {
            let Some(st) = stat_at(fd, name, path)? else {
                continue;
            };
            if !is_dir(&st) {
                break; // a whiteout or a non-directory ends the merge
            }
            let Some(child) = open_dir_at(fd, name, path)? else {
                break;
            };
            let opaque = is_opaque(&child, path)?;
            fds.push(child);
            if opaque {
                break;
            }
        }
        Ok(LowerDir(fds))
    }

    /// The visible names of this merged directory.
    fn names(&self, path: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let mut out = Vec::new();
        for fd in &self.0 {
            for n in list_dir(fd, path)? {
                if seen.contains(&n) {
                    continue;
                }
                let hidden = stat_at(fd, &n, path)?.is_none_or(|st| is_whiteout(&st));
                if !hidden {
                    out.push(n.clone());
                }
                seen.insert(n);
            }
        }
        Ok(out)
    }

    fn capability(&self, e: &LowerEntry, name: &[u8], path: &[u8]) -> Result<Option<Vec<u8>>> {
        entry_xattr(&self.0[e.layer], name, CAPABILITY_XATTR, path)
    }
}

// ---- docker diff --------------------------------------------------------------------

/// Docker's `statDifferent`: type and permissions, owner, device number, and for
/// non-directories the modification time (equal when either side has no sub-second
/// part, as tar round trips lose it) and size.
fn stat_different(old: &Stat, new: &Stat, new_owner: (u32, u32)) -> bool {
    if old.st_mode != new.st_mode
        || old.st_uid != new_owner.0
        || old.st_gid != new_owner.1
        || old.st_rdev != new.st_rdev
    {
        return true;
    }
    if is_dir(old) {
        return false;
    }
    let same_time = old.st_mtime == new.st_mtime
        && (old.st_mtime_nsec == new.st_mtime_nsec
            || old.st_mtime_nsec == 0
            || new.st_mtime_nsec == 0);
    !same_time || old.st_size != new.st_size
}

/// `docker diff`: the changes in the writable layer `upper` over the read-only layers
/// `lowers` (top first), parents before their children, names sorted bytewise within a
/// directory. With `ids`, the layer's files are owned by host IDs of that mapping.
pub fn changes(upper: &Path, lowers: &[PathBuf], ids: Option<&IdMapping>) -> Result<Vec<Change>> {
    let root = open_root(upper)?;
    let lower = LowerDir::roots(lowers)?;
    let mut w = DiffWalk {
        ids,
        out: Vec::new(),
    };
    let opaque = is_opaque(&root, b"")?;
    w.dir(&root, &lower, opaque, &mut Vec::new(), 0)?;
    Ok(w.out)
}

struct DiffWalk<'a> {
    ids: Option<&'a IdMapping>,
    out: Vec<Change>,
}

/// What a name in a directory is in the writable layer.
enum UpperState {
    Present(Stat),
    Whiteout,
    /// Not in the writable layer, but hidden by its opaque directory.
    Hidden,
}

impl DiffWalk<'_> {
    fn push(&mut self, path: &[u8], kind: ChangeKind) {
        self.out.push(Change {
            path: show(path),
            kind,
        });
    }

    fn dir(
        &mut self,
        upper: &OwnedFd,
        lower: &LowerDir,
        opaque: bool,
        path: &mut Vec<u8>,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(RwLayerError::Unsupported {
                path: show(path),
                why: "the directory tree is too deep",
            });
        }
        check_plain_dir(upper, path)?;
        let mut entries: BTreeMap<Vec<u8>, UpperState> = BTreeMap::new();
        for name in list_dir(upper, path)? {
            let full = join(path, &name);
            match stat_at(upper, &name, &full)? {
                None => {}
                Some(st) if is_whiteout(&st) => {
                    entries.insert(name, UpperState::Whiteout);
                }
                Some(st) => {
                    entries.insert(name, UpperState::Present(st));
                }
            }
        }
        if opaque && !lower.0.is_empty() {
            for name in lower.names(path)? {
                entries.entry(name).or_insert(UpperState::Hidden);
            }
        }
        for (name, state) in entries {
            let len = path.len();
            path.push(b'/');
            path.extend_from_slice(&name);
            let r = self.entry(upper, lower, &name, state, path, depth);
            path.truncate(len);
            r?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        upper: &OwnedFd,
        lower: &LowerDir,
        name: &[u8],
        state: UpperState,
        path: &mut Vec<u8>,
        depth: usize,
    ) -> Result<()> {
        let st = match state {
            UpperState::Whiteout | UpperState::Hidden => {
                if lower.lookup(name, path)?.is_some() {
                    self.push(path, ChangeKind::Deleted);
                }
                return Ok(());
            }
            UpperState::Present(st) => st,
        };
        let old = lower.lookup(name, path)?;
        let pos = self.out.len();
        let changed = match &old {
            None => {
                self.push(path, ChangeKind::Added);
                true
            }
            Some(o) => {
                let mut diff = stat_different(&o.stat, &st, owner(&st, self.ids));
                if !diff && file_type(&st) == FileType::RegularFile {
                    diff = entry_xattr(upper, name, CAPABILITY_XATTR, path)?
                        != lower.capability(o, name, path)?;
                }
                if diff {
                    self.push(path, ChangeKind::Modified);
                }
                diff
            }
        };
        if !is_dir(&st) {
            return Ok(());
        }
        let Some(child) = open_dir_at(upper, name, path)? else {
            return Ok(()); // replaced meanwhile: seen as it was when listed
        };
        let child_lower = match &old {
            Some(o) if is_dir(&o.stat) => lower.child(name, o, path)?,
            _ => LowerDir::empty(),
        };
        let opaque = is_opaque(&child, path)?;
        self.dir(&child, &child_lower, opaque, path, depth + 1)?;
        // A directory with changes inside is listed as changed itself, before them.
        if !changed && self.out.len() > pos {
            self.out.insert(
                pos,
                Change {
                    path: show(path),
                    kind: ChangeKind::Modified,
                },
            );
        }
        Ok(())
    }
}

// ---- the layer tar of docker commit -------------------------------------------------

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// What [`write_layer_tar`] wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct LayerTarStats {
    pub entries: u64,
    /// Bytes of regular file content.
    pub size: u64,
}

/// Writes the writable layer `upper` as the layer tar `docker commit` stores (the
/// format `docker save` and layer loads use). With `ids`, file owners are written as the
/// container's IDs. The archive is finished (its end blocks written) on success.
pub fn write_layer_tar(
    upper: &Path,
    out: impl Write,
    ids: Option<&IdMapping>,
) -> Result<LayerTarStats> {
    let root = open_root(upper)?;
    let mut w = TarWalk {
        tar: tar::Builder::new(out),
        ids,
        links: HashMap::new(),
        stats: LayerTarStats::default(),
    };
    w.dir(&root, &mut Vec::new(), 0)?;
    w.tar.finish().map_err(RwLayerError::Write)?;
    Ok(w.stats)
}

struct TarWalk<'a, W: Write> {
    tar: tar::Builder<W>,
    ids: Option<&'a IdMapping>,
    /// (device, inode) of files with several links → the first name written.
    links: HashMap<(u64, u64), Vec<u8>>,
    stats: LayerTarStats,
}

fn header_for(st: &Stat, owner: (u32, u32), kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(owner.0));
    h.set_gid(u64::from(owner.1));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(0);
    h
}

fn as_path(b: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(b))
}

/// Docker keeps `security.capability` and writes version 3 capabilities (with a root
/// uid, meaningful only inside the user namespace that set them) as version 2.
fn capability_record(mut cap: Vec<u8>) -> Vec<u8> {
    const V3: u8 = 3;
    const V2: u8 = 2;
    const V2_LEN: usize = 20;
    if cap.len() > 3 && cap[3] == V3 {
        cap[3] = V2;
        cap.truncate(V2_LEN);
    }
    cap
}

/// One PAX record: `<len> <key>=<value>\n`, where `len` counts itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while body + len.to_string().len() != len {
        len = body + len.to_string().len();
    }
    let mut r = Vec::with_capacity(len);
    r.extend_from_slice(len.to_string().as_bytes());
    r.push(b' ');
    r.extend_from_slice(key.as_bytes());
    r.push(b'=');
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// A reader giving exactly `len` bytes: the file's, cut or padded with zeros when the
/// running container changed its size after the header was written.
struct Exact<R> {
    inner: R,
    remaining: u64,
    eof: bool,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = if self.eof {
            0
        } else {
            self.inner.read(&mut buf[..want])?
        };
        let n = if n == 0 {
            self.eof = true;
            buf[..want].fill(0);
            want
        } else {
            n
        };
        self.remaining -= n as u64;
        Ok(n)
    }
}

impl<W: Write> TarWalk<'_, W> {
    fn dir(&mut self, dir: &OwnedFd, path: &mut Vec<u8>, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(RwLayerError::Unsupported {
                path: show(path),
                why: "the directory tree is too deep",
            });
        }
        check_plain_dir(dir, path)?;
        for name in list_dir(dir, path)? {
            let len = path.len();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            let r = self.entry(dir, &name, path, depth);
            path.truncate(len);
            r?;
        }
        Ok(())
    }

    fn append(&mut self, h: &mut tar::Header, name: &[u8], data: impl Read) -> Result<()> {
        self.stats.entries += 1;
        self.tar
            .append_data(h, as_path(name), data)
            .map_err(RwLayerError::Write)
    }

    fn append_link(&mut self, h: &mut tar::Header, name: &[u8], target: &[u8]) -> Result<()> {
        self.stats.entries += 1;
        self.tar
            .append_link(h, as_path(name), as_path(target))
            .map_err(RwLayerError::Write)
    }

    fn append_capability(&mut self, cap: Option<Vec<u8>>) -> Result<()> {
        let Some(cap) = cap else { return Ok(()) };
        let data = pax_record(
            &format!("SCHILY.xattr.{CAPABILITY_XATTR}"),
            &capability_record(cap),
        );
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        self.tar
            .append_data(&mut h, "PaxHeaders", &data[..])
            .map_err(RwLayerError::Write)
    }

    fn entry(
        &mut self,
        dir: &OwnedFd,
        name: &[u8],
        path: &mut Vec<u8>,
        depth: usize,
    ) -> Result<()> {
        let Some(st) = stat_at(dir, name, path)? else {
            return Ok(()); // removed since the listing
        };
        let owner = owner(&st, self.ids);
        if is_whiteout(&st) {
            // The kernel made it: its owner is the host's, written as is (as Docker does).
            let mut h = header_for(&st, (st.st_uid, st.st_gid), tar::EntryType::Regular);
            h.set_mode(0o600);
            let parent_len = path.len() - name.len();
            let mut wh = path[..parent_len].to_vec();
            wh.extend_from_slice(WHITEOUT_PREFIX);
            wh.extend_from_slice(name);
            return self.append(&mut h, &wh, io::empty());
        }
        match file_type(&st) {
            FileType::Directory => {
                let Some(child) = open_dir_at(dir, name, path)? else {
                    return Ok(());
                };
                let cap = fxattr(&child, CAPABILITY_XATTR, path)?;
                let opaque = is_opaque(&child, path)?;
                self.append_capability(cap)?;
                let mut h = header_for(&st, owner, tar::EntryType::Directory);
                let mut dname = path.clone();
                dname.push(b'/');
                self.append(&mut h, &dname, io::empty())?;
                if opaque {
                    let mut h = header_for(&st, owner, tar::EntryType::Regular);
                    h.set_mode(st.st_mode & 0o777);
                    let mut marker = dname;
                    marker.extend_from_slice(OPAQUE_MARKER);
                    self.append(&mut h, &marker, io::empty())?;
                }
                self.dir(&child, path, depth + 1)
            }
            _ if st.st_nlink > 1 && self.links.contains_key(&(st.st_dev, st.st_ino)) => {
                let target = self.links[&(st.st_dev, st.st_ino)].clone();
                let mut h = header_for(&st, owner, tar::EntryType::Link);
                self.append_link(&mut h, path, &target)
            }
            FileType::RegularFile => self.regular(dir, name, path),
            FileType::Symlink => {
                let target = match rustix::fs::readlinkat(dir, name, Vec::new()) {
                    Ok(t) => t.into_bytes(),
                    Err(Errno::NOENT) | Err(Errno::INVAL) => return Ok(()),
                    Err(e) => return Err(io_err(path, "readlink")(e)),
                };
                self.remember_link(&st, path);
                let mut h = header_for(&st, owner, tar::EntryType::Symlink);
                self.append_link(&mut h, path, &target)
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let kind = match file_type(&st) {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                self.remember_link(&st, path);
                let mut h = header_for(&st, owner, kind);
                let (major, minor) = if kind == tar::EntryType::Fifo {
                    (0, 0)
                } else {
                    (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev))
                };
                h.set_device_major(major).map_err(RwLayerError::Write)?;
                h.set_device_minor(minor).map_err(RwLayerError::Write)?;
                self.append(&mut h, path, io::empty())
            }
            // Sockets cannot be archived; Docker skips them too.
            _ => Ok(()),
        }
    }

    fn remember_link(&mut self, st: &Stat, path: &[u8]) {
        if st.st_nlink > 1 {
            self.links.insert((st.st_dev, st.st_ino), path.to_vec());
        }
    }

    fn regular(&mut self, dir: &OwnedFd, name: &[u8], path: &[u8]) -> Result<()> {
        // O_PATH opens nothing (no device, no FIFO); only a descriptor that is known to
        // be a regular file is reopened for reading, through its /proc magic link.
        let pfd = match rustix::fs::openat(
            dir,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(io_err(path, "open")(e)),
        };
        // The container may have replaced it since it was listed: what is there now is
        // archived if it is still a regular file.
        let st = rustix::fs::fstat(&pfd).map_err(io_err(path, "stat"))?;
        if file_type(&st) != FileType::RegularFile {
            return Ok(());
        }
        let fd = rustix::fs::open(
            format!("/proc/self/fd/{}", pfd.as_raw_fd()),
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(io_err(path, "open"))?;
        if fxattr(&fd, METACOPY_XATTR, path)?.is_some() {
            return Err(RwLayerError::Unsupported {
                path: show(path),
                why: "a metadata-only copy (overlay metacopy) cannot be read as a layer diff",
            });
        }
        let cap = fxattr(&fd, CAPABILITY_XATTR, path)?;
        self.append_capability(cap)?;
        self.remember_link(&st, path);
        let mut h = header_for(&st, owner(&st, self.ids), tar::EntryType::Regular);
        let size = u64::try_from(st.st_size).unwrap_or(0);
        h.set_size(size);
        self.stats.size += size;
        let data = Exact {
            inner: std::fs::File::from(fd),
            remaining: size,
            eof: false,
        };
        self.append(&mut h, path, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_count_their_own_length() {
        let r = pax_record("k", b"v");
        assert_eq!(r, b"6 k=v\n");
        let long = vec![b'x'; 95];
        let r = pax_record("k", &long);
        assert_eq!(r.len().to_string(), String::from_utf8_lossy(&r[..3]));
    }

    #[test]
    fn capabilities_v3_become_v2() {
        let mut v3 = vec![0u8; 24];
        v3[3] = 3;
        let v2 = capability_record(v3);
        assert_eq!(v2.len(), 20);
        assert_eq!(v2[3], 2);
    }

    #[test]
    fn id_mapping_maps_host_ids_back() {
        let m = IdMapping {
            uids: vec![IdRange {
                container: 0,
                host: 100000,
                size: 65536,
            }],
            gids: vec![IdRange {
                container: 0,
                host: 200000,
                size: 10,
            }],
        };
        assert_eq!(m.uid_to_container(100000), 0);
        assert_eq!(m.uid_to_container(100005), 5);
        assert_eq!(m.uid_to_container(0), OVERFLOW_ID);
        assert_eq!(m.gid_to_container(200009), 9);
        assert_eq!(m.gid_to_container(200010), OVERFLOW_ID);
    }
}
