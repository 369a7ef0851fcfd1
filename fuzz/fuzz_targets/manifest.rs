//! Manifests and Wasm configs from a registry: checked or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reference = wasm_registry::Reference::parse("localhost:5000/fuzz/app:1").unwrap();
    let _ = wasm_registry::fuzzing::check_manifest_bytes(data, &reference);
    let _ = wasm_registry::fuzzing::parse_wasm_config(data);
});
