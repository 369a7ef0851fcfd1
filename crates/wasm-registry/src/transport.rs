//! Connections to registries: which scheme, which certificates, which credentials.
//!
//! All requests go through oci-client 0.18 (it refuses to forward credentials to upload
//! locations on other hosts, unlike 0.17; NOTES.md). This module decides, per registry:
//! - the scheme: `protocol` in the config or `--plain-http` fix it; a loopback registry
//!   (`localhost`, `127.0.0.0/8`, `[::1]`) is tried with HTTPS first and falls back to plain
//!   HTTP when the server does not speak TLS (as Docker treats its insecure registries);
//!   everything else is HTTPS;
//! - the trusted certificates: the platform's, plus `ca-file` and `SSL_CERT_FILE`;
//!   `insecure` skips verification;
//! - the credentials, from the [`CredentialChain`]. What must stay true: credentials are never
//!   sent over plain HTTP to a host that is not loopback unless that registry's config says
//!   `protocol = "http"`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use wasm_config::Protocol;

use crate::cache::Cache;
use crate::credentials::{Credential, CredentialChain, Resolution};
use crate::error::{Action, Ctx, RegistryError, classify_reqwest};
use crate::reference::is_loopback;
use crate::retry::RetryPolicy;
use crate::token::{exchange_identity_token, scope};

/// Options from the command line that apply to every registry.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    /// `--plain-http`: speak plain HTTP.
    pub plain_http: bool,
    /// `--insecure`: do not verify TLS certificates.
    pub insecure: bool,
    /// Retries of requests that fail for a transient reason.
    pub retry: RetryPolicy,
    /// `--timeout`: a request that makes no progress for this long fails (connecting, waiting
    /// for an answer, or a body slower than 1 KiB/s on average over this span).
    pub timeout: Duration,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            plain_http: false,
            insecure: false,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// The scheme chosen for a registry and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// TLS.
    Https,
    /// Plain HTTP.
    Http,
}

impl Scheme {
    /// `https` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// Everything needed to talk to one registry.
pub struct Session {
    /// The canonical registry.
    pub registry: String,
    /// The scheme in use.
    pub scheme: Scheme,
    /// The oci-client client, configured for this registry.
    pub client: oci_client::Client,
    /// How the credentials were found.
    pub resolution: Resolution,
    /// The credentials as oci-client takes them.
    pub auth: RegistryAuth,
    /// Credentials were found but withheld (plain HTTP to a remote host).
    pub withheld: bool,
    /// How the registry is reached, for the requests oci-client does not make (token renewal).
    pub(crate) endpoint: Endpoint,
    /// Retries of transient failures.
    pub(crate) retry: RetryPolicy,
    /// No progress for this long fails a request.
    pub(crate) timeout: Duration,
}

impl Session {
    pub(crate) fn ctx<'a>(
        &'a self,
        repository: &'a str,
        reference: String,
        action: Action,
    ) -> Ctx<'a> {
        Ctx {
            registry: &self.registry,
            repository,
            reference,
            action,
            resolution: &self.resolution,
            withheld: self.withheld,
            authenticated: false,
        }
    }
}

/// Opens sessions to registries, sharing the credential chain; one session per registry.
pub struct Transport {
    chain: Arc<CredentialChain>,
    options: TransportOptions,
    cache: Option<Cache>,
    schemes: Mutex<HashMap<String, Scheme>>,
    clients: Mutex<HashMap<String, oci_client::Client>>,
}

impl Transport {
    /// A transport over a credential chain.
    pub fn new(chain: Arc<CredentialChain>, options: TransportOptions) -> Self {
        Self {
            chain,
            options,
            cache: None,
            schemes: Mutex::default(),
            clients: Mutex::default(),
        }
    }

    /// Uses `cache` for manifests and blobs.
    pub fn with_cache(mut self, cache: Option<Cache>) -> Self {
        self.cache = cache;
        self
    }

    /// The local cache, if any.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// The credential chain.
    pub fn chain(&self) -> &Arc<CredentialChain> {
        &self.chain
    }

    /// Opens a session for `registry`, resolving credentials for `action` on `repository`.
    pub async fn session(
        &self,
        registry: &str,
        repository: &str,
        action: Action,
    ) -> Result<Session, RegistryError> {
        let endpoint = self.endpoint(registry).await?;
        let Endpoint {
            scheme,
            ref certs,
            insecure,
            ..
        } = endpoint;

        let chain = self.chain.clone();
        let (reg, repo) = (registry.to_string(), repository.to_string());
        let resolution = tokio::task::spawn_blocking(move || chain.resolve(&reg, Some(&repo)))
            .await
            .map_err(|e| RegistryError::Setup(format!("credential lookup crashed: {e}")))??;

        // One HTTP client per registry and identity: requests share connections and tokens
        // (oci-client keeps one set of credentials per registry in a client).
        let mut identity = format!(
            "{registry}|{}|{}",
            resolution.credential.kind(),
            resolution.credential.username().unwrap_or_default()
        );
        if matches!(resolution.credential, Credential::IdentityToken { .. }) {
            // The exchanged access token is scoped to one repository.
            identity = format!("{identity}|{repository}");
        }
        let cached = self
            .clients
            .lock()
            .expect("poisoned")
            .get(&identity)
            .cloned();
        let client = match cached {
            Some(client) => client,
            None => {
                let config = ClientConfig {
                    protocol: match scheme {
                        Scheme::Https => ClientProtocol::Https,
                        Scheme::Http => ClientProtocol::Http,
                    },
                    accept_invalid_certificates: insecure,
                    extra_root_certificates: certs.clone(),
                    use_monolithic_push: true,
                    platform_resolver: None,
                    connect_timeout: Some(self.options.timeout.min(Duration::from_secs(15))),
                    // A little longer than our own stall checks, so that those report a
                    // stall (with the --timeout hint) rather than reqwest's bare timeout.
                    read_timeout: Some(self.options.timeout + Duration::from_secs(2)),
                    user_agent: concat!("wasm/", env!("CARGO_PKG_VERSION")),
                    ..ClientConfig::default()
                };
                let client = oci_client::Client::try_from(config).map_err(|e| {
                    RegistryError::Setup(format!(
                        "cannot set up the HTTP client for {registry}: {}",
                        crate::credentials::error_chain(&e)
                    ))
                })?;
                self.clients
                    .lock()
                    .expect("poisoned")
                    .insert(identity, client.clone());
                client
            }
        };

        let cleartext_ok = endpoint.may_send_credentials(registry);
        let (auth, withheld) = match &resolution.credential {
            Credential::Anonymous => (RegistryAuth::Anonymous, false),
            _ if !cleartext_ok => {
                tracing::warn!(
                    "not sending the credentials for {registry} over plain HTTP; set `protocol = \"http\"` for it to allow that"
                );
                (RegistryAuth::Anonymous, true)
            }
            Credential::Basic { username, password } => {
                check_realm(&endpoint, registry).await?;
                (
                    RegistryAuth::Basic(username.clone(), password.expose().clone()),
                    false,
                )
            }
            Credential::IdentityToken { token, .. } => {
                let http = endpoint.http_client()?;
                let access = exchange_identity_token(
                    &http,
                    &endpoint.base_url(registry),
                    registry,
                    &scope(repository, action),
                    token,
                    &resolution.describe_source(),
                )
                .await?;
                (RegistryAuth::Bearer(access), false)
            }
        };
        tracing::debug!(
            registry,
            scheme = scheme.as_str(),
            credentials = %resolution.describe_source(),
            "session"
        );
        Ok(Session {
            registry: registry.to_string(),
            scheme,
            client,
            resolution,
            auth,
            withheld,
            endpoint,
            retry: self.options.retry,
            timeout: self.options.timeout,
        })
    }

    /// How to reach `registry`: the scheme (see the module docs) and the certificates to trust.
    pub(crate) async fn endpoint(&self, registry: &str) -> Result<Endpoint, RegistryError> {
        let settings = self.chain.config().registry(registry);
        let insecure = self.options.insecure || settings.is_some_and(|s| s.insecure);
        let configured = settings.and_then(|s| s.protocol);
        let mut certs = Vec::new();
        if let Some(ca) = settings.and_then(|s| s.ca_file.clone()) {
            certs.push(read_cert(&ca, registry)?);
        }
        if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
            let path = PathBuf::from(path);
            // An unreadable SSL_CERT_FILE is the environment's problem; say so.
            certs.push(read_cert(&path, registry)?);
        }

        let scheme = match (configured, self.options.plain_http) {
            (_, true) | (Some(Protocol::Http), _) => Scheme::Http,
            (Some(Protocol::Https), false) => Scheme::Https,
            (None, false) if is_loopback(registry) => {
                self.probe_scheme(registry, &certs, insecure).await
            }
            (None, false) => Scheme::Https,
        };
        Ok(Endpoint {
            scheme,
            certs,
            insecure,
            configured,
        })
    }

    /// HTTPS first; plain HTTP when the server answers HTTP on that port.
    async fn probe_scheme(&self, registry: &str, certs: &[Certificate], insecure: bool) -> Scheme {
        if let Some(s) = self.schemes.lock().expect("poisoned").get(registry) {
            return *s;
        }
        let scheme = match http_client(certs, insecure) {
            Ok(client) => match client.get(format!("https://{registry}/v2/")).send().await {
                Ok(_) => Scheme::Https,
                Err(e) => match classify_reqwest(registry, &e) {
                    Some(RegistryError::NotTls { .. }) => Scheme::Http,
                    _ => Scheme::Https,
                },
            },
            Err(_) => Scheme::Https,
        };
        tracing::debug!(
            registry,
            scheme = scheme.as_str(),
            "probed the scheme of a loopback registry"
        );
        self.schemes
            .lock()
            .expect("poisoned")
            .insert(registry.to_string(), scheme);
        scheme
    }
}

/// How a registry is reached: decided once per registry by [`Transport::endpoint`], for
/// oci-client's requests and for the ones it does not make (login, identity tokens).
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// The scheme in use.
    pub(crate) scheme: Scheme,
    /// Certificates trusted besides the platform's (`ca-file`, `SSL_CERT_FILE`).
    pub(crate) certs: Vec<Certificate>,
    /// Certificates are not verified.
    pub(crate) insecure: bool,
    /// `protocol` from the registry's config, if set.
    pub(crate) configured: Option<Protocol>,
}

impl Endpoint {
    /// `SCHEME://HOST[:PORT]` of `registry`'s API (Docker Hub's is `index.docker.io`, as
    /// oci-client resolves it).
    pub(crate) fn base_url(&self, registry: &str) -> String {
        let host = if registry == crate::reference::DOCKER_HUB {
            "index.docker.io"
        } else {
            registry
        };
        format!("{}://{host}", self.scheme.as_str())
    }

    /// Whether credentials may be sent: HTTPS, a registry on this machine, or plain HTTP that
    /// the registry's config asks for (see the module docs).
    pub(crate) fn may_send_credentials(&self, registry: &str) -> bool {
        self.scheme == Scheme::Https
            || is_loopback(registry)
            || self.configured == Some(Protocol::Http)
    }

    /// A reqwest client with these trust settings.
    pub(crate) fn http_client(&self) -> Result<reqwest::Client, RegistryError> {
        http_client(&self.certs, self.insecure)
    }
}

/// Refuses a registry whose token realm would receive the password over plain HTTP on a host
/// that is not this machine (oci-client sends Basic credentials to whatever realm the
/// registry's challenge names). One `GET /v2/` before the first authenticated request; a
/// registry that cannot be reached here fails later with the real request's error.
async fn check_realm(endpoint: &Endpoint, registry: &str) -> Result<(), RegistryError> {
    let Ok(http) = endpoint.http_client() else {
        return Ok(());
    };
    let Ok(response) = http
        .get(format!("{}/v2/", endpoint.base_url(registry)))
        .send()
        .await
    else {
        return Ok(());
    };
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::token::Challenge::parse);
    match challenge
        .as_ref()
        .and_then(|c| c.is_bearer().then(|| c.realm()).flatten())
    {
        Some(realm) if !crate::token::realm_is_safe(realm) => Err(RegistryError::UnsafeRealm {
            registry: registry.to_string(),
            realm: realm.to_string(),
        }),
        _ => Ok(()),
    }
}

/// A plain reqwest client with the same trust settings as the oci-client one, for the requests
/// oci-client does not make (scheme probe, identity-token exchange).
pub(crate) fn http_client(
    certs: &[Certificate],
    insecure: bool,
) -> Result<reqwest::Client, RegistryError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("wasm/", env!("CARGO_PKG_VERSION")))
        .danger_accept_invalid_certs(insecure);
    for c in certs {
        let parsed = reqwest::Certificate::from_pem_bundle(&c.data)
            .map_err(|e| RegistryError::Setup(format!("invalid CA certificate: {e}")))?;
        builder = builder.tls_certs_merge(parsed);
    }
    builder
        .build()
        .map_err(|e| RegistryError::Setup(format!("cannot set up the HTTP client: {e}")))
}

pub(crate) fn read_cert(
    path: &std::path::Path,
    registry: &str,
) -> Result<Certificate, RegistryError> {
    let data = std::fs::read(path).map_err(|e| {
        RegistryError::Setup(format!(
            "cannot read the CA certificate {} (for {registry}): {e}; fix `ca-file` or \
             SSL_CERT_FILE",
            path.display()
        ))
    })?;
    if reqwest::Certificate::from_pem_bundle(&data).map_or(true, |v| v.is_empty()) {
        return Err(RegistryError::Setup(format!(
            "{} (CA certificate for {registry}) holds no PEM certificate; fix `ca-file` or \
             SSL_CERT_FILE",
            path.display()
        )));
    }
    Ok(Certificate {
        encoding: CertificateEncoding::Pem,
        data,
    })
}
