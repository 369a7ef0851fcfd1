//! The config file parser: any text gives a config or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(contents) = wasm_config::Config::parse(text, std::path::Path::new("/fuzz/config.toml")) {
        for (key, registry) in &contents.registries {
            let _ = (key.as_str().len(), registry.insecure);
        }
    }
});
