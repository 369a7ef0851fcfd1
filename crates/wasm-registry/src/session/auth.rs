//! Registry authentication: reading a registry's challenge, and the token requests of the
//! Docker token flow (what GHCR, Docker Hub, ACR and distribution's token auth use).
//!
//! - `GET realm?service=S&scope=...`, with Basic auth when there are a username and password,
//!   without any for an anonymous token;
//! - the OAuth2 refresh-token grant for an identity token (as `docker login` stores for Azure
//!   and others): `POST realm` with `grant_type=refresh_token`;
//! - `wasm login`'s password grant lives in `ops::login`, on the same [`Challenge`].
//!
//! What must stay true: a secret is sent only to the realm the registry names, to the parsed
//! [`Url`] that was checked, and only when [`url_may_receive_secrets`] says that URL may have
//! it (HTTPS, or this machine); tokens stay in [`Secret`]s.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;
use wasm_config::Secret;

use crate::error::Action;
use crate::plan::url_may_receive_secrets;

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
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

    /// The challenge of an answer, from its `WWW-Authenticate` header.
    pub(crate) fn of(headers: &reqwest::header::HeaderMap) -> Option<Self> {
        headers
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(Self::parse)
    }

    /// Whether this is a Bearer (token) challenge.
    pub fn is_bearer(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("bearer")
    }

    /// The token realm as written, for Bearer challenges.
    pub fn realm(&self) -> Option<&str> {
        self.params.get("realm").map(String::as_str)
    }

    /// The service, for Bearer challenges.
    pub fn service(&self) -> Option<&str> {
        self.params.get("service").map(String::as_str)
    }

    /// What of the challenge holds for every request to the registry, and so may be
    /// remembered between runs: the scheme, the realm and the service (not the `scope` or
    /// `error` of the request that was refused).
    pub(crate) fn remembered(&self) -> Self {
        Self {
            scheme: self.scheme.clone(),
            params: self
                .params
                .iter()
                .filter(|(k, _)| matches!(k.as_str(), "realm" | "service"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Whether a challenge read back from the cache may be used: Basic, or Bearer with a
    /// realm that may receive credentials ([`realm_is_safe`]). Anything else is relearnt from
    /// the registry itself.
    pub(crate) fn usable_from_cache(&self) -> bool {
        if self.is_bearer() {
            self.realm().is_some_and(realm_is_safe)
        } else {
            self.scheme.eq_ignore_ascii_case("basic")
        }
    }
}

/// The scope string for an action on a repository.
pub fn scope(repository: &str, action: Action) -> String {
    match action {
        Action::Pull => format!("repository:{repository}:pull"),
        Action::Push => format!("repository:{repository}:pull,push"),
    }
}

/// Whether a realm may receive secrets: it parses as a URL and [`url_may_receive_secrets`].
pub fn realm_is_safe(realm: &str) -> bool {
    Url::parse(realm).is_ok_and(|url| url_may_receive_secrets(&url))
}

/// An access token and when to stop using it.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) value: Secret<String>,
    pub(crate) renew_at: Instant,
}

impl Token {
    /// Whether the token should be renewed before its next use (by our clock; a registry that
    /// stops accepting it earlier answers 401, and it is renewed then).
    pub(crate) fn is_stale(&self) -> bool {
        Instant::now() >= self.renew_at
    }
}

/// What is sent to a token endpoint.
pub(crate) enum TokenCredential<'a> {
    /// Nothing: an anonymous token.
    Anonymous,
    /// A username and password, as Basic auth on `GET realm`.
    Basic {
        username: &'a str,
        password: &'a Secret<String>,
    },
    /// An identity token, in the refresh-token grant.
    Refresh(&'a Secret<String>),
}

/// Why a token request failed.
#[derive(Debug)]
pub(crate) enum TokenError {
    /// The realm is not a URL.
    BadRealm(String),
    /// No realm in the challenge.
    NoRealm,
    /// The realm may not receive secrets (plain HTTP elsewhere).
    UnsafeRealm(Url),
    /// The endpoint answered with an error status.
    Refused { status: u16, body: String },
    /// The answer is not a token.
    BadAnswer(&'static str),
    /// No answer.
    Transport(reqwest::Error),
}

/// The URL of a token request (`GET realm?scope=...&scope=...&service=...`); without scopes,
/// the request `docker login` makes.
pub(crate) fn token_request_url(realm: &Url, scopes: &[String], service: Option<&str>) -> Url {
    let mut url = realm.clone();
    {
        let mut query = url.query_pairs_mut();
        for scope in scopes {
            query.append_pair("scope", scope);
        }
        if let Some(service) = service {
            query.append_pair("service", service);
        }
    }
    url
}

/// Asks the challenge's realm for a token for `scopes` with `credential`. The realm is parsed
/// once; that parsed URL is checked and then requested.
pub(crate) async fn request_token(
    http: &reqwest::Client,
    challenge: &Challenge,
    scopes: &[String],
    credential: TokenCredential<'_>,
    timeout: Duration,
) -> Result<Token, TokenError> {
    let realm = challenge.realm().ok_or(TokenError::NoRealm)?;
    let realm = Url::parse(realm).map_err(|_| TokenError::BadRealm(realm.to_owned()))?;
    let secret_bearing = !matches!(credential, TokenCredential::Anonymous);
    if secret_bearing && !url_may_receive_secrets(&realm) {
        return Err(TokenError::UnsafeRealm(realm));
    }
    let service = challenge.service();
    tracing::debug!(realm = %realm, ?scopes, "token request");
    let request = match credential {
        TokenCredential::Anonymous => http.get(token_request_url(&realm, scopes, service)),
        TokenCredential::Basic { username, password } => http
            .get(token_request_url(&realm, scopes, service))
            .basic_auth(username, Some(password.expose())),
        TokenCredential::Refresh(token) => {
            refresh_token_grant(http, &realm, service, &scopes.join(" "), token)
        }
    };
    let response = request
        .timeout(timeout)
        .send()
        .await
        .map_err(TokenError::Transport)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(TokenError::Transport)?;
    if !(200..300).contains(&status) {
        return Err(TokenError::Refused { status, body });
    }
    let answer = token_answer(&body).map_err(TokenError::BadAnswer)?;
    Ok(Token {
        value: answer.token,
        renew_at: Instant::now() + answer.lifetime.saturating_sub(Duration::from_secs(5)),
    })
}

/// The OAuth2 refresh-token grant for an identity token, to `realm` (already checked):
/// `POST`, form `grant_type=refresh_token`, `refresh_token`, `client_id=wasm`, and `scope` and
/// `service` when known.
pub(crate) fn refresh_token_grant(
    http: &reqwest::Client,
    realm: &Url,
    service: Option<&str>,
    scope: &str,
    token: &Secret<String>,
) -> reqwest::RequestBuilder {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token.expose().as_str()),
        ("client_id", "wasm"),
    ];
    if !scope.is_empty() {
        form.push(("scope", scope));
    }
    if let Some(service) = service {
        form.push(("service", service));
    }
    http.post(realm.clone()).form(&form)
}

/// A token endpoint's answer: the token and how long it lives.
pub(crate) struct TokenAnswer {
    pub(crate) token: Secret<String>,
    pub(crate) lifetime: Duration,
}

/// Reads a token endpoint's answer: `access_token` (OAuth2) or `token` (Docker), and
/// `expires_in` (60 s when absent, as the token spec says).
pub(crate) fn token_answer(body: &str) -> Result<TokenAnswer, &'static str> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: Option<String>,
        token: Option<String>,
        expires_in: Option<u64>,
    }
    let answer: Answer = serde_json::from_str(body)
        .map_err(|_| "the token endpoint's answer is not the expected JSON")?;
    let token = answer
        .access_token
        .filter(|t| !t.is_empty())
        .or(answer.token)
        .filter(|t| !t.is_empty())
        .ok_or("the token endpoint's answer has no access_token")?;
    Ok(TokenAnswer {
        token: Secret::new(token),
        lifetime: Duration::from_secs(answer.expires_in.unwrap_or(60).max(1)),
    })
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
        // A quoted-string's escapes are undone: this realm holds a backslash.
        let c = Challenge::parse(r#"Bearer realm="http://a\\@b/t""#).unwrap();
        assert_eq!(c.realm(), Some(r"http://a\@b/t"));
    }

    #[test]
    fn token_answers() {
        let a = token_answer(r#"{"token":"t","expires_in":300}"#).unwrap();
        assert_eq!(a.token.expose(), "t");
        assert_eq!(a.lifetime, Duration::from_secs(300));
        let a = token_answer(r#"{"access_token":"a","token":"t"}"#).unwrap();
        assert_eq!(a.token.expose(), "a");
        assert_eq!(a.lifetime, Duration::from_secs(60));
        assert!(token_answer(r#"{"token":""}"#).is_err());
        assert!(token_answer("<html>").is_err());
    }

    #[test]
    fn token_urls_carry_every_scope() {
        let realm = Url::parse("https://auth.example/token?x=1").unwrap();
        let url = token_request_url(
            &realm,
            &["repository:a:pull".into(), "repository:b:pull,push".into()],
            Some("reg"),
        );
        assert_eq!(
            url.as_str(),
            "https://auth.example/token?x=1&scope=repository%3Aa%3Apull&scope=repository%3Ab%3Apull%2Cpush&service=reg"
        );
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
            let parsed = Url::parse(realm).ok();
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
