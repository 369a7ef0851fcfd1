//! A real OCI registry on loopback for the `wasm` workspace's end-to-end tests (`tests/`) and
//! its developer automation (`cargo xtask demo|registry|bench`): CNCF distribution 2.8.2, the
//! Debian package `docker-registry`, started on a free port by a [`Launcher`] and killed when its
//! [`LocalRegistry`] handle drops.
//!
//! What must stay true (docs/testing.md has the distribution facts this relies on):
//! - a [`LocalRegistry`] that exists is serving: [`Launcher::start`] waits until the registry's
//!   own log says it listens on the port and `GET /v2/` gets the answer that registry gives;
//! - the process never outlives its handle, nor the process that started it (even when the handle
//!   sits in a static and is never dropped): see [`spawn_tied_to_process`];
//! - the registry reads nothing from the caller's environment, only the configuration written at
//!   every start, and logs every request (access log), one line each, for [`LoggedRequest`];
//! - errors show the end of the registry's log.
//!
//! [`TokenServer`] is the token server (Docker's token auth, as GHCR and Docker Hub use) that
//! token-auth registries trust.
//!
//! [`LatencyProxy`] puts a round trip of distance between a client and a local server, for the
//! benchmark's latency mode.
//!
//! It is not a product crate: `publish = false`, and nothing in `crates/` depends on it.

mod access_log;
mod config;
mod error;
mod http_server;
mod latency;
mod probe;
mod process;
mod registry;
pub mod token_server;

pub use access_log::LoggedRequest;
pub use config::{Auth, Tls};
pub use error::RegistryError;
pub use latency::LatencyProxy;
pub use probe::PROBE_USER_AGENT;
pub use process::{find_program, random_hex, spawn_tied_to_process};
pub use registry::{Launcher, LocalRegistry, Log};
pub use token_server::{AclRule, TokenRequest, TokenServer};
