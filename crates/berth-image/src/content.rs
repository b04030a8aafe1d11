//! Content-addressed blob store: `<root>/blobs/sha256/<hex>`.
//!
//! Blobs are written to `<root>/tmp-ingest-*`, hashed as they are written, fsynced and
//! renamed into place, so a blob that exists under its digest is always complete and
//! correct. An existing blob is "already there", never an error.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use berth_oci::Digest;
use berth_store::{fsync_dir, temp_path, StoreError};
use sha2::{Digest as _, Sha256};

pub struct ContentStore {
    root: PathBuf,
    blobs: PathBuf,
}

impl ContentStore {
    pub fn open(root: &Path) -> Result<ContentStore, StoreError> {
        let blobs = root.join("blobs/sha256");
        berth_store::create_dir_all_durable(&blobs)?;
        berth_store::sweep_temporaries(root)?;
        Ok(ContentStore {
            root: root.to_path_buf(),
            blobs,
        })
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.hex())
    }

    pub fn contains(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File, StoreError> {
        let p = self.path(d);
        File::open(&p).map_err(|e| StoreError::io("open", p, e))
    }

    pub fn read(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.path(d);
        fs::read(&p).map_err(|e| StoreError::io("read", p, e))
    }

    pub fn size(&self, d: &Digest) -> Result<u64, StoreError> {
        let p = self.path(d);
        fs::metadata(&p)
            .map(|m| m.len())
            .map_err(|e| StoreError::io("stat", p, e))
    }

    /// Starts writing a blob whose digest is learnt as it is written.
    pub fn ingest(&self) -> Result<Ingest, StoreError> {
        let tmp = temp_path(&self.root, "ingest");
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| StoreError::io("create", &tmp, e))?;
        Ok(Ingest {
            file,
            tmp,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Stores `data` and returns its digest.
    pub fn put(&self, data: &[u8]) -> Result<Digest, StoreError> {
        let d = Digest::of(data);
        if self.contains(&d) {
            return Ok(d);
        }
        let mut w = self.ingest()?;
        w.write_all(data)
            .map_err(|e| StoreError::io("write", &w.tmp, e))?;
        self.commit(w, None)
    }

    /// Moves a finished ingest into place. With `expected`, a mismatch is refused.
    pub fn commit(&self, ingest: Ingest, expected: Option<&Digest>) -> Result<Digest, StoreError> {
        let digest = Digest::from_sha256(&ingest.hasher.clone().finalize());
        let (file, tmp) = (&ingest.file, ingest.tmp.clone());
        let result = (|| {
            if let Some(want) = expected {
                if *want != digest {
                    return Err(StoreError::io(
                        "verify",
                        &tmp,
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("digest mismatch: expected {want}, got {digest}"),
                        ),
                    ));
                }
            }
            let dest = self.path(&digest);
            if dest.exists() {
                return Ok(());
            }
            file.sync_all()
                .map_err(|e| StoreError::io("fsync", &tmp, e))?;
            fs::rename(&tmp, &dest).map_err(|e| StoreError::io("rename", &dest, e))?;
            fsync_dir(&self.blobs)
        })();
        drop(ingest);
        result.map(|()| digest)
    }

    /// Stores an existing file under its (already computed) digest by renaming it in.
    /// The file must live on the same filesystem; it is fsynced first.
    pub fn adopt(&self, file: &Path, digest: &Digest) -> Result<(), StoreError> {
        let dest = self.path(digest);
        if dest.exists() {
            let _ = fs::remove_file(file);
            return Ok(());
        }
        File::open(file)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io("fsync", file, e))?;
        fs::rename(file, &dest).map_err(|e| StoreError::io("rename", &dest, e))?;
        fsync_dir(&self.blobs)
    }

    pub fn delete(&self, d: &Digest) -> Result<(), StoreError> {
        berth_store::remove_file_durable(&self.path(d))
    }

    pub fn list(&self) -> Result<Vec<Digest>, StoreError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.blobs).map_err(|e| StoreError::io("readdir", &self.blobs, e))? {
            let e = e.map_err(|e| StoreError::io("readdir", &self.blobs, e))?;
            if let Ok(d) = Digest::parse_hex(&e.file_name().to_string_lossy()) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Where callers may put their own temporary files (same filesystem as the blobs).
    pub fn scratch_dir(&self) -> &Path {
        &self.root
    }
}

/// A blob being written; dropped without commit, its temporary file is removed.
pub struct Ingest {
    file: File,
    tmp: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl Ingest {
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        // After a commit the file was renamed away and this is a no-op.
        let _ = fs::remove_file(&self.tmp);
    }
}

/// A reader that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }
    pub fn finish(self) -> (Digest, u64) {
        (Digest::from_sha256(&self.hasher.finalize()), self.size)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// How a layer blob is compressed, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

pub fn detect_compression(head: &[u8]) -> Compression {
    match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [b'B', b'Z', b'h', ..] => Compression::Bzip2,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
        _ => Compression::None,
    }
}
