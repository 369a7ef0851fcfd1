//! `push`, `pull` and `inspect` on OCI image layouts (`oci:DIR:TAG`, `oci-archive:FILE:TAG`):
//! the same artifact in the same oci-wasm form as in a registry, with no network at all.
//!
//! What must stay true: as for registries, a pulled file is complete and verified or not
//! there (it streams into a temporary file beside the target, checked against its digest, then
//! renamed); a pushed artifact's blobs are in place before `index.json` names it.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use oci_wasm::WASM_MANIFEST_MEDIA_TYPE;

use crate::component::{StreamingDigest, check_file, sha256_digest};
use crate::error::RegistryError;
use crate::layout::{Layout, LayoutError, OpenLayout};
use crate::location::{LayoutLocation, LayoutTarget};
use crate::manifest::{MAX_MANIFEST_BYTES, WasmManifest, check_manifest_of};
use crate::ops::pull::PullOutcome;
use crate::ops::push::{PushOutcome, manifest_of, wasm_config_blob};
use crate::ops::query::{Inspection, MAX_CONFIG_BYTES, inspection_of};

/// The tag a push or pull names, or the error saying to add one.
fn target_of(location: &LayoutLocation) -> Result<&LayoutTarget, LayoutError> {
    location
        .target
        .as_ref()
        .ok_or_else(|| LayoutError::NoTarget {
            layout: location.to_string(),
        })
}

/// Pushes the Wasm file at `path` into the layout under the location's tag.
pub fn push_to_layout(
    location: &LayoutLocation,
    path: &Path,
    annotations: &BTreeMap<String, String>,
) -> Result<PushOutcome, RegistryError> {
    let tag = match target_of(location)? {
        LayoutTarget::Tag(tag) => tag.clone(),
        LayoutTarget::Digest(_) => {
            return Err(LayoutError::NoTarget {
                layout: location.with_target(None).to_string(),
            }
            .into());
        }
    };
    let file = check_file(path)?;
    let (config, config_digest) = wasm_config_blob(&file, path)?;
    let manifest = manifest_of(&file, path, &config, &config_digest, annotations)?;
    let digest = sha256_digest(&manifest);
    let opened = OpenLayout::write(location)?;
    let layout = &opened.layout;
    let mut uploaded_bytes = 0;
    let mut skipped_blobs = 0;
    if layout.has_blob(&file.digest, file.size)? {
        skipped_blobs += 1;
    } else {
        copy_file_into(layout, path, &file.digest, file.size)?;
        uploaded_bytes += file.size;
    }
    if layout.has_blob(&config_digest, config.len() as u64)? {
        skipped_blobs += 1;
    } else {
        layout.put_blob(&config_digest, &config)?;
        uploaded_bytes += config.len() as u64;
    }
    layout.put_blob(&digest, &manifest)?;
    layout.add_manifest(
        crate::manifest::Descriptor {
            media_type: WASM_MANIFEST_MEDIA_TYPE.to_owned(),
            digest: digest.clone(),
            size: manifest.len() as i64,
            ..Default::default()
        },
        Some(&tag),
    )?;
    opened.commit()?;
    Ok(PushOutcome {
        reference: location.to_string(),
        pinned: location
            .with_target(Some(LayoutTarget::Digest(digest.clone())))
            .to_string(),
        digest,
        file,
        uploaded_bytes,
        skipped_blobs,
    })
}

/// Streams a local file into a layout blob, checked against `digest` (the file may change
/// between validation and copy).
fn copy_file_into(
    layout: &Layout,
    path: &Path,
    digest: &str,
    size: u64,
) -> Result<(), RegistryError> {
    let io = |source| RegistryError::Io {
        what: "cannot read",
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut writer = layout.blob_writer(digest)?;
    let mut buffer = vec![0; 256 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        writer.write(&buffer[..n])?;
    }
    writer.finish(size).map_err(|e| match e {
        LayoutError::CorruptBlob { .. } => {
            RegistryError::Component(crate::component::ComponentError::Changed {
                path: path.display().to_string(),
            })
        }
        other => other.into(),
    })
}

/// The checked Wasm manifest `target` names in `layout`.
fn wasm_manifest(layout: &Layout, target: &LayoutTarget) -> Result<WasmManifest, RegistryError> {
    let descriptor = layout.resolve(target)?;
    let bytes = layout.read_blob(&descriptor.digest, MAX_MANIFEST_BYTES)?;
    let expected = match target {
        LayoutTarget::Digest(d) => Some(d.as_str()),
        LayoutTarget::Tag(_) => None,
    };
    let shown = format!("{}{target}", layout.shown());
    check_manifest_of(&bytes, descriptor.digest, expected, &shown, layout.shown())
}

/// Where a pull from a layout writes: `output` (a file or a directory), or `NAME.wasm` with the
/// layout's file name.
fn output_path(location: &LayoutLocation, output: Option<&Path>) -> PathBuf {
    let stem = location
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty() && s != "." && s != "..")
        .unwrap_or_else(|| "layout".into());
    let file_name = format!("{stem}.wasm");
    match output {
        None => PathBuf::from(file_name),
        Some(p) if p.is_dir() => p.join(file_name),
        Some(p) => p.to_path_buf(),
    }
}

/// Pulls the component the location names into `output`.
pub fn pull_from_layout(
    location: &LayoutLocation,
    output: Option<&Path>,
) -> Result<PullOutcome, RegistryError> {
    let target = target_of(location)?.clone();
    let opened = OpenLayout::read(location)?;
    pull_from(&opened.layout, &target, &output_path(location, output))
}

/// Pulls the component `wanted` names in an open layout into the file `target` (what
/// `install --from` does for each locked package, with the archive unpacked once).
pub fn pull_from(
    layout: &Layout,
    wanted: &LayoutTarget,
    target: &Path,
) -> Result<PullOutcome, RegistryError> {
    let wasm = wasm_manifest(layout, wanted)?;
    let target = target.to_path_buf();
    let size = u64::try_from(wasm.layer.size).unwrap_or(0);
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| RegistryError::Io { what, path, source }
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".wasm-pull-")
        .suffix(".part")
        .tempfile_in(&dir)
        .map_err(io("cannot create a temporary file in", &dir))?;
    let (mut blob, _) = layout.open_blob(&wasm.layer.digest)?;
    let mut hasher = StreamingDigest::for_digest(&wasm.layer.digest);
    let mut buffer = vec![0; 256 * 1024];
    let mut seen = 0u64;
    let blob_path = layout.blob_path(&wasm.layer.digest)?;
    loop {
        let n = blob
            .read(&mut buffer)
            .map_err(io("cannot read", &blob_path))?;
        if n == 0 {
            break;
        }
        seen += n as u64;
        if seen > size {
            break;
        }
        hasher.update(&buffer[..n]);
        temp.write_all(&buffer[..n])
            .map_err(io("cannot write", &target))?;
    }
    if seen != size {
        return Err(LayoutError::WrongSize {
            path: blob_path,
            size,
            seen,
        }
        .into());
    }
    layout.check_digest(&wasm.layer.digest, hasher)?;
    temp.as_file()
        .sync_all()
        .map_err(io("cannot write", &target))?;
    crate::cache::set_readable(temp.path()).map_err(io("cannot write", &target))?;
    temp.persist(&target).map_err(|e| RegistryError::Io {
        what: "cannot move the file into place at",
        path: target.clone(),
        source: e.error,
    })?;
    Ok(PullOutcome {
        reference: format!("{}{wanted}", layout.shown()),
        digest: wasm.digest,
        path: target,
        layer_digest: wasm.layer.digest,
        size,
    })
}

/// Describes the component the location names from its manifest and config.
pub fn inspect_layout(location: &LayoutLocation) -> Result<Inspection, RegistryError> {
    let target = target_of(location)?.clone();
    let opened = OpenLayout::read(location)?;
    let wasm = wasm_manifest(&opened.layout, &target)?;
    let config = opened
        .layout
        .read_blob(&wasm.manifest.config.digest, MAX_CONFIG_BYTES)?;
    inspection_of(
        location.to_string(),
        wasm,
        &config,
        &location.with_target(None).to_string(),
    )
}
