//! Safe wrappers around the system calls whose Rust bindings are `unsafe`.
//! Every `unsafe` block of berth is in this crate, each with the invariant it relies on.

pub mod bpf;
pub mod idmap;

use nix::unistd::ForkResult;

/// Which side of a [`fork_single_threaded`] we are on.
pub enum Forked {
    Parent { child: nix::unistd::Pid },
    Child,
}

/// `fork(2)` for a process that has exactly one thread.
///
/// Returns an error instead of forking when the process has other threads: after a fork
/// only the calling thread exists in the child, and any lock another thread held (the
/// allocator's, stdio's) would stay locked forever. berth forks only in its
/// single-threaded helpers (the shim and `berth-runc`), never in the daemon.
pub fn fork_single_threaded() -> nix::Result<Forked> {
    fork_proven(single_threaded()?)
}

/// Proof that the process had one thread when it was made. It cannot leave the thread
/// that made it (not `Send`); whoever holds it must not start threads before forking.
pub struct SingleThreaded(std::marker::PhantomData<*const ()>);

/// Checks that the process has one thread, while `/proc/self` is still the host's (after
/// joining a container's mount namespace it no longer is).
pub fn single_threaded() -> nix::Result<SingleThreaded> {
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0);
    if threads != 1 {
        return Err(nix::errno::Errno::EDEADLK);
    }
    Ok(SingleThreaded(std::marker::PhantomData))
}

/// [`fork_single_threaded`] with the check made earlier.
pub fn fork_proven(_proof: SingleThreaded) -> nix::Result<Forked> {
    // SAFETY: the process has a single thread (checked just above, and this function is
    // the only place that creates processes this way), so the child inherits no lock held
    // by another thread and may run arbitrary Rust code before it execs.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Forked::Parent { child }),
        ForkResult::Child => Ok(Forked::Child),
    }
}

/// Marks every descriptor from `first` up close-on-exec, so a program started next gets
/// only its standard streams: descriptors a parent leaked into the daemon never reach a
/// container. Needs Linux 5.11 (`CLOSE_RANGE_CLOEXEC`).
pub fn cloexec_from(first: u32) -> nix::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing; it only sets a flag on
    // descriptors, so no owned descriptor anywhere becomes invalid.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// Gives memory the allocator holds but no longer uses back to the kernel. Long-lived
/// small processes (the per-container shim) call it after their start-up work, which
/// allocates far more than they need afterwards.
#[cfg(target_env = "gnu")]
pub fn release_free_memory() {
    // SAFETY: malloc_trim takes the allocator's own locks and only releases pages that
    // hold no live allocation; it has no preconditions on the caller.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other C libraries give memory back on their own (or cannot be asked to).
#[cfg(not(target_env = "gnu"))]
pub fn release_free_memory() {}

/// Installs a classic-BPF seccomp program (the bytes of `struct sock_filter` entries,
/// as libseccomp exports them) for the calling thread. `flags` are the kernel's
/// `SECCOMP_FILTER_FLAG_*` bits. Needs no_new_privs or CAP_SYS_ADMIN.
pub fn seccomp_set_filter(program: &[u8], flags: u32) -> nix::Result<()> {
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    const ENTRY: usize = std::mem::size_of::<libc::sock_filter>();
    if program.is_empty()
        || !program.len().is_multiple_of(ENTRY)
        || program.len() / ENTRY > u16::MAX as usize
    {
        return Err(nix::errno::Errno::EINVAL);
    }
    let filters: Vec<libc::sock_filter> = program
        .chunks_exact(ENTRY)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let prog = libc::sock_fprog {
        len: filters.len() as u16,
        filter: filters.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `filters`, which outlives the call; the kernel copies and
    // verifies the program before returning and keeps no pointer into our memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &prog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}
