//! The shim is linked as a position-dependent executable. Hundreds run at once and each
//! is mostly idle: in a position-independent build the dynamic loader rewrites every
//! page of relocated read-only data (vtables, string tables) at start, and those pages
//! stay private to each process. Linked at a fixed address they stay clean and shared.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
