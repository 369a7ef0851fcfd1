//! The local content-addressed cache, shared by all commands: blobs by digest, and references
//! (`REGISTRY/REPOSITORY:TAG`) by the manifest digest they last resolved to.
//!
//! Layout under the root (`$XDG_CACHE_HOME/wasm`):
//! - `blobs/sha256/HEX`: a blob (manifest, config or layer), complete and verified;
//! - `blobs/sha256/HEX.repos`: lines `REGISTRY/REPOSITORY` known to hold the blob (for
//!   cross-repository mounts);
//! - `refs/REGISTRY/REPOSITORY/TAG`: the manifest digest the tag last resolved to;
//! - `verdicts/HEX`: what validating the file with that digest found (a re-push does not
//!   validate again);
//! - `schemes/REGISTRY`: the scheme (`http` or `https`) a registry on this machine speaks;
//! - `challenges/REGISTRY`: a registry's `WWW-Authenticate` challenge, its scheme, token realm
//!   and service only (so that a run authorizes its first request instead of asking
//!   `GET /v2/` first; relearnt whenever the registry or its token service answers otherwise);
//! - `tmp/`: files being written.
//!
//! Never in it: a credential or a token.
//!
//! What must stay true: a file under `blobs/` is always complete and matches its name. Blobs are
//! written to `tmp/` and renamed into place only after their digest is checked, so two `wasm`
//! processes using the cache at once (or a crash) never expose a partial blob; two writers of
//! the same blob write identical bytes, so whichever rename lands last is as good as the first.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tempfile::NamedTempFile;

use crate::component::hex;
use crate::session::Challenge;

/// Writes a small file of the cache whole: beside it, then renamed into place, so that a reader
/// sees the old file or the new one, never a part.
fn write_small(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().expect("cache files have a parent");
    fs::create_dir_all(dir)?;
    let mut file = tempfile::Builder::new().prefix(".new-").tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The local cache at a root directory (created when first written).
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

/// What the cache holds.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CacheStats {
    /// The root directory.
    pub root: PathBuf,
    /// Blobs stored.
    pub blobs: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// References (tags) recorded.
    pub refs: u64,
}

/// A blob being written into the cache; see [`Cache::blob_writer`].
pub struct BlobWriter {
    file: NamedTempFile,
    hasher: Option<Sha256>,
    size: u64,
    blobs: PathBuf,
}

impl Cache {
    /// The cache at `root`.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The cache at the default location ([`wasm_config::cache_dir`]), if there is one.
    pub fn default_location() -> Option<Self> {
        wasm_config::cache_dir().map(Self::new)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// The path of a blob, for a `sha256:` digest (other algorithms are not cached).
    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        Some(self.blobs_dir().join(hex))
    }

    /// The file of a cached blob of `size` bytes, if the cache has it.
    pub fn blob(&self, digest: &str, size: u64) -> Option<PathBuf> {
        let path = self.blob_path(digest)?;
        let meta = fs::metadata(&path).ok()?;
        (meta.is_file() && meta.len() == size).then_some(path)
    }

    /// A small cached blob (manifest, config), read and verified.
    pub fn read_blob(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = fs::read(self.blob_path(digest)?).ok()?;
        (crate::component::sha256_digest(&bytes) == digest).then_some(bytes)
    }

    /// Stores a small blob after checking it against `digest`.
    pub fn put_blob(&self, digest: &str, bytes: &[u8]) -> io::Result<()> {
        let mut writer = self.blob_writer(true)?;
        writer.write_all(bytes)?;
        writer.finish(digest, bytes.len() as u64).map(|_| ())
    }

    /// Starts writing a blob. With `hash`, [`BlobWriter::finish`] verifies the digest itself;
    /// without, the caller guarantees the bytes were verified on the way (e.g. by a verifying
    /// stream that fails on a mismatch before the end).
    pub fn blob_writer(&self, hash: bool) -> io::Result<BlobWriter> {
        let tmp = self.root.join("tmp");
        fs::create_dir_all(&tmp)?;
        Ok(BlobWriter {
            file: tempfile::Builder::new().prefix("blob-").tempfile_in(&tmp)?,
            hasher: hash.then(Sha256::new),
            size: 0,
            blobs: self.blobs_dir(),
        })
    }

    fn ref_path(&self, registry: &str, repository: &str, tag: &str) -> PathBuf {
        // `:` separates a port; it is not allowed in file names everywhere.
        let registry = registry.replace(':', "+");
        self.root
            .join("refs")
            .join(registry)
            .join(repository)
            .join(tag)
    }

    /// Records that `tag` of a repository resolved to `digest`.
    pub fn set_ref(
        &self,
        registry: &str,
        repository: &str,
        tag: &str,
        digest: &str,
    ) -> io::Result<()> {
        write_small(&self.ref_path(registry, repository, tag), digest.as_bytes())
    }

    /// The digest `tag` of a repository last resolved to.
    pub fn get_ref(&self, registry: &str, repository: &str, tag: &str) -> Option<String> {
        let text = fs::read_to_string(self.ref_path(registry, repository, tag)).ok()?;
        let digest = text.trim();
        crate::reference::validate_digest(digest).ok()?;
        Some(digest.to_string())
    }

    fn verdict_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = self.blob_path(digest)?.file_name()?.to_owned();
        Some(self.root.join("verdicts").join(hex))
    }

    /// What validating the file with `digest` found, if a push validated it before: a re-push
    /// of the same bytes is not validated again.
    pub fn verdict(&self, digest: &str) -> Option<crate::WasmFile> {
        let text = fs::read(self.verdict_path(digest)?).ok()?;
        let file: crate::WasmFile = serde_json::from_slice(&text).ok()?;
        (file.digest == digest).then_some(file)
    }

    /// Remembers that the file `file.digest` is valid, and what it is.
    pub fn set_verdict(&self, file: &crate::WasmFile) -> io::Result<()> {
        let Some(path) = self.verdict_path(&file.digest) else {
            return Ok(());
        };
        write_small(&path, &serde_json::to_vec(file).unwrap_or_default())
    }

    fn scheme_path(&self, registry: &wasm_config::RegistryName) -> PathBuf {
        self.root
            .join("schemes")
            .join(registry.as_str().replace(':', "+"))
    }

    /// The scheme a registry on this machine was found to speak, if remembered.
    pub fn scheme(&self, registry: &wasm_config::RegistryName) -> Option<wasm_config::Scheme> {
        match fs::read_to_string(self.scheme_path(registry)).ok()?.trim() {
            "https" => Some(wasm_config::Scheme::Https),
            "http" => Some(wasm_config::Scheme::Http),
            _ => None,
        }
    }

    /// Remembers the scheme a registry on this machine speaks, so that later invocations do
    /// not probe it again.
    pub fn set_scheme(
        &self,
        registry: &wasm_config::RegistryName,
        scheme: wasm_config::Scheme,
    ) -> io::Result<()> {
        write_small(&self.scheme_path(registry), scheme.as_str().as_bytes())
    }

    fn challenge_path(&self, registry: &wasm_config::RegistryName) -> PathBuf {
        self.root
            .join("challenges")
            .join(registry.as_str().replace(':', "+"))
    }

    /// The challenge a registry answered with in an earlier run, if remembered.
    pub fn challenge(&self, registry: &wasm_config::RegistryName) -> Option<Challenge> {
        serde_json::from_slice(&fs::read(self.challenge_path(registry)).ok()?).ok()
    }

    /// Remembers a registry's challenge (`None`: forgets it), so that later runs authorize
    /// their first request instead of asking `GET /v2/` first. The caller keeps only what
    /// names the token service ([`Challenge::remembered`]): nothing secret is in it.
    pub fn set_challenge(
        &self,
        registry: &wasm_config::RegistryName,
        challenge: Option<&Challenge>,
    ) -> io::Result<()> {
        let path = self.challenge_path(registry);
        match challenge {
            Some(c) => write_small(&path, &serde_json::to_vec(c).unwrap_or_default()),
            None => match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }

    /// Records that `registry/repository` holds the blob `digest`.
    pub fn add_source(&self, digest: &str, registry: &str, repository: &str) -> io::Result<()> {
        let Some(path) = self.blob_path(digest) else {
            return Ok(());
        };
        let line = format!("{registry}/{repository}");
        if self.sources(digest).iter().any(|s| s == &line) {
            return Ok(());
        }
        fs::create_dir_all(self.blobs_dir())?;
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path.with_extension("repos"))?;
        // One short write with O_APPEND: concurrent writers do not interleave within a line.
        file.write_all(format!("{line}\n").as_bytes())
    }

    /// The `REGISTRY/REPOSITORY`s known to hold the blob `digest`.
    pub fn sources(&self, digest: &str) -> Vec<String> {
        self.blob_path(digest)
            .and_then(|p| fs::read_to_string(p.with_extension("repos")).ok())
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Counts what the cache holds.
    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats {
            root: self.root.clone(),
            ..CacheStats::default()
        };
        if let Ok(entries) = fs::read_dir(self.blobs_dir()) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().contains('.') {
                    continue;
                }
                if let Ok(meta) = entry.metadata() {
                    stats.blobs += 1;
                    stats.bytes += meta.len();
                }
            }
        }
        stats.refs = count_files(&self.root.join("refs"));
        stats
    }

    /// Removes everything; returns the bytes of blobs freed.
    pub fn clean(&self) -> io::Result<u64> {
        let freed = self.stats().bytes;
        for sub in ["blobs", "refs", "tmp"] {
            match fs::remove_dir_all(self.root.join(sub)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(freed)
    }

    /// Copies a cached blob to `target` through a temporary file beside it, so that `target`
    /// is replaced whole or not at all.
    pub fn copy_out(&self, blob: &Path, target: &Path) -> io::Result<()> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".wasm-pull-")
            .suffix(".part")
            .tempfile_in(&dir)?;
        // `fs::copy` uses copy_file_range (or a reflink) where the platform has it.
        fs::copy(blob, temp.path())?;
        set_readable(temp.path())?;
        temp.persist(target).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Gives a file the permissions of an ordinary file (tempfile creates it owner-only).
pub(crate) fn set_readable(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(path, fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn count_files(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(t) if t.is_file() && !e.file_name().to_string_lossy().starts_with('.') => 1,
            _ => 0,
        })
        .sum()
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Checks size (and digest, when hashing) and moves the blob into place; returns its path.
    /// On a mismatch the temporary file is removed and an `InvalidData` error returned.
    pub fn finish(mut self, digest: &str, size: u64) -> io::Result<PathBuf> {
        self.file.flush()?;
        if self.size != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected {size} bytes, got {}", self.size),
            ));
        }
        if let Some(h) = self.hasher.take() {
            let actual = format!("sha256:{}", hex(&h.finalize()));
            if actual != digest {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("expected digest {digest}, got {actual}"),
                ));
            }
        }
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot cache a blob with digest {digest}"),
            ));
        }
        fs::create_dir_all(&self.blobs)?;
        let path = self.blobs.join(hex);
        self.file.persist(&path).map_err(|e| e.error)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::sha256_digest;

    #[test]
    fn blobs_are_verified_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("c"));
        let data = b"hello";
        let digest = sha256_digest(data);
        assert!(cache.blob(&digest, 5).is_none());
        cache.put_blob(&digest, data).unwrap();
        assert!(cache.blob(&digest, 5).is_some());
        assert!(cache.blob(&digest, 6).is_none());
        assert_eq!(cache.read_blob(&digest).unwrap(), data);

        // A wrong digest is refused and leaves nothing behind.
        let wrong = sha256_digest(b"other");
        let err = cache.put_blob(&wrong, data).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(cache.blob(&wrong, 5).is_none());
        assert_eq!(fs::read_dir(dir.path().join("c/tmp")).unwrap().count(), 0);

        let stats = cache.stats();
        assert_eq!((stats.blobs, stats.bytes), (1, 5));
        assert_eq!(cache.clean().unwrap(), 5);
        assert_eq!(cache.stats().blobs, 0);
    }

    #[test]
    fn refs_and_sources() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let d = sha256_digest(b"m");
        cache.set_ref("localhost:5000", "a/b", "1.0", &d).unwrap();
        assert_eq!(
            cache.get_ref("localhost:5000", "a/b", "1.0"),
            Some(d.clone())
        );
        assert_eq!(cache.get_ref("localhost:5000", "a/b", "2.0"), None);
        cache.add_source(&d, "localhost:5000", "a/b").unwrap();
        cache.add_source(&d, "localhost:5000", "a/b").unwrap();
        cache.add_source(&d, "localhost:5000", "c").unwrap();
        assert_eq!(
            cache.sources(&d),
            ["localhost:5000/a/b", "localhost:5000/c"]
        );
        assert_eq!(cache.stats().refs, 1);
        // Digests that are not sha256 hex never become paths.
        assert!(cache.blob("sha256:../../etc/passwd", 0).is_none());
    }
}
