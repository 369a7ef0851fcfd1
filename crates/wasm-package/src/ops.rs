//! The operations behind `wasm init`, `add`, `remove`, `install`, `update`, `outdated` and
//! `publish` (docs/packages.md). Pure logic over a [`PackageRegistry`]: the CLI passes the real
//! one, the tests a fake that counts requests.
//!
//! What must stay true (the lock's guarantees, docs/packages.md):
//! - `install` fetches exactly what the lock names, by digest, verified as it streams; it
//!   writes each file atomically; a failure leaves no partial file and the lock unchanged;
//! - whenever a locked package has to be fetched, the tag it was locked through is asked first;
//!   a tag that points at another manifest is an error showing both digests, and then nothing
//!   is written at all (no file, no lock);
//! - when every file is present with the locked digest (hashed) and the lock matches the
//!   manifest, no request is made at all;
//! - `--locked` fails when the lock is missing or would change; `--offline` uses the lock and
//!   the cache only;
//! - the kind of a newly resolved package comes from its layer ([`crate::wit::Artifact`]): WIT
//!   packages are written as WIT text to `wit/deps` (present = the file holds the text of the
//!   locked layer); WIT entries that wasm.toml does not list belong to `wit fetch`
//!   ([`crate::wit`]) and are kept as they are.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use wasm_registry::{Reference, RegistryError};

use crate::error::{FetchFailure, MovedTag, PackageError};
use crate::lock::{Kind, Lock, LockedPackage};
use crate::manifest::{Dependency, Manifest, RegistryPrefix, Source, edit};
use crate::mapping::{Mapper, Network};
use crate::name::PackageName;
use crate::registry::PackageRegistry;

/// A project: its manifest (and the manifest's text) and its lock, if any.
#[derive(Debug, Clone)]
pub struct Project {
    /// The checked manifest.
    pub manifest: Manifest,
    /// Its text, for edits.
    pub text: String,
    /// `wasm.lock`, when it exists.
    pub lock: Option<Lock>,
}

impl Project {
    /// The project whose `wasm.toml` is in `dir` or its nearest parent.
    pub fn find(dir: &Path) -> Result<Project, PackageError> {
        Project::open(&Manifest::find(dir)?)
    }

    /// The project of the manifest at `path`.
    pub fn open(path: &Path) -> Result<Project, PackageError> {
        let (manifest, text) = Manifest::load(path)?;
        let lock = Lock::load(&manifest.lock_path())?;
        Ok(Project {
            manifest,
            text,
            lock,
        })
    }

    /// Where an entry of the lock is installed.
    pub fn install_path(&self, entry: &LockedPackage) -> PathBuf {
        self.manifest.root().join(entry.kind.install_path(
            &self.manifest.install_dir,
            &self.manifest.wit_dir,
            &entry.name,
            entry.version.as_ref(),
        ))
    }
}

/// How an operation may use the lock and the network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// Fail when the lock is missing or would change.
    pub locked: bool,
    /// Use only the lock and the local cache.
    pub offline: bool,
    /// Resolve these packages again, ignoring the lock (`update`, `add`).
    pub update: Update,
    /// Resolve and report, write nothing.
    pub dry_run: bool,
    /// Packages to take out of the lock and the disk although they are WIT packages, which
    /// install otherwise keeps when wasm.toml does not list them (`remove`).
    pub drop: BTreeSet<PackageName>,
}

/// Which packages to resolve again although the lock has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Update {
    /// None: the lock stands where it matches the manifest.
    #[default]
    Nothing,
    /// Every dependency (`wasm update`).
    All,
    /// These (`wasm update NAME...`, `wasm add`).
    Only(BTreeSet<PackageName>),
}

impl Update {
    fn includes(&self, name: &PackageName) -> bool {
        match self {
            Update::Nothing => false,
            Update::All => true,
            Update::Only(names) => names.contains(name),
        }
    }
}

/// What happened to one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The file was present with the locked digest.
    UpToDate,
    /// The file was written (from the registry, or from the cache).
    Installed,
    /// Dry run: would be written.
    WouldInstall,
}

/// One package after an install.
#[derive(Debug, Clone, Serialize)]
pub struct PackageStatus {
    /// The name.
    pub name: String,
    /// What it is (where it went).
    pub kind: Kind,
    /// The version (or the reference of a `reference` dependency).
    pub version: String,
    /// `REGISTRY/REPOSITORY@DIGEST`.
    pub pinned: String,
    /// The layer digest (the file's).
    pub digest: String,
    /// The size in bytes.
    pub size: u64,
    /// The installed file.
    pub path: PathBuf,
    /// What was done.
    pub action: Action,
}

/// A change of the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The package.
    pub name: String,
    /// Before: version and manifest digest; `None` for a new package.
    pub old: Option<(String, String)>,
    /// After; `None` for a removed package.
    pub new: Option<(String, String)>,
}

/// What an install (or `add`, `remove`, `update`) did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    /// Every package of the lock, by name.
    pub packages: Vec<PackageStatus>,
    /// Changes of the lock (added, updated, removed).
    pub changes: Vec<Change>,
    /// Installed files removed because their package is no longer a dependency.
    pub removed_files: Vec<PathBuf>,
    /// Whether any request went to a registry or discovery server.
    pub network: bool,
    /// Whether wasm.lock was written.
    pub lock_written: bool,
    /// Nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// The tags of fetched packages were not checked (`--offline`).
    pub tags_unchecked: bool,
}

/// Everything an operation needs besides the project.
pub struct Context<'a, R> {
    /// The registries.
    pub registry: &'a R,
    /// The name mapping.
    pub mapper: &'a Mapper,
}

/// A hint for registry errors whose cause `wasm registry test` can tell.
fn diagnose_hint(error: &RegistryError, repository: &str) -> Option<String> {
    use RegistryError as E;
    let registry = repository.split('/').next().unwrap_or(repository);
    let path = repository.split_once('/').map_or("", |(_, p)| p);
    matches!(
        error,
        E::NoCredentials { .. }
            | E::Rejected { .. }
            | E::Denied { .. }
            | E::Credentials(_)
            | E::ConnectionRefused { .. }
            | E::Dns { .. }
            | E::Untrusted { .. }
            | E::NotTls { .. }
            | E::NeedsTls { .. }
            | E::Stalled { .. }
            | E::CleartextCredentials { .. }
    )
    .then(|| format!("`wasm registry test {registry} --repository {path}` tells why"))
}

pub(crate) fn registry_error(
    what: String,
    repository: &str,
    source: RegistryError,
) -> PackageError {
    PackageError::Registry {
        hint: diagnose_hint(&source, repository),
        what,
        source,
    }
}

/// Resolves one dependency against the registry: the repository (mapping), the version (tags),
/// and the manifest it points at now.
pub(crate) async fn resolve_dependency<R: PackageRegistry>(
    cx: &Context<'_, R>,
    manifest: Option<&Manifest>,
    name: &PackageName,
    dependency: &Dependency,
) -> Result<LockedPackage, PackageError> {
    let (repository, requirement, version, reference) = match dependency {
        Dependency::Reference(reference) => (
            reference.to_repository(),
            reference.to_string(),
            None,
            reference.clone(),
        ),
        Dependency::Version {
            requirement,
            source,
        } => {
            let mapped = cx
                .mapper
                .map(manifest, name, source, cx.registry, Network::Online)
                .await?
                .expect("online mapping always answers");
            let repository = mapped.repository;
            let tags = cx.registry.tags(&repository).await.map_err(|e| {
                registry_error(
                    format!(
                        "cannot list the versions of `{name}` in {repository} ({})",
                        mapped.rule
                    ),
                    &repository.to_string(),
                    e,
                )
            })?;
            let Some(version) = crate::resolve::select(requirement.req(), &tags) else {
                let available = crate::resolve::versions(&tags);
                let skip = available.len().saturating_sub(8);
                return Err(PackageError::NoMatchingVersion {
                    name: name.clone(),
                    requirement: requirement.as_str().to_owned(),
                    repository: repository.to_string(),
                    available: available
                        .iter()
                        .skip(skip)
                        .map(ToString::to_string)
                        .collect(),
                });
            };
            let reference = Reference::parse(&format!("{repository}:{version}"))?;
            (
                repository,
                requirement.as_str().to_owned(),
                Some(version),
                reference,
            )
        }
    };
    let summary = cx.registry.manifest(&reference).await.map_err(|e| {
        registry_error(
            format!("cannot resolve `{name}` ({reference})"),
            &repository.to_string(),
            e,
        )
    })?;
    tracing::info!("{name}: {reference} is {}", summary.digest);
    Ok(LockedPackage {
        name: name.clone(),
        kind: Kind::Component,
        requirement,
        version,
        repository,
        manifest_digest: summary.digest,
        layer_digest: summary.layer_digest,
        size: summary.size,
        text_digest: None,
    })
}

/// Why the lock entry does not fit the dependency any more, if it does not (no network: a
/// mapping that would need a discovery document the cache lacks is trusted).
pub(crate) async fn drift<R: PackageRegistry>(
    cx: &Context<'_, R>,
    manifest: Option<&Manifest>,
    entry: &LockedPackage,
    dependency: &Dependency,
) -> Result<Option<String>, PackageError> {
    let name = &entry.name;
    match dependency {
        Dependency::Reference(reference) => {
            if entry.requirement != reference.to_string() || entry.version.is_some() {
                return Ok(Some(format!(
                    "`{name}`: the reference changed to {reference} (locked: {})",
                    entry.requirement
                )));
            }
            if let Some(digest) = reference.digest()
                && digest != entry.manifest_digest
            {
                return Ok(Some(format!("`{name}`: the reference's digest changed")));
            }
            Ok(None)
        }
        Dependency::Version {
            requirement,
            source,
        } => {
            if entry.requirement != requirement.as_str() {
                return Ok(Some(format!(
                    "`{name}`: the requirement changed from `{}` to `{}`",
                    entry.requirement,
                    requirement.as_str()
                )));
            }
            let Some(version) = &entry.version else {
                return Ok(Some(format!("`{name}` was locked as a reference")));
            };
            if !requirement.req().matches(version) {
                return Ok(Some(format!(
                    "`{name}`: the locked version {version} does not match `{}`",
                    requirement.as_str()
                )));
            }
            let mapped = cx
                .mapper
                .map(manifest, name, source, cx.registry, Network::CacheOnly)
                .await;
            match mapped {
                Ok(Some(mapped)) if mapped.repository != entry.repository => Ok(Some(format!(
                    "`{name}` now maps to {} (locked: {}; {})",
                    mapped.repository, entry.repository, mapped.rule
                ))),
                Ok(_) => Ok(None),
                // A name that no longer maps anywhere: resolving it again says why.
                Err(_) => Ok(Some(format!(
                    "`{name}` no longer maps to {}",
                    entry.repository
                ))),
            }
        }
    }
}

/// Installs the project's dependencies as the lock says, resolving what the lock lacks (see the
/// module docs). `new_manifest_text`, when given (`add`, `remove`), replaces the manifest's
/// text once everything succeeded.
pub async fn install<R: PackageRegistry>(
    cx: &Context<'_, R>,
    project: &Project,
    new_manifest_text: Option<&str>,
    options: &InstallOptions,
) -> Result<InstallReport, PackageError> {
    let manifest = &project.manifest;
    let old = project.lock.clone().unwrap_or_default();
    let mut network = false;

    // 1. What of the lock still fits the manifest (no network).
    let mut kept: BTreeMap<PackageName, LockedPackage> = BTreeMap::new();
    let mut stale: Vec<(&PackageName, &Dependency, String)> = Vec::new();
    for (name, dependency) in &manifest.dependencies {
        let reason = match old.packages.get(name) {
            None => Some(format!("`{name}` is not in wasm.lock")),
            Some(entry) => drift(cx, Some(manifest), entry, dependency).await?,
        };
        match reason {
            None if !options.update.includes(name) => {
                kept.insert(name.clone(), old.packages[name].clone());
            }
            None => stale.push((name, dependency, format!("`{name}` is to be updated"))),
            Some(reason) => stale.push((name, dependency, reason)),
        }
    }
    // WIT packages that wasm.toml does not list are the dependencies of the WIT directory:
    // `wasm wit fetch` decides about them; install keeps them and their files as locked.
    for entry in old.packages.values() {
        if entry.kind == Kind::Wit
            && !manifest.dependencies.contains_key(&entry.name)
            && !options.drop.contains(&entry.name)
        {
            kept.insert(entry.name.clone(), entry.clone());
        }
    }
    let dropped: Vec<&LockedPackage> = old
        .packages
        .values()
        .filter(|p| {
            !manifest.dependencies.contains_key(&p.name)
                && (p.kind != Kind::Wit || options.drop.contains(&p.name))
        })
        .collect();
    if options.locked && (project.lock.is_none() || !stale.is_empty() || !dropped.is_empty()) {
        let mut changes: Vec<String> = stale.iter().map(|(_, _, why)| why.clone()).collect();
        changes.extend(
            dropped
                .iter()
                .map(|p| format!("`{}` is no longer a dependency", p.name)),
        );
        return Err(PackageError::Locked {
            command: "wasm install",
            missing: project.lock.is_none(),
            changes,
        });
    }
    if options.offline
        && let Some((name, _, why)) = stale.first()
    {
        return Err(PackageError::Offline {
            what: format!("resolve `{name}`"),
            why: why.clone(),
        });
    }

    // 2. Resolve what the lock lacks.
    let mut changes = Vec::new();
    let mut resolved = BTreeSet::new();
    for (name, dependency, why) in &stale {
        tracing::info!("resolving {why}");
        network = true;
        let mut entry = resolve_dependency(cx, Some(manifest), name, dependency).await?;
        (entry.kind, entry.text_digest) = crate::wit::detect_kind(cx, &entry).await?;
        let before = old
            .packages
            .get(*name)
            .map(|p| (p.describe_version(), p.manifest_digest.clone()));
        let after = Some((entry.describe_version(), entry.manifest_digest.clone()));
        if before != after {
            changes.push(Change {
                name: name.to_string(),
                old: before,
                new: after,
            });
        }
        resolved.insert((*name).clone());
        kept.insert((*name).clone(), entry);
    }
    for p in &dropped {
        changes.push(Change {
            name: p.name.to_string(),
            old: Some((p.describe_version(), p.manifest_digest.clone())),
            new: None,
        });
    }
    let new_lock = Lock { packages: kept };

    // 3. Which files are missing or differ (hashed).
    let mut statuses = Vec::new();
    let mut to_fetch = Vec::new();
    for entry in new_lock.packages.values() {
        let path = project.install_path(entry);
        let present = match entry.kind {
            Kind::Component => crate::files::is_installed(&path, &entry.layer_digest, entry.size),
            // A WIT package is written as text: present when the file holds the text of the
            // locked layer: its `text-digest`, or (a lock without one) the text decoded from the
            // cache; without either, the layer is fetched again.
            Kind::Wit if crate::wit::written_text(&path, entry).is_some() => true,
            Kind::Wit => match std::fs::read_to_string(&path) {
                Ok(text) => crate::wit::cached_text(cx, entry)
                    .await
                    .is_some_and(|t| t == text),
                Err(_) => false,
            },
        };
        let action = match (present, options.dry_run) {
            (true, _) => Action::UpToDate,
            (false, true) => Action::WouldInstall,
            (false, false) => Action::Installed,
        };
        if !present {
            to_fetch.push((entry, path.clone()));
        }
        statuses.push(PackageStatus {
            name: entry.name.to_string(),
            kind: entry.kind,
            version: entry.describe_version(),
            pinned: entry.pinned().to_string(),
            digest: entry.layer_digest.clone(),
            size: entry.size,
            path,
            action,
        });
    }
    // A WIT package's path names its version: an updated one leaves its old file behind.
    let superseded = new_lock.packages.values().filter_map(|entry| {
        let before = old.packages.get(&entry.name)?;
        let path = project.install_path(before);
        (path != project.install_path(entry)).then_some(path)
    });
    let removed_files: Vec<PathBuf> = dropped
        .iter()
        .map(|p| project.install_path(p))
        .chain(superseded)
        .filter(|p| p.exists())
        .collect();
    let lock_changes = project.lock.as_ref() != Some(&new_lock);
    if options.dry_run {
        return Ok(InstallReport {
            packages: statuses,
            changes,
            removed_files,
            network,
            lock_written: false,
            dry_run: true,
            tags_unchecked: false,
        });
    }

    // 4. Before fetching a locked package, its tag must still point at the locked manifest.
    if !options.offline {
        let mut moved = Vec::new();
        for (entry, _) in &to_fetch {
            if resolved.contains(&entry.name) {
                continue;
            }
            let Some(tagged) = entry.tagged() else {
                continue;
            };
            network = true;
            match cx.registry.manifest(&tagged).await {
                Ok(now) if now.digest != entry.manifest_digest => moved.push(MovedTag {
                    name: entry.name.clone(),
                    reference: tagged.to_string(),
                    locked: entry.manifest_digest.clone(),
                    now: now.digest,
                }),
                Ok(_) => {}
                Err(RegistryError::NotFound { .. }) => tracing::warn!(
                    "{tagged} no longer exists; installing {} by its locked digest",
                    entry.name
                ),
                Err(e) => {
                    return Err(registry_error(
                        format!("cannot check the tag of `{}` ({tagged})", entry.name),
                        &entry.repository.to_string(),
                        e,
                    ));
                }
            }
        }
        if !moved.is_empty() {
            return Err(PackageError::MovedTags { moved });
        }
    }

    // 5. Fetch, by digest, concurrently (WIT packages one by one: each is decoded and written
    // as text).
    let (wit_fetch, to_fetch): (Vec<_>, Vec<_>) = to_fetch
        .into_iter()
        .partition(|(entry, _)| entry.kind == Kind::Wit);
    for (entry, path) in &wit_fetch {
        network |= !options.offline;
        crate::wit::install_entry(cx, entry, path, options.offline).await?;
    }
    if !to_fetch.is_empty() {
        network |= !options.offline;
        let items: Vec<(Reference, PathBuf)> = to_fetch
            .iter()
            .map(|(entry, path)| (entry.pinned(), path.clone()))
            .collect();
        for (_, path) in &items {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| PackageError::Io {
                    what: "create the directory",
                    path: dir.to_owned(),
                    source,
                })?;
            }
        }
        let results = cx.registry.fetch_all(&items, options.offline).await;
        let mut failures = Vec::new();
        for ((entry, path), result) in to_fetch.iter().zip(results) {
            let error = match result {
                Ok(fetched) if fetched.layer_digest == entry.layer_digest => continue,
                Ok(fetched) => {
                    // Cannot happen with a registry that serves what it is asked for by digest;
                    // the file written does not match the lock, so it goes.
                    let _ = std::fs::remove_file(path);
                    entry.layer_mismatch(&fetched.layer_digest)
                }
                Err(RegistryError::Offline { what, .. }) if options.offline => {
                    return Err(PackageError::Offline {
                        what: format!("install `{}` ({})", entry.name, entry.pinned()),
                        why: what,
                    });
                }
                Err(e) => e,
            };
            failures.push(FetchFailure {
                name: entry.name.clone(),
                error,
            });
        }
        if !failures.is_empty() {
            return Err(PackageError::Fetch {
                total: items.len(),
                failures,
            });
        }
    }

    // 6. Drop what is no longer listed, then record.
    for path in &removed_files {
        crate::files::remove_installed(path, manifest.root())?;
    }
    if let Some(text) = new_manifest_text {
        crate::files::write_atomically(&manifest.path, text.as_bytes())?;
    }
    if lock_changes {
        new_lock.save(&manifest.lock_path())?;
    }
    Ok(InstallReport {
        packages: statuses,
        changes,
        removed_files,
        network,
        lock_written: lock_changes,
        dry_run: false,
        tags_unchecked: options.offline && !(to_fetch.is_empty() && wit_fetch.is_empty()),
    })
}

/// What `wasm add` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddTarget {
    /// `NS:NAME[@REQ]`.
    Name {
        /// The package.
        name: PackageName,
        /// The requirement, if given.
        requirement: Option<String>,
    },
    /// `REGISTRY/REPOSITORY:TAG|@DIGEST`, under a name.
    Reference {
        /// The name it is listed under.
        name: PackageName,
        /// The artifact.
        reference: Reference,
    },
}

impl AddTarget {
    /// Parses `wasm add`'s argument: a reference when it has a `/`, else `NS:NAME[@REQ]`. A
    /// reference is listed under `name` when given, else under its repository's last two
    /// segments (`ghcr.io/acme/tool:1` -> `acme:tool`).
    pub fn parse(arg: &str, name: Option<&str>) -> Result<AddTarget, PackageError> {
        let explicit = name
            .map(PackageName::parse)
            .transpose()
            .map_err(|e| PackageError::Usage(format!("{e}")))?;
        if arg.contains('/') {
            let reference = Reference::parse(arg)?;
            if !crate::manifest::has_registry_host(arg) {
                return Err(PackageError::Usage(format!(
                    "`{arg}` has no registry: write the whole reference, like \
                     `ghcr.io/acme/tool:1.0`"
                )));
            }
            let name = match explicit {
                Some(name) => name,
                None => {
                    let mut segments = reference.repository().rsplit('/');
                    let last = segments.next().unwrap_or_default();
                    let namespace = segments.next().unwrap_or_default();
                    PackageName::parse(&format!("{namespace}:{last}")).map_err(|_| {
                        PackageError::Usage(format!(
                            "cannot name `{arg}` after its repository; give a name with \
                             `--name NS:NAME`"
                        ))
                    })?
                }
            };
            return Ok(AddTarget::Reference { name, reference });
        }
        if explicit.is_some() {
            return Err(PackageError::Usage(
                "--name is for references; a package name names itself".into(),
            ));
        }
        let (name, requirement) = match arg.split_once('@') {
            Some((name, req)) => (name, Some(req.to_owned())),
            None => (arg, None),
        };
        let name = PackageName::parse(name).map_err(|e| {
            PackageError::Usage(format!("{e}; or give a reference REGISTRY/REPOSITORY:TAG"))
        })?;
        if let Some(req) = &requirement
            && let Err(e) = crate::manifest::Requirement::parse(req)
        {
            return Err(PackageError::Usage(format!(
                "invalid version requirement `{req}` in `{arg}`: {e}; write it like \
                 `{name}@1.2` (Cargo's rules: ^1.2)"
            )));
        }
        Ok(AddTarget::Name { name, requirement })
    }
}

/// `wasm add`: writes the dependency into the manifest, resolves it (again, if the lock has
/// it), and installs. The manifest and the lock are written only when everything worked.
pub async fn add<R: PackageRegistry>(
    cx: &Context<'_, R>,
    project: &Project,
    target: &AddTarget,
    registry_prefix: Option<&RegistryPrefix>,
    options: &InstallOptions,
) -> Result<InstallReport, PackageError> {
    let (name, dependency) = match target {
        AddTarget::Reference { name, reference } => {
            if registry_prefix.is_some() {
                return Err(PackageError::Usage(
                    "--registry is for package names; a reference names its registry".into(),
                ));
            }
            (name, edit::NewDependency::Reference(reference.to_string()))
        }
        AddTarget::Name { name, requirement } => {
            let requirement = match requirement {
                Some(req) => req.clone(),
                None => {
                    if options.offline {
                        return Err(PackageError::Offline {
                            what: format!("add `{name}`"),
                            why: "without a requirement, the newest version must be looked up"
                                .into(),
                        });
                    }
                    let source =
                        registry_prefix.map_or(Source::Mapped, |p| Source::Prefix(p.clone()));
                    let mapped = cx
                        .mapper
                        .map(
                            Some(&project.manifest),
                            name,
                            &source,
                            cx.registry,
                            Network::Online,
                        )
                        .await?
                        .expect("online mapping always answers");
                    let tags = cx.registry.tags(&mapped.repository).await.map_err(|e| {
                        registry_error(
                            format!(
                                "cannot list the versions of `{name}` in {} ({})",
                                mapped.repository, mapped.rule
                            ),
                            &mapped.repository.to_string(),
                            e,
                        )
                    })?;
                    let newest = crate::resolve::newest_release(&tags).ok_or_else(|| {
                        PackageError::NoMatchingVersion {
                            name: name.clone(),
                            requirement: "*".into(),
                            repository: mapped.repository.to_string(),
                            available: crate::resolve::versions(&tags)
                                .iter()
                                .map(ToString::to_string)
                                .collect(),
                        }
                    })?;
                    newest.to_string()
                }
            };
            let dependency = match registry_prefix {
                Some(prefix) => edit::NewDependency::VersionAt {
                    version: requirement,
                    registry: prefix.to_string(),
                },
                None => edit::NewDependency::Version(requirement),
            };
            (name, dependency)
        }
    };
    let text = edit::set_dependency(&project.text, name, &dependency).map_err(|e| {
        PackageError::Usage(format!(
            "cannot edit {}: {e}",
            project.manifest.path.display()
        ))
    })?;
    let manifest = Manifest::parse(&text, &project.manifest.path)?;
    let updated = Project {
        manifest,
        text: text.clone(),
        lock: project.lock.clone(),
    };
    let options = InstallOptions {
        update: Update::Only(BTreeSet::from([name.clone()])),
        ..options.clone()
    };
    install(cx, &updated, Some(&text), &options).await
}

/// `wasm remove`: drops the dependency from the manifest, the lock and the install directory.
pub async fn remove<R: PackageRegistry>(
    cx: &Context<'_, R>,
    project: &Project,
    name: &str,
    options: &InstallOptions,
) -> Result<InstallReport, PackageError> {
    let edited = edit::remove_dependency(&project.text, name).map_err(|e| {
        PackageError::Usage(format!(
            "cannot edit {}: {e}",
            project.manifest.path.display()
        ))
    })?;
    let Some(text) = edited else {
        return Err(PackageError::NotADependency {
            name: name.to_owned(),
            path: project.manifest.path.clone(),
            known: project
                .manifest
                .dependencies
                .keys()
                .map(ToString::to_string)
                .collect(),
        });
    };
    let manifest = Manifest::parse(&text, &project.manifest.path)?;
    let updated = Project {
        manifest,
        text: text.clone(),
        lock: project.lock.clone(),
    };
    let mut options = options.clone();
    if let Ok(name) = PackageName::parse(name) {
        options.drop.insert(name);
    }
    install(cx, &updated, Some(&text), &options).await
}

/// One line of `wasm outdated`.
#[derive(Debug, Clone, Serialize)]
pub struct Outdated {
    /// The package.
    pub name: String,
    /// The requirement in wasm.toml.
    pub requirement: String,
    /// The locked version, if locked.
    pub locked: Option<String>,
    /// The newest version the requirement allows.
    pub compatible: Option<String>,
    /// The newest release of all.
    pub latest: Option<String>,
    /// The repository.
    pub repository: String,
}

impl Outdated {
    /// Whether a newer version exists than the locked one.
    pub fn is_outdated(&self) -> bool {
        let parse = |v: &Option<String>| v.as_deref().and_then(|v| semver::Version::parse(v).ok());
        let locked = parse(&self.locked);
        [parse(&self.compatible), parse(&self.latest)]
            .into_iter()
            .flatten()
            .any(|v| locked.as_ref().is_none_or(|l| v > *l))
    }
}

/// `wasm outdated`: for each versioned dependency, the locked version, the newest the
/// requirement allows and the newest of all. `reference` dependencies have no versions and are
/// left out.
pub async fn outdated<R: PackageRegistry>(
    cx: &Context<'_, R>,
    project: &Project,
) -> Result<Vec<Outdated>, PackageError> {
    let mut lines = Vec::new();
    for (name, dependency) in &project.manifest.dependencies {
        let Dependency::Version {
            requirement,
            source,
        } = dependency
        else {
            continue;
        };
        let mapped = cx
            .mapper
            .map(
                Some(&project.manifest),
                name,
                source,
                cx.registry,
                Network::Online,
            )
            .await?
            .expect("online mapping always answers");
        let tags = cx.registry.tags(&mapped.repository).await.map_err(|e| {
            registry_error(
                format!(
                    "cannot list the versions of `{name}` in {}",
                    mapped.repository
                ),
                &mapped.repository.to_string(),
                e,
            )
        })?;
        lines.push(Outdated {
            name: name.to_string(),
            requirement: requirement.as_str().to_owned(),
            locked: project
                .lock
                .as_ref()
                .and_then(|l| l.packages.get(name))
                .and_then(|p| p.version.as_ref())
                .map(ToString::to_string),
            compatible: crate::resolve::select(requirement.req(), &tags).map(|v| v.to_string()),
            latest: crate::resolve::newest_release(&tags).map(|v| v.to_string()),
            repository: mapped.repository.to_string(),
        });
    }
    Ok(lines)
}

/// What `wasm publish` did or would do.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// `REGISTRY/REPOSITORY:VERSION`.
    pub reference: String,
    /// `REGISTRY/REPOSITORY@DIGEST`, once pushed (or when the version already held the file).
    pub pinned: Option<String>,
    /// The file.
    pub file: PathBuf,
    /// Its digest.
    pub file_digest: String,
    /// Its size.
    pub size: u64,
    /// The manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// How the repository was found.
    pub rule: String,
    /// What happened.
    pub outcome: PublishOutcome,
}

/// The outcome of `publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PublishOutcome {
    /// Pushed; the version did not exist.
    Pushed,
    /// Pushed over a version that held other content (`--force`).
    Replaced,
    /// The version already holds this file with these annotations: nothing pushed.
    AlreadyPublished,
    /// `--dry-run`: would push.
    WouldPush,
}

/// `wasm publish`: validates `[package].file` (or builds the WIT package of `[package].wit`
/// with [`crate::wit::build`]), finds the repository (`[package].repository`, or
/// the name mapping), refuses to replace a version that holds other content unless `force`, and
/// pushes with the `[package]` annotations, tagged with the version.
pub async fn publish<R: PackageRegistry>(
    cx: &Context<'_, R>,
    project: &Project,
    force: bool,
    dry_run: bool,
) -> Result<PublishReport, PackageError> {
    let manifest = &project.manifest;
    let Some(package) = &manifest.package else {
        return Err(PackageError::NoPackage {
            path: manifest.path.clone(),
        });
    };
    // A WIT package is built into a temporary file, which lives until the push is done.
    let mut _built = None;
    let (file, key) = match (&package.file, &package.wit) {
        (Some(file), _) => (manifest.root().join(file), "file"),
        (None, wit) => {
            let wit_dir = manifest.root().join(
                wit.as_deref()
                    .unwrap_or(Path::new(crate::manifest::DEFAULT_WIT_DIR)),
            );
            let (name, bytes) = crate::wit::build(&wit_dir)?;
            if name.name != package.name || name.version.as_ref() != Some(&package.version) {
                return Err(PackageError::WitMismatch {
                    dir: wit_dir,
                    found: name.to_string(),
                    manifest: manifest.path.clone(),
                    expected: format!("{}@{}", package.name, package.version),
                });
            }
            let dir = tempfile::tempdir().map_err(|source| PackageError::Io {
                what: "create a temporary directory for",
                path: std::env::temp_dir(),
                source,
            })?;
            let path = dir.path().join(format!("{}.wasm", package.name.name()));
            crate::files::write_atomically(&path, &bytes)?;
            _built = Some(dir);
            (path, "wit")
        }
    };
    if key == "file"
        && std::fs::metadata(&file).is_ok_and(|m| m.len() <= crate::wit::MAX_WIT_PACKAGE)
        && let Ok(bytes) = std::fs::read(&file)
        && let crate::wit::Artifact::Wit(summary) = crate::wit::Artifact::of(&bytes)
    {
        return Err(PackageError::NotAComponent {
            what: format!(
                "{} (`file` of [package] in {})",
                file.display(),
                manifest.path.display()
            ),
            package: summary.package,
            fix: "publish a WIT package from its WIT text: replace `file` with `wit = \"wit\"` \
                  (its directory) in [package]"
                .into(),
        });
    }
    let checked = wasm_registry::check_file(&file).map_err(|e| PackageError::Registry {
        what: format!(
            "cannot publish {} (`{key}` of [package] in {})",
            file.display(),
            manifest.path.display()
        ),
        hint: None,
        source: RegistryError::Component(e),
    })?;
    let (repository, rule) = match &package.repository {
        Some(repository) => (
            repository.clone(),
            format!("`repository` of [package] in {}", manifest.path.display()),
        ),
        None => {
            let mapped = cx
                .mapper
                .map(
                    Some(manifest),
                    &package.name,
                    &Source::Mapped,
                    cx.registry,
                    Network::Online,
                )
                .await?
                .expect("online mapping always answers");
            (mapped.repository, mapped.rule)
        }
    };
    let reference = Reference::parse(&format!("{repository}:{}", package.version))?;
    let mut annotations = package.annotations.clone();
    annotations.insert(
        "org.opencontainers.image.version".into(),
        package.version.to_string(),
    );
    annotations.insert(
        "org.opencontainers.image.title".into(),
        package.name.to_string(),
    );
    let existing = match cx.registry.manifest(&reference).await {
        Ok(summary) => Some(summary),
        Err(RegistryError::NotFound { .. }) => None,
        Err(e) => {
            return Err(registry_error(
                format!("cannot check whether {reference} exists"),
                &repository.to_string(),
                e,
            ));
        }
    };
    let mut report = PublishReport {
        reference: reference.to_string(),
        pinned: None,
        // A built WIT package is named by its directory, not by the temporary file.
        file: match (key, &package.wit) {
            ("wit", Some(wit)) => manifest.root().join(wit),
            _ => file.clone(),
        },
        file_digest: checked.digest.clone(),
        size: checked.size,
        annotations: annotations.clone(),
        rule,
        outcome: PublishOutcome::WouldPush,
    };
    let mut outcome = PublishOutcome::Pushed;
    if let Some(existing) = existing {
        let same = existing.layer_digest == checked.digest
            && annotations
                .iter()
                .all(|(k, v)| existing.annotations.get(k) == Some(v));
        if same {
            report.pinned = Some(reference.pinned(&existing.digest));
            report.outcome = PublishOutcome::AlreadyPublished;
            return Ok(report);
        }
        if !force {
            return Err(PackageError::VersionExists {
                reference: reference.to_string(),
                existing: existing.digest,
                existing_layer: existing.layer_digest,
                file_layer: checked.digest,
            });
        }
        tracing::warn!(
            "--force: replacing {reference} (was {}); locks that pinned it will refuse the new \
             content",
            existing.digest
        );
        outcome = PublishOutcome::Replaced;
    }
    if dry_run {
        return Ok(report);
    }
    let digest = cx
        .registry
        .push(&reference, &file, &annotations)
        .await
        .map_err(|e| {
            registry_error(
                format!("cannot publish {reference}"),
                &repository.to_string(),
                e,
            )
        })?;
    report.pinned = Some(reference.pinned(&digest));
    report.outcome = outcome;
    Ok(report)
}

/// The commented `wasm.toml` that `wasm init` writes.
pub fn init_template(name: &PackageName) -> String {
    format!(
        r#"# wasm.toml: this project's package and its dependencies (docs/packages.md).

[package]
name = "{name}"
version = "0.1.0"
# The built component that `wasm publish` pushes, relative to this file.
file = "{name_only}.wasm"
# description = "What it does"
# license = "Apache-2.0"
# authors = ["Your Name <you@example.com>"]
# source = "https://github.com/you/{name_only}"
# repository = "ghcr.io/you/{name_only}"   # the whole OCI repository, if the mapping does not give it

[dependencies]
# "wasi:http" = "0.2"                                         # Cargo's rules: ^0.2
# "acme:logger" = {{ version = "1.2", registry = "ghcr.io/acme" }}
# "acme:tool" = {{ reference = "ghcr.io/acme/tool@sha256:..." }}

[namespaces]
# Where the packages of a namespace live: acme:logger -> ghcr.io/acme/acme/logger
# acme = "ghcr.io/acme"

# [install]
# dir = "vendor/wasm"   # dependencies land in DIR/NAMESPACE/NAME.wasm
"#,
        name_only = name.name()
    )
}

/// `wasm init`: writes [`init_template`] as `dir/wasm.toml`; refuses to overwrite one.
pub fn init(dir: &Path, name: &PackageName) -> Result<PathBuf, PackageError> {
    use std::io::Write as _;
    let path = dir.join(crate::manifest::MANIFEST_FILE);
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(PackageError::ManifestExists { path });
        }
        Err(source) => {
            return Err(PackageError::Io {
                what: "create",
                path,
                source,
            });
        }
    };
    file.write_all(init_template(name).as_bytes())
        .map_err(|source| PackageError::Io {
            what: "write",
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests;
