//! ID-mapped mounts: a view of a directory whose owners are shifted through a user
//! namespace's mapping, so a container whose root is host uid 100000 sees the image's
//! root-owned files as its own without a single file being copied or chowned.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use rustix::mount::{MoveMountFlags, OpenTreeFlags};

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;

/// Mounts `source` at `target` (an existing directory) with the owners of its files
/// mapped through `userns`: a file owned by uid 0 appears owned by whatever host uid the
/// namespace maps 0 to. Needs Linux 5.12 and a filesystem that supports ID mapping
/// (ext4, xfs, btrfs, tmpfs since 6.3, ...). Not recursive: mounts below `source` are
/// not included.
pub fn mount_idmapped(source: &Path, target: &Path, userns: BorrowedFd<'_>) -> std::io::Result<()> {
    let tree = rustix::mount::open_tree(
        rustix::fs::CWD,
        source,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: `tree` is an open, detached mount we own; the path is an empty C string and
    // AT_EMPTY_PATH makes the call act on the descriptor itself; `attr` is a valid
    // `struct mount_attr` whose size is passed, which the kernel only reads during the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_fd().as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    rustix::mount::move_mount(
        tree.as_fd(),
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

/// Makes a mount tree read-only: `tree` is a mount (an `open_tree` clone, or a directory
/// descriptor whose mount is meant), every mount below it too when `recursive`. Writes
/// through it then fail with `EROFS`, whatever the file modes say.
pub fn set_tree_readonly(tree: BorrowedFd<'_>, recursive: bool) -> std::io::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: `tree` is an open descriptor the caller keeps alive for the call; the path
    // is an empty C string and AT_EMPTY_PATH makes the call act on the descriptor itself;
    // `attr` is a valid `struct mount_attr` whose size is passed, which the kernel only
    // reads during the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
