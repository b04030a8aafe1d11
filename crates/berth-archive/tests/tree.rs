//! Real trees in temporary directories: stat, the tars of `GET archive` and `export`,
//! extraction and copy-up, including trees and archives that try to reach outside the
//! root. Ownership needs root; without it the tests say they were skipped.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use berth_archive::{
    extract_tar, ArchiveOptions, Error, ExtractOptions, IdMap, IdRange, PathStat, Root,
    GO_MODE_DIR, GO_MODE_SYMLINK,
};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root (ownership, device nodes)");
            return;
        }
    };
}

/// One tar entry as a test looks at it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct E {
    name: String,
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    link: String,
    data: Vec<u8>,
    uname: String,
    mtime: u64,
}

fn entries(tar: &[u8]) -> Vec<E> {
    let mut a = tar::Archive::new(tar);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push(E {
            name: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
            kind: h.entry_type().as_byte() as char,
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            link: e
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap())
                .unwrap_or_default(),
            data,
            uname: h.username().ok().flatten().unwrap_or("").to_string(),
            mtime: h.mtime().unwrap(),
        });
    }
    out
}

fn names(tar: &[u8]) -> Vec<String> {
    entries(tar).into_iter().map(|e| e.name).collect()
}

fn get(root: &Root, path: &str) -> (PathStat, Vec<u8>) {
    let src = root.source(path).unwrap();
    let mut out = Vec::new();
    src.write_tar(&ArchiveOptions::default(), &mut out).unwrap();
    (src.stat.clone(), out)
}

fn write(p: &Path, data: &str) {
    std::fs::write(p, data).unwrap();
}

fn symlink(target: &str, p: &Path) {
    std::os::unix::fs::symlink(target, p).unwrap();
}

fn set_mtime(p: &Path, secs: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// `etc/passwd`, `src/d/{e/,f}`, `src/sym -> d/f`, `src/hard` = `src/d/f` (hard link).
fn sample() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    write(
        &r.join("etc/passwd"),
        "root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
    );
    write(&r.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n");
    std::fs::create_dir_all(r.join("src/d/e")).unwrap();
    write(&r.join("src/d/f"), "from-ctr\n");
    std::fs::set_permissions(r.join("src/d/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
    symlink("d/f", &r.join("src/sym"));
    std::fs::hard_link(r.join("src/d/f"), r.join("src/hard")).unwrap();
    set_mtime(&r.join("src/d/f"), 1_704_067_200);
    t
}

#[test]
fn stat_follows_docker() {
    let t = sample();
    let root = Root::open(t.path()).unwrap();
    let s = root.stat("/src/d/f").unwrap();
    assert_eq!(s.name, "f");
    assert_eq!(s.size, 9);
    assert_eq!(s.mode, 0o640);
    assert_eq!(s.mtime, "2024-01-01T00:00:00Z");
    assert_eq!(s.link_target, "");
    let s = root.stat("src/d").unwrap();
    assert_eq!((s.name.as_str(), s.mode), ("d", GO_MODE_DIR | 0o755));
    let s = root.stat("/src/sym").unwrap();
    assert_eq!(s.mode, GO_MODE_SYMLINK | 0o777);
    assert_eq!(s.link_target, "/src/d/f");
    assert_eq!(root.stat("/").unwrap().name, "/");
    assert_eq!(root.stat("/src/d/.").unwrap().name, ".");
    assert!(matches!(root.stat("/nope"), Err(Error::NotFound(_))));
    assert!(matches!(root.stat("/nope/x"), Err(Error::NotFound(_))));
    assert!(matches!(root.stat("/src/d/f/"), Err(Error::Invalid(_))));
    // A trailing slash follows a symlink to a directory.
    symlink("d", &t.path().join("src/dl"));
    assert!(root.stat("/src/dl/").unwrap().is_dir());
    assert_eq!(root.stat("/src/dl").unwrap().link_target, "/src/d");
    // Chains, absolute targets and dangling ends resolve as far as they go, in the root.
    symlink("/src/dl/../sym", &t.path().join("chain"));
    assert_eq!(root.stat("/chain").unwrap().link_target, "/src/d/f");
    symlink("../../../../missing/x", &t.path().join("dangling"));
    assert_eq!(root.stat("/dangling").unwrap().link_target, "/missing/x");
}

#[test]
fn get_archive_names_follow_docker_rebase() {
    let t = sample();
    let root = Root::open(t.path()).unwrap();
    let (st, tar) = get(&root, "/src/d");
    assert!(st.is_dir());
    assert_eq!(names(&tar), ["d/", "d/e/", "d/f"]);
    let (_, tar) = get(&root, "/src/d/");
    assert_eq!(names(&tar), ["d/", "d/e/", "d/f"]);
    let (_, tar) = get(&root, "/src/d/.");
    assert_eq!(names(&tar), ["./", "./e/", "./f"]);
    let (st, tar) = get(&root, "/src/d/f");
    assert_eq!(st.name, "f");
    let e = entries(&tar);
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].name.as_str(), e[0].kind, e[0].mode, &e[0].data[..]),
        ("f", '0', 0o640, &b"from-ctr\n"[..])
    );
    assert_eq!(e[0].mtime, 1_704_067_200);
    assert_eq!(e[0].uname, if is_root() { "root" } else { "" });
    // A symlink is archived as itself.
    let (_, tar) = get(&root, "/src/sym");
    let e = entries(&tar);
    assert_eq!(
        (e[0].name.as_str(), e[0].kind, e[0].link.as_str()),
        ("sym", '2', "d/f")
    );
    // Hard links: the second name is a link to the first.
    let (_, tar) = get(&root, "/src");
    let e = entries(&tar);
    let hard = e.iter().find(|e| e.name == "src/hard").unwrap();
    assert_eq!((hard.kind, hard.link.as_str()), ('1', "src/d/f"));
    assert!(e.iter().any(|e| e.name == "src/d/f" && e.kind == '0'));
    // The root.
    let (_, tar) = get(&root, "/");
    assert!(names(&tar).contains(&"/".to_string()));
    assert!(names(&tar).contains(&"/src/d/f".to_string()));
}

#[test]
fn long_names_and_targets_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let long = "n".repeat(150);
    let dir = t.path().join(&long);
    std::fs::create_dir(&dir).unwrap();
    write(&dir.join(&long), "deep\n");
    let target = format!("/{}/{}", long, long);
    symlink(&target, &t.path().join("l"));
    let root = Root::open(t.path()).unwrap();
    let mut tar = Vec::new();
    root.export(&ArchiveOptions::default(), &mut tar).unwrap();
    let e = entries(&tar);
    assert!(e
        .iter()
        .any(|e| e.name == format!("{long}/{long}") && e.data == b"deep\n"));
    assert!(e.iter().any(|e| e.name == "l" && e.link == target));
}

#[test]
fn hostile_symlinks_stay_inside_the_root() {
    let t = tempfile::tempdir().unwrap();
    let rootdir = t.path().join("root");
    let outside = t.path().join("outside");
    std::fs::create_dir_all(rootdir.join("etc")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    write(&rootdir.join("etc/hostname"), "container\n");
    write(&outside.join("secret"), "host secret\n");
    symlink("/etc", &rootdir.join("evil"));
    symlink("../../../../../../../../etc", &rootdir.join("up"));
    symlink(outside.to_str().unwrap(), &rootdir.join("abs"));
    symlink("../outside", &rootdir.join("rel"));
    let root = Root::open(&rootdir).unwrap();

    let (_, tar) = get(&root, "/evil/hostname");
    assert_eq!(entries(&tar)[0].data, b"container\n");
    let (_, tar) = get(&root, "/up/hostname");
    assert_eq!(entries(&tar)[0].data, b"container\n");
    assert!(matches!(root.stat("/abs/secret"), Err(Error::NotFound(_))));
    assert!(matches!(root.stat("/rel/secret"), Err(Error::NotFound(_))));
    assert_eq!(root.stat("/up").unwrap().link_target, "/etc");
    // The root's tar lists the symlinks as symlinks.
    let mut tar = Vec::new();
    root.export(&ArchiveOptions::default(), &mut tar).unwrap();
    let e = entries(&tar);
    let evil = e.iter().find(|e| e.name == "evil").unwrap();
    assert_eq!((evil.kind, evil.link.as_str()), ('2', "/etc"));
    assert!(!e.iter().any(|e| e.data == b"host secret\n"));

    // Extraction through them lands in the root.
    let x = root.extraction_point("/abs").unwrap_err();
    assert!(matches!(x, Error::NotFound(_)), "{x}");
    let dest = root.extraction_point("/evil/").unwrap();
    assert_eq!(dest.path, "/evil");
    extract_tar(
        &dest,
        &tar_of(&[file("x", b"in\n")])[..],
        ExtractOptions::default(),
    )
    .unwrap();
    assert_eq!(std::fs::read(rootdir.join("etc/x")).unwrap(), b"in\n");
    let dest = root.extraction_point("/up").unwrap();
    extract_tar(
        &dest,
        &tar_of(&[file("y", b"in\n")])[..],
        ExtractOptions::default(),
    )
    .unwrap();
    assert_eq!(std::fs::read(rootdir.join("etc/y")).unwrap(), b"in\n");
    // Entries through a symlink the archive (or the container) planted resolve in the
    // extraction directory.
    let dest = root.extraction_point("/").unwrap();
    let hostile = tar_of(&[
        symlink_entry("planted", outside.to_str().unwrap()),
        file("planted/pwned", b"x\n"),
        file("abs/pwned2", b"x\n"),
        file("rel/pwned3", b"x\n"),
    ]);
    extract_tar(&dest, &hostile[..], ExtractOptions::default()).unwrap();
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        1,
        "outside untouched"
    );
    assert!(rootdir
        .join(outside.strip_prefix("/").unwrap())
        .join("pwned")
        .exists());
    // `..` in names and hard link targets is refused.
    for bad in [
        tar_of(&[file("../escape", b"x\n")]),
        tar_of(&[file("a/../../escape", b"x\n")]),
        tar_of(&[hardlink("h", "../outside/secret")]),
    ] {
        let e = extract_tar(&dest, &bad[..], ExtractOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
    }
    assert!(!t.path().join("escape").exists());
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    // Absolute names are relative to the destination.
    extract_tar(
        &dest,
        &tar_of(&[file("/abs-name", b"x\n")])[..],
        ExtractOptions::default(),
    )
    .unwrap();
    assert!(rootdir.join("abs-name").exists());
}

/// A raw tar entry for tests: name bytes are written as given (`..` included).
struct RawEntry {
    name: String,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    link: String,
    data: Vec<u8>,
}

fn file(name: &str, data: &[u8]) -> RawEntry {
    RawEntry {
        name: name.into(),
        kind: tar::EntryType::Regular,
        mode: 0o644,
        uid: 0,
        gid: 0,
        link: String::new(),
        data: data.to_vec(),
    }
}

fn dir(name: &str) -> RawEntry {
    RawEntry {
        kind: tar::EntryType::Directory,
        mode: 0o755,
        ..file(name, b"")
    }
}

fn symlink_entry(name: &str, target: &str) -> RawEntry {
    RawEntry {
        kind: tar::EntryType::Symlink,
        mode: 0o777,
        link: target.into(),
        ..file(name, b"")
    }
}

fn hardlink(name: &str, target: &str) -> RawEntry {
    RawEntry {
        kind: tar::EntryType::Link,
        link: target.into(),
        ..file(name, b"")
    }
}

fn tar_of(es: &[RawEntry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in es {
        let mut h = tar::Header::new_gnu();
        let n = e.name.as_bytes();
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        let l = e.link.as_bytes();
        h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(1_700_000_000);
        h.set_size(e.data.len() as u64);
        h.set_cksum();
        b.append(&h, &e.data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn extraction_follows_docker_rules() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    std::fs::create_dir_all(r.join("tmp/exists-dir")).unwrap();
    write(&r.join("tmp/exists-file"), "old\n");
    write(&r.join("file"), "x\n");
    let root = Root::open(r).unwrap();
    assert!(matches!(
        root.extraction_point("/file"),
        Err(Error::Invalid(m)) if m == "extraction point is not a directory"
    ));
    assert!(matches!(
        root.extraction_point("/missing"),
        Err(Error::NotFound(_))
    ));
    let dest = root.extraction_point("/tmp").unwrap();
    let no_over = ExtractOptions {
        no_overwrite_dir_non_dir: true,
        ..ExtractOptions::default()
    };
    let e = extract_tar(
        &dest,
        &tar_of(&[file("exists-dir", b"x")])[..],
        no_over.clone(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot overwrite directory \"exists-dir\" with non-directory \"/tmp\""
    );
    let e = extract_tar(&dest, &tar_of(&[dir("exists-file")])[..], no_over.clone()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot overwrite non-directory \"exists-file\" with directory \"/tmp\""
    );
    // Files are replaced, directories merged, implied parents made.
    let tar = tar_of(&[
        file("exists-file", b"new\n"),
        dir("exists-dir"),
        file("exists-dir/inner", b"in\n"),
        file("implied/a/b", b"b\n"),
        RawEntry {
            mode: 0o4755,
            ..file("suid", b"#!/bin/sh\n")
        },
        symlink_entry("sym", "/etc/passwd"),
        hardlink("hard", "exists-file"),
    ]);
    extract_tar(&dest, &tar[..], no_over.clone()).unwrap();
    let tmp = r.join("tmp");
    assert_eq!(std::fs::read(tmp.join("exists-file")).unwrap(), b"new\n");
    assert_eq!(
        std::fs::read(tmp.join("exists-dir/inner")).unwrap(),
        b"in\n"
    );
    assert_eq!(std::fs::read(tmp.join("implied/a/b")).unwrap(), b"b\n");
    let m = std::fs::metadata(tmp.join("implied/a")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o755);
    assert_eq!(
        std::fs::symlink_metadata(tmp.join("suid")).unwrap().mode() & 0o7777,
        0o4755
    );
    assert_eq!(
        std::fs::read_link(tmp.join("sym")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        std::fs::metadata(tmp.join("hard")).unwrap().ino(),
        std::fs::metadata(tmp.join("exists-file")).unwrap().ino()
    );
    assert_eq!(
        std::fs::metadata(tmp.join("exists-file")).unwrap().mtime(),
        1_700_000_000
    );
    assert_eq!(
        std::fs::metadata(tmp.join("exists-dir")).unwrap().mtime(),
        1_700_000_000
    );
    // A gzip-compressed stream is unpacked too; other compressions are refused clearly.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar_of(&[file("gz", b"gz\n")])).unwrap();
    extract_tar(&dest, &gz.finish().unwrap()[..], no_over.clone()).unwrap();
    assert_eq!(std::fs::read(tmp.join("gz")).unwrap(), b"gz\n");
    let e = extract_tar(&dest, &b"BZh91AY&SY"[..], no_over.clone()).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    // A malformed stream fails with the reader's message.
    let mut broken = tar_of(&[file("broken", b"x\n")]);
    broken[148..156].copy_from_slice(b"0000000\0");
    let e = extract_tar(&dest, &broken[..], no_over.clone()).unwrap_err();
    assert!(matches!(e, Error::Other(_)), "{e}");
    // An empty body is an empty archive.
    extract_tar(&dest, &b""[..], no_over).unwrap();
}

#[test]
fn extraction_owners() {
    need_root!();
    let t = tempfile::tempdir().unwrap();
    let root = Root::open(t.path()).unwrap();
    let dest = root.extraction_point("/").unwrap();
    let owned = |name: &str| RawEntry {
        uid: 1234,
        gid: 2345,
        ..file(name, b"owned\n")
    };
    extract_tar(
        &dest,
        &tar_of(&[owned("plain")])[..],
        ExtractOptions::default(),
    )
    .unwrap();
    let m = std::fs::metadata(t.path().join("plain")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 2345));
    let chown = ExtractOptions {
        chown: Some((65534, 65534)),
        ..ExtractOptions::default()
    };
    extract_tar(
        &dest,
        &tar_of(&[dir("adir"), owned("adir/archive")])[..],
        chown,
    )
    .unwrap();
    for p in ["adir", "adir/archive"] {
        let m = std::fs::metadata(t.path().join(p)).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534), "{p}");
    }
    // Under a user namespace's maps the archive's container IDs become host IDs, and
    // implied directories belong to the container's root.
    let mapped = ExtractOptions {
        idmap: IdMap {
            uids: vec![IdRange::parse("0:100000:65536").unwrap()],
            gids: vec![IdRange::parse("0:200000:65536").unwrap()],
        },
        ..ExtractOptions::default()
    };
    extract_tar(&dest, &tar_of(&[owned("m/mapped")])[..], mapped.clone()).unwrap();
    let m = std::fs::metadata(t.path().join("m/mapped")).unwrap();
    assert_eq!((m.uid(), m.gid()), (101234, 202345));
    let m = std::fs::metadata(t.path().join("m")).unwrap();
    assert_eq!((m.uid(), m.gid()), (100000, 200000));
    let e = extract_tar(
        &dest,
        &tar_of(&[RawEntry {
            uid: 70000,
            ..file("unmappable", b"")
        }])[..],
        mapped.clone(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Container ID 70000 cannot be mapped to a host ID"
    );
    // ... and reading maps them back.
    let src = root.source("/m/mapped").unwrap();
    let mut tar = Vec::new();
    src.write_tar(
        &ArchiveOptions {
            idmap: mapped.idmap,
        },
        &mut tar,
    )
    .unwrap();
    let e = entries(&tar);
    assert_eq!((e[0].uid, e[0].gid), (1234, 2345));
}

/// The tree below `p` as comparable facts: path, type, mode, owner, mtime, target, data.
fn facts(p: &Path) -> Vec<String> {
    fn go(base: &Path, p: &Path, out: &mut Vec<String>) {
        let mut names: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            let q = p.join(&n);
            let m = std::fs::symlink_metadata(&q).unwrap();
            let rel = q.strip_prefix(base).unwrap().display().to_string();
            let extra = if m.file_type().is_symlink() {
                std::fs::read_link(&q).unwrap().display().to_string()
            } else if m.is_file() {
                String::from_utf8_lossy(&std::fs::read(&q).unwrap()).into_owned()
            } else {
                String::new()
            };
            let mtime = if m.is_dir() { 0 } else { m.mtime() };
            out.push(format!(
                "{rel} {:o} {}:{} {} nlink={} rdev={} {extra:?}",
                m.mode(),
                m.uid(),
                m.gid(),
                mtime,
                if m.is_dir() { 0 } else { m.nlink() },
                m.rdev()
            ));
            if m.is_dir() {
                go(base, &q, out);
            }
        }
    }
    let mut out = Vec::new();
    go(p, p, &mut out);
    out
}

/// A tree with every kind of entry, odd modes and owners.
fn rich_tree(r: &Path) {
    std::fs::create_dir_all(r.join("data/sub")).unwrap();
    write(&r.join("data/keep.txt"), "keep\n");
    std::fs::hard_link(r.join("data/keep.txt"), r.join("data/hard")).unwrap();
    write(&r.join("data/sub/suid"), "#!/bin/sh\n");
    std::fs::set_permissions(
        r.join("data/sub/suid"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    std::fs::set_permissions(r.join("data/sub"), std::fs::Permissions::from_mode(0o1751)).unwrap();
    symlink("keep.txt", &r.join("data/link"));
    symlink("/etc/passwd", &r.join("data/abs-link"));
    rustix::fs::mknodat(
        rustix::fs::CWD,
        r.join("data/fifo").as_path(),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    if is_root() {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            r.join("data/null").as_path(),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
        .unwrap();
        std::os::unix::fs::lchown(r.join("data/keep.txt"), Some(65534), Some(65534)).unwrap();
        std::os::unix::fs::lchown(r.join("data/link"), Some(1000), Some(1001)).unwrap();
        std::os::unix::fs::lchown(r.join("data/sub"), Some(7), Some(8)).unwrap();
        // chown clears setuid.
        std::fs::set_permissions(
            r.join("data/sub/suid"),
            std::fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
    }
    // A socket has no tar form: skipped.
    let _sock = std::os::unix::net::UnixListener::bind(r.join("data/sock")).unwrap();
    for p in [
        "data/keep.txt",
        "data/sub/suid",
        "data/link",
        "data/abs-link",
        "data/fifo",
    ] {
        set_mtime(&r.join(p), 1_600_000_000);
    }
}

#[test]
fn tar_round_trip_keeps_everything() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    let b = t.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    rich_tree(&a);
    let src = Root::open(&a).unwrap();
    let (_, tar) = get(&src, "/data");
    let e = entries(&tar);
    assert!(
        !e.iter().any(|e| e.name.ends_with("sock")),
        "sockets are skipped"
    );
    let dst = Root::open(&b).unwrap();
    let dest = dst.extraction_point("/").unwrap();
    extract_tar(&dest, &tar[..], ExtractOptions::default()).unwrap();
    std::fs::remove_file(a.join("data/sock")).unwrap();
    assert_eq!(facts(&a.join("data")), facts(&b.join("data")));
}

#[test]
fn export_lists_the_whole_tree() {
    let t = tempfile::tempdir().unwrap();
    rich_tree(t.path());
    std::fs::remove_file(t.path().join("data/sock")).unwrap();
    write(&t.path().join(".dockerenv"), "");
    let root = Root::open(t.path()).unwrap();
    let mut tar = Vec::new();
    root.export(&ArchiveOptions::default(), &mut tar).unwrap();
    let n = names(&tar);
    assert_eq!(n[0], ".dockerenv");
    assert!(n.contains(&"data/".to_string()));
    assert!(n.contains(&"data/sub/suid".to_string()));
    assert!(!n.iter().any(|n| n.starts_with("./") || n.starts_with('/')));
    let e = entries(&tar);
    let hard: Vec<_> = e
        .iter()
        .filter(|e| e.name == "data/hard" || e.name == "data/keep.txt")
        .map(|e| e.kind)
        .collect();
    assert_eq!(hard, ['0', '1'], "the first name in walk order is the file");
}

#[test]
fn copy_up_keeps_everything() {
    let t = tempfile::tempdir().unwrap();
    let root_dir = t.path().join("root");
    let vol = t.path().join("vol");
    std::fs::create_dir_all(&root_dir).unwrap();
    std::fs::create_dir_all(&vol).unwrap();
    rich_tree(&root_dir);
    std::fs::remove_file(root_dir.join("data/sock")).unwrap();
    std::fs::set_permissions(
        root_dir.join("data"),
        std::fs::Permissions::from_mode(0o710),
    )
    .unwrap();
    set_mtime(&root_dir.join("data"), 1_500_000_000);
    // The image reaches the directory through a symlink: followed inside the root.
    symlink("/../../../data", &root_dir.join("via"));
    let root = Root::open(&root_dir).unwrap();
    let to = rustix::fs::open(
        &vol,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    assert!(root.copy_up("/via", AsFd::as_fd(&to)).unwrap());
    assert_eq!(facts(&root_dir.join("data")), facts(&vol));
    let m = std::fs::metadata(&vol).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o710);
    assert_eq!(m.mtime(), 1_500_000_000);
    assert!(!root.copy_up("/missing", AsFd::as_fd(&to)).unwrap());
    assert!(!root.copy_up("/data/keep.txt", AsFd::as_fd(&to)).unwrap());
}
