//! File operations of the package manager: atomic writes, and what is installed.
//!
//! What must stay true: a file this crate writes is either its old content or the complete new
//! one (a temporary file beside it, renamed into place), never a partial file.

use std::io::Write as _;
use std::path::Path;

use crate::error::PackageError;

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    let io = |what: &'static str| {
        move |source| PackageError::Io {
            what,
            path: path.to_owned(),
            source,
        }
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io("create the directory of"))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".wasm-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io("write"))?;
    temp.write_all(bytes).map_err(io("write"))?;
    temp.as_file().sync_all().map_err(io("write"))?;
    temp.persist(path).map_err(|e| PackageError::Io {
        what: "write",
        path: path.to_owned(),
        source: e.error,
    })?;
    Ok(())
}

/// Whether the file at `path` has `size` bytes and the digest `digest` (read and hashed; a
/// missing or unreadable file is not installed).
pub(crate) fn is_installed(path: &Path, digest: &str, size: u64) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == size => {}
        _ => return false,
    }
    matches!(
        wasm_registry::digest_file(path),
        Ok((found, found_size)) if found == digest && found_size == size
    )
}

/// Removes an installed file, then its directory and the one above while they are empty, up
/// to (not including) `stop`.
pub(crate) fn remove_installed(path: &Path, stop: &Path) -> Result<bool, PackageError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(PackageError::Io {
                what: "remove",
                path: path.to_owned(),
                source,
            });
        }
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == stop || !d.starts_with(stop) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(true)
}
