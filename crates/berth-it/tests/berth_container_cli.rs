//! The berth CLI's container commands next to docker's, against the same berthd:
//! exec, top, stats, pause/unpause, restart, rename, update, port, container prune,
//! attach, and the resource and device flags of run/create.
//!
//! The usage and flag errors only need a daemon to ping. The other tests need the
//! daemon's exec, top, stats, pause, restart, rename, update and prune endpoints.

use berth_it::{wait_for, Daemon, Out};

/// Output with the program's name taken out, so that docker's and berth's compare.
fn neutral(s: &str) -> String {
    s.replace("docker", "X")
        .replace("Docker", "X")
        .replace("berth", "X")
}

/// Runs the same command line with docker and berth and checks that stdout, stderr
/// and the exit code agree.
fn same(d: &Daemon, args: &[&str]) -> Out {
    let k = d.docker(args).run();
    let b = d.berth(args).run();
    assert_eq!(
        (neutral(&b.stdout), neutral(&b.stderr), b.status.code()),
        (neutral(&k.stdout), neutral(&k.stderr), k.status.code()),
        "berth {args:?} vs docker\n--- berth\n{b}\n--- docker\n{k}"
    );
    b
}

#[test]
fn usage_and_flag_errors_match_docker() {
    let d = Daemon::with_busybox();
    for args in [
        &["exec"][..],
        &["exec", "ctr"],
        &["top"],
        &["pause"],
        &["unpause"],
        &["restart"],
        &["rename", "a"],
        &["update", "ctr"],
        &["port"],
        &["port", "a", "b", "ctr"],
        &["attach"],
        &["container", "prune", "x"],
        &["container", "prune", "-f", "--filter", "bad"],
        &["run", "--memory", "abc", "busybox"],
        &["run", "-m", "12q", "busybox"],
        &["run", "--memory-swap", "x", "busybox"],
        &["run", "--cpus", "abc", "busybox"],
        &["run", "--blkio-weight", "70000", "busybox"],
        &["run", "--health-interval", "10", "busybox"],
        &["run", "--pids-limit", "x", "busybox"],
        &["run", "--dns", "8.8", "busybox"],
        &["run", "--add-host", "foo", "busybox"],
        &["run", "--sysctl", "kernel.foo=1", "busybox"],
        &["run", "--mount", "type=bind,src=/a", "busybox"],
        &["run", "--device-read-bps", "sda:1", "busybox"],
        &["run", "--memory-swappiness", "200", "busybox"],
        &["run", "-p", "x:80", "busybox"],
        &["run", "--expose", "80:90", "busybox"],
        &["run", "--device", "/dev/sda:x:r", "busybox"],
        &["run", "--no-healthcheck", "--health-cmd", "x", "busybox"],
        &["run", "--userns", "foo", "busybox"],
        &["run", "--cpu-count", "2", "busybox"],
        &["update", "--memory", "abc", "ctr"],
        &["exec", "--env-file", "/nonexistent", "ctr", "true"],
    ] {
        let out = same(&d, args);
        assert!(!out.success(), "{args:?} should fail: {out}");
    }
}

/// What the daemon made of a create request: the fields the flags set.
const CREATED: &str = "{{json .HostConfig.Memory}} {{json .HostConfig.MemorySwap}} \
{{json .HostConfig.MemoryReservation}} {{json .HostConfig.NanoCpus}} {{json .HostConfig.CpuShares}} \
{{json .HostConfig.CpuPeriod}} {{json .HostConfig.CpuQuota}} {{json .HostConfig.CpusetCpus}} \
{{json .HostConfig.PidsLimit}} {{json .HostConfig.BlkioWeight}} {{json .HostConfig.Devices}} \
{{json .HostConfig.OomScoreAdj}} {{json .HostConfig.CgroupParent}} {{json .HostConfig.Binds}} \
{{json .HostConfig.PortBindings}} {{json .HostConfig.Dns}} {{json .HostConfig.ExtraHosts}} \
{{json .Config.Healthcheck}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}}";

#[test]
fn create_flags_reach_the_daemon_like_dockers() {
    let d = Daemon::with_busybox();
    let flags = [
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "--memory-reservation",
        "32m",
        "--cpus",
        "1.5",
        "-c",
        "512",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "50",
        "--blkio-weight",
        "300",
        "--device",
        "/dev/null:/dev/mynull:r",
        "--oom-score-adj",
        "100",
        "--cgroup-parent",
        "berth-test",
        "-v",
        "/tmp:/data:ro",
        "-v",
        "/anon",
        "-p",
        "127.0.0.1:8080:80",
        "--expose",
        "90/udp",
        "--dns",
        "192.0.2.1",
        "--add-host",
        "h:192.0.2.2",
        "--health-cmd",
        "true",
        "--health-interval",
        "30s",
        "--health-retries",
        "2",
    ];
    let create = |cli: &str, name: &str| {
        let mut args = vec!["create", "--name", name];
        args.extend(flags);
        args.extend(["busybox", "true"]);
        if cli == "docker" {
            d.docker(&args).ok()
        } else {
            d.berth(&args).ok()
        }
    };
    create("docker", "by-docker");
    create("berth", "by-berth");
    let k = d.docker(["inspect", "-f", CREATED, "by-docker"]).ok();
    let b = d.docker(["inspect", "-f", CREATED, "by-berth"]).ok();
    assert_eq!(b, k, "the same flags, as the daemon stored them");
    assert!(k.contains("67108864"), "{k}");
}

#[test]
fn exec_matches_docker() {
    let d = Daemon::with_busybox();
    d.docker(["run", "-d", "--name", "ctr", "busybox", "sleep", "300"])
        .ok();
    same(&d, &["exec", "ctr", "echo", "hi"]);
    same(&d, &["exec", "ctr", "sh", "-c", "exit 3"]);
    same(&d, &["exec", "ctr", "ls", "/nonexistent"]);
    same(
        &d,
        &[
            "exec",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "-u",
            "nobody",
            "ctr",
            "sh",
            "-c",
            "echo $A $(pwd) $(id -u)",
        ],
    );
    same(&d, &["exec", "ctr", "echo", "--", "-d"]);
    same(&d, &["exec", "nope", "true"]);
    same(&d, &["exec", "-it", "ctr", "true"]);
    same(&d, &["exec", "-d", "ctr", "true"]);
    let b = d
        .berth(["exec", "-i", "ctr", "cat"])
        .stdin_bytes("piped\n")
        .run();
    assert_eq!(
        (b.stdout.as_str(), b.status.code()),
        ("piped\n", Some(0)),
        "{b}"
    );
    // Standard error stays separate without a TTY.
    let b = d.berth(["exec", "ctr", "sh", "-c", "echo err >&2"]).run();
    assert_eq!((b.stdout.as_str(), b.stderr.as_str()), ("", "err\n"), "{b}");
    d.docker(["rm", "-f", "ctr"]).ok();
}

#[test]
fn top_pause_restart_rename_update_and_port_match_docker() {
    let d = Daemon::with_busybox();
    d.docker(["run", "-d", "--name", "ctr", "busybox", "sleep", "300"])
        .ok();
    let top = same(&d, &["top", "ctr", "-o", "pid,comm"]);
    assert!(top.stdout.contains("sleep"), "{top}");
    same(&d, &["top", "nope"]);

    let b = d.berth(["pause", "ctr"]).ok();
    assert_eq!(b, "ctr\n");
    let status = || d.docker(["inspect", "-f", "{{.State.Status}}", "ctr"]).ok();
    assert_eq!(status().trim(), "paused");
    same(&d, &["attach", "ctr"]);
    // Pausing again fails the same way with both.
    same(&d, &["pause", "ctr"]);
    assert_eq!(d.berth(["unpause", "ctr"]).ok(), "ctr\n");
    assert_eq!(status().trim(), "running");
    same(&d, &["unpause", "ctr", "nope"]);

    let started = || {
        d.docker(["inspect", "-f", "{{.State.StartedAt}}", "ctr"])
            .ok()
    };
    let before = started();
    assert_eq!(d.berth(["restart", "-t", "0", "ctr"]).ok(), "ctr\n");
    assert_ne!(started(), before, "restart starts the container again");
    same(&d, &["restart", "nope"]);

    d.berth(["rename", "ctr", "ctr2"]).ok();
    assert_eq!(d.docker(["ps", "--format", "{{.Names}}"]).ok(), "ctr2\n");
    same(&d, &["rename", "nope", "x"]);
    same(&d, &["rename", "ctr2", " "]);

    let out = d
        .berth(["update", "--memory", "64m", "--pids-limit", "20", "ctr2"])
        .ok();
    assert!(out.starts_with("ctr2\n"), "{out}");
    assert_eq!(
        d.docker([
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            "ctr2"
        ])
        .ok(),
        "67108864 20\n"
    );
    same(&d, &["update", "--cpus", "0.5", "nope"]);

    same(&d, &["port", "ctr2"]);
    same(&d, &["port", "ctr2", "80"]);
    same(&d, &["port", "ctr2", "abc"]);
    d.docker(["rm", "-f", "ctr2"]).ok();
}

#[test]
fn container_prune_matches_docker() {
    let d = Daemon::with_busybox();
    for name in ["p1", "p2"] {
        d.docker(["run", "--name", name, "busybox", "true"]).ok();
    }
    d.docker(["run", "-d", "--name", "alive", "busybox", "sleep", "300"])
        .ok();
    let out = d.berth(["container", "prune", "-f"]).ok();
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains("\n\nTotal reclaimed space: "), "{out}");
    assert_eq!(out.lines().filter(|l| l.len() == 64).count(), 2, "{out}");
    assert_eq!(
        d.docker(["ps", "-a", "--format", "{{.Names}}"]).ok(),
        "alive\n"
    );
    // Nothing left to prune: both print the same.
    same(&d, &["container", "prune", "-f"]);
    // A declined prompt prints the question and exits 0.
    let b = d.berth(["container", "prune"]).stdin_bytes("n\n").run();
    let k = d.docker(["container", "prune"]).stdin_bytes("n\n").run();
    assert_eq!((b.stdout, b.status.code()), (k.stdout, k.status.code()));
    d.docker(["rm", "-f", "alive"]).ok();
}

#[test]
fn stats_no_stream_matches_docker() {
    let d = Daemon::with_busybox();
    d.docker(["run", "-d", "--name", "s1", "busybox", "sleep", "300"])
        .ok();
    d.docker(["create", "--name", "s2", "busybox", "true"]).ok();
    // Values move between two samples; names, IDs and the layout do not.
    let fmt = "table {{.Name}}\t{{.ID}}\t{{.Container}}";
    same(&d, &["stats", "--no-stream", "--format", fmt]);
    same(&d, &["stats", "--no-stream", "-a", "--format", fmt]);
    same(
        &d,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}}",
            "s1",
        ],
    );
    same(
        &d,
        &[
            "stats",
            "--no-stream",
            "--no-trunc",
            "--format",
            "{{.ID}}",
            "s1",
        ],
    );
    same(&d, &["stats", "--no-stream", "nope"]);
    same(&d, &["stats", "--no-stream", "--format", "{{.Bad}}", "s1"]);
    let b = d.berth(["stats", "--no-stream", "s1"]).ok();
    let header = b.lines().next().unwrap_or("");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>().join(" "),
        "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS"
    );
    // A stopped container has no figures: docker shows zeroes.
    same(
        &d,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.MemUsage}} {{.CPUPerc}}",
            "s2",
        ],
    );
    d.docker(["rm", "-f", "s1", "s2"]).ok();
}

#[test]
fn attach_follows_output_and_exit_code() {
    let d = Daemon::with_busybox();
    d.docker([
        "run",
        "-d",
        "--name",
        "att",
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo line; exit 3",
    ])
    .ok();
    wait_for("the container to run", || {
        d.docker(["inspect", "-f", "{{.State.Running}}", "att"])
            .ok()
            .trim()
            == "true"
    });
    let b = d.berth(["attach", "--no-stdin", "att"]).run();
    assert_eq!(
        (b.stdout.as_str(), b.status.code()),
        ("line\n", Some(3)),
        "{b}"
    );
    same(&d, &["attach", "att"]);
    same(&d, &["attach", "nope"]);
    d.docker(["rm", "-f", "att"]).ok();
}
