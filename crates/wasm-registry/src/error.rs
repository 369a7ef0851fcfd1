//! Errors of registry operations, each naming the registry, the repository and what to do.
//!
//! Failed requests are classified here once, so that every command reports a 401, a refused
//! connection or an untrusted certificate the same way: an answer by its status, its headers
//! and the `code` of its JSON error body ([`Ctx::classify_answer`]); a request without an answer by
//! the types in its chain of causes ([`classify_transport`]). Never by the wording of a
//! message: an upgrade of reqwest, hyper or rustls must not change what a user is told.

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
    /// A bad location.
    #[error(transparent)]
    Location(#[from] crate::location::LocationError),
    /// An image layout's problem.
    #[error(transparent)]
    Layout(#[from] crate::layout::LayoutError),
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
        "{registry} is unavailable (HTTP {status}){}; try again {}",
        server_detail(.detail),
        match retry_after {
            Some(after) => format!("in {} s (it said so in Retry-After)", after.as_secs().max(1)),
            None => "later".to_owned(),
        }
    )]
    Unavailable {
        /// The registry.
        registry: String,
        /// The HTTP status.
        status: u16,
        /// The server's error text.
        detail: String,
        /// How long the registry asked the client to wait (`Retry-After`).
        retry_after: Option<std::time::Duration>,
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
    /// A CA certificate file named by `ca-file` or `SSL_CERT_FILE` cannot be used.
    #[error(
        "cannot use the CA certificate {} (for {registry}): {problem}; fix `ca-file` or \
         SSL_CERT_FILE",
        path.display()
    )]
    CaFile {
        /// The registry it is for.
        registry: String,
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        problem: CaFileProblem,
    },
    /// Work on another thread (hashing, validating, a credential helper) ended abnormally.
    #[error("{what} ended abnormally")]
    Task {
        /// What was going on.
        what: &'static str,
        /// The runtime's report.
        #[source]
        source: tokio::task::JoinError,
    },
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
        /// Whether trying again may succeed (decided from the cause's type when the error was
        /// made: a reset or closed connection, an interrupted body, a timeout).
        transient: bool,
        /// The error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What is wrong with a CA certificate file.
#[derive(Debug, Error)]
pub enum CaFileProblem {
    /// It cannot be read.
    #[error("cannot read it")]
    Read(#[source] std::io::Error),
    /// It holds no PEM certificate.
    #[error("it holds no PEM certificate")]
    NoCertificate,
}

impl RegistryError {
    /// Whether trying again may succeed: the registry was unavailable for now, or the
    /// connection broke or stalled (reset, closed early, timed out). Refused connections, TLS
    /// and authentication failures, and bad content are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Unavailable { .. } | RegistryError::Stalled { .. } => true,
            RegistryError::Request { transient, .. } => *transient,
            _ => false,
        }
    }

    /// How long the registry asked to wait before trying again (`Retry-After`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            RegistryError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
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

/// Context for classifying a failed request: who asked for what.
pub(crate) struct Ctx<'a> {
    pub(crate) registry: &'a str,
    pub(crate) repository: &'a str,
    pub(crate) reference: String,
    pub(crate) action: Action,
    pub(crate) resolution: &'a Resolution,
    /// The credentials were withheld (plain HTTP to a remote host).
    pub(crate) withheld: bool,
    /// A token endpoint accepted the credentials for this request: a 401 now means the token
    /// lacks the scope (the user may not do this), not that the credentials are wrong.
    pub(crate) authenticated: bool,
}

impl Ctx<'_> {
    pub(crate) fn unauthorized(&self, detail: String) -> RegistryError {
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

    /// Turns a registry's error answer into one that says what to do, by its status, its
    /// headers and the `code` of its JSON error body (never by the wording of a message).
    pub(crate) fn classify_answer(&self, answer: &ErrorAnswer) -> RegistryError {
        let (code, message) = answer.error_code();
        let registry = self.registry.to_string();
        // Docker Hub's rate limit carries this code; it is a 429 whatever the status says.
        if code == "TOOMANYREQUESTS" {
            return RegistryError::Unavailable {
                registry,
                status: 429,
                detail: message,
                retry_after: answer.retry_after,
            };
        }
        match answer.status {
            // A registry's 401 text is its challenge ("authentication required"), which says
            // nothing the error does not; a token service's refusal is worded by
            // `Session::token_error`.
            401 => self.unauthorized(String::new()),
            403 => self.denied(message),
            404 => self.not_found(message, &code),
            429 | 502 | 503 | 504 => RegistryError::Unavailable {
                registry,
                status: answer.status,
                detail: message,
                retry_after: answer.retry_after,
            },
            // Go's HTTP server answers a plain-HTTP request on a TLS port with a bare
            // HTTP/1.0 400 before any registry code runs; a registry answers HTTP/1.1.
            400 if answer.plain_http && answer.http10 => RegistryError::NeedsTls { registry },
            status => RegistryError::Protocol {
                registry,
                problem: format!("HTTP {status}: {message}"),
            },
        }
    }
}

/// What an error answer of a registry said: enough to classify it after the body was read.
#[derive(Debug, Clone)]
pub(crate) struct ErrorAnswer {
    /// The status.
    pub(crate) status: u16,
    /// The body (an error body is small; at most the first 64 KiB are kept).
    pub(crate) body: String,
    /// `Retry-After`, in seconds or as an HTTP date.
    pub(crate) retry_after: Option<std::time::Duration>,
    /// The request went over plain HTTP.
    pub(crate) plain_http: bool,
    /// The answer was HTTP/1.0.
    pub(crate) http10: bool,
}

impl ErrorAnswer {
    /// The `code` of the first error of a registry's JSON error body (upper case, `_`
    /// separated, as the distribution spec writes them), and its message (or the body itself,
    /// shortened, when it is not such JSON).
    fn error_code(&self) -> (String, String) {
        #[derive(serde::Deserialize)]
        struct Envelope {
            errors: Vec<Item>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        match serde_json::from_str::<Envelope>(&self.body)
            .ok()
            .and_then(|e| e.errors.into_iter().next())
        {
            Some(item) => (
                item.code.to_ascii_uppercase().replace('-', "_"),
                shorten(&item.message),
            ),
            None => (String::new(), shorten(&self.body)),
        }
    }
}

/// Parses `Retry-After`: seconds, or an HTTP date (RFC 9110).
pub(crate) fn parse_retry_after(value: &str) -> Option<std::time::Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(std::time::Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or_default())
}

/// The `message` of a registry's JSON error body, or the body itself, shortened.
pub(crate) fn error_text(body: &str) -> String {
    ErrorAnswer {
        status: 0,
        body: body.to_owned(),
        retry_after: None,
        plain_http: false,
        http10: false,
    }
    .error_code()
    .1
}

fn shorten(text: &str) -> String {
    let mut text: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    if text.chars().count() >= 300 {
        text.push('…');
    }
    text
}

/// Every cause of `e`, `e` first, including the error inside an `io::Error` (whose `source()`
/// skips it): TLS errors reach us wrapped that way.
pub(crate) fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    let mut next = Some(e);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static))
                .or_else(|| current.source()),
            None => current.source(),
        };
        Some(current)
    })
}

/// What kind of failure a request without an answer had, by the types in its chain of causes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TransportKind {
    /// The host name does not resolve ([`crate::session::DnsError`]).
    Dns,
    /// Nothing listens at the address.
    Refused,
    /// The certificate is not trusted.
    Untrusted(&'static str),
    /// A plain-HTTP answer to a TLS hello.
    NotTls,
    /// The connection broke, closed early or timed out: trying again may work.
    Transient,
    /// Anything else.
    Other,
}

/// Classifies a failure by the types in its chain of causes (see [`TransportKind`]).
pub(crate) fn transport_kind(e: &(dyn std::error::Error + 'static)) -> TransportKind {
    let mut kind = TransportKind::Other;
    for cause in causes(e) {
        if cause.downcast_ref::<crate::session::DnsError>().is_some() {
            return TransportKind::Dns;
        }
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            match tls {
                rustls::Error::InvalidCertificate(problem) => {
                    return TransportKind::Untrusted(certificate_problem(problem));
                }
                rustls::Error::InvalidMessage(_) => return TransportKind::NotTls,
                _ => {}
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return TransportKind::Refused,
                K::ConnectionReset
                | K::ConnectionAborted
                | K::BrokenPipe
                | K::UnexpectedEof
                | K::TimedOut => kind = TransportKind::Transient,
                _ => {}
            }
        }
        if let Some(h) = cause.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed() || h.is_canceled() || h.is_timeout())
        {
            kind = TransportKind::Transient;
        }
        if let Some(h) = cause.downcast_ref::<h2::Error>()
            && (h.is_go_away() || h.is_reset() || h.is_io())
        {
            kind = TransportKind::Transient;
        }
        if let Some(r) = cause.downcast_ref::<reqwest::Error>()
            && (r.is_timeout() || r.is_body() || r.is_decode())
        {
            kind = TransportKind::Transient;
        }
    }
    kind
}

/// Classifies a request that got no answer (see [`TransportKind`]): a name that does not
/// resolve, a refused connection, a certificate that is not trusted, a plain-HTTP answer to a
/// TLS hello; anything else is a [`RegistryError::Request`], transient when the connection
/// broke, closed early or timed out.
pub(crate) fn classify_transport(
    registry: &str,
    action: &str,
    e: Box<dyn std::error::Error + Send + Sync>,
) -> RegistryError {
    let registry = registry.to_string();
    match transport_kind(e.as_ref()) {
        TransportKind::Dns => RegistryError::Dns { registry },
        TransportKind::Refused => RegistryError::ConnectionRefused { registry },
        TransportKind::Untrusted(problem) => RegistryError::Untrusted {
            registry,
            problem: problem.to_owned(),
        },
        TransportKind::NotTls => RegistryError::NotTls { registry },
        kind => RegistryError::Request {
            registry,
            action: action.to_string(),
            transient: kind == TransportKind::Transient,
            source: e,
        },
    }
}

/// A short description of why rustls refused a certificate.
pub(crate) fn certificate_problem(problem: &rustls::CertificateError) -> &'static str {
    use rustls::CertificateError as C;
    match problem {
        C::UnknownIssuer => "unknown issuer",
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the certificate is not valid for this host name"
        }
        C::Expired | C::ExpiredContext { .. } => "the certificate has expired",
        _ => "invalid certificate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{Outcome, SourceKind, Step};

    fn resolution(credential: Credential) -> Resolution {
        Resolution {
            registry: wasm_config::RegistryName::parse("r.example").unwrap(),
            credential,
            steps: vec![Step {
                source: SourceKind::DockerAuths,
                location: "/h/.docker/config.json".into(),
                outcome: Outcome::Found {
                    key: "r.example".into(),
                    kind: "username/password".into(),
                    username: Some("alice".into()),
                },
            }],
        }
    }

    fn answer(status: u16, body: &str) -> ErrorAnswer {
        ErrorAnswer {
            status,
            body: body.into(),
            retry_after: None,
            plain_http: false,
            http10: false,
        }
    }

    fn ctx(resolution: &Resolution, authenticated: bool) -> Ctx<'_> {
        Ctx {
            registry: "r.example",
            repository: "org/app",
            reference: "r.example/org/app:1".into(),
            action: Action::Pull,
            resolution,
            withheld: false,
            authenticated,
        }
    }

    #[test]
    fn answers_are_classified_by_status_and_code() {
        let basic = resolution(Credential::Basic {
            username: "alice".into(),
            password: wasm_config::Secret::new("pw".into()),
        });
        let c = ctx(&basic, false);
        let json = |code: &str| format!(r#"{{"errors":[{{"code":"{code}","message":"m"}}]}}"#);
        assert!(matches!(
            c.classify_answer(&answer(401, &json("UNAUTHORIZED"))),
            RegistryError::Rejected { .. }
        ));
        assert!(matches!(
            ctx(&basic, true).classify_answer(&answer(401, "")),
            RegistryError::Denied { .. }
        ));
        assert!(matches!(
            c.classify_answer(&answer(403, &json("DENIED"))),
            RegistryError::Denied { .. }
        ));
        match c.classify_answer(&answer(404, &json("NAME_UNKNOWN"))) {
            RegistryError::NotFound { what, detail, .. } => {
                assert_eq!(what, "the repository does not exist (check its name)");
                assert_eq!(detail, "m");
            }
            other => panic!("{other:?}"),
        }
        match c.classify_answer(&answer(404, &json("manifest_unknown"))) {
            RegistryError::NotFound { what, .. } => assert!(what.starts_with("no such tag")),
            other => panic!("{other:?}"),
        }
        for status in [429, 502, 503, 504] {
            let e = c.classify_answer(&answer(status, ""));
            assert!(e.is_transient(), "{status}");
        }
        let mut limited = answer(200, &json("TOOMANYREQUESTS"));
        limited.retry_after = Some(std::time::Duration::from_secs(7));
        let e = c.classify_answer(&limited);
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(7)));
        assert!(
            e.to_string()
                .ends_with("try again in 7 s (it said so in Retry-After)"),
            "{e}"
        );
        let mut bare = answer(400, "Client sent an HTTP request to an HTTPS server.");
        assert!(matches!(
            c.classify_answer(&bare),
            RegistryError::Protocol { .. }
        ));
        bare.plain_http = true;
        bare.http10 = true;
        assert!(matches!(
            c.classify_answer(&bare),
            RegistryError::NeedsTls { .. }
        ));
        assert!(!c.classify_answer(&answer(500, "")).is_transient());
        let anonymous = resolution(Credential::Anonymous);
        assert!(matches!(
            ctx(&anonymous, false).classify_answer(&answer(401, "")),
            RegistryError::NoCredentials { .. }
        ));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(
            parse_retry_after(" 12 "),
            Some(std::time::Duration::from_secs(12))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(std::time::Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn transport_failures_are_classified_by_cause_type() {
        use std::io::{Error, ErrorKind};
        let boxed = |e: Error| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) };
        assert!(matches!(
            classify_transport("r", "x", boxed(Error::from(ErrorKind::ConnectionRefused))),
            RegistryError::ConnectionRefused { .. }
        ));
        for kind in [
            ErrorKind::ConnectionReset,
            ErrorKind::BrokenPipe,
            ErrorKind::UnexpectedEof,
            ErrorKind::TimedOut,
        ] {
            assert!(classify_transport("r", "x", boxed(Error::from(kind))).is_transient());
        }
        assert!(!classify_transport("r", "x", boxed(Error::other("no"))).is_transient());
        // A TLS error arrives inside an io::Error, whose `source()` skips it.
        let tls = Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        match classify_transport("r", "x", boxed(tls)) {
            RegistryError::Untrusted { problem, .. } => assert_eq!(problem, "unknown issuer"),
            other => panic!("{other:?}"),
        }
        let plain = Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert!(matches!(
            classify_transport("r", "x", boxed(plain)),
            RegistryError::NotTls { .. }
        ));
        let dns = Error::other(crate::session::DnsError::for_test("nowhere.invalid"));
        assert!(matches!(
            classify_transport("r", "x", boxed(dns)),
            RegistryError::Dns { .. }
        ));
    }
}
