//! Requests the emulator must accept (spec §5 "Positive tests"), and the shape of its answer.

use super::common::*;
use super::http;
use super::signer::Spec;

#[tokio::test]
async fn form_a_is_accepted_with_every_field_of_the_answer() {
    let (addr, handle) = start_default().await;
    let response = http::send(addr, &rsa_spec().sign()).await;
    assert_eq!(response.status, 201, "{}", response.reason());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(
        response
            .header("x-amzn-requestid")
            .is_some_and(|id| id.len() == 36)
    );
    let body = response.json();
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["credentialSet", "subjectArn"]);
    let set = &body["credentialSet"][0];
    let serial_hex = "800123456789abcdef0123456789abcdef0123";
    assert_eq!(
        set["assumedRoleUser"]["arn"],
        format!("arn:aws:sts::123456789012:assumed-role/rolesanywhere-test/{serial_hex}")
    );
    let role_id = set["assumedRoleUser"]["assumedRoleId"]
        .as_str()
        .expect("role id");
    assert!(
        role_id.starts_with("AROA") && role_id.ends_with(&format!(":{serial_hex}")),
        "{role_id}"
    );
    let creds = &set["credentials"];
    let access_key = creds["accessKeyId"].as_str().expect("key");
    assert!(
        access_key.starts_with("ASIA") && access_key.len() == 20,
        "{access_key}"
    );
    assert!(
        access_key[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    assert_eq!(creds["secretAccessKey"].as_str().expect("secret").len(), 40);
    assert!(creds["sessionToken"].as_str().expect("token").len() > 100);
    assert_eq!(creds["expiration"], "2026-11-26T01:00:00Z");
    assert_eq!(set["packedPolicySize"], 0);
    assert_eq!(set["roleArn"], ROLE);
    assert_eq!(set["sourceIdentity"], "CN=rolesanywhere-test-rsa2048");
    let subject = body["subjectArn"].as_str().expect("subject");
    assert!(
        subject.starts_with("arn:aws:rolesanywhere:eu-central-1:123456789012:subject/"),
        "{subject}"
    );
    assert_eq!(subject.len() - subject.rfind('/').expect("slash") - 1, 36);

    // Each call issues fresh credentials; the subject stays the same.
    let again = expect_granted(addr, &rsa_spec().sign()).await;
    assert_ne!(
        again["credentialSet"][0]["credentials"]["accessKeyId"],
        creds["accessKeyId"]
    );
    assert_eq!(again["subjectArn"], body["subjectArn"]);
    assert_eq!(handle.stats().accepted, 2);
}

#[tokio::test]
async fn form_a_is_accepted_for_p256_and_p384_keys() {
    let (addr, _handle) = start_default().await;
    let body = expect_granted(addr, &p256_spec().sign()).await;
    assert_eq!(
        body["credentialSet"][0]["assumedRoleUser"]["arn"],
        "arn:aws:sts::123456789012:assumed-role/rolesanywhere-test/1000"
    );
    let body = expect_granted(addr, &p384_spec().sign()).await;
    assert_eq!(
        body["credentialSet"][0]["assumedRoleUser"]["arn"],
        "arn:aws:sts::123456789012:assumed-role/rolesanywhere-test/01"
    );
    assert_eq!(
        body["credentialSet"][0]["sourceIdentity"],
        "CN=rolesanywhere-test-p384"
    );
}

#[tokio::test]
async fn form_b_query_parameters_are_accepted() {
    let (addr, _handle) = start_default().await;
    let mut spec = rsa_spec();
    spec.query = vec![
        ("trustAnchorArn".into(), ANCHOR.into()),
        ("roleArn".into(), ROLE.into()),
        ("profileArn".into(), PROFILE.into()),
    ];
    spec.body = br#"{"durationSeconds":1800}"#.to_vec();
    let request = spec.sign();
    assert!(
        request
            .target
            .starts_with("/sessions?profileArn=arn%3Aaws%3Arolesanywhere%3A")
    );
    let body = expect_granted(addr, &request).await;
    assert_eq!(
        body["credentialSet"][0]["credentials"]["expiration"],
        "2026-11-26T00:30:00Z"
    );
    // The same value in the query and the body is fine.
    let mut spec = rsa_spec();
    spec.query = vec![("profileArn".into(), PROFILE.into())];
    expect_granted(addr, &spec.sign()).await;
}

#[tokio::test]
async fn shuffled_chain_with_the_leaf_duplicated_is_accepted() {
    let (addr, _handle) = start_default().await;
    let mut spec = chain_spec();
    let leaf = spec.cert.clone();
    let intermediate = spec.chain[0].clone();
    spec.chain = vec![
        cert_der(&key("root-ca-cert.pem")),
        leaf.clone(),
        intermediate.clone(),
        intermediate,
        leaf,
    ];
    let body = expect_granted(addr, &spec.sign()).await;
    assert_eq!(
        body["credentialSet"][0]["sourceIdentity"],
        "CN=rolesanywhere-test-leaf-p256"
    );
}

#[tokio::test]
async fn deep_chains_reach_their_anchor() {
    let (addr, _handle) = start_default().await;
    // Five chain certificates to the root's anchor... is one short (see negative), but four reach
    // an anchor that is itself an intermediate CA.
    let mut spec = Spec::new(&emu("leaf-key.pem"), &emu("deep-leaf-cert.pem"));
    spec.body = body(ANCHOR_DEEP_INT2, PROFILE, ROLE, Some(3600));
    spec.chain = (3..=6)
        .map(|i| cert_der(&emu(&format!("deep-int{i}-cert.pem"))))
        .collect();
    expect_granted(addr, &spec.sign()).await;
    // Sending the anchor itself in the chain as well is fine.
    spec.chain.push(cert_der(&emu("deep-int2-cert.pem")));
    expect_granted(addr, &spec.sign()).await;
}

#[tokio::test]
async fn generated_leaf_under_the_test_ca_is_accepted() {
    let (addr, _handle) = start_default().await;
    let body = expect_granted(addr, &emu_spec("leaf-good-cert.pem").sign()).await;
    assert_eq!(
        body["credentialSet"][0]["sourceIdentity"],
        "CN=emulator-leaf-good"
    );
}

#[tokio::test]
async fn extra_signed_headers_are_accepted() {
    let (addr, _handle) = start_default().await;
    let mut spec = p256_spec();
    let length = spec.body.len().to_string();
    spec.signed_extra = vec![
        ("Content-Length".into(), length),
        (
            "amz-sdk-invocation-id".into(),
            "0b3c1f6e-2f5d-4e1b-9a59-5b2c8f7e1d11".into(),
        ),
        ("amz-sdk-request".into(), "attempt=1; max=3".into()),
        (
            "X-Amz-User-Agent".into(),
            "aws-sdk-go-v2/1.30.0   os/linux".into(),
        ),
    ];
    let request = spec.sign();
    assert!(request.header("authorization").expect("auth").contains(
        "SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-date;x-amz-user-agent;x-amz-x509,"
    ));
    expect_granted(addr, &request).await;
}

#[tokio::test]
async fn chunked_body_is_accepted() {
    let (addr, _handle) = start_default().await;
    let mut request = rsa_spec().sign();
    request.chunked = true;
    let wire = String::from_utf8(http::wire(&request)).expect("text");
    assert!(wire.contains("Transfer-Encoding: chunked\r\n") && !wire.contains("Content-Length"));
    expect_granted(addr, &request).await;
}

#[tokio::test]
async fn host_with_a_port_is_accepted() {
    let (addr, _handle) = start_default().await;
    let mut spec = p384_spec();
    spec.host = addr.to_string();
    expect_granted(addr, &spec.sign()).await;
    spec.host = "rolesanywhere.eu-central-1.amazonaws.com:8443".into();
    expect_granted(addr, &spec.sign()).await;
}

#[tokio::test]
async fn duration_is_the_smaller_of_profile_and_request() {
    let (addr, _handle) = start_default().await;
    let expiration = |body: serde_json::Value| {
        body["credentialSet"][0]["credentials"]["expiration"]
            .as_str()
            .expect("expiration")
            .to_owned()
    };
    let mut spec = rsa_spec();
    spec.body = body(ANCHOR, PROFILE, ROLE, None);
    assert_eq!(
        expiration(expect_granted(addr, &spec.sign()).await),
        "2026-11-26T01:00:00Z"
    );
    spec.body = body(ANCHOR, PROFILE, ROLE, Some(900));
    assert_eq!(
        expiration(expect_granted(addr, &spec.sign()).await),
        "2026-11-26T00:15:00Z"
    );
    spec.body = body(ANCHOR, PROFILE, ROLE, Some(43200));
    assert_eq!(
        expiration(expect_granted(addr, &spec.sign()).await),
        "2026-11-26T01:00:00Z"
    );
    spec.body = body(ANCHOR, PROFILE_SHORT, ROLE, Some(3600));
    assert_eq!(
        expiration(expect_granted(addr, &spec.sign()).await),
        "2026-11-26T00:15:00Z"
    );
}

#[tokio::test]
async fn credential_lifetime_override_sets_the_expiration() {
    let mut config = test_config();
    config["credentialLifetimeSeconds"] = 61.into();
    let (addr, _handle) = start(config).await;
    let body = expect_granted(addr, &rsa_spec().sign()).await;
    assert_eq!(
        body["credentialSet"][0]["credentials"]["expiration"],
        "2026-11-26T00:01:01Z"
    );
}

#[tokio::test]
async fn role_session_name_is_used_when_the_profile_accepts_it() {
    let (addr, _handle) = start_default().await;
    let mut spec = rsa_spec();
    spec.body = serde_json::to_vec(&serde_json::json!({
        "durationSeconds": 3600, "profileArn": PROFILE, "roleArn": ROLE,
        "trustAnchorArn": ANCHOR, "roleSessionName": "my-session"
    }))
    .expect("json");
    let body = expect_granted(addr, &spec.sign()).await;
    let user = &body["credentialSet"][0]["assumedRoleUser"];
    assert_eq!(
        user["arn"],
        "arn:aws:sts::123456789012:assumed-role/rolesanywhere-test/my-session"
    );
    assert!(
        user["assumedRoleId"]
            .as_str()
            .expect("id")
            .ends_with(":my-session")
    );
    // instanceProperties (a map of strings) is accepted.
    spec.body = serde_json::to_vec(&serde_json::json!({
        "profileArn": PROFILE, "roleArn": ROLE, "trustAnchorArn": ANCHOR,
        "instanceProperties": {"host": "worker-1"}
    }))
    .expect("json");
    expect_granted(addr, &spec.sign()).await;
}

#[tokio::test]
async fn timestamps_within_five_minutes_are_accepted() {
    let (addr, _handle) = start_default().await;
    for date in ["20261126T000500Z", "20261125T235500Z"] {
        let mut spec = p256_spec();
        spec.amz_date = date.into();
        expect_granted(addr, &spec.sign()).await;
    }
}

#[tokio::test]
async fn high_s_ecdsa_signatures_are_accepted() {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use sha2::Digest as _;

    let (addr, _handle) = start_default().await;
    // Sign once to learn the string to sign, then re-sign it with the s value negated.
    let spec = p256_spec();
    let request = spec.sign();
    let auth = request.header("authorization").expect("auth").to_owned();
    let key = super::signer::Key::from_pem_file(&key("p256-key.pem"));
    let super::signer::Key::P256(signing) = key else {
        panic!("P-256 key expected")
    };
    // Recompute the string to sign from the vector format (same inputs as the signer used).
    let canonical_hash = {
        let b64 = request.header("x-amz-x509").expect("cert");
        let canonical = format!(
            "POST\n/sessions\n\ncontent-type:application/json\nhost:rolesanywhere.eu-central-1.amazonaws.com\nx-amz-date:{NOW_AMZ}\nx-amz-x509:{b64}\n\ncontent-type;host;x-amz-date;x-amz-x509\n{}",
            hex::encode(sha2::Sha256::digest(&request.body))
        );
        hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
    };
    let sts = format!(
        "AWS4-X509-ECDSA-SHA256\n{NOW_AMZ}\n20261126/eu-central-1/rolesanywhere/aws4_request\n{canonical_hash}"
    );
    let sig: p256::ecdsa::Signature = signing
        .sign_prehash(&sha2::Sha256::digest(sts.as_bytes()))
        .expect("signs");
    let (r, s) = sig.split_scalars();
    let high =
        p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).expect("high-S");
    let (low, other) = (sig.normalize_s(), high.normalize_s());
    assert_eq!(low, other, "the two differ only in the sign of s");
    for candidate in [sig, high] {
        let mut request = request.clone();
        let prefix = &auth[..auth.find("Signature=").expect("signature") + "Signature=".len()];
        request.set_header(
            "authorization",
            &format!("{prefix}{}", hex::encode(candidate.to_der().as_bytes())),
        );
        expect_granted(addr, &request).await;
    }
}

#[tokio::test]
async fn stats_endpoint_counts_accepted_and_rejected_calls() {
    let (addr, handle) = start_default().await;
    let stats = http::get(addr, "/_emulator/stats").await;
    assert_eq!(stats.status, 200);
    assert_eq!(
        stats.json(),
        serde_json::json!({"accepted": 0, "rejected": 0})
    );
    expect_granted(addr, &rsa_spec().sign()).await;
    let mut bad = rsa_spec().sign();
    bad.flip_signature_digit();
    assert_eq!(http::send(addr, &bad).await.status, 403);
    expect_granted(addr, &p256_spec().sign()).await;
    let stats = http::get(addr, "/_emulator/stats").await;
    assert_eq!(
        stats.json(),
        serde_json::json!({"accepted": 2, "rejected": 1})
    );
    assert_eq!(handle.stats().accepted, 2);
    assert_eq!(handle.stats().rejected, 1);
    handle.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "stopped after shutdown"
    );
}
