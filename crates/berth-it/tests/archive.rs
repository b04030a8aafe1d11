//! `docker cp` both ways and `docker export` through the real docker CLI: files,
//! directories, symlinks (followed with `-L` only), ownership with and without `-a`,
//! tar streams, stopped and never-started containers, a read-only root, Docker's
//! errors, user namespaces, and containers that plant symlinks to `/etc` or `../..` to
//! make the daemon read or write host files (they only ever reach their own).

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use berth_it::{
    build_tar, fixtures, lines, random_u64, sorted_lines, unix_now, urlencode, Daemon, Entry,
};

/// One entry of a tar a test received.
#[derive(Debug, Clone)]
struct T {
    name: String,
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    link: String,
    data: Vec<u8>,
}

fn tar_entries(bytes: &[u8]) -> Vec<T> {
    let mut a = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for e in a.entries().expect("a tar") {
        let mut e = e.expect("a tar entry");
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("entry data");
        out.push(T {
            name: String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            kind: h.entry_type().as_byte() as char,
            mode: h.mode().unwrap_or(0),
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            link: e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default(),
            data,
        });
    }
    out
}

fn names(bytes: &[u8]) -> Vec<String> {
    tar_entries(bytes).into_iter().map(|e| e.name).collect()
}

/// Paths below `dir`, relative and sorted (`find DIR | sort` without the leading dir).
fn tree(dir: &Path) -> Vec<String> {
    fn go(base: &Path, p: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let q = e.path();
            out.push(q.strip_prefix(base).unwrap().display().to_string());
            if std::fs::symlink_metadata(&q).unwrap().is_dir() {
                go(base, &q, out);
            }
        }
    }
    let mut v = Vec::new();
    go(dir, dir, &mut v);
    v.sort();
    v
}

use berth_it::fsutil::mounts_under;

/// Mounts of the daemon's container root file systems (`.../merged`).
fn merged_mounts(d: &Daemon) -> Vec<String> {
    mounts_under(d.root())
        .into_iter()
        .filter(|m| m.ends_with("/merged"))
        .collect()
}

fn exec(d: &Daemon, c: &str, script: &str) -> String {
    d.docker(["exec", c, "sh", "-c", script]).ok()
}

#[test]
fn cp_host_to_container() {
    let d = Daemon::with_busybox();
    let w = &d.work;
    d.docker(["run", "-d", "--name", "cc", "busybox", "sleep", "300"])
        .ok();
    std::fs::write(w.join("host.txt"), "file-content\n").unwrap();
    std::fs::create_dir_all(w.join("hdir/sub")).unwrap();
    std::fs::write(w.join("hdir/a"), "a\n").unwrap();
    std::fs::write(w.join("hdir/sub/b"), "b\n").unwrap();
    std::os::unix::fs::symlink("a", w.join("hdir/link")).unwrap();
    std::fs::set_permissions(
        w.join("hdir/sub"),
        std::os::unix::fs::PermissionsExt::from_mode(0o751),
    )
    .unwrap();

    d.docker(["cp", "host.txt", "cc:/tmp/"]).ok();
    d.docker(["cp", "host.txt", "cc:/tmp/renamed.txt"]).ok();
    d.docker(["cp", "hdir", "cc:/tmp/hdir"]).ok();
    // A second time: into the directory that now exists.
    d.docker(["cp", "hdir", "cc:/tmp/hdir"]).ok();
    d.docker(["cp", "hdir/.", "cc:/tmp/contents"]).ok();
    assert_eq!(
        exec(&d, "cc", "cat /tmp/host.txt /tmp/renamed.txt"),
        "file-content\nfile-content\n"
    );
    assert_eq!(
        lines(&exec(&d, "cc", "cd /tmp && find hdir contents | sort")),
        [
            "contents",
            "contents/a",
            "contents/link",
            "contents/sub",
            "contents/sub/b",
            "hdir",
            "hdir/a",
            "hdir/hdir",
            "hdir/hdir/a",
            "hdir/hdir/link",
            "hdir/hdir/sub",
            "hdir/hdir/sub/b",
            "hdir/link",
            "hdir/sub",
            "hdir/sub/b"
        ]
    );
    assert_eq!(
        exec(
            &d,
            "cc",
            "readlink /tmp/hdir/link; stat -c '%n %a' /tmp/hdir/sub"
        ),
        "a\n/tmp/hdir/sub 751\n"
    );
    // A tar stream on stdin.
    let tar = build_tar(&[
        Entry::dir("streamed"),
        Entry::file("streamed/s", b"streamed\n").mode(0o600),
    ]);
    d.docker(["cp", "-", "cc:/tmp/"]).stdin_bytes(tar).ok();
    assert_eq!(
        exec(
            &d,
            "cc",
            "cat /tmp/streamed/s; stat -c '%a' /tmp/streamed/s"
        ),
        "streamed\n600\n"
    );
    // A file over a directory (and the reverse) is refused, as Docker refuses it.
    exec(&d, "cc", "mkdir -p /tmp/isdir/x");
    std::fs::create_dir_all(w.join("fsrc")).unwrap();
    std::fs::write(w.join("fsrc/x"), "x\n").unwrap();
    let o = d.docker(["cp", "fsrc/.", "cc:/tmp/isdir"]).fails();
    assert!(
        o.stderr
            .contains("cannot overwrite directory \"x\" with non-directory \"/tmp/isdir\""),
        "{o}"
    );
    // Into a directory that is not there: the parent is.
    let o = d.docker(["cp", "host.txt", "cc:/nope/x"]).fails();
    assert!(
        o.stderr
            .contains("Could not find the file /nope in container cc"),
        "{o}"
    );
}

#[test]
fn cp_container_to_host() {
    let d = Daemon::with_busybox();
    let w = &d.work;
    d.docker(["run", "-d", "--name", "cc", "busybox", "sleep", "300"])
        .ok();
    exec(
        &d,
        "cc",
        "mkdir -p /src/d/e && echo from-ctr > /src/d/f && ln -s d/f /src/sym && chmod 640 /src/d/f && chown 65534:65534 /src/d/f && ln /src/d/f /src/d/hard",
    );
    d.docker(["cp", "cc:/src/d/f", "out-f"]).ok();
    let m = std::fs::metadata(w.join("out-f")).unwrap();
    assert_eq!(
        std::fs::read_to_string(w.join("out-f")).unwrap(),
        "from-ctr\n"
    );
    assert_eq!(m.mode() & 0o7777, 0o640);
    d.docker(["cp", "cc:/src/d", "out-d"]).ok();
    assert_eq!(tree(&w.join("out-d")), ["e", "f", "hard"]);
    d.docker(["cp", "cc:/src/sym", "out-sym"]).ok();
    assert_eq!(
        std::fs::read_link(w.join("out-sym")).unwrap(),
        Path::new("d/f")
    );
    d.docker(["cp", "-L", "cc:/src/sym", "out-symL"]).ok();
    assert_eq!(
        std::fs::read_to_string(w.join("out-symL")).unwrap(),
        "from-ctr\n"
    );
    std::fs::create_dir(w.join("existing")).unwrap();
    d.docker(["cp", "cc:/src/d", "existing"]).ok();
    assert_eq!(tree(&w.join("existing")), ["d", "d/e", "d/f", "d/hard"]);
    // The tar itself: names from the base name, modes, owners, the hard link.
    let o = d.docker(["cp", "cc:/src/d", "-"]).run();
    assert!(o.success(), "{o}");
    let e = tar_entries(&o.raw_stdout);
    let got: Vec<(&str, char)> = e.iter().map(|e| (e.name.as_str(), e.kind)).collect();
    assert_eq!(
        got,
        [("d/", '5'), ("d/e/", '5'), ("d/f", '0'), ("d/hard", '1')]
    );
    assert_eq!((e[2].uid, e[2].gid, e[2].mode), (65534, 65534, 0o640));
    assert_eq!(e[3].link, "d/f");
    let o = d.docker(["cp", "cc:/src/d/.", "-"]).run();
    assert_eq!(names(&o.raw_stdout), ["./", "./e/", "./f", "./hard"]);
    // The header the CLI reads first.
    let r = d.http("HEAD", "/containers/cc/archive?path=/src/sym");
    assert_eq!(r.status, 200);
    let stat = decode_stat(
        r.header("x-docker-container-path-stat")
            .expect("stat header"),
    );
    assert_eq!(stat["name"], "sym");
    assert_eq!(stat["mode"], (1u64 << 27) | 0o777);
    assert_eq!(stat["linkTarget"], "/src/d/f");
    let r = d.http("HEAD", "/containers/cc/archive?path=/src/d");
    let stat = decode_stat(r.header("x-docker-container-path-stat").unwrap());
    assert_eq!(stat["mode"], (1u64 << 31) | 0o755);
    // A running container's own /etc/hostname, not the image's.
    let o = d.docker(["cp", "cc:/etc/hostname", "-"]).run();
    let id = d.inspect_fmt("cc", "{{.Config.Hostname}}");
    assert_eq!(
        tar_entries(&o.raw_stdout)[0].data,
        format!("{id}\n").as_bytes()
    );
}

fn decode_stat(b64: &str) -> serde_json::Value {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in b64.bytes().filter(|c| *c != b'=') {
        let v = A.iter().position(|a| *a == c).expect("base64") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    serde_json::from_slice(&out).unwrap_or_else(|e| panic!("stat JSON: {e}"))
}

#[test]
fn cp_ownership_plain_and_archive() {
    let d = Daemon::with_busybox();
    std::fs::write(d.work.join("owned.txt"), "owned\n").unwrap();
    std::os::unix::fs::chown(d.work.join("owned.txt"), Some(1234), Some(2345)).unwrap();
    d.docker(["run", "-d", "--name", "rr", "busybox", "sleep", "300"])
        .ok();
    d.docker([
        "run", "-d", "--name", "uu", "-u", "nobody", "busybox", "sleep", "300",
    ])
    .ok();
    for (c, archived) in [("rr", "1234:2345"), ("uu", "65534:65534")] {
        d.docker(["cp", "owned.txt"])
            .arg(format!("{c}:/tmp/plain.txt"))
            .ok();
        d.docker(["cp", "-a", "owned.txt"])
            .arg(format!("{c}:/tmp/archive.txt"))
            .ok();
        assert_eq!(
            d.docker([
                "exec",
                c,
                "stat",
                "-c",
                "%u:%g",
                "/tmp/plain.txt",
                "/tmp/archive.txt"
            ])
            .ok(),
            format!("1234:2345\n{archived}\n"),
            "container {c}"
        );
    }
    // A user name the container's passwd does not have.
    d.docker(["create", "--name", "ghost", "-u", "ghost", "busybox"])
        .ok();
    let o = d.docker(["cp", "-a", "owned.txt", "ghost:/tmp/"]).fails();
    assert!(
        o.stderr
            .contains("failed to look up user \"ghost\" in container"),
        "{o}"
    );
    // A /etc/passwd that is a FIFO cannot hang the lookup.
    d.docker([
        "run", "-d", "--name", "fifo", "-u", "nobody", "busybox", "sleep", "300",
    ])
    .ok();
    d.docker([
        "exec",
        "-u",
        "root",
        "fifo",
        "sh",
        "-c",
        "rm /etc/passwd && mkfifo /etc/passwd",
    ])
    .ok();
    let o = d
        .docker(["cp", "-a", "owned.txt", "fifo:/tmp/"])
        .timeout(Duration::from_secs(20))
        .fails();
    assert!(o.stderr.contains("failed to look up user"), "{o}");
}

#[test]
fn cp_stopped_and_never_started_containers() {
    let d = Daemon::with_busybox();
    d.load(&fixtures().layered);
    std::fs::write(d.work.join("host.txt"), "file-content\n").unwrap();
    d.docker(["run", "-d", "--name", "cc", "busybox", "sleep", "300"])
        .ok();
    d.docker(["stop", "-t", "0", "cc"]).ok();
    d.docker(["cp", "host.txt", "cc:/stopped.txt"]).ok();
    d.docker(["cp", "cc:/stopped.txt", "back.txt"]).ok();
    assert_eq!(
        std::fs::read_to_string(d.work.join("back.txt")).unwrap(),
        "file-content\n"
    );
    // The root mounted for the copy goes when the answer's stream ends, which can be a
    // moment after the client has read all of it.
    berth_it::wait_for("the copy's root mount to go", || {
        merged_mounts(&d).is_empty()
    });
    d.docker(["start", "cc"]).ok();
    assert_eq!(exec(&d, "cc", "cat /stopped.txt"), "file-content\n");
    // The image's layers, whiteouts applied, in a container that never ran.
    d.docker(["create", "--name", "nn", "berth-test/layered"])
        .ok();
    let o = d.docker(["cp", "nn:/data/replace.txt", "-"]).run();
    assert!(o.success(), "{o}");
    assert_eq!(tar_entries(&o.raw_stdout)[0].data, b"v2\n");
    let o = d.docker(["cp", "nn:/data/remove-me.txt", "-"]).fails();
    assert!(
        o.stderr
            .contains("Could not find the file /data/remove-me.txt in container nn"),
        "{o}"
    );
    d.docker(["cp", "host.txt", "nn:/data/"]).ok();
    let o = d.docker(["cp", "nn:/data/host.txt", "-"]).run();
    assert_eq!(tar_entries(&o.raw_stdout)[0].data, b"file-content\n");
    // Only the running container's root stays mounted.
    berth_it::wait_for("only the running root to stay mounted", || {
        merged_mounts(&d).len() == 1
    });
}

#[test]
fn cp_errors_answer_as_docker() {
    let d = Daemon::with_busybox();
    d.docker(["run", "-d", "--name", "cc", "busybox", "sleep", "300"])
        .ok();
    let o = d.docker(["cp", "cc:/nope", "."]).fails();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stderr
            .contains("Error response from daemon: Could not find the file /nope in container cc"),
        "{o}"
    );
    let r = d.http("GET", "/containers/cc/archive?path=/nope");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        "Could not find the file /nope in container cc"
    );
    let r = d.http("HEAD", "/containers/cc/archive?path=/nope");
    assert_eq!(r.status, 404);
    let r = d.http("GET", "/containers/cc/archive");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "bad parameter: path cannot be empty");
    let r = d.http("GET", "/containers/nosuch/archive?path=/");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such container: nosuch");
    let tar = build_tar(&[Entry::file("x", b"x\n")]);
    let r = d.http_body("PUT", "/containers/cc/archive?path=/etc/passwd", Some(&tar));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["message"], "extraction point is not a directory");
    let r = d.http_body("PUT", "/containers/cc/archive?path=/nope", Some(&tar));
    assert_eq!(r.status, 404, "{}", r.text());
    // A malformed archive: the reader's error, nothing half-written outside the target.
    let mut broken = tar.clone();
    broken[148..156].copy_from_slice(b"0000000\0");
    let r = d.http_body("PUT", "/containers/cc/archive?path=/tmp", Some(&broken));
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.text().contains("reading the archive"), "{}", r.text());
    // A read-only root refuses writes outside writable mounts, with Docker's message.
    d.docker([
        "run",
        "-d",
        "--name",
        "ro",
        "--read-only",
        "busybox",
        "sleep",
        "300",
    ])
    .ok();
    std::fs::write(d.work.join("f"), "f\n").unwrap();
    let o = d.docker(["cp", "f", "ro:/tmp/"]).fails();
    assert!(
        o.stderr.contains("container rootfs is marked read-only"),
        "{o}"
    );
    assert_eq!(
        d.docker(["exec", "ro", "ls", "/tmp"]).ok(),
        "",
        "nothing was written"
    );
    // Reading from it works.
    d.docker(["cp", "ro:/etc/passwd", "-"]).ok();
}

/// Binds and volumes are mounted where the container sees them: cp reaches them, and a
/// read-only one refuses writes. (Needs the mount records of `-v`, from the volumes work.)
#[test]
fn cp_into_binds_and_volumes() {
    let d = Daemon::with_busybox();
    let host = d.work.join("bind");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(d.work.join("f"), "f\n").unwrap();
    let bind = format!("{}:/bind", host.display());
    let ro_bind = format!("{}:/robind:ro", host.display());
    d.docker([
        "run",
        "-d",
        "--name",
        "ro",
        "--read-only",
        "-v",
        &bind,
        "-v",
        &ro_bind,
    ])
    .args(["-v", "vol:/vol", "busybox", "sleep", "300"])
    .ok();
    d.docker(["cp", "f", "ro:/bind/"]).ok();
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "f\n");
    let o = d.docker(["cp", "f", "ro:/robind/g"]).fails();
    assert!(
        o.stderr.contains("mounted volume is marked read-only"),
        "{o}"
    );
    assert!(!host.join("g").exists());
    d.docker(["cp", "f", "ro:/vol/"]).ok();
    assert_eq!(d.docker(["exec", "ro", "cat", "/vol/f"]).ok(), "f\n");
    // A stopped container's volume is reached too.
    d.docker(["create", "--name", "stopped", "-v", "vol:/data", "busybox"])
        .ok();
    let o = d.docker(["cp", "stopped:/data/f", "-"]).run();
    assert!(o.success(), "{o}");
    assert_eq!(tar_entries(&o.raw_stdout)[0].data, b"f\n");
}

#[test]
fn hostile_container_cannot_reach_the_host() {
    let d = Daemon::with_busybox();
    let tok = format!("berth-it-cp-{:x}", random_u64() & 0xffff_ffff);
    let outside = d.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), "host secret\n").unwrap();
    let host_hostname = std::fs::read("/etc/hostname").ok();
    d.docker(["run", "-d", "--name", "hh", "busybox", "sh", "-c"])
        .arg(format!(
            "ln -s /etc /evil; ln -s ../../../../../../../../etc /up; mkdir -p /p; ln -s /etc /p/par; ln -s {} /abs; sleep 300",
            outside.display()
        ))
        .ok();
    berth_it::wait_for("the symlinks", || {
        d.docker(["exec", "hh", "test", "-L", "/abs"])
            .run()
            .success()
    });
    std::fs::write(d.work.join(&tok), "marker\n").unwrap();
    d.docker(["cp", &tok, "hh:/evil/"]).ok();
    d.docker(["cp", &tok]).arg(format!("hh:/up/{tok}-up")).ok();
    d.docker(["cp", &tok])
        .arg(format!("hh:/p/par/{tok}-par"))
        .ok();
    // Not a directory in the container: the CLI gives up, nothing is written anywhere.
    d.docker(["cp", &tok, "hh:/abs/"]).run();
    for name in [tok.clone(), format!("{tok}-up"), format!("{tok}-par")] {
        assert!(
            !Path::new("/etc").join(&name).exists(),
            "/etc/{name} written on the host"
        );
        assert_eq!(
            d.docker(["exec", "hh", "cat"])
                .arg(format!("/etc/{name}"))
                .ok(),
            "marker\n"
        );
    }
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        1,
        "the host directory got files"
    );
    // Reads: the container's files, never the host's.
    let o = d.docker(["cp", "hh:/evil/hostname", "-"]).run();
    let id = d.inspect_fmt("hh", "{{.Config.Hostname}}");
    assert_eq!(
        tar_entries(&o.raw_stdout)[0].data,
        format!("{id}\n").as_bytes()
    );
    let o = d.docker(["cp", "hh:/up/hostname", "-"]).run();
    assert_eq!(
        tar_entries(&o.raw_stdout)[0].data,
        format!("{id}\n").as_bytes()
    );
    assert_eq!(std::fs::read("/etc/hostname").ok(), host_hostname);
    let o = d.docker(["cp", "hh:/abs/secret", "-"]).fails();
    assert!(o.stderr.contains("Could not find the file"), "{o}");
    // -L follows the link inside the container.
    let o = d.docker(["cp", "-L", "hh:/evil", "-"]).run();
    assert!(o.success(), "{o}");
    let e = tar_entries(&o.raw_stdout);
    assert!(
        e.iter().any(|e| e.name == format!("etc/{tok}")),
        "{:?}",
        names(&o.raw_stdout)
    );
    // Export keeps the symlinks as symlinks.
    let o = d.docker(["export", "hh"]).run();
    assert!(o.success(), "{o}");
    let e = tar_entries(&o.raw_stdout);
    let link = |n: &str| {
        e.iter()
            .find(|e| e.name == n)
            .map(|e| (e.kind, e.link.clone()))
            .unwrap_or_else(|| panic!("{n} not exported"))
    };
    assert_eq!(link("evil"), ('2', "/etc".to_string()));
    assert_eq!(link("up"), ('2', "../../../../../../../../etc".to_string()));
    assert_eq!(link("p/par"), ('2', "/etc".to_string()));
    assert!(!e.iter().any(|e| e.data == b"host secret\n"));
    // A hostile archive: names climbing out are refused, symlinks it plants are
    // followed inside the container only.
    let hostile = build_tar(&[
        Entry::symlink("planted", outside.to_str().unwrap()),
        Entry::file("planted/pwned", b"x\n"),
    ]);
    d.docker(["cp", "-", "hh:/tmp/"]).stdin_bytes(hostile).ok();
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    let climbing = build_tar(&[Entry::file(
        &format!("../../../../../../../tmp/{tok}"),
        b"x\n",
    )]);
    let o = d
        .docker(["cp", "-", "hh:/tmp/"])
        .stdin_bytes(climbing)
        .fails();
    assert!(o.stderr.contains("invalid entry name"), "{o}");
    assert!(!Path::new("/tmp").join(&tok).exists());
}

#[test]
fn export_applies_whiteouts_and_round_trips() {
    let d = Daemon::with_busybox();
    d.load(&fixtures().layered);
    let since = unix_now();
    d.docker(["run", "--name", "ee", "berth-test/layered", "sh", "-c"])
        .arg("echo exported > /data/exported.txt")
        .ok();
    d.docker(["export", "ee", "-o", "fs.tar"]).ok();
    let bytes = std::fs::read(d.work.join("fs.tar")).unwrap();
    let e = tar_entries(&bytes);
    let interesting: Vec<String> = sorted_lines(
        &e.iter()
            .map(|e| e.name.clone())
            .filter(|n| {
                ["data", "opaque", "olddir"]
                    .iter()
                    .any(|p| n == p || n.starts_with(&format!("{p}/")))
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(
        interesting,
        [
            "data/",
            "data/exported.txt",
            "data/hardlink-to-keep",
            "data/keep.txt",
            "data/kind/",
            "data/kind/now-a-dir",
            "data/link-to-keep",
            "data/owned-by-nobody",
            "data/replace.txt",
            "opaque/",
            "opaque/new.txt"
        ]
    );
    assert!(
        !e.iter().any(|e| e.name.contains(".wh.")),
        "whiteouts exported"
    );
    assert!(e.iter().any(|e| e.name == ".dockerenv"));
    let hard: Vec<char> = e
        .iter()
        .filter(|e| e.name == "data/hardlink-to-keep" || e.name == "data/keep.txt")
        .map(|e| e.kind)
        .collect();
    assert_eq!(hard, ['0', '1'], "one file and one hard link to it");
    let suid = e
        .iter()
        .find(|e| e.name == "usr/local/bin/suid-tool")
        .unwrap();
    assert_eq!(suid.mode, 0o4755);
    let nobody = e.iter().find(|e| e.name == "data/owned-by-nobody").unwrap();
    assert_eq!((nobody.uid, nobody.gid, nobody.mode), (65534, 65534, 0o600));
    // `tar -tv` shows names, as with Docker.
    let listing = std::process::Command::new("tar")
        .args(["-tvf", "fs.tar", "data/owned-by-nobody"])
        .current_dir(&d.work)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listing.stdout).contains("nobody/nobody"),
        "{}",
        String::from_utf8_lossy(&listing.stdout)
    );
    // Import and run it.
    d.docker(["import", "fs.tar", "p-imp:1"]).ok();
    assert_eq!(
        d.docker(["run", "--rm", "p-imp:1", "sh", "-c"])
            .arg("cat /data/exported.txt /data/replace.txt; stat -c '%a %U %h' /usr/local/bin/suid-tool /data/keep.txt; ls /opaque")
            .ok(),
        "exported\nv2\n4755 root 1\n644 root 2\nnew.txt\n"
    );
    // To stdout, and the events Docker sends.
    let o = d.docker(["export", "ee"]).run();
    assert!(o.success(), "{o}");
    assert_eq!(o.raw_stdout.len(), bytes.len());
    d.docker(["cp", "ee:/data/keep.txt", "-"]).ok();
    std::fs::write(d.work.join("in.txt"), "in\n").unwrap();
    d.docker(["cp", "in.txt", "ee:/"]).ok();
    let until = unix_now() + 1;
    let out = d
        .docker([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "container=ee",
            "--format",
            "{{.Action}}",
        ])
        .timeout(Duration::from_secs(30))
        .ok();
    let actions = lines(&out);
    for want in ["export", "archive-path", "extract-to-dir"] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} not in {actions:?}"
        );
    }
    berth_it::wait_for("the export's root mount to go", || {
        merged_mounts(&d).is_empty()
    });
    // The raw endpoint.
    let r = d.http(
        "GET",
        &format!("/containers/ee/export?x={}", urlencode("y")),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-tar"));
}

#[test]
fn cp_under_userns_remap() {
    let mut d = Daemon::new();
    d.extra_args = vec!["--userns-remap".into(), "default".into()];
    d.spawn();
    d.load(&fixtures().busybox);
    std::fs::write(d.work.join("owned.txt"), "owned\n").unwrap();
    std::os::unix::fs::chown(d.work.join("owned.txt"), Some(1234), Some(2345)).unwrap();
    d.docker(["run", "-d", "--name", "rr", "busybox", "sleep", "300"])
        .ok();
    d.docker([
        "run", "-d", "--name", "uu", "-u", "nobody", "busybox", "sleep", "300",
    ])
    .ok();
    d.docker(["cp", "owned.txt", "rr:/tmp/plain.txt"]).ok();
    d.docker(["cp", "-a", "owned.txt", "uu:/tmp/archive.txt"])
        .ok();
    assert_eq!(
        d.docker(["exec", "rr", "stat", "-c", "%u:%g", "/tmp/plain.txt"])
            .ok(),
        "1234:2345\n"
    );
    assert_eq!(
        d.docker(["exec", "uu", "stat", "-c", "%u:%g", "/tmp/archive.txt"])
            .ok(),
        "65534:65534\n"
    );
    // Out again: the container's IDs, not the host's.
    let o = d.docker(["cp", "rr:/tmp/plain.txt", "-"]).run();
    let e = tar_entries(&o.raw_stdout);
    assert_eq!((e[0].uid, e[0].gid), (1234, 2345));
    let o = d.docker(["cp", "rr:/etc/passwd", "-"]).run();
    assert_eq!(tar_entries(&o.raw_stdout)[0].uid, 0);
    // A container ID outside the maps is refused with Docker's message.
    let big = build_tar(&[Entry::file("big", b"x\n").owner(70000, 0)]);
    let o = d.docker(["cp", "-", "rr:/tmp/"]).stdin_bytes(big).fails();
    assert!(
        o.stderr
            .contains("Container ID 70000 cannot be mapped to a host ID"),
        "{o}"
    );
}
