//! The distribution configuration (`config.yml`) a [`crate::Launcher`] writes at every start.
//!
//! Three set-ups, as the tests need them: anonymous, Basic auth from an htpasswd file, and token
//! auth; any of them over TLS. Every path goes in as a quoted YAML string, whatever it holds.
//! docs/testing.md lists the keys and why each is there.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::RegistryError;

/// How the registry authenticates clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// Anonymous: everyone may pull and push.
    #[default]
    None,
    /// Basic auth against an htpasswd file. Distribution accepts only bcrypt entries.
    Htpasswd {
        /// The realm of the `WWW-Authenticate: Basic realm="..."` challenge.
        realm: String,
        /// The htpasswd file.
        path: PathBuf,
    },
    /// Token auth: clients get a JWT from `realm` and send it as a Bearer token.
    Token {
        /// The token server's URL, as the challenge names it.
        realm: String,
        /// The `service` of the challenge, and the `aud` the tokens must carry.
        service: String,
        /// The `iss` the tokens must carry.
        issuer: String,
        /// A PEM file with the certificate whose key signs the tokens.
        root_cert_bundle: PathBuf,
    },
}

/// The server certificate and key: the registry then speaks HTTPS only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The certificate chain (PEM).
    pub certificate: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// The configuration for a registry on `addr` storing into `storage`; `secret` signs upload
/// state.
///
/// # Errors
///
/// When a path is not valid UTF-8.
pub(crate) fn render(
    addr: SocketAddr,
    storage: &Path,
    secret: &str,
    auth: &Auth,
    tls: Option<&Tls>,
) -> Result<String, RegistryError> {
    let mut yaml = format!(
        "# Written by wasm-testkit at every start (docs/testing.md).\n\
         version: 0.1\n\
         log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: {addr}\n  secret: {}\n",
        path(storage)?,
        quote(secret),
    );
    if let Some(tls) = tls {
        let _ = write!(
            yaml,
            "  tls:\n    certificate: {}\n    key: {}\n",
            path(&tls.certificate)?,
            path(&tls.key)?
        );
    }
    match auth {
        Auth::None => {}
        Auth::Htpasswd { realm, path: file } => {
            let _ = write!(
                yaml,
                "auth:\n  htpasswd:\n    realm: {}\n    path: {}\n",
                quote(realm),
                path(file)?
            );
        }
        Auth::Token {
            realm,
            service,
            issuer,
            root_cert_bundle,
        } => {
            let _ = write!(
                yaml,
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                 rootcertbundle: {}\n",
                quote(realm),
                quote(service),
                quote(issuer),
                path(root_cert_bundle)?
            );
        }
    }
    Ok(yaml)
}

/// `path` as a quoted YAML string.
fn path(path: &Path) -> Result<String, RegistryError> {
    let text = path.to_str().ok_or_else(|| RegistryError::NonUtf8Path {
        path: path.to_path_buf(),
    })?;
    Ok(quote(text))
}

/// `text` as a YAML double-quoted scalar, whatever characters it holds.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 5000);

    /// The part every set-up shares: docs/testing.md says why each key is there.
    const COMMON: &str = "# Written by wasm-testkit at every start (docs/testing.md).\n\
         version: 0.1\n\
         log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
         storage:\n  filesystem:\n    rootdirectory: \"/tmp/r/storage\"\n\
         \x20 delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:5000\n  secret: \"s3cret\"\n";

    fn render_with(auth: &Auth, tls: Option<&Tls>) -> String {
        render(ADDR, Path::new("/tmp/r/storage"), "s3cret", auth, tls).unwrap()
    }

    #[test]
    fn anonymous_plain_http() {
        assert_eq!(render_with(&Auth::None, None), COMMON);
    }

    #[test]
    fn htpasswd_over_tls() {
        let auth = Auth::Htpasswd {
            realm: "wasm-e2e".into(),
            path: "/tmp/r/htpasswd".into(),
        };
        let tls = Tls {
            certificate: "/tmp/r/cert.pem".into(),
            key: "/tmp/r/key.pem".into(),
        };
        assert_eq!(
            render_with(&auth, Some(&tls)),
            format!(
                "{COMMON}  tls:\n    certificate: \"/tmp/r/cert.pem\"\n    key: \"/tmp/r/key.pem\"\n\
                 auth:\n  htpasswd:\n    realm: \"wasm-e2e\"\n    path: \"/tmp/r/htpasswd\"\n"
            )
        );
    }

    #[test]
    fn token_auth() {
        let auth = Auth::Token {
            realm: "http://127.0.0.1:5001/token".into(),
            service: "svc".into(),
            issuer: "iss".into(),
            root_cert_bundle: "/tmp/r/signing.pem".into(),
        };
        assert_eq!(
            render_with(&auth, None),
            format!(
                "{COMMON}auth:\n  token:\n    realm: \"http://127.0.0.1:5001/token\"\n    \
                 service: \"svc\"\n    issuer: \"iss\"\n    rootcertbundle: \"/tmp/r/signing.pem\"\n"
            )
        );
    }

    #[test]
    fn yaml_strings_escape_what_yaml_would_read_otherwise() {
        assert_eq!(quote(r#"/a "b"\c: #d"#), r#""/a \"b\"\\c: #d""#);
        assert_eq!(quote("tab\there"), r#""tab\u0009here""#);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_paths_are_an_error() {
        use std::os::unix::ffi::OsStrExt as _;
        let storage = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff"));
        let err = render(ADDR, storage, "s", &Auth::None, None).unwrap_err();
        assert!(matches!(err, RegistryError::NonUtf8Path { .. }), "{err}");
    }
}
