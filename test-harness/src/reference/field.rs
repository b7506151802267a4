//! One field of a component's JSON Schema, read the way the reference tables show it: its type or
//! allowed values, default, rule and when it is required or shown. Whatever the schema holds that
//! is not understood here is left out rather than guessed.

use serde_json::{Map, Value};

use super::cell;

/// How many allowed values are listed in the type cell; longer lists go below the table.
pub(super) const INLINE_VALUES: usize = 8;

/// How deep `$ref`s and nested variants are followed (a cycle stops here).
const MAX_DEPTH: usize = 8;

/// A property of an object schema, with `$ref`s resolved and a "may be null" variant folded in.
pub(super) struct Field<'a> {
    /// The property's key.
    pub key: &'a str,
    /// The property's schema, flattened.
    pub schema: Map<String, Value>,
    /// Whether the schema also allows `null`.
    pub nullable: bool,
}

/// An allowed value and its label (from `x-enum-labels` or a variant's `title`).
#[derive(Clone, PartialEq)]
pub(super) struct Choice {
    /// The value, as JSON.
    pub value: Value,
    /// What a form shows for it.
    pub label: Option<String>,
}

/// The properties of an object schema, ordered by `x-order` (fields without it last), then key.
pub(super) fn fields(root: &Value) -> Vec<Field<'_>> {
    let Some(properties) = root.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut fields: Vec<Field<'_>> = properties
        .iter()
        .map(|(key, schema)| {
            let (schema, nullable) = flatten(root, schema, 0);
            Field {
                key,
                schema,
                nullable,
            }
        })
        .collect();
    fields.sort_by(|a, b| {
        order(&a.schema)
            .total_cmp(&order(&b.schema))
            .then_with(|| a.key.cmp(b.key))
    });
    fields
}

fn order(schema: &Map<String, Value>) -> f64 {
    schema
        .get("x-order")
        .and_then(Value::as_f64)
        .unwrap_or(f64::INFINITY)
}

/// A schema with its `$ref` and plain `allOf` parts merged in (its own keys win), and an
/// `anyOf`/`oneOf` whose other variants are all `null` replaced by its one remaining variant.
fn flatten(root: &Value, schema: &Value, depth: usize) -> (Map<String, Value>, bool) {
    let Some(own) = schema.as_object() else {
        return (Map::new(), false);
    };
    let mut merged = own.clone();
    let mut nullable = types(own).contains(&"null");
    if depth >= MAX_DEPTH {
        return (merged, nullable);
    }
    let mut parts = Vec::new();
    if let Some(target) = own.get("$ref").and_then(Value::as_str) {
        if let Some(found) = resolve(root, target) {
            parts.push(found);
        }
        merged.remove("$ref");
    }
    if let Some(all) = own.get("allOf").and_then(Value::as_array) {
        // Conditions (`if`/`then`) stay where they are; plain parts describe the field itself.
        if all.iter().all(|part| part.get("if").is_none()) {
            parts.extend(all);
            merged.remove("allOf");
        }
    }
    for keyword in ["anyOf", "oneOf"] {
        let Some(variants) = own.get(keyword).and_then(Value::as_array) else {
            continue;
        };
        let others: Vec<&Value> = variants.iter().filter(|v| !is_null_schema(v)).collect();
        if others.len() < variants.len() {
            nullable = true;
            if others.len() == 1 {
                parts.push(others[0]);
                merged.remove(keyword);
            } else {
                merged.insert(
                    keyword.into(),
                    Value::Array(others.into_iter().cloned().collect()),
                );
            }
        }
    }
    for part in parts {
        let (part, part_nullable) = flatten(root, part, depth + 1);
        nullable |= part_nullable;
        for (key, value) in part {
            merged.entry(key).or_insert(value);
        }
    }
    (merged, nullable)
}

/// A local `$ref` (`#/$defs/Name`) in the root schema.
fn resolve<'a>(root: &'a Value, target: &str) -> Option<&'a Value> {
    let pointer = target.strip_prefix('#')?;
    root.pointer(pointer)
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
        || schema.get("const") == Some(&Value::Null)
        || schema.get("enum").and_then(Value::as_array) == Some(&vec![Value::Null])
}

/// The names in a schema's `type` (one or a list).
fn types(schema: &Map<String, Value>) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The values a schema allows, when it lists them (`enum`, `const`, or variants that are all
/// constants), without `null`.
pub(super) fn choices(root: &Value, schema: &Map<String, Value>) -> Option<Vec<Choice>> {
    choices_at(root, schema, 0)
}

fn choices_at(root: &Value, schema: &Map<String, Value>, depth: usize) -> Option<Vec<Choice>> {
    let labels = schema.get("x-enum-labels").and_then(Value::as_object);
    let label_of = |value: &Value| {
        let key = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        labels
            .and_then(|labels| labels.get(&key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(
            values
                .iter()
                .filter(|v| !v.is_null())
                .map(|value| Choice {
                    value: value.clone(),
                    label: label_of(value),
                })
                .collect(),
        );
    }
    if let Some(value) = schema.get("const") {
        return Some(vec![Choice {
            value: value.clone(),
            label: label_of(value),
        }]);
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    for keyword in ["oneOf", "anyOf"] {
        let Some(variants) = schema.get(keyword).and_then(Value::as_array) else {
            continue;
        };
        let mut all = Vec::new();
        for variant in variants {
            let (variant, _) = flatten(root, variant, depth + 1);
            let listed = variant
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let mut listed_choices = choices_at(root, &variant, depth + 1)?;
            if listed_choices.len() == 1 && listed_choices[0].label.is_none() {
                listed_choices[0].label = listed.or_else(|| label_of(&listed_choices[0].value));
            }
            all.extend(listed_choices);
        }
        return Some(all);
    }
    None
}

/// The cell of a field's type: its JSON type, or the values it allows (a long list is named
/// here and listed below the table).
pub(super) fn kind(root: &Value, field: &Field<'_>) -> String {
    let mut text = describe(root, &field.schema, 0);
    if field.nullable && text != "any" {
        text.push_str(" or null");
    }
    text
}

fn describe(root: &Value, schema: &Map<String, Value>, depth: usize) -> String {
    if let Some(choices) = choices(root, schema) {
        return allowed(&choices);
    }
    let names: Vec<&str> = types(schema)
        .into_iter()
        .filter(|&name| name != "null")
        .collect();
    let mut described: Vec<String> = names
        .iter()
        .map(|&name| match name {
            "array" => list_of(root, schema, depth),
            "string" => match schema.get("format").and_then(Value::as_str) {
                Some(format) => format!("string ({})", cell::text(format)),
                None => "string".into(),
            },
            other => cell::text(other),
        })
        .collect();
    if described.is_empty() && depth < MAX_DEPTH {
        for keyword in ["anyOf", "oneOf"] {
            if let Some(variants) = schema.get(keyword).and_then(Value::as_array) {
                described.extend(variants.iter().map(|variant| {
                    let (variant, _) = flatten(root, variant, depth + 1);
                    describe(root, &variant, depth + 1)
                }));
            }
        }
    }
    if described.is_empty() {
        return "any".into();
    }
    described.join(" or ")
}

fn list_of(root: &Value, schema: &Map<String, Value>, depth: usize) -> String {
    let Some(items) = schema.get("items").filter(|items| items.is_object()) else {
        return "list".into();
    };
    if depth >= MAX_DEPTH {
        return "list".into();
    }
    let (items, _) = flatten(root, items, depth + 1);
    if let Some(choices) = choices(root, &items) {
        return format!("list, each {}", allowed(&choices));
    }
    format!("list of {}", describe(root, &items, depth + 1))
}

fn allowed(choices: &[Choice]) -> String {
    if choices.len() > INLINE_VALUES {
        return format!("one of {} values (listed below the table)", choices.len());
    }
    let listed: Vec<String> = choices.iter().map(choice).collect();
    format!("one of: {}", listed.join(", "))
}

/// An allowed value as a cell: the value as code, then its label.
pub(super) fn choice(choice: &Choice) -> String {
    match &choice.label {
        Some(label) => format!("{} ({})", value(&choice.value), cell::text(label)),
        None => value(&choice.value),
    }
}

/// The long list of values of a field (or of its list's items), for below the table.
pub(super) fn long_choices(root: &Value, field: &Field<'_>) -> Option<Vec<Choice>> {
    let choices = choices(root, &field.schema).or_else(|| {
        let items = field
            .schema
            .get("items")
            .filter(|items| items.is_object())?;
        let (items, _) = flatten(root, items, 1);
        choices(root, &items)
    })?;
    (choices.len() > INLINE_VALUES).then_some(choices)
}

/// A JSON value as code: a string as it is, anything else as compact JSON.
pub(super) fn value(value: &Value) -> String {
    match value {
        Value::String(s) => cell::code(s),
        other => cell::code(&other.to_string()),
    }
}

/// The cell of a field's default value (empty when it has none).
pub(super) fn default(field: &Field<'_>) -> String {
    field.schema.get("default").map(value).unwrap_or_default()
}

/// The cell of a field's rule: its range, length, pattern or item count.
pub(super) fn rule(root: &Value, field: &Field<'_>) -> String {
    rules(root, &field.schema, 0).join("; ")
}

fn rules(root: &Value, schema: &Map<String, Value>, depth: usize) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(range) = range(
        schema,
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "exclusiveMaximum",
    ) {
        parts.push(range);
    }
    if let Some(step) = schema.get("multipleOf") {
        parts.push(format!("a multiple of {}", number(step)));
    }
    if let Some(not) = schema.get("not").and_then(Value::as_object) {
        if let Some(excluded) = not.get("const") {
            parts.push(format!("not {}", value(excluded)));
        } else if let Some(excluded) = not.get("enum").and_then(Value::as_array) {
            let listed: Vec<String> = excluded.iter().map(value).collect();
            parts.push(format!("none of {}", listed.join(", ")));
        }
    }
    if let Some(count) = count(schema, "minLength", "maxLength", "characters") {
        parts.push(count);
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        parts.push(format!("matches {}", cell::code(pattern)));
    }
    if let Some(count) = count(schema, "minItems", "maxItems", "items") {
        parts.push(count);
    }
    if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
        parts.push("no duplicates".into());
    }
    if let Some(items) = schema.get("items").filter(|items| items.is_object()) {
        if depth < MAX_DEPTH {
            let (items, _) = flatten(root, items, depth + 1);
            let each = rules(root, &items, depth + 1);
            if !each.is_empty() {
                parts.push(format!("each {}", each.join(", ")));
            }
        }
    }
    parts
}

fn number(value: &Value) -> String {
    cell::text(&value.to_string())
}

fn range(
    schema: &Map<String, Value>,
    min: &str,
    exclusive_min: &str,
    max: &str,
    exclusive_max: &str,
) -> Option<String> {
    let low = schema.get(min).filter(|v| v.is_number());
    let low_exclusive = schema.get(exclusive_min).filter(|v| v.is_number());
    let high = schema.get(max).filter(|v| v.is_number());
    let high_exclusive = schema.get(exclusive_max).filter(|v| v.is_number());
    if let (Some(low), Some(high)) = (low, high) {
        return Some(format!("{} to {}", number(low), number(high)));
    }
    let mut parts = Vec::new();
    if let Some(low) = low {
        parts.push(format!("at least {}", number(low)));
    } else if let Some(low) = low_exclusive {
        parts.push(format!("above {}", number(low)));
    }
    if let Some(high) = high {
        parts.push(format!("at most {}", number(high)));
    } else if let Some(high) = high_exclusive {
        parts.push(format!("below {}", number(high)));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn count(schema: &Map<String, Value>, min: &str, max: &str, unit: &str) -> Option<String> {
    let low = schema.get(min).and_then(Value::as_u64);
    let high = schema.get(max).and_then(Value::as_u64);
    match (low, high) {
        (Some(low), Some(high)) if low == high => Some(format!("exactly {low} {unit}")),
        (Some(low), Some(high)) => Some(format!("{low} to {high} {unit}")),
        // One character at least is what "not empty" means; say so.
        (Some(1), None) if unit == "characters" => Some("not empty".into()),
        (Some(low), None) => Some(format!("at least {low} {unit}")),
        (None, Some(high)) => Some(format!("at most {high} {unit}")),
        (None, None) => None,
    }
}

/// The cell of a field's secrecy: "yes" when a host must mask it.
pub(super) fn secret(field: &Field<'_>) -> &'static str {
    let marked = |key: &str| field.schema.get(key) == Some(&Value::Bool(true));
    if marked("x-secret") || marked("writeOnly") {
        "yes"
    } else {
        ""
    }
}

/// A field's label (its `title`) as a cell.
pub(super) fn label(field: &Field<'_>) -> String {
    field
        .schema
        .get("title")
        .and_then(Value::as_str)
        .map(cell::text)
        .unwrap_or_default()
}

/// A field's help text (its `description`) as a cell.
pub(super) fn description(field: &Field<'_>) -> String {
    field
        .schema
        .get("description")
        .and_then(Value::as_str)
        .map(cell::text)
        .unwrap_or_default()
}
