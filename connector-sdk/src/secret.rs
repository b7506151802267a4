//! A secret string: redacted when printed, zeroized on drop, never serialized back out.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

/// The text printed in place of a secret.
pub const REDACTED: &str = "** redacted **";

/// A secret value (a secret key, a session token, a private key, a passphrase).
///
/// `Debug` and `Display` print `** redacted **`; the memory is zeroized on drop; the type
/// deliberately has no `Serialize` implementation, so a config holding one cannot be written
/// back out by accident. Read the value with [`Secret::expose`] only where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret value. Never log it or put it in an error.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "writeOnly": true,
            "x-secret": true,
            "x-widget": "password"
        })
    }
}

/// The text [`scrub`] puts in place of what looks like a credential.
pub const SCRUBBED: &str = "[redacted]";

/// Names whose value [`scrub`] removes wherever they appear as `name=value` or `name: value`
/// (compared without case): the value of such a field is a credential whatever it looks like.
const SECRET_NAMES: &[&str] = &[
    "x-amz-security-token",
    "securitytoken",
    "sessiontoken",
    "session_token",
    "secretaccesskey",
    "secret_access_key",
    "secretkey",
    "signature",
    "password",
    "passphrase",
    "token",
];

/// The shortest run of token characters [`scrub`] treats as a possible credential.
const TOKEN_MIN_LEN: usize = 32;

/// Text from outside (a service's error message, the start of a server's answer) with whatever
/// looks like a credential, a signature or a token replaced by `[redacted]`, for results,
/// errors and logs.
///
/// Replaced: the value after a credential's name (`X-Amz-Security-Token=`, `Signature=`,
/// `"sessionToken": "`, `password:` and the like); and any run of 32 or more token characters
/// (letters, digits, `+ / = _ -`) that is all hexadecimal digits (a signature, a digest) or
/// mixes upper case, lower case and digits as randomly as base64 does (a secret key, a session
/// token, a key's body). Words, names, ids, paths, URLs and UUIDs stay readable.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let named = scrub_named(text);
    match scrub_tokens(&named) {
        Cow::Borrowed(_) => named,
        Cow::Owned(done) => Cow::Owned(done),
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-')
}

/// Whether a run of token characters looks like a credential.
fn looks_secret(run: &str) -> bool {
    if run.len() < TOKEN_MIN_LEN {
        return false;
    }
    let bytes = run.as_bytes();
    if bytes.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    let upper = bytes.iter().any(u8::is_ascii_uppercase);
    let lower = bytes.iter().any(u8::is_ascii_lowercase);
    let digit = bytes.iter().any(u8::is_ascii_digit);
    // Random base64 changes between upper case, lower case, digit and sign at about 64% of its
    // characters (a 40-character key falls below 40% about once in a thousand); words, paths and
    // credential scopes (`AKIA…/20261130/us-east-1/sqs`) at a fifth, CamelCase names at a third.
    let class = |b: &u8| match b {
        b'A'..=b'Z' => 0,
        b'a'..=b'z' => 1,
        b'0'..=b'9' => 2,
        _ => 3,
    };
    let changes = bytes
        .windows(2)
        .filter(|w| class(&w[0]) != class(&w[1]))
        .count();
    upper && lower && digit && changes * 10 >= bytes.len() * 4
}

fn scrub_tokens(text: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut start = None;
    for (at, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (is_token_char(c), start) {
            (true, None) => start = Some(at),
            (false, Some(from)) => {
                start = None;
                if looks_secret(&text[from..at]) {
                    let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    out.push_str(&text[copied..from]);
                    out.push_str(SCRUBBED);
                    copied = at;
                }
            }
            _ => {}
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// The end of the name ending at `at` when it is one of [`SECRET_NAMES`] and is followed by
/// `=` or `:` (quotes and spaces around allowed): where its value starts.
fn value_after_name(text: &str, name_end: usize) -> Option<usize> {
    let rest = &text[name_end..];
    let after_quote = rest.strip_prefix(['"', '\'']).unwrap_or(rest);
    let trimmed = after_quote.trim_start();
    let after_sep = trimmed.strip_prefix(['=', ':'])?;
    let value = after_sep.trim_start();
    let value = value.strip_prefix(['"', '\'']).unwrap_or(value);
    Some(text.len() - value.len())
}

fn scrub_named(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while at < text.len() {
        let found = SECRET_NAMES.iter().find_map(|name| {
            let starts_word = at == 0 || !is_name_char(lower.as_bytes()[at - 1]);
            let end = at + name.len();
            let ends_word = lower.as_bytes().get(end).is_none_or(|b| !is_name_char(*b));
            (starts_word && ends_word && lower[at..].starts_with(name))
                .then(|| value_after_name(text, end))
                .flatten()
        });
        match found {
            Some(value_start) => {
                let value_len = text[value_start..]
                    .find(|c: char| {
                        c.is_whitespace() || matches!(c, '"' | '\'' | '&' | ',' | ';' | ')' | '<')
                    })
                    .unwrap_or(text.len() - value_start);
                if value_len > 0 {
                    let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    out.push_str(&text[copied..value_start]);
                    out.push_str(SCRUBBED);
                    copied = value_start + value_len;
                }
                at = value_start + value_len.max(1);
            }
            None => at += 1,
        }
        while at < text.len() && !text.is_char_boundary(at) {
            at += 1;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_credentials_signatures_and_tokens_and_keeps_the_rest() {
        let token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJGMEQCIBz4N0bV";
        let signature = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let said = format!(
            "The request signature we calculated does not match the signature you provided. \
             The Canonical String for this request should have been 'POST\n/\n\nhost:sqs.us-east-1.amazonaws.com\n\
             x-amz-date:20261130T064400Z\nx-amz-security-token:{token}\n' \
             Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/sqs/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={signature} and \"secretAccessKey\": \"{secret}\" \
             for queue https://sqs.us-east-1.amazonaws.com/123456789012/orders-2026 message \
             6e5c2b4a-1d0f-4b3e-9a8c-2f1e0d9c8b7a password=hunter2&x=1"
        );
        let scrubbed = scrub(&said);
        for leaked in [token, signature, secret, "hunter2", "IQoJb3JpZ2luX2VjEJr"] {
            assert!(!scrubbed.contains(leaked), "{leaked} left in {scrubbed}");
        }
        for kept in [
            "The request signature we calculated does not match",
            "host:sqs.us-east-1.amazonaws.com",
            "Credential=AKIAIOSFODNN7EXAMPLE/20261130/us-east-1/sqs/aws4_request",
            "SignedHeaders=host;x-amz-date",
            "https://sqs.us-east-1.amazonaws.com/123456789012/orders-2026",
            "6e5c2b4a-1d0f-4b3e-9a8c-2f1e0d9c8b7a",
            "x-amz-security-token:[redacted]",
            "Signature=[redacted]",
            "&x=1",
        ] {
            assert!(scrubbed.contains(kept), "{kept} missing from {scrubbed}");
        }
        // A base64 run of 32+ characters (a key's body, a bare token) goes whatever its name.
        let pem_line = "MIGkAgEBBDBv/+ebfBItWL32sN8Xq2Ld1fZr0Qx8Pjk3Yb7VhQ2nLm";
        assert_eq!(scrub(&format!("found {pem_line}.")), "found [redacted].");
    }

    #[test]
    fn random_keys_of_forty_base64_characters_are_scrubbed() {
        const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut missed = 0;
        for _ in 0..2000 {
            let key: String = (0..40)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    BASE64[(state % 64) as usize] as char
                })
                .collect();
            if scrub(&format!("key {key} refused")).contains(&key) {
                missed += 1;
            }
        }
        // Keys without a digit, or without both cases, are rarer than 1 in 100.
        assert!(missed <= 20, "{missed} of 2000 random keys left readable");
    }

    #[test]
    fn scrub_borrows_text_with_nothing_to_remove() {
        for plain in [
            "",
            "The specified queue does not exist.",
            "Value 0 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10.",
            "token",
            "signature=",
            "ünïcödé token: ",
            "a-very-long-queue-name-with-dashes-only-lowercase-letters",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/OrdersQueueForTheEuropeanRegion2026",
        ] {
            assert!(matches!(scrub(plain), Cow::Borrowed(_)), "{plain}");
        }
        assert_eq!(scrub("token: abc, ünï"), "token: [redacted], ünï");
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(format!("{secret}"), REDACTED);
        assert_eq!(format!("{:?}", Some(&secret)), format!("Some({REDACTED})"));
        assert_eq!(secret.expose(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    }

    #[test]
    fn deserializes_from_a_string_and_is_marked_secret_in_the_schema() {
        let secret: Secret = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(secret.expose(), "hunter2");
        let schema = schemars::schema_for!(Secret);
        assert_eq!(schema.get("writeOnly"), Some(&serde_json::json!(true)));
        assert_eq!(schema.get("x-secret"), Some(&serde_json::json!(true)));
    }
}
