//! Which proxy a request to the registry goes through, decided as reqwest decides it, and the
//! `CONNECT` tunnel through it.
//!
//! reqwest (and so `push` and `pull`) takes its proxies from hyper-util's
//! [`Matcher`], which reads `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (upper case
//! first, then lower case; a variable that is set but empty still counts) and ignores them all
//! when `REQUEST_METHOD` is set. This module asks the same matcher, so the proxy it reports is the
//! one used. Loopback hosts are not exempt: only `NO_PROXY` exempts a host.
//!
//! What must stay true: proxy credentials (`http://user:password@proxy`) never appear in a
//! finding; they are only sent, in `Proxy-Authorization`, to the proxy.

use std::time::Duration;

use http::HeaderValue;
use hyper_util::client::proxy::matcher::Matcher;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::ProxyFindings;

/// The proxy variables of the environment.
#[derive(Clone, Debug, Default)]
pub struct ProxyEnv {
    all: Option<(String, String)>,
    http: Option<(String, String)>,
    https: Option<(String, String)>,
    no: Option<(String, String)>,
    cgi: bool,
}

/// The proxy a connection goes through.
pub(crate) struct ProxyTarget {
    /// `http`, `https`, `socks5`, ...
    pub(crate) scheme: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `Proxy-Authorization` for HTTP proxies with credentials.
    pub(crate) auth: Option<HeaderValue>,
}

impl ProxyEnv {
    /// Reads the variables of this process.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `get` (for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let first = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| get(n).map(|v| (n.to_string(), v)))
        };
        Self {
            all: first(["ALL_PROXY", "all_proxy"]),
            http: first(["HTTP_PROXY", "http_proxy"]),
            https: first(["HTTPS_PROXY", "https_proxy"]),
            no: first(["NO_PROXY", "no_proxy"]),
            cgi: get("REQUEST_METHOD").is_some(),
        }
    }

    fn matcher(&self, with_no_proxy: bool) -> Matcher {
        let value = |v: &Option<(String, String)>| v.as_ref().map(|(_, v)| v.clone());
        let mut builder = Matcher::builder()
            .all(value(&self.all).unwrap_or_default())
            .http(value(&self.http).unwrap_or_default())
            .https(value(&self.https).unwrap_or_default());
        if with_no_proxy {
            builder = builder.no(value(&self.no).unwrap_or_default());
        }
        builder.build()
    }

    /// The proxy for `scheme://host:port` (`host` as in a URL: IPv6 in brackets), and what to
    /// report about it.
    pub(crate) fn decide(
        &self,
        scheme: &str,
        host: &str,
        port: u16,
    ) -> (ProxyFindings, Option<ProxyTarget>) {
        let (specific, names) = if scheme == "https" {
            (
                &self.https,
                "HTTPS_PROXY, https_proxy, ALL_PROXY, all_proxy",
            )
        } else {
            (&self.http, "HTTP_PROXY, http_proxy, ALL_PROXY, all_proxy")
        };
        let mut findings = ProxyFindings {
            no_proxy: self.no.as_ref().map(|(k, v)| format!("{k}={v}")),
            consulted: names.split(", ").map(str::to_string).collect(),
            cgi: self.cgi,
            ..ProxyFindings::default()
        };
        if self.cgi {
            return (findings, None);
        }
        let Ok(uri) = format!("{scheme}://{host}:{port}/").parse::<http::Uri>() else {
            return (findings, None);
        };
        // The variable in effect: the scheme's own when hyper-util accepts its value, else
        // ALL_PROXY (hyper-util's `parse(specific).or(all)`).
        let own_works = specific.as_ref().is_some_and(|(_, v)| {
            let b = Matcher::builder();
            let m = if scheme == "https" {
                b.https(v.as_str())
            } else {
                b.http(v.as_str())
            }
            .build();
            m.intercept(&uri).is_some()
        });
        let source = if own_works { specific } else { &self.all };
        let shown = source.as_ref().map(|(k, v)| (k.clone(), mask_userinfo(v)));
        let Some(intercept) = self.matcher(true).intercept(&uri) else {
            if self.matcher(false).intercept(&uri).is_some() {
                findings.excluded = true;
                findings.bypassed = shown.map(|(k, v)| format!("{v} from {k}"));
            }
            return (findings, None);
        };
        let proxy_uri = intercept.uri();
        let proxy_scheme = proxy_uri.scheme_str().unwrap_or("http").to_string();
        let port = proxy_uri.port_u16().unwrap_or(match proxy_scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => 1080,
        });
        let target = ProxyTarget {
            host: proxy_uri
                .host()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            auth: intercept.basic_auth().cloned(),
            scheme: proxy_scheme,
        };
        match shown {
            Some((variable, url)) => {
                findings.url = Some(url);
                findings.variable = Some(variable);
            }
            None => findings.url = Some(proxy_uri.to_string()),
        }
        (findings, Some(target))
    }
}

/// `http://user:pw@proxy:3128` -> `http://***@proxy:3128`.
fn mask_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Asks an HTTP proxy for a tunnel to `host:port` on `stream` (`CONNECT`). Returns the proxy's
/// status line when it refuses.
pub(crate) async fn tunnel(
    stream: &mut TcpStream,
    authority: &str,
    auth: Option<&HeaderValue>,
    timeout: Duration,
) -> Result<(), String> {
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = auth {
        request.push_str("Proxy-Authorization: ");
        request.push_str(auth.to_str().unwrap_or_default());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.len() < 16 * 1024 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(answer)
    };
    let answer = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return Err(format!("no answer to CONNECT: {e}")),
        Err(_) => return Err("no answer to CONNECT (timed out)".into()),
    };
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default().trim().to_string();
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if code.starts_with('2') {
        Ok(())
    } else if status_line.is_empty() {
        Err("the proxy closed the connection".into())
    } else {
        Err(status_line.chars().take(200).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> ProxyEnv {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyEnv::from_lookup(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn no_variables_no_proxy() {
        let (f, p) = env(&[]).decide("https", "ghcr.io", 443);
        assert!(p.is_none());
        assert!(!f.excluded);
        assert_eq!(f.consulted.len(), 4);
    }

    #[test]
    fn https_proxy_applies_to_loopback_too() {
        let (f, p) =
            env(&[("HTTPS_PROXY", "http://127.0.0.1:9")]).decide("https", "127.0.0.1", 5000);
        let p = p.unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.scheme.as_str()),
            ("127.0.0.1", 9, "http")
        );
        assert_eq!(f.variable.as_deref(), Some("HTTPS_PROXY"));
        assert_eq!(f.url.as_deref(), Some("http://127.0.0.1:9"));
        // Plain HTTP does not use HTTPS_PROXY.
        assert!(
            env(&[("HTTPS_PROXY", "http://127.0.0.1:9")])
                .decide("http", "127.0.0.1", 5000)
                .1
                .is_none()
        );
    }

    #[test]
    fn no_proxy_excludes_hosts_and_domains() {
        let e = env(&[
            ("https_proxy", "http://proxy.corp:3128"),
            ("NO_PROXY", "localhost,.internal,10.0.0.0/8"),
        ]);
        for host in ["localhost", "reg.internal", "10.1.2.3"] {
            let (f, p) = e.decide("https", host, 443);
            assert!(p.is_none(), "{host}");
            assert!(f.excluded, "{host}");
            assert_eq!(
                f.bypassed.as_deref(),
                Some("http://proxy.corp:3128 from https_proxy")
            );
        }
        let (f, p) = e.decide("https", "ghcr.io", 443);
        assert_eq!(p.unwrap().port, 3128);
        assert_eq!(
            f.no_proxy.as_deref(),
            Some("NO_PROXY=localhost,.internal,10.0.0.0/8")
        );
    }

    #[test]
    fn all_proxy_and_credentials_masked() {
        let (f, p) =
            env(&[("ALL_PROXY", "http://user:s3cret@proxy:8080")]).decide("https", "h.io", 443);
        let p = p.unwrap();
        assert!(p.auth.is_some());
        assert_eq!(f.variable.as_deref(), Some("ALL_PROXY"));
        assert_eq!(f.url.as_deref(), Some("http://***@proxy:8080"));
        assert!(!format!("{f:?}").contains("s3cret"));
    }

    #[test]
    fn cgi_ignores_proxies() {
        let (f, p) = env(&[("HTTPS_PROXY", "http://p:1"), ("REQUEST_METHOD", "GET")])
            .decide("https", "h.io", 443);
        assert!(p.is_none());
        assert!(f.cgi);
    }

    #[test]
    fn masks_userinfo() {
        assert_eq!(mask_userinfo("http://a:b@h:1/x"), "http://***@h:1/x");
        assert_eq!(mask_userinfo("a:b@h:1"), "***@h:1");
        assert_eq!(mask_userinfo("http://h:1"), "http://h:1");
    }
}
