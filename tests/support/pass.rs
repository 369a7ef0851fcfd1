//! A real `docker-credential-pass` store (Debian `golang-docker-credential-helpers` 0.6.4 on top
//! of `pass` and `gpg`) in a temp dir, for the credential-helper tests.
//!
//! Set-up: a throwaway GNUPGHOME with a batch-generated ed25519/cv25519 key without passphrase
//! (`%no-protection`; ed25519 takes milliseconds where RSA takes seconds), and `pass init KEYID`
//! with PASSWORD_STORE_DIR inside the temp dir. Neither `pass` nor the helper needs HOME once
//! GNUPGHOME and PASSWORD_STORE_DIR are set.
//!
//! What docker-credential-pass 0.6.4 does on a miss (checked on Debian 12): `get` of a server
//! URL it does not hold exits **0** and prints `{"ServerURL":"<the url>","Username":"","Secret":""}`
//! (and a newline) with nothing on stderr. A client must read empty `Username` and `Secret` as "not
//! found", not as credentials. (`erase` of a missing key, by contrast, exits 1 with
//! `... is not in the password store.`) Keys are exact strings: `https://h` and `h` differ.
//!
//! What must stay true: the gpg-agent that gpg starts for this GNUPGHOME is killed on drop
//! (`gpgconf --homedir DIR --kill all`), so no agent outlives its test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::{require_tool, set_mode, write_file};

/// A `docker-credential-pass` store with its own gpg key; removed (agent killed) on drop.
pub struct PassStore {
    dir: tempfile::TempDir,
    gnupg_home: PathBuf,
    store_dir: PathBuf,
    key_id: String,
}

impl PassStore {
    /// Creates the gpg key and the password store.
    pub fn new() -> PassStore {
        let gpg = require_tool("gpg", "gnupg");
        require_tool("pass", "pass");
        require_tool("docker-credential-pass", "golang-docker-credential-helpers");
        // A short path: gpg-agent's socket lives in GNUPGHOME, and a Unix socket path must fit
        // in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("wasm-e2e-pass-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let gnupg_home = dir.path().join("g");
        let store_dir = dir.path().join("store");
        std::fs::create_dir_all(&gnupg_home).expect("create GNUPGHOME");
        set_mode(&gnupg_home, 0o700);
        let params = dir.path().join("key-params");
        write_file(
            &params,
            b"%no-protection\n\
              Key-Type: EDDSA\nKey-Curve: ed25519\n\
              Subkey-Type: ECDH\nSubkey-Curve: cv25519\n\
              Name-Real: wasm e2e\nName-Email: e2e@example.invalid\n\
              Expire-Date: 0\n%commit\n",
        );
        let mut store = PassStore {
            dir,
            gnupg_home,
            store_dir,
            key_id: String::new(),
        };
        let mut gen_key = store.command(&gpg);
        gen_key.args(["--batch", "--gen-key"]).arg(&params);
        run(gen_key, None);
        let mut list = store.command(&gpg);
        list.args(["--batch", "--with-colons", "--list-secret-keys"]);
        let listing = run(list, None);
        store.key_id = listing
            .lines()
            .find_map(|line| {
                line.strip_prefix("fpr:")
                    .map(|rest| rest.trim_matches(':').to_string())
            })
            .expect("fingerprint of the generated key");
        let mut init = store.command(Path::new("pass"));
        init.args(["init", &store.key_id]);
        run(init, None);
        store
    }

    /// The variables that make `pass` (and so `docker-credential-pass`) use this store: pass
    /// them to the `wasm` command ([`super::Sandbox::use_pass_store`]).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "GNUPGHOME".to_string(),
                self.gnupg_home.display().to_string(),
            ),
            (
                "PASSWORD_STORE_DIR".to_string(),
                self.store_dir.display().to_string(),
            ),
        ]
    }

    /// The gpg key's fingerprint.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The password store directory (one entry per server URL, under `docker-credential-helpers/`).
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// Stores credentials as `docker login` would (`docker-credential-pass store`).
    pub fn store(&self, server_url: &str, username: &str, secret: &str) {
        let input = json!({"ServerURL": server_url, "Username": username, "Secret": secret});
        self.helper("store", input.to_string().as_bytes());
    }

    /// `docker-credential-pass get` for `server_url`: the helper's JSON answer (on a miss,
    /// empty `Username` and `Secret`; see the module docs).
    pub fn get(&self, server_url: &str) -> Value {
        let out = self.helper("get", server_url.as_bytes());
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("docker-credential-pass get: {e}: {out}"))
    }

    /// `docker-credential-pass list`: `{server URL: username}`.
    pub fn list(&self) -> Value {
        let out = self.helper("list", b"");
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("docker-credential-pass list: {e}: {out}"))
    }

    /// `docker-credential-pass erase` for `server_url` (panics if it is not stored).
    pub fn erase(&self, server_url: &str) {
        self.helper("erase", server_url.as_bytes());
    }

    fn helper(&self, action: &str, stdin: &[u8]) -> String {
        let mut cmd = self.command(Path::new("docker-credential-pass"));
        cmd.arg(action);
        run(cmd, Some(stdin))
    }

    /// A command with only PATH, GNUPGHOME, PASSWORD_STORE_DIR and LANG set.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("LANG", "C")
            .envs(self.env())
            .current_dir(self.dir.path());
        cmd
    }
}

impl Drop for PassStore {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.gnupg_home)
            .args(["--kill", "all"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `cmd` to the end, panicking with its stderr (never its stdout, which may hold a secret)
/// on failure; returns stdout.
fn run(mut cmd: Command, stdin: Option<&[u8]>) -> String {
    use std::io::Write as _;
    let description = format!(
        "{:?} {:?}",
        cmd.get_program(),
        cmd.get_args().collect::<Vec<_>>()
    );
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {description}: {e}"));
    let mut pipe = child.stdin.take().expect("piped stdin");
    if let Some(bytes) = stdin {
        drop(pipe.write_all(bytes));
    }
    drop(pipe);
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for {description}: {e}"));
    assert!(
        output.status.success(),
        "{description} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
