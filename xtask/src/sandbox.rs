//! A throwaway home for the commands that the demo and the benchmark run (`wasm`, and the
//! benchmark's peers `wkg` and `oras`), removed when dropped.
//!
//! What must stay true: nothing run in a sandbox reads or writes the developer's own
//! configuration, credentials or cache. `HOME`, the XDG base directories, `XDG_RUNTIME_DIR`
//! (where podman keeps credentials) and `DOCKER_CONFIG` point inside it, and the inherited
//! variables that would point a tool elsewhere are removed ([`is_user_setting`]).

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};

/// A directory with the homes below it, removed when dropped.
#[derive(Debug)]
pub(crate) struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    /// A sandbox in a new temporary directory named `PREFIX...`.
    ///
    /// # Errors
    ///
    /// When a directory cannot be created.
    pub(crate) fn temporary(prefix: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .context("could not create a sandbox directory")?
            // Removed by our `Drop`, like the sandboxes of `create`.
            .keep();
        Self::create(dir)
    }

    /// A sandbox at `dir` (created, with its homes).
    ///
    /// # Errors
    ///
    /// When a directory cannot be created.
    pub(crate) fn create(dir: PathBuf) -> Result<Self> {
        let sandbox = Self { dir };
        for (_, path) in sandbox.env() {
            fs::create_dir_all(&path)
                .with_context(|| format!("could not create {}", path.display()))?;
        }
        Ok(sandbox)
    }

    /// The sandbox's root.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The variables that point every configuration, cache and credential lookup inside.
    pub(crate) fn env(&self) -> [(&'static str, PathBuf); 7] {
        let dir = &self.dir;
        [
            ("HOME", dir.join("home")),
            ("XDG_CONFIG_HOME", dir.join("config")),
            ("XDG_CACHE_HOME", dir.join("cache")),
            ("XDG_DATA_HOME", dir.join("data")),
            ("XDG_STATE_HOME", dir.join("state")),
            ("XDG_RUNTIME_DIR", dir.join("run")),
            ("DOCKER_CONFIG", dir.join("docker")),
        ]
    }

    /// `program` set to run inside, the sandbox its working directory, without the inherited
    /// variables that would point it elsewhere.
    pub(crate) fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.current_dir(&self.dir);
        for (key, _) in env::vars_os() {
            if is_user_setting(&key) {
                command.env_remove(&key);
            }
        }
        command.envs(self.env());
        command
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Whether an inherited variable could point a sandboxed tool at the user's own configuration
/// or change what it prints: `WASM_*` (`wasm`'s own), `WKG_*`, `REGISTRY_AUTH_FILE` (podman's
/// credentials), `RUST_LOG` (the peers' logging).
fn is_user_setting(key: &OsStr) -> bool {
    let key = key.to_string_lossy();
    key.starts_with("WASM_")
        || key.starts_with("WKG_")
        || key == "REGISTRY_AUTH_FILE"
        || key == "RUST_LOG"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_hides_the_users_settings() {
        assert!(is_user_setting(OsStr::new("WASM_CONFIG")));
        assert!(is_user_setting(OsStr::new("WKG_CONFIG_FILE")));
        assert!(is_user_setting(OsStr::new("REGISTRY_AUTH_FILE")));
        assert!(!is_user_setting(OsStr::new("PATH")));
        let sandbox = Sandbox::temporary("xtask-test-").unwrap();
        let command = sandbox.command(Path::new("wasm"));
        let home = command
            .get_envs()
            .find(|(key, _)| *key == "HOME")
            .and_then(|(_, value)| value);
        assert_eq!(home, Some(sandbox.dir().join("home").as_os_str()));
        assert_eq!(command.get_current_dir(), Some(sandbox.dir()));
        let dir = sandbox.dir().to_path_buf();
        assert!(dir.join("docker").is_dir());
        drop(sandbox);
        assert!(!dir.exists(), "the sandbox outlived its handle");
    }
}
