//! The nftables driver against the real kernel, in a fresh network namespace standing in
//! for the host: a published port is reached through a host address, through 127.0.0.1
//! and from the container itself (hairpin); the table heals after `nft flush ruleset`;
//! bridges are isolated from each other; `remove_all` leaves no table of ours.

mod common;

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use berth_network::firewall::{
    FirewallDriver, FirewallNetwork, FirewallState, Nftables, PortMapping, Protocol,
};
use berth_network::link::{attach_veth, ensure_bridge, host_ifname, BridgeConfig, VethConfig};
use berth_network::netns::in_netns;
use berth_network::sysctl;
use common::*;

fn nft_available() -> bool {
    let ok = Nftables::new().available();
    if !ok {
        eprintln!("skipped: nft is not installed");
    }
    ok
}

fn nft(args: &[&str]) -> String {
    let out = Command::new("nft").args(args).output().expect("run nft");
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bridge with a container attached at `ip`, and the bridge's network description.
fn network(
    dir: &std::path::Path,
    bridge: &str,
    octet: u8,
    internal: bool,
) -> (Netns, FirewallNetwork) {
    ensure_bridge(&BridgeConfig {
        name: bridge.into(),
        mtu: None,
        ipv4: Some(format!("10.{octet}.0.1/24").parse().unwrap()),
        ipv6: None,
    })
    .unwrap();
    let ns = Netns::create(dir, &format!("c-{bridge}"));
    let host = host_ifname(bridge, "c");
    let mut cfg = VethConfig::new(bridge, &host, &ns.path);
    cfg.ipv4 = Some(format!("10.{octet}.0.2/24").parse().unwrap());
    cfg.gateway4 = Some(Ipv4Addr::new(10, octet, 0, 1));
    attach_veth(&cfg).unwrap();
    let net = FirewallNetwork {
        bridge: bridge.into(),
        subnets: vec![format!("10.{octet}.0.0/24").parse().unwrap()],
        internal,
        masquerade: true,
    };
    (ns, net)
}

fn port(host_ip: Option<&str>, host_port: u16, container_ip: &str, bridge: &str) -> PortMapping {
    PortMapping {
        protocol: Protocol::Tcp,
        host_ip: host_ip.map(|h| h.parse().unwrap()),
        host_port,
        container_ip: container_ip.parse().unwrap(),
        container_port: 80,
        bridge: bridge.into(),
    }
}

#[test]
fn published_ports_hairpin_loopback_and_healing() {
    if !root_or_skip("nftables and bridges") || !nft_available() {
        return;
    }
    in_fresh_netns(|| {
        let dir = tempfile::tempdir().unwrap();
        // The "host" has an outside address on an interface of its own.
        ensure_bridge(&BridgeConfig {
            name: "uplink".into(),
            mtu: None,
            ipv4: Some("198.51.100.1/24".parse().unwrap()),
            ipv6: None,
        })
        .unwrap();
        let (c1, net) = network(dir.path(), "brf0", 89, false);
        let l = in_netns(&c1.path, || {
            std::net::TcpListener::bind("0.0.0.0:80").unwrap()
        })
        .unwrap();
        serve_peer_addresses(l);

        sysctl::enable_ip_forward().unwrap();
        sysctl::set_route_localnet("brf0").unwrap();
        assert_eq!(sysctl::read("net/ipv4/ip_forward").unwrap(), "1");
        assert_eq!(
            sysctl::read("net/ipv4/conf/brf0/route_localnet").unwrap(),
            "1"
        );

        let fw = Nftables::new();
        assert!(!fw.is_present().unwrap());
        let state = FirewallState {
            networks: vec![net],
            ports: vec![
                port(None, 8080, "10.89.0.2", "brf0"),
                port(Some("127.0.0.1"), 8081, "10.89.0.2", "brf0"),
                port(Some("198.51.100.1"), 8082, "10.89.0.2", "brf0"),
            ],
        };
        fw.apply(&state).unwrap();
        assert!(fw.is_present().unwrap());
        let listed = nft(&["list", "table", "ip", "berth"]);
        fw.apply(&state).unwrap();
        assert_eq!(
            nft(&["list", "table", "ip", "berth"]),
            listed,
            "re-applying changes nothing"
        );

        let check_published = || {
            // From the host through its own address: the source stays the host's.
            assert_eq!(ask(sock("198.51.100.1:8080")).unwrap(), "198.51.100.1");
            assert_eq!(ask(sock("198.51.100.1:8082")).unwrap(), "198.51.100.1");
            // Through loopback: masqueraded to the bridge's address.
            assert_eq!(ask(sock("127.0.0.1:8080")).unwrap(), "10.89.0.1");
            assert_eq!(ask(sock("127.0.0.1:8081")).unwrap(), "10.89.0.1");
            // Bound addresses are respected.
            assert!(ask(sock("198.51.100.1:8081")).is_err());
            assert!(ask(sock("127.0.0.1:8082")).is_err());
            // Hairpin: the container reaches its own published port via the host.
            let seen = in_netns(&c1.path, || ask(sock("198.51.100.1:8080")).unwrap()).unwrap();
            assert_eq!(seen, "10.89.0.1");
        };
        check_published();

        // Another tool wipes everything: we notice, and re-applying heals.
        nft(&["flush", "ruleset"]);
        assert!(!fw.is_present().unwrap());
        assert!(ask(sock("198.51.100.1:8080")).is_err());
        fw.apply(&state).unwrap();
        assert!(fw.is_present().unwrap());
        check_published();

        // Emptying our chains reads as absent too.
        nft(&["flush", "table", "ip", "berth"]);
        assert!(!fw.is_present().unwrap());
        fw.apply(&state).unwrap();

        // Other tables are left alone.
        nft(&["add", "table", "inet", "someone-else"]);
        fw.apply(&FirewallState::default()).unwrap();
        assert!(ask(sock("198.51.100.1:8080")).is_err(), "mapping withdrawn");
        fw.remove_all().unwrap();
        fw.remove_all().unwrap();
        let tables = nft(&["list", "tables"]);
        assert!(!tables.contains("berth"), "{tables}");
        assert!(tables.contains("someone-else"), "{tables}");
        assert!(!fw.is_present().unwrap());
    });
}

#[test]
fn bridges_are_isolated_and_internal_networks_closed() {
    if !root_or_skip("nftables and bridges") || !nft_available() {
        return;
    }
    in_fresh_netns(|| {
        let dir = tempfile::tempdir().unwrap();
        let (a, net_a) = network(dir.path(), "bra", 91, false);
        let (b, net_b) = network(dir.path(), "brb", 92, false);
        let (i, net_i) = network(dir.path(), "bri", 93, true);
        for ns in [&a, &b, &i] {
            let l = in_netns(&ns.path, || {
                std::net::TcpListener::bind("0.0.0.0:80").unwrap()
            })
            .unwrap();
            serve_peer_addresses(l);
        }
        sysctl::enable_ip_forward().unwrap();
        let from = |ns: &Netns, to: &'static str| {
            in_netns(&ns.path, move || ask(sock(to)).map_err(|e| e.kind())).unwrap()
        };
        // Plain routing: everyone reaches everyone.
        assert_eq!(from(&a, "10.92.0.2:80").unwrap(), "10.91.0.2");
        assert_eq!(from(&i, "10.91.0.2:80").unwrap(), "10.93.0.2");

        let fw = Nftables::new();
        let state = FirewallState {
            networks: vec![net_a, net_b, net_i],
            ports: vec![port(None, 8080, "10.92.0.2", "brb")],
        };
        fw.apply(&state).unwrap();
        let quick = |ns: &Netns, to: &'static str| {
            in_netns(&ns.path, move || {
                unreachable(sock(to), Duration::from_millis(400))
            })
            .unwrap()
        };
        assert!(quick(&a, "10.92.0.2:80"), "bridge to bridge is dropped");
        assert!(quick(&b, "10.91.0.2:80"));
        assert!(quick(&i, "10.91.0.2:80"), "internal cannot leave");
        assert!(quick(&a, "10.93.0.2:80"), "nobody gets into internal");
        // A published port is reachable from another bridge, through the host.
        assert_eq!(from(&a, "10.91.0.1:8080").unwrap(), "10.92.0.1");
        // The host itself still talks to every container.
        assert_eq!(ask(sock("10.93.0.2:80")).unwrap(), "10.93.0.1");
        fw.remove_all().unwrap();
    });
}

#[test]
fn ipv6_rules_are_accepted_by_the_kernel() {
    if !root_or_skip("nftables") || !nft_available() {
        return;
    }
    in_fresh_netns(|| {
        let fw = Nftables::new().with_table("berth_v6").unwrap();
        let state = FirewallState {
            networks: vec![FirewallNetwork {
                bridge: "br6".into(),
                subnets: vec![
                    "10.60.0.0/24".parse().unwrap(),
                    "fd00:60::/64".parse().unwrap(),
                ],
                internal: false,
                masquerade: true,
            }],
            ports: vec![
                port(None, 8080, "10.60.0.2", "br6"),
                port(None, 8080, "fd00:60::2", "br6"),
                port(Some("fd00:99::1"), 8081, "fd00:60::2", "br6"),
            ],
        };
        fw.apply(&state).unwrap();
        let v6 = nft(&["list", "table", "ip6", "berth_v6"]);
        assert!(v6.contains("dnat to [fd00:60::2]:80"), "{v6}");
        assert!(v6.contains("ip6 saddr fd00:60::/64 masquerade"), "{v6}");
        assert!(v6.contains("ip6 daddr fd00:99::1 tcp dport 8081"), "{v6}");
        // Dropping IPv6 from the state drops the ip6 table.
        fw.apply(&FirewallState {
            networks: vec![FirewallNetwork {
                subnets: vec!["10.60.0.0/24".parse().unwrap()],
                ..state.networks[0].clone()
            }],
            ports: vec![],
        })
        .unwrap();
        assert!(!nft(&["list", "tables"]).contains("ip6 berth_v6"));
        fw.remove_all().unwrap();
        assert!(nft(&["list", "tables"]).trim().is_empty());
    });
}
