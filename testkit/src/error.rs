//! Why a registry could not start.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why a registry could not start. The messages that are about the registry itself end with the
/// last lines of its log, when it went to a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// `docker-registry` is not on `PATH`, nor in `/usr/bin` or `/usr/sbin`.
    #[error(
        "`docker-registry` is not installed: it comes with the Debian package `docker-registry` \
         (`apt-get install -y docker-registry`; `cargo xtask deps` installs it)"
    )]
    NotInstalled,
    /// The port asked for is taken.
    #[error("cannot listen on {addr}")]
    PortTaken {
        /// The address asked for.
        addr: SocketAddr,
        /// What binding it said.
        #[source]
        source: io::Error,
    },
    /// A file or directory could not be prepared.
    #[error("could not {action} {}", path.display())]
    File {
        /// What was tried: `create`, `write`, `resolve`.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// A path that goes into the configuration is not valid UTF-8.
    #[error("a path for the registry's configuration is not valid UTF-8: {}", path.display())]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// The process could not be started.
    #[error("could not start `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The process could not be checked on.
    #[error("could not check on docker-registry")]
    Wait(#[source] io::Error),
    /// The process exited before it served.
    #[error("docker-registry exited before answering on {addr} ({status}){log}")]
    Exited {
        /// Where it was to listen.
        addr: SocketAddr,
        /// How it ended.
        status: ExitStatus,
        /// The end of its log, as lines to append (empty when the log is not in a file).
        log: String,
    },
    /// It did not serve within the time limit.
    #[error(
        "docker-registry did not answer GET http://{addr}/v2/ within {} s: {last}{log}",
        timeout.as_secs()
    )]
    NotReady {
        /// Where it was to listen.
        addr: SocketAddr,
        /// How long it was given.
        timeout: Duration,
        /// What the last attempt found.
        last: String,
        /// The end of its log, as lines to append (empty when the log is not in a file).
        log: String,
    },
    /// [`crate::Launcher::with_cancel`]'s function said stop.
    #[error("interrupted while the registry was starting")]
    Cancelled,
}
