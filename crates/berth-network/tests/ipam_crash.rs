//! IPAM state survives `kill -9` at any point: a child process (this test binary again)
//! allocates and releases in a loop and reports each address only after `allocate`
//! returned; it is killed at a random moment, and the record must then load and hold
//! every address the child was told it owns. No root needed.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_network::ipam::{Family, NetworkIpam, PoolConfig};

const CHILD_ENV: &str = "BERTH_IPAM_CRASH_CHILD_DIR";

/// The child's side: does nothing unless started by `survives_kill_9`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let mut ipam = NetworkIpam::open(&dir, "net").unwrap();
    let mut held: Vec<IpAddr> = ipam.allocations().map(|(ip, _)| ip).collect();
    for i in 0u64.. {
        if i % 3 == 2 && !held.is_empty() {
            let ip = held.remove(0);
            // Say it before releasing: from now on the parent may not count on it.
            println!("release {ip}");
            ipam.release(ip).unwrap();
        } else {
            let ip = ipam.allocate(Family::V4, &format!("c{i}")).unwrap();
            println!("alloc {ip}");
            held.push(ip);
        }
    }
}

#[test]
fn survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    NetworkIpam::create(
        dir.path(),
        "net",
        "crashnet",
        &[PoolConfig::new("10.200.0.0/16".parse().unwrap())],
        true,
    )
    .unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut owned: std::collections::BTreeSet<IpAddr> = Default::default();
    for round in 0..5u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let deadline = Instant::now() + Duration::from_millis(40 + round * 37);
        for line in out.lines() {
            let line = line.unwrap();
            if let Some(ip) = line.strip_prefix("alloc ") {
                owned.insert(ip.parse().unwrap());
            } else if let Some(ip) = line.strip_prefix("release ") {
                owned.remove(&ip.parse::<IpAddr>().unwrap());
            }
            if Instant::now() > deadline {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let ipam = NetworkIpam::open(dir.path(), "net").expect("the record loads after kill -9");
        let recorded: std::collections::BTreeSet<IpAddr> =
            ipam.allocations().map(|(ip, _)| ip).collect();
        // Everything reported as allocated is on disk; at most the one address being
        // allocated or released at the kill is on disk without having been reported.
        assert!(
            owned.is_subset(&recorded),
            "lost: {:?}",
            owned.difference(&recorded)
        );
        assert!(
            recorded.len() <= owned.len() + 1,
            "{} vs {}",
            recorded.len(),
            owned.len()
        );
        assert!(
            !recorded.contains(&"10.200.0.1".parse().unwrap()),
            "gateway handed out"
        );
        owned = recorded;
    }
    assert!(!owned.is_empty());
}
