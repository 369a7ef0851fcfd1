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
use std::io::Write as _;

use crate::cache::Cache;
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

/// Fetches and checks the manifest of `reference`, and records it in the cache.
pub(crate) async fn fetch_manifest(
    session: &Session,
    reference: &Reference,
    cache: Option<&Cache>,
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
        .renewing(&ctx, &image, || {
            session
                .client
                .pull_manifest_raw(&image, &session.auth, ACCEPTED_MANIFESTS)
        })
        .await?;
    let wasm = check_manifest(&bytes, digest, reference, &session.registry)?;
    if let Some(cache) = cache {
        // The cache is an optimisation: failing to write it is logged, not fatal.
        let stored = cache
            .put_blob(&wasm.digest, &bytes)
            .and_then(|()| match reference.tag() {
                Some(tag) if reference.digest().is_none() => cache.set_ref(
                    reference.registry(),
                    reference.repository(),
                    tag,
                    &wasm.digest,
                ),
                _ => Ok(()),
            });
        if let Err(e) = stored {
            tracing::warn!("cannot write the cache at {}: {e}", cache.root().display());
        }
    }
    Ok(wasm)
}

/// Checks manifest bytes as a pull does (size limit, JSON, one `application/wasm` layer, the
/// Wasm config media type). For diagnosis and fuzzing.
pub fn check_manifest_bytes(bytes: &[u8], reference: &Reference) -> Result<(), RegistryError> {
    let digest = crate::component::sha256_digest(bytes);
    check_manifest(bytes, digest, reference, reference.registry()).map(|_| ())
}

/// Parses a Wasm config blob (`application/vnd.wasm.config.v0+json`) as oci-wasm defines it.
pub fn parse_wasm_config(bytes: &[u8]) -> Result<oci_wasm::WasmConfig, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Checks that a manifest describes a Wasm artifact: one `application/wasm` layer and the Wasm
/// config media type. `digest` is the manifest's digest; `registry` names the source in errors.
pub(crate) fn check_manifest(
    bytes: &[u8],
    digest: String,
    reference: &Reference,
    registry: &str,
) -> Result<WasmManifest, RegistryError> {
    let protocol = |problem: String| RegistryError::Protocol {
        registry: registry.to_string(),
        problem,
    };
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(protocol(format!(
            "the manifest of {reference} is {} bytes, more than the {MAX_MANIFEST_BYTES} allowed",
            bytes.len()
        )));
    }
    if let Some(expected) = reference.digest()
        && expected != digest
    {
        return Err(protocol(format!(
            "asked for {expected} but the manifest's digest is {digest}"
        )));
    }
    let not_wasm = |problem: String| RegistryError::NotWasmArtifact {
        reference: reference.to_string(),
        problem,
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        protocol(format!(
            "the manifest of {reference} is not valid JSON: {e}"
        ))
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
    let manifest: OciImageManifest = serde_json::from_value(value).map_err(|e| {
        protocol(format!(
            "the manifest of {reference} is not an OCI image manifest: {e}"
        ))
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
    crate::reference::validate_digest(&layer.digest)
        .map_err(|problem| protocol(format!("the layer of {reference}: {problem}")))?;
    if layer.size < 0 {
        return Err(protocol(format!(
            "the layer of {reference} has a negative size"
        )));
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

/// How to pull.
#[derive(Clone, Copy, Debug, Default)]
pub struct PullOptions {
    /// Serve the pull from the local cache only; fail when something is missing.
    pub offline: bool,
}

/// Pulls `reference` to `output` (see [`output_path`]).
///
/// With a cache ([`Transport::cache`]): the manifest is always fetched (one request) unless
/// offline, and a layer the cache already has is copied from it without a blob request.
pub async fn pull(
    transport: &Transport,
    reference: &Reference,
    output: Option<&Path>,
    options: PullOptions,
    progress: Arc<dyn Progress>,
) -> Result<PullOutcome, RegistryError> {
    let target = output_path(reference, output);
    let cache = transport.cache();
    if options.offline {
        return pull_offline(cache, reference, &target);
    }
    let session = transport
        .session(reference.registry(), reference.repository(), Action::Pull)
        .await?;
    let wasm = fetch_manifest(&session, reference, cache).await?;
    let expected_size = wasm.layer.size as u64;

    let cached = cache.and_then(|c| c.blob(&wasm.layer.digest, expected_size).map(|p| (c, p)));
    match cached {
        Some((cache, path)) => {
            tracing::info!(digest = %wasm.layer.digest, "layer served from the cache");
            cache
                .copy_out(&path, &target)
                .map_err(io_err("cannot write", &target))?;
        }
        None => {
            // A download that breaks for a transient reason starts again from the beginning,
            // into a fresh temporary file (the broken one is deleted).
            let what = format!("the download of {}", wasm.layer.digest);
            session
                .retry
                .run(&what, || {
                    download(&session, reference, &wasm, &target, cache, progress.clone())
                })
                .await?;
        }
    }
    if let Some(cache) = cache {
        let _ = cache.add_source(
            &wasm.layer.digest,
            reference.registry(),
            reference.repository(),
        );
    }
    Ok(PullOutcome {
        reference: reference.to_string(),
        digest: wasm.digest,
        path: target,
        layer_digest: wasm.layer.digest,
        size: expected_size,
    })
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError {
    let path = path.to_path_buf();
    move |source| RegistryError::Io { what, path, source }
}

/// Serves a pull from the cache alone.
fn pull_offline(
    cache: Option<&Cache>,
    reference: &Reference,
    target: &Path,
) -> Result<PullOutcome, RegistryError> {
    let missing = |what: String| RegistryError::Offline {
        reference: reference.to_string(),
        what,
    };
    let Some(cache) = cache else {
        return Err(missing(
            "there is no cache directory (set XDG_CACHE_HOME or HOME)".into(),
        ));
    };
    let digest = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(tag)) => cache
            .get_ref(reference.registry(), reference.repository(), tag)
            .ok_or_else(|| missing(format!("the tag `{tag}` has not been pulled before")))?,
        (None, None) => return Err(missing("the reference names no tag or digest".into())),
    };
    let bytes = cache
        .read_blob(&digest)
        .ok_or_else(|| missing(format!("its manifest {digest} is not in the cache")))?;
    let wasm = check_manifest(&bytes, digest, reference, reference.registry())?;
    let size = wasm.layer.size as u64;
    let blob = cache.blob(&wasm.layer.digest, size).ok_or_else(|| {
        missing(format!(
            "its layer {} is not in the cache",
            wasm.layer.digest
        ))
    })?;
    cache
        .copy_out(&blob, target)
        .map_err(io_err("cannot write", target))?;
    Ok(PullOutcome {
        reference: reference.to_string(),
        digest: wasm.digest,
        path: target.to_path_buf(),
        layer_digest: wasm.layer.digest,
        size,
    })
}

/// Streams the layer into the cache (or a temporary file beside `target` without a cache),
/// verifying size and digest, then moves it into place.
async fn download(
    session: &Session,
    reference: &Reference,
    wasm: &WasmManifest,
    target: &Path,
    cache: Option<&Cache>,
    progress: Arc<dyn Progress>,
) -> Result<(), RegistryError> {
    let image = reference.to_oci();
    let ctx = session.ctx(reference.repository(), reference.to_string(), Action::Pull);
    let expected_size = wasm.layer.size as u64;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };

    // Where the bytes go first: the cache's temporary file (verified there, then renamed into
    // the cache and copied to the target), or a temporary file beside the target.
    enum Sink {
        Cache(crate::cache::BlobWriter),
        Direct(tempfile::NamedTempFile, std::fs::File),
    }
    let mut sink = match cache.map(|c| c.blob_writer(false)) {
        Some(Ok(w)) => Sink::Cache(w),
        other => {
            if let Some(Err(e)) = other {
                tracing::warn!("cannot write the cache: {e}");
            }
            let temp = tempfile::Builder::new()
                .prefix(".wasm-pull-")
                .suffix(".part")
                .tempfile_in(&dir)
                .map_err(io_err("cannot create a temporary file in", &dir))?;
            let file = temp
                .reopen()
                .map_err(io_err("cannot open temporary file", temp.path()))?;
            Sink::Direct(temp, file)
        }
    };

    // The stream verifies the digest (and the registry's Docker-Content-Digest) and fails
    // before its end on a mismatch; the size is checked here as the bytes arrive.
    // An access token that expired since the manifest was read is renewed (`renewal`).
    let mut stream = session
        .renewing(&ctx, &image, || {
            session.client.pull_blob_stream(&image, &wasm.layer)
        })
        .await?;
    progress.begin("downloading", expected_size);
    let mut written: u64 = 0;
    let started = std::time::Instant::now();
    let stalled = || RegistryError::Stalled {
        registry: session.registry.clone(),
        what: format!("the download of {}", wasm.layer.digest),
        after: session.timeout,
    };
    loop {
        // No bytes for `timeout`, or less than 1 KiB/s on average once `timeout` has passed:
        // a stalled or trickling server fails in bounded time (and the download is retried).
        let next = tokio::time::timeout(session.timeout, stream.next())
            .await
            .map_err(|_| stalled())?;
        let elapsed = started.elapsed();
        if elapsed > session.timeout && written < elapsed.as_secs() * 1024 {
            return Err(stalled());
        }
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| match e.get_ref().map(|inner| inner.to_string()) {
            Some(text) if text.to_ascii_lowercase().contains("digest") => RegistryError::Protocol {
                registry: session.registry.clone(),
                problem: format!("the layer of {reference} does not match its digest: {text}"),
            },
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
        // Plain blocking writes: NOTES.md measured them faster than async file writes, and a
        // write to the page cache does not stall the single-threaded runtime for long.
        let result = match &mut sink {
            Sink::Cache(w) => w.write_all(&chunk),
            Sink::Direct(_, f) => f.write_all(&chunk),
        };
        result.map_err(io_err("cannot write the download of", target))?;
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
    match sink {
        Sink::Cache(w) => {
            let cache = cache.expect("a cache sink has a cache");
            let blob = w
                .finish(&wasm.layer.digest, expected_size)
                .map_err(io_err("cannot store in the cache", cache.root()))?;
            cache
                .copy_out(&blob, target)
                .map_err(io_err("cannot write", target))?;
        }
        Sink::Direct(temp, file) => {
            file.sync_all()
                .map_err(io_err("cannot write", temp.path()))?;
            drop(file);
            crate::cache::set_readable(temp.path())
                .map_err(io_err("cannot set permissions of", temp.path()))?;
            temp.persist(target).map_err(|e| RegistryError::Io {
                what: "cannot move the download into place at",
                path: target.to_path_buf(),
                source: e.error,
            })?;
        }
    }
    Ok(())
}

/// Pulls several references concurrently, at most `jobs` at a time; one result per item, in
/// the order given. Sessions (credentials, connections, tokens) are shared per registry.
pub async fn pull_all(
    transport: &Transport,
    items: &[(Reference, PathBuf)],
    options: PullOptions,
    jobs: usize,
) -> Vec<Result<PullOutcome, RegistryError>> {
    use futures_util::stream::{self, StreamExt as _};
    let progress: Arc<dyn Progress> = Arc::new(crate::progress::NoProgress);
    let mut results: Vec<(usize, Result<PullOutcome, RegistryError>)> =
        stream::iter(items.iter().enumerate())
            .map(|(i, (reference, path))| {
                let progress = progress.clone();
                async move {
                    (
                        i,
                        pull(transport, reference, Some(path), options, progress).await,
                    )
                }
            })
            .buffer_unordered(jobs.max(1))
            .collect()
            .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}
