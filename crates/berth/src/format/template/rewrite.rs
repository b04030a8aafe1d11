//! The template rewriting described in the parent module.

use super::TemplateError;

/// One `{{ ... }}` action as written, split into its parts.
struct Action<'a> {
    left_trim: bool,
    body: &'a str,
    right_trim: bool,
}

impl Action<'_> {
    fn emit(&self, body: &str, out: &mut String) {
        emit_action(self.left_trim, body, self.right_trim, out);
    }
}

fn emit_action(left_trim: bool, body: &str, right_trim: bool, out: &mut String) {
    out.push_str(if left_trim { "{{- " } else { "{{" });
    out.push_str(body);
    out.push_str(if right_trim { " -}}" } else { "}}" });
}

/// Open blocks, to find where an expanded `range` must be closed.
enum Block {
    Plain,
    /// A rewritten range: `with` + `range` (+ a one-element inner range for pairs).
    Range {
        pair: bool,
        else_seen: bool,
    },
}

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "with", "define", "template", "block", "break", "continue",
];

pub(super) fn rewrite(src: &str) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(src.len() + 32);
    let mut stack: Vec<Block> = Vec::new();
    let mut counter = 0usize;
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let (action, consumed) = split_action(after)?;
        rest = &after[consumed..];

        let body = action.body.trim();
        if body.starts_with("/*") {
            action.emit(action.body, &mut out);
            continue;
        }
        let word = first_word(body);
        match word {
            "range" => {
                let pipe = body["range".len()..].trim();
                let (vars, expr) = split_decl(pipe);
                let list = format!("$__list{counter}");
                counter += 1;
                // gtmpl runs a range's else branch even after iterating, so the range is
                // wrapped in a `with` on the (possibly empty) list, which owns the else.
                let pair = vars.len() == 2;
                let helper = if pair { "_entries" } else { "_values" };
                emit_action(
                    action.left_trim,
                    &format!("with {list} := {expr} | {helper}"),
                    false,
                    &mut out,
                );
                if pair {
                    let kv = format!("$__kv{counter}");
                    emit_action(false, &format!("range {kv} := {list}"), false, &mut out);
                    emit_action(
                        false,
                        &format!("{} := index {kv} 0", vars[0]),
                        false,
                        &mut out,
                    );
                    emit_action(
                        false,
                        &format!("range {} := _one (index {kv} 1)", vars[1]),
                        action.right_trim,
                        &mut out,
                    );
                } else if let Some(var) = vars.first() {
                    emit_action(
                        false,
                        &format!("range {var} := {list}"),
                        action.right_trim,
                        &mut out,
                    );
                } else {
                    emit_action(false, &format!("range {list}"), action.right_trim, &mut out);
                }
                stack.push(Block::Range {
                    pair,
                    else_seen: false,
                });
            }
            "if" | "with" | "define" | "block" => {
                action.emit(action.body, &mut out);
                stack.push(Block::Plain);
            }
            "else" | "end" => {
                let closing = word == "end";
                let frame = if closing { stack.pop() } else { None };
                let inner_ends = match (closing, frame, stack.last_mut()) {
                    (
                        true,
                        Some(Block::Range {
                            pair,
                            else_seen: false,
                        }),
                        _,
                    ) => 1 + usize::from(pair),
                    (false, _, Some(Block::Range { pair, else_seen })) if !*else_seen => {
                        *else_seen = true;
                        1 + usize::from(*pair)
                    }
                    _ => 0,
                };
                if inner_ends > 0 {
                    // Close the inner ranges first; the first one takes over the left trim.
                    emit_action(action.left_trim, "end", false, &mut out);
                    for _ in 1..inner_ends {
                        emit_action(false, "end", false, &mut out);
                    }
                    emit_action(false, body, action.right_trim, &mut out);
                } else {
                    action.emit(action.body, &mut out);
                }
            }
            w if KEYWORDS.contains(&w) => action.emit(action.body, &mut out),
            _ => {
                if split_decl(body).0.is_empty() {
                    action.emit(&format!("{body} | _fmt"), &mut out);
                } else {
                    action.emit(action.body, &mut out);
                }
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits the text after `{{` into an action and the number of bytes consumed (through
/// `}}`), skipping quoted strings, raw strings, char literals and comments.
fn split_action(s: &str) -> Result<(Action<'_>, usize), TemplateError> {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut left_trim = false;
    if bytes.len() >= 2 && bytes[0] == b'-' && matches!(bytes[1], b' ' | b'\t' | b'\n' | b'\r') {
        left_trim = true;
        start = 1;
    }
    let mut i = start;
    // A comment runs to `*/` and may contain anything.
    if s[start..].trim_start().starts_with("/*") {
        let Some(end) = s[i..].find("*/") else {
            return Err(TemplateError("template: :1: unclosed comment".into()));
        };
        i += end + 2;
    }
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => {
                let quote = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    if bytes[i] == b'\n' {
                        return Err(TemplateError(
                            "template: :1: unterminated quoted string".into(),
                        ));
                    }
                    i += 1;
                }
                if i >= bytes.len() {
                    return Err(TemplateError(
                        "template: :1: unterminated quoted string".into(),
                    ));
                }
                i += 1;
            }
            b'`' => {
                let Some(end) = s[i + 1..].find('`') else {
                    return Err(TemplateError(
                        "template: :1: unterminated raw quoted string".into(),
                    ));
                };
                i += end + 2;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                let mut body_end = i;
                let mut right_trim = false;
                if i >= start + 2
                    && bytes[i - 1] == b'-'
                    && matches!(bytes[i - 2], b' ' | b'\t' | b'\n' | b'\r')
                {
                    right_trim = true;
                    body_end = i - 1;
                }
                let action = Action {
                    left_trim,
                    body: &s[start..body_end],
                    right_trim,
                };
                return Ok((action, i + 2));
            }
            _ => i += 1,
        }
    }
    Err(TemplateError("template: :1: unclosed action".into()))
}

fn first_word(body: &str) -> &str {
    let end = body
        .find(|c: char| c.is_whitespace() || c == '(' || c == '|')
        .unwrap_or(body.len());
    &body[..end]
}

/// Splits `$a, $b := pipeline` into (["$a", "$b"], "pipeline"); no declaration gives
/// an empty list and the whole text.
fn split_decl(body: &str) -> (Vec<&str>, &str) {
    let none = (Vec::new(), body);
    if !body.starts_with('$') {
        return none;
    }
    let Some(pos) = body.find(":=").or_else(|| body.find('=')) else {
        return none;
    };
    let (lhs, rhs) = body.split_at(pos);
    let rhs = rhs.trim_start_matches(':').trim_start_matches('=');
    let vars: Vec<&str> = lhs.split(',').map(str::trim).collect();
    let is_var =
        |v: &&str| v.starts_with('$') && v[1..].chars().all(|c| c.is_alphanumeric() || c == '_');
    if vars.is_empty() || vars.len() > 2 || !vars.iter().all(is_var) {
        return none;
    }
    (vars, rhs.trim())
}
