//! The pure parts of `registry test`: reading the registry argument, and one verdict for every
//! kind of finding, including those no end-to-end test can provoke (an expired certificate, a
//! proxy that wants credentials, a token the registry refuses).

use std::path::PathBuf;

use wasm_config::HelperError;

use super::findings::is_other_spelling;
use super::*;
use crate::credentials::{
    AuthFileError, ChainError, DOCKER_HUB_KEY, Outcome, SourceError, SourceKind, Step as ChainStep,
    StoreHelperError,
};
use wasm_config::RegistryName;

fn target(input: &str) -> Target {
    Target::parse(input).unwrap()
}

#[test]
fn reads_every_spelling() {
    for (input, registry, api_host, plain) in [
        ("registry.com", "registry.com", "registry.com", false),
        (
            "https://registry.com",
            "registry.com",
            "registry.com",
            false,
        ),
        (
            "https://registry.com/v1/",
            "registry.com",
            "registry.com",
            false,
        ),
        (
            "https://registry.com/v2/",
            "registry.com",
            "registry.com",
            false,
        ),
        (
            "HTTPS://Registry.COM/v2",
            "registry.com",
            "registry.com",
            false,
        ),
        ("docker.io", "docker.io", "index.docker.io", false),
        (
            "https://index.docker.io/v1/",
            "docker.io",
            "index.docker.io",
            false,
        ),
        (
            "registry-1.docker.io",
            "docker.io",
            "index.docker.io",
            false,
        ),
        ("localhost:5000", "localhost:5000", "localhost:5000", false),
        (
            "http://localhost:5000",
            "localhost:5000",
            "localhost:5000",
            true,
        ),
        (
            "http://127.0.0.1:5000/v2/",
            "127.0.0.1:5000",
            "127.0.0.1:5000",
            true,
        ),
    ] {
        let t = target(input);
        assert_eq!(t.registry.as_str(), registry, "{input}");
        assert_eq!(t.api_host, api_host, "{input}");
        assert_eq!(
            t.scheme == Some(wasm_config::Scheme::Http),
            plain,
            "{input}"
        );
        assert_eq!(t.repository, None, "{input}");
        assert_eq!(t.input, input);
    }
}

#[test]
fn a_path_names_a_repository() {
    assert_eq!(
        target("ghcr.io/me/app").repository.as_deref(),
        Some("me/app")
    );
    assert_eq!(
        target("https://ghcr.io/v2/me/app/").repository.as_deref(),
        Some("me/app")
    );
    assert_eq!(
        target("docker.io/alpine:3").repository.as_deref(),
        Some("library/alpine")
    );
}

#[test]
fn rejects_what_is_not_a_registry() {
    for input in [
        "",
        "https://",
        "ftp://h.io",
        "h.io:0",
        "h.io:99999",
        "bad host",
    ] {
        assert!(Target::parse(input).is_err(), "{input}");
    }
    let e = Target::parse("ghcr.io/Me/App").unwrap_err().to_string();
    assert!(e.contains("lowercase"), "{e}");
}

#[test]
fn other_spellings_are_noticed_but_the_usual_ones_are_not() {
    assert!(is_other_spelling(
        "https://h.io/v2/",
        &RegistryName::parse("h.io").unwrap()
    ));
    assert!(is_other_spelling(
        "http://h.io",
        &RegistryName::parse("h.io").unwrap()
    ));
    assert!(is_other_spelling(
        "H.IO",
        &RegistryName::parse("h.io").unwrap()
    ));
    assert!(!is_other_spelling(
        "h.io",
        &RegistryName::parse("h.io").unwrap()
    ));
    assert!(!is_other_spelling(
        DOCKER_HUB_KEY,
        &RegistryName::parse("docker.io").unwrap()
    ));
    // A namespace is not a spelling of the registry.
    assert!(!is_other_spelling(
        "quay.io/org",
        &RegistryName::parse("quay.io").unwrap()
    ));
}

#[test]
fn reads_the_access_claim_of_jwts() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = format!(
        "{}.{}.sig",
        b64(r#"{"alg":"RS256"}"#),
        b64(r#"{"sub":"u","access":[{"type":"repository","name":"a/b","actions":["pull"]}]}"#)
    );
    let grants = token_access(&token).unwrap();
    assert!(grants[0].allows("a/b", "pull"));
    assert!(!grants[0].allows("a/b", "push"));
    assert!(!grants[0].allows("a/c", "pull"));
    assert_eq!(describe_grants(&grants), "repository:a/b:pull");
    let star = Grant {
        kind: "repository".into(),
        name: "x".into(),
        actions: vec!["*".into()],
    };
    assert!(star.allows("x", "push"));
    // Opaque tokens and JWTs without the claim state nothing.
    assert_eq!(token_access("opaque-token"), None);
    assert_eq!(
        token_access(&format!("{}.{}.s", b64("{}"), b64("{}"))),
        None
    );
    assert_eq!(
        describe_grants(
            &token_access(&format!("{}.{}.s", b64("{}"), b64(r#"{"access":[]}"#))).unwrap()
        ),
        "nothing"
    );
}

fn found(kind: &str, user: Option<&str>, key: &str) -> CredentialFindings {
    CredentialFindings {
        sources: vec![ChainStep {
            source: SourceKind::DockerAuths,
            location: "/h/.docker/config.json".into(),
            outcome: Outcome::Found {
                key: key.into(),
                kind: kind.into(),
                username: user.map(str::to_string),
            },
        }],
        kind: Some(kind.into()),
        username: user.map(str::to_string),
        source: Some(format!(
            "docker auths (/h/.docker/config.json) under `{key}`"
        )),
        other_spelling: None,
        problem: None,
    }
}

fn anonymous() -> CredentialFindings {
    CredentialFindings {
        sources: vec![
            ChainStep {
                source: SourceKind::DockerAuths,
                location: "/h/.docker/config.json".into(),
                outcome: Outcome::NoEntry {
                    tried: vec!["h.io".into()],
                    note: None,
                },
            },
            ChainStep {
                source: SourceKind::Anonymous,
                location: String::new(),
                outcome: Outcome::Used,
            },
        ],
        kind: Some("anonymous".into()),
        ..CredentialFindings::default()
    }
}

fn connected(protocol: wasm_config::Scheme) -> ConnectionFindings {
    ConnectionFindings {
        host: "h.io".into(),
        port: 443,
        connected: Some("192.0.2.1:443".into()),
        protocol: Some(protocol),
        protocol_reason: "the default".into(),
        ..ConnectionFindings::default()
    }
}

fn api(status: u16, challenge: Option<&str>) -> ApiFindings {
    ApiFindings {
        url: "https://h.io/v2/".into(),
        status: Some(status),
        api_version: Some("registry/2.0".into()),
        challenge: challenge.map(|scheme| ChallengeFindings {
            scheme: scheme.into(),
            realm: Some("https://auth.h.io/token".into()),
            service: Some("h.io".into()),
        }),
        ..ApiFindings::default()
    }
}

fn auth(outcome: AuthOutcome) -> AuthFindings {
    AuthFindings {
        method: AuthMethod::Token,
        request: Some("GET https://auth.h.io/token".into()),
        status: Some(200),
        server_error: None,
        granted: None,
        token_check: Some(200),
        outcome,
    }
}

/// Findings that pass every step, with credentials `c`.
fn passing(c: CredentialFindings) -> Findings {
    Findings {
        credentials: c,
        connection: Some(connected(wasm_config::Scheme::Https)),
        api: Some(api(401, Some("Bearer"))),
        auth: Some(auth(AuthOutcome::Accepted)),
        access: None,
    }
}

fn decide(findings: &Findings) -> Verdict {
    Verdict::decide(&target("h.io"), &Options::default(), findings)
}

fn check(granted: Option<bool>) -> AccessCheck {
    AccessCheck {
        granted,
        evidence: "the token's access claim".into(),
        note: None,
        server_error: None,
    }
}

#[test]
fn ok_with_credentials_and_access() {
    let mut f = passing(found("username/password", Some("alice"), "h.io"));
    let v = decide(&f);
    assert_eq!(v.code, VerdictCode::Ok);
    assert!(v.ok);
    assert_eq!(
        v.message,
        "user `alice` from docker auths (/h/.docker/config.json) under `h.io` is accepted by h.io"
    );
    f.access = Some(AccessFindings {
        repository: "a/b".into(),
        pull: check(Some(true)),
        push: Some(check(Some(true))),
    });
    let v = decide(&f);
    assert!(
        v.message.ends_with("and may pull and push a/b"),
        "{}",
        v.message
    );
    assert_eq!(v.fix, None);
}

#[test]
fn other_spelling_is_named_in_an_ok_verdict() {
    let mut c = found("username/password", Some("alice"), "https://h.io/v2/");
    c.other_spelling = Some("https://h.io/v2/".into());
    let v = decide(&passing(c));
    assert_eq!(v.code, VerdictCode::Ok);
    assert!(
        v.message
            .contains("under `https://h.io/v2/` (another spelling of h.io) is accepted"),
        "{}",
        v.message
    );
}

#[test]
fn ok_anonymous() {
    let mut f = passing(anonymous());
    f.api = Some(api(200, None));
    f.auth = Some(AuthFindings {
        outcome: AuthOutcome::NotNeeded,
        method: AuthMethod::None,
        request: None,
        status: None,
        token_check: None,
        ..auth(AuthOutcome::NotNeeded)
    });
    let v = decide(&f);
    assert_eq!(v.code, VerdictCode::OkAnonymous);
    assert!(
        v.message.starts_with("anonymous access works"),
        "{}",
        v.message
    );
}

#[test]
fn no_credentials_lists_what_was_tried() {
    let mut f = passing(anonymous());
    f.auth = Some(auth(AuthOutcome::Anonymous));
    f.access = Some(AccessFindings {
        repository: "private/x".into(),
        pull: check(Some(false)),
        push: None,
    });
    let v = decide(&f);
    assert_eq!(v.code, VerdictCode::NoCredentials);
    assert_eq!(
        v.message,
        "h.io requires authentication to pull private/x, and no credentials were found (tried: \
         docker auths)"
    );
    assert_eq!(v.code.class(), VerdictClass::Credentials);
    // Basic registries say so at the challenge already.
    f.access = None;
    f.auth = Some(auth(AuthOutcome::NoCredentials));
    assert_eq!(decide(&f).code, VerdictCode::NoCredentials);
}

#[test]
fn rejected_credentials_and_identity_tokens() {
    let mut f = passing(found("username/password", Some("alice"), "h.io"));
    let mut a = auth(AuthOutcome::Rejected);
    a.server_error = Some("invalid username or password".into());
    f.auth = Some(a);
    let v = decide(&f);
    assert_eq!(v.code, VerdictCode::CredentialsRejected);
    assert!(
        v.message
            .ends_with("(server said: invalid username or password)")
    );
    assert!(v.fix.unwrap().contains("2FA/MFA"));
    f.credentials = found("identity token", None, "h.io");
    let v = decide(&f);
    assert_eq!(v.code, VerdictCode::CredentialsRejected);
    assert!(
        v.message.contains("refused the identity token"),
        "{}",
        v.message
    );
    f.auth = Some(auth(AuthOutcome::IdentityTokenNotUsable));
    assert_eq!(decide(&f).code, VerdictCode::CredentialsRejected);
}

#[test]
fn insufficient_scope_names_the_action_and_the_grant() {
    let mut f = passing(found("username/password", Some("dave"), "h.io"));
    let mut a = auth(AuthOutcome::Accepted);
    a.granted = Some(vec![Grant {
        kind: "repository".into(),
        name: "a/b".into(),
        actions: vec!["pull".into()],
    }]);
    f.auth = Some(a);
    f.access = Some(AccessFindings {
        repository: "a/b".into(),
        pull: check(Some(true)),
        push: Some(check(Some(false))),
    });
    let v = decide(&f);
    assert_eq!(v.code, VerdictCode::InsufficientScope);
    assert_eq!(
        v.message,
        "user `dave` is accepted by h.io but may not push a/b (the token grants: \
         repository:a/b:pull)"
    );
    // An access check that could not tell is not a success.
    f.access.as_mut().unwrap().push = Some(check(None));
    assert_eq!(decide(&f).code, VerdictCode::RegistryError);
}

#[test]
fn withheld_and_refused_tokens() {
    let mut f = passing(found("username/password", Some("a"), "h.io"));
    f.auth = Some(auth(AuthOutcome::Withheld {
        reason: "plain HTTP to a host that is not on this machine".into(),
    }));
    assert_eq!(decide(&f).code, VerdictCode::CredentialsWithheld);
    f.auth = Some(auth(AuthOutcome::TokenRefused));
    assert_eq!(decide(&f).code, VerdictCode::RegistryError);
    f.auth = Some(auth(AuthOutcome::Failed { detail: "x".into() }));
    assert_eq!(decide(&f).code.class(), VerdictClass::Other);
}

#[test]
fn a_failing_credential_source_comes_first() {
    let mut f = passing(found("username/password", Some("a"), "h.io"));
    f.connection.as_mut().unwrap().problem = Some(ConnectionProblem::Refused {
        address: "192.0.2.1:443".into(),
    });
    f.credentials = CredentialFindings {
        problem: Some(CredentialProblem {
            kind: CredentialProblemKind::HelperFailing,
            message: "m".into(),
            fix: "f".into(),
        }),
        ..CredentialFindings::default()
    };
    let v = decide(&f);
    assert_eq!(v.code, VerdictCode::HelperFailing);
    assert_eq!((v.message.as_str(), v.fix.as_deref()), ("m", Some("f")));
}

fn connection_verdict_of(problem: ConnectionProblem, proxy: bool) -> Verdict {
    let mut f = passing(anonymous());
    let c = f.connection.as_mut().unwrap();
    if proxy {
        c.proxy.url = Some("http://proxy:3128".into());
        c.proxy.variable = Some("HTTPS_PROXY".into());
    }
    c.certificate = Some(CertificateFindings {
        subject: "CN=h.io".into(),
        subject_names: vec!["other.io".into()],
        issuer: "CN=Private CA".into(),
        not_before: "2020-01-01 00:00:00 UTC".into(),
        not_after: "2021-01-01 00:00:00 UTC".into(),
        expired: true,
        chain_length: 1,
    });
    c.problem = Some(problem);
    decide(&f)
}

#[test]
fn network_verdicts() {
    let cases = [
        (
            ConnectionProblem::Dns {
                detail: "no such host".into(),
            },
            VerdictCode::DnsFailure,
            "the host name `h.io` does not resolve (no such host)",
        ),
        (
            ConnectionProblem::Refused {
                address: "192.0.2.1:443".into(),
            },
            VerdictCode::ConnectionRefused,
            "nothing accepts connections at 192.0.2.1:443 (connection refused)",
        ),
        (
            ConnectionProblem::TimedOut {
                address: "192.0.2.1:443".into(),
            },
            VerdictCode::ConnectionTimeout,
            "192.0.2.1:443 does not answer (the connection timed out)",
        ),
        (
            ConnectionProblem::ProxyUnreachable {
                detail: "connection refused".into(),
            },
            VerdictCode::ProxyUnreachable,
            "cannot reach the proxy http://proxy:3128 (from HTTPS_PROXY): connection refused",
        ),
        (
            ConnectionProblem::ProxyRefused {
                answer: "HTTP/1.1 403 Forbidden".into(),
            },
            VerdictCode::ProxyRefused,
            "the proxy http://proxy:3128 (from HTTPS_PROXY) refused to connect to h.io:443: it \
             answered `HTTP/1.1 403 Forbidden`",
        ),
        (
            ConnectionProblem::NotTls,
            VerdictCode::NotTls,
            "h.io:443 does not speak TLS: it answered the TLS handshake in plain HTTP",
        ),
        (
            ConnectionProblem::Tls {
                problem: TlsProblem::UnknownIssuer,
            },
            VerdictCode::TlsUnknownIssuer,
            "the TLS certificate of h.io is issued by `CN=Private CA`, a CA that is not trusted \
             here",
        ),
        (
            ConnectionProblem::Tls {
                problem: TlsProblem::NameMismatch,
            },
            VerdictCode::TlsNameMismatch,
            "the TLS certificate of h.io:443 is for other.io, not for `h.io`",
        ),
        (
            ConnectionProblem::Tls {
                problem: TlsProblem::Expired,
            },
            VerdictCode::TlsExpired,
            "the TLS certificate of h.io:443 expired on 2021-01-01 00:00:00 UTC",
        ),
        (
            ConnectionProblem::Tls {
                problem: TlsProblem::NotYetValid,
            },
            VerdictCode::TlsExpired,
            "the TLS certificate of h.io:443 is not valid before 2020-01-01 00:00:00 UTC",
        ),
    ];
    for (problem, code, message) in cases {
        let v = connection_verdict_of(problem, true);
        assert_eq!(v.code, code);
        assert_eq!(v.message, message);
        assert_eq!(code.class(), VerdictClass::Network);
        assert!(!v.ok);
        assert!(v.fix.is_some());
    }
    let v = connection_verdict_of(
        ConnectionProblem::Tls {
            problem: TlsProblem::UnknownIssuer,
        },
        false,
    );
    assert!(v.fix.unwrap().contains("ca-file"));
}

#[test]
fn api_verdicts() {
    let mut f = passing(anonymous());
    let mut a = api(200, None);
    a.api_version = None;
    a.content_type = Some("text/html; charset=utf-8".into());
    a.problem = Some(ApiProblem::NotRegistry);
    f.api = Some(a);
    let v = decide(&f);
    assert_eq!(v.code, VerdictCode::NotARegistry);
    assert_eq!(
        v.message,
        "https://h.io/v2/ answered 200 OK with a web page, not as an OCI registry (no \
         Docker-Distribution-API-Version header)"
    );
    let mut a = api(400, None);
    a.problem = Some(ApiProblem::NeedsTls {
        because: "--plain-http".into(),
    });
    f.api = Some(a);
    let v = decide(&f);
    assert_eq!(v.code, VerdictCode::NeedsTls);
    assert_eq!(
        v.message,
        "h.io:443 expects HTTPS, but was spoken to in plain HTTP (because of --plain-http)"
    );
    let mut a = api(407, None);
    a.problem = Some(ApiProblem::ProxyAuth);
    f.api = Some(a);
    assert_eq!(decide(&f).code, VerdictCode::ProxyRefused);
    let mut a = api(503, None);
    a.problem = Some(ApiProblem::ServerError);
    a.server_error = Some("down for maintenance".into());
    f.api = Some(a);
    let v = decide(&f);
    assert_eq!(v.code, VerdictCode::RegistryError);
    assert_eq!(
        v.message,
        "h.io answered 503 Service Unavailable on /v2/ (server said: down for maintenance)"
    );
    assert_eq!(v.code.class(), VerdictClass::Other);
}

#[test]
fn classifies_broken_credential_sources() {
    let chain_error = |cause: SourceError| ChainError {
        registry: RegistryName::parse("h.io").unwrap(),
        source_kind: SourceKind::DockerCredsStore,
        location: "/h/.docker/config.json: credsStore -> docker-credential-x".into(),
        steps: Vec::new(),
        cause,
    };
    let p = CredentialProblem::of(&chain_error(SourceError::Store(
        StoreHelperError::NotInstalled {
            program: "docker-credential-x".into(),
            name: "x".into(),
            key: "credsStore".into(),
            file: "/h/.docker/config.json".into(),
        },
    )));
    assert_eq!(p.kind, CredentialProblemKind::HelperNotInstalled);
    assert_eq!(
        p.message,
        "credential helper `docker-credential-x` is not installed or not on PATH (`credsStore: \
         \"x\"` in /h/.docker/config.json)"
    );
    let p = CredentialProblem::of(&chain_error(SourceError::Helper(HelperError::Failed {
        command: "op item get r".into(),
        status: 1,
        stderr: "[ERROR] not signed in\n\nsecond line\n".into(),
    })));
    assert_eq!(p.kind, CredentialProblemKind::HelperFailing);
    assert_eq!(
        p.message,
        "credential helper `op item get r` failed with exit status 1: [ERROR] not signed in / \
         second line"
    );
    let p = CredentialProblem::of(&chain_error(SourceError::File(AuthFileError::Json {
        path: PathBuf::from("/h/.docker/config.json"),
        message: "trailing comma".into(),
        line: 4,
        column: 3,
    })));
    assert_eq!(p.kind, CredentialProblemKind::FileInvalid);
    assert_eq!(
        p.message,
        "/h/.docker/config.json is not valid JSON: trailing comma at line 4 column 3"
    );
    let p = CredentialProblem::of(&chain_error(SourceError::File(AuthFileError::BadEntry {
        path: PathBuf::from("/c.json"),
        key: "h.io".into(),
        problem: "is not valid base64",
    })));
    assert_eq!(p.kind, CredentialProblemKind::SourceFailing);
}

#[test]
fn every_code_has_a_class_and_a_title() {
    use VerdictCode as C;
    for code in [
        C::Ok,
        C::OkAnonymous,
        C::NoCredentials,
        C::CredentialsRejected,
        C::CredentialsWithheld,
        C::InsufficientScope,
        C::HelperNotInstalled,
        C::HelperFailing,
        C::CredentialsFileInvalid,
        C::CredentialSourceFailing,
        C::DnsFailure,
        C::ConnectionRefused,
        C::ConnectionTimeout,
        C::NotARegistry,
        C::TlsUnknownIssuer,
        C::TlsNameMismatch,
        C::TlsExpired,
        C::TlsFailure,
        C::NotTls,
        C::NeedsTls,
        C::ProxyUnreachable,
        C::ProxyRefused,
        C::NetworkError,
        C::RegistryError,
    ] {
        assert!(!code.title().is_empty());
        assert_eq!(code.class() == VerdictClass::Ok, code.title() == "ok");
    }
}

#[test]
fn reports_skip_what_could_not_run() {
    let mut f = passing(anonymous());
    f.connection.as_mut().unwrap().problem = Some(ConnectionProblem::Refused {
        address: "192.0.2.1:443".into(),
    });
    f.api = None;
    f.auth = None;
    let r = Report::new(&target("https://h.io/v2/"), &Options::default(), &f);
    let states: Vec<_> = r.steps.iter().map(|s| (s.name, s.status)).collect();
    assert_eq!(
        states,
        [
            ("credentials", StepStatus::Ok),
            ("connection", StepStatus::Failed),
            ("api", StepStatus::Skipped),
            ("authentication", StepStatus::Skipped),
            ("access", StepStatus::Skipped),
        ]
    );
    assert_eq!(r.normalized_from, "https://h.io/v2/");
    assert_eq!(r.verdict.code, VerdictCode::ConnectionRefused);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["verdict"]["code"], "connection-refused");
    assert_eq!(json["steps"][1]["findings"]["problem"]["kind"], "refused");
}
