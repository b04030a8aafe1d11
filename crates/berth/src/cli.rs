//! Command-line definition (clap) and docker-style usage errors.
//!
//! Positional arguments are collected without clap constraints and counted by the
//! commands, so that the messages and exit codes are docker's (cobra's) rather than clap's.

use clap::{Args, Parser, Subcommand};

use crate::error::CliError;
use crate::opts::{
    any_map_entry, go_duration, go_uint16, go_uint64, mem_bytes, mem_swap_bytes, parse_cpus,
    throttle_bps_device, throttle_iops_device, validate_device_cgroup_rule, validate_dns_search,
    validate_extra_host, validate_ip_address, validate_link, validate_sysctl, weight_device,
    ThrottleDevice, WeightDevice,
};

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
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunOpts),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(CreateOpts),
    /// Start one or more stopped containers
    Start(StartOpts),
    /// List containers
    Ps(PsOpts),
    /// Fetch the logs of a container
    Logs(LogsOpts),
    /// Remove one or more containers
    Rm(RmOpts),
    /// Stop one or more running containers
    Stop(StopOpts),
    /// Kill one or more running containers
    Kill(KillOpts),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitOpts),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachOpts),
    /// Execute a command in a running container
    Exec(ExecOpts),
    /// Pause all processes within one or more containers
    Pause(ContainersOpts),
    /// List port mappings or a specific mapping for the container
    Port(PortOpts),
    /// Rename a container
    Rename(RenameOpts),
    /// Restart one or more containers
    Restart(StopOpts),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsOpts),
    /// Display the running processes of a container
    Top(TopOpts),
    /// Unpause all processes within one or more containers
    Unpause(ContainersOpts),
    /// Update configuration of one or more containers
    Update(UpdateOpts),
    /// Copy files/folders between a container and the local filesystem
    #[command(long_about = CP_LONG)]
    Cp(CpOpts),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffOpts),
    /// Create a new image from a container's changes
    Commit(CommitOpts),
    /// Export a container's filesystem as a tar archive
    Export(ExportOpts),
    /// Manage containers
    Container(GroupOpts<ContainerCommand>),
    /// Manage images
    Image(GroupOpts<ImageCommand>),
    /// Manage berth
    System(GroupOpts<SystemCommand>),
    /// Manage volumes
    Volume(GroupOpts<VolumeCommand>),
}

/// `cp`'s long description (docker's `Long`).
const CP_LONG: &str = "Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.";

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachOpts),
    /// Execute a command in a running container
    Exec(ExecOpts),
    /// Pause all processes within one or more containers
    Pause(ContainersOpts),
    /// List port mappings or a specific mapping for the container
    Port(PortOpts),
    /// Remove all stopped containers
    Prune(ContainerPruneOpts),
    /// Rename a container
    Rename(RenameOpts),
    /// Restart one or more containers
    Restart(StopOpts),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsOpts),
    /// Display the running processes of a container
    Top(TopOpts),
    /// Unpause all processes within one or more containers
    Unpause(ContainersOpts),
    /// Update configuration of one or more containers
    Update(UpdateOpts),
    /// Copy files/folders between a container and the local filesystem
    #[command(long_about = CP_LONG)]
    Cp(CpOpts),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffOpts),
    /// Create a new image from a container's changes
    Commit(CommitOpts),
    /// Export a container's filesystem as a tar archive
    Export(ExportOpts),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(CreateOpts),
    /// Display detailed information on one or more containers
    Inspect(ContainerInspectOpts),
    /// Kill one or more running containers
    Kill(KillOpts),
    /// Fetch the logs of a container
    Logs(LogsOpts),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsOpts),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmOpts),
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunOpts),
    /// Start one or more stopped containers
    Start(StartOpts),
    /// Stop one or more running containers
    Stop(StopOpts),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitOpts),
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
pub enum VolumeCommand {
    /// Create a volume
    Create(Box<VolumeCreateOpts>),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectOpts),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(VolumeLsOpts),
    /// Remove unused local volumes
    Prune(VolumePruneOpts),
    /// Remove one or more volumes
    #[command(
        visible_alias = "remove",
        long_about = "Remove one or more volumes. You cannot remove a volume that is in use by a container."
    )]
    Rm(VolumeRmOpts),
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

/// The flags `run` and `create` share (docker's `containerOptions` and `createOptions`).
#[derive(Args, Debug, Default, Clone)]
pub struct ContainerFlags {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_name = "list", value_parser = validate_attach)]
    pub attach: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Write the container ID to the file
    #[arg(long = "cidfile", value_name = "string")]
    pub cidfile: Option<String>,
    /// Container NIS domain name
    #[arg(long = "domainname", value_name = "string")]
    pub domainname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint", value_name = "string")]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list", value_parser = validate_env)]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// Print usage
    #[arg(long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Container host name
    #[arg(short = 'h', long = "hostname", value_name = "string")]
    pub hostname: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long = "init", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool)]
    pub init: Option<bool>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// IPC mode to use
    #[arg(long = "ipc", value_name = "string")]
    pub ipc: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list", value_parser = validate_label)]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    pub label_file: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// Assign a name to the container
    #[arg(long = "name", value_name = "string")]
    pub name: Option<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net", value_name = "network",
          value_parser = crate::commands::validate_network)]
    pub network: Vec<String>,
    /// PID namespace to use
    #[arg(long = "pid", value_name = "string")]
    pub pid: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long = "pull", value_name = "string", default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", value_name = "string", default_value = "no")]
    pub restart: String,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes", value_parser = ram_in_bytes)]
    pub shm_size: Option<i64>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int", value_parser = go_int)]
    pub stop_timeout: Option<i64>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Ulimit options (default [])
    #[arg(long = "ulimit", value_name = "ulimit", value_parser = parse_ulimit)]
    pub ulimit: Vec<Ulimit>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// UTS namespace to use
    #[arg(long = "uts", value_name = "string")]
    pub uts: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list", value_parser = validate_extra_host)]
    pub add_host: Vec<String>,
    /// Add an annotation to the container (passed through to the OCI runtime) (default map[])
    #[arg(long = "annotation", value_name = "map", value_parser = any_map_entry)]
    pub annotation: Vec<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16", value_parser = go_uint16)]
    pub blkio_weight: Option<u16>,
    /// Block IO weight (relative device weight) (default [])
    #[arg(long = "blkio-weight-device", value_name = "list", value_parser = weight_device)]
    pub blkio_weight_device: Vec<WeightDevice>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent", value_name = "string")]
    pub cgroup_parent: Option<String>,
    /// Cgroup namespace to use (host|private)
    /// 'host':    Run the container in the berth host's cgroup namespace
    /// 'private': Run the container in its own private cgroup namespace
    /// '':        Use the cgroup namespace as configured by the
    ///            default-cgroupns-mode option on the daemon (default)
    #[arg(long = "cgroupns", value_name = "string", verbatim_doc_comment)]
    pub cgroupns: Option<String>,
    /// CPU count (Windows only)
    #[arg(long = "cpu-count", value_name = "int", value_parser = go_int)]
    pub cpu_count: Option<i64>,
    /// CPU percent (Windows only)
    #[arg(long = "cpu-percent", value_name = "int", value_parser = go_int)]
    pub cpu_percent: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int", value_parser = go_int)]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", value_parser = go_int)]
    pub cpu_quota: Option<i64>,
    /// Limit CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_name = "int", value_parser = go_int)]
    pub cpu_rt_period: Option<i64>,
    /// Limit CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime", value_name = "int", value_parser = go_int)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int", value_parser = go_int)]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal", value_parser = parse_cpus)]
    pub cpus: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Add a host device to the container
    #[arg(long = "device", value_name = "list")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule", value_name = "list", value_parser = validate_device_cgroup_rule)]
    pub device_cgroup_rule: Vec<String>,
    /// Limit read rate (bytes per second) from a device (default [])
    #[arg(long = "device-read-bps", value_name = "list", value_parser = throttle_bps_device)]
    pub device_read_bps: Vec<ThrottleDevice>,
    /// Limit read rate (IO per second) from a device (default [])
    #[arg(long = "device-read-iops", value_name = "list", value_parser = throttle_iops_device)]
    pub device_read_iops: Vec<ThrottleDevice>,
    /// Limit write rate (bytes per second) to a device (default [])
    #[arg(long = "device-write-bps", value_name = "list", value_parser = throttle_bps_device)]
    pub device_write_bps: Vec<ThrottleDevice>,
    /// Limit write rate (IO per second) to a device (default [])
    #[arg(long = "device-write-iops", value_name = "list", value_parser = throttle_iops_device)]
    pub device_write_iops: Vec<ThrottleDevice>,
    /// Skip image verification
    #[arg(long = "disable-content-trust", default_value = "true", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    pub disable_content_trust: bool,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "list", value_parser = validate_ip_address)]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list", value_parser = validate_dns_search)]
    pub dns_search: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose", value_name = "list")]
    pub expose: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "duration", value_parser = go_duration)]
    pub health_interval: Option<i64>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", value_name = "int", value_parser = go_int)]
    pub health_retries: Option<i64>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-interval", value_name = "duration", value_parser = go_duration)]
    pub health_start_interval: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_name = "duration", value_parser = go_duration)]
    pub health_start_period: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "duration", value_parser = go_duration)]
    pub health_timeout: Option<i64>,
    /// Maximum IO bandwidth limit for the system drive (Windows only)
    #[arg(long = "io-maxbandwidth", value_name = "bytes", value_parser = mem_bytes)]
    pub io_maxbandwidth: Option<i64>,
    /// Maximum IOps limit for the system drive (Windows only)
    #[arg(long = "io-maxiops", value_name = "uint", value_parser = go_uint64)]
    pub io_maxiops: Option<u64>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", value_name = "string")]
    pub ip6: Option<String>,
    /// Container isolation technology
    #[arg(long = "isolation", value_name = "string")]
    pub isolation: Option<String>,
    /// Kernel memory limit
    #[arg(long = "kernel-memory", value_name = "bytes", value_parser = mem_bytes)]
    pub kernel_memory: Option<i64>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list", value_parser = validate_link)]
    pub link: Vec<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(long = "link-local-ip", value_name = "list")]
    pub link_local_ip: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    pub mac_address: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes", value_parser = mem_bytes)]
    pub memory: Option<i64>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes", value_parser = mem_bytes)]
    pub memory_reservation: Option<i64>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", value_parser = mem_swap_bytes)]
    pub memory_swap: Option<i64>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", value_name = "int", value_parser = go_int,
          default_value = "-1")]
    pub memory_swappiness: i64,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount", value_parser = crate::commands::parse_mount)]
    pub mount: Vec<serde_json::Value>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "int", value_parser = go_int)]
    pub oom_score_adj: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", value_parser = go_int)]
    pub pids_limit: Option<i64>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Runtime to use for this container
    #[arg(long = "runtime", value_name = "string")]
    pub runtime: Option<String>,
    /// Storage driver options for the container
    #[arg(long = "storage-opt", value_name = "list")]
    pub storage_opt: Vec<String>,
    /// Sysctl options (default map[])
    #[arg(long = "sysctl", value_name = "map", value_parser = validate_sysctl)]
    pub sysctl: Vec<String>,
    /// User namespace to use
    #[arg(long = "userns", value_name = "string")]
    pub userns: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver", value_name = "string")]
    pub volume_driver: Option<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    #[arg(value_name = "IMAGE")]
    pub image: Option<String>,
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunOpts {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value = "true", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool)]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Args, Debug)]
pub struct CreateOpts {
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Args, Debug)]
pub struct StartOpts {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsOpts {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", value_name = "int", default_value = "-1",
          allow_negative_numbers = true, value_parser = go_int)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsOpts {
    /// Show extra details provided to logs
    #[arg(long = "details")]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "since", value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(
        short = 'n',
        long = "tail",
        value_name = "string",
        default_value = "all"
    )]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "until", value_name = "string")]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmOpts {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long = "link")]
    pub link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopOpts {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", value_name = "string")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "timeout", value_name = "int", value_parser = go_int,
          allow_negative_numbers = true)]
    pub timeout: Option<i64>,
    /// Seconds to wait before killing the container (deprecated: use --timeout)
    #[arg(long = "time", value_name = "int", value_parser = go_int, hide = true,
          allow_negative_numbers = true)]
    pub time: Option<i64>,
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillOpts {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", value_name = "string")]
    pub signal: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WaitOpts {
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ContainerInspectOpts {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecOpts {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list", value_parser = validate_env)]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: Option<String>,
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachOpts {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value = "true", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool)]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TopOpts {
    #[arg(value_name = "CONTAINER")]
    pub container: Option<String>,
    #[arg(
        value_name = "ps OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsOpts {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

/// Commands that only take container names (`pause`, `unpause`).
#[derive(Args, Debug)]
pub struct ContainersOpts {
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameOpts {
    #[arg(value_name = "CONTAINER NEW_NAME")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PortOpts {
    #[arg(value_name = "CONTAINER [PRIVATE_PORT[/PROTO]]")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ContainerPruneOpts {
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
pub struct CpOpts {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached
    #[arg(short = 'q', long = "quiet", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool)]
    pub quiet: Option<bool>,
    #[arg(value_name = "SRC DEST")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DiffOpts {
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExportOpts {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CommitOpts {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long = "author", value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long = "message", value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long = "pause", default_value = "true", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool)]
    pub pause: bool,
    #[arg(value_name = "CONTAINER [REPOSITORY[:TAG]]")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeCreateOpts {
    /// Specify volume driver name
    #[arg(
        short = 'd',
        long = "driver",
        value_name = "string",
        default_value = "local"
    )]
    pub driver: String,
    /// Specify volume name
    #[arg(long = "name", value_name = "string", hide = true)]
    pub name: Option<String>,
    /// Set driver specific options (default map[])
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "list", value_parser = validate_label)]
    pub label: Vec<String>,
    /// Cluster Volume group (cluster volumes)
    #[arg(long = "group", value_name = "string", hide = true)]
    pub group: Option<String>,
    /// Cluster Volume access scope ("single", "multi")
    #[arg(long = "scope", value_name = "string", hide = true)]
    pub scope: Option<String>,
    /// Cluster Volume access sharing ("none", "readonly", "onewriter", "all")
    #[arg(long = "sharing", value_name = "string", hide = true)]
    pub sharing: Option<String>,
    /// Cluster Volume availability ("active", "pause", "drain")
    #[arg(long = "availability", value_name = "string", hide = true)]
    pub availability: Option<String>,
    /// Cluster Volume access type ("mount", "block")
    #[arg(long = "type", value_name = "string", hide = true)]
    pub access_type: Option<String>,
    /// Cluster Volume secrets
    #[arg(long = "secret", value_name = "map", hide = true)]
    pub secret: Vec<String>,
    /// Minimum size of the Cluster Volume in bytes
    #[arg(long = "limit-bytes", value_name = "bytes", value_parser = mem_bytes, hide = true)]
    pub limit_bytes: Option<i64>,
    /// Maximum size of the Cluster Volume in bytes
    #[arg(long = "required-bytes", value_name = "bytes", value_parser = mem_bytes, hide = true)]
    pub required_bytes: Option<i64>,
    /// A topology that the Cluster Volume must be accessible from
    #[arg(long = "topology-required", value_name = "list", hide = true)]
    pub topology_required: Vec<String>,
    /// A topology that the Cluster Volume would be preferred in
    #[arg(long = "topology-preferred", value_name = "list", hide = true)]
    pub topology_preferred: Vec<String>,
    #[arg(value_name = "VOLUME")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeInspectOpts {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    #[arg(value_name = "VOLUME")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeLsOpts {
    /// Display only cluster volumes, and use cluster volume list formatting
    #[arg(long = "cluster", hide = true)]
    pub cluster: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeRmOpts {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "VOLUME")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumePruneOpts {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UpdateOpts {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16", value_parser = go_uint16)]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int", value_parser = go_int)]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", value_parser = go_int)]
    pub cpu_quota: Option<i64>,
    /// Limit the CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_name = "int", value_parser = go_int)]
    pub cpu_rt_period: Option<i64>,
    /// Limit the CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime", value_name = "int", value_parser = go_int)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int", value_parser = go_int)]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal", value_parser = parse_cpus)]
    pub cpus: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit (deprecated)
    #[arg(long = "kernel-memory", value_name = "bytes", value_parser = mem_bytes, hide = true)]
    pub kernel_memory: Option<i64>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes", value_parser = mem_bytes)]
    pub memory: Option<i64>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes", value_parser = mem_bytes)]
    pub memory_reservation: Option<i64>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", value_parser = mem_swap_bytes)]
    pub memory_swap: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", value_parser = go_int)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", value_name = "string")]
    pub restart: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub args: Vec<String>,
}

/// A `--ulimit` value (go-units' `Ulimit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Go's `strconv.ParseInt(s, 10, 64)` error wording.
fn parse_int_error(value: &str) -> String {
    format!("strconv.ParseInt: parsing {value:?}: invalid syntax")
}

/// pflag's int flags: `strconv.ParseInt(s, 0, 64)`.
pub fn go_int(value: &str) -> Result<i64, String> {
    let (neg, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let digits = digits.replace('_', "");
    let parsed = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16)
    } else if let Some(bin) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        i64::from_str_radix(bin, 2)
    } else if let Some(oct) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        i64::from_str_radix(oct, 8)
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8)
    } else if digits.chars().all(|c| c.is_ascii_digit()) {
        digits.parse::<i64>()
    } else {
        return Err(parse_int_error(value));
    };
    match parsed {
        Ok(n) => Ok(if neg { -n } else { n }),
        Err(e) if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) => Err(format!(
            "strconv.ParseInt: parsing {value:?}: value out of range"
        )),
        Err(_) => Err(parse_int_error(value)),
    }
}

/// go-units' `ParseUlimit`.
pub fn parse_ulimit(value: &str) -> Result<Ulimit, String> {
    let Some((name, limits)) = value.split_once('=') else {
        return Err(format!("invalid ulimit argument: {value}"));
    };
    if !ULIMIT_NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let int = |s: &str| s.parse::<i64>().map_err(|_| parse_int_error(s));
    let parts: Vec<&str> = limits.split(':').collect();
    let (soft, hard) = match parts.as_slice() {
        [soft] => {
            let soft = int(soft)?;
            (soft, soft)
        }
        [soft, hard] => {
            let hard = int(hard)?;
            (int(soft)?, hard)
        }
        _ => {
            return Err(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            ))
        }
    };
    if hard != -1 {
        if soft == -1 {
            return Err(format!("ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: {hard}"));
        }
        if soft > hard {
            return Err(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            ));
        }
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// go-units' `RAMInBytes` (binary multiples, optional `b`/`ib` suffix).
pub fn ram_in_bytes(value: &str) -> Result<i64, String> {
    let Some(sep) = value.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(format!("invalid size: '{value}'"));
    };
    let (num, sfx) = if value.as_bytes()[sep] == b' ' {
        (&value[..sep], &value[sep + 1..])
    } else {
        (&value[..=sep], &value[sep + 1..])
    };
    let size: f64 = num
        .parse()
        .map_err(|_| format!("strconv.ParseFloat: parsing {num:?}: invalid syntax"))?;
    if size < 0.0 {
        return Err(format!("invalid size: '{value}'"));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = || format!("invalid suffix: '{}'", sfx.to_lowercase());
    if sfx.len() > 3 {
        return Err(format!("invalid suffix: '{sfx}'"));
    }
    let lower = sfx.to_lowercase();
    let mul: f64 = match lower.as_bytes()[0] {
        b'b' if lower.len() == 1 => return Ok(size as i64),
        b'b' => return Err(bad()),
        b'k' => 1024.0,
        b'm' => 1024f64.powi(2),
        b'g' => 1024f64.powi(3),
        b't' => 1024f64.powi(4),
        b'p' => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    match lower.len() {
        2 if &lower[1..] != "b" => return Err(bad()),
        3 if &lower[1..] != "ib" => return Err(bad()),
        _ => {}
    }
    Ok((size * mul) as i64)
}

/// docker's `opts.ValidateEnv`: a bare name takes its value from the environment.
pub fn validate_env(value: &str) -> Result<String, String> {
    let (key, has_value) = match value.split_once('=') {
        Some((k, _)) => (k, true),
        None => (value, false),
    };
    if key.is_empty() {
        return Err(format!("invalid environment variable: {value}"));
    }
    if has_value {
        return Ok(value.to_string());
    }
    match std::env::var_os(key) {
        Some(v) => Ok(format!("{key}={}", v.to_string_lossy())),
        None => Ok(value.to_string()),
    }
}

/// docker's `opts.ValidateLabel`.
pub fn validate_label(value: &str) -> Result<String, String> {
    let key = value.split('=').next().unwrap_or("");
    let key = key.trim_start_matches([' ', '\t']);
    if key.is_empty() {
        return Err(format!("invalid label '{value}': empty name"));
    }
    if key.contains([' ', '\t']) {
        return Err(format!("label '{key}' contains whitespaces"));
    }
    Ok(value.to_string())
}

/// docker's `validateAttach`.
pub fn validate_attach(value: &str) -> Result<String, String> {
    let lower = value.to_lowercase();
    if ["stdin", "stdout", "stderr"].contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err("valid streams are STDIN, STDOUT and STDERR".into())
    }
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
            } else if arg.get_long().is_some()
                && matches!(
                    arg.get_action(),
                    clap::ArgAction::Set | clap::ArgAction::Append
                )
                && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
            {
                // pflag takes the next word as the value, whatever it looks like
                // (`--memory-swap -1`, `-e --x`).
                arg.allow_hyphen_values(true)
            } else {
                arg
            }
        })
        .mut_subcommands(go_bools)
    }
    go_bools(<Cli as clap::CommandFactory>::command())
}

/// Commands whose flags end at the first argument (pflag's `SetInterspersed(false)`):
/// everything after the image or container, `--` included, belongs to the command.
const NON_INTERSPERSED: &[&str] = &["run", "create", "exec", "top", "commit"];

/// Inserts clap's end-of-options marker `--` before the first argument of the
/// [`NON_INTERSPERSED`] commands, so that later words that look like flags (or a
/// literal `--`) reach the container's command.
pub fn protect_dashdash(args: &[String]) -> Vec<String> {
    let mut out = args.to_vec();
    let mut cmd = command();
    let takes_value = |a: &clap::Arg| {
        a.get_num_args().is_none_or(|n| n.min_values() > 0)
            && matches!(
                a.get_action(),
                clap::ArgAction::Set | clap::ArgAction::Append
            )
    };
    let mut i = 1;
    while i < out.len() {
        let arg = out[i].clone();
        if arg == "--" {
            return out;
        }
        if let Some(long) = arg.strip_prefix("--") {
            if !long.contains('=') {
                let known = cmd
                    .get_arguments()
                    .find(|a| {
                        a.get_long() == Some(long)
                            || a.get_all_aliases().is_some_and(|al| al.contains(&long))
                    })
                    .cloned();
                if known.is_some_and(|a| takes_value(&a)) {
                    i += 1;
                }
            }
        } else if let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            for (pos, c) in shorts.char_indices() {
                let known = cmd
                    .get_arguments()
                    .find(|a| a.get_short() == Some(c))
                    .cloned();
                if known.is_some_and(|a| takes_value(&a)) {
                    if pos + c.len_utf8() == shorts.len() {
                        i += 1;
                    }
                    break;
                }
            }
        } else {
            let sub = cmd
                .get_subcommands()
                .find(|s| s.get_name() == arg || s.get_all_aliases().any(|a| a == arg))
                .cloned();
            match sub {
                Some(sub) => cmd = sub,
                None => {
                    if NON_INTERSPERSED.contains(&cmd.get_name()) {
                        out.insert(i, "--".to_string());
                    }
                    return out;
                }
            }
        }
        i += 1;
    }
    out
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
        "container" => "container",
        "run" | "container run" => "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
        "create" | "container create" => "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
        "start" | "container start" => "start [OPTIONS] CONTAINER [CONTAINER...]",
        "ps" => "ps [OPTIONS]",
        "container ls" => "ls [OPTIONS]",
        "logs" | "container logs" => "logs [OPTIONS] CONTAINER",
        "rm" | "container rm" => "rm [OPTIONS] CONTAINER [CONTAINER...]",
        "stop" | "container stop" => "stop [OPTIONS] CONTAINER [CONTAINER...]",
        "kill" | "container kill" => "kill [OPTIONS] CONTAINER [CONTAINER...]",
        "wait" | "container wait" => "wait CONTAINER [CONTAINER...]",
        "attach" | "container attach" => "attach [OPTIONS] CONTAINER",
        "exec" | "container exec" => "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
        "pause" | "container pause" => "pause CONTAINER [CONTAINER...]",
        "unpause" | "container unpause" => "unpause CONTAINER [CONTAINER...]",
        "port" | "container port" => "port CONTAINER [PRIVATE_PORT[/PROTO]]",
        "rename" | "container rename" => "rename CONTAINER NEW_NAME",
        "restart" | "container restart" => "restart [OPTIONS] CONTAINER [CONTAINER...]",
        "stats" | "container stats" => "stats [OPTIONS] [CONTAINER...]",
        "top" | "container top" => "top CONTAINER [ps OPTIONS]",
        "update" | "container update" => "update [OPTIONS] CONTAINER [CONTAINER...]",
        "container prune" => "prune [OPTIONS]",
        "container inspect" => "inspect [OPTIONS] CONTAINER [CONTAINER...]",
        "system df" => "df [OPTIONS]",
        "cp" => "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        "container cp" => "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        "diff" | "container diff" => "diff CONTAINER",
        "commit" | "container commit" => "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        "export" | "container export" => "export [OPTIONS] CONTAINER",
        "volume" => "volume COMMAND",
        "volume create" => "create [OPTIONS] [VOLUME]",
        "volume inspect" => "inspect [OPTIONS] VOLUME [VOLUME...]",
        "volume ls" => "ls [OPTIONS]",
        "volume rm" => "rm [OPTIONS] VOLUME [VOLUME...]",
        "volume prune" => "prune [OPTIONS]",
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
    Range(usize, usize),
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
        // docker 28 prints "SRun" here (a typo in its cli package).
        Arity::Max(k) if n > k => format!(
            "berth: '{cmd}' requires at most {k} {}\n\nUsage:  {usage}\n\nSRun '{cmd} --help' for more information",
            plural(k)
        ),
        Arity::Range(min, max) if n < min || n > max => format!(
            "berth: '{cmd}' requires at least {min} and at most {max} {}\n\nUsage:  {usage}\n\nRun '{cmd} --help' for more information",
            plural(max)
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
    const GROUPS: &[&str] = &["image", "system", "container", "volume"];
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
            "list" | "ps" => "ls",
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
            "berth: 'berth images' requires at most 1 argument\n\nUsage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nSRun 'berth images --help' for more information"
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
    fn keeps_dashdash_after_the_image() {
        let a = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            protect_dashdash(&a("berth -H x run -e A --rm busybox -- echo")),
            a("berth -H x run -e A --rm -- busybox -- echo")
        );
        assert_eq!(
            protect_dashdash(&a("berth container create -it -u 1 busybox -- x")),
            a("berth container create -it -u 1 -- busybox -- x")
        );
        assert_eq!(
            protect_dashdash(&a("berth exec -it c sh -c x")),
            a("berth exec -it -- c sh -c x")
        );
        assert_eq!(
            protect_dashdash(&a("berth run -- busybox -- x")),
            a("berth run -- busybox -- x")
        );
        assert_eq!(protect_dashdash(&a("berth ps -- x")), a("berth ps -- x"));
    }

    #[test]
    fn run_takes_the_rest_as_the_command() {
        use clap::FromArgMatches;
        let parse = |args: &[&str]| {
            let m = command().try_get_matches_from(args).unwrap();
            match Cli::from_arg_matches(&m).unwrap().command {
                Some(Command::Run(o)) => o,
                _ => panic!("not run"),
            }
        };
        let o = parse(&[
            "berth", "run", "-dit", "--rm", "busybox", "echo", "--rm", "-d",
        ]);
        assert!(o.detach && o.flags.interactive && o.flags.tty && o.flags.rm);
        assert_eq!(o.flags.image.as_deref(), Some("busybox"));
        assert_eq!(o.flags.command, ["echo", "--rm", "-d"]);
        assert!(o.sig_proxy);
        let o = parse(&["berth", "run", "--sig-proxy=false", "-h", "host", "busybox"]);
        assert!(!o.sig_proxy);
        assert_eq!(o.flags.hostname.as_deref(), Some("host"));
        assert!(command()
            .try_get_matches_from(["berth", "run", "--bogus", "busybox"])
            .is_err());
    }

    #[test]
    fn value_parsers_match_go() {
        assert_eq!(go_int("-1"), Ok(-1));
        assert_eq!(go_int("0x10"), Ok(16));
        assert_eq!(
            go_int("abc"),
            Err("strconv.ParseInt: parsing \"abc\": invalid syntax".into())
        );
        assert_eq!(ram_in_bytes("128m"), Ok(134217728));
        assert_eq!(ram_in_bytes("1.5GiB"), Ok(1610612736));
        assert_eq!(ram_in_bytes("10"), Ok(10));
        assert_eq!(ram_in_bytes("12q"), Err("invalid suffix: 'q'".into()));
        assert_eq!(ram_in_bytes("x"), Err("invalid size: 'x'".into()));
        assert_eq!(
            parse_ulimit("nofile=1024:2048"),
            Ok(Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            })
        );
        assert_eq!(
            parse_ulimit("foo=1"),
            Err("invalid ulimit type: foo".into())
        );
        assert_eq!(
            parse_ulimit("nofile=3:2"),
            Err("ulimit soft limit must be less than or equal to hard limit: 3 > 2".into())
        );
        assert_eq!(
            validate_env("=x"),
            Err("invalid environment variable: =x".into())
        );
        assert_eq!(validate_attach("STDOUT"), Ok("stdout".into()));
        assert_eq!(
            validate_label(" =x"),
            Err("invalid label ' =x': empty name".into())
        );
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
