//! The connection plan: for one registry, which scheme, which trust roots, and whether
//! credentials may be sent — decided once, by one pure function, for every command.
//!
//! `push`, `pull`, `inspect`, `tags`, the package manager, `login` and `registry test` all act on
//! a [`ConnectionPlan`] and never decide these things again, so `registry test` diagnoses exactly
//! what `pull` will do. The decision, in order:
//! - **scheme**: `--plain-http` → plain HTTP; else the registry's `protocol` in the config; else
//!   an `http://` written in a registry address (`wasm login http://HOST`, `wasm registry test
//!   http://HOST`; `https://` asks for nothing: it is how credential stores spell every
//!   registry); else a registry on this machine (`localhost`, `127.0.0.0/8`,
//!   `[::1]`) is tried with TLS first and falls back to plain HTTP when the server does not speak
//!   TLS (as Docker treats insecure registries); else HTTPS;
//! - **trust**: the platform's roots, plus the registry's `ca-file` and `SSL_CERT_FILE`;
//!   `--insecure` or `insecure = true` skip verification;
//! - **credentials**: sent over HTTPS, to a registry on this machine, or over plain HTTP when the
//!   registry's config says `protocol = "http"` (the user accepted that risk); otherwise withheld.
//!   Any other URL (a token realm, an upload location or a redirect on another host) receives
//!   secrets only over HTTPS or on this machine ([`url_may_receive_secrets`]).
//!
//! What must stay true: this module does no I/O (the caller reads the environment and the
//! files the plan names); every decision about a URL is made on a parsed [`url::Url`], the value
//! the request is then sent to.

use std::path::PathBuf;

use url::Url;
use wasm_config::{RegistryConfig, RegistryName, Scheme};

/// What the command line says about every registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--plain-http`.
    pub plain_http: bool,
    /// `--insecure`.
    pub insecure: bool,
}

/// Why a scheme was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemeReason {
    /// `--plain-http`.
    PlainHttpFlag,
    /// `protocol` in the config file.
    Configured(Scheme),
    /// Written in the registry address (`http://HOST`).
    Address {
        /// The scheme written.
        scheme: Scheme,
        /// The registry is on this machine.
        loopback: bool,
    },
    /// A registry on this machine: TLS first, then plain HTTP.
    Loopback,
    /// The default for registries elsewhere.
    Default,
}

impl std::fmt::Display for SchemeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemeReason::PlainHttpFlag => f.write_str("--plain-http"),
            SchemeReason::Configured(scheme) => {
                write!(f, "`protocol = \"{scheme}\"` in the wasm config")
            }
            SchemeReason::Address {
                scheme: Scheme::Http,
                loopback: false,
            } => f.write_str(
                "the http:// in the address; push and pull need --plain-http or `protocol = \
                 \"http\"` for it",
            ),
            SchemeReason::Address { scheme, .. } => write!(f, "the {scheme}:// in the address"),
            SchemeReason::Loopback => {
                f.write_str("a registry on this machine is tried with TLS first, then plain HTTP")
            }
            SchemeReason::Default => f.write_str("the default for registries not on this machine"),
        }
    }
}

/// The scheme to use, or how to find it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemeChoice {
    /// This scheme, and no other.
    Fixed(Scheme),
    /// TLS first; plain HTTP when the server answers a TLS hello in plain HTTP.
    TlsThenPlain,
}

/// A certificate file to trust besides the platform's roots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraRoot {
    /// The PEM file.
    pub path: PathBuf,
    /// Where it was named: `ca-file` (with the config file) or `SSL_CERT_FILE`.
    pub origin: RootOrigin,
}

/// Where an [`ExtraRoot`] was named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootOrigin {
    /// `ca-file` of the registry, in this config file.
    CaFile(PathBuf),
    /// The `SSL_CERT_FILE` environment variable.
    SslCertFile,
}

impl std::fmt::Display for ExtraRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.origin {
            RootOrigin::CaFile(_) => write!(f, "ca-file {}", self.path.display()),
            RootOrigin::SslCertFile => write!(f, "SSL_CERT_FILE {}", self.path.display()),
        }
    }
}

/// What is trusted for TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Trust {
    /// PEM files trusted besides the platform's roots, in order.
    pub extra_roots: Vec<PathBuf>,
    /// Certificates are not verified at all.
    pub insecure: bool,
}

/// How to reach one registry; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionPlan {
    /// The registry.
    pub registry: RegistryName,
    /// The scheme, or how to learn it.
    pub scheme: SchemeChoice,
    /// Why.
    pub scheme_reason: SchemeReason,
    /// Extra roots, with where each was named.
    pub extra_roots: Vec<ExtraRoot>,
    /// Why certificates are not verified (`--insecure`, `insecure = true`), if they are not.
    pub insecure: Option<String>,
    /// `protocol = "http"` in the config: the user accepts credentials over plain HTTP.
    configured_http: bool,
}

impl ConnectionPlan {
    /// Decides the plan for `registry` (see the module docs for the order).
    ///
    /// `settings` is the registry's table in the config, `address_scheme` a scheme written in
    /// the registry address the user typed (commands that take a registry, not a reference),
    /// `ssl_cert_file` the value of `SSL_CERT_FILE` when set and not empty.
    pub fn decide(
        registry: &RegistryName,
        settings: Option<&RegistryConfig>,
        flags: Flags,
        address_scheme: Option<Scheme>,
        ssl_cert_file: Option<PathBuf>,
    ) -> Self {
        let configured = settings.and_then(|s| s.protocol);
        let loopback = registry.is_loopback();
        let address_scheme = address_scheme.filter(|s| *s == Scheme::Http);
        let (scheme, scheme_reason) = match (flags.plain_http, configured, address_scheme) {
            (true, _, _) => (
                SchemeChoice::Fixed(Scheme::Http),
                SchemeReason::PlainHttpFlag,
            ),
            (false, Some(s), _) => (SchemeChoice::Fixed(s), SchemeReason::Configured(s)),
            (false, None, Some(s)) => (
                SchemeChoice::Fixed(s),
                SchemeReason::Address {
                    scheme: s,
                    loopback,
                },
            ),
            (false, None, None) if loopback => (SchemeChoice::TlsThenPlain, SchemeReason::Loopback),
            (false, None, None) => (SchemeChoice::Fixed(Scheme::Https), SchemeReason::Default),
        };
        let mut extra_roots = Vec::new();
        if let Some(settings) = settings
            && let Some(ca) = &settings.ca_file
        {
            extra_roots.push(ExtraRoot {
                path: ca.clone(),
                origin: RootOrigin::CaFile(settings.defined_in.clone()),
            });
        }
        if let Some(path) = ssl_cert_file {
            extra_roots.push(ExtraRoot {
                path,
                origin: RootOrigin::SslCertFile,
            });
        }
        let insecure = if flags.insecure {
            Some("--insecure".to_owned())
        } else if settings.is_some_and(|s| s.insecure) {
            Some(format!(
                "`insecure = true` in {}",
                settings
                    .map(|s| s.defined_in.display().to_string())
                    .unwrap_or_default()
            ))
        } else {
            None
        };
        Self {
            registry: registry.clone(),
            scheme,
            scheme_reason,
            extra_roots,
            insecure,
            configured_http: configured == Some(Scheme::Http),
        }
    }

    /// What TLS trusts on this plan's connections.
    pub fn trust(&self) -> Trust {
        Trust {
            extra_roots: self.extra_roots.iter().map(|r| r.path.clone()).collect(),
            insecure: self.insecure.is_some(),
        }
    }

    /// Whether the registry's credentials may be sent to its API over `scheme`: always over
    /// HTTPS; over plain HTTP only to a registry on this machine or one whose config says
    /// `protocol = "http"`.
    pub fn may_send_credentials(&self, scheme: Scheme) -> bool {
        scheme == Scheme::Https || self.registry.is_loopback() || self.configured_http
    }

    /// `SCHEME://HOST[:PORT]/`, the root of the registry's API over `scheme`.
    pub fn base_url(&self, scheme: Scheme) -> Url {
        // A `RegistryName` is a valid authority, so this always parses.
        Url::parse(&format!("{scheme}://{}/", self.registry.api_authority())).unwrap_or_else(|e| {
            unreachable!("registry name {} is not a URL host: {e}", self.registry)
        })
    }

    /// Whether `url` is the registry's own API origin over `scheme` (same scheme, host and
    /// port): requests there carry the registry's credentials (when
    /// [`ConnectionPlan::may_send_credentials`]); requests anywhere else never do.
    pub fn is_registry_origin(&self, url: &Url, scheme: Scheme) -> bool {
        url.origin() == self.base_url(scheme).origin()
    }
}

/// Whether `url` may receive secrets: `https`, or `http` to a loopback host (`localhost`,
/// `127.0.0.0/8`, `::1`), judged on the host the URL parser finds — the host the request goes
/// to, whatever userinfo, backslashes, percent-encoding or IDNA the text held.
pub fn url_may_receive_secrets(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn name(s: &str) -> RegistryName {
        RegistryName::parse(s).unwrap()
    }

    fn settings(protocol: Option<Scheme>, insecure: bool, ca: Option<&str>) -> RegistryConfig {
        RegistryConfig {
            credential_helper: None,
            protocol,
            insecure,
            ca_file: ca.map(PathBuf::from),
            defined_in: PathBuf::from("/home/u/.config/wasm/config.toml"),
        }
    }

    /// Every way the scheme is decided: (registry, config protocol, --plain-http, address
    /// scheme) -> (choice, reason, credentials over the plain-HTTP branch).
    #[test]
    fn the_scheme_and_when_credentials_may_travel() {
        use SchemeChoice::{Fixed, TlsThenPlain};
        let http = Some(Scheme::Http);
        let https = Some(Scheme::Https);
        type Case<'a> = (
            &'a str,
            Option<Scheme>,
            bool,
            Option<Scheme>,
            SchemeChoice,
            &'a str,
            bool,
        );
        let cases: &[Case<'_>] = &[
            (
                "ghcr.io",
                None,
                false,
                None,
                Fixed(Scheme::Https),
                "the default for registries not on this machine",
                false,
            ),
            (
                "ghcr.io",
                None,
                true,
                None,
                Fixed(Scheme::Http),
                "--plain-http",
                false,
            ),
            (
                "ghcr.io",
                http,
                false,
                None,
                Fixed(Scheme::Http),
                "`protocol = \"http\"` in the wasm config",
                true,
            ),
            (
                "ghcr.io",
                https,
                true,
                None,
                Fixed(Scheme::Http),
                "--plain-http",
                false,
            ),
            (
                "ghcr.io",
                None,
                false,
                http,
                Fixed(Scheme::Http),
                "the http:// in the address; push and pull need --plain-http or `protocol = \"http\"` for it",
                false,
            ),
            (
                "ghcr.io",
                https,
                false,
                http,
                Fixed(Scheme::Https),
                "`protocol = \"https\"` in the wasm config",
                false,
            ),
            (
                "localhost:5000",
                None,
                false,
                None,
                TlsThenPlain,
                "a registry on this machine is tried with TLS first, then plain HTTP",
                true,
            ),
            (
                "127.0.0.1:5000",
                None,
                false,
                http,
                Fixed(Scheme::Http),
                "the http:// in the address",
                true,
            ),
            (
                "[::1]:5000",
                None,
                false,
                https,
                TlsThenPlain,
                "a registry on this machine is tried with TLS first, then plain HTTP",
                true,
            ),
            (
                "ghcr.io",
                None,
                false,
                https,
                Fixed(Scheme::Https),
                "the default for registries not on this machine",
                false,
            ),
            (
                "[::1]:5000",
                https,
                true,
                None,
                Fixed(Scheme::Http),
                "--plain-http",
                true,
            ),
        ];
        for (registry, protocol, plain_http, address, choice, reason, plain_credentials) in cases {
            let config = settings(*protocol, false, None);
            let plan = ConnectionPlan::decide(
                &name(registry),
                protocol.map(|_| &config),
                Flags {
                    plain_http: *plain_http,
                    insecure: false,
                },
                *address,
                None,
            );
            let case = format!("{registry} {protocol:?} {plain_http} {address:?}");
            assert_eq!(plan.scheme, *choice, "{case}");
            assert_eq!(plan.scheme_reason.to_string(), *reason, "{case}");
            assert!(plan.may_send_credentials(Scheme::Https), "{case}");
            assert_eq!(
                plan.may_send_credentials(Scheme::Http),
                *plain_credentials,
                "{case}"
            );
        }
    }

    #[test]
    fn trust_roots_and_insecure() {
        let config = settings(None, true, Some("/etc/ca.pem"));
        let plan = ConnectionPlan::decide(
            &name("r.example"),
            Some(&config),
            Flags::default(),
            None,
            Some(PathBuf::from("/env/ca.pem")),
        );
        assert_eq!(
            plan.trust(),
            Trust {
                extra_roots: vec![PathBuf::from("/etc/ca.pem"), PathBuf::from("/env/ca.pem")],
                insecure: true,
            }
        );
        let shown: Vec<String> = plan.extra_roots.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["ca-file /etc/ca.pem", "SSL_CERT_FILE /env/ca.pem"]);
        assert_eq!(
            plan.insecure.as_deref(),
            Some("`insecure = true` in /home/u/.config/wasm/config.toml")
        );
        let plan = ConnectionPlan::decide(
            &name("r.example"),
            None,
            Flags {
                plain_http: false,
                insecure: true,
            },
            None,
            None,
        );
        assert_eq!(plan.insecure.as_deref(), Some("--insecure"));
        assert_eq!(plan.trust().extra_roots, Vec::<PathBuf>::new());
        assert!(Path::new("/").is_absolute());
    }

    #[test]
    fn base_urls_and_origins() {
        let hub = ConnectionPlan::decide(&name("docker.io"), None, Flags::default(), None, None);
        assert_eq!(
            hub.base_url(Scheme::Https).as_str(),
            "https://index.docker.io/"
        );
        let local = ConnectionPlan::decide(&name("[::1]:5000"), None, Flags::default(), None, None);
        assert_eq!(local.base_url(Scheme::Http).as_str(), "http://[::1]:5000/");
        let reg =
            ConnectionPlan::decide(&name("r.example:5000"), None, Flags::default(), None, None);
        let same = Url::parse("https://R.EXAMPLE:5000/v2/x/blobs/uploads/abc?_state=1").unwrap();
        let other_port = Url::parse("https://r.example/v2/").unwrap();
        let other_host = Url::parse("https://storage.example:5000/x").unwrap();
        let plain = Url::parse("http://r.example:5000/v2/").unwrap();
        assert!(reg.is_registry_origin(&same, Scheme::Https));
        assert!(!reg.is_registry_origin(&other_port, Scheme::Https));
        assert!(!reg.is_registry_origin(&other_host, Scheme::Https));
        assert!(!reg.is_registry_origin(&plain, Scheme::Https));
    }
}
