//! A component as the studio's page edits it (a [`Draft`]), and how its fields become a
//! protocol component, a component file, or what the page is shown.
//!
//! In a draft, a field is its value, or a reference `{"env": "NAME"}` / `{"file": "path"}` (a
//! path relative to the component folder, as in a component file). A secret field (the schema
//! marks it `x-secret` or `writeOnly`) is instead one of:
//! - `{"value": "..."}` (or a plain string): a new value, which the studio keeps in its
//!   [`Vault`] under the page's draft id from then on;
//! - `{"keep": true}`: the value the vault holds for this draft and field;
//! - a reference, as above.
//!
//! The page is shown a secret held in the vault as `{"set": true}`, never its value.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::Path;

use connector_sdk::{Component, ComponentId, ComponentKind, Descriptor, FieldError};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

/// How many drafts the vault keeps values for; the oldest is forgotten first.
const MAX_DRAFTS: usize = 64;

/// A component as the page sends it.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Draft {
    /// The page's draft id: the key of the vault's values for this form.
    pub draft: String,
    /// The component id.
    pub id: String,
    /// Connection or operation.
    pub kind: ComponentKind,
    /// The operation type, for operations.
    #[serde(default)]
    pub operation_type: Option<String>,
    /// The fields (see the module's documentation).
    #[serde(default)]
    pub fields: Map<String, Value>,
}

impl std::fmt::Debug for Draft {
    /// The field keys only: the values may be secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Draft")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("operation_type", &self.operation_type)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Drop for Draft {
    fn drop(&mut self) {
        self.fields.values_mut().for_each(wipe);
    }
}

pub(crate) use connector_sdk::host::wipe;

/// The secret values the page handed over, by draft id and field key. Never serialized; its
/// `Debug` shows counts only.
#[derive(Default)]
pub struct Vault {
    drafts: HashMap<String, HashMap<String, Zeroizing<String>>>,
    order: VecDeque<String>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({} drafts)", self.drafts.len())
    }
}

impl Vault {
    /// Keeps `value` for a draft's field.
    pub fn put(&mut self, draft: &str, field: &str, value: Zeroizing<String>) {
        if !self.drafts.contains_key(draft) {
            if self.order.len() >= MAX_DRAFTS
                && let Some(oldest) = self.order.pop_front()
            {
                self.drafts.remove(&oldest);
            }
            self.order.push_back(draft.to_owned());
        }
        self.drafts
            .entry(draft.to_owned())
            .or_default()
            .insert(field.to_owned(), value);
    }

    /// The value kept for a draft's field.
    pub fn get(&self, draft: &str, field: &str) -> Option<&Zeroizing<String>> {
        self.drafts.get(draft)?.get(field)
    }
}

/// The schema of a component's fields in the descriptor: the connection's, or its operation
/// type's.
pub fn schema<'a>(
    descriptor: &'a Descriptor,
    kind: ComponentKind,
    operation_type: Option<&str>,
) -> Option<&'a Value> {
    match kind {
        ComponentKind::Connection => Some(descriptor.connection.fields.schema()),
        ComponentKind::Operation => descriptor
            .operation(operation_type?)
            .map(|op| op.fields.schema()),
    }
}

/// The keys of the secret fields of a schema (`x-secret` or `writeOnly`).
pub fn secret_keys(schema: &Value) -> BTreeSet<String> {
    schema["properties"]
        .as_object()
        .map(|properties| {
            properties
                .iter()
                .filter(|(_, p)| p["x-secret"] == json!(true) || p["writeOnly"] == json!(true))
                .map(|(key, _)| key.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A field's label (`title`), or its key.
pub fn label(schema: &Value, key: &str) -> String {
    schema["properties"][key]["title"]
        .as_str()
        .unwrap_or(key)
        .to_owned()
}

/// A reference `{"env": NAME}` or `{"file": PATH}`, when `value` is one.
pub fn reference(value: &Value) -> Option<Reference<'_>> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    if let Some(Value::String(name)) = object.get("env") {
        return Some(Reference::Env(name));
    }
    if let Some(Value::String(path)) = object.get("file") {
        return Some(Reference::File(path));
    }
    None
}

/// Where a field's value is kept instead of the component.
#[derive(Debug, Clone, Copy)]
pub enum Reference<'a> {
    /// An environment variable of the studio (and of `test-harness run`).
    Env(&'a str),
    /// A file, relative to the component folder.
    File(&'a str),
}

impl Reference<'_> {
    /// Reads the value; an error says what could not be read (never a value).
    pub fn resolve(self, dir: &Path) -> Result<Zeroizing<String>, String> {
        match self {
            Reference::Env(name) => std::env::var(name)
                .map(Zeroizing::new)
                .map_err(|_| format!("the environment variable {name} is not set for the studio")),
            Reference::File(path) => std::fs::read_to_string(dir.join(path))
                .map(Zeroizing::new)
                .map_err(|e| format!("the file {path} cannot be read: {e}")),
        }
    }
}

/// What a secret field of a draft holds.
enum SecretField<'a> {
    New(&'a str),
    Keep,
    Reference(Reference<'a>),
    Empty,
}

fn secret_field(value: &Value) -> Result<SecretField<'_>, String> {
    if let Some(reference) = reference(value) {
        return Ok(SecretField::Reference(reference));
    }
    match value {
        Value::Null => Ok(SecretField::Empty),
        Value::String(text) if text.is_empty() => Ok(SecretField::Empty),
        Value::String(text) => Ok(SecretField::New(text)),
        Value::Object(object) => {
            if let Some(Value::String(text)) = object.get("value") {
                Ok(if text.is_empty() {
                    SecretField::Empty
                } else {
                    SecretField::New(text)
                })
            } else if object.get("keep") == Some(&json!(true))
                || object.get("set") == Some(&json!(true))
            {
                Ok(SecretField::Keep)
            } else {
                Err("is not a value, {\"keep\": true} or a reference".to_owned())
            }
        }
        _ => Err("is not text".to_owned()),
    }
}

fn error(schema: &Value, field: &str, message: String) -> FieldError {
    FieldError {
        field: field.to_owned(),
        label: label(schema, field),
        message,
    }
}

/// The protocol component a draft stands for: references read (files relative to `dir`), new
/// secrets kept in the vault, kept secrets taken from it. An error per field that cannot be
/// filled in.
pub fn resolve(
    draft: &Draft,
    connector: &str,
    schema: &Value,
    vault: &mut Vault,
    dir: &Path,
) -> Result<Component, Vec<FieldError>> {
    let secrets = secret_keys(schema);
    let mut fields = Map::new();
    let mut errors = Vec::new();
    for (key, value) in &draft.fields {
        if secrets.contains(key) {
            match secret_field(value) {
                Ok(SecretField::New(text)) => {
                    vault.put(&draft.draft, key, Zeroizing::new(text.to_owned()));
                    fields.insert(key.clone(), Value::String(text.to_owned()));
                }
                Ok(SecretField::Keep) => match vault.get(&draft.draft, key) {
                    Some(kept) => {
                        fields.insert(key.clone(), Value::String(kept.to_string()));
                    }
                    None => errors.push(error(
                        schema,
                        key,
                        "the value set earlier is no longer held by the studio (it was \
                         restarted, or the page reloaded): type it again"
                            .to_owned(),
                    )),
                },
                Ok(SecretField::Reference(reference)) => match reference.resolve(dir) {
                    Ok(text) => {
                        fields.insert(key.clone(), Value::String(text.to_string()));
                    }
                    Err(message) => errors.push(error(schema, key, message)),
                },
                Ok(SecretField::Empty) => {}
                Err(message) => errors.push(error(schema, key, message)),
            }
            continue;
        }
        if let Some(reference) = reference(value) {
            match reference.resolve(dir) {
                Ok(text) => {
                    fields.insert(key.clone(), Value::String(text.to_string()));
                }
                Err(message) => errors.push(error(schema, key, message)),
            }
        } else if !value.is_null() {
            fields.insert(key.clone(), value.clone());
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Component {
        id: ComponentId::new(draft.id.clone()),
        connector: connector.to_owned(),
        kind: draft.kind,
        operation_type: draft.operation_type.clone(),
        fields,
    })
}

/// A component file's JSON shown to the page: every secret value replaced by `{"set": true}`
/// and kept in the vault under `draft`; references and other fields as they are.
pub fn mask(file: &Value, schema: &Value, vault: &mut Vault, draft: &str) -> Value {
    let secrets = secret_keys(schema);
    let mut shown = file.clone();
    if let Some(Value::Object(fields)) = shown.get_mut("fields") {
        for (key, value) in fields.iter_mut() {
            if !secrets.contains(key) || reference(value).is_some() {
                continue;
            }
            if let Value::String(text) = value {
                vault.put(draft, key, Zeroizing::new(std::mem::take(text)));
                *value = json!({"set": true});
            } else {
                wipe(value);
                *value = Value::Null;
            }
        }
    }
    shown
}

/// A secret written beside a component file instead of into it.
pub struct SecretFile {
    /// The path relative to the component folder (`secrets/conn-orders.secretKey`).
    pub relative: String,
    /// The value.
    pub value: Zeroizing<String>,
}

impl std::fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretFile")
            .field("relative", &self.relative)
            .finish_non_exhaustive()
    }
}

/// The folder, inside the component folder, of the secrets saved as files.
pub const SECRETS_DIR: &str = "secrets";

/// A draft as a component file: `{"id", "connector", "kind", ["operationType"], "fields"}`,
/// fields in the schema's `x-order`. A secret that is a value is written as a reference to a
/// file of its own under [`SECRETS_DIR`] (returned, to be written), or into the file when
/// `store_secrets`; references stay references.
pub fn to_file(
    draft: &Draft,
    connector: &str,
    schema: &Value,
    vault: &mut Vault,
    store_secrets: bool,
) -> Result<(Value, Vec<SecretFile>), Vec<FieldError>> {
    let secrets = secret_keys(schema);
    let mut fields = Map::new();
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for key in ordered_keys(schema, &draft.fields) {
        let value = &draft.fields[&key];
        if !secrets.contains(&key) {
            if !value.is_null() {
                fields.insert(key.clone(), value.clone());
            }
            continue;
        }
        let secret = match secret_field(value) {
            Ok(SecretField::New(text)) => {
                let kept = Zeroizing::new(text.to_owned());
                vault.put(&draft.draft, &key, kept.clone());
                kept
            }
            Ok(SecretField::Keep) => match vault.get(&draft.draft, &key) {
                Some(kept) => kept.clone(),
                None => {
                    errors.push(error(
                        schema,
                        &key,
                        "the value set earlier is no longer held by the studio: type it again"
                            .to_owned(),
                    ));
                    continue;
                }
            },
            Ok(SecretField::Reference(_)) => {
                fields.insert(key.clone(), value.clone());
                continue;
            }
            Ok(SecretField::Empty) => continue,
            Err(message) => {
                errors.push(error(schema, &key, message));
                continue;
            }
        };
        if store_secrets {
            fields.insert(key.clone(), Value::String(secret.to_string()));
        } else {
            let relative = format!("{SECRETS_DIR}/{}.{key}", draft.id);
            fields.insert(key.clone(), json!({ "file": relative }));
            files.push(SecretFile {
                relative,
                value: secret,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut file = Map::new();
    file.insert("id".into(), json!(draft.id));
    file.insert("connector".into(), json!(connector));
    file.insert("kind".into(), json!(draft.kind));
    if let Some(operation_type) = &draft.operation_type {
        file.insert("operationType".into(), json!(operation_type));
    }
    file.insert("fields".into(), Value::Object(fields));
    Ok((Value::Object(file), files))
}

/// The keys of `fields` in the schema's `x-order`, unknown keys last in their own order.
fn ordered_keys(schema: &Value, fields: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = fields.keys().cloned().collect();
    let position = |key: &String| {
        schema["properties"][key.as_str()]["x-order"]
            .as_u64()
            .unwrap_or(u64::MAX)
    };
    keys.sort_by_key(position);
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"properties": {
            "accessKey": {"type": "string", "title": "Access key", "x-order": 2},
            "secretKey": {"type": "string", "title": "Secret key", "writeOnly": true, "x-secret": true, "x-order": 3},
            "region": {"type": "string", "title": "Region", "x-order": 1}
        }})
    }

    fn draft(fields: Value) -> Draft {
        Draft {
            draft: "d1".into(),
            id: "conn-a".into(),
            kind: ComponentKind::Connection,
            operation_type: None,
            fields: fields.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn a_new_secret_is_kept_and_used_again_by_keep() {
        let mut vault = Vault::default();
        let dir = Path::new(".");
        let first = resolve(
            &draft(json!({"secretKey": {"value": "s3cret-value"}, "region": "us-east-1"})),
            "x",
            &schema(),
            &mut vault,
            dir,
        )
        .unwrap();
        assert_eq!(first.fields["secretKey"], "s3cret-value");
        let again = resolve(
            &draft(json!({"secretKey": {"keep": true}})),
            "x",
            &schema(),
            &mut vault,
            dir,
        )
        .unwrap();
        assert_eq!(again.fields["secretKey"], "s3cret-value");
        let mut other = draft(json!({"secretKey": {"keep": true}}));
        other.draft = "d2".into();
        let errors = resolve(&other, "x", &schema(), &mut vault, dir).unwrap_err();
        assert_eq!(errors[0].field, "secretKey");
        assert_eq!(errors[0].label, "Secret key");
    }

    #[test]
    fn a_masked_file_shows_set_and_keeps_references() {
        let mut vault = Vault::default();
        let file = json!({"id": "c", "fields": {"secretKey": "s3cret-value", "accessKey": "AKIA"}});
        let shown = mask(&file, &schema(), &mut vault, "d9");
        assert_eq!(shown["fields"]["secretKey"], json!({"set": true}));
        assert_eq!(shown["fields"]["accessKey"], "AKIA");
        assert!(!shown.to_string().contains("s3cret-value"));
        assert_eq!(
            vault.get("d9", "secretKey").unwrap().as_str(),
            "s3cret-value"
        );
        let referenced = json!({"id": "c", "fields": {"secretKey": {"env": "SOME_VAR"}}});
        let shown = mask(&referenced, &schema(), &mut vault, "d9");
        assert_eq!(shown["fields"]["secretKey"], json!({"env": "SOME_VAR"}));
    }

    #[test]
    fn a_saved_secret_is_a_file_reference_unless_stored() {
        let mut vault = Vault::default();
        let d = draft(
            json!({"secretKey": {"value": "s3cret-value"}, "accessKey": "AKIA", "region": "eu-west-1"}),
        );
        let (file, secrets) = to_file(&d, "amazon-sqs", &schema(), &mut vault, false).unwrap();
        assert!(!file.to_string().contains("s3cret-value"), "{file}");
        assert_eq!(
            file["fields"]["secretKey"],
            json!({"file": "secrets/conn-a.secretKey"})
        );
        assert_eq!(secrets[0].value.as_str(), "s3cret-value");
        let keys: Vec<&String> = file["fields"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["region", "accessKey", "secretKey"], "x-order");
        let (stored, none) = to_file(&d, "amazon-sqs", &schema(), &mut vault, true).unwrap();
        assert_eq!(stored["fields"]["secretKey"], "s3cret-value");
        assert!(none.is_empty());
    }

    #[test]
    fn debug_never_shows_a_value() {
        let d = draft(json!({"secretKey": {"value": "s3cret-value"}}));
        let mut vault = Vault::default();
        vault.put("d1", "secretKey", Zeroizing::new("s3cret-value".into()));
        let printed = format!("{d:?} {vault:?}");
        assert!(!printed.contains("s3cret-value"), "{printed}");
    }
}
