//! The local registry of the demo and the benchmark, and the `registry` command that serves one
//! until Ctrl-C. Starting, probing and stopping it is [`wasm_testkit`]'s job, shared with the
//! end-to-end tests.
//!
//! What must stay true:
//! - plain HTTP on 127.0.0.1 only (no auth, or token auth with `--token`): it is for the demo,
//!   benchmarks and manual tries, never reachable from another host;
//! - the process never outlives its [`LocalRegistry`]: dropping the handle kills it, then
//!   removes its temporary directory (a `--dir` given by the user is kept);
//! - Ctrl-C while it starts stops the start ([`interrupt::requested`]).

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use wasm_testkit::{AclRule, Auth, LatencyProxy, Launcher, LocalRegistry, Log, TokenServer};

use crate::{deps, interrupt};

/// Starts a registry on a free port in a new temporary directory, logging to a file there, and
/// waits until it answers.
///
/// # Errors
///
/// When it cannot start; the error carries the end of its log.
pub(crate) fn start() -> Result<LocalRegistry> {
    Launcher::new()
        .with_cancel(interrupt::requested)
        .start()
        .context("could not start the local registry")
}

/// `cargo xtask registry`: serve a local plain-HTTP registry on 127.0.0.1 until Ctrl-C.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
#[command(after_help = "Examples:
  cargo xtask registry                                  a free port, a temporary directory
  cargo xtask registry --port 5000 --dir /tmp/registry  a fixed port, storage kept
  cargo xtask registry --latency-ms 50                  and a second port 50 ms away")]
pub(crate) struct Options {
    /// Listen on port N [default, or 0: a free port]
    #[arg(long, value_name = "N")]
    pub(crate) port: Option<u16>,
    /// Keep config.yml and storage/ in DIR [default: a temporary directory]
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Also serve it MS milliseconds of round trip away, through a delay-injecting proxy on
    /// another port, as a registry on the internet is
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u16).range(1..=2000))]
    pub(crate) latency_ms: Option<u16>,
    /// Token auth, as GHCR and Docker Hub do it: a token server on another port, user `demo`
    /// with a password printed at start (behind the same latency with --latency-ms)
    #[arg(long)]
    pub(crate) token: bool,
}

/// Serves a registry in the foreground until Ctrl-C, its log on our output.
///
/// # Errors
///
/// When it cannot start, or exits by itself.
pub(crate) fn serve(options: Options) -> Result<()> {
    interrupt::install()?;
    deps::ensure(&[deps::DOCKER_REGISTRY])?;
    let mut launcher = Launcher::new()
        .with_port(options.port.unwrap_or(0))
        .with_log(Log::Inherit)
        .with_cancel(interrupt::requested);
    if let Some(dir) = options.dir {
        launcher = launcher.with_dir(dir);
    }
    let round_trip = options
        .latency_ms
        .map(|ms| Duration::from_millis(u64::from(ms)));
    let mut token = None;
    if options.token {
        let password = wasm_testkit::random_hex(8).context("could not read /dev/urandom")?;
        let server = TokenServer::start(
            &[("demo", password.as_str())],
            vec![AclRule::user("demo", "", &["*"])],
        );
        // The realm the registry names is what clients call: far away too, with --latency-ms.
        let proxy = match round_trip {
            Some(round_trip) => Some(
                LatencyProxy::start(server.host().parse()?, round_trip)
                    .context("could not start the token server's latency proxy")?,
            ),
            None => None,
        };
        let realm = match &proxy {
            Some(proxy) => format!("http://{}/token", proxy.addr()),
            None => server.realm(),
        };
        launcher = launcher.with_auth(Auth::Token {
            realm: realm.clone(),
            service: TokenServer::SERVICE.to_owned(),
            issuer: TokenServer::ISSUER.to_owned(),
            root_cert_bundle: server.cert_pem_path().to_path_buf(),
        });
        println!("token server: {realm} (user demo, password {password})");
        token = Some((server, proxy));
    }
    let mut registry = launcher.start()?;
    let host = registry.addr();
    let kept = if registry.is_temporary() {
        "removed on exit"
    } else {
        "kept"
    };
    let auth = if token.is_some() {
        "token auth"
    } else {
        "no auth"
    };
    println!("registry: http://{host} (plain HTTP, {auth})");
    let proxy = match round_trip {
        Some(round_trip) => {
            let proxy = LatencyProxy::start(host, round_trip)
                .context("could not start the latency proxy")?;
            println!(
                "far away: http://{} (the same registry, {} ms round trip)",
                proxy.addr(),
                round_trip.as_millis()
            );
            Some(proxy)
        }
        None => None,
    };
    println!("storage:  {} ({kept})", registry.storage().display());
    println!("config:   {}", registry.config_path().display());
    println!("try:      wasm push {host}/demo/hello:1.0.0 examples/hello.wasm");
    println!("press Ctrl-C to stop");
    loop {
        if interrupt::requested() {
            break;
        }
        let exited = registry
            .try_wait()
            .context("could not check on docker-registry")?;
        if let Some(status) = exited {
            // It got the same Ctrl-C as we did, maybe before our handler ran.
            if interrupt::requested() {
                break;
            }
            bail!("docker-registry exited ({status})");
        }
        thread::sleep(Duration::from_millis(100));
    }
    println!("stopping the registry");
    drop(proxy);
    drop(registry);
    drop(token);
    Ok(())
}
