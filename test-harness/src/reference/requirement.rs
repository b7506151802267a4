//! When a field is required and when a form shows it: from the object's `required`, its
//! `if`/`then` conditions (the authentication-type switch), `dependentRequired`, and the field's
//! `x-visible-when`.

use serde_json::{Map, Value};

use super::{cell, field};

/// A condition on other fields: each key has one of the listed values (all keys at once).
/// `None` in place of values means "is set".
struct Condition(Vec<(String, Option<Vec<Value>>)>);

impl Condition {
    fn render(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(key, values)| match values {
                None => format!("{} is set", cell::code(key)),
                Some(values) => {
                    let listed: Vec<String> = values.iter().map(field::value).collect();
                    format!("{} is {}", cell::code(key), listed.join(" or "))
                }
            })
            .collect();
        parts.join(" and ")
    }
}

/// The cell saying whether `key` is required (always, or under which conditions) and, when the
/// form hides it otherwise, when it is shown.
pub(super) fn cell(root: &Value, key: &str, schema: &Map<String, Value>) -> String {
    let always = names(root.get("required")).contains(&key);
    let mut when = Vec::new();
    let mut unless = Vec::new();
    let conditionals = root
        .get("allOf")
        .and_then(Value::as_array)
        .map(|all| all.iter().collect::<Vec<_>>())
        .unwrap_or_default();
    for conditional in conditionals.into_iter().chain(std::iter::once(root)) {
        let Some(test) = conditional.get("if") else {
            continue;
        };
        let condition = condition(test);
        if names(
            conditional
                .get("then")
                .and_then(|then| then.get("required")),
        )
        .contains(&key)
        {
            when.push(condition.clone());
        }
        if names(
            conditional
                .get("else")
                .and_then(|other| other.get("required")),
        )
        .contains(&key)
        {
            unless.push(condition.clone());
        }
    }
    if let Some(dependent) = root.get("dependentRequired").and_then(Value::as_object) {
        for (trigger, required) in dependent {
            if names(Some(required)).contains(&key) {
                when.push(Condition(vec![(trigger.clone(), None)]).render());
            }
        }
    }
    let shown = schema
        .get("x-visible-when")
        .and_then(Value::as_object)
        .map(|visible| {
            Condition(
                visible
                    .iter()
                    .map(|(key, values)| {
                        let values = match values {
                            Value::Array(values) => values.clone(),
                            one => vec![one.clone()],
                        };
                        (key.clone(), Some(values))
                    })
                    .collect(),
            )
            .render()
        });

    let mut parts = Vec::new();
    if always {
        parts.push("required".to_owned());
    } else if when.is_empty() && unless.is_empty() {
        parts.push("optional".to_owned());
    } else {
        let mut said = Vec::new();
        said.extend(when.iter().map(|c| format!("when {c}")));
        said.extend(unless.iter().map(|c| format!("unless {c}")));
        parts.push(format!("required {}", said.join(", or ")));
    }
    if let Some(shown) = shown {
        // "Required when X" already says when the form shows the field, when X is its switch.
        if !(when.len() == 1 && unless.is_empty() && when[0] == shown) {
            parts.push(format!("shown when {shown}"));
        }
    }
    parts.join("; ")
}

/// What an `if` schema tests, in words, as far as it compares properties with constants.
fn condition(test: &Value) -> String {
    let unknown = || "a condition of the schema holds".to_owned();
    let Some(properties) = test.get("properties").and_then(Value::as_object) else {
        return unknown();
    };
    let mut parts = Vec::new();
    for (key, schema) in properties {
        let values = if let Some(one) = schema.get("const") {
            vec![one.clone()]
        } else if let Some(many) = schema.get("enum").and_then(Value::as_array) {
            many.clone()
        } else {
            return unknown();
        };
        parts.push((key.clone(), Some(values)));
    }
    if parts.is_empty() {
        return unknown();
    }
    Condition(parts).render()
}

fn names(list: Option<&Value>) -> Vec<&str> {
    list.and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
