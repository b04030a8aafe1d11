//! Query strings the way Docker's API reads them: repeated keys, Go's `ParseBool`, and
//! the `filters` JSON in both its forms (`{"k":["v"]}` and the older `{"k":{"v":true}}`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::ApiError;

#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn get_all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Go's `strconv.ParseBool`, with absent or empty meaning false.
    /// `t` (or the older `timeout`) of stop and restart: seconds, `None` for the
    /// container's own stop timeout.
    pub fn stop_timeout(&self) -> Result<Option<i64>, ApiError> {
        self.get("t")
            .or_else(|| self.get("timeout"))
            .map(|t| {
                t.parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid timeout {t:?}")))
            })
            .transpose()
    }

    pub fn bool(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(v) => Err(ApiError::bad_request(format!(
                "strconv.ParseBool: parsing {v:?}: invalid syntax"
            ))),
        }
    }

    pub fn filters(&self) -> Result<Filters, ApiError> {
        Filters::parse(self.get("filters").unwrap_or(""))
    }
}

#[derive(Debug, Default, Clone)]
pub struct Filters {
    map: BTreeMap<String, Vec<String>>,
}

impl Filters {
    pub fn parse(s: &str) -> Result<Filters, ApiError> {
        let mut map = BTreeMap::new();
        if s.trim().is_empty() {
            return Ok(Filters { map });
        }
        let v: Value = serde_json::from_str(s)
            .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| ApiError::bad_request("invalid filter: expected a JSON object"))?;
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                Value::Object(o) => o
                    .iter()
                    .filter(|(_, b)| b.as_bool() == Some(true))
                    .map(|(v, _)| v.clone())
                    .collect(),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter value for {k:?}"
                    )))
                }
            };
            map.insert(k.clone(), list);
        }
        Ok(Filters { map })
    }

    /// Docker: `invalid filter 'x'` for keys an endpoint does not know.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), ApiError> {
        for k in self.map.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
            }
        }
        Ok(())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.map.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// True when `key` is absent or any of its values equals `value`.
    pub fn matches_exact(&self, key: &str, value: &str) -> bool {
        match self.map.get(key) {
            None => true,
            Some(vals) => vals.iter().any(|v| v == value),
        }
    }

    /// `label=k` / `label=k=v` against a label map: every given label must match.
    pub fn match_labels(&self, key: &str, labels: &serde_json::Map<String, Value>) -> bool {
        self.get(key).iter().all(|want| match want.split_once('=') {
            Some((k, v)) => labels.get(k).and_then(Value::as_str) == Some(v),
            None => labels.contains_key(want.as_str()),
        })
    }

    /// `label!=k` / `label!=k=v`: whether any of the given labels matches (to exclude).
    pub fn match_any_label(&self, key: &str, labels: &serde_json::Map<String, Value>) -> bool {
        self.get(key).iter().any(|l| match l.split_once('=') {
            Some((k, v)) => labels.get(k).and_then(Value::as_str) == Some(v),
            None => labels.contains_key(l.as_str()),
        })
    }

    /// A boolean filter (`dangling=true`); invalid values are refused like Docker does.
    pub fn bool_value(&self, key: &str) -> Result<Option<bool>, ApiError> {
        let vals = self.get(key);
        if vals.is_empty() {
            return Ok(None);
        }
        let mut out = None;
        for v in vals {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(ApiError::bad_request(format!("Invalid filter '{key}={v}'"))),
            };
            out = Some(b);
        }
        Ok(out)
    }
}

/// `until` for prune: a Unix timestamp, an RFC 3339 date, or a Go duration before now.
pub fn parse_until(s: &str) -> Result<i64, ApiError> {
    if let Ok(t) = s.split('.').next().unwrap_or(s).parse::<i64>() {
        return Ok(t);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    let secs = parse_go_duration(s)
        .ok_or_else(|| ApiError::bad_request(format!("invalid until filter {s:?}")))?;
    Ok(chrono::Utc::now().timestamp() - secs)
}

fn parse_go_duration(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        any = true;
    }
    (any && num.is_empty()).then_some(total as i64)
}

/// Go's `path.Match`: `*` and `?` do not cross `/`; `[...]` classes with ranges and `^`/`!`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn rec(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => {
                let rest = &p[1..];
                let mut i = 0;
                loop {
                    if rec(rest, &n[i..]) {
                        return true;
                    }
                    if i == n.len() || n[i] == '/' {
                        return false;
                    }
                    i += 1;
                }
            }
            Some('?') => !n.is_empty() && n[0] != '/' && rec(&p[1..], &n[1..]),
            Some('[') => {
                let Some(c) = n.first() else { return false };
                if *c == '/' {
                    return false;
                }
                let mut i = 1;
                let negate = matches!(p.get(1), Some('^') | Some('!'));
                if negate {
                    i += 1;
                }
                let mut matched = false;
                let mut first = true;
                while i < p.len() && (first || p[i] != ']') {
                    first = false;
                    let lo = if p[i] == '\\' && i + 1 < p.len() {
                        i += 1;
                        p[i]
                    } else {
                        p[i]
                    };
                    let mut hi = lo;
                    if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                        hi = p[i + 2];
                        i += 2;
                    }
                    if lo <= *c && *c <= hi {
                        matched = true;
                    }
                    i += 1;
                }
                if i >= p.len() {
                    return false; // unterminated class: Go reports ErrBadPattern, i.e. no match
                }
                matched != negate && rec(&p[i + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => !n.is_empty() && n[0] == p[1] && rec(&p[2..], &n[1..]),
            Some(c) => !n.is_empty() && n[0] == *c && rec(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    rec(&p, &n)
}

/// A query flag as Go's `httputils.BoolValue` reads it (what Docker's archive and commit
/// endpoints use): anything but empty, `0`, `no`, `false` or `none` is true.
pub fn go_bool(s: &str) -> bool {
    !matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "no" | "false" | "none"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h30m"), Some(5400));
        assert_eq!(parse_go_duration("10s"), Some(10));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("5x"), None);
    }

    use super::*;

    #[test]
    fn filters_both_forms() {
        let f = Filters::parse(r#"{"reference":{"busybox":true},"label":["a=b"]}"#).unwrap();
        assert_eq!(f.get("reference"), ["busybox"]);
        assert_eq!(f.get("label"), ["a=b"]);
        assert!(f.validate(&["reference"]).is_err());
        assert!(Filters::parse("nope").is_err());
    }

    #[test]
    fn go_path_match() {
        assert!(glob_match("busybox", "busybox"));
        assert!(glob_match("bus*", "busybox"));
        assert!(!glob_match("*", "a/b"));
        assert!(glob_match("*/*", "a/b"));
        assert!(glob_match("b?sybox:[a-z]*", "busybox:latest"));
        assert!(!glob_match("b[^u]sybox", "busybox"));
        assert!(glob_match("a\\*b", "a*b"));
    }

    #[test]
    fn parse_bool_like_go() {
        let q = Query::parse(Some("a=1&b=False&c=yes&d="));
        assert!(q.bool("a").unwrap());
        assert!(!q.bool("b").unwrap());
        assert!(q.bool("c").is_err());
        assert!(!q.bool("d").unwrap());
        assert!(!q.bool("missing").unwrap());
    }
}
