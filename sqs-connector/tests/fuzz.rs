//! Fuzzing, run for a few seconds per target by `cargo test` (longer with `FUZZ_SECONDS`;
//! `fuzz-support` describes the environment and the reports):
//!
//! * PEM and private keys (`PrivateKey::from_pem`: PKCS#1 RSA, SEC1 EC, PKCS#8, encrypted
//!   PKCS#8), certificates and chains (`parse_certificate_pem`, `parse_chain_pem`,
//!   `Certificate::from_der`, `SigningIdentity::from_pem`), seeded with the fixtures of
//!   `test-harness/fixtures/rolesanywhere/keys` and mutated in their DER as well as their text.
//!   No panic, no error text quoting the key's base64, bounded allocation and time.
//! * Component validation (`Connector::validate_connection`, `validate_operation`) against this
//!   connector's descriptor, with components mutated field by field: no panic, and a field error
//!   never quotes a secret's value nor any text longer than 32 characters of a value.
//!
//! Allocation bound: 16 bytes per input byte + 2 MiB (an input is a few KiB; the 2 MiB covers
//! the fixed cost of RSA and EC arithmetic and, for a passphrase-protected key, a scrypt
//! derivation of at most 1 MiB, see [`cheap_derivation`]). Time limit: 2 s per input in a debug
//! build (an RSA key's checks are its slowest work).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use connector_sdk::{Component, Secret};
use fuzz_support::{Bound, Mutator, Rng, Target, measured};
use pkcs8::der::Decode as _;
use serde_json::{Map, Value, json};
use sqs_connector::auth::signing::{
    Certificate, MAX_PBKDF2_ITERATIONS, MAX_SCRYPT_MEMORY, MAX_SCRYPT_WORK, PrivateKey,
    SigningIdentity, parse_certificate_pem, parse_chain_pem, scrypt_cost,
};

#[global_allocator]
static ALLOCATOR: fuzz_support::CountingAllocator = fuzz_support::CountingAllocator;

const KEYS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../test-harness/fixtures/rolesanywhere/keys"
);

/// The passphrase of every encrypted fixture key.
const PASSPHRASE: &str = "password";

const BOUND: Bound = Bound {
    per_input_byte: 16,
    base: 2 << 20,
};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every fixture whose name contains `part`.
fn fixtures(part: &str) -> Vec<Vec<u8>> {
    let mut names: Vec<String> = std::fs::read_dir(KEYS)
        .expect("the fixtures")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".pem") && n.contains(part))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| fixture(&n).into_bytes())
        .collect()
}

const LABELS: &[&str] = &[
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "CERTIFICATE",
    "EC PARAMETERS",
    "OPENSSH PRIVATE KEY",
    "",
];

/// DER's tags and lengths, lengths at their limits included.
const DER_TOKENS: &[&[u8]] = &[
    &[0x30, 0x80],
    &[0x30, 0x81, 0xff],
    &[0x30, 0x82, 0xff, 0xff],
    &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
    &[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0x02, 0x00],
    &[0x02, 0x01, 0x00],
    &[0x02, 0x01, 0xff],
    &[
        0x02, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ],
    &[0x05, 0x00],
    &[0x04, 0x00],
    &[0x03, 0x01, 0x00],
    &[0x06, 0x00],
    &[0x06, 0x01, 0x80],
    &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ],
    &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
    &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
    &[0xa0, 0x00],
    &[0xa3, 0x00],
    &[0x17, 0x0d],
    &[0x18, 0x0f],
    &[0x1f, 0xff, 0xff, 0xff, 0x7f],
];

/// A PEM text's blocks mutated in their DER, or their labels, headers and order.
fn mutate_pem(rng: &mut Rng, mutator: &Mutator, data: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(data).ok()?;
    let mut blocks = pem::parse_many(text).ok()?;
    if blocks.is_empty() {
        return None;
    }
    let at = rng.below(blocks.len());
    match rng.below(8) {
        0..=3 => {
            let mut der = blocks[at].contents().to_vec();
            for _ in 0..1 + rng.below(3) {
                if rng.chance(1, 3) && !der.is_empty() {
                    let token = rng.pick(DER_TOKENS);
                    let to = rng.below(der.len());
                    let end = (to + token.len()).min(der.len());
                    der.splice(to..end, token.iter().copied());
                } else {
                    mutator.mutate(rng, &mut der);
                }
            }
            blocks[at] = pem::Pem::new(blocks[at].tag(), der);
        }
        4 => {
            let der = blocks[at].contents().to_vec();
            blocks[at] = pem::Pem::new(*rng.pick(LABELS), der);
        }
        5 => {
            let mut block = pem::Pem::new(blocks[at].tag(), blocks[at].contents().to_vec());
            let headers = block.headers_mut();
            let _ = headers.add("Proc-Type", "4,ENCRYPTED");
            let _ = headers.add("DEK-Info", "AES-128-CBC,00000000000000000000000000000000");
            blocks[at] = block;
        }
        6 => {
            let block = blocks.remove(at);
            let to = rng.below(blocks.len() + 1);
            blocks.insert(to, block);
        }
        _ => {
            let block = pem::Pem::new(blocks[at].tag(), blocks[at].contents().to_vec());
            for _ in 0..rng.below(8) {
                blocks.push(block.clone());
            }
        }
    }
    Some(pem::encode_many(&blocks).into_bytes())
}

/// The base64 lines of a PEM text: an error that quotes one quotes key material.
fn base64_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| {
        l.len() >= 24
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    })
}

fn no_quoted_base64(text: &str, error: &dyn std::fmt::Display) -> Result<(), String> {
    let message = error.to_string();
    if message.is_empty() {
        return Err("an error without a message".to_owned());
    }
    match base64_lines(text).find(|line| message.contains(line)) {
        Some(line) => Err(format!(
            "the error quotes the input's base64 {line:?}: {message}"
        )),
        None => Ok(()),
    }
}

/// Whether the key derivation of the key block `from_pem` picks (the first with a key label)
/// is cheap: no more PBKDF2 iterations than the fixtures' tenfold, and scrypt within 1 MiB.
/// A derivation between that and the connector's caps (1,000,000 iterations, 256 MiB) is the
/// cost of a legitimate key, seconds of work in a debug build: such inputs are run without
/// the passphrase, which stops before deriving. One beyond the caps is run with it, since it
/// must be refused before any derivation.
fn cheap_derivation(text: &str) -> bool {
    use pkcs8::pkcs5::pbes2::Kdf;
    let Ok(blocks) = pem::parse_many(text) else {
        return true;
    };
    let Some(block) = blocks.iter().find(|b| b.tag().ends_with("PRIVATE KEY")) else {
        return true;
    };
    if block.tag() != "ENCRYPTED PRIVATE KEY" {
        return true;
    }
    let Ok(info) = pkcs8::EncryptedPrivateKeyInfoRef::from_der(block.contents()) else {
        return true;
    };
    let Some(params) = info.encryption_algorithm.pbes2() else {
        return true;
    };
    match &params.kdf {
        Kdf::Pbkdf2(pbkdf2) => {
            pbkdf2.iteration_count <= 20_480 || pbkdf2.iteration_count > MAX_PBKDF2_ITERATIONS
        }
        Kdf::Scrypt(scrypt) => {
            let (memory, work) = scrypt_cost(scrypt);
            (memory <= 1 << 20 && work <= 1 << 14)
                || memory > MAX_SCRYPT_MEMORY
                || work > MAX_SCRYPT_WORK
        }
        _ => true,
    }
}

fn check_key(bytes: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let passphrase = Secret::new(PASSPHRASE.to_owned());
    let passphrase = cheap_derivation(&text).then_some(&passphrase);
    let key = Secret::new(text.clone());
    match measured(|| PrivateKey::from_pem(&key, passphrase)) {
        Ok(key) => {
            let kind = key.kind();
            let signature = measured(|| key.sign(b"message")).map_err(|e| e.to_string())?;
            if signature.is_empty() {
                return Err(format!("a {kind} key signed with no bytes"));
            }
            Ok(())
        }
        Err(error) => no_quoted_base64(&text, &error),
    }
}

#[test]
fn fuzz_private_keys() {
    Target::new("fuzz_private_keys", fixtures("key"))
        .tokens(LABELS.iter().map(|l| format!("-----BEGIN {l}-----\n")))
        .tokens(["Proc-Type: 4,ENCRYPTED\n", "-----END ", "\n\n"])
        .structured(mutate_pem)
        .max_len(64 << 10)
        .bound(BOUND)
        .time_limit(Duration::from_secs(2))
        .seconds(5.0)
        .run(check_key);
}

/// 2026-11-26T00:00:00Z, within every fixture certificate's validity.
const NOW: u64 = 1_795_651_200;

fn check_certificate(bytes: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let describe = |certificate: &Certificate| {
        let _ = (
            certificate.subject(),
            certificate.issuer(),
            certificate.serial_decimal(),
            certificate.serial_hex(),
            certificate.not_before_rfc3339(),
            certificate.not_after_rfc3339(),
            certificate.public_key_description(),
            certificate.check_validity(now),
            certificate.check_validity(SystemTime::UNIX_EPOCH),
            format!("{certificate:?}"),
        );
    };
    match measured(|| parse_certificate_pem(&text)) {
        Ok(certificate) => {
            describe(&certificate);
            let again = measured(|| Certificate::from_der(certificate.der().to_vec()))
                .map_err(|e| format!("its own DER does not parse: {e}"))?;
            if again.der() != certificate.der() {
                return Err("its DER changed when parsed again".to_owned());
            }
        }
        Err(error) => no_quoted_base64(&text, &error)?,
    }
    match measured(|| parse_chain_pem(&text)) {
        Ok(chain) => chain.iter().for_each(describe),
        Err(error) => no_quoted_base64(&text, &error)?,
    }
    let key = Secret::new(fixture("p256-key.pem"));
    let chain = fixture("chain-intermediate.pem");
    for chain in [None, Some(chain.as_str()), Some(text.as_str())] {
        if let Err(error) = measured(|| SigningIdentity::from_pem(&text, chain, &key, None)) {
            no_quoted_base64(&text, &error)?;
        }
    }
    Ok(())
}

#[test]
fn fuzz_certificates_and_chains() {
    let mut corpus = fixtures("cert");
    corpus.extend(fixtures("chain"));
    Target::new("fuzz_certificates_and_chains", corpus)
        .tokens([
            "-----BEGIN CERTIFICATE-----\n",
            "-----END CERTIFICATE-----\n",
        ])
        .structured(mutate_pem)
        .max_len(64 << 10)
        .bound(BOUND)
        .time_limit(Duration::from_secs(2))
        .seconds(5.0)
        .run(check_certificate);
}

/// Components as a host sends them (the examples' references resolved).
fn components() -> Vec<Value> {
    vec![
        json!({"id": "conn-keys", "connector": "amazon-sqs", "kind": "connection", "fields": {
            "authenticationType": "ACCESS_KEYS",
            "accessKey": "AKIAIOSFODNN7EXAMPLE",
            "secretKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "sessionToken": "FwoGZXIvYXdzEBYaDHVzZXItc2Vzc2lvbi10b2tlbi12YWx1ZQ",
            "region": "us-east-1",
            "endpointUrl": "http://localhost:9324"}}),
        json!({"id": "conn-ra", "connector": "amazon-sqs", "kind": "connection", "fields": {
            "authenticationType": "ROLES_ANYWHERE",
            "region": "custom",
            "customRegion": "eu-central-2",
            "profileArn": "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/a1b2c3d4-0000-4000-8000-000000000002",
            "roleArn": "arn:aws:iam::123456789012:role/rolesanywhere-test",
            "trustAnchorArn": "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000001",
            "rolesAnywhereRegion": "eu-central-1",
            "rolesAnywhereEndpointUrl": "https://localhost:8443",
            "sessionName": "fuzz",
            "durationSeconds": 3600,
            "publicCertificate": fixture("leaf-p256-chain-cert.pem"),
            "certificateChain": fixture("chain-intermediate.pem"),
            "privateKey": fixture("p256-key-pkcs8-encrypted.pem"),
            "privateKeyPassphrase": "correct horse battery staple"}}),
        json!({"id": "op-send", "connector": "amazon-sqs", "kind": "operation", "operationType": "SEND",
            "fields": {"queue": "orders", "dynamicQueue": false, "delaySeconds": 5, "batch": true, "maxConcurrentRequests": 8}}),
        json!({"id": "op-receive", "connector": "amazon-sqs", "kind": "operation", "operationType": "RECEIVE",
            "fields": {"queue": "https://sqs.us-east-1.amazonaws.com/123456789012/orders", "maxMessages": 10,
                "waitTimeSeconds": 20, "visibilityTimeoutSeconds": 30, "deleteAfterRead": true,
                "verifyMd5": true, "maxConcurrentRequests": 4, "executionTimeoutSeconds": 60}}),
        json!({"id": "op-delete", "connector": "amazon-sqs", "kind": "operation", "operationType": "DELETE",
            "fields": {"queue": "orders.fifo"}}),
    ]
}

/// Values a form might send, right and wrong.
fn interesting_value(rng: &mut Rng) -> Value {
    let long = |rng: &mut Rng, unit: &str| unit.repeat(1 + rng.below(3_000));
    match rng.below(16) {
        0 => Value::Null,
        1 => json!(""),
        2 => json!(rng.next_u64()),
        3 => json!(-(rng.below(1_000_000) as i64)),
        4 => json!(1.5e300),
        5 => json!(rng.chance(1, 2)),
        6 => json!([1, "two", null]),
        7 => json!({"env": "SOME_VARIABLE"}),
        8 => json!(format!("-----BEGIN {}", long(rng, "SECRETKEYMATERIAL"))),
        9 => json!(fixture("p384-key.pem")),
        10 => json!("https://user:hunter2hunter2@example.com/q"),
        11 => json!(long(rng, "a")),
        12 => json!(long(rng, "ü😀\n")),
        13 => json!("ACCESS-KEYS"),
        14 => json!("roles_anywhere"),
        _ => json!(format!("value {}", rng.below(100))),
    }
}

/// A component mutated as JSON: a field's value replaced, a key renamed, removed or added, the
/// component's own keys changed.
fn mutate_component(rng: &mut Rng, _: &Mutator, data: &[u8]) -> Option<Vec<u8>> {
    let mut component: Map<String, Value> = serde_json::from_slice(data).ok()?;
    let descriptor_keys = [
        "authenticationType",
        "accessKey",
        "secretKey",
        "region",
        "customRegion",
        "endpointUrl",
        "privateKey",
        "durationSeconds",
        "queue",
        "maxMessages",
        "batch",
    ];
    let fields = component
        .entry("fields")
        .or_insert_with(|| json!({}))
        .as_object_mut()?;
    let keys: Vec<String> = fields.keys().cloned().collect();
    match rng.below(7) {
        0..=2 if !keys.is_empty() => {
            let key = rng.pick(&keys).clone();
            fields.insert(key, interesting_value(rng));
        }
        3 if !keys.is_empty() => {
            let key = rng.pick(&keys).clone();
            let value = fields.remove(&key)?;
            let mut renamed = key.clone();
            match rng.below(3) {
                0 => renamed = renamed.to_uppercase(),
                1 => renamed.push('x'),
                _ => {
                    renamed.pop();
                }
            }
            fields.insert(renamed, value);
        }
        4 if !keys.is_empty() => {
            fields.remove(rng.pick(&keys));
        }
        5 => {
            fields.insert(
                (*rng.pick(&descriptor_keys)).to_owned(),
                interesting_value(rng),
            );
        }
        _ => {
            let key = *rng.pick(&["id", "connector", "kind", "operationType", "fields"]);
            component.insert(key.to_owned(), interesting_value(rng));
        }
    }
    serde_json::to_vec(&component).ok()
}

/// The string values of `value`, recursively.
fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn check_component(
    connector: &connector_sdk::Connector,
    descriptor: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let Ok(component) = measured(|| serde_json::from_slice::<Component>(bytes)) else {
        return Ok(());
    };
    let mut errors = Vec::new();
    for outcome in [
        measured(|| connector.validate_connection(&component)),
        measured(|| connector.validate_operation(&component)),
    ] {
        errors.extend(outcome.err().unwrap_or_default());
    }
    // The component's own id, connector and operation type are named in its errors.
    let own = format!(
        "{} {} {:?}",
        component.id, component.connector, component.operation_type
    );
    for (key, value) in &component.fields {
        let secret = matches!(
            key.as_str(),
            "secretKey" | "sessionToken" | "privateKey" | "privateKeyPassphrase"
        );
        let mut texts = Vec::new();
        strings(value, &mut texts);
        for text in texts {
            let chars: Vec<char> = text.chars().collect();
            for error in &errors {
                let shown = format!("{} {}", error.label, error.message);
                if secret
                    && error.field == *key
                    && chars.len() >= 8
                    && shown.contains(text)
                    && !descriptor.contains(text)
                {
                    return Err(format!(
                        "an error on {:?} quotes the secret {key}: {shown}",
                        error.field
                    ));
                }
                // No more than 32 characters of a value in a row, unless the descriptor or the
                // component's own names have them.
                for window in chars.windows(33).step_by(7) {
                    let window: String = window.iter().collect();
                    if error.message.contains(&window)
                        && !descriptor.contains(&window)
                        && !own.contains(&window)
                    {
                        return Err(format!(
                            "an error on {:?} quotes {} characters of {key}'s value: {}",
                            error.field,
                            chars.len(),
                            fuzz_support::escape(error.message.as_bytes(), 300)
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[test]
fn fuzz_component_validation_against_the_descriptor() {
    let connector = Arc::new(sqs_connector::connector());
    let descriptor = connector.descriptor_file_text();
    let corpus: Vec<Vec<u8>> = components()
        .iter()
        .map(|c| serde_json::to_vec(c).expect("JSON"))
        .collect();
    Target::new("fuzz_component_validation_against_the_descriptor", corpus)
        .tokens([
            "\"ACCESS_KEYS\"",
            "\"ROLES_ANYWHERE\"",
            "\"connection\"",
            "\"operation\"",
            "\"SEND\"",
            "\"RECEIVE\"",
            "\"DELETE\"",
            "\"amazon-sqs\"",
        ])
        .structured(mutate_component)
        .bound(Bound {
            per_input_byte: 64,
            base: 2 << 20,
        })
        // An unknown key of 90 KB is compared with each known one (closest match): half a
        // second in a debug build, linear in its length.
        .time_limit(Duration::from_secs(2))
        .seconds(4.0)
        .run(move |bytes| check_component(&connector, &descriptor, bytes));
}

/// Found by `fuzz_certificates_and_chains`: the PEM parser's error quoted the text it could not
/// read, which in a combined file may be the private key.
#[test]
fn broken_pem_in_a_certificate_is_described_without_quoting_it() {
    let key = fixture("p256-key-pkcs8.pem");
    let body: Vec<&str> = base64_lines(&key).collect();
    assert!(!body.is_empty());
    let broken = [
        format!("-----BEGIN \n{}\n----------END E-----", body.join("\n")),
        format!(
            "{}-----BEGIN \n{}\n----------END E-----",
            fixture("p256-selfsigned-cert.pem"),
            body.join("\n")
        ),
    ];
    for text in &broken {
        let errors = [
            parse_certificate_pem(text).expect_err("broken").to_string(),
            parse_chain_pem(text).expect_err("broken").to_string(),
        ];
        for error in errors {
            assert!(error.contains("is not valid PEM text"), "{error}");
            for line in &body {
                assert!(!error.contains(line), "{error}");
            }
        }
    }
}

/// Found by `fuzz_component_validation_against_the_descriptor`: a value starting with
/// `-----BEGIN ` but without the label's closing dashes was quoted whole as the "label".
#[test]
fn a_pem_block_in_the_wrong_field_is_named_by_its_label_only() {
    let connector = sqs_connector::connector();
    let key = fixture("p256-key-pkcs8.pem");
    let body: Vec<&str> = base64_lines(&key).collect();
    let mangled = key.replacen("-----BEGIN PRIVATE KEY-----", "-----BEGIN PRIVATE KEY", 1);
    for (value, named) in [
        (key.clone(), "a PEM block \"PRIVATE KEY\""),
        (mangled, "a PEM block \"PEM\""),
    ] {
        let component: Component = serde_json::from_value(json!({
            "id": "c", "connector": "amazon-sqs", "kind": "connection",
            "fields": {"authenticationType": "ACCESS_KEYS", "region": value}
        }))
        .expect("a component");
        let errors = connector
            .validate_connection(&component)
            .expect_err("not a region");
        let region = errors
            .iter()
            .find(|e| e.field == "region")
            .expect("an error on region");
        assert!(region.message.contains(named), "{}", region.message);
        for line in &body {
            assert!(!region.message.contains(line), "{}", region.message);
        }
    }
}

/// Found by `fuzz_component_validation_against_the_descriptor` (seed 1238347873490046287): an
/// unknown operation type was quoted whole in its error.
#[test]
fn an_unknown_operation_type_is_quoted_shortened() {
    let connector = sqs_connector::connector();
    let operation_type = "SEND\u{fc}".repeat(1000);
    let component = Component::operation("op", "amazon-sqs", &operation_type, Map::new());
    let errors = connector
        .validate_operation(&component)
        .expect_err("no such operation type");
    let error = &errors[0];
    assert_eq!(error.field, "operationType");
    assert!(
        error.message.chars().count() < 200,
        "the message quotes the type whole: {} characters",
        error.message.chars().count()
    );
    assert!(
        error.message.contains("(5000 characters)"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("DELETE, LISTEN, RECEIVE, SEND"),
        "{}",
        error.message
    );
}

/// Found by `fuzz_component_validation_against_the_descriptor`: an unknown field's key of 130 KB
/// took seconds, compared character by character with every known key for a suggestion.
#[test]
fn a_long_unknown_key_is_refused_at_once() {
    let connector = sqs_connector::connector();
    let key = format!("region{}", "[".repeat(300_000));
    let component: Component = serde_json::from_value(json!({
        "id": "c", "connector": "amazon-sqs", "kind": "connection",
        "fields": {"authenticationType": "ACCESS_KEYS", key.clone(): "x"}
    }))
    .expect("a component");
    let started = std::time::Instant::now();
    let errors = connector
        .validate_connection(&component)
        .expect_err("unknown");
    assert!(errors.iter().any(|e| e.field == key));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
