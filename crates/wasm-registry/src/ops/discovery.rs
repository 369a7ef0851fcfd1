//! The discovery documents of package names (`/.well-known/wasm-pkg/registry.json`, the format
//! wkg uses): a plain `GET` without credentials, to a domain reached as a registry of that name
//! would be (the same connection plan: scheme, trust roots; a domain on this machine is tried
//! with TLS first, then plain HTTP, as wkg asks loopback hosts in plain HTTP).
//!
//! What must stay true: no credentials are sent; the answer is read within the timeout and at
//! most [`MAX_WELL_KNOWN_BYTES`].

use std::time::Duration;

use wasm_config::RegistryName;

use crate::error::RegistryError;
use crate::session::Transport;

/// Discovery documents larger than this are refused.
pub(crate) const MAX_WELL_KNOWN_BYTES: usize = 64 * 1024;

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

/// `GET` of `path` (e.g. `/.well-known/wasm-pkg/registry.json`) from `domain` (`HOST[:PORT]`).
/// Any status is returned; a request without an answer is classified as for a registry.
pub async fn get_well_known(
    transport: &Transport,
    domain: &RegistryName,
    path: &str,
) -> Result<WellKnown, RegistryError> {
    let endpoint = transport.endpoint(domain, None)?;
    let path = path.trim_start_matches('/');
    let (response, url) = endpoint.get_without_credentials(path).await?;
    let status = response.status().as_u16();
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(max_age);
    let body = endpoint
        .read_body(response, MAX_WELL_KNOWN_BYTES, &format!("GET {url}"))
        .await?;
    Ok(WellKnown {
        url: url.to_string(),
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
