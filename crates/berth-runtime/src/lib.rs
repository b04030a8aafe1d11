//! An OCI runtime as a library: turns a runtime [`Spec`] and a bundle into an isolated
//! process. It knows nothing of Docker; the daemon translates Docker's requests into a
//! spec, which keeps external runtimes (`runc`, `crun`) interchangeable with this one.
//!
//! The process tree follows runc's create/start split:
//! 1. the caller (single-threaded) unshares the PID namespace and forks the container init;
//! 2. init builds its namespaces, root filesystem and credentials, reports "ready" on a
//!    pipe and blocks until [`Created::start`] writes to another;
//! 3. init then `execve`s the user's program. The report pipe is close-on-exec, so the
//!    parent reads end-of-file when the exec succeeded, or an error message when not.

pub mod cgroups;
pub mod console;
pub mod defaults;
mod exec;
mod init;
mod mounts;
mod seccomp;
mod securejoin;

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
pub use oci_spec::runtime::{Process, Spec};

pub use exec::exec;
pub use seccomp::check as check_seccomp;
pub use seccomp::set_cache_dir as set_seccomp_cache_dir;
pub use securejoin::secure_join;

/// Sets a terminal's window size (`docker resize`, `exec resize`).
pub fn set_window_size(
    fd: impl std::os::fd::AsFd,
    rows: u16,
    cols: u16,
) -> Result<(), RuntimeError> {
    rustix::termios::tcsetwinsize(
        fd,
        rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .map_err(|e| RuntimeError::Init(format!("resizing the terminal: {e}")))
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid runtime spec: {0}")]
    InvalidSpec(String),
    #[error("{op}: {source}")]
    Sys { op: String, source: nix::Error },
    #[error("container init failed: {0}")]
    Init(String),
    #[error("reading the bundle: {0}")]
    Bundle(String),
    #[error("seccomp: {0}")]
    Seccomp(String),
}

pub(crate) fn sys(op: impl Into<String>) -> impl FnOnce(nix::Error) -> RuntimeError {
    let op = op.into();
    move |source| RuntimeError::Sys { op, source }
}

/// Where the container's standard streams go; `None` leaves the caller's own.
#[derive(Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// With `process.terminal`: a unix socket on which the terminal's master is sent
    /// once the process's terminal is open inside the container.
    pub console: Option<OwnedFd>,
}

/// A container whose init is set up and waiting to exec the user's program.
pub struct Created {
    pub pid: Pid,
    start: OwnedFd,
    report: OwnedFd,
}

/// Reads `<bundle>/config.json`.
pub fn load_spec(bundle: &Path) -> Result<Spec, RuntimeError> {
    let p = bundle.join("config.json");
    let data =
        std::fs::read(&p).map_err(|e| RuntimeError::Bundle(format!("{}: {e}", p.display())))?;
    serde_json::from_slice(&data).map_err(|e| RuntimeError::Bundle(format!("{}: {e}", p.display())))
}

/// The root filesystem path of a spec, made absolute against the bundle.
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf, RuntimeError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidSpec("no root".into()))?;
    let p = root.path();
    Ok(if p.is_absolute() {
        p.clone()
    } else {
        bundle.join(p)
    })
}

/// Creates the container: forks its init into new namespaces and waits until it is ready
/// to exec. Must be called from a single-threaded process.
pub fn create(spec: &Spec, bundle: &Path, stdio: Stdio) -> Result<Created, RuntimeError> {
    let rootfs = rootfs_path(spec, bundle)?;
    let mut plan = init::Plan::from_spec(spec, rootfs)?;
    // Created and limited before fork, so a bad limit fails here with nothing to undo
    // but the group; init joins it as its first step.
    plan.cgroup = cgroups::prepare(spec)?;
    let cgroup = plan.cgroup.clone();
    let (joined_r, joined_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    plan.cgroup_joined = Some(joined_r);
    let fail = |e: RuntimeError| {
        if let Some(cg) = &cgroup {
            let _ = cg.remove();
        }
        e
    };
    let (start_r, start_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    let (report_r, report_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;

    // A new PID namespace applies to children only, so it is entered here, before fork;
    // joining an existing one (`--pid container:`) works the same way through setns.
    if let Some(ns) = plan.namespace(CloneFlags::CLONE_NEWPID) {
        match ns {
            Some(path) => {
                let f = std::fs::File::open(path)
                    .map_err(|e| RuntimeError::InvalidSpec(format!("{}: {e}", path.display())))?;
                nix::sched::setns(f, CloneFlags::CLONE_NEWPID)
                    .map_err(sys("setns pid"))
                    .map_err(fail)?;
            }
            None => nix::sched::unshare(CloneFlags::CLONE_NEWPID)
                .map_err(sys("unshare pid"))
                .map_err(fail)?,
        }
    }
    match berth_sys::fork_single_threaded()
        .map_err(sys("fork"))
        .map_err(fail)?
    {
        berth_sys::Forked::Child => {
            drop(start_w);
            drop(report_r);
            // Never returns: execs the program or reports why not and exits.
            init::run(plan, stdio, start_r, report_w)
        }
        berth_sys::Forked::Parent { child } => {
            drop(start_r);
            drop(report_w);
            drop(stdio);
            drop(plan);
            // Joining a v1 hierarchy waits for an RCU grace period (milliseconds); done
            // here it overlaps with init building the root filesystem. Init cannot exec
            // before we return, so it never runs unlimited.
            if let Some(cg) = &cgroup {
                if let Err(e) = cg.add_process(child.as_raw()) {
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    let _ = nix::sys::wait::waitpid(child, None);
                    return Err(fail(RuntimeError::Init(format!("joining the cgroup: {e}"))));
                }
            }
            let _ = nix::unistd::write(&joined_w, b"j");
            let mut created = Created {
                pid: child,
                start: start_w,
                report: report_r,
            };
            let msg = created.read_report().map_err(fail)?;
            if msg != "ready" {
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(fail(RuntimeError::Init(msg)));
            }
            Ok(created)
        }
    }
}

impl Created {
    fn read_report(&mut self) -> Result<String, RuntimeError> {
        // Messages are newline-terminated; "ready\n" comes first, an error may follow.
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        let mut f = std::fs::File::from(
            self.report
                .try_clone()
                .map_err(|e| RuntimeError::Init(e.to_string()))?,
        );
        loop {
            match f.read(&mut byte) {
                Ok(0) => break,
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) => buf.push(byte[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(RuntimeError::Init(e.to_string())),
            }
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Lets init exec the user's program; returns once the exec happened (or failed).
    pub fn start(mut self) -> Result<Pid, RuntimeError> {
        nix::unistd::write(&self.start, b"s").map_err(sys("signalling start"))?;
        let msg = self.read_report()?;
        if msg.is_empty() {
            Ok(self.pid)
        } else {
            let _ = nix::sys::wait::waitpid(self.pid, None);
            Err(RuntimeError::Init(msg))
        }
    }
}
