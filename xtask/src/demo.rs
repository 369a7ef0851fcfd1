//! `cargo xtask demo`: the README's first command. A round trip of `examples/hello.wasm`
//! through a local registry with the release `wasm` binary, each command shown as it runs; then
//! the package manager (docs/packages.md): two versions of a sample package published, and a
//! scratch project that runs `init`, `add`, shows its lock, installs again from the lock after
//! its file is removed, and installs a second time without a single request; and WIT packages
//! (docs/wit.md): a team interface published from its WIT text, fetched into a world's
//! `wit/deps` and locked, a second fetch without a single request.
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
    packages(&demo, &addr.to_string(), &example)?;

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
        self.wasm_in(cmd::workspace_root(), name, args)
    }

    /// [`Demo::wasm`] in the directory `dir`.
    fn wasm_in(&self, dir: &Path, name: &str, args: &[&dyn AsRef<OsStr>]) -> Result<()> {
        step(name)?;
        let mut command = self.sandbox.command(self.wasm);
        command.current_dir(dir);
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

/// The package manager part: publishes `demo:hello` 1.0.0 and 1.1.0 from a publisher project,
/// then in a scratch project runs `init` and `add`, shows the lock, removes the installed file
/// and installs it again from the lock, and installs once more, checking in the registry's
/// access log that this last install sent no request.
fn packages(demo: &Demo<'_>, addr: &str, example: &Path) -> Result<()> {
    let root = demo.sandbox.dir().join("packages");
    let publisher = root.join("hello");
    let app = root.join("app");
    for dir in [&publisher, &app] {
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    let hello =
        fs::read(example).with_context(|| format!("could not read {}", example.display()))?;
    for (version, bytes) in [
        ("1.0.0", hello.clone()),
        ("1.1.0", with_custom_section(&hello, b"1.1.0")),
    ] {
        fs::write(publisher.join("hello.wasm"), bytes).context("could not write hello.wasm")?;
        fs::write(
            publisher.join("wasm.toml"),
            format!(
                "[package]\nname = \"demo:hello\"\nversion = \"{version}\"\nfile = \"hello.wasm\"\n\
                 description = \"The demo's greeter\"\n\n[namespaces]\ndemo = \"{addr}/packages\"\n"
            ),
        )
        .context("could not write the publisher's wasm.toml")?;
        demo.wasm_in(&publisher, &format!("publish {version}"), &[&"publish"])?;
    }

    demo.wasm_in(&app, "init", &[&"init", &"--name", &"demo:app"])?;
    let registry = format!("{addr}/packages");
    demo.wasm_in(
        &app,
        "add",
        &[&"add", &"demo:hello@1", &"--registry", &registry],
    )?;
    step("wasm.lock")?;
    let lock = fs::read_to_string(app.join("wasm.lock")).context("could not read wasm.lock")?;
    print!("{lock}");
    step("rm vendor/wasm/demo/hello.wasm")?;
    fs::remove_file(app.join("vendor/wasm/demo/hello.wasm"))
        .context("could not remove the installed file")?;
    demo.wasm_in(&app, "install (from the lock)", &[&"install"])?;
    let before = access_log_lines(demo.registry);
    demo.wasm_in(&app, "install (again)", &[&"install"])?;
    let sent = access_log_lines(demo.registry) - before;
    if sent != 0 {
        bail!("the second install sent {sent} request(s) to the registry; it should send none");
    }
    println!("registry access log: 0 requests during the second install");
    wit(demo, addr, &root)
}

/// The WIT part (docs/wit.md): a team interface `demo:clock` published from its WIT text, then a
/// world that imports it gets it into `wit/deps` with `wasm wit fetch`, locked; a second fetch
/// sends no request.
fn wit(demo: &Demo<'_>, addr: &str, root: &Path) -> Result<()> {
    let api = root.join("clock-api");
    let world = root.join("world");
    for dir in [api.join("wit"), world.join("wit")] {
        fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    fs::write(
        api.join("wit/clock.wit"),
        "package demo:clock@0.1.0;\n\ninterface wall {\n  record datetime { seconds: u64 }\n  \
         now: func() -> datetime;\n}\n",
    )
    .context("could not write clock.wit")?;
    fs::write(
        api.join("wasm.toml"),
        format!(
            "[package]\nname = \"demo:clock\"\nversion = \"0.1.0\"\nwit = \"wit\"\n\n\
             [namespaces]\ndemo = \"{addr}/packages\"\n"
        ),
    )
    .context("could not write the interface's wasm.toml")?;
    demo.wasm_in(&api, "publish (a WIT package)", &[&"publish"])?;

    fs::write(
        world.join("wit/world.wit"),
        "package demo:app;\n\nworld app {\n  import demo:clock/wall@0.1.0;\n}\n",
    )
    .context("could not write world.wit")?;
    fs::write(
        world.join("wasm.toml"),
        format!("[namespaces]\ndemo = \"{addr}/packages\"\n"),
    )
    .context("could not write the world's wasm.toml")?;
    demo.wasm_in(&world, "wit fetch", &[&"wit", &"fetch"])?;
    step("wit/deps/demo-clock-0.1.0/package.wit")?;
    let fetched = fs::read_to_string(world.join("wit/deps/demo-clock-0.1.0/package.wit"))
        .context("could not read the fetched package")?;
    print!("{fetched}");
    let before = access_log_lines(demo.registry);
    demo.wasm_in(&world, "wit fetch (again)", &[&"wit", &"fetch"])?;
    let sent = access_log_lines(demo.registry) - before;
    if sent != 0 {
        bail!("the second wit fetch sent {sent} request(s) to the registry; it should send none");
    }
    println!("registry access log: 0 requests during the second wit fetch");
    Ok(())
}

/// `bytes` (a Wasm binary) with a custom section `demo` holding `payload` appended: a second,
/// still valid version of the sample with another digest.
fn with_custom_section(bytes: &[u8], payload: &[u8]) -> Vec<u8> {
    const NAME: &[u8] = b"demo";
    let content = 1 + NAME.len() + payload.len();
    assert!(content < 128, "one-byte LEB128 sizes only");
    let mut out = bytes.to_vec();
    out.extend_from_slice(&[0, content as u8, NAME.len() as u8]);
    out.extend_from_slice(NAME);
    out.extend_from_slice(payload);
    out
}

/// How many requests the registry's access log shows so far.
fn access_log_lines(registry: &LocalRegistry) -> usize {
    registry.log_tail(usize::MAX).map_or(0, |log| {
        log.lines().filter(|l| l.contains(" HTTP/1.1\"")).count()
    })
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
