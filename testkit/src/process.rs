//! Child processes that die with the process that started them, and the small helpers around
//! starting them.
//!
//! What must stay true: a child started by [`spawn_tied_to_process`] gets SIGKILL when this
//! process ends, however it ends, even when its handle sits in a static and is never dropped.
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child ends, not the process, and
//! test threads end after each test: so every such child is forked by one spawner thread that
//! lives as long as the process.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{OnceLock, mpsc};
use std::thread;

/// A program on `PATH`, or in `/usr/bin` or `/usr/sbin` (where Debian packages put them even
/// when `PATH` leaves those out).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `bytes` random bytes as lowercase hex, from the kernel's CSPRNG.
///
/// # Errors
///
/// When `/dev/urandom` cannot be read.
pub fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` so that it gets SIGKILL when this process ends, however it ends (on Linux; see
/// the module docs for why one thread forks them all).
///
/// # Errors
///
/// When the program cannot be started.
pub fn spawn_tied_to_process(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("testkit-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    drop(reply.send(cmd.spawn()));
                }
            })
            .expect("start spawner thread");
        tx
    });
    die_with_parent(&mut cmd);
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("spawner thread gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread gone"))?
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // The workspace denies it; `pre_exec` is the only way to set the signal.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // system calls (prctl, getppid, _exit); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl: then nobody would kill us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Elsewhere there is no such signal: the child dies with its handle only.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path_and_in_usr_bin() {
        assert!(find_program("sh").is_some());
        assert!(find_program("xtask-test-no-such-program").is_none());
    }

    #[test]
    fn random_hex_is_hex_of_the_length_asked() {
        let hex = random_hex(16).unwrap();
        assert_eq!(hex.len(), 32);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{hex}");
        assert_ne!(hex, random_hex(16).unwrap());
    }

    #[test]
    fn children_spawn_from_any_thread() {
        let status = thread::spawn(|| {
            spawn_tied_to_process(Command::new("true"))
                .unwrap()
                .wait()
                .unwrap()
        })
        .join()
        .unwrap();
        assert!(status.success());
    }
}
