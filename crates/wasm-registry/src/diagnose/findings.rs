//! What each step of `registry test` found, as data (for `--json` and [`Verdict::decide`])
//! and as the detail lines shown under the step.
//!
//! What must stay true: nothing here holds a secret; every type can be printed and serialized
//! whole.
//!
//! [`Verdict::decide`]: super::Verdict::decide

use serde::Serialize;
use wasm_config::HelperError;

use wasm_config::{RegistryAddress, RegistryName, Scheme};

use crate::credentials::{
    AuthFileError, ChainError, DOCKER_HUB_KEY, Outcome, Resolution, SourceError, SourceKind,
    Step as ChainStep, StoreHelperError, error_chain,
};

/// Step 1: where the credentials come from.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CredentialFindings {
    /// Every source consulted, in order.
    pub sources: Vec<ChainStep>,
    /// `anonymous`, `username/password` or `identity token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The username, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The source that provided them, e.g. ``docker auths (/h/.docker/config.json) under `h` ``.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The key they were stored under, when it is another spelling of the registry than the
    /// usual one (`https://HOST/v2/` for `HOST`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_spelling: Option<String>,
    /// The source that failed and stopped the chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<CredentialProblem>,
}

impl CredentialFindings {
    /// From a successful lookup.
    pub fn from_resolution(resolution: &Resolution) -> Self {
        let step = resolution.source();
        let other_spelling = match &step.outcome {
            Outcome::Found { key, .. } if step.source != SourceKind::ConfigHelper => {
                is_other_spelling(key, &resolution.registry).then(|| key.clone())
            }
            _ => None,
        };
        Self {
            sources: resolution.steps.clone(),
            kind: Some(resolution.credential.kind().to_string()),
            username: resolution.credential.username().map(str::to_string),
            source: Some(resolution.describe_source()),
            other_spelling,
            problem: None,
        }
    }

    /// From a source that failed.
    pub fn from_error(error: &ChainError) -> Self {
        Self {
            sources: error.steps.clone(),
            problem: Some(CredentialProblem::of(error)),
            ..Self::default()
        }
    }

    pub(super) fn anonymous(&self) -> bool {
        self.kind.as_deref() == Some("anonymous")
    }

    /// `user `alice``, `the identity token` or `anonymous access`.
    pub(super) fn who(&self) -> String {
        match (&self.username, self.kind.as_deref()) {
            (Some(u), _) => format!("user `{u}`"),
            (None, Some("identity token")) => "the identity token".into(),
            _ => "anonymous access".into(),
        }
    }

    /// The detail lines of the step.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.sources.iter().map(ToString::to_string).collect();
        if self.problem.is_none() {
            lines.push(match (&self.kind, &self.username) {
                (Some(kind), Some(user)) => format!("using: {kind} of user `{user}`"),
                (Some(kind), None) if kind == "anonymous" => "using: no credentials".into(),
                (Some(kind), None) => format!("using: {kind}"),
                (None, _) => "using: nothing".into(),
            });
        }
        if let Some(key) = &self.other_spelling {
            lines.push(format!(
                "note: stored under `{key}`, another spelling of the registry; wasm uses it as is"
            ));
        }
        lines
    }
}

/// Whether `key` names `registry` in a spelling other than the ones `docker login` writes.
pub(super) fn is_other_spelling(key: &str, registry: &RegistryName) -> bool {
    key != registry.as_str()
        && !(registry.is_docker_hub() && key == DOCKER_HUB_KEY)
        && RegistryAddress::parse(key).is_ok_and(|a| a.name == *registry && a.path.is_none())
}

/// A credential source that is configured but broken.
#[derive(Clone, Debug, Serialize)]
pub struct CredentialProblem {
    /// What kind of failure.
    pub kind: CredentialProblemKind,
    /// What is wrong, with the source named.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// The kinds of broken credential sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialProblemKind {
    /// A helper program that is not installed or not on PATH.
    HelperNotInstalled,
    /// A helper that fails, hangs or answers nonsense.
    HelperFailing,
    /// A credential file that is not valid JSON.
    FileInvalid,
    /// Anything else (an unreadable file, an undecodable entry).
    SourceFailing,
}

impl CredentialProblem {
    /// Names the failure of a credential source, with its fix.
    pub fn of(error: &ChainError) -> Self {
        use CredentialProblemKind as K;
        let registry = &error.registry;
        let (kind, message, fix) = match &error.cause {
            SourceError::Store(StoreHelperError::NotInstalled {
                program,
                name,
                key,
                file,
            }) => (
                K::HelperNotInstalled,
                format!(
                    "credential helper `{program}` is not installed or not on PATH (`{key}: \
                     \"{name}\"` in {file})"
                ),
                format!(
                    "install `{program}` (or put it on PATH), or remove `{key}` from {file} and \
                     log in again"
                ),
            ),
            SourceError::Helper(HelperError::NotFound { command }) => (
                K::HelperNotInstalled,
                format!(
                    "the program of credential helper `{command}` (from {}) was not found",
                    error.location
                ),
                format!(
                    "install it (or put it on PATH), or fix `credential-helper` under \
                     [registries.\"{registry}\"] in {}",
                    error.location
                ),
            ),
            SourceError::Helper(HelperError::Failed {
                command,
                status,
                stderr,
            }) => (
                K::HelperFailing,
                format!(
                    "credential helper `{command}` failed with exit status {status}{}",
                    one_line(stderr)
                ),
                format!(
                    "run `{command}` yourself and fix what it reports (sign in, unlock the \
                     keyring), then try again"
                ),
            ),
            SourceError::Store(StoreHelperError::Failed {
                program,
                action,
                status,
                message,
            }) => (
                K::HelperFailing,
                format!(
                    "credential helper `{program} {action}` failed with exit status \
                     {status}{}",
                    one_line(message)
                ),
                format!(
                    "run `echo {registry} | {program} {action}` yourself and fix what it \
                     reports (sign in, unlock the keyring), or log in again"
                ),
            ),
            SourceError::Helper(
                e @ (HelperError::TimedOut { .. }
                | HelperError::Output { .. }
                | HelperError::Io { .. }),
            ) => (
                K::HelperFailing,
                error_chain(e),
                "run the helper yourself: it may wait for a prompt or a locked keyring, or \
                 print something other than credentials"
                    .to_string(),
            ),
            SourceError::Store(
                e @ (StoreHelperError::TimedOut { .. }
                | StoreHelperError::BadOutput { .. }
                | StoreHelperError::Io { .. }),
            ) => (
                K::HelperFailing,
                error_chain(e),
                "run the helper yourself: it may wait for a prompt or a locked keyring, or \
                 print something other than credentials"
                    .to_string(),
            ),
            SourceError::File(AuthFileError::Json {
                path,
                message,
                line,
                column,
            }) => (
                K::FileInvalid,
                format!(
                    "{} is not valid JSON: {message} at line {line} column {column}",
                    path.display()
                ),
                format!(
                    "fix the file (`jq . {}` shows where) or move it away, then log in again",
                    path.display()
                ),
            ),
            other => (
                K::SourceFailing,
                error_chain(other),
                format!(
                    "fix {} ({}), or remove it and log in again",
                    error.source_kind, error.location
                ),
            ),
        };
        Self { kind, message, fix }
    }
}

/// `: first line / second line`, or nothing for empty text.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!(": {}", lines.join(" / "))
    }
}

/// Step 2: reaching the registry.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConnectionFindings {
    /// The host connected to (`index.docker.io` for Docker Hub).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The proxy for this host, if any.
    pub proxy: ProxyFindings,
    /// What the host name resolved to (not resolved here when a proxy is used).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// The address a connection was made to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<String>,
    /// Plain HTTP or TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Scheme>,
    /// Why that protocol.
    pub protocol_reason: String,
    /// The server's certificate, for TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateFindings>,
    /// Whether that certificate is trusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustFindings>,
    /// Why the connection failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<ConnectionProblem>,
}

impl ConnectionFindings {
    /// The detail lines of the step.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let target = join_host_port(&self.host, self.port);
        let is_ip = self
            .host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok();
        let address = match (&self.connected, self.addresses.as_slice()) {
            (Some(c), _) if *c == target => format!("{c}: connected"),
            (Some(c), _) => format!("{target}: connected to {c}"),
            (None, []) => target.clone(),
            (None, _) if is_ip => target.clone(),
            (None, addresses) => format!("{target} (resolves to {})", addresses.join(", ")),
        };
        lines.push(format!("address:     {address}"));
        lines.push(format!("proxy:       {}", self.proxy.describe()));
        match self.protocol {
            Some(Scheme::Https) => {
                lines.push(format!("protocol:    TLS ({})", self.protocol_reason));
            }
            Some(Scheme::Http) => {
                lines.push(format!(
                    "protocol:    plain HTTP ({})",
                    self.protocol_reason
                ));
            }
            None if !self.protocol_reason.is_empty() => {
                lines.push(format!("protocol:    {}", self.protocol_reason));
            }
            None => {}
        }
        if let Some(c) = &self.certificate {
            lines.push(format!("certificate: {}", c.subject));
            lines.push(format!("  names:     {}", c.names()));
            lines.push(format!("  issuer:    {}", c.issuer));
            lines.push(format!(
                "  valid:     {} to {}{}",
                c.not_before,
                c.not_after,
                if c.expired { " (EXPIRED)" } else { "" }
            ));
        }
        if let Some(t) = &self.trust {
            lines.push(format!("trusted:     {}", t.describe()));
        }
        if let Some(p) = &self.problem {
            lines.push(format!("error:       {}", p.describe(self)));
        }
        lines
    }

    pub(super) fn target(&self) -> String {
        join_host_port(&self.host, self.port)
    }
}

pub(super) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The proxy in effect for the registry, from the environment.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProxyFindings {
    /// The proxy URL, user information masked; `None`: a direct connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The variable the proxy comes from (`HTTPS_PROXY`, `ALL_PROXY`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// `NO_PROXY` (or `no_proxy`) and its value, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// A proxy is set, but `NO_PROXY` excludes the registry's host.
    pub excluded: bool,
    /// The proxy that would apply without `NO_PROXY`, when excluded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bypassed: Option<String>,
    /// The variables consulted, for "none set" messages.
    pub consulted: Vec<String>,
    /// `REQUEST_METHOD` is set: proxy variables are ignored (as in CGI programs).
    pub cgi: bool,
}

impl ProxyFindings {
    fn describe(&self) -> String {
        let no_proxy = match &self.no_proxy {
            Some(n) => n.clone(),
            None => "NO_PROXY not set".to_string(),
        };
        match (&self.url, &self.variable) {
            _ if self.cgi => {
                "none (REQUEST_METHOD is set: proxy variables are ignored, as in CGI programs)"
                    .into()
            }
            (Some(url), Some(var)) => format!("{url} (from {var}; {no_proxy})"),
            (Some(url), None) => url.clone(),
            (None, _) if self.excluded => format!(
                "none: {no_proxy} excludes this host (else {})",
                self.bypassed.as_deref().unwrap_or("a proxy")
            ),
            (None, _) => format!("none ({} not set)", self.consulted.join(", ")),
        }
    }
}

/// The server certificate (the first of the chain the server sent).
#[derive(Clone, Debug, Serialize)]
pub struct CertificateFindings {
    /// The subject, e.g. `CN=ghcr.io`.
    pub subject: String,
    /// The subject alternative names (DNS names and IP addresses).
    pub subject_names: Vec<String>,
    /// The issuer, e.g. `C=US, O=Let's Encrypt, CN=R11`.
    pub issuer: String,
    /// Start of validity, `YYYY-MM-DD HH:MM:SS UTC`.
    pub not_before: String,
    /// End of validity, `YYYY-MM-DD HH:MM:SS UTC`.
    pub not_after: String,
    /// Past `not_after` now.
    pub expired: bool,
    /// How many certificates the server sent.
    pub chain_length: usize,
}

impl CertificateFindings {
    pub(super) fn names(&self) -> String {
        if self.subject_names.is_empty() {
            "none (no subject alternative names)".into()
        } else {
            self.subject_names.join(", ")
        }
    }
}

/// Whether the certificate is trusted, with the trust `push` and `pull` use.
#[derive(Clone, Debug, Serialize)]
pub struct TrustFindings {
    /// The certificate passed verification.
    pub verified: bool,
    /// What is trusted: the system's roots, plus `ca-file`, plus `SSL_CERT_FILE`.
    pub roots: String,
    /// Why verification failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<TlsProblem>,
    /// `insecure`: a failure is reported but ignored.
    pub insecure: bool,
}

impl TrustFindings {
    fn describe(&self) -> String {
        match (&self.problem, self.insecure) {
            (None, _) => format!("yes (checked against {})", self.roots),
            (Some(p), false) => format!("NO: {} (checked against {})", p.describe(), self.roots),
            (Some(p), true) => format!(
                "NO: {} (checked against {}); ignored: insecure",
                p.describe(),
                self.roots
            ),
        }
    }
}

/// Why a certificate is not trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TlsProblem {
    /// Signed by a CA that is not trusted (a private CA, or self-signed).
    UnknownIssuer,
    /// Not issued for the registry's host name.
    NameMismatch,
    /// Past its end of validity.
    Expired,
    /// Before its start of validity.
    NotYetValid,
    /// Anything else.
    Other {
        /// rustls's reason.
        detail: String,
    },
}

impl TlsProblem {
    pub(super) fn describe(&self) -> String {
        match self {
            TlsProblem::UnknownIssuer => "issued by an unknown CA".into(),
            TlsProblem::NameMismatch => "not issued for this host name".into(),
            TlsProblem::Expired => "expired".into(),
            TlsProblem::NotYetValid => "not valid yet".into(),
            TlsProblem::Other { detail } => detail.clone(),
        }
    }
}

/// Why the connection failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ConnectionProblem {
    /// The host name does not resolve.
    Dns {
        /// The resolver's error.
        detail: String,
    },
    /// Nothing listens at the address.
    Refused {
        /// `IP:PORT`.
        address: String,
    },
    /// No answer within the time limit.
    TimedOut {
        /// `IP:PORT`.
        address: String,
    },
    /// The proxy cannot be reached.
    ProxyUnreachable {
        /// Why.
        detail: String,
    },
    /// The proxy refused to connect to the registry.
    ProxyRefused {
        /// The proxy's status line.
        answer: String,
    },
    /// TLS was spoken, plain HTTP answered.
    NotTls,
    /// The certificate is not trusted.
    Tls {
        /// Why.
        problem: TlsProblem,
    },
    /// Anything else.
    Other {
        /// What happened.
        detail: String,
    },
}

impl ConnectionProblem {
    fn describe(&self, c: &ConnectionFindings) -> String {
        let proxy = || c.proxy.url.clone().unwrap_or_default();
        match self {
            ConnectionProblem::Dns { detail } => format!("cannot resolve `{}`: {detail}", c.host),
            ConnectionProblem::Refused { address } => format!("{address}: connection refused"),
            ConnectionProblem::TimedOut { address } => format!("{address}: no answer (timed out)"),
            ConnectionProblem::ProxyUnreachable { detail } => {
                format!("cannot reach the proxy {}: {detail}", proxy())
            }
            ConnectionProblem::ProxyRefused { answer } => {
                format!("the proxy {} answered `{answer}`", proxy())
            }
            ConnectionProblem::NotTls => {
                "the server answered the TLS handshake in plain HTTP".into()
            }
            ConnectionProblem::Tls { problem } => {
                format!("the certificate is not trusted: {}", problem.describe())
            }
            ConnectionProblem::Other { detail } => detail.clone(),
        }
    }
}

/// Step 3: `GET /v2/`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApiFindings {
    /// The URL.
    pub url: String,
    /// The status, when the server answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Docker-Distribution-API-Version`, which registries send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Content-Type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The `WWW-Authenticate` challenge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<ChallengeFindings>,
    /// The server's error text, for failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_error: Option<String>,
    /// Why this is not a usable registry answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<ApiProblem>,
}

impl ApiFindings {
    /// The detail lines of the step.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut answer = format!("GET {}: ", self.url);
        match self.status {
            Some(s) => answer.push_str(&status_text(s)),
            None => answer.push_str("no answer"),
        }
        let mut extra = Vec::new();
        if let Some(v) = &self.api_version {
            extra.push(format!("Docker-Distribution-API-Version: {v}"));
        } else if self.status.is_some() {
            extra.push("no Docker-Distribution-API-Version header".to_string());
        }
        if let Some(t) = &self.content_type
            && t.to_ascii_lowercase().starts_with("text/html")
        {
            extra.push(format!("Content-Type: {t}"));
        }
        if !extra.is_empty() {
            answer.push_str(&format!(" ({})", extra.join("; ")));
        }
        lines.push(answer);
        match &self.challenge {
            Some(c) => lines.push(format!("challenge: {}", c.describe())),
            None if self.status == Some(200) && self.problem.is_none() => {
                lines.push("challenge: none (the registry asks for no credentials here)".into())
            }
            None => {}
        }
        if let Some(text) = &self.server_error {
            lines.push(format!("server said: {text}"));
        }
        lines
    }
}

/// `200 OK`, `401 Unauthorized`.
pub(super) fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChallengeFindings {
    /// `Basic` or `Bearer`.
    pub scheme: String,
    /// The realm: a name for Basic, the token service's URL for Bearer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// The service, for Bearer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl ChallengeFindings {
    fn describe(&self) -> String {
        let mut text = self.scheme.clone();
        let mut params = Vec::new();
        if let Some(r) = &self.realm {
            params.push(format!("realm=\"{r}\""));
        }
        if let Some(s) = &self.service {
            params.push(format!("service=\"{s}\""));
        }
        if !params.is_empty() {
            text.push(' ');
            text.push_str(&params.join(", "));
        }
        text
    }

    pub(super) fn is_bearer(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("bearer")
    }
}

/// Why `GET /v2/` did not give a registry's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ApiProblem {
    /// Something answered, but not an OCI registry.
    NotRegistry,
    /// Plain HTTP to a server that wants HTTPS.
    NeedsTls {
        /// Why plain HTTP was used.
        because: String,
    },
    /// A 401 without a usable challenge, or another unexpected status.
    Unexpected,
    /// A server error (5xx).
    ServerError,
    /// The proxy wants credentials (407).
    ProxyAuth,
    /// The request failed.
    Network {
        /// Why.
        problem: ConnectionProblem,
    },
}

/// Step 4: authenticating.
#[derive(Clone, Debug, Serialize)]
pub struct AuthFindings {
    /// How: `none`, `basic`, `token` (GET with Basic auth or anonymous), `refresh-token` (the
    /// OAuth2 grant for identity tokens).
    pub method: AuthMethod,
    /// The request, without secrets, e.g. `GET https://auth.example/token?scope=...&service=...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Its status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The server's error text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_error: Option<String>,
    /// The access the token grants (its `access` claim), when it is a JWT that says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granted: Option<Vec<Grant>>,
    /// The status of `GET /v2/` with the token, which proves the registry accepts it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_check: Option<u16>,
    /// What came of it.
    pub outcome: AuthOutcome,
}

/// How the client authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// Nothing to do, or nothing done.
    None,
    /// Basic auth on every request.
    Basic,
    /// A token from the realm (`GET`, with Basic auth or anonymous).
    Token,
    /// A token for an identity token (`POST`, refresh-token grant).
    RefreshToken,
}

/// What came of authenticating.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AuthOutcome {
    /// The registry asked for no credentials.
    NotNeeded,
    /// The credentials were accepted.
    Accepted,
    /// An anonymous token was issued.
    Anonymous,
    /// Credentials are needed and there are none.
    NoCredentials,
    /// The credentials were refused.
    Rejected,
    /// The credentials were not sent, to keep them from travelling in clear text.
    Withheld {
        /// Why.
        reason: String,
    },
    /// An identity token for a registry without token authentication.
    IdentityTokenNotUsable,
    /// The registry refused the token its token service issued.
    TokenRefused,
    /// The request failed, or the answer made no sense.
    Failed {
        /// What happened.
        detail: String,
    },
}

impl AuthFindings {
    /// The detail lines of the step.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match &self.outcome {
            AuthOutcome::NotNeeded => {
                lines.push("not needed: /v2/ answered without asking for credentials".into())
            }
            AuthOutcome::NoCredentials if self.request.is_none() => lines.push(
                "the registry asks for credentials, and the credential chain found none".into(),
            ),
            AuthOutcome::Withheld { reason } => lines.push(format!("not sent: {reason}")),
            AuthOutcome::IdentityTokenNotUsable => lines.push(
                "the credentials are an identity token, but the registry uses Basic \
                 authentication, not token authentication"
                    .into(),
            ),
            _ => {}
        }
        if let Some(r) = &self.request {
            let status = self.status.map(status_text);
            lines.push(format!(
                "{r}: {}",
                status.unwrap_or_else(|| "no answer".into())
            ));
        }
        if let Some(text) = &self.server_error {
            lines.push(format!("server said: {text}"));
        }
        if let Some(grants) = &self.granted {
            lines.push(format!("token grants: {}", describe_grants(grants)));
        } else if matches!(self.method, AuthMethod::Token | AuthMethod::RefreshToken)
            && matches!(
                self.outcome,
                AuthOutcome::Accepted | AuthOutcome::Anonymous | AuthOutcome::TokenRefused
            )
        {
            lines.push("token grants: not stated (not a JWT with an access claim)".into());
        }
        if let Some(s) = self.token_check {
            lines.push(format!("GET /v2/ with the token: {}", status_text(s)));
        }
        if let AuthOutcome::Failed { detail } = &self.outcome {
            lines.push(format!("error: {detail}"));
        }
        lines
    }

    pub(super) fn passed(&self) -> bool {
        matches!(
            self.outcome,
            AuthOutcome::NotNeeded | AuthOutcome::Accepted | AuthOutcome::Anonymous
        )
    }
}

/// One entry of a token's `access` claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Grant {
    /// `repository` (or `registry` for catalog access).
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository.
    pub name: String,
    /// `pull`, `push`, `delete`, `*`.
    #[serde(default)]
    pub actions: Vec<String>,
}

impl Grant {
    pub(super) fn allows(&self, repository: &str, action: &str) -> bool {
        self.kind == "repository"
            && self.name == repository
            && self.actions.iter().any(|a| a == action || a == "*")
    }
}

pub(super) fn describe_grants(grants: &[Grant]) -> String {
    let granted: Vec<String> = grants
        .iter()
        .filter(|g| !g.actions.is_empty())
        .map(|g| format!("{}:{}:{}", g.kind, g.name, g.actions.join(",")))
        .collect();
    if granted.is_empty() {
        "nothing".into()
    } else {
        granted.join(" ")
    }
}

/// The `access` claim of a JWT access token, read without verifying the signature (the
/// registry verifies it; this only reports what the token says). `None` when the token is not a
/// JWT or has no such claim.
pub fn token_access(token: &str) -> Option<Vec<Grant>> {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Claims {
        access: Option<Vec<Grant>>,
    }
    serde_json::from_slice::<Claims>(&bytes).ok()?.access
}

/// Step 5: what the credentials may do on the repository.
#[derive(Clone, Debug, Serialize)]
pub struct AccessFindings {
    /// The repository.
    pub repository: String,
    /// Pull access.
    pub pull: AccessCheck,
    /// Push access, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push: Option<AccessCheck>,
}

/// One access check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessCheck {
    /// Allowed; `None`: could not tell.
    pub granted: Option<bool>,
    /// How this was found out: the token's claim, or a request and its status.
    pub evidence: String,
    /// More, e.g. that the repository does not exist yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The server's error text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_error: Option<String>,
}

impl AccessFindings {
    /// The detail lines of the step.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = |action: &str, c: &AccessCheck| {
            let state = match c.granted {
                Some(true) => "allowed",
                Some(false) => "DENIED",
                None => "unknown",
            };
            let mut text = format!("{action}: {state} ({})", c.evidence);
            if let Some(n) = &c.note {
                text.push_str(&format!("; {n}"));
            }
            lines.push(text);
            if let Some(e) = &c.server_error {
                lines.push(format!("  server said: {e}"));
            }
        };
        line("pull", &self.pull);
        if let Some(push) = &self.push {
            line("push", push);
        }
        lines
    }

    pub(super) fn checks(&self) -> impl Iterator<Item = (&'static str, &AccessCheck)> {
        std::iter::once(("pull", &self.pull)).chain(self.push.as_ref().map(|p| ("push", p)))
    }
}
