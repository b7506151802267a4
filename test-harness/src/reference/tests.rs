//! The reference tables, read as a user reads them: for small descriptors that hold what the real
//! one may come to hold (lists, nullable fields, `$ref`s, variants, odd characters).

use connector_sdk::Descriptor;
use serde_json::{Value, json};

use super::connector;

/// A descriptor with one connection schema and one operation.
fn descriptor(connection: Value, operation: Value) -> Descriptor {
    let descriptor = json!({
        "id": "demo",
        "name": "Demo",
        "description": "A demo connector.",
        "connection": {"fields": connection},
        "operations": [operation]
    });
    serde_json::from_value(descriptor).expect("a descriptor")
}

fn no_operation() -> Value {
    json!({"type": "NOOP", "label": "No-op", "fields": {"type": "object", "properties": {}}})
}

/// The cells of a table row, split where GFM splits them (at `|` not escaped by `\`).
fn cells(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut current = String::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                current.push('\\');
                current.push(chars.next().unwrap_or('|'));
            }
            '|' => cells.push(std::mem::take(&mut current).trim().to_owned()),
            other => current.push(other),
        }
    }
    // A row starts and ends with `|`: drop the empty pieces outside them.
    cells.remove(0);
    cells
}

/// The cells of the row whose first cell is `` `key` `` (the first such row).
fn row(markdown: &str, key: &str) -> Vec<String> {
    let first = format!("| `{key}` |");
    let line = markdown
        .lines()
        .find(|line| line.starts_with(&first))
        .unwrap_or_else(|| panic!("no row for {key} in:\n{markdown}"));
    cells(line)
}

/// The cells of a connection field's row, by column title.
fn column(markdown: &str, key: &str, title: &str) -> String {
    let header = markdown
        .lines()
        .find(|line| line.starts_with("| Field |"))
        .unwrap_or_else(|| panic!("no connection table in:\n{markdown}"));
    let at = cells(header)
        .iter()
        .position(|t| t == title)
        .unwrap_or_else(|| panic!("no column {title} in {header}"));
    row(markdown, key)[at].clone()
}

#[test]
fn fields_are_ordered_by_x_order_then_key_whatever_the_json_order() {
    let connection = json!({"type": "object", "properties": {
        "zeta": {"type": "string"},
        "beta": {"type": "string", "x-order": 2},
        "alpha": {"type": "string"},
        "gamma": {"type": "string", "x-order": 1}
    }});
    let markdown = connector("demo.json", &descriptor(connection, no_operation()));
    let keys: Vec<&str> = markdown
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    assert_eq!(keys, ["gamma", "beta", "alpha", "zeta"], "{markdown}");
}

#[test]
fn types_read_as_a_user_would_for_lists_nullable_fields_refs_and_variants() {
    let connection = json!({
        "type": "object",
        "$defs": {"Mode": {"type": "string", "enum": ["FAST", "SAFE"]}},
        "properties": {
            "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 10},
            "mode": {"anyOf": [{"$ref": "#/$defs/Mode"}, {"type": "null"}], "default": "SAFE"},
            "names": {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 10, "uniqueItems": true},
            "attributes": {"type": "array", "items": {"type": "string", "enum": ["All", "SenderId"]}, "default": ["All"]},
            "modes": {"type": ["array", "null"], "items": {"$ref": "#/$defs/Mode"}},
            "strategy": {"oneOf": [
                {"const": "ONE", "title": "One at a time"},
                {"const": "ALL"},
                {"type": "null"}
            ]},
            "anything": {"description": "No type at all."},
            "either": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "integer"}}]},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "when": {"type": "string", "format": "date-time"}
        }
    });
    let markdown = connector("demo.json", &descriptor(connection, no_operation()));
    let kind = |key| column(&markdown, key, "Type / allowed values");
    let rule = |key| column(&markdown, key, "Rule");
    assert_eq!(kind("limit"), "integer or null");
    assert_eq!(rule("limit"), "1 to 10");
    assert_eq!(kind("mode"), "one of: `FAST`, `SAFE` or null");
    assert_eq!(column(&markdown, "mode", "Default"), "`SAFE`");
    assert_eq!(kind("names"), "list of string");
    assert_eq!(
        rule("names"),
        "at most 10 items; no duplicates; each not empty"
    );
    assert_eq!(kind("attributes"), "list, each one of: `All`, `SenderId`");
    assert_eq!(column(&markdown, "attributes", "Default"), "`[\"All\"]`");
    assert_eq!(kind("modes"), "list, each one of: `FAST`, `SAFE` or null");
    assert_eq!(
        kind("strategy"),
        "one of: `ONE` (One at a time), `ALL` or null"
    );
    assert_eq!(kind("anything"), "any");
    assert_eq!(kind("either"), "string or list of integer");
    assert_eq!(rule("ratio"), "above 0, at most 1");
    assert_eq!(kind("when"), "string (date-time)");
}

#[test]
fn a_long_list_of_values_goes_below_the_table_once_for_the_fields_sharing_it() {
    let values: Vec<String> = (1..=12).map(|n| format!("v{n}")).collect();
    let labels: serde_json::Map<String, Value> = values
        .iter()
        .map(|v| (v.clone(), json!(format!("Value {v}"))))
        .collect();
    let connection = json!({"type": "object", "properties": {
        "first": {"type": "string", "enum": values, "x-enum-labels": labels, "x-order": 1},
        "second": {"type": "string", "enum": values, "x-enum-labels": labels, "x-order": 2},
        "many": {"type": "array", "items": {"type": "string", "enum": values}, "x-order": 3}
    }});
    let markdown = connector("demo.json", &descriptor(connection, no_operation()));
    assert_eq!(
        column(&markdown, "first", "Type / allowed values"),
        "one of 12 values (listed below the table)"
    );
    assert!(
        markdown.contains(
            "<details><summary>Allowed values of <code>first</code> and <code>second</code> (12)</summary>"
        ),
        "{markdown}"
    );
    assert!(markdown.contains("| `v12` | Value v12 |"), "{markdown}");
    // The list's items have no labels: a list of values alone.
    assert!(
        markdown.contains("<details><summary>Allowed values of <code>many</code> (12)</summary>"),
        "{markdown}"
    );
    assert!(markdown.contains("\n| `v12` |\n"), "{markdown}");
}

#[test]
fn cells_never_break_their_row_whatever_the_text() {
    let connection = json!({"type": "object", "properties": {
        "odd": {
            "type": "string",
            "title": "A | B",
            "description": "First line\nsecond line with a | pipe, a <tag>, a \\ backslash and `code | span`.",
            "pattern": "^(a|b)`c$",
            "default": "x|y"
        }
    }});
    let markdown = connector("demo.json", &descriptor(connection, no_operation()));
    let header = markdown
        .lines()
        .find(|line| line.starts_with("| Field |"))
        .unwrap();
    let odd = row(&markdown, "odd");
    assert_eq!(odd.len(), cells(header).len(), "{markdown}");
    assert_eq!(odd[1], "A \\| B");
    assert_eq!(odd[3], "`x\\|y`");
    assert_eq!(odd[4], "matches ``^(a\\|b)`c$``");
    assert_eq!(
        odd[6],
        "First line second line with a \\| pipe, a &lt;tag>, a \\\\ backslash and `code \\| span`."
    );
}

#[test]
fn required_and_shown_follow_the_switch_and_the_schema_conditions() {
    let connection = json!({
        "type": "object",
        "properties": {
            "mode": {"type": "string", "enum": ["A", "B"], "x-order": 1},
            "forA": {"type": "string", "x-order": 2, "x-visible-when": {"mode": ["A"]}},
            "shownForA": {"type": "string", "x-order": 3, "x-visible-when": {"mode": ["A"]}},
            "forB": {"type": "string", "x-order": 4, "x-visible-when": {"mode": ["B"]}},
            "notB": {"type": "string", "x-order": 5},
            "withToken": {"type": "string", "x-order": 6},
            "token": {"type": "string", "x-order": 7},
            "odd": {"type": "string", "x-order": 8}
        },
        "required": ["mode"],
        "allOf": [
            {"if": {"properties": {"mode": {"const": "A"}}, "required": ["mode"]}, "then": {"required": ["forA"]}},
            {"if": {"properties": {"mode": {"enum": ["B"]}}}, "then": {"required": ["forB"]}, "else": {"required": ["notB"]}},
            {"if": {"minProperties": 3}, "then": {"required": ["odd"]}}
        ],
        "dependentRequired": {"token": ["withToken"]}
    });
    let markdown = connector("demo.json", &descriptor(connection, no_operation()));
    let required = |key| column(&markdown, key, "Required / shown");
    assert_eq!(required("mode"), "required");
    assert_eq!(required("forA"), "required when `mode` is `A`");
    assert_eq!(required("shownForA"), "optional; shown when `mode` is `A`");
    assert_eq!(required("forB"), "required when `mode` is `B`");
    assert_eq!(required("notB"), "required unless `mode` is `B`");
    assert_eq!(required("withToken"), "required when `token` is set");
    assert_eq!(required("token"), "optional");
    assert_eq!(
        required("odd"),
        "required when a condition of the schema holds"
    );
}

#[test]
fn secrets_are_marked_and_the_column_is_left_out_without_any() {
    let connection = json!({"type": "object", "properties": {
        "key": {"type": "string", "x-secret": true},
        "token": {"type": "string", "writeOnly": true},
        "name": {"type": "string"}
    }});
    let markdown = connector("demo.json", &descriptor(connection, no_operation()));
    assert_eq!(column(&markdown, "key", "Secret"), "yes");
    assert_eq!(column(&markdown, "token", "Secret"), "yes");
    assert_eq!(column(&markdown, "name", "Secret"), "");

    let plain = json!({"type": "object", "properties": {"name": {"type": "string"}}});
    let markdown = connector("demo.json", &descriptor(plain, no_operation()));
    assert!(!markdown.contains("Secret"), "{markdown}");
}

#[test]
fn an_operation_lists_its_options_and_the_properties_it_reads_then_writes() {
    let operation = json!({
        "type": "MOVE",
        "label": "Move",
        "description": "Moves each document.",
        "fields": {"type": "object", "properties": {
            "target": {"type": "string", "title": "Target", "minLength": 1, "maxLength": 80}
        }, "required": ["target"]},
        "inputProperties": [{"name": "demo.from", "description": "Where it was."}],
        "outputProperties": [
            {"name": "demo.to", "description": "Where it went."},
            {"name": "demo.from", "description": "Where it was, again."}
        ]
    });
    let connection = json!({"type": "object", "properties": {}});
    let markdown = connector("demo.json", &descriptor(connection, operation));
    assert!(
        markdown.contains("#### Operation `MOVE`: Move\n\nMoves each document.\n"),
        "{markdown}"
    );
    assert_eq!(
        row(&markdown, "target"),
        [
            "`target`",
            "Target",
            "string",
            "",
            "1 to 80 characters",
            "required",
            ""
        ]
    );
    let properties: Vec<Vec<String>> = markdown
        .lines()
        .filter(|line| line.starts_with("| `demo."))
        .map(cells)
        .collect();
    assert_eq!(
        properties,
        [
            ["`demo.from`", "in", "Where it was."],
            ["`demo.to`", "out", "Where it went."],
            ["`demo.from`", "out", "Where it was, again."]
        ]
    );
}

#[test]
fn an_operation_without_options_or_properties_says_so() {
    let connection = json!({"type": "object", "properties": {}});
    let markdown = connector("demo.json", &descriptor(connection, no_operation()));
    assert!(markdown.contains("Options: none."), "{markdown}");
    assert!(
        markdown.contains("Document properties: none read or written."),
        "{markdown}"
    );
}
