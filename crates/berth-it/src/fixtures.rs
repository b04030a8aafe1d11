//! The offline test images of `<shared>/fixtures`.
//!
//! `make-images --oci` is run once and its output cached under
//! `target/<profile>/berth-it-fixtures/<key>/`, where the key hashes the script
//! and the busybox binary (the output is byte-for-byte reproducible from them).
//! The directory is built under a temporary name and renamed into place, so
//! concurrent test processes (nextest runs one per test) share one result.

use crate::archive::{read_docker_archive, ArchiveImage};
use crate::paths::{profile_dir, shared_dir};
use sha2::{Digest, Sha256};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Paths of the fixture archives.
#[derive(Debug)]
pub struct Fixtures {
    /// `busybox.tar` (docker-archive, `busybox:latest`, 1 layer).
    pub busybox: PathBuf,
    /// `layered.tar` (docker-archive, `berth-test/layered:latest`, 4 layers).
    pub layered: PathBuf,
    /// `busybox-oci.tar` (OCI image layout).
    pub busybox_oci: PathBuf,
    /// `layered-oci.tar` (OCI image layout).
    pub layered_oci: PathBuf,
    /// Real Docker's `docker save busybox:latest` output (committed in shared/).
    pub docker_save_busybox: PathBuf,
    /// The scenario directory of the compat harness (goldens).
    pub scenarios: PathBuf,
}

impl Fixtures {
    /// The image described by the docker-archive `busybox.tar`.
    pub fn busybox_image(&self) -> ArchiveImage {
        single(&self.busybox)
    }

    /// The image described by the docker-archive `layered.tar`.
    pub fn layered_image(&self) -> ArchiveImage {
        single(&self.layered)
    }

    /// The image described by `docker-save-busybox.tar`.
    pub fn docker_save_busybox_image(&self) -> ArchiveImage {
        single(&self.docker_save_busybox)
    }

    /// A golden file of the compat scenarios, e.g. `18-images-tag-rmi-history.golden`.
    pub fn golden(&self, name: &str) -> String {
        let p = self.scenarios.join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    /// The lines of a golden under `-- <title>` up to the next `-- ` title or `[exit`.
    pub fn golden_section(&self, name: &str, title: &str) -> Vec<String> {
        let text = self.golden(name);
        let head = format!("-- {title}");
        let mut it = text.lines().skip_while(|l| l.trim_end() != head);
        assert!(it.next().is_some(), "no section {head:?} in {name}");
        it.take_while(|l| !l.starts_with("-- ") && !l.starts_with("[exit"))
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim_end().to_string())
            .collect()
    }
}

/// A tiny root filesystem tar for `docker import`: `hello` = "tiny\n",
/// `etc/os-release`, empty `bin/` and `tmp/` (1777).
pub fn rootfs_tar() -> Vec<u8> {
    use crate::archive::{build_tar, Entry};
    build_tar(&[
        Entry::dir("bin"),
        Entry::dir("etc"),
        Entry::file("etc/os-release", b"ID=berth-it\n"),
        Entry::file("hello", b"tiny\n"),
        Entry::dir("tmp").mode(0o1777),
    ])
}

fn single(p: &Path) -> ArchiveImage {
    let mut v = read_docker_archive(p);
    assert_eq!(v.len(), 1, "{} holds one image", p.display());
    v.remove(0)
}

/// The fixtures, generated on first use (cached across test processes).
pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(generate)
}

fn cache_key(script: &Path, busybox: &Path) -> String {
    let mut h = Sha256::new();
    h.update(std::fs::read(script).expect("read make-images"));
    if let Ok(m) = std::fs::metadata(busybox) {
        h.update(m.len().to_le_bytes());
        h.update(m.mtime().to_le_bytes());
        h.update(m.ino().to_le_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

fn generate() -> Fixtures {
    let shared = shared_dir();
    let script = shared.join("fixtures/make-images");
    let busybox = std::env::var_os("BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/busybox"));
    let cache = std::env::var_os("BERTH_FIXTURES_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| profile_dir().join("berth-it-fixtures"));
    let out = cache.join(cache_key(&script, &busybox));
    if !out.join("layered-oci.tar").is_file() {
        std::fs::create_dir_all(&cache)
            .unwrap_or_else(|e| panic!("create {}: {e}", cache.display()));
        let tmp = cache.join(format!(
            ".tmp-{}-{:x}",
            std::process::id(),
            crate::random_u64()
        ));
        let res = Command::new("python3")
            .arg(&script)
            .arg("--oci")
            .arg(&tmp)
            .output()
            .expect("run python3 make-images");
        assert!(
            res.status.success(),
            "{} --oci failed ({}): {}{}\n(needs python3 and `apt-get install -y busybox-static`)",
            script.display(),
            res.status,
            String::from_utf8_lossy(&res.stdout),
            String::from_utf8_lossy(&res.stderr)
        );
        // Another process may have won the race: then keep theirs.
        if std::fs::rename(&tmp, &out).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
            assert!(
                out.join("layered-oci.tar").is_file(),
                "fixture cache {} is incomplete",
                out.display()
            );
        }
    }
    Fixtures {
        busybox: out.join("busybox.tar"),
        layered: out.join("layered.tar"),
        busybox_oci: out.join("busybox-oci.tar"),
        layered_oci: out.join("layered-oci.tar"),
        docker_save_busybox: shared.join("fixtures/docker-save-busybox.tar"),
        scenarios: shared.join("compat/scenarios"),
    }
}
