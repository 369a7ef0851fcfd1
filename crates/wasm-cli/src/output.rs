//! Everything the binary prints: logs, progress bars, data on stdout, and the one error report.
//!
//! What must stay true: data goes to stdout, everything else to stderr; `-q` leaves only errors;
//! nothing printed here contains a secret (secrets are `Secret`s, which cannot be displayed).

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;
use wasm_registry::{Progress, RegistryError};

use crate::cli::{ColorChoice, GlobalOpts};

static QUIET: AtomicBool = AtomicBool::new(false);
static COLOR: AtomicBool = AtomicBool::new(false);

/// Exit status: a general error.
pub(crate) const EXIT_ERROR: u8 = 1;
/// Exit status: a credential problem (none found, rejected, not allowed, a failing source).
pub(crate) const EXIT_CREDENTIALS: u8 = 3;
/// Exit status: the registry could not be reached (refused, DNS, TLS, HTTP/HTTPS mismatch).
pub(crate) const EXIT_NETWORK: u8 = 4;

/// The text every command's `--help` shows about exit statuses.
pub(crate) const EXIT_STATUS_HELP: &str = "Exit status:
  0  success
  1  error (bad input, not found, not a Wasm artifact, ...)
  2  wrong usage
  3  credential problem: none found, rejected, not allowed, or a credential source failing
  4  network problem: connection refused, DNS, TLS, plain HTTP vs HTTPS";

/// `after_help` text: examples, then [`EXIT_STATUS_HELP`].
pub(crate) fn with_exit_status(examples: &str) -> String {
    format!("{examples}\n\n{EXIT_STATUS_HELP}")
}

pub(crate) fn init(global: &GlobalOpts) {
    QUIET.store(global.quiet, Ordering::Relaxed);
    let color = match global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    COLOR.store(color, Ordering::Relaxed);
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        // Other crates' logs (rustls, reqwest, hyper) only from -vv on: their errors are
        // reported once, by `main`, with what to do.
        (false, 0) => "wasm=warn,wasm_package=warn,wasm_registry=warn,wasm_config=warn",
        (false, 1) => "warn,wasm=info,wasm_package=info,wasm_registry=info,wasm_config=info",
        (false, 2) => "info,wasm=debug,wasm_package=debug,wasm_registry=debug,wasm_config=debug",
        (false, _) => "debug,wasm=trace,wasm_registry=trace,wasm_config=trace,wasm_package=trace",
    };
    let filter = EnvFilter::try_from_env("WASM_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(global.verbose >= 2)
        .without_time()
        .try_init();
}

pub(crate) fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

fn paint(text: &str, code: &str) -> String {
    if COLOR.load(Ordering::Relaxed) {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Bold green, for success marks.
pub(crate) fn good(text: &str) -> String {
    paint(text, "1;32")
}

/// Bold red, for failures.
pub(crate) fn bad(text: &str) -> String {
    paint(text, "1;31")
}

/// Bold, for headings.
pub(crate) fn bold(text: &str) -> String {
    paint(text, "1")
}

/// A status line on stderr, unless `-q`.
pub(crate) fn status(line: &str) {
    if !quiet() {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// `warning: ...` on stderr, unless `-q`.
pub(crate) fn warning(text: &str) {
    if !quiet() {
        let _ = writeln!(std::io::stderr(), "{} {text}", paint("warning:", "1;33"));
    }
}

/// Stdout was closed by its reader (`wasm tags | head`): `main` ends quietly on this error.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub(crate) struct StdoutClosed;

/// Data on stdout. A closed pipe becomes [`StdoutClosed`], which `main` ends on quietly.
pub(crate) fn data(text: &str) -> anyhow::Result<()> {
    let write = || -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
    };
    match write() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        other => Ok(other?),
    }
}

/// JSON on stdout.
pub(crate) fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    data(&serde_json::to_string_pretty(value)?)
}

/// Prints `error: ...` and its causes, each once.
pub(crate) fn report_error(err: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{} {err}", bad("error:"));
    let mut shown = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if shown.contains(&text) {
            continue;
        }
        let _ = writeln!(stderr, "  {} {text}", bold("caused by:"));
        shown.push_str(&text);
    }
}

/// The exit status for an error: see [`EXIT_STATUS_HELP`].
pub(crate) fn exit_code_of(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<RegistryError>() {
            return match e {
                RegistryError::Credentials(_)
                | RegistryError::NoCredentials { .. }
                | RegistryError::Rejected { .. }
                | RegistryError::LoginRejected { .. }
                | RegistryError::Denied { .. }
                | RegistryError::CleartextCredentials { .. }
                | RegistryError::UnsafeRealm { .. } => EXIT_CREDENTIALS,
                RegistryError::ConnectionRefused { .. }
                | RegistryError::Dns { .. }
                | RegistryError::Untrusted { .. }
                | RegistryError::NotTls { .. }
                | RegistryError::NeedsTls { .. }
                | RegistryError::Stalled { .. } => EXIT_NETWORK,
                _ => EXIT_ERROR,
            };
        }
        if cause.downcast_ref::<wasm_registry::ChainError>().is_some()
            || cause.downcast_ref::<wasm_registry::StoreError>().is_some()
        {
            return EXIT_CREDENTIALS;
        }
    }
    EXIT_ERROR
}

/// Progress bars on stderr when it is a terminal and not `-q`.
pub(crate) struct Bars {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl Bars {
    pub(crate) fn new() -> Self {
        Self {
            bar: std::sync::Mutex::new(None),
            enabled: !quiet() && std::io::stderr().is_terminal(),
        }
    }
}

impl Progress for Bars {
    fn begin(&self, label: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        *self.bar.lock().expect("poisoned") = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = self.bar.lock().expect("poisoned").as_ref() {
            bar.inc(n);
        }
    }

    fn end(&self) {
        if let Some(bar) = self.bar.lock().expect("poisoned").take() {
            bar.finish_and_clear();
        }
    }
}

/// `1.2 MiB`-style sizes.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
