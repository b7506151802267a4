//! The signer's errors.
//!
//! Every message says what is wrong and what the user can do about it. No message carries key
//! material or a passphrase: errors about the private key name only PEM labels, formats, curve
//! names and sizes, never bytes of the key or text of the lower-level decoder's error.

use super::MAX_CHAIN_CERTIFICATES;

/// Why credentials material could not be loaded, checked or used to sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The certificate or chain text is not valid PEM.
    #[error("the {what} is not valid PEM text: {detail}")]
    CertificatePem {
        /// Which input: `certificate` or `certificate chain`.
        what: &'static str,
        /// What the PEM parser reported.
        detail: String,
    },

    /// The private key text is not valid PEM.
    #[error(
        "the private key is not valid PEM text ({detail}); paste the whole file including the \
         -----BEGIN ...----- and -----END ...----- lines"
    )]
    KeyPem {
        /// A fixed description of the problem (never text of the key).
        detail: &'static str,
    },

    /// No `CERTIFICATE` block in the certificate text.
    #[error(
        "no CERTIFICATE block was found in the {what}{}; expected PEM text starting with \
         -----BEGIN CERTIFICATE-----",
        found_labels(.found)
    )]
    NoCertificate {
        /// Which input: `certificate` or `certificate chain`.
        what: &'static str,
        /// The labels of the PEM blocks that were found instead.
        found: Vec<String>,
    },

    /// A `CERTIFICATE` block does not hold a valid X.509 certificate.
    #[error("the {what} is not a valid X.509 certificate: {detail}")]
    InvalidCertificate {
        /// Which certificate, e.g. `certificate` or `certificate 2 of the chain`.
        what: String,
        /// What the parser reported.
        detail: String,
    },

    /// More chain certificates than `X-Amz-X509-Chain` may carry.
    #[error(
        "the certificate chain has {count} certificates, but IAM Roles Anywhere accepts at most \
         {MAX_CHAIN_CERTIFICATES}; keep only the intermediate CA certificates that link the \
         certificate to the trust anchor (the root CA is optional)"
    )]
    ChainTooLong {
        /// How many certificates the chain has (copies of the leaf not counted).
        count: usize,
    },

    /// No private-key block in the private key text.
    #[error(
        "no private key was found in the private key text{}; expected a PEM block labelled \
         RSA PRIVATE KEY, EC PRIVATE KEY, PRIVATE KEY or ENCRYPTED PRIVATE KEY",
        found_labels(.found)
    )]
    NoPrivateKey {
        /// The labels of the PEM blocks that were found instead.
        found: Vec<String>,
    },

    /// A private-key block with a label the signer does not read.
    #[error(
        "the private key has the unsupported PEM label \"{label}\"; convert it to PKCS#8, e.g. \
         `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-pkcs8.pem` (accepted labels: RSA \
         PRIVATE KEY, EC PRIVATE KEY, PRIVATE KEY, ENCRYPTED PRIVATE KEY)"
    )]
    UnsupportedKeyLabel {
        /// The PEM label, e.g. `OPENSSH PRIVATE KEY`.
        label: String,
    },

    /// A key encrypted in the legacy OpenSSL PEM way (`Proc-Type: 4,ENCRYPTED`).
    #[error(
        "the private key is encrypted in the legacy OpenSSL PEM format (Proc-Type: 4,ENCRYPTED), \
         which is not supported; convert it to encrypted PKCS#8, e.g. `openssl pkcs8 -topk8 -v2 \
         aes-256-cbc -in key.pem -out key-pkcs8.pem`"
    )]
    LegacyEncryptedKey,

    /// An `ENCRYPTED PRIVATE KEY` without a passphrase.
    #[error(
        "the private key is encrypted (ENCRYPTED PRIVATE KEY) but no passphrase was given; set the \
         private key passphrase"
    )]
    PassphraseRequired,

    /// The passphrase does not decrypt the key.
    #[error(
        "the private key could not be decrypted: the passphrase is wrong (or the encrypted key is \
         damaged)"
    )]
    WrongPassphrase,

    /// The encrypted key asks for a key derivation costlier than the connector performs.
    #[error(
        "the encrypted private key asks for {detail}, more than this connector derives ({limit}); \
         re-encrypt it with the usual cost, e.g. `openssl pkcs8 -topk8 -v2 aes-256-cbc -in \
         key.pem -out key-pkcs8.pem`"
    )]
    KeyDerivationTooCostly {
        /// What the key asks for.
        detail: String,
        /// The connector's limit.
        limit: String,
    },

    /// The encrypted key uses a scheme the signer cannot decrypt (e.g. PBES1 or DES).
    #[error(
        "the encrypted private key uses an unsupported encryption scheme ({detail}); re-encrypt it \
         with PBES2 and AES, e.g. `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out \
         key-pkcs8.pem`"
    )]
    UnsupportedKeyEncryption {
        /// The scheme or its object identifier.
        detail: String,
    },

    /// The key block does not decode as the format its label announces.
    #[error(
        "the private key is not a valid {format} key; check that the file is not truncated or altered"
    )]
    MalformedKey {
        /// The format that was expected, e.g. `PKCS#1 RSA`.
        format: &'static str,
    },

    /// An RSA key shorter than 2048 bits.
    #[error(
        "the RSA private key has {bits} bits, but IAM Roles Anywhere needs at least 2048; issue a \
         new certificate for an RSA key of 2048 bits or more, or for an EC P-256 or P-384 key"
    )]
    RsaKeyTooSmall {
        /// The modulus length in bits.
        bits: usize,
    },

    /// An EC key on a curve other than P-256 and P-384.
    #[error(
        "the EC private key uses the curve {curve}, which IAM Roles Anywhere does not support; use \
         P-256 or P-384"
    )]
    UnsupportedCurve {
        /// The curve's name or object identifier, e.g. `P-521`.
        curve: String,
    },

    /// A PKCS#8 key of another algorithm (e.g. Ed25519).
    #[error(
        "the private key's algorithm {algorithm} is not supported; use RSA (2048 bits or more), \
         EC P-256 or EC P-384"
    )]
    UnsupportedKeyAlgorithm {
        /// The algorithm's name or object identifier.
        algorithm: String,
    },

    /// The private key is not the certificate's key.
    #[error(
        "the private key does not belong to the certificate {subject}: the key's public key \
         ({key}) is not the certificate's SubjectPublicKeyInfo ({certificate}); use the private \
         key the certificate was issued for"
    )]
    KeyCertificateMismatch {
        /// The certificate's subject.
        subject: String,
        /// What the private key is, e.g. `RSA 2048-bit`.
        key: String,
        /// What the certificate's public key is, e.g. `EC P-256`.
        certificate: String,
    },

    /// `now` is before the certificate's `notBefore`.
    #[error(
        "the certificate {subject} is not yet valid: it is valid from {not_before} to {not_after}, \
         and the time now is {now}; check the system clock, or wait until the certificate becomes \
         valid"
    )]
    CertificateNotYetValid {
        /// The certificate's subject.
        subject: String,
        /// `notBefore`, e.g. `2026-01-01 00:00:00 UTC`.
        not_before: String,
        /// `notAfter`, e.g. `2036-01-01 00:00:00 UTC`.
        not_after: String,
        /// The time of the check.
        now: String,
    },

    /// `now` is after the certificate's `notAfter`.
    #[error(
        "the certificate {subject} has expired: it was valid from {not_before} to {not_after}, and \
         the time now is {now}; renew the certificate"
    )]
    CertificateExpired {
        /// The certificate's subject.
        subject: String,
        /// `notBefore`, e.g. `2026-01-01 00:00:00 UTC`.
        not_before: String,
        /// `notAfter`, e.g. `2036-01-01 00:00:00 UTC`.
        not_after: String,
        /// The time of the check.
        now: String,
    },

    /// A request input (region, host, time) that cannot be signed.
    #[error("cannot sign the request: {0}")]
    InvalidRequest(String),

    /// The signature primitive failed (should not happen with a valid key).
    #[error("signing the request failed: {0}")]
    SignatureFailed(&'static str),
}

/// ` (found: A, B)` or ` (the text has no PEM block)`.
fn found_labels(found: &[String]) -> String {
    if found.is_empty() {
        " (the text has no PEM block)".to_owned()
    } else {
        format!(" (found: {})", found.join(", "))
    }
}
