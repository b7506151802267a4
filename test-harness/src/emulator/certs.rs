//! X.509 for the emulator: parsing certificates into owned values, the leaf constraints of spec
//! §5.12-13 and the path building of §5.14, with signatures checked by RustCrypto.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Version;

/// The most certificates `X-Amz-X509-Chain` may hold, and the longest path below the anchor.
pub const MAX_CHAIN: usize = 5;
/// The smallest RSA modulus accepted for a signing certificate, in bits.
pub const MIN_RSA_BITS: usize = 2048;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

/// The hash inside a certificate's signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// A certificate's `signatureAlgorithm`, as far as the emulator cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// sha{256,384,512}WithRSAEncryption.
    RsaPkcs1(Hash),
    /// ecdsa-with-SHA{256,384,512}.
    Ecdsa(Hash),
    /// MD5 or SHA-1 based: never accepted.
    Weak(&'static str),
    /// Anything else (RSASSA-PSS, Ed25519, ...), by OID.
    Unsupported(String),
}

impl SignatureAlgorithm {
    fn from_oid(oid: &str) -> Self {
        match oid {
            "1.2.840.113549.1.1.11" => Self::RsaPkcs1(Hash::Sha256),
            "1.2.840.113549.1.1.12" => Self::RsaPkcs1(Hash::Sha384),
            "1.2.840.113549.1.1.13" => Self::RsaPkcs1(Hash::Sha512),
            "1.2.840.10045.4.3.2" => Self::Ecdsa(Hash::Sha256),
            "1.2.840.10045.4.3.3" => Self::Ecdsa(Hash::Sha384),
            "1.2.840.10045.4.3.4" => Self::Ecdsa(Hash::Sha512),
            "1.2.840.113549.1.1.4" => Self::Weak("md5WithRSAEncryption"),
            "1.2.840.113549.1.1.5" => Self::Weak("sha1WithRSAEncryption"),
            "1.2.840.10045.4.1" => Self::Weak("ecdsa-with-SHA1"),
            "1.3.14.3.2.29" => Self::Weak("sha1WithRSASignature"),
            other => Self::Unsupported(other.to_owned()),
        }
    }
}

/// A certificate's public key.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// RSA, with its modulus size in bits.
    Rsa(Box<rsa::PublicKey>, usize),
    /// EC on P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// EC on P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// Another key type or curve, described.
    Unsupported(String),
}

impl PublicKey {
    fn describe(&self) -> String {
        match self {
            Self::Rsa(_, bits) => format!("RSA-{bits}"),
            Self::P256(_) => "EC P-256".into(),
            Self::P384(_) => "EC P-384".into(),
            Self::Unsupported(what) => what.clone(),
        }
    }

    /// Verifies `signature` over `data` per `algorithm` (used for certificate signatures).
    fn verify(
        &self,
        algorithm: &SignatureAlgorithm,
        data: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        match (algorithm, self) {
            (SignatureAlgorithm::RsaPkcs1(hash), Self::Rsa(key, _)) => {
                let digest = hash.digest(data);
                let result = match hash {
                    Hash::Sha256 => key.pkcs1v15_verify_prehash::<Sha256>(&digest, signature),
                    Hash::Sha384 => key.pkcs1v15_verify_prehash::<Sha384>(&digest, signature),
                    Hash::Sha512 => key.pkcs1v15_verify_prehash::<Sha512>(&digest, signature),
                };
                result.map_err(|_| "the RSA signature does not verify".to_owned())
            }
            (SignatureAlgorithm::Ecdsa(hash), Self::P256(key)) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| "the ECDSA signature is not DER".to_owned())?;
                key.verify_prehash(&hash.digest(data), &sig)
                    .map_err(|_| "the ECDSA signature does not verify".to_owned())
            }
            (SignatureAlgorithm::Ecdsa(hash), Self::P384(key)) => {
                let sig = p384::ecdsa::Signature::from_der(signature)
                    .map_err(|_| "the ECDSA signature is not DER".to_owned())?;
                key.verify_prehash(&hash.digest(data), &sig)
                    .map_err(|_| "the ECDSA signature does not verify".to_owned())
            }
            (SignatureAlgorithm::Weak(name), _) => Err(format!("weak signature algorithm {name}")),
            (SignatureAlgorithm::Unsupported(oid), _) => {
                Err(format!("unsupported signature algorithm {oid}"))
            }
            (algorithm, key) => Err(format!(
                "signature algorithm {algorithm:?} does not fit the issuer's {} key",
                key.describe()
            )),
        }
    }
}

/// A parsed certificate, owning everything the checks need.
#[derive(Debug, Clone)]
pub struct Cert {
    /// The DER encoding.
    pub der: Vec<u8>,
    tbs: Vec<u8>,
    /// The `signatureAlgorithm`.
    pub signature_algorithm: SignatureAlgorithm,
    signature: Vec<u8>,
    /// Whether the certificate is X.509 version 3.
    pub is_v3: bool,
    /// Whether the DER serial is negative.
    pub serial_negative: bool,
    /// The serial as an unsigned decimal number.
    pub serial_decimal: String,
    /// The serial as lowercase hex, left-padded to an even length.
    pub serial_hex: String,
    /// The DER of the subject name.
    pub subject_raw: Vec<u8>,
    /// The DER of the issuer name.
    pub issuer_raw: Vec<u8>,
    /// The subject, as text (for messages).
    pub subject_text: String,
    /// Whether the subject has no attributes.
    pub subject_empty: bool,
    /// The first common name of the subject, if any.
    pub subject_cn: Option<String>,
    /// `notBefore` as Unix seconds.
    pub not_before: i64,
    /// `notAfter` as Unix seconds.
    pub not_after: i64,
    /// The public key.
    pub key: PublicKey,
    spki: Vec<u8>,
    /// `basicConstraints`: (cA, pathLenConstraint), if present.
    pub basic_constraints: Option<(bool, Option<u32>)>,
    /// `keyUsage`: (digitalSignature, keyCertSign), if present.
    pub key_usage: Option<(bool, bool)>,
    ski: Option<Vec<u8>>,
    aki: Option<Vec<u8>>,
}

impl Cert {
    /// Parses one DER certificate, with nothing after it.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| format!("not a DER X.509 certificate: {e}"))?;
        if !rest.is_empty() {
            return Err(format!("{} bytes follow the certificate", rest.len()));
        }
        Self::from_parsed(der, &cert)
    }

    /// Parses every `CERTIFICATE` block of a PEM file, in order; other blocks are skipped.
    pub fn parse_pem_bundle(pem: &[u8]) -> Result<Vec<Self>, String> {
        let mut certs = Vec::new();
        for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
            let block = block.map_err(|e| format!("invalid PEM: {e}"))?;
            if block.label == "CERTIFICATE" {
                certs.push(Self::from_der(&block.contents)?);
            }
        }
        Ok(certs)
    }

    fn from_parsed(der: &[u8], cert: &X509Certificate<'_>) -> Result<Self, String> {
        let tbs = &cert.tbs_certificate;
        let raw_serial = tbs.raw_serial();
        if raw_serial.is_empty() {
            return Err("the serial number is empty".into());
        }
        let serial_negative = raw_serial[0] & 0x80 != 0;
        let serial_decimal = tbs.serial.to_str_radix(10);
        let mut serial_hex = tbs.serial.to_str_radix(16);
        if serial_hex.len() % 2 == 1 {
            serial_hex.insert(0, '0');
        }

        let mut basic_constraints = None;
        let mut key_usage = None;
        let mut ski = None;
        let mut aki = None;
        for ext in tbs.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => {
                    basic_constraints = Some((bc.ca, bc.path_len_constraint));
                }
                ParsedExtension::KeyUsage(ku) => {
                    key_usage = Some((ku.digital_signature(), ku.key_cert_sign()));
                }
                ParsedExtension::SubjectKeyIdentifier(id) => ski = Some(id.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    aki = a.key_identifier.as_ref().map(|id| id.0.to_vec());
                }
                ParsedExtension::ParseError { error } => {
                    return Err(format!(
                        "extension {} does not parse: {error}",
                        ext.oid.to_id_string()
                    ));
                }
                _ => {}
            }
        }
        // Duplicate extensions are invalid (RFC 5280 §4.2).
        let mut oids: Vec<String> = tbs
            .extensions()
            .iter()
            .map(|e| e.oid.to_id_string())
            .collect();
        oids.sort();
        if oids.windows(2).any(|w| w[0] == w[1]) {
            return Err("an extension appears twice".into());
        }

        let subject_cn = tbs
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);

        Ok(Self {
            der: der.to_vec(),
            tbs: tbs.as_ref().to_vec(),
            signature_algorithm: SignatureAlgorithm::from_oid(
                &cert.signature_algorithm.algorithm.to_id_string(),
            ),
            signature: cert.signature_value.data.to_vec(),
            is_v3: tbs.version == X509Version::V3,
            serial_negative,
            serial_decimal,
            serial_hex,
            subject_raw: tbs.subject.as_raw().to_vec(),
            issuer_raw: tbs.issuer.as_raw().to_vec(),
            subject_text: tbs.subject.to_string(),
            subject_empty: tbs.subject.iter().next().is_none(),
            subject_cn,
            not_before: tbs.validity.not_before.timestamp(),
            not_after: tbs.validity.not_after.timestamp(),
            key: parse_key(tbs.public_key()),
            spki: tbs.public_key().raw.to_vec(),
            basic_constraints,
            key_usage,
            ski,
            aki,
        })
    }

    /// A short name for messages: the subject, or the serial when the subject is empty.
    pub fn describe(&self) -> String {
        if self.subject_empty {
            format!("serial {}", self.serial_hex)
        } else {
            format!("'{}'", self.subject_text)
        }
    }

    /// Whether the certificate's validity period contains `now`.
    pub fn valid_at(&self, now: i64) -> Result<(), String> {
        if now < self.not_before {
            Err(format!("{} is not valid yet", self.describe()))
        } else if now > self.not_after {
            Err(format!("{} has expired", self.describe()))
        } else {
            Ok(())
        }
    }

    /// The constraints on a signing (end-entity) certificate, spec §5.12.
    pub fn check_leaf(&self) -> Result<(), String> {
        if !self.is_v3 {
            return Err("the certificate is not X.509 version 3".into());
        }
        if let Some((true, _)) = self.basic_constraints {
            return Err("the certificate has basicConstraints cA=TRUE".into());
        }
        match self.key_usage {
            None => return Err("the certificate has no keyUsage extension".into()),
            Some((false, _)) => return Err("keyUsage does not include digitalSignature".into()),
            Some((true, _)) => {}
        }
        match &self.signature_algorithm {
            SignatureAlgorithm::RsaPkcs1(_) | SignatureAlgorithm::Ecdsa(_) => {}
            SignatureAlgorithm::Weak(name) => {
                return Err(format!("the certificate is signed with {name}"));
            }
            SignatureAlgorithm::Unsupported(oid) => {
                return Err(format!(
                    "the certificate's signature algorithm {oid} is not supported"
                ));
            }
        }
        if self.subject_empty {
            return Err("the certificate's subject is empty".into());
        }
        Ok(())
    }

    /// Whether `self` is `anchor`: the same bytes, or the same subject and key.
    fn same_as(&self, anchor: &Cert) -> bool {
        self.der == anchor.der
            || (self.subject_raw == anchor.subject_raw && self.spki == anchor.spki)
    }

    /// Whether `issuer` names itself as `self`'s issuer (and key identifiers agree, when both exist).
    fn may_be_issued_by(&self, issuer: &Cert) -> bool {
        if self.issuer_raw != issuer.subject_raw {
            return false;
        }
        match (&self.aki, &issuer.ski) {
            (Some(aki), Some(ski)) => aki == ski,
            _ => true,
        }
    }

    /// Checks that `issuer` may issue `self` and did: CA flag, key usage, path length (with
    /// `intermediates_below` CA certificates between `issuer` and the leaf) and the signature.
    fn check_issued_by(&self, issuer: &Cert, intermediates_below: usize) -> Result<(), String> {
        match issuer.basic_constraints {
            Some((true, path_len)) => {
                if let Some(limit) = path_len {
                    if intermediates_below > limit as usize {
                        return Err(format!(
                            "{} allows {limit} intermediate(s) below it, the path has {intermediates_below}",
                            issuer.describe()
                        ));
                    }
                }
            }
            _ => return Err(format!("issuer {} is not a CA", issuer.describe())),
        }
        if let Some((_, false)) = issuer.key_usage {
            return Err(format!(
                "issuer {} lacks keyUsage keyCertSign",
                issuer.describe()
            ));
        }
        issuer
            .key
            .verify(&self.signature_algorithm, &self.tbs, &self.signature)
            .map_err(|e| {
                format!(
                    "signature of {} by {}: {e}",
                    self.describe(),
                    issuer.describe()
                )
            })
    }
}

fn parse_key(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> PublicKey {
    let algorithm = spki.algorithm.algorithm.to_id_string();
    match algorithm.as_str() {
        OID_RSA => match rsa::PublicKey::from_public_key_der(spki.raw) {
            Ok(key) => {
                let bits = key.size() * 8;
                PublicKey::Rsa(Box::new(key), bits)
            }
            Err(e) => PublicKey::Unsupported(format!("RSA key that does not parse ({e})")),
        },
        OID_EC => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| Oid::try_from(p.clone()).ok())
                .map(|oid| oid.to_id_string())
                .unwrap_or_default();
            let point = &spki.subject_public_key.data;
            match curve.as_str() {
                OID_P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                    .map(PublicKey::P256)
                    .unwrap_or_else(|_| PublicKey::Unsupported("invalid P-256 point".into())),
                OID_P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                    .map(PublicKey::P384)
                    .unwrap_or_else(|_| PublicKey::Unsupported("invalid P-384 point".into())),
                other => PublicKey::Unsupported(format!("EC key on curve {other}")),
            }
        }
        other => PublicKey::Unsupported(format!("key algorithm {other}")),
    }
}

/// Builds a path from `leaf` to one of `anchors` through `pool` (the chain header's certificates,
/// in any order, duplicates and copies of the leaf ignored), spec §5.13-14. Every certificate on
/// the path must be valid at `now`. Returns the number of chain certificates used.
pub fn build_path(leaf: &Cert, pool: &[Cert], anchors: &[Cert], now: i64) -> Result<usize, String> {
    if anchors.iter().any(|a| leaf.same_as(a)) {
        return Ok(0);
    }
    let mut unique: Vec<&Cert> = Vec::new();
    for cert in pool {
        if cert.der != leaf.der && !unique.iter().any(|c| c.der == cert.der) {
            unique.push(cert);
        }
    }
    let mut search = PathSearch {
        pool: &unique,
        anchors,
        now,
        used: Vec::new(),
        failure: None,
    };
    if search.extend(leaf) {
        return Ok(search.used.len());
    }
    Err(search.failure.unwrap_or_else(|| {
        format!(
            "no certificate in the chain or the trust anchor issued {}",
            leaf.describe()
        )
    }))
}

struct PathSearch<'a> {
    pool: &'a [&'a Cert],
    anchors: &'a [Cert],
    now: i64,
    used: Vec<usize>,
    failure: Option<String>,
}

impl PathSearch<'_> {
    /// Tries to reach an anchor from `current`, the last certificate on the path so far.
    fn extend(&mut self, current: &Cert) -> bool {
        let below = self.used.len();
        for anchor in self.anchors {
            if !current.may_be_issued_by(anchor) {
                continue;
            }
            match current
                .check_issued_by(anchor, below)
                .and_then(|()| anchor.valid_at(self.now))
            {
                Ok(()) => return true,
                Err(e) => self.failure = Some(e),
            }
        }
        for index in 0..self.pool.len() {
            let candidate = self.pool[index];
            if self.used.contains(&index) || !current.may_be_issued_by(candidate) {
                continue;
            }
            if self.used.len() >= MAX_CHAIN {
                self.failure = Some(format!(
                    "the path would need more than {MAX_CHAIN} chain certificates"
                ));
                continue;
            }
            if let Err(e) = current
                .check_issued_by(candidate, below)
                .and_then(|()| candidate.valid_at(self.now))
            {
                self.failure = Some(e);
                continue;
            }
            self.used.push(index);
            if self.anchors.iter().any(|a| candidate.same_as(a)) || self.extend(candidate) {
                return true;
            }
            self.used.pop();
        }
        if self.failure.is_none() {
            self.failure = Some(format!(
                "no certificate in the chain or the trust anchor issued {}",
                current.describe()
            ));
        }
        false
    }
}
