//! Bridges and veth pairs: the bridge driver's plumbing.
//!
//! Host-side calls work in the calling thread's network namespace (the host's, for the
//! daemon); container-side configuration goes through a netlink socket opened inside
//! the container's namespace, so no caller thread ever switches namespace.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netlink_packet_route::link::InfoKind;
use sha2::{Digest, Sha256};

use crate::netlink::{is_exists, Link, Netlink, VethPeer};
use crate::{netns, NetError, Result};

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// A bridge to make sure of.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub name: String,
    /// Used only when the bridge is created; an existing bridge keeps its own.
    pub mtu: Option<u32>,
    /// The gateway address with the subnet's prefix, e.g. `172.17.0.1/16`.
    pub ipv4: Option<Ipv4Net>,
    pub ipv6: Option<Ipv6Net>,
}

/// One end of a container's connection to a bridge.
#[derive(Debug, Clone)]
pub struct VethConfig<'a> {
    pub bridge: &'a str,
    /// The host end's name, from [`host_ifname`].
    pub host_ifname: &'a str,
    /// A namespace made by [`netns::create_netns`].
    pub netns: &'a Path,
    /// The name inside the container (`eth0`, `eth1`, ... in Docker).
    pub container_ifname: &'a str,
    pub mtu: Option<u32>,
    /// The container end's MAC; Docker's default is [`docker_mac`] of the IPv4 address.
    pub mac: Option<[u8; 6]>,
    /// The container's address with the subnet's prefix, e.g. `172.17.0.2/16`.
    pub ipv4: Option<Ipv4Net>,
    /// The default route's next hop (the bridge's address); none for internal networks.
    pub gateway4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Net>,
    pub gateway6: Option<Ipv6Addr>,
}

impl<'a> VethConfig<'a> {
    /// A configuration with Docker's defaults: `eth0`, the kernel's MTU, the MAC derived
    /// from the IPv4 address.
    pub fn new(bridge: &'a str, host_ifname: &'a str, netns: &'a Path) -> Self {
        VethConfig {
            bridge,
            host_ifname,
            netns,
            container_ifname: "eth0",
            mtu: None,
            mac: None,
            ipv4: None,
            gateway4: None,
            ipv6: None,
            gateway6: None,
        }
    }
}

/// What a link looks like from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDetails {
    pub index: u32,
    pub name: String,
    /// The link kind (`bridge`, `veth`, ...), none for plain devices such as `lo`.
    pub kind: Option<String>,
    pub mtu: Option<u32>,
    pub mac: Option<Vec<u8>>,
    pub up: bool,
    /// The index of the bridge the link is attached to.
    pub controller: Option<u32>,
    pub addresses: Vec<IpNet>,
}

fn kind_name(kind: &InfoKind) -> String {
    match kind {
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Veth => "veth".into(),
        InfoKind::Dummy => "dummy".into(),
        InfoKind::Other(s) => s.clone(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn check_ifname(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_IFNAME
        || name.contains(['/', ':'])
        || name.chars().any(char::is_whitespace)
    {
        return Err(NetError::Invalid(format!(
            "invalid interface name {name:?}: 1 to {MAX_IFNAME} characters without '/', ':' or spaces"
        )));
    }
    Ok(())
}

/// Docker's MAC for a container address: `02:42` and the four bytes of the IPv4 address
/// (locally administered, unicast), so the same address always has the same MAC.
pub fn docker_mac(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Formats a MAC the usual way (`02:42:ac:11:00:02`).
pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The host end's name for a container on a network: `veth` and 7 hex digits, like
/// Docker's, but derived from both ids so that after a crash the leftover can be found
/// (and deleted) from the records alone.
pub fn host_ifname(container_id: &str, network_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(container_id.as_bytes());
    h.update([0]);
    h.update(network_id.as_bytes());
    let digest = h.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("veth{}", &hex[..7])
}

fn random_mac() -> [u8; 6] {
    let hex = berth_store::random_hex(6);
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("random_hex gives hex digits");
    }
    // Locally administered, unicast.
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

fn details(nl: &mut Netlink, link: Link) -> Result<LinkDetails> {
    let addresses = nl.addresses(link.index)?;
    Ok(LinkDetails {
        index: link.index,
        name: link.name,
        kind: link.kind.as_ref().map(kind_name),
        mtu: link.mtu,
        mac: link.mac,
        up: link.up,
        controller: link.controller,
        addresses,
    })
}

/// A link of the calling thread's namespace, with its addresses; `None` if there is none.
pub fn link_details(name: &str) -> Result<Option<LinkDetails>> {
    let mut nl = Netlink::open()?;
    match nl.link(name)? {
        Some(link) => Ok(Some(details(&mut nl, link)?)),
        None => Ok(None),
    }
}

/// A link inside the namespace at `netns`.
pub fn link_details_in(netns: &Path, name: &str) -> Result<Option<LinkDetails>> {
    let mut nl = netns::netlink_in(netns)?;
    match nl.link(name)? {
        Some(link) => Ok(Some(details(&mut nl, link)?)),
        None => Ok(None),
    }
}

/// Names of the calling namespace's links, for finding leftovers (`veth*` of ours).
pub fn link_names() -> Result<Vec<String>> {
    Ok(Netlink::open()?
        .links()?
        .into_iter()
        .map(|l| l.name)
        .collect())
}

/// Sets a link of the calling thread's namespace up.
pub fn set_link_up(name: &str) -> Result<()> {
    let mut nl = Netlink::open()?;
    let link = nl
        .link(name)?
        .ok_or_else(|| NetError::NotFound(format!("no interface {name}")))?;
    nl.set_up(link.index, name)
}

/// Makes sure the bridge exists, has its gateway addresses and is up; returns its index.
///
/// Idempotent: an existing bridge is kept as it is (MTU, MAC, other addresses), only
/// missing addresses are added. A non-bridge interface with the name is a conflict.
pub fn ensure_bridge(cfg: &BridgeConfig) -> Result<u32> {
    check_ifname(&cfg.name)?;
    let mut nl = Netlink::open()?;
    let link = match nl.link(&cfg.name)? {
        Some(link) => link,
        None => {
            // A fixed MAC: a bridge without one takes the lowest MAC of its ports, which
            // changes as containers come and go and makes neighbours' ARP caches stale.
            match nl.create_bridge(&cfg.name, cfg.mtu, random_mac()) {
                Ok(()) => {}
                Err(e) if is_exists(&e) => {} // created concurrently
                Err(e) => return Err(e),
            }
            nl.link(&cfg.name)?.ok_or_else(|| {
                NetError::NotFound(format!("bridge {} vanished after creation", cfg.name))
            })?
        }
    };
    if link.kind != Some(InfoKind::Bridge) {
        return Err(NetError::Conflict(format!(
            "interface {} exists and is not a bridge",
            cfg.name
        )));
    }
    if let Some(v6) = cfg.ipv6 {
        // A bridge has IPv6 off until told otherwise on hosts that disable it by default.
        crate::sysctl::write(&format!("net/ipv6/conf/{}/disable_ipv6", cfg.name), "0")?;
        nl.add_address(link.index, IpNet::V6(v6))?;
    }
    if let Some(v4) = cfg.ipv4 {
        nl.add_address(link.index, IpNet::V4(v4))?;
    }
    if !link.up {
        nl.set_up(link.index, &cfg.name)?;
    }
    Ok(link.index)
}

/// Deletes a bridge; a missing one is not an error. Refuses to delete anything that is
/// not a bridge.
pub fn delete_bridge(name: &str) -> Result<()> {
    delete_kind(name, InfoKind::Bridge)
}

/// Deletes the host end of a container's veth pair, which deletes the pair; a missing
/// one is not an error. Refuses to delete anything that is not a veth.
pub fn detach_veth(host_ifname: &str) -> Result<()> {
    delete_kind(host_ifname, InfoKind::Veth)
}

fn delete_kind(name: &str, kind: InfoKind) -> Result<()> {
    let mut nl = Netlink::open()?;
    let Some(link) = nl.link(name)? else {
        return Ok(());
    };
    if link.kind.as_ref() != Some(&kind) {
        return Err(NetError::Conflict(format!(
            "interface {name} is not a {}",
            kind_name(&kind)
        )));
    }
    match nl.delete_link(link.index, name) {
        Err(e) if crate::netlink::is_no_such_link(&e) => Ok(()),
        r => r,
    }
}

/// Connects a container's namespace to a bridge: a veth pair created from the host side
/// with its peer placed directly in the namespace (under its final name, MAC and MTU),
/// the host end attached to the bridge and up; inside, the addresses, `up`, and the
/// default routes through the gateways.
///
/// On failure the pair is deleted again, so a retry starts clean. A leftover host end of
/// the same name (a crash half-way) is a conflict: [`detach_veth`] it first.
pub fn attach_veth(cfg: &VethConfig<'_>) -> Result<()> {
    check_ifname(cfg.host_ifname)?;
    check_ifname(cfg.container_ifname)?;
    let mut host = Netlink::open()?;
    let bridge = host
        .link(cfg.bridge)?
        .ok_or_else(|| NetError::NotFound(format!("no bridge {}", cfg.bridge)))?;
    if bridge.kind != Some(InfoKind::Bridge) {
        return Err(NetError::Conflict(format!(
            "interface {} is not a bridge",
            cfg.bridge
        )));
    }
    let ns = netns::open_netns(cfg.netns)?;
    let mac = cfg.mac.or(cfg.ipv4.map(|a| docker_mac(a.addr())));
    host.create_veth(
        cfg.host_ifname,
        cfg.mtu,
        bridge.index,
        VethPeer {
            name: cfg.container_ifname,
            mtu: cfg.mtu,
            mac,
            netns: &ns,
        },
    )
    .map_err(|e| {
        if is_exists(&e) {
            NetError::Conflict(format!(
                "create veth pair: interface {} already exists in the container's namespace or {} on the host",
                cfg.container_ifname, cfg.host_ifname
            ))
        } else {
            e
        }
    })?;
    let result = configure_pair(&mut host, cfg);
    if result.is_err() {
        let _ = detach_veth(cfg.host_ifname);
    }
    result
}

fn configure_pair(host: &mut Netlink, cfg: &VethConfig<'_>) -> Result<()> {
    let host_end = host.link(cfg.host_ifname)?.ok_or_else(|| {
        NetError::NotFound(format!("veth {} vanished after creation", cfg.host_ifname))
    })?;
    host.set_hairpin(host_end.index, cfg.host_ifname)?;
    host.set_up(host_end.index, cfg.host_ifname)?;

    let mut inside = netns::netlink_in(cfg.netns)?;
    let peer = inside.link(cfg.container_ifname)?.ok_or_else(|| {
        NetError::NotFound(format!(
            "{} not found in the container's namespace",
            cfg.container_ifname
        ))
    })?;
    if let Some(v6) = cfg.ipv6 {
        let key = format!("net/ipv6/conf/{}/disable_ipv6", cfg.container_ifname);
        netns::in_netns(cfg.netns, || crate::sysctl::write(&key, "0"))??;
        inside.add_address(peer.index, IpNet::V6(v6))?;
    }
    if let Some(v4) = cfg.ipv4 {
        inside.add_address(peer.index, IpNet::V4(v4))?;
    }
    // Up before the routes: the kernel refuses a route through a link that is down.
    inside.set_up(peer.index, cfg.container_ifname)?;
    if let Some(gw) = cfg.gateway4 {
        inside.add_default_route(peer.index, IpAddr::V4(gw))?;
    }
    if let Some(gw) = cfg.gateway6 {
        inside.add_default_route(peer.index, IpAddr::V6(gw))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_is_dockers() {
        assert_eq!(
            format_mac(&docker_mac(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
    }

    #[test]
    fn host_names_are_short_stable_and_distinct() {
        let a = host_ifname("c1", "n1");
        assert_eq!(a, host_ifname("c1", "n1"));
        assert_ne!(a, host_ifname("c1", "n2"));
        assert_ne!(host_ifname("c1n", "1"), host_ifname("c1", "n1"));
        assert_eq!(a.len(), 11);
        assert!(a.len() <= MAX_IFNAME && a.starts_with("veth"));
        assert!(check_ifname(&a).is_ok());
    }

    #[test]
    fn random_macs_are_local_unicast() {
        for _ in 0..20 {
            let m = random_mac();
            assert_eq!(m[0] & 0x03, 0x02);
        }
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("a-very-long-name0").is_err());
        assert!(check_ifname("a/b").is_err());
    }
}
