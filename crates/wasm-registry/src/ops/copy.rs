//! `copy`: an artifact from one place to another, registry or image layout, with everything
//! its manifest names (and, on request, everything attached to it: its referrers).
//!
//! Both ends are a [`Store`]: a registry repository on the one transport (its own session, so
//! its own credentials from the chain), or an OCI image layout. The manifest is copied byte for
//! byte, so its digest is unchanged; an index's manifests are copied before the index; the
//! blobs each manifest names are copied concurrently (at most `jobs` at a time) unless the
//! target has them, by a cross-repository mount when both ends are repositories of the same
//! registry, else streamed from source to target and checked against their digest as they
//! pass. The manifest is written last, so a copy that fails midway leaves the target without a
//! tag that points at missing blobs; a copy repeated after a failure sends only what is still
//! missing.
//!
//! Referrers (OCI distribution spec 1.1): found through the Referrers API
//! (`GET /v2/R/referrers/DIGEST`) where the registry answers it, else through the tag schema
//! (an image index tagged `sha256-HEX` listing them, what distribution 2.8.2 and GHCR need); in
//! a layout, as the manifests of `index.json` whose `subject` is the artifact. Written to a
//! registry that does not acknowledge the `subject` (no `OCI-Subject` header) by updating the
//! tag-schema index too.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;

use crate::component::StreamingDigest;
use crate::error::{RegistryError, classify_transport};
use crate::layout::{Layout, LayoutError, OpenLayout};
use crate::location::{LayoutTarget, Location};
use crate::manifest::{Descriptor, MAX_MANIFEST_BYTES, OCI_INDEX, OCI_MANIFEST};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::session::{Session, Transport, Watchdog};

/// How to copy.
#[derive(Clone, Copy, Debug)]
pub struct CopyOptions {
    /// Also copy the referrers of every manifest copied, recursively.
    pub referrers: bool,
    /// How many blobs to copy at once.
    pub jobs: usize,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            referrers: false,
            jobs: 4,
        }
    }
}

/// How the referrers of an artifact were found (or written).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferrersVia {
    /// The registry's Referrers API.
    Api,
    /// The `sha256-HEX` tag schema.
    TagSchema,
    /// The manifests of an image layout's `index.json`.
    Layout,
}

impl std::fmt::Display for ReferrersVia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReferrersVia::Api => "the Referrers API",
            ReferrersVia::TagSchema => "the sha256-<hex> tag schema",
            ReferrersVia::Layout => "the layout's index.json",
        })
    }
}

/// What a copy did.
#[derive(Clone, Debug, Serialize)]
pub struct CopyOutcome {
    /// The source as given.
    pub source: String,
    /// The target as given (with the tag written, if any).
    pub target: String,
    /// The manifest digest (the same at both ends).
    pub digest: String,
    /// Manifests written to the target.
    pub manifests_copied: usize,
    /// Manifests the target had already.
    pub manifests_present: usize,
    /// Blobs streamed to the target.
    pub blobs_copied: usize,
    /// Blobs mounted from the source repository (same registry: no bytes sent).
    pub blobs_mounted: usize,
    /// Blobs the target had already.
    pub blobs_present: usize,
    /// Bytes streamed.
    pub bytes_copied: u64,
    /// The referrers copied (digests), when asked to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<String>,
    /// How referrers were found at the source, when any were looked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrers_found_by: Option<ReferrersVia>,
}

/// One end of a copy: a registry repository or an image layout.
pub(crate) enum Store {
    /// A repository, with a session of its own identity.
    Registry {
        /// The session (boxed: it is large, the layout variant small).
        session: Box<Session>,
        /// The reference (its repository is the one used).
        reference: Reference,
    },
    /// An image layout.
    Layout(Layout),
}

/// Bytes as they stream.
pub(crate) type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// A manifest as read from a store.
pub(crate) struct Fetched {
    /// The bytes.
    pub(crate) bytes: Vec<u8>,
    /// Their digest.
    pub(crate) digest: String,
    /// The media type.
    pub(crate) media_type: String,
}

impl Store {
    /// Opens a registry store for `reference`.
    pub(crate) async fn registry(
        transport: &Transport,
        reference: &Reference,
    ) -> Result<Store, RegistryError> {
        let session = transport
            .session(reference.registry(), reference.repository())
            .await?;
        Ok(Store::Registry {
            session: Box::new(session),
            reference: reference.clone(),
        })
    }

    pub(crate) fn shown(&self) -> String {
        match self {
            Store::Registry { reference, .. } => reference.to_repository().to_string(),
            Store::Layout(layout) => layout.shown().to_owned(),
        }
    }

    /// The manifest `target` (a tag or digest) names.
    pub(crate) async fn manifest(&self, target: &str) -> Result<Fetched, RegistryError> {
        match self {
            Store::Registry { session, reference } => {
                let shown = format!("{}{}{target}", self.shown(), separator(target));
                let raw = session
                    .get_manifest(reference.repository(), target, &shown)
                    .await?;
                if target.contains(':') && raw.digest != target {
                    return Err(RegistryError::Protocol {
                        registry: session.registry.to_string(),
                        problem: format!(
                            "asked for {target} but the manifest's digest is {}",
                            raw.digest
                        ),
                    });
                }
                let media_type = media_type_of(&raw.bytes);
                Ok(Fetched {
                    bytes: raw.bytes,
                    digest: raw.digest,
                    media_type,
                })
            }
            Store::Layout(layout) => {
                let wanted = if target.contains(':') {
                    LayoutTarget::Digest(target.to_owned())
                } else {
                    LayoutTarget::Tag(target.to_owned())
                };
                let descriptor = layout.resolve(&wanted)?;
                let bytes = layout.read_blob(&descriptor.digest, MAX_MANIFEST_BYTES)?;
                Ok(Fetched {
                    bytes,
                    digest: descriptor.digest,
                    media_type: descriptor.media_type,
                })
            }
        }
    }

    /// Whether the store has the manifest `digest`, or `None` when it does not.
    async fn has_manifest(&self, digest: &str) -> Result<bool, RegistryError> {
        match self {
            Store::Registry { session, reference } => Ok(session
                .head_manifest(reference.repository(), digest, digest)
                .await?
                .is_some()),
            Store::Layout(layout) => Ok(layout.blob_path(digest).map(|p| p.is_file())?),
        }
    }

    /// The digest the tag points at now, if the store has the tag.
    async fn tag_digest(&self, tag: &str) -> Result<Option<String>, RegistryError> {
        match self {
            Store::Registry { session, reference } => Ok(session
                .head_manifest(reference.repository(), tag, tag)
                .await?
                .map(|head| head.digest)),
            Store::Layout(layout) => match layout.resolve(&LayoutTarget::Tag(tag.to_owned())) {
                Ok(descriptor) => Ok(Some(descriptor.digest)),
                Err(LayoutError::UnknownTag { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Whether the store has the blob.
    pub(crate) async fn has_blob(&self, blob: &Descriptor) -> Result<bool, RegistryError> {
        match self {
            Store::Registry { session, reference } => {
                session
                    .blob_exists(
                        reference.repository(),
                        &blob.digest,
                        crate::error::Action::Push,
                    )
                    .await
            }
            Store::Layout(layout) => Ok(layout.has_blob(&blob.digest, blob_size(blob))?),
        }
    }

    /// A blob's bytes as they stream (unchecked: see [`Checked`]). From a registry, a stream
    /// that breaks or makes no progress for the session's timeout ends with an error, recorded
    /// in `verdict` as the transient error it is (so the copy is tried again).
    async fn open_blob(
        &self,
        blob: &Descriptor,
        verdict: &Verdict,
    ) -> Result<ByteStream, RegistryError> {
        match self {
            Store::Registry { session, reference } => {
                let response = session
                    .get_blob(reference.repository(), &blob.digest, &self.shown())
                    .await?;
                let timeout = session.timeout;
                let registry = session.registry.to_string();
                let what = format!("the download of {}", blob.digest);
                let verdict = verdict.clone();
                let stream = futures_util::stream::unfold(
                    (response.bytes_stream(), false),
                    move |(mut inner, done)| {
                        let (registry, what, verdict) =
                            (registry.clone(), what.clone(), verdict.clone());
                        async move {
                            if done {
                                return None;
                            }
                            let error = match tokio::time::timeout(timeout, inner.next()).await {
                                Ok(None) => return None,
                                Ok(Some(Ok(chunk))) => return Some((Ok(chunk), (inner, false))),
                                Ok(Some(Err(e))) => {
                                    classify_transport(&registry, &what, Box::new(e))
                                }
                                Err(_) => RegistryError::Stalled {
                                    registry,
                                    what,
                                    after: timeout,
                                },
                            };
                            let io = std::io::Error::other(error.to_string());
                            verdict.set(error);
                            Some((Err(io), (inner, true)))
                        }
                    },
                );
                Ok(stream.boxed())
            }
            Store::Layout(layout) => {
                let (file, _) = layout.open_blob(&blob.digest)?;
                let file = tokio::fs::File::from_std(file);
                Ok(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).boxed())
            }
        }
    }

    /// Writes a manifest under `tag`, or by digest only; says whether the registry indexed its
    /// `subject` itself.
    pub(crate) async fn put_manifest(
        &self,
        fetched: &Fetched,
        tag: Option<&str>,
    ) -> Result<bool, RegistryError> {
        match self {
            Store::Registry { session, reference } => {
                let target = tag.unwrap_or(&fetched.digest);
                let shown = format!("{}{}{target}", self.shown(), separator(target));
                let put = session
                    .put_manifest_as(
                        reference.repository(),
                        target,
                        &fetched.bytes,
                        &fetched.media_type,
                        &shown,
                    )
                    .await?;
                Ok(put.subject)
            }
            Store::Layout(layout) => {
                layout.put_blob(&fetched.digest, &fetched.bytes)?;
                let mut descriptor = Descriptor {
                    media_type: fetched.media_type.clone(),
                    digest: fetched.digest.clone(),
                    size: fetched.bytes.len() as i64,
                    ..Descriptor::default()
                };
                if let Some(artifact_type) = artifact_type(&fetched.bytes) {
                    descriptor
                        .extra
                        .insert("artifactType".into(), artifact_type.into());
                }
                layout.add_manifest(descriptor, tag)?;
                Ok(false)
            }
        }
    }

    /// Writes a blob from the stream `open` gives (opened only when needed), or mounts it
    /// from `mount_from` (a repository of the same registry); `true` when it was mounted. One
    /// attempt: the caller retries the whole.
    pub(crate) async fn write_blob<F, Fut>(
        &self,
        blob: &Descriptor,
        mount_from: Option<&str>,
        open: F,
    ) -> Result<bool, RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Checked, RegistryError>>,
    {
        let size = blob_size(blob);
        match self {
            Store::Layout(layout) => {
                let checked = open().await?;
                let verdict = checked.verdict.clone();
                let mut stream = checked.stream;
                let mut writer = layout.blob_writer(&blob.digest)?;
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(chunk) => writer.write(&chunk)?,
                        Err(e) => {
                            return Err(verdict.error().unwrap_or_else(|| RegistryError::Io {
                                what: "cannot read the blob for",
                                path: layout.root().to_path_buf(),
                                source: e,
                            }));
                        }
                    }
                }
                writer.finish(size)?;
                Ok(false)
            }
            Store::Registry { session, reference } => {
                let repository = reference.repository();
                let mount = mount_from.map(|from| (blob.digest.as_str(), from));
                let Some(location) = session.start_upload(repository, mount).await? else {
                    return Ok(true);
                };
                let checked = open().await?;
                let verdict = checked.verdict.clone();
                // The registry reads the body as fast as it stores it: when it stops reading
                // for the session's timeout, the upload fails as stalled (and is retried).
                let watchdog = Watchdog::new();
                let touch = watchdog.clone();
                let stream =
                    Mutex::new(Some(checked.stream.inspect(move |_| touch.touch()).boxed()));
                // The body is made once per request; a request sent again (it is not, after
                // the upload's POST was authorized) gets an empty body, which the registry
                // refuses by its digest.
                let body = move || match stream.lock().expect("poisoned").take() {
                    Some(s) => reqwest::Body::wrap_stream(s),
                    None => reqwest::Body::from(Vec::new()),
                };
                let sent = tokio::select! {
                    sent = session.finish_upload(repository, &location, &blob.digest, size, &body, None) => sent,
                    () = watchdog.stalled(session.timeout) => Err(RegistryError::Stalled {
                        registry: session.registry.to_string(),
                        what: format!("the upload of {}", blob.digest),
                        after: session.timeout,
                    }),
                };
                match (sent, verdict.error()) {
                    (_, Some(source_error)) => Err(source_error),
                    (Err(e), None) => Err(e),
                    (Ok(()), None) => Ok(false),
                }
            }
        }
    }

    /// The referrers of `digest` and how they were found.
    pub(crate) async fn referrers(
        &self,
        digest: &str,
    ) -> Result<(Vec<Descriptor>, ReferrersVia), RegistryError> {
        match self {
            Store::Registry { session, reference } => {
                let repository = reference.repository();
                let shown = format!("{}@{digest}", self.shown());
                if let Some(bytes) = session.get_referrers(repository, digest, &shown).await? {
                    let list =
                        index_manifests(&bytes).map_err(|problem| RegistryError::Protocol {
                            registry: session.registry.to_string(),
                            problem: format!("the referrers of {shown}: {problem}"),
                        })?;
                    return Ok((list, ReferrersVia::Api));
                }
                let tag = tag_schema(digest);
                if session
                    .head_manifest(repository, &tag, &shown)
                    .await?
                    .is_none()
                {
                    return Ok((Vec::new(), ReferrersVia::TagSchema));
                }
                let raw = session.get_manifest(repository, &tag, &shown).await?;
                let list =
                    index_manifests(&raw.bytes).map_err(|problem| RegistryError::Protocol {
                        registry: session.registry.to_string(),
                        problem: format!("the referrers index {tag} of {shown}: {problem}"),
                    })?;
                Ok((list, ReferrersVia::TagSchema))
            }
            Store::Layout(layout) => {
                let mut found = Vec::new();
                for entry in layout.index()?.manifests {
                    let Ok(bytes) = layout.read_blob(&entry.digest, MAX_MANIFEST_BYTES) else {
                        continue;
                    };
                    if subject_of(&bytes).as_deref() == Some(digest) {
                        found.push(referrer_descriptor(
                            &bytes,
                            &entry.digest,
                            &entry.media_type,
                        ));
                    }
                }
                Ok((found, ReferrersVia::Layout))
            }
        }
    }

    /// Records `referrer` as attached to `subject` where the store needs it: in a registry
    /// that did not index it itself, the tag-schema index; in a layout, nothing more (its
    /// `index.json` entry is enough).
    pub(crate) async fn index_referrer(
        &self,
        subject: &str,
        referrer: Descriptor,
        acknowledged: bool,
    ) -> Result<ReferrersVia, RegistryError> {
        let Store::Registry { session, reference } = self else {
            return Ok(ReferrersVia::Layout);
        };
        if acknowledged {
            return Ok(ReferrersVia::Api);
        }
        let repository = reference.repository();
        let tag = tag_schema(subject);
        let shown = format!("{}:{tag}", self.shown());
        let mut list = match session.head_manifest(repository, &tag, &shown).await? {
            Some(_) => {
                let raw = session.get_manifest(repository, &tag, &shown).await?;
                index_manifests(&raw.bytes).map_err(|problem| RegistryError::Protocol {
                    registry: session.registry.to_string(),
                    problem: format!("the referrers index {shown}: {problem}"),
                })?
            }
            None => Vec::new(),
        };
        if list.iter().any(|d| d.digest == referrer.digest) {
            return Ok(ReferrersVia::TagSchema);
        }
        list.push(referrer);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": list,
        });
        let bytes = serde_json::to_vec(&index).unwrap_or_default();
        session
            .put_manifest_as(repository, &tag, &bytes, OCI_INDEX, &shown)
            .await?;
        Ok(ReferrersVia::TagSchema)
    }
}

/// `:` before a tag, `@` before a digest.
fn separator(target: &str) -> &'static str {
    if target.contains(':') { "@" } else { ":" }
}

/// The tag of the referrers index of `digest`: `sha256-HEX`.
pub(crate) fn tag_schema(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

pub(crate) fn blob_size(blob: &Descriptor) -> u64 {
    u64::try_from(blob.size).unwrap_or(0)
}

/// The `mediaType` a manifest declares; when it declares none (the field is optional), an OCI
/// image index if it lists `manifests`, else an OCI image manifest.
pub(crate) fn media_type_of(bytes: &[u8]) -> String {
    let value = serde_json::from_slice::<serde_json::Value>(bytes).unwrap_or_default();
    match value.get("mediaType").and_then(|v| v.as_str()) {
        Some(declared) => declared.to_owned(),
        None if value.get("manifests").is_some() => OCI_INDEX.to_owned(),
        None => OCI_MANIFEST.to_owned(),
    }
}

/// The `artifactType` of a manifest, else its config's media type for a non-image manifest.
fn artifact_type(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value
        .get("artifactType")
        .and_then(|v| v.as_str())
        .or_else(|| value.get("config")?.get("mediaType")?.as_str())
        .map(str::to_owned)
}

/// The digest of a manifest's `subject`.
fn subject_of(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value
        .get("subject")?
        .get("digest")?
        .as_str()
        .map(str::to_owned)
}

/// The descriptor of a referrer as a referrers index lists it: with its artifact type and
/// annotations.
pub(crate) fn referrer_descriptor(bytes: &[u8], digest: &str, media_type: &str) -> Descriptor {
    let value: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    let annotations = value
        .get("annotations")
        .and_then(|a| serde_json::from_value(a.clone()).ok());
    let mut extra = BTreeMap::new();
    if let Some(t) = artifact_type(bytes) {
        extra.insert("artifactType".to_owned(), serde_json::Value::from(t));
    }
    Descriptor {
        media_type: media_type.to_owned(),
        digest: digest.to_owned(),
        size: bytes.len() as i64,
        annotations,
        extra,
    }
}

/// The `manifests` of an image index.
fn index_manifests(bytes: &[u8]) -> Result<Vec<Descriptor>, String> {
    #[derive(serde::Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<Descriptor>,
    }
    serde_json::from_slice::<Index>(bytes)
        .map(|i| i.manifests)
        .map_err(|e| format!("not a valid image index: {e}"))
}

/// What a manifest names: its child manifests (an index) or its blobs (config and layers).
fn children(bytes: &[u8]) -> Result<(Vec<Descriptor>, Vec<Descriptor>), String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let list = |key: &str| -> Result<Vec<Descriptor>, String> {
        match value.get(key) {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| format!("`{key}`: {e}")),
        }
    };
    let manifests = list("manifests")?;
    let mut blobs = Vec::new();
    if let Some(config) = value.get("config") {
        blobs.push(serde_json::from_value(config.clone()).map_err(|e| format!("`config`: {e}"))?);
    }
    blobs.extend(list("layers")?);
    blobs.extend(list("blobs")?);
    for d in manifests.iter().chain(&blobs) {
        crate::reference::validate_digest(&d.digest)?;
        if d.size < 0 {
            return Err(format!("{} has a negative size", d.digest));
        }
    }
    Ok((manifests, blobs))
}

/// A blob stream checked as it passes: its digest and size are computed, and a mismatch ends
/// the stream with an error (before its last bytes), recorded in `verdict` for the caller.
pub(crate) struct Checked {
    stream: ByteStream,
    verdict: Verdict,
}

/// Why a stream of blob bytes ended early, shared with the code that consumed it (which sees
/// only an I/O error): the first failure recorded wins.
#[derive(Clone, Default)]
pub(crate) struct Verdict(Arc<Mutex<Option<RegistryError>>>);

impl Verdict {
    fn error(&self) -> Option<RegistryError> {
        self.0.lock().expect("poisoned").take()
    }

    fn set(&self, error: RegistryError) {
        self.0.lock().expect("poisoned").get_or_insert(error);
    }
}

impl Checked {
    /// Checks `stream` against `blob` (from `source`, for messages); a corrupt layout blob is
    /// reported as the layout's [`LayoutError::CorruptBlob`].
    pub(crate) fn new(
        stream: ByteStream,
        blob: &Descriptor,
        source: Source,
        verdict: Verdict,
    ) -> Checked {
        let expected = blob.digest.clone();
        let size = blob_size(blob);
        let state = (
            stream,
            StreamingDigest::for_digest(&expected),
            0u64,
            verdict.clone(),
            false,
        );
        let checked = futures_util::stream::unfold(
            state,
            move |(mut stream, mut hasher, mut seen, verdict, done)| {
                let expected = expected.clone();
                let source = source.clone();
                async move {
                    if done {
                        return None;
                    }
                    let fail = |error: RegistryError, verdict: &Verdict| {
                        let io = std::io::Error::other(error.to_string());
                        verdict.set(error);
                        io
                    };
                    match stream.next().await {
                        Some(Ok(chunk)) => {
                            seen += chunk.len() as u64;
                            if seen > size {
                                let e = fail(source.wrong_size(&expected, size, seen), &verdict);
                                return Some((Err(e), (stream, hasher, seen, verdict, true)));
                            }
                            hasher.update(&chunk);
                            // The last chunk is held back until the digest is known good.
                            if seen == size {
                                let actual = std::mem::replace(
                                    &mut hasher,
                                    StreamingDigest::for_digest(&expected),
                                )
                                .finish();
                                if actual != expected {
                                    let e = fail(source.mismatch(&expected, &actual), &verdict);
                                    return Some((Err(e), (stream, hasher, seen, verdict, true)));
                                }
                            }
                            Some((Ok(chunk), (stream, hasher, seen, verdict, false)))
                        }
                        Some(Err(e)) => Some((Err(e), (stream, hasher, seen, verdict, true))),
                        None if seen < size => {
                            let e = fail(source.wrong_size(&expected, size, seen), &verdict);
                            Some((Err(e), (stream, hasher, seen, verdict, true)))
                        }
                        // An empty blob has had no chunk to check its digest on.
                        None if size == 0 && hasher.finish() != expected => {
                            let actual = digest_of_nothing(&expected);
                            let e = fail(source.mismatch(&expected, &actual), &verdict);
                            let hasher = StreamingDigest::for_digest(&expected);
                            Some((Err(e), (stream, hasher, seen, verdict, true)))
                        }
                        None => None,
                    }
                }
            },
        );
        Checked {
            stream: checked.boxed(),
            verdict,
        }
    }
}

/// The digest of no bytes, in the algorithm of `expected`.
fn digest_of_nothing(expected: &str) -> String {
    StreamingDigest::for_digest(expected).finish()
}

/// Where a blob comes from, for messages.
#[derive(Clone)]
pub(crate) enum Source {
    /// A registry and the repository, as shown.
    Registry(String, String),
    /// An image layout.
    Layout(Layout),
    /// A local file (or bytes in memory), named.
    Local(String),
}

impl Source {
    /// The error of a blob whose content does not match `expected`.
    fn mismatch(&self, expected: &str, actual: &str) -> RegistryError {
        match self {
            Source::Layout(layout) => match layout.blob_path(expected) {
                Ok(path) => LayoutError::CorruptBlob {
                    path,
                    actual: actual.to_owned(),
                }
                .into(),
                Err(e) => e.into(),
            },
            Source::Registry(registry, shown) => RegistryError::Protocol {
                registry: registry.clone(),
                problem: format!(
                    "the blob {expected} of {shown} does not match its digest (its content is \
                     {actual})"
                ),
            },
            Source::Local(path) => {
                crate::component::ComponentError::Changed { path: path.clone() }.into()
            }
        }
    }

    /// The error of a blob longer or shorter (`seen` bytes so far) than its declared `size`.
    fn wrong_size(&self, expected: &str, size: u64, seen: u64) -> RegistryError {
        match self {
            Source::Layout(layout) => match layout.blob_path(expected) {
                Ok(path) => LayoutError::WrongSize { path, size, seen }.into(),
                Err(e) => e.into(),
            },
            Source::Registry(registry, shown) => RegistryError::Protocol {
                registry: registry.clone(),
                problem: format!(
                    "the blob {expected} of {shown} is not its declared size of {size} bytes \
                     ({seen} bytes or more)"
                ),
            },
            Source::Local(path) => {
                crate::component::ComponentError::Changed { path: path.clone() }.into()
            }
        }
    }
}

/// Copies one location to another (see the module documentation).
pub async fn copy(
    transport: &Transport,
    source: &Location,
    target: &Location,
    options: CopyOptions,
    progress: Arc<dyn Progress>,
) -> Result<CopyOutcome, RegistryError> {
    let mut outcomes = copy_all(
        transport,
        std::slice::from_ref(source),
        target,
        options,
        progress,
    )
    .await?;
    Ok(outcomes.remove(0))
}

/// Copies each `(source, target)` pair (what `copy --tags` does): into registries `tag_jobs`
/// pairs at a time, into layouts one after the other (each copy rewrites the layout's
/// `index.json`, an archive whole). One result per pair, in order.
pub async fn copy_each(
    transport: &Transport,
    pairs: &[(Location, Location)],
    options: CopyOptions,
    tag_jobs: usize,
    progress: Arc<dyn Progress>,
) -> Vec<Result<CopyOutcome, RegistryError>> {
    let into_layout = pairs
        .iter()
        .any(|(_, target)| matches!(target, Location::Layout(_)));
    let jobs = if into_layout { 1 } else { tag_jobs.max(1) };
    let copies: Vec<_> = pairs
        .iter()
        .map(|(source, target)| copy(transport, source, target, options, progress.clone()))
        .collect();
    // `buffered` keeps the order of the pairs.
    futures_util::stream::iter(copies)
        .buffered(jobs)
        .collect()
        .await
}

/// Copies several sources into one target, opened once (an archive is packed once, at the
/// end, and only when every copy succeeded): what `copy --lock` does.
pub async fn copy_all(
    transport: &Transport,
    sources: &[Location],
    target: &Location,
    options: CopyOptions,
    progress: Arc<dyn Progress>,
) -> Result<Vec<CopyOutcome>, RegistryError> {
    let (dst, open) = open_target(transport, target).await?;
    let mut outcomes = Vec::new();
    for source in sources {
        outcomes.push(copy_into(transport, source, target, &dst, options, progress.clone()).await?);
    }
    if let Some(open) = open {
        open.commit()?;
    }
    Ok(outcomes)
}

async fn copy_into(
    transport: &Transport,
    source: &Location,
    target: &Location,
    dst: &Store,
    options: CopyOptions,
    progress: Arc<dyn Progress>,
) -> Result<CopyOutcome, RegistryError> {
    let (src_target, src, _unpacked) = open_source(transport, source).await?;
    // The tag written: the target's, else the source's; by digest when neither names one.
    let dst_tag = match target {
        Location::Registry(r) if r.digest().is_none() => r.tag().map(str::to_owned),
        Location::Layout(l) => match &l.target {
            Some(LayoutTarget::Tag(t)) => Some(t.clone()),
            Some(LayoutTarget::Digest(_)) => None,
            None => (!src_target.contains(':')).then(|| src_target.clone()),
        },
        Location::Registry(_) => None,
    };
    let copier = Copier {
        src: &src,
        dst,
        options,
        progress,
        tally: Tally::default(),
        same_registry: same_registry(&src, dst),
        retry: transport.options().retry,
    };
    let fetched = src.manifest(&src_target).await?;
    if let Location::Registry(r) = target
        && let Some(d) = r.digest()
        && d != fetched.digest
    {
        return Err(RegistryError::Protocol {
            registry: r.registry().to_string(),
            problem: format!(
                "the target names {d}, but the source's manifest is {}",
                fetched.digest
            ),
        });
    }
    copier
        .copy_manifest(fetched.digest.clone(), Some(fetched), dst_tag.clone())
        .await?;
    let via = *copier.tally.via.lock().expect("poisoned");
    let referrers = std::mem::take(&mut *copier.tally.referrers.lock().expect("poisoned"));
    let digest = copier.tally.root.lock().expect("poisoned").clone();
    let t = &copier.tally;
    Ok(CopyOutcome {
        source: source.to_string(),
        target: match (target, &dst_tag) {
            (Location::Layout(l), Some(tag)) => l
                .with_target(Some(LayoutTarget::Tag(tag.clone())))
                .to_string(),
            _ => target.to_string(),
        },
        digest,
        manifests_copied: t.manifests_copied.load(Ordering::Relaxed),
        manifests_present: t.manifests_present.load(Ordering::Relaxed),
        blobs_copied: t.blobs_copied.load(Ordering::Relaxed),
        blobs_mounted: t.blobs_mounted.load(Ordering::Relaxed),
        blobs_present: t.blobs_present.load(Ordering::Relaxed),
        bytes_copied: t.bytes.load(Ordering::Relaxed),
        referrers,
        referrers_found_by: via,
    })
}

/// The tag or digest a location names (a registry's default tag is `latest`; a layout must
/// name one).
pub(crate) fn wanted(location: &Location) -> Result<String, RegistryError> {
    match location {
        Location::Registry(r) => Ok(r.digest().or(r.tag()).unwrap_or("latest").to_owned()),
        Location::Layout(l) => match &l.target {
            Some(LayoutTarget::Tag(t)) => Ok(t.clone()),
            Some(LayoutTarget::Digest(d)) => Ok(d.clone()),
            None => Err(LayoutError::NoTarget {
                layout: l.to_string(),
            }
            .into()),
        },
    }
}

/// Opens the source: the tag or digest to copy, the store, and the unpacked archive (to keep
/// while the store is read).
pub(crate) async fn open_source(
    transport: &Transport,
    source: &Location,
) -> Result<(String, Store, Option<OpenLayout>), RegistryError> {
    let wanted = wanted(source)?;
    match source {
        Location::Registry(r) => Ok((wanted, Store::registry(transport, r).await?, None)),
        Location::Layout(l) => {
            // An archive stays unpacked while the copy reads it.
            let opened = OpenLayout::read(l)?;
            Ok((wanted, Store::Layout(opened.layout.clone()), Some(opened)))
        }
    }
}

/// Opens the target store (an archive is committed by the caller when the copy is done).
pub(crate) async fn open_target(
    transport: &Transport,
    target: &Location,
) -> Result<(Store, Option<OpenLayout>), RegistryError> {
    match target {
        Location::Registry(r) => Ok((Store::registry(transport, r).await?, None)),
        Location::Layout(l) => {
            let opened = OpenLayout::write(l)?;
            Ok((Store::Layout(opened.layout.clone()), Some(opened)))
        }
    }
}

/// The source repository, when both ends are repositories of the same registry (blobs are
/// mounted, not streamed).
fn same_registry(src: &Store, dst: &Store) -> Option<String> {
    match (src, dst) {
        (Store::Registry { reference: s, .. }, Store::Registry { reference: d, .. })
            if s.registry() == d.registry() && s.repository() != d.repository() =>
        {
            Some(s.repository().to_owned())
        }
        _ => None,
    }
}

#[derive(Default)]
struct Tally {
    root: Mutex<String>,
    manifests_copied: AtomicUsize,
    manifests_present: AtomicUsize,
    blobs_copied: AtomicUsize,
    blobs_mounted: AtomicUsize,
    blobs_present: AtomicUsize,
    bytes: AtomicU64,
    referrers: Mutex<Vec<String>>,
    via: Mutex<Option<ReferrersVia>>,
    /// Manifests whose `subject` the target registry indexed itself (`OCI-Subject`).
    acknowledged: Mutex<std::collections::HashSet<String>>,
}

struct Copier<'a> {
    src: &'a Store,
    dst: &'a Store,
    options: CopyOptions,
    progress: Arc<dyn Progress>,
    tally: Tally,
    same_registry: Option<String>,
    retry: crate::session::RetryPolicy,
}

impl Copier<'_> {
    /// Copies the manifest `digest` (already `fetched`, or read now), what it names first, then
    /// its referrers when asked to.
    fn copy_manifest(
        &self,
        digest: String,
        fetched: Option<Fetched>,
        tag: Option<String>,
    ) -> BoxFuture<'_, Result<Fetched, RegistryError>> {
        Box::pin(async move {
            let fetched = match fetched {
                Some(f) => f,
                None => self.src.manifest(&digest).await?,
            };
            {
                let mut root = self.tally.root.lock().expect("poisoned");
                if root.is_empty() {
                    *root = fetched.digest.clone();
                }
            }
            let (manifests, blobs) =
                children(&fetched.bytes).map_err(|problem| RegistryError::Protocol {
                    registry: self.src.shown(),
                    problem: format!("the manifest {}: {problem}", fetched.digest),
                })?;
            let present = match &tag {
                None => self.dst.has_manifest(&fetched.digest).await?,
                Some(tag) => {
                    self.dst.tag_digest(tag).await?.as_deref() == Some(fetched.digest.as_str())
                }
            };
            if present {
                self.tally.manifests_present.fetch_add(1, Ordering::Relaxed);
            } else {
                for child in manifests {
                    self.copy_manifest(child.digest, None, None).await?;
                }
                self.copy_blobs(&blobs).await?;
                if self.dst.put_manifest(&fetched, tag.as_deref()).await? {
                    self.tally
                        .acknowledged
                        .lock()
                        .expect("poisoned")
                        .insert(fetched.digest.clone());
                }
                self.tally.manifests_copied.fetch_add(1, Ordering::Relaxed);
            }
            if self.options.referrers {
                self.copy_referrers(&fetched.digest).await?;
            }
            Ok(fetched)
        })
    }

    async fn copy_referrers(&self, subject: &str) -> Result<(), RegistryError> {
        let (list, via) = self.src.referrers(subject).await?;
        self.tally.via.lock().expect("poisoned").get_or_insert(via);
        for referrer in list {
            let fetched = self
                .copy_manifest(referrer.digest.clone(), None, None)
                .await?;
            let descriptor =
                referrer_descriptor(&fetched.bytes, &fetched.digest, &fetched.media_type);
            // The target's own index of referrers (a registry without the API).
            let acknowledged = self
                .tally
                .acknowledged
                .lock()
                .expect("poisoned")
                .contains(&fetched.digest);
            self.dst
                .index_referrer(subject, descriptor, acknowledged)
                .await?;
            self.tally
                .referrers
                .lock()
                .expect("poisoned")
                .push(fetched.digest);
        }
        Ok(())
    }

    async fn copy_blobs(&self, blobs: &[Descriptor]) -> Result<(), RegistryError> {
        // Which blobs the target lacks (asked concurrently).
        // Futures made before the stream (not by a closure in it): the boxed future of
        // `copy_manifest` must be `Send`, which a closure over borrows cannot prove.
        let checks: Vec<_> = blobs.iter().map(|b| self.dst.has_blob(b)).collect();
        let present: Vec<bool> = futures_util::stream::iter(checks)
            .buffered(self.options.jobs.max(1))
            .try_collect()
            .await?;
        let missing: Vec<&Descriptor> = blobs
            .iter()
            .zip(&present)
            .filter(|(_, p)| !**p)
            .map(|(b, _)| b)
            .collect();
        self.tally
            .blobs_present
            .fetch_add(blobs.len() - missing.len(), Ordering::Relaxed);
        if missing.is_empty() {
            return Ok(());
        }
        let total = missing.iter().map(|b| blob_size(b)).sum();
        self.progress.begin("copying", total);
        let copies: Vec<_> = missing.into_iter().map(|b| self.copy_blob(b)).collect();
        // Every copy runs to its end even when one fails, so that what did arrive need not be
        // sent again by the next attempt; the first failure is reported.
        let results: Vec<Result<(), RegistryError>> = futures_util::stream::iter(copies)
            .buffer_unordered(self.options.jobs.max(1))
            .collect()
            .await;
        self.progress.end();
        results.into_iter().collect()
    }

    /// Copies one blob: mounted, or streamed from the source and checked as it passes; a
    /// transient failure starts again from a fresh source stream (the retry loop).
    async fn copy_blob(&self, blob: &Descriptor) -> Result<(), RegistryError> {
        let source = match self.src {
            Store::Registry { reference, .. } => Source::Registry(
                reference.registry().to_string(),
                reference.to_repository().to_string(),
            ),
            Store::Layout(l) => Source::Layout(l.clone()),
        };
        let mounted = self
            .retry
            .run(&format!("the copy of {}", blob.digest), || {
                let source = source.clone();
                async move {
                    let open = || async {
                        let progress = self.progress.clone();
                        let verdict = Verdict::default();
                        let stream = self.src.open_blob(blob, &verdict).await?;
                        let counted = stream
                            .inspect_ok(move |chunk| progress.advance(chunk.len() as u64))
                            .boxed();
                        Ok(Checked::new(counted, blob, source, verdict))
                    };
                    self.dst
                        .write_blob(blob, self.same_registry.as_deref(), open)
                        .await
                }
            })
            .await?;
        if mounted {
            self.tally.blobs_mounted.fetch_add(1, Ordering::Relaxed);
        } else {
            self.tally.blobs_copied.fetch_add(1, Ordering::Relaxed);
            self.tally
                .bytes
                .fetch_add(blob_size(blob), Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn what_a_manifest_names() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"c","digest":"{D}","size":2}},
               "layers":[{{"mediaType":"l","digest":"{D}","size":3}}],
               "subject":{{"mediaType":"m","digest":"{D}","size":4}},"artifactType":"a/b"}}"#
        );
        let (manifests, blobs) = children(manifest.as_bytes()).unwrap();
        assert!(manifests.is_empty());
        assert_eq!(blobs.iter().map(|b| b.size).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(subject_of(manifest.as_bytes()).as_deref(), Some(D));
        assert_eq!(artifact_type(manifest.as_bytes()).as_deref(), Some("a/b"));
        assert_eq!(media_type_of(manifest.as_bytes()), OCI_MANIFEST);
        let index = format!(r#"{{"manifests":[{{"mediaType":"m","digest":"{D}","size":1}}]}}"#);
        assert_eq!(children(index.as_bytes()).unwrap().0.len(), 1);
        assert_eq!(media_type_of(index.as_bytes()), OCI_INDEX);
        // A digest that could escape a layout's blobs/ is refused before it becomes a path.
        let bad =
            r#"{"config":{"mediaType":"c","digest":"sha256:../../etc","size":1},"layers":[]}"#;
        assert!(children(bad.as_bytes()).is_err());
        assert_eq!(tag_schema(D), D.replacen(':', "-", 1));
    }
}
