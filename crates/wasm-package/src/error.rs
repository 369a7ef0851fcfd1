//! Every error of the package manager, in one place so that the texts can be read and reviewed
//! together.
//!
//! What must stay true: messages are lowercase, without a trailing period, and say what to fix;
//! errors in `wasm.toml` and `wasm.lock` name the file, the line and column, and the key; a
//! registry failure names the package, where its name led, and keeps the registry's error as its
//! source (so the CLI's exit status and `caused by:` lines stay those of `push`/`pull`); nothing
//! here ever holds a secret (errors carry names, digests and paths only).

use std::fmt;
use std::path::PathBuf;

use wasm_config::ConfigError;
use wasm_config::toml_keys::{KeyPath, locate};
use wasm_registry::RegistryError;

use crate::name::PackageName;

/// Where in a file something is: `PATH:LINE:COLUMN`, or `PATH` when the line is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub line_column: Option<(usize, usize)>,
}

impl Location {
    /// The location of `key` in `text`, the contents of `path`.
    pub(crate) fn of(path: &std::path::Path, text: &str, key: &KeyPath) -> Location {
        Location {
            path: path.to_owned(),
            line_column: locate(text, key),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, column)) = self.line_column {
            write!(f, ":{line}:{column}")?;
        }
        Ok(())
    }
}

/// A tag that points at another manifest than the lock records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedTag {
    /// The package.
    pub name: PackageName,
    /// `REGISTRY/REPOSITORY:TAG`.
    pub reference: String,
    /// The manifest digest in `wasm.lock`.
    pub locked: String,
    /// The manifest digest the tag points at now.
    pub now: String,
}

/// A package whose download failed.
#[derive(Debug)]
pub struct FetchFailure {
    /// The package.
    pub name: PackageName,
    /// Why.
    pub error: RegistryError,
}

/// An error of a package-manager operation.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A file that is not valid TOML.
    #[error("{path}:{line}:{column}: invalid TOML: {message}", path = path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column (characters).
        column: usize,
        /// The parser's message.
        message: String,
    },

    /// A key the file format does not have.
    #[error(
        "{at}: unknown key `{key}` in {table}{}(known keys: {})",
        did_you_mean(*.suggestion),
        backticked(known)
    )]
    UnknownKey {
        /// Where the key is.
        at: Location,
        /// The table holding it, e.g. `` `dependencies."acme:x"` `` or `the top level`.
        table: String,
        /// The key as written.
        key: String,
        /// A known key it looks like a misspelling of.
        suggestion: Option<&'static str>,
        /// The keys the table accepts.
        known: &'static [&'static str],
    },

    /// A value of the wrong type or form.
    #[error("{at}: `{key}` must be {expected}, found {found}")]
    InvalidValue {
        /// Where the value is.
        at: Location,
        /// The full TOML key.
        key: String,
        /// What the key accepts.
        expected: String,
        /// What the file has instead.
        found: String,
    },

    /// A key that should be a package name and is not.
    #[error("{at}: `{key}`: {reason}")]
    InvalidName {
        /// Where the key is.
        at: Location,
        /// The full TOML key.
        key: String,
        /// What is wrong with the name, and the fix.
        reason: String,
    },

    /// No `wasm.toml` here or above.
    #[error(
        "no wasm.toml in {} or any parent directory; run `wasm init` to create one",
        dir.display()
    )]
    NoManifest {
        /// Where the search started.
        dir: PathBuf,
    },

    /// `wasm init` where a manifest exists.
    #[error("{} already exists; edit it, or remove it first to start over", path.display())]
    ManifestExists {
        /// The manifest.
        path: PathBuf,
    },

    /// A file could not be read or written.
    #[error("cannot {what} {}", path.display())]
    Io {
        /// `read`, `write`, `remove`, ...
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A lock written by a newer `wasm`.
    #[error(
        "{at}: wasm.lock has version {found}, but this wasm reads version {supported}; upgrade \
         wasm, or delete wasm.lock and run `wasm install` to lock again"
    )]
    LockVersion {
        /// Where the version is.
        at: Location,
        /// The version found.
        found: i64,
        /// The version this build writes.
        supported: u32,
    },

    /// No rule of the name mapping knows the package.
    #[error(
        "no registry known for `{name}`; tried:\n{}\nto fix it, {fix}",
        tried.iter().map(|t| format!("  - {t}")).collect::<Vec<_>>().join("\n")
    )]
    UnknownName {
        /// The package.
        name: PackageName,
        /// Each rule tried and why it did not apply.
        tried: Vec<String>,
        /// The config key that would fix it.
        fix: String,
    },

    /// A discovery document that cannot be used.
    #[error("{url}: {problem}")]
    Discovery {
        /// The document's URL.
        url: String,
        /// What is wrong with it.
        problem: String,
    },

    /// No tag of the repository satisfies the requirement.
    #[error(
        "no version of `{name}` in {repository} matches `{requirement}`{}",
        if available.is_empty() {
            "; the repository has no version tags (tags must be semantic versions, like `1.2.0`)"
                .to_owned()
        } else {
            format!(" (versions: {}); change the requirement in wasm.toml", available.join(", "))
        }
    )]
    NoMatchingVersion {
        /// The package.
        name: PackageName,
        /// The requirement as written.
        requirement: String,
        /// `REGISTRY/REPOSITORY`.
        repository: String,
        /// The versions the repository has, newest last (the last few).
        available: Vec<String>,
    },

    /// A registry operation for a package failed.
    #[error("{what}{}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Registry {
        /// What was being done, naming the package and where its name led.
        what: String,
        /// What to try (e.g. `wasm registry test`), for credential and network problems.
        hint: Option<String>,
        /// The registry's error.
        #[source]
        source: RegistryError,
    },

    /// Tags that moved under the lock.
    #[error(
        "{} in wasm.lock now point{} at other content:\n{}\na published version that changes is a \
         supply-chain event: nothing was written; if you trust the new content, run \
         `wasm update {}`",
        if moved.len() == 1 { "a tag" } else { "tags" },
        if moved.len() == 1 { "s" } else { "" },
        moved.iter().map(|m| format!(
            "  - {} ({}): locked {}, now {}", m.name, m.reference, m.locked, m.now
        )).collect::<Vec<_>>().join("\n"),
        moved.iter().map(|m| m.name.to_string()).collect::<Vec<_>>().join(" ")
    )]
    MovedTags {
        /// Each moved tag.
        moved: Vec<MovedTag>,
    },

    /// `--locked`, and the lock is missing or would change.
    #[error(
        "--locked: {}:\n{}\nrun `{command}` without --locked and commit wasm.lock",
        if *.missing { "wasm.lock is missing" } else { "wasm.lock would change" },
        changes.iter().map(|c| format!("  - {c}")).collect::<Vec<_>>().join("\n")
    )]
    Locked {
        /// The command to run without --locked (`wasm install`, `wasm wit fetch`).
        command: &'static str,
        /// The lock file does not exist.
        missing: bool,
        /// What would change.
        changes: Vec<String>,
    },

    /// `--offline`, and something needs the network.
    #[error("cannot {what} offline: {why}; run it once with network access")]
    Offline {
        /// What was asked, naming the package.
        what: String,
        /// What is missing.
        why: String,
    },

    /// Some downloads failed (the others were written); the lock was not changed.
    #[error(
        "{} of {} package(s) could not be installed:\n{}\nwasm.lock was not changed",
        failures.len(),
        total,
        failures.iter().map(|f| format!("  - {}: {}", f.name, error_chain(&f.error)))
            .collect::<Vec<_>>().join("\n")
    )]
    Fetch {
        /// The failures.
        failures: Vec<FetchFailure>,
        /// How many packages were fetched in all.
        total: usize,
    },

    /// `remove` of a package that is not a dependency.
    #[error("`{name}` is not a dependency in {} (dependencies: {})", path.display(),
        if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    NotADependency {
        /// The name given.
        name: String,
        /// The manifest.
        path: PathBuf,
        /// The dependencies it has.
        known: Vec<String>,
    },

    /// `publish` without `[package]`.
    #[error(
        "{}: `publish` needs a [package] table with `name`, `version` and `file`; `wasm init` \
         writes one",
        path.display()
    )]
    NoPackage {
        /// The manifest.
        path: PathBuf,
    },

    /// `publish` of a version whose tag holds other content.
    #[error(
        "refusing to replace {reference}: it holds other content (manifest {existing}, layer \
         {existing_layer}; the file's layer would be {file_layer}); published versions are \
         immutable, so bump `version` in [package]; --force replaces it, which is dangerous: \
         every lock that pinned the old digest will refuse the new content"
    )]
    VersionExists {
        /// `REGISTRY/REPOSITORY:VERSION`.
        reference: String,
        /// The manifest digest the tag points at.
        existing: String,
        /// Its layer digest.
        existing_layer: String,
        /// The layer digest of the file to publish.
        file_layer: String,
    },

    /// `wit fetch` or `wit build` without the WIT directory.
    #[error(
        "{} holds no WIT package (no `*.wit` file); write one there, starting with \
         `package NS:NAME;`, or name its directory with --wit-dir",
        dir.display()
    )]
    NoWitDir {
        /// The directory.
        dir: PathBuf,
    },

    /// The local WIT text does not parse.
    #[error("cannot parse the WIT package in {}: {message}", dir.display())]
    WitText {
        /// The WIT directory.
        dir: PathBuf,
        /// wit-parser's message, starting with `FILE:LINE:COLUMN`.
        message: String,
    },

    /// The WIT directory with its `deps/` does not resolve.
    #[error("the WIT in {} does not resolve: {message}", dir.display())]
    WitResolve {
        /// The WIT directory.
        dir: PathBuf,
        /// wit-parser's message, with the file and line.
        message: String,
    },

    /// A registry artifact that should be a WIT package is not one.
    #[error(
        "`{name}` ({reference}) is {found}, not a WIT package; a WIT world can only use WIT \
         packages (`wasm add` installs components)"
    )]
    NotAWitPackage {
        /// The package.
        name: PackageName,
        /// `REGISTRY/REPOSITORY@DIGEST`.
        reference: String,
        /// What it is.
        found: String,
    },

    /// A registry artifact that should be a component is a WIT package.
    #[error("{what} is a WIT package ({package}), not a component; {fix}")]
    NotAComponent {
        /// What was expected to be a component.
        what: String,
        /// The WIT package's `ns:name@version`.
        package: String,
        /// What to do instead.
        fix: String,
    },

    /// `publish` of a WIT package whose `package` line differs from `[package]`.
    #[error(
        "the WIT package in {} is `{found}`, but [package] in {} says `{expected}`; make the \
         `package NS:NAME@VERSION;` line and [package] `name` and `version` agree",
        dir.display(),
        manifest.display()
    )]
    WitMismatch {
        /// The WIT directory.
        dir: PathBuf,
        /// What its package line says.
        found: String,
        /// The manifest.
        manifest: PathBuf,
        /// `name@version` of `[package]`.
        expected: String,
    },

    /// A WIT package whose binary names another package than its name and version.
    #[error(
        "{reference} was fetched as `{name}` {version} but holds the WIT package `{found}`; the \
         name mapping or the tag points at the wrong repository"
    )]
    WrongWitPackage {
        /// The package asked for.
        name: PackageName,
        /// The version asked for.
        version: String,
        /// `REGISTRY/REPOSITORY@DIGEST`.
        reference: String,
        /// What the binary says it is.
        found: String,
    },

    /// A version that WIT text names exactly is not in the repository.
    #[error(
        "`{package}`, used by {path}, is not in {repository} ({}); change the version in the \
         WIT that uses it, or publish it",
        if available.is_empty() {
            "it has no version tags".to_owned()
        } else {
            format!("versions: {}", available.join(", "))
        }
    )]
    NoWitVersion {
        /// `ns:name@version`.
        package: String,
        /// `REGISTRY/REPOSITORY`.
        repository: String,
        /// The versions the repository has, newest last (the last few).
        available: Vec<String>,
        /// Who uses it: `wit -> ns:a@1`.
        path: String,
    },

    /// Two WIT packages need different versions of one package.
    #[error(
        "two versions of `{name}` are needed, and a WIT directory can hold one:\n  - {first}\n  \
         - {second}\nto use one version for both, add `\"{name}\" = \"REQUIREMENT\"` to \
         [dependencies] in wasm.toml"
    )]
    WitConflict {
        /// The package.
        name: PackageName,
        /// The first path that requires it, and the version.
        first: String,
        /// The second.
        second: String,
    },

    /// An error about a package that a WIT package needs, with the path that needs it.
    #[error("{error}\n(needed by {path})")]
    NeededBy {
        /// `wit -> ns:a@1 -> ...`.
        path: String,
        /// The error.
        error: Box<PackageError>,
    },

    /// A reference that does not parse.
    #[error(transparent)]
    Reference(#[from] wasm_registry::ReferenceError),

    /// A bad command-line argument (e.g. `wasm add` of something that is neither a name nor a
    /// reference).
    #[error("{0}")]
    Usage(String),
}

impl PackageError {
    /// A [`ConfigError`] from the `toml_keys` machinery about the value at `key` of `path`
    /// (whose text is `text`), with the line and column added.
    pub(crate) fn from_toml(
        err: ConfigError,
        path: &std::path::Path,
        text: &str,
        key: &KeyPath,
    ) -> PackageError {
        match err {
            ConfigError::UnknownKey {
                table,
                key: unknown,
                suggestion,
                known,
                ..
            } => PackageError::UnknownKey {
                at: Location::of(path, text, &key.join(&unknown)),
                table,
                key: unknown,
                suggestion,
                known,
            },
            ConfigError::InvalidValue {
                key: written,
                expected,
                found,
                ..
            } => PackageError::InvalidValue {
                at: Location::of(path, text, key),
                key: written,
                expected: expected.to_owned(),
                found,
            },
            ConfigError::Syntax {
                path,
                line,
                column,
                message,
            } => PackageError::Syntax {
                path,
                line,
                column,
                message,
            },
            other => PackageError::Usage(other.to_string()),
        }
    }
}

/// `error: caused by: ...` flattened into one line, for lists of failures.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn backticked(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(key) => format!(": did you mean `{key}`? "),
        None => " ".to_owned(),
    }
}
