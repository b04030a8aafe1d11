//! Container lifecycle and settings through the real docker CLI: terminals and resize,
//! rename, restart, prune, namespaces shared with other containers, capabilities,
//! sysctls, supplementary groups, the `none` log driver, devices and the device cgroup,
//! the OOM score, and sizes in inspect.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_it::{unix_now, urlencode, wait_for, Daemon, HttpResponse};
use serde_json::Value;

fn post(d: &Daemon, path: &str) -> HttpResponse {
    d.http("POST", path)
}

/// `docker run --rm <opts> busybox sh -c <script>`, asserting success.
fn run_sh(d: &Daemon, opts: &[&str], script: &str) -> String {
    let o = d
        .docker(["run", "--rm"])
        .args(opts)
        .args(["busybox", "sh", "-c", script])
        .run();
    assert!(o.success(), "{o}");
    o.stdout
}

/// Container events between `since` and one second from now (the call waits for it).
fn events(d: &Daemon, since: u64, filters: &str) -> Vec<Value> {
    let until = unix_now() + 1;
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
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until the next wall-clock second starts and returns it, so that events of
/// the previous second are not "since" it.
fn next_second() -> u64 {
    let now = unix_now();
    while unix_now() == now {
        std::thread::sleep(Duration::from_millis(10));
    }
    unix_now()
}

#[test]
fn run_with_a_tty_prints_and_logs_terminal_output() {
    let d = Daemon::with_busybox();
    let o = d
        .docker([
            "run",
            "-t",
            "--name",
            "tt",
            "busybox",
            "sh",
            "-c",
            "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty; echo err >&2",
        ])
        .run();
    assert!(o.success(), "{o}");
    // One terminal: stderr arrives on stdout, with the terminal's \r\n.
    assert_eq!(o.stdout, "/dev/pts/0\r\nall-tty\r\nerr\r\n");
    assert_eq!(o.stderr, "");
    let logs = d.docker(["logs", "tt"]).run();
    assert_eq!(logs.stdout, "/dev/pts/0\r\nall-tty\r\nerr\r\n", "{logs}");
    assert_eq!(logs.stderr, "");
    assert_eq!(d.inspect_fmt("tt", "{{.Config.Tty}}"), "true");
    // Without -t: no terminal.
    let o = d.docker(["run", "--rm", "busybox", "tty"]).run();
    assert_eq!(o.stdout, "not a tty\n", "{o}");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn resize_changes_the_terminal_size_inside() {
    let d = Daemon::with_busybox();
    let id = d
        .docker([
            "run",
            "-d",
            "-t",
            "busybox",
            "sh",
            "-c",
            "sleep 1; stty size",
        ])
        .ok()
        .trim()
        .to_string();
    let r = post(&d, &format!("/containers/{id}/resize?h=40&w=100"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(d.docker(["wait", &id]).ok().trim(), "0");
    assert_eq!(d.docker(["logs", &id]).ok(), "40 100\r\n");
    // Resizing a container that does not run is Docker's 409.
    let r = post(&d, &format!("/containers/{id}/resize?h=40&w=100"));
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        format!("Container {id} is not running").as_str()
    );
    let r = post(&d, "/containers/no-such-container/resize?h=1&w=1");
    assert_eq!(r.status, 404, "{}", r.text());
    // Bad numbers are refused.
    let id = d
        .docker(["run", "-d", "-t", "busybox", "sleep", "1000"])
        .ok()
        .trim()
        .to_string();
    let r = post(&d, &format!("/containers/{id}/resize?h=x&w=100"));
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn rename_moves_the_name() {
    let d = Daemon::with_busybox();
    let id = d
        .docker(["run", "-d", "--name", "old", "busybox", "sleep", "1000"])
        .ok()
        .trim()
        .to_string();
    let other = d
        .docker(["run", "-d", "--name", "other", "busybox", "sleep", "1000"])
        .ok()
        .trim()
        .to_string();
    let since = next_second();
    d.docker(["rename", "old", "new"]).ok();
    assert_eq!(
        d.inspect_fmt("new", "{{.Id}} {{.Name}}"),
        format!("{id} /new")
    );
    assert_eq!(
        d.docker(["exec", "new", "echo", "via new"]).ok(),
        "via new\n"
    );
    let r = d.http("GET", "/containers/old/json");
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()["message"], "No such container: old");
    let o = d.docker(["inspect", "old"]).run();
    assert!(o.stderr.contains("No such object: old"), "{o}");
    // The old name is free again.
    d.docker(["create", "--name", "old", "busybox", "true"])
        .ok();
    let ev = events(&d, since, r#"{"event":["rename"]}"#);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["Actor"]["ID"], id.as_str());
    assert_eq!(ev[0]["Actor"]["Attributes"]["name"], "new");
    assert_eq!(ev[0]["Actor"]["Attributes"]["oldName"], "/old");

    // A name in use: 409 naming the holder.
    let r = post(&d, "/containers/new/rename?name=other");
    assert_eq!(r.status, 409, "{}", r.text());
    let msg = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains(&format!(
            "Conflict. The container name \"/other\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
        )),
        "{msg}"
    );
    let o = d.docker(["rename", "new", "other"]).run();
    assert!(!o.success(), "{o}");
    assert!(o.stderr.contains("is already in use by container"), "{o}");
    assert!(
        o.stderr
            .contains("Error: failed to rename container named new"),
        "{o}"
    );
    // Invalid names and no-ops: 400.
    for (q, want) in [
        ("a@b", "Invalid container name"),
        ("-bad", "Invalid container name"),
        ("", "Neither old nor new names may be empty"),
        (
            "new",
            "Renaming a container with the same name as its current name",
        ),
    ] {
        let r = post(&d, &format!("/containers/new/rename?name={}", urlencode(q)));
        assert_eq!(r.status, 400, "{q:?}: {}", r.text());
        assert!(
            r.json()["message"].as_str().unwrap().contains(want),
            "{q:?}: {}",
            r.text()
        );
    }
    let r = post(&d, "/containers/no-such-container/rename?name=zz");
    assert_eq!(r.status, 404);
    assert_eq!(d.inspect_fmt(&id, "{{.Name}}"), "/new", "nothing changed");
}

#[test]
fn rename_errors_use_dockers_wording() {
    let d = Daemon::with_busybox();
    d.docker(["run", "-d", "--name", "old", "busybox", "sleep", "1000"])
        .ok();
    let other = d
        .docker(["create", "--name", "other", "busybox", "true"])
        .ok()
        .trim()
        .to_string();
    let r = post(&d, "/containers/old/rename?name=other");
    assert_eq!(
        r.json()["message"],
        format!(
            "Error when allocating new name: Conflict. The container name \"/other\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
        )
        .as_str()
    );
    let r = post(&d, "/containers/old/rename?name=a%40b");
    assert_eq!(
        r.json()["message"],
        "Error when allocating new name: Invalid container name (/a@b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    );
}

#[test]
fn restart_runs_a_new_process_without_counting_a_restart() {
    let d = Daemon::with_busybox();
    let id = d
        .docker([
            "run",
            "-d",
            "--name",
            "rs",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do sleep 0.1; done",
        ])
        .ok()
        .trim()
        .to_string();
    let pid1 = d.pid_of("rs");
    let started1 = d.inspect_fmt("rs", "{{.State.StartedAt}}");
    let since = next_second();
    d.docker(["restart", "-t", "1", "rs"]).ok();
    let pid2 = d.pid_of("rs");
    assert_ne!(pid1, pid2);
    assert!(!Path::new(&format!("/proc/{pid1}")).exists());
    assert!(Path::new(&format!("/proc/{pid2}")).exists());
    assert_eq!(
        d.inspect_fmt(
            "rs",
            "{{.State.Status}} {{.State.Running}} {{.RestartCount}} {{.State.ExitCode}}"
        ),
        "running true 0 0"
    );
    assert_ne!(d.inspect_fmt("rs", "{{.State.StartedAt}}"), started1);
    let ev = events(&d, since, &format!(r#"{{"container":["{id}"]}}"#));
    let actions: Vec<&str> = ev
        .iter()
        .filter_map(|e| e["Action"].as_str())
        .filter(|a| *a != "kill")
        .collect();
    assert_eq!(actions, ["die", "stop", "start", "restart"], "{ev:?}");
    // The trap ran: a clean exit 0 was recorded for the die.
    assert_eq!(
        ev.iter().find(|e| e["Action"] == "die").unwrap()["Actor"]["Attributes"]["exitCode"],
        "0"
    );
    // Restarting a stopped container starts it.
    d.docker(["stop", "-t", "1", "rs"]).ok();
    d.docker(["restart", "-t", "1", "rs"]).ok();
    assert_eq!(
        d.inspect_fmt("rs", "{{.State.Status}} {{.RestartCount}}"),
        "running 0"
    );
}

#[test]
fn restart_emits_the_kill_event_first() {
    let d = Daemon::with_busybox();
    let id = d
        .docker([
            "run",
            "-d",
            "--name",
            "rs",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do sleep 0.1; done",
        ])
        .ok()
        .trim()
        .to_string();
    let since = next_second();
    d.docker(["restart", "-t", "1", "rs"]).ok();
    let ev = events(&d, since, &format!(r#"{{"container":["{id}"]}}"#));
    let actions: Vec<&str> = ev.iter().filter_map(|e| e["Action"].as_str()).collect();
    assert_eq!(
        actions,
        ["kill", "die", "stop", "start", "restart"],
        "{ev:?}"
    );
    assert_eq!(ev[0]["Actor"]["Attributes"]["signal"], "15");
}

#[test]
fn container_prune_removes_only_stopped_containers() {
    let d = Daemon::with_busybox();
    let running = d
        .docker(["run", "-d", "--name", "keep", "busybox", "sleep", "1000"])
        .ok()
        .trim()
        .to_string();
    let mut stopped = Vec::new();
    for name in ["ex1", "ex2"] {
        let id = d
            .docker(["run", "-d", "--name", name, "busybox", "true"])
            .ok()
            .trim()
            .to_string();
        d.docker(["wait", &id]).ok();
        stopped.push(id);
    }
    stopped.push(
        d.docker(["create", "--name", "created", "busybox", "true"])
            .ok()
            .trim()
            .to_string(),
    );
    let out = d.docker(["container", "prune", "-f"]).ok();
    let lines = berth_it::lines(&out);
    assert_eq!(lines[0], "Deleted Containers:", "{out}");
    let mut deleted: Vec<String> = lines[1..lines.len() - 1].to_vec();
    deleted.sort();
    stopped.sort();
    assert_eq!(deleted, stopped, "{out}");
    assert!(
        lines.last().unwrap().starts_with("Total reclaimed space: "),
        "{out}"
    );
    assert_eq!(
        d.docker(["ps", "-a", "-q", "--no-trunc"]).ok().trim(),
        running
    );
    for id in &stopped {
        assert!(!d.data_root.join("containers").join(id).exists());
    }
    // Nothing left to prune.
    let r = post(&d, "/containers/prune");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert!(
        v["ContainersDeleted"].is_null()
            || v["ContainersDeleted"].as_array().is_some_and(Vec::is_empty),
        "{v}"
    );
    assert_eq!(v["SpaceReclaimed"], 0);
}

fn ns(pid: i32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn namespaces_are_shared_with_a_running_container() {
    let d = Daemon::with_busybox();
    let id = d
        .docker(["run", "-d", "--name", "host1", "busybox", "sleep", "1000"])
        .ok()
        .trim()
        .to_string();
    let pid = d.pid_of("host1");
    let script = "for n in pid ipc net mnt uts; do echo $n $(readlink /proc/self/ns/$n); done";
    let joined = run_sh(
        &d,
        &[
            "--pid",
            "container:host1",
            "--ipc",
            "container:host1",
            "--network",
            "container:host1",
        ],
        script,
    );
    let alone = run_sh(&d, &[], script);
    let map = |out: &str| -> Vec<(String, String)> {
        out.lines()
            .map(|l| {
                let (k, v) = l.split_once(' ').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    };
    for (kind, link) in map(&joined) {
        if matches!(kind.as_str(), "pid" | "ipc" | "net") {
            assert_eq!(link, ns(pid, &kind), "{kind} shared");
        } else {
            assert_ne!(link, ns(pid, &kind), "{kind} stays private");
        }
    }
    for (kind, link) in map(&alone) {
        assert_ne!(link, ns(pid, &kind), "{kind} of an independent container");
    }
    // In the shared pid namespace the other container's process is visible as 1.
    let ps = run_sh(
        &d,
        &["--pid", "container:host1"],
        "cat /proc/1/cmdline | tr '\\0' ' '",
    );
    assert_eq!(ps.trim(), "sleep 1000");
    // The same by id, through an IPC object: a shared memory segment is seen by both.
    let o = d
        .docker([
            "run",
            "--rm",
            "--ipc",
            &format!("container:{id}"),
            "busybox",
            "sh",
            "-c",
            "cat /proc/sys/kernel/shmmni >/dev/null && readlink /proc/self/ns/ipc",
        ])
        .ok();
    assert_eq!(o.trim(), ns(pid, "ipc"));

    // A container that does not run cannot be joined.
    d.docker(["stop", "-t", "0", "host1"]).ok();
    for (flag, what) in [("--pid", "PID"), ("--ipc", "IPC"), ("--network", "network")] {
        let o = d
            .docker(["run", "--rm", flag, "container:host1", "busybox", "true"])
            .run();
        assert_eq!(o.status.code(), Some(125), "{o}");
        assert!(o.stderr.contains(&id), "{o}");
        if what == "network" {
            assert!(
                o.stderr.contains(&format!(
                    "cannot join network of a non running container: {id}"
                )),
                "{o}"
            );
        } else {
            assert!(
                o.stderr.contains("non running container") || o.stderr.contains("is not running"),
                "{o}"
            );
        }
    }
}

#[test]
fn joining_a_missing_container_is_not_mistaken_for_a_missing_image() {
    let d = Daemon::with_busybox();
    for flag in ["--pid", "--ipc"] {
        let o = d
            .docker(["run", "--rm", flag, "container:no-such", "busybox", "true"])
            .run();
        assert_eq!(o.status.code(), Some(125), "{o}");
        assert!(o.stderr.contains("No such container: no-such"), "{o}");
        assert!(!o.stderr.contains("Unable to find image"), "{o}");
    }
    let o = d
        .docker([
            "run",
            "--rm",
            "--network",
            "container:no-such",
            "busybox",
            "true",
        ])
        .run();
    assert!(!o.success(), "{o}");
    assert!(!o.stderr.contains("Unable to find image"), "{o}");
    assert!(o.stderr.contains("no-such"), "{o}");
}

fn status_field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in {out:?}"))
}

#[test]
fn capabilities_sysctls_groups_and_oom_score() {
    let d = Daemon::with_busybox();
    let st = run_sh(
        &d,
        &[
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CHOWN",
            "--cap-add",
            "KILL",
        ],
        "cat /proc/self/status",
    );
    // CAP_CHOWN (0) and CAP_KILL (5).
    assert_eq!(status_field(&st, "CapEff"), "0000000000000021");
    assert_eq!(status_field(&st, "CapPrm"), "0000000000000021");
    assert_eq!(status_field(&st, "CapBnd"), "0000000000000021");
    // Without CAP_NET_RAW etc.: what was dropped is really gone.
    let o = d
        .docker([
            "run",
            "--rm",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CHOWN",
            "busybox",
            "sh",
            "-c",
            "chown 1:1 /tmp && mknod /tmp/n c 1 3",
        ])
        .run();
    assert!(!o.success(), "{o}");
    assert!(o.stderr.contains("Operation not permitted"), "{o}");
    // Dropping one from the default set.
    let st = run_sh(&d, &["--cap-drop", "CHOWN"], "cat /proc/self/status");
    assert_eq!(status_field(&st, "CapEff"), "00000000a80425fa");

    assert_eq!(
        run_sh(
            &d,
            &["--sysctl", "net.core.somaxconn=1234"],
            "cat /proc/sys/net/core/somaxconn"
        ),
        "1234\n"
    );
    // The host keeps its own value.
    assert_ne!(
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .unwrap()
            .trim(),
        "1234"
    );
    let o = d
        .docker([
            "run",
            "--rm",
            "--sysctl",
            "kernel.no_such=1",
            "busybox",
            "true",
        ])
        .run();
    assert!(!o.success(), "{o}");

    assert_eq!(
        run_sh(
            &d,
            &["--group-add", "nobody"],
            "id; grep ^Groups: /proc/self/status"
        ),
        "uid=0(root) gid=0(root) groups=0(root),65534(nobody)\nGroups:\t0 65534 \n"
    );
    assert_eq!(run_sh(&d, &["--group-add", "4242"], "id -G"), "0 4242\n");

    assert_eq!(
        run_sh(
            &d,
            &["--oom-score-adj", "500"],
            "cat /proc/self/oom_score_adj"
        ),
        "500\n"
    );
    assert_eq!(run_sh(&d, &[], "cat /proc/self/oom_score_adj"), "0\n");
    let o = d
        .docker(["run", "--rm", "--oom-score-adj", "1001", "busybox", "true"])
        .run();
    assert_eq!(o.status.code(), Some(125), "{o}");
}

#[test]
fn oom_score_adj_out_of_range_is_refused_at_create() {
    let d = Daemon::with_busybox();
    let o = d
        .docker(["run", "--rm", "--oom-score-adj", "1001", "busybox", "true"])
        .run();
    assert_eq!(o.status.code(), Some(125), "{o}");
    assert!(
        o.stderr.contains(
            "Error response from daemon: Invalid value 1001, range for oom score adj is [-1000, 1000]"
        ),
        "{o}"
    );
    let r = berth_it::http::request(
        &d.socket,
        "POST",
        "/containers/create",
        &[("Content-Type", "application/json")],
        Some(br#"{"Image":"busybox","HostConfig":{"OomScoreAdj":-1001}}"#),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "Invalid value -1001, range for oom score adj is [-1000, 1000]"
    );
    assert_eq!(d.docker(["ps", "-aq"]).ok(), "", "nothing created");
}

#[test]
fn log_driver_none_keeps_no_logs() {
    let d = Daemon::with_busybox();
    // Attached output still reaches the client.
    let o = d
        .docker([
            "run",
            "--name",
            "quiet",
            "--log-driver",
            "none",
            "busybox",
            "echo",
            "hi",
        ])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "hi\n");
    assert_eq!(
        d.inspect_fmt("quiet", "{{.HostConfig.LogConfig.Type}}"),
        "none"
    );
    let o = d.docker(["logs", "quiet"]).run();
    assert!(!o.success(), "{o}");
    assert!(
        o.stderr.contains(
            "Error response from daemon: configured logging driver does not support reading"
        ),
        "{o}"
    );
    // Nothing was written anywhere.
    let id = d.inspect_fmt("quiet", "{{.Id}}");
    let log = d
        .data_root
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    assert_eq!(std::fs::read(&log).unwrap_or_default(), b"");
    let o = d
        .docker([
            "run",
            "--rm",
            "--log-driver",
            "no-such-driver",
            "busybox",
            "true",
        ])
        .run();
    assert!(!o.success(), "{o}");
    assert!(o.stderr.contains("no-such-driver"), "{o}");
}

#[test]
fn log_driver_none_has_no_log_path() {
    let d = Daemon::with_busybox();
    d.docker([
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "true",
    ])
    .ok();
    assert_eq!(d.inspect_fmt("quiet", "{{.LogPath}}"), "");
    let id = d.inspect_fmt("quiet", "{{.Id}}");
    let dir = d.data_root.join("containers").join(&id);
    assert!(!dir.join(format!("{id}-json.log")).exists());
}

#[test]
fn devices_and_the_device_cgroup() {
    let d = Daemon::with_busybox();
    let out = run_sh(
        &d,
        &["--device", "/dev/null:/dev/mynull"],
        "stat -c '%F %t:%T' /dev/mynull; echo data > /dev/mynull && head -c 5 /dev/mynull | wc -c",
    );
    assert_eq!(out, "character special file 1:3\n0\n");
    // Without --device there is no such node.
    let o = d
        .docker(["run", "--rm", "busybox", "ls", "/dev/mynull"])
        .run();
    assert!(!o.success(), "{o}");
    // mknod is allowed, but the device cgroup refuses to open what it was not given:
    // a block device (loop0)…
    let o = d
        .docker([
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "mknod /tmp/b b 7 0 && stat -c '%F %t:%T' /tmp/b && head -c1 /tmp/b",
        ])
        .run();
    assert!(!o.success(), "{o}");
    assert_eq!(o.stdout, "block special file 7:0\n", "{o}");
    assert!(
        o.stderr.contains("head: /tmp/b: Operation not permitted"),
        "{o}"
    );
    // …or a character device outside Docker's default list (/dev/mem, 1:1).
    let o = d
        .docker([
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "mknod /tmp/m c 1 1 && head -c1 /tmp/m",
        ])
        .run();
    assert!(!o.stderr.is_empty() && !o.success(), "{o}");
    assert!(o.stderr.contains("Operation not permitted"), "{o}");
    // The default devices work.
    assert_eq!(
        run_sh(
            &d,
            &[],
            "head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c"
        ),
        "4\n4\n"
    );
    // A node made for a device given with --device is usable.
    let o = d
        .docker([
            "run",
            "--rm",
            "--device",
            "/dev/zero:/dev/myzero",
            "busybox",
            "sh",
            "-c",
            "head -c 3 /dev/myzero | wc -c",
        ])
        .ok();
    assert_eq!(o, "3\n");
    let o = d
        .docker([
            "run",
            "--rm",
            "--device",
            "/etc/hostname",
            "busybox",
            "true",
        ])
        .run();
    assert!(!o.success(), "a regular file is not a device: {o}");
}

#[test]
fn inspect_size_counts_the_containers_writes() {
    let d = Daemon::with_busybox();
    d.docker([
        "run",
        "-d",
        "--name",
        "sz",
        "busybox",
        "sh",
        "-c",
        "head -c 1048576 /dev/zero > /big && touch /ready; sleep 1000",
    ])
    .ok();
    let pid = d.pid_of("sz");
    wait_for("the 1 MB file", || {
        Path::new(&format!("/proc/{pid}/root/ready")).exists()
    });
    let image_size: u64 = d.fmt("busybox", "{{.Size}}").parse().unwrap();
    let v: Value = serde_json::from_str(&d.docker(["inspect", "--size", "sz"]).ok()).unwrap();
    let size_rw = v[0]["SizeRw"]
        .as_u64()
        .unwrap_or_else(|| panic!("{}", v[0]));
    let size_root = v[0]["SizeRootFs"].as_u64().unwrap();
    assert_eq!(size_rw, 1_048_576);
    assert_eq!(size_root, size_rw + image_size);
    // Without --size the fields are absent.
    let v: Value = serde_json::from_str(&d.docker(["inspect", "sz"]).ok()).unwrap();
    assert!(v[0].get("SizeRw").is_none(), "{}", v[0]);
    // ps shows the same.
    let ps = d.docker(["ps", "--size", "--format", "{{.Size}}"]).ok();
    assert!(ps.starts_with("1.05MB"), "{ps:?}");
}

/// `--init`: Docker's init (tini) runs as PID 1 in front of the command, reaps orphans
/// and forwards the stop signal, so `docker stop` ends a shell that ignores SIGTERM as
/// PID 1 at once instead of after the timeout.
#[test]
fn init_runs_as_pid_1_and_forwards_signals() {
    let d = Daemon::with_busybox();
    let out = run_sh(
        &d,
        &["--init"],
        // ps runs alone (not in a pipeline, whose other side may not have exec'd yet).
        "ps -o pid,comm > /tmp/ps; awk 'NR>1 {print $1, $2}' /tmp/ps",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        ["1 docker-init", "2 sh", "3 ps"],
        "the command runs as the init's child"
    );
    d.docker([
        "run", "-d", "--name", "ini", "--init", "busybox", "sleep", "1000",
    ])
    .ok();
    assert_eq!(d.inspect_fmt("ini", "{{.HostConfig.Init}}"), "true");
    let t = Instant::now();
    d.docker(["stop", "-t", "10", "ini"]).ok();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop took {:?}: the init did not forward SIGTERM",
        t.elapsed()
    );
    // tini exits with the signal's conventional code.
    assert_eq!(d.inspect_fmt("ini", "{{.State.ExitCode}}"), "143");
}

/// `--runtime runc`: the same container through an external OCI runtime, with limits,
/// seccomp, exec, stop, and nothing left of it after rm (runc's state included).
#[test]
fn external_runtime_runc() {
    if !Path::new("/usr/sbin/runc").exists() && !Path::new("/usr/bin/runc").exists() {
        eprintln!("runc is not installed; skipping");
        return;
    }
    let d = Daemon::with_busybox();
    let info = d.docker(["info", "--format", "{{json .Runtimes}}"]).ok();
    assert!(info.contains("\"runc\""), "{info}");
    let out = run_sh(
        &d,
        &["--runtime", "runc", "--memory", "64m"],
        "grep Seccomp: /proc/self/status; cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    );
    assert_eq!(out, "Seccomp:\t2\n67108864\n");
    d.docker([
        "run",
        "-d",
        "--name",
        "rc",
        "--runtime",
        "runc",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_eq!(d.inspect_fmt("rc", "{{.HostConfig.Runtime}}"), "runc");
    let o = d
        .docker(["exec", "rc", "sh", "-c", "echo in-runc; exit 3"])
        .run();
    assert_eq!(o.stdout, "in-runc\n", "{o}");
    assert_eq!(o.status.code(), Some(3), "{o}");
    // Terminals come through runc's console socket, for the container and for exec
    // (runc sends one only from a detached exec; its exit status still comes back).
    let o = d
        .docker([
            "run",
            "--rm",
            "-t",
            "--runtime",
            "runc",
            "busybox",
            "sh",
            "-c",
            "tty; [ -t 0 ] && echo tty-stdin",
        ])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "/dev/pts/0\r\ntty-stdin\r\n", "{o}");
    let o = d
        .docker(["exec", "-t", "rc", "sh", "-c", "tty; exit 4"])
        .run();
    assert_eq!(o.stdout, "/dev/pts/0\r\n", "{o}");
    assert_eq!(o.status.code(), Some(4), "{o}");
    let sockets: Vec<_> = std::fs::read_dir(d.exec_root.join("tty"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(sockets.is_empty(), "console sockets left: {sockets:?}");
    let id = d.inspect_fmt("rc", "{{.Id}}");
    d.docker(["rm", "-f", "rc"]).ok();
    let state = d.exec_root.join("runtimes/runc").join(&id);
    assert!(!state.exists(), "runc state left at {}", state.display());
    assert!(
        !Path::new("/sys/fs/cgroup/memory/berth").join(&id).exists()
            && !Path::new("/sys/fs/cgroup/berth").join(&id).exists(),
        "cgroup left"
    );
    let o = d
        .docker(["run", "--rm", "--runtime", "nope", "busybox", "true"])
        .run();
    assert!(
        o.stderr.contains("unknown or invalid runtime name: nope"),
        "{o}"
    );
}

/// Restart policies: `on-failure:2` restarts twice with Docker's back-off and stops;
/// `on-failure` leaves a clean exit alone; `always` keeps restarting until `docker stop`;
/// `--rm` with a policy is refused.
#[test]
fn restart_policies_follow_docker() {
    let d = Daemon::with_busybox();
    d.docker([
        "run",
        "-d",
        "--name",
        "of",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo start >> /tmp/starts; exit 3",
    ])
    .ok();
    wait_for("two restarts, then exited", || {
        d.inspect_fmt("of", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        d.inspect_fmt("of",
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "2 exited 3 on-failure:2"
    );
    // The writable layer is kept across restarts: three starts were recorded.
    let o = d.docker(["start", "-a", "of"]).run();
    assert_eq!(o.status.code(), Some(3), "{o}");
    d.docker([
        "run",
        "-d",
        "--name",
        "ok",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ])
    .ok();
    wait_for("the clean exit", || {
        d.inspect_fmt("ok", "{{.State.Status}}") == "exited"
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(d.inspect_fmt("ok", "{{.RestartCount}}"), "0");

    d.docker([
        "run",
        "-d",
        "--name",
        "al",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2; exit 1",
    ])
    .ok();
    wait_for("a restart", || {
        d.inspect_fmt("al", "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 1
    });
    d.docker(["stop", "-t", "1", "al"]).ok();
    let n = d.inspect_fmt("al", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(d.inspect_fmt("al", "{{.State.Status}}"), "exited");
    assert_eq!(
        d.inspect_fmt("al", "{{.RestartCount}}"),
        n,
        "restarted after stop"
    );

    let o = d
        .docker(["run", "--rm", "--restart", "always", "busybox", "true"])
        .run();
    assert!(!o.success(), "{o}");
    assert!(
        o.stderr
            .contains("conflicting options: cannot specify both --restart and --rm"),
        "{o}"
    );
    let r = berth_it::http::request(
        &d.socket,
        "POST",
        "/containers/create",
        &[("Content-Type", "application/json")],
        Some(br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
}

/// A container with `--restart always` that exits while berthd is down is restarted by
/// the next berthd.
#[test]
fn restart_policy_applies_to_exits_seen_after_a_daemon_restart() {
    let mut d = Daemon::with_busybox();
    d.docker([
        "run",
        "-d",
        "--name",
        "rp",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 1",
    ])
    .ok();
    d.kill9();
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn();
    d.wait_ready();
    wait_for("the restart after the daemon came back", || {
        d.inspect_fmt("rp", "{{.RestartCount}} {{.State.Status}}") == "1 running"
    });
}

/// Healthchecks: starting → healthy → unhealthy after `retries` failures, with
/// `health_status` events, the last results in inspect, and the ps status and filter.
#[test]
fn healthchecks_report_docker_states() {
    let d = Daemon::with_busybox();
    let since = unix_now();
    d.docker([
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "--health-start-period",
        "5s",
        "busybox",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ok; sleep 2; rm /tmp/ok; sleep 300",
    ])
    .ok();
    assert_eq!(d.inspect_fmt("hc", "{{.State.Health.Status}}"), "starting");
    let ps = d
        .docker(["ps", "--format", "{{.Status}}", "--filter", "name=hc"])
        .ok();
    assert!(ps.contains("(health: starting)"), "{ps}");
    wait_for("healthy", || {
        d.inspect_fmt("hc", "{{.State.Health.Status}}") == "healthy"
    });
    let ps = d.docker(["ps", "-q", "--filter", "health=healthy"]).ok();
    assert_eq!(ps.lines().count(), 1, "{ps}");
    wait_for("unhealthy", || {
        d.inspect_fmt("hc", "{{.State.Health.Status}}") == "unhealthy"
    });
    let streak: u32 = d
        .inspect_fmt("hc", "{{.State.Health.FailingStreak}}")
        .parse()
        .unwrap();
    assert!(streak >= 2, "{streak}");
    let log = d.inspect_fmt("hc", "{{len .State.Health.Log}}");
    assert_eq!(log, "5", "Docker keeps the last five results");
    assert_eq!(
        d.inspect_fmt("hc", "{{(index .State.Health.Log 4).ExitCode}}"),
        "1"
    );
    let ev = events(&d, since, r#"{"type":["container"]}"#);
    let statuses: Vec<String> = ev
        .iter()
        .filter_map(|e| e["Action"].as_str())
        .filter(|a| a.starts_with("health_status"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        statuses,
        ["health_status: healthy", "health_status: unhealthy"],
        "failures during the start period do not count"
    );
    // --no-healthcheck turns an image's or a flag's check off.
    d.docker([
        "run",
        "-d",
        "--name",
        "nh",
        "--no-healthcheck",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    assert_eq!(
        d.inspect_fmt("nh", "{{if .State.Health}}has{{else}}none{{end}}"),
        "none"
    );
}

/// Docker's StdinOnce: `docker run -i` (attached) closes the container's stdin when the
/// client's input ends; a `-d -i` container keeps stdin open across attach sessions, so
/// a second client still reaches the same program.
#[test]
fn stdin_stays_open_across_attaches_unless_stdin_once() {
    let d = Daemon::with_busybox();
    let o = d
        .docker(["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo eof"])
        .stdin_bytes("once\n")
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "once\neof\n");

    d.docker([
        "run",
        "-d",
        "-i",
        "--name",
        "si",
        "busybox",
        "sh",
        "-c",
        "while read l; do echo got $l; done; echo eof",
    ])
    .ok();
    assert_eq!(d.inspect_fmt("si", "{{.Config.StdinOnce}}"), "false");
    for line in ["a", "b"] {
        // The session ends with the client's input (the server closes the stream); the
        // program keeps running. (`docker attach` itself would then wait for the exit.)
        attach_send_and_close(&d, "si", &format!("{line}\n"));
        let want = format!("got {line}");
        wait_for(&format!("{want} in the logs"), || {
            d.docker(["logs", "si"]).ok().contains(&want)
        });
        assert_eq!(d.inspect_fmt("si", "{{.State.Running}}"), "true");
    }
    assert!(!d.docker(["logs", "si"]).ok().contains("eof"));
    d.docker(["rm", "-f", "si"]).ok();
}

/// A raw hijacked attach with stdin: sends `input`, half-closes, and expects the daemon
/// to end the stream within a few seconds.
fn attach_send_and_close(d: &Daemon, name: &str, input: &str) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /containers/{name}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).unwrap(),
            1,
            "{}",
            String::from_utf8_lossy(&head)
        );
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s.write_all(input.as_bytes()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("the daemon ends the session when the client's input ends");
}
