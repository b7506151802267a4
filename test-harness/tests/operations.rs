//! SEND, RECEIVE and DELETE through the plugin process against a real SQS-compatible server
//! (moto), each test asserting on what the server holds afterwards.

mod support;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use connector_sdk::{Document, DocumentResult, ResultStatus};
use serde_json::json;
use support::*;

fn statuses(results: &[DocumentResult]) -> Vec<ResultStatus> {
    results.iter().map(|r| r.status).collect()
}

fn md5_hex(bytes: &[u8]) -> String {
    sqs_connector::message::md5_hex(bytes)
}

/// The document's message attributes, as (name -> (type, value)).
fn attributes(document: &Document) -> BTreeMap<String, (String, String)> {
    document
        .properties
        .iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix("sqs.attribute.")?;
            let kind = document
                .property(&format!("sqs.attributeType.{name}"))
                .unwrap_or("String")
                .to_owned();
            Some((name.to_owned(), (kind, value.clone())))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_five_fifo_documents_round_trip_with_every_property_and_are_deleted() {
    let name = format!("{}.fifo", unique_queue("roundtrip"));
    let url = create_queue(&name, &[("FifoQueue", "true")]).await;
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-roundtrip");
    let documents: Vec<Document> = (0..25)
        .map(|i| {
            let binary: Vec<u8> = vec![0, 255, i as u8, 0x80, 10, 13];
            Document::new(format!(
                "message {i}: ünïcødé € 𝄞 <xml attr=\"q\"/>\n\ttabbed"
            ))
            .with_property("sqs.messageGroupId", format!("group-{i}"))
            .with_property("sqs.messageDeduplicationId", format!("dedup-{i}"))
            .with_property("sqs.attribute.color", format!("blue {i} 🟦"))
            .with_property("sqs.attribute.amount", format!("{}.25", i * 10))
            .with_property("sqs.attributeType.amount", "Number")
            .with_property("sqs.attribute.blob", BASE64.encode(&binary))
            .with_property("sqs.attributeType.blob", "Binary")
            .with_property("sqs.attribute.unit", "42")
            .with_property("sqs.attributeType.unit", "Number.int")
        })
        .collect();

    let send = operation("op-send", "SEND", json!({"queue": name}));
    let sent = execute(&plugin, &connection, &send, documents.clone()).await;
    assert_eq!(
        statuses(&sent),
        vec![ResultStatus::Success; 25],
        "{sent:#?}"
    );
    for (result, document) in sent.iter().zip(&documents) {
        let output = &result.outputs[0];
        assert!(
            output
                .property("sqs.messageId")
                .is_some_and(|id| !id.is_empty()),
            "{output:?}"
        );
        assert!(
            output.property("sqs.sequenceNumber").is_some(),
            "FIFO sends return a sequence number: {output:?}"
        );
        assert_eq!(
            output.property("sqs.md5OfBody"),
            Some(md5_hex(&document.data).as_str())
        );
        assert_eq!(output.property("sqs.queueUrl"), Some(url.as_str()));
        assert_eq!(
            output.data, document.data,
            "SEND's output carries the input body"
        );
    }

    let receive = operation(
        "op-receive",
        "RECEIVE",
        json!({"queue": url, "maxMessages": 25, "visibilityTimeoutSeconds": 120}),
    );
    let received = execute(&plugin, &connection, &receive, vec![Document::default()]).await;
    assert_eq!(
        received[0].status,
        ResultStatus::Success,
        "{:?}",
        received[0].message
    );
    let outputs = &received[0].outputs;
    assert_eq!(outputs.len(), 25, "every message is received");
    for output in outputs {
        let dedup = output
            .property("sqs.messageDeduplicationId")
            .expect("dedup id");
        let i: usize = dedup.trim_start_matches("dedup-").parse().unwrap();
        let original = &documents[i];
        assert_eq!(output.data, original.data, "body of message {i}");
        assert_eq!(
            output.property("sqs.messageGroupId"),
            Some(format!("group-{i}").as_str())
        );
        assert_eq!(
            attributes(output),
            attributes(original),
            "attributes of message {i} round-trip byte for byte"
        );
        assert_eq!(output.property("sqs.queueUrl"), Some(url.as_str()));
        assert_eq!(output.property("sqs.approximateReceiveCount"), Some("1"));
        for key in [
            "sqs.messageId",
            "sqs.receiptHandle",
            "sqs.md5OfBody",
            "sqs.sequenceNumber",
            "sqs.sentTimestamp",
        ] {
            assert!(
                output.property(key).is_some(),
                "{key} missing on {output:?}"
            );
        }
    }

    let delete = operation("op-delete", "DELETE", json!({}));
    let deleted = execute(&plugin, &connection, &delete, outputs.clone()).await;
    assert_eq!(
        statuses(&deleted),
        vec![ResultStatus::Success; 25],
        "{deleted:#?}"
    );
    assert_eq!(
        queue_depth(&url).await,
        (0, 0),
        "the queue is empty at the end"
    );
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_documents_fail_alone_and_every_other_document_arrives_once() {
    let name = unique_queue("refused");
    let url = create_queue(&name, &[("MaximumMessageSize", "1024")]).await;
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-refused");
    let mut documents: Vec<Document> = (0..12)
        .map(|i| Document::new(format!("good {i}")))
        .collect();
    documents[1] = Document::new("bad delay").with_property("sqs.delaySeconds", "1000");
    documents[3] = Document::new("x".repeat(2000));
    documents[5] = Document::new("nul \u{0} inside");
    let mut eleven = Document::new("too many attributes");
    for a in 0..11 {
        eleven = eleven.with_property(format!("sqs.attribute.a{a}"), "v");
    }
    documents[7] = eleven;
    documents[9] = Document::new("bad name").with_property("sqs.attribute.AWS.reserved", "v");

    let send = operation("op-send", "SEND", json!({"queue": name}));
    let results = execute(&plugin, &connection, &send, documents.clone()).await;
    let expected: BTreeMap<usize, (&str, &str)> = BTreeMap::from([
        (1, ("InvalidDelay", "from 0 to 900")),
        (
            3,
            (
                "MessageTooLong",
                "accepts at most 1024 bytes (its MaximumMessageSize)",
            ),
        ),
        (5, ("InvalidCharacter", "U+0000 at position 4")),
        (
            7,
            (
                "TooManyAttributes",
                "11 message attributes; SQS allows at most 10",
            ),
        ),
        (
            9,
            ("InvalidAttributeName", "may not start with AWS. or Amazon."),
        ),
    ]);
    for (index, result) in results.iter().enumerate() {
        match expected.get(&index) {
            Some((rule, words)) => {
                assert_eq!(
                    result.status,
                    ResultStatus::ApplicationError,
                    "document {index}: {result:?}"
                );
                assert_eq!(
                    result.status_code.as_deref(),
                    Some(*rule),
                    "document {index}"
                );
                let message = result.message.as_deref().unwrap_or_default();
                assert!(
                    message.contains(words) && message.contains(&format!("document {index}")),
                    "document {index}: {message}"
                );
            }
            None => assert_eq!(
                result.status,
                ResultStatus::Success,
                "document {index}: {result:?}"
            ),
        }
    }
    let mut bodies: Vec<String> = drain_visible(&url, 60)
        .await
        .into_iter()
        .map(|m| m.body.unwrap_or_default())
        .collect();
    bodies.sort();
    let mut want: Vec<String> = (0..12)
        .filter(|i| !expected.contains_key(i))
        .map(|i| format!("good {i}"))
        .collect();
    want.sort();
    assert_eq!(bodies, want, "every accepted document arrived exactly once");
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn fifo_rules_are_checked_per_document() {
    let name = format!("{}.fifo", unique_queue("fiforules"));
    let url = create_queue(&name, &[("FifoQueue", "true")]).await;
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-fifo");
    let documents = vec![
        Document::new("ok")
            .with_property("sqs.messageGroupId", "g")
            .with_property("sqs.messageDeduplicationId", "d0"),
        Document::new("no group").with_property("sqs.messageDeduplicationId", "d1"),
        Document::new("no dedup").with_property("sqs.messageGroupId", "g"),
        Document::new("delayed")
            .with_property("sqs.messageGroupId", "g")
            .with_property("sqs.messageDeduplicationId", "d3")
            .with_property("sqs.delaySeconds", "5"),
    ];
    let send = operation("op-send", "SEND", json!({"queue": url}));
    let results = execute(&plugin, &connection, &send, documents).await;
    let codes: Vec<Option<&str>> = results.iter().map(|r| r.status_code.as_deref()).collect();
    assert_eq!(
        codes,
        vec![
            None,
            Some("MissingMessageGroupId"),
            Some("MissingMessageDeduplicationId"),
            Some("InvalidDelay")
        ]
    );
    assert_eq!(drain_visible(&url, 60).await.len(), 1);
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn receive_all_available_reads_35_messages_and_delete_after_read_empties_the_queue() {
    let name = unique_queue("drain");
    let url = create_queue(&name, &[]).await;
    let client = sqs_client();
    for i in 0..35 {
        client
            .send_message()
            .queue_url(&url)
            .message_body(format!("m{i}"))
            .send()
            .await
            .unwrap();
    }
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-drain");
    let receive = operation(
        "op-receive",
        "RECEIVE",
        json!({"queue": name, "maxMessages": -1, "deleteAfterRead": true}),
    );
    let results = execute(&plugin, &connection, &receive, vec![Document::default()]).await;
    assert_eq!(
        results[0].status,
        ResultStatus::Success,
        "{:?}",
        results[0].message
    );
    let mut bodies: Vec<String> = results[0]
        .outputs
        .iter()
        .map(|d| d.text().unwrap().to_owned())
        .collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 35, "all 35 distinct messages were returned");
    assert_eq!(results[0].outputs.len(), 35, "each message is one output");
    // The messages are deleted once the answer has been written: shutting down waits for that.
    plugin.shutdown().await.unwrap();
    assert_eq!(
        queue_depth(&url).await,
        (0, 0),
        "deleteAfterRead left the queue empty"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bogus_receipt_handle_fails_only_its_document() {
    let name = unique_queue("bogus");
    let url = create_queue(&name, &[]).await;
    for i in 0..3 {
        sqs_client()
            .send_message()
            .queue_url(&url)
            .message_body(format!("m{i}"))
            .send()
            .await
            .unwrap();
    }
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-bogus");
    let receive = operation(
        "op-receive",
        "RECEIVE",
        json!({"queue": name, "maxMessages": 3, "visibilityTimeoutSeconds": 300}),
    );
    let received = execute(&plugin, &connection, &receive, vec![Document::default()]).await;
    let mut outputs = received[0].outputs.clone();
    assert_eq!(outputs.len(), 3);
    outputs[1]
        .properties
        .insert("sqs.receiptHandle".into(), "bogus-handle".into());
    outputs.push(Document::new("no handle at all"));
    let delete = operation("op-delete", "DELETE", json!({"queue": name}));
    let results = execute(&plugin, &connection, &delete, outputs).await;
    assert_eq!(
        statuses(&results),
        vec![
            ResultStatus::Success,
            ResultStatus::ApplicationError,
            ResultStatus::Success,
            ResultStatus::ApplicationError
        ]
    );
    assert_eq!(
        results[1].status_code.as_deref(),
        Some("ReceiptHandleIsInvalid")
    );
    assert_eq!(
        results[3].status_code.as_deref(),
        Some("MissingReceiptHandle")
    );
    assert_eq!(
        queue_depth(&url).await,
        (0, 1),
        "only the message with the bogus handle is left (in flight)"
    );
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_whose_md5_does_not_match_is_a_failure_and_is_not_deleted() {
    let name = unique_queue("md5");
    let url = create_queue(&name, &[]).await;
    sqs_client()
        .send_message()
        .queue_url(&url)
        .message_body("corrupt me")
        .send()
        .await
        .unwrap();
    let proxy = md5_corrupting_proxy(sqs_endpoint()).await;
    let plugin = start_plugin().await;
    let connection: connector_sdk::Component =
        serde_json::from_value(access_key_component("conn-md5", &proxy, "secret")).unwrap();
    let receive = operation(
        "op-receive",
        "RECEIVE",
        json!({"queue": url, "maxMessages": 1, "deleteAfterRead": true, "visibilityTimeoutSeconds": 1}),
    );
    let results = execute(&plugin, &connection, &receive, vec![Document::default()]).await;
    assert_eq!(results[0].status, ResultStatus::Failure, "{:?}", results[0]);
    let message = results[0].message.as_deref().unwrap_or_default();
    assert!(
        message.contains("failed verification") && message.contains("MD5 of its body"),
        "{message}"
    );
    assert!(
        results[0].outputs.is_empty(),
        "the corrupted message is not passed on"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let left = drain_visible(&url, 30).await;
    assert_eq!(left.len(), 1, "the message was not deleted");
    assert_eq!(left[0].body(), Some("corrupt me"));
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamic_queues_and_single_sends_route_each_document() {
    let first = unique_queue("dyn-a");
    let second = unique_queue("dyn-b");
    let first_url = create_queue(&first, &[]).await;
    let second_url = create_queue(&second, &[]).await;
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-dynamic");
    let send = operation(
        "op-send",
        "SEND",
        json!({"dynamicQueue": true, "batch": false}),
    );
    let documents = vec![
        Document::new("to a").with_property("sqs.queue", first.clone()),
        Document::new("to b").with_property("sqs.queue", second_url.clone()),
        Document::new("nowhere"),
        Document::new("missing queue").with_property("sqs.queue", unique_queue("does-not-exist")),
    ];
    let results = execute(&plugin, &connection, &send, documents).await;
    assert_eq!(
        statuses(&results),
        vec![
            ResultStatus::Success,
            ResultStatus::Success,
            ResultStatus::ApplicationError,
            ResultStatus::ApplicationError
        ],
        "{results:#?}"
    );
    assert_eq!(results[2].status_code.as_deref(), Some("MissingQueue"));
    assert_eq!(results[3].status_code.as_deref(), Some("QueueDoesNotExist"));
    assert_eq!(drain_visible(&first_url, 60).await.len(), 1);
    assert_eq!(drain_visible(&second_url, 60).await.len(), 1);
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn browsing_lists_queues_by_prefix_and_ten_executions_share_one_client() {
    let prefix = unique_queue("browse");
    for suffix in ["alpha", "beta"] {
        create_queue(&format!("{prefix}-{suffix}"), &[]).await;
    }
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-browse");
    let listed = plugin
        .browse(&connection, "SEND", Some(&prefix))
        .await
        .unwrap();
    let labels: Vec<&str> = listed
        .object_types
        .iter()
        .map(|o| o.label.as_str())
        .collect();
    assert_eq!(
        labels,
        vec![format!("{prefix}-alpha"), format!("{prefix}-beta")]
    );
    assert!(
        listed.object_types[0]
            .id
            .ends_with(&format!("/{prefix}-alpha"))
    );

    let send = operation(
        "op-send",
        "SEND",
        json!({"queue": format!("{prefix}-alpha")}),
    );
    let test = plugin.test_connection(&connection).await.unwrap();
    assert!(test.ok);
    for i in 0..10 {
        let results = execute(
            &plugin,
            &connection,
            &send,
            vec![Document::new(format!("execution {i}"))],
        )
        .await;
        assert_eq!(results[0].status, ResultStatus::Success);
    }
    plugin.shutdown().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let built = plugin
        .logs()
        .iter()
        .filter(|l| l.contains("SQS client built"))
        .count();
    assert_eq!(
        built, 1,
        "browse, Test Connection and ten executions share one SQS client"
    );
}
