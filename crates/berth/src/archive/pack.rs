//! A tar of a local file or directory, laid out as docker's `TarResourceRebase`
//! lays it out: entries named from the resource's own name (`f`, `d/`, `d/x`, or
//! `./x` for `d/.`), walked in lexical order, hard links recorded once, only the
//! `security.capability` extended attribute kept, sockets skipped.
//!
//! Headers are USTAR, with a PAX extended header only when a field does not fit
//! (long or non-ASCII names, big ids or sizes, attributes), so that the stream has
//! the same size as docker's.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::gopath::{clean, join, path_error};
use super::{replace_once, split_path_dir_entry, Rebase};
use crate::commands::container::log_line;

const BLOCK: usize = 512;
const NAME_SIZE: usize = 100;
const PREFIX_SIZE: usize = 155;
const MAX_OCTAL7: u64 = 0o7_777_777;
const MAX_OCTAL11: u64 = 0o77_777_777_777;

/// What to archive and how to name it.
pub struct Resource<'a> {
    /// The local path (absolute; a trailing `/.` archives a directory's contents).
    pub path: &'a str,
    /// The name the resource gets in the archive ("" to keep its own).
    pub rebase_name: &'a str,
    /// A further renaming of every entry (from `prepare_archive_copy`).
    pub rebase: Option<&'a Rebase>,
}

/// docker's `TarResource` check: the source must exist (`lstat` wording).
pub fn check_source(path: &str) -> Result<(), String> {
    std::fs::symlink_metadata(path)
        .map(|_| ())
        .map_err(|e| path_error("lstat", path, &e))
}

/// Writes the tar of `res` to `out`. Files that cannot be read are reported on
/// stderr and left out, as docker does; only a failing `out` stops the stream.
pub fn pack<W: Write>(res: &Resource<'_>, out: W) -> io::Result<()> {
    let mut w = TarWriter {
        out,
        seen_inodes: HashMap::new(),
        rebase: res.rebase.cloned(),
    };
    let (mut src, mut include) = split_path_dir_entry(res.path);
    let Ok(meta) = std::fs::symlink_metadata(&src) else {
        return w.finish();
    };
    if !meta.is_dir() {
        (src, include) = split_path_dir_entry(&src);
    }
    let walk_root = format!("{src}/{include}");
    let mut walker = Walker {
        src: clean(&src),
        include: &include,
        rebase_name: res.rebase_name,
        seen: HashSet::new(),
        w: &mut w,
    };
    walker.visit(&walk_root)?;
    w.finish()
}

struct Walker<'a, W: Write> {
    src: String,
    include: &'a str,
    rebase_name: &'a str,
    seen: HashSet<String>,
    w: &'a mut TarWriter<W>,
}

impl<W: Write> Walker<'_, W> {
    /// `filepath.WalkDir` from `path`: the entry, then its children in name order.
    fn visit(&mut self, path: &str) -> io::Result<()> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) => {
                self.cannot_stat(&path_error("lstat", path, &e));
                return Ok(());
            }
        };
        self.add(path)?;
        if !meta.is_dir() {
            return Ok(());
        }
        let mut names: Vec<Vec<u8>> = Vec::new();
        match std::fs::read_dir(path) {
            Ok(entries) => {
                for entry in entries {
                    match entry {
                        Ok(e) => {
                            use std::os::unix::ffi::OsStrExt;
                            names.push(e.file_name().as_bytes().to_vec());
                        }
                        Err(e) => {
                            self.cannot_stat(&path_error("readdirent", path, &e));
                            break;
                        }
                    }
                }
            }
            Err(e) => self.cannot_stat(&path_error("open", path, &e)),
        }
        names.sort();
        for name in names {
            let name = String::from_utf8_lossy(&name).into_owned();
            self.visit(&join(&[path, &name]))?;
        }
        Ok(())
    }

    fn cannot_stat(&self, err: &str) {
        log_line(
            "error",
            &format!("Tar: Can't stat file {} to tar: {err}", self.src),
        );
    }

    fn relative(&self, path: &str) -> String {
        let path = clean(path);
        if path == self.src {
            return ".".into();
        }
        let prefix = if self.src == "/" {
            "/".to_string()
        } else {
            format!("{}/", self.src)
        };
        path.strip_prefix(&prefix).unwrap_or(&path).to_string()
    }

    fn add(&mut self, path: &str) -> io::Result<()> {
        let mut rel = self.relative(path);
        if self.include == "." && rel != "." {
            rel = format!("./{rel}");
        }
        if !self.seen.insert(rel.clone()) {
            return Ok(());
        }
        if !self.rebase_name.is_empty() {
            let replacement = if self.rebase_name == "/" {
                ""
            } else {
                self.rebase_name
            };
            rel = String::from_utf8_lossy(&replace_once(
                rel.as_bytes(),
                self.include.as_bytes(),
                replacement.as_bytes(),
            ))
            .into_owned();
        }
        match self.w.add_file(path, &rel) {
            Ok(()) => Ok(()),
            Err(AddError::Output(e)) => Err(e),
            Err(AddError::Skip(msg)) => {
                log_line("error", &format!("Can't add file {path} to tar: {msg}"));
                Ok(())
            }
        }
    }
}

enum AddError {
    /// The file could not be archived; the walk goes on.
    Skip(String),
    /// The output failed; the walk stops.
    Output(io::Error),
}

struct TarWriter<W: Write> {
    out: W,
    seen_inodes: HashMap<u64, String>,
    rebase: Option<Rebase>,
}

/// One entry's header fields, as Go's `tar.Header`.
struct Hdr {
    name: Vec<u8>,
    link: Vec<u8>,
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    dev_major: u32,
    dev_minor: u32,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl<W: Write> TarWriter<W> {
    fn add_file(&mut self, path: &str, name: &str) -> Result<(), AddError> {
        let meta = std::fs::symlink_metadata(path)
            .map_err(|e| AddError::Skip(path_error("lstat", path, &e)))?;
        let ft = meta.file_type();
        let mut link = Vec::new();
        if ft.is_symlink() {
            use std::os::unix::ffi::OsStrExt;
            link = std::fs::read_link(path)
                .map_err(|e| AddError::Skip(path_error("readlink", path, &e)))?
                .as_os_str()
                .as_bytes()
                .to_vec();
        }
        let kind = if ft.is_dir() {
            b'5'
        } else if ft.is_symlink() {
            b'2'
        } else if ft.is_char_device() {
            b'3'
        } else if ft.is_block_device() {
            b'4'
        } else if ft.is_fifo() {
            b'6'
        } else if ft.is_socket() {
            return Err(AddError::Skip("archive/tar: sockets not supported".into()));
        } else {
            b'0'
        };
        let mut canonical = name.to_string();
        if ft.is_dir() && !canonical.ends_with('/') {
            canonical.push('/');
        }
        let rdev = meta.rdev();
        let mut hdr = Hdr {
            name: canonical.into_bytes(),
            link,
            kind,
            mode: meta.mode() & 0o7777,
            uid: u64::from(meta.uid()),
            gid: u64::from(meta.gid()),
            size: if kind == b'0' { meta.len() } else { 0 },
            mtime: u64::try_from(meta.mtime()).unwrap_or(0),
            dev_major: if matches!(kind, b'3' | b'4') {
                dev_major(rdev)
            } else {
                0
            },
            dev_minor: if matches!(kind, b'3' | b'4') {
                dev_minor(rdev)
            } else {
                0
            },
            xattrs: Vec::new(),
        };
        if let Some(cap) = security_capability(path) {
            hdr.xattrs.push(("security.capability".into(), cap));
        }
        if !ft.is_dir() && meta.nlink() > 1 {
            match self.seen_inodes.get(&meta.ino()) {
                Some(first) => {
                    hdr.kind = b'1';
                    hdr.link = first.as_bytes().to_vec();
                    hdr.size = 0;
                }
                None => {
                    self.seen_inodes.insert(meta.ino(), name.to_string());
                }
            }
        }
        if let Some(r) = &self.rebase {
            hdr.name = r.apply(&hdr.name);
            if hdr.kind == b'1' {
                hdr.link = r.apply(&hdr.link);
            }
        }
        // Open the file before writing its header, so that an unreadable file is
        // left out whole.
        let file = if hdr.kind == b'0' && hdr.size > 0 {
            Some(
                std::fs::File::open(path)
                    .map_err(|e| AddError::Skip(path_error("open", path, &e)))?,
            )
        } else {
            None
        };
        self.write_header(&hdr).map_err(AddError::Output)?;
        if let Some(file) = file {
            self.write_data(file, hdr.size).map_err(AddError::Output)?;
        }
        Ok(())
    }

    fn write_header(&mut self, h: &Hdr) -> io::Result<()> {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let (name_field, prefix_field) = match ustar_name(&h.name) {
            Some(split) => split,
            None => {
                pax.push(("path".into(), h.name.clone()));
                (truncated_ascii(&h.name, NAME_SIZE), Vec::new())
            }
        };
        let link_field = if is_ascii(&h.link) && h.link.len() <= NAME_SIZE {
            h.link.clone()
        } else {
            pax.push(("linkpath".into(), h.link.clone()));
            truncated_ascii(&h.link, NAME_SIZE)
        };
        let mut numeric = |key: &str, v: u64, max: u64| {
            if v > max {
                pax.push((key.into(), v.to_string().into_bytes()));
                0
            } else {
                v
            }
        };
        let uid = numeric("uid", h.uid, MAX_OCTAL7);
        let gid = numeric("gid", h.gid, MAX_OCTAL7);
        let size = numeric("size", h.size, MAX_OCTAL11);
        let mtime = numeric("mtime", h.mtime, MAX_OCTAL11);
        for (k, v) in &h.xattrs {
            pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }
        if !pax.is_empty() {
            pax.sort_by(|a, b| a.0.cmp(&b.0));
            let data = pax_records(&pax);
            let (dir, file) = match h.name.iter().rposition(|&c| c == b'/') {
                Some(i) if i + 1 < h.name.len() => (&h.name[..=i], &h.name[i + 1..]),
                Some(i) => (&h.name[..0], &h.name[..i]),
                None => (&h.name[..0], &h.name[..]),
            };
            let mut pax_name = dir.to_vec();
            pax_name.extend_from_slice(b"PaxHeaders.0/");
            pax_name.extend_from_slice(file);
            let mut ph = tar::Header::new_ustar();
            ph.set_entry_type(tar::EntryType::XHeader);
            set_field(
                &mut ph.as_old_mut().name,
                &truncated_ascii(&pax_name, NAME_SIZE),
            );
            ph.set_size(data.len() as u64);
            ph.set_mode(0);
            ph.set_uid(0);
            ph.set_gid(0);
            ph.set_mtime(0);
            ph.set_cksum();
            self.out.write_all(ph.as_bytes())?;
            self.out.write_all(&data)?;
            self.pad(data.len() as u64)?;
        }
        let mut th = tar::Header::new_ustar();
        th.set_entry_type(tar::EntryType::new(h.kind));
        th.set_mode(h.mode);
        th.set_uid(uid);
        th.set_gid(gid);
        th.set_size(size);
        th.set_mtime(mtime);
        if matches!(h.kind, b'3' | b'4') {
            th.set_device_major(h.dev_major)?;
            th.set_device_minor(h.dev_minor)?;
        }
        set_field(&mut th.as_old_mut().name, &name_field);
        set_field(&mut th.as_old_mut().linkname, &link_field);
        if let Some(u) = th.as_ustar_mut() {
            set_field(&mut u.prefix, &prefix_field);
        }
        th.set_cksum();
        self.out.write_all(th.as_bytes())
    }

    /// Exactly `size` bytes of `file` (zeros if it shrank meanwhile), padded.
    fn write_data(&mut self, file: std::fs::File, size: u64) -> io::Result<()> {
        let mut limited = file.take(size);
        let copied = io::copy(&mut limited, &mut self.out)?;
        if copied < size {
            io::copy(&mut io::repeat(0).take(size - copied), &mut self.out)?;
        }
        self.pad(size)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Go's `tar.Writer.Close`: two zero blocks.
    fn finish(&mut self) -> io::Result<()> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        self.out.flush()
    }
}

fn set_field(field: &mut [u8], value: &[u8]) {
    field.fill(0);
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// Go's tar `isASCII`: 7-bit and no NUL.
fn is_ascii(s: &[u8]) -> bool {
    s.iter().all(|&c| c != 0 && c < 0x80)
}

fn truncated_ascii(s: &[u8], max: usize) -> Vec<u8> {
    let mut out: Vec<u8> = s.iter().copied().filter(|&c| c != 0 && c < 0x80).collect();
    out.truncate(max);
    while out.last() == Some(&b'/') && s.len() > max {
        out.pop();
    }
    out
}

/// The USTAR name and prefix fields for `name`, or `None` when it needs PAX
/// (Go's `splitUSTARPath`).
fn ustar_name(name: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if !is_ascii(name) {
        return None;
    }
    if name.len() <= NAME_SIZE {
        return Some((name.to_vec(), Vec::new()));
    }
    let mut length = name.len();
    if length > PREFIX_SIZE + 1 {
        length = PREFIX_SIZE + 1;
    } else if name[length - 1] == b'/' {
        length -= 1;
    }
    let i = name[..length].iter().rposition(|&c| c == b'/')?;
    let suffix_len = name.len() - i - 1;
    if i == 0 || suffix_len > NAME_SIZE || suffix_len == 0 || i > PREFIX_SIZE {
        return None;
    }
    Some((name[i + 1..].to_vec(), name[..i].to_vec()))
}

/// PAX records `"%d %s=%s\n"`, the length counting itself.
fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = k.len() + v.len() + 3; // ' ', '=', '\n'
        let mut len = body + 1;
        while len != body + len.to_string().len() {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {k}=").as_bytes());
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

/// glibc's `major()`.
fn dev_major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

/// glibc's `minor()`.
fn dev_minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

/// The file's `security.capability` attribute, revision 3 turned into revision 2 as
/// docker does (the root id of a user namespace means nothing elsewhere).
fn security_capability(path: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 64];
    let n = rustix::fs::lgetxattr(path, "security.capability", &mut buf[..]).ok()?;
    buf.truncate(n);
    if buf.len() > 3 && buf[3] == 3 {
        buf[3] = 2;
        buf.truncate(20);
    }
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar: &[u8]) -> Vec<(String, u8, String, u64)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                let link = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default();
                let h = e.header();
                (name, h.entry_type().as_byte(), link, h.size().unwrap())
            })
            .collect()
    }

    fn fixture() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "berth-pack-{}-{}",
            std::process::id(),
            crate::archive::unpack::tests_counter()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("hdir/sub")).unwrap();
        std::fs::write(d.join("hdir/a"), b"a\n").unwrap();
        std::fs::write(d.join("hdir/sub/b"), b"b\n").unwrap();
        std::os::unix::fs::symlink("a", d.join("hdir/link")).unwrap();
        std::fs::hard_link(d.join("hdir/a"), d.join("hdir/hard")).unwrap();
        d
    }

    fn pack_vec(path: &str, rebase_name: &str, rebase: Option<&Rebase>) -> Vec<u8> {
        let mut out = Vec::new();
        pack(
            &Resource {
                path,
                rebase_name,
                rebase,
            },
            &mut out,
        )
        .unwrap();
        out
    }

    #[test]
    fn archives_a_directory_like_docker() {
        let d = fixture();
        let tar = pack_vec(&format!("{}/hdir", d.display()), "", None);
        let names: Vec<(String, u8, String, u64)> = entries(&tar);
        assert_eq!(
            names,
            vec![
                ("hdir/".into(), b'5', String::new(), 0),
                ("hdir/a".into(), b'0', String::new(), 2),
                ("hdir/hard".into(), b'1', "hdir/a".into(), 0),
                ("hdir/link".into(), b'2', "a".into(), 0),
                ("hdir/sub/".into(), b'5', String::new(), 0),
                ("hdir/sub/b".into(), b'0', String::new(), 2),
            ]
        );
        // 6 headers, 2 data blocks, the two-block trailer: docker's size too.
        assert_eq!(tar.len(), 512 * 10);
        // Contents of the directory, renamed as for a new destination.
        let r = Rebase::new(".", "contents");
        let tar = pack_vec(&format!("{}/hdir/.", d.display()), "", Some(&r));
        let names: Vec<String> = entries(&tar).into_iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            [
                "contents/",
                "contents/a",
                "contents/hard",
                "contents/link",
                "contents/sub/",
                "contents/sub/b"
            ]
        );
        // A single file renamed.
        let r = Rebase::new("a", "renamed.txt");
        let tar = pack_vec(&format!("{}/hdir/a", d.display()), "", Some(&r));
        assert_eq!(entries(&tar)[0].0, "renamed.txt");
        assert_eq!(tar.len(), 2048);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn long_names_use_pax_only_when_needed() {
        assert_eq!(
            ustar_name(b"short").unwrap(),
            (b"short".to_vec(), Vec::new())
        );
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(50));
        let (n, p) = ustar_name(long.as_bytes()).unwrap();
        assert_eq!((n.len(), p.len()), (50, 120));
        assert!(ustar_name("é".as_bytes()).is_none());
        assert!(ustar_name("x".repeat(101).as_bytes()).is_none());
        let recs = pax_records(&[("path".into(), b"abc".to_vec())]);
        assert_eq!(recs, b"12 path=abc\n");
        let d = fixture();
        let deep = format!("{}/hdir/{}", d.display(), "n".repeat(150));
        std::fs::write(&deep, b"x").unwrap();
        let tar = pack_vec(&deep, "", None);
        assert_eq!(entries(&tar)[0].0, "n".repeat(150));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_sources_use_go_wording() {
        assert_eq!(
            check_source("/nonexistent-berth").unwrap_err(),
            "lstat /nonexistent-berth: no such file or directory"
        );
    }
}
