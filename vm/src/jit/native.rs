//! The one place that runs compiled code: a code pointer is called as the
//! function `codegen` built. Everything unsafe in the JIT is in this file.
#![allow(unsafe_code)]

use super::codegen::Compiler;

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

    /// Runs the code of a plan with `leaves` leaves: 0 with the result in
    /// `out`, or 1 where the tree walker would fail. `inputs` holds a value
    /// and a null flag per leaf (1 also when it is too short: nothing runs).
    pub fn call(self, inputs: &[u64], leaves: usize, out: &mut u64) -> u32 {
        if inputs.len() < 2 * leaves {
            return 1;
        }
        // SAFETY: `self.0` came from `Compiler::compile`, which builds exactly
        // `extern "C" fn(*const u64, *mut u64) -> u32` with the default call
        // convention of this machine; the module that holds the code is alive
        // (see `Code`'s Send/Sync note). The code of a plan with `leaves`
        // leaves reads `inputs[0..2 * leaves]`, checked above to be in
        // bounds, and writes one u64 to `out`.
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
