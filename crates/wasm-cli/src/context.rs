//! What every command that needs configuration builds first: the loaded config, the
//! credential chain over it, and the transport.

use std::sync::Arc;

use anyhow::Context as _;
use wasm_config::{Config, LoadOptions};
use wasm_registry::{
    Cache, CredentialChain, RetryPolicy, StoreLocations, Transport, TransportOptions,
};

use crate::cli::{GlobalOpts, NetworkOpts, RegistryOpts};
use crate::output;

/// Loads the configuration the global flags point at, and warns on stderr about each file
/// whose settings were ignored because it is not trusted.
pub(crate) fn load_config(global: &GlobalOpts) -> anyhow::Result<Config> {
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    let config = Config::load(&LoadOptions {
        explicit: global.config.clone(),
        cwd,
        trust_store: wasm_config::trust_store_path(),
    })?;
    for warning in config.files.iter().filter_map(|f| f.trust_warning()) {
        output::warning(&warning);
    }
    Ok(config)
}

/// The credential chain over the configuration and the stores the environment names.
pub(crate) fn chain(global: &GlobalOpts) -> anyhow::Result<Arc<CredentialChain>> {
    let config = load_config(global)?;
    Ok(Arc::new(CredentialChain::new(
        Arc::new(config),
        StoreLocations::from_env(),
    )))
}

/// A transport for commands that talk to registries.
pub(crate) fn transport(
    global: &GlobalOpts,
    opts: &RegistryOpts,
    network: Option<&NetworkOpts>,
) -> anyhow::Result<Transport> {
    Ok(Transport::new(
        chain(global)?,
        TransportOptions {
            plain_http: opts.plain_http,
            insecure: opts.insecure,
            retry: RetryPolicy {
                attempts: network.map_or(RetryPolicy::default().attempts, |n| n.retries),
                ..RetryPolicy::default()
            },
            timeout: network.map_or(TransportOptions::default().timeout, |n| {
                std::time::Duration::from_secs(n.timeout)
            }),
        },
    )
    .with_cache(Cache::default_location()))
}

/// A single-threaded runtime: these commands wait on the network, not the CPU.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
