//! The container runtime against the real kernel, through `berth-runc`: namespaces,
//! pivot_root into the image's root filesystem, Docker's default capabilities, masked and
//! read-only /proc paths, exit codes, and no mount left on the host.

use std::path::{Path, PathBuf};

use berth_it::cli::Cli;
use berth_it::fixtures::fixtures;
use berth_it::paths::berth_runc_bin;
use serde_json::{json, Value};

/// A bundle whose rootfs is the busybox fixture's single layer.
fn bundle(args: &[&str], edit: impl FnOnce(&mut Value)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("berth-it-rt-")
        .tempdir()
        .unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    let outer = std::fs::read(&fixtures().busybox).unwrap();
    let mut archive = tar::Archive::new(&outer[..]);
    let mut layer = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().ends_with("layer.tar") {
            std::io::Read::read_to_end(&mut e, &mut layer).unwrap();
        }
    }
    assert!(!layer.is_empty(), "busybox fixture has a layer");
    let mut inner = tar::Archive::new(&layer[..]);
    inner.set_preserve_ownerships(true);
    inner.set_preserve_permissions(true);
    inner.unpack(&rootfs).unwrap();
    let spec = Cli::new(berth_runc_bin()).arg("spec").ok();
    let mut spec: Value = serde_json::from_str(&spec).unwrap();
    spec["process"]["args"] = json!(args);
    edit(&mut spec);
    std::fs::write(dir.path().join("config.json"), spec.to_string()).unwrap();
    let p = dir.path().to_path_buf();
    (dir, p)
}

fn run(bundle: &Path) -> berth_it::cli::Out {
    let id = format!("rt{}", berth_it::random_u64());
    Cli::new(berth_runc_bin())
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .run()
}

fn host_mounts_under(p: &Path) -> usize {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    mounts
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(1)
                .is_some_and(|m| m.starts_with(&*p.to_string_lossy()))
        })
        .count()
}

#[test]
fn runs_isolated_in_its_own_namespaces_and_root() {
    let script = "echo hello; hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; \
                  ip -o link | wc -l; ls /proc | grep -cE '^[0-9]+$'; cat /etc/hostname | wc -c; \
                  readlink /proc/self/ns/net";
    let (_d, b) = bundle(&["sh", "-c", script], |s| s["hostname"] = json!("ctr-host"));
    let o = run(&b);
    assert!(o.success(), "{o}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "hello");
    assert_eq!(
        lines[1], "ctr-host",
        "own UTS namespace with the spec's hostname"
    );
    assert!(
        lines[2].starts_with("sh -c"),
        "the program is PID 1 of a new PID namespace: {}",
        lines[2]
    );
    assert_eq!(
        lines[3].trim(),
        "1",
        "a new network namespace holds only lo"
    );
    assert_eq!(
        lines[4].trim(),
        "3",
        "only sh and its two children (ls, grep) are visible in /proc"
    );
    assert_eq!(
        lines[5].trim(),
        "0",
        "the image's (empty) /etc/hostname: we are in its root"
    );
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        lines[6],
        host_net.to_string_lossy(),
        "network namespace differs from the host's"
    );
    assert_eq!(
        host_mounts_under(&b),
        0,
        "no container mount is visible on the host"
    );
}

#[test]
fn exit_status_and_signals_propagate() {
    let (_d, b) = bundle(&["sh", "-c", "exit 42"], |_| {});
    assert_eq!(run(&b).status.code(), Some(42));
    // A child killed by a signal: the shell reports 128+n, as Docker users see it.
    let (_d, b) = bundle(&["sh", "-c", "sleep 30 & kill -9 $!; wait $!"], |_| {});
    assert_eq!(run(&b).status.code(), Some(137));
}

#[test]
fn missing_program_is_a_clear_error() {
    let (_d, b) = bundle(&["no-such-program"], |_| {});
    let o = run(&b);
    assert_eq!(o.status.code(), Some(127), "{o}");
    assert!(
        o.stderr.contains("executable file not found in $PATH"),
        "{o}"
    );
}

#[test]
fn docker_default_capabilities_and_user() {
    let (_d, b) = bundle(
        &[
            "sh",
            "-c",
            "grep -E '^Cap(Eff|Bnd)' /proc/self/status; id -u; id -G",
        ],
        |s| {
            s["process"]["user"] = json!({"uid": 65534, "gid": 65534, "additionalGids": [10, 20]});
        },
    );
    let o = run(&b);
    assert!(o.success(), "{o}");
    // Docker's default set, as a bounding set; a non-root user has no effective caps.
    assert!(o.stdout.contains("CapBnd:\t00000000a80425fb"), "{o}");
    assert!(o.stdout.contains("CapEff:\t0000000000000000"), "{o}");
    assert!(o.stdout.contains("\n65534\n"), "{o}");
    assert!(o.stdout.contains("65534 10 20"), "{o}");
    let (_d, b) = bundle(&["sh", "-c", "grep '^CapEff' /proc/self/status"], |_| {});
    assert!(run(&b).stdout.contains("CapEff:\t00000000a80425fb"));
}

#[test]
fn proc_paths_are_masked_and_read_only() {
    let script = "wc -c < /proc/keys; ls /proc/timer_list 2>/dev/null | wc -l; \
                  echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo readonly; \
                  touch /sys/x 2>/dev/null && echo sys-writable || echo sys-readonly";
    let (_d, b) = bundle(&["sh", "-c", script], |_| {});
    let o = run(&b);
    assert!(o.success(), "{o}");
    let lines: Vec<&str> = o.stdout.lines().map(str::trim).collect();
    // /proc/keys masked by /dev/null (empty), /proc/timer_list still listed as a file.
    assert_eq!(lines, ["0", "1", "readonly", "sys-readonly"], "{o}");
    assert!(
        std::fs::metadata("/proc/keys").is_ok(),
        "the host's /proc/keys is untouched"
    );
}

#[test]
fn read_only_root_and_bind_mount_with_cwd() {
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("data.txt"), "from host\n").unwrap();
    let (_d, b) = bundle(
        &[
            "sh",
            "-c",
            "cat data.txt; pwd; touch /x 2>/dev/null && echo rw || echo ro",
        ],
        |s| {
            s["root"]["readonly"] = json!(true);
            s["process"]["cwd"] = json!("/mnt/host");
            s["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt/host", "type": "bind", "source": host.path(), "options": ["rbind", "ro"]
        }));
        },
    );
    let o = run(&b);
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "from host\n/mnt/host\nro\n");
}

#[test]
fn rlimits_beyond_the_host_are_clamped_not_fatal() {
    let (_d, b) = bundle(&["sh", "-c", "ulimit -n"], |s| {
        s["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": 1u64 << 40, "hard": 1u64 << 40}]);
    });
    let o = run(&b);
    assert!(o.success(), "{o}");
    let n: u64 = o.stdout.trim().parse().unwrap();
    assert!(n > 0 && n < 1 << 40, "{o}");
}

/// `lchown -R` without following symlinks.
fn chown_tree(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
    let m = std::fs::symlink_metadata(p).unwrap();
    if m.is_dir() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

#[test]
fn user_namespace_maps_root_to_the_spec_range() {
    use std::os::unix::fs::MetadataExt;
    const HOST: u32 = 231_072;
    let script = "id -u; cat /proc/self/uid_map; cat /proc/self/gid_map; hostname; \
                  ls /proc | grep -cE '^[0-9]+$'; ls /sys/kernel >/dev/null && echo sysfs; \
                  touch /made && echo made; ls -ln /dev/null";
    let (_d, b) = bundle(&["sh", "-c", script], |s| {
        s["hostname"] = json!("in-userns");
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": HOST, "size": 65536}]);
        s["linux"]["uidMappings"] = map.clone();
        s["linux"]["gidMappings"] = map;
    });
    // The image as a remapped container's root sees it: owned by the range.
    chown_tree(&b.join("rootfs"), HOST, HOST);
    let o = run(&b);
    assert!(o.success(), "{o}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {o}");
    for map in &lines[1..3] {
        assert_eq!(
            map.split_whitespace().collect::<Vec<_>>(),
            ["0", &HOST.to_string(), "65536"],
            "{o}"
        );
    }
    assert_eq!(lines[3], "in-userns");
    assert_eq!(
        lines[4], "3",
        "own PID namespace, /proc mounted for it: {o}"
    );
    assert_eq!(&lines[5..7], ["sysfs", "made"], "{o}");
    // Devices are the host's nodes bound in (mknod is refused in a user namespace).
    assert!(lines[7].contains("1,   3"), "{o}");
    let m = std::fs::metadata(b.join("rootfs/made")).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (HOST, HOST),
        "created as the mapped root"
    );
    assert_eq!(host_mounts_under(&b), 0);

    // Without maps a new user namespace is refused with a clear error.
    let (_d2, b2) = bundle(&["true"], |s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
    });
    let o = run(&b2);
    assert!(!o.success());
    assert!(o.stderr.contains("no uid or gid mappings"), "{o}");
}
