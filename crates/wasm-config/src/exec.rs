//! Running an external command with a timeout: credential helpers from the config file
//! ([`run_shell`]) and Docker credential helpers, `docker-credential-NAME` ([`run_program`]).
//!
//! What must stay true:
//! - stdout may hold a secret: it is returned only inside a [`Secret`] and never logged;
//! - a command that hangs cannot hang `wasm`. At the timeout the command is killed together with
//!   everything it started: on Unix it runs in its own process group and the whole group gets
//!   `SIGKILL`; the function then returns at once, without waiting for pipes that a process
//!   outside the group might still hold open;
//! - no polling: threads read the pipes and wait for the child, and the caller blocks on a
//!   channel with a deadline.

use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::ExecError;
use crate::secret::Secret;

/// The exit status with which the shell reports that it did not find the command.
pub(crate) const SHELL_NOT_FOUND: i32 = if cfg!(windows) { 9009 } else { 127 };

/// How much of stderr is kept; the rest is read and dropped.
const STDERR_CAP: usize = 4096;

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit code; -1 if the command was killed by a signal.
    pub status: i32,
    /// Everything the command printed on stdout.
    pub stdout: Secret<Vec<u8>>,
    /// What the command printed on stderr: lossy UTF-8, trimmed, at most 4 KiB (followed by
    /// `[...]` when cut).
    pub stderr: String,
}

/// Runs `command` with the shell (`sh -c COMMAND`, `cmd /C COMMAND` on Windows).
///
/// `stdin` is written to the command and then closed; `None` gives it no stdin at all. The
/// environment is inherited. A command the shell cannot find exits with status 127 (9009 on
/// Windows); that is an ordinary [`CommandOutput`], for the caller to explain.
pub fn run_shell(
    command: &str,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<CommandOutput, ExecError> {
    let (program, cmd) = shell_command(command);
    run(cmd, program, command.to_owned(), stdin, timeout)
}

/// Runs `program` (looked up on `PATH`) with `args`, without a shell; otherwise like
/// [`run_shell`]. A program that does not exist is [`ExecError::NotFound`].
pub fn run_program(
    program: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<CommandOutput, ExecError> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let label = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    run(cmd, program, label, stdin, timeout)
}

#[cfg(not(windows))]
fn shell_command(command: &str) -> (&'static str, Command) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command);
    ("sh", cmd)
}

#[cfg(windows)]
fn shell_command(command: &str) -> (&'static str, Command) {
    use std::os::windows::process::CommandExt;
    let mut cmd = Command::new("cmd");
    // `cmd` does its own parsing of the rest of the line: pass it through unquoted.
    cmd.arg("/C").raw_arg(command);
    ("cmd", cmd)
}

/// One thing a helper thread has to report.
enum Event {
    Stdin(io::Result<()>),
    Stdout(io::Result<Vec<u8>>),
    Stderr(io::Result<String>),
    Exited(io::Result<ExitStatus>),
}

/// Why [`collect`] gave up.
enum Abort {
    TimedOut,
    Io(io::Error),
}

fn run(
    mut cmd: Command,
    program: &str,
    label: String,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<CommandOutput, ExecError> {
    let deadline = Instant::now() + timeout;
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }

    tracing::debug!(command = %label, "running");
    let child = cmd.spawn().map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            ExecError::NotFound {
                program: program.to_owned(),
            }
        } else {
            ExecError::Io {
                command: label.clone(),
                source,
            }
        }
    })?;
    let pid = child.id();
    let (events, pending) = start_threads(child, stdin);
    match collect(&events, pending, deadline) {
        Ok(output) => {
            tracing::debug!(command = %label, status = output.status, "finished");
            Ok(output)
        }
        Err(abort) => {
            // Return now: the threads end on their own once the killed processes' pipes close.
            kill_tree(pid);
            Err(match abort {
                Abort::TimedOut => {
                    tracing::debug!(command = %label, ?timeout, "timed out and killed");
                    ExecError::TimedOut {
                        command: label,
                        after: timeout,
                    }
                }
                Abort::Io(source) => ExecError::Io {
                    command: label,
                    source,
                },
            })
        }
    }
}

/// Starts one thread per pipe and one waiting for `child`; returns where they report and how
/// many reports to expect.
fn start_threads(mut child: Child, stdin: Option<&[u8]>) -> (Receiver<Event>, usize) {
    let (tx, rx) = mpsc::channel();
    let mut pending = 0;
    let mut spawn = |job: Box<dyn FnOnce() -> Event + Send>| {
        let tx = tx.clone();
        pending += 1;
        thread::spawn(move || {
            // The receiver is gone once the caller has given up; nothing to do then.
            let _ = tx.send(job());
        });
    };
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_vec();
        spawn(Box::new(move || {
            // The pipe closes when `pipe` drops. A command that exits without reading all of
            // its input is not an error.
            Event::Stdin(match pipe.write_all(&input) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other,
            })
        }));
    }
    if let Some(mut pipe) = child.stdout.take() {
        spawn(Box::new(move || {
            let mut buf = Vec::new();
            Event::Stdout(pipe.read_to_end(&mut buf).map(|_| buf))
        }));
    }
    if let Some(pipe) = child.stderr.take() {
        spawn(Box::new(move || Event::Stderr(read_capped(pipe))));
    }
    spawn(Box::new(move || Event::Exited(child.wait())));
    (rx, pending)
}

/// Gathers the threads' reports until all are in or `deadline` passes.
fn collect(
    events: &Receiver<Event>,
    mut pending: usize,
    deadline: Instant,
) -> Result<CommandOutput, Abort> {
    let mut output = CommandOutput {
        status: -1,
        stdout: Secret::new(Vec::new()),
        stderr: String::new(),
    };
    while pending > 0 {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let event = events.recv_timeout(remaining).map_err(|e| match e {
            RecvTimeoutError::Timeout => Abort::TimedOut,
            RecvTimeoutError::Disconnected => {
                Abort::Io(io::Error::other("a thread watching the command stopped"))
            }
        })?;
        pending -= 1;
        match event {
            Event::Stdin(result) => result,
            Event::Stdout(result) => result.map(|bytes| output.stdout = Secret::new(bytes)),
            Event::Stderr(result) => result.map(|text| output.stderr = text),
            Event::Exited(result) => {
                result.map(|status| output.status = status.code().unwrap_or(-1))
            }
        }
        .map_err(Abort::Io)?;
    }
    Ok(output)
}

/// Reads all of `pipe`, keeping the first [`STDERR_CAP`] bytes as trimmed lossy UTF-8.
fn read_capped(pipe: impl Read) -> io::Result<String> {
    let mut pipe = pipe;
    let mut kept = Vec::new();
    (&mut pipe).take(STDERR_CAP as u64).read_to_end(&mut kept)?;
    let dropped = io::copy(&mut pipe, &mut io::sink())?;
    let mut text = String::from_utf8_lossy(&kept).trim().to_owned();
    if dropped > 0 {
        text.push_str(" [...]");
    }
    Ok(text)
}

/// Kills the process group led by `pid`: the command and everything it started.
#[cfg(unix)]
fn kill_tree(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) only takes integers and touches no memory of this process. The child was
    // spawned with `process_group(0)`, so `-pid` names its group and not ours. The group id
    // cannot be reused while any process of the group lives, and the waiter thread has not
    // reaped the child unless it exited, so this hits our command's processes (at worst, none).
    #[allow(unsafe_code)]
    let result = unsafe { libc::kill(-pid, libc::SIGKILL) };
    if result != 0 {
        // ESRCH: everything already exited.
        tracing::debug!(pid, error = %io::Error::last_os_error(), "kill of process group failed");
    }
}

/// Kills the process tree rooted at `pid`; Windows has no process groups to signal.
#[cfg(windows)]
fn kill_tree(pid: u32) {
    let result = Command::new("taskkill")
        .args(["/T", "/F", "/PID", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(error) = result {
        tracing::debug!(pid, %error, "taskkill failed");
    }
}

// These tests run `sh`.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(20);

    #[test]
    fn captures_stdout_stderr_and_status() {
        let out = run_shell("printf 'out\\n'; printf ' err \\n' >&2; exit 3", None, LONG).unwrap();
        assert_eq!(out.status, 3);
        assert_eq!(out.stdout.expose(), b"out\n");
        assert_eq!(out.stderr, "err");
    }

    #[test]
    fn passes_stdin_then_closes_it() {
        let out = run_shell("cat; echo done", Some(b"ghcr.io\n"), LONG).unwrap();
        assert_eq!(out.status, 0);
        assert_eq!(out.stdout.expose(), b"ghcr.io\ndone\n");
    }

    #[test]
    fn no_stdin_means_an_empty_stdin() {
        let out = run_shell("cat", None, LONG).unwrap();
        assert_eq!((out.status, out.stdout.expose().len()), (0, 0));
    }

    #[test]
    fn stdin_that_is_not_read_is_fine() {
        let big = vec![b'x'; 1 << 20];
        let out = run_shell("exit 0", Some(&big), LONG).unwrap();
        assert_eq!(out.status, 0);
    }

    #[test]
    fn inherits_the_environment() {
        // PATH is always set for tests; the child must see the same value.
        let out = run_shell("printf %s \"$PATH\"", None, LONG).unwrap();
        let path = std::env::var("PATH").unwrap();
        assert_eq!(out.stdout.expose(), path.as_bytes());
    }

    #[test]
    fn stderr_is_capped() {
        let out = run_shell("head -c 100000 /dev/zero | tr '\\0' e >&2", None, LONG).unwrap();
        assert_eq!(out.stderr.len(), STDERR_CAP + " [...]".len());
        assert!(out.stderr.ends_with("e [...]"));
    }

    #[test]
    fn missing_command_in_shell_is_status_127() {
        let out = run_shell("wasm-test-no-such-program-xyz", None, LONG).unwrap();
        assert_eq!(out.status, SHELL_NOT_FOUND);
        assert!(
            out.stderr.contains("wasm-test-no-such-program-xyz"),
            "{}",
            out.stderr
        );
    }

    #[test]
    fn run_program_uses_no_shell() {
        let out = run_program("printf", &["%s|", "a b", "$HOME"], None, LONG).unwrap();
        assert_eq!(out.stdout.expose(), b"a b|$HOME|");
    }

    #[test]
    fn run_program_not_found() {
        let err =
            run_program("docker-credential-wasm-test-nope", &["get"], None, LONG).unwrap_err();
        assert!(
            matches!(&err, ExecError::NotFound { program } if program == "docker-credential-wasm-test-nope")
        );
        assert_eq!(
            err.to_string(),
            "`docker-credential-wasm-test-nope` was not found: is it installed and on PATH?"
        );
    }

    #[test]
    fn killed_by_signal_is_status_minus_one() {
        let out = run_shell("kill -9 $$", None, LONG).unwrap();
        assert_eq!(out.status, -1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn timeout_kills_the_whole_group_promptly() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // The shell starts a grandchild that holds stdout open, then waits for it.
        let command = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
        let started = Instant::now();
        let err = run_shell(&command, None, Duration::from_millis(200)).unwrap_err();
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
        assert_eq!(
            err.to_string(),
            format!("`{command}` did not finish within 0.2 s and was stopped")
        );

        let pid: u32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SIGKILL is delivered asynchronously; give the kernel a moment. A zombie (state Z)
        // waiting for init to reap it counts as gone.
        let gone = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z'),
        };
        let until = Instant::now() + Duration::from_secs(2);
        while !gone() && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(gone(), "grandchild {pid} still running");
    }

    #[test]
    fn stdout_debug_is_redacted() {
        let out = run_shell("printf hunter2", None, LONG).unwrap();
        assert_eq!(
            format!("{out:?}"),
            "CommandOutput { status: 0, stdout: Secret(<redacted>), stderr: \"\" }"
        );
    }
}
