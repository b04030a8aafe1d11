//! Seccomp profiles as Docker applies them: its default profile, written here as data,
//! and profiles sent in `HostConfig.SecurityOpt` as `seccomp=<json>` (the docker CLI
//! reads a profile file and sends its content). Both are in Docker's profile format,
//! whose rules may depend on the container's capabilities, the host's architecture and
//! kernel; they are resolved into the OCI `linux.seccomp` when the spec is made, as
//! Docker does.

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

/// Syscalls every container may make (with the default profile's `EPERM` for the rest).
const ALLOWED: &str = "
    _llseek _newselect accept accept4 access adjtimex alarm bind brk cachestat capget
    capset chdir chmod chown chown32 clock_adjtime clock_adjtime64 clock_getres
    clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
    clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
    epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
    epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2
    fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown
    fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr
    fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
    futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat get_robust_list
    get_thread_area getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32
    getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid
    getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
    getrusage getsid getsockname getsockopt gettid gettimeofday getuid getuid32 getxattr
    getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
    io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit ioctl
    ioprio_get ioprio_set ipc kill landlock_add_rule landlock_create_ruleset
    landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount listxattr
    listxattrat llistxattr lremovexattr lseek lsetxattr lstat lstat64 madvise
    map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod
    mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open
    mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink
    mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
    name_to_handle_at nanosleep newfstatat open openat openat2 pause pidfd_open
    pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64
    prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
    pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom
    recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename
    renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending
    rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
    rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min
    sched_getaffinity sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval
    sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
    sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
    semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list
    set_thread_area set_tid_address setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
    setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid
    setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt
    setuid setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack
    signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64
    statfs statfs64 statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo
    tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime
    timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
    timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64
    ugetrlimit umask uname unlink unlinkat uretprobe utime utimensat utimensat_time64
    utimes vfork vmsplice wait4 waitid waitpid write writev";

/// `CLONE_NEW*`: without CAP_SYS_ADMIN, clone(2) may not make namespaces.
const CLONE_NAMESPACES: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

const SYS_ADMIN: &[&str] = &["CAP_SYS_ADMIN"];
const S390: &[&str] = &["s390", "s390x"];

/// An argument condition: index, value, second value, operator.
type ArgCond = (u32, u64, u64, &'static str);

/// A rule of the default profile: the space-separated `names` are allowed, or fail with
/// `errno`, when `args` match and the conditions hold.
struct Group {
    names: &'static str,
    errno: Option<u32>,
    args: &'static [ArgCond],
    include: When,
    exclude: When,
}

/// Docker's rule conditions: capabilities (all of them to include, any to exclude), the
/// host's architecture (libseccomp's names: amd64, arm64, ...), a minimum host kernel.
#[derive(Clone, Copy)]
struct When {
    caps: &'static [&'static str],
    arches: &'static [&'static str],
    min_kernel: Option<(u64, u64)>,
}

const ALWAYS: When = When {
    caps: &[],
    arches: &[],
    min_kernel: None,
};

const fn allow(names: &'static str) -> Group {
    Group {
        names,
        errno: None,
        args: &[],
        include: ALWAYS,
        exclude: ALWAYS,
    }
}

const fn deny(names: &'static str, errno: i32) -> Group {
    let mut g = allow(names);
    g.errno = Some(errno as u32);
    g
}

impl Group {
    const fn args(mut self, args: &'static [ArgCond]) -> Self {
        self.args = args;
        self
    }
    const fn with(mut self, caps: &'static [&'static str]) -> Self {
        self.include.caps = caps;
        self
    }
    const fn without(mut self, caps: &'static [&'static str]) -> Self {
        self.exclude.caps = caps;
        self
    }
    const fn on(mut self, arches: &'static [&'static str]) -> Self {
        self.include.arches = arches;
        self
    }
    const fn not_on(mut self, arches: &'static [&'static str]) -> Self {
        self.exclude.arches = arches;
        self
    }
    const fn since(mut self, kernel: u64, major: u64) -> Self {
        self.include.min_kernel = Some((kernel, major));
        self
    }
}

/// Docker's default profile (as of Docker 28.2), after the allow-list above.
const DEFAULT_RULES: &[Group] = &[
    allow(ALLOWED),
    // Since 4.8 the ptrace of a sibling no longer bypasses the filter.
    allow("process_vm_readv process_vm_writev ptrace").since(4, 8),
    // Sockets of any family but AF_VSOCK, which reaches the host's hypervisor.
    allow("socket").args(&[(0, libc::AF_VSOCK as u64, 0, "SCMP_CMP_NE")]),
    // personality(2) only to query (0xffffffff) or set the Linux personalities:
    // PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE and both.
    allow("personality").args(&[(0, 0x0, 0, "SCMP_CMP_EQ")]),
    allow("personality").args(&[(0, 0x0008, 0, "SCMP_CMP_EQ")]),
    allow("personality").args(&[(0, 0x20000, 0, "SCMP_CMP_EQ")]),
    allow("personality").args(&[(0, 0x20008, 0, "SCMP_CMP_EQ")]),
    allow("personality").args(&[(0, 0xffff_ffff, 0, "SCMP_CMP_EQ")]),
    // Architecture-specific calls.
    allow("sync_file_range2 swapcontext").on(&["ppc64le"]),
    allow("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls")
        .on(&["arm", "arm64"]),
    allow("arch_prctl").on(&["amd64", "x32"]),
    allow("modify_ldt").on(&["amd64", "x32", "x86"]),
    allow("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr").on(S390),
    allow("riscv_flush_icache").on(&["riscv64"]),
    // What each capability adds.
    allow("open_by_handle_at").with(&["CAP_DAC_READ_SEARCH"]),
    allow(
        "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie
         lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount
         open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns
         syslog umount umount2 unshare",
    )
    .with(SYS_ADMIN),
    // Without CAP_SYS_ADMIN, clone(2) without new namespaces (the flags are the second
    // argument on s390).
    allow("clone")
        .args(&[(0, CLONE_NAMESPACES, 0, "SCMP_CMP_MASKED_EQ")])
        .without(SYS_ADMIN)
        .not_on(S390),
    allow("clone")
        .args(&[(1, CLONE_NAMESPACES, 0, "SCMP_CMP_MASKED_EQ")])
        .on(S390)
        .without(SYS_ADMIN),
    // clone3's flags are in memory a filter cannot read: ENOSYS makes libcs fall back
    // to clone(2).
    deny("clone3", libc::ENOSYS).without(SYS_ADMIN),
    allow("reboot").with(&["CAP_SYS_BOOT"]),
    allow("chroot").with(&["CAP_SYS_CHROOT"]),
    allow("delete_module init_module finit_module").with(&["CAP_SYS_MODULE"]),
    allow("acct").with(&["CAP_SYS_PACCT"]),
    allow("kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace")
        .with(&["CAP_SYS_PTRACE"]),
    allow("iopl ioperm").with(&["CAP_SYS_RAWIO"]),
    allow("settimeofday stime clock_settime clock_settime64").with(&["CAP_SYS_TIME"]),
    allow("vhangup").with(&["CAP_SYS_TTY_CONFIG"]),
    allow("get_mempolicy mbind set_mempolicy set_mempolicy_home_node").with(&["CAP_SYS_NICE"]),
    allow("syslog").with(&["CAP_SYSLOG"]),
    allow("bpf").with(&["CAP_BPF"]),
    allow("perf_event_open").with(&["CAP_PERFMON"]),
];

/// A host architecture's filter also covers the ABIs its processes may use.
const ARCH_MAP: &[(&str, &[&str])] = &[
    ("SCMP_ARCH_X86_64", &["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ("SCMP_ARCH_AARCH64", &["SCMP_ARCH_ARM"]),
    (
        "SCMP_ARCH_MIPS64",
        &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
    ),
    (
        "SCMP_ARCH_MIPS64N32",
        &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"],
    ),
    (
        "SCMP_ARCH_MIPSEL64",
        &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
    ),
    (
        "SCMP_ARCH_MIPSEL64N32",
        &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"],
    ),
    ("SCMP_ARCH_S390X", &["SCMP_ARCH_S390"]),
    ("SCMP_ARCH_RISCV64", &[]),
];

/// The host's architecture: libseccomp's short name (what profiles' `arches` hold) and
/// the `SCMP_ARCH_*` one.
fn native_arch() -> (&'static str, &'static str) {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "x86" => ("x86", "SCMP_ARCH_X86"),
        "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        "arm" => ("arm", "SCMP_ARCH_ARM"),
        "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
        "s390x" => ("s390x", "SCMP_ARCH_S390X"),
        "loongarch64" => ("loongarch64", "SCMP_ARCH_LOONGARCH64"),
        "powerpc64" if little => ("ppc64le", "SCMP_ARCH_PPC64LE"),
        "powerpc64" => ("ppc64", "SCMP_ARCH_PPC64"),
        "mips64" if little => ("mipsel64", "SCMP_ARCH_MIPSEL64"),
        "mips64" => ("mips64", "SCMP_ARCH_MIPS64"),
        other => (other, ""),
    }
}

/// The host kernel's version and major revision ("6.1.0-18-amd64" → (6, 1)).
fn host_kernel() -> (u64, u64) {
    let release = crate::host::kernel_version();
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse().unwrap_or(0));
    (nums.next().unwrap_or(0), nums.next().unwrap_or(0))
}

// Docker's profile format: the OCI one plus per-rule conditions and an architecture map.
// Go's decoder takes `null` for any list, so these do too.

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    architectures: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    arch_map: Vec<ArchEntry>,
    #[serde(default, deserialize_with = "nullable")]
    flags: Vec<String>,
    listener_path: Option<String>,
    listener_metadata: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    syscalls: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchEntry {
    architecture: String,
    #[serde(default, deserialize_with = "nullable")]
    sub_architectures: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default, deserialize_with = "nullable")]
    names: Vec<String>,
    /// The older single-name form.
    #[serde(default)]
    name: String,
    #[serde(default)]
    action: String,
    errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    args: Vec<Arg>,
    includes: Option<Filter>,
    excludes: Option<Filter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    value: u64,
    #[serde(default)]
    value_two: u64,
    #[serde(default)]
    op: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default, deserialize_with = "nullable")]
    caps: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    arches: Vec<String>,
    #[serde(default, deserialize_with = "min_kernel")]
    min_kernel: Option<(u64, u64)>,
}

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `"<kernel>.<major>"`, e.g. `"4.8"`; Docker's wording for the errors.
fn min_kernel<'de, D: Deserializer<'de>>(d: D) -> Result<Option<(u64, u64)>, D::Error> {
    let Some(v) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if v.is_empty() {
        return Ok(None);
    }
    let bad = || {
        serde::de::Error::custom(format!(
            "invalid kernel version: \"{v}\", expected \"<kernel>.<major>\""
        ))
    };
    let (k, m) = v.split_once('.').ok_or_else(bad)?;
    let (k, m): (u8, u8) = (k.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if (k, m) == (0, 0) {
        return Err(bad());
    }
    Ok(Some((k.into(), m.into())))
}

impl Group {
    fn rule(&self) -> Rule {
        let filter = |w: &When| {
            (!w.caps.is_empty() || !w.arches.is_empty() || w.min_kernel.is_some()).then(|| Filter {
                caps: w.caps.iter().map(|s| s.to_string()).collect(),
                arches: w.arches.iter().map(|s| s.to_string()).collect(),
                min_kernel: w.min_kernel,
            })
        };
        Rule {
            names: self.names.split_whitespace().map(str::to_string).collect(),
            name: String::new(),
            action: if self.errno.is_some() {
                "SCMP_ACT_ERRNO"
            } else {
                "SCMP_ACT_ALLOW"
            }
            .into(),
            errno_ret: self.errno,
            args: self
                .args
                .iter()
                .map(|&(index, value, value_two, op)| Arg {
                    index,
                    value,
                    value_two,
                    op: op.into(),
                })
                .collect(),
            includes: filter(&self.include),
            excludes: filter(&self.exclude),
        }
    }
}

fn builtin() -> Profile {
    Profile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(libc::EPERM as u32),
        arch_map: ARCH_MAP
            .iter()
            .map(|(arch, subs)| ArchEntry {
                architecture: arch.to_string(),
                sub_architectures: subs.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
        syscalls: DEFAULT_RULES.iter().map(Group::rule).collect(),
        ..Profile::default()
    }
}

/// A Docker-format profile → the OCI `linux.seccomp` for a container with `caps` (its
/// bounding set) on this host; `None` for a profile without default action nor rules,
/// which Docker reads as no filtering.
fn resolve(p: Profile, caps: &[String]) -> Result<Option<Value>, String> {
    if p.default_action.is_empty() && p.syscalls.is_empty() {
        return Ok(None);
    }
    if !p.architectures.is_empty() && !p.arch_map.is_empty() {
        return Err("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'".into());
    }
    let (arch, scmp_arch) = native_arch();
    let mut arches = p.architectures;
    if let Some(e) = p.arch_map.iter().find(|e| e.architecture == scmp_arch) {
        arches.push(e.architecture.clone());
        arches.extend(e.sub_architectures.iter().cloned());
    }
    let kernel = host_kernel();
    let has = |c: &String| caps.contains(c);
    let mut syscalls = Vec::new();
    for r in p.syscalls {
        let names = if r.name.is_empty() {
            r.names
        } else if r.names.is_empty() {
            vec![r.name]
        } else {
            return Err("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'".into());
        };
        if let Some(x) = &r.excludes {
            if x.arches.iter().any(|a| a == arch)
                || x.caps.iter().any(has)
                || x.min_kernel.is_some_and(|k| kernel >= k)
            {
                continue;
            }
        }
        if let Some(i) = &r.includes {
            if (!i.arches.is_empty() && !i.arches.iter().any(|a| a == arch))
                || !i.caps.iter().all(has)
                || i.min_kernel.is_some_and(|k| kernel < k)
            {
                continue;
            }
        }
        let mut s = json!({"names": names, "action": r.action});
        if let Some(e) = r.errno_ret {
            s["errnoRet"] = json!(e);
        }
        if !r.args.is_empty() {
            s["args"] = r
                .args
                .iter()
                .map(|a| json!({"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}))
                .collect();
        }
        syscalls.push(s);
    }
    let mut out = json!({"defaultAction": p.default_action});
    if let Some(e) = p.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    if !arches.is_empty() {
        out["architectures"] = json!(arches);
    }
    if !p.flags.is_empty() {
        out["flags"] = json!(p.flags);
    }
    if let Some(l) = p.listener_path {
        out["listenerPath"] = json!(l);
    }
    if let Some(l) = p.listener_metadata {
        out["listenerMetadata"] = json!(l);
    }
    out["syscalls"] = Value::Array(syscalls);
    Ok(Some(out))
}

/// Docker's default profile for a container whose bounding set is `caps`.
pub fn default_profile(caps: &[String]) -> Value {
    // The built-in profile has neither of the conflicts `resolve` rejects.
    resolve(builtin(), caps).ok().flatten().unwrap_or_default()
}

/// The `linux.seccomp` for a container: `seccomp=unconfined` → none; `seccomp=<json>` →
/// that profile (even for privileged containers, as in Docker); otherwise Docker's
/// default, except for privileged containers, which Docker leaves unfiltered.
pub fn from_security_opts(
    security_opt: &[String],
    privileged: bool,
    caps: &[String],
) -> Result<Option<Value>, String> {
    let mut profile = "";
    for opt in security_opt {
        // `seccomp:<value>` is the deprecated spelling Docker still takes.
        let kv = if opt.contains('=') {
            opt.split_once('=')
        } else {
            opt.split_once(':')
        };
        if let Some(("seccomp", v)) = kv {
            profile = v;
        }
    }
    match profile {
        "unconfined" => Ok(None),
        "" | "builtin" if privileged => Ok(None),
        "" | "builtin" => Ok(Some(default_profile(caps))),
        text => {
            let p: Profile = serde_json::from_str(text)
                .map_err(|e| format!("Decoding seccomp profile failed: {e}"))?;
            let out = resolve(p, caps)?;
            if let Some(v) = &out {
                berth_runtime::check_seccomp(v).map_err(|e| e.to_string())?;
            }
            Ok(out)
        }
    }
}

/// Checks a create request's seccomp option, so that a bad profile fails the create
/// (Docker finds out only at start, leaving a container that cannot start).
pub fn check_host_config(host_config: &Value) -> Result<(), String> {
    let opts: Vec<String> = host_config
        .get("SecurityOpt")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let privileged = host_config
        .get("Privileged")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    from_security_opts(&opts, privileged, &[]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_runtime::defaults::DEFAULT_CAPS;

    fn caps(extra: &[&str]) -> Vec<String> {
        DEFAULT_CAPS
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    }

    /// The rules naming `name`: (action, errnoRet, args).
    fn rules_for(p: &Value, name: &str) -> Vec<(String, Option<u64>, Value)> {
        p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["names"].as_array().unwrap().iter().any(|n| n == name))
            .map(|s| {
                (
                    s["action"].as_str().unwrap().to_string(),
                    s["errnoRet"].as_u64(),
                    s["args"].clone(),
                )
            })
            .collect()
    }

    fn allowed_plainly(p: &Value, name: &str) -> bool {
        rules_for(p, name)
            .iter()
            .any(|(a, _, args)| a == "SCMP_ACT_ALLOW" && args.is_null())
    }

    #[test]
    fn default_profile_without_extra_caps() {
        let p = default_profile(&caps(&[]));
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], 1);
        for name in [
            "read",
            "execve",
            "mkdir",
            "capset",
            "setresuid",
            "fchmodat2",
            "chroot",
        ] {
            assert!(allowed_plainly(&p, name), "{name} allowed");
        }
        for name in [
            "mount", "umount2", "unshare", "setns", "reboot", "bpf", "kcmp", "acct",
        ] {
            assert!(rules_for(&p, name).is_empty(), "{name} not in the profile");
        }
        // clone only without namespace flags; clone3 fails with ENOSYS.
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1, "{clone:?}");
        if std::env::consts::ARCH != "s390x" {
            assert_eq!(
                clone[0].2,
                json!([{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}])
            );
        }
        assert_eq!(
            rules_for(&p, "clone3"),
            vec![("SCMP_ACT_ERRNO".to_string(), Some(38), Value::Null)]
        );
        let socket = rules_for(&p, "socket");
        assert_eq!(socket[0].2[0]["op"], "SCMP_CMP_NE");
        assert_eq!(socket[0].2[0]["value"], 40);
        assert_eq!(rules_for(&p, "personality").len(), 5);
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(
                p["architectures"],
                json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
            );
            assert!(allowed_plainly(&p, "arch_prctl"));
            assert!(rules_for(&p, "riscv_flush_icache").is_empty());
        }
        // The host kernel is newer than 4.8.
        assert!(allowed_plainly(&p, "ptrace"));
    }

    #[test]
    fn capabilities_widen_the_default_profile() {
        let p = default_profile(&caps(&["CAP_SYS_ADMIN"]));
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "clone",
            "clone3",
            "sethostname",
        ] {
            assert!(
                allowed_plainly(&p, name),
                "{name} allowed with CAP_SYS_ADMIN"
            );
        }
        assert_eq!(rules_for(&p, "clone").len(), 1, "no masked clone rule");
        assert_eq!(rules_for(&p, "clone3").len(), 1, "no ENOSYS for clone3");
        let p = default_profile(&caps(&["CAP_SYS_PTRACE", "CAP_SYS_TIME", "CAP_SYS_BOOT"]));
        for name in [
            "kcmp",
            "pidfd_getfd",
            "settimeofday",
            "clock_settime",
            "reboot",
        ] {
            assert!(allowed_plainly(&p, name), "{name}");
        }
        assert!(rules_for(&p, "mount").is_empty());
        // Dropping CAP_SYS_CHROOT takes chroot away.
        let without: Vec<String> = caps(&[])
            .into_iter()
            .filter(|c| c != "CAP_SYS_CHROOT")
            .collect();
        assert!(rules_for(&default_profile(&without), "chroot").is_empty());
    }

    #[test]
    fn the_default_profile_compiles_for_any_caps() {
        berth_runtime::check_seccomp(&default_profile(&caps(&[]))).unwrap();
        berth_runtime::check_seccomp(&default_profile(&caps(&["CAP_SYS_ADMIN", "CAP_BPF"])))
            .unwrap();
        berth_runtime::check_seccomp(&default_profile(&[])).unwrap();
    }

    #[test]
    fn security_opts_pick_the_profile() {
        let c = caps(&[]);
        let opts = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let default = from_security_opts(&[], false, &c).unwrap().unwrap();
        assert_eq!(default, default_profile(&c));
        assert_eq!(
            from_security_opts(&opts(&["seccomp=builtin"]), false, &c).unwrap(),
            Some(default)
        );
        assert_eq!(
            from_security_opts(&opts(&["seccomp=unconfined"]), false, &c),
            Ok(None)
        );
        assert_eq!(
            from_security_opts(&opts(&["seccomp:unconfined"]), false, &c),
            Ok(None)
        );
        assert_eq!(from_security_opts(&[], true, &c), Ok(None));
        assert_eq!(
            from_security_opts(&opts(&["no-new-privileges"]), true, &c),
            Ok(None)
        );
        let custom = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let o = opts(&[&format!("seccomp={custom}"), "no-new-privileges"]);
        let p = from_security_opts(&o, false, &c).unwrap().unwrap();
        assert_eq!(
            p,
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]})
        );
        // A profile given explicitly applies to privileged containers too.
        assert_eq!(from_security_opts(&o, true, &c).unwrap(), Some(p));
        // A profile with neither default action nor rules means no filtering.
        assert_eq!(
            from_security_opts(&opts(&["seccomp={}"]), false, &c),
            Ok(None)
        );
    }

    #[test]
    fn dockers_format_resolves_by_caps_arch_and_kernel() {
        let (arch, scmp_arch) = native_arch();
        let profile = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [{"architecture": scmp_arch, "subArchitectures": null},
                        {"architecture": "SCMP_ARCH_PPC64", "subArchitectures": ["SCMP_ARCH_PPC"]}],
            "syscalls": [
                {"name": "getpid", "action": "SCMP_ACT_ALLOW", "args": null},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["uname"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": [arch]}},
                {"names": ["gettid"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": [arch]}},
                {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "3.10"}},
                {"names": ["tkill"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "255.0"}},
                {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
                 "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_GT"}]},
            ]
        });
        let opt = vec![format!("seccomp={profile}")];
        let names = |p: &Value| -> Vec<String> {
            p["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["names"][0].as_str().unwrap().to_string())
                .collect()
        };
        let p = from_security_opts(&opt, false, &caps(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(names(&p), ["getpid", "uname", "getppid", "kill", "write"]);
        assert_eq!(p["architectures"], json!([scmp_arch]));
        assert_eq!(
            p["syscalls"][4],
            json!({"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
                "args": [{"index": 0, "value": 2, "valueTwo": 0, "op": "SCMP_CMP_GT"}]})
        );
        let p = from_security_opts(&opt, false, &caps(&["CAP_SYS_ADMIN"]))
            .unwrap()
            .unwrap();
        assert_eq!(names(&p), ["getpid", "mount", "getppid", "kill", "write"]);
    }

    #[test]
    fn bad_profiles_are_errors() {
        let c = caps(&[]);
        let err = |profile: &str| {
            from_security_opts(&[format!("seccomp={profile}")], false, &c).unwrap_err()
        };
        let e = err("{not json");
        assert!(e.starts_with("Decoding seccomp profile failed: "), "{e}");
        let e = err(r#"{"defaultAction": 5}"#);
        assert!(e.starts_with("Decoding seccomp profile failed: "), "{e}");
        let e = err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"4"}}]}"#,
        );
        assert!(e.contains("invalid kernel version: \"4\""), "{e}");
        let e = err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        assert!(e.contains("both 'name' and 'names'"), "{e}");
        let e = err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86"}]}"#,
        );
        assert!(e.contains("both 'architectures' and 'archMap'"), "{e}");
        // What the runtime would refuse is refused here, before any container exists.
        let e = err(r#"{"defaultAction":"SCMP_ACT_DANCE"}"#);
        assert!(e.contains("SCMP_ACT_DANCE"), "{e}");
        let e = err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}"#,
        );
        assert!(e.contains("SCMP_CMP_ABOUT"), "{e}");
        assert!(check_host_config(&json!({"SecurityOpt": ["seccomp={oops"]})).is_err());
        assert!(check_host_config(&json!({"SecurityOpt": ["seccomp=unconfined"]})).is_ok());
        assert!(check_host_config(&json!({})).is_ok());
    }
}
