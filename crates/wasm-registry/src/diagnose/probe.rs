//! The I/O of `registry test`: each step's requests, in order, collected into [`Findings`].
//!
//! The scheme, the trusted certificates and whether credentials may travel in clear text come
//! from the registry's [`ConnectionPlan`], and requests go through the HTTP client of that plan:
//! the ones `push` and `pull` use, so the findings describe what they meet. Stops at the first step that makes the later ones
//! meaningless; the credential chain failing does not stop the connection checks, which need no
//! credentials.

use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;
use url::Url;
use wasm_config::{Scheme, Secret};

use super::proxy::{self, ProxyEnv};
use super::tls::{self, HandshakeError};
use super::{
    AccessCheck, AccessFindings, ApiFindings, ApiProblem, AuthFindings, AuthMethod, AuthOutcome,
    ChallengeFindings, ConnectionFindings, ConnectionProblem, CredentialFindings, Findings,
    Options, Report, Target, TrustFindings, join_host_port, repository_of, status_text,
    token_access,
};
use crate::credentials::{Credential, Resolution, error_chain};
use crate::error::{Action, CaFileProblem, RegistryError, error_text};
use crate::plan::{ConnectionPlan, SchemeChoice, url_may_receive_secrets};
use crate::session::{
    Challenge, DnsError, Transport, refresh_token_grant, scope, token_answer, token_request_url,
};

/// How long connecting (and the TLS handshake) may take, as in [`crate::Transport`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs every step against `target` with the credentials the transport's chain finds, and
/// judges the result.
///
/// Fails only for local set-up problems (an unreadable `ca-file` or `SSL_CERT_FILE`); every
/// problem with the registry, the network or the credentials is a finding in the report.
pub async fn run(
    transport: &Transport,
    target: &Target,
    options: &Options,
) -> Result<Report, RegistryError> {
    let registry = target.registry.clone();
    let repository = repository_of(target, options);
    let plan = transport.plan(&registry, target.scheme);

    // The trust of the plan: the system's roots, `ca-file`, `SSL_CERT_FILE`.
    let mut extra_roots = Vec::new();
    let mut roots = vec!["the system's roots".to_string()];
    for root in &plan.extra_roots {
        let pem = std::fs::read(&root.path).map_err(|e| RegistryError::CaFile {
            registry: registry.to_string(),
            path: root.path.clone(),
            problem: CaFileProblem::Read(e),
        })?;
        let certs = tls::pem_certificates(&pem);
        if certs.is_empty() {
            return Err(RegistryError::CaFile {
                registry: registry.to_string(),
                path: root.path.clone(),
                problem: CaFileProblem::NoCertificate,
            });
        }
        extra_roots.extend(certs);
        roots.push(root.to_string());
    }
    let trust = Trust {
        extra_roots,
        roots: roots.join(" + "),
        insecure: plan.insecure.is_some(),
    };

    let mut findings = Findings::default();

    // 1. The credential chain (helpers block: off the async thread).
    let resolved = {
        let chain = transport.chain().clone();
        let (reg, repo) = (registry.clone(), repository.clone());
        tokio::task::spawn_blocking(move || chain.resolve(&reg, repo.as_deref()))
            .await
            .map_err(|source| RegistryError::Task {
                what: "the credential lookup",
                source,
            })?
    };
    let resolution = match resolved {
        Ok(r) => {
            findings.credentials = CredentialFindings::from_resolution(&r);
            Some(r)
        }
        Err(e) => {
            findings.credentials = CredentialFindings::from_error(&e);
            None
        }
    };

    // 2. The connection.
    let proxies = ProxyEnv::from_env();
    let (connection, scheme) = connect(target, &plan, &proxies, &trust).await;
    findings.connection = Some(connection);
    let Some(scheme) = scheme else {
        return Ok(Report::new(target, options, &findings));
    };

    // 3. GET /v2/, with the client `push` and `pull` use.
    let http = transport.client_for(&plan)?;
    let base = plan.base_url(scheme);
    let connection = findings.connection.as_ref().expect("set above");
    let api = get_v2(&http, &base, &plan, scheme, connection).await;
    let answered = api.problem.is_none();
    findings.api = Some(api);
    let Some(resolution) = resolution.filter(|_| answered) else {
        return Ok(Report::new(target, options, &findings));
    };

    // 4. Authentication.
    let cleartext_ok = plan.may_send_credentials(scheme);
    let action = if options.push {
        Action::Push
    } else {
        Action::Pull
    };
    let scope = repository.as_deref().map(|r| scope(r, action));
    let api = findings.api.as_ref().expect("set above");
    let (auth, authz) = authenticate(
        &http,
        &base,
        &resolution,
        api,
        scope.as_deref(),
        cleartext_ok,
    )
    .await;
    let passed = auth.passed();
    findings.auth = Some(auth);

    // 5. Access to the repository.
    if let Some(repository) = repository.as_deref().filter(|_| passed) {
        let auth = findings.auth.as_ref().expect("set above");
        findings.access =
            Some(check_access(&http, &base, repository, options.push, auth, &authz).await);
    }
    Ok(Report::new(target, options, &findings))
}

/// What is trusted for TLS.
struct Trust {
    extra_roots: Vec<CertificateDer<'static>>,
    roots: String,
    insecure: bool,
}

/// Step 2: resolve, connect (directly or through the proxy), and for TLS read and judge the
/// certificate. Returns the scheme to continue with, or `None` when the connection failed.
async fn connect(
    target: &Target,
    plan: &ConnectionPlan,
    proxies: &ProxyEnv,
    trust: &Trust,
) -> (ConnectionFindings, Option<Scheme>) {
    let host = api_host_of(target);
    let explicit_port = target.registry.port();
    let findings_for = |scheme: Scheme, reason: String| ConnectionFindings {
        host: host.clone(),
        port: explicit_port.unwrap_or(match scheme {
            Scheme::Https => 443,
            Scheme::Http => 80,
        }),
        protocol: Some(scheme),
        protocol_reason: reason,
        ..ConnectionFindings::default()
    };
    let reason = plan.scheme_reason.to_string();
    match plan.scheme {
        SchemeChoice::Fixed(Scheme::Http) => {
            let mut f = findings_for(Scheme::Http, reason);
            match open(&mut f, proxies, "http").await {
                Ok(_) => (f, Some(Scheme::Http)),
                Err(problem) => {
                    f.problem = Some(problem);
                    (f, None)
                }
            }
        }
        SchemeChoice::Fixed(Scheme::Https) => {
            let mut f = findings_for(Scheme::Https, reason);
            match tls_attempt(&mut f, proxies, trust).await {
                Ok(()) => (f, Some(Scheme::Https)),
                Err(problem) => {
                    f.problem = Some(problem);
                    (f, None)
                }
            }
        }
        SchemeChoice::TlsThenPlain => {
            let mut f = findings_for(Scheme::Https, reason.clone());
            match tls_attempt(&mut f, proxies, trust).await {
                Ok(()) => (f, Some(Scheme::Https)),
                Err(ConnectionProblem::NotTls) => {
                    let mut f = findings_for(
                        Scheme::Http,
                        format!("{} does not speak TLS; {reason}", f.target()),
                    );
                    match open(&mut f, proxies, "http").await {
                        Ok(_) => (f, Some(Scheme::Http)),
                        Err(problem) => {
                            f.problem = Some(problem);
                            (f, None)
                        }
                    }
                }
                Err(problem) => {
                    f.problem = Some(problem);
                    (f, None)
                }
            }
        }
    }
}

/// The host that serves the registry API, without the port (`index.docker.io` for Docker Hub).
fn api_host_of(target: &Target) -> String {
    let authority = target.registry.api_authority();
    match target.registry.port() {
        Some(port) => authority
            .strip_suffix(&format!(":{port}"))
            .unwrap_or(authority)
            .to_owned(),
        None => authority.to_owned(),
    }
}

/// Connects for TLS and reads and judges the certificate.
async fn tls_attempt(
    f: &mut ConnectionFindings,
    proxies: &ProxyEnv,
    trust: &Trust,
) -> Result<(), ConnectionProblem> {
    let Some(stream) = open(f, proxies, "https").await? else {
        // Through a SOCKS or HTTPS proxy: reqwest handles those; the certificate is not read
        // here, and the next step shows whether the registry answers.
        f.protocol_reason
            .push_str("; certificate not read: the proxy is not a plain HTTP proxy");
        return Ok(());
    };
    let chain = match tls::read_chain(stream, &f.host, CONNECT_TIMEOUT).await {
        Ok(chain) => chain,
        Err(HandshakeError::NotTls) => return Err(ConnectionProblem::NotTls),
        Err(HandshakeError::TimedOut) => {
            return Err(ConnectionProblem::TimedOut {
                address: f.connected.clone().unwrap_or_else(|| f.target()),
            });
        }
        Err(HandshakeError::Other(detail)) => return Err(ConnectionProblem::Other { detail }),
    };
    f.certificate = tls::describe(&chain);
    let verified = tls::verify(&chain, &f.host, &trust.extra_roots);
    f.trust = Some(TrustFindings {
        verified: verified.is_ok(),
        roots: trust.roots.clone(),
        problem: verified.clone().err(),
        insecure: trust.insecure,
    });
    match verified {
        Err(problem) if !trust.insecure => Err(ConnectionProblem::Tls { problem }),
        _ => Ok(()),
    }
}

/// Opens a TCP connection to the registry for `scheme`, through the proxy when one applies
/// (for `https`, with a `CONNECT` tunnel). `None`: no stream to the registry to hand out (plain
/// HTTP through a proxy, or a proxy this module does not speak).
async fn open(
    f: &mut ConnectionFindings,
    proxies: &ProxyEnv,
    scheme: &str,
) -> Result<Option<TcpStream>, ConnectionProblem> {
    let (proxy_findings, proxy) = proxies.decide(scheme, &f.host, f.port);
    f.proxy = proxy_findings;
    let Some(proxy) = proxy else {
        let (addresses, result) = tcp(&f.host, f.port).await;
        f.addresses = addresses.iter().map(ToString::to_string).collect();
        return match result {
            Ok((stream, address)) => {
                f.connected = Some(address.to_string());
                Ok(Some(stream))
            }
            Err(e) => Err(match e {
                TcpError::Dns(detail) => ConnectionProblem::Dns { detail },
                TcpError::Refused(address) => ConnectionProblem::Refused { address },
                TcpError::TimedOut(address) => ConnectionProblem::TimedOut { address },
                TcpError::Other(detail) => ConnectionProblem::Other { detail },
            }),
        };
    };
    if proxy.scheme != "http" {
        return Ok(None);
    }
    let proxy_address = join_host_port(&proxy.host, proxy.port);
    let (_, result) = tcp(&proxy.host, proxy.port).await;
    let mut stream = match result {
        Ok((stream, _)) => stream,
        Err(e) => {
            let detail = match e {
                TcpError::Dns(d) => format!("cannot resolve `{}`: {d}", proxy.host),
                TcpError::Refused(_) => "connection refused".into(),
                TcpError::TimedOut(_) => "no answer (timed out)".into(),
                TcpError::Other(d) => d,
            };
            return Err(ConnectionProblem::ProxyUnreachable { detail });
        }
    };
    if scheme == "http" {
        f.connected = Some(format!("the proxy {proxy_address}"));
        return Ok(None);
    }
    proxy::tunnel(
        &mut stream,
        &f.target(),
        proxy.auth.as_ref(),
        CONNECT_TIMEOUT,
    )
    .await
    .map_err(|answer| ConnectionProblem::ProxyRefused { answer })?;
    f.connected = Some(format!("the proxy {proxy_address} (CONNECT tunnel)"));
    Ok(Some(stream))
}

enum TcpError {
    Dns(String),
    Refused(String),
    TimedOut(String),
    Other(String),
}

/// Resolves `host` and connects to the first address that answers.
async fn tcp(
    host: &str,
    port: u16,
) -> (Vec<SocketAddr>, Result<(TcpStream, SocketAddr), TcpError>) {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> =
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((bare, port))).await {
            Err(_) => {
                return (
                    Vec::new(),
                    Err(TcpError::Dns("no answer (timed out)".into())),
                );
            }
            Ok(Err(e)) => return (Vec::new(), Err(TcpError::Dns(dns_text(&e)))),
            Ok(Ok(found)) => found.collect(),
        };
    let mut last = TcpError::Dns("no addresses".into());
    for address in &addresses {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return (addresses.clone(), Ok((stream, *address))),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = TcpError::Refused(address.to_string());
            }
            Ok(Err(e)) => last = TcpError::Other(format!("{address}: {e}")),
            Err(_) => last = TcpError::TimedOut(address.to_string()),
        }
    }
    (addresses, Err(last))
}

/// The resolver's error as the system's resolver words it (the C library gives no code that
/// survives into the error, so it is shown, not interpreted).
fn dns_text(e: &std::io::Error) -> String {
    e.to_string()
}

/// Step 3: `GET /v2/` without credentials, as the first request of a client.
async fn get_v2(
    http: &reqwest::Client,
    base: &Url,
    plan: &ConnectionPlan,
    scheme: Scheme,
    connection: &ConnectionFindings,
) -> ApiFindings {
    let url = base.join("v2/").unwrap_or_else(|_| base.clone());
    let mut f = ApiFindings {
        url: url.to_string(),
        ..ApiFindings::default()
    };
    let response = match http.get(url).send().await {
        Ok(r) => r,
        Err(e) => {
            f.problem = Some(ApiProblem::Network {
                problem: request_problem(&e, connection),
            });
            return f;
        }
    };
    let status = response.status().as_u16();
    let http10 = response.version() == reqwest::Version::HTTP_10;
    f.status = Some(status);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    f.api_version = header("docker-distribution-api-version");
    f.content_type = header("content-type");
    f.challenge = header("www-authenticate")
        .as_deref()
        .and_then(Challenge::parse)
        .map(|c| ChallengeFindings {
            realm: c.realm().map(str::to_string),
            service: c.service().map(str::to_string),
            scheme: c.scheme,
        });
    let body = response.text().await.unwrap_or_default();
    let html = f
        .content_type
        .as_deref()
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html"));
    let known_challenge = f
        .challenge
        .as_ref()
        .is_some_and(|c| c.is_bearer() || c.scheme.eq_ignore_ascii_case("basic"));
    // Go's HTTP server answers plain HTTP on a TLS port with a bare HTTP/1.0 400.
    f.problem = if status == 400 && scheme == Scheme::Http && http10 {
        let because = match plan.scheme {
            SchemeChoice::Fixed(_) => plan
                .scheme_reason
                .to_string()
                .split(';')
                .next()
                .unwrap_or_default()
                .to_string(),
            SchemeChoice::TlsThenPlain => "plain HTTP".into(),
        };
        Some(ApiProblem::NeedsTls { because })
    } else if status == 407 {
        Some(ApiProblem::ProxyAuth)
    } else if html {
        Some(ApiProblem::NotRegistry)
    } else if status == 200 || (status == 401 && known_challenge) {
        None
    } else if f.api_version.is_none() {
        Some(ApiProblem::NotRegistry)
    } else if status >= 500 {
        Some(ApiProblem::ServerError)
    } else {
        Some(ApiProblem::Unexpected)
    };
    if f.problem.is_some() && !html {
        f.server_error = Some(error_text(&body)).filter(|t| !t.is_empty());
    }
    f
}

/// A failed request, in the terms of step 2.
fn request_problem(e: &reqwest::Error, connection: &ConnectionFindings) -> ConnectionProblem {
    use crate::error::TransportKind as K;
    match crate::error::transport_kind(e) {
        K::Refused if connection.proxy.url.is_some() => ConnectionProblem::ProxyUnreachable {
            detail: "connection refused".into(),
        },
        K::Refused => ConnectionProblem::Refused {
            address: connection.target(),
        },
        K::Dns => ConnectionProblem::Dns {
            detail: crate::error::causes(e)
                .find_map(|c| c.downcast_ref::<DnsError>())
                .map(DnsError::detail)
                .unwrap_or_default(),
        },
        K::NotTls => ConnectionProblem::NotTls,
        K::Untrusted(problem) => ConnectionProblem::Tls {
            problem: super::TlsProblem::Other {
                detail: problem.to_owned(),
            },
        },
        _ if e.is_timeout() => ConnectionProblem::TimedOut {
            address: connection.target(),
        },
        _ => ConnectionProblem::Other {
            detail: error_chain(e),
        },
    }
}

/// How later requests authenticate; holds the secret, never shown.
enum Authz {
    None,
    Basic {
        username: String,
        password: Secret<String>,
    },
    Bearer(Secret<String>),
}

impl Authz {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Authz::None => request,
            Authz::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
            Authz::Bearer(token) => request.bearer_auth(token.expose()),
        }
    }
}

/// `GET realm?scope=...&service=...`, readable (not URL-encoded).
fn describe_token_url(realm: &str, scope: Option<&str>, service: Option<&str>) -> String {
    let mut params = Vec::new();
    if let Some(s) = scope {
        params.push(format!("scope={s}"));
    }
    if let Some(s) = service {
        params.push(format!("service={s}"));
    }
    if params.is_empty() {
        realm.to_string()
    } else {
        let sep = if realm.contains('?') { '&' } else { '?' };
        format!("{realm}{sep}{}", params.join("&"))
    }
}

/// Step 4: authenticate as a client does for the challenge of `GET /v2/`.
async fn authenticate(
    http: &reqwest::Client,
    base: &Url,
    resolution: &Resolution,
    api: &ApiFindings,
    scope: Option<&str>,
    cleartext_ok: bool,
) -> (AuthFindings, Authz) {
    let mut f = AuthFindings {
        method: AuthMethod::None,
        request: None,
        status: None,
        server_error: None,
        granted: None,
        token_check: None,
        outcome: AuthOutcome::NotNeeded,
    };
    let credential = &resolution.credential;
    let Some(challenge) = &api.challenge else {
        return (f, Authz::None);
    };
    if *credential != Credential::Anonymous && !cleartext_ok {
        f.outcome = AuthOutcome::Withheld {
            reason: "plain HTTP to a host that is not on this machine".into(),
        };
        return (f, Authz::None);
    }
    if challenge.is_bearer() {
        f.method = AuthMethod::Token;
        let Some(realm) = challenge.realm.clone() else {
            f.outcome = AuthOutcome::Failed {
                detail: "the Bearer challenge names no realm (token service)".into(),
            };
            return (f, Authz::None);
        };
        let service = challenge.service.as_deref();
        // Parsed once: the URL checked is the URL requested.
        let realm = match Url::parse(&realm) {
            Ok(url) => url,
            Err(e) => {
                f.outcome = AuthOutcome::Failed {
                    detail: format!("the token realm `{realm}` is not a URL: {e}"),
                };
                return (f, Authz::None);
            }
        };
        if *credential != Credential::Anonymous && !url_may_receive_secrets(&realm) {
            f.outcome = AuthOutcome::Withheld {
                reason: format!("the token service {realm} is plain HTTP on another host"),
            };
            return (f, Authz::None);
        }
        let scopes: Vec<String> = scope.map(str::to_owned).into_iter().collect();
        let url = token_request_url(&realm, &scopes, service);
        let shown = describe_token_url(realm.as_str(), scope, service);
        let sent = match credential {
            Credential::IdentityToken { token, .. } => {
                f.method = AuthMethod::RefreshToken;
                let mut form = vec!["grant_type=refresh_token".to_string()];
                form.extend(scope.map(|s| format!("scope={s}")));
                form.extend(service.map(|s| format!("service={s}")));
                f.request = Some(format!(
                    "POST {realm} with the identity token ({})",
                    form.join(", ")
                ));
                refresh_token_grant(http, &realm, service, scope.unwrap_or_default(), token)
                    .send()
                    .await
            }
            Credential::Basic { username, password } => {
                f.request = Some(format!("GET {shown} with Basic auth as `{username}`"));
                http.get(url)
                    .basic_auth(username, Some(password.expose()))
                    .send()
                    .await
            }
            Credential::Anonymous => {
                f.request = Some(format!("GET {shown} without credentials"));
                http.get(url).send().await
            }
        };
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                f.outcome = AuthOutcome::Failed {
                    detail: format!("the token request failed: {}", error_chain(&e)),
                };
                return (f, Authz::None);
            }
        };
        let status = response.status();
        f.status = Some(status.as_u16());
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            f.server_error = Some(error_text(&body)).filter(|t| !t.is_empty());
            f.outcome = match (status.as_u16(), credential) {
                (401 | 403, Credential::Anonymous) => AuthOutcome::NoCredentials,
                (400 | 401 | 403, _) => AuthOutcome::Rejected,
                (s, _) => AuthOutcome::Failed {
                    detail: format!("the token service answered {}", status_text(s)),
                },
            };
            return (f, Authz::None);
        }
        let token = match token_answer(&body) {
            Ok(answer) => answer.token,
            Err(problem) => {
                f.outcome = AuthOutcome::Failed {
                    detail: problem.into(),
                };
                return (f, Authz::None);
            }
        };
        f.granted = token_access(token.expose());
        // The registry, not the token service, has the last word: try the token on /v2/.
        match http
            .get(v2_url(base))
            .bearer_auth(token.expose())
            .send()
            .await
        {
            Ok(r) => {
                f.token_check = Some(r.status().as_u16());
                if r.status() == reqwest::StatusCode::UNAUTHORIZED {
                    let body = r.text().await.unwrap_or_default();
                    f.server_error = Some(error_text(&body)).filter(|t| !t.is_empty());
                    f.outcome = AuthOutcome::TokenRefused;
                    return (f, Authz::None);
                }
            }
            Err(e) => {
                f.outcome = AuthOutcome::Failed {
                    detail: format!("GET /v2/ with the token failed: {}", error_chain(&e)),
                };
                return (f, Authz::None);
            }
        }
        f.outcome = if *credential == Credential::Anonymous {
            AuthOutcome::Anonymous
        } else {
            AuthOutcome::Accepted
        };
        return (f, Authz::Bearer(token));
    }
    if !challenge.scheme.eq_ignore_ascii_case("basic") {
        f.outcome = AuthOutcome::Failed {
            detail: format!(
                "the registry asks for `{}` authentication, which wasm does not speak",
                challenge.scheme
            ),
        };
        return (f, Authz::None);
    }
    f.method = AuthMethod::Basic;
    let (username, password) = match credential {
        Credential::Anonymous => {
            f.outcome = AuthOutcome::NoCredentials;
            return (f, Authz::None);
        }
        Credential::IdentityToken { .. } => {
            f.outcome = AuthOutcome::IdentityTokenNotUsable;
            return (f, Authz::None);
        }
        Credential::Basic { username, password } => (username, password),
    };
    let url = v2_url(base);
    f.request = Some(format!("GET {url} with Basic auth as `{username}`"));
    match http
        .get(url)
        .basic_auth(username, Some(password.expose()))
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status();
            f.status = Some(status.as_u16());
            if status.is_success() {
                f.outcome = AuthOutcome::Accepted;
                return (
                    f,
                    Authz::Basic {
                        username: username.clone(),
                        password: password.clone(),
                    },
                );
            }
            let body = r.text().await.unwrap_or_default();
            f.server_error = Some(error_text(&body)).filter(|t| !t.is_empty());
            f.outcome = match status.as_u16() {
                401 | 403 => AuthOutcome::Rejected,
                s => AuthOutcome::Failed {
                    detail: format!("/v2/ with Basic auth answered {}", status_text(s)),
                },
            };
        }
        Err(e) => {
            f.outcome = AuthOutcome::Failed {
                detail: format!("GET /v2/ with Basic auth failed: {}", error_chain(&e)),
            };
        }
    }
    (f, Authz::None)
}

/// `BASE/v2/`.
fn v2_url(base: &Url) -> Url {
    base.join("v2/").unwrap_or_else(|_| base.clone())
}

/// Step 5: pull (and push) access, from the token's claim when it states it, else by requests
/// that change nothing.
async fn check_access(
    http: &reqwest::Client,
    base: &Url,
    repository: &str,
    push: bool,
    auth: &AuthFindings,
    authz: &Authz,
) -> AccessFindings {
    if let Some(grants) = &auth.granted {
        let check = |action: &str| AccessCheck {
            granted: Some(grants.iter().any(|g| g.allows(repository, action))),
            evidence: "the token's access claim".into(),
            note: None,
            server_error: None,
        };
        return AccessFindings {
            repository: repository.to_string(),
            pull: check("pull"),
            push: push.then(|| check("push")),
        };
    }
    let pull = pull_check(http, base, repository, authz).await;
    let push = if push {
        Some(push_check(http, base, repository, authz).await)
    } else {
        None
    };
    AccessFindings {
        repository: repository.to_string(),
        pull,
        push,
    }
}

/// The `code` of a registry's first JSON error.
fn error_code(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value["errors"][0]["code"].as_str().map(str::to_string)
}

/// `GET /v2/REPO/tags/list`: 200, or 404 NAME_UNKNOWN (not pushed yet), means pull is allowed.
async fn pull_check(
    http: &reqwest::Client,
    base: &Url,
    repository: &str,
    authz: &Authz,
) -> AccessCheck {
    let path = format!("/v2/{repository}/tags/list");
    let mut check = AccessCheck {
        granted: None,
        evidence: format!("GET {path}"),
        note: None,
        server_error: None,
    };
    let url = base.join(&path[1..]).unwrap_or_else(|_| base.clone());
    let response = match authz.apply(http.get(url)).send().await {
        Ok(r) => r,
        Err(e) => {
            check.evidence = format!("GET {path} failed: {}", error_chain(&e));
            return check;
        }
    };
    let status = response.status().as_u16();
    check.evidence = format!("GET {path}: {}", status_text(status));
    let body = response.text().await.unwrap_or_default();
    match status {
        200..=299 => check.granted = Some(true),
        404 if error_code(&body).as_deref() == Some("NAME_UNKNOWN") => {
            check.granted = Some(true);
            check.note = Some("the repository does not exist yet".into());
        }
        401 | 403 => {
            check.granted = Some(false);
            check.server_error = Some(error_text(&body)).filter(|t| !t.is_empty());
        }
        _ => check.server_error = Some(error_text(&body)).filter(|t| !t.is_empty()),
    }
    check
}

/// `POST /v2/REPO/blobs/uploads/`: 202 means push is allowed; the upload session it opens is
/// cancelled at once (`DELETE` on its location).
async fn push_check(
    http: &reqwest::Client,
    base: &Url,
    repository: &str,
    authz: &Authz,
) -> AccessCheck {
    let path = format!("/v2/{repository}/blobs/uploads/");
    let mut check = AccessCheck {
        granted: None,
        evidence: format!("POST {path}"),
        note: None,
        server_error: None,
    };
    let url = base.join(&path[1..]).unwrap_or_else(|_| base.clone());
    let response = match authz.apply(http.post(url)).send().await {
        Ok(r) => r,
        Err(e) => {
            check.evidence = format!("POST {path} failed: {}", error_chain(&e));
            return check;
        }
    };
    let status = response.status().as_u16();
    check.evidence = format!("POST {path}: {}", status_text(status));
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.text().await.unwrap_or_default();
    match status {
        200..=299 => {
            check.granted = Some(true);
            check.note = Some(cancel_upload(http, base, location.as_deref(), authz).await);
        }
        401 | 403 => {
            check.granted = Some(false);
            check.server_error = Some(error_text(&body)).filter(|t| !t.is_empty());
        }
        _ => check.server_error = Some(error_text(&body)).filter(|t| !t.is_empty()),
    }
    check
}

async fn cancel_upload(
    http: &reqwest::Client,
    base: &Url,
    location: Option<&str>,
    authz: &Authz,
) -> String {
    let Some(location) = location else {
        return "no upload location to cancel".into();
    };
    let url = match base.join(location) {
        Ok(url) => url,
        Err(_) => return format!("cannot cancel the upload: bad location `{location}`"),
    };
    // Credentials go to the registry's own origin only.
    let request = if url.origin() == base.origin() {
        authz.apply(http.delete(url))
    } else {
        http.delete(url)
    };
    match request.send().await {
        Ok(r) if r.status().is_success() => "upload session cancelled".into(),
        Ok(r) => format!(
            "cancelling the upload session answered {}",
            status_text(r.status().as_u16())
        ),
        Err(e) => format!("cancelling the upload session failed: {}", error_chain(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_urls_are_shown_readable() {
        assert_eq!(
            describe_token_url("https://a/token", Some("repository:x:pull,push"), Some("s")),
            "https://a/token?scope=repository:x:pull,push&service=s"
        );
        assert_eq!(
            describe_token_url("https://a/t?x=1", None, Some("s")),
            "https://a/t?x=1&service=s"
        );
        assert_eq!(describe_token_url("https://a/t", None, None), "https://a/t");
    }
}
