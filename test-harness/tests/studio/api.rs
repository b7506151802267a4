//! The studio's HTTP API, without a browser.

use std::path::Path;

use serde_json::json;

use crate::server::{Studio, raw_request};
use crate::support::secret_scan::{self, SecretScan};
use crate::support::{harness, sqs_endpoint, text};

/// A secret of this test binary's API tests, registered with the suite's scan.
const API_SECRET: &str = "studio-api-secret-4f1d9c";

fn register_secret() {
    secret_scan::register("the studio API tests' secret key", API_SECRET);
}

#[test]
fn a_non_loopback_address_is_refused_unless_allowed() {
    let output = std::process::Command::new(harness())
        .args(["studio", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    let said = text(&output);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(
        said.contains("0.0.0.0:0 is not a loopback address") && said.contains("--allow-remote"),
        "{said}"
    );
}

#[test]
fn the_default_address_is_loopback() {
    let output = std::process::Command::new(harness())
        .args(["studio", "--help"])
        .output()
        .unwrap();
    let said = text(&output);
    assert!(said.contains("[default: 127.0.0.1:"), "{said}");
}

#[test]
fn another_host_or_origin_and_non_json_changes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let studio = Studio::start(dir.path());
    let own = format!("127.0.0.1:{}", studio.port);
    // DNS rebinding: the right address, another name.
    let (status, _) = raw_request(
        studio.port,
        "GET",
        "/api/descriptor",
        &[("Host", &format!("attacker.example:{}", studio.port))],
        None,
    );
    assert_eq!(status, 421, "a request for another host");
    // Another site's page posting to the studio.
    let body = json!({"file": "x.json", "draft": "d"}).to_string();
    let (status, _) = raw_request(
        studio.port,
        "POST",
        "/api/components/load",
        &[
            ("Host", &own),
            ("Origin", "http://attacker.example"),
            ("Content-Type", "application/json"),
        ],
        Some(&body),
    );
    assert_eq!(status, 403, "a change from another origin");
    // A plain form post (no preflight) is not JSON.
    let (status, _) = raw_request(
        studio.port,
        "POST",
        "/api/components/load",
        &[("Host", &own), ("Content-Type", "text/plain")],
        Some(&body),
    );
    assert_eq!(status, 415, "a change that is not JSON");
    let (status, page) = studio.request("GET", "/", None);
    assert_eq!(status, 200);
    assert!(page.contains("<script src=\"/studio.js\""), "{page}");
}

/// The page holds no field of any connector: every label, rule and widget comes from the
/// descriptor the plugin returns.
#[test]
fn the_page_names_no_field_of_the_descriptor() {
    let descriptor: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../descriptors/amazon-sqs.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut keys: Vec<String> = descriptor["connection"]["fields"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for op in descriptor["operations"].as_array().unwrap() {
        keys.extend(
            op["fields"]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned(),
        );
    }
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/studio/assets");
    for asset in ["index.html", "studio.js", "studio.css"] {
        let text = std::fs::read_to_string(assets.join(asset)).unwrap();
        for key in &keys {
            // `queue` is also a word of the page's own texts: look for it as a key.
            let needles = [format!("'{key}'"), format!("\"{key}\""), format!("-{key}")];
            assert!(
                !needles.iter().any(|n| text.contains(n.as_str())),
                "{asset} names the field {key}"
            );
        }
    }
}

/// Secrets go to the studio and never come back: not in any answer, not in a saved file (a
/// file of its own, readable by its owner only), not in the studio's output; the studio uses
/// them for Test Connection.
#[test]
fn secrets_are_kept_by_the_studio_and_never_returned() {
    register_secret();
    let dir = tempfile::tempdir().unwrap();
    // A file that stores its secret value (as a user may choose) is shown masked.
    std::fs::write(
        dir.path().join("conn-stored.json"),
        json!({"id": "conn-stored", "connector": "amazon-sqs", "kind": "connection",
               "fields": {"authenticationType": "ACCESS_KEYS", "accessKey": "AKIAIOSFODNN7EXAMPLE",
                          "secretKey": API_SECRET, "region": "us-east-1", "endpointUrl": sqs_endpoint()}})
        .to_string(),
    )
    .unwrap();
    let studio = Studio::start(dir.path());
    let scan = SecretScan::new();
    let mut answers = Vec::new();

    let (status, listed) = studio.json("GET", "/api/components", None);
    assert_eq!(status, 200);
    assert_eq!(listed["files"][0]["id"], "conn-stored");
    answers.push(listed.to_string());

    let (status, loaded) = studio.json(
        "POST",
        "/api/components/load",
        Some(&json!({"file": "conn-stored.json", "draft": "draft-1"})),
    );
    assert_eq!(status, 200, "{loaded}");
    assert_eq!(
        loaded["component"]["fields"]["secretKey"],
        json!({"set": true})
    );
    answers.push(loaded.to_string());

    // Test Connection with the kept value passes against moto.
    let draft = json!({"draft": "draft-1", "id": "conn-stored", "kind": "connection",
        "fields": {"authenticationType": "ACCESS_KEYS", "accessKey": "AKIAIOSFODNN7EXAMPLE",
                   "secretKey": {"keep": true}, "region": "us-east-1", "endpointUrl": sqs_endpoint()}});
    let (status, tested) = studio.json(
        "POST",
        "/api/test-connection",
        Some(&json!({"connection": draft})),
    );
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    answers.push(tested.to_string());

    // Another draft does not get it.
    let mut other = draft.clone();
    other["draft"] = json!("draft-2");
    let (status, refused) = studio.json(
        "POST",
        "/api/test-connection",
        Some(&json!({"connection": other})),
    );
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["fieldErrors"][0]["field"], "secretKey");
    assert_eq!(refused["fieldErrors"][0]["label"], "Amazon AWS secret key");

    // A typed secret is handed over, then saved as a reference to a private file.
    let (status, kept) = studio.json(
        "POST",
        "/api/secrets",
        Some(
            &json!({"draft": "draft-3", "kind": "connection", "fields": {"secretKey": API_SECRET}}),
        ),
    );
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept["kept"], json!(["secretKey"]));
    answers.push(kept.to_string());
    // Only secrets are taken that way.
    let (status, _) = studio.json(
        "POST",
        "/api/secrets",
        Some(&json!({"draft": "draft-3", "kind": "connection", "fields": {"accessKey": "AKIAIOSFODNN7EXAMPLE"}})),
    );
    assert_eq!(status, 422);

    let mut saved_draft = draft.clone();
    saved_draft["draft"] = json!("draft-3");
    saved_draft["id"] = json!("conn-saved");
    let (status, saved) = studio.json(
        "POST",
        "/api/components/save",
        Some(&json!({"component": saved_draft})),
    );
    assert_eq!(status, 200, "{saved}");
    assert_eq!(
        saved["secretFiles"],
        json!(["secrets/conn-saved.secretKey"])
    );
    assert_eq!(saved["fieldErrors"], json!([]), "{saved}");
    answers.push(saved.to_string());
    let file = std::fs::read_to_string(dir.path().join("conn-saved.json")).unwrap();
    assert!(!file.contains(API_SECRET), "{file}");
    let written: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert_eq!(
        written["fields"]["secretKey"],
        json!({"file": "secrets/conn-saved.secretKey"})
    );
    assert_eq!(written["connector"], "amazon-sqs");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("secrets/conn-saved.secretKey"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the secret file is the owner's only");
    }
    // Saving again needs `overwrite`.
    let (status, _) = studio.json(
        "POST",
        "/api/components/save",
        Some(&json!({"component": saved_draft})),
    );
    assert_eq!(status, 409);

    // Only when asked is the value stored in the file.
    let mut stored_draft = saved_draft.clone();
    stored_draft["id"] = json!("conn-stored-again");
    let (status, stored) = studio.json(
        "POST",
        "/api/components/save",
        Some(&json!({"component": stored_draft, "storeSecrets": true})),
    );
    assert_eq!(status, 200, "{stored}");
    answers.push(stored.to_string());
    let file = std::fs::read_to_string(dir.path().join("conn-stored-again.json")).unwrap();
    assert!(file.contains(API_SECRET), "stored on request");

    for answer in &answers {
        scan.scan_text("an answer of the studio's API", answer.as_bytes());
    }
    scan.assert_clean();
    studio.assert_no_secret_written();
}

#[test]
fn a_file_name_outside_the_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let studio = Studio::start(dir.path());
    for name in ["../Cargo.toml", "/etc/passwd", "..json"] {
        let (status, answer) = studio.json(
            "POST",
            "/api/components/load",
            Some(&json!({"file": name, "draft": "d"})),
        );
        assert_eq!(status, 400, "{name}: {answer}");
    }
    let (status, answer) = studio.json(
        "POST",
        "/api/components/save",
        Some(&json!({"component": {"draft": "d", "id": "../escape", "kind": "connection", "fields": {}}})),
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["fieldErrors"][0]["field"], "id");
    assert!(!dir.path().join("../escape.json").exists());
}
