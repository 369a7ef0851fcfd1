//! The validation a push runs before sending anything: any bytes give a description or an
//! error with an offset inside the input, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match wasm_registry::fuzzing::check_reader(data, "fuzz.wasm") {
        Ok(file) => assert_eq!(file.size, data.len() as u64),
        Err(wasm_registry::ComponentError::Invalid { offset, .. }) => {
            assert!(offset <= data.len() as u64 + 16, "offset {offset} beyond the input");
        }
        Err(_) => {}
    }
});
