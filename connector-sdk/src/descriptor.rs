//! The connector descriptor: what a plugin publishes at `initialize` and a host reads to render
//! forms and check components before it sends them.
//!
//! One typed value serves both sides. The plugin's [`Connector`](crate::Connector) builds it
//! from its connection and operation types; a host receives it in
//! the `initialize` result (`host::PluginProcess::descriptor`, or reads the checked-in file) and
//! checks components with [`Descriptor::validate`], with the same rules and messages the plugin
//! applies. Each schema's validator is compiled once, on first use, and shared by clones.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::component::{Component, ComponentKind};
use crate::error::FieldError;
use crate::validate::{FieldValidator, key_label};

/// A connector's descriptor, as the files in `descriptors/` hold it.
///
/// Read leniently, as a host reads what a plugin sent: a member it does not know is skipped and
/// one that is missing takes its default (an operation takes input unless it says otherwise).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Descriptor {
    /// The id components name in their `connector` (`amazon-sqs`).
    pub id: String,
    /// The name users see.
    pub name: String,
    /// The connector's version.
    pub version: String,
    /// One sentence about what it connects to.
    pub description: String,
    /// The highest protocol version the plugin speaks.
    pub protocol_version: String,
    /// The connection component's fields.
    pub connection: ConnectionDescriptor,
    /// Each operation type, in the connector's order.
    pub operations: Vec<OperationDescriptor>,
}

/// The connection component of a descriptor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ConnectionDescriptor {
    /// The JSON Schema of its fields.
    pub fields: FieldSchema,
}

/// One operation type of a descriptor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct OperationDescriptor {
    /// The operation type components name (`SEND`).
    #[serde(rename = "type")]
    pub operation_type: String,
    /// The name users see.
    pub label: String,
    /// What it does.
    pub description: String,
    /// Whether it takes input documents (a RECEIVE-like operation is called with one trigger
    /// document instead).
    #[serde(default = "yes")]
    pub takes_input: bool,
    /// The JSON Schema of its fields.
    pub fields: FieldSchema,
    /// Document properties it reads.
    pub input_properties: Vec<PropertyDescriptor>,
    /// Document properties it writes.
    pub output_properties: Vec<PropertyDescriptor>,
    /// Whether it is a listener (protocol 1.1 `listen`) rather than an execute operation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub listener: bool,
}

/// A document property an operation reads or writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PropertyDescriptor {
    /// The property's name (`sqs.messageGroupId`).
    pub name: String,
    /// What it means.
    pub description: String,
}

/// The JSON Schema of a component's fields, with its validator compiled on first use.
///
/// Serializes as the schema itself.
#[derive(Clone)]
pub struct FieldSchema {
    schema: Value,
    compiled: Arc<OnceLock<Result<FieldValidator, String>>>,
}

impl FieldSchema {
    /// A field schema; not compiled until first used.
    pub fn new(schema: Value) -> Self {
        Self {
            schema,
            compiled: Arc::new(OnceLock::new()),
        }
    }

    /// The schema.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Compiles the schema (once): why not, when it is not valid JSON Schema.
    pub fn compiles(&self) -> Result<(), &str> {
        self.validator().map(|_| ())
    }

    /// The schema's validator, compiled once; why not when the schema is not valid JSON Schema.
    pub(crate) fn validator(&self) -> Result<&FieldValidator, &str> {
        self.compiled
            .get_or_init(|| FieldValidator::new(self.schema.clone()))
            .as_ref()
            .map_err(String::as_str)
    }

    /// The fields as the connector sees them (blanks removed, defaults filled in), or every
    /// field error.
    pub fn validate(
        &self,
        fields: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Vec<FieldError>> {
        match self.validator() {
            Ok(validator) => validator.validate(fields),
            Err(why) => Err(vec![FieldError {
                field: String::new(),
                label: String::new(),
                message: format!("the connector's descriptor is not valid JSON Schema: {why}"),
            }]),
        }
    }
}

fn yes() -> bool {
    true
}

impl Default for FieldSchema {
    /// A schema of an object that takes any field.
    fn default() -> Self {
        Self::new(serde_json::json!({"type": "object"}))
    }
}

/// Two field schemas are equal when their schemas are.
impl PartialEq for FieldSchema {
    fn eq(&self, other: &Self) -> bool {
        self.schema == other.schema
    }
}

impl std::fmt::Debug for FieldSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.schema.fmt(f)
    }
}

impl Serialize for FieldSchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.schema.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for FieldSchema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Self::new)
    }
}

impl Descriptor {
    /// The operation type called `operation_type`, if the connector has it.
    pub fn operation(&self, operation_type: &str) -> Option<&OperationDescriptor> {
        self.operations
            .iter()
            .find(|op| op.operation_type == operation_type)
    }

    /// Whether operations of this type take input documents (true for a type the connector does
    /// not have: its components are refused anyway).
    pub fn takes_input(&self, operation_type: &str) -> bool {
        self.operation(operation_type)
            .is_none_or(|op| op.takes_input)
    }

    /// Checks a component, whatever its kind: that it belongs to this connector, that an
    /// operation's type exists, and its fields against the schema; every error at once. Returns
    /// the fields as the connector will see them.
    pub fn validate(&self, component: &Component) -> Result<Map<String, Value>, Vec<FieldError>> {
        self.validate_as(component, component.kind)
    }

    /// [`Descriptor::validate`] for a component that must be a connection.
    pub fn validate_connection(
        &self,
        component: &Component,
    ) -> Result<Map<String, Value>, Vec<FieldError>> {
        self.validate_as(component, ComponentKind::Connection)
    }

    /// [`Descriptor::validate`] for a component that must be an operation.
    pub fn validate_operation(
        &self,
        component: &Component,
    ) -> Result<Map<String, Value>, Vec<FieldError>> {
        self.validate_as(component, ComponentKind::Operation)
    }

    fn validate_as(
        &self,
        component: &Component,
        kind: ComponentKind,
    ) -> Result<Map<String, Value>, Vec<FieldError>> {
        self.check_identity(component, kind)?;
        match kind {
            ComponentKind::Connection => self.connection.fields.validate(&component.fields),
            ComponentKind::Operation => self
                .operation_of(component)?
                .fields
                .validate(&component.fields),
        }
    }

    /// Checks that `component` belongs to this connector and is of `kind` (both errors at once),
    /// without looking at its fields.
    pub fn check_identity(
        &self,
        component: &Component,
        kind: ComponentKind,
    ) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if component.connector != self.id {
            errors.push(FieldError {
                field: "connector".into(),
                label: "Connector".into(),
                message: format!(
                    "component {} belongs to connector \"{}\", not to \"{}\"",
                    component.id, component.connector, self.id
                ),
            });
        }
        if component.kind != kind {
            errors.push(FieldError {
                field: "kind".into(),
                label: "Kind".into(),
                message: format!(
                    "component {} is a {:?} component where a {kind:?} component is needed",
                    component.id, component.kind
                ),
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The operation type an operation component names; an error listing the connector's types
    /// when it has no such type.
    pub fn operation_of(
        &self,
        component: &Component,
    ) -> Result<&OperationDescriptor, Vec<FieldError>> {
        let name = component.operation_type.as_deref().unwrap_or_default();
        self.operation(name).ok_or_else(|| {
            let mut known: Vec<&str> = self
                .operations
                .iter()
                .map(|op| op.operation_type.as_str())
                .collect();
            known.sort_unstable();
            vec![FieldError {
                field: "operationType".into(),
                label: "Operation type".into(),
                message: format!(
                    "operation component {} has operation type \"{}\"; this connector has {}",
                    component.id,
                    key_label(name),
                    known.join(", ")
                ),
            }]
        })
    }

    /// The descriptor as the checked-in file holds it: pretty JSON with a final newline.
    pub fn file_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn descriptor() -> Descriptor {
        serde_json::from_value(json!({
            "id": "files",
            "name": "Files",
            "version": "1.0.0",
            "description": "Files in a directory.",
            "protocolVersion": "1.1",
            "connection": {"fields": {
                "type": "object",
                "properties": {"directory": {"type": "string", "title": "Directory"}},
                "required": ["directory"],
                "additionalProperties": false
            }},
            "operations": [{
                "type": "WRITE",
                "label": "Write",
                "description": "Writes files.",
                "takesInput": true,
                "fields": {"type": "object", "properties": {}, "additionalProperties": false},
                "inputProperties": [{"name": "file.name", "description": "The file's name."}],
                "outputProperties": []
            }, {
                "type": "WATCH",
                "label": "Watch",
                "description": "Watches.",
                "takesInput": false,
                "fields": {"type": "object", "properties": {}},
                "inputProperties": [],
                "outputProperties": [],
                "listener": true,
                "somethingNewer": 1
            }]
        }))
        .expect("a descriptor")
    }

    #[test]
    fn it_reads_and_writes_the_same_json_and_skips_what_it_does_not_know() {
        let descriptor = descriptor();
        let text = descriptor.file_text();
        let again: Descriptor = serde_json::from_str(&text).expect("its own text");
        assert_eq!(again.file_text(), text);
        assert!(text.contains("\"listener\": true"));
        assert_eq!(text.matches("listener").count(), 1, "only where it is true");
        assert!(!text.contains("somethingNewer"));
        assert!(descriptor.takes_input("WRITE"));
        assert!(!descriptor.takes_input("WATCH"));
        assert!(descriptor.operation("WATCH").is_some_and(|op| op.listener));
    }

    #[test]
    fn components_are_checked_with_every_error_naming_its_field() {
        let descriptor = descriptor();
        let good = Component::connection(
            "c",
            "files",
            json!({"directory": "/tmp"}).as_object().unwrap().clone(),
        );
        assert!(descriptor.validate(&good).is_ok());
        assert!(descriptor.validate_connection(&good).is_ok());
        let wrong = descriptor.validate_operation(&good).unwrap_err();
        assert_eq!(wrong[0].field, "kind");

        let elsewhere = Component::connection("c", "other", Map::new());
        let errors = descriptor.validate(&elsewhere).unwrap_err();
        assert_eq!(errors[0].field, "connector");
        assert!(errors[0].message.contains("\"other\""), "{errors:?}");

        let missing = Component::connection("c", "files", Map::new());
        let errors = descriptor.validate(&missing).unwrap_err();
        assert_eq!(errors[0].field, "directory", "{errors:?}");

        let unknown = Component::operation("o", "files", "READ", Map::new());
        let errors = descriptor.validate(&unknown).unwrap_err();
        assert_eq!(errors[0].field, "operationType");
        assert!(
            errors[0]
                .message
                .ends_with("this connector has WATCH, WRITE"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_schema_is_compiled_once_and_shared_by_clones() {
        let descriptor = descriptor();
        let first = descriptor.connection.fields.validator().expect("compiles") as *const _;
        let copy = descriptor.clone();
        let second = copy.connection.fields.validator().expect("compiles") as *const _;
        assert_eq!(first, second);
    }

    #[test]
    fn a_schema_that_is_not_json_schema_is_a_clear_error() {
        let broken = FieldSchema::new(json!({"type": 12}));
        let errors = broken.validate(&Map::new()).unwrap_err();
        assert!(
            errors[0].message.contains("not valid JSON Schema"),
            "{errors:?}"
        );
    }
}
