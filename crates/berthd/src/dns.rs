//! The embedded DNS resolver of user-defined networks, where Docker has it: 127.0.0.11
//! inside each container. A UDP socket is opened in the container's network namespace and
//! served from the daemon. Names of containers (name, network aliases, short ID) resolve
//! to their addresses only for containers that share a user-defined network with the
//! asker; everything else is forwarded to the daemon's own resolvers.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::daemon::Daemon;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
#[cfg(test)]
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_SERVFAIL: u8 = 2;
/// Docker answers with a short TTL: containers come and go.
const TTL: u32 = 600;

/// A query's question, as far as the resolver needs it.
struct Question {
    /// Lower-case, without the trailing dot.
    name: String,
    qtype: u16,
    qclass: u16,
    /// Where the question section ends in the packet.
    end: usize,
}

/// Reads the first question of a query; `None` for anything malformed or not a query.
fn parse_question(pkt: &[u8]) -> Option<Question> {
    if pkt.len() < 12 || pkt[2] & 0x80 != 0 || u16::from_be_bytes([pkt[4], pkt[5]]) == 0 {
        return None;
    }
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = *pkt.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        // Compression pointers do not appear in a query's first name.
        if len > 63 {
            return None;
        }
        let label = pkt.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*pkt.get(i)?, *pkt.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*pkt.get(i + 2)?, *pkt.get(i + 3)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        qclass,
        end: i + 4,
    })
}

/// An authoritative answer to `query` with `addrs` as A or AAAA records (none: an empty
/// answer, or NXDOMAIN when `rcode` says so).
fn answer(query: &[u8], q: &Question, addrs: &[IpAddr], rcode: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.end + addrs.len() * 16);
    out.extend_from_slice(&query[..2]); // id
                                        // QR, the query's opcode and RD, AA; RA; rcode.
    out.push(0x80 | (query[2] & 0x79) | 0x04);
    out.push(0x80 | rcode);
    out.extend_from_slice(&1u16.to_be_bytes()); // one question
    out.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional
    out.extend_from_slice(&query[12..q.end]);
    for a in addrs {
        let (rtype, data) = match a {
            IpAddr::V4(v4) => (TYPE_A, v4.octets().to_vec()),
            IpAddr::V6(v6) => (TYPE_AAAA, v6.octets().to_vec()),
        };
        out.extend_from_slice(&[0xc0, 12]); // the question's name
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// The daemon's upstream resolvers (loopback ones too: the daemon can reach those).
fn upstreams() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Forwards a query to the first upstream that answers within two seconds.
async fn forward(query: &[u8]) -> Option<Vec<u8>> {
    for up in upstreams() {
        let bind: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(sock) = tokio::net::UdpSocket::bind(bind).await else {
            continue;
        };
        if sock.send_to(query, up).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await
        {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

impl Daemon {
    /// The addresses `name` has for `asker`: containers on a user-defined network the
    /// asker is on, by name, alias or short ID.
    pub fn resolve_for(&self, asker_id: &str, name: &str) -> Vec<IpAddr> {
        let Ok(asker) = self.containers.get(asker_id) else {
            return Vec::new();
        };
        let asker = asker.record();
        let mut out = Vec::new();
        for c in self.containers.all() {
            let rec = c.record();
            for (net, ep) in &rec.endpoints {
                if net == "bridge" || !asker.endpoints.contains_key(net) {
                    continue;
                }
                let matches = rec.name.eq_ignore_ascii_case(name)
                    || rec.id.get(..12).is_some_and(|s| s == name)
                    || ep.aliases.iter().any(|a| a.eq_ignore_ascii_case(name));
                if matches {
                    for ip in std::iter::once(IpAddr::V4(ep.ip))
                        .chain(ep.ip6.map(|(a, _, _)| IpAddr::V6(a)))
                    {
                        if !out.contains(&ip) {
                            out.push(ip);
                        }
                    }
                }
            }
        }
        out
    }

    /// Serves 127.0.0.11:53 inside the namespace at `netns` for container `id`, until the
    /// daemon drops the returned task (at the container's exit).
    pub fn start_dns(
        self: &Arc<Self>,
        id: &str,
        netns: &Path,
    ) -> Result<tokio::task::JoinHandle<()>, String> {
        let sock =
            berth_network::netns::in_netns(netns, || std::net::UdpSocket::bind("127.0.0.11:53"))
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("binding 127.0.0.11:53 in the container: {e}"))?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        let sock = Arc::new(tokio::net::UdpSocket::from_std(sock).map_err(|e| e.to_string())?);
        let d: Weak<Daemon> = Arc::downgrade(self);
        let id = id.to_string();
        Ok(tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let query = buf[..n].to_vec();
                let Some(d) = d.upgrade() else { return };
                let sock = sock.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    let Some(q) = parse_question(&query) else {
                        return;
                    };
                    let ours = if q.qclass == CLASS_IN {
                        d.resolve_for(&id, &q.name)
                    } else {
                        Vec::new()
                    };
                    let reply = if !ours.is_empty() {
                        // A name of ours: the addresses of the family asked for, and an
                        // empty answer otherwise, so clients do not go on to ask elsewhere.
                        let addrs: Vec<IpAddr> = ours
                            .into_iter()
                            .filter(|a| match q.qtype {
                                TYPE_A => a.is_ipv4(),
                                TYPE_AAAA => a.is_ipv6(),
                                _ => false,
                            })
                            .collect();
                        answer(&query, &q, &addrs, 0)
                    } else {
                        match forward(&query).await {
                            Some(r) => r,
                            None => answer(&query, &q, &[], RCODE_SERVFAIL),
                        }
                    };
                    let _ = sock.send_to(&reply, peer).await;
                });
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A query for `name` of type A, as resolvers send it.
    fn query(name: &str) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q
    }

    #[test]
    fn answers_carry_the_question_and_a_records() {
        let q = query("Web.example");
        let parsed = parse_question(&q).unwrap();
        assert_eq!(parsed.name, "web.example");
        assert_eq!((parsed.qtype, parsed.qclass), (TYPE_A, CLASS_IN));
        let a = answer(&q, &parsed, &[Ipv4Addr::new(10, 0, 0, 7).into()], 0);
        assert_eq!(&a[..2], &[0x12, 0x34], "same id");
        assert_eq!(a[2] & 0x80, 0x80, "a response");
        assert_eq!(a[2] & 0x01, 0x01, "recursion desired copied");
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1, "one answer");
        assert_eq!(&a[a.len() - 4..], &[10, 0, 0, 7]);
        let nx = answer(&q, &parsed, &[], RCODE_NXDOMAIN);
        assert_eq!(nx[3] & 0x0f, RCODE_NXDOMAIN);
        // Garbage and responses are not questions.
        assert!(parse_question(&[0u8; 5]).is_none());
        let mut resp = q.clone();
        resp[2] |= 0x80;
        assert!(parse_question(&resp).is_none());
        let mut bad = q.clone();
        bad[12] = 200;
        assert!(parse_question(&bad).is_none());
    }
}
