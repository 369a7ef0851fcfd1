//! A fault injector: a TCP proxy between `wasm` and a real registry that breaks chosen requests
//! on purpose, to prove that `wasm` rides out transient faults and fails clearly, in bounded
//! time and without leaving anything half-written, on persistent ones (docs/reliability.md).
//!
//! [`FaultProxy`] listens on `127.0.0.1:PORT` and forwards to a registry (usually a plain-HTTP
//! [`super::Registry`] on loopback, so `wasm` speaks plain HTTP to the proxy by itself). It
//! reads each HTTP/1.1 request head and frames bodies (`Content-Length`, chunked), so a [`Rule`]
//! applies per request, also on keep-alive connections, and may be limited to some methods and
//! paths. The bytes themselves pass through unchanged: the `Host` header stays the proxy's, so
//! the registry builds upload locations that point back at the proxy.
//!
//! A connection that does not start with an HTTP request (the TLS ClientHello with which `wasm`
//! probes loopback registries for HTTPS) is tunnelled byte for byte and never faulted.
//!
//! The module also holds the plumbing it shares with [`super::hostile`]: [`TcpServer`] (a
//! thread per connection, everything shut down on drop) and a minimal HTTP/1.1 framing.
//!
//! What must stay true:
//! - Every thread and socket ends when the proxy drops (sockets are shut down, threads joined).
//! - A request is recorded ([`FaultProxy::requests`]) before anything is sent upstream, so the
//!   log is complete as soon as `wasm` has exited.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What the proxy does to the requests a [`Rule`] matches.
///
/// `times` counts faulted requests; `usize::MAX` makes a fault persistent. The faults that cut
/// or stall a connection end it, so for them `times` is also the number of connections broken.
/// Requests that do not match, and matching ones once `times` is used up, are forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Forward the request, pass on `bytes` bytes of the registry's response (status line and
    /// headers included), then close both connections: the client sees the connection end
    /// early (a download broken off midway). A response shorter than `bytes` passes whole and
    /// the connection is closed after it.
    DropAfter {
        /// Response bytes passed on before the cut.
        bytes: usize,
        /// How many requests to break.
        times: usize,
    },
    /// Forward only `bytes` bytes of the client's request (head and body) to the registry,
    /// then close both connections: an upload broken off midway.
    DropRequestAfter {
        /// Request bytes passed on before the cut.
        bytes: usize,
        /// How many requests to break.
        times: usize,
    },
    /// Forward the request, pass on `after_bytes` bytes of the response, then pass on nothing
    /// more while keeping both connections open: a registry that stalls.
    Stall {
        /// Response bytes passed on before the stall.
        after_bytes: usize,
        /// How many requests to stall.
        times: usize,
    },
    /// Answer `status` (503, 429, ...) with a short plain-text body and `Connection: close`,
    /// without contacting the registry, as a load balancer in front of a registry does.
    Status {
        /// The HTTP status.
        status: u16,
        /// How many requests to answer so.
        times: usize,
        /// `Retry-After` seconds, if any.
        retry_after: Option<u32>,
    },
    /// Like [`Fault::Status`], with the registry's own JSON error body
    /// (`{"errors":[{"code":CODE,...}]}`), as Docker Hub answers its rate limit (429,
    /// `TOOMANYREQUESTS`).
    RegistryError {
        /// The HTTP status.
        status: u16,
        /// The error code in the body, e.g. `TOOMANYREQUESTS`, `UNAVAILABLE`.
        code: &'static str,
        /// How many requests to answer so.
        times: usize,
        /// `Retry-After` seconds, if any.
        retry_after: Option<u32>,
    },
}

impl Fault {
    /// How many requests this fault breaks.
    fn times(&self) -> usize {
        match self {
            Fault::None => 0,
            Fault::DropAfter { times, .. }
            | Fault::DropRequestAfter { times, .. }
            | Fault::Stall { times, .. }
            | Fault::Status { times, .. }
            | Fault::RegistryError { times, .. } => *times,
        }
    }

    /// This fault for requests with one of `methods` (any method if empty) whose target (path
    /// and query) contains `path_part` (any if empty), e.g.
    /// `fault.on(&["GET"], "/blobs/sha256:")` for blob downloads only.
    pub fn on(self, methods: &[&str], path_part: &str) -> Rule {
        Rule {
            fault: self,
            methods: methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
            path: PathMatch::Contains(path_part.to_string()),
        }
    }

    /// This fault for requests with one of `methods` (any method if empty) whose target is
    /// exactly `path`, e.g. `fault.on_path(&["GET"], "/v2/")` for the API version check only.
    pub fn on_path(self, methods: &[&str], path: &str) -> Rule {
        Rule {
            path: PathMatch::Exact(path.to_string()),
            ..self.on(methods, "")
        }
    }
}

/// Which request targets a [`Rule`] applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    /// Targets containing this (all if empty).
    Contains(String),
    /// This target only.
    Exact(String),
}

/// A [`Fault`] and the requests it applies to; a bare [`Fault`] applies to every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The fault.
    pub fault: Fault,
    /// Upper-case methods it applies to; empty: all.
    pub methods: Vec<String>,
    /// The request targets it applies to.
    pub path: PathMatch,
}

impl Rule {
    fn matches(&self, method: &str, target: &str) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
            && match &self.path {
                PathMatch::Contains(part) => target.contains(part.as_str()),
                PathMatch::Exact(path) => target == path,
            }
    }
}

impl From<Fault> for Rule {
    fn from(fault: Fault) -> Rule {
        fault.on(&[], "")
    }
}

/// One HTTP request the proxy saw.
#[derive(Clone, Debug)]
pub struct ProxiedRequest {
    /// The method.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// The fault applied to it, if any.
    pub fault: Option<Fault>,
    /// When its head had been read.
    pub at: Instant,
    /// Which connection it came on (the proxy numbers them as it accepts them).
    pub connection: u64,
}

/// A fault-injecting TCP proxy on `127.0.0.1:PORT` in front of a registry; see the module
/// docs. Stopped when dropped.
pub struct FaultProxy {
    host: String,
    state: Arc<ProxyState>,
    server: TcpServer,
}

struct ProxyState {
    upstream: String,
    rule: Mutex<(Rule, usize)>,
    faulted: AtomicUsize,
    log: Mutex<Vec<ProxiedRequest>>,
    /// Connections that did not start with an HTTP request (TLS hellos).
    not_http: AtomicUsize,
    /// Such connections get no answer at all (as a relay that waits for an HTTP request).
    silent_to_tls: AtomicBool,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`, e.g. [`super::Registry::host`]) applying
    /// `rule` (a [`Fault`] or [`Fault::on`]).
    pub fn start(upstream: &str, rule: impl Into<Rule>) -> FaultProxy {
        let rule = rule.into();
        let times = rule.fault.times();
        let state = Arc::new(ProxyState {
            upstream: upstream.to_string(),
            rule: Mutex::new((rule, times)),
            faulted: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            not_http: AtomicUsize::new(0),
            silent_to_tls: AtomicBool::new(false),
        });
        let handler_state = Arc::clone(&state);
        let server = TcpServer::start("e2e-fault-proxy", move |client, conn| {
            handler_state.serve(client, conn);
        });
        FaultProxy {
            host: server.host(),
            state,
            server,
        }
    }

    /// Replaces the rule (and resets its count) for the requests from now on.
    pub fn set(&self, rule: impl Into<Rule>) {
        let rule = rule.into();
        let times = rule.fault.times();
        *self.state.rule.lock().unwrap() = (rule, times);
    }

    /// `127.0.0.1:PORT`: use it in references instead of the registry's host.
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// A reference to `repo:tag` through the proxy.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.host)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// Connections so far that did not start with an HTTP request (TLS hellos).
    pub fn not_http_connections(&self) -> usize {
        self.state.not_http.load(Ordering::Relaxed)
    }

    /// From now on, a connection that does not start with an HTTP request (a TLS hello) gets no
    /// answer at all, as from a relay that waits for an HTTP request head; it is held open
    /// until the client gives up or the proxy stops.
    pub fn silent_to_tls(&self) {
        self.state.silent_to_tls.store(true, Ordering::Relaxed);
    }

    /// Requests broken by a fault so far.
    pub fn faulted(&self) -> usize {
        self.state.faulted.load(Ordering::Relaxed)
    }

    /// Every HTTP request seen so far, oldest first (tunnelled connections have none).
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// The requests with `method` whose target contains `path_part`.
    pub fn requests_to(&self, method: &str, path_part: &str) -> Vec<ProxiedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.target.contains(path_part))
            .collect()
    }
}

impl ProxyState {
    /// Decides the fault for one request and records it.
    fn fault_for(&self, head: &Head, connection: u64) -> Fault {
        let (method, target) = (head.method(), head.target());
        let fault = {
            let mut guard = self.rule.lock().unwrap();
            let (rule, left) = &mut *guard;
            if *left > 0 && rule.fault != Fault::None && rule.matches(method, target) {
                if *left != usize::MAX {
                    *left -= 1;
                }
                rule.fault.clone()
            } else {
                Fault::None
            }
        };
        if fault != Fault::None {
            self.faulted.fetch_add(1, Ordering::Relaxed);
        }
        self.log.lock().unwrap().push(ProxiedRequest {
            method: method.to_string(),
            target: target.to_string(),
            fault: (fault != Fault::None).then(|| fault.clone()),
            at: Instant::now(),
            connection,
        });
        fault
    }

    fn serve(&self, client: TcpStream, conn: &Conn) {
        drop(client.set_nodelay(true));
        match first_byte(&client) {
            None => return,
            Some(b) if !b.is_ascii_uppercase() => {
                self.not_http.fetch_add(1, Ordering::Relaxed);
                if self.silent_to_tls.load(Ordering::Relaxed) {
                    let mut sink = [0u8; 4096];
                    let mut client = client;
                    drop(client.set_read_timeout(Some(Duration::from_millis(200))));
                    while !conn.stopping() {
                        match client.read(&mut sink) {
                            Ok(0) => return,
                            Ok(_) => {}
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                                ) => {}
                            Err(_) => return,
                        }
                    }
                    return;
                }
                tunnel(client, &self.upstream, conn);
                return;
            }
            Some(_) => {}
        }
        let Ok(client_write) = client.try_clone() else {
            return;
        };
        let mut client_write = client_write;
        let mut from_client = BufReader::new(client);
        let mut upstream: Option<(TcpStream, BufReader<TcpStream>)> = None;
        loop {
            let head = match read_head(&mut from_client) {
                Ok(Some(head)) => head,
                _ => return,
            };
            let fault = self.fault_for(&head, conn.id);
            let request_body = head.request_body();
            if let Fault::Status {
                status,
                retry_after,
                ..
            }
            | Fault::RegistryError {
                status,
                retry_after,
                ..
            } = fault
            {
                // Take the whole request first, so that the client reads the answer instead of
                // a reset.
                if copy_body(&mut from_client, &mut io::sink(), request_body).is_err() {
                    return;
                }
                let body = match fault {
                    Fault::RegistryError { code, .. } => format!(
                        "{{\"errors\":[{{\"code\":\"{code}\",\"message\":\"injected fault: \
                         HTTP {status}\",\"detail\":null}}]}}"
                    ),
                    _ => format!("injected fault: HTTP {status} {}\n", reason(status)),
                };
                let content_type = match fault {
                    Fault::RegistryError { .. } => "application/json",
                    _ => "text/plain",
                };
                let mut response = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n",
                    reason(status),
                    body.len()
                );
                if let Some(secs) = retry_after {
                    response.push_str(&format!("Retry-After: {secs}\r\n"));
                }
                response.push_str("\r\n");
                if head.method() != "HEAD" {
                    response.push_str(&body);
                }
                drop(client_write.write_all(response.as_bytes()));
                lingering_close(&client_write);
                return;
            }

            if upstream.is_none() {
                let Ok(stream) = TcpStream::connect(&self.upstream) else {
                    let answer = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\
                                  Connection: close\r\n\r\n";
                    drop(client_write.write_all(answer.as_bytes()));
                    lingering_close(&client_write);
                    return;
                };
                drop(stream.set_nodelay(true));
                conn.track(&stream);
                let Ok(reader) = stream.try_clone() else {
                    return;
                };
                upstream = Some((stream, BufReader::new(reader)));
            }
            let Some((to_upstream, from_upstream)) = upstream.as_mut() else {
                return;
            };

            // The request, whole or cut.
            let request_limit = match fault {
                Fault::DropRequestAfter { bytes, .. } => Some(bytes as u64),
                _ => None,
            };
            let mut gate = Gate::new(&mut *to_upstream, request_limit);
            let sent = gate
                .write_all(&head.raw)
                .and_then(|()| copy_body(&mut from_client, &mut gate, request_body))
                .and_then(|()| gate.flush());
            match sent {
                Ok(()) if request_limit.is_none() => {}
                // A cut, or a request shorter than the cut: the connection ends here.
                Ok(()) | Err(_) => {
                    shutdown_both(&client_write, to_upstream);
                    return;
                }
            }

            // The response (after any interim 1xx answers), whole, cut or stalled.
            let response_limit = match fault {
                Fault::DropAfter { bytes, .. } => Some(bytes as u64),
                Fault::Stall { after_bytes, .. } => Some(after_bytes as u64),
                _ => None,
            };
            let mut gate = Gate::new(&mut client_write, response_limit);
            let relayed = relay_response(from_upstream, &mut gate, head.method());
            let relayed = relayed.and_then(|keep| gate.flush().map(|()| keep));
            match (relayed, &fault) {
                (Ok(true), Fault::None) if !head.wants_close() => {}
                (Err(e), Fault::Stall { .. }) if is_cut(&e) => {
                    // Keep both connections open, passing nothing on, until the client gives
                    // up (or the proxy drops, which shuts the sockets down).
                    drop(io::copy(&mut from_client, &mut io::sink()));
                    shutdown_both(&client_write, to_upstream);
                    return;
                }
                _ => {
                    shutdown_both(&client_write, to_upstream);
                    return;
                }
            }
        }
    }
}

/// Relays one response from `from` to `to`; returns whether the connection may carry another
/// request (the response was framed and did not ask to close).
fn relay_response(
    from: &mut BufReader<TcpStream>,
    to: &mut impl Write,
    request_method: &str,
) -> io::Result<bool> {
    loop {
        let head = read_head(from)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no response"))?;
        to.write_all(&head.raw)?;
        let status = head.status();
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let body = head.response_body(request_method);
        copy_body(from, to, body)?;
        return Ok(body != Body::UntilClose && !head.wants_close());
    }
}

/// Copies both directions of a connection that is not HTTP, unchanged.
fn tunnel(client: TcpStream, upstream: &str, conn: &Conn) {
    let Ok(server) = TcpStream::connect(upstream) else {
        drop(client.shutdown(Shutdown::Both));
        return;
    };
    conn.track(&server);
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let back = {
        let (mut server_read, mut client_write) = (server.try_clone(), client.try_clone());
        thread::spawn(move || {
            if let (Ok(from), Ok(to)) = (server_read.as_mut(), client_write.as_mut()) {
                drop(io::copy(from, to));
                drop(to.shutdown(Shutdown::Write));
            }
        })
    };
    drop(io::copy(&mut client_read, &mut server_write));
    drop(server_write.shutdown(Shutdown::Write));
    drop(back.join());
    shutdown_both(&client, &server);
}

fn shutdown_both(a: &TcpStream, b: &TcpStream) {
    drop(a.shutdown(Shutdown::Both));
    drop(b.shutdown(Shutdown::Both));
}

/// The first byte the client sends, left unread; `None` if the connection ends first. An HTTP
/// request starts with an upper-case letter, a TLS ClientHello with 0x16.
pub(crate) fn first_byte(stream: &TcpStream) -> Option<u8> {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first), Ok(1)).then_some(first[0])
}

/// Ends a connection after a final answer without losing it: stops writing, then reads (and
/// drops) what the client still sends until it closes, for at most a second. Closing with
/// unread input would make the kernel send a reset, which may destroy the answer in flight.
pub(crate) fn lingering_close(stream: &TcpStream) {
    drop(stream.shutdown(Shutdown::Write));
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut buf = [0u8; 16 * 1024];
    let mut reader = stream;
    while Instant::now() < deadline {
        drop(stream.set_read_timeout(Some(Duration::from_millis(100))));
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    drop(stream.shutdown(Shutdown::Both));
}

/// The reason phrase of the statuses the harness sends.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Marks the error a [`Gate`] returns once its budget is spent.
#[derive(Debug)]
struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cut by the fault proxy")
    }
}

impl std::error::Error for Cut {}

fn is_cut(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Cut>())
}

/// A writer that passes at most `left` bytes on (all if `None`), then fails with [`Cut`].
struct Gate<W> {
    inner: W,
    left: Option<u64>,
}

impl<W: Write> Gate<W> {
    fn new(inner: W, left: Option<u64>) -> Self {
        Gate { inner, left }
    }
}

impl<W: Write> Write for Gate<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let allowed = match self.left {
            None => buf.len(),
            Some(0) => {
                self.inner.flush()?;
                return Err(io::Error::other(Cut));
            }
            Some(left) => buf.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
        };
        let n = self.inner.write(&buf[..allowed])?;
        if let Some(left) = &mut self.left {
            *left -= n as u64;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

// --- HTTP/1.1 framing ---------------------------------------------------------------------

/// How an HTTP message's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses without a length).
    UntilClose,
}

/// The head of a request or response: start line and headers.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    /// The bytes as received, line ends included.
    pub(crate) raw: Vec<u8>,
    /// The request line or status line.
    pub(crate) start: String,
    /// Header names and values, in order.
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    /// The request's method.
    pub(crate) fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or_default()
    }

    /// The request's target (path and query).
    pub(crate) fn target(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or_default()
    }

    /// The response's status (0 if unreadable).
    pub(crate) fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Connection: close`, or HTTP/1.0 without keep-alive.
    pub(crate) fn wants_close(&self) -> bool {
        let connection = self.header("Connection").unwrap_or_default();
        connection.eq_ignore_ascii_case("close")
            || (self.start.contains("HTTP/1.0") && !connection.eq_ignore_ascii_case("keep-alive"))
    }

    fn framed_body(&self) -> Option<Body> {
        if self
            .header("Transfer-Encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            return Some(Body::Chunked);
        }
        self.header("Content-Length")
            .and_then(|v| v.trim().parse().ok())
            .map(|n| if n == 0 { Body::Empty } else { Body::Length(n) })
    }

    /// How this request's body is delimited.
    pub(crate) fn request_body(&self) -> Body {
        self.framed_body().unwrap_or(Body::Empty)
    }

    /// How this response's body is delimited, for a request with `request_method`.
    fn response_body(&self, request_method: &str) -> Body {
        let status = self.status();
        if request_method == "HEAD"
            || (100..200).contains(&status)
            || status == 204
            || status == 304
        {
            return Body::Empty;
        }
        self.framed_body().unwrap_or(Body::UntilClose)
    }
}

/// The most a head may take; more is not HTTP the harness wants to see.
const MAX_HEAD: usize = 1 << 20;

/// Reads one message head; `None` when the connection ends before its first byte.
pub(crate) fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut raw = Vec::new();
    let mut lines = Vec::new();
    loop {
        let start = raw.len();
        let n = reader.read_until(b'\n', &mut raw)?;
        if n == 0 {
            if raw.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a message head",
            ));
        }
        if raw.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
        let line = String::from_utf8_lossy(&raw[start..])
            .trim_end_matches(['\r', '\n'])
            .to_string();
        if line.is_empty() {
            if lines.is_empty() {
                // Stray line ends between messages.
                raw.clear();
                continue;
            }
            break;
        }
        lines.push(line);
    }
    let start = lines.remove(0);
    let headers = lines
        .iter()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Some(Head {
        raw,
        start,
        headers,
    }))
}

/// Copies one body from `from` to `to`, unchanged (chunk framing included).
pub(crate) fn copy_body(
    from: &mut impl BufRead,
    to: &mut impl Write,
    body: Body,
) -> io::Result<()> {
    match body {
        Body::Empty => Ok(()),
        Body::Length(n) => {
            let copied = io::copy(&mut Read::take(&mut *from, n), to)?;
            if copied < n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a body",
                ));
            }
            Ok(())
        }
        Body::UntilClose => io::copy(from, to).map(drop),
        Body::Chunked => loop {
            let mut line = Vec::new();
            if from.read_until(b'\n', &mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "chunk size"));
            }
            to.write_all(&line)?;
            let text = String::from_utf8_lossy(&line);
            let size_text = text.trim().split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size_text, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut trailer = Vec::new();
                    if from.read_until(b'\n', &mut trailer)? == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "trailer"));
                    }
                    to.write_all(&trailer)?;
                    if trailer == b"\r\n" || trailer == b"\n" {
                        return Ok(());
                    }
                }
            }
            copy_body(from, to, Body::Length(size))?;
            let mut end = Vec::new();
            from.read_until(b'\n', &mut end)?;
            to.write_all(&end)?;
        },
    }
}

// --- A loopback TCP server ----------------------------------------------------------------

/// What a connection handler of a [`TcpServer`] gets besides its socket.
pub(crate) struct Conn {
    id: u64,
    shared: Arc<ServerShared>,
}

impl Conn {
    /// Registers another socket of this connection (e.g. to the upstream) to be shut down when
    /// the server drops.
    pub(crate) fn track(&self, stream: &TcpStream) {
        if let Ok(clone) = stream.try_clone() {
            let mut sockets = self.shared.sockets.lock().unwrap();
            sockets.entry(self.id).or_default().push(clone);
        }
    }

    /// Whether the server is being dropped (long-running handlers should end).
    pub(crate) fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct ServerShared {
    stop: AtomicBool,
    next_id: AtomicU64,
    accepted: AtomicUsize,
    active: AtomicUsize,
    sockets: Mutex<HashMap<u64, Vec<TcpStream>>>,
    workers: Mutex<Vec<thread::JoinHandle<()>>>,
}

/// A server on `127.0.0.1:PORT` (or another address of this machine) running a handler on its own thread for each connection. On
/// drop it stops accepting, shuts every connection's sockets down and joins the threads.
pub(crate) struct TcpServer {
    addr: std::net::SocketAddr,
    shared: Arc<ServerShared>,
    accept: Option<thread::JoinHandle<()>>,
}

impl TcpServer {
    /// Binds a free port on `127.0.0.1` and serves each connection with `handler`.
    pub(crate) fn start(
        name: &str,
        handler: impl Fn(TcpStream, &Conn) + Send + Sync + 'static,
    ) -> TcpServer {
        Self::start_on(std::net::Ipv4Addr::LOCALHOST.into(), name, handler)
    }

    /// Binds a free port on `ip` (one of this machine's addresses) and serves each connection
    /// with `handler`.
    pub(crate) fn start_on(
        ip: std::net::IpAddr,
        name: &str,
        handler: impl Fn(TcpStream, &Conn) + Send + Sync + 'static,
    ) -> TcpServer {
        let listener =
            TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip} port 0: {e}"));
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(ServerShared::default());
        let handler = Arc::new(handler);
        let accept = {
            let shared = Arc::clone(&shared);
            let worker_name = format!("{name}-conn");
            thread::Builder::new()
                .name(name.to_string())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if shared.stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
                        shared.accepted.fetch_add(1, Ordering::Relaxed);
                        shared.active.fetch_add(1, Ordering::Relaxed);
                        let conn = Conn {
                            id,
                            shared: Arc::clone(&shared),
                        };
                        conn.track(&stream);
                        let handler = Arc::clone(&handler);
                        let worker = thread::Builder::new()
                            .name(worker_name.clone())
                            .spawn(move || {
                                // Ends the connection's bookkeeping even if the handler panics.
                                struct Done(Conn);
                                impl Drop for Done {
                                    fn drop(&mut self) {
                                        let shared = &self.0.shared;
                                        if let Some(sockets) =
                                            shared.sockets.lock().unwrap().remove(&self.0.id)
                                        {
                                            for s in sockets {
                                                drop(s.shutdown(Shutdown::Both));
                                            }
                                        }
                                        shared.active.fetch_sub(1, Ordering::Relaxed);
                                    }
                                }
                                let done = Done(conn);
                                handler(stream, &done.0);
                            })
                            .expect("start connection thread");
                        shared.workers.lock().unwrap().push(worker);
                    }
                })
                .expect("start accept thread")
        };
        TcpServer {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The port.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Waits until no connection is being handled (or `timeout` passed); returns whether idle.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.shared.active.load(Ordering::Relaxed) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop, which then sees `stop`.
        drop(TcpStream::connect(self.addr));
        if let Some(accept) = self.accept.take() {
            drop(accept.join());
        }
        for sockets in self.shared.sockets.lock().unwrap().values() {
            for s in sockets {
                drop(s.shutdown(Shutdown::Both));
            }
        }
        let workers = std::mem::take(&mut *self.shared.workers.lock().unwrap());
        for worker in workers {
            drop(worker.join());
        }
    }
}
