//! A delay-injecting TCP proxy: a registry on loopback made to look as far away as GHCR or
//! Docker Hub, for `cargo xtask bench --latency-ms`.
//!
//! It is a deliberate stand-in for distance, not a fault injector: every byte arrives, in order,
//! only later. Over a real network, each sequential request costs a round trip and each new
//! connection one more (the TCP handshake); loopback hides both, and so hides what a client
//! wastes on requests it did not need. The proxy models exactly that and nothing else:
//!
//! - each direction delays every chunk by half the round trip (bandwidth stays loopback's:
//!   the point is the number of round trips, not the throughput of a link);
//! - a new connection can carry data only one round trip after it was accepted, as after a
//!   SYN/SYN-ACK exchange, so a client that opens connections it does not need pays for them;
//! - chunks that arrive while earlier ones wait are not delayed again: a client that pipelines or
//!   multiplexes (HTTP/2) gains, as it would on a real link.
//!
//! It counts the connections it accepted, which the registry's access log cannot show.
//!
//! Hand-written because what it models (a fixed delay per chunk with pipelining intact, plus the
//! handshake) is a few dozen lines over `std::net`, while the available crates either shape
//! bandwidth or add jitter, and none counts connections.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A delay-injecting TCP proxy on `127.0.0.1`, in front of one upstream address; stops accepting
/// when dropped.
#[derive(Debug)]
pub struct LatencyProxy {
    addr: SocketAddr,
    round_trip: Duration,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl LatencyProxy {
    /// Starts a proxy on a free port of 127.0.0.1 that forwards to `upstream` with `round_trip`
    /// added to every exchange (half each way).
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub fn start(upstream: SocketAddr, round_trip: Duration) -> io::Result<LatencyProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopped) = (Arc::clone(&connections), Arc::clone(&stop));
        thread::Builder::new()
            .name(format!("latency-proxy-{}", addr.port()))
            .spawn(move || {
                for client in listener.incoming() {
                    if stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    count.fetch_add(1, Ordering::Relaxed);
                    let accepted = Instant::now();
                    // A refused upstream closes the client's connection, as a dead server would.
                    if let Ok(server) = TcpStream::connect(upstream) {
                        let _ = connect(client, server, accepted, round_trip);
                    }
                }
            })?;
        Ok(LatencyProxy {
            addr,
            round_trip,
            connections,
            stop,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The round trip it adds.
    pub fn round_trip(&self) -> Duration {
        self.round_trip
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Pumps both directions of one connection, each on a reader and a writer thread.
fn connect(
    client: TcpStream,
    server: TcpStream,
    accepted: Instant,
    round_trip: Duration,
) -> io::Result<()> {
    let one_way = round_trip / 2;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // Requests: nothing before the handshake's round trip is over.
    pump(
        client.try_clone()?,
        server.try_clone()?,
        accepted + round_trip,
        one_way,
    )?;
    pump(server, client, accepted, one_way)
}

/// Copies `from` to `to`, each chunk `delay` after it was read and never before `ready`.
fn pump(from: TcpStream, to: TcpStream, ready: Instant, delay: Duration) -> io::Result<()> {
    let (chunks, delayed) = mpsc::channel::<(Instant, Option<Vec<u8>>)>();
    let mut from_reader = from.try_clone()?;
    thread::Builder::new()
        .name("latency-read".into())
        .spawn(move || {
            let mut buf = vec![0; 64 * 1024];
            loop {
                let read = from_reader.read(&mut buf);
                let due = Instant::now().max(ready) + delay;
                match read {
                    Ok(0) | Err(_) => {
                        let _ = chunks.send((due, None));
                        break;
                    }
                    Ok(n) => {
                        if chunks.send((due, Some(buf[..n].to_vec()))).is_err() {
                            break;
                        }
                    }
                }
            }
        })?;
    let mut to_writer = to;
    thread::Builder::new()
        .name("latency-write".into())
        .spawn(move || {
            for (due, chunk) in delayed {
                thread::sleep(due.saturating_duration_since(Instant::now()));
                match chunk {
                    Some(bytes) => {
                        if to_writer.write_all(&bytes).is_err() {
                            let _ = from.shutdown(Shutdown::Both);
                            break;
                        }
                    }
                    None => {
                        let _ = to_writer.shutdown(Shutdown::Write);
                        break;
                    }
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server: answers each chunk with the same bytes.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                thread::spawn(move || {
                    let mut buf = [0; 1024];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn exchange(stream: &mut TcpStream, message: &[u8]) -> Vec<u8> {
        stream.write_all(message).unwrap();
        let mut answer = vec![0; message.len()];
        stream.read_exact(&mut answer).unwrap();
        answer
    }

    #[test]
    fn a_new_connection_costs_a_round_trip_and_each_exchange_another() {
        let round_trip = Duration::from_millis(60);
        let proxy = LatencyProxy::start(echo_server(), round_trip).unwrap();
        let started = Instant::now();
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        assert_eq!(exchange(&mut stream, b"hello"), b"hello");
        // The handshake's round trip, then the exchange's.
        assert!(
            started.elapsed() >= 2 * round_trip,
            "{:?}",
            started.elapsed()
        );
        let second = Instant::now();
        assert_eq!(exchange(&mut stream, b"again"), b"again");
        assert!(second.elapsed() >= round_trip, "{:?}", second.elapsed());
        assert_eq!(proxy.connections(), 1);
        drop(stream);
        let _other = TcpStream::connect(proxy.addr()).unwrap();
        // The accept loop counts the second connection as soon as it takes it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while proxy.connections() < 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(proxy.connections(), 2);
    }

    #[test]
    fn pipelined_chunks_are_delayed_once_not_one_after_another() {
        let round_trip = Duration::from_millis(80);
        let proxy = LatencyProxy::start(echo_server(), round_trip).unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        exchange(&mut stream, b"warm");
        let started = Instant::now();
        for _ in 0..10 {
            stream.write_all(b"x").unwrap();
            thread::sleep(Duration::from_millis(2));
        }
        let mut answer = [0; 10];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"xxxxxxxxxx");
        // Ten chunks sent back to back arrive about one round trip later, not ten.
        let elapsed = started.elapsed();
        assert!(elapsed >= round_trip, "{elapsed:?}");
        assert!(elapsed < 5 * round_trip, "{elapsed:?}");
    }

    #[test]
    fn a_closed_upstream_closes_the_client() {
        let upstream = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = upstream.local_addr().unwrap();
        drop(upstream);
        let proxy = LatencyProxy::start(addr, Duration::from_millis(10)).unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        let mut buf = [0; 1];
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(stream.read(&mut buf).unwrap(), 0);
    }
}
