//! A real OCI registry per test or per test process: CNCF distribution 2.8.2
//! (`/usr/bin/docker-registry`, Debian package `docker-registry`) on a free loopback port,
//! started by [`wasm_testkit::Launcher`] (which writes its config, picks the port, waits until it
//! serves and kills it on drop).
//!
//! Here are the test-only parts on top: three set-ups with the files they need (anonymous over
//! plain HTTP, Basic auth with a bcrypt htpasswd of canary users over TLS with a test CA made at
//! start, and token auth against a [`TokenServer`]), the instances shared by the tests of one
//! process, and requests to a registry. Each registry has its own storage, config and log.
//!
//! What must stay true:
//! - The registry process never outlives the test process: [`wasm_testkit`] kills it on drop,
//!   and with `PR_SET_PDEATHSIG` when the process ends, for registries held in statics (never
//!   dropped; see [`wasm_testkit::spawn_tied_to_process`]).
//! - The log shows every HTTP request (access log at level info), one line each, written before
//!   the client has read the response to its end, so [`Registry::requests`] right after a `wasm`
//!   command sees all of that command's requests.
//! - Shared registries keep their files under `$CARGO_TARGET_TMPDIR/wasm-e2e/PID/`; directories
//!   of processes that are gone are removed when the next test process first starts one.

use std::error::Error as _;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
pub use wasm_testkit::LoggedRequest;
use wasm_testkit::{Launcher, LocalRegistry, RegistryError, Tls};

use super::http::{self, HttpResponse};
use super::write_file;
use wasm_testkit::TokenServer;

/// User of [`shared_basic_tls`] (and a canary's owner).
pub const ALICE_USER: &str = "alice";
/// Password of [`ALICE_USER`].
pub const ALICE_PASSWORD: &str = "alice-canary-pw-7f3a";
/// Second user of [`shared_basic_tls`].
pub const BOB_USER: &str = "bob";
/// Password of [`BOB_USER`].
pub const BOB_PASSWORD: &str = "bob-canary-pw-91c2";

/// The `Accept` value that makes distribution 2.8.2 answer a manifest GET/HEAD (without it, 404).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// A running distribution registry ([`wasm_testkit::LocalRegistry`]) and what tests need to talk
/// to it; killed when dropped.
pub struct Registry {
    /// `127.0.0.1:PORT`, as it appears in references (`{host}/repo:tag`).
    pub host: String,
    /// `"http"` or `"https"`.
    pub scheme: &'static str,
    /// The test CA that signed the server certificate (PEM file), for TLS registries.
    pub ca_pem: Option<PathBuf>,
    /// The storage root (`docker/registry/v2/...` lies below it).
    pub root: PathBuf,
    /// Declared before `_dir`: fields drop in order, so the process stops before its directory
    /// goes.
    process: LocalRegistry,
    /// The temp dir with config, log, storage; `None` for shared registries (kept until the
    /// next test process cleans up).
    _dir: Option<tempfile::TempDir>,
}

impl Registry {
    /// A registry without auth, over plain HTTP.
    pub fn anonymous_http() -> Registry {
        Registry::start(temp_dir(), Auth::None)
    }

    /// A registry with Basic auth for `users` (bcrypt htpasswd), over TLS with a test CA made
    /// now ([`Registry::ca_pem`]); the certificate is for `localhost` and `127.0.0.1`.
    pub fn basic_tls(users: &[(&str, &str)]) -> Registry {
        let users = users
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
        Registry::start(temp_dir(), Auth::BasicTls(users))
    }

    /// A registry with token auth over plain HTTP: realm [`TokenServer::realm`], service
    /// [`TokenServer::SERVICE`], trusting the server's signing certificate. Keep `server` alive
    /// as long as the registry.
    pub fn token(server: &TokenServer) -> Registry {
        Registry::start(temp_dir(), Auth::token(server))
    }

    /// `scheme://host`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// A reference to `repo:tag` on this registry, e.g. `127.0.0.1:PORT/repo:tag`.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.host)
    }

    /// The registry's log so far (its stdout and stderr: logrus lines and the access log).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Every request in the access log so far, oldest first, except the harness's own (the
    /// launcher's readiness probes and [`Registry::request`] calls): what `wasm` and other
    /// clients sent.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        // Distribution writes a request's access-log line after it has sent the answer, so a
        // request that `wasm` saw answered may not be in the log yet when `wasm` has exited (seen
        // under load). A marker request of the harness, once in the log, says that the lines of
        // the requests answered before it are there too.
        let marker = format!("/v2/?harness-mark={}", super::random_hex(8));
        self.request("GET", &marker, &[], None);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut requests = loop {
            let requests = self.process.requests_since(0).unwrap_or_default();
            if requests.iter().any(|r| r.uri == marker) || std::time::Instant::now() > deadline {
                break requests;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        requests.retain(|r| r.user_agent != http::HARNESS_USER_AGENT);
        requests
    }

    /// How many [`Registry::requests`] had `method` and a URI containing `uri_part` (e.g.
    /// `count("PUT", "/v2/my-repo/blobs/uploads/")` counts completed blob uploads).
    pub fn count(&self, method: &str, uri_part: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.uri.contains(uri_part))
            .count()
    }

    /// Sends a request to this registry, trusting only [`Registry::ca_pem`] for TLS. Add
    /// `Authorization` yourself ([`basic_auth`], [`TokenServer::mint_token`]); for manifests add
    /// `("Accept", MANIFEST_ACCEPT)`.
    pub fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> HttpResponse {
        let result = if self.scheme == "https" {
            let url = format!("{}{path_and_query}", self.url());
            http::send_curl(&url, self.ca_pem.as_deref(), method, headers, body)
        } else {
            http::send(&self.host, method, path_and_query, headers, body)
        };
        result.unwrap_or_else(|e| panic!("{method} {path_and_query} on {}: {e}", self.host))
    }

    /// The registry process's id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The directory holding `config.yml`, `registry.log` and the storage.
    pub fn dir(&self) -> &Path {
        self.process.dir()
    }

    /// Writes the files `auth` needs into `dir`, then starts the registry there; panics with
    /// the registry's log if it does not serve.
    fn start(dir: Dir, auth: Auth) -> Registry {
        let (auth, tls, ca_pem) = auth.write_files(dir.path());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut launcher = Launcher::new().with_dir(dir.path()).with_auth(auth);
        if let Some(tls) = tls {
            launcher = launcher.with_tls(tls);
        }
        let process = launcher.start().unwrap_or_else(|err| fail(&err));
        Registry {
            host: process.addr().to_string(),
            scheme,
            ca_pem,
            root: process.storage(),
            process,
            _dir: dir.into_temp_dir(),
        }
    }
}

/// Panics with `err` and its causes.
fn fail(err: &RegistryError) -> ! {
    let mut message = err.to_string();
    let mut cause = err.source();
    while let Some(source) = cause {
        let _ = write!(message, ": {source}");
        cause = source.source();
    }
    panic!("{message}")
}

/// `Authorization` value for Basic auth.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", super::auth_field(user, password))
}

/// The set-ups the tests use, with the files each needs.
enum Auth {
    None,
    BasicTls(Vec<(String, String)>),
    Token { realm: String, cert: PathBuf },
}

impl Auth {
    /// Token auth against `server`.
    fn token(server: &TokenServer) -> Auth {
        Auth::Token {
            realm: server.realm(),
            cert: server.cert_pem_path().to_path_buf(),
        }
    }

    /// Writes htpasswd and certificates into `dir`; returns the launcher's auth and TLS
    /// settings and the CA path.
    fn write_files(&self, dir: &Path) -> (wasm_testkit::Auth, Option<Tls>, Option<PathBuf>) {
        match self {
            Auth::None => (wasm_testkit::Auth::None, None, None),
            Auth::BasicTls(users) => {
                let htpasswd = dir.join("htpasswd");
                let mut lines = String::new();
                for (user, password) in users {
                    // Cost 5: distribution accepts only bcrypt, and the default cost (12)
                    // makes every authenticated request take ~250 ms.
                    let hash = bcrypt::hash(password, 5).expect("bcrypt");
                    lines.push_str(&format!("{user}:{hash}\n"));
                }
                write_file(&htpasswd, lines.as_bytes());
                let ca = test_ca();
                let (cert_pem, key_pem) = ca.server_cert();
                let certificate = dir.join("server-cert.pem");
                let key = dir.join("server-key.pem");
                write_file(&certificate, cert_pem.as_bytes());
                write_file(&key, key_pem.as_bytes());
                let ca_path = dir.join("ca.pem");
                write_file(&ca_path, ca.cert_pem.as_bytes());
                let auth = wasm_testkit::Auth::Htpasswd {
                    realm: "wasm-e2e".to_string(),
                    path: htpasswd,
                };
                (auth, Some(Tls { certificate, key }), Some(ca_path))
            }
            Auth::Token { realm, cert } => {
                let auth = wasm_testkit::Auth::Token {
                    realm: realm.clone(),
                    service: TokenServer::SERVICE.to_string(),
                    issuer: TokenServer::ISSUER.to_string(),
                    root_cert_bundle: cert.clone(),
                };
                (auth, None, None)
            }
        }
    }
}

/// A test certificate authority.
pub struct TestCa {
    /// The CA certificate (PEM).
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA (ECDSA P-256) named `name`.
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("generate CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-sign CA");
        TestCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `localhost` and `127.0.0.1` signed by this CA:
    /// `(certificate PEM, private key PEM)`.
    pub fn server_cert(&self) -> (String, String) {
        let key = KeyPair::generate().expect("generate server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "wasm e2e registry");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign server cert");
        (cert.pem(), key.serialize_pem())
    }
}

/// The CA behind every TLS registry of this process (made once, so one file trusts them all;
/// tests can sign more server certificates with it).
pub fn test_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| TestCa::new("wasm e2e test CA"))
}

/// A PEM file with a CA that signed none of the registries' certificates: trusting only it
/// makes the TLS handshake fail with an unknown issuer.
pub fn other_ca_pem() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = shared_dir("other-ca").join("other-ca.pem");
        write_file(
            &path,
            TestCa::new("wasm e2e untrusted CA").cert_pem.as_bytes(),
        );
        path
    })
    .clone()
}

/// The registry without auth shared by the tests of this process.
pub fn shared_anonymous() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::start(Dir::Kept(shared_dir("anonymous")), Auth::None))
}

/// The Basic-auth TLS registry shared by the tests of this process; users [`ALICE_USER`] and
/// [`BOB_USER`].
pub fn shared_basic_tls() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let users = vec![
            (ALICE_USER.to_string(), ALICE_PASSWORD.to_string()),
            (BOB_USER.to_string(), BOB_PASSWORD.to_string()),
        ];
        Registry::start(Dir::Kept(shared_dir("basic-tls")), Auth::BasicTls(users))
    })
}

/// The token server and token-auth registry shared by the tests of this process.
///
/// Users and ACL ([`TokenServer::shared_acl`]): [`super::CAROL_USER`] may pull and push
/// everywhere, [`super::DAVE_USER`] may only pull, and anyone (also anonymous) may pull
/// repositories under `public/`.
pub fn shared_token() -> &'static (TokenServer, Registry) {
    static SHARED_TOKEN: OnceLock<(TokenServer, Registry)> = OnceLock::new();
    SHARED_TOKEN.get_or_init(|| {
        let server = TokenServer::start_in(
            shared_dir("token-server"),
            TokenServer::shared_users(),
            TokenServer::shared_acl(),
        );
        let registry = Registry::start(
            Dir::Kept(shared_dir("token-registry")),
            Auth::token(&server),
        );
        (server, registry)
    })
}

/// Where a registry keeps its files.
enum Dir {
    /// Removed when the registry drops.
    Temp(tempfile::TempDir),
    /// Kept (a shared registry in a static, never dropped).
    Kept(PathBuf),
}

impl Dir {
    fn path(&self) -> &Path {
        match self {
            Dir::Temp(dir) => dir.path(),
            Dir::Kept(path) => path,
        }
    }

    fn into_temp_dir(self) -> Option<tempfile::TempDir> {
        match self {
            Dir::Temp(dir) => Some(dir),
            Dir::Kept(_) => None,
        }
    }
}

fn temp_dir() -> Dir {
    Dir::Temp(
        tempfile::Builder::new()
            .prefix("wasm-e2e-registry-")
            .tempdir()
            .expect("temp dir"),
    )
}

/// A fresh directory `$CARGO_TARGET_TMPDIR/wasm-e2e/PID/NAME` for things held in statics. The
/// first call of a process removes the directories of processes that no longer run.
pub(crate) fn shared_dir(name: &str) -> PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-e2e");
        if let Ok(entries) = fs::read_dir(&parent) {
            for entry in entries.flatten() {
                let pid = entry.file_name().to_string_lossy().parse::<u32>().ok();
                if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                    drop(fs::remove_dir_all(entry.path()));
                }
            }
        }
        parent.join(std::process::id().to_string())
    });
    let dir = base.join(name);
    drop(fs::remove_dir_all(&dir));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}
