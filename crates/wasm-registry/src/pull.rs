//! `pull`: fetch a Wasm artifact's manifest, check that it is one, and stream its layer to a
//! file.
//!
//! What must stay true: the output path holds either its old content or the complete,
//! verified component — never a partial or unverified file. The layer streams into a
//! temporary file beside the target (same file system), its size and digest are verified, and
//! only then is it renamed over the target. On any error the temporary file is removed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt as _;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_wasm::{WASM_LAYER_MEDIA_TYPE, WASM_MANIFEST_CONFIG_MEDIA_TYPE};
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;

use crate::error::{Action, RegistryError};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::transport::{Session, Transport};

/// Manifests larger than this are refused (registries cap them at 4 MiB too).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The manifest media types a pull accepts.
pub(crate) const ACCEPTED_MANIFESTS: &[&str] = &[
    oci_client::manifest::OCI_IMAGE_MEDIA_TYPE,
    oci_client::manifest::IMAGE_MANIFEST_MEDIA_TYPE,
    oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE,
];

/// What a pull did.
#[derive(Debug, Clone, Serialize)]
pub struct PullOutcome {
    /// The reference as given.
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// The file written.
    pub path: PathBuf,
    /// The layer's digest.
    pub layer_digest: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A Wasm artifact's manifest, checked.
pub(crate) struct WasmManifest {
    pub(crate) digest: String,
    pub(crate) manifest: OciImageManifest,
    pub(crate) layer: OciDescriptor,
}

/// Fetches and checks the manifest of `reference`.
pub(crate) async fn fetch_manifest(
    session: &Session,
    reference: &Reference,
) -> Result<WasmManifest, RegistryError> {
    let image = reference.to_oci();
    let ctx = session.ctx(reference.repository(), reference.to_string(), Action::Pull);
    let token = session
        .client
        .auth(&image, &session.auth, oci_client::RegistryOperation::Pull)
        .await
        .map_err(|e| ctx.classify(e))?;
    let ctx = ctx.authenticated(&token);
    let (bytes, digest) = session
        .client
        .pull_manifest_raw(&image, &session.auth, ACCEPTED_MANIFESTS)
        .await
        .map_err(|e| ctx.classify(e))?;
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(RegistryError::Protocol {
            registry: session.registry.clone(),
            problem: format!(
                "the manifest of {reference} is {} bytes, more than the {MAX_MANIFEST_BYTES} allowed",
                bytes.len()
            ),
        });
    }
    if let Some(expected) = reference.digest()
        && expected != digest
    {
        return Err(RegistryError::Protocol {
            registry: session.registry.clone(),
            problem: format!("asked for {expected} but the manifest's digest is {digest}"),
        });
    }
    let not_wasm = |problem: String| RegistryError::NotWasmArtifact {
        reference: reference.to_string(),
        problem,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
            registry: session.registry.clone(),
            problem: format!("the manifest of {reference} is not valid JSON: {e}"),
        })?;
    let media_type = value
        .get("mediaType")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if media_type == oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE
        || value.get("manifests").is_some()
    {
        return Err(not_wasm(
            "it is an image index (a multi-platform image), not a single Wasm artifact".into(),
        ));
    }
    let manifest: OciImageManifest =
        serde_json::from_value(value).map_err(|e| RegistryError::Protocol {
            registry: session.registry.clone(),
            problem: format!("the manifest of {reference} is not an OCI image manifest: {e}"),
        })?;
    if manifest.config.media_type != WASM_MANIFEST_CONFIG_MEDIA_TYPE {
        return Err(not_wasm(format!(
            "its config has media type `{}`, expected `{WASM_MANIFEST_CONFIG_MEDIA_TYPE}` (is it a \
             container image?)",
            manifest.config.media_type
        )));
    }
    let layer = match manifest.layers.as_slice() {
        [layer] if layer.media_type == WASM_LAYER_MEDIA_TYPE => layer.clone(),
        [layer] => {
            return Err(not_wasm(format!(
                "its layer has media type `{}`, expected `{WASM_LAYER_MEDIA_TYPE}`",
                layer.media_type
            )));
        }
        [] => return Err(not_wasm("it has no layer".into())),
        layers => {
            return Err(not_wasm(format!(
                "it has {} layers, expected one `{WASM_LAYER_MEDIA_TYPE}` layer",
                layers.len()
            )));
        }
    };
    crate::reference::validate_digest(&layer.digest).map_err(|problem| {
        RegistryError::Protocol {
            registry: session.registry.clone(),
            problem: format!("the layer of {reference}: {problem}"),
        }
    })?;
    if layer.size < 0 {
        return Err(RegistryError::Protocol {
            registry: session.registry.clone(),
            problem: format!("the layer of {reference} has a negative size"),
        });
    }
    Ok(WasmManifest {
        digest,
        manifest,
        layer,
    })
}

/// Where `wasm pull` writes when given `output` (a file, a directory, or nothing).
pub fn output_path(reference: &Reference, output: Option<&Path>) -> PathBuf {
    let file_name = format!("{}.wasm", reference.name());
    match output {
        None => PathBuf::from(file_name),
        Some(p) if p.is_dir() => p.join(file_name),
        Some(p) => p.to_path_buf(),
    }
}

/// Pulls `reference` to `output` (see [`output_path`]).
pub async fn pull(
    transport: &Transport,
    reference: &Reference,
    output: Option<&Path>,
    progress: Arc<dyn Progress>,
) -> Result<PullOutcome, RegistryError> {
    let target = output_path(reference, output);
    let session = transport
        .session(reference.registry(), reference.repository(), Action::Pull)
        .await?;
    let wasm = fetch_manifest(&session, reference).await?;
    let image = reference.to_oci();
    let ctx = session.ctx(reference.repository(), reference.to_string(), Action::Pull);
    let expected_size = wasm.layer.size as u64;

    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let io_err = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| RegistryError::Io { what, path, source }
    };
    let temp = tempfile::Builder::new()
        .prefix(".wasm-pull-")
        .suffix(".part")
        .tempfile_in(&dir)
        .map_err(io_err("cannot create a temporary file in", &dir))?;
    // The temporary file is deleted when `temp` drops, on every error path below.
    let mut out = tokio::fs::File::from_std(
        temp.reopen()
            .map_err(io_err("cannot open temporary file", temp.path()))?,
    );

    let mut stream = session
        .client
        .pull_blob_stream(&image, &wasm.layer)
        .await
        .map_err(|e| ctx.classify(e))?;
    progress.begin("downloading", expected_size);
    let mut written: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| match e.get_ref().map(|inner| inner.to_string()) {
            Some(text) if text.contains("digest") || text.contains("Digest") => {
                RegistryError::Protocol {
                    registry: session.registry.clone(),
                    problem: format!("the layer of {reference} does not match its digest: {text}"),
                }
            }
            _ => RegistryError::Request {
                registry: session.registry.clone(),
                action: format!("download of {}", wasm.layer.digest),
                source: Box::new(e),
            },
        })?;
        written += chunk.len() as u64;
        if written > expected_size {
            return Err(RegistryError::Protocol {
                registry: session.registry.clone(),
                problem: format!(
                    "the layer of {reference} is longer than its declared size of {expected_size} bytes"
                ),
            });
        }
        out.write_all(&chunk)
            .await
            .map_err(io_err("cannot write", temp.path()))?;
        progress.advance(chunk.len() as u64);
    }
    progress.end();
    if written != expected_size {
        return Err(RegistryError::Protocol {
            registry: session.registry.clone(),
            problem: format!(
                "the layer of {reference} ended after {written} of {expected_size} bytes"
            ),
        });
    }
    out.flush()
        .await
        .map_err(io_err("cannot write", temp.path()))?;
    out.sync_all()
        .await
        .map_err(io_err("cannot write", temp.path()))?;
    drop(out);
    // tempfile creates files readable by the owner only; a pulled component is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(io_err("cannot set permissions of", temp.path()))?;
    }
    temp.persist(&target).map_err(|e| RegistryError::Io {
        what: "cannot move the download into place at",
        path: target.clone(),
        source: e.error,
    })?;
    Ok(PullOutcome {
        reference: reference.to_string(),
        digest: wasm.digest,
        path: target,
        layer_digest: wasm.layer.digest,
        size: written,
    })
}
