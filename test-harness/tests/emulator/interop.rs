//! Live interop: the PyPI package `iam-rolesanywhere-session` (installed into the project's venv
//! by scripts/test.sh) obtains credentials from the emulator over HTTPS.

use std::path::PathBuf;

use serde_json::{Value, json};
use test_harness::emulator::{Config, ServeOptions, serve};

use super::common::*;

/// `$PYTHON_VENV/bin/python`, else `<repo>/.venv/bin/python`; a missing interpreter fails.
fn python() -> PathBuf {
    let venv = std::env::var_os("PYTHON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("repository root")
                .join(".venv")
        });
    let python = venv.join("bin").join("python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/test.sh, which creates the venv and installs \
         iam-rolesanywhere-session from scripts/requirements-test.txt (or set PYTHON_VENV)",
        python.display()
    );
    python
}

#[tokio::test]
async fn python_package_gets_credentials_over_https() {
    let python = python();
    let dir = tempfile::tempdir().expect("tempdir");
    let cert_out = dir.path().join("emulator-cert.pem");
    // The example configuration, on the real clock.
    let config = Config::load(&emu("config.json")).expect("example config loads");
    let options = ServeOptions {
        tls: true,
        tls_cert_out: Some(cert_out.clone()),
        ..ServeOptions::default()
    };
    let (addr, handle) = serve(config, options).await.expect("emulator starts");
    assert!(handle.url().starts_with("https://127.0.0.1:"));
    assert_eq!(
        handle.certificate_pem(),
        Some(
            std::fs::read_to_string(&cert_out)
                .expect("written")
                .as_str()
        )
    );

    let path = |p: PathBuf| p.to_str().expect("utf-8 path").to_owned();
    let common = json!({
        "profile_arn": PROFILE,
        "role_arn": ROLE,
        "trust_anchor_arn": ANCHOR,
        "region": REGION,
        "endpoint": addr.to_string(),
        "verify": path(cert_out.clone()),
    });
    let with = |extra: Value| {
        let mut case = common.clone();
        for (k, v) in extra.as_object().expect("object") {
            case[k] = v.clone();
        }
        case
    };
    let cases = json!([
        // A leaf under the shared intermediate, with the chain file.
        with(json!({
            "certificate": path(key("leaf-p256-chain-cert.pem")),
            "certificate_chain": path(key("chain-intermediate.pem")),
            "private_key": path(key("p256-key.pem")),
        })),
        // RSA, encrypted PKCS#8 key, a session name and a shorter duration.
        with(json!({
            "certificate": path(key("rsa2048-selfsigned-cert.pem")),
            "private_key": path(key("rsa2048-key-pkcs8-encrypted.pem")),
            "private_key_passphrase": "password",
            "role_session_name": "interop-session",
            "session_duration": 900,
        })),
        // An unknown trust anchor: the package must surface the emulator's error message.
        with(json!({
            "certificate": path(key("p384-selfsigned-cert.pem")),
            "private_key": path(key("p384-key.pem")),
            "trust_anchor_arn": ANCHOR.replace("000000000001", "000000000099"),
        })),
    ]);

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/rolesanywhere_session.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(cases.to_string())
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the interop script failed (is iam-rolesanywhere-session installed? run ./scripts/test.sh):\n{stderr}"
    );
    let results: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));

    for (index, result) in results
        .as_array()
        .expect("results")
        .iter()
        .take(2)
        .enumerate()
    {
        assert_eq!(result["ok"], true, "case {index}: {result}\n{stderr}");
        let key = result["accessKeyId"].as_str().expect("access key");
        assert!(key.starts_with("ASIA"), "case {index}: {key}");
        assert_eq!(result["secretAccessKeyLength"], 40, "case {index}");
        assert!(result["sessionTokenLength"].as_u64().expect("length") > 100);
        assert!(
            result["expiration"].as_str().is_some(),
            "case {index}: {result}"
        );
    }
    let error = results[2]["error"].as_str().expect("the third case fails");
    assert!(
        error.contains("Trust anchor not found: arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000099"),
        "{error}"
    );
    assert!(error.contains("404"), "{error}");

    let stats = handle.stats();
    assert_eq!(
        (stats.accepted, stats.rejected),
        (2, 1),
        "stats after the interop run"
    );
    handle.shutdown().await;
}
