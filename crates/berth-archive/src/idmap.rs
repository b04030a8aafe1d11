//! The ID maps of a user namespace (`--userns-remap`): files of a remapped container are
//! owned by host IDs on disk, while tar streams carry the container's IDs, as Docker's.

/// `size` IDs from `container` inside are `host` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdRange {
    /// `CONTAINER:HOST:SIZE`.
    pub fn parse(s: &str) -> Option<IdRange> {
        let mut it = s.split(':').map(|p| p.parse::<u32>().ok());
        let r = IdRange {
            container: it.next()??,
            host: it.next()??,
            size: it.next()??,
        };
        it.next().is_none().then_some(r)
    }

    fn to_host(self, id: u32) -> Option<u32> {
        let off = id.checked_sub(self.container)?;
        (off < self.size)
            .then(|| self.host.checked_add(off))
            .flatten()
    }

    fn to_container(self, id: u32) -> Option<u32> {
        let off = id.checked_sub(self.host)?;
        (off < self.size)
            .then(|| self.container.checked_add(off))
            .flatten()
    }
}

/// The uid and gid maps; empty maps are the identity (no user namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

/// What the kernel shows for an ID its namespace does not map.
const OVERFLOW_ID: u32 = 65534;

impl IdMap {
    pub fn is_identity(&self) -> bool {
        self.uids.is_empty() && self.gids.is_empty()
    }

    /// Container IDs to host IDs, with Docker's error for an ID outside the maps.
    pub fn to_host(&self, uid: u32, gid: u32) -> Result<(u32, u32), String> {
        if self.is_identity() {
            return Ok((uid, gid));
        }
        let map = |ranges: &[IdRange], id: u32| {
            ranges
                .iter()
                .find_map(|r| r.to_host(id))
                .ok_or_else(|| format!("Container ID {id} cannot be mapped to a host ID"))
        };
        Ok((map(&self.uids, uid)?, map(&self.gids, gid)?))
    }

    /// Host IDs to container IDs. An ID outside the maps becomes the overflow ID 65534,
    /// which is what the container itself sees for such a file.
    pub fn to_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        if self.is_identity() {
            return (uid, gid);
        }
        let map = |ranges: &[IdRange], id: u32| {
            ranges
                .iter()
                .find_map(|r| r.to_container(id))
                .unwrap_or(OVERFLOW_ID)
        };
        (map(&self.uids, uid), map(&self.gids, gid))
    }

    /// The host IDs of the container's root (what new implied directories belong to).
    pub fn root_pair(&self) -> (u32, u32) {
        self.to_host(0, 0).unwrap_or((0, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways() {
        let m = IdMap {
            uids: vec![IdRange::parse("0:100000:65536").unwrap()],
            gids: vec![IdRange::parse("0:200000:1000").unwrap()],
        };
        assert_eq!(m.to_host(0, 0), Ok((100000, 200000)));
        assert_eq!(m.to_host(65535, 999), Ok((165535, 200999)));
        assert_eq!(
            m.to_host(1, 1000),
            Err("Container ID 1000 cannot be mapped to a host ID".into())
        );
        assert_eq!(m.to_container(100001, 200002), (1, 2));
        assert_eq!(m.to_container(0, 5), (OVERFLOW_ID, OVERFLOW_ID));
        assert_eq!(m.root_pair(), (100000, 200000));
        assert!(IdMap::default().is_identity());
        assert_eq!(IdMap::default().to_host(7, 8), Ok((7, 8)));
        assert!(IdRange::parse("1:2").is_none());
        assert!(IdRange::parse("1:2:3:4").is_none());
    }
}
