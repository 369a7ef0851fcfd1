//! `cargo xtask interop`: WIT packages between `wasm` and the real `wkg` binary (0.16.1, the
//! version the benchmark installs), both ways, against a local registry.
//!
//! The end-to-end tests prove the same with the crate calls wkg makes (tests/wit.rs, named as
//! such), because building wkg takes many minutes on 2 cores, too long for every CI run. This
//! command runs the peer itself:
//!
//! 1. `wasm wit build` encodes `lab:base@1.0.0`; `wkg publish` publishes it;
//! 2. `wasm wit fetch` fetches it as the dependency of `lab:greet@1.0.0`, which `wasm wit build`
//!    then encodes and `wasm push` publishes;
//! 3. `wkg wit fetch` fetches `lab:greet` (and `lab:base`) for a world that imports it.
//!
//! Each step checks what it got (files, their package lines), and the whole fails loudly, naming
//! the step, when wkg is missing or anything differs. Everything runs in a [`Sandbox`]: the
//! user's own configuration is never read.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::sandbox::Sandbox;
use crate::{cmd, deps, interrupt, registry};

/// `cargo xtask interop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask interop            with target/bench-peers/bin/wkg or wkg on PATH
  cargo xtask interop --install  cargo install wkg 0.16.1 first (a long build)")]
pub(crate) struct Options {
    /// Install wkg into target/bench-peers first when it is missing (cargo install, many
    /// minutes on 2 cores)
    #[arg(long)]
    install: bool,
}

/// Runs the round trip.
///
/// # Errors
///
/// When wkg is missing, or a step fails or finds other than it should; the error names the step.
pub(crate) fn run(options: &Options) -> Result<()> {
    interrupt::install()?;
    deps::ensure(&[deps::DOCKER_REGISTRY])?;
    let target = cmd::target_dir()?;
    let peers = target.join("bench-peers");
    if options.install {
        crate::bench::install_wkg(&peers);
    }
    let wkg = crate::bench::find_wkg_program(&peers).map_err(|reason| {
        anyhow::anyhow!("wkg: {reason} (`cargo xtask interop --install` builds wkg 0.16.1)")
    })?;
    let version = cmd::output(Command::new(&wkg).arg("--version"))?;
    println!("peer: {} ({})", version.trim(), wkg.display());
    let wasm = cmd::build_release_wasm(&target).context("could not build wasm")?;
    let registry = registry::start()?;
    let host = registry.addr().to_string();
    println!("registry: http://{host}");

    let sandbox = Sandbox::temporary("interop-")?;
    let config = sandbox.dir().join("config").join("wasm-pkg");
    fs::create_dir_all(&config)?;
    // wkg's own config, which `wasm` reads too (rule 3 of the name mapping): namespace `lab`
    // lives in this registry under `wit/`, over plain HTTP.
    fs::write(
        config.join("config.toml"),
        format!(
            "[namespace_registries]\n\
             lab = {{ registry = \"lab\", metadata = {{ preferredProtocol = \"oci\", oci = {{ \
             registry = \"{host}\", namespacePrefix = \"wit/\" }} }} }}\n\
             [registry.\"lab\".oci]\nprotocol = \"http\"\n"
        ),
    )?;
    let dir = |name: &str| -> Result<PathBuf> {
        let dir = sandbox.dir().join(name);
        fs::create_dir_all(dir.join("wit"))?;
        Ok(dir)
    };
    let run = |what: &str, program: &Path, dir: &Path, args: &[&str]| -> Result<String> {
        println!(
            "$ {} {}",
            program.file_name().unwrap_or_default().to_string_lossy(),
            args.join(" ")
        );
        let mut command = sandbox.command(program);
        command.current_dir(dir).args(args);
        cmd::output(&mut command).with_context(|| format!("step failed: {what}"))
    };

    // 1. A WIT package built by wasm, published by wkg.
    let base = dir("base")?;
    fs::write(
        base.join("wit").join("types.wit"),
        "package lab:base@1.0.0;\n\ninterface types {\n  record point { x: u32, y: u32 }\n}\n",
    )?;
    run(
        "wasm wit build (lab:base)",
        &wasm,
        &base,
        &["wit", "build", "-o", "base.wasm"],
    )?;
    run(
        "wkg publish (lab:base)",
        &wkg,
        &base,
        &["publish", "base.wasm"],
    )?;

    // 2. wasm fetches it as a dependency, then builds and pushes a package that uses it.
    let greet = dir("greet")?;
    fs::write(
        greet.join("wit").join("hello.wit"),
        "package lab:greet@1.0.0;\n\ninterface hello {\n  use lab:base/types@1.0.0.{point};\n  \
         greet: func(p: point) -> string;\n}\n",
    )?;
    run(
        "wasm wit fetch (what wkg published)",
        &wasm,
        &greet,
        &["wit", "fetch"],
    )?;
    expect_package(
        &greet.join("wit/deps/lab-base-1.0.0/package.wit"),
        "package lab:base@1.0.0;",
        "wasm wit fetch of what wkg published",
    )?;
    run(
        "wasm wit build (lab:greet)",
        &wasm,
        &greet,
        &["wit", "build", "-o", "greet.wasm"],
    )?;
    let reference = format!("{host}/wit/lab/greet:1.0.0");
    run(
        "wasm push (lab:greet)",
        &wasm,
        &greet,
        &["push", &reference, "greet.wasm"],
    )?;

    // 3. wkg fetches what wasm published, for a world that imports it.
    let app = dir("app")?;
    fs::write(
        app.join("wit").join("world.wit"),
        "package lab:app;\n\nworld app {\n  import lab:greet/hello@1.0.0;\n}\n",
    )?;
    run(
        "wkg wit fetch (what wasm published)",
        &wkg,
        &app,
        &["wit", "fetch"],
    )?;
    expect_package(
        &app.join("wit/deps/lab-greet-1.0.0/package.wit"),
        "package lab:greet@1.0.0;",
        "wkg wit fetch of what wasm published",
    )?;
    println!(
        "interop: WIT packages go from wasm to wkg {} and back",
        version.trim()
    );
    drop(registry);
    Ok(())
}

/// Checks that `path` exists and starts with the `package` line `first`.
fn expect_package(path: &Path, first: &str, what: &str) -> Result<()> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("{what}: {} was not written", path.display()))?;
    match text.lines().next() {
        Some(line) if line.trim() == first => {
            println!("ok: {} starts with `{first}`", path.display());
            Ok(())
        }
        other => bail!(
            "{what}: {} starts with {:?}, not `{first}`",
            path.display(),
            other.unwrap_or_default()
        ),
    }
}
