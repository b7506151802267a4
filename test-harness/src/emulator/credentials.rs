//! Made-up credentials and identifiers for granted sessions. The random values come from the
//! operating system; nothing here is ever logged.

use sha2::{Digest, Sha256};

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_bytes(count: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; count];
    // Failing to read the OS random source leaves the bytes zero; in a test emulator a
    // predictable key is harmless, and the call does not fail on supported systems.
    let _ = getrandom::fill(&mut bytes);
    bytes
}

fn random_from(alphabet: &[u8], count: usize) -> String {
    random_bytes(count)
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

/// `ASIA` and 16 random uppercase base32 characters.
pub fn access_key_id() -> String {
    format!("ASIA{}", random_from(BASE32, 16))
}

/// 40 random base64-alphabet characters.
pub fn secret_access_key() -> String {
    random_from(BASE64, 40)
}

/// A long random token (base64 alphabet), shaped like an STS session token.
pub fn session_token() -> String {
    format!("IQoJb3JpZ2luX2Vj{}", random_from(BASE64, 344))
}

/// A random UUID (version 4) for `x-amzn-RequestId`.
pub fn request_id() -> String {
    uuid_from(&random_bytes(16))
}

/// `AROA` and 17 characters derived from the role ARN: stable per role.
pub fn role_id(role_arn: &str) -> String {
    let digest = Sha256::digest(role_arn.as_bytes());
    let tail: String = digest
        .iter()
        .take(17)
        .map(|b| char::from(BASE32[usize::from(*b) % BASE32.len()]))
        .collect();
    format!("AROA{tail}")
}

/// A UUID derived from the certificate subject and the trust anchor: stable per subject.
pub fn subject_id(subject_der: &[u8], trust_anchor_arn: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(subject_der);
    hasher.update(trust_anchor_arn.as_bytes());
    uuid_from(&hasher.finalize()[..16])
}

fn uuid_from(bytes: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id = access_key_id();
        assert!(id.starts_with("ASIA") && id.len() == 20, "{id}");
        assert!(id[4..].bytes().all(|b| BASE32.contains(&b)));
        assert_eq!(secret_access_key().len(), 40);
        assert_ne!(secret_access_key(), secret_access_key());
        let uuid = request_id();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert_eq!(
            role_id("arn:aws:iam::1:role/x"),
            role_id("arn:aws:iam::1:role/x")
        );
        assert_eq!(role_id("arn:aws:iam::1:role/x").len(), 21);
    }
}
