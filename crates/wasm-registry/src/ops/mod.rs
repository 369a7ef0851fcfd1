//! The operations on Wasm artifacts, each on a [`crate::Session`]: `push`, `pull`, `inspect`
//! and `tags` (and what the package manager asks besides: a tag's manifest without its layer),
//! the same on image layouts (`local`), `copy` between both, `wasm login`'s check of a password, and the discovery documents of package names.

pub(crate) mod copy;
pub(crate) mod discovery;
pub(crate) mod local;
pub(crate) mod login;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod query;
pub(crate) mod referrers;
