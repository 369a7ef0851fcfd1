//! End-to-end tests of the `wasm` binary against real registry processes.
//!
//! One test binary, so that the shared registries of [`support::registry`] are started once.
//!
//! - [`cache`]: the local cache, re-push/re-pull without blob transfers, batches, memory.
//! - [`cli`]: help texts, version, usage errors, the sample component.
//! - [`config`]: `wasm self config` and every bad config input.
//! - [`connections`]: the requests of a push and a pull counted; the scheme learnt once.
//! - [`copy`]: `wasm copy` between two registries and image layouts, mounts, interrupted
//!   copies, skopeo interop, bad layouts.
//! - [`credentials`]: the credential chain with real helpers, stores and files.
//! - [`diagnose`]: `wasm registry test`, one test per verdict, against real registries.
//! - [`faults`]: transient and persistent network faults (through a fault-injecting proxy) and
//!   hostile registries: retries, timeouts, clean refusals, nothing half-written.
//! - [`interop`]: oci-wasm (what wkg uses) reads what `wasm` writes, and the reverse.
//! - [`login`]: `wasm login`/`logout` with real stores, identity tokens, token renewal.
//! - [`packages`]: the package manager: resolution, the name mapping with discovery, the lock's
//!   guarantees, `publish` immutability, every bad input.
//! - [`push_pull`]: pushing and pulling against anonymous, Basic-over-TLS and token registries.
//! - [`referrers`]: `attach`, `discover` and `copy -r` with the tag schema on real registries,
//!   the Referrers API on a fake one.
//! - [`trust`]: project configs run no command and weaken no TLS setting until trusted.
//! - [`wit`]: WIT interface packages: `wit fetch` of a chain and a diamond through discovery,
//!   the lock's guarantees, `add`/`install`/`build`/`publish`, bad inputs, wkg interop.

mod support;

mod cache;
mod cli;
mod config;
mod connections;
mod copy;
mod credentials;
mod diagnose;
mod faults;
mod interop;
mod login;
mod packages;
mod push_pull;
mod referrers;
mod trust;
mod wit;
