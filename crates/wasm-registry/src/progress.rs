//! Progress reporting of transfers, without tying the library to a terminal.
//!
//! The CLI implements [`Progress`] with progress bars on stderr; tests and `-q` use
//! [`NoProgress`].

/// Receives progress of one transfer at a time.
pub trait Progress: Send + Sync {
    /// A transfer of `total` bytes starts.
    fn begin(&self, label: &str, total: u64);
    /// `n` more bytes were transferred.
    fn advance(&self, n: u64);
    /// The transfer ended.
    fn end(&self);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}
