//! The `CreateSession` request: its body and the SigV4-X509 canonical request, string to sign and
//! headers (spec `rolesanywhere.md` §1-§2).

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::error::SigningError;
use super::keys::SigningAlgorithm;
use crate::time::utc;

/// The service name in the credential scope.
pub const SERVICE: &str = "rolesanywhere";
/// The path of `CreateSession`.
pub const SESSIONS_PATH: &str = "/sessions";
/// The HTTP method of `CreateSession`.
pub const METHOD: &str = "POST";
/// The `Content-Type` the signer sends and signs.
pub const CONTENT_TYPE: &str = "application/json";
/// The smallest `durationSeconds` AWS accepts.
pub const MIN_DURATION_SECONDS: u32 = 900;
/// The largest `durationSeconds` AWS accepts.
pub const MAX_DURATION_SECONDS: u32 = 43_200;

/// The parameters of a `CreateSession` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionParams<'a> {
    /// `durationSeconds`, 900..=43200 for AWS (not checked here).
    pub duration_seconds: u32,
    /// `profileArn`.
    pub profile_arn: &'a str,
    /// `roleArn`.
    pub role_arn: &'a str,
    /// `trustAnchorArn`.
    pub trust_anchor_arn: &'a str,
    /// `roleSessionName`, sent only when set.
    pub role_session_name: Option<&'a str>,
}

/// The body in form A, in the spec's field order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct BodyA<'a> {
    duration_seconds: u32,
    profile_arn: &'a str,
    role_arn: &'a str,
    trust_anchor_arn: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_session_name: Option<&'a str>,
}

/// The body in form B: the ARNs travel in the query string.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct BodyB<'a> {
    duration_seconds: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_session_name: Option<&'a str>,
}

impl SessionParams<'_> {
    /// The form A body (the recommended wire format): compact JSON with `durationSeconds`,
    /// `profileArn`, `roleArn`, `trustAnchorArn`, then `roleSessionName` when set.
    pub fn body(&self) -> Vec<u8> {
        to_json(&BodyA {
            duration_seconds: self.duration_seconds,
            profile_arn: self.profile_arn,
            role_arn: self.role_arn,
            trust_anchor_arn: self.trust_anchor_arn,
            role_session_name: self.role_session_name,
        })
    }

    /// Form B, as the Go helper sends it: the query parameters (`profileArn`, `roleArn`,
    /// `trustAnchorArn`) and the body `{"durationSeconds":N[,"roleSessionName":"…"]}`.
    pub fn query_form(&self) -> (Vec<(String, String)>, Vec<u8>) {
        let query = vec![
            ("profileArn".to_owned(), self.profile_arn.to_owned()),
            ("roleArn".to_owned(), self.role_arn.to_owned()),
            (
                "trustAnchorArn".to_owned(),
                self.trust_anchor_arn.to_owned(),
            ),
        ];
        let body = to_json(&BodyB {
            duration_seconds: self.duration_seconds,
            role_session_name: self.role_session_name,
        });
        (query, body)
    }
}

fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    // Strings and integers always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

/// What to sign: one `POST /sessions` request.
#[derive(Clone, Copy, Debug)]
pub struct SigningRequest<'a> {
    /// The signing region, e.g. `eu-central-1`.
    pub region: &'a str,
    /// The URL authority for the `Host` header, with the port when it is not the scheme's
    /// default, e.g. `rolesanywhere.eu-central-1.amazonaws.com` or `127.0.0.1:8080`.
    pub host: &'a str,
    /// The exact body bytes that will be sent.
    pub body: &'a [u8],
    /// Query parameters (form B); empty for form A.
    pub query: &'a [(String, String)],
    /// The signing time; sub-second parts are dropped.
    pub time: SystemTime,
}

impl<'a> SigningRequest<'a> {
    /// A form A request: no query parameters.
    pub fn new(region: &'a str, host: &'a str, body: &'a [u8], time: SystemTime) -> Self {
        Self {
            region,
            host,
            body,
            query: &[],
            time,
        }
    }
}

/// A signed request: the headers to send and the intermediate values of the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// The headers to send, in this order: `Content-Type`, `Host`, `X-Amz-Date`, `X-Amz-X509`,
    /// `X-Amz-X509-Chain` (only with a chain), `Authorization`.
    pub headers: Vec<(&'static str, String)>,
    /// The canonical query string; the URL's query must be exactly this (empty for form A).
    pub query_string: String,
    /// The canonical request (spec §2 step 7).
    pub canonical_request: String,
    /// The string to sign (spec §2 step 9).
    pub string_to_sign: String,
    /// The signed header names, e.g. `content-type;host;x-amz-date;x-amz-x509`.
    pub signed_headers: String,
    /// `<serial>/<date>/<region>/rolesanywhere/aws4_request`.
    pub credential: String,
    /// The signature, lowercase hex.
    pub signature_hex: String,
    /// The `Authorization` header value.
    pub authorization: String,
}

impl SignedRequest {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `/sessions`, followed by `?` and the query string in form B.
    pub fn path_and_query(&self) -> String {
        if self.query_string.is_empty() {
            SESSIONS_PATH.to_owned()
        } else {
            format!("{SESSIONS_PATH}?{}", self.query_string)
        }
    }
}

/// The certificate headers' values: `X-Amz-X509` and, when there is a chain, `X-Amz-X509-Chain`.
pub(crate) struct CertificateHeaders<'a> {
    pub(crate) serial_decimal: &'a str,
    pub(crate) x509: String,
    pub(crate) x509_chain: Option<String>,
}

/// Builds the canonical request and the string to sign and calls `sign` on the latter.
pub(crate) fn sign_with(
    request: &SigningRequest<'_>,
    algorithm: SigningAlgorithm,
    certs: CertificateHeaders<'_>,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, SigningError>,
) -> Result<SignedRequest, SigningError> {
    validate_region(request.region)?;
    validate_host(request.host)?;
    let amz_date = amz_date(request.time)?;
    let date = &amz_date[..8];
    let scope = format!("{date}/{}/{SERVICE}/aws4_request", request.region);

    let mut headers: Vec<(&'static str, String)> = vec![
        ("Content-Type", CONTENT_TYPE.to_owned()),
        ("Host", request.host.to_owned()),
        ("X-Amz-Date", amz_date.clone()),
        ("X-Amz-X509", certs.x509),
    ];
    if let Some(chain) = certs.x509_chain {
        headers.push(("X-Amz-X509-Chain", chain));
    }

    let mut canonical: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), trim_all(value)))
        .collect();
    canonical.sort();
    let signed_headers = canonical
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = canonical
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();

    let query_string = canonical_query_string(request.query);
    let canonical_request = format!(
        "{METHOD}\n{SESSIONS_PATH}\n{query_string}\n{canonical_headers}\n{signed_headers}\n{}",
        hex_sha256(request.body)
    );
    let string_to_sign = format!(
        "{}\n{amz_date}\n{scope}\n{}",
        algorithm.as_str(),
        hex_sha256(canonical_request.as_bytes())
    );
    let signature_hex = hex::encode(sign(string_to_sign.as_bytes())?);
    let credential = format!("{}/{scope}", certs.serial_decimal);
    let authorization = format!(
        "{} Credential={credential}, SignedHeaders={signed_headers}, Signature={signature_hex}",
        algorithm.as_str()
    );
    headers.push(("Authorization", authorization.clone()));

    Ok(SignedRequest {
        headers,
        query_string,
        canonical_request,
        string_to_sign,
        signed_headers,
        credential,
        signature_hex,
        authorization,
    })
}

/// `X-Amz-Date` for `time`: UTC `%Y%m%dT%H%M%SZ`, truncated to whole seconds.
///
/// # Errors
/// [`SigningError::InvalidRequest`] for a time outside the years 1970..=9999.
pub fn amz_date(time: SystemTime) -> Result<String, SigningError> {
    match utc(time) {
        Some(utc) if (1970..=9999).contains(&utc.year()) => Ok(crate::time::amz_date(utc)),
        Some(utc) => Err(SigningError::InvalidRequest(format!(
            "the signing time (year {}) is outside the years 1970 to 9999",
            utc.year()
        ))),
        None => Err(SigningError::InvalidRequest(
            "the signing time is outside the years 1970 to 9999".to_owned(),
        )),
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The canonical query string (spec §2 step 4): each pair as `uri_encode(name)=uri_encode(value)`,
/// sorted by encoded name then encoded value, joined with `&`.
pub fn canonical_query_string(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| (uri_encode(name), uri_encode(value)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding as SigV4 wants it: `A-Za-z0-9-_.~` stay, every other byte becomes `%XX`.
pub fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Strips leading and trailing spaces and collapses runs of spaces to one.
fn trim_all(value: &str) -> String {
    value
        .split(' ')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn validate_region(region: &str) -> Result<(), SigningError> {
    let valid = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(SigningError::InvalidRequest(format!(
            "the region {region:?} is not a region name such as eu-central-1"
        )))
    }
}

fn validate_host(host: &str) -> Result<(), SigningError> {
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'@'));
    if valid {
        Ok(())
    } else {
        Err(SigningError::InvalidRequest(format!(
            "the host {host:?} is not a URL authority such as \
             rolesanywhere.eu-central-1.amazonaws.com or 127.0.0.1:8080"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encodes_like_sigv4() {
        assert_eq!(uri_encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(
            uri_encode("arn:aws:iam::1:role/x"),
            "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx"
        );
        assert_eq!(uri_encode("a b+c"), "a%20b%2Bc");
        assert_eq!(uri_encode("é"), "%C3%A9");
    }

    #[test]
    fn sorts_query_by_encoded_name_then_value() {
        let pairs = [
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "z".to_owned()),
            ("a".to_owned(), "y x".to_owned()),
        ];
        assert_eq!(canonical_query_string(&pairs), "a=y%20x&a=z&b=2");
        assert_eq!(canonical_query_string(&[]), "");
    }

    #[test]
    fn trims_header_values() {
        assert_eq!(trim_all("  a   b  c "), "a b c");
        assert_eq!(trim_all("x"), "x");
    }

    #[test]
    fn builds_bodies_in_field_order() {
        let mut params = SessionParams {
            duration_seconds: 3600,
            profile_arn: "p",
            role_arn: "r",
            trust_anchor_arn: "t",
            role_session_name: None,
        };
        assert_eq!(
            params.body(),
            br#"{"durationSeconds":3600,"profileArn":"p","roleArn":"r","trustAnchorArn":"t"}"#
        );
        params.role_session_name = Some("s\"n");
        assert_eq!(
            params.body(),
            br#"{"durationSeconds":3600,"profileArn":"p","roleArn":"r","trustAnchorArn":"t","roleSessionName":"s\"n"}"#
        );
        let (query, body) = params.query_form();
        assert_eq!(
            body,
            br#"{"durationSeconds":3600,"roleSessionName":"s\"n"}"#
        );
        assert_eq!(
            canonical_query_string(&query),
            "profileArn=p&roleArn=r&trustAnchorArn=t"
        );
    }

    #[test]
    fn rejects_bad_region_host_and_time() {
        assert!(validate_region("eu-central-1").is_ok());
        assert!(validate_region("EU central").is_err());
        assert!(validate_region("").is_err());
        assert!(validate_host("127.0.0.1:8080").is_ok());
        assert!(validate_host("[::1]:8443").is_ok());
        assert!(validate_host("host/path").is_err());
        assert!(validate_host("a host").is_err());
        assert!(amz_date(std::time::UNIX_EPOCH - std::time::Duration::from_secs(1)).is_err());
    }
}
