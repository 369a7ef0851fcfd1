//! `push`: one Wasm file as an OCI artifact in the layout oci-wasm defines.
//!
//! The file is validated (and hashed) in one streaming pass before any network traffic; then
//! blobs the registry already has are skipped, the layer streams from the file in one
//! monolithic upload (NOTES.md: chunked uploads are 15-50 % slower against distribution), and
//! the manifest is written last, so a failed push never leaves a tag pointing at missing blobs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt as _;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_wasm::{WASM_LAYER_MEDIA_TYPE, WASM_MANIFEST_CONFIG_MEDIA_TYPE, WASM_MANIFEST_MEDIA_TYPE};
use serde::Serialize;

use crate::component::{WasmFile, WasmKind, check_file, digest_file, sha256_digest};
use crate::error::{Action, RegistryError};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::transport::Transport;

/// The annotation for the creation time.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// The annotation for a layer's file name.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    /// The reference as given.
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// `REGISTRY/REPOSITORY@DIGEST`.
    pub pinned: String,
    /// The file that was pushed.
    pub file: WasmFile,
    /// Bytes uploaded (0 when the registry had every blob).
    pub uploaded_bytes: u64,
    /// Blobs skipped because the registry had them.
    pub skipped_blobs: usize,
}

/// Pushes the Wasm file at `path` to `reference` with extra manifest `annotations`.
pub async fn push(
    transport: &Transport,
    reference: &Reference,
    path: &Path,
    annotations: &BTreeMap<String, String>,
    progress: Arc<dyn Progress>,
) -> Result<PushOutcome, RegistryError> {
    // First the digest (fast). Then full validation: before anything is sent for a small
    // file; for a large one, on another thread while the layer uploads — the upload's last
    // bytes wait for the verdict, so an invalid file never becomes a blob in the registry, and
    // nothing else (config, manifest) is sent. See docs/benchmarks.md for why.
    let hashed_path = path.to_path_buf();
    let (digest, size) = tokio::task::spawn_blocking(move || digest_file(&hashed_path))
        .await
        .map_err(|e| RegistryError::Setup(format!("hashing crashed: {e}")))??;
    let (gate, gate_rx) = tokio::sync::watch::channel(None::<bool>);
    let checked_path = path.to_path_buf();
    let expected = digest.clone();
    let mut validation = tokio::task::spawn_blocking(move || {
        let checked = check_file(&checked_path).and_then(|file| {
            if file.digest == expected {
                Ok(file)
            } else {
                Err(crate::component::ComponentError::Changed {
                    path: checked_path.display().to_string(),
                })
            }
        });
        let _ = gate.send(Some(checked.is_ok()));
        checked
    });
    let mut validated = None;
    if size <= VALIDATE_FIRST_MAX {
        validated = Some(join_validation(&mut validation).await?);
    }

    let session = transport
        .session(reference.registry(), reference.repository(), Action::Push)
        .await?;
    let image = reference.to_oci();
    let ctx = session.ctx(reference.repository(), reference.to_string(), Action::Push);
    let client = &session.client;

    // Surface authentication problems before any upload (oci-client swallows them later).
    let token = client
        .auth(&image, &session.auth, oci_client::RegistryOperation::Push)
        .await
        .map_err(|e| ctx.classify(e))?;
    let ctx = ctx.authenticated(&token);

    let mut uploaded_bytes = 0;
    let mut skipped_blobs = 0;

    // Every request from here on renews an access token the registry stops accepting and is
    // repeated once (`renewal`): a long upload may outlive the token.
    let (image_ref, digest_ref) = (&image, &digest);

    // The layer: skip it when the registry has it, else stream it from the file.
    let exists = session
        .renewing(&ctx, &image, || client.blob_exists(&image, &digest))
        .await?;
    let mounted = !exists
        && mount_from_known_repository(transport, reference, &image, &session, &digest).await;
    if exists || mounted {
        tracing::debug!(digest = %digest, mounted, "layer already in the registry");
        skipped_blobs += 1;
    } else {
        progress.begin("uploading", size);
        // A repeated attempt streams the file again from its start, in a new upload session.
        let timeout = session.timeout;
        let stalled = &std::sync::atomic::AtomicBool::new(false);
        let uploaded = session
            .renewing_streaming(&ctx, &image, || {
                let progress_in_stream = progress.clone();
                let gate = gate_rx.clone();
                async move {
                    let reader = tokio::fs::File::open(path).await?;
                    // The registry reads the body as fast as it stores it: when it stops
                    // reading for `timeout`, the upload fails (and is retried).
                    let watchdog = crate::retry::Watchdog::new();
                    let touch = watchdog.clone();
                    let stream = gated(
                        tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024),
                        gate,
                    )
                    .map(move |chunk| {
                        touch.touch();
                        chunk
                            .inspect(|b| progress_in_stream.advance(b.len() as u64))
                            .map_err(oci_client::errors::OciDistributionError::from)
                    });
                    tokio::select! {
                        result = client.push_blob_stream(
                            image_ref,
                            stream,
                            digest_ref,
                            Some(size),
                        ) => result,
                        () = watchdog.stalled(timeout) => {
                            stalled.store(true, std::sync::atomic::Ordering::Relaxed);
                            Err(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                format!(
                                    "the upload made no progress for {} s (timed out)",
                                    timeout.as_secs()
                                ),
                            )
                            .into())
                        }
                    }
                }
            })
            .await;
        progress.end();
        if let Err(upload_error) = uploaded {
            // An invalid file fails the upload on purpose: report why it is invalid.
            if validated.is_none() {
                join_validation(&mut validation).await?;
            }
            if stalled.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(RegistryError::Stalled {
                    registry: session.registry.clone(),
                    what: format!("the upload of {digest}"),
                    after: timeout,
                });
            }
            return Err(upload_error);
        }
        uploaded_bytes += size;
    }

    // The layer is in place (or was already): the file must have passed validation.
    let file = match validated {
        Some(file) => file,
        None => join_validation(&mut validation).await?,
    };

    // The config's `created` is the file's modification time (or SOURCE_DATE_EPOCH), not the
    // time of the push: pushing the same file again yields the same config blob, so a re-push
    // uploads nothing. The manifest's annotation records when it was pushed.
    let config_created = source_date_epoch()
        .or_else(|| file_mtime(path))
        .map(rfc3339)
        .unwrap_or_else(now_rfc3339);
    let created = source_date_epoch().map(rfc3339).unwrap_or_else(now_rfc3339);
    let config = oci_wasm::WasmConfig {
        created: config_created
            .parse()
            .map_err(|_| RegistryError::Setup(format!("invalid time {config_created}")))?,
        author: None,
        architecture: oci_wasm::WASM_ARCHITECTURE.to_string(),
        os: file.kind.os().to_string(),
        layer_digests: vec![file.digest.clone()],
        component: (file.kind == WasmKind::Component).then(|| oci_wasm::Component {
            exports: file.exports.clone(),
            imports: file.imports.clone(),
            target: None,
        }),
    };
    let config_bytes = serde_json::to_vec(&config)
        .map_err(|e| RegistryError::Setup(format!("cannot encode the config: {e}")))?;
    let config_digest = sha256_digest(&config_bytes);

    let title = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut manifest_annotations = BTreeMap::new();
    manifest_annotations.insert(ANNOTATION_CREATED.to_string(), created);
    manifest_annotations.extend(annotations.clone());
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(WASM_MANIFEST_MEDIA_TYPE.to_string()),
        config: OciDescriptor {
            media_type: WASM_MANIFEST_CONFIG_MEDIA_TYPE.to_string(),
            digest: config_digest.clone(),
            size: config_bytes.len() as i64,
            ..Default::default()
        },
        layers: vec![OciDescriptor {
            media_type: WASM_LAYER_MEDIA_TYPE.to_string(),
            digest: file.digest.clone(),
            size: file.size as i64,
            annotations: (!title.is_empty())
                .then(|| BTreeMap::from([(ANNOTATION_TITLE.to_string(), title)])),
            ..Default::default()
        }],
        annotations: Some(manifest_annotations),
        ..Default::default()
    };
    let manifest_bytes = serde_json::to_vec(&manifest)
        .map_err(|e| RegistryError::Setup(format!("cannot encode the manifest: {e}")))?;

    if session
        .renewing(&ctx, &image, || client.blob_exists(&image, &config_digest))
        .await?
    {
        skipped_blobs += 1;
    } else {
        uploaded_bytes += config_bytes.len() as u64;
        session
            .renewing(&ctx, &image, || {
                client.push_blob(&image, config_bytes.clone(), &config_digest)
            })
            .await?;
    }

    let digest = sha256_digest(&manifest_bytes);
    session
        .renewing(&ctx, &image, || {
            client.push_manifest_raw(
                &image,
                manifest_bytes.clone(),
                reqwest::header::HeaderValue::from_static(WASM_MANIFEST_MEDIA_TYPE),
            )
        })
        .await?;

    if let Some(cache) = transport.cache() {
        for digest in [&file.digest, &config_digest] {
            let _ = cache.add_source(digest, reference.registry(), reference.repository());
        }
    }

    Ok(PushOutcome {
        reference: reference.to_string(),
        pinned: reference.pinned(&digest),
        digest,
        file,
        uploaded_bytes,
        skipped_blobs,
    })
}

/// Files up to this size are validated completely before anything is sent (it takes well under
/// 0.1 s); larger ones are validated while their layer uploads.
const VALIDATE_FIRST_MAX: u64 = 16 << 20;

/// Waits for the validation thread; its error (an invalid file) wins over any upload error.
async fn join_validation(
    validation: &mut tokio::task::JoinHandle<Result<WasmFile, crate::component::ComponentError>>,
) -> Result<WasmFile, RegistryError> {
    validation
        .await
        .map_err(|e| RegistryError::Setup(format!("validation crashed: {e}")))?
        .map_err(RegistryError::from)
}

/// Passes a file's chunks on, but holds the last one until `gate` says the file is valid (and
/// fails the stream, so that the upload is abandoned before the registry commits it, if not).
fn gated<S>(
    stream: S,
    gate: tokio::sync::watch::Receiver<Option<bool>>,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>>
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
{
    futures_util::stream::unfold(
        (Box::pin(stream.peekable()), gate),
        |(mut stream, mut gate)| async move {
            let item = stream.next().await?;
            if item.is_ok() && stream.as_mut().peek().await.is_none() {
                let valid = gate
                    .wait_for(Option::is_some)
                    .await
                    .is_ok_and(|v| *v == Some(true));
                if !valid {
                    let refused = std::io::Error::other("the file did not pass validation");
                    return Some((Err(refused), (stream, gate)));
                }
            }
            Some((item, (stream, gate)))
        },
    )
}

/// Asks the registry to mount `digest` from another repository of the same registry that the
/// local cache knows holds it (a cross-repository mount: no bytes are sent). Returns whether it
/// worked; a refusal (e.g. no pull access to the source) just means an upload follows.
async fn mount_from_known_repository(
    transport: &Transport,
    reference: &Reference,
    image: &oci_client::Reference,
    session: &crate::transport::Session,
    digest: &str,
) -> bool {
    let Some(cache) = transport.cache() else {
        return false;
    };
    let prefix = format!("{}/", reference.registry());
    for source in cache.sources(digest) {
        let Some(repository) = source.strip_prefix(&prefix) else {
            continue;
        };
        if repository == reference.repository() {
            continue;
        }
        let from = oci_client::Reference::with_digest(
            reference.registry().to_string(),
            repository.to_string(),
            digest.to_string(),
        );
        match session.client.mount_blob(image, &from, digest).await {
            Ok(()) => {
                tracing::info!(
                    digest,
                    from = repository,
                    "mounted the layer from another repository"
                );
                return true;
            }
            Err(e) => tracing::debug!(digest, from = repository, "mount refused: {e}"),
        }
    }
    false
}

/// SOURCE_DATE_EPOCH (reproducible builds), if set to a number of seconds.
fn source_date_epoch() -> Option<u64> {
    std::env::var("SOURCE_DATE_EPOCH").ok()?.trim().parse().ok()
}

/// The file's modification time in seconds since the epoch.
fn file_mtime(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The current time as RFC 3339 UTC with seconds, e.g. `2026-11-24T09:00:00Z`.
///
/// By hand because pulling a date crate in for one timestamp is not worth it: days from the
/// epoch to a civil date (Howard Hinnant's algorithm).
pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let (year, month, day, h, m, sec) = civil(secs as i64);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}Z")
}

/// Year, month, day, hour, minute, second (UTC) of a Unix time: Howard Hinnant's
/// `civil_from_days`, proleptic Gregorian calendar.
pub(crate) fn civil(timestamp: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = timestamp.div_euclid(86_400);
    let secs = timestamp.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Pushes several files concurrently, at most `jobs` at a time; one result per item, in the
/// order given.
pub async fn push_all(
    transport: &Transport,
    items: &[(Reference, std::path::PathBuf)],
    annotations: &BTreeMap<String, String>,
    jobs: usize,
) -> Vec<Result<PushOutcome, RegistryError>> {
    use futures_util::stream::{self, StreamExt as _};
    let progress: Arc<dyn Progress> = Arc::new(crate::progress::NoProgress);
    let mut results: Vec<(usize, Result<PushOutcome, RegistryError>)> =
        stream::iter(items.iter().enumerate())
            .map(|(i, (reference, path))| {
                let progress = progress.clone();
                async move {
                    (
                        i,
                        push(transport, reference, path, annotations, progress).await,
                    )
                }
            })
            .buffer_unordered(jobs.max(1))
            .collect()
            .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_510_861), "2026-11-24T09:01:01Z");
    }
}
