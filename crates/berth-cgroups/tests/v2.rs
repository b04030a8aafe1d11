//! The unified (v2) code path against a real kernel: a fresh cgroup2 filesystem is
//! mounted on a temporary directory (on a hybrid host this is the same hierarchy as
//! `/sys/fs/cgroup/unified`, whatever controllers it has), a uniquely named group is
//! created in it, real processes are moved in, frozen, thawed, measured, limited, killed
//! and the group removed. Needs root; skipped with a printed reason otherwise.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use berth_cgroups::{DeviceRule, Hierarchy, Resources};
use nix::fcntl::{Flock, FlockArg};

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
    /// Held until the delegation is restored (dropped after `drop` ran).
    _exclusive: Flock<File>,
}

impl Fixture {
    /// Mounts a fresh cgroup2 filesystem. Every mount shows the same hierarchy, and each
    /// test changes and restores its root's delegation, so tests (threads here, processes
    /// under nextest) take turns through a lock file.
    fn mount_cgroup2() -> Fixture {
        let lock = File::create(std::env::temp_dir().join("berth-cgroups-v2-tests.lock"))
            .expect("lock file");
        let exclusive =
            Flock::lock(lock, FlockArg::LockExclusive).unwrap_or_else(|(_, e)| panic!("lock: {e}"));
        let mut fx = Fixture {
            mount: tempfile::Builder::new()
                .prefix("berth-cgroups-v2-")
                .tempdir()
                .expect("temp dir"),
            mounted: false,
            dirs: Vec::new(),
            children: Vec::new(),
            root_delegation: BTreeSet::new(),
            _exclusive: exclusive,
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
        fx.root_delegation = words(&read(&root.join("cgroup.subtree_control")));
        fx
    }
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
    let mut fx = Fixture::mount_cgroup2();
    let root = fx.mount.path().to_path_buf();
    let root_controllers = words(&read(&root.join("cgroup.controllers")));

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

/// Set in the environment of the probe process the device test starts.
const PROBE: &str = "BERTH_CGROUPS_DEVICE_PROBE";
/// Marks the probe's answers among the test harness's own output.
const ANSWER: &str = "probe-answer:";

/// Not a test of its own: the process the device test moves into its group, a re-run of
/// this test binary with [`PROBE`] set (without it, it returns at once). Each line of
/// stdin is a batch of requests: `r:PATH` and `w:PATH` open a node read-only or
/// write-only, `m:MAJOR:MINOR:PATH` makes a character device node there (and removes it
/// again). Every request is answered with `ok` or the errno, then `end`.
#[test]
fn device_probe() {
    use std::io::{BufRead, Write};
    if std::env::var_os(PROBE).is_none() {
        return;
    }
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        for request in line.expect("stdin").split_whitespace() {
            let result = match request.split_once(':').expect("MODE:...") {
                ("r", path) => File::open(path).map(drop),
                ("w", path) => std::fs::OpenOptions::new().write(true).open(path).map(drop),
                ("m", node) => make_char_device(node),
                _ => panic!("unknown request {request}"),
            };
            let answer = match result {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
            };
            writeln!(out, "{ANSWER}{request} {answer}").expect("stdout");
        }
        writeln!(out, "{ANSWER}end").expect("stdout");
        out.flush().expect("stdout");
    }
    std::process::exit(0);
}

/// `MAJOR:MINOR:PATH`: mknod, then unlink so the next request can make it again.
fn make_char_device(node: &str) -> std::io::Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let mut parts = node.splitn(3, ':');
    let mut number = || {
        parts
            .next()
            .and_then(|n| n.parse().ok())
            .expect("MAJOR:MINOR:")
    };
    let dev = makedev(number(), number());
    let path = parts.next().expect("PATH");
    mknod(path, SFlag::S_IFCHR, Mode::from_bits_truncate(0o600), dev)?;
    std::fs::remove_file(path)
}

/// The probe process, seen from the test: requests go to its stdin, answers come back
/// on its stdout. Dropping it closes stdin, which ends it.
struct Probe {
    requests: std::process::ChildStdin,
    answers: std::io::BufReader<std::process::ChildStdout>,
}

impl Probe {
    /// Starts the probe; `fx` kills it if the test fails before it ends.
    fn start(fx: &mut Fixture) -> (Probe, u32) {
        use std::process::Stdio;
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["device_probe", "--exact", "--nocapture", "--test-threads=1"])
            .env(PROBE, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("probe");
        let probe = Probe {
            requests: child.stdin.take().expect("stdin"),
            answers: std::io::BufReader::new(child.stdout.take().expect("stdout")),
        };
        let pid = child.id();
        fx.children.push(child);
        (probe, pid)
    }

    /// Sends the requests and checks each answer.
    fn expect(&mut self, what: &str, expected: &[(&str, &str)]) {
        use std::io::{BufRead, Write};
        let batch: Vec<&str> = expected.iter().map(|(request, _)| *request).collect();
        writeln!(self.requests, "{}", batch.join(" ")).expect("probe stdin");
        let mut answers = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.answers.read_line(&mut line).expect("probe stdout");
            assert!(n > 0, "the probe ended early ({what})");
            // The harness may print before the first answer on the same line.
            let Some((_, answer)) = line.trim_end().split_once(ANSWER) else {
                continue;
            };
            if answer == "end" {
                break;
            }
            answers.push(answer.to_string());
        }
        let expected: Vec<String> = expected
            .iter()
            .map(|(request, answer)| format!("{request} {answer}"))
            .collect();
        assert_eq!(answers, expected, "{what}");
    }
}

/// The names of the device programs attached to the group itself.
fn device_programs(group: &Path) -> Vec<String> {
    use berth_sys::bpf;
    use std::os::fd::AsFd;
    let dir = File::open(group).expect("group dir");
    let mut names: Vec<String> = bpf::prog_query(dir.as_fd(), bpf::BPF_CGROUP_DEVICE)
        .expect("BPF_PROG_QUERY")
        .into_iter()
        .map(|id| {
            let prog = bpf::prog_get_fd_by_id(id).expect("BPF_PROG_GET_FD_BY_ID");
            bpf::prog_name(prog.as_fd()).expect("program name")
        })
        .collect();
    names.sort();
    names
}

fn rule(allow: bool, kind: char, major: i64, minor: Option<i64>, access: &str) -> DeviceRule {
    DeviceRule {
        allow,
        kind,
        major: Some(major),
        minor,
        access: access.into(),
    }
}

fn all(allow: bool) -> DeviceRule {
    DeviceRule {
        allow,
        kind: 'a',
        major: None,
        minor: None,
        access: "rwm".into(),
    }
}

fn devices(rules: Vec<DeviceRule>) -> Resources {
    Resources {
        devices: rules,
        ..Resources::default()
    }
}

/// Docker's rules for an unprivileged container, as berthd builds them.
fn docker_default() -> Vec<DeviceRule> {
    let any_of = |kind| DeviceRule {
        allow: true,
        kind,
        major: None,
        minor: None,
        access: "m".into(),
    };
    let mut rules = vec![all(false), any_of('c'), any_of('b')];
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(rule(true, 'c', major, Some(minor), "rwm"));
    }
    rules.push(rule(true, 'c', 136, None, "rwm"));
    rules.push(rule(true, 'c', 10, Some(200), "rwm"));
    rules
}

#[test]
fn device_rules_become_an_ebpf_program_on_the_group() {
    const OK: &str = "ok";
    const EPERM: &str = "errno 1";
    if !is_root() {
        eprintln!("skipped: loading BPF programs and moving processes between groups needs root");
        return;
    }
    let mut fx = Fixture::mount_cgroup2();
    let root = fx.mount.path().to_path_buf();
    let parent_name = unique("berth-it-dev");
    let leaf = root.join(&parent_name).join("ctr");
    fx.dirs = vec![leaf.clone(), root.join(&parent_name)];
    let cg = Hierarchy::v2(root.clone())
        .cgroup(&format!("/{parent_name}/ctr"))
        .unwrap();
    cg.create().unwrap();
    let nodes = tempfile::tempdir().expect("temp dir for mknod");
    let node = nodes.path().join("node");
    let mknod = |major: u32, minor: u32| format!("m:{major}:{minor}:{}", node.display());
    let (mknod_null, mknod_zero, mknod_kmsg) = (mknod(1, 3), mknod(1, 5), mknod(1, 11));

    // Deny all, allow /dev/null: the program is attached before any process joins.
    cg.apply(&devices(vec![
        all(false),
        rule(true, 'c', 1, Some(3), "rwm"),
    ]))
    .unwrap();
    assert_eq!(device_programs(&leaf), ["berth_devices"]);
    let (mut probe, pid) = Probe::start(&mut fx);
    cg.add_process(pid as i32).unwrap();
    probe.expect(
        "only /dev/null",
        &[
            ("w:/dev/null", OK),
            ("r:/dev/null", OK),
            ("w:/dev/zero", EPERM),
            ("r:/dev/zero", EPERM),
            ("w:/dev/full", EPERM),
            (&mknod_null, OK),
            (&mknod_zero, EPERM),
        ],
    );

    // Someone else's program on the same group: it stays through berth's updates.
    let other = attach_allow_all(&leaf, "other");

    // docker update: /dev/zero too, /dev/full read-only. The new program replaces the
    // old one instead of adding to it.
    cg.apply(&devices(vec![
        all(false),
        rule(true, 'c', 1, Some(3), "rwm"),
        rule(true, 'c', 1, Some(5), "rwm"),
        rule(true, 'c', 1, Some(7), "r"),
    ]))
    .unwrap();
    assert_eq!(device_programs(&leaf), ["berth_devices", "other"]);
    probe.expect(
        "after the update",
        &[
            ("w:/dev/null", OK),
            ("w:/dev/zero", OK),
            ("r:/dev/full", OK),
            ("w:/dev/full", EPERM),
            (&mknod_zero, OK),
        ],
    );

    // A later rule overrides an earlier one for the access it names, as on v1.
    cg.apply(&devices(vec![
        all(false),
        rule(true, 'c', 1, None, "rwm"),
        rule(false, 'c', 1, Some(5), "w"),
    ]))
    .unwrap();
    probe.expect(
        "a later deny",
        &[
            ("w:/dev/full", OK),
            ("r:/dev/zero", OK),
            ("w:/dev/zero", EPERM),
        ],
    );

    // Docker's default list, as the daemon gives it for an unprivileged container.
    cg.apply(&devices(docker_default())).unwrap();
    let defaults = [
        ("w:/dev/null", OK),
        ("w:/dev/zero", OK),
        ("r:/dev/urandom", OK),
        ("r:/dev/kmsg", EPERM),
        (&mknod_kmsg, OK),
    ];
    probe.expect("Docker's defaults", &defaults);
    // An update that names no devices leaves them as they are.
    cg.apply(&Resources::default()).unwrap();
    assert_eq!(device_programs(&leaf), ["berth_devices", "other"]);
    probe.expect("after an update without devices", &defaults);

    // --privileged: every device, so no berth program at all.
    cg.apply(&devices(vec![all(true)])).unwrap();
    assert_eq!(device_programs(&leaf), ["other"]);
    probe.expect(
        "privileged",
        &[("r:/dev/kmsg", OK), ("w:/dev/full", OK), (&mknod_zero, OK)],
    );
    drop(other);

    // The probe ends when its stdin closes; then the group can go.
    drop(probe);
    let status = wait_exit(&mut fx.children[0], "the probe");
    assert!(status.success(), "probe: {status}");
    cg.remove().unwrap();
    std::fs::remove_dir(root.join(&parent_name)).unwrap();
}

/// Loads `return 1` under `name` and attaches it to the group as another manager
/// would. The group keeps it attached after the descriptor is closed.
fn attach_allow_all(group: &Path, name: &str) -> std::os::fd::OwnedFd {
    use berth_sys::bpf;
    use std::os::fd::AsFd;
    // mov32 r0, 1; exit
    let insns = [
        bpf::Insn::new(0xb4, 0, 0, 0, 1),
        bpf::Insn::new(0x95, 0, 0, 0, 0),
    ];
    let prog = bpf::prog_load_cgroup_device(&insns, "GPL", name).expect("load");
    let dir = File::open(group).expect("group dir");
    bpf::prog_attach(
        dir.as_fd(),
        prog.as_fd(),
        bpf::BPF_CGROUP_DEVICE,
        bpf::BPF_F_ALLOW_MULTI,
    )
    .expect("attach");
    prog
}
