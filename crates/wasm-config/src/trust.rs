//! Trust in project config files: which of their settings need it, and the store that records
//! it.
//!
//! A project config (`.config/wasm/config.toml` in the current directory) comes with the
//! directory, and a cloned repository can carry one. Running `wasm` there must not run that
//! repository's commands, nor let it weaken how `wasm` protects the connection to a registry. So
//! the settings of a project file that do either are *risky* ([`Risk`]) and are ignored until the
//! user trusts the file with `wasm self trust`:
//! - `credential-helper`, in either form: runs commands;
//! - `insecure = true`: accepts any certificate, so anyone on the network can read and change
//!   the traffic, credentials included;
//! - `protocol = "http"` for a registry that is not on this machine ([`RegistryName::is_loopback`]): sends the
//!   traffic, and credentials from every source, unencrypted over the network;
//! - `ca-file`: trusts a certificate authority the repository chose, so its holder can
//!   impersonate the registry.
//!
//! Everything else applies untrusted: `helper-timeout`, `protocol = "https"`, `protocol = "http"`
//! for a loopback registry, `insecure = false`, and a table's very presence.
//!
//! What must stay true:
//! - The decision is [`apply_trust`], a pure function of a parsed file and its [`Trust`]; the
//!   commands that act on the merged config never decide again.
//! - The global file and the file named with `--config`/`WASM_CONFIG` are trusted
//!   ([`Trust::Implicit`]): the user chose them.
//! - Trust in a project file is recorded for its canonical path with the SHA-256 of the exact
//!   bytes trusted; other bytes at that path are untrusted again ([`Trust::Changed`]). A project
//!   file reached through a symbolic link below the current directory is never trusted
//!   ([`Trust::Linked`]): a repository could link to a file trusted elsewhere, whose commands
//!   would then run, and whose relative `ca-file` would resolve, in the repository.
//! - An untrusted table loses its risky keys and otherwise still replaces the earlier table of
//!   its registry whole (see `load`): the earlier file's risky values are never kept in its
//!   place, so a table's settings always come from one file (`defined_in` stays right, and the
//!   permission check of a helper checks the file that names it), and the untrusted result is
//!   the trusted one minus exactly the settings the warning names.
//! - The store is replaced atomically (a temporary file in the same directory, then a rename),
//!   mode 0600, its directory created with mode 0700; a store that cannot be parsed is never
//!   overwritten. Parsing ([`TrustStore::parse`]) and lookups do no I/O.

use crate::registry_name::{RegistryName, Scheme};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{ConfigError, TrustError, TrustStoreError};
use crate::load::{ConfigFile, project_config_path, xdg_dir_or};
use crate::model::{Config, ConfigFileContents, CredentialHelper, RegistryConfig};

/// Whether the risky settings of a config file apply, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The global file, or the file named with `--config`/`WASM_CONFIG`: the user chose it.
    Implicit,
    /// A project file without risky settings (or a missing one): there is nothing to trust, and
    /// the store is not consulted.
    NotNeeded,
    /// A project file trusted with `wasm self trust`, with exactly this content.
    Trusted,
    /// A project file that was never trusted, or whose trust was revoked.
    Untrusted,
    /// A project file that was trusted with other content: it changed since.
    Changed,
    /// A project file reached through a symbolic link (the file or a directory on the way from
    /// the current directory): trust is only given to a file where it lies.
    Linked {
        /// Where the link leads.
        target: PathBuf,
    },
}

impl Trust {
    /// Whether the file's risky settings apply.
    pub fn allows_risky(&self) -> bool {
        matches!(self, Trust::Implicit | Trust::NotNeeded | Trust::Trusted)
    }
}

/// The state in a few words, e.g. `not trusted`, `changed since you trusted it`.
impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::Implicit => f.write_str("trusted (your own file)"),
            Trust::NotNeeded => f.write_str("nothing in it needs trust"),
            Trust::Trusted => f.write_str("trusted with `wasm self trust`"),
            Trust::Untrusted => f.write_str("not trusted"),
            Trust::Changed => f.write_str("changed since you trusted it"),
            Trust::Linked { target } => write!(
                f,
                "reached through a symbolic link to {}, which wasm never trusts",
                target.display()
            ),
        }
    }
}

/// A setting that takes effect only in a trusted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskySetting {
    /// The registry of the table holding it.
    pub registry: RegistryName,
    /// Which setting, with the file's value.
    pub risk: Risk,
}

/// The kinds of risky settings (see the module docs for why each is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Risk {
    /// `credential-helper`: the commands it would run.
    CredentialHelper(CredentialHelper),
    /// `insecure = true`.
    Insecure,
    /// `protocol = "http"` for a registry that is not on this machine.
    PlainHttp,
    /// `ca-file`, resolved against the file's directory.
    CaFile(PathBuf),
}

impl RiskySetting {
    /// The full TOML key, e.g. `registries."ghcr.io".credential-helper`.
    pub fn key(&self) -> String {
        let name = match self.risk {
            Risk::CredentialHelper(_) => "credential-helper",
            Risk::Insecure => "insecure",
            Risk::PlainHttp => "protocol",
            Risk::CaFile(_) => "ca-file",
        };
        format!("registries.\"{}\".{name}", self.registry)
    }

    /// What the setting makes `wasm` do, e.g. `runs commands`.
    pub fn effect(&self) -> &'static str {
        match self.risk {
            Risk::CredentialHelper(_) => "runs commands",
            Risk::Insecure => "accepts any TLS certificate from the registry",
            Risk::PlainHttp => {
                "sends requests and credentials unencrypted to a registry on another machine"
            }
            Risk::CaFile(_) => "trusts a certificate authority chosen by the file",
        }
    }
}

/// `KEY = VALUE`, as in the file (a `ca-file` resolved), e.g.
/// `registries."ghcr.io".credential-helper = "op item get ghcr"`.
impl fmt::Display for RiskySetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let value = match &self.risk {
            Risk::CredentialHelper(CredentialHelper::Json { command }) => quoted(command),
            Risk::CredentialHelper(CredentialHelper::Split { username, password }) => format!(
                "{{ username = {}, password = {} }}",
                quoted(username),
                quoted(password)
            ),
            Risk::Insecure => "true".to_owned(),
            Risk::PlainHttp => quoted("http"),
            Risk::CaFile(path) => quoted(&path.display().to_string()),
        };
        write!(f, "{} = {value}", self.key())
    }
}

/// The risky settings of one file, in registry order, and within a table in the order
/// `credential-helper`, `protocol`, `insecure`, `ca-file`.
pub fn risky_settings(contents: &ConfigFileContents) -> Vec<RiskySetting> {
    contents
        .registries
        .iter()
        .flat_map(|(registry, entry)| take_risky(registry, &mut entry.clone()))
        .collect()
}

/// What of a file takes effect, given its `trust`: everything when [`Trust::allows_risky`],
/// else everything but its risky settings. Returns that, and the settings ignored.
///
/// A table whose risky keys are dropped keeps its other keys and still replaces the earlier
/// file's table for its registry (see the module docs for why).
pub fn apply_trust(
    mut contents: ConfigFileContents,
    trust: &Trust,
) -> (ConfigFileContents, Vec<RiskySetting>) {
    if trust.allows_risky() {
        return (contents, Vec::new());
    }
    let ignored = contents
        .registries
        .iter_mut()
        .flat_map(|(registry, entry)| take_risky(registry, entry))
        .collect();
    (contents, ignored)
}

/// Removes the risky settings from `entry` and returns them: the one place that knows which
/// values are risky.
fn take_risky(registry: &RegistryName, entry: &mut RegistryConfig) -> Vec<RiskySetting> {
    let mut taken = Vec::new();
    if let Some(helper) = entry.credential_helper.take() {
        taken.push(Risk::CredentialHelper(helper));
    }
    if entry.protocol == Some(Scheme::Http) && !registry.is_loopback() {
        entry.protocol = None;
        taken.push(Risk::PlainHttp);
    }
    if entry.insecure {
        entry.insecure = false;
        taken.push(Risk::Insecure);
    }
    if let Some(ca) = entry.ca_file.take() {
        taken.push(Risk::CaFile(ca));
    }
    taken
        .into_iter()
        .map(|risk| RiskySetting {
            registry: registry.clone(),
            risk,
        })
        .collect()
}

/// The command that trusts `path`, quoted for a POSIX shell where needed.
pub fn trust_command(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,=~".contains(c))
        && !text.starts_with('~');
    if plain {
        format!("wasm self trust {text}")
    } else {
        format!("wasm self trust '{}'", text.replace('\'', r"'\''"))
    }
}

impl ConfigFile {
    /// The warning to print when settings of this file were ignored (`None` when none were):
    /// the file, why it is not trusted, each setting ignored with what it would do, and the fix.
    pub fn trust_warning(&self) -> Option<String> {
        if self.ignored.is_empty() {
            return None;
        }
        let mut text = format!(
            "ignoring settings of the project config {}: {}\n",
            self.path.display(),
            self.trust
        );
        for setting in &self.ignored {
            text.push_str(&format!("  {} ({})\n", setting.key(), setting.effect()));
        }
        text.push_str(&match &self.trust {
            Trust::Linked { target } => format!(
                "to use them, replace the link with a copy of the file and trust that, or name \
                 the file with `--config {}`",
                target.display()
            ),
            Trust::Changed => format!(
                "review the change; to trust the file as it is now, run:\n  {}",
                trust_command(&self.path)
            ),
            _ => format!(
                "a project config comes with its directory (a cloned repository can carry one); \
                 if you trust this one, review it and run:\n  {}",
                trust_command(&self.path)
            ),
        });
        Some(text)
    }
}

impl Config {
    /// The settings of `registry` that were ignored because the file that has them is not
    /// trusted, with that file.
    pub fn ignored<'a>(
        &'a self,
        registry: &'a RegistryName,
    ) -> impl Iterator<Item = (&'a ConfigFile, &'a RiskySetting)> {
        self.files.iter().flat_map(move |file| {
            let registry = registry.clone();
            file.ignored
                .iter()
                .filter(move |setting| setting.registry == registry)
                .map(move |setting| (file, setting))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The store.

/// The trust store: `trusted.toml` in the state directory, one entry per trusted project file.
///
/// ```toml
/// version = 1
///
/// [[trusted]]
/// path = "/home/me/src/app/.config/wasm/config.toml"  # canonical
/// sha256 = "…"                                          # of the content trusted
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustStore {
    /// Canonical path (UTF-8: TOML holds nothing else) -> lowercase hex SHA-256 of the content.
    entries: BTreeMap<String, String>,
}

/// The format version this `wasm` writes and reads.
const STORE_VERSION: i64 = 1;

const STORE_HEADER: &str = "\
# Project config files trusted with `wasm self trust`: each file's canonical path and the SHA-256
# of the content trusted. Written by wasm; `wasm self trust --revoke PATH` removes an entry.
";

/// The whole store file, as written.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreToml {
    version: i64,
    #[serde(default)]
    trusted: Vec<EntryToml>,
}

/// One `[[trusted]]` entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryToml {
    path: String,
    sha256: String,
}

/// The lowercase hex SHA-256 of `content`.
fn sha256_hex(content: &[u8]) -> String {
    Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl TrustStore {
    /// Parses the text of a store. Pure: `path` is used only in messages.
    pub fn parse(text: &str, path: &Path) -> Result<TrustStore, TrustStoreError> {
        let invalid = |offset: Option<usize>, message: String| {
            let (line, column) = crate::toml_keys::line_column(text, offset.unwrap_or(text.len()));
            TrustStoreError::Invalid {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        };
        let store: StoreToml = toml::from_str(text)
            .map_err(|e| invalid(e.span().map(|s| s.start), e.message().trim().to_owned()))?;
        if store.version != STORE_VERSION {
            return Err(invalid(
                text.find("version"),
                format!(
                    "version {} is not {STORE_VERSION}, the only one this wasm knows (was it \
                     written by a newer wasm?)",
                    store.version
                ),
            ));
        }
        let mut entries = BTreeMap::new();
        for entry in store.trusted {
            let at = text.find(&toml::Value::String(entry.path.clone()).to_string());
            if !Path::new(&entry.path).is_absolute() {
                return Err(invalid(
                    at,
                    format!("path {:?} is not absolute", entry.path),
                ));
            }
            let hex = entry.sha256.len() == 64
                && entry
                    .sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !hex {
                return Err(invalid(
                    text.find(&entry.sha256),
                    format!(
                        "the sha256 of {:?} is not 64 lowercase hex digits",
                        entry.path
                    ),
                ));
            }
            entries.insert(entry.path, entry.sha256);
        }
        Ok(TrustStore { entries })
    }

    /// Reads the store at `path`; a missing file is an empty store.
    pub fn load(path: &Path) -> Result<TrustStore, TrustStoreError> {
        match fs::read_to_string(path) {
            Ok(text) => TrustStore::parse(&text, path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(TrustStore::default()),
            Err(source) => Err(TrustStoreError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The text of the store, as [`TrustStore::save`] writes it.
    pub fn to_toml(&self) -> String {
        let store = StoreToml {
            version: STORE_VERSION,
            trusted: self
                .entries
                .iter()
                .map(|(path, sha256)| EntryToml {
                    path: path.clone(),
                    sha256: sha256.clone(),
                })
                .collect(),
        };
        let body = toml::to_string(&store).expect("the store serializes: strings and an integer");
        format!("{STORE_HEADER}{body}")
    }

    /// Replaces the store at `path` atomically, mode 0600; a missing directory is created with
    /// mode 0700.
    pub fn save(&self, path: &Path) -> Result<(), TrustStoreError> {
        write_private_file(path, self.to_toml().as_bytes()).map_err(|source| {
            TrustStoreError::Write {
                path: path.to_owned(),
                source,
            }
        })
    }

    /// The trust of the file at `canonical` with `content`: [`Trust::Trusted`],
    /// [`Trust::Changed`] or [`Trust::Untrusted`].
    pub fn trust_of(&self, canonical: &Path, content: &[u8]) -> Trust {
        let recorded = canonical.to_str().and_then(|key| self.entries.get(key));
        match recorded {
            Some(sha256) if *sha256 == sha256_hex(content) => Trust::Trusted,
            Some(_) => Trust::Changed,
            None => Trust::Untrusted,
        }
    }

    /// Records `content` as trusted at `canonical`, replacing an earlier record.
    pub fn insert(&mut self, canonical: &Path, content: &[u8]) -> Result<(), TrustError> {
        let key = canonical.to_str().ok_or_else(|| TrustError::NotUtf8 {
            path: canonical.to_owned(),
        })?;
        self.entries.insert(key.to_owned(), sha256_hex(content));
        Ok(())
    }

    /// Forgets the record for `canonical`; whether there was one.
    pub fn remove(&mut self, canonical: &Path) -> bool {
        canonical
            .to_str()
            .is_some_and(|key| self.entries.remove(key).is_some())
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, then a rename),
/// with mode 0600; a missing directory is created with mode 0700.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // tempfile creates the file with mode 0600.
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o600))?;
    }
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The trust store: `$XDG_STATE_HOME/wasm/trusted.toml` when `XDG_STATE_HOME` is set to an
/// absolute path, else `~/.local/state/wasm/trusted.toml` (on every platform). `None` when no
/// home directory can be found.
pub fn trust_store_path() -> Option<PathBuf> {
    trust_store_path_from(
        std::env::var_os("XDG_STATE_HOME"),
        directories::BaseDirs::new().map(|dirs| dirs.home_dir().to_owned()),
    )
}

/// [`trust_store_path`] from the environment's values, so tests need not change the environment.
fn trust_store_path_from(
    xdg_state_home: Option<OsString>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    let dir = xdg_dir_or(xdg_state_home, || {
        home.map(|home| home.join(".local").join("state"))
    })?;
    Some(dir.join("wasm").join("trusted.toml"))
}

// ---------------------------------------------------------------------------------------------
// Deciding for a file on disk, and `wasm self trust`.

/// The canonical path of the project file of `dir`, provided no symbolic link lies between
/// `dir` and it; `Err(target)` when one does.
fn canonical_project_file(dir: &Path) -> io::Result<Result<PathBuf, PathBuf>> {
    let canonical = fs::canonicalize(project_config_path(dir))?;
    let in_place = project_config_path(&fs::canonicalize(dir)?);
    Ok(if canonical == in_place {
        Ok(canonical)
    } else {
        Err(canonical)
    })
}

/// The trust of the project file of `cwd`, with the parsed `contents` of its `content` read a
/// moment ago; `store` is the store's path, read only when the file has risky settings.
pub(crate) fn project_trust(
    cwd: &Path,
    contents: &ConfigFileContents,
    content: &[u8],
    store: Option<&Path>,
) -> Result<Trust, ConfigError> {
    if risky_settings(contents).is_empty() {
        return Ok(Trust::NotNeeded);
    }
    let canonical = match canonical_project_file(cwd) {
        Ok(Ok(canonical)) => canonical,
        Ok(Err(target)) => return Ok(Trust::Linked { target }),
        // It was read a moment ago; if its path cannot be resolved now, nothing is trusted.
        Err(_) => return Ok(Trust::Untrusted),
    };
    let Some(store) = store else {
        return Ok(Trust::Untrusted);
    };
    let records = TrustStore::load(store).map_err(|source| ConfigError::TrustStore {
        path: project_config_path(cwd),
        source,
    })?;
    Ok(records.trust_of(&canonical, content))
}

/// What [`trust_project_config`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trusted {
    /// The file's canonical path, as recorded.
    pub path: PathBuf,
    /// Its trust before: [`Trust::Trusted`] when it already was, [`Trust::Changed`] or
    /// [`Trust::Untrusted`].
    pub before: Trust,
    /// The risky settings that now apply.
    pub enables: Vec<RiskySetting>,
}

/// `wasm self trust PATH`: checks that `file` (absolute) is a project config
/// (`DIR/.config/wasm/config.toml`) that exists, parses and is not reached through a symbolic
/// link, then records its canonical path and the SHA-256 of its content in the store at
/// `store`.
pub fn trust_project_config(store: &Path, file: &Path) -> Result<Trusted, TrustError> {
    let dir = project_dir_of(file).ok_or_else(|| TrustError::NotProjectConfig {
        path: file.to_owned(),
    })?;
    let text = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(TrustError::NotFound {
                path: file.to_owned(),
            });
        }
        Err(source) => {
            return Err(TrustError::Config(ConfigError::Read {
                path: file.to_owned(),
                role: crate::FileRole::Project,
                source,
            }));
        }
    };
    let contents = Config::parse(&text, file).map_err(TrustError::Config)?;
    let canonical = match canonical_project_file(dir) {
        Ok(Ok(canonical)) => canonical,
        Ok(Err(target)) => {
            return Err(TrustError::Linked {
                path: file.to_owned(),
                target,
            });
        }
        Err(source) => {
            return Err(TrustError::Config(ConfigError::Read {
                path: file.to_owned(),
                role: crate::FileRole::Project,
                source,
            }));
        }
    };
    let mut records = TrustStore::load(store)?;
    let before = records.trust_of(&canonical, text.as_bytes());
    records.insert(&canonical, text.as_bytes())?;
    records.save(store)?;
    Ok(Trusted {
        path: canonical,
        before,
        enables: risky_settings(&contents),
    })
}

/// `wasm self trust --revoke PATH`: forgets the record for `file` (absolute), which need not
/// exist or parse any more. Returns the path whose record was removed, `None` when it had none.
pub fn revoke_project_config(store: &Path, file: &Path) -> Result<Option<PathBuf>, TrustError> {
    // The record is under the canonical path; a deleted file's is its directory's.
    let canonical = fs::canonicalize(file)
        .or_else(|_| {
            let parent = fs::canonicalize(file.parent().unwrap_or(Path::new("/")))?;
            Ok::<_, io::Error>(parent.join(file.file_name().unwrap_or_default()))
        })
        .unwrap_or_else(|_| file.to_owned());
    let mut records = TrustStore::load(store)?;
    if !records.remove(&canonical) {
        return Ok(None);
    }
    records.save(store)?;
    Ok(Some(canonical))
}

/// `DIR` of `DIR/.config/wasm/config.toml`.
fn project_dir_of(file: &Path) -> Option<&Path> {
    if !file.ends_with(Path::new(".config").join("wasm").join("config.toml")) {
        return None;
    }
    file.parent()?.parent()?.parent()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str) -> crate::RegistryName {
        crate::RegistryName::parse(name).unwrap()
    }

    const PATH: &str = "/src/app/.config/wasm/config.toml";

    fn parse(text: &str) -> ConfigFileContents {
        Config::parse(text, Path::new(PATH)).unwrap()
    }

    fn keys(settings: &[RiskySetting]) -> Vec<String> {
        settings.iter().map(RiskySetting::to_string).collect()
    }

    const EVERY_KIND: &str = r#"
        helper-timeout = 5
        [registries."ghcr.io"]
        credential-helper = "op item get ghcr"
        protocol = "https"
        [registries."registry.example.com:5000"]
        credential-helper.username = "echo u"
        credential-helper.password = "echo p"
        protocol = "http"
        insecure = true
        ca-file = "ca.pem"
        [registries."localhost:5000"]
        protocol = "http"
        insecure = false
        [registries."127.0.0.2"]
        protocol = "http"
        [registries."[::1]:5000"]
        protocol = "http"
        [registries."10.0.0.1:5000"]
        protocol = "http"
    "#;

    #[test]
    fn risky_settings_are_decided_per_setting() {
        assert_eq!(
            keys(&risky_settings(&parse(EVERY_KIND))),
            [
                r#"registries."10.0.0.1:5000".protocol = "http""#,
                r#"registries."ghcr.io".credential-helper = "op item get ghcr""#,
                r#"registries."registry.example.com:5000".credential-helper = { username = "echo u", password = "echo p" }"#,
                r#"registries."registry.example.com:5000".protocol = "http""#,
                r#"registries."registry.example.com:5000".insecure = true"#,
                r#"registries."registry.example.com:5000".ca-file = "/src/app/.config/wasm/ca.pem""#,
            ]
        );
        let safe = parse(
            "helper-timeout = 1\n[registries.\"ghcr.io\"]\nprotocol = \"https\"\ninsecure = false\n\
             [registries.\"localhost\"]\nprotocol = \"http\"\n",
        );
        assert_eq!(risky_settings(&safe), []);
    }

    #[test]
    fn untrusted_files_lose_exactly_their_risky_settings() {
        for trust in [
            Trust::Untrusted,
            Trust::Changed,
            Trust::Linked {
                target: PathBuf::from("/elsewhere/config.toml"),
            },
        ] {
            let (applied, ignored) = apply_trust(parse(EVERY_KIND), &trust);
            assert_eq!(ignored, risky_settings(&parse(EVERY_KIND)), "{trust:?}");
            // What is left is safe, and nothing else was touched.
            assert_eq!(risky_settings(&applied), []);
            assert_eq!(
                applied.helper_timeout,
                Some(std::time::Duration::from_secs(5))
            );
            let keys: Vec<&str> = applied
                .registries
                .keys()
                .map(RegistryName::as_str)
                .collect();
            assert_eq!(
                keys,
                [
                    "10.0.0.1:5000",
                    "127.0.0.2",
                    "[::1]:5000",
                    "ghcr.io",
                    "localhost:5000",
                    "registry.example.com:5000"
                ],
                "a table losing keys stays, to replace the earlier table whole"
            );
            let example = &applied.registries[&n("registry.example.com:5000")];
            assert_eq!(example.credential_helper, None);
            assert_eq!(example.protocol, None);
            assert!(!example.insecure);
            assert_eq!(example.ca_file, None);
            assert_eq!(example.defined_in, Path::new(PATH));
            assert_eq!(
                applied.registries[&n("ghcr.io")].protocol,
                Some(Scheme::Https)
            );
            for loopback in ["localhost:5000", "127.0.0.2", "[::1]:5000"] {
                assert_eq!(
                    applied.registries[&n(loopback)].protocol,
                    Some(Scheme::Http),
                    "{loopback}"
                );
            }
            assert_eq!(applied.registries[&n("10.0.0.1:5000")].protocol, None);
        }
    }

    #[test]
    fn trusted_files_apply_whole() {
        for trust in [Trust::Implicit, Trust::Trusted, Trust::NotNeeded] {
            let (applied, ignored) = apply_trust(parse(EVERY_KIND), &trust);
            assert_eq!(applied, parse(EVERY_KIND));
            assert_eq!(ignored, []);
        }
    }

    #[test]
    fn settings_name_their_key_and_effect() {
        let setting = |risk| RiskySetting {
            registry: RegistryName::parse("ghcr.io").unwrap(),
            risk,
        };
        let cases = [
            (
                setting(Risk::CredentialHelper(CredentialHelper::Json {
                    command: "say \"hi\"".to_owned(),
                })),
                r#"registries."ghcr.io".credential-helper"#,
                r#"registries."ghcr.io".credential-helper = 'say "hi"'"#,
                "runs commands",
            ),
            (
                setting(Risk::Insecure),
                r#"registries."ghcr.io".insecure"#,
                r#"registries."ghcr.io".insecure = true"#,
                "accepts any TLS certificate from the registry",
            ),
            (
                setting(Risk::PlainHttp),
                r#"registries."ghcr.io".protocol"#,
                r#"registries."ghcr.io".protocol = "http""#,
                "sends requests and credentials unencrypted to a registry on another machine",
            ),
            (
                setting(Risk::CaFile(PathBuf::from("/p/ca.pem"))),
                r#"registries."ghcr.io".ca-file"#,
                r#"registries."ghcr.io".ca-file = "/p/ca.pem""#,
                "trusts a certificate authority chosen by the file",
            ),
        ];
        for (setting, key, display, effect) in cases {
            assert_eq!(setting.key(), key);
            assert_eq!(setting.to_string(), display);
            assert_eq!(setting.effect(), effect);
        }
    }

    #[test]
    fn trust_commands_are_quoted_for_the_shell() {
        assert_eq!(
            trust_command(Path::new("/home/me/app/.config/wasm/config.toml")),
            "wasm self trust /home/me/app/.config/wasm/config.toml"
        );
        assert_eq!(
            trust_command(Path::new("/home/me/my app/.config/wasm/config.toml")),
            "wasm self trust '/home/me/my app/.config/wasm/config.toml'"
        );
        assert_eq!(
            trust_command(Path::new("/tmp/it's/$x")),
            r"wasm self trust '/tmp/it'\''s/$x'"
        );
    }

    #[test]
    fn store_path_prefers_an_absolute_xdg_state_home() {
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            trust_store_path_from(Some("/xdg".into()), home.clone()),
            Some(PathBuf::from("/xdg/wasm/trusted.toml"))
        );
        for ignored in [None, Some(OsString::new()), Some("relative/dir".into())] {
            assert_eq!(
                trust_store_path_from(ignored, home.clone()),
                Some(PathBuf::from("/home/u/.local/state/wasm/trusted.toml"))
            );
        }
        assert_eq!(trust_store_path_from(None, None), None);
    }

    #[test]
    fn the_store_round_trips_and_tells_changed_from_untrusted() {
        let a = Path::new("/src/a/.config/wasm/config.toml");
        let b = Path::new("/src/b c/.config/wasm/config.toml");
        let mut store = TrustStore::default();
        store.insert(a, b"one").unwrap();
        store.insert(b, b"two").unwrap();
        let text = store.to_toml();
        assert_eq!(
            text,
            format!(
                "{STORE_HEADER}version = 1\n\n\
                 [[trusted]]\npath = \"/src/a/.config/wasm/config.toml\"\nsha256 = \"{}\"\n\n\
                 [[trusted]]\npath = \"/src/b c/.config/wasm/config.toml\"\nsha256 = \"{}\"\n",
                sha256_hex(b"one"),
                sha256_hex(b"two")
            )
        );
        assert_eq!(
            sha256_hex(b"one"),
            "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
        );
        let store = TrustStore::parse(&text, Path::new("/s/trusted.toml")).unwrap();
        assert_eq!(store.trust_of(a, b"one"), Trust::Trusted);
        assert_eq!(store.trust_of(a, b"one "), Trust::Changed);
        assert_eq!(store.trust_of(b, b"two"), Trust::Trusted);
        assert_eq!(
            store.trust_of(Path::new("/src/c/.config/wasm/config.toml"), b"one"),
            Trust::Untrusted
        );
        let mut store = store;
        assert!(store.remove(a));
        assert!(!store.remove(a));
        assert_eq!(store.trust_of(a, b"one"), Trust::Untrusted);
        // An empty store is just the header and the version.
        assert_eq!(
            TrustStore::parse("version = 1", Path::new("/s")).unwrap(),
            TrustStore::default()
        );
    }

    #[test]
    fn bad_stores_name_the_line_and_the_fix() {
        let hex = "a".repeat(64);
        let cases = [
            (
                "version = 1\n[[trusted]\n".to_owned(),
                "{path}:2:11: invalid trust store: unclosed array table, expected `]`",
            ),
            (
                format!("version = 1\n[[trusted]]\npath = \"/a\"\nsha = \"{hex}\"\n"),
                "{path}:4:1: invalid trust store: unknown field `sha`, expected `path` or `sha256`",
            ),
            (
                format!("version = 1\n[[trusted]]\npath = \"a\"\nsha256 = \"{hex}\"\n"),
                "{path}:3:8: invalid trust store: path \"a\" is not absolute",
            ),
            (
                "version = 1\n[[trusted]]\npath = \"/a\"\nsha256 = \"ABC\"\n".to_owned(),
                "{path}:4:11: invalid trust store: the sha256 of \"/a\" is not 64 lowercase hex \
                 digits",
            ),
            (
                "version = 2\n".to_owned(),
                "{path}:1:1: invalid trust store: version 2 is not 1, the only one this wasm \
                 knows (was it written by a newer wasm?)",
            ),
            (
                "".to_owned(),
                "{path}:1:1: invalid trust store: missing field `version`",
            ),
        ];
        for (text, expected) in cases {
            let err = TrustStore::parse(&text, Path::new("/s/trusted.toml")).unwrap_err();
            let message = err.to_string().replace("/s/trusted.toml", "{path}");
            let (first, fix) = message
                .split_once("; fix")
                .unwrap_or_else(|| panic!("no fix in {message}"));
            assert_eq!(first, expected, "for {text:?}");
            assert_eq!(
                fix,
                " the line, or delete the file and trust your project configs again"
            );
        }
    }

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_store_is_private_and_replaced_atomically() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("state/wasm/trusted.toml");
        let mut records = TrustStore::default();
        records.insert(Path::new("/a"), b"x").unwrap();
        records.save(&store).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store), 0o600);
        assert_eq!(mode(store.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join("state")), 0o700);
        records.insert(Path::new("/b"), b"y").unwrap();
        records.save(&store).unwrap();
        assert_eq!(TrustStore::load(&store).unwrap(), records);
        // Nothing left behind but the store.
        let names: Vec<_> = fs::read_dir(store.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["trusted.toml"]);
        assert_eq!(
            TrustStore::load(&dir.path().join("none.toml")).unwrap(),
            TrustStore::default()
        );
    }

    #[test]
    fn trusting_and_revoking_a_project_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let store = root.join("state/trusted.toml");
        let project = root.join("app");
        let file = project_config_path(&project);
        let text = "[registries.\"ghcr.io\"]\ncredential-helper = \"op item get x\"\n";
        write(&file, text);
        let contents = parse(text);

        assert_eq!(
            project_trust(&project, &contents, text.as_bytes(), Some(&store)).unwrap(),
            Trust::Untrusted
        );
        let trusted = trust_project_config(&store, &file).unwrap();
        assert_eq!(trusted.path, file);
        assert_eq!(trusted.before, Trust::Untrusted);
        assert_eq!(
            keys(&trusted.enables),
            [r#"registries."ghcr.io".credential-helper = "op item get x""#]
        );
        assert_eq!(
            project_trust(&project, &contents, text.as_bytes(), Some(&store)).unwrap(),
            Trust::Trusted
        );
        let again = trust_project_config(&store, &file).unwrap();
        assert_eq!(again.before, Trust::Trusted);

        let edited = format!("{text}insecure = true\n");
        write(&file, &edited);
        assert_eq!(
            project_trust(&project, &parse(&edited), edited.as_bytes(), Some(&store)).unwrap(),
            Trust::Changed
        );
        assert_eq!(
            trust_project_config(&store, &file).unwrap().before,
            Trust::Changed
        );

        assert_eq!(
            revoke_project_config(&store, &file).unwrap(),
            Some(file.clone())
        );
        assert_eq!(revoke_project_config(&store, &file).unwrap(), None);
        assert_eq!(
            project_trust(&project, &parse(&edited), edited.as_bytes(), Some(&store)).unwrap(),
            Trust::Untrusted
        );

        // A file without risky settings needs no store at all, even a broken one.
        write(&store, "not toml [");
        assert_eq!(
            project_trust(&project, &parse("helper-timeout = 1"), b"", Some(&store)).unwrap(),
            Trust::NotNeeded
        );
        let err = project_trust(&project, &contents, text.as_bytes(), Some(&store)).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "cannot tell whether {} is trusted",
                file.display()
            )),
            "{err}"
        );
        // A store that cannot be parsed is never overwritten.
        assert!(matches!(
            trust_project_config(&store, &file),
            Err(TrustError::Store(TrustStoreError::Invalid { .. }))
        ));
        assert_eq!(fs::read_to_string(&store).unwrap(), "not toml [");
        // Without a state directory nothing is trusted.
        assert_eq!(
            project_trust(&project, &contents, text.as_bytes(), None).unwrap(),
            Trust::Untrusted
        );
    }

    #[test]
    fn a_deleted_file_can_be_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let store = root.join("trusted.toml");
        let file = project_config_path(&root.join("app"));
        write(&file, "");
        trust_project_config(&store, &file).unwrap();
        fs::remove_file(&file).unwrap();
        assert_eq!(revoke_project_config(&store, &file).unwrap(), Some(file));
    }

    #[test]
    fn only_existing_valid_project_files_are_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let store = root.join("trusted.toml");
        let other = root.join("wasm.toml");
        write(&other, "");
        let message = |err: TrustError| {
            err.to_string()
                .replace(&root.display().to_string(), "{root}")
        };
        assert_eq!(
            message(trust_project_config(&store, &other).unwrap_err()),
            "cannot trust {root}/wasm.toml: it is not a project config; wasm reads a project \
             config only as `.config/wasm/config.toml` in the current directory, and a file \
             named with --config or WASM_CONFIG is trusted without this"
        );
        let missing = project_config_path(&root.join("none"));
        assert_eq!(
            message(trust_project_config(&store, &missing).unwrap_err()),
            "cannot trust {root}/none/.config/wasm/config.toml: there is no such file"
        );
        let bad = project_config_path(&root.join("bad"));
        write(&bad, "[registries.x]\ninsecure = 1\n");
        assert_eq!(
            message(trust_project_config(&store, &bad).unwrap_err()),
            "{root}/bad/.config/wasm/config.toml: `registries.x.insecure` must be a boolean \
             (`true` or `false`), found an integer"
        );
        write(&bad, "[registries.x\n");
        assert_eq!(
            message(trust_project_config(&store, &bad).unwrap_err()),
            "{root}/bad/.config/wasm/config.toml:1:14: invalid TOML: unclosed table, expected `]`"
        );
        assert!(!store.exists(), "nothing recorded");
    }

    #[cfg(unix)]
    #[test]
    fn files_reached_through_links_are_never_trusted() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let store = root.join("trusted.toml");
        let text = "[registries.\"ghcr.io\"]\ncredential-helper = \"./creds.sh\"\n";
        let trusted = project_config_path(&root.join("trusted"));
        write(&trusted, text);
        trust_project_config(&store, &trusted).unwrap();

        // A repository linking to the trusted file, by the file or by a directory on the way.
        let by_file = root.join("by-file");
        fs::create_dir_all(by_file.join(".config/wasm")).unwrap();
        symlink(
            "../../../trusted/.config/wasm/config.toml",
            project_config_path(&by_file),
        )
        .unwrap();
        let by_dir = root.join("by-dir");
        fs::create_dir_all(&by_dir).unwrap();
        symlink("../trusted/.config", by_dir.join(".config")).unwrap();
        for repo in [&by_file, &by_dir] {
            assert_eq!(
                project_trust(repo, &parse(text), text.as_bytes(), Some(&store)).unwrap(),
                Trust::Linked {
                    target: trusted.clone()
                }
            );
            let err = trust_project_config(&store, &project_config_path(repo)).unwrap_err();
            assert!(matches!(err, TrustError::Linked { .. }), "{err}");
        }
        // A link above the project directory is fine: the directory is resolved first.
        let alias = root.join("alias");
        symlink("trusted", &alias).unwrap();
        assert_eq!(
            project_trust(&alias, &parse(text), text.as_bytes(), Some(&store)).unwrap(),
            Trust::Trusted
        );
    }
}
