//! docker's template functions, and Go-compatible replacements for gtmpl builtins.

use gtmpl::{Func, FuncError, Value};

use crate::format::value::{go_sprint, to_json, visible_keys, HIDDEN_JSON};

pub(super) fn row_funcs() -> Vec<(&'static str, Func)> {
    vec![
        ("_fmt", fmt_value as Func),
        ("_values", range_values as Func),
        ("_entries", range_entries as Func),
        ("_one", one as Func),
        ("json", json as Func),
        ("join", join as Func),
        ("split", split as Func),
        ("lower", lower as Func),
        ("upper", upper as Func),
        ("title", title as Func),
        ("truncate", truncate as Func),
        ("pad", pad as Func),
        ("len", len as Func),
        ("index", index as Func),
        ("print", print as Func),
        ("println", println as Func),
        ("printf", printf as Func),
        ("_label", row_label as Func),
    ]
}

/// docker's `HeaderFunctions`: keep the column title intact (`pad` is deliberately absent).
pub(super) fn header_funcs() -> Vec<(&'static str, Func)> {
    vec![
        ("_fmt", fmt_header as Func),
        ("json", first_arg as Func),
        ("split", first_arg as Func),
        ("join", first_arg as Func),
        ("title", first_arg as Func),
        ("lower", first_arg as Func),
        ("upper", first_arg as Func),
        ("truncate", first_arg as Func),
        ("_label", header_label as Func),
    ]
}

/// Hidden row field with a container's labels, for `{{.Label "name"}}`.
pub const HIDDEN_LABELS: &str = "\u{1}labels";

/// `ContainerContext.Label(name)` (templates say `.Label "name"`, rewritten to
/// `_label . "name"`).
fn row_label(args: &[Value]) -> Result<Value, FuncError> {
    let name = string_arg(args, 1, "Label", 2)?;
    let value = match &args[0] {
        Value::Object(m) | Value::Map(m) => match m.get(HIDDEN_LABELS) {
            Some(Value::Object(l)) | Some(Value::Map(l)) => l.get(&name).cloned(),
            _ => None,
        },
        _ => None,
    };
    Ok(value.unwrap_or_else(|| Value::String(String::new())))
}

/// `SubHeaderContext.Label(name)`: the last dotted part, `-` and `_` as spaces.
fn header_label(args: &[Value]) -> Result<Value, FuncError> {
    let name = string_arg(args, 1, "Label", 2)?;
    let last = name.rsplit('.').next().unwrap_or("");
    Ok(Value::String(last.replace(['-', '_'], " ")))
}

fn err(msg: impl Into<String>) -> FuncError {
    FuncError::Generic(msg.into())
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str, want: usize) -> Result<&'a Value, FuncError> {
    if args.len() != want {
        return Err(err(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )));
    }
    Ok(&args[i])
}

fn string_arg(args: &[Value], i: usize, name: &str, want: usize) -> Result<String, FuncError> {
    match arg(args, i, name, want)? {
        Value::String(s) => Ok(s.clone()),
        other => Err(err(format!(
            "error calling {name}: wrong type for value; expected string; got {}",
            type_name(other)
        ))),
    }
}

fn int_arg(args: &[Value], i: usize, name: &str, want: usize) -> Result<i64, FuncError> {
    match arg(args, i, name, want)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| err(format!("error calling {name}: integer overflow"))),
        other => Err(err(format!(
            "error calling {name}: wrong type for value; expected int; got {}",
            type_name(other)
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::NoValue => "[]string",
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Number(n) if n.as_f64().is_some() => "float64",
        Value::Number(_) => "int64",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) | Value::Map(_) => "map[string]interface {}",
        Value::Function(_) => "func",
    }
}

fn single<'a>(args: &'a [Value], name: &str) -> Result<&'a Value, FuncError> {
    arg(args, 0, name, 1)
}

fn fmt_value(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(go_sprint(single(args, "_fmt")?)))
}

/// In the header the data is a map of column names: a missing key is Go's `<no value>`.
fn fmt_header(args: &[Value]) -> Result<Value, FuncError> {
    match single(args, "_fmt")? {
        Value::NoValue => Ok(Value::String("<no value>".into())),
        v => Ok(Value::String(go_sprint(v))),
    }
}

fn first_arg(args: &[Value]) -> Result<Value, FuncError> {
    Ok(args.first().cloned().unwrap_or(Value::NoValue))
}

fn range_values(args: &[Value]) -> Result<Value, FuncError> {
    match single(args, "range")? {
        Value::Array(a) => Ok(Value::Array(a.clone())),
        Value::Object(m) | Value::Map(m) => Ok(Value::Array(
            visible_keys(m).into_iter().map(|k| m[k].clone()).collect(),
        )),
        Value::NoValue => Ok(Value::Array(Vec::new())),
        Value::Number(n) if n.as_i64().is_some() => {
            // Go 1.22+: range over an integer.
            let count = n.as_i64().unwrap_or(0).max(0);
            Ok(Value::Array((0..count).map(Value::from).collect()))
        }
        other => Err(err(format!(
            "range can't iterate over {}",
            go_sprint(other)
        ))),
    }
}

fn range_entries(args: &[Value]) -> Result<Value, FuncError> {
    let pair = |k: Value, v: Value| Value::Array(vec![k, v]);
    match single(args, "range")? {
        Value::Array(a) => Ok(Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| pair(Value::from(i), v.clone()))
                .collect(),
        )),
        Value::Object(m) | Value::Map(m) => Ok(Value::Array(
            visible_keys(m)
                .into_iter()
                .map(|k| pair(Value::String(k.clone()), m[k].clone()))
                .collect(),
        )),
        Value::NoValue => Ok(Value::Array(Vec::new())),
        other => Err(err(format!(
            "range can't iterate over {}",
            go_sprint(other)
        ))),
    }
}

fn one(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Array(vec![single(args, "_one")?.clone()]))
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(to_json(single(args, "json")?)))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = string_arg(args, 1, "join", 2)?;
    match &args[0] {
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(go_sprint).collect();
            Ok(Value::String(parts.join(&sep)))
        }
        Value::NoValue | Value::Nil => Ok(Value::String(String::new())),
        other => Err(err(format!(
            "error calling join: wrong type for value; expected []string; got {}",
            type_name(other)
        ))),
    }
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    let s = string_arg(args, 0, "split", 2)?;
    let sep = string_arg(args, 1, "split", 2)?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect()
    };
    Ok(Value::Array(parts))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        string_arg(args, 0, "lower", 1)?.to_lowercase(),
    ))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        string_arg(args, 0, "upper", 1)?.to_uppercase(),
    ))
}

/// Go's (deprecated) `strings.Title`: upper-cases letters that start a word.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = string_arg(args, 0, "title", 1)?;
    Ok(Value::String(go_title(&s)))
}

pub fn go_title(s: &str) -> String {
    let is_separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_separator(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// docker's `truncateWithLength`: cut to `length` bytes (kept on a char boundary).
fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = string_arg(args, 0, "truncate", 2)?;
    let len = int_arg(args, 1, "truncate", 2)?.max(0) as usize;
    if s.len() < len {
        return Ok(Value::String(s));
    }
    let mut end = len;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Ok(Value::String(s[..end].to_string()))
}

/// docker's `padWithSpace`: surround non-empty text with spaces.
fn pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = string_arg(args, 0, "pad", 3)?;
    let prefix = int_arg(args, 1, "pad", 3)?.max(0) as usize;
    let suffix = int_arg(args, 2, "pad", 3)?.max(0) as usize;
    if s.is_empty() {
        return Ok(Value::String(s));
    }
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(prefix),
        " ".repeat(suffix)
    )))
}

fn len(args: &[Value]) -> Result<Value, FuncError> {
    let n = match single(args, "len")? {
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        Value::Object(m) | Value::Map(m) => visible_keys(m).len(),
        Value::NoValue => 0,
        other => {
            return Err(err(format!(
                "error calling len: len of type {}",
                type_name(other)
            )))
        }
    };
    Ok(Value::from(n))
}

fn index(args: &[Value]) -> Result<Value, FuncError> {
    let Some((first, keys)) = args.split_first() else {
        return Err(err("wrong number of args for index: want at least 1 got 0"));
    };
    let mut cur = first.clone();
    for key in keys {
        cur = match (&cur, key) {
            (Value::Array(a), Value::Number(n)) => {
                let i = n.as_i64().unwrap_or(-1);
                if i < 0 || i as usize >= a.len() {
                    return Err(err(format!("error calling index: index out of range: {i}")));
                }
                a[i as usize].clone()
            }
            (Value::String(text), Value::Number(n)) => {
                // Indexing a Go string gives the byte.
                let i = n.as_i64().unwrap_or(-1);
                match usize::try_from(i).ok().and_then(|i| text.as_bytes().get(i)) {
                    Some(b) => Value::from(*b as u64),
                    None => {
                        return Err(err(format!("error calling index: index out of range: {i}")))
                    }
                }
            }
            (Value::NoValue, Value::Number(n)) => {
                return Err(err(format!("error calling index: index out of range: {n}")));
            }
            (Value::Object(m) | Value::Map(m), Value::String(k)) if k != HIDDEN_JSON => {
                // A missing key gives the map's zero value; docker's maps hold strings.
                m.get(k)
                    .cloned()
                    .unwrap_or_else(|| Value::String(String::new()))
            }
            (Value::Nil, _) => return Err(err("error calling index: index of untyped nil")),
            (c, _) => {
                return Err(err(format!(
                    "error calling index: can't index item of type {}",
                    type_name(c)
                )));
            }
        };
    }
    Ok(cur)
}

/// Go's `fmt.Sprint`: spaces only between operands when neither is a string.
fn print(args: &[Value]) -> Result<Value, FuncError> {
    let mut out = String::new();
    let mut prev_string = true;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        out.push_str(&go_sprint(a));
        prev_string = is_string;
    }
    Ok(Value::String(out))
}

fn println(args: &[Value]) -> Result<Value, FuncError> {
    let parts: Vec<String> = args.iter().map(go_sprint).collect();
    Ok(Value::String(format!("{}\n", parts.join(" "))))
}

fn printf(args: &[Value]) -> Result<Value, FuncError> {
    match args.split_first() {
        Some((Value::String(format), rest)) => {
            Ok(Value::String(crate::format::printf::sprintf(format, rest)))
        }
        Some((other, _)) => Err(err(format!(
            "error calling printf: wrong type for value; expected string; got {}",
            type_name(other)
        ))),
        None => Err(err(
            "wrong number of args for printf: want at least 1 got 0",
        )),
    }
}
