//! `--filter name=value` flags, sent to the daemon as docker's `filters` JSON
//! (`{"name":{"value":true}}`, keys sorted as Go's encoder sorts map keys).

use std::collections::BTreeMap;

/// Accumulated filters: name → set of values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, BTreeMap<String, bool>>);

impl Filters {
    pub fn new() -> Filters {
        Filters::default()
    }

    /// Parses repeated `--filter` values as docker's `FilterOpt.Set` does.
    pub fn parse(values: &[String]) -> Result<Filters, String> {
        let mut f = Filters::new();
        for v in values {
            f.set(v)?;
        }
        Ok(f)
    }

    fn set(&mut self, value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Ok(());
        }
        let Some((name, val)) = value.split_once('=') else {
            return Err("bad format of filter (expected name=value)".into());
        };
        self.add(&name.trim().to_lowercase(), val.trim());
        Ok(())
    }

    pub fn add(&mut self, name: &str, value: &str) {
        self.0
            .entry(name.to_string())
            .or_default()
            .insert(value.to_string(), true);
    }

    /// Whether a filter of this name was given (docker's `Args.Contains`).
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `filters` query value, or `None` when there are no filters.
    pub fn to_query(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        serde_json::to_string(&self.0).ok()
    }
}

/// Wording of docker's pflag error for a bad `--filter` value (exit 125).
pub fn flag_error(value: &str, flag: &str, msg: &str) -> String {
    format!("invalid argument \"{value}\" for \"{flag}\" flag: {msg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_docker_filter_json() {
        let f = Filters::parse(&[
            "reference=busybox".into(),
            "Dangling = true ".into(),
            "label=a=b".into(),
        ])
        .unwrap();
        assert_eq!(
            f.to_query().unwrap(),
            r#"{"dangling":{"true":true},"label":{"a=b":true},"reference":{"busybox":true}}"#
        );
        assert_eq!(Filters::new().to_query(), None);
        assert!(Filters::parse(&["nonsense".into()]).is_err());
        assert!(Filters::parse(&[String::new()]).unwrap().is_empty());
    }
}
