//! The layered fixture's config, and its layers as unpacked under the data root
//! (overlay form: whiteouts as 0/0 character devices, opaque directories marked
//! with `trusted.overlay.opaque=y`), plus special files of a hand-made layer.
//!
//! Layout assumed (the daemon's contract): `<data-root>/layers/<n>/diff` and
//! `<data-root>/layers/<n>/layer.json` with `chain_id` and `diff_id`.

use berth_it::fsutil::{layer_by_chain_id, layer_dirs, walk};
use berth_it::{
    build_tar, chain_ids, digest, fixtures, ArchiveImage, Daemon, DockerArchive, Entry,
};
use serde_json::json;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

const EPOCH: i64 = berth_it::FIXTURE_EPOCH;

fn layer_diffs(d: &Daemon, img: &ArchiveImage) -> Vec<PathBuf> {
    let diffs = img.diff_ids();
    chain_ids(&diffs)
        .iter()
        .zip(&diffs)
        .map(|(chain, diff)| {
            let l = layer_by_chain_id(&d.data_root, chain).unwrap_or_else(|| {
                panic!(
                    "no <data-root>/layers/*/layer.json with chain_id {chain}; layer dirs: {:#?}",
                    layer_dirs(&d.data_root)
                )
            });
            assert_eq!(l.diff_id(), Some(diff.as_str()), "{}", l.dir.display());
            assert!(l.diff().is_dir(), "{} has no diff/", l.dir.display());
            l.diff()
        })
        .collect()
}

fn lmeta(p: &Path) -> Metadata {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 512];
    rustix::fs::lgetxattr(p, name, &mut buf[..])
        .ok()
        .map(|n| buf[..n].to_vec())
}

fn assert_whiteout(p: &Path) {
    let m = lmeta(p);
    assert!(
        m.file_type().is_char_device() && m.rdev() == 0,
        "{} must be a 0/0 character device (overlay whiteout), is {:?} rdev {}",
        p.display(),
        m.file_type(),
        m.rdev()
    );
}

fn mode(p: &Path) -> u32 {
    lmeta(p).mode() & 0o7777
}

fn no_aufs_whiteouts(diff: &Path) {
    let left: Vec<_> = walk(diff)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".wh."))
        })
        .collect();
    assert!(
        left.is_empty(),
        "{}: `.wh.` entries kept as files: {left:?}",
        diff.display()
    );
}

#[test]
fn layered_config_as_documented() {
    let d = Daemon::start();
    let f = fixtures();
    d.load(&f.layered);
    let v = d.inspect("berth-test/layered");
    assert_eq!(v["Id"], f.layered_image().id.as_str());
    assert_eq!(v["RepoTags"], json!(["berth-test/layered:latest"]));
    assert_eq!(v["RootFS"]["Type"], "layers");
    assert_eq!(v["RootFS"]["Layers"], json!(f.layered_image().diff_ids()));
    assert_eq!(v["RootFS"]["Layers"].as_array().map(Vec::len), Some(4));
    let c = &v["Config"];
    assert_eq!(c["Labels"], json!({"org.berth.test": "layered"}), "{c}");
    assert_eq!(
        c["Env"],
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LAYERED=1"
        ]),
        "{c}"
    );
    assert_eq!(c["WorkingDir"], "/data", "{c}");
    assert_eq!(c["Cmd"], json!(["sh"]), "{c}");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Architecture"], "amd64");
    assert!(
        v["Created"]
            .as_str()
            .is_some_and(|s| s.starts_with("2024-01-01T00:00:00")),
        "Created: {}",
        v["Created"]
    );
    assert!(v["Size"].as_i64().unwrap_or(0) > 0, "Size: {}", v["Size"]);
}

#[test]
fn layered_layers_unpacked_in_overlay_form() {
    let d = Daemon::start();
    let f = fixtures();
    d.load(&f.layered);
    let l = layer_diffs(&d, &f.layered_image());
    assert_eq!(l.len(), 4);

    // Layer 1: busybox
    let bb = l[0].join("bin/busybox");
    assert_eq!(mode(&bb), 0o755);
    assert_eq!(
        lmeta(&bb).len(),
        std::fs::metadata("/usr/bin/busybox").unwrap().len()
    );
    assert_eq!(lmeta(&bb).mtime(), EPOCH, "mtime of bin/busybox");
    assert_eq!(
        std::fs::read_link(l[0].join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(mode(&l[0].join("tmp")), 0o1777);
    assert_eq!(mode(&l[0].join("root")), 0o700);
    assert_eq!(mode(&l[0].join("etc/shadow")), 0o640);
    assert!(l[0].join("bin/vi").exists() || lmeta(&l[0].join("bin/vi")).is_symlink());

    // Layer 2: content, links, ownership, setuid, mtimes
    let data = l[1].join("data");
    assert_eq!(read(&data.join("keep.txt")), "keep\n");
    let keep = lmeta(&data.join("keep.txt"));
    let hard = lmeta(&data.join("hardlink-to-keep"));
    assert_eq!(
        keep.ino(),
        hard.ino(),
        "hardlink-to-keep is a hard link of keep.txt"
    );
    assert_eq!(keep.nlink(), 2, "keep.txt nlink");
    assert_eq!(
        std::fs::read_link(data.join("link-to-keep")).unwrap(),
        Path::new("keep.txt")
    );
    assert_eq!(
        lmeta(&data.join("link-to-keep")).mtime(),
        EPOCH,
        "symlink mtime"
    );
    let nobody = lmeta(&data.join("owned-by-nobody"));
    assert_eq!(
        (nobody.uid(), nobody.gid()),
        (65534, 65534),
        "owned-by-nobody owner"
    );
    assert_eq!(nobody.mode() & 0o7777, 0o600);
    let suid = lmeta(&l[1].join("usr/local/bin/suid-tool"));
    assert_eq!(suid.mode() & 0o7777, 0o4755, "setuid bit kept");
    assert_eq!((suid.uid(), suid.gid()), (0, 0));
    assert_eq!(read(&data.join("replace.txt")), "v1\n");
    assert!(lmeta(&data.join("kind")).is_file());
    assert!(l[1].join("olddir/file").is_file());
    assert!(l[1].join("opaque/sub/old-b.txt").is_file());
    assert_eq!(keep.mtime(), EPOCH, "file mtime");
    assert_eq!(
        lmeta(&data).mtime(),
        EPOCH,
        "directory mtime restored after its entries"
    );
    assert_eq!(read(&l[1].join("etc/layered-release")), "layer2\n");

    // Layer 3: whiteouts and the opaque directory
    assert_whiteout(&l[2].join("data/remove-me.txt"));
    assert_whiteout(&l[2].join("olddir"));
    assert_whiteout(&l[2].join("bin/vi"));
    assert_eq!(read(&l[2].join("data/replace.txt")), "v2\n");
    let opaque = l[2].join("opaque");
    assert!(lmeta(&opaque).is_dir());
    assert_eq!(
        xattr(&opaque, "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..]),
        "opaque/ must carry trusted.overlay.opaque=y"
    );
    assert_eq!(read(&opaque.join("new.txt")), "new\n");
    assert!(!opaque.join("old-a.txt").exists());
    assert_eq!(
        xattr(&l[2].join("data"), "trusted.overlay.opaque"),
        None,
        "data/ of layer 3 is not opaque"
    );

    // Layer 4: the whiteout of a file and a directory of the same name
    let kind = l[3].join("data/kind");
    assert!(lmeta(&kind).is_dir(), "data/kind is a directory in layer 4");
    assert_eq!(read(&kind.join("now-a-dir")), "dir\n");
    assert_eq!(read(&l[3].join("etc/layered-release")), "layer4\n");

    for diff in &l {
        no_aufs_whiteouts(diff);
    }
}

/// Device nodes, fifos, xattrs, ownership of files and symlinks, special mode
/// bits, mtimes of files, symlinks and directories, hard links.
#[test]
fn special_files_unpacked_faithfully() {
    let d = Daemon::start();
    let layer = build_tar(&[
        Entry::dir("dev"),
        Entry::char_dev("dev/null", 1, 3).mode(0o666),
        Entry::block_dev("dev/loop-it", 7, 200)
            .mode(0o660)
            .owner(0, 6),
        Entry::fifo("dev/fifo").mode(0o600),
        Entry::file("xattr.txt", b"x\n").xattr("user.berth-it", b"hello"),
        Entry::file("owned", b"owned\n")
            .owner(1234, 5678)
            .mode(0o640)
            .mtime(1_600_000_000),
        Entry::hardlink("owned-link", "owned"),
        Entry::symlink("sym", "owned")
            .owner(1234, 5678)
            .mtime(1_500_000_000),
        Entry::dir("setgid-dir").mode(0o2775).owner(0, 100),
        Entry::dir("sticky").mode(0o1777),
        Entry::file("sgid", b"#!/bin/sh\n").mode(0o2755),
        Entry::dir("dir-mtime").mtime(1_400_000_000),
        Entry::file("dir-mtime/inner", b"inner\n"),
    ]);
    let diff_id = digest(&layer);
    let archive = DockerArchive::new("p-special:1", vec![layer]).build();
    let path = d.work.join("special.tar");
    std::fs::write(&path, archive).unwrap();
    d.load(&path);
    let l = layer_by_chain_id(&d.data_root, &diff_id)
        .unwrap_or_else(|| {
            panic!(
                "no layer dir for {diff_id}: {:#?}",
                layer_dirs(&d.data_root)
            )
        })
        .diff();

    let null = lmeta(&l.join("dev/null"));
    assert!(
        null.file_type().is_char_device(),
        "dev/null is a char device"
    );
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3), "dev/null is 1:3");
    assert_eq!(null.mode() & 0o7777, 0o666);
    let blk = lmeta(&l.join("dev/loop-it"));
    assert!(
        blk.file_type().is_block_device(),
        "dev/loop-it is a block device"
    );
    assert_eq!(blk.rdev(), rustix::fs::makedev(7, 200));
    assert_eq!(blk.gid(), 6);
    let fifo = lmeta(&l.join("dev/fifo"));
    assert!(fifo.file_type().is_fifo(), "dev/fifo is a fifo");
    assert_eq!(fifo.mode() & 0o7777, 0o600);

    assert_eq!(
        xattr(&l.join("xattr.txt"), "user.berth-it").as_deref(),
        Some(&b"hello"[..]),
        "xattr from the PAX header"
    );
    let owned = lmeta(&l.join("owned"));
    assert_eq!((owned.uid(), owned.gid()), (1234, 5678));
    assert_eq!(owned.mode() & 0o7777, 0o640);
    assert_eq!(owned.mtime(), 1_600_000_000);
    assert_eq!(owned.nlink(), 2);
    assert_eq!(lmeta(&l.join("owned-link")).ino(), owned.ino());
    let sym = lmeta(&l.join("sym"));
    assert!(sym.is_symlink());
    assert_eq!(
        (sym.uid(), sym.gid()),
        (1234, 5678),
        "symlink owner (lchown)"
    );
    assert_eq!(sym.mtime(), 1_500_000_000, "symlink mtime (lutimes)");
    let sg = lmeta(&l.join("setgid-dir"));
    assert_eq!(sg.mode() & 0o7777, 0o2775);
    assert_eq!(sg.gid(), 100);
    assert_eq!(mode(&l.join("sticky")), 0o1777);
    assert_eq!(mode(&l.join("sgid")), 0o2755);
    assert_eq!(
        lmeta(&l.join("dir-mtime")).mtime(),
        1_400_000_000,
        "directory mtime restored after its entries"
    );

    // and it saves back byte-identical
    d.assert_store_consistent("special files");
}
