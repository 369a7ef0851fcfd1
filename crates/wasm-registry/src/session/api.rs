//! The requests of the OCI distribution API, on a [`Session`]: manifests, blobs, uploads,
//! tags. Each idempotent step is retried as a whole by the one retry loop
//! ([`super::RetryPolicy::run`]); bodies of answers are read within the session's timeout and
//! with a size limit, so a registry can neither make `wasm` wait forever nor hold an unbounded
//! answer in memory.
//!
//! What must stay true: a manifest larger than [`MAX_MANIFEST_BYTES`] is refused from its
//! `Content-Length` before its body is read, or as soon as more than that has arrived; every
//! blob read whole here is checked against its digest and size; an upload location is used as
//! the parsed URL the registry gave, joined to the request's URL, and receives credentials only
//! if it is the registry's own origin.

use futures_util::StreamExt as _;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION};
use reqwest::{Method, Response};
use url::Url;

use super::client::may_follow_redirect;
use super::{Call, Session, Target};
use crate::component::sha256_digest;
use crate::error::{Action, RegistryError, classify_transport};
use crate::manifest::{ACCEPTED_MANIFESTS, MAX_MANIFEST_BYTES};

/// A manifest as the registry sent it.
#[derive(Clone, Debug)]
pub(crate) struct RawManifest {
    /// Its bytes.
    pub(crate) bytes: Vec<u8>,
    /// The sha256 digest of the bytes (checked against `Docker-Content-Digest`).
    pub(crate) digest: String,
}

/// What a manifest `PUT` answered.
#[derive(Clone, Debug)]
pub(crate) struct PutManifest {
    /// The digest of the bytes sent.
    pub(crate) digest: String,
    /// Whether the registry answered `OCI-Subject` (it indexes referrers itself).
    pub(crate) subject: bool,
}

/// What a `HEAD` of a manifest tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ManifestHead {
    /// `Docker-Content-Digest`.
    pub(crate) digest: String,
}

/// A body read within a limit.
pub(crate) enum BodyError {
    /// More than the limit (with the declared length, when there was one).
    TooLarge(Option<u64>),
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

/// Reads a whole body, refusing more than `max` bytes (by `Content-Length` first).
pub(crate) async fn read_limited(response: Response, max: usize) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length();
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge(declared));
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Transport)?;
        if bytes.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(declared));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn accept_manifests() -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_str(&ACCEPTED_MANIFESTS.join(", "))
            .unwrap_or_else(|_| HeaderValue::from_static("*/*")),
    );
    headers
}

impl Session {
    fn protocol(&self, problem: String) -> RegistryError {
        RegistryError::Protocol {
            registry: self.registry.to_string(),
            problem,
        }
    }

    /// Reads a small body within the session's timeout and `max` bytes; `what` names it in
    /// errors, `too_large` words the refusal.
    async fn read_body(
        &self,
        response: Response,
        max: usize,
        what: &str,
        too_large: impl FnOnce(Option<u64>) -> RegistryError,
    ) -> Result<Vec<u8>, RegistryError> {
        match tokio::time::timeout(self.timeout, read_limited(response, max)).await {
            Err(_) => Err(RegistryError::Stalled {
                registry: self.registry.to_string(),
                what: what.to_owned(),
                after: self.timeout,
            }),
            Ok(Err(BodyError::TooLarge(declared))) => Err(too_large(declared)),
            Ok(Err(BodyError::Transport(e))) => Err(classify_transport(
                self.registry.as_str(),
                what,
                Box::new(e),
            )),
            Ok(Ok(bytes)) => Ok(bytes),
        }
    }

    /// `GET` of a manifest by tag or digest (`shown` is the reference for messages), size
    /// limited and checked against `Docker-Content-Digest`.
    pub(crate) async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        shown: &str,
    ) -> Result<RawManifest, RegistryError> {
        let what = format!("reading the manifest of {shown}");
        self.retry
            .run(&what, || async {
                let mut call = Call::new(
                    Method::GET,
                    Target::Path(format!("v2/{repository}/manifests/{reference}")),
                    repository,
                    shown.to_owned(),
                    Action::Pull,
                );
                call.headers = accept_manifests();
                call.limit = Some(self.timeout);
                let response = self.request(&call).await?;
                let announced = response
                    .headers()
                    .get("Docker-Content-Digest")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let bytes = self
                    .read_body(response, MAX_MANIFEST_BYTES, &what, |declared| {
                        self.protocol(match declared {
                            Some(n) => format!(
                                "the manifest of {shown} is {n} bytes, more than the \
                                 {MAX_MANIFEST_BYTES} allowed"
                            ),
                            None => format!(
                                "the manifest of {shown} is more than the {MAX_MANIFEST_BYTES} \
                                 bytes allowed"
                            ),
                        })
                    })
                    .await?;
                let digest = sha256_digest(&bytes);
                if let Some(announced) = announced
                    && announced.starts_with("sha256:")
                    && announced != digest
                {
                    return Err(self.protocol(format!(
                        "the manifest of {shown} does not match its Docker-Content-Digest \
                         {announced} (its content is {digest})"
                    )));
                }
                Ok(RawManifest { bytes, digest })
            })
            .await
    }

    /// `HEAD` of a manifest: the digest it has now, or `None` when there is no such tag.
    pub(crate) async fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
        shown: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        let what = format!("checking the manifest of {shown}");
        let head = self
            .retry
            .run(&what, || async {
                let mut call = Call::new(
                    Method::HEAD,
                    Target::Path(format!("v2/{repository}/manifests/{reference}")),
                    repository,
                    shown.to_owned(),
                    Action::Pull,
                );
                call.headers = accept_manifests();
                call.pass = &[404];
                call.limit = Some(self.timeout);
                let response = self.request(&call).await?;
                if response.status().as_u16() == 404 {
                    return Ok(None);
                }
                Ok(Some(
                    response
                        .headers()
                        .get("Docker-Content-Digest")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                ))
            })
            .await?;
        match head {
            None => Ok(None),
            Some(Some(digest)) if crate::reference::validate_digest(&digest).is_ok() => {
                Ok(Some(ManifestHead { digest }))
            }
            // No usable digest header: read the manifest to learn it.
            Some(_) => Ok(Some(ManifestHead {
                digest: self
                    .get_manifest(repository, reference, shown)
                    .await?
                    .digest,
            })),
        }
    }

    /// `HEAD` of a blob: whether the repository has it.
    pub(crate) async fn blob_exists(
        &self,
        repository: &str,
        digest: &str,
        action: Action,
    ) -> Result<bool, RegistryError> {
        self.retry
            .run(&format!("checking for {digest}"), || async {
                let mut call = Call::new(
                    Method::HEAD,
                    Target::Path(format!("v2/{repository}/blobs/{digest}")),
                    repository,
                    digest.to_owned(),
                    action,
                );
                call.pass = &[404];
                call.limit = Some(self.timeout);
                Ok(self.request(&call).await?.status().is_success())
            })
            .await
    }

    /// `GET` of a blob, answered: the caller streams the body and checks its digest. One
    /// attempt (a download is retried as a whole by its caller).
    pub(crate) async fn get_blob(
        &self,
        repository: &str,
        digest: &str,
        shown: &str,
    ) -> Result<Response, RegistryError> {
        let mut call = Call::new(
            Method::GET,
            Target::Path(format!("v2/{repository}/blobs/{digest}")),
            repository,
            shown.to_owned(),
            Action::Pull,
        );
        call.limit = Some(self.timeout);
        self.request(&call).await
    }

    /// `GET` of a small blob (a config), read whole and checked against `digest` and `size`.
    pub(crate) async fn read_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        shown: &str,
        max: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        if size > max as u64 {
            return Err(self.protocol(format!(
                "the blob {digest} of {shown} is {size} bytes, more than the {max} allowed"
            )));
        }
        let what = format!("reading {digest} of {shown}");
        self.retry
            .run(&what, || async {
                let response = self.get_blob(repository, digest, shown).await?;
                let bytes = self
                    .read_body(response, size as usize, &what, |_| {
                        self.protocol(format!(
                            "the blob {digest} of {shown} is longer than its declared size of \
                             {size} bytes"
                        ))
                    })
                    .await?;
                if bytes.len() as u64 != size || sha256_digest(&bytes) != digest {
                    return Err(self.protocol(format!(
                        "the blob {digest} of {shown} does not match its digest and size"
                    )));
                }
                Ok(bytes)
            })
            .await
    }

    /// `POST` of an upload: a mount of `digest` from repository `from` when given (201: done,
    /// `None`), else (or when the registry does not mount) a new upload session whose location
    /// (202) is returned.
    pub(crate) async fn start_upload(
        &self,
        repository: &str,
        mount: Option<(&str, &str)>,
    ) -> Result<Option<Url>, RegistryError> {
        let mut call = Call::new(
            Method::POST,
            Target::Path(match mount {
                Some((digest, from)) => {
                    format!("v2/{repository}/blobs/uploads/?mount={digest}&from={from}")
                }
                None => format!("v2/{repository}/blobs/uploads/"),
            }),
            repository,
            repository.to_owned(),
            Action::Push,
        );
        if let Some((_, from)) = mount {
            call.scopes.push(crate::session::scope(from, Action::Pull));
        }
        call.limit = Some(self.timeout);
        call.headers
            .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        let response = self.request(&call).await?;
        if response.status().as_u16() == 201 && mount.is_some() {
            return Ok(None);
        }
        let base = response.url().clone();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.protocol("an upload was started without a Location".into()))?;
        let location = base.join(location).map_err(|e| {
            self.protocol(format!(
                "the upload location `{location}` is not a URL: {e}"
            ))
        })?;
        if !may_follow_redirect(&base, &location) {
            return Err(self.protocol(format!(
                "the upload location {location} is plain HTTP on another host; refusing to \
                 send the blob there"
            )));
        }
        Ok(Some(location))
    }

    /// `PUT` of a whole blob to an upload `location` (monolithic: one request with the size).
    pub(crate) async fn finish_upload(
        &self,
        repository: &str,
        location: &Url,
        digest: &str,
        size: u64,
        body: &(dyn Fn() -> reqwest::Body + Send + Sync),
        limit: Option<std::time::Duration>,
    ) -> Result<(), RegistryError> {
        let mut url = location.clone();
        url.query_pairs_mut().append_pair("digest", digest);
        let mut call = Call::new(
            Method::PUT,
            Target::Url(&url),
            repository,
            repository.to_owned(),
            Action::Push,
        );
        call.headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
        call.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        call.body = Some(body);
        call.limit = limit;
        self.request(&call).await.map(drop)
    }

    /// Uploads a small blob held in memory (a config), unless the repository has it.
    pub(crate) async fn push_small_blob(
        &self,
        repository: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let bytes = bytes::Bytes::copy_from_slice(bytes);
        let body = move || reqwest::Body::from(bytes.clone());
        self.retry
            .run(&format!("the upload of {digest}"), || async {
                let Some(location) = self.start_upload(repository, None).await? else {
                    return Ok(());
                };
                let size = body().as_bytes().map_or(0, |b| b.len() as u64);
                self.finish_upload(
                    repository,
                    &location,
                    digest,
                    size,
                    &body,
                    Some(self.timeout),
                )
                .await
            })
            .await
    }

    /// `PUT` of a manifest under `tag` (or digest); returns the digest of the bytes.
    pub(crate) async fn put_manifest(
        &self,
        repository: &str,
        tag: &str,
        bytes: &[u8],
        media_type: &'static str,
        shown: &str,
    ) -> Result<String, RegistryError> {
        Ok(self
            .put_manifest_as(repository, tag, bytes, media_type, shown)
            .await?
            .digest)
    }

    /// `PUT` of manifest bytes of any media type under `reference` (a tag or its digest), byte
    /// for byte; says whether the registry acknowledged a `subject` (`OCI-Subject`, the sign
    /// of a registry with the Referrers API, OCI distribution spec 1.1).
    pub(crate) async fn put_manifest_as(
        &self,
        repository: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
        shown: &str,
    ) -> Result<PutManifest, RegistryError> {
        let content_type = HeaderValue::from_str(media_type).map_err(|_| {
            self.protocol(format!(
                "the manifest of {shown} has media type `{media_type}`, which is not a header value"
            ))
        })?;
        let bytes = bytes::Bytes::copy_from_slice(bytes);
        let body = move || reqwest::Body::from(bytes.clone());
        let subject = self
            .retry
            .run(&format!("writing the manifest of {shown}"), || async {
                let mut call = Call::new(
                    Method::PUT,
                    Target::Path(format!("v2/{repository}/manifests/{reference}")),
                    repository,
                    shown.to_owned(),
                    Action::Push,
                );
                call.headers.insert(CONTENT_TYPE, content_type.clone());
                call.body = Some(&body);
                call.limit = Some(self.timeout);
                let response = self.request(&call).await?;
                Ok(response.headers().contains_key("OCI-Subject"))
            })
            .await?;
        Ok(PutManifest {
            digest: sha256_digest(body().as_bytes().unwrap_or_default()),
            subject,
        })
    }

    /// `GET` of the Referrers API (`/v2/R/referrers/DIGEST`): the image index listing the
    /// referrers of `digest`, or `None` when the registry has no such API (404).
    pub(crate) async fn get_referrers(
        &self,
        repository: &str,
        digest: &str,
        shown: &str,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let what = format!("listing the referrers of {shown}");
        self.retry
            .run(&what, || async {
                let mut call = Call::new(
                    Method::GET,
                    Target::Path(format!("v2/{repository}/referrers/{digest}")),
                    repository,
                    shown.to_owned(),
                    Action::Pull,
                );
                call.headers
                    .insert(ACCEPT, HeaderValue::from_static(crate::manifest::OCI_INDEX));
                call.pass = &[404];
                call.limit = Some(self.timeout);
                let response = self.request(&call).await?;
                if response.status().as_u16() == 404 {
                    return Ok(None);
                }
                let bytes = self
                    .read_body(response, MAX_MANIFEST_BYTES, &what, |_| {
                        self.protocol(format!(
                            "the referrers of {shown} are more than {MAX_MANIFEST_BYTES} bytes"
                        ))
                    })
                    .await?;
                Ok(Some(bytes))
            })
            .await
    }

    /// The tags of a repository, following `Link: <...>; rel="next"` pages.
    pub(crate) async fn list_tags(
        &self,
        repository: &str,
        shown: &str,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut next: Option<Url> = None;
        for _ in 0..1000 {
            let what = format!("listing the tags of {shown}");
            let (page, link) = self
                .retry
                .run(&what, || async {
                    let target = match &next {
                        Some(url) => Target::Url(url),
                        None => Target::Path(format!("v2/{repository}/tags/list")),
                    };
                    let mut call = Call::new(
                        Method::GET,
                        target,
                        repository,
                        shown.to_owned(),
                        Action::Pull,
                    );
                    call.limit = Some(self.timeout);
                    let response = self.request(&call).await?;
                    let base = response.url().clone();
                    let link = response
                        .headers()
                        .get(reqwest::header::LINK)
                        .and_then(|v| v.to_str().ok())
                        .and_then(next_link)
                        .and_then(|l| base.join(&l).ok());
                    let bytes = self
                        .read_body(response, MAX_MANIFEST_BYTES, &what, |_| {
                            self.protocol(format!(
                                "the tag list of {shown} is more than {MAX_MANIFEST_BYTES} bytes"
                            ))
                        })
                        .await?;
                    let page: Page = serde_json::from_slice(&bytes).map_err(|e| {
                        self.protocol(format!("the tag list of {shown} is not valid JSON: {e}"))
                    })?;
                    Ok((page, link))
                })
                .await?;
            tags.extend(page.tags.unwrap_or_default());
            // Only the registry's own pages are followed.
            match link {
                Some(url)
                    if self
                        .endpoint
                        .plan
                        .is_registry_origin(&url, self.endpoint.scheme().0) =>
                {
                    next = Some(url)
                }
                _ => return Ok(tags),
            }
        }
        Ok(tags)
    }
}

/// The target of the `rel="next"` link in a `Link` header, e.g.
/// `</v2/r/tags/list?n=100&last=b>; rel="next"`.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links() {
        assert_eq!(
            next_link(r#"</v2/r/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/r/tags/list?n=2&last=b")
        );
        assert_eq!(
            next_link(r#"<https://x/a>; rel="prev", <https://x/b>; REL=next"#).as_deref(),
            Some("https://x/b")
        );
        assert_eq!(next_link("garbage"), None);
    }
}
