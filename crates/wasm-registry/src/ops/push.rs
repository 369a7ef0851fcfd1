//! `push`: one Wasm file as an OCI artifact in the layout oci-wasm defines.
//!
//! The file is hashed, then validated (before any network traffic for a small file; while its
//! layer uploads for a large one). The existence checks of the layer and the config go out
//! together, blobs the registry already has are skipped (or mounted from another repository
//! the cache knows has them), the layer streams from the file in one monolithic upload
//! (chunked uploads are 15-50 % slower against distribution: docs/benchmarks.md) beside the
//! config's, and the manifest is written last, so a failed push never leaves a tag pointing
//! at missing blobs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{StreamExt as _, TryStreamExt as _};
use oci_wasm::{WASM_LAYER_MEDIA_TYPE, WASM_MANIFEST_CONFIG_MEDIA_TYPE, WASM_MANIFEST_MEDIA_TYPE};
use serde::Serialize;
use url::Url;

use crate::component::{WasmFile, WasmKind, check_file, digest_file, sha256_digest};
use crate::error::{Action, RegistryError};
use crate::manifest::{Descriptor, Manifest};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::session::{Session, Transport, Watchdog};

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
        .map_err(|source| RegistryError::Task {
            what: "hashing the file",
            source,
        })??;
    let (gate, gate_rx) = tokio::sync::watch::channel(None::<bool>);
    // A file a push validated before (same digest) is not validated again.
    let remembered = transport
        .cache()
        .and_then(|c| c.verdict(&digest))
        .filter(|file| file.size == size);
    if remembered.is_some() {
        tracing::info!(%digest, "validated by an earlier push (cache): not validating again");
    }
    let checked_path = path.to_path_buf();
    let expected = digest.clone();
    let known = remembered.clone();
    let mut validation = tokio::task::spawn_blocking(move || {
        if let Some(file) = known {
            let _ = gate.send(Some(true));
            return Ok(file);
        }
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
    if size <= VALIDATE_FIRST_MAX || remembered.is_some() {
        validated = Some(join_validation(&mut validation).await?);
    }

    let session = transport
        .session(reference.registry(), reference.repository())
        .await?;
    let repository = reference.repository();
    let mut uploaded_bytes = 0;
    let mut skipped_blobs = 0;

    // The config is known once the file is validated: for a small file, now, so that both
    // existence checks go out together.
    let early_config = validated
        .as_ref()
        .map(|file| wasm_config_blob(file, path))
        .transpose()?;
    let (layer_exists, config_exists) = match &early_config {
        Some((_, config_digest)) => {
            let (layer, config) = tokio::join!(
                session.blob_exists(repository, &digest, Action::Push),
                session.blob_exists(repository, config_digest, Action::Push),
            );
            (layer?, Some(config?))
        }
        None => (
            session
                .blob_exists(repository, &digest, Action::Push)
                .await?,
            None,
        ),
    };

    // The layer (a mount, an upload, or nothing) and the config upload go out together.
    let layer = async {
        if layer_exists {
            tracing::debug!(digest = %digest, "layer already in the registry");
            return Ok::<_, RegistryError>(false);
        }
        let reusable =
            match mount_from_known_repository(transport, reference, &session, &digest).await? {
                Mount::Mounted => return Ok(false),
                Mount::Refused(location) => location,
            };
        upload_layer(
            &session, repository, path, &digest, size, reusable, &gate_rx, &progress,
        )
        .await?;
        Ok(true)
    };
    let early_config_upload = async {
        match (&early_config, config_exists) {
            (Some((bytes, config_digest)), Some(false)) => session
                .push_small_blob(repository, config_digest, bytes)
                .await
                .map(|()| true),
            _ => Ok(false),
        }
    };
    let (layer_sent, config_sent) = tokio::join!(layer, early_config_upload);
    let layer_sent = match layer_sent {
        Ok(sent) => sent,
        Err(upload_error) => {
            // An invalid file fails the upload on purpose: report why it is invalid.
            if validated.is_none() {
                join_validation(&mut validation).await?;
            }
            return Err(upload_error);
        }
    };
    if layer_sent {
        uploaded_bytes += size;
    } else {
        skipped_blobs += 1;
    }

    // The layer is in place (or was already): the file must have passed validation.
    let file = match validated {
        Some(file) => file,
        None => join_validation(&mut validation).await?,
    };
    let (config_bytes, config_digest) = match early_config {
        Some(config) => {
            if config_sent? {
                uploaded_bytes += config.0.len() as u64;
            } else {
                skipped_blobs += 1;
            }
            config
        }
        None => {
            let (bytes, config_digest) = wasm_config_blob(&file, path)?;
            if session
                .blob_exists(repository, &config_digest, Action::Push)
                .await?
            {
                skipped_blobs += 1;
            } else {
                session
                    .push_small_blob(repository, &config_digest, &bytes)
                    .await?;
                uploaded_bytes += bytes.len() as u64;
            }
            (bytes, config_digest)
        }
    };

    if let Some(cache) = transport.cache()
        && remembered.is_none()
        && let Err(e) = cache.set_verdict(&file)
    {
        tracing::debug!("cannot remember the validation of {}: {e}", file.digest);
    }
    let manifest_bytes = manifest_of(&file, path, &config_bytes, &config_digest, annotations)?;
    let tag = reference.tag().unwrap_or("latest");
    let digest = session
        .put_manifest(
            repository,
            tag,
            &manifest_bytes,
            WASM_MANIFEST_MEDIA_TYPE,
            &reference.to_string(),
        )
        .await?;

    if let Some(cache) = transport.cache() {
        for blob in [&file.digest, &config_digest] {
            let _ = cache.add_source(blob, reference.registry().as_str(), repository);
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

/// The Wasm config of `file` and its digest.
///
/// Its `created` is the file's modification time (or SOURCE_DATE_EPOCH), not the time of the
/// push: pushing the same file again yields the same config blob, so a re-push uploads
/// nothing. The manifest's annotation records when it was pushed.
pub(crate) fn wasm_config_blob(
    file: &WasmFile,
    path: &Path,
) -> Result<(Vec<u8>, String), RegistryError> {
    let created = source_date_epoch()
        .or_else(|| file_mtime(path))
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .unwrap_or_else(chrono::Utc::now);
    let config = oci_wasm::WasmConfig {
        created,
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
    // Serialising a struct of strings into memory cannot fail.
    let bytes = serde_json::to_vec(&config).unwrap_or_default();
    let digest = sha256_digest(&bytes);
    Ok((bytes, digest))
}

/// The manifest bytes of `file` with its config and `annotations`.
pub(crate) fn manifest_of(
    file: &WasmFile,
    path: &Path,
    config_bytes: &[u8],
    config_digest: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, RegistryError> {
    let created = source_date_epoch()
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .unwrap_or_else(chrono::Utc::now);
    let title = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut manifest_annotations = BTreeMap::new();
    manifest_annotations.insert(ANNOTATION_CREATED.to_string(), rfc3339(created));
    manifest_annotations.extend(annotations.clone());
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(WASM_MANIFEST_MEDIA_TYPE.to_string()),
        config: Descriptor {
            media_type: WASM_MANIFEST_CONFIG_MEDIA_TYPE.to_string(),
            digest: config_digest.to_owned(),
            size: config_bytes.len() as i64,
            ..Default::default()
        },
        layers: vec![Descriptor {
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
    // Serialising a struct of strings into memory cannot fail.
    Ok(serde_json::to_vec(&manifest).unwrap_or_default())
}

/// Streams the file at `path` into a new upload session (or `reusable`, one the registry
/// opened when it refused a mount), retried as a whole; fails as stalled when the registry
/// stops reading for the session's timeout.
#[allow(clippy::too_many_arguments)]
async fn upload_layer(
    session: &Session,
    repository: &str,
    path: &Path,
    digest: &str,
    size: u64,
    reusable: Option<Url>,
    gate: &tokio::sync::watch::Receiver<Option<bool>>,
    progress: &Arc<dyn Progress>,
) -> Result<(), RegistryError> {
    let reusable = std::sync::Mutex::new(reusable);
    let timeout = session.timeout;
    progress.begin("uploading", size);
    let result = session
        .retry
        .run(&format!("the upload of {digest}"), || async {
            let reused = reusable.lock().expect("poisoned").take();
            let location = match reused {
                Some(location) => location,
                None => match session.start_upload(repository, None).await? {
                    Some(location) => location,
                    None => return Ok(()),
                },
            };
            // The registry reads the body as fast as it stores it: when it stops reading for
            // `timeout`, the upload fails (and is retried in a new session).
            let watchdog = Watchdog::new();
            let body = {
                let (watchdog, path) = (watchdog.clone(), path.to_path_buf());
                let (gate, progress) = (gate.clone(), progress.clone());
                move || file_body(&path, &watchdog, &gate, &progress)
            };
            tokio::select! {
                result = session.finish_upload(repository, &location, digest, size, &body, None) => result,
                () = watchdog.stalled(timeout) => Err(RegistryError::Stalled {
                    registry: session.registry.to_string(),
                    what: format!("the upload of {digest}"),
                    after: timeout,
                }),
            }
        })
        .await;
    progress.end();
    result
}

/// The file as an upload body: read in 256 KiB chunks, each one noted by the watchdog and the
/// progress bar, the last one held until the file is known to be valid.
fn file_body(
    path: &Path,
    watchdog: &Watchdog,
    gate: &tokio::sync::watch::Receiver<Option<bool>>,
    progress: &Arc<dyn Progress>,
) -> reqwest::Body {
    let path: PathBuf = path.to_path_buf();
    let chunks = futures_util::stream::once(async move { tokio::fs::File::open(path).await })
        .map_ok(|file| tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024))
        .try_flatten();
    let (touch, progress) = (watchdog.clone(), progress.clone());
    let stream = gated(chunks, gate.clone()).map(move |chunk| {
        touch.touch();
        chunk.inspect(|b| progress.advance(b.len() as u64))
    });
    reqwest::Body::wrap_stream(stream)
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
        .map_err(|source| RegistryError::Task {
            what: "validating the file",
            source,
        })?
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

/// What a mount attempt gave.
enum Mount {
    /// The registry mounted the blob: nothing to send.
    Mounted,
    /// No mount (no known source, or refused); the upload session the registry opened
    /// instead, if it did, to send the blob to.
    Refused(Option<Url>),
}

/// Asks the registry to mount `digest` from another repository of the same registry that the
/// local cache knows holds it (a cross-repository mount: no bytes are sent). A refusal (e.g. no
/// pull access to the source) just means an upload follows, into the session the registry
/// opened instead.
async fn mount_from_known_repository(
    transport: &Transport,
    reference: &Reference,
    session: &Session,
    digest: &str,
) -> Result<Mount, RegistryError> {
    let Some(cache) = transport.cache() else {
        return Ok(Mount::Refused(None));
    };
    let prefix = format!("{}/", reference.registry());
    for source in cache.sources(digest) {
        let Some(from) = source.strip_prefix(&prefix) else {
            continue;
        };
        if from == reference.repository() {
            continue;
        }
        match session
            .start_upload(reference.repository(), Some((digest, from)))
            .await
        {
            Ok(None) => {
                tracing::info!(digest, from, "mounted the layer from another repository");
                return Ok(Mount::Mounted);
            }
            Ok(Some(location)) => {
                tracing::debug!(
                    digest,
                    from,
                    "mount refused; uploading into the session it opened"
                );
                return Ok(Mount::Refused(Some(location)));
            }
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => tracing::debug!(digest, from, "mount refused: {e}"),
        }
    }
    Ok(Mount::Refused(None))
}

/// SOURCE_DATE_EPOCH (reproducible builds), if set to a number of seconds.
fn source_date_epoch() -> Option<i64> {
    std::env::var("SOURCE_DATE_EPOCH").ok()?.trim().parse().ok()
}

/// The file's modification time in seconds since the epoch.
fn file_mtime(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// RFC 3339 UTC with seconds, e.g. `2026-11-24T09:00:00Z`.
pub(crate) fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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
        let at = |secs| super::rfc3339(chrono::DateTime::from_timestamp(secs, 0).unwrap());
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_510_861), "2026-11-24T09:01:01Z");
    }
}
