//! `wasm registry test`: diagnose a registry step by step (the logic is
//! `wasm_registry::diagnose`; this file parses, runs and prints).

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use wasm_registry::diagnose::{self, Options, Report, StepStatus, Target, VerdictClass};

use crate::cli::{GlobalOpts, JsonOpt, RegistryOpts};
use crate::context;
use crate::output::{self, EXIT_CREDENTIALS, EXIT_ERROR, EXIT_NETWORK};

#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCommand {
    Test(TestOpts),
}

impl RegistryCommand {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        match self {
            RegistryCommand::Test(o) => o.run(global),
        }
    }
}

/// Check that a registry works for push and pull, and if not, say why and what to do
///
/// Goes through what push and pull do, one step at a time, and shows each: the credential
/// chain (every source, the key it matched or the spellings it tried, the username; never a
/// secret), the connection (address, proxy, plain HTTP or TLS, the server certificate and
/// whether it is trusted), `GET /v2/` (the registry's challenge), authentication (the request a
/// client makes and the answer), and with --repository the pull (and --push) access. Ends with
/// one verdict and its fix.
///
/// Nothing is written to the registry; --push without a token that states its access opens a
/// blob upload and cancels it at once.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  wasm registry test ghcr.io
  wasm registry test https://index.docker.io/v1/
  wasm registry test ghcr.io --repository me/hello --push
  wasm registry test localhost:5000 --json

Exit status:
  0  everything asked for works
  1  error (bad input, a registry answering in unexpected ways)
  2  wrong usage
  3  credential problem: none found, rejected, not allowed (scope), or a credential source
     failing (helper not installed or failing, config.json invalid)
  4  network problem: unknown host, connection refused or timed out, not an OCI registry, TLS
     (untrusted, wrong name, expired), plain HTTP vs HTTPS, proxy")]
pub(crate) struct TestOpts {
    /// The registry, in any spelling: ghcr.io, https://ghcr.io/v2/, https://index.docker.io/v1/,
    /// localhost:5000, http://localhost:5000 (plain HTTP); HOST/REPO also names a repository
    registry: String,
    /// Check pull access to this repository (e.g. me/hello)
    #[arg(long, value_name = "REPO")]
    repository: Option<String>,
    /// Check push access too (needs a repository)
    #[arg(long)]
    push: bool,
    #[command(flatten)]
    transport: RegistryOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl TestOpts {
    fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let target = Target::parse(&self.registry)?;
        if let Some(repo) = &self.repository {
            // Checked like a reference's repository (lowercase, valid segments).
            wasm_registry::Repository::parse(&format!("{}/{repo}", target.registry))?;
        }
        let options = Options {
            repository: self.repository,
            push: self.push,
        };
        if options.push && diagnose::repository_of(&target, &options).is_none() {
            bail!("--push checks a repository: add --repository REPO");
        }
        let transport = context::transport(global, &self.transport, None)?;
        let report = context::runtime()?.block_on(diagnose::run(&transport, &target, &options))?;
        if self.json.json {
            output::json(&report)?;
        } else {
            output::data(&render(&report, output::quiet()))?;
        }
        Ok(ExitCode::from(match report.verdict.code.class() {
            VerdictClass::Ok => 0,
            VerdictClass::Credentials => EXIT_CREDENTIALS,
            VerdictClass::Network => EXIT_NETWORK,
            VerdictClass::Other => EXIT_ERROR,
        }))
    }
}

/// The report as text: what was tested, each step with its details, then the verdict and the
/// fix. With `quiet`, only the verdict and the fix.
fn render(report: &Report, quiet: bool) -> String {
    let mut out = String::new();
    let verdict = &report.verdict;
    let line = format!("{}: {}", verdict.code.title(), verdict.message);
    let verdict_line = if verdict.ok {
        output::good(&line)
    } else {
        output::bad(&line)
    };
    if !quiet {
        let mut registry = if report.normalized_from == report.registry {
            report.registry.clone()
        } else {
            format!("{} -> {}", report.normalized_from, report.registry)
        };
        if report.api_host != report.registry {
            registry.push_str(&format!(" (API host {})", report.api_host));
        }
        out.push_str(&format!("registry:   {registry}\n"));
        if let Some(repo) = &report.repository {
            let what = if report.push { "pull and push" } else { "pull" };
            out.push_str(&format!("repository: {repo} ({what})\n"));
        }
        out.push('\n');
        for step in &report.steps {
            let (mark, plain) = match step.status {
                StepStatus::Ok => (output::good("ok"), "ok"),
                StepStatus::Failed => (output::bad("FAILED"), "FAILED"),
                StepStatus::Skipped => ("skip".to_string(), "skip"),
            };
            let pad = " ".repeat(8 - plain.len());
            out.push_str(&format!("{mark}{pad}{}", output::bold(&step.title)));
            if let Some(why) = &step.skipped {
                out.push_str(&format!(" ({why})"));
            }
            out.push('\n');
            for detail in &step.details {
                out.push_str(&format!("          {detail}\n"));
            }
        }
        out.push('\n');
    }
    out.push_str(&verdict_line);
    out.push('\n');
    if let Some(fix) = &verdict.fix {
        out.push_str(&format!("fix: {fix}\n"));
    }
    out
}
