//! `docker diff` and the commit layer tar against real overlayfs upper directories:
//! whiteouts and opaque directories made by the kernel, hard links, capabilities, and
//! layers that plant symlinks to host paths. Needs root (mknod, trusted xattrs, mount).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use berth_image::rwlayer::{changes, write_layer_tar, IdMapping, IdRange};
use rustix::fs::{FileType, Mode, XattrFlags};

fn root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: needs root (whiteout devices, trusted xattrs, overlay mounts)");
    false
}

fn write(p: impl AsRef<Path>, s: &str) {
    let p = p.as_ref();
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(p, s).unwrap();
}

fn whiteout(p: impl AsRef<Path>) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        p.as_ref(),
        FileType::CharacterDevice,
        Mode::empty(),
        rustix::fs::makedev(0, 0),
    )
    .unwrap();
}

fn diff_lines(upper: &Path, lowers: &[PathBuf], ids: Option<&IdMapping>) -> Vec<String> {
    changes(upper, lowers, ids)
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", c.kind.letter(), c.path))
        .collect()
}

/// A tar entry: (type letter, link target, content, mode, uid, gid, xattrs).
#[derive(Debug, Clone, Default)]
struct Ent {
    kind: char,
    link: String,
    data: Vec<u8>,
    mode: u32,
    uid: u64,
    gid: u64,
    caps: Option<Vec<u8>>,
}

fn read_tar(bytes: &[u8]) -> Vec<(String, Ent)> {
    let mut out = Vec::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Regular => 'f',
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            tar::EntryType::Char => 'c',
            tar::EntryType::Fifo => 'p',
            other => panic!("unexpected entry type {other:?} for {name}"),
        };
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        let mut caps = None;
        if let Some(exts) = e.pax_extensions().unwrap() {
            for x in exts {
                let x = x.unwrap();
                if x.key().unwrap() == "SCHILY.xattr.security.capability" {
                    caps = Some(x.value_bytes().to_vec());
                }
            }
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((
            name,
            Ent {
                kind,
                link,
                data,
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                caps,
            },
        ));
    }
    out
}

fn tar_of(upper: &Path, ids: Option<&IdMapping>) -> Vec<(String, Ent)> {
    let mut buf = Vec::new();
    write_layer_tar(upper, &mut buf, ids).unwrap();
    read_tar(&buf)
}

/// An overlay mount, unmounted when dropped (also when the test fails).
struct Overlay(PathBuf);

impl Overlay {
    fn mount(lowers: &[PathBuf], upper: &Path, work: &Path, merged: &Path) -> Overlay {
        let l: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        let opts = std::ffi::CString::new(format!(
            "lowerdir={},upperdir={},workdir={}",
            l.join(":"),
            upper.display(),
            work.display()
        ))
        .unwrap();
        rustix::mount::mount(
            "overlay",
            merged,
            "overlay",
            rustix::mount::MountFlags::empty(),
            Some(opts.as_c_str()),
        )
        .unwrap();
        Overlay(merged.to_path_buf())
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

/// security.capability v2 with cap_net_bind_service permitted and effective.
const CAP_V2: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

#[test]
fn diff_and_layer_tar_of_a_real_overlay() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (l0, l1) = (t.path().join("l0"), t.path().join("l1"));
    let (upper, work, merged) = (
        t.path().join("upper"),
        t.path().join("work"),
        t.path().join("merged"),
    );
    for d in [&l0, &l1, &upper, &work, &merged] {
        fs::create_dir_all(d).unwrap();
    }
    // bottom layer
    write(l1.join("etc/passwd"), "root\n");
    write(l1.join("etc/shadow"), "secret\n");
    write(l1.join("etc/old.conf"), "old\n");
    write(l1.join("data/a.txt"), "a\n");
    write(l1.join("data/sub/b.txt"), "b\n");
    write(l1.join("gone/x"), "x\n");
    write(l1.join("kind"), "a file\n");
    write(l1.join("bin/tool"), "#!/bin/sh\n");
    write(l1.join("same"), "same\n");
    write(l1.join("opq/o1"), "o1\n");
    write(l1.join("opq/o2"), "o2\n");
    // top layer: replaces passwd, deletes old.conf
    write(l0.join("etc/passwd"), "root2\n");
    whiteout(l0.join("etc/old.conf"));
    let lowers = vec![l0.clone(), l1.clone()];
    {
        let _m = Overlay::mount(&lowers, &upper, &work, &merged);
        let m = |p: &str| merged.join(p);
        write(m("etc/passwd"), "root3 changed\n");
        fs::remove_file(m("etc/shadow")).unwrap();
        write(m("etc/old.conf"), "new\n");
        fs::remove_dir_all(m("gone")).unwrap();
        fs::remove_dir_all(m("opq")).unwrap();
        fs::create_dir(m("opq")).unwrap();
        write(m("opq/o1"), "new o1\n");
        fs::remove_file(m("kind")).unwrap();
        fs::create_dir(m("kind")).unwrap();
        write(m("kind/f"), "f\n");
        write(m("new/deep/er/file"), "deep\n");
        fs::set_permissions(m("data/a.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::hard_link(m("data/a.txt"), m("data/hard")).unwrap();
        symlink("/etc/shadow", m("x")).unwrap();
        // opened for writing, nothing written: copied up, yet unchanged
        drop(fs::OpenOptions::new().append(true).open(m("same")).unwrap());
        rustix::fs::setxattr(
            m("bin/tool"),
            "security.capability",
            &CAP_V2,
            XattrFlags::empty(),
        )
        .unwrap();
    }
    assert!(upper.join("same").exists(), "the copy-up happened");

    assert_eq!(
        diff_lines(&upper, &lowers, None),
        [
            "C /bin",
            "C /bin/tool",
            "C /data",
            "C /data/a.txt",
            "A /data/hard",
            "C /etc",
            "A /etc/old.conf",
            "C /etc/passwd",
            "D /etc/shadow",
            "D /gone",
            "C /kind",
            "A /kind/f",
            "A /new",
            "A /new/deep",
            "A /new/deep/er",
            "A /new/deep/er/file",
            "C /opq",
            "C /opq/o1",
            "D /opq/o2",
            "A /x",
        ]
    );

    let entries = tar_of(&upper, None);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "bin/",
            "bin/tool",
            "data/",
            "data/a.txt",
            "data/hard",
            "etc/",
            "etc/old.conf",
            "etc/passwd",
            "etc/.wh.shadow",
            ".wh.gone",
            "kind/",
            // the kernel makes a directory created over a whiteout opaque
            "kind/.wh..wh..opq",
            "kind/f",
            "new/",
            "new/deep/",
            "new/deep/er/",
            "new/deep/er/file",
            "opq/",
            "opq/.wh..wh..opq",
            "opq/o1",
            "same",
            "x",
        ]
    );
    let e: BTreeMap<&str, &Ent> = entries.iter().map(|(n, e)| (n.as_str(), e)).collect();
    assert_eq!(e["etc/passwd"].data, b"root3 changed\n");
    assert_eq!(e["etc/.wh.shadow"].kind, 'f');
    assert!(e["etc/.wh.shadow"].data.is_empty());
    assert_eq!(e[".wh.gone"].kind, 'f');
    assert_eq!(e["opq/.wh..wh..opq"].kind, 'f');
    assert_eq!(e["data/a.txt"].kind, 'f');
    assert_eq!(e["data/a.txt"].mode, 0o600);
    assert_eq!(e["data/hard"].kind, 'h');
    assert_eq!(e["data/hard"].link, "data/a.txt");
    assert_eq!(e["x"].kind, 'l');
    assert_eq!(e["x"].link, "/etc/shadow");
    assert_eq!(e["bin/tool"].caps.as_deref(), Some(&CAP_V2[..]));
    assert_eq!(e["kind/"].kind, 'd');

    // The tar unpacks (berth's own unpacker) back into the same overlay form.
    let again = t.path().join("again");
    fs::create_dir(&again).unwrap();
    let mut buf = Vec::new();
    write_layer_tar(&upper, &mut buf, None).unwrap();
    berth_image::unpack::unpack_layer(&buf[..], &again).unwrap();
    assert_eq!(
        diff_lines(&again, &lowers, None),
        diff_lines(&upper, &lowers, None),
        "the committed layer diffs as the container did"
    );
    let md = fs::symlink_metadata(again.join("gone")).unwrap();
    assert_eq!((md.mode() & 0o170000, md.rdev()), (0o020000, 0), "whiteout");
    let opq = rustix::fs::getxattr(again.join("opq"), "trusted.overlay.opaque", &mut [0u8; 4]);
    assert_eq!(opq.ok(), Some(1));
}

#[test]
fn nothing_changed_is_an_empty_diff_and_an_empty_tar() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
    write(lower.join("etc/passwd"), "root\n");
    fs::create_dir(&upper).unwrap();
    assert!(diff_lines(&upper, &[lower], None).is_empty());
    let mut buf = Vec::new();
    write_layer_tar(&upper, &mut buf, None).unwrap();
    assert_eq!(buf, vec![0u8; 1024]);
}

/// Layers (image or container) that plant symlinks to host paths are never followed:
/// not to look entries up, not to read them into the tar.
#[test]
fn planted_symlinks_are_archived_as_links_never_followed() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let host = t.path().join("host");
    write(host.join("passwd"), "HOST SECRET\n");
    write(host.join("shadow"), "HOST SHADOW\n");
    let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
    fs::create_dir_all(&lower).unwrap();
    fs::create_dir_all(&upper).unwrap();
    // the image layer: /etc is a symlink to a host directory
    symlink(&host, lower.join("etc")).unwrap();
    write(lower.join("keep"), "keep\n");
    // the container's layer: a real /etc over it, symlinks to host files and directories
    write(upper.join("etc/passwd"), "container\n");
    symlink(host.join("shadow"), upper.join("x")).unwrap();
    symlink(&host, upper.join("d")).unwrap();
    symlink("../../../../..", upper.join("up")).unwrap();
    write(upper.join("f"), "f\n");
    fs::hard_link(upper.join("f"), upper.join("hl")).unwrap();

    assert_eq!(
        diff_lines(&upper, std::slice::from_ref(&lower), None),
        [
            "A /d",
            "C /etc",
            "A /etc/passwd",
            "A /f",
            "A /hl",
            "A /up",
            "A /x"
        ]
    );
    let entries = tar_of(&upper, None);
    let e: BTreeMap<&str, &Ent> = entries.iter().map(|(n, e)| (n.as_str(), e)).collect();
    assert_eq!(e["x"].kind, 'l');
    assert_eq!(e["x"].link, host.join("shadow").display().to_string());
    assert_eq!(e["d"].kind, 'l');
    assert_eq!(e["up"].link, "../../../../..");
    assert_eq!(e["hl"].kind, 'h');
    assert_eq!(e["hl"].link, "f");
    assert!(!e.contains_key("d/passwd"));
    for (n, ent) in &entries {
        assert!(
            !String::from_utf8_lossy(&ent.data).contains("HOST"),
            "{n} carries host content"
        );
    }
}

/// A running container swapping a directory for a symlink to a host directory while
/// the layer is read: the walk holds descriptors, so no host file is ever read.
#[test]
fn swapping_a_directory_for_a_symlink_during_the_walk_reads_no_host_file() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let host = t.path().join("host");
    for i in 0..50 {
        write(host.join(format!("f{i}")), "HOST SECRET\n");
    }
    let upper = t.path().join("upper");
    let dir = upper.join("d");
    let real = upper.join("real");
    for i in 0..50 {
        write(real.join(format!("f{i}")), "inside\n");
    }
    fs::rename(&real, &dir).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, dir, host, upper) = (stop.clone(), dir.clone(), host.clone(), upper.clone());
        std::thread::spawn(move || {
            let aside = upper.join("aside");
            let link = upper.join("link");
            let _ = symlink(&host, &link);
            while !stop.load(Ordering::Relaxed) {
                // d: directory -> symlink -> directory
                if fs::rename(&dir, &aside).is_ok() {
                    let _ = fs::rename(&link, &dir);
                    let _ = fs::rename(&dir, &link);
                    let _ = fs::rename(&aside, &dir);
                }
            }
        })
    };
    for _ in 0..200 {
        let mut buf = Vec::new();
        if write_layer_tar(&upper, &mut buf, None).is_err() {
            continue;
        }
        for (n, ent) in read_tar(&buf) {
            assert!(
                !String::from_utf8_lossy(&ent.data).contains("HOST"),
                "{n} carries host content"
            );
        }
        let _ = changes(&upper, &[], None);
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
}

#[test]
fn remapped_owners_are_written_and_compared_as_the_containers() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
    write(lower.join("etc/passwd"), "root\n");
    write(upper.join("etc/passwd"), "root\n");
    write(upper.join("new"), "n\n");
    let mtime = fs::metadata(lower.join("etc/passwd"))
        .unwrap()
        .modified()
        .unwrap();
    fs::File::options()
        .write(true)
        .open(upper.join("etc/passwd"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    for p in ["etc", "etc/passwd", "new"] {
        std::os::unix::fs::lchown(upper.join(p), Some(100000), Some(100000)).unwrap();
    }
    std::os::unix::fs::lchown(upper.join("new"), Some(100033), Some(100033)).unwrap();
    let ids = IdMapping {
        uids: vec![IdRange {
            container: 0,
            host: 100000,
            size: 65536,
        }],
        gids: vec![IdRange {
            container: 0,
            host: 100000,
            size: 65536,
        }],
    };
    let lowers = [lower];
    assert_eq!(diff_lines(&upper, &lowers, Some(&ids)), ["A /new"]);
    assert_eq!(
        diff_lines(&upper, &lowers, None),
        ["C /etc", "C /etc/passwd", "A /new"],
        "without the mapping the owners differ"
    );
    let entries = tar_of(&upper, Some(&ids));
    let e: BTreeMap<&str, &Ent> = entries.iter().map(|(n, e)| (n.as_str(), e)).collect();
    assert_eq!((e["etc/passwd"].uid, e["etc/passwd"].gid), (0, 0));
    assert_eq!((e["new"].uid, e["new"].gid), (33, 33));
}

#[test]
fn devices_fifos_and_long_names_round_trip() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let upper = t.path().join("upper");
    fs::create_dir(&upper).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        upper.join("null"),
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        upper.join("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let long = "n".repeat(150);
    write(upper.join(&long).join(&long), "deep name\n");
    symlink("t".repeat(200), upper.join("longlink")).unwrap();
    let std_sock = std::os::unix::net::UnixListener::bind(upper.join("sock")).unwrap();
    let entries = tar_of(&upper, None);
    drop(std_sock);
    let e: BTreeMap<&str, &Ent> = entries.iter().map(|(n, e)| (n.as_str(), e)).collect();
    assert_eq!(e["null"].kind, 'c');
    assert_eq!(e["fifo"].kind, 'p');
    assert_eq!(e["longlink"].link, "t".repeat(200));
    assert_eq!(e[format!("{long}/{long}").as_str()].data, b"deep name\n");
    assert!(
        !e.contains_key("sock"),
        "sockets are skipped as Docker does"
    );
    let again = t.path().join("again");
    fs::create_dir(&again).unwrap();
    let mut buf = Vec::new();
    write_layer_tar(&upper, &mut buf, None).unwrap();
    berth_image::unpack::unpack_layer(&buf[..], &again).unwrap();
    let md = fs::symlink_metadata(again.join("null")).unwrap();
    assert_eq!(md.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(
        fs::read_to_string(again.join(&long).join(&long)).unwrap(),
        "deep name\n"
    );
}

/// The read-only layers are merged as overlay merges them: an opaque directory in a
/// higher layer hides what lower layers hold there, and a whiteout hides a directory.
#[test]
fn lower_layers_are_merged_with_their_own_whiteouts_and_opaque_dirs() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (l0, l1, upper) = (
        t.path().join("l0"),
        t.path().join("l1"),
        t.path().join("up"),
    );
    write(l1.join("opq/a"), "a\n");
    write(l1.join("opq/b"), "b\n");
    write(l1.join("w/x"), "x\n");
    write(l0.join("opq/a"), "a0\n");
    rustix::fs::setxattr(
        l0.join("opq"),
        "trusted.overlay.opaque",
        b"y",
        XattrFlags::empty(),
    )
    .unwrap();
    whiteout(l0.join("w"));
    fs::create_dir_all(upper.join("opq")).unwrap();
    rustix::fs::setxattr(
        upper.join("opq"),
        "trusted.overlay.opaque",
        b"y",
        XattrFlags::empty(),
    )
    .unwrap();
    write(upper.join("w/y"), "y\n");
    whiteout(upper.join("b"));
    assert_eq!(
        diff_lines(&upper, &[l0, l1], None),
        ["C /opq", "D /opq/a", "A /w", "A /w/y"],
        "opq/b is hidden below the opaque opq; w/x below the whiteout; /b never existed"
    );
}
