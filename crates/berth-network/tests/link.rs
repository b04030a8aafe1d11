//! Bridges and veth pairs against the real kernel, each test in a fresh network
//! namespace standing in for the host: a bridge with its gateway, containers attached
//! through veths whose peers are created inside their namespaces, and real TCP traffic
//! between host and containers and between containers.

mod common;

use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream, UdpSocket};

use berth_network::ipam::{choose_default_subnet, default_address_pools, host_reserved_networks};
use berth_network::link::{
    attach_veth, delete_bridge, detach_veth, docker_mac, ensure_bridge, host_ifname, link_details,
    link_details_in, BridgeConfig, VethConfig,
};
use berth_network::netns::in_netns;
use berth_network::NetError;
use common::*;

fn bridge(name: &str, v4: &str) -> BridgeConfig {
    BridgeConfig {
        name: name.into(),
        mtu: Some(1400),
        ipv4: Some(v4.parse().unwrap()),
        ipv6: None,
    }
}

#[test]
fn bridge_and_veths_carry_traffic() {
    if !root_or_skip("creating bridges and veths") {
        return;
    }
    in_fresh_netns(|| {
        let dir = tempfile::tempdir().unwrap();
        let br = bridge("brt0", "10.88.0.1/24");
        let index = ensure_bridge(&br).unwrap();
        assert_eq!(ensure_bridge(&br).unwrap(), index, "idempotent");
        let b = link_details("brt0").unwrap().expect("bridge");
        assert_eq!(b.kind.as_deref(), Some("bridge"));
        assert!(b.up);
        assert_eq!(b.mtu, Some(1400));
        assert_eq!(b.addresses, vec!["10.88.0.1/24".parse().unwrap()]);

        let c1 = Netns::create(dir.path(), "c1");
        let h1 = host_ifname("container1", "network1");
        let mut cfg = VethConfig::new("brt0", &h1, &c1.path);
        cfg.mtu = Some(1400);
        cfg.ipv4 = Some("10.88.0.2/24".parse().unwrap());
        cfg.gateway4 = Some(Ipv4Addr::new(10, 88, 0, 1));
        cfg.ipv6 = Some("fd00:88::2/64".parse().unwrap());
        attach_veth(&cfg).unwrap();

        let eth0 = link_details_in(&c1.path, "eth0")
            .unwrap()
            .expect("eth0 inside");
        assert!(eth0.up);
        assert_eq!(eth0.mtu, Some(1400));
        assert_eq!(eth0.kind.as_deref(), Some("veth"));
        assert_eq!(
            eth0.mac.as_deref(),
            Some(&docker_mac(Ipv4Addr::new(10, 88, 0, 2))[..])
        );
        assert!(eth0.addresses.contains(&"10.88.0.2/24".parse().unwrap()));
        assert!(eth0.addresses.contains(&"fd00:88::2/64".parse().unwrap()));
        let host_end = link_details(&h1).unwrap().expect("host end");
        assert!(host_end.up);
        assert_eq!(host_end.controller, Some(index));
        assert!(
            link_details("eth0").unwrap().is_none(),
            "the peer never lives on the host"
        );

        // The same pair again is a conflict, and leaves the first one alone.
        assert!(matches!(attach_veth(&cfg), Err(NetError::Conflict(_))));
        assert!(link_details(&h1).unwrap().is_some());

        // Host -> container.
        let l = in_netns(&c1.path, || TcpListener::bind("10.88.0.2:0").unwrap()).unwrap();
        let port = l.local_addr().unwrap().port();
        serve_peer_addresses(l);
        assert_eq!(
            ask(sock(&format!("10.88.0.2:{port}"))).unwrap(),
            "10.88.0.1"
        );

        // Container -> host, and a default route through the gateway.
        let hl = TcpListener::bind("10.88.0.1:0").unwrap();
        let hport = hl.local_addr().unwrap().port();
        serve_peer_addresses(hl);
        let (seen, via_default) = in_netns(&c1.path, move || {
            let seen = ask(sock(&format!("10.88.0.1:{hport}"))).unwrap();
            // A UDP connect only looks the route up; nothing is sent.
            let u = UdpSocket::bind("0.0.0.0:0").unwrap();
            u.connect("203.0.113.7:9").unwrap();
            (seen, u.local_addr().unwrap().ip())
        })
        .unwrap();
        assert_eq!(seen, "10.88.0.2");
        assert_eq!(via_default, IpAddr::V4(Ipv4Addr::new(10, 88, 0, 2)));

        // Container <-> container over the bridge, IPv4 and IPv6.
        let c2 = Netns::create(dir.path(), "c2");
        let h2 = host_ifname("container2", "network1");
        let mut cfg2 = VethConfig::new("brt0", &h2, &c2.path);
        cfg2.ipv4 = Some("10.88.0.3/24".parse().unwrap());
        cfg2.gateway4 = Some(Ipv4Addr::new(10, 88, 0, 1));
        cfg2.ipv6 = Some("fd00:88::3/64".parse().unwrap());
        cfg2.mac = Some([0x02, 0, 0, 0, 0, 0x33]);
        attach_veth(&cfg2).unwrap();
        assert_eq!(
            link_details_in(&c2.path, "eth0")
                .unwrap()
                .unwrap()
                .mac
                .as_deref(),
            Some(&[0x02, 0, 0, 0, 0, 0x33][..])
        );
        let l6 = in_netns(&c1.path, || TcpListener::bind("[fd00:88::2]:0").unwrap()).unwrap();
        let port6 = l6.local_addr().unwrap().port();
        serve_peer_addresses(l6);
        let (from_c2, from_c2_v6) = in_netns(&c2.path, move || {
            (
                ask(sock(&format!("10.88.0.2:{port}"))).unwrap(),
                ask(sock(&format!("[fd00:88::2]:{port6}"))).unwrap(),
            )
        })
        .unwrap();
        assert_eq!(from_c2, "10.88.0.3");
        assert_eq!(from_c2_v6, "fd00:88::3");

        // Detaching deletes both ends; repeating it is fine.
        detach_veth(&h1).unwrap();
        detach_veth(&h1).unwrap();
        assert!(link_details(&h1).unwrap().is_none());
        assert!(link_details_in(&c1.path, "eth0").unwrap().is_none());
        assert!(in_netns(&c2.path, move || {
            TcpStream::connect_timeout(
                &sock(&format!("10.88.0.2:{port}")),
                std::time::Duration::from_millis(300),
            )
            .is_err()
        })
        .unwrap());

        // Only bridges are deleted as bridges, only veths as veths.
        assert!(matches!(delete_bridge(&h2), Err(NetError::Conflict(_))));
        assert!(matches!(detach_veth("brt0"), Err(NetError::Conflict(_))));
        assert!(matches!(detach_veth("lo"), Err(NetError::Conflict(_))));
        delete_bridge("brt0").unwrap();
        delete_bridge("brt0").unwrap();
        assert!(link_details("brt0").unwrap().is_none());
        // The port of a deleted bridge survives, detached.
        assert_eq!(link_details(&h2).unwrap().unwrap().controller, None);
        detach_veth(&h2).unwrap();
    });
}

#[test]
fn existing_bridge_is_kept_and_names_are_checked() {
    if !root_or_skip("creating bridges") {
        return;
    }
    in_fresh_netns(|| {
        let index = ensure_bridge(&bridge("brk0", "10.77.0.1/24")).unwrap();
        // A second call with other settings keeps the bridge and its MTU, adds the address.
        let mut again = bridge("brk0", "10.78.0.1/24");
        again.mtu = Some(1300);
        assert_eq!(ensure_bridge(&again).unwrap(), index);
        let b = link_details("brk0").unwrap().unwrap();
        assert_eq!(b.mtu, Some(1400));
        assert_eq!(b.addresses.len(), 2);
        assert!(matches!(
            ensure_bridge(&bridge("lo", "10.1.0.1/24")),
            Err(NetError::Conflict(_))
        ));
        assert!(matches!(
            ensure_bridge(&bridge("this-name-is-too-long", "10.1.0.1/24")),
            Err(NetError::Invalid(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let c = Netns::create(dir.path(), "c");
        let cfg = VethConfig::new("nobridge", "vethx", &c.path);
        assert!(matches!(attach_veth(&cfg), Err(NetError::NotFound(_))));
        delete_bridge("brk0").unwrap();
    });
}

#[test]
fn default_subnet_avoids_host_routes() {
    if !root_or_skip("creating bridges") {
        return;
    }
    in_fresh_netns(|| {
        let pools = default_address_pools();
        let none = host_reserved_networks("").unwrap();
        assert!(none.is_empty(), "{none:?}");
        ensure_bridge(&bridge("brr0", "172.17.0.1/16")).unwrap();
        let reserved = host_reserved_networks("nameserver 172.18.0.53\n").unwrap();
        assert_eq!(
            reserved,
            vec![
                "172.17.0.0/16".parse().unwrap(),
                "172.18.0.53/32".parse().unwrap()
            ]
        );
        assert_eq!(
            choose_default_subnet(&reserved, &[], &pools).unwrap(),
            "172.19.0.0/16".parse().unwrap()
        );
    });
}
