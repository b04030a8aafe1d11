//! `berth stats`: docker's live (or one-shot) table of container resource usage.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::cli::StatsOpts;
use crate::client::{Client, Query};
use crate::commands::App;
use crate::error::{CliError, Result};
use crate::format::jsonstream::JsonSplitter;
use crate::format::render_rows;
use crate::format::units::{bytes_size, human_size_with_precision};
use crate::format::{truncate_id, TABLE_KEY};

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Go type named in template errors for stats rows.
const STATS_CONTEXT: &str = "*container.statsContext";

const STATS_HEADER: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("ID", "CONTAINER ID"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// How long a container may go without a sample before its values are dropped.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

/// docker's `StatsEntry`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// The name or ID as given (or the short ID when listing all).
    pub container: String,
    pub name: String,
    pub id: String,
    pub cpu_percentage: f64,
    pub memory: f64,
    pub memory_limit: f64,
    pub memory_percentage: f64,
    pub network_rx: f64,
    pub network_tx: f64,
    pub block_read: f64,
    pub block_write: f64,
    pub pids_current: u64,
    pub is_invalid: bool,
}

/// One container being watched.
struct Slot {
    entry: Entry,
    error: Option<String>,
}

type Slots = Arc<Mutex<Vec<Slot>>>;

fn u64_at(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for key in path {
        match cur.get(key) {
            Some(next) => cur = next,
            None => return 0,
        }
    }
    cur.as_u64().unwrap_or(0)
}

/// docker's `calculateCPUPercentUnix`: the container's share of the host's CPU time
/// between the previous reading and this one, scaled by the number of CPUs.
fn cpu_percent(v: &Value) -> f64 {
    let total = |k: &str| u64_at(v, &[k, "cpu_usage", "total_usage"]) as f64;
    let system = |k: &str| u64_at(v, &[k, "system_cpu_usage"]) as f64;
    let cpu_delta = total("cpu_stats") - total("precpu_stats");
    let system_delta = system("cpu_stats") - system("precpu_stats");
    let mut online = u64_at(v, &["cpu_stats", "online_cpus"]) as f64;
    if online == 0.0 {
        online = v
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map_or(0, Vec::len) as f64;
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    }
}

/// docker's `calculateMemUsageUnixNoCache`: usage without the inactive page cache
/// (`total_inactive_file` on cgroup v1, `inactive_file` on v2).
fn mem_usage(v: &Value) -> f64 {
    let usage = u64_at(v, &["memory_stats", "usage"]);
    let stat = |k: &str| {
        v.pointer(&format!("/memory_stats/stats/{k}"))
            .map(|x| x.as_u64().unwrap_or(0))
    };
    if let Some(inactive) = stat("total_inactive_file") {
        if inactive < usage {
            return (usage - inactive) as f64;
        }
    }
    let inactive = stat("inactive_file").unwrap_or(0);
    if inactive < usage {
        return (usage - inactive) as f64;
    }
    usage as f64
}

/// docker's `calculateBlockIO`: bytes read and written, from the recursive service
/// byte counters.
fn block_io(v: &Value) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for e in v
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let value = e.get("value").and_then(Value::as_u64).unwrap_or(0);
        match e
            .get("op")
            .and_then(Value::as_str)
            .and_then(|op| op.bytes().next())
        {
            Some(b'r' | b'R') => read = read.wrapping_add(value),
            Some(b'w' | b'W') => write = write.wrapping_add(value),
            _ => {}
        }
    }
    (read, write)
}

fn network(v: &Value) -> (f64, f64) {
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in v
        .get("networks")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
    {
        rx += n.get("rx_bytes").and_then(Value::as_u64).unwrap_or(0) as f64;
        tx += n.get("tx_bytes").and_then(Value::as_u64).unwrap_or(0) as f64;
    }
    (rx, tx)
}

/// One `StatsEntry` from one `/stats` sample.
pub fn entry_from_sample(v: &Value) -> Entry {
    let memory = mem_usage(v);
    let memory_limit = u64_at(v, &["memory_stats", "limit"]) as f64;
    let (block_read, block_write) = block_io(v);
    let (network_rx, network_tx) = network(v);
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Entry {
        container: String::new(),
        name: s("name"),
        id: s("id"),
        cpu_percentage: cpu_percent(v),
        memory,
        memory_limit,
        memory_percentage: if memory_limit != 0.0 {
            memory / memory_limit * 100.0
        } else {
            0.0
        },
        network_rx,
        network_tx,
        block_read: block_read as f64,
        block_write: block_write as f64,
        pids_current: u64_at(v, &["pids_stats", "current"]),
        is_invalid: false,
    }
}

fn percentage(v: f64) -> String {
    format!("{v:.2}%")
}

/// docker's `statsContext` fields, keys sorted as its JSON output has them.
pub fn stats_row(e: &Entry, trunc: bool) -> Value {
    let invalid = e.is_invalid;
    let dashes = || json!("--");
    let mut m = Map::new();
    m.insert(
        "BlockIO".into(),
        if invalid {
            dashes()
        } else {
            json!(format!(
                "{} / {}",
                human_size_with_precision(e.block_read, 3),
                human_size_with_precision(e.block_write, 3)
            ))
        },
    );
    m.insert(
        "CPUPerc".into(),
        if invalid {
            dashes()
        } else {
            json!(percentage(e.cpu_percentage))
        },
    );
    m.insert("Container".into(), json!(e.container));
    m.insert(
        "ID".into(),
        json!(if trunc {
            truncate_id(&e.id)
        } else {
            e.id.clone()
        }),
    );
    m.insert(
        "MemPerc".into(),
        if invalid {
            dashes()
        } else {
            json!(percentage(e.memory_percentage))
        },
    );
    m.insert(
        "MemUsage".into(),
        json!(if invalid {
            "-- / --".to_string()
        } else {
            format!("{} / {}", bytes_size(e.memory), bytes_size(e.memory_limit))
        }),
    );
    m.insert(
        "Name".into(),
        json!(if e.name.chars().count() > 1 {
            e.name.chars().skip(1).collect::<String>()
        } else {
            "--".to_string()
        }),
    );
    m.insert(
        "NetIO".into(),
        if invalid {
            dashes()
        } else {
            json!(format!(
                "{} / {}",
                human_size_with_precision(e.network_rx, 3),
                human_size_with_precision(e.network_tx, 3)
            ))
        },
    );
    m.insert(
        "PIDs".into(),
        if invalid {
            dashes()
        } else {
            json!(e.pids_current.to_string())
        },
    );
    Value::Object(m)
}

fn update(slots: &Slots, container: &str, f: impl FnOnce(&mut Slot)) {
    let mut slots = slots.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(slot) = slots.iter_mut().find(|s| s.entry.container == container) {
        f(slot);
    }
}

/// Adds a container to watch; false when it is already watched.
fn add(slots: &Slots, container: &str) -> bool {
    let mut slots = slots.lock().unwrap_or_else(|p| p.into_inner());
    if slots.iter().any(|s| s.entry.container == container) {
        return false;
    }
    slots.push(Slot {
        entry: Entry {
            container: container.to_string(),
            ..Entry::default()
        },
        error: None,
    });
    true
}

fn remove(slots: &Slots, container: &str) {
    let mut slots = slots.lock().unwrap_or_else(|p| p.into_inner());
    slots.retain(|s| s.entry.container != container);
}

/// docker's `collect`: reads samples for one container into its slot. `first` is
/// signalled once the first sample (or an error, or a timeout) is in.
async fn collect(
    mut client: Client,
    slots: Slots,
    container: String,
    stream: bool,
    first: oneshot::Sender<()>,
) {
    let mut first = Some(first);
    let mut signal_first = || {
        if let Some(tx) = first.take() {
            let _ = tx.send(());
        }
    };
    let query: Query = vec![("stream", if stream { "1" } else { "0" }.to_string())];
    let resp = match client
        .get(&format!("/containers/{container}/stats"), &query)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            update(&slots, &container, |s| {
                s.error = Some(e.to_string());
                s.entry.is_invalid = true;
            });
            signal_first();
            return;
        }
    };
    let mut body = resp.into_body();
    let mut splitter = JsonSplitter::default();
    loop {
        let frame = match tokio::time::timeout(SAMPLE_TIMEOUT, body.frame()).await {
            Err(_) => {
                update(&slots, &container, |s| {
                    let c = std::mem::take(&mut s.entry.container);
                    let (name, id) = (s.entry.name.clone(), s.entry.id.clone());
                    s.entry = Entry {
                        container: c,
                        name,
                        id,
                        is_invalid: true,
                        ..Entry::default()
                    };
                    s.error = Some("timeout waiting for stats".into());
                });
                signal_first();
                continue;
            }
            Ok(frame) => frame,
        };
        let chunk = match frame {
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
            Some(Err(e)) => {
                update(&slots, &container, |s| {
                    s.error = Some(e.to_string());
                    s.entry.is_invalid = true;
                });
                signal_first();
                return;
            }
            None => {
                // The daemon ended the stream (the container stopped): no values.
                update(&slots, &container, |s| {
                    s.error = Some("EOF".into());
                    s.entry.is_invalid = true;
                });
                signal_first();
                return;
            }
        };
        let samples = match splitter.push(&chunk) {
            Ok(v) => v,
            Err(e) => {
                update(&slots, &container, |s| {
                    s.error = Some(e.to_string());
                    s.entry.is_invalid = true;
                });
                signal_first();
                return;
            }
        };
        for sample in samples {
            let mut entry = entry_from_sample(&sample);
            update(&slots, &container, |s| {
                entry.container = std::mem::take(&mut s.entry.container);
                s.entry = entry;
                s.error = None;
            });
            signal_first();
            if !stream {
                return;
            }
        }
    }
}

/// Starts collecting for a container not yet watched.
fn watch(
    client: &Client,
    slots: &Slots,
    container: &str,
    stream: bool,
) -> Option<oneshot::Receiver<()>> {
    if !add(slots, container) {
        return None;
    }
    let (tx, rx) = oneshot::channel();
    tokio::spawn(collect(
        client.clone(),
        slots.clone(),
        container.to_string(),
        stream,
        tx,
    ));
    Some(rx)
}

/// docker's event handler for `stats` without names: new containers join the table,
/// and (without `-a`) containers that die leave it.
async fn follow_events(
    mut client: Client,
    slots: Slots,
    all: bool,
    stream: bool,
    errors: mpsc::UnboundedSender<CliError>,
    subscribed: oneshot::Sender<()>,
) {
    let query: Query = vec![("filters", r#"{"type":{"container":true}}"#.to_string())];
    let resp = client.get("/events", &query).await;
    let _ = subscribed.send(());
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            let _ = errors.send(e);
            return;
        }
    };
    let mut body = resp.into_body();
    let mut splitter = JsonSplitter::default();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let Ok(events) = splitter.push(&chunk) else {
            return;
        };
        for ev in events {
            let action = ev.get("Action").and_then(Value::as_str).unwrap_or("");
            let id = ev
                .pointer("/Actor/ID")
                .and_then(Value::as_str)
                .unwrap_or("");
            let short: String = id.chars().take(12).collect();
            match action {
                "start" => {
                    watch(&client, &slots, &short, stream);
                }
                "create" if all => {
                    watch(&client, &slots, &short, stream);
                }
                "die" if !all => remove(&slots, &short),
                _ => {}
            }
        }
    }
}

/// The bytes docker writes for one refresh of the table.
fn screen(table: &str, stream: bool) -> String {
    if !stream {
        return table.to_string();
    }
    // docker moves the cursor home, then appends each line again with an
    // erase-to-end-of-line, which overwrites the first copy; then clears the rest.
    let mut text = format!("\x1b[H{table}");
    let snapshot = text.clone();
    for line in snapshot.split('\n') {
        text.push_str(line);
        text.push_str(" \x1b[K\n");
    }
    text.push_str("\x1b[J");
    text
}

pub async fn stats(app: &mut App, o: StatsOpts, _path: &str) -> Result<()> {
    let stream = !o.no_stream;
    let slots: Slots = Arc::new(Mutex::new(Vec::new()));
    let show_all = o.args.is_empty();
    let (err_tx, mut err_rx) = mpsc::unbounded_channel::<CliError>();
    let mut firsts = Vec::new();
    let mut events = None;
    // Negotiate once, so the collectors do not each do it.
    app.client.api_version().await?;
    if show_all {
        let (sub_tx, sub_rx) = oneshot::channel();
        events = Some(tokio::spawn(follow_events(
            app.client.clone(),
            slots.clone(),
            o.all,
            stream,
            err_tx,
            sub_tx,
        )));
        let _ = sub_rx.await;
        let mut query: Query = Vec::new();
        if o.all {
            query.push(("all", "1".into()));
        }
        let list = app.client.get_json("/containers/json", &query).await?;
        for c in list.as_array().into_iter().flatten() {
            let id = c.get("Id").and_then(Value::as_str).unwrap_or("");
            let short: String = id.chars().take(12).collect();
            firsts.extend(watch(&app.client, &slots, &short, stream));
        }
    } else {
        drop(err_tx);
        for name in &o.args {
            firsts.extend(watch(&app.client, &slots, name, stream));
        }
    }
    for rx in firsts {
        let _ = rx.await;
    }
    if !show_all {
        let errors: Vec<String> = slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|s| s.error.clone())
            .collect();
        if !errors.is_empty() {
            return Err(CliError::other(errors.join("\n")));
        }
    }
    let format = match o.format.as_deref().filter(|f| !f.is_empty()) {
        None | Some(TABLE_KEY) => DEFAULT_TABLE.to_string(),
        Some(f) => f.to_string(),
    };
    let trunc = !o.no_trunc;
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_millis(500),
        Duration::from_millis(500),
    );
    let result = loop {
        ticker.tick().await;
        let (rows, empty) = {
            let slots = slots.lock().unwrap_or_else(|p| p.into_inner());
            let rows: Vec<Value> = slots.iter().map(|s| stats_row(&s.entry, trunc)).collect();
            (rows, slots.is_empty())
        };
        let table = match render_rows(&format, &rows, STATS_HEADER, STATS_CONTEXT) {
            Ok(t) => t,
            Err(e) => break Err(e),
        };
        app.print(&screen(&table, stream))?;
        if (empty && !show_all) || !stream {
            break Ok(());
        }
        if let Ok(e) = err_rx.try_recv() {
            break Err(e);
        }
    };
    if let Some(e) = events {
        e.abort();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample as dockerd 20.10 sends it on a cgroup v2 host (trimmed).
    fn sample() -> Value {
        json!({
            "read": "2024-01-01T00:00:01Z",
            "name": "/web",
            "id": "0123456789abcdef0123456789abcdef",
            "pids_stats": {"current": 3},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "read", "value": 4096},
                {"major": 8, "minor": 0, "op": "write", "value": 1_500_000},
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
            ]},
            "cpu_stats": {"cpu_usage": {"total_usage": 300_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100_000_000u64}, "system_cpu_usage": 18_000_000_000u64},
            "memory_stats": {"usage": 10_485_760u64, "limit": 1_073_741_824u64, "stats": {"inactive_file": 2_097_152u64}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 700}, "eth1": {"rx_bytes": 500, "tx_bytes": 0}},
        })
    }

    #[test]
    fn computes_like_docker() {
        let e = entry_from_sample(&sample());
        // (200ms / 2000ms) * 2 CPUs * 100
        assert!((e.cpu_percentage - 20.0).abs() < 1e-9);
        assert_eq!(e.memory, 8_388_608.0);
        assert_eq!(e.pids_current, 3);
        let row = stats_row(&e, true);
        assert_eq!(
            row,
            json!({"BlockIO": "8.19kB / 1.5MB", "CPUPerc": "20.00%", "Container": "",
                   "ID": "0123456789ab", "MemPerc": "0.78%", "MemUsage": "8MiB / 1GiB",
                   "Name": "web", "NetIO": "2kB / 700B", "PIDs": "3"})
        );
    }

    #[test]
    fn cgroup_v1_subtracts_total_inactive_file() {
        let mut v = sample();
        v["memory_stats"]["stats"] =
            json!({"total_inactive_file": 5_242_880u64, "inactive_file": 1});
        assert_eq!(mem_usage(&v), 5_242_880.0);
        // Not subtracted when it is not below the usage.
        v["memory_stats"]["stats"] = json!({"total_inactive_file": 20_000_000u64});
        assert_eq!(mem_usage(&v), 10_485_760.0);
        // No percpu figure and no online_cpus: counts the per-CPU list.
        v["cpu_stats"] = json!({"cpu_usage": {"total_usage": 300_000_000u64, "percpu_usage": [1, 2, 3, 4]}, "system_cpu_usage": 20_000_000_000u64});
        assert!((cpu_percent(&v) - 40.0).abs() < 1e-9);
    }

    #[test]
    fn invalid_and_empty_entries() {
        let e = Entry {
            container: "web".into(),
            is_invalid: true,
            ..Entry::default()
        };
        let row = stats_row(&e, true);
        assert_eq!(row["CPUPerc"], "--");
        assert_eq!(row["MemUsage"], "-- / --");
        assert_eq!(row["Name"], "--");
        assert_eq!(row["ID"], "");
        let stopped = entry_from_sample(&json!({"name": "/x", "id": "abc"}));
        let row = stats_row(&stopped, true);
        assert_eq!(row["MemUsage"], "0B / 0B");
        assert_eq!(row["MemPerc"], "0.00%");
        assert_eq!(row["BlockIO"], "0B / 0B");
    }

    #[test]
    fn table_and_screen() {
        let e = entry_from_sample(&sample());
        let table = render_rows(
            DEFAULT_TABLE,
            &[stats_row(&e, true)],
            STATS_HEADER,
            STATS_CONTEXT,
        )
        .unwrap();
        assert_eq!(
            table,
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O      BLOCK I/O        PIDS\n\
             0123456789ab   web       20.00%    8MiB / 1GiB         0.78%     2kB / 700B   8.19kB / 1.5MB   3\n"
        );
        assert_eq!(screen("A\n", false), "A\n");
        assert_eq!(
            screen("A\n", true),
            "\x1b[HA\n\x1b[HA \x1b[K\n \x1b[K\n\x1b[J"
        );
    }
}
