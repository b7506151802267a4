//! The SigV4-X509 pieces of spec §2 seen from the server: parsing `Authorization`, the canonical
//! query string, canonical headers, the canonical request and the string to sign.

use sha2::{Digest, Sha256};

/// `AWS4-X509-RSA-SHA256`.
pub const ALGORITHM_RSA: &str = "AWS4-X509-RSA-SHA256";
/// `AWS4-X509-ECDSA-SHA256` (any curve).
pub const ALGORITHM_ECDSA: &str = "AWS4-X509-ECDSA-SHA256";
/// The service name in the scope.
pub const SERVICE: &str = "rolesanywhere";
/// The scope terminator.
pub const TERMINATOR: &str = "aws4_request";

/// The supported signing algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rsa,
    /// ECDSA over SHA-256, DER-encoded.
    Ecdsa,
}

impl Algorithm {
    /// The name in `Authorization` and the string to sign.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa => ALGORITHM_RSA,
            Self::Ecdsa => ALGORITHM_ECDSA,
        }
    }
}

/// Why `Authorization` was refused at spec §5.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationError {
    /// The algorithm is not one of the two supported names.
    UnsupportedAlgorithm(String),
    /// The header does not have the expected shape.
    Malformed(String),
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The certificate serial, decimal, as written.
    pub serial: String,
    /// The scope date, `yyyymmdd`.
    pub date: String,
    /// The scope region.
    pub region: String,
    /// The scope service (checked later, §5.6).
    pub service: String,
    /// The scope terminator (checked later, §5.6).
    pub terminator: String,
    /// The signed header names, as written.
    pub signed_headers: Vec<String>,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// The most headers a signature may cover: far more than a CreateSession request has.
pub const MAX_SIGNED_HEADERS: usize = 64;

impl Authorization {
    /// The credential scope `date/region/service/terminator`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }

    /// Parses `<Algorithm> Credential=<serial>/<date>/<region>/<service>/<terminator>,
    /// SignedHeaders=<a;b;c>, Signature=<hex>` (spaces after the commas optional).
    pub fn parse(header: &str) -> Result<Self, AuthorizationError> {
        let malformed = |why: &str| AuthorizationError::Malformed(why.to_owned());
        let (algorithm, rest) = header
            .split_once(' ')
            .ok_or_else(|| malformed("no space after the algorithm"))?;
        let algorithm = match algorithm {
            ALGORITHM_RSA => Algorithm::Rsa,
            ALGORITHM_ECDSA => Algorithm::Ecdsa,
            other => return Err(AuthorizationError::UnsupportedAlgorithm(other.to_owned())),
        };
        // At most one part more than expected is split off, so a header of many commas is not
        // split into as many pieces.
        let parts: Vec<&str> = rest
            .splitn(4, ',')
            .map(|p| p.trim_start_matches(' '))
            .collect();
        let [credential, signed_headers, signature] = parts.as_slice() else {
            return Err(malformed(
                "expected Credential=..., SignedHeaders=..., Signature=...",
            ));
        };
        let credential = credential
            .strip_prefix("Credential=")
            .ok_or_else(|| malformed("the first component is not Credential="))?;
        let signed_headers = signed_headers
            .strip_prefix("SignedHeaders=")
            .ok_or_else(|| malformed("the second component is not SignedHeaders="))?;
        let signature = signature
            .strip_prefix("Signature=")
            .ok_or_else(|| malformed("the third component is not Signature="))?;

        let fields: Vec<&str> = credential.splitn(6, '/').collect();
        let [serial, date, region, service, terminator] = fields.as_slice() else {
            return Err(malformed(
                "Credential is not <serial>/<date>/<region>/<service>/aws4_request",
            ));
        };
        if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("the Credential serial is not a decimal number"));
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("the Credential date is not yyyymmdd"));
        }
        if !super::config::is_region(region) {
            return Err(malformed("the Credential region is not [a-z0-9-]+"));
        }
        if service.is_empty() || terminator.is_empty() {
            return Err(malformed("the Credential scope has an empty part"));
        }

        // Each name is checked before it is kept, and at most MAX_SIGNED_HEADERS are: a header
        // of thousands of ';' is refused at its first empty name, never held as thousands of
        // strings.
        let token = |n: &str| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let mut names: Vec<String> = Vec::new();
        for name in signed_headers.split(';') {
            if !token(name) {
                return Err(malformed(
                    "SignedHeaders is not a ';'-separated list of names",
                ));
            }
            if names.len() == MAX_SIGNED_HEADERS {
                return Err(malformed("SignedHeaders names more than 64 headers"));
            }
            names.push(name.to_owned());
        }

        if signature.is_empty() || signature.len() % 2 == 1 {
            return Err(malformed("Signature is not an even number of hex digits"));
        }
        let signature =
            hex::decode(signature).map_err(|_| malformed("Signature is not hexadecimal"))?;

        Ok(Self {
            algorithm,
            serial: (*serial).to_owned(),
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
            terminator: (*terminator).to_owned(),
            signed_headers: names,
            signature,
        })
    }
}

/// RFC 3986 encoding as SigV4 wants it: `A-Za-z0-9-_.~` kept, every other byte `%XX` (uppercase).
pub fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` on a broken escape. `+` stays `+` (RFC 3986, not forms).
pub fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The received query string as decoded (name, value) pairs, in order; `None` when an escape is
/// broken. Empty pieces (`a=1&&b=2`) are skipped; a piece without `=` has an empty value.
pub fn parse_query(raw: &str) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut pairs = Vec::new();
    for piece in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        pairs.push((percent_decode(name)?, percent_decode(value)?));
    }
    Some(pairs)
}

/// The canonical query string: every pair re-encoded, sorted by name then value, joined by `&`.
pub fn canonical_query(pairs: &[(Vec<u8>, Vec<u8>)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| (uri_encode(n), uri_encode(v)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Trims leading and trailing spaces and collapses inner runs of spaces to one.
pub fn trimall(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The canonical request for `POST /sessions`. `headers` are (lowercase name, joined value) in
/// `SignedHeaders` order; `payload` is the de-chunked body.
pub fn canonical_request(
    canonical_query: &str,
    headers: &[(String, String)],
    payload: &[u8],
) -> String {
    let mut out = String::from("POST\n/sessions\n");
    out.push_str(canonical_query);
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(&hex::encode(Sha256::digest(payload)));
    out
}

/// The string to sign: algorithm, `X-Amz-Date`, scope and the canonical request's SHA-256.
pub fn string_to_sign(
    algorithm: Algorithm,
    amz_date: &str,
    scope: &str,
    canonical: &str,
) -> String {
    format!(
        "{}\n{amz_date}\n{scope}\n{}",
        algorithm.name(),
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_rfc3986() {
        assert_eq!(
            uri_encode(b"arn:aws/x y+z~._-"),
            "arn%3Aaws%2Fx%20y%2Bz~._-"
        );
        assert_eq!(percent_decode("a%3Ab%2f+").as_deref(), Some(&b"a:b/+"[..]));
        assert_eq!(percent_decode("%4"), None);
    }

    #[test]
    fn canonical_query_sorts_and_reencodes() {
        let pairs = parse_query("roleArn=arn%3aaws&profileArn=p%2Fq&&flag").expect("query");
        assert_eq!(
            canonical_query(&pairs),
            "flag=&profileArn=p%2Fq&roleArn=arn%3Aaws"
        );
    }

    #[test]
    fn trimall_collapses_spaces() {
        assert_eq!(trimall("  a   b c  "), "a b c");
        assert_eq!(trimall(""), "");
    }

    /// The canonical request and string to sign of every vector of spec §9, rebuilt from the
    /// vector's wire form, hash to the values the vectors record.
    #[test]
    fn canonical_requests_of_the_vectors_match() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rolesanywhere/vectors");
        let mut checked = 0;
        for file in ["recommended.json", "python-iam-rolesanywhere-session.json"] {
            let text = std::fs::read_to_string(dir.join(file)).expect("vector file");
            let json: serde_json::Value = serde_json::from_str(&text).expect("json");
            for vector in json["vectors"].as_array().expect("vectors") {
                let name = vector["name"].as_str().expect("name");
                let headers: Vec<(String, String)> = match &vector["headers"] {
                    serde_json::Value::Object(map) => map
                        .iter()
                        .map(|(n, v)| {
                            (
                                n.to_ascii_lowercase(),
                                v.as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect(),
                    serde_json::Value::Array(pairs) => pairs
                        .iter()
                        .map(|p| {
                            (
                                p[0].as_str().unwrap_or_default().to_ascii_lowercase(),
                                p[1].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect(),
                    other => panic!("{name}: headers {other}"),
                };
                let auth = vector["authorization"].as_str().expect("authorization");
                let (algorithm, rest) = auth.split_once(' ').expect("algorithm");
                let signed = rest
                    .split(", ")
                    .find_map(|p| p.strip_prefix("SignedHeaders="))
                    .expect("SignedHeaders");
                let canonical_headers: Vec<(String, String)> = signed
                    .split(';')
                    .map(|n| {
                        let value = headers.iter().find(|(h, _)| h == n).expect("signed header");
                        (n.to_owned(), trimall(&value.1))
                    })
                    .collect();
                let url = vector["url"].as_str().expect("url");
                let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
                let query = canonical_query(&parse_query(query).expect("query"));
                let canonical = canonical_request(
                    &query,
                    &canonical_headers,
                    vector["body"].as_str().expect("body").as_bytes(),
                );
                assert_eq!(
                    hex::encode(Sha256::digest(canonical.as_bytes())),
                    vector["canonical_request_sha256"].as_str().expect("hash"),
                    "{name}"
                );
                let algorithm = if algorithm.contains("RSA") {
                    Algorithm::Rsa
                } else {
                    Algorithm::Ecdsa
                };
                let scope = format!("20261126/eu-central-1/{SERVICE}/{TERMINATOR}");
                let sts = string_to_sign(algorithm, "20261126T000000Z", &scope, &canonical);
                if name != "p384-cert-signed-sha384" {
                    assert_eq!(
                        sts,
                        vector["string_to_sign"].as_str().expect("sts"),
                        "{name}"
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 13);
    }

    #[test]
    fn parses_authorization_with_and_without_spaces() {
        let a = Authorization::parse(
            "AWS4-X509-ECDSA-SHA256 Credential=4096/20261126/eu-central-1/rolesanywhere/aws4_request,SignedHeaders=host;x-amz-date;x-amz-x509,  Signature=0AbC",
        )
        .expect("parses");
        assert_eq!(a.algorithm, Algorithm::Ecdsa);
        assert_eq!(a.serial, "4096");
        assert_eq!(
            a.scope(),
            "20261126/eu-central-1/rolesanywhere/aws4_request"
        );
        assert_eq!(a.signed_headers, ["host", "x-amz-date", "x-amz-x509"]);
        assert_eq!(a.signature, [0x0a, 0xbc]);
        assert_eq!(
            Authorization::parse("AWS4-X509-ECDSA-SHA384 Credential=1/x"),
            Err(AuthorizationError::UnsupportedAlgorithm(
                "AWS4-X509-ECDSA-SHA384".into()
            ))
        );
        assert!(matches!(
            Authorization::parse("AWS4-X509-RSA-SHA256 Credential=1/20261126/r/s/t, Signature=00"),
            Err(AuthorizationError::Malformed(_))
        ));
    }
}
