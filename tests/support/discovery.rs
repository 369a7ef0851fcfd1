//! A real HTTPS server for wkg's discovery documents (`/.well-known/wasm-pkg/registry.json`),
//! with a certificate from the harness's test CA ([`super::registry::test_ca`]).
//!
//! Just enough HTTP/1.1 over rustls: one request per connection, answered and closed. It
//! serves one document (or 404 when none is set) and counts the requests for it, so that tests
//! can check that a cached document is not asked again.
//!
//! What must stay true: the server never panics on what a client sends, and stops when dropped.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use super::registry::test_ca;
use super::write_file;

/// The path of the discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/wasm-pkg/registry.json";

/// A running discovery server; stopped when dropped.
pub struct DiscoveryServer {
    /// `127.0.0.1:PORT`: the domain to name in configs.
    pub domain: String,
    /// The test CA's certificate (PEM file) that signed the server's.
    pub ca_pem: PathBuf,
    document: Arc<Mutex<Option<String>>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl DiscoveryServer {
    /// Starts a server answering `document` (JSON) for the discovery path, 404 otherwise.
    pub fn start(document: Option<&str>) -> DiscoveryServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_pem = dir.path().join("ca.pem");
        write_file(&ca_pem, test_ca().cert_pem.as_bytes());
        let (cert_pem, key_pem) = test_ca().server_cert();
        let certs: Vec<_> = rustls::pki_types::pem::PemObject::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("server certificate PEM");
        let key = rustls::pki_types::pem::PemObject::from_pem_slice(key_pem.as_bytes())
            .expect("server key PEM");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server certificate"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind discovery server");
        let domain = listener.local_addr().expect("address").to_string();
        listener.set_nonblocking(true).expect("non-blocking");
        let document = Arc::new(Mutex::new(document.map(str::to_owned)));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (document, hits, stop) = (document.clone(), hits.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (config, document, hits) =
                                (config.clone(), document.clone(), hits.clone());
                            thread::spawn(move || serve(stream, config, &document, &hits));
                        }
                        Err(_) => thread::sleep(std::time::Duration::from_millis(5)),
                    }
                }
            })
        };
        DiscoveryServer {
            domain,
            ca_pem,
            document,
            hits,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// Replaces the document served.
    pub fn set_document(&self, document: Option<&str>) {
        *self.document.lock().unwrap() = document.map(str::to_owned);
    }

    /// How many requests for the discovery document were answered.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
}

impl Drop for DiscoveryServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            drop(thread.join());
        }
    }
}

fn serve(
    stream: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    document: &Mutex<Option<String>>,
    hits: &AtomicUsize,
) {
    drop(stream.set_nonblocking(false));
    drop(stream.set_read_timeout(Some(std::time::Duration::from_secs(10))));
    let Ok(connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(connection, stream);
    let mut reader = BufReader::new(&mut tls);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or_default();
    let body = if path == DISCOVERY_PATH {
        hits.fetch_add(1, Ordering::Relaxed);
        document.lock().unwrap().clone()
    } else {
        None
    };
    let response = match body {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: max-age=3600\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    drop(tls.write_all(response.as_bytes()));
    tls.conn.send_close_notify();
    drop(tls.flush());
}
