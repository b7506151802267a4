//! The lever "property names that need not be allocated per message", measured where it acts
//! before the SDK's `Document` API is changed for it: the properties of one RECEIVE output
//! document built and dropped, their names allocated as today (`BTreeMap<String, String>`)
//! against names that are `&'static str` where the connector knows them
//! (`BTreeMap<Cow<'static, str>, String>`; the attributes' names, which SQS sends, still
//! allocated). The values are made the same way in both, so the difference is the names' cost:
//! an upper bound of what the lever saves the plugin per received message.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use crate::report::{self, Report, Row, Unit};
use crate::{Args, say};

/// The names a RECEIVE output document carries whatever the message: the message's own and
/// the system attributes asked for (`All`), as `sqs_connector` names them.
const FIXED: [&str; 8] = [
    "sqs.messageId",
    "sqs.receiptHandle",
    "sqs.queueUrl",
    "sqs.md5OfBody",
    "sqs.sentTimestamp",
    "sqs.approximateReceiveCount",
    "sqs.approximateFirstReceiveTimestamp",
    "sqs.senderId",
];

/// The message attributes of the benchmark's messages (each gives a value and a type property).
const ATTRIBUTES: [&str; 3] = ["customerId", "orderTotal", "region"];
const VALUE_PREFIX: &str = "sqs.messageAttribute.";
const TYPE_PREFIX: &str = "sqs.messageAttributeType.";

/// Documents built per run: one per 25 iterations of the cache's loops (200,000 in a full
/// run), at least 1,000.
fn documents(args: &Args) -> u64 {
    (args.cache_iterations / 25).max(1_000)
}

fn prefixed(prefix: &str, name: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + name.len());
    key.push_str(prefix);
    key.push_str(name);
    key
}

/// A value as SQS's answer hands it over: a string of its own, moved into the document.
fn value(i: usize) -> String {
    black_box("1764518400123-value")[..8 + i % 8].to_owned()
}

/// Today's shape: every name a `String` of its own.
fn owned_names() -> usize {
    let mut properties: BTreeMap<String, String> = BTreeMap::new();
    for (i, name) in FIXED.iter().enumerate() {
        properties.insert(black_box(*name).to_owned(), value(i));
    }
    for (i, name) in ATTRIBUTES.iter().enumerate() {
        properties.insert(prefixed(VALUE_PREFIX, black_box(name)), value(i));
        properties.insert(prefixed(TYPE_PREFIX, black_box(name)), value(i + 1));
    }
    black_box(&properties).len()
}

/// The lever's shape: the connector's own names borrowed, the attributes' names allocated.
fn static_names() -> usize {
    let mut properties: BTreeMap<Cow<'static, str>, String> = BTreeMap::new();
    for (i, name) in FIXED.iter().enumerate() {
        properties.insert(Cow::Borrowed(black_box(*name)), value(i));
    }
    for (i, name) in ATTRIBUTES.iter().enumerate() {
        properties.insert(
            Cow::Owned(prefixed(VALUE_PREFIX, black_box(name))),
            value(i),
        );
        properties.insert(
            Cow::Owned(prefixed(TYPE_PREFIX, black_box(name))),
            value(i + 1),
        );
    }
    black_box(&properties).len()
}

fn per_document(build: fn() -> usize, documents: u64) -> Result<f64, String> {
    let started = Instant::now();
    for _ in 0..documents {
        if build() != FIXED.len() + 2 * ATTRIBUTES.len() {
            return Err("a document lost a property".into());
        }
    }
    Ok(started.elapsed().as_nanos() as f64 / documents as f64)
}

/// Both shapes, `repetitions` runs each, the order alternating; their rows in `report`.
pub(crate) fn property_names(args: &Args, report: &mut Report) -> Result<(), String> {
    let n = documents(args);
    say(format!(
        "property names: {n} RECEIVE output documents' properties x {} runs",
        args.repetitions
    ));
    let (mut owned, mut borrowed) = (Vec::new(), Vec::new());
    for round in 0..args.repetitions {
        let (a, b) = match round % 2 {
            0 => {
                let a = per_document(owned_names, n)?;
                (a, per_document(static_names, n)?)
            }
            _ => {
                let b = per_document(static_names, n)?;
                (per_document(owned_names, n)?, b)
            }
        };
        say(format!(
            "  names allocated {a:.1} ns, static names {b:.1} ns"
        ));
        owned.push(a);
        borrowed.push(b);
    }
    let work = format!("{} documents", report::thousands(n));
    report.add(Row::new(
        "Property names",
        "names-owned",
        "Baseline: a RECEIVE output document's 14 properties built and dropped, every name a `String` (`BTreeMap<String, String>`, today's `Document`)",
        &work,
        Unit::NanosPerOp,
        owned,
        None,
    ));
    report.add(Row::new(
        "Property names",
        "names-static",
        "The same with the connector's 8 names `&'static str` and the 6 attribute names allocated (`BTreeMap<Cow<'static, str>, String>`)",
        &work,
        Unit::NanosPerOp,
        borrowed,
        Some("names-owned"),
    ));
    Ok(())
}
