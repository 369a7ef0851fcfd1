//! The command line: global flags and the subcommands. `///` comments here are the `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;

/// Push and pull WebAssembly components through OCI registries.
#[derive(Debug, Parser)]
#[command(
    name = "wasm",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Examples:
  wasm push ghcr.io/me/hello:1.0.0 hello.wasm
  wasm pull ghcr.io/me/hello:1.0.0 -o hello.wasm
  wasm inspect ghcr.io/me/hello:1.0.0
  wasm init --name me:app && wasm add wasi:http@0.2 && wasm install --locked
  wasm login ghcr.io -u me
  wasm self config

Configuration: $XDG_CONFIG_HOME/wasm/config.toml (default ~/.config/wasm/config.toml), and
.config/wasm/config.toml in the current directory, whose credential helpers and TLS settings
apply only once you trust it (wasm self trust). Credentials come from the config's credential
helpers, then Docker's and Podman's credential stores, then anonymous access."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalOpts,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub(crate) struct GlobalOpts {
    /// More output on stderr: -v shows what happens, -vv debug logs, -vvv traces requests
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Print nothing but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// When to use colors
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub(crate) color: ColorChoice,
    /// Use this config file instead of the global one
    #[arg(long, global = true, value_name = "PATH", env = "WASM_CONFIG")]
    pub(crate) config: Option<PathBuf>,
}

/// When to use colors.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ColorChoice {
    /// When stderr is a terminal and NO_COLOR is not set
    Auto,
    /// Always
    Always,
    /// Never
    Never,
}

/// How many artifacts a command moves at once unless `--jobs` says otherwise. Small artifacts
/// cost round trips, not bandwidth: at 50 ms from the registry, 100 components pushed with 8 at
/// once took 5.8 s and with 16 3.6 s (docs/benchmarks.md); a registry sees no more than this
/// many connections from one invocation.
pub(crate) const DEFAULT_JOBS: usize = 16;

/// Flags of commands that talk to registries.
#[derive(Debug, Args, Clone)]
pub(crate) struct RegistryOpts {
    /// Speak plain HTTP to the registry (credentials are sent only to loopback registries or
    /// those with `protocol = "http"` in the config)
    #[arg(long)]
    pub(crate) plain_http: bool,
    /// Do not verify the registry's TLS certificate
    #[arg(long)]
    pub(crate) insecure: bool,
}

/// Flags of commands that move data: retries and timeouts.
#[derive(Debug, Args, Clone)]
pub(crate) struct NetworkOpts {
    /// Attempts of a request that fails for a transient reason (connection broken, HTTP 429,
    /// 502, 503, 504), the first included; retries back off exponentially
    #[arg(long, value_name = "N", env = "WASM_RETRIES", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) retries: u32,
    /// Seconds a request may make no progress before it fails (and is retried)
    #[arg(long, value_name = "SECS", env = "WASM_TIMEOUT", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) timeout: u64,
}

/// Output format flag of commands that print data.
#[derive(Debug, Args, Clone, Copy)]
pub(crate) struct JsonOpt {
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,
}

/// The `--annotation KEY=VALUE` flags of `push` and `attach`, as a map.
pub(crate) fn parse_annotations(
    given: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut annotations = std::collections::BTreeMap::new();
    for a in given {
        match a.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                annotations.insert(k.trim().to_string(), v.to_string());
            }
            _ => anyhow::bail!("invalid --annotation `{a}`: write KEY=VALUE"),
        }
    }
    Ok(annotations)
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Push(commands::push::Opts),
    Pull(commands::pull::Opts),
    Inspect(commands::inspect::Opts),
    Tags(commands::tags::Opts),
    Copy(commands::copy::Opts),
    Discover(commands::discover::Opts),
    Attach(commands::attach::Opts),
    Login(commands::login::Opts),
    Logout(commands::logout::Opts),
    Init(commands::init::Opts),
    Add(commands::add::Opts),
    Remove(commands::remove::Opts),
    Install(commands::install::Opts),
    Update(commands::update::Opts),
    Outdated(commands::outdated::Opts),
    Publish(commands::publish::Opts),
    /// WIT interface packages: `fetch` what a WIT directory uses into its deps/ (locked),
    /// `build` the binary WIT package
    #[command(subcommand)]
    Wit(commands::wit::WitCommand),
    /// Check registries: `test` says why one does or does not work, step by step
    #[command(subcommand)]
    Registry(commands::registry::RegistryCommand),
    /// Manage wasm itself: check its configuration, trust project configs, shell completions, man
    /// pages
    #[command(name = "self", subcommand)]
    SelfCmd(commands::self_cmd::SelfCommand),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn cli_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
