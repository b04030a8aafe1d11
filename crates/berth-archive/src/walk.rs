//! Reading a tree: what `GET archive` and `export` put in their tar streams, and what
//! copy-up copies. Directories are read through descriptors, one component at a time,
//! never following a symlink; entries come in Go's `filepath.WalkDir` order (a
//! directory, then its entries sorted bytewise), as Docker's tars list them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::stat::PathStat;
use crate::{fsx, passwd, write, ArchiveOptions, Error, Result, Root};

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
    Symlink(Vec<u8>),
    /// A hard link to the entry of that name, met earlier in the same stream.
    HardLink(Vec<u8>),
    Char,
    Block,
    Fifo,
}

/// One entry of a tree, as a tar header describes it.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    /// Its name in the stream (no trailing `/`).
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Permission, setuid, setgid and sticky bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Content length (regular files).
    pub size: u64,
    /// Device numbers (devices).
    pub major: u32,
    pub minor: u32,
    pub mtime: (i64, u32),
    /// Extended attributes to carry (name, value).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Where entries go: a tar writer or an extractor. Regular files come with their content.
pub(crate) type Sink<'s> = dyn FnMut(&Meta, Option<&mut dyn Read>) -> Result<()> + 's;

pub(crate) struct Walker {
    /// First name of every multiply-linked inode met, by (device, inode).
    links: HashMap<(u64, u64), Vec<u8>>,
    /// Carry every extended attribute (copy-up), not only `security.capability` (tars,
    /// as Docker's).
    pub all_xattrs: bool,
}

fn meta_of(name: Vec<u8>, kind: Kind, st: &Stat) -> Meta {
    Meta {
        name,
        kind,
        mode: fsx::perm(st),
        uid: st.st_uid,
        gid: st.st_gid,
        size: 0,
        major: rustix::fs::major(st.st_rdev),
        minor: rustix::fs::minor(st.st_rdev),
        mtime: (st.st_mtime, st.st_mtime_nsec as u32),
        xattrs: Vec::new(),
    }
}

fn child_name(prefix: Option<&[u8]>, child: &[u8]) -> Vec<u8> {
    match prefix {
        None => child.to_vec(),
        Some(p) => {
            let mut n = p.to_vec();
            n.push(b'/');
            n.extend_from_slice(child);
            n
        }
    }
}

fn same_inode(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

fn display(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

impl Walker {
    pub(crate) fn new() -> Walker {
        Walker {
            links: HashMap::new(),
            all_xattrs: false,
        }
    }

    fn xattrs(&self, fd: BorrowedFd<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let names: Vec<Vec<u8>> = if self.all_xattrs {
            match read_sized(|b| rustix::fs::flistxattr(fd, b)) {
                Some(buf) => buf
                    .split(|b| *b == 0)
                    .filter(|s| !s.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect(),
                None => Vec::new(),
            }
        } else {
            vec![b"security.capability".to_vec()]
        };
        let mut out = Vec::new();
        for n in names {
            if let Some(val) = read_sized(|b| rustix::fs::fgetxattr(fd, n.as_slice(), b)) {
                out.push((n, val));
            }
        }
        out
    }

    /// Emits the directory `fd` (named `name`, unless `include_self` is false) and
    /// everything below it. Children are named `name/child`, or `child` when `name` is
    /// `None`.
    pub(crate) fn walk_dir(
        &mut self,
        fd: impl AsFd,
        st: &Stat,
        name: Option<&[u8]>,
        include_self: bool,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        let fd = fd.as_fd();
        if include_self {
            let mut m = meta_of(name.unwrap_or(b"").to_vec(), Kind::Dir, st);
            if self.all_xattrs {
                m.xattrs = self.xattrs(fd);
            }
            sink(&m, None)?;
        }
        let names = fsx::read_dir_names(fd).map_err(|e| {
            Error::io(
                format!("reading directory {}", display(name.unwrap_or(b"/"))),
                e,
            )
        })?;
        for child in names {
            let st = match fsx::lstat_at(fd, &child) {
                Ok(st) => st,
                // Removed while we read (a running container): as if never there.
                Err(Errno::NOENT) => continue,
                Err(e) => {
                    return Err(Error::io(
                        format!("stat {}", display(&child_name(name, &child))),
                        e,
                    ))
                }
            };
            self.walk_entry(fd, &child, &st, child_name(name, &child), sink)?;
        }
        Ok(())
    }

    /// Emits `base` of the directory `parent` (whose `lstat` is `st`) as `name`, and
    /// for a directory everything below it.
    pub(crate) fn walk_entry(
        &mut self,
        parent: BorrowedFd<'_>,
        base: &[u8],
        st: &Stat,
        name: Vec<u8>,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        let ft = fsx::file_type(st);
        if ft == FileType::Directory {
            let fd = match fsx::open_dir_at(parent, base) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => return Ok(()),
                Err(e) => return Err(Error::io(format!("opening {}", display(&name)), e)),
            };
            let now = rustix::fs::fstat(&fd).map_err(|e| Error::io("stat", e))?;
            if !same_inode(st, &now) {
                // Replaced between the stat and the open: take what is there now.
                return self.walk_dir(&fd, &now, Some(&name), true, sink);
            }
            return self.walk_dir(&fd, st, Some(&name), true, sink);
        }
        let kind = match ft {
            FileType::RegularFile => Kind::File,
            FileType::Symlink => match rustix::fs::readlinkat(parent, base, Vec::new()) {
                Ok(t) => Kind::Symlink(t.into_bytes()),
                Err(Errno::NOENT) => return Ok(()),
                Err(e) => return Err(Error::io(format!("readlink {}", display(&name)), e)),
            },
            FileType::CharacterDevice => Kind::Char,
            FileType::BlockDevice => Kind::Block,
            FileType::Fifo => Kind::Fifo,
            // Sockets (and anything unknown) have no tar form; Docker skips them too.
            _ => return Ok(()),
        };
        if st.st_nlink > 1 {
            match self.links.get(&(st.st_dev, st.st_ino)) {
                Some(first) => {
                    let mut m = meta_of(name, Kind::HardLink(first.clone()), st);
                    m.size = 0;
                    return sink(&m, None);
                }
                None => {
                    self.links.insert((st.st_dev, st.st_ino), name.clone());
                }
            }
        }
        if kind != Kind::File {
            return sink(&meta_of(name, kind, st), None);
        }
        // Without blocking (a FIFO swapped in) and without following a swapped-in symlink.
        let fd = match rustix::fs::openat(
            parent,
            base,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP) => return Ok(()),
            Err(e) => return Err(Error::io(format!("opening {}", display(&name)), e)),
        };
        let now = rustix::fs::fstat(&fd).map_err(|e| Error::io("stat", e))?;
        if fsx::file_type(&now) != FileType::RegularFile {
            return Ok(());
        }
        let mut m = meta_of(name, Kind::File, &now);
        m.size = now.st_size.max(0) as u64;
        m.xattrs = self.xattrs(fd.as_fd());
        let mut f = std::fs::File::from(fd);
        sink(&m, Some(&mut f))
    }
}

/// What a `GET archive` path resolved to.
enum Target {
    Dir(OwnedFd, Stat),
    Entry {
        parent: OwnedFd,
        base: Vec<u8>,
        st: Stat,
    },
}

/// A resolved `GET archive` source: its stat, then its tar.
pub struct Source<'r> {
    root: BorrowedFd<'r>,
    pub stat: PathStat,
    target: Target,
    /// The name of the first entry (Docker's rebase of the source's base name).
    rebase: Vec<u8>,
}

/// Go's `filepath.Base`.
fn go_base(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { "." } else { "/" };
    }
    match t.rfind('/') {
        Some(i) => &t[i + 1..],
        None => t,
    }
}

/// `filepath.Join("/", path)` with Docker's `PreserveTrailingDotOrSeparator`.
fn absolute(path: &str) -> String {
    let comps = fsx::clean_rooted(path.as_bytes());
    let mut abs = format!("/{}", String::from_utf8_lossy(&fsx::join(&comps)));
    let orig_dot = go_base(path) == "." && !path.is_empty();
    if orig_dot && go_base(&abs) != "." {
        if !abs.ends_with('/') {
            abs.push('/');
        }
        abs.push('.');
    }
    if path.ends_with('/') && !abs.ends_with('/') {
        abs.push('/');
    }
    abs
}

/// The path with every symlink followed inside the root, as far as it resolves
/// (`symlink.FollowSymlinkInScope`).
fn eval_symlinks(root: BorrowedFd<'_>, path: &[u8]) -> Result<String> {
    let resolved = fsx::resolve(root, path).map_err(|_| {
        Error::Other(format!(
            "too many links in {}",
            String::from_utf8_lossy(path)
        ))
    })?;
    let parts: Vec<&[u8]> = resolved.iter().map(Vec::as_slice).collect();
    Ok(format!("/{}", String::from_utf8_lossy(&fsx::join(&parts))))
}

impl<'r> Source<'r> {
    pub(crate) fn resolve(root: &'r Root, path: &str) -> Result<Source<'r>> {
        let rootfd = root.fd();
        let abs = absolute(path);
        let name = go_base(&abs).to_string();
        let asserts_dir = abs.ends_with('/') || name == ".";
        let comps = fsx::clean_relative(abs.as_bytes()).unwrap_or_default();
        let not_found = |e: Errno| Error::io(format!("lstat {abs}"), e);
        let (target, link_target) = if asserts_dir || comps.is_empty() {
            let fd = fsx::open_in_root(
                rootfd,
                fsx::join(&comps),
                OFlags::RDONLY | OFlags::DIRECTORY,
                true,
            )
            .map_err(not_found)?;
            let st = rustix::fs::fstat(&fd).map_err(not_found)?;
            (Target::Dir(fd, st), String::new())
        } else {
            let (base, parents) = comps.split_last().expect("not empty");
            let parent = fsx::open_in_root(
                rootfd,
                fsx::join(parents),
                OFlags::PATH | OFlags::DIRECTORY,
                true,
            )
            .map_err(not_found)?;
            let st = fsx::lstat_at(parent.as_fd(), base).map_err(not_found)?;
            match fsx::file_type(&st) {
                FileType::Directory => {
                    let fd = fsx::open_dir_at(parent.as_fd(), base).map_err(not_found)?;
                    (Target::Dir(fd, st), String::new())
                }
                ft => {
                    let link = if ft == FileType::Symlink {
                        eval_symlinks(rootfd, &fsx::join(&comps))?
                    } else {
                        String::new()
                    };
                    (
                        Target::Entry {
                            parent,
                            base: base.to_vec(),
                            st,
                        },
                        link,
                    )
                }
            }
        };
        let (st, rebase) = match &target {
            Target::Dir(_, st) => (
                st,
                if name == "/" {
                    String::new()
                } else {
                    name.clone()
                },
            ),
            Target::Entry { st, .. } => (st, name.clone()),
        };
        let stat = PathStat::new(name, st, link_target);
        Ok(Source {
            root: rootfd,
            stat,
            target,
            rebase: rebase.into_bytes(),
        })
    }

    /// Writes the tar: for a directory the directory itself and everything below it,
    /// else the one entry; the first entry is named by the source's base name.
    pub fn write_tar<W: Write>(&self, opts: &ArchiveOptions, out: W) -> Result<()> {
        let names = passwd::Names::read(self.root);
        let mut tw = write::TarWriter::new(out, opts.idmap.clone(), names);
        let mut walker = Walker::new();
        match &self.target {
            Target::Dir(fd, st) => {
                walker.walk_dir(fd, st, Some(&self.rebase), true, &mut |m, c| {
                    tw.append(m, c)
                })?
            }
            Target::Entry { parent, base, st } => walker.walk_entry(
                parent.as_fd(),
                base,
                st,
                self.rebase.clone(),
                &mut |m, c| tw.append(m, c),
            )?,
        }
        tw.finish()
    }
}

/// An attribute list or value: a small buffer first (most files have none, a capability
/// is 20 bytes), the 64 KiB the kernel allows only when that is too small.
fn read_sized(mut get: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = match get(&mut buf) {
        Ok(n) => n,
        Err(rustix::io::Errno::RANGE) => {
            buf.resize(64 * 1024, 0);
            get(&mut buf).ok()?
        }
        Err(_) => return None,
    };
    buf.truncate(n);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_docker_trailing_forms() {
        assert_eq!(absolute("src/d"), "/src/d");
        assert_eq!(absolute("/src/d/"), "/src/d/");
        assert_eq!(absolute("/src/d/."), "/src/d/.");
        assert_eq!(absolute("/src/../d/./"), "/d/./");
        assert_eq!(absolute("/"), "/");
        assert_eq!(absolute("/."), "/.");
        assert_eq!(absolute("../../etc"), "/etc");
        assert_eq!(go_base("/src/d/"), "d");
        assert_eq!(go_base("/src/d/."), ".");
        assert_eq!(go_base("/"), "/");
    }
}
