//! `wasm.lock`: exactly what was installed, pinned by digest (docs/packages.md, "The lock").
//!
//! What must stay true: the text is a function of the packages alone — sorted by name, no
//! timestamps, fixed key order — so that two installs of the same thing write the same bytes
//! and a diff shows only real changes; `version` says which format this is, and a lock of a
//! newer format is refused rather than misread. Reading checks every value with its key path
//! (a hand-edited or merge-conflicted lock gets a message with file, line and column).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::{Table, Value};
use wasm_config::toml_keys::{At, KeyPath, TomlTable, a_type, line_column};
use wasm_registry::{Reference, Repository};

use crate::error::{Location, PackageError};
use crate::name::PackageName;

/// The lock's file name.
pub const LOCK_FILE: &str = "wasm.lock";

/// The format version this build reads and writes.
pub const LOCK_VERSION: u32 = 1;

/// What kind of package an entry is; decides where it is installed.
///
/// The kind comes from the artifact (a binary WIT package, or a component), never from the
/// user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Wasm component (or core module), installed as `DIR/NAMESPACE/NAME.wasm`.
    Component,
    /// A WIT interface package, written as WIT text to
    /// `WIT_DIR/deps/NS-NAME-VERSION/package.wit` (wkg's layout; docs/wit.md).
    Wit,
}

impl Kind {
    /// The name in the lock.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Component => "component",
            Kind::Wit => "wit",
        }
    }

    /// Where a package of this kind is installed, relative to the project root: components go
    /// to `install_dir/NAMESPACE/NAME.wasm` (`[install] dir`), WIT packages to
    /// `wit_dir/deps/NS-NAME-VERSION/package.wit`.
    pub fn install_path(
        self,
        install_dir: &Path,
        wit_dir: &Path,
        name: &PackageName,
        version: Option<&semver::Version>,
    ) -> PathBuf {
        match self {
            Kind::Component => install_dir
                .join(name.namespace())
                .join(format!("{}.wasm", name.name())),
            Kind::Wit => crate::wit::deps_path(wit_dir, name, version),
        }
    }
}

/// One locked package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    /// The name (the dependency's key in wasm.toml).
    pub name: PackageName,
    /// What it is.
    pub kind: Kind,
    /// The requirement it was resolved for, as written in wasm.toml (for a `reference`
    /// dependency: the reference).
    pub requirement: String,
    /// The version chosen; `None` for a `reference` dependency.
    pub version: Option<semver::Version>,
    /// The repository it came from.
    pub repository: Repository,
    /// The manifest digest.
    pub manifest_digest: String,
    /// The digest of its layer: the installed file's digest.
    pub layer_digest: String,
    /// The layer's size in bytes.
    pub size: u64,
    /// For a WIT package: the digest of the WIT text written to `wit/deps` (what is checked on
    /// disk, so that nothing changed means no request even without the cache).
    pub text_digest: Option<String>,
}

impl LockedPackage {
    /// The tag this entry was resolved through (its version, or the reference's tag), if any:
    /// the tag whose movement `install` checks.
    pub fn tag(&self) -> Option<String> {
        match &self.version {
            Some(version) => Some(version.to_string()),
            None => Reference::parse(&self.requirement)
                .ok()
                .filter(|r| r.digest().is_none())
                .and_then(|r| r.tag().map(str::to_owned)),
        }
    }

    /// `REGISTRY/REPOSITORY@MANIFEST_DIGEST`: what `install` fetches.
    pub fn pinned(&self) -> Reference {
        let text = format!("{}@{}", self.repository, self.manifest_digest);
        Reference::parse(&text).expect("a locked repository and digest form a reference")
    }

    /// `REGISTRY/REPOSITORY:TAG`, when the entry has a tag.
    pub fn tagged(&self) -> Option<Reference> {
        let tag = self.tag()?;
        Reference::parse(&format!("{}:{tag}", self.repository)).ok()
    }

    /// The error for a fetch that wrote another layer than this entry pins (a registry that
    /// does not serve what it is asked for by digest).
    pub fn layer_mismatch(&self, found: &str) -> wasm_registry::RegistryError {
        wasm_registry::RegistryError::Protocol {
            registry: self.repository.registry.to_string(),
            problem: format!(
                "{} has layer {found}, but wasm.lock says {}",
                self.pinned(),
                self.layer_digest
            ),
        }
    }

    /// `1.2.3`, or the reference for a `reference` dependency.
    pub fn describe_version(&self) -> String {
        match &self.version {
            Some(v) => v.to_string(),
            None => self.requirement.clone(),
        }
    }
}

/// The whole lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    /// By name.
    pub packages: BTreeMap<PackageName, LockedPackage>,
}

impl Lock {
    /// Reads the lock at `path`; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<Lock>, PackageError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Lock::parse(&text, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PackageError::Io {
                what: "read",
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes the lock atomically (a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> Result<(), PackageError> {
        crate::files::write_atomically(path, self.to_text().as_bytes())
    }

    /// The lock's text: deterministic (see the module docs).
    pub fn to_text(&self) -> String {
        let file = LockToml {
            version: LOCK_VERSION,
            package: self
                .packages
                .values()
                .map(|p| PackageEntryToml {
                    name: p.name.to_string(),
                    kind: p.kind,
                    requirement: p.requirement.clone(),
                    version: p.version.as_ref().map(ToString::to_string),
                    registry: p.repository.registry.to_string(),
                    repository: p.repository.repository.clone(),
                    manifest_digest: p.manifest_digest.clone(),
                    layer_digest: p.layer_digest.clone(),
                    size: p.size,
                    text_digest: p.text_digest.clone(),
                })
                .collect(),
        };
        let body = toml::to_string(&file).expect("the lock serializes");
        format!(
            "# wasm.lock: written by `wasm`, do not edit. Every package pinned by digest; \
             commit this file.\n{body}"
        )
    }

    /// Parses and checks the text of a lock; `path` is for messages.
    pub fn parse(text: &str, path: &Path) -> Result<Lock, PackageError> {
        let table: Table = toml::from_str(text).map_err(|e| {
            let (line, column) = line_column(text, e.span().map_or(text.len(), |s| s.start));
            PackageError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let at = At {
            value: table,
            file: path,
            key: KeyPath::default(),
        };
        let fail_toml = |e, key: &KeyPath| PackageError::from_toml(e, path, text, key);
        let invalid = |key: &KeyPath, expected: &str, found: String| PackageError::InvalidValue {
            at: Location::of(path, text, key),
            key: key.to_string(),
            expected: expected.to_owned(),
            found,
        };
        let LockTopToml { version, package } =
            at.deserialize().map_err(|e| fail_toml(e, &at.key))?;
        let version_key = at.key.join("version");
        match version {
            Some(Value::Integer(v)) if v == i64::from(LOCK_VERSION) => {}
            Some(Value::Integer(found)) if found > i64::from(LOCK_VERSION) => {
                return Err(PackageError::LockVersion {
                    at: Location::of(path, text, &version_key),
                    found,
                    supported: LOCK_VERSION,
                });
            }
            Some(other) => {
                return Err(invalid(&version_key, "1", other.to_string()));
            }
            None => {
                return Err(invalid(
                    &at.key,
                    "a lock with `version = 1`",
                    "no `version`".into(),
                ));
            }
        }
        let mut packages = BTreeMap::new();
        let entries = match package {
            None => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(invalid(
                    &at.key.join("package"),
                    "an array of tables `[[package]]`",
                    a_type(&other).into(),
                ));
            }
        };
        for (index, entry) in entries.into_iter().enumerate() {
            let key = at.key.join("package").join(&index.to_string());
            let Value::Table(table) = entry else {
                return Err(invalid(
                    &key,
                    "a table `[[package]]`",
                    a_type(&entry).into(),
                ));
            };
            let entry = At {
                value: table,
                file: path,
                key: key.clone(),
            };
            let raw: PackageEntryValues = entry.deserialize().map_err(|e| fail_toml(e, &key))?;
            let field = |name: &str, value: Option<Value>| -> Result<String, PackageError> {
                match value {
                    Some(Value::String(s)) if !s.is_empty() => Ok(s),
                    Some(other) => Err(invalid(
                        &key.join(name),
                        "a non-empty string",
                        a_type(&other).into(),
                    )),
                    None => Err(invalid(
                        &key,
                        &format!("a `[[package]]` with `{name}`"),
                        format!("no `{name}`"),
                    )),
                }
            };
            let name_text = field("name", raw.name)?;
            let name = PackageName::parse(&name_text)
                .map_err(|e| invalid(&key.join("name"), "a package name", e.to_string()))?;
            let kind = match field("kind", raw.kind)?.as_str() {
                "component" => Kind::Component,
                "wit" => Kind::Wit,
                other => {
                    return Err(invalid(
                        &key.join("kind"),
                        "\"component\" or \"wit\" (a newer wasm may know more kinds)",
                        format!("{other:?}"),
                    ));
                }
            };
            let requirement = field("requirement", raw.requirement)?;
            let version = match raw.version {
                None => None,
                Some(value) => {
                    let text = field("version", Some(value))?;
                    Some(semver::Version::parse(&text).map_err(|e| {
                        invalid(
                            &key.join("version"),
                            "a semantic version",
                            format!("{text:?} ({e})"),
                        )
                    })?)
                }
            };
            let registry = field("registry", raw.registry)?;
            let repository_text = field("repository", raw.repository)?;
            let repository = Repository::parse(&format!("{registry}/{repository_text}"))
                .ok()
                .filter(|r| r.registry.as_str() == registry && r.repository == repository_text)
                .ok_or_else(|| {
                    invalid(
                        &key.join("repository"),
                        "a repository of the registry",
                        format!("{registry}/{repository_text}"),
                    )
                })?;
            let digest = |name: &str, value: Option<Value>| -> Result<String, PackageError> {
                let text = field(name, value)?;
                let valid = text.strip_prefix("sha256:").is_some_and(|hex| {
                    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                });
                if valid {
                    Ok(text)
                } else {
                    Err(invalid(
                        &key.join(name),
                        "a digest `sha256:` + 64 hex digits",
                        format!("{text:?}"),
                    ))
                }
            };
            let manifest_digest = digest("manifest-digest", raw.manifest_digest)?;
            let layer_digest = digest("layer-digest", raw.layer_digest)?;
            let text_digest = raw
                .text_digest
                .map(|value| digest("text-digest", Some(value)))
                .transpose()?;
            let size = match raw.size {
                Some(Value::Integer(n)) if n >= 0 => n.unsigned_abs(),
                Some(other) => {
                    return Err(invalid(
                        &key.join("size"),
                        "a size in bytes",
                        other.to_string(),
                    ));
                }
                None => {
                    return Err(invalid(
                        &key,
                        "a `[[package]]` with `size`",
                        "no `size`".into(),
                    ));
                }
            };
            if packages.contains_key(&name) {
                return Err(invalid(
                    &key.join("name"),
                    "each package once",
                    format!("`{name}` again"),
                ));
            }
            packages.insert(
                name.clone(),
                LockedPackage {
                    name,
                    kind,
                    requirement,
                    version,
                    repository,
                    manifest_digest,
                    layer_digest,
                    size,
                    text_digest,
                },
            );
        }
        Ok(Lock { packages })
    }
}

/// The file as written (serialization; field order is the key order).
#[derive(Serialize)]
struct LockToml {
    version: u32,
    package: Vec<PackageEntryToml>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct PackageEntryToml {
    name: String,
    kind: Kind,
    requirement: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    registry: String,
    repository: String,
    manifest_digest: String,
    layer_digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    text_digest: Option<String>,
}

/// The file as read: every value as it comes, unknown keys refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockTopToml {
    version: Option<Value>,
    package: Option<Value>,
}

impl TomlTable for LockTopToml {
    const KEYS: &'static [&'static str] = &["version", "package"];
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PackageEntryValues {
    name: Option<Value>,
    kind: Option<Value>,
    requirement: Option<Value>,
    version: Option<Value>,
    registry: Option<Value>,
    repository: Option<Value>,
    manifest_digest: Option<Value>,
    layer_digest: Option<Value>,
    size: Option<Value>,
    text_digest: Option<Value>,
}

impl TomlTable for PackageEntryValues {
    const KEYS: &'static [&'static str] = &[
        "name",
        "kind",
        "requirement",
        "version",
        "registry",
        "repository",
        "manifest-digest",
        "layer-digest",
        "size",
        "text-digest",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    pub(crate) fn sample() -> Lock {
        let mut lock = Lock::default();
        for (name, version, repo) in [
            ("acme:b", Some("1.2.3"), "acme/b"),
            ("acme:a", None, "tools/a"),
        ] {
            let name = PackageName::parse(name).unwrap();
            let requirement = match version {
                Some(_) => "1.2".to_owned(),
                None => "localhost:5000/tools/a:1".to_owned(),
            };
            lock.packages.insert(
                name.clone(),
                LockedPackage {
                    name,
                    kind: Kind::Component,
                    requirement,
                    version: version.map(|v| semver::Version::parse(v).unwrap()),
                    repository: Repository::parse(&format!("localhost:5000/{repo}")).unwrap(),
                    manifest_digest: digest('a'),
                    layer_digest: digest('b'),
                    size: 342,
                    text_digest: None,
                },
            );
        }
        lock
    }

    #[test]
    fn the_text_is_deterministic_and_round_trips() {
        let lock = sample();
        let text = lock.to_text();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert_eq!(
            text,
            format!(
                "# wasm.lock: written by `wasm`, do not edit. Every package pinned by digest; \
                 commit this file.\n\
                 version = 1\n\n\
                 [[package]]\n\
                 name = \"acme:a\"\n\
                 kind = \"component\"\n\
                 requirement = \"localhost:5000/tools/a:1\"\n\
                 registry = \"localhost:5000\"\n\
                 repository = \"tools/a\"\n\
                 manifest-digest = \"sha256:{a}\"\n\
                 layer-digest = \"sha256:{b}\"\n\
                 size = 342\n\n\
                 [[package]]\n\
                 name = \"acme:b\"\n\
                 kind = \"component\"\n\
                 requirement = \"1.2\"\n\
                 version = \"1.2.3\"\n\
                 registry = \"localhost:5000\"\n\
                 repository = \"acme/b\"\n\
                 manifest-digest = \"sha256:{a}\"\n\
                 layer-digest = \"sha256:{b}\"\n\
                 size = 342\n"
            )
        );
        let back = Lock::parse(&text, Path::new("wasm.lock")).unwrap();
        assert_eq!(back, lock);
        assert_eq!(back.to_text(), text);
        let entry = &back.packages[&PackageName::parse("acme:a").unwrap()];
        assert_eq!(entry.tag().as_deref(), Some("1"));
        assert_eq!(
            entry.pinned().to_string(),
            format!("localhost:5000/tools/a@sha256:{a}")
        );
        assert_eq!(
            Lock::default().to_text().lines().nth(1),
            Some("version = 1")
        );
    }

    #[test]
    fn wit_packages_round_trip_and_go_to_wit_deps() {
        let mut lock = sample();
        let name = PackageName::parse("wasi:io").unwrap();
        let entry = LockedPackage {
            name: name.clone(),
            kind: Kind::Wit,
            requirement: "=0.2.3".into(),
            version: Some(semver::Version::new(0, 2, 3)),
            repository: Repository::parse("ghcr.io/webassembly/wasi/io").unwrap(),
            manifest_digest: digest('c'),
            layer_digest: digest('d'),
            size: 9,
            text_digest: Some(digest('e')),
        };
        lock.packages.insert(name.clone(), entry.clone());
        let text = lock.to_text();
        assert!(
            text.contains("name = \"wasi:io\"\nkind = \"wit\"\n"),
            "{text}"
        );
        assert_eq!(Lock::parse(&text, Path::new("wasm.lock")).unwrap(), lock);
        assert_eq!(
            entry.kind.install_path(
                Path::new("vendor/wasm"),
                Path::new("wit"),
                &name,
                entry.version.as_ref()
            ),
            Path::new("wit/deps/wasi-io-0.2.3/package.wit")
        );
        assert_eq!(
            Kind::Component.install_path(Path::new("vendor/wasm"), Path::new("wit"), &name, None),
            Path::new("vendor/wasm/wasi/io.wasm")
        );
    }

    #[test]
    fn bad_locks_are_named_with_line_and_key() {
        let good = sample().to_text();
        let error = |text: &str| {
            Lock::parse(text, Path::new("/p/wasm.lock"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error(&good.replace("version = 1", "version = 2")),
            "/p/wasm.lock:2:1: wasm.lock has version 2, but this wasm reads version 1; upgrade \
             wasm, or delete wasm.lock and run `wasm install` to lock again"
        );
        assert_eq!(
            error(&good.replacen("size = 342", "sise = 342", 1)),
            "/p/wasm.lock:12:1: unknown key `sise` in `package.0`: did you mean `size`? (known \
             keys: `name`, `kind`, `requirement`, `version`, `registry`, `repository`, \
             `manifest-digest`, `layer-digest`, `size`, `text-digest`)"
        );
        assert_eq!(
            error(&good.replacen(&format!("sha256:{}", "a".repeat(64)), "sha256:abc", 1)),
            "/p/wasm.lock:10:1: `package.0.manifest-digest` must be a digest `sha256:` + 64 hex \
             digits, found \"sha256:abc\""
        );
        assert_eq!(
            error(&good.replacen("kind = \"component\"", "kind = \"world\"", 1)),
            "/p/wasm.lock:6:1: `package.0.kind` must be \"component\" or \"wit\" (a newer wasm \
             may know more kinds), found \"world\""
        );
        assert_eq!(
            error("version = 1\n<<<<<<< HEAD\n"),
            "/p/wasm.lock:2:9: invalid TOML: key with no value, expected `=`"
        );
    }
}
