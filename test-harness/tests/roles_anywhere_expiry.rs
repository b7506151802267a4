//! The 60-second rule end to end, in a test binary of its own: credentials issued for 61 seconds
//! leave a one-second window, which the busy neighbours of `roles_anywhere.rs` could eat.

mod support;

use std::time::Duration;

use connector_sdk::ResultStatus;
use support::roles_anywhere::*;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn credentials_with_less_than_sixty_seconds_left_are_renewed() {
    let queue = unique_queue("ra-61");
    create_queue(&queue, &[]).await;
    let emulator = emulator(Some(61)).await;
    let plugin = start_plugin().await;
    let connection = ra_connection("conn-ra-61", ra_fields(&emulator.url(), &sqs_endpoint()));
    assert_eq!(
        send_one(&plugin, &connection, &queue, "first").await.status,
        ResultStatus::Success
    );
    assert_eq!(emulator.stats().accepted, 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        send_one(&plugin, &connection, &queue, "second")
            .await
            .status,
        ResultStatus::Success
    );
    assert_eq!(
        emulator.stats().accepted,
        2,
        "59 s left counts as expired: a new CreateSession"
    );
    plugin.shutdown().await.unwrap();
}
