//! The checked-in descriptors match what the config types generate.

#[test]
fn checked_in_descriptors_are_current() {
    let dir = test_harness::descriptors::default_dir();
    let stale = test_harness::descriptors::stale(&dir);
    assert!(
        stale.is_empty(),
        "descriptors/{} is stale: the config types changed. Regenerate it with:\n    {}\nand commit the result.",
        stale.join(", descriptors/"),
        test_harness::descriptors::WRITE_COMMAND
    );
}

#[test]
fn the_descriptor_is_valid_json_schema_and_marks_secrets() {
    let (_, text) = test_harness::descriptors::generated().remove(0);
    let descriptor: serde_json::Value = serde_json::from_str(&text).unwrap();
    let fields = &descriptor["connection"]["fields"];
    connector_sdk::validate::FieldValidator::new(fields.clone()).expect("valid JSON Schema");
    for secret in [
        "secretKey",
        "sessionToken",
        "privateKey",
        "privateKeyPassphrase",
    ] {
        let field = &fields["properties"][secret];
        assert_eq!(
            field["writeOnly"], true,
            "{secret} must be writeOnly: {field}"
        );
        assert_eq!(
            field["x-secret"], true,
            "{secret} must be x-secret: {field}"
        );
    }
}
