//! The host side of Docker's bridge networking, without any Docker API knowledge.
//!
//! - [`netns`]: network namespaces bind-mounted on a file, so a container's networking
//!   exists before its process and outlives it.
//! - [`link`]: bridges and veth pairs over rtnetlink, addresses and routes inside a
//!   namespace, Docker's interface names and MAC addresses.
//! - [`ipam`]: per-network address allocation persisted crash-safely, and the choice of
//!   a free subnet from Docker's default pools.
//! - [`firewall`]: the rules (NAT, isolation, published ports) as one desired state that
//!   a [`firewall::FirewallDriver`] renders into a table of its own.
//! - [`sysctl`]: the few kernel switches the rules depend on.
//!
//! Every call is blocking and short. Namespace switches happen only on short-lived
//! threads of our own, so callers on an async runtime can use `spawn_blocking` safely:
//! no worker thread ever changes namespace.

#![forbid(unsafe_code)]

pub mod firewall;
pub mod ipam;
pub mod link;
mod netlink;
pub mod netns;
pub mod sysctl;

use std::path::PathBuf;

use berth_errors::{ErrorKind, HasKind};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A netlink request the kernel refused (or that could not be sent).
    #[error("netlink {op}: {source}")]
    Netlink { op: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    /// Docker's message for an `--ip` (or gateway) that another endpoint holds.
    #[error("Address already in use")]
    AddressInUse,
    /// Docker's message for an `--ip` outside the network's subnet.
    #[error("invalid address {0}: It does not belong to any of this network's subnets")]
    AddressNotInSubnet(std::net::IpAddr),
    /// Docker's message when a network has no free address left.
    #[error("no available IPv{version} addresses on this network's address pools: {name} ({id})")]
    PoolExhausted {
        version: u8,
        name: String,
        id: String,
    },
    /// Docker's message when no default pool has a free subnet left.
    #[error("all predefined address pools have been fully subnetted")]
    NoMoreSubnets,
    #[error("{0}")]
    Invalid(String),
    /// Something else already holds a name we need (an interface that is not ours).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// `nft` (or another firewall tool) failed; `output` is what it printed.
    #[error("{command}: {output}")]
    Firewall { command: String, output: String },
}

impl NetError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NetError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn netlink(op: impl Into<String>, source: std::io::Error) -> Self {
        NetError::Netlink {
            op: op.into(),
            source,
        }
    }
}

impl HasKind for NetError {
    fn kind(&self) -> ErrorKind {
        match self {
            // Docker reports these two as Forbidden and InvalidParameter.
            NetError::AddressInUse => ErrorKind::Forbidden,
            NetError::AddressNotInSubnet(_) | NetError::Invalid(_) | NetError::NoMoreSubnets => {
                ErrorKind::InvalidArgument
            }
            NetError::Conflict(_) => ErrorKind::Conflict,
            NetError::NotFound(_) => ErrorKind::NotFound,
            NetError::PoolExhausted { .. }
            | NetError::Io { .. }
            | NetError::Netlink { .. }
            | NetError::Store(_)
            | NetError::Firewall { .. } => ErrorKind::Internal,
        }
    }
}

pub type Result<T> = std::result::Result<T, NetError>;
