//! `wasm init [--name NS:NAME]`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use wasm_package::PackageName;

use crate::cli::GlobalOpts;
use crate::output;

/// Create a commented wasm.toml in the current directory
///
/// The file names the package (for `wasm publish`) and has commented examples of dependencies,
/// namespaces and the install directory. An existing wasm.toml is never overwritten.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm init --name acme:greeter
  wasm init                    # named local:DIRECTORY"))]
pub(crate) struct Opts {
    /// The package's name, NS:NAME (default: local:NAME, NAME from the directory)
    #[arg(long, value_name = "NS:NAME")]
    name: Option<String>,
}

impl Opts {
    pub(crate) fn run(self, _global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let cwd = std::env::current_dir().context("cannot determine the current directory")?;
        let name = match &self.name {
            Some(name) => PackageName::parse(name)?,
            None => {
                let dir: String = cwd
                    .file_name()
                    .map(|n| n.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect();
                let words: Vec<&str> = dir
                    .split('-')
                    .filter(|w| !w.is_empty() && w.starts_with(|c: char| c.is_ascii_alphabetic()))
                    .collect();
                let name = if words.is_empty() {
                    "app".to_owned()
                } else {
                    words.join("-")
                };
                PackageName::parse(&format!("local:{name}"))?
            }
        };
        let path = wasm_package::ops::init(&cwd, &name)?;
        output::status(&format!(
            "{} {} for `{name}`",
            output::good("created"),
            path.display()
        ));
        Ok(ExitCode::SUCCESS)
    }
}
