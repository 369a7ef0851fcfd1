//! Starting one registry, waiting until it serves, reading its log, and stopping it.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::config::{self, Auth, Tls};
use crate::probe::{self, PROBE_USER_AGENT};
use crate::process::{find_program, random_hex, spawn_tied_to_process};
use crate::{LoggedRequest, RegistryError};

/// How long a starting registry may take to serve (it usually takes 0.1 s).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How many free ports to try when the one picked was taken before the registry bound it.
const PORT_ATTEMPTS: usize = 5;

/// How many lines of the log an error shows.
const LOG_LINES_IN_ERRORS: usize = 20;

/// Where a registry's output goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Log {
    /// To `registry.log` in the registry's directory: readable with [`LocalRegistry::log`] and
    /// [`LocalRegistry::requests_since`], and shown in errors.
    #[default]
    File,
    /// To this process's stdout and stderr, as the foreground `cargo xtask registry` shows it.
    /// Then nothing here can read it.
    Inherit,
}

/// How to start a [`LocalRegistry`]: a plain-HTTP anonymous registry on a free port in a new
/// temporary directory, logging to a file, unless a `with_*` method says otherwise.
#[derive(Debug, Clone)]
pub struct Launcher {
    port: u16,
    dir: Option<PathBuf>,
    log: Log,
    auth: Auth,
    tls: Option<Tls>,
    cancelled: fn() -> bool,
}

impl Default for Launcher {
    fn default() -> Self {
        Self {
            port: 0,
            dir: None,
            log: Log::File,
            auth: Auth::None,
            tls: None,
            cancelled: || false,
        }
    }
}

impl Launcher {
    /// The defaults: anonymous, plain HTTP, a free port, a temporary directory, a log file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Listens on `127.0.0.1:port`; 0 (the default) picks a free port, and picks again when
    /// another process takes it before the registry binds it.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Keeps the configuration, storage and log in `dir` (created if missing), which outlives
    /// the registry; by default they go to a temporary directory removed with it.
    pub fn with_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Sends the registry's output where `log` says.
    pub fn with_log(mut self, log: Log) -> Self {
        self.log = log;
        self
    }

    /// Authenticates clients as `auth` says.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Serves HTTPS only, with this certificate.
    pub fn with_tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Gives up starting, with [`RegistryError::Cancelled`], once `cancelled` returns true
    /// (checked while waiting for the registry, and before picking another port).
    pub fn with_cancel(mut self, cancelled: fn() -> bool) -> Self {
        self.cancelled = cancelled;
        self
    }

    /// Writes the configuration, starts `docker-registry` and waits until it serves: until its
    /// log says it listens on the port (when the log is a file) and `GET /v2/` answers as this
    /// registry must: 200 when anonymous, 401 with auth, 400 over TLS (a plain request to an
    /// HTTPS port).
    ///
    /// # Errors
    ///
    /// When `docker-registry` is not installed, the port asked for is taken, the directory cannot
    /// be prepared, or the registry exits or does not serve within 20 s (the error shows the end
    /// of its log); after [`Launcher::with_cancel`]'s function said stop.
    pub fn start(self) -> Result<LocalRegistry, RegistryError> {
        let program = find_program("docker-registry").ok_or(RegistryError::NotInstalled)?;
        let (mut temp, dir) = match &self.dir {
            Some(dir) => {
                fs::create_dir_all(dir).map_err(file_error("create", dir))?;
                let dir = std::path::absolute(dir).map_err(file_error("resolve", dir))?;
                (None, dir)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("wasm-registry-")
                    .tempdir()
                    .map_err(file_error("create", &std::env::temp_dir()))?;
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        if self.port != 0 {
            // Say "in use" plainly instead of leaving it to the registry's log.
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
            TcpListener::bind(addr).map_err(|source| RegistryError::PortTaken { addr, source })?;
        }
        let secret = random_hex(16).map_err(file_error("read", Path::new("/dev/urandom")))?;
        let mut attempt = 1;
        loop {
            let port = match self.port {
                0 => free_port()?,
                port => port,
            };
            match self.spawn(&program, temp, dir.clone(), port, &secret) {
                Ok(registry) => return Ok(registry),
                // A free port is free when picked, not necessarily when the registry binds it:
                // another process may take it in between. Then pick again.
                Err(failure)
                    if failure.port_taken
                        && self.port == 0
                        && attempt < PORT_ATTEMPTS
                        && !(self.cancelled)() =>
                {
                    temp = failure.temp;
                    attempt += 1;
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// Starts the process on `port` and waits until it serves; on failure, stops it and hands
    /// the temporary directory back.
    fn spawn(
        &self,
        program: &Path,
        temp: Option<TempDir>,
        dir: PathBuf,
        port: u16,
        secret: &str,
    ) -> Result<LocalRegistry, StartFailure> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let (child, log) = match self.launch(program, &dir, addr, secret) {
            Ok(started) => started,
            Err(error) => {
                return Err(StartFailure {
                    error,
                    port_taken: false,
                    temp,
                });
            }
        };
        let mut registry = LocalRegistry {
            child,
            addr,
            dir,
            log,
            temp,
        };
        match registry.wait_ready(self.expected_status(), self.cancelled) {
            Ok(()) => Ok(registry),
            Err(error) => {
                // Distribution exits at once, saying so, when the port is taken.
                let port_taken = matches!(error, RegistryError::Exited { .. })
                    && (registry.log.is_none()
                        || registry.log().contains("address already in use"));
                registry.stop();
                let temp = registry.temp.take();
                Err(StartFailure {
                    error,
                    port_taken,
                    temp,
                })
            }
        }
    }

    /// Writes the configuration into `dir` and starts the registry on it, its output going
    /// where [`Launcher::log`] says; returns the process and the log file, if any.
    fn launch(
        &self,
        program: &Path,
        dir: &Path,
        addr: SocketAddr,
        secret: &str,
    ) -> Result<(Child, Option<PathBuf>), RegistryError> {
        let config = dir.join("config.yml");
        let yaml = config::render(
            addr,
            &dir.join("storage"),
            secret,
            &self.auth,
            self.tls.as_ref(),
        )?;
        fs::write(&config, yaml).map_err(file_error("write", &config))?;
        let mut cmd = Command::new(program);
        cmd.arg("serve")
            .arg(&config)
            // Distribution reads any REGISTRY_* variable as an override of the file: nothing of
            // the caller's may move this registry to another port or storage.
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null());
        let log = match self.log {
            Log::Inherit => None,
            Log::File => {
                let path = dir.join("registry.log");
                let file = File::create(&path).map_err(file_error("create", &path))?;
                let copy = file.try_clone().map_err(file_error("create", &path))?;
                cmd.stdout(copy).stderr(file);
                Some(path)
            }
        };
        let child = spawn_tied_to_process(cmd).map_err(|source| RegistryError::Spawn {
            command: format!("{} serve {}", program.display(), config.display()),
            source,
        })?;
        Ok((child, log))
    }

    /// What `GET /v2/` answers once this registry serves (see [`Launcher::start`]).
    fn expected_status(&self) -> u16 {
        match (&self.tls, &self.auth) {
            (Some(_), _) => 400,
            (None, Auth::None) => 200,
            (None, _) => 401,
        }
    }
}

/// A start that failed, with the temporary directory handed back for another attempt.
struct StartFailure {
    error: RegistryError,
    /// Whether the process exited because the port was taken: the one failure another port
    /// cures.
    port_taken: bool,
    temp: Option<TempDir>,
}

/// A running `docker-registry` on 127.0.0.1, killed when dropped (and when this process ends,
/// however it ends: see [`spawn_tied_to_process`]).
#[derive(Debug)]
pub struct LocalRegistry {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    log: Option<PathBuf>,
    /// The directory when it is temporary. Fields drop after `Drop::drop` has stopped the
    /// process, so the directory never goes from under a running registry.
    temp: Option<TempDir>,
}

impl LocalRegistry {
    /// Where it listens: `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory holding `config.yml`, `storage/` and, when logging to a file,
    /// `registry.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.yml")
    }

    /// The storage root (`docker/registry/v2/...` lies below it).
    pub fn storage(&self) -> PathBuf {
        self.dir.join("storage")
    }

    /// Whether the directory is removed with the registry.
    pub fn is_temporary(&self) -> bool {
        self.temp.is_some()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far (its stdout and stderr: logrus lines and the access log); empty when it
    /// does not go to a file.
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|path| fs::read(path).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log, when it goes to a file.
    pub fn log_tail(&self, lines: usize) -> Option<String> {
        let text = fs::read(self.log.as_ref()?).ok()?;
        let text = String::from_utf8_lossy(&text);
        let all: Vec<&str> = text.lines().collect();
        Some(all[all.len().saturating_sub(lines)..].join("\n"))
    }

    /// Where the log ends now: a mark for [`LocalRegistry::requests_since`].
    pub fn log_len(&self) -> u64 {
        self.log
            .as_ref()
            .and_then(|path| fs::metadata(path).ok())
            .map_or(0, |meta| meta.len())
    }

    /// The requests in the access log after `mark` (0: all of them), oldest first, except the
    /// readiness probes of [`Launcher::start`].
    ///
    /// # Errors
    ///
    /// When the log cannot be read, or does not go to a file.
    pub fn requests_since(&self, mark: u64) -> io::Result<Vec<LoggedRequest>> {
        let path = self.log.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "the registry's log does not go to a file",
            )
        })?;
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(mark))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(LoggedRequest::parse)
            .filter(|request| request.user_agent != PROBE_USER_AGENT)
            .collect())
    }

    /// The exit status, if the process has exited.
    ///
    /// # Errors
    ///
    /// When its status cannot be read.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Polls until the registry serves (see [`Launcher::start`]), the process exits, or
    /// [`READY_TIMEOUT`] passes; backs off from 2 ms to 100 ms between attempts.
    fn wait_ready(&mut self, expected: u16, cancelled: fn() -> bool) -> Result<(), RegistryError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(2);
        loop {
            self.check_running()?;
            if cancelled() {
                return Err(RegistryError::Cancelled);
            }
            let last = match self.probe(expected) {
                // It may have served for a moment before exiting.
                Ok(()) => return self.check_running(),
                Err(why) => why,
            };
            if started.elapsed() >= READY_TIMEOUT {
                return Err(RegistryError::NotReady {
                    addr: self.addr,
                    timeout: READY_TIMEOUT,
                    last,
                    log: self.log_excerpt(),
                });
            }
            thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// `Ok` while the process runs.
    fn check_running(&mut self) -> Result<(), RegistryError> {
        match self.child.try_wait().map_err(RegistryError::Wait)? {
            None => Ok(()),
            Some(status) => Err(RegistryError::Exited {
                addr: self.addr,
                status,
                log: self.log_excerpt(),
            }),
        }
    }

    /// One readiness check; the error says what is missing.
    fn probe(&self, expected: u16) -> Result<(), String> {
        // Only our own registry's log proves the port is ours: after a collision, another
        // server (maybe another test's registry) answers on it.
        if self.log.is_some() {
            let listening = format!("listening on {}", self.addr);
            if !self.log().contains(&listening) {
                return Err(format!("its log does not say `{listening}` yet"));
            }
        }
        match probe::http_status(self.addr, "/v2/") {
            Ok(status) if status == expected => Ok(()),
            Ok(status) => Err(format!("it answered {status}, not {expected}")),
            Err(err) => Err(err.to_string()),
        }
    }

    /// Kills the process unless it has exited already, and reaps it.
    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Nothing to do about a failure: the process is gone or not ours to kill.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// The end of the log as an indented block to append to an error, or nothing.
    fn log_excerpt(&self) -> String {
        match (self.log_tail(LOG_LINES_IN_ERRORS), &self.log) {
            (Some(tail), Some(path)) if !tail.trim().is_empty() => {
                // A temporary log is gone by the time anyone reads the error: no path then.
                let mut excerpt = if self.is_temporary() {
                    String::from("\nlast lines of its log:")
                } else {
                    format!("\nlast lines of {}:", path.display())
                };
                for line in tail.lines() {
                    let _ = write!(excerpt, "\n    {line}");
                }
                excerpt
            }
            _ => String::new(),
        }
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port on 127.0.0.1 that is free right now.
fn free_port() -> Result<u16, RegistryError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    TcpListener::bind(addr)
        .and_then(|listener| listener.local_addr())
        .map(|local| local.port())
        .map_err(|source| RegistryError::PortTaken { addr, source })
}

/// Turns an I/O error about `path` into a [`RegistryError::File`].
fn file_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RegistryError {
    let path = path.to_path_buf();
    move |source| RegistryError::File {
        action,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs `docker-registry` (`cargo xtask deps`), as the end-to-end tests do.
    #[test]
    fn starts_answers_logs_and_stops() {
        let registry = Launcher::new().start().unwrap();
        let (addr, dir) = (registry.addr(), registry.dir().to_path_buf());
        assert_eq!(probe::http_status(addr, "/v2/").unwrap(), 200);
        assert!(registry.config_path().is_file());
        assert!(registry.is_temporary());
        // The probes of `start` are left out; a request of ours is in, with its user agent.
        let mark = registry.log_len();
        assert!(registry.requests_since(0).unwrap().is_empty());
        let status = Command::new("curl")
            .args(["-sSf", "-o", "/dev/null", "-A", "testkit-test"])
            .arg(format!("http://{addr}/v2/"))
            .status()
            .unwrap();
        assert!(status.success());
        let requests = registry.requests_since(mark).unwrap();
        assert_eq!(
            requests,
            [LoggedRequest {
                method: "GET".into(),
                uri: "/v2/".into(),
                status: 200,
                user_agent: "testkit-test".into(),
            }]
        );
        drop(registry);
        assert!(
            !dir.exists(),
            "the temporary directory outlived the registry"
        );
        assert!(
            probe::http_status(addr, "/v2/").is_err(),
            "the registry outlived its handle"
        );
    }

    #[test]
    fn a_given_dir_is_kept_and_a_taken_port_refused() {
        let kept = tempfile::tempdir().unwrap();
        let registry = Launcher::new()
            .with_dir(kept.path().join("r"))
            .start()
            .unwrap();
        assert!(!registry.is_temporary());
        let err = Launcher::new()
            .with_port(registry.addr().port())
            .start()
            .unwrap_err();
        assert!(
            err.to_string().starts_with("cannot listen on 127.0.0.1:"),
            "{err}"
        );
        drop(registry);
        assert!(kept.path().join("r/config.yml").is_file());
        assert!(kept.path().join("r/registry.log").is_file());
    }

    #[test]
    fn auth_registries_serve_401() {
        let dir = tempfile::tempdir().unwrap();
        // An empty htpasswd file: nobody gets in, which is all this test needs.
        let htpasswd = dir.path().join("htpasswd");
        fs::write(&htpasswd, "").unwrap();
        let registry = Launcher::new()
            .with_auth(Auth::Htpasswd {
                realm: "testkit".into(),
                path: htpasswd,
            })
            .start()
            .unwrap();
        assert_eq!(probe::http_status(registry.addr(), "/v2/").unwrap(), 401);
    }

    #[test]
    fn a_failed_start_shows_the_log() {
        let dir = tempfile::tempdir().unwrap();
        // A certificate that is not there: distribution logs why and exits.
        let err = Launcher::new()
            .with_dir(dir.path())
            .with_tls(Tls {
                certificate: dir.path().join("missing-cert.pem"),
                key: dir.path().join("missing-key.pem"),
            })
            .start()
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, RegistryError::Exited { .. }), "{message}");
        assert!(message.contains("last lines of "), "{message}");
        assert!(message.contains("missing-cert.pem"), "{message}");
    }

    #[test]
    fn cancelling_stops_the_start() {
        let err = Launcher::new().with_cancel(|| true).start().unwrap_err();
        assert!(matches!(err, RegistryError::Cancelled), "{err}");
    }
}
