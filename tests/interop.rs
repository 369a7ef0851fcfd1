//! Interoperability with oci-wasm's own client (what `wkg oci push/pull` uses): each reads what
//! the other writes, against a real registry.

use crate::support::component::hello_wasm;
use crate::support::{Sandbox, shared_anonymous, unique_repo};

/// oci-wasm's client on oci-client 0.17, as wkg builds it (plain HTTP for the local registry).
pub(crate) fn oci_wasm_client() -> oci_wasm::WasmClient {
    let config = oci_client_017::client::ClientConfig {
        protocol: oci_client_017::client::ClientProtocol::Http,
        ..Default::default()
    };
    oci_wasm::WasmClient::new(oci_client_017::Client::new(config))
}

/// A runtime for the async crate calls.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn oci_wasm_reads_what_wasm_pushes() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("interop/ours");
    let reference = registry.reference(&repo, "1.0.0");
    sandbox.push_ok(&reference, hello_wasm());

    let image: oci_client_017::Reference = reference.parse().unwrap();
    let data = runtime()
        .block_on(oci_wasm_client().pull(&image, &oci_client_017::secrets::RegistryAuth::Anonymous))
        .expect("oci-wasm pulls what wasm pushed");
    assert_eq!(data.layers.len(), 1);
    assert_eq!(
        data.layers[0].data.as_ref(),
        std::fs::read(hello_wasm()).unwrap()
    );
    let config: oci_wasm::WasmConfig = serde_json::from_slice(&data.config.data).unwrap();
    let component = config.component.expect("component metadata");
    assert_eq!(component.imports, ["example:hello/logger@0.1.0"]);
    assert_eq!(component.exports, ["example:hello/greeter@0.1.0"]);
}

#[test]
fn wasm_reads_what_oci_wasm_pushes() {
    let registry = shared_anonymous();
    let sandbox = Sandbox::new();
    let repo = unique_repo("interop/theirs");
    let reference = registry.reference(&repo, "2.0.0");
    let bytes = std::fs::read(hello_wasm()).unwrap();
    let (config, layer) = oci_wasm::WasmConfig::from_raw_component(bytes.clone(), None).unwrap();
    let image: oci_client_017::Reference = reference.parse().unwrap();
    runtime()
        .block_on(oci_wasm_client().push(
            &image,
            &oci_client_017::secrets::RegistryAuth::Anonymous,
            layer,
            config,
            None,
        ))
        .expect("oci-wasm pushes");

    sandbox.pull_ok(&reference, "theirs.wasm");
    assert_eq!(sandbox.read_file("work/theirs.wasm"), bytes);
    let inspect = sandbox.wasm().args(["inspect", &reference, "--json"]).run();
    inspect.assert_success();
    let json: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(json["wasm"]["exports"][0], "example:hello/greeter@0.1.0");
}
