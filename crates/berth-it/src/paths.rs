//! Where the binaries, the shared fixtures and the docker CLI are.

use std::path::{Path, PathBuf};

/// The repository root (`crates/berth-it/../..`).
pub fn repo_root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().unwrap_or(p)
}

/// The shared directory beside the repository (`BERTH_SHARED` overrides).
pub fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_SHARED") {
        return PathBuf::from(dir);
    }
    let p = repo_root().join("../shared");
    let p = p.canonicalize().unwrap_or(p);
    assert!(
        p.join("fixtures/make-images").is_file(),
        "shared fixtures not found at {} (set BERTH_SHARED to the shared directory)",
        p.display()
    );
    p
}

/// `target/<profile>/` of the running test executable (`target/<profile>/deps/<test>`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .expect("test executable has a parent directory");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// Directory holding `berthd` and `berth` (`BERTH_BIN_DIR` overrides).
pub fn bin_dir() -> PathBuf {
    match std::env::var_os("BERTH_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => profile_dir(),
    }
}

fn binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{name} not found at {}: build the workspace first (`cargo build` for the profile the \
         tests run with, e.g. `cargo build --workspace`), or set BERTH_BIN_DIR",
        p.display()
    );
    p
}

/// The daemon binary.
pub fn berthd_bin() -> PathBuf {
    binary("berthd")
}

/// The berth CLI binary.
pub fn berth_bin() -> PathBuf {
    binary("berth")
}

/// The OCI runtime command line.
pub fn berth_runc_bin() -> PathBuf {
    binary("berth-runc")
}

/// The real docker CLI (`BERTH_DOCKER` overrides).
pub fn docker_bin() -> PathBuf {
    std::env::var_os("BERTH_DOCKER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("docker"))
}
