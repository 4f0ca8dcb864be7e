//! Where photo bytes live: files, content-addressed, behind one trait so that an object store can
//! replace the filesystem without touching the upload protocol. The database keeps only metadata.
//!
//! Layout under the root: `objects/ab/<sha256>` for complete blobs (written once, never rewritten) and
//! `partial/<device>/<sha256>` for uploads in progress, one per device, so that another device can
//! neither append to nor squat a hash another device is uploading. A chunk is written at its offset
//! and fsync'd before the database records it; a blob is hashed as a whole before it is renamed into
//! `objects/` (atomic on one filesystem) and the directory is fsync'd. Several server instances behind
//! a load balancer need the root on shared storage (or an object-store implementation).

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::error::ServerError;

/// Storage of blob bytes.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Writes `chunk` at `offset` of `device`'s partial upload of `sha` (anything after `offset` left
    /// by an interrupted earlier write is cut first) and makes it durable.
    fn write_chunk(
        &self,
        device: &str,
        sha: &str,
        offset: u64,
        chunk: &[u8],
    ) -> Result<(), ServerError>;
    /// Hashes `device`'s partial upload of `sha`; if it matches, moves it to the complete blobs
    /// (keeping an existing identical one) and returns `true`; otherwise deletes it and returns `false`.
    fn finish(&self, device: &str, sha: &str) -> Result<bool, ServerError>;
    /// Deletes `device`'s partial upload of `sha`, if any.
    fn discard(&self, device: &str, sha: &str) -> Result<(), ServerError>;
    /// The bytes of a complete blob.
    fn read(&self, sha: &str) -> Result<Vec<u8>, ServerError>;
    /// Whether a complete blob is stored.
    fn exists(&self, sha: &str) -> bool;
    /// Deletes a complete blob (retention, erasure); deleting one that is not there is no error.
    fn remove(&self, sha: &str) -> Result<(), ServerError>;
}

/// Blobs as files under a root directory (created 0700).
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> ServerError {
    move |_| ServerError::Internal(format!("blob store: cannot {what}"))
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn create_dirs(dir: &Path) -> Result<(), ServerError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(io("create a directory"))
}

fn sync_dir(dir: &Path) -> Result<(), ServerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync a directory"))
}

impl FsBlobStore {
    /// A store rooted at `root` (created if missing).
    pub fn open(root: &Path) -> Result<Self, ServerError> {
        create_dirs(&root.join("objects"))?;
        create_dirs(&root.join("partial"))?;
        Ok(FsBlobStore {
            root: root.to_path_buf(),
        })
    }

    fn object(&self, sha: &str) -> Result<PathBuf, ServerError> {
        if !is_hex(sha) || sha.len() != 64 {
            return Err(ServerError::BadRequest("blob id must be a SHA-256".into()));
        }
        Ok(self.root.join("objects").join(&sha[..2]).join(sha))
    }

    fn partial(&self, device: &str, sha: &str) -> Result<PathBuf, ServerError> {
        // Device ids are hex digests; refuse anything else so no path can escape the root.
        if !is_hex(device) || !is_hex(sha) || sha.len() != 64 {
            return Err(ServerError::BadRequest("bad blob or device id".into()));
        }
        Ok(self.root.join("partial").join(device).join(sha))
    }

    /// Deletes partial uploads whose file was last written before `cutoff` (expiry sweep). Returns how
    /// many were deleted.
    pub fn sweep_partials(&self, cutoff: std::time::SystemTime) -> usize {
        let mut n = 0;
        let Ok(devices) = std::fs::read_dir(self.root.join("partial")) else {
            return 0;
        };
        for d in devices.flatten() {
            let Ok(files) = std::fs::read_dir(d.path()) else {
                continue;
            };
            for f in files.flatten() {
                let old = f
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < cutoff);
                if old && std::fs::remove_file(f.path()).is_ok() {
                    n += 1;
                }
            }
            let _ = std::fs::remove_dir(d.path()); // only succeeds when empty
        }
        n
    }
}

impl BlobStore for FsBlobStore {
    fn write_chunk(
        &self,
        device: &str,
        sha: &str,
        offset: u64,
        chunk: &[u8],
    ) -> Result<(), ServerError> {
        let path = self.partial(device, sha)?;
        if let Some(dir) = path.parent() {
            create_dirs(dir)?;
        }
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&path).map_err(io("open a partial upload"))?;
        f.set_len(offset).map_err(io("truncate a partial upload"))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(io("seek in a partial upload"))?;
        f.write_all(chunk).map_err(io("write a partial upload"))?;
        f.sync_data().map_err(io("sync a partial upload"))?;
        Ok(())
    }

    fn finish(&self, device: &str, sha: &str) -> Result<bool, ServerError> {
        let path = self.partial(device, sha)?;
        let mut f = File::open(&path).map_err(io("open a partial upload"))?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(io("read a partial upload"))?;
            if n == 0 {
                break;
            }
            ctx.update(&buf[..n]);
        }
        drop(f);
        if hex::encode(ctx.finish()) != sha {
            let _ = std::fs::remove_file(&path);
            return Ok(false);
        }
        let dest = self.object(sha)?;
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        create_dirs(&dir)?;
        if dest.exists() {
            // Same content already stored (another device uploaded it first): keep that file.
            let _ = std::fs::remove_file(&path);
        } else {
            std::fs::rename(&path, &dest).map_err(io("move a finished upload"))?;
            sync_dir(&dir)?;
        }
        Ok(true)
    }

    fn discard(&self, device: &str, sha: &str) -> Result<(), ServerError> {
        match std::fs::remove_file(self.partial(device, sha)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("delete a partial upload")(e)),
        }
    }

    fn read(&self, sha: &str) -> Result<Vec<u8>, ServerError> {
        std::fs::read(self.object(sha)?).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ServerError::NotFound("blob")
            } else {
                io("read a blob")(e)
            }
        })
    }

    fn exists(&self, sha: &str) -> bool {
        self.object(sha).is_ok_and(|p| p.is_file())
    }

    fn remove(&self, sha: &str) -> Result<(), ServerError> {
        match std::fs::remove_file(self.object(sha)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("delete a blob")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> String {
        hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
    }

    #[test]
    fn chunks_resume_and_finish_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::open(dir.path()).unwrap();
        let data = b"0123456789abcdef".repeat(100);
        let h = sha(&data);
        s.write_chunk("aa", &h, 0, &data[..700]).unwrap();
        // An interrupted write left garbage after the acknowledged offset: it is cut.
        s.write_chunk("aa", &h, 500, &data[500..1000]).unwrap();
        s.write_chunk("aa", &h, 1000, &data[1000..]).unwrap();
        assert!(s.finish("aa", &h).unwrap());
        assert_eq!(s.read(&h).unwrap(), data);
        // Another device's wrong bytes for the same hash never replace it.
        s.write_chunk("bb", &h, 0, b"evil").unwrap();
        assert!(!s.finish("bb", &h).unwrap());
        assert_eq!(s.read(&h).unwrap(), data);
    }

    #[test]
    fn ids_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::open(dir.path()).unwrap();
        let h = sha(b"x");
        assert!(s.write_chunk("../../etc", &h, 0, b"x").is_err());
        assert!(s.read("../x").is_err());
    }
}
