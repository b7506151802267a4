//! The component model: connection and operation components as a host stores them.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroize;

/// The stable id of a component (`conn-orders-prod`). Caches are keyed by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ComponentId(String);

impl ComponentId {
    /// Wraps an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ComponentId {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// Whether a component is a connection (an account) or an operation (an action and its options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    /// One account: credentials, regions, endpoints.
    Connection,
    /// One action (for example SEND) and its options.
    Operation,
}

/// A component as the plugin protocol carries it: id, connector, kind and fields.
///
/// `Debug` prints the field keys only, never their values, because fields hold secrets.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// The stable id.
    pub id: ComponentId,
    /// The connector this component belongs to (`amazon-sqs`).
    pub connector: String,
    /// Connection or operation.
    pub kind: ComponentKind,
    /// The operation type (`SEND`), for operations only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_type: Option<String>,
    /// The field values, keyed by field key.
    #[serde(default)]
    pub fields: Map<String, Value>,
}

impl Component {
    /// A connection component.
    pub fn connection(
        id: impl Into<String>,
        connector: impl Into<String>,
        fields: Map<String, Value>,
    ) -> Self {
        Self {
            id: ComponentId::new(id),
            connector: connector.into(),
            kind: ComponentKind::Connection,
            operation_type: None,
            fields,
        }
    }

    /// An operation component of the given type.
    pub fn operation(
        id: impl Into<String>,
        connector: impl Into<String>,
        operation_type: impl Into<String>,
        fields: Map<String, Value>,
    ) -> Self {
        Self {
            id: ComponentId::new(id),
            connector: connector.into(),
            kind: ComponentKind::Operation,
            operation_type: Some(operation_type.into()),
            fields,
        }
    }
}

/// The field values' text is wiped when a component is dropped: connection fields hold
/// secrets, and a component is not told which.
impl Drop for Component {
    fn drop(&mut self) {
        for value in self.fields.values_mut() {
            wipe(value);
        }
    }
}

/// Overwrites every string in `value` with zeros: for a host's own copies of component fields,
/// which may hold secrets (a [`Component`] wipes its fields itself when dropped).
#[cfg_attr(not(feature = "host"), allow(unreachable_pub))]
pub fn wipe(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(members) => members.values_mut().for_each(wipe),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

impl fmt::Debug for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Component")
            .field("id", &self.id)
            .field("connector", &self.connector)
            .field("kind", &self.kind)
            .field("operation_type", &self.operation_type)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wiping_overwrites_every_string_of_a_value() {
        let mut value = serde_json::json!({
            "secretKey": "very-secret-value",
            "nested": [{"token": "abc"}, 7, true, null]
        });
        wipe(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"secretKey": "", "nested": [{"token": ""}, 7, true, null]})
        );
    }

    #[test]
    fn debug_shows_field_keys_but_not_values() {
        let fields =
            serde_json::json!({"accessKey": "AKIDEXAMPLE", "secretKey": "very-secret-value"});
        let component =
            Component::connection("conn-1", "amazon-sqs", fields.as_object().unwrap().clone());
        let text = format!("{component:?}");
        assert!(text.contains("secretKey"), "{text}");
        assert!(!text.contains("very-secret-value"), "{text}");
    }

    #[test]
    fn round_trips_the_protocol_shape() {
        let json = r#"{"id":"op-send","connector":"amazon-sqs","kind":"operation","operationType":"SEND","fields":{"queue":"orders"}}"#;
        let component: Component = serde_json::from_str(json).unwrap();
        assert_eq!(component.kind, ComponentKind::Operation);
        assert_eq!(component.operation_type.as_deref(), Some("SEND"));
        assert_eq!(serde_json::to_string(&component).unwrap(), json);
    }
}
