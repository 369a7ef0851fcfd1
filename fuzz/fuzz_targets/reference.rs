//! Reference parsing: parsed or refused; a parsed reference prints as text that parses back to
//! the same reference.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(reference) = wasm_registry::Reference::parse(text) {
        let again = wasm_registry::Reference::parse(&reference.to_string())
            .expect("a printed reference parses");
        assert_eq!(again, reference);
    }
    let _ = wasm_registry::Repository::parse(text);
});
