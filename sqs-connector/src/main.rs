//! `sqs-connector`: the Amazon SQS connector as a plugin executable.

// STYLE: library code takes the time from the injected clock and does not panic on a value
// it did not check (tests may unwrap: clippy.toml allows it there).
#![warn(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use connector_sdk::Descriptor;
use serde_json::Value;

// The plugin allocates per document (parsing, results, SDK requests); mimalloc serves that
// pattern faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Amazon SQS connector. A host runtime starts `sqs-connector serve` and speaks the plugin
/// protocol (JSON-RPC, one object per line) on its stdin and stdout; the other commands are for people.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the plugin protocol on stdin/stdout (logs go to stderr as JSON lines).
    Serve,
    /// Print the connector descriptor (the JSON a host renders forms from).
    Describe {
        /// Print a table for people instead: every connection field (key, label, type, values,
        /// required or when, secret, default) and every operation with its options.
        #[arg(long)]
        summary: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Describe { summary } => {
            let connector = sqs_connector::connector();
            let text = match summary {
                true => describe_summary(connector.descriptor()),
                false => connector.descriptor_file_text(),
            };
            write_stdout(&text)
        }
        Command::Serve => connector_sdk::plugin::run(sqs_connector::connector()),
    }
}

/// Writes `text` to stdout. A closed stdout (`describe | head -1`) ends quietly with 141, as a
/// shell reports a process ended by SIGPIPE.
fn write_stdout(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(141),
        Err(err) => {
            eprintln!("cannot write to stdout: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Where a line of text is wrapped in the summary.
const SUMMARY_WIDTH: usize = 100;

/// The descriptor as people read it: the connector, a table of the connection's fields, and
/// each operation with a table of its options. Built from the descriptor alone.
fn describe_summary(descriptor: &Descriptor) -> String {
    let mut out = format!(
        "{} ({}) {}, plugin protocol {}\n",
        descriptor.name, descriptor.id, descriptor.version, descriptor.protocol_version
    );
    out.push_str(&wrap(&descriptor.description, ""));
    out.push_str("\nConnection fields:\n");
    out.push_str(&fields_table(descriptor.connection.fields.schema(), "  "));
    out.push_str("\nOperations:\n");
    for operation in &descriptor.operations {
        let mut notes = Vec::new();
        if !operation.takes_input {
            notes.push("takes no input documents");
        }
        if operation.listener {
            notes.push("a listener");
        }
        let notes = match notes.is_empty() {
            true => String::new(),
            false => format!(" ({})", notes.join(", ")),
        };
        out.push_str(&format!(
            "\n  {}: {}{notes}\n",
            operation.operation_type, operation.label
        ));
        out.push_str(&wrap(&operation.description, "    "));
        out.push_str(&fields_table(operation.fields.schema(), "    "));
    }
    out
}

/// `text` in lines of at most [`SUMMARY_WIDTH`] characters, each starting with `indent`.
fn wrap(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > SUMMARY_WIDTH {
            out.push_str(&format!("{indent}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{indent}{line}\n"));
    }
    out
}

/// A table of the properties of a fields schema, in their form order (`x-order`): key, label,
/// type, values, when it is required, whether it is secret (a column only when one is) and the
/// default.
fn fields_table(schema: &Value, indent: &str) -> String {
    let Some(properties) = schema["properties"].as_object() else {
        return format!("{indent}(no fields)\n");
    };
    let mut keys: Vec<&String> = properties.keys().collect();
    keys.sort_by_key(|key| properties[*key]["x-order"].as_u64().unwrap_or(u64::MAX));
    let is_secret = |field: &Value| {
        field["x-secret"] == Value::Bool(true) || field["writeOnly"] == Value::Bool(true)
    };
    let with_secret = properties.values().any(is_secret);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["KEY", "LABEL", "TYPE", "VALUES", "REQUIRED"];
    if with_secret {
        header.push("SECRET");
    }
    header.push("DEFAULT");
    rows.push(header.into_iter().map(str::to_owned).collect());
    for key in keys {
        let field = &properties[key];
        let mut row = vec![
            key.clone(),
            field["title"].as_str().unwrap_or_default().to_owned(),
            field_type(field),
            field_values(field),
            required(schema, key),
        ];
        if with_secret {
            row.push(if is_secret(field) { "secret" } else { "-" }.to_owned());
        }
        row.push(field.get("default").map_or_else(|| "-".to_owned(), plain));
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(indent);
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A value as people type it: a string without quotes, anything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The values a field may take, when it is a choice: its `enum`, or the constants of its
/// `oneOf`.
fn choices(field: &Value) -> Option<Vec<String>> {
    if let Some(values) = field["enum"].as_array() {
        return Some(values.iter().map(plain).collect());
    }
    let constants: Vec<String> = field["oneOf"]
        .as_array()?
        .iter()
        .filter_map(|choice| choice.get("const").map(plain))
        .collect();
    (!constants.is_empty()).then_some(constants)
}

/// `string`, `integer`, `boolean`, or `choice` for a field with a list of values.
fn field_type(field: &Value) -> String {
    match choices(field) {
        Some(_) => "choice".to_owned(),
        None => field["type"].as_str().unwrap_or("any").to_owned(),
    }
}

/// What a field accepts: its choices (a count when there are many), its range or length, and
/// whether it must match a pattern.
fn field_values(field: &Value) -> String {
    if let Some(values) = choices(field) {
        return match values.len() {
            0..=4 => values.join(", "),
            count => format!("one of {count} values"),
        };
    }
    let mut rules = Vec::new();
    let bounds = |low: &str, high: &str, unit: &str| match (field.get(low), field.get(high)) {
        (Some(low), Some(high)) => Some(format!("{low} to {high}{unit}")),
        (Some(low), None) => Some(format!("at least {low}{unit}")),
        (None, Some(high)) => Some(format!("at most {high}{unit}")),
        (None, None) => None,
    };
    rules.extend(bounds("minimum", "maximum", ""));
    rules.extend(bounds("minLength", "maxLength", " characters"));
    if let Some(excluded) = field["not"].get("const") {
        rules.push(format!("not {}", plain(excluded)));
    }
    if field.get("pattern").is_some() {
        rules.push("a pattern".to_owned());
    }
    match rules.is_empty() {
        true => "-".to_owned(),
        false => rules.join(", "),
    }
}

/// `yes` when the schema requires the field, `if KEY = VALUE` when a condition of its `allOf`
/// does (`or` between several), else `no`.
fn required(schema: &Value, key: &str) -> String {
    let lists = |value: &Value| {
        value["required"]
            .as_array()
            .is_some_and(|keys| keys.iter().any(|k| k.as_str() == Some(key)))
    };
    if lists(schema) {
        return "yes".to_owned();
    }
    let conditions: Vec<String> = schema["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rule| lists(&rule["then"]))
        .map(|rule| {
            let tests: Vec<String> = rule["if"]["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, test)| match test.get("const") {
                    Some(value) => format!("{name} = {}", plain(value)),
                    None => name.clone(),
                })
                .collect();
            format!("if {}", tests.join(" and "))
        })
        .collect();
    match conditions.is_empty() {
        true => "no".to_owned(),
        false => conditions.join(" or "),
    }
}
