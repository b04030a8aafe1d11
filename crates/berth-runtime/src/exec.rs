//! Running another process in a running container (`docker exec`): join the container's
//! cgroup and namespaces, fork (a PID namespace applies to children only), and exec with
//! the process's own user, capabilities and working directory.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::{Process, Spec};

use crate::init::{self, Plan};
use crate::{sys, RuntimeError, Stdio};

/// Namespaces in the order they are joined. The caller is root on the host, which may
/// join any of them while still in the host's user namespace, including one the daemon
/// made (owned by the host's user namespace, so not joinable from inside the
/// container's); the user namespace therefore comes last. The mount namespace comes
/// after the others because joining it changes the root, and `/proc/<pid>/ns` of all of
/// them is opened before.
const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("user", CloneFlags::CLONE_NEWUSER),
];

/// Starts `process` inside the container whose init is `container_pid`, described by the
/// container's `spec` (for its cgroup). Must be called from a single-threaded process.
/// Returns the new process's pid (a child of the caller) once its program is executing.
pub fn exec(
    spec: &Spec,
    process: &Process,
    container_pid: i32,
    stdio: Stdio,
) -> Result<Pid, RuntimeError> {
    let mut exec_spec = spec.clone();
    exec_spec.set_process(Some(process.clone()));
    let plan = Plan::from_spec(&exec_spec, "/".into())?;
    let one_thread = berth_sys::single_threaded().map_err(sys("checking for threads"))?;

    // Open every namespace first, from the host's /proc, then join.
    let mut joins: Vec<(std::fs::File, CloneFlags)> = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = format!("/proc/{container_pid}/ns/{name}");
        let mine = format!("/proc/self/ns/{name}");
        let (Ok(a), Ok(b)) = (std::fs::read_link(&theirs), std::fs::read_link(&mine)) else {
            continue;
        };
        if a == b {
            continue; // shared with the host (`--pid host`, `--network host`)
        }
        let f = std::fs::File::open(&theirs).map_err(|e| {
            RuntimeError::Init(format!("container process {container_pid} is gone: {e}"))
        })?;
        joins.push((f, *flag));
    }
    if let Some(path) = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) {
        // The exec'd process counts against the container's limits, like its init.
        let cg = berth_cgroups::Hierarchy::detect()
            .and_then(|h| h.cgroup(&path.to_string_lossy()))
            .map_err(|e| RuntimeError::Init(format!("cgroups: {e}")))?;
        if cg.exists() {
            cg.add_process(0)
                .map_err(|e| RuntimeError::Init(format!("joining the cgroup: {e}")))?;
        }
    }
    for (f, flag) in joins {
        nix::sched::setns(f, flag).map_err(sys(format!("setns {flag:?}")))?;
    }

    let (report_r, report_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    match berth_sys::fork_proven(one_thread).map_err(sys("fork"))? {
        berth_sys::Forked::Child => {
            drop(report_r);
            let err = match child_setup(&plan, stdio) {
                Ok(()) => init::exec_program(&plan),
                Err(e) => e.to_string(),
            };
            init::report(&report_w, &err);
            std::process::exit(126);
        }
        berth_sys::Forked::Parent { child } => {
            drop(report_w);
            drop(stdio);
            let msg = read_report(&report_r)?;
            if msg.is_empty() {
                Ok(child)
            } else {
                let _ = nix::sys::wait::waitpid(child, None);
                Err(RuntimeError::Init(msg))
            }
        }
    }
}

fn read_report(fd: &OwnedFd) -> Result<String, RuntimeError> {
    let mut buf = Vec::new();
    let mut b = [0u8; 256];
    loop {
        match nix::unistd::read(fd.as_fd(), &mut b) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&b[..n]),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(RuntimeError::Init(e.to_string())),
        }
    }
    Ok(String::from_utf8_lossy(&buf).trim_end().to_string())
}

fn child_setup(plan: &Plan, mut stdio: Stdio) -> Result<(), RuntimeError> {
    init::attach_stdio(plan, &mut stdio)?;
    init::open_console(plan, &mut stdio)?;
    init::close_inherited()?;
    init::load_seccomp(plan, false)?;
    init::set_credentials(plan)?;
    nix::unistd::chdir(Path::new(&plan.cwd))
        .map_err(sys(format!("chdir {}", plan.cwd.display())))?;
    if plan.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(sys("no_new_privs"))?;
    }
    Ok(())
}
