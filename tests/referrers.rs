//! Referrers: `wasm attach` and `wasm discover` against a real registry without the Referrers
//! API (distribution 2.8.2: the `sha256-<hex>` tag schema), `wasm copy -r` carrying the tree of
//! referrers between two registries with different credentials and into image layouts, and the
//! Referrers API itself, which only a fake server can show (distribution 2.8.2 lacks it).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::support::component::hello_wasm;
use crate::support::{
    ALICE_PASSWORD, ALICE_USER, CAROL_PASSWORD, CAROL_USER, Sandbox, docker_auths, sha256_digest,
    shared_basic_tls, shared_token, unique_repo,
};

/// Runs `wasm ARGS --json` and returns its JSON.
fn json_of(sandbox: &Sandbox, args: &[&str]) -> Value {
    let out = sandbox.wasm().args(args).arg("--json").run();
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// `(artifact type, [children])` of each referrer of a `discover --json` tree.
fn shape(referrers: &Value) -> Vec<(String, Vec<String>)> {
    let mut shape: Vec<(String, Vec<String>)> = referrers
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let children = r["referrers"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|c| c["artifact_type"].as_str().unwrap().to_owned())
                .collect();
            (r["artifact_type"].as_str().unwrap().to_owned(), children)
        })
        .collect();
    shape.sort();
    shape
}

#[test]
fn referrers_attached_are_found_and_copied_between_registries_and_into_layouts() {
    let basic = shared_basic_tls();
    let (_, token) = shared_token();
    let sandbox = Sandbox::for_registry(basic, "");
    sandbox.write_docker_config(&docker_auths(&[
        (&basic.host, ALICE_USER, ALICE_PASSWORD),
        (&token.host, CAROL_USER, CAROL_PASSWORD),
    ]));
    let repo = unique_repo("referrers/app");
    let subject = basic.reference(&repo, "1.0.0");
    sandbox.push_ok(&subject, hello_wasm());
    let sbom = sandbox.write_file("work/sbom.spdx.json", br#"{"spdxVersion":"SPDX-2.3"}"#);
    let sig = sandbox.write_file("work/sig.bundle", b"signature bytes");

    let attached = json_of(
        &sandbox,
        &[
            "attach",
            &subject,
            sbom.to_str().unwrap(),
            "--artifact-type",
            "application/spdx+json",
            "--annotation",
            "org.example.kind=sbom",
        ],
    );
    assert_eq!(attached["recorded_by"], "tag-schema");
    let signature = json_of(
        &sandbox,
        &[
            "attach",
            &subject,
            sig.to_str().unwrap(),
            "--artifact-type",
            "application/vnd.example.signature",
        ],
    );
    // A signature of the signature: referrers of referrers.
    let pinned_sig = format!(
        "{}/{repo}@{}",
        basic.host,
        signature["digest"].as_str().unwrap()
    );
    json_of(
        &sandbox,
        &[
            "attach",
            &pinned_sig,
            sig.to_str().unwrap(),
            "--artifact-type",
            "application/vnd.example.countersignature",
        ],
    );
    let expected = vec![
        ("application/spdx+json".to_owned(), vec![]),
        (
            "application/vnd.example.signature".to_owned(),
            vec!["application/vnd.example.countersignature".to_owned()],
        ),
    ];
    let found = json_of(&sandbox, &["discover", &subject]);
    assert_eq!(found["found_by"], "tag-schema");
    assert_eq!(shape(&found["referrers"]), expected);
    let sbom_entry = found["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["artifact_type"] == "application/spdx+json")
        .unwrap();
    assert_eq!(sbom_entry["annotations"]["org.example.kind"], "sbom");

    // Between registries with two identities, then into a layout and an archive.
    let target = token.reference(&repo, "1.0.0");
    let copied = json_of(&sandbox, &["copy", "-r", &subject, &target]);
    assert_eq!(
        copied["referrers"].as_array().map(Vec::len),
        Some(3),
        "{copied}"
    );
    let found = json_of(&sandbox, &["discover", &target]);
    assert_eq!(found["found_by"], "tag-schema");
    assert_eq!(found["digest"], attached["subject_digest"]);
    assert_eq!(shape(&found["referrers"]), expected);
    for layout in ["oci:mirror", "oci-archive:mirror.tar"] {
        json_of(&sandbox, &["copy", "-r", &target, layout]);
        let found = json_of(&sandbox, &["discover", &format!("{layout}:1.0.0")]);
        assert_eq!(found["found_by"], "layout");
        assert_eq!(shape(&found["referrers"]), expected, "{layout}");
    }
    // Without -r, nothing attached is copied.
    let bare = basic.reference(&unique_repo("referrers/bare"), "1.0.0");
    json_of(&sandbox, &["copy", "oci:mirror:1.0.0", &bare]);
    let found = json_of(&sandbox, &["discover", &bare]);
    assert_eq!(found["referrers"], json!([]));
}

/// A fake registry with the Referrers API (distribution 2.8.2 has none): one artifact and one
/// referrer; it records the paths asked.
struct FakeReferrersApi {
    host: String,
    seen: Arc<Mutex<Vec<String>>>,
    subject_digest: String,
    _thread: std::thread::JoinHandle<()>,
}

impl FakeReferrersApi {
    fn start() -> FakeReferrersApi {
        let subject = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256_digest(b"{}"), "size": 2},
            "layers": [],
        }))
        .unwrap();
        let subject_digest = sha256_digest(&subject);
        let referrer = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.example.api",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256_digest(b"{}"), "size": 2},
            "layers": [],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject_digest, "size": subject.len()},
        }))
        .unwrap();
        let referrer_digest = sha256_digest(&referrer);
        let index = |list: Value| {
            serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": list,
            }))
            .unwrap()
        };
        let with_one = index(json!([{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": referrer_digest,
            "size": referrer.len(),
            "artifactType": "application/vnd.example.api",
        }]));
        let empty = index(json!([]));
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind the fake registry");
        let host = server.server_addr().to_ip().expect("address").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let subject_for_thread = subject_digest.clone();
        let thread = std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let path = request.url().to_string();
                let method = request.method().as_str().to_owned();
                log.lock().unwrap().push(format!("{method} {path}"));
                let mut sent = Vec::new();
                drop(std::io::Read::read_to_end(request.as_reader(), &mut sent));
                let manifests = "/v2/app/manifests/";
                let referrers = "/v2/app/referrers/";
                // Writes (what `attach` sends): blobs are missing, uploads and manifests are
                // taken, and a manifest `PUT` is acknowledged with `OCI-Subject`.
                let answer = match method.as_str() {
                    "HEAD" if path.starts_with("/v2/app/blobs/") => Some((404, None, None)),
                    "POST" => Some((202, Some("/v2/app/blobs/uploads/u1"), None)),
                    "PUT" if path.starts_with("/v2/app/blobs/uploads/") => Some((201, None, None)),
                    "PUT" if path.starts_with(manifests) => {
                        Some((201, None, Some(sha256_digest(&sent))))
                    }
                    _ => None,
                };
                if let Some((status, location, subject)) = answer {
                    let mut response = tiny_http::Response::empty(status);
                    if let Some(location) = location {
                        response = response.with_header(
                            tiny_http::Header::from_bytes("Location", location).unwrap(),
                        );
                    }
                    if let Some(digest) = subject {
                        response = response.with_header(
                            tiny_http::Header::from_bytes("OCI-Subject", digest).unwrap(),
                        );
                    }
                    drop(request.respond(response));
                    continue;
                }
                let (status, body, media_type) = if path == "/v2/" {
                    (200, b"{}".to_vec(), "application/json")
                } else if path == format!("{manifests}1")
                    || path == format!("{manifests}{subject_for_thread}")
                {
                    (
                        200,
                        subject.clone(),
                        "application/vnd.oci.image.manifest.v1+json",
                    )
                } else if path == format!("{manifests}{referrer_digest}") {
                    (
                        200,
                        referrer.clone(),
                        "application/vnd.oci.image.manifest.v1+json",
                    )
                } else if path == format!("{referrers}{subject_for_thread}") {
                    (
                        200,
                        with_one.clone(),
                        "application/vnd.oci.image.index.v1+json",
                    )
                } else if path == format!("/v2/app/blobs/{}", sha256_digest(b"{}")) {
                    (200, b"{}".to_vec(), "application/octet-stream")
                } else if path.starts_with(referrers) {
                    (
                        200,
                        empty.clone(),
                        "application/vnd.oci.image.index.v1+json",
                    )
                } else {
                    (
                        404,
                        b"{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\"}]}".to_vec(),
                        "application/json",
                    )
                };
                let digest = sha256_digest(&body);
                let response = tiny_http::Response::from_data(body)
                    .with_status_code(status)
                    .with_header(tiny_http::Header::from_bytes("Content-Type", media_type).unwrap())
                    .with_header(
                        tiny_http::Header::from_bytes("Docker-Content-Digest", digest).unwrap(),
                    );
                drop(request.respond(response));
            }
        });
        FakeReferrersApi {
            host,
            seen,
            subject_digest,
            _thread: thread,
        }
    }
}

#[test]
fn the_referrers_api_is_used_where_a_registry_has_it() {
    let fake = FakeReferrersApi::start();
    let sandbox = Sandbox::new();
    let found = json_of(
        &sandbox,
        &["discover", "--plain-http", &format!("{}/app:1", fake.host)],
    );
    assert_eq!(found["found_by"], "api");
    assert_eq!(found["digest"], fake.subject_digest.as_str());
    assert_eq!(
        shape(&found["referrers"]),
        [("application/vnd.example.api".to_owned(), vec![])]
    );
    // The tag schema was not consulted.
    let seen = fake.seen.lock().unwrap().clone();
    assert!(!seen.iter().any(|p| p.contains("sha256-")), "{seen:?}");

    // Attached there: the registry acknowledges the subject, so no tag-schema index is written.
    let file = sandbox.write_file("work/note.txt", b"a note");
    let attached = json_of(
        &sandbox,
        &[
            "attach",
            "--plain-http",
            &format!("{}/app:1", fake.host),
            file.to_str().unwrap(),
            "--artifact-type",
            "text/plain",
        ],
    );
    assert_eq!(attached["recorded_by"], "api");
    let seen = fake.seen.lock().unwrap().clone();
    let puts: Vec<&String> = seen
        .iter()
        .filter(|p| p.starts_with("PUT /v2/app/manifests/"))
        .collect();
    assert_eq!(
        puts,
        [&format!(
            "PUT /v2/app/manifests/{}",
            attached["digest"].as_str().unwrap()
        )]
    );

    // Copied with its referrer to a registry without the API: recorded there in the tag schema.
    let registry = crate::support::shared_anonymous();
    let target = registry.reference(&unique_repo("referrers/from-api"), "1");
    let copied = json_of(
        &sandbox,
        &[
            "copy",
            "-r",
            "--plain-http",
            &format!("{}/app:1", fake.host),
            &target,
        ],
    );
    assert_eq!(copied["referrers_found_by"], "api");
    let found = json_of(&sandbox, &["discover", &target]);
    assert_eq!(found["found_by"], "tag-schema");
    assert_eq!(
        shape(&found["referrers"]),
        [("application/vnd.example.api".to_owned(), vec![])]
    );
}
