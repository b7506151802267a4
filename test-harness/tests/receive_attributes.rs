//! RECEIVE's choice of system attributes, message attributes and sequence number, through the
//! plugin process against the moto server.

mod support;

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeValue};
use connector_sdk::host::ExecuteParams;
use connector_sdk::{Document, DocumentResult, ResultStatus};
use serde_json::json;
use support::*;

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .unwrap()
}

/// Puts one message with three attributes and a trace header on the queue.
async fn put_message(url: &str, body: &str, group: Option<&str>) {
    let mut request = sqs_client()
        .send_message()
        .queue_url(url)
        .message_body(body)
        .message_attributes("color", string_attribute("blue"))
        .message_attributes("order.id", string_attribute("A-17"))
        .message_attributes("order.total", string_attribute("12.50"))
        .message_system_attributes(
            aws_sdk_sqs::types::MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
                .build()
                .unwrap(),
        );
    if let Some(group) = group {
        request = request
            .message_group_id(group)
            .message_deduplication_id(body);
    }
    request.send().await.expect("send");
}

/// The single output of a RECEIVE that read one message, after checking it succeeded.
fn only_output(results: &[DocumentResult]) -> &Document {
    assert_eq!(results[0].status, ResultStatus::Success, "{results:#?}");
    assert_eq!(results[0].outputs.len(), 1, "{results:#?}");
    // Whatever RECEIVE writes, its descriptor declares.
    declared::assert_outputs_declared("RECEIVE", &results[0].outputs, &[]);
    &results[0].outputs[0]
}

/// A RECEIVE of `queue` with visibility 0 (each one reads the same messages again) and these
/// options.
fn receive_operation(
    queue: &str,
    id: &str,
    options: serde_json::Value,
) -> connector_sdk::Component {
    let mut fields = json!({"queue": queue, "visibilityTimeoutSeconds": 0});
    fields
        .as_object_mut()
        .unwrap()
        .extend(options.as_object().unwrap().clone());
    operation(id, "RECEIVE", fields)
}

fn attribute_names(document: &Document) -> Vec<&str> {
    document
        .properties
        .keys()
        .filter_map(|k| k.strip_prefix("sqs.attribute."))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn receive_reads_the_attributes_it_is_told_to() {
    let name = unique_queue("attributes");
    let url = create_queue(&name, &[]).await;
    put_message(&url, "with attributes", None).await;
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-attributes");
    // Visibility 0: each RECEIVE reads the same message again.
    let receive = |id: &str, options: serde_json::Value| receive_operation(&name, id, options);

    // The defaults: the useful system attributes and every message attribute.
    let results = execute(
        &plugin,
        &connection,
        &receive("op-default", json!({})),
        vec![Document::new("")],
    )
    .await;
    let output = only_output(&results);
    for key in ["sqs.sentTimestamp", "sqs.approximateReceiveCount"] {
        assert!(output.property(key).is_some(), "{key}: {output:?}");
    }
    for key in [
        "sqs.senderId",
        "sqs.approximateFirstReceiveTimestamp",
        "sqs.awsTraceHeader",
    ] {
        assert!(output.property(key).is_none(), "{key}: {output:?}");
    }
    assert_eq!(
        attribute_names(output),
        ["color", "order.id", "order.total"]
    );

    // Every system attribute, and the message attributes of one prefix.
    let results = execute(
        &plugin,
        &connection,
        &receive(
            "op-all",
            json!({"systemAttributes": ["All"], "messageAttributes": ["order.*"]}),
        ),
        vec![Document::new("")],
    )
    .await;
    let output = only_output(&results);
    for key in [
        "sqs.senderId",
        "sqs.sentTimestamp",
        "sqs.approximateReceiveCount",
        "sqs.approximateFirstReceiveTimestamp",
        "sqs.awsTraceHeader",
    ] {
        assert!(
            output.property(key).is_some_and(|v| !v.is_empty()),
            "{key}: {output:?}"
        );
    }
    assert_eq!(
        output.property("sqs.awsTraceHeader"),
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    );
    assert_eq!(attribute_names(output), ["order.id", "order.total"]);
    assert_eq!(output.property("sqs.attribute.order.id"), Some("A-17"));

    // Named system attributes and attributes; none at all.
    let results = execute(
        &plugin,
        &connection,
        &receive(
            "op-named",
            json!({"systemAttributes": ["SenderId"], "messageAttributes": ["color"]}),
        ),
        vec![Document::new("")],
    )
    .await;
    let output = only_output(&results);
    assert!(output.property("sqs.senderId").is_some(), "{output:?}");
    assert!(output.property("sqs.sentTimestamp").is_none(), "{output:?}");
    assert_eq!(attribute_names(output), ["color"]);
    let results = execute(
        &plugin,
        &connection,
        &receive(
            "op-none",
            json!({"systemAttributes": [], "messageAttributes": []}),
        ),
        vec![Document::new("")],
    )
    .await;
    let output = only_output(&results);
    assert!(attribute_names(output).is_empty(), "{output:?}");
    assert!(output.property("sqs.sentTimestamp").is_none(), "{output:?}");
    assert_eq!(output.text(), Some("with attributes"));

    // A name SQS would refuse is an error naming the option, before anything is read.
    let answer = plugin
        .execute(&ExecuteParams {
            execution_id: unique_queue("exec"),
            process_name: "test".into(),
            connection: connection.clone(),
            operation: receive("op-bad", json!({"messageAttributes": ["AWS.secret"]})),
            documents: vec![Document::new("")],
        })
        .await;
    let text = match answer {
        Ok(answer) => format!("{:?}", answer.results),
        Err(err) => err.to_string(),
    };
    assert!(
        text.contains("Message attributes") && text.contains("AWS.secret"),
        "{text}"
    );
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sequence_number_is_returned_unless_turned_off() {
    let name = format!("{}.fifo", unique_queue("sequence"));
    let url = create_queue(&name, &[("FifoQueue", "true")]).await;
    put_message(&url, "first", Some("g1")).await;
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-sequence");
    let receive = |id: &str, options: serde_json::Value| receive_operation(&name, id, options);
    let results = execute(
        &plugin,
        &connection,
        &receive("op-seq-default", json!({})),
        vec![Document::new("")],
    )
    .await;
    let output = only_output(&results);
    assert!(
        output
            .property("sqs.sequenceNumber")
            .is_some_and(|s| !s.is_empty()),
        "{output:?}"
    );
    assert_eq!(output.property("sqs.messageGroupId"), Some("g1"));
    for options in [
        json!({"returnSequenceNumber": false}),
        json!({"returnSequenceNumber": false, "systemAttributes": ["All"]}),
    ] {
        let results = execute(
            &plugin,
            &connection,
            &receive("op-seq-off", options.clone()),
            vec![Document::new("")],
        )
        .await;
        let output = only_output(&results);
        assert!(
            output.property("sqs.sequenceNumber").is_none(),
            "{options}: {output:?}"
        );
        assert_eq!(output.property("sqs.messageGroupId"), Some("g1"));
    }
    plugin.shutdown().await.unwrap();
}
