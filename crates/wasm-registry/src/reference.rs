//! References to artifacts in registries: `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`.
//!
//! Parsed by hand rather than with `oci_client::Reference::from_str`: that one compiles a large
//! regular expression on every process start (about 28 ms and 16 MiB, see docs/benchmarks.md),
//! which is most of the start-up budget of a short command, and its errors do not say what to
//! fix. The registry part is a [`RegistryName`], parsed by the one parser all of `wasm` uses. The
//! grammar is the one of the OCI distribution spec and Docker's reference package, including the
//! Docker Hub rules every OCI tool applies (`docker.io` when no registry is given, `library/` for
//! single-segment names).
//!
//! What must stay true: `Display` of a parsed reference parses back to the same reference, and
//! the registry is always in its canonical spelling (lower case, `docker.io` for Docker Hub).

use std::fmt;

use thiserror::Error;
use wasm_config::{RegistryAddress, RegistryAddressError, RegistryName, RegistryNameError, Scheme};

/// A parsed, validated reference to an artifact: registry, repository, and tag and/or digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: RegistryName,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// A reference to a repository without tag or digest, as `wasm tags` takes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Repository {
    /// The registry.
    pub registry: RegistryName,
    /// The repository path inside the registry.
    pub repository: String,
}

/// Why a reference could not be parsed. Displays the input and what to change.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("invalid reference `{input}`: {reason}")]
pub struct ReferenceError {
    /// The text the user gave.
    pub input: String,
    /// What is wrong with it and how to write it instead.
    pub reason: String,
}

impl Reference {
    /// Parses `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`; without tag or digest the tag is `latest`.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let fail = |reason: String| ReferenceError {
            input: input.to_string(),
            reason,
        };
        if input.is_empty() {
            return Err(fail(
                "it is empty; write `[REGISTRY/]REPOSITORY[:TAG|@DIGEST]`, e.g. `ghcr.io/org/app:1.0`"
                    .into(),
            ));
        }
        if input.contains("://") {
            return Err(fail(
                "a reference has no scheme; drop the `http://` or `https://` prefix".into(),
            ));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest).map_err(&fail)?;
                (rest, Some(digest.to_string()))
            }
            None => (input, None),
        };
        // A tag is after the last `:` that comes after the last `/` (a `:` before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                validate_tag(tag).map_err(&fail)?;
                (&rest[..last_slash + i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        let Repository {
            registry,
            repository,
        } = Repository::parse_name(name).map_err(&fail)?;
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The same repository with another digest (and the tag kept for display).
    pub fn with_digest(&self, digest: &str) -> Self {
        Self {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// The registry.
    pub fn registry(&self) -> &RegistryName {
        &self.registry
    }

    /// The repository path, e.g. `library/hello` or `org/app`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, when the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, when the reference has one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The repository part alone.
    pub fn to_repository(&self) -> Repository {
        Repository {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
        }
    }

    /// The last segment of the repository, used as the default file name of a pull.
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// `REGISTRY/REPOSITORY@DIGEST`, the immutable form of this reference.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}/{}@{}", self.registry, self.repository, digest)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Repository {
    /// Parses `[REGISTRY/]REPOSITORY` (no tag, no digest).
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let fail = |reason: String| ReferenceError {
            input: input.to_string(),
            reason,
        };
        if input.contains('@') || input.rsplit('/').next().is_some_and(|s| s.contains(':')) {
            return Err(fail(
                "expected a repository without tag or digest, e.g. `ghcr.io/org/app`".into(),
            ));
        }
        Self::parse_name(input).map_err(fail)
    }

    fn parse_name(name: &str) -> Result<Self, String> {
        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if looks_like_registry(first) => (
                RegistryName::parse(first).map_err(|e| registry_problem(first, &e))?,
                rest.to_string(),
            ),
            _ => (RegistryName::docker_hub(), name.to_string()),
        };
        if path.is_empty() {
            return Err("the repository is missing; write `REGISTRY/REPOSITORY[:TAG]`".into());
        }
        let path = if registry.is_docker_hub() && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        validate_repository(&path)?;
        Ok(Self {
            registry,
            repository: path,
        })
    }
}

/// A registry as users type it where a command takes a registry (`wasm login`, `wasm logout`,
/// `wasm registry test`): any spelling credential stores use (`ghcr.io`, `https://ghcr.io/v2/`,
/// `https://index.docker.io/v1/`), `http://HOST` for plain HTTP, and, where a repository is
/// allowed, a path naming one (`ghcr.io/me/app`). The one parser of such arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryArgument {
    /// As given.
    pub input: String,
    /// The registry.
    pub name: RegistryName,
    /// The scheme written in front, if any.
    pub scheme: Option<Scheme>,
    /// The repository a path named, checked as a reference's repository.
    pub repository: Option<String>,
}

/// Why a registry argument is not one.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RegistryArgumentError {
    /// Nothing at all.
    #[error("the registry is empty; write it as HOST[:PORT], e.g. ghcr.io")]
    Empty,
    /// A scheme but no host.
    #[error("`{input}` names no registry host")]
    NoHost {
        /// As given.
        input: String,
    },
    /// Not a registry address.
    #[error(transparent)]
    Address(RegistryAddressError),
    /// A path where only a registry is allowed.
    #[error("`{input}` names a path on a registry; credentials are per registry: use `{registry}`")]
    Path {
        /// As given.
        input: String,
        /// The registry it starts with.
        registry: RegistryName,
    },
    /// A path that is not a valid repository.
    #[error("`{input}`: {problem}")]
    Repository {
        /// As given.
        input: String,
        /// What is wrong with it.
        problem: ReferenceError,
    },
}

impl RegistryArgument {
    /// Parses `input`; a path is a repository when `repository_allowed`, else an error.
    pub fn parse(input: &str, repository_allowed: bool) -> Result<Self, RegistryArgumentError> {
        if input.trim().is_empty() {
            return Err(RegistryArgumentError::Empty);
        }
        let address = RegistryAddress::parse(input).map_err(|e| match e {
            RegistryAddressError::Name {
                problem: RegistryNameError::Empty,
                ..
            } => RegistryArgumentError::NoHost {
                input: input.to_owned(),
            },
            other => RegistryArgumentError::Address(other),
        })?;
        let repository = match address.path {
            None => None,
            Some(_) if !repository_allowed => {
                return Err(RegistryArgumentError::Path {
                    input: input.to_owned(),
                    registry: address.name,
                });
            }
            Some(path) => {
                let reference =
                    Reference::parse(&format!("{}/{path}", address.name)).map_err(|problem| {
                        RegistryArgumentError::Repository {
                            input: input.to_owned(),
                            problem,
                        }
                    })?;
                Some(reference.repository)
            }
        };
        Ok(Self {
            input: input.to_owned(),
            name: address.name,
            scheme: address.scheme,
            repository,
        })
    }
}

/// What is wrong with the registry part of a reference, in a reference's terms.
fn registry_problem(registry: &str, problem: &RegistryNameError) -> String {
    match problem {
        RegistryNameError::EmptyPort { .. } | RegistryNameError::InvalidPort { .. } => format!(
            "`{registry}` has an invalid port; write `HOST:PORT` with a port from 1 to 65535"
        ),
        _ => format!("`{registry}` is not a valid registry host"),
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// Docker's rule: the first segment of a name is a registry when it has a `.` or a `:`, is
/// `localhost`, or is a bracketed IPv6 address; otherwise the name is on Docker Hub.
fn looks_like_registry(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[')
}

fn validate_repository(path: &str) -> Result<(), String> {
    if path.len() > 255 {
        return Err("the repository name is longer than 255 characters".into());
    }
    for component in path.split('/') {
        if component.is_empty() {
            return Err("the repository has an empty path segment (`//` or a trailing `/`)".into());
        }
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "repository names must be lowercase: write `{}`",
                path.to_ascii_lowercase()
            ));
        }
        if !component_is_valid(component) {
            return Err(format!(
                "`{component}` is not a valid repository segment: use lowercase letters, digits, \
                 and `.`, `_`, `__` or `-` between them"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn component_is_valid(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().copied().is_some_and(alnum) || !bytes.last().copied().is_some_and(alnum) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

pub(crate) fn validate_tag(tag: &str) -> Result<(), String> {
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{tag}` is not a valid tag: up to 128 letters, digits, `_`, `.` and `-`, not \
             starting with `.` or `-`"
        ))
    }
}

/// Checks `ALGORITHM:HEX` for the algorithms registries support.
pub(crate) fn validate_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!(
            "`{digest}` is not a digest: write `sha256:` followed by 64 hex digits"
        ));
    };
    let len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        other => {
            return Err(format!(
                "digest algorithm `{other}` is not supported: use `sha256` or `sha512`"
            ));
        }
    };
    if hex.len() != len || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!(
            "`{digest}` is not a valid {algorithm} digest: expected {len} lowercase hex digits"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parts(r: &Reference) -> (&str, &str, Option<&str>, Option<&str>) {
        (r.registry().as_str(), r.repository(), r.tag(), r.digest())
    }

    #[test]
    fn docker_hub_rules() {
        let r = Reference::parse("hello").unwrap();
        assert_eq!(
            parts(&r),
            ("docker.io", "library/hello", Some("latest"), None)
        );
        let r = Reference::parse("org/app:1.0").unwrap();
        assert_eq!(parts(&r), ("docker.io", "org/app", Some("1.0"), None));
        let r = Reference::parse("index.docker.io/hello").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/hello:latest");
        assert_eq!(r.registry().api_authority(), "index.docker.io");
        let r = Reference::parse("registry.hub.docker.com/org/app").unwrap();
        assert!(r.registry().is_docker_hub());
    }

    #[test]
    fn registries_ports_tags_digests() {
        let r = Reference::parse("localhost:5000/a/b/c:v1.2-rc.1").unwrap();
        assert_eq!(
            parts(&r),
            ("localhost:5000", "a/b/c", Some("v1.2-rc.1"), None)
        );
        let r = Reference::parse(&format!("GHCR.io/org/app@{D}")).unwrap();
        assert_eq!(parts(&r), ("ghcr.io", "org/app", None, Some(D)));
        let r = Reference::parse(&format!("127.0.0.1:5000/app:1@{D}")).unwrap();
        assert_eq!(parts(&r), ("127.0.0.1:5000", "app", Some("1"), Some(D)));
        assert_eq!(r.name(), "app");
        let r = Reference::parse("[::1]:5000/x/y").unwrap();
        assert_eq!(r.registry().as_str(), "[::1]:5000");
        assert!(r.registry().is_loopback());
    }

    #[test]
    fn display_round_trips() {
        for input in [
            "ghcr.io/org/app:1.0",
            "localhost:5000/x",
            "docker.io/library/hello:latest",
        ] {
            let r = Reference::parse(input).unwrap();
            assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
        }
    }

    #[test]
    fn bad_references_say_what_to_fix() {
        let cases = [
            (
                "",
                "invalid reference ``: it is empty; write `[REGISTRY/]REPOSITORY[:TAG|@DIGEST]`, e.g. `ghcr.io/org/app:1.0`",
            ),
            (
                "https://ghcr.io/a",
                "invalid reference `https://ghcr.io/a`: a reference has no scheme; drop the `http://` or `https://` prefix",
            ),
            (
                "ghcr.io/Org/App",
                "invalid reference `ghcr.io/Org/App`: repository names must be lowercase: write `org/app`",
            ),
            (
                "ghcr.io/a:b:c",
                "invalid reference `ghcr.io/a:b:c`: `a:b` is not a valid repository segment: use lowercase letters, digits, and `.`, `_`, `__` or `-` between them",
            ),
            (
                "ghcr.io/a:-x",
                "invalid reference `ghcr.io/a:-x`: `-x` is not a valid tag: up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
            ),
            (
                "ghcr.io/a@md5:00",
                "invalid reference `ghcr.io/a@md5:00`: digest algorithm `md5` is not supported: use `sha256` or `sha512`",
            ),
            (
                "ghcr.io/a@sha256:00",
                "invalid reference `ghcr.io/a@sha256:00`: `sha256:00` is not a valid sha256 digest: expected 64 lowercase hex digits",
            ),
            (
                "ghcr.io/",
                "invalid reference `ghcr.io/`: the repository is missing; write `REGISTRY/REPOSITORY[:TAG]`",
            ),
            (
                "ghcr.io/a//b",
                "invalid reference `ghcr.io/a//b`: the repository has an empty path segment (`//` or a trailing `/`)",
            ),
            (
                "localhost:0/a",
                "invalid reference `localhost:0/a`: `localhost:0` has an invalid port; write `HOST:PORT` with a port from 1 to 65535",
            ),
            (
                "ghcr.io/a_-b",
                "invalid reference `ghcr.io/a_-b`: `a_-b` is not a valid repository segment: use lowercase letters, digits, and `.`, `_`, `__` or `-` between them",
            ),
        ];
        for (input, message) in cases {
            assert_eq!(
                Reference::parse(input).unwrap_err().to_string(),
                message,
                "{input}"
            );
        }
    }

    #[test]
    fn segments() {
        for ok in ["a", "a.b", "a_b", "a__b", "a---b", "0"] {
            assert!(component_is_valid(ok), "{ok}");
        }
        for bad in ["-a", "a-", "a..b", "a___b", "a._b", ""] {
            assert!(!component_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn repository_only() {
        let r = Repository::parse("localhost:5000/demo/hello").unwrap();
        assert_eq!(r.to_string(), "localhost:5000/demo/hello");
        assert!(Repository::parse("localhost:5000/demo/hello:1").is_err());
    }

    /// Every spelling at every entry point: what each makes of it (`-` for a refusal). Config
    /// keys and references take a bare `HOST[:PORT]`; the commands that take a registry and the
    /// keys of Docker's and Podman's files also take a scheme and `/v1/`, `/v2/`.
    #[test]
    fn every_spelling_at_every_entry_point() {
        // (spelling, config key, reference, login/logout, registry test, Docker/Podman key)
        let cases = [
            (
                "ghcr.io", "ghcr.io", "ghcr.io", "ghcr.io", "ghcr.io", "ghcr.io",
            ),
            (
                "GHCR.io", "ghcr.io", "ghcr.io", "ghcr.io", "ghcr.io", "ghcr.io",
            ),
            (
                "docker.io",
                "docker.io",
                "docker.io",
                "docker.io",
                "docker.io",
                "docker.io",
            ),
            (
                "index.docker.io",
                "docker.io",
                "docker.io",
                "docker.io",
                "docker.io",
                "docker.io",
            ),
            (
                "registry-1.docker.io",
                "docker.io",
                "docker.io",
                "docker.io",
                "docker.io",
                "docker.io",
            ),
            (
                "registry.hub.docker.com",
                "docker.io",
                "docker.io",
                "docker.io",
                "docker.io",
                "docker.io",
            ),
            (
                "docker.io:5000",
                "docker.io:5000",
                "docker.io:5000",
                "docker.io:5000",
                "docker.io:5000",
                "docker.io:5000",
            ),
            (
                "localhost:5000",
                "localhost:5000",
                "localhost:5000",
                "localhost:5000",
                "localhost:5000",
                "localhost:5000",
            ),
            (
                "127.0.0.1:5000",
                "127.0.0.1:5000",
                "127.0.0.1:5000",
                "127.0.0.1:5000",
                "127.0.0.1:5000",
                "127.0.0.1:5000",
            ),
            (
                "[::1]:5000",
                "[::1]:5000",
                "[::1]:5000",
                "[::1]:5000",
                "[::1]:5000",
                "[::1]:5000",
            ),
            ("https://ghcr.io", "-", "-", "ghcr.io", "ghcr.io", "ghcr.io"),
            (
                "https://ghcr.io/v2/",
                "-",
                "-",
                "ghcr.io",
                "ghcr.io",
                "ghcr.io",
            ),
            (
                "http://localhost:5000",
                "-",
                "-",
                "localhost:5000",
                "localhost:5000",
                "localhost:5000",
            ),
            (
                "https://index.docker.io/v1/",
                "-",
                "-",
                "docker.io",
                "docker.io",
                "docker.io",
            ),
            ("my_host:5000", "-", "-", "-", "-", "-"),
            ("localhost:0", "-", "-", "-", "-", "-"),
            ("", "-", "-", "-", "-", "-"),
        ];
        for (spelling, config, reference, login, test, key) in cases {
            let shown = |r: Result<String, String>| r.unwrap_or_else(|_| "-".to_owned());
            let from_config = wasm_config::Config::parse(
                &format!("[registries.\"{spelling}\"]\n"),
                std::path::Path::new("c.toml"),
            )
            .map(|c| c.registries.keys().next().unwrap().to_string())
            .map_err(|e| e.to_string());
            assert_eq!(shown(from_config), config, "config key {spelling:?}");
            let from_reference = Reference::parse(&format!("{spelling}/org/app:1"))
                .map(|r| r.registry().to_string())
                .map_err(|e| e.to_string());
            assert_eq!(shown(from_reference), reference, "reference {spelling:?}");
            let from_login = RegistryArgument::parse(spelling, false)
                .map(|a| a.name.to_string())
                .map_err(|e| e.to_string());
            assert_eq!(shown(from_login), login, "login {spelling:?}");
            let from_test = crate::diagnose::Target::parse(spelling)
                .map(|t| t.registry.to_string())
                .map_err(|e| e.to_string());
            assert_eq!(shown(from_test), test, "registry test {spelling:?}");
            let from_key = crate::credentials::key_address(spelling)
                .map(|a| a.name.to_string())
                .ok_or_else(String::new);
            assert_eq!(shown(from_key), key, "auth file key {spelling:?}");
        }
        // The scheme a command's argument asks for is kept.
        let plain = RegistryArgument::parse("http://localhost:5000", false).unwrap();
        assert_eq!(plain.scheme, Some(Scheme::Http));
        // A repository only where one is allowed.
        assert!(RegistryArgument::parse("ghcr.io/me/app", false).is_err());
        assert_eq!(
            RegistryArgument::parse("ghcr.io/me/app", true)
                .unwrap()
                .repository
                .as_deref(),
            Some("me/app")
        );
    }
}
