//! Hostile archives: every load fails with a clear error, writes nothing outside
//! the data root (canaries under `<tmp>/outside`, host `/etc`, `/`), leaves
//! nothing behind in the test's directory tree, and adds no image.
//!
//! Each hostile layer comes after a benign, new layer, so a loader that keeps
//! the layers it finished before the failure is caught too.

use berth_it::archive::image_config;
use berth_it::fsutil::walk;
use berth_it::{build_tar, digest, fixtures, random_u64, Daemon, DockerArchive, Entry};
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Env {
    d: Daemon,
    /// `<tmp>/outside`: holds `target` (a file for hard links to aim at).
    outside: PathBuf,
    /// Unique token used in hostile names aimed at the host (`/etc/<tok>`, `/<tok>`).
    tok: String,
}

impl Env {
    fn new() -> Env {
        let d = Daemon::start();
        d.load(&fixtures().busybox);
        let outside = d.root().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("target"), "target\n").unwrap();
        let tok = format!("berth-it-evil-{:x}", random_u64() & 0xffff_ffff);
        Env { d, outside, tok }
    }

    /// `<tmp>/outside/...` as a path relative to `/`.
    fn outside_rel(&self, name: &str) -> String {
        let p = self.outside.join(name);
        p.to_str().unwrap().trim_start_matches('/').to_string()
    }

    fn outside_abs(&self, name: &str) -> String {
        self.outside.join(name).to_str().unwrap().to_string()
    }

    /// A new, harmless layer to put before the hostile one.
    fn benign(&self) -> Vec<u8> {
        build_tar(&[
            Entry::dir("benign"),
            Entry::file(&format!("benign/{}", self.tok), b"benign\n"),
        ])
    }

    /// An archive of the benign layer followed by `hostile`.
    fn archive(&self, hostile: Vec<u8>) -> Vec<u8> {
        DockerArchive::new("p-evil:1", vec![self.benign(), hostile]).build()
    }
}

/// `../` repeated: more levels than any data-root layout is deep, so the path
/// resolves from `/` wherever the layer is unpacked.
fn up() -> String {
    "../".repeat(16)
}

fn tree(root: &Path) -> BTreeSet<PathBuf> {
    walk(root)
        .into_iter()
        .filter(|p| !p.starts_with("docker-config") && p != Path::new("berthd.log"))
        .collect()
}

struct HostMeta(Vec<(u64, u64, i64, u64)>);

fn host_meta() -> HostMeta {
    HostMeta(
        ["/etc/passwd", "/etc/shadow", "/etc/hosts"]
            .iter()
            .filter_map(|p| std::fs::symlink_metadata(p).ok())
            .map(|m| (m.ino(), m.nlink(), m.mtime(), m.len()))
            .collect(),
    )
}

/// Load `archive`; it must fail with a message containing one of `keywords`
/// (case-insensitive; none: any non-empty message) and change nothing.
fn assert_rejected(env: &Env, archive: &[u8], keywords: &[&str]) {
    let d = &env.d;
    let path = d.work.join("hostile.tar");
    std::fs::write(&path, archive).unwrap();
    let ids = d.image_ids();
    let count = d.image_count();
    let before = tree(d.root());
    let outside_before = walk(&env.outside);
    let host = host_meta();

    let o = d.docker(["load", "-i"]).arg(&path).fails();
    let msg = o.combined();
    assert!(!msg.trim().is_empty(), "a failed load must say why: {o}");
    assert!(
        !msg.contains("Cannot connect to the Docker daemon")
            && !msg.contains("error during connect"),
        "the daemon must survive a hostile archive: {o}\n{}",
        d.log()
    );
    if !keywords.is_empty() {
        let lower = msg.to_ascii_lowercase();
        assert!(
            keywords
                .iter()
                .any(|k| lower.contains(&k.to_ascii_lowercase())),
            "the error should name the problem (one of {keywords:?}): {o}"
        );
    }
    assert_eq!(d.http("GET", "/_ping").status, 200, "daemon still answers");
    assert_eq!(d.image_ids(), ids, "no image added or lost");
    assert_eq!(d.image_count(), count, "image count unchanged");

    // Nothing escaped.
    assert_eq!(
        walk(&env.outside),
        outside_before,
        "files appeared in {}",
        env.outside.display()
    );
    for f in &outside_before {
        let m = std::fs::metadata(env.outside.join(f)).unwrap();
        assert_eq!(
            m.nlink(),
            1,
            "a hard link to the canary {} was made",
            f.display()
        );
    }
    for p in [
        Path::new("/etc").join(&env.tok),
        Path::new("/").join(&env.tok),
    ] {
        if p.exists() {
            let _ = std::fs::remove_file(&p);
            panic!("the hostile archive wrote {} on the host", p.display());
        }
    }
    assert_eq!(
        host_meta().0,
        host.0,
        "host /etc files changed (links or writes)"
    );

    // Nothing left behind (the daemon may clean up just after answering).
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let new: Vec<PathBuf> = tree(d.root()).difference(&before).cloned().collect();
        if new.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            panic!(
                "a failed load left files behind: {new:#?}\n(the load failed with: {})",
                msg.trim()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The store still works.
    d.assert_store_consistent("after a rejected load");
}

#[test]
fn rejects_dotdot_entry() {
    let env = Env::new();
    let layer = build_tar(&[
        Entry::file("ok.txt", b"ok\n"),
        Entry::file(&format!("../{}", env.tok), b"evil\n"),
    ]);
    assert_rejected(&env, &env.archive(layer), &[&env.tok, ".."]);
}

#[test]
fn rejects_deep_dotdot_entry() {
    let env = Env::new();
    let name = format!("{}{}", up(), env.outside_rel("evil"));
    let layer = build_tar(&[Entry::file(&name, b"evil\n")]);
    assert_rejected(&env, &env.archive(layer), &["evil", ".."]);
}

#[test]
fn rejects_absolute_entry() {
    let env = Env::new();
    let layer = build_tar(&[Entry::file(&format!("/etc/{}", env.tok), b"evil\n")]);
    assert_rejected(&env, &env.archive(layer), &[&env.tok, "absolute"]);
}

#[test]
fn rejects_absolute_entry_aimed_at_canary() {
    let env = Env::new();
    let layer = build_tar(&[Entry::file(&env.outside_abs("evil"), b"evil\n")]);
    assert_rejected(&env, &env.archive(layer), &["evil", "absolute"]);
}

#[test]
fn rejects_entry_through_symlink_to_root() {
    let env = Env::new();
    let layer = build_tar(&[
        Entry::symlink("link", "/"),
        Entry::file(&format!("link/{}", env.tok), b"evil\n"),
    ]);
    assert_rejected(&env, &env.archive(layer), &[&env.tok, "link"]);
}

#[test]
fn rejects_entry_through_symlink_to_canary_dir() {
    let env = Env::new();
    let layer = build_tar(&[
        Entry::symlink("link", &env.outside_abs("")),
        Entry::file("link/evil", b"evil\n"),
    ]);
    assert_rejected(&env, &env.archive(layer), &["link/evil", "link"]);
}

#[test]
fn rejects_entry_through_relative_escaping_symlink() {
    let env = Env::new();
    let layer = build_tar(&[
        Entry::symlink("up", &up()),
        Entry::file(&format!("up/{}", env.outside_rel("evil")), b"evil\n"),
    ]);
    assert_rejected(&env, &env.archive(layer), &["up/", "link"]);
}

#[test]
fn rejects_hardlink_to_host_passwd() {
    let env = Env::new();
    let layer = build_tar(&[Entry::hardlink("evil-link", "../../etc/passwd")]);
    assert_rejected(&env, &env.archive(layer), &["passwd", "evil-link"]);
}

#[test]
fn rejects_hardlink_to_canary() {
    let env = Env::new();
    let target = format!("{}{}", up(), env.outside_rel("target"));
    let layer = build_tar(&[Entry::hardlink("evil-link", &target)]);
    assert_rejected(&env, &env.archive(layer), &["target", "evil-link"]);
}

/// manifest.json names a layer file outside the archive. A planted, valid layer
/// (matching the config's diff id) waits there, so a loader that follows the
/// path would succeed instead of failing.
fn manifest_escape(env: &Env, layer_path: String) -> Vec<u8> {
    let planted = build_tar(&[Entry::file("planted.txt", b"planted\n")]);
    std::fs::write(env.outside.join("layer.tar"), &planted).unwrap();
    let benign = env.benign();
    let ids = vec![digest(&benign), digest(&planted)];
    DockerArchive {
        repo_tags: vec!["p-evil:1".into()],
        layers: vec![benign],
        config: Some(serde_json::to_vec(&image_config(&ids, &["sh"])).unwrap()),
        manifest_layers: Some(vec!["layer0/layer.tar".into(), layer_path]),
    }
    .build()
}

#[test]
fn rejects_manifest_layer_path_outside_archive() {
    let env = Env::new();
    let archive = manifest_escape(&env, format!("{}{}", up(), env.outside_rel("layer.tar")));
    assert_rejected(&env, &archive, &["layer.tar", "manifest", "layer"]);
}

#[test]
fn rejects_manifest_layer_absolute_path() {
    let env = Env::new();
    let archive = manifest_escape(&env, env.outside_abs("layer.tar"));
    assert_rejected(&env, &archive, &["layer.tar", "manifest", "layer"]);
}

#[test]
fn rejects_manifest_layer_pointing_at_etc_passwd() {
    let env = Env::new();
    let benign = env.benign();
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let ids = vec![digest(&benign), digest(&passwd)];
    let archive = DockerArchive {
        repo_tags: vec!["p-evil:1".into()],
        layers: vec![benign],
        config: Some(serde_json::to_vec(&image_config(&ids, &["sh"])).unwrap()),
        manifest_layers: Some(vec!["layer0/layer.tar".into(), "../../etc/passwd".into()]),
    }
    .build();
    assert_rejected(&env, &archive, &["passwd", "manifest", "layer"]);
}

#[test]
fn rejects_config_whose_diff_ids_do_not_match() {
    let env = Env::new();
    let benign = env.benign();
    let second = build_tar(&[Entry::file("second.txt", b"second\n")]);
    let ids = vec![digest(&benign), digest(b"something else entirely")];
    let archive = DockerArchive {
        repo_tags: vec!["p-evil:1".into()],
        layers: vec![benign, second],
        config: Some(serde_json::to_vec(&image_config(&ids, &["sh"])).unwrap()),
        manifest_layers: None,
    }
    .build();
    assert_rejected(&env, &archive, &["diff", "digest", "match", "checksum"]);
}

#[test]
fn rejects_truncated_archive() {
    let env = Env::new();
    let full = std::fs::read(&fixtures().layered).unwrap();
    let cut = &full[..full.len() * 6 / 10];
    assert_rejected(&env, cut, &[]);
}

#[test]
fn rejects_not_a_tar() {
    let env = Env::new();
    assert_rejected(&env, b"not a tar\n", &[]);
}

/// Positive control: absolute (also dangling) symlinks, `./` prefixes, a hard
/// link inside the layer and a symlink to `/` that nothing goes through are
/// ordinary image content and must load.
#[test]
fn accepts_legitimate_symlinks_and_dot_prefixes() {
    let env = Env::new();
    let layer = build_tar(&[
        Entry::dir("./"),
        Entry::dir("./etc/"),
        Entry::symlink("./etc/mtab", "/proc/mounts"),
        Entry::symlink("./rootlink", "/"),
        Entry::symlink("./etc/dangling", "/nowhere/at/all"),
        Entry::file("./etc/ok.txt", b"ok\n"),
        Entry::hardlink("./etc/ok-link", "./etc/ok.txt"),
    ]);
    let archive = DockerArchive::new("p-fine:1", vec![layer]).build();
    let path = env.d.work.join("fine.tar");
    std::fs::write(&path, archive).unwrap();
    let out = env.d.load(&path);
    assert_eq!(berth_it::lines(&out), ["Loaded image: p-fine:1"]);
    env.d.assert_store_consistent("legitimate symlinks");
    assert_eq!(
        walk(&env.outside).len(),
        1,
        "only the canary target in outside/"
    );
}
