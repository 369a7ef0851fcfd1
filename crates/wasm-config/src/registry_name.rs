//! Which registry: one type for a registry's name, whatever the user typed it into (a config
//! key, a reference, `wasm login`, `wasm registry test`, a Docker or Podman key), and one parser
//! for the addresses users type.
//!
//! - [`RegistryName`] is a checked, canonical `HOST[:PORT]`: lower-case host, the port only when
//!   one was written, every Docker Hub alias folded into `docker.io`. Two names are the same
//!   registry exactly when they are equal. It knows its API host, whether it is on this machine,
//!   and the spellings credential stores keep it under.
//! - [`RegistryAddress`] is what users type where a registry is asked for: an optional
//!   `http://` or `https://`, the name, and an optional path (`/v1/` and `/v2/` are API markers
//!   and dropped; any other path names a repository or a namespace).
//!
//! What must stay true: every crate compares registries as [`RegistryName`]s and nothing else
//! lower-cases, splits or alias-folds registry text; the alias table ([`DOCKER_HUB_ALIASES`])
//! exists once, here. The grammar of a host is the one of Docker's reference package (letters,
//! digits, `-` and `.`; or a bracketed IPv6 address) so that every name a config accepts can
//! also be written in a reference.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// The canonical name of Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";

/// Every name Docker Hub is known by; all of them are the registry [`DOCKER_HUB`].
pub const DOCKER_HUB_ALIASES: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// The key `docker login` writes Docker Hub's credentials under in `config.json`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The host that serves Docker Hub's registry API.
const DOCKER_HUB_API_HOST: &str = "index.docker.io";

/// A registry: a checked, canonical `HOST[:PORT]` (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistryName {
    canonical: String,
}

/// Why text is not a registry name. Each context that reads names (config keys, references,
/// command arguments) words these in its own terms.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RegistryNameError {
    /// No host: empty, or starting with `:` or `/`.
    #[error("the host is empty")]
    Empty,
    /// A `SCHEME://` in front, where only a name is allowed.
    #[error("a registry name has no scheme `{scheme}://`; write `{suggested}`")]
    Scheme {
        /// The scheme as written.
        scheme: String,
        /// The name without scheme and path.
        suggested: String,
    },
    /// A `/PATH` after the host, where only a name is allowed.
    #[error("a registry name has no path; write `{suggested}`")]
    Path {
        /// The name without the path.
        suggested: String,
    },
    /// A character that no host has.
    #[error("{character:?} cannot appear in a registry host")]
    Character {
        /// The first offending character.
        character: char,
    },
    /// A `:` with nothing after it.
    #[error("the port after `:` is empty")]
    EmptyPort {
        /// The name without the trailing `:`, lower-cased.
        host: String,
    },
    /// A port that is not a number from 1 to 65535.
    #[error("the port `{port}` is not a number from 1 to 65535")]
    InvalidPort {
        /// The port as written.
        port: String,
    },
}

impl RegistryName {
    /// Parses `HOST` or `HOST:PORT` (the host may be a bracketed IPv6 address), as written in a
    /// config key or at the start of a reference. No scheme, no path.
    pub fn parse(text: &str) -> Result<Self, RegistryNameError> {
        if let Some((scheme, rest)) = text.split_once("://") {
            let host = rest.split('/').next().unwrap_or_default();
            return Err(if host.is_empty() {
                RegistryNameError::Empty
            } else {
                RegistryNameError::Scheme {
                    scheme: scheme.to_owned(),
                    suggested: host.to_ascii_lowercase(),
                }
            });
        }
        if let Some((host, _path)) = text.split_once('/') {
            return Err(if host.is_empty() {
                RegistryNameError::Empty
            } else {
                RegistryNameError::Path {
                    suggested: host.to_ascii_lowercase(),
                }
            });
        }
        let ipv6 = text.starts_with('[');
        let (host, port) = match text.strip_prefix('[') {
            Some(rest) => {
                let (address, after) = rest
                    .split_once(']')
                    .ok_or(RegistryNameError::Character { character: '[' })?;
                let port = match after.strip_prefix(':') {
                    Some(port) => Some(port),
                    None => match after.chars().next() {
                        Some(character) => return Err(RegistryNameError::Character { character }),
                        None => None,
                    },
                };
                (address, port)
            }
            None => match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            },
        };
        if host.is_empty() {
            return Err(RegistryNameError::Empty);
        }
        let bad = host.chars().find(|&c| {
            let allowed = if ipv6 {
                c.is_ascii_hexdigit() || c == ':' || c == '.'
            } else {
                c.is_ascii_alphanumeric() || c == '-' || c == '.'
            };
            !allowed
        });
        if let Some(character) = bad {
            return Err(RegistryNameError::Character { character });
        }
        if ipv6 && host.parse::<Ipv6Addr>().is_err() {
            return Err(RegistryNameError::Character { character: '[' });
        }
        match port {
            None => {}
            Some("") => {
                return Err(RegistryNameError::EmptyPort {
                    host: text[..text.len() - 1].to_ascii_lowercase(),
                });
            }
            Some(port) => {
                let valid = port.bytes().all(|b| b.is_ascii_digit())
                    && port.parse::<u16>().is_ok_and(|p| p != 0);
                if !valid {
                    return Err(RegistryNameError::InvalidPort {
                        port: port.to_owned(),
                    });
                }
            }
        }
        let lower = text.to_ascii_lowercase();
        let canonical = if DOCKER_HUB_ALIASES.contains(&lower.as_str()) {
            DOCKER_HUB.to_owned()
        } else {
            lower
        };
        Ok(Self { canonical })
    }

    /// Docker Hub.
    pub fn docker_hub() -> Self {
        Self {
            canonical: DOCKER_HUB.to_owned(),
        }
    }

    /// The canonical `HOST[:PORT]`.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The host without the port (`[::1]` keeps its brackets).
    pub fn host(&self) -> &str {
        let c = &self.canonical;
        if c.starts_with('[') {
            return c.find(']').map_or(c.as_str(), |i| &c[..=i]);
        }
        c.split(':').next().unwrap_or(c)
    }

    /// The port, when the name has one.
    pub fn port(&self) -> Option<u16> {
        self.canonical[self.host().len()..]
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
    }

    /// Whether this is Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.canonical == DOCKER_HUB
    }

    /// Whether the registry is on this machine: `localhost`, `127.0.0.0/8` or `[::1]`.
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host == "localhost"
            || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
            || host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse::<Ipv6Addr>().ok())
                .is_some_and(|ip| ip.is_loopback())
    }

    /// `HOST[:PORT]` that serves the registry API (`index.docker.io` for Docker Hub).
    pub fn api_authority(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_API_HOST
        } else {
            &self.canonical
        }
    }

    /// The spellings of this registry's key found in Docker's and Podman's files, in the order
    /// they are tried.
    pub fn credential_keys(&self) -> Vec<String> {
        if self.is_docker_hub() {
            return vec![
                DOCKER_HUB_KEY.to_owned(),
                "docker.io".into(),
                "index.docker.io".into(),
                "registry-1.docker.io".into(),
                "https://index.docker.io/v2/".into(),
                "https://registry-1.docker.io".into(),
            ];
        }
        let r = &self.canonical;
        vec![
            r.clone(),
            format!("https://{r}"),
            format!("http://{r}"),
            format!("https://{r}/v1/"),
            format!("https://{r}/v2/"),
        ]
    }

    /// The server strings asked of a Docker credential helper's `get`, in order: what
    /// `docker login` stores, then the other common spelling.
    pub fn helper_servers(&self) -> Vec<String> {
        if self.is_docker_hub() {
            vec![DOCKER_HUB_KEY.to_owned(), DOCKER_HUB.to_owned()]
        } else {
            vec![
                self.canonical.clone(),
                format!("https://{}", self.canonical),
            ]
        }
    }

    /// The key `docker login` stores this registry under.
    pub fn login_key(&self) -> String {
        if self.is_docker_hub() {
            DOCKER_HUB_KEY.to_owned()
        } else {
            self.canonical.clone()
        }
    }
}

impl fmt::Display for RegistryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl std::str::FromStr for RegistryName {
    type Err = RegistryNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for RegistryName {
    fn as_ref(&self) -> &str {
        &self.canonical
    }
}

impl serde::Serialize for RegistryName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.canonical)
    }
}

/// Plain HTTP or HTTP over TLS: the one spelling of a scheme in `wasm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// HTTP over TLS (the default for every registry).
    Https,
    /// Plain HTTP, e.g. for a local test registry.
    Http,
}

impl Scheme {
    /// `https` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registry as users type it where one is asked for: `ghcr.io`, `https://ghcr.io`,
/// `https://ghcr.io/v2/`, `http://localhost:5000`, `https://index.docker.io/v1/`,
/// `quay.io/org` (a namespace, as Podman keys have), `ghcr.io/me/app` (a repository).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryAddress {
    /// The registry.
    pub name: RegistryName,
    /// The scheme written in front, if any.
    pub scheme: Option<Scheme>,
    /// The path after the name, without `/v1/` or `/v2/` and without surrounding `/`; `None`
    /// when there is none. Not checked here: it is a repository or a namespace, and the caller
    /// knows which.
    pub path: Option<String>,
}

/// Why text is not a registry address.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RegistryAddressError {
    /// A scheme other than `http` or `https`.
    #[error(
        "`{input}` starts with `{scheme}://`; write the registry as HOST[:PORT], https://HOST or http://HOST"
    )]
    Scheme {
        /// The text as given.
        input: String,
        /// The scheme.
        scheme: String,
    },
    /// The name part is not a registry name.
    #[error("`{input}`: {problem}")]
    Name {
        /// The text as given.
        input: String,
        /// What is wrong with the name.
        #[source]
        problem: RegistryNameError,
    },
}

impl RegistryAddress {
    /// Parses a registry address (see the type's docs). Surrounding white space is ignored.
    pub fn parse(input: &str) -> Result<Self, RegistryAddressError> {
        let trimmed = input.trim();
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((s, rest)) if s.eq_ignore_ascii_case("https") => (Some(Scheme::Https), rest),
            Some((s, rest)) if s.eq_ignore_ascii_case("http") => (Some(Scheme::Http), rest),
            Some((s, _)) => {
                return Err(RegistryAddressError::Scheme {
                    input: input.to_owned(),
                    scheme: s.to_owned(),
                });
            }
            None => (None, trimmed),
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let name = RegistryName::parse(host).map_err(|problem| RegistryAddressError::Name {
            input: input.to_owned(),
            problem,
        })?;
        let path = path.trim_matches('/');
        let path = match path {
            "" | "v1" | "v2" => "",
            p => p
                .strip_prefix("v1/")
                .or_else(|| p.strip_prefix("v2/"))
                .unwrap_or(p),
        };
        Ok(Self {
            name,
            scheme,
            path: (!path.is_empty()).then(|| path.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> String {
        RegistryName::parse(text).unwrap().to_string()
    }

    #[test]
    fn canonical_names() {
        assert_eq!(name("GHCR.io"), "ghcr.io");
        assert_eq!(name("LocalHost:5000"), "localhost:5000");
        assert_eq!(name("[::1]:5000"), "[::1]:5000");
        for alias in DOCKER_HUB_ALIASES.iter().chain(&["Docker.IO"]) {
            assert_eq!(name(alias), "docker.io", "{alias}");
        }
        // A port makes it another registry.
        assert_eq!(name("docker.io:5000"), "docker.io:5000");
    }

    #[test]
    fn parts() {
        let n = RegistryName::parse("[::1]:5000").unwrap();
        assert_eq!((n.host(), n.port()), ("[::1]", Some(5000)));
        assert!(n.is_loopback());
        let n = RegistryName::parse("localhost").unwrap();
        assert_eq!((n.host(), n.port()), ("localhost", None));
        assert!(n.is_loopback());
        for loopback in ["127.0.0.1:5000", "127.9.9.9", "localhost:1"] {
            assert!(RegistryName::parse(loopback).unwrap().is_loopback());
        }
        for remote in ["ghcr.io", "192.0.2.1:5000", "[::2]", "localhost.example"] {
            assert!(
                !RegistryName::parse(remote).unwrap().is_loopback(),
                "{remote}"
            );
        }
        assert_eq!(
            RegistryName::docker_hub().api_authority(),
            "index.docker.io"
        );
        assert_eq!(
            RegistryName::parse("ghcr.io").unwrap().api_authority(),
            "ghcr.io"
        );
    }

    #[test]
    fn bad_names() {
        use RegistryNameError as E;
        let cases: &[(&str, E)] = &[
            ("", E::Empty),
            (":5000", E::Empty),
            (
                "https://ghcr.io/x",
                E::Scheme {
                    scheme: "https".into(),
                    suggested: "ghcr.io".into(),
                },
            ),
            (
                "ghcr.io/org",
                E::Path {
                    suggested: "ghcr.io".into(),
                },
            ),
            ("my_host:5000", E::Character { character: '_' }),
            ("my host", E::Character { character: ' ' }),
            ("[::1", E::Character { character: '[' }),
            ("[::1]5000", E::Character { character: '5' }),
            ("[fe80::1%eth0]", E::Character { character: '%' }),
            ("[zz]", E::Character { character: 'z' }),
            ("[1::2::3]", E::Character { character: '[' }),
            (
                "localhost:",
                E::EmptyPort {
                    host: "localhost".into(),
                },
            ),
            ("h:0", E::InvalidPort { port: "0".into() }),
            (
                "h:65536",
                E::InvalidPort {
                    port: "65536".into(),
                },
            ),
            ("h:+80", E::InvalidPort { port: "+80".into() }),
            (
                "h:http",
                E::InvalidPort {
                    port: "http".into(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                &RegistryName::parse(text).unwrap_err(),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn credential_spellings() {
        let hub = RegistryName::docker_hub();
        assert_eq!(hub.login_key(), DOCKER_HUB_KEY);
        assert_eq!(hub.helper_servers(), [DOCKER_HUB_KEY, "docker.io"]);
        assert_eq!(hub.credential_keys()[0], DOCKER_HUB_KEY);
        let ghcr = RegistryName::parse("ghcr.io").unwrap();
        assert_eq!(ghcr.login_key(), "ghcr.io");
        assert_eq!(ghcr.helper_servers(), ["ghcr.io", "https://ghcr.io"]);
        assert_eq!(
            ghcr.credential_keys(),
            [
                "ghcr.io",
                "https://ghcr.io",
                "http://ghcr.io",
                "https://ghcr.io/v1/",
                "https://ghcr.io/v2/"
            ]
        );
    }

    #[test]
    fn addresses_in_every_spelling() {
        let cases: &[(&str, &str, Option<Scheme>, Option<&str>)] = &[
            ("ghcr.io", "ghcr.io", None, None),
            ("https://ghcr.io", "ghcr.io", Some(Scheme::Https), None),
            ("HTTPS://GHCR.IO/v2/", "ghcr.io", Some(Scheme::Https), None),
            ("https://ghcr.io/v1/", "ghcr.io", Some(Scheme::Https), None),
            (
                "http://localhost:5000",
                "localhost:5000",
                Some(Scheme::Http),
                None,
            ),
            (
                "https://index.docker.io/v1/",
                "docker.io",
                Some(Scheme::Https),
                None,
            ),
            ("quay.io/org/", "quay.io", None, Some("org")),
            ("ghcr.io/me/app", "ghcr.io", None, Some("me/app")),
            (
                "https://ghcr.io/v2/me/app",
                "ghcr.io",
                Some(Scheme::Https),
                Some("me/app"),
            ),
            ("  ghcr.io  ", "ghcr.io", None, None),
        ];
        for (input, name, scheme, path) in cases {
            let a = RegistryAddress::parse(input).unwrap();
            assert_eq!(a.name.as_str(), *name, "{input}");
            assert_eq!(a.scheme, *scheme, "{input}");
            assert_eq!(a.path.as_deref(), *path, "{input}");
        }
        assert_eq!(
            RegistryAddress::parse("ftp://x").unwrap_err().to_string(),
            "`ftp://x` starts with `ftp://`; write the registry as HOST[:PORT], https://HOST or \
             http://HOST"
        );
        assert!(matches!(
            RegistryAddress::parse("https:///v2/"),
            Err(RegistryAddressError::Name {
                problem: RegistryNameError::Empty,
                ..
            })
        ));
    }
}
