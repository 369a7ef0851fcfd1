//! Storing and erasing credentials in Docker's `config.json` as `docker login` and `docker logout`
//! do, for `wasm login` and `wasm logout`.
//!
//! Where credentials go ([`store_login`]), as Docker decides it:
//! 1. the `credHelpers` helper of the registry (`docker-credential-NAME store`);
//! 2. else the `credsStore` helper;
//! 3. else base64 in `auths."KEY"` (`auth` = `user:password`, or `user:` beside `identitytoken`).
//!
//! With a helper, Docker also leaves an empty `auths."KEY": {}` entry; so does this module. The
//! key is what `docker login` writes: the registry's `HOST[:PORT]`, or
//! `https://index.docker.io/v1/` for Docker Hub. [`erase_login`] removes the entry from that
//! helper (under every spelling it holds) and every spelling of the registry from `auths`.
//!
//! What must stay true:
//! - A file that cannot be parsed is never overwritten: the error names its line and column.
//! - Every key that is not changed is kept, in its order (`serde_json`'s `preserve_order`).
//! - The file is replaced atomically (a temporary file in the same directory, then a rename) with
//!   mode 0600; a missing directory is created with mode 0700.
//! - Secrets go only to the helper's stdin or into the file, never into an error or a log.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value};
use thiserror::Error;

use wasm_config::RegistryName;

use super::auth_file::{AuthFile, AuthFileError, find_key, key_names};
use super::store_helper::{HelperSite, StoreHelperError, TOKEN_USERNAME};
use super::{Credential, StoreLocations};

/// Where credentials were stored, or erased from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSite {
    /// A Docker credential helper.
    Helper {
        /// `docker-credential-NAME`.
        program: String,
        /// The setting that names it: `credsStore` or `credHelpers."KEY"`.
        setting: String,
        /// The config file with that setting.
        file: PathBuf,
    },
    /// `auths` in the config file: base64, not encrypted.
    File {
        /// The config file.
        path: PathBuf,
        /// The `auths` key.
        key: String,
    },
}

impl StoreSite {
    /// Whether the secret lies unencrypted in the config file.
    pub fn is_plain_file(&self) -> bool {
        matches!(self, StoreSite::File { .. })
    }
}

impl fmt::Display for StoreSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreSite::Helper {
                program,
                setting,
                file,
            } => write!(f, "{program} ({setting} in {})", file.display()),
            StoreSite::File { path, key } => {
                write!(
                    f,
                    "{} under auths.\"{key}\" (base64, not encrypted)",
                    path.display()
                )
            }
        }
    }
}

/// What [`erase_login`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    /// The helper asked to erase, and the keys it erased (possibly none).
    pub helper: Option<(StoreSite, Vec<String>)>,
    /// The config file, if it exists.
    pub file: Option<PathBuf>,
    /// The keys removed from its `auths`.
    pub auths: Vec<String>,
}

impl Erased {
    /// Whether nothing was found to erase.
    pub fn is_empty(&self) -> bool {
        self.auths.is_empty() && self.helper.as_ref().is_none_or(|(_, keys)| keys.is_empty())
    }
}

/// Credentials could not be stored or erased.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Neither `DOCKER_CONFIG` nor `HOME` is set.
    #[error("cannot tell where Docker's config.json is: neither DOCKER_CONFIG nor HOME is set")]
    NoLocation,
    /// The config file cannot be read or parsed; it is left as it is.
    #[error(transparent)]
    File(#[from] AuthFileError),
    /// A part of the config file has an unexpected type; it is left as it is.
    #[error("{} is not valid: `{key}` is not a JSON object; fix it or move the file away", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The key (`(top level)` for the document itself).
        key: &'static str,
    },
    /// A credential helper failed.
    #[error("cannot {action} the credentials for {registry} in {site}")]
    Helper {
        /// `store`, `erase` or `look up`.
        action: &'static str,
        /// The registry.
        registry: String,
        /// The helper and where it is configured.
        site: StoreSite,
        /// Why.
        #[source]
        source: StoreHelperError,
    },
    /// The config file could not be written; the old one is unchanged.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Stores `credential` (username and password, or identity token) for `registry` where
/// `docker login` would; see the module docs for the order. `timeout` limits the helper.
pub fn store_login(
    locations: &StoreLocations,
    registry: &RegistryName,
    credential: &Credential,
    timeout: Duration,
) -> Result<StoreSite, StoreError> {
    let path = locations
        .docker_config
        .as_deref()
        .ok_or(StoreError::NoLocation)?;
    let (file, mut doc) = Document::load(path)?;
    let key = registry.login_key();

    if let Some(site) = helper_site(&file, path, registry) {
        let (username, secret) = match credential {
            Credential::Basic { username, password } => (username.as_str(), password),
            Credential::IdentityToken { token, .. } => (TOKEN_USERNAME, token),
            Credential::Anonymous => return Ok(site_of(&site, path)),
        };
        site.store(&key, username, secret, timeout)
            .map_err(|source| StoreError::Helper {
                action: "store",
                registry: registry.to_string(),
                site: site_of(&site, path),
                source,
            })?;
        // As Docker: an empty entry, without any secret an earlier login left there.
        let entry = doc.auth_entry(&key)?;
        strip_secrets(entry);
        doc.save()?;
        return Ok(site_of(&site, path));
    }

    let entry = doc.auth_entry(&key)?;
    strip_secrets(entry);
    let encode = |text: String| base64::engine::general_purpose::STANDARD.encode(text);
    match credential {
        Credential::Basic { username, password } => {
            entry.insert(
                "auth".into(),
                encode(format!("{username}:{}", password.expose())).into(),
            );
        }
        Credential::IdentityToken { username, token } => {
            // As Docker: the username with an empty password, and the token beside it.
            let username = username.as_deref().unwrap_or(TOKEN_USERNAME);
            entry.insert("auth".into(), encode(format!("{username}:")).into());
            entry.insert("identitytoken".into(), token.expose().clone().into());
        }
        Credential::Anonymous => {}
    }
    doc.save()?;
    Ok(StoreSite::File {
        path: path.to_path_buf(),
        key,
    })
}

/// Erases the credentials for `registry`: from the helper `docker login` would store them in
/// (every spelling of the registry it holds), and every spelling of the registry from `auths`.
/// Finding nothing is not an error: see [`Erased::is_empty`].
pub fn erase_login(
    locations: &StoreLocations,
    registry: &RegistryName,
    timeout: Duration,
) -> Result<Erased, StoreError> {
    let path = locations
        .docker_config
        .as_deref()
        .ok_or(StoreError::NoLocation)?;
    let mut erased = Erased::default();
    let (file, mut doc) = Document::load(path)?;
    if !doc.existed {
        return Ok(erased);
    }
    erased.file = Some(path.to_path_buf());

    if let Some(site) = helper_site(&file, path, registry) {
        let failed = |action, source| StoreError::Helper {
            action,
            registry: registry.to_string(),
            site: site_of(&site, path),
            source,
        };
        let mut candidates = registry.helper_servers();
        // Another tool may have stored another spelling; `list` shows it. A helper without a
        // working `list` still erases the usual spellings.
        match site.list(timeout) {
            Ok(listed) => candidates.extend(
                listed
                    .into_keys()
                    .filter(|k| key_names(k, registry) && !candidates.contains(k))
                    .collect::<Vec<_>>(),
            ),
            Err(e) => tracing::debug!("`{} list` failed: {e}", site.program()),
        }
        let mut keys = Vec::new();
        for server in candidates {
            // `get` first: helpers disagree on what erasing a missing entry means (pass fails).
            if site
                .get(&server, timeout)
                .map_err(|e| failed("look up", e))?
                .is_some()
            {
                site.erase(&server, timeout)
                    .map_err(|e| failed("erase", e))?;
                keys.push(server);
            }
        }
        erased.helper = Some((site_of(&site, path), keys));
    }

    erased.auths = doc.remove_auths(registry)?;
    if !erased.auths.is_empty() {
        doc.save()?;
    }
    Ok(erased)
}

/// The helper `docker login` uses for `registry`: its `credHelpers` entry, else `credsStore`.
fn helper_site(file: &AuthFile, path: &Path, registry: &RegistryName) -> Option<HelperSite> {
    let file_name = path.display().to_string();
    if let Some((key, name)) = find_key(&file.cred_helpers, registry, None, false) {
        return Some(HelperSite {
            name: name.clone(),
            key: format!("credHelpers.\"{key}\""),
            file: file_name,
        });
    }
    file.creds_store.as_ref().map(|name| HelperSite {
        name: name.clone(),
        key: "credsStore".into(),
        file: file_name,
    })
}

fn site_of(site: &HelperSite, path: &Path) -> StoreSite {
    StoreSite::Helper {
        program: site.program(),
        setting: site.key.clone(),
        file: path.to_path_buf(),
    }
}

/// Removes what may hold a secret from an `auths` entry; other keys (`email`) stay.
fn strip_secrets(entry: &mut Map<String, Value>) {
    entry.retain(|k, _| {
        !matches!(
            k.as_str(),
            "auth" | "username" | "password" | "identitytoken" | "registrytoken"
        )
    });
}

/// A `config.json` as a JSON document, to change a few keys and keep everything else.
struct Document {
    path: PathBuf,
    root: Map<String, Value>,
    existed: bool,
}

impl Document {
    /// Reads the file (`{}` when it does not exist), checked with the same parser the credential
    /// chain uses, so that errors name a line and column.
    fn load(path: &Path) -> Result<(AuthFile, Document), StoreError> {
        let (bytes, existed) = match std::fs::read(path) {
            Ok(bytes) => (bytes, true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), false),
            Err(source) => {
                return Err(AuthFileError::Read {
                    path: path.to_path_buf(),
                    source: std::sync::Arc::new(source),
                }
                .into());
            }
        };
        let file = AuthFile::parse(&bytes, path)?;
        let root = if bytes.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            // Valid JSON: `AuthFile::parse` accepted it.
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(StoreError::Shape {
                        path: path.to_path_buf(),
                        key: "(top level)",
                    });
                }
            }
        };
        Ok((
            file,
            Document {
                path: path.to_path_buf(),
                root,
                existed,
            },
        ))
    }

    fn auths(&mut self) -> Result<&mut Map<String, Value>, StoreError> {
        let auths = self
            .root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if auths.is_null() {
            *auths = Value::Object(Map::new());
        }
        auths.as_object_mut().ok_or_else(|| StoreError::Shape {
            path: self.path.clone(),
            key: "auths",
        })
    }

    /// The `auths` entry under exactly `key`, created empty when missing.
    fn auth_entry(&mut self, key: &str) -> Result<&mut Map<String, Value>, StoreError> {
        let path = self.path.clone();
        let entry = self
            .auths()?
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        entry.as_object_mut().ok_or(StoreError::Shape {
            path,
            key: "auths entry",
        })
    }

    /// Removes every `auths` key that names `registry`, in any spelling; returns them.
    fn remove_auths(&mut self, registry: &RegistryName) -> Result<Vec<String>, StoreError> {
        if !self.root.contains_key("auths") {
            return Ok(Vec::new());
        }
        let auths = self.auths()?;
        let removed: Vec<String> = auths
            .keys()
            .filter(|k| key_names(k, registry))
            .cloned()
            .collect();
        auths.retain(|k, _| !removed.contains(k));
        Ok(removed)
    }

    /// Replaces the file atomically, mode 0600, in Docker's layout (tab-indented).
    fn save(&self) -> Result<(), StoreError> {
        // A symbolic link stays one: its target is replaced (as Docker does).
        let target = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let write_err = |source| StoreError::Write {
            path: target.clone(),
            source,
        };
        let mut bytes = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
        serde::Serialize::serialize(&self.root, &mut serializer)
            .map_err(|e| write_err(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        wasm_config::write_private_file(&target, &bytes).map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str) -> RegistryName {
        RegistryName::parse(name).unwrap()
    }
    use wasm_config::Secret;

    fn secret(text: &str) -> Secret<String> {
        Secret::new(text.to_string())
    }

    fn locations(dir: &Path) -> StoreLocations {
        StoreLocations {
            docker_config: Some(dir.join("docker/config.json")),
            podman_files: Vec::new(),
        }
    }

    fn basic(user: &str, pw: &str) -> Credential {
        Credential::Basic {
            username: user.into(),
            password: secret(pw),
        }
    }

    #[test]
    fn auths_keep_every_other_key_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let loc = locations(dir.path());
        let path = loc.docker_config.clone().unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"psFormat": "table {{.ID}}", "auths": {"other.io": {"auth": "eDp5"}, "https://h.io": {"email": "a@b"}}, "zeta": [1, 2.5, null], "alpha": {"b": 1, "a": 2}}"#,
        )
        .unwrap();
        let site = store_login(&loc, &n("h.io"), &basic("u", "p"), Duration::from_secs(5)).unwrap();
        assert_eq!(
            site.to_string(),
            format!(
                "{} under auths.\"h.io\" (base64, not encrypted)",
                path.display()
            )
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["psFormat", "auths", "zeta", "alpha"]);
        assert_eq!(value["alpha"], serde_json::json!({"b": 1, "a": 2}));
        assert_eq!(value["zeta"], serde_json::json!([1, 2.5, null]));
        let auths: Vec<&String> = value["auths"].as_object().unwrap().keys().collect();
        assert_eq!(auths, ["other.io", "https://h.io", "h.io"]);
        assert_eq!(value["auths"]["h.io"]["auth"], "dTpw");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // Logout removes every spelling, and only those.
        let erased = erase_login(&loc, &n("h.io"), Duration::from_secs(5)).unwrap();
        assert_eq!(erased.auths, ["https://h.io", "h.io"]);
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            value["auths"],
            serde_json::json!({"other.io": {"auth": "eDp5"}})
        );
        assert!(
            erase_login(&loc, &n("h.io"), Duration::from_secs(5))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_missing_file_and_directory_are_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let loc = locations(dir.path());
        let token = Credential::IdentityToken {
            username: Some("carol".into()),
            token: secret("rt"),
        };
        store_login(&loc, &n("docker.io"), &token, Duration::from_secs(5)).unwrap();
        let path = loc.docker_config.unwrap();
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"auths": {"https://index.docker.io/v1/": {"auth": "Y2Fyb2w6", "identitytoken": "rt"}}})
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn invalid_files_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let loc = locations(dir.path());
        let path = loc.docker_config.clone().unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        for (text, expected) in [
            (
                "{\n  \"auths\": {\n    \"x\": {},\n  }\n}\n",
                "is not valid: trailing comma at line 4 column 3",
            ),
            (
                "[1]",
                "is not valid: invalid type: integer `1`, expected a map",
            ),
            ("[]", "is not valid: `(top level)` is not a JSON object"),
            (
                r#"{"auths": 3}"#,
                "invalid type: integer `3`, expected a map",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = store_login(&loc, &n("h.io"), &basic("u", "p"), Duration::from_secs(5))
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
            assert!(erase_login(&loc, &n("h.io"), Duration::from_secs(5)).is_err());
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
    }

    #[test]
    fn login_keys() {
        assert_eq!(n("docker.io").login_key(), "https://index.docker.io/v1/");
        assert_eq!(n("localhost:5000").login_key(), "localhost:5000");
    }
}
