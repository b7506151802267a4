//! The 60-second rule end to end, in a test binary of its own: credentials issued for 64 seconds
//! leave a window of three to four seconds (the expiry is written in whole seconds), which the
//! busy neighbours of `roles_anywhere.rs` could eat. (61 seconds left less than one: on a loaded
//! machine the first call already found them expiring and asked for a second session.)

mod support;

use std::time::Duration;

use connector_sdk::ResultStatus;
use support::roles_anywhere::*;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn credentials_with_less_than_sixty_seconds_left_are_renewed() {
    let queue = unique_queue("ra-64");
    create_queue(&queue, &[]).await;
    let emulator = emulator(Some(64)).await;
    let plugin = start_plugin().await;
    let connection = ra_connection("conn-ra-64", ra_fields(&emulator.url(), &sqs_endpoint()));
    assert_eq!(
        send_one(&plugin, &connection, &queue, "first").await.status,
        ResultStatus::Success
    );
    assert_eq!(emulator.stats().accepted, 1);
    // Past the window: under 60 seconds are left.
    tokio::time::sleep(Duration::from_secs(5)).await;
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
