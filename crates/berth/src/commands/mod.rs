//! One module per command group; `run` dispatches a parsed command line.

pub(crate) mod container;
mod image;
mod inspect;
mod system;
mod volume;

use std::io::{BufRead, IsTerminal, Write};

pub use container::{parse_mount, validate_network};

use crate::cli::flag_error;
use crate::cli::{Command, ContainerCommand, ImageCommand, SystemCommand, VolumeCommand};
use crate::client::Client;
use crate::error::Result;
use crate::filters::{self, Filters};

/// What every command gets: the API client and the process's output streams.
pub struct App {
    pub client: Client,
    /// `-D/--debug`: shown by `info` as the client's debug mode.
    pub debug: bool,
}

impl App {
    pub fn new(client: Client, debug: bool) -> App {
        App { client, debug }
    }

    /// Writes to stdout, flushing so streamed output shows up at once.
    pub fn print(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }

    pub fn eprint(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    }

    pub fn stdout_is_terminal(&self) -> bool {
        std::io::stdout().is_terminal()
    }

    pub fn stdin_is_terminal(&self) -> bool {
        std::io::stdin().is_terminal()
    }
}

/// Runs one command. `Ok(true)` means "print the group's help" (bare `berth image`).
pub async fn run(app: &mut App, command: Command) -> Result<bool> {
    match command {
        Command::Version(o) => system::version(app, o).await?,
        Command::Info(o) => system::info(app, o, "info").await?,
        Command::Events(o) => system::events(app, o, "events").await?,
        Command::Images(o) => image::list(app, o, "images").await?,
        Command::Inspect(o) => inspect::inspect(app, o).await?,
        Command::Rmi(o) => image::remove(app, o, "rmi").await?,
        Command::History(o) => image::history(app, o, "history").await?,
        Command::Tag(o) => image::tag(app, o, "tag").await?,
        Command::Load(o) => image::load(app, o, "load").await?,
        Command::Save(o) => image::save(app, o, "save").await?,
        Command::Import(o) => image::import(app, o, "import").await?,
        Command::Run(o) => container::run(app, o, "run").await?,
        Command::Create(o) => container::create(app, o, "create").await?,
        Command::Start(o) => container::start(app, o, "start").await?,
        Command::Ps(o) => container::list(app, o, "ps").await?,
        Command::Logs(o) => container::logs(app, o, "logs").await?,
        Command::Rm(o) => container::remove(app, o, "rm").await?,
        Command::Stop(o) => container::stop(app, o, "stop").await?,
        Command::Kill(o) => container::kill(app, o, "kill").await?,
        Command::Wait(o) => container::wait(app, o, "wait").await?,
        Command::Attach(o) => container::attach(app, o, "attach").await?,
        Command::Exec(o) => container::exec(app, o, "exec").await?,
        Command::Pause(o) => container::pause(app, o, "pause").await?,
        Command::Port(o) => container::port(app, o, "port").await?,
        Command::Rename(o) => container::rename(app, o, "rename").await?,
        Command::Restart(o) => container::restart(app, o, "restart").await?,
        Command::Stats(o) => container::stats(app, o, "stats").await?,
        Command::Top(o) => container::top(app, o, "top").await?,
        Command::Unpause(o) => container::unpause(app, o, "unpause").await?,
        Command::Update(o) => container::update(app, o, "update").await?,
        Command::Cp(o) => container::cp(app, o, "cp").await?,
        Command::Diff(o) => container::diff(app, o, "diff").await?,
        Command::Commit(o) => container::commit(app, o, "commit").await?,
        Command::Export(o) => container::export(app, o, "export").await?,
        Command::Container(g) => match g.command {
            None => return Ok(true),
            Some(ContainerCommand::Attach(o)) => {
                container::attach(app, o, "container attach").await?
            }
            Some(ContainerCommand::Exec(o)) => container::exec(app, o, "container exec").await?,
            Some(ContainerCommand::Pause(o)) => container::pause(app, o, "container pause").await?,
            Some(ContainerCommand::Port(o)) => container::port(app, o, "container port").await?,
            Some(ContainerCommand::Prune(o)) => container::prune(app, o).await?,
            Some(ContainerCommand::Rename(o)) => {
                container::rename(app, o, "container rename").await?
            }
            Some(ContainerCommand::Restart(o)) => {
                container::restart(app, o, "container restart").await?
            }
            Some(ContainerCommand::Stats(o)) => container::stats(app, o, "container stats").await?,
            Some(ContainerCommand::Top(o)) => container::top(app, o, "container top").await?,
            Some(ContainerCommand::Unpause(o)) => {
                container::unpause(app, o, "container unpause").await?
            }
            Some(ContainerCommand::Update(o)) => {
                container::update(app, o, "container update").await?
            }
            Some(ContainerCommand::Cp(o)) => container::cp(app, o, "container cp").await?,
            Some(ContainerCommand::Diff(o)) => container::diff(app, o, "container diff").await?,
            Some(ContainerCommand::Commit(o)) => {
                container::commit(app, o, "container commit").await?
            }
            Some(ContainerCommand::Export(o)) => {
                container::export(app, o, "container export").await?
            }
            Some(ContainerCommand::Create(o)) => {
                container::create(app, o, "container create").await?
            }
            Some(ContainerCommand::Inspect(o)) => inspect::container_inspect(app, o).await?,
            Some(ContainerCommand::Kill(o)) => container::kill(app, o, "container kill").await?,
            Some(ContainerCommand::Logs(o)) => container::logs(app, o, "container logs").await?,
            Some(ContainerCommand::Ls(o)) => container::list(app, o, "container ls").await?,
            Some(ContainerCommand::Rm(o)) => container::remove(app, o, "container rm").await?,
            Some(ContainerCommand::Run(o)) => container::run(app, o, "container run").await?,
            Some(ContainerCommand::Start(o)) => container::start(app, o, "container start").await?,
            Some(ContainerCommand::Stop(o)) => container::stop(app, o, "container stop").await?,
            Some(ContainerCommand::Wait(o)) => container::wait(app, o, "container wait").await?,
        },
        Command::Image(g) => match g.command {
            None => return Ok(true),
            Some(ImageCommand::History(o)) => image::history(app, o, "image history").await?,
            Some(ImageCommand::Import(o)) => image::import(app, o, "image import").await?,
            Some(ImageCommand::Inspect(o)) => inspect::image_inspect(app, o).await?,
            Some(ImageCommand::Load(o)) => image::load(app, o, "image load").await?,
            Some(ImageCommand::Ls(o)) => image::list(app, o, "image ls").await?,
            Some(ImageCommand::Prune(o)) => image::prune(app, o).await?,
            Some(ImageCommand::Rm(o)) => image::remove(app, o, "image rm").await?,
            Some(ImageCommand::Save(o)) => image::save(app, o, "image save").await?,
            Some(ImageCommand::Tag(o)) => image::tag(app, o, "image tag").await?,
        },
        Command::Volume(g) => match g.command {
            None => return Ok(true),
            Some(VolumeCommand::Create(o)) => volume::create(app, *o).await?,
            Some(VolumeCommand::Inspect(o)) => volume::inspect(app, o).await?,
            Some(VolumeCommand::Ls(o)) => volume::list(app, o, "volume ls").await?,
            Some(VolumeCommand::Prune(o)) => volume::prune(app, o).await?,
            Some(VolumeCommand::Rm(o)) => volume::remove(app, o, "volume rm").await?,
        },
        Command::System(g) => match g.command {
            None => return Ok(true),
            Some(SystemCommand::Df(o)) => system::df(app, o).await?,
            Some(SystemCommand::Events(o)) => system::events(app, o, "system events").await?,
            Some(SystemCommand::Info(o)) => system::info(app, o, "system info").await?,
        },
    }
    Ok(false)
}

/// Parses `--filter` values, failing like pflag does for a bad one (exit 125).
pub fn parse_filters(path: &str, values: &[String], flag: &str) -> Result<Filters> {
    Filters::parse(values).map_err(|msg| {
        let bad = values
            .iter()
            .find(|v| !v.is_empty() && !v.contains('='))
            .cloned()
            .unwrap_or_default();
        flag_error(path, &filters::flag_error(&bad, flag, &msg))
    })
}

/// A flag that only some daemons support (pflag annotations `version` / `ostype`).
pub struct FlagNeed {
    pub name: &'static str,
    pub set: bool,
    /// The lowest API version that knows the flag ("" if any).
    pub version: &'static str,
    /// The only daemon OS it applies to ("" if any).
    pub ostype: &'static str,
}

impl FlagNeed {
    pub fn version(name: &'static str, set: bool, version: &'static str) -> FlagNeed {
        FlagNeed {
            name,
            set,
            version,
            ostype: "",
        }
    }

    pub fn ostype(name: &'static str, set: bool, ostype: &'static str) -> FlagNeed {
        FlagNeed {
            name,
            set,
            version: "",
            ostype,
        }
    }
}

/// docker's `areFlagsSupported`: each flag given that the daemon cannot honour is an
/// error, reported together in flag-name order.
pub async fn flags_supported(app: &mut App, mut needs: Vec<FlagNeed>) -> Result<()> {
    needs.retain(|n| n.set);
    if needs.is_empty() {
        return Ok(());
    }
    needs.sort_by_key(|n| n.name);
    let version = app.client.api_version().await?;
    let mut errors = Vec::new();
    for n in &needs {
        if !n.version.is_empty() && crate::client::version_less(&version, n.version) {
            errors.push(format!(
                "\"--{}\" requires API version {}, but the berth daemon API version is {version}",
                n.name, n.version
            ));
            continue;
        }
        if !n.ostype.is_empty() {
            let os = app.client.os_type().await?;
            if !os.is_empty() && os != n.ostype {
                errors.push(format!(
                    "\"--{}\" is only supported on a berth daemon running on {}, but the berth daemon is running on {os}",
                    n.name, n.ostype
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(crate::error::CliError::other(errors.join("\n")))
    }
}

/// docker's `prompt.Confirm`: only "y"/"Y" confirms.
pub fn confirm(app: &App, message: &str) -> Result<bool> {
    app.print(&format!("{message} [y/N] "))?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().eq_ignore_ascii_case("y"))
}

/// What a prune prints, as docker does: the heading and each deleted name (from `key` of
/// the daemon's report), then the space reclaimed.
pub fn prune_report(report: &serde_json::Value, key: &str, heading: &str) -> String {
    let deleted: Vec<&str> = report
        .get(key)
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let mut text = String::new();
    let mut reclaimed = 0u64;
    if !deleted.is_empty() {
        text.push_str(heading);
        text.push('\n');
        for name in &deleted {
            text.push_str(name);
            text.push('\n');
        }
        text.push('\n');
        reclaimed = report
            .get("SpaceReclaimed")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        crate::format::units::human_size(reclaimed as f64)
    ));
    text
}
