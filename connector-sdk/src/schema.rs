//! Field descriptors: JSON Schema 2020-12 from config types, plus the `x-` keywords a host needs
//! to render a form without connector code.
//!
//! Standard keywords carry what JSON Schema can say (`title` is the field's label, `description`
//! its help text, `default`, `enum`, `minimum`/`maximum`, `pattern`, `writeOnly` for secrets,
//! `if`/`then` for fields required by a choice). The extensions:
//!
//! | keyword | meaning |
//! |---|---|
//! | `x-order` | position of the field on the form (1, 2, ...) |
//! | `x-secret` | the value is a secret: mask it, never show it back |
//! | `x-widget` | `dropdown`, `select`, `password`, `textarea`, `url`, `checkbox`, `number`, `text`, `multiselect`, `list`, `browse` (a picker the plugin's `browse` fills) |
//! | `x-visible-when` | `{"field": ["VALUE", ...]}`: show the field only for these values of another |
//! | `x-extensible` | the value may be overridden per environment |
//! | `x-enum-labels` | `{"VALUE": "Label"}`: the label of each dropdown value |
//! | `x-overrides` | `"otherField"`: when this field is set, it is used instead of that one (a custom region instead of the dropdown's) |

use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use serde_json::{Map, Value, json};

/// One value of a dropdown: what is stored, and what the user sees.
#[derive(Debug, Clone, Copy)]
pub struct Choice {
    /// The stored value (`us-east-1`).
    pub value: &'static str,
    /// The label (`US East (N. Virginia)`).
    pub label: &'static str,
}

/// A dropdown of string values with labels.
pub fn dropdown(choices: &[Choice]) -> Schema {
    let values: Vec<Value> = choices.iter().map(|c| json!(c.value)).collect();
    let labels: Map<String, Value> = choices
        .iter()
        .map(|c| (c.value.to_owned(), json!(c.label)))
        .collect();
    json_schema!({
        "type": "string",
        "enum": values,
        "x-enum-labels": labels,
        "x-widget": "dropdown"
    })
}

/// One alternative of a [`switch`]: the tag value that selects it, its label, and the schema of
/// the fields it brings.
pub struct Variant {
    /// The tag value (`ACCESS_KEYS`).
    pub value: &'static str,
    /// The label shown in the dropdown (`Access keys`).
    pub label: &'static str,
    /// The schema of the variant's fields (an object schema).
    pub schema: Schema,
}

/// The schema of a choice between groups of fields, selected by a tag field (the schema of a
/// serde internally tagged enum that is flattened into its parent config).
///
/// Produces flat properties, so a host renders one form: the tag as a dropdown defaulting to the
/// first variant, every variant's fields marked with `x-visible-when`, and an `if`/`then` per
/// variant that makes its required fields required only when it is selected.
pub fn switch(tag: &str, tag_title: &str, tag_description: &str, variants: Vec<Variant>) -> Schema {
    let choices: Vec<Choice> = variants
        .iter()
        .map(|v| Choice {
            value: v.value,
            label: v.label,
        })
        .collect();
    let mut tag_schema = dropdown(&choices);
    let tag_obj = tag_schema.ensure_object();
    tag_obj.insert("title".into(), json!(tag_title));
    tag_obj.insert("description".into(), json!(tag_description));
    if let Some(first) = variants.first() {
        tag_obj.insert("default".into(), json!(first.value));
    }

    let mut properties = Map::new();
    properties.insert(tag.to_owned(), tag_schema.to_value());
    let mut rules = Vec::new();
    for variant in variants {
        let obj = variant.schema.as_object().cloned().unwrap_or_default();
        if let Some(Value::Object(props)) = obj.get("properties") {
            for (key, prop) in props {
                if key == tag {
                    continue;
                }
                let mut prop = prop.clone();
                if let Value::Object(p) = &mut prop {
                    p.insert("x-visible-when".into(), json!({ tag: [variant.value] }));
                }
                properties.insert(key.clone(), prop);
            }
        }
        let required: Vec<Value> = obj
            .get("required")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.as_str() != Some(tag))
            .collect();
        if !required.is_empty() {
            rules.push(json!({
                "if": {"properties": {tag: {"const": variant.value}}, "required": [tag]},
                "then": {"required": required}
            }));
        }
    }
    json_schema!({
        "type": "object",
        "properties": properties,
        "required": [tag],
        "allOf": rules
    })
}

/// The generator settings used for every descriptor: JSON Schema 2020-12, definitions inlined so
/// that each field's schema is self-contained for a form renderer.
pub fn generator() -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    SchemaGenerator::new(settings)
}

/// The descriptor schema of a config type: generated, with `x-order` numbering the top-level
/// fields in declaration order and `null` removed from the types of optional fields (a host sends
/// a blank field by leaving it out).
pub fn config_schema<T: JsonSchema>() -> Value {
    let schema = generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    unwrap_descriptions(&mut value);
    if let Some(Value::Object(props)) = value.get_mut("properties") {
        for (position, prop) in props.values_mut().enumerate() {
            if let Value::Object(p) = prop {
                p.entry("x-order").or_insert(json!(position + 1));
                drop_null_type(p);
                p.remove("$schema");
            }
        }
        // Fields appear in the order the form shows them.
        let mut entries: Vec<(String, Value)> = std::mem::take(props).into_iter().collect();
        entries.sort_by_key(|(_, p)| p.get("x-order").and_then(Value::as_u64).unwrap_or(u64::MAX));
        props.extend(entries);
        // A key the component does not have is an error, not a setting silently ignored.
        if let Value::Object(root) = &mut value {
            root.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
    value
}

/// Doc comments wrap lines; a form shows a description as one paragraph (blank lines stay breaks).
fn unwrap_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match inner {
                    Value::String(text) if key == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    other => unwrap_descriptions(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

fn drop_null_type(prop: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = prop.get("type") {
        let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        let replacement = if kept.len() == 1 {
            kept[0].clone()
        } else {
            Value::Array(kept)
        };
        prop.insert("type".into(), replacement);
    }
    if let Some(Value::Array(values)) = prop.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if let Some(Value::Array(alternatives)) = prop.get("anyOf").cloned() {
        let kept: Vec<Value> = alternatives
            .into_iter()
            .filter(|a| a.get("type") != Some(&json!("null")))
            .collect();
        if kept.len() == 1 {
            prop.remove("anyOf");
            if let Value::Object(inner) = &kept[0] {
                for (k, v) in inner {
                    prop.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
}

/// The label of a field in a config schema: its `title`, or the key when it has none.
pub fn field_label(schema: &Value, field: &str) -> String {
    schema
        .get("properties")
        .and_then(|p| p.get(field))
        .and_then(|p| p.get("title"))
        .and_then(Value::as_str)
        .unwrap_or(field)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;
    use serde::Deserialize;

    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Keys {
        /// The key id.
        #[schemars(title = "Key id")]
        key_id: String,
        /// An optional token.
        token: Option<String>,
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Cert {
        #[schemars(title = "Certificate")]
        certificate: String,
    }

    #[derive(Deserialize)]
    #[serde(tag = "mode")]
    #[allow(dead_code)]
    enum Mode {
        #[serde(rename = "KEYS")]
        Keys(Keys),
        #[serde(rename = "CERT")]
        Cert(Cert),
    }

    impl JsonSchema for Mode {
        fn schema_name() -> std::borrow::Cow<'static, str> {
            "Mode".into()
        }
        fn json_schema(generator: &mut SchemaGenerator) -> Schema {
            switch(
                "mode",
                "Mode",
                "How to sign in.",
                vec![
                    Variant {
                        value: "KEYS",
                        label: "Keys",
                        schema: generator.root_schema_for::<Keys>(),
                    },
                    Variant {
                        value: "CERT",
                        label: "Certificate",
                        schema: generator.root_schema_for::<Cert>(),
                    },
                ],
            )
        }
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Config {
        #[schemars(title = "Name")]
        name: String,
        #[serde(flatten)]
        mode: Mode,
    }

    #[test]
    fn switch_flattens_variants_with_conditional_requirements() {
        let schema = config_schema::<Config>();
        let props = schema["properties"].as_object().unwrap();
        assert_eq!(
            props.keys().collect::<Vec<_>>(),
            vec!["name", "mode", "keyId", "token", "certificate"]
        );
        assert_eq!(props["mode"]["default"], "KEYS");
        assert_eq!(props["mode"]["x-enum-labels"]["CERT"], "Certificate");
        assert_eq!(props["keyId"]["x-visible-when"], json!({"mode": ["KEYS"]}));
        assert_eq!(
            props["token"]["type"], "string",
            "null is dropped from optional fields"
        );
        assert_eq!(props["certificate"]["x-order"], 5);
        let rules = schema["allOf"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1]["then"]["required"], json!(["certificate"]));

        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(validator.is_valid(&json!({"name": "n", "mode": "KEYS", "keyId": "k"})));
        assert!(!validator.is_valid(&json!({"name": "n", "mode": "CERT", "keyId": "k"})));
        assert!(validator.is_valid(&json!({"name": "n", "mode": "CERT", "certificate": "c"})));
        assert!(!validator.is_valid(&json!({"name": "n", "mode": "OTHER"})));
    }
}
