//! `wasm wit fetch` and `wasm wit build`: WIT interface packages (the logic is
//! `wasm_package::wit`; this file parses, runs and prints).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use wasm_package::RegistryClient;
use wasm_package::ops::Context;
use wasm_package::wit::{self, WitOptions, WitProject};

use crate::cli::{GlobalOpts, JsonOpt};
use crate::context;
use crate::output;
use crate::packages::{self, PackageOpts};

#[derive(Debug, Subcommand)]
pub(crate) enum WitCommand {
    Fetch(FetchOpts),
    Build(BuildOpts),
}

impl WitCommand {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        match self {
            WitCommand::Fetch(o) => o.run(global),
            WitCommand::Build(o) => o.run(),
        }
    }
}

/// Fetch the WIT packages a WIT directory uses into its deps/, transitively, locked
///
/// Parses the local WIT package (the *.wit files of --wit-dir), finds every foreign package it
/// uses (`use`, `import`, `include` of NS:NAME/...@VERSION), resolves each through the name
/// mapping (as `wasm add` does) at the version the WIT names, or the requirement in wasm.toml
/// when it lists the package, pulls it by digest, and writes it whole as WIT text to
/// deps/NS-NAME-VERSION/package.wit; then the same for the packages those use, until closed.
/// Every package is pinned in wasm.lock (beside wasm.toml, or in the current directory), which
/// governs later fetches as it does installs: moved tags are refused, and with nothing changed
/// no request is made. Finally the whole directory is resolved, and errors name file and line.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm wit fetch                      # wit/ -> wit/deps, wasm.lock
  wasm wit fetch --locked             # in CI: fail if wasm.lock is missing or would change
  wasm wit fetch --offline            # from wasm.lock and the local cache only
  wasm wit fetch --wit-dir api/wit"))]
pub(crate) struct FetchOpts {
    /// The WIT directory of the local package
    #[arg(long, value_name = "DIR", default_value = "wit")]
    wit_dir: PathBuf,
    /// Fail if wasm.lock is missing or would change (for CI)
    #[arg(long)]
    locked: bool,
    /// Use only wasm.lock and the local cache, no network
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    package: PackageOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl FetchOpts {
    fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let cwd = std::env::current_dir().context("cannot determine the current directory")?;
        let project = WitProject::open(&cwd, &self.wit_dir)?;
        let (transport, mapper) = packages::connect(global, &self.package)?;
        let client = RegistryClient::new(&transport, self.package.jobs);
        let cx = Context {
            registry: &client,
            mapper: &mapper,
        };
        let options = WitOptions {
            locked: self.locked,
            offline: self.offline,
        };
        let report = context::runtime()?.block_on(wit::fetch(&cx, &project, options))?;
        if self.json.json {
            output::json(&report)?;
            return Ok(ExitCode::SUCCESS);
        }
        let shown = |path: &std::path::Path| {
            path.strip_prefix(&cwd)
                .unwrap_or(path)
                .display()
                .to_string()
        };
        packages::print_changes(&report.changes);
        let mut written = 0;
        for package in &report.packages {
            if package.written {
                written += 1;
                output::status(&format!(
                    "{} {} {} -> {}",
                    output::good("fetched"),
                    package.name,
                    package.version,
                    shown(&package.path)
                ));
            }
        }
        for dir in &report.removed {
            output::status(&format!("{} {}", output::good("removed"), shown(dir)));
        }
        let total = report.packages.len();
        let summary = if written == 0 && report.changes.is_empty() && report.removed.is_empty() {
            format!(
                "up to date: {} uses {total} WIT package(s), all as wasm.lock pins them{}",
                report.package,
                if report.network {
                    ""
                } else {
                    " (no network request)"
                }
            )
        } else {
            format!(
                "{} uses {total} WIT package(s); {written} written to {}{}",
                report.package,
                shown(&project.wit_dir.join(wit::DEPS_DIR)),
                if report.lock_written {
                    ", wasm.lock written"
                } else {
                    ""
                }
            )
        };
        output::status(&summary);
        Ok(ExitCode::SUCCESS)
    }
}

/// Encode the local WIT package as a binary WIT package
///
/// Resolves the WIT directory (its package, and the packages it uses from deps/, as `wasm wit
/// fetch` writes them) and writes the binary form that registries hold and `wasm publish`
/// pushes (the one `wasm-tools component wit --wasm` writes).
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm wit build                      # wit/ -> NAME.wasm
  wasm wit build -o api.wasm --wit-dir api/wit"))]
pub(crate) struct BuildOpts {
    /// The WIT directory of the local package
    #[arg(long, value_name = "DIR", default_value = "wit")]
    wit_dir: PathBuf,
    /// Where to write the binary (default: NAME.wasm, after the package's name)
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

impl BuildOpts {
    fn run(self) -> anyhow::Result<ExitCode> {
        let (name, output, size) = wit::build_to(&self.wit_dir, self.output.as_deref())?;
        output::status(&format!(
            "{} {name} -> {} ({})",
            output::good("built"),
            output.display(),
            output::human_size(size)
        ));
        Ok(ExitCode::SUCCESS)
    }
}
