//! The readiness probe: one plain HTTP/1.1 `GET`, and the status line of the answer.
//!
//! Plain HTTP also for a TLS registry: Go's HTTP server answers a plain request on a TLS port
//! with `400 Bad Request`, which proves it is serving there without a TLS client here
//! (docs/testing.md).

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The `User-Agent` of the readiness probes, so that access-log readers can leave them out
/// ([`crate::LocalRegistry::requests_since`] does).
pub const PROBE_USER_AGENT: &str = "wasm-testkit-probe";

/// The status code of a plain HTTP/1.1 `GET path` to `addr`.
pub(crate) fn http_status(addr: SocketAddr, path: &str) -> io::Result<u16> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: {PROBE_USER_AGENT}\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut buf = [0; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status(&head).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&head[..head.len().min(80)])
            ),
        )
    })
}

/// The status code from the start of an HTTP/1.x response: `HTTP/1.1 200 OK`.
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    if !words.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = words.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};

    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status(b"HTTP/1.1 200 OK\r\nContent-Length: 2"),
            Some(200)
        );
        assert_eq!(parse_status(b"HTTP/1.0 401 Unauthorized\r\n"), Some(401));
        assert_eq!(parse_status(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }

    #[test]
    fn a_closed_port_is_an_error() {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        assert!(http_status(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), "/v2/").is_err());
    }
}
