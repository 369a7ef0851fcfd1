//! From a package name to the OCI repository that holds its versions (docs/packages.md, "Names
//! and where they live"). First match wins:
//!
//! 1. the dependency's own `registry = "PREFIX"` or `repository = "REPO"` in wasm.toml;
//! 2. a namespace mapping: `[namespaces]` in wasm.toml, then in the user config;
//! 3. wkg's config (`$XDG_CONFIG_HOME/wasm-pkg/config.toml`) with wkg's meaning:
//!    `package_registry_overrides`, then `namespace_registries`, then `default_registry`; an
//!    inline `metadata` table is used directly, a plain value names a domain whose discovery
//!    document is asked (rule 4), and that domain is the registry itself when it answers 404;
//! 4. discovery: `https://DOMAIN/.well-known/wasm-pkg/registry.json` for the domain of rule 3,
//!    or wkg's built-in domains (`wasi` -> `wasi.dev`, `ba` -> `bytecodealliance.org`);
//!    repository = `oci.namespacePrefix` + `NAMESPACE/NAME` on `oci.registry`.
//!
//! Every answer says which rule matched ([`Mapped::rule`], shown by `-v`); an unknown name
//! fails naming every rule tried and the key that would fix it. Discovery documents are cached
//! with their expiry under the cache directory and used `--offline`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use wasm_registry::Repository;

use crate::error::PackageError;
use crate::manifest::{Manifest, RegistryPrefix, Source};
use crate::name::PackageName;
use crate::registry::PackageRegistry;

/// How long a discovery document is kept when its server sends no `Cache-Control: max-age`.
pub const DEFAULT_DISCOVERY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// wkg's built-in domains for namespaces no config names.
const BUILT_IN_DOMAINS: &[(&str, &str)] = &[("wasi", "wasi.dev"), ("ba", "bytecodealliance.org")];

/// Where a name led, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The repository.
    pub repository: Repository,
    /// Which rule matched, for `-v` and messages, e.g. `rule 2: [namespaces] acme in
    /// /p/wasm.toml`.
    pub rule: String,
}

/// May discovery use the network?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Yes, when the cached document is missing or expired.
    Online,
    /// No: the cached document (even expired) or an error.
    Offline,
    /// No, and a missing document is not an error but "cannot tell" (for checking a lock
    /// without any request).
    CacheOnly,
}

/// wkg's `config.toml`, the parts that name registries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WkgConfig {
    /// The file.
    pub path: PathBuf,
    /// `default_registry`.
    pub default_registry: Option<WkgRegistry>,
    /// `[namespace_registries]`.
    pub namespace_registries: BTreeMap<String, WkgRegistry>,
    /// `[package_registry_overrides]`.
    pub package_registry_overrides: BTreeMap<String, WkgRegistry>,
}

/// A value of wkg's config that names a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WkgRegistry {
    /// A domain: ask its discovery document.
    Domain(String),
    /// An inline `metadata` table: `oci.registry` and `oci.namespacePrefix`.
    Inline {
        /// `oci.registry`.
        registry: String,
        /// `oci.namespacePrefix` (may be empty).
        namespace_prefix: String,
    },
}

impl WkgConfig {
    /// wkg's config file: `$XDG_CONFIG_HOME/wasm-pkg/config.toml` (as wkg finds it, with the
    /// platform's config directory when XDG_CONFIG_HOME is unset).
    pub fn default_path() -> Option<PathBuf> {
        wasm_config::global_config_path()
            .and_then(|p| p.parent()?.parent().map(Path::to_owned))
            .map(|dir| dir.join("wasm-pkg").join("config.toml"))
    }

    /// Reads wkg's config at `path`; `None` when there is none. Keys this crate does not use
    /// are ignored (the file is wkg's); the ones it uses are checked.
    pub fn load(path: &Path) -> Result<Option<WkgConfig>, PackageError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PackageError::Io {
                    what: "read wkg's config",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        WkgConfig::parse(&text, path).map(Some)
    }

    /// Parses wkg's config text.
    pub fn parse(text: &str, path: &Path) -> Result<WkgConfig, PackageError> {
        #[derive(Deserialize)]
        struct File {
            default_registry: Option<toml::Value>,
            #[serde(default)]
            namespace_registries: BTreeMap<String, toml::Value>,
            #[serde(default)]
            package_registry_overrides: BTreeMap<String, toml::Value>,
        }
        let file: File = toml::from_str(text).map_err(|e| {
            let (line, column) =
                wasm_config::toml_keys::line_column(text, e.span().map_or(text.len(), |s| s.start));
            PackageError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let value = |key: String, v: toml::Value| -> Result<WkgRegistry, PackageError> {
            wkg_registry(&v).ok_or_else(|| PackageError::InvalidValue {
                at: crate::error::Location {
                    path: path.to_owned(),
                    line_column: None,
                },
                key,
                expected: "a domain string, or a table with `metadata.oci.registry` (wkg's \
                           format)"
                    .into(),
                found: v.to_string(),
            })
        };
        let mut config = WkgConfig {
            path: path.to_owned(),
            ..WkgConfig::default()
        };
        if let Some(v) = file.default_registry {
            config.default_registry = Some(value("default_registry".into(), v)?);
        }
        for (k, v) in file.namespace_registries {
            let parsed = value(format!("namespace_registries.{k}"), v)?;
            config.namespace_registries.insert(k, parsed);
        }
        for (k, v) in file.package_registry_overrides {
            let parsed = value(format!("package_registry_overrides.\"{k}\""), v)?;
            config.package_registry_overrides.insert(k, parsed);
        }
        Ok(config)
    }
}

/// `"example.com"` or `{ registry = "r", metadata = { oci = { registry, namespacePrefix } } }`.
fn wkg_registry(value: &toml::Value) -> Option<WkgRegistry> {
    match value {
        toml::Value::String(domain) if !domain.is_empty() => {
            Some(WkgRegistry::Domain(domain.clone()))
        }
        toml::Value::Table(table) => match table.get("metadata") {
            Some(toml::Value::Table(metadata)) => {
                let oci = metadata.get("oci")?.as_table()?;
                Some(WkgRegistry::Inline {
                    registry: oci.get("registry")?.as_str()?.to_owned(),
                    namespace_prefix: oci
                        .get("namespacePrefix")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                })
            }
            _ => Some(WkgRegistry::Domain(
                table.get("registry")?.as_str()?.to_owned(),
            )),
        },
        _ => None,
    }
}

/// A discovery document, as wkg reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryDocument {
    /// `oci.registry`.
    pub registry: String,
    /// `oci.namespacePrefix` (may be empty).
    pub namespace_prefix: String,
}

impl DiscoveryDocument {
    /// Parses `{"preferredProtocol": "oci", "oci": {"registry": R, "namespacePrefix": P}}`.
    pub fn parse(bytes: &[u8]) -> Result<DiscoveryDocument, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Doc {
            preferred_protocol: Option<String>,
            oci: Option<Oci>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Oci {
            registry: Option<String>,
            namespace_prefix: Option<String>,
        }
        let doc: Doc = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a discovery document (invalid JSON: {e})"))?;
        let Some(oci) = doc.oci else {
            return Err(format!(
                "the document names no OCI registry (preferredProtocol {:?}); wasm reads only \
                 `oci.registry`",
                doc.preferred_protocol.unwrap_or_default()
            ));
        };
        let registry = oci
            .registry
            .filter(|r| !r.is_empty())
            .ok_or("the document's `oci` has no `registry`")?;
        Ok(DiscoveryDocument {
            registry,
            namespace_prefix: oci.namespace_prefix.unwrap_or_default(),
        })
    }

    /// The repository of `name`: `registry/namespacePrefix + NAMESPACE/NAME`.
    fn repository(&self, name: &PackageName) -> Result<Repository, String> {
        let text = format!(
            "{}/{}{}/{}",
            self.registry,
            self.namespace_prefix,
            name.namespace(),
            name.name()
        );
        Repository::parse(&text).map_err(|e| e.to_string())
    }
}

/// A cached discovery answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedDiscovery {
    /// Seconds since the epoch after which the answer is asked again.
    expires: u64,
    /// The document; `None` when the domain answered 404.
    document: Option<DiscoveryDocument>,
}

/// Everything the name mapping reads: the manifest's and the user config's `[namespaces]`,
/// wkg's config, and the discovery cache.
pub struct Mapper {
    user_namespaces: BTreeMap<String, (RegistryPrefix, PathBuf)>,
    wkg: Option<WkgConfig>,
    wkg_path: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
}

impl Mapper {
    /// A mapper over the user config, wkg's config (read from `wkg_path`, if given and
    /// present) and a discovery cache under `cache_dir`.
    pub fn new(
        config: &wasm_config::Config,
        wkg_path: Option<PathBuf>,
        cache_dir: Option<PathBuf>,
    ) -> Result<Self, PackageError> {
        let mut user_namespaces = BTreeMap::new();
        for (ns, entry) in config.namespaces() {
            let prefix =
                RegistryPrefix::parse(&entry.prefix).map_err(|e| PackageError::InvalidValue {
                    at: crate::error::Location {
                        path: entry.defined_in.clone(),
                        line_column: None,
                    },
                    key: format!("namespaces.{ns}"),
                    expected: format!("a registry prefix REGISTRY[/PATH]; {e}"),
                    found: format!("{:?}", entry.prefix),
                })?;
            user_namespaces.insert(ns.to_owned(), (prefix, entry.defined_in.clone()));
        }
        let wkg = match &wkg_path {
            Some(path) => WkgConfig::load(path)?,
            None => None,
        };
        Ok(Self {
            user_namespaces,
            wkg,
            wkg_path,
            cache_dir,
        })
    }

    /// The repository of `name` whose dependency entry in `manifest` has `source`; `Ok(None)`
    /// only with [`Network::CacheOnly`] when the answer needs a discovery document the cache
    /// lacks.
    pub async fn map<R: PackageRegistry>(
        &self,
        manifest: Option<&Manifest>,
        name: &PackageName,
        source: &Source,
        registry: &R,
        network: Network,
    ) -> Result<Option<Mapped>, PackageError> {
        let found = |repository: Repository, rule: String| {
            tracing::info!("{name} -> {repository} ({rule})");
            Ok(Some(Mapped { repository, rule }))
        };
        match source {
            Source::Prefix(prefix) => {
                return found(
                    prefix.repository(name),
                    format!("rule 1: its own `registry = \"{prefix}\"` in wasm.toml"),
                );
            }
            Source::Repository(repository) => {
                return found(
                    repository.clone(),
                    "rule 1: its own `repository` in wasm.toml".into(),
                );
            }
            Source::Mapped => {}
        }
        let ns = name.namespace();
        let mut tried = vec!["rule 1: the dependency has no `registry` or `repository`".to_owned()];
        if let Some(manifest) = manifest {
            if let Some(prefix) = manifest.namespaces.get(ns) {
                return found(
                    prefix.repository(name),
                    format!("rule 2: [namespaces] {ns} in {}", manifest.path.display()),
                );
            }
            tried.push(format!(
                "rule 2: no `{ns}` under [namespaces] in {}",
                manifest.path.display()
            ));
        }
        if let Some((prefix, path)) = self.user_namespaces.get(ns) {
            return found(
                prefix.repository(name),
                format!("rule 2: [namespaces] {ns} in {}", path.display()),
            );
        }
        tried.push(format!(
            "rule 2: no `{ns}` under [namespaces] in the wasm config{}",
            match wasm_config::global_config_path() {
                Some(p) => format!(" ({})", p.display()),
                None => String::new(),
            }
        ));
        let mut domain = None;
        match (&self.wkg, &self.wkg_path) {
            (Some(wkg), _) => {
                let key = name.to_string();
                let entry = wkg
                    .package_registry_overrides
                    .get(&key)
                    .map(|v| (format!("package_registry_overrides.\"{key}\""), v))
                    .or_else(|| {
                        wkg.namespace_registries
                            .get(ns)
                            .map(|v| (format!("namespace_registries.{ns}"), v))
                    })
                    .or_else(|| {
                        wkg.default_registry
                            .as_ref()
                            .map(|v| ("default_registry".to_owned(), v))
                    });
                match entry {
                    Some((
                        key,
                        WkgRegistry::Inline {
                            registry: oci_registry,
                            namespace_prefix,
                        },
                    )) => {
                        let doc = DiscoveryDocument {
                            registry: oci_registry.clone(),
                            namespace_prefix: namespace_prefix.clone(),
                        };
                        let repository =
                            doc.repository(name)
                                .map_err(|problem| PackageError::Discovery {
                                    url: format!("{} ({key})", wkg.path.display()),
                                    problem,
                                })?;
                        return found(
                            repository,
                            format!(
                                "rule 3: `{key}` (inline metadata) in wkg's config {}",
                                wkg.path.display()
                            ),
                        );
                    }
                    Some((key, WkgRegistry::Domain(d))) => {
                        domain = Some((
                            d.clone(),
                            format!("named by `{key}` in wkg's config {}", wkg.path.display()),
                            true,
                        ));
                    }
                    None => tried.push(format!(
                        "rule 3: wkg's config {} has no `{name}` in package_registry_overrides, \
                         no `{ns}` in namespace_registries and no default_registry",
                        wkg.path.display()
                    )),
                }
            }
            (None, Some(path)) => tried.push(format!(
                "rule 3: there is no wkg config at {}",
                path.display()
            )),
            (None, None) => tried.push("rule 3: no wkg config location (no home directory)".into()),
        }
        if domain.is_none()
            && let Some((_, d)) = BUILT_IN_DOMAINS.iter().find(|(n, _)| *n == ns)
        {
            domain = Some((
                (*d).to_owned(),
                format!("wkg's built-in domain for `{ns}`"),
                false,
            ));
        }
        let Some((domain, why, fallback)) = domain else {
            tried.push(format!(
                "rule 4: no domain to ask for `{ns}` (wkg's built-in domains cover only `wasi` \
                 and `ba`)"
            ));
            let manifest =
                manifest.map_or("wasm.toml".to_owned(), |m| m.path.display().to_string());
            return Err(PackageError::UnknownName {
                name: name.clone(),
                tried,
                fix: format!(
                    "add `{ns} = \"REGISTRY/PREFIX\"` under [namespaces] in {manifest} (or in the \
                     wasm config), or give the dependency its own `registry = \"REGISTRY/PREFIX\"`"
                ),
            });
        };
        let Some(document) = self.discover(&domain, registry, network).await? else {
            return Ok(None);
        };
        match document {
            Some(doc) => {
                let url = format!("{domain}{}", crate::adapter::DISCOVERY_PATH);
                let repository = doc
                    .repository(name)
                    .map_err(|problem| PackageError::Discovery { url, problem })?;
                found(
                    repository,
                    format!("rule 4: the discovery document of {domain} ({why})"),
                )
            }
            None if fallback => {
                let prefix =
                    RegistryPrefix::parse(&domain).map_err(|problem| PackageError::Discovery {
                        url: format!("{domain}{}", crate::adapter::DISCOVERY_PATH),
                        problem: format!(
                            "answered 404, and `{domain}` cannot be used as the registry \
                             instead: {problem}"
                        ),
                    })?;
                found(
                    prefix.repository(name),
                    format!(
                        "rule 3: {domain} used as the registry ({why}; its discovery document \
                         answered 404)"
                    ),
                )
            }
            None => Err(PackageError::Discovery {
                url: format!("https://{domain}{}", crate::adapter::DISCOVERY_PATH),
                problem: format!("answered 404, so `{name}` has no registry ({why})"),
            }),
        }
    }

    /// The discovery document of `domain` (inner `None`: the domain answered 404); outer
    /// `None` only with [`Network::CacheOnly`] when the cache has no answer.
    async fn discover<R: PackageRegistry>(
        &self,
        domain: &str,
        registry: &R,
        network: Network,
    ) -> Result<Option<Option<DiscoveryDocument>>, PackageError> {
        let cache_file = self.cache_dir.as_ref().map(|dir| {
            dir.join("discovery")
                .join(format!("{}.json", domain.replace([':', '/'], "+")))
        });
        let cached: Option<CachedDiscovery> = cache_file
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        match (&cached, network) {
            (Some(c), Network::Offline | Network::CacheOnly) => {
                return Ok(Some(c.document.clone()));
            }
            (Some(c), Network::Online) if c.expires > now => {
                tracing::debug!(domain, "discovery document from the cache");
                return Ok(Some(c.document.clone()));
            }
            (None, Network::CacheOnly) => return Ok(None),
            (None, Network::Offline) => {
                return Err(PackageError::Offline {
                    what: format!("ask {domain} where its packages live"),
                    why: "its discovery document is not in the cache".into(),
                });
            }
            _ => {}
        }
        let answer = match registry.discovery(domain).await {
            Ok(answer) => answer,
            Err(error) => {
                if let Some(c) = cached {
                    tracing::warn!(
                        "cannot refresh the discovery document of {domain} ({error}); using the \
                         cached one"
                    );
                    return Ok(Some(c.document));
                }
                return Err(PackageError::Registry {
                    what: format!("cannot get the discovery document of {domain}"),
                    hint: None,
                    source: error,
                });
            }
        };
        let document = match answer.status {
            200 => Some(DiscoveryDocument::parse(&answer.body).map_err(|problem| {
                PackageError::Discovery {
                    url: answer.url.clone(),
                    problem,
                }
            })?),
            404 => None,
            status => {
                return Err(PackageError::Discovery {
                    url: answer.url,
                    problem: format!("answered HTTP {status}; expected 200 with a JSON document"),
                });
            }
        };
        if let Some(path) = cache_file {
            let ttl = answer.max_age.unwrap_or(DEFAULT_DISCOVERY_TTL);
            let entry = CachedDiscovery {
                expires: now + ttl.as_secs(),
                document: document.clone(),
            };
            let bytes = serde_json::to_vec_pretty(&entry).expect("serializes");
            if let Err(e) = crate::files::write_atomically(&path, &bytes) {
                tracing::warn!("cannot cache the discovery document of {domain}: {e}");
            }
        }
        Ok(Some(document))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_documents_in_wkg_format() {
        let doc = DiscoveryDocument::parse(
            br#"{"preferredProtocol":"oci","oci":{"registry":"ghcr.io","namespacePrefix":"webassembly/"}}"#,
        )
        .unwrap();
        let name = PackageName::parse("wasi:http").unwrap();
        assert_eq!(
            doc.repository(&name).unwrap().to_string(),
            "ghcr.io/webassembly/wasi/http"
        );
        assert_eq!(
            DiscoveryDocument::parse(br#"{"preferredProtocol":"warg","warg":{"url":"x"}}"#)
                .unwrap_err(),
            "the document names no OCI registry (preferredProtocol \"warg\"); wasm reads only \
             `oci.registry`"
        );
        assert!(
            DiscoveryDocument::parse(b"<html>")
                .unwrap_err()
                .starts_with("not a discovery document (invalid JSON:")
        );
    }

    #[test]
    fn wkg_config_values() {
        let config = WkgConfig::parse(
            r#"
            default_registry = "example.com"
            [namespace_registries]
            lab = "lab.example.com"
            inl = { registry = "r", metadata = { preferredProtocol = "oci", oci = { registry = "localhost:5000", namespacePrefix = "pfx/" } } }
            [package_registry_overrides]
            "lab:special" = "special.example.com"
            [registry."localhost:5000".oci]
            protocol = "http"
            "#,
            Path::new("/c/wasm-pkg/config.toml"),
        )
        .unwrap();
        assert_eq!(
            config.default_registry,
            Some(WkgRegistry::Domain("example.com".into()))
        );
        assert_eq!(
            config.namespace_registries["inl"],
            WkgRegistry::Inline {
                registry: "localhost:5000".into(),
                namespace_prefix: "pfx/".into()
            }
        );
        assert_eq!(
            config.package_registry_overrides["lab:special"],
            WkgRegistry::Domain("special.example.com".into())
        );
        let err = WkgConfig::parse("[namespace_registries]\nlab = 5\n", Path::new("/c.toml"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "/c.toml: `namespace_registries.lab` must be a domain string, or a table with \
             `metadata.oci.registry` (wkg's format), found 5"
        );
    }
}
