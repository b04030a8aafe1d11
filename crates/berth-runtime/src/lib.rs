//! An OCI runtime as a library: turns a runtime [`Spec`] and a bundle into an isolated
//! process. It knows nothing of Docker; the daemon translates Docker's requests into a
//! spec, which keeps external runtimes (`runc`, `crun`) interchangeable with this one.
//!
//! The process tree follows runc's create/start split:
//! 1. the caller (single-threaded) unshares the PID namespace and forks the container init;
//!    with a user namespace, a first child makes it instead (the caller writes its ID
//!    maps from outside), then the PID namespace, so both belong to the container, and
//!    forks init, which the caller inherits as the child's subreaper;
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

    // With a user namespace, a first child enters it (and then the PID namespace) and
    // forks init; init is handed to us when that child exits, as we are its subreaper.
    let userns: Option<Option<PathBuf>> = plan
        .namespace(CloneFlags::CLONE_NEWUSER)
        .map(|p| p.cloned());
    let stage_pipes = match userns {
        Some(_) => {
            nix::sys::prctl::set_child_subreaper(true)
                .map_err(sys("becoming a subreaper"))
                .map_err(fail)?;
            let up = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
            let down = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
            Some((up, down))
        }
        None => None,
    };
    // A new PID namespace applies to children only, so it is entered here, before fork;
    // joining an existing one (`--pid container:`) works the same way through setns.
    let pid_ns = if userns.is_some() {
        None // entered by stage one, inside the user namespace
    } else {
        plan.namespace(CloneFlags::CLONE_NEWPID)
    };
    if let Some(ns) = pid_ns {
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
            if let Err(e) = init::set_oom_score_adj(&plan) {
                init::report(&report_w, &e.to_string());
                std::process::exit(1);
            }
            let Some(((up_r, up_w), (down_r, down_w))) = stage_pipes else {
                // Never returns: execs the program or reports why not and exits.
                init::run(plan, stdio, start_r, report_w)
            };
            drop((up_r, down_w));
            stage_one(
                plan,
                userns.flatten(),
                stdio,
                start_r,
                report_w,
                up_w,
                down_r,
            )
        }
        berth_sys::Forked::Parent { child } => {
            drop(start_r);
            drop(report_w);
            drop(stdio);
            let child = match stage_pipes {
                None => child,
                Some(((up_r, up_w), (down_r, down_w))) => {
                    drop((up_w, down_r));
                    let init = map_user_namespace(&plan, child, &up_r, &down_w);
                    let _ = nix::sys::wait::waitpid(child, None);
                    match init {
                        Ok(pid) => pid,
                        Err(e) => {
                            // Stage one reports its own failure on the report pipe.
                            let msg = read_line(&report_r).unwrap_or_default();
                            let msg = if msg.is_empty() { e.to_string() } else { msg };
                            return Err(fail(RuntimeError::Init(msg)));
                        }
                    }
                }
            };
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

/// Stage one (see [`create`]): enters the namespaces init must be created in, forks
/// init, tells the creator its pid and exits. Never returns.
fn stage_one(
    mut plan: init::Plan,
    userns: Option<PathBuf>,
    stdio: Stdio,
    start: OwnedFd,
    report: OwnedFd,
    to_creator: OwnedFd,
    from_creator: OwnedFd,
) -> ! {
    if let Err(e) =
        init::enter_user_namespace(&mut plan, userns.as_ref(), &to_creator, &from_creator)
    {
        init::report(&report, &e.to_string());
        std::process::exit(1);
    }
    match berth_sys::fork_single_threaded() {
        Ok(berth_sys::Forked::Child) => {
            drop((to_creator, from_creator));
            init::run(plan, stdio, start, report)
        }
        Ok(berth_sys::Forked::Parent { child }) => {
            init::report(&to_creator, &child.as_raw().to_string());
            std::process::exit(0);
        }
        Err(e) => {
            init::report(&report, &format!("fork: {e}"));
            std::process::exit(1);
        }
    }
}

/// The creator's side of stage one: writes the ID maps when asked, then reads init's
/// pid. Fails when stage one exits without sending one.
fn map_user_namespace(
    plan: &init::Plan,
    stage_one: Pid,
    from_stage: &OwnedFd,
    to_stage: &OwnedFd,
) -> Result<Pid, RuntimeError> {
    loop {
        let line = read_line(from_stage)?;
        if line == "map" {
            for (file, map) in [("uid_map", &plan.uid_map), ("gid_map", &plan.gid_map)] {
                let path = format!("/proc/{stage_one}/{file}");
                std::fs::write(&path, map)
                    .map_err(|e| RuntimeError::Init(format!("writing {file} {map:?}: {e}")))?;
            }
            nix::unistd::write(to_stage, b"m").map_err(sys("signalling the ID maps"))?;
            continue;
        }
        return line
            .parse::<i32>()
            .map(Pid::from_raw)
            .map_err(|_| RuntimeError::Init("stage one exited before forking init".into()));
    }
}

/// One newline-terminated message from a pipe; empty at end of file.
fn read_line(fd: &OwnedFd) -> Result<String, RuntimeError> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(fd, &mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => buf.push(byte[0]),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(RuntimeError::Init(e.to_string())),
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

impl Created {
    fn read_report(&mut self) -> Result<String, RuntimeError> {
        // "ready" comes first; an error message may follow.
        read_line(&self.report)
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
