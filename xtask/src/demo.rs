//! `cargo xtask demo`: the README's first command. A round trip of `examples/hello.wasm`
//! through a local registry with the release `wasm` binary, each command shown as it runs.
//!
//! What must stay true: the demo never reads or writes the user's own configuration or
//! credentials. Every `wasm` command runs with `HOME`, the XDG directories and `DOCKER_CONFIG`
//! in a temporary [`Sandbox`], and without the user's `WASM_*` and `REGISTRY_AUTH_FILE` variables.
//! The registry is plain HTTP on 127.0.0.1, so this also assumes `wasm` talks plain HTTP to a
//! loopback registry without being told.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use sha2::{Digest as _, Sha256};

use wasm_testkit::LocalRegistry;

use crate::sandbox::Sandbox;
use crate::{cmd, deps, interrupt, registry};

/// The component the demo pushes, relative to the workspace root.
const EXAMPLE: &str = "examples/hello.wasm";

/// How many lines of the registry's log to show when a `wasm` command fails.
const LOG_LINES: usize = 20;

/// Runs the demo.
///
/// # Errors
///
/// When a step fails; the error names it.
pub(crate) fn run() -> Result<()> {
    interrupt::install()?;
    let root = cmd::workspace_root();
    let example = root.join(EXAMPLE);
    if !example.is_file() {
        bail!(
            "{} is missing: the demo pushes that component, so it must be in the repository",
            example.display()
        );
    }

    step("build")?;
    let wasm = cmd::build_release_wasm(&cmd::target_dir()?).context("demo step `build` failed")?;
    println!("using {}", wasm.display());
    step("deps")?;
    deps::ensure(&[deps::DOCKER_REGISTRY])?;
    step("registry")?;
    let registry = registry::start()?;
    let addr = registry.addr();
    println!("registry: http://{addr}");

    let sandbox = Sandbox::temporary("wasm-demo-")?;
    let demo = Demo {
        wasm: &wasm,
        sandbox: &sandbox,
        registry: &registry,
    };
    let reference = format!("{addr}/demo/hello:1.0.0");
    let pulled = sandbox.dir().join("hello.wasm");
    demo.wasm("push", &[&"push", &reference, &EXAMPLE])?;
    demo.wasm("pull", &[&"pull", &reference, &"-o", &pulled])?;
    step("compare")?;
    compare(&example, &pulled).context("demo step `compare` failed")?;
    demo.wasm("inspect", &[&"inspect", &reference])?;
    demo.wasm("tags", &[&"tags", &format!("{addr}/demo/hello")])?;
    demo.wasm("self config", &[&"self", &"config"])?;

    println!("==> done: stopping the registry");
    drop(registry);
    Ok(())
}

/// What the `wasm` steps share.
struct Demo<'a> {
    wasm: &'a Path,
    sandbox: &'a Sandbox,
    registry: &'a LocalRegistry,
}

impl Demo<'_> {
    /// Runs `wasm ARGS` in the sandbox as the step `name`; on failure shows the registry's log.
    fn wasm(&self, name: &str, args: &[&dyn AsRef<OsStr>]) -> Result<()> {
        step(name)?;
        let mut command = self.sandbox.command(self.wasm);
        // From the workspace root, so that the commands shown name `examples/hello.wasm`.
        command.current_dir(cmd::workspace_root());
        command.args(args.iter().map(|arg| arg.as_ref()));
        cmd::run(&mut command).map_err(|err| {
            // After Ctrl-C the failure is ours, not the registry's: its log would be noise.
            if interrupt::requested() {
                return err.context(format!("demo step `{name}` interrupted"));
            }
            if let Some(tail) = self.registry.log_tail(LOG_LINES) {
                eprintln!("registry log (last {LOG_LINES} lines):\n{tail}");
            }
            err.context(format!("demo step `{name}` failed"))
        })
    }
}

/// Announces a step, or stops the demo if Ctrl-C came in between.
fn step(name: &str) -> Result<()> {
    if interrupt::requested() {
        bail!("interrupted before step `{name}`");
    }
    println!("==> {name}");
    Ok(())
}

/// Checks that the pulled file is the pushed one, byte for byte, and says so.
fn compare(pushed: &Path, pulled: &Path) -> Result<()> {
    let original =
        fs::read(pushed).with_context(|| format!("could not read {}", pushed.display()))?;
    let copy = fs::read(pulled).with_context(|| format!("could not read {}", pulled.display()))?;
    let (original_digest, copy_digest) = (sha256(&original), sha256(&copy));
    if original != copy {
        bail!(
            "the pulled file differs from {EXAMPLE}: {} bytes, sha256:{copy_digest} \
             instead of {} bytes, sha256:{original_digest}",
            copy.len(),
            original.len()
        );
    }
    println!(
        "identical: {} bytes, sha256:{original_digest}",
        original.len()
    );
    Ok(())
}

/// Lowercase hex SHA-256.
fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn compare_names_both_digests_on_a_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"one").unwrap();
        fs::write(&b, b"one").unwrap();
        compare(&a, &b).unwrap();
        fs::write(&b, b"two!").unwrap();
        let err = compare(&a, &b).unwrap_err().to_string();
        assert!(err.contains("4 bytes") && err.contains("3 bytes"), "{err}");
    }
}
