//! Referrers (OCI distribution spec 1.1): `discover` lists what is attached to an artifact
//! (signatures, SBOMs, attestations: manifests whose `subject` is its manifest), as a tree;
//! `attach` attaches a file.
//!
//! Both work on a registry or an image layout through the [`Store`] seam of `copy`, and say
//! how the referrers were found or recorded: the Referrers API where the registry answers it,
//! the `sha256-HEX` tag schema where it does not (distribution 2.8.2, GHCR), `index.json` in a
//! layout.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::Serialize;

use crate::component::{hash_file, sha256_digest};
use crate::error::RegistryError;
use crate::location::Location;
use crate::manifest::{Descriptor, OCI_MANIFEST};
use crate::ops::copy::{
    Checked, Fetched, ReferrersVia, Source, Store, Verdict, open_source, open_target,
    referrer_descriptor, wanted,
};
use crate::ops::push::{ANNOTATION_CREATED, ANNOTATION_TITLE, rfc3339};
use crate::session::Transport;

/// The media type of the empty config an artifact manifest carries.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty JSON object, `{}`, the content of that config.
const EMPTY_CONTENT: &[u8] = b"{}";
/// The media type of an attached file's layer.
const FILE_MEDIA_TYPE: &str = "application/octet-stream";
/// Referrers of referrers are followed this deep, at most.
const MAX_DEPTH: usize = 8;

/// An artifact attached to another.
#[derive(Clone, Debug, Serialize)]
pub struct Referrer {
    /// Its manifest digest.
    pub digest: String,
    /// Its manifest's media type.
    pub media_type: String,
    /// Its artifact type (`artifactType`, else its config's media type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Its size in bytes.
    pub size: i64,
    /// Its annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// What is attached to it in turn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<Referrer>,
}

/// What `discover` found.
#[derive(Clone, Debug, Serialize)]
pub struct Discovery {
    /// The artifact as given.
    pub subject: String,
    /// Its manifest digest.
    pub digest: String,
    /// How its referrers were found.
    pub found_by: ReferrersVia,
    /// Its referrers, each with its own.
    pub referrers: Vec<Referrer>,
}

/// Lists the referrers of the artifact at `location`, recursively.
pub async fn discover(
    transport: &Transport,
    location: &Location,
) -> Result<Discovery, RegistryError> {
    let (target, store, _unpacked) = open_source(transport, location).await?;
    let subject = store.manifest(&target).await?;
    let (referrers, found_by) = tree(&store, &subject.digest, 0).await?;
    Ok(Discovery {
        subject: location.to_string(),
        digest: subject.digest,
        found_by,
        referrers,
    })
}

fn tree<'a>(
    store: &'a Store,
    digest: &'a str,
    depth: usize,
) -> futures_util::future::BoxFuture<'a, Result<(Vec<Referrer>, ReferrersVia), RegistryError>> {
    Box::pin(async move {
        let (list, via) = store.referrers(digest).await?;
        let mut out = Vec::new();
        for d in list {
            let referrers = if depth + 1 < MAX_DEPTH {
                tree(store, &d.digest, depth + 1).await?.0
            } else {
                Vec::new()
            };
            out.push(Referrer {
                artifact_type: d
                    .extra
                    .get("artifactType")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
                digest: d.digest,
                media_type: d.media_type,
                size: d.size,
                annotations: d.annotations.unwrap_or_default(),
                referrers,
            });
        }
        Ok((out, via))
    })
}

/// What `attach` did.
#[derive(Clone, Debug, Serialize)]
pub struct AttachOutcome {
    /// The artifact attached to, as given.
    pub subject: String,
    /// Its manifest digest.
    pub subject_digest: String,
    /// The digest of the new referrer's manifest.
    pub digest: String,
    /// Its artifact type.
    pub artifact_type: String,
    /// How the target records it: the registry's Referrers API (it acknowledged the subject),
    /// the tag schema, or the layout's `index.json`.
    pub recorded_by: ReferrersVia,
}

/// Attaches the file at `path` to the artifact at `location` as an artifact of
/// `artifact_type`, with `annotations`: its blobs first, then its manifest (with `subject`),
/// then, where the target does not index referrers itself, the tag-schema index.
pub async fn attach(
    transport: &Transport,
    location: &Location,
    path: &Path,
    artifact_type: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<AttachOutcome, RegistryError> {
    let wanted = wanted(location)?;
    let (store, opened) = open_target(transport, location).await?;
    let subject = store.manifest(&wanted).await?;
    let hashed = path.to_path_buf();
    let (file_digest, file_size) = tokio::task::spawn_blocking(move || hash_file(&hashed, false))
        .await
        .map_err(|source| RegistryError::Task {
            what: "hashing the file",
            source,
        })??;
    let config = Descriptor {
        media_type: EMPTY_MEDIA_TYPE.to_owned(),
        digest: sha256_digest(EMPTY_CONTENT),
        size: EMPTY_CONTENT.len() as i64,
        ..Descriptor::default()
    };
    let title = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let layer = Descriptor {
        media_type: FILE_MEDIA_TYPE.to_owned(),
        digest: file_digest,
        size: file_size as i64,
        annotations: (!title.is_empty())
            .then(|| BTreeMap::from([(ANNOTATION_TITLE.to_owned(), title)])),
        ..Descriptor::default()
    };
    let retry = transport.options().retry;
    let shown_file = path.display().to_string();
    for blob in [&config, &layer] {
        if store.has_blob(blob).await? {
            continue;
        }
        retry
            .run(&format!("the upload of {}", blob.digest), || async {
                let open = || async {
                    let stream = if blob.digest == config.digest {
                        futures_util::stream::once(async { Ok(Bytes::from_static(EMPTY_CONTENT)) })
                            .boxed()
                    } else {
                        let file = tokio::fs::File::open(path).await.map_err(|source| {
                            RegistryError::Io {
                                what: "cannot read",
                                path: path.to_path_buf(),
                                source,
                            }
                        })?;
                        tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).boxed()
                    };
                    Ok(Checked::new(
                        stream,
                        blob,
                        Source::Local(shown_file.clone()),
                        Verdict::default(),
                    ))
                };
                store.write_blob(blob, None, open).await
            })
            .await?;
    }
    let mut all = BTreeMap::new();
    all.insert(ANNOTATION_CREATED.to_owned(), rfc3339(chrono::Utc::now()));
    all.extend(annotations.clone());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config,
        "layers": [layer],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": subject.bytes.len(),
        },
        "annotations": all,
    });
    // Serialising a JSON value into memory cannot fail.
    let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    let fetched = Fetched {
        digest: sha256_digest(&bytes),
        bytes,
        media_type: OCI_MANIFEST.to_owned(),
    };
    let acknowledged = store.put_manifest(&fetched, None).await?;
    let descriptor = referrer_descriptor(&fetched.bytes, &fetched.digest, OCI_MANIFEST);
    let recorded_by = store
        .index_referrer(&subject.digest, descriptor, acknowledged)
        .await?;
    if let Some(opened) = opened {
        opened.commit()?;
    }
    Ok(AttachOutcome {
        subject: location.to_string(),
        subject_digest: subject.digest,
        digest: fetched.digest,
        artifact_type: artifact_type.to_owned(),
        recorded_by,
    })
}
