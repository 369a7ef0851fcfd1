//! What the package commands (`init`, `add`, `remove`, `install`, `update`, `outdated`,
//! `publish`) share: opening the project, the registry client and the name mapping, and
//! printing an install report.

use std::path::Path;

use anyhow::Context as _;
use clap::Args;
use wasm_package::ops::{Action, Change, Context as OpsContext, InstallReport, Project};
use wasm_package::wit::{self, WitOptions, WitProject};
use wasm_package::{Kind, PackageRegistry};
use wasm_package::{Mapper, WkgConfig};
use wasm_registry::Transport;

use crate::cli::{GlobalOpts, NetworkOpts, RegistryOpts};
use crate::context;
use crate::output;

/// Flags of the package commands that talk to registries.
#[derive(Debug, Args, Clone)]
pub(crate) struct PackageOpts {
    /// How many packages to download at once
    #[arg(short, long, value_name = "N", env = "WASM_JOBS", default_value_t = crate::cli::DEFAULT_JOBS)]
    pub(crate) jobs: usize,
    #[command(flatten)]
    pub(crate) registry: RegistryOpts,
    #[command(flatten)]
    pub(crate) network: NetworkOpts,
}

/// The project of the current directory, the transport and the name mapping.
pub(crate) struct Setup {
    pub(crate) project: Project,
    pub(crate) transport: Transport,
    pub(crate) mapper: Mapper,
}

/// The transport and the name mapping (the user config's `[namespaces]`, wkg's config, the
/// discovery cache).
pub(crate) fn connect(
    global: &GlobalOpts,
    opts: &PackageOpts,
) -> anyhow::Result<(Transport, Mapper)> {
    let transport = context::transport(global, &opts.registry, Some(&opts.network))?;
    let mapper = Mapper::new(
        transport.chain().config(),
        WkgConfig::default_path(),
        wasm_config::cache_dir(),
    )?;
    Ok((transport, mapper))
}

/// Opens the project whose wasm.toml is in the current directory or above.
pub(crate) fn setup(global: &GlobalOpts, opts: &PackageOpts) -> anyhow::Result<Setup> {
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    let project = Project::find(&cwd)?;
    let (transport, mapper) = connect(global, opts)?;
    Ok(Setup {
        project,
        transport,
        mapper,
    })
}

/// `path` relative to the project root, for messages.
pub(crate) fn shown(project: &Project, path: &Path) -> String {
    path.strip_prefix(project.manifest.root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// After `add` or `update` changed WIT packages of wasm.toml: brings the packages they use into
/// wit/deps (`wasm wit fetch` for the project) and prints what it wrote.
pub(crate) fn follow_wit<R: PackageRegistry>(
    cx: &OpsContext<'_, R>,
    before: &Project,
    report: &InstallReport,
) -> anyhow::Result<()> {
    let project = Project::open(&before.manifest.path)?;
    let changed_wit = report.changes.iter().any(|change| {
        project
            .lock
            .as_ref()
            .and_then(|lock| {
                lock.packages
                    .values()
                    .find(|p| p.name.to_string() == change.name)
            })
            .is_some_and(|p| p.kind == Kind::Wit)
    });
    if !changed_wit {
        return Ok(());
    }
    let wit_project = WitProject {
        wit_dir: project.manifest.root().join(&project.manifest.wit_dir),
        lock_path: project.manifest.lock_path(),
        manifest: Some(project.manifest.clone()),
        lock: project.lock.clone(),
    };
    let wit_report =
        context::runtime()?.block_on(wit::fetch(cx, &wit_project, WitOptions::default()))?;
    for package in wit_report.packages.iter().filter(|p| p.written) {
        output::status(&format!(
            "{} {} {} -> {}",
            output::good("fetched"),
            package.name,
            package.version,
            shown(&project, &package.path)
        ));
    }
    Ok(())
}

/// Prints the changes of the lock, one line each: locked, updated (old -> new), removed.
pub(crate) fn print_changes(changes: &[Change]) {
    for change in changes {
        let line = match (&change.old, &change.new) {
            (None, Some((version, digest))) => {
                format!(
                    "{} {} {version} ({})",
                    output::good("locked"),
                    change.name,
                    short(digest)
                )
            }
            (Some((old, old_digest)), Some((new, new_digest))) => format!(
                "{} {} {old} ({}) -> {new} ({})",
                output::good("updated"),
                change.name,
                short(old_digest),
                short(new_digest)
            ),
            (Some((old, _)), None) => {
                format!("{} {} {old}", output::good("removed"), change.name)
            }
            (None, None) => continue,
        };
        output::status(&line);
    }
}

/// Prints what an install did: lock changes, files written and removed, and a summary line
/// (stderr), or the report as JSON (stdout).
pub(crate) fn print_report(
    project: &Project,
    report: &InstallReport,
    json: bool,
) -> anyhow::Result<()> {
    print_report_from(project, report, json, None)
}

/// [`print_report`] for an install from the image layout `from`, when given.
pub(crate) fn print_report_from(
    project: &Project,
    report: &InstallReport,
    json: bool,
    from: Option<&str>,
) -> anyhow::Result<()> {
    if json {
        return output::json(report);
    }
    print_changes(&report.changes);
    let verb = if report.dry_run {
        "would install"
    } else {
        "installed"
    };
    let mut written = 0;
    for package in &report.packages {
        if package.action == Action::UpToDate {
            continue;
        }
        written += 1;
        output::status(&format!(
            "{} {} {} -> {}",
            output::good(verb),
            package.name,
            package.version,
            shown(project, &package.path)
        ));
    }
    for path in &report.removed_files {
        let verb = if report.dry_run {
            "would remove"
        } else {
            "removed"
        };
        output::status(&format!("{} {}", output::good(verb), shown(project, path)));
    }
    if let Some(from) = from {
        output::status(&format!(
            "installed from {from} by the digests of wasm.lock (no registry asked)"
        ));
    } else if report.tags_unchecked {
        output::warning(
            "--offline: installed from the local cache by digest; the tags were not checked",
        );
    }
    let total = report.packages.len();
    let summary = if report.dry_run {
        format!("dry run: {written} of {total} package(s) would be installed; nothing written")
    } else if written == 0
        && report.changes.is_empty()
        && report.removed_files.is_empty()
        && !report.lock_written
    {
        format!(
            "up to date: {total} package(s) match wasm.lock{}",
            if report.network {
                ""
            } else {
                " (no network request)"
            }
        )
    } else {
        let wit = report
            .packages
            .iter()
            .filter(|p| p.kind == wasm_package::Kind::Wit)
            .count();
        let place = match (wit, total - wit) {
            (0, _) => shown(project, &project.manifest.install_dir),
            (_, 0) => format!("{}/deps", shown(project, &project.manifest.wit_dir)),
            _ => format!(
                "{} and {}/deps",
                shown(project, &project.manifest.install_dir),
                shown(project, &project.manifest.wit_dir)
            ),
        };
        format!(
            "{total} package(s) in {place}, {written} installed{}",
            if report.lock_written {
                ", wasm.lock written"
            } else {
                ""
            }
        )
    };
    output::status(&summary);
    Ok(())
}
