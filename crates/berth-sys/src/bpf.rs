//! The few `bpf(2)` commands that device control on cgroup v2 needs: load a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, attach it to a cgroup directory, list the
//! programs attached there, open one by id, read its name, and detach it.
//!
//! Each command takes a `union bpf_attr`; only the leading members a command reads are
//! declared here (the kernel treats a shorter attribute as zero-filled). Layouts follow
//! `include/uapi/linux/bpf.h`. Descriptors the kernel returns are close-on-exec.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `enum bpf_cmd` values.
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;

/// `enum bpf_prog_type`: a program the device cgroup hook runs.
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;

/// `enum bpf_attach_type`: the hook asked for every device access in a cgroup.
pub const BPF_CGROUP_DEVICE: u32 = 6;

/// Attach flag: the group may hold several programs (each must allow an access), and
/// programs of ancestors and descendants all run.
pub const BPF_F_ALLOW_MULTI: u32 = 2;

/// Program names are at most 15 bytes plus the terminating NUL.
const BPF_OBJ_NAME_LEN: usize = 16;

/// How much of the verifier's log is kept when a program is refused.
const VERIFIER_LOG_SIZE: usize = 64 * 1024;

/// One eBPF instruction in the kernel's `struct bpf_insn` layout: opcode, the
/// destination and source registers in one byte, a signed offset and a signed immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    /// `dst` and `src` are register numbers (0–10).
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: pack_regs(dst, src),
            off,
            imm,
        }
    }
}

/// The C bit-fields `dst_reg:4, src_reg:4` are allocated from the low bits on
/// little-endian targets and from the high bits on big-endian ones.
const fn pack_regs(dst: u8, src: u8) -> u8 {
    if cfg!(target_endian = "little") {
        (src & 0xf) << 4 | (dst & 0xf)
    } else {
        (dst & 0xf) << 4 | (src & 0xf)
    }
}

/// `bpf_attr` for `BPF_PROG_LOAD`, up to the program's name.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; BPF_OBJ_NAME_LEN],
}

/// `bpf_attr` for `BPF_PROG_ATTACH` and `BPF_PROG_DETACH`.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `bpf_attr` for `BPF_PROG_QUERY`, without the later per-program flags.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// `bpf_attr` for `BPF_PROG_GET_FD_BY_ID`.
#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `bpf_attr` for `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The head of `struct bpf_prog_info`, up to the name. The kernel fills only as many
/// bytes as `info_len` says, so the rest of the (growing) struct is not needed.
#[repr(C)]
#[derive(Default)]
struct ProgInfoHead {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; BPF_OBJ_NAME_LEN],
}

/// Runs one `bpf(2)` command and returns its non-negative result.
///
/// # Safety
///
/// `attr` must be the attribute layout the kernel expects for `cmd`, and every address
/// stored in it must point at memory valid for the kernel's reads (and writes, for
/// output buffers) of the sizes stored beside it, for the duration of the call.
unsafe fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed value of exactly the size passed;
    // the caller guarantees that its layout and the addresses inside it are valid.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// Wraps a descriptor the kernel just created for us.
fn owned_fd(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = libc::c_int::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: `fd` was returned by a successful bpf(2) call that creates a new
    // descriptor; nothing else in the process knows or owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Loads a device cgroup program and returns its descriptor. `name` (at most 15 of
/// `[A-Za-z0-9_.]`) lets [`prog_name`] find the program again. When the verifier
/// refuses the program, the error carries the end of its log.
pub fn prog_load_cgroup_device(insns: &[Insn], license: &str, name: &str) -> io::Result<OwnedFd> {
    let license = CString::new(license).map_err(|_| invalid("license holds a NUL byte"))?;
    if name.len() >= BPF_OBJ_NAME_LEN {
        return Err(invalid("program name longer than 15 bytes"));
    }
    let mut prog_name = [0u8; BPF_OBJ_NAME_LEN];
    prog_name[..name.len()].copy_from_slice(name.as_bytes());
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len()).map_err(|_| invalid("program too long"))?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name,
        ..ProgLoadAttr::default()
    };
    // SAFETY: `insns` points at `insn_cnt` instructions of the kernel's layout and
    // `license` at a NUL-terminated string; both outlive the call, which copies them.
    match unsafe { bpf(BPF_PROG_LOAD, &mut attr) } {
        Ok(fd) => owned_fd(fd),
        Err(e) => Err(with_verifier_log(e, &mut attr)),
    }
}

/// Loads the refused program again with the verifier's log switched on, and adds the
/// log's last lines to `err`.
fn with_verifier_log(err: io::Error, attr: &mut ProgLoadAttr) -> io::Error {
    let mut log = vec![0u8; VERIFIER_LOG_SIZE];
    attr.log_level = 1;
    attr.log_size = VERIFIER_LOG_SIZE as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    // SAFETY: as in the first load (the instructions and license still live in the
    // caller), and `log_buf` points at `log_size` writable bytes that outlive the call.
    let retry = unsafe { bpf(BPF_PROG_LOAD, attr) };
    if let Ok(fd) = retry {
        // Accepted the second time: nothing to explain; do not leak the program.
        drop(owned_fd(fd));
        return err;
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    if tail.is_empty() {
        return err;
    }
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    io::Error::new(err.kind(), format!("{err}; verifier: {}", tail.join(" | ")))
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_string())
}

/// Attaches `prog` to the cgroup whose directory `cgroup` is open, at `attach_type`
/// (such as [`BPF_CGROUP_DEVICE`]) with `flags` (such as [`BPF_F_ALLOW_MULTI`]).
pub fn prog_attach(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        ..AttachAttr::default()
    };
    // SAFETY: the attribute holds only numbers (two descriptors kept open by the
    // borrows), no addresses.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map(drop)
}

/// Detaches `prog` from the cgroup whose directory `cgroup` is open.
pub fn prog_detach(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        ..AttachAttr::default()
    };
    // SAFETY: the attribute holds only numbers (two descriptors kept open by the
    // borrows), no addresses.
    unsafe { bpf(BPF_PROG_DETACH, &mut attr) }.map(drop)
}

/// The ids of the programs attached directly to the cgroup (not those it inherits), in
/// the order they run.
pub fn prog_query(cgroup: BorrowedFd<'_>, attach_type: u32) -> io::Result<Vec<u32>> {
    // A cgroup holds at most 64 programs per hook today; ENOSPC tells the real count.
    let mut ids = vec![0u32; 64];
    loop {
        let mut attr = QueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..QueryAttr::default()
        };
        // SAFETY: `prog_ids` points at `prog_cnt` writable u32s that outlive the call;
        // the kernel writes at most that many.
        match unsafe { bpf(BPF_PROG_QUERY, &mut attr) } {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            Err(e)
                if e.raw_os_error() == Some(libc::ENOSPC) && attr.prog_cnt as usize > ids.len() =>
            {
                ids.resize(attr.prog_cnt as usize, 0);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Opens the loaded program with this id (ENOENT once it is gone).
pub fn prog_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..GetFdByIdAttr::default()
    };
    // SAFETY: the attribute holds only numbers, no addresses.
    let fd = unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }?;
    owned_fd(fd)
}

/// The name the program was loaded with (empty when it was given none).
pub fn prog_name(prog: BorrowedFd<'_>) -> io::Result<String> {
    let mut info = ProgInfoHead::default();
    let mut attr = InfoAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: std::mem::size_of::<ProgInfoHead>() as u32,
        info: &mut info as *mut ProgInfoHead as u64,
    };
    // SAFETY: `info` points at `info_len` writable bytes that outlive the call; every
    // address field inside it is zero, so the kernel writes no arrays through them.
    unsafe { bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    let end = info
        .name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(BPF_OBJ_NAME_LEN);
    Ok(String::from_utf8_lossy(&info.name[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel_headers() {
        use std::mem::{offset_of, size_of};
        assert_eq!(size_of::<Insn>(), 8);
        assert_eq!(offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(offset_of!(QueryAttr, prog_cnt), 24);
        assert_eq!(size_of::<QueryAttr>(), 32);
        assert_eq!(offset_of!(ProgInfoHead, name), 64);
        assert_eq!(size_of::<AttachAttr>(), 20);
        assert_eq!(size_of::<InfoAttr>(), 16);
    }

    #[test]
    fn registers_share_a_byte_dst_first() {
        let i = Insn::new(0xb4, 3, 1, -2, 7);
        if cfg!(target_endian = "little") {
            assert_eq!(i.regs, 0x13);
        }
        assert_eq!((i.code, i.off, i.imm), (0xb4, -2, 7));
    }

    /// `mov32 r0, 1; exit`: allows every access.
    const ALLOW_ALL: [Insn; 2] = [Insn::new(0xb4, 0, 0, 0, 1), Insn::new(0x95, 0, 0, 0, 0)];

    #[test]
    fn a_loaded_program_keeps_its_name() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: loading a BPF program needs root");
            return;
        }
        let prog = prog_load_cgroup_device(&ALLOW_ALL, "GPL", "berth_test").unwrap();
        assert_eq!(
            prog_name(std::os::fd::AsFd::as_fd(&prog)).unwrap(),
            "berth_test"
        );
    }

    #[test]
    fn a_refused_program_reports_the_verifier() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: loading a BPF program needs root");
            return;
        }
        // `exit` without setting r0 first: the verifier refuses reading r0.
        let err = prog_load_cgroup_device(&ALLOW_ALL[1..], "GPL", "").unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            None,
            "the log replaces the bare errno: {err}"
        );
        assert!(err.to_string().contains("R0"), "{err}");
    }

    #[test]
    fn names_must_fit() {
        let err = prog_load_cgroup_device(&[], "GPL", "sixteen-bytes-xx").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
