//! AWS IAM Roles Anywhere request signing (SigV4 with an X.509 certificate).
//!
//! A `CreateSession` request (`POST /sessions`) is signed with the private key of an X.509
//! certificate that chains to a trust anchor, instead of an access key. This module follows the
//! project's spec (`rolesanywhere.md` §1-§3):
//!
//! 1. [`SigningIdentity::from_pem`] loads the certificate (first `CERTIFICATE` block), an
//!    optional chain (every `CERTIFICATE` block, at most [`MAX_CHAIN_CERTIFICATES`]) and the
//!    private key (PKCS#1, SEC1, PKCS#8 or encrypted PKCS#8; RSA ≥ 2048 bits, P-256 or P-384),
//!    and checks that the key belongs to the certificate.
//! 2. [`SigningIdentity::check_validity`] checks the certificate's validity period at a given
//!    time; [`Certificate`] exposes the subject, serial and `notAfter` for Test Connection.
//! 3. [`SessionParams::body`] builds the body and [`SigningIdentity::sign`] produces the headers
//!    to send: `Content-Type`, `Host`, `X-Amz-Date`, `X-Amz-X509`, `X-Amz-X509-Chain` (with a
//!    chain) and `Authorization`, signing exactly `content-type;host;x-amz-date;x-amz-x509`
//!    (`;x-amz-x509-chain`).
//!
//! ```no_run
//! use std::time::SystemTime;
//! use connector_sdk::Secret;
//! use sqs_connector::auth::signing::{SessionParams, SigningIdentity, SigningRequest};
//!
//! # fn demo(cert: &str, key: &Secret) -> Result<(), Box<dyn std::error::Error>> {
//! let identity = SigningIdentity::from_pem(cert, None, key, None)?;
//! let body = SessionParams {
//!     duration_seconds: 3600,
//!     profile_arn: "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/p",
//!     role_arn: "arn:aws:iam::123456789012:role/r",
//!     trust_anchor_arn: "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/t",
//!     role_session_name: None,
//! }
//! .body();
//! let now = SystemTime::now();
//! let host = "rolesanywhere.eu-central-1.amazonaws.com";
//! let signed = identity.sign(&SigningRequest::new("eu-central-1", host, &body, now))?;
//! for (name, value) in &signed.headers {
//!     println!("{name}: {value}");
//! }
//! # Ok(()) }
//! ```
//!
//! Nothing here reads the clock: every time comes in as an argument.

mod certs;
mod error;
mod keys;
mod oids;
mod request;

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use connector_sdk::Secret;

pub use certs::{Certificate, parse_certificate_pem, parse_chain_pem};
pub use error::SigningError;
pub use keys::{
    KeyKind, MAX_PBKDF2_ITERATIONS, MAX_SCRYPT_MEMORY, MAX_SCRYPT_WORK, MIN_RSA_BITS, PrivateKey,
    SigningAlgorithm, scrypt_cost,
};
pub use request::{
    CONTENT_TYPE, MAX_DURATION_SECONDS, METHOD, MIN_DURATION_SECONDS, SERVICE, SESSIONS_PATH,
    SessionParams, SignedRequest, SigningRequest, amz_date, canonical_query_string, hex_sha256,
    uri_encode,
};

use request::CertificateHeaders;

/// The most certificates `X-Amz-X509-Chain` may carry.
pub const MAX_CHAIN_CERTIFICATES: usize = 5;

/// A certificate, its chain and its private key, checked to belong together: everything needed
/// to sign `CreateSession` requests.
#[derive(Debug)]
pub struct SigningIdentity {
    certificate: Certificate,
    chain: Vec<Certificate>,
    key: PrivateKey,
}

impl SigningIdentity {
    /// Puts a certificate, its chain and its private key together.
    ///
    /// Chain certificates identical to the end-entity certificate are dropped (bundles often
    /// start with it); the rest are sent in order, and there may be at most
    /// [`MAX_CHAIN_CERTIFICATES`] of them.
    ///
    /// # Errors
    /// [`SigningError::KeyCertificateMismatch`] when the key's public key is not the
    /// certificate's, [`SigningError::ChainTooLong`] for more than five chain certificates.
    pub fn new(
        certificate: Certificate,
        chain: Vec<Certificate>,
        key: PrivateKey,
    ) -> Result<Self, SigningError> {
        if !key.matches_public_key(certificate.spki_der()) {
            return Err(SigningError::KeyCertificateMismatch {
                subject: certificate.subject().to_owned(),
                key: key.kind().to_string(),
                certificate: certificate.public_key_description().to_owned(),
            });
        }
        let chain: Vec<Certificate> = chain
            .into_iter()
            .filter(|c| c.der() != certificate.der())
            .collect();
        if chain.len() > MAX_CHAIN_CERTIFICATES {
            return Err(SigningError::ChainTooLong { count: chain.len() });
        }
        Ok(Self {
            certificate,
            chain,
            key,
        })
    }

    /// Loads and checks everything from PEM text: the certificate (its first `CERTIFICATE`
    /// block), the optional chain (every `CERTIFICATE` block; blank text means none), and the
    /// private key with its passphrase, if encrypted.
    ///
    /// # Errors
    /// Any error of [`parse_certificate_pem`], [`parse_chain_pem`], [`PrivateKey::from_pem`] and
    /// [`SigningIdentity::new`].
    pub fn from_pem(
        certificate_pem: &str,
        chain_pem: Option<&str>,
        private_key_pem: &Secret,
        passphrase: Option<&Secret>,
    ) -> Result<Self, SigningError> {
        let certificate = parse_certificate_pem(certificate_pem)?;
        let chain = match chain_pem {
            Some(text) => parse_chain_pem(text)?,
            None => Vec::new(),
        };
        let key = PrivateKey::from_pem(private_key_pem, passphrase)?;
        Self::new(certificate, chain, key)
    }

    /// The end-entity certificate (subject, serial, validity for Test Connection).
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The chain certificates sent in `X-Amz-X509-Chain`, in order.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// What kind of private key signs.
    pub fn key_kind(&self) -> KeyKind {
        self.key.kind()
    }

    /// The request signature algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.key.algorithm()
    }

    /// Checks that the end-entity certificate is valid at `now`.
    ///
    /// Only the end-entity certificate is checked: the chain is the trust anchor's business.
    ///
    /// # Errors
    /// [`SigningError::CertificateNotYetValid`] or [`SigningError::CertificateExpired`].
    pub fn check_validity(&self, now: SystemTime) -> Result<(), SigningError> {
        self.certificate.check_validity(now)
    }

    /// Signs a `CreateSession` request per spec §2 and returns the headers to send.
    ///
    /// The certificate must be valid at `request.time`, which is also the `X-Amz-Date`.
    ///
    /// # Errors
    /// The validity errors of [`Self::check_validity`], [`SigningError::InvalidRequest`] for a
    /// region, host or time that cannot be signed, [`SigningError::SignatureFailed`].
    pub fn sign(&self, request: &SigningRequest<'_>) -> Result<SignedRequest, SigningError> {
        self.check_validity(request.time)?;
        let x509_chain = if self.chain.is_empty() {
            None
        } else {
            Some(
                self.chain
                    .iter()
                    .map(|c| BASE64.encode(c.der()))
                    .collect::<Vec<_>>()
                    .join(","),
            )
        };
        let certs = CertificateHeaders {
            serial_decimal: self.certificate.serial_decimal(),
            x509: BASE64.encode(self.certificate.der()),
            x509_chain,
        };
        request::sign_with(request, self.algorithm(), certs, |message| {
            self.key.sign(message)
        })
    }
}
