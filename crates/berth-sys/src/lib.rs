//! Safe wrappers around the system calls whose Rust bindings are `unsafe`.
//! Every `unsafe` block of berth is in this crate, each with the invariant it relies on.

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
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0);
    if threads != 1 {
        return Err(nix::errno::Errno::EDEADLK);
    }
    // SAFETY: the process has a single thread (checked just above, and this function is
    // the only place that creates processes this way), so the child inherits no lock held
    // by another thread and may run arbitrary Rust code before it execs.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Forked::Parent { child }),
        ForkResult::Child => Ok(Forked::Child),
    }
}
