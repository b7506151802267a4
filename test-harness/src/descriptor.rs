//! What a host checks against the descriptor a plugin published at `initialize`: a component's
//! fields, before anything is sent.

use connector_sdk::validate::FieldValidator;
use connector_sdk::{Component, ComponentKind, FieldError};
use serde_json::Value;

fn field_error(field: &str, label: &str, message: String) -> Vec<FieldError> {
    vec![FieldError {
        field: field.into(),
        label: label.into(),
        message,
    }]
}

/// The descriptor entry of an operation type, when the connector has it.
pub fn operation<'a>(descriptor: &'a Value, operation_type: &str) -> Option<&'a Value> {
    descriptor["operations"]
        .as_array()?
        .iter()
        .find(|op| op["type"].as_str() == Some(operation_type))
}

/// Whether an operation component's type takes input documents (RECEIVE does not).
pub fn takes_input(descriptor: &Value, component: &Component) -> bool {
    operation(
        descriptor,
        component.operation_type.as_deref().unwrap_or_default(),
    )
    .and_then(|op| op["takesInput"].as_bool())
    .unwrap_or(true)
}

/// Checks a component's fields against the schema of its kind (and operation type).
pub fn check(descriptor: &Value, component: &Component) -> Result<(), Vec<FieldError>> {
    let connector = descriptor["id"].as_str().unwrap_or_default();
    if component.connector != connector {
        return Err(field_error(
            "connector",
            "Connector",
            format!(
                "the component is for connector \"{}\", but the plugin is \"{connector}\"",
                component.connector
            ),
        ));
    }
    let schema = match component.kind {
        ComponentKind::Connection => descriptor["connection"]["fields"].clone(),
        ComponentKind::Operation => {
            let op_type = component.operation_type.as_deref().unwrap_or_default();
            match operation(descriptor, op_type) {
                Some(op) => op["fields"].clone(),
                None => {
                    return Err(field_error(
                        "operationType",
                        "Operation type",
                        format!("\"{op_type}\" is not an operation of this connector"),
                    ));
                }
            }
        }
    };
    let validator = FieldValidator::new(schema).map_err(|e| {
        field_error(
            "",
            "",
            format!("the plugin's descriptor is not valid JSON Schema: {e}"),
        )
    })?;
    validator.validate(&component.fields).map(|_| ())
}

/// [`check`] for a component that must be a connection.
pub fn check_connection(descriptor: &Value, component: &Component) -> Result<(), Vec<FieldError>> {
    if component.kind != ComponentKind::Connection {
        return Err(field_error(
            "kind",
            "Kind",
            format!("component {} is not a connection component", component.id),
        ));
    }
    check(descriptor, component)
}
