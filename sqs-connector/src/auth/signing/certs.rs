//! X.509 certificates: the end-entity certificate sent in `X-Amz-X509` and the chain sent in
//! `X-Amz-X509-Chain`.

use std::fmt;
use std::time::SystemTime;

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey as ParsedPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::error::SigningError;
use super::keys::{modulus_bits, pem_error_detail};
use super::oids::curve_name;
use time::OffsetDateTime;

use crate::time::{human, rfc3339, unix_seconds, utc};

const CERTIFICATE_LABEL: &str = "CERTIFICATE";

/// A parsed X.509 certificate with the facts the signer and Test Connection need.
///
/// The DER bytes are kept as they were read: they are what `X-Amz-X509` carries.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    issuer: String,
    serial_decimal: String,
    serial_hex: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    spki_der: Vec<u8>,
    public_key: String,
}

impl Certificate {
    /// Parses one DER-encoded certificate.
    ///
    /// # Errors
    /// [`SigningError::InvalidCertificate`] when the bytes are not exactly one X.509 certificate.
    pub fn from_der(der: impl Into<Vec<u8>>) -> Result<Self, SigningError> {
        Self::parse(der.into(), "certificate")
    }

    fn parse(der: Vec<u8>, what: &str) -> Result<Self, SigningError> {
        let invalid = |detail: String| SigningError::InvalidCertificate {
            what: what.to_owned(),
            detail,
        };
        let (rest, cert) =
            X509Certificate::from_der(&der).map_err(|err| invalid(err.to_string()))?;
        if !rest.is_empty() {
            return Err(invalid(format!(
                "{} unexpected bytes follow the certificate",
                rest.len()
            )));
        }
        let serial = &cert.tbs_certificate.serial;
        let validity = cert.validity();
        let parsed = Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial_decimal: serial.to_string(),
            serial_hex: serial.to_str_radix(16),
            not_before: validity.not_before.to_datetime(),
            not_after: validity.not_after.to_datetime(),
            spki_der: cert.public_key().raw.to_vec(),
            public_key: describe_public_key(cert.public_key()),
            der: Vec::new(),
        };
        // `cert` borrows `der`; the bytes move in once the parsed view is no longer used.
        Ok(Self { der, ..parsed })
    }

    /// The DER encoding, exactly as read.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject distinguished name, e.g. `CN=rolesanywhere-test-rsa2048`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The issuer distinguished name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The serial number in base 10 without leading zeros, as the `Credential` of the
    /// `Authorization` header carries it, e.g. `2854594499835024342662578132328168661030207779`.
    pub fn serial_decimal(&self) -> &str {
        &self.serial_decimal
    }

    /// The serial number in lowercase hexadecimal without leading zeros; AWS names sessions
    /// after it when no `roleSessionName` is sent.
    pub fn serial_hex(&self) -> &str {
        &self.serial_hex
    }

    /// The start of the validity period (`notBefore`).
    pub fn not_before(&self) -> SystemTime {
        self.not_before.into()
    }

    /// The end of the validity period (`notAfter`).
    pub fn not_after(&self) -> SystemTime {
        self.not_after.into()
    }

    /// `notAfter` in RFC 3339 UTC, e.g. `2036-01-01T00:00:00Z`.
    pub fn not_after_rfc3339(&self) -> String {
        rfc3339(self.not_after)
    }

    /// `notBefore` in RFC 3339 UTC, e.g. `2026-01-01T00:00:00Z`.
    pub fn not_before_rfc3339(&self) -> String {
        rfc3339(self.not_before)
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// What the certificate's public key is, e.g. `RSA 2048-bit` or `EC P-256`.
    pub fn public_key_description(&self) -> &str {
        &self.public_key
    }

    /// Checks that `now` lies within `notBefore ..= notAfter`.
    ///
    /// # Errors
    /// [`SigningError::CertificateNotYetValid`] or [`SigningError::CertificateExpired`], naming
    /// the dates in UTC.
    pub fn check_validity(&self, now: SystemTime) -> Result<(), SigningError> {
        let seconds = unix_seconds(now);
        let now = utc(now).map_or_else(|| format!("{seconds} s since 1970"), human);
        if seconds < self.not_before.unix_timestamp() {
            return Err(SigningError::CertificateNotYetValid {
                subject: self.subject.clone(),
                not_before: human(self.not_before),
                not_after: human(self.not_after),
                now,
            });
        }
        if seconds > self.not_after.unix_timestamp() {
            return Err(SigningError::CertificateExpired {
                subject: self.subject.clone(),
                not_before: human(self.not_before),
                not_after: human(self.not_after),
                now,
            });
        }
        Ok(())
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("serial", &self.serial_decimal)
            .field("not_after", &self.not_after_rfc3339())
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// Reads the end-entity certificate: the first `CERTIFICATE` block of `pem_text`. Blocks with
/// other labels (a private key in a combined file, `EC PARAMETERS`, ...) are skipped.
///
/// # Errors
/// [`SigningError::CertificatePem`] for broken PEM text, [`SigningError::NoCertificate`] when
/// there is no `CERTIFICATE` block, [`SigningError::InvalidCertificate`] when it does not parse.
pub fn parse_certificate_pem(pem_text: &str) -> Result<Certificate, SigningError> {
    let blocks = certificate_blocks(pem_text, "certificate")?;
    match blocks.into_iter().next() {
        Some(der) => Certificate::parse(der, "certificate"),
        None => Err(no_certificate(pem_text, "certificate")),
    }
}

/// Reads a chain or bundle: every `CERTIFICATE` block of `pem_text`, in order; other blocks are
/// skipped. Blank text is an empty chain. The length limit is applied by
/// [`SigningIdentity::new`](super::SigningIdentity::new).
///
/// # Errors
/// [`SigningError::CertificatePem`] for broken PEM text, [`SigningError::NoCertificate`] when
/// non-blank text has no `CERTIFICATE` block, [`SigningError::InvalidCertificate`] naming the
/// position of a certificate that does not parse.
pub fn parse_chain_pem(pem_text: &str) -> Result<Vec<Certificate>, SigningError> {
    if pem_text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let blocks = certificate_blocks(pem_text, "certificate chain")?;
    if blocks.is_empty() {
        return Err(no_certificate(pem_text, "certificate chain"));
    }
    let total = blocks.len();
    // Counted before anything is parsed, so a bundle of thousands is refused at once (one more
    // is allowed: a bundle may start with the certificate itself, which is not sent again).
    if total > super::MAX_CHAIN_CERTIFICATES + 1 {
        return Err(SigningError::ChainTooLong { count: total });
    }
    blocks
        .into_iter()
        .enumerate()
        .map(|(index, der)| {
            Certificate::parse(
                der,
                &format!("certificate {} of {total} in the chain", index + 1),
            )
        })
        .collect()
}

/// The contents of the `CERTIFICATE` blocks, in order.
fn certificate_blocks(pem_text: &str, what: &'static str) -> Result<Vec<Vec<u8>>, SigningError> {
    // The PEM parser's error texts may quote the input (the private key of a combined file
    // too), so only fixed descriptions go out, as for keys.
    let blocks = pem::parse_many(pem_text).map_err(|err| SigningError::CertificatePem {
        what,
        detail: pem_error_detail(&err).to_owned(),
    })?;
    Ok(blocks
        .into_iter()
        .filter(|block| block.tag() == CERTIFICATE_LABEL)
        .map(pem::Pem::into_contents)
        .collect())
}

fn no_certificate(pem_text: &str, what: &'static str) -> SigningError {
    // Labels only: the contents of the other blocks (maybe a private key) are never shown.
    let found = pem::parse_many(pem_text)
        .map(|blocks| blocks.iter().map(|b| b.tag().to_owned()).collect())
        .unwrap_or_default();
    SigningError::NoCertificate { what, found }
}

/// `RSA 2048-bit`, `EC P-256`, `EC P-521`, or the algorithm's object identifier.
fn describe_public_key(spki: &SubjectPublicKeyInfo<'_>) -> String {
    match spki.parsed() {
        Ok(ParsedPublicKey::RSA(rsa)) => format!("RSA {}-bit", modulus_bits(rsa.modulus)),
        Ok(ParsedPublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|params| params.as_oid().ok())
                .map(|oid| curve_name(&oid.to_id_string()))
                .unwrap_or_else(|| "with an unnamed curve".to_owned());
            format!("EC {curve}")
        }
        _ => format!(
            "a key of algorithm {}",
            spki.algorithm.algorithm.to_id_string()
        ),
    }
}
