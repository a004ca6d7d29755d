//! Every tool's input and output schema, as `tools/list` returns them through the binary, in
//! the subset of JSON Schema every MCP client accepts: one `type` per schema (no
//! `["integer", "null"]`), no schema without a keyword, only formats JSON Schema defines.

use kube_sim::Scenario;
use serde_json::Value;

use super::host::{Host, Lifecycle};

/// The formats JSON Schema 2020-12 defines.
const STANDARD_FORMATS: [&str; 19] = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Keywords that say what a value may be (a schema with none of them accepts anything).
const ASSERTING: [&str; 8] = [
    "type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const", "not",
];

/// Collects what is wrong with `schema` and its subschemas, each with its JSON pointer.
fn problems(schema: &Value, at: &str, found: &mut Vec<String>) {
    let Some(object) = schema.as_object() else {
        found.push(format!("{at}: a boolean schema ({schema})"));
        return;
    };
    if !ASSERTING
        .iter()
        .any(|keyword| object.contains_key(*keyword))
    {
        found.push(format!(
            "{at}: no keyword says what the value is ({schema})"
        ));
    }
    if let Some(types) = object.get("type").filter(|t| !t.is_string()) {
        found.push(format!("{at}: type {types} is not a single type"));
    }
    if let Some(format) = object.get("format").and_then(Value::as_str)
        && !STANDARD_FORMATS.contains(&format)
    {
        found.push(format!(
            "{at}: format {format:?} is not a JSON Schema format"
        ));
    }
    for (key, value) in object {
        match key.as_str() {
            "properties" | "$defs" | "patternProperties" => {
                for (name, subschema) in value.as_object().into_iter().flatten() {
                    problems(subschema, &format!("{at}/{key}/{name}"), found);
                }
            }
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                for (i, subschema) in value.as_array().into_iter().flatten().enumerate() {
                    problems(subschema, &format!("{at}/{key}/{i}"), found);
                }
            }
            // `additionalProperties: false` closes an object; it is not a value's schema.
            "items" | "additionalProperties" | "not" if value != &Value::Bool(false) => {
                problems(value, &format!("{at}/{key}"), found);
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn every_tool_schema_is_in_the_subset_every_client_accepts() {
    let host = Host::start(Scenario::empty(), Lifecycle::Handshake).await;
    let tools = host.client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 3, "{tools:?}");
    let mut found = Vec::new();
    let mut walked = 0;
    for tool in &tools {
        let input = Value::Object(tool.input_schema.as_ref().clone());
        problems(&input, &format!("{}:input", tool.name), &mut found);
        let output = Value::Object(tool.output_schema.as_deref().cloned().unwrap_or_default());
        problems(&output, &format!("{}:output", tool.name), &mut found);
        walked += input.to_string().len() + output.to_string().len();
    }
    println!("walked {} tools' schemas ({walked} bytes)", tools.len());
    assert!(
        found.is_empty(),
        "{} problems:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_walker_finds_each_kind_of_problem() {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "a": {"type": ["integer", "null"]},
            "b": {"description": "anything"},
            "c": {"type": "integer", "format": "int64"},
            "d": {"anyOf": [{"type": "string"}, true]},
        }
    });
    let mut found = Vec::new();
    problems(&schema, "t", &mut found);
    assert_eq!(found.len(), 4, "{found:?}");
}
