//! The credential-helper protocol of the config file: run the configured command(s), read a
//! username and a password from what they print.
//!
//! Two forms (see [`CredentialHelper`]):
//! - JSON: one command printing a JSON array of field objects, as
//!   `op item get ITEM --format json --fields username,password` (1Password CLI) does. The
//!   fields are found by `id` `username` and `password` (ASCII case-insensitive), or by `label`
//!   when the `id` is something else (1Password gives custom fields random ids); other keys
//!   are ignored;
//! - split: two commands, each printing one value; surrounding whitespace is trimmed.
//!
//! What must stay true: the helpers' stdout holds the password, so it is never logged and never
//! quoted in an error, not even in part (errors describe its shape: line and column, the ids
//! found). Only the command, its exit status and its stderr appear in messages.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::error::{ExecError, HelperError, HelperOutputError};
use crate::exec::{SHELL_NOT_FOUND, run_shell};
use crate::model::CredentialHelper;
use crate::secret::Secret;

/// Credentials from a credential helper.
#[derive(Clone, PartialEq, Eq)]
pub struct UsernamePassword {
    /// The username (not secret: it appears in `Debug`).
    pub username: String,
    /// The password or token.
    pub password: Secret<String>,
}

impl fmt::Debug for UsernamePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsernamePassword")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// Runs `helper` and returns the credentials it printed.
///
/// Each command runs with the shell, with no stdin, and may take up to `timeout` (for the split
/// form, each of the two). The error names the command but not the registry: add that.
pub fn run_credential_helper(
    helper: &CredentialHelper,
    timeout: Duration,
) -> Result<UsernamePassword, HelperError> {
    match helper {
        CredentialHelper::Json { command } => {
            let stdout = run_helper_command(command, timeout)?;
            parse_json_helper_output(stdout.expose()).map_err(|source| HelperError::Output {
                command: command.clone(),
                source,
            })
        }
        CredentialHelper::Split { username, password } => {
            let read = |command: &String, key: &'static str| {
                let stdout = run_helper_command(command, timeout)?;
                split_value(stdout, key).map_err(|source| HelperError::Output {
                    command: command.clone(),
                    source,
                })
            };
            let username = read(username, "credential-helper.username")?;
            let password = read(password, "credential-helper.password")?;
            Ok(UsernamePassword {
                username: username.into_inner(),
                password,
            })
        }
    }
}

/// Reads the output of the JSON form: an array of objects, of which the ones with `id` (or else
/// `label`) `username` and `password` hold the credentials in `value`.
///
/// A single object instead of an array is read as an array of one (so that a missing field is
/// reported as such). The errors never contain any of `stdout`.
pub fn parse_json_helper_output(stdout: &[u8]) -> Result<UsernamePassword, HelperOutputError> {
    let text = std::str::from_utf8(stdout).map_err(|_| HelperOutputError::NotUtf8)?;
    let json: Value = serde_json::from_str(text).map_err(|e| HelperOutputError::NotJson {
        line: e.line(),
        column: e.column(),
    })?;
    let fields = match &json {
        Value::Array(items) => items
            .iter()
            .map(Value::as_object)
            .collect::<Option<Vec<_>>>(),
        Value::Object(object) => Some(vec![object]),
        _ => None,
    }
    .ok_or(HelperOutputError::NotFieldList)?;

    let value_of = |name: &'static str| -> Result<String, HelperOutputError> {
        let named = |key: &str, field: &serde_json::Map<String, Value>| {
            field
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case(name))
        };
        let field = fields
            .iter()
            .find(|f| named("id", f))
            .or_else(|| fields.iter().find(|f| named("label", f)))
            .ok_or_else(|| HelperOutputError::MissingField {
                field: name,
                ids: fields
                    .iter()
                    .filter_map(|f| f.get("id").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect(),
            })?;
        match field.get("value") {
            // 1Password leaves `value` out for an empty field.
            None => Err(HelperOutputError::EmptyValue { field: name }),
            Some(Value::String(s)) if s.is_empty() => {
                Err(HelperOutputError::EmptyValue { field: name })
            }
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(HelperOutputError::ValueNotString { field: name }),
        }
    };
    Ok(UsernamePassword {
        username: value_of("username")?,
        password: Secret::new(value_of("password")?),
    })
}

/// The value a split-form command printed: UTF-8, trimmed, not empty.
fn split_value(
    stdout: Secret<Vec<u8>>,
    key: &'static str,
) -> Result<Secret<String>, HelperOutputError> {
    let text = String::from_utf8(stdout.into_inner())
        .map_err(|_| HelperOutputError::SplitNotUtf8 { key })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(HelperOutputError::SplitEmpty { key });
    }
    Ok(Secret::new(value.to_owned()))
}

/// Runs one helper command and returns its stdout if it succeeded.
fn run_helper_command(command: &str, timeout: Duration) -> Result<Secret<Vec<u8>>, HelperError> {
    let output = run_shell(command, None, timeout).map_err(|error| match error {
        ExecError::TimedOut { after, .. } => HelperError::TimedOut {
            command: command.to_owned(),
            after,
        },
        source => HelperError::Io {
            command: command.to_owned(),
            source,
        },
    })?;
    tracing::debug!(
        command,
        status = output.status,
        "credential helper finished"
    );
    match output.status {
        0 => Ok(output.stdout),
        SHELL_NOT_FOUND => Err(HelperError::NotFound {
            command: command.to_owned(),
        }),
        status => Err(HelperError::Failed {
            command: command.to_owned(),
            status,
            stderr: output.stderr,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use crate::error::report;

    const LONG: Duration = Duration::from_secs(20);

    fn json(command: &str) -> CredentialHelper {
        CredentialHelper::Json {
            command: command.to_owned(),
        }
    }

    fn split(username: &str, password: &str) -> CredentialHelper {
        CredentialHelper::Split {
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }

    /// What `op item get ghcr --format json --fields username,password` prints for a Login item.
    const OP_OUTPUT: &str = r#"[
  {
    "id": "username",
    "type": "STRING",
    "purpose": "USERNAME",
    "label": "username",
    "value": "alice",
    "reference": "op://Private/ghcr/username"
  },
  {
    "id": "password",
    "type": "CONCEALED",
    "purpose": "PASSWORD",
    "label": "password",
    "value": "ghp_s3cr3t",
    "entropy": 190.0,
    "reference": "op://Private/ghcr/password",
    "password_details": {
      "entropy": 190,
      "generated": true,
      "strength": "FANTASTIC"
    }
  }
]
"#;

    fn output_error(stdout: &str) -> String {
        parse_json_helper_output(stdout.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_1password_output() {
        let credentials = parse_json_helper_output(OP_OUTPUT.as_bytes()).unwrap();
        assert_eq!(credentials.username, "alice");
        assert_eq!(credentials.password.expose(), "ghp_s3cr3t");
    }

    #[test]
    fn debug_shows_the_username_only() {
        let credentials = parse_json_helper_output(OP_OUTPUT.as_bytes()).unwrap();
        assert_eq!(
            format!("{credentials:?}"),
            "UsernamePassword { username: \"alice\", password: Secret(<redacted>) }"
        );
    }

    #[test]
    fn finds_custom_fields_by_label_and_ids_in_any_case() {
        let stdout = r#"[
            {"id": "k2v3nzbtquvpfqdfkwm5ga7ynq", "type": "STRING", "label": "Username", "value": "bob"},
            {"id": "zk3rw2xakv6fd2xm2lcsiyzvpu", "type": "CONCEALED", "label": "password", "value": "pw"}
        ]"#;
        let credentials = parse_json_helper_output(stdout.as_bytes()).unwrap();
        assert_eq!(credentials.username, "bob");
        assert_eq!(credentials.password.expose(), "pw");

        let stdout =
            r#"[{"id": "USERNAME", "value": "carol"}, {"id": "Password", "value": "pw2"}]"#;
        let credentials = parse_json_helper_output(stdout.as_bytes()).unwrap();
        assert_eq!(credentials.username, "carol");
        assert_eq!(credentials.password.expose(), "pw2");
    }

    #[test]
    fn an_id_match_wins_over_a_label_match() {
        let stdout = r#"[
            {"id": "x1", "label": "username", "value": "by-label"},
            {"id": "username", "label": "login", "value": "by-id"},
            {"id": "password", "value": "pw"}
        ]"#;
        let credentials = parse_json_helper_output(stdout.as_bytes()).unwrap();
        assert_eq!(credentials.username, "by-id");
    }

    #[test]
    fn bad_json_output_is_explained_without_quoting_it() {
        let example = r#"a JSON array like [{"id":"username","value":"..."},{"id":"password","value":"..."}]"#;
        assert_eq!(
            parse_json_helper_output(b"\xff\xfe")
                .unwrap_err()
                .to_string(),
            "the output is not UTF-8"
        );
        assert_eq!(
            output_error("alice\nhunter2\n"),
            format!(
                "the output is not JSON (syntax error at line 1, column 1); expected {example}"
            )
        );
        assert_eq!(
            output_error("[{\"id\": \"username\",\n \"value\": hunter2}]"),
            format!(
                "the output is not JSON (syntax error at line 2, column 11); expected {example}"
            )
        );
        assert_eq!(
            output_error(r#""hunter2""#),
            format!("the output is JSON but not an array of objects; expected {example}")
        );
        assert_eq!(
            output_error(r#"["alice", "hunter2"]"#),
            format!("the output is JSON but not an array of objects; expected {example}")
        );
        assert_eq!(
            output_error(r#"[{"id": "username", "value": "alice"}]"#),
            "the output has no `password` field (ids found: `username`); name the fields \
             `username` and `password`, e.g. `op item get ITEM --format json --fields \
             username,password`"
        );
        // A single object (what `op` prints for one field) is an array of one.
        assert_eq!(
            output_error(r#"{"id": "password", "value": "hunter2"}"#),
            "the output has no `username` field (ids found: `password`); name the fields \
             `username` and `password`, e.g. `op item get ITEM --format json --fields \
             username,password`"
        );
        assert_eq!(
            output_error("[]"),
            "the output has no `username` field (ids found: none); name the fields \
             `username` and `password`, e.g. `op item get ITEM --format json --fields \
             username,password`"
        );
        assert_eq!(
            output_error(r#"[{"id": "username", "value": ""}, {"id": "password", "value": "x"}]"#),
            "the `username` field is empty; fill it in where the helper reads it from"
        );
        assert_eq!(
            output_error(r#"[{"id": "username", "value": "a"}, {"id": "password"}]"#),
            "the `password` field is empty; fill it in where the helper reads it from"
        );
        assert_eq!(
            output_error(r#"[{"id": "username", "value": "a"}, {"id": "password", "value": 42}]"#),
            "the `password` field's value is not a JSON string"
        );
    }

    #[cfg(unix)] // runs `sh`
    #[test]
    fn runs_the_json_form() {
        let helper = json(&format!("cat <<'EOF'\n{OP_OUTPUT}EOF"));
        let credentials = run_credential_helper(&helper, LONG).unwrap();
        assert_eq!(credentials.username, "alice");
        assert_eq!(credentials.password.expose(), "ghp_s3cr3t");
    }

    #[cfg(unix)] // runs `sh`
    #[test]
    fn runs_the_split_form_and_trims() {
        let helper = split("printf 'alice\\n'", "printf '  hunter2 \\r\\n\\n'");
        let credentials = run_credential_helper(&helper, LONG).unwrap();
        assert_eq!(credentials.username, "alice");
        assert_eq!(credentials.password.expose(), "hunter2");
    }

    #[cfg(unix)] // runs `sh`
    #[test]
    fn split_output_errors_name_the_key() {
        let err = run_credential_helper(&split("printf alice", "printf ' \\n'"), LONG).unwrap_err();
        assert_eq!(
            report(&err),
            "error: the output of credential helper `printf ' \\n'` is not usable\n\
             caused by: `credential-helper.password` printed nothing; the command must print \
             the value on stdout"
        );
        let err = run_credential_helper(&split("printf '\\377'", "printf pw"), LONG).unwrap_err();
        assert_eq!(
            report(&err),
            "error: the output of credential helper `printf '\\377'` is not usable\n\
             caused by: the output of `credential-helper.username` is not UTF-8"
        );
    }

    #[cfg(unix)] // runs `sh`
    #[test]
    fn a_missing_program_is_not_found() {
        let command = "wasm-test-no-such-helper --get";
        let err = run_credential_helper(&json(command), LONG).unwrap_err();
        assert!(matches!(err, HelperError::NotFound { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "credential helper `{command}` was not found (exit status 127): is the program \
                 installed and on PATH?"
            )
        );
        let err = HelperError::NotFound {
            command: "op item get ghcr --format json --fields username,password".to_owned(),
        };
        assert_eq!(
            err.to_string(),
            "credential helper `op item get ghcr --format json --fields username,password` was \
             not found (exit status 127): is the program installed and on PATH? (for `op`, \
             install the 1Password CLI)"
        );
    }

    #[cfg(unix)] // runs `sh`
    #[test]
    fn a_failing_helper_reports_status_and_stderr() {
        let command = "echo '[ERROR] You are not currently signed in.' >&2; exit 1";
        let err = run_credential_helper(&json(command), LONG).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "credential helper `{command}` failed with exit status 1: [ERROR] You are not \
                 currently signed in."
            )
        );
        let err = run_credential_helper(&split("printf alice", "exit 2"), LONG).unwrap_err();
        assert_eq!(
            err.to_string(),
            "credential helper `exit 2` failed with exit status 2 and printed no error message; \
             run it in a terminal to see what it needs"
        );
        let err = run_credential_helper(&json("kill -9 $$"), LONG).unwrap_err();
        assert_eq!(
            err.to_string(),
            "credential helper `kill -9 $$` was killed by a signal and printed no error message; \
             run it in a terminal to see what it needs"
        );
    }

    #[cfg(unix)] // runs `sh`
    #[test]
    fn a_slow_helper_is_stopped() {
        let err = run_credential_helper(&json("sleep 30"), Duration::from_millis(100)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "credential helper `sleep 30` did not finish within 0.1 s and was stopped; raise \
             `helper-timeout` in the config file or fix the command"
        );
    }

    /// A secret printed on stdout must not reach any error, in Display (with its sources) or
    /// Debug, whatever went wrong.
    #[cfg(unix)] // runs `sh`
    #[test]
    fn stdout_never_appears_in_errors() {
        const CANARY: &str = "CANARY-7f3a9c";
        let quick = Duration::from_millis(300);
        let cases: Vec<(CredentialHelper, Duration)> = vec![
            (json(&format!("printf '{CANARY}'")), LONG),
            (json(&format!("printf '{CANARY}\\377'")), LONG),
            (json(&format!("printf '[{{\"id\": {CANARY}}}]'")), LONG),
            (json(&format!("printf '\"{CANARY}\"'")), LONG),
            (json(&format!("printf '[\"{CANARY}\"]'")), LONG),
            (
                json(&format!("printf '{{\"{CANARY}\": \"{CANARY}\"}}'")),
                LONG,
            ),
            (
                json(&format!(
                    "printf '[{{\"id\":\"username\",\"value\":\"{CANARY}\"}}]'"
                )),
                LONG,
            ),
            (
                json(&format!(
                    "printf '[{{\"id\":\"username\",\"value\":\"{CANARY}\"}},\
                     {{\"id\":\"password\",\"value\":\"\"}}]'"
                )),
                LONG,
            ),
            (
                json(&format!(
                    "printf '[{{\"id\":\"username\",\"value\":[\"{CANARY}\"]}},\
                     {{\"id\":\"password\",\"value\":\"x\"}}]'"
                )),
                LONG,
            ),
            (
                json(&format!("printf '{CANARY}'; echo oops >&2; exit 1")),
                LONG,
            ),
            (json(&format!("printf '{CANARY}'; exit 127")), LONG),
            (json(&format!("printf '{CANARY}'; kill -9 $$")), LONG),
            (json(&format!("printf '{CANARY}'; sleep 30")), quick),
            (split(&format!("printf '{CANARY}\\377'"), "printf pw"), LONG),
            (split(&format!("printf '{CANARY}'"), "printf ' '"), LONG),
            (split(&format!("printf '{CANARY}'"), "exit 3"), LONG),
        ];
        // The commands contain the canary (they print it); look for it outside of them.
        let mut kinds = Vec::new();
        for (helper, timeout) in cases {
            let err = run_credential_helper(&helper, timeout)
                .expect_err(&format!("{helper:?} should fail"));
            let command = match &err {
                HelperError::NotFound { command }
                | HelperError::Failed { command, .. }
                | HelperError::TimedOut { command, .. }
                | HelperError::Output { command, .. }
                | HelperError::UnsafeFile { command, .. }
                | HelperError::Io { command, .. } => command.clone(),
            };
            let shown = format!("{}\n{err:?}", report(&err))
                .replace(&format!("{command:?}"), "<command>")
                .replace(&command, "<command>");
            assert!(
                !shown.contains(CANARY),
                "{helper:?} leaked stdout:\n{shown}"
            );
            let name = |debug: String| -> String {
                debug
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect()
            };
            kinds.push(match &err {
                HelperError::Output { source, .. } => {
                    format!("Output/{}", name(format!("{source:?}")))
                }
                other => name(format!("{other:?}")),
            });
        }
        // Every way to fail is covered.
        let expected = [
            "Output/NotJson",
            "Output/NotUtf8",
            "Output/NotJson",
            "Output/NotFieldList",
            "Output/NotFieldList",
            "Output/MissingField",
            "Output/MissingField",
            "Output/EmptyValue",
            "Output/ValueNotString",
            "Failed",
            "NotFound",
            "Failed",
            "TimedOut",
            "Output/SplitNotUtf8",
            "Output/SplitEmpty",
            "Failed",
        ];
        assert_eq!(kinds, expected);
    }
}

/// Refuses to run `helper` when `file`, the config file that names it, is writable by group or
/// others (Unix): helpers are code `wasm` executes, so their file must be as private as a
/// shell profile. Elsewhere, and for files that cannot be inspected, this passes.
pub fn check_helper_file(
    helper: &CredentialHelper,
    file: &std::path::Path,
) -> Result<(), HelperError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(file) {
            let mode = meta.permissions().mode() & 0o7777;
            let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
                (true, true) => Some("group and others"),
                (true, false) => Some("group"),
                (false, true) => Some("others"),
                (false, false) => None,
            };
            if let Some(who) = who {
                let command = match helper {
                    CredentialHelper::Json { command } => command.clone(),
                    CredentialHelper::Split { username, .. } => username.clone(),
                };
                return Err(HelperError::UnsafeFile {
                    command,
                    path: file.to_path_buf(),
                    mode,
                    who,
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (helper, file);
    Ok(())
}

#[cfg(all(test, unix))]
mod permission_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn group_or_world_writable_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "").unwrap();
        let helper = CredentialHelper::Json {
            command: "op item get x".into(),
        };
        for (mode, ok) in [
            (0o600, true),
            (0o644, true),
            (0o664, false),
            (0o666, false),
            (0o646, false),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(check_helper_file(&helper, &path).is_ok(), ok, "{mode:o}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        let text = check_helper_file(&helper, &path).unwrap_err().to_string();
        assert_eq!(
            text,
            format!(
                "refusing to run credential helper `op item get x`: {0} is writable by group (mode 0664), so another user could change the command; run `chmod go-w {0}`",
                path.display()
            )
        );
    }
}
