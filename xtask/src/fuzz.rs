//! `cargo xtask fuzz`: builds the `cargo fuzz` targets in `fuzz/` and runs each for a while.
//!
//! Targets: config TOML parsing, credential-helper output, Docker/Podman auth files, references,
//! manifests and Wasm configs, and the Wasm validation a push runs. Each runs with libFuzzer
//! (`--sanitizer none`: the code under test is safe Rust, and the sanitizers need a nightly
//! compiler this machine does not have), from its corpus in `fuzz/corpus/TARGET` plus the
//! committed seeds in `fuzz/seeds/TARGET`. A crash, a hang (`-timeout`) or an allocation beyond
//! `-rss_limit_mb` fails the run and leaves the input in `fuzz/artifacts/TARGET`.

use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use crate::cmd;

/// The fuzz targets, as `fuzz/Cargo.toml` names them.
pub(crate) const TARGETS: &[&str] = &[
    "config_toml",
    "helper_output",
    "auth_file",
    "reference",
    "manifest",
    "wasm_validation",
];

/// `cargo xtask fuzz`: build the cargo-fuzz targets in fuzz/ and run each for a while.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub(crate) struct Options {
    /// Seconds per target
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub(crate) seconds: u64,
    /// Only this target
    #[arg(long, value_name = "T", value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    pub(crate) target: Option<String>,
}

/// Ensures `cargo fuzz` is installed, then runs the targets.
pub(crate) fn run(options: &Options) -> Result<()> {
    ensure_cargo_fuzz()?;
    let root = cmd::workspace_root();
    let targets: Vec<&str> = match &options.target {
        Some(t) => vec![t.as_str()],
        None => TARGETS.to_vec(),
    };
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for target in targets {
        let corpus = root.join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("cannot create {}", corpus.display()))?;
        let seeds = root.join("fuzz/seeds").join(target);
        let mut command = cmd::cargo();
        command
            .current_dir(root)
            .args(["fuzz", "run", target, "--sanitizer", "none"])
            .arg(&corpus);
        if seeds.is_dir() {
            command.arg(&seeds);
        }
        command.args([
            "--",
            &format!("-max_total_time={}", options.seconds),
            "-timeout=10",
            "-rss_limit_mb=1024",
            "-print_final_stats=1",
        ]);
        // `cargo fuzz` passes `-Z` flags to rustc; on a stable toolchain they need this.
        command.env("RUSTC_BOOTSTRAP", "1");
        println!("==> fuzz {target} for {} s", options.seconds);
        let started = Instant::now();
        let output = command
            .output()
            .with_context(|| format!("cannot run `{}`", cmd::display(&command)))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let runs = stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("stat::number_of_executed_units:"))
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| "?".into());
        let outcome = if output.status.success() {
            "no crash, hang or leak".to_string()
        } else {
            failed.push(target);
            let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            format!("FAILED ({})", output.status)
        };
        rows.push((target, started.elapsed().as_secs(), runs, outcome));
    }
    println!(
        "\n{:<16} {:>8} {:>12}  result",
        "target", "seconds", "executions"
    );
    for (target, secs, runs, outcome) in &rows {
        println!("{target:<16} {secs:>8} {runs:>12}  {outcome}");
    }
    if !failed.is_empty() {
        bail!(
            "fuzz targets failed: {}; the inputs are in fuzz/artifacts/",
            failed.join(", ")
        );
    }
    Ok(())
}

/// Installs `cargo-fuzz` when `cargo fuzz` is not available.
fn ensure_cargo_fuzz() -> Result<()> {
    if cmd::succeeds(cmd::cargo().args(["fuzz", "--version"])) {
        return Ok(());
    }
    println!("==> installing cargo-fuzz (cargo install cargo-fuzz --locked)");
    cmd::run(cmd::cargo().args(["install", "cargo-fuzz", "--locked"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::Command as Xtask;
    use crate::tests::parse_args;

    /// `cargo xtask fuzz ARGS` through the clap definitions.
    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        match parse_args(&[&["fuzz"], args].concat())? {
            Xtask::Fuzz(options) => Ok(options),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn options() {
        assert_eq!(
            parse(&["--seconds", "5", "--target", "reference"]).unwrap(),
            Options {
                seconds: 5,
                target: Some("reference".into())
            }
        );
        assert_eq!(
            parse(&[]).unwrap(),
            Options {
                seconds: 60,
                target: None
            }
        );
        assert!(parse(&["--target", "nope"]).is_err());
        assert!(parse(&["--seconds", "x"]).is_err());
    }
}
