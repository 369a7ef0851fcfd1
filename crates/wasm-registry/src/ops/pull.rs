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
use serde::Serialize;
use std::io::Write as _;

use crate::cache::Cache;
use crate::error::{RegistryError, classify_transport};
use crate::manifest::{WasmManifest, check_manifest};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::session::{Session, Transport};

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

/// Fetches and checks the manifest of `reference`, and records it in the cache.
pub(crate) async fn fetch_manifest(
    session: &Session,
    reference: &Reference,
    cache: Option<&Cache>,
) -> Result<WasmManifest, RegistryError> {
    let wanted = reference.digest().or(reference.tag()).unwrap_or("latest");
    let raw = session
        .get_manifest(reference.repository(), wanted, &reference.to_string())
        .await?;
    let wasm = check_manifest(&raw.bytes, raw.digest, reference)?;
    if let Some(cache) = cache {
        // The cache is an optimisation: failing to write it is logged, not fatal.
        let stored =
            cache
                .put_blob(&wasm.digest, &raw.bytes)
                .and_then(|()| match reference.tag() {
                    Some(tag) if reference.digest().is_none() => cache.set_ref(
                        reference.registry().as_str(),
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
    // A reference pinned by digest whose manifest the cache holds needs no request for it:
    // the cached bytes are checked against the digest.
    let pinned = reference
        .digest()
        .and_then(|digest| Some((digest, cache?.read_blob(digest)?)));
    let (wasm, mut session) = match pinned {
        Some((digest, bytes)) => {
            tracing::info!(%digest, "manifest served from the cache");
            (check_manifest(&bytes, digest.to_owned(), reference)?, None)
        }
        None => {
            let session = transport
                .session(reference.registry(), reference.repository())
                .await?;
            (
                fetch_manifest(&session, reference, cache).await?,
                Some(session),
            )
        }
    };
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
            let session = match session.take() {
                Some(session) => session,
                None => {
                    transport
                        .session(reference.registry(), reference.repository())
                        .await?
                }
            };
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
            reference.registry().as_str(),
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
            .get_ref(reference.registry().as_str(), reference.repository(), tag)
            .ok_or_else(|| missing(format!("the tag `{tag}` has not been pulled before")))?,
        (None, None) => return Err(missing("the reference names no tag or digest".into())),
    };
    let bytes = cache
        .read_blob(&digest)
        .ok_or_else(|| missing(format!("its manifest {digest} is not in the cache")))?;
    let wasm = check_manifest(&bytes, digest, reference)?;
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
    // The cache keeps sha256 blobs only.
    let cache = cache.filter(|_| wasm.layer.digest.starts_with("sha256:"));
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

    // The digest is computed as the bytes arrive and checked at the end, before the file is
    // moved into place; the size is checked as the bytes arrive.
    let response = session
        .get_blob(
            reference.repository(),
            &wasm.layer.digest,
            &reference.to_string(),
        )
        .await?;
    let mut stream = response.bytes_stream();
    let mut hasher = crate::component::StreamingDigest::for_digest(&wasm.layer.digest);
    progress.begin("downloading", expected_size);
    let mut written: u64 = 0;
    let started = std::time::Instant::now();
    let stalled = || RegistryError::Stalled {
        registry: session.registry.to_string(),
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
        let chunk = chunk.map_err(|e| {
            classify_transport(
                session.registry.as_str(),
                &format!("download of {}", wasm.layer.digest),
                Box::new(e),
            )
        })?;
        written += chunk.len() as u64;
        if written > expected_size {
            return Err(RegistryError::Protocol {
                registry: session.registry.to_string(),
                problem: format!(
                    "the layer of {reference} is longer than its declared size of {expected_size} bytes"
                ),
            });
        }
        // Plain blocking writes: measured faster than async file writes (docs/registries.md), and a
        // write to the page cache does not stall the single-threaded runtime for long.
        let result = match &mut sink {
            Sink::Cache(w) => w.write_all(&chunk),
            Sink::Direct(_, f) => f.write_all(&chunk),
        };
        result.map_err(io_err("cannot write the download of", target))?;
        hasher.update(&chunk);
        progress.advance(chunk.len() as u64);
    }
    progress.end();
    if written != expected_size {
        return Err(RegistryError::Protocol {
            registry: session.registry.to_string(),
            problem: format!(
                "the layer of {reference} ended after {written} of {expected_size} bytes"
            ),
        });
    }
    let actual = hasher.finish();
    if actual != wasm.layer.digest {
        return Err(RegistryError::Protocol {
            registry: session.registry.to_string(),
            problem: format!(
                "the layer of {reference} does not match its digest: expected {}, got {actual}",
                wasm.layer.digest
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
