//! The spec's `linux.cgroupsPath` and `linux.resources` → a created, limited cgroup.

use berth_cgroups::{DeviceRule, Hierarchy, Resources};
use oci_spec::runtime::{LinuxDeviceType, LinuxResources, Spec};

use crate::RuntimeError;

fn cg_err(e: berth_cgroups::CgroupError) -> RuntimeError {
    RuntimeError::Init(format!("cgroups: {e}"))
}

/// Docker's memory and cpu fields in the spec's units → the cgroup manager's.
pub fn resources_from_spec(r: &LinuxResources) -> Resources {
    let mut out = Resources::default();
    if let Some(m) = r.memory() {
        out.memory = m.limit();
        out.memory_swap = m.swap();
        out.memory_reservation = m.reservation();
        out.memory_swappiness = m.swappiness();
        out.oom_kill_disable = m.disable_oom_killer();
    }
    if let Some(c) = r.cpu() {
        out.cpu_shares = c.shares();
        out.cpu_quota = c.quota();
        out.cpu_period = c.period();
        out.cpuset_cpus = c.cpus().clone();
        out.cpuset_mems = c.mems().clone();
    }
    if let Some(p) = r.pids() {
        out.pids_limit = Some(p.limit());
    }
    if let Some(b) = r.block_io() {
        out.blkio_weight = b.weight();
    }
    for d in r.devices().as_ref().into_iter().flatten() {
        let kind = match d.typ() {
            Some(LinuxDeviceType::B) => 'b',
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
            _ => 'a',
        };
        out.devices.push(DeviceRule {
            allow: d.allow(),
            kind,
            major: d.major(),
            minor: d.minor(),
            access: d.access().clone().unwrap_or_else(|| "rwm".into()),
        });
    }
    out
}

/// Creates the spec's cgroup and writes its limits; `None` when the spec names none.
pub fn prepare(spec: &Spec) -> Result<Option<berth_cgroups::Cgroup>, RuntimeError> {
    let Some(linux) = spec.linux() else {
        return Ok(None);
    };
    let Some(path) = linux.cgroups_path() else {
        return Ok(None);
    };
    let hierarchy = Hierarchy::detect().map_err(cg_err)?;
    let cg = hierarchy.cgroup(&path.to_string_lossy()).map_err(cg_err)?;
    cg.create().map_err(cg_err)?;
    if let Some(r) = linux.resources() {
        if let Err(e) = cg.apply(&resources_from_spec(r)) {
            let _ = cg.remove();
            return Err(cg_err(e));
        }
    }
    Ok(Some(cg))
}
