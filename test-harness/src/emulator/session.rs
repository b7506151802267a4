//! `CreateSession` verification: spec §5, steps 2 to 19, in order, independent of any client code.

use base64::Engine as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use super::certs::{self, Cert, MAX_CHAIN, MIN_RSA_BITS, PublicKey};
use super::config::{
    Arn, Config, MAX_DURATION_SECONDS, MIN_DURATION_SECONDS, Profile, TrustAnchor,
};
use super::credentials;
use super::sigv4::{self, Algorithm, Authorization, AuthorizationError};

/// `AccessDeniedException`.
pub const ACCESS_DENIED: &str = "AccessDeniedException";
/// `ValidationException`.
pub const VALIDATION: &str = "ValidationException";
/// `ResourceNotFoundException`.
pub const NOT_FOUND: &str = "ResourceNotFoundException";
/// The real message for signature failures.
pub const INVALID_SIGNATURE: &str = "Invalid signature";
/// The real message for certificate and trust failures.
pub const UNTRUSTED: &str = "Untrusted Signing Certificate";
/// The real message when a profile does not accept `roleSessionName`.
pub const SESSION_NAME_DENIED: &str = "Not authorized to set roleSessionName.";

/// An error answer (spec §4.2): status, code, message, and the emulator's own reason (sent in
/// `x-emulator-reason`, since several real messages cover many causes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The error code (`x-amzn-ErrorType` and `__type`).
    pub code: &'static str,
    /// The message (`message`).
    pub message: String,
    /// Why, in detail.
    pub reason: String,
}

impl ApiError {
    fn new(
        status: u16,
        code: &'static str,
        message: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            reason: reason.into(),
        }
    }

    fn denied(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(403, ACCESS_DENIED, message.clone(), message)
    }

    fn invalid_signature(reason: impl Into<String>) -> Self {
        Self::new(403, ACCESS_DENIED, INVALID_SIGNATURE, reason)
    }

    fn untrusted(reason: impl Into<String>) -> Self {
        Self::new(403, ACCESS_DENIED, UNTRUSTED, reason)
    }

    fn validation(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(400, VALIDATION, message.clone(), message)
    }

    fn not_found(message: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(404, NOT_FOUND, message, reason)
    }
}

/// A received request, independent of the HTTP library.
#[derive(Debug, Clone, Copy)]
pub struct IncomingRequest<'a> {
    /// The raw query string (without `?`), if any.
    pub query: Option<&'a str>,
    /// Headers in received order, names lowercase; a repeated header appears once per value.
    pub headers: &'a [(String, String)],
    /// The body, de-chunked.
    pub body: &'a [u8],
}

impl IncomingRequest<'_> {
    fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n == name)
    }
}

/// A granted session: the response body and a log line without secrets.
#[derive(Debug, Clone)]
pub struct Granted {
    /// The 201 body (spec §4.1).
    pub body: Value,
    /// What to log: serial, role, session name, expiration (no keys, no tokens).
    pub summary: String,
}

/// The parameters of spec §1.2 merged from the query string and the body.
#[derive(Debug, Default)]
struct Parameters {
    profile_arn: Option<String>,
    role_arn: Option<String>,
    trust_anchor_arn: Option<String>,
    duration_seconds: Option<Value>,
    role_session_name: Option<Value>,
}

/// Runs the checks of spec §5 (steps 2-19; the route, step 1, is the server's) against `config`
/// with the server clock at `now` (Unix seconds), phase by phase: the first check that fails
/// gives the answer.
pub fn create_session(
    config: &Config,
    request: &IncomingRequest<'_>,
    now: i64,
) -> Result<Granted, ApiError> {
    let signed = check_headers(config, request, now)?;
    let verified = verify_signature(request, &signed)?;
    let trusted = verify_trust_path(config, request, &signed, &verified, now)?;
    grant(config, &signed, &verified.leaf, &trusted, now)
}

/// What the headers say, checked (steps 2-6): the Authorization header and the date it names.
struct Signed<'r> {
    auth: Authorization,
    /// `X-Amz-Date`, checked to be in the format and within the clock skew.
    amz_date: &'r str,
}

/// The certificates sent (step 7), the leaf's signature verified (steps 8-11).
struct Verified {
    leaf: Cert,
    chain: Vec<Cert>,
    /// The query string's parameters, which the signature covers.
    query: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What the request asks for (step 16), in a trust anchor its certificates lead to (12-15).
struct Trusted {
    anchor: Arn,
    profile: Arn,
    role: Arn,
    params: Parameters,
}

/// Steps 2-6: the required headers are there, once each; the Authorization header parses and
/// signs what it must; the date is in the format, within the clock skew and that of the scope;
/// the scope is this region's Roles Anywhere.
fn check_headers<'r>(
    config: &Config,
    request: &'r IncomingRequest<'_>,
    now: i64,
) -> Result<Signed<'r>, ApiError> {
    // 2. Required headers.
    for (name, shown) in [
        ("authorization", "Authorization"),
        ("x-amz-date", "X-Amz-Date"),
        ("x-amz-x509", "X-Amz-X509"),
        ("host", "Host"),
    ] {
        if !request.has(name) {
            return Err(ApiError::denied(format!(
                "Missing required header: {shown}"
            )));
        }
    }

    // 3. Authorization.
    let authorization = single(request, "authorization", "Authorization")?;
    let auth = Authorization::parse(authorization).map_err(|e| match e {
        AuthorizationError::UnsupportedAlgorithm(name) => {
            ApiError::invalid_signature(format!("unsupported signing algorithm {name:?}"))
        }
        AuthorizationError::Malformed(why) => {
            ApiError::new(403, ACCESS_DENIED, "Malformed Authorization header", why)
        }
    })?;

    // 4. SignedHeaders.
    check_signed_headers(request, &auth.signed_headers)?;

    // 5. Date.
    let amz_date = single(request, "x-amz-date", "X-Amz-Date")?;
    check_date(config, &auth, amz_date, now)?;

    // 6. Scope.
    check_scope(config, &auth)?;
    Ok(Signed { auth, amz_date })
}

/// Step 4: the signed header names are lowercase, sorted, unique, include what must be signed,
/// and are all in the request.
fn check_signed_headers(request: &IncomingRequest<'_>, names: &[String]) -> Result<(), ApiError> {
    if names
        .iter()
        .any(|n| n.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(ApiError::invalid_signature(
            "SignedHeaders must be lowercase",
        ));
    }
    if names.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ApiError::invalid_signature(
            "SignedHeaders must be sorted and without duplicates",
        ));
    }
    for required in ["host", "x-amz-date", "x-amz-x509"] {
        if !names.iter().any(|n| n == required) {
            return Err(ApiError::invalid_signature(format!(
                "SignedHeaders must include {required}"
            )));
        }
    }
    if request.has("x-amz-x509-chain") && !names.iter().any(|n| n == "x-amz-x509-chain") {
        return Err(ApiError::invalid_signature(
            "X-Amz-X509-Chain is present but not in SignedHeaders",
        ));
    }
    if let Some(missing) = names.iter().find(|n| !request.has(n)) {
        return Err(ApiError::invalid_signature(format!(
            "signed header {missing} is not in the request"
        )));
    }
    Ok(())
}

/// Step 5: `X-Amz-Date` is in the format, within the clock skew of `now`, and on the scope's day.
fn check_date(
    config: &Config,
    auth: &Authorization,
    amz_date: &str,
    now: i64,
) -> Result<(), ApiError> {
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        ApiError::denied(format!(
            "X-Amz-Date must be in ISO-8601 basic format (yyyyMMdd'T'HHmmss'Z'), got '{amz_date}'."
        ))
    })?;
    let skew = config.clock_skew_seconds;
    if signed_at < now - skew {
        return Err(ApiError::denied(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - {}).",
            format_amz_date(now - skew),
            format_amz_date(now),
            describe_seconds(skew)
        )));
    }
    if signed_at > now + skew {
        return Err(ApiError::denied(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + {}).",
            format_amz_date(now + skew),
            format_amz_date(now),
            describe_seconds(skew)
        )));
    }
    if auth.date != amz_date[..8] {
        return Err(ApiError::denied(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            auth.date,
            &amz_date[..8]
        )));
    }
    Ok(())
}

/// Step 6: the credential scope is this emulator's region, Roles Anywhere, and `aws4_request`.
fn check_scope(config: &Config, auth: &Authorization) -> Result<(), ApiError> {
    if auth.region != config.region {
        return Err(ApiError::new(
            403,
            ACCESS_DENIED,
            "Credential should be scoped to a valid region.",
            format!(
                "the scope names region {}, the emulator serves {}",
                auth.region, config.region
            ),
        ));
    }
    if auth.service != sigv4::SERVICE {
        return Err(ApiError::denied(format!(
            "Credential should be scoped to correct service: '{}'.",
            sigv4::SERVICE
        )));
    }
    if auth.terminator != sigv4::TERMINATOR {
        return Err(ApiError::denied(format!(
            "Credential should be scoped with a valid terminator: '{}', not '{}'.",
            sigv4::TERMINATOR,
            auth.terminator
        )));
    }
    Ok(())
}

/// Steps 7-11: the certificates decode; the leaf is the one the Authorization header names, its
/// key fits the algorithm, and it made the signature over the canonical request.
fn verify_signature(
    request: &IncomingRequest<'_>,
    signed: &Signed<'_>,
) -> Result<Verified, ApiError> {
    let auth = &signed.auth;
    // 7. Certificates.
    let (leaf, chain) = certificates(request)?;

    // 8. Serial.
    if leaf.serial_negative {
        return Err(ApiError::denied(
            "The X-Amz-X509 certificate has a negative serial number",
        ));
    }
    if auth.serial != leaf.serial_decimal {
        return Err(ApiError::new(
            403,
            ACCESS_DENIED,
            "The serial number in Credential does not match the X-Amz-X509 certificate",
            format!(
                "Credential names serial {}, the certificate's is {}",
                auth.serial, leaf.serial_decimal
            ),
        ));
    }

    // 9. Key type against the algorithm.
    check_key(&leaf.key, auth.algorithm)?;

    // 10. Recompute.
    let query = match request.query {
        None => Vec::new(),
        Some(raw) => sigv4::parse_query(raw)
            .ok_or_else(|| ApiError::validation("The query string has a broken percent-escape"))?,
    };
    let canonical_query = sigv4::canonical_query(&query);
    let canonical_headers: Vec<(String, String)> = auth
        .signed_headers
        .iter()
        .map(|name| {
            let value = request
                .values(name)
                .iter()
                .map(|v| sigv4::trimall(v))
                .collect::<Vec<_>>()
                .join(",");
            (name.clone(), value)
        })
        .collect();
    let canonical = sigv4::canonical_request(&canonical_query, &canonical_headers, request.body);
    let string_to_sign =
        sigv4::string_to_sign(auth.algorithm, signed.amz_date, &auth.scope(), &canonical);
    let digest = Sha256::digest(string_to_sign.as_bytes());

    // 11. Verify.
    verify(&leaf.key, &digest, &auth.signature).map_err(ApiError::invalid_signature)?;
    Ok(Verified { leaf, chain, query })
}

/// Step 7: the leaf (`X-Amz-X509`) and the chain (`X-Amz-X509-Chain`, at most `MAX_CHAIN`).
fn certificates(request: &IncomingRequest<'_>) -> Result<(Cert, Vec<Cert>), ApiError> {
    let leaf_b64 = single(request, "x-amz-x509", "X-Amz-X509")?;
    let leaf = decode_cert(leaf_b64).map_err(|why| {
        ApiError::new(
            400,
            VALIDATION,
            "X-Amz-X509 is not a base64-encoded DER X.509 certificate",
            why,
        )
    })?;
    let chain_values = request.values("x-amz-x509-chain");
    let mut chain = Vec::new();
    if !chain_values.is_empty() {
        let joined = chain_values.join(",");
        let pieces: Vec<&str> = joined.split(',').collect();
        if pieces.len() > MAX_CHAIN {
            return Err(ApiError::validation(format!(
                "X-Amz-X509-Chain holds {} certificates; at most {MAX_CHAIN} are allowed",
                pieces.len()
            )));
        }
        for (index, piece) in pieces.iter().enumerate() {
            let cert = decode_cert(piece).map_err(|why| {
                ApiError::new(
                    400,
                    VALIDATION,
                    format!(
                        "X-Amz-X509-Chain certificate {} is not a base64-encoded DER X.509 certificate",
                        index + 1
                    ),
                    why,
                )
            })?;
            chain.push(cert);
        }
    }
    Ok((leaf, chain))
}

/// Step 9: the leaf's key is supported and of the kind the algorithm names.
fn check_key(key: &PublicKey, algorithm: Algorithm) -> Result<(), ApiError> {
    let key_fits = match (key, algorithm) {
        (PublicKey::Rsa(_, bits), _) if *bits < MIN_RSA_BITS => {
            return Err(ApiError::denied(format!(
                "Unsupported key in X-Amz-X509: RSA-{bits} (at least {MIN_RSA_BITS} bits are required)"
            )));
        }
        (PublicKey::Unsupported(what), _) => {
            return Err(ApiError::denied(format!(
                "Unsupported key in X-Amz-X509: {what}"
            )));
        }
        (PublicKey::Rsa(..), Algorithm::Rsa) => true,
        (PublicKey::P256(_) | PublicKey::P384(_), Algorithm::Ecdsa) => true,
        _ => false,
    };
    if !key_fits {
        let kind = match key {
            PublicKey::Rsa(..) => "RSA",
            _ => "EC",
        };
        return Err(ApiError::denied(format!(
            "Algorithm {} does not match the {kind} key of the X-Amz-X509 certificate",
            algorithm.name()
        )));
    }
    Ok(())
}

/// Step 11: whether `signature` is `key`'s over `digest`, and if not, why.
fn verify(key: &PublicKey, digest: &[u8], signature: &[u8]) -> Result<(), &'static str> {
    match key {
        PublicKey::Rsa(key, _) => key
            .pkcs1v15_verify_prehash::<Sha256>(digest, signature)
            .map_err(|_| "the RSA signature does not verify"),
        PublicKey::P256(key) => p256::ecdsa::Signature::from_der(signature)
            .map_err(|_| "the signature is not a DER-encoded ECDSA signature")
            .and_then(|sig| {
                key.verify_prehash(digest, &sig)
                    .map_err(|_| "the ECDSA signature does not verify")
            }),
        PublicKey::P384(key) => p384::ecdsa::Signature::from_der(signature)
            .map_err(|_| "the signature is not a DER-encoded ECDSA signature")
            .and_then(|sig| {
                key.verify_prehash(digest, &sig)
                    .map_err(|_| "the ECDSA signature does not verify")
            }),
        PublicKey::Unsupported(_) => Err("unsupported key"),
    }
}

/// Steps 12-16 (first part): the leaf is a valid end-entity certificate; the parameters name a
/// trust anchor, a profile and a role; the trust anchor is known and enabled, and the
/// certificates lead to it. Step 15, revocation: no CRLs are configured in the emulator, so
/// nothing is revoked.
fn verify_trust_path(
    config: &Config,
    request: &IncomingRequest<'_>,
    signed: &Signed<'_>,
    verified: &Verified,
    now: i64,
) -> Result<Trusted, ApiError> {
    let leaf = &verified.leaf;
    // 12. Leaf constraints. 13. Validity of the leaf (the path's certificates: with 14).
    leaf.check_leaf().map_err(ApiError::untrusted)?;
    leaf.valid_at(now).map_err(ApiError::untrusted)?;

    // 16 (first part). The trust anchor must be known before a path to it can be built.
    let params = parameters(&verified.query, request.body)?;
    let anchor_text = required(&params.trust_anchor_arn, "trustAnchorArn")?;
    let profile_text = required(&params.profile_arn, "profileArn")?;
    let role_text = required(&params.role_arn, "roleArn")?;
    let anchor_arn = Arn::parse(anchor_text)
        .filter(Arn::is_trust_anchor)
        .ok_or_else(|| ApiError::validation(format!("Invalid trustAnchorArn: '{anchor_text}'")))?;
    let profile_arn = Arn::parse(profile_text)
        .filter(Arn::is_profile)
        .ok_or_else(|| ApiError::validation(format!("Invalid profileArn: '{profile_text}'")))?;
    let role_arn = Arn::parse(role_text)
        .filter(Arn::is_role)
        .ok_or_else(|| ApiError::validation(format!("Invalid roleArn: '{role_text}'")))?;
    let anchor = find_anchor(config, &anchor_arn, &signed.auth.region)?;
    if !anchor.enabled {
        return Err(ApiError::denied(format!(
            "Trust anchor {anchor_text} is disabled"
        )));
    }

    // 14. Path to the trust anchor (with the validity of every certificate on it, 13).
    certs::build_path(leaf, &verified.chain, &anchor.certificates, now)
        .map_err(ApiError::untrusted)?;
    Ok(Trusted {
        anchor: anchor_arn,
        profile: profile_arn,
        role: role_arn,
        params,
    })
}

/// Steps 16 (rest) to 19: the profile is known, enabled and allows the role; the duration and
/// the session name are acceptable; the credentials.
fn grant(
    config: &Config,
    signed: &Signed<'_>,
    leaf: &Cert,
    trusted: &Trusted,
    now: i64,
) -> Result<Granted, ApiError> {
    let Trusted {
        anchor: anchor_arn,
        profile: profile_arn,
        role: role_arn,
        params,
    } = trusted;
    let (anchor_text, role_text) = (anchor_arn.text.as_str(), role_arn.text.as_str());
    // 16 (rest). Profile and role.
    let profile = find_profile(config, profile_arn, &signed.auth.region)?;
    if !profile.enabled {
        return Err(ApiError::denied(format!(
            "Profile {} is disabled",
            profile_arn.text
        )));
    }
    if !profile.role_arns.iter().any(|r| r == role_text) {
        return Err(ApiError::denied(format!(
            "Unable to assume role for {role_text}: the profile does not allow it"
        )));
    }

    // 17. Duration.
    let requested = match &params.duration_seconds {
        None => None,
        Some(value) => Some(duration(value)?),
    };
    let duration = requested.map_or(profile.duration_seconds, |d| {
        d.min(profile.duration_seconds)
    });

    // 18. roleSessionName.
    let session_name = match &params.role_session_name {
        None => None,
        Some(value) => {
            if !profile.accept_role_session_name {
                return Err(ApiError::denied(SESSION_NAME_DENIED));
            }
            Some(session_name(value)?)
        }
    };

    // 19. Success.
    let lifetime = config.credential_lifetime_seconds.unwrap_or(duration);
    let expiration = format_rfc3339(now + lifetime);
    let session_name = session_name.unwrap_or_else(|| leaf.serial_hex.clone());
    let source_identity = source_identity(leaf);
    let account = &role_arn.account;
    let role_id = credentials::role_id(role_text);
    let body = json!({
        "credentialSet": [{
            "assumedRoleUser": {
                "arn": format!("arn:{}:sts::{account}:assumed-role/{}/{session_name}", role_arn.partition, role_arn.role_name()),
                "assumedRoleId": format!("{role_id}:{session_name}"),
            },
            "credentials": {
                "accessKeyId": credentials::access_key_id(),
                "expiration": expiration,
                "secretAccessKey": credentials::secret_access_key(),
                "sessionToken": credentials::session_token(),
            },
            "packedPolicySize": 0,
            "roleArn": role_text,
            "sourceIdentity": source_identity,
        }],
        "subjectArn": format!(
            "arn:{}:rolesanywhere:{}:{}:subject/{}",
            anchor_arn.partition,
            config.region,
            anchor_arn.account,
            credentials::subject_id(&leaf.subject_raw, anchor_text)
        ),
    });
    let summary = format!(
        "serial={} role={role_text} session={session_name} duration={duration}s expiration={expiration}",
        leaf.serial_decimal
    );
    Ok(Granted { body, summary })
}

fn single<'r>(
    request: &'r IncomingRequest<'_>,
    name: &str,
    shown: &str,
) -> Result<&'r str, ApiError> {
    match request.values(name).as_slice() {
        [one] => Ok(one),
        _ => Err(ApiError::denied(format!(
            "Header {shown} appears more than once"
        ))),
    }
}

fn parse_amz_date(text: &str) -> Option<i64> {
    let shape = text.len() == 16
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            15 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(text, format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

fn format_amz_date(unix: i64) -> String {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// RFC 3339, UTC, whole seconds, `Z`.
pub fn format_rfc3339(unix: i64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| unix.to_string())
}

fn describe_seconds(seconds: i64) -> String {
    if seconds % 60 == 0 {
        format!("{} min.", seconds / 60)
    } else {
        format!("{seconds} sec.")
    }
}

fn decode_cert(b64: &str) -> Result<Cert, String> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("not standard padded base64: {e}"))?;
    Cert::from_der(&der)
}

/// Merges the query string and the JSON body (spec §5.16): a parameter in both must agree.
fn parameters(query: &[(Vec<u8>, Vec<u8>)], body: &[u8]) -> Result<Parameters, ApiError> {
    let mut from_body = Map::new();
    if !body.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => from_body = map,
            Ok(_) => {
                return Err(ApiError::validation(
                    "The request body must be a JSON object",
                ));
            }
            Err(e) => {
                return Err(ApiError::new(
                    400,
                    VALIDATION,
                    "The request body is not valid JSON",
                    e.to_string(),
                ));
            }
        }
    }
    if let Some(properties) = from_body.get("instanceProperties").filter(|v| !v.is_null()) {
        let is_map_of_strings = properties
            .as_object()
            .is_some_and(|map| map.values().all(Value::is_string));
        if !is_map_of_strings {
            return Err(ApiError::validation(
                "instanceProperties must be a map of string values",
            ));
        }
    }
    let string = |name: &str| -> Result<Option<String>, ApiError> {
        match merged(name, true, query, &from_body)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::validation(format!("{name} must be a string"))),
        }
    };
    Ok(Parameters {
        profile_arn: string("profileArn")?,
        role_arn: string("roleArn")?,
        trust_anchor_arn: string("trustAnchorArn")?,
        duration_seconds: merged("durationSeconds", false, query, &from_body)?,
        role_session_name: merged("roleSessionName", true, query, &from_body)?,
    })
}

/// One parameter from the body (JSON `null` counts as absent) or the query string; both must agree.
fn merged(
    name: &str,
    is_string: bool,
    query: &[(Vec<u8>, Vec<u8>)],
    body: &Map<String, Value>,
) -> Result<Option<Value>, ApiError> {
    let in_body = body.get(name).filter(|v| !v.is_null()).cloned();
    let in_query = query
        .iter()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| query_value(&String::from_utf8_lossy(v), is_string));
    match (in_body, in_query) {
        (Some(b), Some(q)) if b != q => Err(ApiError::validation(format!(
            "{name} differs between the query string and the body"
        ))),
        (Some(b), _) => Ok(Some(b)),
        (None, q) => Ok(q),
    }
}

fn query_value(text: &str, is_string: bool) -> Value {
    if is_string {
        return Value::String(text.to_owned());
    }
    text.parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn required<'p>(value: &'p Option<String>, name: &str) -> Result<&'p str, ApiError> {
    value.as_deref().ok_or_else(|| {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn find_anchor<'c>(
    config: &'c Config,
    arn: &Arn,
    scope_region: &str,
) -> Result<&'c TrustAnchor, ApiError> {
    let reason = if arn.region != scope_region {
        "the ARN's region is not the signing region".to_owned()
    } else if !config.knows_account(&arn.account) {
        format!("account {} is unknown", arn.account)
    } else {
        "no such trust anchor is configured".to_owned()
    };
    config
        .trust_anchors
        .iter()
        .find(|a| a.arn.text == arn.text && arn.region == scope_region)
        .ok_or_else(|| ApiError::not_found(format!("Trust anchor not found: {}", arn.text), reason))
}

fn find_profile<'c>(
    config: &'c Config,
    arn: &Arn,
    scope_region: &str,
) -> Result<&'c Profile, ApiError> {
    let reason = if arn.region != scope_region {
        "the ARN's region is not the signing region".to_owned()
    } else if !config.knows_account(&arn.account) {
        format!("account {} is unknown", arn.account)
    } else {
        "no such profile is configured".to_owned()
    };
    config
        .profiles
        .iter()
        .find(|p| p.arn.text == arn.text && arn.region == scope_region)
        .ok_or_else(|| ApiError::not_found(format!("Profile not found: {}", arn.text), reason))
}

fn duration(value: &Value) -> Result<i64, ApiError> {
    let seconds = value.as_i64().ok_or_else(|| {
        ApiError::validation(format!(
            "1 validation error detected: Value '{value}' at 'durationSeconds' failed to satisfy constraint: Member must be an integer"
        ))
    })?;
    if seconds < MIN_DURATION_SECONDS {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {MIN_DURATION_SECONDS}"
        )));
    }
    if seconds > MAX_DURATION_SECONDS {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {MAX_DURATION_SECONDS}"
        )));
    }
    Ok(seconds)
}

fn session_name(value: &Value) -> Result<String, ApiError> {
    let Some(name) = value.as_str() else {
        return Err(ApiError::validation("roleSessionName must be a string"));
    };
    let count = name.chars().count();
    if !(2..=64).contains(&count) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64"
        )));
    }
    let allowed = |c: char| c.is_alphanumeric() || "_+=,.@-".contains(c);
    if !name.chars().all(allowed) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    Ok(name.to_owned())
}

/// `CN=<cn>`; the CN alone when it is 62 characters or longer (at most 64 kept); `ID=<hex serial>`
/// without a CN (spec §4.1).
fn source_identity(leaf: &Cert) -> String {
    match &leaf.subject_cn {
        Some(cn) if cn.chars().count() >= 62 => cn.chars().take(64).collect(),
        Some(cn) => format!("CN={cn}"),
        None => format!("ID={}", leaf.serial_hex),
    }
}
