//! Resource limits through the real docker CLI, checked against the kernel: the
//! cgroup files seen inside the container and on the host, `inspect`, OOM kills (137,
//! OOMKilled, the `oom` event), pids limits that stop forks, live `update`, Docker's
//! validation errors, groups removed on exit and rm, `--cgroup-parent`, pause/unpause
//! (freezer), stats and top.
//!
//! Files are read from the v1 hierarchies, or from the unified ones when
//! `/sys/fs/cgroup/cgroup.controllers` exists (a cgroup v2 host).

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_it::{random_u64, unix_now, urlencode, wait_for_within, Daemon};
use serde_json::Value;

fn online_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// A cgroup v2 host (unified hierarchy at /sys/fs/cgroup).
fn unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// One mounted cgroup filesystem of the host.
#[derive(Debug)]
struct CgMount {
    /// The hierarchy path mounted there (`/` normally).
    root: String,
    point: PathBuf,
    v2: bool,
    /// Super options (for v1: the controllers and `name=`).
    opts: Vec<String>,
}

fn cgroup_mounts() -> Vec<CgMount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut v = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 || !matches!(r[0], "cgroup" | "cgroup2") {
            continue;
        }
        v.push(CgMount {
            root: l[3].to_string(),
            point: PathBuf::from(l[4]),
            v2: r[0] == "cgroup2",
            opts: r[2].split(',').map(str::to_string).collect(),
        });
    }
    v
}

/// The host directories of a process's groups, one per line of `/proc/<pid>/cgroup`:
/// (controllers, path within the hierarchy, directory on the host).
fn process_groups(pid: i32) -> Vec<(String, String, PathBuf)> {
    let mounts = cgroup_mounts();
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/cgroup: {e}"));
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (
            f.next(),
            f.next().unwrap_or("").to_string(),
            f.next().unwrap_or("").to_string(),
        );
        let m = if ctrls.is_empty() {
            // The unified hierarchy: prefer the host's own mount over temporary ones.
            mounts
                .iter()
                .filter(|m| m.v2)
                .find(|m| m.point.starts_with("/sys/fs/cgroup"))
        } else {
            mounts
                .iter()
                .find(|m| !m.v2 && ctrls.split(',').all(|c| m.opts.iter().any(|o| o == c)))
        };
        let Some(m) = m else { continue };
        let rel = path
            .strip_prefix(m.root.trim_end_matches('/'))
            .unwrap_or(&path)
            .trim_start_matches('/')
            .to_string();
        out.push((ctrls, path, m.point.join(rel)));
    }
    out
}

/// The host directory of the process's group holding `controller` (v2: its only group).
fn host_dir(pid: i32, controller: &str) -> PathBuf {
    let groups = process_groups(pid);
    let found = if unified() {
        groups.iter().find(|(c, _, _)| c.is_empty())
    } else {
        groups
            .iter()
            .find(|(c, _, _)| c.split(',').any(|x| x == controller))
    };
    found
        .map(|(_, _, d)| d.clone())
        .unwrap_or_else(|| panic!("no {controller} group for pid {pid}: {groups:?}"))
}

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// A cgroup file of a running container, on the host.
fn host_file(pid: i32, controller: &str, file: &str) -> String {
    read_trim(&host_dir(pid, controller).join(file))
}

/// The file's path under the container's /sys/fs/cgroup.
fn inside_path(controller: &str, file: &str) -> String {
    if unified() {
        file.to_string()
    } else {
        format!("{controller}/{file}")
    }
}

/// `docker run --rm <opts> busybox sh -c 'for each file: echo "<path> <content>"'`.
fn read_inside(d: &Daemon, opts: &[&str], files: &[(&str, &str)]) -> String {
    let mut args = vec!["run".to_string(), "--rm".to_string()];
    args.extend(opts.iter().map(|s| s.to_string()));
    args.extend([
        "busybox".to_string(),
        "sh".to_string(),
        "-c".to_string(),
        r#"for f in "$@"; do echo "$f $(cat /sys/fs/cgroup/$f)"; done"#.to_string(),
        "sh".to_string(),
    ]);
    args.extend(files.iter().map(|(c, f)| inside_path(c, f)));
    let o = d.docker(args).run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stderr, "", "{o}");
    o.stdout
}

/// `GET /events` between two times with filters, as parsed JSON lines.
fn events(d: &Daemon, since: u64, until: u64, filters: &str) -> Vec<Value> {
    let r = d.http(
        "GET",
        &format!(
            "/events?since={since}&until={until}&filters={}",
            urlencode(filters)
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("event {l:?}: {e}")))
        .collect()
}

const LIMIT_FLAGS: &[&str] = &[
    "--memory",
    "64m",
    "--cpus",
    "0.5",
    "--pids-limit",
    "50",
    "--cpu-shares",
    "512",
    "--cpuset-cpus",
    "0",
    "--memory-reservation",
    "32m",
];

#[test]
fn limits_are_visible_inside_on_the_host_and_in_inspect() {
    let d = Daemon::with_busybox();
    let id = d
        .docker(["run", "-d", "--name", "lim"])
        .args(LIMIT_FLAGS)
        .args(["busybox", "sleep", "1000"])
        .ok()
        .trim()
        .to_string();
    let pid = d.pid_of("lim");
    // The groups: <default parent>/<id> in every hierarchy berth uses.
    let groups = process_groups(pid);
    let mine: Vec<_> = groups.iter().filter(|(_, p, _)| p.contains(&id)).collect();
    assert!(!mine.is_empty(), "{groups:?}");
    for (ctrls, path, dir) in &mine {
        assert_eq!(path, &format!("/berth/{id}"), "group of {ctrls}");
        assert!(dir.is_dir(), "{}", dir.display());
    }
    if !unified() {
        for c in ["memory", "cpu", "cpuset", "pids", "freezer", "devices"] {
            assert!(
                mine.iter().any(|(cs, _, _)| cs.split(',').any(|x| x == c)),
                "the container is in no {c} group: {groups:?}"
            );
        }
        assert_eq!(
            host_dir(pid, "memory"),
            Path::new("/sys/fs/cgroup/memory/berth").join(&id)
        );
    }

    // (controller, file, expected) for the flags above.
    let mut files: Vec<(&str, &str, String)> = if unified() {
        vec![
            ("memory", "memory.max", "67108864".into()),
            ("memory", "memory.low", "33554432".into()),
            ("cpu", "cpu.max", "50000 100000".into()),
            // runc's conversion of 512 shares.
            ("cpu", "cpu.weight", "20".into()),
            ("cpuset", "cpuset.cpus", "0".into()),
            ("pids", "pids.max", "50".into()),
        ]
    } else {
        vec![
            ("memory", "memory.limit_in_bytes", "67108864".into()),
            ("memory", "memory.soft_limit_in_bytes", "33554432".into()),
            ("cpu", "cpu.cfs_quota_us", "50000".into()),
            ("cpu", "cpu.cfs_period_us", "100000".into()),
            ("cpu", "cpu.shares", "512".into()),
            ("cpuset", "cpuset.cpus", "0".into()),
            ("pids", "pids.max", "50".into()),
        ]
    };
    // Swap accounting is optional in the kernel; Docker's default is memory + as much swap.
    if unified() {
        if host_dir(pid, "memory").join("memory.swap.max").exists() {
            files.push(("memory", "memory.swap.max", "67108864".into()));
        }
    } else if host_dir(pid, "memory")
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        files.push(("memory", "memory.memsw.limit_in_bytes", "134217728".into()));
    }
    for (c, f, want) in &files {
        assert_eq!(&host_file(pid, c, f), want, "host {c}/{f}");
    }
    let inside = read_inside(
        &d,
        LIMIT_FLAGS,
        &files.iter().map(|(c, f, _)| (*c, *f)).collect::<Vec<_>>(),
    );
    let expected: String = files
        .iter()
        .map(|(c, f, want)| format!("{} {want}\n", inside_path(c, f)))
        .collect();
    assert_eq!(inside, expected, "the container's own /sys/fs/cgroup");
    assert_eq!(
        d.inspect_fmt(
            "lim",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} \
             {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} \
             {{.HostConfig.PidsLimit}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}"
        ),
        "67108864 134217728 33554432 500000000 512 0 50 0 0"
    );
}

#[test]
fn memory_swap_defaults_to_twice_memory_and_can_be_unlimited() {
    let d = Daemon::with_busybox();
    for (name, opts, swap) in [
        ("dflt", vec!["--memory", "64m"], "134217728"),
        (
            "given",
            vec!["--memory", "64m", "--memory-swap", "96m"],
            "100663296",
        ),
        (
            "unlim",
            vec!["--memory", "64m", "--memory-swap", "-1"],
            "-1",
        ),
        ("none", vec![], "0"),
    ] {
        d.docker(["create", "--name", name])
            .args(&opts)
            .args(["busybox", "true"])
            .ok();
        assert_eq!(
            d.inspect_fmt(name, "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"),
            format!("{} {swap}", if opts.is_empty() { "0" } else { "67108864" }),
            "{opts:?}"
        );
    }
    // The kernel agrees.
    if unified() {
        d.docker([
            "run", "-d", "--name", "k", "--memory", "64m", "busybox", "sleep", "1000",
        ])
        .ok();
        let swap = host_dir(d.pid_of("k"), "memory").join("memory.swap.max");
        if swap.exists() {
            assert_eq!(read_trim(&swap), "67108864");
        }
    } else if Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        let f = [("memory", "memory.memsw.limit_in_bytes")];
        assert_eq!(
            read_inside(&d, &["--memory", "64m", "--memory-swap", "96m"], &f),
            "memory/memory.memsw.limit_in_bytes 100663296\n"
        );
        // -1: unlimited, the kernel's page-rounded maximum.
        let out = read_inside(&d, &["--memory", "64m", "--memory-swap", "-1"], &f);
        let v: u64 = out
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{out:?}"));
        assert!(v > 1 << 62, "unlimited swap: {out:?}");
    }
}

#[test]
fn oom_kill_exits_137_sets_oomkilled_and_emits_an_oom_event() {
    let d = Daemon::with_busybox();
    let since = unix_now();
    // A 200 MB buffer under a 64 MB limit without swap.
    let o = d
        .docker([
            "run",
            "--name",
            "hog",
            "--memory",
            "64m",
            "--memory-swap",
            "64m",
            "busybox",
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=200M",
            "count=1",
        ])
        .run();
    assert_eq!(o.status.code(), Some(137), "{o}");
    assert_eq!(
        d.inspect_fmt(
            "hog",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}"
        ),
        "exited 137 true"
    );
    // The same program within its limit is not OOM-killed.
    let o = d
        .docker([
            "run",
            "--name",
            "fits",
            "--memory",
            "64m",
            "--memory-swap",
            "64m",
            "busybox",
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=1M",
            "count=1",
        ])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(
        d.inspect_fmt(
            "fits",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}"
        ),
        "exited 0 false"
    );
    let until = unix_now() + 1;
    let ev = events(&d, since, until, r#"{"event":["oom"]}"#);
    assert_eq!(ev.len(), 1, "one oom event: {ev:?}");
    assert_eq!(ev[0]["Type"], "container");
    assert_eq!(ev[0]["Action"], "oom");
    assert_eq!(ev[0]["Actor"]["Attributes"]["name"], "hog");
    assert_eq!(
        ev[0]["Actor"]["ID"].as_str(),
        Some(d.inspect_fmt("hog", "{{.Id}}").as_str())
    );
    // The CLI sees it too, in order with the die event.
    let o = d
        .docker([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "container=hog",
            "--format",
            "{{.Action}}",
        ])
        .ok();
    let actions: Vec<&str> = o.lines().filter(|a| matches!(*a, "oom" | "die")).collect();
    assert_eq!(actions, ["oom", "die"], "{o}");
}

#[test]
fn pids_limit_stops_forks() {
    let d = Daemon::with_busybox();
    let script = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait; echo all started";
    let o = d
        .docker([
            "run",
            "--rm",
            "--pids-limit",
            "5",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .run();
    assert!(!o.success(), "{o}");
    assert!(
        o.stderr
            .contains("can't fork: Resource temporarily unavailable"),
        "{o}"
    );
    assert!(!o.stdout.contains("all started"), "{o}");
    // The same loop fits in a larger limit.
    let o = d
        .docker([
            "run",
            "--rm",
            "--pids-limit",
            "50",
            "busybox",
            "sh",
            "-c",
            &script.replace("sleep 2", "sleep 0.2"),
        ])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "all started\n");
    // pids.current counts the container's processes against the limit.
    d.docker([
        "run",
        "-d",
        "--name",
        "pl",
        "--pids-limit",
        "5",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & sleep 1001 & wait",
    ])
    .ok();
    let pid = d.pid_of("pl");
    wait_for_within("three processes", Duration::from_secs(10), || {
        host_file(pid, "pids", "pids.current") == "3"
    });
    assert_eq!(host_file(pid, "pids", "pids.max"), "5");
}

#[test]
fn update_changes_the_live_cgroup_and_inspect() {
    let d = Daemon::with_busybox();
    let id = d
        .docker([
            "run", "-d", "--name", "upd", "--memory", "64m", "busybox", "sleep", "1000",
        ])
        .ok()
        .trim()
        .to_string();
    let pid = d.pid_of("upd");
    let o = d
        .docker([
            "update",
            "--memory",
            "96m",
            "--memory-swap",
            "192m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            "upd",
        ])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "upd\n");
    if unified() {
        assert_eq!(host_file(pid, "memory", "memory.max"), "100663296");
        let swap = host_dir(pid, "memory").join("memory.swap.max");
        if swap.exists() {
            assert_eq!(read_trim(&swap), "100663296");
        }
        assert_eq!(host_file(pid, "cpu", "cpu.max"), "50000 100000");
    } else {
        assert_eq!(
            host_file(pid, "memory", "memory.limit_in_bytes"),
            "100663296"
        );
        let memsw = host_dir(pid, "memory").join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            assert_eq!(read_trim(&memsw), "201326592");
        }
        assert_eq!(host_file(pid, "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(host_file(pid, "cpu", "cpu.cfs_period_us"), "100000");
    }
    assert_eq!(host_file(pid, "pids", "pids.max"), "50");
    assert_eq!(
        d.inspect_fmt(&id,
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}"
        ),
        "100663296 201326592 500000000 50"
    );
    // Unchanged fields stay; the process was not restarted.
    assert_eq!(d.pid_of("upd"), pid);
    // Docker's validation applies to updates too, and nothing changes.
    let o = d.docker(["update", "--memory", "1m", "upd"]).run();
    assert!(!o.success(), "{o}");
    assert!(
        o.stderr.contains("Minimum memory limit allowed is 6MB"),
        "{o}"
    );
    let n = online_cpus();
    let o = d.docker(["update", "--cpus", "99", "upd"]).run();
    assert!(
        o.stderr.contains(&format!(
            "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
        )),
        "{o}"
    );
    assert_eq!(host_file(pid, "pids", "pids.max"), "50");
    assert_eq!(
        d.inspect_fmt(&id, "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}"),
        "100663296 500000000"
    );
    // A stopped container is updated in its record and starts with the new limit.
    d.docker(["stop", "-t", "0", "upd"]).ok();
    d.docker(["update", "--pids-limit", "30", "upd"]).ok();
    assert_eq!(d.inspect_fmt("upd", "{{.HostConfig.PidsLimit}}"), "30");
    d.docker(["start", "upd"]).ok();
    let pid = d.pid_of("upd");
    assert_eq!(host_file(pid, "pids", "pids.max"), "30");
}

#[test]
fn update_memory_above_the_existing_swap_limit_is_refused() {
    let d = Daemon::with_busybox();
    let id = d
        .docker([
            "run", "-d", "--name", "upd", "--memory", "64m", "busybox", "sleep", "1000",
        ])
        .ok()
        .trim()
        .to_string();
    let pid = d.pid_of("upd");
    // MemorySwap is 128m (2 x 64m): a 300m memory limit needs a new swap limit.
    let o = d.docker(["update", "--memory", "300m", "upd"]).run();
    assert!(!o.success(), "{o}");
    assert!(
        o.stderr.contains(&format!(
            "Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        )),
        "{o}"
    );
    assert_eq!(
        d.inspect_fmt("upd", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"),
        "67108864 134217728"
    );
    if !unified() {
        assert_eq!(
            host_file(pid, "memory", "memory.limit_in_bytes"),
            "67108864"
        );
    }
    // The API answers 409 as Docker does.
    let r = http_json(
        &d,
        "POST",
        "/containers/upd/update",
        r#"{"Memory":314572800,"MemorySwap":0}"#,
    );
    assert_eq!(r.status, 409, "{}", r.text());
}

/// A raw API call with a JSON body.
fn http_json(d: &Daemon, method: &str, path: &str, body: &str) -> berth_it::HttpResponse {
    berth_it::http::request(
        &d.socket,
        method,
        path,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

#[test]
fn validation_errors_match_docker() {
    let d = Daemon::with_busybox();
    let n = online_cpus();
    let cases: Vec<(Vec<String>, String, String)> = vec![
        (
            vec!["--memory".into(), "1m".into()],
            r#"{"Memory":1048576}"#.into(),
            "Minimum memory limit allowed is 6MB".into(),
        ),
        (
            vec!["--cpus".into(), "99".into()],
            r#"{"NanoCpus":99000000000}"#.into(),
            format!("Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"),
        ),
        (
            vec![
                "--memory".into(),
                "64m".into(),
                "--memory-swap".into(),
                "32m".into(),
            ],
            r#"{"Memory":67108864,"MemorySwap":33554432}"#.into(),
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ),
        (
            vec!["--memory-swap".into(), "64m".into()],
            r#"{"MemorySwap":67108864}"#.into(),
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ),
        (
            vec![
                "--memory".into(),
                "32m".into(),
                "--memory-reservation".into(),
                "64m".into(),
            ],
            r#"{"Memory":33554432,"MemoryReservation":67108864}"#.into(),
            "Minimum memory limit can not be less than memory reservation limit, see usage".into(),
        ),
        (
            vec!["--cpuset-cpus".into(), (n + 3).to_string()],
            format!(r#"{{"CpusetCpus":"{}"}}"#, n + 3),
            format!(
                "Requested CPUs are not available - requested {}, available: 0-{}",
                n + 3,
                n - 1
            ),
        ),
    ];
    for (flags, hc, msg) in &cases {
        let o = d
            .docker(["run", "--rm"])
            .args(flags)
            .args(["busybox", "true"])
            .run();
        assert_eq!(o.status.code(), Some(125), "{o}");
        assert!(
            o.stderr
                .contains(&format!("Error response from daemon: {msg}")),
            "{flags:?}: {o}"
        );
        let r = http_json(
            &d,
            "POST",
            "/containers/create",
            &format!(r#"{{"Image":"busybox","HostConfig":{hc}}}"#),
        );
        assert_eq!(r.status, 400, "{hc}: {}", r.text());
        assert_eq!(r.json()["message"], msg.as_str(), "{hc}");
    }
    assert_eq!(
        d.docker(["ps", "-aq"]).ok(),
        "",
        "refused creates leave no container"
    );
}

#[test]
fn cgroups_are_removed_on_exit_and_on_rm() {
    let d = Daemon::with_busybox();
    let id = d
        .docker(["run", "-d", "--memory", "64m", "busybox", "sleep", "1000"])
        .ok()
        .trim()
        .to_string();
    let pid = d.pid_of(&id);
    let dirs: Vec<PathBuf> = process_groups(pid)
        .into_iter()
        .filter(|(_, p, _)| p.contains(&id))
        .map(|(_, _, dir)| dir)
        .collect();
    assert!(!dirs.is_empty());
    for dir in &dirs {
        assert!(dir.is_dir(), "{}", dir.display());
    }
    d.docker(["rm", "-f", &id]).ok();
    let gone = |id: &str, dirs: &[PathBuf]| -> Vec<PathBuf> {
        let mut left: Vec<PathBuf> = dirs.iter().filter(|p| p.exists()).cloned().collect();
        // Whatever hierarchy: no directory named after the container anywhere.
        for m in cgroup_mounts() {
            let p = m.point.join("berth").join(id);
            if p.exists() {
                left.push(p);
            }
        }
        left
    };
    assert_eq!(gone(&id, &dirs), Vec::<PathBuf>::new(), "after rm -f");

    // A container that exits on its own loses its groups too (rm only drops the record).
    let id = d
        .docker([
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "while [ ! -e /tmp/go ]; do sleep 0.05; done",
        ])
        .ok()
        .trim()
        .to_string();
    let pid = d.pid_of(&id);
    let dirs: Vec<PathBuf> = process_groups(pid)
        .into_iter()
        .filter(|(_, p, _)| p.contains(&id))
        .map(|(_, _, dir)| dir)
        .collect();
    assert!(dirs.iter().all(|p| p.is_dir()) && !dirs.is_empty());
    std::fs::write(format!("/proc/{pid}/root/tmp/go"), "").unwrap();
    assert_eq!(d.docker(["wait", &id]).ok().trim(), "0");
    wait_for_within(
        "the groups of the exited container to go",
        Duration::from_secs(10),
        || gone(&id, &dirs).is_empty(),
    );
    d.docker(["rm", &id]).ok();
    assert_eq!(gone(&id, &dirs), Vec::<PathBuf>::new());
}

/// Removes `<every hierarchy>/<name>` (children first) on drop.
struct ParentGuard(String);

impl Drop for ParentGuard {
    fn drop(&mut self) {
        for m in cgroup_mounts() {
            let p = m.point.join(&self.0);
            if let Ok(rd) = std::fs::read_dir(&p) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(&p);
        }
    }
}

#[test]
fn cgroup_parent_places_the_group_and_refuses_dot_dot() {
    let d = Daemon::with_busybox();
    let parent = format!("berth-it-parent-{:x}", random_u64());
    let _guard = ParentGuard(parent.clone());
    let evil = format!("berth-it-evil-{:x}", random_u64());
    let _guard2 = ParentGuard(evil.clone());
    for bad in [format!("../{evil}"), format!("{parent}/../../{evil}")] {
        let o = d
            .docker(["run", "--rm", "--cgroup-parent", &bad, "busybox", "true"])
            .run();
        assert_eq!(o.status.code(), Some(125), "{o}");
        assert!(o.stderr.contains("\"..\" is not allowed"), "{o}");
        assert!(o.stderr.contains("cgroup parent"), "{o}");
    }
    let r = http_json(
        &d,
        "POST",
        "/containers/create",
        &format!(r#"{{"Image":"busybox","HostConfig":{{"CgroupParent":"../{evil}"}}}}"#),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(d.docker(["ps", "-aq"]).ok(), "", "nothing created");
    for m in cgroup_mounts() {
        for name in [&evil, &parent] {
            assert!(
                !m.point.join(name).exists() && !m.point.parent().unwrap().join(name).exists(),
                "{name} created near {}",
                m.point.display()
            );
        }
    }
    // A plain parent holds the container's group.
    let id = d
        .docker([
            "run",
            "-d",
            "--cgroup-parent",
            &format!("/{parent}"),
            "--memory",
            "64m",
            "busybox",
            "sleep",
            "1000",
        ])
        .ok()
        .trim()
        .to_string();
    assert_eq!(
        d.inspect_fmt(&id, "{{.HostConfig.CgroupParent}}"),
        format!("/{parent}")
    );
    let pid = d.pid_of(&id);
    let groups = process_groups(pid);
    let mine: Vec<_> = groups.iter().filter(|(_, p, _)| p.contains(&id)).collect();
    assert!(!mine.is_empty(), "{groups:?}");
    for (_, path, _) in &mine {
        assert_eq!(path, &format!("/{parent}/{id}"));
    }
    if unified() {
        assert_eq!(host_file(pid, "memory", "memory.max"), "67108864");
    } else {
        assert_eq!(
            host_file(pid, "memory", "memory.limit_in_bytes"),
            "67108864"
        );
    }
    let dirs: Vec<PathBuf> = mine.iter().map(|(_, _, p)| p.clone()).collect();
    d.docker(["rm", "-f", &id]).ok();
    for p in dirs {
        assert!(!p.exists(), "{} left after rm", p.display());
    }
}

/// The counter the paused-container test's program writes, read through /proc on the
/// host (works while the container is frozen).
fn counter(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/root/tmp/count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn freezer_state(pid: i32) -> String {
    if unified() {
        let dir = host_dir(pid, "freezer");
        let frozen = read_trim(&dir.join("cgroup.events"))
            .lines()
            .any(|l| l == "frozen 1");
        if frozen { "FROZEN" } else { "THAWED" }.to_string()
    } else {
        host_file(pid, "freezer", "freezer.state")
    }
}

#[test]
fn pause_freezes_the_container_and_unpause_resumes_it() {
    let d = Daemon::with_busybox();
    let id = d
        .docker([
            "run",
            "-d",
            "--name",
            "pz",
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.02; done",
        ])
        .ok()
        .trim()
        .to_string();
    let pid = d.pid_of("pz");
    wait_for_within("the counter to run", Duration::from_secs(10), || {
        counter(pid) > 3
    });
    d.docker(["pause", "pz"]).ok();
    assert_eq!(
        d.inspect_fmt(
            "pz",
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"
        ),
        "paused true true"
    );
    assert_eq!(freezer_state(pid), "FROZEN");
    let c1 = counter(pid);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(counter(pid), c1, "the counter advanced while paused");
    let status = d
        .docker(["ps", "--filter", "name=pz", "--format", "{{.Status}}"])
        .ok();
    assert!(
        status.starts_with("Up ") && status.trim_end().ends_with("(Paused)"),
        "{status:?}"
    );
    assert_eq!(
        d.docker(["ps", "-q", "--no-trunc", "--filter", "status=paused"])
            .ok()
            .trim(),
        id
    );
    // No exec into a paused container (Docker's 409 and wording).
    let o = d.docker(["exec", "pz", "true"]).run();
    assert!(!o.success(), "{o}");
    assert!(
        o.stderr
            .contains("is paused, unpause the container before exec"),
        "{o}"
    );
    let r = http_json(
        &d,
        "POST",
        &format!("/containers/{id}/exec"),
        r#"{"Cmd":["true"]}"#,
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        format!("Container {id} is paused, unpause the container before exec").as_str()
    );
    let o = d.docker(["pause", "pz"]).run();
    assert!(
        o.stderr
            .contains(&format!("Container {id} is already paused")),
        "{o}"
    );

    d.docker(["unpause", "pz"]).ok();
    assert_eq!(
        d.inspect_fmt("pz", "{{.State.Status}} {{.State.Paused}}"),
        "running false"
    );
    assert_eq!(freezer_state(pid), "THAWED");
    wait_for_within(
        "the counter to advance again",
        Duration::from_secs(10),
        || counter(pid) > c1,
    );
    let o = d.docker(["unpause", "pz"]).run();
    assert!(
        o.stderr.contains(&format!("Container {id} is not paused")),
        "{o}"
    );

    // A paused container can be stopped.
    d.docker(["pause", "pz"]).ok();
    d.docker(["stop", "-t", "1", "pz"]).ok();
    assert_eq!(
        d.inspect_fmt(
            "pz",
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}} {{.State.ExitCode}}"
        ),
        "exited false false 137"
    );
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

/// `2024-01-02T03:04:05.123Z` as seconds since an arbitrary epoch (days from the
/// date fields, enough to order two nearby timestamps).
fn rfc3339_seconds(t: &str) -> f64 {
    let (date, time) = t.split_once('T').unwrap_or_else(|| panic!("{t:?}"));
    let d: Vec<f64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let time = time.trim_end_matches('Z');
    let h: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    let days = d[0] * 372.0 + d[1] * 31.0 + d[2];
    days * 86400.0 + h[0] * 3600.0 + h[1] * 60.0 + h[2]
}

#[test]
fn exec_into_a_paused_container_names_it_as_given() {
    let d = Daemon::with_busybox();
    d.docker(["run", "-d", "--name", "pz", "busybox", "sleep", "1000"])
        .ok();
    d.docker(["pause", "pz"]).ok();
    let o = d.docker(["exec", "pz", "true"]).run();
    assert!(
        o.stderr.contains(
            "Error response from daemon: Container pz is paused, unpause the container before exec"
        ),
        "{o}"
    );
}

#[test]
fn stats_report_usage_and_the_limits() {
    let d = Daemon::with_busybox();
    let id = d
        .docker([
            "run",
            "-d",
            "--name",
            "st",
            "--memory",
            "64m",
            "--pids-limit",
            "20",
            "busybox",
            "sh",
            "-c",
            "sleep 1000 & sleep 1001 & wait",
        ])
        .ok()
        .trim()
        .to_string();
    let pid = d.pid_of("st");
    wait_for_within("three processes", Duration::from_secs(10), || {
        host_file(pid, "pids", "pids.current") == "3"
    });
    let r = d.http("GET", "/containers/st/stats?stream=false");
    assert_eq!(r.status, 200, "{}", r.text());
    let s = r.json();
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["name"], "/st");
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    assert!(
        cpu["cpu_usage"]["total_usage"].as_u64().unwrap_or(0) > 0,
        "{cpu}"
    );
    let sys = cpu["system_cpu_usage"].as_u64().unwrap_or(0);
    let pre_sys = pre["system_cpu_usage"].as_u64().unwrap_or(0);
    assert!(sys > 0 && pre_sys > 0 && pre_sys <= sys, "{cpu} / {pre}");
    assert_eq!(cpu["online_cpus"].as_u64(), Some(online_cpus() as u64));
    assert!(pre["cpu_usage"]["total_usage"].is_u64(), "{pre}");
    assert_eq!(s["memory_stats"]["limit"].as_u64(), Some(64 << 20));
    assert!(s["memory_stats"]["usage"].as_u64().unwrap_or(0) > 0);
    assert_eq!(s["pids_stats"]["current"].as_u64(), Some(3));
    assert_eq!(s["pids_stats"]["limit"].as_u64(), Some(20));
    assert!(s["read"].as_str().is_some_and(|t| t.ends_with('Z')));
    let (pre_t, read_t) = (
        rfc3339_seconds(s["preread"].as_str().unwrap()),
        rfc3339_seconds(s["read"].as_str().unwrap()),
    );
    assert!(pre_t < read_t, "preread before read: {s}");
    let usage = d
        .docker(["stats", "--no-stream", "--format", "{{.MemUsage}}", "st"])
        .ok();
    assert!(usage.trim_end().ends_with(" / 64MiB"), "{usage:?}");
    let pids = d
        .docker(["stats", "--no-stream", "--format", "{{.PIDs}}", "st"])
        .ok();
    assert_eq!(pids.trim(), "3");
}

#[test]
fn top_lists_the_processes_with_host_pids() {
    let d = Daemon::with_busybox();
    let id = d
        .docker([
            "run",
            "-d",
            "--name",
            "tp",
            "busybox",
            "sh",
            "-c",
            "sleep 1000 & wait",
        ])
        .ok()
        .trim()
        .to_string();
    let pid = d.pid_of("tp");
    let mut rows: Vec<Vec<String>> = Vec::new();
    wait_for_within("two processes in top", Duration::from_secs(10), || {
        let out = d.docker(["top", "tp"]).ok();
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].split_whitespace().collect::<Vec<_>>()
                == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            "{out}"
        );
        rows = lines[1..]
            .iter()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect();
        rows.len() == 2
    });
    assert_eq!(rows[0][1], pid.to_string(), "{rows:?}");
    assert_eq!(rows[0][0], "root");
    assert_eq!(rows[0][7..].join(" "), "sh -c sleep 1000 & wait");
    assert_eq!(
        rows[1][2],
        pid.to_string(),
        "the sleep is the shell's child"
    );
    assert_eq!(rows[1][7..].join(" "), "sleep 1000");
    // Host pids: the host's /proc knows them as these programs.
    let cmdline = |p: &str| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default()
    };
    assert_eq!(cmdline(&rows[1][1]).trim(), "sleep 1000");
    assert_eq!(cmdline(&rows[0][1]).trim(), "sh -c sleep 1000 & wait");
    let r = d.http("GET", "/containers/tp/top");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["Titles"][1], "PID");
    assert_eq!(v["Processes"][0][1], pid.to_string().as_str());
    assert_eq!(v["Processes"].as_array().map(Vec::len), Some(2));
    // ps options select the columns.
    let out = d.docker(["top", "tp", "-o", "pid,comm"]).ok();
    assert_eq!(
        berth_it::lines(&out)
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        [
            "PID COMMAND".to_string(),
            format!("{pid} sh"),
            format!("{} sleep", rows[1][1])
        ]
    );

    d.docker(["stop", "-t", "0", "tp"]).ok();
    let o = d.docker(["top", "tp"]).run();
    assert!(!o.success(), "{o}");
    assert!(
        o.stderr.contains(&format!(
            "Error response from daemon: Container {id} is not running"
        )),
        "{o}"
    );
    let r = d.http("GET", "/containers/tp/top");
    assert_eq!(r.status, 409, "{}", r.text());
}
