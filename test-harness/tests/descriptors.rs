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

/// Every number a user can enter has a minimum and a maximum in the descriptor, so the host's
/// form and its validation refuse what the plugin would refuse.
#[test]
fn every_number_field_has_a_minimum_and_a_maximum() {
    let (_, text) = test_harness::descriptors::generated().remove(0);
    let descriptor: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut unbounded = Vec::new();
    let mut numbers = 0;
    walk(&descriptor, "", &mut |path, schema| {
        let types: Vec<&str> = match &schema["type"] {
            serde_json::Value::String(one) => vec![one.as_str()],
            serde_json::Value::Array(many) => many.iter().filter_map(|t| t.as_str()).collect(),
            _ => Vec::new(),
        };
        if types.iter().any(|t| matches!(*t, "integer" | "number")) {
            numbers += 1;
            if schema.get("minimum").is_none() || schema.get("maximum").is_none() {
                unbounded.push(format!("{path} (a number without minimum and maximum)"));
            }
        }
    });
    assert!(
        numbers >= 8,
        "expected the SQS descriptor's number fields; found {numbers}"
    );
    assert!(unbounded.is_empty(), "unbounded fields: {unbounded:#?}");
}

fn walk(value: &serde_json::Value, path: &str, visit: &mut dyn FnMut(&str, &serde_json::Value)) {
    match value {
        serde_json::Value::Object(map) => {
            visit(path, value);
            for (key, child) in map {
                walk(child, &format!("{path}/{key}"), visit);
            }
        }
        serde_json::Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                walk(child, &format!("{path}/{index}"), visit);
            }
        }
        _ => {}
    }
}
