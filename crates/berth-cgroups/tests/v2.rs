//! The unified (v2) code path against a real kernel: a fresh cgroup2 filesystem is
//! mounted on a temporary directory (on a hybrid host this is the same hierarchy as
//! `/sys/fs/cgroup/unified`, whatever controllers it has), a uniquely named group is
//! created in it, real processes are moved in, frozen, thawed, measured, limited, killed
//! and the group removed. Needs root; skipped with a printed reason otherwise.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use berth_cgroups::{Hierarchy, Resources};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

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

fn words(s: &str) -> BTreeSet<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Field 3 (state) and utime + stime (fields 14, 15, clock ticks) of `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> (char, u64) {
    let text = read(Path::new(&format!("/proc/{pid}/stat")));
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &text[text.rfind(')').expect("comm in /proc/PID/stat") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let state = f[0].chars().next().expect("state");
    let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    (state, ticks)
}

/// Waits until the child has exited and returns how.
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

/// Everything the test set up, undone in order on drop (also after a failed assert):
/// processes killed, groups removed, the root's delegation restored, unmounted.
struct Fixture {
    mount: tempfile::TempDir,
    mounted: bool,
    /// Group directories, deepest first.
    dirs: Vec<PathBuf>,
    children: Vec<Child>,
    /// The root's `cgroup.subtree_control` before the test.
    root_delegation: BTreeSet<String>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in &self.dirs {
            let _ = std::fs::write(d.join("cgroup.kill"), "1");
            let _ = std::fs::remove_dir(d);
        }
        if self.mounted {
            let ctl = self.mount.path().join("cgroup.subtree_control");
            let now = words(&std::fs::read_to_string(&ctl).unwrap_or_default());
            for c in now.difference(&self.root_delegation) {
                let _ = std::fs::write(&ctl, format!("-{c}"));
            }
            let _ = nix::mount::umount2(self.mount.path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[test]
fn unified_group_lifecycle_on_a_fresh_cgroup2_mount() {
    if !is_root() {
        eprintln!("skipped: mounting cgroup2 and moving processes between groups needs root");
        return;
    }
    let mut fx = Fixture {
        mount: tempfile::Builder::new()
            .prefix("berth-cgroups-v2-")
            .tempdir()
            .expect("temp dir"),
        mounted: false,
        dirs: Vec::new(),
        children: Vec::new(),
        root_delegation: BTreeSet::new(),
    };
    let root = fx.mount.path().to_path_buf();
    nix::mount::mount(
        Some("none"),
        &root,
        Some("cgroup2"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap_or_else(|e| panic!("mount -t cgroup2 none {}: {e}", root.display()));
    fx.mounted = true;
    let root_controllers = words(&read(&root.join("cgroup.controllers")));
    fx.root_delegation = words(&read(&root.join("cgroup.subtree_control")));

    // A nested group, so the parent has to delegate.
    let parent_name = unique("berth-it-v2");
    let parent = root.join(&parent_name);
    let leaf = parent.join("ctr");
    fx.dirs = vec![leaf.clone(), parent.clone()];
    let h = Hierarchy::v2(root.clone());
    assert!(h.is_v2());
    assert!(h.v1_mounts().is_empty());
    // The caller's own v2 group is found through `0::<path>` and priming keeps it there.
    let own = read(Path::new("/proc/self/cgroup"));
    h.migration_primer()
        .unwrap_or_else(|| panic!("no v2 entry in {own}"))
        .prime();
    assert_eq!(read(Path::new("/proc/self/cgroup")), own);
    let cg = h.cgroup(&format!("/{parent_name}/ctr")).unwrap();
    assert!(cg.is_v2());
    assert_eq!(
        cg.relative_path(),
        Path::new(&parent_name).join("ctr").as_path()
    );
    assert_eq!(cg.dir_of("memory"), Some(leaf.as_path()));
    assert_eq!(cg.dirs().count(), 1);
    assert!(!cg.exists());
    assert_eq!(
        cg.procs().unwrap(),
        Vec::<i32>::new(),
        "no group, no processes"
    );

    cg.create().unwrap();
    assert!(cg.exists() && leaf.is_dir());
    // Every resource controller the root has is delegated down to the leaf.
    let wanted: BTreeSet<String> = ["cpu", "cpuset", "memory", "pids", "io", "hugetlb"]
        .iter()
        .map(|s| s.to_string())
        .filter(|c| root_controllers.contains(c))
        .collect();
    for dir in [&root, &parent] {
        let delegated = words(&read(&dir.join("cgroup.subtree_control")));
        assert!(
            wanted.is_subset(&delegated),
            "{} delegates {delegated:?}, expected at least {wanted:?}",
            dir.display()
        );
    }
    assert_eq!(
        words(&read(&leaf.join("cgroup.controllers"))),
        wanted,
        "the leaf has exactly the delegated controllers"
    );
    // Creating again is harmless.
    cg.create().unwrap();

    // A sleeping process and a busy one, moved in from outside.
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
    for pid in [sleep_pid, busy_pid] {
        let own = read(Path::new(&format!("/proc/{pid}/cgroup")));
        assert!(
            own.lines()
                .any(|l| l == format!("0::/{parent_name}/ctr").as_str()),
            "/proc/{pid}/cgroup: {own}"
        );
    }
    assert!(!cg.frozen().unwrap());
    // The busy loop runs.
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_stat(busy_pid).1 == 0 {
        assert!(Instant::now() < deadline, "the busy loop never ran");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Frozen: the kernel says so and nothing runs any more.
    cg.freeze().unwrap();
    assert!(cg.frozen().unwrap());
    assert_eq!(read(&leaf.join("cgroup.freeze")).trim(), "1");
    assert!(read(&leaf.join("cgroup.events"))
        .lines()
        .any(|l| l == "frozen 1"));
    let (state, t0) = proc_stat(busy_pid);
    assert_ne!(state, 'R', "a frozen busy loop is not runnable");
    std::thread::sleep(Duration::from_millis(400));
    let (state2, t1) = proc_stat(busy_pid);
    assert_eq!(t0, t1, "the busy loop used cpu while frozen");
    assert_ne!(state2, 'R');
    assert_ne!(proc_stat(sleep_pid).0, 'R');

    // Statistics from cpu.stat (stable while frozen, so exactly the file's numbers).
    let st = cg.stats().unwrap();
    assert!(st.v2);
    let cpu_stat: Vec<(String, u64)> = read(&leaf.join("cpu.stat"))
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect();
    let get = |k: &str| {
        cpu_stat
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {k} in cpu.stat: {cpu_stat:?}"))
    };
    assert!(get("usage_usec") > 0, "the busy loop ran in the group");
    assert_eq!(st.cpu_total_ns, get("usage_usec") * 1000);
    assert_eq!(st.cpu_user_ns, get("user_usec") * 1000);
    assert_eq!(st.cpu_system_ns, get("system_usec") * 1000);
    if !leaf.join("memory.max").exists() {
        assert_eq!(st.memory_limit, u64::MAX, "no memory.max: unlimited");
    }
    if !leaf.join("pids.current").exists() {
        assert_eq!(st.pids_current, 0);
    }

    cg.thaw().unwrap();
    assert!(!cg.frozen().unwrap());
    assert_eq!(read(&leaf.join("cgroup.freeze")).trim(), "0");
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_stat(busy_pid).1 == t1 {
        assert!(
            Instant::now() < deadline,
            "the busy loop did not run again after thaw"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Limits: only with the controller; otherwise Docker-style "not available".
    let mem = Resources {
        memory: Some(64 << 20),
        ..Resources::default()
    };
    if wanted.contains("memory") {
        cg.apply(&mem).unwrap();
        assert_eq!(read(&leaf.join("memory.max")).trim(), "67108864");
    } else {
        let err = cg.apply(&mem).unwrap_err().to_string();
        assert_eq!(
            err,
            "memory limit: the memory cgroup controller is not available"
        );
        assert!(!leaf.join("memory.max").exists());
    }
    let pids = Resources {
        pids_limit: Some(10),
        ..Resources::default()
    };
    if wanted.contains("pids") {
        cg.apply(&pids).unwrap();
        assert_eq!(read(&leaf.join("pids.max")).trim(), "10");
        assert_eq!(cg.stats().unwrap().pids_limit, 10);
    } else {
        let err = cg.apply(&pids).unwrap_err().to_string();
        assert_eq!(
            err,
            "pids limit: the pids cgroup controller is not available"
        );
    }
    // An empty set of limits touches nothing and succeeds.
    cg.apply(&Resources::default()).unwrap();

    // kill_all: every process dies of SIGKILL.
    assert!(
        leaf.join("cgroup.kill").exists(),
        "kernel without cgroup.kill"
    );
    cg.kill_all().unwrap();
    for (i, what) in [(0, "sleep"), (1, "busy loop")] {
        let st = wait_exit(&mut fx.children[i], what);
        assert_eq!(st.signal(), Some(9), "{what} ended with {st}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cg.procs().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "processes left in the group");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(read(&leaf.join("cgroup.events"))
        .lines()
        .any(|l| l == "populated 0"));

    cg.remove().unwrap();
    assert!(!leaf.exists());
    assert!(!cg.exists());
    cg.remove().unwrap(); // again: already gone is fine
    std::fs::remove_dir(&parent).unwrap();
}
