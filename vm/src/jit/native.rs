//! The one place that runs compiled code: a code pointer is called as the
//! function `codegen` built. Everything unsafe in the JIT is in this file.
#![allow(unsafe_code)]

use super::codegen::Compiler;
use super::plan::MAX_LEAVES;

/// The inputs of one call: a value and a null flag per leaf.
pub type Inputs = [u64; 2 * MAX_LEAVES];

/// A compiled expression's entry point.
#[derive(Clone, Copy)]
pub struct Code(*const u8);

// SAFETY: the pointer is to immutable, finalized machine code that the
// owning `Shared` compiler keeps mapped for as long as any `Code` exists (a
// `Kernel` holds an `Arc` of it); calling it touches no shared state.
unsafe impl Send for Code {}
// SAFETY: as above; the code only reads its arguments.
unsafe impl Sync for Code {}

impl Code {
    /// Wraps a pointer returned by `Compiler::compile`.
    pub fn new(pointer: *const u8) -> Code {
        Code(pointer)
    }

    /// Runs the code: 0 with the result in `out`, or 1 where the tree walker
    /// would fail.
    pub fn call(self, inputs: &Inputs, out: &mut u64) -> u32 {
        // SAFETY: `self.0` came from `Compiler::compile`, which builds exactly
        // `extern "C" fn(*const u64, *mut u64) -> u32` with the default call
        // convention of this machine; the module that holds the code is alive
        // (see `Code`'s Send/Sync note). The function reads at most
        // `inputs[2 * MAX_LEAVES - 1]` (a plan has at most MAX_LEAVES leaves)
        // and writes one u64 to `out`, both valid for the call.
        let function: extern "C" fn(*const u64, *mut u64) -> u32 = unsafe { std::mem::transmute(self.0) };
        function(inputs.as_ptr(), out)
    }
}

/// The compiler, movable between threads behind its mutex.
pub struct SendCompiler(pub Compiler);

// SAFETY: a `JITModule` holds raw pointers to the memory it maps, which is
// why it is not `Send`; it is only ever used behind a `Mutex` (one thread at
// a time) and owns that memory, which is valid from any thread.
unsafe impl Send for SendCompiler {}
