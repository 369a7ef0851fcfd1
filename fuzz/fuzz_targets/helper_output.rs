//! A credential helper's output (1Password-style JSON): parsed or refused, never a panic, and
//! an error never quotes the output.
#![no_main]
use libfuzzer_sys::fuzz_target;

/// The example every "not JSON" message shows; input that happens to be part of it is no leak.
const EXAMPLE: &str = r#"[{"id":"username","value":"..."},{"id":"password","value":"..."}]"#;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = wasm_config::parse_json_helper_output(data) {
        let text = e.to_string().replace(EXAMPLE, "");
        // Values may be secrets: a long run of the input must not reappear in the message.
        if data.len() >= 24 {
            if let Ok(s) = std::str::from_utf8(data) {
                assert!(!text.contains(s), "the error quotes the helper's output");
            }
        }
    }
});
