//! Usage counters of a group, read from v1 or v2 files into one shape. Times are
//! nanoseconds; missing files (a controller the host lacks) leave fields at zero.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Result;

/// One line of a block-I/O table: device, operation (`Read`, `Write`, …) and value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub v2: bool,
    pub cpu_total_ns: u64,
    pub cpu_percpu_ns: Vec<u64>,
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    pub throttle_periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
    pub memory_usage: u64,
    pub memory_max_usage: u64,
    /// `u64::MAX`-ish values mean unlimited; callers clamp to host memory as Docker does.
    pub memory_limit: u64,
    pub memory_failcnt: u64,
    pub memory_stat: BTreeMap<String, u64>,
    pub pids_current: u64,
    /// 0: unlimited.
    pub pids_limit: u64,
    pub io_service_bytes: Vec<BlkioEntry>,
    pub io_serviced: Vec<BlkioEntry>,
}

fn text(dir: Option<&Path>, file: &str) -> String {
    dir.and_then(|d| std::fs::read_to_string(d.join(file)).ok())
        .unwrap_or_default()
}

fn num(dir: Option<&Path>, file: &str) -> u64 {
    text(dir, file).trim().parse().unwrap_or(0)
}

fn keyed(t: &str) -> BTreeMap<String, u64> {
    t.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// `pids.max` holds `max` for no limit.
fn pids_limit(t: &str) -> u64 {
    t.trim().parse().unwrap_or(0)
}

pub(crate) fn read_v1<'a>(dir_of: impl Fn(&str) -> Option<&'a Path>) -> Result<Stats> {
    let mut s = Stats::default();
    let cpuacct = dir_of("cpuacct");
    s.cpu_total_ns = num(cpuacct, "cpuacct.usage");
    s.cpu_percpu_ns = text(cpuacct, "cpuacct.usage_percpu")
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // cpuacct.stat counts clock ticks (USER_HZ, 100 on Linux).
    let ticks = keyed(&text(cpuacct, "cpuacct.stat"));
    let tick_ns = 1_000_000_000 / 100;
    s.cpu_user_ns = ticks.get("user").copied().unwrap_or(0) * tick_ns;
    s.cpu_system_ns = ticks.get("system").copied().unwrap_or(0) * tick_ns;
    let cpu = keyed(&text(dir_of("cpu"), "cpu.stat"));
    s.throttle_periods = cpu.get("nr_periods").copied().unwrap_or(0);
    s.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
    s.throttled_ns = cpu.get("throttled_time").copied().unwrap_or(0);
    let mem = dir_of("memory");
    s.memory_usage = num(mem, "memory.usage_in_bytes");
    s.memory_max_usage = num(mem, "memory.max_usage_in_bytes");
    s.memory_limit = num(mem, "memory.limit_in_bytes");
    s.memory_failcnt = num(mem, "memory.failcnt");
    s.memory_stat = keyed(&text(mem, "memory.stat"));
    let pids = dir_of("pids");
    s.pids_current = num(pids, "pids.current");
    s.pids_limit = pids_limit(&text(pids, "pids.max"));
    let blkio = dir_of("blkio");
    s.io_service_bytes = blkio_table(&text(blkio, "blkio.throttle.io_service_bytes_recursive"));
    s.io_serviced = blkio_table(&text(blkio, "blkio.throttle.io_serviced_recursive"));
    Ok(s)
}

/// `8:0 Read 4096` lines; the trailing `Total` line has no device.
fn blkio_table(t: &str) -> Vec<BlkioEntry> {
    t.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, op, v) = (f.next()?, f.next()?, f.next()?);
            let (ma, mi) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: ma.parse().ok()?,
                minor: mi.parse().ok()?,
                op: op.to_string(),
                value: v.parse().ok()?,
            })
        })
        .collect()
}

pub(crate) fn read_v2(dir: &Path) -> Result<Stats> {
    let d = Some(dir);
    let mut s = Stats {
        v2: true,
        ..Stats::default()
    };
    let cpu = keyed(&text(d, "cpu.stat"));
    let us = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
    s.cpu_total_ns = us("usage_usec");
    s.cpu_user_ns = us("user_usec");
    s.cpu_system_ns = us("system_usec");
    s.throttle_periods = cpu.get("nr_periods").copied().unwrap_or(0);
    s.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
    s.throttled_ns = us("throttled_usec");
    s.memory_usage = num(d, "memory.current");
    s.memory_max_usage = num(d, "memory.peak");
    let max = text(d, "memory.max");
    s.memory_limit = if max.trim() == "max" || max.is_empty() {
        u64::MAX
    } else {
        max.trim().parse().unwrap_or(u64::MAX)
    };
    s.memory_stat = keyed(&text(d, "memory.stat"));
    s.pids_current = num(d, "pids.current");
    s.pids_limit = pids_limit(&text(d, "pids.max"));
    // io.stat: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`.
    for line in text(d, "io.stat").lines() {
        let mut f = line.split_whitespace();
        let Some((ma, mi)) = f.next().and_then(|dev| dev.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse(), mi.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let value = v.parse().unwrap_or(0);
            let (table, op) = match k {
                "rbytes" => (&mut s.io_service_bytes, "read"),
                "wbytes" => (&mut s.io_service_bytes, "write"),
                "rios" => (&mut s.io_serviced, "read"),
                "wios" => (&mut s.io_serviced, "write"),
                _ => continue,
            };
            table.push(crate::BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_lines_parse_and_totals_are_skipped() {
        let t = blkio_table("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].op, "Read");
        assert_eq!(t[0].value, 4096);
    }
}
