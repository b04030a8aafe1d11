//! Go `text/template` formatting (`--format`) on top of gtmpl, with docker's functions.
//!
//! gtmpl differs from Go where docker users notice, so templates are rewritten before
//! parsing:
//! - every printing action gets ` | _fmt` appended, because gtmpl prints lists and maps
//!   with Rust's `Debug` while Go prints `[a b]` and `map[k:v]`;
//! - `range` goes through `_values`/`_entries`, which visit map keys in sorted order as Go
//!   does (gtmpl iterates a `HashMap`); the two-variable form becomes a range over
//!   `[key, value]` pairs plus a one-element inner range that sets dot and `$value`.

mod funcs;
pub use funcs::HIDDEN_LABELS;
mod rewrite;

use std::collections::HashMap;

use gtmpl::{Context, Value};

use funcs::{header_funcs, row_funcs};
use rewrite::rewrite;

/// A parsed `--format` template.
pub struct Template {
    rows: gtmpl::Template,
    /// The rewritten text (parsed again for table headers).
    source: String,
    /// The text as the user wrote it, for error positions.
    original: String,
    /// Go type the data stands for; `None` means a plain map (inspect's raw data).
    type_name: Option<String>,
    name: String,
}

/// Errors keep Go's "template: ..." prefix style; callers add "template parsing error: ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Template {
    /// Parses a Go template with docker's function set (`templates.Parse`).
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Template::parse_named("", text)
    }

    /// Like [`Template::parse`] for a named template (the name shows in errors).
    pub fn parse_named(name: &str, text: &str) -> Result<Template, TemplateError> {
        let source = rewrite(text).map_err(|e| {
            TemplateError(e.0.replacen("template: :", &format!("template: {name}:"), 1))
        })?;
        let mut rows = gtmpl::Template::default();
        rows.add_funcs(&row_funcs());
        rows.parse(source.as_str())
            .map_err(|e| TemplateError(parse_error_text(name, text, &e.to_string())))?;
        Ok(Template {
            rows,
            source,
            original: text.to_string(),
            type_name: None,
            name: name.to_string(),
        })
    }

    /// Names the Go type the data stands for, used in "can't evaluate field" errors.
    pub fn with_type_name(mut self, name: &str) -> Template {
        self.type_name = Some(name.to_string());
        self
    }

    /// Executes the template against `data`.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        self.rows
            .render(&Context::from(data.clone()))
            .map_err(|e| TemplateError(self.exec_error_text(&e)))
    }

    fn exec_error_text(&self, e: &gtmpl::error::ExecError) -> String {
        use gtmpl::error::ExecError;
        match e {
            ExecError::NoFiledFor(field, _) => {
                let (line, col, expr) = field_position(&self.original, field);
                let reason = match &self.type_name {
                    Some(t) => format!("can't evaluate field {field} in type {t}"),
                    None => format!("map has no entry for key \"{field}\""),
                };
                let name = &self.name;
                format!("template: {name}:{line}:{col}: executing \"{name}\" at <{expr}>: {reason}")
            }
            ExecError::FuncError(f) => {
                format!("template: {0}:1: executing \"{0}\": {f}", self.name)
            }
            other => format!("template: {0}:1: executing \"{0}\": {other}", self.name),
        }
    }

    /// Executes the template for a table header: against a map of column names, with the
    /// string functions replaced by identities (docker's `HeaderFunctions`).
    pub fn render_header(&self, header: &[(&str, &str)]) -> String {
        let mut t = gtmpl::Template::default();
        t.add_funcs(&row_funcs());
        t.add_funcs(&header_funcs());
        if t.parse(self.source.as_str()).is_err() {
            return String::new();
        }
        let map: HashMap<String, Value> = header
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        // Go writes whatever was produced before a failure; gtmpl gives all or nothing.
        t.render(&Context::from(Value::Map(map)))
            .unwrap_or_default()
    }
}

/// Rewords gtmpl's parse errors ("template: :2:function foo not defined") as Go's
/// ("template: :1: function \"foo\" not defined"). gtmpl's line numbers run ahead of
/// Go's, so they are capped at the template's line count.
fn parse_error_text(name: &str, text: &str, msg: &str) -> String {
    let lines = text.matches('\n').count() + 1;
    let (line, detail) = match msg.strip_prefix("template: ") {
        Some(rest) => {
            let mut parts = rest.splitn(3, ':');
            let _name = parts.next();
            let line: usize = parts
                .next()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(1);
            (
                line.min(lines),
                parts.next().unwrap_or("").trim().to_string(),
            )
        }
        None => (1, msg.to_string()),
    };
    let detail = match detail
        .strip_prefix("function ")
        .and_then(|d| d.strip_suffix(" not defined"))
    {
        Some(f) => format!("function \"{f}\" not defined"),
        None => detail,
    };
    format!("template: {name}:{line}: {detail}")
}

/// Where `.field` appears in the template, as Go reports it: line, byte column of the
/// field chain, and the chain itself (`.Config.Foo`).
fn field_position(text: &str, field: &str) -> (usize, usize, String) {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let needle = format!(".{field}");
    let mut from = 0;
    while let Some(found) = text[from..].find(&needle) {
        let at = from + found;
        let end = at + needle.len();
        if text[end..].chars().next().is_some_and(is_ident) {
            from = end;
            continue;
        }
        let start = text[..at]
            .rfind(|c: char| !(is_ident(c) || c == '.' || c == '$'))
            .map_or(0, |i| i + 1);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line = text[..start].matches('\n').count() + 1;
        return (line, start - line_start, text[start..end].to_string());
    }
    (1, 0, needle)
}

#[cfg(test)]
mod tests {
    use super::super::value::from_json;
    use super::*;
    use serde_json::json;

    fn run(tmpl: &str, data: serde_json::Value) -> String {
        Template::parse(tmpl)
            .unwrap()
            .render(&from_json(&data))
            .unwrap()
    }

    #[test]
    fn prints_lists_and_maps_like_go() {
        let data = json!({"Config": {"Cmd": ["sh", "-c", "x"], "Labels": {"b": "2", "a": "1"}, "Entrypoint": null}});
        assert_eq!(run("{{.Config.Cmd}}", data.clone()), "[sh -c x]");
        assert_eq!(run("{{.Config.Labels}}", data.clone()), "map[a:1 b:2]");
        assert_eq!(run("{{.Config.Entrypoint}}", data.clone()), "[]");
        assert_eq!(run("{{json .Config.Entrypoint}}", data.clone()), "null");
        // Labels is a Go map, so its keys come out sorted.
        assert_eq!(
            run("{{json .Config}}", data),
            r#"{"Cmd":["sh","-c","x"],"Labels":{"a":"1","b":"2"},"Entrypoint":null}"#
        );
    }

    #[test]
    fn ranges_in_sorted_key_order() {
        let data = json!({"L": {"z": "26", "a": "1", "m": "13"}, "A": ["x", "y"]});
        assert_eq!(
            run("{{range $k, $v := .L}}{{$k}}={{$v}};{{end}}", data.clone()),
            "a=1;m=13;z=26;"
        );
        assert_eq!(run("{{range .L}}{{.}},{{end}}", data.clone()), "1,13,26,");
        assert_eq!(
            run("{{range $v := .L}}{{$v}}{{end}}", data.clone()),
            "11326"
        );
        assert_eq!(
            run(
                "{{range $i, $e := .A}}{{$i}}:{{.}}:{{$e}} {{end}}",
                data.clone()
            ),
            "0:x:x 1:y:y "
        );
        assert_eq!(
            run("{{range .Nope}}x{{else}}empty{{end}}", json!({"Nope": []})),
            "empty"
        );
        assert_eq!(
            run(
                "{{range $k, $v := .E}}x{{else}}none{{end}}!",
                json!({"E": {}})
            ),
            "none!"
        );
        assert_eq!(
            run("{{range $k, $v := .L -}} {{$k}} {{- end}}|", data),
            "amz|"
        );
    }

    #[test]
    fn nested_blocks_close_correctly() {
        let data = json!({"L": {"a": "1", "b": "2"}});
        let t = "{{range $k, $v := .L}}{{if eq $k \"a\"}}A{{else}}{{$v}}{{end}}{{end}}.";
        assert_eq!(run(t, data), "A2.");
    }

    #[test]
    fn docker_functions() {
        let data = json!({"S": "Hello World", "L": ["a", "b"], "E": ""});
        assert_eq!(run("{{join .L \",\"}}", data.clone()), "a,b");
        assert_eq!(run("{{split \"a:b:c\" \":\"}}", data.clone()), "[a b c]");
        assert_eq!(
            run("{{lower .S}} {{upper .S}}", data.clone()),
            "hello world HELLO WORLD"
        );
        assert_eq!(
            run("{{title \"hello wide-world\"}}", data.clone()),
            "Hello Wide-World"
        );
        assert_eq!(run("{{truncate .S 5}}", data.clone()), "Hello");
        assert_eq!(run("{{truncate .S 50}}", data.clone()), "Hello World");
        assert_eq!(
            run("[{{pad .S 1 2}}][{{pad .E 1 2}}]", data.clone()),
            "[ Hello World  ][]"
        );
        assert_eq!(run("{{println .S}}", data.clone()), "Hello World\n");
        assert_eq!(run("{{len .L}} {{index .L 1}}", data.clone()), "2 b");
        assert_eq!(
            run("{{printf \"%s-%v\" .S .L}}", data.clone()),
            "Hello World-[a b]"
        );
        assert_eq!(
            run("{{json .}}", data),
            r#"{"S":"Hello World","L":["a","b"],"E":""}"#
        );
    }

    #[test]
    fn declarations_conditionals_and_comments() {
        let data = json!({"A": "x", "N": 0, "T": true});
        assert_eq!(run("{{$a := .A}}{{$a}}", data.clone()), "x");
        assert_eq!(
            run("{{/* c */}}{{if .N}}y{{else if .T}}t{{end}}", data.clone()),
            "t"
        );
        assert_eq!(run("{{with .A}}{{.}}{{end}}", data.clone()), "x");
        assert_eq!(run("{{ .A -}}   {{- .A }}", data.clone()), "xx");
        assert_eq!(run("{{\"}}\"}}", data.clone()), "}}");
        assert_eq!(
            run("{{index .M \"missing\"}}|", json!({"M": {"k": "v"}})),
            "|"
        );
    }

    #[test]
    fn header_uses_column_names() {
        let t =
            Template::parse("{{.ID}}\t{{upper .Repository}}\t{{pad .Tag 1 1}}\t{{.Nope}}").unwrap();
        let h = t.render_header(&[
            ("ID", "IMAGE ID"),
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
        ]);
        assert_eq!(h, "IMAGE ID\tREPOSITORY\t TAG \t<no value>");
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{.Foo").is_err());
        let t = Template::parse("{{.Foo}}").unwrap();
        let e = t.render(&from_json(&json!({"Bar": 1}))).unwrap_err();
        assert!(e.0.contains("Foo"), "{e}");
    }

    #[test]
    fn error_positions_like_go() {
        let t = Template::parse("{{.ID}} {{.Config.Foo}}").unwrap();
        let e = t
            .render(&from_json(&json!({"ID": "x", "Config": {"A": 1}})))
            .unwrap_err();
        assert_eq!(
            e.0,
            "template: :1:10: executing \"\" at <.Config.Foo>: map has no entry for key \"Foo\""
        );
        let t = Template::parse("{{.Foo}}")
            .unwrap()
            .with_type_name("*formatter.imageContext");
        let e = t.render(&from_json(&json!({"ID": "x"}))).unwrap_err();
        assert_eq!(e.0, "template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type *formatter.imageContext");
    }

    #[test]
    fn parse_errors_like_go() {
        let e = |t: &str| Template::parse(t).err().unwrap().0;
        assert_eq!(e("{{end}}"), "template: :1: unexpected {{end}}");
        assert_eq!(
            e("{{nofunc .ID}}"),
            "template: :1: function \"nofunc\" not defined"
        );
        assert_eq!(e("{{.ID"), "template: :1: unclosed action");
        assert_eq!(
            Template::parse_named("version", "{{.ID").err().unwrap().0,
            "template: version:1: unclosed action"
        );
    }

    #[test]
    fn title_matches_go() {
        assert_eq!(
            funcs::go_title("hello_world foo.bar"),
            "Hello_world Foo.Bar"
        );
    }
}
