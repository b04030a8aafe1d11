//! `berth`: a docker-compatible command-line client for berthd.

mod archive;
mod cli;
mod client;
mod commands;
mod error;
mod filters;
mod format;
mod help;
mod opts;
mod timestamp;

use std::error::Error as _;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::FromArgMatches;

use crate::cli::{flag_error, guess_path, Cli};
use crate::client::{Client, Host};
use crate::error::CliError;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = e.to_string();
            if !text.is_empty() {
                eprintln!("{text}");
            }
            ExitCode::from(e.exit_code().clamp(0, 255) as u8)
        }
    }
}

fn run(args: &[String]) -> Result<(), CliError> {
    let protected = cli::protect_dashdash(args);
    let matches = match cli::command().try_get_matches_from(&protected) {
        Ok(m) => m,
        Err(e) => return handle_clap_error(e, args),
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| CliError::other(e.to_string()))?;
    if cli.version {
        stdout(&format!("berth version {}\n", env!("CARGO_PKG_VERSION")));
        return Ok(());
    }
    check_log_level(&cli.log_level)?;
    let Some(subcommand) = cli.command else {
        stdout(&help::render(""));
        return Ok(());
    };
    let host = Host::from_flag_or_env(cli.host.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::other(format!("failed to start runtime: {e}")))?;
    let mut app = commands::App::new(Client::new(host), cli.debug);
    let result = runtime.block_on(commands::run(&mut app, subcommand));
    // Don't wait for blocking reads of stdin (attached containers) to finish.
    runtime.shutdown_background();
    let show_group_help = result?;
    if show_group_help {
        // docker prints a bare group's help on stderr.
        eprint!("{}", help::render(&guess_path(args)));
    }
    Ok(())
}

/// "quiet" from clap's rendering of an argument ("--quiet[=<QUIET>]").
fn long_flag_name(arg: &str) -> String {
    let after = arg.split("--").nth(1).unwrap_or(arg);
    after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// pflag's "-q, --quiet" (or "--digests") for a flag of the command at `path`.
fn flag_display(path: &str, long: &str) -> String {
    let mut cmd = cli::command();
    for word in path.split_whitespace() {
        match cmd.find_subcommand(word) {
            Some(sub) => cmd = sub.clone(),
            None => break,
        }
    }
    let short = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_short());
    match short {
        Some(c) => format!("-{c}, --{long}"),
        None => format!("--{long}"),
    }
}

/// Prints to stdout; a closed pipe is not worth a panic.
fn stdout(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn check_log_level(level: &str) -> Result<(), CliError> {
    match level.to_ascii_lowercase().as_str() {
        "trace" | "debug" | "info" | "warn" | "warning" | "error" | "fatal" | "panic" => Ok(()),
        _ => Err(CliError::other(format!(
            "Unable to parse logging level: {level}"
        ))),
    }
}

/// Words clap's parse errors as docker (cobra/pflag) does, with docker's exit codes.
fn handle_clap_error(e: clap::Error, args: &[String]) -> Result<(), CliError> {
    let path = guess_path(args);
    let context = |kind: ContextKind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(" "),
        _ => String::new(),
    };
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // pflag's notice for cobra's deprecated `-h` (run and create use it for
            // --hostname).
            let dash_h = args.iter().skip(1).any(|a| a == "-h");
            if dash_h
                && !matches!(
                    path.as_str(),
                    "run" | "create" | "container run" | "container create"
                )
            {
                stdout("Flag shorthand -h has been deprecated, use --help\n");
            }
            stdout(&help::render(&path));
            Ok(())
        }
        ErrorKind::UnknownArgument => {
            let arg = context(ContextKind::InvalidArg);
            let flag = arg.split('=').next().unwrap_or(&arg).to_string();
            let msg = if flag.starts_with("--") || !flag.starts_with('-') {
                format!("unknown flag: {flag}")
            } else {
                let c = flag.chars().nth(1).unwrap_or('?');
                format!("unknown shorthand flag: '{c}' in {flag}")
            };
            Err(flag_error(&path, &msg))
        }
        ErrorKind::InvalidSubcommand => {
            let sub = context(ContextKind::InvalidSubcommand);
            let parent = path.split(' ').next().unwrap_or("").to_string();
            let is_group = matches!(parent.as_str(), "image" | "system" | "container" | "volume")
                && parent != sub;
            if is_group {
                Err(CliError::other(format!(
                    "berth: unknown command: berth {parent} {sub}\n\nUsage:  berth {}\n\nRun 'berth {parent} --help' for more information",
                    cli::use_line(&parent)
                )))
            } else {
                Err(CliError::other(format!(
                    "berth: unknown command: berth {sub}\n\nRun 'berth --help' for more information"
                )))
            }
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::NoEquals => {
            let arg = context(ContextKind::InvalidArg);
            let value = context(ContextKind::InvalidValue);
            let long = long_flag_name(&arg);
            if value.is_empty() && e.source().is_none() {
                // pflag names the flag as typed: "'H' in -H" for a shorthand.
                let msg = match args
                    .last()
                    .filter(|a| a.len() == 2 && a.starts_with('-') && !a.starts_with("--"))
                {
                    Some(short) => format!("flag needs an argument: '{}' in {short}", &short[1..]),
                    None => format!("flag needs an argument: --{long}"),
                };
                return Err(flag_error(&path, &msg));
            }
            let reason = match e.source() {
                Some(src) => src.to_string(),
                None => format!("invalid value {value:?}"),
            };
            Err(flag_error(
                &path,
                &format!(
                    "invalid argument {} for \"{}\" flag: {reason}",
                    format::go_quote(&value),
                    flag_display(&path, &long)
                ),
            ))
        }
        _ => {
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            Err(flag_error(&path, &first))
        }
    }
}
