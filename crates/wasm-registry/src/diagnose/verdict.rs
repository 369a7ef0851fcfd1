//! One verdict from the findings of `registry test`, with its fix: a pure function, so that
//! every verdict is covered by unit tests, also those no end-to-end test can provoke.
//!
//! What must stay true: the first problem in step order decides, a failing credential source
//! first of all (`push` and `pull` stop there too); every failure comes with a fix.

use serde::Serialize;

use super::{
    ApiFindings, ApiProblem, AuthFindings, AuthOutcome, CertificateFindings, ConnectionFindings,
    ConnectionProblem, CredentialFindings, CredentialProblemKind, Findings, Options, Target,
    TlsProblem, describe_grants, repository_of, status_text,
};
use crate::credentials::SourceKind;

/// What kind of problem a verdict names: decides the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictClass {
    /// Everything asked for works.
    Ok,
    /// Credentials: none, rejected, not allowed, a broken source.
    Credentials,
    /// The network: address, DNS, connection, proxy, TLS, plain HTTP vs HTTPS.
    Network,
    /// Anything else (the registry misbehaves).
    Other,
}

/// The verdicts, each with a short title.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictCode {
    /// Works with the credentials found.
    Ok,
    /// Works without credentials, and none are configured.
    OkAnonymous,
    /// The registry wants credentials; the chain found none.
    NoCredentials,
    /// The registry refused the credentials.
    CredentialsRejected,
    /// Credentials were found but are not sent over plain HTTP.
    CredentialsWithheld,
    /// Authenticated, but without the access asked for.
    InsufficientScope,
    /// A credential helper is not installed.
    HelperNotInstalled,
    /// A credential helper fails.
    HelperFailing,
    /// A credential file is not valid JSON.
    CredentialsFileInvalid,
    /// Another credential source fails.
    CredentialSourceFailing,
    /// The host name does not resolve.
    DnsFailure,
    /// Nothing listens at the address.
    ConnectionRefused,
    /// No answer from the address.
    ConnectionTimeout,
    /// Something answered, but not an OCI registry.
    NotARegistry,
    /// The certificate's CA is not trusted.
    TlsUnknownIssuer,
    /// The certificate is for other names.
    TlsNameMismatch,
    /// The certificate expired (or is not valid yet).
    TlsExpired,
    /// Another TLS failure.
    TlsFailure,
    /// TLS was spoken to a plain HTTP server.
    NotTls,
    /// Plain HTTP was spoken to a TLS server.
    NeedsTls,
    /// The proxy cannot be reached.
    ProxyUnreachable,
    /// The proxy refuses the connection.
    ProxyRefused,
    /// Another network failure.
    NetworkError,
    /// The registry answers in unexpected ways.
    RegistryError,
}

impl VerdictCode {
    /// A few words, shown before the message.
    pub fn title(self) -> &'static str {
        match self {
            VerdictCode::Ok | VerdictCode::OkAnonymous => "ok",
            VerdictCode::NoCredentials => "no credentials",
            VerdictCode::CredentialsRejected => "credentials rejected",
            VerdictCode::CredentialsWithheld => "credentials not sent",
            VerdictCode::InsufficientScope => "insufficient scope",
            VerdictCode::HelperNotInstalled => "credential helper not installed",
            VerdictCode::HelperFailing => "credential helper failing",
            VerdictCode::CredentialsFileInvalid => "credentials file invalid",
            VerdictCode::CredentialSourceFailing => "credential source failing",
            VerdictCode::DnsFailure => "unknown host",
            VerdictCode::ConnectionRefused => "connection refused",
            VerdictCode::ConnectionTimeout => "connection timed out",
            VerdictCode::NotARegistry => "not an OCI registry",
            VerdictCode::TlsUnknownIssuer => "untrusted certificate",
            VerdictCode::TlsNameMismatch => "certificate name mismatch",
            VerdictCode::TlsExpired => "certificate expired",
            VerdictCode::TlsFailure => "TLS failure",
            VerdictCode::NotTls => "plain HTTP server",
            VerdictCode::NeedsTls => "HTTPS server",
            VerdictCode::ProxyUnreachable => "proxy unreachable",
            VerdictCode::ProxyRefused => "proxy refused",
            VerdictCode::NetworkError => "network error",
            VerdictCode::RegistryError => "registry error",
        }
    }

    /// What kind of problem it is.
    pub fn class(self) -> VerdictClass {
        use VerdictCode as C;
        match self {
            C::Ok | C::OkAnonymous => VerdictClass::Ok,
            C::NoCredentials
            | C::CredentialsRejected
            | C::CredentialsWithheld
            | C::InsufficientScope
            | C::HelperNotInstalled
            | C::HelperFailing
            | C::CredentialsFileInvalid
            | C::CredentialSourceFailing => VerdictClass::Credentials,
            C::DnsFailure
            | C::ConnectionRefused
            | C::ConnectionTimeout
            | C::NotARegistry
            | C::TlsUnknownIssuer
            | C::TlsNameMismatch
            | C::TlsExpired
            | C::TlsFailure
            | C::NotTls
            | C::NeedsTls
            | C::ProxyUnreachable
            | C::ProxyRefused
            | C::NetworkError => VerdictClass::Network,
            C::RegistryError => VerdictClass::Other,
        }
    }
}

/// The one conclusion of a test, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Which verdict.
    pub code: VerdictCode,
    /// Everything asked for works.
    pub ok: bool,
    /// What was found.
    pub message: String,
    /// What to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Verdict {
    fn new(code: VerdictCode, message: String, fix: Option<String>) -> Self {
        Self {
            ok: code.class() == VerdictClass::Ok,
            code,
            message,
            fix,
        }
    }

    fn fail(code: VerdictCode, message: String, fix: String) -> Self {
        Self::new(code, message, Some(fix))
    }

    /// The first problem in step order decides; a credential source that fails comes first,
    /// because `push` and `pull` stop there too.
    pub fn decide(target: &Target, options: &Options, findings: &Findings) -> Verdict {
        let registry = target.registry.as_str();
        let c = &findings.credentials;
        if let Some(p) = &c.problem {
            let code = match p.kind {
                CredentialProblemKind::HelperNotInstalled => VerdictCode::HelperNotInstalled,
                CredentialProblemKind::HelperFailing => VerdictCode::HelperFailing,
                CredentialProblemKind::FileInvalid => VerdictCode::CredentialsFileInvalid,
                CredentialProblemKind::SourceFailing => VerdictCode::CredentialSourceFailing,
            };
            return Self::fail(code, p.message.clone(), p.fix.clone());
        }
        let Some(conn) = &findings.connection else {
            return Self::fail(
                VerdictCode::NetworkError,
                format!("{registry} was not contacted"),
                "run the test again".into(),
            );
        };
        if let Some(p) = &conn.problem {
            return connection_verdict(target, conn, p);
        }
        let Some(api) = &findings.api else {
            return Self::fail(
                VerdictCode::NetworkError,
                format!("{registry} did not answer"),
                "run the test again".into(),
            );
        };
        if let Some(p) = &api.problem {
            return api_verdict(target, conn, api, p);
        }
        let Some(auth) = &findings.auth else {
            return Self::fail(
                VerdictCode::RegistryError,
                format!("authentication with {registry} was not tried"),
                "run the test again".into(),
            );
        };
        let repository = repository_of(target, options);
        if let Some(v) = auth_verdict(target, c, auth, repository.as_deref(), options.push) {
            return v;
        }
        let mut allowed = Vec::new();
        if let Some(access) = &findings.access {
            for (action, check) in access.checks() {
                match check.granted {
                    Some(true) => allowed.push(action),
                    Some(false) if c.anonymous() => {
                        return no_credentials(target, c, Some((action, &access.repository)));
                    }
                    Some(false) => {
                        let granted = match &auth.granted {
                            Some(g) => format!(" (the token grants: {})", describe_grants(g)),
                            None => server_said(check.server_error.as_deref()),
                        };
                        return Self::fail(
                            VerdictCode::InsufficientScope,
                            format!(
                                "{} is accepted by {registry} but may not {action} {}{granted}",
                                c.who(),
                                access.repository
                            ),
                            format!(
                                "ask the registry's administrator for {action} access to {}, or \
                                 check the repository name (its organisation or namespace too)",
                                access.repository
                            ),
                        );
                    }
                    None => {
                        return Self::fail(
                            VerdictCode::RegistryError,
                            format!(
                                "cannot tell whether {} may {action} {} ({})",
                                c.who(),
                                access.repository,
                                check.evidence
                            ),
                            "see the access step above; the registry answered in an unexpected \
                             way"
                            .into(),
                        );
                    }
                }
            }
        }
        let on_repo = match &findings.access {
            Some(a) => format!(" and may {} {}", allowed.join(" and "), a.repository),
            None => String::new(),
        };
        if c.anonymous() {
            let message = match (&findings.access, &auth.outcome) {
                (Some(a), _) => format!(
                    "anonymous access works: anyone may {} {} on {registry} (no credentials are \
                     configured)",
                    allowed.join(" and "),
                    a.repository
                ),
                (None, AuthOutcome::NotNeeded) => format!(
                    "anonymous access works: {registry} asks for no credentials (and none are \
                     configured); add --repository REPO to check a repository"
                ),
                (None, _) => format!(
                    "anonymous access works: {registry} issues anonymous tokens (no credentials \
                     are configured); add --repository REPO to check a repository"
                ),
            };
            return Self::new(VerdictCode::OkAnonymous, message, None);
        }
        let spelling = match &c.other_spelling {
            Some(_) => format!(" (another spelling of {registry})"),
            None => String::new(),
        };
        let source = c.source.as_deref().unwrap_or("the credential chain");
        let accepted = match auth.outcome {
            AuthOutcome::NotNeeded => format!(
                "{registry} asks for no credentials (those of {} from {source}{spelling} are not \
                 needed)",
                c.who()
            ),
            _ => format!(
                "{} from {source}{spelling} is accepted by {registry}",
                c.who()
            ),
        };
        Self::new(VerdictCode::Ok, format!("{accepted}{on_repo}"), None)
    }
}

fn server_said(text: Option<&str>) -> String {
    match text {
        Some(t) if !t.is_empty() => format!(" (server said: {t})"),
        _ => String::new(),
    }
}

fn tried(c: &CredentialFindings) -> String {
    let mut names: Vec<String> = Vec::new();
    for step in &c.sources {
        if step.source == SourceKind::Anonymous {
            continue;
        }
        let name = step.source.to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.join(", ")
}

fn login_fix(registry: &str) -> String {
    format!(
        "log in with `wasm login {registry}` or `docker login {registry}`, or set a \
         `credential-helper` under [registries.\"{registry}\"] in the wasm config file"
    )
}

fn no_credentials(target: &Target, c: &CredentialFindings, what: Option<(&str, &str)>) -> Verdict {
    let registry = target.registry.as_str();
    let what = match what {
        Some((action, repository)) => format!(" to {action} {repository}"),
        None => String::new(),
    };
    Verdict::fail(
        VerdictCode::NoCredentials,
        format!(
            "{registry} requires authentication{what}, and no credentials were found (tried: {})",
            tried(c)
        ),
        login_fix(registry),
    )
}

fn auth_verdict(
    target: &Target,
    c: &CredentialFindings,
    auth: &AuthFindings,
    repository: Option<&str>,
    push: bool,
) -> Option<Verdict> {
    let registry = target.registry.as_str();
    let source = c.source.as_deref().unwrap_or("the credential chain");
    Some(match &auth.outcome {
        AuthOutcome::NotNeeded | AuthOutcome::Accepted | AuthOutcome::Anonymous => return None,
        AuthOutcome::NoCredentials => {
            let action = if push { "push" } else { "pull" };
            no_credentials(target, c, repository.map(|r| (action, r)))
        }
        AuthOutcome::Rejected if c.kind.as_deref() == Some("identity token") => Verdict::fail(
            VerdictCode::CredentialsRejected,
            format!(
                "the token service of {registry} refused the identity token from \
                 {source}{}",
                server_said(auth.server_error.as_deref())
            ),
            format!(
                "the identity token expired or was revoked: log in again (`wasm login {registry}` \
                 or `docker login {registry}`)"
            ),
        ),
        AuthOutcome::Rejected => Verdict::fail(
            VerdictCode::CredentialsRejected,
            format!(
                "{registry} rejected the credentials of {} from {source}{}",
                c.who(),
                server_said(auth.server_error.as_deref())
            ),
            format!(
                "they are wrong or expired: log in again (`wasm login {registry}` or `docker \
                 login {registry}`); where the account uses 2FA/MFA, log in with an app password \
                 or access token, not the account password"
            ),
        ),
        AuthOutcome::Withheld { reason } => Verdict::fail(
            VerdictCode::CredentialsWithheld,
            format!(
                "the credentials of {} from {source} were not sent: {reason}",
                c.who()
            ),
            format!(
                "use HTTPS; or, if you accept that the password travels readable by anyone on \
                 the way, set `protocol = \"http\"` under [registries.\"{registry}\"] in the \
                 wasm config file"
            ),
        ),
        AuthOutcome::IdentityTokenNotUsable => Verdict::fail(
            VerdictCode::CredentialsRejected,
            format!(
                "the credentials from {source} are an identity token, but {registry} does not \
                 use token authentication (its challenge is Basic)"
            ),
            format!(
                "log in with a username and password instead (`wasm login {registry}` or `docker \
                 login {registry}`)"
            ),
        ),
        AuthOutcome::TokenRefused => Verdict::fail(
            VerdictCode::RegistryError,
            format!(
                "{registry} refused the token its own token service issued{}",
                server_said(auth.server_error.as_deref())
            ),
            "the registry and its token service disagree (service name, issuer or signing key): \
             ask the registry's operator"
                .into(),
        ),
        AuthOutcome::Failed { detail } => Verdict::fail(
            VerdictCode::RegistryError,
            format!("authentication with {registry} failed: {detail}"),
            "see the authentication step above; if the token service is down, try again later"
                .into(),
        ),
    })
}

fn connection_verdict(
    target: &Target,
    conn: &ConnectionFindings,
    problem: &ConnectionProblem,
) -> Verdict {
    let registry = target.registry.as_str();
    let proxy = conn.proxy.url.as_deref().unwrap_or("the proxy");
    let variable = conn
        .proxy
        .variable
        .as_deref()
        .unwrap_or("the proxy variable");
    let host = &conn.host;
    let cert = conn.certificate.as_ref();
    match problem {
        ConnectionProblem::Dns { detail } => Verdict::fail(
            VerdictCode::DnsFailure,
            format!("the host name `{host}` does not resolve ({detail})"),
            "check the registry's spelling (e.g. ghcr.io, docker.io, myregistry.azurecr.io); if \
             it is right, check your DNS, network or VPN"
                .into(),
        ),
        ConnectionProblem::Refused { address } => Verdict::fail(
            VerdictCode::ConnectionRefused,
            format!("nothing accepts connections at {address} (connection refused)"),
            "check the host and the port; is the registry running?".into(),
        ),
        ConnectionProblem::TimedOut { address } => Verdict::fail(
            VerdictCode::ConnectionTimeout,
            format!("{address} does not answer (the connection timed out)"),
            "a firewall may drop the traffic, or the network needs a proxy (set HTTPS_PROXY); \
             check the host and the port"
                .into(),
        ),
        ConnectionProblem::ProxyUnreachable { detail } => Verdict::fail(
            VerdictCode::ProxyUnreachable,
            format!("cannot reach the proxy {proxy} (from {variable}): {detail}"),
            format!(
                "check that the proxy runs and that {variable} names it; if {host} is reachable \
                 without a proxy, add it to NO_PROXY or unset {variable}"
            ),
        ),
        ConnectionProblem::ProxyRefused { answer } => Verdict::fail(
            VerdictCode::ProxyRefused,
            format!(
                "the proxy {proxy} (from {variable}) refused to connect to {}: it answered \
                 `{answer}`",
                conn.target()
            ),
            if answer.split_whitespace().nth(1) == Some("407") {
                format!(
                    "the proxy wants credentials: put them in {variable} \
                     (http://USER:PASSWORD@HOST:PORT)"
                )
            } else {
                format!(
                    "ask the proxy's administrator to allow {host}, or, if it is reachable \
                     without the proxy, add it to NO_PROXY"
                )
            },
        ),
        ConnectionProblem::NotTls => {
            let configured = conn.protocol_reason.contains("protocol = \"https\"");
            Verdict::fail(
                VerdictCode::NotTls,
                format!(
                    "{} does not speak TLS: it answered the TLS handshake in plain HTTP{}",
                    conn.target(),
                    if configured {
                        ", but the wasm config says `protocol = \"https\"` for it"
                    } else {
                        ""
                    }
                ),
                format!(
                    "if the registry is meant to be plain HTTP, set `protocol = \"http\"` under \
                     [registries.\"{registry}\"] in the wasm config file (or pass --plain-http); \
                     otherwise check the port"
                ),
            )
        }
        ConnectionProblem::Tls { problem } => match problem {
            TlsProblem::UnknownIssuer => Verdict::fail(
                VerdictCode::TlsUnknownIssuer,
                format!(
                    "the TLS certificate of {registry} is issued by {}, a CA that is not trusted \
                     here",
                    cert.map_or("a CA".to_string(), |c| format!("`{}`", c.issuer))
                ),
                format!(
                    "if the registry uses a private CA, add `ca-file = \"/path/to/ca.pem\"` under \
                     [registries.\"{registry}\"] in the wasm config file (or set SSL_CERT_FILE); \
                     `insecure = true` skips the check, as a last resort"
                ),
            ),
            TlsProblem::NameMismatch => Verdict::fail(
                VerdictCode::TlsNameMismatch,
                format!(
                    "the TLS certificate of {} is for {}, not for `{host}`",
                    conn.target(),
                    cert.map_or("other names".to_string(), CertificateFindings::names)
                ),
                "use a name the certificate is issued for, or have the certificate reissued with \
                 this name"
                    .into(),
            ),
            TlsProblem::Expired | TlsProblem::NotYetValid => Verdict::fail(
                VerdictCode::TlsExpired,
                match (problem, cert) {
                    (TlsProblem::Expired, Some(c)) => format!(
                        "the TLS certificate of {} expired on {}",
                        conn.target(),
                        c.not_after
                    ),
                    (_, Some(c)) => format!(
                        "the TLS certificate of {} is not valid before {}",
                        conn.target(),
                        c.not_before
                    ),
                    _ => format!(
                        "the TLS certificate of {} is outside its validity",
                        conn.target()
                    ),
                },
                "the registry's operator must renew the certificate; check this machine's clock \
                 too"
                .into(),
            ),
            TlsProblem::Other { detail } => Verdict::fail(
                VerdictCode::TlsFailure,
                format!(
                    "the TLS certificate of {} is not accepted: {detail}",
                    conn.target()
                ),
                format!(
                    "ask the registry's operator; `insecure = true` under \
                     [registries.\"{registry}\"] skips the check, as a last resort"
                ),
            ),
        },
        ConnectionProblem::Other { detail } => Verdict::fail(
            VerdictCode::NetworkError,
            format!("cannot connect to {}: {detail}", conn.target()),
            "check the address and your network".into(),
        ),
    }
}

fn api_verdict(
    target: &Target,
    conn: &ConnectionFindings,
    api: &ApiFindings,
    problem: &ApiProblem,
) -> Verdict {
    let registry = target.registry.as_str();
    let status = api.status.map(status_text).unwrap_or_default();
    match problem {
        ApiProblem::NotRegistry => Verdict::fail(
            VerdictCode::NotARegistry,
            format!(
                "{} answered {status}{}, not as an OCI registry (no \
                 Docker-Distribution-API-Version header)",
                api.url,
                api.content_type
                    .as_deref()
                    .filter(|t| t.to_ascii_lowercase().starts_with("text/html"))
                    .map(|_| " with a web page")
                    .unwrap_or("")
            ),
            "check the address: it must name the registry (e.g. ghcr.io, not github.com; \
             docker.io, not hub.docker.com), and its port if the registry has its own"
                .into(),
        ),
        ApiProblem::NeedsTls { because } => Verdict::fail(
            VerdictCode::NeedsTls,
            format!(
                "{} expects HTTPS, but was spoken to in plain HTTP (because of {because})",
                conn.target()
            ),
            format!("use HTTPS: remove {because}"),
        ),
        ApiProblem::ProxyAuth => Verdict::fail(
            VerdictCode::ProxyRefused,
            format!(
                "the proxy {} wants credentials (407 Proxy Authentication Required)",
                conn.proxy.url.as_deref().unwrap_or("in effect")
            ),
            format!(
                "put them in {} (http://USER:PASSWORD@HOST:PORT), or add {} to NO_PROXY if it is \
                 reachable without the proxy",
                conn.proxy
                    .variable
                    .as_deref()
                    .unwrap_or("the proxy variable"),
                conn.host
            ),
        ),
        ApiProblem::ServerError => Verdict::fail(
            VerdictCode::RegistryError,
            format!(
                "{registry} answered {status} on /v2/{}",
                server_said(api.server_error.as_deref())
            ),
            "the registry has a problem: try again later, or ask its operator".into(),
        ),
        ApiProblem::Unexpected => Verdict::fail(
            VerdictCode::RegistryError,
            format!(
                "{registry} answered {status} on /v2/{}{}",
                if api.status == Some(401) {
                    " without a usable challenge (WWW-Authenticate)"
                } else {
                    ""
                },
                server_said(api.server_error.as_deref())
            ),
            "check the address; if it is right, the registry does not follow the OCI \
             distribution protocol here: ask its operator"
                .into(),
        ),
        ApiProblem::Network { problem } => connection_verdict(target, conn, problem),
    }
}
