//! The config file: its TOML format, and the checked types the rest of `wasm` works with.
//!
//! Parsing goes in two steps, so that every mistake is reported with the file, the full TOML key
//! and the fix rather than as a generic deserializer message:
//! 1. the text is deserialized into `*Toml` structs that mirror the format. They take every value
//!    as it comes (`toml::Value`) but refuse unknown keys (`deny_unknown_fields`);
//! 2. `TryFrom` conversions check each value and build [`RegistryConfig`], [`CredentialHelper`],
//!    [`Scheme`] and [`ConfigFileContents`].
//!
//! What must stay true: [`Config::parse`] does no I/O (reading files is `load`'s job); registry
//! keys are stored normalized (lower-case host, Docker Hub aliases folded into `docker.io`), so
//! that lookups and merging agree on what "the same registry" means.
//!
//! ```toml
//! helper-timeout = 60            # seconds, optional
//! [registries."ghcr.io"]
//! credential-helper = "op item get ghcr --format json --fields username,password"
//! [registries."localhost:5000"]
//! credential-helper.username = "cat ~/u"
//! credential-helper.password = "op read op://vault/item/password"
//! protocol = "http"              # or "https"
//! insecure = false
//! ca-file = "certs/ca.pem"       # relative to this file's directory
//! [namespaces]                   # package namespace -> registry prefix (docs/packages.md)
//! wasi = "ghcr.io/webassembly"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::{Table, Value};

use crate::error::ConfigError;
use crate::load::ConfigFile;
use crate::registry_name::{RegistryName, Scheme};
#[cfg(test)]
use crate::toml_keys::suggest;
use crate::toml_keys::{At, KeyPath, TomlTable, a_type, line_column};

/// A command that prints credentials for a registry; run it with
/// [`run_credential_helper`](crate::run_credential_helper).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialHelper {
    /// One command printing 1Password-style JSON: an array of objects with `id` and `value`,
    /// holding the ids `username` and `password` (`credential-helper = "..."`).
    Json {
        /// The shell command.
        command: String,
    },
    /// Two commands, each printing one value (trimmed)
    /// (`credential-helper.username = "..."` and `credential-helper.password = "..."`).
    Split {
        /// The shell command printing the username.
        username: String,
        /// The shell command printing the password.
        password: String,
    },
}

/// The settings for one registry, from one `[registries."HOST"]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Where credentials come from; `None` leaves the decision to the next source (the Docker
    /// credential store, then anonymous access).
    pub credential_helper: Option<CredentialHelper>,
    /// The protocol, if the file sets one.
    pub protocol: Option<Scheme>,
    /// Accept any TLS certificate from this registry.
    pub insecure: bool,
    /// Extra CA certificate(s) to trust for this registry, resolved relative to the directory of
    /// the file that set it.
    pub ca_file: Option<PathBuf>,
    /// The config file this entry came from, for messages.
    pub defined_in: PathBuf,
}

/// The merged configuration: the global (or explicit) file, overridden by the project file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Every file consulted, in order, present or not.
    pub files: Vec<ConfigFile>,
    /// How long a credential helper may run before it is stopped.
    pub helper_timeout: Duration,
    /// Keyed by registry.
    pub(crate) registries: BTreeMap<RegistryName, RegistryConfig>,
    /// `[namespaces]`: package namespace -> registry prefix (see [`Config::namespace`]).
    pub(crate) namespaces: BTreeMap<String, NamespaceConfig>,
}

/// One `[namespaces]` entry: where the packages of a namespace live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceConfig {
    /// The registry prefix as written, `REGISTRY[/PATH]` (e.g. `ghcr.io/webassembly`): the
    /// package `NS:NAME` lives in the repository `PREFIX/NS/NAME`. Checked here for its shape
    /// only (no scheme, no tag, a registry host first); `wasm-package` parses it fully.
    pub prefix: String,
    /// The config file this entry came from, for messages.
    pub defined_in: PathBuf,
}

/// What one config file says, checked but not yet merged with the other files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFileContents {
    /// The registry tables, keyed by registry.
    pub registries: BTreeMap<RegistryName, RegistryConfig>,
    /// `helper-timeout`, if the file sets it.
    pub helper_timeout: Option<Duration>,
    /// The `[namespaces]` table, keyed by namespace.
    pub namespaces: BTreeMap<String, NamespaceConfig>,
}

impl Config {
    /// The credential-helper timeout when no file sets `helper-timeout`.
    pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(60);

    /// A configuration with no files and no registries.
    pub fn empty() -> Config {
        Config {
            files: Vec::new(),
            helper_timeout: Self::DEFAULT_HELPER_TIMEOUT,
            registries: BTreeMap::new(),
            namespaces: BTreeMap::new(),
        }
    }

    /// The `[namespaces]` entry for a package namespace (e.g. `wasi`), if any file has one.
    pub fn namespace(&self, namespace: &str) -> Option<&NamespaceConfig> {
        self.namespaces.get(namespace)
    }

    /// Every `[namespaces]` entry, in key order.
    pub fn namespaces(&self) -> impl Iterator<Item = (&str, &NamespaceConfig)> {
        self.namespaces.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The settings for `registry`, whichever spelling its table was written in.
    pub fn registry(&self, registry: &RegistryName) -> Option<&RegistryConfig> {
        self.registries.get(registry)
    }

    /// Every configured registry with its settings, in name order.
    pub fn registries(&self) -> impl Iterator<Item = (&RegistryName, &RegistryConfig)> {
        self.registries.iter()
    }

    /// Parses and checks the text of one config file.
    ///
    /// Pure: `path` is used only in messages, for [`RegistryConfig::defined_in`], and to resolve
    /// a relative `ca-file`. Refuses, naming the file and the key:
    /// - TOML syntax errors (with line and column);
    /// - unknown keys (listing the known ones, and suggesting the likely intended one);
    /// - values of the wrong type, empty commands, a `helper-timeout` that is not > 0, a split
    ///   `credential-helper` with only one of `username` and `password`;
    /// - registry keys that are not `HOST` or `HOST:PORT`, or that name one registry twice.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFileContents, ConfigError> {
        let table: Table = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(text.len(), |span| span.start);
            let (line, column) = line_column(text, offset);
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        ConfigFileContents::try_from(At {
            value: table,
            file: path,
            key: KeyPath::default(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The file format, as written.

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigToml {
    helper_timeout: Option<Value>,
    registries: Option<Value>,
    namespaces: Option<Value>,
}

impl TomlTable for ConfigToml {
    const KEYS: &'static [&'static str] = &["helper-timeout", "registries", "namespaces"];
}

/// One `[registries."HOST"]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RegistryToml {
    credential_helper: Option<Value>,
    protocol: Option<Value>,
    insecure: Option<Value>,
    ca_file: Option<Value>,
}

impl TomlTable for RegistryToml {
    const KEYS: &'static [&'static str] = &["credential-helper", "protocol", "insecure", "ca-file"];
}

/// The table form of `credential-helper`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitHelperToml {
    username: Option<Value>,
    password: Option<Value>,
}

impl TomlTable for SplitHelperToml {
    const KEYS: &'static [&'static str] = &["username", "password"];
}

const REGISTRIES: &str = "a table of registries, like `[registries.\"ghcr.io\"]`";
const REGISTRY: &str = "a table of registry settings, like `[registries.\"ghcr.io\"]`";
const SPLIT_HELPER: &str = "a table with `username` and `password` commands";
const HELPER_SHAPE: &str = "a command string, or a table with `username` and `password` commands";
const COMMAND: &str = "a non-empty command";
const TIMEOUT: &str = "a number of seconds greater than 0, like `helper-timeout = 60`";

// ---------------------------------------------------------------------------------------------
// From the format to the checked types.

impl<'a> At<'a, Value> {
    /// A non-empty command string.
    fn command(self) -> Result<String, ConfigError> {
        match self.value {
            Value::String(command) if !command.trim().is_empty() => Ok(command),
            Value::String(_) => Err(self.invalid(COMMAND, "an empty string")),
            ref other => Err(self.invalid_found(COMMAND, other)),
        }
    }
}

impl TryFrom<At<'_, Table>> for ConfigFileContents {
    type Error = ConfigError;

    fn try_from(at: At<'_, Table>) -> Result<Self, ConfigError> {
        let file = at.file;
        let ConfigToml {
            helper_timeout,
            registries,
            namespaces,
        } = at.deserialize()?;

        let helper_timeout = helper_timeout
            .map(|value| helper_timeout_from(at.child("helper-timeout", value)))
            .transpose()?;

        let mut checked = BTreeMap::new();
        let mut written_as: BTreeMap<RegistryName, String> = BTreeMap::new();
        if let Some(registries) = registries {
            let registries = at.child("registries", registries).into_table(REGISTRIES)?;
            for (key, entry) in registries.into_entries() {
                let registry = RegistryName::parse(&key).map_err(|problem| {
                    ConfigError::InvalidRegistryKey {
                        path: file.to_owned(),
                        key: key.clone(),
                        problem,
                    }
                })?;
                let entry = RegistryConfig::try_from(entry)?;
                if let Some(first) = written_as.insert(registry.clone(), key.clone()) {
                    return Err(ConfigError::DuplicateRegistry {
                        path: file.to_owned(),
                        registry,
                        first,
                        second: key,
                    });
                }
                checked.insert(registry, entry);
            }
        }
        let namespaces = match namespaces {
            Some(value) => namespaces_from(at.child("namespaces", value))?,
            None => BTreeMap::new(),
        };
        Ok(ConfigFileContents {
            registries: checked,
            helper_timeout,
            namespaces,
        })
    }
}

const NAMESPACES: &str =
    "a table of namespaces, like `[namespaces]` with `wasi = \"ghcr.io/webassembly\"`";
const NAMESPACE_KEY: &str =
    "a package namespace: lowercase letters, digits and single `-` between words, like `wasi`";
const NAMESPACE_PREFIX: &str = "a registry prefix REGISTRY[/PATH], like \"ghcr.io/webassembly\"";

/// `[namespaces]`: namespace -> `REGISTRY[/PATH]`.
fn namespaces_from(at: At<'_, Value>) -> Result<BTreeMap<String, NamespaceConfig>, ConfigError> {
    let file = at.file;
    let table = at.into_table(NAMESPACES)?;
    let mut namespaces = BTreeMap::new();
    for (name, entry) in table.into_entries() {
        if !is_namespace(&name) {
            return Err(entry.invalid(NAMESPACE_KEY, format!("{name:?}")));
        }
        let prefix = match &entry.value {
            Value::String(prefix) if is_registry_prefix(prefix) => prefix.clone(),
            Value::String(prefix) => {
                return Err(entry.invalid(NAMESPACE_PREFIX, format!("{prefix:?}")));
            }
            other => return Err(entry.invalid_found(NAMESPACE_PREFIX, other)),
        };
        namespaces.insert(
            name,
            NamespaceConfig {
                prefix,
                defined_in: file.to_owned(),
            },
        );
    }
    Ok(namespaces)
}

/// A WIT package namespace: words of lowercase ASCII letters and digits, each starting with a
/// letter, joined by single `-` (the WIT identifier rule).
pub(crate) fn is_namespace(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|word| {
            word.starts_with(|c: char| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// The shape of `REGISTRY[/PATH]`: no scheme, tag, digest or spaces, and a first segment that is
/// a registry host (has `.` or `:`, or is `localhost`).
fn is_registry_prefix(prefix: &str) -> bool {
    let host = prefix.split('/').next().unwrap_or_default();
    !prefix.contains("://")
        && !prefix.contains('@')
        && !prefix.contains(char::is_whitespace)
        && !prefix.ends_with('/')
        && !prefix
            .split('/')
            .skip(1)
            .any(|segment| segment.is_empty() || segment.contains(':'))
        && (host.contains('.') || host.contains(':') || host == "localhost")
}

fn helper_timeout_from(at: At<'_, Value>) -> Result<Duration, ConfigError> {
    let seconds = match at.value {
        Value::Integer(n) if n > 0 => return Ok(Duration::from_secs(n.unsigned_abs())),
        Value::Float(x) if x > 0.0 => x,
        Value::Integer(_) | Value::Float(_) => {
            return Err(at.invalid(TIMEOUT, at.value.to_string()));
        }
        ref other => return Err(at.invalid_found(TIMEOUT, other)),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        at.invalid(
            "a number of seconds greater than 0 and less than 2^64",
            format!("{seconds:e}"),
        )
    })
}

impl TryFrom<At<'_, Value>> for RegistryConfig {
    type Error = ConfigError;

    fn try_from(at: At<'_, Value>) -> Result<Self, ConfigError> {
        let at = at.into_table(REGISTRY)?;
        let file = at.file;
        let RegistryToml {
            credential_helper,
            protocol,
            insecure,
            ca_file,
        } = at.deserialize()?;

        let credential_helper = credential_helper
            .map(|value| CredentialHelper::try_from(at.child("credential-helper", value)))
            .transpose()?;
        let protocol = protocol
            .map(|value| Scheme::try_from(at.child("protocol", value)))
            .transpose()?;
        let insecure = match insecure {
            None => false,
            Some(Value::Boolean(insecure)) => insecure,
            Some(other) => {
                let at = at.child("insecure", ());
                return Err(at.invalid("a boolean (`true` or `false`)", a_type(&other)));
            }
        };
        let ca_file = match ca_file {
            None => None,
            Some(Value::String(ca)) if !ca.is_empty() => {
                let dir = file.parent().unwrap_or(Path::new(""));
                Some(dir.join(ca))
            }
            Some(other) => {
                let at = at.child("ca-file", ());
                let found = match other {
                    Value::String(_) => "an empty string",
                    ref other => a_type(other),
                };
                return Err(at.invalid("the path of a PEM file", found));
            }
        };
        Ok(RegistryConfig {
            credential_helper,
            protocol,
            insecure,
            ca_file,
            defined_in: file.to_owned(),
        })
    }
}

impl TryFrom<At<'_, Value>> for CredentialHelper {
    type Error = ConfigError;

    fn try_from(at: At<'_, Value>) -> Result<Self, ConfigError> {
        match at.value {
            Value::String(_) => {
                return Ok(CredentialHelper::Json {
                    command: at.command()?,
                });
            }
            Value::Table(_) => {}
            ref other => return Err(at.invalid_found(HELPER_SHAPE, other)),
        }
        let at = at.into_table(HELPER_SHAPE)?;
        let SplitHelperToml { username, password } = at.deserialize()?;
        match (username, password) {
            (Some(username), Some(password)) => Ok(CredentialHelper::Split {
                username: at.child("username", username).command()?,
                password: at.child("password", password).command()?,
            }),
            (username, password) => {
                let found = match (username, password) {
                    (Some(_), None) => "only `username`",
                    (None, Some(_)) => "only `password`",
                    _ => "an empty table",
                };
                Err(at.invalid(SPLIT_HELPER, found))
            }
        }
    }
}

impl TryFrom<At<'_, Value>> for Scheme {
    type Error = ConfigError;

    fn try_from(at: At<'_, Value>) -> Result<Self, ConfigError> {
        const EXPECTED: &str = "\"https\" or \"http\"";
        match &at.value {
            Value::String(s) if s == "https" => Ok(Scheme::Https),
            Value::String(s) if s == "http" => Ok(Scheme::Http),
            Value::String(s) => Err(at.invalid(EXPECTED, format!("{s:?}"))),
            other => Err(at.invalid_found(EXPECTED, other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str) -> crate::RegistryName {
        crate::RegistryName::parse(name).unwrap()
    }

    const PATH: &str = "/home/u/.config/wasm/config.toml";

    fn parse(text: &str) -> Result<ConfigFileContents, ConfigError> {
        Config::parse(text, Path::new(PATH))
    }

    /// The message for `text`, with the file path replaced by `{path}`.
    fn error(text: &str) -> String {
        let err = parse(text).expect_err("the text should be refused");
        err.to_string().replace(PATH, "{path}")
    }

    fn config(text: &str) -> Config {
        let mut config = Config::empty();
        config.merge(parse(text).unwrap());
        config
    }

    #[test]
    fn parses_every_valid_form() {
        let contents = parse(
            r#"
            helper-timeout = 30
            [registries."ghcr.io"]
            credential-helper = "op item get ghcr --format json --fields username,password"

            [registries."localhost:5000"]
            credential-helper.username = "cat ~/u"
            credential-helper.password = "op read op://vault/item/password"
            protocol = "http"
            insecure = false
            ca-file = "certs/ca.pem"

            [registries."Registry.Example.COM"]
            protocol = "https"
            insecure = true
            ca-file = "/etc/ssl/ca.pem"

            [registries."[::1]:5000"]
            credential-helper = { username = "echo u", password = "echo p" }

            [registries.plain]
            "#,
        )
        .unwrap();
        assert_eq!(contents.helper_timeout, Some(Duration::from_secs(30)));
        let defined_in = PathBuf::from(PATH);
        let expected = BTreeMap::from([
            (
                n("ghcr.io"),
                RegistryConfig {
                    credential_helper: Some(CredentialHelper::Json {
                        command: "op item get ghcr --format json --fields username,password"
                            .to_owned(),
                    }),
                    protocol: None,
                    insecure: false,
                    ca_file: None,
                    defined_in: defined_in.clone(),
                },
            ),
            (
                n("localhost:5000"),
                RegistryConfig {
                    credential_helper: Some(CredentialHelper::Split {
                        username: "cat ~/u".to_owned(),
                        password: "op read op://vault/item/password".to_owned(),
                    }),
                    protocol: Some(Scheme::Http),
                    insecure: false,
                    ca_file: Some(PathBuf::from("/home/u/.config/wasm/certs/ca.pem")),
                    defined_in: defined_in.clone(),
                },
            ),
            (
                n("registry.example.com"),
                RegistryConfig {
                    credential_helper: None,
                    protocol: Some(Scheme::Https),
                    insecure: true,
                    ca_file: Some(PathBuf::from("/etc/ssl/ca.pem")),
                    defined_in: defined_in.clone(),
                },
            ),
            (
                n("[::1]:5000"),
                RegistryConfig {
                    credential_helper: Some(CredentialHelper::Split {
                        username: "echo u".to_owned(),
                        password: "echo p".to_owned(),
                    }),
                    protocol: None,
                    insecure: false,
                    ca_file: None,
                    defined_in: defined_in.clone(),
                },
            ),
            (
                n("plain"),
                RegistryConfig {
                    credential_helper: None,
                    protocol: None,
                    insecure: false,
                    ca_file: None,
                    defined_in,
                },
            ),
        ]);
        assert_eq!(contents.registries, expected);
    }

    #[test]
    fn parses_an_empty_file() {
        let contents = parse("# nothing yet\n").unwrap();
        assert_eq!(contents.registries, BTreeMap::new());
        assert_eq!(contents.helper_timeout, None);
        assert_eq!(parse("[registries]").unwrap().registries, BTreeMap::new());
    }

    #[test]
    fn helper_timeout_takes_integers_and_floats() {
        let timeout = |text| parse(text).unwrap().helper_timeout.unwrap();
        assert_eq!(timeout("helper-timeout = 60"), Duration::from_secs(60));
        assert_eq!(timeout("helper-timeout = 0.5"), Duration::from_millis(500));
        assert_eq!(timeout("helper-timeout = 1e3"), Duration::from_secs(1000));
    }

    #[test]
    fn protocol_display_and_serde() {
        assert_eq!(Scheme::Https.to_string(), "https");
        assert_eq!(Scheme::Http.to_string(), "http");
        assert_eq!(serde_json::to_string(&Scheme::Http).unwrap(), "\"http\"");
        let parsed: Scheme = serde_json::from_str("\"https\"").unwrap();
        assert_eq!(parsed, Scheme::Https);
    }

    #[test]
    fn a_relative_ca_file_is_relative_to_the_file() {
        let contents = Config::parse(
            "[registries.r]\nca-file = \"../ca.pem\"",
            Path::new("/work/project/.config/wasm/config.toml"),
        )
        .unwrap();
        assert_eq!(
            contents.registries[&n("r")].ca_file.as_deref(),
            Some(Path::new("/work/project/.config/wasm/../ca.pem"))
        );
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        assert_eq!(
            error("helper-timeout = 5\n[registries.\"ghcr.io\"\ninsecure = true\n"),
            "{path}:2:22: invalid TOML: unclosed table, expected `]`"
        );
        assert_eq!(
            error("[registries.\"ghcr.io\"]\ncredential-helper = op item get\n"),
            "{path}:2:21: invalid TOML: string values must be quoted, expected literal string"
        );
        assert_eq!(
            error("[registries.r]\ninsecure = true\ninsecure = false\n"),
            "{path}:3:1: invalid TOML: duplicate key"
        );
    }

    #[test]
    fn unknown_keys_are_named_with_their_table_and_the_known_keys() {
        assert_eq!(
            error("[registries.\"ghcr.io\"]\ncredential_helper = \"op\""),
            "{path}: unknown key `credential_helper` in `registries.\"ghcr.io\"`: \
             did you mean `credential-helper`? \
             (known keys: `credential-helper`, `protocol`, `insecure`, `ca-file`)"
        );
        assert_eq!(
            error("[registries.\"ghcr.io\"]\ncredentialHelper = \"op\""),
            "{path}: unknown key `credentialHelper` in `registries.\"ghcr.io\"`: \
             did you mean `credential-helper`? \
             (known keys: `credential-helper`, `protocol`, `insecure`, `ca-file`)"
        );
        assert_eq!(
            error("[registries.\"ghcr.io\"]\ntoken = \"x\""),
            "{path}: unknown key `token` in `registries.\"ghcr.io\"` \
             (known keys: `credential-helper`, `protocol`, `insecure`, `ca-file`)"
        );
        assert_eq!(
            error("[registry.\"ghcr.io\"]\ninsecure = true"),
            "{path}: unknown key `registry` in the top level: did you mean `registries`? \
             (known keys: `helper-timeout`, `registries`, `namespaces`)"
        );
        assert_eq!(
            error("helper_timeout = 5"),
            "{path}: unknown key `helper_timeout` in the top level: \
             did you mean `helper-timeout`? (known keys: `helper-timeout`, `registries`, `namespaces`)"
        );
        assert_eq!(
            error("[registries.r]\ncredential-helper.user = \"echo u\""),
            "{path}: unknown key `user` in `registries.r.credential-helper`: \
             did you mean `username`? (known keys: `username`, `password`)"
        );
    }

    #[test]
    fn wrong_types_name_the_key_and_the_expected_type() {
        let cases = [
            (
                "[registries.\"ghcr.io\"]\ninsecure = \"yes\"",
                "{path}: `registries.\"ghcr.io\".insecure` must be a boolean (`true` or `false`), \
                 found a string",
            ),
            (
                "[registries.\"ghcr.io\"]\ncredential-helper = 5",
                "{path}: `registries.\"ghcr.io\".credential-helper` must be a command string, \
                 or a table with `username` and `password` commands, found an integer",
            ),
            (
                "[registries.\"ghcr.io\"]\ncredential-helper = [\"op\", \"read\"]",
                "{path}: `registries.\"ghcr.io\".credential-helper` must be a command string, \
                 or a table with `username` and `password` commands, found an array",
            ),
            (
                "[registries.\"ghcr.io\"]\ncredential-helper.username = \"cat ~/u\"",
                "{path}: `registries.\"ghcr.io\".credential-helper` must be a table with \
                 `username` and `password` commands, found only `username`",
            ),
            (
                "[registries.\"ghcr.io\"]\ncredential-helper.password = \"cat ~/p\"",
                "{path}: `registries.\"ghcr.io\".credential-helper` must be a table with \
                 `username` and `password` commands, found only `password`",
            ),
            (
                "[registries.\"ghcr.io\"]\ncredential-helper = {}",
                "{path}: `registries.\"ghcr.io\".credential-helper` must be a table with \
                 `username` and `password` commands, found an empty table",
            ),
            (
                "[registries.\"ghcr.io\"]\ncredential-helper = \"\"",
                "{path}: `registries.\"ghcr.io\".credential-helper` must be a non-empty command, \
                 found an empty string",
            ),
            (
                "[registries.r]\ncredential-helper.username = \"echo u\"\n\
                 credential-helper.password = \"  \"",
                "{path}: `registries.r.credential-helper.password` must be a non-empty command, \
                 found an empty string",
            ),
            (
                "[registries.r]\ncredential-helper.username = true\n\
                 credential-helper.password = \"echo p\"",
                "{path}: `registries.r.credential-helper.username` must be a non-empty command, \
                 found a boolean",
            ),
            (
                "[registries.r]\nprotocol = \"ftp\"",
                "{path}: `registries.r.protocol` must be \"https\" or \"http\", found \"ftp\"",
            ),
            (
                "[registries.r]\nprotocol = \"HTTPS\"",
                "{path}: `registries.r.protocol` must be \"https\" or \"http\", found \"HTTPS\"",
            ),
            (
                "[registries.r]\nprotocol = 443",
                "{path}: `registries.r.protocol` must be \"https\" or \"http\", found an integer",
            ),
            (
                "[registries.r]\nca-file = 5",
                "{path}: `registries.r.ca-file` must be the path of a PEM file, found an integer",
            ),
            (
                "[registries.r]\nca-file = \"\"",
                "{path}: `registries.r.ca-file` must be the path of a PEM file, \
                 found an empty string",
            ),
            (
                "registries = 5",
                "{path}: `registries` must be a table of registries, \
                 like `[registries.\"ghcr.io\"]`, found an integer",
            ),
            (
                "[registries]\n\"ghcr.io\" = \"op item get ghcr\"",
                "{path}: `registries.\"ghcr.io\"` must be a table of registry settings, \
                 like `[registries.\"ghcr.io\"]`, found a string",
            ),
            (
                "helper-timeout = \"60\"",
                "{path}: `helper-timeout` must be a number of seconds greater than 0, \
                 like `helper-timeout = 60`, found a string",
            ),
            (
                "helper-timeout = 0",
                "{path}: `helper-timeout` must be a number of seconds greater than 0, \
                 like `helper-timeout = 60`, found 0",
            ),
            (
                "helper-timeout = -1.5",
                "{path}: `helper-timeout` must be a number of seconds greater than 0, \
                 like `helper-timeout = 60`, found -1.5",
            ),
            (
                "helper-timeout = nan",
                "{path}: `helper-timeout` must be a number of seconds greater than 0, \
                 like `helper-timeout = 60`, found nan",
            ),
            (
                "helper-timeout = 1e300",
                "{path}: `helper-timeout` must be a number of seconds greater than 0 \
                 and less than 2^64, found 1e300",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "for {text:?}");
        }
    }

    #[test]
    fn namespaces_map_to_registry_prefixes() {
        let contents =
            parse("[namespaces]\nwasi = \"ghcr.io/webassembly\"\nmy-team = \"localhost:5000\"\n")
                .unwrap();
        let prefixes: Vec<(&str, &str)> = contents
            .namespaces
            .iter()
            .map(|(k, v)| (k.as_str(), v.prefix.as_str()))
            .collect();
        assert_eq!(
            prefixes,
            [
                ("my-team", "localhost:5000"),
                ("wasi", "ghcr.io/webassembly")
            ]
        );
        assert_eq!(contents.namespaces["wasi"].defined_in, PathBuf::from(PATH));
        let mut merged = Config::empty();
        merged.merge(contents);
        merged.merge(parse("[namespaces]\nwasi = \"example.com/w\"").unwrap());
        assert_eq!(merged.namespace("wasi").unwrap().prefix, "example.com/w");
        assert_eq!(
            merged.namespace("my-team").unwrap().prefix,
            "localhost:5000"
        );
        assert!(merged.namespace("acme").is_none());
    }

    #[test]
    fn bad_namespaces_are_named_with_the_fix() {
        let cases = [
            (
                "namespaces = \"ghcr.io\"",
                "{path}: `namespaces` must be a table of namespaces, like `[namespaces]` with \
                 `wasi = \"ghcr.io/webassembly\"`, found a string",
            ),
            (
                "[namespaces]\nWasi = \"ghcr.io/webassembly\"",
                "{path}: `namespaces.Wasi` must be a package namespace: lowercase letters, digits \
                 and single `-` between words, like `wasi`, found \"Wasi\"",
            ),
            (
                "[namespaces]\nwasi = \"https://ghcr.io/webassembly\"",
                "{path}: `namespaces.wasi` must be a registry prefix REGISTRY[/PATH], like \
                 \"ghcr.io/webassembly\", found \"https://ghcr.io/webassembly\"",
            ),
            (
                "[namespaces]\nwasi = \"webassembly\"",
                "{path}: `namespaces.wasi` must be a registry prefix REGISTRY[/PATH], like \
                 \"ghcr.io/webassembly\", found \"webassembly\"",
            ),
            (
                "[namespaces]\nwasi = \"ghcr.io/w:1.0\"",
                "{path}: `namespaces.wasi` must be a registry prefix REGISTRY[/PATH], like \
                 \"ghcr.io/webassembly\", found \"ghcr.io/w:1.0\"",
            ),
            (
                "[namespaces]\nwasi = 5",
                "{path}: `namespaces.wasi` must be a registry prefix REGISTRY[/PATH], like \
                 \"ghcr.io/webassembly\", found an integer",
            ),
            (
                "[namespace]\nwasi = \"ghcr.io\"",
                "{path}: unknown key `namespace` in the top level: did you mean `namespaces`? \
                 (known keys: `helper-timeout`, `registries`, `namespaces`)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "for {text:?}");
        }
    }

    #[test]
    fn registry_keys_must_be_host_and_port() {
        let cases = [
            (
                "https://ghcr.io",
                "{path}: invalid registry key \"https://ghcr.io\": a registry key has no scheme; \
                 write `[registries.\"ghcr.io\"]`",
            ),
            (
                "http://localhost:5000/v2/",
                "{path}: invalid registry key \"http://localhost:5000/v2/\": a registry key has \
                 no scheme; write `[registries.\"localhost:5000\"]` with `protocol = \"http\"`",
            ),
            (
                "ghcr.io/my-org",
                "{path}: invalid registry key \"ghcr.io/my-org\": a registry key has no path \
                 (credentials apply to the whole registry); write `[registries.\"ghcr.io\"]`",
            ),
            (
                "my registry",
                "{path}: invalid registry key \"my registry\": ' ' cannot appear in a registry \
                 host; write HOST or HOST:PORT, like `[registries.\"localhost:5000\"]`",
            ),
            (
                "",
                "{path}: invalid registry key \"\": the host is empty; write HOST or HOST:PORT, \
                 like `[registries.\"ghcr.io\"]`",
            ),
            (
                ":5000",
                "{path}: invalid registry key \":5000\": the host is empty; write HOST or \
                 HOST:PORT, like `[registries.\"ghcr.io\"]`",
            ),
            (
                "localhost:",
                "{path}: invalid registry key \"localhost:\": the port after `:` is empty; \
                 write `[registries.\"localhost\"]` or add the port number",
            ),
            (
                "localhost:http",
                "{path}: invalid registry key \"localhost:http\": the port `http` is not a \
                 number from 1 to 65535",
            ),
            (
                "localhost:0",
                "{path}: invalid registry key \"localhost:0\": the port `0` is not a number \
                 from 1 to 65535",
            ),
            (
                "localhost:65536",
                "{path}: invalid registry key \"localhost:65536\": the port `65536` is not a \
                 number from 1 to 65535",
            ),
            (
                "localhost:+80",
                "{path}: invalid registry key \"localhost:+80\": the port `+80` is not a number \
                 from 1 to 65535",
            ),
            (
                "[fe80::1%eth0]:5000",
                "{path}: invalid registry key \"[fe80::1%eth0]:5000\": '%' cannot appear in a \
                 registry host; write HOST or HOST:PORT, like `[registries.\"localhost:5000\"]`",
            ),
            (
                "[::1]5000",
                "{path}: invalid registry key \"[::1]5000\": '5' cannot appear in a registry \
                 host; write HOST or HOST:PORT, like `[registries.\"localhost:5000\"]`",
            ),
            (
                "[::1",
                "{path}: invalid registry key \"[::1\": '[' cannot appear in a registry host; \
                 write HOST or HOST:PORT, like `[registries.\"localhost:5000\"]`",
            ),
        ];
        for (key, expected) in cases {
            let text = format!("[registries.\"{key}\"]\n");
            assert_eq!(error(&text), expected, "for {key:?}");
        }
    }

    #[test]
    fn one_registry_twice_in_a_file_is_refused() {
        assert_eq!(
            error("[registries.\"GHCR.io\"]\n[registries.\"ghcr.io\"]\n"),
            "{path}: registry `ghcr.io` is configured twice, as \"GHCR.io\" and \"ghcr.io\"; \
             keep one of the two tables"
        );
        assert_eq!(
            error("[registries.\"docker.io\"]\n[registries.\"index.docker.io\"]\n"),
            "{path}: registry `docker.io` is configured twice, as \"docker.io\" and \
             \"index.docker.io\"; keep one of the two tables"
        );
    }

    #[test]
    fn registry_lookup_ignores_host_case() {
        let config = config("[registries.\"GHCR.io\"]\n[registries.\"localhost:5000\"]\n");
        assert!(config.registry(&n("ghcr.io")).is_some());
        assert!(config.registry(&n("GHCR.IO")).is_some());
        assert!(config.registry(&n("LocalHost:5000")).is_some());
        assert!(config.registry(&n("localhost")).is_none());
        assert!(config.registry(&n("localhost:5001")).is_none());
        let keys: Vec<&str> = config.registries().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["ghcr.io", "localhost:5000"]);
    }

    #[test]
    fn docker_hub_aliases_find_each_other() {
        for written in crate::DOCKER_HUB_ALIASES {
            let config = config(&format!(
                "[registries.\"{written}\"]\ncredential-helper = \"echo\""
            ));
            for asked in crate::DOCKER_HUB_ALIASES.iter().chain(&["Docker.IO"]) {
                assert!(
                    config.registry(&n(asked)).is_some(),
                    "{asked} should find an entry written as {written}"
                );
            }
            assert!(config.registry(&n("docker.io:5000")).is_none());
            assert!(config.registry(&n("quay.io")).is_none());
        }
    }

    #[test]
    fn keys_lists_match_the_structs() {
        // `KEYS` feeds the unknown-key message: it must be exactly the struct's fields, in order.
        fn check<T: TomlTable + std::fmt::Debug>() {
            let table: Table = toml::from_str("zzz = 1").unwrap();
            let err = T::deserialize(Value::Table(table)).unwrap_err();
            let expected = <toml::de::Error as serde::de::Error>::unknown_field("zzz", T::KEYS);
            assert_eq!(err.message(), expected.message());
            let all: Table = T::KEYS
                .iter()
                .map(|k| (k.to_string(), Value::from(1)))
                .collect();
            T::deserialize(Value::Table(all)).unwrap();
        }
        check::<ConfigToml>();
        check::<RegistryToml>();
        check::<SplitHelperToml>();
    }

    #[test]
    fn suggestions() {
        let registry = RegistryToml::KEYS;
        assert_eq!(
            suggest("Credential_Helper", registry),
            Some("credential-helper")
        );
        assert_eq!(
            suggest("credental-helper", registry),
            Some("credential-helper")
        );
        assert_eq!(suggest("protocl", registry), Some("protocol"));
        assert_eq!(suggest("protcool", registry), Some("protocol"));
        assert_eq!(suggest("cafile", registry), Some("ca-file"));
        assert_eq!(suggest("scheme", registry), Some("protocol"));
        // Not one typo away: suggesting `insecure` for `secure` would invert the intent.
        assert_eq!(suggest("secure", registry), None);
        assert_eq!(suggest("ca", ConfigToml::KEYS), None);
        assert_eq!(suggest("x", registry), None);
    }
}
