//! The berth CLI's data commands next to docker's, against the same berthd: `volume`
//! (create/ls/inspect/rm/prune), `cp` both ways, `diff`, `commit`, `export`, and the
//! mount flags of `run`/`create`.
//!
//! The usage and flag errors only need a daemon to ping; the rest needs the daemon's
//! `/volumes`, `/containers/{id}/archive`, `/changes`, `/export` and `/commit`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_it::{lines, sorted_lines, Cli, Daemon, Out};

/// Output with the program's name taken out, so that docker's and berth's compare.
fn neutral(s: &str) -> String {
    s.replace("docker", "X")
        .replace("Docker", "X")
        .replace("berth", "X")
}

/// Runs the same command line with docker and berth and checks that stdout, stderr
/// and the exit code agree.
fn same(d: &Daemon, args: &[&str]) -> Out {
    same_with(d, args, |c| c)
}

/// [`same`] with something done to both command lines first (stdin, directory).
fn same_with(d: &Daemon, args: &[&str], prep: impl Fn(Cli) -> Cli) -> Out {
    let k = prep(d.docker(args)).run();
    let b = prep(d.berth(args)).run();
    assert_eq!(
        (neutral(&b.stdout), neutral(&b.stderr), b.status.code()),
        (neutral(&k.stdout), neutral(&k.stderr), k.status.code()),
        "berth {args:?} vs docker\n--- berth\n{b}\n--- docker\n{k}"
    );
    b
}

#[test]
fn usage_flag_and_help_output_match_docker() {
    let d = Daemon::with_busybox();
    for args in [
        &["volume"][..],
        &["volume", "--help"],
        &["volume", "create", "--help"],
        &["volume", "ls", "--help"],
        &["volume", "list", "--help"],
        &["volume", "inspect", "--help"],
        &["volume", "rm", "--help"],
        &["volume", "prune", "--help"],
        &["cp", "--help"],
        &["container", "cp", "--help"],
        &["diff", "--help"],
        &["container", "diff", "--help"],
        &["commit", "--help"],
        &["container", "commit", "--help"],
        &["export", "--help"],
        &["container", "export", "--help"],
    ] {
        let out = same(&d, args);
        assert!(out.success(), "{args:?}: {out}");
    }
    for args in [
        &["volume", "foo"][..],
        &["volume", "create", "a", "b"],
        &["volume", "create", "--name", "x", "y"],
        &["volume", "create", "--label", " =x"],
        &["volume", "create", "--bogus"],
        &["volume", "rm"],
        &["volume", "ls", "x"],
        &["volume", "ls", "-f", "bad"],
        &["volume", "prune", "-f", "x"],
        &["volume", "prune", "--filter", "bad"],
        &["volume", "inspect"],
        &["volume", "inspect", "--format", "{{", "v"],
        &["volume", "inspect", " "],
        &["cp"],
        &["cp", "a"],
        &["cp", "a", "b"],
        &["cp", "", "ctr:/"],
        &["cp", "f", ""],
        &["cp", "a:/x", "b:/y"],
        &["cp", "--bogus", "a", "b"],
        &["cp", "/nonexistent-berth", "ctr:/tmp"],
        &["cp", "nofile", "ctr:/tmp"],
        &["diff"],
        &["diff", "a", "b"],
        &["diff", ""],
        &["diff", " "],
        &["export"],
        &["export", "a", "b"],
        &["commit"],
        &["commit", "a", "b", "c"],
        &["commit", "ctr", "bad ref!"],
        &["commit", "ctr", "-m", "x"],
        &[
            "commit",
            "ctr",
            "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ],
        &["commit", " "],
        &["run", "--mount", "", "busybox"],
        &["run", "--mount", "type=bind", "busybox"],
        &["run", "--mount", "type=bind,src=\"/a,dst=/b", "busybox"],
        &[
            "run",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-size=abc",
            "busybox",
        ],
        &[
            "run",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-mode=999",
            "busybox",
        ],
        &[
            "run",
            "--mount",
            "type=bind,dst=/b,bind-recursive=xx",
            "busybox",
        ],
        &[
            "run",
            "--mount",
            "type=bind,src=/a,dst=/b,volume-nocopy",
            "busybox",
        ],
        &["run", "--mount", "dst=/v,readonly=maybe", "busybox"],
        &["run", "--mount", "dst=/a,foo=bar", "busybox"],
        &["run", "-v", "", "busybox"],
        &["run", "-v", "/a::/b", "busybox"],
        &["run", "-v", "a:b:c:d", "busybox"],
        &["create", "--mount", "type=,dst=/x", "busybox"],
    ] {
        let out = same(&d, args);
        assert!(!out.success(), "{args:?} should fail: {out}");
    }
    // The output file is checked before the daemon is asked.
    same(&d, &["export", "nope", "-o", "/nonexistent-berth/x.tar"]);
    same(&d, &["export", "nope", "-o", "/"]);
}

/// The inspect fields docker shows for a volume, whatever created it.
const VOLUME_FIELDS: &str =
    "{{.Name}} {{.Driver}} {{.Scope}} {{json .Labels}} {{json .Options}} {{.Status}} {{.UsageData}}";

#[test]
fn volume_commands_match_docker() {
    let d = Daemon::with_busybox();
    assert_eq!(d.berth(["volume", "create", "v1"]).ok(), "v1\n");
    same(&d, &["volume", "create", "v1"]);
    assert_eq!(
        d.berth([
            "volume",
            "create",
            "--label",
            "a=b",
            "--label",
            "berth.test",
            "-d",
            "local",
            "--opt",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "-o",
            "o=size=1m",
            "vt",
        ])
        .ok(),
        "vt\n"
    );
    d.docker([
        "volume",
        "create",
        "--label",
        "a=b",
        "--label",
        "berth.test",
        "-d",
        "local",
        "--opt",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "vd",
    ])
    .ok();
    let fields = |name: &str| {
        d.docker(["volume", "inspect", "-f", VOLUME_FIELDS, name])
            .ok()
            .replacen(name, "NAME", 1)
    };
    assert_eq!(
        fields("vt"),
        fields("vd"),
        "the same request reached the daemon"
    );
    assert!(
        fields("vt").contains(r#"{"a":"b","berth.test":""}"#),
        "{}",
        fields("vt")
    );
    // A volume named by the daemon.
    let anon = d.berth(["volume", "create"]).ok();
    assert_eq!(anon.trim().len(), 64, "{anon}");

    same(&d, &["volume", "inspect", "v1"]);
    same(&d, &["volume", "inspect", "v1", "vt"]);
    same(&d, &["volume", "inspect", "-f", "json", "vt"]);
    same(&d, &["volume", "inspect", "-f", VOLUME_FIELDS, "v1", "vt"]);
    same(&d, &["volume", "inspect", "-f", "{{json .}}", "vt"]);
    same(&d, &["volume", "inspect", "-f", "{{.CreatedAt}}", "vt"]);
    same(&d, &["volume", "inspect", "-f", "{{.Bad}}", "vt"]);
    same(&d, &["volume", "inspect", "v1", "nope"]);
    same(&d, &["inspect", "v1"]);
    same(
        &d,
        &["inspect", "--type", "volume", "-f", "{{.Name}}", "vt"],
    );
    // Go joins several labels in random order: the listings use one label at most.
    assert_eq!(d.berth(["volume", "rm", "vt", "vd"]).ok(), "vt\nvd\n");
    same(&d, &["volume", "inspect", "vt"]);
    d.berth(["volume", "create", "--label", "a=b", "vl"]).ok();

    same(&d, &["volume", "ls"]);
    same(&d, &["volume", "list", "-q"]);
    same(&d, &["volume", "ls", "--format", "json"]);
    same(&d, &["volume", "ls", "--format", "raw"]);
    same(&d, &["volume", "ls", "-q", "--format", "raw"]);
    same(
        &d,
        &[
            "volume",
            "ls",
            "--format",
            "table {{.Name}}\t{{.Driver}}\t{{.Scope}}\t{{.Links}}\t{{.Size}}\t{{.Label \"a\"}}",
        ],
    );
    same(
        &d,
        &[
            "volume",
            "ls",
            "--format",
            "{{.Name}}: {{.Labels}} {{.Mountpoint}}",
        ],
    );
    same(&d, &["volume", "ls", "--format", "{{.Bad}}"]);
    same(&d, &["volume", "ls", "-f", "name=v"]);
    same(&d, &["volume", "ls", "-f", "label=a=b", "-q"]);
    same(&d, &["volume", "ls", "-f", "label=a", "-q"]);
    same(&d, &["volume", "ls", "-f", "driver=local", "-f", "name=vl"]);
    same(&d, &["volume", "ls", "-f", "dangling=maybe"]);
    same(&d, &["volume", "ls", "-f", "foo=bar"]);

    // In use by a container.
    d.docker([
        "run", "-d", "--name", "user", "-v", "v1:/data", "busybox", "sleep", "300",
    ])
    .ok();
    same(&d, &["volume", "ls", "-f", "dangling=true", "-q"]);
    same(&d, &["volume", "ls", "-f", "dangling=false", "-q"]);
    let busy = same(&d, &["volume", "rm", "v1"]);
    assert!(!busy.success(), "{busy}");
    same(&d, &["volume", "rm", "nope", "v1"]);
    same(&d, &["volume", "rm", "-f", "nope"]);
    same(&d, &["volume", "rm", " "]);
    d.docker(["rm", "-f", "user"]).ok();

    // prune: declined, then every unused volume (berthd prunes as the Docker 20.10 the
    // compat goldens come from: named volumes too, `all` or not).
    same_with(&d, &["volume", "prune"], |c| c.stdin_bytes("n\n"));
    d.docker(["run", "--name", "anon", "-v", "/scratch", "busybox", "true"])
        .ok();
    let anon_of_run = d
        .docker(["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon"])
        .ok();
    d.docker(["rm", "anon"]).ok();
    let out = d.berth(["volume", "prune", "-f"]).ok();
    assert!(out.starts_with("Deleted Volumes:\n"), "{out}");
    assert!(out.contains(anon_of_run.trim()), "{out}");
    assert!(
        lines(&out)
            .last()
            .is_some_and(|l| l.starts_with("Total reclaimed space: ")),
        "{out}"
    );
    assert!(
        out.contains("v1\n"),
        "unused named volumes are pruned too: {out}"
    );
    same(&d, &["volume", "prune", "-a", "--filter", "all=1", "-f"]);
    same(
        &d,
        &["volume", "prune", "-f", "--filter", "label=nothing-has-it"],
    );
    d.berth(["volume", "prune", "--all", "--force"]).ok();
    assert_eq!(d.docker(["volume", "ls", "-q"]).ok(), "");
    same(&d, &["volume", "prune", "-f"]);
}

/// The modification time the copy scenario gives the container's files.
const CTR_MTIME: i64 = 1_577_934_245;

/// A listing of a local tree: kind, mode, and contents or link target per entry;
/// times only say whether they came from the container.
fn local_tree(root: &Path) -> String {
    let mut out = Vec::new();
    fn walk(base: &Path, p: &Path, out: &mut Vec<String>) {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            out.push(format!("{} missing", p.display()));
            return;
        };
        let rel = p
            .strip_prefix(base)
            .map(|r| r.display().to_string())
            .unwrap_or_default();
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(p).unwrap_or_default();
            out.push(format!("{rel} -> {}", target.display()));
        } else if meta.is_dir() {
            out.push(format!("{rel}/ {mode:o} {}", when(meta.mtime())));
            let mut names: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|r| r.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            names.sort();
            for n in names {
                walk(base, &n, out);
            }
        } else {
            let data = std::fs::read(p).unwrap_or_default();
            out.push(format!(
                "{rel} {mode:o} {} {:?}",
                when(meta.mtime()),
                String::from_utf8_lossy(&data)
            ));
        }
    }
    fn when(mtime: i64) -> &'static str {
        if mtime == CTR_MTIME {
            "ctr-time"
        } else {
            "local-time"
        }
    }
    walk(root, root, &mut out);
    out.join("\n") + "\n"
}

/// One CLI's run through docker's copy rules; the transcript names neither the CLI
/// nor its container or directory.
fn cp_transcript(d: &Daemon, cli: &str) -> String {
    let c = format!("cp-{cli}");
    let work = d.work.join(format!("cp-{cli}"));
    std::fs::create_dir_all(&work).expect("work dir");
    let mut t = String::new();
    let run = |t: &mut String, args: &[&str], stdin: Option<&[u8]>| {
        let mut cmd = if cli == "docker" {
            d.docker(args)
        } else {
            d.berth(args)
        }
        .current_dir(&work);
        if let Some(input) = stdin {
            cmd = cmd.stdin_bytes(input.to_vec());
        }
        let o = cmd.run();
        // docker's tar writer logs a closed pipe when the daemon refuses early.
        let stderr: String = o
            .stderr
            .lines()
            .filter(|l| !l.contains("on closed pipe"))
            .map(|l| format!("{l}\n"))
            .collect();
        let text = format!(
            "$ {}\n{}{}[rc={}]\n",
            args.join(" "),
            o.stdout,
            stderr,
            o.status.code().unwrap_or(-1)
        );
        t.push_str(&neutral(
            &text
                .replace(&work.display().to_string(), "W")
                .replace(&c, "C"),
        ));
    };
    let exec = |t: &mut String, script: &str| {
        let o = d.docker(["exec", &c, "sh", "-c", script]).run();
        t.push_str(&o.stdout);
        t.push_str(&o.stderr);
    };
    d.docker(["run", "-d", "--name", &c, "busybox", "sleep", "300"])
        .ok();
    std::fs::write(work.join("host.txt"), "file-content\n").expect("write");
    std::fs::create_dir_all(work.join("hdir/sub")).expect("mkdir");
    std::fs::write(work.join("hdir/a"), "a\n").expect("write");
    std::fs::write(work.join("hdir/sub/b"), "b\n").expect("write");
    std::os::unix::fs::symlink("a", work.join("hdir/link")).expect("symlink");
    std::fs::hard_link(work.join("hdir/a"), work.join("hdir/hard")).expect("link");
    std::fs::set_permissions(
        work.join("hdir/sub"),
        std::fs::Permissions::from_mode(0o751),
    )
    .expect("chmod");
    let long = "n".repeat(120);
    std::fs::write(work.join("hdir").join(&long), "long name\n").expect("write");

    t.push_str("-- host -> container\n");
    let ctr = |p: &str| format!("{c}:{p}");
    for (src, dst) in [
        ("host.txt", "/tmp/"),
        ("host.txt", "/tmp/renamed.txt"),
        ("hdir", "/tmp/hdir"),
        ("hdir", "/tmp/hdir"),
        ("hdir/.", "/tmp/contents"),
        ("hdir/", "/tmp/slash"),
        ("hdir/link", "/tmp/l1"),
        ("host.txt", "/tmp/nonex/"),
        ("host.txt", "/nonexistent/x"),
        ("hdir", "/tmp/host.txt"),
        ("host.txt", "/tmp/hdir"),
        ("/nonexistent-berth", "/tmp"),
        ("nofile", "/tmp"),
        ("./host.txt", "/tmp/dot.txt"),
    ] {
        run(&mut t, &["cp", src, &ctr(dst)], None);
    }
    run(&mut t, &["cp", "-L", "hdir/link", &ctr("/tmp/l2")], None);
    run(&mut t, &["cp", "host.txt", "nope:/tmp"], None);
    run(
        &mut t,
        &["cp", "-q=false", "host.txt", &ctr("/tmp/q.txt")],
        None,
    );
    run(&mut t, &["cp", "-q=false", "hdir", &ctr("/tmp/qdir")], None);
    run(
        &mut t,
        &["container", "cp", "host.txt", &ctr("/tmp/alias.txt")],
        None,
    );
    exec(
        &mut t,
        "ln -s /tmp/hdir /tmp/dlink; ln -s renamed.txt /tmp/flink",
    );
    run(&mut t, &["cp", "host.txt", &ctr("/tmp/dlink")], None);
    run(&mut t, &["cp", "host.txt", &ctr("/tmp/flink")], None);
    exec(
        &mut t,
        "cd /tmp; cat host.txt renamed.txt dot.txt alias.txt; find hdir contents slash l1 l2 q.txt qdir dlink/ | sort; \
         readlink hdir/link; readlink l1; cat l2; stat -c '%n %a %h' hdir/sub hdir/a hdir/hard; cat hdir/host.txt flink",
    );

    t.push_str("-- container -> host\n");
    exec(
        &mut t,
        "mkdir -p /src/d/e && echo from-ctr > /src/d/f && ln -s d/f /src/sym && chmod 640 /src/d/f \
         && chown 65534:65534 /src/d/f && ln -s d /src/dsym && touch -t 202001020304.05 /src/d/f /src/d/e /src/d",
    );
    std::fs::create_dir_all(work.join("existing")).expect("mkdir");
    std::os::unix::fs::symlink("out-d", work.join("hostlink")).expect("symlink");
    std::os::unix::fs::symlink("dangling-target", work.join("hostdangle")).expect("symlink");
    for args in [
        &["cp", &ctr("/src/d/f"), "out-f"][..],
        &["cp", &ctr("/src/d"), "out-d"],
        &["cp", &ctr("/src/sym"), "out-sym"],
        &["cp", "-L", &ctr("/src/sym"), "out-symL"],
        &["cp", "-L", &ctr("/src/dsym"), "out-dsymL"],
        &["cp", &ctr("/src/dsym/"), "out-dsym-slash"],
        &["cp", &ctr("/src/d"), "existing"],
        &["cp", &ctr("/src/d/."), "out-contents"],
        &["cp", &ctr("/src/d/."), "existing"],
        &["cp", &ctr("/src/d"), "out-f"],
        &["cp", &ctr("/src/d/f"), "nodir/"],
        &["cp", &ctr("/src/d/f"), "existing/"],
        &["cp", &ctr("/nonexistent"), "."],
        &["cp", &ctr("/src/d/f"), "/nonexistent-berth/x"],
        &["cp", "-q=false", &ctr("/src/d/f"), "qf"],
        &["cp", "-q=false", &ctr("/src/d"), "out-f"],
        &["cp", &ctr("/src/d/f"), "hostlink"],
        &["cp", &ctr("/src/d/f"), "hostdangle"],
        &["container", "cp", &ctr("/src/d/f"), "alias-f"],
    ] {
        run(&mut t, args, None);
    }
    t.push_str(&local_tree(&work).replace(&work.display().to_string(), "W"));

    t.push_str("-- ownership\n");
    std::fs::write(work.join("owned.txt"), "owned\n").expect("write");
    std::os::unix::fs::chown(work.join("owned.txt"), Some(1234), Some(2345)).expect("chown");
    let cu = format!("{c}u");
    d.docker([
        "run", "-d", "--name", &cu, "-u", "nobody", "busybox", "sleep", "300",
    ])
    .ok();
    for target in [&c, &cu] {
        run(
            &mut t,
            &["cp", "owned.txt", &format!("{target}:/tmp/plain.txt")],
            None,
        );
        run(
            &mut t,
            &[
                "cp",
                "-a",
                "owned.txt",
                &format!("{target}:/tmp/archive.txt"),
            ],
            None,
        );
        let o = d
            .docker([
                "exec",
                target,
                "stat",
                "-c",
                "%n %u:%g",
                "/tmp/plain.txt",
                "/tmp/archive.txt",
            ])
            .ok();
        t.push_str(&o);
    }

    t.push_str("-- tar streams\n");
    let o = if cli == "docker" {
        d.docker(["cp", &ctr("/src/d"), "-"])
    } else {
        d.berth(["cp", &ctr("/src/d"), "-"])
    }
    .run();
    let mut names = Vec::new();
    let mut a = tar::Archive::new(&o.raw_stdout[..]);
    for e in a.entries().expect("a tar on stdout") {
        let e = e.expect("tar entry");
        let h = e.header();
        names.push(format!(
            "{} {:o} {}:{}",
            String::from_utf8_lossy(&e.path_bytes()),
            h.mode().unwrap_or(0),
            h.uid().unwrap_or(0),
            h.gid().unwrap_or(0)
        ));
    }
    names.sort();
    t.push_str(&names.join("\n"));
    t.push('\n');
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_path("from-stdin").expect("path");
    h.set_size(6);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &b"stdin\n"[..]).expect("append");
    let tarball = b.into_inner().expect("tar");
    run(&mut t, &["cp", "-", &ctr("/tmp/")], Some(&tarball));
    run(&mut t, &["cp", "-", &ctr("/tmp/host.txt")], Some(&tarball));
    run(
        &mut t,
        &["cp", "-q=false", "-", &ctr("/tmp/")],
        Some(&tarball),
    );
    exec(&mut t, "cat /tmp/from-stdin");

    t.push_str("-- stopped\n");
    d.docker(["stop", "-t", "0", &c]).ok();
    run(&mut t, &["cp", "host.txt", &ctr("/stopped.txt")], None);
    run(&mut t, &["cp", &ctr("/stopped.txt"), "back.txt"], None);
    t.push_str(&std::fs::read_to_string(work.join("back.txt")).unwrap_or_default());
    d.docker(["rm", "-f", &c, &cu]).ok();
    t
}

#[test]
fn cp_matches_docker_both_ways() {
    let d = Daemon::with_busybox();
    let k = cp_transcript(&d, "docker");
    let b = cp_transcript(&d, "berth");
    assert_eq!(
        b, k,
        "berth's copies vs docker's\n--- berth\n{b}\n--- docker\n{k}"
    );
    // The transcript saw real work.
    assert!(
        k.contains("Successfully copied 2.05kB to C:/tmp/q.txt\n"),
        "{k}"
    );
    assert!(k.contains("out-d/f 640 ctr-time \"from-ctr\\n\""), "{k}");
}

#[test]
fn cp_from_a_never_started_container() {
    let d = Daemon::with_busybox();
    d.load(&berth_it::fixtures().layered);
    d.docker(["create", "--name", "fresh", "berth-test/layered"])
        .ok();
    let k = d.docker(["cp", "fresh:/data", "-"]).run();
    let b = d.berth(["cp", "fresh:/data", "-"]).run();
    assert!(k.success() && b.success(), "{k}\n{b}");
    assert_eq!(
        b.raw_stdout, k.raw_stdout,
        "the daemon's tar, passed through"
    );
    let out = d.work.join("data-copy");
    d.berth(["cp", "fresh:/data"]).arg(&out).ok();
    assert_eq!(
        std::fs::read_to_string(out.join("replace.txt")).expect("copied file"),
        "v2\n"
    );
}

#[test]
fn cp_never_writes_through_symlinks_a_container_planted() {
    let d = Daemon::with_busybox();
    let host = d.work.join("host-dir");
    std::fs::create_dir_all(&host).expect("mkdir");
    let hostdir = host.display().to_string();
    d.docker(["run", "-d", "--name", "evil", "busybox", "sleep", "300"])
        .ok();
    d.docker([
        "exec",
        "evil",
        "sh",
        "-c",
        &format!(
            "mkdir -p /one /two/x /three && ln -s {hostdir} /one/x && echo pwned > /two/x/file \
             && ln -s ../../../../../../.. /three/up && ln -s /etc /etcl && ln -s ../../../.. /up"
        ),
    ])
    .ok();
    // The symlinks come over as symlinks; a second copy with a real directory under
    // the same name does not write through them; links that climb out are refused.
    let mut transcripts = Vec::new();
    for cli in ["docker", "berth"] {
        let out = d.work.join(format!("out-{cli}"));
        std::fs::create_dir_all(&out).expect("mkdir");
        let run = |args: &[&str]| {
            let c = if cli == "docker" {
                d.docker(args)
            } else {
                d.berth(args)
            };
            let o = c.current_dir(&out).run();
            format!(
                "{}{}[rc={}]\n",
                o.stdout,
                o.stderr,
                o.status.code().unwrap_or(-1)
            )
            .replace(&out.display().to_string(), "OUT")
        };
        let mut t = run(&["cp", "evil:/one/.", "."]);
        t += &run(&["cp", "evil:/two/.", "."]);
        t += &run(&["cp", "evil:/three/.", "."]);
        assert_eq!(
            std::fs::read_link(out.join("x")).expect("symlink kept"),
            host
        );
        transcripts.push(neutral(&t));
    }
    assert_eq!(transcripts[1], transcripts[0], "berth vs docker");
    assert!(
        transcripts[0].contains("cannot overwrite non-directory"),
        "{}",
        transcripts[0]
    );
    assert!(
        transcripts[0].contains("invalid symlink"),
        "{}",
        transcripts[0]
    );
    assert_eq!(
        std::fs::read_dir(&host).expect("read").count(),
        0,
        "nothing in {hostdir}"
    );
    // Copying into the container through its own links stays in the container.
    let marker = format!("berth-cp-marker-{}", std::process::id());
    let src = d.work.join(&marker);
    std::fs::write(&src, "x").expect("write");
    d.berth(["cp"]).arg(&src).arg("evil:/etcl/").ok();
    assert!(
        !Path::new("/etc").join(&marker).exists(),
        "wrote the host's /etc"
    );
    let listed = d.docker(["exec", "evil", "ls", "/etc"]).ok();
    assert!(listed.contains(&marker), "{listed}");
    d.berth(["cp"]).arg(&src).arg("evil:/up/").ok();
    assert!(!Path::new("/").join(&marker).exists(), "wrote the host's /");
    d.docker(["rm", "-f", "evil"]).ok();
}

#[test]
fn diff_commit_and_export_match_docker() {
    let d = Daemon::with_busybox();
    d.docker([
        "run",
        "--name",
        "chg",
        "-e",
        "RUNENV=1",
        "busybox",
        "sh",
        "-c",
        "echo committed > /marker; rm /etc/group; mkdir -p /root/d; echo x > /tmp/new",
    ])
    .ok();
    let k = d.docker(["diff", "chg"]).ok();
    let b = d.berth(["diff", "chg"]).ok();
    assert_eq!(sorted_lines(&b), sorted_lines(&k));
    for want in ["A /marker", "D /etc/group", "A /root/d", "A /tmp/new"] {
        assert!(b.lines().any(|l| l == want), "{want} in\n{b}");
    }
    let b = d.berth(["container", "diff", "chg"]).ok();
    assert_eq!(sorted_lines(&b), sorted_lines(&k));
    same(&d, &["diff", "nope"]);

    let changes = [
        "--change",
        "CMD [\"cat\", \"/marker\"]",
        "-c",
        "ENV COMMITTED=1",
        "--change",
        "WORKDIR /app",
        "-c",
        "LABEL stage=commit",
        "-c",
        "EXPOSE 7000",
        "-c",
        "USER nobody",
    ];
    for (cli, tag) in [("docker", "imgd:v1"), ("berth", "imgb:v1")] {
        let mut args = vec![
            "commit",
            "-m",
            "add marker",
            "-a",
            "Tester <t@example.test>",
        ];
        args.extend(changes);
        args.extend(["chg", tag]);
        let out = if cli == "docker" {
            d.docker(&args).ok()
        } else {
            d.berth(&args).ok()
        };
        assert!(
            out.starts_with("sha256:") && out.trim().len() == 71,
            "{cli}: {out}"
        );
    }
    let fmt = "{{.Comment}}|{{.Author}}|{{json .Config.Cmd}}|{{.Config.WorkingDir}}|{{.Config.User}}|\
               {{json .Config.Labels}}|{{json .Config.ExposedPorts}}|{{json .Config.Env}}|{{len .RootFS.Layers}}";
    assert_eq!(d.fmt("imgb:v1", fmt), d.fmt("imgd:v1", fmt));
    assert_eq!(d.docker(["run", "--rm", "imgb:v1"]).ok(), "committed\n");
    same(&d, &["commit", "nope"]);
    same(&d, &["commit", "-c", "BOGUS x", "chg"]);

    // A running container is paused during commit by default, and keeps running.
    d.docker([
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo live > /live; sleep 300",
    ])
    .ok();
    berth_it::wait_for("the container to write", || {
        d.docker(["exec", "live", "test", "-f", "/live"])
            .run()
            .success()
    });
    let untagged = d.berth(["commit", "live"]).ok();
    assert_eq!(d.fmt(untagged.trim(), "{{json .RepoTags}}"), "[]");
    d.berth(["container", "commit", "-p=false", "live", "imgb:live"])
        .ok();
    assert_eq!(d.inspect_fmt("live", "{{.State.Status}}"), "running");
    assert_eq!(
        d.docker(["run", "--rm", "imgb:live", "cat", "/live"]).ok(),
        "live\n"
    );

    // export: the same archive either way, to a file (mode 0600) or stdout.
    let listing = |bytes: &[u8]| {
        let mut a = tar::Archive::new(bytes);
        let mut v: Vec<String> = a
            .entries()
            .expect("tar")
            .map(|e| {
                let e = e.expect("entry");
                format!(
                    "{} {}",
                    String::from_utf8_lossy(&e.path_bytes()),
                    e.header().entry_type().as_byte()
                )
            })
            .collect();
        v.sort();
        v
    };
    let (kf, bf) = (d.work.join("docker.tar"), d.work.join("berth.tar"));
    d.docker(["export", "chg", "-o"]).arg(&kf).ok();
    d.berth(["export", "-o"]).arg(&bf).arg("chg").ok();
    let kb = std::fs::read(&kf).expect("docker's export");
    let bb = std::fs::read(&bf).expect("berth's export");
    assert_eq!(listing(&bb), listing(&kb));
    assert!(
        listing(&bb).iter().any(|l| l == "marker 48"),
        "{:?}",
        listing(&bb)
    );
    assert_eq!(
        std::fs::metadata(&bf).expect("stat").permissions().mode() & 0o777,
        0o600
    );
    let out = d.berth(["container", "export", "chg"]).run();
    assert!(out.success(), "{out}");
    assert_eq!(listing(&out.raw_stdout), listing(&kb));
    let leftovers: Vec<String> = std::fs::read_dir(&d.work)
        .expect("read work")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    same(&d, &["export", "nope"]);
    let missing = d.work.join("never.tar");
    same(
        &d,
        &["export", "nope", "-o", &missing.display().to_string()],
    );
    assert!(!missing.exists(), "no file for a failed export");
    d.docker(["rm", "-f", "chg", "live"]).ok();
}

/// What the daemon stored of a create request's mounts.
const MOUNTS: &str = "{{json .HostConfig.Mounts}} {{json .HostConfig.Tmpfs}} \
{{json .HostConfig.VolumesFrom}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.VolumeDriver}} {{json .Config.Volumes}}";

#[test]
fn mount_flags_reach_the_daemon_like_dockers() {
    let d = Daemon::with_busybox();
    let host = d.work.join("bind-src");
    std::fs::create_dir_all(&host).expect("mkdir");
    let host = host.display().to_string();
    d.docker(["create", "--name", "donor", "-v", "/donated", "busybox"])
        .ok();
    let bind = format!("type=bind,source={host},target=/b,readonly,bind-propagation=rslave");
    let bind2 = format!("type=bind,src={host},dst=/c,bind-recursive=disabled");
    let rw = format!("{host}:/rw:rw");
    let flags = [
        "--mount",
        &bind,
        "--mount",
        &bind2,
        "--mount",
        "type=volume,src=named,dst=/v,readonly,volume-nocopy,volume-label=x=y,volume-opt=type=tmpfs,volume-opt=device=tmpfs",
        "--mount",
        "type=volume,source=other,target=/o,volume-driver=local",
        "--mount",
        "type=volume,target=/anon",
        "--mount",
        "type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1777",
        "--tmpfs",
        "/run:rw,noexec,size=1m",
        "--tmpfs",
        "/scratch",
        "-v",
        &rw,
        "-v",
        "vol1:/vol1:nocopy",
        "-v",
        "/anonv",
        "--volumes-from",
        "donor:ro",
        "--read-only",
        "--volume-driver",
        "local",
    ];
    for cli in ["docker", "berth"] {
        let name = format!("by-{cli}");
        let mut args = vec!["create", "--name", &name];
        args.extend(flags);
        args.extend(["busybox", "true"]);
        if cli == "docker" {
            d.docker(&args).ok();
        } else {
            d.berth(&args).ok();
        }
    }
    let k = d.inspect_fmt("by-docker", MOUNTS);
    let b = d.inspect_fmt("by-berth", MOUNTS);
    assert_eq!(b, k, "the same mounts, as the daemon stored them");
    // docker sends the binds in Go's map order: compared as sets.
    let binds = |name: &str| {
        sorted_lines(&d.inspect_fmt(name, "{{range .HostConfig.Binds}}{{println .}}{{end}}"))
    };
    assert_eq!(binds("by-berth"), binds("by-docker"));
    assert_eq!(binds("by-docker").len(), 2);
    assert!(k.contains("\"Propagation\":\"rslave\""), "{k}");
    // Refusals by the daemon, with docker's wording and exit codes.
    same(
        &d,
        &["run", "--mount", "type=bind,src=relative,dst=/x", "busybox"],
    );
    same(
        &d,
        &[
            "run",
            "--mount",
            "type=bind,src=/nonexistent-berth,dst=/x",
            "busybox",
        ],
    );
    same(&d, &["run", "--volumes-from", "nope", "busybox", "true"]);
    // A read-only root with a writable tmpfs on top.
    let out = same(
        &d,
        &[
            "run",
            "--rm",
            "--read-only",
            "--tmpfs",
            "/w",
            "busybox",
            "sh",
            "-c",
            "touch /w/ok && echo ok; touch /no",
        ],
    );
    assert!(out.stdout.contains("ok"), "{out}");
}
