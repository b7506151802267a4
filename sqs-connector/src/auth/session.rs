//! The IAM Roles Anywhere `CreateSession` client: signs the request with the connection's
//! certificate and key, sends it, and turns the answer (or the error) into temporary credentials
//! or a message a user can act on (`../spec/rolesanywhere.md` §1, §4).

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use connector_sdk::ConnectorError;
use connector_sdk::secret::scrub;
use serde::Deserialize;

use super::cache::TemporaryCredentials;
use super::signing::{SessionParams, SigningIdentity, SigningRequest};
use crate::config::regions::is_china;

/// How many times a call that failed for a transient reason (network, 5xx, throttling) is tried.
pub const ATTEMPTS: u32 = 3;

static HTTP: LazyLock<Result<reqwest::Client, String>> = LazyLock::new(|| {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())
});

/// The HTTP client CreateSession calls go through: by default the process's shared one (5 s to
/// connect, 30 s per call), or any `reqwest::Client` given with [`SessionHttp::from_client`]
/// (a test's, with its own resolver, proxy or timeouts). Cloning it shares the client.
#[derive(Clone, Debug)]
pub struct SessionHttp(Result<reqwest::Client, String>);

impl SessionHttp {
    /// CreateSession calls through `client`.
    pub fn from_client(client: reqwest::Client) -> Self {
        Self(Ok(client))
    }

    fn client(&self) -> Result<&reqwest::Client, ConnectorError> {
        self.0.as_ref().map_err(|e| {
            ConnectorError::internal(format!(
                "could not set up the HTTP client for Roles Anywhere: {e}"
            ))
        })
    }
}

impl Default for SessionHttp {
    /// The process's shared client.
    fn default() -> Self {
        Self(HTTP.clone())
    }
}

/// Where CreateSession goes and which region signs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTarget {
    /// The base URL, `https://rolesanywhere.<region>.amazonaws.com` or the endpoint override.
    pub base_url: String,
    /// The signing region.
    pub region: String,
}

impl SessionTarget {
    /// The target for a region, with an optional endpoint override.
    pub fn new(region: &str, endpoint_override: Option<&str>) -> Self {
        let base_url = match endpoint_override {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if is_china(region) => format!("https://rolesanywhere.{region}.amazonaws.com.cn"),
            None => format!("https://rolesanywhere.{region}.amazonaws.com"),
        };
        Self {
            base_url,
            region: region.to_owned(),
        }
    }

    /// The `Host` header value: the URL's authority, with the port only when it is not the
    /// scheme's default.
    pub fn host(&self) -> String {
        let (scheme, rest) = self
            .base_url
            .split_once("://")
            .unwrap_or(("https", &self.base_url));
        let authority = rest.split('/').next().unwrap_or(rest);
        let default_port = if scheme == "http" { ":80" } else { ":443" };
        authority
            .strip_suffix(default_port)
            .unwrap_or(authority)
            .to_owned()
    }

    /// The URL of the CreateSession call.
    pub fn sessions_url(&self) -> String {
        format!("{}/sessions", self.base_url)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionAnswer {
    #[serde(default)]
    credential_set: Vec<CredentialSetItem>,
}

#[derive(Deserialize)]
struct CredentialSetItem {
    credentials: WireCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

/// What the service said when it refused a call.
fn refusal(
    status: u16,
    error_type: Option<&str>,
    body: &str,
    target: &SessionTarget,
    params: &SessionParams<'_>,
) -> ConnectorError {
    let parsed: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let code = error_type
        .map(|t| t.split(':').next().unwrap_or(t).to_owned())
        .or_else(|| {
            parsed
                .get("__type")
                .and_then(|v| v.as_str())
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
        })
        .unwrap_or_else(|| format!("HTTP {status}"));
    // What the service said goes into errors and logs: scrubbed of anything credential-like.
    let code = scrub(&code).into_owned();
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| parsed.get(*k).and_then(|v| v.as_str()))
        .map(|message| scrub(message).into_owned())
        .unwrap_or_default();
    let region = &target.region;
    let text = if message.contains("Untrusted Signing Certificate") {
        format!(
            "IAM Roles Anywhere does not trust the certificate ({code}: {message}): check that the trust \
             anchor's CA issued it, that Certificate chain holds every intermediate CA, and that the trust \
             anchor is enabled"
        )
    } else if message.contains("Invalid signature") {
        format!(
            "IAM Roles Anywhere rejected the request's signature ({code}: {message}): check that Private key \
             belongs to Public certificate, and that this runtime's clock is right"
        )
    } else if message.contains("roleSessionName") {
        return ConnectorError::config(format!(
            "the Roles Anywhere profile does not accept a session name ({code}: {message}): clear Session \
             name, or allow custom role session names on the profile"
        ))
        .with_status_code(code);
    } else if message.contains("expired") || message.contains("out of range") {
        format!(
            "IAM Roles Anywhere refused the request's time ({code}: {message}): this runtime's clock is more \
             than 5 minutes off; correct it"
        )
    } else if code == "ResourceNotFoundException" || status == 404 {
        return ConnectorError::config(format!(
            "IAM Roles Anywhere in region {region} does not know the profile or trust anchor ({code}: {message}): \
             check Profile ARN ({}) and Trust Anchor ARN ({}), and that AWS Roles Anywhere Region is where they were created",
            params.profile_arn, params.trust_anchor_arn
        ))
        .with_status_code(code);
    } else if code == "ValidationException" || status == 400 {
        return ConnectorError::config(format!(
            "IAM Roles Anywhere refused the request as invalid ({code}: {message}): check Duration (in seconds), \
             the ARNs and Session name"
        ))
        .with_status_code(code);
    } else if status == 403 {
        format!(
            "IAM Roles Anywhere refused to issue credentials ({code}: {message}): check that Role ARN ({}) is one \
             of the profile's roles and that the profile and trust anchor are enabled",
            params.role_arn
        )
    } else {
        return ConnectorError::transient(format!(
            "IAM Roles Anywhere at {} answered {code} ({message}); try again later",
            target.base_url
        ))
        .with_status_code(code);
    };
    ConnectorError::auth(text).with_status_code(code)
}

fn retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// Calls CreateSession once (with retries for transient failures only) through `http` and
/// returns the temporary credentials.
pub async fn create_session(
    http: &SessionHttp,
    identity: &SigningIdentity,
    target: &SessionTarget,
    params: &SessionParams<'_>,
    now: impl Fn() -> SystemTime,
) -> Result<TemporaryCredentials, ConnectorError> {
    let http = http.client()?;
    let body = params.body();
    let host = target.host();
    let url = target.sessions_url();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let signed = identity
            .sign(&SigningRequest::new(&target.region, &host, &body, now()))
            .map_err(|e| {
                ConnectorError::auth(format!("could not sign the CreateSession request: {e}"))
            })?;
        let mut request = http.post(&url).body(body.clone());
        for (name, value) in &signed.headers {
            request = request.header(*name, value);
        }
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let error_type = response
                    .headers()
                    .get("x-amzn-errortype")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let text = response.text().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    return parse_answer(&text, target);
                }
                if !retryable(status) || attempt >= ATTEMPTS {
                    return Err(refusal(
                        status,
                        error_type.as_deref(),
                        &text,
                        target,
                        params,
                    ));
                }
                format!("HTTP {status}")
            }
            Err(err) => {
                let detail = crate::errors::root_cause(&err);
                if attempt >= ATTEMPTS {
                    return Err(ConnectorError::transient(format!(
                        "could not reach IAM Roles Anywhere at {} ({detail}); check AWS Roles Anywhere Region, \
                         the Roles Anywhere endpoint URL, and that this runtime can reach the host",
                        target.base_url
                    )));
                }
                detail
            }
        };
        tracing::info!(attempt, reason = %outcome, "CreateSession failed for a transient reason; retrying");
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
    }
}

fn parse_answer(
    text: &str,
    target: &SessionTarget,
) -> Result<TemporaryCredentials, ConnectorError> {
    let answer: SessionAnswer = serde_json::from_str(text).map_err(|e| {
        ConnectorError::internal(format!(
            "IAM Roles Anywhere at {} answered with something that is not a CreateSession result: {}",
            target.base_url,
            scrub(&e.to_string())
        ))
    })?;
    let first = answer.credential_set.into_iter().next().ok_or_else(|| {
        ConnectorError::auth("unable to obtain temporary security credentials from CreateSession: the answer holds none")
    })?;
    let credentials = first.credentials;
    let expires_at = crate::time::parse_rfc3339(&credentials.expiration).ok_or_else(|| {
        ConnectorError::internal(format!(
            "CreateSession returned an expiration that is not an RFC 3339 time: {:?}",
            credentials.expiration
        ))
    })?;
    Ok(TemporaryCredentials {
        credentials: Credentials::new(
            credentials.access_key_id,
            credentials.secret_access_key,
            Some(credentials.session_token),
            Some(expires_at),
            "iam-roles-anywhere",
        ),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    const KEYS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../test-harness/fixtures/rolesanywhere/keys"
    );

    /// Answers one HTTP request on `listener` with a CreateSession result and hands back the
    /// request as it came.
    async fn answer_once(listener: tokio::net::TcpListener) -> String {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let read = stream.read(&mut buffer).await.unwrap();
            assert!(
                read > 0,
                "the client closed before its request was complete"
            );
            request.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&request).to_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |n| n.trim().parse::<usize>().unwrap());
                if request.len() >= end + 4 + length {
                    break;
                }
            }
        }
        let body = r#"{"credentialSet":[{"credentials":{"accessKeyId":"ASIAINJECTED","secretAccessKey":"s","sessionToken":"t","expiration":"2026-11-26T01:00:00Z"}}]}"#;
        let answer = format!(
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8(request).unwrap()
    }

    #[tokio::test]
    async fn create_session_goes_through_the_given_http_client() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(answer_once(listener));
        // The host exists only in this client's resolver: the call can reach the server only
        // through the client given.
        let client = reqwest::Client::builder()
            .resolve("rolesanywhere.test", address)
            .build()
            .unwrap();
        let read = |name: &str| std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap();
        let identity = SigningIdentity::from_pem(
            &read("rsa2048-selfsigned-cert.pem"),
            None,
            &connector_sdk::Secret::new(read("rsa2048-key.pem")),
            None,
        )
        .unwrap();
        let target = SessionTarget::new(
            "eu-central-1",
            Some(&format!("http://rolesanywhere.test:{}", address.port())),
        );
        let params = SessionParams {
            duration_seconds: 3600,
            profile_arn: "arn:p",
            role_arn: "arn:r",
            trust_anchor_arn: "arn:t",
            role_session_name: None,
        };
        // 2026-11-26T00:00:00Z, within the fixture certificate's validity.
        let now = || SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_651_200);
        let http = SessionHttp::from_client(client);
        let issued = create_session(&http, &identity, &target, &params, now)
            .await
            .unwrap();
        assert_eq!(issued.credentials.access_key_id(), "ASIAINJECTED");
        assert_eq!(
            issued.expires_at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_654_800)
        );
        let request = server.await.unwrap().to_lowercase();
        let expected = [
            "post /sessions http/1.1\r\n".to_owned(),
            format!("host: rolesanywhere.test:{}\r\n", address.port()),
            "x-amz-date: 20261126t000000z\r\n".to_owned(),
            "authorization: aws4-x509-rsa-sha256 credential=".to_owned(),
        ];
        for part in expected {
            assert!(
                request.contains(&part),
                "expected {part:?} in the request; it was:\n{request}"
            );
        }
    }

    #[test]
    fn endpoints_and_hosts() {
        let aws = SessionTarget::new("eu-central-1", None);
        assert_eq!(
            aws.sessions_url(),
            "https://rolesanywhere.eu-central-1.amazonaws.com/sessions"
        );
        assert_eq!(aws.host(), "rolesanywhere.eu-central-1.amazonaws.com");
        assert_eq!(
            SessionTarget::new("cn-north-1", None).host(),
            "rolesanywhere.cn-north-1.amazonaws.com.cn"
        );
        let local = SessionTarget::new("eu-central-1", Some("http://127.0.0.1:8080/"));
        assert_eq!(local.sessions_url(), "http://127.0.0.1:8080/sessions");
        assert_eq!(local.host(), "127.0.0.1:8080");
        assert_eq!(
            SessionTarget::new("x", Some("https://example.com:443")).host(),
            "example.com"
        );
    }

    #[test]
    fn refusals_say_what_to_check() {
        let target = SessionTarget::new("eu-central-1", None);
        let params = SessionParams {
            duration_seconds: 3600,
            profile_arn: "arn:p",
            role_arn: "arn:r",
            trust_anchor_arn: "arn:t",
            role_session_name: Some("s"),
        };
        let body =
            |m: &str| format!("{{\"__type\":\"AccessDeniedException\",\"message\":\"{m}\"}}");
        let err = refusal(
            403,
            Some("AccessDeniedException"),
            &body("Untrusted Signing Certificate"),
            &target,
            &params,
        );
        assert!(
            err.message().contains("does not trust the certificate")
                && err.message().contains("Certificate chain"),
            "{}",
            err.message()
        );
        assert_eq!(err.kind(), connector_sdk::ErrorKind::Auth);
        let err = refusal(
            403,
            None,
            &body("Not authorized to set roleSessionName."),
            &target,
            &params,
        );
        assert_eq!(err.kind(), connector_sdk::ErrorKind::Config);
        assert!(
            err.message().contains("clear Session name"),
            "{}",
            err.message()
        );
        let err = refusal(
            404,
            Some("ResourceNotFoundException"),
            "{\"message\":\"not found\"}",
            &target,
            &params,
        );
        assert!(
            err.message().contains("check Profile ARN (arn:p)"),
            "{}",
            err.message()
        );
        let err = refusal(503, None, "", &target, &params);
        assert_eq!(err.kind(), connector_sdk::ErrorKind::Transient);
    }
}
