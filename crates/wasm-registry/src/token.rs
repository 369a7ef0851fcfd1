//! Registry token authentication beyond what oci-client does: reading a registry's challenge,
//! and exchanging an identity token (an OAuth2 refresh token, as `docker login` stores for Azure
//! and others) for an access token with the refresh-token grant.
//!
//! What must stay true: a refresh token is sent only to the realm the registry names, and never
//! over plain HTTP to a host that is not on this machine.

use std::collections::BTreeMap;

use serde::Deserialize;
use wasm_config::Secret;

use crate::error::{Action, RegistryError, classify_reqwest, error_text};

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// `Basic` or `Bearer` (as sent).
    pub scheme: String,
    /// Its parameters (`realm`, `service`, `scope`, `error`, ...), keys lower-cased.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// Parses a header value; the first challenge with a known scheme wins.
    pub fn parse(header: &str) -> Option<Self> {
        let challenges = http_auth::parse_challenges(header).ok()?;
        let first = challenges
            .iter()
            .find(|c| {
                c.scheme.eq_ignore_ascii_case("bearer") || c.scheme.eq_ignore_ascii_case("basic")
            })
            .or(challenges.first())?;
        Some(Self {
            scheme: first.scheme.to_string(),
            params: first
                .params
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_unescaped()))
                .collect(),
        })
    }

    /// Whether this is a Bearer (token) challenge.
    pub fn is_bearer(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("bearer")
    }

    /// The token realm, for Bearer challenges.
    pub fn realm(&self) -> Option<&str> {
        self.params.get("realm").map(String::as_str)
    }

    /// The service, for Bearer challenges.
    pub fn service(&self) -> Option<&str> {
        self.params.get("service").map(String::as_str)
    }
}

/// The scope string for an action on a repository.
pub fn scope(repository: &str, action: Action) -> String {
    match action {
        Action::Pull => format!("repository:{repository}:pull"),
        Action::Push => format!("repository:{repository}:pull,push"),
    }
}

/// Whether a realm URL may receive secrets: HTTPS, or plain HTTP to this machine.
///
/// Decided on the URL as `url::Url` parses it, which is the parser reqwest connects with: the
/// host checked here is the host the request goes to, whatever userinfo, backslashes,
/// percent-encoding or IDNA the text holds. Text that does not parse may receive nothing.
pub fn realm_is_safe(realm: &str) -> bool {
    parse_realm(realm).is_some_and(|url| url_may_receive_secrets(&url))
}

/// The realm as the URL the token request goes to; `None` when it is not a URL.
pub(crate) fn parse_realm(realm: &str) -> Option<url::Url> {
    url::Url::parse(realm).ok()
}

/// Whether `url` may receive secrets: `https`, or `http` to a loopback host (`localhost`,
/// `127.0.0.0/8`, `::1`), judged on the parsed host.
pub(crate) fn url_may_receive_secrets(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// Exchanges an identity token for an access token for `scope` at the registry's realm.
pub(crate) async fn exchange_identity_token(
    http: &reqwest::Client,
    base_url: &str,
    registry: &str,
    scope: &str,
    token: &Secret<String>,
    source_desc: &str,
) -> Result<String, RegistryError> {
    let network = |e: reqwest::Error| {
        classify_reqwest(registry, &e).unwrap_or_else(|| RegistryError::Request {
            registry: registry.to_string(),
            action: "token request".into(),
            source: Box::new(e),
        })
    };
    let probe = http
        .get(format!("{base_url}/v2/"))
        .send()
        .await
        .map_err(network)?;
    let challenge = probe
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(Challenge::parse)
        .filter(Challenge::is_bearer);
    let Some(challenge) = challenge else {
        return Err(RegistryError::Protocol {
            registry: registry.to_string(),
            problem: format!(
                "the credentials from {source_desc} are an identity token, but the registry does \
                 not use token authentication (no Bearer challenge on /v2/); log in with a \
                 username and password instead"
            ),
        });
    };
    let Some(realm) = challenge.realm() else {
        return Err(RegistryError::Protocol {
            registry: registry.to_string(),
            problem: "its Bearer challenge names no realm".into(),
        });
    };
    if !realm_is_safe(realm) {
        return Err(RegistryError::Protocol {
            registry: registry.to_string(),
            problem: format!(
                "its token realm {realm} is plain HTTP on another host; refusing to send the \
                 identity token there"
            ),
        });
    }
    tracing::debug!(
        realm,
        scope,
        "exchanging an identity token (refresh-token grant)"
    );
    let response = refresh_token_grant(http, realm, challenge.service(), Some(scope), token)
        .await
        .map_err(network)?;
    let status = response.status();
    let body = response.text().await.map_err(network)?;
    if !status.is_success() {
        return Err(RegistryError::Rejected {
            registry: registry.to_string(),
            username: "<token>".into(),
            source_desc: source_desc.to_string(),
            detail: format!("token endpoint answered {status}: {}", error_text(&body)),
        });
    }
    access_token_of(&body).map_err(|problem| RegistryError::Protocol {
        registry: registry.to_string(),
        problem: problem.into(),
    })
}

/// Sends the OAuth2 refresh-token grant for an identity token to `realm`: `POST`, form
/// `grant_type=refresh_token`, `refresh_token`, `client_id=wasm`, and `scope` and `service` when
/// known. The caller checks [`realm_is_safe`] first.
pub(crate) async fn refresh_token_grant(
    http: &reqwest::Client,
    realm: &str,
    service: Option<&str>,
    scope: Option<&str>,
    token: &Secret<String>,
) -> reqwest::Result<reqwest::Response> {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token.expose().as_str()),
        ("client_id", "wasm"),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    if let Some(service) = service {
        form.push(("service", service));
    }
    http.post(realm).form(&form).send().await
}

/// The URL of the token request oci-client makes (`GET realm?scope=...&service=...`, with Basic
/// auth when it has a username and password); without a scope, the request `docker login` makes.
pub(crate) fn token_request_url(
    realm: &str,
    scope: Option<&str>,
    service: Option<&str>,
) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(realm)
        .map_err(|e| format!("the token realm `{realm}` is not a URL: {e}"))?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(scope) = scope {
            query.append_pair("scope", scope);
        }
        if let Some(service) = service {
            query.append_pair("service", service);
        }
    }
    Ok(url)
}

/// The access token in a token endpoint's answer: `access_token` (OAuth2) or `token` (Docker).
pub(crate) fn access_token_of(body: &str) -> Result<String, &'static str> {
    #[derive(Deserialize)]
    struct TokenAnswer {
        access_token: Option<String>,
        token: Option<String>,
    }
    let answer: TokenAnswer = serde_json::from_str(body)
        .map_err(|_| "the token endpoint's answer is not the expected JSON")?;
    answer
        .access_token
        .filter(|t| !t.is_empty())
        .or(answer.token)
        .filter(|t| !t.is_empty())
        .ok_or("the token endpoint's answer has no access_token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert!(c.is_bearer());
        assert_eq!(c.realm(), Some("https://auth.example.com/token"));
        assert_eq!(c.service(), Some("registry.example.com"));
        let c = Challenge::parse(r#"Basic realm="Registry Realm""#).unwrap();
        assert!(!c.is_bearer());
    }

    #[test]
    fn realms_that_may_receive_secrets() {
        assert!(realm_is_safe("https://auth.example.com/token"));
        assert!(realm_is_safe("http://127.0.0.1:5001/token"));
        assert!(realm_is_safe("http://localhost/token"));
        assert!(!realm_is_safe("http://auth.example.com/token"));
        assert!(!realm_is_safe("ftp://x"));
        assert!(!realm_is_safe("http://user@evil.example.com/"));
    }

    /// Each realm: whether it may receive secrets, and the host the URL parser (the one reqwest
    /// connects with) finds in it. The verdict must follow from that host alone.
    #[test]
    fn realm_verdicts_follow_the_host_the_parser_connects_to() {
        let cases: &[(&str, bool, Option<&str>)] = &[
            // Userinfo: the host is after the last `@` of the authority.
            (
                "http://127.0.0.1@evil.example/t",
                false,
                Some("evil.example"),
            ),
            ("http://evil.example@127.0.0.1/t", true, Some("127.0.0.1")),
            ("http://a:b@localhost:5001/t", true, Some("localhost")),
            // A backslash ends the authority in special schemes (the reproduced hole).
            (
                "http://evil.example\\@127.0.0.1/t",
                false,
                Some("evil.example"),
            ),
            ("http://127.0.0.1\\@evil.example/t", true, Some("127.0.0.1")),
            // Query and fragment are not part of the host.
            (
                "http://evil.example/t?h=127.0.0.1",
                false,
                Some("evil.example"),
            ),
            (
                "http://evil.example#@127.0.0.1/",
                false,
                Some("evil.example"),
            ),
            (
                "http://evil.example?@127.0.0.1/",
                false,
                Some("evil.example"),
            ),
            // Percent-encoding in the host is decoded by the parser.
            (
                "http://%6c%6f%63%61%6c%68%6f%73%74/t",
                true,
                Some("localhost"),
            ),
            (
                "http://127.0.0.1%2eevil.example/t",
                false,
                Some("127.0.0.1.evil.example"),
            ),
            ("http://evil.example%40127.0.0.1/t", false, None),
            // IPv6 literals.
            ("http://[::1]:5001/t", true, Some("[::1]")),
            ("http://[::2]/t", false, Some("[::2]")),
            ("http://[::ffff:7f00:1]/t", false, Some("[::ffff:7f00:1]")),
            // IDNA: mapped before the check, as before the connection.
            ("http://LOCALHOST/t", true, Some("localhost")),
            (
                "http://xn--lcalhost-i1a.example/t",
                false,
                Some("xn--lcalhost-i1a.example"),
            ),
            ("http://ｌｏｃａｌｈｏｓｔ/t", true, Some("localhost")),
            // Numeric forms of IPv4 are normalised by the parser.
            ("http://2130706433/t", true, Some("127.0.0.1")),
            ("http://0x7f.1/t", true, Some("127.0.0.1")),
            ("http://127.1.2.3/t", true, Some("127.1.2.3")),
            // Schemes are case-insensitive.
            ("HTTPS://auth.example.com/t", true, Some("auth.example.com")),
            ("HTTP://evil.example/t", false, Some("evil.example")),
            ("HtTp://127.0.0.1/t", true, Some("127.0.0.1")),
            // Not URLs, or no host: nothing is sent.
            ("https:///t", true, Some("t")),
            ("//127.0.0.1/t", false, None),
            ("127.0.0.1/t", false, None),
            ("", false, None),
            ("file:///etc/passwd", false, None),
        ];
        for (realm, safe, host) in cases {
            let parsed = parse_realm(realm);
            let parsed_host = parsed
                .as_ref()
                .and_then(|u| u.host().map(|h| h.to_string()));
            if host.is_some() || parsed.as_ref().is_some_and(|u| u.host().is_some()) {
                assert_eq!(parsed_host.as_deref(), *host, "host of {realm:?}");
            }
            assert_eq!(realm_is_safe(realm), *safe, "verdict on {realm:?}");
        }
    }
}
