//! Containers through the real docker CLI: run, attach output, exit codes, logs, ps,
//! inspect, stop/kill/rm, Docker's errors, no leftovers after rm, and containers that
//! outlive a `kill -9` of the daemon.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_it::{wait_for, Daemon};

use berth_it::fsutil::mounts_under;

fn processes_mentioning(p: &Path) -> usize {
    let needle = p.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).unwrap_or_default())
                .contains(&needle)
        })
        .count()
}

#[test]
fn run_rm_prints_output_and_leaves_nothing() {
    let d = Daemon::with_busybox();
    let o = d
        .docker(["run", "--rm", "busybox", "echo", "hello from berth"])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "hello from berth\n");
    wait_for("the --rm container to be removed", || {
        d.docker(["ps", "-aq"]).ok().trim().is_empty()
    });
    assert!(
        mounts_under(d.root()).is_empty(),
        "mounts left: {:?}",
        mounts_under(d.root())
    );
    let containers = d.root().join("data/containers");
    assert_eq!(
        std::fs::read_dir(&containers)
            .map(|r| r.count())
            .unwrap_or(0),
        0,
        "container directories left"
    );
}

#[test]
fn exit_codes_streams_logs_and_inspect() {
    let d = Daemon::with_busybox();
    let o = d
        .docker([
            "run",
            "--name",
            "c1",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ])
        .run();
    assert_eq!(o.status.code(), Some(3), "{o}");
    assert_eq!(o.stdout, "out\n", "stdout and stderr are kept apart");
    assert_eq!(o.stderr, "err\n");
    let logs = d.docker(["logs", "c1"]).run();
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("out\n", "err\n"),
        "{logs}"
    );
    assert_eq!(
        d.docker([
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{json .Config.Cmd}}",
            "c1"
        ])
        .ok()
        .trim(),
        "exited 3 /c1 [\"sh\",\"-c\",\"echo out; echo err >&2; exit 3\"]"
    );
    assert_eq!(
        d.docker(["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
            .ok()
            .trim()
            .split(" (")
            .next(),
        Some("c1 Exited")
    );
    assert!(
        d.docker(["ps", "-q"]).ok().trim().is_empty(),
        "not running, so not in plain ps"
    );
    // The json-file log is Docker's on-disk format.
    let log_path = d.docker(["inspect", "--format", "{{.LogPath}}", "c1"]).ok();
    let first = std::fs::read_to_string(log_path.trim()).unwrap();
    let rec: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(rec["log"], "out\n");
    assert_eq!(rec["stream"], "stdout");
    assert!(rec["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn env_workdir_user_hostname_and_entrypoint() {
    let d = Daemon::with_busybox();
    let o = d
        .docker([
            "run",
            "--rm",
            "-e",
            "A=1",
            "-w",
            "/new/dir",
            "-u",
            "nobody",
            "-h",
            "myhost",
            "busybox",
            "sh",
            "-c",
            "echo $A; pwd; id -u; hostname",
        ])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "1\n/new/dir\n65534\nmyhost\n");
    let o = d
        .docker([
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            "busybox",
            "via",
            "entrypoint",
        ])
        .run();
    assert_eq!(o.stdout, "via entrypoint\n", "{o}");
}

#[test]
fn docker_errors_for_bad_input() {
    let d = Daemon::with_busybox();
    d.docker(["create", "--name", "dup", "busybox", "true"])
        .ok();
    let o = d
        .docker(["create", "--name", "dup", "busybox", "true"])
        .run();
    assert!(!o.success(), "{o}");
    assert!(
        o.stderr
            .contains("Conflict. The container name \"/dup\" is already in use by container"),
        "{o}"
    );
    let o = d
        .docker(["create", "--name", "-bad", "busybox", "true"])
        .run();
    assert!(o.stderr.contains("Invalid container name (-bad)"), "{o}");
    let o = d
        .docker(["run", "--rm", "busybox", "no-such-program"])
        .run();
    assert_eq!(o.status.code(), Some(127), "{o}");
    assert!(
        o.stderr.contains("executable file not found in $PATH"),
        "{o}"
    );
    let o = d.docker(["rm", "no-such-container"]).run();
    assert!(
        !o.success() && o.stderr.contains("No such container: no-such-container"),
        "{o}"
    );
    d.docker(["run", "-d", "--name", "busy", "busybox", "sleep", "100"])
        .ok();
    let o = d.docker(["rm", "busy"]).run();
    assert!(
        !o.success() && o.stderr.contains("You cannot remove a running container"),
        "{o}"
    );
    let o = d.docker(["rmi", "busybox"]).run();
    assert!(
        !o.success()
            && o.stderr.contains("container")
            && o.stderr.contains("is using its referenced image"),
        "{o}"
    );
    let o = d.docker(["kill", "-s", "NOPE", "busy"]).run();
    assert!(
        !o.success() && o.stderr.to_lowercase().contains("invalid signal"),
        "{o}"
    );
    d.docker(["rm", "-f", "busy"]).ok();
}

#[test]
fn stop_escalates_to_sigkill_and_rm_cleans_up() {
    let d = Daemon::with_busybox();
    // sleep as PID 1 ignores SIGTERM: stop must fall back to SIGKILL after the timeout.
    let id = d
        .docker(["run", "-d", "busybox", "sleep", "300"])
        .ok()
        .trim()
        .to_string();
    assert_eq!(d.docker(["ps", "-q", "--no-trunc"]).ok().trim(), id);
    let t = Instant::now();
    d.docker(["stop", "-t", "1", &id]).ok();
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "stop waited for the timeout"
    );
    assert_eq!(
        d.docker(["inspect", "--format", "{{.State.ExitCode}}", &id])
            .ok()
            .trim(),
        "137"
    );
    d.docker(["rm", &id]).ok();
    assert!(mounts_under(d.root()).is_empty());
    assert_eq!(
        processes_mentioning(&d.root().join("exec/containers")),
        0,
        "no shim left"
    );
    // kill with a signal the program handles
    let id = d
        .docker([
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 42' TERM; while true; do sleep 0.1; done",
        ])
        .ok()
        .trim()
        .to_string();
    std::thread::sleep(Duration::from_millis(200));
    d.docker(["kill", "-s", "TERM", &id]).ok();
    assert_eq!(d.docker(["wait", &id]).ok().trim(), "42");
}

#[test]
fn containers_survive_kill_9_of_the_daemon() {
    let mut d = Daemon::with_busybox();
    let id = d
        .docker([
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
        ])
        .ok()
        .trim()
        .to_string();
    let pid = d
        .docker(["inspect", "--format", "{{.State.Pid}}", &id])
        .ok()
        .trim()
        .parse::<i32>()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    d.kill9();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the container outlived its daemon"
    );
    d.spawn();
    d.wait_ready();
    assert_eq!(
        d.docker(["ps", "-q", "--no-trunc"]).ok().trim(),
        id,
        "the restarted daemon sees it running"
    );
    let before = d.docker(["logs", &id]).ok().lines().count();
    std::thread::sleep(Duration::from_millis(400));
    let after = d.docker(["logs", &id]).ok().lines().count();
    assert!(
        after > before,
        "its log kept growing across the restart ({before} → {after})"
    );
    d.docker(["stop", "-t", "0", &id]).ok();
    assert_eq!(
        d.docker([
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            &id
        ])
        .ok()
        .trim(),
        "exited 137"
    );
    // A container that exits while the daemon is down gets its real exit code.
    let id2 = d
        .docker(["run", "-d", "busybox", "sh", "-c", "sleep 0.5; exit 7"])
        .ok()
        .trim()
        .to_string();
    d.kill9();
    std::thread::sleep(Duration::from_millis(1000));
    d.spawn();
    d.wait_ready();
    wait_for("the exit recorded while the daemon was down", || {
        d.docker([
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            &id2,
        ])
        .ok()
        .trim()
            == "exited 7"
    });
    d.docker(["rm", &id, &id2]).ok();
    assert!(
        mounts_under(d.root()).is_empty(),
        "mounts left: {:?}",
        mounts_under(d.root())
    );
}

#[test]
fn clean_shutdown_stops_containers_unless_live_restore() {
    let mut d = Daemon::with_busybox();
    let id = d
        .docker([
            "run",
            "-d",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do sleep 0.1; done",
        ])
        .ok()
        .trim()
        .to_string();
    let pid = d
        .docker(["inspect", "--format", "{{.State.Pid}}", &id])
        .ok()
        .trim()
        .parse::<i32>()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(d.sigterm(Duration::from_secs(20)).success());
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "a clean stop stops the container"
    );
    let mut args = d.standard_args();
    args.push("--live-restore".into());
    d.spawn_with(args.clone());
    d.wait_ready();
    assert_eq!(
        d.docker([
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            &id
        ])
        .ok()
        .trim(),
        "exited 0"
    );
    d.docker(["start", &id]).ok();
    let pid = d
        .docker(["inspect", "--format", "{{.State.Pid}}", &id])
        .ok()
        .trim()
        .parse::<i32>()
        .unwrap();
    assert!(d.sigterm(Duration::from_secs(20)).success());
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "with live-restore the container keeps running"
    );
    d.spawn_with(args);
    d.wait_ready();
    assert_eq!(d.docker(["ps", "-q", "--no-trunc"]).ok().trim(), id);
    d.docker(["rm", "-f", &id]).ok();
}

#[test]
fn info_counts_containers_by_state() {
    let d = Daemon::with_busybox();
    let counts = || {
        let i = d.info();
        [
            "Containers",
            "ContainersRunning",
            "ContainersPaused",
            "ContainersStopped",
        ]
        .map(|k| i[k].as_u64().unwrap())
    };
    assert_eq!(counts(), [0, 0, 0, 0]);
    d.docker(["create", "--name", "created", "busybox", "true"])
        .ok();
    d.docker(["run", "-d", "--name", "runs", "busybox", "sleep", "300"])
        .ok();
    d.docker(["run", "-d", "--name", "paused", "busybox", "sleep", "300"])
        .ok();
    d.docker(["pause", "paused"]).ok();
    assert_eq!(counts(), [3, 1, 1, 1]);
    d.docker(["rm", "-f", "created", "runs", "paused"]).ok();
    assert_eq!(counts(), [0, 0, 0, 0]);
}
