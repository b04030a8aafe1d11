//! `--help` output laid out like docker's (cobra template, pflag option table).

use clap::Command;

use crate::cli::{command, usage};

/// docker wraps at `defaultTermWidth - 1` (pflag's `FlagUsagesWrapped(width - 1)`).
const COLUMNS: usize = 79;

/// Help for the command at `path` ("" for the root, "image ls", ...).
pub fn render(path: &str) -> String {
    let mut cmd = command();
    for word in path.split_whitespace() {
        match cmd.find_subcommand(word) {
            Some(sub) => cmd = sub.clone(),
            None => break,
        }
    }
    let mut out = format!("Usage:  {}\n\n", usage_for(path, &cmd));
    // cobra prints the long description when there is one.
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        out.push_str(&about.to_string());
        out.push('\n');
    }
    if let Some(aliases) = aliases(path) {
        out.push_str(&format!("\nAliases:\n  {aliases}\n"));
    }
    let mut subs: Vec<&Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    subs.sort_by_key(|s| s.get_name().to_string());
    // The root lists command groups separately, as docker's "Management Commands".
    let (groups, plain): (Vec<&Command>, Vec<&Command>) = subs
        .into_iter()
        .partition(|s| path.is_empty() && s.get_subcommands().next().is_some());
    for (title, list) in [("Management Commands", groups), ("Commands", plain)] {
        if list.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title}:\n"));
        for s in list {
            let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
            out.push_str(&format!("  {:<11} {about}\n", s.get_name()));
        }
    }
    let options = option_lines(&cmd);
    if !options.is_empty() {
        out.push_str(if path.is_empty() {
            "\nGlobal Options:\n"
        } else {
            "\nOptions:\n"
        });
        out.push_str(&options);
    }
    if cmd.get_subcommands().next().is_some() {
        let cmd_path = if path.is_empty() {
            "berth".to_string()
        } else {
            format!("berth {path}")
        };
        out.push_str(&format!(
            "\nRun '{cmd_path} COMMAND --help' for more information on a command.\n"
        ));
    }
    out
}

fn usage_for(path: &str, cmd: &Command) -> String {
    if path.is_empty() {
        return "berth [OPTIONS] COMMAND".into();
    }
    if cmd.get_subcommands().next().is_some() {
        return format!("berth {path} COMMAND");
    }
    usage(path)
}

/// docker's "aliases" annotations.
fn aliases(path: &str) -> Option<&'static str> {
    Some(match path {
        "images" | "image ls" => "berth image ls, berth image list, berth images",
        "rmi" | "image rm" => "berth image rm, berth image remove, berth rmi",
        "history" | "image history" => "berth image history, berth history",
        "tag" | "image tag" => "berth image tag, berth tag",
        "load" | "image load" => "berth image load, berth load",
        "save" | "image save" => "berth image save, berth save",
        "import" | "image import" => "berth image import, berth import",
        "events" | "system events" => "berth system events, berth events",
        "info" | "system info" => "berth system info, berth info",
        "run" | "container run" => "berth container run, berth run",
        "create" | "container create" => "berth container create, berth create",
        "start" | "container start" => "berth container start, berth start",
        "ps" | "container ls" => {
            "berth container ls, berth container list, berth container ps, berth ps"
        }
        "logs" | "container logs" => "berth container logs, berth logs",
        "rm" | "container rm" => "berth container rm, berth container remove, berth rm",
        "stop" | "container stop" => "berth container stop, berth stop",
        "kill" | "container kill" => "berth container kill, berth kill",
        "wait" | "container wait" => "berth container wait, berth wait",
        "attach" | "container attach" => "berth container attach, berth attach",
        "exec" | "container exec" => "berth container exec, berth exec",
        "pause" | "container pause" => "berth container pause, berth pause",
        "unpause" | "container unpause" => "berth container unpause, berth unpause",
        "port" | "container port" => "berth container port, berth port",
        "rename" | "container rename" => "berth container rename, berth rename",
        "restart" | "container restart" => "berth container restart, berth restart",
        "stats" | "container stats" => "berth container stats, berth stats",
        "top" | "container top" => "berth container top, berth top",
        "update" | "container update" => "berth container update, berth update",
        "cp" | "container cp" => "berth container cp, berth cp",
        "diff" | "container diff" => "berth container diff, berth diff",
        "commit" | "container commit" => "berth container commit, berth commit",
        "export" | "container export" => "berth container export, berth export",
        "volume ls" => "berth volume ls, berth volume list",
        "volume rm" => "berth volume rm, berth volume remove",
        _ => return None,
    })
}

/// pflag's `FlagUsagesWrapped`: flags sorted by name, usage column aligned and wrapped.
fn option_lines(cmd: &Command) -> String {
    let mut args: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.get_long().is_some() && !a.is_hide_set())
        // Only commands that define `--help` themselves (run, create) list it.
        .filter(|a| {
            a.get_long() != Some("help")
                || a.get_help().is_some_and(|h| h.to_string() == "Print usage")
        })
        .collect();
    args.sort_by_key(|a| a.get_long().unwrap_or_default().to_string());
    let mut rows: Vec<(String, String)> = Vec::new();
    for a in args {
        let long = a.get_long().unwrap_or_default();
        let mut line = match a.get_short() {
            Some(c) => format!("  -{c}, --{long}"),
            None => format!("      --{long}"),
        };
        let takes_value = a.get_value_names().is_some_and(|v| !v.is_empty())
            && !matches!(a.get_action(), clap::ArgAction::Help);
        // Booleans are the only flags with an optional value (`--all[=false]`).
        let is_bool = a.get_num_args().is_some_and(|n| n.min_values() == 0);
        if takes_value && !is_bool {
            if let Some(name) = a.get_value_names().and_then(|v| v.first()) {
                line.push(' ');
                line.push_str(name);
            }
        }
        let mut usage = a.get_help().map(|h| h.to_string()).unwrap_or_default();
        if long == "format" {
            usage = format_help(cmd.get_name());
        }
        if long == "pull" && cmd.get_name() == "create" {
            // docker's wording for create, stray "|" included.
            usage = "Pull image before creating (\"always\", \"|missing\", \"never\")".into();
        }
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().to_string())
            .collect();
        let is_int = a
            .get_value_names()
            .and_then(|v| v.first())
            .is_some_and(|n| n.as_str() == "int");
        match defaults.first().map(String::as_str) {
            None | Some("false") | Some("") => {}
            Some(d) if is_bool || is_int => usage.push_str(&format!(" (default {d})")),
            Some(d) => usage.push_str(&format!(" (default \"{d}\")")),
        }
        rows.push((line, usage));
    }
    let maxlen = rows.iter().map(|(l, _)| l.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (line, usage) in rows {
        let spacing = " ".repeat(maxlen - line.len());
        out.push_str(&format!(
            "{line} {spacing} {}\n",
            wrap(maxlen + 2, COLUMNS, &usage)
        ));
    }
    out
}

/// docker's `FormatHelp` (listing commands) or `InspectFormatHelp` (single objects).
fn format_help(command: &str) -> String {
    let refer = "Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates";
    if matches!(command, "inspect" | "version" | "info" | "events") {
        format!("Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\n{refer}")
    } else {
        format!("Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\n{refer}")
    }
}

/// pflag's `wrapN`: split at the last blank before `i` (going `slop` over if that
/// takes the whole rest).
fn wrap_n(i: usize, slop: usize, s: &str) -> (String, String) {
    if i + slop > s.len() {
        return (s.to_string(), String::new());
    }
    let head = &s[..i];
    let Some(w) = head.rfind([' ', '\t', '\n']).filter(|&w| w > 0) else {
        return (s.to_string(), String::new());
    };
    if let Some(nl) = head.rfind('\n').filter(|&nl| nl > 0 && nl < w) {
        return (s[..nl].to_string(), s[nl + 1..].to_string());
    }
    (s[..w].to_string(), s[w + 1..].to_string())
}

/// pflag's `wrap`: wrap `s` to width `w` with continuation lines indented by `i`.
fn wrap(i: usize, w: usize, s: &str) -> String {
    let mut indent = i;
    let mut width = w.saturating_sub(indent);
    let mut r = String::new();
    if width < 24 {
        indent = 16;
        width = w.saturating_sub(indent);
        r.push('\n');
        r.push_str(&" ".repeat(indent));
    }
    let pad = format!("\n{}", " ".repeat(indent));
    if width < 24 {
        return s.replace('\n', &r);
    }
    let slop = 5;
    let width = width - slop;
    let (first, mut rest) = wrap_n(width, slop, s);
    r.push_str(&first.replace('\n', &pad));
    while !rest.is_empty() {
        let (t, remainder) = wrap_n(width, slop, &rest);
        r.push_str(&pad);
        r.push_str(&t.replace('\n', &pad));
        rest = remainder;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_help_matches_docker_layout() {
        let h = render("images");
        assert!(
            h.starts_with("Usage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nList images\n"),
            "{h}"
        );
        assert!(h.contains("\nOptions:\n  -a, --all             Show all images (default hides intermediate images)\n"), "{h}");
        assert!(
            h.contains("\n  -f, --filter filter   Filter output based on conditions provided\n"),
            "{h}"
        );
        assert!(h.contains(
            "      --format string   Format output using a custom template:\n                        'table':            Print output in table format\n                        with column headers (default)\n"
        ), "{h}");
    }

    #[test]
    fn group_help_lists_commands() {
        let h = render("system");
        assert!(
            h.contains("\nCommands:\n  df          Show berth disk usage\n"),
            "{h}"
        );
        assert!(
            h.ends_with("\nRun 'berth system COMMAND --help' for more information on a command.\n"),
            "{h}"
        );
    }
}
