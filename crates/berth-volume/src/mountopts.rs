//! `mount -t TYPE -o O DEVICE DIR` for volumes created with options, as the local
//! driver does it: `o` is split into mount flags and the filesystem's own data.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::Path;

use rustix::mount::{MountFlags, MountPropagationFlags};

fn split(o: &str) -> (MountFlags, bool, bool, String) {
    let mut flags = MountFlags::empty();
    let (mut bind, mut recursive) = (false, false);
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        match opt {
            "ro" => flags |= MountFlags::RDONLY,
            "rw" => flags -= MountFlags::RDONLY,
            "nosuid" => flags |= MountFlags::NOSUID,
            "suid" => flags -= MountFlags::NOSUID,
            "nodev" => flags |= MountFlags::NODEV,
            "dev" => flags -= MountFlags::NODEV,
            "noexec" => flags |= MountFlags::NOEXEC,
            "exec" => flags -= MountFlags::NOEXEC,
            "noatime" => flags |= MountFlags::NOATIME,
            "nodiratime" => flags |= MountFlags::NODIRATIME,
            "relatime" => flags |= MountFlags::RELATIME,
            "strictatime" => flags |= MountFlags::STRICTATIME,
            "sync" => flags |= MountFlags::SYNCHRONOUS,
            "bind" => bind = true,
            "rbind" => {
                bind = true;
                recursive = true;
            }
            "defaults" | "async" | "atime" | "diratime" => {}
            other => data.push(other),
        }
    }
    (flags, bind, recursive, data.join(","))
}

pub(crate) fn mount(options: &BTreeMap<String, String>, target: &Path) -> std::io::Result<()> {
    let typ = options.get("type").map(String::as_str).unwrap_or("");
    let device = options.get("device").map(String::as_str).unwrap_or("");
    let (flags, bind, recursive, data) = split(options.get("o").map(String::as_str).unwrap_or(""));
    if bind {
        // The device is a host directory; only an absolute one means anything here.
        if !device.starts_with('/') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bind device {device:?} is not an absolute path"),
            ));
        }
        if recursive {
            rustix::mount::mount_bind_recursive(device, target)?;
        } else {
            rustix::mount::mount_bind(device, target)?;
        }
        // Keep the bound tree's own mounts from propagating back and forth.
        rustix::mount::mount_change(target, MountPropagationFlags::PRIVATE)?;
        if !flags.is_empty() {
            rustix::mount::mount_remount(target, flags | MountFlags::BIND, "")?;
        }
        return Ok(());
    }
    let data = CString::new(data).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL byte in option o")
    })?;
    rustix::mount::mount(device, target, typ, flags, Some(data.as_c_str()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let (f, bind, rec, data) = split("size=1m,ro,nosuid,mode=700,uid=1");
        assert!(f.contains(MountFlags::RDONLY | MountFlags::NOSUID));
        assert!(!bind && !rec);
        assert_eq!(data, "size=1m,mode=700,uid=1");
        let (_, bind, rec, data) = split("rbind");
        assert!(bind && rec);
        assert_eq!(data, "");
    }
}
