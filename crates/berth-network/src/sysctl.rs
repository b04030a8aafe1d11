//! The kernel switches bridge networking depends on. `/proc/sys/net` shows the network
//! namespace of the thread that opens a file, so these act on the caller's namespace.

use std::io::Write;
use std::path::PathBuf;

use crate::{NetError, Result};

fn path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key)
}

/// Reads a sysctl by its path under `/proc/sys` (`net/ipv4/ip_forward`), trimmed.
pub fn read(key: &str) -> Result<String> {
    let p = path(key);
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| NetError::io("read", p, e))
}

/// Writes a sysctl unless it already has the value (a write needs privileges a read
/// does not, and some are read-only in containers even when already right).
pub fn write(key: &str, value: &str) -> Result<()> {
    if read(key).is_ok_and(|v| v == value) {
        return Ok(());
    }
    let p = path(key);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .map_err(|e| NetError::io("open", &p, e))?;
    f.write_all(value.as_bytes())
        .map_err(|e| NetError::io("write", &p, e))
}

/// Routing between the bridges and the outside (and port forwarding) needs it.
pub fn enable_ip_forward() -> Result<()> {
    write("net/ipv4/ip_forward", "1")
}

/// The IPv6 counterpart of [`enable_ip_forward`].
pub fn enable_ipv6_forward() -> Result<()> {
    write("net/ipv6/conf/all/forwarding", "1")
}

/// Lets the kernel route packets with a 127.0.0.0/8 source out of `bridge`: what ports
/// published on 127.0.0.1 need, since the DNATed connection keeps its loopback source
/// until it is masqueraded on the way out. The firewall rules drop loopback-addressed
/// packets arriving from outside, which this would otherwise let in.
pub fn set_route_localnet(bridge: &str) -> Result<()> {
    write(&format!("net/ipv4/conf/{bridge}/route_localnet"), "1")
}
