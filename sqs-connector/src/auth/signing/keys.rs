//! Private keys: loading from PEM (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8) and signing.
//!
//! Decoded key bytes live in [`Zeroizing`] buffers and the key types of `rsa`, `p256` and `p384`
//! wipe themselves on drop. Neither [`fmt::Debug`] nor any error shows key material.

use std::fmt;

use connector_sdk::Secret;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use pkcs8::der::{AnyRef, Decode, SliceReader};
use pkcs8::{
    AlgorithmIdentifierRef, DecodePublicKey, EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef,
};
use rsa::pkcs1::RsaPrivateKeyRef;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::SigningError;
use super::oids::{
    OID_EC_PUBLIC_KEY, OID_P256, OID_P384, OID_PBES2, OID_RSA_ENCRYPTION, algorithm_name,
    curve_name,
};

/// The smallest RSA modulus IAM Roles Anywhere accepts, in bits.
pub const MIN_RSA_BITS: usize = 2048;

const LABEL_PKCS1: &str = "RSA PRIVATE KEY";
const LABEL_SEC1: &str = "EC PRIVATE KEY";
const LABEL_PKCS8: &str = "PRIVATE KEY";
const LABEL_PKCS8_ENCRYPTED: &str = "ENCRYPTED PRIVATE KEY";

/// The signature algorithm of a request, chosen by the type of the private key (never by the
/// certificate's own signature algorithm).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// `AWS4-X509-RSA-SHA256`: RSASSA-PKCS1-v1_5 with SHA-256.
    RsaSha256,
    /// `AWS4-X509-ECDSA-SHA256`: ECDSA over SHA-256 for P-256 and P-384 keys alike, DER encoded.
    EcdsaSha256,
}

impl SigningAlgorithm {
    /// The name in the `Authorization` header and the string to sign.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RsaSha256 => "AWS4-X509-RSA-SHA256",
            Self::EcdsaSha256 => "AWS4-X509-ECDSA-SHA256",
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of private key was loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// RSA with a modulus of `bits` bits (2048 or more).
    Rsa {
        /// The modulus length in bits.
        bits: usize,
    },
    /// ECDSA on NIST P-256 (secp256r1, prime256v1).
    P256,
    /// ECDSA on NIST P-384 (secp384r1).
    P384,
}

impl KeyKind {
    /// The request signature algorithm for this kind of key.
    pub const fn algorithm(self) -> SigningAlgorithm {
        match self {
            Self::Rsa { .. } => SigningAlgorithm::RsaSha256,
            Self::P256 | Self::P384 => SigningAlgorithm::EcdsaSha256,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa { bits } => write!(f, "RSA {bits}-bit"),
            Self::P256 => f.write_str("EC P-256"),
            Self::P384 => f.write_str("EC P-384"),
        }
    }
}

/// A private key that can sign Roles Anywhere requests: RSA (≥ 2048 bits), P-256 or P-384.
pub struct PrivateKey {
    inner: Inner,
}

enum Inner {
    Rsa {
        key: Box<rsa::PrivateKey>,
        bits: usize,
    },
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl PrivateKey {
    /// Loads the private key from PEM text.
    ///
    /// The first block labelled `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY` (SEC1, P-256 or
    /// P-384), `PRIVATE KEY` (PKCS#8, RSA or EC) or `ENCRYPTED PRIVATE KEY` (PKCS#8 PBES2,
    /// decrypted with `passphrase`) is the key. Other blocks, such as `EC PARAMETERS` or the
    /// certificate of a combined file, are skipped. An empty passphrase counts as none. A
    /// passphrase given for an unencrypted key is ignored.
    ///
    /// # Errors
    /// A distinct [`SigningError`] for: broken PEM, no key block, an unsupported label, legacy
    /// `Proc-Type: 4,ENCRYPTED` PEM, a missing or wrong passphrase, an unsupported encryption
    /// scheme, a malformed key, an RSA key under 2048 bits, another curve than P-256/P-384, and
    /// another algorithm than RSA/EC.
    pub fn from_pem(pem_text: &Secret, passphrase: Option<&Secret>) -> Result<Self, SigningError> {
        let block = find_key_block(pem_text.expose())?;
        let inner = match block.label.as_str() {
            LABEL_PKCS1 => rsa_from_pkcs1(&block.der)?,
            LABEL_SEC1 => ec_from_sec1(&block.der)?,
            LABEL_PKCS8 => from_pkcs8(&block.der)?,
            _ => from_encrypted_pkcs8(&block.der, passphrase)?,
        };
        Ok(Self { inner })
    }

    /// What kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match &self.inner {
            Inner::Rsa { bits, .. } => KeyKind::Rsa { bits: *bits },
            Inner::P256(_) => KeyKind::P256,
            Inner::P384(_) => KeyKind::P384,
        }
    }

    /// The request signature algorithm for this key.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.kind().algorithm()
    }

    /// Whether `spki_der` (a DER `SubjectPublicKeyInfo`) is this key's public key.
    pub fn matches_public_key(&self, spki_der: &[u8]) -> bool {
        match &self.inner {
            Inner::Rsa { key, .. } => rsa::PublicKey::from_public_key_der(spki_der)
                .is_ok_and(|public| &public == key.as_ref().as_ref()),
            Inner::P256(key) => p256::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                .is_ok_and(|public| &public == key.verifying_key()),
            Inner::P384(key) => p384::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                .is_ok_and(|public| &public == key.verifying_key()),
        }
    }

    /// Signs `message` per the key's [`SigningAlgorithm`]: RSASSA-PKCS1-v1_5 over SHA-256
    /// (deterministic), or ECDSA over SHA-256 with an RFC 6979 nonce, DER encoded.
    ///
    /// # Errors
    /// [`SigningError::SignatureFailed`] if the primitive fails.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        match &self.inner {
            Inner::Rsa { key, .. } => key
                .pkcs1v15_sign::<Sha256>(message)
                .map_err(|_| SigningError::SignatureFailed("RSA PKCS#1 v1.5 signing failed")),
            Inner::P256(key) => {
                let digest = Sha256::digest(message);
                let signature: p256::ecdsa::Signature = key
                    .sign_prehash(&digest)
                    .map_err(|_| SigningError::SignatureFailed("ECDSA P-256 signing failed"))?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            Inner::P384(key) => {
                let digest = Sha256::digest(message);
                let signature: p384::ecdsa::Signature = key
                    .sign_prehash(&digest)
                    .map_err(|_| SigningError::SignatureFailed("ECDSA P-384 signing failed"))?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("kind", &format_args!("{}", self.kind()))
            .finish_non_exhaustive()
    }
}

/// The chosen key block: its label and its decoded contents.
struct KeyBlock {
    label: String,
    der: Zeroizing<Vec<u8>>,
}

fn find_key_block(pem_text: &str) -> Result<KeyBlock, SigningError> {
    // The PEM parser's error texts may quote the input, so only fixed descriptions go out.
    let blocks = pem::parse_many(pem_text).map_err(|err| SigningError::KeyPem {
        detail: pem_error_detail(&err),
    })?;
    let mut found = Vec::new();
    for block in blocks {
        let label = block.tag().to_owned();
        let legacy_encrypted = block
            .headers()
            .get("Proc-Type")
            .is_some_and(|value| value.contains("ENCRYPTED"));
        let der = Zeroizing::new(block.into_contents());
        match label.as_str() {
            LABEL_PKCS1 | LABEL_SEC1 | LABEL_PKCS8 | LABEL_PKCS8_ENCRYPTED => {
                if legacy_encrypted {
                    return Err(SigningError::LegacyEncryptedKey);
                }
                return Ok(KeyBlock { label, der });
            }
            _ if label.ends_with("PRIVATE KEY") => {
                return Err(SigningError::UnsupportedKeyLabel { label });
            }
            _ => found.push(label),
        }
    }
    Err(SigningError::NoPrivateKey { found })
}

fn rsa_from_pkcs1(der: &[u8]) -> Result<Inner, SigningError> {
    let malformed = || SigningError::MalformedKey {
        format: "PKCS#1 RSA",
    };
    let parsed = RsaPrivateKeyRef::from_der(der).map_err(|_| malformed())?;
    let bits = modulus_bits(parsed.modulus.as_bytes());
    if bits < MIN_RSA_BITS {
        return Err(SigningError::RsaKeyTooSmall { bits });
    }
    let key = rsa::PrivateKey::try_from(parsed).map_err(|_| malformed())?;
    Ok(Inner::Rsa {
        key: Box::new(key),
        bits,
    })
}

fn ec_from_sec1(der: &[u8]) -> Result<Inner, SigningError> {
    let malformed = || SigningError::MalformedKey { format: "SEC1 EC" };
    let parsed = sec1::EcPrivateKey::try_from(der).map_err(|_| malformed())?;
    let curve = parsed
        .parameters
        .and_then(|params| params.named_curve())
        .ok_or_else(|| SigningError::UnsupportedCurve {
            curve: "not named in the key (the EC PRIVATE KEY has no parameters)".to_owned(),
        })?
        .to_string();
    match curve.as_str() {
        OID_P256 => {
            let secret = p256::SecretKey::from_sec1_der(der).map_err(|_| malformed())?;
            Ok(Inner::P256(p256::ecdsa::SigningKey::from(&secret)))
        }
        OID_P384 => {
            let secret = p384::SecretKey::from_sec1_der(der).map_err(|_| malformed())?;
            Ok(Inner::P384(p384::ecdsa::SigningKey::from(&secret)))
        }
        other => Err(SigningError::UnsupportedCurve {
            curve: curve_name(other),
        }),
    }
}

fn from_pkcs8(der: &[u8]) -> Result<Inner, SigningError> {
    let malformed = || SigningError::MalformedKey { format: "PKCS#8" };
    let info = PrivateKeyInfoRef::from_der(der).map_err(|_| malformed())?;
    let algorithm = info.algorithm.oid.to_string();
    match algorithm.as_str() {
        // The PKCS#8 payload of an RSA key is its PKCS#1 RSAPrivateKey.
        OID_RSA_ENCRYPTION => rsa_from_pkcs1(info.private_key.as_bytes()),
        OID_EC_PUBLIC_KEY => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|_| SigningError::UnsupportedCurve {
                    curve: "not named in the key (no EC parameters)".to_owned(),
                })?
                .to_string();
            match curve.as_str() {
                OID_P256 => p256::ecdsa::SigningKey::try_from(info)
                    .map(Inner::P256)
                    .map_err(|_| malformed()),
                OID_P384 => p384::ecdsa::SigningKey::try_from(info)
                    .map(Inner::P384)
                    .map_err(|_| malformed()),
                other => Err(SigningError::UnsupportedCurve {
                    curve: curve_name(other),
                }),
            }
        }
        other => Err(SigningError::UnsupportedKeyAlgorithm {
            algorithm: algorithm_name(other),
        }),
    }
}

fn from_encrypted_pkcs8(der: &[u8], passphrase: Option<&Secret>) -> Result<Inner, SigningError> {
    let passphrase = passphrase
        .filter(|p| !p.is_empty())
        .ok_or(SigningError::PassphraseRequired)?;
    let encrypted = EncryptedPrivateKeyInfoRef::from_der(der).map_err(|_| {
        // PBES1 and PKCS#12 schemes do not even parse; name them when the OID is readable.
        match encryption_algorithm(der) {
            Some(oid) if oid != OID_PBES2 => SigningError::UnsupportedKeyEncryption {
                detail: format!("algorithm {}", algorithm_name(&oid)),
            },
            _ => SigningError::MalformedKey {
                format: "encrypted PKCS#8",
            },
        }
    })?;
    check_derivation_cost(&encrypted.encryption_algorithm)?;
    let decrypted = encrypted
        .decrypt(passphrase.expose().as_bytes())
        .map_err(decrypt_error)?;
    from_pkcs8(decrypted.as_bytes()).map_err(|err| match err {
        // Bytes that decrypt but are no key mean the passphrase was wrong.
        SigningError::MalformedKey { .. } => SigningError::WrongPassphrase,
        other => other,
    })
}

/// The most PBKDF2 iterations the connector runs: far above OpenSSL's default (2,048) and the
/// 600,000 OWASP suggests, and about a second of work; a key file asking for 2^32-1 would stall
/// the plugin for hours.
pub const MAX_PBKDF2_ITERATIONS: u32 = 1_000_000;
/// The most memory an scrypt derivation may take (128 · N · r bytes): OpenSSL's default
/// (N = 2^14, r = 8) takes 16 MiB; a key asking for N = 2^40 would abort the plugin.
pub const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
/// The most scrypt work (N · r · p), 16 times OpenSSL's default.
pub const MAX_SCRYPT_WORK: u64 = 16 * (1 << 14) * 8;

/// What an scrypt derivation with `params` takes: the bytes of memory (128 · N · r) and the work
/// (N · r · p), saturating.
pub fn scrypt_cost(params: &pkcs8::pkcs5::pbes2::ScryptParams) -> (u64, u64) {
    let n = params.cost_parameter;
    let r = u64::from(params.block_size);
    let p = u64::from(params.parallelization);
    let memory = n.saturating_mul(r).saturating_mul(128);
    (memory, n.saturating_mul(r).saturating_mul(p))
}

/// The words for a PEM parser's error: fixed descriptions, because the parser's own texts may
/// quote the input (a private key's base64 among it).
pub(crate) fn pem_error_detail(err: &pem::PemError) -> &'static str {
    match err {
        pem::PemError::InvalidData(_) => "the base64 body of a block is invalid",
        pem::PemError::InvalidHeader(_) => "a block has an invalid header line",
        pem::PemError::MissingData => "a block has no data",
        pem::PemError::NotUtf8(_) => "the text is not UTF-8",
        _ => "the BEGIN and END lines are malformed or do not match",
    }
}

/// Refuses a key derivation whose cost the key file sets beyond the connector's limits, before
/// any of it is run.
fn check_derivation_cost(scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<(), SigningError> {
    use pkcs8::pkcs5::pbes2::Kdf;
    let Some(params) = scheme.pbes2() else {
        return Ok(());
    };
    match &params.kdf {
        Kdf::Pbkdf2(pbkdf2) if pbkdf2.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(SigningError::KeyDerivationTooCostly {
                detail: format!("{} PBKDF2 iterations", pbkdf2.iteration_count),
                limit: format!("at most {MAX_PBKDF2_ITERATIONS}"),
            })
        }
        Kdf::Scrypt(scrypt) => {
            let (memory, work) = scrypt_cost(scrypt);
            if memory > MAX_SCRYPT_MEMORY || work > MAX_SCRYPT_WORK {
                Err(SigningError::KeyDerivationTooCostly {
                    detail: format!(
                        "scrypt with N = {}, r = {}, p = {} ({} MiB of memory)",
                        scrypt.cost_parameter,
                        scrypt.block_size,
                        scrypt.parallelization,
                        memory >> 20
                    ),
                    limit: format!(
                        "at most {} MiB and N·r·p at most {MAX_SCRYPT_WORK}",
                        MAX_SCRYPT_MEMORY >> 20
                    ),
                })
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// The `encryptionAlgorithm` OID of an `EncryptedPrivateKeyInfo`, read without interpreting
/// its parameters.
fn encryption_algorithm(der: &[u8]) -> Option<String> {
    let outer = AnyRef::from_der(der).ok()?;
    let mut reader = SliceReader::new(outer.value()).ok()?;
    let algorithm = AlgorithmIdentifierRef::decode(&mut reader).ok()?;
    Some(algorithm.oid.to_string())
}

fn decrypt_error(err: pkcs8::Error) -> SigningError {
    use pkcs8::pkcs5::Error as Pkcs5;
    match err {
        pkcs8::Error::EncryptedPrivateKey(Pkcs5::UnsupportedAlgorithm { oid }) => {
            SigningError::UnsupportedKeyEncryption {
                detail: format!("algorithm {}", algorithm_name(&oid.to_string())),
            }
        }
        pkcs8::Error::EncryptedPrivateKey(Pkcs5::AlgorithmParametersInvalid { oid }) => {
            SigningError::UnsupportedKeyEncryption {
                detail: format!(
                    "invalid parameters for algorithm {}",
                    algorithm_name(&oid.to_string())
                ),
            }
        }
        pkcs8::Error::EncryptedPrivateKey(Pkcs5::NoPbes1CryptSupport) => {
            SigningError::UnsupportedKeyEncryption {
                detail: "PBES1".to_owned(),
            }
        }
        // A padding failure, or bytes that are not DER: the passphrase does not fit.
        _ => SigningError::WrongPassphrase,
    }
}

/// The length in bits of a big-endian unsigned integer (leading zero bytes ignored).
pub(crate) fn modulus_bits(bytes: &[u8]) -> usize {
    let Some(first) = bytes.iter().position(|&b| b != 0) else {
        return 0;
    };
    let significant = &bytes[first..];
    (significant.len() - 1) * 8 + (8 - significant[0].leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture's encrypted P-256 key with its key derivation replaced by `kdf` (the data is
    /// left as it is: a refused derivation never gets to decrypt it).
    fn encrypted_with(kdf: pkcs8::pkcs5::pbes2::Kdf) -> Secret {
        use pkcs8::der::{Decode as _, Encode as _};
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../test-harness/fixtures/rolesanywhere/keys/p256-key-pkcs8-encrypted.pem"
        );
        let text = std::fs::read_to_string(fixture).expect("the fixture");
        let block = pem::parse(&text).expect("PEM");
        let info = EncryptedPrivateKeyInfoRef::from_der(block.contents()).expect("PKCS#8");
        let mut params = info.encryption_algorithm.pbes2().expect("PBES2").clone();
        params.kdf = kdf;
        let hostile = EncryptedPrivateKeyInfoRef {
            encryption_algorithm: pkcs8::pkcs5::EncryptionScheme::Pbes2(params),
            encrypted_data: info.encrypted_data,
        };
        let der = hostile.to_der().expect("DER");
        Secret::new(pem::encode(&pem::Pem::new("ENCRYPTED PRIVATE KEY", der)))
    }

    fn salt() -> pkcs8::pkcs5::pbes2::Salt {
        (&[7u8; 16][..]).try_into().expect("a salt")
    }

    #[test]
    fn a_key_derivation_beyond_the_limits_is_refused_before_it_runs() {
        use pkcs8::pkcs5::pbes2::{Kdf, Pbkdf2Params, Pbkdf2Prf, ScryptParams};
        let passphrase = Secret::new("password".to_owned());
        // As the fixture is, it loads: the rebuilt file is otherwise sound.
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../test-harness/fixtures/rolesanywhere/keys/p256-key-pkcs8-encrypted.pem"
        );
        let sound = Secret::new(std::fs::read_to_string(fixture).expect("the fixture"));
        assert!(PrivateKey::from_pem(&sound, Some(&passphrase)).is_ok());

        // The test's own stopwatch: it bounds real work, not a time the code under test reads.
        #[allow(clippy::disallowed_methods)]
        let started = std::time::Instant::now();
        let pbkdf2 = encrypted_with(Kdf::Pbkdf2(Pbkdf2Params {
            salt: salt(),
            iteration_count: u32::MAX,
            key_length: None,
            prf: Pbkdf2Prf::HmacWithSha256,
        }));
        let Err(err) = PrivateKey::from_pem(&pbkdf2, Some(&passphrase)) else {
            panic!("refused")
        };
        assert!(
            matches!(err, SigningError::KeyDerivationTooCostly { .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("4294967295 PBKDF2 iterations"),
            "{err}"
        );

        let scrypt = encrypted_with(Kdf::Scrypt(ScryptParams {
            salt: salt(),
            cost_parameter: 1 << 40,
            block_size: 8,
            parallelization: 1,
            key_length: Some(32),
        }));
        let Err(err) = PrivateKey::from_pem(&scrypt, Some(&passphrase)) else {
            panic!("refused")
        };
        assert!(
            matches!(err, SigningError::KeyDerivationTooCostly { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("N = 1099511627776"), "{err}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "refused without deriving"
        );
    }

    #[test]
    fn counts_modulus_bits() {
        assert_eq!(modulus_bits(&[]), 0);
        assert_eq!(modulus_bits(&[0, 0x80, 0]), 16);
        assert_eq!(modulus_bits(&[0x01, 0xff]), 9);
        let mut n = vec![0u8; 257];
        n[1] = 0xc5;
        assert_eq!(modulus_bits(&n), 2048);
    }

    #[test]
    fn describes_key_kinds() {
        assert_eq!(KeyKind::Rsa { bits: 2048 }.to_string(), "RSA 2048-bit");
        assert_eq!(KeyKind::P384.to_string(), "EC P-384");
        assert_eq!(KeyKind::P384.algorithm().as_str(), "AWS4-X509-ECDSA-SHA256");
        assert_eq!(
            KeyKind::Rsa { bits: 4096 }.algorithm().as_str(),
            "AWS4-X509-RSA-SHA256"
        );
    }
}
