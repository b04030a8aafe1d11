//! Seccomp through the real docker CLI: Docker's default profile on every container
//! (mode 2 in /proc), widened by capabilities; none with `seccomp=unconfined` or
//! `--privileged`; custom profile files with per-rule actions and argument conditions;
//! the filter installed both before the capabilities are dropped (no no-new-privileges)
//! and just before exec (with it), for root and other users; bad profiles refused at
//! create.

use std::path::PathBuf;

use berth_it::Daemon;
use serde_json::json;

/// `docker run --rm <opts> busybox sh -c <script>`.
fn run(d: &Daemon, opts: &[&str], script: &str) -> berth_it::Out {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(opts);
    args.extend(["busybox", "sh", "-c", script]);
    d.docker(args).run()
}

/// The `Seccomp:` mode and `NoNewPrivs:` flag of the container's process.
fn status(d: &Daemon, opts: &[&str]) -> String {
    let o = run(
        d,
        opts,
        "grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status | tr -s '\\t' ' '",
    );
    assert!(o.success(), "{o}");
    o.stdout
}

/// A profile file in the daemon's work directory.
fn profile(d: &Daemon, name: &str, content: &str) -> PathBuf {
    let p = d.root().join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn default_profile_applies_unless_unconfined_or_privileged() {
    let d = Daemon::with_busybox();
    assert_eq!(
        status(&d, &[]),
        "NoNewPrivs: 0\nSeccomp: 2\nSeccomp_filters: 1\n"
    );
    assert_eq!(
        status(&d, &["--security-opt", "seccomp=unconfined"]),
        "NoNewPrivs: 0\nSeccomp: 0\nSeccomp_filters: 0\n"
    );
    assert_eq!(
        status(&d, &["--privileged"]),
        "NoNewPrivs: 0\nSeccomp: 0\nSeccomp_filters: 0\n"
    );
    // `builtin` names the default profile explicitly.
    assert!(status(&d, &["--security-opt", "seccomp=builtin"]).contains("Seccomp: 2"));
    assert_eq!(
        d.docker(["info", "--format", "{{json .SecurityOptions}}"])
            .ok()
            .trim(),
        r#"["name=seccomp,profile=builtin"]"#
    );
}

#[test]
fn default_profile_denies_namespaces_and_mounts_without_cap_sys_admin() {
    let d = Daemon::with_busybox();
    // A user namespace needs no capability, so only the filter stops it.
    let o = run(&d, &[], "unshare -U true");
    assert!(!o.success(), "{o}");
    assert!(o.stderr.contains("Operation not permitted"), "{o}");
    let o = run(
        &d,
        &["--security-opt", "seccomp=unconfined"],
        "unshare -U true",
    );
    assert!(o.success(), "without a filter the kernel allows it: {o}");
    let o = run(&d, &[], "mkdir /m && mount -t tmpfs none /m");
    assert!(o.stderr.contains("permission denied"), "{o}");
    // CAP_SYS_ADMIN widens the profile: mount, unshare and setns are allowed.
    let o = run(
        &d,
        &["--cap-add", "SYS_ADMIN"],
        "mkdir /m && mount -t tmpfs none /m && touch /m/f && umount /m && unshare -m -U true && echo ok",
    );
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "ok\n");
    // Other calls of the allow-list work as usual.
    let o = run(&d, &[], "mkdir /x && chmod 4755 /x && ls -d /x && id -u");
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "/x\n0\n");
}

#[test]
fn custom_profiles_deny_with_errno_and_argument_conditions() {
    let d = Daemon::with_busybox();
    let deny_mkdir = profile(
        &d,
        "deny-mkdir.json",
        &serde_json::to_string_pretty(&json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                // EACCES for rmdir: the errno is the rule's own.
                {"name": "rmdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                // Setting the set-user-ID bit (mode & 04000) fails; other modes work.
                {"names": ["chmod", "fchmod"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 2, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}]},
                // Only applies to containers with CAP_SYS_ADMIN.
                {"names": ["symlink", "symlinkat"], "action": "SCMP_ACT_ERRNO",
                 "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            ]
        }))
        .unwrap(),
    );
    let opt = format!("seccomp={}", deny_mkdir.display());
    let o = run(&d, &["--security-opt", &opt], "mkdir /x");
    assert!(!o.success(), "{o}");
    assert!(o.stderr.contains("Operation not permitted"), "{o}");
    let o = run(&d, &[], "mkdir /x && echo made");
    assert_eq!(o.stdout, "made\n", "{o}");
    let o = run(&d, &["--security-opt", &opt], "rmdir /tmp");
    assert!(o.stderr.contains("Permission denied"), "{o}");
    let o = run(
        &d,
        &["--security-opt", &opt],
        "touch /f && chmod 755 /f && echo plain; chmod 4755 /f || echo denied",
    );
    assert_eq!(o.stdout, "plain\ndenied\n", "{o}");
    assert!(o.stderr.contains("Operation not permitted"), "{o}");
    // Includes by capability are resolved for the container.
    assert!(run(&d, &["--security-opt", &opt], "ln -s a /b").success());
    let o = run(
        &d,
        &["--security-opt", &opt, "--cap-add", "SYS_ADMIN"],
        "ln -s a /b",
    );
    assert!(o.stderr.contains("Operation not permitted"), "{o}");
    // A profile given explicitly applies to privileged containers too, as in Docker.
    assert!(status(&d, &["--security-opt", &opt, "--privileged"]).contains("Seccomp: 2"));
    // Docker keeps the profile's text in the container's options.
    let o = d
        .docker([
            "create",
            "--name",
            "c1",
            "--security-opt",
            &opt,
            "busybox",
            "true",
        ])
        .run();
    assert!(o.success(), "{o}");
    let opts = d
        .docker([
            "inspect",
            "--format",
            "{{json .HostConfig.SecurityOpt}}",
            "c1",
        ])
        .ok();
    let opts: Vec<String> = serde_json::from_str(opts.trim()).unwrap();
    assert!(
        opts[0].starts_with("seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\""),
        "{opts:?}"
    );
}

#[test]
fn filter_installs_before_and_after_the_privilege_drop() {
    let d = Daemon::with_busybox();
    // Without no-new-privileges the filter goes in while init still has CAP_SYS_ADMIN,
    // then the user changes; with it, just before exec.
    for (opts, nnp) in [
        (&["--user", "1000:1000"][..], 0),
        (
            &["--user", "1000:1000", "--security-opt", "no-new-privileges"][..],
            1,
        ),
        (&["--security-opt", "no-new-privileges"][..], 1),
        (&[][..], 0),
    ] {
        let s = status(&d, opts);
        assert!(s.contains("Seccomp: 2"), "{opts:?}: {s}");
        assert!(s.contains(&format!("NoNewPrivs: {nnp}")), "{opts:?}: {s}");
    }
    let o = run(&d, &["--user", "1000:1000"], "id -u; id -g");
    assert_eq!(o.stdout, "1000\n1000\n", "{o}");
    // A custom profile with a deny-by-default action works for either order too, as
    // long as it allows what init does after installing it.
    let allow = [
        "read",
        "write",
        "close",
        "exit",
        "exit_group",
        "execve",
        "brk",
        "mmap",
        "munmap",
        "arch_prctl",
        "set_tid_address",
        "set_robust_list",
        "rseq",
        "prlimit64",
        "getrandom",
        "mprotect",
        "newfstatat",
        "fstat",
        "statx",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "getpid",
        "getppid",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "uname",
        "ioctl",
        "fcntl",
        "readlink",
        "openat",
        "capget",
        "capset",
        "prctl",
        "setgroups",
        "setresgid",
        "setresuid",
        "chdir",
        "getcwd",
        "stat",
        "lstat",
        "access",
        "wait4",
        "dup2",
        "writev",
    ];
    let strict = profile(
        &d,
        "strict.json",
        &json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "syscalls": [{"names": &allow[..], "action": "SCMP_ACT_ALLOW"}]
        })
        .to_string(),
    );
    let opt = format!("seccomp={}", strict.display());
    for extra in [&[][..], &["--security-opt", "no-new-privileges"][..]] {
        let mut opts = vec!["--user", "1000:1000", "--security-opt", &opt];
        opts.extend_from_slice(extra);
        let run_strict = |cmd: &[&str]| {
            let mut args = vec!["run", "--rm"];
            args.extend(&opts);
            args.push("busybox");
            args.extend(cmd);
            d.docker(args).run()
        };
        let o = run_strict(&["id", "-u"]);
        assert_eq!(o.stdout, "1000\n", "{extra:?}: {o}");
        // mkdir is not in the list: the default action answers ENOSYS.
        let o = run_strict(&["mkdir", "/tmp/x"]);
        assert!(
            o.stderr.contains("Function not implemented"),
            "{extra:?}: {o}"
        );
    }
}

#[test]
fn bad_profiles_fail_the_create_and_leave_nothing() {
    let d = Daemon::with_busybox();
    let wrong_type = profile(&d, "wrong-type.json", r#"{"defaultAction": 5}"#);
    let o = d
        .docker([
            "run",
            "--rm",
            "--security-opt",
            &format!("seccomp={}", wrong_type.display()),
            "busybox",
            "true",
        ])
        .run();
    assert!(!o.success(), "{o}");
    assert!(
        o.stderr
            .contains("Error response from daemon: Decoding seccomp profile failed: "),
        "{o}"
    );
    let unknown_action = profile(&d, "unknown.json", r#"{"defaultAction": "SCMP_ACT_NOPE"}"#);
    let o = d
        .docker([
            "create",
            "--security-opt",
            &format!("seccomp={}", unknown_action.display()),
            "busybox",
            "true",
        ])
        .run();
    assert!(!o.success(), "{o}");
    assert!(o.stderr.contains("SCMP_ACT_NOPE"), "{o}");
    // The docker CLI itself refuses a file that is not JSON.
    let not_json = profile(&d, "not.json", "{oops");
    let o = d
        .docker([
            "create",
            "--security-opt",
            &format!("seccomp={}", not_json.display()),
            "busybox",
            "true",
        ])
        .run();
    assert!(
        o.stderr.contains("compacting json for seccomp profile"),
        "{o}"
    );
    // Through the API, the daemon's answer.
    let body = json!({"Image": "busybox", "Cmd": ["true"],
        "HostConfig": {"SecurityOpt": ["seccomp={oops"]}});
    let r = d.http_body(
        "POST",
        "/containers/create",
        Some(body.to_string().as_bytes()),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let msg = r.json()["message"].as_str().unwrap_or("").to_string();
    assert!(
        msg.starts_with("Decoding seccomp profile failed: "),
        "{msg}"
    );
    assert!(d.docker(["ps", "-aq"]).ok().trim().is_empty());
    let containers = d.root().join("data/containers");
    assert_eq!(
        std::fs::read_dir(&containers)
            .map(|r| r.count())
            .unwrap_or(0),
        0,
        "no container directory"
    );
}
