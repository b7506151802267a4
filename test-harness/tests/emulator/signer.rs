//! A small test-side signer for `CreateSession` requests (spec §2), written apart from both the
//! emulator and the connector so that tests can tamper with every step: the algorithm name, the
//! scope, the serial, the digest, the signature encoding, the headers and the body.

use base64::Engine as _;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use sha2::{Digest as _, Sha256, Sha384};

use super::common::{self, NOW_AMZ};

/// A signing key from the fixtures.
pub(crate) enum Key {
    /// RSA (PKCS#1 v1.5, SHA-256).
    Rsa(Box<rsa::PrivateKey>),
    /// P-256.
    P256(p256::ecdsa::SigningKey),
    /// P-384.
    P384(p384::ecdsa::SigningKey),
}

impl Key {
    /// Reads the first private key block of a PEM file (PKCS#1, SEC1 or PKCS#8).
    pub(crate) fn from_pem_file(path: &std::path::Path) -> Self {
        let pem = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for block in x509_parser::pem::Pem::iter_from_buffer(&pem) {
            let block = block.expect("PEM");
            let der = &block.contents;
            match block.label.as_str() {
                "RSA PRIVATE KEY" => {
                    return Self::Rsa(Box::new(
                        rsa::PrivateKey::from_pkcs1_der(der).expect("PKCS#1 RSA key"),
                    ));
                }
                "EC PRIVATE KEY" => {
                    if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
                        return Self::P256(k.into());
                    }
                    return Self::P384(
                        p384::SecretKey::from_sec1_der(der)
                            .expect("SEC1 P-256/P-384 key")
                            .into(),
                    );
                }
                "PRIVATE KEY" => {
                    if let Ok(k) = rsa::PrivateKey::from_pkcs8_der(der) {
                        return Self::Rsa(Box::new(k));
                    }
                    if let Ok(k) = p256::SecretKey::from_pkcs8_der(der) {
                        return Self::P256(k.into());
                    }
                    return Self::P384(
                        p384::SecretKey::from_pkcs8_der(der)
                            .expect("PKCS#8 key")
                            .into(),
                    );
                }
                _ => {}
            }
        }
        panic!("no private key in {}", path.display());
    }

    fn algorithm(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "AWS4-X509-RSA-SHA256",
            _ => "AWS4-X509-ECDSA-SHA256",
        }
    }
}

/// The digest an ECDSA signature is made over (the spec says SHA-256 for every curve).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum EcDigest {
    /// SHA-256 (correct).
    Sha256,
    /// SHA-384 (wrong, what a naive P-384 signer would do).
    Sha384,
}

/// Everything that goes into a signed request; `new` gives a correct form-A request.
pub(crate) struct Spec {
    /// The signing key.
    pub key: Key,
    /// The leaf certificate, DER.
    pub cert: Vec<u8>,
    /// `X-Amz-X509-Chain`, DER, in the order sent.
    pub chain: Vec<Vec<u8>>,
    /// `X-Amz-X509-Chain` in SignedHeaders when a chain is sent.
    pub sign_chain: bool,
    /// `X-Amz-Date`.
    pub amz_date: String,
    /// The scope date (default: `amz_date[..8]`).
    pub scope_date: Option<String>,
    /// The scope region.
    pub region: String,
    /// `Host`.
    pub host: String,
    /// `Content-Type` (omitted when `None`).
    pub content_type: Option<String>,
    /// Query parameters (form B), unencoded.
    pub query: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Extra headers, sent and signed.
    pub signed_extra: Vec<(String, String)>,
    /// The algorithm name in Authorization and the string to sign (default: by key type).
    pub algorithm: Option<String>,
    /// The Credential serial (default: the certificate's).
    pub serial: Option<String>,
    /// The ECDSA digest.
    pub ec_digest: EcDigest,
    /// Encode ECDSA signatures as raw r||s instead of DER.
    pub ec_raw: bool,
}

/// A request ready to send.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    /// `/sessions` plus the query string.
    pub target: String,
    /// Headers in sending order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Send the body with `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

impl Request {
    /// Replaces the value of a header (case-insensitive name); panics when absent.
    pub(crate) fn set_header(&mut self, name: &str, value: &str) {
        let header = self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .unwrap_or_else(|| panic!("no {name} header"));
        header.1 = value.to_owned();
    }

    /// Removes a header (case-insensitive name).
    pub(crate) fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The value of a header.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Changes the last hex digit of the signature (keeps a DER ECDSA signature well-formed).
    pub(crate) fn flip_signature_digit(&mut self) {
        let auth = self
            .header("authorization")
            .expect("authorization")
            .to_owned();
        let mut chars: Vec<char> = auth.chars().collect();
        let last = chars.len() - 1;
        chars[last] = if chars[last] == '0' { '1' } else { '0' };
        self.set_header("authorization", &chars.into_iter().collect::<String>());
    }
}

impl Spec {
    /// A correct form-A request for the key and certificate files, at the pinned test time.
    pub(crate) fn new(key_file: &std::path::Path, cert_file: &std::path::Path) -> Self {
        Self {
            key: Key::from_pem_file(key_file),
            cert: common::cert_der(cert_file),
            chain: Vec::new(),
            sign_chain: true,
            amz_date: NOW_AMZ.to_owned(),
            scope_date: None,
            region: common::REGION.to_owned(),
            host: "rolesanywhere.eu-central-1.amazonaws.com".to_owned(),
            content_type: Some("application/json".to_owned()),
            query: Vec::new(),
            body: common::body(common::ANCHOR, common::PROFILE, common::ROLE, Some(3600)),
            signed_extra: Vec::new(),
            algorithm: None,
            serial: None,
            ec_digest: EcDigest::Sha256,
            ec_raw: false,
        }
    }

    /// Signs: builds the canonical request, the string to sign and the Authorization header.
    pub(crate) fn sign(&self) -> Request {
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        let mut headers: Vec<(String, String)> = vec![("Host".into(), self.host.clone())];
        if let Some(ct) = &self.content_type {
            headers.push(("Content-Type".into(), ct.clone()));
        }
        headers.push(("X-Amz-Date".into(), self.amz_date.clone()));
        headers.push(("X-Amz-X509".into(), b64(&self.cert)));
        if !self.chain.is_empty() {
            let joined = self
                .chain
                .iter()
                .map(|c| b64(c))
                .collect::<Vec<_>>()
                .join(",");
            headers.push(("X-Amz-X509-Chain".into(), joined));
        }
        headers.extend(self.signed_extra.iter().cloned());

        let mut signed: Vec<(String, String)> = headers
            .iter()
            .filter(|(n, _)| self.sign_chain || !n.eq_ignore_ascii_case("x-amz-x509-chain"))
            .map(|(n, v)| (n.to_ascii_lowercase(), trimall(v)))
            .collect();
        signed.sort();
        let signed_names = signed
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(";");

        let mut query: Vec<(String, String)> = self
            .query
            .iter()
            .map(|(n, v)| (encode(n), encode(v)))
            .collect();
        query.sort();
        let query = query
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("&");

        let mut canonical = format!("POST\n/sessions\n{query}\n");
        for (name, value) in &signed {
            canonical.push_str(&format!("{name}:{value}\n"));
        }
        canonical.push_str(&format!(
            "\n{signed_names}\n{}",
            hex::encode(Sha256::digest(&self.body))
        ));

        let algorithm = self
            .algorithm
            .clone()
            .unwrap_or_else(|| self.key.algorithm().to_owned());
        let scope_date = self
            .scope_date
            .clone()
            .unwrap_or_else(|| self.amz_date[..8].to_owned());
        let scope = format!("{scope_date}/{}/rolesanywhere/aws4_request", self.region);
        let string_to_sign = format!(
            "{algorithm}\n{}\n{scope}\n{}",
            self.amz_date,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let signature = self.signature(string_to_sign.as_bytes());
        let serial = self
            .serial
            .clone()
            .unwrap_or_else(|| common::serial_decimal(&self.cert));
        headers.push((
            "Authorization".into(),
            format!(
                "{algorithm} Credential={serial}/{scope}, SignedHeaders={signed_names}, Signature={}",
                hex::encode(signature)
            ),
        ));
        let target = if query.is_empty() {
            "/sessions".to_owned()
        } else {
            format!("/sessions?{query}")
        };
        Request {
            target,
            headers,
            body: self.body.clone(),
            chunked: false,
        }
    }

    fn signature(&self, sts: &[u8]) -> Vec<u8> {
        let digest = match self.ec_digest {
            EcDigest::Sha256 => Sha256::digest(sts).to_vec(),
            EcDigest::Sha384 => Sha384::digest(sts).to_vec(),
        };
        match &self.key {
            Key::Rsa(key) => key.pkcs1v15_sign::<Sha256>(sts).expect("RSA signs"),
            Key::P256(key) => {
                let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("P-256 signs");
                if self.ec_raw {
                    sig.to_bytes().to_vec()
                } else {
                    sig.to_der().as_bytes().to_vec()
                }
            }
            Key::P384(key) => {
                let sig: p384::ecdsa::Signature = key.sign_prehash(&digest).expect("P-384 signs");
                if self.ec_raw {
                    sig.to_bytes().to_vec()
                } else {
                    sig.to_der().as_bytes().to_vec()
                }
            }
        }
    }
}

/// RFC 3986 percent-encoding: unreserved characters kept, everything else `%XX`.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Trims the value and collapses runs of spaces to one (spec §2.5).
pub(crate) fn trimall(value: &str) -> String {
    value
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
