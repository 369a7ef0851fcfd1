//! Just enough HTTP for the harness to poke the servers it runs: a blocking HTTP/1.0 client over
//! a plain `TcpStream`, and `curl` for HTTPS (the harness has no TLS client of its own).
//!
//! Tests use it to check what `wasm` left on a registry and to drive the token flow by hand; it
//! is not a model of a good client (no redirects, no keep-alive, whole bodies in memory).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The `User-Agent` of every request the harness itself sends, so that registry logs can tell
/// them from the requests of `wasm`.
pub const HARNESS_USER_AGENT: &str = "wasm-e2e-harness";

/// An HTTP response, whole.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (as sent) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {}", self.text()))
    }
}

/// Sends one request over plain HTTP to `addr` (`host:port`) and reads the whole response.
pub fn send(
    addr: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    // HTTP/1.0 so that the server closes the connection and sends no chunked body.
    let mut request = format!("{method} {path_and_query} HTTP/1.0\r\nHost: {addr}\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("User-Agent"))
    {
        request.push_str(&format!("User-Agent: {HARNESS_USER_AGENT}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    if let Some(body) = body {
        stream.write_all(body)?;
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&raw, method == "HEAD")
}

/// Sends one request with `curl` (HTTP or HTTPS; `ca` is the only trusted root if given).
pub fn send_curl(
    url: &str,
    ca: Option<&Path>,
    method: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<HttpResponse> {
    let curl = super::require_tool("curl", "curl");
    let mut cmd = Command::new(curl);
    cmd.args([
        "--silent",
        "--show-error",
        "--include",
        "--http1.1",
        "--max-time",
        "30",
    ]);
    if method == "HEAD" {
        cmd.arg("--head");
    } else {
        cmd.args(["--request", method]);
    }
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    for (name, value) in headers {
        cmd.arg("--header").arg(format!("{name}: {value}"));
    }
    if body.is_some() {
        cmd.args(["--data-binary", "@-"]);
    }
    cmd.arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    if let Some(body) = body {
        stdin.write_all(body)?;
    }
    drop(stdin);
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "curl {method} {url}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    parse(&output.stdout, method == "HEAD")
}

/// Parses a raw response (status line, headers, body up to the end).
fn parse(raw: &[u8], head: bool) -> std::io::Result<HttpResponse> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut rest = raw;
    // curl --include prints the headers of interim responses (`100 Continue`) too: skip them.
    loop {
        let end = find(rest, b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
        let head_text = String::from_utf8_lossy(&rest[..end]).into_owned();
        let body = &rest[end + 4..];
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        if (100..200).contains(&status) {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let body = if head { Vec::new() } else { body.to_vec() };
        return Ok(HttpResponse {
            status,
            headers,
            body,
        });
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
