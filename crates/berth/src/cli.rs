//! Command-line definition (clap) and docker-style usage errors.
//!
//! Positional arguments are collected without clap constraints and counted by the
//! commands, so that the messages and exit codes are docker's (cobra's) rather than clap's.

use clap::{Args, Parser, Subcommand};

use crate::error::CliError;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true,
    disable_help_subcommand = true,
    override_usage = "berth [OPTIONS] COMMAND [ARG...]"
)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", value_name = "list")]
    pub host: Option<String>,
    /// Set the logging level ("debug", "info", "warn", "error", "fatal")
    #[arg(
        short = 'l',
        long = "log-level",
        value_name = "string",
        default_value = "info"
    )]
    pub log_level: String,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the berth version information
    Version(FormatOpts),
    /// Display system-wide information
    Info(FormatOpts),
    /// Get real time events from the server
    Events(EventsOpts),
    /// List images
    Images(ImagesOpts),
    /// Return low-level information on berth objects
    Inspect(InspectOpts),
    /// Remove one or more images
    Rmi(RmiOpts),
    /// Show the history of an image
    History(HistoryOpts),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagOpts),
    /// Load an image from a tar archive or STDIN
    Load(LoadOpts),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveOpts),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportOpts),
    /// Manage images
    Image(GroupOpts<ImageCommand>),
    /// Manage berth
    System(GroupOpts<SystemCommand>),
}

/// A command group (`image`, `system`); without a subcommand it prints its help.
#[derive(Args, Debug)]
pub struct GroupOpts<T: Subcommand> {
    #[command(subcommand)]
    pub command: Option<T>,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Show the history of an image
    History(HistoryOpts),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportOpts),
    /// Display detailed information on one or more images
    Inspect(ImageInspectOpts),
    /// Load an image from a tar archive or STDIN
    Load(LoadOpts),
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesOpts),
    /// Remove unused images
    Prune(PruneOpts),
    /// Remove one or more images
    #[command(visible_aliases = ["rmi", "remove"])]
    Rm(RmiOpts),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveOpts),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagOpts),
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show berth disk usage
    Df(DfOpts),
    /// Get real time events from the server
    Events(EventsOpts),
    /// Display system-wide information
    Info(FormatOpts),
}

#[derive(Args, Debug)]
pub struct FormatOpts {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct EventsOpts {
    /// Show all events created since timestamp
    #[arg(long = "since", value_name = "string")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long = "until", value_name = "string")]
    pub until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImagesOpts {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Show digests
    #[arg(long = "digests")]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectOpts {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Only inspect objects of the given type
    #[arg(long = "type", value_name = "string")]
    pub object_type: Option<String>,
    #[arg(value_name = "NAME|ID")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImageInspectOpts {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    #[arg(value_name = "IMAGE")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmiOpts {
    /// Force removal of the image
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(value_name = "IMAGE")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneOpts {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct HistoryOpts {
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long = "human", default_value = "true", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "IMAGE")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TagOpts {
    #[arg(value_name = "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadOpts {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input", value_name = "string")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SaveOpts {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<String>,
    #[arg(value_name = "IMAGE")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImportOpts {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message", value_name = "string")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    #[arg(value_name = "file|URL|- [REPOSITORY[:TAG]]")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DfOpts {
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// The clap command with pflag's boolean flags: `--all`, `--all=false`, `-a=0`.
pub fn command() -> clap::Command {
    fn go_bools(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|arg| {
            // Flags that spell out their own value handling (`history -H`) are left alone.
            if matches!(arg.get_action(), clap::ArgAction::SetTrue) && arg.get_num_args().is_none()
            {
                arg.action(clap::ArgAction::Set)
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_value("false")
                    .default_missing_value("true")
                    .value_parser(go_bool)
            } else {
                arg
            }
        })
        .mut_subcommands(go_bools)
    }
    go_bools(<Cli as clap::CommandFactory>::command())
}

/// Go's `strconv.ParseBool`, which pflag uses for `--flag=value` on boolean flags.
pub fn go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing \"{value}\": invalid syntax"
        )),
    }
}

/// docker's "Use" line for each command path, for usage errors.
pub fn use_line(path: &str) -> &'static str {
    match path {
        "" => "[OPTIONS] COMMAND [ARG...]",
        "version" => "version [OPTIONS]",
        "info" | "system info" => "info [OPTIONS]",
        "events" | "system events" => "events [OPTIONS]",
        "images" => "images [OPTIONS] [REPOSITORY[:TAG]]",
        "image ls" => "ls [OPTIONS] [REPOSITORY[:TAG]]",
        "inspect" => "inspect [OPTIONS] NAME|ID [NAME|ID...]",
        "image inspect" => "inspect [OPTIONS] IMAGE [IMAGE...]",
        "rmi" => "rmi [OPTIONS] IMAGE [IMAGE...]",
        "image rm" => "rm [OPTIONS] IMAGE [IMAGE...]",
        "image prune" => "prune [OPTIONS]",
        "history" | "image history" => "history [OPTIONS] IMAGE",
        "tag" | "image tag" => "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        "load" | "image load" => "load [OPTIONS]",
        "save" | "image save" => "save [OPTIONS] IMAGE [IMAGE...]",
        "import" | "image import" => "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        "image" => "image",
        "system" => "system",
        "system df" => "df [OPTIONS]",
        _ => "[OPTIONS]",
    }
}

/// "berth image ls [OPTIONS] ..." for a command path like "image ls".
pub fn usage(path: &str) -> String {
    let use_line = use_line(path);
    let parent = match path.rsplit_once(' ') {
        Some((parent, _)) => format!("berth {parent} "),
        None => "berth ".to_string(),
    };
    if path.is_empty() {
        return format!("berth {use_line}");
    }
    format!("{parent}{use_line}")
}

fn command_path(path: &str) -> String {
    if path.is_empty() {
        "berth".into()
    } else {
        format!("berth {path}")
    }
}

/// The argument-count checks of docker's `cli` package, with its wording (exit 1).
pub enum Arity {
    None,
    Exact(usize),
    Min(usize),
    Max(usize),
}

pub fn check_args(path: &str, args: &[String], arity: Arity) -> Result<(), CliError> {
    let n = args.len();
    let cmd = command_path(path);
    let plural = |count: usize| if count == 1 { "argument" } else { "arguments" };
    let usage = usage(path);
    let msg = match arity {
        Arity::None if n > 0 => {
            format!("berth: '{cmd}' accepts no arguments\n\nUsage:  {usage}\n\nRun '{cmd} --help' for more information")
        }
        Arity::Exact(k) if n != k => format!(
            "berth: '{cmd}' requires {k} {}\n\nUsage:  {usage}\n\nRun '{cmd} --help' for more information",
            plural(k)
        ),
        Arity::Min(k) if n < k => format!(
            "berth: '{cmd}' requires at least {k} {}\n\nUsage:  {usage}\n\nSee '{cmd} --help' for more information",
            plural(k)
        ),
        Arity::Max(k) if n > k => format!(
            "berth: '{cmd}' requires at most {k} {}\n\nUsage:  {usage}\n\nRun '{cmd} --help' for more information",
            plural(k)
        ),
        _ => return Ok(()),
    };
    Err(CliError::Other(msg))
}

/// A flag-parsing error in docker's form (cobra/pflag), which exits 125.
pub fn flag_error(path: &str, msg: &str) -> CliError {
    let cmd = command_path(path);
    CliError::status(
        125,
        format!(
            "{msg}\n\nUsage:  {}\n\nRun '{cmd} --help' for more information",
            usage(path)
        ),
    )
}

/// Works out which command the user meant from raw arguments, to word a clap error
/// as docker would (clap does not report the subcommand path it failed in).
pub fn guess_path(args: &[String]) -> String {
    const GROUPS: &[&str] = &["image", "system"];
    let mut words: Vec<&str> = Vec::new();
    let mut iter = args.iter().skip(1);
    while let Some(a) = iter.next() {
        if words.is_empty() && matches!(a.as_str(), "-H" | "--host" | "-l" | "--log-level") {
            iter.next();
            continue;
        }
        if a.starts_with('-') {
            continue;
        }
        words.push(a);
        if words.len() == 2 || !GROUPS.contains(&words[0]) {
            break;
        }
    }
    fn canonical(w: &str) -> &str {
        match w {
            "list" => "ls",
            "rmi" | "remove" => "rm",
            other => other,
        }
    }
    match words.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [group, sub] => format!("{group} {}", canonical(sub)),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lines() {
        assert_eq!(usage("images"), "berth images [OPTIONS] [REPOSITORY[:TAG]]");
        assert_eq!(
            usage("image ls"),
            "berth image ls [OPTIONS] [REPOSITORY[:TAG]]"
        );
        assert_eq!(usage(""), "berth [OPTIONS] COMMAND [ARG...]");
    }

    #[test]
    fn arity_messages() {
        let err = check_args("images", &["a".into(), "b".into()], Arity::Max(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "berth: 'berth images' requires at most 1 argument\n\nUsage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'berth images --help' for more information"
        );
        assert!(check_args("tag", &["a".into(), "b".into()], Arity::Exact(2)).is_ok());
        let err = check_args("rmi", &[], Arity::Min(1)).unwrap_err();
        assert!(err.to_string().contains("requires at least 1 argument"));
    }

    #[test]
    fn guesses_command_path() {
        let a = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            guess_path(&a("berth -H unix:///x images --bogus")),
            "images"
        );
        assert_eq!(guess_path(&a("berth image list --bogus")), "image ls");
        assert_eq!(guess_path(&a("berth --bogus")), "");
    }

    #[test]
    fn clap_definition_is_valid() {
        command().debug_assert();
    }

    #[test]
    fn bool_flags_take_go_values() {
        use clap::FromArgMatches;
        let parse = |args: &[&str]| {
            let m = command().try_get_matches_from(args).unwrap();
            match Cli::from_arg_matches(&m).unwrap().command {
                Some(Command::Images(o)) => (o.all, o.quiet),
                _ => panic!("not images"),
            }
        };
        assert_eq!(parse(&["berth", "images", "-a", "--quiet"]), (true, true));
        assert_eq!(
            parse(&["berth", "images", "--all=false", "-q=1"]),
            (false, true)
        );
        assert_eq!(parse(&["berth", "images"]), (false, false));
        assert!(command()
            .try_get_matches_from(["berth", "images", "-q=x"])
            .is_err());
        let human = |args: &[&str]| {
            let m = command().try_get_matches_from(args).unwrap();
            match Cli::from_arg_matches(&m).unwrap().command {
                Some(Command::History(o)) => o.human,
                _ => panic!("not history"),
            }
        };
        assert!(human(&["berth", "history", "x"]));
        assert!(!human(&["berth", "history", "-H=false", "x"]));
    }
}
