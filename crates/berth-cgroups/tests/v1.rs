//! The v1 code path against the host's own hierarchies (`Hierarchy::detect`): a group
//! under a test-only parent in every mounted hierarchy, real processes moved in, limits
//! written in the order the kernel accepts, freeze/thaw, statistics, kill and removal.
//! Needs root and a v1 (or hybrid) host; skipped with a printed reason otherwise.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use berth_cgroups::{Hierarchy, Resources};

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// State and utime + stime (clock ticks) of `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> (char, u64) {
    let text = read(Path::new(&format!("/proc/{pid}/stat")));
    let rest = &text[text.rfind(')').expect("comm in /proc/PID/stat") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let state = f[0].chars().next().expect("state");
    (
        state,
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap(),
    )
}

fn wait_exit(c: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = c.try_wait().expect("wait child") {
            return st;
        }
        assert!(Instant::now() < deadline, "{what} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Processes killed and the test's directories removed from every hierarchy on drop.
struct Fixture {
    /// `<mount>/<parent>/ctr` and `<mount>/<parent>` of every hierarchy.
    dirs: Vec<PathBuf>,
    children: Vec<Child>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in &self.dirs {
            let _ = std::fs::write(d.join("freezer.state"), "THAWED");
        }
        for d in &self.dirs {
            for _ in 0..100 {
                match std::fs::remove_dir(d) {
                    Err(e) if e.raw_os_error() == Some(16) => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    _ => break,
                }
            }
        }
    }
}

#[test]
fn v1_group_lifecycle_on_the_host_hierarchies() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: creating cgroups and moving processes needs root");
        return;
    }
    let h = Hierarchy::detect().expect("detect the host's cgroups");
    if h.is_v2() {
        eprintln!("skipped: the host is unified cgroup v2 (covered by tests/v2.rs)");
        return;
    }
    let mounts = h.v1_mounts();
    let has = |c: &str| mounts.iter().any(|m| m.controllers.iter().any(|x| x == c));
    for c in ["memory", "cpu", "cpuacct", "cpuset", "pids", "freezer"] {
        assert!(has(c), "no v1 {c} hierarchy detected: {mounts:?}");
    }
    assert!(
        mounts
            .iter()
            .all(|m| m.mount_point.is_dir() && m.mount_point.join("cgroup.procs").is_file()),
        "{mounts:?}"
    );
    let parent = unique("berth-it-v1");
    let mut fx = Fixture {
        dirs: Vec::new(),
        children: Vec::new(),
    };
    for m in mounts {
        fx.dirs.push(m.mount_point.join(&parent).join("ctr"));
    }
    for m in mounts {
        fx.dirs.push(m.mount_point.join(&parent));
    }
    let cg = h.cgroup(&format!("/{parent}/ctr")).unwrap();
    assert!(!cg.is_v2());
    assert!(!cg.exists());
    assert_eq!(
        cg.dirs().count(),
        mounts.len(),
        "one directory per hierarchy"
    );
    let dir = |c: &str| cg.dir_of(c).unwrap().to_path_buf();
    let memory = dir("memory");
    assert!(memory.ends_with(Path::new(&parent).join("ctr")));
    assert!(cg.dir_of("no-such-controller").is_none());

    cg.create().unwrap();
    assert!(cg.exists());
    for (mount, d) in cg.dirs() {
        assert!(d.is_dir(), "{} not created", d.display());
        assert!(d.starts_with(mount));
    }
    // cpuset groups inherit the parent's cpus and memory nodes (else nothing can join).
    let cpuset = dir("cpuset");
    let cpuset_root = cpuset.parent().unwrap().parent().unwrap();
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let mine = read(&cpuset.join(f));
        assert!(!mine.trim().is_empty(), "{f} left empty");
        assert_eq!(
            mine,
            read(&cpuset_root.join(f)),
            "{f} copied from the parent"
        );
    }

    let sleeper = Command::new("sleep").arg("1000").spawn().expect("sleep");
    let busy = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .expect("busy sh");
    let (sleep_pid, busy_pid) = (sleeper.id(), busy.id());
    fx.children = vec![sleeper, busy];
    cg.add_process(sleep_pid as i32).unwrap();
    cg.add_process(busy_pid as i32).unwrap();
    let mut procs = cg.procs().unwrap();
    procs.sort();
    let mut expected = vec![sleep_pid as i32, busy_pid as i32];
    expected.sort();
    assert_eq!(procs, expected);
    let own = read(Path::new(&format!("/proc/{busy_pid}/cgroup")));
    for c in ["memory", "pids", "freezer", "cpuset"] {
        assert!(
            own.lines().any(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
                ctrls.split(',').any(|x| x == c) && path == format!("/{parent}/ctr")
            }),
            "{c} group of the process: {own}"
        );
    }

    // Limits, read back from the kernel's files.
    let memsw = memory.join("memory.memsw.limit_in_bytes").exists();
    cg.apply(&Resources {
        memory: Some(64 << 20),
        memory_swap: Some(128 << 20),
        memory_reservation: Some(32 << 20),
        cpu_shares: Some(512),
        cpu_period: Some(100_000),
        cpu_quota: Some(50_000),
        cpuset_cpus: Some("0".into()),
        pids_limit: Some(10),
        ..Resources::default()
    })
    .unwrap();
    let file = |c: &str, f: &str| read(&dir(c).join(f)).trim().to_string();
    assert_eq!(file("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(file("memory", "memory.soft_limit_in_bytes"), "33554432");
    if memsw {
        assert_eq!(file("memory", "memory.memsw.limit_in_bytes"), "134217728");
    }
    assert_eq!(file("cpu", "cpu.shares"), "512");
    assert_eq!(file("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(file("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(file("cpuset", "cpuset.cpus"), "0");
    assert_eq!(file("pids", "pids.max"), "10");
    // Growing both limits needs memsw first, shrinking needs memory first: either
    // order of the kernel's rule (limit <= memsw limit) must work.
    cg.apply(&Resources {
        memory: Some(256 << 20),
        memory_swap: Some(512 << 20),
        ..Resources::default()
    })
    .unwrap();
    assert_eq!(file("memory", "memory.limit_in_bytes"), "268435456");
    if memsw {
        assert_eq!(file("memory", "memory.memsw.limit_in_bytes"), "536870912");
    }
    cg.apply(&Resources {
        memory: Some(32 << 20),
        memory_swap: Some(48 << 20),
        ..Resources::default()
    })
    .unwrap();
    assert_eq!(file("memory", "memory.limit_in_bytes"), "33554432");
    if memsw {
        assert_eq!(file("memory", "memory.memsw.limit_in_bytes"), "50331648");
    }
    // Unlimited again.
    cg.apply(&Resources {
        cpu_quota: Some(-1),
        pids_limit: Some(-1),
        ..Resources::default()
    })
    .unwrap();
    assert_eq!(file("cpu", "cpu.cfs_quota_us"), "-1");
    assert_eq!(file("pids", "pids.max"), "max");
    cg.apply(&Resources {
        pids_limit: Some(10),
        ..Resources::default()
    })
    .unwrap();

    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_stat(busy_pid).1 == 0 {
        assert!(Instant::now() < deadline, "the busy loop never ran");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Freeze: FROZEN in the kernel, the tasks in the refrigerator (D), no cpu used.
    cg.freeze().unwrap();
    assert!(cg.frozen().unwrap());
    assert_eq!(file("freezer", "freezer.state"), "FROZEN");
    let (_, t0) = proc_stat(busy_pid);
    std::thread::sleep(Duration::from_millis(400));
    let (state, t1) = proc_stat(busy_pid);
    assert_eq!(t0, t1, "the busy loop used cpu while frozen");
    assert_eq!(state, 'D', "frozen tasks show as D in /proc/PID/stat");
    assert_eq!(proc_stat(sleep_pid).0, 'D');

    // Statistics while frozen: stable, so exactly the files' values.
    let st = cg.stats().unwrap();
    assert!(!st.v2);
    let usage: u64 = file("cpuacct", "cpuacct.usage").parse().unwrap();
    assert!(usage > 0);
    assert_eq!(st.cpu_total_ns, usage);
    let percpu: Vec<u64> = file("cpuacct", "cpuacct.usage_percpu")
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(st.cpu_percpu_ns, percpu);
    assert_eq!(st.pids_current, 2);
    assert_eq!(st.pids_limit, 10);
    assert_eq!(st.memory_limit, 32 << 20);
    assert_eq!(
        st.memory_usage,
        file("memory", "memory.usage_in_bytes")
            .parse::<u64>()
            .unwrap()
    );
    assert!(st.memory_stat.contains_key("rss"), "{:?}", st.memory_stat);

    cg.thaw().unwrap();
    assert!(!cg.frozen().unwrap());
    assert_eq!(file("freezer", "freezer.state"), "THAWED");
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_stat(busy_pid).1 == t1 {
        assert!(Instant::now() < deadline, "no progress after thaw");
        std::thread::sleep(Duration::from_millis(20));
    }

    // kill_all (freeze, SIGKILL each, thaw on v1).
    cg.kill_all().unwrap();
    for (i, what) in [(0, "sleep"), (1, "busy loop")] {
        let st = wait_exit(&mut fx.children[i], what);
        assert_eq!(st.signal(), Some(9), "{what} ended with {st}");
    }
    assert!(!cg.frozen().unwrap(), "kill_all leaves the group thawed");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cg.procs().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "processes left in the group");
        std::thread::sleep(Duration::from_millis(10));
    }

    cg.remove().unwrap();
    assert!(!cg.exists());
    for (_, d) in cg.dirs() {
        assert!(!d.exists(), "{} left", d.display());
    }
    cg.remove().unwrap();
    for m in mounts {
        std::fs::remove_dir(m.mount_point.join(&parent)).unwrap();
    }
}

/// The primer writes to the caller's own group: after it, the process is where it was,
/// and a second primer call while none is in flight also returns.
#[test]
fn migration_primer_leaves_the_caller_in_its_group() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: writing cgroup.procs needs root");
        return;
    }
    let h = Hierarchy::detect().expect("detect the host's cgroups");
    let before = read(Path::new("/proc/self/cgroup"));
    let primer = h
        .migration_primer()
        .unwrap_or_else(|| panic!("no own group found in {before}"));
    primer.prime();
    primer.prime();
    assert_eq!(read(Path::new("/proc/self/cgroup")), before);
}
