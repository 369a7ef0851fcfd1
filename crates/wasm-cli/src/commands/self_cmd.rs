//! `wasm self ...`: check the set-up (`config`), trust a project config (`trust`), shell
//! completions, man pages.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _, Subcommand};
use serde::Serialize;
use wasm_config::{Config, ConfigFile, FileRole, Trust};
use wasm_registry::{CredentialChain, Outcome, Step, StoreLocations};
use wasm_registry::{docker_config_summary, error_chain};

use crate::cli::{Cli, GlobalOpts, JsonOpt};
use crate::output::{self, EXIT_CREDENTIALS};

#[derive(Debug, Subcommand)]
pub(crate) enum SelfCommand {
    Config(ConfigOpts),
    Trust(TrustOpts),
    State(StateOpts),
    Clean(CleanOpts),
    Completions(CompletionsOpts),
    ManPages(ManPagesOpts),
}

impl SelfCommand {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        match self {
            SelfCommand::Config(o) => o.run(global),
            SelfCommand::Trust(o) => o.run(),
            SelfCommand::State(o) => o.run(global),
            SelfCommand::Clean(o) => o.run(),
            SelfCommand::Completions(o) => o.run(),
            SelfCommand::ManPages(o) => o.run(),
        }
    }
}

/// Verify the configuration and every credential source
///
/// Shows each config file (path, present or not, parsed or the error, trusted or which of its
/// settings are ignored until you trust it), the Docker and Podman credential files, and every registry any of them knows: which source serves it, under which
/// key, and the username (never a secret). Credential helpers and stores are run to prove they
/// work, unless --no-exec.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasm self config
  wasm self config --no-exec --json

Exit status:
  0  every configured source works
  1  a config file is invalid
  3  a credential source fails (a helper errors, a credential file is invalid)")]
pub(crate) struct ConfigOpts {
    /// Do not run credential helpers or stores; only read the files
    #[arg(long)]
    no_exec: bool,
    #[command(flatten)]
    json: JsonOpt,
}

#[derive(Serialize)]
struct FileReport {
    role: String,
    path: PathBuf,
    present: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trust: Option<TrustReport>,
}

/// Whether a config file's risky settings apply; see `wasm_config::Trust`.
#[derive(Serialize)]
struct TrustReport {
    /// `implicit`, `not-needed`, `trusted`, `untrusted`, `changed` or `linked`.
    state: &'static str,
    /// Whether its risky settings apply.
    trusted: bool,
    /// The state in words.
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignored: Vec<IgnoredReport>,
    /// The command that trusts the file, when that is the fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

/// A setting ignored because its file is not trusted.
#[derive(Serialize)]
struct IgnoredReport {
    key: String,
    setting: String,
    effect: &'static str,
}

impl TrustReport {
    fn of(file: &ConfigFile) -> TrustReport {
        let state = match file.trust {
            Trust::Implicit => "implicit",
            Trust::NotNeeded => "not-needed",
            Trust::Trusted => "trusted",
            Trust::Untrusted => "untrusted",
            Trust::Changed => "changed",
            Trust::Linked { .. } => "linked",
        };
        let fixable = matches!(file.trust, Trust::Untrusted | Trust::Changed);
        TrustReport {
            state,
            trusted: file.trust.allows_risky(),
            description: file.trust.to_string(),
            ignored: file
                .ignored
                .iter()
                .map(|setting| IgnoredReport {
                    key: setting.key(),
                    setting: setting.to_string(),
                    effect: setting.effect(),
                })
                .collect(),
            fix: (fixable && !file.ignored.is_empty())
                .then(|| wasm_config::trust_command(&file.path)),
        }
    }
}

#[derive(Serialize)]
struct RegistryReport {
    registry: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    source: String,
    steps: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Report {
    ok: bool,
    config_files: Vec<FileReport>,
    credential_files: Vec<FileReport>,
    registries: Vec<RegistryReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
}

impl ConfigOpts {
    fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let cwd = std::env::current_dir().context("cannot determine the current directory")?;
        let mut problems = Vec::new();
        let (config, mut config_files): (Config, Vec<FileReport>) =
            match crate::context::load_config(global) {
                Ok(config) => {
                    let files = config
                        .files
                        .iter()
                        .map(|f| FileReport {
                            role: f.role.to_string(),
                            path: f.path.clone(),
                            present: f.present,
                            error: None,
                            summary: None,
                            trust: f.present.then(|| TrustReport::of(f)),
                        })
                        .collect();
                    (config, files)
                }
                Err(e) => {
                    let text = error_chain(e.as_ref());
                    problems.push(text.clone());
                    let mut files = Vec::new();
                    let explicit = global.config.clone();
                    let first = explicit
                        .clone()
                        .map(|p| (FileRole::Explicit, p))
                        .or_else(|| {
                            wasm_config::global_config_path().map(|p| (FileRole::Global, p))
                        });
                    files.extend(first);
                    files.push((FileRole::Project, wasm_config::project_config_path(&cwd)));
                    let files = files
                        .into_iter()
                        .map(|(role, path)| FileReport {
                            role: role.to_string(),
                            present: path.exists(),
                            error: text
                                .contains(&path.display().to_string())
                                .then(|| text.clone()),
                            path,
                            summary: None,
                            trust: None,
                        })
                        .collect();
                    (Config::empty(), files)
                }
            };
        for f in &mut config_files {
            if f.present && f.error.is_none() {
                let n = config
                    .registries()
                    .filter(|(_, r)| r.defined_in == f.path)
                    .count();
                f.summary = Some(format!("{n} registr{}", if n == 1 { "y" } else { "ies" }));
            }
        }

        let locations = StoreLocations::from_env();
        let mut credential_files = Vec::new();
        if let Some(path) = &locations.docker_config {
            credential_files.push(match docker_config_summary(path) {
                Ok(Some(summary)) => FileReport {
                    role: "docker".into(),
                    path: path.clone(),
                    present: true,
                    error: None,
                    summary: Some(format!(
                        "credsStore: {}; credHelpers: {}; auths: {}",
                        summary.creds_store.as_deref().unwrap_or("none"),
                        if summary.cred_helpers.is_empty() {
                            "none".to_string()
                        } else {
                            summary
                                .cred_helpers
                                .iter()
                                .map(|(k, v)| format!("{k} -> {v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                        if summary.auths.is_empty() {
                            "none".to_string()
                        } else {
                            summary.auths.join(", ")
                        }
                    )),
                    trust: None,
                },
                Ok(None) => FileReport {
                    role: "docker".into(),
                    path: path.clone(),
                    present: false,
                    error: None,
                    summary: None,
                    trust: None,
                },
                Err(e) => FileReport {
                    role: "docker".into(),
                    path: path.clone(),
                    present: true,
                    error: Some(e.to_string()),
                    summary: None,
                    trust: None,
                },
            });
        }
        for path in &locations.podman_files {
            let report = match docker_config_summary(path) {
                Ok(Some(summary)) => FileReport {
                    role: "podman".into(),
                    path: path.clone(),
                    present: true,
                    error: None,
                    summary: Some(format!(
                        "auths: {}",
                        if summary.auths.is_empty() {
                            "none".to_string()
                        } else {
                            summary.auths.join(", ")
                        }
                    )),
                    trust: None,
                },
                Ok(None) => FileReport {
                    role: "podman".into(),
                    path: path.clone(),
                    present: false,
                    error: None,
                    summary: None,
                    trust: None,
                },
                Err(e) => FileReport {
                    role: "podman".into(),
                    path: path.clone(),
                    present: true,
                    error: Some(e.to_string()),
                    summary: None,
                    trust: None,
                },
            };
            credential_files.push(report);
        }

        let mut chain = CredentialChain::new(Arc::new(config), locations);
        if self.no_exec {
            chain = chain.without_exec();
        }
        let (known, list_errors) = chain.known_registries(!self.no_exec);
        for (what, error) in list_errors {
            // File errors are shown with their file already.
            if !credential_files
                .iter()
                .any(|f| f.error.as_deref() == Some(error.as_str()))
            {
                problems.push(format!("{what}: {error}"));
            }
        }
        let mut registries = Vec::new();
        for registry in known {
            let Ok(address) = wasm_config::RegistryAddress::parse(&registry) else {
                continue;
            };
            registries.push(
                match chain.resolve(&address.name, address.path.as_deref()) {
                    Ok(r) => RegistryReport {
                        registry,
                        ok: true,
                        username: r.credential.username().map(str::to_string),
                        source: match &r.source().outcome {
                            Outcome::NotRun { .. } => format!("{} (not run)", r.source().source),
                            _ => r.describe_source(),
                        },
                        steps: r.steps,
                        error: None,
                    },
                    Err(e) => RegistryReport {
                        registry,
                        ok: false,
                        username: None,
                        source: e.source_kind.to_string(),
                        error: Some(error_chain(&e)),
                        steps: e.steps,
                    },
                },
            );
        }
        let ok = problems.is_empty()
            && registries.iter().all(|r| r.ok)
            && config_files
                .iter()
                .chain(&credential_files)
                .all(|f| f.error.is_none());
        let report = Report {
            ok,
            config_files,
            credential_files,
            registries,
            problems,
        };
        if self.json.json {
            output::json(&report)?;
        } else {
            output::data(&render(&report, self.no_exec))?;
        }
        Ok(if ok {
            ExitCode::SUCCESS
        } else if report.config_files.iter().any(|f| f.error.is_some()) {
            ExitCode::from(output::EXIT_ERROR)
        } else {
            ExitCode::from(EXIT_CREDENTIALS)
        })
    }
}

fn render(report: &Report, no_exec: bool) -> String {
    let mut out = String::new();
    let file_line = |f: &FileReport, out: &mut String| {
        let state = match (&f.error, f.present) {
            (Some(_), _) => output::bad("invalid"),
            (None, true) => output::good("present"),
            (None, false) => "not present".to_string(),
        };
        out.push_str(&format!("  {:<8} {}  {state}", f.role, f.path.display()));
        if let Some(s) = &f.summary {
            out.push_str(&format!(" ({s})"));
        }
        out.push('\n');
        if let Some(e) = &f.error {
            out.push_str(&format!("           {}\n", e));
        }
        if let Some(t) = &f.trust {
            let description = if t.trusted {
                t.description.clone()
            } else {
                output::bad(&t.description)
            };
            if t.ignored.is_empty() {
                out.push_str(&format!("           trust: {description}\n"));
            } else {
                out.push_str(&format!("           trust: {description}; ignoring:\n"));
            }
            for i in &t.ignored {
                out.push_str(&format!("             - {} ({})\n", i.setting, i.effect));
            }
            if let Some(fix) = &t.fix {
                out.push_str(&format!("           to trust it: {fix}\n"));
            }
        }
    };
    out.push_str(&format!("{}\n", output::bold("Config files")));
    for f in &report.config_files {
        file_line(f, &mut out);
    }
    out.push_str(&format!("\n{}\n", output::bold("Credential files")));
    for f in &report.credential_files {
        file_line(f, &mut out);
    }
    out.push_str(&format!("\n{}\n", output::bold("Registries")));
    if report.registries.is_empty() {
        out.push_str("  none configured: every registry is accessed anonymously\n");
    }
    for r in &report.registries {
        let mark = if r.ok {
            output::good("ok")
        } else {
            output::bad("FAILED")
        };
        out.push_str(&format!("  {}  {mark}\n", output::bold(&r.registry)));
        match (&r.error, &r.username) {
            (Some(e), _) => out.push_str(&format!("    error: {e}\n")),
            (None, Some(u)) => {
                out.push_str(&format!("    credentials: {} (user `{u}`)\n", r.source))
            }
            (None, None) => out.push_str(&format!("    credentials: {}\n", r.source)),
        }
        for step in &r.steps {
            out.push_str(&format!("      - {step}\n"));
        }
    }
    if !report.problems.is_empty() {
        out.push_str(&format!("\n{}\n", output::bold("Problems")));
        for p in &report.problems {
            out.push_str(&format!("  - {p}\n"));
        }
    }
    out.push('\n');
    out.push_str(&if report.ok {
        if no_exec {
            format!(
                "{} (helpers not run: --no-exec)",
                output::good("configuration is valid")
            )
        } else {
            output::good("all credential sources work")
        }
    } else if report.config_files.iter().any(|f| f.error.is_some()) {
        output::bad("the configuration has errors: see above")
    } else {
        output::bad("some credential sources fail: see above")
    });
    out.push('\n');
    out
}

/// Trust a project config, so that its credential helpers run and its TLS settings apply
///
/// A project config (.config/wasm/config.toml in the current directory) comes with its
/// directory, and a cloned repository can carry one. Until you trust it, its settings that run
/// commands (credential-helper) or weaken transport security (insecure = true, ca-file, protocol
/// = "http" for a registry that is not on this machine) are ignored, with a warning; its other
/// settings apply. Trusting records the file's canonical path and the SHA-256 of its content in
/// $XDG_STATE_HOME/wasm/trusted.toml (default ~/.local/state/wasm/trusted.toml): any change to
/// the file makes it untrusted again. The global config, and a file named with --config or
/// WASM_CONFIG, need no trust.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasm self config --no-exec      # first see what the project config asks for
  wasm self trust                 # the project config of the current directory
  wasm self trust ~/src/app/.config/wasm/config.toml
  wasm self trust --revoke

Exit status:
  0  trusted, or revoked (or there was nothing to revoke)
  1  the file is missing, invalid, not a project config, or reached through a symbolic link")]
pub(crate) struct TrustOpts {
    /// The project config [default: .config/wasm/config.toml in the current directory]
    #[arg(value_name = "PATH")]
    path: Option<PathBuf>,
    /// Stop trusting the file (it need not exist, nor parse, any more)
    #[arg(long)]
    revoke: bool,
}

impl TrustOpts {
    fn run(self) -> anyhow::Result<ExitCode> {
        let cwd = std::env::current_dir().context("cannot determine the current directory")?;
        let file = match self.path {
            Some(path) => cwd.join(path),
            None => wasm_config::project_config_path(&cwd),
        };
        let store = wasm_config::trust_store_path().context(
            "cannot find where to keep the trust store: set HOME, or XDG_STATE_HOME to an \
             absolute path",
        )?;
        if self.revoke {
            output::status(&match wasm_config::revoke_project_config(&store, &file)? {
                Some(path) => format!("no longer trusted: {}", path.display()),
                None => format!("{} was not trusted: nothing to revoke", file.display()),
            });
            return Ok(ExitCode::SUCCESS);
        }
        let trusted = wasm_config::trust_project_config(&store, &file)?;
        let path = trusted.path.display();
        let (mut text, apply) = match trusted.before {
            Trust::Trusted => (
                format!("{path} was already trusted with this content"),
                "apply",
            ),
            Trust::Changed => (format!("trusted the new content of {path}"), "now apply"),
            _ => (format!("trusted {path}"), "now apply"),
        };
        text.push_str(&format!(" (recorded in {})\n", store.display()));
        if trusted.enables.is_empty() {
            text.push_str(
                "it has no settings that need trust; if a change adds some, trust it again",
            );
        } else {
            text.push_str(&format!("these settings of it {apply}:"));
            for setting in &trusted.enables {
                text.push_str(&format!("\n  {setting} ({})", setting.effect()));
            }
        }
        output::status(&text);
        Ok(ExitCode::SUCCESS)
    }
}

/// Print a shell completion script
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasm self completions bash > ~/.local/share/bash-completion/completions/wasm
  wasm self completions zsh > ~/.zfunc/_wasm
  wasm self completions fish > ~/.config/fish/completions/wasm.fish")]
pub(crate) struct CompletionsOpts {
    /// The shell
    shell: clap_complete::Shell,
}

impl CompletionsOpts {
    fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = Vec::new();
        clap_complete::generate(self.shell, &mut Cli::command(), "wasm", &mut out);
        output::data(&String::from_utf8_lossy(&out))?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Write man pages for wasm and its subcommands into a directory
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasm self man-pages ~/.local/share/man/man1")]
pub(crate) struct ManPagesOpts {
    /// The directory (created if missing)
    #[arg(default_value = ".")]
    dir: PathBuf,
}

impl ManPagesOpts {
    fn run(self) -> anyhow::Result<ExitCode> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        clap_mangen::generate_to(Cli::command(), &self.dir)
            .with_context(|| format!("cannot write man pages into {}", self.dir.display()))?;
        output::status(&format!("man pages written to {}", self.dir.display()));
        Ok(ExitCode::SUCCESS)
    }
}

/// Show where wasm keeps its files: config, trust store, the cache and its size
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasm self state
  wasm self state --json")]
pub(crate) struct StateOpts {
    #[command(flatten)]
    json: JsonOpt,
}

#[derive(Serialize)]
struct State {
    version: &'static str,
    global_config: Option<PathBuf>,
    project_config: PathBuf,
    trust_store: Option<PathBuf>,
    cache: Option<wasm_registry::CacheStats>,
}

impl StateOpts {
    fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let cwd = std::env::current_dir().context("cannot determine the current directory")?;
        let state = State {
            version: env!("CARGO_PKG_VERSION"),
            global_config: global
                .config
                .clone()
                .or_else(wasm_config::global_config_path),
            project_config: wasm_config::project_config_path(&cwd),
            trust_store: wasm_config::trust_store_path(),
            cache: wasm_registry::Cache::default_location().map(|c| c.stats()),
        };
        if self.json.json {
            return output::json(&state).map(|()| ExitCode::SUCCESS);
        }
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or("(none: no home directory)".to_string(), |p| {
                    p.display().to_string()
                })
        };
        let mut out = format!(
            "wasm {}\nconfig:  {}\nproject: {}\ntrusted: {}\n",
            state.version,
            path(&state.global_config),
            state.project_config.display(),
            path(&state.trust_store)
        );
        match &state.cache {
            Some(c) => out.push_str(&format!(
                "cache:   {} ({} in {} blobs, {} tags)\n",
                c.root.display(),
                output::human_size(c.bytes),
                c.blobs,
                c.refs
            )),
            None => out.push_str("cache:   (none: no home directory)\n"),
        }
        output::data(&out)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Empty the local cache of manifests and components
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasm self clean")]
pub(crate) struct CleanOpts {}

impl CleanOpts {
    fn run(self) -> anyhow::Result<ExitCode> {
        let Some(cache) = wasm_registry::Cache::default_location() else {
            output::status("no cache directory: nothing to clean");
            return Ok(ExitCode::SUCCESS);
        };
        let freed = cache
            .clean()
            .with_context(|| format!("cannot empty the cache at {}", cache.root().display()))?;
        output::status(&format!(
            "removed {} from {}",
            output::human_size(freed),
            cache.root().display()
        ));
        Ok(ExitCode::SUCCESS)
    }
}
