//! Tool schemas every MCP client accepts. schemars describes an `Option<i64>` as
//! `"type": ["integer", "null"]` and an `i64` with `"format": "int64"`; clients that map tool
//! schemas onto a single-type dialect (Gemini's function declarations, some OpenAPI 3.0 based
//! hosts) reject type arrays or drop the constraint, and strict validators warn on formats that
//! JSON Schema does not define. So every schema here has:
//!
//! - one `type` per schema: an optional argument is a plain optional property of its own type
//!   (absent means the default), and a nullable result field is an `anyOf` of its type and
//!   `null`;
//! - only the formats JSON Schema 2020-12 defines (schemars' `int64`, `uint32`, `double`... go).
//!
//! The end-to-end suite walks every schema `tools/list` returns to hold these.

use std::sync::Arc;

use rmcp::model::JsonObject;
use schemars::generate::SchemaSettings;
use schemars::transform::{RestrictFormats, Transform, transform_subschemas};
use schemars::{JsonSchema, Schema};
use serde_json::Value;

/// What becomes of `null` in a schema's types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Null {
    /// Arguments: absent is how a client leaves an optional argument out, so `null` goes.
    Omit,
    /// Results: a field that is `null` says so with `anyOf`.
    AnyOf,
}

/// Rewrites type arrays as a single type or an `anyOf` of single types (see the module doc).
#[derive(Debug, Clone, Copy)]
struct SingleTypes(Null);

/// Keywords that describe a schema rather than constrain it: they stay outside the `anyOf`.
const ANNOTATIONS: [&str; 6] = [
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
];

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

impl Transform for SingleTypes {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        let Some(object) = schema.as_object_mut() else {
            return;
        };
        if self.0 == Null::Omit
            && let Some(Value::Array(branches)) = object.get_mut("anyOf")
            && branches.iter().any(is_null_schema)
        {
            branches.retain(|branch| !is_null_schema(branch));
            if let [only] = branches.as_slice()
                && let Some(only) = only.as_object().cloned()
            {
                object.remove("anyOf");
                object.extend(only);
            }
            return;
        }
        if !object.get("type").is_some_and(Value::is_array) {
            return;
        }
        let Some(Value::Array(types)) = object.remove("type") else {
            return;
        };
        let nullable = types.iter().any(|t| t == "null");
        if let Some(Value::Array(values)) = object.get_mut("enum") {
            values.retain(|value| !value.is_null());
        }
        let mut outer = JsonObject::new();
        for key in ANNOTATIONS {
            if let Some(value) = object.remove(key) {
                outer.insert(key.to_string(), value);
            }
        }
        let constraints = std::mem::take(object);
        let mut branches: Vec<Value> = types
            .into_iter()
            .filter(|t| t != "null")
            .map(|t| {
                let mut branch = constraints.clone();
                branch.insert("type".into(), t);
                Value::Object(branch)
            })
            .collect();
        if nullable && self.0 == Null::AnyOf {
            branches.push(serde_json::json!({"type": "null"}));
        }
        if branches.len() == 1
            && let Some(Value::Object(only)) = branches.pop()
        {
            object.extend(only);
        } else {
            object.insert("anyOf".into(), Value::Array(branches));
        }
        object.extend(outer);
    }
}

fn generate<T: JsonSchema>(settings: SchemaSettings, null: Null) -> JsonObject {
    let mut schema = settings
        .with_transform(RestrictFormats::default())
        .with_transform(SingleTypes(null))
        .into_generator()
        .into_root_schema_for::<T>();
    // The wrapper type's name and doc are noise to the model (as rmcp strips them).
    schema.remove("title");
    schema.remove("description");
    match schema.to_value() {
        Value::Object(object) => object,
        _ => JsonObject::new(),
    }
}

/// A tool's `inputSchema`: what the arguments type accepts. Its root must be an object.
pub fn input<T: JsonSchema>() -> Result<Arc<JsonObject>, String> {
    let schema = generate::<T>(SchemaSettings::draft2020_12(), Null::Omit);
    match schema.get("type") {
        Some(Value::String(root)) if root == "object" => Ok(Arc::new(schema)),
        other => Err(format!(
            "the input schema of {} must have root type \"object\", not {other:?}",
            T::schema_name()
        )),
    }
}

/// A tool's `outputSchema`: what the result type serialises to.
pub fn output<T: JsonSchema>() -> Arc<JsonObject> {
    Arc::new(generate::<T>(
        SchemaSettings::draft2020_12().for_serialize(),
        Null::AnyOf,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(dead_code)]
    #[derive(JsonSchema)]
    struct Example {
        /// A count.
        #[schemars(range(min = 1))]
        count: Option<u32>,
        ratio: f64,
        names: Option<Vec<String>>,
    }

    #[test]
    fn an_optional_argument_has_one_type_and_a_standard_format() {
        let schema = input::<Example>().unwrap();
        assert_eq!(
            schema["properties"]["count"],
            json!({"type": "integer", "minimum": 1, "description": "A count."})
        );
        assert_eq!(schema["properties"]["ratio"], json!({"type": "number"}));
        assert_eq!(
            schema["properties"]["names"],
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(schema["required"], json!(["ratio"]));
    }

    #[test]
    fn a_nullable_result_field_is_an_any_of() {
        let schema = output::<Example>();
        assert_eq!(
            schema["properties"]["count"],
            json!({
                "anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}],
                "description": "A count."
            })
        );
        assert_eq!(
            schema["properties"]["names"],
            json!({"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]})
        );
    }
}
