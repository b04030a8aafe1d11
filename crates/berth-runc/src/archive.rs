//! `berth-runc archive`: moves files in and out of a container's root filesystem for the
//! daemon (`docker cp`, `docker export`, volume copy-up), from a process whose root
//! directory is the container's, so no symlink the container planted can name a host
//! path (Docker does the same in its `chrootarchive`).
//!
//! Order matters:
//! 1. a private mount namespace (`unshare`, then `/` made recursively private), so
//!    nothing mounted here is seen by the host or the container, and nothing propagates;
//! 2. the sources of the container's volumes and binds are cloned (`open_tree`) and the
//!    copy-up destination is opened, while host paths still mean host paths;
//! 3. the root is bind-mounted on itself and made our root with `pivot_root` (the old
//!    root is detached, so not even `..` of a stray descriptor leads back to it; `chroot`
//!    if the file system refuses);
//! 4. each clone is moved onto its destination, looked up inside the new root
//!    (`RESOLVE_IN_ROOT`, made if missing, as Docker does) and pinned by a descriptor,
//!    read-only ones made read-only first, so writes to them fail with `EROFS`; then the
//!    root mount itself is made read-only for a `--read-only` container;
//! 5. the operation runs on stdin/stdout (`put` prints `ready` once its checks passed,
//!    before it reads stdin). Errors are one line on stderr; the exit status says their
//!    kind: 1 other, 2 not found, 3 invalid argument, 4 read-only, 5 the root is not
//!    mounted (`--require-mount`).

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_archive::{ArchiveOptions, Error, ExtractOptions, IdMap, IdRange, Root};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{MoveMountFlags, OpenTreeFlags};

/// Exit status when the root given is not a mount point (the container's root file
/// system was unmounted under us): the daemon mounts it and tries again.
pub const EXIT_NOT_MOUNTED: i32 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    /// Print the path's stat as one JSON line (`HEAD archive`)
    Stat,
    /// Print the stat line, then the tar of the path (`GET archive`)
    Get,
    /// Extract the tar on stdin into the directory at the path (`PUT archive`)
    Put,
    /// Write the whole root as a tar (`docker export`)
    Export,
    /// Copy the contents of the directory at the path into --to
    CopyUp,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    pub op: Op,
    /// The root file system (a container's `merged` directory)
    #[arg(long)]
    pub root: PathBuf,
    /// A volume or bind mount: SOURCE:DESTINATION[:ro|:rw], with `%` and `:` in either
    /// path written as `%25` and `%3A`
    #[arg(long = "mount", value_name = "SRC:DEST[:ro]")]
    pub mounts: Vec<String>,
    /// The path in the root
    #[arg(long)]
    pub path: Option<String>,
    /// copy-up: the host directory to copy into
    #[arg(long)]
    pub to: Option<PathBuf>,
    /// A line of the container's uid map (CONTAINER:HOST:SIZE) under --userns-remap
    #[arg(long = "uid-map")]
    pub uid_maps: Vec<String>,
    /// A line of the container's gid map
    #[arg(long = "gid-map")]
    pub gid_maps: Vec<String>,
    /// put: refuse to replace a directory with a non-directory and the reverse
    #[arg(long)]
    pub no_overwrite_dir_non_dir: bool,
    /// put: every entry belongs to this user (`Config.User`, resolved in the root)
    #[arg(long)]
    pub chown_user: Option<String>,
    /// put: the root file system is read-only (`--read-only`)
    #[arg(long)]
    pub readonly_root: bool,
    /// The root must be a mount point (a container's root file system); exit with 5 if
    /// it is not
    #[arg(long)]
    pub require_mount: bool,
}

struct MountArg {
    source: PathBuf,
    dest: String,
    ro: bool,
}

fn unescape(s: &str) -> String {
    s.replace("%3A", ":")
        .replace("%3a", ":")
        .replace("%25", "%")
}

fn parse_mount(s: &str) -> Result<MountArg, Error> {
    let bad = || Error::Invalid(format!("invalid --mount {s:?}: want SRC:DEST[:ro|:rw]"));
    let mut parts = s.split(':');
    let (Some(src), Some(dest)) = (parts.next(), parts.next()) else {
        return Err(bad());
    };
    let ro = match parts.next() {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(_) => return Err(bad()),
    };
    if parts.next().is_some() || src.is_empty() || dest.is_empty() {
        return Err(bad());
    }
    Ok(MountArg {
        source: PathBuf::from(unescape(src)),
        dest: unescape(dest),
        ro,
    })
}

fn other(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Other(format!("{what}: {e}"))
}

pub fn run(a: Args) -> i32 {
    match run_op(a) {
        Ok(()) => 0,
        Err(Failure::NotMounted) => {
            eprintln!("the root file system is not mounted");
            EXIT_NOT_MOUNTED
        }
        Err(Failure::Archive(e)) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

enum Failure {
    NotMounted,
    Archive(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Archive(e)
    }
}

fn idmap(a: &Args) -> Result<IdMap, Error> {
    let parse = |v: &[String]| -> Result<Vec<IdRange>, Error> {
        v.iter()
            .map(|s| {
                IdRange::parse(s)
                    .ok_or_else(|| Error::Invalid(format!("invalid ID map {s:?}: want C:H:N")))
            })
            .collect()
    };
    Ok(IdMap {
        uids: parse(&a.uid_maps)?,
        gids: parse(&a.gid_maps)?,
    })
}

fn is_mount_point(path: &Path) -> Result<bool, Error> {
    let id = |p: &Path| -> Result<u64, Error> {
        let fd = rustix::fs::open(p, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| other(&format!("opening {}", p.display()), e))?;
        berth_archive::mount_id(fd.as_fd())
    };
    Ok(id(path)? != id(&path.join(".."))?)
}

/// Steps 1 to 4 of the module's doc; returns the new root.
fn enter_root(a: &Args, mounts: &[MountArg]) -> Result<Root, Failure> {
    // Descriptors of deep trees are held one per level while walking.
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| other("unsharing the mount namespace", e))?;
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
    )
    .map_err(|e| other("making / private", e))?;
    if a.require_mount && !is_mount_point(&a.root)? {
        return Err(Failure::NotMounted);
    }

    let mut trees = Vec::new();
    for m in mounts {
        match rustix::mount::open_tree(
            rustix::fs::CWD,
            &m.source,
            OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::AT_RECURSIVE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC,
        ) {
            Ok(t) => trees.push((t, m)),
            // A volume or bind source that is gone: the container sees nothing there.
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(other(&format!("cloning mount {}", m.source.display()), e).into()),
        }
    }

    rustix::mount::mount_bind_recursive(&a.root, &a.root)
        .map_err(|e| other(&format!("bind-mounting {}", a.root.display()), e))?;
    nix::unistd::chdir(&a.root).map_err(|e| other("entering the root", e))?;
    match nix::unistd::pivot_root(".", ".") {
        Ok(()) => {
            // The old root is stacked on the new one: detach it, which leaves ours.
            nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)
                .map_err(|e| other("detaching the old root", e))?;
        }
        Err(_) => nix::unistd::chroot(".").map_err(|e| other("chroot", e))?,
    }
    nix::unistd::chdir("/").map_err(|e| other("entering the root", e))?;
    let rootfd = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| other("opening the root", e))?;

    // Parents before children: a volume inside another lands on the outer one.
    trees.sort_by_key(|(_, m)| m.dest.split('/').filter(|c| !c.is_empty()).count());
    for (tree, m) in trees {
        let Some(target) = mount_target(&rootfd, &m.dest, &tree)? else {
            continue;
        };
        if m.ro {
            berth_sys::idmap::set_tree_readonly(tree.as_fd(), true)
                .map_err(|e| other(&format!("making {} read-only", m.dest), e))?;
        }
        match rustix::mount::move_mount(
            tree.as_fd(),
            "",
            target.as_fd(),
            "",
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
        ) {
            Ok(()) => {}
            // A file mount over a directory or the reverse: the container has the same
            // trouble; leave what the root has there.
            Err(rustix::io::Errno::NOTDIR | rustix::io::Errno::ISDIR) => {}
            Err(e) => return Err(other(&format!("mounting {}", m.dest), e).into()),
        }
    }
    // Read-only after the mount points were made (as the runtime makes them in a
    // read-only container): only the root mount, not the volumes on it.
    if a.readonly_root {
        berth_sys::idmap::set_tree_readonly(rootfd.as_fd(), false)
            .map_err(|e| other("making the root read-only", e))?;
    }
    Ok(Root::from_fd(rootfd))
}

/// The mount point for `dest`, looked up inside the root (symlinks resolve there). A
/// missing one is made (a directory, or an empty file for a file mount) as Docker makes
/// it, so that a container that never ran has its volumes where they will be; one that
/// cannot be made is skipped.
fn mount_target(root: &OwnedFd, dest: &str, tree: &OwnedFd) -> Result<Option<OwnedFd>, Failure> {
    let open = || {
        rustix::fs::openat2(
            root,
            dest.trim_start_matches('/'),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    };
    match open() {
        Ok(fd) => return Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT) => {}
        Err(rustix::io::Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(other(&format!("looking up {dest}"), e).into()),
    }
    let is_dir = rustix::fs::fstat(tree)
        .map(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
        })
        .unwrap_or(true);
    let (parent, base) = match dest.trim_end_matches('/').rsplit_once('/') {
        Some((p, b)) if !b.is_empty() => (p, b),
        _ => return Ok(None),
    };
    let root = Root::from_fd(root.try_clone().map_err(|e| other("dup", e))?);
    // Made through the archive code, which resolves and creates inside the root.
    let dir = match root.make_dirs(parent) {
        Ok(d) => d,
        Err(_) => return Ok(None),
    };
    let made = if is_dir {
        rustix::fs::mkdirat(&dir, base, Mode::from_raw_mode(0o755))
    } else {
        rustix::fs::openat(
            &dir,
            base,
            OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o755),
        )
        .map(drop)
    };
    match made {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(_) => return Ok(None),
    }
    match open() {
        Ok(fd) => Ok(Some(fd)),
        Err(_) => Ok(None),
    }
}

fn stat_line(out: &mut impl Write, stat: &berth_archive::PathStat) -> Result<(), Error> {
    let mut line = serde_json::to_vec(stat).map_err(|e| other("encoding the stat", e))?;
    line.push(b'\n');
    out.write_all(&line)
        .and_then(|()| out.flush())
        .map_err(|e| other("writing", e))
}

fn run_op(a: Args) -> Result<(), Failure> {
    let mounts: Vec<MountArg> = a
        .mounts
        .iter()
        .map(|m| parse_mount(m))
        .collect::<Result<_, _>>()?;
    let idmap = idmap(&a)?;
    let path = a.path.clone().unwrap_or_default();
    if a.op != Op::Export && path.is_empty() {
        return Err(Error::Invalid("--path is required".into()).into());
    }
    // The copy-up destination is a host path: opened before the root changes.
    let to = match (&a.op, &a.to) {
        (Op::CopyUp, Some(to)) => Some(
            rustix::fs::open(
                to,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::Other(format!("opening {}: {e}", to.display())))?,
        ),
        (Op::CopyUp, None) => return Err(Error::Invalid("copy-up needs --to".into()).into()),
        _ => None,
    };
    let root = enter_root(&a, &mounts)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    let opts = ArchiveOptions {
        idmap: idmap.clone(),
    };
    match a.op {
        Op::Stat => stat_line(&mut out, &root.stat(&path)?)?,
        Op::Get => {
            let src = root.source(&path)?;
            stat_line(&mut out, &src.stat)?;
            src.write_tar(&opts, &mut out)?;
        }
        Op::Export => root.export(&opts, &mut out)?,
        Op::Put => {
            let dest = root.extraction_point(&path)?;
            if dest.is_read_only()? {
                let on_root = dest.mount_id()? == berth_archive::mount_id(root.fd())?;
                return Err(Error::Invalid(
                    if on_root {
                        "container rootfs is marked read-only"
                    } else {
                        "mounted volume is marked read-only"
                    }
                    .into(),
                )
                .into());
            }
            let chown = match &a.chown_user {
                None => None,
                Some(u) => {
                    let (uid, gid) = berth_archive::resolve_user(root.fd(), u)?;
                    Some(idmap.to_host(uid, gid).map_err(Error::Invalid)?)
                }
            };
            let opts = ExtractOptions {
                no_overwrite_dir_non_dir: a.no_overwrite_dir_non_dir,
                chown,
                idmap,
                apply_root_meta: false,
            };
            // The checks passed: the daemon starts sending the archive only now, so a
            // failure above leaves its body unread.
            writeln!(out, "ready")
                .and_then(|()| out.flush())
                .map_err(|e| other("writing", e))?;
            berth_archive::extract_tar(&dest, std::io::stdin().lock(), opts)?;
        }
        Op::CopyUp => {
            let to = to.expect("checked above");
            let copied = root.copy_up(&path, to.as_fd())?;
            writeln!(out, "{}", if copied { "copied" } else { "nothing" })
                .map_err(|e| other("writing", e))?;
            out.flush().map_err(|e| other("writing", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_parse_with_escapes() {
        let m = parse_mount("/var/lib/v%3Ax/_data:/data:ro").unwrap();
        assert_eq!(m.source, PathBuf::from("/var/lib/v:x/_data"));
        assert_eq!((m.dest.as_str(), m.ro), ("/data", true));
        let m = parse_mount("/a%25b:/c").unwrap();
        assert_eq!(
            (m.source, m.dest.as_str(), m.ro),
            (PathBuf::from("/a%b"), "/c", false)
        );
        assert!(parse_mount("/a:/b:rx").is_err());
        assert!(parse_mount("/a").is_err());
        assert!(parse_mount("/a:/b:ro:x").is_err());
    }
}
