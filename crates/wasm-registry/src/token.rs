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
use crate::reference::is_loopback;

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
pub fn realm_is_safe(realm: &str) -> bool {
    match realm.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => !rest.is_empty(),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => {
            let authority = rest.split('/').next().unwrap_or_default();
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            is_loopback(host)
        }
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
}
