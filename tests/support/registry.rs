//! A real OCI registry per test or per test process: CNCF distribution 2.8.2
//! (`/usr/bin/docker-registry`, Debian package `docker-registry`) on a free loopback port.
//!
//! Three set-ups: anonymous over plain HTTP, Basic auth (bcrypt htpasswd) over TLS with a test CA
//! made at start, and token auth against a [`TokenServer`]. Each registry has its own storage,
//! config and log in a temp dir.
//!
//! What must stay true:
//! - The registry process never outlives the test process: it is killed on drop, and it gets
//!   `PR_SET_PDEATHSIG = SIGKILL` for registries held in statics (never dropped). That signal
//!   fires when the *thread* that forked the child ends, and test threads end after each test,
//!   so every registry is forked by one spawner thread that lives as long as the process.
//! - The log shows every HTTP request (access log at level info), one line each, written before
//!   the client has read the response to its end, so [`Registry::requests`] right after a `wasm`
//!   command sees all of that command's requests.
//! - Shared registries keep their files under `$CARGO_TARGET_TMPDIR/wasm-e2e/PID/`; directories
//!   of processes that are gone are removed when the next test process first starts one.

use std::fs;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::http::{self, HttpResponse};
use super::token_server::TokenServer;
use super::{require_tool, write_file};

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

/// How long [`Registry`] start-up may take before the test fails with the registry's log.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running distribution registry; killed when dropped.
pub struct Registry {
    /// `127.0.0.1:PORT`, as it appears in references (`{host}/repo:tag`).
    pub host: String,
    /// `"http"` or `"https"`.
    pub scheme: &'static str,
    /// The test CA that signed the server certificate (PEM file), for TLS registries.
    pub ca_pem: Option<PathBuf>,
    /// The storage root (`docker/registry/v2/...` lies below it).
    pub root: PathBuf,
    /// The temp dir with config, log, storage; `None` for shared registries (kept until the
    /// next test process cleans up).
    _dir: Option<tempfile::TempDir>,
    dir_path: PathBuf,
    log_path: PathBuf,
    child: Child,
}

/// One request in a registry's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`.
    pub method: String,
    /// The request target as sent: path and query (e.g. `/v2/r/blobs/uploads/?mount=...`).
    pub uri: String,
    /// The response status.
    pub status: u16,
    /// The `User-Agent` the client sent.
    pub user_agent: String,
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
        Registry::start(
            temp_dir(),
            Auth::Token {
                realm: server.realm(),
                cert: server.cert_pem_path().to_path_buf(),
            },
        )
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
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Every request in the access log so far, oldest first, except the harness's own (its
    /// readiness probes and [`Registry::request`] calls): what `wasm` and other clients sent.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        let mut requests = self.all_requests();
        requests.retain(|r| r.user_agent != http::HARNESS_USER_AGENT);
        requests
    }

    /// Every request in the access log so far, oldest first, the harness's own included.
    pub fn all_requests(&self) -> Vec<LoggedRequest> {
        self.log().lines().filter_map(parse_access_line).collect()
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
        self.child.id()
    }

    /// The temp dir holding `config.yml`, `registry.log` and the storage.
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    fn start(dir: Dir, auth: Auth) -> Registry {
        let binary = require_tool("docker-registry", "docker-registry");
        let dir_path = dir.path().to_path_buf();
        let root = dir_path.join("storage");
        let log_path = dir_path.join("registry.log");
        let (auth_yaml, tls_yaml, ca_pem) = auth.write_files(&dir_path);
        let scheme = if tls_yaml.is_empty() { "http" } else { "https" };

        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let host = format!("127.0.0.1:{port}");
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {host}\n  secret: {secret}\n{tls_yaml}\
                 {auth_yaml}",
                root = root.display(),
                secret = super::random_hex(16),
            );
            let config_path = dir_path.join("config.yml");
            write_file(&config_path, config.as_bytes());
            let log = fs::File::create(&log_path).expect("create registry log");
            let mut cmd = Command::new(&binary);
            cmd.arg("serve")
                .arg(&config_path)
                // Distribution reads any REGISTRY_* variable as a config override.
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log);
            let child = spawn_tied_to_process(cmd)
                .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
            let mut registry = Registry {
                host,
                scheme,
                ca_pem: ca_pem.clone(),
                root: root.clone(),
                _dir: None,
                dir_path: dir_path.clone(),
                log_path: log_path.clone(),
                child,
            };
            match registry.wait_ready() {
                Ok(()) => {
                    registry._dir = dir.into_temp_dir();
                    return registry;
                }
                Err(Exited) => {
                    last_log = registry.log();
                    if !last_log.contains("address already in use") {
                        break;
                    }
                    // Another process took the port between our probe and the registry's bind.
                }
            }
        }
        panic!("docker-registry failed to start; its log:\n{last_log}");
    }

    /// Polls `GET /v2/` (any status will do) with a short backoff.
    fn wait_ready(&mut self) -> Result<(), Exited> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(2);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(Exited);
            }
            // Only our own registry's log proves the port is ours: after a collision, another
            // server (maybe another test's registry) answers on it.
            let listening = format!("listening on {}", self.host);
            if self.log().contains(&listening)
                && TcpStream::connect(&self.host).is_ok()
                && self.probe()
            {
                return match self.child.try_wait() {
                    Ok(None) => Ok(()),
                    _ => Err(Exited),
                };
            }
            if started.elapsed() > READY_TIMEOUT {
                panic!(
                    "docker-registry on {} not ready after {READY_TIMEOUT:?}; its log:\n{}",
                    self.host,
                    self.log()
                );
            }
            thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    fn probe(&self) -> bool {
        if self.scheme == "https" {
            let url = format!("{}/v2/", self.url());
            http::send_curl(&url, self.ca_pem.as_deref(), "GET", &[], None).is_ok()
        } else {
            http::send(&self.host, "GET", "/v2/", &[], None).is_ok()
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

/// The child exited before it was ready.
struct Exited;

/// `Authorization` value for Basic auth.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Parses one line of the (gorilla combined-format) access log:
/// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"`.
fn parse_access_line(line: &str) -> Option<LoggedRequest> {
    if line.starts_with("time=") {
        return None;
    }
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once('"')?;
    let mut parts = request.split(' ');
    let method = parts.next()?.to_string();
    let uri = parts.next()?.to_string();
    let status = rest.split_whitespace().next()?.parse().ok()?;
    // The last quoted field is the user agent.
    let user_agent = rest
        .trim_end()
        .strip_suffix('"')?
        .rsplit_once('"')?
        .1
        .to_string();
    Some(LoggedRequest {
        method,
        uri,
        status,
        user_agent,
    })
}

enum Auth {
    None,
    BasicTls(Vec<(String, String)>),
    Token { realm: String, cert: PathBuf },
}

impl Auth {
    /// Writes htpasswd / certificates into `dir`; returns the `auth:` and `tls:` YAML and the
    /// CA path.
    fn write_files(&self, dir: &Path) -> (String, String, Option<PathBuf>) {
        match self {
            Auth::None => (String::new(), String::new(), None),
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
                let cert = dir.join("server-cert.pem");
                let key = dir.join("server-key.pem");
                write_file(&cert, cert_pem.as_bytes());
                write_file(&key, key_pem.as_bytes());
                let ca_path = dir.join("ca.pem");
                write_file(&ca_path, ca.cert_pem.as_bytes());
                let auth = format!(
                    "auth:\n  htpasswd:\n    realm: wasm-e2e\n    path: {}\n",
                    htpasswd.display()
                );
                let tls = format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                );
                (auth, tls, Some(ca_path))
            }
            Auth::Token { realm, cert } => {
                let auth = format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    \
                     rootcertbundle: {}\n",
                    TokenServer::SERVICE,
                    TokenServer::ISSUER,
                    cert.display()
                );
                (auth, String::new(), None)
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
            Auth::Token {
                realm: server.realm(),
                cert: server.cert_pem_path().to_path_buf(),
            },
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

/// A port that was free a moment ago (bind `127.0.0.1:0`, read it, close).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` so that it gets SIGKILL when the test process ends, however it ends.
///
/// The fork happens on one long-lived thread, because `PR_SET_PDEATHSIG` fires when the forking
/// *thread* exits (see the module docs).
pub(crate) fn spawn_tied_to_process(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("e2e-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    drop(reply.send(cmd.spawn()));
                }
            })
            .expect("start spawner thread");
        tx
    });
    die_with_parent(&mut cmd);
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("spawner thread gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread gone"))?
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // system calls (prctl, getppid); it allocates nothing.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl: then nobody would kill us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
