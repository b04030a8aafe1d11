//! Healthchecks: the image's or `--health-*` probe run in the container on its interval,
//! with Docker's states (starting, healthy, unhealthy), failing streak, last five results
//! and `health_status` events.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::containers::exec::ExecConfig;
use crate::containers::Container;
use crate::daemon::Daemon;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u64 = 3;
/// Docker keeps this much of a probe's output and this many results.
const MAX_OUTPUT: usize = 4096;
const MAX_LOG: usize = 5;

pub struct Probe {
    cmd: Vec<String>,
    interval: Duration,
    timeout: Duration,
    start_period: Duration,
    start_interval: Duration,
    retries: u64,
}

fn duration(h: &Value, k: &str, default: Duration) -> Duration {
    match h.get(k).and_then(Value::as_i64) {
        Some(ns) if ns > 0 => Duration::from_nanos(ns as u64),
        _ => default,
    }
}

impl Probe {
    /// The container's probe; `None` without one or with `NONE`.
    pub fn from_config(config: &serde_json::Map<String, Value>) -> Option<Probe> {
        let h = config.get("Healthcheck")?;
        let test: Vec<String> = h
            .get("Test")?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let cmd = match test.first().map(String::as_str) {
            Some("CMD") => test[1..].to_vec(),
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
            _ => return None,
        };
        if cmd.is_empty() {
            return None;
        }
        let interval = duration(h, "Interval", DEFAULT_INTERVAL);
        Some(Probe {
            cmd,
            interval,
            timeout: duration(h, "Timeout", DEFAULT_TIMEOUT),
            start_period: duration(h, "StartPeriod", Duration::ZERO),
            // Zero means the interval's value (Docker's "inherit").
            start_interval: duration(h, "StartInterval", interval),
            retries: h
                .get("Retries")
                .and_then(Value::as_u64)
                .filter(|r| *r > 0)
                .unwrap_or(DEFAULT_RETRIES),
        })
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Runs one probe through the runtime's exec helper: exit code and combined output.
async fn run_probe(d: &Daemon, c: &Container, p: &Probe) -> (i64, String) {
    let rec = c.record();
    let cfg = ExecConfig {
        container_id: rec.id.clone(),
        cmd: p.cmd.clone(),
        attach_stdout: true,
        attach_stderr: true,
        ..Default::default()
    };
    let tag = format!("health-{}", berth_store::random_hex(8));
    let (pfile, mut cmd) = match d.containers.prepare_exec(&rec, &cfg, &tag, None) {
        Ok(x) => x,
        Err(e) => return (-1, e.to_string()),
    };
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let result = match child {
        Err(e) => (-1, format!("starting the probe: {e}")),
        Ok(child) => match tokio::time::timeout(p.timeout, child.wait_with_output()).await {
            Err(_) => (
                -1,
                format!("Health check exceeded timeout ({})", humantime(p.timeout)),
            ),
            Ok(Err(e)) => (-1, e.to_string()),
            Ok(Ok(out)) => {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                if text.len() > MAX_OUTPUT {
                    let mut cut = MAX_OUTPUT;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                }
                (out.status.code().map(i64::from).unwrap_or(-1), text)
            }
        },
    };
    let _ = std::fs::remove_file(&pfile);
    result
}

/// Go's duration formatting for whole and fractional seconds (`30s`, `1.5s`).
fn humantime(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{s}s")
    }
}

/// Watches a running container's health until it stops; does nothing without a probe.
pub fn monitor(d: &Arc<Daemon>, c: Arc<Container>) {
    let rec = c.record();
    let Some(probe) = Probe::from_config(&rec.config) else {
        return;
    };
    let started_at = rec.state.started_at.clone();
    let _ = d.containers.update(&c, |r| {
        r.state.health = Some(json!({"Status": "starting", "FailingStreak": 0, "Log": []}));
    });
    let d = d.clone();
    tokio::spawn(async move {
        let began = tokio::time::Instant::now();
        loop {
            let in_start = began.elapsed() < probe.start_period;
            let wait = if in_start {
                probe.start_interval
            } else {
                probe.interval
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = d.shutdown.cancelled() => return,
            }
            let still = |r: &crate::containers::Record| {
                r.state.status == "running" && r.state.started_at == started_at
            };
            if !still(&c.record()) || d.containers.get(&c.id).is_err() {
                return;
            }
            if c.record().state.paused {
                continue;
            }
            let start = now();
            let (code, output) = run_probe(&d, &c, &probe).await;
            let end = now();
            if !still(&c.record()) {
                return;
            }
            let in_start = began.elapsed() < probe.start_period;
            let mut changed_to = None;
            let _ = d.containers.update(&c, |r| {
                let h = r.state.health.get_or_insert_with(
                    || json!({"Status": "starting", "FailingStreak": 0, "Log": []}),
                );
                let old = h["Status"].as_str().unwrap_or("starting").to_string();
                let mut streak = h["FailingStreak"].as_u64().unwrap_or(0);
                let status = if code == 0 {
                    streak = 0;
                    "healthy".to_string()
                } else if in_start && old == "starting" {
                    // Failures while the container starts up do not count.
                    old.clone()
                } else {
                    streak += 1;
                    if streak >= probe.retries {
                        "unhealthy".to_string()
                    } else {
                        old.clone()
                    }
                };
                let mut log: Vec<Value> = h["Log"].as_array().cloned().unwrap_or_default();
                log.push(json!({"Start": start, "End": end, "ExitCode": code, "Output": output}));
                if log.len() > MAX_LOG {
                    log.drain(..log.len() - MAX_LOG);
                }
                if status != old {
                    changed_to = Some(status.clone());
                }
                *h = json!({"Status": status, "FailingStreak": streak, "Log": log});
            });
            if let Some(status) = changed_to {
                d.container_event(&c.record(), &format!("health_status: {status}"), &[]);
            }
        }
    });
}

/// `health` for ps filters and the status column: `starting`, `healthy`, `unhealthy`,
/// or `none` without a probe.
pub fn status_of(r: &crate::containers::Record) -> &str {
    r.state
        .health
        .as_ref()
        .and_then(|h| h.get("Status"))
        .and_then(Value::as_str)
        .unwrap_or("none")
}
