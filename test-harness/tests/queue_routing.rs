//! Where each operation's queue comes from (the trigger document's or each document's
//! `sqs.queue`, a queue URL's own region) and what it needs of the credentials (SEND without
//! `sqs:GetQueueAttributes`), through the plugin process against the moto server, checked on
//! the server.

mod support;

use connector_sdk::{Document, ResultStatus};
use serde_json::json;
use support::*;
use test_harness::fault_proxy::{FaultProxy, FaultProxyConfig, FaultRule};

/// A test client of the moto server signing for `region`.
fn client_in(region: &str) -> aws_sdk_sqs::Client {
    let config = sqs_client()
        .config()
        .to_builder()
        .region(aws_sdk_sqs::config::Region::new(region.to_owned()))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// How many messages the queue holds, visible or in flight, as the server counts them.
async fn held(client: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let (visible, in_flight) = queue_depth_with(client, url).await;
    visible + in_flight
}

#[tokio::test(flavor = "multi_thread")]
async fn receive_reads_the_queue_its_trigger_document_names() {
    let configured = unique_queue("trigger-configured");
    let named = unique_queue("trigger-named");
    let configured_url = create_queue(&configured, &[]).await;
    let named_url = create_queue(&named, &[]).await;
    send_bodies(&configured_url, &["from the option".to_owned()]).await;
    send_bodies(&named_url, &["by name".to_owned(), "by url".to_owned()]).await;
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-trigger-queue");
    declared::assert_input_declared("RECEIVE", "sqs.queue");

    // No queue option at all: the trigger document names it (by name, then by URL).
    let receive = operation(
        "op-receive-dynamic",
        "RECEIVE",
        json!({"maxMessages": 1, "visibilityTimeoutSeconds": 600}),
    );
    let results = execute(
        &plugin,
        &connection,
        &receive,
        vec![
            Document::new("").with_property("sqs.queue", named.clone()),
            Document::new("").with_property("sqs.queue", named_url.clone()),
            Document::new(""),
        ],
    )
    .await;
    assert_eq!(results[0].status, ResultStatus::Success, "{results:#?}");
    assert_eq!(results[1].status, ResultStatus::Success, "{results:#?}");
    let bodies: Vec<String> = results[..2]
        .iter()
        .flat_map(|r| &r.outputs)
        .map(|d| d.text().unwrap().to_owned())
        .collect();
    let mut sorted = bodies.clone();
    sorted.sort();
    assert_eq!(sorted, ["by name", "by url"]);
    for output in results[..2].iter().flat_map(|r| &r.outputs) {
        assert_eq!(output.property("sqs.queueUrl"), Some(named_url.as_str()));
    }
    assert_eq!(results[2].status, ResultStatus::ApplicationError);
    assert_eq!(results[2].status_code.as_deref(), Some("MissingQueue"));
    assert!(
        results[2]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("sqs.queue")),
        "{:?}",
        results[2].message
    );

    // With a queue option, the trigger document's property still wins; without one, the option.
    let receive = operation(
        "op-receive-configured",
        "RECEIVE",
        json!({"queue": configured, "maxMessages": 10, "visibilityTimeoutSeconds": 600}),
    );
    send_bodies(&named_url, &["named wins".to_owned()]).await;
    let results = execute(
        &plugin,
        &connection,
        &receive,
        vec![
            Document::new("").with_property("sqs.queue", named.clone()),
            Document::new(""),
        ],
    )
    .await;
    let texts = |i: usize| -> Vec<String> {
        results[i]
            .outputs
            .iter()
            .map(|d| d.text().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(0), ["named wins"], "{results:#?}");
    assert_eq!(texts(1), ["from the option"], "{results:#?}");

    // A queue that does not exist is named in the result, with the region it was looked up in.
    let missing = unique_queue("orders-eu");
    let results = execute(
        &plugin,
        &connection,
        &receive,
        vec![Document::new("").with_property("sqs.queue", missing.clone())],
    )
    .await;
    assert_eq!(results[0].status_code.as_deref(), Some("QueueDoesNotExist"));
    let message = results[0].message.clone().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "queue {missing} does not exist in region us-east-1"
        )),
        "{message}"
    );
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_takes_the_queue_from_sqs_queue_by_name_or_url() {
    let name = unique_queue("delete-by-property");
    let url = create_queue(&name, &[]).await;
    let bodies: Vec<String> = (0..4).map(|i| format!("delete me {i}")).collect();
    send_bodies(&url, &bodies).await;
    let received = drain_visible(&url, 600).await;
    assert_eq!(received.len(), 4);
    let handle = |i: usize| received[i].receipt_handle().unwrap().to_owned();
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-delete-property");
    declared::assert_input_declared("DELETE", "sqs.queue");
    declared::assert_input_declared("DELETE", "sqs.queueUrl");
    // The operation names no queue: each document does.
    let delete = operation("op-delete", "DELETE", json!({}));
    let results = execute(
        &plugin,
        &connection,
        &delete,
        vec![
            Document::new("")
                .with_property("sqs.receiptHandle", handle(0))
                .with_property("sqs.queue", name.clone()),
            Document::new("")
                .with_property("sqs.receiptHandle", handle(1))
                .with_property("sqs.queue", url.clone()),
            // sqs.queueUrl wins over a wrong sqs.queue.
            Document::new("")
                .with_property("sqs.receiptHandle", handle(2))
                .with_property("sqs.queueUrl", url.clone())
                .with_property("sqs.queue", unique_queue("not-this-one")),
            Document::new("").with_property("sqs.receiptHandle", handle(3)),
        ],
    )
    .await;
    assert_eq!(
        results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [
            ResultStatus::Success,
            ResultStatus::Success,
            ResultStatus::Success,
            ResultStatus::ApplicationError
        ],
        "{results:#?}"
    );
    assert_eq!(results[3].status_code.as_deref(), Some("MissingQueue"));
    for result in &results[..3] {
        assert_eq!(
            result.outputs[0].property("sqs.queueUrl"),
            Some(url.as_str())
        );
    }
    assert_eq!(
        held(&sqs_client(), &url).await,
        1,
        "three deleted, the one without a queue left"
    );
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_url_in_another_region_is_used_in_its_own_region() {
    // The queue exists only in eu-west-1 of the one moto server; the connection is in us-east-1.
    let name = unique_queue("orders-eu");
    let eu = client_in("eu-west-1");
    let local_url = eu
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let account = local_url.rsplit('/').nth(1).unwrap().to_owned();
    let aws_url = format!("https://sqs.eu-west-1.amazonaws.com/{account}/{name}");
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-other-region");

    let send = operation("op-send-eu", "SEND", json!({"queue": aws_url}));
    let sent = execute(
        &plugin,
        &connection,
        &send,
        vec![Document::new("to eu 1"), Document::new("to eu 2")],
    )
    .await;
    assert!(
        sent.iter().all(|r| r.status == ResultStatus::Success),
        "{sent:#?}"
    );
    assert_eq!(held(&eu, &local_url).await, 2, "both are on the eu queue");
    declared::assert_outputs_declared("SEND", sent.iter().flat_map(|r| &r.outputs), &[]);

    let receive = operation(
        "op-receive-eu",
        "RECEIVE",
        json!({"queue": aws_url, "maxMessages": 10, "visibilityTimeoutSeconds": 600}),
    );
    let received = execute(&plugin, &connection, &receive, vec![Document::new("")]).await;
    assert_eq!(received[0].status, ResultStatus::Success, "{received:#?}");
    assert_eq!(received[0].outputs.len(), 2);
    // RECEIVE's outputs flow into DELETE, which uses the URL's region too.
    let delete = operation("op-delete-eu", "DELETE", json!({}));
    let deleted = execute(&plugin, &connection, &delete, received[0].outputs.clone()).await;
    assert!(
        deleted.iter().all(|r| r.status == ResultStatus::Success),
        "{deleted:#?}"
    );
    assert_eq!(held(&eu, &local_url).await, 0, "both were deleted");
    let carried: Vec<&str> = received[0].outputs[0]
        .properties
        .keys()
        .map(String::as_str)
        .collect();
    declared::assert_outputs_declared("DELETE", deleted.iter().flat_map(|r| &r.outputs), &carried);
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn send_needs_no_permission_to_read_the_queues_attributes() {
    let name = unique_queue("least-privilege");
    let url = create_queue(&name, &[]).await;
    let mut config = FaultProxyConfig::new(sqs_endpoint());
    config.rules = vec![
        "access-denied@GetQueueAttributes"
            .parse::<FaultRule>()
            .unwrap(),
    ];
    let proxy = FaultProxy::start(config).await.expect("the proxy starts");
    let connection: connector_sdk::Component = serde_json::from_value(access_key_component(
        "conn-least-privilege",
        &proxy.url(),
        MOTO_SECRET,
    ))
    .unwrap();
    let plugin = start_plugin().await;
    let send = operation("op-send-lp", "SEND", json!({"queue": name}));
    let too_big = "x".repeat(1_048_577);
    for round in 0..2 {
        let results = execute(
            &plugin,
            &connection,
            &send,
            vec![
                Document::new(format!("allowed {round}")),
                Document::new(too_big.clone()),
                Document::new(format!("allowed too {round}")),
            ],
        )
        .await;
        assert_eq!(results[0].status, ResultStatus::Success, "{results:#?}");
        assert_eq!(results[2].status, ResultStatus::Success, "{results:#?}");
        assert_eq!(results[1].status, ResultStatus::ApplicationError);
        assert_eq!(results[1].status_code.as_deref(), Some("MessageTooLong"));
        assert!(
            results[1]
                .message
                .as_deref()
                .is_some_and(|m| m.contains("1048576")),
            "{:?}",
            results[1].message
        );
    }
    assert_eq!(held(&sqs_client(), &url).await, 4, "four messages arrived");
    let refused = proxy
        .stats()
        .faults(test_harness::fault_proxy::FaultKind::AccessDenied);
    assert_eq!(
        refused, 1,
        "the attributes are asked for once, then not again"
    );
    plugin.shutdown().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let said = plugin
        .logs()
        .iter()
        .filter(|l| l.contains("may not read this queue's attributes"))
        .count();
    assert_eq!(said, 1, "said once in the log");
}
