//! JSON → template values, and printing them back the way Go does.
//!
//! gtmpl keeps objects in `HashMap`s, so key order is lost; docker's `{{json .}}` prints
//! fields in the API's order. Each converted object therefore carries its original compact
//! JSON under a hidden key (`HIDDEN_JSON`), which `json` prints and everything else skips.
//!
//! Go's typed structs also print nil slices as `[]` and nil maps as `map[]`, unlike a bare
//! `null` (`<nil>`). The API's JSON says `null` for all three, so well-known slice and map
//! field names are mapped to distinct falsy values: `NoValue` for a nil slice and an empty
//! `Map` for a nil map (real JSON objects become `Object`s).

use std::collections::HashMap;

use gtmpl_value::{Number, Value};
use serde_json::Value as Json;

/// Hidden key holding an object's JSON text (keys in their original order).
pub const HIDDEN_JSON: &str = "\u{1}json";
/// Hidden marker of objects that stand for Go structs (printed `{v1 v2}`, not `map[k:v]`).
const HIDDEN_STRUCT: &str = "\u{1}struct";

/// Field names that are slices in docker's Go types: `null` prints as `[]` there.
const SLICE_FIELDS: &[&str] = &[
    "RepoTags",
    "RepoDigests",
    "Cmd",
    "Entrypoint",
    "Env",
    "Shell",
    "OnBuild",
    "Layers",
    "Manifests",
    "Test",
    "Warnings",
    "Names",
    "Ports",
    "Mounts",
    "Args",
    "Binds",
    "Links",
    "DNS",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "CapAdd",
    "CapDrop",
    "SecurityOpt",
    "Components",
    "ServerErrors",
    "ClientErrors",
];

/// Field names that are maps in docker's Go types: `null` prints as `map[]` there.
const MAP_FIELDS: &[&str] = &[
    "Labels",
    "ExposedPorts",
    "Volumes",
    "Data",
    "Attributes",
    "Options",
    "Details",
    "Annotations",
    "Networks",
    "PortBindings",
    "Tmpfs",
    "Sysctls",
    "StorageOpt",
];

/// Converts API JSON into a template value (see the module docs for the encoding).
pub fn from_json(v: &Json) -> Value {
    convert(&sort_map_fields(v, None), None)
}

/// Go encodes maps with sorted keys, so the known map fields are sorted before their
/// JSON text is recorded (struct fields keep the API's order).
fn sort_map_fields(v: &Json, key: Option<&str>) -> Json {
    match v {
        Json::Object(o) => {
            let mut entries: Vec<(&String, Json)> = o
                .iter()
                .map(|(k, e)| (k, sort_map_fields(e, Some(k))))
                .collect();
            if key.is_some_and(|k| MAP_FIELDS.contains(&k)) {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            Json::Object(entries.into_iter().map(|(k, e)| (k.clone(), e)).collect())
        }
        Json::Array(a) => Json::Array(a.iter().map(|e| sort_map_fields(e, None)).collect()),
        other => other.clone(),
    }
}

/// Marks an object's JSON as produced by `json.Marshal`, which (unlike the template's
/// `json` function) escapes `<`, `>` and `&`: docker's formatter rows marshal that way.
pub fn html_escape_json(v: &mut Value) {
    if let Value::Object(m) = v {
        if let Some(Value::String(text)) = m.get_mut(HIDDEN_JSON) {
            *text = text
                .replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026");
        }
    }
}

fn convert(v: &Json, key: Option<&str>) -> Value {
    match v {
        Json::Null => match key {
            Some(k) if SLICE_FIELDS.contains(&k) => Value::NoValue,
            Some(k) if MAP_FIELDS.contains(&k) => Value::Map(HashMap::new()),
            _ => Value::Nil,
        },
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => number(n),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(|e| convert(e, None)).collect()),
        Json::Object(o) => {
            let mut map: HashMap<String, Value> = o
                .iter()
                .map(|(k, e)| (k.clone(), convert(e, Some(k))))
                .collect();
            if !o.is_empty() {
                // Keys starting with U+0001 are data for helper functions, not JSON.
                let text = if o.keys().any(|k| k.starts_with('\u{1}')) {
                    let visible: serde_json::Map<String, Json> = o
                        .iter()
                        .filter(|(k, _)| !k.starts_with('\u{1}'))
                        .map(|(k, e)| (k.clone(), e.clone()))
                        .collect();
                    Json::Object(visible).to_string()
                } else {
                    v.to_string()
                };
                map.insert(HIDDEN_JSON.to_string(), Value::String(text));
                if !key.is_some_and(|k| MAP_FIELDS.contains(&k)) {
                    map.insert(HIDDEN_STRUCT.to_string(), Value::Bool(true));
                }
            }
            Value::Object(map)
        }
    }
}

fn number(n: &serde_json::Number) -> Value {
    if let Some(u) = n.as_u64() {
        Value::Number(Number::from(u))
    } else if let Some(i) = n.as_i64() {
        Value::Number(Number::from(i))
    } else {
        Value::Number(Number::from(n.as_f64().unwrap_or(0.0)))
    }
}

/// Keys of an object or map that a template may see, sorted as Go prints and ranges maps.
pub fn visible_keys(m: &HashMap<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = m.keys().filter(|k| !k.starts_with('\u{1}')).collect();
    keys.sort();
    keys
}

/// Go's `fmt.Sprint(v)` (`%v`) for a template value.
pub fn go_sprint(v: &Value) -> String {
    match v {
        Value::NoValue => "[]".into(),
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => number_string(n),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(go_sprint).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(m) | Value::Map(m) if m.contains_key(HIDDEN_STRUCT) => {
            // Struct fields print in declaration order, which is the JSON's order.
            let order: Vec<String> = match m.get(HIDDEN_JSON) {
                Some(Value::String(text)) => {
                    serde_json::from_str::<serde_json::Map<String, Json>>(text)
                        .map(|o| o.keys().cloned().collect())
                        .unwrap_or_default()
                }
                _ => Vec::new(),
            };
            let items: Vec<String> = order
                .iter()
                .filter_map(|k| m.get(k))
                .map(go_sprint)
                .collect();
            format!("{{{}}}", items.join(" "))
        }
        Value::Object(m) | Value::Map(m) => {
            let items: Vec<String> = visible_keys(m)
                .into_iter()
                .map(|k| format!("{k}:{}", go_sprint(&m[k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        Value::Function(_) => "<func>".into(),
    }
}

fn number_string(n: &Number) -> String {
    if let Some(f) = n.as_f64() {
        // Go's %v for float64 is %g with the shortest representation.
        return go_float(f);
    }
    n.to_string()
}

/// Go's `%v` for a float64: `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits; Go switches to exponent form
    // when the exponent is below -4 or at least 6 (its "shortest" precision).
    let s = format!("{f:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        return format!(
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
    }
    format!("{f}")
}

/// Go's `json.Encoder` with `SetEscapeHTML(false)`, compact, for a template value.
pub fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::NoValue | Value::Nil => out.push_str("null"),
        Value::Map(m) if m.is_empty() => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_string(n)),
        Value::String(s) => out.push_str(&json_string(s)),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(e, out);
            }
            out.push(']');
        }
        Value::Object(m) | Value::Map(m) => {
            if let Some(Value::String(text)) = m.get(HIDDEN_JSON) {
                out.push_str(&go_escape_json_text(text));
                return;
            }
            out.push('{');
            for (i, k) in visible_keys(m).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_string(k));
                out.push(':');
                write_json(&m[k], out);
            }
            out.push('}');
        }
        Value::Function(_) => out.push_str("null"),
    }
}

/// A JSON string literal escaped as Go's encoder (HTML escaping off) does it.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// serde_json leaves U+2028/U+2029 raw; Go escapes them.
fn go_escape_json_text(text: &str) -> String {
    if text.contains(['\u{2028}', '\u{2029}']) {
        text.replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_go() {
        let v = from_json(&json!({
            "Cmd": ["sh", "-c", "echo hi"],
            "Entrypoint": null,
            "Labels": null,
            "Other": null,
            "Env": [],
            "Map": {"b": "2", "a": "1"},
            "Size": 42,
            "F": 1.5
        }));
        let Value::Object(m) = &v else { panic!() };
        assert_eq!(go_sprint(&m["Cmd"]), "[sh -c echo hi]");
        assert_eq!(go_sprint(&m["Entrypoint"]), "[]");
        assert_eq!(go_sprint(&m["Labels"]), "map[]");
        assert_eq!(go_sprint(&m["Other"]), "<nil>");
        assert_eq!(go_sprint(&m["Env"]), "[]");
        assert_eq!(go_sprint(&m["Map"]), "{2 1}");
        let labels = from_json(
            &json!({"Labels": {"b": "2", "a": "1"}, "RootFS": {"Type": "layers", "Layers": ["x"]}}),
        );
        let Value::Object(l) = &labels else { panic!() };
        assert_eq!(go_sprint(&l["Labels"]), "map[a:1 b:2]");
        assert_eq!(go_sprint(&l["RootFS"]), "{layers [x]}");
        assert_eq!(go_sprint(&m["Size"]), "42");
        assert_eq!(go_sprint(&m["F"]), "1.5");
    }

    #[test]
    fn json_keeps_api_order() {
        let src = json!({"Id": "sha256:abc", "Config": {"Z": 1, "A": [1, 2]}, "Labels": null});
        let v = from_json(&src);
        assert_eq!(
            to_json(&v),
            r#"{"Id":"sha256:abc","Config":{"Z":1,"A":[1,2]},"Labels":null}"#
        );
        let Value::Object(m) = &v else { panic!() };
        assert_eq!(to_json(&m["Config"]), r#"{"Z":1,"A":[1,2]}"#);
        assert_eq!(to_json(&m["Labels"]), "null");
        assert_eq!(to_json(&Value::String("a<b>&\"".into())), r#""a<b>&\"""#);
        let mut row = from_json(&json!({"Tag": "<none>"}));
        html_escape_json(&mut row);
        assert_eq!(to_json(&row), r#"{"Tag":"\u003cnone\u003e"}"#);
        let sorted = from_json(&json!({"Config": {"Labels": {"z": "1", "a": "2"}}}));
        assert_eq!(
            to_json(&sorted),
            r#"{"Config":{"Labels":{"a":"2","z":"1"}}}"#
        );
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(100.0), "100");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(1000000.0), "1e+06");
        assert_eq!(go_float(123456789.0), "1.23456789e+08");
        assert_eq!(go_float(0.000001), "1e-06");
    }
}
