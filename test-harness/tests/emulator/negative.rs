//! Every negative case of spec §5 (and a few more): each request is rejected with the expected
//! status, code and message, and the reason header shows which check caught it.

use super::common::*;
use super::http;
use super::signer::EcDigest;

const DENIED: &str = "AccessDeniedException";
const VALIDATION: &str = "ValidationException";
const INVALID_SIGNATURE: &str = "Invalid signature";
const UNTRUSTED: &str = "Untrusted Signing Certificate";

#[tokio::test]
async fn flipped_signature_digit_is_rejected_for_every_key_type() {
    let (addr, handle) = start_default().await;
    for spec in [rsa_spec(), p256_spec(), p384_spec()] {
        let mut request = spec.sign();
        request.flip_signature_digit();
        expect_error(
            addr,
            &request,
            403,
            DENIED,
            INVALID_SIGNATURE,
            "does not verify",
        )
        .await;
    }
    assert_eq!(handle.stats().rejected, 3);
    assert_eq!(handle.stats().accepted, 0);
}

#[tokio::test]
async fn body_changed_after_signing_is_rejected() {
    let (addr, _handle) = start_default().await;
    let mut request = rsa_spec().sign();
    request.body = body(ANCHOR, PROFILE, ROLE, Some(1800));
    expect_error(
        addr,
        &request,
        403,
        DENIED,
        INVALID_SIGNATURE,
        "does not verify",
    )
    .await;
}

#[tokio::test]
async fn altered_signed_header_is_rejected() {
    let (addr, _handle) = start_default().await;
    let mut request = p256_spec().sign();
    request.set_header("content-type", "application/x-amz-json-1.0");
    expect_error(
        addr,
        &request,
        403,
        DENIED,
        INVALID_SIGNATURE,
        "does not verify",
    )
    .await;

    let mut request = p256_spec().sign();
    request.set_header("host", "rolesanywhere.eu-central-1.amazonaws.com:443");
    expect_error(
        addr,
        &request,
        403,
        DENIED,
        INVALID_SIGNATURE,
        "does not verify",
    )
    .await;

    let mut spec = p256_spec();
    spec.signed_extra = vec![("X-Extra".into(), "one".into())];
    let mut request = spec.sign();
    request.set_header("x-extra", "two");
    expect_error(
        addr,
        &request,
        403,
        DENIED,
        INVALID_SIGNATURE,
        "does not verify",
    )
    .await;
}

#[tokio::test]
async fn chain_present_but_not_signed_is_rejected() {
    let (addr, _handle) = start_default().await;
    let mut spec = chain_spec();
    spec.sign_chain = false;
    expect_error(
        addr,
        &spec.sign(),
        403,
        DENIED,
        INVALID_SIGNATURE,
        "X-Amz-X509-Chain is present but not in SignedHeaders",
    )
    .await;
}

#[tokio::test]
async fn algorithm_swapped_against_the_key_type_is_rejected() {
    let (addr, _handle) = start_default().await;
    let mut spec = rsa_spec();
    spec.algorithm = Some("AWS4-X509-ECDSA-SHA256".into());
    let message =
        "Algorithm AWS4-X509-ECDSA-SHA256 does not match the RSA key of the X-Amz-X509 certificate";
    expect_error(addr, &spec.sign(), 403, DENIED, message, message).await;

    let mut spec = p256_spec();
    spec.algorithm = Some("AWS4-X509-RSA-SHA256".into());
    let message =
        "Algorithm AWS4-X509-RSA-SHA256 does not match the EC key of the X-Amz-X509 certificate";
    expect_error(addr, &spec.sign(), 403, DENIED, message, message).await;
}

#[tokio::test]
async fn unknown_algorithm_names_are_rejected() {
    let (addr, _handle) = start_default().await;
    for name in [
        "AWS4-X509-ECDSA-SHA384",
        "AWS4-X509-RSA-SHA512",
        "AWS4-HMAC-SHA256",
    ] {
        let mut spec = p384_spec();
        spec.algorithm = Some(name.into());
        expect_error(
            addr,
            &spec.sign(),
            403,
            DENIED,
            INVALID_SIGNATURE,
            "unsupported signing algorithm",
        )
        .await;
    }
}

#[tokio::test]
async fn serial_in_credential_must_be_the_certificates() {
    let (addr, _handle) = start_default().await;
    let mut spec = p256_spec();
    spec.serial = Some("4097".into());
    expect_error(
        addr,
        &spec.sign(),
        403,
        DENIED,
        "The serial number in Credential does not match the X-Amz-X509 certificate",
        "Credential names serial 4097, the certificate's is 4096",
    )
    .await;
    // The RSA fixture's serial starts with 0x80: its DER has a 0x00 pad, which is not part of it.
    let mut spec = rsa_spec();
    spec.serial = Some("0".into());
    expect_error(
        addr,
        &spec.sign(),
        403,
        DENIED,
        "The serial number in Credential does not match the X-Amz-X509 certificate",
        "2854594499835024342662578132328168661030207779",
    )
    .await;
}

#[tokio::test]
async fn scope_region_or_date_mismatch_is_rejected() {
    let (addr, _handle) = start_default().await;
    let mut spec = rsa_spec();
    spec.region = "us-east-1".into();
    expect_error(
        addr,
        &spec.sign(),
        403,
        DENIED,
        "Credential should be scoped to a valid region.",
        "the scope names region us-east-1, the emulator serves eu-central-1",
    )
    .await;

    let mut spec = rsa_spec();
    spec.scope_date = Some("20261125".into());
    let message = "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261125' != '20261126', from '20261126T000000Z'.";
    expect_error(addr, &spec.sign(), 403, DENIED, message, message).await;
}

#[tokio::test]
async fn timestamps_beyond_five_minutes_are_rejected() {
    let (addr, _handle) = start_default().await;
    let mut spec = p256_spec();
    spec.amz_date = "20261126T000501Z".into();
    let message = "Signature not yet current: 20261126T000501Z is still later than 20261126T000500Z (20261126T000000Z + 5 min.).";
    expect_error(addr, &spec.sign(), 403, DENIED, message, message).await;

    spec.amz_date = "20261125T235459Z".into();
    let message = "Signature expired: 20261125T235459Z is now earlier than 20261125T235500Z (20261126T000000Z - 5 min.).";
    expect_error(addr, &spec.sign(), 403, DENIED, message, message).await;

    spec.amz_date = "2026-11-26T00:00:00Z".into();
    spec.scope_date = Some("20261126".into());
    let request = spec.sign();
    expect_error(
        addr,
        &request,
        403,
        DENIED,
        "X-Amz-Date must be in ISO-8601 basic format (yyyyMMdd'T'HHmmss'Z'), got '2026-11-26T00:00:00Z'.",
        "ISO-8601",
    )
    .await;
}

#[tokio::test]
async fn configured_skew_applies() {
    let mut config = test_config();
    config["clockSkewSeconds"] = 30.into();
    let (addr, _handle) = start(config).await;
    let mut spec = p256_spec();
    spec.amz_date = "20261126T000031Z".into();
    let message = "Signature not yet current: 20261126T000031Z is still later than 20261126T000030Z (20261126T000000Z + 30 sec.).";
    expect_error(addr, &spec.sign(), 403, DENIED, message, message).await;
    spec.amz_date = "20261126T000030Z".into();
    expect_granted(addr, &spec.sign()).await;
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates_are_rejected() {
    let (addr, _handle) = start_default().await;
    let request = emu_spec("leaf-expired-cert.pem").sign();
    expect_error(
        addr,
        &request,
        403,
        DENIED,
        UNTRUSTED,
        "'CN=emulator-leaf-expired' has expired",
    )
    .await;
    let request = emu_spec("leaf-not-yet-valid-cert.pem").sign();
    expect_error(
        addr,
        &request,
        403,
        DENIED,
        UNTRUSTED,
        "'CN=emulator-leaf-not-yet-valid' is not valid yet",
    )
    .await;
    // A valid leaf whose intermediate expired: every certificate on the path must be valid.
    let mut spec = emu_spec("leaf-under-expired-intermediate-cert.pem");
    spec.chain = vec![cert_der(&emu("expired-intermediate-cert.pem"))];
    expect_error(
        addr,
        &spec.sign(),
        403,
        DENIED,
        UNTRUSTED,
        "'CN=emulator-expired-intermediate' has expired",
    )
    .await;
}

#[tokio::test]
async fn leaf_with_ca_true_is_rejected() {
    let (addr, _handle) = start_default().await;
    let request = emu_spec("leaf-ca-true-cert.pem").sign();
    expect_error(
        addr,
        &request,
        403,
        DENIED,
        UNTRUSTED,
        "basicConstraints cA=TRUE",
    )
    .await;
}

#[tokio::test]
async fn leaf_without_digital_signature_key_usage_is_rejected() {
    let (addr, _handle) = start_default().await;
    let request = emu_spec("leaf-no-digital-signature-cert.pem").sign();
    expect_error(
        addr,
        &request,
        403,
        DENIED,
        UNTRUSTED,
        "keyUsage does not include digitalSignature",
    )
    .await;
}

#[tokio::test]
async fn sha1_signed_leaf_is_rejected() {
    let (addr, _handle) = start_default().await;
    let request = emu_spec("leaf-sha1-cert.pem").sign();
    expect_error(
        addr,
        &request,
        403,
        DENIED,
        UNTRUSTED,
        "signed with ecdsa-with-SHA1",
    )
    .await;
}

#[tokio::test]
async fn leaf_with_empty_subject_is_rejected() {
    let (addr, _handle) = start_default().await;
    let request = emu_spec("leaf-empty-subject-cert.pem").sign();
    expect_error(addr, &request, 403, DENIED, UNTRUSTED, "subject is empty").await;
}

#[tokio::test]
async fn chain_that_does_not_reach_the_anchor_is_rejected() {
    let (addr, _handle) = start_default().await;
    // The intermediate is missing.
    let mut spec = chain_spec();
    spec.chain.clear();
    expect_error(
        addr,
        &spec.sign(),
        403,
        DENIED,
        UNTRUSTED,
        "no certificate in the chain or the trust anchor issued 'CN=rolesanywhere-test-leaf-p256'",
    )
    .await;
    // A complete chain, but to a root that is not this trust anchor's.
    let mut spec = chain_spec();
    spec.body = body(ANCHOR_TEST_CA, PROFILE, ROLE, Some(3600));
    expect_error(
        addr,
        &spec.sign(),
        403,
        DENIED,
        UNTRUSTED,
        "issued 'CN=rolesanywhere-test-intermediate-ca'",
    )
    .await;
    // A self-signed certificate that no anchor lists.
    let mut spec = p256_spec();
    spec.body = body(ANCHOR_TEST_CA, PROFILE, ROLE, Some(3600));
    expect_error(
        addr,
        &spec.sign(),
        403,
        DENIED,
        UNTRUSTED,
        "issued 'CN=rolesanywhere-test-p256'",
    )
    .await;
    // Five of the six CAs between the deep leaf and its root: one short of the anchor.
    let mut spec = Spec::new(&emu("leaf-key.pem"), &emu("deep-leaf-cert.pem"));
    spec.body = body(ANCHOR_DEEP_ROOT, PROFILE, ROLE, Some(3600));
    spec.chain = (2..=6)
        .rev()
        .map(|i| cert_der(&emu(&format!("deep-int{i}-cert.pem"))))
        .collect();
    expect_error(
        addr,
        &spec.sign(),
        403,
        DENIED,
        UNTRUSTED,
        "issued 'CN=emulator-deep-int2'",
    )
    .await;
}

#[tokio::test]
async fn path_length_constraint_is_enforced() {
    let (addr, _handle) = start_default().await;
    // root (pathlen 1) -> shared intermediate (pathlen 0) -> sub CA -> leaf: one CA too many
    // below the shared intermediate.
    let mut spec = Spec::new(
        &emu("leaf-key.pem"),
        &emu("leaf-under-pathlen-sub-ca-cert.pem"),
    );
    spec.chain = vec![
        cert_der(&key("intermediate-ca-cert.pem")),
        cert_der(&emu("pathlen-sub-ca-cert.pem")),
    ];
    expect_error(
        addr,
        &spec.sign(),
        403,
        DENIED,
        UNTRUSTED,
        "'CN=rolesanywhere-test-intermediate-ca' allows 0 intermediate(s) below it, the path has 1",
    )
    .await;
}

#[tokio::test]
async fn chain_of_six_certificates_is_rejected() {
    let (addr, _handle) = start_default().await;
    let mut spec = Spec::new(&emu("leaf-key.pem"), &emu("deep-leaf-cert.pem"));
    spec.body = body(ANCHOR_DEEP_ROOT, PROFILE, ROLE, Some(3600));
    spec.chain = (1..=6)
        .rev()
        .map(|i| cert_der(&emu(&format!("deep-int{i}-cert.pem"))))
        .collect();
    let message = "X-Amz-X509-Chain holds 6 certificates; at most 5 are allowed";
    expect_error(addr, &spec.sign(), 400, VALIDATION, message, message).await;
}

#[tokio::test]
async fn duration_outside_900_to_43200_is_rejected() {
    let (addr, _handle) = start_default().await;
    let mut spec = rsa_spec();
    spec.body = body(ANCHOR, PROFILE, ROLE, Some(899));
    let message = "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900";
    expect_error(addr, &spec.sign(), 400, VALIDATION, message, message).await;
    spec.body = body(ANCHOR, PROFILE, ROLE, Some(43201));
    let message = "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200";
    expect_error(addr, &spec.sign(), 400, VALIDATION, message, message).await;
    spec.body = br#"{"durationSeconds":"3600","profileArn":"x"}"#.to_vec();
    spec.body = serde_json::to_vec(&serde_json::json!({
        "durationSeconds": 3600.5, "profileArn": PROFILE, "roleArn": ROLE, "trustAnchorArn": ANCHOR
    }))
    .expect("json");
    let message = "1 validation error detected: Value '3600.5' at 'durationSeconds' failed to satisfy constraint: Member must be an integer";
    expect_error(addr, &spec.sign(), 400, VALIDATION, message, message).await;
}

#[tokio::test]
async fn role_session_name_without_accept_role_session_name_is_rejected() {
    let (addr, _handle) = start_default().await;
    let mut spec = rsa_spec();
    spec.body = serde_json::to_vec(&serde_json::json!({
        "durationSeconds": 3600, "profileArn": PROFILE_NO_SESSION_NAME, "roleArn": ROLE,
        "trustAnchorArn": ANCHOR, "roleSessionName": "my-session"
    }))
    .expect("json");
    let message = "Not authorized to set roleSessionName.";
    expect_error(addr, &spec.sign(), 403, DENIED, message, message).await;
}

#[tokio::test]
async fn invalid_role_session_names_are_rejected() {
    let (addr, _handle) = start_default().await;
    for (name, constraint) in [
        ("x", "Member must have length between 2 and 64"),
        (
            "has space",
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        ),
    ] {
        let mut spec = rsa_spec();
        spec.body = serde_json::to_vec(&serde_json::json!({
            "profileArn": PROFILE, "roleArn": ROLE, "trustAnchorArn": ANCHOR, "roleSessionName": name
        }))
        .expect("json");
        let message = format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: {constraint}"
        );
        expect_error(addr, &spec.sign(), 400, VALIDATION, &message, &message).await;
    }
}

#[tokio::test]
async fn ecdsa_over_sha384_with_a_p384_key_is_rejected() {
    let (addr, _handle) = start_default().await;
    let mut spec = p384_spec();
    spec.ec_digest = EcDigest::Sha384;
    expect_error(
        addr,
        &spec.sign(),
        403,
        DENIED,
        INVALID_SIGNATURE,
        "the ECDSA signature does not verify",
    )
    .await;
}

#[tokio::test]
async fn raw_r_s_signature_instead_of_der_is_rejected() {
    let (addr, _handle) = start_default().await;
    for mut spec in [p256_spec(), p384_spec()] {
        spec.ec_raw = true;
        expect_error(
            addr,
            &spec.sign(),
            403,
            DENIED,
            INVALID_SIGNATURE,
            "the signature is not a DER-encoded ECDSA signature",
        )
        .await;
    }
}

#[tokio::test]
async fn missing_required_headers_are_rejected() {
    let (addr, _handle) = start_default().await;
    for (header, shown) in [
        ("authorization", "Authorization"),
        ("x-amz-date", "X-Amz-Date"),
        ("x-amz-x509", "X-Amz-X509"),
        ("host", "Host"),
    ] {
        let mut request = rsa_spec().sign();
        request.remove_header(header);
        let message = format!("Missing required header: {shown}");
        expect_error(addr, &request, 403, DENIED, &message, &message).await;
    }
}

#[tokio::test]
async fn malformed_authorization_is_rejected() {
    let (addr, _handle) = start_default().await;
    let cases = [
        (
            "AWS4-X509-RSA-SHA256 Credential=1/20261126/eu-central-1/rolesanywhere/aws4_request, Signature=00",
            "expected Credential",
        ),
        (
            "AWS4-X509-RSA-SHA256 Credential=abc/20261126/eu-central-1/rolesanywhere/aws4_request, SignedHeaders=host;x-amz-date;x-amz-x509, Signature=00",
            "serial is not a decimal",
        ),
        (
            "AWS4-X509-RSA-SHA256 Credential=1/20261126/eu-central-1/rolesanywhere/aws4_request, SignedHeaders=host;x-amz-date;x-amz-x509, Signature=zz",
            "not hexadecimal",
        ),
    ];
    for (value, reason) in cases {
        let mut request = rsa_spec().sign();
        request.set_header("authorization", value);
        expect_error(
            addr,
            &request,
            403,
            DENIED,
            "Malformed Authorization header",
            reason,
        )
        .await;
    }
}

#[tokio::test]
async fn signed_headers_must_be_complete_sorted_and_present() {
    let (addr, _handle) = start_default().await;
    let original = rsa_spec().sign();
    let auth = original.header("authorization").expect("auth").to_owned();
    let cases = [
        (
            "content-type;host;x-amz-date;x-amz-x509",
            "content-type;x-amz-date;x-amz-x509",
            "SignedHeaders must include host",
        ),
        (
            "content-type;host;x-amz-date;x-amz-x509",
            "host;content-type;x-amz-date;x-amz-x509",
            "sorted",
        ),
        (
            "content-type;host;x-amz-date;x-amz-x509",
            "Content-Type;host;x-amz-date;x-amz-x509",
            "lowercase",
        ),
        (
            "content-type;host;x-amz-date;x-amz-x509",
            "content-type;host;x-amz-date;x-amz-x509;x-missing",
            "signed header x-missing is not in the request",
        ),
    ];
    for (from, to, reason) in cases {
        let mut request = original.clone();
        request.set_header("authorization", &auth.replace(from, to));
        expect_error(addr, &request, 403, DENIED, INVALID_SIGNATURE, reason).await;
    }
}

#[tokio::test]
async fn malformed_certificates_are_rejected() {
    let (addr, _handle) = start_default().await;
    let mut request = rsa_spec().sign();
    let cert = request.header("x-amz-x509").expect("cert").to_owned();
    request.set_header("x-amz-x509", cert.trim_end_matches('='));
    expect_error(
        addr,
        &request,
        400,
        VALIDATION,
        "X-Amz-X509 is not a base64-encoded DER X.509 certificate",
        "base64",
    )
    .await;
    let mut request = chain_spec().sign();
    request.set_header("x-amz-x509-chain", "bm90IGEgY2VydGlmaWNhdGU=");
    expect_error(
        addr,
        &request,
        400,
        VALIDATION,
        "X-Amz-X509-Chain certificate 1 is not a base64-encoded DER X.509 certificate",
        "DER",
    )
    .await;
}

#[tokio::test]
async fn unknown_disabled_and_missing_resources_are_rejected() {
    let (addr, _handle) = start_default().await;
    let other_anchor = ANCHOR.replace("000000000001", "0000000000ff");
    let mut spec = rsa_spec();
    spec.body = body(&other_anchor, PROFILE, ROLE, None);
    expect_error(
        addr,
        &spec.sign(),
        404,
        "ResourceNotFoundException",
        &format!("Trust anchor not found: {other_anchor}"),
        "no such trust anchor",
    )
    .await;

    let other_profile = PROFILE.replace("000000000002", "0000000000ff");
    spec.body = body(ANCHOR, &other_profile, ROLE, None);
    expect_error(
        addr,
        &spec.sign(),
        404,
        "ResourceNotFoundException",
        &format!("Profile not found: {other_profile}"),
        "no such profile",
    )
    .await;

    let foreign = PROFILE.replace("123456789012", "999999999999");
    spec.body = body(ANCHOR, &foreign, ROLE, None);
    expect_error(
        addr,
        &spec.sign(),
        404,
        "ResourceNotFoundException",
        &format!("Profile not found: {foreign}"),
        "account 999999999999 is unknown",
    )
    .await;

    let elsewhere = ANCHOR.replace("eu-central-1", "us-east-1");
    spec.body = body(&elsewhere, PROFILE, ROLE, None);
    expect_error(
        addr,
        &spec.sign(),
        404,
        "ResourceNotFoundException",
        &format!("Trust anchor not found: {elsewhere}"),
        "region",
    )
    .await;

    spec.body = body(ANCHOR_DISABLED, PROFILE, ROLE, None);
    let message = format!("Trust anchor {ANCHOR_DISABLED} is disabled");
    expect_error(addr, &spec.sign(), 403, DENIED, &message, &message).await;

    spec.body = body(ANCHOR, PROFILE_DISABLED, ROLE, None);
    let message = format!("Profile {PROFILE_DISABLED} is disabled");
    expect_error(addr, &spec.sign(), 403, DENIED, &message, &message).await;

    let other_role = "arn:aws:iam::123456789012:role/other";
    spec.body = body(ANCHOR, PROFILE, other_role, None);
    let message = format!("Unable to assume role for {other_role}: the profile does not allow it");
    expect_error(addr, &spec.sign(), 403, DENIED, &message, &message).await;

    spec.body = br#"{"roleArn":"arn:aws:iam::123456789012:role/rolesanywhere-test","trustAnchorArn":"arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000001"}"#.to_vec();
    let message = "1 validation error detected: Value null at 'profileArn' failed to satisfy constraint: Member must not be null";
    expect_error(addr, &spec.sign(), 400, VALIDATION, message, message).await;

    spec.body = body(
        ANCHOR,
        "arn:aws:rolesanywhere:eu-central-1:123456789012:role/x",
        ROLE,
        None,
    );
    let message = "Invalid profileArn: 'arn:aws:rolesanywhere:eu-central-1:123456789012:role/x'";
    expect_error(addr, &spec.sign(), 400, VALIDATION, message, message).await;

    spec.body = serde_json::to_vec(&serde_json::json!({
        "profileArn": PROFILE, "roleArn": ROLE, "trustAnchorArn": ANCHOR, "instanceProperties": {"a": 1}
    }))
    .expect("json");
    let message = "instanceProperties must be a map of string values";
    expect_error(addr, &spec.sign(), 400, VALIDATION, message, message).await;

    spec.body = b"not json".to_vec();
    expect_error(
        addr,
        &spec.sign(),
        400,
        VALIDATION,
        "The request body is not valid JSON",
        "expected",
    )
    .await;
}

#[tokio::test]
async fn query_and_body_must_agree() {
    let (addr, _handle) = start_default().await;
    let mut spec = rsa_spec();
    spec.query = vec![("profileArn".into(), PROFILE_SHORT.into())];
    let message = "profileArn differs between the query string and the body";
    expect_error(addr, &spec.sign(), 400, VALIDATION, message, message).await;
}

#[tokio::test]
async fn wrong_routes_are_rejected_and_not_counted() {
    let (addr, handle) = start_default().await;
    let response = http::get(addr, "/sessions").await;
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST"));
    let mut request = rsa_spec().sign();
    request.target = "/session".into();
    let response = http::send(addr, &request).await;
    assert_eq!(response.status, 404);
    assert_eq!(response.json()["__type"], "UnknownOperationException");
    assert_eq!(handle.stats().accepted + handle.stats().rejected, 0);
}

use super::signer::Spec;
