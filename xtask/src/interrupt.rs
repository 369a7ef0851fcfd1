//! Ctrl-C for the commands that own a registry process and temporary directories.
//!
//! Without a handler, Ctrl-C would end this process before the `Drop`s that stop the registry
//! and delete its directory. With [`install`], the first SIGINT or SIGTERM only sets a flag: the
//! children in our process group get the same Ctrl-C and stop, the command notices (a failed
//! step, or [`requested`] in a wait loop) and unwinds normally. A second signal ends the process
//! at once with status 130, as a shell would, for when the unwinding itself hangs.
//!
//! `ci` does not install it: nothing there needs cleaning up, and the default is the right
//! behaviour for cargo.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context as _, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

/// The exit status after an interruption, as shells report 128 + SIGINT.
pub(crate) const EXIT_STATUS: u8 = 130;

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Turns the first SIGINT or SIGTERM into a flag, and the second into an immediate exit.
///
/// # Errors
///
/// When a handler cannot be registered.
pub(crate) fn install() -> Result<()> {
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for signal in [SIGINT, SIGTERM] {
        // Handlers run in registration order: the shutdown check must see the flag as it was
        // before this signal sets it (signal-hook's documented double Ctrl-C pattern).
        signal_hook::flag::register_conditional_shutdown(
            signal,
            i32::from(EXIT_STATUS),
            Arc::clone(flag),
        )
        .context("could not install the Ctrl-C handler")?;
        signal_hook::flag::register(signal, Arc::clone(flag))
            .context("could not install the Ctrl-C handler")?;
    }
    Ok(())
}

/// Whether a SIGINT or SIGTERM has arrived since [`install`].
pub(crate) fn requested() -> bool {
    FLAG.get().is_some_and(|flag| flag.load(Ordering::SeqCst))
}
