//! Errors of registry operations, each naming the registry, the repository and what to do.
//!
//! Transport errors from oci-client and reqwest are classified here once ([`classify`]), so that
//! every command reports a 401, a refused connection or an untrusted certificate the same way.

use thiserror::Error;

use crate::component::ComponentError;
use crate::credentials::{ChainError, Credential, Resolution};
use crate::reference::ReferenceError;

/// What the user was doing when a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Reading (pull, inspect, tags).
    Pull,
    /// Writing (push).
    Push,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Pull => "pull from",
            Action::Push => "push to",
        }
    }
}

/// An error of a registry operation.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// A bad reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A bad Wasm file.
    #[error(transparent)]
    Component(#[from] ComponentError),
    /// The credential chain failed.
    #[error(transparent)]
    Credentials(#[from] ChainError),
    /// The registry wants credentials that were not found.
    #[error(
        "{registry} requires authentication to {} {repository}, and no credentials were found \
         (tried: {tried}); log in with `wasm login {registry}` (or `docker login`) or configure a \
         `credential-helper` for it in the wasm config file",
        action.verb()
    )]
    NoCredentials {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The action.
        action: Action,
        /// The sources consulted.
        tried: String,
    },
    /// The registry rejected the credentials.
    #[error(
        "{registry} rejected the credentials of user `{username}` from {source_desc}: they are \
         wrong or expired; log in again (with an app token where the account uses 2FA/MFA){}",
        server_detail(.detail)
    )]
    Rejected {
        /// The registry.
        registry: String,
        /// The username.
        username: String,
        /// Where the credentials came from.
        source_desc: String,
        /// The server's error text.
        detail: String,
    },
    /// `wasm login`: the registry rejected the username and password given.
    #[error(
        "{registry} rejected the password of user `{username}`, so nothing was stored; check \
         both (where the account uses 2FA/MFA, the password must be an app token or personal \
         access token){}",
        server_detail(.detail)
    )]
    LoginRejected {
        /// The registry.
        registry: String,
        /// The username.
        username: String,
        /// The server's error text.
        detail: String,
    },
    /// Authenticated, but not allowed.
    #[error(
        "{who} may not {} {repository} on {registry} (credentials from {source_desc}); ask for \
         {} access to the repository, or check its name{}",
        action.verb(),
        match action { Action::Pull => "pull", Action::Push => "push" },
        server_detail(.detail)
    )]
    Denied {
        /// The registry.
        registry: String,
        /// The repository.
        repository: String,
        /// The action.
        action: Action,
        /// `user `alice`` or `anonymous access`.
        who: String,
        /// Where the credentials came from.
        source_desc: String,
        /// The server's error text.
        detail: String,
    },
    /// The repository, tag or digest does not exist.
    #[error("{reference} was not found on {registry}: {what}{}", server_detail(.detail))]
    NotFound {
        /// The registry.
        registry: String,
        /// The reference as given.
        reference: String,
        /// What is missing and what to do.
        what: String,
        /// The server's error text.
        detail: String,
    },
    /// Nothing listens at the address.
    #[error(
        "cannot connect to {registry}: connection refused; is the registry running, and is the \
         address (host and port) right?"
    )]
    ConnectionRefused {
        /// The registry.
        registry: String,
    },
    /// The host name does not resolve.
    #[error(
        "cannot resolve the host of {registry}: check the registry's spelling and your DNS/network"
    )]
    Dns {
        /// The registry.
        registry: String,
    },
    /// The certificate is not trusted.
    #[error(
        "the TLS certificate of {registry} is not trusted ({problem}); if the registry uses a \
         private CA, add `ca-file = \"/path/to/ca.pem\"` under [registries.\"{registry}\"] in \
         the wasm config file (or set SSL_CERT_FILE), or as a last resort `insecure = true`"
    )]
    Untrusted {
        /// The registry.
        registry: String,
        /// rustls's reason.
        problem: String,
    },
    /// HTTPS to a plain HTTP server.
    #[error(
        "{registry} does not speak TLS (it answered in plain HTTP); if that is intended, add \
         `protocol = \"http\"` under [registries.\"{registry}\"] in the wasm config file or pass \
         `--plain-http`"
    )]
    NotTls {
        /// The registry.
        registry: String,
    },
    /// Plain HTTP to an HTTPS server.
    #[error(
        "{registry} expects HTTPS but was spoken to in plain HTTP; remove `protocol = \"http\"` \
         (or `--plain-http`) for it"
    )]
    NeedsTls {
        /// The registry.
        registry: String,
    },
    /// Credentials would travel in clear text.
    #[error(
        "refusing to send credentials for {registry} over plain HTTP: the host is not on this \
         machine; use HTTPS, or, if you accept the risk, set `protocol = \"http\"` under \
         [registries.\"{registry}\"] in the wasm config file"
    )]
    CleartextCredentials {
        /// The registry.
        registry: String,
    },
    /// The artifact is not a Wasm component.
    #[error("{reference} is not a Wasm artifact: {problem}")]
    NotWasmArtifact {
        /// The reference.
        reference: String,
        /// What was found instead.
        problem: String,
    },
    /// The registry is overloaded or down for now (429, 502, 503, 504).
    #[error(
        "{registry} is unavailable (HTTP {status}){}; try again later",
        server_detail(.detail)
    )]
    Unavailable {
        /// The registry.
        registry: String,
        /// The HTTP status.
        status: u16,
        /// The server's error text.
        detail: String,
    },
    /// The registry's token realm would receive the password in clear text.
    #[error(
        "refusing to send credentials for {registry} to its token service {realm}: it is plain \
         HTTP on another host, where anyone on the way could read them; the registry's \
         configuration is wrong or the answer was tampered with"
    )]
    UnsafeRealm {
        /// The registry.
        registry: String,
        /// The realm it named.
        realm: String,
    },
    /// A request made no progress within the timeout.
    #[error(
        "{registry} stopped answering: {what} made no progress for {} s; check the network, or \
         raise --timeout (WASM_TIMEOUT)",
        after.as_secs()
    )]
    Stalled {
        /// The registry.
        registry: String,
        /// What was going on.
        what: String,
        /// The timeout.
        after: std::time::Duration,
    },
    /// `--offline`, and the cache lacks something.
    #[error("cannot pull {reference} offline: {what}; pull it once with network access")]
    Offline {
        /// The reference.
        reference: String,
        /// What is missing.
        what: String,
    },
    /// The registry sent something that breaks the protocol.
    #[error("{registry} sent an invalid response: {problem}")]
    Protocol {
        /// The registry.
        registry: String,
        /// What was wrong.
        problem: String,
    },
    /// A configuration problem (CA file unreadable, ...).
    #[error("{0}")]
    Setup(String),
    /// A local file problem.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure of a request.
    #[error("{registry}: {action} failed")]
    Request {
        /// The registry.
        registry: String,
        /// What was attempted.
        action: String,
        /// The error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl RegistryError {
    /// Whether trying again may succeed: the registry was unavailable for now, or the
    /// connection broke or stalled (reset, closed early, timed out). Refused connections, TLS
    /// and authentication failures, and bad content are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Unavailable { .. } | RegistryError::Stalled { .. } => true,
            RegistryError::Request { source, .. } => {
                let mut texts = Vec::new();
                let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
                while let Some(err) = cur {
                    texts.push(format!("{err} {err:?}").to_ascii_lowercase());
                    cur = err.source();
                }
                let all = texts.join(" | ");
                [
                    "connection reset",
                    "broken pipe",
                    "timed out",
                    "timeout",
                    "connection closed",
                    "incompletemessage",
                    "unexpected eof",
                    "unexpectedeof",
                    "error decoding response body",
                    "connection aborted",
                ]
                .iter()
                .any(|needle| all.contains(needle))
            }
            _ => false,
        }
    }
}

fn server_detail(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" (server said: {detail})")
    }
}

/// Context for classifying a failed request.
pub(crate) struct Ctx<'a> {
    pub(crate) registry: &'a str,
    pub(crate) repository: &'a str,
    pub(crate) reference: String,
    pub(crate) action: Action,
    pub(crate) resolution: &'a Resolution,
    /// The credentials were withheld (plain HTTP to a remote host).
    pub(crate) withheld: bool,
    /// The token endpoint accepted the credentials.
    pub(crate) authenticated: bool,
}

impl Ctx<'_> {
    /// Marks that the token endpoint accepted the credentials: a 401 after that means the
    /// token lacks the scope (the user may not do this), not that the credentials are wrong.
    pub(crate) fn authenticated(mut self, token: &Option<String>) -> Self {
        self.authenticated = token.is_some()
            && self.resolution.credential != Credential::Anonymous
            && !self.withheld;
        self
    }

    fn unauthorized(&self, detail: String) -> RegistryError {
        if self.authenticated {
            return self.denied(detail);
        }
        match &self.resolution.credential {
            Credential::Anonymous => RegistryError::NoCredentials {
                registry: self.registry.to_string(),
                repository: self.repository.to_string(),
                action: self.action,
                tried: self
                    .resolution
                    .steps
                    .iter()
                    .filter(|s| s.source != crate::credentials::SourceKind::Anonymous)
                    .map(|s| s.source.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            },
            _ if self.withheld => RegistryError::CleartextCredentials {
                registry: self.registry.to_string(),
            },
            c => RegistryError::Rejected {
                registry: self.registry.to_string(),
                username: c.username().unwrap_or("<token>").to_string(),
                source_desc: self.resolution.describe_source(),
                detail,
            },
        }
    }

    pub(crate) fn denied(&self, detail: String) -> RegistryError {
        RegistryError::Denied {
            registry: self.registry.to_string(),
            repository: self.repository.to_string(),
            action: self.action,
            who: match self.resolution.credential.username() {
                Some(u) => format!("user `{u}`"),
                None => "anonymous access".into(),
            },
            source_desc: self.resolution.describe_source(),
            detail,
        }
    }

    fn not_found(&self, detail: String, code: &str) -> RegistryError {
        let what = match code {
            "NAME_UNKNOWN" => "the repository does not exist (check its name)".to_string(),
            "BLOB_UNKNOWN" => "a blob of the artifact is missing from the registry".to_string(),
            _ => format!(
                "no such tag or digest (list the tags with `wasm tags {}/{}`)",
                self.registry, self.repository
            ),
        };
        RegistryError::NotFound {
            registry: self.registry.to_string(),
            reference: self.reference.clone(),
            what,
            detail,
        }
    }

    /// Turns an oci-client error into one that says what to do.
    pub(crate) fn classify(&self, err: oci_client::errors::OciDistributionError) -> RegistryError {
        use oci_client::errors::OciDistributionError as E;
        match err {
            E::UnauthorizedError { .. } => self.unauthorized(String::new()),
            E::AuthenticationFailure(body) => self.unauthorized(error_text(&body)),
            E::ImageManifestNotFoundError(_) => self.not_found(String::new(), "MANIFEST_UNKNOWN"),
            E::RegistryError { envelope, .. } => {
                let first = envelope.errors.first();
                let code = first
                    .map(|e| format!("{:?}", e.code))
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                let message = first.map(|e| e.message.clone()).unwrap_or_default();
                match code.as_str() {
                    "UNAUTHORIZED" => self.unauthorized(message),
                    "DENIED" => self.denied(message),
                    "NAMEUNKNOWN" | "NAME_UNKNOWN" => self.not_found(message, "NAME_UNKNOWN"),
                    "MANIFESTUNKNOWN" | "MANIFEST_UNKNOWN" => {
                        self.not_found(message, "MANIFEST_UNKNOWN")
                    }
                    "BLOBUNKNOWN" | "BLOB_UNKNOWN" => self.not_found(message, "BLOB_UNKNOWN"),
                    // oci-client drops the status of a JSON error; Docker Hub's rate limit is a
                    // 429 with this code.
                    "TOOMANYREQUESTS" | "TOO_MANY_REQUESTS" => RegistryError::Unavailable {
                        registry: self.registry.to_string(),
                        status: 429,
                        detail: message,
                    },
                    _ => RegistryError::Protocol {
                        registry: self.registry.to_string(),
                        problem: format!("{code}: {message}"),
                    },
                }
            }
            E::ServerError { code, message, .. } => match code {
                401 => self.unauthorized(error_text(&message)),
                403 => self.denied(error_text(&message)),
                404 => self.not_found(error_text(&message), ""),
                429 | 502 | 503 | 504 => RegistryError::Unavailable {
                    registry: self.registry.to_string(),
                    status: code,
                    detail: error_text(&message),
                },
                400 if message.contains("HTTP request to an HTTPS server") => {
                    RegistryError::NeedsTls {
                        registry: self.registry.to_string(),
                    }
                }
                _ => RegistryError::Protocol {
                    registry: self.registry.to_string(),
                    problem: format!("HTTP {code}: {}", error_text(&message)),
                },
            },
            E::RequestError(e) if e.status().is_some() => {
                match e.status().map(|s| s.as_u16()).unwrap_or_default() {
                    401 => self.unauthorized(String::new()),
                    403 => self.denied(String::new()),
                    404 => self.not_found(String::new(), ""),
                    code @ (429 | 502 | 503 | 504) => RegistryError::Unavailable {
                        registry: self.registry.to_string(),
                        status: code,
                        detail: String::new(),
                    },
                    _ => RegistryError::Request {
                        registry: self.registry.to_string(),
                        action: format!("{} {}", self.action.verb(), self.repository),
                        source: Box::new(e),
                    },
                }
            }
            E::RequestError(e) => {
                classify_reqwest(self.registry, &e).unwrap_or_else(|| RegistryError::Request {
                    registry: self.registry.to_string(),
                    action: format!("{} {}", self.action.verb(), self.repository),
                    source: Box::new(e),
                })
            }
            E::DigestError(e) => RegistryError::Protocol {
                registry: self.registry.to_string(),
                problem: format!("content does not match its digest: {e}"),
            },
            other => RegistryError::Request {
                registry: self.registry.to_string(),
                action: format!("{} {}", self.action.verb(), self.repository),
                source: Box::new(other),
            },
        }
    }
}

/// The `message` of a registry's JSON error body, or the body itself, shortened.
pub(crate) fn error_text(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        message: String,
    }
    let text = serde_json::from_str::<Envelope>(body)
        .ok()
        .and_then(|e| e.errors.into_iter().next())
        .map(|i| i.message)
        .unwrap_or_else(|| body.trim().to_string());
    let mut text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    if text.len() >= 300 {
        text.push('…');
    }
    text
}

/// Recognises connection-level failures by walking the error's sources.
pub(crate) fn classify_reqwest(
    registry: &str,
    e: &(dyn std::error::Error + 'static),
) -> Option<RegistryError> {
    let mut texts = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        texts.push(format!("{err} {err:?}"));
        cur = err.source();
    }
    let all = texts.join(" | ");
    let registry = registry.to_string();
    if all.contains("Connection refused") || all.contains("ConnectionRefused") {
        return Some(RegistryError::ConnectionRefused { registry });
    }
    if all.contains("dns error") || all.contains("failed to lookup address") {
        return Some(RegistryError::Dns { registry });
    }
    if all.contains("InvalidContentType")
        || all.contains("corrupt message")
        || all.contains("InvalidMessage")
    {
        return Some(RegistryError::NotTls { registry });
    }
    for problem in [
        "UnknownIssuer",
        "NotValidForName",
        "Expired",
        "BadSignature",
        "UnsupportedCertVersion",
        "certificate",
    ] {
        if all.contains(problem) {
            let problem = match problem {
                "UnknownIssuer" => "unknown issuer",
                "NotValidForName" => "the certificate is not valid for this host name",
                "Expired" => "the certificate has expired",
                _ => "invalid certificate",
            };
            return Some(RegistryError::Untrusted {
                registry,
                problem: problem.to_string(),
            });
        }
    }
    None
}
