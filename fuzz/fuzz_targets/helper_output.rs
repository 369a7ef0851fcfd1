//! A credential helper's output (1Password-style JSON): parsed or refused, never a panic.
//!
//! That errors never quote the output is checked by the unit tests and the end-to-end tests
//! with canary secrets: a fuzz oracle for it cannot tell a quoted input from an input that
//! happens to spell part of the fixed message (it raised two such false alarms).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = wasm_config::parse_json_helper_output(data) {
        let _ = e.to_string();
    }
});
