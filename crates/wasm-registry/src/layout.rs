//! OCI image layouts on disk, as the image-layout specification defines them
//! (<https://github.com/opencontainers/image-spec/blob/v1.1.0/image-layout.md>): an `oci-layout`
//! file (`imageLayoutVersion` 1.0.0), an `index.json` whose manifests carry their tag in the
//! `org.opencontainers.image.ref.name` annotation, and content-addressed blobs under
//! `blobs/ALGORITHM/HEX`. The directories skopeo and oras read and write; `oci-archive:` is a tar
//! of such a directory, unpacked into a temporary directory to read and packed from one to
//! write (with the `tar` crate).
//!
//! What must stay true: every blob read is checked against its digest as its bytes stream (a
//! corrupt blob is an error naming the file, never data); every file is written to a temporary
//! file beside it and renamed into place, blobs before the `index.json` that names them, so an
//! interrupted write leaves no tag pointing at missing blobs; a digest from a manifest is
//! validated before it becomes a path (no `..` out of the layout); an archive is replaced
//! whole, by rename, or not at all.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::component::StreamingDigest;
use crate::location::{LayoutLocation, LayoutTarget};
use crate::manifest::{Descriptor, OCI_INDEX, OCI_MANIFEST};
use crate::reference::validate_digest;

/// The annotation that holds a manifest's tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The one `imageLayoutVersion` the specification defines.
const LAYOUT_VERSION: &str = "1.0.0";

/// An error of an image layout, naming the file and what to do.
#[derive(Debug, Error)]
pub enum LayoutError {
    /// The directory has no `oci-layout` file.
    #[error(
        "{} is not an OCI image layout: it has no `oci-layout` file; give the layout's root \
         directory (the one holding `oci-layout`, `index.json` and `blobs/`)",
        path.display()
    )]
    NotALayout {
        /// The directory.
        path: PathBuf,
    },
    /// An archive has no `oci-layout` file at its top.
    #[error(
        "{} is not an OCI image layout archive: it has no `oci-layout` file at its top; make one \
         with `wasm copy REF oci-archive:FILE` (or `skopeo copy`)",
        path.display()
    )]
    NotALayoutArchive {
        /// The archive.
        path: PathBuf,
    },
    /// `oci-layout` names another version.
    #[error(
        "{} has imageLayoutVersion `{version}`; only `{LAYOUT_VERSION}` is supported",
        path.display()
    )]
    Version {
        /// The `oci-layout` file.
        path: PathBuf,
        /// The version it names.
        version: String,
    },
    /// A layout file is not what the specification says.
    #[error("{} is not a valid image-layout file", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// No manifest has the tag.
    #[error("{layout} has no tag `{tag}` (its tags: {known})")]
    UnknownTag {
        /// The layout.
        layout: String,
        /// The tag asked for.
        tag: String,
        /// The tags it has, or `none`.
        known: String,
    },
    /// A blob the layout should have is missing.
    #[error(
        "{layout} lacks the blob {digest}; the layout is incomplete: copy the artifact into it \
         again"
    )]
    MissingBlob {
        /// The layout.
        layout: String,
        /// The digest.
        digest: String,
    },
    /// A blob's content does not match its digest.
    #[error(
        "the blob {} is corrupt: its content has digest {actual}; copy the artifact into the \
         layout again",
        path.display()
    )]
    CorruptBlob {
        /// The blob's file.
        path: PathBuf,
        /// The digest of its content.
        actual: String,
    },
    /// A blob's file is not the size its descriptor declares.
    #[error(
        "the blob {} is not its declared size of {size} bytes (it has {seen} or more); copy the \
         artifact into the layout again",
        path.display()
    )]
    WrongSize {
        /// The blob's file.
        path: PathBuf,
        /// The declared size.
        size: u64,
        /// The bytes read.
        seen: u64,
    },
    /// A location names no tag or digest where one is needed.
    #[error("{layout} names no tag or digest; add `:TAG` or `@DIGEST`")]
    NoTarget {
        /// The layout location.
        layout: String,
    },
    /// A digest that cannot name a blob.
    #[error("{layout}: {problem}")]
    BadDigest {
        /// The layout.
        layout: String,
        /// What is wrong.
        problem: String,
    },
    /// A blob is larger than allowed for what it is.
    #[error("the blob {} is {size} bytes, more than the {max} allowed", path.display())]
    TooLarge {
        /// The blob's file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: usize,
    },
    /// A file could not be read or written.
    #[error("{what} {}", path.display())]
    Io {
        /// What failed (`cannot read`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LayoutError {
    let path = path.to_path_buf();
    move |source| LayoutError::Io { what, path, source }
}

#[derive(Serialize, Deserialize)]
struct LayoutFile {
    #[serde(rename = "imageLayoutVersion")]
    version: String,
}

/// `index.json`: an OCI image index.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    pub(crate) manifests: Vec<Descriptor>,
    #[serde(flatten)]
    extra: BTreeMap<String, serde_json::Value>,
}

/// An OCI image layout directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
    /// How it is named in messages (`oci:DIR` or `oci-archive:FILE`).
    shown: String,
}

impl Layout {
    /// Opens an existing layout: its `oci-layout` file must say version 1.0.0.
    pub fn open(root: &Path) -> Result<Layout, LayoutError> {
        let file = root.join("oci-layout");
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound || root.is_file() => {
                return Err(LayoutError::NotALayout {
                    path: root.to_path_buf(),
                });
            }
            Err(e) => return Err(io("cannot read", &file)(e)),
        };
        let parsed: LayoutFile =
            serde_json::from_slice(&bytes).map_err(|source| LayoutError::Invalid {
                path: file.clone(),
                source,
            })?;
        if parsed.version != LAYOUT_VERSION {
            return Err(LayoutError::Version {
                path: file,
                version: parsed.version,
            });
        }
        Ok(Layout {
            root: root.to_path_buf(),
            shown: format!("oci:{}", root.display()),
        })
    }

    /// Opens the layout at `root`, creating it when `root` does not exist or is an empty
    /// directory (a directory with other files is refused rather than written into).
    pub fn create(root: &Path) -> Result<Layout, LayoutError> {
        if root.join("oci-layout").exists() {
            return Layout::open(root);
        }
        if let Ok(mut entries) = std::fs::read_dir(root)
            && entries.next().is_some()
        {
            return Err(LayoutError::NotALayout {
                path: root.to_path_buf(),
            });
        }
        std::fs::create_dir_all(root.join("blobs/sha256"))
            .map_err(io("cannot create the layout directory", root))?;
        let layout = Layout {
            root: root.to_path_buf(),
            shown: format!("oci:{}", root.display()),
        };
        layout.write_index(&Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_owned()),
            ..Index::default()
        })?;
        let version = serde_json::to_vec(&LayoutFile {
            version: LAYOUT_VERSION.to_owned(),
        })
        .unwrap_or_default();
        write_atomically(&root.join("oci-layout"), &version)?;
        Ok(layout)
    }

    /// Names the layout `shown` in messages.
    pub(crate) fn shown_as(mut self, shown: String) -> Self {
        self.shown = shown;
        self
    }

    /// How the layout is named in messages (`oci:DIR` or `oci-archive:FILE`).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `index.json`.
    pub(crate) fn index(&self) -> Result<Index, LayoutError> {
        let path = self.root.join("index.json");
        let bytes = std::fs::read(&path).map_err(io("cannot read", &path))?;
        serde_json::from_slice(&bytes).map_err(|source| LayoutError::Invalid { path, source })
    }

    fn write_index(&self, index: &Index) -> Result<(), LayoutError> {
        // Serialising strings and maps into memory cannot fail.
        let bytes = serde_json::to_vec(index).unwrap_or_default();
        write_atomically(&self.root.join("index.json"), &bytes)
    }

    /// The tags of the layout's manifests, in the order of `index.json`.
    pub fn tags(&self) -> Result<Vec<String>, LayoutError> {
        Ok(self
            .index()?
            .manifests
            .iter()
            .filter_map(|d| d.annotations.as_ref()?.get(REF_NAME).cloned())
            .collect())
    }

    /// The descriptor of the manifest `target` names: the last entry of `index.json` with the
    /// tag, or the entry (or any manifest blob) with the digest.
    pub fn resolve(&self, target: &LayoutTarget) -> Result<Descriptor, LayoutError> {
        let index = self.index()?;
        match target {
            LayoutTarget::Tag(tag) => index
                .manifests
                .iter()
                .rev()
                .find(|d| {
                    d.annotations
                        .as_ref()
                        .and_then(|a| a.get(REF_NAME))
                        .is_some_and(|t| t == tag)
                })
                .cloned()
                .ok_or_else(|| {
                    let tags = self.tags().unwrap_or_default();
                    LayoutError::UnknownTag {
                        layout: self.shown.clone(),
                        tag: tag.clone(),
                        known: if tags.is_empty() {
                            "none".into()
                        } else {
                            tags.join(", ")
                        },
                    }
                }),
            LayoutTarget::Digest(digest) => {
                if let Some(d) = index.manifests.iter().find(|d| &d.digest == digest) {
                    return Ok(d.clone());
                }
                // A manifest inside an index (or a referrer) has a blob but no entry.
                let bytes = self.read_blob(digest, crate::manifest::MAX_MANIFEST_BYTES)?;
                let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned))
                    .unwrap_or_else(|| OCI_MANIFEST.to_owned());
                Ok(Descriptor {
                    media_type,
                    digest: digest.clone(),
                    size: bytes.len() as i64,
                    ..Descriptor::default()
                })
            }
        }
    }

    /// The file of a blob; the digest is validated first.
    pub(crate) fn blob_path(&self, digest: &str) -> Result<PathBuf, LayoutError> {
        validate_digest(digest).map_err(|problem| LayoutError::BadDigest {
            layout: self.shown.clone(),
            problem,
        })?;
        let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        Ok(self.root.join("blobs").join(algorithm).join(hex))
    }

    /// Whether the layout has the blob (a file of the right size; its content is checked when
    /// read).
    pub fn has_blob(&self, digest: &str, size: u64) -> Result<bool, LayoutError> {
        let path = self.blob_path(digest)?;
        Ok(std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == size))
    }

    /// Opens a blob to stream it; the caller checks the digest with [`Self::verifier`].
    pub(crate) fn open_blob(&self, digest: &str) -> Result<(File, u64), LayoutError> {
        let path = self.blob_path(digest)?;
        let file = File::open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                LayoutError::MissingBlob {
                    layout: self.shown.clone(),
                    digest: digest.to_owned(),
                }
            } else {
                io("cannot read", &path)(e)
            }
        })?;
        let size = file.metadata().map_err(io("cannot read", &path))?.len();
        Ok((file, size))
    }

    /// The check of a blob's content as it streams: returns the error that names the file
    /// when the digest of what was read differs.
    pub(crate) fn check_digest(
        &self,
        digest: &str,
        hasher: StreamingDigest,
    ) -> Result<(), LayoutError> {
        let actual = hasher.finish();
        if actual == digest {
            return Ok(());
        }
        Err(LayoutError::CorruptBlob {
            path: self.blob_path(digest)?,
            actual,
        })
    }

    /// Reads a small blob whole (at most `max` bytes), checked against its digest.
    pub fn read_blob(&self, digest: &str, max: usize) -> Result<Vec<u8>, LayoutError> {
        let (file, size) = self.open_blob(digest)?;
        if size > max as u64 {
            return Err(LayoutError::TooLarge {
                path: self.blob_path(digest)?,
                size,
                max,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(max as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io("cannot read", &self.blob_path(digest)?))?;
        let mut hasher = StreamingDigest::for_digest(digest);
        hasher.update(&bytes);
        self.check_digest(digest, hasher)?;
        Ok(bytes)
    }

    /// A writer of a new blob: a temporary file under `blobs/`, renamed into place by
    /// [`BlobWriter::finish`] once its digest is checked.
    pub(crate) fn blob_writer(&self, digest: &str) -> Result<BlobWriter, LayoutError> {
        let target = self.blob_path(digest)?;
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        let temp = tempfile::Builder::new()
            .prefix(".wasm-blob-")
            .tempfile_in(&dir)
            .map_err(io("cannot create a temporary file in", &dir))?;
        Ok(BlobWriter {
            temp,
            target,
            hasher: StreamingDigest::for_digest(digest),
            digest: digest.to_owned(),
            written: 0,
        })
    }

    /// Writes a small blob held in memory.
    pub(crate) fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), LayoutError> {
        if self.has_blob(digest, bytes.len() as u64)? {
            return Ok(());
        }
        let mut writer = self.blob_writer(digest)?;
        writer.write(bytes)?;
        writer.finish(bytes.len() as u64)
    }

    /// Records a manifest (its blob already written) in `index.json`: under `tag` (replacing
    /// the manifest that had it), or untagged when no entry has its digest yet.
    pub(crate) fn add_manifest(
        &self,
        mut descriptor: Descriptor,
        tag: Option<&str>,
    ) -> Result<(), LayoutError> {
        let mut index = self.index()?;
        let tagged = |d: &Descriptor, tag: &str| {
            d.annotations
                .as_ref()
                .and_then(|a| a.get(REF_NAME))
                .is_some_and(|t| t == tag)
        };
        match tag {
            Some(tag) => {
                index.manifests.retain(|d| !tagged(d, tag));
                descriptor
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(REF_NAME.to_owned(), tag.to_owned());
                index.manifests.push(descriptor);
            }
            None => {
                if index
                    .manifests
                    .iter()
                    .any(|d| d.digest == descriptor.digest)
                {
                    return Ok(());
                }
                index.manifests.push(descriptor);
            }
        }
        self.write_index(&index)
    }
}

/// A blob being written into a layout.
pub(crate) struct BlobWriter {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
    hasher: StreamingDigest,
    digest: String,
    written: u64,
}

impl BlobWriter {
    /// Appends bytes.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), LayoutError> {
        self.temp
            .write_all(bytes)
            .map_err(io("cannot write", &self.target))?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Checks size and digest and moves the blob into place; on a mismatch the temporary file
    /// is removed and nothing is written.
    pub(crate) fn finish(self, size: u64) -> Result<(), LayoutError> {
        let actual = self.hasher.finish();
        if actual != self.digest || self.written != size {
            return Err(LayoutError::CorruptBlob {
                path: self.target,
                actual,
            });
        }
        self.temp
            .as_file()
            .sync_all()
            .map_err(io("cannot write", &self.target))?;
        crate::cache::set_readable(self.temp.path()).map_err(io("cannot write", &self.target))?;
        self.temp
            .persist(&self.target)
            .map_err(|e| LayoutError::Io {
                what: "cannot move into place",
                path: self.target.clone(),
                source: e.error,
            })?;
        Ok(())
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`. Not
/// `wasm-config`'s atomic writer: that one makes private (0600) files, and a layout is shared
/// content other tools read.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".wasm-")
        .tempfile_in(dir)
        .map_err(io("cannot create a temporary file in", dir))?;
    temp.write_all(bytes).map_err(io("cannot write", path))?;
    temp.as_file()
        .sync_all()
        .map_err(io("cannot write", path))?;
    crate::cache::set_readable(temp.path()).map_err(io("cannot write", path))?;
    temp.persist(path).map_err(|e| LayoutError::Io {
        what: "cannot write",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// A layout opened from a location: a directory, or an archive unpacked into a temporary
/// directory (packed again by [`OpenLayout::commit`] when written to).
pub struct OpenLayout {
    /// The layout.
    pub layout: Layout,
    /// The archive to write back to, and the temporary directory holding its content.
    archive: Option<(PathBuf, tempfile::TempDir)>,
}

impl OpenLayout {
    /// Opens the layout of `location` to read from it.
    pub fn read(location: &LayoutLocation) -> Result<OpenLayout, LayoutError> {
        let shown = location.with_target(None).to_string();
        if !location.archive {
            return Ok(OpenLayout {
                layout: Layout::open(&location.path)?.shown_as(shown),
                archive: None,
            });
        }
        let temp = unpack(&location.path)?;
        let layout = Layout::open(temp.path())
            .map_err(|e| in_archive(e, &location.path))?
            .shown_as(shown);
        Ok(OpenLayout {
            layout,
            archive: Some((location.path.clone(), temp)),
        })
    }

    /// Opens the layout of `location` to write into it, creating it if it does not exist.
    pub fn write(location: &LayoutLocation) -> Result<OpenLayout, LayoutError> {
        let shown = location.with_target(None).to_string();
        if !location.archive {
            return Ok(OpenLayout {
                layout: Layout::create(&location.path)?.shown_as(shown),
                archive: None,
            });
        }
        let temp = if location.path.exists() {
            unpack(&location.path)?
        } else {
            tempdir()?
        };
        let layout = Layout::create(temp.path())
            .map_err(|e| in_archive(e, &location.path))?
            .shown_as(shown);
        Ok(OpenLayout {
            layout,
            archive: Some((location.path.clone(), temp)),
        })
    }

    /// Finishes a write: an archive is packed and renamed over the old one.
    pub fn commit(self) -> Result<(), LayoutError> {
        if let Some((path, temp)) = &self.archive {
            pack(temp.path(), path)?;
        }
        Ok(())
    }
}

/// An archive without `oci-layout` is named as the archive, not the directory it was unpacked
/// into.
fn in_archive(e: LayoutError, archive: &Path) -> LayoutError {
    match e {
        LayoutError::NotALayout { .. } => LayoutError::NotALayoutArchive {
            path: archive.to_path_buf(),
        },
        other => other,
    }
}

fn tempdir() -> Result<tempfile::TempDir, LayoutError> {
    tempfile::Builder::new()
        .prefix("wasm-layout-")
        .tempdir()
        .map_err(io(
            "cannot create a temporary directory in",
            &std::env::temp_dir(),
        ))
}

/// Unpacks an archive into a temporary directory (the `tar` crate refuses entries that would
/// land outside it).
fn unpack(archive: &Path) -> Result<tempfile::TempDir, LayoutError> {
    let file = File::open(archive).map_err(io("cannot open the archive", archive))?;
    let temp = tempdir()?;
    tar::Archive::new(std::io::BufReader::new(file))
        .unpack(temp.path())
        .map_err(io("cannot unpack the archive", archive))?;
    Ok(temp)
}

/// Packs the layout at `root` into a tar at `archive`: `oci-layout`, the blobs, `index.json`
/// last; written beside `archive` and renamed over it.
fn pack(root: &Path, archive: &Path) -> Result<(), LayoutError> {
    let dir = match archive.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".wasm-archive-")
        .tempfile_in(dir)
        .map_err(io("cannot create a temporary file in", dir))?;
    let failed = io("cannot write the archive", archive);
    let result = (|| -> std::io::Result<()> {
        let mut builder = tar::Builder::new(std::io::BufWriter::new(temp.as_file()));
        builder.mode(tar::HeaderMode::Deterministic);
        builder.append_path_with_name(root.join("oci-layout"), "oci-layout")?;
        builder.append_dir("blobs", root.join("blobs"))?;
        let mut algorithms: Vec<_> = std::fs::read_dir(root.join("blobs"))?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        algorithms.sort();
        for algorithm in algorithms {
            let name = PathBuf::from("blobs").join(algorithm.file_name().unwrap_or_default());
            builder.append_dir(&name, &algorithm)?;
            let mut blobs: Vec<_> = std::fs::read_dir(&algorithm)?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            blobs.sort();
            for blob in blobs {
                builder.append_path_with_name(
                    &blob,
                    name.join(blob.file_name().unwrap_or_default()),
                )?;
            }
        }
        builder.append_path_with_name(root.join("index.json"), "index.json")?;
        builder.into_inner()?.flush()?;
        temp.as_file().sync_all()
    })();
    result.map_err(failed)?;
    crate::cache::set_readable(temp.path()).map_err(io("cannot write", archive))?;
    temp.persist(archive).map_err(|e| LayoutError::Io {
        what: "cannot write the archive",
        path: archive.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::sha256_digest;

    #[test]
    fn blobs_and_tags_round_trip_and_corruption_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("layout");
        let layout = Layout::create(&root).unwrap();
        let bytes = br#"{"schemaVersion":2}"#;
        let digest = sha256_digest(bytes);
        layout.put_blob(&digest, bytes).unwrap();
        let descriptor = Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest.clone(),
            size: bytes.len() as i64,
            ..Descriptor::default()
        };
        layout
            .add_manifest(descriptor.clone(), Some("1.0"))
            .unwrap();
        layout.add_manifest(descriptor, Some("1.0")).unwrap();
        let layout = Layout::open(&root).unwrap();
        assert_eq!(layout.tags().unwrap(), ["1.0"]);
        let found = layout.resolve(&LayoutTarget::Tag("1.0".into())).unwrap();
        assert_eq!(found.digest, digest);
        assert_eq!(layout.read_blob(&digest, 100).unwrap(), bytes);
        let e = layout
            .resolve(&LayoutTarget::Tag("2.0".into()))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("oci:{} has no tag `2.0` (its tags: 1.0)", root.display())
        );
        std::fs::write(layout.blob_path(&digest).unwrap(), b"{\"schemaVersion\":3}").unwrap();
        assert!(matches!(
            layout.read_blob(&digest, 100),
            Err(LayoutError::CorruptBlob { .. })
        ));
        let e = Layout::open(dir.path()).unwrap_err();
        assert!(matches!(e, LayoutError::NotALayout { .. }), "{e}");
        // An archive packs and unpacks to the same layout.
        let archive = dir.path().join("a.tar");
        pack(&root, &archive).unwrap();
        let location = LayoutLocation {
            path: archive,
            archive: true,
            target: None,
        };
        let opened = OpenLayout::read(&location).unwrap();
        assert_eq!(opened.layout.tags().unwrap(), ["1.0"]);
    }
}
