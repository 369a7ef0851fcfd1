//! Renewing an access token that the registry stops accepting in the middle of an operation,
//! and retrying the request that failed, once.
//!
//! oci-client caches access tokens and renews the ones it fetched itself (with a username and
//! password) when their `exp` claim has passed by its own clock. It cannot renew:
//! - an access token exchanged from an identity token: oci-client only ever sees it as a fixed
//!   bearer token, and keeps sending it after it expired;
//! - a token the registry stops accepting before the client thinks it expired: the client's
//!   clock is behind, an opaque token (no `exp`) lives less than the 60 s oci-client assumes, or
//!   the token was revoked.
//!
//! So every request of a push or pull after authentication goes through
//! [`Session::renewing`]: on a 401 it gets a new token (a new token request with the username and
//! password, or a new refresh-token grant with the identity token), puts it into oci-client's
//! cache for the operations the session does, and repeats the request once. A second 401 is
//! reported as usual (with a fresh token: the credentials lack the scope). A registry that
//! takes Basic auth on every request issues no token: its 401 is reported at once.
//!
//! What must stay true: only requests made after authentication succeeded (callers call
//! `auth` first) and with credentials are retried, each at most once, and a request whose body
//! is a stream is rebuilt by its closure, never replayed.

use std::future::Future;

use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;

use crate::credentials::Credential;
use crate::error::{Action, Ctx, RegistryError};
use crate::token::{exchange_identity_token, scope};
use crate::transport::Session;

impl Session {
    /// Runs `request`; when the registry answers 401 although there are credentials, renews the
    /// access token and runs `request` once more. Errors are classified with `ctx`.
    pub(crate) async fn renewing<T, F, Fut>(
        &self,
        ctx: &Ctx<'_>,
        image: &oci_client::Reference,
        mut request: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let with_credentials =
            self.resolution.credential != Credential::Anonymous && !self.withheld;
        match request().await {
            Ok(value) => Ok(value),
            Err(e) if with_credentials && is_unauthorized(&e) => {
                tracing::info!(
                    registry = %self.registry,
                    repository = ctx.repository,
                    "the registry refused the request (access token expired?); renewing the token"
                );
                let Some(token) = self.renew(ctx, image).await? else {
                    return Err(ctx.classify(e));
                };
                tracing::info!(registry = %self.registry, "renewed the access token; retrying once");
                // With a fresh token, a 401 means the credentials lack the scope.
                let renewed = self
                    .ctx(ctx.repository, ctx.reference.clone(), ctx.action)
                    .authenticated(&Some(token));
                request().await.map_err(|e| renewed.classify(e))
            }
            Err(e) => Err(ctx.classify(e)),
        }
    }

    /// Gets a new access token and puts it into the client's cache for the operations of
    /// `ctx.action` (a push also reads: it asks for both). `None`: the registry issues no tokens
    /// (Basic auth on every request), so there is nothing to renew.
    async fn renew(
        &self,
        ctx: &Ctx<'_>,
        image: &oci_client::Reference,
    ) -> Result<Option<String>, RegistryError> {
        let operations: &[RegistryOperation] = match ctx.action {
            Action::Pull => &[RegistryOperation::Pull],
            Action::Push => &[RegistryOperation::Pull, RegistryOperation::Push],
        };
        // Errors of the renewal itself are about the credentials, not about a scope.
        let fresh = self.ctx(ctx.repository, ctx.reference.clone(), ctx.action);
        let auth = match &self.resolution.credential {
            Credential::IdentityToken { token, .. } => {
                let http = self.endpoint.http_client()?;
                let access = exchange_identity_token(
                    &http,
                    &self.endpoint.base_url(&self.registry),
                    &self.registry,
                    &scope(ctx.repository, ctx.action),
                    token,
                    &self.resolution.describe_source(),
                )
                .await?;
                RegistryAuth::Bearer(access)
            }
            _ => self.auth.clone(),
        };
        // With a bearer token `auth` makes no request: it only fills the cache. With a username
        // and password it asks the token server again.
        let mut token = None;
        for op in operations {
            token = self
                .client
                .auth(image, &auth, *op)
                .await
                .map_err(|e| fresh.classify(e))?;
        }
        Ok(token)
    }
}

/// Whether an oci-client error is the registry answering 401 Unauthorized.
pub(crate) fn is_unauthorized(e: &OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match e {
        E::UnauthorizedError { .. } => true,
        E::ServerError { code, .. } => *code == 401,
        E::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| format!("{:?}", e.code).eq_ignore_ascii_case("unauthorized")),
        E::RequestError(e) => e.status().is_some_and(|s| s.as_u16() == 401),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_401_in_every_shape() {
        use oci_client::errors::OciDistributionError as E;
        assert!(is_unauthorized(&E::UnauthorizedError { url: "u".into() }));
        assert!(is_unauthorized(&E::ServerError {
            code: 401,
            url: "u".into(),
            message: String::new()
        }));
        let envelope = serde_json::from_str(
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        )
        .unwrap();
        assert!(is_unauthorized(&E::RegistryError {
            envelope,
            url: "u".into()
        }));
        let envelope =
            serde_json::from_str(r#"{"errors":[{"code":"DENIED","message":"no"}]}"#).unwrap();
        assert!(!is_unauthorized(&E::RegistryError {
            envelope,
            url: "u".into()
        }));
        assert!(!is_unauthorized(&E::ServerError {
            code: 403,
            url: "u".into(),
            message: String::new()
        }));
    }
}
