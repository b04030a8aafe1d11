//! `--change` instructions (`docker import -c`, `docker commit -c`): a subset of
//! Dockerfile instructions applied to an image's `config` object.

use serde_json::{json, Map, Value};

use crate::error::{ImageError, Result};

/// The instructions Docker accepts as changes.
const ALLOWED: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Applies each change to `config` (the image config's `config` object).
pub fn apply_changes(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    for change in changes {
        let change = change.trim();
        if change.is_empty() {
            continue;
        }
        let (instr, rest) = match change.split_once(|c: char| c.is_whitespace()) {
            Some((i, r)) => (i.to_ascii_uppercase(), r.trim()),
            None => (change.to_ascii_uppercase(), ""),
        };
        if !ALLOWED.contains(&instr.as_str()) {
            return Err(ImageError::InvalidChange(format!(
                "{} is not a valid change command",
                instr.to_lowercase()
            )));
        }
        apply_one(config, &instr, rest)?;
    }
    Ok(())
}

fn apply_one(config: &mut Map<String, Value>, instr: &str, rest: &str) -> Result<()> {
    match instr {
        "CMD" => {
            config.insert("Cmd".into(), json!(command_form(rest)));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), json!(command_form(rest)));
        }
        "ENV" => {
            for (k, v) in key_values(rest, "ENV")? {
                let env = config.entry("Env").or_insert_with(|| json!([]));
                if !env.is_array() {
                    *env = json!([]);
                }
                let list = env.as_array_mut().expect("made an array above");
                let prefix = format!("{k}=");
                list.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&prefix)));
                list.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            for (k, v) in key_values(rest, "LABEL")? {
                object_field(config, "Labels").insert(k, json!(v));
            }
        }
        "EXPOSE" => {
            for port in rest.split_whitespace() {
                let p = if port.contains('/') {
                    port.to_string()
                } else {
                    format!("{port}/tcp")
                };
                object_field(config, "ExposedPorts").insert(p, json!({}));
            }
        }
        "VOLUME" => {
            let vols = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest)
                    .map_err(|e| ImageError::InvalidChange(format!("VOLUME: {e}")))?
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            for v in vols {
                object_field(config, "Volumes").insert(v, json!({}));
            }
        }
        "USER" => {
            config.insert("User".into(), json!(rest));
        }
        "WORKDIR" => {
            let cur = config
                .get("WorkingDir")
                .and_then(Value::as_str)
                .unwrap_or("");
            let wd = if rest.starts_with('/') || cur.is_empty() {
                rest.to_string()
            } else {
                format!("{}/{rest}", cur.trim_end_matches('/'))
            };
            config.insert("WorkingDir".into(), json!(wd));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), json!(rest));
        }
        "ONBUILD" => {
            let list = config.entry("OnBuild").or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            list.as_array_mut()
                .expect("made an array above")
                .push(json!(rest));
        }
        "HEALTHCHECK" => {
            // Only the NONE and CMD forms without options are needed by import/commit users.
            let up = rest.to_ascii_uppercase();
            if up == "NONE" {
                config.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
            } else if let Some(cmd) = rest
                .strip_prefix("CMD ")
                .or_else(|| rest.strip_prefix("cmd "))
            {
                let test = match command_form(cmd) {
                    v if cmd.trim_start().starts_with('[') => {
                        let mut t = vec!["CMD".to_string()];
                        t.extend(v);
                        t
                    }
                    _ => vec!["CMD-SHELL".to_string(), cmd.trim().to_string()],
                };
                config.insert("Healthcheck".into(), json!({"Test": test}));
            } else {
                return Err(ImageError::InvalidChange(
                    "HEALTHCHECK: expected NONE or CMD".into(),
                ));
            }
        }
        _ => unreachable!("checked against ALLOWED"),
    }
    Ok(())
}

fn object_field<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = config.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    v.as_object_mut().expect("made an object above")
}

/// JSON array (exec form) or shell form wrapped in `/bin/sh -c`.
pub fn command_form(rest: &str) -> Vec<String> {
    let t = rest.trim();
    if t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(t) {
            return v;
        }
    }
    vec!["/bin/sh".into(), "-c".into(), t.to_string()]
}

/// `K=V K2="v 2"` or the legacy `K V` form.
fn key_values(rest: &str, instr: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(rest);
    if words.is_empty() {
        return Err(ImageError::InvalidChange(format!(
            "{instr} requires at least one argument"
        )));
    }
    if !words[0].contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return Ok(vec![(k.to_string(), unquote(v.trim()))]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), unquote(v))),
            _ => Err(ImageError::InvalidChange(format!(
                "{instr} names can not be blank: {w}"
            ))),
        })
        .collect()
}

/// Splits on whitespace outside double or single quotes.
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (_, '\\') => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(v: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Value {
        let mut m = Map::new();
        apply_changes(
            &mut m,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        Value::Object(m)
    }

    #[test]
    fn cmd_forms() {
        assert_eq!(
            apply(&["CMD [\"/bin/sh\",\"-c\",\"x\"]"])["Cmd"],
            json!(["/bin/sh", "-c", "x"])
        );
        assert_eq!(
            apply(&["CMD echo hi"])["Cmd"],
            json!(["/bin/sh", "-c", "echo hi"])
        );
        assert_eq!(apply(&["entrypoint [\"a\"]"])["Entrypoint"], json!(["a"]));
    }

    #[test]
    fn env_label_expose_volume_workdir() {
        let v = apply(&[
            "ENV A=b C=\"d e\"",
            "ENV A=z",
            "ENV OLD style value",
            "LABEL x=y",
            "EXPOSE 80 53/udp",
            "VOLUME /data",
            "WORKDIR /a",
            "WORKDIR b",
            "USER nobody",
        ]);
        assert_eq!(v["Env"], json!(["C=d e", "A=z", "OLD=style value"]));
        assert_eq!(v["Labels"], json!({"x": "y"}));
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(v["Volumes"], json!({"/data": {}}));
        assert_eq!(v["WorkingDir"], json!("/a/b"));
        assert_eq!(v["User"], json!("nobody"));
    }

    #[test]
    fn refuses_unknown_instructions() {
        let mut m = Map::new();
        let err = apply_changes(&mut m, &["RUN rm -rf /".to_string()]).unwrap_err();
        assert_eq!(err.to_string(), "run is not a valid change command");
    }
}
