//! What the descriptor declares of each operation's document properties, to check that what an
//! operation really reads and writes is declared.

#![allow(dead_code)]

/// The property names an operation declares under `key` (`inputProperties` or
/// `outputProperties`), as written (`sqs.attribute.<Name>` included).
pub(crate) fn declared(operation_type: &str, key: &str) -> Vec<String> {
    let connector = sqs_connector::connector();
    let descriptor = serde_json::to_value(connector.descriptor()).expect("the descriptor as JSON");
    let operations = descriptor["operations"]
        .as_array()
        .expect("the descriptor lists operations")
        .clone();
    let operation = operations
        .iter()
        .find(|o| o["type"] == operation_type)
        .unwrap_or_else(|| panic!("the descriptor has no operation {operation_type}"));
    operation[key]
        .as_array()
        .unwrap_or_else(|| panic!("{operation_type} has no {key}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether `property` is among `declared`, where `prefix.<Name>` stands for any name.
pub(crate) fn is_declared(property: &str, declared: &[String]) -> bool {
    declared.iter().any(|d| match d.strip_suffix("<Name>") {
        Some(prefix) => property.starts_with(prefix) && property.len() > prefix.len(),
        None => d == property,
    })
}

/// Panics naming each property of `documents` that `operation_type` does not declare under
/// `outputProperties`, except those the input documents already carried (`carried`).
pub(crate) fn assert_outputs_declared<'a>(
    operation_type: &str,
    documents: impl IntoIterator<Item = &'a connector_sdk::Document>,
    carried: &[&str],
) {
    let declared = declared(operation_type, "outputProperties");
    for document in documents {
        for key in document.properties.keys() {
            assert!(
                carried.contains(&key.as_str()) || is_declared(key, &declared),
                "{operation_type} writes {key}, which its descriptor does not declare: {declared:?}"
            );
        }
    }
}

/// Panics when `operation_type` does not declare `property` under `inputProperties`.
pub(crate) fn assert_input_declared(operation_type: &str, property: &str) {
    let declared = declared(operation_type, "inputProperties");
    assert!(
        is_declared(property, &declared),
        "{operation_type} reads {property}, which its descriptor does not declare: {declared:?}"
    );
}
