//! System commands: version, info, events, system df.

mod df;
mod events;
mod info;
mod version;

pub use df::df;
pub use events::events;
pub use info::info;
pub use version::version;

use serde_json::{json, Value};

use crate::client::MAX_API_VERSION;
use crate::error::{CliError, Result};
use crate::format::value::from_json;
use crate::format::Template;

pub(super) const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

pub(super) fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Go's `fmt.Sprint` of a JSON scalar (numbers and booleans as Go prints them).
pub(super) fn go(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

pub(super) fn parse_format_template(
    name: &str,
    format: &str,
    code: i32,
    prefix: &str,
) -> Result<Template> {
    Template::parse_named(name, format).map_err(|e| CliError::status(code, format!("{prefix}{e}")))
}

/// Renders `data` with `template` after giving Go field names to renamed JSON keys.
pub(super) fn render_typed(
    template: &Template,
    data: &Value,
    aliases: &[(&str, &str)],
) -> Result<String> {
    let mut v = from_json(data);
    add_aliases(&mut v, aliases);
    template
        .render(&v)
        .map_err(|e| CliError::other(format!("template parsing error: {e}")))
}

/// Adds Go field names (`APIVersion`) for JSON keys (`ApiVersion`) in nested objects;
/// paths are dot-separated (`Server.ApiVersion`).
fn add_aliases(v: &mut gtmpl::Value, aliases: &[(&str, &str)]) {
    for (json_path, go_name) in aliases {
        let parts: Vec<&str> = json_path.split('.').collect();
        alias_at(v, &parts, go_name);
    }
}

fn alias_at(v: &mut gtmpl::Value, path: &[&str], go_name: &str) {
    let gtmpl::Value::Object(m) = v else { return };
    match path {
        [last] => {
            if let Some(val) = m.get(*last).cloned() {
                m.entry(go_name.to_string()).or_insert(val);
            }
        }
        [first, rest @ ..] => {
            if let Some(next) = m.get_mut(*first) {
                alias_at(next, rest, go_name);
            }
        }
        [] => {}
    }
}

pub(super) fn client_version_json(api_version: &str) -> Value {
    json!({
        "Version": CLIENT_VERSION,
        "ApiVersion": api_version,
        "DefaultAPIVersion": MAX_API_VERSION,
        "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
        "GoVersion": "n/a",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": option_env!("BERTH_BUILD_TIME").unwrap_or(""),
        "Context": "default",
    })
}

/// Architecture names as Go spells them (`amd64`, `arm64`).
pub(super) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}
