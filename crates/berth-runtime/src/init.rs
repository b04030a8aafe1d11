//! The container's init process, between fork and exec. Runs single-threaded in the
//! child. The order of steps matters and is commented where it does.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use caps::{CapSet, Capability, CapsHashSet};
use nix::sched::CloneFlags;
use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxNamespaceType, Mount, PosixRlimitType, Spec};

use crate::{mounts, seccomp, sys, RuntimeError, Stdio};

/// Everything init needs, extracted from the spec before forking.
pub(crate) struct Plan {
    pub namespaces: Vec<(CloneFlags, Option<PathBuf>)>,
    pub rootfs: PathBuf,
    pub readonly_root: bool,
    pub mounts: Vec<Mount>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub devices: Vec<oci_spec::runtime::LinuxDevice>,
    /// The container's cgroup, created and joined for init by the creator.
    pub cgroup: Option<berth_cgroups::Cgroup>,
    /// Readable once the creator moved init into its cgroup (a new cgroup namespace
    /// must not be made before: its root is the group init is in at that moment).
    pub cgroup_joined: Option<OwnedFd>,
    pub hostname: Option<String>,
    pub sysctl: Vec<(String, String)>,
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    pub path_env: String,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub rlimits: Vec<(Resource, u64, u64)>,
    pub caps: [CapsHashSet; 5],
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    /// stdin is a terminal that becomes the process's controlling terminal.
    pub terminal: bool,
    pub seccomp: Option<seccomp::Filter>,
    /// `/proc/<pid>/uid_map` and `gid_map` contents for a new user namespace.
    pub uid_map: String,
    pub gid_map: String,
    /// Set by stage one: the namespaces given by path (but mount, PID and user) were
    /// joined before the user namespace, with the host's privileges.
    pub joined_early: bool,
}

fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Time => CloneFlags::empty(),
    }
}

/// The namespace a sysctl belongs to (the spec's name for it), `None` for settings
/// that are global to the host. runc's list: writing any other key from a container
/// would change the host.
fn sysctl_namespace(key: &str) -> Option<&'static str> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some("ipc")
    } else if key.starts_with("net.") {
        Some("network")
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some("uts")
    } else {
        None
    }
}

/// A sysctl is written under /proc/sys by its dotted name: only plain names of a
/// namespace the container has apart from the host are allowed.
fn check_sysctl(
    key: &str,
    namespaces: &[(CloneFlags, Option<PathBuf>)],
) -> Result<(), RuntimeError> {
    let plain = key.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !plain {
        return Err(RuntimeError::InvalidSpec(format!(
            "invalid sysctl name {key:?}"
        )));
    }
    let flag = match sysctl_namespace(key) {
        Some("ipc") => CloneFlags::CLONE_NEWIPC,
        Some("network") => CloneFlags::CLONE_NEWNET,
        Some(_) => CloneFlags::CLONE_NEWUTS,
        None => CloneFlags::empty(),
    };
    if flag.is_empty() || !namespaces.iter().any(|(f, _)| *f == flag) {
        return Err(RuntimeError::InvalidSpec(format!(
            "sysctl {key:?} is not in a separate kernel namespace"
        )));
    }
    Ok(())
}

fn cstring(s: &str, what: &str) -> Result<CString, RuntimeError> {
    CString::new(s).map_err(|_| RuntimeError::InvalidSpec(format!("{what} contains a NUL byte")))
}

fn cap_set(names: &Option<oci_spec::runtime::Capabilities>) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    if let Some(set) = names {
        for c in set {
            // The spec's serialised name (`CAP_CHOWN`) is what the caps crate parses.
            let name = serde_json::to_value(c)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            if let Some(cap) = name.and_then(|n| n.parse::<Capability>().ok()) {
                out.insert(cap);
            }
        }
    }
    out
}

impl Plan {
    pub fn from_spec(spec: &Spec, rootfs: PathBuf) -> Result<Plan, RuntimeError> {
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| RuntimeError::InvalidSpec("no process".into()))?;
        let args: Vec<CString> = process
            .args()
            .as_ref()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| RuntimeError::InvalidSpec("process.args must not be empty".into()))?
            .iter()
            .map(|a| cstring(a, "an argument"))
            .collect::<Result<_, _>>()?;
        let env_list = process.env().clone().unwrap_or_default();
        let path_env = env_list
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .to_string();
        let env = env_list
            .iter()
            .map(|e| cstring(e, "an environment variable"))
            .collect::<Result<_, _>>()?;
        let linux = spec.linux().as_ref();
        let mut namespaces = Vec::new();
        for ns in linux
            .and_then(|l| l.namespaces().as_ref())
            .into_iter()
            .flatten()
        {
            let flag = ns_flag(ns.typ());
            if !flag.is_empty() {
                namespaces.push((flag, ns.path().clone()));
            }
        }
        let mut rlimits = Vec::new();
        for r in process.rlimits().as_ref().into_iter().flatten() {
            let res = match r.typ() {
                PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
                PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
                PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
                PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
                PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
                PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
                PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
                PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
                PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
                PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
                PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
                PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
                PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
                _ => continue,
            };
            rlimits.push((res, r.soft(), r.hard()));
        }
        let c = process.capabilities().as_ref();
        let caps = [
            cap_set(&c.and_then(|c| c.bounding().clone())),
            cap_set(&c.and_then(|c| c.effective().clone())),
            cap_set(&c.and_then(|c| c.permitted().clone())),
            cap_set(&c.and_then(|c| c.inheritable().clone())),
            cap_set(&c.and_then(|c| c.ambient().clone())),
        ];
        let user = process.user();
        let sysctl: Vec<(String, String)> = linux
            .and_then(|l| l.sysctl().as_ref())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        for (k, _) in &sysctl {
            check_sysctl(k, &namespaces)?;
        }
        let id_map = |m: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| -> String {
            m.into_iter()
                .flatten()
                .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
                .collect()
        };
        let uid_map = id_map(linux.and_then(|l| l.uid_mappings().as_ref()));
        let gid_map = id_map(linux.and_then(|l| l.gid_mappings().as_ref()));
        let new_userns = namespaces
            .iter()
            .any(|(f, p)| *f == CloneFlags::CLONE_NEWUSER && p.is_none());
        if new_userns && (uid_map.is_empty() || gid_map.is_empty()) {
            return Err(RuntimeError::InvalidSpec(
                "user namespaces enabled, but no uid or gid mappings found".into(),
            ));
        }
        Ok(Plan {
            joined_early: false,
            uid_map,
            gid_map,
            namespaces,
            readonly_root: spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
            rootfs,
            mounts: spec.mounts().clone().unwrap_or_default(),
            masked_paths: linux
                .and_then(|l| l.masked_paths().clone())
                .unwrap_or_default(),
            readonly_paths: linux
                .and_then(|l| l.readonly_paths().clone())
                .unwrap_or_default(),
            devices: linux.and_then(|l| l.devices().clone()).unwrap_or_default(),
            cgroup: None,
            cgroup_joined: None,
            hostname: spec.hostname().clone(),
            sysctl,
            args,
            env,
            path_env,
            cwd: process.cwd().clone(),
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            rlimits,
            caps,
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
            oom_score_adj: process.oom_score_adj(),
            terminal: process.terminal().unwrap_or(false),
            seccomp: linux
                .and_then(|l| l.seccomp().as_ref())
                .map(seccomp::compile_cached)
                .transpose()?,
        })
    }

    /// `Some(path)` to join, `Some(None)` to create, `None` when not requested.
    pub fn namespace(&self, flag: CloneFlags) -> Option<Option<&PathBuf>> {
        self.namespaces
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, p)| p.as_ref())
    }
}

pub(crate) fn report(fd: &OwnedFd, msg: &str) {
    let mut line = msg.replace('\n', " ");
    line.push('\n');
    let _ = nix::unistd::write(fd, line.as_bytes());
}

/// The child's side: set up, report, wait for start, exec. Never returns.
pub(crate) fn run(plan: Plan, stdio: Stdio, start: OwnedFd, report_fd: OwnedFd) -> ! {
    if let Err(e) = setup(&plan, stdio) {
        report(&report_fd, &e.to_string());
        std::process::exit(1);
    }
    report(&report_fd, "ready");
    let mut b = [0u8; 1];
    // End of file means the creator went away without starting us.
    match nix::unistd::read(&start, &mut b) {
        Ok(1) => {}
        _ => std::process::exit(1),
    }
    let err = exec_program(&plan);
    report(&report_fd, &err);
    std::process::exit(127);
}

/// The last steps before the program runs: find it, let no inherited descriptor
/// through, load a seccomp filter that waited for this point, exec. Returns only on
/// failure, with runc's wording.
pub(crate) fn exec_program(plan: &Plan) -> String {
    let prog = match resolve_program(plan) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if let Err(e) = load_seccomp(plan, true) {
        return e.to_string();
    }
    match nix::unistd::execve(&prog, &plan.args, &plan.env) {
        Err(e) => exec_error(&prog.to_string_lossy(), e),
        Ok(never) => match never {},
    }
}

/// runc's wording, which clients match to pick exit codes (127 not found, 126 denied).
pub(crate) fn exec_error(prog: &str, e: nix::Error) -> String {
    match e {
        nix::Error::ENOENT => format!("exec: \"{prog}\": stat {prog}: no such file or directory"),
        nix::Error::EACCES => format!("exec: \"{prog}\": permission denied"),
        e => format!("exec {prog}: {}", e.desc().to_lowercase()),
    }
}

/// Finds the program in the container's PATH (after pivot_root, so `/` is the container's).
pub(crate) fn resolve_program(plan: &Plan) -> Result<CString, String> {
    let name = plan.args[0].to_string_lossy().into_owned();
    let not_found = || format!("exec: \"{name}\": executable file not found in $PATH");
    if name.contains('/') {
        return Ok(plan.args[0].clone());
    }
    for dir in plan.path_env.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(&name);
        if let Ok(m) = std::fs::metadata(&p) {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return CString::new(p.as_os_str().as_bytes()).map_err(|_| not_found());
            }
        }
    }
    Err(not_found())
}

/// A new session with the given standard streams; a terminal on stdin becomes the
/// controlling terminal (so the shell gets job control and ^C reaches it).
pub(crate) fn attach_stdio(plan: &Plan, stdio: &mut Stdio) -> Result<(), RuntimeError> {
    // The creator may block signals (the shim blocks SIGCHLD for its signalfd); a mask
    // survives exec, so the program starts from an empty one.
    nix::sys::signal::SigSet::empty()
        .thread_set_mask()
        .map_err(sys("resetting the signal mask"))?;
    nix::unistd::setsid().map_err(sys("setsid"))?;
    if let Some(fd) = &stdio.stdin {
        nix::unistd::dup2_stdin(fd).map_err(sys("dup2 stdin"))?;
    }
    if let Some(fd) = &stdio.stdout {
        nix::unistd::dup2_stdout(fd).map_err(sys("dup2 stdout"))?;
    }
    if let Some(fd) = &stdio.stderr {
        nix::unistd::dup2_stderr(fd).map_err(sys("dup2 stderr"))?;
    }
    stdio.stdin = None;
    stdio.stdout = None;
    stdio.stderr = None;
    if plan.terminal && stdio.console.is_none() {
        // The caller's own terminal on stdin.
        rustix::process::ioctl_tiocsctty(std::io::stdin())
            .map_err(|e| RuntimeError::Init(format!("setting the controlling terminal: {e}")))?;
    }
    Ok(())
}

/// Opens the terminal inside the container when the caller asked for one to be sent.
pub(crate) fn open_console(plan: &Plan, stdio: &mut Stdio) -> Result<(), RuntimeError> {
    if let (true, Some(sock)) = (plan.terminal, stdio.console.take()) {
        crate::console::setup(&sock)?;
    }
    Ok(())
}

/// Lowering the score needs CAP_SYS_RESOURCE in the host's user namespace, so this is
/// the first step of the first process the creator forks, before any user namespace.
pub(crate) fn set_oom_score_adj(plan: &Plan) -> Result<(), RuntimeError> {
    if let Some(adj) = plan.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| RuntimeError::Init(format!("setting oom_score_adj: {e}")))?;
    }
    Ok(())
}

/// Stage one of a container with a user namespace, in the creator's child: enter or
/// make the user namespace (the creator writes the ID maps meanwhile, from outside),
/// become its root, then enter the PID namespace, which a new one is then owned by the
/// user namespace (so init may mount /proc). The caller forks init next.
pub(crate) fn enter_user_namespace(
    plan: &mut Plan,
    userns: Option<&PathBuf>,
    to_creator: &OwnedFd,
    from_creator: &OwnedFd,
) -> Result<(), RuntimeError> {
    // Namespaces given by path belong to their own user namespace (the host's, for the
    // network namespace the daemon made): joining them needs the privileges we still
    // have now and would lack inside the new user namespace.
    for (flag, path) in &plan.namespaces {
        if let (Some(path), false) = (path, is_joined_in_stages(*flag)) {
            let f = std::fs::File::open(path).map_err(|e| {
                RuntimeError::InvalidSpec(format!("namespace {}: {e}", path.display()))
            })?;
            nix::sched::setns(f, *flag).map_err(sys(format!("setns {}", path.display())))?;
        }
    }
    plan.joined_early = true;
    match userns {
        Some(path) => {
            let f = std::fs::File::open(path)
                .map_err(|e| RuntimeError::InvalidSpec(format!("{}: {e}", path.display())))?;
            nix::sched::setns(f, CloneFlags::CLONE_NEWUSER).map_err(sys("setns user"))?;
        }
        None => {
            nix::sched::unshare(CloneFlags::CLONE_NEWUSER).map_err(sys("unshare user"))?;
            report(to_creator, "map");
            let mut b = [0u8; 1];
            if nix::unistd::read(from_creator, &mut b) != Ok(1) {
                return Err(RuntimeError::Init("the ID maps were not written".into()));
            }
        }
    }
    // Files init creates (mount points in the upper layer) belong to the container's root.
    nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .map_err(sys("setgid 0 in the user namespace"))?;
    nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .map_err(sys("setuid 0 in the user namespace"))?;
    match plan.namespace(CloneFlags::CLONE_NEWPID) {
        Some(Some(path)) => {
            let f = std::fs::File::open(path)
                .map_err(|e| RuntimeError::InvalidSpec(format!("{}: {e}", path.display())))?;
            nix::sched::setns(f, CloneFlags::CLONE_NEWPID).map_err(sys("setns pid"))
        }
        Some(None) => nix::sched::unshare(CloneFlags::CLONE_NEWPID).map_err(sys("unshare pid")),
        None => Ok(()),
    }
}

/// Namespaces the stages enter themselves, in their own order: PID and user by stage one
/// or the creator, mount by init (after the others, see [`setup`]).
fn is_joined_in_stages(flag: CloneFlags) -> bool {
    flag == CloneFlags::CLONE_NEWPID
        || flag == CloneFlags::CLONE_NEWUSER
        || flag == CloneFlags::CLONE_NEWNS
}

fn setup(plan: &Plan, mut stdio: Stdio) -> Result<(), RuntimeError> {
    attach_stdio(plan, &mut stdio)?;

    // Namespaces to join are entered before new ones are made, the mount namespace last
    // among the joins so the others' paths can still be opened from the host's mounts.
    let mut new_flags = CloneFlags::empty();
    let mut joins: Vec<(CloneFlags, &PathBuf)> = Vec::new();
    for (flag, path) in &plan.namespaces {
        if *flag == CloneFlags::CLONE_NEWPID || *flag == CloneFlags::CLONE_NEWUSER {
            continue; // entered before init was forked
        }
        match path {
            Some(_) if plan.joined_early && !is_joined_in_stages(*flag) => {}
            Some(p) => joins.push((*flag, p)),
            None => new_flags |= *flag,
        }
    }
    joins.sort_by_key(|(f, _)| *f == CloneFlags::CLONE_NEWNS);
    for (flag, path) in joins {
        let f = std::fs::File::open(path)
            .map_err(|e| RuntimeError::InvalidSpec(format!("namespace {}: {e}", path.display())))?;
        nix::sched::setns(f, flag).map_err(sys(format!("setns {}", path.display())))?;
    }
    if new_flags.contains(CloneFlags::CLONE_NEWCGROUP) {
        if let Some(joined) = &plan.cgroup_joined {
            let mut b = [0u8; 1];
            if nix::unistd::read(joined, &mut b) != Ok(1) {
                return Err(RuntimeError::Init("the cgroup was not joined".into()));
            }
        }
    }
    if !new_flags.is_empty() {
        nix::sched::unshare(new_flags).map_err(sys("unshare"))?;
    }

    if plan.namespace(CloneFlags::CLONE_NEWNS).is_some() {
        mounts::setup_rootfs(plan)?;
    } else {
        return Err(RuntimeError::InvalidSpec(
            "a mount namespace is required".into(),
        ));
    }
    // After pivot_root: the terminal comes from the container's own /dev/pts.
    open_console(plan, &mut stdio)?;
    if let (Some(h), Some(None)) = (&plan.hostname, plan.namespace(CloneFlags::CLONE_NEWUTS)) {
        nix::unistd::sethostname(h).map_err(sys("sethostname"))?;
    }
    for (res, soft, hard) in &plan.rlimits {
        // Raising a hard limit needs CAP_SYS_RESOURCE, which some hosts deny even to
        // root: then grant as much as the host allows instead of failing the container.
        if let Err(nix::Error::EPERM) = setrlimit(*res, *soft, *hard) {
            let (_, cur_hard) =
                nix::sys::resource::getrlimit(*res).map_err(sys(format!("getrlimit {res:?}")))?;
            setrlimit(*res, (*soft).min(cur_hard), (*hard).min(cur_hard))
                .map_err(sys(format!("setrlimit {res:?}")))?;
        }
    }
    close_inherited()?;
    load_seccomp(plan, false)?;
    set_credentials(plan)?;
    // After credentials: the working directory must be reachable as the user.
    nix::unistd::chdir(&plan.cwd).map_err(sys(format!("chdir {}", plan.cwd.display())))?;
    if plan.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(sys("no_new_privs"))?;
    }
    Ok(())
}

/// Loads the seccomp filter at the right one of its two moments: as late as possible,
/// just before exec, when no_new_privs is set; without it loading needs CAP_SYS_ADMIN,
/// so then before the capabilities are dropped (runc's order). Either way, what init
/// does after loading (setuid, capset, exec) must be allowed by the profile.
/// Marks every descriptor above stdio close-on-exec, before any seccomp filter (a
/// profile need not allow close_range). Kernels before 5.11 lack the call; there the
/// descriptors the runtime opened are close-on-exec already.
pub(crate) fn close_inherited() -> Result<(), RuntimeError> {
    match berth_sys::cloexec_from(3) {
        Ok(()) | Err(nix::Error::ENOSYS) => Ok(()),
        Err(e) => Err(RuntimeError::Sys {
            op: "closing inherited descriptors".into(),
            source: e,
        }),
    }
}

pub(crate) fn load_seccomp(plan: &Plan, before_exec: bool) -> Result<(), RuntimeError> {
    match &plan.seccomp {
        Some(f) if before_exec == plan.no_new_privileges => seccomp::install(f),
        _ => Ok(()),
    }
}

/// Drops the bounding set, switches user keeping capabilities, then sets the process's
/// capability sets. Capabilities the runtime itself lacks are skipped, so `--privileged`
/// works on hosts where the daemon is denied some (Docker fails there).
pub(crate) fn set_credentials(plan: &Plan) -> Result<(), RuntimeError> {
    let [bounding, effective, permitted, inheritable, ambient] = &plan.caps;
    let have = caps::read(None, CapSet::Bounding)
        .map_err(|e| RuntimeError::Init(format!("reading capabilities: {e}")))?;
    for cap in have.iter() {
        if !bounding.contains(cap) {
            caps::drop(None, CapSet::Bounding, *cap)
                .map_err(|e| RuntimeError::Init(format!("dropping {cap}: {e}")))?;
        }
    }
    nix::sys::prctl::set_keepcaps(true).map_err(sys("keepcaps"))?;
    let gids: Vec<Gid> = plan
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&gids).map_err(sys("setgroups"))?;
    let gid = Gid::from_raw(plan.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(sys("setgid"))?;
    let uid = Uid::from_raw(plan.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(sys("setuid"))?;
    nix::sys::prctl::set_keepcaps(false).map_err(sys("keepcaps"))?;
    let allowed: HashSet<Capability> = have.into_iter().collect();
    let clamp = |s: &CapsHashSet| -> CapsHashSet {
        s.iter().filter(|c| allowed.contains(c)).cloned().collect()
    };
    let set = |which: CapSet, s: &CapsHashSet| {
        caps::set(None, which, &clamp(s))
            .map_err(|e| RuntimeError::Init(format!("setting {which:?} capabilities: {e}")))
    };
    // Shrink effective first (it must stay within permitted at every step), then
    // permitted, then inheritable; ambient needs both permitted and inheritable.
    set(CapSet::Effective, effective)?;
    set(CapSet::Permitted, permitted)?;
    set(CapSet::Inheritable, inheritable)?;
    set(CapSet::Ambient, ambient)?;
    Ok(())
}

#[cfg(test)]
mod sysctl_tests {
    use super::*;

    #[test]
    fn only_namespaced_plain_sysctls_pass() {
        let own = vec![
            (CloneFlags::CLONE_NEWNET, None),
            (CloneFlags::CLONE_NEWIPC, None),
        ];
        assert!(check_sysctl("net.ipv4.ip_forward", &own).is_ok());
        assert!(check_sysctl("kernel.shmmax", &own).is_ok());
        assert!(check_sysctl("fs.mqueue.msg_max", &own).is_ok());
        // Global to the host, or in a namespace shared with it.
        assert!(check_sysctl("vm.swappiness", &own).is_err());
        assert!(check_sysctl("kernel.hostname", &own).is_err());
        assert!(check_sysctl("net.core.somaxconn", &own[1..]).is_err());
        // Names that would leave /proc/sys.
        for bad in ["/etc/passwd", "net./../x", "net..x", "net.a/b", ""] {
            assert!(check_sysctl(bad, &own).is_err(), "{bad}");
        }
    }
}
