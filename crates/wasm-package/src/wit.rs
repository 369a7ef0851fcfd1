//! WIT interface packages (docs/wit.md): the second kind of package, fetched into `wit/deps`.
//!
//! A WIT package lives in a registry as a binary-encoded WIT package (a component that holds
//! only types) in the oci-wasm layout, tagged with its version. `wasm wit fetch` parses the
//! local `wit/` directory, finds the foreign packages it uses, resolves each through the name
//! mapping and the lock, pulls it (by digest, verified, through the cache), decodes it, and
//! writes it whole as WIT text to `wit/deps/NS-NAME-VERSION/package.wit` (wkg's layout, which
//! wit-parser and the bindgen tools read); then it does the same for the packages those use,
//! until closed.
//!
//! What must stay true:
//! - the lock governs exactly as for components (docs/packages.md): a locked package is
//!   fetched by its digest, a moved tag is refused, `--locked` fails on any change, `--offline`
//!   uses the lock and the cache only, and nothing changed means no request at all (a file
//!   whose digest is the entry's `text-digest` is up to date, and what it uses is read from it);
//! - every package is fetched and decoded before anything is written: a failed fetch leaves
//!   the previous `wit/deps` and `wasm.lock` as they were;
//! - one version per package name: two packages that need different versions of one package
//!   are an error naming both paths, unless wasm.toml's requirement governs that name;
//! - the result is resolved with wit-parser, and its errors name the file and line.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use serde::Serialize;
use wasm_registry::RegistryError;
use wit_component::{DecodedWasm, WitPrinter};
use wit_parser::{Resolve, UnresolvedPackageGroup};

use crate::error::PackageError;
use crate::lock::{Kind, Lock, LockedPackage};
use crate::manifest::{Dependency, Manifest, Requirement, Source};
use crate::name::PackageName;
use crate::ops::{Change, Context};
use crate::registry::PackageRegistry;

/// The directory of a WIT package's dependencies, inside its WIT directory.
pub const DEPS_DIR: &str = "deps";

/// The file each fetched package is written to, inside its own directory.
pub const PACKAGE_FILE: &str = "package.wit";

/// Where a WIT package is written: `WIT_DIR/deps/NS-NAME-VERSION/package.wit` (wkg's layout).
pub fn deps_path(wit_dir: &Path, name: &PackageName, version: Option<&semver::Version>) -> PathBuf {
    let dir = match version {
        Some(version) => format!("{}-{}-{version}", name.namespace(), name.name()),
        None => format!("{}-{}", name.namespace(), name.name()),
    };
    wit_dir.join(DEPS_DIR).join(dir).join(PACKAGE_FILE)
}

/// A foreign package that a WIT package uses, with the version it names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Use {
    /// The package.
    pub name: PackageName,
    /// The version named (`@0.2.3`), if any.
    pub version: Option<semver::Version>,
}

impl std::fmt::Display for Use {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{v}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

fn convert_name(name: &wit_parser::PackageName) -> Result<Use, PackageError> {
    let text = format!("{}:{}", name.namespace, name.name);
    let parsed = PackageName::parse(&text).map_err(|e| PackageError::Usage(e.to_string()))?;
    Ok(Use {
        name: parsed,
        version: name.version.clone(),
    })
}

/// The local WIT package in `wit_dir` (its top-level `*.wit` files): its name and the foreign
/// packages it uses (`use`, `import`, `include` of `ns:name/...@version`), sorted.
pub fn local_package(wit_dir: &Path) -> Result<(Use, Vec<Use>), PackageError> {
    if !has_wit_files(wit_dir) {
        return Err(PackageError::NoWitDir {
            dir: wit_dir.to_owned(),
        });
    }
    let mut map = wit_parser::SourceMap::new();
    map.push_dir(wit_dir).map_err(|e| PackageError::WitText {
        dir: wit_dir.to_owned(),
        message: format!("{e:#}"),
    })?;
    let group: UnresolvedPackageGroup = map.parse().map_err(|(map, e)| {
        let kind = e.kind();
        PackageError::WitText {
            dir: wit_dir.to_owned(),
            message: format!("{}: {kind}", map.render_location(kind.span())),
        }
    })?;
    Ok((convert_name(&group.main.name)?, uses_of(&group)?))
}

/// The foreign packages a parsed package group uses (its nested packages are its own), sorted.
fn uses_of(group: &UnresolvedPackageGroup) -> Result<Vec<Use>, PackageError> {
    let nested: BTreeSet<String> = group.nested.iter().map(|p| p.name.to_string()).collect();
    let mut uses = BTreeSet::new();
    for package in std::iter::once(&group.main).chain(&group.nested) {
        for name in package.foreign_deps.keys() {
            if !nested.contains(&name.to_string()) {
                uses.insert(convert_name(name)?);
            }
        }
    }
    Ok(uses.into_iter().collect())
}

/// `sha256:HEX` of WIT text: the lock's `text-digest`.
pub(crate) fn text_digest(text: &str) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(text.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The text at `path` when it is what the lock entry wrote there (its `text-digest`).
pub(crate) fn written_text(path: &Path, entry: &LockedPackage) -> Option<String> {
    let expected = entry.text_digest.as_ref()?;
    let text = std::fs::read_to_string(path).ok()?;
    (text_digest(&text) == *expected).then_some(text)
}

/// Whether `dir` holds a `*.wit` file (a local WIT package; `deps/` alone is not one).
fn has_wit_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "wit") && e.path().is_file())
    })
}

/// The packages in `WIT_DIR/deps` that were written by hand: directories whose name is not
/// the `NS-NAME-VERSION` of the package they hold (the layout `wit fetch` and wkg write, which
/// `wit fetch` manages), with what each uses. They are left alone and not fetched; what they
/// use is.
fn written_by_hand(wit_dir: &Path) -> Result<Vec<(Use, Vec<Use>)>, PackageError> {
    let deps = wit_dir.join(DEPS_DIR);
    let Ok(entries) = std::fs::read_dir(&deps) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.is_dir() || !has_wit_files(&dir) {
            continue;
        }
        let (name, uses) = local_package(&dir)?;
        let managed = deps_path(wit_dir, &name.name, name.version.as_ref());
        if managed.parent() != Some(dir.as_path()) {
            found.push((name, uses));
        }
    }
    found.sort();
    Ok(found)
}

/// What a Wasm binary is, as far as the package manager cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Artifact {
    /// A binary WIT package.
    Wit(WitSummary),
    /// A component (it has code, or imports or exports instances), or a core module.
    Component,
    /// Something that is not Wasm.
    Other,
}

impl Artifact {
    /// Reads `bytes`: a WIT package is told from a component by decoding it (the oci-wasm
    /// config does not say which it is).
    pub fn of(bytes: &[u8]) -> Artifact {
        match wit_component::decode(bytes) {
            Ok(DecodedWasm::WitPackage(resolve, id)) => match summarize(&resolve, id) {
                Ok(summary) => Artifact::Wit(summary),
                Err(_) => Artifact::Other,
            },
            Ok(DecodedWasm::Component(..)) => Artifact::Component,
            Err(_) => Artifact::Other,
        }
    }

    /// `a component`, `a binary WIT package`, ...: for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Artifact::Wit(_) => "a WIT package",
            Artifact::Component => "a component",
            Artifact::Other => "not Wasm",
        }
    }
}

/// A decoded WIT package: its name, what it declares and what it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WitSummary {
    /// `ns:name@version`.
    pub package: String,
    /// Its interfaces.
    pub interfaces: Vec<String>,
    /// Its worlds.
    pub worlds: Vec<String>,
    /// The foreign packages it uses.
    pub uses: Vec<String>,
    /// The whole package as WIT text.
    #[serde(skip)]
    pub text: String,
}

/// The summary of package `id` of `resolve`; the printer's error as text (it is an `anyhow`
/// value, which this crate does not carry).
fn summarize(resolve: &Resolve, id: wit_parser::PackageId) -> Result<WitSummary, String> {
    let package = &resolve.packages[id];
    let mut printer = WitPrinter::default();
    printer
        .print(resolve, id, &[])
        .map_err(|e| format!("{e:#}"))?;
    let mut uses: Vec<String> = resolve
        .package_direct_deps(id)
        .map(|dep| resolve.packages[dep].name.to_string())
        .collect();
    uses.sort();
    uses.dedup();
    Ok(WitSummary {
        package: package.name.to_string(),
        interfaces: package.interfaces.keys().cloned().collect(),
        worlds: package.worlds.keys().cloned().collect(),
        uses,
        text: printer.output.to_string(),
    })
}

/// A decoded package with what it uses, checked to be the package asked for.
struct Decoded {
    text: String,
    uses: Vec<Use>,
}

fn decode(bytes: &[u8], entry: &LockedPackage) -> Result<Decoded, PackageError> {
    let not_wit = |found: &Artifact| PackageError::NotAWitPackage {
        name: entry.name.clone(),
        reference: entry.pinned().to_string(),
        found: found.describe().to_owned(),
    };
    let (resolve, id) = match wit_component::decode(bytes) {
        Ok(DecodedWasm::WitPackage(resolve, id)) => (resolve, id),
        Ok(DecodedWasm::Component(..)) => return Err(not_wit(&Artifact::Component)),
        Err(_) => return Err(not_wit(&Artifact::Other)),
    };
    let found = convert_name(&resolve.packages[id].name)?;
    if found.name != entry.name || (entry.version.is_some() && found.version != entry.version) {
        return Err(PackageError::WrongWitPackage {
            name: entry.name.clone(),
            version: entry.describe_version(),
            reference: entry.pinned().to_string(),
            found: found.to_string(),
        });
    }
    let summary = summarize(&resolve, id).map_err(|message| PackageError::WitText {
        dir: PathBuf::from(entry.pinned().to_string()),
        message,
    })?;
    let mut uses = Vec::new();
    for dep in resolve.package_direct_deps(id) {
        uses.push(convert_name(&resolve.packages[dep].name)?);
    }
    uses.sort();
    uses.dedup();
    Ok(Decoded {
        text: summary.text,
        uses,
    })
}

/// Resolves the whole WIT directory (the local package and `deps/`) with wit-parser; the error
/// names the file and line.
pub fn check_tree(wit_dir: &Path) -> Result<(Resolve, wit_parser::PackageId), PackageError> {
    let mut resolve = Resolve::new();
    match resolve.push_dir(wit_dir) {
        Ok((id, _)) => Ok((resolve, id)),
        Err(e) => {
            // `FILE:LINE:COLUMN: message` from the typed error where wit-parser gives one (its
            // own rendering adds a multi-line snippet); else its innermost message.
            let located = e.chain().find_map(|layer| {
                if let Some(re) = layer.downcast_ref::<wit_parser::ResolveError>() {
                    let kind = re.kind();
                    let hint = match kind {
                        wit_parser::ResolveErrorKind::PackageNotFound { .. } => {
                            "\n`wasm wit fetch` fetches the packages a WIT directory uses"
                        }
                        _ => "",
                    };
                    Some(format!(
                        "{}: {kind}{hint}",
                        resolve.render_location(kind.span())
                    ))
                } else {
                    layer.downcast_ref::<wit_parser::ParseError>().map(|pe| {
                        let kind = pe.kind();
                        format!("{}: {kind}", resolve.render_location(kind.span()))
                    })
                }
            });
            let message = located
                .or_else(|| e.chain().last().map(ToString::to_string))
                .unwrap_or_default();
            Err(PackageError::WitResolve {
                dir: wit_dir.to_owned(),
                message,
            })
        }
    }
}

/// `wasm wit build`: the local package of `wit_dir` (its dependencies from `deps/`) encoded as
/// a binary WIT package; with its name.
pub fn build(wit_dir: &Path) -> Result<(Use, Vec<u8>), PackageError> {
    local_package(wit_dir)?;
    let (resolve, id) = check_tree(wit_dir)?;
    let name = convert_name(&resolve.packages[id].name)?;
    let bytes =
        wit_component::encode(&resolve, id, false).map_err(|e| PackageError::WitResolve {
            dir: wit_dir.to_owned(),
            message: format!("cannot encode the package: {e:#}"),
        })?;
    Ok((name, bytes))
}

/// `wasm wit build -o FILE`: [`build`], written atomically to `output` (default
/// `NAME.wasm` in the current directory); returns the package, the file and its size.
pub fn build_to(
    wit_dir: &Path,
    output: Option<&Path>,
) -> Result<(Use, PathBuf, u64), PackageError> {
    let (name, bytes) = build(wit_dir)?;
    let output = output.map_or_else(
        || PathBuf::from(format!("{}.wasm", name.name.name())),
        Path::to_owned,
    );
    crate::files::write_atomically(&output, &bytes)?;
    Ok((name, output, bytes.len() as u64))
}

/// Where `wit fetch` works: the WIT directory, the lock, and the manifest when there is one.
#[derive(Debug, Clone)]
pub struct WitProject {
    /// The local WIT package's directory.
    pub wit_dir: PathBuf,
    /// `wasm.lock` (beside wasm.toml, or in the current directory).
    pub lock_path: PathBuf,
    /// wasm.toml, when there is one: its requirements govern the names it lists.
    pub manifest: Option<Manifest>,
    /// The lock, when it exists.
    pub lock: Option<Lock>,
}

impl WitProject {
    /// The project for `wit_dir`: the wasm.toml of `cwd` or above if any (then the lock goes
    /// beside it), else the lock in `cwd`.
    pub fn open(cwd: &Path, wit_dir: &Path) -> Result<WitProject, PackageError> {
        let manifest = match Manifest::find(cwd) {
            Ok(path) => Some(Manifest::load(&path)?.0),
            Err(PackageError::NoManifest { .. }) => None,
            Err(e) => return Err(e),
        };
        let lock_path = manifest
            .as_ref()
            .map_or_else(|| cwd.join(crate::lock::LOCK_FILE), Manifest::lock_path);
        let lock = Lock::load(&lock_path)?;
        Ok(WitProject {
            // As given (relative to the current directory): messages show it as typed.
            wit_dir: wit_dir.to_owned(),
            lock_path,
            manifest,
            lock,
        })
    }
}

/// How `wit fetch` may use the lock and the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WitOptions {
    /// Fail when the lock is missing or would change.
    pub locked: bool,
    /// Use only the lock and the local cache.
    pub offline: bool,
}

/// One package after `wit fetch`.
#[derive(Debug, Clone, Serialize)]
pub struct WitStatus {
    /// `ns:name`.
    pub name: String,
    /// The version.
    pub version: String,
    /// `REGISTRY/REPOSITORY@DIGEST`.
    pub pinned: String,
    /// The file written.
    pub path: PathBuf,
    /// Whether the file was written (else it was already as the lock says).
    pub written: bool,
    /// Who needs it: `wit -> ns:a@1 -> ...`.
    pub required_by: String,
}

/// What `wit fetch` did.
#[derive(Debug, Clone, Serialize)]
pub struct WitReport {
    /// The local package (`wasm.toml` when there is none, only WIT dependencies of wasm.toml).
    pub package: String,
    /// Every package fetched, by name.
    pub packages: Vec<WitStatus>,
    /// Changes of the lock.
    pub changes: Vec<Change>,
    /// Directories of packages no longer needed, removed.
    pub removed: Vec<PathBuf>,
    /// Whether any request went to a registry or discovery server.
    pub network: bool,
    /// Whether wasm.lock was written.
    pub lock_written: bool,
}

/// Who asked for a version of a package, for conflict messages.
#[derive(Debug, Clone)]
struct Chosen {
    entry: LockedPackage,
    /// The version the WIT named when it decided the version (None: wasm.toml or unversioned).
    exact: Option<semver::Version>,
    path: Vec<String>,
}

fn show_path(path: &[String]) -> String {
    path.join(" -> ")
}

/// `wasm wit fetch` (see the module docs): the packages the local WIT package uses, and the WIT
/// dependencies that wasm.toml lists (`wasm add` of a WIT package), with everything they use.
pub async fn fetch<R: PackageRegistry>(
    cx: &Context<'_, R>,
    project: &WitProject,
    options: WitOptions,
) -> Result<WitReport, PackageError> {
    let wit_dir = &project.wit_dir;
    let old = project.lock.clone().unwrap_or_default();
    let manifest = project.manifest.as_ref();
    let listed = |name: &PackageName| {
        manifest.is_some_and(|m| m.dependencies.contains_key(name))
            && old.packages.get(name).is_some_and(|p| p.kind == Kind::Wit)
    };
    // Without a local WIT package, the WIT dependencies of wasm.toml alone (after `wasm add`).
    let local_dir = has_wit_files(wit_dir) || !old.packages.keys().any(listed);
    let (local, uses) = if local_dir {
        let (local, uses) = local_package(wit_dir)?;
        (Some(local), uses)
    } else {
        (None, Vec::new())
    };
    let root_label = wit_dir.file_name().map_or_else(
        || wit_dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut network = false;

    let mut queue: VecDeque<(Use, Vec<String>)> = VecDeque::new();
    for u in uses {
        queue.push_back((u, vec![root_label.clone()]));
    }
    let by_hand = written_by_hand(wit_dir)?;
    for (package, uses) in &by_hand {
        for u in uses {
            queue.push_back((u.clone(), vec![root_label.clone(), package.to_string()]));
        }
    }
    // The WIT dependencies that wasm.toml lists (`wasm add` of a WIT package) are roots too.
    if let Some(manifest) = manifest {
        for name in manifest.dependencies.keys() {
            if listed(name) {
                queue.push_back((
                    Use {
                        name: name.clone(),
                        version: None,
                    },
                    vec![manifest.path.file_name().map_or_else(
                        || "wasm.toml".to_owned(),
                        |n| n.to_string_lossy().into_owned(),
                    )],
                ));
            }
        }
    }

    let tmp = temp_dir()?;
    let mut chosen: BTreeMap<PackageName, Chosen> = BTreeMap::new();
    let mut texts: BTreeMap<PackageName, String> = BTreeMap::new();

    while let Some((wanted, path)) = queue.pop_front() {
        if by_hand
            .iter()
            .any(|(package, _)| package.name == wanted.name)
        {
            continue;
        }
        let governing = manifest.and_then(|m| m.dependencies.get(&wanted.name));
        if let Some(existing) = chosen.get(&wanted.name) {
            let compatible = governing.is_some()
                || wanted.version.is_none()
                || existing.exact.is_none()
                || existing.exact == wanted.version;
            if !compatible {
                return Err(PackageError::WitConflict {
                    name: wanted.name.clone(),
                    first: format!(
                        "{} needs {}",
                        show_path(&existing.path),
                        existing
                            .exact
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ),
                    second: format!(
                        "{} needs {}",
                        show_path(&path),
                        wanted
                            .version
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ),
                });
            }
            continue;
        }
        let dependency = match governing {
            Some(dependency) => dependency.clone(),
            None => {
                let text = match &wanted.version {
                    Some(v) => format!("={v}"),
                    None => "*".to_owned(),
                };
                Dependency::Version {
                    requirement: Requirement::parse(&text).map_err(PackageError::Usage)?,
                    source: Source::Mapped,
                }
            }
        };
        let locked = old
            .packages
            .get(&wanted.name)
            .filter(|p| p.kind == Kind::Wit);
        let reason = match locked {
            None => Some(format!("`{}` is not in wasm.lock", wanted.name)),
            Some(entry) => crate::ops::drift(cx, manifest, entry, &dependency).await?,
        };
        let (entry, from_lock) = match (locked, reason) {
            (Some(entry), None) => (entry.clone(), true),
            (_, Some(reason)) => {
                if options.offline {
                    return Err(PackageError::Offline {
                        what: format!("fetch `{wanted}` (needed by {})", show_path(&path)),
                        why: reason,
                    });
                }
                if options.locked {
                    return Err(PackageError::Locked {
                        command: "wasm wit fetch",
                        missing: project.lock.is_none(),
                        changes: vec![reason],
                    });
                }
                network = true;
                let mut entry =
                    crate::ops::resolve_dependency(cx, manifest, &wanted.name, &dependency)
                        .await
                        .map_err(|e| needed_by(e, &path))?;
                entry.kind = Kind::Wit;
                (entry, false)
            }
            // A missing entry always has a reason (see above).
            (None, None) => continue,
        };
        // A locked package whose text is on disk as written needs no layer: what it uses is
        // read from the text (no request, even without the cache).
        let file = deps_path(wit_dir, &wanted.name, entry.version.as_ref());
        let on_disk = if from_lock {
            written_text(&file, &entry)
        } else {
            None
        };
        let decoded = match on_disk {
            Some(text) => {
                let group = UnresolvedPackageGroup::parse(&file, &text).map_err(|(map, e)| {
                    PackageError::WitText {
                        dir: wit_dir.to_owned(),
                        message: format!("{}: {}", map.render_location(e.kind().span()), e.kind()),
                    }
                })?;
                Decoded {
                    uses: uses_of(&group)?,
                    text,
                }
            }
            None => {
                let bytes = obtain(
                    cx,
                    &entry,
                    from_lock,
                    options.offline,
                    tmp.path(),
                    &mut network,
                )
                .await?;
                decode(&bytes, &entry).map_err(|e| needed_by(e, &path))?
            }
        };
        let mut entry = entry;
        entry.text_digest = Some(text_digest(&decoded.text));
        let mut next = path.clone();
        next.push(format!("{}@{}", entry.name, entry.describe_version()));
        for u in decoded.uses {
            if local.as_ref().is_none_or(|l| u.name != l.name) {
                queue.push_back((u, next.clone()));
            }
        }
        texts.insert(wanted.name.clone(), decoded.text);
        let exact = if governing.is_some() {
            None
        } else {
            wanted.version.clone()
        };
        chosen.insert(wanted.name.clone(), Chosen { entry, exact, path });
    }

    // The new lock: components as they were, WIT packages as resolved now.
    let mut new_lock = Lock::default();
    for (name, entry) in &old.packages {
        if entry.kind != Kind::Wit {
            new_lock.packages.insert(name.clone(), entry.clone());
        }
    }
    for (name, c) in &chosen {
        new_lock.packages.insert(name.clone(), c.entry.clone());
    }
    let mut changes = Vec::new();
    let names: BTreeSet<&PackageName> = old
        .packages
        .iter()
        .filter(|(_, p)| p.kind == Kind::Wit)
        .map(|(n, _)| n)
        .chain(chosen.keys())
        .collect();
    for name in names {
        let describe = |p: &LockedPackage| (p.describe_version(), p.manifest_digest.clone());
        let before = old
            .packages
            .get(name)
            .filter(|p| p.kind == Kind::Wit)
            .map(describe);
        let after = chosen.get(name).map(|c| describe(&c.entry));
        if before != after {
            changes.push(Change {
                name: name.to_string(),
                old: before,
                new: after,
            });
        }
    }
    let lock_changes = project.lock.as_ref() != Some(&new_lock);
    if options.locked && (project.lock.is_none() || lock_changes) {
        let mut reasons: Vec<String> = changes
            .iter()
            .map(|c| match (&c.old, &c.new) {
                (None, _) => format!("`{}` is not in wasm.lock", c.name),
                (Some(_), None) => format!("`{}` is no longer needed", c.name),
                (Some((a, _)), Some((b, _))) => {
                    format!("`{}` would change from {a} to {b}", c.name)
                }
            })
            .collect();
        if reasons.is_empty() {
            reasons.push("wasm.lock would be rewritten".into());
        }
        return Err(PackageError::Locked {
            command: "wasm wit fetch",
            missing: project.lock.is_none(),
            changes: reasons,
        });
    }

    // Everything is fetched and decoded: now write.
    let mut statuses = Vec::new();
    for (name, c) in &chosen {
        let path = deps_path(wit_dir, name, c.entry.version.as_ref());
        let text = &texts[name];
        let same = std::fs::read_to_string(&path).is_ok_and(|t| &t == text);
        if !same {
            crate::files::write_atomically(&path, text.as_bytes())?;
        }
        statuses.push(WitStatus {
            name: name.to_string(),
            version: c.entry.describe_version(),
            pinned: c.entry.pinned().to_string(),
            path,
            written: !same,
            required_by: show_path(&c.path),
        });
    }
    let mut removed = Vec::new();
    for entry in old.packages.values().filter(|p| p.kind == Kind::Wit) {
        let path = deps_path(wit_dir, &entry.name, entry.version.as_ref());
        let still = chosen
            .get(&entry.name)
            .is_some_and(|c| c.entry.version == entry.version);
        if !still && crate::files::remove_installed(&path, &wit_dir.join(DEPS_DIR))? {
            removed.push(path.parent().map(Path::to_owned).unwrap_or(path));
        }
    }
    if lock_changes {
        new_lock.save(&project.lock_path)?;
    }
    if local.is_some() {
        check_tree(wit_dir)?;
    }
    Ok(WitReport {
        package: local.map_or_else(|| "wasm.toml".to_owned(), |l| l.to_string()),
        packages: statuses,
        changes,
        removed,
        network,
        lock_written: lock_changes,
    })
}

/// Adds "needed by PATH" to the errors where the path helps.
fn needed_by(error: PackageError, path: &[String]) -> PackageError {
    match error {
        // A version that the WIT names exactly: the fix is in the WIT (or the registry).
        PackageError::NoMatchingVersion {
            name,
            requirement,
            repository,
            available,
        } if requirement.starts_with('=') => PackageError::NoWitVersion {
            package: format!("{name}@{}", &requirement[1..]),
            repository,
            available,
            path: show_path(path),
        },
        PackageError::UnknownName { .. }
        | PackageError::NoMatchingVersion { .. }
        | PackageError::NotAWitPackage { .. }
        | PackageError::WrongWitPackage { .. } => PackageError::NeededBy {
            path: show_path(path),
            error: Box::new(error),
        },
        other => other,
    }
}

/// The layer of a resolved or locked package, from the cache when it has it (no request), else
/// from the registry (a locked package's tag checked first); verified by digest as it streams.
async fn obtain<R: PackageRegistry>(
    cx: &Context<'_, R>,
    entry: &LockedPackage,
    from_lock: bool,
    offline: bool,
    tmp: &Path,
    network: &mut bool,
) -> Result<Vec<u8>, PackageError> {
    let file = tmp.join(format!(
        "{}-{}.wasm",
        entry.name.namespace(),
        entry.name.name()
    ));
    let items = [(entry.pinned(), file.clone())];
    let cached = cx.registry.fetch_all(&items, true).await.pop();
    let fetched = match cached {
        Some(Ok(fetched)) => Ok(fetched),
        Some(Err(RegistryError::Offline { what, .. })) if offline => {
            return Err(PackageError::Offline {
                what: format!("fetch `{}` ({})", entry.name, entry.pinned()),
                why: what,
            });
        }
        Some(Err(error)) if offline => Err(error),
        None if offline => {
            return Err(PackageError::Offline {
                what: format!("fetch `{}` ({})", entry.name, entry.pinned()),
                why: "the cache gave no answer".into(),
            });
        }
        _ => {
            *network = true;
            if from_lock && let Some(tagged) = entry.tagged() {
                match cx.registry.manifest(&tagged).await {
                    Ok(now) if now.digest != entry.manifest_digest => {
                        return Err(PackageError::MovedTags {
                            moved: vec![crate::error::MovedTag {
                                name: entry.name.clone(),
                                reference: tagged.to_string(),
                                locked: entry.manifest_digest.clone(),
                                now: now.digest,
                            }],
                        });
                    }
                    Ok(_) | Err(RegistryError::NotFound { .. }) => {}
                    Err(e) => {
                        return Err(crate::ops::registry_error(
                            format!("cannot check the tag of `{}` ({tagged})", entry.name),
                            &entry.repository.to_string(),
                            e,
                        ));
                    }
                }
            }
            cx.registry
                .fetch_all(&items, false)
                .await
                .pop()
                .unwrap_or_else(|| {
                    Err(RegistryError::Protocol {
                        registry: entry.repository.registry.to_string(),
                        problem: "no result".into(),
                    })
                })
        }
    };
    let fetched = fetched.map_err(|error| PackageError::Fetch {
        total: 1,
        failures: vec![crate::error::FetchFailure {
            name: entry.name.clone(),
            error,
        }],
    })?;
    if fetched.layer_digest != entry.layer_digest {
        return Err(PackageError::Registry {
            what: format!("cannot fetch `{}`", entry.name),
            hint: None,
            source: entry.layer_mismatch(&fetched.layer_digest),
        });
    }
    std::fs::read(&file).map_err(|source| PackageError::Io {
        what: "read",
        path: file,
        source,
    })
}

/// Layers larger than this are components without decoding them: binary WIT packages hold
/// only types (wasi:http's is about 30 KiB), and decoding reads the whole layer into memory.
pub const MAX_WIT_PACKAGE: u64 = 16 << 20;

fn temp_dir() -> Result<tempfile::TempDir, PackageError> {
    tempfile::tempdir().map_err(|source| PackageError::Io {
        what: "create a temporary directory for",
        path: std::env::temp_dir(),
        source,
    })
}

/// The kind of a freshly resolved package, from its layer (`add` and `install` decide the kind
/// from the artifact; the oci-wasm config does not say): the layer is pulled through the cache,
/// so that installing it afterwards makes no further request.
/// Returns the kind, and for a WIT package the digest of its text (the lock's `text-digest`).
pub(crate) async fn detect_kind<R: PackageRegistry>(
    cx: &Context<'_, R>,
    entry: &LockedPackage,
) -> Result<(Kind, Option<String>), PackageError> {
    if entry.size > MAX_WIT_PACKAGE {
        return Ok((Kind::Component, None));
    }
    let tmp = temp_dir()?;
    let mut network = false;
    let bytes = obtain(cx, entry, false, false, tmp.path(), &mut network).await?;
    Ok(match Artifact::of(&bytes) {
        Artifact::Wit(summary) => (Kind::Wit, Some(text_digest(&summary.text))),
        _ => (Kind::Component, None),
    })
}

/// The WIT text of a locked WIT package when the cache holds its layer (no request); `None`
/// when it does not, or the layer does not decode.
pub(crate) async fn cached_text<R: PackageRegistry>(
    cx: &Context<'_, R>,
    entry: &LockedPackage,
) -> Option<String> {
    let tmp = temp_dir().ok()?;
    let file = tmp.path().join("layer.wasm");
    let items = [(entry.pinned(), file.clone())];
    match cx.registry.fetch_all(&items, true).await.pop()? {
        Ok(fetched) if fetched.layer_digest == entry.layer_digest => {}
        _ => return None,
    }
    let bytes = std::fs::read(&file).ok()?;
    decode(&bytes, entry).ok().map(|d| d.text)
}

/// Fetches a WIT package of the lock (its tag already checked by the caller) and writes it as
/// WIT text to `path`, atomically.
pub(crate) async fn install_entry<R: PackageRegistry>(
    cx: &Context<'_, R>,
    entry: &LockedPackage,
    path: &Path,
    offline: bool,
) -> Result<(), PackageError> {
    let tmp = temp_dir()?;
    let mut network = false;
    let bytes = obtain(cx, entry, false, offline, tmp.path(), &mut network).await?;
    let decoded = decode(&bytes, entry)?;
    crate::files::write_atomically(path, decoded.text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(dir: &Path) -> Vec<u8> {
        build(dir).unwrap().1
    }

    #[test]
    fn a_package_round_trips_and_is_told_from_a_component() {
        let dir = tempfile::tempdir().unwrap();
        let wit = dir.path().join("wit");
        std::fs::create_dir_all(&wit).unwrap();
        std::fs::write(
            wit.join("io.wit"),
            "package test:io@0.2.0;\ninterface streams { resource input-stream; }\n\
             world proxy { import streams; }\n",
        )
        .unwrap();
        let bytes = encode(&wit);
        let Artifact::Wit(summary) = Artifact::of(&bytes) else {
            panic!("not a WIT package");
        };
        assert_eq!(summary.package, "test:io@0.2.0");
        assert_eq!(summary.interfaces, ["streams"]);
        assert_eq!(summary.worlds, ["proxy"]);
        assert!(
            summary.text.starts_with("package test:io@0.2.0;\n"),
            "{}",
            summary.text
        );
        // A core module counts as a component here: it is installed like one.
        assert_eq!(Artifact::of(b"\0asm\x01\0\0\0"), Artifact::Component);
        assert_eq!(Artifact::of(b"not wasm"), Artifact::Other);
        assert_eq!(
            deps_path(
                Path::new("wit"),
                &PackageName::parse("wasi:io").unwrap(),
                Some(&semver::Version::new(0, 2, 0))
            ),
            Path::new("wit/deps/wasi-io-0.2.0/package.wit")
        );
    }

    #[test]
    fn the_local_package_names_its_foreign_uses() {
        let dir = tempfile::tempdir().unwrap();
        let wit = dir.path().join("wit");
        std::fs::create_dir_all(&wit).unwrap();
        std::fs::write(
            wit.join("world.wit"),
            "package acme:app;\nworld app {\n  import wasi:http/handler@0.2.3;\n  \
             include wasi:cli/imports@0.2.3;\n}\ninterface x { use wasi:io/streams@0.2.3.{input-stream}; }\n",
        )
        .unwrap();
        let (local, uses) = local_package(&wit).unwrap();
        assert_eq!(local.to_string(), "acme:app");
        let uses: Vec<String> = uses.iter().map(ToString::to_string).collect();
        assert_eq!(uses, ["wasi:cli@0.2.3", "wasi:http@0.2.3", "wasi:io@0.2.3"]);

        std::fs::write(
            wit.join("world.wit"),
            "package acme:app;\nworld app {\n  import\n}\n",
        )
        .unwrap();
        let error = local_package(&wit).unwrap_err().to_string();
        assert!(error.contains("world.wit:4:1: expected"), "{error}");
    }
}
