//! `docker exec` through the real CLI and the API: output, exit codes, environment,
//! working directory, users, stdin only with `-i`, detached sessions, terminals, the
//! container's namespaces/cgroup/seccomp for every session, privileged sessions, no
//! leaked descriptors, Docker's errors, exec inspect, and sessions after the daemon
//! was killed and restarted.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_it::{random_u64, wait_for, Daemon, HttpResponse};
use serde_json::Value;

/// A started daemon with one long-running container named `name`.
fn with_container(name: &str) -> (Daemon, String) {
    let d = Daemon::with_busybox();
    let id = d
        .docker(["run", "-d", "--name", name, "busybox", "sleep", "1000"])
        .ok()
        .trim()
        .to_string();
    (d, id)
}

fn post_json(d: &Daemon, path: &str, body: &str) -> HttpResponse {
    berth_it::http::request(
        &d.socket,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// Creates an exec session through the API; returns its id.
fn exec_create(d: &Daemon, container: &str, body: &str) -> String {
    let r = post_json(d, &format!("/containers/{container}/exec"), body);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["Id"].as_str().expect("Id").to_string()
}

fn exec_inspect(d: &Daemon, id: &str) -> Value {
    let r = d.http("GET", &format!("/exec/{id}/json"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Polls exec inspect until the session has ended.
fn exec_finished(d: &Daemon, id: &str) -> Value {
    let mut v = Value::Null;
    wait_for("the exec session to end", || {
        v = exec_inspect(d, id);
        v["Running"] == false && !v["ExitCode"].is_null()
    });
    v
}

/// The session ids of the container (`ExecIDs` in inspect).
fn exec_ids(d: &Daemon, container: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(&d.inspect_fmt(container, "{{json .ExecIDs}}")).unwrap();
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn exec_output_environment_workdir_and_users() {
    let (d, _) = with_container("ex");
    let o = d
        .docker(["exec", "ex", "sh", "-c", "echo out; echo err >&2"])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!((o.stdout.as_str(), o.stderr.as_str()), ("out\n", "err\n"));
    let o = d
        .docker([
            "exec",
            "-e",
            "FOO=bar",
            "-e",
            "PATH=/bin:/custom",
            "-w",
            "/tmp",
            "ex",
            "sh",
            "-c",
            "echo $FOO; echo $PATH; pwd; echo $HOSTNAME",
        ])
        .run();
    assert!(o.success(), "{o}");
    let host = d.inspect_fmt("ex", "{{.Config.Hostname}}");
    assert_eq!(o.stdout, format!("bar\n/bin:/custom\n/tmp\n{host}\n"));
    // The container's environment is the default one, the session's -e is added.
    let o = d.docker(["exec", "ex", "sh", "-c", "echo $FOO; pwd"]).run();
    assert_eq!(o.stdout, "\n/\n", "{o}");
    let o = d.docker(["exec", "-u", "nobody", "ex", "id"]).run();
    assert_eq!(
        o.stdout, "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)\n",
        "{o}"
    );
    let o = d.docker(["exec", "-u", "4321:4321", "ex", "id"]).run();
    assert_eq!(o.stdout, "uid=4321 gid=4321 groups=4321\n", "{o}");
    let o = d
        .docker(["exec", "-u", "nobody", "ex", "sh", "-c", "echo $HOME"])
        .run();
    assert_eq!(o.stdout, "/home\n", "HOME from the image's passwd: {o}");
    let o = d.docker(["exec", "ex", "id"]).run();
    assert_eq!(o.stdout, "uid=0(root) gid=0(root) groups=0(root)\n", "{o}");
}

#[test]
fn exec_exit_codes_reach_the_cli_every_time() {
    let (d, _) = with_container("ex");
    let mut seen = Vec::new();
    for tty in [false, true] {
        for _ in 0..15 {
            let mut args = vec!["exec"];
            if tty {
                args.push("-t");
            }
            args.extend(["ex", "sh", "-c", "exit 5"]);
            seen.push((tty, d.docker(args).run().status.code()));
        }
    }
    let bad: Vec<_> = seen.iter().filter(|(_, c)| *c != Some(5)).collect();
    assert!(
        bad.is_empty(),
        "exit codes other than 5 (tty, code): {bad:?}"
    );
    for _ in 0..10 {
        let o = d.docker(["exec", "ex", "no-such-program"]).run();
        assert_eq!(o.status.code(), Some(126), "{o}");
    }
}

#[test]
fn exec_exit_codes_are_recorded() {
    let (d, _) = with_container("ex");
    for (cmd, code) in [
        (r#"["sh","-c","exit 5"]"#, 5),
        (r#"["true"]"#, 0),
        (r#"["sh","-c","kill -9 $$"]"#, 137),
    ] {
        let id = exec_create(
            &d,
            "ex",
            &format!(r#"{{"Cmd":{cmd},"AttachStdout":true,"AttachStderr":true}}"#),
        );
        let r = post_json(&d, &format!("/exec/{id}/start"), r#"{"Detach":true}"#);
        assert_eq!(r.status, 200, "{}", r.text());
        let v = exec_finished(&d, &id);
        assert_eq!(v["ExitCode"], code, "{cmd}: {v}");
    }
}

#[test]
fn exec_errors_match_docker() {
    let (d, id) = with_container("ex");
    let o = d.docker(["exec", "ex", "no-such-program"]).run();
    assert!(
        o.stderr.contains(
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"no-such-program\": executable file not found in $PATH"
        ),
        "{o}"
    );
    assert_eq!(o.stdout, "");
    // The session's exit status is 126.
    let e = exec_create(
        &d,
        "ex",
        r#"{"Cmd":["no-such-program"],"AttachStdout":true,"AttachStderr":true}"#,
    );
    let r = post_json(&d, &format!("/exec/{e}/start"), r#"{"Detach":true}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(exec_finished(&d, &e)["ExitCode"], 126);
    let o = d.docker(["exec", "ex", "/etc"]).run();
    assert!(
        o.stderr.contains("exec: \"/etc\": permission denied"),
        "{o}"
    );
    let o = d.docker(["exec", "no-such-container", "true"]).run();
    assert_eq!(o.status.code(), Some(1), "{o}");
    assert!(
        o.stderr
            .contains("Error response from daemon: No such container: no-such-container"),
        "{o}"
    );
    let r = post_json(
        &d,
        "/containers/no-such-container/exec",
        r#"{"Cmd":["true"]}"#,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = d.http("GET", "/exec/no-such-exec/json");
    assert_eq!(r.status, 404, "{}", r.text());
    // Not running: 409 with Docker's wording.
    d.docker(["stop", "-t", "0", "ex"]).ok();
    let o = d.docker(["exec", "ex", "true"]).run();
    assert!(!o.success(), "{o}");
    assert!(
        o.stderr.contains(&format!("Container {id} is not running")),
        "{o}"
    );
    let r = post_json(&d, &format!("/containers/{id}/exec"), r#"{"Cmd":["true"]}"#);
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        format!("Container {id} is not running").as_str()
    );
}

#[test]
fn unknown_exec_sessions_are_reported_with_dockers_wording() {
    let (d, _) = with_container("ex");
    for (method, path) in [
        ("GET", "/exec/no-such-exec/json"),
        ("POST", "/exec/no-such-exec/resize?h=10&w=10"),
    ] {
        let r = d.http(method, path);
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text());
        assert_eq!(
            r.json()["message"],
            "No such exec instance: no-such-exec",
            "{method} {path}"
        );
    }
    let r = post_json(&d, "/exec/no-such-exec/start", r#"{"Detach":true}"#);
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()["message"], "No such exec instance: no-such-exec");
}

#[test]
fn stdin_reaches_the_session_only_with_i() {
    let (d, _) = with_container("ex");
    let o = d
        .docker(["exec", "-i", "ex", "sh", "-c", "wc -l; cat /dev/null"])
        .stdin_bytes("one\ntwo\nthree\n")
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout.trim(), "3");
    let o = d
        .docker(["exec", "-i", "ex", "cat"])
        .stdin_bytes("piped through\n")
        .run();
    assert_eq!(o.stdout, "piped through\n", "{o}");
    // Without -i the session's stdin is empty: cat ends at once.
    let o = d
        .docker(["exec", "ex", "cat"])
        .stdin_bytes("not for you\n")
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "");
    let o = d
        .docker(["exec", "ex", "sh", "-c", "wc -c"])
        .stdin_bytes("not for you\n")
        .run();
    assert_eq!(o.stdout.trim(), "0", "{o}");
}

#[test]
fn detached_sessions_run_in_the_background() {
    let (d, _) = with_container("ex");
    let pid: i32 = d.inspect_fmt("ex", "{{.State.Pid}}").parse().unwrap();
    let t = Instant::now();
    let o = d
        .docker([
            "exec",
            "-d",
            "ex",
            "sh",
            "-c",
            "sleep 1; echo done > /tmp/detached",
        ])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "");
    assert!(t.elapsed() < Duration::from_secs(1), "exec -d waited");
    let marker = format!("/proc/{pid}/root/tmp/detached");
    assert!(!Path::new(&marker).exists(), "not done yet");
    wait_for("the detached session's file", || {
        std::fs::read_to_string(&marker).is_ok_and(|s| s == "done\n")
    });
    // Finished sessions leave the container's list, as in Docker.
    wait_for("no running session", || exec_ids(&d, "ex").is_empty());
}

/// Host pids of processes whose command line is exactly `cmd` (NUL-separated).
fn host_pids_running(cmd: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = cmd.join("\0").into_bytes();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let c = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if c.strip_suffix(b"\0").unwrap_or(&c) == want.as_slice() {
            v.push(pid);
        }
    }
    v
}

fn link(p: String) -> String {
    std::fs::read_link(&p)
        .unwrap_or_else(|e| panic!("readlink {p}: {e}"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn sessions_join_the_containers_namespaces_and_cgroups() {
    let (d, id) = with_container("ex");
    let init: i32 = d.inspect_fmt("ex", "{{.State.Pid}}").parse().unwrap();
    let marker = format!("{}", 100_000 + random_u64() % 800_000);
    d.docker(["exec", "-d", "ex", "sleep", &marker]).ok();
    let mut pids = Vec::new();
    wait_for("the exec'd sleep", || {
        pids = host_pids_running(&["sleep", &marker]);
        !pids.is_empty()
    });
    assert_eq!(pids.len(), 1, "{pids:?}");
    let p = pids[0];
    for ns in ["pid", "mnt", "net", "ipc", "uts", "cgroup", "user"] {
        assert_eq!(
            link(format!("/proc/{p}/ns/{ns}")),
            link(format!("/proc/{init}/ns/{ns}")),
            "{ns} namespace"
        );
    }
    assert_ne!(
        link(format!("/proc/{p}/ns/pid")),
        link("/proc/self/ns/pid".into()),
        "not the host's pid namespace"
    );
    let cg = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg(p), cg(init), "same groups as the container's init");
    assert!(cg(p).contains(&id));
    // Inside, the session sees the container's processes under their namespace pids.
    let o = d.docker(["exec", "ex", "ps", "-o", "pid,args"]).run();
    let rows: Vec<String> = berth_it::lines(&o.stdout)
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(rows[0], "PID COMMAND", "{o}");
    assert_eq!(rows[1], "1 sleep 1000", "{o}");
    assert!(
        rows.iter()
            .any(|r| r.ends_with(&format!(" sleep {marker}"))),
        "{o}"
    );
    assert!(rows.last().unwrap().ends_with(" ps -o pid,args"), "{o}");
    assert_eq!(rows.len(), 4, "nothing else in the namespace: {o}");
    // And top lists it with its host pid.
    let top = d.docker(["top", "ex"]).ok();
    assert!(
        top.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(p.to_string().as_str())),
        "{top}"
    );
}

#[test]
fn tty_sessions_get_a_terminal() {
    let (d, _) = with_container("ex");
    let o = d.docker(["exec", "-t", "ex", "tty"]).run();
    let out = o.stdout.trim_end();
    assert!(
        out.strip_prefix("/dev/pts/")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        "{o}"
    );
    assert!(
        o.stdout.ends_with("\r\n"),
        "a terminal turns \\n into \\r\\n: {o:?}"
    );
    let o = d
        .docker([
            "exec",
            "-t",
            "ex",
            "sh",
            "-c",
            "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty",
        ])
        .run();
    assert_eq!(o.stdout, "all-tty\r\n", "{o}");
    // Without -t: no terminal.
    let o = d.docker(["exec", "ex", "tty"]).run();
    assert_eq!(o.stdout, "not a tty\n", "{o}");
    // exec inspect records it.
    let e = exec_create(&d, "ex", r#"{"Cmd":["tty"],"Tty":true}"#);
    assert_eq!(exec_inspect(&d, &e)["ProcessConfig"]["tty"], true);
}

#[test]
fn exec_inspect_shows_the_session() {
    let (d, id) = with_container("ex");
    let e = exec_create(
        &d,
        "ex",
        r#"{"Cmd":["sh","-c","sleep 1; exit 3"],"AttachStdout":true,"AttachStderr":true}"#,
    );
    let v = exec_inspect(&d, &e);
    assert_eq!(v["ID"], e.as_str());
    assert_eq!(v["ContainerID"], id.as_str());
    assert_eq!(v["Running"], false);
    assert!(v["ExitCode"].is_null(), "{v}");
    assert_eq!(v["ProcessConfig"]["entrypoint"], "sh");
    assert_eq!(
        v["ProcessConfig"]["arguments"],
        serde_json::json!(["-c", "sleep 1; exit 3"])
    );
    assert_eq!(v["ProcessConfig"]["tty"], false);
    assert_eq!(v["ProcessConfig"]["privileged"], false);
    assert_eq!(v["OpenStdout"], true);
    assert_eq!(v["OpenStdin"], false);
    let r = post_json(&d, &format!("/exec/{e}/start"), r#"{"Detach":true}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = exec_inspect(&d, &e);
    assert_eq!(v["Running"], true, "{v}");
    let pid = v["Pid"].as_i64().unwrap_or(0);
    assert!(pid > 0, "{v}");
    // Listed by the container while it runs, and no longer once it has ended.
    assert_eq!(exec_ids(&d, "ex"), std::slice::from_ref(&e));
    let v = exec_finished(&d, &e);
    assert_eq!(v["ExitCode"], 3);
    assert_eq!(v["Running"], false);
    // Starting it again is refused.
    let r = post_json(&d, &format!("/exec/{e}/start"), r#"{"Detach":true}"#);
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(exec_ids(&d, "ex"), Vec::<String>::new());
    // Still inspectable after it ended.
    assert_eq!(exec_inspect(&d, &e)["ExitCode"], 3);
}

fn status_field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in {out:?}"))
}

#[test]
fn privileged_sessions_get_every_capability_and_seccomp_stays() {
    let (d, _) = with_container("ex");
    let host_bounding = status_field(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "CapBnd",
    );
    let o = d.docker(["exec", "ex", "cat", "/proc/self/status"]).run();
    assert!(o.success(), "{o}");
    // Docker's default capability set.
    assert_eq!(status_field(&o.stdout, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&o.stdout, "Seccomp"), "2");
    assert_eq!(status_field(&o.stdout, "NoNewPrivs"), "0");
    let o = d
        .docker(["exec", "--privileged", "ex", "cat", "/proc/self/status"])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(
        status_field(&o.stdout, "CapEff"),
        host_bounding,
        "every capability the host has"
    );
    assert_eq!(status_field(&o.stdout, "CapBnd"), host_bounding);
    // The container's seccomp filter is not lifted by a privileged session.
    assert_eq!(status_field(&o.stdout, "Seccomp"), "2");
    let e = exec_create(&d, "ex", r#"{"Cmd":["true"],"Privileged":true}"#);
    assert_eq!(exec_inspect(&d, &e)["ProcessConfig"]["privileged"], true);
    // An unconfined container's sessions are unconfined.
    d.docker([
        "run",
        "-d",
        "--name",
        "unconf",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let o = d
        .docker(["exec", "unconf", "grep", "^Seccomp:", "/proc/self/status"])
        .run();
    assert_eq!(o.stdout.split_whitespace().last(), Some("0"), "{o}");
}

#[test]
fn no_descriptors_leak_into_sessions() {
    let (d, _) = with_container("ex");
    // ls opens the directory itself as 3.
    for opts in [&[][..], &["-i"][..], &["-t"][..], &["-u", "nobody"][..]] {
        let o = d
            .docker(["exec"])
            .args(opts)
            .args(["ex", "ls", "-1", "/proc/self/fd"])
            .run();
        assert!(o.success(), "{o}");
        assert_eq!(
            berth_it::lines(&o.stdout),
            ["0", "1", "2", "3"],
            "exec {opts:?}: {o:?}"
        );
    }
    // A detached session's process, seen from the host.
    let pid: i32 = d.inspect_fmt("ex", "{{.State.Pid}}").parse().unwrap();
    let marker = format!("{}", 100_000 + random_u64() % 800_000);
    d.docker(["exec", "-d", "ex", "sleep", &marker]).ok();
    let mut pids = Vec::new();
    wait_for("the detached sleep", || {
        pids = host_pids_running(&["sleep", &marker]);
        !pids.is_empty()
    });
    let fds = |p: i32| {
        let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{p}/fd"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(fds(pids[0]), ["0", "1", "2"]);
    // The container's own process too.
    assert_eq!(fds(pid), ["0", "1", "2"]);
}

#[test]
fn exec_works_after_the_daemon_was_killed_and_restarted() {
    let mut d = Daemon::with_busybox();
    let id = d
        .docker(["run", "-d", "--name", "ex", "busybox", "sleep", "1000"])
        .ok()
        .trim()
        .to_string();
    assert_eq!(d.docker(["exec", "ex", "echo", "before"]).ok(), "before\n");
    let pid = d.inspect_fmt("ex", "{{.State.Pid}}");
    d.kill9();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    d.spawn();
    assert_eq!(d.docker(["ps", "-q", "--no-trunc"]).ok().trim(), id);
    let o = d
        .docker(["exec", "ex", "sh", "-c", "echo after; ls -1 /proc/self/fd"])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "after\n0\n1\n2\n3\n");
    let o = d
        .docker(["exec", "-i", "ex", "cat"])
        .stdin_bytes("still piped\n")
        .run();
    assert_eq!(o.stdout, "still piped\n", "{o}");
    let o = d.docker(["exec", "-t", "ex", "tty"]).run();
    assert!(o.stdout.starts_with("/dev/pts/"), "{o}");
    let e = exec_create(&d, "ex", r#"{"Cmd":["sh","-c","exit 4"]}"#);
    let r = post_json(&d, &format!("/exec/{e}/start"), r#"{"Detach":true}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(exec_finished(&d, &e)["ExitCode"], 4);
    assert_eq!(
        d.inspect_fmt("ex", "{{.State.Pid}}"),
        pid,
        "the same container"
    );
}
