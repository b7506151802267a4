//! The README's reference: Markdown tables of a connector's connection fields, of each
//! operation's options and of the document properties each operation reads and writes, generated
//! from the connector's descriptor (never from a list kept by hand). Fields are ordered by
//! `x-order`, then key; everything else keeps the descriptor's order, so the text only changes
//! when the descriptor does.

mod cell;
mod field;
mod requirement;
pub mod section;
#[cfg(test)]
mod tests;

use connector_sdk::Descriptor;
use connector_sdk::descriptor::OperationDescriptor;
use serde_json::Value;

use field::Choice;

/// The reference of every descriptor: `(file name, descriptor)` pairs, in the order given.
pub fn markdown(descriptors: &[(String, Descriptor)]) -> String {
    let sections: Vec<String> = descriptors
        .iter()
        .map(|(file, descriptor)| connector(file, descriptor))
        .collect();
    sections.join("\n")
}

/// The reference of one connector.
pub fn connector(file: &str, descriptor: &Descriptor) -> String {
    let mut out = String::new();
    let (name, id) = (descriptor.name.as_str(), descriptor.id.as_str());
    let title = if name.is_empty() { id } else { name };
    out.push_str(&format!("### {}\n\n", cell::text(title)));
    if !descriptor.description.is_empty() {
        out.push_str(&format!("{}\n\n", cell::text(&descriptor.description)));
    }
    out.push_str(&format!(
        "Descriptor: {}, connector id {}.\n\n",
        cell::code(&format!("descriptors/{file}")),
        cell::code(id)
    ));

    let connection = descriptor.connection.fields.schema();
    if connection.is_object() {
        out.push_str("#### Connection fields\n\n");
        fields_table(connection, "Field", &mut out);
    }

    for operation in &descriptor.operations {
        operation_section(operation, &mut out);
    }
    out
}

fn operation_section(operation: &OperationDescriptor, out: &mut String) {
    out.push_str(&format!(
        "#### Operation {}",
        cell::code(&operation.operation_type)
    ));
    if !operation.label.is_empty() {
        out.push_str(&format!(": {}", cell::text(&operation.label)));
    }
    out.push_str("\n\n");
    if !operation.description.is_empty() {
        out.push_str(&format!("{}\n\n", cell::text(&operation.description)));
    }
    if operation.listener {
        out.push_str(
            "A listener: the host starts it with the protocol's `listen` (1.1), not `execute`.\n\n",
        );
    }

    let options = operation.fields.schema();
    if field::fields(options).is_empty() {
        out.push_str("Options: none.\n\n");
    } else {
        out.push_str("Options:\n\n");
        fields_table(options, "Option", out);
    }

    let directions = [
        ("in", &operation.input_properties),
        ("out", &operation.output_properties),
    ];
    let rows: Vec<String> = directions
        .into_iter()
        .flat_map(|(direction, list)| {
            list.iter().map(move |property| {
                cell::row(&[
                    cell::code(&property.name),
                    direction.into(),
                    cell::text(&property.description),
                ])
            })
        })
        .collect();
    if rows.is_empty() {
        out.push_str("Document properties: none read or written.\n\n");
    } else {
        out.push_str(
            "Document properties (in: read from each input document; out: written on the output \
             documents):\n\n",
        );
        out.push_str(&cell::header(&["Property", "In / out", "Meaning"]));
        out.push('\n');
        for row in rows {
            out.push_str(&row);
            out.push('\n');
        }
        out.push('\n');
    }
}

/// The table of an object schema's fields, then the long lists of allowed values.
fn fields_table(schema: &Value, key_title: &str, out: &mut String) {
    let fields = field::fields(schema);
    let with_secret = fields.iter().any(|f| !field::secret(f).is_empty());
    let mut titles = vec![
        key_title,
        "Label",
        "Type / allowed values",
        "Default",
        "Rule",
        "Required / shown",
    ];
    if with_secret {
        titles.push("Secret");
    }
    titles.push("Description");
    out.push_str(&cell::header(&titles));
    out.push('\n');

    // Fields with the same long list of values share one list below the table.
    let mut long_lists: Vec<(Vec<&str>, Vec<Choice>)> = Vec::new();
    for f in &fields {
        let mut cells = vec![
            cell::code(f.key),
            field::label(f),
            field::kind(schema, f),
            field::default(f),
            field::rule(schema, f),
            requirement::cell(schema, f.key, &f.schema),
        ];
        if with_secret {
            cells.push(field::secret(f).into());
        }
        cells.push(field::description(f));
        out.push_str(&cell::row(&cells));
        out.push('\n');
        if let Some(choices) = field::long_choices(schema, f) {
            match long_lists.iter_mut().find(|(_, listed)| *listed == choices) {
                Some((keys, _)) => keys.push(f.key),
                None => long_lists.push((vec![f.key], choices)),
            }
        }
    }
    out.push('\n');
    for (keys, choices) in long_lists {
        values_list(&keys, &choices, out);
    }
}

/// A collapsed table of allowed values, for a list too long for the type cell.
fn values_list(keys: &[&str], choices: &[Choice], out: &mut String) {
    let names: Vec<String> = keys
        .iter()
        .map(|key| format!("<code>{}</code>", html(key)))
        .collect();
    out.push_str(&format!(
        "<details><summary>Allowed values of {} ({})</summary>\n\n",
        names.join(" and "),
        choices.len()
    ));
    let labelled = choices.iter().any(|c| c.label.is_some());
    if labelled {
        out.push_str(&cell::header(&["Value", "Label"]));
    } else {
        out.push_str(&cell::header(&["Value"]));
    }
    out.push('\n');
    for choice in choices {
        let value = field::value(&choice.value);
        if labelled {
            let label = choice.label.as_deref().map(cell::text).unwrap_or_default();
            out.push_str(&cell::row(&[value, label]));
        } else {
            out.push_str(&cell::row(&[value]));
        }
        out.push('\n');
    }
    out.push_str("\n</details>\n\n");
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
