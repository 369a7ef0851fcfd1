//! `wasm self config` and bad config input.
