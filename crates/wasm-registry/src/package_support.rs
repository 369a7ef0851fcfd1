//! What the package manager (`wasm-package`) needs from a registry beyond `push`, `pull` and
//! `tags`: the manifest a tag points at now, without downloading the layer, and a plain HTTPS GET
//! of a discovery document (`/.well-known/wasm-pkg/registry.json`) with the trust settings the
//! registries of the same host get.
//!
//! Kept in one file so that it can be re-homed when the transport is restructured; both
//! functions reuse the decisions made elsewhere (`Transport::endpoint` for scheme and
//! certificates, `pull::fetch_manifest` for checking and caching manifests) rather than making
//! them again.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Action, RegistryError, classify_reqwest};
use crate::pull::fetch_manifest;
use crate::reference::Reference;
use crate::transport::{Scheme, Transport};

/// The manifest a reference resolves to now, checked to be a Wasm artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestSummary {
    /// The manifest digest.
    pub digest: String,
    /// The digest of its one `application/wasm` layer.
    pub layer_digest: String,
    /// The layer's size in bytes.
    pub size: u64,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// Asks the registry which manifest `reference` names now: one manifest GET (the manifest is
/// small, checked to describe a Wasm artifact and stored in the cache), no layer download.
pub async fn resolve_manifest(
    transport: &Transport,
    reference: &Reference,
) -> Result<ManifestSummary, RegistryError> {
    let session = transport
        .session(reference.registry(), reference.repository(), Action::Pull)
        .await?;
    let wasm = fetch_manifest(&session, reference, transport.cache()).await?;
    Ok(ManifestSummary {
        digest: wasm.digest,
        layer_digest: wasm.layer.digest,
        size: wasm.layer.size as u64,
        annotations: wasm.manifest.annotations.unwrap_or_default(),
    })
}

/// The answer to a [`get_well_known`] request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WellKnown {
    /// The URL asked.
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// The body (at most 64 KiB).
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`, when the server sent one.
    pub max_age: Option<Duration>,
}

/// Discovery documents larger than this are refused.
pub(crate) const MAX_WELL_KNOWN_BYTES: usize = 64 * 1024;

/// GETs `path` (e.g. `/.well-known/wasm-pkg/registry.json`) from `domain` (`HOST[:PORT]`).
///
/// The scheme and the trusted certificates are decided as for a registry of that name
/// (`Transport::endpoint`): HTTPS, except plain HTTP when the config says `protocol = "http"`
/// or `--plain-http` is given, or when a loopback host does not speak TLS (as wkg asks loopback
/// hosts in plain HTTP); `ca-file`, `insecure` and `SSL_CERT_FILE` apply. No credentials are
/// sent. Any status is returned; connection failures are classified like registry ones.
pub async fn get_well_known(
    transport: &Transport,
    domain: &str,
    path: &str,
) -> Result<WellKnown, RegistryError> {
    let endpoint = transport.endpoint(domain).await?;
    let scheme = match endpoint.scheme {
        Scheme::Https => "https",
        Scheme::Http => "http",
    };
    let url = format!("{scheme}://{domain}{path}");
    let failed = |e: reqwest::Error| {
        classify_reqwest(domain, &e).unwrap_or_else(|| RegistryError::Request {
            registry: domain.to_string(),
            action: format!("GET {url}"),
            source: Box::new(e),
        })
    };
    let http = endpoint.http_client()?;
    let mut response = http.get(&url).send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_WELL_KNOWN_BYTES {
            return Err(RegistryError::Protocol {
                registry: domain.to_string(),
                problem: format!("{url} is larger than {MAX_WELL_KNOWN_BYTES} bytes"),
            });
        }
    }
    Ok(WellKnown {
        url,
        status,
        body,
        max_age,
    })
}

/// `max-age=N` of a `Cache-Control` value.
fn max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|directive| {
        let (name, seconds) = directive.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| seconds.trim().trim_matches('"').parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(max_age("max-age=60"), Some(Duration::from_secs(60)));
        assert_eq!(
            max_age("public, Max-Age = 3600"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}
