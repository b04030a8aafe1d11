//! Test kit for berth's integration tests.
//!
//! Every test starts its own private `berthd` ([`Daemon`]): a temporary directory
//! holds its data root, exec root, socket, pidfile, config file, log and a private
//! `DOCKER_CONFIG`; the daemon is killed and the directory removed when the value
//! is dropped, also when the test panics. The daemon is driven with the real
//! `docker` CLI ([`Daemon::docker`]), the `berth` CLI ([`Daemon::berth`]) and raw
//! HTTP over the socket ([`Daemon::http`]).
//!
//! Locations (all overridable by environment):
//! - `BERTH_BIN_DIR`: where `berthd` and `berth` are; default the cargo profile
//!   directory of the running test executable (`target/<profile>/`).
//! - `BERTH_SHARED`: the shared fixtures directory; default `<repo root>/../shared`.
//! - `BERTH_DOCKER`: the docker CLI; default `docker` on `PATH`.

pub mod archive;
pub mod cli;
pub mod daemon;
pub mod fixtures;
pub mod fsutil;
pub mod http;
pub mod paths;

pub use archive::{
    build_tar, chain_ids, digest, read_docker_archive, read_docker_archive_bytes, ArchiveImage,
    DockerArchive, Entry, Kind,
};
pub use cli::{Cli, Out};
pub use daemon::Daemon;
pub use fixtures::{fixtures, rootfs_tar, Fixtures};
pub use http::HttpResponse;

use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// mtime of every entry in the make-images fixtures (2024-01-01T00:00:00Z).
pub const FIXTURE_EPOCH: i64 = 1_704_067_200;

/// A random number from std's per-process random hasher keys (no extra crate).
pub fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_secs()
}

/// Sorted, non-empty lines of a command's output.
pub fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// Non-empty lines of a command's output, in order.
pub fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// True if `s` is `n` lowercase hex digits.
pub fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True if `s` is `sha256:` followed by 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| is_hex(h, 64))
}

/// Percent-encode a query parameter value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Polls `f` until it holds, failing the test after ten seconds.
pub fn wait_for(what: &str, f: impl FnMut() -> bool) {
    wait_for_within(what, std::time::Duration::from_secs(10), f)
}

/// Polls `f` until it holds, failing the test after `timeout`.
pub fn wait_for_within(what: &str, timeout: std::time::Duration, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
