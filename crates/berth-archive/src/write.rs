//! The tar writer: GNU headers (long names and link targets as `././@LongLink` entries,
//! large IDs in base-256), names written byte for byte as the walker made them.

use std::io::{Read, Write};

use crate::idmap::IdMap;
use crate::passwd::Names;
use crate::walk::{Kind, Meta};
use crate::{Error, Result};

const BLOCK: usize = 512;

pub(crate) struct TarWriter<W: Write> {
    out: W,
    idmap: IdMap,
    names: Names,
}

fn werr(e: std::io::Error) -> Error {
    Error::io("writing the archive", e)
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W, idmap: IdMap, names: Names) -> TarWriter<W> {
        TarWriter { out, idmap, names }
    }

    fn pad(&mut self, len: u64) -> Result<()> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.out
                .write_all(&[0u8; BLOCK][..BLOCK - rem])
                .map_err(werr)?;
        }
        Ok(())
    }

    /// A GNU `././@LongLink` entry carrying a name (`L`) or link target (`K`) too long
    /// for the header's 100 bytes.
    fn long_entry(&mut self, kind: tar::EntryType, value: &[u8]) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        set_bytes(&mut h.as_old_mut().name, b"././@LongLink");
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(kind);
        h.set_size(value.len() as u64 + 1);
        h.set_cksum();
        self.out.write_all(h.as_bytes()).map_err(werr)?;
        self.out.write_all(value).map_err(werr)?;
        self.out.write_all(&[0]).map_err(werr)?;
        self.pad(value.len() as u64 + 1)
    }

    pub(crate) fn append(&mut self, m: &Meta, content: Option<&mut dyn Read>) -> Result<()> {
        let mut name = m.name.clone();
        if m.kind == Kind::Dir {
            name.push(b'/');
        }
        let mut h = tar::Header::new_gnu();
        let (uid, gid) = self.idmap.to_container(m.uid, m.gid);
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        h.set_mode(m.mode);
        h.set_mtime(m.mtime.0.max(0) as u64);
        if let Some(u) = self.names.user(uid) {
            let _ = h.set_username(u);
        }
        if let Some(g) = self.names.group(gid) {
            let _ = h.set_groupname(g);
        }
        let (ty, link, size) = match &m.kind {
            Kind::Dir => (tar::EntryType::Directory, None, 0),
            Kind::File => (tar::EntryType::Regular, None, m.size),
            Kind::Symlink(t) => (tar::EntryType::Symlink, Some(t), 0),
            Kind::HardLink(t) => (tar::EntryType::Link, Some(t), 0),
            Kind::Char => (tar::EntryType::Char, None, 0),
            Kind::Block => (tar::EntryType::Block, None, 0),
            Kind::Fifo => (tar::EntryType::Fifo, None, 0),
        };
        h.set_entry_type(ty);
        h.set_size(size);
        if matches!(m.kind, Kind::Char | Kind::Block) {
            h.set_device_major(m.major).map_err(werr)?;
            h.set_device_minor(m.minor).map_err(werr)?;
        }
        if !m.xattrs.is_empty() {
            self.pax_xattrs(&m.xattrs)?;
        }
        if name.len() > 100 {
            self.long_entry(tar::EntryType::GNULongName, &name)?;
        }
        set_bytes(&mut h.as_old_mut().name, &name[..name.len().min(100)]);
        if let Some(t) = link {
            if t.len() > 100 {
                self.long_entry(tar::EntryType::GNULongLink, t)?;
            }
            set_bytes(&mut h.as_old_mut().linkname, &t[..t.len().min(100)]);
        }
        h.set_cksum();
        self.out.write_all(h.as_bytes()).map_err(werr)?;
        if let (Kind::File, Some(r)) = (&m.kind, content) {
            // Exactly `size` bytes: a file that grew is cut, one that shrank is padded
            // (a running container may be writing it).
            let copied = std::io::copy(&mut r.take(size), &mut self.out).map_err(|e| {
                Error::io(format!("reading {}", String::from_utf8_lossy(&m.name)), e)
            })?;
            let mut left = size - copied;
            while left > 0 {
                let n = left.min(BLOCK as u64) as usize;
                self.out.write_all(&[0u8; BLOCK][..n]).map_err(werr)?;
                left -= n as u64;
            }
            self.pad(size)?;
        }
        Ok(())
    }

    /// A PAX extended header with `SCHILY.xattr.*` records (how Docker and GNU tar carry
    /// extended attributes) for the entry that follows.
    fn pax_xattrs(&mut self, xattrs: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let mut body = Vec::new();
        for (k, v) in xattrs {
            let mut rec = b" SCHILY.xattr.".to_vec();
            rec.extend_from_slice(k);
            rec.push(b'=');
            rec.extend_from_slice(v);
            rec.push(b'\n');
            // The length prefix counts itself.
            let mut len = rec.len() + 1;
            while format!("{len}").len() + rec.len() != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len}").as_bytes());
            body.extend_from_slice(&rec);
        }
        let mut h = tar::Header::new_ustar();
        set_bytes(&mut h.as_old_mut().name, b"PaxHeaders/xattrs");
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(body.len() as u64);
        h.set_cksum();
        self.out.write_all(h.as_bytes()).map_err(werr)?;
        self.out.write_all(&body).map_err(werr)?;
        self.pad(body.len() as u64)
    }

    /// The end-of-archive marker (two zero blocks), then a flush.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.out.write_all(&[0u8; 2 * BLOCK]).map_err(werr)?;
        self.out.flush().map_err(werr)
    }
}

fn set_bytes(field: &mut [u8], value: &[u8]) {
    field.fill(0);
    field[..value.len()].copy_from_slice(value);
}
