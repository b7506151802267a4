//! Validation of a component's fields against its descriptor schema, with every error at once,
//! each naming the field, its label and what to do.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::schema::field_label;

/// Validates the fields of one kind of component against its descriptor schema.
pub(crate) struct FieldValidator {
    schema: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for FieldValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldValidator").finish_non_exhaustive()
    }
}

impl FieldValidator {
    /// A validator for a descriptor schema. Fails when the schema itself is not valid JSON Schema.
    pub(crate) fn new(schema: Value) -> Result<Self, String> {
        let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
        Ok(Self { schema, validator })
    }

    /// The fields as the connector sees them: blank fields (`""` or `null`, what a form sends for
    /// an empty input) removed, and defaults from the schema filled in for absent fields.
    pub(crate) fn prepare(&self, fields: &Map<String, Value>) -> Map<String, Value> {
        let mut prepared: Map<String, Value> = fields
            .iter()
            .filter(|(_, v)| !(v.is_null() || v.as_str() == Some("")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(Value::Object(props)) = self.schema.get("properties") {
            for (key, prop) in props {
                if let Some(default) = prop.get("default") {
                    prepared
                        .entry(key.clone())
                        .or_insert_with(|| default.clone());
                }
            }
        }
        prepared
    }

    /// Prepares the fields and checks them; returns the prepared fields, or every field error.
    pub(crate) fn validate(
        &self,
        fields: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Vec<FieldError>> {
        let prepared = self.prepare(fields);
        let instance = Value::Object(prepared);
        let mut errors: Vec<FieldError> = self.unknown_fields(fields);
        for error in self.validator.iter_errors(&instance) {
            // Reported above, one error per field with a suggestion.
            if matches!(
                error.kind(),
                ValidationErrorKind::AdditionalProperties { .. }
            ) {
                continue;
            }
            let path = error.instance_path().as_str().to_owned();
            let schema_path = error.schema_path().as_str().to_owned();
            let field_error = self.describe(&path, &schema_path, error.kind(), error.instance());
            if !errors
                .iter()
                .any(|e| e.field == field_error.field && e.message == field_error.message)
            {
                errors.push(field_error);
            }
        }
        let Value::Object(prepared) = instance else {
            unreachable!("the instance was built as an object")
        };
        if errors.is_empty() {
            Ok(prepared)
        } else {
            errors.sort_by_key(|e| self.order_of(&e.field));
            Err(errors)
        }
    }

    /// An error for each field the schema does not know (a misspelt key would otherwise be
    /// ignored, and its value with it: `endpointURL` sending requests to AWS instead of the
    /// server the user meant), suggesting the closest known key.
    fn unknown_fields(&self, fields: &Map<String, Value>) -> Vec<FieldError> {
        let Some(known) = self.schema.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        fields
            .keys()
            .filter(|key| !known.contains_key(key.as_str()))
            .map(|key| {
                let message = match closest(key, known.keys().map(String::as_str)) {
                    Some(like) => format!(
                        "is not a field of this component; did you mean \"{like}\" ({})?",
                        field_label(&self.schema, like)
                    ),
                    None => "is not a field of this component; remove it or check its spelling"
                        .to_owned(),
                };
                FieldError {
                    field: key.clone(),
                    label: key_label(key),
                    message,
                }
            })
            .collect()
    }

    fn order_of(&self, field: &str) -> u64 {
        self.schema
            .get("properties")
            .and_then(|p| p.get(field))
            .and_then(|p| p.get("x-order"))
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX)
    }

    fn property(&self, field: &str) -> Option<&Value> {
        self.schema.get("properties").and_then(|p| p.get(field))
    }

    fn error(&self, field: &str, message: String) -> FieldError {
        FieldError {
            field: field.to_owned(),
            label: field_label(&self.schema, field),
            message,
        }
    }

    fn describe(
        &self,
        instance_path: &str,
        schema_path: &str,
        kind: &ValidationErrorKind,
        instance: &Value,
    ) -> FieldError {
        let field = instance_path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .replace("~1", "/")
            .replace("~0", "~");
        let is_secret = self.property(&field).is_some_and(|p| {
            p.get("x-secret") == Some(&Value::Bool(true))
                || p.get("writeOnly") == Some(&Value::Bool(true))
        });
        // A secret's value never goes into a message, whatever rule it broke.
        let hidden = Value::String("the value".into());
        let instance = if is_secret { &hidden } else { instance };
        let describe_value = |v: &Value| {
            if is_secret {
                "the value".to_owned()
            } else {
                describe_value(v)
            }
        };
        let message = match kind {
            ValidationErrorKind::Required { property } => {
                let property = property.as_str().unwrap_or_default().to_owned();
                let message = match self.condition_of(schema_path) {
                    Some(condition) => format!("is required when {condition}; enter a value"),
                    None => "is required; enter a value".to_owned(),
                };
                return self.error(&property, message);
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let names = unexpected.join(", ");
                return self.error(
                    unexpected.first().map(String::as_str).unwrap_or_default(),
                    format!("is not a field of this component ({names}); remove it or check its spelling"),
                );
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => t.to_string(),
                    TypeKind::Multiple(set) => set
                        .iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join(" or "),
                };
                format!(
                    "must be {} {expected}, not {}",
                    article(&expected),
                    describe_value(instance)
                )
            }
            ValidationErrorKind::Enum { options } => self.enum_message(&field, options, instance),
            ValidationErrorKind::Constant { expected_value } => {
                format!("must be {expected_value}, not {}", describe_value(instance))
            }
            ValidationErrorKind::Pattern { pattern } => {
                let hint = self
                    .property(&field)
                    .and_then(|p| p.get("x-pattern-message"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("must match the pattern {pattern}"));
                format!("{} {hint}", describe_value(instance))
            }
            ValidationErrorKind::Minimum { limit } => {
                format!("must be at least {limit}, not {}", describe_value(instance))
            }
            ValidationErrorKind::Maximum { limit } => {
                format!("must be at most {limit}, not {}", describe_value(instance))
            }
            ValidationErrorKind::ExclusiveMinimum { limit } => {
                format!(
                    "must be more than {limit}, not {}",
                    describe_value(instance)
                )
            }
            ValidationErrorKind::ExclusiveMaximum { limit } => {
                format!(
                    "must be less than {limit}, not {}",
                    describe_value(instance)
                )
            }
            ValidationErrorKind::MinLength { limit } => {
                format!("must be at least {limit} characters long")
            }
            ValidationErrorKind::MaxLength { limit } => {
                format!("must be at most {limit} characters long")
            }
            ValidationErrorKind::Format { format } => {
                format!("{} is not a valid {format}", describe_value(instance))
            }
            ValidationErrorKind::Not { schema } => match schema.get("const") {
                Some(forbidden) => format!(
                    "must not be {}; choose another value",
                    describe_value(forbidden)
                ),
                None => format!("{} is not allowed here", describe_value(instance)),
            },
            other => format!("is invalid: {}", other_message(other)),
        };
        self.error(&field, message)
    }

    fn enum_message(&self, field: &str, options: &Value, instance: &Value) -> String {
        let allowed: Vec<&str> = options
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let given = instance.as_str().unwrap_or_default();
        if let Some(close) = allowed.iter().find(|a| {
            a.eq_ignore_ascii_case(given) || a.replace('_', "-").eq_ignore_ascii_case(given)
        }) {
            return format!(
                "{} is not a valid choice; did you mean \"{close}\"? The values are case-sensitive",
                describe_value(instance)
            );
        }
        let labels = self
            .property(field)
            .and_then(|p| p.get("x-enum-labels"))
            .and_then(Value::as_object);
        let shown: Vec<String> = allowed
            .iter()
            .take(8)
            .map(
                |v| match labels.and_then(|l| l.get(*v)).and_then(Value::as_str) {
                    Some(label) if label != *v => format!("{v} ({label})"),
                    _ => (*v).to_owned(),
                },
            )
            .collect();
        let more = if allowed.len() > shown.len() {
            format!(" and {} more", allowed.len() - shown.len())
        } else {
            String::new()
        };
        format!(
            "{} is not a valid choice; choose one of: {}{more}",
            describe_value(instance),
            shown.join(", ")
        )
    }

    /// For an error raised inside `allOf/N/then`, the condition of that rule in words
    /// (`Authentication Type is AWS IAM Roles Anywhere`).
    fn condition_of(&self, schema_path: &str) -> Option<String> {
        let mut parts = schema_path.trim_start_matches('/').split('/');
        if parts.next()? != "allOf" {
            return None;
        }
        let index: usize = parts.next()?.parse().ok()?;
        if parts.next()? != "then" {
            return None;
        }
        let rule = self.schema.get("allOf")?.get(index)?;
        let condition = rule.get("if")?.get("properties")?.as_object()?;
        let (tag, constraint) = condition.iter().next()?;
        let label = match constraint.get("const")? {
            Value::String(value) => self
                .property(tag)
                .and_then(|p| p.get("x-enum-labels"))
                .and_then(|l| l.get(value))
                .and_then(Value::as_str)
                .unwrap_or(value)
                .to_owned(),
            Value::Bool(true) => "on".to_owned(),
            Value::Bool(false) => "off".to_owned(),
            other => other.to_string(),
        };
        Some(format!("{} is {label}", field_label(&self.schema, tag)))
    }
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// An unknown key (or any text from a component) as an error quotes it: whole when short, else
/// its start and its length (an unknown key's error `field` keeps it whole for the host).
pub(crate) fn key_label(key: &str) -> String {
    const SHOWN: usize = 32;
    if key.chars().count() <= 2 * SHOWN {
        return key.to_owned();
    }
    let start: String = key.chars().take(SHOWN).collect();
    format!("{start}… ({} characters)", key.chars().count())
}

/// The known key most like `key`: the same but for case, or a few edits away.
fn closest<'a>(key: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = key.to_lowercase();
    let limit = (key.chars().count() / 3).max(2);
    let mut best: Option<(usize, &str)> = None;
    for candidate in known {
        // The distance is at least the difference in length: a key of megabytes is not compared.
        if lower
            .chars()
            .count()
            .abs_diff(candidate.to_lowercase().chars().count())
            > limit
        {
            continue;
        }
        let distance = if candidate.to_lowercase() == lower {
            0
        } else {
            edit_distance(&lower, &candidate.to_lowercase())
        };
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.filter(|(d, _)| *d <= limit).map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// The longest text a field error quotes: a region, a name or a number fits; a pasted secret
/// key (40 characters) or a PEM block does not, and is described instead.
const MAX_QUOTED: usize = 32;

fn describe_value(value: &Value) -> String {
    match value {
        // A PEM block pasted into the wrong field may be a private key: its label, never its
        // base64 (which starts with the key's own bytes).
        Value::String(s) if s.contains("-----BEGIN ") => {
            let label = s
                .split("-----BEGIN ")
                .nth(1)
                .and_then(|rest| rest.split("-----").next())
                // A label that does not end where PEM's do is text of the value: not quoted.
                .filter(|label| {
                    label.len() <= MAX_QUOTED
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b' ')
                })
                .unwrap_or("PEM");
            format!("a PEM block \"{label}\" ({} characters)", s.chars().count())
        }
        // A URL with a user and password in it: never quoted.
        Value::String(s) if s.contains("://") && s.contains('@') => {
            "a URL with a user or password in it".to_owned()
        }
        Value::String(s) if s.chars().count() > MAX_QUOTED || s.contains(['\n', '\r']) => {
            format!("a text of {} characters", s.chars().count())
        }
        Value::String(s) => format!("\"{s}\""),
        Value::Null => "empty".to_owned(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn other_message(kind: &ValidationErrorKind) -> String {
    format!("{kind:?}")
        .split(['{', '('])
        .next()
        .unwrap_or("a rule of the descriptor")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validator() -> FieldValidator {
        FieldValidator::new(json!({
            "type": "object",
            "properties": {
                "mode": {"type": "string", "title": "Mode", "enum": ["KEYS", "CERT"],
                         "x-enum-labels": {"KEYS": "Keys", "CERT": "Certificate"}, "default": "KEYS", "x-order": 1},
                "key": {"type": "string", "title": "Key", "x-order": 2},
                "region": {"type": "string", "title": "Region", "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]+$",
                           "x-pattern-message": "is not a region: use lowercase with dashes, like us-east-2", "x-order": 3},
                "duration": {"type": "integer", "title": "Duration", "minimum": 900, "maximum": 3600, "x-order": 4},
                "cert": {"type": "string", "title": "Certificate", "x-order": 5}
            },
            "required": ["mode"],
            "allOf": [
                {"if": {"properties": {"mode": {"const": "KEYS"}}, "required": ["mode"]}, "then": {"required": ["key"]}},
                {"if": {"properties": {"mode": {"const": "CERT"}}, "required": ["mode"]}, "then": {"required": ["cert"]}}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn long_text_and_pem_blocks_are_described_never_quoted() {
        let key = "-----BEGIN EC PRIVATE KEY-----\nMIGkAgEBBDBv/+ebfBItWL32sN\n-----END EC PRIVATE KEY-----\n";
        let described = describe_value(&json!(key));
        assert_eq!(
            described,
            format!("a PEM block \"EC PRIVATE KEY\" ({} characters)", key.len())
        );
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(describe_value(&json!(secret)), "a text of 40 characters");
        assert_eq!(describe_value(&json!("US-EAST-2")), "\"US-EAST-2\"");
        assert_eq!(
            describe_value(&json!("http://u:pw@h")),
            "a URL with a user or password in it"
        );
    }

    #[test]
    fn a_forbidden_value_is_named() {
        let validator = FieldValidator::new(json!({
            "type": "object",
            "properties": {"count": {"type": "integer", "title": "Count", "not": {"const": 0}}}
        }))
        .unwrap();
        let errors = validator
            .validate(json!({"count": 0}).as_object().unwrap())
            .unwrap_err();
        assert_eq!(errors[0].message, "must not be 0; choose another value");
    }

    #[test]
    fn a_long_unknown_key_is_labelled_by_its_start_and_length() {
        assert_eq!(key_label("endpointURL"), "endpointURL");
        let long = format!("region{}", "x".repeat(100));
        assert_eq!(
            key_label(&long),
            format!("region{}… (106 characters)", "x".repeat(26))
        );
    }

    #[test]
    fn an_unknown_key_is_an_error_that_suggests_the_closest_field() {
        let fields =
            json!({"mode": "KEYS", "key": "k", "regoin": "eu-west-1", "KEY": "x", "zzzzzzzz": 1});
        let errors = validator()
            .validate(fields.as_object().unwrap())
            .unwrap_err();
        let by_field: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            by_field,
            vec![
                (
                    "regoin",
                    "is not a field of this component; did you mean \"region\" (Region)?"
                ),
                (
                    "KEY",
                    "is not a field of this component; did you mean \"key\" (Key)?"
                ),
                (
                    "zzzzzzzz",
                    "is not a field of this component; remove it or check its spelling"
                ),
            ]
        );
        assert_eq!(edit_distance("regoin", "region"), 2);
    }

    #[test]
    fn reports_every_error_with_label_and_advice() {
        let fields = json!({"mode": "CERT", "region": "US-EAST-2", "duration": 100, "key": ""});
        let errors = validator()
            .validate(fields.as_object().unwrap())
            .unwrap_err();
        let by_field: Vec<(&str, &str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.label.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            by_field,
            vec![
                (
                    "region",
                    "Region",
                    "\"US-EAST-2\" is not a region: use lowercase with dashes, like us-east-2"
                ),
                ("duration", "Duration", "must be at least 900, not 100"),
                (
                    "cert",
                    "Certificate",
                    "is required when Mode is Certificate; enter a value"
                ),
            ]
        );
    }

    #[test]
    fn blank_fields_are_absent_and_defaults_are_applied() {
        let fields = json!({"key": "k", "region": ""});
        let prepared = validator().validate(fields.as_object().unwrap()).unwrap();
        assert_eq!(prepared.get("mode"), Some(&json!("KEYS")));
        assert!(!prepared.contains_key("region"));
    }

    #[test]
    fn a_wrong_choice_lists_the_choices_or_suggests_the_right_case() {
        let errors = validator()
            .validate(json!({"mode": "PASSWORD"}).as_object().unwrap())
            .unwrap_err();
        assert_eq!(errors[0].field, "mode");
        assert_eq!(
            errors[0].message,
            "\"PASSWORD\" is not a valid choice; choose one of: KEYS (Keys), CERT (Certificate)"
        );
        let errors = validator()
            .validate(json!({"mode": "keys", "key": "k"}).as_object().unwrap())
            .unwrap_err();
        assert!(
            errors[0].message.contains("did you mean \"KEYS\"?"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn a_secret_value_never_appears_in_a_message() {
        let validator = FieldValidator::new(json!({
            "type": "object",
            "properties": {
                "privateKey": {"type": "string", "title": "Private key", "writeOnly": true, "x-secret": true,
                               "pattern": "-----BEGIN", "minLength": 40}
            }
        }))
        .unwrap();
        let errors = validator
            .validate(json!({"privateKey": "hunter2-secret"}).as_object().unwrap())
            .unwrap_err();
        assert!(!errors.is_empty());
        for error in errors {
            assert!(
                !error.message.contains("hunter2"),
                "secret in {:?}",
                error.message
            );
        }
    }

    #[test]
    fn a_wrong_type_says_what_was_expected() {
        let errors = validator()
            .validate(json!({"key": "k", "duration": "long"}).as_object().unwrap())
            .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].message, "must be an integer, not \"long\"");
    }
}
