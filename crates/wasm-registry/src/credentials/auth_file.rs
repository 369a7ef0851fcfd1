//! The `auths` file format shared by Docker's `config.json` and Podman's `auth.json`, and the
//! matching of its keys against a registry.
//!
//! Written by hand instead of using `docker_credential`: that crate matches `credHelpers` keys
//! exactly, cannot explain which key it tried or matched, reports JSON errors without a
//! position, misses Podman's `$XDG_CONFIG_HOME/containers/auth.json` and namespaced keys, and
//! puts no time limit on helpers (docs/registries.md). Every user of `wasm` meets one of those.
//!
//! What must stay true: secrets read from these files are wrapped in [`Secret`] as they are
//! parsed, and errors never contain them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Deserializer};
use thiserror::Error;
use wasm_config::Secret;

use wasm_config::{RegistryAddress, RegistryName};

/// A `config.json` / `auth.json` file: the parts this tool reads; other keys are ignored.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuthFile {
    #[serde(default)]
    pub(crate) auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    pub(crate) cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    pub(crate) creds_store: Option<String>,
}

/// One entry of `auths`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuthEntry {
    #[serde(default, deserialize_with = "secret")]
    auth: Option<Secret<String>>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default, deserialize_with = "secret")]
    password: Option<Secret<String>>,
    #[serde(default, deserialize_with = "secret")]
    identitytoken: Option<Secret<String>>,
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret<String>>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .filter(|s| !s.is_empty())
        .map(Secret::new))
}

/// What an `auths` entry holds.
#[derive(Debug)]
pub(crate) enum EntryCredential {
    /// A username and password (from `auth` or the `username`/`password` fields).
    Basic {
        username: String,
        password: Secret<String>,
    },
    /// An identity token (OAuth2 refresh token).
    IdentityToken {
        username: Option<String>,
        token: Secret<String>,
    },
    /// `{}`: the credentials are in the credential store.
    Empty,
}

/// An auth file that exists but cannot be used. Cloneable, because the chain reads each file
/// once and reports its problem for every registry that consults it.
#[derive(Clone, Debug, Error)]
pub enum AuthFileError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
    /// The file is not valid JSON, or not the expected shape.
    #[error(
        "{} is not valid: {message} at line {line} column {column}; fix it (`jq . {}` shows the \
         problem) or move it away",
        path.display(),
        path.display()
    )]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message, without its position.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An `auths` entry that cannot be decoded.
    #[error("{}: `auths.\"{key}\".auth` {problem}; run `docker login {key}` again", path.display())]
    BadEntry {
        /// The file.
        path: PathBuf,
        /// The `auths` key.
        key: String,
        /// What is wrong (never the value).
        problem: &'static str,
    },
}

impl AuthFile {
    /// Reads a file; `Ok(None)` when it does not exist.
    pub(crate) fn load(path: &Path) -> Result<Option<Self>, AuthFileError> {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse(&bytes, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(AuthFileError::Read {
                path: path.to_path_buf(),
                source: std::sync::Arc::new(source),
            }),
        }
    }

    /// Parses the file's bytes; `path` is for messages.
    pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Self, AuthFileError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        serde_json::from_slice(bytes).map_err(|e| {
            let message = e.to_string();
            let message = match message.rfind(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            AuthFileError::Json {
                path: path.to_path_buf(),
                message,
                line: e.line(),
                column: e.column(),
            }
        })
    }
}

impl AuthEntry {
    /// Decodes the entry found under `key` in the file at `path`.
    pub(crate) fn decode(&self, path: &Path, key: &str) -> Result<EntryCredential, AuthFileError> {
        let bad = |problem| AuthFileError::BadEntry {
            path: path.to_path_buf(),
            key: key.to_string(),
            problem,
        };
        if let Some(token) = &self.identitytoken {
            let username = self.username.clone().or_else(|| {
                self.auth
                    .as_ref()
                    .and_then(|a| decode_auth(a.expose()).ok())
                    .map(|(u, _)| u)
            });
            return Ok(EntryCredential::IdentityToken {
                username: username.filter(|u| !u.is_empty() && u != "<token>"),
                token: token.clone(),
            });
        }
        if let Some(auth) = &self.auth {
            let (username, password) = decode_auth(auth.expose()).map_err(bad)?;
            return Ok(EntryCredential::Basic { username, password });
        }
        match (&self.username, &self.password) {
            (Some(username), Some(password)) if !username.is_empty() => {
                Ok(EntryCredential::Basic {
                    username: username.clone(),
                    password: password.clone(),
                })
            }
            _ => Ok(EntryCredential::Empty),
        }
    }
}

fn decode_auth(auth: &str) -> Result<(String, Secret<String>), &'static str> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| "is not valid base64")?;
    let text = String::from_utf8(bytes).map_err(|_| "does not decode to UTF-8 text")?;
    let (user, password) = text
        .split_once(':')
        .ok_or("does not decode to `username:password`")?;
    if user.is_empty() {
        return Err("has an empty username");
    }
    Ok((user.to_string(), Secret::new(password.to_string())))
}

/// What a key of an auth file names: its registry, and the namespace path Podman keys may
/// carry (`quay.io/org`). Every spelling found in the wild is read (scheme, `/v1/`, `/v2/`,
/// any case, Docker Hub's aliases); `None` for a key that names no registry.
pub(crate) fn key_address(key: &str) -> Option<RegistryAddress> {
    RegistryAddress::parse(key).ok()
}

/// Whether `key` names `registry` itself (no namespace).
pub(crate) fn key_names(key: &str, registry: &RegistryName) -> bool {
    key_address(key).is_some_and(|a| a.name == *registry && a.path.is_none())
}

/// Finds the entry for `registry` (and, where keys may carry a namespace, `repository`) in a
/// map keyed by registry spellings.
///
/// 1. with `namespaces`, the longest key `HOST/PATH` whose path is the repository or a prefix
///    of it at a `/` boundary (Podman's `quay.io/org`) — longest first, and before the bare host;
/// 2. a key that is exactly one of [`RegistryName::credential_keys`], in that order;
/// 3. any other key that names the registry.
pub(crate) fn find_key<'a, V>(
    map: &'a BTreeMap<String, V>,
    registry: &RegistryName,
    repository: Option<&str>,
    namespaces: bool,
) -> Option<(&'a str, &'a V)> {
    if namespaces && let Some(repository) = repository {
        let best = map
            .iter()
            .filter_map(|(k, v)| {
                let address = key_address(k)?;
                let path = address.path?;
                let under = repository == path
                    || repository
                        .strip_prefix(path.as_str())
                        .is_some_and(|rest| rest.starts_with('/'));
                (address.name == *registry && under).then_some((path.len(), k, v))
            })
            .max_by_key(|(len, _, _)| *len);
        if let Some((_, k, v)) = best {
            return Some((k.as_str(), v));
        }
    }
    for spelling in registry.credential_keys() {
        if let Some((k, v)) = map.get_key_value(&spelling) {
            return Some((k.as_str(), v));
        }
    }
    map.iter()
        .find(|(k, _)| key_names(k, registry))
        .map(|(k, v)| (k.as_str(), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(keys: &[&str]) -> BTreeMap<String, usize> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (k.to_string(), i))
            .collect()
    }

    fn n(name: &str) -> RegistryName {
        RegistryName::parse(name).unwrap()
    }

    #[test]
    fn reads_every_spelling() {
        for k in [
            "reg.example.com",
            "https://reg.example.com",
            "http://reg.example.com",
            "https://reg.example.com/v1/",
            "https://reg.example.com/v2/",
            "HTTPS://Reg.Example.com/",
        ] {
            assert!(key_names(k, &n("reg.example.com")), "{k}");
        }
        for k in [
            "https://index.docker.io/v1/",
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "registry.hub.docker.com",
        ] {
            assert!(key_names(k, &RegistryName::docker_hub()), "{k}");
        }
        let a = key_address("quay.io/org/").unwrap();
        assert_eq!(
            (a.name.as_str(), a.path.as_deref()),
            ("quay.io", Some("org"))
        );
        assert!(key_names("localhost:5000", &n("localhost:5000")));
        assert!(key_address("not a registry").is_none());
    }

    #[test]
    fn finds_keys_by_spelling() {
        let m = map(&["https://reg.example.com/v2/", "other.io"]);
        let (k, _) = find_key(&m, &n("reg.example.com"), None, false).unwrap();
        assert_eq!(k, "https://reg.example.com/v2/");
        let m = map(&["https://index.docker.io/v1/"]);
        assert!(find_key(&m, &RegistryName::docker_hub(), None, false).is_some());
        let m = map(&["HTTPS://REG.example.com"]);
        assert!(find_key(&m, &n("reg.example.com"), None, false).is_some());
        assert!(find_key(&m, &n("example.com"), None, false).is_none());
        // The exact spelling wins over another that normalizes the same.
        let m = map(&["https://h.io", "h.io"]);
        assert_eq!(find_key(&m, &n("h.io"), None, false).unwrap().0, "h.io");
    }

    #[test]
    fn namespaced_keys_match_repositories_under_them() {
        let m = map(&["quay.io", "quay.io/org", "quay.io/org/team"]);
        let hit = |repo| find_key(&m, &n("quay.io"), Some(repo), true).unwrap().0;
        assert_eq!(hit("org/team/app"), "quay.io/org/team");
        assert_eq!(hit("org/app"), "quay.io/org");
        assert_eq!(hit("organ/app"), "quay.io");
        assert_eq!(hit("other/app"), "quay.io");
        // Without namespaces (Docker), paths never match a repository.
        let m = map(&["quay.io/org"]);
        assert!(find_key(&m, &n("quay.io"), Some("org/app"), false).is_none());
    }

    #[test]
    fn decodes_entries() {
        let path = Path::new("/c.json");
        let file = AuthFile::parse(
            br#"{"auths":{"a":{"auth":"dXNlcjpwOmFzcw=="},"b":{},"c":{"identitytoken":"tok","username":"<token>"},"d":{"auth":"!!"},"e":{"username":"u","password":"p"}}}"#,
            path,
        )
        .unwrap();
        match file.auths["a"].decode(path, "a").unwrap() {
            EntryCredential::Basic { username, password } => {
                assert_eq!(username, "user");
                assert_eq!(password.expose(), "p:ass");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            file.auths["b"].decode(path, "b").unwrap(),
            EntryCredential::Empty
        ));
        assert!(matches!(
            file.auths["c"].decode(path, "c").unwrap(),
            EntryCredential::IdentityToken { username: None, .. }
        ));
        assert_eq!(
            file.auths["d"].decode(path, "d").unwrap_err().to_string(),
            "/c.json: `auths.\"d\".auth` is not valid base64; run `docker login d` again"
        );
        assert!(matches!(
            file.auths["e"].decode(path, "e").unwrap(),
            EntryCredential::Basic { .. }
        ));
    }

    #[test]
    fn json_errors_have_positions_and_no_content() {
        let err = AuthFile::parse(
            b"{\n  \"auths\": {\n    \"h\": {\"auth\": \"c2VjcmV0\"},\n  }\n}",
            Path::new("/d/config.json"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(
            text,
            "/d/config.json is not valid: trailing comma at line 4 column 3; fix it (`jq . /d/config.json` shows the problem) or move it away"
        );
        assert!(!text.contains("c2VjcmV0"));
        assert!(AuthFile::parse(b"  \n", Path::new("/x")).is_ok());
    }

    #[test]
    fn entries_never_debug_secrets() {
        let file = AuthFile::parse(
            br#"{"auths":{"a":{"auth":"dXNlcjpjYW5hcnk=","password":"canary2","identitytoken":"canary3"}}}"#,
            Path::new("/x"),
        )
        .unwrap();
        let debug = format!("{file:?}");
        assert!(!debug.contains("dXNlcjpjYW5hcnk="));
        assert!(!debug.contains("canary"));
    }
}
