//! A deliberately misbehaving registry: a small HTTP server on `127.0.0.1:PORT` that speaks just
//! enough of the distribution API to serve one Wasm artifact, and breaks it the way a test asks
//! (the hostile rows of docs/reliability.md).
//!
//! An [`Artifact`] is what it serves: a correct Wasm artifact built from
//! [`super::component::sample_component`], with exactly one thing broken by one of its `with_*`
//! methods (a layer that does not match its digest, a manifest over 4 MiB, ...). A
//! [`Behaviour`] is how it answers: Basic auth required, a token realm in plain HTTP elsewhere,
//! a redirect of the layer to a second server, an endless trickle. Every request is recorded
//! with whether it carried `Authorization` ([`HostileRegistry::requests`]).
//!
//! Served: `GET /v2/` (200, `Docker-Distribution-API-Version: registry/2.0`), `GET`/`HEAD`
//! `/v2/NAME/manifests/TAG|DIGEST`, `GET`/`HEAD` `/v2/NAME/blobs/DIGEST`, `GET
//! /v2/NAME/tags/list`; anything else is 404 (writes: 405). Every answer closes its connection.
//!
//! Not tiny_http, unlike the token server: `wasm` probes loopback registries with a TLS
//! ClientHello first, and tiny_http waits for a `\r\n` that a ClientHello rarely holds, so the
//! probe would hang. This server answers it with a plain-HTTP 400 at once, as distribution does.
//!
//! What must stay true: the server never panics on what a client sends, and stops (threads
//! joined) when dropped, endless answers included.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::fault_proxy::{
    Conn, TcpServer, copy_body, first_byte, lingering_close, read_head, reason,
};
use super::registry::basic_auth;
use super::sha256_digest;

/// The media type of the manifests served.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The Wasm config media type.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The Wasm layer media type.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The realm of [`Behaviour::InsecureTokenRealm`]: plain HTTP on a host that is not this one.
pub const INSECURE_REALM: &str = "http://auth.example.invalid/token";

/// What a [`HostileRegistry`] serves: one artifact under one tag, described by a manifest, its
/// config and layer blobs. Built correct by [`Artifact::wasm`]; each `with_*` method breaks
/// one thing (apply one, last: the others rebuild the manifest).
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The repository, e.g. `hostile/app`.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The component: what a correct pull writes.
    pub component: Vec<u8>,
    /// The layer's digest as the manifest declares it.
    pub layer_digest: String,
    /// The layer's size as the manifest declares it.
    pub layer_size: u64,
    /// The bytes served for [`Artifact::layer_digest`].
    pub layer_bytes: Vec<u8>,
    /// The config blob, as served and described.
    pub config: Vec<u8>,
    /// Its digest.
    pub config_digest: String,
    /// The manifest, as served.
    pub manifest: Vec<u8>,
    /// The digest of [`Artifact::manifest`] (sent as `Docker-Content-Digest`).
    pub manifest_digest: String,
    annotations: BTreeMap<String, String>,
}

impl Artifact {
    /// A correct Wasm artifact of [`super::component::sample_component`]: config media type
    /// `application/vnd.wasm.config.v0+json` and one `application/wasm` layer.
    pub fn wasm(repository: &str, tag: &str) -> Artifact {
        let component = super::component::sample_component();
        let layer_digest = sha256_digest(&component);
        let mut artifact = Artifact {
            repository: repository.to_string(),
            tag: tag.to_string(),
            layer_size: component.len() as u64,
            layer_bytes: component.clone(),
            component,
            layer_digest,
            config: Vec::new(),
            config_digest: String::new(),
            manifest: Vec::new(),
            manifest_digest: String::new(),
            annotations: BTreeMap::new(),
        };
        artifact.set_config(wasm_config(&artifact.layer_digest).into_bytes());
        artifact
    }

    /// The layer's bytes differ from its digest (its last byte flipped; the size is right).
    pub fn with_corrupt_layer(mut self) -> Artifact {
        if let Some(last) = self.layer_bytes.last_mut() {
            *last ^= 0xff;
        }
        self
    }

    /// The layer is served with `extra` bytes after its declared size (the declared bytes are
    /// right).
    pub fn with_layer_longer_than_declared(mut self, extra: usize) -> Artifact {
        self.layer_bytes.extend(std::iter::repeat_n(0u8, extra));
        self
    }

    /// The manifest is padded (an annotation) to at least `bytes` bytes; otherwise correct.
    pub fn with_manifest_of_at_least(mut self, bytes: usize) -> Artifact {
        let key = "org.example.padding".to_string();
        self.annotations.insert(key.clone(), String::new());
        self.render();
        let missing = bytes.saturating_sub(self.manifest.len());
        self.annotations.insert(key, "x".repeat(missing));
        self.render();
        self
    }

    /// The manifest is not valid JSON (cut short); its digest matches the bytes served.
    pub fn with_malformed_manifest(mut self) -> Artifact {
        let keep = self.manifest.len() / 2;
        self.manifest.truncate(keep);
        self.manifest_digest = sha256_digest(&self.manifest);
        self
    }

    /// The config blob is not valid JSON (cut short); the manifest describes those bytes, so
    /// only their content is wrong.
    pub fn with_malformed_config(mut self) -> Artifact {
        let text = wasm_config(&self.layer_digest);
        let cut = text[..text.len() / 2].to_string();
        self.set_config(cut.into_bytes());
        self
    }

    /// The layer's digest in the manifest is `digest` (e.g. `md5:...`), and the layer is
    /// served under it.
    pub fn with_layer_digest(mut self, digest: &str) -> Artifact {
        self.layer_digest = digest.to_string();
        self.render();
        self
    }

    /// The blob served for `digest`.
    pub fn blob(&self, digest: &str) -> Option<&[u8]> {
        if digest == self.layer_digest {
            Some(&self.layer_bytes)
        } else if digest == self.config_digest {
            Some(&self.config)
        } else {
            None
        }
    }

    fn set_config(&mut self, config: Vec<u8>) {
        self.config_digest = sha256_digest(&config);
        self.config = config;
        self.render();
    }

    fn render(&mut self) {
        let mut manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": WASM_CONFIG_MEDIA_TYPE,
                "digest": self.config_digest,
                "size": self.config.len(),
            },
            "layers": [{
                "mediaType": WASM_LAYER_MEDIA_TYPE,
                "digest": self.layer_digest,
                "size": self.layer_size,
            }],
        });
        if !self.annotations.is_empty() {
            manifest["annotations"] = serde_json::json!(self.annotations);
        }
        self.manifest = serde_json::to_vec(&manifest).expect("manifest JSON");
        self.manifest_digest = sha256_digest(&self.manifest);
    }
}

/// The config oci-wasm writes, for a component with no imports or exports declared.
fn wasm_config(layer_digest: &str) -> String {
    serde_json::json!({
        "created": "2026-01-01T00:00:00Z",
        "author": null,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
        "component": {"exports": [], "imports": [], "target": null},
    })
    .to_string()
}

/// How a [`HostileRegistry`] answers, besides serving its [`Artifact`]. Several may be given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Every request needs `Authorization: Basic base64(user:password)`; others get 401 with
    /// `WWW-Authenticate: Basic realm="hostile"`.
    RequireBasic {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// Every request gets 401 with a token challenge whose realm is [`INSECURE_REALM`]: plain
    /// HTTP on another host, where Basic credentials must never go.
    InsecureTokenRealm,
    /// Every request gets 401 with a token challenge naming this realm, verbatim (crafted
    /// realms whose text and parsed URL disagree about the host).
    TokenRealm(String),
    /// `GET` of the layer is answered `307 Temporary Redirect` to a second server on another
    /// port, which serves the layer and records whether it got `Authorization`
    /// ([`HostileRegistry::redirected_requests`]).
    RedirectLayer,
    /// `GET` of the layer: headers, then one byte every 500 ms, forever (chunked).
    EndlessLayer,
    /// `GET` of the manifest: headers, then one byte (a space) every 500 ms, forever (chunked).
    EndlessManifest,
    /// `GET` of the config blob: headers, then one byte (a space) every 500 ms, forever.
    EndlessConfig,
    /// `GET` of the tag list: headers, then one byte (a space) every 500 ms, forever.
    EndlessTags,
    /// `GET` of the manifest: a JSON manifest of `bytes` bytes (declared in `Content-Length`),
    /// made up as it is sent; [`SeenRequest::body_bytes`] shows how much the client took.
    HugeManifest {
        /// Its length.
        bytes: u64,
    },
}

/// One request a [`HostileRegistry`] (or its redirect target) got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRequest {
    /// The method.
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Whether it carried an `Authorization` header.
    pub authorization: bool,
    /// The status answered.
    pub status: u16,
    /// Body bytes written before the answer ended (or the client went away).
    pub body_bytes: u64,
}

/// A running [`HostileRegistry`]; stopped when dropped.
pub struct HostileRegistry {
    state: Arc<State>,
    server: TcpServer,
    redirect_target: Option<(TcpServer, Arc<Mutex<Vec<SeenRequest>>>)>,
}

struct State {
    artifact: Artifact,
    behaviours: Vec<Behaviour>,
    /// `127.0.0.1:PORT` of the redirect target, if any.
    redirect_host: Option<String>,
    log: Mutex<Vec<SeenRequest>>,
}

impl HostileRegistry {
    /// Starts a server for `artifact` answering as `behaviours` say.
    pub fn start(artifact: Artifact, behaviours: &[Behaviour]) -> HostileRegistry {
        let redirect_target = behaviours.contains(&Behaviour::RedirectLayer).then(|| {
            let log = Arc::new(Mutex::new(Vec::new()));
            let (layer, handler_log) = (artifact.layer_bytes.clone(), Arc::clone(&log));
            let server = TcpServer::start("e2e-hostile-redirect", move |stream, _conn| {
                serve_redirect_target(stream, &layer, &handler_log);
            });
            (server, log)
        });
        let state = Arc::new(State {
            artifact,
            behaviours: behaviours.to_vec(),
            redirect_host: redirect_target.as_ref().map(|(s, _)| s.host()),
            log: Mutex::new(Vec::new()),
        });
        let handler_state = Arc::clone(&state);
        let server = TcpServer::start("e2e-hostile", move |stream, conn| {
            handler_state.serve(stream, conn);
        });
        HostileRegistry {
            state,
            server,
            redirect_target,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// The artifact's reference: `127.0.0.1:PORT/REPOSITORY:TAG`.
    pub fn reference(&self) -> String {
        let a = &self.state.artifact;
        format!("{}/{}:{}", self.host(), a.repository, a.tag)
    }

    /// What it serves.
    pub fn artifact(&self) -> &Artifact {
        &self.state.artifact
    }

    /// The redirect target's `127.0.0.1:PORT` ([`Behaviour::RedirectLayer`]).
    pub fn redirect_host(&self) -> Option<String> {
        self.state.redirect_host.clone()
    }

    /// Every request so far, oldest first, once the connections in progress have ended (for
    /// up to 10 s: endless answers end when their client has gone).
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.server.wait_idle(Duration::from_secs(10));
        self.state.log.lock().unwrap().clone()
    }

    /// Every request the redirect target got ([`Behaviour::RedirectLayer`]).
    pub fn redirected_requests(&self) -> Vec<SeenRequest> {
        match &self.redirect_target {
            Some((server, log)) => {
                server.wait_idle(Duration::from_secs(10));
                log.lock().unwrap().clone()
            }
            None => Vec::new(),
        }
    }
}

impl State {
    fn serve(&self, stream: TcpStream, conn: &Conn) {
        match first_byte(&stream) {
            None => return,
            Some(b) if !b.is_ascii_uppercase() => {
                // Not HTTP (a TLS ClientHello): say so in plain HTTP, as distribution does.
                let mut out = &stream;
                drop(out.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ));
                lingering_close(&stream);
                return;
            }
            Some(_) => {}
        }
        serve_recorded(&stream, &self.log, |method, target, authorization, out| {
            self.answer(method, target, authorization, out, conn);
        });
    }

    fn has(&self, behaviour: &Behaviour) -> bool {
        self.behaviours.contains(behaviour)
    }

    /// The `WWW-Authenticate` challenge of a 401, if the behaviours ask for one: a token realm
    /// (the insecure one first), or Basic auth when `authorization` is not the one required.
    fn challenge(&self, authorization: Option<&str>) -> Option<String> {
        let realm = if self.has(&Behaviour::InsecureTokenRealm) {
            Some(INSECURE_REALM)
        } else {
            self.behaviours.iter().find_map(|b| match b {
                Behaviour::TokenRealm(realm) => Some(realm.as_str()),
                _ => None,
            })
        };
        if let Some(realm) = realm {
            // A quoted-string: `\` and `"` are escaped, so the client unescapes `realm`.
            let quoted = realm.replace('\\', "\\\\").replace('"', "\\\"");
            return Some(format!("Bearer realm=\"{quoted}\",service=\"x\""));
        }
        let basic_refused = self.behaviours.iter().any(|b| {
            matches!(b, Behaviour::RequireBasic { user, password }
                if authorization != Some(basic_auth(user, password).as_str()))
        });
        basic_refused.then(|| "Basic realm=\"hostile\"".to_string())
    }

    fn answer(
        &self,
        method: &str,
        target: &str,
        authorization: Option<&str>,
        out: &mut Answer<'_>,
        conn: &Conn,
    ) {
        if let Some(challenge) = self.challenge(authorization) {
            return out.error(
                401,
                "UNAUTHORIZED",
                "authentication required",
                &[("WWW-Authenticate", challenge)],
            );
        }
        if method != "GET" && method != "HEAD" {
            return out.error(405, "UNSUPPORTED", "this registry is read-only", &[]);
        }
        let path = target.split('?').next().unwrap_or_default();
        if path == "/v2/" || path == "/v2" {
            return out.send(200, "application/json", &[], b"{}");
        }
        let a = &self.artifact;
        let Some(rest) = path
            .strip_prefix("/v2/")
            .and_then(|p| p.strip_prefix(a.repository.as_str()))
        else {
            return out.error(
                404,
                "NAME_UNKNOWN",
                "repository name not known to registry",
                &[],
            );
        };
        if let Some(reference) = rest.strip_prefix("/manifests/") {
            if reference != a.tag && reference != a.manifest_digest {
                return out.error(404, "MANIFEST_UNKNOWN", "manifest unknown", &[]);
            }
            if method == "GET" && self.has(&Behaviour::EndlessManifest) {
                return out.trickle(MANIFEST_MEDIA_TYPE, b' ', conn);
            }
            if method == "GET"
                && let Some(bytes) = self.behaviours.iter().find_map(|b| match b {
                    Behaviour::HugeManifest { bytes } => Some(*bytes),
                    _ => None,
                })
            {
                return out.huge_json(MANIFEST_MEDIA_TYPE, bytes);
            }
            let digest = [("Docker-Content-Digest", a.manifest_digest.clone())];
            return out.send(200, MANIFEST_MEDIA_TYPE, &digest, &a.manifest);
        }
        if let Some(digest) = rest.strip_prefix("/blobs/") {
            let Some(bytes) = a.blob(digest) else {
                return out.error(404, "BLOB_UNKNOWN", "blob unknown to registry", &[]);
            };
            if digest == a.config_digest && method == "GET" && self.has(&Behaviour::EndlessConfig) {
                return out.trickle("application/octet-stream", b' ', conn);
            }
            if digest == a.layer_digest && method == "GET" {
                if let Some(host) = &self.redirect_host {
                    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
                    let location =
                        format!("http://{host}/storage/{hex}?X-Signature=e2e-not-a-secret");
                    return out.send(307, "text/plain", &[("Location", location)], b"");
                }
                if self.has(&Behaviour::EndlessLayer) {
                    return out.trickle("application/octet-stream", 0, conn);
                }
            }
            let header = [("Docker-Content-Digest", digest.to_string())];
            return out.send(200, "application/octet-stream", &header, bytes);
        }
        if rest == "/tags/list" {
            if method == "GET" && self.has(&Behaviour::EndlessTags) {
                return out.trickle("application/json", b' ', conn);
            }
            let body = serde_json::json!({"name": a.repository, "tags": [a.tag]}).to_string();
            return out.send(200, "application/json", &[], body.as_bytes());
        }
        out.error(404, "NOT_FOUND", "not found", &[])
    }
}

/// A plain-HTTP listener that answers every request with a token (`{"token":"t"}`) and records
/// it: the stand-in for a token service on a host that must never see credentials.
pub struct RecordingListener {
    server: TcpServer,
    log: Arc<Mutex<Vec<SeenRequest>>>,
}

impl RecordingListener {
    /// Listens on a free port of `ip`.
    pub fn start_on(ip: std::net::IpAddr) -> RecordingListener {
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler_log = Arc::clone(&log);
        let server = TcpServer::start_on(ip, "e2e-recording-listener", move |stream, _conn| {
            serve_recorded(&stream, &handler_log, |_, _, _, out| {
                out.send(
                    200,
                    "application/json",
                    &[],
                    br#"{"token":"t","access_token":"t"}"#,
                );
            });
        });
        RecordingListener { server, log }
    }

    /// `IP:PORT`.
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.server.wait_idle(Duration::from_secs(10));
        self.log.lock().unwrap().clone()
    }
}

/// The redirect target: serves the layer under `/storage/`, recording every request.
fn serve_redirect_target(stream: TcpStream, layer: &[u8], log: &Mutex<Vec<SeenRequest>>) {
    serve_recorded(&stream, log, |method, target, _, out| {
        if target.starts_with("/storage/") && (method == "GET" || method == "HEAD") {
            out.send(200, "application/octet-stream", &[], layer);
        } else {
            out.error(404, "NOT_FOUND", "not found", &[]);
        }
    });
}

/// Reads one request from `stream` and its body, lets `respond` answer it (given the method,
/// the target and the `Authorization` header), records it in `log`, and closes the connection.
fn serve_recorded(
    stream: &TcpStream,
    log: &Mutex<Vec<SeenRequest>>,
    respond: impl FnOnce(&str, &str, Option<&str>, &mut Answer<'_>),
) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let Ok(Some(head)) = read_head(&mut reader) else {
        return;
    };
    if copy_body(&mut reader, &mut std::io::sink(), head.request_body()).is_err() {
        return;
    }
    let method = head.method().to_string();
    let target = head.target().to_string();
    let authorization = head.header("Authorization").map(str::to_string);
    let mut out = Answer::new(stream, &method);
    respond(&method, &target, authorization.as_deref(), &mut out);
    log.lock().unwrap().push(SeenRequest {
        method,
        path: target,
        authorization: authorization.is_some(),
        status: out.status,
        body_bytes: out.body_bytes,
    });
    lingering_close(stream);
}

/// Writes one answer on a connection and remembers its status and how much body got out.
struct Answer<'a> {
    stream: &'a TcpStream,
    head_only: bool,
    status: u16,
    body_bytes: u64,
}

impl<'a> Answer<'a> {
    fn new(stream: &'a TcpStream, method: &str) -> Self {
        Answer {
            stream,
            head_only: method == "HEAD",
            status: 0,
            body_bytes: 0,
        }
    }

    fn head(
        &mut self,
        status: u16,
        content_type: &str,
        headers: &[(&str, String)],
        length: Option<u64>,
    ) -> bool {
        self.status = status;
        let mut text = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\n\
             Docker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n",
            reason(status)
        );
        match length {
            Some(n) => text.push_str(&format!("Content-Length: {n}\r\n")),
            None => text.push_str("Transfer-Encoding: chunked\r\n"),
        }
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        let mut out = self.stream;
        out.write_all(text.as_bytes()).is_ok()
    }

    fn send(&mut self, status: u16, content_type: &str, headers: &[(&str, String)], body: &[u8]) {
        if !self.head(status, content_type, headers, Some(body.len() as u64)) || self.head_only {
            return;
        }
        let mut out = self.stream;
        for chunk in body.chunks(64 * 1024) {
            if out.write_all(chunk).is_err() {
                return;
            }
            self.body_bytes += chunk.len() as u64;
        }
        drop(out.flush());
    }

    fn error(&mut self, status: u16, code: &str, message: &str, headers: &[(&str, String)]) {
        let body =
            serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]});
        self.send(
            status,
            "application/json",
            headers,
            body.to_string().as_bytes(),
        );
    }

    /// Headers, then `byte` every 500 ms in its own chunk, until the client goes away or the
    /// server stops.
    fn trickle(&mut self, content_type: &str, byte: u8, conn: &Conn) {
        if !self.head(200, content_type, &[], None) || self.head_only {
            return;
        }
        let mut out = self.stream;
        let chunk = [b'1', b'\r', b'\n', byte, b'\r', b'\n'];
        while !conn.stopping() {
            if out.write_all(&chunk).and_then(|()| out.flush()).is_err() {
                return;
            }
            self.body_bytes += 1;
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// A JSON object of exactly `bytes` bytes (`{"schemaVersion":2,"pad":"xxx...x"}`),
    /// generated as it is written.
    fn huge_json(&mut self, content_type: &str, bytes: u64) {
        if !self.head(200, content_type, &[], Some(bytes)) || self.head_only {
            return;
        }
        let prefix = br#"{"schemaVersion":2,"pad":""#;
        let suffix = br#""}"#;
        let fill = bytes.saturating_sub((prefix.len() + suffix.len()) as u64);
        let mut out = self.stream;
        if out.write_all(prefix).is_err() {
            return;
        }
        self.body_bytes += prefix.len() as u64;
        let block = vec![b'x'; 64 * 1024];
        let mut left = fill;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            if out.write_all(&block[..n]).is_err() {
                return;
            }
            self.body_bytes += n as u64;
            left -= n as u64;
        }
        if out.write_all(suffix).is_ok() {
            self.body_bytes += suffix.len() as u64;
        }
    }
}
