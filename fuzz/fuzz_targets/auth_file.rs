//! Docker's config.json / Podman's auth.json: parsed and searched the way the credential chain
//! does, for a few registries, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (registry, repository) in [
        ("docker.io", Some("library/hello")),
        ("ghcr.io", None),
        ("localhost:5000", Some("a/b")),
        ("quay.io", Some("org/team/app")),
    ] {
        let registry = wasm_registry::RegistryName::parse(registry).expect("a valid name");
        let _ = wasm_registry::fuzzing::lookup_in_auth_file(data, &registry, repository);
    }
});
