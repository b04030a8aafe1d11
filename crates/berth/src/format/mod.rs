//! Output formatting shared by all commands: docker's `formatter.Context` (table,
//! json and custom `--format` output), Go templates, tab alignment and human units.

pub mod jsonstream;
mod printf;
pub mod tabwriter;
pub mod template;
pub mod time;
pub mod units;
pub mod value;

use serde_json::Value as Json;

use crate::error::{CliError, Result};
pub use template::Template;

pub const TABLE_KEY: &str = "table";
pub const JSON_KEY: &str = "json";
pub const JSON_FORMAT: &str = "{{json .}}";

/// Column titles for a table header, by field name (docker's `SubHeaderContext`).
pub type Header<'a> = &'a [(&'a str, &'a str)];

/// A `--format` value as docker's `formatter.Format` sees it.
pub struct Format<'a>(pub &'a str);

impl Format<'_> {
    pub fn is_table(&self) -> bool {
        self.0.starts_with(TABLE_KEY)
    }

    pub fn is_json(&self) -> bool {
        self.0 == JSON_KEY
    }

    /// docker's `preFormat`: strip `table`, expand `json`, trim spaces and turn the
    /// two-character sequences `\t` and `\n` into real tabs and newlines.
    pub fn template_text(&self) -> String {
        let text = if self.is_table() {
            &self.0[TABLE_KEY.len()..]
        } else if self.is_json() {
            JSON_FORMAT
        } else {
            self.0
        };
        text.trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n")
    }
}

/// Parses a format for a listing command, with docker's error wording.
pub fn parse_template(text: &str) -> Result<Template> {
    Template::parse(text).map_err(|e| CliError::other(format!("template parsing error: {e}")))
}

/// Renders `rows` with `format` as docker's `Context.Write` does: one template
/// execution per row plus a newline, and for `table ...` formats a header line and
/// tab-aligned columns.
pub fn render_rows(
    format: &str,
    rows: &[Json],
    header: Header<'_>,
    type_name: &str,
) -> Result<String> {
    let fmt = Format(format);
    let tmpl = parse_template(&fmt.template_text())?.with_type_name(type_name);
    let mut body = String::new();
    for row in rows {
        let mut data = value::from_json(row);
        value::html_escape_json(&mut data);
        let text = tmpl
            .render(&data)
            .map_err(|e| CliError::other(format!("template parsing error: {e}")))?;
        body.push_str(&text);
        body.push('\n');
    }
    if !fmt.is_table() {
        return Ok(body);
    }
    let mut text = tmpl.render_header(header);
    text.push('\n');
    text.push_str(&body);
    Ok(tabwriter::TabWriter::docker_table().format_all(&text))
}

/// docker's `stringid.TruncateID`: drop the algorithm prefix, keep 12 characters.
pub fn truncate_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, hex)| hex);
    id.chars().take(12).collect()
}

/// docker's `formatter.Ellipsis` for plain-width text.
pub fn ellipsis(s: &str, max_width: usize) -> String {
    if max_width == 0 {
        return String::new();
    }
    let chars: Vec<char> = s.chars().collect();
    if max_width == 1 {
        return chars.first().map(|c| c.to_string()).unwrap_or_default();
    }
    let width = tabwriter::text_width(s);
    if width <= max_width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in chars {
        let w = tabwriter::text_width(c.encode_utf8(&mut [0; 4]));
        if used + w > max_width - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn preformat_like_docker() {
        assert_eq!(
            Format("table {{.ID}}\\t{{.Tag}}").template_text(),
            "{{.ID}}\t{{.Tag}}"
        );
        assert_eq!(Format("json").template_text(), "{{json .}}");
        assert_eq!(Format("  {{.ID}}  ").template_text(), "{{.ID}}");
        assert!(Format("table").is_table());
    }

    #[test]
    fn renders_tables_and_plain_rows() {
        let rows = vec![
            json!({"ID": "abc", "Tag": "latest"}),
            json!({"ID": "defghi", "Tag": "1.0"}),
        ];
        let header: Header = &[("ID", "IMAGE ID"), ("Tag", "TAG")];
        assert_eq!(
            render_rows("table {{.ID}}\t{{.Tag}}", &rows, header, "T").unwrap(),
            "IMAGE ID   TAG\nabc        latest\ndefghi     1.0\n"
        );
        assert_eq!(
            render_rows("{{.ID}}", &rows, header, "T").unwrap(),
            "abc\ndefghi\n"
        );
        assert_eq!(
            render_rows("table {{.ID}}", &[], header, "T").unwrap(),
            "IMAGE ID\n"
        );
        assert!(render_rows("{{.Nope}}", &rows, header, "T").is_err());
    }

    #[test]
    fn ids_and_ellipsis() {
        assert_eq!(truncate_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(truncate_id("<missing>"), "<missing>");
        assert_eq!(
            ellipsis("/bin/sh -c #(nop) ADD file:abc in / ", 10),
            "/bin/sh -…"
        );
        assert_eq!(ellipsis("short", 10), "short");
    }
}
