//! A local CNCF distribution registry (Debian's `docker-registry`) on loopback, and the
//! `registry` command that serves one until Ctrl-C.
//!
//! What must stay true:
//! - plain HTTP on 127.0.0.1 only, no auth: it is for the demo, benchmarks and manual tries,
//!   never reachable from another host;
//! - the process never outlives its [`LocalRegistry`]: dropping the handle kills it, then
//!   removes its temporary directory (a `--dir` given by the user is kept);
//! - a [`LocalRegistry`] that exists answers `GET /v2/`: [`LocalRegistry::start`] waits for that.
//!
//! The configuration follows shared/NOTES.md: `version: 0.1`, filesystem storage, delete enabled,
//! `http.addr` and `http.secret`.

use std::env;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tempfile::TempDir;

use crate::{deps, interrupt};

/// How long a starting registry may take to answer `GET /v2/` (it usually takes 0.1 s).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How many free ports to try when the one picked was taken before the registry bound it.
const PORT_ATTEMPTS: usize = 3;

/// The `http.secret` of the configuration: it only signs upload state, on loopback.
const HTTP_SECRET: &str = "xtask-local-registry";

/// Where a registry's log goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Log {
    /// To our own stdout and stderr: for the foreground `registry` command.
    Inherit,
    /// To `registry.log` in the registry's directory, shown when something fails.
    File,
}

/// How to start a [`LocalRegistry`].
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The port on 127.0.0.1; `None` or `Some(0)` picks a free one.
    pub(crate) port: Option<u16>,
    /// Where the configuration, the storage and the log go, kept afterwards; `None` for a
    /// temporary directory removed with the registry.
    pub(crate) dir: Option<PathBuf>,
    /// Where the registry's own output goes.
    pub(crate) log: Log,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            port: None,
            dir: None,
            log: Log::File,
        }
    }
}

/// A running `docker-registry` on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub(crate) struct LocalRegistry {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    log: Option<PathBuf>,
    /// The directory when it is temporary. Fields drop after `Drop::drop` has stopped the
    /// process, so the directory never goes from under a running registry.
    temp: Option<TempDir>,
}

impl LocalRegistry {
    /// Starts a registry on a free port in a new temporary directory, logging to a file there,
    /// and waits until it answers.
    ///
    /// # Errors
    ///
    /// As [`LocalRegistry::start_with`].
    pub(crate) fn start() -> Result<Self> {
        Self::start_with(Options::default())
    }

    /// Starts a registry as `options` say and waits until it answers `GET /v2/`.
    ///
    /// # Errors
    ///
    /// When the directory cannot be prepared, the port is taken, `docker-registry` is not
    /// installed, or it exits or does not answer within 20 s; the error carries the end of its
    /// log when that went to a file.
    pub(crate) fn start_with(options: Options) -> Result<Self> {
        let (mut temp, dir) = match &options.dir {
            Some(dir) => {
                fs::create_dir_all(dir)
                    .with_context(|| format!("could not create {}", dir.display()))?;
                let dir = std::path::absolute(dir)
                    .with_context(|| format!("could not resolve {}", dir.display()))?;
                (None, dir)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("wasm-registry-")
                    .tempdir()
                    .context("could not create a temporary directory for the registry")?;
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        let fixed = options.port.filter(|&port| port != 0);
        if let Some(port) = fixed {
            // Say "in use" plainly instead of leaving it to the registry's log.
            TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
        }
        let mut attempt = 1;
        loop {
            let port = match fixed {
                Some(port) => port,
                None => free_port()?,
            };
            match Self::spawn(temp, dir.clone(), port, options.log) {
                Ok(registry) => return Ok(registry),
                // A free port is free when picked, not necessarily when the registry binds it:
                // another process may take it in between. Then pick again.
                Err(failure)
                    if failure.exited
                        && fixed.is_none()
                        && attempt < PORT_ATTEMPTS
                        && !interrupt::requested() =>
                {
                    temp = failure.temp;
                    attempt += 1;
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// Starts the process on `port` and waits until it answers; on failure, stops it and hands
    /// the temporary directory back.
    fn spawn(
        temp: Option<TempDir>,
        dir: PathBuf,
        port: u16,
        log: Log,
    ) -> Result<Self, StartFailure> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let (child, log_path) = match launch(&dir, addr, log) {
            Ok(started) => started,
            Err(error) => {
                return Err(StartFailure {
                    error,
                    exited: false,
                    temp,
                });
            }
        };
        let mut registry = Self {
            child,
            addr,
            dir,
            log: log_path,
            temp,
        };
        match registry.wait_ready() {
            Ok(()) => Ok(registry),
            Err(error) => {
                let exited = matches!(registry.child.try_wait(), Ok(Some(_)));
                registry.stop();
                let temp = registry.temp.take();
                Err(StartFailure {
                    error,
                    exited,
                    temp,
                })
            }
        }
    }

    /// Polls `GET /v2/` until it answers 200, the process exits, or [`READY_TIMEOUT`] passes.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "docker-registry exited before answering on {} ({status}){}",
                    self.addr,
                    self.log_excerpt()
                );
            }
            let last = match http_status(self.addr, "/v2/") {
                Ok(200) => return Ok(()),
                Ok(code) => format!("it answered {code}"),
                Err(err) => err.to_string(),
            };
            if interrupt::requested() {
                bail!("interrupted while the registry was starting");
            }
            if Instant::now() >= deadline {
                bail!(
                    "docker-registry did not answer GET http://{}/v2/ within {} s: {last}{}",
                    self.addr,
                    READY_TIMEOUT.as_secs(),
                    self.log_excerpt()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory holding `config.yml`, `storage/` and, when logging to a file, `registry.log`.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the directory is removed with the registry.
    pub(crate) fn is_temporary(&self) -> bool {
        self.temp.is_some()
    }

    /// The last `lines` lines of the registry's log, when it goes to a file.
    pub(crate) fn log_tail(&self, lines: usize) -> Option<String> {
        let text = fs::read(self.log.as_ref()?).ok()?;
        let text = String::from_utf8_lossy(&text);
        let all: Vec<&str> = text.lines().collect();
        Some(all[all.len().saturating_sub(lines)..].join("\n"))
    }

    /// The exit status, if the process has exited.
    ///
    /// # Errors
    ///
    /// When its status cannot be read.
    pub(crate) fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .context("could not check on docker-registry")
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
        match (self.log_tail(20), &self.log) {
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

/// A start that failed, with the temporary directory handed back for another attempt.
struct StartFailure {
    error: anyhow::Error,
    /// Whether the process exited by itself: the one failure that another port may cure.
    exited: bool,
    temp: Option<TempDir>,
}

/// `cargo xtask registry`: serves a registry in the foreground until Ctrl-C.
///
/// # Errors
///
/// When it cannot start, or exits by itself.
pub(crate) fn serve(port: Option<u16>, dir: Option<PathBuf>) -> Result<()> {
    interrupt::install()?;
    deps::ensure(&[deps::DOCKER_REGISTRY])?;
    let mut registry = LocalRegistry::start_with(Options {
        port,
        dir,
        log: Log::Inherit,
    })?;
    let host = registry.addr();
    let kept = if registry.is_temporary() {
        "removed on exit"
    } else {
        "kept"
    };
    println!("registry: http://{host} (plain HTTP, no auth)");
    println!(
        "storage:  {} ({kept})",
        registry.dir().join("storage").display()
    );
    println!("config:   {}", registry.dir().join("config.yml").display());
    println!("try:      wasm push {host}/demo/hello:1.0.0 examples/hello.wasm");
    println!("press Ctrl-C to stop");
    loop {
        if interrupt::requested() {
            break;
        }
        if let Some(status) = registry.try_wait()? {
            // It got the same Ctrl-C as we did, maybe before our handler ran.
            if interrupt::requested() {
                break;
            }
            bail!("docker-registry exited ({status})");
        }
        thread::sleep(Duration::from_millis(100));
    }
    println!("stopping the registry");
    drop(registry);
    Ok(())
}

/// Writes the configuration for `addr` into `dir` and starts `docker-registry` on it, its output
/// going where `log` says; returns the process and the log file, if any.
fn launch(dir: &Path, addr: SocketAddr, log: Log) -> Result<(Child, Option<PathBuf>)> {
    let config = dir.join("config.yml");
    let yaml = config_yaml(addr, &dir.join("storage"))?;
    fs::write(&config, yaml).with_context(|| format!("could not write {}", config.display()))?;
    let mut cmd = Command::new("docker-registry");
    cmd.arg("serve").arg(&config).stdin(Stdio::null());
    // Any REGISTRY_* variable overrides the file (NOTES.md): the user's must not move this
    // registry to another port or storage.
    for (key, _) in env::vars_os() {
        if key.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(key);
        }
    }
    let log_path = match log {
        Log::Inherit => None,
        Log::File => {
            let path = dir.join("registry.log");
            let file = File::create(&path)
                .with_context(|| format!("could not create {}", path.display()))?;
            cmd.stdout(file.try_clone()?).stderr(file);
            Some(path)
        }
    };
    let child = cmd.spawn().with_context(|| {
        format!(
            "could not start `docker-registry serve {}`: is the {} package installed? \
             (`cargo xtask deps` installs it)",
            config.display(),
            deps::DOCKER_REGISTRY.name(),
        )
    })?;
    Ok((child, log_path))
}

/// A port on 127.0.0.1 that is free right now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("could not find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// The status code of a plain HTTP/1.1 `GET path` to `addr`.
fn http_status(addr: SocketAddr, path: &str) -> io::Result<u16> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut buf = [0; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status(&head).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&head[..head.len().min(80)])
            ),
        )
    })
}

/// The status code from the start of an HTTP/1.x response: `HTTP/1.1 200 OK`.
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = words.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

/// The registry configuration: plain HTTP on `addr`, filesystem storage at `storage`.
fn config_yaml(addr: SocketAddr, storage: &Path) -> Result<String> {
    let storage = storage.to_str().with_context(|| {
        format!(
            "the registry's storage path is not valid UTF-8: {}",
            storage.display()
        )
    })?;
    Ok(format!(
        "# Written by `cargo xtask` (xtask/src/registry.rs); rewritten at every start.\n\
         version: 0.1\n\
         log:\n  level: info\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: {addr}\n  secret: {HTTP_SECRET}\n",
        yaml_string(storage)
    ))
}

/// `text` as a YAML double-quoted scalar, whatever characters it holds.
fn yaml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_follows_the_notes() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 5000));
        let yaml = config_yaml(addr, Path::new("/tmp/r/storage")).unwrap();
        assert_eq!(
            yaml,
            "# Written by `cargo xtask` (xtask/src/registry.rs); rewritten at every start.\n\
             version: 0.1\n\
             log:\n  level: info\n\
             storage:\n  filesystem:\n    rootdirectory: \"/tmp/r/storage\"\n\
             \x20 delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:5000\n  secret: xtask-local-registry\n"
        );
    }

    #[test]
    fn yaml_strings_escape_what_yaml_would_read_otherwise() {
        assert_eq!(yaml_string(r#"/a "b"\c: #d"#), r#""/a \"b\"\\c: #d""#);
        assert_eq!(yaml_string("tab\there"), r#""tab\u0009here""#);
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status(b"HTTP/1.1 200 OK\r\nContent-Length: 2"),
            Some(200)
        );
        assert_eq!(parse_status(b"HTTP/1.0 401 Unauthorized\r\n"), Some(401));
        assert_eq!(parse_status(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }

    #[test]
    fn a_closed_port_is_an_error() {
        let port = free_port().unwrap();
        assert!(http_status(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), "/v2/").is_err());
    }

    /// Needs `docker-registry` (`cargo xtask deps`), as the end-to-end tests do.
    #[test]
    fn starts_answers_and_stops() {
        let registry = LocalRegistry::start().unwrap();
        let (addr, dir) = (registry.addr(), registry.dir().to_path_buf());
        assert_eq!(http_status(addr, "/v2/").unwrap(), 200);
        assert!(dir.join("config.yml").is_file());
        drop(registry);
        assert!(
            !dir.exists(),
            "the temporary directory outlived the registry"
        );
        assert!(
            http_status(addr, "/v2/").is_err(),
            "the registry outlived its handle"
        );
    }

    #[test]
    fn a_given_dir_is_kept_and_a_taken_port_refused() {
        let kept = tempfile::tempdir().unwrap();
        let options = Options {
            dir: Some(kept.path().join("r")),
            ..Options::default()
        };
        let registry = LocalRegistry::start_with(options).unwrap();
        let taken = Options {
            port: Some(registry.addr().port()),
            ..Options::default()
        };
        let err = LocalRegistry::start_with(taken).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot listen on 127.0.0.1:"),
            "{err:#}"
        );
        drop(registry);
        assert!(kept.path().join("r/config.yml").is_file());
        assert!(kept.path().join("r/registry.log").is_file());
    }
}
