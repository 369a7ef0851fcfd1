//! A small HTTP/1.1 server for the harness's own servers (the token server): a thread per
//! connection, keep-alive, bodies by `Content-Length`, whole requests in memory.
//!
//! Written by hand rather than on tiny_http 0.12, which the token server used before: its
//! connection pool can leave a connection queued with no thread woken for it when many arrive at
//! once (16 concurrent token requests from one `wasm push` of many repositories), and the
//! client's request then waits until a kept-alive connection closes. A thread per connection has
//! no such queue. It is not a model of a production server: no chunked request bodies, no
//! pipelining beyond one request after another, no limits beyond the ones below.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

/// The largest request head or body the server reads.
const MAX_BYTES: usize = 1 << 20;

/// One request, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpRequest {
    /// `GET`, `POST`, ...
    pub(crate) method: String,
    /// The request target as sent: path and query.
    pub(crate) target: String,
    /// Header names as sent, and values.
    pub(crate) headers: Vec<(String, String)>,
    /// The body (empty without `Content-Length`).
    pub(crate) body: Vec<u8>,
}

impl HttpRequest {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The answer to a request: `Content-Length` and `Connection` are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpReply {
    /// The status code.
    pub(crate) status: u16,
    /// Headers to send.
    pub(crate) headers: Vec<(String, String)>,
    /// The body.
    pub(crate) body: Vec<u8>,
}

/// What answers requests.
pub(crate) type Handler = Arc<dyn Fn(HttpRequest) -> HttpReply + Send + Sync>;

/// A server on a free port of 127.0.0.1; stops accepting when dropped.
#[derive(Debug)]
pub(crate) struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl HttpServer {
    /// Starts serving with `handler`.
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub(crate) fn start(name: &str, handler: Handler) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let name = name.to_owned();
        thread::Builder::new()
            .name(format!("{name}-accept"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let handler = Arc::clone(&handler);
                    let _ = thread::Builder::new()
                        .name(format!("{name}-conn"))
                        .spawn(move || serve(stream, &handler));
                }
            })?;
        Ok(HttpServer { addr, stop })
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Serves the requests of one connection, one after another, until the client closes it or asks
/// to (`Connection: close`), or sends something that is not HTTP.
fn serve(stream: TcpStream, handler: &Handler) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_request(&mut reader) {
        let close = request
            .header("Connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let reply = handler(request);
        if write_reply(&mut writer, &reply, close).is_err() || close {
            break;
        }
    }
}

/// The next request; `None` when the client closed the connection before one.
fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<HttpRequest>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no request line",
        ));
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = Vec::new();
    let mut head = line.len();
    loop {
        let mut line = String::new();
        head += reader.read_line(&mut line)?;
        if head > MAX_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    if length > MAX_BYTES {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(HttpRequest {
        method,
        target,
        headers,
        body,
    }))
}

fn write_reply(writer: &mut TcpStream, reply: &HttpReply, close: bool) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&reply.body);
    writer.write_all(&bytes)?;
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(stream: &mut TcpStream, request: &str) -> String {
        stream.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                length = v.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        head + &String::from_utf8(body).unwrap()
    }

    #[test]
    fn answers_requests_one_after_another_on_one_connection_and_many_at_once() {
        let handler: Handler = Arc::new(|request: HttpRequest| HttpReply {
            status: 200,
            headers: vec![("X-Method".into(), request.method.clone())],
            body: format!(
                "{} {}",
                request.target,
                String::from_utf8_lossy(&request.body)
            )
            .into_bytes(),
        });
        let server = HttpServer::start("test", handler).unwrap();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        let first = exchange(&mut stream, "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert!(first.ends_with("/a?b=c "), "{first}");
        let second = exchange(
            &mut stream,
            "POST /t HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nx=1",
        );
        assert!(second.contains("X-Method: POST\r\n"), "{second}");
        assert!(second.contains("Connection: close\r\n"), "{second}");
        assert!(second.ends_with("/t x=1"), "{second}");

        // Many connections at once, each answered.
        let threads: Vec<_> = (0..32)
            .map(|i| {
                let addr = server.addr();
                thread::spawn(move || {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    exchange(&mut stream, &format!("GET /{i} HTTP/1.1\r\n\r\n"))
                })
            })
            .collect();
        for (i, thread) in threads.into_iter().enumerate() {
            assert!(thread.join().unwrap().ends_with(&format!("/{i} ")));
        }
    }
}
