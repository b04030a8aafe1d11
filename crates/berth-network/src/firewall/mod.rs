//! Packet filtering and NAT for bridge networks, as one desired state.
//!
//! The caller always passes the complete set of networks and published ports; a driver
//! makes the kernel match it in one atomic step, in a table of its own. Applying the same
//! state twice changes nothing, and healing after another tool flushed the rules (a
//! firewall reload, `nft flush ruleset`) is applying it again.

mod iptables;
mod nftables;

use std::net::IpAddr;

use ipnet::IpNet;

pub use iptables::Iptables;
pub use nftables::Nftables;

use crate::Result;

/// A bridge network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallNetwork {
    pub bridge: String,
    /// The network's subnets (IPv4 and/or IPv6).
    pub subnets: Vec<IpNet>,
    /// `--internal`: no traffic between the bridge and any other interface.
    pub internal: bool,
    /// Masquerade traffic from the subnets leaving through another interface
    /// (`com.docker.network.bridge.enable_ip_masquerade`, on by default).
    pub masquerade: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// One published port (`-p [host_ip:]host_port:container_port[/proto]`), resolved:
/// one host port, one container address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub protocol: Protocol,
    /// `None` publishes on every host address (Docker's `0.0.0.0`), loopback included.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
    /// The bridge the container is reached through.
    pub bridge: String,
}

/// Everything the firewall should do, complete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallState {
    pub networks: Vec<FirewallNetwork>,
    pub ports: Vec<PortMapping>,
}

/// A firewall backend. Implementations own their rules entirely (their own table or
/// chains) and never change anyone else's.
pub trait FirewallDriver: Send + Sync {
    fn name(&self) -> &'static str;

    /// Replaces all of our rules with `state`, atomically.
    fn apply(&self, state: &FirewallState) -> Result<()>;

    /// Whether our rules are (still) installed: false after another tool removed them,
    /// which calls for applying the state again.
    fn is_present(&self) -> Result<bool>;

    /// Removes all of our rules; nothing installed is not an error.
    fn remove_all(&self) -> Result<()>;
}

/// The `none` driver: for hosts where something else manages the firewall.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFirewall;

impl FirewallDriver for NoFirewall {
    fn name(&self) -> &'static str {
        "none"
    }

    fn apply(&self, _state: &FirewallState) -> Result<()> {
        Ok(())
    }

    fn is_present(&self) -> Result<bool> {
        Ok(true)
    }

    fn remove_all(&self) -> Result<()> {
        Ok(())
    }
}
