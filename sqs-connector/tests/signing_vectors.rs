//! The Roles Anywhere signer against the spec's vectors (`rolesanywhere.md` §9.2) and its error
//! cases (§3). The fixtures are read from `test-harness/fixtures/rolesanywhere`, unchanged.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use connector_sdk::Secret;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use pkcs8::DecodePublicKey;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqs_connector::auth::signing::{
    Certificate, KeyKind, PrivateKey, SessionParams, SignedRequest, SigningAlgorithm, SigningError,
    SigningIdentity, SigningRequest, hex_sha256, parse_certificate_pem, parse_chain_pem,
};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../test-harness/fixtures/rolesanywhere"
);

/// The passphrase of every encrypted fixture key.
const PASSPHRASE: &str = "password";

/// 2026-11-26T00:00:00Z, the time of every vector.
const VECTOR_TIME: u64 = 1_795_651_200;
/// 2026-01-01T00:00:00Z and 2036-01-01T00:00:00Z: the validity of every fixture certificate.
const NOT_BEFORE: u64 = 1_767_225_600;
const NOT_AFTER: u64 = 2_082_758_400;

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

fn fixture(relative: &str) -> String {
    let path = format!("{FIXTURES}/{relative}");
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

fn key_fixture(relative: &str) -> Secret {
    Secret::new(fixture(relative))
}

fn password() -> Secret {
    Secret::new(PASSPHRASE)
}

fn recommended() -> Value {
    serde_json::from_str(&fixture("vectors/recommended.json")).expect("recommended.json parses")
}

fn str_field<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("field {name} is a string"))
}

/// The key file and its PKCS#8 and encrypted PKCS#8 twins, e.g. `keys/p256-key.pem`,
/// `keys/p256-key-pkcs8.pem`, `keys/p256-key-pkcs8-encrypted.pem`.
fn key_formats(key_file: &str) -> Vec<String> {
    let stem = key_file.strip_suffix(".pem").expect("a .pem file");
    vec![
        key_file.to_owned(),
        format!("{stem}-pkcs8.pem"),
        format!("{stem}-pkcs8-encrypted.pem"),
    ]
}

fn identity(cert_file: &str, chain_files: &[&str], key_file: &str) -> SigningIdentity {
    let chain: String = chain_files.iter().map(|f| fixture(f)).collect();
    let chain = (!chain.is_empty()).then_some(chain);
    SigningIdentity::from_pem(
        &fixture(cert_file),
        chain.as_deref(),
        &key_fixture(key_file),
        Some(&password()),
    )
    .unwrap_or_else(|err| panic!("{cert_file} + {key_file}: {err}"))
}

fn sign_vector_body(identity: &SigningIdentity, body: &[u8]) -> SignedRequest {
    identity
        .sign(&SigningRequest::new(
            "eu-central-1",
            "rolesanywhere.eu-central-1.amazonaws.com",
            body,
            at(VECTOR_TIME),
        ))
        .expect("signs")
}

/// Verifies `signature_hex` over `string_to_sign` with the certificate's public key.
fn verify(cert: &Certificate, string_to_sign: &str, signature_hex: &str) {
    let signature = hex::decode(signature_hex).expect("hex signature");
    let digest = Sha256::digest(string_to_sign.as_bytes());
    let spki = cert.spki_der();
    if let Ok(key) = rsa::PublicKey::from_public_key_der(spki) {
        key.pkcs1v15_verify_prehash::<Sha256>(&digest, &signature)
            .expect("RSA signature verifies");
    } else if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
        let signature = p256::ecdsa::Signature::from_der(&signature).expect("DER signature");
        key.verify_prehash(&digest, &signature)
            .expect("P-256 signature verifies");
    } else {
        let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki).expect("a P-384 key");
        let signature = p384::ecdsa::Signature::from_der(&signature).expect("DER signature");
        key.verify_prehash(&digest, &signature)
            .expect("P-384 signature verifies (SHA-256 prehash)");
    }
}

// Throwaway keys generated with openssl for these tests only (not fixtures, never used elsewhere).

/// A throwaway 1024-bit RSA key (PKCS#1): too small.
const RSA_1024_PKCS1: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIICXAIBAAKBgQDZOImwrvsintWOC+XsmyYOyoIZz+c+NR4p13knsBLglmjOdRKx\n\
LQNL+0OmoBMwOvPU3U5bhIN8DGS18biL9yJj6w2K2Q+IEgwB5fnfnA0ipHuvwv3s\n\
ePESOup0/28o9OqFCNrs7H7cG0ru6kfXi2GV0J7iO5KdGdw38CVYQs6EWQIDAQAB\n\
AoGAcWKKtNhRrJueO3xIcz31GqloSdL1EMqnSQ35ZtcIs4Svhn0j2an2W5X3lSVf\n\
fsB3AHjYavr7qyfI9hQL0buZjfoU1LsTeV2KATQxs/7YG/YZ85RjZv9e4LL/OQMO\n\
DQO4HC63Ke2HgsP4sYh/U17l9uxSmU5T25CEqAAi33nSbyUCQQDzxujOcPMdBNzn\n\
CBdlWpKC4J3cfs7gNoLgeS27isk1uSDxT1+j2/lWCBKSVejlr6SKXQNY2I3R2RZc\n\
VHvpNTJrAkEA5BzB2L+cPvI+yionOA0dHf3tnFvIljUwqqhi2r4BjCH36cBlGaEz\n\
KUYFvYai1MVNq4LtPUhGdg5WYcSLw2/9SwJAfRqqZS+gBFd3inUjlJcrs1DUktDd\n\
GEHBXrOxnZp28kQkvNJQMcZ1KgqQhVrjX+SI250qV5EjDvuKty2APclYKwJAQW7a\n\
UAFOoWO9jSIgU9y3IHZJZVOSqzugtSNOD+725KqNwZh1p69szIcQeHgZVy0thWgu\n\
AykrRQwBzVOiv7HtFwJBAPD0dyTsHkG2noHzLE1Y8Vi8P/9Q58x8GQy0scuKPnW/\n\
GgITqTiOSirvEzZPLDcp8jwEcQuslLAi7dl28SoYlPE=\n\
-----END RSA PRIVATE KEY-----\n\
";

/// A throwaway P-521 key (SEC1): unsupported curve.
const P521_SEC1: &str = "\
-----BEGIN EC PRIVATE KEY-----\n\
MIHcAgEBBEIAvdtoVCd2v8j+1vjdvPCzLOLcucYOPF0E6OCbDRJyMCgsxV9dogWB\n\
P8buHGSv3bDITdTrXfL4AKlL/vly0+wd+pqgBwYFK4EEACOhgYkDgYYABAApo4NX\n\
L9X4TDj0h/9WKWJAH/V8e2XczROsbYcBxaqSEBoCvUgim2Jhf3g+13bcc+GRMJE2\n\
ms6/OeDmfZAXZNzofwG3lbykRoKrOnIUnkrDW1r6JCeotkXXeXCySW8VFf6iM5KJ\n\
MBfc3UiKlqRWarUfKUHsomYKS+ckrpK7jHecLjoDpw==\n\
-----END EC PRIVATE KEY-----\n\
";

/// A throwaway Ed25519 key (PKCS#8): unsupported algorithm.
const ED25519_PKCS8: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MC4CAQAwBQYDK2VwBCIEIL7M6xGo6Lij4Xz9F5jDKeCFxU4QuhOgraJPvQRmDhE9\n\
-----END PRIVATE KEY-----\n\
";

/// A throwaway P-256 key in legacy OpenSSL PEM encryption (passphrase `legacy-pass`).
const LEGACY_ENCRYPTED_P256: &str = "\
-----BEGIN EC PRIVATE KEY-----\n\
Proc-Type: 4,ENCRYPTED\n\
DEK-Info: AES-128-CBC,8AAF8753D1D1541D5BA523646F1271BE\n\
\n\
CCnqivizwlnEnndzaD9lnYpFrqa+Ei3y4eHcm59/QzOyl54q4x+lVjFhIEY2fYVN\n\
moFLVl2IDWjvJkMgPIu4PC4nui8B9gApb/KYu8n4Ln/w6FcH/bcWrT71YEXhFL4j\n\
pmGrlFd3RBaT+XZdsVjdfU35QCsg/qgo27WBY4aYt78=\n\
-----END EC PRIVATE KEY-----\n\
";

/// A throwaway P-256 key, PKCS#8 encrypted with PBES1 (PBE-SHA1-3DES, passphrase `pbes1-pass`).
const PBES1_ENCRYPTED_P256: &str = "\
-----BEGIN ENCRYPTED PRIVATE KEY-----\n\
MIGxMBwGCiqGSIb3DQEMAQMwDgQIIC1lC5tzOs0CAggABIGQ44fAGgf8j7E6Rx8h\n\
j+4I0EtW29PovUnautIb3hPajjuWLe9SEbyMLkUMQzOOtgiF5lqSOIa2FUEa7lZ+\n\
Tf8hpR1VjEFDZh3N8sgbMh7aOu5D9pC1QPi4TNYA7/HwW1O/mm4zFwAt1UFUCTTg\n\
cBaIImcFZqP5i8dkaBRlp4F3pgToh5Iu3+H81xw+mFBdO5Y7\n\
-----END ENCRYPTED PRIVATE KEY-----\n\
";

/// The same key, PKCS#8 PBES2 AES-128-CBC with PBKDF2-HMAC-SHA1 as ACM exports (passphrase `sha1-pass`).
const SHA1_PRF_ENCRYPTED_P256: &str = "\
-----BEGIN ENCRYPTED PRIVATE KEY-----\n\
MIHeMEkGCSqGSIb3DQEFDTA8MBsGCSqGSIb3DQEFDDAOBAjniUzoxPnEbgICCAAw\n\
HQYJYIZIAWUDBAECBBCzgBx23xdt/Uj2CPhZKccKBIGQz5LvMj7leR0KXfOBdIFe\n\
vTtLm8s+u8Wycb7BBnTEsTNECeT7ow7YFc5Qt/5hCwXUHOT6f8B9Uq64D39zD8UM\n\
YoPzy6jof5tXZYMCU/DNkDErAiV/jSRL0Pq//KvnHtISpPaXDSw4RGXiTJMIRHL1\n\
tVZgyoKSsxBsgG2adCDZ/wkAa4nZ846DgOKOc/wNsVJW\n\
-----END ENCRYPTED PRIVATE KEY-----\n\
";

/// The same key, PKCS#8 PBES2 with scrypt (passphrase `scrypt-pass`).
const SCRYPT_ENCRYPTED_P256: &str = "\
-----BEGIN ENCRYPTED PRIVATE KEY-----\n\
MIHkME8GCSqGSIb3DQEFDTBCMCEGCSsGAQQB2kcECzAUBAguJeBky9O7zgICQAAC\n\
AQgCAQEwHQYJYIZIAWUDBAEqBBDNBmv7IjrZJ4Xjek5SwTHwBIGQuBwV31AEM0+L\n\
/r8d2gSNdpFo0UdQ72RR6kcW+LhKT/tGe8wGAmWQtHguOf1H0gdip1loU1GGaa5A\n\
RyEs5SdxWRYgSwm1S7uSDntt70s6/fhclLi1DpHha1oL9w/wJt/RtfwTOD8zCQmY\n\
ad/EqVz0EfOmJrqg/UGLl2BVQj6M5kzrjHJWQ7W9eYdgYhV/ydhT\n\
-----END ENCRYPTED PRIVATE KEY-----\n\
";
#[test]
fn recommended_vectors_are_reproduced_byte_for_byte_in_every_key_format() {
    let vectors = recommended();
    assert_eq!(str_field(&vectors, "timestamp"), "20261126T000000Z");
    let list = vectors["vectors"].as_array().expect("a vector list");
    assert_eq!(list.len(), 6);
    for vector in list {
        let name = str_field(vector, "name");
        let expected_body = str_field(vector, "body");
        let sent_body: Value = serde_json::from_str(expected_body).expect("body is JSON");
        let params = SessionParams {
            duration_seconds: 3600,
            profile_arn: str_field(&vectors, "profileArn"),
            role_arn: str_field(&vectors, "roleArn"),
            trust_anchor_arn: str_field(&vectors, "trustAnchorArn"),
            role_session_name: sent_body["roleSessionName"].as_str(),
        };
        let query_form = !str_field(vector, "canonical_query").is_empty();
        let (query, body) = if query_form {
            params.query_form()
        } else {
            (Vec::new(), params.body())
        };
        assert_eq!(
            String::from_utf8_lossy(&body),
            expected_body,
            "{name}: body"
        );
        assert_eq!(
            hex_sha256(&body),
            str_field(vector, "body_sha256"),
            "{name}"
        );

        let chain: Vec<&str> = vector["chain_files"]
            .as_array()
            .expect("chain_files")
            .iter()
            .map(|f| f.as_str().expect("a file name"))
            .collect();
        let cert_file = str_field(vector, "certificate_file");
        for key_file in key_formats(str_field(vector, "private_key_file")) {
            let label = format!("{name} with {key_file}");
            let identity = identity(cert_file, &chain, &key_file);
            assert_eq!(
                identity.algorithm().as_str(),
                str_field(vector, "algorithm"),
                "{label}"
            );
            assert_eq!(
                identity.certificate().serial_decimal(),
                str_field(vector, "cert_serial_decimal"),
                "{label}"
            );
            let request = SigningRequest {
                query: &query,
                ..SigningRequest::new(
                    str_field(&vectors, "region"),
                    "rolesanywhere.eu-central-1.amazonaws.com",
                    &body,
                    at(VECTOR_TIME),
                )
            };
            let signed = identity.sign(&request).expect("signs");

            assert_eq!(
                signed.query_string,
                str_field(vector, "canonical_query"),
                "{label}"
            );
            let url = format!(
                "https://rolesanywhere.eu-central-1.amazonaws.com{}",
                signed.path_and_query()
            );
            assert_eq!(url, str_field(vector, "url"), "{label}");
            assert_eq!(
                signed.canonical_request,
                str_field(vector, "canonical_request"),
                "{label}"
            );
            assert_eq!(
                hex_sha256(signed.canonical_request.as_bytes()),
                str_field(vector, "canonical_request_sha256"),
                "{label}"
            );
            assert_eq!(
                signed.string_to_sign,
                str_field(vector, "string_to_sign"),
                "{label}"
            );
            assert_eq!(
                signed.signed_headers,
                str_field(vector, "signed_headers"),
                "{label}"
            );
            assert_eq!(
                signed.credential,
                str_field(vector, "credential"),
                "{label}"
            );
            // RSA (deterministic), P-256 and P-384 (RustCrypto RFC 6979) alike: exact bytes.
            assert_eq!(
                signed.signature_hex,
                str_field(vector, "signature_hex"),
                "{label}"
            );
            assert_eq!(
                signed.authorization,
                str_field(vector, "authorization"),
                "{label}"
            );
            assert!(
                signed
                    .authorization
                    .starts_with(str_field(vector, "authorization_prefix")),
                "{label}"
            );
            verify(
                identity.certificate(),
                &signed.string_to_sign,
                &signed.signature_hex,
            );

            // The headers to send: exactly the vector's, plus Authorization, in a fixed order.
            let sent: BTreeMap<String, &str> = signed
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.as_str()))
                .collect();
            let mut expected: BTreeMap<String, &str> = vector["headers"]
                .as_object()
                .expect("headers")
                .iter()
                .map(|(n, v)| (n.clone(), v.as_str().expect("a header value")))
                .collect();
            expected.insert(
                "authorization".to_owned(),
                str_field(vector, "authorization"),
            );
            assert_eq!(sent, expected, "{label}");
            let order: Vec<&str> = signed.headers.iter().map(|(n, _)| *n).collect();
            let mut want = vec!["Content-Type", "Host", "X-Amz-Date", "X-Amz-X509"];
            if !chain.is_empty() {
                want.push("X-Amz-X509-Chain");
            }
            want.push("Authorization");
            assert_eq!(order, want, "{label}");
        }
    }
}

#[test]
fn every_key_format_loads_to_the_same_kind() {
    for (file, kind) in [
        ("keys/rsa2048-key.pem", KeyKind::Rsa { bits: 2048 }),
        ("keys/root-ca-key.pem", KeyKind::Rsa { bits: 2048 }),
        ("keys/p256-key.pem", KeyKind::P256),
        ("keys/p384-key.pem", KeyKind::P384),
        ("keys/intermediate-ca-key.pem", KeyKind::P384),
    ] {
        for format in key_formats(file) {
            let key = PrivateKey::from_pem(&key_fixture(&format), Some(&password()))
                .unwrap_or_else(|err| panic!("{format}: {err}"));
            assert_eq!(key.kind(), kind, "{format}");
        }
    }
    let rsa = PrivateKey::from_pem(&key_fixture("keys/rsa2048-key.pem"), None).expect("loads");
    assert_eq!(rsa.algorithm(), SigningAlgorithm::RsaSha256);
    let ec = PrivateKey::from_pem(&key_fixture("keys/p384-key.pem"), None).expect("loads");
    assert_eq!(ec.algorithm(), SigningAlgorithm::EcdsaSha256);
}

#[test]
fn certificate_facts_for_test_connection() {
    let rsa = parse_certificate_pem(&fixture("keys/rsa2048-selfsigned-cert.pem")).expect("parses");
    assert_eq!(rsa.subject(), "CN=rolesanywhere-test-rsa2048");
    // The first content byte of this serial is 0x80: the DER sign pad is not part of it.
    assert_eq!(
        rsa.serial_decimal(),
        "2854594499835024342662578132328168661030207779"
    );
    assert_eq!(rsa.serial_hex(), "800123456789abcdef0123456789abcdef0123");
    assert_eq!(rsa.not_before_rfc3339(), "2026-01-01T00:00:00Z");
    assert_eq!(rsa.not_after_rfc3339(), "2036-01-01T00:00:00Z");
    assert_eq!(rsa.not_after(), at(NOT_AFTER));
    assert_eq!(rsa.not_before(), at(NOT_BEFORE));
    assert_eq!(rsa.public_key_description(), "RSA 2048-bit");

    let p256 = parse_certificate_pem(&fixture("keys/p256-selfsigned-cert.pem")).expect("parses");
    assert_eq!(p256.serial_decimal(), "4096");
    assert_eq!(p256.public_key_description(), "EC P-256");
    let leaf = parse_certificate_pem(&fixture("keys/leaf-p256-chain-cert.pem")).expect("parses");
    assert_eq!(leaf.serial_decimal(), "2");
    assert_eq!(leaf.issuer(), "CN=rolesanywhere-test-intermediate-ca");

    let chain = parse_chain_pem(&fixture("keys/chain-intermediate-root.pem")).expect("parses");
    let serials: Vec<&str> = chain.iter().map(Certificate::serial_decimal).collect();
    assert_eq!(serials, ["256", "1"]);
    assert_eq!(chain[1].subject(), "CN=rolesanywhere-test-root-ca");
    assert!(parse_chain_pem("  \n").expect("blank").is_empty());

    let debug = format!("{rsa:?}");
    assert!(debug.contains("CN=rolesanywhere-test-rsa2048"), "{debug}");
    assert!(debug.contains("2036-01-01T00:00:00Z"), "{debug}");
}

#[test]
fn the_certificate_is_checked_against_its_validity_period() {
    let identity = identity(
        "keys/rsa2048-selfsigned-cert.pem",
        &[],
        "keys/rsa2048-key.pem",
    );
    assert!(identity.check_validity(at(NOT_BEFORE)).is_ok());
    assert!(identity.check_validity(at(VECTOR_TIME)).is_ok());
    assert!(identity.check_validity(at(NOT_AFTER)).is_ok());

    let early = identity
        .check_validity(at(NOT_BEFORE - 1))
        .expect_err("not yet valid");
    assert!(matches!(early, SigningError::CertificateNotYetValid { .. }));
    assert_eq!(
        early.to_string(),
        "the certificate CN=rolesanywhere-test-rsa2048 is not yet valid: it is valid from \
         2026-01-01 00:00:00 UTC to 2036-01-01 00:00:00 UTC, and the time now is 2025-12-31 \
         23:59:59 UTC; check the system clock, or wait until the certificate becomes valid"
    );

    let late = identity
        .check_validity(at(NOT_AFTER + 1))
        .expect_err("expired");
    assert!(matches!(late, SigningError::CertificateExpired { .. }));
    assert_eq!(
        late.to_string(),
        "the certificate CN=rolesanywhere-test-rsa2048 has expired: it was valid from \
         2026-01-01 00:00:00 UTC to 2036-01-01 00:00:00 UTC, and the time now is 2036-01-01 \
         00:00:01 UTC; renew the certificate"
    );

    // Signing checks the same, at the signing time.
    let body = b"{}";
    let request = SigningRequest::new(
        "eu-central-1",
        "localhost:8080",
        body,
        at(NOT_AFTER + 86_400),
    );
    assert!(matches!(
        identity.sign(&request),
        Err(SigningError::CertificateExpired { .. })
    ));
}

#[test]
fn a_key_of_another_certificate_is_rejected() {
    let cert = fixture("keys/rsa2048-selfsigned-cert.pem");
    // Another algorithm: an EC key for an RSA certificate.
    let err = SigningIdentity::from_pem(&cert, None, &key_fixture("keys/p256-key.pem"), None)
        .expect_err("mismatch");
    assert_eq!(
        err.to_string(),
        "the private key does not belong to the certificate CN=rolesanywhere-test-rsa2048: the \
         key's public key (EC P-256) is not the certificate's SubjectPublicKeyInfo (RSA \
         2048-bit); use the private key the certificate was issued for"
    );
    // The same algorithm and size, another key: the root CA's RSA-2048 key.
    let err = SigningIdentity::from_pem(&cert, None, &key_fixture("keys/root-ca-key.pem"), None)
        .expect_err("mismatch");
    assert!(matches!(err, SigningError::KeyCertificateMismatch { .. }));
    assert!(
        err.to_string()
            .starts_with("the private key does not belong to the certificate"),
        "{err}"
    );
    // P-384 key of the intermediate CA for the P-384 self-signed certificate.
    let err = SigningIdentity::from_pem(
        &fixture("keys/p384-selfsigned-cert.pem"),
        None,
        &key_fixture("keys/intermediate-ca-key.pem"),
        None,
    )
    .expect_err("mismatch");
    assert!(err.to_string().contains("(EC P-384)"), "{err}");
}

#[test]
fn encrypted_keys_need_the_right_passphrase() {
    for file in [
        "keys/rsa2048-key-pkcs8-encrypted.pem",
        "keys/p256-key-pkcs8-encrypted.pem",
        "keys/p384-key-pkcs8-encrypted.pem",
    ] {
        let key = key_fixture(file);
        let wrong = PrivateKey::from_pem(&key, Some(&Secret::new("not-the-passphrase")))
            .expect_err("wrong passphrase");
        assert_eq!(wrong, SigningError::WrongPassphrase, "{file}");
        assert_eq!(
            wrong.to_string(),
            "the private key could not be decrypted: the passphrase is wrong (or the encrypted \
             key is damaged)"
        );
        for missing in [None, Some(Secret::new(""))] {
            let err = PrivateKey::from_pem(&key, missing.as_ref()).expect_err("no passphrase");
            assert_eq!(err, SigningError::PassphraseRequired, "{file}");
            assert_eq!(
                err.to_string(),
                "the private key is encrypted (ENCRYPTED PRIVATE KEY) but no passphrase was \
                 given; set the private key passphrase"
            );
        }
    }
}

#[test]
fn pbes2_variants_decrypt_and_pbes1_is_refused() {
    for (pem, pass) in [
        (SHA1_PRF_ENCRYPTED_P256, "sha1-pass"),
        (SCRYPT_ENCRYPTED_P256, "scrypt-pass"),
    ] {
        let key =
            PrivateKey::from_pem(&Secret::new(pem), Some(&Secret::new(pass))).expect("decrypts");
        assert_eq!(key.kind(), KeyKind::P256);
    }
    let err = PrivateKey::from_pem(
        &Secret::new(PBES1_ENCRYPTED_P256),
        Some(&Secret::new("pbes1-pass")),
    )
    .expect_err("PBES1");
    assert!(
        matches!(err, SigningError::UnsupportedKeyEncryption { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the encrypted private key uses an unsupported encryption scheme (algorithm PKCS#12 \
         pbeWithSHAAnd3-KeyTripleDES-CBC (1.2.840.113549.1.12.1.3)); re-encrypt it with PBES2 and \
         AES, e.g. `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key-pkcs8.pem`"
    );
}

#[test]
fn a_chain_longer_than_five_is_rejected() {
    let intermediate = fixture("keys/intermediate-ca-cert.pem");
    let leaf = fixture("keys/leaf-p256-chain-cert.pem");
    let key = key_fixture("keys/p256-key.pem");

    let six = intermediate.repeat(6);
    let err = SigningIdentity::from_pem(&leaf, Some(&six), &key, None).expect_err("too long");
    assert_eq!(err, SigningError::ChainTooLong { count: 6 });
    assert_eq!(
        err.to_string(),
        "the certificate chain has 6 certificates, but IAM Roles Anywhere accepts at most 5; \
         keep only the intermediate CA certificates that link the certificate to the trust \
         anchor (the root CA is optional)"
    );

    // Five are fine, and all five are sent.
    let five = intermediate.repeat(5);
    let identity = SigningIdentity::from_pem(&leaf, Some(&five), &key, None).expect("five");
    assert_eq!(identity.chain().len(), 5);
    let signed = sign_vector_body(&identity, b"{}");
    let header = signed.header("x-amz-x509-chain").expect("chain header");
    assert_eq!(header.split(',').count(), 5);
    assert!(!header.contains(' '));

    // A bundle that starts with the leaf: the leaf is not sent again nor counted.
    let bundle = format!("{leaf}{}", intermediate.repeat(5));
    let identity = SigningIdentity::from_pem(&leaf, Some(&bundle), &key, None).expect("bundle");
    assert_eq!(identity.chain().len(), 5);

    // The vector's chain, given as a bundle with the root: root and intermediate in file order.
    let identity = SigningIdentity::from_pem(
        &leaf,
        Some(&fixture("keys/chain-intermediate-root.pem")),
        &key,
        None,
    )
    .expect("chain");
    let subjects: Vec<&str> = identity.chain().iter().map(Certificate::subject).collect();
    assert_eq!(
        subjects,
        [
            "CN=rolesanywhere-test-intermediate-ca",
            "CN=rolesanywhere-test-root-ca"
        ]
    );
}

#[test]
fn unsupported_pem_labels_and_missing_blocks_are_named() {
    let openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    let err = PrivateKey::from_pem(&Secret::new(openssh), None).expect_err("unsupported");
    assert_eq!(
        err,
        SigningError::UnsupportedKeyLabel {
            label: "OPENSSH PRIVATE KEY".to_owned()
        }
    );
    assert_eq!(
        err.to_string(),
        "the private key has the unsupported PEM label \"OPENSSH PRIVATE KEY\"; convert it to \
         PKCS#8, e.g. `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-pkcs8.pem` (accepted \
         labels: RSA PRIVATE KEY, EC PRIVATE KEY, PRIVATE KEY, ENCRYPTED PRIVATE KEY)"
    );

    let cert_only = Secret::new(fixture("keys/p256-selfsigned-cert.pem"));
    let err = PrivateKey::from_pem(&cert_only, None).expect_err("no key");
    assert_eq!(
        err.to_string(),
        "no private key was found in the private key text (found: CERTIFICATE); expected a PEM \
         block labelled RSA PRIVATE KEY, EC PRIVATE KEY, PRIVATE KEY or ENCRYPTED PRIVATE KEY"
    );
    let err = PrivateKey::from_pem(&Secret::new("not PEM at all"), None).expect_err("no key");
    assert_eq!(err, SigningError::NoPrivateKey { found: Vec::new() });

    let err = parse_certificate_pem(&fixture("keys/p256-key.pem")).expect_err("no certificate");
    assert_eq!(
        err.to_string(),
        "no CERTIFICATE block was found in the certificate (found: EC PRIVATE KEY); expected \
         PEM text starting with -----BEGIN CERTIFICATE-----"
    );
    let err = parse_chain_pem(&fixture("keys/p256-key.pem")).expect_err("no certificate");
    assert!(
        err.to_string()
            .contains("in the certificate chain (found: EC PRIVATE KEY)"),
        "{err}"
    );
}

#[test]
fn unrelated_blocks_are_skipped() {
    // `openssl ecparam -genkey` writes EC PARAMETERS first; P-256's named curve here.
    let params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
    let key = Secret::new(format!("{params}{}", fixture("keys/p256-key.pem")));
    let cert = fixture("keys/p256-selfsigned-cert.pem");
    let identity = SigningIdentity::from_pem(&cert, None, &key, None).expect("skips parameters");
    let vector = &recommended()["vectors"][1];
    assert_eq!(str_field(vector, "name"), "rec-p256");
    let signed = sign_vector_body(&identity, str_field(vector, "body").as_bytes());
    assert_eq!(signed.signature_hex, str_field(vector, "signature_hex"));

    // Windows line endings.
    let crlf_cert = cert.replace('\n', "\r\n");
    let crlf_key = Secret::new(fixture("keys/p256-key.pem").replace('\n', "\r\n"));
    let identity = SigningIdentity::from_pem(&crlf_cert, None, &crlf_key, None).expect("CRLF");
    let signed = sign_vector_body(&identity, str_field(vector, "body").as_bytes());
    assert_eq!(signed.signature_hex, str_field(vector, "signature_hex"));

    // A combined file: certificate and key in one text, either order, used for both.
    let combined = format!("{cert}{}", fixture("keys/p256-key.pem"));
    let identity = SigningIdentity::from_pem(&combined, None, &Secret::new(combined.clone()), None)
        .expect("combined");
    assert_eq!(identity.certificate().serial_decimal(), "4096");
    let reversed = format!("{}{cert}", fixture("keys/p256-key.pem"));
    let identity = SigningIdentity::from_pem(&reversed, None, &Secret::new(reversed.clone()), None)
        .expect("reversed");
    assert_eq!(identity.key_kind(), KeyKind::P256);
}

#[test]
fn other_key_problems_have_their_own_messages() {
    let err = PrivateKey::from_pem(&Secret::new(RSA_1024_PKCS1), None).expect_err("small");
    assert_eq!(err, SigningError::RsaKeyTooSmall { bits: 1024 });
    assert_eq!(
        err.to_string(),
        "the RSA private key has 1024 bits, but IAM Roles Anywhere needs at least 2048; issue a \
         new certificate for an RSA key of 2048 bits or more, or for an EC P-256 or P-384 key"
    );

    let err = PrivateKey::from_pem(&Secret::new(P521_SEC1), None).expect_err("P-521");
    assert_eq!(
        err.to_string(),
        "the EC private key uses the curve P-521, which IAM Roles Anywhere does not support; use \
         P-256 or P-384"
    );

    let err = PrivateKey::from_pem(&Secret::new(ED25519_PKCS8), None).expect_err("Ed25519");
    assert_eq!(
        err.to_string(),
        "the private key's algorithm Ed25519 (1.3.101.112) is not supported; use RSA (2048 bits \
         or more), EC P-256 or EC P-384"
    );

    for pass in [None, Some(Secret::new("legacy-pass"))] {
        let err = PrivateKey::from_pem(&Secret::new(LEGACY_ENCRYPTED_P256), pass.as_ref())
            .expect_err("legacy");
        assert_eq!(err, SigningError::LegacyEncryptedKey);
        assert!(
            err.to_string().starts_with(
                "the private key is encrypted in the legacy OpenSSL PEM format (Proc-Type: \
                 4,ENCRYPTED), which is not supported"
            ),
            "{err}"
        );
    }

    let junk = "-----BEGIN RSA PRIVATE KEY-----\nAAECAwQF\n-----END RSA PRIVATE KEY-----\n";
    let err = PrivateKey::from_pem(&Secret::new(junk), None).expect_err("junk");
    assert_eq!(
        err,
        SigningError::MalformedKey {
            format: "PKCS#1 RSA"
        }
    );
    let broken = "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n";
    let err = PrivateKey::from_pem(&Secret::new(broken), None).expect_err("bad base64");
    assert!(matches!(err, SigningError::KeyPem { .. }), "{err:?}");
}

#[test]
fn request_inputs_are_validated() {
    let identity = identity("keys/p256-selfsigned-cert.pem", &[], "keys/p256-key.pem");
    for (region, host) in [
        ("eu central 1", "rolesanywhere.eu-central-1.amazonaws.com"),
        (
            "eu-central-1",
            "https://rolesanywhere.eu-central-1.amazonaws.com/",
        ),
        ("eu-central-1", ""),
    ] {
        let request = SigningRequest::new(region, host, b"{}", at(VECTOR_TIME));
        let err = identity.sign(&request).expect_err("invalid");
        assert!(matches!(err, SigningError::InvalidRequest(_)), "{err:?}");
    }

    // A host with a port is signed as given; sub-second times are truncated.
    let time = at(VECTOR_TIME) + Duration::from_millis(999);
    let signed = identity
        .sign(&SigningRequest::new(
            "us-east-1",
            "127.0.0.1:8080",
            b"{}",
            time,
        ))
        .expect("signs");
    assert_eq!(signed.header("host"), Some("127.0.0.1:8080"));
    assert_eq!(signed.header("X-Amz-Date"), Some("20261126T000000Z"));
    assert!(signed.canonical_request.contains("\nhost:127.0.0.1:8080\n"));
    assert!(
        signed
            .credential
            .ends_with("/20261126/us-east-1/rolesanywhere/aws4_request")
    );
    verify(
        identity.certificate(),
        &signed.string_to_sign,
        &signed.signature_hex,
    );
}

/// Every error and every Debug output that touches key handling, with the secrets involved.
#[test]
fn no_output_contains_key_material_or_a_passphrase() {
    let wrong = "wrong-passphrase-7f3a";
    let mut outputs: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = vec![PASSPHRASE.to_owned(), wrong.to_owned()];
    let record = |result: Result<PrivateKey, SigningError>, outputs: &mut Vec<String>| match result
    {
        Ok(key) => outputs.push(format!("{key:?}")),
        Err(err) => {
            outputs.push(err.to_string());
            outputs.push(format!("{err:?}"));
        }
    };

    let mut key_texts: Vec<String> = Vec::new();
    for file in [
        "keys/rsa2048-key.pem",
        "keys/p256-key.pem",
        "keys/p384-key.pem",
        "keys/root-ca-key.pem",
    ] {
        key_texts.extend(key_formats(file).iter().map(|f| fixture(f)));
    }
    key_texts.extend(
        [
            RSA_1024_PKCS1,
            P521_SEC1,
            ED25519_PKCS8,
            LEGACY_ENCRYPTED_P256,
            PBES1_ENCRYPTED_P256,
            SHA1_PRF_ENCRYPTED_P256,
        ]
        .map(str::to_owned),
    );
    for text in &key_texts {
        let key = Secret::new(text.clone());
        record(PrivateKey::from_pem(&key, Some(&password())), &mut outputs);
        record(
            PrivateKey::from_pem(&key, Some(&Secret::new(wrong))),
            &mut outputs,
        );
        record(PrivateKey::from_pem(&key, None), &mut outputs);
        // The key's base64 lines and its DER bytes, in hex, must appear nowhere.
        let body_lines = text
            .lines()
            .filter(|l| !l.starts_with("-----") && !l.contains(": ") && l.len() >= 16);
        for line in body_lines {
            secrets.push(line[..16].to_owned());
        }
        if let Ok(blocks) = pem::parse_many(text) {
            for block in blocks {
                for chunk in block.contents().chunks(12).filter(|c| c.len() == 12) {
                    secrets.push(hex::encode(chunk));
                    secrets.push(hex::encode_upper(chunk));
                }
            }
        }
    }

    // Identities, mismatches, and the PEM parser's own errors on damaged key text.
    let identity = identity(
        "keys/rsa2048-selfsigned-cert.pem",
        &[],
        "keys/rsa2048-key.pem",
    );
    outputs.push(format!("{identity:?}"));
    let mismatch = SigningIdentity::from_pem(
        &fixture("keys/rsa2048-selfsigned-cert.pem"),
        None,
        &key_fixture("keys/root-ca-key.pem"),
        None,
    )
    .expect_err("mismatch");
    outputs.push(mismatch.to_string());
    outputs.push(format!("{mismatch:?}"));
    let damaged = fixture("keys/rsa2048-key.pem").replacen('M', "!", 1);
    record(
        PrivateKey::from_pem(&Secret::new(damaged), None),
        &mut outputs,
    );
    let mismatched_tags = fixture("keys/p256-key.pem").replace("END EC", "END RSA");
    record(
        PrivateKey::from_pem(&Secret::new(mismatched_tags), None),
        &mut outputs,
    );
    outputs.push(format!("{:?}", password()));

    assert!(outputs.len() > 60, "{} outputs", outputs.len());
    assert!(secrets.len() > 500, "{} secrets", secrets.len());
    for output in &outputs {
        for secret in &secrets {
            assert!(
                !output.contains(secret.as_str()),
                "output {output:?} contains secret {secret:?}"
            );
        }
    }
}

/// The PyPI package's requests (spec §9.3) use another content type and JSON spacing, so only the
/// signature primitive is compared: RSA byte for byte, ECDSA by verification of both sides.
#[test]
fn the_signature_primitive_matches_the_python_package() {
    let vectors: Value =
        serde_json::from_str(&fixture("vectors/python-iam-rolesanywhere-session.json"))
            .expect("python vectors parse");
    let list = vectors["vectors"].as_array().expect("a vector list");
    assert_eq!(list.len(), 7);
    for vector in list {
        let name = str_field(vector, "name");
        let cert = parse_certificate_pem(&fixture(str_field(vector, "certificate_file")))
            .expect("certificate");
        assert_eq!(
            cert.serial_decimal(),
            str_field(vector, "cert_serial_decimal")
        );
        assert_eq!(cert.serial_hex(), str_field(vector, "cert_serial_hex"));
        let key = PrivateKey::from_pem(
            &key_fixture(str_field(vector, "private_key_file")),
            Some(&password()),
        )
        .expect("key");
        let string_to_sign = str_field(vector, "string_to_sign");
        let ours = hex::encode(key.sign(string_to_sign.as_bytes()).expect("signs"));
        if key.algorithm() == SigningAlgorithm::RsaSha256 {
            assert_eq!(ours, str_field(vector, "signature_hex"), "{name}");
        }
        verify(&cert, string_to_sign, &ours);
        verify(&cert, string_to_sign, str_field(vector, "signature_hex"));
    }
}

#[test]
fn a_bundle_of_thousands_of_certificates_is_refused_before_it_is_parsed() {
    let leaf = fixture("keys/leaf-p256-chain-cert.pem");
    let intermediate = fixture("keys/intermediate-ca-cert.pem");
    let key = key_fixture("keys/p256-key.pem");
    // The last block is no certificate: parsed, it would be the error; counted first, the
    // length is.
    let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let huge = format!("{}{broken}", intermediate.repeat(5_000));
    let Err(err) = SigningIdentity::from_pem(&leaf, Some(&huge), &key, None) else {
        panic!("a chain of 5001 certificates was accepted");
    };
    assert!(err.to_string().contains("has 5001 certificates"), "{err}");
}
