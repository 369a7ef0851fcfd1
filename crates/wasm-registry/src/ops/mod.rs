//! The operations on Wasm artifacts, each on a [`crate::Session`]: `push`, `pull`, `inspect`
//! and `tags`, and `wasm login`'s check of a password.

pub(crate) mod login;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod query;
