//! What a message is made of, and the rules SQS applies to it (`../spec/sqs.md`): document
//! property names, message attributes, allowed characters, sizes and MD5 digests.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::MessageAttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use connector_sdk::ConnectorError;
use md5::{Digest, Md5};

/// Document property names (`sqs.` prefix).
pub mod props {
    /// The queue (a name or a URL): SEND's with dynamic queue, RECEIVE's on its trigger
    /// document, DELETE's when a document has no queue URL.
    pub const QUEUE: &str = "sqs.queue";
    /// The queue URL a message was sent to or read from.
    pub const QUEUE_URL: &str = "sqs.queueUrl";
    /// FIFO: the message group id.
    pub const MESSAGE_GROUP_ID: &str = "sqs.messageGroupId";
    /// FIFO: the deduplication id.
    pub const MESSAGE_DEDUPLICATION_ID: &str = "sqs.messageDeduplicationId";
    /// SEND: this message's delay, overriding the operation's.
    pub const DELAY_SECONDS: &str = "sqs.delaySeconds";
    /// Prefix of a message attribute's value: `sqs.attribute.<Name>`.
    pub const ATTRIBUTE_PREFIX: &str = "sqs.attribute.";
    /// Prefix of a message attribute's type: `sqs.attributeType.<Name>`.
    pub const ATTRIBUTE_TYPE_PREFIX: &str = "sqs.attributeType.";
    /// The message id SQS assigned.
    pub const MESSAGE_ID: &str = "sqs.messageId";
    /// FIFO: the sequence number SQS assigned.
    pub const SEQUENCE_NUMBER: &str = "sqs.sequenceNumber";
    /// The MD5 of the body, as SQS computed it.
    pub const MD5_OF_BODY: &str = "sqs.md5OfBody";
    /// The handle that deletes a received message.
    pub const RECEIPT_HANDLE: &str = "sqs.receiptHandle";
    /// How many times the message has been received.
    pub const APPROXIMATE_RECEIVE_COUNT: &str = "sqs.approximateReceiveCount";
    /// When the message was sent (milliseconds since the epoch).
    pub const SENT_TIMESTAMP: &str = "sqs.sentTimestamp";
    /// When the message was first received (milliseconds since the epoch).
    pub const APPROXIMATE_FIRST_RECEIVE_TIMESTAMP: &str = "sqs.approximateFirstReceiveTimestamp";
    /// Who sent the message (an IAM user or role id).
    pub const SENDER_ID: &str = "sqs.senderId";
    /// The AWS X-Ray trace header the message carries.
    pub const AWS_TRACE_HEADER: &str = "sqs.awsTraceHeader";
    /// A dead-letter queue's message: the ARN of the queue it was moved from.
    pub const DEAD_LETTER_QUEUE_SOURCE_ARN: &str = "sqs.deadLetterQueueSourceArn";
    /// SEND: `"true"` when the message may be on a standard queue twice (sent again after an
    /// attempt of unknown outcome).
    pub const POSSIBLE_DUPLICATE: &str = "sqs.possibleDuplicate";
    /// RECEIVE, on the trigger document: the FIFO receive request attempt id of the first
    /// ReceiveMessage call (a host that retries a whole execution passes the same one).
    pub const RECEIVE_REQUEST_ATTEMPT_ID: &str = "sqs.receiveRequestAttemptId";
}

/// The most message attributes a message may carry.
pub const MAX_ATTRIBUTES: usize = 10;
/// The longest attribute name or type.
pub const MAX_ATTRIBUTE_NAME: usize = 256;

/// Why SQS would refuse a message, found before sending: a rule name (the status code) and a
/// message that says where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// A short name of the rule broken (`InvalidCharacter`, `MessageTooLong`, ...).
    pub rule: &'static str,
    /// Which rule, and where in the document.
    pub message: String,
}

impl Rejection {
    fn new(rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            rule,
            message: message.into(),
        }
    }
}

/// A message attribute's value (borrowed from a document's properties when sending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue<'a> {
    /// `String` and `Number` types (and their custom `.x` forms).
    Text(&'a str),
    /// `Binary` types.
    Bytes(Vec<u8>),
}

/// One message attribute, borrowed: from a document's properties when sending, from what SQS
/// returned when receiving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// The attribute name.
    pub name: &'a str,
    /// The data type (`String`, `Number`, `Binary`, optionally with a `.custom` suffix).
    pub data_type: &'a str,
    /// The value.
    pub value: AttributeValue<'a>,
}

impl Attribute<'_> {
    /// The bytes this attribute adds to the message size: name, type and value.
    pub fn size(&self) -> usize {
        self.name.len()
            + self.data_type.len()
            + match &self.value {
                AttributeValue::Text(t) => t.len(),
                AttributeValue::Bytes(b) => b.len(),
            }
    }

    /// The attribute as the SDK sends it.
    pub fn to_sqs(&self) -> Result<MessageAttributeValue, ConnectorError> {
        let builder = MessageAttributeValue::builder().data_type(self.data_type);
        let builder = match &self.value {
            AttributeValue::Text(text) => builder.string_value(*text),
            AttributeValue::Bytes(bytes) => builder.binary_value(Blob::new(bytes.clone())),
        };
        builder.build().map_err(|e| {
            ConnectorError::internal(format!(
                "could not build message attribute {}: {e}",
                self.name
            ))
        })
    }

    /// The attribute as SQS returned it, borrowed (binary values are copied).
    pub fn from_sqs<'m>(name: &'m str, value: &'m MessageAttributeValue) -> Attribute<'m> {
        let data_type = value.data_type();
        let value = if base_type(data_type) == "Binary" {
            AttributeValue::Bytes(
                value
                    .binary_value()
                    .map(|b| b.as_ref().to_vec())
                    .unwrap_or_default(),
            )
        } else {
            AttributeValue::Text(value.string_value().unwrap_or_default())
        };
        Attribute {
            name,
            data_type,
            value,
        }
    }
}

/// The document properties that carry a received message's attributes: each value (base64 for
/// binary) and type, moved out of what SQS returned.
pub fn attributes_into_properties(
    attributes: HashMap<String, MessageAttributeValue>,
    properties: &mut BTreeMap<String, String>,
) {
    for (name, value) in attributes {
        let text = if base_type(&value.data_type) == "Binary" {
            BASE64.encode(
                value
                    .binary_value
                    .as_ref()
                    .map(|b| b.as_ref())
                    .unwrap_or_default(),
            )
        } else {
            value.string_value.unwrap_or_default()
        };
        properties.insert(prefixed(props::ATTRIBUTE_PREFIX, &name), text);
        properties.insert(
            prefixed(props::ATTRIBUTE_TYPE_PREFIX, &name),
            value.data_type,
        );
    }
}

fn prefixed(prefix: &str, name: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + name.len());
    key.push_str(prefix);
    key.push_str(name);
    key
}

fn base_type(data_type: &str) -> &str {
    data_type.split('.').next().unwrap_or(data_type)
}

/// Whether SQS accepts a character in a body or string value: `#x9 | #xA | #xD | #x20-#xD7FF |
/// #xE000-#xFFFD | #x10000-#x10FFFF` (Rust strings hold no surrogates).
pub fn allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// Checks text against the allowed characters; `what` names where it is (`the body`).
pub fn check_text(text: &str, what: impl FnOnce() -> String) -> Result<(), Rejection> {
    // Fast path over bytes: in UTF-8 the only forbidden characters are the C0 controls other
    // than tab, line feed and carriage return (single bytes) and U+FFFE and U+FFFF (EF BF BE/BF).
    let bytes = text.as_bytes();
    if !may_hold_forbidden(bytes) {
        return Ok(());
    }
    let suspicious = bytes.iter().enumerate().any(|(i, &b)| {
        (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
            || (b == 0xEF
                && bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)))
    });
    if !suspicious {
        return Ok(());
    }
    match text.chars().enumerate().find(|(_, c)| !allowed_char(*c)) {
        None => Ok(()),
        Some((position, c)) => Err(Rejection::new(
            "InvalidCharacter",
            format!(
                "{} contains the character U+{:04X} at position {position}, which SQS does not \
                 allow (allowed: tab, line feed, carriage return, and U+0020 and above except \
                 U+FFFE and U+FFFF)",
                what(),
                c as u32
            ),
        )),
    }
}

/// Whether `bytes` may hold a byte below 0x20 or the lead byte 0xEF: eight bytes at a time, the
/// exact check runs only when this says yes.
fn may_hold_forbidden(bytes: &[u8]) -> bool {
    connector_sdk::bytes::find(bytes, 0x20, [0xEF]).is_some()
}

/// Checks an attribute name against SQS's rules.
pub fn check_attribute_name(name: &str) -> Result<(), Rejection> {
    match attribute_name_problem(name) {
        None => Ok(()),
        Some(problem) => Err(Rejection::new(
            "InvalidAttributeName",
            format!(
                "message attribute name \"{name}\" (property {}{name}) {problem}",
                props::ATTRIBUTE_PREFIX
            ),
        )),
    }
}

/// What is wrong with a message attribute name by SQS's rules (`is empty`, ...), if anything.
pub fn attribute_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_ATTRIBUTE_NAME {
        Some("is longer than 256 characters")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        Some("may contain only letters, digits, _, - and .")
    } else {
        let starts_with = |prefix: &str| {
            name.get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        };
        if starts_with("aws.") || starts_with("amazon.") {
            Some("may not start with AWS. or Amazon.")
        } else if name.starts_with('.') || name.ends_with('.') {
            Some("may not start or end with a period")
        } else if name.contains("..") {
            Some("may not contain two periods in a row")
        } else {
            None
        }
    }
}

fn is_number(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match fraction {
        None => digits(whole),
        Some(f) => {
            (digits(whole) || whole.is_empty()) && (digits(f) || (f.is_empty() && digits(whole)))
        }
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// The message attributes a document's properties carry (`sqs.attribute.<Name>` with optional
/// `sqs.attributeType.<Name>`), checked against SQS's rules.
pub fn attributes_from_properties(
    properties: &BTreeMap<String, String>,
) -> Result<Vec<Attribute<'_>>, Rejection> {
    let mut attributes = Vec::new();
    let mut type_key = String::new();
    for (key, value) in properties {
        let Some(name) = key.strip_prefix(props::ATTRIBUTE_PREFIX) else {
            continue;
        };
        check_attribute_name(name)?;
        type_key.clear();
        type_key.push_str(props::ATTRIBUTE_TYPE_PREFIX);
        type_key.push_str(name);
        let data_type = properties
            .get(&type_key)
            .map(String::as_str)
            .unwrap_or("String");
        let base = base_type(data_type);
        let custom_ok = data_type.len() <= MAX_ATTRIBUTE_NAME
            && data_type[base.len()..]
                .strip_prefix('.')
                .is_none_or(|suffix| {
                    !suffix.is_empty()
                        && suffix
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                });
        if !matches!(base, "String" | "Number" | "Binary") || !custom_ok {
            return Err(Rejection::new(
                "InvalidAttributeType",
                format!(
                    "message attribute \"{name}\" has type \"{data_type}\" (property {type_key}); \
                     use String, Number or Binary, optionally with a custom suffix like Number.int"
                ),
            ));
        }
        if value.is_empty() {
            return Err(Rejection::new(
                "InvalidAttributeValue",
                format!(
                    "message attribute \"{name}\" is empty; SQS needs a value (or remove property {key})"
                ),
            ));
        }
        let value = match base {
            "Binary" => AttributeValue::Bytes(BASE64.decode(value.as_bytes()).map_err(|e| {
                Rejection::new(
                    "InvalidAttributeValue",
                    format!("binary message attribute \"{name}\" is not valid base64 (property {key}): {e}"),
                )
            })?),
            "Number" => {
                if !is_number(value) {
                    return Err(Rejection::new(
                        "InvalidAttributeValue",
                        format!("number message attribute \"{name}\" is \"{value}\", which is not a number (property {key})"),
                    ));
                }
                AttributeValue::Text(value)
            }
            _ => {
                check_text(value, || format!("message attribute \"{name}\""))?;
                AttributeValue::Text(value)
            }
        };
        attributes.push(Attribute {
            name,
            data_type,
            value,
        });
    }
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(Rejection::new(
            "TooManyAttributes",
            format!(
                "the document has {} message attributes; SQS allows at most {MAX_ATTRIBUTES}",
                attributes.len()
            ),
        ));
    }
    Ok(attributes)
}

/// Lowercase hex MD5.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Whether `expected` (hex, either case) is the MD5 of `bytes`; compared without building text.
pub fn md5_matches(expected: &str, bytes: &[u8]) -> bool {
    let mut digest = [0u8; 16];
    hex::decode_to_slice(expected, &mut digest).is_ok() && digest[..] == Md5::digest(bytes)[..]
}

/// The MD5 SQS computes over message attributes: sorted by name, each as length-prefixed name,
/// length-prefixed type, a transport byte (1 text, 2 binary) and the length-prefixed value.
pub fn md5_of_attributes(attributes: &[Attribute]) -> String {
    fn put_prefixed(hasher: &mut Md5, bytes: &[u8]) {
        hasher.update((bytes.len() as u32).to_be_bytes());
        hasher.update(bytes);
    }
    let mut sorted: Vec<&Attribute> = attributes.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(b.name));
    let mut hasher = Md5::new();
    for attribute in sorted {
        put_prefixed(&mut hasher, attribute.name.as_bytes());
        put_prefixed(&mut hasher, attribute.data_type.as_bytes());
        match &attribute.value {
            AttributeValue::Text(text) => {
                hasher.update([1u8]);
                put_prefixed(&mut hasher, text.as_bytes());
            }
            AttributeValue::Bytes(bytes) => {
                hasher.update([2u8]);
                put_prefixed(&mut hasher, bytes);
            }
        }
    }
    hex::encode(hasher.finalize())
}

/// The attributes SQS returned with a message, sorted by name.
pub fn attributes_from_sqs(
    map: Option<&HashMap<String, MessageAttributeValue>>,
) -> Vec<Attribute<'_>> {
    let mut attributes: Vec<Attribute<'_>> = map
        .into_iter()
        .flatten()
        .map(|(name, value)| Attribute::from_sqs(name, value))
        .collect();
    attributes.sort_by(|a, b| a.name.cmp(b.name));
    attributes
}

/// The attributes as the SDK sends them (`None` when there are none).
pub fn to_sqs_attributes(
    attributes: &[Attribute],
) -> Result<Option<HashMap<String, MessageAttributeValue>>, ConnectorError> {
    if attributes.is_empty() {
        return Ok(None);
    }
    attributes
        .iter()
        .map(|a| Ok((a.name.to_owned(), a.to_sqs()?)))
        .collect::<Result<HashMap<_, _>, ConnectorError>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn attributes_come_from_properties_with_types() {
        let properties = properties(&[
            ("sqs.attribute.color", "blue"),
            ("sqs.attribute.count", "42"),
            ("sqs.attributeType.count", "Number"),
            ("sqs.attribute.blob", "AAEC"),
            ("sqs.attributeType.blob", "Binary.raw"),
            ("sqs.messageGroupId", "g1"),
        ]);
        let attributes = attributes_from_properties(&properties).unwrap();
        assert_eq!(attributes.len(), 3);
        let blob = attributes.iter().find(|a| a.name == "blob").unwrap();
        assert_eq!(blob.value, AttributeValue::Bytes(vec![0, 1, 2]));
        assert_eq!(blob.data_type, "Binary.raw");
    }

    #[test]
    fn eleven_attributes_are_refused() {
        let pairs: Vec<(String, String)> = (0..11)
            .map(|i| (format!("sqs.attribute.a{i}"), "v".to_owned()))
            .collect();
        let props: BTreeMap<String, String> = pairs.into_iter().collect();
        let rejection = attributes_from_properties(&props).unwrap_err();
        assert_eq!(rejection.rule, "TooManyAttributes");
        assert!(
            rejection.message.contains("11 message attributes"),
            "{}",
            rejection.message
        );
    }

    #[test]
    fn attribute_names_follow_the_sqs_rules() {
        for bad in [
            "AWS.thing",
            "amazon.x",
            ".lead",
            "trail.",
            "a..b",
            "sp ace",
            "",
        ] {
            assert!(
                check_attribute_name(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        for good in ["a", "Order-Id_2", "x.y.z"] {
            assert!(
                check_attribute_name(good).is_ok(),
                "{good:?} should be accepted"
            );
        }
    }

    #[test]
    fn numbers_and_types_are_checked() {
        assert!(is_number("42") && is_number("-1.5") && is_number("1e10") && is_number(".5"));
        assert!(!is_number("forty") && !is_number("1.2.3") && !is_number("") && !is_number("NaN"));
        let err = attributes_from_properties(&properties(&[
            ("sqs.attribute.n", "x"),
            ("sqs.attributeType.n", "Number"),
        ]))
        .unwrap_err();
        assert_eq!(err.rule, "InvalidAttributeValue");
        let err = attributes_from_properties(&properties(&[
            ("sqs.attribute.n", "x"),
            ("sqs.attributeType.n", "Integer"),
        ]))
        .unwrap_err();
        assert_eq!(err.rule, "InvalidAttributeType");
    }

    #[test]
    fn forbidden_characters_are_found_with_their_position() {
        assert!(check_text("tab\tnewline\n\u{10000}", || "the body".into()).is_ok());
        let err = check_text("ab\u{0}c", || "the body".into()).unwrap_err();
        assert_eq!(err.rule, "InvalidCharacter");
        assert!(
            err.message.contains("U+0000 at position 2"),
            "{}",
            err.message
        );
        assert!(check_text("\u{FFFF}", || "the body".into()).is_err());
    }

    #[test]
    fn the_word_at_a_time_scan_finds_every_control_byte_and_0xef_at_any_position() {
        for len in 0..40 {
            let clean = vec![b'a'; len];
            assert!(!may_hold_forbidden(&clean), "{len} clean bytes");
            for at in 0..len {
                for bad in [0x00, 0x09, 0x1f, 0xef] {
                    let mut bytes = clean.clone();
                    bytes[at] = bad;
                    assert!(may_hold_forbidden(&bytes), "{bad:#x} at {at} of {len}");
                }
                // Bytes around the thresholds are not flagged.
                for fine in [0x20, 0x7f, 0x80, 0xee, 0xf0, 0xff] {
                    let mut bytes = clean.clone();
                    bytes[at] = fine;
                    assert!(!may_hold_forbidden(&bytes), "{fine:#x} at {at} of {len}");
                }
            }
        }
        // Through check_text: a control character late in a long body is still found.
        let body = format!("{}\u{1}", "x".repeat(1000));
        let err = check_text(&body, || "the body".into()).unwrap_err();
        assert!(err.message.contains("position 1000"), "{}", err.message);
    }

    #[test]
    fn md5_of_attributes_matches_the_documented_encoding() {
        // Computed independently: sorted names, 4-byte big-endian lengths, transport byte 1/2.
        let attributes = vec![
            Attribute {
                name: "b",
                data_type: "String",
                value: AttributeValue::Text("x"),
            },
            Attribute {
                name: "a",
                data_type: "Binary",
                value: AttributeValue::Bytes(vec![1]),
            },
        ];
        let mut expected = Vec::new();
        for (name, ty, transport, value) in [
            ("a", "Binary", 2u8, vec![1u8]),
            ("b", "String", 1u8, b"x".to_vec()),
        ] {
            expected.extend((name.len() as u32).to_be_bytes());
            expected.extend(name.as_bytes());
            expected.extend((ty.len() as u32).to_be_bytes());
            expected.extend(ty.as_bytes());
            expected.push(transport);
            expected.extend((value.len() as u32).to_be_bytes());
            expected.extend(&value);
        }
        assert_eq!(md5_of_attributes(&attributes), md5_hex(&expected));
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn md5_matches_compares_hex_of_either_case_and_refuses_anything_else() {
        assert!(md5_matches("d41d8cd98f00b204e9800998ecf8427e", b""));
        assert!(md5_matches("D41D8CD98F00B204E9800998ECF8427E", b""));
        assert!(!md5_matches("d41d8cd98f00b204e9800998ecf8427f", b""));
        assert!(!md5_matches("d41d8cd98f00b204e9800998ecf8427", b""));
        assert!(!md5_matches("d41d8cd98f00b204e9800998ecf8427e0", b""));
        assert!(!md5_matches("g41d8cd98f00b204e9800998ecf8427e", b""));
        assert!(md5_matches(&md5_hex(b"hello"), b"hello"));
        assert!(!md5_matches(&md5_hex(b"hello"), b"hellO"));
    }
}
