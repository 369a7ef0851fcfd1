//! The system tools that the end-to-end tests and the demo run, and the Debian packages that
//! bring them.
//!
//! A fresh CI machine has none of them, so `cargo xtask ci` installs what is missing before the
//! tests run (CI runs as root). Anyone else gets told the exact command instead: this never asks
//! for a password. Each package is checked by a file it installs, so a machine that already has
//! everything costs a few `stat`s and no `apt-get` at all.

use std::env;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::cmd;

/// A Debian package and the program that shows it is installed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Package {
    /// The Debian package name.
    name: &'static str,
    /// An absolute path the package installs, or a program name looked up on `PATH`.
    program: &'static str,
}

/// CNCF distribution: the registry the tests and the demo push to.
pub(crate) const DOCKER_REGISTRY: Package = Package {
    name: "docker-registry",
    program: "/usr/bin/docker-registry",
};

/// Everything the workspace's tests need.
pub(crate) const ALL: &[Package] = &[
    DOCKER_REGISTRY,
    // `docker-credential-pass`: a real credential helper for the credential-store tests.
    Package {
        name: "golang-docker-credential-helpers",
        program: "/usr/bin/docker-credential-pass",
    },
    // The password store behind `docker-credential-pass`.
    Package {
        name: "pass",
        program: "/usr/bin/pass",
    },
    // `pass` encrypts with gpg; tests make a throwaway key.
    Package {
        name: "gnupg",
        program: "gpg",
    },
    Package {
        name: "curl",
        program: "curl",
    },
    Package {
        name: "openssl",
        program: "openssl",
    },
    // GNU time: peak memory of a `wasm` process measured from outside (memory-bound tests).
    Package {
        name: "time",
        program: "/usr/bin/time",
    },
    // skopeo: `wasm copy`'s image layouts are checked against what skopeo reads and writes.
    Package {
        name: "skopeo",
        program: "/usr/bin/skopeo",
    },
];

impl Package {
    /// Whether the package's program is there.
    fn is_installed(&self) -> bool {
        if self.program.contains('/') {
            return Path::new(self.program).is_file();
        }
        env::var_os("PATH")
            .is_some_and(|path| env::split_paths(&path).any(|dir| dir.join(self.program).is_file()))
    }
}

/// Installs whichever of `packages` are missing.
///
/// As root: `apt-get update` once, then one `apt-get install` for all of them. Otherwise: an
/// error that names the packages and the command to run.
///
/// # Errors
///
/// When something is missing and cannot be installed, or is still missing afterwards.
pub(crate) fn ensure(packages: &[Package]) -> Result<()> {
    let absent = missing(packages);
    if absent.is_empty() {
        let names: Vec<_> = packages.iter().map(|package| package.name).collect();
        println!("all present: {}", names.join(", "));
        return Ok(());
    }
    let names = absent
        .iter()
        .map(|package| package.name)
        .collect::<Vec<_>>();
    let names = names.join(" ");
    if !is_root() {
        bail!(
            "missing Debian packages: {names}\n\
             install them with: sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends {names}"
        );
    }
    println!("missing: {names}");
    cmd::run(apt_get().arg("update")).context("could not update the package lists")?;
    cmd::run(
        apt_get()
            .args(["install", "-y", "--no-install-recommends"])
            .args(absent.iter().map(|package| package.name)),
    )
    .with_context(|| format!("could not install {names}"))?;
    let still_missing = missing(&absent);
    if !still_missing.is_empty() {
        let list = still_missing
            .iter()
            .map(|package| format!("{} (no {})", package.name, package.program))
            .collect::<Vec<_>>();
        bail!("still missing after apt-get install: {}", list.join(", "));
    }
    println!("installed: {names}");
    Ok(())
}

/// The packages whose program is not there.
fn missing(packages: &[Package]) -> Vec<Package> {
    packages
        .iter()
        .filter(|package| !package.is_installed())
        .copied()
        .collect()
}

/// `apt-get` set up for a run without a terminal or standard input.
fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    // A mirror hiccup should not fail a CI run.
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .args(["-o", "Acquire::Retries=3"]);
    cmd
}

/// Whether this process runs as root, by `id -u`; if that fails, assume not.
fn is_root() -> bool {
    cmd::output(Command::new("id").arg("-u")).is_ok_and(|uid| uid == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_paths_and_programs() {
        let present = Package {
            name: "x",
            program: "sh",
        };
        let absent = Package {
            name: "y",
            program: "/nonexistent/xtask-test-program",
        };
        assert!(present.is_installed());
        assert!(!absent.is_installed());
        let missing = missing(&[present, absent]);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].name, "y");
    }
}
