//! Support for the end-to-end tests: real servers and a sealed environment for the `wasm` binary.
//!
//! The tests run the real `wasm` binary against real servers on loopback, never against mocks of
//! the protocol:
//!
//! - [`registry`]: a CNCF distribution registry (`docker-registry`) on a free port, anonymous,
//!   with Basic auth over TLS, or with token auth; shared instances for tests that can share.
//! - [`token_server`]: a Docker token server (JWT access tokens, OAuth2 refresh tokens) for the
//!   token-auth registry; it lives in the testkit crate, so that the benchmark uses it too.
//! - [`pass`]: a real `docker-credential-pass` store with a throwaway gpg key.
//! - [`component`]: small, real WebAssembly components and things that are not.
//! - [`fault_proxy`]: a fault injector, a proxy in front of a registry that drops, stalls or
//!   refuses chosen requests.
//! - [`hostile`]: a deliberately misbehaving registry serving broken artifacts.
//! - [`Sandbox`] (here): a temporary HOME for one test, and [`WasmCommand`] to run the binary in
//!   it with nothing from the caller's environment leaking in.
//!
//! What must stay true:
//! - Every process a test starts ends with the test process (registries die with it even when
//!   held in statics; see [`registry`]).
//! - Every secret the harness hands out is listed in [`CANARIES`] or can be got from the server
//!   that issued it, so [`assert_no_secrets`] can check any output for leaks.
//! - Shared servers are only safe because each test uses its own repository names: use
//!   [`unique_repo`].

// Not every test uses every helper.
#![allow(dead_code)]
// `tests/main.rs` declares `mod support;` privately, so nothing here is reachable from the
// crate root; `pub` still marks what the tests are meant to use.
#![allow(unreachable_pub)]

pub mod component;
pub mod discovery;
pub mod fault_proxy;
pub mod hostile;
pub mod http;
pub mod pass;
pub mod registry;
pub use wasm_testkit::token_server;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;

// Shorthands for what most tests need; not every test uses each.
#[allow(unused_imports)]
pub use pass::PassStore;
#[allow(unused_imports)]
pub use registry::{
    ALICE_PASSWORD, ALICE_USER, BOB_PASSWORD, BOB_USER, MANIFEST_ACCEPT, Registry, basic_auth,
    other_ca_pem, shared_anonymous, shared_basic_tls, shared_token,
};
#[allow(unused_imports)]
pub use token_server::{
    AclRule, CAROL_PASSWORD, CAROL_USER, DAVE_PASSWORD, DAVE_USER, TokenRequest, TokenServer,
};

/// The `wasm` binary under test.
///
/// Cargo sets `CARGO_BIN_EXE_wasm` for the integration tests of the package that owns the binary.
pub fn wasm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wasm"))
}

/// An IPv4 address of this machine that is not loopback (the address of its network
/// interface), for listeners that stand for "another host". Panics when the machine has none:
/// the tests that need one cannot run without it, and must not pass by skipping.
#[allow(unsafe_code)]
pub fn non_loopback_address() -> std::net::IpAddr {
    let mut found = None;
    // SAFETY: getifaddrs fills a linked list that is only read here and freed once.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        assert_eq!(libc::getifaddrs(&mut list), 0, "getifaddrs failed");
        let mut cur = list;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let v4 = &*(addr as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
                if !ip.is_loopback() && !ip.is_unspecified() && found.is_none() {
                    found = Some(ip);
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    std::net::IpAddr::V4(found.expect(
        "this machine has no non-loopback IPv4 address; the tests that stand a listener for \
         another host need one (a network interface with an address)",
    ))
}

/// A secret for tests that need one of their own (a 1Password item, a helper's answer, an
/// identity token written into a config file). Listed in [`CANARIES`].
pub const SPARE_SECRET: &str = "spare-canary-secret-2e9b";

/// A second such secret, for tests that need two that differ.
pub const SPARE_SECRET_2: &str = "spare-canary-secret-4a71";

/// Every fixed secret the harness uses. Secrets that token servers make up at run time (refresh
/// and access tokens) come from [`TokenServer::issued_secrets`] and
/// [`token_server::all_issued_secrets`].
pub const CANARIES: &[&str] = &[
    ALICE_PASSWORD,
    BOB_PASSWORD,
    CAROL_PASSWORD,
    DAVE_PASSWORD,
    SPARE_SECRET,
    SPARE_SECRET_2,
];

/// The fixed `(user, password)` pairs, to also look for their Basic-auth encoding.
const CANARY_LOGINS: &[(&str, &str)] = &[
    (ALICE_USER, ALICE_PASSWORD),
    (BOB_USER, BOB_PASSWORD),
    (CAROL_USER, CAROL_PASSWORD),
    (DAVE_USER, DAVE_PASSWORD),
];

/// Panics if `text` contains a secret: any of [`CANARIES`], any of `extra`, the Basic-auth
/// encoding (`base64(user:password)`) of the harness's logins, or any token that a
/// [`TokenServer`] of this process has issued. The panic message masks the secrets it found.
pub fn assert_no_secrets(text: &str, extra: &[&str]) {
    let mut secrets: Vec<String> = CANARIES
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    for (user, password) in CANARY_LOGINS {
        secrets.push(auth_field(user, password));
    }
    secrets.extend(token_server::all_issued_secrets());
    let leaked: Vec<&String> = secrets
        .iter()
        .filter(|s| !s.is_empty() && text.contains(s.as_str()))
        .collect();
    if leaked.is_empty() {
        return;
    }
    // The panic message is output too: show the text with each secret masked, named by its start.
    let mut masked = text.to_string();
    let mut hints = Vec::new();
    for secret in &leaked {
        let hint: String = secret.chars().take(6).collect();
        masked = masked.replace(secret.as_str(), &format!("[SECRET {hint}...]"));
        hints.push(hint);
    }
    panic!(
        "{} secret(s) leaked, starting with {hints:?}, into:\n{masked}",
        leaked.len()
    );
}

/// `sha256:HEX` of `bytes`: the digest a registry names a blob or manifest by.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The `auth` value of an entry of Docker's `config.json`: `base64(user:password)`, what Basic
/// auth sends after `Basic `.
pub fn auth_field(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// A Docker `config.json` with Basic credentials under `auths`, one `(key, user, password)` an
/// entry.
pub fn docker_auths(entries: &[(&str, &str, &str)]) -> String {
    let auths: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(key, user, password)| {
            let entry = serde_json::json!({ "auth": auth_field(user, password) });
            (key.to_string(), entry)
        })
        .collect();
    serde_json::json!({ "auths": auths }).to_string()
}

/// The section of a `wasm` config that makes `host` trusted through the CA certificate at `ca`.
pub fn ca_file_section(host: &str, ca: &Path) -> String {
    format!("[registries.\"{host}\"]\nca-file = \"{}\"\n", ca.display())
}

/// A repository name no other test in this process uses: `{prefix}-{counter}`.
///
/// `prefix` should name the test and be a valid repository path (lowercase, `/` allowed). Every
/// test process has fresh storage, so names need only be unique within one. The counter depends
/// on test order: a snapshot test should rather use a fixed name of its own (its function name).
pub fn unique_repo(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{n}")
}

/// Finds a tool the harness needs on PATH (or in `/usr/bin`, `/usr/sbin`), or panics naming the
/// Debian package that has it.
pub(crate) fn require_tool(name: &str, debian_package: &str) -> PathBuf {
    wasm_testkit::find_program(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: the end-to-end tests need the Debian package \
             `{debian_package}` (`apt-get install -y {debian_package}`); `cargo xtask ci` \
             installs everything they need"
        )
    })
}

/// Where [`Sandbox::write_podman_auth`] puts a podman `auth.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodmanLocation {
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, where podman writes.
    Runtime,
    /// `$XDG_CONFIG_HOME/containers/auth.json`, which podman also reads.
    XdgConfig,
    /// A file elsewhere in the sandbox named by `REGISTRY_AUTH_FILE`, which the sandbox then
    /// sets for every later [`Sandbox::wasm`] command.
    EnvFile,
}

/// A temporary HOME for one test.
///
/// Layout (all inside one temp dir, removed on drop):
/// `.config/` (XDG_CONFIG_HOME), `.cache/` (XDG_CACHE_HOME), `run/` (XDG_RUNTIME_DIR, mode
/// 0700), `.docker/` (DOCKER_CONFIG), `bin/` (first on PATH), `work/` (the current directory).
pub struct Sandbox {
    dir: tempfile::TempDir,
    /// Variables that every later [`Sandbox::wasm`] command gets (see [`Sandbox::set_env`]).
    env: Mutex<Vec<(String, String)>>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// Creates the sandbox and its directories.
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("wasm-e2e-")
            .tempdir()
            .expect("create sandbox dir");
        let sandbox = Sandbox {
            dir,
            env: Mutex::new(Vec::new()),
        };
        for sub in [".config", ".cache", "run", ".docker", "bin", "work"] {
            fs::create_dir_all(sandbox.path(sub)).expect("create sandbox subdir");
        }
        set_mode(&sandbox.runtime_dir(), 0o700);
        sandbox
    }

    /// A sandbox whose user config trusts the test CA of `registry` (when it has one), followed
    /// by `extra`; without either, no config file.
    pub fn for_registry(registry: &Registry, extra: &str) -> Sandbox {
        let sandbox = Sandbox::new();
        let trust = registry
            .ca_pem
            .as_ref()
            .map(|ca| ca_file_section(&registry.host, ca))
            .unwrap_or_default();
        if !trust.is_empty() || !extra.is_empty() {
            sandbox.write_config(&format!("{trust}{extra}"));
        }
        sandbox
    }

    /// The sandbox root, which is also HOME.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the sandbox root.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root().join(rel)
    }

    /// HOME (the sandbox root).
    pub fn home(&self) -> PathBuf {
        self.root().to_path_buf()
    }

    /// XDG_CONFIG_HOME.
    pub fn config_home(&self) -> PathBuf {
        self.path(".config")
    }

    /// XDG_CACHE_HOME.
    pub fn cache_home(&self) -> PathBuf {
        self.path(".cache")
    }

    /// XDG_RUNTIME_DIR.
    pub fn runtime_dir(&self) -> PathBuf {
        self.path("run")
    }

    /// DOCKER_CONFIG.
    pub fn docker_config_dir(&self) -> PathBuf {
        self.path(".docker")
    }

    /// The directory put first on PATH (see [`Sandbox::add_script`]).
    pub fn bin_dir(&self) -> PathBuf {
        self.path("bin")
    }

    /// The current directory of [`Sandbox::wasm`] commands.
    pub fn work_dir(&self) -> PathBuf {
        self.path("work")
    }

    /// Sets a variable for every later [`Sandbox::wasm`] command (replacing an earlier value).
    pub fn set_env(&self, key: &str, value: impl AsRef<std::ffi::OsStr>) {
        let value = value.as_ref().to_string_lossy().into_owned();
        let mut env = self.env.lock().unwrap();
        env.retain(|(k, _)| k != key);
        env.push((key.to_string(), value));
    }

    /// Makes every later [`Sandbox::wasm`] command (and the `docker-credential-pass` it runs)
    /// use `store`.
    pub fn use_pass_store(&self, store: &pass::PassStore) {
        for (key, value) in store.env() {
            self.set_env(&key, value);
        }
    }

    /// A command running the `wasm` binary in this sandbox.
    ///
    /// The environment is cleared, then holds only PATH (`bin/` first, then the test process's
    /// PATH), HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME, XDG_RUNTIME_DIR, DOCKER_CONFIG, LANG=C and
    /// what [`Sandbox::set_env`] added. REGISTRY_AUTH_FILE, WASM_CONFIG, SSL_CERT_FILE and the
    /// proxy variables are therefore unset unless a test sets them. Standard input is empty
    /// unless [`WasmCommand::stdin`] gives some, so a prompt cannot hang a test.
    pub fn wasm(&self) -> WasmCommand {
        let mut cmd = Command::new(wasm_bin());
        cmd.env_clear();
        let mut path = vec![self.bin_dir()];
        if let Some(real) = std::env::var_os("PATH") {
            path.extend(std::env::split_paths(&real));
        }
        cmd.env(
            "PATH",
            std::env::join_paths(path).expect("PATH entries without ':'"),
        )
        .env("HOME", self.home())
        .env("XDG_CONFIG_HOME", self.config_home())
        .env("XDG_CACHE_HOME", self.cache_home())
        .env("XDG_RUNTIME_DIR", self.runtime_dir())
        .env("DOCKER_CONFIG", self.docker_config_dir())
        .env("LANG", "C")
        .current_dir(self.work_dir());
        for (key, value) in self.env.lock().unwrap().iter() {
            cmd.env(key, value);
        }
        WasmCommand {
            cmd,
            stdin: None,
            timeout: Duration::from_secs(120),
        }
    }

    /// Runs `wasm push REFERENCE FILE` in this sandbox; panics, showing its output, unless it
    /// succeeds.
    #[track_caller]
    pub fn push_ok(&self, reference: &str, file: impl AsRef<std::ffi::OsStr>) -> Output {
        self.push_ok_with(reference, file, &[])
    }

    /// [`Sandbox::push_ok`] with extra flags (`--plain-http`, ...).
    #[track_caller]
    pub fn push_ok_with(
        &self,
        reference: &str,
        file: impl AsRef<std::ffi::OsStr>,
        flags: &[&str],
    ) -> Output {
        let out = self
            .wasm()
            .args(["push", reference])
            .args(flags)
            .arg(file)
            .run();
        out.assert_success();
        out
    }

    /// Runs `wasm pull REFERENCE -o OUTPUT` in this sandbox (a relative OUTPUT is below `work/`);
    /// panics, showing its output, unless it succeeds.
    #[track_caller]
    pub fn pull_ok(&self, reference: &str, output: impl AsRef<std::ffi::OsStr>) -> Output {
        let out = self
            .wasm()
            .args(["pull", reference, "-o"])
            .arg(output)
            .run();
        out.assert_success();
        out
    }

    /// Pushes the sample component ([`component::hello_wasm`]) to `reference` and pulls it back
    /// to `work/back.wasm`, both at `-vvv`; panics unless both succeed and neither output holds a
    /// secret ([`assert_no_secrets`], with `extra`). Returns the push's and the pull's output.
    #[track_caller]
    pub fn round_trip_vvv(&self, reference: &str, extra: &[&str]) -> (Output, Output) {
        let push = self
            .wasm()
            .args(["push", reference, "-vvv"])
            .arg(component::hello_wasm())
            .run();
        push.assert_success();
        let pull = self
            .wasm()
            .args(["pull", reference, "-o", "back.wasm", "-vvv"])
            .run();
        pull.assert_success();
        for out in [&push, &pull] {
            assert_no_secrets(&out.stdout, extra);
            assert_no_secrets(&out.stderr, extra);
        }
        (push, pull)
    }

    /// Writes the user config (`$XDG_CONFIG_HOME/wasm/config.toml`, mode 0600).
    pub fn write_config(&self, toml: &str) -> PathBuf {
        let path = self.config_home().join("wasm/config.toml");
        write_file(&path, toml.as_bytes());
        set_mode(&path, 0o600);
        path
    }

    /// Writes the project config (`work/.config/wasm/config.toml`).
    pub fn write_project_config(&self, toml: &str) -> PathBuf {
        let path = self.work_dir().join(".config/wasm/config.toml");
        write_file(&path, toml.as_bytes());
        path
    }

    /// Writes `$DOCKER_CONFIG/config.json`.
    pub fn write_docker_config(&self, json: &str) -> PathBuf {
        let path = self.docker_config_dir().join("config.json");
        write_file(&path, json.as_bytes());
        path
    }

    /// Writes a podman `auth.json` at `location`; for [`PodmanLocation::EnvFile`] also sets
    /// REGISTRY_AUTH_FILE for later commands.
    pub fn write_podman_auth(&self, json: &str, location: PodmanLocation) -> PathBuf {
        let path = match location {
            PodmanLocation::Runtime => self.runtime_dir().join("containers/auth.json"),
            PodmanLocation::XdgConfig => self.config_home().join("containers/auth.json"),
            PodmanLocation::EnvFile => self.path("podman/registry-auth.json"),
        };
        write_file(&path, json.as_bytes());
        if location == PodmanLocation::EnvFile {
            self.set_env("REGISTRY_AUTH_FILE", &path);
        }
        path
    }

    /// Writes an executable `/bin/sh` script `bin/{name}` (found first on the command's PATH),
    /// e.g. a fake `op` or `docker-credential-NAME`. `body` is the script after the `#!` line.
    pub fn add_script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.bin_dir().join(name);
        write_file(&path, format!("#!/bin/sh\n{body}\n").as_bytes());
        set_mode(&path, 0o755);
        path
    }

    /// Writes a file at `rel` inside the sandbox root (creating directories), e.g.
    /// `work/app.wasm`.
    pub fn write_file(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        write_file(&path, contents.as_ref());
        path
    }

    /// Reads a file at `rel` inside the sandbox root.
    pub fn read_file(&self, rel: impl AsRef<Path>) -> Vec<u8> {
        let path = self.path(rel);
        fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }
}

/// A `wasm` command being built; see [`Sandbox::wasm`].
pub struct WasmCommand {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl WasmCommand {
    /// Runs the command in a network namespace of its own with no interface up (`unshare
    /// -rn`): every connection, even to loopback, is refused. Panics (naming the package)
    /// when `unshare` is missing.
    pub fn without_network(mut self) -> Self {
        let unshare = require_tool("unshare", "util-linux");
        self.cmd = wrapped(&self.cmd, unshare, &["-rn".as_ref()]);
        self
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable for this command only.
    pub fn env(
        mut self,
        key: impl AsRef<std::ffi::OsStr>,
        value: impl AsRef<std::ffi::OsStr>,
    ) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Sets several environment variables, e.g. [`pass::PassStore::env`].
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<std::ffi::OsStr>,
        V: AsRef<std::ffi::OsStr>,
    {
        self.cmd.envs(vars);
        self
    }

    /// Removes an environment variable (e.g. one the sandbox set).
    pub fn env_remove(mut self, key: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env_remove(key);
        self
    }

    /// Runs in `dir` instead of the sandbox's `work/`.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Feeds `bytes` to standard input (otherwise it is empty).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Kills the command and panics if it runs longer than `timeout` (default 120 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the command to its end and collects its output.
    pub fn run(mut self) -> Output {
        use std::os::unix::process::CommandExt as _;
        let program = self.cmd.get_program().to_owned();
        let cache = self
            .cmd
            .get_envs()
            .find(|(key, _)| *key == "XDG_CACHE_HOME")
            .and_then(|(_, value)| value.map(PathBuf::from));
        let mut child = self
            .cmd
            // Its own process group, so a timeout also kills what it started (a credential
            // helper holding our pipes open would otherwise keep the readers waiting).
            .process_group(0)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", Path::new(&program).display()));
        let writer = child.stdin.take().map(|mut stdin| {
            let bytes = self.stdin.take().unwrap_or_default();
            // The child may exit without reading everything: ignore EPIPE.
            thread::spawn(move || drop(stdin.write_all(&bytes)))
        });
        let stdout = read_in_thread(child.stdout.take().expect("piped stdout"));
        let stderr = read_in_thread(child.stderr.take().expect("piped stderr"));

        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for wasm") {
                break status;
            }
            if Instant::now() >= deadline {
                let group = format!("-{}", child.id());
                drop(Command::new("kill").args(["-KILL", "--", &group]).status());
                drop(child.kill());
                drop(child.wait());
                let stdout = stdout.join().unwrap_or_default();
                let stderr = stderr.join().unwrap_or_default();
                panic!(
                    "`wasm` did not finish within {:?}; killed it\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                    self.timeout
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        if let Some(writer) = writer {
            drop(writer.join());
        }
        let output = Output {
            status: exit_code(status),
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        };
        // Every run of every test: no secret of the harness in any output, nor in the cache.
        assert_no_secrets(&output.stdout, &[]);
        assert_no_secrets(&output.stderr, &[]);
        if let Some(cache) = cache {
            assert_no_secrets_in_dir(&cache.join("wasm"));
        }
        output
    }
}

/// Panics if a file below `dir` (small files only: blobs of components are skipped) contains a
/// secret of the harness; see [`assert_no_secrets`].
pub fn assert_no_secrets_in_dir(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => assert_no_secrets_in_dir(&path),
            Ok(t) if t.is_file() && entry.metadata().map_or(0, |m| m.len()) <= 1 << 20 => {
                let bytes = fs::read(&path).unwrap_or_default();
                assert_no_secrets(&String::from_utf8_lossy(&bytes), &[]);
            }
            _ => {}
        }
    }
}

fn read_in_thread(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        drop(pipe.read_to_end(&mut bytes));
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[cfg(unix)]
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// What a finished `wasm` command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit code; 128 + the signal number if a signal ended it.
    pub status: i32,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl Output {
    /// Panics, showing both streams, unless the command exited 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status == 0,
            "expected success, got exit status {}\n{}",
            self.status,
            self.dump()
        );
        self
    }

    /// Panics, showing both streams, if the command exited 0.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(
            self.status != 0,
            "expected failure, got exit status 0\n{}",
            self.dump()
        );
        self
    }

    /// Panics, showing both streams, unless the command exited with `code`.
    #[track_caller]
    pub fn assert_status(&self, code: i32) -> &Self {
        assert!(
            self.status == code,
            "expected exit status {code}, got {}\n{}",
            self.status,
            self.dump()
        );
        self
    }

    /// Panics, showing stderr, unless stderr contains `needle`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Both streams with placeholders for what changes between runs: see [`normalize`].
    pub fn normalized(&self, sandbox: &Sandbox) -> Output {
        Output {
            status: self.status,
            stdout: normalize(&self.stdout, sandbox),
            stderr: normalize(&self.stderr, sandbox),
        }
    }

    fn dump(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// Replaces what changes between runs with placeholders, for snapshot assertions:
/// the sandbox path with `[SANDBOX]`, `127.0.0.1:NNNNN` and `localhost:NNNNN` with
/// `127.0.0.1:[PORT]` and `localhost:[PORT]`, and `sha256:<64 hex digits>` with
/// `sha256:[DIGEST]`.
pub fn normalize(text: &str, sandbox: &Sandbox) -> String {
    let mut text = text.to_string();
    let root = sandbox.root();
    if let Ok(canonical) = root.canonicalize() {
        text = text.replace(&*canonical.to_string_lossy(), "[SANDBOX]");
    }
    text = text.replace(&*root.to_string_lossy(), "[SANDBOX]");
    for host in ["127.0.0.1:", "localhost:"] {
        text = replace_after(&text, host, |rest| {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            (digits > 0).then_some((digits, "[PORT]"))
        });
    }
    replace_after(&text, "sha256:", |rest| {
        let hex = rest
            .bytes()
            .take_while(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .count();
        (hex == 64).then_some((64, "[DIGEST]"))
    })
}

/// Rewrites what follows each `marker`: `f(rest)` returns how many bytes to replace and with what.
fn replace_after(
    text: &str,
    marker: &str,
    f: impl Fn(&str) -> Option<(usize, &'static str)>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let end = at + marker.len();
        out.push_str(&rest[..end]);
        rest = &rest[end..];
        if let Some((len, replacement)) = f(rest) {
            out.push_str(replacement);
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    out
}

/// Writes `contents` to `path`, creating parent directories; panics with the path on error.
pub(crate) fn write_file(path: &Path, contents: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[cfg(unix)]
pub(crate) fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// `n` random bytes as lowercase hex, from the kernel's CSPRNG.
pub(crate) fn random_hex(n: usize) -> String {
    wasm_testkit::random_hex(n).expect("read /dev/urandom")
}

/// Runs `cmd` to completion under GNU time and returns the peak resident set size of the
/// `wasm` process (KiB); panics unless it exits 0.
///
/// Measured by `/usr/bin/time` rather than `wait4` here: a child spawned from this (large) test
/// process inherits its resident-set high-water mark until `exec`, which would swamp the figure.
pub fn max_rss_kib(cmd: WasmCommand) -> u64 {
    let time = require_tool("/usr/bin/time", "time");
    let report = tempfile::NamedTempFile::new().expect("temp file");
    let output = wrapped(
        &cmd.cmd,
        time,
        &[
            "-f".as_ref(),
            "%M".as_ref(),
            "-o".as_ref(),
            report.path().as_os_str(),
        ],
    )
    .stdin(Stdio::null())
    .output()
    .expect("run wasm under /usr/bin/time");
    assert!(
        output.status.success(),
        "wasm failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = fs::read_to_string(report.path()).expect("read GNU time's report");
    text.trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected GNU time report: {text}"))
}

/// `cmd` run by `wrapper` with `args` before it (GNU time, unshare): the same program,
/// arguments, environment (only what `cmd` sets) and directory.
fn wrapped(cmd: &Command, wrapper: PathBuf, args: &[&std::ffi::OsStr]) -> Command {
    let mut wrapped = Command::new(wrapper);
    wrapped
        .args(args)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    wrapped.env_clear();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}
