//! A Docker token server (the auth flow of GHCR, Docker Hub, ACR), in front of which a
//! [`crate::Launcher`] with [`crate::Auth::Token`] puts a registry: the end-to-end tests' token
//! registries and the benchmark's token-auth variant use it.
//!
//! It serves `/token` over plain HTTP on 127.0.0.1 from its own thread:
//! - `GET /token?service=S&scope=repository:NAME:pull,push[&scope=...]`, optionally with Basic
//!   auth (and `offline_token=true` for a refresh token, as `docker login` asks): `{token,
//!   access_token, expires_in, issued_at[, refresh_token]}`.
//! - `POST /token` with an OAuth2 form: `grant_type=password` (`username`, `password`,
//!   `access_type=offline` for a refresh token) or `grant_type=refresh_token`
//!   (`refresh_token`): `{access_token, expires_in, scope, issued_at[, refresh_token]}`.
//!
//! Access tokens are RS256 JWTs as distribution 2.8.2 checks them: claims `iss`, `sub`, `aud`,
//! `exp`, `nbf`, `iat`, `jti`, `access`, and a header `kid` that is the libtrust fingerprint of
//! the signing key, whose self-signed certificate is the registry's `rootcertbundle`.
//!
//! What must stay true:
//! - The granted access is the requested scope intersected with the ACL: asking for more than
//!   allowed yields a token without those actions (the registry then answers 401/403), never an
//!   error from the token server, as real token servers do.
//! - Bad credentials (wrong password, unknown or revoked refresh token) answer 401 with a JSON
//!   error body.
//! - The request log never holds a secret: `password` and `refresh_token` values are redacted.
//!   Everything the server makes up that is a secret is in [`TokenServer::issued_secrets`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData as _};
use serde_json::{Value, json};

use crate::http_server::{HttpReply, HttpRequest, HttpServer};
use sha2::{Digest as _, Sha256};

fn random_hex(bytes: usize) -> String {
    crate::random_hex(bytes).expect("read /dev/urandom")
}

/// A user of the end-to-end tests' shared token registry who may pull and push everywhere.
pub const CAROL_USER: &str = "carol";
/// Password of [`CAROL_USER`].
pub const CAROL_PASSWORD: &str = "carol-canary-pw-3d5e";
/// A user of the end-to-end tests' shared token registry who may only pull.
pub const DAVE_USER: &str = "dave";
/// Password of [`DAVE_USER`].
pub const DAVE_PASSWORD: &str = "dave-canary-pw-6b1f";

/// Grants actions on repositories whose names start with a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    /// The user the rule is for; `None`: everyone, anonymous callers included.
    pub user: Option<String>,
    /// Repository name prefix; `""` matches every repository.
    pub prefix: String,
    /// Actions granted (`pull`, `push`, `delete`; `*` grants whatever is asked).
    pub actions: Vec<String>,
}

impl AclRule {
    /// Grants `user` `actions` on repositories starting with `prefix`.
    pub fn user(user: &str, prefix: &str, actions: &[&str]) -> AclRule {
        AclRule {
            user: Some(user.to_string()),
            prefix: prefix.to_string(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Grants everyone, anonymous callers included, `actions` on repositories starting with
    /// `prefix`.
    pub fn anyone(prefix: &str, actions: &[&str]) -> AclRule {
        AclRule {
            user: None,
            prefix: prefix.to_string(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// One request the token server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Query (GET) or form (POST) parameters in order; the values of `password` and
    /// `refresh_token` are replaced by `[REDACTED]`.
    pub params: Vec<(String, String)>,
    /// The scheme of the `Authorization` header (`Basic`, `Bearer`), if one was sent.
    pub authorization: Option<String>,
    /// The user named in Basic auth, if any.
    pub basic_user: Option<String>,
    /// The status the server answered with.
    pub status: u16,
}

impl TokenRequest {
    /// The first value of parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every requested scope (repeated `scope` parameters, each split on spaces).
    pub fn scopes(&self) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' '))
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// A running token server; stopped when dropped.
pub struct TokenServer {
    inner: Arc<Inner>,
    /// Serves until dropped, with this.
    _server: HttpServer,
    port: u16,
    cert_path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

struct Inner {
    users: HashMap<String, String>,
    acl: Vec<AclRule>,
    key: EncodingKey,
    kid: String,
    ttl: AtomicI64,
    /// Deliberate fault: how many of the next access tokens are issued already expired.
    expire_next: AtomicUsize,
    /// `POST /token` (the OAuth2 grants) is answered; off, it is 405 as on realms without it.
    post_grants: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    requests: Vec<TokenRequest>,
    /// Refresh token -> user.
    refresh_tokens: HashMap<String, String>,
    /// Every refresh and access token handed out.
    issued: Vec<String>,
}

impl TokenServer {
    /// The `service` the registry is configured with (and the tokens' `aud`).
    pub const SERVICE: &'static str = "wasm-e2e-registry";
    /// The tokens' `iss`, which the registry checks.
    pub const ISSUER: &'static str = "wasm-e2e-token-server";

    /// Starts a server for `users` (`(name, password)`) with `acl`; tokens live 300 s.
    pub fn start(users: &[(&str, &str)], acl: Vec<AclRule>) -> TokenServer {
        let dir = tempfile::Builder::new()
            .prefix("wasm-e2e-token-")
            .tempdir()
            .expect("temp dir");
        let users = users
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
        let mut server = TokenServer::start_in(dir.path().to_path_buf(), users, acl);
        server._dir = Some(dir);
        server
    }

    /// Starts a server keeping its files in `dir` (which outlives it).
    pub fn start_in(dir: PathBuf, users: Vec<(String, String)>, acl: Vec<AclRule>) -> TokenServer {
        let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("generate RSA key");
        let kid = libtrust_key_id(&key.subject_public_key_info());
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("cert params");
        params
            .distinguished_name
            .push(DnType::CommonName, TokenServer::ISSUER);
        let cert = params.self_signed(&key).expect("self-sign token cert");
        let cert_path = dir.join("token-signing-cert.pem");
        std::fs::write(&cert_path, cert.pem().as_bytes())
            .expect("write the token signing certificate");
        let encoding_key = EncodingKey::from_rsa_der(&pkcs1_from_pkcs8(key.serialized_der()));

        let inner = Arc::new(Inner {
            users: users.into_iter().collect(),
            acl,
            key: encoding_key,
            kid,
            ttl: AtomicI64::new(300),
            expire_next: AtomicUsize::new(0),
            post_grants: AtomicBool::new(true),
            state: Mutex::new(State::default()),
        });
        let handler = {
            let inner = Arc::clone(&inner);
            Arc::new(move |request: HttpRequest| inner.handle(request))
        };
        let server = HttpServer::start("e2e-token-server", handler).expect("bind token server");
        let port = server.addr().port();
        TokenServer {
            inner,
            _server: server,
            port,
            cert_path,
            _dir: None,
        }
    }

    /// Sets how long access tokens live, in seconds (may be negative: already expired).
    /// Distribution accepts tokens up to 60 s past `exp`.
    pub fn with_token_ttl(self, secs: i64) -> TokenServer {
        self.inner.ttl.store(secs, Ordering::Relaxed);
        self
    }

    /// Deliberate fault: the next `n` access tokens (from any grant) are issued already expired,
    /// past the registry's 60 s of leeway, as a token looks that expired during a long push or
    /// pull. The registry refuses them with 401; the client must renew them. (A clock-free
    /// stand-in: a token that really expires mid-operation needs an operation longer than a
    /// minute.)
    pub fn expire_next_tokens(&self, n: usize) {
        self.inner.expire_next.store(n, Ordering::Relaxed);
    }

    /// Answers `POST /token` with 405, as realms do that only take `GET` with Basic auth (the
    /// OAuth2 password and refresh-token grants are then unavailable).
    pub fn without_post_grants(self) -> TokenServer {
        self.inner.post_grants.store(false, Ordering::Relaxed);
        self
    }

    /// The realm URL, `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The signing key's self-signed certificate (the registry's `rootcertbundle`).
    pub fn cert_pem_path(&self) -> &Path {
        &self.cert_path
    }

    /// The `kid` header of the tokens: the libtrust fingerprint of the signing key.
    pub fn key_id(&self) -> &str {
        &self.inner.kid
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.inner.state.lock().unwrap().requests.clone()
    }

    /// The requests that asked for a scope on repository `repo` (for the shared server, whose
    /// log other tests fill too).
    pub fn requests_for(&self, repo: &str) -> Vec<TokenRequest> {
        let needle = format!("repository:{repo}:");
        self.requests()
            .into_iter()
            .filter(|r| r.scopes().iter().any(|s| s.starts_with(&needle)))
            .collect()
    }

    /// Every refresh and access token this server issued so far. (the tests' `assert_no_secrets`
    /// already checks those of every server in the process.)
    pub fn issued_secrets(&self) -> Vec<String> {
        self.inner.state.lock().unwrap().issued.clone()
    }

    /// Makes a refresh token ("identity token") for `user`, as `docker login` would have stored.
    pub fn issue_refresh_token(&self, user: &str) -> String {
        assert!(
            self.inner.users.contains_key(user),
            "unknown token server user {user:?}"
        );
        self.inner.new_refresh_token(user)
    }

    /// Forgets a refresh token: using it afterwards answers 401.
    pub fn revoke_refresh_token(&self, token: &str) {
        self.inner
            .state
            .lock()
            .unwrap()
            .refresh_tokens
            .remove(token);
    }

    /// Signs an access token for `user` (`None`: anonymous) with exactly `access` (`(repository,
    /// actions)`), bypassing the ACL: for tests that talk to the registry themselves.
    pub fn mint_token(&self, user: Option<&str>, access: &[(&str, &[&str])]) -> String {
        let access = access
            .iter()
            .map(|(name, actions)| Grant {
                kind: "repository".to_string(),
                name: name.to_string(),
                actions: actions.iter().map(|a| a.to_string()).collect(),
            })
            .collect::<Vec<_>>();
        self.inner.sign(user.unwrap_or(""), &access)
    }

    /// The users of the end-to-end tests' shared token registry.
    pub fn shared_users() -> Vec<(String, String)> {
        vec![
            (CAROL_USER.to_string(), CAROL_PASSWORD.to_string()),
            (DAVE_USER.to_string(), DAVE_PASSWORD.to_string()),
        ]
    }

    /// The ACL of the end-to-end tests' shared token registry: carol pulls and pushes everywhere, dave pulls
    /// everywhere, anyone pulls `public/...`.
    pub fn shared_acl() -> Vec<AclRule> {
        vec![
            AclRule::user(CAROL_USER, "", &["pull", "push", "delete"]),
            AclRule::user(DAVE_USER, "", &["pull"]),
            AclRule::anyone("public/", &["pull"]),
        ]
    }
}

/// One entry of the `access` claim.
#[derive(Debug, Clone)]
struct Grant {
    kind: String,
    name: String,
    actions: Vec<String>,
}

impl Grant {
    fn scope_string(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// What a handler answers.
struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn error(status: u16, code: &str, oauth_error: &str, message: &str) -> Reply {
        Reply {
            status,
            body: json!({
                "errors": [{"code": code, "message": message}],
                "error": oauth_error,
                "error_description": message,
            }),
        }
    }

    fn unauthorized(message: &str) -> Reply {
        Reply::error(401, "UNAUTHORIZED", "invalid_grant", message)
    }
}

impl Inner {
    fn handle(&self, request: HttpRequest) -> HttpReply {
        let method = request.method.clone();
        let url = request.target.clone();
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let authorization = request.header("Authorization").map(str::to_owned);
        let body = request.body;
        let params = match method.as_str() {
            "POST" => parse_form(&String::from_utf8_lossy(&body)),
            _ => parse_form(query),
        };
        let basic = authorization.as_deref().and_then(parse_basic);

        let reply = match (method.as_str(), path) {
            (_, p) if p != "/token" => {
                Reply::error(404, "NOT_FOUND", "not_found", "no such endpoint")
            }
            ("GET", _) => self.get_token(&params, authorization.as_deref(), basic.as_ref()),
            ("POST", _) if !self.post_grants.load(Ordering::Relaxed) => {
                Reply::error(405, "UNSUPPORTED", "invalid_request", "method not allowed")
            }
            ("POST", _) => self.post_token(&params),
            _ => Reply::error(405, "UNSUPPORTED", "invalid_request", "method not allowed"),
        };

        let redacted = params
            .iter()
            .map(|(k, v)| {
                let secret = k == "password" || k == "refresh_token";
                (
                    k.clone(),
                    if secret {
                        "[REDACTED]".to_string()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        self.state.lock().unwrap().requests.push(TokenRequest {
            method,
            path: path.to_string(),
            params: redacted,
            authorization: authorization
                .as_deref()
                .map(|a| a.split(' ').next().unwrap_or("").to_string()),
            basic_user: basic.map(|(user, _)| user),
            status: reply.status,
        });

        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        if reply.status == 401 {
            headers.push((
                "WWW-Authenticate".to_owned(),
                "Basic realm=\"wasm-e2e-token\"".to_owned(),
            ));
        }
        HttpReply {
            status: reply.status,
            headers,
            body: reply.body.to_string().into_bytes(),
        }
    }

    /// `GET /token`: Basic auth or anonymous.
    fn get_token(
        &self,
        params: &[(String, String)],
        authorization: Option<&str>,
        basic: Option<&(String, String)>,
    ) -> Reply {
        if let Some(reply) = check_service(params) {
            return reply;
        }
        let user = match (authorization, basic) {
            (None, _) => None,
            (Some(_), Some((user, password))) => {
                if self.users.get(user) != Some(password) {
                    return Reply::unauthorized("invalid username or password");
                }
                Some(user.as_str())
            }
            (Some(_), None) => return Reply::unauthorized("unsupported authorization: use Basic"),
        };
        let grants = self.grant(user, params);
        let (token, expires_in, issued_at) = self.issue(user.unwrap_or(""), &grants);
        let mut body = json!({
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": issued_at,
        });
        if let Some(user) = user
            && param(params, "offline_token") == Some("true")
        {
            body["refresh_token"] = json!(self.new_refresh_token(user));
        }
        Reply { status: 200, body }
    }

    /// `POST /token`: OAuth2 password or refresh-token grant.
    fn post_token(&self, params: &[(String, String)]) -> Reply {
        if let Some(reply) = check_service(params) {
            return reply;
        }
        let user = match param(params, "grant_type") {
            Some("password") => {
                let user = param(params, "username").unwrap_or_default();
                let password = param(params, "password").unwrap_or_default();
                if self.users.get(user).map(String::as_str) != Some(password) {
                    return Reply::unauthorized("invalid username or password");
                }
                user.to_string()
            }
            Some("refresh_token") => {
                let token = param(params, "refresh_token").unwrap_or_default();
                match self.state.lock().unwrap().refresh_tokens.get(token) {
                    Some(user) => user.clone(),
                    None => return Reply::unauthorized("invalid refresh token"),
                }
            }
            other => {
                let message = format!("unsupported grant_type {other:?}");
                return Reply::error(400, "UNSUPPORTED", "unsupported_grant_type", &message);
            }
        };
        let grants = self.grant(Some(&user), params);
        let (token, expires_in, issued_at) = self.issue(&user, &grants);
        let scope: Vec<String> = grants.iter().map(Grant::scope_string).collect();
        let mut body = json!({
            "access_token": token,
            "expires_in": expires_in,
            "scope": scope.join(" "),
            "issued_at": issued_at,
        });
        if param(params, "grant_type") == Some("password")
            && param(params, "access_type") == Some("offline")
        {
            body["refresh_token"] = json!(self.new_refresh_token(&user));
        }
        Reply { status: 200, body }
    }

    /// The requested repository scopes intersected with what the ACL gives `user`.
    fn grant(&self, user: Option<&str>, params: &[(String, String)]) -> Vec<Grant> {
        let mut grants: Vec<Grant> = Vec::new();
        let scopes = params
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' '));
        for scope in scopes.filter(|s| !s.is_empty()) {
            // `repository:NAME:actions`; NAME has no ':' but a type may (`repository(plugin)`).
            let Some((kind, rest)) = scope.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            if kind != "repository" {
                continue;
            }
            let allowed: Vec<&AclRule> = self
                .acl
                .iter()
                .filter(|r| r.user.is_none() || r.user.as_deref() == user)
                .filter(|r| name.starts_with(&r.prefix))
                .collect();
            let granted: Vec<String> = actions
                .split(',')
                .filter(|a| {
                    allowed
                        .iter()
                        .any(|r| r.actions.iter().any(|x| x == a || x == "*"))
                })
                .map(str::to_string)
                .collect();
            match grants.iter_mut().find(|g| g.name == name) {
                Some(existing) => {
                    for action in granted {
                        if !existing.actions.contains(&action) {
                            existing.actions.push(action);
                        }
                    }
                }
                None => grants.push(Grant {
                    kind: kind.to_string(),
                    name: name.to_string(),
                    actions: granted,
                }),
            }
        }
        grants
    }

    /// Signs an access token; returns it with `expires_in` and `issued_at` (RFC 3339).
    fn issue(&self, subject: &str, grants: &[Grant]) -> (String, i64, String) {
        let token = self.sign(subject, grants);
        (
            token,
            self.ttl.load(Ordering::Relaxed).max(0),
            rfc3339(now()),
        )
    }

    fn sign(&self, subject: &str, grants: &[Grant]) -> String {
        let expired = self
            .expire_next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        // An expired token was issued three minutes ago and expired two minutes ago.
        let (now, ttl) = if expired {
            (now() - 180, 60)
        } else {
            (now(), self.ttl.load(Ordering::Relaxed))
        };
        let access: Vec<Value> = grants
            .iter()
            .map(|g| json!({"type": g.kind, "name": g.name, "actions": g.actions}))
            .collect();
        let claims = json!({
            "iss": TokenServer::ISSUER,
            "sub": subject,
            "aud": TokenServer::SERVICE,
            "exp": now + ttl,
            "nbf": now - 1,
            "iat": now,
            "jti": random_hex(16),
            "access": access,
        });
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".to_string());
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.key).expect("sign JWT");
        remember_secret(&token);
        self.state.lock().unwrap().issued.push(token.clone());
        token
    }

    fn new_refresh_token(&self, user: &str) -> String {
        let token = format!("e2e-refresh-{}", random_hex(24));
        remember_secret(&token);
        let mut state = self.state.lock().unwrap();
        state.refresh_tokens.insert(token.clone(), user.to_string());
        state.issued.push(token.clone());
        token
    }
}

/// Every secret any token server of this process issued.
static ALL_ISSUED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn remember_secret(secret: &str) {
    ALL_ISSUED.lock().unwrap().push(secret.to_string());
}

/// Every refresh and access token issued by any [`TokenServer`] of this process so far.
pub fn all_issued_secrets() -> Vec<String> {
    ALL_ISSUED.lock().unwrap().clone()
}

/// A wrong `service` is an error (the token would not be accepted); a missing one is tolerated.
fn check_service(params: &[(String, String)]) -> Option<Reply> {
    match param(params, "service") {
        Some(service) if service != TokenServer::SERVICE => {
            let message = format!(
                "unknown service {service:?}, expected {:?}",
                TokenServer::SERVICE
            );
            Some(Reply::error(
                400,
                "UNSUPPORTED",
                "invalid_request",
                &message,
            ))
        }
        _ => None,
    }
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `Basic base64(user:password)` -> `(user, password)`.
fn parse_basic(authorization: &str) -> Option<(String, String)> {
    let (scheme, encoded) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (user, password) = String::from_utf8(decoded)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))?;
    Some((user, password))
}

/// Parses `application/x-www-form-urlencoded` (also a query string).
fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The libtrust key ID distribution matches the `kid` header against: base32 (RFC 4648, no
/// padding) of the first 30 bytes of sha256(SubjectPublicKeyInfo DER), in groups of 4 joined
/// by `:`.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(spki_der);
    // 30 bytes = 240 bits = 48 base32 characters, no padding needed.
    let mut chars = String::new();
    for chunk in digest[..30].chunks(5) {
        let n = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        for i in (0..8).rev() {
            chars.push(ALPHABET[((n >> (i * 5)) & 31) as usize] as char);
        }
    }
    let groups: Vec<&str> = (0..chars.len())
        .step_by(4)
        .map(|i| &chars[i..i + 4])
        .collect();
    groups.join(":")
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (what jsonwebtoken's
/// `from_rsa_der` wants; its PEM parser is behind a feature the workspace leaves off).
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
    // PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm AlgorithmIdentifier,
    //                               privateKey OCTET STRING, ... }
    let (tag, outer, _) = der_element(pkcs8);
    assert_eq!(tag, 0x30, "PKCS#8: not a SEQUENCE");
    let (_, _, rest) = der_element(outer); // version
    let (_, _, rest) = der_element(rest); // algorithm
    let (tag, key, _) = der_element(rest);
    assert_eq!(tag, 0x04, "PKCS#8: privateKey is not an OCTET STRING");
    key.to_vec()
}

/// Splits one DER element off `input`: `(tag, contents, rest)`.
fn der_element(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        n if n < 0x80 => (usize::from(n), 2),
        n => {
            let count = usize::from(n & 0x7f);
            let len = input[2..2 + count]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + count)
        }
    };
    (tag, &input[header..header + len], &input[header + len..])
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Seconds since the epoch as RFC 3339 UTC (`2026-11-24T08:51:39Z`).
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = String::new();
    write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
    .expect("write to String");
    out
}
