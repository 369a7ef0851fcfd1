//! `wasm copy SRC DST [--tags ...] [-r]`.

use std::process::ExitCode;
use std::sync::Arc;

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use wasm_registry::{
    CopyOptions, CopyOutcome, LayoutTarget, Location, NoProgress, Reference, copy, copy_all,
    copy_each, location_tags,
};

use crate::cli::{GlobalOpts, JsonOpt, NetworkOpts, RegistryOpts};
use crate::context;
use crate::output::{self, Bars};

/// Copy artifacts between registries and OCI image layouts, with everything they name
///
/// The manifest is copied byte for byte (its digest stays the same), then every blob the target
/// lacks: mounted when both ends are repositories of the same registry, else streamed and
/// checked against its digest. The manifest is written last, so a copy that fails leaves no
/// tag pointing at missing blobs, and a repeated copy sends only what is still missing. Source
/// and target each get the credentials the chain finds for them.
#[derive(Debug, Args)]
#[command(after_help = output::with_exit_status("Examples:
  wasm copy ghcr.io/me/hello:1.0.0 registry.example.com/mirror/hello:1.0.0
  wasm copy ghcr.io/me/hello:1.0.0 oci:./layout            # into a layout directory, tag 1.0.0
  wasm copy oci-archive:deps.tar:1.0.0 localhost:5000/hello:1.0.0
  wasm copy ghcr.io/me/hello registry.example.com/hello --tags '^1' -r
  wasm copy ghcr.io/me/hello oci-archive:hello.tar --tags 1.0.0,1.1.0
  wasm copy --lock wasm.lock oci-archive:deps.tar         # every locked package, by digest"))]
pub(crate) struct Opts {
    /// What to copy: [REGISTRY/]REPOSITORY[:TAG|@DIGEST], oci:DIR[:TAG|@DIGEST] or
    /// oci-archive:FILE.tar[:TAG|@DIGEST]; with --tags, a repository or layout; with --lock,
    /// the target
    source: String,
    /// Where to copy it, in the same forms; without a tag, the source's tag (or its digest).
    /// With --lock, the one location given is the target
    target: Option<String>,
    /// Copy every package of this wasm.lock, by its locked digest (to carry across an air gap
    /// and install with `wasm install --from`)
    #[arg(long, value_name = "WASM_LOCK", conflicts_with = "tags")]
    lock: Option<PathBuf>,
    /// Also copy every artifact attached to what is copied (signatures, SBOMs, attestations),
    /// recursively
    #[arg(short, long)]
    referrers: bool,
    /// Copy several tags: a comma-separated list (1.0.0,1.1.0) or, when it has an operator, a
    /// semver requirement matched against the source's version tags ('^1', '>=1.2, <2')
    #[arg(long, value_name = "TAGS")]
    tags: Option<String>,
    /// How many blobs to copy at once (and, with --tags into a registry, how many tags)
    #[arg(short, long, value_name = "N", env = "WASM_JOBS", default_value_t = 4)]
    jobs: usize,
    #[command(flatten)]
    registry: RegistryOpts,
    #[command(flatten)]
    network: NetworkOpts,
    #[command(flatten)]
    json: JsonOpt,
}

impl Opts {
    pub(crate) fn run(self, global: &GlobalOpts) -> anyhow::Result<ExitCode> {
        let transport = context::transport(global, &self.registry, Some(&self.network))?;
        let options = CopyOptions {
            referrers: self.referrers,
            jobs: self.jobs.max(1),
        };
        let runtime = context::runtime()?;
        if let Some(lock) = &self.lock {
            if let Some(extra) = &self.target {
                bail!(
                    "with --lock, give only the target (`{extra}` is one too many): \
                     wasm copy --lock wasm.lock oci-archive:deps.tar"
                );
            }
            let target = Location::parse(&self.source)?;
            let Some(locked) = wasm_package::Lock::load(lock)? else {
                bail!(
                    "{} does not exist; run `wasm install` to write it first",
                    lock.display()
                );
            };
            let sources: Vec<Location> = locked
                .packages
                .values()
                .map(|p| Location::Registry(p.pinned()))
                .collect();
            let outcomes = runtime.block_on(copy_all(
                &transport,
                &sources,
                &target,
                options,
                Arc::new(Bars::new()),
            ))?;
            for outcome in &outcomes {
                report(outcome);
            }
            output::status(&format!(
                "{} package(s) of {} copied to {target}",
                outcomes.len(),
                lock.display()
            ));
            if self.json.json {
                output::json(&outcomes)?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        let source = Location::parse(&self.source)?;
        let Some(target) = &self.target else {
            bail!("give a TARGET to copy {source} to (or --lock wasm.lock TARGET)");
        };
        let target = Location::parse(target)?;
        let Some(selection) = &self.tags else {
            let outcome = runtime.block_on(copy(
                &transport,
                &source,
                &target,
                options,
                Arc::new(Bars::new()),
            ))?;
            report(&outcome);
            if self.json.json {
                output::json(&outcome)?;
            }
            return Ok(ExitCode::SUCCESS);
        };
        let selection = TagSelection::parse(selection)?;
        let available = runtime.block_on(location_tags(&transport, &source))?;
        let chosen = selection.select(&available, &source)?;
        let pairs = chosen
            .iter()
            .map(|tag| Ok((with_tag(&source, tag)?, with_tag(&target, tag)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Several tags at once into a registry (--jobs of them, each with its blobs
        // concurrently); into a layout one after the other.
        let results = runtime.block_on(copy_each(
            &transport,
            &pairs,
            options,
            self.jobs,
            Arc::new(NoProgress),
        ));
        let mut outcomes = Vec::new();
        let mut failed = Vec::new();
        for ((from, _), result) in pairs.iter().zip(results) {
            match result {
                Ok(outcome) => {
                    report(&outcome);
                    outcomes.push(outcome);
                }
                Err(e) => {
                    output::report_error(&anyhow::Error::new(e));
                    failed.push(from.to_string());
                }
            }
        }
        if self.json.json {
            output::json(&outcomes)?;
        }
        if !failed.is_empty() {
            bail!(
                "{} of {} copies failed: {}",
                failed.len(),
                pairs.len(),
                failed.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn report(o: &CopyOutcome) {
    let mut line = format!(
        "{} {} -> {} ({}; {} blob(s) copied, {}",
        output::good("copied"),
        o.source,
        o.target,
        o.digest,
        o.blobs_copied,
        output::human_size(o.bytes_copied),
    );
    if o.blobs_mounted > 0 {
        line.push_str(&format!(", {} mounted", o.blobs_mounted));
    }
    line.push_str(&format!(", {} already there", o.blobs_present));
    if let Some(via) = o.referrers_found_by {
        line.push_str(&format!(
            "; {} referrer(s), found through {via}",
            o.referrers.len()
        ));
    }
    line.push(')');
    output::status(&line);
}

/// The location with `tag` instead of its own.
fn with_tag(location: &Location, tag: &str) -> anyhow::Result<Location> {
    Ok(match location {
        Location::Registry(r) => {
            Location::Registry(Reference::parse(&format!("{}:{tag}", r.to_repository()))?)
        }
        Location::Layout(l) => {
            Location::Layout(l.with_target(Some(LayoutTarget::Tag(tag.to_owned()))))
        }
    })
}

/// What `--tags` selects.
#[derive(Debug)]
enum TagSelection {
    /// These tags.
    List(Vec<String>),
    /// The version tags matching a requirement.
    Requirement(semver::VersionReq),
}

impl TagSelection {
    fn parse(text: &str) -> anyhow::Result<Self> {
        if text.contains(['^', '~', '<', '>', '=', '*']) {
            let requirement = semver::VersionReq::parse(text).with_context(|| {
                format!("`--tags {text}` is not a semver requirement (e.g. '^1' or '>=1.2, <2')")
            })?;
            return Ok(Self::Requirement(requirement));
        }
        let tags: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        if tags.is_empty() {
            bail!("`--tags` names no tag; give a list (1.0.0,1.1.0) or a requirement ('^1')");
        }
        Ok(Self::List(tags))
    }

    fn select(&self, available: &[String], source: &Location) -> anyhow::Result<Vec<String>> {
        let known = || {
            if available.is_empty() {
                "none".to_owned()
            } else {
                available.join(", ")
            }
        };
        match self {
            Self::List(tags) => {
                if let Some(missing) = tags.iter().find(|t| !available.contains(t)) {
                    bail!("{source} has no tag `{missing}` (its tags: {})", known());
                }
                Ok(tags.clone())
            }
            Self::Requirement(requirement) => {
                let chosen: Vec<String> = available
                    .iter()
                    .filter(|t| {
                        semver::Version::parse(t.strip_prefix('v').unwrap_or(t))
                            .is_ok_and(|v| requirement.matches(&v))
                    })
                    .cloned()
                    .collect();
                if chosen.is_empty() {
                    bail!(
                        "no tag of {source} matches `{requirement}` (its tags: {})",
                        known()
                    );
                }
                Ok(chosen)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_selections() {
        let available: Vec<String> = ["0.9.0", "1.0.0", "1.2.0", "2.0.0", "latest"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let source = Location::parse("oci:x").unwrap();
        let pick = |t: &str| TagSelection::parse(t).unwrap().select(&available, &source);
        assert_eq!(pick("^1").unwrap(), ["1.0.0", "1.2.0"]);
        assert_eq!(pick("1.0.0, latest").unwrap(), ["1.0.0", "latest"]);
        assert_eq!(
            pick("3.0.0").unwrap_err().to_string(),
            "oci:x has no tag `3.0.0` (its tags: 0.9.0, 1.0.0, 1.2.0, 2.0.0, latest)"
        );
        assert!(pick(">=5").is_err());
    }
}
