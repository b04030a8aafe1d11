//! Test sandboxes: every test runs on a thread of its own that first moves into a fresh,
//! empty network namespace (`unshare(CLONE_NEWNET)` affects that thread only), so
//! bridges, veths, routes and nftables tables never touch the host or another test, and
//! the namespace disappears with the thread. Threads the test starts, and programs it
//! runs (`nft`), inherit that namespace.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sched::CloneFlags;

/// Root is needed for namespaces, netlink changes and nftables; otherwise the test
/// reports itself skipped (never passes silently).
pub fn root_or_skip(what: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        true
    } else {
        eprintln!("skipped: {what} needs root");
        false
    }
}

/// Runs `f` in a new, empty network namespace with `lo` up.
pub fn in_fresh_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            berth_network::link::set_link_up("lo").expect("lo up");
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A container namespace made by `create_netns`, removed on drop (also after a failed
/// assertion).
pub struct Netns {
    pub path: PathBuf,
}

impl Netns {
    pub fn create(dir: &Path, name: &str) -> Netns {
        let path = dir.join(name);
        berth_network::netns::create_netns(&path).expect("create_netns");
        Netns { path }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = berth_network::netns::remove_netns(&self.path);
    }
}

/// The inode of the calling thread's network namespace.
pub fn current_netns_id() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .expect("readlink ns/net")
        .to_string_lossy()
        .into_owned()
}

/// A TCP server that answers every connection with the peer address it saw, then
/// closes. The listener may come from another namespace.
pub fn serve_peer_addresses(listener: TcpListener) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let peer = conn
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let _ = conn.write_all(peer.as_bytes());
        }
    });
}

/// Connects and returns what the server said (its view of our address), or the error.
pub fn ask(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Whether a connection attempt fails within `timeout` (refused or dropped).
pub fn unreachable(addr: SocketAddr, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&addr, timeout).is_err()
}

pub fn sock(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}
