//! A tiny eBPF assembler: only the instructions a device filter needs.
//!
//! An instruction is an opcode byte (operation | operand source | class), a destination
//! and a source register, a signed 16-bit offset (jumps: instructions to skip) and a
//! signed 32-bit immediate. All arithmetic and comparisons here are 32-bit (the `ALU`
//! and `JMP32` classes): every value a device filter handles is a `u32`, and 32-bit
//! compares keep numbers above `i32::MAX` from being sign-extended.

/// A register. r0 holds the result, r1 the context pointer on entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg(pub u8);

pub const R0: Reg = Reg(0);
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R5: Reg = Reg(5);

// Instruction classes.
pub const LDX: u8 = 0x01;
pub const ALU: u8 = 0x04;
pub const JMP: u8 = 0x05;
pub const JMP32: u8 = 0x06;
// Load modes and sizes.
const MEM: u8 = 0x60;
const WORD: u8 = 0x00;
// Operand source: the immediate, or the source register.
const IMM: u8 = 0x00;
const SRC: u8 = 0x08;
// Operations.
pub const AND: u8 = 0x50;
pub const RSH: u8 = 0x70;
pub const MOV: u8 = 0xb0;
pub const JEQ: u8 = 0x10;
pub const JNE: u8 = 0x50;
pub const EXIT: u8 = 0x90;

/// One instruction, decoded (berth-sys packs it into the kernel's layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: Reg,
    pub src: Reg,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: u32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            // The kernel reads the immediate as a 32-bit pattern in 32-bit operations.
            imm: imm as i32,
        }
    }

    pub fn raw(&self) -> berth_sys::bpf::Insn {
        berth_sys::bpf::Insn::new(self.code, self.dst.0, self.src.0, self.off, self.imm)
    }

    /// The class bits, for readers of a program (the tests' interpreter).
    #[cfg(test)]
    pub fn class(&self) -> u8 {
        self.code & 0x07
    }

    /// The operation bits of an ALU or jump instruction.
    #[cfg(test)]
    pub fn op(&self) -> u8 {
        self.code & 0xf0
    }

    #[cfg(test)]
    pub fn uses_src_reg(&self) -> bool {
        self.code & SRC != 0
    }
}

/// `dst = *(u32 *)(base + off)`, zero-extended.
pub fn load_u32(dst: Reg, base: Reg, off: i16) -> Insn {
    Insn::new(LDX | MEM | WORD, dst, base, off, 0)
}

/// `dst = dst <op> imm` on the low 32 bits (`op`: [`AND`], [`RSH`], [`MOV`]).
pub fn alu_imm(op: u8, dst: Reg, imm: u32) -> Insn {
    Insn::new(ALU | op | IMM, dst, R0, 0, imm)
}

/// `dst = src` on the low 32 bits.
pub fn mov_reg(dst: Reg, src: Reg) -> Insn {
    Insn::new(ALU | MOV | SRC, dst, src, 0, 0)
}

/// Returns r0 to the kernel.
pub fn exit() -> Insn {
    Insn::new(JMP | EXIT, R0, R0, 0, 0)
}

/// `return value`.
pub fn return_imm(value: u32) -> [Insn; 2] {
    [alu_imm(MOV, R0, value), exit()]
}

/// A straight run of instructions whose conditional jumps all leave it: each goes to
/// the first instruction after the block, wherever that ends up.
#[derive(Default)]
pub struct Block {
    insns: Vec<Insn>,
    /// Indexes of the jumps to patch once the block's length is known.
    exits: Vec<usize>,
}

impl Block {
    pub fn push(&mut self, insn: Insn) {
        self.insns.push(insn);
    }

    /// Leaves the block when `reg <op> imm` holds on the low 32 bits (`op`: [`JEQ`],
    /// [`JNE`]).
    pub fn leave_if(&mut self, op: u8, reg: Reg, imm: u32) {
        self.exits.push(self.insns.len());
        self.insns
            .push(Insn::new(JMP32 | op | IMM, reg, R0, 0, imm));
    }

    /// The instructions, jumps resolved. A jump's offset counts from the instruction
    /// after it.
    pub fn finish(mut self) -> Vec<Insn> {
        let len = self.insns.len();
        for at in self.exits {
            self.insns[at].off =
                i16::try_from(len - at - 1).expect("a device rule's block is a few instructions");
        }
        self.insns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_match_the_kernel() {
        assert_eq!(load_u32(R2, R1, 4).code, 0x61);
        assert_eq!(alu_imm(AND, R2, 0xffff).code, 0x54);
        assert_eq!(alu_imm(RSH, R3, 16).code, 0x74);
        assert_eq!(alu_imm(MOV, R0, 1).code, 0xb4);
        assert_eq!(mov_reg(R1, R3).code, 0xbc);
        assert_eq!(exit().code, 0x95);
        let mut b = Block::default();
        b.leave_if(JNE, R4, 1);
        b.leave_if(JEQ, R5, 3);
        assert_eq!(b.insns[0].code, 0x56);
        assert_eq!(b.insns[1].code, 0x16);
    }

    #[test]
    fn jumps_land_after_the_block() {
        let mut b = Block::default();
        b.leave_if(JNE, R2, 2);
        b.push(alu_imm(MOV, R0, 1));
        b.leave_if(JEQ, R3, 0);
        b.push(exit());
        let insns = b.finish();
        assert_eq!(insns[0].off, 3);
        assert_eq!(insns[2].off, 1);
    }

    #[test]
    fn immediates_keep_their_bits() {
        assert_eq!(alu_imm(AND, R3, !2).imm, -3);
        assert_eq!(alu_imm(MOV, R0, u32::MAX).imm, -1);
    }
}
