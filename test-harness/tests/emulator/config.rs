//! Loading the configuration: the example file, defaults, and refused mistakes.

use serde_json::json;
use test_harness::emulator::{Config, EmulatorError};

use super::common::*;

#[test]
fn example_config_loads_with_defaults() {
    let config = Config::load(&emu("config.json")).expect("the example configuration loads");
    assert_eq!(config.region, "eu-central-1");
    assert_eq!(config.clock_skew_seconds, 300);
    assert_eq!(config.now, None);
    assert_eq!(config.credential_lifetime_seconds, None);
    assert_eq!(config.trust_anchors.len(), 1);
    assert_eq!(config.trust_anchors[0].arn.text, ANCHOR);
    assert_eq!(config.trust_anchors[0].certificates.len(), 4);
    assert!(config.trust_anchors[0].enabled);
    assert_eq!(config.profiles[0].arn.text, PROFILE);
    assert_eq!(config.profiles[0].role_arns, [ROLE]);
    assert!(config.profiles[0].accept_role_session_name);

    let config = Config::from_json(test_config(), &fixtures()).expect("test configuration");
    assert_eq!(config.now, Some(1_795_651_200));
    let no_session_name = config
        .profiles
        .iter()
        .find(|p| p.arn.text == PROFILE_NO_SESSION_NAME)
        .expect("profile");
    assert_eq!(no_session_name.duration_seconds, 3600);
    assert!(!no_session_name.accept_role_session_name && no_session_name.enabled);
}

#[test]
fn mistakes_in_the_configuration_are_refused() {
    let refused =
        |value: serde_json::Value, fragment: &str| match Config::from_json(value, &fixtures()) {
            Err(EmulatorError::Config(message)) => {
                assert!(
                    message.contains(fragment),
                    "{message:?} should contain {fragment:?}"
                )
            }
            other => panic!("expected a configuration error with {fragment:?}, got {other:?}"),
        };
    refused(
        json!({"region": "eu-central-1", "typo": 1}),
        "unknown field `typo`",
    );
    refused(json!({"region": "Europe"}), "not a region name");
    refused(
        json!({"region": "eu-central-1", "now": "yesterday"}),
        "not an RFC 3339 time",
    );
    refused(
        json!({"region": "eu-central-1", "credentialLifetimeSeconds": 0}),
        "at least 1",
    );
    refused(
        json!({"region": "eu-central-1", "trustAnchors": [{"arn": PROFILE, "certificates": ["x.pem"]}]}),
        "is not a trust anchor ARN",
    );
    refused(
        json!({"region": "us-east-1", "trustAnchors": [{"arn": ANCHOR, "certificates": ["emulator/ca-cert.pem"]}]}),
        "is not in the emulator's region",
    );
    refused(
        json!({"region": "eu-central-1", "trustAnchors": [{"arn": ANCHOR, "certificates": ["emulator/missing.pem"]}]}),
        "cannot read",
    );
    refused(
        json!({"region": "eu-central-1", "trustAnchors": [{"arn": ANCHOR, "certificates": ["emulator/leaf-key.pem"]}]}),
        "holds no CERTIFICATE block",
    );
    refused(
        json!({"region": "eu-central-1", "profiles": [{"arn": PROFILE, "roleArns": ["role"]}]}),
        "is not an IAM role ARN",
    );
    refused(
        json!({"region": "eu-central-1", "profiles": [{"arn": PROFILE, "roleArns": [ROLE], "durationSeconds": 60}]}),
        "durationSeconds must be in 900..43200",
    );
}
