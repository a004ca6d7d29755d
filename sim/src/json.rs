//! JSON bytes exactly as Go's `encoding/json` writes a `map[string]interface{}`: compact, keys in
//! byte order, `<`, `>`, `&`, U+2028 and U+2029 escaped. kubectl compares ControllerRevision data
//! byte for byte with its own re-encoding of the live object, so every byte the sim serves (and
//! every hash it computes over a template) goes through this one writer. It sorts keys itself
//! rather than trusting `serde_json::Map`'s order, which another crate in the workspace may switch
//! to insertion order through feature unification.

use serde_json::{Map, Value};

/// Serialises `value` the way Go's `json.Marshal` serialises the same generic map.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// [`to_vec`] as a `String`.
pub fn to_string(value: &Value) -> String {
    // The writer only ever emits valid UTF-8 (input strings are UTF-8, escapes are ASCII).
    String::from_utf8(to_vec(value)).unwrap_or_default()
}

/// Appends `value` to `out`, leaving out the top-level keys in `skip` (list items drop `kind` and
/// `apiVersion`).
pub fn write_without(out: &mut Vec<u8>, value: &Value, skip: &[&str]) {
    match value {
        Value::Object(map) => write_map(out, map, skip),
        other => write_value(out, other),
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            // Writing into a Vec cannot fail.
            let _ = std::io::Write::write_fmt(out, format_args!("{n}"));
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_map(out, map, &[]),
    }
}

fn write_map(out: &mut Vec<u8>, map: &Map<String, Value>, skip: &[&str]) {
    let kept = |(k, _): &(&String, &Value)| !skip.contains(&k.as_str());
    let sorted = map
        .keys()
        .zip(map.keys().skip(1))
        .all(|(a, b)| a.as_bytes() <= b.as_bytes());
    out.push(b'{');
    let mut first = true;
    let mut entry = |out: &mut Vec<u8>, key: &str, value: &Value| {
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, key);
        out.push(b':');
        write_value(out, value);
    };
    if sorted {
        for (key, value) in map.iter().filter(|e| kept(e)) {
            entry(out, key, value);
        }
    } else {
        let mut entries: Vec<(&String, &Value)> = map.iter().filter(|e| kept(e)).collect();
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (key, value) in entries {
            entry(out, key, value);
        }
    }
    out.push(b'}');
}

fn needs_escape(c: char) -> bool {
    matches!(c, '"' | '\\' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}') || (c as u32) < 0x20
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    if !s.chars().any(needs_escape) {
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c if needs_escape(c) => {
                let b = c as u32 as u8;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The value at a `/`-free path of object keys, if every step exists.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// The string at `path`, or `""`.
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `path`, if it is one.
pub fn i64_at(value: &Value, path: &[&str]) -> Option<i64> {
    at(value, path).and_then(Value::as_i64)
}

/// The object at `path`, created (replacing any non-object on the way) if missing.
pub fn object_at<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut cur = value;
    for key in path {
        cur = ensure_object(cur)
            .entry((*key).to_string())
            .or_insert(Value::Null);
    }
    ensure_object(cur)
}

/// `value` as an object, replacing it with an empty one if it is anything else.
pub fn ensure_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("the value was made an object above"),
    }
}

/// Sets `path` to `new`, creating intermediate objects.
pub fn set_at(value: &mut Value, path: &[&str], new: Value) {
    if let Some((last, parents)) = path.split_last() {
        object_at(value, parents).insert((*last).to_string(), new);
    }
}

/// Removes the key at `path` if present.
pub fn remove_at(value: &mut Value, path: &[&str]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = value;
    for key in parents {
        cur = cur.get_mut(*key)?;
    }
    cur.as_object_mut()?.remove(*last)
}

/// The string-to-string map at `path` (labels, annotations, matchLabels); non-string values are
/// skipped.
pub fn string_map(value: &Value, path: &[&str]) -> std::collections::BTreeMap<String, String> {
    at(value, path)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_like_go_json_marshal_of_a_generic_map() {
        let v = json!({"b": 1, "a": {"z": [true, null, "x"], "$patch": "replace"}, "c": "sh -c 'a && b' <x>"});
        assert_eq!(
            to_string(&v),
            r#"{"a":{"$patch":"replace","z":[true,null,"x"]},"b":1,"c":"sh -c 'a \u0026\u0026 b' \u003cx\u003e"}"#
        );
    }

    #[test]
    fn escapes_control_characters_with_lowercase_hex() {
        assert_eq!(to_string(&json!("a\u{1}\n\"\\")), r#""a\u0001\n\"\\""#);
    }

    #[test]
    fn object_at_creates_the_path() {
        let mut v = json!({"metadata": null});
        object_at(&mut v, &["metadata", "labels"]).insert("a".into(), json!("b"));
        assert_eq!(v, json!({"metadata": {"labels": {"a": "b"}}}));
        assert_eq!(
            remove_at(&mut v, &["metadata", "labels", "a"]),
            Some(json!("b"))
        );
    }
}
