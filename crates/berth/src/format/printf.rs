//! Go's `fmt.Sprintf` for template values (the template `printf` function).
//!
//! gtmpl has its own, but pads strings on the wrong side (Rust's default alignment), and
//! `{{printf "%-20s" .Name}}`-style column formatting is common in docker templates.

use gtmpl::Value;

use super::value::{go_float, go_sprint};

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next_arg = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let mut take_number = |chars: &mut std::iter::Peekable<std::str::Chars>| -> Option<usize> {
            if chars.peek() == Some(&'*') {
                chars.next();
                let n = args.get(next_arg).and_then(number_as_i64);
                next_arg += 1;
                return n.map(|n| n.max(0) as usize);
            }
            let mut digits = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(d);
                chars.next();
            }
            digits.parse().ok()
        };
        spec.width = take_number(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(take_number(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next_arg += 1;
        out.push_str(&format_one(verb, spec, arg));
    }
    if next_arg < args.len() {
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| format!("{}={}", type_name(a), go_sprint(a)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn number_as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.as_f64().is_some() => "float64",
        Value::Number(_) => "int",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) | Value::Map(_) => "map[string]interface {}",
        _ => "<nil>",
    }
}

fn bad_verb(verb: char, arg: &Value) -> String {
    format!("%!{verb}({}={})", type_name(arg), go_sprint(arg))
}

fn format_one(verb: char, spec: Spec, arg: &Value) -> String {
    let body = match (verb, arg) {
        ('v' | 's', Value::String(s)) => truncate(s, spec.precision),
        ('v', _) => go_sprint(arg),
        ('s', Value::Array(_) | Value::Object(_) | Value::Map(_) | Value::NoValue) => {
            go_sprint(arg)
        }
        ('q', Value::String(s)) => super::value::json_string(s),
        ('t', Value::Bool(b)) => b.to_string(),
        ('x' | 'X', Value::String(s)) => {
            let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
            if verb == 'X' {
                hex.to_uppercase()
            } else {
                hex
            }
        }
        (_, Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                match format_int(verb, spec, i as i128) {
                    Some(s) => return pad_number(&s, spec),
                    None => return bad_verb(verb, arg),
                }
            }
            if let Some(u) = n.as_u64() {
                match format_int(verb, spec, u as i128) {
                    Some(s) => return pad_number(&s, spec),
                    None => return bad_verb(verb, arg),
                }
            }
            let f = n.as_f64().unwrap_or(0.0);
            match format_float(verb, spec, f) {
                Some(s) => return pad_number(&s, spec),
                None => return bad_verb(verb, arg),
            }
        }
        _ => return bad_verb(verb, arg),
    };
    pad(&body, spec)
}

fn truncate(s: &str, precision: Option<usize>) -> String {
    match precision {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

fn format_int(verb: char, spec: Spec, i: i128) -> Option<String> {
    let (neg, abs) = (i < 0, i.unsigned_abs());
    let digits = match verb {
        'd' | 'v' => abs.to_string(),
        'x' => format!("{}{abs:x}", if spec.sharp { "0x" } else { "" }),
        'X' => format!("{}{abs:X}", if spec.sharp { "0X" } else { "" }),
        'o' => format!("{}{abs:o}", if spec.sharp { "0" } else { "" }),
        'b' => format!("{abs:b}"),
        'c' => return char::from_u32(i as u32).map(String::from),
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => return format_float(verb, spec, i as f64),
        _ => return None,
    };
    Some(with_sign(neg, spec, digits))
}

fn format_float(verb: char, spec: Spec, f: f64) -> Option<String> {
    let (neg, abs) = (f.is_sign_negative(), f.abs());
    let body = match verb {
        'f' | 'F' => format!("{abs:.*}", spec.precision.unwrap_or(6)),
        'e' | 'E' => {
            let s = format!("{abs:.*e}", spec.precision.unwrap_or(6));
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            let e: i32 = e.parse().unwrap_or(0);
            let s = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
            if verb == 'E' {
                s.to_uppercase()
            } else {
                s
            }
        }
        'g' | 'G' | 'v' => match spec.precision {
            Some(p) => super::units::format_g(abs, p),
            None => go_float(abs),
        },
        _ => return None,
    };
    Some(with_sign(neg, spec, body))
}

fn with_sign(neg: bool, spec: Spec, digits: String) -> String {
    if neg {
        format!("-{digits}")
    } else if spec.plus {
        format!("+{digits}")
    } else if spec.space {
        format!(" {digits}")
    } else {
        digits
    }
}

/// Numbers pad with zeros after the sign when `0` is given (and not `-`).
fn pad_number(s: &str, spec: Spec) -> String {
    let width = spec.width.unwrap_or(0);
    let len = s.chars().count();
    if spec.zero && !spec.minus && len < width {
        let (sign, digits) = match s.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (c.to_string(), &s[1..]),
            _ => (String::new(), s),
        };
        return format!("{sign}{}{digits}", "0".repeat(width - len));
    }
    pad(s, spec)
}

fn pad(s: &str, spec: Spec) -> String {
    let width = spec.width.unwrap_or(0);
    let len = s.chars().count();
    if len >= width {
        return s.to_string();
    }
    let fill = " ".repeat(width - len);
    if spec.minus {
        format!("{s}{fill}")
    } else {
        format!("{fill}{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        Value::String(s.into())
    }

    #[test]
    fn strings_and_numbers_like_go() {
        assert_eq!(sprintf("%5.2s|", &[v("abcdef")]), "   ab|");
        assert_eq!(sprintf("%-6s|", &[v("ab")]), "ab    |");
        assert_eq!(sprintf("%q", &[v("a\"b")]), "\"a\\\"b\"");
        assert_eq!(
            sprintf(
                "%05d %x %+d",
                &[Value::from(42), Value::from(255), Value::from(3)]
            ),
            "00042 ff +3"
        );
        assert_eq!(
            sprintf(
                "%.2f %6.1f|",
                &[Value::from(1.005f64), Value::from(2.25f64)]
            ),
            "1.00    2.2|"
        );
        assert_eq!(sprintf("%d%%", &[Value::from(5)]), "5%");
        assert_eq!(sprintf("%s %d", &[v("x")]), "x %!d(MISSING)");
        assert_eq!(sprintf("%d", &[v("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s", &[v("x"), v("y")]), "x%!(EXTRA string=y)");
        assert_eq!(
            sprintf("%v", &[Value::Array(vec![v("a"), v("b")])]),
            "[a b]"
        );
        assert_eq!(sprintf("%t", &[Value::Bool(true)]), "true");
    }
}
