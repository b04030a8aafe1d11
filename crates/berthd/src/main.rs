//! berthd: the berth daemon.
#![recursion_limit = "512"]

mod api;
mod archive;
mod config;
mod containers;
mod daemon;
mod dns;
mod events;
mod health;
mod host;
mod networks;
mod pidwatch;
mod plumbing;
mod ports;
mod volumes;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::net::UnixListener;
use tower::ServiceExt;

use config::{Config, Flags};
use daemon::Daemon;

fn main() {
    let flags = Flags::parse();
    let config = match Config::load(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            std::process::exit(1);
        }
    };
    init_logging(&config.log_level);
    // A small runtime: the daemon mostly waits, and heavy work runs on blocking threads.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    if let Err(e) = rt.block_on(run(config)) {
        tracing::error!("{e:#}");
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}

fn init_logging(level: &str) {
    let level = if level == "fatal" { "error" } else { level };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTHD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// Removes the socket and pid files when the daemon exits normally.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    // Files we create are private unless we say otherwise.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    for dir in [&config.data_root, &config.exec_root] {
        berth_store::create_dir_all_durable(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
            .with_context(|| format!("setting permissions of {}", dir.display()))?;
    }
    // The locks make a second daemon on the same roots fail before it touches anything.
    let _data_lock = berth_store::RootLock::acquire(&config.data_root, "data root")?;
    let _exec_lock = berth_store::RootLock::acquire(&config.exec_root, "exec root")?;
    write_pidfile(&config.pidfile)?;
    let mut cleanup = Cleanup(vec![config.pidfile.clone()]);

    let daemon = Arc::new(Daemon::open(config.clone()).context("opening the image store")?);
    let mut listeners = Vec::new();
    for h in &config.hosts {
        let path = config::parse_unix_host(h)?;
        listeners.push(bind_socket(&path, &config.group)?);
        cleanup.0.push(path);
    }
    tracing::info!(
        data_root = %config.data_root.display(),
        exec_root = %config.exec_root.display(),
        hosts = ?config.hosts,
        images = daemon.images.count(),
        "berthd {} is ready",
        env!("CARGO_PKG_VERSION")
    );
    daemon.restore();
    daemon
        .events
        .publish("daemon", "start", &daemon.engine_id, Default::default());

    let app = api::router(daemon.clone());
    let service = app.map_request(api::rewrite_version);
    let mut servers = tokio::task::JoinSet::new();
    for l in listeners {
        let svc = service.clone();
        let token = daemon.shutdown.clone();
        servers.spawn(async move {
            axum::serve(
                l,
                axum::ServiceExt::<axum::extract::Request>::into_make_service(svc),
            )
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
        });
    }

    wait_for_signal().await;
    tracing::info!("shutting down");
    if !config.live_restore {
        // As dockerd: a clean stop stops the containers, unless live-restore keeps them.
        daemon.stop_all_containers().await;
    }
    daemon.shutdown.cancel();
    // Connections get a moment to finish; long streams already ended with the token.
    let drain = async {
        while let Some(r) = servers.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::warn!("server error: {e}");
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10s; exiting anyway");
    }
    drop(cleanup);
    tracing::info!("berthd stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn write_pidfile(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    berth_store::write_atomic(path, format!("{}\n", std::process::id()).as_bytes(), 0o644)
        .with_context(|| format!("writing pid file {}", path.display()))
}

/// Binds a unix socket with mode 0660, owned by group `group` when it exists. A stale
/// socket file is removed first: we hold the root locks, so no live daemon owns it —
/// unless another daemon with other roots uses the same socket path, which we refuse.
fn bind_socket(path: &Path, group: &str) -> anyhow::Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!("another daemon is already listening on {}", path.display());
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(gid) = group_id(group) {
        rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))
            .with_context(|| format!("chown {} to group {group}", path.display()))?;
    }
    Ok(listener)
}

fn group_id(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name)
            .then(|| f.nth(1)?.parse().ok())
            .flatten()
    })
}
