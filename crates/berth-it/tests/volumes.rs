//! Volumes, bind mounts and tmpfs through the real docker CLI: persistence, copy-up
//! (modes, owners, links, `nocopy`), read-only binds, single files, propagation,
//! `--volumes-from`, tmpfs limits, Docker's errors, and hostile images whose links aim
//! at the host.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_it::{
    build_tar, fixtures, lines, random_u64, sorted_lines, Daemon, DockerArchive, Entry,
};

fn data_dir(d: &Daemon, volume: &str) -> PathBuf {
    PathBuf::from(
        d.docker(["volume", "inspect", "--format", "{{.Mountpoint}}", volume])
            .ok()
            .trim(),
    )
}

/// The busybox fixture's only layer, to build runnable images around it.
fn busybox_layer() -> Vec<u8> {
    let mut archive = tar::Archive::new(std::fs::File::open(&fixtures().busybox).unwrap());
    let mut files = std::collections::HashMap::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).unwrap();
        files.insert(name, buf);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let layer = manifest[0]["Layers"][0].as_str().unwrap().to_string();
    files.remove(&layer).unwrap()
}

fn host_scratch(d: &Daemon, name: &str) -> PathBuf {
    let p = d.root().join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn named_volumes_persist_until_removed_and_in_use_is_refused() {
    let d = Daemon::with_busybox();
    let o = d
        .docker([
            "run",
            "--name",
            "writer",
            "-v",
            "keep:/data",
            "busybox",
            "sh",
            "-c",
            "echo persisted > /data/f; mkdir /data/d; chown nobody /data/d",
        ])
        .run();
    assert!(o.success(), "{o}");
    let dir = data_dir(&d, "keep");
    assert!(
        dir.starts_with(d.root()),
        "{} is under the data root",
        dir.display()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("f")).unwrap(),
        "persisted\n"
    );
    // Referenced by a stopped container: Docker's 409 and wording.
    let o = d.docker(["volume", "rm", "keep"]).fails();
    let id = d.docker(["inspect", "--format", "{{.Id}}", "writer"]).ok();
    assert!(
        o.stderr
            .contains(&format!("remove keep: volume is in use - [{}]", id.trim())),
        "{o}"
    );
    d.docker(["rm", "-v", "writer"]).ok();
    // A named volume outlives `rm -v`.
    let o = d
        .docker([
            "run",
            "--rm",
            "-v",
            "keep:/other",
            "busybox",
            "sh",
            "-c",
            "cat /other/f; stat -c '%U' /other/d",
        ])
        .ok();
    assert_eq!(o, "persisted\nnobody\n");
    d.docker(["volume", "rm", "keep"]).ok();
    assert!(!dir.exists(), "the data went with the volume");
    let o = d.docker(["volume", "inspect", "keep"]).fails();
    assert!(o.stderr.contains("get keep: no such volume"), "{o}");
    let o = d.docker(["volume", "rm", "keep"]).fails();
    assert!(o.stderr.contains("no such volume"), "{o}");
    // Create is idempotent, labels and options are kept, names are checked.
    d.docker(["volume", "create", "--label", "a=b", "lab"]).ok();
    assert_eq!(d.docker(["volume", "create", "lab"]).ok(), "lab\n");
    assert_eq!(
        d.docker([
            "volume",
            "inspect",
            "--format",
            "{{json .Labels}} {{.Driver}} {{.Scope}}",
            "lab"
        ])
        .ok(),
        "{\"a\":\"b\"} local local\n"
    );
    let o = d.docker(["volume", "create", "../evil"]).fails();
    assert!(
        o.stderr
            .contains("includes invalid characters for a local volume name"),
        "{o}"
    );
    let o = d
        .docker(["volume", "create", "-o", "bogus=1", "bad"])
        .fails();
    assert!(o.stderr.contains("invalid option key"), "{o}");
    assert_eq!(
        sorted_lines(&d.docker(["volume", "ls", "-q"]).ok()),
        ["lab"],
        "refused volumes leave nothing"
    );
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_with_rm() {
    let d = Daemon::with_busybox();
    d.docker([
        "run",
        "--name",
        "anon1",
        "-v",
        "/anon",
        "-v",
        "named:/named",
        "busybox",
        "touch",
        "/anon/x",
    ])
    .ok();
    let anon = d
        .docker([
            "inspect",
            "--format",
            "{{range .Mounts}}{{if eq .Destination \"/anon\"}}{{.Name}}{{end}}{{end}}",
            "anon1",
        ])
        .ok()
        .trim()
        .to_string();
    assert_eq!(
        anon.len(),
        64,
        "anonymous volumes have 64-hex names: {anon}"
    );
    assert!(data_dir(&d, &anon).join("x").exists());
    d.docker(["rm", "-v", "anon1"]).ok();
    assert_eq!(lines(&d.docker(["volume", "ls", "-q"]).ok()), ["named"]);
    d.docker(["run", "--rm", "-v", "/gone", "busybox", "true"])
        .ok();
    berth_it::wait_for("the --rm container and its volume to go", || {
        lines(&d.docker(["volume", "ls", "-q"]).ok()) == ["named"]
    });
    // Without -v the anonymous volume stays.
    d.docker(["run", "--name", "anon2", "-v", "/stays", "busybox", "true"])
        .ok();
    d.docker(["rm", "anon2"]).ok();
    assert_eq!(d.docker(["volume", "ls", "-q"]).ok().lines().count(), 2);
}

#[test]
fn copy_up_keeps_modes_owners_and_links_and_nocopy_skips_it() {
    let d = Daemon::with_busybox();
    d.load(&fixtures().layered);
    let o = d
        .docker([
            "run",
            "--rm",
            "-v",
            "cu:/data",
            "berth-test/layered",
            "true",
        ])
        .run();
    assert!(o.success(), "{o}");
    let dir = data_dir(&d, "cu");
    let keep = std::fs::symlink_metadata(dir.join("keep.txt")).unwrap();
    let hard = std::fs::symlink_metadata(dir.join("hardlink-to-keep")).unwrap();
    assert_eq!(keep.ino(), hard.ino(), "hard links stay links");
    assert_eq!(keep.mode() & 0o7777, 0o644);
    let nobody = std::fs::symlink_metadata(dir.join("owned-by-nobody")).unwrap();
    assert_eq!((nobody.uid(), nobody.mode() & 0o7777), (65534, 0o600));
    assert_eq!(
        std::fs::read_link(dir.join("link-to-keep")).unwrap(),
        PathBuf::from("keep.txt")
    );
    // A volume with content is not written over.
    std::fs::remove_file(dir.join("keep.txt")).unwrap();
    d.docker([
        "run",
        "--rm",
        "-v",
        "cu:/data",
        "berth-test/layered",
        "true",
    ])
    .ok();
    assert!(!dir.join("keep.txt").exists());
    // nocopy, and binds never copy.
    let o = d
        .docker([
            "run",
            "--rm",
            "--mount",
            "type=volume,source=nc,target=/data,volume-nocopy",
            "berth-test/layered",
            "ls",
            "-A",
            "/data",
        ])
        .ok();
    assert_eq!(o, "");
    let empty = host_scratch(&d, "empty-bind");
    d.docker(["run", "--rm", "-v"])
        .arg(format!("{}:/data", empty.display()))
        .args(["berth-test/layered", "true"])
        .ok();
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn hostile_image_links_cannot_make_copy_up_reach_the_host() {
    let d = Daemon::with_busybox();
    let outside = host_scratch(&d, "outside");
    std::fs::write(outside.join("host-secret"), "host\n").unwrap();
    let tok = format!("evil{:x}", random_u64() & 0xffff_ffff);
    let up = "../".repeat(12);
    let rel = outside.to_str().unwrap().trim_start_matches('/');
    let hostile = build_tar(&[
        Entry::symlink("abs", outside.to_str().unwrap()),
        Entry::symlink("rel", &format!("{up}{rel}")),
        Entry::dir("etc"),
        Entry::file(&format!("etc/{tok}"), b"image\n"),
        Entry::symlink("toetc", &format!("{up}etc")),
    ]);
    let image = format!("{tok}:1");
    let archive = DockerArchive::new(&image, vec![busybox_layer(), hostile]).build();
    d.docker(["load"]).stdin_bytes(archive).ok();
    for (vol, dest) in [("va", "/abs"), ("vr", "/rel"), ("ve", "/toetc")] {
        let o = d
            .docker([
                "run",
                "--rm",
                "-v",
                &format!("{vol}:{dest}"),
                &image,
                "true",
            ])
            .run();
        assert!(o.success(), "{o}");
        let dir = data_dir(&d, vol);
        assert!(
            !dir.join("host-secret").exists(),
            "copy-up through {dest} read the host's directory"
        );
    }
    // The link to ../../etc resolves to the image's /etc, inside the container.
    assert!(data_dir(&d, "ve").join(&tok).exists());
    // The host's /etc has this file; the image's /etc does not.
    if Path::new("/etc/os-release").exists() {
        assert!(!data_dir(&d, "ve").join("os-release").exists());
    }
    // Nothing was written next to the host's files either.
    assert_eq!(
        sorted_lines(
            &std::fs::read_dir(&outside)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned() + "\n")
                .collect::<String>()
        ),
        ["host-secret"]
    );
}

#[test]
fn binds_read_only_single_file_and_dockers_errors() {
    let d = Daemon::with_busybox();
    let hb = host_scratch(&d, "hb");
    std::fs::write(hb.join("h.txt"), "host\n").unwrap();
    let bind = |spec: &str| format!("{}{spec}", hb.display());
    let o = d
        .docker([
            "run",
            "--rm",
            "-v",
            &bind(":/hb"),
            "busybox",
            "sh",
            "-c",
            "cat /hb/h.txt; echo c > /hb/c.txt",
        ])
        .ok();
    assert_eq!(o, "host\n");
    assert_eq!(std::fs::read_to_string(hb.join("c.txt")).unwrap(), "c\n");
    let o = d
        .docker([
            "run",
            "--rm",
            "-v",
            &bind(":/hb:ro"),
            "busybox",
            "touch",
            "/hb/x",
        ])
        .fails();
    assert!(o.stderr.contains("Read-only file system"), "{o}");
    assert!(!hb.join("x").exists());
    // One file, read-write: the container appends to the host's file.
    let single = hb.join("single.txt");
    std::fs::write(&single, "single\n").unwrap();
    d.docker(["run", "--rm", "-v"])
        .arg(format!("{}:/etc/single.txt", single.display()))
        .args(["busybox", "sh", "-c", "echo appended >> /etc/single.txt"])
        .ok();
    assert_eq!(
        std::fs::read_to_string(&single).unwrap(),
        "single\nappended\n"
    );
    // -v makes a missing source directory; --mount refuses it, and a relative one.
    let made = d.root().join("made-by-daemon");
    d.docker(["run", "--rm", "-v"])
        .arg(format!("{}:/x", made.display()))
        .args(["busybox", "true"])
        .ok();
    assert!(made.is_dir());
    let nope = d.root().join("nope");
    let o = d
        .docker(["run", "--rm", "--mount"])
        .arg(format!("type=bind,source={},target=/x", nope.display()))
        .args(["busybox", "true"])
        .fails();
    assert_eq!(o.status.code(), Some(125));
    assert!(
        o.stderr.contains(&format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {}",
            nope.display()
        )),
        "{o}"
    );
    let o = d
        .docker([
            "create",
            "--mount",
            "type=bind,source=relative,target=/x",
            "busybox",
        ])
        .fails();
    assert!(o.stderr.contains("mount path must be absolute"), "{o}");
    let o = d
        .docker(["create", "-v", &bind(":/x:bogus"), "busybox"])
        .fails();
    assert!(o.stderr.contains("invalid mode: bogus"), "{o}");
    let o = d
        .docker(["create", "-v", &bind(":/x"), "-v", "v1:/x", "busybox"])
        .fails();
    assert!(o.stderr.contains("Duplicate mount point: /x"), "{o}");
    // Inspect as Docker fills it.
    d.docker([
        "create",
        "--name",
        "insp",
        "-v",
        &bind(":/hb:ro"),
        "--mount",
    ])
    .arg(format!("type=bind,source={},target=/s", single.display()))
    .args(["busybox"])
    .ok();
    let m = d
        .docker(["inspect", "--format", "{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.Mode}} rw={{.RW}} {{.Propagation}}\n{{end}}", "insp"])
        .ok();
    assert_eq!(
        sorted_lines(&m),
        [
            format!("bind {} /hb ro rw=false rprivate", hb.display()),
            format!("bind {} /s  rw=true rprivate", single.display()),
        ]
    );
}

#[test]
fn rslave_bind_sees_host_mounts_made_later_and_rprivate_does_not() {
    let d = Daemon::with_busybox();
    let shared = host_scratch(&d, "shared");
    let mnt = |args: &[&str]| {
        let o = std::process::Command::new("mount")
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "mount {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let s = shared.to_str().unwrap();
    mnt(&["--bind", s, s]);
    mnt(&["--make-shared", s]);
    for (name, mode) in [("slave", "rslave"), ("private", "rprivate")] {
        d.docker(["run", "-d", "--name", name, "-v"])
            .arg(format!("{s}:/m:{mode}"))
            .args(["busybox", "sleep", "300"])
            .ok();
    }
    std::fs::create_dir_all(shared.join("sub")).unwrap();
    let sub = shared.join("sub");
    mnt(&["-t", "tmpfs", "tmpfs", sub.to_str().unwrap()]);
    std::fs::write(sub.join("late"), "late\n").unwrap();
    let seen = |name: &str| d.docker(["exec", name, "cat", "/m/sub/late"]).run();
    let slave = seen("slave");
    let private = seen("private");
    for p in [&sub, &shared] {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(p)
            .status();
    }
    assert_eq!(slave.stdout, "late\n", "{slave}");
    assert!(
        !private.success(),
        "rprivate got the host's later mount: {private}"
    );
    assert_eq!(
        d.docker([
            "inspect",
            "--format",
            "{{range .Mounts}}{{.Propagation}}{{end}}",
            "slave"
        ])
        .ok(),
        "rslave\n"
    );
    d.docker(["rm", "-f", "slave", "private"]).ok();
}

#[test]
fn volumes_from_shares_mounts_and_ro_holds() {
    let d = Daemon::with_busybox();
    d.docker([
        "run",
        "--name",
        "src",
        "-v",
        "/shared",
        "-v",
        "named:/named",
        "busybox",
        "sh",
        "-c",
        "echo from-src > /shared/f",
    ])
    .ok();
    let o = d
        .docker([
            "run",
            "--rm",
            "--volumes-from",
            "src",
            "busybox",
            "sh",
            "-c",
            "cat /shared/f; echo more > /named/g",
        ])
        .ok();
    assert_eq!(o, "from-src\n");
    let o = d
        .docker([
            "run",
            "--rm",
            "--volumes-from",
            "src:ro",
            "busybox",
            "touch",
            "/shared/x",
        ])
        .fails();
    assert!(o.stderr.contains("Read-only file system"), "{o}");
    // (Through the API: the docker CLI answers any 404 of a create by pulling.)
    let r = d.http_body(
        "POST",
        "/containers/create",
        Some(br#"{"Image": "busybox", "HostConfig": {"VolumesFrom": ["nosuch"]}}"#),
    );
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("No such container: nosuch"),
        "{}",
        r.text()
    );
    // The first container's anonymous volume is still in use by nobody else: rm -v takes it.
    d.docker(["rm", "-v", "src"]).ok();
    assert_eq!(lines(&d.docker(["volume", "ls", "-q"]).ok()), ["named"]);
}

#[test]
fn tmpfs_mounts_are_limited_and_not_kept() {
    let d = Daemon::with_busybox();
    let o = d
        .docker([
            "run",
            "--rm",
            "--tmpfs",
            "/big:size=1m",
            "busybox",
            "sh",
            "-c",
            "dd if=/dev/zero of=/big/f bs=1M count=3 2>&1; echo rc=$?",
        ])
        .ok();
    assert!(o.contains("No space left on device"), "{o}");
    let o = d
        .docker([
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,destination=/cache,tmpfs-size=2097152,tmpfs-mode=1777",
            "busybox",
            "sh",
            "-c",
            "stat -c %a /cache; df -k /cache | tail -1 | awk '{print $2}'",
        ])
        .ok();
    assert_eq!(o, "1777\n2048\n");
    let o = d
        .docker([
            "run",
            "--rm",
            "--tmpfs",
            "/exec:exec",
            "busybox",
            "sh",
            "-c",
            "grep ' /exec ' /proc/mounts",
        ])
        .ok();
    assert!(!o.contains("noexec"), "exec undoes the default noexec: {o}");
    d.docker([
        "create",
        "--name",
        "tp",
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "ls /scratch | wc -l; touch /scratch/f",
    ])
    .ok();
    assert_eq!(d.docker(["start", "-a", "tp"]).ok().trim(), "0");
    assert_eq!(d.docker(["start", "-a", "tp"]).ok().trim(), "0");
    // A tmpfs volume: mounted while used, its content gone when unused.
    d.docker([
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=1m",
        "tv",
    ])
    .ok();
    let o = d
        .docker([
            "run",
            "--rm",
            "-v",
            "tv:/t",
            "busybox",
            "sh",
            "-c",
            "grep ' /t ' /proc/mounts | cut -d' ' -f3",
        ])
        .ok();
    assert_eq!(o, "tmpfs\n");
    assert!(
        !std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(data_dir(&d, "tv").to_str().unwrap()),
        "the tmpfs volume is unmounted once unused"
    );
}

#[test]
fn volumes_and_their_mounts_survive_a_daemon_kill() {
    let mut d = Daemon::with_busybox();
    d.docker([
        "run",
        "-d",
        "--name",
        "runner",
        "-v",
        "kv:/kv",
        "busybox",
        "sh",
        "-c",
        "echo x > /kv/f; sleep 300",
    ])
    .ok();
    berth_it::wait_for("the write", || data_dir(&d, "kv").join("f").exists());
    d.kill9();
    d.spawn();
    d.wait_ready();
    assert_eq!(lines(&d.docker(["volume", "ls", "-q"]).ok()), ["kv"]);
    assert_eq!(d.docker(["exec", "runner", "cat", "/kv/f"]).ok(), "x\n");
    let o = d.docker(["volume", "rm", "kv"]).fails();
    assert!(o.stderr.contains("volume is in use"), "{o}");
    d.docker(["rm", "-f", "runner"]).ok();
    d.docker(["volume", "prune", "-f"]).ok();
    assert!(d.docker(["volume", "ls", "-q"]).ok().is_empty());
}
