//! `wasm login`: check a username and password against a registry before they are stored, and
//! learn whether the registry hands out an identity token to store instead of the password.
//!
//! [`verify_login`] follows the registry's answer to `GET /v2/`:
//! - 200 without a challenge: the registry asks for no credentials; they cannot be checked;
//! - a `Basic` challenge: `GET /v2/` with Basic auth must answer 200;
//! - a `Bearer` challenge: first the OAuth2 password grant (`POST` to the realm with
//!   `access_type=offline`): a `refresh_token` in the answer is an identity token, stored instead
//!   of the password, as `docker login` does. A realm that does not take that `POST` (400, 404,
//!   405) is asked the way the session asks for tokens, `GET realm?service=...` with Basic auth.
//!
//! A 401 from any of these means the credentials are wrong: [`RegistryError::Rejected`].
//! Storing is [`crate::credentials::store_login`]; `logout` is
//! [`crate::credentials::erase_login`].
//!
//! The scheme and trust come from the registry's [`crate::ConnectionPlan`], as for `push` and
//! `pull`, with an `http://` or `https://` written in the address taken into account.
//!
//! What must stay true: the password goes only to the registry and to the realm it names (the
//! parsed URL that was checked), only over HTTPS or to this machine (unless the registry's
//! config says `protocol = "http"`), and into no error or log.

use serde::Deserialize;
use url::Url;
use wasm_config::Secret;

use crate::credentials::Credential;
use crate::error::{RegistryError, classify_transport, error_text};
use crate::plan::url_may_receive_secrets;
use crate::reference::RegistryArgument;
use crate::session::{Challenge, Transport};

/// What [`verify_login`] learnt.
#[derive(Debug)]
pub enum Verified {
    /// The registry accepted the username and password.
    Password,
    /// The registry accepted them and issued an identity token (OAuth2 refresh token).
    IdentityToken(Secret<String>),
    /// The registry asks for no credentials at `/v2/`: they could not be checked.
    Unchecked,
}

impl Verified {
    /// The credential to store for `username` and `password`: the identity token when the
    /// registry issued one, else the password.
    pub fn into_credential(self, username: &str, password: Secret<String>) -> Credential {
        match self {
            Verified::IdentityToken(token) => Credential::IdentityToken {
                username: Some(username.to_string()),
                token,
            },
            Verified::Password | Verified::Unchecked => Credential::Basic {
                username: username.to_string(),
                password,
            },
        }
    }
}

/// Checks `username` and `password` against the registry `address` names (read with
/// [`RegistryArgument::parse`], no repository); see the module docs for the requests.
pub async fn verify_login(
    transport: &Transport,
    address: &RegistryArgument,
    username: &str,
    password: &Secret<String>,
) -> Result<Verified, RegistryError> {
    let registry = address.name.as_str();
    let endpoint = transport.endpoint(&address.name, address.scheme)?;
    let (probe, scheme) = endpoint.get_v2().await?;
    if !endpoint.plan.may_send_credentials(scheme) {
        return Err(RegistryError::CleartextCredentials {
            registry: registry.to_string(),
        });
    }
    let http = &endpoint.client;
    let v2 = endpoint
        .plan
        .base_url(scheme)
        .join("v2/")
        .map_err(|e| RegistryError::Protocol {
            registry: registry.to_string(),
            problem: format!("cannot form the API URL: {e}"),
        })?;
    let network = |e: reqwest::Error| classify_transport(registry, "login", Box::new(e));
    let rejected = |detail: String| RegistryError::LoginRejected {
        registry: registry.to_string(),
        username: username.to_string(),
        detail,
    };
    let protocol = |problem: String| RegistryError::Protocol {
        registry: registry.to_string(),
        problem,
    };

    let status = probe.status().as_u16();
    let challenge = Challenge::of(probe.headers());
    match status {
        200..=299 => {
            tracing::info!(registry, "GET /v2/ answered {status} without a challenge");
            return Ok(Verified::Unchecked);
        }
        401 => {}
        400 if scheme == wasm_config::Scheme::Http
            && probe.version() == reqwest::Version::HTTP_10 =>
        {
            return Err(RegistryError::NeedsTls {
                registry: registry.to_string(),
            });
        }
        _ => {
            return Err(protocol(format!(
                "GET /v2/ answered {status}, not 200 or 401: is {} an OCI registry?",
                endpoint
                    .plan
                    .base_url(scheme)
                    .as_str()
                    .trim_end_matches('/')
            )));
        }
    }
    let Some(challenge) = challenge else {
        return Err(protocol(
            "GET /v2/ answered 401 without a WWW-Authenticate challenge".into(),
        ));
    };
    tracing::info!(registry, scheme = %challenge.scheme, "GET /v2/ asks for authentication");

    if !challenge.is_bearer() {
        let answer = http
            .get(v2.clone())
            .basic_auth(username, Some(password.expose()))
            .send()
            .await
            .map_err(network)?;
        return match answer.status().as_u16() {
            200..=299 => Ok(Verified::Password),
            401 | 403 => Err(rejected(error_text(
                &answer.text().await.unwrap_or_default(),
            ))),
            other => Err(protocol(format!(
                "GET /v2/ with Basic auth answered {other}: {}",
                error_text(&answer.text().await.unwrap_or_default())
            ))),
        };
    }

    let Some(realm) = challenge.realm() else {
        return Err(protocol("its Bearer challenge names no realm".into()));
    };
    // Parsed once: the URL checked is the URL the password goes to.
    let realm = Url::parse(realm)
        .map_err(|_| protocol(format!("its token realm `{realm}` is not a URL")))?;
    if !url_may_receive_secrets(&realm) {
        return Err(protocol(format!(
            "its token realm {realm} is plain HTTP on another host; refusing to send the \
             password there"
        )));
    }
    let service = challenge.service().unwrap_or_default();

    // The OAuth2 password grant: registries that support it answer with a refresh token.
    let form = [
        ("grant_type", "password"),
        ("username", username),
        ("password", password.expose().as_str()),
        ("service", service),
        ("client_id", "wasm"),
        ("access_type", "offline"),
        ("scope", ""),
    ];
    tracing::debug!(realm = %realm, service, "login: OAuth2 password grant");
    let answer = http
        .post(realm.clone())
        .form(&form)
        .send()
        .await
        .map_err(network)?;
    let status = answer.status().as_u16();
    let body = answer.text().await.map_err(network)?;
    match status {
        200..=299 => {
            #[derive(Deserialize)]
            struct Grant {
                refresh_token: Option<String>,
            }
            let grant: Grant = serde_json::from_str(&body).map_err(|_| {
                protocol("the token endpoint's answer to the password grant is not JSON".into())
            })?;
            return Ok(match grant.refresh_token.filter(|t| !t.is_empty()) {
                Some(token) => Verified::IdentityToken(Secret::new(token)),
                None => Verified::Password,
            });
        }
        401 | 403 => return Err(rejected(error_text(&body))),
        400 | 404 | 405 => {
            tracing::debug!(
                realm = %realm,
                status,
                "the realm does not take the password grant; asking with GET and Basic auth"
            );
        }
        other => {
            return Err(protocol(format!(
                "the token endpoint answered {other} to the password grant: {}",
                error_text(&body)
            )));
        }
    }

    let mut query = Vec::new();
    if !service.is_empty() {
        query.push(("service", service));
    }
    let answer = http
        .get(realm)
        .query(&query)
        .basic_auth(username, Some(password.expose()))
        .send()
        .await
        .map_err(network)?;
    let status = answer.status().as_u16();
    let body = answer.text().await.map_err(network)?;
    match status {
        200..=299 => Ok(Verified::Password),
        401 | 403 => Err(rejected(error_text(&body))),
        other => Err(protocol(format!(
            "the token endpoint answered {other}: {}",
            error_text(&body)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_secret() {
        let verified = Verified::IdentityToken(Secret::new("canary-token".into()));
        assert_eq!(format!("{verified:?}"), "IdentityToken(Secret(<redacted>))");
        let credential = verified.into_credential("carol", Secret::new("canary-pw".into()));
        assert_eq!(
            format!("{credential:?}"),
            "IdentityToken { username: Some(\"carol\"), token: Secret(<redacted>) }"
        );
    }
}
