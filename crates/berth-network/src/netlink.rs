//! A small blocking rtnetlink client.
//!
//! Built on `netlink-packet-route` + `netlink-sys` directly rather than the tokio-based
//! `rtnetlink` crate: a netlink socket belongs to the namespace of the thread that opened
//! it, and namespace work happens on plain threads (see `netns`), where a blocking
//! request/acknowledge exchange is the natural shape and no runtime has to be carried
//! along. Every request here is one message and one answer, so nothing is lost by not
//! being asynchronous. netavark talks to the kernel the same way.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};

use ipnet::IpNet;
use netlink_packet_core::{
    DefaultNla, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
    LinkProtoInfoBridge,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::{NetError, Result};

pub(crate) struct Netlink {
    socket: Socket,
    seq: u32,
}

/// What a link looks like, as far as berth cares.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub index: u32,
    pub name: String,
    pub kind: Option<InfoKind>,
    pub mtu: Option<u32>,
    pub mac: Option<Vec<u8>>,
    pub up: bool,
    pub controller: Option<u32>,
}

impl Link {
    fn from_message(msg: LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            kind: None,
            mtu: None,
            mac: None,
            up: msg.header.flags.contains(LinkFlags::Up),
            controller: None,
        };
        for attr in msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n,
                LinkAttribute::Mtu(m) => link.mtu = Some(m),
                LinkAttribute::Address(a) => link.mac = Some(a),
                LinkAttribute::Controller(c) => link.controller = Some(c),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(k) = info {
                            link.kind = Some(k);
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// The peer end of a veth pair to create, placed in another namespace.
pub(crate) struct VethPeer<'a, Fd: AsFd> {
    pub name: &'a str,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    pub netns: Fd,
}

fn is_errno(e: &NetError, errno: i32) -> bool {
    matches!(e, NetError::Netlink { source, .. } if source.raw_os_error() == Some(errno))
}

/// The interface does not exist (the kernel says ENODEV for links, and some paths ENOENT).
pub(crate) fn is_no_such_link(e: &NetError) -> bool {
    is_errno(e, nix::libc::ENODEV) || is_errno(e, nix::libc::ENOENT)
}

pub(crate) fn is_exists(e: &NetError) -> bool {
    is_errno(e, nix::libc::EEXIST)
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let op = |e| NetError::netlink("open socket", e);
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(op)?;
        // Dumps honour the filters in the request (a link index, a table) only with this.
        socket.set_netlink_get_strict_chk(true).map_err(op)?;
        socket.bind(&SocketAddr::new(0, 0)).map_err(op)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(op)?;
        Ok(Netlink { socket, seq: 0 })
    }

    fn request(
        &mut self,
        op: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        tracing::debug!(op, "netlink request");
        let err = |e| NetError::netlink(op, e);
        self.seq = self.seq.wrapping_add(1);
        let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
        packet.header.flags = NLM_F_REQUEST | flags;
        packet.header.sequence_number = self.seq;
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(err)?;

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full().map_err(err)?;
            let mut rest = &data[..];
            while !rest.is_empty() {
                let msg: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(rest)
                    .map_err(|e| err(io::Error::new(io::ErrorKind::InvalidData, e)))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number != self.seq {
                    // An answer to an earlier request that was abandoned; skip it.
                } else {
                    match msg.payload {
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::Error(e) => {
                            if e.code.is_some() {
                                return Err(err(e.to_io()));
                            }
                            return Ok(out);
                        }
                        NetlinkPayload::InnerMessage(m) => {
                            out.push(m);
                            if !dump {
                                // A single answer (a GET without DUMP) has no ACK after it.
                                if flags & NLM_F_ACK == 0 {
                                    return Ok(out);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if len == 0 || len > rest.len() {
                    break;
                }
                rest = &rest[nlmsg_align(len).min(rest.len())..];
            }
        }
    }

    fn ack(&mut self, op: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<()> {
        self.request(op, msg, NLM_F_ACK | flags).map(drop)
    }

    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(
            &format!("get link {name}"),
            RouteNetlinkMessage::GetLink(msg),
            0,
        ) {
            Ok(mut msgs) => match msgs.pop() {
                Some(RouteNetlinkMessage::NewLink(m)) => Ok(Some(Link::from_message(m))),
                _ => Ok(None),
            },
            Err(e) if is_no_such_link(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn links(&mut self) -> Result<Vec<Link>> {
        let msgs = self.request(
            "list links",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(m) => Some(Link::from_message(m)),
                _ => None,
            })
            .collect())
    }

    pub fn create_bridge(&mut self, name: &str, mtu: Option<u32>, mac: [u8; 6]) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.ack(
            &format!("create bridge {name}"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Creates a veth pair whose host end (`name`) is attached to `controller` and whose
    /// peer is created directly in another namespace, so it never appears on the host.
    pub fn create_veth<Fd: AsFd>(
        &mut self,
        name: &str,
        mtu: Option<u32>,
        controller: u32,
        peer: VethPeer<'_, Fd>,
    ) -> Result<()> {
        let mut p = LinkMessage::default();
        p.attributes
            .push(LinkAttribute::IfName(peer.name.to_string()));
        if let Some(mtu) = peer.mtu {
            p.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = peer.mac {
            p.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        // The descriptor is only read by the kernel while the request is handled, and
        // `peer.netns` is borrowed for the whole call.
        p.attributes
            .push(LinkAttribute::NetNsFd(peer.netns.as_fd().as_raw_fd()));

        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::Controller(controller));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.ack(
            &format!("create veth {name}/{}", peer.name),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    pub fn delete_link(&mut self, index: u32, name: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.ack(
            &format!("delete link {name}"),
            RouteNetlinkMessage::DelLink(msg),
            0,
        )
    }

    pub fn set_up(&mut self, index: u32, name: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.ack(
            &format!("set {name} up"),
            RouteNetlinkMessage::SetLink(msg),
            0,
        )
    }

    /// Lets the bridge send a frame back out of the port it came in on. A container
    /// reaching its own published port through a host address needs it wherever
    /// `br_netfilter` is loaded: the DNATed packet is then bridged, not routed, back
    /// towards the port it came from. Docker sets it whenever its userland proxy is off.
    pub fn set_hairpin(&mut self, index: u32, name: &str) -> Result<()> {
        const IFLA_BRPORT_MODE: u16 = 4;
        let mut msg = LinkMessage::default();
        msg.header.interface_family = AddressFamily::Bridge;
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::ProtoInfoBridge(vec![
            LinkProtoInfoBridge::Other(DefaultNla::new(IFLA_BRPORT_MODE, vec![1])),
        ]));
        self.ack(
            &format!("set hairpin mode on {name}"),
            RouteNetlinkMessage::SetLink(msg),
            0,
        )
    }

    pub fn addresses(&mut self, index: u32) -> Result<Vec<IpNet>> {
        let mut req = AddressMessage::default();
        req.header.index = index;
        let msgs = self.request(
            "list addresses",
            RouteNetlinkMessage::GetAddress(req),
            NLM_F_DUMP,
        )?;
        let mut out = Vec::new();
        for m in msgs {
            let RouteNetlinkMessage::NewAddress(m) = m else {
                continue;
            };
            if m.header.index != index {
                continue;
            }
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on
            // point-to-point links and the same as IFA_LOCAL elsewhere (IPv6 has only it).
            let mut local = None;
            let mut address = None;
            for a in &m.attributes {
                match a {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    _ => {}
                }
            }
            if let Some(ip) = local.or(address) {
                if let Ok(net) = IpNet::new(ip, m.header.prefix_len) {
                    out.push(net);
                }
            }
        }
        Ok(out)
    }

    /// Adds an address; one that is already there is not an error.
    pub fn add_address(&mut self, index: u32, addr: IpNet) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.index = index;
        msg.header.prefix_len = addr.prefix_len();
        match addr {
            IpNet::V4(v4) => {
                msg.header.family = AddressFamily::Inet;
                msg.attributes
                    .push(AddressAttribute::Local(IpAddr::V4(v4.addr())));
                msg.attributes
                    .push(AddressAttribute::Address(IpAddr::V4(v4.addr())));
                if v4.prefix_len() < 31 {
                    msg.attributes
                        .push(AddressAttribute::Broadcast(v4.broadcast()));
                }
            }
            IpNet::V6(v6) => {
                msg.header.family = AddressFamily::Inet6;
                msg.attributes
                    .push(AddressAttribute::Address(IpAddr::V6(v6.addr())));
                // Skip duplicate address detection: until it ends the address is
                // "tentative" and a process that binds it right away fails. The address
                // comes from our IPAM, so nobody else on the bridge has it.
                msg.header.flags = AddressHeaderFlags::Nodad;
            }
        }
        match self.ack(
            &format!("add address {addr}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if is_exists(&e) => Ok(()),
            r => r,
        }
    }

    /// Adds a default route through `gateway` on link `index`.
    pub fn add_default_route(&mut self, index: u32, gateway: IpAddr) -> Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = match gateway {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(match gateway {
            IpAddr::V4(a) => RouteAddress::Inet(a),
            IpAddr::V6(a) => RouteAddress::Inet6(a),
        }));
        msg.attributes.push(RouteAttribute::Oif(index));
        match self.ack(
            &format!("add default route via {gateway}"),
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if is_exists(&e) => Ok(()),
            r => r,
        }
    }

    /// The main table's IPv4 routes: (destination, scope is link).
    pub fn ipv4_routes(&mut self) -> Result<Vec<(ipnet::Ipv4Net, bool)>> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        req.header.table = RouteHeader::RT_TABLE_MAIN;
        let msgs = self.request(
            "list routes",
            RouteNetlinkMessage::GetRoute(req),
            NLM_F_DUMP,
        )?;
        let mut out = Vec::new();
        for m in msgs {
            let RouteNetlinkMessage::NewRoute(m) = m else {
                continue;
            };
            let table = m
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                })
                .unwrap_or(u32::from(m.header.table));
            if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
                continue;
            }
            let dst = m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(*a),
                _ => None,
            });
            if let Some(dst) = dst {
                if let Ok(net) = ipnet::Ipv4Net::new(dst, m.header.destination_prefix_length) {
                    out.push((net, m.header.scope == RouteScope::Link));
                }
            }
        }
        Ok(out)
    }
}

fn nlmsg_align(len: usize) -> usize {
    (len + 3) & !3
}
