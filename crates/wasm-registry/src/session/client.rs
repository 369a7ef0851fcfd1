//! The one place that builds HTTP clients: from a plan's [`Trust`], with our name resolver and
//! redirect policy.
//!
//! One client per distinct trust per process ([`Clients`]): every registry with the same roots
//! shares its connections, and the platform's root store is loaded once, not per request or per
//! registry.
//!
//! What must stay true:
//! - a redirect is followed only to `https`, or to plain `http` on this machine, or from plain
//!   `http` to plain `http` (the request was in clear text already), judged on the parsed
//!   [`Url`] the redirect goes to; reqwest drops `Authorization` when a redirect leaves the
//!   origin, so a blob redirected to storage elsewhere never receives the registry's
//!   credentials;
//! - a host that does not resolve fails with [`DnsError`], so that the error is recognised by
//!   its type ([`crate::error::classify_transport`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use url::Url;

use crate::error::{CaFileProblem, RegistryError};
use crate::plan::{Trust, url_may_receive_secrets};

/// The `User-Agent` of every request.
pub(crate) const USER_AGENT: &str = concat!("wasm/", env!("CARGO_PKG_VERSION"));

/// A host name that did not resolve.
///
/// Our own type (the resolver in [`Clients`] returns it) because reqwest and hyper report
/// resolution failures as text only; with it the failure is recognised by its type.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve `{host}`")]
pub struct DnsError {
    host: String,
    #[source]
    source: std::io::Error,
}

impl DnsError {
    /// What the system's resolver said.
    pub(crate) fn detail(&self) -> String {
        self.source.to_string()
    }

    #[cfg(test)]
    pub(crate) fn for_test(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            source: std::io::Error::other("no such host"),
        }
    }
}

/// Resolves with the system's resolver (as reqwest does by default), failing with [`DnsError`].
struct Resolver;

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(Iterator::collect::<Vec<SocketAddr>>);
            match found {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(source) => {
                    Err(Box::new(DnsError { host, source })
                        as Box<dyn std::error::Error + Send + Sync>)
                }
            }
        })
    }
}

/// Whether a redirect from `from` to `to` may be followed (see the module docs).
pub(crate) fn may_follow_redirect(from: &Url, to: &Url) -> bool {
    match to.scheme() {
        "https" => true,
        "http" => from.scheme() == "http" || url_may_receive_secrets(to),
        _ => false,
    }
}

/// HTTP clients, one per distinct [`Trust`], built on first use.
#[derive(Default)]
pub(crate) struct Clients {
    built: Mutex<HashMap<Trust, reqwest::Client>>,
}

impl Clients {
    /// The client for `trust`; `registry` names the registry in errors about its CA files.
    pub(crate) fn get(
        &self,
        trust: &Trust,
        registry: &str,
        connect_timeout: Duration,
    ) -> Result<reqwest::Client, RegistryError> {
        if let Some(client) = self.built.lock().expect("poisoned").get(trust) {
            return Ok(client.clone());
        }
        let client = build(trust, registry, connect_timeout)?;
        self.built
            .lock()
            .expect("poisoned")
            .insert(trust.clone(), client.clone());
        Ok(client)
    }
}

fn build(
    trust: &Trust,
    registry: &str,
    connect_timeout: Duration,
) -> Result<reqwest::Client, RegistryError> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let allowed = attempt
            .previous()
            .last()
            .is_none_or(|from| may_follow_redirect(from, attempt.url()));
        let too_many = attempt.previous().len() >= 10;
        let refused = format!(
            "refusing a redirect to {}: plain HTTP to another host",
            attempt.url()
        );
        if too_many {
            attempt.error("more than 10 redirects")
        } else if allowed {
            attempt.follow()
        } else {
            attempt.error(refused)
        }
    });
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(connect_timeout)
        .redirect(policy)
        .dns_resolver(std::sync::Arc::new(Resolver))
        .danger_accept_invalid_certs(trust.insecure);
    for path in &trust.extra_roots {
        builder = builder.tls_certs_merge(read_certificates(path, registry)?);
    }
    builder.build().map_err(|e| RegistryError::Request {
        registry: registry.to_owned(),
        action: "setting up the HTTP client".into(),
        transient: false,
        source: Box::new(e),
    })
}

/// Reads the PEM certificates of a `ca-file` or `SSL_CERT_FILE`.
pub(crate) fn read_certificates(
    path: &Path,
    registry: &str,
) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let fail = |problem| RegistryError::CaFile {
        registry: registry.to_owned(),
        path: path.to_owned(),
        problem,
    };
    let data = std::fs::read(path).map_err(|e| fail(CaFileProblem::Read(e)))?;
    match reqwest::Certificate::from_pem_bundle(&data) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err(fail(CaFileProblem::NoCertificate)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_never_downgrade_to_plain_http_elsewhere() {
        let u = |s: &str| Url::parse(s).unwrap();
        let cases = [
            ("https://r.example/v2/", "https://storage.example/x", true),
            ("https://r.example/v2/", "http://storage.example/x", false),
            ("https://r.example/v2/", "http://127.0.0.1:9000/x", true),
            (
                "https://r.example/v2/",
                "http://storage.example\\@127.0.0.1/x",
                false,
            ),
            ("http://127.0.0.1:5000/v2/", "http://127.0.0.1:9000/x", true),
            ("http://r.example/v2/", "http://storage.example/x", true),
            ("https://r.example/v2/", "ftp://storage.example/x", false),
            ("https://r.example/v2/", "HTTPS://Storage.Example/x", true),
        ];
        for (from, to, allowed) in cases {
            assert_eq!(
                may_follow_redirect(&u(from), &u(to)),
                allowed,
                "{from} -> {to}"
            );
        }
    }

    #[test]
    fn ca_files_that_cannot_be_used() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = read_certificates(&missing, "r.example").unwrap_err();
        assert!(matches!(
            e,
            RegistryError::CaFile {
                problem: CaFileProblem::Read(_),
                ..
            }
        ));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let e = read_certificates(&empty, "r.example").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot use the CA certificate {} (for r.example): it holds no PEM \
                 certificate; fix `ca-file` or SSL_CERT_FILE",
                empty.display()
            )
        );
    }
}
