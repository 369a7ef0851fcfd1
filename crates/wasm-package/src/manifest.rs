//! `wasm.toml`: what a project is and what it depends on (docs/packages.md lists every key).
//!
//! Parsed like the user config (wasm-config's `toml_keys`): the text becomes `toml::Value`s,
//! each checked with its key path, so that every mistake names the file, line, column and key,
//! with a suggestion for a misspelt key. [`Manifest::parse`] does no I/O; [`Manifest::find`]
//! and [`Manifest::load`] do. [`edit`] changes the text for `add`/`remove` while keeping the
//! user's comments and layout (toml_edit).
//!
//! ```toml
//! [package]
//! name = "acme:greeter"
//! version = "1.0.0"
//! file = "target/wasm32-wasip2/release/greeter.wasm"
//!
//! [dependencies]
//! "acme:logger" = "1.2"                                      # ^1.2, through the name mapping
//! "wasi:http" = { version = "0.2", registry = "ghcr.io/webassembly" }
//! "acme:tool" = { reference = "ghcr.io/acme/tool@sha256:..." }
//!
//! [namespaces]
//! acme = "ghcr.io/acme"
//!
//! [install]
//! dir = "vendor/wasm"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::{Table, Value};
use wasm_config::toml_keys::{At, KeyPath, TomlTable, a_type, line_column};
use wasm_registry::{Reference, Repository};

use crate::error::{Location, PackageError};
use crate::name::PackageName;

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "wasm.toml";

/// The WIT directory when `[package] wit` is not set.
pub const DEFAULT_WIT_DIR: &str = "wit";

/// Where dependencies are installed when `[install] dir` is not set.
pub const DEFAULT_INSTALL_DIR: &str = "vendor/wasm";

/// A checked `wasm.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The file.
    pub path: PathBuf,
    /// `[package]`, for projects that publish.
    pub package: Option<PackageInfo>,
    /// `[dependencies]`.
    pub dependencies: BTreeMap<PackageName, Dependency>,
    /// `[namespaces]`: namespace -> registry prefix.
    pub namespaces: BTreeMap<String, RegistryPrefix>,
    /// `[install] dir`, relative to the manifest's directory.
    pub install_dir: PathBuf,
    /// The WIT directory (`[package] wit`, default `wit`), relative to the manifest's
    /// directory: WIT dependencies go to its `deps/`.
    pub wit_dir: PathBuf,
}

/// `[package]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInfo {
    /// `name`.
    pub name: PackageName,
    /// `version`: the tag `publish` pushes.
    pub version: semver::Version,
    /// `file`: the built `.wasm`, relative to the manifest's directory as written; `None`
    /// when the package is a WIT package (`wit`).
    pub file: Option<PathBuf>,
    /// `wit`: the directory of a WIT package to build and publish instead of a `file`.
    pub wit: Option<PathBuf>,
    /// `repository`: the whole OCI repository, when the name mapping does not give it.
    pub repository: Option<Repository>,
    /// `description`, `license`, `authors`, `homepage`, `documentation`, `source`, `revision`,
    /// as `org.opencontainers.image.*` annotation values, in annotation-key order.
    pub annotations: BTreeMap<String, String>,
}

/// One entry of `[dependencies]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dependency {
    /// A version requirement, resolved against the tags of a repository.
    Version {
        /// The requirement.
        requirement: Requirement,
        /// Where the repository comes from.
        source: Source,
    },
    /// `reference = "REG/REPO:TAG|@DIGEST"`: a fixed artifact outside any naming scheme.
    Reference(Reference),
}

/// Where a versioned dependency's repository comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The name mapping (docs/packages.md, rules 2 to 4).
    Mapped,
    /// `registry = "REGISTRY[/PATH]"`: the repository is `PREFIX/NAMESPACE/NAME` (rule 1).
    Prefix(RegistryPrefix),
    /// `repository = "REGISTRY/REPOSITORY"` (rule 1).
    Repository(Repository),
}

/// A version requirement with Cargo's semantics (`1.2` means `^1.2`), and its text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    text: String,
    req: semver::VersionReq,
}

impl Requirement {
    /// Parses a requirement; the error is the semver crate's description.
    pub fn parse(text: &str) -> Result<Requirement, String> {
        let req = semver::VersionReq::parse(text.trim()).map_err(|e| e.to_string())?;
        Ok(Requirement {
            text: text.trim().to_owned(),
            req,
        })
    }

    /// The requirement as written, e.g. `1.2`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed requirement.
    pub fn req(&self) -> &semver::VersionReq {
        &self.req
    }
}

/// `REGISTRY[/PATH]`: a registry and a path inside it under which packages live as
/// `PATH/NAMESPACE/NAME` (`ghcr.io/webassembly` + `wasi:http` = `ghcr.io/webassembly/wasi/http`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RegistryPrefix {
    /// The registry.
    pub registry: wasm_registry::RegistryName,
    /// The path inside it, without leading or trailing `/`; may be empty.
    pub path: String,
}

impl RegistryPrefix {
    /// Parses `REGISTRY[/PATH]`; the first segment must be a registry host (it has a `.` or a
    /// `:`, or is `localhost`), so that `acme` is not taken for Docker Hub's `docker.io/acme`.
    pub fn parse(text: &str) -> Result<RegistryPrefix, String> {
        let first = text.split('/').next().unwrap_or_default();
        if text.contains("://") {
            return Err("a registry prefix has no scheme".into());
        }
        if !(first.contains('.') || first.contains(':') || first == "localhost") {
            return Err(format!(
                "it must start with the registry host, like `ghcr.io/{text}`"
            ));
        }
        let probe = format!("{}/probe", text.trim_end_matches('/'));
        let repository = Repository::parse(&probe).map_err(|e| e.reason)?;
        let path = repository
            .repository
            .strip_suffix("probe")
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned();
        Ok(RegistryPrefix {
            registry: repository.registry,
            path,
        })
    }

    /// The repository of `name` under this prefix.
    pub fn repository(&self, name: &PackageName) -> Repository {
        let mut path = self.path.clone();
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(&format!("{}/{}", name.namespace(), name.name()));
        Repository {
            registry: self.registry.clone(),
            repository: path,
        }
    }
}

/// Whether `text` (a repository or reference) starts with a registry host: a first segment with
/// a `.` or a `:`, or `localhost`, followed by a `/`. Without one, a name would silently mean
/// Docker Hub.
pub(crate) fn has_registry_host(text: &str) -> bool {
    match text.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

impl std::fmt::Display for RegistryPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(self.registry.as_str())
        } else {
            write!(f, "{}/{}", self.registry, self.path)
        }
    }
}

impl Manifest {
    /// The manifest in `dir` or its nearest parent that has one.
    pub fn find(dir: &Path) -> Result<PathBuf, PackageError> {
        dir.ancestors()
            .map(|d| d.join(MANIFEST_FILE))
            .find(|p| p.is_file())
            .ok_or_else(|| PackageError::NoManifest {
                dir: dir.to_owned(),
            })
    }

    /// Reads and checks the manifest at `path`; returns it with its text.
    pub fn load(path: &Path) -> Result<(Manifest, String), PackageError> {
        let text = std::fs::read_to_string(path).map_err(|source| PackageError::Io {
            what: "read",
            path: path.to_owned(),
            source,
        })?;
        Ok((Manifest::parse(&text, path)?, text))
    }

    /// Checks the text of a manifest; `path` is used in messages and as the project root.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, PackageError> {
        let table: Table = toml::from_str(text).map_err(|e| {
            let (line, column) = line_column(text, e.span().map_or(text.len(), |s| s.start));
            PackageError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let doc = Doc { path, text };
        let at = At {
            value: table,
            file: path,
            key: KeyPath::default(),
        };
        let ManifestToml {
            package,
            dependencies,
            namespaces,
            install,
        } = doc.deserialize(&at)?;
        let package = package
            .map(|v| doc.package(at.child("package", v)))
            .transpose()?;
        let mut deps = BTreeMap::new();
        if let Some(value) = dependencies {
            let table = doc.table(at.child("dependencies", value), DEPENDENCIES)?;
            for (key, entry) in table.into_entries() {
                let name = doc.name(&entry, &key)?;
                deps.insert(name, doc.dependency(entry)?);
            }
        }
        let mut prefixes = BTreeMap::new();
        if let Some(value) = namespaces {
            let table = doc.table(at.child("namespaces", value), NAMESPACES)?;
            for (key, entry) in table.into_entries() {
                if PackageName::parse(&format!("{key}:x")).is_err() {
                    return Err(doc.invalid(&entry, NAMESPACE_KEY, format!("{key:?}")));
                }
                prefixes.insert(key, doc.prefix(&entry)?);
            }
        }
        let install_dir = match install {
            Some(value) => {
                let table = doc.table(at.child("install", value), INSTALL)?;
                let InstallToml { dir } = doc.deserialize(&table)?;
                match dir {
                    Some(dir) => doc.relative_dir(&table.child("dir", dir))?,
                    None => PathBuf::from(DEFAULT_INSTALL_DIR),
                }
            }
            None => PathBuf::from(DEFAULT_INSTALL_DIR),
        };
        let wit_dir = package
            .as_ref()
            .and_then(|p| p.wit.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_WIT_DIR));
        Ok(Manifest {
            path: path.to_owned(),
            wit_dir,
            package,
            dependencies: deps,
            namespaces: prefixes,
            install_dir,
        })
    }

    /// The directory of the manifest: the project root.
    pub fn root(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// `wasm.lock`, beside the manifest.
    pub fn lock_path(&self) -> PathBuf {
        self.root().join(crate::lock::LOCK_FILE)
    }
}

// ---------------------------------------------------------------------------------------------
// The file format, as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestToml {
    package: Option<Value>,
    dependencies: Option<Value>,
    namespaces: Option<Value>,
    install: Option<Value>,
}

impl TomlTable for ManifestToml {
    const KEYS: &'static [&'static str] = &["package", "dependencies", "namespaces", "install"];
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackageToml {
    name: Option<Value>,
    version: Option<Value>,
    file: Option<Value>,
    wit: Option<Value>,
    repository: Option<Value>,
    description: Option<Value>,
    license: Option<Value>,
    authors: Option<Value>,
    homepage: Option<Value>,
    documentation: Option<Value>,
    source: Option<Value>,
    revision: Option<Value>,
}

impl TomlTable for PackageToml {
    const KEYS: &'static [&'static str] = &[
        "name",
        "version",
        "file",
        "wit",
        "repository",
        "description",
        "license",
        "authors",
        "homepage",
        "documentation",
        "source",
        "revision",
    ];
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DependencyToml {
    version: Option<Value>,
    registry: Option<Value>,
    repository: Option<Value>,
    reference: Option<Value>,
}

impl TomlTable for DependencyToml {
    const KEYS: &'static [&'static str] = &["version", "registry", "repository", "reference"];
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallToml {
    dir: Option<Value>,
}

impl TomlTable for InstallToml {
    const KEYS: &'static [&'static str] = &["dir"];
}

const DEPENDENCIES: &str =
    "a table of dependencies, like `[dependencies]` with `\"acme:greeter\" = \"1.2\"`";
const NAMESPACES: &str =
    "a table of namespaces, like `[namespaces]` with `acme = \"ghcr.io/acme\"`";
const NAMESPACE_KEY: &str =
    "a package namespace: lowercase letters, digits and single `-` between words, like `acme`";
const INSTALL: &str = "a table, like `[install]` with `dir = \"vendor/wasm\"`";
const PACKAGE: &str = "a table, like `[package]` with `name`, `version` and `file`";
const DEPENDENCY: &str = "a version requirement like \"1.2\", or a table with `version` and \
     `registry` or `repository`, or with `reference`";
const REQUIREMENT: &str = "a version requirement like \"1.2\" (Cargo's rules: \"1.2\" means ^1.2)";
const STRING: &str = "a string";

/// The `toml_keys` checks with the file's text at hand, so that errors get line and column.
struct Doc<'a> {
    path: &'a Path,
    text: &'a str,
}

/// The `toml_keys` value type: every check takes one.
type Entry<'a> = At<'a, Value>;

impl<'a> Doc<'a> {
    fn located(&self, key: &KeyPath) -> Location {
        Location::of(self.path, self.text, key)
    }

    fn deserialize<T: TomlTable>(&self, at: &At<'_, Table>) -> Result<T, PackageError> {
        at.deserialize()
            .map_err(|e| PackageError::from_toml(e, self.path, self.text, &at.key))
    }

    fn table<'v>(
        &self,
        at: Entry<'v>,
        expected: &'static str,
    ) -> Result<At<'v, Table>, PackageError> {
        let key = at.key.clone();
        at.into_table(expected)
            .map_err(|e| PackageError::from_toml(e, self.path, self.text, &key))
    }

    fn invalid<T>(&self, at: &At<'_, T>, expected: &str, found: String) -> PackageError {
        PackageError::InvalidValue {
            at: self.located(&at.key),
            key: at.key.to_string(),
            expected: expected.to_owned(),
            found,
        }
    }

    fn string(&self, at: &Entry<'_>, expected: &str) -> Result<String, PackageError> {
        match &at.value {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            Value::String(_) => Err(self.invalid(at, expected, "an empty string".into())),
            other => Err(self.invalid(at, expected, a_type(other).into())),
        }
    }

    fn name(&self, at: &Entry<'_>, key: &str) -> Result<PackageName, PackageError> {
        PackageName::parse(key).map_err(|e| PackageError::InvalidName {
            at: self.located(&at.key),
            key: at.key.to_string(),
            reason: e.to_string(),
        })
    }

    fn requirement(&self, at: &Entry<'_>) -> Result<Requirement, PackageError> {
        let text = self.string(at, REQUIREMENT)?;
        Requirement::parse(&text)
            .map_err(|e| self.invalid(at, &format!("{REQUIREMENT}; {e}"), format!("{text:?}")))
    }

    fn prefix(&self, at: &Entry<'_>) -> Result<RegistryPrefix, PackageError> {
        const EXPECTED: &str = "a registry prefix REGISTRY[/PATH], like \"ghcr.io/acme\"";
        let text = self.string(at, EXPECTED)?;
        RegistryPrefix::parse(&text)
            .map_err(|e| self.invalid(at, &format!("{EXPECTED}; {e}"), format!("{text:?}")))
    }

    fn repository(&self, at: &Entry<'_>) -> Result<Repository, PackageError> {
        const EXPECTED: &str =
            "a whole OCI repository REGISTRY/REPOSITORY, like \"ghcr.io/acme/greeter\"";
        let text = self.string(at, EXPECTED)?;
        if !has_registry_host(&text) {
            return Err(self.invalid(at, EXPECTED, format!("{text:?}")));
        }
        Repository::parse(&text).map_err(|e| {
            self.invalid(
                at,
                &format!("{EXPECTED}; {}", e.reason),
                format!("{text:?}"),
            )
        })
    }

    fn relative_dir(&self, at: &Entry<'_>) -> Result<PathBuf, PackageError> {
        const EXPECTED: &str = "a directory relative to wasm.toml, like \"vendor/wasm\"";
        let text = self.string(at, EXPECTED)?;
        let path = PathBuf::from(&text);
        if path.is_absolute() {
            return Err(self.invalid(at, EXPECTED, format!("{text:?}")));
        }
        Ok(path)
    }

    fn dependency(&self, at: Entry<'_>) -> Result<Dependency, PackageError> {
        if let Value::String(_) = at.value {
            return Ok(Dependency::Version {
                requirement: self.requirement(&at)?,
                source: Source::Mapped,
            });
        }
        if !matches!(at.value, Value::Table(_)) {
            return Err(self.invalid(&at, DEPENDENCY, a_type(&at.value).into()));
        }
        let table = self.table(at, DEPENDENCY)?;
        let DependencyToml {
            version,
            registry,
            repository,
            reference,
        } = self.deserialize(&table)?;
        if let Some(reference) = reference {
            let at = table.child("reference", reference);
            let others: Vec<&str> = [
                ("version", version.is_some()),
                ("registry", registry.is_some()),
                ("repository", repository.is_some()),
            ]
            .iter()
            .filter(|(_, set)| *set)
            .map(|(k, _)| *k)
            .collect();
            if let Some(other) = others.first() {
                return Err(self.invalid(
                    &table,
                    "either `reference` (a fixed artifact) or `version` with an optional \
                     `registry` or `repository`",
                    format!("both `reference` and `{other}`"),
                ));
            }
            const EXPECTED: &str = "a reference REGISTRY/REPOSITORY:TAG or \
                 REGISTRY/REPOSITORY@DIGEST, like \"ghcr.io/acme/tool:1.0\"";
            let text = self.string(&at, EXPECTED)?;
            if !has_registry_host(&text) {
                return Err(self.invalid(&at, EXPECTED, format!("{text:?}")));
            }
            let reference = Reference::parse(&text).map_err(|e| {
                self.invalid(
                    &at,
                    &format!("{EXPECTED}; {}", e.reason),
                    format!("{text:?}"),
                )
            })?;
            return Ok(Dependency::Reference(reference));
        }
        let Some(version) = version else {
            return Err(self.invalid(
                &table,
                "a table with `version` (or `reference`)",
                "no `version`".into(),
            ));
        };
        let requirement = self.requirement(&table.child("version", version))?;
        let source = match (registry, repository) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    &table,
                    "a table with either `registry` (a prefix) or `repository` (the whole \
                     repository)",
                    "both".into(),
                ));
            }
            (Some(registry), None) => {
                Source::Prefix(self.prefix(&table.child("registry", registry))?)
            }
            (None, Some(repository)) => {
                Source::Repository(self.repository(&table.child("repository", repository))?)
            }
            (None, None) => Source::Mapped,
        };
        Ok(Dependency::Version {
            requirement,
            source,
        })
    }

    fn package(&self, at: Entry<'_>) -> Result<PackageInfo, PackageError> {
        let table = self.table(at, PACKAGE)?;
        let PackageToml {
            name,
            version,
            file,
            wit,
            repository,
            description,
            license,
            authors,
            homepage,
            documentation,
            source,
            revision,
        } = self.deserialize(&table)?;
        let missing = |key: &str| {
            self.invalid(
                &table,
                "a table with `name`, `version` and `file`",
                format!("no `{key}`"),
            )
        };
        let name_at = table.child("name", name.ok_or_else(|| missing("name"))?);
        let name_text = self.string(&name_at, "a package name like \"acme:greeter\"")?;
        let name = self.name(&name_at, &name_text)?;
        let version_at = table.child("version", version.ok_or_else(|| missing("version"))?);
        const VERSION: &str = "a semantic version like \"1.0.0\"";
        let version_text = self.string(&version_at, VERSION)?;
        let version = semver::Version::parse(&version_text).map_err(|e| {
            self.invalid(
                &version_at,
                &format!("{VERSION}; {e}"),
                format!("{version_text:?}"),
            )
        })?;
        let (file, wit) = match (file, wit) {
            (Some(file), None) => {
                let file_at = table.child("file", file);
                let file =
                    PathBuf::from(self.string(&file_at, "the path of the built .wasm file")?);
                (Some(file), None)
            }
            (None, Some(wit)) => (None, Some(self.relative_dir(&table.child("wit", wit))?)),
            (None, None) => return Err(missing("file")),
            (Some(_), Some(wit)) => {
                return Err(self.invalid(
                    &table.child("wit", wit),
                    "absent when `file` is given (a package is a component `file` or a WIT \
                     package `wit`, not both)",
                    "both".into(),
                ));
            }
        };
        let repository = repository
            .map(|v| self.repository(&table.child("repository", v)))
            .transpose()?;
        let mut annotations = BTreeMap::new();
        for (key, value, annotation) in [
            ("description", description, "description"),
            ("license", license, "licenses"),
            ("homepage", homepage, "url"),
            ("documentation", documentation, "documentation"),
            ("source", source, "source"),
            ("revision", revision, "revision"),
        ] {
            if let Some(value) = value {
                let text = self.string(&table.child(key, value), STRING)?;
                annotations.insert(format!("org.opencontainers.image.{annotation}"), text);
            }
        }
        if let Some(value) = authors {
            const AUTHORS: &str = "an array of strings, like [\"Ann <ann@example.com>\"]";
            let at = table.child("authors", value);
            let Value::Array(items) = &at.value else {
                return Err(self.invalid(&at, AUTHORS, a_type(&at.value).into()));
            };
            let mut names = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => names.push(s.clone()),
                    other => {
                        return Err(self.invalid(&at, AUTHORS, format!("{} in it", a_type(other))));
                    }
                }
            }
            annotations.insert("org.opencontainers.image.authors".into(), names.join(", "));
        }
        Ok(PackageInfo {
            name,
            version,
            file,
            wit,
            repository,
            annotations,
        })
    }
}

/// Changes to the text of a manifest that keep everything else as the user wrote it.
pub mod edit {
    use toml_edit::{DocumentMut, InlineTable, Item, Table, value};

    use crate::name::PackageName;

    /// What `add` writes for a dependency.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum NewDependency {
        /// `"ns:name" = "REQ"`.
        Version(String),
        /// `"ns:name" = { version = "REQ", registry = "PREFIX" }`.
        VersionAt {
            /// The requirement.
            version: String,
            /// The registry prefix.
            registry: String,
        },
        /// `"ns:name" = { reference = "REF" }`.
        Reference(String),
    }

    fn document(text: &str) -> Result<DocumentMut, String> {
        text.parse::<DocumentMut>().map_err(|e| e.to_string())
    }

    /// Sets `[dependencies]."NAME"`, creating the table when needed.
    pub fn set_dependency(
        text: &str,
        name: &PackageName,
        dependency: &NewDependency,
    ) -> Result<String, String> {
        let mut doc = document(text)?;
        if !doc.contains_key("dependencies") {
            doc.insert("dependencies", Item::Table(Table::new()));
        }
        let deps = doc["dependencies"]
            .as_table_like_mut()
            .ok_or("`dependencies` is not a table")?;
        let item = match dependency {
            NewDependency::Version(req) => value(req.as_str()),
            NewDependency::VersionAt { version, registry } => {
                let mut table = InlineTable::new();
                table.insert("version", version.as_str().into());
                table.insert("registry", registry.as_str().into());
                value(table)
            }
            NewDependency::Reference(reference) => {
                let mut table = InlineTable::new();
                table.insert("reference", reference.as_str().into());
                value(table)
            }
        };
        deps.insert(&name.to_string(), item);
        Ok(doc.to_string())
    }

    /// Removes `[dependencies]."NAME"`; `None` when there is no such entry.
    pub fn remove_dependency(text: &str, name: &str) -> Result<Option<String>, String> {
        let mut doc = document(text)?;
        let removed = doc
            .get_mut("dependencies")
            .and_then(|deps| deps.as_table_like_mut())
            .and_then(|deps| deps.remove(name));
        Ok(removed.map(|_| doc.to_string()))
    }
}

#[cfg(test)]
mod tests;
