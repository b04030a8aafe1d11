//! The container's root filesystem: spec mounts, device nodes, `pivot_root`, masked and
//! read-only paths. Runs in init, inside the new mount namespace.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Mount;

use crate::init::Plan;
use crate::securejoin::secure_join;
use crate::{sys, RuntimeError};

/// Devices every container gets, bound from the host's nodes (works in user namespaces
/// too, where mknod is not allowed).
const DEFAULT_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

const NONE: Option<&str> = None;

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> RuntimeError {
    move |e| RuntimeError::Init(format!("{what}: {e}"))
}

pub(crate) fn setup_rootfs(plan: &Plan) -> Result<(), RuntimeError> {
    let rootfs = &plan.rootfs;
    // Mounts made from here on must not propagate back to the host.
    mount(NONE, "/", NONE, MsFlags::MS_REC | MsFlags::MS_SLAVE, NONE)
        .map_err(sys("making / rslave"))?;
    // pivot_root needs the new root to be a mount point.
    mount(
        Some(rootfs),
        rootfs,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .map_err(sys(format!("bind mounting {}", rootfs.display())))?;
    for m in &plan.mounts {
        mount_one(rootfs, m, plan.cgroup.as_ref())?;
    }
    for dev in DEFAULT_DEVICES {
        // A spec device at the same path (`--device /dev/x:/dev/null`) replaces it.
        if !plan.devices.iter().any(|d| d.path() == Path::new(dev)) {
            bind_device(rootfs, Path::new(dev))?;
        }
    }
    // mknod is refused in a user namespace; there the host's node at the same path is
    // bound instead, as runc does.
    let in_userns = plan
        .namespace(nix::sched::CloneFlags::CLONE_NEWUSER)
        .is_some();
    for dev in &plan.devices {
        if in_userns {
            bind_device(rootfs, dev.path())?;
        } else {
            create_device(rootfs, dev)?;
        }
    }
    dev_symlinks(rootfs)?;

    nix::unistd::chdir(rootfs).map_err(sys("chdir rootfs"))?;
    // pivot_root(".", ".") stacks the old root under the new one; detaching "." then
    // removes the old root without needing a directory for it inside the container.
    nix::unistd::pivot_root(".", ".").map_err(sys("pivot_root"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("detaching the old root"))?;
    nix::unistd::chdir("/").map_err(sys("chdir /"))?;

    // Before /proc/sys becomes read-only below.
    for (k, v) in &plan.sysctl {
        let p = Path::new("/proc/sys").join(k.replace('.', "/"));
        std::fs::write(&p, v).map_err(|e| RuntimeError::Init(format!("sysctl {k}: {e}")))?;
    }

    for p in &plan.masked_paths {
        mask_path(Path::new(p))?;
    }
    for p in &plan.readonly_paths {
        readonly_path(Path::new(p))?;
    }
    if plan.readonly_root {
        mount(
            NONE,
            "/",
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            NONE,
        )
        .map_err(sys("remounting / read-only"))?;
    }
    Ok(())
}

/// Splits OCI mount options into mount flags, propagation flags and filesystem data.
fn parse_options(options: &[String]) -> (MsFlags, MsFlags, Vec<String>, bool) {
    let mut flags = MsFlags::empty();
    let mut propagation = MsFlags::empty();
    let mut data = Vec::new();
    let mut recursive = false;
    for o in options {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => {
                flags |= MsFlags::MS_BIND;
                recursive = true;
            }
            "private" => propagation |= MsFlags::MS_PRIVATE,
            "rprivate" => propagation |= MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            "slave" => propagation |= MsFlags::MS_SLAVE,
            "rslave" => propagation |= MsFlags::MS_SLAVE | MsFlags::MS_REC,
            "shared" => propagation |= MsFlags::MS_SHARED,
            "rshared" => propagation |= MsFlags::MS_SHARED | MsFlags::MS_REC,
            "unbindable" => propagation |= MsFlags::MS_UNBINDABLE,
            "runbindable" => propagation |= MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
            // Later options win: `--tmpfs /x:exec` undoes the default noexec.
            "dev" => flags &= !MsFlags::MS_NODEV,
            "suid" => flags &= !MsFlags::MS_NOSUID,
            "exec" => flags &= !MsFlags::MS_NOEXEC,
            "async" | "atime" | "diratime" | "norelatime" | "nostrictatime" => {}
            other => data.push(other.to_string()),
        }
    }
    (flags, propagation, data, recursive)
}

fn mount_one(
    rootfs: &Path,
    m: &Mount,
    cgroup: Option<&berth_cgroups::Cgroup>,
) -> Result<(), RuntimeError> {
    let dest = secure_join(rootfs, m.destination())
        .map_err(io_err(format!("resolving {}", m.destination().display())))?;
    let options = m.options().clone().unwrap_or_default();
    let (flags, propagation, data, recursive) = parse_options(&options);
    let typ = m
        .typ()
        .as_deref()
        .unwrap_or(if flags.contains(MsFlags::MS_BIND) {
            "bind"
        } else {
            "none"
        });
    let is_bind = flags.contains(MsFlags::MS_BIND) || typ == "bind";
    if typ == "cgroup" || typ == "cgroup2" {
        std::fs::create_dir_all(&dest).map_err(io_err(format!("creating {}", dest.display())))?;
        return match cgroup {
            Some(cg) => mount_cgroups(&dest, cg, flags),
            None => Ok(()),
        };
    }
    if is_bind {
        let src = m.source().clone().ok_or_else(|| {
            RuntimeError::InvalidSpec(format!(
                "bind mount of {} has no source",
                m.destination().display()
            ))
        })?;
        let is_dir = std::fs::metadata(&src)
            .map_err(io_err(format!("bind source {}", src.display())))?
            .is_dir();
        make_target(&dest, is_dir)?;
        let mut bflags = MsFlags::MS_BIND;
        if recursive {
            bflags |= MsFlags::MS_REC;
        }
        mount(Some(&src), &dest, NONE, bflags, NONE)
            .map_err(sys(format!("bind mounting {}", m.destination().display())))?;
        // Bind mounts ignore other flags until remounted.
        let extra = flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            mount(
                NONE,
                &dest,
                NONE,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
                NONE,
            )
            .map_err(sys(format!("remounting {}", m.destination().display())))?;
        }
    } else {
        make_target(&dest, true)?;
        let data = data.join(",");
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let result = mount(
            Some(&source),
            &dest,
            Some(typ),
            flags,
            (!data.is_empty()).then_some(data.as_str()),
        );
        match result {
            Ok(()) => {}
            // mqueue and sysfs can be refused in some namespaces; Docker's spec still asks
            // for them. Keep going with an empty directory, as runc does for sysfs.
            Err(nix::Error::EPERM) if typ == "sysfs" || typ == "mqueue" => {}
            Err(e) => {
                return Err(RuntimeError::Sys {
                    op: format!("mounting {typ} on {}", m.destination().display()),
                    source: e,
                })
            }
        }
    }
    if !propagation.is_empty() {
        mount(NONE, &dest, NONE, propagation, NONE).map_err(sys(format!(
            "setting propagation of {}",
            m.destination().display()
        )))?;
    }
    Ok(())
}

/// The container's view of its own cgroups at `dest` (normally `/sys/fs/cgroup`):
/// on v1 a tmpfs with one bind of the group's directory per hierarchy, named like the
/// host's mount point; on v2 a fresh cgroup2 mount, whose root is the group when init
/// has its own cgroup namespace (else the group's directory is bound).
fn mount_cgroups(
    dest: &Path,
    cg: &berth_cgroups::Cgroup,
    flags: MsFlags,
) -> Result<(), RuntimeError> {
    let ro =
        flags & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    if cg.is_v2() {
        let own_ns = std::fs::read_link("/proc/self/ns/cgroup").ok()
            != std::fs::read_link("/proc/1/ns/cgroup").ok();
        let r = if own_ns {
            mount(Some("cgroup2"), dest, Some("cgroup2"), ro, NONE)
        } else {
            let (_, dir) = cg
                .dirs()
                .next()
                .ok_or_else(|| RuntimeError::Init("no cgroup directory".into()))?;
            mount(
                Some(dir),
                dest,
                NONE,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                NONE,
            )
            .and_then(|_| {
                mount(
                    NONE,
                    dest,
                    NONE,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ro,
                    NONE,
                )
            })
        };
        return r.map_err(sys(format!("mounting cgroup2 on {}", dest.display())));
    }
    mount(
        Some("tmpfs"),
        dest,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )
    .map_err(sys(format!("mounting tmpfs on {}", dest.display())))?;
    for (mount_point, dir) in cg.dirs() {
        let Some(name) = mount_point.file_name() else {
            continue;
        };
        let target = dest.join(name);
        std::fs::create_dir_all(&target)
            .map_err(io_err(format!("creating {}", target.display())))?;
        mount(Some(dir), &target, NONE, MsFlags::MS_BIND, NONE)
            .map_err(sys(format!("binding {}", dir.display())))?;
        mount(
            NONE,
            &target,
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ro,
            NONE,
        )
        .map_err(sys(format!("remounting {}", target.display())))?;
        // Co-mounted controllers (`cpu,cpuacct`) are also reachable by each name.
        let name = name.to_string_lossy();
        if name.contains(',') {
            for part in name.split(',') {
                let _ = symlink(&*name, dest.join(part));
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        mount(
            NONE,
            dest,
            NONE,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some("mode=755"),
        )
        .map_err(sys(format!("remounting {} read-only", dest.display())))?;
    }
    Ok(())
}

/// A spec device: a node made with mknod at its path in the container, with the spec's
/// mode and owner. Its path is resolved inside the root like any mount target.
fn create_device(rootfs: &Path, dev: &oci_spec::runtime::LinuxDevice) -> Result<(), RuntimeError> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    use oci_spec::runtime::LinuxDeviceType as T;
    let dest = secure_join(rootfs, dev.path())
        .map_err(io_err(format!("resolving {}", dev.path().display())))?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(io_err(format!("creating {}", parent.display())))?;
    }
    let kind = match dev.typ() {
        T::B => SFlag::S_IFBLK,
        T::C | T::U => SFlag::S_IFCHR,
        T::P => SFlag::S_IFIFO,
        T::A => return Ok(()),
    };
    let mode = dev.file_mode().unwrap_or(0o666);
    let _ = std::fs::remove_file(&dest);
    mknod(
        &dest,
        kind,
        Mode::from_bits_truncate(mode),
        makedev(dev.major() as u64, dev.minor() as u64),
    )
    .map_err(sys(format!("creating device {}", dev.path().display())))?;
    // mknod's mode is filtered by the umask; the spec's mode is meant exactly.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &dest,
        Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(sys(format!("chmod {}", dev.path().display())))?;
    nix::unistd::chown(
        &dest,
        dev.uid().map(nix::unistd::Uid::from_raw),
        dev.gid().map(nix::unistd::Gid::from_raw),
    )
    .map_err(sys(format!("chown {}", dev.path().display())))
}

fn make_target(dest: &Path, dir: bool) -> Result<(), RuntimeError> {
    if dir {
        std::fs::create_dir_all(dest).map_err(io_err(format!("creating {}", dest.display())))
    } else {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io_err(format!("creating {}", parent.display())))?;
        }
        if !dest.exists() {
            std::fs::File::create(dest).map_err(io_err(format!("creating {}", dest.display())))?;
        }
        Ok(())
    }
}

fn bind_device(rootfs: &Path, dev: &Path) -> Result<(), RuntimeError> {
    if !dev.exists() {
        return Ok(());
    }
    let dest = secure_join(rootfs, dev).map_err(io_err(format!("resolving {}", dev.display())))?;
    make_target(&dest, false)?;
    mount(Some(dev), &dest, NONE, MsFlags::MS_BIND, NONE)
        .map_err(sys(format!("binding device {}", dev.display())))
}

fn dev_symlinks(rootfs: &Path) -> Result<(), RuntimeError> {
    for (link, target) in [
        ("dev/fd", "/proc/self/fd"),
        ("dev/stdin", "/proc/self/fd/0"),
        ("dev/stdout", "/proc/self/fd/1"),
        ("dev/stderr", "/proc/self/fd/2"),
        ("dev/ptmx", "pts/ptmx"),
    ] {
        let p = rootfs.join(link);
        if p.symlink_metadata().is_ok() || !rootfs.join("dev").is_dir() {
            continue;
        }
        symlink(target, &p).map_err(io_err(format!("creating {}", p.display())))?;
    }
    Ok(())
}

/// Hides a path: `/dev/null` over files, an empty read-only tmpfs over directories.
fn mask_path(p: &Path) -> Result<(), RuntimeError> {
    let Ok(meta) = std::fs::metadata(p) else {
        return Ok(());
    };
    let r = if meta.is_dir() {
        mount(Some("tmpfs"), p, Some("tmpfs"), MsFlags::MS_RDONLY, NONE)
    } else {
        mount(Some("/dev/null"), p, NONE, MsFlags::MS_BIND, NONE)
    };
    r.map_err(sys(format!("masking {}", p.display())))
}

fn readonly_path(p: &Path) -> Result<(), RuntimeError> {
    if !p.exists() {
        return Ok(());
    }
    mount(Some(p), p, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE)
        .map_err(sys(format!("binding {}", p.display())))?;
    mount(
        NONE,
        p,
        NONE,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC,
        NONE,
    )
    .map_err(sys(format!("making {} read-only", p.display())))
}
