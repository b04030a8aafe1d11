//! Device access control on cgroup v2, which has no `devices` controller: the group's
//! [`DeviceRule`]s become a `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to its
//! directory, as runc, crun and youki do.
//!
//! The kernel runs the program whenever a process of the group (or of a group below it)
//! opens a device node or makes one with mknod, and allows the access when it returns
//! 1. Its context is `struct bpf_cgroup_dev_ctx`:
//!
//! ```text
//! offset 0  u32 access_type  low 16 bits: device type (BPF_DEVCG_DEV_BLOCK 1, _CHAR 2)
//!                            high 16 bits: access asked (BPF_DEVCG_ACC_MKNOD 1,
//!                                          _READ 2, _WRITE 4; several for O_RDWR)
//! offset 4  u32 major
//! offset 8  u32 minor
//! ```
//!
//! The rules mean what they mean on v1 (see [`Policy`]). Only berth's own program,
//! known by its name, is replaced on a later apply; programs others attached stay (an
//! extra program can only refuse more).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use berth_sys::bpf;

use crate::ebpf::{self, Block, Insn, Reg, AND, JEQ, JNE, R1, R2, R3, R4, R5, RSH};
use crate::{io_err, CgroupError, DeviceRule, Result};

/// The name berth's programs are loaded with, to tell them from others on the group.
const PROGRAM_NAME: &str = "berth_devices";

/// The project's license. The program calls no kernel helper at all, so the kernel's
/// GPL-only restriction on helpers does not apply.
const LICENSE: &str = env!("CARGO_PKG_LICENSE");

// Device types and access bits, as in the context's `access_type`.
const DEV_BLOCK: u32 = 1;
const DEV_CHAR: u32 = 2;
const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;

// Offsets of the context's fields.
const CTX_ACCESS_TYPE: i16 = 0;
const CTX_MAJOR: i16 = 4;
const CTX_MINOR: i16 = 8;

// What each register holds after the prologue.
const TYPE: Reg = R2;
/// The access bits asked for that no rule has decided yet.
const UNDECIDED: Reg = R3;
const MAJOR: Reg = R4;
const MINOR: Reg = R5;
/// r1 held the context pointer, no longer needed once its fields are loaded.
const SCRATCH: Reg = R1;

/// A `b` or `c` rule in the program's terms; `None` matches any number.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    allow: bool,
    kind: u32,
    major: Option<u32>,
    minor: Option<u32>,
    access: u32,
}

/// What the program decides, with the semantics of v1's `devices.allow` and
/// `devices.deny` written in order (as runc emulates them on v2):
///
/// - an `a` rule resets everything: from there on every device is allowed (or denied),
///   whatever numbers and access it names, and the rules before it no longer count;
/// - before any `a` rule, everything is denied (as in runc; a new v1 group would
///   start from its parent's rules instead);
/// - each access bit asked for (mknod, read, write) is decided by the last rule that
///   matches the device and names that bit, and the access is allowed only when every
///   bit is. So a later `deny c 1:3 w` takes write away from an earlier
///   `allow c 1:3 rwm` even for a read-write open, and `allow c 1:3 r` followed by
///   `allow c 1:3 w` allows read-write.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Policy {
    default_allow: bool,
    /// The rules after the last `a` rule, in order.
    rules: Vec<Rule>,
}

impl Policy {
    /// Checks every rule: type `a`, `b` or `c`; numbers up to `u32::MAX` (negative ones
    /// mean any, as in the OCI spec); access made of `r`, `w` and `m`.
    fn new(rules: &[DeviceRule]) -> Result<Policy> {
        let mut policy = Policy {
            default_allow: false,
            rules: Vec::new(),
        };
        for r in rules {
            let access = access_bits(&r.access)?;
            let kind = match r.kind {
                'a' => {
                    policy = Policy {
                        default_allow: r.allow,
                        rules: Vec::new(),
                    };
                    continue;
                }
                'b' => DEV_BLOCK,
                'c' => DEV_CHAR,
                k => return Err(invalid(format!("invalid device type {k:?}"))),
            };
            if access == 0 {
                continue; // decides nothing
            }
            policy.rules.push(Rule {
                allow: r.allow,
                kind,
                major: number(r.major)?,
                minor: number(r.minor)?,
                access,
            });
        }
        Ok(policy)
    }

    /// No rule can deny anything, so no program is needed.
    fn allows_everything(&self) -> bool {
        self.default_allow && self.rules.iter().all(|r| r.allow)
    }

    /// The program: load the context, then the rules from the last to the first (the
    /// first to match a bit decides it), then the default for bits left undecided.
    fn program(&self) -> Vec<Insn> {
        let mut insns = prologue();
        for rule in self.rules.iter().rev() {
            insns.extend(rule.block());
        }
        insns.extend(ebpf::return_imm(u32::from(self.default_allow)));
        insns
    }
}

fn invalid(msg: String) -> CgroupError {
    CgroupError::Invalid(msg)
}

fn access_bits(access: &str) -> Result<u32> {
    access.chars().try_fold(0, |bits, c| match c {
        'm' => Ok(bits | ACC_MKNOD),
        'r' => Ok(bits | ACC_READ),
        'w' => Ok(bits | ACC_WRITE),
        _ => Err(invalid(format!("invalid device access {access:?}"))),
    })
}

fn number(n: Option<i64>) -> Result<Option<u32>> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| invalid(format!("invalid device number {n}"))),
    }
}

/// Splits the context into the registers the rule blocks test.
fn prologue() -> Vec<Insn> {
    vec![
        ebpf::load_u32(TYPE, R1, CTX_ACCESS_TYPE),
        ebpf::alu_imm(AND, TYPE, 0xffff),
        ebpf::load_u32(UNDECIDED, R1, CTX_ACCESS_TYPE),
        ebpf::alu_imm(RSH, UNDECIDED, 16),
        ebpf::load_u32(MAJOR, R1, CTX_MAJOR),
        ebpf::load_u32(MINOR, R1, CTX_MINOR),
    ]
}

impl Rule {
    /// Skipped unless the device matches. An allow rule settles the bits it names and
    /// allows once none is left; a deny rule denies if it names any bit still open.
    fn block(&self) -> Vec<Insn> {
        let mut b = Block::default();
        b.leave_if(JNE, TYPE, self.kind);
        if let Some(major) = self.major {
            b.leave_if(JNE, MAJOR, major);
        }
        if let Some(minor) = self.minor {
            b.leave_if(JNE, MINOR, minor);
        }
        let verdict = if self.allow {
            b.push(ebpf::alu_imm(AND, UNDECIDED, !self.access));
            b.leave_if(JNE, UNDECIDED, 0);
            1
        } else {
            b.push(ebpf::mov_reg(SCRATCH, UNDECIDED));
            b.push(ebpf::alu_imm(AND, SCRATCH, self.access));
            b.leave_if(JEQ, SCRATCH, 0);
            0
        };
        for insn in ebpf::return_imm(verdict) {
            b.push(insn);
        }
        b.finish()
    }
}

/// Makes `rules` the group's device policy: attaches a new program (none when the
/// rules allow everything), then detaches the berth programs attached before, so the
/// group is never without one in between and programs never pile up.
pub(crate) fn install(group_dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let policy = Policy::new(rules)?;
    replace_program(group_dir, &policy).map_err(io_err(group_dir))
}

fn replace_program(group_dir: &Path, policy: &Policy) -> io::Result<()> {
    let group = open_dir(group_dir)?;
    let stale = berth_programs(group.as_fd())
        .map_err(|e| context(e, "listing the group's device filters"))?;
    if !policy.allows_everything() {
        attach(group.as_fd(), policy)?;
    }
    for prog in stale {
        detach(group.as_fd(), prog.as_fd())
            .map_err(|e| context(e, "detaching the old device filter"))?;
    }
    Ok(())
}

fn open_dir(dir: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY)
        .open(dir)
}

fn attach(group: BorrowedFd<'_>, policy: &Policy) -> io::Result<()> {
    let insns: Vec<bpf::Insn> = policy.program().iter().map(Insn::raw).collect();
    let prog = bpf::prog_load_cgroup_device(&insns, LICENSE, PROGRAM_NAME)
        .map_err(|e| context(e, "loading the device filter"))?;
    bpf::prog_attach(
        group,
        prog.as_fd(),
        bpf::BPF_CGROUP_DEVICE,
        bpf::BPF_F_ALLOW_MULTI,
    )
    .map_err(|e| context(e, "attaching the device filter"))
}

/// Detaches `prog`; one already gone (a concurrent apply detached it) is fine.
fn detach(group: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    match bpf::prog_detach(group, prog, bpf::BPF_CGROUP_DEVICE) {
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOENT) => Ok(()),
        other => other,
    }
}

/// The device programs berth attached to the group, held open so that their ids cannot
/// be reused before they are detached. Programs that are gone, or that a security
/// module does not let us open, are not ours to replace.
fn berth_programs(group: BorrowedFd<'_>) -> io::Result<Vec<OwnedFd>> {
    let mut ours = Vec::new();
    for id in bpf::prog_query(group, bpf::BPF_CGROUP_DEVICE)? {
        let prog = match bpf::prog_get_fd_by_id(id) {
            Ok(fd) => fd,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(nix::libc::ENOENT | nix::libc::EPERM | nix::libc::EACCES)
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        if bpf::prog_name(prog.as_fd())? == PROGRAM_NAME {
            ours.push(prog);
        }
    }
    Ok(ours)
}

fn context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::{Insn, EXIT, JMP, JMP32, LDX, MOV};

    /// Runs a program as the kernel would, for the instructions the builder emits.
    fn run(prog: &[Insn], access_type: u32, major: u32, minor: u32) -> u32 {
        let ctx = [access_type, major, minor];
        let mut reg = [0u32; 11];
        let mut ctx_in_r1 = true;
        let mut pc = 0;
        loop {
            let i = prog[pc];
            pc += 1;
            let dst = usize::from(i.dst.0);
            let operand = if i.uses_src_reg() {
                reg[usize::from(i.src.0)]
            } else {
                i.imm as u32
            };
            let jump = |taken: bool| if taken { i.off as usize } else { 0 };
            match (i.class(), i.op()) {
                (LDX, _) => {
                    assert!(i.src == R1 && ctx_in_r1 && i.code == 0x61, "{i:?}");
                    reg[dst] = ctx[i.off as usize / 4];
                }
                (ebpf::ALU, AND) => reg[dst] &= operand,
                (ebpf::ALU, RSH) => reg[dst] >>= operand,
                (ebpf::ALU, MOV) => reg[dst] = operand,
                (JMP32, JEQ) => pc += jump(reg[dst] == operand),
                (JMP32, JNE) => pc += jump(reg[dst] != operand),
                (JMP, EXIT) => return reg[0],
                _ => panic!("unexpected instruction {i:?}"),
            }
            if i.class() == ebpf::ALU && dst == 1 {
                ctx_in_r1 = false;
            }
        }
    }

    /// The rules read directly, one access bit at a time: the last rule naming the
    /// device and the bit decides it; an `a` rule names everything; nothing: denied.
    fn expected(rules: &[DeviceRule], kind: char, major: i64, minor: i64, bits: &str) -> bool {
        let number_matches = |n: Option<i64>, v: i64| n.is_none_or(|n| n < 0 || n == v);
        bits.chars().all(|bit| {
            rules
                .iter()
                .rev()
                .find(|r| {
                    r.kind == 'a'
                        || (r.kind == kind
                            && number_matches(r.major, major)
                            && number_matches(r.minor, minor)
                            && r.access.contains(bit))
                })
                .is_some_and(|r| r.allow)
        })
    }

    fn decides(policy: &Policy, kind: char, major: i64, minor: i64, bits: &str) -> bool {
        let dev = if kind == 'b' { DEV_BLOCK } else { DEV_CHAR };
        let acc = access_bits(bits).unwrap();
        run(
            &policy.program(),
            acc << 16 | dev,
            major as u32,
            minor as u32,
        ) == 1
    }

    fn rule(
        allow: bool,
        kind: char,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: access.into(),
        }
    }

    /// Every request in a small grid decides as the rules read directly say.
    fn check_against_the_rules(rules: &[DeviceRule]) {
        let policy = Policy::new(rules).unwrap();
        for kind in ['b', 'c'] {
            for major in [1, 5, 8] {
                for minor in [0, 3, 5] {
                    for bits in ["m", "r", "w", "rw", "rm", "wm", "rwm"] {
                        assert_eq!(
                            decides(&policy, kind, major, minor, bits),
                            expected(rules, kind, major, minor, bits),
                            "{kind} {major}:{minor} {bits} under {rules:?}"
                        );
                    }
                }
            }
        }
    }

    /// Docker's rules for an unprivileged container, as berthd builds them.
    fn docker_default() -> Vec<DeviceRule> {
        let mut rules = vec![
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', None, None, "m"),
            rule(true, 'b', None, None, "m"),
        ];
        for (major, minor) in [
            (1, Some(3)),
            (1, Some(5)),
            (1, Some(7)),
            (1, Some(8)),
            (1, Some(9)),
        ] {
            rules.push(rule(true, 'c', Some(major), minor, "rwm"));
        }
        rules.extend([
            rule(true, 'c', Some(5), Some(0), "rwm"),
            rule(true, 'c', Some(5), Some(1), "rwm"),
            rule(true, 'c', Some(5), Some(2), "rwm"),
            rule(true, 'c', Some(136), None, "rwm"),
            rule(true, 'c', Some(10), Some(200), "rwm"),
        ]);
        rules
    }

    #[test]
    fn dockers_default_rules() {
        let rules = docker_default();
        let p = Policy::new(&rules).unwrap();
        assert!(!p.allows_everything());
        assert!(decides(&p, 'c', 1, 3, "rw"), "/dev/null");
        assert!(decides(&p, 'c', 136, 4, "rw"), "a pty");
        assert!(decides(&p, 'b', 8, 0, "m"), "mknod of any block device");
        assert!(!decides(&p, 'b', 8, 0, "r"), "reading a disk");
        assert!(!decides(&p, 'c', 1, 1, "r"), "/dev/mem");
        assert!(!decides(&p, 'c', 4, 0, "rw"), "a console tty");
        check_against_the_rules(&rules);
    }

    #[test]
    fn privileged_needs_no_program() {
        let p = Policy::new(&[rule(true, 'a', None, None, "rwm")]).unwrap();
        assert!(p.allows_everything());
        assert!(decides(&p, 'b', 8, 0, "rwm"));
        // Allowing all and then more is still everything.
        let p = Policy::new(&[
            rule(true, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1), Some(3), "r"),
        ])
        .unwrap();
        assert!(p.allows_everything());
    }

    #[test]
    fn the_last_matching_rule_decides_each_bit() {
        let deny_all = rule(false, 'a', None, None, "rwm");
        let lists = [
            // A later deny takes write away, even from a read-write open.
            vec![
                deny_all.clone(),
                rule(true, 'c', Some(1), None, "rwm"),
                rule(false, 'c', Some(1), Some(3), "w"),
            ],
            // A later allow gives it back.
            vec![
                deny_all.clone(),
                rule(false, 'c', Some(1), Some(3), "w"),
                rule(true, 'c', Some(1), Some(3), "rwm"),
            ],
            // Access split over two rules adds up.
            vec![
                deny_all.clone(),
                rule(true, 'c', Some(1), Some(3), "r"),
                rule(true, 'c', Some(1), Some(3), "w"),
            ],
            // Allow-list mode with holes punched.
            vec![
                rule(true, 'a', None, None, "rwm"),
                rule(false, 'b', None, None, "rw"),
                rule(false, 'c', Some(5), None, "m"),
            ],
            // An `a` rule in the middle overrides what came before.
            vec![
                rule(true, 'c', Some(8), None, "rwm"),
                deny_all.clone(),
                rule(true, 'b', Some(8), Some(0), "r"),
            ],
            // No rule at all: denied.
            vec![],
        ];
        for rules in &lists {
            check_against_the_rules(rules);
        }
        assert!(!Policy::new(&lists[0]).unwrap().allows_everything());
        assert!(!Policy::new(&lists[3]).unwrap().allows_everything());
    }

    #[test]
    fn random_rule_lists_decide_as_the_rules_say() {
        // A fixed linear congruential sequence: reproducible, no dependency.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        for _ in 0..300 {
            let len = next(7);
            let rules: Vec<DeviceRule> = (0..len)
                .map(|_| {
                    let kind = ['a', 'b', 'c', 'c'][next(4) as usize];
                    let number =
                        |n: u64| [None, Some(1), Some(5), Some(8), Some(3), Some(0)][n as usize];
                    let major = number(next(4));
                    let minor = number(next(6));
                    let access: String = ["r", "w", "m"]
                        .iter()
                        .filter(|_| next(2) == 1)
                        .copied()
                        .collect();
                    rule(next(2) == 1, kind, major, minor, &access)
                })
                .collect();
            check_against_the_rules(&rules);
        }
    }

    #[test]
    fn wildcards_and_large_numbers() {
        let p = Policy::new(&[
            rule(true, 'c', Some(-1), Some(3), "r"),
            rule(true, 'b', Some(u32::MAX as i64), None, "w"),
        ])
        .unwrap();
        assert!(decides(&p, 'c', 42, 3, "r"));
        assert!(!decides(&p, 'c', 42, 4, "r"));
        assert!(decides(&p, 'b', u32::MAX as i64, 9, "w"));
        assert!(!decides(&p, 'b', i32::MAX as i64, 9, "w"));
    }

    #[test]
    fn bad_rules_are_refused() {
        for bad in [
            rule(true, 'x', None, None, "rwm"),
            rule(true, 'c', Some(1 << 32), None, "rwm"),
            rule(true, 'c', Some(1), Some(3), "rwx"),
        ] {
            let err = Policy::new(std::slice::from_ref(&bad)).unwrap_err();
            assert!(matches!(err, CgroupError::Invalid(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    fn rules_without_access_are_dropped() {
        let p = Policy::new(&[rule(false, 'c', Some(1), Some(3), "")]).unwrap();
        assert!(p.rules.is_empty());
    }
}
