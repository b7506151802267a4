//! The messages every contender sends: JSON order events of a few hundred bytes, each with two or
//! three message attributes, generated from a fixed seed so every run sends the same bytes.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use aws_sdk_sqs::types::MessageAttributeValue;
use connector_sdk::Document;
use serde_json::json;

/// One message: a body and its attributes as (name, type, value).
#[derive(Debug, Clone)]
pub(crate) struct Message {
    /// The JSON body.
    pub body: String,
    /// The message attributes: name, data type (`String` or `Number`), value.
    pub attributes: Vec<(String, String, String)>,
}

/// A small deterministic generator (xorshift64*), enough to vary the messages.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger", "Radia",
];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen",
    "Dijkstra", "Perlman",
];
const EVENTS: &[&str] = &[
    "order.created",
    "order.paid",
    "order.shipped",
    "order.cancelled",
];
const CURRENCIES: &[&str] = &["EUR", "USD", "GBP", "CHF"];
const NOTES: &[&str] = &[
    "",
    "leave at the front door",
    "gift wrap, no invoice in the parcel",
    "call before delivery; the bell does not work",
];

/// `count` messages, the same for every call with the same count.
pub(crate) fn generate(count: usize) -> Vec<Message> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..count)
        .map(|n| {
            let first = rng.pick(FIRST);
            let last = rng.pick(LAST);
            let lines: Vec<_> = (0..1 + rng.below(3))
                .map(|_| {
                    json!({
                        "sku": format!("SKU-{:05}", rng.below(100_000)),
                        "quantity": 1 + rng.below(5),
                        "unitPrice": (rng.below(20_000) as f64) / 100.0,
                    })
                })
                .collect();
            let event = rng.pick(EVENTS);
            let body = json!({
                "eventId": format!("evt-{n:08}"),
                "type": event,
                "occurredAt": format!("2026-11-26T{:02}:{:02}:{:02}.{:03}Z", rng.below(24), rng.below(60), rng.below(60), rng.below(1000)),
                "customer": {
                    "id": format!("C-{:06}", rng.below(1_000_000)),
                    "name": format!("{first} {last}"),
                    "email": format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
                },
                "order": {
                    "id": format!("O-{:09}", rng.below(1_000_000_000)),
                    "currency": rng.pick(CURRENCIES),
                    "lines": lines,
                },
                "note": rng.pick(NOTES),
            })
            .to_string();
            let mut attributes = vec![
                ("eventType".to_owned(), "String".to_owned(), event.to_owned()),
                (
                    "priority".to_owned(),
                    "Number".to_owned(),
                    (1 + rng.below(5)).to_string(),
                ),
            ];
            if n % 3 != 0 {
                attributes.push((
                    "traceId".to_owned(),
                    "String".to_owned(),
                    format!("{:016x}{:016x}", rng.next(), rng.next()),
                ));
            }
            Message { body, attributes }
        })
        .collect()
}

impl Message {
    /// The document a host hands the connector for this message.
    pub(crate) fn document(&self) -> Document {
        let mut document = Document::new(self.body.clone());
        for (name, data_type, value) in &self.attributes {
            document
                .properties
                .insert(format!("sqs.attribute.{name}"), value.clone());
            if data_type != "String" {
                document
                    .properties
                    .insert(format!("sqs.attributeType.{name}"), data_type.clone());
            }
        }
        document
    }

    /// The attributes as the SDK takes them.
    pub(crate) fn sdk_attributes(&self) -> HashMap<String, MessageAttributeValue> {
        self.attributes
            .iter()
            .filter_map(|(name, data_type, value)| {
                MessageAttributeValue::builder()
                    .data_type(data_type)
                    .string_value(value)
                    .build()
                    .ok()
                    .map(|v| (name.clone(), v))
            })
            .collect()
    }

    /// Body and attribute bytes, as SQS counts a message's size.
    pub(crate) fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(n, t, v)| n.len() + t.len() + v.len())
                .sum::<usize>()
    }
}

/// Writes the messages as JSON lines (`{"body": …, "attributes": {name: [type, value]}}`) for the
/// boto3 contender.
pub(crate) fn write_jsonl(path: &Path, messages: &[Message]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for message in messages {
        let attributes: serde_json::Map<String, serde_json::Value> = message
            .attributes
            .iter()
            .map(|(name, data_type, value)| (name.clone(), json!([data_type, value])))
            .collect();
        writeln!(
            out,
            "{}",
            json!({"body": message.body, "attributes": attributes})
        )?;
    }
    out.flush()
}

/// (smallest, mean, largest) body size in bytes, and the same for the whole message.
pub(crate) fn sizes(messages: &[Message]) -> ((usize, usize, usize), (usize, usize, usize)) {
    let stats = |sizes: Vec<usize>| {
        let min = sizes.iter().copied().min().unwrap_or(0);
        let max = sizes.iter().copied().max().unwrap_or(0);
        let mean = sizes.iter().sum::<usize>() / sizes.len().max(1);
        (min, mean, max)
    };
    (
        stats(messages.iter().map(|m| m.body.len()).collect()),
        stats(messages.iter().map(Message::size).collect()),
    )
}
