//! `--userns-remap default` through the real docker CLI: containers run as root of their
//! own user namespace mapped onto dockremap's subordinate range, see the image's files
//! as their own through ID-mapped layers (the layers on disk stay untouched), exec joins
//! the same namespace, `--userns=host` opts out, Docker's conflicts are refused, nothing
//! stays mounted, and a remapped container starts again after a daemon crash.
//!
//! Like dockerd, the daemon creates the `dockremap` user and its ranges in /etc/subuid
//! and /etc/subgid when they are missing.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_it::Daemon;

fn remapped_daemon() -> Daemon {
    let mut d = Daemon::new();
    d.extra_args = vec!["--userns-remap".into(), "default".into()];
    d.spawn();
    d.load(&berth_it::fixtures().busybox);
    d
}

/// The first host ID of dockremap's range in /etc/subuid (or subgid).
fn range_start(file: &str) -> u32 {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some("dockremap")).then(|| f.next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no dockremap range in {file}: {text}"))
}

use berth_it::fsutil::mounts_under;

/// Every file whose path ends with `name` under `dir`, not following symlinks.
fn find(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            find(&p, name, out);
        } else if p.ends_with(name) {
            out.push(p);
        }
    }
}

fn uid_of_pid(pid: i32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| panic!("no Uid in {status}"))
}

#[test]
fn remapped_containers_own_their_image_files_through_id_mapped_layers() {
    let mut d = remapped_daemon();
    let (uid0, gid0) = (range_start("/etc/subuid"), range_start("/etc/subgid"));
    let info = d.info();
    assert!(
        info["SecurityOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "name=userns"),
        "{info}"
    );

    // Root inside, the range's first ID outside; the image's root-owned files are root's.
    let o = d
        .docker(["run", "--rm", "-w", "/made/here", "busybox", "sh", "-c"])
        .arg(
            "id -u; id -g; cat /proc/self/uid_map; stat -c %u:%g / /etc/passwd .; \
             echo intruder:x:0:0::/:/bin/sh >> /etc/passwd && echo appended; touch f && echo workdir-writable",
        )
        .run();
    assert!(o.success(), "{o}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "0", "{o}");
    assert_eq!(lines[1], "0", "{o}");
    let map: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(map, ["0", &uid0.to_string(), "65536"], "{o}");
    assert_eq!(
        &lines[3..6],
        ["0:0", "0:0", "0:0"],
        "root dir, image file and created workdir belong to the container's root: {o}"
    );
    assert_eq!(&lines[6..8], ["appended", "workdir-writable"], "{o}");

    // The image's layer on disk is unchanged: still host root's, without the line.
    let mut passwds = Vec::new();
    find(&d.data_root.join("layers"), "etc/passwd", &mut passwds);
    assert!(!passwds.is_empty(), "busybox layer has etc/passwd");
    for p in &passwds {
        let m = std::fs::metadata(p).unwrap();
        assert_eq!((m.uid(), m.gid()), (0, 0), "{}", p.display());
        let text = std::fs::read_to_string(p).unwrap();
        assert!(!text.contains("intruder"), "{}: {text}", p.display());
    }

    // A running container: its process is the range's first uid on the host; exec joins
    // its user namespace; what exec writes lands in the upper layer under the range.
    d.docker(["run", "-d", "--name", "r1", "busybox", "sleep", "300"])
        .ok();
    let pid = d.pid_of("r1");
    assert_eq!(uid_of_pid(pid), uid0);
    let host_userns = std::fs::read_link("/proc/self/ns/user").unwrap();
    let ctr_userns = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_ne!(ctr_userns, host_userns);
    let o = d
        .docker([
            "exec",
            "r1",
            "sh",
            "-c",
            "readlink /proc/self/ns/user; id -u; touch /from-exec",
        ])
        .run();
    assert!(o.success(), "{o}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], ctr_userns.to_string_lossy(), "{o}");
    assert_eq!(lines[1], "0");
    let id = d.inspect_fmt("r1", "{{.Id}}");
    let made = d
        .data_root
        .join("containers")
        .join(&id)
        .join("upper/from-exec");
    let m = std::fs::metadata(&made).unwrap();
    assert_eq!((m.uid(), m.gid()), (uid0, gid0), "{}", made.display());

    // Opting out, and Docker's conflicts.
    let o = d
        .docker([
            "run",
            "--rm",
            "--userns=host",
            "busybox",
            "cat",
            "/proc/self/uid_map",
        ])
        .run();
    assert!(o.success(), "{o}");
    assert_eq!(
        o.stdout.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    for (flag, msg) in [
        (
            "--privileged",
            "privileged mode is incompatible with user namespaces",
        ),
        (
            "--network=host",
            "cannot share the host's network namespace when user namespaces are enabled",
        ),
        (
            "--pid=host",
            "cannot share the host PID namespace when user namespaces are enabled",
        ),
    ] {
        let o = d.docker(["run", "--rm", flag, "busybox", "true"]).run();
        assert!(!o.success(), "{flag}: {o}");
        assert!(o.stderr.contains(msg), "{flag}: {o}");
    }

    // After a crash of the daemon, a stopped remapped container starts with its maps.
    d.docker([
        "create",
        "--name",
        "later",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ])
    .ok();
    d.kill9();
    d.spawn();
    let o = d.docker(["start", "-a", "later"]).run();
    assert!(o.success(), "{o}");
    assert_eq!(
        o.stdout.split_whitespace().collect::<Vec<_>>(),
        ["0", &uid0.to_string(), "65536"]
    );

    d.docker(["rm", "-f", "r1", "later"]).ok();
    assert_eq!(
        mounts_under(&d.data_root),
        Vec::<String>::new(),
        "no overlay or ID-mapped layer stays mounted"
    );
    let staging: Vec<_> = std::fs::read_dir(d.data_root.join("idmap"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "{staging:?}");
}
