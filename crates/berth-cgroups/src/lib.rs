//! Control groups for containers, on cgroup v1 (including the hybrid layout where a
//! cgroup2 tree is mounted beside the v1 controllers) and on the unified v2 hierarchy.
//!
//! One [`Hierarchy`] describes where the controllers are mounted; a [`Cgroup`] is one
//! container's group in it (a directory per v1 hierarchy, or one v2 directory). The same
//! [`Resources`] apply to both layouts; the v1/v2 differences (file names, units) stay in
//! this crate. Only the cgroup filesystem is touched: no systemd, no D-Bus. The one
//! exception is device access on v2, which has no `devices` controller: the rules become
//! an eBPF program (built by a small assembler here, loaded through `berth-sys`)
//! attached to the group's directory.

mod devices;
mod ebpf;
mod stats;

use std::io::ErrorKind as IoKind;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

pub use stats::{BlkioEntry, Stats};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, CgroupError>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One mounted v1 hierarchy: its controllers (`memory`, or `cpu,cpuacct`, or a named
/// one such as `name=systemd`) and its mount point.
#[derive(Debug, Clone)]
pub struct V1Mount {
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
}

#[derive(Debug, Clone)]
enum Layout {
    V1(Vec<V1Mount>),
    V2(PathBuf),
}

/// Makes the next process migrations between groups cheap, by starting the slow part of
/// one early.
///
/// Every write to a `cgroup.procs` file takes the kernel's global threadgroup lock for
/// writing. Taking it when nobody has for a while first waits a full RCU grace period
/// (10–25 ms on small VMs), and that wait sat on the critical path of every container
/// start and exec. Once one writer has waited, writers for about another grace period
/// after it pass at once. [`prime`](MigrationPrimer::prime) is such a writer: it moves
/// the calling process into the group it is already in, which changes nothing but pays
/// the wait. The daemon calls it off its request path when a start or exec is coming,
/// so the runtime's own join finds the lock warm.
#[derive(Debug)]
pub struct MigrationPrimer {
    procs: PathBuf,
    busy: std::sync::atomic::AtomicBool,
}

impl MigrationPrimer {
    /// Blocks for up to one grace period. Returns at once when another call is already
    /// waiting: that one warms the lock for both.
    pub fn prime(&self) {
        use std::sync::atomic::Ordering;
        if self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        // "0" names the writing process; the group is the one it is in, so nothing moves.
        // A failure only means the next migration pays the wait itself.
        let _ = std::fs::write(&self.procs, "0");
        self.busy.store(false, Ordering::Release);
    }
}

/// Where the host's controllers live.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    layout: Layout,
}

impl Hierarchy {
    /// Reads the mount table: `/sys/fs/cgroup` itself being cgroup2 means unified v2;
    /// otherwise every mounted v1 hierarchy is used (a hybrid host's cgroup2 mount, which
    /// carries no resource controllers, is ignored as runc does with cgroupfs).
    pub fn detect() -> Result<Hierarchy> {
        let p = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(p).map_err(io_err(p))?;
        let mut v1 = Vec::new();
        for line in text.lines() {
            // id parent major:minor root mount-point options [optional...] - fstype source super-options
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = left.split(' ').collect();
            let rfields: Vec<&str> = right.split(' ').collect();
            if fields.len() < 5 || rfields.len() < 3 {
                continue;
            }
            let mount_point = PathBuf::from(unescape(fields[4]));
            match rfields[0] {
                "cgroup2" if mount_point == Path::new("/sys/fs/cgroup") => {
                    return Ok(Hierarchy::v2(mount_point));
                }
                "cgroup" => {
                    let controllers: Vec<String> = rfields[2]
                        .split(',')
                        .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"))
                        .filter(|o| {
                            !matches!(
                                *o,
                                "relatime" | "noatime" | "nosuid" | "nodev" | "noexec" | "xattr"
                            )
                        })
                        .map(str::to_string)
                        .collect();
                    if !controllers.is_empty() {
                        v1.push(V1Mount {
                            controllers,
                            mount_point,
                        });
                    }
                }
                _ => {}
            }
        }
        if v1.is_empty() {
            return Err(CgroupError::Unsupported(
                "no cgroup hierarchy is mounted under /sys/fs/cgroup".into(),
            ));
        }
        Ok(Hierarchy {
            layout: Layout::V1(v1),
        })
    }

    /// A [`MigrationPrimer`] for the calling process's own group in this hierarchy, or
    /// `None` when that group cannot be found (no `/proc/self/cgroup` entry for it).
    pub fn migration_primer(&self) -> Option<MigrationPrimer> {
        let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let procs = text.lines().find_map(|line| {
            // hierarchy-id:controllers:path
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let rel = path.trim_start_matches('/');
            match &self.layout {
                Layout::V2(root) if controllers.is_empty() => {
                    Some(root.join(rel).join("cgroup.procs"))
                }
                Layout::V1(mounts) => mounts
                    .iter()
                    .find(|m| m.controllers.join(",") == controllers)
                    .map(|m| m.mount_point.join(rel).join("cgroup.procs")),
                _ => None,
            }
        })?;
        Some(MigrationPrimer {
            procs,
            busy: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A unified hierarchy mounted at `root` (tests mount their own cgroup2 there).
    pub fn v2(root: PathBuf) -> Hierarchy {
        Hierarchy {
            layout: Layout::V2(root),
        }
    }

    pub fn is_v2(&self) -> bool {
        matches!(self.layout, Layout::V2(_))
    }

    /// The v1 hierarchies (empty on v2).
    pub fn v1_mounts(&self) -> &[V1Mount] {
        match &self.layout {
            Layout::V1(m) => m,
            Layout::V2(_) => &[],
        }
    }

    /// The group at `path` (absolute within the hierarchy, like `/berth/<id>`). The path
    /// may come from a user (`--cgroup-parent`): `..` and empty names are refused so it
    /// cannot leave the hierarchy.
    pub fn cgroup(&self, path: &str) -> Result<Cgroup> {
        let rel = clean_path(path)?;
        let dirs = match &self.layout {
            Layout::V1(mounts) => mounts
                .iter()
                .map(|m| Dir {
                    controllers: m.controllers.clone(),
                    mount: m.mount_point.clone(),
                    path: m.mount_point.join(&rel),
                })
                .collect(),
            Layout::V2(root) => vec![Dir {
                controllers: Vec::new(),
                mount: root.clone(),
                path: root.join(&rel),
            }],
        };
        Ok(Cgroup {
            v2: self.is_v2(),
            rel,
            dirs,
        })
    }
}

/// Mount points in mountinfo escape spaces and a few other bytes as `\040`-style octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let n = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(n);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn clean_path(path: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(CgroupError::Invalid(format!(
                    "invalid cgroup path {path:?}: \"..\" is not allowed"
                )))
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(CgroupError::Invalid(format!(
            "invalid cgroup path {path:?}: a container cannot use the root cgroup"
        )));
    }
    Ok(out)
}

#[derive(Debug, Clone)]
struct Dir {
    controllers: Vec<String>,
    mount: PathBuf,
    path: PathBuf,
}

/// A device-cgroup rule, as in the OCI spec: `kind` is `a`, `b` or `c`; `None` numbers
/// mean any (`*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

impl DeviceRule {
    fn v1_line(&self) -> String {
        let n = |x: Option<i64>| x.map(|v| v.to_string()).unwrap_or_else(|| "*".into());
        if self.kind == 'a' {
            return "a".into();
        }
        format!(
            "{} {}:{} {}",
            self.kind,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

/// Limits for a group. `None` leaves a setting as it is (so `update` can change one).
/// Memory values are bytes; `memory_swap` is memory plus swap, as Docker counts it;
/// `-1` means unlimited where Docker allows it.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swappiness: Option<u64>,
    pub oom_kill_disable: Option<bool>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    /// Device rules in order (berthd's lists start with an `a` rule denying or allowing
    /// every device); for each access (read, write, mknod) the last rule naming the
    /// device decides. Written to v1's `devices.deny`/`devices.allow`; on v2 they replace
    /// the group's device program, which denies what no rule allows. Empty leaves the
    /// group's device access as it is.
    pub devices: Vec<DeviceRule>,
}

/// One container's group.
#[derive(Debug, Clone)]
pub struct Cgroup {
    v2: bool,
    rel: PathBuf,
    dirs: Vec<Dir>,
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(io_err(path))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

fn limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

impl Cgroup {
    pub fn is_v2(&self) -> bool {
        self.v2
    }

    /// The group's path relative to each hierarchy's root.
    pub fn relative_path(&self) -> &Path {
        &self.rel
    }

    /// The group's directory in the hierarchy holding `controller` (v2: the only one).
    pub fn dir_of(&self, controller: &str) -> Option<&Path> {
        if self.v2 {
            return self.dirs.first().map(|d| d.path.as_path());
        }
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.path.as_path())
    }

    /// Every directory of the group with its hierarchy's mount point (v1: one per
    /// hierarchy), for mounting the container's view of its own cgroups.
    pub fn dirs(&self) -> impl Iterator<Item = (&Path, &Path)> {
        self.dirs
            .iter()
            .map(|d| (d.mount.as_path(), d.path.as_path()))
    }

    pub fn exists(&self) -> bool {
        self.dirs.first().is_some_and(|d| d.path.is_dir())
    }

    /// Creates the directories. v1 `cpuset` groups start with empty cpu and memory-node
    /// lists (a process cannot join such a group), so they are copied down from the
    /// parent; on v2 the parents delegate every controller they have to their children.
    pub fn create(&self) -> Result<()> {
        for d in &self.dirs {
            if self.v2 {
                self.enable_v2_controllers(d)?;
            }
            std::fs::create_dir_all(&d.path).map_err(io_err(&d.path))?;
            if !self.v2 && d.controllers.iter().any(|c| c == "cpuset") {
                let mut cur = d.mount.clone();
                for c in self.rel.components() {
                    let parent = cur.clone();
                    cur.push(c);
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        let mine = cur.join(f);
                        if read(&mine)?.trim().is_empty() {
                            write(&mine, read(&parent.join(f))?.trim())?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn enable_v2_controllers(&self, d: &Dir) -> Result<()> {
        let mut cur = d.mount.clone();
        let comps: Vec<_> = self.rel.components().collect();
        // Every ancestor of the leaf delegates; the leaf itself holds processes, which
        // v2 forbids for a group that delegates ("no internal processes").
        for c in &comps[..comps.len() - 1] {
            self.delegate(&cur)?;
            cur.push(c);
            if !cur.is_dir() {
                std::fs::create_dir(&cur)
                    .or_else(|e| {
                        if e.kind() == IoKind::AlreadyExists {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(io_err(&cur))?;
            }
        }
        self.delegate(&cur)
    }

    fn delegate(&self, dir: &Path) -> Result<()> {
        let available = read(&dir.join("cgroup.controllers"))?;
        let enabled = read(&dir.join("cgroup.subtree_control")).unwrap_or_default();
        let wanted: Vec<String> = available
            .split_whitespace()
            .filter(|c| {
                matches!(*c, "cpu" | "cpuset" | "memory" | "pids" | "io" | "hugetlb")
                    && !enabled.split_whitespace().any(|e| e == *c)
            })
            .map(|c| format!("+{c}"))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        write(&dir.join("cgroup.subtree_control"), &wanted.join(" "))
    }

    /// Whether the v2 group (or v1 hierarchy) has `controller`.
    pub fn has_controller(&self, controller: &str) -> bool {
        if self.v2 {
            return self.dirs.first().is_some_and(|d| {
                std::fs::read_to_string(d.path.join("cgroup.controllers"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .any(|c| c == controller)
            });
        }
        self.dir_of(controller).is_some()
    }

    fn require(&self, controller: &str, what: &str) -> Result<&Path> {
        if !self.has_controller(controller) {
            return Err(CgroupError::Unsupported(format!(
                "{what}: the {controller} cgroup controller is not available"
            )));
        }
        self.dir_of(controller)
            .ok_or_else(|| CgroupError::Unsupported(format!("{what}: no {controller} cgroup")))
    }

    /// Writes the limits that are set in `r`.
    pub fn apply(&self, r: &Resources) -> Result<()> {
        if self.v2 {
            self.apply_v2(r)
        } else {
            self.apply_v1(r)
        }
    }

    fn apply_v1(&self, r: &Resources) -> Result<()> {
        if r.memory.is_some()
            || r.memory_swap.is_some()
            || r.memory_reservation.is_some()
            || r.memory_swappiness.is_some()
            || r.oom_kill_disable.is_some()
        {
            let d = self.require("memory", "memory limit")?;
            let mem = d.join("memory.limit_in_bytes");
            let memsw = d.join("memory.memsw.limit_in_bytes");
            // memory.limit <= memsw.limit must hold after every single write; which of the
            // two goes first depends on whether the limits grow or shrink.
            let set_mem = |v: i64| write(&mem, &v.max(-1).to_string());
            let set_sw = |v: i64| -> Result<()> {
                if !memsw.exists() {
                    return Ok(()); // no swap accounting on this kernel: Docker warns and ignores
                }
                write(&memsw, &v.max(-1).to_string())
            };
            match (r.memory, r.memory_swap) {
                (Some(m), Some(s)) => {
                    if set_sw(s).is_err() {
                        set_mem(m)?;
                        set_sw(s)?;
                    } else {
                        set_mem(m)?;
                    }
                }
                (Some(m), None) => set_mem(m)?,
                (None, Some(s)) => set_sw(s)?,
                (None, None) => {}
            }
            if let Some(v) = r.memory_reservation {
                write(
                    &d.join("memory.soft_limit_in_bytes"),
                    &v.max(-1).to_string(),
                )?;
            }
            if let Some(v) = r.memory_swappiness {
                write(&d.join("memory.swappiness"), &v.to_string())?;
            }
            if let Some(v) = r.oom_kill_disable {
                write(&d.join("memory.oom_control"), if v { "1" } else { "0" })?;
            }
        }
        if r.cpu_shares.is_some() || r.cpu_quota.is_some() || r.cpu_period.is_some() {
            let d = self.require("cpu", "cpu limit")?;
            if let Some(v) = r.cpu_shares.filter(|v| *v > 0) {
                write(&d.join("cpu.shares"), &v.to_string())?;
            }
            if let Some(v) = r.cpu_period.filter(|v| *v > 0) {
                let p = d.join("cpu.cfs_period_us");
                // The kernel refuses a period shorter than the current quota's share; set
                // the quota to unlimited first, then period, then quota.
                if write(&p, &v.to_string()).is_err() {
                    write(&d.join("cpu.cfs_quota_us"), "-1")?;
                    write(&p, &v.to_string())?;
                }
            }
            if let Some(v) = r.cpu_quota {
                let q = if v <= 0 { -1 } else { v };
                write(&d.join("cpu.cfs_quota_us"), &q.to_string())?;
            }
        }
        if r.cpuset_cpus.is_some() || r.cpuset_mems.is_some() {
            let d = self.require("cpuset", "cpuset")?;
            if let Some(v) = r.cpuset_cpus.as_deref().filter(|v| !v.is_empty()) {
                write(&d.join("cpuset.cpus"), v)?;
            }
            if let Some(v) = r.cpuset_mems.as_deref().filter(|v| !v.is_empty()) {
                write(&d.join("cpuset.mems"), v)?;
            }
        }
        if let Some(v) = r.pids_limit {
            let d = self.require("pids", "pids limit")?;
            write(&d.join("pids.max"), &limit(if v <= 0 { -1 } else { v }))?;
        }
        if let Some(v) = r.blkio_weight.filter(|v| *v > 0) {
            let d = self.require("blkio", "blkio weight")?;
            let f = ["blkio.weight", "blkio.bfq.weight"]
                .iter()
                .map(|f| d.join(f))
                .find(|p| p.exists())
                .ok_or_else(|| {
                    CgroupError::Unsupported(
                        "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
                            .into(),
                    )
                })?;
            write(&f, &v.to_string())?;
        }
        if !r.devices.is_empty() {
            if let Some(d) = self.dir_of("devices") {
                for rule in &r.devices {
                    let f = if rule.allow {
                        "devices.allow"
                    } else {
                        "devices.deny"
                    };
                    write(&d.join(f), &rule.v1_line())?;
                }
            }
        }
        Ok(())
    }

    fn apply_v2(&self, r: &Resources) -> Result<()> {
        let d = &self.dirs[0].path;
        if r.memory.is_some() || r.memory_swap.is_some() || r.memory_reservation.is_some() {
            self.require("memory", "memory limit")?;
            if let Some(m) = r.memory {
                // Lower the limit before swap may shrink, as on v1; the two are separate
                // files on v2 so no ordering constraint between them remains.
                write(&d.join("memory.max"), &limit(if m == 0 { -1 } else { m }))?;
            }
            if let Some(s) = r.memory_swap {
                // v2 limits swap alone; Docker's value is memory plus swap.
                let swap = match (s, r.memory) {
                    (s, _) if s < 0 => -1,
                    (s, Some(m)) if m > 0 => (s - m).max(0),
                    (s, _) => s,
                };
                let f = d.join("memory.swap.max");
                if f.exists() {
                    write(&f, &limit(swap))?;
                }
            }
            if let Some(v) = r.memory_reservation {
                write(&d.join("memory.low"), &v.max(0).to_string())?;
            }
        }
        if r.oom_kill_disable == Some(true) {
            return Err(CgroupError::Unsupported(
                "disabling the OOM killer is not supported on cgroup v2".into(),
            ));
        }
        if r.cpu_shares.is_some() || r.cpu_quota.is_some() || r.cpu_period.is_some() {
            self.require("cpu", "cpu limit")?;
            if let Some(s) = r.cpu_shares.filter(|v| *v > 0) {
                write(&d.join("cpu.weight"), &shares_to_weight(s).to_string())?;
            }
            if r.cpu_quota.is_some() || r.cpu_period.is_some() {
                let cur = read(&d.join("cpu.max")).unwrap_or_default();
                let mut it = cur.split_whitespace();
                let cur_quota = it.next().unwrap_or("max").to_string();
                let cur_period = it.next().unwrap_or("100000").to_string();
                let quota = match r.cpu_quota {
                    Some(q) if q > 0 => q.to_string(),
                    Some(_) => "max".into(),
                    None => cur_quota,
                };
                let period = r
                    .cpu_period
                    .filter(|p| *p > 0)
                    .map(|p| p.to_string())
                    .unwrap_or(cur_period);
                write(&d.join("cpu.max"), &format!("{quota} {period}"))?;
            }
        }
        if r.cpuset_cpus.is_some() || r.cpuset_mems.is_some() {
            self.require("cpuset", "cpuset")?;
            if let Some(v) = r.cpuset_cpus.as_deref().filter(|v| !v.is_empty()) {
                write(&d.join("cpuset.cpus"), v)?;
            }
            if let Some(v) = r.cpuset_mems.as_deref().filter(|v| !v.is_empty()) {
                write(&d.join("cpuset.mems"), v)?;
            }
        }
        if let Some(v) = r.pids_limit {
            self.require("pids", "pids limit")?;
            write(&d.join("pids.max"), &limit(if v <= 0 { -1 } else { v }))?;
        }
        if let Some(v) = r.blkio_weight.filter(|v| *v > 0) {
            self.require("io", "blkio weight")?;
            let bfq = d.join("io.bfq.weight");
            if bfq.exists() {
                write(&bfq, &v.to_string())?;
            } else {
                // io.weight spans 1..10000 where blkio weights span 10..1000.
                let w = 1 + (u64::from(v).saturating_sub(10)) * 9999 / 990;
                write(&d.join("io.weight"), &format!("default {w}"))?;
            }
        }
        // v2 has no devices controller: the rules become an eBPF program attached to the
        // group, replacing the one an earlier apply attached (see `devices`).
        if !r.devices.is_empty() {
            devices::install(d, &r.devices)?;
        }
        Ok(())
    }

    /// Moves `pid` (0: the calling process) into the group, in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        for d in &self.dirs {
            write(&d.path.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// The processes in the group.
    pub fn procs(&self) -> Result<Vec<i32>> {
        let d = self
            .dir_of("pids")
            .or_else(|| self.dir_of("memory"))
            .or_else(|| self.dirs.first().map(|d| d.path.as_path()))
            .ok_or_else(|| CgroupError::Unsupported("no cgroup hierarchy".into()))?;
        let p = d.join("cgroup.procs");
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&p)(e)),
        };
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    fn freezer(&self) -> Result<(PathBuf, &'static str, &'static str)> {
        if self.v2 {
            Ok((self.dirs[0].path.join("cgroup.freeze"), "1", "0"))
        } else {
            let d = self.require("freezer", "pause")?;
            Ok((d.join("freezer.state"), "FROZEN", "THAWED"))
        }
    }

    /// Freezes every process of the group and waits until the kernel reports it frozen.
    pub fn freeze(&self) -> Result<()> {
        let (f, frozen, _) = self.freezer()?;
        write(&f, frozen)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut delay = Duration::from_micros(100);
        loop {
            if self.frozen()? {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.thaw();
                return Err(CgroupError::Unsupported(
                    "the container did not freeze within 10 seconds".into(),
                ));
            }
            // A v1 group can stick in FREEZING while a task sleeps uninterruptibly;
            // writing FROZEN again retries it.
            if !self.v2 {
                let _ = write(&f, frozen);
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(10));
        }
    }

    pub fn thaw(&self) -> Result<()> {
        let (f, _, thawed) = self.freezer()?;
        write(&f, thawed)
    }

    pub fn frozen(&self) -> Result<bool> {
        if self.v2 {
            let ev = read(&self.dirs[0].path.join("cgroup.events"))?;
            Ok(ev.lines().any(|l| l.trim() == "frozen 1"))
        } else {
            let d = self.require("freezer", "pause")?;
            Ok(read(&d.join("freezer.state"))?.trim() == "FROZEN")
        }
    }

    /// OOM kills in the group so far (0 when the memory controller is absent).
    pub fn oom_kills(&self) -> u64 {
        let file = if self.v2 {
            self.dirs.first().map(|d| d.path.join("memory.events"))
        } else {
            self.dir_of("memory").map(|d| d.join("memory.oom_control"))
        };
        let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) else {
            return 0;
        };
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// SIGKILLs every process of the group: `cgroup.kill` where the kernel has it,
    /// otherwise freeze, kill each, thaw (so none can fork in between).
    pub fn kill_all(&self) -> Result<()> {
        // The usual case at a container's exit: nothing left, no freezing needed.
        if self.procs()?.is_empty() {
            return Ok(());
        }
        if self.v2 {
            let k = self.dirs[0].path.join("cgroup.kill");
            if k.exists() {
                return write(&k, "1");
            }
        }
        let frozen = self.freeze().is_ok();
        for pid in self.procs()? {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if frozen {
            self.thaw()?;
        }
        Ok(())
    }

    /// Removes the group's directories (each must be empty of processes). Missing ones
    /// are fine: removal is repeated after crashes.
    pub fn remove(&self) -> Result<()> {
        for d in &self.dirs {
            let mut tries = 0;
            loop {
                match std::fs::remove_dir(&d.path) {
                    Ok(()) => break,
                    Err(e) if e.kind() == IoKind::NotFound => break,
                    // Exited processes leave the group a moment after they are reaped.
                    Err(e) if e.raw_os_error() == Some(libc_ebusy()) && tries < 50 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => return Err(io_err(&d.path)(e)),
                }
            }
        }
        Ok(())
    }

    /// Reads the group's usage counters.
    pub fn stats(&self) -> Result<Stats> {
        if self.v2 {
            stats::read_v2(&self.dirs[0].path)
        } else {
            stats::read_v1(|c| self.dir_of(c))
        }
    }
}

fn libc_ebusy() -> i32 {
    nix::errno::Errno::EBUSY as i32
}

/// Docker's `--cpu-shares` (2..262144, default 1024) on v2's `cpu.weight` (1..10000),
/// the conversion runc and crun use.
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262144);
    1 + ((s - 2) * 9999) / 262142
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_leave_the_hierarchy() {
        let h = Hierarchy::v2(PathBuf::from("/sys/fs/cgroup"));
        assert!(h.cgroup("/berth/../../etc").is_err());
        assert!(h.cgroup("/").is_err());
        assert!(h.cgroup("").is_err());
        let c = h.cgroup("/berth/abc").unwrap();
        assert_eq!(c.relative_path(), Path::new("berth/abc"));
        assert_eq!(
            c.dir_of("memory").unwrap(),
            Path::new("/sys/fs/cgroup/berth/abc")
        );
    }

    #[test]
    fn weights_follow_the_runc_conversion() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn device_rules_in_v1_syntax() {
        let r = DeviceRule {
            allow: true,
            kind: 'c',
            major: Some(1),
            minor: None,
            access: "rwm".into(),
        };
        assert_eq!(r.v1_line(), "c 1:* rwm");
    }
}
